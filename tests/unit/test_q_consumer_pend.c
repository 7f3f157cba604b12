/* queue/q_consumer_pend: the pending table — its memory at a million entries, by its own
 * accounting and as the heap's growth, lookups, deadline summaries, holes and re-packing,
 * pages split by sequence gaps, and a random walk checked against a plain model. */
#include <check.h>
#include <malloc.h>
#include <stdlib.h>

#include "core/rt_alloc.h"
#include "core/rt_log.h"
#include "queue/q_consumer.h"
#include "queue/q_consumer_pend.h"
#include "test_q_util.h"

#define T0 1700000000000ull
#define MILLION 1000000u
/* The budget is 32 bytes per pending message for the whole server; the table itself
 * must leave a margin under it (20-byte entries in pages: ~20.5). */
#define TABLE_BYTES_PER_ENTRY_MAX 21u
/* The heap's growth per entry: the table plus the allocator's own headers (16 bytes a page). */
#define HEAP_BYTES_PER_ENTRY_MAX 22u

static uint64_t heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();
    return (uint64_t)mi.arena + mi.hblkhd; /* heap taken from the system: brk and mmap'd */
}

/* The index of the live entry with the lowest sequence, walking from 0. */
static uint32_t nth_live(const q_cpend *t, uint32_t n)
{
    uint32_t i = q_cpend_next_live(t, 0);
    while (n-- && i != Q_NIL) i = q_cpend_next_live(t, i + 1);
    return i;
}

/* The structure's own accounting at a million pending: under the margin. */
START_TEST(pending_memory_million)
{
    q_cpend pt;
    q_cpend_init(&pt);
    for (uint32_t i = 0; i < MILLION; i++)
        ck_assert_int_eq(q_cpend_add(&pt, 2 * (uint64_t)i + 1, i + 1, T0 + i, false, 1, NULL), 0);
    ck_assert_uint_eq(pt.live, MILLION);
    uint64_t bytes = q_cpend_bytes(&pt);
    ck_assert_msg(bytes <= (uint64_t)TABLE_BYTES_PER_ENTRY_MAX * MILLION,
                  "%llu bytes for %u pending (%.2f per entry)", (unsigned long long)bytes, MILLION,
                  (double)bytes / MILLION);
    /* And it works at that size: lookups, the earliest deadline, due walks. */
    uint32_t at = q_cpend_find(&pt, 2 * 777777ull + 1);
    ck_assert_uint_ne(at, Q_NIL);
    ck_assert_uint_eq(q_cpend_seq(&pt, at), 2 * 777777ull + 1);
    ck_assert_uint_eq(q_cpend_at(&pt, at)->token, 777778);
    ck_assert_uint_eq(q_cpend_find(&pt, 2 * 777777ull), Q_NIL);
    ck_assert_uint_eq(q_cpend_min_due(&pt), T0);
    q_cpend_remove(&pt, 0);
    ck_assert_uint_eq(q_cpend_min_due(&pt), T0 + 1);
    ck_assert_uint_eq(q_cpend_next_due(&pt, 0, T0 + 5), 1);
    q_cpend_set(&pt, at, T0, true, 0, 2);
    ck_assert_uint_eq(q_cpend_min_due(&pt), T0);
    ck_assert_uint_eq(q_cpend_next_due(&pt, 6, T0 + 5), at);
    ck_assert_uint_eq(pt.nredel, 1);
    /* Settled, the memory goes back. */
    for (uint32_t i = q_cpend_next_live(&pt, 0); i != Q_NIL; i = q_cpend_next_live(&pt, i + 1))
        q_cpend_remove(&pt, i);
    ck_assert_uint_eq(pt.live, 0);
    ck_assert_uint_le(q_cpend_bytes(&pt), 4096);
    q_cpend_deinit(&pt);
}
END_TEST

/* What the heap grows by, which is what the server's RSS shows: the C library's allocator
 * (no test table installed), after the process freed a large block as ringqd does when a
 * stream index grows — glibc then raises its mmap threshold, and a table grown by copying
 * left its earlier copies on the heap (26.4 bytes counted, 32-35 in the server). */
