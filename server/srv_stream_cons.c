/* server/srv_stream_cons: consumers of a stream over ringq.v1.Streams — CreateConsumer,
 * GetConsumer, ListConsumers, DeleteConsumer, PauseConsumer, ResetConsumer, Fetch (long-poll)
 * and AckMessages — and what their owner shard keeps to serve them.
 *
 * Every call goes to the owner of the stream's partition as a job carrying the decoded request
 * (queue/q_consumer runs there). Calls that write (create, delete, pause, reset, settle, a Fetch
 * under ack policy none) answer once their records are durable.
 *
 * Owner side: a watch (srv_cwatch) per consumer that has waiters — Fetch jobs parked until a
 * message or their wait_ms, and Consume registrations (srv_stream_consume.c). A publish, a
 * commit, a settle, a pause/reset and the shard's consumer timer (the earliest redelivery, pause
 * end or rate-limit refill of a watched consumer, and at least once a second the ephemeral
 * consumers' inactivity check) serve the watches of that stream. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "core/rt_clock.h"
#include "proto_wire/pw_pb.h"
#include "queue/q_consumer.h"
#include "server/srv_auth.h"
#include "server/srv_stream_int.h"

static pw_pb_bytes view(const void *p, size_t n) { return (pw_pb_bytes){(const uint8_t *)p, n}; }

/* The ephemeral consumers' inactivity is checked at least this often. */
#define CONS_TICK_MS 1000u
/* Fetch: at most this many bytes of deliveries when max_bytes is 0 (the message limit). */
#define FETCH_BYTES_DEFAULT (4u << 20)
#define FETCH_MAX 1000u
#define FETCH_WAIT_MS_MAX 60000u
/* A Delivery's fields besides payload and headers, as q_consumer_next's per-message budget:
 * stream name, subject, numbers, framing. */
#define DELIVERY_OVERHEAD_BYTES (Q_STREAM_NAME_BYTES_MAX + Q_SUBJECT_BYTES_MAX + 128u)

uint32_t srv_stream_consumers(q_stream *s) { return q_consumer_count(s); }

/* ---- codec ---- */

q_status srv_consumer_cfg_from(const pwm_ringq_v1_ConsumerConfig *m, q_consumer_cfg *c, q_err *e)
{
    memset(c, 0, sizeof *c);
    e->code = Q_INVALID_ARGUMENT;
    if (!m) {
        snprintf(e->msg, sizeof e->msg, "config is required");
        return e->code;
    }
    if (m->filter_subjects_count > Q_FILTER_SET_MAX) {
        snprintf(e->msg, sizeof e->msg, "filter_subjects: at most %u, got %zu", Q_FILTER_SET_MAX,
                 m->filter_subjects_count);
        return e->code;
    }
    if (m->backoff_ms_count > Q_CONSUMER_BACKOFF_MAX) {
        snprintf(e->msg, sizeof e->msg, "backoff_ms: at most %u entries, got %zu",
                 Q_CONSUMER_BACKOFF_MAX, m->backoff_ms_count);
        return e->code;
    }
    c->name = srv_chars(m->name);
    c->name_len = (uint32_t)m->name.len;
    c->ephemeral = m->ephemeral;
    c->inactive_threshold_ms = m->inactive_threshold_ms;
    c->deliver_policy = (q_deliver_policy)m->deliver_policy;
    c->opt_start_seq = m->opt_start_seq;
    c->opt_start_unix_ms = m->opt_start_unix_ms;
    for (size_t i = 0; i < m->filter_subjects_count; i++)
        c->filters[i] = (q_subject_view){srv_chars(m->filter_subjects[i]),
                                         m->filter_subjects[i].len};
    c->nfilters = (uint32_t)m->filter_subjects_count;
    c->ack_policy = (q_ack_policy)m->ack_policy;
    c->ack_wait_ms = m->ack_wait_ms;
    c->max_deliver = m->max_deliver;
    for (size_t i = 0; i < m->backoff_ms_count; i++) c->backoff_ms[i] = m->backoff_ms[i];
    c->nbackoff = (uint32_t)m->backoff_ms_count;
    c->max_ack_pending = m->max_ack_pending;
    c->rate_limit_bytes_per_s = m->rate_limit_bytes_per_s;
    c->headers_only = m->headers_only;
    c->description = srv_chars(m->description);
    c->description_len = (uint32_t)m->description.len;
    e->code = Q_OK;
    e->msg[0] = 0;
    return Q_OK;
}

