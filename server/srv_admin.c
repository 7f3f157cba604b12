/* server/srv_admin: ringq.v1.Admin. Requests naming a queue or a task id run on the owner of
 * its partition; ListQueues asks every partition and merges the pages by name. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto_wire/pw_pb.h"
#include "server/srv_queue_rpc.h"

/* ---- one queue ---- */

static void put_info(srv_job *j, srv_part *sp, q_status st, const q_queue_info *qi, const q_err *e)
{
    if (st != Q_OK) srv_job_err(j, e);
    else srv_encode_queue_info(&j->resp, qi, sp->no);
}

static void run_get_queue(srv_job *j, srv_part *sp)
{
    const char *name;
    size_t nl;
    srv_pb_string(j->req, j->req_len, 1, &name, &nl);
    q_queue_info qi;
    q_err e;
    put_info(j, sp, q_part_get_queue(sp->p, name, nl, srv_q_now_ms(), &qi, &e), &qi, &e);
    srv_job_reply(j);
}

static void run_configure(srv_job *j, srv_part *sp)
{
    const char *name;
    size_t nl;
    srv_pb_string(j->req, j->req_len, 1, &name, &nl);
    q_queue_cfg_patch patch;
    memset(&patch, 0, sizeof patch);
    pw_pb_reader r;
    pw_pb_field f;
    pw_pb_reader_init(&r, j->req, j->req_len);
    while (pw_pb_next(&r, &f) == 1) {
        if (f.wt != PW_PB_WT_VARINT) continue;
        switch (f.num) {
        case 2: patch.set |= Q_CFG_MAX_ATTEMPTS; patch.v.max_attempts = f.u64 > UINT32_MAX ? UINT32_MAX : (uint32_t)f.u64; break;
        case 3: patch.set |= Q_CFG_LEASE_MS; patch.v.lease_ms = f.u64 > UINT32_MAX ? UINT32_MAX : (uint32_t)f.u64; break;
        case 4: patch.set |= Q_CFG_BACKOFF_BASE_MS; patch.v.backoff_base_ms = f.u64; break;
        case 5: patch.set |= Q_CFG_BACKOFF_MAX_MS; patch.v.backoff_max_ms = f.u64; break;
        case 6: patch.set |= Q_CFG_DEAD_LETTER; patch.v.dead_letter = f.u64 != 0; break;
        case 7: patch.set |= Q_CFG_DEDUP_WINDOW_MS; patch.v.dedup_window_ms = f.u64; break;
        default: break;
        }
    }
    q_queue_info qi;
    q_err e;
    uint64_t commit_to;
    put_info(j, sp, q_part_configure(sp->p, name, nl, &patch, srv_q_now_ms(), &qi, &commit_to, &e), &qi, &e);
    srv_job_reply_durable(j, sp);
}

static void run_pause_common(srv_job *j, srv_part *sp, bool paused)
{
    const char *name;
    size_t nl;
    srv_pb_string(j->req, j->req_len, 1, &name, &nl);
    q_queue_info qi;
    q_err e;
    uint64_t commit_to;
    put_info(j, sp, q_part_pause(sp->p, name, nl, paused, srv_q_now_ms(), &qi, &commit_to, &e), &qi, &e);
    if (!paused) srv_part_serve_ready(sp);
    srv_job_reply_durable(j, sp);
}
static void run_pause(srv_job *j, srv_part *sp) { run_pause_common(j, sp, true); }
static void run_resume(srv_job *j, srv_part *sp) { run_pause_common(j, sp, false); }

static void run_purge(srv_job *j, srv_part *sp)
{
    const char *name;
    size_t nl;
    srv_pb_string(j->req, j->req_len, 1, &name, &nl);
    uint64_t purged = 0, commit_to;
    q_err e;
    q_status st = q_part_purge(sp->p, name, nl, srv_q_now_ms(), &purged, &commit_to, &e);
    if (st != Q_OK) srv_job_err(j, &e);
    else if (purged) pw_pb_put_uint64(&j->resp, 1, purged);
    srv_job_reply_durable(j, sp);
}