START_TEST(pending_heap_million)
{
    void *big = malloc(16u << 20);
    ck_assert_ptr_nonnull(big);
    memset(big, 1, 4096);
    free(big);
    uint64_t before = heap_bytes();
    q_cpend pt;
    q_cpend_init(&pt);
    for (uint32_t i = 0; i < MILLION; i++)
        ck_assert_int_eq(q_cpend_add(&pt, (uint64_t)i + 1, i + 1, T0 + i, false, 1, NULL), 0);
    uint64_t grown = heap_bytes() - before;
    ck_assert_msg(grown <= (uint64_t)HEAP_BYTES_PER_ENTRY_MAX * MILLION,
                  "the heap grew by %llu bytes for %u pending (%.2f per entry; the table counts "
                  "%.2f)",
                  (unsigned long long)grown, MILLION, (double)grown / MILLION,
                  (double)q_cpend_bytes(&pt) / MILLION);
    q_cpend_deinit(&pt);
}
END_TEST

/* Holes: every other entry settled, as many new ones delivered; gc re-packs. */
START_TEST(pending_holes_repacked)
{
    const uint32_t sizes[] = {1024, 70000, 131073, 300001};
    q_cpend pt;
    q_cpend_init(&pt);
    for (uint32_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        q_cpend_clear(&pt);
        uint64_t seq = 1;
        for (uint32_t i = 0; i < sizes[k]; i++, seq++)
            ck_assert_int_eq(q_cpend_add(&pt, seq, seq, T0 + seq, false, 1, NULL), 0);
        for (uint32_t i = q_cpend_next_live(&pt, 0); i != Q_NIL;
             i = q_cpend_next_live(&pt, i + 1)) {
            q_cpend_remove(&pt, i); /* every other one acked */
            i = q_cpend_next_live(&pt, i + 1);
            if (i == Q_NIL) break;
        }
        q_cpend_gc(&pt);
        ck_assert_uint_eq(pt.live, sizes[k] / 2);
        ck_assert_msg(q_cpend_bytes(&pt) <= 26ull * pt.live + 4096, "%u: %llu bytes for %u",
                      sizes[k], (unsigned long long)q_cpend_bytes(&pt), pt.live);
        for (uint32_t i = 0; i < sizes[k]; i++, seq++) /* and as many new deliveries */
            ck_assert_int_eq(q_cpend_add(&pt, seq, seq, T0 + seq, false, 1, NULL), 0);
        ck_assert_msg(q_cpend_bytes(&pt) <= 26ull * pt.live + 4096, "%u: %llu bytes for %u",
                      sizes[k], (unsigned long long)q_cpend_bytes(&pt), pt.live);
        /* Order and contents survived the re-pack: even seqs of the first half gone. */
        uint32_t i = q_cpend_next_live(&pt, 0);
        ck_assert_uint_eq(q_cpend_seq(&pt, i), 2);
        ck_assert_uint_eq(q_cpend_at(&pt, i)->token, 2);
        ck_assert_uint_eq(q_cpend_min_due(&pt), T0 + 2);
        ck_assert_uint_eq(q_cpend_find(&pt, 3), Q_NIL);
        ck_assert_uint_ne(q_cpend_find(&pt, 4), Q_NIL);
        ck_assert_uint_eq(q_cpend_seq(&pt, q_cpend_find(&pt, seq - 1)), seq - 1);
    }
    q_cpend_deinit(&pt);
}
END_TEST

