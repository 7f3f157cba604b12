/* server/srv_stream_parts_eph: ephemeral consumers of a partitioned stream (srv_stream_parts.h,
 * docs/semantics.md "Partitioned streams").
 *
 * An ephemeral consumer of a partitioned stream is one ephemeral consumer of the same name on
 * every member: the origin of CreateConsumer picks the name (when none is given) before the
 * fan-out, so every member creates that one. Its inactivity is decided once for the set, by
 * member 0: members k >= 1 hold their expiry (q_consumer_hold_expiry), and when member 0's
 * tick deletes the consumer, one job per other member deletes its namesake there. Member 0
 * sees the set's activity: a Consume stream binds to every member (so to member 0), and a
 * Fetch that did not start with member 0 touches it. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/rt_clock.h"
#include "queue/q_consumer.h"
#include "server/srv_stream_int.h"
#include "server/srv_stream_parts.h"

/* What a member job names: the stream and the consumer (plain bytes, self-contained). */
typedef struct eph_ref {
    char stream[Q_STREAM_NAME_BYTES_MAX];
    char name[Q_CONSUMER_NAME_BYTES_MAX];
    uint32_t stream_len, name_len;
} eph_ref;

/* "eph-" and 16 hex digits, as q_consumer's own ephemeral names. */
#define EPH_NAME_BYTES (sizeof Q_CONSUMER_EPH_PREFIX - 1 + 16)

int srv_sparts_eph_name(pw_msg_arena *ar, pw_pb_bytes *name)
{
    static _Thread_local uint64_t t_count;
    /* splitmix64 of the clock, the shard and a count: names apart across shards and calls */
    uint64_t x = rt_now_ns() ^ ((uint64_t)srv_q_self() << 48) ^ (++t_count * 0x9e3779b97f4a7c15u);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    x ^= x >> 31;
    char *p = pw_msg_arena_alloc(ar, EPH_NAME_BYTES + 1, 1);
    if (!p) return -ENOMEM;
    snprintf(p, EPH_NAME_BYTES + 1, Q_CONSUMER_EPH_PREFIX "%016" PRIx64, x);
    *name = (pw_pb_bytes){.ptr = (const uint8_t *)p, .len = EPH_NAME_BYTES};
    return 0;
}

void srv_sparts_cons_created(const q_stream *s, q_consumer *c)
{
    q_stream_cfg sc;
    q_stream_config(s, &sc);
    q_consumer_info ci;
    q_consumer_info_fill(c, 0, &ci);
    if (ci.cfg.ephemeral && sc.parts > 1 && sc.part_index > 0) q_consumer_hold_expiry(c);
}

/* Sends `run` to member k of stream s (of partition sp's) naming consumer name. */
static void eph_send(srv_part *sp, const q_stream_cfg *sc, uint32_t k, const char *name, size_t len,
                     srv_job_run_fn run)
{
    uint32_t home = sp->no; /* member 0's: the caller's */
    eph_ref ref = {.stream_len = sc->name_len, .name_len = (uint32_t)len};
    memcpy(ref.stream, sc->name, sc->name_len);
    memcpy(ref.name, name, len);
    srv_job *j = srv_job_new(NULL, (const uint8_t *)&ref, sizeof ref);
    if (j) srv_job_dispatch(j, srv_sparts_member_part(home, k), run, NULL);
    /* out of memory: that member's namesake stays until deleted (DeleteConsumer reaches it) */
}

static void run_drop(srv_job *j, srv_part *sp)
{
    const eph_ref *ref = (const eph_ref *)j->req.bytes.ptr;
    q_stream *s = q_stream_find(sp->p, ref->stream, ref->stream_len);
    uint64_t ct = 0;
    q_err e;
    if (s && q_consumer_delete(sp->p, s, ref->name, ref->name_len, srv_q_now_ms(), &ct, &e) == Q_OK)
        srv_cons_serve_stream(sp, s); /* its waiters end NOT_FOUND */
    srv_job_reply(j);
}

void srv_sparts_cons_gone(q_stream *s, const char *name, size_t len, void *ud)
{
    srv_part *sp = ud;
    q_stream_cfg sc;
    q_stream_config(s, &sc);
    if (sc.parts <= 1 || sc.part_index != 0) return;
    for (uint32_t k = 1; k < sc.parts; k++) eph_send(sp, &sc, k, name, len, run_drop);
}

static void run_touch(srv_job *j, srv_part *sp)
{
    const eph_ref *ref = (const eph_ref *)j->req.bytes.ptr;
    q_stream *s = q_stream_find(sp->p, ref->stream, ref->stream_len);
    q_consumer *c = s ? q_consumer_find(s, ref->name, ref->name_len) : NULL;
    if (c) q_consumer_touch(c, srv_q_now_ms());
    srv_job_reply(j);
}

void srv_sparts_cons_touch0(uint32_t home, pw_pb_bytes stream, pw_pb_bytes consumer)
{
    if (stream.len > Q_STREAM_NAME_BYTES_MAX || consumer.len > Q_CONSUMER_NAME_BYTES_MAX) return;
    eph_ref ref = {.stream_len = (uint32_t)stream.len, .name_len = (uint32_t)consumer.len};
    memcpy(ref.stream, stream.ptr, stream.len);
    memcpy(ref.name, consumer.ptr, consumer.len);
    srv_job *j = srv_job_new(NULL, (const uint8_t *)&ref, sizeof ref);
    if (j) srv_job_dispatch(j, home, run_touch, NULL);
}
