/* Crash test for durable consumers: a child process publishes, takes deliveries, acks a random
 * part of them and commits, in a loop, reporting over a pipe what it published and what it
 * acked once each commit returned; the parent SIGKILLs it at a random moment, reopens the
 * partition and checks, after every kill, that no message whose ack was reported durable is
 * delivered again, that every message published and still kept is delivered again unless its
 * ack may have been written, and that nothing is delivered twice. Small segments and a clock
 * that moves, so retention and compaction (consumer snapshots) run and get killed too. */
#include "test_q_consumer_util.h"

#include <signal.h>
#include <sys/wait.h>

#include "core/rt_log.h"
#include "queue/q_part_rec.h"

#define ROUNDS 25
#define SEQ_MAX 8192u /* seqs published in the whole test stay below this */
#define REPORTS_MAX 24

enum { REP_PUB = 1, REP_INTENT = 2, REP_ACKED = 3 };

typedef struct report {
    uint32_t kind;
    uint32_t n;
    uint64_t seq[8];
} report;

static void send_rep(int wfd, uint32_t kind, const uint64_t *seq, uint32_t n)
{
    report r = {.kind = kind, .n = n};
    memcpy(r.seq, seq, n * sizeof *seq);
    if (write(wfd, &r, sizeof r) != (ssize_t)sizeof r) _exit(0); /* parent gone */
}

static void open_stream(tp *t, uint64_t now, q_stream **s, q_consumer **c)
{
    *s = q_stream_find(t->p, "s", 1);
    if (!*s) {
        q_subject_view sv = {"s.>", 3};
        q_stream_cfg sc = {
            .name = "s", .name_len = 1, .subjects = &sv, .nsubjects = 1, .max_msgs = 64};
        uint64_t ct;
        if (q_stream_create(t->p, &sc, now, s, &ct, NULL) != Q_OK) _exit(5);
    }
    q_consumer_cfg cfg = tc_cfg("dur");
    cfg.ack_wait_ms = Q_CONSUMER_ACK_WAIT_MS_MAX;
    cfg.max_ack_pending = 100000;
    uint64_t ct;
    if (q_consumer_create(t->p, *s, &cfg, now, c, &ct, NULL) != Q_OK) _exit(6);
}

/* The child: never returns. */
static void worker(tp *t, int wfd, uint64_t seed, uint64_t now)
{
    q_log_err le;
    if (q_part_open(t->dir, 3, &t->o, now, &t->p, &le) != 0) _exit(2);
    q_stream *s;
    q_consumer *c;
    open_stream(t, now, &s, &c);
    uint64_t x = seed | 1;
    for (;;) {
        now += 300;
        uint64_t seqs[8], acks[8];
        uint32_t k = 0;
        for (uint32_t i = 0; i < 4; i++) {
            q_smsg_spec m = {.subject = "s.x",
                             .subject_len = 3,
                             .payload = (const uint8_t *)"p",
                             .payload_len = 1};
            q_pub_result r;
            uint64_t ct;
            if (q_stream_publish(t->p, s, &m, 1, now, &r, &ct, NULL) != Q_OK) _exit(3);
            seqs[i] = r.seq;
        }
        if (q_log_commit(q_part_log(t->p)) != 0) _exit(4);
        send_rep(wfd, REP_PUB, seqs, 4);
        q_delivery d[8];
        uint32_t n = 0;
        uint64_t ct, next;
        if (q_consumer_next(c, now, 8, SIZE_MAX, 0, d, &n, &next, &ct, NULL) != Q_OK) _exit(7);
        q_ack_ref refs[8];
        for (uint32_t i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if (x % 3 == 0) continue; /* left unacked: comes back after the crash */
            refs[k] = (q_ack_ref){d[i].stream_seq, d[i].token};
            acks[k++] = d[i].stream_seq;
        }
        if (k) {
            send_rep(wfd, REP_INTENT, acks, k);
            q_acks a = {.kind = Q_ACK_ACK, .refs = refs, .n = k};
            q_item it[8];
            if (q_consumer_settle(c, &a, now, it, &ct, NULL) != Q_OK) _exit(8);
            if (q_log_commit(q_part_log(t->p)) != 0) _exit(4);
            send_rep(wfd, REP_ACKED, acks, k);
        }
        if (q_part_tick(t->p, now, &next) != Q_OK) _exit(9);
        if (q_log_commit(q_part_log(t->p)) != 0) _exit(4);
    }
}

