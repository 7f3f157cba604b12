/* Crash test for streams: a child process publishes batches to a stream (max_msgs 500, discard
 * old, msg ids), commits, ticks now and then (TTL, retention, compaction) and reports the last
 * sequence each commit made durable over a pipe; the parent SIGKILLs it at a random moment,
 * reopens the partition and checks: no reported publish lost, the kept messages exactly the
 * last 500 sequences, dense, each with the bytes its sequence determines, the acknowledged ids
 * still deduplicated. 50 rounds on one directory, small segments. Real files under /tmp. */
#include <inttypes.h>
#include <signal.h>
#include <sys/wait.h>

#include "test_q_stream_util.h"

#include "core/rt_log.h"

#define ROUNDS 50
#define SEG (64u * 1024u)
#define KEEP 500u
#define REPORTS_MAX 40       /* kill after 1..REPORTS_MAX durable reports */
#define ROUND_MS 10000000ull /* each round's clock starts this much later */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void opts(tp *t)
{
    tp_opts(t, SEG);
    t->o.log.record_bytes_max = 4096;
}

/* Message seq's body and id: what the parent checks after the crash. */
static void fill(uint64_t seq, char body[64], char id[32])
{
    snprintf(body, 64, "message %" PRIu64 " of the crash test", seq);
    snprintf(id, 32, "id-%" PRIu64, seq);
}

/* The child: never returns. Exit codes: 2 open, 3 create, 4 publish, 5 commit, 6 tick. */
static void publisher(tp *t, uint64_t now, int wfd, uint64_t seed)
{
    q_log_err le;
    if (q_part_open(t->dir, 3, &t->o, now, &t->p, &le) != 0) _exit(2);
    ts_cfg tc;
    q_stream_cfg *c = ts_cfg_init(&tc, "crash", NULL);
    c->max_msgs = KEEP;
    q_stream *s;
    uint64_t commit;
    if (q_stream_create(t->p, c, now, &s, &commit, NULL) != Q_OK) _exit(3);
    uint64_t x = seed | 1;
    char bodies[8][64], ids[8][32];
    for (uint64_t round = 1;; round++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint32_t n = 1 + (uint32_t)(x % 8);
        q_smsg_spec m[8];
        for (uint32_t i = 0; i < n; i++) {
            fill(q_stream_last_seq(s) + 1 + i, bodies[i], ids[i]);
            m[i] = ts_spec("crash", bodies[i]);
            m[i].msg_id = ids[i];
            m[i].msg_id_len = (uint32_t)strlen(ids[i]);
        }
        q_pub_result r[8];
        now += 10;
        if (q_stream_publish(t->p, s, m, n, now, r, &commit, NULL) != Q_OK) _exit(4);
        if (r[n - 1].seq != q_stream_last_seq(s)) _exit(4);
        if (round % 16 == 0) {
            uint64_t next;
            if (q_part_tick(t->p, now, &next) != Q_OK) _exit(6);
        }
        if (q_log_commit(q_part_log(t->p)) != 0) _exit(5);
        uint64_t acked = q_stream_last_seq(s);
        if (write(wfd, &acked, sizeof acked) != (ssize_t)sizeof acked) _exit(0); /* parent gone */
    }
}

/* After a restart: the kept messages are the last KEEP sequences, dense, with their bytes. */
static void check(tp *t, uint64_t acked, uint64_t now)
{
    q_stream *s = ts_find(t, "crash");
    if (!acked && !s) return; /* killed before the stream was durable */
    ck_assert_ptr_nonnull(s);
    uint64_t last = q_stream_last_seq(s);
    ck_assert_uint_ge(last, acked);
    uint64_t want = last < KEEP ? last : KEEP;
    q_stream_state st = ts_state(t, s, now);
    ck_assert_uint_eq(st.messages, want);
    ck_assert_uint_eq(st.first_seq, last - want + 1);
    ck_assert_uint_eq(st.num_deleted, 0);
    char body[64], id[32];
    for (uint64_t seq = last - want + 1; seq <= last; seq++) {
        fill(seq, body, id);
        ts_expect(t, s, seq, "crash", body);
    }
    if (!acked) return;
    /* The last acknowledged id is still known: publishing it again stores nothing. */
    fill(acked, body, id);
    q_smsg_spec m = ts_spec("crash", "again");
    m.msg_id = id;
    m.msg_id_len = (uint32_t)strlen(id);
    q_pub_result r;
    q_err e;
    ck_assert_int_eq(ts_pub_spec(t, s, &m, now, &r, &e), Q_OK);
    ck_assert(r.duplicate);
    ck_assert_uint_eq(r.seq, acked);
}

START_TEST(kill_nine_50_rounds)
{
    tp t;
    tq_mkdtemp(t.dir);
    opts(&t);
    uint64_t acked_max = 0, deleted = 0;
    uint32_t segs = 0;
    for (int round = 0; round < ROUNDS; round++) {
        uint64_t now = T0 + (uint64_t)round * ROUND_MS;
        int p[2];
        ck_assert_int_eq(pipe(p), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            close(p[0]);
            publisher(&t, now, p[1], rng());
        }
        close(p[1]);
        int want = 1 + (int)(rng() % REPORTS_MAX), got = 0;
        uint64_t a;
        while (got < want && read(p[0], &a, sizeof a) == (ssize_t)sizeof a) {
            ck_assert_uint_ge(a, acked_max);
            acked_max = a;
            got++;
        }
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFSIGNALED(status), "publisher exited early: status %d", status);
        while (read(p[0], &a, sizeof a) == (ssize_t)sizeof a) acked_max = a;
        close(p[0]);
        tp_reopen(&t, now);
        check(&t, acked_max, now);
        q_part_stats ps;
        q_part_get_stats(t.p, &ps);
        deleted += ps.segments_deleted;
        segs = tp_segments(&t);
        tp_close(&t);
    }
    printf("stream crash: %d rounds, %" PRIu64 " messages acknowledged, %" PRIu64
           " segments deleted at opens, %u left\n",
           ROUNDS, acked_max, deleted, segs);
    /* Retention kept up (in the child's ticks and at opens): ~8 segments were written, the last
     * 500 messages fill 2. */
    ck_assert_msg(segs <= 6, "%u segments left", segs);
    tq_rmdir(t.dir);
}
END_TEST

int main(void)
{
    log_set_level(LOG_ERROR);
    const TTest *tests[] = {kill_nine_50_rounds};
    return tq_run("q_stream_crash", "crash", 300, tests, sizeof tests / sizeof tests[0]);
}
