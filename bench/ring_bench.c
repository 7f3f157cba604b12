/* bench/ring_bench: throughput of worker/ rings and round-trip latency of the mailbox, each next
 * to a pthread mutex+condvar queue and an eventfd wake-up measured in the same run.
 *
 *   build/aux/bench/ring_bench [--quick]
 *
 * Prints a markdown table (figure, baseline figures, ratio, goal). Threads are pinned to CPUs 0
 * and 1 when the machine has them. Throughputs are medians of RUNS interleaved rounds and each
 * ratio is the median of the rounds' own ratios (see compare_tput). */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/ev_reactor.h"
#include "core/rt_clock.h"
#include "worker/wk_atomic.h"
#include "worker/wk_call.h"
#include "worker/wk_mesh.h"
#include "worker/wk_mesh_loop.h"
#include "worker/wk_mpmc.h"
#include "worker/wk_spsc.h"

#define RUNS 5
#define QUEUE_CAP 1024u /* slots in every queue under test */
#define BATCH 32u       /* items per batch in the batched SPSC run */
#define GOAL_SPSC_RATIO 20.0
#define GOAL_RTT_P50_US 5.0
#ifndef BACKOFF_PAUSES
#define BACKOFF_PAUSES 32u
#endif
#ifndef BACKOFF_YIELD_EVERY
#define BACKOFF_YIELD_EVERY 1024u /* pauses between sched_yields while a ring is empty/full */
#endif

static uint64_t g_items_spsc = 20000000ull;
static uint64_t g_items_slow = 2000000ull; /* mutex and eventfd queues are ~10-100x slower */
static uint64_t g_round_trips = 20000ull;

static void pin(int cpu)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 2) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu % (int)n, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

/* Waiting on an empty/full lock-free ring: each side has its own CPU, so spin with pauses and
 * yield only now and then (a sched_yield per miss would measure the syscall, not the ring).
 * BACKOFF_PAUSES pauses between looks: a consumer right on the producer's heels pulls each
 * slot's cache line across once per item; letting a few items accumulate moves it once per
 * line. (The mutex queue's consumer instead sleeps in the condvar.) */
