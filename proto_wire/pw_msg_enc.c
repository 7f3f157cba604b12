/* proto_wire/pw_msg_enc: encoding of the generated messages (pw_msg_size, pw_msg_encode*): a
 * size pass that records each sub-message's size, then one write pass straight into the
 * caller's buffer. See pw_msg.h, "Encoding contract"; decoding and the arena are in pw_msg.c. */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "proto_wire/pw_msg.h"
#include "proto_wire/pw_msg_code.h"
#include "proto_wire/pw_msg_int.h"

/* ---- Scalars ---- */

/* The wire value of the C value of `kind` at p (a VARINT, I32 or I64 payload). */
static inline uint64_t load_scalar(uint8_t kind, const void *p)
{
    switch (kind) {
    case PW_MSG_INT32:
    case PW_MSG_ENUM: {
        int32_t x;
        memcpy(&x, p, 4);
        return (uint64_t)(int64_t)x; /* negative: sign-extended, 10 bytes on the wire */
    }
    case PW_MSG_SINT32: {
        int32_t x;
        memcpy(&x, p, 4);
        return pw_pb_zigzag_encode32(x);
    }
    case PW_MSG_SINT64: {
        int64_t x;
        memcpy(&x, p, 8);
        return pw_pb_zigzag_encode64(x);
    }
    case PW_MSG_BOOL: return *(const bool *)p ? 1 : 0;
    case PW_MSG_UINT32:
    case PW_MSG_FIXED32:
    case PW_MSG_SFIXED32:
    case PW_MSG_FLOAT: {
        uint32_t x;
        memcpy(&x, p, 4);
        return x;
    }
    default: {
        uint64_t x;
        memcpy(&x, p, 8);
        return x;
    }
    }
}

static inline size_t scalar_wire_len(uint8_t kind, uint64_t v)
{
    switch (kind_wt(kind)) {
    case PW_PB_WT_I64: return 8;
    case PW_PB_WT_I32: return 4;
    default: return pw_pb_varint_len(v);
    }
}

/* ---- Encode ---- */

/* Sub-message sizes, recorded by the size pass in pre-order (an element's slot is taken before
 * its own sub-messages are sized) and taken back in the same order by the write pass, which
 * walks the fields and elements in the same order: every sub-message is sized once per encode
 * instead of once per enclosing level. Past PW_MSG_SIZES_MAX sub-messages the write pass sizes
 * the rest again (correct, only slower). The generated encoders (pw_msg_code.h) keep the same
 * record. */
typedef pw_msg_sizes sizes;

static size_t msg_size(const pw_msg_desc *d, const uint8_t *m, sizes *sz);

/* The size of sub-message p (recorded in its pre-order slot). */
static size_t sub_size(const pw_msg_field *fd, const uint8_t *p, sizes *sz)
{
    size_t slot = sz->n++;
    size_t n = msg_size(fd->sub, p, sz);
    if (sz->v && slot < PW_MSG_SIZES_MAX) sz->v[slot] = n;
    return n;
}

/* Bytes of one element with its tag (unpacked form). */
static inline size_t elem_field_len(const pw_msg_field *fd, const uint8_t *p, sizes *sz)
{
    switch (fd->kind) {
    case PW_MSG_STRING:
    case PW_MSG_BYTES: return pw_pb_len_field_len(fd->num, ((const pw_pb_bytes *)p)->len);
    case PW_MSG_MESSAGE: return pw_pb_len_field_len(fd->num, sub_size(fd, p, sz));
    default: return pw_pb_tag_len(fd->num) + scalar_wire_len(fd->kind, load_scalar(fd->kind, p));
    }
}

/* Whether proto3 writes singular field fd of m: `optional` when has_ is set, a oneof member when
 * its case names it (then even a zero value), otherwise when not zero/empty. For a message the
 * pointer decides (NULL: absent). */
static inline bool single_forced(const pw_msg_field *fd, const uint8_t *m)
{
    if (fd->flags & PW_MSG_F_OPTIONAL) return *(const bool *)(m + fd->pres_off);
    return *(const uint32_t *)(m + fd->pres_off) == fd->num; /* PW_MSG_F_ONEOF */
}

