/* server/srv_stream_parts_cons: consumers of a partitioned stream (srv_stream_parts.h).
 *
 * A consumer of a partitioned stream is one consumer of the same name and configuration on
 * every member: each keeps its own position, pending deliveries and acks in its member's log
 * (so a durable one resumes per member after kill -9). Admin calls run on every member and
 * merge; an ack goes to the member its stream sequence names; a Fetch asks the members in
 * turn (below). */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "queue/q_consumer.h"
#include "server/srv_auth.h"
#include "server/srv_stream_int.h"
#include "server/srv_stream_parts.h"

#define SPC_ARENA_CHUNK_BYTES ((size_t)16 << 10)
#define SPC_ARENA_LIMIT_BYTES ((size_t)64 << 20) /* a Fetch reply: 1000 deliveries' views */
/* A FetchRequest's encoded size at most: two names, three integers and their tags. */
#define SPC_FETCH_REQ_BYTES_MAX (2u * (Q_STREAM_NAME_BYTES_MAX + 3u) + 3u * 11u)

/* ---- ConsumerInfo merge ---- */

/* Folds another member's ConsumerState into sum (member 0's to start with). */
static void cons_fold(pwm_ringq_v1_ConsumerState *sum, const pwm_ringq_v1_ConsumerState *m)
{
    if (m->delivered_consumer_seq > sum->delivered_consumer_seq) /* joined: the set's highest */
        sum->delivered_consumer_seq = m->delivered_consumer_seq;
    if (m->delivered_stream_seq > sum->delivered_stream_seq)
        sum->delivered_stream_seq = m->delivered_stream_seq;
    if (m->ack_floor_stream_seq < sum->ack_floor_stream_seq)
        sum->ack_floor_stream_seq = m->ack_floor_stream_seq;
    if (m->position_seq < sum->position_seq) sum->position_seq = m->position_seq;
    sum->num_ack_pending += m->num_ack_pending;
    sum->num_redelivered += m->num_redelivered;
    sum->num_pending += m->num_pending;
    sum->num_waiting += m->num_waiting;
    sum->num_terminated += m->num_terminated;
}

/* The configuration's opt_start_seq (each member's first at or after the request's, joined):
 * the lowest over the members is the request's own. */
static void cfg_fold(pwm_ringq_v1_ConsumerConfig *sum, const pwm_ringq_v1_ConsumerConfig *m)
{
    if (m && m->opt_start_seq && (!sum->opt_start_seq || m->opt_start_seq < sum->opt_start_seq))
        sum->opt_start_seq = m->opt_start_seq;
}

int srv_sparts_cons_merge(buf *out, const srv_sfan *f)
{
    pw_msg_arena *ar = rt_calloc(f->parts, sizeof *ar);
    pwm_ringq_v1_ConsumerInfo *in = rt_calloc(f->parts, sizeof *in);
    int rc = ar && in ? 0 : -ENOMEM;
    uint32_t k = 0;
    for (; rc == 0 && k < f->parts; k++) {
        pw_msg_arena_init_heap(&ar[k], SPC_ARENA_CHUNK_BYTES, SPC_ARENA_LIMIT_BYTES);
        rc = pw_msg_decode(&pwm_ringq_v1_ConsumerInfo_desc, &in[k], buf_begin(&f->resp[k]),
                           buf_size(&f->resp[k]), &ar[k]);
        if (rc == 0 && !in[k].state) rc = -EBADMSG;
    }
    if (rc == 0 && !in[0].config) rc = -EBADMSG;
    if (rc == 0) {
        pwm_ringq_v1_ConsumerState sum = *in[0].state;
        pwm_ringq_v1_ConsumerConfig cfg = *in[0].config;
        for (uint32_t i = 1; i < f->parts; i++) {
            cons_fold(&sum, in[i].state);
            cfg_fold(&cfg, in[i].config);
        }
        in[0].state = &sum;
        in[0].config = &cfg;
        rc = pw_msg_encode(&pwm_ringq_v1_ConsumerInfo_desc, &in[0], out);
    }
    for (uint32_t i = 0; i < k; i++) pw_msg_arena_deinit(&ar[i]);
    rt_free(in);
    rt_free(ar);
    return rc;
}

