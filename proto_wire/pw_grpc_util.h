/* proto_wire/pw_grpc_util: transport-independent gRPC header pieces (PROTOCOL-HTTP2.md):
 * status codes, `grpc-timeout`, `grpc-message` percent-encoding, base64 for `-bin` metadata, and
 * custom-metadata validation. Pure functions: no allocation, no I/O, no global state. */
#ifndef PW_GRPC_UTIL_H
#define PW_GRPC_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rt_buf.h"

/* ---- Status codes (grpc/doc/statuscodes.md) ---- */

typedef enum pw_grpc_status {
    PW_GRPC_OK = 0,
    PW_GRPC_CANCELLED = 1,
    PW_GRPC_UNKNOWN = 2,
    PW_GRPC_INVALID_ARGUMENT = 3,
    PW_GRPC_DEADLINE_EXCEEDED = 4,
    PW_GRPC_NOT_FOUND = 5,
    PW_GRPC_ALREADY_EXISTS = 6,
    PW_GRPC_PERMISSION_DENIED = 7,
    PW_GRPC_RESOURCE_EXHAUSTED = 8,
    PW_GRPC_FAILED_PRECONDITION = 9,
    PW_GRPC_ABORTED = 10,
    PW_GRPC_OUT_OF_RANGE = 11,
    PW_GRPC_UNIMPLEMENTED = 12,
    PW_GRPC_INTERNAL = 13,
    PW_GRPC_UNAVAILABLE = 14,
    PW_GRPC_DATA_LOSS = 15,
    PW_GRPC_UNAUTHENTICATED = 16,
} pw_grpc_status;
#define PW_GRPC_STATUS_MAX PW_GRPC_UNAUTHENTICATED

/* "OK", "CANCELLED", ... ; "INVALID_STATUS" for codes outside 0..16. Static strings. */
const char *pw_grpc_status_name(int code);

/* Parses a `grpc-status` value: 1..PW_GRPC_STATUS_DIGITS_MAX ASCII digits (leading zeros are
 * tolerated). A well-formed number above 16 is stored as PW_GRPC_UNKNOWN (unknown codes are
 * surfaced as UNKNOWN). Returns 0 or -EINVAL (malformed; the caller synthesizes a status). */
#define PW_GRPC_STATUS_DIGITS_MAX 9u /* keeps the value inside int32 while parsing */
int pw_grpc_status_parse(const char *s, size_t len, pw_grpc_status *out);

/* ---- grpc-timeout ---- */

/* Value digits allowed by the spec: "positive integer as ASCII string of at most 8 digits". */
#define PW_GRPC_TIMEOUT_DIGITS_MAX 8u
/* Formatted timeout: 8 digits + unit + NUL. */
#define PW_GRPC_TIMEOUT_STR_BYTES 10u
/* Saturation point for parsed timeouts, in ns. 99999999H is ~3.6e20 ns, beyond uint64; we cap at
 * INT64_MAX (~292 years) so `now_ns + timeout_ns` cannot wrap a uint64 monotonic clock. */
#define PW_GRPC_TIMEOUT_NS_MAX ((uint64_t)INT64_MAX)

/* Parses `grpc-timeout` (not NUL-terminated): 1..8 ASCII digits then exactly one unit of
 * H M S m u n. "0S" is accepted (an already expired deadline). Stores nanoseconds, saturated at
 * PW_GRPC_TIMEOUT_NS_MAX. Returns 0 or -EINVAL (empty, sign, space, 9+ digits, no/bad unit). */
int pw_grpc_timeout_parse(const char *s, size_t len, uint64_t *ns_out);

/* Formats `ns` for a client's `grpc-timeout` into out[PW_GRPC_TIMEOUT_STR_BYTES] (NUL-ended).
 * Uses the largest unit that represents `ns` exactly in at most 8 digits; otherwise the finest
 * unit whose rounded-up value fits (rounding up never shortens the deadline). ns == 0 gives "0n".
 * Returns the length (2..9). */
size_t pw_grpc_timeout_format(uint64_t ns, char out[PW_GRPC_TIMEOUT_STR_BYTES]);

