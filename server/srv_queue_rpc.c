/* server/srv_queue_rpc: ringq.v1.Queue unary methods — Enqueue, Lease (long-poll), Ack (fanned
 * out across partitions), Nack, Extend. Each decodes on the owner shard from the job's copy of
 * the request and encodes the response there (payload views come from the owner's mapping). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_clock.h"
#include "proto_wire/pw_pb.h"
#include "server/srv_queue_int.h"
#include "server/srv_queue_rpc.h"

/* ---- Enqueue ---- */

/* Counts tasks and headers so one allocation holds the decoded batch. */
static int count_tasks(const uint8_t *msg, size_t len, uint32_t *ntasks, uint32_t *nheaders)
{
    pw_pb_reader r, tr;
    pw_pb_field f, tf;
    int rc;
    *ntasks = *nheaders = 0;
    pw_pb_reader_init(&r, msg, len);
    while ((rc = pw_pb_next(&r, &f)) == 1) {
        if (f.num != 2 || f.wt != PW_PB_WT_LEN) continue;
        (*ntasks)++;
        pw_pb_reader_init(&tr, f.bytes.ptr, f.bytes.len);
        while ((rc = pw_pb_next(&tr, &tf)) == 1)
            if (tf.num == 2 && tf.wt == PW_PB_WT_LEN) (*nheaders)++;
        if (rc < 0) return -1;
    }
    return rc < 0 ? -1 : 0;
}

static int decode_task(const uint8_t *p, size_t len, q_task_spec *t, q_header *hdrs)
{
    pw_pb_reader r;
    pw_pb_field f;
    int rc;
    memset(t, 0, sizeof *t);
    t->headers = hdrs;
    pw_pb_reader_init(&r, p, len);
    while ((rc = pw_pb_next(&r, &f)) == 1) {
        switch (f.num) {
        case 1:
            if (f.wt != PW_PB_WT_LEN) return -1;
            t->payload = f.bytes.ptr;
            t->payload_len = (uint32_t)f.bytes.len;
            break;
        case 2: {
            if (f.wt != PW_PB_WT_LEN) return -1;
            q_header *h = &hdrs[t->nheaders++];
            memset(h, 0, sizeof *h);
            h->name = h->value = "";
            const char *s;
            size_t n;
            if (srv_pb_string(f.bytes.ptr, f.bytes.len, 1, &s, &n) < 0) return -1;
            h->name = s;
            h->name_len = (uint32_t)n;
            if (srv_pb_string(f.bytes.ptr, f.bytes.len, 2, &s, &n) < 0) return -1;
            h->value = s;
            h->value_len = (uint32_t)n;
            break;
        }
        case 3: t->priority = (uint32_t)f.u64; if (f.u64 > UINT32_MAX) t->priority = UINT32_MAX; break;
        case 4: t->delay_ms = f.u64; break;
        case 5: t->not_before_ms = f.u64; break;
        case 6: t->max_attempts = f.u64 > UINT32_MAX ? UINT32_MAX : (uint32_t)f.u64; break;
        case 7: t->lease_ms = f.u64 > UINT32_MAX ? UINT32_MAX : (uint32_t)f.u64; break;
        case 8:
            if (f.wt != PW_PB_WT_LEN) return -1;
            t->key = (const char *)f.bytes.ptr;
            t->key_len = (uint32_t)f.bytes.len;
            break;
        default: break;
        }
    }
    return rc < 0 ? -1 : 0;
}