/* ConsumerInfo of c into out (as the message, or as field `field`). 0 or a negative errno. */
int srv_consumer_info_encode(buf *out, uint32_t field, q_stream *s, q_consumer *c)
{
    q_consumer_info ci;
    q_consumer_info_fill(c, srv_q_now_ms(), &ci);
    pw_pb_bytes filters[Q_FILTER_SET_MAX];
    for (uint32_t i = 0; i < ci.cfg.nfilters; i++)
        filters[i] = view(ci.cfg.filters[i].ptr, ci.cfg.filters[i].len);
    pwm_ringq_v1_ConsumerConfig cfg = {
        .name = view(ci.cfg.name, ci.cfg.name_len),
        .ephemeral = ci.cfg.ephemeral,
        .inactive_threshold_ms = ci.cfg.inactive_threshold_ms,
        .deliver_policy = (int32_t)ci.cfg.deliver_policy,
        .opt_start_seq = ci.cfg.opt_start_seq,
        .opt_start_unix_ms = ci.cfg.opt_start_unix_ms,
        .filter_subjects = filters,
        .filter_subjects_count = ci.cfg.nfilters,
        .ack_policy = (int32_t)ci.cfg.ack_policy,
        .ack_wait_ms = ci.cfg.ack_wait_ms,
        .max_deliver = ci.cfg.max_deliver,
        .backoff_ms = ci.cfg.backoff_ms,
        .backoff_ms_count = ci.cfg.nbackoff,
        .max_ack_pending = ci.cfg.max_ack_pending,
        .rate_limit_bytes_per_s = ci.cfg.rate_limit_bytes_per_s,
        .headers_only = ci.cfg.headers_only,
        .description = view(ci.cfg.description, ci.cfg.description_len),
    };
    pwm_ringq_v1_ConsumerState st = {
        .delivered_consumer_seq = ci.state.delivered_consumer_seq,
        .delivered_stream_seq = ci.state.delivered_stream_seq,
        .ack_floor_stream_seq = ci.state.ack_floor_stream_seq,
        .num_ack_pending = ci.state.num_ack_pending,
        .num_redelivered = ci.state.num_redelivered,
        .num_pending = ci.state.num_pending,
        .num_waiting = srv_cwatch_waiting(s, c),
        .clients = ci.state.clients,
        .paused_until_unix_ms = ci.state.paused_until_ms,
        .num_terminated = ci.state.num_terminated,
        .position_seq = ci.state.position_seq,
    };
    uint32_t nl;
    const char *sn = q_stream_name(s, &nl);
    pwm_ringq_v1_ConsumerInfo info = {
        .stream = view(sn, nl), .config = &cfg, .state = &st, .created_unix_ms = ci.created_ms};
    return field ? pw_msg_encode_field(&pwm_ringq_v1_ConsumerInfo_desc, &info, field, out)
                 : pw_msg_encode(&pwm_ringq_v1_ConsumerInfo_desc, &info, out);
}

int srv_delivery_encode(buf *out, srv_delivery_frame frame, q_stream *s, const q_delivery *d)
{
    uint32_t nl;
    const char *sn = q_stream_name(s, &nl);
    pwm_ringq_v1_StreamMessage_HeadersEntry hs[Q_HEADERS_MAX];
    pwm_ringq_v1_StreamMessage sm;
    int r = srv_smsg_view(&sm, hs, sn, nl, &d->msg, d->msg.payload == NULL);
    if (r < 0) return r;
    pwm_ringq_v1_Delivery dv = {.message = &sm,
                                .consumer_seq = d->consumer_seq,
                                .delivery_count = d->delivery_count,
                                .token = d->token,
                                .pending = d->pending};
    if (frame == SRV_DELIVERY_FETCH_ENTRY)
        return pw_msg_encode_field(&pwm_ringq_v1_Delivery_desc, &dv,
                                   pwm_ringq_v1_FetchResponse_FIELD_deliveries, out);
    pwm_ringq_v1_ConsumeResponse cr = {.kind_case = pwm_ringq_v1_ConsumeResponse_FIELD_delivery,
                                       .delivery = &dv};
    return srv_grpc_encode_framed(out, &pwm_ringq_v1_ConsumeResponse_desc, &cr);
}

