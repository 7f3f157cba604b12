/* server/srv_work_sub: a Work stream's subscriptions and credits, on the session's origin
 * shard: a Subscribe checked whole and applied (a registration job to each new queue's owner,
 * an unregister to each queue that left), credits granted and the owners poked. The owner side
 * of these jobs: srv_work_serve.c. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "server/srv_auth.h"
#include "server/srv_msg.h"
#include "server/srv_work_int.h"

/* ---- origin side ---- */

/* A registration the owner could not make (out of memory) ends the stream with
 * RESOURCE_EXHAUSTED: its Subscribe was answered OK, and a worker waiting on a queue nobody
 * serves would wait for ever. Its unregister still comes at close and drops the reference. */
static void register_done(srv_job *j)
{
    if (j->status == Q_OK) return;
    srv_work_fail(j->ctx, -ENOMEM);
    srv_work_maybe_finish(j->ctx);
}

static void unregister_done(srv_job *j) { srv_work_unref(j->ctx); }
static void poke_done(srv_job *j) {}

static srv_job *sub_job_new(srv_work *w, uint32_t i)
{
    srv_job *j = srv_job_new(NULL, (const uint8_t *)w->subs[i].name, w->subs[i].len);
    if (j) j->ctx = w;
    return j;
}

/* A registration: the queue name and the holder (srv_sub_register_job). */
static srv_job *register_job_new(srv_work *w, uint32_t i)
{
    srv_job *j = srv_sub_register_job(w->subs[i].name, w->subs[i].len, w->worker, w->addr);
    if (j) j->ctx = w;
    return j;
}

static void sub_job_send(srv_work *w, uint32_t i, srv_job *j, srv_job_run_fn run,
                         srv_job_done_fn done)
{
    j->sub_lease_ms = w->lease_ms;
    srv_job_dispatch(j, w->subs[i].part, run, done);
}

/* Ends registration i (its job was allocated with it); `release`: the stream ended, so the
 * owner releases the tasks the registration holds (an unsubscribed queue's tasks stay leased
 * to their deadline: the worker may still ack them). */
void srv_work_sub_unregister(srv_work *w, uint32_t i, bool release)
{
    srv_job *j = w->subs[i].unreg;
    w->subs[i].unreg = NULL;
    j->sub_release = release;
    sub_job_send(w, i, j, srv_work_run_unregister, unregister_done);
}

void srv_work_poke_all(srv_work *w)
{
    for (uint32_t i = 0; i < w->nsubs; i++) {
        srv_job *j = sub_job_new(w, i);
        if (!j) { /* an owner not told of new credits would never deliver on them; the
                   * caller's srv_work_maybe_finish closes the session */
            srv_work_fail(w, -ENOMEM);
            return;
        }
        sub_job_send(w, i, j, srv_work_run_poke, poke_done);
    }
}

/* Credits left plus tasks held (delivered, not yet acked or nacked) stay <= the API's 10000. */
void srv_work_grant(srv_work *w, uint64_t n)
{
    if (w->state != SRV_WORK_OPEN) return; /* no new deliveries once draining or half-closed */
    int32_t cur = atomic_load(&w->credits);
    uint64_t out = (uint64_t)(cur > 0 ? cur : 0) + w->held;
    if (out >= WORK_CREDITS_MAX) return;
    if (n > WORK_CREDITS_MAX - out) n = WORK_CREDITS_MAX - out;
    if (n == 0) return;
    atomic_fetch_add(&w->credits, (int32_t)n);
    srv_work_poke_all(w);
}

/* A Subscribe's queue set, deduplicated and checked. */
typedef struct sub_name {
    char name[Q_QUEUE_NAME_BYTES_MAX + 1];
    uint32_t len;
} sub_name;

static bool sub_name_eq(const sub_name *a, const char *name, size_t len)
{
    return a->len == len && memcmp(a->name, name, len) == 0;
}

/* Step 1: the new set (WORK_SUBS_MAX entries of `set`), validated whole before anything
 * changes. Q_OK with *n set, or INVALID_ARGUMENT with `why`. */
