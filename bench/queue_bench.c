/* bench/queue_bench: end-to-end load driver for ringqd (ringq.v1 over gRPC), built on libringq.
 *
 *   queue_bench [options]            run producers and workers against a running ringqd
 *   queue_bench fsync DIR COUNT      raw disk figure: COUNT x (4 KiB pwrite appended + fdatasync);
 *                                    the mean and p50/p99/p99.9/max of each pwrite + fdatasync
 *
 * Producers: --producers threads, each with its own rq_client, call rq_enqueue with --batch
 * tasks of --payload bytes (default 100). Every payload starts with the CLOCK_MONOTONIC time
 * taken just before the Enqueue call (8 bytes) and a sequence number (8 bytes); the rest is
 * filler. Producer i writes to queue i % --queues.
 *
 * Workers: --workers threads, each with its own rq_client, subscribed to every queue.
 *   --mode work (default): one Work stream per worker with --credits credits; each task is
 *     acked on the stream (rq_work_ack, one ack per task, with a request_id so its answer is
 *     counted); a credit goes back for every answered ack, granted in lumps of credits/4.
 *   --mode lease: rq_lease(max_tasks = --lease-max, wait_ms 5) round-robin over the queues,
 *     then one rq_ack with every id of that lease (batched acks).
 * Latency = the time the task reaches the worker's callback minus the time in its payload
 * (producer and workers are threads of this process, so one monotonic clock): it covers the
 * Enqueue RPC with its group commit, queueing in the server and delivery.
 *
 * Backlog bound: producers pause while (tasks whose Enqueue succeeded) - (tasks received by a
 * worker) exceeds --max-backlog (default max(2 x producers x batch, 1024)), until it is back to
 * half. (A small bound couples producers to any task the server holds back: a few late tasks
 * would stop them all.) Without
 * a bound, producers that outrun the workers grow the queue without limit and the latency
 * measures only that queue. Throughput is unchanged as long as the workers are the bottleneck.
 *
 * Queues: --queues names are picked so that queue i lives in a partition p with p % 2 == i % 2
 * (XXH3-64(name) mod --partitions, docs/semantics.md), so with 2 server threads (partition p is
 * owned by shard p % threads) each shard owns one of the two default queues.
 *
 * Phases: workers start, then producers; --warmup seconds, then --duration seconds measured
 * (tasks/s = acks answered OK in the window / window; latency of tasks received in the window);
 * then producers stop and the workers drain everything enqueued. Finally Admin.GetQueue on each
 * queue: the run passes only if ready, delayed, leased and dead are 0 and acked_total equals
 * enqueued_total. Output: a human summary on stderr and one JSON line on stdout. Exit 0 when
 * the run passed, 1 otherwise. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "bench/rb_hist.h"
#include "client/ringq.h"

#define QB_QUEUES_MAX 16
#define QB_ERR_BYTES 512

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u),
                          .tv_nsec = (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* ---- options and shared state ---- */

static struct {
    const char *addr;
    unsigned producers, workers, batch, payload, nq, credits, lease_max, parts;
    double duration_s, warmup_s, drain_s;
    long server_pid;
    uint64_t max_backlog;
    bool lease_mode;
    const char *prefix;
    char qnames[QB_QUEUES_MAX][64];
    unsigned qpart[QB_QUEUES_MAX];
} O = {.producers = 8,
       .workers = 2,
       .batch = 1,
       .payload = 100,
       .nq = 2,
       .credits = 256,
       .lease_max = 64,
       .parts = 16,
       .duration_s = 8,
       .warmup_s = 2,
       .drain_s = 30,
       .prefix = "qbench"};

static struct {
    _Atomic int phase; /* 0 warm-up, 1 measuring, 2 producers stop */
    _Atomic bool done; /* workers stop */
    _Atomic uint64_t enq_ok, enq_err, received, acked, ack_err, stream_err, reconnects;
    _Atomic unsigned waiters;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char first_err[QB_ERR_BYTES];
} G = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void note_err(const char *fmt, const char *a, const char *b)
{
    pthread_mutex_lock(&G.mu);
    if (!G.first_err[0]) snprintf(G.first_err, sizeof G.first_err, fmt, a, b);
    pthread_mutex_unlock(&G.mu);
}

