/* server/srv_stream_watch: what a partition's owner keeps for the waiters of its streams'
 * consumers — a watch (srv_cwatch) per consumer with waiters: Fetch jobs parked until a message
 * or their wait_ms, and Consume registrations (srv_stream_consume.c). A publish (or, under
 * --fsync always and interval, the commit covering it), a settle, a pause/reset and the shard's
 * consumer timer (the earliest redelivery, pause end or rate-limit refill of a watched consumer,
 * and at least once a second the ephemeral consumers' inactivity check) serve them. All on the
 * owner shard's thread: a watch table per shard. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "core/rt_clock.h"
#include "core/rt_log.h"
#include "queue/q_consumer.h"
#include "server/srv_stream_int.h"
#include "server/srv_stream_parts.h"

/* The ephemeral consumers' inactivity is checked at least this often. */
#define CONS_TICK_MS 1000u
/* Fetch: at most this many bytes of deliveries when max_bytes is 0 (the message limit). */
#define FETCH_BYTES_DEFAULT (4u << 20)
/* A Delivery's fields besides payload and headers, as q_consumer_next's per-message budget:
 * stream name, subject, numbers, framing. */
#define DELIVERY_OVERHEAD_BYTES (Q_STREAM_NAME_BYTES_MAX + Q_SUBJECT_BYTES_MAX + 128u)

typedef struct cons_shard {
    srv_cwatch *watches;
    ev_timer timer;
    uint64_t timer_at_ms;
    bool timer_ready;
    uint64_t last_tick_ms;
} cons_shard;

static cons_shard g_cs[RT_SHARDS_MAX];

static bool watch_is(const srv_cwatch *w, uint32_t part, const char *sn, size_t sl, const char *cn,
                     size_t cl)
{
    return w->part == part && w->sl == sl && memcmp(w->stream, sn, sl) == 0 &&
           (cn == NULL || (w->cl == cl && memcmp(w->cons, cn, cl) == 0));
}

srv_cwatch *srv_cwatch_get(uint32_t part, const char *sn, size_t sl, const char *cn, size_t cl,
                           bool create)
{
    cons_shard *cs = &g_cs[srv_q_self()];
    for (srv_cwatch *w = cs->watches; w; w = w->next)
        if (watch_is(w, part, sn, sl, cn, cl)) return w;
    if (!create || sl > Q_STREAM_NAME_BYTES_MAX || cl > Q_CONSUMER_NAME_BYTES_MAX) return NULL;
    srv_cwatch *w = rt_calloc(1, sizeof *w);
    if (!w) return NULL;
    w->part = part;
    memcpy(w->stream, sn, sl);
    w->sl = (uint32_t)sl;
    memcpy(w->cons, cn, cl);
    w->cl = (uint32_t)cl;
    w->next = cs->watches;
    cs->watches = w;
    return w;
}

void srv_cwatch_gc(srv_cwatch *w)
{
    if (w->fetch_head || w->subs) return;
    cons_shard *cs = &g_cs[srv_q_self()];
    for (srv_cwatch **pp = &cs->watches; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            rt_free(w);
            return;
        }
    }
}

uint32_t srv_cwatch_waiting(q_stream *s, q_consumer *c)
{
    q_consumer_info ci;
    q_consumer_info_fill(c, srv_q_now_ms(), &ci);
    uint32_t sl;
    const char *sn = q_stream_name(s, &sl);
    cons_shard *cs = &g_cs[srv_q_self()];
    uint32_t n = 0;
    for (srv_cwatch *w = cs->watches; w; w = w->next) {
        if (!watch_is(w, q_part_of(sn, sl, srv_q.nparts), sn, sl, ci.cfg.name, ci.cfg.name_len))
            continue;
        for (srv_job *j = w->fetch_head; j; j = j->wait_next) n++;
    }
    return n;
}

static void on_cons_timer(ev_loop *loop, ev_timer *t);

/* Arms the shard's consumer timer for at_ms (if earlier than armed). */
void srv_cons_timer_at(uint64_t at_ms)
{
    cons_shard *cs = &g_cs[srv_q_self()];
    srv_qshard *qs = &srv_q.shards[srv_q_self()];
    if (!cs->timer_ready || !qs->loop) return;
    if (ev_timer_armed(&cs->timer) && cs->timer_at_ms <= at_ms) return;
    uint64_t now = srv_q_now_ms();
    cs->timer_at_ms = at_ms;
    /* -ENOMEM (the timer heap could not grow): the next serve arms it again; until then a
     * publish, settle or commit still serves the consumers. */
    if (ev_timer_start(qs->loop, &cs->timer,
                       ev_loop_now(qs->loop) + (at_ms > now ? at_ms - now : 0) * RT_NS_PER_MS) < 0)
        log_warn("stream consumer timer not armed", "err=%d", -ENOMEM);
}

