/* server/srv_admin: ringq.v1.Admin, through the generated schema (proto_wire/pw_msgs.h).
 * Requests naming a queue or a task id are decoded once, on the origin, from the job's own copy
 * (srv_job_decoded), routed by that decode and run on the owner of the partition, which reads
 * the decoded request the job carries (srv_job_msg); ListQueues asks every partition and
 * merges the pages by name. Replies are encoded once with pw_msg_encode. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "proto_wire/pw_pb.h"
#include "server/srv_audit.h"
#include "server/srv_auth.h"
#include "server/srv_leases.h"
#include "server/srv_workers.h"
#include "server/srv_msg.h"
#include "server/srv_queue_rpc.h"
#include "server/srv_receipt.h"

/* Encodes `msg` as the job's reply; a failed encode (out of memory) becomes the job's status. */
static void put_reply(srv_job *j, const pw_msg_desc *d, const void *msg)
{
    if (pw_msg_encode(d, msg, &j->resp) < 0)
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the reply");
}

static pw_pb_bytes view(const void *p, size_t n) { return (pw_pb_bytes){(const uint8_t *)p, n}; }

/* ---- one queue ---- */

static void put_info(srv_job *j, srv_part *sp, q_status st, const q_queue_info *qi, const q_err *e)
{
    if (st != Q_OK) srv_job_err(j, e);
    else if (srv_encode_queue_info(&j->resp, qi, sp->no) < 0)
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the reply");
}

static void run_get_queue(srv_job *j, srv_part *sp)
{
    const pwm_ringq_v1_GetQueueRequest *r = srv_job_msg(j); /* decoded on the origin; read only */
    q_queue_info qi;
    q_err e;
    put_info(
        j, sp,
        q_part_get_queue(sp->p, (const char *)r->name.ptr, r->name.len, srv_q_now_ms(), &qi, &e),
        &qi, &e);
    srv_job_reply(j);
}

/* The fields a ConfigureQueueRequest sets (proto3 optional: has_*) as a q_queue_cfg_patch. */
static void cfg_patch_of(const pwm_ringq_v1_ConfigureQueueRequest *r, q_queue_cfg_patch *patch)
{
    memset(patch, 0, sizeof *patch);
    if (r->has_max_attempts)
        patch->set |= Q_CFG_MAX_ATTEMPTS, patch->v.max_attempts = r->max_attempts;
    if (r->has_lease_ms) patch->set |= Q_CFG_LEASE_MS, patch->v.lease_ms = r->lease_ms;
    if (r->has_backoff_base_ms)
        patch->set |= Q_CFG_BACKOFF_BASE_MS, patch->v.backoff_base_ms = r->backoff_base_ms;
    if (r->has_backoff_max_ms)
        patch->set |= Q_CFG_BACKOFF_MAX_MS, patch->v.backoff_max_ms = r->backoff_max_ms;
    if (r->has_dead_letter) patch->set |= Q_CFG_DEAD_LETTER, patch->v.dead_letter = r->dead_letter;
    if (r->has_dedup_window_ms)
        patch->set |= Q_CFG_DEDUP_WINDOW_MS, patch->v.dedup_window_ms = r->dedup_window_ms;
    if (r->has_allow_tokenless_ack)
        patch->set |= Q_CFG_ALLOW_TOKENLESS, patch->v.allow_tokenless_ack = r->allow_tokenless_ack;
    if (r->has_release_counts_attempt)
        patch->set |= Q_CFG_RELEASE_COUNTS,
            patch->v.release_counts_attempt = r->release_counts_attempt;
}

static void run_configure(srv_job *j, srv_part *sp)
{
    const pwm_ringq_v1_ConfigureQueueRequest *r = srv_job_msg(
        j); /* decoded on the origin; read only */
    q_queue_cfg_patch patch;
    cfg_patch_of(r, &patch);
    q_queue_info qi;
    q_err e;
    uint64_t commit_to;
    put_info(j, sp,
             q_part_configure(sp->p, (const char *)r->name.ptr, r->name.len, &patch, srv_q_now_ms(),
                              &qi, &commit_to, &e),
             &qi, &e);
    srv_job_reply_durable(j, sp);
}