/* DeleteQueue: name = 1, force = 2. */
static void run_delete_queue(srv_job *j, srv_part *sp)
{
    const char *name = "";
    size_t nl = 0;
    bool force = false;
    pw_pb_reader r;
    pw_pb_field f;
    int rc;
    pw_pb_reader_init(&r, j->req, j->req_len);
    while ((rc = pw_pb_next(&r, &f)) == 1) {
        if (f.num == 1 && f.wt == PW_PB_WT_LEN) { name = (const char *)f.bytes.ptr; nl = f.bytes.len; }
        else if (f.num == 2 && f.wt == PW_PB_WT_VARINT) force = f.u64 != 0;
    }
    if (rc < 0) {
        srv_job_fail(j, Q_INVALID_ARGUMENT, "malformed DeleteQueueRequest");
        srv_job_reply(j);
        return;
    }
    uint64_t deleted = 0, commit_to;
    q_err e;
    q_status st = q_part_delete_queue(sp->p, name, nl, force, srv_q_now_ms(), &deleted, &commit_to, &e);
    if (st != Q_OK) srv_job_err(j, &e);
    else if (deleted) pw_pb_put_uint64(&j->resp, 1, deleted);
    srv_job_reply_durable(j, sp);
}

/* ---- task listings ---- */

/* The response's repeated TaskInfo tasks = 1 (ListDeadTasks, PeekTasks). */
static void put_task_infos(srv_job *j, srv_part *sp, const q_task_info *ts, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        pw_pb_mark m;
        pw_pb_submsg_begin(&j->resp, 1, &m);
        srv_encode_task_info(&j->resp, sp->no, &ts[i]);
        pw_pb_submsg_end(&j->resp, &m);
    }
}

/* page_token of ListDeadTasks: the decimal id to continue from. */
static void run_list_dead(srv_job *j, srv_part *sp)
{
    const char *name = "", *tok = "";
    size_t nl = 0, tl = 0;
    uint32_t page = Q_PAGE_DEFAULT;
    pw_pb_reader r;
    pw_pb_field f;
    pw_pb_reader_init(&r, j->req, j->req_len);
    while (pw_pb_next(&r, &f) == 1) {
        if (f.num == 1 && f.wt == PW_PB_WT_LEN) { name = (const char *)f.bytes.ptr; nl = f.bytes.len; }
        else if (f.num == 2 && f.wt == PW_PB_WT_VARINT) page = f.u64 > Q_PAGE_MAX ? Q_PAGE_MAX + 1 : (uint32_t)f.u64;
        else if (f.num == 3 && f.wt == PW_PB_WT_LEN) { tok = (const char *)f.bytes.ptr; tl = f.bytes.len; }
    }
    if (page == 0) page = Q_PAGE_DEFAULT;
    uint64_t from = 0;
    for (size_t i = 0; i < tl; i++) {
        if (tok[i] < '0' || tok[i] > '9' || i > 19) {
            srv_job_fail(j, Q_INVALID_ARGUMENT, "bad page_token");
            srv_job_reply(j);
            return;
        }
        from = from * 10 + (uint64_t)(tok[i] - '0');
    }
    q_task_info *out = calloc(page <= Q_PAGE_MAX ? page : 1, sizeof *out);
    uint32_t n = 0;
    bool more = false;
    q_err e;
    q_status st = out ? q_part_list_dead(sp->p, name, nl, from, page, out, &n, &more, &e) : Q_RESOURCE_EXHAUSTED;
    if (!out) snprintf(e.msg, sizeof e.msg, "out of memory"), e.code = st;
    if (st != Q_OK) {
        srv_job_err(j, &e);
    } else {
        put_task_infos(j, sp, out, n);
        if (more && n > 0) {
            char t[24];
            int k = snprintf(t, sizeof t, "%llu", (unsigned long long)(out[n - 1].id + 1));
            pw_pb_put_string(&j->resp, 2, t, (size_t)k);
        }
    }
    free(out);
    srv_job_reply(j);
}

