/* server/srv_queue_ack: an Ack fanned out across partitions (unary Ack and the Work stream's
 * ack). The origin decoded the AckRequest once; the fan-out copies the ids' bytes (the request
 * is only borrowed) and sends each partition an owned array of the task ids it holds, each with
 * the lease token it was sent with (q_part_ack checks it). Each owner acks its share and the
 * origin collects the answers; the AckResponse is encoded once through the generated schema. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "proto_wire/pw_msg.h"
#include "server/srv_queue_int.h"
#include "server/srv_queue_rpc.h"

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

typedef struct srv_ack_item {
    uint32_t index;
    uint64_t id;
    uint64_t token; /* AckRequest.lease_tokens[index], 0 when none were sent */
    q_status code;
    const char *why; /* static text from q_part */
} ack_item;

/* The arrays q_part_ack takes, on the stack up to this many ids (2 KiB): a partition's share of
 * a Work stream's usual Ack (three mallocs and frees per share were ~1 % of the samples). */
#define ACK_RUN_STACK_IDS 64u

static void run_ack(srv_job *j, srv_part *sp)
{
    ack_item *it = j->req.acks.items;
    uint32_t n = j->req.acks.n;
    uint64_t ids_local[ACK_RUN_STACK_IDS], tokens_local[ACK_RUN_STACK_IDS];
    q_item items_local[ACK_RUN_STACK_IDS];
    bool heap = n > ACK_RUN_STACK_IDS;
    uint64_t *ids = heap ? rt_malloc(n * sizeof *ids) : ids_local;
    uint64_t *tokens = heap ? rt_malloc(n * sizeof *tokens) : tokens_local;
    q_item *items = heap ? rt_malloc(n * sizeof *items) : items_local;
    if (!ids || !tokens || !items) {
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory");
    } else {
        for (uint32_t i = 0; i < n; i++) ids[i] = it[i].id, tokens[i] = it[i].token;
        q_err e;
        uint64_t commit_to;
        q_status st = q_part_ack(sp->p, ids, tokens, n, srv_q_now_ms(), items, &commit_to, &e);
        if (st != Q_OK) srv_job_err(j, &e);
        else
            for (uint32_t i = 0; i < n; i++) {
                it[i].code = items[i].code;
                it[i].why = items[i].why;
            }
    }
    if (heap) {
        rt_free(ids);
        rt_free(tokens);
        rt_free(items);
    }
    srv_job_reply_durable(j, sp);
}

static void ack_part_done(srv_job *j)
{
    srv_ack_fanout *fo = j->ctx;
    const ack_item *it = j->req.acks.items;
    uint32_t n = j->req.acks.n;
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
    /* Back to the cache of the shard that made it, only from that shard (rt_cache frees it
     * when the list is full or the thread is not the owner). */
    if (fo->cache_shard >= 0 && fo->cache_shard == srv_q_self())
        rt_cache_put(&srv_q.shards[fo->cache_shard].fanouts, fo);
    else rt_free(fo);
}

/* Results encoded from a stack array rather than the heap, at most: a Work stream's usual Ack. */
#define ACK_ITEMS_ON_STACK 64u

int srv_ack_fanout_encode_range(srv_ack_fanout *fo, uint32_t from, uint32_t to, buf *out)
{
    /* Most Acks are small: their results fit a stack array (ACK_ITEMS_ON_STACK * 40 bytes). */
    uint32_t n = to - from;
    pwm_ringq_v1_ItemStatus local[ACK_ITEMS_ON_STACK];
    pwm_ringq_v1_ItemStatus *items = n <= ACK_ITEMS_ON_STACK ? local : rt_calloc(n, sizeof *items);
    if (!items) return -ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k = from + i;
        const char *why = fo->codes[k] == Q_OK || !fo->whys[k] ? "" : fo->whys[k];
        items[i] = (pwm_ringq_v1_ItemStatus){
            .id = {(const uint8_t *)fo->ids[k].ptr, fo->ids[k].len},
            .code = (uint32_t)fo->codes[k],
            .message = {(const uint8_t *)why, strlen(why)}};
    }
    pwm_ringq_v1_AckResponse r = {.results = items, .results_count = n};
    int rc = srv_encode_ack_resp(out, &r);
    if (items != local) rt_free(items);
    return rc;
}

int srv_ack_fanout_encode(srv_ack_fanout *fo, buf *out)
{
    return srv_ack_fanout_encode_range(fo, 0, fo->n, out);
}

