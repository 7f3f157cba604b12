/* Crash test: a child process appends and commits in a loop and reports each durable offset
 * over a pipe; the parent SIGKILLs it at a random moment (after a random number of reports, while
 * it keeps appending), reopens the log and checks that every offset ever reported durable is
 * there with its exact bytes and that nothing fails its checksum. 200 rounds on one log, with
 * small segments so kills also land in rolls. Real files under /tmp (not tmpfs). */
#include "test_q_util.h"

#include <signal.h>
#include <sys/wait.h>

#include "core/rt_log.h"

#define ROUNDS 200
#define SEG (64u * 1024u)
#define MAXLEN 700u
#define REPORTS_MAX 16 /* kill after 1..REPORTS_MAX durable reports */

static uint64_t rng_state = 0x243F6A8885A308D3ull;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* The child: never returns. Exit codes: 2 open failed, 3 append failed, 4 commit failed. */
static void appender(const char *dir, int wfd, uint64_t seed)
{
    q_log_opts o;
    tq_opts(&o, SEG);
    q_log *log;
    if (q_log_open(dir, &o, &log, NULL) != 0) _exit(2);
    uint64_t x = seed | 1;
    for (;;) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int batch = 1 + (int)(x % 8);
        for (int i = 0; i < batch; i++) {
            uint64_t off = q_log_next(log);
            if (tq_append(log, off, MAXLEN) != (int64_t)off) _exit(3);
        }
        if (q_log_commit(log) != 0) _exit(4);
        uint64_t d = q_log_durable(log);
        if (write(wfd, &d, sizeof d) != (ssize_t)sizeof d) _exit(0); /* parent gone */
    }
}

START_TEST(kill_nine_200_rounds)
{
    char dir[64];
    tq_mkdtemp(dir);
    uint64_t durable_max = 0; /* highest durable end ever reported */
    uint64_t cuts = 0;
    for (int round = 0; round < ROUNDS; round++) {
        int p[2];
        ck_assert_int_eq(pipe(p), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            close(p[0]);
            appender(dir, p[1], rng());
        }
        close(p[1]);
        int want = 1 + (int)(rng() % REPORTS_MAX), got = 0;
        uint64_t d;
        while (got < want && read(p[0], &d, sizeof d) == (ssize_t)sizeof d) {
            ck_assert_uint_ge(d, durable_max);
            durable_max = d;
            got++;
        }
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFSIGNALED(status), "appender exited early: status %d", status);
        /* Reports written before the kill count too. */
        while (read(p[0], &d, sizeof d) == (ssize_t)sizeof d) durable_max = d;
        close(p[0]);

        q_log_opts o;
        tq_opts(&o, SEG);
        q_log *log;
        q_log_err err;
        ck_assert_int_eq(q_log_open(dir, &o, &log, &err), 0);
        if (err.why) cuts++;
        ck_assert_uint_ge(q_log_next(log), durable_max);
        /* Every record verifies (open checked all checksums) and has the bytes its offset
         * determines; this covers every offset reported durable. */
        q_iter it;
        q_iter_init(&it, log, q_log_oldest(log), false);
        q_rec r;
        uint64_t n = q_log_oldest(log);
        int k;
        while ((k = q_iter_next(&it, &r)) == 1) {
            tq_check_rec(&r, n, MAXLEN);
            ck_assert_uint_eq(r.type, n & 0xffff);
            n++;
        }
        ck_assert_int_eq(k, 0);
        ck_assert_uint_eq(n, q_log_next(log));
        ck_assert_uint_eq(q_log_oldest(log), 0);
        ck_assert_int_eq(q_log_close(log), 0);
    }
    printf("crash: %d rounds, %llu records durable, %llu tail cuts\n", ROUNDS,
           (unsigned long long)durable_max, (unsigned long long)cuts);
    tq_rmdir(dir);
}
END_TEST

int main(void)
{
    log_set_level(LOG_ERROR);
    const TTest *tests[] = {kill_nine_200_rounds};
    return tq_run("q_crash", "crash", 300, tests, sizeof tests / sizeof tests[0]);
}
