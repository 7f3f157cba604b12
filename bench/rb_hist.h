/* bench/rb_hist: a log-linear latency histogram (HDR-style) shared by ringq-bench and the older
 * bench programs (queue_bench). Values are exact below 2*RB_HIST_SUB; above, each power of two
 * is split into RB_HIST_SUB sub-buckets, so a value is reported at most 1/RB_HIST_SUB (1.6 %)
 * above what was recorded. Any uint64_t can be recorded (no range to configure).
 *
 * The struct is plain memory owned by the caller (about 30 KiB: allocate it, do not put many on
 * a stack); nothing inside allocates. Not thread-safe: one writer; merge per-thread copies. */
#ifndef RB_HIST_H
#define RB_HIST_H

#include <stddef.h>
#include <stdint.h>

#define RB_HIST_SUB_BITS 6u
#define RB_HIST_SUB (1u << RB_HIST_SUB_BITS)
/* Buckets to cover 0..UINT64_MAX: 2*SUB exact ones, then SUB per power of two above. */
#define RB_HIST_BUCKETS ((64u - RB_HIST_SUB_BITS + 1u) * RB_HIST_SUB)

typedef struct rb_hist {
    uint64_t n, max, min, sum;
    uint64_t b[RB_HIST_BUCKETS];
} rb_hist;

/* Empties h (same as zeroing it). */
void rb_hist_reset(rb_hist *h);
void rb_hist_record(rb_hist *h, uint64_t v);
/* Adds every value of `from` to `to`. */
void rb_hist_merge(rb_hist *to, const rb_hist *from);
/* Value at quantile q (0..1]: the upper bound of the bucket holding the ceil(q*n)-th smallest
 * value, capped by the exact maximum; 0 when empty. */
uint64_t rb_hist_quantile(const rb_hist *h, double q);
/* Mean of the recorded values (exact: from the running sum); 0 when empty. */
double rb_hist_mean(const rb_hist *h);
/* A CDF for plotting: up to `max_points` (>= 2) pairs (value, fraction of values <= value) at
 * values spaced logarithmically from min to max, the last one (max, 1.0). Points whose fraction
 * does not change are skipped. Writes into vals[]/fracs[] (max_points each) and returns the
 * number of points (0 when empty). */
size_t rb_hist_cdf(const rb_hist *h, size_t max_points, uint64_t *vals, double *fracs);

#endif
