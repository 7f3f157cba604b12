/* queue/q_consumer_pend: the pending table — its memory budget at a million entries and at
 * sizes far from a power of two, lookups, deadline summaries, holes and giving memory back. */
#include <check.h>

#include "core/rt_log.h"
#include "queue/q_consumer.h"
#include "queue/q_consumer_pend.h"
#include "test_q_util.h"

#define T0 1700000000000ull

/* The budget: a consumer with a million pending messages costs <= 32 bytes each. */
START_TEST(pending_memory_million)
{
    q_cpend pt;
    q_cpend_init(&pt);
    const uint32_t n = 1000000;
    for (uint32_t i = 0; i < n; i++)
        ck_assert_int_eq(q_cpend_add(&pt, 2 * (uint64_t)i + 1, i + 1, T0 + i, false, 1, NULL), 0);
    ck_assert_uint_eq(pt.live, n);
    uint64_t bytes = q_cpend_bytes(&pt);
    ck_assert_msg(bytes <= 32ull * n, "%llu bytes for %u pending", (unsigned long long)bytes, n);
    /* And it works at that size: lookups, the earliest deadline, due walks. */
    ck_assert_uint_eq(q_cpend_find(&pt, 2 * 777777ull + 1), 777777);
    ck_assert_uint_eq(q_cpend_find(&pt, 2 * 777777ull), Q_NIL);
    ck_assert_uint_eq(q_cpend_min_due(&pt), T0);
    q_cpend_remove(&pt, 0);
    ck_assert_uint_eq(q_cpend_min_due(&pt), T0 + 1);
    ck_assert_uint_eq(q_cpend_next_due(&pt, 0, T0 + 5), 1);
    q_cpend_set(&pt, 500000, T0, true, 0, 2);
    ck_assert_uint_eq(q_cpend_min_due(&pt), T0);
    ck_assert_uint_eq(q_cpend_next_due(&pt, 6, T0 + 5), 500000);
    ck_assert_uint_eq(pt.nredel, 1);
    /* Settled, the memory goes back. */
    for (uint32_t i = 0; i < pt.len; i++) q_cpend_remove(&pt, i);
    ck_assert_uint_eq(pt.live, 0);
    ck_assert_uint_le(q_cpend_bytes(&pt), 4096);
    /* Any size from Q_CPEND_CAP_BOUNDED up, not only near a power of two; and with holes. */
    const uint32_t sizes[] = {Q_CPEND_CAP_BOUNDED, 70000, 131073, 300001};
    for (uint32_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        q_cpend_clear(&pt);
        uint64_t seq = 1;
        for (uint32_t i = 0; i < sizes[k]; i++)
            ck_assert_int_eq(q_cpend_add(&pt, seq++, 1, T0, false, 1, NULL), 0);
        ck_assert_uint_le(q_cpend_bytes(&pt), 32ull * pt.live);
        for (uint32_t i = 0; i < pt.len; i += 2) q_cpend_remove(&pt, i); /* every other acked */
        for (uint32_t i = 0; i < sizes[k]; i++) /* and as many new deliveries */
            ck_assert_int_eq(q_cpend_add(&pt, seq++, 1, T0, false, 1, NULL), 0);
        ck_assert_msg(q_cpend_bytes(&pt) <= 32ull * pt.live, "%u: %llu bytes for %u", sizes[k],
                      (unsigned long long)q_cpend_bytes(&pt), pt.live);
    }
    q_cpend_deinit(&pt);
}
END_TEST

int main(void)
{
    log_set_level(LOG_WARN);
    const TTest *tests[] = {pending_memory_million};
    return tq_run("q_consumer_pend", "pend", 60, tests, sizeof tests / sizeof tests[0]);
}
