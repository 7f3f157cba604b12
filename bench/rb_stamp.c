/* bench/rb_stamp: the payload stamp (time + sequence number) and the seen-set that detects lost
 * and duplicated tasks. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bench/rb_eng_int.h"

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

void rb_payload_stamp(uint8_t *p, size_t len, uint64_t t_ns, uint64_t seq, bool binary_safe)
{
    uint8_t raw[RB_STAMP_BYTES];
    put_le64(raw, t_ns);
    put_le64(raw + 8, seq);
    if (binary_safe) {
        if (len >= RB_STAMP_BYTES) memcpy(p, raw, RB_STAMP_BYTES);
        return;
    }
    if (len < RB_STAMP_TEXT_BYTES) return;
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < RB_STAMP_BYTES; i++) {
        p[2 * i] = (uint8_t)hex[raw[i] >> 4];
        p[2 * i + 1] = (uint8_t)hex[raw[i] & 15];
    }
}

static int unhex(uint8_t c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

bool rb_payload_read(const uint8_t *p, size_t len, bool binary_safe, uint64_t *t_ns, uint64_t *seq)
{
    uint8_t raw[RB_STAMP_BYTES];
    if (binary_safe) {
        if (len < RB_STAMP_BYTES) return false;
        memcpy(raw, p, RB_STAMP_BYTES);
    } else {
        if (len < RB_STAMP_TEXT_BYTES) return false;
        for (unsigned i = 0; i < RB_STAMP_BYTES; i++) {
            int hi = unhex(p[2 * i]), lo = unhex(p[2 * i + 1]);
            if (hi < 0 || lo < 0) return false;
            raw[i] = (uint8_t)(hi << 4 | lo);
        }
    }
    *t_ns = get_le64(raw);
    *seq = get_le64(raw + 8);
    return true;
}

#define CHUNK_WORDS ((1u << RB_SEEN_CHUNK_BITS) / 64u)

int rb_seen_reserve(rb_seen *s, uint64_t first, uint64_t n)
{
    if (n == 0) return 0;
    uint64_t lo = first >> RB_SEEN_CHUNK_BITS, hi = (first + n - 1) >> RB_SEEN_CHUNK_BITS;
    if (hi >= RB_SEEN_CHUNKS) return -ERANGE;
    for (uint64_t c = lo; c <= hi; c++) {
        if (atomic_load_explicit(&s->chunk[c], memory_order_acquire)) continue;
        _Atomic uint64_t *fresh = calloc(CHUNK_WORDS, sizeof *fresh);
        if (!fresh) return -ENOMEM;
        _Atomic uint64_t *expect = NULL;
        /* Release: a consumer that loads the pointer sees the zeroed words. */
        if (!atomic_compare_exchange_strong_explicit(&s->chunk[c], &expect, fresh,
                                                     memory_order_acq_rel, memory_order_acquire))
            free(fresh); /* another producer won */
    }
    return 0;
}

int rb_seen_mark(rb_seen *s, uint64_t seq)
{
    uint64_t c = seq >> RB_SEEN_CHUNK_BITS;
    if (c >= RB_SEEN_CHUNKS) return -1;
    _Atomic uint64_t *w = atomic_load_explicit(&s->chunk[c], memory_order_acquire);
    if (!w) return -1;
    uint64_t bit = seq & ((1ull << RB_SEEN_CHUNK_BITS) - 1u);
    uint64_t m = 1ull << (bit % 64u);
    uint64_t old = atomic_fetch_or_explicit(&w[bit / 64u], m, memory_order_relaxed);
    return (old & m) ? 0 : 1;
}

void rb_seen_free(rb_seen *s)
{
    for (unsigned c = 0; c < RB_SEEN_CHUNKS; c++) {
        free((void *)atomic_load_explicit(&s->chunk[c], memory_order_relaxed));
        atomic_store_explicit(&s->chunk[c], NULL, memory_order_relaxed);
    }
}