/* Pause and Resume: both requests are just the queue's name. */
static void run_pause_common(srv_job *j, srv_part *sp, bool paused)
{
    const pwm_ringq_v1_PauseQueueRequest *r = srv_job_msg(j); /* decoded on the origin; read only */
    q_queue_info qi;
    q_err e;
    uint64_t commit_to;
    put_info(j, sp,
             q_part_pause(sp->p, (const char *)r->name.ptr, r->name.len, paused, srv_q_now_ms(),
                          &qi, &commit_to, &e),
             &qi, &e);
    if (!paused) srv_part_serve_ready(sp);
    srv_job_reply_durable(j, sp);
}
_Static_assert(sizeof(pwm_ringq_v1_PauseQueueRequest) == sizeof(pwm_ringq_v1_ResumeQueueRequest),
               "Resume is decoded as Pause: the same single name field");
static void run_pause(srv_job *j, srv_part *sp) { run_pause_common(j, sp, true); }
static void run_resume(srv_job *j, srv_part *sp) { run_pause_common(j, sp, false); }

static void run_purge(srv_job *j, srv_part *sp)
{
    const pwm_ringq_v1_PurgeQueueRequest *r = srv_job_msg(j); /* decoded on the origin; read only */
    uint64_t purged = 0, commit_to;
    q_err e;
    q_status st = q_part_purge(sp->p, (const char *)r->name.ptr, r->name.len, srv_q_now_ms(),
                               &purged, &commit_to, &e);
    pwm_ringq_v1_PurgeQueueResponse out = {.purged = purged};
    if (st != Q_OK) srv_job_err(j, &e);
    else put_reply(j, &pwm_ringq_v1_PurgeQueueResponse_desc, &out);
    srv_job_reply_durable(j, sp);
}

static void run_delete_queue(srv_job *j, srv_part *sp)
{
    const pwm_ringq_v1_DeleteQueueRequest *r = srv_job_msg(
        j); /* decoded on the origin; read only */
    uint64_t deleted = 0, commit_to;
    q_err e;
    q_status st = q_part_delete_queue(sp->p, (const char *)r->name.ptr, r->name.len, r->force,
                                      srv_q_now_ms(), &deleted, &commit_to, &e);
    pwm_ringq_v1_DeleteQueueResponse out = {.deleted_tasks = deleted};
    if (st != Q_OK) srv_job_err(j, &e);
    else put_reply(j, &pwm_ringq_v1_DeleteQueueResponse_desc, &out);
    srv_job_reply_durable(j, sp);
}

/* ---- task listings ---- */

/* The response's repeated TaskInfo `field` (ListDeadTasks, PeekTasks), each encoded once, in
 * place (a TaskInfo's header views live on the encoder's stack while it is written). */
static int put_task_infos(srv_job *j, srv_part *sp, uint32_t field, const q_task_info *ts,
                          uint32_t n)
{
    int rc = 0;
    for (uint32_t i = 0; rc == 0 && i < n; i++)
        rc = srv_encode_task_info(&j->resp, field, sp->no, &ts[i]);
    return rc;
}

/* page_token of ListDeadTasks: the decimal id to continue from. false when it is not one. */
static bool dead_token_parse(pw_pb_bytes tok, uint64_t *from)
{
    *from = 0;
    for (size_t i = 0; i < tok.len; i++) {
        if (tok.ptr[i] < '0' || tok.ptr[i] > '9' || i > 19) return false;
        *from = *from * 10 + (uint64_t)(tok.ptr[i] - '0');
    }
    return true;
}

/* Encodes ListDeadTasksResponse{tasks, next_page_token} for out[0..n). */
static void put_dead_page(srv_job *j, srv_part *sp, const q_task_info *out, uint32_t n, bool more)
{
    char t[24];
    int k = more && n > 0 ? snprintf(t, sizeof t, "%llu", (unsigned long long)(out[n - 1].id + 1))
                          : 0;
    /* The tasks one by one, then the rest of the message through its table (fields in order). */
    pwm_ringq_v1_ListDeadTasksResponse tail = {.next_page_token = view(t, (size_t)k)};
    if (put_task_infos(j, sp, pwm_ringq_v1_ListDeadTasksResponse_FIELD_tasks, out, n) < 0 ||
        pw_msg_encode(&pwm_ringq_v1_ListDeadTasksResponse_desc, &tail, &j->resp) < 0)
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the reply");
}

