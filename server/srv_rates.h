/* server/srv_rates: the dashboard's charts. Once a second, shard 0 asks ringq.v1.Admin
 * ListQueues (the registered handler, through a local call) for the first page of queues and
 * keeps, per second over the last SRV_RATES_SECONDS, how many tasks each queue and all of them
 * together enqueued, acked and failed (nacks plus expired leases): the differences of the
 * queues' counters between two samples.
 *
 * Memory: one series per queue is 3 x SRV_RATES_SECONDS x 4 bytes (10.8 KB) plus its name; at
 * most SRV_RATES_QUEUES_MAX series (2.8 MB), allocated when a queue first appears, freed when
 * it no longer does; queues past the cap count in the totals only. The totals are one more
 * series. Written by shard 0 once a second and read by any shard's API request, under a mutex
 * (1 Hz on both sides: no contention worth avoiding). */
#ifndef SRV_RATES_H
#define SRV_RATES_H

#include <stdbool.h>
#include <stddef.h>

#include "core/rt_buf.h"

typedef struct srv_shard srv_shard;

#define SRV_RATES_SECONDS 900u    /* 15 minutes at one-second resolution */
#define SRV_RATES_QUEUES_MAX 256u /* series kept: a dashboard's worth of queues */
#define SRV_RATES_PAGE 1000u      /* queues sampled: ListQueues' largest page */

/* Shard hooks (ringqd_main.c): the sampler runs on shard 0. */
void srv_rates_shard_init(srv_shard *sh);
void srv_rates_shard_fini(srv_shard *sh);

/* Appends the series of `queue` (NULL: the totals) as JSON {"now_unix_s", "seconds",
 * "enqueued": [...], "acked": [...], "failed": [...]} (oldest second first). Returns 0,
 * -ENOENT (no series for that queue: unknown, or past the cap) or buf_append's error. */
int srv_rates_json(buf *out, const char *queue, size_t queue_len);

#endif
