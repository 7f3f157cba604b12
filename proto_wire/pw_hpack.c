/* proto_wire/pw_hpack: the HPACK decoder and encoder (RFC 7541 §3, §5, §6). The dynamic table
 * lives in pw_hpack_table.c, the static table in pw_hpack_static.c, Huffman in pw_huffman.c. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "proto_wire/pw_hpack_int.h"

/* Largest encoding of a PW_HPACK_INT_MAX integer: the prefix octet plus 5 continuations. */
#define INT_ENCODED_MAX_BYTES (1u + PW_HPACK_INT_CONT_BYTES_MAX)
/* First scratch allocation: a typical Huffman-coded gRPC value (path, user-agent) fits. */
#define SCRATCH_INITIAL_BYTES 256u

/* Field sizes add two 32-bit lengths and the overhead in size_t without overflow checks. */
_Static_assert(sizeof(size_t) >= 8, "pw_hpack assumes a 64-bit size_t");
/* The continuation limit must still admit every value up to PW_HPACK_INT_MAX. */
_Static_assert(7 * PW_HPACK_INT_CONT_BYTES_MAX >= 32, "continuations cannot reach INT_MAX");
_Static_assert(PW_HPACK_ENC_TABLE_SIZE_MAX <= PW_HPACK_INT_MAX, "table size is a 32-bit int");

/* ================================ decoder ================================================== */

int pw_hpack_dec_init(pw_hpack_dec *d, uint32_t settings_max)
{
    memset(d, 0, sizeof(*d));
    pw_hpack_table_init(&d->table, settings_max);
    d->settings_max = settings_max;
    return PW_HPACK_OK;
}

void pw_hpack_dec_deinit(pw_hpack_dec *d)
{
    pw_hpack_table_deinit(&d->table);
    rt_free(d->scratch);
    memset(d, 0, sizeof(*d));
}

void pw_hpack_dec_set_settings_max(pw_hpack_dec *d, uint32_t settings_max)
{
    d->settings_max = settings_max;
    if (d->table.max_size > settings_max) d->update_required = true;
    d->gen++; /* the next block may now have to start with a size update */
}

/* A decoded string: a view into the input or the table, or an offset into the scratch (which
 * may move while the next string grows it). `avail` is false when the Huffman output was too
 * large to keep; only its length is known then (the field can be neither emitted nor added). */
typedef struct dec_str {
    const uint8_t *p; /* when !in_scratch */
    size_t off;       /* when in_scratch */
    size_t len;
    bool in_scratch;
    bool avail;
} dec_str;

typedef struct dec_ctx {
    pw_hpack_dec *d;
    const uint8_t *p, *end;
    size_t max_list, list_size;
    size_t scratch_used, scratch_limit;
    pw_hpack_emit_fn emit;
    void *ud;
    const char *err;
    bool too_large;   /* list exceeded: decode on for table sync, emit nothing more */
    bool fields_seen; /* a field representation was seen: size updates are over */
} dec_ctx;

static int fault(dec_ctx *c, const char *why)
{
    c->err = why;
    return PW_HPACK_ERR_COMPRESSION;
}

/* §5.1; *c->p is the octet holding the prefix. Values over PW_HPACK_INT_MAX, or longer than
 * PW_HPACK_INT_CONT_BYTES_MAX continuations (zero padding included), are errors (§5.1 last
 * paragraph allows implementation limits). */
static int int_decode(dec_ctx *c, unsigned prefix_bits, uint32_t *out)
{
    const uint32_t mask = (1u << prefix_bits) - 1;
    uint64_t v = *c->p++ & mask;
    if (v == mask) {
        for (unsigned i = 0;; i++) {
            if (i == PW_HPACK_INT_CONT_BYTES_MAX) return fault(c, "integer too long");
            if (c->p == c->end) return fault(c, "truncated integer");
            const uint8_t b = *c->p++;
            v += (uint64_t)(b & 0x7f) << (7 * i);
            if (v > PW_HPACK_INT_MAX) return fault(c, "integer overflow");
            if (!(b & 0x80)) break;
        }
    }
    *out = (uint32_t)v;
    return 0;
}