static q_status subscribe_parse(const pwm_ringq_v1_Subscribe *sub, sub_name *set, uint32_t *n,
                                char *why, size_t why_len)
{
    *n = 0;
    for (size_t qi = 0; qi < sub->queues_count; qi++) {
        pw_pb_bytes name = sub->queues[qi];
        q_err e;
        if (q_queue_name_check((const char *)name.ptr, name.len, &e) != Q_OK) {
            snprintf(why, why_len, "%s", e.msg);
            return Q_INVALID_ARGUMENT;
        }
        bool dup = false;
        for (uint32_t i = 0; i < *n; i++)
            dup |= sub_name_eq(&set[i], (const char *)name.ptr, name.len);
        if (dup) continue;
        if (*n == WORK_SUBS_MAX) {
            snprintf(why, why_len, "a stream subscribes to 1..%d queues", WORK_SUBS_MAX);
            return Q_INVALID_ARGUMENT;
        }
        memcpy(set[*n].name, name.ptr, name.len);
        set[*n].name[name.len] = 0;
        set[*n].len = (uint32_t)name.len;
        (*n)++;
    }
    if (sub->lease_ms > Q_LEASE_MS_MAX) {
        snprintf(why, why_len, "lease_ms must be at most %u", Q_LEASE_MS_MAX);
        return Q_INVALID_ARGUMENT;
    }
    if (*n == 0) {
        snprintf(why, why_len, "subscribe names no queue (1..%d)", WORK_SUBS_MAX);
        return Q_INVALID_ARGUMENT;
    }
    return Q_OK;
}

/* Step 2: unregister the queues that left the set, register the new ones. Returns Q_OK, or
 * Q_RESOURCE_EXHAUSTED when a registration could not be allocated (those made so far stay). */
static q_status subscribe_apply(srv_work *w, const sub_name *set, uint32_t n)
{
    for (uint32_t i = 0; i < w->nsubs;) {
        bool keep = false;
        for (uint32_t k = 0; k < n && !keep; k++)
            keep = sub_name_eq(&set[k], w->subs[i].name, w->subs[i].len);
        if (keep) {
            i++;
            continue;
        }
        srv_work_sub_unregister(w, i, false);
        w->subs[i] = w->subs[--w->nsubs];
    }
    for (uint32_t k = 0; k < n; k++) {
        bool have = false;
        for (uint32_t i = 0; i < w->nsubs && !have; i++)
            have = sub_name_eq(&set[k], w->subs[i].name, w->subs[i].len);
        if (have) continue;
        uint32_t i = w->nsubs;
        memcpy(w->subs[i].name, set[k].name, set[k].len + 1);
        w->subs[i].len = set[k].len;
        w->subs[i].part = q_part_of(set[k].name, set[k].len, srv_q.nparts);
        srv_job *reg = register_job_new(w, i);
        w->subs[i].unreg = reg ? sub_job_new(w, i) : NULL;
        if (!w->subs[i].unreg) {
            if (reg) srv_job_free(reg);
            return Q_RESOURCE_EXHAUSTED;
        }
        w->nsubs++;
        w->refs++;
        sub_job_send(w, i, reg, srv_work_run_register, register_done);
    }
    return Q_OK;
}

q_status srv_work_subscribe(srv_work *w, const pwm_ringq_v1_Subscribe *sub, char *why,
                            size_t why_len)
{
    sub_name *set = rt_calloc(WORK_SUBS_MAX, sizeof *set);
    if (!set) {
        snprintf(why, why_len, "out of memory");
        return Q_RESOURCE_EXHAUSTED;
    }
    uint32_t n = 0;
    q_status st = subscribe_parse(sub, set, &n, why, why_len);
    char denied[SRV_AUTH_ERR_BYTES];
    for (uint32_t i = 0; st == Q_OK && i < n; i++) { /* each queue named, before any change */
        st = (q_status)srv_auth_check(w->call, SRV_AUTH_CONSUME, SRV_AUTH_QUEUE, set[i].name,
                                      set[i].len, denied);
        if (st != Q_OK) snprintf(why, why_len, "%.*s", (int)why_len - 1, denied);
    }
    if (st == Q_OK) {
        uint32_t lease_ms = sub->lease_ms ? sub->lease_ms : w->lease_ms;
        bool lease_changed = lease_ms != w->lease_ms;
        w->lease_ms = lease_ms;
        st = subscribe_apply(w, set, n);
        if (st != Q_OK) snprintf(why, why_len, "out of memory");
        if (lease_changed) srv_work_poke_all(w); /* the kept registrations learn the new lease_ms */
        if (st == Q_OK) srv_work_grant(w, sub->credits);
    }
    rt_free(set);
    return st;
}
