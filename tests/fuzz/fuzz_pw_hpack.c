/* Fuzz target for proto_wire/pw_hpack*.c and pw_huffman.c. Each input drives three checks:
 *  1. Decode: the input as a sequence of header blocks for one decoder (with setting changes in
 *     between); no crash or leak, memory within the documented bounds, list limit honoured.
 *  2. Round trip: fields derived from the input go through an encoder (random flags and table
 *     size changes) and a decoder; the decoded list and both tables must match.
 *  3. Huffman: a valid Huffman string re-encodes to exactly the input (the code is canonical
 *     and valid padding is unique), and the two decode entry points agree.
 *
 * Decode input format: byte 0 picks settings_max and max_list_size; then records, each a
 * length byte and that many block bytes, or 0xff and a byte picking a new settings_max. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto_wire/pw_hpack.h"

#define CHECK(c) ((c) ? (void)0 : __builtin_trap())

static const uint32_t settings_choices[4] = {0, 64, 256, 4096};
static const size_t list_choices[4] = {0, 100, 1000, 16384};

typedef struct dec_state {
    size_t max_list;
    size_t list_size;
    uint32_t sum; /* touches every byte of every view */
} dec_state;

static int on_field(void *ud, const uint8_t *name, size_t name_len, const uint8_t *value,
                    size_t value_len, unsigned flags)
{
    dec_state *s = ud;
    CHECK(name != NULL && value != NULL);
    CHECK((flags & ~PW_HPACK_F_NEVER_INDEXED) == 0);
    for (size_t i = 0; i < name_len; i++) s->sum += name[i];
    for (size_t i = 0; i < value_len; i++) s->sum += value[i];
    s->list_size += name_len + value_len + PW_HPACK_ENTRY_OVERHEAD;
    CHECK(s->list_size <= s->max_list);
    return 0;
}

static void fuzz_decode(const uint8_t *data, size_t size)
{
    if (size < 1) return;
    uint32_t settings = settings_choices[data[0] & 3];
    const size_t max_list = list_choices[(data[0] >> 2) & 3];
    pw_hpack_dec d;
    CHECK(pw_hpack_dec_init(&d, settings) == 0);
    size_t i = 1;
    while (i < size) {
        const uint8_t tag = data[i++];
        if (tag == 0xff) {
            if (i < size) {
                settings = settings_choices[data[i++] & 3];
                pw_hpack_dec_set_settings_max(&d, settings);
            }
            continue;
        }
        const size_t n = tag < size - i ? tag : size - i;
        dec_state st = {.max_list = max_list};
        const char *err = NULL;
        const int r = pw_hpack_decode_block(&d, data + i, n, max_list, on_field, &st, &err);
        i += n;
        CHECK(r == 0 || r == PW_HPACK_ERR_COMPRESSION || r == PW_HPACK_ERR_LIST_TOO_LARGE);
        CHECK((r == PW_HPACK_ERR_COMPRESSION) == (err != NULL));
        CHECK(d.table.size <= d.table.max_size);
        CHECK(d.table.max_size <= settings_choices[3]);
        const size_t base = max_list > d.table.max_size ? max_list : d.table.max_size;
        CHECK(d.scratch_cap <= (base > 4096 ? base : 4096) + PW_HPACK_SCRATCH_SLACK_BYTES);
        CHECK(d.table.cap_ents <= settings_choices[3] / PW_HPACK_ENTRY_OVERHEAD + 1);
    }
    pw_hpack_dec_deinit(&d);
}

/* ---- round trip --------------------------------------------------------------------------- */

typedef struct rt_field {
    const uint8_t *name, *value;
    size_t name_len, value_len;
    unsigned flags;
} rt_field;

enum { RT_FIELDS_MAX = 16 };

typedef struct rt_state {
    const rt_field *want;
    int n, at;
} rt_state;

static int on_rt_field(void *ud, const uint8_t *name, size_t name_len, const uint8_t *value,
                       size_t value_len, unsigned flags)
{
    rt_state *s = ud;
    CHECK(s->at < s->n);
    const rt_field *w = &s->want[s->at++];
    CHECK(name_len == w->name_len && memcmp(name, w->name, name_len) == 0);
    CHECK(value_len == w->value_len && memcmp(value, w->value, value_len) == 0);
    CHECK((flags & PW_HPACK_F_NEVER_INDEXED) == (w->flags & PW_HPACK_F_NEVER_INDEXED));
    return 0;
}