static void run_redrive(srv_job *j, srv_part *sp)
{
    const char *name;
    size_t nl;
    srv_pb_string(j->req, j->req_len, 1, &name, &nl);
    pw_pb_reader r;
    pw_pb_field f;
    uint32_t n = 0;
    pw_pb_reader_init(&r, j->req, j->req_len);
    while (pw_pb_next(&r, &f) == 1) n += f.num == 2 && f.wt == PW_PB_WT_LEN;
    if (n > Q_BATCH_MAX) {
        srv_job_fail(j, Q_INVALID_ARGUMENT, "a redrive names at most %u ids", Q_BATCH_MAX);
        srv_job_reply(j);
        return;
    }
    uint64_t *ids = calloc(n ? n : 1, sizeof *ids);
    q_item *items = calloc(n ? n : 1, sizeof *items);
    bool *bad = calloc(n ? n : 1, sizeof *bad);
    uint32_t k = 0, good = 0;
    /* Ids of another partition (or malformed) cannot be this queue's dead tasks: NOT_FOUND. */
    uint64_t *gids = calloc(n ? n : 1, sizeof *gids);
    pw_pb_reader_init(&r, j->req, j->req_len);
    while (ids && gids && bad && pw_pb_next(&r, &f) == 1) {
        if (f.num != 2 || f.wt != PW_PB_WT_LEN) continue;
        uint32_t part;
        if (q_id_parse((const char *)f.bytes.ptr, f.bytes.len, &part, &ids[k]) != 0 || part != sp->no) bad[k] = true;
        else gids[good++] = ids[k];
        k++;
    }
    uint64_t redriven = 0, commit_to;
    q_err e;
    q_status st = Q_OK;
    if (!ids || !items || !bad || !gids) {
        st = Q_RESOURCE_EXHAUSTED;
        snprintf(e.msg, sizeof e.msg, "out of memory");
        e.code = st;
    } else if (n == 0 || good > 0) {
        st = q_part_redrive(sp->p, name, nl, gids, n == 0 ? 0 : good, srv_q_now_ms(), items, &redriven, &commit_to, &e);
    }
    if (st != Q_OK) {
        srv_job_err(j, &e);
    } else {
        if (redriven) pw_pb_put_uint64(&j->resp, 1, redriven);
        uint32_t g = 0;
        k = 0;
        pw_pb_reader_init(&r, j->req, j->req_len);
        while (pw_pb_next(&r, &f) == 1) {
            if (f.num != 2 || f.wt != PW_PB_WT_LEN) continue;
            q_status code = bad[k] ? Q_NOT_FOUND : items[g].code;
            const char *why = bad[k] ? "unknown task id" : items[g].why;
            if (!bad[k]) g++;
            srv_encode_item(&j->resp, 2, (const char *)f.bytes.ptr, f.bytes.len, code, code == Q_OK ? NULL : why);
            k++;
        }
        srv_part_serve_ready(sp);
    }
    free(ids);
    free(items);
    free(bad);
    free(gids);
    srv_job_reply_durable(j, sp);
}

/* PeekTasks: the next tasks of a queue without leasing them (q_part_peek), bounded by the
 * limit and by the message limit like a LeaseResponse. */