static void info_done(srv_sfan *f)
{
    srv_job *j = f->ctx;
    if (f->status == Q_OK && srv_sparts_cons_merge(&j->resp, f) < 0)
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the reply");
    srv_sparts_call_end(f);
}

/* ListConsumers: member 0's page (every member has the same consumers, in the same name order),
 * each consumer's state folded with its namesakes'. */
static bool same_name(const pwm_ringq_v1_ConsumerInfo *a, const pwm_ringq_v1_ConsumerInfo *b)
{
    return a->config && b->config && a->config->name.len == b->config->name.len &&
           memcmp(a->config->name.ptr, b->config->name.ptr, a->config->name.len) == 0;
}

static int list_merge(const srv_sfan *f, buf *out)
{
    pw_msg_arena *ar = rt_calloc(f->parts, sizeof *ar);
    pwm_ringq_v1_ListConsumersResponse *in = rt_calloc(f->parts, sizeof *in);
    int rc = ar && in ? 0 : -ENOMEM;
    uint32_t k = 0;
    for (; rc == 0 && k < f->parts; k++) {
        pw_msg_arena_init_heap(&ar[k], SPC_ARENA_CHUNK_BYTES, SPC_ARENA_LIMIT_BYTES);
        rc = pw_msg_decode(&pwm_ringq_v1_ListConsumersResponse_desc, &in[k], buf_begin(&f->resp[k]),
                           buf_size(&f->resp[k]), &ar[k]);
    }
    for (size_t i = 0; rc == 0 && i < in[0].consumers_count; i++) {
        pwm_ringq_v1_ConsumerInfo ci = in[0].consumers[i];
        if (!ci.state || !ci.config) continue;
        pwm_ringq_v1_ConsumerState sum = *ci.state;
        pwm_ringq_v1_ConsumerConfig cfg = *ci.config;
        for (uint32_t m = 1; m < f->parts; m++)
            for (size_t t = 0; t < in[m].consumers_count; t++) {
                size_t x = (i + t) % in[m].consumers_count; /* the same index, as a rule */
                if (in[m].consumers[x].state && same_name(&ci, &in[m].consumers[x])) {
                    cons_fold(&sum, in[m].consumers[x].state);
                    cfg_fold(&cfg, in[m].consumers[x].config);
                    break;
                }
            }
        ci.state = &sum;
        ci.config = &cfg;
        rc = pw_msg_encode_field(&pwm_ringq_v1_ConsumerInfo_desc, &ci,
                                 pwm_ringq_v1_ListConsumersResponse_FIELD_consumers, out);
    }
    if (rc == 0) {
        pwm_ringq_v1_ListConsumersResponse tail = {.next_page_token = in[0].next_page_token};
        rc = pw_msg_encode(&pwm_ringq_v1_ListConsumersResponse_desc, &tail, out);
    }
    for (uint32_t i = 0; i < k; i++) pw_msg_arena_deinit(&ar[i]);
    rt_free(in);
    rt_free(ar);
    return rc;
}

static void list_done(srv_sfan *f)
{
    srv_job *j = f->ctx;
    if (f->status == Q_OK && list_merge(f, &j->resp) < 0)
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the page");
    srv_sparts_call_end(f);
}

static void delete_done(srv_sfan *f)
{
    srv_job *j = f->ctx;
    if (f->status == Q_OK && buf_append(&j->resp, buf_begin(&f->resp[0]), buf_size(&f->resp[0])))
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the reply");
    srv_sparts_call_end(f);
}

/* ---- AckMessages: each ref to its member ---- */

