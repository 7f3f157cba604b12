/* queue/q_part admin calls: pause/resume and ready wake-ups, purge, redrive, delete, dead-letter
 * pages, queue listing (70,000 queues, the queues_max option), configuration validation, queue
 * deletion (with replay and compaction). */
#include <errno.h>
#include <inttypes.h>

#include "test_q_part_util.h"

#include "core/rt_log.h"

#define SEG (256u * 1024u)

static uint32_t woken;
static char woken_name[Q_QUEUE_NAME_BYTES_MAX + 1];
static void on_ready(void *ud, q_part *p, const char *name, uint32_t len, uint64_t ready)
{
    (void)ud;
    (void)p;
    (void)ready;
    woken++;
    memcpy(woken_name, name, len);
    woken_name[len] = 0;
}

START_TEST(pause_resume_and_wakeups)
{
    tp t;
    tp_open(&t, SEG);
    tp_enq(&t, "q", "a", 0, T0);
    woken = 0;
    ck_assert_uint_eq(q_part_drain_ready(t.p, on_ready, NULL), 1);
    ck_assert_uint_eq(woken, 1);
    ck_assert_str_eq(woken_name, "q");
    ck_assert_uint_eq(q_part_drain_ready(t.p, on_ready, NULL), 0);
    q_queue_info qi;
    uint64_t commit;
    q_err e;
    ck_assert_int_eq(q_part_pause(t.p, "q", 1, true, T0, &qi, &commit, &e), Q_OK);
    ck_assert(qi.paused);
    tp_enq(&t, "q", "b", 0, T0); /* accepted */
    ck_assert_uint_eq(q_part_drain_ready(t.p, on_ready, NULL), 0);
    q_leased l[2];
    ck_assert_uint_eq(tp_lease(&t, "q", 2, 0, T0, l), 0);
    ck_assert_uint_eq(tp_info(&t, "q", T0).ready, 2);
    ck_assert_int_eq(q_part_pause(t.p, "q", 1, false, T0, &qi, &commit, &e), Q_OK);
    ck_assert_uint_eq(q_part_drain_ready(t.p, on_ready, NULL), 1);
    ck_assert_uint_eq(tp_lease(&t, "q", 2, 0, T0, l), 2);
    ck_assert_int_eq(q_part_pause(t.p, "zz", 2, true, T0, &qi, &commit, &e), Q_NOT_FOUND);
    /* A delayed task wakes its queue when its time comes. */
    q_task_spec s = {.payload = (const uint8_t *)"d", .payload_len = 1, .delay_ms = 10};
    q_enq_result r;
    ck_assert_int_eq(tp_enq_spec(&t, "q", &s, T0, &r), Q_OK);
    ck_assert_uint_eq(q_part_drain_ready(t.p, on_ready, NULL), 0);
    tp_tick(&t, T0 + 10);
    ck_assert_uint_eq(q_part_drain_ready(t.p, on_ready, NULL), 1);
    tp_done(&t);
}
END_TEST

