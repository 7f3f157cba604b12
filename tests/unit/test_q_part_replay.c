/* queue/q_part replay, retention and compaction: what a reopen brings back (ready again, leases
 * dropped, attempts kept, acked gone, dead kept, dedup kept, config kept), that dead segments are
 * deleted, and that stragglers are compacted with their ids, payloads and state intact. */
#include <inttypes.h>

#include "test_q_part_util.h"

#include "core/rt_log.h"
#include "queue/q_sys.h"

#define SEG (256u * 1024u)
#define SMALL (64u * 1024u) /* ~200 tasks of 200 bytes per segment: many segments */

static q_task_info task(tp *t, uint64_t id)
{
    q_task_info ti;
    q_err e;
    ck_assert_msg(q_part_get_task(t->p, id, &ti, &e) == Q_OK, "task %" PRIu64 ": %s", id, e.msg);
    return ti;
}

static void nack(tp *t, uint64_t id, const q_nack *nk, uint64_t now)
{
    q_nack_result nr;
    uint64_t commit;
    q_err e;
    ck_assert_int_eq(q_part_nack(t->p, id, tp_tok(t, id), nk, now, &nr, &commit, &e), Q_OK);
}

START_TEST(reopen_reproduces_state)
{
    tp t;
    tp_open(&t, SEG);
    q_queue_cfg c = {.max_attempts = 3, .lease_ms = 4000};
    tp_cfg(&t, "q", Q_CFG_MAX_ATTEMPTS | Q_CFG_LEASE_MS, &c);
    q_task_spec ks = {.payload = (const uint8_t *)"a", .payload_len = 1, .key = "ka", .key_len = 2};
    q_enq_result ra;
    ck_assert_int_eq(tp_enq_spec(&t, "q", &ks, T0, &ra), Q_OK);
    uint64_t a = ra.id;
    uint64_t b = tp_enq(&t, "q", "b", 0, T0), c2 = tp_enq(&t, "q", "c", 0, T0);
    uint64_t d = tp_enq(&t, "q", "d", 0, T0), e = tp_enq(&t, "q", "e", 0, T0);
    uint64_t f = tp_enq(&t, "q", "f", 7, T0);
    uint64_t pz = tp_enq(&t, "p", "z", 0, T0);
    q_leased l[6];
    ck_assert_uint_eq(tp_lease(&t, "q", 6, 1000, T0, l), 6); /* f (prio 7) first */
    ck_assert_int_eq(tp_ack(&t, a, T0), Q_OK);
    nack(&t, b, &(q_nack){.has_delay = true, .delay_ms = 500}, T0);
    nack(&t, c2, &(q_nack){.dead_letter = true, .reason = "boom", .reason_len = 4}, T0);
    nack(&t, e, &(q_nack){.has_delay = true, .delay_ms = 0}, T0);
    ck_assert_int_eq(tp_ack(&t, f, T0), Q_OK);
    /* d stays leased. */
    q_queue_info qi;
    uint64_t commit;
    q_err er;
    ck_assert_int_eq(q_part_pause(t.p, "p", 1, true, T0, &qi, &commit, &er), Q_OK);
    tp_close(&t);

    tp_reopen(&t, T0 + 100);
    ck_assert_int_eq(tp_state(&t, a), Q_TASK_GONE);
    ck_assert_int_eq(tp_state(&t, f), Q_TASK_GONE);
    q_task_info ti = task(&t, b);
    ck_assert_int_eq(ti.state, Q_TASK_DELAYED);
    ck_assert_uint_eq(ti.due_ms, T0 + 500);
    ck_assert_uint_eq(ti.attempts, 1);
    ti = task(&t, c2);
    ck_assert_int_eq(ti.state, Q_TASK_DEAD);
    ck_assert(ti.last_error_len == 4 && memcmp(ti.last_error, "boom", 4) == 0);
    ti = task(&t, d);
    ck_assert_int_eq(ti.state, Q_TASK_READY); /* the lease was dropped ... */
    ck_assert_uint_eq(ti.attempts, 0);        /* ... without counting an attempt */
    ti = task(&t, e);
    ck_assert_int_eq(ti.state, Q_TASK_READY);
    ck_assert_uint_eq(ti.attempts, 1);
    qi = tp_info(&t, "q", T0 + 100);
    ck_assert_uint_eq(qi.ready, 2);
    ck_assert_uint_eq(qi.delayed, 1);
    ck_assert_uint_eq(qi.leased, 0);
    ck_assert_uint_eq(qi.dead, 1);
    ck_assert_uint_eq(qi.cfg.max_attempts, 3);
    ck_assert_uint_eq(qi.cfg.lease_ms, 4000);
    ck_assert(tp_info(&t, "p", T0).paused);
    ck_assert_uint_eq(tp_lease(&t, "p", 1, 0, T0 + 100, l), 0);
    ck_assert_int_eq(tp_state(&t, pz), Q_TASK_READY);
    q_enq_result dup;
    ck_assert_int_eq(tp_enq_spec(&t, "q", &ks, T0 + 100, &dup), Q_OK);
    ck_assert(dup.duplicate);
    ck_assert_uint_eq(dup.id, a);
    /* Leases use the kept configuration; attempts continue. */
    ck_assert_uint_eq(tp_lease(&t, "q", 2, 0, T0 + 100, l), 2);
    ck_assert_uint_eq(l[0].lease_deadline_ms, T0 + 100 + 4000);
    ck_assert_uint_eq(l[0].id == e ? l[0].attempt : l[1].attempt, 2);
    tp_close(&t);
    /* Later: the delayed task is due. */
    tp_reopen(&t, T0 + 600);
    ck_assert_int_eq(tp_state(&t, b), Q_TASK_READY);
    ck_assert_uint_eq(tp_info(&t, "q", T0).ready, 3);
    tp_done(&t);
}
END_TEST