static inline void backoff(unsigned *spins)
{
    if (++*spins % BACKOFF_YIELD_EVERY == 0) sched_yield();
    else
        for (unsigned i = 0; i < BACKOFF_PAUSES; i++) wk_cpu_relax();
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* ---- queues under test, behind one interface ---- */

typedef struct mutexq {
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    uint64_t buf[QUEUE_CAP];
    uint64_t head, tail;
} mutexq;

static void mutexq_init(mutexq *q)
{
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    pthread_cond_init(&q->not_full, NULL);
    q->head = q->tail = 0;
}

static void mutexq_push(mutexq *q, uint64_t v)
{
    pthread_mutex_lock(&q->mu);
    while (q->tail - q->head == QUEUE_CAP) pthread_cond_wait(&q->not_full, &q->mu);
    q->buf[q->tail++ % QUEUE_CAP] = v;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
}

static uint64_t mutexq_pop(mutexq *q)
{
    pthread_mutex_lock(&q->mu);
    while (q->tail == q->head) pthread_cond_wait(&q->not_empty, &q->mu);
    uint64_t v = q->buf[q->head++ % QUEUE_CAP];
    pthread_cond_signal(&q->not_full);
    pthread_mutex_unlock(&q->mu);
    return v;
}

typedef enum { K_SPSC, K_SPSC_BATCH, K_MUTEX, K_EVENTFD, K_MPMC } kind;

typedef struct {
    kind k;
    uint64_t items; /* per producer */
    int producers, consumers;
    wk_spsc spsc;
    wk_mpmc mpmc;
    mutexq mq;
    int efd;       /* eventfd: items available (semaphore mode) */
    int efd_space; /* eventfd: free slots (semaphore mode) */
    _Atomic uint64_t consumed;
    uint64_t sum[4];
    /* Each thread's clock after the start barrier and when it is done, indexed producers first
     * then consumers: the run lasts from the earliest start to the latest end. Taken inside the
     * threads because the main thread (unpinned, a third thread on two CPUs) may be descheduled
     * right after the barrier and read its clock after the run is over. */
    uint64_t start_ns[8], end_ns[8];
    pthread_barrier_t go;
} tput;

typedef struct {
    tput *t;
    int idx;
} role;

static void efd_add(int fd, uint64_t n)
{
    while (write(fd, &n, sizeof n) != (ssize_t)sizeof n && errno == EINTR) {}
}

static void efd_take(int fd)
{
    uint64_t v;
    while (read(fd, &v, sizeof v) != (ssize_t)sizeof v && errno == EINTR) {}
}

static void *producer(void *p)
{
    role *r = p;
    tput *t = r->t;
    pin(r->idx);
    pthread_barrier_wait(&t->go);
    t->start_ns[r->idx] = rt_now_ns();
    uint64_t base = (uint64_t)r->idx << 40;
    switch (t->k) {
    case K_SPSC:
        for (uint64_t i = 0; i < t->items; i++) {
            uint64_t v = base + i;
            unsigned spins = 0;
            while (!wk_spsc_push_one_sized(&t->spsc, &v, sizeof v)) backoff(&spins);
        }
        break;
    case K_SPSC_BATCH: {
        uint64_t buf[BATCH];
        unsigned spins = 0;
        for (uint64_t i = 0; i < t->items;) {
            uint32_t n = t->items - i < BATCH ? (uint32_t)(t->items - i) : BATCH;
            for (uint32_t j = 0; j < n; j++) buf[j] = base + i + j;
            uint32_t k = wk_spsc_push_sized(&t->spsc, buf, n, sizeof buf[0]);
            if (!k) backoff(&spins);
            i += k;
        }
        break;
    }
    case K_MUTEX:
        for (uint64_t i = 0; i < t->items; i++) mutexq_push(&t->mq, base + i);
        break;
    case K_EVENTFD:
        /* A mutex queue whose waits are eventfd reads: one wake-up syscall pair per item. */
        for (uint64_t i = 0; i < t->items; i++) {
            efd_take(t->efd_space);
            pthread_mutex_lock(&t->mq.mu);
            t->mq.buf[t->mq.tail++ % QUEUE_CAP] = base + i;
            pthread_mutex_unlock(&t->mq.mu);
            efd_add(t->efd, 1);
        }
        break;
    case K_MPMC:
        for (uint64_t i = 0; i < t->items; i++) {
            uint64_t v = base + i;
            unsigned spins = 0;
            while (!wk_mpmc_push(&t->mpmc, &v)) backoff(&spins);
        }
        break;
    }
    t->end_ns[r->idx] = rt_now_ns();
    return NULL;
}

static void *consumer(void *p)
{
    role *r = p;
    tput *t = r->t;
    pin(t->producers + r->idx);
    pthread_barrier_wait(&t->go);
    t->start_ns[t->producers + r->idx] = rt_now_ns();
    uint64_t total = t->items * (uint64_t)t->producers, sum = 0;
    unsigned spins = 0;
    switch (t->k) {
    case K_SPSC:
        for (uint64_t i = 0; i < total;) {
            uint64_t v;
            if (wk_spsc_pop_one_sized(&t->spsc, &v, sizeof v)) {
                sum += v;
                i++;
            } else {
                backoff(&spins);
            }
        }
        break;
    case K_SPSC_BATCH: {
        uint64_t buf[BATCH];
        for (uint64_t i = 0; i < total;) {
            uint32_t k = wk_spsc_pop_sized(&t->spsc, buf, BATCH, sizeof buf[0]);
            for (uint32_t j = 0; j < k; j++) sum += buf[j];
            if (!k) backoff(&spins);
            i += k;
        }
        break;
    }
    case K_MUTEX:
        /* Several consumers share `total`; each stops at its share (total / consumers). */
        for (uint64_t i = 0; i < total / (uint64_t)t->consumers; i++) sum += mutexq_pop(&t->mq);
        break;
    case K_EVENTFD:
        for (uint64_t i = 0; i < total / (uint64_t)t->consumers; i++) {
            efd_take(t->efd);
            pthread_mutex_lock(&t->mq.mu);
            sum += t->mq.buf[t->mq.head++ % QUEUE_CAP];
            pthread_mutex_unlock(&t->mq.mu);
            efd_add(t->efd_space, 1);
        }
        break;
    case K_MPMC:
        for (uint64_t i = 0; i < total / (uint64_t)t->consumers;) {
            uint64_t v;
            if (wk_mpmc_pop(&t->mpmc, &v)) {
                sum += v;
                i++;
            } else {
                backoff(&spins);
            }
        }
        break;
    }
    t->sum[r->idx] = sum;
    t->end_ns[t->producers + r->idx] = rt_now_ns();
    return NULL;
}

/* Items per second (all producers together) for one run. */
static double run_tput(kind k, int producers, int consumers, uint64_t items_total)
{
    tput *t = calloc(1, sizeof *t);
    t->k = k;
    t->producers = producers;
    t->consumers = consumers;
    t->items = items_total / (uint64_t)producers;
    wk_spsc_init(&t->spsc, QUEUE_CAP, sizeof(uint64_t));
    wk_mpmc_init(&t->mpmc, QUEUE_CAP, sizeof(uint64_t));
    mutexq_init(&t->mq);
    t->efd = eventfd(0, EFD_SEMAPHORE);
    t->efd_space = eventfd(QUEUE_CAP, EFD_SEMAPHORE);
    pthread_barrier_init(&t->go, NULL, (unsigned)(producers + consumers + 1));
    pthread_t th[8];
    role roles[8];
    for (int i = 0; i < consumers; i++) {
        roles[producers + i] = (role){t, i};
        pthread_create(&th[producers + i], NULL, consumer, &roles[producers + i]);
    }
    for (int i = 0; i < producers; i++) {
        roles[i] = (role){t, i};
        pthread_create(&th[i], NULL, producer, &roles[i]);
    }
    pthread_barrier_wait(&t->go);
    for (int i = 0; i < producers + consumers; i++) pthread_join(th[i], NULL);
    uint64_t first = UINT64_MAX, last = 0;
    for (int i = 0; i < producers + consumers; i++) {
        if (t->start_ns[i] < first) first = t->start_ns[i];
        if (t->end_ns[i] > last) last = t->end_ns[i];
    }
    uint64_t dt = last - first;
    /* Checksum: every item exactly once (sum of base + i over producers). */
    uint64_t want = 0, got = 0;
    for (int p = 0; p < producers; p++)
        want += ((uint64_t)p << 40) * t->items + t->items * (t->items - 1) / 2;
    for (int c = 0; c < consumers; c++) got += t->sum[c];
    if (got != want) {
        fprintf(stderr, "checksum mismatch kind=%d: %llu != %llu\n", k, (unsigned long long)got,
                (unsigned long long)want);
        exit(1);
    }
    double rate = (double)(t->items * (uint64_t)producers) / ((double)dt / 1e9);
    wk_spsc_deinit(&t->spsc);
    wk_mpmc_deinit(&t->mpmc);
    close(t->efd);
    close(t->efd_space);
    pthread_barrier_destroy(&t->go);
    free(t);
    return rate;
}

static double median_d(double *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double x = v[j];
            v[j] = v[j - 1];
            v[j - 1] = x;
        }
    return v[n / 2];
}