/* Sequences further apart than a page's 32-bit offset: a new page, found both sides. */
START_TEST(pending_wide_gaps)
{
    q_cpend pt;
    q_cpend_init(&pt);
    const uint64_t seqs[] = {
        5, 6, 5 + (1ull << 32), 6 + (1ull << 32), 1ull << 40, (1ull << 40) + 1};
    for (uint32_t i = 0; i < 6; i++)
        ck_assert_int_eq(q_cpend_add(&pt, seqs[i], i + 1, T0, false, 1, NULL), 0);
    ck_assert_int_eq(q_cpend_add(&pt, 1ull << 40, 9, T0, false, 1, NULL), -EINVAL);
    for (uint32_t i = 0; i < 6; i++) {
        uint32_t at = q_cpend_find(&pt, seqs[i]);
        ck_assert_uint_ne(at, Q_NIL);
        ck_assert_uint_eq(q_cpend_seq(&pt, at), seqs[i]);
        ck_assert_uint_eq(q_cpend_at(&pt, at)->token, i + 1);
    }
    ck_assert_uint_eq(q_cpend_find(&pt, 4 + (1ull << 32)), Q_NIL);
    ck_assert_uint_eq(q_cpend_find(&pt, 7), Q_NIL);
    ck_assert_uint_eq(pt.npages, 3);
    q_cpend_deinit(&pt);
}
END_TEST

/* The model: what each sequence's entry should be. */
typedef struct model_ent {
    uint64_t seq, token, due;
    uint32_t count;
    bool wait, live;
} model_ent;

static void model_check(q_cpend *pt, const model_ent *m, uint32_t n, uint64_t now)
{
    uint32_t live = 0, redel = 0;
    uint64_t min = UINT64_MAX;
    uint32_t i = q_cpend_next_live(pt, 0);
    uint32_t d = q_cpend_next_due(pt, 0, now);
    for (uint32_t k = 0; k < n; k++) {
        uint32_t at = q_cpend_find(pt, m[k].seq);
        if (!m[k].live) {
            ck_assert_uint_eq(at, Q_NIL);
            continue;
        }
        live++;
        redel += m[k].count > 1;
        if (m[k].due < min) min = m[k].due;
        ck_assert_uint_eq(at, i); /* the live walk meets them in sequence order */
        ck_assert_uint_eq(q_cpend_seq(pt, at), m[k].seq);
        const q_cpend_ent *e = q_cpend_at(pt, at);
        ck_assert_uint_eq(e->token, m[k].token);
        ck_assert_uint_eq(e->due, m[k].due);
        ck_assert_uint_eq(e->count, m[k].count);
        ck_assert_uint_eq(e->wait, m[k].wait);
        if (m[k].due <= now) {
            ck_assert_uint_eq(d, at);
            d = q_cpend_next_due(pt, at + 1, now);
        }
        i = q_cpend_next_live(pt, i + 1);
    }
    ck_assert_uint_eq(i, Q_NIL);
    ck_assert_uint_eq(d, Q_NIL);
    ck_assert_uint_eq(pt->live, live);
    ck_assert_uint_eq(pt->nredel, redel);
    ck_assert_uint_eq(q_cpend_min_due(pt), min);
}

/* Random adds (with gaps, some wider than a page's span), sets, removes and gcs, against the
 * model after every step batch. */
START_TEST(pending_random_walk)
{
    enum { N = 6000 };
    static model_ent m[N];
    uint32_t n = 0;
    uint64_t seq = 0;
    srandom(15);
    q_cpend pt;
    q_cpend_init(&pt);
    for (uint32_t step = 0; step < 40000; step++) {
        uint32_t op = (uint32_t)random() % 100;
        if (op < 40 && n < N) {
            uint32_t gap = random() % 50 == 0 ? (uint32_t)random() : 1 + (uint32_t)random() % 3;
            seq += random() % 500 == 0 ? (1ull << 33) : gap;
            uint64_t due = T0 + (uint64_t)(random() % 1000);
            m[n] = (model_ent){seq, step + 1, due, 1, false, true};
            ck_assert_int_eq(q_cpend_add(&pt, seq, step + 1, due, false, 1, NULL), 0);
            n++;
        } else if (op < 75 && n) {
            uint32_t k = (uint32_t)random() % n;
            uint32_t at = q_cpend_find(&pt, m[k].seq);
            if (!m[k].live) continue;
            m[k].due = T0 + (uint64_t)(random() % 1000);
            m[k].wait = random() % 2;
            m[k].token = step + 1;
            m[k].count = 1 + (uint32_t)random() % 3;
            q_cpend_set(&pt, at, m[k].due, m[k].wait, m[k].token, m[k].count);
        } else if (op < 97 && n) {
            uint32_t k = (uint32_t)random() % n;
            if (!m[k].live) continue;
            q_cpend_remove(&pt, q_cpend_find(&pt, m[k].seq));
            m[k].live = false;
        } else {
            q_cpend_gc(&pt);
        }
        if (step % 997 == 0) model_check(&pt, m, n, T0 + (uint64_t)(random() % 1000));
    }
    q_cpend_gc(&pt);
    model_check(&pt, m, n, T0 + 500);
    ck_assert_uint_eq(nth_live(&pt, pt.live), Q_NIL);
    q_cpend_deinit(&pt);
}
END_TEST