static void run_enqueue(srv_job *j, srv_part *sp)
{
    const char *name;
    size_t nl;
    uint32_t nt, nh;
    if (srv_pb_string(j->req, j->req_len, 1, &name, &nl) < 0 || count_tasks(j->req, j->req_len, &nt, &nh) < 0) {
        srv_job_fail(j, Q_INVALID_ARGUMENT, "malformed EnqueueRequest");
        srv_job_reply(j);
        return;
    }
    if (nt == 0 || nt > Q_BATCH_MAX) {
        srv_job_fail(j, Q_INVALID_ARGUMENT, "an enqueue carries 1..%u tasks, got %u", Q_BATCH_MAX, nt);
        srv_job_reply(j);
        return;
    }
    q_task_spec *tasks = calloc(nt, sizeof *tasks);
    q_header *hdrs = calloc(nh ? nh : 1, sizeof *hdrs);
    q_enq_result *res = calloc(nt, sizeof *res);
    if (!tasks || !hdrs || !res) {
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
    }
    pw_pb_reader r;
    pw_pb_field f;
    uint32_t k = 0, hk = 0;
    pw_pb_reader_init(&r, j->req, j->req_len);
    while (pw_pb_next(&r, &f) == 1) {
        if (f.num != 2 || f.wt != PW_PB_WT_LEN) continue;
        if (decode_task(f.bytes.ptr, f.bytes.len, &tasks[k], hdrs + hk) < 0) {
            srv_job_fail(j, Q_INVALID_ARGUMENT, "task %u: malformed TaskSpec", k);
            goto out;
        }
        hk += tasks[k].nheaders;
        k++;
    }
    q_err e;
    uint64_t commit_to = 0;
    q_status st = q_part_enqueue(sp->p, name, nl, tasks, nt, srv_q_now_ms(), res, &commit_to, &e);
    if (st != Q_OK) {
        srv_job_err(j, &e);
    } else {
        for (uint32_t i = 0; i < nt; i++) {
            char id[Q_ID_STR_BYTES];
            size_t idl = q_id_format(id, sp->no, res[i].id);
            pw_pb_mark m;
            pw_pb_submsg_begin(&j->resp, 1, &m);
            pw_pb_put_string(&j->resp, 1, id, idl);
            if (res[i].duplicate) pw_pb_put_bool(&j->resp, 2, true);
            pw_pb_submsg_end(&j->resp, &m);
        }
    }
out:
    free(tasks);
    free(hdrs);
    free(res);
    srv_part_serve_ready(sp);
    srv_job_reply_durable(j, sp);
}

/* ---- Lease ---- */

typedef struct lease_req {
    const char *name;
    size_t name_len;
    uint32_t max_tasks, wait_ms, lease_ms;
} lease_req;

static int decode_lease(const uint8_t *msg, size_t len, lease_req *q)
{
    pw_pb_reader r;
    pw_pb_field f;
    int rc;
    memset(q, 0, sizeof *q);
    q->name = "";
    pw_pb_reader_init(&r, msg, len);
    while ((rc = pw_pb_next(&r, &f)) == 1) {
        if (f.num == 1 && f.wt == PW_PB_WT_LEN) {
            q->name = (const char *)f.bytes.ptr;
            q->name_len = f.bytes.len;
        } else if (f.num == 2) q->max_tasks = f.u64 > UINT32_MAX ? UINT32_MAX : (uint32_t)f.u64;
        else if (f.num == 3) q->wait_ms = f.u64 > UINT32_MAX ? UINT32_MAX : (uint32_t)f.u64;
        else if (f.num == 4) q->lease_ms = f.u64 > UINT32_MAX ? UINT32_MAX : (uint32_t)f.u64;
    }
    return rc < 0 ? -1 : 0;
}

/* Leases into j->resp. Returns the number of tasks, or -1 after setting an error status. */
int srv_lease_encode(srv_part *sp, const char *name, size_t nl, uint32_t max_n, uint32_t lease_ms,
                     bool framed, buf *out, q_err *err)
{
    q_leased *tasks = calloc(max_n, sizeof *tasks);
    if (!tasks) {
        err->code = Q_RESOURCE_EXHAUSTED;
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return -1;
    }
    uint32_t n = 0;
    /* A LeaseResponse holds every task in one message: bound it by the message limit. Each task
     * costs its payload and headers plus its other fields (id, queue name, numbers, framing). */
    size_t per_task = 64 + nl + 16 * Q_HEADERS_MAX;
    size_t budget = srv_q.max_msg_bytes > 1024 ? srv_q.max_msg_bytes - 1024 : srv_q.max_msg_bytes;
    q_status st = q_part_lease_budget(sp->p, name, nl, max_n, lease_ms, srv_q_now_ms(),
                                      !framed && max_n > 1 ? budget : SIZE_MAX, per_task, tasks, &n, err);
    if (st != Q_OK) {
        free(tasks);
        return -1;
    }
    buf one;
    buf_init(&one, (size_t)64 << 20);
    for (uint32_t i = 0; i < n; i++) {
        if (!framed) {
            srv_encode_task(out, 1, sp->no, name, nl, &tasks[i]);
            continue;
        }
        one.rd = one.wr = 0;
        srv_encode_task(&one, 1, sp->no, name, nl, &tasks[i]);
        srv_lp_put(out, buf_begin(&one), buf_size(&one));
    }
    buf_deinit(&one);
    free(tasks);
    return (int)n;
}