/* Bytes of a singular field, 0 when it is not written: one load of the value decides presence
 * and gives the length. */
static inline size_t single_len(const pw_msg_field *fd, const uint8_t *m, sizes *sz)
{
    const uint8_t *v = m + fd->off;
    bool forced = false;
    if (fd->flags & (PW_MSG_F_OPTIONAL | PW_MSG_F_ONEOF)) {
        if (!single_forced(fd, m)) return 0;
        forced = true;
    }
    switch (fd->kind) {
    case PW_MSG_STRING:
    case PW_MSG_BYTES: {
        size_t n = ((const pw_pb_bytes *)v)->len;
        return n || forced ? pw_pb_len_field_len(fd->num, n) : 0;
    }
    case PW_MSG_MESSAGE: {
        const uint8_t *sub = *(const uint8_t *const *)v;
        return sub ? pw_pb_len_field_len(fd->num, sub_size(fd, sub, sz)) : 0;
    }
    default: {
        uint64_t x = load_scalar(fd->kind, v);
        return x || forced ? pw_pb_tag_len(fd->num) + scalar_wire_len(fd->kind, x) : 0;
    }
    }
}

/* Packed: numeric kinds only, never messages (nothing to record). */
static size_t packed_body_len(const pw_msg_field *fd, const uint8_t *arr, size_t n)
{
    size_t body = 0, es = elem_size(fd);
    for (size_t i = 0; i < n; i++)
        body += scalar_wire_len(fd->kind, load_scalar(fd->kind, arr + i * es));
    return body;
}

static size_t repeated_len(const pw_msg_field *fd, const uint8_t *m, sizes *sz)
{
    size_t n = *(const size_t *)(m + fd->aux_off);
    const uint8_t *arr = *(const uint8_t *const *)(m + fd->off);
    if (!n) return 0;
    if (fd->flags & PW_MSG_F_PACKED)
        return pw_pb_len_field_len(fd->num, packed_body_len(fd, arr, n));
    size_t total = 0, es = elem_size(fd);
    for (size_t i = 0; i < n; i++) total += elem_field_len(fd, arr + i * es, sz);
    return total;
}

static size_t msg_size(const pw_msg_desc *d, const uint8_t *m, sizes *sz)
{
    size_t total = 0;
    for (size_t i = 0; i < d->nfields; i++) {
        const pw_msg_field *fd = &d->fields[i];
        total += (fd->flags & PW_MSG_F_REPEATED) ? repeated_len(fd, m, sz) : single_len(fd, m, sz);
    }
    return total;
}

/* The body size of *msg: the generated size pass when the table has one, else the walk. */
static size_t size_any(const pw_msg_desc *d, const void *msg, sizes *sz)
{
    return d->size_fn ? d->size_fn(msg, sz) : msg_size(d, msg, sz);
}

size_t pw_msg_size(const pw_msg_desc *d, const void *msg)
{
    sizes sz = {NULL, 0};
    return size_any(d, msg, &sz);
}

/* A writer over memory already sized by msg_size: bounds are asserted, not checked. */
typedef struct wr {
    uint8_t *p;
    uint8_t *end;
    const size_t *sizes; /* the size pass's record */
    size_t n;            /* next slot of it */
} wr;

/* One-byte values (tags of fields 1..15, small lengths and numbers) are most of what is
 * written: they take the first branch. */
static inline void put_varint(wr *w, uint64_t v)
{
    if (v < 0x80) {
        assert(w->p < w->end);
        *w->p++ = (uint8_t)v;
        return;
    }
    assert((size_t)(w->end - w->p) >= pw_pb_varint_len(v));
    do {
        *w->p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    } while (v >= 0x80);
    *w->p++ = (uint8_t)v;
}

static inline void put_le(wr *w, uint64_t v, unsigned n)
{
    assert((size_t)(w->end - w->p) >= n);
    for (unsigned i = 0; i < n; i++) *w->p++ = (uint8_t)(v >> (8 * i));
}

