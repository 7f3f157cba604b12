/* client/rq_work: the ringq.v1.Queue/Work stream — subscribe with credits, receive tasks, send
 * acks/nacks/extends and credits, re-subscribe with backoff after a loss. Requests with a
 * request_id stay queued until their WorkResult arrives, so those lost with a stream are sent
 * again on the next one (acks by id are safe to repeat: a second answer is NOT_FOUND). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/rq_int.h"
#include "core/rt_clock.h"

/* Queues per Subscribe (queue.proto). */
#define RQ_WORK_QUEUES_MAX 64
/* The encoded Subscribe: RQ_WORK_QUEUES_MAX names of at most RQ_QUEUE_NAME_MAX bytes, each with
 * a tag and a length, plus the credits, the lease and the WorkRequest's own tag and length. */
#define RQ_WORK_SUBSCRIBE_BYTES_MAX (RQ_WORK_QUEUES_MAX * (RQ_QUEUE_NAME_MAX + 4) + 64)

typedef struct wreq {
    struct wreq *next;
    uint64_t request_id;
    bool sent; /* on the current stream */
    size_t len;
    uint8_t bytes[];
} wreq;

struct rq_work {
    rq_client *c;
    rq_work *next;
    char **queues;
    size_t nq;
    char *worker_id; /* ringq-worker-id metadata; NULL: none */
    uint32_t lease_ms;
    uint32_t credits_left; /* granted and not yet used by a task */
    rq_work_cbs cb;
    void *ud;
    pw_grpc_ccall *call;
    bool connected;
    ev_timer retry;
    uint32_t backoff_ms;
    wreq *head, *tail;
    /* The last of the requests at the head sent on this stream (each waits for its result; NULL:
     * none): send_queued starts after it, so an ack costs the same with 1 or 1,000 unanswered
     * before it (it walked them all). */
    wreq *sent_tail;
    size_t unanswered;
    uint64_t sends_scanned; /* requests send_queued looked at (rq_work_sends_scanned) */
    bool closing;           /* rq_work_close ran: the stream's on_close frees */
};

static void work_free(rq_work *w)
{
    while (w->head) {
        wreq *r = w->head;
        w->head = r->next;
        free(r);
    }
    for (size_t i = 0; i < w->nq; i++) free(w->queues[i]);
    free(w->queues);
    free(w->worker_id);
    free(w);
}

static void work_open(rq_work *w);

static void retry_fire(ev_loop *loop, ev_timer *t) { work_open(t->ud); }

static void schedule_retry(rq_work *w)
{
    w->backoff_ms = w->backoff_ms ? w->backoff_ms * 2 : RQ_BACKOFF_MIN_MS;
    if (w->backoff_ms > RQ_BACKOFF_MAX_MS) w->backoff_ms = RQ_BACKOFF_MAX_MS;
    ev_timer_start(w->c->loop, &w->retry, rt_now_ns() + (uint64_t)w->backoff_ms * RT_NS_PER_MS);
}

/* Sends queued requests not yet sent on this stream; forgets those needing no answer. */
static void send_queued(rq_work *w)
{
    if (!w->call) return;
    wreq *prev = w->sent_tail, **pp = prev ? &prev->next : &w->head;
    while (*pp) {
        wreq *r = *pp;
        w->sends_scanned++;
        if (pw_grpc_ccall_send(w->call, r->bytes, r->len, false) < 0) break; /* full */
        r->sent = true;
        if (r->request_id == 0) {
            *pp = r->next;
            if (w->tail == r) w->tail = prev;
            free(r);
            continue;
        }
        w->sent_tail = prev = r;
        pp = &r->next;
    }
    rq_conn_flush(w->c);
}