static int scratch_reserve(dec_ctx *c, size_t need)
{
    pw_hpack_dec *d = c->d;
    if (need <= d->scratch_cap) return 0;
    size_t cap = d->scratch_cap ? d->scratch_cap * 2 : SCRATCH_INITIAL_BYTES;
    if (cap < need) cap = need;
    if (cap > c->scratch_limit) cap = c->scratch_limit;
    uint8_t *p = rt_realloc(d->scratch, cap);
    if (!p) return -ENOMEM;
    d->scratch = p;
    d->scratch_cap = cap;
    return 0;
}

/* §5.2: a string literal at c->p. */
static int str_decode(dec_ctx *c, dec_str *s)
{
    if (c->p == c->end) return fault(c, "truncated string");
    const bool huff = *c->p & 0x80;
    uint32_t n;
    int r = int_decode(c, 7, &n);
    if (r) return r;
    if (n > (size_t)(c->end - c->p)) return fault(c, "string longer than the block");
    const uint8_t *raw = c->p;
    c->p += n;
    if (!huff) {
        *s = (dec_str){.p = raw, .len = n, .avail = true};
        return 0;
    }
    /* Huffman output is at most n * 8 / 5 octets; keep at most what the scratch limit allows. */
    const size_t room = c->scratch_limit - c->scratch_used;
    const size_t out_max = (size_t)n * 8 / 5;
    const size_t want = out_max < room ? out_max : room;
    r = scratch_reserve(c, c->scratch_used + want);
    if (r) return r;
    uint8_t *dst = c->d->scratch ? c->d->scratch + c->scratch_used : NULL;
    long got = pw_huff_decode(dst, want, raw, n);
    if (got >= 0) {
        *s = (dec_str){
            .off = c->scratch_used, .len = (size_t)got, .in_scratch = true, .avail = true};
        c->scratch_used += (size_t)got;
        return 0;
    }
    if (want == out_max) return fault(c, "invalid Huffman string");
    /* Too large to keep (an HPACK bomb, or just huge): validate, measure, drop. */
    got = pw_huff_decoded_len(raw, n);
    if (got < 0) return fault(c, "invalid Huffman string");
    *s = (dec_str){.len = (size_t)got, .avail = false};
    return 0;
}

/* The view of a decoded string; never NULL when available, even when empty. */
static const uint8_t *str_ptr(const dec_ctx *c, const dec_str *s)
{
    if (!s->avail) return NULL;
    if (s->len == 0) return (const uint8_t *)"";
    return s->in_scratch ? c->d->scratch + s->off : s->p;
}

/* §2.3.3: index 1..61 static, 62.. dynamic (newest first). */
static int index_lookup(dec_ctx *c, uint32_t idx, dec_str *name, dec_str *value)
{
    if (idx == 0) return fault(c, "index 0");
    if (idx <= PW_HPACK_STATIC_COUNT) {
        const pw_hpack_static_entry *s = &pw_hpack_static_table[idx - 1];
        *name = (dec_str){.p = (const uint8_t *)s->name, .len = s->name_len, .avail = true};
        *value = (dec_str){.p = (const uint8_t *)s->value, .len = s->value_len, .avail = true};
        return 0;
    }
    const size_t i = (size_t)idx - PW_HPACK_STATIC_COUNT - 1;
    if (i >= c->d->table.count) return fault(c, "index out of range");
    const pw_hpack_entry *e = pw_hpack_table_get(&c->d->table, i);
    *name = (dec_str){.p = pw_hpack_entry_name(e), .len = e->name_len, .avail = true};
    *value = (dec_str){.p = pw_hpack_entry_value(e), .len = e->value_len, .avail = true};
    return 0;
}

/* §3.2: adds the field to the decoded list (emits it while within max_list_size), then to the
 * dynamic table when `indexing`. Emitted first: the views may point into an entry that the
 * insertion evicts. */
