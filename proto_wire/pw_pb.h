/* proto_wire/pw_pb: the protobuf binary wire format — a zero-copy field reader and an encoder
 * that writes straight into a core `buf`. No allocation of its own, no I/O, no global state.
 *
 * Wire format (protobuf "Encoding" spec): a message is a sequence of records
 *
 *   | tag: varint (field_number << 3 | wire_type) | value |
 *
 *   wire type | name   | value
 *   ----------+--------+--------------------------------------------------------------
 *   0         | VARINT | base-128 varint, 1..10 bytes, least significant group first
 *   1         | I64    | 8 bytes little-endian (fixed64, sfixed64, double)
 *   2         | LEN    | varint length, then that many bytes (bytes, string, message, packed)
 *   3, 4      | SGROUP/EGROUP | deprecated groups: REJECTED by this reader
 *   5         | I32    | 4 bytes little-endian (fixed32, sfixed32, float)
 *   6, 7      | —      | invalid
 *
 * Integer semantics: int32/int64/uint32/uint64/bool/enum are plain varints; a negative int32 is
 * sign-extended to 64 bits and therefore always takes 10 bytes. sint32/sint64 are zigzag-coded
 * varints (0,-1,1,-2 -> 0,1,2,3).
 *
 * Decoding contract: pw_pb_next() yields one field at a time; length-delimited values are views
 * into the caller's input (borrowed: valid exactly as long as that input). Callers switch on the
 * field number and ignore numbers they do not know — that is how unknown fields are skipped.
 * A sub-message is read by starting a new reader over the LEN view.
 *
 * Encoding contract: every pw_pb_put_* appends to `out` and returns 0 or a negative errno:
 * -ENOBUFS when out's cap would be exceeded, -ENOMEM when allocation fails, -EINVAL for a field
 * number outside 1..PW_PB_FIELD_MAX, -EMSGSIZE for a length above PW_PB_LEN_MAX. On error `out` is
 * unchanged (a field is reserved whole before any byte is written).
 *
 * Sub-messages (and packed fields) whose size is not known up front use a begin/end pair:
 * pw_pb_submsg_begin() writes the tag and reserves ONE length byte; the body is encoded in place;
 * pw_pb_submsg_end() patches the length. A body under 128 bytes — the common case for nested
 * RPC messages — therefore costs nothing extra; a longer body is shifted forward by its varint
 * length minus one (1..4 bytes, one memmove of the body). When a large body's size is known,
 * write pw_pb_put_tag(.., PW_PB_WT_LEN) + pw_pb_put_varint(size) and then the body: no move. */
#ifndef PW_PB_H
#define PW_PB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/rt_buf.h"

/* Limits. */
#define PW_PB_FIELD_MAX ((1u << 29) - 1) /* largest field number the format allows */
#define PW_PB_VARINT_BYTES_MAX 10u       /* ceil(64 / 7): a uint64 never needs more */
/* Largest length-delimited value, in bytes. Protobuf sizes are int32 in every mainstream
 * runtime, so a larger LEN cannot be produced or consumed by a conforming peer. */
#define PW_PB_LEN_MAX ((size_t)INT32_MAX)

typedef enum pw_pb_wire_type {
    PW_PB_WT_VARINT = 0,
    PW_PB_WT_I64 = 1,
    PW_PB_WT_LEN = 2,
    PW_PB_WT_SGROUP = 3, /* never yielded: groups are rejected */
    PW_PB_WT_EGROUP = 4, /* never yielded */
    PW_PB_WT_I32 = 5,
} pw_pb_wire_type;

/* Decoder errors (negative, outside the errno range so they never collide with -ENOBUFS etc.). */
#define PW_PB_ERR_TRUNCATED (-1001)     /* input ends inside a tag, varint or fixed value */
#define PW_PB_ERR_BAD_VARINT (-1002)    /* varint longer than 10 bytes or overflowing 64 bits */
#define PW_PB_ERR_BAD_WIRE_TYPE (-1003) /* wire type 3, 4 (groups), 6 or 7 */
#define PW_PB_ERR_BAD_FIELD (-1004)     /* field number 0 or above PW_PB_FIELD_MAX */
#define PW_PB_ERR_LEN_OVERFLOW (-1005)  /* LEN value extends beyond the input */

