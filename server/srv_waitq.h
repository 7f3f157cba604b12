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
#define SRV_HOLDER_BYTES 128 /* a holder's worker id or address kept (longer ones are cut) */

typedef struct srv_sub {
    struct srv_work *w; /* names the session; the owner touches only its atomics (credits,
                         * closed), never its plain fields */
    int origin;         /* the session's shard, from the registration message */
    uint32_t lease_ms;  /* the stream's, as of its latest registration or poke message */
    struct srv_sub *next;
    /* The tasks this registration delivered (id + lease token), for the release when the
     * stream ends (srv_work_hold.c). Entries whose lease has ended (acked, nacked, expired,
     * re-leased) are pruned when the arrays fill, so what is live stays within the stream's
     * credits (<= 10000); owned, freed with the registration. */
    uint64_t *held_ids, *held_toks;
    uint32_t nheld, held_cap;
    char worker[SRV_HOLDER_BYTES]; /* the stream's ringq-worker-id, else its peer address */
    char addr[SRV_HOLDER_BYTES];   /* the stream's peer address ("" when unknown) */
} srv_sub;

/* Owner side (srv_work_hold.c). Records that registration s delivered task id with token;
 * out of memory leaves it untracked (its lease deadline still brings it back). */
void srv_sub_hold(srv_part *sp, srv_sub *s, uint64_t id, uint64_t token);
/* The stream of s ended: releases the tasks it still holds (q_part_release), a record each,
 * and schedules the partition's tick to commit them and serve the tasks again. */
void srv_sub_release(srv_part *sp, srv_sub *s);
/* The registration message of a Work stream for queue `name`: the name, NUL, the holder's
 * worker id, NUL, its address (names hold no NUL). A new job (NULL: out of memory). */
srv_job *srv_sub_register_job(const char *name, uint32_t name_len,
                              const char worker[SRV_HOLDER_BYTES],
                              const char addr[SRV_HOLDER_BYTES]);
/* On the owner: the queue name's length in registration job j, and its holder into s. */
uint32_t srv_sub_register_name_len(const srv_job *j);
void srv_sub_register_holder(const srv_job *j, srv_sub *s);
/* Frees s and what it owns (not unlinking it). */
void srv_sub_free(srv_sub *s);

/* Jobs (or Work subscriptions) parked on one queue name of a partition. */
typedef struct srv_waitq {
    char name[Q_QUEUE_NAME_BYTES_MAX + 1];
    uint32_t name_len;
    srv_job *head, *tail; /* Lease long-polls, FIFO */
    struct srv_sub *subs; /* Work subscriptions */
    struct srv_waitq *next;
    uint64_t serve_probes;   /* reads of the queue's state by srv_sub_serve (one per claim, and
                            * one per pass that ends on "nothing to deliver"), for tests */
    uint64_t serve_cuts;     /* passes cut at WORK_SERVE_PASS_TASKS_MAX (srv_work_serve.c) */
    uint32_t serve_pass_max; /* the most tasks one pass delivered, for tests */
} srv_waitq;

/* The registration of wq that holds task id with token now, or NULL. */
const srv_sub *srv_sub_holder(srv_part *sp, const srv_waitq *wq, uint64_t id, uint64_t token);

/* Owner side: park a Lease long-poll until tasks arrive or `deadline_ms` (wall clock). */
void srv_part_park(srv_part *sp, srv_job *j, const char *name, uint32_t name_len, uint64_t wait_ms,
                   srv_job_run_fn retry);
srv_waitq *srv_part_waitq(srv_part *sp, const char *name, uint32_t name_len, bool create);
void srv_part_waitq_gc(srv_part *sp, srv_waitq *wq);
/* Tasks one delivery pass leases and encodes before it gives the shard back (two claims of
 * WORK_DELIVER_BATCH, ~0.1-0.4 ms of the shard at 100 B-2 KiB). A pass used to run until the
 * credits or the ready tasks ran out: after a backlog, every worker's credits (the bench's
 * 4 x 256) in one mesh handler. A cut pass repokes the stream whose turn was next, so a later
 * (time-bounded) mesh poll serves the rest (srv_work_serve.c serve_later). */
#define WORK_SERVE_PASS_TASKS_MAX 128u
/* Serves the Work subscriptions of wq (srv_work_serve.c): one claim per registration in turn,
 * a cut pass's rest starting with the registration whose turn was next, at most
 * WORK_SERVE_PASS_TASKS_MAX tasks (a claim is cut to the room left), the rest from a later mesh
 * poll. */
void srv_sub_serve(srv_part *sp, srv_waitq *wq);

#endif
