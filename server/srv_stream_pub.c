/* server/srv_stream_pub: ringq.v1.Streams Publish and PublishStream.
 *
 * The origin decodes the request once, checks every subject and finds the stream capturing the
 * first one in its own directory copy (srv_stream_dir.h): every message must belong to that
 * stream (FAILED_PRECONDITION otherwise), and the job goes to its partition's owner. The owner
 * finds the stream by the same subject (q_stream_capturing: its own state is the truth; the
 * directory only routes), appends the batch (q_stream_publish: checked whole, nothing written
 * on a refusal), and answers at the durability asked, as Enqueue does (srv_receipt.h): SYNCED
 * after the group commit that covers the batch. A PublishStream request is the same job; the
 * stream answers its requests in request order, each once its own job is back (the window of
 * srv_ordered.h, shared with Queue.EnqueueStream). */
#include <errno.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "proto_wire/pw_pb.h"
#include "server/srv_auth.h"
#include "server/srv_ordered.h"
#include "server/srv_receipt.h"
#include "server/srv_stream_int.h"
#include "server/srv_stream_parts.h"

static pw_pb_bytes view(const void *p, size_t n) { return (pw_pb_bytes){(const uint8_t *)p, n}; }

/* ---- origin: checks and routing ---- */

/* Message i's subject checked and looked up in this shard's directory: Q_OK with *m its
 * stream, or the status with the reason in e. */
static q_status pub_subject(pw_pb_bytes subj, size_t i, const srv_sdir_ent **m, q_err *e)
{
    q_err se;
    if (srv_sdir_route(srv_chars(subj), subj.len, m, &se) != Q_OK) {
        e->code = Q_INVALID_ARGUMENT;
        snprintf(e->msg, sizeof e->msg, "messages[%u].%.160s", (unsigned)(i & 0x3ff), se.msg);
        return e->code;
    }
    if (*m) return Q_OK;
    e->code = Q_FAILED_PRECONDITION;
    snprintf(e->msg, sizeof e->msg, "messages[%zu]: no stream captures subject '%.*s'", i,
             (int)(subj.len > 128 ? 128 : subj.len), srv_chars(subj));
    return e->code;
}

static bool same_bytes(pw_pb_bytes a, pw_pb_bytes b)
{
    return a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
}

/* Checks the decoded batch and finds its stream's partition (of a partitioned stream: the
 * member's of its first subject, *split when the batch spans members, srv_stream_parts.h). Q_OK
 * with *part set, or the status with the reason in e. A subject equal to the message before's
 * is that one's (checked, same stream): producers repeat subjects, and a batch of one subject
 * costs one check and one directory lookup, not one per message. */
static q_status pub_check(const pw_grpc_call *call, const pwm_ringq_v1_PublishRequest *r,
                          uint32_t *part, const srv_sdir_ent **ent, bool *split, q_err *e)
{
    e->code = Q_INVALID_ARGUMENT;
    if (!r || r->messages_count == 0 || r->messages_count > Q_STREAM_BATCH_MAX) {
        snprintf(e->msg, sizeof e->msg, "a publish carries 1..%u messages, got %zu",
                 Q_STREAM_BATCH_MAX, r ? r->messages_count : 0);
        return e->code;
    }
    int level = srv_durability_resolve(r->durability, srv_q.log.policy, e->msg, sizeof e->msg);
    if (level < 0) {
        e->code = (q_status)-level;
        return e->code;
    }
    const srv_sdir_ent *s = NULL, *m = NULL;
    for (size_t i = 0; i < r->messages_count; i++) {
        pw_pb_bytes subj = r->messages[i].subject;
        bool again = i > 0 && same_bytes(subj, r->messages[i - 1].subject);
        if (!again && pub_subject(subj, i, &m, e) != Q_OK) return e->code;
        e->code = Q_FAILED_PRECONDITION;
        if (s && m != s) {
            snprintf(e->msg, sizeof e->msg,
                     "messages[%zu]: subject '%.*s' belongs to stream %.40s, the batch's first to "
                     "%.40s",
                     i, (int)(subj.len > 40 ? 40 : subj.len), srv_chars(subj), m->name, s->name);
            return e->code;
        }
        pw_pb_bytes want = r->messages[i].expected_stream;
        if (want.len && (want.len != m->name_len || memcmp(want.ptr, m->name, want.len) != 0)) {
            snprintf(e->msg, sizeof e->msg,
                     "messages[%zu]: expected stream '%.*s', subject '%.*s' belongs to %.40s", i,
                     (int)(want.len > 40 ? 40 : want.len), srv_chars(want),
                     (int)(subj.len > 40 ? 40 : subj.len), srv_chars(subj), m->name);
            return e->code;
        }
        e->code = Q_INVALID_ARGUMENT;
        s = m;
    }
    /* produce on the stream the subjects map to, known only now (docs/security.md) */
    char denied[SRV_AUTH_ERR_BYTES];
    int st = srv_auth_check_named(call, SRV_AUTH_STREAM, s->name, s->name_len, denied);
    if (st != 0) {
        e->code = (q_status)st;
        snprintf(e->msg, sizeof e->msg, "%.*s", (int)sizeof e->msg - 1, denied);
        return e->code;
    }
    *ent = s;
    return srv_sparts_pub_route(s, r, part, split, e);
}