/* A borrowed byte range. */
typedef struct pw_pb_bytes {
    const uint8_t *ptr;
    size_t len;
} pw_pb_bytes;

/* One decoded field. For VARINT, I64 and I32 the value is in `u64` (I32 zero-extended) and
 * `bytes` is empty; for LEN it is in `bytes` (a view into the reader's input) and `u64` is 0. */
typedef struct pw_pb_field {
    uint32_t num;
    pw_pb_wire_type wt;
    uint64_t u64;
    pw_pb_bytes bytes;
} pw_pb_field;

/* Reader over a borrowed (ptr, len) view; ptr may be NULL when len is 0. After an error every
 * later pw_pb_next() returns it. */
typedef struct pw_pb_reader {
    const uint8_t *p;
    const uint8_t *end;
    int err; /* sticky: 0 or PW_PB_ERR_* */
} pw_pb_reader;

static inline void pw_pb_reader_init(pw_pb_reader *r, const uint8_t *ptr, size_t len)
{
    r->p = ptr;
    r->end = len ? ptr + len : ptr; /* (NULL, 0) is an empty message; NULL + 0 is UB in C */
    r->err = 0;
}

/* Bytes not yet consumed. */
static inline size_t pw_pb_reader_left(const pw_pb_reader *r) { return (size_t)(r->end - r->p); }

/* Reads the next field into *f. Returns 1 (a field), 0 (clean end of input) or PW_PB_ERR_*. */
int pw_pb_next(pw_pb_reader *r, pw_pb_field *f);

/* pw_pb_next with the commonest fields inline: a one-byte tag (fields 1..15) of a VARINT with a
 * one-byte value or of a LEN with a one-byte length that fits. Anything else (and every error)
 * goes through pw_pb_next. Same contract and results. */
static inline int pw_pb_next_inline(pw_pb_reader *r, pw_pb_field *f)
{
    const uint8_t *p = r->p;
    if (r->err || r->end - p < 2 || (p[0] | p[1]) >= 0x80 || p[0] < 8) return pw_pb_next(r, f);
    uint32_t wt = p[0] & 7u;
    if (wt == PW_PB_WT_VARINT) {
        f->num = p[0] >> 3;
        f->wt = PW_PB_WT_VARINT;
        f->u64 = p[1];
        f->bytes.ptr = NULL;
        f->bytes.len = 0;
        r->p = p + 2;
        return 1;
    }
    if (wt != PW_PB_WT_LEN || (size_t)(r->end - p - 2) < p[1]) return pw_pb_next(r, f);
    f->num = p[0] >> 3;
    f->wt = PW_PB_WT_LEN;
    f->u64 = 0;
    f->bytes.ptr = p + 2;
    f->bytes.len = p[1];
    r->p = p + 2 + p[1];
    return 1;
}

/* Decodes one varint from src[0..len). Returns bytes consumed (1..10) and stores *out, or
 * PW_PB_ERR_TRUNCATED / PW_PB_ERR_BAD_VARINT. */
int pw_pb_read_varint(const uint8_t *src, size_t len, uint64_t *out);

/* Short names for errors in logs ("truncated", ...); "unknown" for anything else. Static. */
const char *pw_pb_strerror(int err);

/* ---- Scalar semantics over decoded values ---- */

