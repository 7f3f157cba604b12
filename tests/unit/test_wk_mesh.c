/* Unit tests for worker/wk_mesh and worker/wk_call with thread endpoints (futex waker, no
 * io_uring): staging and flush, full lanes, parking and order, one wake-up per sleep, an
 * all-to-all stress with backpressure (exactly once, per-sender order), request/reply under
 * load, and an idle shard that sleeps without using CPU until a message wakes it. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "worker/wk_call.h"
#include "worker/wk_mesh.h"
#include "ts_main.h"

#if defined(__SANITIZE_THREAD__)
#define WK_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WK_TSAN 1
#endif
#endif
#ifdef WK_TSAN
#define MSGS_PER_PAIR 20000u
#define CALLS_PER_SHARD 20000u
#else
#define MSGS_PER_PAIR 300000u
#define CALLS_PER_SHARD 300000u
#endif
#define SHARDS_MAX 4

/* ---- single-threaded semantics ---- */

typedef struct {
    int runs;
    uint64_t last;
    uint32_t from;
    int self;
} sink;

static void on_count(wk_mesh *m, int self, const wk_msg *msg)
{
    sink *s = msg->arg;
    s->runs++;
    s->last = msg->arg2;
    s->from = msg->from;
    s->self = self;
}

START_TEST(create_rejects_bad_options)
{
    wk_mesh *m;
    ck_assert_int_eq(wk_mesh_create(&(wk_mesh_opts){.n_shards = 0}, &m), -EINVAL);
    ck_assert_int_eq(wk_mesh_create(&(wk_mesh_opts){.n_shards = RT_SHARDS_MAX + 1}, &m), -EINVAL);
    ck_assert_int_eq(wk_mesh_create(&(wk_mesh_opts){.n_shards = 2, .lane_cap = 12}, &m), -EINVAL);
    ck_assert_int_eq(
        wk_mesh_create(&(wk_mesh_opts){.n_shards = 2, .spin_ns = WK_MESH_SPIN_NS_MAX + 1}, &m),
        -EINVAL);
    ck_assert_int_eq(wk_mesh_create(&(wk_mesh_opts){.n_shards = 2, .n_threads = 1}, &m), 0);
    ck_assert_int_eq(wk_mesh_shards(m), 2);
    ck_assert_int_eq(wk_mesh_endpoints(m), 3);
    wk_msg msg = {.fn = on_count};
    ck_assert_int_eq(wk_mesh_send(m, 0, 2, &msg), -EINVAL); /* helpers do not receive */
    ck_assert_int_eq(wk_mesh_send(m, 3, 0, &msg), -EINVAL);
    ck_assert_int_eq(wk_mesh_send(m, 0, 1, &(wk_msg){0}), -EINVAL); /* no fn */
    wk_mesh_destroy(m);
}
END_TEST

START_TEST(staged_until_flush_then_runs_with_sender)
{
    wk_mesh *m;
    ck_assert_int_eq(wk_mesh_create(&(wk_mesh_opts){.n_shards = 2, .n_threads = 1}, &m), 0);
    sink s = {0};
    wk_msg msg = {.fn = on_count, .arg = &s, .arg2 = 7};
    ck_assert_int_eq(wk_mesh_send(m, 2, 1, &msg), 0);
    ck_assert(!wk_mesh_pending(m, 1));
    ck_assert_uint_eq(wk_mesh_poll(m, 1, 0), 0);
    ck_assert_uint_eq(wk_mesh_flush(m, 2), 0);
    ck_assert(wk_mesh_pending(m, 1));
    ck_assert_uint_eq(wk_mesh_poll(m, 1, 0), 1);
    ck_assert_int_eq(s.runs, 1);
    ck_assert_uint_eq(s.last, 7);
    ck_assert_uint_eq(s.from, 2);
    ck_assert_int_eq(s.self, 1);
    /* The self lane works too. */
    ck_assert_int_eq(wk_mesh_send(m, 0, 0, &msg), 0);
    wk_mesh_flush(m, 0);
    ck_assert_uint_eq(wk_mesh_poll(m, 0, 0), 1);
    ck_assert_uint_eq(s.from, 0);
    /* A lane reaching WK_MESH_PUBLISH_BATCH is published without a flush. */
    for (unsigned i = 0; i < WK_MESH_PUBLISH_BATCH; i++)
        ck_assert_int_eq(wk_mesh_send(m, 0, 1, &msg), 0);
    ck_assert(wk_mesh_pending(m, 1));
    ck_assert_uint_eq(wk_mesh_poll(m, 1, 5), 5); /* budget respected */
    ck_assert_uint_eq(wk_mesh_poll(m, 1, 0), WK_MESH_PUBLISH_BATCH - 5);
    wk_mesh_destroy(m);
}
END_TEST