static uint8_t published[SEQ_MAX], maybe_acked[SEQ_MAX], acked[SEQ_MAX];

/* Reads reports until `want` of them came; records them. */
static void read_reports(int rfd, uint32_t want)
{
    for (uint32_t got = 0; got < want; got++) {
        report r;
        ck_assert_int_eq(read(rfd, &r, sizeof r), (ssize_t)sizeof r);
        for (uint32_t i = 0; i < r.n; i++) {
            ck_assert_uint_lt(r.seq[i], SEQ_MAX);
            if (r.kind == REP_PUB) published[r.seq[i]] = 1;
            else if (r.kind == REP_INTENT) maybe_acked[r.seq[i]] = 1;
            else acked[r.seq[i]] = 1;
        }
    }
}

/* Reopens and takes every delivery the durable consumer has: the checks of the top. */
static void check_after_kill(tp *t, uint64_t now)
{
    tp_reopen(t, now);
    q_stream *s = tc_find(t, "s");
    q_consumer *c = q_consumer_find(s, "dur", 3);
    ck_assert_ptr_nonnull(c);
    static uint8_t seen[SEQ_MAX];
    memset(seen, 0, sizeof seen);
    q_delivery d[64];
    uint32_t n;
    while ((n = tc_next(c, now, 64, d)) > 0) {
        for (uint32_t i = 0; i < n; i++) {
            uint64_t q = d[i].stream_seq;
            ck_assert_uint_lt(q, SEQ_MAX);
            ck_assert_msg(!acked[q], "seq %llu delivered again after its ack was durable",
                          (unsigned long long)q);
            ck_assert_msg(!seen[q], "seq %llu delivered twice", (unsigned long long)q);
            seen[q] = 1;
        }
    }
    for (uint64_t q = 1; q < SEQ_MAX; q++)
        if (published[q] && q_stream_has(s, q) && !maybe_acked[q])
            ck_assert_msg(seen[q], "seq %llu published, kept, never acked, not delivered",
                          (unsigned long long)q);
    tp_close(t);
}

START_TEST(kill_nine_acks_stay_acked)
{
    tp t;
    q_consumer_hooks_install();
    tq_mkdtemp(t.dir);
    tp_opts(&t, Q_SEG_BYTES_MIN);
    uint64_t now = T0, rng = 0x9E3779B97F4A7C15ull;
    for (int round = 0; round < ROUNDS; round++) {
        int p[2];
        ck_assert_int_eq(pipe(p), 0);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            close(p[0]);
            worker(&t, p[1], rng, now);
        }
        close(p[1]);
        read_reports(p[0], 1 + (uint32_t)(rng % REPORTS_MAX));
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFSIGNALED(status));
        /* Reports the child wrote before it died still count. */
        report r;
        while (read(p[0], &r, sizeof r) == (ssize_t)sizeof r) {
            for (uint32_t i = 0; i < r.n; i++) {
                if (r.kind == REP_PUB) published[r.seq[i]] = 1;
                else if (r.kind == REP_INTENT) maybe_acked[r.seq[i]] = 1;
                else acked[r.seq[i]] = 1;
            }
        }
        close(p[0]);
        now += 1000000; /* the child's clock ran ahead by at most this */
        check_after_kill(&t, now);
    }
    uint32_t nacked = 0;
    for (uint32_t q = 0; q < SEQ_MAX; q++) nacked += acked[q];
    ck_assert_uint_gt(nacked, 50);
    /* Retention ran in the children: the first segments are gone, and consumer snapshots were
     * written (compaction reached the consumer's records). */
    tp_reopen(&t, now);
    q_log *log = q_part_log(t.p);
    ck_assert_uint_gt(q_log_oldest(log), 0);
    q_iter it;
    q_rec rec;
    uint32_t snaps = 0;
    q_iter_init(&it, log, q_log_oldest(log), false);
    while (q_iter_next(&it, &rec) == 1) snaps += rec.type == Q_RT_CSTATE;
    ck_assert_uint_gt(snaps, 0);
    tp_close(&t);
    tq_rmdir(t.dir);
}
END_TEST

int main(void)
{
    log_set_level(LOG_ERROR);
    const TTest *tests[] = {kill_nine_acks_stay_acked};
    return tq_run("q_consumer_crash", "crash", 120, tests, sizeof tests / sizeof tests[0]);
}