static void run_peek(srv_job *j, srv_part *sp)
{
    const char *name = "";
    size_t nl = 0;
    uint64_t limit = Q_PEEK_LIMIT_DEFAULT, state = 0;
    pw_pb_reader r;
    pw_pb_field f;
    int rc;
    pw_pb_reader_init(&r, j->req, j->req_len);
    while ((rc = pw_pb_next(&r, &f)) == 1) {
        if (f.num == 1 && f.wt == PW_PB_WT_LEN) { name = (const char *)f.bytes.ptr; nl = f.bytes.len; }
        else if (f.num == 2 && f.wt == PW_PB_WT_VARINT) limit = f.u64 ? f.u64 : Q_PEEK_LIMIT_DEFAULT;
        else if (f.num == 3 && f.wt == PW_PB_WT_VARINT) state = f.u64;
    }
    uint32_t states = state == Q_TASK_READY ? Q_PEEK_READY
                      : state == Q_TASK_DELAYED ? Q_PEEK_DELAYED
                      : state == 0 ? Q_PEEK_READY | Q_PEEK_DELAYED : 0;
    if (rc < 0) srv_job_fail(j, Q_INVALID_ARGUMENT, "malformed PeekTasksRequest");
    else if (limit > Q_PAGE_MAX)
        srv_job_fail(j, Q_INVALID_ARGUMENT, "limit must be 1..%u (0: %u)", Q_PAGE_MAX, Q_PEEK_LIMIT_DEFAULT);
    else if (!states)
        srv_job_fail(j, Q_INVALID_ARGUMENT, "state must be TASK_STATE_READY, TASK_STATE_DELAYED or unspecified (both)");
    if (j->status != Q_OK) {
        srv_job_reply(j);
        return;
    }
    q_task_info *out = calloc((size_t)limit, sizeof *out);
    if (!out) {
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory");
        srv_job_reply(j);
        return;
    }
    /* One TaskInfo costs its payload, headers, key and error text plus its other fields (id,
     * queue name, numbers, per-header and message framing). */
    size_t per_task = 96 + nl + 16 * Q_HEADERS_MAX;
    size_t budget = srv_q.max_msg_bytes > 1024 ? srv_q.max_msg_bytes - 1024 : srv_q.max_msg_bytes;
    uint32_t n = 0;
    bool more = false;
    q_err e;
    q_status st = q_part_peek(sp->p, name, nl, states, (uint32_t)limit, budget, per_task, out, &n, &more, &e);
    if (st != Q_OK) {
        srv_job_err(j, &e);
    } else {
        put_task_infos(j, sp, out, n);
        if (more) pw_pb_put_bool(&j->resp, 2, true);
    }
    free(out);
    srv_job_reply(j);
}

static void run_get_task(srv_job *j, srv_part *sp)
{
    q_task_info ti;
    q_err e;
    q_status st = q_part_get_task(sp->p, j->tag, &ti, &e);
    if (st != Q_OK) srv_job_err(j, &e);
    else srv_encode_task_info(&j->resp, sp->no, &ti);
    srv_job_reply(j);
}