static uint64_t backlog(void)
{
    uint64_t e = atomic_load(&G.enq_ok), r = atomic_load(&G.received);
    return e > r ? e - r : 0;
}

static rq_client *client_new(void)
{
    rq_status st;
    rq_client_opts o = {.addr = O.addr, .timeout_ms = 60000};
    rq_client *c = rq_client_create(&o, &st);
    if (!c) {
        fprintf(stderr, "queue_bench: rq_client_create: %s\n", st.message);
        exit(1);
    }
    return c;
}

/* ---- producers ---- */

static void *producer(void *arg)
{
    unsigned idx = (unsigned)(uintptr_t)arg;
    rq_client *c = client_new();
    const char *q = O.qnames[idx % O.nq];
    uint8_t *payloads = calloc(O.batch, O.payload);
    rq_task_spec *specs = calloc(O.batch, sizeof *specs);
    rq_enqueue_result *res = calloc(O.batch, sizeof *res);
    if (!payloads || !specs || !res) {
        fprintf(stderr, "queue_bench: out of memory\n");
        exit(1);
    }
    for (unsigned j = 0; j < O.batch; j++) {
        memset(payloads + (size_t)j * O.payload, 'a' + (int)(idx % 26), O.payload);
        specs[j].payload = payloads + (size_t)j * O.payload;
        specs[j].payload_len = O.payload;
    }
    uint64_t seq = (uint64_t)idx << 40;
    while (atomic_load_explicit(&G.phase, memory_order_relaxed) < 2) {
        if (backlog() > O.max_backlog) {
            pthread_mutex_lock(&G.mu);
            atomic_fetch_add(&G.waiters, 1);
            while (backlog() > O.max_backlog / 2 && atomic_load(&G.phase) < 2) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 1000000;
                if (ts.tv_nsec >= 1000000000) {
                    ts.tv_sec++;
                    ts.tv_nsec -= 1000000000;
                }
                pthread_cond_timedwait(&G.cv, &G.mu, &ts);
            }
            atomic_fetch_sub(&G.waiters, 1);
            pthread_mutex_unlock(&G.mu);
            continue;
        }
        uint64_t t = now_ns();
        for (unsigned j = 0; j < O.batch; j++) {
            uint8_t *p = payloads + (size_t)j * O.payload;
            memcpy(p, &t, 8);
            seq++;
            memcpy(p + 8, &seq, 8);
        }
        rq_status st;
        int rc = rq_enqueue(c, q, specs, O.batch, res, &st);
        if (rc == 0) {
            atomic_fetch_add(&G.enq_ok, O.batch);
        } else {
            atomic_fetch_add(&G.enq_err, O.batch);
            note_err("enqueue: %s: %s", rq_status_name(rc), st.message);
            sleep_ns(10000000);
        }
    }
    rq_client_destroy(c);
    free(payloads);
    free(specs);
    free(res);
    return NULL;
}

/* ---- workers ---- */

typedef struct wctx {
    unsigned idx;
    rq_client *c;
    rq_work *w;
    uint64_t rid;
    uint32_t credit_pending;
    rb_hist h;
} wctx;

/* A task reached the worker: latency, counters, wake producers held by the backlog bound. */
static void got_task(wctx *x, const rq_task *t, uint64_t now)
{
    uint64_t t0 = 0;
    if (t->payload_len >= 8) memcpy(&t0, t->payload, 8);
    if (atomic_load_explicit(&G.phase, memory_order_relaxed) == 1 && t0 && now >= t0)
        rb_hist_record(&x->h, now - t0);
    atomic_fetch_add(&G.received, 1);
    if (atomic_load(&G.waiters) && backlog() <= O.max_backlog / 2) {
        pthread_mutex_lock(&G.mu);
        pthread_cond_broadcast(&G.cv);
        pthread_mutex_unlock(&G.mu);
    }
}