START_TEST(reopen_keeps_expiry_attempts_and_admin_changes)
{
    tp t;
    tp_open(&t, SEG);
    uint64_t x = tp_enq(&t, "q", "x", 0, T0);
    tp_lease1(&t, "q", 10, T0);
    tp_tick(&t, T0 + 10); /* expired: attempts 1, a record */
    tp_lease1(&t, "q", 10, T0 + 10);
    uint64_t ids[4];
    for (int i = 0; i < 4; i++) ids[i] = tp_enq(&t, "r", "y", 0, T0);
    q_leased l[4];
    ck_assert_uint_eq(tp_lease(&t, "r", 3, 0, T0, l), 3);
    for (int i = 0; i < 3; i++) nack(&t, ids[i], &(q_nack){.dead_letter = true}, T0);
    uint64_t n, commit;
    q_item it;
    q_err e;
    ck_assert_int_eq(q_part_redrive(t.p, "r", 1, &ids[1], 1, T0, &it, &n, &commit, &e), Q_OK);
    ck_assert_int_eq(q_part_delete(t.p, ids[3], T0, &commit, &e), Q_OK);
    for (int i = 0; i < 3; i++) tp_enq(&t, "s", "z", 0, T0);
    uint64_t purged;
    ck_assert_int_eq(q_part_purge(t.p, "s", 1, T0, &purged, &commit, &e), Q_OK);
    uint64_t s4 = tp_enq(&t, "s", "after", 0, T0);
    tp_close(&t);

    tp_reopen(&t, T0 + 20);
    q_task_info ti = task(&t, x);
    ck_assert_int_eq(ti.state, Q_TASK_READY);
    ck_assert_uint_eq(ti.attempts, 1);
    ck_assert_int_eq(tp_state(&t, ids[0]), Q_TASK_DEAD);
    ck_assert_int_eq(tp_state(&t, ids[1]), Q_TASK_READY);
    ck_assert_uint_eq(task(&t, ids[1]).attempts, 0);
    ck_assert_int_eq(tp_state(&t, ids[2]), Q_TASK_DEAD);
    ck_assert_int_eq(tp_state(&t, ids[3]), Q_TASK_GONE);
    q_queue_info qi = tp_info(&t, "s", T0);
    ck_assert_uint_eq(qi.ready, 1);
    ck_assert_int_eq(tp_state(&t, s4), Q_TASK_READY);
    /* Redrive-all persists too. */
    ck_assert_int_eq(q_part_redrive(t.p, "r", 1, NULL, 0, T0, NULL, &n, &commit, &e), Q_OK);
    ck_assert_uint_eq(n, 2);
    tp_close(&t);
    tp_reopen(&t, T0 + 30);
    ck_assert_uint_eq(tp_info(&t, "r", T0).dead, 0);
    ck_assert_uint_eq(tp_info(&t, "r", T0).ready, 3);
    tp_done(&t);
}
END_TEST

