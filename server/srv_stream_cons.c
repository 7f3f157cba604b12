/* server/srv_stream_cons: consumers of a stream over ringq.v1.Streams — CreateConsumer,
 * GetConsumer, ListConsumers, DeleteConsumer, PauseConsumer, ResetConsumer, Fetch (long-poll)
 * and AckMessages.
 *
 * Every call goes to the owner of the stream's partition as a job carrying the decoded request
 * (queue/q_consumer runs there). Calls that write (create, delete, pause, reset, settle, a Fetch
 * under ack policy none) answer once their records are durable. What the owner keeps for the
 * waiters (parked Fetches, Consume registrations) is srv_stream_watch.c's. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "core/rt_clock.h"
#include "core/rt_dec.h"
#include "proto_wire/pw_pb.h"
#include "queue/q_consumer.h"
#include "server/srv_auth.h"
#include "server/srv_stream_int.h"
#include "server/srv_stream_parts.h"

static pw_pb_bytes view(const void *p, size_t n) { return (pw_pb_bytes){(const uint8_t *)p, n}; }

#define FETCH_MAX 1000u          /* the API's: max_messages 1..1000 */
#define FETCH_WAIT_MS_MAX 60000u /* the API's: wait_ms at most a minute */

uint32_t srv_stream_consumers(q_stream *s) { return q_consumer_count(s); }

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
        (cfg.opt_start_seq = srv_sparts_seq_from(s, cfg.opt_start_seq), true) && /* a member */
        q_consumer_create(sp->p, s, &cfg, srv_q_now_ms(), &c, &commit_to, &e) == Q_OK) {
        srv_sparts_cons_created(s, c); /* a member's ephemeral: member 0 expires the set */
        put_consumer(j, s, c);
    } else if (s) srv_job_err(j, &e);
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
    uint64_t to = by_time || !c ? r->unix_ms : srv_sparts_seq_from(s, r->seq); /* a member's */
    if (c && q_consumer_reset(c, by_time, to, srv_q_now_ms(), &commit_to, &e) != Q_OK)
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

/* A batch of acks up to this many refs settles with its refs and per-item results on the stack
 * (~2 KiB): a Consume stream's batches (a loop iteration's acks, RQ_ACK_REFS_MAX in libringq)
 * and the benchmark's 64 cost no allocation for them; a larger one allocates both arrays. */
#define SETTLE_STACK_REFS 64u

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
    q_ack_ref refs_local[SETTLE_STACK_REFS];
    q_item items_local[SETTLE_STACK_REFS];
    bool heap = n > SETTLE_STACK_REFS;
    q_ack_ref *refs = heap ? rt_calloc(n, sizeof *refs) : refs_local;
    q_item *items = heap ? rt_calloc(n, sizeof *items) : items_local;
    q_status st = e->code = Q_RESOURCE_EXHAUSTED;
    if (!refs || !items) snprintf(e->msg, sizeof e->msg, "out of memory");
    if (refs && items) {
        memset(items, 0, n * sizeof *items);
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
            size_t il = rt_u64_dec(id, refs[i].seq);
            const char *why = items[i].why ? items[i].why : "";
            pwm_ringq_v1_ItemStatus is = {view(id, il), (uint32_t)items[i].code,
                                          view(why, strlen(why))};
            if (pw_msg_encode_field(&pwm_ringq_v1_ItemStatus_desc, &is, field, out) < 0) {
                st = e->code = Q_RESOURCE_EXHAUSTED;
                snprintf(e->msg, sizeof e->msg, "settled, but the answer could not be encoded");
            }
        }
    }
    if (heap) {
        rt_free(refs);
        rt_free(items);
    }
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
    srv_job_reply_durable_join(j, sp); /* rides the producers' fsync */
}

static void run_fetch(srv_job *j, srv_part *sp)
{
    q_stream *s;
    q_consumer *c = find_consumer(j, sp, &s);
    if (c) srv_fetch_start(j, sp, s, c);
    else srv_job_reply(j);
}