static inline void put_tag(wr *w, uint32_t num, pw_pb_wire_type wt)
{
    put_varint(w, (uint64_t)num << 3 | (uint64_t)wt);
}

static inline void put_bytes(wr *w, const pw_pb_bytes *b)
{
    put_varint(w, b->len);
    assert((size_t)(w->end - w->p) >= b->len);
    if (b->len) memcpy(w->p, b->ptr, b->len);
    w->p += b->len;
}

static void write_msg(const pw_msg_desc *d, const uint8_t *m, wr *w);

/* Writes the length and body of sub-message p, with the size its slot recorded. */
static void write_sub(const pw_msg_field *fd, const uint8_t *p, wr *w)
{
    size_t slot = w->n++;
    if (slot < PW_MSG_SIZES_MAX) {
        put_varint(w, w->sizes[slot]);
        write_msg(fd->sub, p, w);
        return;
    }
    /* Past the record: size this one (and its sub-messages) again, then skip their slots. */
    sizes sz = {NULL, 0};
    put_varint(w, msg_size(fd->sub, p, &sz));
    size_t after = w->n + sz.n;
    write_msg(fd->sub, p, w);
    assert(w->n == after);
    (void)after;
}

/* Writes the payload of scalar value v of `kind` (no tag). */
static inline void put_scalar(wr *w, uint8_t kind, uint64_t v)
{
    switch (kind_wt(kind)) {
    case PW_PB_WT_I64: put_le(w, v, 8); break;
    case PW_PB_WT_I32: put_le(w, v, 4); break;
    default: put_varint(w, v); break;
    }
}

/* Writes the value (no tag) of one element. */
static inline void write_value(const pw_msg_field *fd, const uint8_t *p, wr *w)
{
    switch (fd->kind) {
    case PW_MSG_STRING:
    case PW_MSG_BYTES: put_bytes(w, (const pw_pb_bytes *)p); return;
    case PW_MSG_MESSAGE: write_sub(fd, p, w); return;
    default: put_scalar(w, fd->kind, load_scalar(fd->kind, p));
    }
}

/* A singular field, by the same rule as single_len. */
static inline void write_single(const pw_msg_field *fd, const uint8_t *m, wr *w)
{
    const uint8_t *v = m + fd->off;
    bool forced = false;
    if (fd->flags & (PW_MSG_F_OPTIONAL | PW_MSG_F_ONEOF)) {
        if (!single_forced(fd, m)) return;
        forced = true;
    }
    switch (fd->kind) {
    case PW_MSG_STRING:
    case PW_MSG_BYTES:
        if (!((const pw_pb_bytes *)v)->len && !forced) return;
        put_tag(w, fd->num, PW_PB_WT_LEN);
        put_bytes(w, (const pw_pb_bytes *)v);
        return;
    case PW_MSG_MESSAGE: {
        const uint8_t *sub = *(const uint8_t *const *)v;
        if (!sub) return;
        put_tag(w, fd->num, PW_PB_WT_LEN);
        write_sub(fd, sub, w);
        return;
    }
    default: {
        uint64_t x = load_scalar(fd->kind, v);
        if (!x && !forced) return;
        put_tag(w, fd->num, kind_wt(fd->kind));
        put_scalar(w, fd->kind, x);
    }
    }
}

static void write_repeated(const pw_msg_field *fd, const uint8_t *m, wr *w)
{
    size_t n = *(const size_t *)(m + fd->aux_off), es = elem_size(fd);
    const uint8_t *arr = *(const uint8_t *const *)(m + fd->off);
    if (!n) return;
    if (fd->flags & PW_MSG_F_PACKED) {
        put_tag(w, fd->num, PW_PB_WT_LEN);
        put_varint(w, packed_body_len(fd, arr, n));
        for (size_t i = 0; i < n; i++) write_value(fd, arr + i * es, w);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        put_tag(w, fd->num, kind_wt(fd->kind));
        write_value(fd, arr + i * es, w);
    }
}