/* A WorkResult: forgets the request it answers and tells the caller. */
static void on_result(rq_work *w, const pwm_ringq_v1_WorkResult *res)
{
    char msg[256];
    rq_copy_str(msg, sizeof msg, res->message);
    uint64_t id = res->request_id;
    int code = (int)res->code;
    wreq **pp = &w->head, *prev = NULL;
    for (; id && *pp; prev = *pp, pp = &(*pp)->next) {
        if ((*pp)->request_id != id) continue;
        wreq *r = *pp;
        *pp = r->next;
        if (w->tail == r) w->tail = prev;
        if (w->sent_tail == r) w->sent_tail = prev;
        free(r);
        w->unanswered--;
        break;
    }
    if (w->cb.on_result && (id || code)) w->cb.on_result(w, w->ud, id, code, msg);
}

/* One WorkResponse, decoded once: a task or a result. A malformed one cancels the stream. */
static int on_msg(pw_grpc_ccall *call, void *ud, const uint8_t *p, size_t n)
{
    rq_work *w = ud;
    pwm_ringq_v1_WorkResponse resp;
    pw_msg_arena a;
    w->backoff_ms = 0;
    int rc = rq_msg_decode(&pwm_ringq_v1_WorkResponse_desc, &resp, p, n, &a);
    if (rc < 0) return rc;
    if (resp.kind_case == pwm_ringq_v1_WorkResponse_FIELD_task && resp.task) {
        rq_task *t = rq_task_from(resp.task);
        if (!t) rc = -ENOMEM;
        else if (w->credits_left) w->credits_left--;
        if (t && w->cb.on_task) w->cb.on_task(w, w->ud, t);
        else rq_task_free(t);
    } else if (resp.kind_case == pwm_ringq_v1_WorkResponse_FIELD_result && resp.result) {
        on_result(w, resp.result);
    }
    pw_msg_arena_deinit(&a);
    return rc;
}

static void on_close(pw_grpc_ccall *call, void *ud, const pw_grpc_cstatus *s)
{
    rq_work *w = ud;
    w->call = NULL;
    if (w->closing) {
        work_free(w);
        return;
    }
    bool was = w->connected;
    w->connected = false;
    for (wreq *r = w->head; r; r = r->next) r->sent = false;
    w->sent_tail = NULL; /* all to be sent again on the next stream */
    rq_status st;
    rq_set_status(&st, (int)s->code, "%.*s", (int)s->message_len, s->message);
    if (st.code == 0) rq_set_status(&st, PW_GRPC_UNAVAILABLE, "the server ended the stream");
    if (w->cb.on_state && was) w->cb.on_state(w, w->ud, false, &st);
    schedule_retry(w);
}

static int queue_req(rq_work *w, pwm_ringq_v1_WorkRequest *req);

/* Sends the stream's Subscribe (queues, the credits not yet used, the lease) first. */
static int send_subscribe(rq_work *w)
{
    pw_pb_bytes names[RQ_WORK_QUEUES_MAX];
    for (size_t i = 0; i < w->nq; i++) names[i] = rq_str(w->queues[i]);
    pwm_ringq_v1_Subscribe sub = {.queues = names,
                                  .queues_count = w->nq,
                                  .credits = w->credits_left,
                                  .lease_ms = w->lease_ms};
    pwm_ringq_v1_WorkRequest req = {.kind_case = pwm_ringq_v1_WorkRequest_FIELD_subscribe,
                                    .subscribe = &sub};
    uint8_t bytes[RQ_WORK_SUBSCRIBE_BYTES_MAX];
    long n = pw_msg_encode_to(&pwm_ringq_v1_WorkRequest_desc, &req, bytes, sizeof bytes);
    if (n < 0) return (int)n;
    return pw_grpc_ccall_send(w->call, bytes, (size_t)n, false);
}

