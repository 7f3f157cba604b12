/* proto_wire/pw_grpc_msg: gRPC Length-Prefixed-Message framing (PROTOCOL-HTTP2.md).
 *
 *   OFFSET | SIZE | DESCRIPTION
 *   -------+------+-----------------------------------------------------------------
 *   0      | 1    | Compressed-Flag: 0 = plain, 1 = compressed with grpc-encoding
 *   1      | 4    | Message-Length, unsigned big-endian
 *   5      | len  | Message
 *
 * DATA frame boundaries have no relation to message boundaries: a message may span many DATA
 * frames and one frame may carry several messages. The deframer below is fed arbitrary slices
 * and yields whole messages; no I/O, and memory bounded by the configured maximum message size.
 *
 * The encoder writes the prefix and payload into a core `buf`; the begin/end pair reserves the
 * prefix so a protobuf body can be encoded straight after it and the length patched afterwards
 * (one encoding pass, no copy). */
#ifndef PW_GRPC_MSG_H
#define PW_GRPC_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rt_buf.h"
#include "proto_wire/pw_grpc_util.h"

#define PW_GRPC_MSG_PREFIX_BYTES 5u
/* Default receive limit, in bytes: gRPC's customary default max receive message size. */
#define PW_GRPC_MAX_MSG_BYTES_DEFAULT (4u * 1024 * 1024)
/* An assembly buffer above this many bytes is freed once its message has been handed out, so an
 * idle stream that once received a large message does not keep that memory. */
#define PW_GRPC_DEFRAMER_KEEP_BYTES (64u * 1024)

/* Deframer errors (negative; outside the errno range). Sticky: once returned, every later call
 * returns the same error. Map with pw_grpc_deframe_err_status(). */
#define PW_GRPC_DEFRAME_ERR_TOO_LARGE (-2001)  /* length above max_msg_bytes: RESOURCE_EXHAUSTED */
#define PW_GRPC_DEFRAME_ERR_COMPRESSED (-2002) /* flag 1, no encoding negotiated: INTERNAL */
#define PW_GRPC_DEFRAME_ERR_BAD_FLAG (-2003)   /* flag byte neither 0 nor 1: INTERNAL */
#define PW_GRPC_DEFRAME_ERR_TRUNCATED (-2004)  /* end of stream inside a message: INTERNAL */
/* and -ENOMEM (assembly buffer allocation failed): RESOURCE_EXHAUSTED */

typedef enum pw_grpc_deframer_state {
    PW_GRPC_DF_HEADER = 0, /* reading the 5-byte prefix (hdr_have of it so far) */
    PW_GRPC_DF_BODY,       /* assembling a split message in the owned buffer */
    PW_GRPC_DF_FAILED,     /* sticky error in `err` */
} pw_grpc_deframer_state;

/* A yielded message. `ptr` is never NULL (an empty message points at a static byte). */
typedef struct pw_grpc_msg {
    const uint8_t *ptr;
    size_t len;
    bool compressed; /* Compressed-Flag was 1: decompress with the negotiated grpc-encoding */
    bool copied;     /* true: ptr is in the deframer's buffer; false: ptr is in the fed slice */
} pw_grpc_msg;

typedef struct pw_grpc_deframer {
    pw_grpc_deframer_state state;
    int err;              /* sticky PW_GRPC_DEFRAME_ERR_* or -ENOMEM in FAILED */
    size_t max_msg_bytes; /* largest Message-Length accepted */
    bool compression_ok;  /* a grpc-encoding other than identity was negotiated */
    uint8_t hdr[PW_GRPC_MSG_PREFIX_BYTES];
    size_t hdr_have;
    bool cur_compressed; /* current message, valid in BODY */
    size_t cur_len;
    uint8_t *body; /* owned assembly buffer (NULL until a message is split) */
    size_t body_cap;
    size_t body_have;
    /* Allocation seam (core/rt_alloc's rt_realloc by default; the body is freed with rt_free):
     * tests replace it to inject failures. */
    void *(*realloc_fn)(void *p, size_t n);
} pw_grpc_deframer;

/* Initializes `d` (caller's memory; no allocation yet). max_msg_bytes == 0 means
 * PW_GRPC_MAX_MSG_BYTES_DEFAULT; values above UINT32_MAX act as "no limit but the 32-bit length
 * field". Compression starts not negotiated. */