static int field_done(dec_ctx *c, const dec_str *name, const dec_str *value, unsigned flags,
                      bool indexing)
{
    if (!c->too_large) {
        const size_t fsize = name->len + value->len + PW_HPACK_ENTRY_OVERHEAD;
        if (fsize > c->max_list - c->list_size) c->too_large = true;
        else c->list_size += fsize;
    }
    const uint8_t *n = str_ptr(c, name), *v = str_ptr(c, value);
    if (!c->too_large) {
        /* A string is dropped only past scratch_limit >= max_list: then too_large is set. */
        assert(name->avail && value->avail);
        const int r = c->emit(c->ud, n, name->len, v, value->len, flags);
        if (r < 0) return r;
    }
    if (!indexing) return 0;
    c->d->gen++; /* even an insertion that fails or only empties the table changes it */
    /* Dropped strings are longer than the table (scratch_limit >= max_size): the insert only
     * empties the table and never reads them. */
    return pw_hpack_table_insert(&c->d->table, n, name->len, v, value->len, 0);
}

static int field_indexed(dec_ctx *c)
{
    uint32_t idx;
    dec_str name, value;
    int r = int_decode(c, 7, &idx);
    if (!r) r = index_lookup(c, idx, &name, &value);
    if (!r) r = field_done(c, &name, &value, 0, false);
    return r;
}

static int field_literal(dec_ctx *c, unsigned prefix_bits, unsigned flags, bool indexing)
{
    uint32_t idx;
    dec_str name, value;
    int r = int_decode(c, prefix_bits, &idx);
    if (r) return r;
    if (idx) {
        dec_str unused;
        r = index_lookup(c, idx, &name, &unused);
    } else {
        r = str_decode(c, &name);
    }
    if (!r) r = str_decode(c, &value);
    if (!r) r = field_done(c, &name, &value, flags, indexing);
    return r;
}

/* §6.3: only before the first field of a block (§4.2), never above what we advertised. */
static int size_update(dec_ctx *c)
{
    if (c->fields_seen) return fault(c, "table size update after a field");
    uint32_t v;
    const int r = int_decode(c, 5, &v);
    if (r) return r;
    if (v > c->d->settings_max) return fault(c, "table size update above the setting");
    pw_hpack_table_set_max(&c->d->table, v);
    c->d->update_required = false;
    c->d->gen++;
    return 0;
}

static int decode_one(dec_ctx *c)
{
    const uint8_t b = *c->p;
    if ((b & 0xe0) == 0x20) return size_update(c);
    if (!c->fields_seen) {
        c->fields_seen = true;
        if (c->d->update_required) return fault(c, "missing required table size update");
    }
    if (b & 0x80) return field_indexed(c);             /* §6.1 1xxxxxxx */
    if (b & 0x40) return field_literal(c, 6, 0, true); /* §6.2.1 01xxxxxx */
    if (b & 0x10) return field_literal(c, 4, PW_HPACK_F_NEVER_INDEXED, false); /* §6.2.3 */
    return field_literal(c, 4, 0, false); /* §6.2.2 0000xxxx */
}

static size_t size_max(size_t a, size_t b) { return a > b ? a : b; }

int pw_hpack_decode_block(pw_hpack_dec *d, const uint8_t *src, size_t len, size_t max_list_size,
                          pw_hpack_emit_fn emit, void *ud, const char **err_desc)
{
    const char *dummy;
    if (!err_desc) err_desc = &dummy;
    *err_desc = NULL;
    if (d->failed) {
        *err_desc = "decoder failed earlier";
        return PW_HPACK_ERR_COMPRESSION;
    }
    dec_ctx c = {.d = d,
                 .p = src,
                 .end = len ? src + len : src,
                 .max_list = max_list_size,
                 .emit = emit,
                 .ud = ud};
    int r = 0;
    while (r == 0 && c.p < c.end) {
        /* Recomputed per field: a size update may change the table maximum. Saturating. */
        const size_t base = size_max(max_list_size, d->table.max_size);
        c.scratch_limit = base > SIZE_MAX - PW_HPACK_SCRATCH_SLACK_BYTES
                              ? SIZE_MAX
                              : base + PW_HPACK_SCRATCH_SLACK_BYTES;
        c.scratch_used = 0;
        r = decode_one(&c);
    }
    if (r == 0 && d->update_required) r = fault(&c, "missing required table size update");
    if (r != 0) {
        d->failed = true; /* compression error, no memory, or emit stopped us mid-block */
        if (r == PW_HPACK_ERR_COMPRESSION) /* c.err is NULL if the emit itself returned it */
            *err_desc = c.err ? c.err : "emit callback returned PW_HPACK_ERR_COMPRESSION";
        return r;
    }
    return c.too_large ? PW_HPACK_ERR_LIST_TOO_LARGE : PW_HPACK_OK;
}