/* The machine is shared: a neighbour's burst slows whatever runs during it. So the queues of one
 * comparison run interleaved (mutex, eventfd, ring, mutex, ...), each round's ratio ring/mutex
 * comes from runs a fraction of a second apart, and the reported ratio is the median of the
 * rounds' ratios; the rates are the medians of each queue's runs. */
typedef struct {
    double mutex, eventfd, ring, ratio;
} cmp_result;

static cmp_result compare_tput(kind ring, int producers, int consumers, uint64_t ring_items)
{
    double m[RUNS], e[RUNS], r[RUNS], q[RUNS];
    for (int i = 0; i < RUNS; i++) {
        m[i] = run_tput(K_MUTEX, producers, consumers, g_items_slow);
        e[i] = run_tput(K_EVENTFD, producers, consumers, g_items_slow / 4);
        r[i] = run_tput(ring, producers, consumers, ring_items);
        q[i] = r[i] / m[i];
    }
    return (cmp_result){median_d(m, RUNS), median_d(e, RUNS), median_d(r, RUNS), median_d(q, RUNS)};
}

/* ---- round trips ---- */

typedef struct {
    uint64_t *lat; /* ns per round trip */
    uint64_t n;
} rtt;

static void rtt_summary(rtt *r, double *p50_us, double *p99_us)
{
    qsort(r->lat, r->n, sizeof r->lat[0], cmp_u64);
    *p50_us = (double)r->lat[r->n / 2] / 1000.0;
    *p99_us = (double)r->lat[r->n * 99 / 100] / 1000.0;
}