static void run_member_ack(srv_job *j, srv_part *sp)
{
    const srv_sfan *f = srv_sfan_of(j);
    const pwm_ringq_v1_AckMessagesRequest *r = f->arg;
    uint32_t k = srv_sfan_member(j), n = 0;
    q_stream *s = srv_stream_find(j, sp, r->stream);
    q_consumer *c = s ? q_consumer_find(s, srv_chars(r->consumer), r->consumer.len) : NULL;
    if (s && !c)
        srv_job_fail(j, Q_NOT_FOUND, "stream %.*s has no consumer '%.*s'", (int)r->stream.len,
                     srv_chars(r->stream), (int)r->consumer.len, srv_chars(r->consumer));
    pwm_ringq_v1_DeliveryRef *mine = c ? rt_calloc(r->acks->refs_count, sizeof *mine) : NULL;
    if (c && !mine) srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t i = 0; mine && i < r->acks->refs_count; i++) {
        uint32_t m;
        uint64_t p = q_stream_seq_split(f->parts, r->acks->refs[i].stream_seq, &m);
        if (m == k) mine[n++] = (pwm_ringq_v1_DeliveryRef){p, r->acks->refs[i].token};
    }
    uint64_t commit_to = 0;
    q_err e;
    if (n) {
        pwm_ringq_v1_Acks a = *r->acks;
        a.refs = mine;
        a.refs_count = n;
        if (srv_cons_settle(sp, s, c, &a, pwm_ringq_v1_AckMessagesResponse_FIELD_results, &j->resp,
                            &commit_to, &e) != Q_OK)
            srv_job_err(j, &e);
    }
    rt_free(mine);
    srv_job_reply_durable(j, sp);
}

/* Origin: the members' results back in the request's order, each naming its stream sequence. */
static int ack_merge(const srv_sfan *f, const pwm_ringq_v1_AckMessagesRequest *r, buf *out)
{
    pw_msg_arena *ar = rt_calloc(f->parts, sizeof *ar);
    pwm_ringq_v1_AckMessagesResponse *in = rt_calloc(f->parts, sizeof *in);
    size_t *next = rt_calloc(f->parts, sizeof *next);
    int rc = ar && in && next ? 0 : -ENOMEM;
    uint32_t k = 0;
    for (; rc == 0 && k < f->parts; k++) {
        pw_msg_arena_init_heap(&ar[k], SPC_ARENA_CHUNK_BYTES, SPC_ARENA_LIMIT_BYTES);
        rc = pw_msg_decode(&pwm_ringq_v1_AckMessagesResponse_desc, &in[k], buf_begin(&f->resp[k]),
                           buf_size(&f->resp[k]), &ar[k]);
    }
    for (size_t i = 0; rc == 0 && i < r->acks->refs_count; i++) {
        uint32_t m;
        q_stream_seq_split(f->parts, r->acks->refs[i].stream_seq, &m);
        if (next[m] >= in[m].results_count) {
            rc = -EBADMSG;
            break;
        }
        pwm_ringq_v1_ItemStatus is = in[m].results[next[m]++];
        char id[24];
        int il = snprintf(id, sizeof id, "%" PRIu64, r->acks->refs[i].stream_seq);
        is.id = (pw_pb_bytes){(const uint8_t *)id, (size_t)il};
        rc = pw_msg_encode_field(&pwm_ringq_v1_ItemStatus_desc, &is,
                                 pwm_ringq_v1_AckMessagesResponse_FIELD_results, out);
    }
    for (uint32_t i = 0; i < k; i++) pw_msg_arena_deinit(&ar[i]);
    rt_free(next);
    rt_free(in);
    rt_free(ar);
    return rc;
}

static void ack_done(srv_sfan *f)
{
    srv_job *j = f->ctx;
    if (f->status == Q_OK && ack_merge(f, f->arg, &j->resp) < 0)
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the reply");
    srv_sparts_call_end(f);
}

/* ---- Fetch ----
 *
 * Round 1 asks the members one after the other, from a first member that rotates per call on
 * this shard, each for what is still missing, without waiting. When none had anything and the
 * call may wait, round 2 asks every member at once, each waiting up to the call's wait for up
 * to max_messages; the first member to answer with deliveries cancels the others (their parked
 * Fetch is served at once: nothing more), and the call answers once all are back. Deliveries
 * beyond max_messages in that race are not sent: they stay pending and come again after the
 * ack wait (at-least-once, as for a Fetch whose caller went away). */

typedef struct spc_fetch {
    srv_job *j; /* the call's job (never dispatched) */
    srv_job_run_fn run;
    uint32_t home, parts, first, asked; /* round 1: members asked so far, from `first` */
    uint32_t left;                      /* deliveries still wanted */
    uint32_t pending;                   /* round 2: member jobs out */
    bool waiting;                       /* round 2 */
    srv_job *out[Q_STREAM_PARTS_MAX];   /* round 2: the member jobs out (their `cancelled`) */
} spc_fetch;