/* ---- owner ---- */

/* A publish's arrays on the owner (the message views, their headers, the results and the
 * reply's acks and receipts; q_stream_publish's plan) are on the stack up to this many messages
 * and headers, ~15 KiB in all: the benchmark's and most producers' batches (64) cost no
 * allocation for them; a larger batch allocates each array it needs. A SYNCED publish's results
 * are allocated, kept in j->owner_state until its commit. */
#define PUB_STACK_MSGS 64u
#define PUB_STACK_HDRS 64u

/* At most PUBS_INFLIGHT_MAX PublishStream requests are held: one more is answered
 * RESOURCE_EXHAUSTED (in order), so a producer that never reads cannot make the server hold an
 * unbounded backlog. Every answer states it as its credits. */
#define PUBS_INFLIGHT_MAX 1024u

/* A publish's results (what a SYNCED one keeps until its commit: j->owner_state). */
typedef struct pub_results {
    uint32_t n;
    bool pubs;    /* a PublishStream request's: the reply is its whole answer (below) */
    uint64_t rid; /* its request_id */
    char stream[Q_STREAM_NAME_BYTES_MAX];
    uint32_t stream_len;
    q_pub_result res[];
} pub_results;

/* PublishResponse{stream, acks} with receipts as the log stands now into j->resp; for a
 * PublishStream request, the whole PublishStreamResponse{request_id, credits, publish} the
 * origin sends as it is (srv_ord_dispatch_encoded: no second encode, no copy). 0 or -ENOMEM. */
static int pub_encode(srv_job *j, srv_part *sp, const pub_results *pr)
{
    pwm_ringq_v1_PublishAck acks_local[PUB_STACK_MSGS];
    pwm_ringq_v1_Receipt rc_local[PUB_STACK_MSGS];
    bool heap = pr->n > PUB_STACK_MSGS;
    pwm_ringq_v1_PublishAck *acks = heap ? rt_calloc(pr->n, sizeof *acks) : acks_local;
    pwm_ringq_v1_Receipt *rc = heap ? rt_calloc(pr->n, sizeof *rc) : rc_local;
    int r = -ENOMEM;
    if (acks && rc) {
        for (uint32_t i = 0; i < pr->n; i++) {
            bool has = pr->res[i].offset != Q_OFF_NONE;
            if (has) srv_receipt_fill(&rc[i], sp->no, q_part_log(sp->p), pr->res[i].offset);
            acks[i] = (pwm_ringq_v1_PublishAck){pr->res[i].seq, pr->res[i].duplicate,
                                                has ? &rc[i] : NULL};
        }
        pwm_ringq_v1_PublishResponse m = {
            .stream = view(pr->stream, pr->stream_len), .acks = acks, .acks_count = pr->n};
        pwm_ringq_v1_PublishStreamResponse w = {
            .request_id = pr->rid, .publish = &m, .credits = PUBS_INFLIGHT_MAX};
        r = pr->pubs ? pw_msg_encode(&pwm_ringq_v1_PublishStreamResponse_desc, &w, &j->resp)
                     : pw_msg_encode(&pwm_ringq_v1_PublishResponse_desc, &m, &j->resp);
    }
    if (heap) {
        rt_free(acks);
        rt_free(rc);
    }
    return r;
}