/* Significant decimal digits a client keeps of the time left when it sends `grpc-timeout`
 * (pw_grpc_timeout_coarse): 3 overstates the deadline by under 1 %, and makes the value the same
 * for every call started with the same timeout (a 30 s timeout gives "30S" whether 2 us or 90 ms
 * of it are gone), so the request's header block is the same from call to call and is sent from
 * the HPACK block cache (pw_h2_send.c) instead of being copied and encoded per call with a new
 * literal that churns the dynamic table: each digit kept is a new string per 10^-digits of the
 * timeout. gRPC's own implementations round the same way (a timeout is a hint to the server; the
 * client's timer enforces the real deadline). */
#define PW_GRPC_TIMEOUT_SIG_DIGITS 3u
/* `ns` rounded up to PW_GRPC_TIMEOUT_SIG_DIGITS significant decimal digits (never shorter:
 * rounding up never cuts the server's time); 0 stays 0, and values that would wrap saturate at
 * UINT64_MAX. */
uint64_t pw_grpc_timeout_coarse(uint64_t ns);

/* ---- grpc-accept-encoding ---- */

/* Whether a comma-separated token list (`n` bytes, not NUL-terminated) contains `tok`,
 * case-insensitively, ignoring spaces around items. */
bool pw_grpc_list_has(const char *p, size_t n, const char *tok);

/* ---- grpc-message percent-encoding ---- */

/* Bytes pw_grpc_pct_encode writes for src (3 per byte outside 0x20..0x7E or '%', else 1). */
size_t pw_grpc_pct_encoded_len(const uint8_t *src, size_t len);
/* Encodes src into dst (at least pw_grpc_pct_encoded_len bytes; must not overlap src) as
 * %XX with uppercase hex. Returns bytes written. */
size_t pw_grpc_pct_encode(uint8_t *dst, const uint8_t *src, size_t len);
/* Appends the encoding to `out`. Returns 0, -ENOBUFS (cap) or -ENOMEM; out unchanged on error. */
int pw_grpc_pct_encode_buf(buf *out, const uint8_t *src, size_t len);
/* Decodes leniently (the spec forbids failing): "%XX" with hex digits of either case becomes
 * one byte; a '%' not followed by two hex digits is copied as is. dst needs `len` bytes and may
 * equal src (in-place decoding). Returns bytes written (<= len). */
size_t pw_grpc_pct_decode(uint8_t *dst, const uint8_t *src, size_t len);

/* ---- base64 (RFC 4648 §4, standard alphabet) for -bin metadata ---- */

/* Encoded length of n bytes: padded (multiple of 4) or unpadded (what gRPC should emit). */
size_t pw_b64_encoded_len(size_t n, bool pad);
/* Encodes into dst (pw_b64_encoded_len bytes, no NUL). Returns bytes written. */
size_t pw_b64_encode(char *dst, const uint8_t *src, size_t len, bool pad);
/* Upper bound of decoded bytes for `len` input characters. */
static inline size_t pw_b64_decoded_len_max(size_t len) { return len / 4 * 3 + (len % 4) * 3 / 4; }
/* Decodes padded or unpadded input into dst (pw_b64_decoded_len_max bytes; dst may equal src).
 * Rejects characters outside the alphabet, '=' anywhere but the final 1-2 positions of a
 * 4-aligned input, and a final group of one character. Non-zero unused trailing bits are
 * tolerated (RFC 4648 §3.5 lets decoders choose). Returns bytes written or -EINVAL. */
long pw_b64_decode(uint8_t *dst, const char *src, size_t len);

/* ---- Custom metadata ---- */

/* Header-Name: 1*( 0-9 / a-z / "_" / "-" / "." ). Pseudo-headers (':...') are not metadata. */
bool pw_grpc_md_name_valid(const char *name, size_t len);
/* Names ending in "-bin" carry base64 binary values. */
bool pw_grpc_md_is_bin(const char *name, size_t len);
/* Names starting with "grpc-" are reserved for gRPC itself, not application metadata. */
bool pw_grpc_md_is_reserved(const char *name, size_t len);
/* Value check for a metadata entry named `name`: for -bin names the base64 alphabet plus '='
 * padding and ',' (duplicate values may be joined with ","); otherwise ASCII 0x20..0x7E.
 * An empty value is accepted (HTTP allows it, and the spec forbids erroring on HTTP-valid
 * values). */
bool pw_grpc_md_value_valid(const char *name, size_t name_len, const char *value, size_t len);

#endif