static void tables_equal(const pw_hpack_table *a, const pw_hpack_table *b)
{
    CHECK(a->count == b->count && a->size == b->size && a->max_size == b->max_size);
    for (size_t i = 0; i < a->count; i++) {
        const uint8_t *an, *av, *bn, *bv;
        size_t anl, avl, bnl, bvl;
        CHECK(pw_hpack_table_entry(a, i, &an, &anl, &av, &avl) == 0);
        CHECK(pw_hpack_table_entry(b, i, &bn, &bnl, &bv, &bvl) == 0);
        CHECK(anl == bnl && avl == bvl);
        CHECK(memcmp(an, bn, anl) == 0 && memcmp(av, bv, avl) == 0);
    }
}

/* Field record: [len byte: name 0..31 | flags in bits 5-6 | bit 7: set table size] [value len]
 * then the bytes. Short names repeat often, which exercises the table lookups. */
static void fuzz_roundtrip(const uint8_t *data, size_t size)
{
    pw_hpack_enc e;
    pw_hpack_dec d;
    buf out;
    CHECK(pw_hpack_enc_init(&e, 4096) == 0);
    CHECK(pw_hpack_dec_init(&d, 4096) == 0);
    buf_init(&out, 1 << 16);
    size_t i = 0;
    while (i < size) {
        rt_field fields[RT_FIELDS_MAX];
        int n = 0;
        CHECK(pw_hpack_encode_begin(&e, &out) == 0);
        while (n < RT_FIELDS_MAX) {
            if (size - i < 2) { /* a lone trailing byte is no field */
                i = size;
                break;
            }
            const uint8_t h = data[i], vl = data[i + 1];
            i += 2;
            if (h & 0x80) { /* peer's setting changes, applied at the next block */
                pw_hpack_enc_set_max_table_size(&e, (uint32_t)vl * 20);
                break;
            }
            rt_field *f = &fields[n];
            f->flags = (h >> 5) & 3;
            f->name_len = h & 31;
            f->value_len = vl;
            if (f->name_len + f->value_len > size - i) {
                i = size;
                break;
            }
            f->name = data + i;
            f->value = data + i + f->name_len;
            i += f->name_len + f->value_len;
            CHECK(pw_hpack_encode_field(&e, &out, f->name, f->name_len, f->value, f->value_len,
                                        f->flags) == 0);
            n++;
        }
        rt_state st = {.want = fields, .n = n};
        /* buf_begin() of a never-allocated buf is NULL + 0, which UBSan rejects. */
        const uint8_t *blk = buf_size(&out) ? buf_begin(&out) : NULL;
        CHECK(pw_hpack_decode_block(&d, blk, buf_size(&out), 1 << 20, on_rt_field, &st, NULL) == 0);
        CHECK(st.at == n);
        tables_equal(&e.table, &d.table);
        CHECK(e.table.max_size <= PW_HPACK_ENC_TABLE_SIZE_MAX);
        buf_consume(&out, buf_size(&out));
    }
    buf_deinit(&out);
    pw_hpack_enc_deinit(&e);
    pw_hpack_dec_deinit(&d);
}

/* ---- Huffman ------------------------------------------------------------------------------ */

static void fuzz_huffman(const uint8_t *data, size_t size)
{
    if (size > 4096) size = 4096;
    static uint8_t dec[4096 * 8 / 5 + 1], enc[4096];
    const long n = pw_huff_decode(dec, sizeof(dec), data, size);
    CHECK(pw_huff_decoded_len(data, size) == n);
    if (n < 0) return;
    CHECK(pw_huff_encoded_len(dec, (size_t)n) == size);
    CHECK(pw_huff_encode(enc, dec, (size_t)n) == size);
    CHECK(memcmp(enc, data, size) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_decode(data, size);
    fuzz_roundtrip(data, size);
    fuzz_huffman(data, size);
    return 0;
}
