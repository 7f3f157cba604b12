/* queue/q_part: the queue rules — order, delays, leases, attempts, nack, extend, ack errors,
 * dedup, limits, names and ids. Admin calls are in test_q_part_admin.c; replay, retention and
 * compaction in test_q_part_replay.c. */
#include <inttypes.h>

#include "test_q_part_util.h"

#include "core/rt_log.h"

#define SEG (256u * 1024u)

START_TEST(names_and_ids)
{
    q_err e;
    ck_assert_int_eq(q_queue_name_check("a", 1, &e), Q_OK);
    ck_assert_int_eq(q_queue_name_check("Jobs.v2_high-prio", 17, &e), Q_OK);
    ck_assert_int_eq(q_queue_name_check("", 0, &e), Q_INVALID_ARGUMENT);
    ck_assert(strstr(e.msg, "empty"));
    char big[200];
    memset(big, 'x', sizeof big);
    ck_assert_int_eq(q_queue_name_check(big, 128, &e), Q_OK);
    ck_assert_int_eq(q_queue_name_check(big, 129, &e), Q_INVALID_ARGUMENT);
    ck_assert(strstr(e.msg, "129 bytes") && strstr(e.msg, "128"));
    ck_assert_int_eq(q_queue_name_check("a/b", 3, &e), Q_INVALID_ARGUMENT);
    ck_assert(strstr(e.msg, "'/' at position 1"));
    ck_assert_int_eq(q_queue_name_check("a b", 3, &e), Q_INVALID_ARGUMENT);
    ck_assert(strstr(e.msg, "0x20 at position 1"));
    ck_assert_int_eq(q_queue_name_check("\xc3\xa9", 2, &e), Q_INVALID_ARGUMENT);
    /* Every byte value, alone and after an allowed one: exactly A-Z a-z 0-9 . _ - pass. */
    for (int c = 0; c < 256; c++) {
        bool want = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
        char two[2] = {'q', (char)c};
        ck_assert_msg((q_queue_name_check(two + 1, 1, &e) == Q_OK) == want, "byte 0x%02x", c);
        ck_assert_msg((q_queue_name_check(two, 2, &e) == Q_OK) == want, "byte 0x%02x", c);
    }
    ck_assert_str_eq(q_status_name(Q_FAILED_PRECONDITION), "FAILED_PRECONDITION");
    ck_assert_int_eq(Q_RESOURCE_EXHAUSTED, 8);
    ck_assert_int_eq(Q_UNAVAILABLE, 14);

    char id[Q_ID_STR_BYTES];
    size_t n = q_id_format(id, 15, 1234567890123ull);
    ck_assert_str_eq(id, "15-1234567890123");
    uint32_t part;
    uint64_t off;
    ck_assert_int_eq(q_id_parse(id, n, &part, &off), 0);
    ck_assert_uint_eq(part, 15);
    ck_assert_uint_eq(off, 1234567890123ull);
    ck_assert_uint_eq(q_id_format(id, 0, 0), 3);
    ck_assert_str_eq(id, "0-0");
    n = q_id_format(id, UINT32_MAX, UINT64_MAX);
    ck_assert_str_eq(id, "4294967295-18446744073709551615");
    ck_assert_uint_eq(n, strlen(id));
    ck_assert_uint_eq(q_id_format(id, 7, 10), 4);
    ck_assert_str_eq(id, "7-10");
    /* Against printf at every digit-count boundary and between them (two digits at a time). */
    char want[Q_ID_STR_BYTES];
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (uint64_t p10 = 1, i = 0; i < 20; i++, p10 *= 10) {
        uint64_t vs[4] = {p10 - 1, p10, p10 + 1, p10 + (x >> (64 - 3 * i - 3)) % p10};
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        for (int k = 0; k < 4; k++) {
            uint32_t pn = (uint32_t)(vs[k] % 100000u);
            int w = snprintf(want, sizeof want, "%" PRIu32 "-%" PRIu64, pn, vs[k]);
            ck_assert_uint_eq(q_id_format(id, pn, vs[k]), (size_t)w);
            ck_assert_str_eq(id, want);
        }
    }
    ck_assert_int_eq(q_id_parse("65535-7", 7, &part, &off), 0); /* the longest partition */
    ck_assert_uint_eq(part, 65535);
    ck_assert_uint_eq(off, 7);
    /* The largest offset (INT64_MAX, 19 digits: checked against the bound once, at the end). */
    ck_assert_int_eq(q_id_parse("1-9223372036854775807", 21, &part, &off), 0);
    ck_assert_uint_eq(off, (uint64_t)INT64_MAX);
    const char *bad[] = {"",
                         "-",
                         "1-",
                         "-1",
                         "01-2",
                         "1-02",
                         "a-1",
                         "1-1x",
                         "70000-1",
                         "1-99999999999999999999",
                         "1-2-3",
                         "123456-1",
                         "1234567-1",
                         "65536-1",
                         "1-9223372036854775808",
                         "1-9999999999999999999",
                         "1-18446744073709551615",
                         "1-18446744073709551616"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(q_id_parse(bad[i], strlen(bad[i]), &part, &off) == -EINVAL, "%s", bad[i]);
    /* The partition of a name is stable and within range. */
    ck_assert_uint_eq(q_part_of("jobs", 4, 16), q_part_of("jobs", 4, 16));
    ck_assert_uint_lt(q_part_of("jobs", 4, 16), 16);
}
END_TEST

START_TEST(bad_queue_names_in_calls)
{
    tp t;
    tp_open(&t, SEG);
    q_task_spec s = {.payload = (const uint8_t *)"x", .payload_len = 1};
    q_enq_result r;
    uint64_t commit;
    q_err e;
    ck_assert_int_eq(q_part_enqueue(t.p, "a b", 3, &s, 1, T0, &r, &commit, &e), Q_INVALID_ARGUMENT);
    ck_assert(strstr(e.msg, "queue name"));
    /* Right after a good name (the partition's last queue, whose check is skipped), names that
     * share its bytes up to a bad one are still refused. */
    ck_assert_int_eq(q_part_enqueue(t.p, "a", 1, &s, 1, T0, &r, &commit, &e), Q_OK);
    ck_assert_int_eq(q_part_enqueue(t.p, "a!", 2, &s, 1, T0, &r, &commit, &e), Q_INVALID_ARGUMENT);
    ck_assert_int_eq(q_part_enqueue(t.p, "a\0", 2, &s, 1, T0, &r, &commit, &e), Q_INVALID_ARGUMENT);
    ck_assert_int_eq(q_part_enqueue(t.p, "a", 1, &s, 1, T0, &r, &commit, &e), Q_OK);
    ck_assert_int_eq(q_part_enqueue(t.p, "a ", 2, &s, 1, T0, &r, &commit, &e), Q_INVALID_ARGUMENT);
    q_leased l;
    uint32_t n;
    ck_assert_int_eq(q_part_lease(t.p, "", 0, 1, 0, T0, &l, &n, &e), Q_INVALID_ARGUMENT);
    q_queue_info qi;
    ck_assert_int_eq(q_part_get_queue(t.p, "nope", 4, T0, &qi, &e), Q_NOT_FOUND);
    /* Leasing from a queue that does not exist yet is fine: nothing. */
    ck_assert_uint_eq(tp_lease(&t, "later", 5, 0, T0, &l), 0);
    tp_done(&t);
}
END_TEST

START_TEST(fifo_within_priority_higher_first)
{
    tp t;
    tp_open(&t, SEG);
    uint64_t a = tp_enq(&t, "q", "a", 0, T0), b = tp_enq(&t, "q", "b", 0, T0);
    uint64_t c = tp_enq(&t, "q", "c", 5, T0), d = tp_enq(&t, "q", "d", 5, T0);
    uint64_t e = tp_enq(&t, "q", "e", 15, T0), f = tp_enq(&t, "q", "f", 0, T0);
    q_leased l[10];
    ck_assert_uint_eq(tp_lease(&t, "q", 10, 0, T0, l), 6);
    uint64_t want[] = {e, c, d, a, b, f};
    const char *body[] = {"e", "c", "d", "a", "b", "f"};
    for (int i = 0; i < 6; i++) {
        ck_assert_uint_eq(l[i].id, want[i]);
        ck_assert_uint_eq(l[i].payload_len, 1);
        ck_assert(memcmp(l[i].payload, body[i], 1) == 0);
        ck_assert_uint_eq(l[i].attempt, 1);
        ck_assert_uint_eq(l[i].enqueued_ms, T0);
        ck_assert_uint_eq(l[i].lease_deadline_ms, T0 + Q_LEASE_MS_DEFAULT);
    }
    ck_assert_uint_eq(l[0].priority, 15);
    /* A task that comes back goes to the back of its priority. */
    q_nack nk = {.has_delay = true, .delay_ms = 0};
    q_nack_result nr;
    uint64_t commit;
    q_err er;
    ck_assert_int_eq(q_part_nack(t.p, a, tp_tok(&t, a), &nk, T0, &nr, &commit, &er), Q_OK);
    uint64_t g = tp_enq(&t, "q", "g", 0, T0);
    ck_assert_int_eq(q_part_nack(t.p, b, tp_tok(&t, b), &nk, T0, &nr, &commit, &er), Q_OK);
    ck_assert_uint_eq(tp_lease(&t, "q", 10, 0, T0, l), 3);
    ck_assert_uint_eq(l[0].id, a);
    ck_assert_uint_eq(l[1].id, g);
    ck_assert_uint_eq(l[2].id, b);
    ck_assert_uint_eq(l[0].attempt, 2);
    tp_done(&t);
}
END_TEST

START_TEST(headers_and_key_round_trip)
{
    tp t;
    tp_open(&t, SEG);
    q_header h[2] = {{"trace", 5, "abc", 3}, {"empty", 5, "", 0}};
    q_task_spec s = {.payload = (const uint8_t *)"body",
                     .payload_len = 4,
                     .headers = h,
                     .nheaders = 2,
                     .key = "k1",
                     .key_len = 2,
                     .priority = 3};
    q_enq_result r;
    ck_assert_int_eq(tp_enq_spec(&t, "q", &s, T0, &r), Q_OK);
    q_leased l;
    ck_assert_uint_eq(tp_lease(&t, "q", 1, 0, T0, &l), 1);
    ck_assert_uint_eq(l.nheaders, 2);
    q_hdr_iter it;
    q_header got;
    q_hdr_iter_init(&it, l.headers, l.headers_len);
    ck_assert(q_hdr_next(&it, &got));
    ck_assert(got.name_len == 5 && memcmp(got.name, "trace", 5) == 0);
    ck_assert(got.value_len == 3 && memcmp(got.value, "abc", 3) == 0);
    ck_assert(q_hdr_next(&it, &got));
    ck_assert(got.name_len == 5 && got.value_len == 0);
    ck_assert(!q_hdr_next(&it, &got));
    q_task_info ti;
    q_err e;
    ck_assert_int_eq(q_part_get_task(t.p, r.id, &ti, &e), Q_OK);
    ck_assert_int_eq(ti.state, Q_TASK_LEASED);
    ck_assert(ti.key_len == 2 && memcmp(ti.key, "k1", 2) == 0);
    ck_assert(ti.payload_len == 4 && memcmp(ti.payload, "body", 4) == 0);
    ck_assert(ti.queue_len == 1 && ti.queue[0] == 'q');
    ck_assert_uint_eq(ti.due_ms, l.lease_deadline_ms);
    tp_done(&t);
}
END_TEST

START_TEST(delay_and_not_before)
{
    tp t;
    tp_open(&t, SEG);
    q_task_spec s = {.payload = (const uint8_t *)"d", .payload_len = 1, .delay_ms = 1000};
    q_enq_result r1, r2, r3, bad;
    ck_assert_int_eq(tp_enq_spec(&t, "q", &s, T0, &r1), Q_OK);
    s.delay_ms = 0;
    s.not_before_ms = T0 + 500;
    ck_assert_int_eq(tp_enq_spec(&t, "q", &s, T0, &r2), Q_OK);
    s.not_before_ms = T0 - 5; /* the past: ready at once */
    ck_assert_int_eq(tp_enq_spec(&t, "q", &s, T0, &r3), Q_OK);
    s.delay_ms = 1;
    ck_assert_int_eq(tp_enq_spec(&t, "q", &s, T0, &bad), Q_INVALID_ARGUMENT);
    s.not_before_ms = 0;
    s.delay_ms = Q_DELAY_MS_MAX + 1;
    ck_assert_int_eq(tp_enq_spec(&t, "q", &s, T0, &bad), Q_INVALID_ARGUMENT);

    q_queue_info qi = tp_info(&t, "q", T0);
    ck_assert_uint_eq(qi.delayed, 2);
    ck_assert_uint_eq(qi.ready, 1);
    ck_assert_uint_eq(tp_tick(&t, T0), T0 + 500);
    q_leased l[4];
    ck_assert_uint_eq(tp_lease(&t, "q", 4, 0, T0, l), 1);
    ck_assert_uint_eq(l[0].id, r3.id);
    ck_assert_uint_eq(tp_tick(&t, T0 + 499), T0 + 500);
    ck_assert_uint_eq(tp_lease(&t, "q", 4, 0, T0 + 499, l), 0);
    ck_assert_uint_eq(tp_tick(&t, T0 + 500), T0 + 1000);
    ck_assert_uint_eq(tp_lease(&t, "q", 4, 0, T0 + 500, l), 1);
    ck_assert_uint_eq(l[0].id, r2.id);
    tp_tick(&t, T0 + 1000);
    ck_assert_uint_eq(tp_lease(&t, "q", 4, 0, T0 + 1000, l), 1);
    ck_assert_uint_eq(l[0].id, r1.id);
    tp_done(&t);
}
END_TEST

START_TEST(lease_expiry_counts_attempts_then_dead)
{
    tp t;
    tp_open(&t, SEG);
    q_task_spec s = {.payload = (const uint8_t *)"x", .payload_len = 1, .max_attempts = 3};
    q_enq_result r;
    ck_assert_int_eq(tp_enq_spec(&t, "q", &s, T0, &r), Q_OK);
    uint64_t now = T0;
    for (uint32_t a = 1; a <= 3; a++) {
        q_leased l;
        ck_assert_uint_eq(tp_lease(&t, "q", 1, 100, now, &l), 1);
        ck_assert_uint_eq(l.attempt, a);
        ck_assert_uint_eq(l.max_attempts, 3);
        ck_assert_uint_eq(l.lease_deadline_ms, now + 100);
        ck_assert_uint_eq(tp_tick(&t, now + 99), now + 100);
        ck_assert_int_eq(tp_state(&t, r.id), Q_TASK_LEASED);
        now += 100;
        tp_tick(&t, now);
        ck_assert_int_eq(tp_state(&t, r.id), a < 3 ? Q_TASK_READY : Q_TASK_DEAD);
    }
    q_queue_info qi = tp_info(&t, "q", now);
    ck_assert_uint_eq(qi.dead, 1);
    ck_assert_uint_eq(qi.expired_total, 3);
    ck_assert_uint_eq(qi.dead_total, 1);
    q_task_info ti;
    q_err e;
    ck_assert_int_eq(q_part_get_task(t.p, r.id, &ti, &e), Q_OK);
    ck_assert_uint_eq(ti.attempts, 3);
    ck_assert(ti.last_error_len > 0 && memmem(ti.last_error, ti.last_error_len, "expired", 7));
    /* The queue default applies to tasks without their own limit (default 5). */
    uint64_t id = tp_enq(&t, "q2", "y", 0, now);
    for (int i = 0; i < 5; i++) {
        tp_lease1(&t, "q2", 10, now);
        now += 10;
        tp_tick(&t, now);
    }
    ck_assert_int_eq(tp_state(&t, id), Q_TASK_DEAD);
    tp_done(&t);
}
END_TEST

START_TEST(lease_duration_precedence)
{
    tp t;
    tp_open(&t, SEG);
    q_task_spec s = {.payload = (const uint8_t *)"x", .payload_len = 1, .lease_ms = 777};
    q_enq_result r;
    ck_assert_int_eq(tp_enq_spec(&t, "q", &s, T0, &r), Q_OK);
    tp_enq(&t, "q", "y", 0, T0);
    tp_enq(&t, "q", "z", 0, T0);
    q_queue_cfg c = {.lease_ms = 5000};
    tp_cfg(&t, "q", Q_CFG_LEASE_MS, &c);
    q_leased l[3];
    ck_assert_uint_eq(tp_lease(&t, "q", 2, 333, T0, l), 2);
    ck_assert_uint_eq(l[0].lease_deadline_ms, T0 + 777); /* the task's own */
    ck_assert_uint_eq(l[1].lease_deadline_ms, T0 + 333); /* the request's */
    ck_assert_uint_eq(tp_lease(&t, "q", 1, 0, T0, l), 1);
    ck_assert_uint_eq(l[0].lease_deadline_ms, T0 + 5000); /* the queue's */
    tp_done(&t);
}
END_TEST

START_TEST(nack_backoff_exponential_jittered_bounded)
{
    tp t;
    tp_open(&t, SEG);
    q_queue_cfg c = {.max_attempts = 20, .backoff_base_ms = 100, .backoff_max_ms = 1000};
    tp_cfg(&t, "q", Q_CFG_MAX_ATTEMPTS | Q_CFG_BACKOFF_BASE_MS | Q_CFG_BACKOFF_MAX_MS, &c);
    uint64_t id = tp_enq(&t, "q", "x", 0, T0);
    uint64_t now = T0;
    uint64_t want[] = {100, 200, 400, 800, 1000, 1000, 1000, 1000};
    bool below_top = false;
    for (int i = 0; i < 8; i++) {
        ck_assert_uint_eq(tp_lease1(&t, "q", 0, now), id);
        q_nack nk = {0};
        q_nack_result nr;
        uint64_t commit;
        q_err e;
        ck_assert_int_eq(q_part_nack(t.p, id, tp_tok(&t, id), &nk, now, &nr, &commit, &e), Q_OK);
        ck_assert_int_eq(nr.state, Q_TASK_DELAYED);
        ck_assert_uint_eq(nr.attempts, (uint32_t)i + 1);
        uint64_t d = nr.ready_ms - now;
        ck_assert_msg(d >= want[i] / 2 && d <= want[i], "attempt %d: delay %" PRIu64, i, d);
        if (d < want[i]) below_top = true;
        ck_assert_uint_eq(tp_tick(&t, now), nr.ready_ms);
        now = nr.ready_ms;
        tp_tick(&t, now);
    }
    ck_assert(below_top); /* jitter happened */
    ck_assert_uint_eq(tp_info(&t, "q", now).nacked_total, 8);
    tp_done(&t);
}
END_TEST

START_TEST(nack_delay_dead_now_and_dead_letter_off)
{
    tp t;
    tp_open(&t, SEG);
    uint64_t a = tp_enq(&t, "q", "a", 0, T0), b = tp_enq(&t, "q", "b", 0, T0);
    q_leased l[2];
    ck_assert_uint_eq(tp_lease(&t, "q", 2, 0, T0, l), 2);
    q_nack nk = {.has_delay = true, .delay_ms = 250};
    q_nack_result nr;
    uint64_t commit;
    q_err e;
    ck_assert_int_eq(q_part_nack(t.p, a, tp_tok(&t, a), &nk, T0, &nr, &commit, &e), Q_OK);
    ck_assert_int_eq(nr.state, Q_TASK_DELAYED);
    ck_assert_uint_eq(nr.ready_ms, T0 + 250);
    ck_assert_uint_ge(commit, q_log_next(q_part_log(t.p)));
    q_nack dead = {.dead_letter = true, .reason = "bad input", .reason_len = 9};
    ck_assert_int_eq(q_part_nack(t.p, b, tp_tok(&t, b), &dead, T0, &nr, &commit, &e), Q_OK);
    ck_assert_int_eq(nr.state, Q_TASK_DEAD);
    q_task_info ti;
    ck_assert_int_eq(q_part_get_task(t.p, b, &ti, &e), Q_OK);
    ck_assert_int_eq(ti.state, Q_TASK_DEAD);
    ck_assert(ti.last_error_len == 9 && memcmp(ti.last_error, "bad input", 9) == 0);
    /* Nack of a task that is not leased. */
    ck_assert_int_eq(q_part_nack(t.p, a, tp_tok(&t, a), &nk, T0, &nr, &commit, &e),
                     Q_FAILED_PRECONDITION);
    ck_assert_int_eq(q_part_nack(t.p, 999, tp_tok(&t, 999), &nk, T0, &nr, &commit, &e),
                     Q_NOT_FOUND);
    char big[Q_REASON_BYTES_MAX + 1];
    memset(big, 'r', sizeof big);
    q_nack toolong = {.reason = big, .reason_len = sizeof big};
    ck_assert_int_eq(q_part_nack(t.p, a, tp_tok(&t, a), &toolong, T0, &nr, &commit, &e),
                     Q_INVALID_ARGUMENT);

    /* dead_letter off: out of attempts or nacked dead, the task is deleted. */
    q_queue_cfg c = {.dead_letter = false};
    tp_cfg(&t, "q", Q_CFG_DEAD_LETTER, &c);
    tp_tick(&t, T0 + 250);
    ck_assert_uint_eq(tp_lease1(&t, "q", 0, T0 + 250), a);
    ck_assert_int_eq(q_part_nack(t.p, a, tp_tok(&t, a), &dead, T0 + 250, &nr, &commit, &e), Q_OK);
    ck_assert_int_eq(nr.state, Q_TASK_GONE);
    ck_assert_int_eq(tp_state(&t, a), Q_TASK_GONE);
    tp_done(&t);
}
END_TEST

START_TEST(extend_moves_the_deadline)
{
    tp t;
    tp_open(&t, SEG);
    uint64_t id = tp_enq(&t, "q", "x", 0, T0);
    tp_lease1(&t, "q", 100, T0);
    uint64_t dl;
    q_err e;
    ck_assert_int_eq(q_part_extend(t.p, id, tp_tok(&t, id), 200, T0 + 50, &dl, &e), Q_OK);
    ck_assert_uint_eq(dl, T0 + 250);
    ck_assert_uint_eq(q_part_next_ms(t.p), T0 + 250); /* re-arm the timer after an extend */
    ck_assert_uint_eq(tp_tick(&t, T0 + 150), T0 + 250);
    ck_assert_int_eq(tp_state(&t, id), Q_TASK_LEASED);
    ck_assert_int_eq(tp_ack(&t, id, T0 + 249), Q_OK);
    ck_assert_int_eq(q_part_extend(t.p, id, tp_tok(&t, id), 200, T0 + 260, &dl, &e), Q_NOT_FOUND);
    uint64_t id2 = tp_enq(&t, "q", "y", 0, T0);
    ck_assert_int_eq(q_part_extend(t.p, id2, tp_tok(&t, id2), 200, T0, &dl, &e),
                     Q_FAILED_PRECONDITION);
    tp_lease1(&t, "q", 100, T0);
    ck_assert_int_eq(q_part_extend(t.p, id2, tp_tok(&t, id2), 200, T0 + 100, &dl, &e),
                     Q_FAILED_PRECONDITION);
    ck_assert(strstr(e.msg, "lease expired"));
    ck_assert_int_eq(q_part_extend(t.p, id2, tp_tok(&t, id2), Q_LEASE_MS_MAX + 1, T0, &dl, &e),
                     Q_INVALID_ARGUMENT);
    tp_done(&t);
}
END_TEST

START_TEST(ack_errors)
{
    tp t;
    tp_open(&t, SEG);
    uint64_t a = tp_enq(&t, "q", "a", 0, T0), b = tp_enq(&t, "q", "b", 0, T0);
    uint64_t c = tp_enq(&t, "q", "c", 0, T0);
    ck_assert_uint_eq(tp_lease1(&t, "q", 1000, T0), a);
    ck_assert_uint_eq(tp_lease1(&t, "q", 100, T0), b);
    /* a: acked in time; b: its lease ran out (no tick yet); c: never leased; 12345: unknown. */
    uint64_t ids[5] = {a, b, c, 12345, a};
    uint64_t toks[5] = {tp_tok(&t, a), tp_tok(&t, b), tp_tok(&t, c), 1, tp_tok(&t, a)};
    q_item it[5];
    uint64_t commit;
    q_err e;
    uint64_t before = q_log_next(q_part_log(t.p));
    ck_assert_int_eq(q_part_ack(t.p, ids, toks, 5, T0 + 100, it, &commit, &e), Q_OK);
    ck_assert_int_eq(it[0].code, Q_OK);
    ck_assert_int_eq(it[1].code, Q_FAILED_PRECONDITION);
    ck_assert(strstr(it[1].why, "lease expired"));
    ck_assert_int_eq(it[2].code, Q_FAILED_PRECONDITION);
    ck_assert_int_eq(it[3].code, Q_NOT_FOUND);
    ck_assert_int_eq(it[4].code, Q_NOT_FOUND); /* the same id again: the first acked it */
    ck_assert(strstr(it[4].why, "earlier in the same batch"));
    ck_assert_uint_eq(q_log_next(q_part_log(t.p)), before + 1); /* one record */
    ck_assert_uint_eq(commit, before + 1);
    ck_assert_int_eq(tp_ack(&t, a, T0 + 100), Q_NOT_FOUND);
    ck_assert_int_eq(tp_state(&t, a), Q_TASK_GONE);
    ck_assert_uint_eq(tp_info(&t, "q", T0).acked_total, 1);
    ck_assert_int_eq(q_part_ack(t.p, ids, toks, 0, T0, it, &commit, &e), Q_INVALID_ARGUMENT);
    tp_done(&t);
}
END_TEST

START_TEST(dedup_window)
{
    tp t;
    tp_open(&t, SEG);
    q_queue_cfg c = {.dedup_window_ms = 1000};
    tp_cfg(&t, "q", Q_CFG_DEDUP_WINDOW_MS, &c);
    q_task_spec s[3] = {
        {.payload = (const uint8_t *)"1", .payload_len = 1, .key = "k", .key_len = 1},
        {.payload = (const uint8_t *)"2", .payload_len = 1, .key = "k", .key_len = 1},
        {.payload = (const uint8_t *)"3", .payload_len = 1, .key = "j", .key_len = 1}};
    q_enq_result r[3];
    uint64_t commit;
    q_err e;
    ck_assert_int_eq(q_part_enqueue(t.p, "q", 1, s, 3, T0, r, &commit, &e), Q_OK);
    ck_assert(!r[0].duplicate && r[1].duplicate && !r[2].duplicate);
    ck_assert_uint_eq(r[1].id, r[0].id);
    ck_assert_uint_eq(tp_info(&t, "q", T0).ready, 2);
    /* Still a duplicate after the original was acked. */
    ck_assert_uint_eq(tp_lease1(&t, "q", 0, T0), r[0].id);
    ck_assert_int_eq(tp_ack(&t, r[0].id, T0), Q_OK);
    q_enq_result d;
    uint64_t next = q_log_next(q_part_log(t.p));
    ck_assert_int_eq(tp_enq_spec(&t, "q", &s[0], T0 + 999, &d), Q_OK);
    ck_assert(d.duplicate);
    ck_assert_uint_eq(d.id, r[0].id);
    ck_assert_uint_eq(q_log_next(q_part_log(t.p)), next); /* nothing written */
    ck_assert_uint_eq(tp_info(&t, "q", T0).duplicates_total, 2);
    /* Same key in another queue: independent. */
    ck_assert_int_eq(tp_enq_spec(&t, "other", &s[0], T0, &d), Q_OK);
    ck_assert(!d.duplicate);
    /* After the window: a new task. */
    tp_tick(&t, T0 + 1000);
    ck_assert_int_eq(tp_enq_spec(&t, "q", &s[0], T0 + 1000, &d), Q_OK);
    ck_assert(!d.duplicate);
    ck_assert_uint_ne(d.id, r[0].id);
    /* Window 0 turns dedup off. */
    c.dedup_window_ms = 0;
    tp_cfg(&t, "q", Q_CFG_DEDUP_WINDOW_MS, &c);
    ck_assert_int_eq(tp_enq_spec(&t, "q", &s[2], T0 + 1000, &d), Q_OK);
    ck_assert(!d.duplicate);
    ck_assert_int_eq(tp_enq_spec(&t, "q", &s[2], T0 + 1000, &r[0]), Q_OK);
    ck_assert(!r[0].duplicate);
    tp_done(&t);
}
END_TEST

START_TEST(dedup_bound_evicts_oldest)
{
    tp t;
    tq_mkdtemp(t.dir);
    tp_opts(&t, SEG);
    t.o.dedup_keys_max = 4;
    tp_reopen(&t, T0);
    char key[8];
    q_enq_result r, first;
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof key, "k%d", i);
        q_task_spec s = {
            .payload = (const uint8_t *)"x", .payload_len = 1, .key = key, .key_len = 2};
        ck_assert_int_eq(tp_enq_spec(&t, "q", &s, T0, i ? &r : &first), Q_OK);
    }
    q_part_stats st;
    q_part_get_stats(t.p, &st);
    ck_assert_uint_eq(st.dedup_keys, 4);
    ck_assert_uint_eq(st.dedup_evicted, 1);
    q_task_spec k0 = {.payload = (const uint8_t *)"x", .payload_len = 1, .key = "k0", .key_len = 2};
    q_task_spec k4 = {.payload = (const uint8_t *)"x", .payload_len = 1, .key = "k4", .key_len = 2};
    ck_assert_int_eq(tp_enq_spec(&t, "q", &k4, T0, &r), Q_OK);
    ck_assert(r.duplicate);
    ck_assert_int_eq(tp_enq_spec(&t, "q", &k0, T0, &r), Q_OK);
    ck_assert(!r.duplicate); /* forgotten: the oldest went first */
    tp_done(&t);
}
END_TEST