static void run_lease(srv_job *j, srv_part *sp)
{
    lease_req q;
    if (decode_lease(j->req, j->req_len, &q) < 0) {
        srv_job_fail(j, Q_INVALID_ARGUMENT, "malformed LeaseRequest");
        srv_job_reply(j);
        return;
    }
    if (!srv_check_queue(j, q.name, q.name_len)) {
        srv_job_reply(j);
        return;
    }
    uint32_t max_n = q.max_tasks ? q.max_tasks : 1;
    if (max_n > Q_BATCH_MAX) {
        srv_job_fail(j, Q_INVALID_ARGUMENT, "max_tasks must be 1..%u", Q_BATCH_MAX);
        srv_job_reply(j);
        return;
    }
    if (q.wait_ms > Q_WAIT_MS_MAX) {
        srv_job_fail(j, Q_INVALID_ARGUMENT, "wait_ms must be at most %u", Q_WAIT_MS_MAX);
        srv_job_reply(j);
        return;
    }
    if (atomic_load_explicit(&j->cancelled, memory_order_relaxed)) {
        srv_job_reply(j);
        return;
    }
    q_err e;
    int n = srv_lease_encode(sp, q.name, q.name_len, max_n, q.lease_ms, false, &j->resp, &e);
    if (n < 0) srv_job_err(j, &e);
    if (n != 0 || q.wait_ms == 0 || srv_runtime_draining(srv_shard_runtime(srv_shard_self()))) {
        srv_job_reply(j);
        return;
    }
    /* Long-poll: wait for tasks, at most wait_ms and never past the call's deadline (j->tag). */
    uint64_t wait = q.wait_ms;
    if (j->tag && j->tag < wait) wait = j->tag;
    srv_part_park(sp, j, q.name, (uint32_t)q.name_len, wait, run_lease);
}

/* ---- Nack, Extend ---- */

static void run_nack(srv_job *j, srv_part *sp)
{
    pw_pb_reader r;
    pw_pb_field f;
    int rc;
    q_nack nk;
    memset(&nk, 0, sizeof nk);
    nk.reason = "";
    pw_pb_reader_init(&r, j->req, j->req_len);
    while ((rc = pw_pb_next(&r, &f)) == 1) {
        if (f.num == 2 && f.wt == PW_PB_WT_VARINT) {
            nk.has_delay = true;
            nk.delay_ms = f.u64;
        } else if (f.num == 3 && f.wt == PW_PB_WT_VARINT) nk.dead_letter = f.u64 != 0;
        else if (f.num == 4 && f.wt == PW_PB_WT_LEN) {
            nk.reason = (const char *)f.bytes.ptr;
            nk.reason_len = (uint32_t)f.bytes.len;
        }
    }
    if (rc < 0) {
        srv_job_fail(j, Q_INVALID_ARGUMENT, "malformed NackRequest");
        srv_job_reply(j);
        return;
    }
    q_nack_result res;
    q_err e;
    uint64_t commit_to;
    q_status st = q_part_nack(sp->p, j->tag, &nk, srv_q_now_ms(), &res, &commit_to, &e);
    if (st != Q_OK) {
        srv_job_err(j, &e);
        srv_job_reply(j);
        return;
    }
    if (res.state) pw_pb_put_uint32(&j->resp, 1, (uint32_t)res.state);
    if (res.ready_ms) pw_pb_put_uint64(&j->resp, 2, res.ready_ms);
    if (res.attempts) pw_pb_put_uint32(&j->resp, 3, res.attempts);
    srv_part_serve_ready(sp);
    srv_job_reply_durable(j, sp);
}

static void run_extend(srv_job *j, srv_part *sp)
{
    pw_pb_reader r;
    pw_pb_field f;
    uint32_t lease_ms = 0;
    pw_pb_reader_init(&r, j->req, j->req_len);
    while (pw_pb_next(&r, &f) == 1)
        if (f.num == 2 && f.wt == PW_PB_WT_VARINT) lease_ms = f.u64 > UINT32_MAX ? UINT32_MAX : (uint32_t)f.u64;
    uint64_t deadline = 0;
    q_err e;
    q_status st = q_part_extend(sp->p, j->tag, lease_ms, srv_q_now_ms(), &deadline, &e);
    if (st != Q_OK) srv_job_err(j, &e);
    else pw_pb_put_uint64(&j->resp, 1, deadline);
    srv_job_reply(j);
}