START_TEST(retention_deletes_dead_segments)
{
    tp t;
    tp_open(&t, SMALL);
    for (int i = 0; i < 2000; i++) tp_enq_body(&t, "q", i, T0);
    uint32_t before = tp_segments(&t);
    ck_assert_uint_gt(before, 5);
    tp_ack_all_but(&t, "q", NULL, 0, T0);
    ck_assert_uint_eq(tp_tick(&t, T0 + 500), T0 + 1000); /* the next retention pass */
    ck_assert_uint_eq(tp_segments(&t), before);          /* not before retain_every_ms */
    tp_tick(&t, T0 + 1000); /* writes q's LEDGER record: the deletion waits for its commit */
    ck_assert_uint_eq(tp_segments(&t), before);
    tp_tick(&t, T0 + 2000); /* commits, then deletes */
    ck_assert_uint_le(tp_segments(&t), 2);
    ck_assert_int_eq(tq_count_files(t.dir), (int)tp_segments(&t));
    q_part_stats st;
    q_part_get_stats(t.p, &st);
    ck_assert_uint_ge(st.segments_deleted, before - 2);
    tp_close(&t);
    tp_reopen(&t, T0 + 2000);
    ck_assert_uint_eq(tp_info(&t, "q", T0).ready, 0);
    tp_done(&t);
}
END_TEST

static void check_payload(tp *t, uint64_t id, int i)
{
    char b[TP_BODY_LEN + 1];
    tp_body(b, i);
    q_task_info ti = task(t, id);
    ck_assert_uint_eq(ti.payload_len, 200);
    ck_assert_msg(memcmp(ti.payload, b, 200) == 0, "payload of task %d", i);
}

START_TEST(compaction_moves_stragglers)
{
    tp t;
    tp_open(&t, SMALL);
    q_queue_cfg c = {.max_attempts = 9, .lease_ms = 60000};
    tp_cfg(&t, "q", Q_CFG_MAX_ATTEMPTS | Q_CFG_LEASE_MS, &c); /* a QUEUE record in segment 0 */
    q_task_spec ks = {
        .payload = (const uint8_t *)"k", .payload_len = 1, .key = "key-1", .key_len = 5};
    q_enq_result rk;
    ck_assert_int_eq(tp_enq_spec(&t, "q", &ks, T0, &rk), Q_OK); /* acked below; key lives on */
    int idx[] = {5, 10, 1500};
    uint64_t ids[2000];
    for (int i = 0; i < 2000; i++) ids[i] = tp_enq_body(&t, "q", i, T0);
    uint64_t keep[3] = {ids[5], ids[10], ids[1500]};
    tp_ack_all_but(&t, "q", keep, 3, T0); /* also acks rk */
    ck_assert_int_eq(tp_state(&t, rk.id), Q_TASK_GONE);
    /* The stragglers carry state: 5 nacked with a delay (attempt 1), 10 dead with a reason,
     * 1500 leased (it comes back ready after a restart). */
    nack(&t, ids[5], &(q_nack){.has_delay = true, .delay_ms = 5000}, T0);
    nack(&t, ids[10], &(q_nack){.dead_letter = true, .reason = "poison", .reason_len = 6}, T0);
    uint32_t before = tp_segments(&t);
    uint64_t now = T0;
    for (int round = 0; round < 10 && tp_segments(&t) > 2; round++) {
        now += 1000;
        tp_tick(&t, now);
    }
    ck_assert_uint_le(tp_segments(&t), 2);
    ck_assert_uint_gt(before, 5);
    ck_assert_uint_gt(q_log_oldest(q_part_log(t.p)), ids[1500]); /* originals are gone */
    q_part_stats st;
    q_part_get_stats(t.p, &st);
    ck_assert_uint_ge(st.compactions, 1);
    ck_assert_uint_ge(st.records_compacted, 5); /* 3 tasks, the key, the queue config */
    for (int i = 0; i < 3; i++) check_payload(&t, ids[idx[i]], idx[i]);
    ck_assert_int_eq(task(&t, ids[5]).state, Q_TASK_DELAYED);
    ck_assert_int_eq(task(&t, ids[10]).state, Q_TASK_DEAD);
    q_task_info ti = task(&t, ids[10]);
    ck_assert(ti.last_error_len == 6 && memcmp(ti.last_error, "poison", 6) == 0);
    ck_assert_int_eq(task(&t, ids[1500]).state, Q_TASK_LEASED);

    /* More traffic pushes the compacted copies into the oldest segment again: a second move. */
    for (int i = 0; i < 1500; i++) tp_enq_body(&t, "q", i, now);
    tp_ack_all_but(&t, "q", keep, 3, now);
    for (int round = 0; round < 10 && tp_segments(&t) > 2; round++) {
        now += 1000;
        tp_tick(&t, now);
    }
    ck_assert_uint_le(tp_segments(&t), 2);
    tp_close(&t);

    now += 10000; /* past the nacked task's delay */
    tp_reopen(&t, now);
    for (int i = 0; i < 3; i++) check_payload(&t, ids[idx[i]], idx[i]);
    ti = task(&t, ids[5]);
    ck_assert_int_eq(ti.state, Q_TASK_READY); /* its delay ran out meanwhile */
    ck_assert_uint_eq(ti.attempts, 1);
    ti = task(&t, ids[10]);
    ck_assert_int_eq(ti.state, Q_TASK_DEAD);
    ck_assert(ti.last_error_len == 6 && memcmp(ti.last_error, "poison", 6) == 0);
    ti = task(&t, ids[1500]);
    ck_assert_int_eq(ti.state, Q_TASK_READY);
    ck_assert_uint_eq(ti.attempts, 0);
    q_queue_info qi = tp_info(&t, "q", now);
    ck_assert_uint_eq(qi.ready, 2);
    ck_assert_uint_eq(qi.dead, 1);
    ck_assert_uint_eq(qi.cfg.max_attempts, 9);
    q_enq_result dup;
    ck_assert_int_eq(tp_enq_spec(&t, "q", &ks, now, &dup), Q_OK);
    ck_assert(dup.duplicate);
    ck_assert_uint_eq(dup.id, rk.id);
    tp_done(&t);
}
END_TEST

