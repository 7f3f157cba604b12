/* server/srv_stream_read: ringq.v1.Streams GetMessage and Read.
 *
 * GetMessage is a job to the stream's owner, answered with the message encoded from the log
 * mapping into the reply.
 *
 * Read is a session on the origin that pulls batches from the owner, one at a time:
 *   1. the origin sends a read job (the arguments copied into it: stream, next seq, end, filters);
 *   2. the owner encodes up to READ_BATCH_MSGS messages (at most READ_BATCH_BYTES) as
 *      gRPC-framed StreamMessages straight from the log mapping into the job's buffer, the one
 *      copy, and replies with the next seq; with nothing to send on a live read (caught up) it
 *      parks the job on its shard's list until a publish to that stream or a commit (durable
 *      before visible: a message is read only once its record is durable, under --fsync always
 *      and interval) wakes it;
 *   3. the origin hands the batch to the call by reference (rt_blob) and asks for the next batch
 *      only once that blob is freed, i.e. its bytes went to the socket: a slow reader holds at
 *      most one batch on the server, never an unbounded backlog (flow control end to end).
 * The call ends OK at end_seq or after max_messages; NOT_FOUND when the stream goes; UNAVAILABLE
 * when the server drains. */
#include <errno.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "core/rt_blob.h"
#include "server/srv_auth.h"
#include "server/srv_stream_int.h"
#include "server/srv_stream_parts.h"
#include "server/srv_stream_read_int.h"

#define READ_SCAN_MAX 4096u    /* index entries walked per q_stream_next (sparse filters) */
#define READ_SCANS_PER_JOB 16u /* ... and such walks per job before it yields */

bool srv_stream_visible(srv_part *sp, uint64_t offset)
{
    return srv_q.log.policy == Q_COMMIT_NEVER || offset < q_log_durable(q_part_log(sp->p));
}

/* ---- GetMessage ---- */

static void run_get_message(srv_job *j, srv_part *sp)
{
    const pwm_ringq_v1_GetMessageRequest *r = srv_job_msg(j);
    q_stream *s = srv_stream_find(j, sp, r->stream);
    q_smsg m;
    q_err e;
    q_status st = Q_OK;
    if (s && r->which_case == pwm_ringq_v1_GetMessageRequest_FIELD_last_by_subject)
        st = q_stream_last_by_subject(sp->p, s, srv_chars(r->last_by_subject),
                                      r->last_by_subject.len, &m, &e);
    else if (s) st = q_stream_get(sp->p, s, srv_sparts_seq_in(s, r->seq), &m, &e); /* a member's */
    if (!s) {
        /* status set by srv_stream_find */
    } else if (st != Q_OK) {
        srv_job_err(j, &e);
    } else if ((m.seq = srv_sparts_seq_out(s, m.seq)),
               srv_smsg_encode(&j->resp, SRV_SMSG_PLAIN, srv_chars(r->stream), r->stream.len, &m,
                               false) < 0) {
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the reply");
    } else {
        srv_count_payload(m.payload_len, m.payload_len);
    }
    srv_job_reply(j);
}

static void on_get_message(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    if (srv_stream_reject_draining(c)) return;
    srv_job *j = srv_job_decoded(c, msg, len, &pwm_ringq_v1_GetMessageRequest_desc);
    if (!j) return;
    const pwm_ringq_v1_GetMessageRequest *r = srv_job_msg(j);
    q_err e;
    if (r->which_case == 0 ||
        (r->which_case == pwm_ringq_v1_GetMessageRequest_FIELD_seq && r->seq == 0)) {
        srv_job_fail(j, Q_INVALID_ARGUMENT, "seq (1..) or last_by_subject is required");
        srv_job_decoded_refuse(j);
    } else if (r->which_case == pwm_ringq_v1_GetMessageRequest_FIELD_last_by_subject &&
               q_subject_check(srv_chars(r->last_by_subject), r->last_by_subject.len, &e) != Q_OK) {
        srv_job_fail(j, Q_INVALID_ARGUMENT, "last_by_subject: %s", e.msg);
        srv_job_decoded_refuse(j);
    } else if (!srv_sparts_get_message(j, run_get_message)) {
        srv_stream_route(j, r->stream, "stream", run_get_message);
    }
}

/* ---- Read ---- */

/* The origin's session. */
typedef struct rd {
    srv_sread_head h; /* first: h.merge = false */
    pw_grpc_call *call;
    int origin;
    int refs; /* the call, the job in flight, the batch in flight */
    bool finished;
    srv_job *job;   /* in flight (read or parked on the owner), or NULL */
    bool blob_busy; /* a batch still referenced by the connection */
    uint32_t part;
    uint64_t left; /* messages still to send (UINT64_MAX: no limit) */
    rd_args a;
    struct rd *next, *prev; /* this shard's sessions */
} rd;

