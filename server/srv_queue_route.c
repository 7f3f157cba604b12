/* server/srv_queue_rpc's routing and decoded call jobs: a call job is routed to the shard owning
 * its queue, partition or task id (srv_route_*), and a call's request is decoded once on the
 * origin into a srv_decoded block the job carries to the owner (srv_job_decoded*). Split from
 * srv_queue_rpc.c (the methods themselves); declared in server/srv_queue_rpc.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "server/srv_msg.h"
#include "server/srv_queue_int.h"
#include "server/srv_queue_rpc.h"

q_status srv_route_id(srv_job *j, pw_pb_bytes id, srv_job_run_fn run, srv_job_done_fn done)
{
    const char *s = (const char *)id.ptr;
    uint32_t part;
    uint64_t tid;
    if (id.len == 0) {
        srv_job_fail(j, Q_INVALID_ARGUMENT, "id is required");
        return j->status;
    }
    if (q_id_parse(s, id.len, &part, &tid) != 0 || part >= srv_q.nparts) {
        srv_job_fail(j, Q_NOT_FOUND, "unknown task id '%.*s'", (int)(id.len > 64 ? 64 : id.len), s);
        return j->status;
    }
    j->task_id = tid;
    srv_job_dispatch(j, part, run, done);
    return Q_OK;
}
q_status srv_route_queue(srv_job *j, pw_pb_bytes name, srv_job_run_fn run, srv_job_done_fn done)
{
    if (!srv_check_queue(j, (const char *)name.ptr, name.len)) return j->status;
    srv_job_dispatch(j, q_part_of((const char *)name.ptr, name.len, srv_q.nparts), run, done);
    return Q_OK;
}
/* A small request's arena starts in the request's own allocation, sized from the message: its
 * structs take about as many bytes as their encoding (a 100-byte task's TaskSpec is 88), so
 * twice the length plus a little holds it whole and the arena's separate 4 KiB heap chunk (and
 * glibc's consolidation behind it) is gone. A request whose estimate passes
 * DECODED_INLINE_BYTES_MAX decodes into heap chunks as before: a 14 KiB block per 64-task
 * Enqueue made CPU per task worse at b64 (3 pairs of 3; glibc returns such a block to the top
 * of the heap and trims it). */
#define DECODED_INLINE_BYTES_MAX 2048u
#define DECODED_INLINE_SLACK_BYTES 256u

/* A block of `bytes` for srv_job_decoded: from this shard's cache when it fits the cached size,
 * else the heap; its cache_shard says where it goes back. NULL: out of memory. */
static srv_decoded *decoded_alloc(size_t bytes)
{
    int self = srv_q_self();
    rt_cache *cache = srv_q.shards ? &srv_q.shards[self].decoded : NULL;
    bool cached = cache && bytes <= cache->obj_bytes;
    srv_decoded *dc = cached ? rt_cache_get(cache) : rt_malloc(bytes);
    if (dc) dc->cache_shard = cached ? self : -1;
    return dc;
}

/* Frees j's decoded block (j->ctx): back to the cache of the shard that made it when freed on
 * that shard (the origin, which made it), else to the allocator. */
static void decoded_free(srv_job *j)
{
    srv_decoded *dc = j->ctx;
    pw_msg_arena_deinit(&dc->arena);
    if (dc->cache_shard >= 0 && dc->cache_shard == srv_q_self())
        rt_cache_put(&srv_q.shards[dc->cache_shard].decoded, dc);
    else rt_free(dc);
    j->ctx = NULL;
}

/* Takes one block for a `len`-byte message of `d` (srv_job_decoded*): the zeroed head with the
 * generated struct, the message's copy (j->req, a view into the block) and, for a small message,
 * the arena's first bytes (*inl_at, *inl_bytes; NULL, 0 otherwise). j->ctx owns the block from
 * here (decoded_free). -ENOMEM: out of memory, j untouched. */