START_TEST(purge_redrive_delete)
{
    tp t;
    tp_open(&t, SEG);
    q_queue_cfg c = {.max_attempts = 1};
    tp_cfg(&t, "q", Q_CFG_MAX_ATTEMPTS, &c);
    uint64_t ids[6];
    for (int i = 0; i < 6; i++) ids[i] = tp_enq(&t, "q", "x", 0, T0);
    /* Kill 4 by expiry (max_attempts 1). */
    q_leased l[6];
    ck_assert_uint_eq(tp_lease(&t, "q", 4, 10, T0, l), 4);
    tp_tick(&t, T0 + 10);
    ck_assert_uint_eq(tp_info(&t, "q", T0).dead, 4);
    /* Redrive one by id; one not dead; one unknown. */
    uint64_t rid[3] = {ids[0], ids[5], 777};
    q_item it[3];
    uint64_t n, commit;
    q_err e;
    ck_assert_int_eq(q_part_redrive(t.p, "q", 1, rid, 3, T0, it, &n, &commit, &e), Q_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(it[0].code, Q_OK);
    ck_assert_int_eq(it[1].code, Q_FAILED_PRECONDITION);
    ck_assert_int_eq(it[2].code, Q_NOT_FOUND);
    ck_assert_int_eq(tp_state(&t, ids[0]), Q_TASK_READY);
    q_task_info ti;
    ck_assert_int_eq(q_part_get_task(t.p, ids[0], &ti, &e), Q_OK);
    ck_assert_uint_eq(ti.attempts, 0);
    /* Redrive all. */
    ck_assert_int_eq(q_part_redrive(t.p, "q", 1, NULL, 0, T0, NULL, &n, &commit, &e), Q_OK);
    ck_assert_uint_eq(n, 3);
    q_queue_info qi = tp_info(&t, "q", T0);
    ck_assert_uint_eq(qi.dead, 0);
    ck_assert_uint_eq(qi.ready, 6);
    /* Delete a ready and a leased task. */
    ck_assert_int_eq(q_part_delete(t.p, ids[1], T0, &commit, &e), Q_OK);
    ck_assert_int_eq(q_part_delete(t.p, ids[1], T0, &commit, &e), Q_NOT_FOUND);
    uint64_t leased = tp_lease1(&t, "q", 1000, T0);
    ck_assert_int_eq(q_part_delete(t.p, leased, T0, &commit, &e), Q_OK);
    ck_assert_int_eq(tp_ack(&t, leased, T0), Q_NOT_FOUND);
    /* Purge: every state. */
    uint64_t held = tp_lease1(&t, "q", 1000, T0);
    q_task_spec s = {.payload = (const uint8_t *)"d", .payload_len = 1, .delay_ms = 100};
    q_enq_result r;
    ck_assert_int_eq(tp_enq_spec(&t, "q", &s, T0, &r), Q_OK);
    uint64_t purged;
    ck_assert_int_eq(q_part_purge(t.p, "q", 1, T0, &purged, &commit, &e), Q_OK);
    ck_assert_uint_eq(purged, 5);
    qi = tp_info(&t, "q", T0);
    ck_assert_uint_eq(qi.ready + qi.delayed + qi.leased + qi.dead, 0);
    ck_assert_int_eq(tp_ack(&t, held, T0), Q_NOT_FOUND);
    ck_assert_uint_eq(qi.cfg.max_attempts, 1); /* configuration stays */
    ck_assert_uint_eq(tp_tick(&t, T0 + 100), UINT64_MAX);
    tp_done(&t);
}
END_TEST

START_TEST(list_dead_pages_and_list_queues)
{
    tp t;
    tp_open(&t, SEG);
    q_nack dead = {.dead_letter = true};
    uint64_t ids[25];
    for (int i = 0; i < 25; i++) ids[i] = tp_enq(&t, "q", "x", 0, T0);
    q_leased l[25];
    ck_assert_uint_eq(tp_lease(&t, "q", 25, 0, T0, l), 25);
    for (int i = 24; i >= 0; i--) { /* die in reverse: pages still come in id order */
        q_nack_result nr;
        uint64_t commit;
        q_err e;
        ck_assert_int_eq(q_part_nack(t.p, ids[i], tp_tok(&t, ids[i]), &dead, T0, &nr, &commit, &e),
                         Q_OK);
    }
    q_task_info ti[10];
    uint32_t n;
    bool more;
    q_err e;
    uint64_t from = 0;
    int seen = 0;
    for (int page = 0; page < 3; page++) {
        ck_assert_int_eq(q_part_list_dead(t.p, "q", 1, from, 10, ti, &n, &more, &e), Q_OK);
        ck_assert_uint_eq(n, page < 2 ? 10 : 5);
        ck_assert(more == (page < 2));
        for (uint32_t i = 0; i < n; i++) ck_assert_uint_eq(ti[i].id, ids[seen++]);
        from = ti[n - 1].id + 1;
        if (page == 0) { /* redriving between pages does not disturb the next page */
            uint64_t commit, k;
            q_item it;
            ck_assert_int_eq(q_part_redrive(t.p, "q", 1, &ids[3], 1, T0, &it, &k, &commit, &e),
                             Q_OK);
        }
    }
    ck_assert_int_eq(seen, 25);
    ck_assert_int_eq(q_part_list_dead(t.p, "q", 1, 0, 0, ti, &n, &more, &e), Q_INVALID_ARGUMENT);

    tp_enq(&t, "b", "x", 0, T0);
    tp_enq(&t, "a", "x", 0, T0);
    tp_enq(&t, "ab", "x", 0, T0);
    q_queue_info qi[4];
    ck_assert_int_eq(q_part_list_queues(t.p, "", 0, 2, T0, qi, &n, &more), Q_OK);
    ck_assert(n == 2 && more);
    ck_assert(qi[0].name_len == 1 && qi[0].name[0] == 'a');
    ck_assert(qi[1].name_len == 2 && memcmp(qi[1].name, "ab", 2) == 0);
    ck_assert_int_eq(q_part_list_queues(t.p, "ab", 2, 2, T0, qi, &n, &more), Q_OK);
    ck_assert(n == 2 && !more);
    ck_assert(qi[0].name[0] == 'b' && qi[1].name[0] == 'q');
    ck_assert_uint_eq(qi[1].dead, 24);
    tp_done(&t);
}
END_TEST

START_TEST(configure_validation)
{
    tp t;
    tp_open(&t, SEG);
    q_queue_cfg_patch pt = {.set = Q_CFG_MAX_ATTEMPTS, .v = {.max_attempts = 0}};
    q_queue_info qi;
    uint64_t commit;
    q_err e;
    ck_assert_int_eq(q_part_configure(t.p, "q", 1, &pt, T0, &qi, &commit, &e), Q_INVALID_ARGUMENT);
    ck_assert(strstr(e.msg, "max_attempts"));
    pt.v.max_attempts = Q_ATTEMPTS_MAX + 1;
    ck_assert_int_eq(q_part_configure(t.p, "q", 1, &pt, T0, &qi, &commit, &e), Q_INVALID_ARGUMENT);
    pt = (q_queue_cfg_patch){.set = Q_CFG_BACKOFF_BASE_MS, .v = {.backoff_base_ms = 400000}};
    ck_assert_int_eq(q_part_configure(t.p, "q", 1, &pt, T0, &qi, &commit, &e), Q_INVALID_ARGUMENT);
    ck_assert(strstr(e.msg, "backoff_base_ms"));
    pt = (q_queue_cfg_patch){.set = Q_CFG_DEDUP_WINDOW_MS,
                             .v = {.dedup_window_ms = Q_DEDUP_WINDOW_MS_MAX + 1}};
    ck_assert_int_eq(q_part_configure(t.p, "q", 1, &pt, T0, &qi, &commit, &e), Q_INVALID_ARGUMENT);
    ck_assert_int_eq(q_part_get_queue(t.p, "q", 1, T0, &qi, &e), Q_NOT_FOUND); /* unchanged */
    pt = (q_queue_cfg_patch){.set = Q_CFG_LEASE_MS | Q_CFG_DEAD_LETTER,
                             .v = {.lease_ms = 1234, .dead_letter = false}};
    ck_assert_int_eq(q_part_configure(t.p, "q", 1, &pt, T0, &qi, &commit, &e), Q_OK);
    ck_assert_uint_eq(qi.cfg.lease_ms, 1234);
    ck_assert(!qi.cfg.dead_letter);
    ck_assert_uint_eq(qi.cfg.max_attempts, Q_MAX_ATTEMPTS_DEFAULT);
    ck_assert_uint_eq(qi.cfg.dedup_window_ms, Q_DEDUP_WINDOW_MS_DEFAULT);
    tp_done(&t);
}
END_TEST

/* Admin.DeleteQueue: leased tasks refuse it unless forced; afterwards the queue, its tasks,
 * settings and keys are gone, in memory and after a reopen; the name starts a new queue. */
START_TEST(delete_queue)
{
    tp t;
    tp_open(&t, SEG);
    q_queue_cfg c = {.max_attempts = 3};
    tp_cfg(&t, "q", Q_CFG_MAX_ATTEMPTS, &c);
    q_task_spec ks = {
        .payload = (const uint8_t *)"k", .payload_len = 1, .key = "key-1", .key_len = 5};
    q_enq_result rk;
    ck_assert_int_eq(tp_enq_spec(&t, "q", &ks, T0, &rk), Q_OK);
    uint64_t a = tp_enq(&t, "q", "a", 0, T0);
    uint64_t other = tp_enq(&t, "o", "stays", 0, T0);
    uint64_t leased = tp_lease1(&t, "q", 0, T0);
    q_queue_info qi;
    uint64_t n = 0, commit;
    q_err e;
    ck_assert_int_eq(q_part_pause(t.p, "q", 1, true, T0, &qi, &commit, &e), Q_OK);
    ck_assert_int_eq(q_part_delete_queue(t.p, "q", 1, false, T0, &n, &commit, &e),
                     Q_FAILED_PRECONDITION);
    ck_assert_msg(strstr(e.msg, "1 leased") != NULL, "%s", e.msg);
    ck_assert_uint_eq(tp_info(&t, "q", T0).leased, 1); /* nothing changed */
    uint64_t before = q_log_next(q_part_log(t.p));
    ck_assert_int_eq(q_part_delete_queue(t.p, "q", 1, true, T0, &n, &commit, &e), Q_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(commit, before + 1); /* one record */
    ck_assert_int_eq(q_part_get_queue(t.p, "q", 1, T0, &qi, &e), Q_NOT_FOUND);
    ck_assert_int_eq(tp_state(&t, a), Q_TASK_GONE);
    ck_assert_int_eq(tp_ack(&t, leased, T0), Q_NOT_FOUND);
    ck_assert_int_eq(q_part_delete_queue(t.p, "q", 1, true, T0, &n, &commit, &e), Q_NOT_FOUND);
    ck_assert_int_eq(q_part_delete_queue(t.p, "nope", 4, true, T0, &n, &commit, &e), Q_NOT_FOUND);
    ck_assert_int_eq(q_part_delete_queue(t.p, "b/d", 3, true, T0, &n, &commit, &e),
                     Q_INVALID_ARGUMENT);
    q_queue_info list[4];
    uint32_t k;
    bool more;
    ck_assert_int_eq(q_part_list_queues(t.p, "", 0, 4, T0, list, &k, &more), Q_OK);
    ck_assert_uint_eq(k, 1);
    ck_assert(list[0].name_len == 1 && list[0].name[0] == 'o');
    ck_assert_int_eq(tp_state(&t, other), Q_TASK_READY);
    tp_close(&t);

    /* Replay deletes it again. */
    tp_reopen(&t, T0 + 1);
    ck_assert_int_eq(q_part_get_queue(t.p, "q", 1, T0 + 1, &qi, &e), Q_NOT_FOUND);
    ck_assert_int_eq(tp_state(&t, a), Q_TASK_GONE);
    ck_assert_int_eq(tp_state(&t, other), Q_TASK_READY);

    /* The name starts a new queue: default settings, not paused, the old key forgotten. */
    q_enq_result r2;
    ck_assert_int_eq(tp_enq_spec(&t, "q", &ks, T0 + 2, &r2), Q_OK);
    ck_assert(!r2.duplicate);
    qi = tp_info(&t, "q", T0 + 2);
    ck_assert(!qi.paused);
    ck_assert_uint_eq(qi.cfg.max_attempts, Q_MAX_ATTEMPTS_DEFAULT);
    ck_assert_uint_eq(qi.ready, 1);
    ck_assert_uint_eq(qi.enqueued_total, 1);
    q_enq_result r3;
    ck_assert_int_eq(tp_enq_spec(&t, "q", &ks, T0 + 3, &r3), Q_OK);
    ck_assert(r3.duplicate); /* the new queue's key works */
    ck_assert_uint_eq(r3.id, r2.id);
    tp_close(&t);
    tp_reopen(&t, T0 + 4);
    qi = tp_info(&t, "q", T0 + 4);
    ck_assert_uint_eq(qi.ready, 1);
    ck_assert_int_eq(tp_state(&t, r2.id), Q_TASK_READY);
    ck_assert_int_eq(tp_enq_spec(&t, "q", &ks, T0 + 5, &r3), Q_OK);
    ck_assert(r3.duplicate && r3.id == r2.id);
    tp_done(&t);
}
END_TEST

/* Compaction after a delete never re-writes the deleted queue's settings or keys: it stays
 * deleted once the log has moved past its records. */
START_TEST(delete_queue_then_compaction)
{
    tp t;
    tp_open(&t, 64u * 1024u);
    q_queue_cfg c = {.max_attempts = 9};
    tp_cfg(&t, "gone", Q_CFG_MAX_ATTEMPTS, &c);
    q_task_spec ks = {
        .payload = (const uint8_t *)"k", .payload_len = 1, .key = "key-1", .key_len = 5};
    q_enq_result rk;
    ck_assert_int_eq(tp_enq_spec(&t, "gone", &ks, T0, &rk), Q_OK);
    uint64_t keep = tp_enq(&t, "o", "kept", 0, T0);
    uint64_t n, commit;
    q_err e;
    ck_assert_int_eq(q_part_delete_queue(t.p, "gone", 4, false, T0, &n, &commit, &e), Q_OK);
    ck_assert_uint_eq(n, 1);
    char body[200];
    memset(body, 'x', sizeof body - 1);
    body[sizeof body - 1] = 0;
    uint64_t now = T0;
    for (int i = 0; i < 2000; i++) {
        tp_enq(&t, "o2", body, 0, now);
        ck_assert_int_eq(tp_ack(&t, tp_lease1(&t, "o2", 0, now), now), Q_OK);
    }
    q_log_stats ls;
    for (int round = 0; round < 10; round++) {
        now += 1000;
        tp_tick(&t, now);
        q_log_get_stats(q_part_log(t.p), &ls);
        if (ls.segments <= 2) break;
    }
    ck_assert_uint_le(ls.segments, 2);
    ck_assert_uint_gt(q_log_oldest(q_part_log(t.p)), keep); /* the originals are gone */
    tp_close(&t);
    tp_reopen(&t, now);
    q_queue_info qi;
    ck_assert_int_eq(q_part_get_queue(t.p, "gone", 4, now, &qi, &e), Q_NOT_FOUND);
    ck_assert_int_eq(tp_state(&t, keep), Q_TASK_READY);
    q_enq_result r2;
    ck_assert_int_eq(tp_enq_spec(&t, "gone", &ks, now, &r2), Q_OK);
    ck_assert(!r2.duplicate);
    tp_done(&t);
}
END_TEST

/* Past the old limits (4,096 queues per partition, u16 queue indices): 70,000 queues created
 * out of name order, listed completely in pages while more appear, a task and a key in the
 * last one, and the same after a reopen (replay). */
#define MANY_QUEUES 70000u
#define MANY_STRIDE 7919u /* prime, coprime with MANY_QUEUES: a permutation of the names */

static void many_name(char *b, uint32_t i) { snprintf(b, 16, "q%06u", i); }

/* Lists every queue in pages of Q_PAGE_MAX; asserts names ascend; returns how many. */
static uint32_t list_all(tp *t, uint32_t add_between)
{
    static q_queue_info qi[Q_PAGE_MAX];
    char after[Q_QUEUE_NAME_BYTES_MAX + 1] = "";
    size_t al = 0;
    uint32_t total = 0, n, pages = 0;
    bool more = true;
    while (more) {
        ck_assert_int_eq(q_part_list_queues(t->p, after, al, Q_PAGE_MAX, T0, qi, &n, &more), Q_OK);
        ck_assert(n == Q_PAGE_MAX || !more);
        for (uint32_t i = 0; i < n; i++) {
            ck_assert(al == 0 || memcmp(after, qi[i].name, 7) < 0);
            memcpy(after, qi[i].name, qi[i].name_len);
            al = qi[i].name_len;
        }
        total += n;
        if (add_between && pages++ == 0) { /* new names before and after the cursor */
            q_queue_cfg_patch pt = {.set = 0};
            uint64_t commit;
            q_err e;
            ck_assert_int_eq(q_part_configure(t->p, "a-new", 5, &pt, T0, NULL, &commit, &e), Q_OK);
            ck_assert_int_eq(q_part_configure(t->p, "z-new", 5, &pt, T0, NULL, &commit, &e), Q_OK);
        }
    }
    return total;
}

START_TEST(many_queues_listed_and_replayed)
{
    tp t;
    tp_open(&t, 8u << 20);
    q_queue_cfg_patch pt = {.set = Q_CFG_MAX_ATTEMPTS, .v = {.max_attempts = 7}};
    uint64_t commit;
    q_err e;
    char name[16];
    for (uint32_t k = 0; k < MANY_QUEUES; k++) {
        many_name(name, (uint32_t)((uint64_t)k * MANY_STRIDE % MANY_QUEUES));
        ck_assert_msg(q_part_configure(t.p, name, 7, &pt, T0, NULL, &commit, &e) == Q_OK,
                      "queue %u: %s", k, e.msg);
    }
    /* The last queue created has index 69,999: its tasks and keys carry it. */
    many_name(name, (uint32_t)((uint64_t)(MANY_QUEUES - 1) * MANY_STRIDE % MANY_QUEUES));
    q_task_spec s = {.payload = (const uint8_t *)"x", .payload_len = 1, .key = "k", .key_len = 1};
    q_enq_result r1, r2;
    ck_assert_int_eq(tp_enq_spec(&t, name, &s, T0, &r1), Q_OK);
    ck_assert_int_eq(tp_enq_spec(&t, name, &s, T0, &r2), Q_OK);
    ck_assert(r2.duplicate && r2.id == r1.id);
    ck_assert_uint_eq(list_all(&t, 0), MANY_QUEUES);
    ck_assert_uint_eq(list_all(&t, 1), MANY_QUEUES + 1); /* a-new is behind the cursor */
    ck_assert_uint_eq(list_all(&t, 0), MANY_QUEUES + 2);
    q_part_stats st;
    q_part_get_stats(t.p, &st);
    ck_assert_uint_eq(st.queues, MANY_QUEUES + 2);
    tp_close(&t);
    tp_reopen(&t, T0);
    ck_assert_uint_eq(list_all(&t, 0), MANY_QUEUES + 2);
    q_queue_info qi = tp_info(&t, name, T0);
    ck_assert_uint_eq(qi.ready, 1);
    ck_assert_uint_eq(qi.cfg.max_attempts, 7);
    ck_assert_int_eq(tp_enq_spec(&t, name, &s, T0, &r2), Q_OK);
    ck_assert(r2.duplicate && r2.id == r1.id);
    q_leased l[1];
    ck_assert_uint_eq(tp_lease(&t, name, 1, 0, T0, l), 1);
    ck_assert_uint_eq(l[0].id, r1.id);
    ck_assert_uint_eq(l[0].max_attempts, 7);
    tp_done(&t);
}
END_TEST

/* The queue limit is an option (default Q_PART_QUEUES_MAX): the next new queue is
 * RESOURCE_EXHAUSTED and changes nothing; a log holding more replays whole. */
START_TEST(queues_max_option)
{
    tp t;
    tq_mkdtemp(t.dir);
    tp_opts(&t, SEG);
    q_part_opts d;
    q_part_opts_default(&d);
    ck_assert_uint_eq(d.queues_max, Q_PART_QUEUES_MAX);
    q_part *bad;
    t.o.queues_max = 0;
    ck_assert_int_eq(q_part_open(t.dir, 3, &t.o, T0, &bad, NULL), -EINVAL);
    t.o.queues_max = Q_PART_QUEUES_MAX + 1;
    ck_assert_int_eq(q_part_open(t.dir, 3, &t.o, T0, &bad, NULL), -EINVAL);
    t.o.queues_max = 3;
    tp_reopen(&t, T0);
    tp_enq(&t, "a", "x", 0, T0);
    tp_enq(&t, "b", "x", 0, T0);
    tp_enq(&t, "c", "x", 0, T0);
    q_task_spec s = {.payload = (const uint8_t *)"x", .payload_len = 1};
    q_enq_result r;
    uint64_t commit;
    q_err e;
    ck_assert_int_eq(q_part_enqueue(t.p, "d", 1, &s, 1, T0, &r, &commit, &e), Q_RESOURCE_EXHAUSTED);
    ck_assert_msg(strstr(e.msg, "3 queues"), "%s", e.msg);
    q_queue_cfg_patch pt = {.set = 0};
    ck_assert_int_eq(q_part_configure(t.p, "d", 1, &pt, T0, NULL, &commit, &e),
                     Q_RESOURCE_EXHAUSTED);
    q_queue_info qi;
    ck_assert_int_eq(q_part_get_queue(t.p, "d", 1, T0, &qi, &e), Q_NOT_FOUND);
    tp_enq(&t, "b", "y", 0, T0); /* existing queues go on */
    tp_close(&t);
    t.o.queues_max = 2;
    tp_reopen(&t, T0);
    q_part_stats st;
    q_part_get_stats(t.p, &st);
    ck_assert_uint_eq(st.queues, 3);
    ck_assert_uint_eq(tp_info(&t, "c", T0).ready, 1);
    ck_assert_int_eq(q_part_enqueue(t.p, "d", 1, &s, 1, T0, &r, &commit, &e), Q_RESOURCE_EXHAUSTED);
    tp_done(&t);
}
END_TEST

int main(void)
{
    log_set_level(LOG_WARN);
    const TTest *tests[] = {pause_resume_and_wakeups,
                            purge_redrive_delete,
                            list_dead_pages_and_list_queues,
                            configure_validation,
                            delete_queue,
                            delete_queue_then_compaction,
                            many_queues_listed_and_replayed,
                            queues_max_option};
    return tq_run("q_part_admin", "admin", 30, tests, sizeof tests / sizeof tests[0]);
}