static _Thread_local rd *t_reads;
/* Owner side: this shard's parked read jobs (live reads caught up), FIFO. */
static _Thread_local srv_job *t_parked;

static void rd_unref(rd *r)
{
    if (--r->refs > 0) return;
    if (r->prev) r->prev->next = r->next;
    else if (t_reads == r) t_reads = r->next;
    if (r->next) r->next->prev = r->prev;
    pw_grpc_call_unref(r->call);
    rt_free(r);
}

static void rd_end(rd *r, pw_grpc_status st, const char *why)
{
    if (r->finished) return;
    r->finished = true;
    pw_grpc_call_finish(r->call, st, why);
    pw_grpc_call_set_user(r->call, NULL);
    rd_unref(r);
}

/* Owner: one message into j->resp: a gRPC-framed StreamMessage, preceded in a merge read by
 * its SRV_SREAD_ENTRY_BYTES entry head (publish time, frame length). 0 or a negative errno. */
static int read_encode(srv_job *j, const rd_args *a, const q_smsg *m)
{
    size_t at = buf_size(&j->resp);
    uint8_t head[SRV_SREAD_ENTRY_BYTES] = {0};
    if (a->merge && buf_append(&j->resp, head, sizeof head) < 0) return -ENOMEM;
    int rc = srv_smsg_encode(&j->resp, SRV_SMSG_READ_FRAMED, a->name, a->name_len, m,
                             a->headers_only);
    if (rc < 0) {
        buf_truncate(&j->resp, at);
        return rc;
    }
    if (a->merge) {
        srv_sread_entry_put(head, m->time_ms, (uint32_t)(buf_size(&j->resp) - at - sizeof head));
        memcpy((uint8_t *)buf_begin(&j->resp) + at, head, sizeof head);
    }
    return 0;
}

/* Owner: encodes the next batch of args `a` of stream s into j->resp. Returns the status; sets
 * j->task_id (next seq), j->list_max (messages) and j->list_cut (the end was reached). */
static void read_batch(srv_job *j, srv_part *sp, q_stream *s, const rd_args *a,
                       const q_filter_set *fs, bool *caught_up, uint64_t *pending_ms)
{
    *pending_ms = 0;
    uint64_t seq = a->by_time ? q_stream_seq_at_time(sp->p, s, a->start_ms) : a->from_seq;
    if (seq < q_stream_first_seq(s)) seq = q_stream_first_seq(s);
    uint32_t n = 0, scans = 0;
    uint64_t payload = 0;
    *caught_up = false;
    while (n < READ_BATCH_MSGS && n < a->max && buf_size(&j->resp) < READ_BATCH_BYTES) {
        if ((a->end_seq && seq > a->end_seq) || (a->snapshot && seq > q_stream_last_seq(s))) {
            j->list_cut = true;
            break;
        }
        q_smsg m;
        uint64_t resume = seq;
        q_err e;
        q_status st = q_stream_next(sp->p, s, seq, fs->n ? fs : NULL, READ_SCAN_MAX, &m, &resume,
                                    &e);
        if (st == Q_DATA_LOSS) {
            seq = m.seq + 1; /* a damaged record is skipped, as a removed one */
            continue;
        }
        if (st != Q_OK) {
            seq = resume;
            if (seq <= q_stream_last_seq(s) && ++scans < READ_SCANS_PER_JOB) continue;
            *caught_up = seq > q_stream_last_seq(s);
            if (*caught_up && a->snapshot) j->list_cut = true; /* a member: read out */
            break;
        }
        if (a->end_seq && m.seq > a->end_seq) {
            j->list_cut = true;
            break;
        }
        if (!srv_stream_visible(sp, m.offset)) {
            *caught_up = true; /* the commit that makes it durable wakes the job */
            *pending_ms = m.time_ms;
            break;
        }
        q_smsg out = m;
        out.seq = srv_sparts_seq_out(s, m.seq); /* a member's: the stream's sequence */
        if (read_encode(j, a, &out) < 0) {
            if (n == 0) srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding a message");
            break;
        }
        payload += a->headers_only ? 0 : m.payload_len;
        seq = m.seq + 1;
        n++;
    }
    srv_count_payload(payload, payload); /* the one copy: mapping -> the batch */
    j->task_id = seq;
    j->list_max = n;
}