static void pub_answer(srv_job *j, srv_part *sp, const pub_results *pr)
{
    if (pub_encode(j, sp, pr) < 0)
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the reply");
}

static void on_pub_synced(q_log *log, void *ud, int status, uint64_t durable)
{
    srv_job *j = ud;
    pub_results *pr = j->owner_state;
    j->owner_state = NULL;
    if (status < 0) srv_job_fail(j, Q_UNAVAILABLE, "log write failed: %s", strerror(-status));
    else pub_answer(j, srv_q_part(j->part_no), pr);
    rt_free(pr);
    srv_job_reply(j);
}

/* Views of the decoded messages as q_smsg_spec (headers into hdrs). */
static void spec_view(const pwm_ringq_v1_PublishMessage *m, q_smsg_spec *s, q_header *hdrs)
{
    for (size_t i = 0; i < m->headers_count; i++)
        hdrs[i] = (q_header){srv_chars(m->headers[i].key), (uint32_t)m->headers[i].key.len,
                             srv_chars(m->headers[i].value), (uint32_t)m->headers[i].value.len};
    *s = (q_smsg_spec){
        .subject = srv_chars(m->subject),
        .subject_len = (uint32_t)m->subject.len,
        .payload = (const uint8_t *)srv_chars(m->payload),
        .payload_len = (uint32_t)m->payload.len,
        .headers = hdrs,
        .nheaders = (uint32_t)m->headers_count,
        .msg_id = srv_chars(m->msg_id),
        .msg_id_len = (uint32_t)m->msg_id.len,
        .ttl_ms = m->ttl_ms,
        .has_expected_last_seq = m->has_expected_last_seq,
        .expected_last_seq = m->expected_last_seq,
        .has_expected_last_subject_seq = m->has_expected_last_subject_seq,
        .expected_last_subject_seq = m->expected_last_subject_seq,
    };
}

/* Appends the batch, its results into pr (pr->n of them, the caller's). 0, or -1 with j's
 * status set. */
static int pub_append(srv_job *j, srv_part *sp, q_stream *s, const pwm_ringq_v1_PublishRequest *r,
                      pub_results *pr)
{
    uint32_t n = pr->n, nh = 0;
    for (uint32_t i = 0; i < n; i++) nh += (uint32_t)r->messages[i].headers_count;
    q_smsg_spec specs_local[PUB_STACK_MSGS];
    q_header hdrs_local[PUB_STACK_HDRS];
    q_smsg_spec *specs = n <= PUB_STACK_MSGS ? specs_local : rt_malloc(n * sizeof *specs);
    q_header *hdrs = nh <= PUB_STACK_HDRS ? hdrs_local : rt_malloc(nh * sizeof *hdrs);
    if (!specs || !hdrs) {
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory");
    } else {
        for (uint32_t i = 0, hk = 0; i < n; hk += specs[i].nheaders, i++)
            spec_view(&r->messages[i], &specs[i], hdrs + hk);
        uint64_t commit_to = 0;
        q_err e;
        srv_sparts_pub_specs(s, specs, n); /* a member's: stream sequences as its own */
        if (q_stream_publish(sp->p, s, specs, n, srv_q_now_ms(), pr->res, &commit_to, &e) != Q_OK)
            srv_job_err(j, &e);
        else srv_sparts_pub_seqs(s, pr->res, n);
        const char *name = q_stream_name(s, &pr->stream_len);
        memcpy(pr->stream, name, pr->stream_len);
    }
    if (specs != specs_local) rt_free(specs);
    if (hdrs != hdrs_local) rt_free(hdrs);
    return j->status == Q_OK ? 0 : -1;
}