START_TEST(limits)
{
    tp t;
    tq_mkdtemp(t.dir);
    tp_opts(&t, SEG);
    t.o.tasks_max = 3;
    tp_reopen(&t, T0);
    q_task_spec s[Q_BATCH_MAX + 1];
    memset(s, 0, sizeof s);
    q_enq_result r[Q_BATCH_MAX + 1];
    uint64_t commit;
    q_err e;
    ck_assert_int_eq(q_part_enqueue(t.p, "q", 1, s, Q_BATCH_MAX + 1, T0, r, &commit, &e),
                     Q_INVALID_ARGUMENT);
    ck_assert_int_eq(q_part_enqueue(t.p, "q", 1, s, 0, T0, r, &commit, &e), Q_INVALID_ARGUMENT);
    s[1].priority = 16;
    ck_assert_int_eq(q_part_enqueue(t.p, "q", 1, s, 2, T0, r, &commit, &e), Q_INVALID_ARGUMENT);
    ck_assert(strstr(e.msg, "task 1") && strstr(e.msg, "priority"));
    q_queue_info qi;
    ck_assert_int_eq(q_part_get_queue(t.p, "q", 1, T0, &qi, &e), Q_NOT_FOUND); /* nothing */
    s[1].priority = 0;
    static uint8_t big[SEG];
    s[0].payload = big;
    s[0].payload_len = SEG / 4;
    ck_assert_int_eq(q_part_enqueue(t.p, "q", 1, s, 1, T0, r, &commit, &e), Q_INVALID_ARGUMENT);
    ck_assert(strstr(e.msg, "limit"));
    s[0].payload_len = 0;
    ck_assert_int_eq(q_part_enqueue(t.p, "q", 1, s, 3, T0, r, &commit, &e), Q_OK);
    ck_assert_int_eq(q_part_enqueue(t.p, "q", 1, s, 1, T0, r, &commit, &e), Q_RESOURCE_EXHAUSTED);
    q_header h = {"", 0, "v", 1};
    s[0].headers = &h;
    s[0].nheaders = 1;
    ck_assert_int_eq(q_part_enqueue(t.p, "q", 1, s, 1, T0, r, &commit, &e), Q_INVALID_ARGUMENT);
    q_leased l;
    uint32_t n;
    ck_assert_int_eq(q_part_lease(t.p, "q", 1, 0, 0, T0, &l, &n, &e), Q_INVALID_ARGUMENT);
    ck_assert_int_eq(q_part_lease(t.p, "q", 1, 1, Q_LEASE_MS_MAX + 1, T0, &l, &n, &e),
                     Q_INVALID_ARGUMENT);
    tp_done(&t);
}
END_TEST