static void read_park(srv_job *j)
{
    j->wait_next = NULL;
    srv_job **pp = &t_parked;
    while (*pp) pp = &(*pp)->wait_next;
    *pp = j;
    j->waitq = &t_parked;
}

/* Owner, a merge read's member caught up: appends its watermark (no later message of the
 * member will carry an earlier publish time: the first one not yet durable's, else now) and
 * replies when that says something the origin asked for (messages go with it, or the watermark
 * is past need_ms); true when it replied. Otherwise the job parks as any live read. A watermark
 * equal to need_ms (a message of another member published this very millisecond) is answered
 * too: the origin asks again, for at most that millisecond. */
static bool read_mark(srv_job *j, uint64_t pending_ms)
{
    const rd_args *a = (const rd_args *)j->req.bytes.ptr;
    uint64_t wm = pending_ms ? pending_ms : srv_q_now_ms();
    bool answer = j->list_max > 0 || (a->need_ms && (wm > a->need_ms || !pending_ms));
    if (!answer) return false;
    uint8_t head[SRV_SREAD_ENTRY_BYTES];
    srv_sread_entry_put(head, wm, 0);
    if (buf_append(&j->resp, head, sizeof head) < 0 && j->list_max == 0)
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory");
    srv_job_reply(j);
    return true;
}

void srv_sread_run(srv_job *j, srv_part *sp)
{
    rd_args *a = (rd_args *)j->req.bytes.ptr;
    if (atomic_load_explicit(&j->cancelled, memory_order_relaxed)) {
        srv_job_reply(j);
        return;
    }
    q_stream *s = q_stream_find(sp->p, a->name, a->name_len);
    if (!s) {
        srv_job_fail(j, Q_NOT_FOUND, "no stream '%.*s'", (int)a->name_len, a->name);
        srv_job_reply(j);
        return;
    }
    q_filter_set fs = {0};
    q_subject_view v[Q_FILTER_SET_MAX];
    for (uint32_t i = 0; i < a->nf; i++) v[i] = (q_subject_view){a->f[i], a->flen[i]};
    if (a->nf) (void)q_filter_set_init(&fs, v, a->nf, NULL); /* checked on the origin */
    bool caught_up;
    uint64_t pending_ms;
    read_batch(j, sp, s, a, &fs, &caught_up, &pending_ms);
    if (j->status == Q_OK && a->merge && caught_up && !j->list_cut && read_mark(j, pending_ms))
        return;
    if (j->status != Q_OK || j->list_max > 0 || j->list_cut || !caught_up ||
        srv_runtime_draining(srv_shard_runtime(srv_shard_self()))) {
        srv_job_reply(j);
        return;
    }
    /* Live and caught up: from where it stopped, wait for a publish or a commit. */
    a->by_time = false;
    a->from_seq = j->task_id;
    read_park(j);
}

/* Owner: re-runs the parked jobs of partition sp (stream `name`, or all when name is NULL);
 * cancelled ones (of any partition) are answered as they are. */
static void wake_parked(srv_part *sp, const char *name, size_t len)
{
    srv_job *list = t_parked, *keep = NULL, **kt = &keep;
    t_parked = NULL;
    while (list) {
        srv_job *j = list;
        list = j->wait_next;
        j->wait_next = NULL;
        const rd_args *a = (const rd_args *)j->req.bytes.ptr;
        bool mine = j->part_no == sp->no &&
                    (!name || (a->name_len == len && memcmp(a->name, name, len) == 0));
        bool cancelled = atomic_load_explicit(&j->cancelled, memory_order_relaxed);
        if (!mine && !cancelled) {
            *kt = j;
            kt = &j->wait_next;
            continue;
        }
        j->waitq = NULL;
        if (cancelled) srv_job_reply(j);
        else srv_sread_run(j, sp); /* may park again, at the end of t_parked */
    }
    /* Jobs that parked again while we ran went to t_parked: keep ours first. */
    *kt = t_parked;
    t_parked = keep;
}

void srv_stream_published(srv_part *sp, q_stream *s)
{
    /* Under --fsync always and interval the messages just appended are not durable yet: the
     * completion of the commit that covers them (srv_part_serve_durable -> srv_stream_serve_part)
     * serves Reads and consumers, as it serves tasks (durable before visible). */
    if (srv_q.log.policy != Q_COMMIT_NEVER) return;
    uint32_t nl;
    const char *name = q_stream_name(s, &nl);
    wake_parked(sp, name, nl);
    /* Consumers are served from the next loop iteration (the shard's consumer timer, armed for
     * now), not from inside this publish: the publishes one iteration brings reach a Consume
     * stream as one batch of deliveries — one owner job, one encode pass, one send — where
     * serving here made one of each per batch-1 publish (the largest server cost of fan-out under
     * --fsync never, bench/results/streams-2026-12-07.md). The commit path above batches the
     * same way. */
    srv_cons_timer_at(srv_q_now_ms());
}

