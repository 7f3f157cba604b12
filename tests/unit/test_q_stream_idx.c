/* queue/q_stream_idx: the seq -> record index grows in place (realloc, the front slid down
 * first) instead of into a new block with a copy: a copy of a 24 MB index held the shard for
 * 13 ms (bench/results/tail-2026-12-07-s11.md). What must hold whichever way it grows: every kept
 * seq maps to its record after growth, with a trimmed front (head > 0) or without. */
#include <string.h>

#include "core/rt_alloc.h"
#include "queue/q_stream_int.h"
#include "ts_main.h"

static q_stream *idx_new(void)
{
    q_stream *s = rt_calloc(1, sizeof *s);
    ck_assert_ptr_nonnull(s);
    return s;
}

static void put_range(q_stream *s, uint64_t from, uint64_t to)
{
    for (uint64_t q = from; q <= to; q++)
        ck_assert_int_eq(q_sidx_put(s, q, q * 10, q % 3 ? "a" : "b", 1, 7), 0);
}

static void assert_kept(const q_stream *s, uint64_t from, uint64_t to)
{
    for (uint64_t q = from; q <= to; q++) {
        const q_sent *e = q_sidx_at(s, q);
        ck_assert_msg(e && e->off == q * 10, "seq %llu lost its record", (unsigned long long)q);
    }
}

/* No front trimmed: the index doubles several times and keeps every entry. */
START_TEST(growth_keeps_every_entry)
{
    q_stream *s = idx_new();
    put_range(s, 1, 64u * Q_SIDX_CAP_MIN);
    ck_assert_uint_ge(s->cap, 64u * Q_SIDX_CAP_MIN);
    ck_assert_uint_eq(s->head, 0);
    assert_kept(s, 1, 64u * Q_SIDX_CAP_MIN);
    ck_assert_uint_eq(s->msgs, 64u * Q_SIDX_CAP_MIN);
    q_stream_free(s);
}
END_TEST

/* A trimmed front (head > 0) and growth past the slide-down case: the entries move to the front
 * of the grown block, seqs still map to their records, the removed ones to nothing. */
START_TEST(growth_after_a_trimmed_front_slides_it_down)
{
    q_stream *s = idx_new();
    uint64_t first = 1, last = 3u * Q_SIDX_CAP_MIN / 2; /* 96 of 128 */
    put_range(s, first, last);
    uint64_t cut = Q_SIDX_CAP_MIN / 4; /* 16 removed: head 16, len 80 > cap / 2 */
    for (uint64_t q = first; q <= cut; q++) q_sidx_del(s, q);
    q_sidx_trim(s);
    ck_assert_uint_eq(s->head, cut);
    uint64_t cap0 = s->cap;
    put_range(s, last + 1, 4u * Q_SIDX_CAP_MIN); /* grows */
    ck_assert_uint_gt(s->cap, cap0);
    ck_assert_uint_eq(s->head, 0);
    ck_assert_uint_eq(s->base, cut + 1);
    ck_assert_ptr_null(q_sidx_at(s, cut));
    assert_kept(s, cut + 1, 4u * Q_SIDX_CAP_MIN);
    ck_assert_uint_eq(q_sidx_first(s), cut + 1);
    q_stream_free(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("q_stream_idx");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, growth_keeps_every_entry);
    tcase_add_test(tc, growth_after_a_trimmed_front_slides_it_down);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
