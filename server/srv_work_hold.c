/* server/srv_work_hold: the tasks a Work stream holds, kept on each owner shard per
 * registration, and their release when the stream ends (docs/semantics.md, "Leases bound to
 * the stream"). Everything here runs on the owner shard of the registration's partition; the
 * origin tells it the stream ended by the unregister message (srv_job.sub_release). */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "core/rt_alloc.h"
#include "core/rt_log.h"
#include "server/srv_internal.h"
#include "server/srv_queue_int.h"
#include "server/srv_queue_rpc.h"

#define HOLD_CAP_MIN 64u /* first allocation: most streams hold a few tasks of a queue */

/* Drops entries whose lease has ended: what stays is leased now by this stream, at most its
 * credits (10000). */
static void hold_prune(srv_part *sp, srv_sub *s)
{
    uint64_t now = srv_q_now_ms();
    uint32_t k = 0;
    for (uint32_t i = 0; i < s->nheld; i++)
        if (q_part_holds(sp->p, s->held_ids[i], s->held_toks[i], now)) {
            s->held_ids[k] = s->held_ids[i];
            s->held_toks[k] = s->held_toks[i];
            k++;
        }
    s->nheld = k;
}

void srv_sub_hold(srv_part *sp, srv_sub *s, uint64_t id, uint64_t token)
{
    if (s->nheld == s->held_cap) {
        hold_prune(sp, s);
        /* Grow when pruning freed less than half: amortized O(1) per delivery. */
        if (s->held_cap == 0 || s->nheld > s->held_cap / 2) {
            uint32_t cap = s->held_cap ? s->held_cap * 2 : HOLD_CAP_MIN;
            uint64_t *ids = rt_realloc(s->held_ids, (size_t)cap * sizeof *ids);
            if (ids) s->held_ids = ids;
            uint64_t *toks = ids ? rt_realloc(s->held_toks, (size_t)cap * sizeof *toks) : NULL;
            if (toks) {
                s->held_toks = toks;
                s->held_cap = cap;
            }
        }
    }
    if (s->nheld == s->held_cap) { /* out of memory: the lease deadline brings it back */
        log_warn("work: task not tracked for release", "partition=%u id=%" PRIu64, q_part_no(sp->p),
                 id);
        return;
    }
    s->held_ids[s->nheld] = id;
    s->held_toks[s->nheld] = token;
    s->nheld++;
}

void srv_sub_release(srv_part *sp, srv_sub *s)
{
    uint32_t total = 0;
    for (uint32_t off = 0; off < s->nheld; off += Q_BATCH_MAX) {
        uint32_t n = s->nheld - off < Q_BATCH_MAX ? s->nheld - off : Q_BATCH_MAX;
        uint32_t released = 0;
        uint64_t commit_to;
        q_err e;
        q_status st = q_part_release(sp->p, s->held_ids + off, s->held_toks + off, n,
                                     srv_q_now_ms(), &released, &commit_to, &e);
        total += released;
        if (st != Q_OK) { /* the rest come back when their leases end */
            log_error("work: release failed", "partition=%u err=%s", q_part_no(sp->p), e.msg);
            break;
        }
    }
    s->nheld = 0;
    if (total == 0) return;
    log_debug("work: stream ended, tasks released", "partition=%u tasks=%u holder=%s",
              q_part_no(sp->p), total, s->worker);
    /* The tick commits the records (nobody waits on them) and serves the tasks again. */
    srv_part_schedule(sp, srv_q_now_ms());
}

void srv_sub_free(srv_sub *s)
{
    rt_free(s->held_ids);
    rt_free(s->held_toks);
    rt_free(s);
}

const srv_sub *srv_sub_holder(srv_part *sp, const srv_waitq *wq, uint64_t id, uint64_t token)
{
    for (const srv_sub *s = wq ? wq->subs : NULL; s; s = s->next)
        for (uint32_t i = 0; i < s->nheld; i++)
            if (s->held_ids[i] == id && s->held_toks[i] == token) return s;
    return NULL;
}

/* ---- origin side: who holds ---- */

/* Copies up to SRV_HOLDER_BYTES - 1 printable bytes (others become '?'). */
static void holder_copy(char out[SRV_HOLDER_BYTES], const uint8_t *v, size_t len)
{
    if (len > SRV_HOLDER_BYTES - 1) len = SRV_HOLDER_BYTES - 1;
    for (size_t i = 0; i < len; i++) out[i] = v[i] >= 0x20 && v[i] < 0x7f ? (char)v[i] : '?';
    out[len] = 0;
}

void srv_work_holder(pw_grpc_call *c, char worker[SRV_HOLDER_BYTES], char addr[SRV_HOLDER_BYTES])
{
    addr[0] = worker[0] = 0;
    const srv_conn *conn = pw_grpc_call_conn_user(c);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (conn && getpeername(conn->fd, (struct sockaddr *)&ss, &sl) == 0) {
        char host[INET6_ADDRSTRLEN] = "";
        if (ss.ss_family == AF_INET) {
            const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
            if (inet_ntop(AF_INET, &a->sin_addr, host, sizeof host))
                snprintf(addr, SRV_HOLDER_BYTES, "%s:%u", host, ntohs(a->sin_port));
        } else if (ss.ss_family == AF_INET6) {
            const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
            if (inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host))
                snprintf(addr, SRV_HOLDER_BYTES, "[%s]:%u", host, ntohs(a->sin6_port));
        } else if (ss.ss_family == AF_UNIX) {
            snprintf(addr, SRV_HOLDER_BYTES, "unix");
        }
    }
    const pw_grpc_md *md = pw_grpc_call_find_metadata(c, SRV_WORKER_ID_HEADER);
    if (md && md->value_len > 0) holder_copy(worker, md->value, md->value_len);
    else snprintf(worker, SRV_HOLDER_BYTES, "%s", addr);
}

/* ---- the registration message: queue name NUL worker id NUL address ---- */

srv_job *srv_sub_register_job(const char *name, uint32_t name_len,
                              const char worker[SRV_HOLDER_BYTES],
                              const char addr[SRV_HOLDER_BYTES])
{
    size_t wl = strnlen(worker, SRV_HOLDER_BYTES - 1), al = strnlen(addr, SRV_HOLDER_BYTES - 1);
    uint8_t msg[Q_QUEUE_NAME_BYTES_MAX + 2 * SRV_HOLDER_BYTES];
    memcpy(msg, name, name_len);
    msg[name_len] = 0;
    memcpy(msg + name_len + 1, worker, wl);
    msg[name_len + 1 + wl] = 0;
    memcpy(msg + name_len + 1 + wl + 1, addr, al);
    return srv_job_new(NULL, msg, name_len + wl + al + 2);
}

uint32_t srv_sub_register_name_len(const srv_job *j)
{
    return (uint32_t)strnlen((const char *)j->req.bytes.ptr, j->req.bytes.len);
}

void srv_sub_register_holder(const srv_job *j, srv_sub *s)
{
    const char *p = (const char *)j->req.bytes.ptr, *end = p + j->req.bytes.len;
    p += strnlen(p, (size_t)(end - p));
    char *out[2] = {s->worker, s->addr};
    for (int k = 0; k < 2; k++) {
        out[k][0] = 0;
        if (p >= end) continue;
        p++; /* the NUL before it */
        size_t n = strnlen(p, (size_t)(end - p));
        snprintf(out[k], SRV_HOLDER_BYTES, "%.*s", (int)n, p);
        p += n;
    }
}