static void run_delete(srv_job *j, srv_part *sp)
{
    q_err e;
    uint64_t commit_to;
    q_status st = q_part_delete(sp->p, j->tag, srv_q_now_ms(), &commit_to, &e);
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

#define LIST_MSG_SLACK_BYTES 1024u   /* the page token and message framing */
#define LIST_ENTRY_FRAMING_BYTES 6u /* tag + length varint of one QueueInfo */
#define LIST_PART_SPREAD 2u          /* a partition may hold this times its even share... */
#define LIST_PART_SLACK 32u          /* ...plus this many names before it cuts the page */

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
    list_ctx *lc = j->ctx;
    const char *tok;
    size_t tl;
    srv_pb_string(j->req, j->req_len, 2, &tok, &tl);
    q_queue_info *out = calloc(lc->part_max, sizeof *out);
    uint32_t n = 0;
    bool more = false;
    if (!out) {
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory");
    } else {
        q_part_list_queues(sp->p, tok, tl, lc->part_max, srv_q_now_ms(), out, &n, &more);
        buf one;
        buf_init(&one, 512);
        for (uint32_t i = 0; i < n; i++) {
            one.rd = one.wr = 0;
            srv_encode_queue_info(&one, &out[i], sp->no);
            srv_lp_put(&j->resp, buf_begin(&one), buf_size(&one));
        }
        buf_deinit(&one);
        j->tag = more;
    }
    free(out);
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
        for (p = buf_begin(&lc->parts[k]), left = buf_size(&lc->parts[k]); srv_lp_next(&p, &left, &m, &ml);)
            total++;
    qi_ref *refs = *out = calloc(total ? total : 1, sizeof *refs);
    memset(cut, 0, sizeof *cut);
    for (uint32_t k = 0; refs && k < srv_q.nparts; k++) {
        size_t first = n;
        for (p = buf_begin(&lc->parts[k]), left = buf_size(&lc->parts[k]); srv_lp_next(&p, &left, &m, &ml);) {
            refs[n].p = m;
            refs[n].len = ml;
            srv_pb_string(m, ml, 1, &refs[n].name, &refs[n].name_len);
            n++;
        }
        if (lc->part_cut[k] && n > first && (!cut->name || cmp_ref(&refs[n - 1], cut) < 0))
            *cut = refs[n - 1];
    }
    if (!refs) return 0;
    qsort(refs, n, sizeof *refs, cmp_ref);
    return n;
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
            if (b) {
                /* A page stops early rather than pass the message limit (its token says
                 * where the next page starts); the first entry always goes. */
                size_t budget = srv_q.max_msg_bytes > LIST_MSG_SLACK_BYTES
                                    ? srv_q.max_msg_bytes - LIST_MSG_SLACK_BYTES : 0;
                size_t take = 0, bytes = 0, want = n < lc->page ? n : lc->page;
                for (; take < want; take++) {
                    if (cut.name && cmp_ref(&refs[take], &cut) > 0) break;
                    bytes += refs[take].len + LIST_ENTRY_FRAMING_BYTES;
                    if (take > 0 && bytes > budget) break;
                }
                for (size_t i = 0; i < take; i++) pw_pb_put_bytes(b, 1, refs[i].p, refs[i].len);
                if ((n > take || cut.name) && take > 0)
                    pw_pb_put_string(b, 2, refs[take - 1].name, refs[take - 1].name_len);
                pw_grpc_call_send_commit(c, 0);
            }
            free(refs);
            if (b) pw_grpc_call_finish(c, PW_GRPC_OK, NULL);
            else pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        }
    }
    for (uint32_t k = 0; k < srv_q.nparts; k++) buf_deinit(&lc->parts[k]);
    free(lc->parts);
    free(lc->part_cut);
    pw_grpc_call_unref(lc->call);
    free(lc);
}

static void list_part_done(srv_job *j)
{
    list_ctx *lc = j->ctx;
    if (j->status != Q_OK && lc->status == Q_OK) {
        lc->status = j->status;
        snprintf(lc->msg, sizeof lc->msg, "%s", j->msg);
    }
    lc->part_cut[j->part_no] = j->tag != 0;
    /* Keep the partition's page: swap the job's buffer into the context. */
    buf t = lc->parts[j->part_no];
    lc->parts[j->part_no] = j->resp;
    j->resp = t;
    if (--lc->pending == 0) list_finish(lc);
}

static void on_list_queues(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    pw_pb_reader r;
    pw_pb_field f;
    uint32_t page = Q_PAGE_DEFAULT;
    pw_pb_reader_init(&r, msg, len);
    while (pw_pb_next(&r, &f) == 1)
        if (f.num == 1 && f.wt == PW_PB_WT_VARINT && f.u64) {
            if (f.u64 > Q_PAGE_MAX) {
                char m[64];
                snprintf(m, sizeof m, "page_size must be 1..%u (0: %u)", Q_PAGE_MAX, Q_PAGE_DEFAULT);
                pw_grpc_call_finish(c, PW_GRPC_INVALID_ARGUMENT, m);
                return;
            }
            page = (uint32_t)f.u64;
        }
    list_ctx *lc = calloc(1, sizeof *lc);
    if (lc) {
        lc->parts = calloc(srv_q.nparts, sizeof *lc->parts);
        lc->part_cut = calloc(srv_q.nparts, sizeof *lc->part_cut);
    }
    if (!lc || !lc->parts || !lc->part_cut) {
        if (lc) {
            free(lc->parts);
            free(lc->part_cut);
        }
        free(lc);
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
        srv_job *j = srv_job_new(NULL, msg, len);
        if (!j) {
            lc->status = Q_RESOURCE_EXHAUSTED;
            snprintf(lc->msg, sizeof lc->msg, "out of memory");
            continue;
        }
        j->ctx = lc;
        lc->pending++;
        srv_job_dispatch(j, k, run_list_part, list_part_done);
    }
    if (--lc->pending == 0) list_finish(lc);
}