START_TEST(full_lane_refuses_then_parks_in_order)
{
    wk_mesh *m;
    ck_assert_int_eq(wk_mesh_create(&(wk_mesh_opts){.n_shards = 2, .lane_cap = 4}, &m), 0);
    sink s = {0};
    wk_msg msg = {.fn = on_count, .arg = &s};
    for (uint64_t i = 0; i < 4; i++) {
        msg.arg2 = i;
        ck_assert_int_eq(wk_mesh_send(m, 0, 1, &msg), 0);
    }
    msg.arg2 = 4;
    ck_assert_int_eq(wk_mesh_send(m, 0, 1, &msg), -EAGAIN); /* not taken */
    wk_msg_node nodes[6];
    for (int i = 0; i < 6; i++) {
        nodes[i].msg = (wk_msg){.fn = on_count, .arg = &s, .arg2 = 4 + (uint64_t)i};
        wk_mesh_send_node(m, 0, 1, &nodes[i]);
    }
    /* While nodes are parked, plain sends are refused so they cannot overtake. */
    ck_assert_int_eq(wk_mesh_send(m, 0, 1, &msg), -EAGAIN);
    ck_assert_uint_eq(wk_mesh_flush(m, 0), 1); /* one lane still has parked nodes */
    wk_mesh_stats st;
    wk_mesh_get_stats(m, 0, &st);
    ck_assert_uint_eq(st.sent, 4);
    ck_assert_uint_ge(st.full, 8);
    uint64_t expect = 0;
    while (expect < 10) {
        unsigned n = wk_mesh_poll(m, 1, 0);
        ck_assert_uint_gt(n, 0);
        ck_assert_uint_eq(s.last, expect + n - 1); /* in order */
        expect += n;
        wk_mesh_flush(m, 0);
    }
    ck_assert_int_eq(s.runs, 10);
    ck_assert_uint_eq(wk_mesh_flush(m, 0), 0);
    wk_mesh_destroy(m);
}
END_TEST

START_TEST(one_wake_up_per_sleep_not_per_message)
{
    wk_mesh *m;
    ck_assert_int_eq(wk_mesh_create(&(wk_mesh_opts){.n_shards = 2}, &m), 0);
    sink s = {0};
    wk_msg msg = {.fn = on_count, .arg = &s};
    /* Receiver 1 announces sleep (it has nothing pending). */
    ck_assert(wk_mesh_sleep_begin(m, 1));
    ck_assert(wk_mesh_asleep(m, 1));
    for (int i = 0; i < 100; i++) ck_assert_int_eq(wk_mesh_send(m, 0, 1, &msg), 0);
    wk_mesh_flush(m, 0);
    wk_mesh_stats st;
    wk_mesh_get_stats(m, 0, &st);
    ck_assert_uint_eq(st.wakes, 1);
    ck_assert(!wk_mesh_asleep(m, 1)); /* the waker cleared the flag */
    /* The receiver has not slept again: more messages cost no wake-up. */
    for (int i = 0; i < 100; i++) ck_assert_int_eq(wk_mesh_send(m, 0, 1, &msg), 0);
    wk_mesh_flush(m, 0);
    wk_mesh_get_stats(m, 0, &st);
    ck_assert_uint_eq(st.wakes, 1);
    /* With messages pending the receiver may not sleep. */
    ck_assert(!wk_mesh_sleep_begin(m, 1));
    ck_assert(!wk_mesh_asleep(m, 1));
    ck_assert_uint_eq(wk_mesh_poll(m, 1, 1000), 200);
    ck_assert(wk_mesh_sleep_begin(m, 1));
    wk_mesh_sleep_end(m, 1);
    wk_mesh_destroy(m);
}
END_TEST