/* Where the parts of a fan-out for n ids of nreq requests, nparts partitions and id_bytes of ids
 * sit in its one allocation, after the struct: ids, whys, tids, tokens, items and reqs (8-byte
 * aligned), then codes, parts, per (4 bytes), then the ids' bytes. Returns the allocation's size,
 * or 0 on overflow (n and nreq are at most Q_BATCH_MAX and id_bytes at most a gRPC message, so
 * only a broken caller gets there). */
typedef struct fanout_layout {
    size_t ids, whys, tids, tokens, items, reqs, codes, parts, per, raw, total;
} fanout_layout;

static size_t fanout_layout_of(fanout_layout *l, uint32_t n, uint32_t nreq, uint32_t nparts,
                               size_t id_bytes)
{
    size_t off = (sizeof(srv_ack_fanout) + 15u) & ~(size_t)15u;
    l->ids = off, off += n * sizeof *((srv_ack_fanout *)0)->ids;
    l->whys = off, off += n * sizeof(const char *);
    l->tids = off, off += n * sizeof(uint64_t);
    l->tokens = off, off += n * sizeof(uint64_t);
    l->items = off, off += n * sizeof(ack_item);
    l->reqs = off, off += nreq * sizeof(struct srv_ack_req);
    l->codes = off, off += n * sizeof(q_status);
    l->parts = off, off += n * sizeof(uint32_t);
    l->per = off, off += nparts * sizeof(uint32_t);
    l->raw = off;
    if (id_bytes > SIZE_MAX - off) return 0;
    l->total = off + id_bytes;
    return l->total;
}

size_t srv_ack_fanout_cached_bytes(void)
{
    fanout_layout l;
    return fanout_layout_of(&l, SRV_FANOUT_CACHED_IDS, SRV_FANOUT_CACHED_IDS, srv_q.nparts,
                            (size_t)SRV_FANOUT_CACHED_IDS * Q_ID_STR_BYTES);
}

/* A fan-out for n ids of nreq requests (id_bytes of ids) in one allocation (from this shard's
 * cache when it fits the cached size; only the struct, codes, whys and per are cleared: the
 * rest is written before it is read, and clearing a worst-case-sized cached object whole cost
 * more than the allocations it replaced). The caller copies the ids into fo->raw and points
 * fo->ids at them, and fills tokens and reqs. NULL: no memory. */
static srv_ack_fanout *fanout_new(uint32_t n, uint32_t nreq, size_t id_bytes)
{
    fanout_layout l;
    if (!fanout_layout_of(&l, n, nreq, srv_q.nparts, id_bytes)) return NULL;
    int self = srv_q_self();
    rt_cache *cache = srv_q.shards ? &srv_q.shards[self].fanouts : NULL;
    bool cached = cache && l.total <= cache->obj_bytes;
    uint8_t *mem = cached ? rt_cache_get(cache) : rt_malloc(l.total);
    if (!mem) return NULL;
    srv_ack_fanout *fo = (srv_ack_fanout *)mem;
    memset(fo, 0, sizeof *fo);
    fo->cache_shard = cached ? self : -1;
    fo->ids = (void *)(mem + l.ids);
    fo->whys = (const char **)(mem + l.whys);
    fo->tids = (uint64_t *)(mem + l.tids);
    fo->tokens = (uint64_t *)(mem + l.tokens);
    fo->items = (ack_item *)(mem + l.items);
    fo->reqs = (struct srv_ack_req *)(mem + l.reqs);
    fo->codes = (q_status *)(mem + l.codes);
    fo->parts = (uint32_t *)(mem + l.parts);
    fo->per = (uint32_t *)(mem + l.per);
    fo->raw = mem + l.raw;
    memset(fo->whys, 0, n * sizeof *fo->whys);
    memset(fo->codes, 0, n * sizeof *fo->codes);
    memset(fo->per, 0, srv_q.nparts * sizeof *fo->per);
    fo->n = n;
    fo->nreq = nreq;
    return fo;
}

/* Which partition holds fo->ids[k] (*tid its task id), or UINT32_MAX after answering the id
 * here: INVALID_ARGUMENT for a string that is not a ringq id at all; an id of our shape that
 * cannot exist (partition out of range) is NOT_FOUND. */