static inline uint64_t pw_pb_zigzag_encode64(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(-(int64_t)((uint64_t)v >> 63));
}
static inline int64_t pw_pb_zigzag_decode64(uint64_t v)
{
    return (int64_t)((v >> 1) ^ (uint64_t)(-(int64_t)(v & 1)));
}
static inline uint32_t pw_pb_zigzag_encode32(int32_t v)
{
    return ((uint32_t)v << 1) ^ (uint32_t)(-(int32_t)((uint32_t)v >> 31));
}
static inline int32_t pw_pb_zigzag_decode32(uint32_t v)
{
    return (int32_t)((v >> 1) ^ (uint32_t)(-(int32_t)(v & 1)));
}
/* int32/enum: the low 32 bits, two's complement (a 10-byte negative decodes correctly). */
static inline int32_t pw_pb_as_int32(uint64_t v) { return (int32_t)(uint32_t)v; }
static inline int64_t pw_pb_as_int64(uint64_t v) { return (int64_t)v; }
static inline uint32_t pw_pb_as_uint32(uint64_t v) { return (uint32_t)v; }
static inline int32_t pw_pb_as_sint32(uint64_t v) { return pw_pb_zigzag_decode32((uint32_t)v); }
static inline int64_t pw_pb_as_sint64(uint64_t v) { return pw_pb_zigzag_decode64(v); }
static inline bool pw_pb_as_bool(uint64_t v) { return v != 0; }
/* float / double: bit casts of the I32 / I64 value. */
static inline float pw_pb_as_float(uint64_t v)
{
    uint32_t u = (uint32_t)v;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
static inline double pw_pb_as_double(uint64_t v)
{
    double d;
    memcpy(&d, &v, sizeof d);
    return d;
}
static inline uint32_t pw_pb_float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}
static inline uint64_t pw_pb_double_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

/* ---- Packed repeated fields (the payload of one LEN field) ---- */

typedef struct pw_pb_packed {
    const uint8_t *p;
    const uint8_t *end;
} pw_pb_packed;

/* Starts iterating the LEN value `v` (borrowed; same lifetime as the input it points into). */
static inline void pw_pb_packed_init(pw_pb_packed *it, pw_pb_bytes v)
{
    it->p = v.ptr;
    it->end = v.len ? v.ptr + v.len : v.ptr;
}
/* Next element. Return 1 (stored in *out), 0 (end) or PW_PB_ERR_TRUNCATED / _BAD_VARINT.
 * fixed32 elements are zero-extended into *out. */
int pw_pb_packed_next_varint(pw_pb_packed *it, uint64_t *out);
int pw_pb_packed_next_fixed32(pw_pb_packed *it, uint64_t *out);
int pw_pb_packed_next_fixed64(pw_pb_packed *it, uint64_t *out);
/* Number of varints in a packed payload (to size an array before decoding), or
 * PW_PB_ERR_TRUNCATED when the last one is cut off. Does not validate varint lengths. */
long pw_pb_packed_varint_count(pw_pb_bytes v);

/* ---- Encoder ---- */

/* Bytes a varint of `v` takes (1..10). */
static inline size_t pw_pb_varint_len(uint64_t v)
{
    /* bits = 64 - clz; len = ceil(bits / 7), with v == 0 taking one byte. */
    unsigned bits = v ? 64u - (unsigned)__builtin_clzll(v) : 1u;
    return (bits + 6) / 7;
}
/* Bytes a tag takes. */
static inline size_t pw_pb_tag_len(uint32_t field)
{
    return pw_pb_varint_len((uint64_t)field << 3);
}
/* Bytes a whole LEN field with a body of `len` bytes takes. */
static inline size_t pw_pb_len_field_len(uint32_t field, size_t len)
{
    return pw_pb_tag_len(field) + pw_pb_varint_len(len) + len;
}

/* Raw pieces. */
int pw_pb_put_varint(buf *out, uint64_t v);
int pw_pb_put_tag(buf *out, uint32_t field, pw_pb_wire_type wt);

