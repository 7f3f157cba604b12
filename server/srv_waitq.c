/* server/srv_waitq: Lease long-polls (and Work subscriptions) parked on one queue name of a
 * partition, with their deadlines. See srv_waitq.h. */
#include <string.h>

#include "core/rt_alloc.h"
#include "core/rt_clock.h"
#include "server/srv_queue_int.h"

srv_waitq *srv_part_waitq(srv_part *sp, const char *name, uint32_t name_len, bool create)
{
    for (srv_waitq *w = sp->waits; w; w = w->next)
        if (w->name_len == name_len && memcmp(w->name, name, name_len) == 0) return w;
    if (!create || name_len > Q_QUEUE_NAME_BYTES_MAX) return NULL;
    srv_waitq *w = rt_calloc(1, sizeof *w);
    if (!w) return NULL;
    memcpy(w->name, name, name_len);
    w->name_len = name_len;
    w->next = sp->waits;
    sp->waits = w;
    return w;
}

/* Frees a wait list nobody waits on any more (queue names come and go; the lists must not). */
void srv_part_waitq_gc(srv_part *sp, srv_waitq *wq)
{
    if (wq->head || wq->subs) return;
    for (srv_waitq **pp = &sp->waits; *pp; pp = &(*pp)->next)
        if (*pp == wq) {
            *pp = wq->next;
            rt_free(wq);
            return;
        }
}

static void waitq_unlink(srv_waitq *wq, srv_job *j)
{
    if (j->wait_prev) j->wait_prev->wait_next = j->wait_next;
    else wq->head = j->wait_next;
    if (j->wait_next) j->wait_next->wait_prev = j->wait_prev;
    else wq->tail = j->wait_prev;
    j->wait_next = j->wait_prev = NULL;
    j->waitq = NULL;
}

static void on_wait_timeout(ev_loop *loop, ev_timer *t)
{
    srv_job *j = t->ud;
    srv_waitq *wq = j->waitq;
    if (wq) {
        waitq_unlink(wq, j);
        srv_part *sp = srv_q_part(j->part_no);
        if (sp) srv_part_waitq_gc(sp, wq);
    }
    srv_job_reply(j); /* resp holds an empty response */
}

void srv_part_park(srv_part *sp, srv_job *j, const char *name, uint32_t name_len, uint64_t wait_ms,
                   srv_job_run_fn retry)
{
    srv_waitq *wq = srv_part_waitq(sp, name, name_len, true);
    if (!wq) {
        srv_job_reply(j);
        return;
    }
    j->run = retry;
    j->waitq = wq;
    j->wait_prev = wq->tail;
    j->wait_next = NULL;
    if (wq->tail) wq->tail->wait_next = j;
    else wq->head = j;
    wq->tail = j;
    srv_qshard *qs = &srv_q.shards[sp->shard];
    /* A job that re-parks keeps its first deadline. */
    if (!j->wait_deadline_ns) j->wait_deadline_ns = ev_loop_now(qs->loop) + wait_ms * RT_NS_PER_MS;
    ev_timer_init(&j->timer, on_wait_timeout, j);
    ev_timer_start(qs->loop, &j->timer, j->wait_deadline_ns);
}