/* ---- owner side: watches ---- */

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
    ev_timer_start(qs->loop, &cs->timer,
                   ev_loop_now(qs->loop) + (at_ms > now ? at_ms - now : 0) * RT_NS_PER_MS);
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
            j->wait_next = w->fetch_head;
            if (w->fetch_head) w->fetch_head->wait_prev = j;
            else w->fetch_tail = j;
            w->fetch_head = j;
            j->waitq = w;
            ev_timer_start(srv_q.shards[sp->shard].loop, &j->timer, j->wait_deadline_ns);
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
        if (q_consumers_tick(sp->p, now, &next) > 0) srv_cons_serve_all(sp);
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
        ev_timer_start(qs->loop, &cs->timer, ev_loop_now(qs->loop) + CONS_TICK_MS * RT_NS_PER_MS);
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

/* ---- handlers ---- */

/* Owner: the request's stream and consumer (names at the struct's start: every consumer
 * request begins {stream, name}), or NULL with the job's status set. */
typedef struct cons_key {
    pw_pb_bytes stream, name;
} cons_key;

static q_consumer *find_consumer(srv_job *j, srv_part *sp, q_stream **s)
{
    const cons_key *k = srv_job_msg(j);
    *s = srv_stream_find(j, sp, k->stream);
    if (!*s) return NULL;
    q_consumer *c = q_consumer_find(*s, srv_chars(k->name), k->name.len);
    if (!c)
        srv_job_fail(j, Q_NOT_FOUND, "stream %.*s has no consumer '%.*s'", (int)k->stream.len,
                     srv_chars(k->stream), (int)k->name.len, srv_chars(k->name));
    return c;
}