static void work_open(rq_work *w)
{
    static const pw_grpc_ccall_cbs cbs = {on_msg, on_close};
    rq_status st;
    pw_grpc_cmeta md = {RQ_WORKER_ID_HEADER, (const uint8_t *)w->worker_id,
                        w->worker_id ? strlen(w->worker_id) : 0};
    pw_grpc_ccall_opts o = {.md = &md, .md_count = w->worker_id ? 1 : 0};
    w->call = rq_conn_start_opts(w->c, pwm_ringq_v1_Queue_Work_PATH, 0, &o, &cbs, w, &st);
    if (!w->call) {
        schedule_retry(w);
        /* The server cannot be reached (a dial failed): say so at each attempt, not only when
         * a stream that was up is lost. A first dial still in progress is no failure. */
        if (w->cb.on_state && w->c->dial_fails) w->cb.on_state(w, w->ud, false, &st);
        return;
    }
    if (send_subscribe(w) < 0) {       /* cannot happen within the limits: names are bounded */
        pw_grpc_ccall_cancel(w->call); /* on_close schedules the retry */
        rq_conn_flush(w->c);
        return;
    }
    w->connected = true;
    send_queued(w);
    if (w->cb.on_state) {
        rq_set_status(&st, 0, NULL);
        w->cb.on_state(w, w->ud, true, &st);
    }
}

rq_work *rq_work_open(rq_client *c, const char *const *queues, size_t nq, uint32_t credits,
                      uint32_t lease_ms, const rq_work_cbs *cbs, void *ud, rq_status *st)
{
    rq_work_opts o = {.queues = queues, .nq = nq, .credits = credits, .lease_ms = lease_ms};
    return rq_work_open_opts(c, &o, cbs, ud, st);
}

/* A worker id the server will show as given: printable ASCII (the metadata rule), bounded. */
static bool worker_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n > RQ_WORKER_ID_MAX) return false;
    pw_grpc_cmeta md = {RQ_WORKER_ID_HEADER, (const uint8_t *)id, n};
    return pw_grpc_cmeta_check(&md) == 0;
}