/* Routes a request naming one task id (field 1) to its partition. */
int srv_route_by_id(srv_job *j, srv_job_run_fn run, srv_job_done_fn done)
{
    const char *id;
    size_t idl;
    uint32_t part;
    uint64_t tid;
    if (srv_pb_string(j->req, j->req_len, 1, &id, &idl) < 0) {
        srv_job_fail(j, Q_INVALID_ARGUMENT, "malformed request");
        return -1;
    }
    if (idl == 0) {
        srv_job_fail(j, Q_INVALID_ARGUMENT, "id is required");
        return -1;
    }
    if (q_id_parse(id, idl, &part, &tid) != 0 || part >= srv_q.nparts) {
        srv_job_fail(j, Q_NOT_FOUND, "unknown task id '%.*s'", (int)(idl > 64 ? 64 : idl), id);
        return -1;
    }
    j->tag = tid;
    srv_job_dispatch(j, part, run, done);
    return 0;
}

int srv_route_by_queue(srv_job *j, srv_job_run_fn run, srv_job_done_fn done)
{
    const char *name;
    size_t nl;
    if (srv_pb_string(j->req, j->req_len, 1, &name, &nl) < 0) {
        srv_job_fail(j, Q_INVALID_ARGUMENT, "malformed request");
        return -1;
    }
    if (!srv_check_queue(j, name, nl)) return -1;
    srv_job_dispatch(j, q_part_of(name, nl, srv_q.nparts), run, done);
    return 0;
}

/* "<digits>-<digits>": the shape of our ids, even when out of range (then NOT_FOUND rather
 * than INVALID_ARGUMENT). */
bool srv_id_shaped(const char *s, size_t n)
{
    size_t i = 0, a = 0, b = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++, a++;
    if (i == n || s[i] != '-') return false;
    i++;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++, b++;
    return i == n && a > 0 && b > 0;
}

/* ---- Ack: ids may span partitions ---- */

typedef struct ack_item {
    uint32_t index;
    uint64_t id;
    q_status code;
    const char *why; /* static text from q_part */
} ack_item;

static void run_ack(srv_job *j, srv_part *sp)
{
    ack_item *it = (ack_item *)j->req;
    uint32_t n = (uint32_t)(j->req_len / sizeof *it);
    uint64_t *ids = malloc(n * sizeof *ids);
    q_item *items = malloc(n * sizeof *items);
    if (!ids || !items) {
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory");
    } else {
        for (uint32_t i = 0; i < n; i++) ids[i] = it[i].id;
        q_err e;
        uint64_t commit_to;
        q_status st = q_part_ack(sp->p, ids, n, srv_q_now_ms(), items, &commit_to, &e);
        if (st != Q_OK) srv_job_err(j, &e);
        else
            for (uint32_t i = 0; i < n; i++) {
                it[i].code = items[i].code;
                it[i].why = items[i].why;
            }
    }
    free(ids);
    free(items);
    srv_job_reply_durable(j, sp);
}

static void ack_part_done(srv_job *j)
{
    srv_ack_fanout *fo = j->ctx;
    ack_item *it = (ack_item *)j->req;
    uint32_t n = (uint32_t)(j->req_len / sizeof *it);
    for (uint32_t i = 0; i < n; i++) {
        fo->codes[it[i].index] = j->status != Q_OK ? j->status : it[i].code;
        fo->whys[it[i].index] = j->status != Q_OK ? "log write failed" : it[i].why;
    }
    if (j->status != Q_OK && fo->status == Q_OK) {
        fo->status = j->status;
        snprintf(fo->msg, sizeof fo->msg, "%s", j->msg);
    }
    if (--fo->pending == 0) fo->done(fo);
}

void srv_ack_fanout_free(srv_ack_fanout *fo)
{
    if (!fo) return;
    if (fo->call) pw_grpc_call_unref(fo->call);
    free(fo->raw);
    free(fo->ids);
    free(fo->codes);
    free(fo->whys);
    free(fo);
}

/* Encodes AckResponse{results} from a finished fan-out into `out`. */
void srv_ack_fanout_encode(srv_ack_fanout *fo, buf *out)
{
    for (uint32_t i = 0; i < fo->n; i++)
        srv_encode_item(out, 1, fo->ids[i].ptr, fo->ids[i].len, fo->codes[i],
                        fo->codes[i] == Q_OK ? NULL : fo->whys[i]);
}