static void run_list_dead(srv_job *j, srv_part *sp)
{
    const pwm_ringq_v1_ListDeadTasksRequest *r = srv_job_msg(
        j); /* decoded on the origin; read only */
    uint32_t page = r->page_size > Q_PAGE_MAX ? Q_PAGE_MAX + 1 : r->page_size;
    if (page == 0) page = Q_PAGE_DEFAULT;
    uint64_t from;
    q_task_info *out = NULL;
    if (!dead_token_parse(r->page_token, &from)) {
        srv_job_fail(j, Q_INVALID_ARGUMENT, "bad page_token");
        goto done;
    }
    out = rt_calloc(page <= Q_PAGE_MAX ? page : 1, sizeof *out);
    uint32_t n = 0;
    bool more = false;
    q_err e;
    q_status st = out ? q_part_list_dead(sp->p, (const char *)r->queue.ptr, r->queue.len, from,
                                         page, out, &n, &more, &e)
                      : Q_RESOURCE_EXHAUSTED;
    if (!out) snprintf(e.msg, sizeof e.msg, "out of memory"), e.code = st;
    if (st != Q_OK) srv_job_err(j, &e);
    else put_dead_page(j, sp, out, n, more);
done:
    rt_free(out);
    srv_job_reply(j);
}

/* Redrive's answer: RedriveDeadTasksResponse{redriven, results[i] for ids[i]}. An id that is
 * not this partition's (bad[i]) cannot be the queue's dead task: NOT_FOUND. */
static void put_redrive(srv_job *j, const pwm_ringq_v1_RedriveDeadTasksRequest *r,
                        uint64_t redriven, const bool *bad, const q_item *items)
{
    size_t n = r->ids_count;
    pwm_ringq_v1_ItemStatus *res = rt_calloc(n ? n : 1, sizeof *res);
    if (!res) {
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the reply");
        return;
    }
    for (size_t i = 0, g = 0; i < n; i++) {
        q_status code = bad[i] ? Q_NOT_FOUND : items[g].code;
        const char *why = code == Q_OK ? "" : bad[i] ? "unknown task id" : items[g].why;
        if (!bad[i]) g++;
        res[i] = (pwm_ringq_v1_ItemStatus){r->ids[i], (uint32_t)code, view(why, strlen(why))};
    }
    pwm_ringq_v1_RedriveDeadTasksResponse out = {
        .redriven = redriven, .results = res, .results_count = n};
    put_reply(j, &pwm_ringq_v1_RedriveDeadTasksResponse_desc, &out);
    rt_free(res);
}

static void redrive_decoded(srv_job *j, srv_part *sp, const pwm_ringq_v1_RedriveDeadTasksRequest *r)
{
    uint32_t n = (uint32_t)r->ids_count, good = 0;
    uint64_t *gids = rt_calloc(n ? n : 1, sizeof *gids);
    q_item *items = rt_calloc(n ? n : 1, sizeof *items);
    bool *bad = rt_calloc(n ? n : 1, sizeof *bad);
    if (!gids || !items || !bad) {
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
    }
    /* Ids of another partition (or malformed) cannot be this queue's dead tasks: NOT_FOUND. */
    for (uint32_t k = 0; k < n; k++) {
        uint32_t part;
        uint64_t id;
        if (q_id_parse(srv_chars(r->ids[k]), r->ids[k].len, &part, &id) != 0 || part != sp->no)
            bad[k] = true;
        else gids[good++] = id;
    }
    uint64_t redriven = 0, commit_to;
    q_err e;
    q_status st = Q_OK;
    if (n == 0 || good > 0)
        st = q_part_redrive(sp->p, (const char *)r->queue.ptr, r->queue.len, gids,
                            n == 0 ? 0 : good, srv_q_now_ms(), items, &redriven, &commit_to, &e);
    if (st != Q_OK) {
        srv_job_err(j, &e);
    } else {
        put_redrive(j, r, redriven, bad, items);
        srv_part_serve_ready(sp);
    }
out:
    rt_free(gids);
    rt_free(items);
    rt_free(bad);
}

