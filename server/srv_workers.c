/* server/srv_workers: ringq.v1.Admin.ListWorkers. A Work session lives on its origin shard
 * (the one that owns its connection, server/srv_queue_work.c), so the request goes to every
 * shard through the mesh (one wk_call each, the self lane for the asking shard): each walks its
 * own sessions on its own thread and answers with copies (wl_rec records, no pointer into its
 * memory), as /metrics gathers per-partition figures. The asking shard sorts the records by
 * session id (shard and start order), cuts the page after page_token and encodes the response.
 *
 * A shard's answer, in its own buffer: records one after another, each a wl_rec then names_len
 * bytes "worker\0addr\0queue1\0...queueN\0", padded to 8 bytes. */
#include "server/srv_workers.h"

#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "server/srv_job.h"
#include "server/srv_msg.h"
#include "server/srv_part.h"
#include "server/srv_work_int.h"
#include "worker/wk_call.h"

#define WORKERS_PAGE_DEFAULT 100u     /* page_size 0: as ListQueues */
#define WORKERS_PAGE_MAX Q_PAGE_MAX   /* an admin view, not an export (1000) */
#define WORKERS_TOKEN_DIGITS_MAX 20u  /* a uint64_t in decimal */
#define WORKERS_MSG_SLACK_BYTES 1024u /* framing of the response besides its entries */

typedef struct wl_rec {
    uint64_t sid, since_ms;
    uint32_t credits, held, nsubs, names_len;
} wl_rec;

typedef struct wl_gather wl_gather;
typedef struct wl_shard {
    wk_call wc;
    wl_gather *g;
    buf recs; /* written on the target shard while the call is out, read on origin after */
    bool oom; /* the target could not copy every session (set there, read on origin after) */
} wl_shard;

struct wl_gather {
    srv_job *j; /* holds the call, the response and the status */
    uint32_t page_size;
    uint64_t after; /* sessions with a greater id */
    int pending;
    wl_shard *shards; /* srv_q.nshards */
};

static size_t pad8(size_t n) { return (n + 7u) & ~(size_t)7u; }

/* Target shard: appends one record for w. */
static int rec_append(buf *out, const srv_work *w)
{
    size_t wl = strlen(w->worker) + 1, al = strlen(w->addr) + 1, nl = wl + al;
    for (uint32_t i = 0; i < w->nsubs; i++) nl += w->subs[i].len + 1u;
    wl_rec r = {.sid = w->sid,
                .since_ms = w->since_ms,
                .credits = (uint32_t)(atomic_load(&w->credits) > 0 ? atomic_load(&w->credits) : 0),
                .held = w->held,
                .nsubs = w->nsubs,
                .names_len = (uint32_t)nl};
    static const char zeros[8];
    size_t mark = buf_size(out);
    int e = buf_append(out, &r, sizeof r);
    if (!e) e = buf_append(out, w->worker, wl);
    if (!e) e = buf_append(out, w->addr, al);
    for (uint32_t i = 0; !e && i < w->nsubs; i++) {
        e = buf_append(out, w->subs[i].name, w->subs[i].len);
        if (!e) e = buf_append(out, zeros, 1);
    }
    if (!e) e = buf_append(out, zeros, pad8(nl) - nl);
    if (e) buf_truncate(out, mark);
    return e;
}

static void on_list_shard(const srv_work *w, void *ud)
{
    wl_shard *s = ud;
    if (w->sid > s->g->after && rec_append(&s->recs, w) < 0) s->oom = true;
}

static void run_shard(wk_call *c, int self)
{
    wl_shard *s = (wl_shard *)((char *)c - offsetof(wl_shard, wc));
    srv_work_each(on_list_shard, s);
    wk_call_reply(c, 0);
}

static int by_sid(const void *a, const void *b)
{
    const wl_rec *x = *(const wl_rec *const *)a, *y = *(const wl_rec *const *)b;
    return (x->sid > y->sid) - (x->sid < y->sid);
}

/* Origin: the records of every shard, sorted; *n their count. NULL (and *n 0) when none or out
 * of memory (-ENOMEM in *err). */
static const wl_rec **collect(const wl_gather *g, size_t *n, int *err)
{
    size_t total = 0;
    *n = 0;
    *err = 0;
    for (int i = 0; i < srv_q.nshards; i++) {
        const buf *b = &g->shards[i].recs;
        for (size_t o = 0; o < buf_size(b);) {
            const wl_rec *r = (const wl_rec *)(buf_begin(b) + o);
            o += sizeof *r + pad8(r->names_len);
            total++;
        }
    }
    if (!total) return NULL;
    const wl_rec **v = rt_calloc(total, sizeof *v);
    if (!v) {
        *err = -ENOMEM;
        return NULL;
    }
    for (int i = 0; i < srv_q.nshards; i++) {
        const buf *b = &g->shards[i].recs;
        for (size_t o = 0; o < buf_size(b);) {
            const wl_rec *r = (const wl_rec *)(buf_begin(b) + o);
            v[(*n)++] = r;
            o += sizeof *r + pad8(r->names_len);
        }
    }
    qsort(v, *n, sizeof *v, by_sid);
    return v;
}

static pw_pb_bytes view_z(const char **p)
{
    pw_pb_bytes b = {(const uint8_t *)*p, strlen(*p)};
    *p += b.len + 1;
    return b;
}