static void fetch_member(spc_fetch *sf, uint32_t k, uint32_t max, uint32_t wait_ms);

static void fetch_answer(spc_fetch *sf)
{
    srv_job *j = sf->j;
    if (j->call) pw_grpc_call_set_user(j->call, NULL);
    rt_free(sf);
    srv_job_decoded_refuse(j); /* answers with its status and the deliveries gathered */
}

/* Appends up to sf->left deliveries of a member's FetchResponse to the call's reply. */
static uint32_t fetch_take(spc_fetch *sf, const buf *resp)
{
    pw_msg_arena a;
    pwm_ringq_v1_FetchResponse m;
    pw_msg_arena_init_heap(&a, SPC_ARENA_CHUNK_BYTES, SPC_ARENA_LIMIT_BYTES);
    uint32_t took = 0;
    if (pw_msg_decode(&pwm_ringq_v1_FetchResponse_desc, &m, buf_begin(resp), buf_size(resp), &a) ==
        0) {
        for (size_t i = 0; i < m.deliveries_count && sf->left; i++, took++, sf->left--)
            if (pw_msg_encode_field(&pwm_ringq_v1_Delivery_desc, &m.deliveries[i],
                                    pwm_ringq_v1_FetchResponse_FIELD_deliveries, &sf->j->resp) < 0)
                break;
    }
    pw_msg_arena_deinit(&a);
    return took;
}

static void run_poke(srv_job *j, srv_part *sp)
{
    srv_cons_serve_all(sp); /* a cancelled parked Fetch answers now */
    srv_job_reply(j);
}

static void fetch_cancel_others(spc_fetch *sf)
{
    for (uint32_t k = 0; k < sf->parts; k++) {
        if (!sf->out[k]) continue;
        atomic_store_explicit(&sf->out[k]->cancelled, true, memory_order_relaxed);
        srv_job *p = srv_job_new(NULL, NULL, 0);
        if (p) srv_job_dispatch(p, srv_sparts_member_part(sf->home, k), run_poke, NULL);
    }
}

static void fetch_member_done(srv_job *m)
{
    spc_fetch *sf = m->origin_ctx;
    uint32_t k = srv_sparts_member_of_part(sf->home, m->part_no);
    srv_job *j = sf->j;
    if (m->status != Q_OK && j->status == Q_OK) srv_job_fail(j, m->status, "%s", m->msg);
    uint32_t took = m->status == Q_OK ? fetch_take(sf, &m->resp) : 0;
    srv_job_decoded_release(m);
    if (sf->waiting) {
        sf->out[k] = NULL;
        if (took) fetch_cancel_others(sf);
        if (--sf->pending == 0) fetch_answer(sf);
        return;
    }
    const pwm_ringq_v1_FetchRequest *r = srv_job_msg(j);
    if (j->status == Q_OK && sf->left && ++sf->asked < sf->parts)
        return fetch_member(sf, (sf->first + sf->asked) % sf->parts, sf->left, 0);
    bool cancelled = atomic_load_explicit(&j->cancelled, memory_order_relaxed);
    if (j->status != Q_OK || sf->left < (r->max_messages ? r->max_messages : 1) ||
        r->wait_ms == 0 || cancelled)
        return fetch_answer(sf);
    sf->waiting = true; /* round 2 */
    sf->pending = 1;
    for (uint32_t i = 0; i < sf->parts; i++) fetch_member(sf, i, sf->left, r->wait_ms);
    if (--sf->pending == 0) fetch_answer(sf);
}

