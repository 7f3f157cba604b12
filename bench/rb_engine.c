/* bench/rb_engine: ringq-bench's main thread — derived settings, the driver's setup, generator
 * threads and their connections, the stages of a run with the progress line, and the
 * verification that fills rb_result. See rb_engine.h for the semantics. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "bench/rb_eng_int.h"
#include "core/rt_clock.h"

/* ---- shared with the generator threads ---- */

uint64_t rb_eng_sum(rb_eng *e, int c)
{
    uint64_t s = 0;
    for (unsigned i = 0; i < e->nthr; i++)
        s += atomic_load_explicit(&e->thr[i].ctr[c], memory_order_relaxed);
    return s;
}

/* Deliveries of this run's tasks, each counted once per group. */
static uint64_t valid_received(rb_eng *e)
{
    uint64_t r = rb_eng_sum(e, RB_C_RECEIVED),
             bad = rb_eng_sum(e, RB_C_FOREIGN) + rb_eng_sum(e, RB_C_DUPS);
    return r > bad ? r - bad : 0;
}

uint64_t rb_eng_backlog(rb_eng *e)
{
    uint64_t out = (rb_eng_sum(e, RB_C_STAMPED) - rb_eng_sum(e, RB_C_ENQ_ERR)) * e->ngroups,
             in = valid_received(e);
    return out > in ? out - in : 0;
}

static void set_msg(char *dst, size_t n, const char *fmt, va_list ap)
{
    vsnprintf(dst, n, fmt, ap);
}