/* ---- all-to-all stress with backpressure ---- */

typedef struct mesh_stress mesh_stress;
typedef struct {
    mesh_stress *ms;
    int id;
    uint64_t next_from[SHARDS_MAX + 2]; /* expected arg2 per sender */
    uint64_t received;
    uint64_t bad;
    wk_msg_node *nodes; /* [to][i] for shards; unused for helpers */
} stress_ep;

struct mesh_stress {
    wk_mesh *m;
    int shards, helpers;
    uint64_t per_pair;
    stress_ep ep[SHARDS_MAX + 2];
};

static void on_stress_msg(wk_mesh *m, int self, const wk_msg *msg)
{
    stress_ep *e = msg->arg;
    if (e->id != self) e->bad++;
    if (msg->arg2 != e->next_from[msg->from]) e->bad++;
    e->next_from[msg->from] = msg->arg2 + 1;
    e->received++;
}

static void *stress_shard(void *p)
{
    stress_ep *e = p;
    mesh_stress *ms = e->ms;
    uint64_t expect = ms->per_pair * (uint64_t)(ms->shards + ms->helpers);
    uint64_t sent[SHARDS_MAX] = {0};
    for (;;) {
        bool all_sent = true;
        /* Send a slice to every shard (self included) through never-refused nodes. */
        for (int to = 0; to < ms->shards; to++) {
            for (int k = 0; k < 50 && sent[to] < ms->per_pair; k++) {
                wk_msg_node *n = &e->nodes[(uint64_t)to * ms->per_pair + sent[to]];
                n->msg = (wk_msg){.fn = on_stress_msg, .arg = &ms->ep[to], .arg2 = sent[to]};
                wk_mesh_send_node(ms->m, e->id, to, n);
                sent[to]++;
            }
            if (sent[to] < ms->per_pair) all_sent = false;
        }
        wk_mesh_poll(ms->m, e->id, 0);
        unsigned parked = wk_mesh_flush(ms->m, e->id);
        if (all_sent && parked == 0 && e->received == expect) return NULL;
        if (all_sent) wk_mesh_wait(ms->m, e->id);
    }
}

static void *stress_helper(void *p)
{
    stress_ep *e = p;
    mesh_stress *ms = e->ms;
    for (uint64_t i = 0; i < ms->per_pair; i++)
        for (int to = 0; to < ms->shards; to++) {
            wk_msg msg = {.fn = on_stress_msg, .arg = &ms->ep[to], .arg2 = i};
            ck_assert_int_eq(wk_mesh_send_wait(ms->m, e->id, to, &msg), 0);
        }
    return NULL;
}