static void on_task(rq_work *w, void *ud, rq_task *t)
{
    wctx *x = ud;
    got_task(x, t, now_ns());
    if (rq_work_ack(w, t->id, t->lease_token, ++x->rid) < 0) {
        atomic_fetch_add(&G.ack_err, 1);
        note_err("rq_work_ack %s%s failed", t->id, "");
    }
    rq_task_free(t);
}

static void on_result(rq_work *w, void *ud, uint64_t rid, int code, const char *msg)
{
    wctx *x = ud;
    if (rid == 0) { /* an error on a request sent without id (credit, subscribe) */
        atomic_fetch_add(&G.stream_err, 1);
        note_err("work stream: %s: %s", rq_status_name(code), msg);
        return;
    }
    if (code == 0) {
        atomic_fetch_add(&G.acked, 1);
    } else {
        atomic_fetch_add(&G.ack_err, 1);
        note_err("ack on the stream: %s: %s", rq_status_name(code), msg);
    }
    uint32_t lump = O.credits / 4 ? O.credits / 4 : 1;
    if (++x->credit_pending >= lump) {
        rq_work_credit(w, x->credit_pending);
        x->credit_pending = 0;
    }
}

static void on_state(rq_work *w, void *ud, bool connected, const rq_status *why)
{
    if (connected) return;
    atomic_fetch_add(&G.reconnects, 1);
    note_err("work stream lost: %s: %s", rq_status_name(why->code), why->message);
}

static void work_loop(wctx *x)
{
    const char *qs[QB_QUEUES_MAX];
    for (unsigned i = 0; i < O.nq; i++) qs[i] = O.qnames[i];
    rq_work_cbs cbs = {.on_task = on_task, .on_result = on_result, .on_state = on_state};
    rq_status st;
    x->w = rq_work_open(x->c, qs, O.nq, O.credits, 0, &cbs, x, &st);
    if (!x->w) {
        fprintf(stderr, "queue_bench: rq_work_open: %s\n", st.message);
        exit(1);
    }
    while (!atomic_load_explicit(&G.done, memory_order_relaxed)) rq_client_poll(x->c, 10);
    rq_work_close(x->w);
}

static void lease_loop(wctx *x)
{
    const char **ids = calloc(O.lease_max, sizeof *ids);
    uint64_t *tokens = calloc(O.lease_max, sizeof *tokens);
    rq_item_status *res = calloc(O.lease_max, sizeof *res);
    if (!ids || !tokens || !res) exit(1);
    for (unsigned rr = x->idx; !atomic_load_explicit(&G.done, memory_order_relaxed); rr++) {
        rq_task **tasks = NULL;
        size_t n = 0;
        rq_status st;
        int rc = rq_lease(x->c, O.qnames[rr % O.nq], O.lease_max, 5, 0, &tasks, &n, &st);
        if (rc != 0) {
            atomic_fetch_add(&G.stream_err, 1);
            note_err("lease: %s: %s", rq_status_name(rc), st.message);
            sleep_ns(10000000);
            continue;
        }
        uint64_t now = now_ns();
        for (size_t i = 0; i < n; i++) {
            got_task(x, tasks[i], now);
            ids[i] = tasks[i]->id;
            tokens[i] = tasks[i]->lease_token;
        }
        if (n) {
            rc = rq_ack(x->c, ids, tokens, n, res, &st);
            for (size_t i = 0; i < n; i++) {
                if (rc == 0 && res[i].code == 0) {
                    atomic_fetch_add(&G.acked, 1);
                } else {
                    atomic_fetch_add(&G.ack_err, 1);
                    note_err("ack: %s: %s", rq_status_name(rc ? rc : res[i].code),
                             rc ? st.message : res[i].message);
                }
            }
        }
        rq_tasks_free(tasks, n);
    }
    free(ids);
    free(tokens);
    free(res);
}