srv_ack_fanout *srv_ack_start(pw_grpc_call *call, const uint8_t *msg, size_t len, void (*done)(srv_ack_fanout *),
                              void *ctx, uint64_t tag, q_err *err)
{
    pw_pb_reader r;
    pw_pb_field f;
    int rc;
    uint32_t n = 0;
    pw_pb_reader_init(&r, msg, len);
    while ((rc = pw_pb_next(&r, &f)) == 1)
        if (f.num == 1 && f.wt == PW_PB_WT_LEN) n++;
    if (rc < 0 || n == 0 || n > Q_BATCH_MAX) {
        err->code = Q_INVALID_ARGUMENT;
        snprintf(err->msg, sizeof err->msg, rc < 0 ? "malformed AckRequest" : "an ack carries 1..%u ids", Q_BATCH_MAX);
        return NULL;
    }
    srv_ack_fanout *fo = calloc(1, sizeof *fo);
    if (fo) {
        fo->ids = calloc(n, sizeof *fo->ids);
        fo->codes = calloc(n, sizeof *fo->codes);
        fo->whys = calloc(n, sizeof *fo->whys);
        fo->raw = malloc(len);
    }
    if (!fo || !fo->ids || !fo->codes || !fo->whys || !fo->raw) {
        srv_ack_fanout_free(fo);
        err->code = Q_RESOURCE_EXHAUSTED;
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return NULL;
    }
    memcpy(fo->raw, msg, len);
    fo->n = n;
    fo->done = done;
    fo->ctx = ctx;
    fo->tag = tag;
    fo->call = call;
    if (call) pw_grpc_call_ref(call);
    /* Per partition: the items it owns. */
    uint32_t *per = calloc(srv_q.nparts, sizeof *per);
    uint32_t *parts = calloc(n, sizeof *parts);
    uint64_t *tids = calloc(n, sizeof *tids);
    uint32_t k = 0;
    pw_pb_reader_init(&r, fo->raw, len);
    while (pw_pb_next(&r, &f) == 1) {
        if (f.num != 1 || f.wt != PW_PB_WT_LEN) continue;
        fo->ids[k].ptr = (const char *)f.bytes.ptr;
        fo->ids[k].len = f.bytes.len;
        if (q_id_parse(fo->ids[k].ptr, fo->ids[k].len, &parts[k], &tids[k]) != 0) {
            /* AckResponse: INVALID_ARGUMENT for a string that is not a ringq id at all; an id of
             * our shape that cannot exist (partition out of range) is NOT_FOUND. */
            parts[k] = UINT32_MAX;
            bool shaped = srv_id_shaped(fo->ids[k].ptr, fo->ids[k].len);
            fo->codes[k] = shaped ? Q_NOT_FOUND : Q_INVALID_ARGUMENT;
            fo->whys[k] = shaped ? "unknown task id" : "not a ringq task id";
        } else if (parts[k] >= srv_q.nparts) {
            parts[k] = UINT32_MAX;
            fo->codes[k] = Q_NOT_FOUND;
            fo->whys[k] = "unknown task id";
        } else {
            per[parts[k]]++;
        }
        k++;
    }
    fo->pending = 1; /* held while dispatching */
    for (uint32_t p = 0; p < srv_q.nparts; p++) {
        if (!per[p]) continue;
        srv_job *j = srv_job_new(NULL, NULL, 0);
        ack_item *it = j ? malloc(per[p] * sizeof *it) : NULL;
        if (!it) {
            if (j) srv_job_free(j);
            for (uint32_t i = 0; i < n; i++)
                if (parts[i] == p) {
                    fo->codes[i] = Q_RESOURCE_EXHAUSTED;
                    fo->whys[i] = "out of memory";
                }
            continue;
        }
        uint32_t m = 0;
        for (uint32_t i = 0; i < n; i++)
            if (parts[i] == p) it[m++] = (ack_item){.index = i, .id = tids[i]};
        j->req = (uint8_t *)it;
        j->req_len = m * sizeof *it;
        j->ctx = fo;
        fo->pending++;
        srv_job_dispatch(j, p, run_ack, ack_part_done);
    }
    free(per);
    free(parts);
    free(tids);
    if (--fo->pending == 0) fo->done(fo);
    return fo;
}

/* ---- handlers (origin side) ---- */