static int decoded_block(srv_job *j, const uint8_t *msg, size_t len, const pw_msg_desc *d,
                         uint8_t **inl_at, size_t *inl_bytes)
{
    size_t head = (sizeof(srv_decoded) + d->size + 15u) & ~(size_t)15u;
    size_t copy = (len + 15u) & ~(size_t)15u;
    size_t inl = len <= (DECODED_INLINE_BYTES_MAX - DECODED_INLINE_SLACK_BYTES) / 2
                     ? (2 * len + DECODED_INLINE_SLACK_BYTES + 15u) & ~(size_t)15u
                     : 0;
    srv_decoded *dc = decoded_alloc(head + copy + inl);
    if (!dc) return -ENOMEM;
    int cache_shard = dc->cache_shard;
    memset(dc, 0, sizeof *dc + d->size); /* the head and the generated struct */
    dc->cache_shard = cache_shard;
    uint8_t *req = (uint8_t *)dc + head;
    if (len) memcpy(req, msg, len);
    j->req_kind = SRV_JOB_REQ_DECODED;
    j->req.bytes.ptr = req;
    j->req.bytes.len = len;
    j->ctx = dc;
    *inl_at = inl ? req + copy : NULL;
    *inl_bytes = inl;
    return 0;
}

/* One block per request: the srv_decoded head with the generated struct, the request's copy,
 * then (small requests) the arena's first bytes. The copy used to be an allocation of its own
 * (srv_job_new's req), two per Enqueue where one does. */
srv_job *srv_job_decoded(pw_grpc_call *c, const uint8_t *msg, size_t len, const pw_msg_desc *d)
{
    srv_job *j = srv_job_new(c, NULL, 0);
    uint8_t *inl_at;
    size_t inl;
    if (!j || decoded_block(j, msg, len, d, &inl_at, &inl) != 0) {
        if (j) srv_job_free(j);
        pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    srv_decoded *dc = j->ctx;
    if (srv_msg_decode_over(c, d, dc->msg, j->req.bytes.ptr, len, &dc->arena, inl_at, inl) <
        0) { /* answered */
        decoded_free(j);
        srv_job_free(j);
        return NULL;
    }
    return j;
}

/* The same one block as srv_job_decoded's (from the same cache), for a message of a stream call
 * (PublishStream, EnqueueStream, Consume): it was three allocations, the copy (srv_job_new's
 * req), the head and the arena's first chunk. */
srv_job *srv_job_decoded_msg(const uint8_t *msg, size_t len, const pw_msg_desc *d, q_err *e)
{
    srv_job *j = srv_job_new(NULL, NULL, 0);
    uint8_t *inl_at;
    size_t inl;
    e->code = Q_RESOURCE_EXHAUSTED;
    snprintf(e->msg, sizeof e->msg, "out of memory");
    if (!j || decoded_block(j, msg, len, d, &inl_at, &inl) != 0) {
        if (j) srv_job_free(j);
        return NULL;
    }
    srv_decoded *dc = j->ctx;
    pw_msg_arena_init_heap_over(&dc->arena, inl_at, inl, SRV_MSG_ARENA_CHUNK_BYTES,
                                SRV_MSG_ARENA_BYTES_MAX);
    int rc = pw_msg_decode(d, dc->msg, j->req.bytes.ptr, len, &dc->arena);
    if (rc < 0) {
        if (rc != -ENOMEM) {
            e->code = Q_INVALID_ARGUMENT;
            snprintf(e->msg, sizeof e->msg, "malformed %s: %s", d->full_name, pw_msg_strerror(rc));
        }
        decoded_free(j); /* the arena and the block (back to its cache) */
        srv_job_free(j);
        return NULL;
    }
    return j;
}

void srv_job_decoded_release(srv_job *j) { decoded_free(j); }

/* Origin: the reply is back; the owner is done with the decoded request. */
static void decoded_done(srv_job *j)
{
    srv_job_answer(j);
    decoded_free(j);
}

void srv_job_decoded_done(srv_job *j) { decoded_done(j); }

void srv_job_decoded_refuse(srv_job *j)
{
    decoded_done(j);
    srv_job_free(j);
}

void srv_call_route_queue(srv_job *j, pw_pb_bytes name, srv_job_run_fn run)
{
    if (srv_route_queue(j, name, run, decoded_done) != Q_OK) srv_job_decoded_refuse(j);
}

void srv_call_route_part(srv_job *j, uint32_t part_no, srv_job_run_fn run)
{
    srv_job_dispatch(j, part_no, run, decoded_done);
}

void srv_call_route_id(srv_job *j, pw_pb_bytes id, srv_job_run_fn run)
{
    if (srv_route_id(j, id, run, decoded_done) != Q_OK) srv_job_decoded_refuse(j);
}
