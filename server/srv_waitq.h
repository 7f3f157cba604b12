/* server/srv_waitq: Lease long-polls and Work subscriptions parked on one queue name of a
 * partition, on its owner shard. Everything here is owned by the owner shard's thread. */
#ifndef SRV_WAITQ_H
#define SRV_WAITQ_H

#include <stdbool.h>
#include <stdint.h>

#include "queue/q_part.h"
#include "server/srv_job.h"

/* Work streams (srv_queue_work.c): owner side of a subscription (the session is opaque here). */
struct srv_work;
typedef struct srv_sub {
    struct srv_work *w; /* names the session; the owner touches only its atomics (credits,
                         * closed), never its plain fields */
    int origin;        /* the session's shard, from the registration message */
    uint32_t lease_ms; /* the stream's, as of its latest registration or poke message */
    struct srv_sub *next;
} srv_sub;

/* Jobs (or Work subscriptions) parked on one queue name of a partition. */
typedef struct srv_waitq {
    char name[Q_QUEUE_NAME_BYTES_MAX + 1];
    uint32_t name_len;
    srv_job *head, *tail;        /* Lease long-polls, FIFO */
    struct srv_sub *subs;        /* Work subscriptions */
    struct srv_waitq *next;
} srv_waitq;

/* Owner side: park a Lease long-poll until tasks arrive or `deadline_ms` (wall clock). */
void srv_part_park(srv_part *sp, srv_job *j, const char *name, uint32_t name_len, uint64_t wait_ms,
                   srv_job_run_fn retry);
srv_waitq *srv_part_waitq(srv_part *sp, const char *name, uint32_t name_len, bool create);
void srv_part_waitq_gc(srv_part *sp, srv_waitq *wq);
/* Serves the Work subscriptions of wq (srv_queue_work.c). */
void srv_sub_serve(srv_part *sp, srv_waitq *wq);

#endif
