/* proto_wire/pw_pb: protobuf wire format reader and encoder. See pw_pb.h for the contracts. */
#include "proto_wire/pw_pb.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

_Static_assert(PW_PB_VARINT_BYTES_MAX * 7 >= 64, "a uint64 must fit in PW_PB_VARINT_BYTES_MAX");
_Static_assert(PW_PB_FIELD_MAX == 536870911u, "field numbers are 29 bits");

/* ---- Decoder ---- */

/* The 7-bit groups of the low bytes of w (continuation bits already clear) packed together:
 * byte i's group lands at bit 7 * i. Three shift-and-merge steps instead of a loop per byte. */
static inline uint64_t varint_pack8(uint64_t w)
{
    w = ((w & 0x7f007f007f007f00ull) >> 1) | (w & 0x007f007f007f007full);
    w = ((w & 0x3fff00003fff0000ull) >> 2) | (w & 0x00003fff00003fffull);
    return ((w & 0x0fffffff00000000ull) >> 4) | (w & 0x000000000fffffffull);
}

/* A varint of 2..10 bytes with at least 8 readable: the first 8 bytes are read as one word and
 * the first byte without the continuation bit is found with one count of trailing zeros
 * (lease tokens and unix-ms times, 6-10 bytes, are most of the multi-byte varints read). */
static int read_varint_wide(const uint8_t *src, size_t len, uint64_t *out)
{
    uint64_t w;
    memcpy(&w, src, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    uint64_t stop = ~w & 0x8080808080808080ull; /* bit 7 of each byte that ends the varint */
    if (stop) {
        uint64_t keep = stop ^ (stop - 1); /* every bit up to the first end byte's bit 7 */
        *out = varint_pack8(w & keep & 0x7f7f7f7f7f7f7f7full);
        return (__builtin_ctzll(stop) >> 3) + 1;
    }
    uint64_t v = varint_pack8(w & 0x7f7f7f7f7f7f7f7full); /* 56 bits, 8 bytes continued */
    if (len < 9) return PW_PB_ERR_TRUNCATED;
    if (src[8] < 0x80) {
        *out = v | (uint64_t)src[8] << 56;
        return 9;
    }
    if (len < 10) return PW_PB_ERR_TRUNCATED;
    /* The 10th byte holds bit 63 only: anything above 1 either continues past 10 bytes or sets
     * bits beyond 64. Both are malformed (we do not silently truncate). */
    if (src[9] > 1) return PW_PB_ERR_BAD_VARINT;
    *out = v | (uint64_t)(src[8] & 0x7f) << 56 | (uint64_t)src[9] << 63;
    return 10;
}

int pw_pb_read_varint(const uint8_t *src, size_t len, uint64_t *out)
{
    if (len > 0 && src[0] < 0x80) { /* one byte: most tags and small values */
        *out = src[0];
        return 1;
    }
    if (len >= 8) return read_varint_wide(src, len, out);
    size_t n = len < PW_PB_VARINT_BYTES_MAX ? len : PW_PB_VARINT_BYTES_MAX;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = src[i];
        /* The 10th byte holds bit 63 only (see read_varint_wide). */
        if (i == PW_PB_VARINT_BYTES_MAX - 1 && b > 1) return PW_PB_ERR_BAD_VARINT;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (b < 0x80) {
            *out = v;
            return (int)(i + 1);
        }
    }
    /* Only reachable with len < 10: every byte so far had the continuation bit. */
    return PW_PB_ERR_TRUNCATED;
}

static inline uint64_t load_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static int fail(pw_pb_reader *r, int err)
{
    r->err = err;
    return err;
}

/* pw_pb_read_varint with its one-byte case inline: tags, lengths under 128 and small values
 * (most of what pw_pb_next reads) cost no call. */
static inline int varint_at(const uint8_t *p, size_t left, uint64_t *out)
{
    if (left > 0 && p[0] < 0x80) {
        *out = p[0];
        return 1;
    }
    return pw_pb_read_varint(p, left, out);
}

