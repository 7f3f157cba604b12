/* bench/rb_gen: a ringq-bench generator thread — its ev_loop, its connections, closed- and
 * open-loop sending, consumers' acks and credits, and the driver callbacks (rb_events).
 *
 * Everything here runs on the thread's own loop; the only cross-thread traffic is the per-thread
 * counters (rb_eng_int.h), the phase the main thread publishes (followed by a wake-up), and the
 * e2e backlog bound, where a consumer on one thread lets producers on another go again. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bench/rb_eng_int.h"
#include "core/rt_clock.h"

#define WAKE_PUMP 0x7262u /* "rb": another thread released our producers */

static bool counted(const rb_eng *e, int ph)
{
    return e->o->scenario == RB_DRAIN ? ph == RB_PH_DRAIN : ph == RB_PH_MEASURE;
}

/* ---- consumer ack map: handle -> time the ack was sent (drain: its latency is the ack's) ---- */

static uint32_t am_home(const rb_cx *x, uint64_t k)
{
    return (uint32_t)((k * 0x9E3779B97F4A7C15ull) >> 32) & x->mmask;
}

static int am_grow(rb_cx *x)
{
    uint32_t ncap = x->mmask ? (x->mmask + 1u) * 2u : 256u;
    uint64_t *ok = x->mk, *ov = x->mv;
    uint8_t *ou = x->mused;
    uint32_t ocap = x->mmask ? x->mmask + 1u : 0u;
    x->mk = calloc(ncap, sizeof *x->mk);
    x->mv = calloc(ncap, sizeof *x->mv);
    x->mused = calloc(ncap, 1);
    if (!x->mk || !x->mv || !x->mused) {
        free(x->mk);
        free(x->mv);
        free(x->mused);
        x->mk = ok, x->mv = ov, x->mused = ou;
        return -ENOMEM;
    }
    x->mmask = ncap - 1u;
    x->mn = 0;
    for (uint32_t i = 0; i < ocap; i++) {
        if (!ou[i]) continue;
        uint32_t j = am_home(x, ok[i]);
        while (x->mused[j]) j = (j + 1u) & x->mmask;
        x->mused[j] = 1;
        x->mk[j] = ok[i];
        x->mv[j] = ov[i];
        x->mn++;
    }
    free(ok);
    free(ov);
    free(ou);
    return 0;
}

static int am_put(rb_cx *x, uint64_t k, uint64_t v)
{
    if ((uint64_t)(x->mn + 1u) * 4u > (uint64_t)(x->mmask + 1u) * 3u || !x->mmask)
        if (am_grow(x) < 0) return -ENOMEM;
    uint32_t i = am_home(x, k);
    while (x->mused[i]) {
        if (x->mk[i] == k) {
            x->mv[i] = v;
            return 0;
        }
        i = (i + 1u) & x->mmask;
    }
    x->mused[i] = 1;
    x->mk[i] = k;
    x->mv[i] = v;
    x->mn++;
    return 0;
}