/* Sends member k its share: a FetchRequest of `max` deliveries waiting up to wait_ms. */
static void fetch_member(spc_fetch *sf, uint32_t k, uint32_t max, uint32_t wait_ms)
{
    const pwm_ringq_v1_FetchRequest *r = srv_job_msg(sf->j);
    pwm_ringq_v1_FetchRequest share = *r;
    share.max_messages = max;
    share.wait_ms = wait_ms;
    buf b;
    buf_init(&b, SPC_FETCH_REQ_BYTES_MAX);
    q_err e = {.code = Q_RESOURCE_EXHAUSTED, .msg = "out of memory"};
    srv_job *m = NULL;
    if (pw_msg_encode(&pwm_ringq_v1_FetchRequest_desc, &share, &b) == 0)
        m = srv_job_decoded_msg(buf_begin(&b), buf_size(&b), &pwm_ringq_v1_FetchRequest_desc, &e);
    buf_deinit(&b);
    if (!m) {
        if (sf->j->status == Q_OK) srv_job_err(sf->j, &e);
        if (!sf->waiting) fetch_answer(sf);
        return;
    }
    m->origin_ctx = sf;
    m->wait_ms_max = sf->j->wait_ms_max;
    if (sf->waiting) {
        sf->out[k] = m;
        sf->pending++;
    }
    srv_job_dispatch(m, srv_sparts_member_part(sf->home, k), sf->run, fetch_member_done);
}

static void fetch_start(srv_job *j, const srv_sdir_ent *e, srv_job_run_fn run)
{
    static _Thread_local uint32_t t_turn; /* the first member asked rotates per call */
    const pwm_ringq_v1_FetchRequest *r = srv_job_msg(j);
    spc_fetch *sf = rt_calloc(1, sizeof *sf);
    if (!sf) {
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory");
        if (j->call) pw_grpc_call_set_user(j->call, NULL);
        srv_job_decoded_refuse(j);
        return;
    }
    *sf = (spc_fetch){.j = j, .run = run, .home = e->part, .parts = e->parts};
    sf->first = t_turn++ % e->parts;
    sf->left = r->max_messages ? r->max_messages : 1;
    /* Member 0 decides an ephemeral consumer's inactivity: it hears of every Fetch. */
    if (sf->first != 0) srv_sparts_cons_touch0(e->part, r->stream, r->consumer);
    fetch_member(sf, sf->first, sf->left, 0);
}

/* ---- the hook ---- */

bool srv_sparts_cons(srv_job *j, pw_pb_bytes stream, srv_spc_kind kind, srv_job_run_fn run)
{
    const srv_sdir_ent *e = srv_sparts_find(stream);
    if (!e) return false;
    switch (kind) {
    case SRV_SPC_LIST: return srv_sparts_call_fan(j, stream, run, list_done, j->ctx);
    case SRV_SPC_FETCH: fetch_start(j, e, run); return true; /* auth: checked by the caller */
    case SRV_SPC_ACK: {
        const pwm_ringq_v1_Acks *a =
            ((const pwm_ringq_v1_AckMessagesRequest *)srv_job_msg(j))->acks;
        if (!a || a->refs_count == 0 || a->refs_count > Q_BATCH_MAX) {
            srv_job_fail(j, Q_INVALID_ARGUMENT, "acks.refs: 1..%u deliveries, got %zu", Q_BATCH_MAX,
                         a ? a->refs_count : 0);
            srv_job_decoded_refuse(j);
            return true;
        }
        return srv_sparts_call_fan(j, stream, run_member_ack, ack_done, NULL);
    }
    case SRV_SPC_DELETE: return srv_sparts_call_fan(j, stream, run, delete_done, j->ctx);
    case SRV_SPC_CREATE: {
        /* An ephemeral consumer: one name for every member, picked here (srv_stream_parts_eph.c) */
        /* (the decoded request is the job's own, in its arena: the name may be set in it) */
        pwm_ringq_v1_ConsumerConfig *cc =
            (pwm_ringq_v1_ConsumerConfig *)((const pwm_ringq_v1_CreateConsumerRequest *)srv_job_msg(
                                                j))
                ->config;
        if (cc && cc->ephemeral && cc->name.len == 0 &&
            srv_sparts_eph_name(&((srv_decoded *)j->ctx)->arena, &cc->name) < 0) {
            srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory");
            srv_job_decoded_refuse(j);
            return true;
        }
        return srv_sparts_call_fan(j, stream, run, info_done, j->ctx);
    }
    case SRV_SPC_GET:
    case SRV_SPC_PAUSE:
    case SRV_SPC_RESET: return srv_sparts_call_fan(j, stream, run, info_done, j->ctx);
    }
    return false;
}