/* Answers a SYNCED publish once the group commit covering it ends; pr (allocated) is kept in
 * j->owner_state until then. */
static void pub_wait_synced(srv_job *j, srv_part *sp, pub_results *pr)
{
    j->owner_state = pr;
    /* Joins the fsync after the one in flight rather than starting one beside it: two
     * fdatasyncs of one file do not overlap on the disk (measured: a pipelined second made each
     * slower and a durable fan-out ~15% slower), while the next one, started when the one in
     * flight ends, covers every publish that arrived meanwhile. */
    int c = q_log_commit_join(q_part_log(sp->p), &j->cw, on_pub_synced, j);
    if (c == 0) return; /* on_pub_synced answers */
    on_pub_synced(q_part_log(sp->p), j, c < 0 ? c : 0, q_log_durable(q_part_log(sp->p)));
}

/* Publishes r on the owner; rid: a PublishStream request's id (its answer encoded here), or
 * NULL (the reply is the PublishResponse). */
static void do_publish(srv_job *j, srv_part *sp, const pwm_ringq_v1_PublishRequest *r,
                       const uint64_t *rid)
{
    pw_pb_bytes subj0 = r->messages[0].subject;
    q_stream *s = q_stream_capturing(sp->p, srv_chars(subj0), subj0.len);
    if (!s) {
        srv_job_fail(j, Q_FAILED_PRECONDITION, "no stream captures subject '%.*s'", (int)subj0.len,
                     srv_chars(subj0));
        srv_job_reply(j);
        return;
    }
    int level = srv_durability_resolve(r->durability, srv_q.log.policy, NULL, 0); /* valid */
    bool synced = level == pwm_ringq_v1_DURABILITY_SYNCED;
    uint32_t n = (uint32_t)r->messages_count;
    /* The results: on the stack unless kept until a commit (SYNCED) or too many. */
    _Alignas(pub_results) unsigned char
        local[sizeof(pub_results) + PUB_STACK_MSGS * sizeof(q_pub_result)];
    bool heap = synced || n > PUB_STACK_MSGS;
    pub_results *pr = heap ? rt_malloc(sizeof *pr + n * sizeof pr->res[0]) : (pub_results *)local;
    if (!pr) {
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory");
        srv_job_reply(j);
        return;
    }
    pr->n = n;
    pr->pubs = rid != NULL;
    pr->rid = rid ? *rid : 0;
    if (pub_append(j, sp, s, r, pr) < 0) {
        srv_job_reply_durable(j, sp); /* what a failure part-way wrote */
    } else {
        srv_stream_published(sp, s);
        if (synced) return pub_wait_synced(j, sp, pr); /* takes pr */
        pub_answer(j, sp, pr);
        srv_part_commit_soon(sp);
        srv_job_reply(j);
    }
    if (heap) rt_free(pr);
}

static void run_publish(srv_job *j, srv_part *sp) { do_publish(j, sp, srv_job_msg(j), NULL); }

/* One member's share of a batch split over a partitioned stream's members. */
static void run_publish_member(srv_job *j, srv_part *sp)
{
    pwm_ringq_v1_PublishRequest mine;
    int n = srv_sparts_pub_mine(j, &mine);
    if (n < 0) srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory");
    if (n <= 0) srv_job_reply(j);
    else do_publish(j, sp, &mine, NULL); /* copies what it keeps */
    if (n >= 0) rt_free((void *)mine.messages);
}

static void run_publish_stream(srv_job *j, srv_part *sp)
{
    const pwm_ringq_v1_PublishStreamRequest *r = srv_job_msg(j);
    do_publish(j, sp, r->publish, &r->request_id);
}

/* A PublishStream request to a partitioned stream, on member 0's owner: fanned out to the
 * members (one with no message of it answers at once). */
static void run_publish_stream_split(srv_job *j, srv_part *sp)
{
    srv_sparts_publish_owner_split(
        j, sp, ((const pwm_ringq_v1_PublishStreamRequest *)srv_job_msg(j))->publish,
        run_publish_member);
}

