/* proto_wire/pw_gzip: gzip (RFC 1952) compression of single gRPC messages with zlib, for the
 * "gzip" grpc-encoding. Each message is an independent gzip stream (PROTOCOL-HTTP2.md:
 * compression contexts are not kept across message boundaries); the zlib states are kept in a
 * context and reset per message, so the hot path does not allocate them again.
 *
 * Decompression is bounded: it never appends more than `max_out` bytes, so a decompression
 * "bomb" (a tiny input expanding to gigabytes) fails with PW_GZIP_ERR_TOO_LARGE, which the
 * caller maps to RESOURCE_EXHAUSTED, after producing at most max_out bytes. */
#ifndef PW_GZIP_H
#define PW_GZIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rt_buf.h"

/* zlib windowBits for a gzip wrapper with the largest (32 KiB) window: 16 + 15. */
#define PW_GZIP_WINDOW_BITS (16 + 15)
/* Output is grown in steps of at most this many bytes, so a small message does not reserve a
 * large block and a capped output is never over-reserved by more than one step. */
#define PW_GZIP_STEP_BYTES (64u * 1024)

/* Errors (negative; outside the errno range). Also -ENOBUFS (out's cap), -ENOMEM. */
#define PW_GZIP_ERR_TOO_LARGE (-3001) /* output would exceed max_out: RESOURCE_EXHAUSTED */
#define PW_GZIP_ERR_CORRUPT (-3002)   /* not gzip, bad CRC/length, or truncated: INTERNAL */

/* Opaque zlib streams (z_stream), allocated lazily on first use. */
typedef struct pw_gzip_ctx {
    void *deflate; /* owned z_stream, NULL until the first compression */
    void *inflate; /* owned z_stream, NULL until the first decompression */
    int level;     /* zlib level 0..9, or -1 for zlib's default (6) */
} pw_gzip_ctx;

/* Initializes a context (caller's memory; no allocation). `level` as zlib: -1 default, 0..9. */
void pw_gzip_ctx_init(pw_gzip_ctx *c, int level);
/* Frees the zlib states. The context may be re-initialized afterwards. */
void pw_gzip_ctx_deinit(pw_gzip_ctx *c);

/* Compresses src[0..len) as one gzip stream appended to `out`. src is borrowed for the call.
 * Returns 0, -ENOBUFS (out's cap reached), -ENOMEM, -EINVAL (invalid level), or -EMSGSIZE (len
 * above what zlib's 32-bit counters take). On error `out` keeps exactly its previous contents.
 * Memory: the deflate state is about 262 KiB, allocated once per context. */
int pw_gzip_compress(pw_gzip_ctx *c, const uint8_t *src, size_t len, buf *out);

/* Decompresses src[0..len) — one gzip member, or several concatenated — appending at most
 * `max_out` bytes to `out`. Returns 0, PW_GZIP_ERR_TOO_LARGE, PW_GZIP_ERR_CORRUPT (includes
 * empty input and trailing garbage), -ENOBUFS (out's cap reached before max_out), -ENOMEM.
 * Memory: out grows as buf does, bounded by out->cap; zlib's inflate state is about 40 KiB, once per
 * context. On error `out` keeps exactly its previous contents. */
int pw_gzip_decompress(pw_gzip_ctx *c, const uint8_t *src, size_t len, size_t max_out, buf *out);

#endif
