/* proto_wire/pw_msg: the table-driven runtime of the generated messages. See pw_msg.h. */
#include "proto_wire/pw_msg.h"

#include "core/rt_alloc.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- Arena ---- */

struct pw_msg_chunk {
    pw_msg_chunk *next;
    size_t bytes; /* including this header */
};

void pw_msg_arena_init(pw_msg_arena *a, void *mem, size_t cap)
{
    memset(a, 0, sizeof *a);
    a->base = mem;
    a->cap = mem ? cap : 0;
}

void pw_msg_arena_init_heap(pw_msg_arena *a, size_t chunk_bytes, size_t limit_bytes)
{
    memset(a, 0, sizeof *a);
    a->chunk_bytes = chunk_bytes ? chunk_bytes : PW_MSG_ARENA_CHUNK_BYTES;
    a->limit_bytes = limit_bytes;
}

void pw_msg_arena_init_heap_over(pw_msg_arena *a, void *mem, size_t cap, size_t chunk_bytes,
                                 size_t limit_bytes)
{
    pw_msg_arena_init_heap(a, chunk_bytes, limit_bytes);
    a->base = mem;
    a->cap = mem ? cap : 0;
}

void pw_msg_arena_reset(pw_msg_arena *a) { a->used = 0; }

void pw_msg_arena_deinit(pw_msg_arena *a)
{
    pw_msg_chunk *c = a->chunks;
    while (c) {
        pw_msg_chunk *next = c->next;
        rt_free(c);
        c = next;
    }
    if (a->chunk_bytes) {
        a->chunks = NULL;
        a->base = NULL;
        a->cap = a->used = a->heap_bytes = 0;
    }
}

/* A fresh heap chunk able to hold n bytes at `align`; NULL past the limit or out of memory. */
static bool arena_grow(pw_msg_arena *a, size_t n, size_t align)
{
    size_t hdr = (sizeof(pw_msg_chunk) + 15u) & ~(size_t)15u;
    size_t want = n + align + hdr;
    if (want < n) return false;
    if (want < a->chunk_bytes) want = a->chunk_bytes;
    if (want > a->limit_bytes || a->heap_bytes > a->limit_bytes - want) return false;
    pw_msg_chunk *c = rt_malloc(want);
    if (!c) return false;
    c->next = a->chunks;
    c->bytes = want;
    a->chunks = c;
    a->heap_bytes += want;
    a->base = (uint8_t *)c + hdr;
    a->cap = want - hdr;
    a->used = 0;
    return true;
}

void *pw_msg_arena_alloc(pw_msg_arena *a, size_t n, size_t align)
{
    assert(align && (align & (align - 1)) == 0);
    for (int tries = 0; tries < 2; tries++) {
        uintptr_t at = (uintptr_t)a->base + a->used;
        size_t pad = (size_t)(-at & (align - 1));
        if (a->base && pad <= a->cap - a->used && n <= a->cap - a->used - pad) {
            uint8_t *p = a->base + a->used + pad;
            a->used += pad + n;
            memset(p, 0, n);
            return p;
        }
        if (!a->chunk_bytes || !arena_grow(a, n, align)) return NULL;
    }
    return NULL;
}

/* ---- Field kinds ---- */

/* Wire type and C size of each kind, by table: these are asked per field and per element on
 * every encode and decode (a switch each was ~3 % of the server's samples at batch 64). Kind 0
 * and 10 (group) never occur; messages get their size from the sub-table. */
static const uint8_t KIND_WT[PW_MSG_SINT64 + 1] = {
    [PW_MSG_DOUBLE] = PW_PB_WT_I64,   [PW_MSG_FIXED64] = PW_PB_WT_I64,
    [PW_MSG_SFIXED64] = PW_PB_WT_I64, [PW_MSG_FLOAT] = PW_PB_WT_I32,
    [PW_MSG_FIXED32] = PW_PB_WT_I32,  [PW_MSG_SFIXED32] = PW_PB_WT_I32,
    [PW_MSG_STRING] = PW_PB_WT_LEN,   [PW_MSG_BYTES] = PW_PB_WT_LEN,
    [PW_MSG_MESSAGE] = PW_PB_WT_LEN, /* the rest: VARINT (0) */
};
static const uint8_t KIND_SIZE[PW_MSG_SINT64 + 1] = {
    [PW_MSG_DOUBLE] = 8,
    [PW_MSG_FLOAT] = 4,
    [PW_MSG_INT64] = 8,
    [PW_MSG_UINT64] = 8,
    [PW_MSG_INT32] = 4,
    [PW_MSG_FIXED64] = 8,
    [PW_MSG_FIXED32] = 4,
    [PW_MSG_BOOL] = sizeof(bool),
    [PW_MSG_STRING] = sizeof(pw_pb_bytes),
    [PW_MSG_BYTES] = sizeof(pw_pb_bytes),
    [PW_MSG_UINT32] = 4,
    [PW_MSG_ENUM] = 4,
    [PW_MSG_SFIXED32] = 4,
    [PW_MSG_SFIXED64] = 8,
    [PW_MSG_SINT32] = 4,
    [PW_MSG_SINT64] = 8,
};