/* Mutex + condvar ping-pong. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int turn; /* 0: ping side, 1: pong side */
    uint64_t n;
} mcpp;

static void *mc_pong(void *p)
{
    mcpp *s = p;
    pin(1);
    for (uint64_t i = 0; i < s->n; i++) {
        pthread_mutex_lock(&s->mu);
        while (s->turn != 1) pthread_cond_wait(&s->cv, &s->mu);
        s->turn = 0;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

static void rtt_mutex(rtt *r)
{
    mcpp s = {.turn = 0, .n = r->n};
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    pthread_t th;
    pthread_create(&th, NULL, mc_pong, &s);
    pin(0);
    for (uint64_t i = 0; i < r->n; i++) {
        uint64_t t0 = rt_now_ns();
        pthread_mutex_lock(&s.mu);
        s.turn = 1;
        pthread_cond_broadcast(&s.cv);
        while (s.turn != 0) pthread_cond_wait(&s.cv, &s.mu);
        pthread_mutex_unlock(&s.mu);
        r->lat[i] = rt_now_ns() - t0;
    }
    pthread_join(th, NULL);
}

/* eventfd ping-pong: blocking read/write on two eventfds. */
typedef struct {
    int a, b;
    uint64_t n;
} efpp;

static void *ef_pong(void *p)
{
    efpp *s = p;
    pin(1);
    for (uint64_t i = 0; i < s->n; i++) {
        efd_take(s->a);
        efd_add(s->b, 1);
    }
    return NULL;
}

static void rtt_eventfd(rtt *r)
{
    efpp s = {.a = eventfd(0, 0), .b = eventfd(0, 0), .n = r->n};
    pthread_t th;
    pthread_create(&th, NULL, ef_pong, &s);
    pin(0);
    for (uint64_t i = 0; i < r->n; i++) {
        uint64_t t0 = rt_now_ns();
        efd_add(s.a, 1);
        efd_take(s.b);
        r->lat[i] = rt_now_ns() - t0;
    }
    pthread_join(th, NULL);
    close(s.a);
    close(s.b);
}

/* Mailbox request/reply between two shards, each on its own ev_loop. */
typedef struct {
    wk_mesh *m;
    ev_loop *loops[2];
    wk_mesh_loop ml[2];
    pthread_t th[2];
    pthread_barrier_t ready, ran; /* ran: both loops stopped before either is destroyed */
    rtt *r;
    uint64_t i, t0;
    wk_call call;
    wk_msg_node stop_node[2];
    int failed;
} mbox;

static mbox *g_mb;

static void mb_run(wk_call *c, int self) { wk_call_reply(c, self); }

static void mb_on_stop(wk_mesh *m, int self, const wk_msg *msg) { ev_loop_stop(g_mb->loops[self]); }

static void mb_done(wk_call *c, int result)
{
    mbox *mb = g_mb;
    mb->r->lat[mb->i++] = rt_now_ns() - mb->t0;
    if (mb->i == mb->r->n) {
        for (int to = 0; to < 2; to++) {
            mb->stop_node[to].msg = (wk_msg){.fn = mb_on_stop};
            wk_mesh_send_node(mb->m, 0, to, &mb->stop_node[to]);
        }
        return;
    }
    mb->t0 = rt_now_ns();
    wk_call_start(mb->m, 0, 1, c);
}

static void *mb_shard(void *p)
{
    mbox *mb = g_mb;
    int id = (int)(intptr_t)p;
    pin(id);
    int err;
    const char *why;
    ev_loop *loop = ev_loop_create(
        &(ev_loop_opts){.sq_entries = 64, .buf_count = 16, .buf_size = 4096, .shard_id = id}, &err,
        &why);
    if (!loop) {
        fprintf(stderr, "ring_bench: no io_uring (%s): skipping the mailbox round trip\n", why);
        mb->failed = 1;
    } else {
        mb->loops[id] = loop;
        wk_mesh_loop_init(&mb->ml[id], mb->m, id, loop);
    }
    pthread_barrier_wait(&mb->ready);
    if (!mb->failed) {
        if (id == 0) {
            mb->call = (wk_call){.run = mb_run, .done = mb_done};
            mb->t0 = rt_now_ns();
            wk_call_start(mb->m, 0, 1, &mb->call);
        }
        ev_loop_run(loop);
    }
    pthread_barrier_wait(&mb->ran);
    if (loop) ev_loop_destroy(loop);
    return NULL;
}

static int rtt_mailbox(rtt *r, uint64_t spin_ns)
{
    mbox mb = {.r = r};
    g_mb = &mb;
    if (wk_mesh_create(&(wk_mesh_opts){.n_shards = 2, .spin_ns = spin_ns}, &mb.m) < 0) return -1;
    pthread_barrier_init(&mb.ready, NULL, 2);
    pthread_barrier_init(&mb.ran, NULL, 2);
    for (intptr_t i = 0; i < 2; i++) pthread_create(&mb.th[i], NULL, mb_shard, (void *)i);
    for (int i = 0; i < 2; i++) pthread_join(mb.th[i], NULL);
    pthread_barrier_destroy(&mb.ready);
    pthread_barrier_destroy(&mb.ran);
    wk_mesh_destroy(mb.m);
    return mb.failed ? -1 : 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--quick") == 0) {
        g_items_spsc /= 10;
        g_items_slow /= 10;
        g_round_trips /= 10;
    }
    printf("| measurement | ringq | mutex+condvar | eventfd | ratio vs mutex | goal |\n");
    printf("|---|---|---|---|---|---|\n");

    cmp_result s1 = compare_tput(K_SPSC, 1, 1, g_items_spsc);
    cmp_result sb = compare_tput(K_SPSC_BATCH, 1, 1, g_items_spsc);
    printf("| SPSC 1->1, single items (M items/s) | %.1f | %.2f | %.2f | %.0fx | >= %.0fx |\n",
           s1.ring / 1e6, s1.mutex / 1e6, s1.eventfd / 1e6, s1.ratio, GOAL_SPSC_RATIO);
    printf("| SPSC 1->1, batches of %u (M items/s) | %.1f | %.2f | %.2f | %.0fx | >= %.0fx |\n",
           BATCH, sb.ring / 1e6, sb.mutex / 1e6, sb.eventfd / 1e6, sb.ratio, GOAL_SPSC_RATIO);
    cmp_result mp = compare_tput(K_MPMC, 2, 2, g_items_spsc / 4);
    printf("| MPMC 2->2 (M items/s) | %.1f | %.2f | %.2f | %.0fx | - |\n", mp.ring / 1e6,
           mp.mutex / 1e6, mp.eventfd / 1e6, mp.ratio);

    rtt r = {.n = g_round_trips};
    r.lat = calloc(r.n, sizeof *r.lat);
    double m50, m99, e50, e99, b50, b99, s50, s99;
    rtt_mutex(&r);
    rtt_summary(&r, &m50, &m99);
    rtt_eventfd(&r);
    rtt_summary(&r, &e50, &e99);
    if (rtt_mailbox(&r, 0) == 0) {
        rtt_summary(&r, &b50, &b99);
        printf(
            "| mailbox request/reply, spin off (shards sleep at once): p50 / p99 (us) | %.1f / %.1f | %.1f / %.1f "
            "| %.1f / %.1f | %.2fx | p50 < %.0f |\n",
            b50, b99, m50, m99, e50, e99, m50 / b50, GOAL_RTT_P50_US);
    }
    if (rtt_mailbox(&r, WK_MESH_SPIN_NS_DEFAULT) == 0) {
        rtt_summary(&r, &s50, &s99);
        printf("| mailbox request/reply, adaptive spin %u us (ringqd default): p50 / p99 (us) "
               "| %.1f / %.1f | %.1f / %.1f | %.1f / %.1f | %.2fx | p50 < %.0f |\n",
               WK_MESH_SPIN_NS_DEFAULT / 1000u, s50, s99, m50, m99, e50, e99, m50 / s50,
               GOAL_RTT_P50_US);
    }
    free(r.lat);
    printf(
        "\nThroughput: medians of %d rounds, each running the mutex queue, the eventfd queue and the "
        "ring back to back; a ratio is the median of the rounds' own ratios.\n",
        RUNS);
    return 0;
}