static void run_mesh_stress(int shards, int helpers, uint32_t lane_cap)
{
    mesh_stress *ms = calloc(1, sizeof *ms);
    ck_assert_int_eq(
        wk_mesh_create(
            &(wk_mesh_opts){.n_shards = shards, .n_threads = helpers, .lane_cap = lane_cap},
            &ms->m),
        0);
    ms->shards = shards;
    ms->helpers = helpers;
    ms->per_pair = MSGS_PER_PAIR / (uint64_t)shards;
    pthread_t th[SHARDS_MAX + 2];
    for (int i = 0; i < shards + helpers; i++) {
        ms->ep[i].ms = ms;
        ms->ep[i].id = i;
        if (i < shards) {
            ms->ep[i].nodes = malloc(sizeof(wk_msg_node) * ms->per_pair * (uint64_t)shards);
            ck_assert_ptr_nonnull(ms->ep[i].nodes);
        }
    }
    for (int i = 0; i < shards + helpers; i++)
        ck_assert_int_eq(
            pthread_create(&th[i], NULL, i < shards ? stress_shard : stress_helper, &ms->ep[i]), 0);
    for (int i = 0; i < shards + helpers; i++) pthread_join(th[i], NULL);
    uint64_t total_msgs = 0, total_wakes = 0, total_sleeps = 0;
    for (int i = 0; i < shards + helpers; i++) {
        wk_mesh_stats st;
        wk_mesh_get_stats(ms->m, i, &st);
        total_wakes += st.wakes;
        total_sleeps += st.sleeps;
        total_msgs += st.sent;
        if (i < shards) {
            ck_assert_uint_eq(ms->ep[i].bad, 0);
            ck_assert_uint_eq(ms->ep[i].received, ms->per_pair * (uint64_t)(shards + helpers));
            ck_assert_uint_eq(st.received, ms->ep[i].received);
            for (int f = 0; f < shards + helpers; f++)
                ck_assert_uint_eq(ms->ep[i].next_from[f], ms->per_pair);
        }
        free(ms->ep[i].nodes);
    }
    ck_assert_uint_eq(total_msgs, ms->per_pair * (uint64_t)(shards + helpers) * (uint64_t)shards);
    /* Wake-ups are per sleep, never per message: each "may be asleep" announcement pays for at
     * most one wake-up, however many messages were sent to it. */
    ck_assert_uint_le(total_wakes, total_sleeps);
    wk_mesh_destroy(ms->m);
    free(ms);
}

START_TEST(stress_all_to_all_3_shards_1_helper) { run_mesh_stress(3, 1, 64); }
END_TEST
START_TEST(stress_all_to_all_tiny_lanes) { run_mesh_stress(2, 2, 4); }
END_TEST

/* ---- request/reply under load ---- */

#define CALLS_IN_FLIGHT 64

#define CALL_SHARDS_MAX 3

typedef struct call_shard_s {
    wk_mesh *m;
    int id, shards;
    uint64_t started, done, bad;
    _Atomic uint64_t *served; /* per shard: runs executed there */
    _Atomic int *finished;    /* shards that completed their quota */
    wk_call calls[CALLS_IN_FLIGHT];
    /* Calls run here whose reply waits for the next loop iteration (as a job waits for a group
     * commit): at most every shard's calls in flight. */
    struct call_shard_s *all;
    wk_call *deferred[CALL_SHARDS_MAX * CALLS_IN_FLIGHT];
    int ndeferred;
    uint64_t deferred_total;
} call_shard;

static void call_run(wk_call *c, int self)
{
    call_shard *owner = c->ud;
    /* Relaxed: a per-shard counter read after join. */
    atomic_fetch_add_explicit(&owner->served[self], 1, memory_order_relaxed);
    int result = (int)(c->arg * 3 % 1000) + self;
    if (c->arg % 2 == 0) {
        wk_call_reply(c, result);
        return;
    }
    /* Finish later, from the target's own loop: the call is ours until wk_call_reply. */
    call_shard *here = &owner->all[self];
    c->result = result;
    here->deferred[here->ndeferred++] = c;
    here->deferred_total++;
}

static void call_reply_deferred(call_shard *cs)
{
    int n = cs->ndeferred;
    cs->ndeferred = 0;
    for (int i = 0; i < n; i++) wk_call_reply(cs->deferred[i], cs->deferred[i]->result);
}

static void call_start_next(call_shard *cs, wk_call *c);

static void call_done(wk_call *c, int result)
{
    call_shard *cs = c->ud;
    if (result != (int)(c->arg * 3 % 1000) + c->target || c->caller != cs->id) cs->bad++;
    cs->done++;
    if (cs->started < CALLS_PER_SHARD) call_start_next(cs, c);
}

