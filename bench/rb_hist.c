/* bench/rb_hist: log-linear histogram (see rb_hist.h). */
#include "bench/rb_hist.h"

#include <math.h>
#include <string.h>

static unsigned h_index(uint64_t v)
{
    if (v < 2u * RB_HIST_SUB) return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - RB_HIST_SUB_BITS;
    return (shift + 1u) * RB_HIST_SUB + (unsigned)((v >> shift) - RB_HIST_SUB);
}

/* The highest value that lands in bucket `i`. */
static uint64_t h_value(unsigned i)
{
    if (i < 2u * RB_HIST_SUB) return i;
    unsigned shift = i / RB_HIST_SUB - 1u;
    uint64_t sub = i % RB_HIST_SUB + RB_HIST_SUB;
    return ((sub + 1u) << shift) - 1u;
}

void rb_hist_reset(rb_hist *h) { memset(h, 0, sizeof *h); }

void rb_hist_record(rb_hist *h, uint64_t v)
{
    h->b[h_index(v)]++;
    if (h->n == 0 || v < h->min) h->min = v;
    if (v > h->max) h->max = v;
    h->n++;
    h->sum += v;
}

void rb_hist_merge(rb_hist *to, const rb_hist *from)
{
    if (from->n == 0) return;
    for (unsigned i = 0; i < RB_HIST_BUCKETS; i++) to->b[i] += from->b[i];
    if (to->n == 0 || from->min < to->min) to->min = from->min;
    if (from->max > to->max) to->max = from->max;
    to->n += from->n;
    to->sum += from->sum;
}

uint64_t rb_hist_quantile(const rb_hist *h, double q)
{
    if (h->n == 0) return 0;
    uint64_t rank = (uint64_t)ceil(q * (double)h->n);
    if (rank < 1) rank = 1;
    if (rank > h->n) rank = h->n;
    uint64_t seen = 0;
    for (unsigned i = 0; i < RB_HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t v = h_value(i);
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}

double rb_hist_mean(const rb_hist *h) { return h->n ? (double)h->sum / (double)h->n : 0.0; }

size_t rb_hist_cdf(const rb_hist *h, size_t max_points, uint64_t *vals, double *fracs)
{
    if (h->n == 0 || max_points < 2) return 0;
    double lo = h->min > 0 ? (double)h->min : 1.0, hi = (double)h->max;
    if (hi < lo) hi = lo;
    double step = max_points > 1 ? log(hi / lo) / (double)(max_points - 1) : 0.0;
    size_t out = 0;
    unsigned i = 0;
    uint64_t cum = 0;
    for (size_t k = 0; k < max_points; k++) {
        uint64_t v = k + 1 == max_points ? h->max : (uint64_t)(lo * exp(step * (double)k));
        /* Count every bucket whose values are all <= v (a bucket is counted once v reaches its
         * upper bound, so the fraction is never overstated). */
        while (i < RB_HIST_BUCKETS && h_value(i) <= v) cum += h->b[i++];
        if (k + 1 == max_points) cum = h->n;
        double f = (double)cum / (double)h->n;
        if (out > 0 && f == fracs[out - 1]) {
            if (k + 1 == max_points) vals[out - 1] = v; /* keep (max, 1.0) as the last point */
            continue;
        }
        vals[out] = v;
        fracs[out] = f;
        out++;
    }
    return out;
}