static inline pw_pb_wire_type kind_wt(uint8_t kind)
{
    assert(kind <= PW_MSG_SINT64);
    return (pw_pb_wire_type)KIND_WT[kind];
}

/* Bytes one element takes in the C struct (or array). */
static inline size_t elem_size(const pw_msg_field *fd)
{
    assert(fd->kind <= PW_MSG_SINT64);
    return fd->kind == PW_MSG_MESSAGE ? fd->sub->size : KIND_SIZE[fd->kind];
}

static size_t elem_align(const pw_msg_field *fd)
{
    switch (fd->kind) {
    case PW_MSG_BOOL: return _Alignof(bool);
    case PW_MSG_STRING:
    case PW_MSG_BYTES: return _Alignof(pw_pb_bytes);
    case PW_MSG_MESSAGE: return fd->sub->align;
    default: return elem_size(fd);
    }
}

static bool kind_packable(uint8_t kind) { return kind_wt(kind) != PW_PB_WT_LEN; }

/* Stores the wire value v as the C value of `kind` at p. */
static void store_scalar(uint8_t kind, void *p, uint64_t v)
{
    switch (kind) {
    case PW_MSG_SINT64: {
        int64_t x = pw_pb_zigzag_decode64(v);
        memcpy(p, &x, 8);
        break;
    }
    case PW_MSG_SINT32: {
        int32_t x = pw_pb_zigzag_decode32((uint32_t)v);
        memcpy(p, &x, 4);
        break;
    }
    case PW_MSG_BOOL: *(bool *)p = v != 0; break;
    case PW_MSG_DOUBLE:
    case PW_MSG_INT64:
    case PW_MSG_UINT64:
    case PW_MSG_FIXED64:
    case PW_MSG_SFIXED64: memcpy(p, &v, 8); break; /* the bits as they came */
    default: {
        uint32_t x = (uint32_t)v; /* int32/enum: low 32 bits, two's complement */
        memcpy(p, &x, 4);
    }
    }
}

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