void srv_stream_serve_part(srv_part *sp)
{
    wake_parked(sp, NULL, 0);
    srv_cons_serve_all(sp);
}

void srv_stream_read_forget(srv_part *sp, const char *name, size_t len)
{
    /* Parked reads of a deleted stream run once more: they find no stream (NOT_FOUND). */
    wake_parked(sp, name, len);
}

static void run_sweep(srv_job *j, srv_part *sp)
{
    wake_parked(sp, "", 0); /* only the cancelled ones leave (no stream is named "") */
    srv_job_reply(j);
}

void srv_sread_sweep(uint32_t part)
{
    srv_job *sw = srv_job_new(NULL, NULL, 0);
    if (sw) srv_job_dispatch(sw, part, run_sweep, NULL);
    /* (out of memory: the job leaves at the stream's next publish or the drain) */
}

static void rd_next(rd *r);

/* A batch left the connection (sent, or dropped with the call): the next one may be read. */
static void rd_blob_freed(rt_blob *b)
{
    rd *r = b->ud;
    if (b->copied_bytes) srv_count_payload(0, b->copied_bytes);
    r->blob_busy = false;
    if (!r->finished && !r->job) rd_next(r);
    rd_unref(r);
}

/* Hands the batch (j->resp: n framed messages) to the call by reference. */
static void rd_send(rd *r, srv_job *j, uint32_t n)
{
    rt_blob *b = rt_blob_from_buf(&j->resp, rd_blob_freed, r);
    if (!b) return rd_end(r, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    r->refs++;
    r->blob_busy = true;
    int rc = srv_grpc_send_batch(r->call, b, n);
    rt_blob_unref(b); /* the connection keeps its own reference until the bytes are sent */
    if (rc < 0 && rc != -ECANCELED)
        rd_end(r, PW_GRPC_RESOURCE_EXHAUSTED, "a message could not be sent");
}

static void read_done(srv_job *j)
{
    rd *r = j->origin_ctx;
    r->job = NULL;
    if (!r->finished) {
        if (j->status != Q_OK) {
            rd_end(r, (pw_grpc_status)j->status, j->msg);
        } else {
            uint32_t n = (uint32_t)j->list_max;
            r->a.by_time = false;
            r->a.from_seq = j->task_id;
            if (r->left != UINT64_MAX) r->left -= n;
            if (n) rd_send(r, j, n);
            if (r->finished) {
                /* rd_send failed */
            } else if (r->left == 0 || j->list_cut) {
                rd_end(r, PW_GRPC_OK, NULL);
            } else if (srv_runtime_draining(srv_shard_runtime(srv_shard_self()))) {
                rd_end(r, PW_GRPC_UNAVAILABLE, "server is draining");
            } else if (!r->blob_busy) {
                rd_next(r);
            }
        }
    }
    rd_unref(r);
}

/* Sends the next read job. */
static void rd_next(rd *r)
{
    r->a.max = r->left < READ_BATCH_MSGS ? r->left : READ_BATCH_MSGS;
    srv_job *j = srv_job_new(NULL, (const uint8_t *)&r->a, sizeof r->a);
    if (!j) return rd_end(r, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    j->origin_ctx = r;
    r->job = j;
    r->refs++;
    srv_job_dispatch(j, r->part, srv_sread_run, read_done);
}

/* Checks the request and fills the session's arguments. Q_OK or INVALID_ARGUMENT in e. */
static q_status rd_args_from(const pwm_ringq_v1_ReadRequest *q, rd_args *a, q_err *e)
{
    if (q_stream_name_check_as("stream", srv_chars(q->stream), q->stream.len, e) != Q_OK)
        return e->code;
    e->code = Q_INVALID_ARGUMENT;
    if (q->filter_subjects_count > Q_FILTER_SET_MAX) {
        snprintf(e->msg, sizeof e->msg, "filter_subjects: at most %u, got %zu", Q_FILTER_SET_MAX,
                 q->filter_subjects_count);
        return e->code;
    }
    memcpy(a->name, q->stream.ptr, q->stream.len);
    a->name_len = (uint32_t)q->stream.len;
    for (size_t i = 0; i < q->filter_subjects_count; i++) {
        pw_pb_bytes f = q->filter_subjects[i];
        q_err fe;
        if (q_filter_check(srv_chars(f), f.len, &fe) != Q_OK) {
            snprintf(e->msg, sizeof e->msg, "filter_subjects[%u]: %.160s", (unsigned)(i & 0xff),
                     fe.msg);
            return e->code;
        }
        memcpy(a->f[i], f.ptr, f.len);
        a->flen[i] = (uint16_t)f.len;
    }
    a->nf = (uint32_t)q->filter_subjects_count;
    a->by_time = q->start_case == pwm_ringq_v1_ReadRequest_FIELD_start_unix_ms;
    a->start_ms = q->start_unix_ms;
    a->from_seq = q->start_case == pwm_ringq_v1_ReadRequest_FIELD_start_seq ? q->start_seq : 0;
    a->end_seq = q->end_seq;
    a->headers_only = q->headers_only;
    e->code = Q_OK;
    return Q_OK;
}

static void on_read(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    if (srv_stream_reject_draining(c)) return;
    pwm_ringq_v1_ReadRequest q;
    pw_msg_arena ar;
    if (srv_msg_decode(c, &pwm_ringq_v1_ReadRequest_desc, &q, msg, len, &ar) < 0) return;
    if (!srv_auth_call_named(c, SRV_AUTH_STREAM, srv_chars(q.stream), q.stream.len)) {
        pw_msg_arena_deinit(&ar);
        return;
    }
    const srv_sdir_ent *pe = srv_sparts_find(q.stream);
    rd *r = rt_calloc(1, sizeof *r);
    q_err e;
    q_status st = r ? rd_args_from(&q, &r->a, &e) : Q_RESOURCE_EXHAUSTED;
    if (!r) snprintf(e.msg, sizeof e.msg, "out of memory");
    uint64_t max = q.max_messages, after = q.after_seq;
    pw_msg_arena_deinit(&ar);
    if (st == Q_OK && after && !r->a.by_time) {
        st = Q_INVALID_ARGUMENT;
        snprintf(e.msg, sizeof e.msg, "after_seq needs start_unix_ms (the message's unix_ms)");
    }
    if (st == Q_OK && pe) { /* the members merged in publish-time order */
        srv_sread_merge_start(c, pe, &r->a, max, after);
        rt_free(r);
        return;
    }
    if (st == Q_OK && after) { /* a pinned stream: from the message after it */
        r->a.by_time = false;
        r->a.from_seq = after + 1;
    }
    if (st != Q_OK) {
        rt_free(r);
        pw_grpc_call_finish(c, (pw_grpc_status)st, e.msg);
        return;
    }
    r->call = c;
    pw_grpc_call_ref(c);
    r->origin = srv_q_self();
    r->refs = 1;
    r->left = max ? max : UINT64_MAX;
    r->part = q_part_of(r->a.name, r->a.name_len, srv_q.nparts);
    pw_grpc_call_set_user(c, r);
    r->next = t_reads;
    if (t_reads) t_reads->prev = r;
    t_reads = r;
    rd_next(r);
}

static void on_read_cancel(pw_grpc_call *c, pw_grpc_status st)
{
    rd *r = pw_grpc_call_user(c);
    if (!r) return;
    if (r->h.merge) return srv_sread_merge_cancel(r);
    pw_grpc_call_set_user(c, NULL);
    r->finished = true;
    if (r->job) {
        /* A parked job would wait for the next publish: tell the owner to let it go now. */
        atomic_store_explicit(&r->job->cancelled, true, memory_order_relaxed);
        srv_sread_sweep(r->part);
    }
    rd_unref(r);
}

/* Owner side at drain: parked reads answer now (their sessions end UNAVAILABLE). */
void srv_stream_read_drain(void)
{
    srv_job *list = t_parked;
    t_parked = NULL;
    while (list) {
        srv_job *j = list;
        list = j->wait_next;
        j->wait_next = NULL;
        j->waitq = NULL;
        srv_job_reply(j);
    }
}

int srv_stream_read_add_methods(pw_grpc_server *g)
{
    static const pw_grpc_method m[] = {
        {.path = pwm_ringq_v1_Streams_GetMessage_PATH, .on_message = on_get_message},
        {.path = pwm_ringq_v1_Streams_Read_PATH,
         .kind = PW_GRPC_SERVER_STREAMING,
         .on_message = on_read,
         .on_cancel = on_read_cancel},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        int r = pw_grpc_server_add_method(g, &m[i]);
        if (r < 0) return r;
    }
    return 0;
}