static void on_publish(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    if (srv_stream_reject_draining(c)) return;
    srv_job *j = srv_job_decoded(c, msg, len, &pwm_ringq_v1_PublishRequest_desc);
    if (!j) return;
    q_err e;
    uint32_t part = 0;
    const srv_sdir_ent *ent = NULL;
    bool split = false;
    if (pub_check(c, srv_job_msg(j), &part, &ent, &split, &e) != Q_OK) {
        srv_job_err(j, &e);
        srv_job_decoded_refuse(j);
        return;
    }
    if (split) srv_sparts_publish_split(j, ent, run_publish_member);
    else srv_call_route_part(j, part, run_publish);
}

/* ---- PublishStream: answers in request order (srv_ordered.h), at most PUBS_INFLIGHT_MAX held ---- */

/* PublishStreamResponse{request_id, code, message, credits, publish = body} into out. */
static int pubs_encode(buf *out, uint64_t request_id, q_status code, const char *message,
                       const uint8_t *body, size_t body_len, uint32_t credits)
{
    pwm_ringq_v1_PublishStreamResponse m = {
        .request_id = request_id,
        .code = (uint32_t)code,
        .message = view(message, message ? strlen(message) : 0),
        .credits = credits,
    };
    int r = pw_msg_encode(&pwm_ringq_v1_PublishStreamResponse_desc, &m, out);
    if (r == 0 && code == Q_OK)
        r = pw_pb_put_bytes(out, pwm_ringq_v1_PublishStreamResponse_FIELD_publish, body, body_len);
    return r;
}

/* One PublishStreamRequest: a job to the stream's owner, or an answer at once. */
static void pubs_request(srv_ord *o, srv_ord_item *it, const uint8_t *msg, size_t len)
{
    q_err e;
    srv_job *j = srv_job_decoded_msg(msg, len, &pwm_ringq_v1_PublishStreamRequest_desc, &e);
    if (!j) return srv_ord_answer(o, it, 0, e.code, e.msg, NULL, 0);
    const pwm_ringq_v1_PublishStreamRequest *r = srv_job_msg(j);
    uint64_t rid = r->request_id;
    uint32_t part = 0;
    const srv_sdir_ent *ent = NULL;
    bool split = false;
    /* Every request to a partitioned stream goes through member 0's owner, split or not: a
     * member's shares then reach it in request order (one lane from that owner), so a later
     * request can never overtake an earlier split one on the same subject (docs/semantics.md). */
    q_status st = pub_check(srv_ord_call(o), r->publish, &part, &ent, &split, &e);
    if (st == Q_OK && ent->parts > 1)
        return srv_ord_dispatch(o, it, rid, j, ent->part, run_publish_stream_split);
    if (st == Q_OK) /* the owner encodes the whole answer (pub_encode) */
        return srv_ord_dispatch_encoded(o, it, rid, j, part, run_publish_stream);
    srv_job_decoded_release(j);
    srv_job_free(j);
    srv_ord_answer(o, it, rid, e.code, e.msg, NULL, 0);
}

static const srv_ord_kind pubs_kind = {
    .held_max = PUBS_INFLIGHT_MAX,
    .encode = pubs_encode,
    .request = pubs_request,
};

static void on_pubs_start(pw_grpc_call *c) { srv_ord_start(c, &pubs_kind); }

void srv_stream_pub_drain(void) { srv_ord_drain(); }

int srv_stream_pub_add_methods(pw_grpc_server *g)
{
    static const pw_grpc_method m[] = {
        {.path = pwm_ringq_v1_Streams_Publish_PATH, .on_message = on_publish},
        {.path = pwm_ringq_v1_Streams_PublishStream_PATH,
         .kind = PW_GRPC_BIDI_STREAMING,
         .on_start = on_pubs_start,
         .on_message = srv_ord_on_message,
         .on_half_close = srv_ord_on_half_close,
         .on_cancel = srv_ord_on_cancel,
         .on_writable = srv_ord_on_writable},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        int r = pw_grpc_server_add_method(g, &m[i]);
        if (r < 0) return r;
    }
    return 0;
}
