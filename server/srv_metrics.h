/* server/srv_metrics: Prometheus text exposition (format 0.0.4) helpers, shared by the
 * runtime's own families (srv_metrics.c) and the queue service's (srv_queue_metrics.c).
 *
 * Writing: srv_metric_family() once per family (# HELP and # TYPE), then one
 * srv_metric_value() per series. Appends fail silently when `out` reaches its cap (the scrape
 * is then truncated at a line boundary: PW_GRPC_PLAIN_BODY_BYTES_MAX bounds a body). */
#ifndef SRV_METRICS_H
#define SRV_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/rt_buf.h"

/* Bytes of one series line at most (name, labels, value): longer lines are cut. */
#define SRV_METRIC_LINE_BYTES_MAX 1024u

/* "# HELP name help\n# TYPE name type\n". `type`: counter, gauge, histogram. */
void srv_metric_family(buf *out, const char *name, const char *type, const char *help);
/* "name{labels} value\n"; labels NULL or "" for none. `labels` must already be escaped (see
 * srv_metric_escape). */
void srv_metric_u64(buf *out, const char *name, const char *labels, uint64_t v);
void srv_metric_f64(buf *out, const char *name, const char *labels, double v);
/* One histogram's series: name_bucket{labels,le="..."} (cumulative), name_sum, name_count.
 * `bounds` (nbounds ascending, in units where `per_s` make a second: 1e3 for ms, 1e9 for ns)
 * and `buckets` (nbounds + 1, not cumulative, the last above every bound), `sum` in the same
 * unit; printed in seconds. `labels`: NULL or escaped labels put before le. The family line
 * (srv_metric_family, type histogram) is the caller's. */
void srv_metric_histogram(buf *out, const char *name, const char *labels, const uint64_t *bounds,
                          uint32_t nbounds, const uint64_t *buckets, uint64_t count, uint64_t sum,
                          double per_s);
/* Escapes a label value per the exposition format (\\ \" \n) into dst (cap bytes, NUL
 * terminated, cut short rather than overflow). Returns the length written. */
size_t srv_metric_escape(char *dst, size_t cap, const char *v, size_t len);

#endif