void pw_grpc_deframer_init(pw_grpc_deframer *d, size_t max_msg_bytes);
/* Frees the assembly buffer. Views previously yielded from it become invalid. */
void pw_grpc_deframer_deinit(pw_grpc_deframer *d);
/* Whether a non-identity grpc-encoding was negotiated for this direction (from the headers).
 * Without it a set Compressed-Flag is an error (PROTOCOL-HTTP2.md: "If the Message-Encoding
 * header is omitted then the Compressed-Flag must be 0"). */
static inline void pw_grpc_deframer_set_compression(pw_grpc_deframer *d, bool negotiated)
{
    d->compression_ok = negotiated;
}

/* Feeds bytes and yields at most one message per call. `*src`/`*len` describe the unconsumed
 * part of the caller's slice and are advanced past what was consumed. Loop until it returns
 * 0 or an error:
 *
 *     while ((rc = pw_grpc_deframe(d, &p, &n, &msg)) == 1) handle(msg);
 *
 * Returns 1: *out holds a message (the slice may have bytes left: call again);
 *         0: the slice is fully consumed (*len == 0), a partial message is kept;
 *        <0: PW_GRPC_DEFRAME_ERR_* or -ENOMEM, sticky; the stream must be failed.
 * An oversized length is rejected as soon as its prefix is complete, before any of the body is
 * buffered. Memory: at most max_msg_bytes are allocated, and only for a message split across
 * slices; a message wholly inside the slice is yielded as a view into it (zero copy).
 *
 * VIEW LIFETIME: out->ptr is valid until the next call of any pw_grpc_deframe* function on `d`
 * (the assembly buffer is reused or freed then) — and, when out->copied is false, only while
 * the caller keeps the fed slice alive and unmodified. Borrowed: `*src` during the call only. */
int pw_grpc_deframe(pw_grpc_deframer *d, const uint8_t **src, size_t *len, pw_grpc_msg *out);

/* End of stream (END_STREAM seen). Returns 0 when the deframer is at a message boundary,
 * PW_GRPC_DEFRAME_ERR_TRUNCATED when a partial prefix or body is pending (the trailing partial
 * message is dropped), or the sticky error. */
int pw_grpc_deframer_finish(pw_grpc_deframer *d);

/* True when no partial message is pending. */
static inline bool pw_grpc_deframer_at_boundary(const pw_grpc_deframer *d)
{
    return d->state == PW_GRPC_DF_HEADER && d->hdr_have == 0;
}

/* gRPC status for a deframer error: TOO_LARGE and -ENOMEM -> RESOURCE_EXHAUSTED; COMPRESSED,
 * BAD_FLAG, TRUNCATED and anything else -> INTERNAL. */
pw_grpc_status pw_grpc_deframe_err_status(int err);
/* Short static description for logs and grpc-message. */
const char *pw_grpc_deframe_strerror(int err);

/* ---- Encoder ---- */

/* Writes the 5-byte prefix into dst. */
static inline void pw_grpc_msg_put_prefix(uint8_t dst[PW_GRPC_MSG_PREFIX_BYTES], bool compressed,
                                          uint32_t len)
{
    dst[0] = compressed ? 1 : 0;
    dst[1] = (uint8_t)(len >> 24);
    dst[2] = (uint8_t)(len >> 16);
    dst[3] = (uint8_t)(len >> 8);
    dst[4] = (uint8_t)len;
}

/* Appends prefix + a copy of payload (borrowed for the call; may be NULL when len == 0).
 * Returns 0, -EMSGSIZE (len > UINT32_MAX), -ENOBUFS (out's cap) or -ENOMEM; out unchanged on
 * error. */
int pw_grpc_msg_encode(buf *out, const uint8_t *payload, size_t len, bool compressed);

/* An open message: its prefix's offset from buf_begin(out) (stable across reallocation). */
typedef struct pw_grpc_msg_mark {
    size_t off;
} pw_grpc_msg_mark;

/* Reserves the prefix and records it in *m; the caller then encodes the body by appending to
 * `out` (e.g. pw_pb_put_*), consuming nothing from `out` until pw_grpc_msg_end().
 * Returns 0, -ENOBUFS or -ENOMEM. */
int pw_grpc_msg_begin(buf *out, pw_grpc_msg_mark *m);
/* Patches the prefix with the body length and flag. Returns 0 or -EMSGSIZE (body above
 * UINT32_MAX; the caller should drop everything after m->off). */
int pw_grpc_msg_end(buf *out, const pw_grpc_msg_mark *m, bool compressed);

#endif
