/* core/rt_hist: latency histograms (see rt_hist.h). */
#include "core/rt_hist.h"

static const uint64_t hist_bounds_ns[RT_HIST_BUCKETS - 1] = RT_HIST_BOUNDS_NS;

const uint64_t *rt_hist_bounds_ns(void) { return hist_bounds_ns; }

/* A linear scan from the smallest bound: observations land mostly in the first buckets (a stage
 * of a few us), so it ends after one or two well-predicted compares, where a binary search took
 * ~5 data-dependent branches (s12-fastcpu2: rt_hist_observe + rt_hist_bucket ~350 -> ~100
 * instructions per task at x = 256 ringq-stream). At most ~20 bounds in any caller. */
uint32_t rt_hist_bucket(const uint64_t *bounds, uint32_t nbounds, uint64_t v)
{
    uint32_t i = 0;
    while (i < nbounds && v > bounds[i]) i++;
    return i;
}

/* One writer: a relaxed load and store is an increment nobody else races with; the atomics only
 * keep a reader on another thread from seeing a torn or stale-forever value. */
static void bump(uint64_t *p, uint64_t by)
{
    __atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + by, __ATOMIC_RELAXED);
}

void rt_hist_observe(rt_hist *h, uint64_t ns)
{
    bump(&h->buckets[rt_hist_bucket(hist_bounds_ns, RT_HIST_BUCKETS - 1, ns)], 1);
    bump(&h->count, 1);
    bump(&h->sum_ns, ns);
}

void rt_hist_add(rt_hist *dst, const rt_hist *src)
{
    for (uint32_t i = 0; i < RT_HIST_BUCKETS; i++)
        dst->buckets[i] += __atomic_load_n(&src->buckets[i], __ATOMIC_RELAXED);
    dst->count += __atomic_load_n(&src->count, __ATOMIC_RELAXED);
    dst->sum_ns += __atomic_load_n(&src->sum_ns, __ATOMIC_RELAXED);
}