static uint32_t ack_part_of(srv_ack_fanout *fo, uint32_t k, uint64_t *tid)
{
    uint32_t part;
    if (q_id_parse(fo->ids[k].ptr, fo->ids[k].len, &part, tid) != 0) {
        bool shaped = srv_id_shaped(fo->ids[k].ptr, fo->ids[k].len);
        fo->codes[k] = shaped ? Q_NOT_FOUND : Q_INVALID_ARGUMENT;
        fo->whys[k] = shaped ? "unknown task id" : "not a ringq task id";
        return UINT32_MAX;
    }
    if (part >= srv_q.nparts) {
        fo->codes[k] = Q_NOT_FOUND;
        fo->whys[k] = "unknown task id";
        return UINT32_MAX;
    }
    return part;
}

/* Sends partition p its share of the ids, items[0..count) (a view into the fan-out, which
 * outlives the job); answers them here when out of memory. */
static void ack_dispatch_part(srv_ack_fanout *fo, uint32_t p, ack_item *items, uint32_t count)
{
    srv_job *j = srv_job_new(NULL, NULL, 0);
    if (!j) {
        for (uint32_t i = 0; i < count; i++) {
            fo->codes[items[i].index] = Q_RESOURCE_EXHAUSTED;
            fo->whys[items[i].index] = "out of memory";
        }
        return;
    }
    j->req_kind = SRV_JOB_REQ_ACKS;
    j->req.acks.items = items;
    j->req.acks.n = count;
    j->ctx = fo;
    fo->pending++;
    srv_job_dispatch(j, p, run_ack, ack_part_done);
}

/* Finds each id's partition, groups the ids by partition in one pass (fo->per: counts in, each
 * share's end out) and sends each partition its share. */
static void ack_dispatch(srv_ack_fanout *fo)
{
    for (uint32_t k = 0; k < fo->n; k++) {
        fo->parts[k] = ack_part_of(fo, k, &fo->tids[k]);
        if (fo->parts[k] != UINT32_MAX) fo->per[fo->parts[k]]++;
    }
    uint32_t at = 0;
    for (uint32_t p = 0; p < srv_q.nparts; p++) { /* per[p]: where p's share starts */
        uint32_t c = fo->per[p];
        fo->per[p] = at;
        at += c;
    }
    for (uint32_t k = 0; k < fo->n; k++) {
        uint32_t p = fo->parts[k];
        if (p != UINT32_MAX)
            fo->items[fo->per[p]++] = (ack_item){
                .index = k, .id = fo->tids[k], .token = fo->tokens[k]};
    }
    fo->pending = 1; /* held while dispatching */
    for (uint32_t p = 0, start = 0; p < srv_q.nparts; start = fo->per[p++])
        if (fo->per[p] > start) ack_dispatch_part(fo, p, fo->items + start, fo->per[p] - start);
    if (--fo->pending == 0) fo->done(fo);
}

bool srv_ack_check(const pwm_ringq_v1_AckRequest *req, q_err *err)
{
    uint32_t n = req->ids_count > Q_BATCH_MAX ? Q_BATCH_MAX + 1 : (uint32_t)req->ids_count;
    err->code = Q_INVALID_ARGUMENT;
    if (n == 0 || n > Q_BATCH_MAX) {
        snprintf(err->msg, sizeof err->msg, "an ack carries 1..%u ids", Q_BATCH_MAX);
        return false;
    }
    if (req->lease_tokens_count != 0 && req->lease_tokens_count != n) {
        snprintf(err->msg, sizeof err->msg,
                 "an ack carries one lease token per id or none: %zu tokens for %u ids",
                 req->lease_tokens_count, n);
        return false;
    }
    return true;
}

srv_ack_fanout *srv_ack_start(pw_grpc_call *call, const pwm_ringq_v1_AckRequest *req,
                              void (*done)(srv_ack_fanout *), void *ctx, uint64_t request_id,
                              q_err *err)
{
    if (!srv_ack_check(req, err)) return NULL;
    uint32_t n = (uint32_t)req->ids_count;
    size_t id_bytes = 0;
    for (uint32_t i = 0; i < n; i++) id_bytes += req->ids[i].len;
    srv_ack_fanout *fo = fanout_new(n, 1, id_bytes);
    if (!fo) {
        err->code = Q_RESOURCE_EXHAUSTED;
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return NULL;
    }
    /* The ids copied into fo->raw: the request they came from is only borrowed. */
    size_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (req->ids[i].len) memcpy(fo->raw + off, req->ids[i].ptr, req->ids[i].len);
        fo->ids[i].ptr = (const char *)fo->raw + off;
        fo->ids[i].len = req->ids[i].len;
        fo->tokens[i] = req->lease_tokens_count ? req->lease_tokens[i] : 0;
        off += req->ids[i].len;
    }
    fo->reqs[0] = (struct srv_ack_req){.request_id = request_id, .end = n};
    fo->done = done;
    fo->ctx = ctx;
    fo->call = call;
    if (call) pw_grpc_call_ref(call);
    ack_dispatch(fo);
    return fo;
}