static void *worker(void *arg)
{
    wctx *x = arg;
    x->c = client_new();
    if (O.lease_mode) lease_loop(x);
    else work_loop(x);
    rq_client_destroy(x->c);
    return NULL;
}

/* ---- raw fdatasync ---- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of `n` sorted values, in microseconds (nearest rank). */
static double quantile_us(const uint64_t *v, long n, double q)
{
    long i = (long)(q * (double)n + 0.999999) - 1;
    if (i < 0) i = 0;
    if (i >= n) i = n - 1;
    return (double)v[i] / 1e3;
}

static int fsync_main(const char *dir, long count)
{
    char path[4096];
    if (count <= 0) return 1;
    snprintf(path, sizeof path, "%s/queue_bench.fsync.%d", dir, (int)getpid());
    uint64_t *lat = calloc((size_t)count, sizeof *lat); /* each fdatasync's time, ns */
    int fd = lat ? open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600) : -1;
    if (fd < 0) {
        fprintf(stderr, "queue_bench: %s: %s\n", path, lat ? strerror(errno) : "out of memory");
        free(lat);
        return 1;
    }
    static uint8_t page[4096];
    uint64_t t0 = now_ns();
    for (long i = 0; i < count; i++) {
        page[0] = (uint8_t)i;
        uint64_t t1 = now_ns();
        if (pwrite(fd, page, sizeof page, (off_t)i * 4096) != (ssize_t)sizeof page ||
            fdatasync(fd) != 0) {
            fprintf(stderr, "queue_bench: write/fdatasync: %s\n", strerror(errno));
            close(fd);
            unlink(path);
            free(lat);
            return 1;
        }
        lat[i] = now_ns() - t1;
    }
    double s = (double)(now_ns() - t0) / 1e9;
    close(fd);
    unlink(path);
    qsort(lat, (size_t)count, sizeof *lat, cmp_u64);
    /* us_each: the mean (total time / count); the quantiles are of the single pwrite + fdatasync */
    printf("{\"bench\":\"fdatasync\",\"count\":%ld,\"per_s\":%.0f,\"us_each\":%.1f,\"p50_us\":%.1f,"
           "\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f}\n",
           count, (double)count / s, s * 1e6 / (double)count, quantile_us(lat, count, 0.50),
           quantile_us(lat, count, 0.99), quantile_us(lat, count, 0.999),
           quantile_us(lat, count, 1.0));
    free(lat);
    return 0;
}