static void run_redrive(srv_job *j, srv_part *sp)
{
    const pwm_ringq_v1_RedriveDeadTasksRequest *r = srv_job_msg(
        j); /* decoded on the origin; read only */
    if (r->ids_count > Q_BATCH_MAX)
        srv_job_fail(j, Q_INVALID_ARGUMENT, "a redrive names at most %u ids", Q_BATCH_MAX);
    else redrive_decoded(j, sp, r);
    srv_job_reply_durable(j, sp);
}

/* PeekTasks' state filter as q_part_peek's flags; 0 when the state cannot be peeked. */
static uint32_t peek_states(int32_t state)
{
    return state == Q_TASK_READY     ? Q_PEEK_READY
           : state == Q_TASK_DELAYED ? Q_PEEK_DELAYED
           : state == 0              ? Q_PEEK_READY | Q_PEEK_DELAYED
                                     : 0;
}

/* Peeks up to `limit` tasks of `name` in `states` and encodes PeekTasksResponse{tasks, more}. */
static void peek_encode(srv_job *j, srv_part *sp, pw_pb_bytes name, uint32_t states, uint32_t limit)
{
    q_task_info *out = rt_calloc(limit, sizeof *out);
    if (!out) {
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    /* One TaskInfo costs its payload, headers, key and error text plus its other fields (id,
     * queue name, numbers, per-header and message framing). */
    size_t per_task = 96 + name.len + 16 * Q_HEADERS_MAX;
    size_t budget = srv_q.max_msg_bytes > 1024 ? srv_q.max_msg_bytes - 1024 : srv_q.max_msg_bytes;
    uint32_t n = 0;
    bool more = false;
    q_err e;
    q_status st = q_part_peek(sp->p, (const char *)name.ptr, name.len, states, limit, budget,
                              per_task, out, &n, &more, &e);
    pwm_ringq_v1_PeekTasksResponse tail = {.more = more};
    if (st != Q_OK) srv_job_err(j, &e);
    else if (put_task_infos(j, sp, pwm_ringq_v1_PeekTasksResponse_FIELD_tasks, out, n) < 0 ||
             pw_msg_encode(&pwm_ringq_v1_PeekTasksResponse_desc, &tail, &j->resp) < 0)
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the reply");
    rt_free(out);
}

/* PeekTasks: the next tasks of a queue without leasing them (q_part_peek), bounded by the
 * limit and by the message limit like a LeaseResponse. */
static void run_peek(srv_job *j, srv_part *sp)
{
    const pwm_ringq_v1_PeekTasksRequest *r = srv_job_msg(j); /* decoded on the origin; read only */
    uint32_t limit = r->limit ? r->limit : Q_PEEK_LIMIT_DEFAULT;
    uint32_t states = peek_states(r->state);
    if (limit > Q_PAGE_MAX)
        srv_job_fail(j, Q_INVALID_ARGUMENT, "limit must be 1..%u (0: %u)", Q_PAGE_MAX,
                     Q_PEEK_LIMIT_DEFAULT);
    else if (!states)
        srv_job_fail(j, Q_INVALID_ARGUMENT,
                     "state must be TASK_STATE_READY, TASK_STATE_DELAYED or unspecified (both)");
    else peek_encode(j, sp, r->queue, states, limit);
    srv_job_reply(j);
}

static void run_get_task(srv_job *j, srv_part *sp)
{
    q_task_info ti;
    q_err e;
    q_status st = q_part_get_task(sp->p, j->task_id, &ti, &e);
    if (st != Q_OK) srv_job_err(j, &e);
    else if (srv_encode_task_info(&j->resp, 0, sp->no, &ti) < 0)
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the reply");
    srv_job_reply(j);
}

static void run_delete(srv_job *j, srv_part *sp)
{
    q_err e;
    uint64_t commit_to;
    q_status st = q_part_delete(sp->p, j->task_id, srv_q_now_ms(), &commit_to, &e);
    if (st != Q_OK) srv_job_err(j, &e);
    srv_job_reply_durable(j, sp);
}

/* ---- ListQueues: every partition, merged by name ----
 *
 * A page is the `page` smallest names after the token over all partitions. Asking each
 * partition for `page` names would do nparts times the work a page needs (a 1000-name page of
 * 16 partitions encoded 16,000 QueueInfo to send 1,000), so each partition is asked for at most
 * `part_max` names (list_part_max). A partition that had more than that ("cut") bounds the
 * page: names past the smallest last name of a cut partition might be missing, so the page
 * ends there, and may hold fewer than `page` names, though never fewer than part_max; the token
 * carries on after it. Names hashed evenly over the partitions never hit the cap. */

#define LIST_MSG_SLACK_BYTES 1024u  /* the page token and message framing */
#define LIST_ENTRY_FRAMING_BYTES 6u /* tag + length varint of one QueueInfo */
#define LIST_PART_SPREAD 2u         /* a partition may hold this times its even share... */
#define LIST_PART_SLACK 32u         /* ...plus this many names before it cuts the page */

typedef struct list_ctx {
    pw_grpc_call *call;
    uint32_t page;     /* names wanted */
    uint32_t part_max; /* names asked of each partition */
    uint32_t pending;
    q_status status;
    char msg[Q_ERR_MSG_BYTES];
    buf *parts;     /* per partition: encoded QueueInfo messages, varint-length-prefixed */
    bool *part_cut; /* per partition: it had more than part_max names after the token */
} list_ctx;

static uint32_t list_part_max(uint32_t page, uint32_t nparts)
{
    uint64_t m = (uint64_t)page * LIST_PART_SPREAD / nparts + LIST_PART_SLACK;
    return m < page ? (uint32_t)m : page;
}

static void run_list_part(srv_job *j, srv_part *sp)
{
    /* the job's copy of page_token (empty: no copy, SRV_JOB_REQ_NONE) */
    const char *tok = j->req_kind == SRV_JOB_REQ_BYTES ? (const char *)j->req.bytes.ptr : "";
    size_t tl = j->req_kind == SRV_JOB_REQ_BYTES ? j->req.bytes.len : 0;
    q_queue_info *out = rt_calloc(j->list_max, sizeof *out);
    uint32_t n = 0;
    bool more = false;
    if (!out) {
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory");
    } else {
        q_part_list_queues(sp->p, tok, tl, j->list_max, srv_q_now_ms(), out, &n, &more);
        int rc = 0;
        for (uint32_t i = 0; rc == 0 && i < n; i++) {
            /* varint length, then the QueueInfo encoded once behind it */
            size_t mark = buf_size(&j->resp);
            pwm_ringq_v1_QueueInfo qi;
            pwm_ringq_v1_QueueConfig cfg;
            srv_queue_info_view(&qi, &cfg, &out[i], sp->no);
            rc = pw_pb_put_varint(&j->resp, pw_msg_size(&pwm_ringq_v1_QueueInfo_desc, &qi));
            if (rc == 0) rc = pw_msg_encode(&pwm_ringq_v1_QueueInfo_desc, &qi, &j->resp);
            if (rc < 0) buf_truncate(&j->resp, mark);
        }
        if (rc < 0) srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the page");
        j->list_cut = more;
    }
    rt_free(out);
    srv_job_reply(j);
}

typedef struct qi_ref {
    const uint8_t *p;
    size_t len;
    const char *name;
    size_t name_len;
} qi_ref;

static int name_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

static int cmp_ref(const void *a, const void *b)
{
    const qi_ref *x = a, *y = b;
    return name_cmp(x->name, x->name_len, y->name, y->name_len);
}

/* Every partition's names as refs (into lc->parts), sorted, and the cut: the smallest last
 * name of a partition that had more (cut->name NULL when none did). Returns how many refs;
 * *out is malloc'd (NULL on -ENOMEM). */
static size_t list_collect(list_ctx *lc, qi_ref **out, qi_ref *cut)
{
    const uint8_t *p, *m;
    size_t left, ml, total = 0, n = 0;
    for (uint32_t k = 0; k < srv_q.nparts; k++)
        for (p = buf_begin(&lc->parts[k]), left = buf_size(&lc->parts[k]);
             srv_lp_next(&p, &left, &m, &ml);)
            total++;
    qi_ref *refs = *out = rt_calloc(total ? total : 1, sizeof *refs);
    memset(cut, 0, sizeof *cut);
    for (uint32_t k = 0; refs && k < srv_q.nparts; k++) {
        size_t first = n;
        for (p = buf_begin(&lc->parts[k]), left = buf_size(&lc->parts[k]);
             srv_lp_next(&p, &left, &m, &ml);) {
            refs[n].p = m;
            refs[n].len = ml;
            /* Our own encoding, made by run_list_part: decodes (the config into `cfg`). */
            pwm_ringq_v1_QueueInfo qi;
            uint64_t cfg[(sizeof(pwm_ringq_v1_QueueConfig) + 7) / 8];
            pw_msg_arena a;
            pw_msg_arena_init(&a, cfg, sizeof cfg);
            if (pw_msg_decode(&pwm_ringq_v1_QueueInfo_desc, &qi, m, ml, &a) < 0)
                qi.name = view("", 0);
            refs[n].name = (const char *)qi.name.ptr;
            refs[n].name_len = qi.name.len;
            n++;
        }
        if (lc->part_cut[k] && n > first && (!cut->name || cmp_ref(&refs[n - 1], cut) < 0))
            *cut = refs[n - 1];
    }
    if (!refs) return 0;
    qsort(refs, n, sizeof *refs, cmp_ref);
    return n;
}

/* ListQueuesResponse{queues = refs[0..take) (QueueInfo bytes the partitions encoded, put as
 * they are), next_page_token} into b. 0 or a negative errno. */
static int list_put_page(buf *b, const qi_ref *refs, size_t n, size_t take, const qi_ref *cut)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < take; i++)
        rc = pw_pb_put_bytes(b, pwm_ringq_v1_ListQueuesResponse_FIELD_queues, refs[i].p,
                             refs[i].len);
    pwm_ringq_v1_ListQueuesResponse tail = {0};
    if ((n > take || cut->name) && take > 0)
        tail.next_page_token = view(refs[take - 1].name, refs[take - 1].name_len);
    if (rc == 0) rc = pw_msg_encode(&pwm_ringq_v1_ListQueuesResponse_desc, &tail, b);
    return rc;
}