rq_work *rq_work_open_opts(rq_client *c, const rq_work_opts *o, const rq_work_cbs *cbs, void *ud,
                           rq_status *st)
{
    if (!o) {
        rq_set_status(st, RQ_EINVAL, "no work options");
        return NULL;
    }
    const char *const *queues = o->queues;
    size_t nq = o->nq;
    const char *wid = o->worker_id && *o->worker_id ? o->worker_id : NULL;
    if (wid && !worker_id_ok(wid)) {
        rq_set_status(st, RQ_EINVAL, "worker id: printable ASCII, at most %d bytes",
                      RQ_WORKER_ID_MAX);
        return NULL;
    }
    if (!queues || nq == 0 || nq > RQ_WORK_QUEUES_MAX) {
        rq_set_status(st, RQ_EINVAL, "work needs 1..%d queues", RQ_WORK_QUEUES_MAX);
        return NULL;
    }
    rq_work *w = calloc(1, sizeof *w);
    if (!w || !(w->queues = calloc(nq, sizeof *w->queues))) {
        free(w);
        rq_set_status(st, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < nq; i++) {
        if (!queues[i] || !*queues[i] || strlen(queues[i]) >= RQ_QUEUE_NAME_MAX ||
            !(w->queues[i] = strdup(queues[i]))) {
            w->nq = i;
            work_free(w);
            rq_set_status(st, RQ_EINVAL, "empty or too long queue name (or out of memory)");
            return NULL;
        }
    }
    if (wid && !(w->worker_id = strdup(wid))) {
        w->nq = nq;
        work_free(w);
        rq_set_status(st, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    w->c = c;
    w->nq = nq;
    w->credits_left = o->credits;
    w->lease_ms = o->lease_ms;
    w->cb = *cbs;
    w->ud = ud;
    ev_timer_init(&w->retry, retry_fire, w);
    w->next = c->works;
    c->works = w;
    rq_set_status(st, 0, NULL);
    work_open(w);
    return w;
}

/* Encodes *req once, straight into a queued request, and sends what can go. 0 or -ENOMEM. */
static int queue_req(rq_work *w, pwm_ringq_v1_WorkRequest *req)
{
    size_t n = pw_msg_size(&pwm_ringq_v1_WorkRequest_desc, req);
    if (n > RQ_MAX_SEND_BYTES) return -ENOMEM;
    wreq *r = malloc(sizeof *r + n);
    if (!r) return -ENOMEM;
    long got = pw_msg_encode_to(&pwm_ringq_v1_WorkRequest_desc, req, r->bytes, n);
    if (got != (long)n) {
        free(r);
        return -ENOMEM;
    }
    r->next = NULL;
    r->request_id = req->request_id;
    r->sent = false;
    r->len = n;
    if (w->tail) w->tail->next = r;
    else w->head = r;
    w->tail = r;
    if (r->request_id) w->unanswered++;
    send_queued(w);
    return 0;
}

int rq_work_credit(rq_work *w, uint32_t n)
{
    if (n == 0) return 0;
    w->credits_left += n;
    if (!w->connected) return 0; /* the next Subscribe carries them */
    pwm_ringq_v1_Credit credit = {.n = n};
    pwm_ringq_v1_WorkRequest req = {.kind_case = pwm_ringq_v1_WorkRequest_FIELD_credit,
                                    .credit = &credit};
    return queue_req(w, &req);
}

int rq_work_ack(rq_work *w, const char *id, uint64_t token, uint64_t request_id)
{
    if (!id || !*id) return -EINVAL;
    pw_pb_bytes ids[1] = {rq_str(id)};
    uint64_t tokens[1] = {token};
    pwm_ringq_v1_AckRequest ack = {
        .ids = ids, .ids_count = 1, .lease_tokens = tokens, .lease_tokens_count = token ? 1 : 0};
    pwm_ringq_v1_WorkRequest req = {
        .request_id = request_id, .kind_case = pwm_ringq_v1_WorkRequest_FIELD_ack, .ack = &ack};
    return queue_req(w, &req);
}

int rq_work_nack(rq_work *w, const char *id, uint64_t token, const rq_nack_opts *opts,
                 uint64_t request_id)
{
    if (!id || !*id) return -EINVAL;
    pwm_ringq_v1_NackRequest nack;
    rq_nack_fill(&nack, id, token, opts);
    pwm_ringq_v1_WorkRequest req = {
        .request_id = request_id, .kind_case = pwm_ringq_v1_WorkRequest_FIELD_nack, .nack = &nack};
    return queue_req(w, &req);
}

int rq_work_extend(rq_work *w, const char *id, uint64_t token, uint32_t lease_ms,
                   uint64_t request_id)
{
    if (!id || !*id) return -EINVAL;
    pwm_ringq_v1_ExtendRequest ext = {.id = rq_str(id), .lease_ms = lease_ms, .lease_token = token};
    pwm_ringq_v1_WorkRequest req = {.request_id = request_id,
                                    .kind_case = pwm_ringq_v1_WorkRequest_FIELD_extend,
                                    .extend = &ext};
    return queue_req(w, &req);
}

size_t rq_work_unanswered(const rq_work *w) { return w->unanswered; }
uint64_t rq_work_sends_scanned(const rq_work *w) { return w->sends_scanned; }
bool rq_work_connected(const rq_work *w) { return w->connected; }

void rq_work_close(rq_work *w)
{
    if (!w) return;
    if (w->c) {
        for (rq_work **pp = &w->c->works; *pp; pp = &(*pp)->next) {
            if (*pp == w) {
                *pp = w->next;
                break;
            }
        }
        ev_timer_stop(w->c->loop, &w->retry);
    }
    w->cb = (rq_work_cbs){0};
    if (!w->call) {
        work_free(w);
        return;
    }
    rq_client *c = w->c;
    pw_grpc_ccall *call = w->call;
    w->closing = true;
    pw_grpc_ccall_cancel(call); /* its on_close frees w (now, or later inside a callback) */
    rq_conn_flush(c);
}

uint32_t rq_work_retry_ms(const rq_work *w)
{
    if (w->call || !ev_timer_armed(&w->retry)) return 0;
    return w->backoff_ms;
}

void rq_work_conn_up(rq_client *c)
{
    for (rq_work *w = c->works; w; w = w->next)
        if (!w->call && ev_timer_armed(&w->retry)) ev_timer_start(c->loop, &w->retry, 0);
}

void rq_work_client_gone(rq_client *c)
{
    while (c->works) rq_work_close(c->works);
}
