/* server/srv_audit: ringq.v1.Admin.Audit, the conservation ledger (queue/q_part.h,
 * docs/semantics.md). One job per partition asked (one for a named queue: its partition; every
 * partition otherwise) runs q_part_audit[_all] on the owner and encodes a QueueLedger per queue,
 * varint-length-prefixed, into its reply; the origin merges them: the queues that do not
 * balance first, then by name, cut short before the message limit, with complete counts. */
#include "server/srv_audit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "proto_wire/pw_pb.h"
#include "server/srv_msg.h"
#include "server/srv_queue_rpc.h"

#define AUDIT_MSG_SLACK_BYTES 1024u  /* the counts and message framing */
#define AUDIT_ENTRY_FRAMING_BYTES 6u /* tag + length varint of one QueueLedger */

typedef struct audit_ctx {
    pw_grpc_call *call;
    uint32_t pending;
    q_status status;
    char msg[Q_ERR_MSG_BYTES];
    buf *parts; /* per partition: encoded QueueLedger messages, varint-length-prefixed */
} audit_ctx;

/* What the owner's callback writes into. */
typedef struct audit_out {
    buf *b;
    uint32_t part_no;
    int rc;
} audit_out;

static void put_ledger(void *ud, const q_audit *a)
{
    audit_out *o = ud;
    if (o->rc) return;
    const q_ledger *l = &a->led;
    pwm_ringq_v1_QueueLedger m = {
        .name = {(const uint8_t *)a->name, a->name_len},
        .partition = o->part_no,
        .enqueued = l->enqueued,
        .redriven = l->redriven,
        .acked = l->acked,
        .dead = l->dead,
        .deleted = l->deleted,
        .purged = l->purged,
        .dead_dropped = l->dead_dropped,
        .ready = a->ready,
        .delayed = a->delayed,
        .leased = a->leased,
        .dead_held = a->dead_held,
        .tasks_balanced = a->tasks_balanced,
        .dead_balanced = a->dead_balanced,
        .balanced = a->balanced,
        .incomplete_since = a->incomplete_since == UINT64_MAX ? 0 : a->incomplete_since};
    size_t mark = buf_size(o->b);
    o->rc = pw_pb_put_varint(o->b, pw_msg_size(&pwm_ringq_v1_QueueLedger_desc, &m));
    if (o->rc == 0) o->rc = pw_msg_encode(&pwm_ringq_v1_QueueLedger_desc, &m, o->b);
    if (o->rc < 0) buf_truncate(o->b, mark);
}

/* Owner: the job's queue name (SRV_JOB_REQ_BYTES) or, without one, every queue. */
static void run_audit_part(srv_job *j, srv_part *sp)
{
    audit_out o = {.b = &j->resp, .part_no = sp->no};
    if (j->req_kind == SRV_JOB_REQ_BYTES) {
        q_audit a;
        q_err e;
        if (q_part_audit(sp->p, (const char *)j->req.bytes.ptr, j->req.bytes.len, &a, &e) != Q_OK)
            srv_job_err(j, &e);
        else put_ledger(&o, &a);
    } else {
        (void)q_part_audit_all(sp->p, put_ledger, &o);
    }
    if (o.rc < 0) srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the ledger");
    srv_job_reply(j);
}

typedef struct ledger_ref {
    const uint8_t *p;
    size_t len;
    const char *name;
    size_t name_len;
    bool balanced; /* or not a finding: an incomplete history (QueueLedger.incomplete_since) */
} ledger_ref;