static void list_finish(list_ctx *lc)
{
    pw_grpc_call *c = lc->call;
    if (!pw_grpc_call_done(c)) {
        if (lc->status != Q_OK) {
            pw_grpc_call_finish(c, (pw_grpc_status)lc->status, lc->msg);
        } else {
            qi_ref *refs, cut;
            size_t n = list_collect(lc, &refs, &cut);
            buf *b = refs ? pw_grpc_call_send_begin(c) : NULL;
            int rc = -ENOMEM;
            if (b) {
                /* A page stops early rather than pass the message limit (its token says
                 * where the next page starts); the first entry always goes. */
                size_t budget = srv_q.max_msg_bytes > LIST_MSG_SLACK_BYTES
                                    ? srv_q.max_msg_bytes - LIST_MSG_SLACK_BYTES
                                    : 0;
                size_t take = 0, bytes = 0, want = n < lc->page ? n : lc->page;
                for (; take < want; take++) {
                    if (cut.name && cmp_ref(&refs[take], &cut) > 0) break;
                    bytes += refs[take].len + LIST_ENTRY_FRAMING_BYTES;
                    if (take > 0 && bytes > budget) break;
                }
                rc = list_put_page(b, refs, n, take, &cut);
                rc = rc == 0 ? pw_grpc_call_send_commit(c, 0) : (pw_grpc_call_send_abort(c), rc);
            }
            rt_free(refs);
            if (rc == 0) pw_grpc_call_finish(c, PW_GRPC_OK, NULL);
            else pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        }
    }
    for (uint32_t k = 0; k < srv_q.nparts; k++) buf_deinit(&lc->parts[k]);
    rt_free(lc->parts);
    rt_free(lc->part_cut);
    pw_grpc_call_unref(lc->call);
    rt_free(lc);
}