int pw_pb_next(pw_pb_reader *r, pw_pb_field *f)
{
    if (r->err) return r->err;
    if (r->p == r->end) return 0;

    uint64_t tag;
    int n = varint_at(r->p, pw_pb_reader_left(r), &tag);
    if (n < 0) return fail(r, n);
    const uint8_t *p = r->p + n;
    size_t left = (size_t)(r->end - p);

    uint64_t num = tag >> 3;
    if (num == 0 || num > PW_PB_FIELD_MAX) return fail(r, PW_PB_ERR_BAD_FIELD);
    f->num = (uint32_t)num;
    f->u64 = 0;
    f->bytes.ptr = NULL;
    f->bytes.len = 0;

    switch (tag & 7) {
    case PW_PB_WT_VARINT:
        f->wt = PW_PB_WT_VARINT;
        n = varint_at(p, left, &f->u64);
        if (n < 0) return fail(r, n);
        p += n;
        break;
    case PW_PB_WT_I64:
        f->wt = PW_PB_WT_I64;
        if (left < 8) return fail(r, PW_PB_ERR_TRUNCATED);
        f->u64 = load_le(p, 8);
        p += 8;
        break;
    case PW_PB_WT_I32:
        f->wt = PW_PB_WT_I32;
        if (left < 4) return fail(r, PW_PB_ERR_TRUNCATED);
        f->u64 = load_le(p, 4);
        p += 4;
        break;
    case PW_PB_WT_LEN: {
        f->wt = PW_PB_WT_LEN;
        uint64_t len;
        n = varint_at(p, left, &len);
        if (n < 0) return fail(r, n);
        p += n;
        left -= (size_t)n;
        if (len > left) return fail(r, PW_PB_ERR_LEN_OVERFLOW);
        f->bytes.ptr = p;
        f->bytes.len = (size_t)len;
        p += len;
        break;
    }
    default: /* 3, 4: groups (unsupported by design); 6, 7: undefined */
        return fail(r, PW_PB_ERR_BAD_WIRE_TYPE);
    }
    r->p = p;
    return 1;
}

const char *pw_pb_strerror(int err)
{
    switch (err) {
    case PW_PB_ERR_TRUNCATED: return "truncated";
    case PW_PB_ERR_BAD_VARINT: return "bad varint";
    case PW_PB_ERR_BAD_WIRE_TYPE: return "bad wire type";
    case PW_PB_ERR_BAD_FIELD: return "bad field number";
    case PW_PB_ERR_LEN_OVERFLOW: return "length beyond input";
    default: return "unknown";
    }
}

/* ---- Packed ---- */

int pw_pb_packed_next_varint(pw_pb_packed *it, uint64_t *out)
{
    if (it->p == it->end) return 0;
    int n = pw_pb_read_varint(it->p, (size_t)(it->end - it->p), out);
    if (n < 0) return n;
    it->p += n;
    return 1;
}

static int packed_next_fixed(pw_pb_packed *it, uint64_t *out, unsigned width)
{
    if (it->p == it->end) return 0;
    if ((size_t)(it->end - it->p) < width) return PW_PB_ERR_TRUNCATED;
    *out = load_le(it->p, width);
    it->p += width;
    return 1;
}

int pw_pb_packed_next_fixed32(pw_pb_packed *it, uint64_t *out)
{
    return packed_next_fixed(it, out, 4);
}

int pw_pb_packed_next_fixed64(pw_pb_packed *it, uint64_t *out)
{
    return packed_next_fixed(it, out, 8);
}

long pw_pb_packed_varint_count(pw_pb_bytes v)
{
    long count = 0;
    for (size_t i = 0; i < v.len; i++) count += v.ptr[i] < 0x80;
    if (v.len > 0 && v.ptr[v.len - 1] >= 0x80) return PW_PB_ERR_TRUNCATED;
    return count;
}

/* ---- Encoder ---- */

/* Reserves exactly `n` bytes (n > 0), so a field that fits under the cap is never refused. */
static inline uint8_t *reserve(buf *out, size_t n, int *err)
{
    uint8_t *p = NULL;
    int rc = buf_reserve(out, n, &p);
    if (rc < 0) *err = rc;
    return rc < 0 ? NULL : p;
}

static inline uint8_t *write_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static inline uint8_t *write_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
    return p + n;
}

static inline bool field_ok(uint32_t field) { return field >= 1 && field <= PW_PB_FIELD_MAX; }

static inline uint64_t tag_of(uint32_t field, pw_pb_wire_type wt)
{
    return (uint64_t)field << 3 | (uint64_t)wt;
}

int pw_pb_put_varint(buf *out, uint64_t v)
{
    int err = 0;
    size_t n = pw_pb_varint_len(v);
    uint8_t *p = reserve(out, n, &err);
    if (!p) return err;
    write_varint(p, v);
    buf_commit(out, n);
    return 0;
}

int pw_pb_put_tag(buf *out, uint32_t field, pw_pb_wire_type wt)
{
    if (!field_ok(field)) return -EINVAL;
    return pw_pb_put_varint(out, tag_of(field, wt));
}

static int put_varint_field(buf *out, uint32_t field, uint64_t v)
{
    if (!field_ok(field)) return -EINVAL;
    int err = 0;
    uint64_t tag = tag_of(field, PW_PB_WT_VARINT);
    size_t n = pw_pb_varint_len(tag) + pw_pb_varint_len(v);
    uint8_t *p = reserve(out, n, &err);
    if (!p) return err;
    write_varint(write_varint(p, tag), v);
    buf_commit(out, n);
    return 0;
}

static int put_fixed_field(buf *out, uint32_t field, uint64_t v, unsigned width)
{
    if (!field_ok(field)) return -EINVAL;
    int err = 0;
    uint64_t tag = tag_of(field, width == 4 ? PW_PB_WT_I32 : PW_PB_WT_I64);
    size_t n = pw_pb_varint_len(tag) + width;
    uint8_t *p = reserve(out, n, &err);
    if (!p) return err;
    write_le(write_varint(p, tag), v, width);
    buf_commit(out, n);
    return 0;
}