static void call_start_next(call_shard *cs, wk_call *c)
{
    *c = (wk_call){.run = call_run, .done = call_done, .ud = cs, .arg = cs->started};
    wk_call_start(cs->m, cs->id, (int)(cs->started % (uint64_t)cs->shards), c);
    cs->started++;
}

static void *call_shard_main(void *p)
{
    call_shard *cs = p;
    for (int i = 0; i < CALLS_IN_FLIGHT; i++) call_start_next(cs, &cs->calls[i]);
    bool announced = false;
    for (;;) {
        wk_mesh_poll(cs->m, cs->id, 0);
        call_reply_deferred(cs);
        wk_mesh_flush(cs->m, cs->id);
        if (cs->done == CALLS_PER_SHARD && !announced) {
            /* Release: our counters are final before others see us finished (not needed for the
             * mesh; it only ends the loop). */
            atomic_fetch_add_explicit(cs->finished, 1, memory_order_release);
            announced = true;
        }
        /* Everyone must keep serving until all shards are finished. Acquire: pairs with the
         * release increments above. */
        if (announced && atomic_load_explicit(cs->finished, memory_order_acquire) == cs->shards)
            return NULL;
        if (!announced) wk_mesh_wait(cs->m, cs->id);
        else sched_yield(); /* finished: only serve others until all are done */
    }
}

START_TEST(request_reply_under_load)
{
    enum { N = CALL_SHARDS_MAX };
    wk_mesh *m;
    ck_assert_int_eq(wk_mesh_create(&(wk_mesh_opts){.n_shards = N, .lane_cap = 16}, &m), 0);
    _Atomic uint64_t served[N];
    _Atomic int finished = 0;
    for (int i = 0; i < N; i++) atomic_init(&served[i], 0);
    call_shard *cs = calloc(N, sizeof *cs);
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        cs[i].m = m;
        cs[i].id = i;
        cs[i].shards = N;
        cs[i].served = served;
        cs[i].finished = &finished;
        cs[i].all = cs;
    }
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, call_shard_main, &cs[i]), 0);
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    uint64_t total_served = 0;
    for (int i = 0; i < N; i++) {
        ck_assert_uint_eq(cs[i].bad, 0);
        ck_assert_uint_eq(cs[i].done, CALLS_PER_SHARD);
        ck_assert_int_eq(cs[i].ndeferred, 0);
        ck_assert_uint_gt(cs[i].deferred_total, 0); /* replies from after run returned came back */
        total_served += atomic_load(&served[i]);
    }
    ck_assert_uint_eq(total_served, (uint64_t)N * CALLS_PER_SHARD);
    free(cs);
    wk_mesh_destroy(m);
}
END_TEST

/* ---- an idle shard sleeps, and a message wakes it ---- */

typedef struct {
    wk_mesh *m;
    uint64_t cpu_at_sleep_ns;
    uint64_t cpu_at_wake_ns;
    bool woke;
} idle_shard;

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void on_wake_msg(wk_mesh *m, int self, const wk_msg *msg)
{
    idle_shard *s = msg->arg;
    s->cpu_at_wake_ns = thread_cpu_ns();
    s->woke = true;
}

static void *idle_main(void *p)
{
    idle_shard *s = p;
    s->cpu_at_sleep_ns = thread_cpu_ns();
    while (!s->woke) {
        wk_mesh_poll(s->m, 0, 0);
        if (!s->woke) wk_mesh_wait(s->m, 0);
    }
    return NULL;
}

/* Idle window: long enough that a spinning shard would burn ~all of it. */
#define IDLE_WINDOW_MS 200
/* CPU an idle shard may use in the window: a spinning one would use ~IDLE_WINDOW_MS. */
#define IDLE_CPU_MAX_MS 20

/* ---- a call finished later, and a reply nobody asked for ---- */

static wk_call *g_parked; /* the call shard 1 holds between run and its reply */
static int g_done_result, g_done_on;

static void park_run(wk_call *c, int self) { g_parked = c; }

static void note_done(wk_call *c, int result)
{
    g_done_result = result;
    g_done_on = c->caller;
}