const pw_msg_field *pw_msg_field_find(const pw_msg_desc *d, uint32_t num)
{
    size_t lo = 0, hi = d->nfields;
    while (lo < hi) { /* fields are sorted by number (the generator sorts them) */
        size_t mid = lo + (hi - lo) / 2;
        if (d->fields[mid].num == num) return &d->fields[mid];
        if (d->fields[mid].num < num) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const char *pw_msg_strerror(int err)
{
    if (err == PW_MSG_ERR_DEPTH) return "nested too deep";
    if (err == -ENOMEM) return "out of memory";
    return pw_pb_strerror(err);
}

/* ---- Decode ---- */

/* Checks f's wire type against fd; for a repeated field returns how many elements f holds. */
static long field_elems(const pw_msg_field *fd, const pw_pb_field *f)
{
    bool rep = fd->flags & PW_MSG_F_REPEATED;
    if (rep && f->wt == PW_PB_WT_LEN && kind_packable(fd->kind)) {
        switch (kind_wt(fd->kind)) {
        case PW_PB_WT_I64: return f->bytes.len % 8 ? PW_PB_ERR_TRUNCATED : (long)(f->bytes.len / 8);
        case PW_PB_WT_I32: return f->bytes.len % 4 ? PW_PB_ERR_TRUNCATED : (long)(f->bytes.len / 4);
        default: return pw_pb_packed_varint_count(f->bytes);
        }
    }
    return f->wt == kind_wt(fd->kind) ? 1 : PW_PB_ERR_BAD_WIRE_TYPE;
}

static int decode_msg(const pw_msg_desc *d, uint8_t *m, const uint8_t *src, size_t len,
                      pw_msg_arena *a, unsigned depth);

/* The decoder's field lookup: most messages number their fields 1..n, so field `num` usually
 * sits at index num - 1 (one compare, inline); otherwise the binary search. */
static inline const pw_msg_field *field_of(const pw_msg_desc *d, uint32_t num)
{
    if (num - 1u < d->nfields && d->fields[num - 1u].num == num) return &d->fields[num - 1u];
    return pw_msg_field_find(d, num);
}

/* Decodes one element of fd (wire value f) into dst. */
static int decode_elem(const pw_msg_field *fd, uint8_t *dst, const pw_pb_field *f, pw_msg_arena *a,
                       unsigned depth)
{
    switch (fd->kind) {
    case PW_MSG_STRING:
    case PW_MSG_BYTES: memcpy(dst, &f->bytes, sizeof f->bytes); return 0;
    case PW_MSG_MESSAGE: return decode_msg(fd->sub, dst, f->bytes.ptr, f->bytes.len, a, depth + 1);
    default: store_scalar(fd->kind, dst, f->u64); return 0;
    }
}

/* Appends the elements of one occurrence of repeated field fd to its array. */
static int decode_repeated(const pw_msg_field *fd, uint8_t *m, const pw_pb_field *f,
                           pw_msg_arena *a, unsigned depth)
{
    uint8_t *arr = *(uint8_t **)(m + fd->off);
    size_t *cnt = (size_t *)(m + fd->aux_off);
    size_t es = elem_size(fd);
    if (f->wt != PW_PB_WT_LEN || !kind_packable(fd->kind))
        return decode_elem(fd, arr + es * (*cnt)++, f, a, depth);
    pw_pb_packed it;
    uint64_t v;
    int rc;
    pw_pb_packed_init(&it, f->bytes);
    for (;;) {
        switch (kind_wt(fd->kind)) {
        case PW_PB_WT_I64: rc = pw_pb_packed_next_fixed64(&it, &v); break;
        case PW_PB_WT_I32: rc = pw_pb_packed_next_fixed32(&it, &v); break;
        default: rc = pw_pb_packed_next_varint(&it, &v); break;
        }
        if (rc <= 0) return rc;
        store_scalar(fd->kind, arr + es * (*cnt)++, v);
    }
}

/* Decodes a singular field. */
static int decode_single(const pw_msg_field *fd, uint8_t *m, const pw_pb_field *f, pw_msg_arena *a,
                         unsigned depth)
{
    int rc;
    if (fd->kind == PW_MSG_MESSAGE) {
        uint8_t *sub = pw_msg_arena_alloc(a, fd->sub->size, fd->sub->align);
        if (!sub) return -ENOMEM;
        rc = decode_msg(fd->sub, sub, f->bytes.ptr, f->bytes.len, a, depth + 1);
        *(uint8_t **)(m + fd->off) = sub;
    } else {
        rc = decode_elem(fd, m + fd->off, f, a, depth);
    }
    if (fd->flags & PW_MSG_F_OPTIONAL) *(bool *)(m + fd->pres_off) = true;
    if (fd->flags & PW_MSG_F_ONEOF) *(uint32_t *)(m + fd->pres_off) = fd->num;
    return rc;
}

/* Pass 1: checks wire types, decodes every singular field, and counts the elements of each
 * repeated field into counts[]. Only the counters of repeated fields that occur are written
 * (their bits set in *seen), so nothing is zeroed per message: that cost more than the count
 * itself for a small nested message. A message with no repeated field present is done after
 * this pass (most nested ones: a TaskSpec without headers), so it is read once, not twice. */
_Static_assert(PW_MSG_FIELDS_MAX <= 64, "one bit per field in a uint64_t");
static int first_pass(const pw_msg_desc *d, uint8_t *m, const uint8_t *src, size_t len,
                      size_t *counts, uint64_t *seen, pw_msg_arena *a, unsigned depth)
{
    pw_pb_reader r;
    pw_pb_field f;
    int rc;
    pw_pb_reader_init(&r, src, len);
    while ((rc = pw_pb_next(&r, &f)) == 1) {
        const pw_msg_field *fd = field_of(d, f.num);
        if (!fd) continue; /* unknown: skipped */
        long n = field_elems(fd, &f);
        if (n < 0) return (int)n;
        if (!(fd->flags & PW_MSG_F_REPEATED)) {
            if ((rc = decode_single(fd, m, &f, a, depth)) < 0) return rc;
            continue;
        }
        size_t k = (size_t)(fd - d->fields);
        if (!(*seen >> k & 1u)) {
            *seen |= 1ull << k;
            counts[k] = 0;
        }
        counts[k] += (size_t)n;
    }
    return rc;
}

/* Carves the array of each repeated field seen (counts[i] elements) from the arena. */
static int alloc_arrays(const pw_msg_desc *d, uint8_t *m, const size_t *counts, uint64_t seen,
                        pw_msg_arena *a)
{
    for (; seen; seen &= seen - 1) {
        size_t i = (size_t)__builtin_ctzll(seen);
        const pw_msg_field *fd = &d->fields[i];
        if (!counts[i]) continue;
        size_t es = elem_size(fd);
        if (counts[i] > SIZE_MAX / es) return -ENOMEM;
        uint8_t *arr = pw_msg_arena_alloc(a, counts[i] * es, elem_align(fd));
        if (!arr) return -ENOMEM;
        *(uint8_t **)(m + fd->off) = arr;
    }
    return 0;
}

static int decode_msg(const pw_msg_desc *d, uint8_t *m, const uint8_t *src, size_t len,
                      pw_msg_arena *a, unsigned depth)
{
    size_t counts[PW_MSG_FIELDS_MAX]; /* valid where `seen` has the field's bit */
    uint64_t seen = 0;
    pw_pb_reader r;
    pw_pb_field f;
    int rc;
    if (depth > PW_MSG_DEPTH_MAX) return PW_MSG_ERR_DEPTH;
    assert(d->nfields <= PW_MSG_FIELDS_MAX);
    memset(m, 0, d->size);
    if ((rc = first_pass(d, m, src, len, counts, &seen, a, depth)) < 0) return rc;
    if (!seen) return rc; /* no repeated field present: done */
    if ((rc = alloc_arrays(d, m, counts, seen, a)) < 0) return rc;
    pw_pb_reader_init(&r, src, len);
    while ((rc = pw_pb_next(&r, &f)) == 1) { /* pass 2: repeated fields, wire types checked */
        const pw_msg_field *fd = field_of(d, f.num);
        if (!fd || !(fd->flags & PW_MSG_F_REPEATED)) continue;
        if ((rc = decode_repeated(fd, m, &f, a, depth)) < 0) return rc;
    }
    return rc;
}

int pw_msg_decode(const pw_msg_desc *d, void *msg, const uint8_t *src, size_t len, pw_msg_arena *a)
{
    return decode_msg(d, msg, src, len, a, 0);
}

/* ---- Encode ---- */

/* Sub-message sizes, recorded by the size pass in pre-order (an element's slot is taken before
 * its own sub-messages are sized) and taken back in the same order by the write pass, which
 * walks the fields and elements in the same order: every sub-message is sized once per encode
 * instead of once per enclosing level. Past PW_MSG_SIZES_MAX sub-messages the write pass sizes
 * the rest again (correct, only slower). */
#define PW_MSG_SIZES_MAX 256u /* a Work delivery of 64 tasks with 2 headers each: 192 */
typedef struct sizes {
    size_t *v; /* NULL: record nothing (pw_msg_size) */
    size_t n;  /* sub-messages met so far, recorded or not */
} sizes;

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

size_t pw_msg_size(const pw_msg_desc *d, const void *msg)
{
    sizes sz = {NULL, 0};
    return msg_size(d, msg, &sz);
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

long pw_msg_encode_to(const pw_msg_desc *d, const void *msg, uint8_t *dst, size_t cap)
{
    size_t rec[PW_MSG_SIZES_MAX];
    sizes sz = {rec, 0};
    size_t n = msg_size(d, msg, &sz);
    if (n > PW_PB_LEN_MAX) return -EMSGSIZE;
    if (n > cap) return -ENOBUFS;
    wr w = {dst, dst + n, rec, 0};
    write_msg(d, msg, &w);
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
    size_t body = msg_size(d, msg, &sz);
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
    write_msg(d, msg, &w);
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