/* ---- the stage: acks gathered for one fan-out ---- */

/* A staged request's head and each id's, as laid out in srv_ack_stage.bytes. */
#define STAGE_REQ_BYTES 12u /* u64 request_id, u32 ids */
#define STAGE_ID_BYTES 12u  /* u64 token, u32 len (then the id's bytes) */

void srv_ack_stage_init(srv_ack_stage *st)
{
    memset(st, 0, sizeof *st);
    buf_init(&st->bytes, SRV_ACK_STAGE_BYTES_MAX);
}

void srv_ack_stage_deinit(srv_ack_stage *st) { buf_deinit(&st->bytes); }

int srv_ack_stage_add(srv_ack_stage *st, uint64_t request_id, const pwm_ringq_v1_AckRequest *req)
{
    size_t need = STAGE_REQ_BYTES, id_bytes = 0;
    for (size_t i = 0; i < req->ids_count; i++) id_bytes += req->ids[i].len;
    need += req->ids_count * STAGE_ID_BYTES + id_bytes;
    uint8_t *p;
    int r = buf_reserve(&st->bytes, need, &p);
    if (r < 0) return r;
    uint32_t n = (uint32_t)req->ids_count;
    memcpy(p, &request_id, 8);
    memcpy(p + 8, &n, 4);
    p += STAGE_REQ_BYTES;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t token = req->lease_tokens_count ? req->lease_tokens[i] : 0;
        uint32_t len = (uint32_t)req->ids[i].len;
        memcpy(p, &token, 8);
        memcpy(p + 8, &len, 4);
        if (len) memcpy(p + STAGE_ID_BYTES, req->ids[i].ptr, len);
        p += STAGE_ID_BYTES + len;
    }
    buf_commit(&st->bytes, need);
    st->nreq++;
    st->nids += n;
    st->id_bytes += id_bytes;
    return 0;
}

bool srv_ack_stage_next_request(const srv_ack_stage *st, size_t *pos, uint64_t *request_id)
{
    const uint8_t *b = buf_begin(&st->bytes);
    if (*pos + STAGE_REQ_BYTES > buf_size(&st->bytes)) return false;
    uint32_t n;
    memcpy(request_id, b + *pos, 8);
    memcpy(&n, b + *pos + 8, 4);
    *pos += STAGE_REQ_BYTES;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t len;
        memcpy(&len, b + *pos + 8, 4);
        *pos += STAGE_ID_BYTES + len;
    }
    return true;
}

void srv_ack_stage_clear(srv_ack_stage *st)
{
    buf_consume(&st->bytes, buf_size(&st->bytes));
    buf_shrink(&st->bytes, SRV_ACK_STAGE_KEEP_BYTES);
    st->nreq = st->nids = 0;
    st->id_bytes = 0;
}

srv_ack_fanout *srv_ack_start_staged(srv_ack_stage *st, void (*done)(srv_ack_fanout *), void *ctx,
                                     q_err *err)
{
    srv_ack_fanout *fo = fanout_new(st->nids, st->nreq, st->id_bytes);
    if (!fo) {
        err->code = Q_RESOURCE_EXHAUSTED;
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return NULL;
    }
    const uint8_t *b = buf_begin(&st->bytes);
    size_t pos = 0, off = 0;
    uint32_t k = 0;
    for (uint32_t r = 0; r < st->nreq; r++) {
        uint32_t n;
        memcpy(&fo->reqs[r].request_id, b + pos, 8);
        memcpy(&n, b + pos + 8, 4);
        pos += STAGE_REQ_BYTES;
        for (uint32_t i = 0; i < n; i++, k++) {
            uint32_t len;
            memcpy(&fo->tokens[k], b + pos, 8);
            memcpy(&len, b + pos + 8, 4);
            if (len) memcpy(fo->raw + off, b + pos + STAGE_ID_BYTES, len);
            fo->ids[k].ptr = (const char *)fo->raw + off;
            fo->ids[k].len = len;
            off += len;
            pos += STAGE_ID_BYTES + len;
        }
        fo->reqs[r].end = k;
    }
    fo->done = done;
    fo->ctx = ctx;
    srv_ack_stage_clear(st); /* before done can run: it may stage again */
    ack_dispatch(fo);
    return fo;
}