START_TEST(call_replies_after_run_returned_and_push_runs_done_on_the_caller)
{
    wk_mesh *m;
    ck_assert_int_eq(wk_mesh_create(&(wk_mesh_opts){.n_shards = 2}, &m), 0);
    wk_call c = {.run = park_run, .done = note_done};
    g_parked = NULL;
    g_done_on = -1;
    wk_call_start(m, 0, 1, &c);
    wk_mesh_flush(m, 0);
    ck_assert_uint_eq(wk_mesh_poll(m, 1, 0), 1);
    ck_assert_ptr_eq(g_parked, &c); /* run returned without replying */
    wk_mesh_flush(m, 1);
    ck_assert_uint_eq(wk_mesh_poll(m, 0, 0), 0); /* so nothing came back yet */
    wk_call_reply(g_parked, 42);                 /* later, from shard 1's own loop */
    wk_mesh_flush(m, 1);
    ck_assert_uint_eq(wk_mesh_poll(m, 0, 0), 1);
    ck_assert_int_eq(g_done_result, 42);
    ck_assert_int_eq(g_done_on, 0);
    /* Shard 1 sends shard 0 a finished call it never started (a delivery). */
    wk_call p = {.done = note_done};
    wk_call_push(m, 1, 0, &p, 7);
    wk_mesh_flush(m, 1);
    ck_assert_uint_eq(wk_mesh_poll(m, 0, 0), 1);
    ck_assert_int_eq(g_done_result, 7);
    ck_assert_int_eq(p.caller, 0);
    ck_assert_int_eq(p.target, 1);
    wk_mesh_destroy(m);
}
END_TEST

START_TEST(idle_shard_sleeps_until_a_message)
{
    wk_mesh *m;
    ck_assert_int_eq(wk_mesh_create(&(wk_mesh_opts){.n_shards = 1, .n_threads = 1}, &m), 0);
    idle_shard s = {.m = m};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, idle_main, &s), 0);
    /* Wait for the shard to announce sleep (a flag, not a timed guess). */
    while (!wk_mesh_asleep(m, 0)) sched_yield();
    /* The idle window ends by an event: a timerfd expiry, then our message. */
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    ck_assert_int_ge(tfd, 0);
    struct itimerspec its = {.it_value = {.tv_sec = 0, .tv_nsec = IDLE_WINDOW_MS * 1000000L}};
    ck_assert_int_eq(timerfd_settime(tfd, 0, &its, NULL), 0);
    uint64_t ticks;
    ck_assert_int_eq(read(tfd, &ticks, sizeof ticks), (ssize_t)sizeof ticks);
    close(tfd);
    wk_msg msg = {.fn = on_wake_msg, .arg = &s};
    ck_assert_int_eq(wk_mesh_send_wait(m, 1, 0, &msg), 0);
    pthread_join(th, NULL);
    ck_assert(s.woke);
    uint64_t used_ns = s.cpu_at_wake_ns - s.cpu_at_sleep_ns;
    ck_assert_msg(used_ns < IDLE_CPU_MAX_MS * 1000000ull, "idle shard used %llu ns of CPU",
                  (unsigned long long)used_ns);
    wk_mesh_stats st;
    wk_mesh_get_stats(m, 1, &st);
    ck_assert_uint_eq(st.wakes, 1);
    wk_mesh_destroy(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("wk_mesh");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, create_rejects_bad_options);
    tcase_add_test(tc, staged_until_flush_then_runs_with_sender);
    tcase_add_test(tc, full_lane_refuses_then_parks_in_order);
    tcase_add_test(tc, one_wake_up_per_sleep_not_per_message);
    tcase_add_test(tc, stress_all_to_all_3_shards_1_helper);
    tcase_add_test(tc, stress_all_to_all_tiny_lanes);
    tcase_add_test(tc, request_reply_under_load);
    tcase_add_test(tc, call_replies_after_run_returned_and_push_runs_done_on_the_caller);
    tcase_add_test(tc, idle_shard_sleeps_until_a_message);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