int pw_pb_put_uint64(buf *out, uint32_t field, uint64_t v)
{
    return put_varint_field(out, field, v);
}
int pw_pb_put_uint32(buf *out, uint32_t field, uint32_t v)
{
    return put_varint_field(out, field, v);
}
int pw_pb_put_int64(buf *out, uint32_t field, int64_t v)
{
    return put_varint_field(out, field, (uint64_t)v);
}
int pw_pb_put_int32(buf *out, uint32_t field, int32_t v)
{
    /* Sign-extend: the spec encodes negative int32 exactly like the int64 of the same value. */
    return put_varint_field(out, field, (uint64_t)(int64_t)v);
}
int pw_pb_put_sint64(buf *out, uint32_t field, int64_t v)
{
    return put_varint_field(out, field, pw_pb_zigzag_encode64(v));
}
int pw_pb_put_sint32(buf *out, uint32_t field, int32_t v)
{
    return put_varint_field(out, field, pw_pb_zigzag_encode32(v));
}
int pw_pb_put_bool(buf *out, uint32_t field, bool v) { return put_varint_field(out, field, v); }
int pw_pb_put_fixed32(buf *out, uint32_t field, uint32_t v)
{
    return put_fixed_field(out, field, v, 4);
}
int pw_pb_put_fixed64(buf *out, uint32_t field, uint64_t v)
{
    return put_fixed_field(out, field, v, 8);
}
int pw_pb_put_float(buf *out, uint32_t field, float v)
{
    return put_fixed_field(out, field, pw_pb_float_bits(v), 4);
}
int pw_pb_put_double(buf *out, uint32_t field, double v)
{
    return put_fixed_field(out, field, pw_pb_double_bits(v), 8);
}

int pw_pb_put_bytes(buf *out, uint32_t field, const void *src, size_t len)
{
    if (!field_ok(field)) return -EINVAL;
    if (len > PW_PB_LEN_MAX) return -EMSGSIZE;
    int err = 0;
    uint64_t tag = tag_of(field, PW_PB_WT_LEN);
    size_t n = pw_pb_varint_len(tag) + pw_pb_varint_len(len) + len;
    uint8_t *p = reserve(out, n, &err);
    if (!p) return err;
    p = write_varint(write_varint(p, tag), len);
    if (len) memcpy(p, src, len);
    buf_commit(out, n);
    return 0;
}

int pw_pb_put_string(buf *out, uint32_t field, const char *s, size_t len)
{
    return pw_pb_put_bytes(out, field, s, len);
}

int pw_pb_put_packed_varint(buf *out, uint32_t field, const uint64_t *v, size_t n)
{
    if (!field_ok(field)) return -EINVAL;
    if (n == 0) return 0;
    size_t body = 0;
    for (size_t i = 0; i < n; i++) body += pw_pb_varint_len(v[i]);
    if (body > PW_PB_LEN_MAX) return -EMSGSIZE;
    int err = 0;
    uint64_t tag = tag_of(field, PW_PB_WT_LEN);
    size_t total = pw_pb_varint_len(tag) + pw_pb_varint_len(body) + body;
    uint8_t *p = reserve(out, total, &err);
    if (!p) return err;
    p = write_varint(write_varint(p, tag), body);
    for (size_t i = 0; i < n; i++) p = write_varint(p, v[i]);
    buf_commit(out, total);
    return 0;
}

int pw_pb_submsg_begin(buf *out, uint32_t field, pw_pb_mark *m)
{
    if (!field_ok(field)) return -EINVAL;
    int err = 0;
    uint64_t tag = tag_of(field, PW_PB_WT_LEN);
    size_t n = pw_pb_varint_len(tag) + 1;
    uint8_t *p = reserve(out, n, &err);
    if (!p) return err;
    write_varint(p, tag)[0] = 0; /* placeholder: a one-byte length */
    buf_commit(out, n);
    m->off = buf_size(out) - 1;
    return 0;
}

int pw_pb_submsg_end(buf *out, const pw_pb_mark *m)
{
    size_t size = buf_size(out);
    assert(m->off < size); /* nothing consumed since begin, marks closed innermost first */
    size_t body = size - m->off - 1;
    if (body > PW_PB_LEN_MAX) return -EMSGSIZE;
    size_t vlen = pw_pb_varint_len(body);
    if (vlen == 1) {
        out->data[out->rd + m->off] = (uint8_t)body;
        return 0;
    }
    int err = 0;
    if (!reserve(out, vlen - 1, &err)) return err;
    /* reserve may have moved the data; offsets from rd are unchanged. */
    uint8_t *at = out->data + out->rd + m->off;
    memmove(at + vlen, at + 1, body);
    write_varint(at, body);
    buf_commit(out, vlen - 1);
    return 0;
}