/* A GetConsumerRequest's encoded size at most: two names and their tags and lengths. */
#define GET_CONSUMER_REQ_BYTES_MAX (2u * (Q_STREAM_NAME_BYTES_MAX + 3u))

/* Checks a name of the request (`what`: "stream", "consumer"); INVALID_ARGUMENT naming it. */
static q_status name_ok(pw_pb_bytes n, const char *what, q_err *e)
{
    q_err ne;
    if (q_stream_name_check(srv_chars(n), n.len, &ne) == Q_OK) return Q_OK;
    e->code = ne.code;
    snprintf(e->msg, sizeof e->msg, "%s %.*s", what, (int)(sizeof e->msg - 16), ne.msg);
    return e->code;
}

q_status srv_consumer_get_dispatch(pw_pb_bytes stream, pw_pb_bytes name, void *origin_ctx,
                                   srv_job_done_fn done, q_err *e)
{
    if (name_ok(stream, "stream", e) != Q_OK || name_ok(name, "consumer", e) != Q_OK)
        return e->code;
    pwm_ringq_v1_GetConsumerRequest r = {.stream = stream, .name = name};
    buf b;
    buf_init(&b, GET_CONSUMER_REQ_BYTES_MAX);
    srv_job *j = NULL;
    e->code = Q_RESOURCE_EXHAUSTED;
    snprintf(e->msg, sizeof e->msg, "out of memory");
    if (pw_msg_encode(&pwm_ringq_v1_GetConsumerRequest_desc, &r, &b) == 0)
        j = srv_job_decoded_msg(buf_begin(&b), buf_size(&b), &pwm_ringq_v1_GetConsumerRequest_desc,
                                e);
    buf_deinit(&b);
    if (!j) return e->code;
    j->origin_ctx = origin_ctx;
    srv_job_dispatch(j, q_part_of(srv_chars(stream), stream.len, srv_q.nparts), run_get, done);
    return Q_OK;
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
    if (!srv_stream_check_name(j, k->stream, "stream")) return false;
    if (q_stream_name_check(srv_chars(k->name), k->name.len, &e) == Q_OK) return true;
    srv_job_fail(j, Q_INVALID_ARGUMENT, "consumer %s", e.msg);
    return false;
}

/* Routes a consumer call by its stream (a partitioned one's to every member,
 * srv_stream_parts.h); refuses bad names on the origin. */
static void cons_route(srv_job *j, srv_job_run_fn run, srv_spc_kind kind)
{
    const cons_key *k = srv_job_msg(j);
    if (!check_names(j, k)) {
        srv_job_decoded_refuse(j);
        return;
    }
    if (!srv_sparts_cons(j, k->stream, kind, run)) srv_stream_route(j, k->stream, "stream", run);
}

#define CONS_ROUTED(fn, Msg, run, kind)                                    \
    static void fn(pw_grpc_call *c, const uint8_t *m, size_t n)            \
    {                                                                      \
        if (srv_stream_reject_draining(c)) return;                         \
        srv_job *j = srv_job_decoded(c, m, n, &pwm_ringq_v1_##Msg##_desc); \
        if (j) cons_route(j, run, kind);                                   \
    }

CONS_ROUTED(on_get, GetConsumerRequest, run_get, SRV_SPC_GET)
CONS_ROUTED(on_delete, DeleteConsumerRequest, run_delete, SRV_SPC_DELETE)
CONS_ROUTED(on_pause, PauseConsumerRequest, run_pause, SRV_SPC_PAUSE)
CONS_ROUTED(on_reset, ResetConsumerRequest, run_reset, SRV_SPC_RESET)
CONS_ROUTED(on_ack, AckMessagesRequest, run_ack, SRV_SPC_ACK)

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
    if (!srv_sparts_cons(j, r->stream, SRV_SPC_CREATE, run_create))
        srv_stream_route(j, r->stream, "stream", run_create);
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
    if (!srv_sparts_cons(j, r->stream, SRV_SPC_LIST, run_list))
        srv_stream_route(j, r->stream, "stream", run_list);
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
    if (srv_sparts_cons(j, r->stream, SRV_SPC_FETCH, run_fetch)) return; /* every member */
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