#define CONS_KEY_LAYOUT(Msg, second)                                                     \
    _Static_assert(offsetof(pwm_ringq_v1_##Msg, stream) == offsetof(cons_key, stream) && \
                       offsetof(pwm_ringq_v1_##Msg, second) == offsetof(cons_key, name), \
                   #Msg " begins {stream, name}")
CONS_KEY_LAYOUT(GetConsumerRequest, name);
CONS_KEY_LAYOUT(DeleteConsumerRequest, name);
CONS_KEY_LAYOUT(PauseConsumerRequest, name);
CONS_KEY_LAYOUT(ResetConsumerRequest, name);
CONS_KEY_LAYOUT(FetchRequest, consumer);
CONS_KEY_LAYOUT(AckMessagesRequest, consumer);

static void put_consumer(srv_job *j, q_stream *s, q_consumer *c)
{
    if (srv_consumer_info_encode(&j->resp, 0, s, c) < 0)
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the reply");
}

static void run_create(srv_job *j, srv_part *sp)
{
    const pwm_ringq_v1_CreateConsumerRequest *r = srv_job_msg(j);
    q_stream *s = srv_stream_find(j, sp, r->stream);
    q_consumer_cfg cfg;
    q_err e;
    q_consumer *c = NULL;
    uint64_t commit_to = 0;
    if (s && srv_consumer_cfg_from(r->config, &cfg, &e) == Q_OK &&
        q_consumer_create(sp->p, s, &cfg, srv_q_now_ms(), &c, &commit_to, &e) == Q_OK)
        put_consumer(j, s, c);
    else if (s) srv_job_err(j, &e);
    srv_job_reply_durable(j, sp);
}

static void run_get(srv_job *j, srv_part *sp)
{
    q_stream *s;
    q_consumer *c = find_consumer(j, sp, &s);
    if (c) put_consumer(j, s, c);
    srv_job_reply(j);
}

static void run_delete(srv_job *j, srv_part *sp)
{
    const pwm_ringq_v1_DeleteConsumerRequest *r = srv_job_msg(j);
    q_stream *s = srv_stream_find(j, sp, r->stream);
    q_err e;
    uint64_t commit_to = 0;
    if (s && q_consumer_delete(sp->p, s, srv_chars(r->name), r->name.len, srv_q_now_ms(),
                               &commit_to, &e) != Q_OK)
        srv_job_err(j, &e);
    else if (s && pw_msg_encode(&pwm_ringq_v1_DeleteConsumerResponse_desc,
                                &(pwm_ringq_v1_DeleteConsumerResponse){0}, &j->resp) < 0)
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the reply");
    if (s) srv_cons_serve_stream(sp, s); /* its waiters end NOT_FOUND */
    srv_job_reply_durable(j, sp);
}

static void run_pause(srv_job *j, srv_part *sp)
{
    const pwm_ringq_v1_PauseConsumerRequest *r = srv_job_msg(j);
    q_stream *s;
    q_consumer *c = find_consumer(j, sp, &s);
    q_err e;
    uint64_t commit_to = 0;
    if (c && q_consumer_pause(c, r->until_unix_ms, srv_q_now_ms(), &commit_to, &e) != Q_OK)
        srv_job_err(j, &e);
    else if (c) put_consumer(j, s, c);
    if (c) srv_cons_serve_stream(sp, s);
    if (c && r->until_unix_ms) srv_cons_timer_at(r->until_unix_ms);
    srv_job_reply_durable(j, sp);
}

static void run_reset(srv_job *j, srv_part *sp)
{
    const pwm_ringq_v1_ResetConsumerRequest *r = srv_job_msg(j);
    q_stream *s;
    q_consumer *c = find_consumer(j, sp, &s);
    q_err e;
    uint64_t commit_to = 0;
    bool by_time = r->to_case == pwm_ringq_v1_ResetConsumerRequest_FIELD_unix_ms;
    if (c && q_consumer_reset(c, by_time, by_time ? r->unix_ms : r->seq, srv_q_now_ms(), &commit_to,
                              &e) != Q_OK)
        srv_job_err(j, &e);
    else if (c) put_consumer(j, s, c);
    if (c) srv_cons_serve_stream(sp, s);
    srv_job_reply_durable(j, sp);
}

static void run_list(srv_job *j, srv_part *sp)
{
    const pwm_ringq_v1_ListConsumersRequest *r = srv_job_msg(j);
    q_stream *s = srv_stream_find(j, sp, r->stream);
    if (!s) {
        srv_job_reply(j);
        return;
    }
    uint32_t page = r->page_size ? r->page_size : 100, n = 0;
    bool more = false;
    q_consumer_info *ci = rt_calloc(page, sizeof *ci);
    if (!ci) {
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory");
        srv_job_reply(j);
        return;
    }
    q_consumer_list(s, srv_chars(r->page_token), r->page_token.len, page, srv_q_now_ms(), ci, &n,
                    &more);
    int rc = 0;
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        q_consumer *c = q_consumer_find(s, ci[i].cfg.name, ci[i].cfg.name_len);
        if (c)
            rc = srv_consumer_info_encode(&j->resp,
                                          pwm_ringq_v1_ListConsumersResponse_FIELD_consumers, s, c);
    }
    pwm_ringq_v1_ListConsumersResponse tail = {0};
    if (more && n) tail.next_page_token = view(ci[n - 1].cfg.name, ci[n - 1].cfg.name_len);
    if (rc == 0) rc = pw_msg_encode(&pwm_ringq_v1_ListConsumersResponse_desc, &tail, &j->resp);
    if (rc < 0) srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the page");
    rt_free(ci);
    srv_job_reply(j);
}

/* Settles refs on consumer c; the results as AckMessagesResponse.results entries (or
 * ConsumeResult.results: the same ItemStatus field layout is written by field number `field`)
 * into out. Q_OK or the call's status (e). *commit_to for the reply. */
q_status srv_cons_settle(srv_part *sp, q_stream *s, q_consumer *c, const pwm_ringq_v1_Acks *a,
                         uint32_t field, buf *out, uint64_t *commit_to, q_err *e)
{
    e->code = Q_INVALID_ARGUMENT;
    if (!a || a->refs_count == 0 || a->refs_count > Q_BATCH_MAX) {
        snprintf(e->msg, sizeof e->msg, "acks.refs: 1..%u deliveries, got %zu", Q_BATCH_MAX,
                 a ? a->refs_count : 0);
        return e->code;
    }
    uint32_t n = (uint32_t)a->refs_count;
    q_ack_ref *refs = rt_calloc(n, sizeof *refs);
    q_item *items = rt_calloc(n, sizeof *items);
    q_status st = Q_RESOURCE_EXHAUSTED;
    snprintf(e->msg, sizeof e->msg, "out of memory");
    if (refs && items) {
        for (uint32_t i = 0; i < n; i++)
            refs[i] = (q_ack_ref){a->refs[i].stream_seq, a->refs[i].token};
        q_acks qa = {.kind = a->kind ? (q_ack_kind)a->kind : Q_ACK_ACK,
                     .refs = refs,
                     .n = n,
                     .has_delay = a->has_delay_ms,
                     .delay_ms = a->delay_ms,
                     .reason = srv_chars(a->reason),
                     .reason_len = (uint32_t)a->reason.len};
        q_consumer_touch(c, srv_q_now_ms());
        st = q_consumer_settle(c, &qa, srv_q_now_ms(), items, commit_to, e);
        for (uint32_t i = 0; st == Q_OK && i < n; i++) {
            char id[24];
            int il = snprintf(id, sizeof id, "%llu", (unsigned long long)refs[i].seq);
            const char *why = items[i].why ? items[i].why : "";
            pwm_ringq_v1_ItemStatus is = {view(id, (size_t)il), (uint32_t)items[i].code,
                                          view(why, strlen(why))};
            if (pw_msg_encode_field(&pwm_ringq_v1_ItemStatus_desc, &is, field, out) < 0) {
                st = e->code = Q_RESOURCE_EXHAUSTED;
                snprintf(e->msg, sizeof e->msg, "settled, but the answer could not be encoded");
            }
        }
    }
    rt_free(refs);
    rt_free(items);
    if (st == Q_OK) srv_cons_serve_stream(sp, s); /* naks and acks free room: deliver */
    return st;
}

static void run_ack(srv_job *j, srv_part *sp)
{
    const pwm_ringq_v1_AckMessagesRequest *r = srv_job_msg(j);
    q_stream *s;
    q_consumer *c = find_consumer(j, sp, &s);
    q_err e;
    uint64_t commit_to = 0;
    if (c && srv_cons_settle(sp, s, c, r->acks, pwm_ringq_v1_AckMessagesResponse_FIELD_results,
                             &j->resp, &commit_to, &e) != Q_OK)
        srv_job_err(j, &e);
    srv_job_reply_durable(j, sp);
}

static void run_fetch(srv_job *j, srv_part *sp)
{
    const pwm_ringq_v1_FetchRequest *r = srv_job_msg(j);
    q_stream *s;
    q_consumer *c = find_consumer(j, sp, &s);
    if (!c) {
        srv_job_reply(j);
        return;
    }
    srv_qshard *qs = &srv_q.shards[sp->shard];
    uint64_t wait = r->wait_ms;
    if (j->wait_ms_max && j->wait_ms_max < wait) wait = j->wait_ms_max;
    j->wait_deadline_ns = wait ? ev_loop_now(qs->loop) + wait * RT_NS_PER_MS : 0;
    if (fetch_try(j, sp, s, c)) return;
    srv_cwatch *w = srv_cwatch_get(sp->no, r->stream.ptr ? (const char *)r->stream.ptr : "",
                                   r->stream.len, srv_chars(r->consumer), r->consumer.len, true);
    if (!w) {
        srv_job_reply(j);
        return;
    }
    j->waitq = w;
    j->wait_prev = w->fetch_tail;
    j->wait_next = NULL;
    if (w->fetch_tail) w->fetch_tail->wait_next = j;
    else w->fetch_head = j;
    w->fetch_tail = j;
    ev_timer_init(&j->timer, on_fetch_timeout, j);
    ev_timer_start(qs->loop, &j->timer, j->wait_deadline_ns);
}

static void on_fetch_cancel(pw_grpc_call *c, pw_grpc_status st)
{
    srv_job *j = pw_grpc_call_user(c);
    if (j) atomic_store_explicit(&j->cancelled, true, memory_order_relaxed);
}

/* Origin: the Fetch is back (answered or cancelled). */
static void fetch_done(srv_job *j)
{
    if (j->call) pw_grpc_call_set_user(j->call, NULL);
    srv_job_decoded_done(j); /* answers and frees the decode; the job is freed after */
}

static bool check_names(srv_job *j, const cons_key *k)
{
    q_err e;
    if (!srv_stream_check_name(j, k->stream)) return false;
    if (q_stream_name_check(srv_chars(k->name), k->name.len, &e) == Q_OK) return true;
    srv_job_fail(j, Q_INVALID_ARGUMENT, "consumer %s", e.msg);
    return false;
}

/* Routes a consumer call by its stream; refuses bad names on the origin. */
static void cons_route(srv_job *j, srv_job_run_fn run)
{
    const cons_key *k = srv_job_msg(j);
    if (!check_names(j, k)) {
        srv_job_decoded_refuse(j);
        return;
    }
    srv_stream_route(j, k->stream, run);
}

#define CONS_ROUTED(fn, Msg, run)                                          \
    static void fn(pw_grpc_call *c, const uint8_t *m, size_t n)            \
    {                                                                      \
        if (srv_stream_reject_draining(c)) return;                         \
        srv_job *j = srv_job_decoded(c, m, n, &pwm_ringq_v1_##Msg##_desc); \
        if (j) cons_route(j, run);                                         \
    }

CONS_ROUTED(on_get, GetConsumerRequest, run_get)
CONS_ROUTED(on_delete, DeleteConsumerRequest, run_delete)
CONS_ROUTED(on_pause, PauseConsumerRequest, run_pause)
CONS_ROUTED(on_reset, ResetConsumerRequest, run_reset)
CONS_ROUTED(on_ack, AckMessagesRequest, run_ack)

static void on_create(pw_grpc_call *c, const uint8_t *m, size_t n)
{
    if (srv_stream_reject_draining(c)) return;
    srv_job *j = srv_job_decoded(c, m, n, &pwm_ringq_v1_CreateConsumerRequest_desc);
    if (!j) return;
    const pwm_ringq_v1_CreateConsumerRequest *r = srv_job_msg(j);
    q_consumer_cfg cfg;
    q_err e;
    if (srv_consumer_cfg_from(r->config, &cfg, &e) != Q_OK) {
        srv_job_err(j, &e);
        srv_job_decoded_refuse(j);
        return;
    }
    srv_stream_route(j, r->stream, run_create);
}

static void on_list(pw_grpc_call *c, const uint8_t *m, size_t n)
{
    if (srv_stream_reject_draining(c)) return;
    srv_job *j = srv_job_decoded(c, m, n, &pwm_ringq_v1_ListConsumersRequest_desc);
    if (!j) return;
    const pwm_ringq_v1_ListConsumersRequest *r = srv_job_msg(j);
    if (r->page_size > 1000) {
        srv_job_fail(j, Q_INVALID_ARGUMENT, "page_size must be 1..1000 (0: 100)");
        srv_job_decoded_refuse(j);
        return;
    }
    srv_stream_route(j, r->stream, run_list);
}

static void on_fetch(pw_grpc_call *c, const uint8_t *m, size_t n)
{
    if (srv_stream_reject_draining(c)) return;
    srv_job *j = srv_job_decoded(c, m, n, &pwm_ringq_v1_FetchRequest_desc);
    if (!j) return;
    const pwm_ringq_v1_FetchRequest *r = srv_job_msg(j);
    if (r->max_messages > FETCH_MAX || r->wait_ms > FETCH_WAIT_MS_MAX) {
        srv_job_fail(j, Q_INVALID_ARGUMENT,
                     r->max_messages > FETCH_MAX ? "max_messages must be 1..1000 (0: 1)"
                                                 : "wait_ms must be at most 60000");
        srv_job_decoded_refuse(j);
        return;
    }
    if (!check_names(j, (const cons_key *)r) ||
        !srv_auth_call_named(c, SRV_AUTH_STREAM, srv_chars(r->stream), r->stream.len)) {
        srv_job_decoded_refuse(j);
        return;
    }
    uint64_t dl = pw_grpc_call_deadline(c);
    if (dl != UINT64_MAX) { /* answer a little before the client's deadline */
        uint64_t now = rt_now_ns(), left_ms = dl > now ? (dl - now) / RT_NS_PER_MS : 0;
        j->wait_ms_max = left_ms > 50 ? left_ms - 50 : 1;
    }
    pw_grpc_call_set_user(c, j);
    srv_job_dispatch(j, q_part_of(srv_chars(r->stream), r->stream.len, srv_q.nparts), run_fetch,
                     fetch_done);
}

int srv_stream_cons_add_methods(pw_grpc_server *g)
{
    static const pw_grpc_method m[] = {
        {.path = pwm_ringq_v1_Streams_CreateConsumer_PATH, .on_message = on_create},
        {.path = pwm_ringq_v1_Streams_GetConsumer_PATH, .on_message = on_get},
        {.path = pwm_ringq_v1_Streams_ListConsumers_PATH, .on_message = on_list},
        {.path = pwm_ringq_v1_Streams_DeleteConsumer_PATH, .on_message = on_delete},
        {.path = pwm_ringq_v1_Streams_PauseConsumer_PATH, .on_message = on_pause},
        {.path = pwm_ringq_v1_Streams_ResetConsumer_PATH, .on_message = on_reset},
        {.path = pwm_ringq_v1_Streams_Fetch_PATH,
         .on_message = on_fetch,
         .on_cancel = on_fetch_cancel},
        {.path = pwm_ringq_v1_Streams_AckMessages_PATH, .on_message = on_ack},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        int r = pw_grpc_server_add_method(g, &m[i]);
        if (r < 0) return r;
    }
    return srv_stream_consume_add_method(g);
}