/* Unbalanced first, then by name (memcmp, then length). */
static int cmp_ref(const void *a, const void *b)
{
    const ledger_ref *x = a, *y = b;
    if (x->balanced != y->balanced) return x->balanced ? 1 : -1;
    int c = memcmp(x->name, y->name, x->name_len < y->name_len ? x->name_len : y->name_len);
    return c ? c : (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

/* Every partition's entries as refs into ac->parts, sorted. Returns how many; *out is
 * allocated (NULL when out of memory). */
static size_t audit_collect(audit_ctx *ac, ledger_ref **out)
{
    const uint8_t *p, *m;
    size_t left, ml, total = 0, n = 0;
    for (uint32_t k = 0; k < srv_q.nparts; k++) {
        p = buf_begin(&ac->parts[k]);
        left = buf_size(&ac->parts[k]);
        while (srv_lp_next(&p, &left, &m, &ml)) total++;
    }
    ledger_ref *refs = *out = rt_calloc(total ? total : 1, sizeof *refs);
    for (uint32_t k = 0; refs && k < srv_q.nparts; k++) {
        p = buf_begin(&ac->parts[k]);
        left = buf_size(&ac->parts[k]);
        while (srv_lp_next(&p, &left, &m, &ml)) {
            /* Our own encoding, made by run_audit_part: it decodes (no sub-messages). */
            pwm_ringq_v1_QueueLedger l;
            pw_msg_arena a;
            pw_msg_arena_init(&a, NULL, 0);
            if (pw_msg_decode(&pwm_ringq_v1_QueueLedger_desc, &l, m, ml, &a) < 0) continue;
            refs[n] = (ledger_ref){m, ml, (const char *)l.name.ptr, l.name.len,
                                   l.balanced || l.incomplete_since != 0};
            if (!refs[n].name) refs[n].name = "";
            n++;
        }
    }
    if (!refs) return 0;
    qsort(refs, n, sizeof *refs, cmp_ref);
    return n;
}

/* AuditResponse{queues = the refs that fit, counts} into b. 0 or a negative errno. */
static int audit_put(buf *b, const ledger_ref *refs, size_t n)
{
    size_t budget = srv_q.max_msg_bytes > AUDIT_MSG_SLACK_BYTES
                        ? srv_q.max_msg_bytes - AUDIT_MSG_SLACK_BYTES
                        : 0;
    pwm_ringq_v1_AuditResponse tail = {.queues_audited = n};
    for (size_t i = 0; i < n; i++) tail.queues_unbalanced += !refs[i].balanced;
    tail.balanced = tail.queues_unbalanced == 0;
    size_t bytes = 0, take = 0;
    for (; take < n; take++) {
        bytes += refs[take].len + AUDIT_ENTRY_FRAMING_BYTES;
        if (bytes > budget) break;
    }
    tail.truncated = take < n;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < take; i++)
        rc = pw_pb_put_bytes(b, pwm_ringq_v1_AuditResponse_FIELD_queues, refs[i].p, refs[i].len);
    if (rc == 0) rc = pw_msg_encode(&pwm_ringq_v1_AuditResponse_desc, &tail, b);
    return rc;
}

static void audit_finish(audit_ctx *ac)
{
    pw_grpc_call *c = ac->call;
    if (!pw_grpc_call_done(c)) {
        if (ac->status != Q_OK) {
            pw_grpc_call_finish(c, (pw_grpc_status)ac->status, ac->msg);
        } else {
            ledger_ref *refs;
            size_t n = audit_collect(ac, &refs);
            buf *b = refs ? pw_grpc_call_send_begin(c) : NULL;
            int rc = -ENOMEM;
            if (b) {
                rc = audit_put(b, refs, n);
                rc = rc == 0 ? pw_grpc_call_send_commit(c, 0) : (pw_grpc_call_send_abort(c), rc);
            }
            rt_free(refs);
            if (rc == 0) pw_grpc_call_finish(c, PW_GRPC_OK, NULL);
            else pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        }
    }
    for (uint32_t k = 0; k < srv_q.nparts; k++) buf_deinit(&ac->parts[k]);
    rt_free(ac->parts);
    pw_grpc_call_unref(ac->call);
    rt_free(ac);
}

static void audit_part_done(srv_job *j)
{
    audit_ctx *ac = j->ctx;
    if (j->status != Q_OK && ac->status == Q_OK) {
        ac->status = j->status;
        snprintf(ac->msg, sizeof ac->msg, "%s", j->msg);
    }
    /* Keep the partition's entries: swap the job's buffer into the context. */
    buf t = ac->parts[j->part_no];
    ac->parts[j->part_no] = j->resp;
    j->resp = t;
    if (--ac->pending == 0) audit_finish(ac);
}

/* Sends the job for partition k (carrying the queue name, if any); false when out of memory. */
static bool audit_dispatch(audit_ctx *ac, uint32_t k, pw_pb_bytes name)
{
    srv_job *j = srv_job_new(NULL, name.ptr, name.len);
    if (!j) return false;
    j->ctx = ac; /* for audit_part_done, on this shard */
    ac->pending++;
    srv_job_dispatch(j, k, run_audit_part, audit_part_done);
    return true;
}

void srv_audit_on_message(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    pwm_ringq_v1_AuditRequest r;
    pw_msg_arena a;
    if (srv_msg_decode(c, &pwm_ringq_v1_AuditRequest_desc, &r, msg, len, &a) < 0) return;
    pw_msg_arena_deinit(&a); /* no sub-messages: the name is a view into msg */
    q_err e;
    if (r.queue.len > 0 && q_queue_name_check(srv_chars(r.queue), r.queue.len, &e) != Q_OK) {
        pw_grpc_call_finish(c, (pw_grpc_status)e.code, e.msg);
        return;
    }
    audit_ctx *ac = rt_calloc(1, sizeof *ac);
    if (ac && !(ac->parts = rt_calloc(srv_q.nparts, sizeof *ac->parts))) {
        rt_free(ac);
        ac = NULL;
    }
    if (!ac) {
        pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    for (uint32_t k = 0; k < srv_q.nparts; k++) buf_init(&ac->parts[k], 1);
    ac->call = c;
    pw_grpc_call_ref(c);
    ac->pending = 1; /* held until every job is sent */
    bool ok = true;
    if (r.queue.len > 0)
        ok = audit_dispatch(ac, q_part_of(srv_chars(r.queue), r.queue.len, srv_q.nparts), r.queue);
    else
        for (uint32_t k = 0; ok && k < srv_q.nparts; k++) ok = audit_dispatch(ac, k, r.queue);
    if (!ok) {
        ac->status = Q_RESOURCE_EXHAUSTED;
        snprintf(ac->msg, sizeof ac->msg, "out of memory");
    }
    if (--ac->pending == 0) audit_finish(ac);
}