/* ---- CPU time: this process (getrusage) and the server (/proc/PID/stat utime + stime) ---- */

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double proc_cpu_s(long pid)
{
    if (pid <= 0) return -1;
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = 0;
    const char *p = strrchr(line, ')'); /* fields after the command name; utime is field 14 */
    unsigned long long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* ---- main ---- */

static void usage(void)
{
    fprintf(stderr,
            "usage: queue_bench [--addr HOST:PORT] [--producers N] [--workers N] [--batch B]\n"
            "         [--payload BYTES] [--queues Q] [--partitions P] [--prefix NAME]\n"
            "         [--duration S] [--warmup S] [--drain S] [--max-backlog N]\n"
            "         [--mode work|lease] [--credits C] [--lease-max N] [--server-pid PID]\n"
            "       queue_bench fsync DIR COUNT\n");
    exit(2);
}

static void pick_queues(void)
{
    unsigned k = 0;
    for (unsigned i = 0; i < O.nq; i++) {
        for (;; k++) {
            char name[64];
            snprintf(name, sizeof name, "%s-%u", O.prefix, k);
            unsigned p = (unsigned)(XXH3_64bits(name, strlen(name)) % O.parts);
            bool used = false;
            for (unsigned j = 0; j < i; j++) used |= O.qpart[j] == p;
            if (used || (O.parts >= 2 && p % 2 != i % 2)) continue;
            memcpy(O.qnames[i], name, sizeof name);
            O.qpart[i] = p;
            k++;
            break;
        }
    }
}

typedef struct qsum {
    uint64_t ready, delayed, leased, dead, enqueued_total, acked_total;
    bool ok;
    char err[QB_ERR_BYTES];
} qsum;

/* Admin.ListQueues, summed over our queues. (Not GetQueue: on the server under test, GetQueue
 * of a queue that does not exist yet never answers; see the results file.) */
static qsum queue_figures(rq_client *c)
{
    qsum s = {.ok = true};
    rq_queue_info *qs = NULL;
    size_t n = 0;
    rq_status st;
    int rc = rq_list_queues(c, &qs, &n, &st);
    if (rc != 0) {
        s.ok = false;
        snprintf(s.err, sizeof s.err, "ListQueues: %s: %s", rq_status_name(rc), st.message);
        return s;
    }
    for (size_t k = 0; k < n; k++) {
        bool ours = false;
        for (unsigned i = 0; i < O.nq; i++) ours |= strcmp(qs[k].name, O.qnames[i]) == 0;
        if (!ours) continue;
        s.ready += qs[k].ready;
        s.delayed += qs[k].delayed;
        s.leased += qs[k].leased;
        s.dead += qs[k].dead;
        s.enqueued_total += qs[k].enqueued_total;
        s.acked_total += qs[k].acked_total;
    }
    free(qs);
    return s;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "fsync") == 0) return fsync_main(argv[2], atol(argv[3]));
    static const struct option lo[] = {
        {"addr", 1, 0, 'a'},       {"producers", 1, 0, 'p'}, {"workers", 1, 0, 'w'},
        {"batch", 1, 0, 'b'},      {"payload", 1, 0, 'l'},   {"queues", 1, 0, 'q'},
        {"partitions", 1, 0, 'P'}, {"prefix", 1, 0, 'n'},    {"duration", 1, 0, 'd'},
        {"warmup", 1, 0, 'W'},     {"drain", 1, 0, 'D'},     {"max-backlog", 1, 0, 'B'},
        {"mode", 1, 0, 'm'},       {"credits", 1, 0, 'c'},   {"lease-max", 1, 0, 'L'},
        {"server-pid", 1, 0, 'S'}, {"help", 0, 0, 'h'},      {0, 0, 0, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (opt) {
        case 'a': O.addr = optarg; break;
        case 'p': O.producers = (unsigned)atoi(optarg); break;
        case 'w': O.workers = (unsigned)atoi(optarg); break;
        case 'b': O.batch = (unsigned)atoi(optarg); break;
        case 'l': O.payload = (unsigned)atoi(optarg); break;
        case 'q': O.nq = (unsigned)atoi(optarg); break;
        case 'P': O.parts = (unsigned)atoi(optarg); break;
        case 'n': O.prefix = optarg; break;
        case 'd': O.duration_s = atof(optarg); break;
        case 'W': O.warmup_s = atof(optarg); break;
        case 'D': O.drain_s = atof(optarg); break;
        case 'B': O.max_backlog = strtoull(optarg, NULL, 10); break;
        case 'm':
            if (strcmp(optarg, "lease") == 0) O.lease_mode = true;
            else if (strcmp(optarg, "work") != 0) usage();
            break;
        case 'c': O.credits = (unsigned)atoi(optarg); break;
        case 'L': O.lease_max = (unsigned)atoi(optarg); break;
        case 'S': O.server_pid = atol(optarg); break;
        default: usage();
        }
    }
    if (optind != argc || O.producers < 1 || O.workers < 1 || O.batch < 1 || O.batch > 1000 ||
        O.payload < 16 || O.nq < 1 || O.nq > QB_QUEUES_MAX || O.parts < 1 || O.credits < 1 ||
        O.lease_max < 1 || O.lease_max > 1000 || O.duration_s <= 0 || O.warmup_s < 0)
        usage();
    if (O.max_backlog == 0) O.max_backlog = 2 * (uint64_t)O.producers * O.batch;
    if (O.max_backlog < 1024) O.max_backlog = 1024;
    pick_queues();

    rq_client *admin = client_new();
    qsum before = queue_figures(admin);
    if (!before.ok) {
        fprintf(stderr, "queue_bench: %s\n", before.err);
        return 1;
    }

    fprintf(stderr,
            "queue_bench: %s producers=%u workers=%u batch=%u payload=%u mode=%s "
            "credits=%u max_backlog=%" PRIu64 " queues=",
            rq_client_addr(admin), O.producers, O.workers, O.batch, O.payload,
            O.lease_mode ? "lease" : "work", O.credits, O.max_backlog);
    for (unsigned i = 0; i < O.nq; i++)
        fprintf(stderr, "%s%s(partition %u)", i ? "," : "", O.qnames[i], O.qpart[i]);
    fprintf(stderr, "\n");

    wctx *wx = calloc(O.workers, sizeof *wx);
    pthread_t *wt = calloc(O.workers, sizeof *wt), *pt = calloc(O.producers, sizeof *pt);
    if (!wx || !wt || !pt) return 1;
    for (unsigned i = 0; i < O.workers; i++) {
        wx[i].idx = i;
        pthread_create(&wt[i], NULL, worker, &wx[i]);
    }
    for (unsigned i = 0; i < O.producers; i++)
        pthread_create(&pt[i], NULL, producer, (void *)(uintptr_t)i);

    sleep_ns((uint64_t)(O.warmup_s * 1e9));
    uint64_t t0 = now_ns();
    double c0 = self_cpu_s(), s0 = proc_cpu_s(O.server_pid);
    uint64_t a0 = atomic_load(&G.acked), e0 = atomic_load(&G.enq_ok);
    atomic_store(&G.phase, 1);
    sleep_ns((uint64_t)(O.duration_s * 1e9));
    atomic_store(&G.phase, 2);
    uint64_t t1 = now_ns();
    double c1 = self_cpu_s(), s1 = proc_cpu_s(O.server_pid);
    uint64_t a1 = atomic_load(&G.acked), e1 = atomic_load(&G.enq_ok);
    pthread_mutex_lock(&G.mu);
    pthread_cond_broadcast(&G.cv);
    pthread_mutex_unlock(&G.mu);
    for (unsigned i = 0; i < O.producers; i++) pthread_join(pt[i], NULL);

    /* Drain: every task enqueued is received and its ack answered. */
    uint64_t td = now_ns();
    bool drained = false;
    while (now_ns() - td < (uint64_t)(O.drain_s * 1e9)) {
        uint64_t e = atomic_load(&G.enq_ok);
        if (atomic_load(&G.received) >= e && atomic_load(&G.acked) + atomic_load(&G.ack_err) >= e) {
            drained = true;
            break;
        }
        sleep_ns(1000000);
    }
    double drain_ms = (double)(now_ns() - td) / 1e6;
    atomic_store(&G.done, true);
    for (unsigned i = 0; i < O.workers; i++) pthread_join(wt[i], NULL);

    rb_hist *h = calloc(1, sizeof *h);
    if (!h) return 1;
    for (unsigned i = 0; i < O.workers; i++) rb_hist_merge(h, &wx[i].h);
    qsum after = queue_figures(admin);
    rq_client_destroy(admin);

    double win = (double)(t1 - t0) / 1e9;
    double drv_cpu = (c1 - c0) / win, srv_cpu = s0 >= 0 && s1 >= 0 ? (s1 - s0) / win : -1;
    double tps = (double)(a1 - a0) / win, eps = (double)(e1 - e0) / win;
    uint64_t enq = atomic_load(&G.enq_ok), acked = atomic_load(&G.acked);
    uint64_t enq_err = atomic_load(&G.enq_err), ack_err = atomic_load(&G.ack_err);
    uint64_t stream_err = atomic_load(&G.stream_err), recon = atomic_load(&G.reconnects);
    bool empty = after.ok && after.ready == 0 && after.delayed == 0 && after.leased == 0 &&
                 after.dead == 0 && after.enqueued_total - before.enqueued_total == enq &&
                 after.acked_total - before.acked_total == enq;
    bool pass = empty && drained && enq_err == 0 && ack_err == 0 && stream_err == 0 && recon == 0 &&
                acked == enq && h->n > 0;
    double us = 1e3;
    fprintf(
        stderr,
        "queue_bench: %.0f tasks/s acked (%.0f enqueued/s) over %.2f s; latency enqueue->worker "
        "p50 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us (%" PRIu64 " samples)\n"
        "queue_bench: CPU in the window: driver %.2f cores, server %.2f cores\n"
        "queue_bench: total enqueued %" PRIu64 ", acked %" PRIu64 ", errors enqueue %" PRIu64
        " ack %" PRIu64 " stream %" PRIu64 ", reconnects %" PRIu64 ", drain %.0f ms%s\n"
        "queue_bench: end: ready %" PRIu64 " delayed %" PRIu64 " leased %" PRIu64 " dead %" PRIu64
        ", server enqueued_total %" PRIu64 " acked_total %" PRIu64 " -> %s%s%s\n",
        tps, eps, win, (double)rb_hist_quantile(h, 0.5) / us,
        (double)rb_hist_quantile(h, 0.99) / us, (double)rb_hist_quantile(h, 0.999) / us,
        (double)h->max / us, h->n, drv_cpu, srv_cpu, enq, acked, enq_err, ack_err, stream_err,
        recon, drain_ms, drained ? "" : " (NOT drained)", after.ready, after.delayed, after.leased,
        after.dead, after.enqueued_total, after.acked_total, pass ? "PASS" : "FAIL",
        G.first_err[0] || after.err[0] ? "; first error: " : "",
        G.first_err[0] ? G.first_err : after.err);
    printf(
        "{\"bench\":\"queue\",\"mode\":\"%s\",\"producers\":%u,\"workers\":%u,\"batch\":%u,"
        "\"payload\":%u,\"queues\":%u,\"credits\":%u,\"max_backlog\":%" PRIu64 ","
        "\"duration_s\":%.3f,\"tasks_per_s\":%.0f,\"enqueued_per_s\":%.0f,"
        "\"lat_p50_us\":%.1f,\"lat_p99_us\":%.1f,\"lat_p999_us\":%.1f,\"lat_max_us\":%.1f,"
        "\"lat_mean_us\":%.1f,\"samples\":%" PRIu64 ",\"enqueued\":%" PRIu64 ",\"acked\":%" PRIu64
        ",\"enqueue_errors\":%" PRIu64 ",\"ack_errors\":%" PRIu64 ",\"stream_errors\":%" PRIu64
        ",\"reconnects\":%" PRIu64
        ",\"driver_cpu\":%.2f,\"server_cpu\":%.2f,\"drained\":%s,\"drain_ms\":%.0f,\"end_ready\":%" PRIu64
        ",\"end_delayed\":%" PRIu64 ",\"end_leased\":%" PRIu64 ",\"end_dead\":%" PRIu64
        ",\"server_enqueued_total\":%" PRIu64 ",\"server_acked_total\":%" PRIu64
        ",\"end_empty\":%s,\"pass\":%s}\n",
        O.lease_mode ? "lease" : "work", O.producers, O.workers, O.batch, O.payload, O.nq,
        O.credits, O.max_backlog, win, tps, eps, (double)rb_hist_quantile(h, 0.5) / us,
        (double)rb_hist_quantile(h, 0.99) / us, (double)rb_hist_quantile(h, 0.999) / us,
        (double)h->max / us, h->n ? (double)h->sum / (double)h->n / us : 0.0, h->n, enq, acked,
        enq_err, ack_err, stream_err, recon, drv_cpu, srv_cpu, drained ? "true" : "false", drain_ms,
        after.ready, after.delayed, after.leased, after.dead, after.enqueued_total,
        after.acked_total, empty ? "true" : "false", pass ? "true" : "false");
    free(h);
    free(wx);
    free(wt);
    free(pt);
    return pass ? 0 : 1;
}