/* Removes k; false when absent. Backward-shift deletion keeps probe chains whole. */
static bool am_take(rb_cx *x, uint64_t k, uint64_t *v)
{
    if (!x->mmask) return false;
    uint32_t i = am_home(x, k);
    while (x->mused[i] && x->mk[i] != k) i = (i + 1u) & x->mmask;
    if (!x->mused[i]) return false;
    *v = x->mv[i];
    for (uint32_t j = i;;) {
        j = (j + 1u) & x->mmask;
        if (!x->mused[j]) break;
        uint32_t h = am_home(x, x->mk[j]);
        /* Move j into the hole at i unless its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (h > i && h <= j) : (h > i || h <= j);
        if (stays) continue;
        x->mk[i] = x->mk[j];
        x->mv[i] = x->mv[j];
        i = j;
    }
    x->mused[i] = 0;
    x->mn--;
    return true;
}

/* ---- producers and callers ---- */

/* Tasks this send may carry: the batch, or during the drain preload what is left to load. */
static uint32_t claim(rb_eng *e)
{
    if (e->o->scenario != RB_DRAIN) return e->batch;
    int64_t left = atomic_load(&e->preload_left);
    for (;;) {
        if (left <= 0) return 0;
        int64_t take = left < (int64_t)e->batch ? left : (int64_t)e->batch;
        if (atomic_compare_exchange_weak(&e->preload_left, &left, left - take))
            return (uint32_t)take;
    }
}

/* Starts one operation on x with latency origin t0. 1 started, 0 nothing to send, -1 failed. */
static int cx_start(rb_cx *x, uint64_t t0)
{
    rb_thr *th = x->th;
    rb_eng *e = th->e;
    uint32_t n = x->role == RB_ROLE_CALL ? 1u : claim(e);
    if (n == 0) return 0;
    /* The slot is filled before the driver sees the tag: a driver may complete it inside. */
    uint32_t tag = x->free_head;
    rb_slot *s = &x->slots[tag];
    x->free_head = s->next;
    s->t0 = t0;
    s->n = n;
    x->inflight++;
    rb_ctr_add(th, RB_C_OPS_STARTED, 1);
    int rc;
    th->in_start = true;
    if (x->role == RB_ROLE_CALL) {
        rc = e->d->call(x->dc, th->pbuf, e->size, tag);
    } else {
        rb_ctr_add(th, RB_C_STAMPED, n);
        uint64_t first = atomic_fetch_add(&e->seq, n);
        bool reserved = first + n <= RB_SEQ_MASK;
        for (uint32_t g = 0; reserved && g < e->ngroups; g++)
            reserved = rb_seen_reserve(&e->seen[g], first, n) == 0;
        if (!reserved) {
            th->in_start = false;
            rb_eng_fail(e, "out of sequence numbers or memory for the seen-set");
            return -1;
        }
        for (uint32_t i = 0; i < n; i++)
            rb_payload_stamp(th->pbuf + (size_t)i * e->size, e->size, t0,
                             e->nonce << RB_SEQ_BITS | (first + i), e->binary);
        rc = e->d->send(x->dc, th->pl, n, tag);
    }
    th->in_start = false;
    if (rc < 0) { /* the run ends: the slot stays taken */
        rb_eng_fail(e, "%s %s %u: %s refused: %s", e->d->name,
                    x->role == RB_ROLE_CALL ? "caller" : "producer", x->idx,
                    x->role == RB_ROLE_CALL ? "call()" : "send()", strerror(-rc));
        return -1;
    }
    return 1;
}

/* e2e closed loop: may this thread's producers send? Pauses them at the bound. */
static bool backlog_allows(rb_thr *th)
{
    rb_eng *e = th->e;
    if (!e->max_backlog) return true;
    if (atomic_load(&th->paused)) return false;
    if (rb_eng_backlog(e) < e->max_backlog) return true;
    atomic_store(&th->paused, true);
    /* Both sides do a read-modify-write on npaused, so one of them comes later in its
     * modification order and synchronises with the other: either we see the RECEIVED counts
     * that brought the backlog down, or the consumer (rb_gen_release) sees npaused and frees
     * us. (RMWs rather than fences: ThreadSanitizer understands them.) */
    atomic_fetch_add_explicit(&e->npaused, 1, memory_order_acq_rel);
    if (rb_eng_backlog(e) <= e->max_backlog / 2 && atomic_exchange(&th->paused, false)) {
        atomic_fetch_sub(&e->npaused, 1);
        return true;
    }
    return false;
}

static bool may_send(rb_eng *e, int ph)
{
    if (e->o->scenario == RB_DRAIN) return ph == RB_PH_PRELOAD;
    return ph == RB_PH_WARMUP || ph == RB_PH_MEASURE;
}

/* Closed loop: fill x up to its cap. */
static void cx_pump(rb_cx *x)
{
    rb_thr *th = x->th;
    rb_eng *e = th->e;
    while (x->inflight < x->cap && may_send(e, rb_phase_now(e))) {
        if (x->role == RB_ROLE_PRODUCER && !backlog_allows(th)) return;
        if (cx_start(x, rt_now_ns()) <= 0) return;
    }
}

/* Opens x's hold bracket (rb_driver.hold) unless it is open. */
static void cx_hold(rb_cx *x)
{
    const rb_driver *d = x->th->e->d;
    if (x->held || !d->hold || !x->dc) return;
    x->held = true;
    d->hold(x->dc, true);
}

/* Closes the hold brackets of cx[from, to): what they held is written now. */
static void cx_release(rb_thr *th, size_t from, size_t to)
{
    const rb_driver *d = th->e->d;
    for (size_t i = from; i < to; i++) {
        rb_cx *x = &th->cx[i];
        if (!x->held) continue;
        x->held = false;
        if (x->dc) d->hold(x->dc, false);
    }
}

/* Open loop, one pass: sends every due slot inside the connections' hold brackets, all on the
 * pass's connection (the next one in turn) while it has room, then on the next with room: the
 * pass's sends leave in one write, and the connections take the passes in turn. Returns the
 * operations started, or -1 when one could not start (the run fails); sets th->s_blocked when a
 * due slot found every connection at its cap, and *next_due to the first slot not yet due. */
static int64_t sched_pass(rb_thr *th, uint64_t now, uint64_t *next_due)
{
    int64_t sent = 0;
    rb_cx *x = NULL;
    for (;;) {
        uint64_t due = th->s_t0 + (uint64_t)((double)th->s_k * th->s_iv_ns);
        *next_due = due;
        if (due > now) return sent;
        for (size_t i = 0; i < th->nprod && !(x && x->inflight < x->cap); i++) {
            x = &th->cx[th->s_rr];
            th->s_rr = (th->s_rr + 1) % th->nprod;
        }
        if (x->inflight >= x->cap) {
            th->s_blocked = true;
            return sent;
        }
        if (now - due > RB_LATE_NS) {
            rb_ctr_add(th, RB_C_LATE, 1);
            /* Due while every connection was full: it waited for the server's answers, not for
             * this thread (which the generator-limited verdict is about). */
            if (due <= th->s_unblock_ns) rb_ctr_add(th, RB_C_LATE_CAP, 1);
        }
        cx_hold(x);
        if (cx_start(x, due) <= 0) return -1; /* open loop always has a task to send */
        th->s_k++;
        sent++;
    }
}

/* Open loop: a pass (sched_pass), then sleeps until the next slot but at least a tick
 * (e->tick_ns) after this pass, or until a completion makes room on a full connection. The
 * slots due meanwhile leave together in the next pass, each connection's in one write. */
static void sched_run(rb_thr *th)
{
    rb_eng *e = th->e;
    bool was_blocked = th->s_blocked;
    th->s_blocked = false;
    if (!may_send(e, rb_phase_now(e))) return;
    uint64_t now = rt_now_ns(), next = 0;
    if (was_blocked) th->s_unblock_ns = now;
    int64_t sent = sched_pass(th, now, &next);
    cx_release(th, 0, th->nprod);
    if (sent != 0) rb_ctr_add(th, RB_C_PASSES, 1);
    if (sent < 0 || th->s_blocked) return;
    if (next < now + e->tick_ns) next = now + e->tick_ns;
    if (ev_timer_start(th->loop, &th->sched, next) < 0) rb_eng_fail(e, "timer: out of memory");
}

static void on_sched(ev_loop *loop, ev_timer *t) { sched_run(t->ud); }

static void pump_producers(rb_thr *th)
{
    if (!th->prod_started) return;
    if (th->e->open_loop) {
        if (th->s_blocked) sched_run(th);
        return;
    }
    for (size_t i = 0; i < th->nprod; i++) cx_pump(&th->cx[i]);
}

static void ev_done(void *ud, uint64_t tag, int err, const char *why)
{
    rb_cx *x = ud;
    rb_thr *th = x->th;
    rb_eng *e = th->e;
    if (tag >= x->cap || x->slots[tag].n == 0) {
        rb_eng_fail(e, "%s: completion for an unknown operation %llu", e->d->name,
                    (unsigned long long)tag);
        return;
    }
    rb_slot *s = &x->slots[tag];
    uint64_t now = rt_now_ns(), lat = now > s->t0 ? now - s->t0 : 0;
    uint32_t n = s->n;
    s->n = 0;
    s->next = x->free_head;
    x->free_head = (uint32_t)tag;
    x->inflight--;
    int ph = rb_phase_now(e);
    bool producer = x->role == RB_ROLE_PRODUCER;
    if (err) {
        rb_ctr_add(th, RB_C_OPS_ERR, 1);
        if (producer) rb_ctr_add(th, RB_C_ENQ_ERR, n);
        rb_eng_note(e, "%s: %s", e->d->name, why && *why ? why : strerror(-err));
    } else {
        rb_ctr_add(th, RB_C_OPS_OK, 1);
        if (producer) rb_ctr_add(th, RB_C_ENQ_OK, n);
        if (e->o->scenario != RB_E2E) rb_hist_record(th->prog, lat);
        if (counted(e, ph)) {
            rb_ctr_add(th, RB_C_OPS_WIN, 1);
            if (e->o->scenario != RB_E2E) {
                rb_ctr_add(th, RB_C_TASKS_WIN, n);
                rb_hist_record(th->hist, lat);
            } else {
                rb_hist_record(th->ophist, lat);
            }
        }
    }
    if (ph >= RB_PH_STOP || ph == RB_PH_PRELOAD) rb_eng_poke(e);
    if (th->in_start) return; /* completed inside call()/send(): that loop sends on */
    if (e->open_loop) {
        if (th->s_blocked) sched_run(th);
    } else {
        cx_pump(x);
    }
}

/* ---- consumers ---- */

void rb_gen_release(rb_eng *e, rb_thr *self)
{
    if (rb_phase_now(e) >= RB_PH_STOP) return; /* producers are done */
    /* An RMW, not a load: it publishes our RECEIVED store to a producer that pauses after it
     * (see backlog_allows). */
    if (atomic_fetch_add_explicit(&e->npaused, 0, memory_order_acq_rel) == 0 ||
        rb_eng_backlog(e) > e->max_backlog / 2)
        return;
    for (unsigned i = 0; i < e->nthr; i++) {
        rb_thr *t = &e->thr[i];
        if (!atomic_load(&t->paused) || !atomic_exchange(&t->paused, false)) continue;
        atomic_fetch_sub(&e->npaused, 1);
        if (t == self) self->pump = true; /* the next iteration's hook pumps */
        else if (ev_loop_wake_from(self->loop, t->loop, WAKE_PUMP) < 0)
            rb_eng_fail(e, "cannot wake generator thread %u", t->idx);
    }
}

static void ev_task(void *ud, const uint8_t *p, size_t len, uint64_t handle)
{
    rb_cx *x = ud;
    rb_thr *th = x->th;
    rb_eng *e = th->e;
    uint64_t now = rt_now_ns(), t, seq;
    int ph = rb_phase_now(e);
    bool ours = rb_payload_read(p, len, e->binary, &t, &seq) && seq >> RB_SEQ_BITS == e->nonce &&
                t >= e->t_start && t <= now;
    int m = ours ? rb_seen_mark(&e->seen[x->group], seq & RB_SEQ_MASK) : -1;
    if (m < 0) {
        rb_ctr_add(th, RB_C_FOREIGN, 1);
        rb_eng_note(e, "%s: consumer %u got a task this run did not send (%zu bytes)", e->d->name,
                    x->idx, len);
    } else if (m == 0) {
        rb_ctr_add(th, RB_C_DUPS, 1);
        rb_eng_note(e, "%s: consumer %u (group %u) got task #%llu a second time", e->d->name,
                    x->idx, x->group, (unsigned long long)(seq & RB_SEQ_MASK));
    } else if (e->o->scenario == RB_E2E) {
        rb_hist_record(th->prog, now - t);
        if (counted(e, ph)) rb_hist_record(th->hist, now - t);
    }
    rb_ctr_add(th, RB_C_RECEIVED, 1);
    if (x->nack == x->ackcap) {
        uint32_t ncap = x->ackcap ? x->ackcap * 2u : 64u;
        uint64_t *q = realloc(x->ackq, ncap * sizeof *q);
        if (!q) {
            rb_eng_fail(e, "out of memory for acks");
            return;
        }
        x->ackq = q;
        x->ackcap = ncap;
    }
    x->ackq[x->nack++] = handle;
    th->acks = true;
    if (e->max_backlog) rb_gen_release(e, th);
}

static void ev_acked(void *ud, uint64_t handle, int err, const char *why)
{
    rb_cx *x = ud;
    rb_thr *th = x->th;
    rb_eng *e = th->e;
    bool drain = e->o->scenario == RB_DRAIN;
    uint64_t now = drain ? rt_now_ns() : 0, t0 = 0;
    bool known = drain && am_take(x, handle, &t0); /* the ack's round trip: drain's latency */
    int ph = rb_phase_now(e);
    if (err) {
        rb_ctr_add(th, RB_C_ACK_ERR, 1);
        rb_eng_note(e, "%s: ack: %s", e->d->name, why && *why ? why : strerror(-err));
    } else {
        rb_ctr_add(th, RB_C_ACK_OK, 1);
        if (drain && known) rb_hist_record(th->prog, now - t0);
        if (counted(e, ph)) {
            rb_ctr_add(th, RB_C_TASKS_WIN, 1);
            if (drain) {
                rb_ctr_add(th, RB_C_OPS_WIN, 1);
                if (known) rb_hist_record(th->hist, now - t0);
            }
        }
    }
    if (++x->owed >= e->lump && ph < RB_PH_DONE) {
        int rc = e->d->consume(x->dc, x->owed);
        if (rc < 0) rb_eng_fail(e, "%s: consume: %s", e->d->name, strerror(-rc));
        x->owed = 0;
    }
    if (ph >= RB_PH_STOP || ph == RB_PH_DRAIN) rb_eng_poke(e);
}

/* Acks the n handles of x's queue inside its hold bracket. 0, or -1 when the run fails. */
static int cx_acks(rb_cx *x, uint32_t n, bool drain, uint64_t now)
{
    rb_thr *th = x->th;
    rb_eng *e = th->e;
    for (uint32_t k = 0; k < n; k++) {
        if (drain && am_put(x, x->ackq[k], now) < 0) {
            rb_eng_fail(e, "out of memory for acks");
            return -1;
        }
        rb_ctr_add(th, RB_C_ACK_SENT, 1);
        cx_hold(x);
        int rc = e->d->ack(x->dc, x->ackq[k]);
        if (rc < 0) {
            rb_eng_fail(e, "%s: ack refused: %s", e->d->name, strerror(-rc));
            return -1;
        }
    }
    return 0;
}

/* Acks what the consumers were delivered since the last turn, each consumer's in one write (its
 * hold bracket). Only drain times the acks (its latency is the ack's round trip): one clock read
 * for the turn's acks, all sent now. */
static void flush_acks(rb_thr *th)
{
    th->acks = false;
    bool drain = th->e->o->scenario == RB_DRAIN;
    uint64_t now = drain ? rt_now_ns() : 0;
    for (size_t i = th->nprod; i < th->ncx; i++) {
        rb_cx *x = &th->cx[i];
        uint32_t n = x->nack;
        x->nack = 0;
        int rc = cx_acks(x, n, drain, now);
        cx_release(th, i, i + 1);
        if (rc < 0) return;
    }
}

static void ev_failed(void *ud, const char *why)
{
    rb_cx *x = ud;
    rb_eng *e = x->th->e;
    rb_eng_fail(e, "%s %s %u failed: %s", e->d->name,
                x->role == RB_ROLE_CONSUMER ? "consumer"
                : x->role == RB_ROLE_CALL   ? "caller"
                                            : "producer",
                x->idx, why && *why ? why : "(no reason given)");
}

static const rb_events gen_events = {ev_done, ev_task, ev_acked, ev_failed};

/* ---- phases ---- */

static void start_consumers(rb_thr *th)
{
    rb_eng *e = th->e;
    for (size_t i = th->nprod; i < th->ncx; i++) {
        rb_cx *x = &th->cx[i];
        if (x->started) continue;
        x->started = true;
        int rc = e->d->consume(x->dc, e->credits);
        if (rc < 0) rb_eng_fail(e, "%s: consume: %s", e->d->name, strerror(-rc));
    }
}

static void start_producers(rb_thr *th)
{
    if (th->prod_started || th->nprod == 0) return;
    th->prod_started = true;
    if (th->e->open_loop) {
        th->s_iv_ns = 1e9 / (th->e->rate_per_conn * (double)th->nprod);
        th->s_t0 = rt_now_ns();
        th->s_k = 0;
        sched_run(th);
    } else {
        pump_producers(th);
    }
}

static void enter_phase(rb_thr *th, int ph)
{
    rb_eng *e = th->e;
    th->seen_phase = ph;
    bool e2e = e->o->scenario == RB_E2E;
    if (ph == RB_PH_PRELOAD || ph == RB_PH_WARMUP || ph == RB_PH_MEASURE) {
        if (e2e) start_consumers(th); /* subscribed before the first task is sent */
        start_producers(th);
    }
    if (ph == RB_PH_DRAIN || (e2e && ph == RB_PH_STOP)) start_consumers(th);
    if (ph >= RB_PH_STOP) ev_timer_stop(th->loop, &th->sched);
    if (ph == RB_PH_DONE) th->exit = true;
}

static bool th_hook(ev_loop *loop, void *ud, ev_hook_phase hp)
{
    rb_thr *th = ud;
    if (hp != EV_HOOK_ITERATION || !th->running) return true;
    int ph = rb_phase_now(th->e);
    if (counted(th->e, ph)) rb_ctr_add(th, RB_C_TURNS_WIN, 1);
    if (ph != th->seen_phase) enter_phase(th, ph);
    if (th->acks) flush_acks(th);
    if (th->pump) {
        th->pump = false;
        pump_producers(th);
    }
    return true;
}

static void th_wake(ev_loop *loop, void *ud, uint32_t data)
{
    rb_thr *th = ud;
    if (data == WAKE_PUMP) th->pump = true;
}

static void on_tick(ev_loop *loop, ev_timer *t)
{
    rb_thr *th = t->ud;
    atomic_store_explicit(&th->p99_ns, rb_hist_quantile(th->prog, 0.99), memory_order_relaxed);
    rb_hist_reset(th->prog);
    ev_timer_start(loop, t, ev_loop_now(loop) + RT_NS_PER_S);
}

/* ---- the thread ---- */

static int th_setup(rb_thr *th, char *err, size_t errlen)
{
    rb_eng *e = th->e;
    int rc;
    const char *why;
    ev_loop_opts lo = {.shard_id = (int)th->idx};
    th->loop = ev_loop_create(&lo, &rc, &why);
    if (!th->loop) {
        snprintf(err, errlen, "io_uring unavailable: %s (%s)", why, strerror(-rc));
        return -1;
    }
    ev_loop_add_hook(th->loop, th_hook, th);
    ev_loop_add_wake_handler(th->loop, th_wake, th);
    ev_timer_init(&th->sched, on_sched, th);
    ev_timer_init(&th->tick, on_tick, th);
    uint32_t nb = e->batch ? e->batch : 1u;
    th->hist = calloc(1, sizeof *th->hist);
    th->prog = calloc(1, sizeof *th->prog);
    th->ophist = calloc(1, sizeof *th->ophist);
    th->pbuf = malloc((size_t)nb * (e->size ? e->size : 1));
    th->pl = calloc(nb, sizeof *th->pl);
    if (!th->hist || !th->prog || !th->ophist || !th->pbuf || !th->pl) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* Filler: printable for text drivers, recognisable in a capture. */
    for (size_t i = 0; i < (size_t)nb * e->size; i++) th->pbuf[i] = (uint8_t)('a' + i % 26);
    for (uint32_t i = 0; i < nb; i++)
        th->pl[i] = (rb_payload){th->pbuf + (size_t)i * e->size, e->size};
    for (size_t i = 0; i < th->ncx; i++) {
        rb_cx *x = &th->cx[i];
        if (x->role != RB_ROLE_CONSUMER) {
            x->cap = e->cap;
            x->slots = calloc(x->cap, sizeof *x->slots);
            if (!x->slots) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            for (uint32_t k = 0; k < x->cap; k++) x->slots[k].next = k + 1;
        }
        char derr[400] = "";
        const rb_target *t = x->role == RB_ROLE_CONSUMER ? &e->tg[x->group] : &e->t;
        x->dc = e->d->open(th->loop, t, x->role, &gen_events, x, derr, sizeof derr);
        if (!x->dc) {
            snprintf(err, errlen, "%s %s: %s", e->d->name, e->t.addr,
                     derr[0] ? derr : "open failed");
            return -1;
        }
    }
    return 0;
}

void *rb_gen_main(void *arg)
{
    rb_thr *th = arg;
    rb_eng *e = th->e;
    char err[480];
    th->seen_phase = RB_PH_SETUP;
    if (th_setup(th, err, sizeof err) < 0) rb_eng_fail(e, "%s", err);
    pthread_mutex_lock(&e->mu);
    e->nready++;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    if (th->loop) {
        th->running = true;
        ev_timer_start(th->loop, &th->tick, rt_now_ns() + RT_NS_PER_S);
        while (!th->exit) {
            int rc = ev_loop_run_once(th->loop, true);
            if (rc < 0 && rc != -EINTR && rc != -ETIME && rc != -EAGAIN) {
                rb_eng_fail(e, "generator thread %u: loop failed: %s", th->idx, strerror(-rc));
                pthread_mutex_lock(&e->mu);
                while (rb_phase_now(e) != RB_PH_DONE) pthread_cond_wait(&e->cv, &e->mu);
                pthread_mutex_unlock(&e->mu);
                break;
            }
        }
        ev_timer_stop(th->loop, &th->tick);
        ev_timer_stop(th->loop, &th->sched);
    }
    for (size_t i = 0; i < th->ncx; i++) {
        rb_cx *x = &th->cx[i];
        if (x->dc && e->d->allocs) rb_ctr_add(th, RB_C_DRV_ALLOCS, e->d->allocs(x->dc));
        if (x->dc && e->d->writes) rb_ctr_add(th, RB_C_DRV_WRITES, e->d->writes(x->dc));
        if (x->dc) e->d->close(x->dc);
        x->dc = NULL;
        free(x->slots);
        free(x->ackq);
        free(x->mk);
        free(x->mv);
        free(x->mused);
    }
    /* Another thread may still wake this loop (rb_gen_release) until every thread has left its
     * loop: destroy ours only after that. */
    pthread_mutex_lock(&e->mu);
    e->nexited++;
    pthread_cond_broadcast(&e->cv);
    while (!e->started_final || e->nexited < e->nstarted) pthread_cond_wait(&e->cv, &e->mu);
    pthread_mutex_unlock(&e->mu);
    if (th->loop) ev_loop_destroy(th->loop);
    th->loop = NULL;
    free(th->pbuf);
    free(th->pl);
    return NULL;
}