START_TEST(expired_keys_release_their_segments)
{
    tp t;
    tp_open(&t, SMALL);
    q_queue_cfg c = {.dedup_window_ms = 5000};
    tp_cfg(&t, "q", Q_CFG_DEDUP_WINDOW_MS, &c);
    char key[16];
    for (int i = 0; i < 600; i++) {
        char b[TP_BODY_LEN + 1];
        tp_body(b, i);
        snprintf(key, sizeof key, "k%d", i);
        q_task_spec s = {.payload = (const uint8_t *)b,
                         .payload_len = 200,
                         .key = key,
                         .key_len = (uint32_t)strlen(key)};
        q_enq_result r;
        ck_assert_int_eq(tp_enq_spec(&t, "q", &s, T0, &r), Q_OK);
    }
    tp_ack_all_but(&t, "q", NULL, 0, T0);
    uint32_t before = tp_segments(&t);
    tp_tick(&t, T0 + 1000);
    /* Keys within their window keep their records (compaction re-writes them as DEDUP). */
    q_enq_result r;
    q_task_spec s0 = {.payload = (const uint8_t *)"x", .payload_len = 1, .key = "k0", .key_len = 2};
    ck_assert_int_eq(tp_enq_spec(&t, "q", &s0, T0 + 1000, &r), Q_OK);
    ck_assert(r.duplicate);
    for (uint64_t now = T0 + 5000; now <= T0 + 9000; now += 1000) tp_tick(&t, now);
    ck_assert_uint_lt(tp_segments(&t), before);
    ck_assert_uint_le(tp_segments(&t), 2);
    q_part_stats st;
    q_part_get_stats(t.p, &st);
    ck_assert_uint_eq(st.dedup_keys, 0);
    tp_done(&t);
}
END_TEST

START_TEST(unknown_record_fails_open)
{
    tp t;
    tq_mkdtemp(t.dir);
    tp_opts(&t, SEG);
    q_log *log;
    ck_assert_int_eq(q_log_open(t.dir, &t.o.log, &log, NULL), 0);
    ck_assert_int_ge(q_log_append(log, 999, "??", 2), 0);
    ck_assert_int_eq(q_log_close(log), 0);
    q_log_err le;
    memset(&le, 0, sizeof le);
    ck_assert_int_eq(q_part_open(t.dir, 0, &t.o, T0, &t.p, &le), -EBADMSG);
    ck_assert_ptr_nonnull(le.why);
    ck_assert_uint_eq(le.offset, 0);
    t.p = NULL;
    tq_rmdir(t.dir);
}
END_TEST

static int fail_fallocate(int fd, int mode, off_t off, off_t len)
{
    (void)fd;
    (void)mode;
    (void)off;
    (void)len;
    errno = ENOSPC;
    return -1;
}