/* Fetch: what the job carries back: deliveries as FetchResponse entries (j->resp). */
static void fetch_fill(srv_job *j, srv_part *sp, q_stream *s, q_consumer *c, uint32_t *n,
                       uint64_t *commit_to)
{
    const pwm_ringq_v1_FetchRequest *r = srv_job_msg(j);
    uint32_t max = r->max_messages ? r->max_messages : 1;
    size_t budget = r->max_bytes ? (size_t)r->max_bytes : FETCH_BYTES_DEFAULT;
    if (budget > srv_q.max_msg_bytes - 1024) budget = srv_q.max_msg_bytes - 1024;
    q_delivery *d = rt_calloc(max, sizeof *d);
    q_err e;
    uint64_t next_ms = UINT64_MAX;
    *n = 0;
    if (!d) {
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    q_status st = q_consumer_next(c, srv_q_now_ms(), max, budget, DELIVERY_OVERHEAD_BYTES, d, n,
                                  &next_ms, commit_to, &e);
    if (st != Q_OK) srv_job_err(j, &e);
    uint64_t payload = 0;
    for (uint32_t i = 0; st == Q_OK && i < *n; i++) {
        if (srv_delivery_encode(&j->resp, SRV_DELIVERY_FETCH_ENTRY, s, &d[i]) < 0) {
            /* Handed out but not sent: they come back at their ack wait, as if lost. */
            srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the deliveries");
            break;
        }
        payload += d[i].msg.payload_len;
    }
    srv_count_payload(payload, payload);
    if (next_ms != UINT64_MAX) srv_cons_timer_at(next_ms);
    rt_free(d);
}

static void fetch_unpark(srv_cwatch *w, srv_job *j)
{
    if (j->wait_prev) j->wait_prev->wait_next = j->wait_next;
    else w->fetch_head = j->wait_next;
    if (j->wait_next) j->wait_next->wait_prev = j->wait_prev;
    else w->fetch_tail = j->wait_prev;
    j->wait_next = j->wait_prev = NULL;
    j->waitq = NULL;
}

static void on_fetch_timeout(ev_loop *loop, ev_timer *t);

/* Parks Fetch j on w (at the head: it keeps its turn, or at the tail) until its deadline; a
 * deadline that cannot be armed (out of memory) answers it now, empty. */
static void fetch_park(srv_cwatch *w, srv_job *j, srv_part *sp, bool head)
{
    if (head) {
        j->wait_prev = NULL;
        j->wait_next = w->fetch_head;
        if (w->fetch_head) w->fetch_head->wait_prev = j;
        else w->fetch_tail = j;
        w->fetch_head = j;
    } else {
        j->wait_prev = w->fetch_tail;
        j->wait_next = NULL;
        if (w->fetch_tail) w->fetch_tail->wait_next = j;
        else w->fetch_head = j;
        w->fetch_tail = j;
    }
    j->waitq = w;
    ev_timer_init(&j->timer, on_fetch_timeout, j);
    if (ev_timer_start(srv_q.shards[sp->shard].loop, &j->timer, j->wait_deadline_ns) == 0) return;
    fetch_unpark(w, j);
    srv_job_reply(j);
}

static void on_fetch_timeout(ev_loop *loop, ev_timer *t)
{
    srv_job *j = t->ud;
    srv_cwatch *w = j->waitq;
    if (w) {
        fetch_unpark(w, j);
        srv_cwatch_gc(w);
    }
    srv_job_reply(j); /* an empty FetchResponse */
}

/* Owner: tries a parked or new Fetch. true when it was answered (replied). */
static bool fetch_try(srv_job *j, srv_part *sp, q_stream *s, q_consumer *c)
{
    if (atomic_load_explicit(&j->cancelled, memory_order_relaxed) ||
        srv_runtime_draining(srv_shard_runtime(srv_shard_self()))) {
        srv_job_reply(j);
        return true;
    }
    uint32_t n = 0;
    uint64_t commit_to = 0;
    q_consumer_touch(c, srv_q_now_ms());
    fetch_fill(j, sp, s, c, &n, &commit_to);
    if (n == 0 && j->status == Q_OK &&
        j->wait_deadline_ns > ev_loop_now(srv_q.shards[sp->shard].loop))
        return false;
    if (commit_to) srv_job_reply_durable(j, sp);
    else srv_job_reply(j);
    return true;
}

static void serve_watch(srv_part *sp, q_stream *s, srv_cwatch *w)
{
    q_consumer *c = s ? q_consumer_find(s, w->cons, w->cl) : NULL;
    while (w->fetch_head) {
        srv_job *j = w->fetch_head;
        if (!c) {
            fetch_unpark(w, j);
            ev_timer_stop(srv_q.shards[sp->shard].loop, &j->timer);
            srv_job_fail(j, Q_NOT_FOUND, "consumer '%.*s' was deleted", (int)w->cl, w->cons);
            srv_job_reply(j);
            continue;
        }
        ev_timer_stop(srv_q.shards[sp->shard].loop, &j->timer);
        fetch_unpark(w, j);
        if (!fetch_try(j, sp, s, c)) { /* nothing for the first: nothing for the others */
            fetch_park(w, j, sp, true);
            break;
        }
    }
    srv_consume_serve_watch(sp, s, c, w);
    if (c) {
        uint64_t next = q_consumer_next_ms(c);
        if (next != UINT64_MAX && (w->fetch_head || w->subs)) srv_cons_timer_at(next);
    }
}

void srv_cons_serve_stream(srv_part *sp, q_stream *s)
{
    uint32_t sl;
    const char *sn = q_stream_name(s, &sl);
    cons_shard *cs = &g_cs[srv_q_self()];
    for (srv_cwatch *w = cs->watches, *next; w; w = next) {
        next = w->next;
        if (!watch_is(w, sp->no, sn, sl, NULL, 0)) continue;
        serve_watch(sp, s, w);
        srv_cwatch_gc(w);
    }
}

/* Every watch of this shard (the timer, a commit): serves them; a stream gone ends them. */
void srv_cons_serve_all(srv_part *only)
{
    cons_shard *cs = &g_cs[srv_q_self()];
    for (srv_cwatch *w = cs->watches, *next; w; w = next) {
        next = w->next;
        if (only && w->part != only->no) continue;
        srv_part *sp = srv_q_part(w->part);
        q_stream *s = sp ? q_stream_find(sp->p, w->stream, w->sl) : NULL;
        if (sp) serve_watch(sp, s, w);
        srv_cwatch_gc(w);
    }
}

/* Ephemeral consumers' inactivity, for the shard's partitions. */
static void tick_ephemerals(uint64_t now)
{
    srv_qshard *qs = &srv_q.shards[srv_q_self()];
    for (uint32_t k = 0; qs->parts && k < srv_q.nparts; k++) {
        srv_part *sp = qs->parts[k];
        if (!sp || q_stream_count(sp->p) == 0) continue;
        uint64_t next = UINT64_MAX;
        /* a partitioned stream's ephemeral consumer goes from every member at once */
        if (q_consumers_tick(sp->p, now, &next, srv_sparts_cons_gone, sp) > 0)
            srv_cons_serve_all(sp);
        if (next != UINT64_MAX) srv_cons_timer_at(next);
    }
}

static void on_cons_timer(ev_loop *loop, ev_timer *t)
{
    cons_shard *cs = t->ud;
    uint64_t now = srv_q_now_ms();
    if (now - cs->last_tick_ms >= CONS_TICK_MS) {
        cs->last_tick_ms = now;
        tick_ephemerals(now);
    }
    srv_cons_serve_all(NULL);
    srv_cons_timer_at(now + CONS_TICK_MS);
}

void srv_stream_cons_shard_init(int shard)
{
    cons_shard *cs = &g_cs[shard];
    memset(cs, 0, sizeof *cs);
    ev_timer_init(&cs->timer, on_cons_timer, cs);
    cs->timer_ready = srv_q.shards[shard].loop != NULL;
    if (cs->timer_ready) {
        srv_qshard *qs = &srv_q.shards[shard];
        cs->timer_at_ms = rt_wall_ns() / RT_NS_PER_MS + CONS_TICK_MS;
        if (ev_timer_start(qs->loop, &cs->timer,
                           ev_loop_now(qs->loop) + CONS_TICK_MS * RT_NS_PER_MS) < 0)
            log_warn("stream consumer timer not armed", "shard=%d", shard); /* next serve arms it */
    }
}

void srv_stream_cons_shard_fini(int shard)
{
    cons_shard *cs = &g_cs[shard];
    if (cs->timer_ready) ev_timer_stop(srv_q.shards[shard].loop, &cs->timer);
    cs->timer_ready = false;
    while (cs->watches) {
        srv_cwatch *w = cs->watches;
        cs->watches = w->next;
        while (w->fetch_head) {
            srv_job *j = w->fetch_head;
            fetch_unpark(w, j);
            ev_timer_stop(srv_q.shards[shard].loop, &j->timer);
        }
        srv_consume_free_subs(w);
        rt_free(w);
    }
}

void srv_stream_cons_drain(void)
{
    srv_consume_drain_shard();
    /* Parked Fetches answer now (with what they have: nothing). */
    cons_shard *cs = &g_cs[srv_q_self()];
    for (srv_cwatch *w = cs->watches; w; w = w->next) {
        while (w->fetch_head) {
            srv_job *j = w->fetch_head;
            fetch_unpark(w, j);
            ev_timer_stop(srv_q.shards[srv_q_self()].loop, &j->timer);
            srv_job_reply(j);
        }
    }
}

void srv_fetch_start(srv_job *j, srv_part *sp, q_stream *s, q_consumer *c)
{
    const pwm_ringq_v1_FetchRequest *r = srv_job_msg(j);
    srv_qshard *qs = &srv_q.shards[sp->shard];
    uint64_t wait = r->wait_ms;
    if (j->wait_ms_max && j->wait_ms_max < wait) wait = j->wait_ms_max;
    j->wait_deadline_ns = wait ? ev_loop_now(qs->loop) + wait * RT_NS_PER_MS : 0;
    if (fetch_try(j, sp, s, c)) return;
    srv_cwatch *w = srv_cwatch_get(sp->no, srv_chars(r->stream), r->stream.len,
                                   srv_chars(r->consumer), r->consumer.len, true);
    if (!w) {
        srv_job_reply(j);
        return;
    }
    fetch_park(w, j, sp, false);
}