/* ================================ encoder ================================================== */

int pw_hpack_enc_init(pw_hpack_enc *e, uint32_t table_size)
{
    memset(e, 0, sizeof(*e));
    const uint32_t use = table_size < PW_HPACK_ENC_TABLE_SIZE_MAX ? table_size
                                                                  : PW_HPACK_ENC_TABLE_SIZE_MAX;
    /* The table mirrors the peer's decoder, which starts at table_size; the first
     * pw_hpack_encode_begin() announces our cap and shrinks both (the table is empty). */
    pw_hpack_table_init(&e->table, table_size);
    if (use != table_size) {
        e->update_pending = true;
        e->pending_max = e->min_pending = use;
    }
    return PW_HPACK_OK;
}

void pw_hpack_enc_deinit(pw_hpack_enc *e)
{
    pw_hpack_table_deinit(&e->table);
    memset(e, 0, sizeof(*e));
}

void pw_hpack_enc_set_max_table_size(pw_hpack_enc *e, uint32_t size)
{
    const uint32_t use = size < PW_HPACK_ENC_TABLE_SIZE_MAX ? size : PW_HPACK_ENC_TABLE_SIZE_MAX;
    if (!e->update_pending || use < e->min_pending) e->min_pending = use;
    e->pending_max = use;
    e->update_pending = true;
}

/* §5.1: writes `v` with an N-bit prefix; `first` holds the representation's pattern bits. */
static size_t int_encode(uint8_t *dst, uint8_t first, unsigned prefix_bits, uint64_t v)
{
    const uint32_t mask = (1u << prefix_bits) - 1;
    if (v < mask) {
        dst[0] = (uint8_t)(first | v);
        return 1;
    }
    size_t n = 0;
    dst[n++] = (uint8_t)(first | mask);
    v -= mask;
    while (v >= 128) {
        dst[n++] = (uint8_t)(0x80 | (v & 0x7f));
        v >>= 7;
    }
    dst[n++] = (uint8_t)v;
    return n;
}

int pw_hpack_encode_begin(pw_hpack_enc *e, buf *out)
{
    if (!e->update_pending) return 0;
    uint8_t *dst;
    int rc = buf_reserve(out, 2 * INT_ENCODED_MAX_BYTES, &dst);
    if (rc < 0) return rc;
    size_t n = 0;
    size_t cur = e->table.max_size;
    if (e->min_pending < cur) { /* §4.2: the smallest size first, so the peer evicts */
        n += int_encode(dst + n, 0x20, 5, e->min_pending);
        cur = e->min_pending;
    }
    if (e->pending_max != cur) n += int_encode(dst + n, 0x20, 5, e->pending_max);
    buf_commit(out, n);
    if (e->min_pending < e->table.max_size) pw_hpack_table_set_max(&e->table, e->min_pending);
    pw_hpack_table_set_max(&e->table, e->pending_max);
    e->update_pending = false;
    e->gen++;
    return 0;
}

/* §5.2: Huffman when strictly shorter. */
static size_t str_encode(uint8_t *dst, const uint8_t *s, size_t len)
{
    const size_t hlen = pw_huff_encoded_len(s, len);
    if (hlen < len) {
        const size_t n = int_encode(dst, 0x80, 7, hlen);
        return n + pw_huff_encode(dst + n, s, len);
    }
    const size_t n = int_encode(dst, 0x00, 7, len);
    if (len) memcpy(dst + n, s, len);
    return n + len;
}

