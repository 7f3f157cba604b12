/* queue/q_consumer_cfg: every ConsumerConfig rule refused with a message naming the field,
 * idempotent creation, listing in name order, deletion, work-queue overlap. */
#include <check.h>
#include <string.h>

#include "core/rt_log.h"
#include "test_q_consumer_util.h"

/* One bad field: INVALID_ARGUMENT and a message naming it. */
static void expect_bad(tp *t, q_stream *s, const q_consumer_cfg *c, const char *field)
{
    q_err e;
    q_consumer *out = NULL;
    uint64_t ct = 7;
    q_status st = q_consumer_create(t->p, s, c, T0, &out, &ct, &e);
    ck_assert_msg(st == Q_INVALID_ARGUMENT, "%s: got %d (%s)", field, st, e.msg);
    ck_assert_msg(strstr(e.msg, field) != NULL, "%s: message \"%s\"", field, e.msg);
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(ct, 0);
}

START_TEST(bad_input_every_field)
{
    tp t;
    tc_open(&t, 1u << 20);
    q_stream *s = tc_stream(&t, "orders", "orders.>", Q_RETENTION_LIMITS);
    q_consumer_cfg c;
    char longname[Q_CONSUMER_NAME_BYTES_MAX + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    c = tc_cfg("bad.name");
    expect_bad(&t, s, &c, "name");
    c = tc_cfg(longname);
    expect_bad(&t, s, &c, "name");
    c = tc_cfg("");
    expect_bad(&t, s, &c, "name"); /* a durable needs one */
    c = tc_cfg("d");
    c.inactive_threshold_ms = 5000;
    expect_bad(&t, s, &c, "inactive_threshold_ms");
    c = tc_cfg("");
    c.ephemeral = true;
    c.inactive_threshold_ms = 999;
    expect_bad(&t, s, &c, "inactive_threshold_ms");
    c.inactive_threshold_ms = 86400001;
    expect_bad(&t, s, &c, "inactive_threshold_ms");
    c = tc_cfg("d");
    c.deliver_policy = 7;
    expect_bad(&t, s, &c, "deliver_policy");
    c = tc_cfg("d");
    c.deliver_policy = Q_DELIVER_BY_START_SEQ;
    expect_bad(&t, s, &c, "opt_start_seq");
    c = tc_cfg("d");
    c.opt_start_seq = 3;
    expect_bad(&t, s, &c, "opt_start_seq");
    c = tc_cfg("d");
    c.opt_start_unix_ms = T0;
    expect_bad(&t, s, &c, "opt_start_unix_ms");
    c = tc_cfg("d");
    c.filters[0] = (q_subject_view){"orders..x", 9};
    c.nfilters = 1;
    expect_bad(&t, s, &c, "filter_subjects[0]");
    c.filters[0] = (q_subject_view){"orders.*", 8};
    c.filters[1] = (q_subject_view){"billing.>", 9}; /* not within the stream's subjects */
    c.nfilters = 2;
    expect_bad(&t, s, &c, "filter_subjects[1]");
    c.nfilters = Q_FILTER_SET_MAX + 1;
    expect_bad(&t, s, &c, "filter_subjects");
    c = tc_cfg("d");
    c.ack_policy = 4;
    expect_bad(&t, s, &c, "ack_policy");
    c = tc_cfg("d");
    c.ack_wait_ms = Q_CONSUMER_ACK_WAIT_MS_MAX + 1;
    expect_bad(&t, s, &c, "ack_wait_ms");
    c = tc_cfg("d");
    c.max_deliver = Q_CONSUMER_DELIVER_MAX + 1;
    expect_bad(&t, s, &c, "max_deliver");
    c = tc_cfg("d");
    c.nbackoff = Q_CONSUMER_BACKOFF_MAX + 1;
    expect_bad(&t, s, &c, "backoff_ms");
    c.nbackoff = 2;
    c.backoff_ms[0] = 10;
    c.backoff_ms[1] = 0;
    expect_bad(&t, s, &c, "backoff_ms[1]");
    c.backoff_ms[1] = Q_CONSUMER_BACKOFF_MS_MAX + 1;
    expect_bad(&t, s, &c, "backoff_ms[1]");
    c = tc_cfg("d");
    c.max_ack_pending = Q_CONSUMER_ACK_PENDING_MAX + 1;
    expect_bad(&t, s, &c, "max_ack_pending");
    c = tc_cfg("d");
    c.rate_limit_bytes_per_s = Q_CONSUMER_RATE_MAX + 1;
    expect_bad(&t, s, &c, "rate_limit_bytes_per_s");
    c = tc_cfg("d");
    static char desc[Q_CONSUMER_DESC_BYTES_MAX + 1];
    memset(desc, 'x', sizeof desc);
    c.description = desc;
    c.description_len = sizeof desc;
    expect_bad(&t, s, &c, "description");
    ck_assert_uint_eq(q_consumer_count(s), 0);
    tp_done(&t);
}
END_TEST

START_TEST(create_get_list_delete)
{
    tp t;
    tc_open(&t, 1u << 20);
    q_stream *s = tc_stream(&t, "orders", "orders.>", Q_RETENTION_LIMITS);
    const char *names[] = {"zeta", "alpha", "mid"};
    q_consumer *cs[3];
    for (int i = 0; i < 3; i++) {
        q_consumer_cfg c = tc_cfg(names[i]);
        cs[i] = tc_cons(&t, s, &c, T0);
    }
    /* Idempotent: the same configuration is the same consumer, nothing written. */
    q_consumer_cfg c = tc_cfg("mid");
    q_consumer *again = NULL;
    uint64_t ct = 9;
    q_err e;
    ck_assert_int_eq(q_consumer_create(t.p, s, &c, T0, &again, &ct, &e), Q_OK);
    ck_assert_ptr_eq(again, cs[2]);
    ck_assert_uint_eq(ct, 0);
    c.ack_wait_ms = 5000;
    ck_assert_int_eq(q_consumer_create(t.p, s, &c, T0, &again, &ct, &e), Q_ALREADY_EXISTS);
    ck_assert_ptr_eq(q_consumer_find(s, "alpha", 5), cs[1]);
    q_consumer_info info[4];
    uint32_t n;
    bool more;
    q_consumer_list(s, NULL, 0, 2, T0, info, &n, &more);
    ck_assert_uint_eq(n, 2);
    ck_assert(more);
    ck_assert_str_eq(info[0].cfg.name, "alpha");
    ck_assert_str_eq(info[1].cfg.name, "mid");
    ck_assert_uint_eq(info[0].cfg.ack_wait_ms, Q_CONSUMER_ACK_WAIT_MS_DEFAULT); /* resolved */
    q_consumer_list(s, "mid", 3, 10, T0, info, &n, &more);
    ck_assert_uint_eq(n, 1);
    ck_assert(!more);
    ck_assert_str_eq(info[0].cfg.name, "zeta");
    ck_assert_int_eq(q_consumer_delete(t.p, s, "mid", 3, T0, &ct, &e), Q_OK);
    ck_assert_uint_gt(ct, 0);
    ck_assert_ptr_null(q_consumer_find(s, "mid", 3));
    ck_assert_int_eq(q_consumer_delete(t.p, s, "mid", 3, T0, &ct, &e), Q_NOT_FOUND);
    ck_assert_uint_eq(q_consumer_count(s), 2);
    tp_done(&t);
}
END_TEST

START_TEST(work_queue_overlap_refused)
{
    tp t;
    tc_open(&t, 1u << 20);
    q_stream *s = tc_stream(&t, "jobs", "jobs.>", Q_RETENTION_WORK_QUEUE);
    q_consumer_cfg a = tc_cfg("a");
    a.filters[0] = (q_subject_view){"jobs.a.*", 8};
    a.nfilters = 1;
    tc_cons(&t, s, &a, T0);
    q_consumer_cfg b = tc_cfg("b");
    b.filters[0] = (q_subject_view){"jobs.>", 6};
    b.nfilters = 1;
    q_err e;
    uint64_t ct;
    ck_assert_int_eq(q_consumer_create(t.p, s, &b, T0, NULL, &ct, &e), Q_FAILED_PRECONDITION);
    ck_assert_ptr_nonnull(strstr(e.msg, "overlaps"));
    q_consumer_cfg all = tc_cfg("all");
    ck_assert_int_eq(q_consumer_create(t.p, s, &all, T0, NULL, &ct, &e), Q_FAILED_PRECONDITION);
    ck_assert_ptr_nonnull(strstr(e.msg, "overlaps consumer a"));
    b.filters[0] = (q_subject_view){"jobs.b.*", 8};
    tc_cons(&t, s, &b, T0); /* disjoint: fine */
    /* On a limits stream overlapping consumers are fine. */
    q_stream *l = tc_stream(&t, "logs", "logs.>", Q_RETENTION_LIMITS);
    tc_cons(&t, l, &all, T0);
    q_consumer_cfg all2 = tc_cfg("all2");
    tc_cons(&t, l, &all2, T0);
    tp_done(&t);
}
END_TEST

int main(void)
{
    log_set_level(LOG_WARN);
    const TTest *tests[] = {bad_input_every_field, create_get_list_delete,
                            work_queue_overlap_refused};
    return tq_run("q_consumer_cfg", "cfg", 60, tests, sizeof tests / sizeof tests[0]);
}
