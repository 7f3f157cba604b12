/* server/srv_receipt: the durability level each --fsync policy gives each requested level
 * (docs/semantics.md "Durability levels", the table), and the receipt of a record before and
 * after the commit that covers it, on a real log. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/srv_receipt.h"
#include "test_env_util.h"
#include "ts_main.h"

enum {
    M = pwm_ringq_v1_DURABILITY_MEMORY,
    W = pwm_ringq_v1_DURABILITY_WRITTEN,
    S = pwm_ringq_v1_DURABILITY_SYNCED,
    U = pwm_ringq_v1_DURABILITY_UNSPECIFIED
};

START_TEST(levels_per_policy)
{
    /* {policy, asked, result} */
    static const struct {
        q_commit_policy p;
        int asked, got;
    } rows[] = {
        {Q_COMMIT_ALWAYS, U, S},
        {Q_COMMIT_ALWAYS, M, M},
        {Q_COMMIT_ALWAYS, W, W},
        {Q_COMMIT_ALWAYS, S, S},
        {Q_COMMIT_INTERVAL, U, S},
        {Q_COMMIT_INTERVAL, M, M},
        {Q_COMMIT_INTERVAL, W, W},
        {Q_COMMIT_INTERVAL, S, S},
        {Q_COMMIT_NEVER, U, W},
        {Q_COMMIT_NEVER, M, M},
        {Q_COMMIT_NEVER, W, W},
        {Q_COMMIT_NEVER, S, -(int)Q_FAILED_PRECONDITION},
        {Q_COMMIT_ALWAYS, 4, -(int)Q_INVALID_ARGUMENT},
        {Q_COMMIT_NEVER, -1, -(int)Q_INVALID_ARGUMENT},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char msg[160] = "";
        int got = srv_durability_resolve(rows[i].asked, rows[i].p, msg, sizeof msg);
        ck_assert_msg(got == rows[i].got, "row %zu: got %d", i, got);
        if (got < 0) ck_assert_msg(strstr(msg, "durability") || strstr(msg, "SYNCED"), "%s", msg);
    }
}
END_TEST

START_TEST(receipt_before_and_after_commit)
{
    char dir[TENV_PATH_MAX];
    tenv_mkdtemp(dir, "/tmp/ringq-rcpt-XXXXXX");
    q_log *log;
    ck_assert_int_eq(q_log_open(dir, NULL, &log, NULL), 0);
    ck_assert_int_eq(q_log_append(log, 1, "a", 1), 0);
    ck_assert_int_eq(q_log_commit(log), 0);
    int64_t off = q_log_append(log, 1, "b", 1);
    ck_assert_int_eq(off, 1);
    pwm_ringq_v1_Receipt r;
    srv_receipt_fill(&r, 7, log, (uint64_t)off);
    ck_assert_uint_eq(r.partition, 7);
    ck_assert_uint_eq(r.offset, 1);
    ck_assert_int_eq(r.level, W);
    ck_assert_uint_eq(r.commit_seq, q_log_commit_seq(log) + 1); /* the next commit */
    uint64_t promised = r.commit_seq;
    ck_assert_int_eq(q_log_commit(log), 0);
    srv_receipt_fill(&r, 7, log, (uint64_t)off);
    ck_assert_int_eq(r.level, S);
    ck_assert_uint_eq(r.commit_seq, promised); /* the promise was the commit that came */
    ck_assert_int_eq(q_log_close(log), 0);
    tenv_rm(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("srv_receipt");
    TCase *tc = tcase_create("receipt");
    tcase_add_test(tc, levels_per_policy);
    tcase_add_test(tc, receipt_before_and_after_commit);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