/* Looks the field up in the dynamic table: returns the HPACK index of an exact match (and sets
 * *exact) or of the newest name match, or 0. */
static size_t dyn_find(const pw_hpack_table *t, const uint8_t *name, size_t name_len, uint32_t hash,
                       const uint8_t *value, size_t value_len, int *exact)
{
    size_t name_idx = 0;
    *exact = 0;
    for (size_t i = 0; i < t->count; i++) {
        const pw_hpack_entry *en = pw_hpack_table_get(t, i);
        if (en->name_hash != hash || en->name_len != name_len ||
            (name_len && memcmp(pw_hpack_entry_name(en), name, name_len) != 0))
            continue;
        const size_t idx = PW_HPACK_STATIC_COUNT + 1 + i;
        if (en->value_len == value_len &&
            (value_len == 0 || memcmp(pw_hpack_entry_value(en), value, value_len) == 0)) {
            *exact = 1;
            return idx;
        }
        if (!name_idx) name_idx = idx;
    }
    return name_idx;
}

int pw_hpack_encode_field(pw_hpack_enc *e, buf *out, const uint8_t *name, size_t name_len,
                          const uint8_t *value, size_t value_len, unsigned flags)
{
    if (name_len > PW_HPACK_INT_MAX || value_len > PW_HPACK_INT_MAX) return -ENOBUFS;
    const bool never = flags & PW_HPACK_F_NEVER_INDEXED;
    int exact;
    size_t idx = pw_hpack_static_find(name, name_len, value, value_len, &exact);
    uint32_t hash = 0; /* only needed on the way to the dynamic table */
    if (!exact) {
        hash = pw_hpack_hash(name, name_len);
        int dyn_exact;
        const size_t didx = dyn_find(&e->table, name, name_len, hash, value, value_len, &dyn_exact);
        if (dyn_exact) {
            exact = 1;
            idx = didx;
        } else if (!idx) {
            idx = didx; /* static names have smaller indexes: preferred when both match */
        }
    }
    if (exact && !never) { /* §6.1; a sensitive field is never sent as an index (§7.1.3) */
        uint8_t *dst;
        int rc = buf_reserve(out, INT_ENCODED_MAX_BYTES, &dst);
        if (rc < 0) return rc;
        buf_commit(out, int_encode(dst, 0x80, 7, idx));
        return 0;
    }
    const bool indexing = !never && !(flags & PW_HPACK_F_NO_INDEX) &&
                          name_len + value_len + PW_HPACK_ENTRY_OVERHEAD <= e->table.max_size;
    size_t need = 3 * INT_ENCODED_MAX_BYTES + value_len + (idx ? 0 : name_len);
    uint8_t *dst;
    int rc = buf_reserve(out, need, &dst);
    if (rc < 0) return rc;
    size_t n;
    if (indexing) n = int_encode(dst, 0x40, 6, idx);   /* §6.2.1 */
    else if (never) n = int_encode(dst, 0x10, 4, idx); /* §6.2.3 */
    else n = int_encode(dst, 0x00, 4, idx);            /* §6.2.2 */
    if (!idx) n += str_encode(dst + n, name, name_len);
    n += str_encode(dst + n, value, value_len);
    assert(n <= need);
    if (indexing) { /* the name index above refers to the table before this insertion */
        const int r = pw_hpack_table_insert(&e->table, name, name_len, value, value_len, hash);
        if (r) return r; /* nothing committed: encoder and output unchanged */
        e->gen++;
    }
    buf_commit(out, n);
    return 0;
}

const char *pw_hpack_strerror(int err)
{
    switch (err) {
    case PW_HPACK_OK: return "ok";
    case PW_HPACK_ERR_COMPRESSION: return "compression";
    case PW_HPACK_ERR_LIST_TOO_LARGE: return "header list too large";
    case PW_HPACK_ERR_HUFFMAN: return "invalid Huffman string";
    case PW_HPACK_ERR_RANGE: return "no such table entry";
    case -ENOMEM: return "ENOMEM";
    case -ENOBUFS: return "ENOBUFS";
    default: return "unknown";
    }
}