START_TEST(tick_moves_a_burst_in_steps)
{
    tp t;
    tp_open(&t, 16u << 20);
    enum { N = Q_TICK_MOVES_MAX + 5000 };
    static q_task_spec s[Q_BATCH_MAX];
    static q_enq_result r[Q_BATCH_MAX];
    for (uint32_t i = 0; i < Q_BATCH_MAX; i++)
        s[i] = (q_task_spec){.payload = (const uint8_t *)"b", .payload_len = 1, .delay_ms = 10};
    for (uint32_t done = 0; done < N; done += Q_BATCH_MAX) {
        uint32_t n = N - done < Q_BATCH_MAX ? N - done : Q_BATCH_MAX;
        uint64_t commit;
        q_err e;
        ck_assert_int_eq(q_part_enqueue(t.p, "q", 1, s, n, T0, r, &commit, &e), Q_OK);
    }
    ck_assert_uint_eq(q_part_next_ms(t.p), T0 + 10);
    ck_assert_uint_eq(tp_tick(&t, T0 + 10), T0 + 10); /* more left: call again now */
    ck_assert_uint_eq(tp_info(&t, "q", T0).ready, Q_TICK_MOVES_MAX);
    ck_assert_uint_eq(tp_tick(&t, T0 + 10), UINT64_MAX);
    ck_assert_uint_eq(tp_info(&t, "q", T0).ready, N);
    tp_done(&t);
}
END_TEST

int main(void)
{
    log_set_level(LOG_WARN);
    const TTest *tests[] = {names_and_ids,
                            bad_queue_names_in_calls,
                            fifo_within_priority_higher_first,
                            headers_and_key_round_trip,
                            delay_and_not_before,
                            lease_expiry_counts_attempts_then_dead,
                            lease_duration_precedence,
                            nack_backoff_exponential_jittered_bounded,
                            nack_delay_dead_now_and_dead_letter_off,
                            extend_moves_the_deadline,
                            ack_errors,
                            dedup_window,
                            dedup_bound_evicts_oldest,
                            limits,
                            tick_moves_a_burst_in_steps};
    return tq_run("q_part", "rules", 30, tests, sizeof tests / sizeof tests[0]);
}