START_TEST(disk_full_mid_batch_keeps_the_prefix)
{
    tp t;
    tp_open(&t, SMALL);
    /* Fill the first segment to a few records short of its end (each task also keeps 64 bytes
     * of the segment for its ack: Q_PART_FREE_REC_BYTES). */
    uint32_t n0 = 0;
    while (q_log_oldest_segment_end(q_part_log(t.p)) == q_log_next(q_part_log(t.p)) &&
           tp_segments(&t) == 1 && n0 < 150) {
        tp_enq_body(&t, "q", (int)n0, T0);
        n0++;
    }
    q_sys.fallocate = fail_fallocate; /* the next segment cannot be created */
    static q_task_spec s[100];
    static q_enq_result r[100];
    char b[TP_BODY_LEN + 1];
    tp_body(b, 0);
    for (int i = 0; i < 100; i++)
        s[i] = (q_task_spec){.payload = (const uint8_t *)b, .payload_len = 200};
    uint64_t commit;
    q_err e;
    q_status st = q_part_enqueue(t.p, "q", 1, s, 100, T0, r, &commit, &e);
    q_sys_reset();
    ck_assert_int_eq(st, Q_RESOURCE_EXHAUSTED);
    ck_assert(strstr(e.msg, "no space"));
    uint64_t ready = tp_info(&t, "q", T0).ready;
    ck_assert_uint_gt(ready, n0);       /* a prefix went in ... */
    ck_assert_uint_lt(ready, n0 + 100); /* ... not the whole batch */
    ck_assert_uint_eq(commit, q_log_next(q_part_log(t.p)));
    /* The log stays usable: the space came back. */
    ck_assert_int_eq(q_part_enqueue(t.p, "q", 1, s, 100, T0, r, &commit, &e), Q_OK);
    tp_close(&t);
    tp_reopen(&t, T0);
    ck_assert_uint_eq(tp_info(&t, "q", T0).ready, ready + 100);
    tp_done(&t);
}
END_TEST

/* ENOSPC from every allocation (punching holes still works: it frees). */
static int full_allocations(int fd, int mode, off_t off, off_t len)
{
    if (mode == 0) {
        errno = ENOSPC;
        return -1;
    }
    return fallocate(fd, mode, off, len);
}

START_TEST(full_disk_acks_every_task)
{
    tp t;
    tp_open(&t, SEG);
    q_sys.fallocate = full_allocations; /* the first step allocated at open is all there is */
    char b[TP_BODY_LEN + 1];
    tp_body(b, 0);
    uint64_t n = 0;
    q_task_spec s = {.payload = (const uint8_t *)b, .payload_len = 200};
    q_enq_result r;
    uint64_t commit;
    q_err e;
    q_status st;
    while ((st = q_part_enqueue(t.p, "q", 1, &s, 1, T0, &r, &commit, &e)) == Q_OK) n++;
    ck_assert_int_eq(st, Q_RESOURCE_EXHAUSTED);
    ck_assert(strstr(e.msg, "disk full"));
    ck_assert_uint_gt(n, 100);
    /* Each task acked alone (the most log bytes per task): every ack goes in. */
    for (uint64_t i = 0; i < n; i++) {
        uint64_t id = tp_lease1(&t, "q", 0, T0);
        ck_assert_int_eq(tp_ack(&t, id, T0), Q_OK);
    }
    ck_assert_uint_eq(tp_info(&t, "q", T0).ready, 0);
    ck_assert(q_log_disk_full(q_part_log(t.p)));
    q_sys_reset();
    ck_assert_int_eq(q_part_enqueue(t.p, "q", 1, &s, 1, T0, &r, &commit, &e), Q_OK);
    ck_assert(!q_log_disk_full(q_part_log(t.p)));
    tp_close(&t);
    tp_reopen(&t, T0);
    ck_assert_uint_eq(tp_info(&t, "q", T0).ready, 1);
    tp_done(&t);
}
END_TEST

int main(void)
{
    log_set_level(LOG_WARN);
    const TTest *tests[] = {reopen_reproduces_state,
                            reopen_keeps_expiry_attempts_and_admin_changes,
                            retention_deletes_dead_segments,
                            compaction_moves_stragglers,
                            expired_keys_release_their_segments,
                            unknown_record_fails_open,
                            disk_full_mid_batch_keeps_the_prefix,
                            full_disk_acks_every_task};
    return tq_run("q_part_replay", "replay", 60, tests, sizeof tests / sizeof tests[0]);
}
