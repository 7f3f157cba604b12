/* core/rt_hist: latency histograms in Prometheus' shape, one writer and any readers.
 *
 * A histogram counts how many observations fell at or under each bound (not cumulative here;
 * the last bucket counts those above every bound), their count and their sum. The one writer
 * (a shard thread) stores with relaxed atomics and readers load them the same way, so a scrape
 * on another shard may read a histogram while its owner writes it: each field is a consistent
 * 64-bit value, the fields together may be one observation apart (harmless for a scrape).
 *
 * rt_hist_bucket is the one bucket search: q_lat_hist (ms) and the commit fsync histogram
 * (their own bounds) use it too. */
#ifndef RT_HIST_H
#define RT_HIST_H

#include <stdint.h>

/* Bounds of rt_hist in ns: 1 us (a decode, a loop callback) to 2.5 s (a disk in trouble), in
 * Prometheus' 1-2.5-5 steps, so a stage of a microsecond and a stall of a second both land in a
 * bucket that tells them apart. 20 bounds, one more bucket above them. */
#define RT_HIST_BUCKETS 21u
#define RT_HIST_BOUNDS_NS                                                                         \
    {                                                                                             \
        1000ull, 2500ull, 5000ull, 10000ull, 25000ull, 50000ull, 100000ull, 250000ull, 500000ull, \
            1000000ull, 2500000ull, 5000000ull, 10000000ull, 25000000ull, 50000000ull,            \
            100000000ull, 250000000ull, 500000000ull, 1000000000ull, 2500000000ull                \
    }

typedef struct rt_hist {
    uint64_t buckets[RT_HIST_BUCKETS];
    uint64_t count, sum_ns;
} rt_hist;

/* The bucket of `v` among `nbounds` ascending bounds: the first bound >= v, or nbounds when v
 * is above them all. */
uint32_t rt_hist_bucket(const uint64_t *bounds, uint32_t nbounds, uint64_t v);
/* Counts one observation of `ns`. Only the histogram's one writer thread may call it. */
void rt_hist_observe(rt_hist *h, uint64_t ns);
/* Adds `src` (read with relaxed loads: any thread, while its writer runs) into `dst` (the
 * caller's own, not shared). */
void rt_hist_add(rt_hist *dst, const rt_hist *src);
/* The bounds of rt_hist, RT_HIST_BUCKETS - 1 of them. */
const uint64_t *rt_hist_bounds_ns(void);

#endif