static void list_part_done(srv_job *j)
{
    list_ctx *lc = j->ctx;
    if (j->status != Q_OK && lc->status == Q_OK) {
        lc->status = j->status;
        snprintf(lc->msg, sizeof lc->msg, "%s", j->msg);
    }
    lc->part_cut[j->part_no] = j->list_cut;
    /* Keep the partition's page: swap the job's buffer into the context. */
    buf t = lc->parts[j->part_no];
    lc->parts[j->part_no] = j->resp;
    j->resp = t;
    if (--lc->pending == 0) list_finish(lc);
}

static void on_list_queues(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    pwm_ringq_v1_ListQueuesRequest r;
    pw_msg_arena a;
    if (srv_msg_decode(c, &pwm_ringq_v1_ListQueuesRequest_desc, &r, msg, len, &a) < 0) return;
    pw_msg_arena_deinit(&a); /* no sub-messages: the token is a view into msg */
    if (r.page_size > Q_PAGE_MAX) {
        char m[64];
        snprintf(m, sizeof m, "page_size must be 1..%u (0: %u)", Q_PAGE_MAX, Q_PAGE_DEFAULT);
        pw_grpc_call_finish(c, PW_GRPC_INVALID_ARGUMENT, m);
        return;
    }
    uint32_t page = r.page_size ? r.page_size : Q_PAGE_DEFAULT;
    list_ctx *lc = rt_calloc(1, sizeof *lc);
    if (lc) {
        lc->parts = rt_calloc(srv_q.nparts, sizeof *lc->parts);
        lc->part_cut = rt_calloc(srv_q.nparts, sizeof *lc->part_cut);
    }
    if (!lc || !lc->parts || !lc->part_cut) {
        if (lc) {
            rt_free(lc->parts);
            rt_free(lc->part_cut);
        }
        rt_free(lc);
        pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    for (uint32_t k = 0; k < srv_q.nparts; k++) buf_init(&lc->parts[k], 1);
    lc->call = c;
    pw_grpc_call_ref(c);
    lc->page = page;
    lc->part_max = list_part_max(page, srv_q.nparts);
    lc->pending = 1;
    for (uint32_t k = 0; k < srv_q.nparts; k++) {
        /* Each partition's job carries the decoded page_token (its own copy). */
        srv_job *j = srv_job_new(NULL, r.page_token.ptr, r.page_token.len);
        if (!j) {
            lc->status = Q_RESOURCE_EXHAUSTED;
            snprintf(lc->msg, sizeof lc->msg, "out of memory");
            continue;
        }
        j->ctx = lc; /* for list_part_done, on this shard */
        j->list_max = lc->part_max;
        lc->pending++;
        srv_job_dispatch(j, k, run_list_part, list_part_done);
    }
    if (--lc->pending == 0) list_finish(lc);
}

/* ---- handlers: each request decoded once here, to check and route it ---- */

/* on_<name>: decodes the request `Msg` once (the job carries it to the owner) and routes it by
 * its queue name or task id `member`. */
#define ADMIN_ROUTED(fn, Msg, route, member, run)                                   \
    static void fn(pw_grpc_call *c, const uint8_t *m, size_t n)                     \
    {                                                                               \
        srv_job *j = srv_job_decoded(c, m, n, &pwm_ringq_v1_##Msg##_desc);          \
        if (j) route(j, ((const pwm_ringq_v1_##Msg *)srv_job_msg(j))->member, run); \
    }

/* Routes a queue-named admin request once `admin` on that queue is checked (docs/security.md). */
static void admin_route_queue(srv_job *j, pw_pb_bytes queue, srv_job_run_fn run)
{
    if (srv_auth_call(j->call, SRV_AUTH_ADMIN, SRV_AUTH_QUEUE, (const char *)queue.ptr, queue.len))
        srv_call_route_queue(j, queue, run);
    else srv_job_decoded_refuse(j);
}

ADMIN_ROUTED(on_get_queue, GetQueueRequest, admin_route_queue, name, run_get_queue)
ADMIN_ROUTED(on_configure, ConfigureQueueRequest, admin_route_queue, name, run_configure)
ADMIN_ROUTED(on_pause, PauseQueueRequest, admin_route_queue, name, run_pause)
ADMIN_ROUTED(on_resume, ResumeQueueRequest, admin_route_queue, name, run_resume)
ADMIN_ROUTED(on_purge, PurgeQueueRequest, admin_route_queue, name, run_purge)
ADMIN_ROUTED(on_delete_queue, DeleteQueueRequest, admin_route_queue, name, run_delete_queue)
ADMIN_ROUTED(on_list_dead, ListDeadTasksRequest, admin_route_queue, queue, run_list_dead)
ADMIN_ROUTED(on_redrive, RedriveDeadTasksRequest, admin_route_queue, queue, run_redrive)
ADMIN_ROUTED(on_peek, PeekTasksRequest, admin_route_queue, queue, run_peek)
ADMIN_ROUTED(on_get_task, GetTaskRequest, srv_call_route_id, id, run_get_task)
ADMIN_ROUTED(on_delete, DeleteTaskRequest, srv_call_route_id, id, run_delete)

int srv_admin_add_methods(pw_grpc_server *g)
{
    static const pw_grpc_method m[] = {
        {.path = pwm_ringq_v1_Admin_ListQueues_PATH,
         .kind = PW_GRPC_UNARY,
         .on_message = on_list_queues},
        {.path = pwm_ringq_v1_Admin_GetQueue_PATH,
         .kind = PW_GRPC_UNARY,
         .on_message = on_get_queue},
        {.path = pwm_ringq_v1_Admin_ConfigureQueue_PATH,
         .kind = PW_GRPC_UNARY,
         .on_message = on_configure},
        {.path = pwm_ringq_v1_Admin_PauseQueue_PATH, .kind = PW_GRPC_UNARY, .on_message = on_pause},
        {.path = pwm_ringq_v1_Admin_ResumeQueue_PATH,
         .kind = PW_GRPC_UNARY,
         .on_message = on_resume},
        {.path = pwm_ringq_v1_Admin_PurgeQueue_PATH, .kind = PW_GRPC_UNARY, .on_message = on_purge},
        {.path = pwm_ringq_v1_Admin_DeleteQueue_PATH,
         .kind = PW_GRPC_UNARY,
         .on_message = on_delete_queue},
        {.path = pwm_ringq_v1_Admin_GetTask_PATH, .kind = PW_GRPC_UNARY, .on_message = on_get_task},
        {.path = pwm_ringq_v1_Admin_ListDeadTasks_PATH,
         .kind = PW_GRPC_UNARY,
         .on_message = on_list_dead},
        {.path = pwm_ringq_v1_Admin_RedriveDeadTasks_PATH,
         .kind = PW_GRPC_UNARY,
         .on_message = on_redrive},
        {.path = pwm_ringq_v1_Admin_DeleteTask_PATH,
         .kind = PW_GRPC_UNARY,
         .on_message = on_delete},
        {.path = pwm_ringq_v1_Admin_PeekTasks_PATH, .kind = PW_GRPC_UNARY, .on_message = on_peek},
        {.path = pwm_ringq_v1_Admin_Audit_PATH,
         .kind = PW_GRPC_UNARY,
         .on_message = srv_audit_on_message},
        {.path = pwm_ringq_v1_Admin_ListLeases_PATH,
         .kind = PW_GRPC_UNARY,
         .on_message = srv_leases_on_message},
        {.path = pwm_ringq_v1_Admin_ListWorkers_PATH,
         .kind = PW_GRPC_UNARY,
         .on_message = srv_workers_on_message},
        {.path = pwm_ringq_v1_Admin_GetPartition_PATH,
         .kind = PW_GRPC_UNARY,
         .on_message = srv_receipt_on_get_partition},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        int r = pw_grpc_server_add_method(g, &m[i]);
        if (r < 0) return r;
    }
    return 0;
}
