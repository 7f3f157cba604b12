/* proto_wire/pw_msg: the table-driven runtime of the generated messages: the arena and decoding
 * (encoding: pw_msg_enc.c; what both share: pw_msg_int.h). See pw_msg.h. */
#include "proto_wire/pw_msg.h"

#include "core/rt_alloc.h"
#include "proto_wire/pw_msg_int.h"

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

void *pw_msg_arena_alloc_slow(pw_msg_arena *a, size_t n, size_t align)
{
    assert(align && (align & (align - 1)) == 0);
    if (!a->chunk_bytes || !arena_grow(a, n, align)) return NULL;
    /* A fresh chunk: used == 0, cap >= n + align (arena_grow), so n fits after the pad. */
    size_t pad = (size_t)(-(uintptr_t)a->base & (align - 1));
    if (pad > a->cap || n > a->cap - pad) return NULL;
    uint8_t *p = a->base + pad;
    a->used = pad + n;
    memset(p, 0, n);
    return p;
}

/* ---- Field kinds (wire type and size: pw_msg_int.h) ---- */

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
                      pw_msg_arena *a, unsigned depth, bool zeroed);

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
    case PW_MSG_MESSAGE: /* an element of an array alloc_arrays carved: zeroed */
        return decode_msg(fd->sub, dst, f->bytes.ptr, f->bytes.len, a, depth + 1, true);
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
        rc = decode_msg(fd->sub, sub, f->bytes.ptr, f->bytes.len, a, depth + 1, true);
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
    while ((rc = pw_pb_next_inline(&r, &f)) == 1) {
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

/* zeroed: *m is known to be all zero bytes (fresh from the arena, which clears what it hands
 * out), so it is not cleared again (a memset call per element of every repeated sub-message
 * was a fifth of the instructions of an EnqueueRequest's decode). */
static int decode_msg(const pw_msg_desc *d, uint8_t *m, const uint8_t *src, size_t len,
                      pw_msg_arena *a, unsigned depth, bool zeroed)
{
    size_t counts[PW_MSG_FIELDS_MAX]; /* valid where `seen` has the field's bit */
    uint64_t seen = 0;
    pw_pb_reader r;
    pw_pb_field f;
    int rc;
    if (depth > PW_MSG_DEPTH_MAX) return PW_MSG_ERR_DEPTH;
    assert(d->nfields <= PW_MSG_FIELDS_MAX);
    if (!zeroed) memset(m, 0, d->size);
    if ((rc = first_pass(d, m, src, len, counts, &seen, a, depth)) < 0) return rc;
    if (!seen) return rc; /* no repeated field present: done */
    if ((rc = alloc_arrays(d, m, counts, seen, a)) < 0) return rc;
    pw_pb_reader_init(&r, src, len);
    while ((rc = pw_pb_next_inline(&r, &f)) ==
           1) { /* pass 2: repeated fields, wire types checked */
        const pw_msg_field *fd = field_of(d, f.num);
        if (!fd || !(fd->flags & PW_MSG_F_REPEATED)) continue;
        if ((rc = decode_repeated(fd, m, &f, a, depth)) < 0) return rc;
    }
    return rc;
}

int pw_msg_decode(const pw_msg_desc *d, void *msg, const uint8_t *src, size_t len, pw_msg_arena *a)
{
    if (d->decode_fn) {
        memset(msg, 0, d->size);
        return d->decode_fn(msg, src, len, a, 0);
    }
    return decode_msg(d, msg, src, len, a, 0, false);
}