static bool reject_draining(pw_grpc_call *c)
{
    if (!srv_runtime_draining(srv_shard_runtime(srv_shard_self()))) return false;
    pw_grpc_call_finish(c, PW_GRPC_UNAVAILABLE, "server is draining");
    return true;
}

static void finish_failed(srv_job *j)
{
    srv_job_answer(j);
    srv_job_free(j);
}

void srv_call_route(pw_grpc_call *c, const uint8_t *msg, size_t len, srv_route_fn route,
                    srv_job_run_fn run)
{
    srv_job *j = srv_job_new(c, msg, len);
    if (!j) {
        pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    if (route(j, run, NULL) < 0) finish_failed(j);
}

static void on_enqueue(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    if (reject_draining(c)) return;
    srv_call_route(c, msg, len, srv_route_by_queue, run_enqueue);
}

static void lease_done(srv_job *j)
{
    if (j->call) pw_grpc_call_set_user(j->call, NULL);
    srv_job_answer(j);
}

static void on_lease(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    if (reject_draining(c)) return;
    srv_job *j = srv_job_new(c, msg, len);
    if (!j) {
        pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    uint64_t dl = pw_grpc_call_deadline(c);
    if (dl != UINT64_MAX) {
        uint64_t now = rt_now_ns();
        /* Answer a little before the client's deadline so the tasks are not lost in flight. */
        uint64_t left_ms = dl > now ? (dl - now) / RT_NS_PER_MS : 0;
        j->tag = left_ms > 50 ? left_ms - 50 : 1;
    }
    pw_grpc_call_set_user(c, j);
    if (srv_route_by_queue(j, run_lease, lease_done) < 0) {
        pw_grpc_call_set_user(c, NULL);
        finish_failed(j);
    }
}

static void on_lease_cancel(pw_grpc_call *c, pw_grpc_status st)
{
    srv_job *j = pw_grpc_call_user(c);
    if (j) atomic_store_explicit(&j->cancelled, true, memory_order_relaxed);
}

static void ack_unary_done(srv_ack_fanout *fo)
{
    pw_grpc_call *c = fo->call;
    if (!pw_grpc_call_done(c)) {
        if (fo->status != Q_OK) {
            pw_grpc_call_finish(c, (pw_grpc_status)fo->status, fo->msg);
        } else {
            buf *b = pw_grpc_call_send_begin(c);
            if (b) {
                srv_ack_fanout_encode(fo, b);
                pw_grpc_call_send_commit(c, 0);
            }
            pw_grpc_call_finish(c, PW_GRPC_OK, NULL);
        }
    }
    srv_ack_fanout_free(fo);
}

static void on_ack(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    if (reject_draining(c)) return;
    q_err e;
    if (!srv_ack_start(c, msg, len, ack_unary_done, NULL, 0, &e))
        pw_grpc_call_finish(c, (pw_grpc_status)e.code, e.msg);
}

static void on_by_id(pw_grpc_call *c, const uint8_t *msg, size_t len, srv_job_run_fn run)
{
    if (reject_draining(c)) return;
    srv_call_route(c, msg, len, srv_route_by_id, run);
}

static void on_nack(pw_grpc_call *c, const uint8_t *msg, size_t len) { on_by_id(c, msg, len, run_nack); }
static void on_extend(pw_grpc_call *c, const uint8_t *msg, size_t len) { on_by_id(c, msg, len, run_extend); }

srv_job_run_fn srv_run_nack = run_nack;
srv_job_run_fn srv_run_extend = run_extend;

int srv_queue_add_methods(pw_grpc_server *g)
{
    static const pw_grpc_method m[] = {
        {.path = "/ringq.v1.Queue/Enqueue", .kind = PW_GRPC_UNARY, .on_message = on_enqueue},
        {.path = "/ringq.v1.Queue/Lease", .kind = PW_GRPC_UNARY, .on_message = on_lease,
         .on_cancel = on_lease_cancel},
        {.path = "/ringq.v1.Queue/Ack", .kind = PW_GRPC_UNARY, .on_message = on_ack},
        {.path = "/ringq.v1.Queue/Nack", .kind = PW_GRPC_UNARY, .on_message = on_nack},
        {.path = "/ringq.v1.Queue/Extend", .kind = PW_GRPC_UNARY, .on_message = on_extend},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        int r = pw_grpc_server_add_method(g, &m[i]);
        if (r < 0) return r;
    }
    return srv_work_add_method(g);
}