/* ---- handlers ---- */

static void by_queue(pw_grpc_call *c, const uint8_t *msg, size_t len, srv_job_run_fn run)
{
    srv_call_route(c, msg, len, srv_route_by_queue, run);
}

static void by_id(pw_grpc_call *c, const uint8_t *msg, size_t len, srv_job_run_fn run)
{
    srv_call_route(c, msg, len, srv_route_by_id, run);
}

static void on_get_queue(pw_grpc_call *c, const uint8_t *m, size_t n) { by_queue(c, m, n, run_get_queue); }
static void on_configure(pw_grpc_call *c, const uint8_t *m, size_t n) { by_queue(c, m, n, run_configure); }
static void on_pause(pw_grpc_call *c, const uint8_t *m, size_t n) { by_queue(c, m, n, run_pause); }
static void on_resume(pw_grpc_call *c, const uint8_t *m, size_t n) { by_queue(c, m, n, run_resume); }
static void on_purge(pw_grpc_call *c, const uint8_t *m, size_t n) { by_queue(c, m, n, run_purge); }
static void on_delete_queue(pw_grpc_call *c, const uint8_t *m, size_t n) { by_queue(c, m, n, run_delete_queue); }
static void on_list_dead(pw_grpc_call *c, const uint8_t *m, size_t n) { by_queue(c, m, n, run_list_dead); }
static void on_redrive(pw_grpc_call *c, const uint8_t *m, size_t n) { by_queue(c, m, n, run_redrive); }
static void on_peek(pw_grpc_call *c, const uint8_t *m, size_t n) { by_queue(c, m, n, run_peek); }
static void on_get_task(pw_grpc_call *c, const uint8_t *m, size_t n) { by_id(c, m, n, run_get_task); }
static void on_delete(pw_grpc_call *c, const uint8_t *m, size_t n) { by_id(c, m, n, run_delete); }

int srv_admin_add_methods(pw_grpc_server *g)
{
    static const pw_grpc_method m[] = {
        {.path = "/ringq.v1.Admin/ListQueues", .kind = PW_GRPC_UNARY, .on_message = on_list_queues},
        {.path = "/ringq.v1.Admin/GetQueue", .kind = PW_GRPC_UNARY, .on_message = on_get_queue},
        {.path = "/ringq.v1.Admin/ConfigureQueue", .kind = PW_GRPC_UNARY, .on_message = on_configure},
        {.path = "/ringq.v1.Admin/PauseQueue", .kind = PW_GRPC_UNARY, .on_message = on_pause},
        {.path = "/ringq.v1.Admin/ResumeQueue", .kind = PW_GRPC_UNARY, .on_message = on_resume},
        {.path = "/ringq.v1.Admin/PurgeQueue", .kind = PW_GRPC_UNARY, .on_message = on_purge},
        {.path = "/ringq.v1.Admin/DeleteQueue", .kind = PW_GRPC_UNARY, .on_message = on_delete_queue},
        {.path = "/ringq.v1.Admin/GetTask", .kind = PW_GRPC_UNARY, .on_message = on_get_task},
        {.path = "/ringq.v1.Admin/ListDeadTasks", .kind = PW_GRPC_UNARY, .on_message = on_list_dead},
        {.path = "/ringq.v1.Admin/RedriveDeadTasks", .kind = PW_GRPC_UNARY, .on_message = on_redrive},
        {.path = "/ringq.v1.Admin/DeleteTask", .kind = PW_GRPC_UNARY, .on_message = on_delete},
        {.path = "/ringq.v1.Admin/PeekTasks", .kind = PW_GRPC_UNARY, .on_message = on_peek},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        int r = pw_grpc_server_add_method(g, &m[i]);
        if (r < 0) return r;
    }
    return 0;
}