/* Origin: encodes the page of ListWorkersResponse into g->j->resp. 0 or a negative errno. */
static int encode_page(wl_gather *g, const wl_rec **v, size_t n)
{
    size_t take = n < g->page_size ? n : g->page_size;
    pwm_ringq_v1_WorkerInfo *out = take ? rt_calloc(take, sizeof *out) : NULL;
    pw_pb_bytes *qs = take ? rt_calloc(take * WORK_SUBS_MAX, sizeof *qs) : NULL;
    char(*ids)[WORKERS_TOKEN_DIGITS_MAX + 1] = take ? rt_calloc(take, sizeof *ids) : NULL;
    int rc = take && (!out || !qs || !ids) ? -ENOMEM : 0;
    size_t budget = srv_q.max_msg_bytes > WORKERS_MSG_SLACK_BYTES
                        ? srv_q.max_msg_bytes - WORKERS_MSG_SLACK_BYTES
                        : 0;
    size_t k = 0, bytes = 0;
    for (; rc == 0 && k < take; k++) {
        const wl_rec *r = v[k];
        const char *p = (const char *)(r + 1);
        pw_pb_bytes worker = view_z(&p), addr = view_z(&p);
        for (uint32_t q = 0; q < r->nsubs; q++) qs[k * WORK_SUBS_MAX + q] = view_z(&p);
        int idl = snprintf(ids[k], sizeof ids[k], "%llu", (unsigned long long)r->sid);
        out[k] = (pwm_ringq_v1_WorkerInfo){.id = {(const uint8_t *)ids[k], (size_t)idl},
                                           .worker_id = worker,
                                           .address = addr,
                                           .queues = &qs[k * WORK_SUBS_MAX],
                                           .queues_count = r->nsubs,
                                           .credits = r->credits,
                                           .in_flight = r->held,
                                           .connected_unix_ms = r->since_ms};
        bytes += pw_msg_size(&pwm_ringq_v1_WorkerInfo_desc, &out[k]) + 8;
        if (bytes > budget) break;
    }
    if (rc == 0) {
        pwm_ringq_v1_ListWorkersResponse resp = {.workers = out, .workers_count = k};
        if (k < n)
            resp.next_page_token = (pw_pb_bytes){(const uint8_t *)ids[k - 1], strlen(ids[k - 1])};
        rc = pw_msg_encode(&pwm_ringq_v1_ListWorkersResponse_desc, &resp, &g->j->resp) < 0 ? -ENOMEM
                                                                                           : 0;
    }
    rt_free(ids);
    rt_free(qs);
    rt_free(out);
    return rc;
}

static void gather_finish(wl_gather *g)
{
    srv_job *j = g->j;
    for (int i = 0; i < srv_q.nshards; i++)
        if (g->shards[i].oom)
            srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory listing the workers");
    if (j->status == Q_OK) {
        size_t n;
        int err;
        const wl_rec **v = collect(g, &n, &err);
        if (err || encode_page(g, v, n) < 0)
            srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the workers");
        rt_free(v);
    }
    srv_job_answer(j);
    srv_job_free(j);
    for (int i = 0; i < srv_q.nshards; i++) buf_deinit(&g->shards[i].recs);
    rt_free(g->shards);
    rt_free(g);
}

static void on_shard_done(wk_call *c, int result)
{
    wl_shard *s = (wl_shard *)((char *)c - offsetof(wl_shard, wc));
    if (--s->g->pending == 0) gather_finish(s->g);
}

static bool token_parse(pw_pb_bytes tok, uint64_t *after)
{
    *after = 0;
    if (tok.len > WORKERS_TOKEN_DIGITS_MAX) return false;
    for (size_t i = 0; i < tok.len; i++) {
        if (tok.ptr[i] < '0' || tok.ptr[i] > '9') return false;
        uint64_t d = (uint64_t)(tok.ptr[i] - '0');
        if (*after > (UINT64_MAX - d) / 10) return false;
        *after = *after * 10 + d;
    }
    return true;
}

void srv_workers_on_message(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    pwm_ringq_v1_ListWorkersRequest r;
    pw_msg_arena a;
    if (srv_msg_decode(c, &pwm_ringq_v1_ListWorkersRequest_desc, &r, msg, len, &a) < 0) return;
    pw_msg_arena_deinit(&a); /* no sub-messages: the token is a view into msg */
    uint64_t after;
    if (r.page_size > WORKERS_PAGE_MAX) {
        pw_grpc_call_finish(c, PW_GRPC_INVALID_ARGUMENT, "page_size is at most 1000");
        return;
    }
    if (!token_parse(r.page_token, &after)) {
        pw_grpc_call_finish(c, PW_GRPC_INVALID_ARGUMENT, "bad page_token");
        return;
    }
    wl_gather *g = rt_calloc(1, sizeof *g);
    wl_shard *sh = g ? rt_calloc((size_t)srv_q.nshards, sizeof *sh) : NULL;
    srv_job *j = sh ? srv_job_new(c, NULL, 0) : NULL;
    if (!j) {
        rt_free(sh);
        rt_free(g);
        pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    *g = (wl_gather){.j = j,
                     .page_size = r.page_size ? r.page_size : WORKERS_PAGE_DEFAULT,
                     .after = after,
                     .pending = srv_q.nshards,
                     .shards = sh};
    int self = srv_q_self();
    for (int i = 0; i < srv_q.nshards; i++) {
        sh[i].g = g;
        buf_init(&sh[i].recs, srv_q.max_msg_bytes);
        sh[i].wc.run = run_shard;
        sh[i].wc.done = on_shard_done;
        wk_call_start(srv_q.mesh, self, i, &sh[i].wc);
    }
}