/* The page minimum when few dues are shared (deliveries of one millisecond): acks in delivery
 * order, out of order and re-deliveries that move an entry's due either way, against a brute
 * force minimum after every step. */
static uint64_t brute_min(const model_ent *m, uint32_t n)
{
    uint64_t min = UINT64_MAX;
    for (uint32_t k = 0; k < n; k++)
        if (m[k].live && m[k].due < min) min = m[k].due;
    return min;
}

START_TEST(pending_shared_due_min)
{
    enum { N = 3 * Q_CPEND_PAGE_ENTRIES };
    static model_ent m[N];
    srandom(16);
    q_cpend pt;
    q_cpend_init(&pt);
    for (uint32_t k = 0; k < N; k++) {
        m[k] = (model_ent){k + 1, k + 1, T0 + k / 40, 1, false, true}; /* 40 a millisecond */
        ck_assert_int_eq(q_cpend_add(&pt, m[k].seq, m[k].token, m[k].due, false, 1, NULL), 0);
    }
    for (uint32_t k = 0; k < N; k++) {
        uint32_t j = random() % 4 == 0 ? (uint32_t)random() % N : k; /* mostly in order */
        uint32_t at = q_cpend_find(&pt, m[j].seq);
        if (!m[j].live) continue;
        if (random() % 5 == 0) { /* redelivered: a due later, sometimes earlier */
            m[j].due = T0 + (uint64_t)(random() % 20);
            m[j].count = 2;
            q_cpend_set(&pt, at, m[j].due, false, m[j].token, 2);
        } else {
            q_cpend_remove(&pt, at);
            m[j].live = false;
        }
        ck_assert_uint_eq(q_cpend_min_due(&pt), brute_min(m, N));
    }
    model_check(&pt, m, N, T0 + 10);
    q_cpend_deinit(&pt);
}
END_TEST

/* A failed allocation leaves the table as it was. */
START_TEST(pending_enomem_unchanged)
{
    q_cpend pt;
    q_cpend_init(&pt);
    for (uint32_t i = 0; i < Q_CPEND_PAGE_ENTRIES; i++)
        ck_assert_int_eq(q_cpend_add(&pt, i + 1, 1, T0, false, 1, NULL), 0);
    rt_alloc_test_start(1);
    ck_assert_int_eq(q_cpend_add(&pt, 1000, 1, T0, false, 1, NULL), -ENOMEM);
    rt_alloc_test_stop();
    ck_assert_uint_eq(pt.live, Q_CPEND_PAGE_ENTRIES);
    ck_assert_uint_eq(q_cpend_find(&pt, 1000), Q_NIL);
    ck_assert_int_eq(q_cpend_add(&pt, 1000, 1, T0, false, 1, NULL), 0);
    ck_assert_uint_ne(q_cpend_find(&pt, 1000), Q_NIL);
    q_cpend_deinit(&pt);
}
END_TEST

int main(void)
{
    log_set_level(LOG_WARN);
    const TTest *tests[] = {pending_memory_million,  pending_heap_million, pending_holes_repacked,
                            pending_wide_gaps,       pending_random_walk,  pending_shared_due_min,
                            pending_enomem_unchanged};
    return tq_run("q_consumer_pend", "pend", 60, tests, sizeof tests / sizeof tests[0]);
}