static void write_msg(const pw_msg_desc *d, const uint8_t *m, wr *w)
{
    for (size_t i = 0; i < d->nfields; i++) {
        const pw_msg_field *fd = &d->fields[i];
        if (fd->flags & PW_MSG_F_REPEATED) write_repeated(fd, m, w);
        else write_single(fd, m, w);
    }
}

/* Writes the body of *msg at w->p, sized by size_any with the record w->sizes: the generated
 * write pass when the table has one, else the walk. */
static void write_any(const pw_msg_desc *d, const void *msg, wr *w)
{
    if (!d->write_fn) {
        write_msg(d, msg, w);
        return;
    }
    pw_msg_wr gw = {w->sizes, w->n};
    w->p = d->write_fn(msg, w->p, &gw);
    assert(w->p <= w->end); /* the write pass trusts the size pass: checked after the fact */
    w->n = gw.n;
}

long pw_msg_encode_to(const pw_msg_desc *d, const void *msg, uint8_t *dst, size_t cap)
{
    size_t rec[PW_MSG_SIZES_MAX];
    sizes sz = {rec, 0};
    size_t n = size_any(d, msg, &sz);
    if (n > PW_PB_LEN_MAX) return -EMSGSIZE;
    if (n > cap) return -ENOBUFS;
    wr w = {dst, dst + n, rec, 0};
    write_any(d, msg, &w);
    assert(w.p == dst + n && w.n == sz.n); /* the size pass and the write pass agree */
    return (long)n;
}

/* Reserves n bytes at the end of out: the pointer, or NULL with *err set (-ENOBUFS past the
 * buffer's cap, -ENOMEM). */
static uint8_t *reserve(buf *out, size_t n, int *err)
{
    uint8_t *p = NULL;
    int rc = buf_reserve(out, n, &p);
    if (rc < 0) *err = rc;
    return rc < 0 ? NULL : p;
}

/* Writes [tag, length] of field `field` when field != 0, [length] when `delimited`, then the
 * message: one size pass, one write pass, straight into out. */
/* `head` bytes are left before the message for the caller's own framing (uninitialized). */
static int encode_into_headed(const pw_msg_desc *d, const void *msg, uint32_t field, bool delimited,
                              size_t head, buf *out, size_t *body_len)
{
    size_t rec[PW_MSG_SIZES_MAX];
    sizes sz = {rec, 0};
    size_t body = size_any(d, msg, &sz);
    if (body > PW_PB_LEN_MAX) return -EMSGSIZE;
    size_t n = body;
    if (field) n = pw_pb_len_field_len(field, body);
    else if (delimited) n += pw_pb_varint_len(body);
    int err = 0;
    uint8_t *p = reserve(out, head + n, &err);
    if (!p) return err;
    wr w = {p + head, p + head + n, rec, 0};
    if (field) put_tag(&w, field, PW_PB_WT_LEN);
    if (field || delimited) put_varint(&w, body);
    write_any(d, msg, &w);
    assert(w.p == p + head + n && w.n == sz.n);
    buf_commit(out, head + n);
    if (body_len) *body_len = body;
    return 0;
}

static int encode_into(const pw_msg_desc *d, const void *msg, uint32_t field, bool delimited,
                       buf *out)
{
    return encode_into_headed(d, msg, field, delimited, 0, out, NULL);
}

int pw_msg_encode_headed(const pw_msg_desc *d, const void *msg, size_t head, buf *out,
                         size_t *body_len)
{
    return encode_into_headed(d, msg, 0, false, head, out, body_len);
}

int pw_msg_encode(const pw_msg_desc *d, const void *msg, buf *out)
{
    return encode_into(d, msg, 0, false, out);
}

int pw_msg_encode_delimited(const pw_msg_desc *d, const void *msg, buf *out)
{
    return encode_into(d, msg, 0, true, out);
}

int pw_msg_encode_field(const pw_msg_desc *d, const void *msg, uint32_t field, buf *out)
{
    if (field == 0 || field > PW_PB_FIELD_MAX) return -EINVAL;
    return encode_into(d, msg, field, false, out);
}