/* Whole fields: tag + value. */
int pw_pb_put_uint64(buf *out, uint32_t field, uint64_t v);
int pw_pb_put_uint32(buf *out, uint32_t field, uint32_t v);
int pw_pb_put_int64(buf *out, uint32_t field, int64_t v);
int pw_pb_put_int32(buf *out, uint32_t field, int32_t v); /* negative: 10-byte varint */
int pw_pb_put_sint64(buf *out, uint32_t field, int64_t v);
int pw_pb_put_sint32(buf *out, uint32_t field, int32_t v);
int pw_pb_put_bool(buf *out, uint32_t field, bool v);
int pw_pb_put_fixed32(buf *out, uint32_t field, uint32_t v);
int pw_pb_put_fixed64(buf *out, uint32_t field, uint64_t v);
int pw_pb_put_float(buf *out, uint32_t field, float v);
int pw_pb_put_double(buf *out, uint32_t field, double v);
/* Copies `len` bytes from `p` (borrowed for the call). `p` may be NULL when len == 0. */
int pw_pb_put_bytes(buf *out, uint32_t field, const void *p, size_t len);
/* A string is bytes on the wire; no UTF-8 check here (proto3 parsers of the peer may check). */
int pw_pb_put_string(buf *out, uint32_t field, const char *s, size_t len);
/* A packed repeated uint64/int64/enum field: tag, length, then the varints. n == 0 writes
 * nothing (proto3 omits empty repeated fields). `v` is borrowed for the call. */
int pw_pb_put_packed_varint(buf *out, uint32_t field, const uint64_t *v, size_t n);

/* Open sub-message: where its one-byte length placeholder sits, as an offset from
 * buf_begin(out) (stable across buf reallocation and compaction). */
typedef struct pw_pb_mark {
    size_t off;
} pw_pb_mark;

/* Writes the tag of LEN field `field` and a one-byte length placeholder; records it in *m.
 * Between begin and end the caller may append to `out` (including nested begin/end pairs,
 * closed innermost first) but must not consume from it. Errors as pw_pb_put_*. */
int pw_pb_submsg_begin(buf *out, uint32_t field, pw_pb_mark *m);
/* Closes the sub-message opened at *m: writes the body length, moving the body forward when the
 * length needs more than one byte. Returns 0, -ENOBUFS/-ENOMEM (no room for the wider length;
 * out is then left with the placeholder — abandon the whole encoding) or -EMSGSIZE (body above
 * PW_PB_LEN_MAX). */
int pw_pb_submsg_end(buf *out, const pw_pb_mark *m);

/* ---- Straight-line writers for hand-written encoders of hot messages ----
 * Into memory the caller sized with the *_len functions (nothing is checked), for fields
 * numbered 1..15 (a one-byte tag), with proto3 presence: a zero number or an empty string is
 * not written. A message encoded this way must give the generated codec's bytes (fields in
 * number order); each one has a byte-for-byte test against it (test_srv_task_codec). */

/* Writes v as a varint at p; returns the end. One-byte values take the first branch. */
static inline uint8_t *pw_pb_write_varint(uint8_t *p, uint64_t v)
{
    if (v < 0x80) {
        *p++ = (uint8_t)v;
        return p;
    }
    do {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    } while (v >= 0x80);
    *p++ = (uint8_t)v;
    return p;
}
/* Bytes of a VARINT field of value v (0 when v == 0: absent). */
static inline size_t pw_pb_small_num_len(uint64_t v) { return v ? 1 + pw_pb_varint_len(v) : 0; }
/* Bytes of a LEN field of n bytes (0 when n == 0: absent). */
static inline size_t pw_pb_small_str_len(size_t n) { return n ? 1 + pw_pb_varint_len(n) + n : 0; }
static inline uint8_t *pw_pb_write_small_num(uint8_t *p, uint32_t field, uint64_t v)
{
    if (!v) return p;
    *p++ = (uint8_t)(field << 3 | PW_PB_WT_VARINT);
    return pw_pb_write_varint(p, v);
}
/* s[0..n) is copied (n == 0 writes nothing and reads nothing). */
static inline uint8_t *pw_pb_write_small_str(uint8_t *p, uint32_t field, const void *s, size_t n)
{
    if (!n) return p;
    *p++ = (uint8_t)(field << 3 | PW_PB_WT_LEN);
    p = pw_pb_write_varint(p, n);
    memcpy(p, s, n);
    return p + n;
}

#endif