void rb_eng_fail(rb_eng *e, const char *fmt, ...)
{
    pthread_mutex_lock(&e->mu);
    if (!e->fatal) {
        va_list ap;
        va_start(ap, fmt);
        set_msg(e->why, sizeof e->why, fmt, ap);
        va_end(ap);
        e->fatal = true;
    }
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

void rb_eng_note(rb_eng *e, const char *fmt, ...)
{
    pthread_mutex_lock(&e->mu);
    if (!e->first_err[0]) {
        va_list ap;
        va_start(ap, fmt);
        set_msg(e->first_err, sizeof e->first_err, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&e->mu);
}

bool rb_eng_finished(rb_eng *e, int ph)
{
    uint64_t started = rb_eng_sum(e, RB_C_OPS_STARTED);
    bool idle = started == rb_eng_sum(e, RB_C_OPS_OK) + rb_eng_sum(e, RB_C_OPS_ERR);
    uint64_t recv = rb_eng_sum(e, RB_C_RECEIVED);
    bool acked = rb_eng_sum(e, RB_C_ACK_OK) + rb_eng_sum(e, RB_C_ACK_ERR) >= recv;
    bool all_in = valid_received(e) >= rb_eng_sum(e, RB_C_ENQ_OK) * e->ngroups;
    switch (ph) {
    case RB_PH_PRELOAD: return idle && atomic_load(&e->preload_left) <= 0;
    case RB_PH_DRAIN: return all_in && acked;
    case RB_PH_STOP: return idle && (e->o->scenario != RB_E2E || (all_in && acked));
    default: return false;
    }
}

void rb_eng_poke(rb_eng *e)
{
    int ph = rb_phase_now(e);
    if (!rb_eng_finished(e, ph)) return;
    uint64_t now = rt_now_ns();
    pthread_mutex_lock(&e->mu);
    if (rb_phase_now(e) == ph && atomic_load(&e->t_done) == 0) atomic_store(&e->t_done, now);
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

/* ---- stages ---- */

/* Publishes the stage and wakes every thread. The wakes happen under the mutex: a thread that
 * sees RB_PH_DONE leaves its loop and passes the exit gate (rb_gen_main), which takes the mutex,
 * before destroying its loop, so no loop is destroyed while we still write to it. */
static void set_phase(rb_eng *e, int ph)
{
    pthread_mutex_lock(&e->mu);
    atomic_store(&e->t_done, 0);
    atomic_store(&e->phase, ph);
    pthread_cond_broadcast(&e->cv);
    for (unsigned i = 0; i < e->nthr; i++)
        if (e->thr[i].loop) ev_loop_wake_from(NULL, e->thr[i].loop, 1);
    pthread_mutex_unlock(&e->mu);
}

typedef struct prog {
    bool on, tty, printed;
    uint64_t t0, next, last_t, last_ops, last_tasks;
} prog;

static const char *phase_name(int ph)
{
    static const char *n[] = {"setup", "preload", "warmup", "measure", "drain", "stop", "done"};
    return ph >= 0 && ph <= RB_PH_DONE ? n[ph] : "?";
}

static void fmt_lat(char *out, size_t n, uint64_t ns)
{
    if (ns == 0) snprintf(out, n, "-");
    else if (ns < 10000) snprintf(out, n, "%.2fus", (double)ns / 1e3);
    else if (ns < 10000000) snprintf(out, n, "%.0fus", (double)ns / 1e3);
    else snprintf(out, n, "%.1fms", (double)ns / 1e6);
}

static void prog_counts(rb_eng *e, uint64_t *ops, uint64_t *tasks)
{
    rb_scenario s = e->o->scenario;
    uint64_t ack = rb_eng_sum(e, RB_C_ACK_OK);
    *ops = rb_eng_sum(e, RB_C_OPS_OK) + (s == RB_DRAIN ? ack : 0);
    if (s == RB_RPC) *tasks = *ops;
    else if (s == RB_ENQUEUE) *tasks = rb_eng_sum(e, RB_C_ENQ_OK);
    else if (s == RB_E2E) *tasks = ack / e->ngroups;
    else *tasks = rb_phase_now(e) == RB_PH_PRELOAD ? rb_eng_sum(e, RB_C_ENQ_OK) : ack;
}

static void prog_print(rb_eng *e, prog *p, uint64_t now)
{
    p->next = now + RT_NS_PER_S;
    uint64_t ops, tasks;
    prog_counts(e, &ops, &tasks);
    double dt = (double)(now - p->last_t) / 1e9;
    double ops_s = dt > 0 ? (double)(ops - p->last_ops) / dt : 0,
           tasks_s = dt > 0 ? (double)(tasks - p->last_tasks) / dt : 0;
    p->last_t = now, p->last_ops = ops, p->last_tasks = tasks;
    if (!p->on) return;
    uint64_t p99 = 0;
    for (unsigned i = 0; i < e->nthr; i++) {
        uint64_t v = atomic_load_explicit(&e->thr[i].p99_ns, memory_order_relaxed);
        if (v > p99) p99 = v;
    }
    uint64_t errs = rb_eng_sum(e, RB_C_OPS_ERR) + rb_eng_sum(e, RB_C_ACK_ERR) +
                    rb_eng_sum(e, RB_C_FOREIGN) + rb_eng_sum(e, RB_C_DUPS);
    uint64_t backlog;
    switch (e->o->scenario) {
    case RB_RPC:
        backlog = rb_eng_sum(e, RB_C_OPS_STARTED) - rb_eng_sum(e, RB_C_OPS_OK) -
                  rb_eng_sum(e, RB_C_OPS_ERR);
        break;
    case RB_ENQUEUE: backlog = rb_eng_sum(e, RB_C_ENQ_OK); break;
    case RB_E2E: backlog = rb_eng_backlog(e); break;
    default: {
        uint64_t in = rb_eng_sum(e, RB_C_ENQ_OK), out = rb_eng_sum(e, RB_C_ACK_OK);
        backlog = in > out ? in - out : 0;
    }
    }
    char lat[32];
    fmt_lat(lat, sizeof lat, p99);
    fprintf(stderr, "%s[%-7s %6.1fs] %10.0f ops/s %10.0f tasks/s  p99 %-8s errors %llu  %s %llu%s",
            p->tty ? "\r" : "", phase_name(rb_phase_now(e)), (double)(now - p->t0) / 1e9, ops_s,
            tasks_s, lat, (unsigned long long)errs,
            e->o->scenario == RB_RPC ? "inflight" : "backlog", (unsigned long long)backlog,
            p->tty ? "\033[K" : "\n");
    fflush(stderr);
    p->printed = true;
}

static uint64_t activity(rb_eng *e)
{
    return rb_eng_sum(e, RB_C_OPS_OK) + rb_eng_sum(e, RB_C_OPS_ERR) + rb_eng_sum(e, RB_C_RECEIVED) +
           rb_eng_sum(e, RB_C_ACK_OK) + rb_eng_sum(e, RB_C_ACK_ERR);
}

enum { WAIT_OK = 0, WAIT_FATAL = -1, WAIT_STALLED = -2 };

/* Waits until `until_ns` (0: no deadline) or until stage `pred` is finished (-1: none), printing
 * the progress line; with a predicate, RB_STALL_S without any completion is a stall. */
static int eng_wait(rb_eng *e, prog *p, uint64_t until_ns, int pred)
{
    uint64_t last_act = activity(e), last_change = rt_now_ns();
    const uint64_t stall_ns = (uint64_t)RB_STALL_S * RT_NS_PER_S;
    pthread_mutex_lock(&e->mu);
    int rc;
    for (;;) {
        if (e->fatal) {
            rc = WAIT_FATAL;
            break;
        }
        if (pred >= 0 && rb_eng_finished(e, pred)) {
            rc = WAIT_OK;
            break;
        }
        uint64_t now = rt_now_ns();
        if (until_ns && now >= until_ns) {
            rc = WAIT_OK;
            break;
        }
        if (now >= p->next) {
            pthread_mutex_unlock(&e->mu);
            prog_print(e, p, now);
            pthread_mutex_lock(&e->mu);
        }
        uint64_t wake = p->next;
        if (until_ns && until_ns < wake) wake = until_ns;
        if (pred >= 0) {
            uint64_t act = activity(e);
            if (act != last_act) last_act = act, last_change = now;
            else if (now - last_change >= stall_ns) {
                rc = WAIT_STALLED;
                break;
            }
            if (last_change + stall_ns < wake) wake = last_change + stall_ns;
        }
        struct timespec ts = {.tv_sec = (time_t)(wake / RT_NS_PER_S),
                              .tv_nsec = (long)(wake % RT_NS_PER_S)};
        pthread_cond_timedwait(&e->cv, &e->mu, &ts);
    }
    pthread_mutex_unlock(&e->mu);
    return rc;
}

/* ---- setup ---- */

static uint64_t make_nonce(void)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
        r = (uint32_t)(rt_now_ns() ^ ((uint64_t)getpid() << 16));
    r &= 0xFFFFFFu;
    return r ? r : 1u;
}

static int derive(rb_eng *e, const rb_opts *o, const rb_driver *d, rb_result *r)
{
    e->o = o;
    e->d = d;
    e->t = o->t;
    e->ngroups = o->t.stream && o->scenario == RB_E2E ? o->t.groups : 1u;
    if (e->ngroups == 0 || e->ngroups > RB_GROUPS_MAX) {
        snprintf(r->error, sizeof r->error, "groups: 1..%u", RB_GROUPS_MAX);
        return -1;
    }
    e->tg = calloc(e->ngroups, sizeof *e->tg);
    e->seen = calloc(e->ngroups, sizeof *e->seen);
    if (!e->tg || !e->seen) {
        snprintf(r->error, sizeof r->error, "out of memory");
        return -1;
    }
    for (uint32_t g = 0; g < e->ngroups; g++) {
        e->tg[g] = o->t;
        e->tg[g].group = g;
    }
    e->binary = d->binary_safe;
    e->size = o->t.size;
    if (o->scenario != RB_RPC && e->size < rb_stamp_bytes(e->binary))
        e->size = rb_stamp_bytes(e->binary);
    uint32_t bmax = d->batch_max ? d->batch_max : 1u;
    e->batch = o->scenario == RB_RPC ? 1u : o->batch;
    if (o->scenario == RB_DRAIN && e->batch < 64u) e->batch = 64u < bmax ? 64u : bmax;
    if (e->batch > bmax) {
        snprintf(r->error, sizeof r->error, "--batch %u: %s takes at most %u tasks per send",
                 e->batch, d->name, bmax);
        return -1;
    }
    e->open_loop = o->rate > 0 && o->scenario != RB_DRAIN;
    uint32_t tick_us = o->tick_set ? o->tick_us : RB_OPEN_TICK_US_DEFAULT;
    if (tick_us > RB_TICK_US_MAX) {
        snprintf(r->error, sizeof r->error, "--tick-us: 0..%u", RB_TICK_US_MAX);
        return -1;
    }
    e->tick_ns = e->open_loop ? (uint64_t)tick_us * 1000u : 0;
    r->tick_us = e->open_loop ? tick_us : 0;
    e->cap = o->inflight;
    if (e->open_loop && !o->inflight_set) e->cap = RB_OPEN_INFLIGHT_DEFAULT;
    if (o->scenario == RB_DRAIN && e->cap < 4u) e->cap = 4u;
    e->rate_per_conn = o->rate / (double)o->conns;
    if (o->scenario == RB_E2E && !e->open_loop) {
        uint64_t b = 4ull * o->conns * o->inflight * e->batch;
        e->max_backlog = (b > 1024u ? b : 1024u) * e->ngroups;
    }
    e->credits = o->credits;
    e->lump = o->credits / 4u ? o->credits / 4u : 1u;
    e->nonce = make_nonce();
    e->t_start = rt_now_ns();
    atomic_store(&e->preload_left, o->scenario == RB_DRAIN ? (int64_t)o->preload : 0);
    r->size_effective = e->size;
    r->batch_effective = e->batch;
    r->max_backlog = e->max_backlog;
    if (o->scenario == RB_RPC ? !(d->can_call && d->call)
                              : !(d->can_queue && d->send && d->consume && d->ack)) {
        snprintf(r->error, sizeof r->error, "%s cannot run the %s scenario", d->name,
                 o->scenario == RB_RPC ? "rpc" : "queue");
        return -1;
    }
    return 0;
}

/* Spreads the connections round-robin over the threads: producers / callers first. */
static int plan(rb_eng *e)
{
    const rb_opts *o = e->o;
    unsigned nprod = o->conns, ncons = (o->scenario == RB_E2E || o->scenario == RB_DRAIN)
                                           ? o->workers * e->ngroups
                                           : 0;
    unsigned total = nprod + ncons;
    e->nthr = o->threads < total ? o->threads : total;
    if (e->nthr == 0) e->nthr = 1;
    e->thr = calloc(e->nthr, sizeof *e->thr);
    if (!e->thr) return -1;
    for (unsigned i = 0; i < e->nthr; i++) {
        rb_thr *th = &e->thr[i];
        th->e = e;
        th->idx = i;
        th->cx = calloc(total / e->nthr + 1, sizeof *th->cx);
        if (!th->cx) return -1;
    }
    for (unsigned k = 0; k < total; k++) {
        rb_thr *th = &e->thr[k % e->nthr];
        rb_cx *x = &th->cx[th->ncx++];
        x->th = th;
        x->role = k < nprod ? (o->scenario == RB_RPC ? RB_ROLE_CALL : RB_ROLE_PRODUCER)
                            : RB_ROLE_CONSUMER;
        x->idx = k < nprod ? k : k - nprod;
        x->group = k < nprod ? 0 : (k - nprod) % e->ngroups;
        if (k < nprod) th->nprod++;
    }
    return 0;
}

/* ---- the run ---- */

static void collect(rb_eng *e, rb_result *r)
{
    r->op_errors = rb_eng_sum(e, RB_C_OPS_ERR);
    r->ack_errors = rb_eng_sum(e, RB_C_ACK_ERR);
    r->stamped = rb_eng_sum(e, RB_C_STAMPED);
    r->enqueued = rb_eng_sum(e, RB_C_ENQ_OK);
    r->enqueue_errors = rb_eng_sum(e, RB_C_ENQ_ERR);
    r->received = rb_eng_sum(e, RB_C_RECEIVED);
    r->acked = rb_eng_sum(e, RB_C_ACK_OK);
    r->duplicates = rb_eng_sum(e, RB_C_DUPS);
    r->foreign = rb_eng_sum(e, RB_C_FOREIGN);
    r->driver_allocs = e->d->allocs ? (int64_t)rb_eng_sum(e, RB_C_DRV_ALLOCS) : -1;
    r->driver_writes = e->d->writes ? (int64_t)rb_eng_sum(e, RB_C_DRV_WRITES) : -1;
    r->passes = rb_eng_sum(e, RB_C_PASSES);
    r->turns = rb_eng_sum(e, RB_C_TURNS_WIN);
    r->late_sends = rb_eng_sum(e, RB_C_LATE);
    r->late_cap_sends = rb_eng_sum(e, RB_C_LATE_CAP);
    r->ops_started = rb_eng_sum(e, RB_C_OPS_STARTED);
    r->ops = rb_eng_sum(e, RB_C_OPS_WIN);
    r->tasks = rb_eng_sum(e, RB_C_TASKS_WIN);
    r->tasks /= e->ngroups; /* fanout: messages acked by every group */
    r->errors = r->op_errors + r->ack_errors + r->duplicates + r->foreign;
    for (unsigned i = 0; i < e->nthr; i++)
        if (e->thr[i].hist) rb_hist_merge(&r->hist, e->thr[i].hist);
    for (unsigned i = 0; i < e->nthr; i++)
        if (e->thr[i].ophist) rb_hist_merge(&r->op_hist, e->thr[i].ophist);
    if (r->duration_s > 0) {
        r->ops_per_s = (double)r->ops / r->duration_s;
        r->tasks_per_s = (double)r->tasks / r->duration_s;
    }
}

/* The stages of rpc / enqueue / e2e. Returns a WAIT_* code. */
static int run_timed(rb_eng *e, prog *p, rb_result *r)
{
    const rb_opts *o = e->o;
    set_phase(e, RB_PH_WARMUP);
    int rc = eng_wait(e, p, rt_now_ns() + (uint64_t)(o->warmup_s * 1e9), -1);
    if (rc != WAIT_OK) return rc;
    uint64_t cpu0 = 0, cpu1 = 0;
    bool cpu_ok = o->server_pid > 0 && rb_proc_cpu_ns(o->server_pid, &cpu0) == 0;
    uint64_t self0 = 0, self1 = 0, sl0 = 0, sl1 = 0;
    bool self_ok = rb_self_cpu_ns(&self0) == 0, sl_ok = rb_self_sleeps(&sl0) == 0;
    uint64_t t0 = rt_now_ns();
    set_phase(e, RB_PH_MEASURE);
    rc = eng_wait(e, p, t0 + (uint64_t)(o->duration_s * 1e9), -1);
    uint64_t t1 = rt_now_ns();
    set_phase(e, RB_PH_STOP);
    if (self_ok && rb_self_cpu_ns(&self1) == 0 && self1 >= self0)
        r->client_cpu_s = (double)(self1 - self0) / 1e9;
    if (sl_ok && rb_self_sleeps(&sl1) == 0 && sl1 >= sl0) r->sleeps = (int64_t)(sl1 - sl0);
    if (cpu_ok && rb_proc_cpu_ns(o->server_pid, &cpu1) == 0 && cpu1 >= cpu0)
        r->server_cpu_s = (double)(cpu1 - cpu0) / 1e9;
    r->duration_s = (double)(t1 - t0) / 1e9;
    if (rc != WAIT_OK) return rc;
    return eng_wait(e, p, 0, RB_PH_STOP);
}

static int run_drain(rb_eng *e, prog *p, rb_result *r)
{
    set_phase(e, RB_PH_PRELOAD);
    int rc = eng_wait(e, p, 0, RB_PH_PRELOAD);
    if (rc != WAIT_OK) return rc;
    r->preloaded = rb_eng_sum(e, RB_C_ENQ_OK);
    if (rb_eng_sum(e, RB_C_OPS_ERR)) {
        char first[sizeof e->first_err];
        pthread_mutex_lock(&e->mu);
        memcpy(first, e->first_err, sizeof first);
        pthread_mutex_unlock(&e->mu);
        rb_eng_fail(e, "preload: %llu sends failed (%.400s)",
                    (unsigned long long)rb_eng_sum(e, RB_C_OPS_ERR), first);
        return WAIT_FATAL;
    }
    if (e->d->backlog) {
        uint64_t n = 0;
        char err[256] = "";
        if (e->d->backlog(&e->t, &n, err, sizeof err) < 0) {
            rb_eng_fail(e, "preload: backlog: %s", err);
            return WAIT_FATAL;
        }
        if (n != r->preloaded) {
            rb_eng_fail(e, "preload: the system holds %llu tasks after %llu were enqueued",
                        (unsigned long long)n, (unsigned long long)r->preloaded);
            return WAIT_FATAL;
        }
    }
    uint64_t t0 = rt_now_ns();
    set_phase(e, RB_PH_DRAIN);
    rc = eng_wait(e, p, 0, RB_PH_DRAIN);
    uint64_t t1 = atomic_load(&e->t_done);
    if (rc != WAIT_OK || t1 < t0) t1 = rt_now_ns();
    r->duration_s = (double)(t1 - t0) / 1e9;
    return rc;
}

static void verify(rb_eng *e, int wrc, rb_result *r)
{
    const rb_opts *o = e->o;
    bool queue = o->scenario != RB_RPC;
    if (queue && e->d->backlog && !e->fatal) {
        uint64_t n = 0;
        char err[256] = "";
        if (e->d->backlog(&e->t, &n, err, sizeof err) == 0) r->backlog_end = (int64_t)n;
        else rb_eng_note(e, "backlog: %s", err);
    }
    char *why = r->error;
    size_t wn = sizeof r->error;
    uint64_t valid = r->received - r->duplicates - r->foreign;
    if (e->fatal) snprintf(why, wn, "%s", e->why);
    else if (wrc == WAIT_STALLED && o->scenario != RB_RPC && o->scenario != RB_ENQUEUE)
        snprintf(why, wn,
                 "stalled: nothing completed for %u s with %llu of %llu tasks received "
                 "and %llu acked",
                 RB_STALL_S, (unsigned long long)valid, (unsigned long long)r->enqueued,
                 (unsigned long long)(r->acked + r->ack_errors));
    else if (wrc == WAIT_STALLED)
        snprintf(why, wn, "stalled: operations in flight did not complete within %u s", RB_STALL_S);
    else if (r->errors)
        snprintf(why, wn, "%llu errors; first: %.400s", (unsigned long long)r->errors,
                 e->first_err[0] ? e->first_err : "?");
    else if (o->scenario == RB_DRAIN ? r->acked == 0 : r->ops == 0)
        snprintf(why, wn, "nothing completed in the measured window");
    else if ((o->scenario == RB_E2E || o->scenario == RB_DRAIN) &&
             (valid != r->enqueued * e->ngroups || r->acked != r->enqueued * e->ngroups))
        snprintf(why, wn, "%llu tasks enqueued (x %u groups), %llu received, %llu acked",
                 (unsigned long long)r->enqueued, e->ngroups, (unsigned long long)valid,
                 (unsigned long long)r->acked);
    else if ((o->scenario == RB_E2E || o->scenario == RB_DRAIN) && r->backlog_end != 0)
        snprintf(why, wn,
                 r->backlog_end < 0 ? "backlog unknown at the end: %.400s"
                                    : "the system still holds tasks at the end: %.400s",
                 e->first_err[0] ? e->first_err : "backlog > 0");
    if ((e->fatal || wrc != WAIT_OK) && r->errors == 0) r->errors = 1;
    r->passed = why[0] == 0;
}

int rb_engine_run(const rb_opts *o, const rb_driver *d, rb_result *r)
{
    memset(r, 0, sizeof *r);
    r->backlog_end = -1;
    r->server_cpu_s = -1;
    r->client_cpu_s = -1;
    r->driver_allocs = -1;
    r->driver_writes = -1;
    r->sleeps = -1;
    rb_eng *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(r->error, sizeof r->error, "out of memory");
        return 1;
    }
    pthread_mutex_init(&e->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->cv, &ca);
    pthread_condattr_destroy(&ca);
    int wrc = WAIT_OK;
    unsigned started = 0;
    if (derive(e, o, d, r) < 0) goto out;
    if (d->version) d->version(&e->t, r->version, sizeof r->version);
    if (d->setup) {
        char err[400] = "";
        if (d->setup(&e->t, err, sizeof err) < 0) {
            snprintf(r->error, sizeof r->error, "%s setup at %s: %s", d->name, e->t.addr, err);
            goto out;
        }
    }
    if (plan(e) < 0) {
        snprintf(r->error, sizeof r->error, "out of memory");
        goto out;
    }
    for (; started < e->nthr; started++)
        if (pthread_create(&e->thr[started].tid, NULL, rb_gen_main, &e->thr[started]) != 0) {
            rb_eng_fail(e, "cannot start generator thread %u", started);
            break;
        }
    pthread_mutex_lock(&e->mu);
    e->nstarted = started;
    e->started_final = true;
    while (e->nready < started) pthread_cond_wait(&e->cv, &e->mu);
    bool ok = !e->fatal;
    pthread_mutex_unlock(&e->mu);
    prog p = {.on = !o->quiet, .tty = isatty(2) == 1};
    p.t0 = p.last_t = rt_now_ns();
    p.next = p.t0 + RT_NS_PER_S;
    if (ok) wrc = o->scenario == RB_DRAIN ? run_drain(e, &p, r) : run_timed(e, &p, r);
    /* A run shorter than the 1 s progress period still shows one line. */
    if (ok && !p.printed) prog_print(e, &p, rt_now_ns());
    set_phase(e, RB_PH_DONE);
    for (unsigned i = 0; i < started; i++) pthread_join(e->thr[i].tid, NULL);
    if (p.printed && p.tty) fputc('\n', stderr);
    collect(e, r);
    verify(e, wrc, r);
out:
    if (!r->passed && r->errors == 0) r->errors = 1;
    if (e->thr) {
        for (unsigned i = 0; i < e->nthr; i++) {
            free(e->thr[i].cx);
            free(e->thr[i].hist);
            free(e->thr[i].prog);
            free(e->thr[i].ophist);
        }
        free(e->thr);
    }
    for (uint32_t g = 0; e->seen && g < e->ngroups; g++) rb_seen_free(&e->seen[g]);
    free(e->seen);
    free(e->tg);
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    free(e);
    return r->passed ? 0 : 1;
}
