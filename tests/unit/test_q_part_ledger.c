/* queue/q_part's conservation ledger (q_part.h, docs/semantics.md): each admin action moves the
 * terms it should and the ledger balances after it; a reopen rebuilds the very same counters
 * from the log, also after compaction and retention deleted the records they were counted
 * from; a ledger that does not balance is logged and counted at open and left as it is. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "test_q_part_util.h"

#include "core/rt_log.h"
#include "queue/q_part_rec.h"
#include "queue/q_sys.h"

#define SEG (256u * 1024u)
#define SMALL (64u * 1024u) /* ~200 tasks of 200 bytes per segment: many segments */

static q_audit audit(tp *t, const char *q)
{
    q_audit a;
    q_err e;
    ck_assert_msg(q_part_audit(t->p, q, strlen(q), &a, &e) == Q_OK, "audit %s: %s", q, e.msg);
    return a;
}

/* The terms expected, in q_ledger order, then ready, delayed, leased, dead_held. */
typedef struct want {
    uint64_t enq, redriven, acked, dead, deleted, purged, dropped;
    uint64_t ready, delayed, leased, held;
} want;

static void check(tp *t, const char *q, want w, const char *step)
{
    q_audit a = audit(t, q);
    const q_ledger *l = &a.led;
    ck_assert_msg(l->enqueued == w.enq && l->redriven == w.redriven && l->acked == w.acked &&
                      l->dead == w.dead && l->deleted == w.deleted && l->purged == w.purged &&
                      l->dead_dropped == w.dropped,
                  "%s: counters enq=%" PRIu64 " redriven=%" PRIu64 " acked=%" PRIu64
                  " dead=%" PRIu64 " deleted=%" PRIu64 " purged=%" PRIu64 " dropped=%" PRIu64,
                  step, l->enqueued, l->redriven, l->acked, l->dead, l->deleted, l->purged,
                  l->dead_dropped);
    ck_assert_msg(a.ready == w.ready && a.delayed == w.delayed && a.leased == w.leased &&
                      a.dead_held == w.held,
                  "%s: now ready=%" PRIu64 " delayed=%" PRIu64 " leased=%" PRIu64 " dead=%" PRIu64,
                  step, a.ready, a.delayed, a.leased, a.dead_held);
    ck_assert_msg(a.balanced && a.tasks_balanced && a.dead_balanced, "%s: not balanced", step);
}

static void nack(tp *t, uint64_t id, const q_nack *nk, uint64_t now)
{
    q_nack_result nr;
    uint64_t commit;
    q_err e;
    ck_assert_int_eq(q_part_nack(t->p, id, tp_tok(t, id), nk, now, &nr, &commit, &e), Q_OK);
}

/* Acks ids[0..n) as the holders of their latest deliveries do (with their tokens). */
static q_status ack_ids(tp *t, const uint64_t *ids, uint32_t n, uint64_t now, q_item *items)
{
    static uint64_t toks[Q_BATCH_MAX > 600 ? Q_BATCH_MAX : 600];
    ck_assert_uint_le(n, sizeof toks / sizeof toks[0]);
    for (uint32_t i = 0; i < n; i++) toks[i] = tp_tok(t, ids[i]);
    uint64_t commit;
    q_err e;
    return q_part_ack(t->p, ids, toks, n, now, items, &commit, &e);
}

static void del(tp *t, uint64_t id)
{
    uint64_t commit;
    q_err e;
    ck_assert_int_eq(q_part_delete(t->p, id, T0, &commit, &e), Q_OK);
}

static void mismatches(tp *t, uint64_t want_n)
{
    q_part_stats st;
    q_part_get_stats(t->p, &st);
    ck_assert_uint_eq(st.ledger_mismatches, want_n);
}

START_TEST(every_action_moves_its_term_and_balances)
{
    tp t;
    tp_open(&t, SEG);
    q_queue_cfg c = {.max_attempts = 1};
    tp_cfg(&t, "q", Q_CFG_MAX_ATTEMPTS, &c); /* one attempt: an expired lease dies */
    uint64_t id[8];
    for (int i = 0; i < 8; i++) id[i] = tp_enq(&t, "q", "x", 0, T0);
    check(&t, "q", (want){.enq = 8, .ready = 8}, "enqueue");
    q_task_spec ds = {.payload = (const uint8_t *)"d", .payload_len = 1, .delay_ms = 60000};
    q_enq_result dr;
    ck_assert_int_eq(tp_enq_spec(&t, "q", &ds, T0, &dr), Q_OK);
    check(&t, "q", (want){.enq = 9, .ready = 8, .delayed = 1}, "enqueue delayed");
    q_enq_result dup;
    q_task_spec ks = {.payload = (const uint8_t *)"k", .payload_len = 1, .key = "k", .key_len = 1};
    ck_assert_int_eq(tp_enq_spec(&t, "q", &ks, T0, &dup), Q_OK);
    ck_assert_int_eq(tp_enq_spec(&t, "q", &ks, T0, &dup), Q_OK);
    ck_assert(dup.duplicate);
    check(&t, "q", (want){.enq = 10, .ready = 9, .delayed = 1}, "a duplicate counts once");

    uint64_t a = tp_lease1(&t, "q", 60000, T0); /* id[0] */
    check(&t, "q", (want){.enq = 10, .ready = 8, .delayed = 1, .leased = 1}, "lease");
    ck_assert_int_eq(tp_ack(&t, a, T0), Q_OK);
    check(&t, "q", (want){.enq = 10, .acked = 1, .ready = 8, .delayed = 1}, "ack");

    uint64_t n1 = tp_lease1(&t, "q", 60000, T0);                   /* id[1] */
    nack(&t, n1, &(q_nack){.reason = "bad", .reason_len = 3}, T0); /* last attempt: dead */
    check(&t, "q", (want){.enq = 10, .acked = 1, .dead = 1, .ready = 7, .delayed = 1, .held = 1},
          "nack to dead");
    uint64_t x = tp_lease1(&t, "q", 1000, T0); /* id[2]: its lease runs out */
    tp_tick(&t, T0 + 1000);
    ck_assert_int_eq(tp_state(&t, x), Q_TASK_DEAD);
    check(&t, "q", (want){.enq = 10, .acked = 1, .dead = 2, .ready = 6, .delayed = 1, .held = 2},
          "expiry to dead");

    uint64_t commit, rd;
    q_item it;
    q_err e;
    ck_assert_int_eq(q_part_redrive(t.p, "q", 1, &n1, 1, T0, &it, &rd, &commit, &e), Q_OK);
    ck_assert_uint_eq(rd, 1);
    check(&t, "q",
          (want){
              .enq = 10, .redriven = 1, .acked = 1, .dead = 2, .ready = 7, .delayed = 1, .held = 1},
          "redrive one");
    del(&t, x); /* a dead task: it leaves the dead letters */
    check(&t, "q",
          (want){.enq = 10,
                 .redriven = 1,
                 .acked = 1,
                 .dead = 2,
                 .dropped = 1,
                 .ready = 7,
                 .delayed = 1},
          "delete a dead task");
    del(&t, id[7]); /* a ready task */
    check(&t, "q",
          (want){.enq = 10,
                 .redriven = 1,
                 .acked = 1,
                 .dead = 2,
                 .deleted = 1,
                 .dropped = 1,
                 .ready = 6,
                 .delayed = 1},
          "delete a ready task");

    /* dead_letter off: a death is dropped at once. */
    q_queue_cfg off = {.dead_letter = false};
    tp_cfg(&t, "q", Q_CFG_DEAD_LETTER, &off);
    uint64_t y = tp_lease1(&t, "q", 60000, T0);
    nack(&t, y, &(q_nack){.dead_letter = true}, T0);
    check(&t, "q",
          (want){.enq = 10,
                 .redriven = 1,
                 .acked = 1,
                 .dead = 3,
                 .deleted = 1,
                 .dropped = 2,
                 .ready = 5,
                 .delayed = 1},
          "dead, not kept");
    q_queue_cfg on = {.dead_letter = true};
    tp_cfg(&t, "q", Q_CFG_DEAD_LETTER, &on);
    uint64_t z = tp_lease1(&t, "q", 60000, T0);
    nack(&t, z, &(q_nack){.dead_letter = true}, T0);
    (void)tp_lease1(&t, "q", 60000, T0); /* one stays leased through the purge */
    want before_purge = {.enq = 10,
                         .redriven = 1,
                         .acked = 1,
                         .dead = 4,
                         .deleted = 1,
                         .dropped = 2,
                         .ready = 3,
                         .delayed = 1,
                         .leased = 1,
                         .held = 1};
    check(&t, "q", before_purge, "before purge");

    /* A restart: the same counters from the log; the lease is dropped (ready again). */
    tp_close(&t);
    tp_reopen(&t, T0 + 1000);
    mismatches(&t, 0);
    before_purge.ready += before_purge.leased;
    before_purge.leased = 0;
    check(&t, "q", before_purge, "after restart");

    (void)tp_lease1(&t, "q", 60000, T0 + 1000);
    uint64_t purged;
    ck_assert_int_eq(q_part_purge(t.p, "q", 1, T0 + 1000, &purged, &commit, &e), Q_OK);
    ck_assert_uint_eq(purged, 6); /* 4 ready/leased + 1 delayed + 1 dead */
    want after_purge = {
        .enq = 10, .redriven = 1, .acked = 1, .dead = 4, .deleted = 1, .purged = 5, .dropped = 3};
    check(&t, "q", after_purge, "purge");
    tp_enq(&t, "q", "again", 0, T0 + 1000);
    tp_enq(&t, "q", "and again", 0, T0 + 1000);
    after_purge.enq += 2;
    after_purge.ready = 2;
    check(&t, "q", after_purge, "enqueue after purge");
    tp_close(&t);
    tp_reopen(&t, T0 + 2000);
    check(&t, "q", after_purge, "after second restart");

    /* DeleteQueue: the queue that comes back under that name starts its own ledger. */
    uint64_t gone;
    ck_assert_int_eq(q_part_delete_queue(t.p, "q", 1, false, T0, &gone, &commit, &e), Q_OK);
    ck_assert_int_eq(q_part_audit(t.p, "q", 1, &(q_audit){0}, &e), Q_NOT_FOUND);
    tp_enq(&t, "q", "new", 0, T0 + 2000);
    check(&t, "q", (want){.enq = 1, .ready = 1}, "new queue after delete");
    tp_close(&t);
    tp_reopen(&t, T0 + 3000);
    check(&t, "q", (want){.enq = 1, .ready = 1}, "new queue after restart");
    mismatches(&t, 0);
    tp_done(&t);
}
END_TEST

static uint64_t compact_until_small(tp *t, uint64_t now)
{
    for (int round = 0; round < 10 && tp_segments(t) > 2; round++) {
        now += 1000;
        tp_tick(t, now);
    }
    ck_assert_uint_le(tp_segments(t), 2);
    return now;
}

START_TEST(compaction_and_retention_keep_the_counters)
{
    tp t;
    tp_open(&t, SMALL);
    uint64_t ids[2000];
    for (int i = 0; i < 2000; i++) ids[i] = tp_enq_body(&t, "q", i, T0);
    tp_enq_body(&t, "gone", 0, T0); /* a second queue, all acked: nothing of it stays live */
    tp_ack_all_but(&t, "gone", NULL, 0, T0);
    uint64_t keep[3] = {ids[5], ids[10], ids[1500]};
    tp_ack_all_but(&t, "q", keep, 3, T0);
    nack(&t, ids[10], &(q_nack){.dead_letter = true}, T0);
    want w = {.enq = 2000, .acked = 1997, .dead = 1, .leased = 2, .held = 1};
    check(&t, "q", w, "before compaction");
    uint64_t now = compact_until_small(&t, T0);
    ck_assert_uint_gt(q_log_oldest(q_part_log(t.p)), ids[1500]); /* the counted records: gone */
    check(&t, "q", w, "after compaction");
    check(&t, "gone", (want){.enq = 1, .acked = 1}, "after compaction (other queue)");
    tp_close(&t);
    tp_reopen(&t, now);
    w.ready = 2, w.leased = 0;
    check(&t, "q", w, "reopened after compaction");
    check(&t, "gone", (want){.enq = 1, .acked = 1}, "reopened (other queue)");
    mismatches(&t, 0);

    /* More traffic moves the LEDGER records themselves into the oldest segment: moved again. */
    for (int i = 0; i < 1500; i++) tp_enq_body(&t, "q", i, now);
    tp_ack_all_but(&t, "q", keep, 3, now);
    w.enq += 1500, w.acked += 1500, w.ready = 0, w.leased = 2;
    now = compact_until_small(&t, now);
    check(&t, "q", w, "second compaction");
    tp_close(&t);
    tp_reopen(&t, now);
    w.ready = 2, w.leased = 0;
    check(&t, "q", w, "reopened after the second compaction");
    check(&t, "gone", (want){.enq = 1, .acked = 1}, "reopened twice (other queue)");
    mismatches(&t, 0);
    tp_done(&t);
}
END_TEST

/* A task whose original ENQUEUE is older than its queue's LEDGER record dies after that
 * record; then compaction copies it. Replay meets its DEAD record before the copy (no task to
 * count it for): the copy must be followed by a fresh LEDGER record, or the death is lost. */
START_TEST(a_death_between_the_ledger_and_the_copy_is_kept)
{
    tp t;
    tp_open(&t, SMALL);
    uint64_t a = tp_enq_body(&t, "q", 0, T0); /* segment 0 */
    for (int i = 0; i < 400; i++) tp_enq_body(&t, "f", i, T0);
    uint64_t x = tp_enq_body(&t, "q", 1, T0); /* a later segment */
    for (int i = 0; i < 400; i++) tp_enq_body(&t, "f", i, T0);
    tp_ack_all_but(&t, "f", NULL, 0, T0);
    uint64_t now = T0 + 1000;
    tp_tick(&t, now); /* compacts segment 0 only: a moves, q's ledger goes to a LEDGER record */
    tp_tick(&t, now += 1000); /* the copies are durable: segment 0 goes */
    ck_assert_uint_gt(q_log_oldest(q_part_log(t.p)), a);
    ck_assert_uint_le(q_log_oldest(q_part_log(t.p)), x); /* x's original is still there */
    q_leased l[2];
    ck_assert_uint_eq(tp_lease(&t, "q", 2, 1000000, now, l), 2);
    ck_assert_uint_eq(l[1].id, x);
    nack(&t, x, &(q_nack){.dead_letter = true}, now); /* a DEAD record after the LEDGER one */
    ck_assert_int_eq(tp_ack(&t, a, now), Q_OK);
    want w = {.enq = 2, .acked = 1, .dead = 1, .held = 1};
    check(&t, "q", w, "before");
    now = compact_until_small(&t, now); /* x's original segment goes: x is copied */
    ck_assert_uint_gt(q_log_oldest(q_part_log(t.p)), x);
    check(&t, "q", w, "after compaction");
    tp_close(&t);
    tp_reopen(&t, now);
    check(&t, "q", w, "reopened");
    mismatches(&t, 0);
    tp_done(&t);
}
END_TEST

/* Tasks enqueued before their queue's LEDGER record and acked after it; then retention
 * deletes their ENQUEUE records (nothing live is left there). Replay meets the acks with no
 * task to count them for: retention must first write a LEDGER record that covers them. */
START_TEST(acks_after_the_ledger_of_tasks_retention_deleted)
{
    tp t;
    tp_open(&t, SMALL);
    uint64_t ids[600], early[600], late[600];
    uint32_t ne = 0, nl = 0;
    for (int i = 0; i < 600; i++) ids[i] = tp_enq_body(&t, "q", i, T0);
    uint64_t s0_end = q_log_oldest_segment_end(q_part_log(t.p));
    static q_leased l[Q_BATCH_MAX];
    ck_assert_uint_eq(tp_lease(&t, "q", Q_BATCH_MAX, 1000000, T0, l), 600);
    for (int i = 0; i < 600; i++) {
        if (ids[i] < s0_end) early[ne++] = ids[i];
        else late[nl++] = ids[i];
    }
    ck_assert_uint_gt(nl, 100);
    static q_item it[600];
    /* Acks as one record each time, and live tasks of another queue around the LEDGER record:
     * its segment stays mostly live, so no compaction writes a newer one. */
    ck_assert_int_eq(ack_ids(&t, early, ne, T0, it), Q_OK);
    for (int i = 0; i < 400; i++) tp_enq_body(&t, "f", i, T0);
    uint64_t now = T0 + 1000;
    tp_tick(&t, now);         /* segment 0 holds only q's ledger pin: a LEDGER record at the head */
    tp_tick(&t, now += 1000); /* that record is durable: segment 0 goes */
    ck_assert_uint_ge(q_log_oldest(q_part_log(t.p)), s0_end);
    ck_assert_int_eq(ack_ids(&t, late, nl, now, it), Q_OK);
    for (uint32_t i = 0; i < nl; i++) ck_assert_int_eq(it[i].code, Q_OK);
    for (int i = 0; i < 200; i++) tp_enq_body(&t, "f", i, now);
    want w = {.enq = 600, .acked = 600};
    check(&t, "q", w, "before");
    for (int round = 0; round < 5; round++) tp_tick(&t, now += 1000);
    ck_assert_uint_gt(q_log_oldest(q_part_log(t.p)), late[0]); /* ENQUEUEs of some: gone */
    check(&t, "q", w, "after retention");
    tp_close(&t);
    tp_reopen(&t, now);
    check(&t, "q", w, "reopened");
    check(&t, "f", (want){.enq = 600, .ready = 600}, "reopened (f)");
    mismatches(&t, 0);
    tp_done(&t);
}
END_TEST

/* ---- Power loss, simulated: "the disk" is a copy of the log directory taken right after each
 * fsync / fdatasync of a file (what the log asked to be durable is there, nothing appended
 * after it), from which every segment the log unlinks is removed at once (the log syncs the
 * directory right after). Reopening from that copy is the start after a power cut. */
static char disk_src[64], disk_dir[64];

static void copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(in, 0);
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_int_ge(out, 0);
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0) ck_assert_int_eq(write(out, buf, (size_t)n), n);
    ck_assert_int_eq(n, 0);
    close(in);
    close(out);
}

/* Makes `to` hold exactly the regular files of `from`. */
static void mirror_dir(const char *from, const char *to)
{
    tq_rmdir(to);
    ck_assert_int_eq(mkdir(to, 0755), 0);
    DIR *d = opendir(from);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_type != DT_REG) continue;
        char a[512], b[512];
        snprintf(a, sizeof a, "%s/%s", from, e->d_name);
        snprintf(b, sizeof b, "%s/%s", to, e->d_name);
        copy_file(a, b);
    }
    closedir(d);
}

static void disk_after_sync(int fd)
{
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) mirror_dir(disk_src, disk_dir);
}

static int disk_fdatasync(int fd)
{
    int r = fdatasync(fd);
    if (r == 0) disk_after_sync(fd);
    return r;
}

static int disk_fsync(int fd)
{
    int r = fsync(fd);
    if (r == 0) disk_after_sync(fd);
    return r;
}

static int disk_unlinkat(int dirfd, const char *path, int flags)
{
    int r = unlinkat(dirfd, path, flags);
    if (r == 0) {
        char b[512];
        snprintf(b, sizeof b, "%s/%s", disk_dir, path);
        (void)unlink(b); /* a segment created after the last sync is not on "the disk" */
    }
    return r;
}

static void disk_start(tp *t)
{
    snprintf(disk_src, sizeof disk_src, "%s", t->dir);
    tq_mkdtemp(disk_dir);
    mirror_dir(disk_src, disk_dir);
    q_sys.fdatasync = disk_fdatasync;
    q_sys.fsync = disk_fsync;
    q_sys.unlinkat = disk_unlinkat;
}

/* The power goes: the partition is dropped without a commit (its files closed as they are) and
 * the directory becomes what "the disk" holds. */
static void disk_power_cut(tp *t)
{
    q_sys_reset();
    tp_close(t); /* q_part_close commits nothing */
    mirror_dir(disk_dir, t->dir);
    tq_rmdir(disk_dir);
}

/* Retention writes LEDGER records for the acks after q's last one, then deletes the segment
 * with those tasks' ENQUEUE records. If it deleted in the same pass, a power cut before the
 * next commit kept the deletion and lost the LEDGER records: the next start could not count
 * the acks (no task to count them for) and found q unbalanced. The deletion must wait for the
 * commit covering them; a power cut after every retention pass must find q balanced. */
START_TEST(a_power_cut_after_retention_keeps_the_ledger)
{
    tp t;
    tp_open(&t, SMALL);
    uint64_t ids[600], early[600], late[600];
    uint32_t ne = 0, nl = 0;
    for (int i = 0; i < 600; i++) ids[i] = tp_enq_body(&t, "q", i, T0);
    uint64_t s0_end = q_log_oldest_segment_end(q_part_log(t.p));
    static q_leased l[Q_BATCH_MAX];
    ck_assert_uint_eq(tp_lease(&t, "q", Q_BATCH_MAX, 1000000, T0, l), 600);
    for (int i = 0; i < 600; i++) {
        if (ids[i] < s0_end) early[ne++] = ids[i];
        else late[nl++] = ids[i];
    }
    static q_item it[600];
    ck_assert_int_eq(ack_ids(&t, early, ne, T0, it), Q_OK);
    for (int i = 0; i < 400; i++) tp_enq_body(&t, "f", i, T0);
    uint64_t now = T0 + 1000;
    tp_tick(&t, now);
    tp_tick(&t, now += 1000); /* q's first LEDGER record at the head; segment 0 gone */
    ck_assert_uint_ge(q_log_oldest(q_part_log(t.p)), s0_end);
    ck_assert_int_eq(ack_ids(&t, late, nl, now, it), Q_OK);
    for (uint32_t i = 0; i < nl; i++) ck_assert_int_eq(it[i].code, Q_OK);
    for (int i = 0; i < 200; i++) tp_enq_body(&t, "f", i, now);
    uint64_t before = q_log_oldest(q_part_log(t.p));
    disk_start(&t);
    /* Retention passes until the late tasks' ENQUEUE records are gone from "the disk" too. */
    for (int round = 0; round < 8 && q_log_oldest(q_part_log(t.p)) <= late[0]; round++)
        tp_tick(&t, now += 1000);
    ck_assert_uint_gt(q_log_oldest(q_part_log(t.p)), before);
    ck_assert_uint_gt(q_log_oldest(q_part_log(t.p)), late[0]);
    disk_power_cut(&t);
    tp_reopen(&t, now);
    check(&t, "q", (want){.enq = 600, .acked = 600}, "after the power cut");
    mismatches(&t, 0);
    tp_done(&t);
}
END_TEST

/* A log from a build before LEDGER records, whose compaction copied a live task and whose
 * retention then deleted the first segment: replay counts the copy's task as ready but not as
 * enqueued (a copy never counts; its original did, in the segment that is gone). That queue
 * cannot balance — not a finding but a history that starts mid-way: Audit says "incomplete
 * since <oldest offset>", nothing is logged as a mismatch or counted, and the mark survives
 * the LEDGER records retention writes later and the restarts after them. */
START_TEST(a_log_from_before_ledger_records_is_incomplete_not_unbalanced)
{
    tp t;
    tp_open(&t, SMALL);
    uint64_t a = tp_enq_body(&t, "q", 0, T0); /* segment 0 */
    for (int i = 0; i < 400; i++) tp_enq_body(&t, "f", i, T0);
    tp_ack_all_but(&t, "f", NULL, 0, T0);
    ck_assert_int_eq(q_log_commit(q_part_log(t.p)), 0);
    tp_close(&t); /* no tick: no LEDGER record was ever written, as by the old build */
    /* The old build's compaction and retention, straight on the log. */
    q_log *log;
    ck_assert_int_eq(q_log_open(t.dir, &t.o.log, &log, NULL), 0);
    ck_assert_int_ge(q_log_compact(log, a), 0);
    uint64_t s0_end = q_log_oldest_segment_end(log);
    ck_assert_int_eq(q_log_commit(log), 0);
    ck_assert_int_ge(q_log_retain(log, s0_end), 1);
    uint64_t oldest = q_log_oldest(log);
    ck_assert_uint_gt(oldest, a);
    ck_assert_int_eq(q_log_close(log), 0);

    tp_reopen(&t, T0);
    q_audit qa = audit(&t, "q");
    ck_assert(!qa.balanced); /* the counters miss the lost history: enqueued 0, ready 1 */
    ck_assert_uint_eq(qa.led.enqueued, 0);
    ck_assert_uint_eq(qa.ready, 1);
    ck_assert_uint_eq(qa.incomplete_since, oldest);
    q_audit fa = audit(&t, "f"); /* balances: its history is complete enough */
    ck_assert(fa.balanced);
    ck_assert_uint_eq(fa.incomplete_since, UINT64_MAX);
    ck_assert_uint_eq(q_part_audit_all(t.p, NULL, NULL), 0);
    mismatches(&t, 0);
    /* Traffic until retention deletes segments again: it writes q's LEDGER record first, with
     * the mark; the next start reads it there. */
    uint64_t now = T0;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 400; i++) tp_enq_body(&t, "f", i, now);
        tp_ack_all_but(&t, "f", NULL, 0, now);
        tp_tick(&t, now += 1000);
        tp_tick(&t, now += 1000);
    }
    ck_assert_uint_gt(q_log_oldest(q_part_log(t.p)), oldest);
    tp_close(&t);
    tp_reopen(&t, now);
    qa = audit(&t, "q");
    ck_assert_uint_eq(qa.incomplete_since, oldest);
    ck_assert_uint_eq(qa.ready, 1);
    ck_assert(audit(&t, "f").balanced);
    mismatches(&t, 0);
    tp_done(&t);
}
END_TEST

/* Appends a LEDGER record for `q` with these counters straight to the log. */
static void put_ledger(q_log *log, const char *q, const q_ledger *led)
{
    q_prec r = {.type = Q_RT_LEDGER, .name = q, .name_len = (uint32_t)strlen(q), .led = *led};
    uint8_t fixed[Q_PREC_FIXED_BYTES_MAX];
    struct iovec iov[4];
    int n = q_prec_encode(&r, fixed, iov);
    ck_assert_int_ge(q_log_appendv(log, Q_RT_LEDGER, iov, n), 0);
}

START_TEST(a_mismatch_is_logged_counted_and_left_alone)
{
    tp t;
    tp_open(&t, SEG);
    tp_enq(&t, "ok", "x", 0, T0);
    tp_enq(&t, "q", "x", 0, T0);
    tp_close(&t);
    /* A ledger that claims 5 tasks went in while 1 is there: no code path writes this. */
    q_log *log;
    ck_assert_int_eq(q_log_open(t.dir, &t.o.log, &log, NULL), 0);
    put_ledger(log, "q", &(q_ledger){.enqueued = 5, .acked = 1});
    ck_assert_int_eq(q_log_commit(log), 0);
    ck_assert_int_eq(q_log_close(log), 0);

    tp_reopen(&t, T0); /* the start goes on */
    mismatches(&t, 1);
    q_audit a = audit(&t, "q");
    ck_assert(!a.balanced && !a.tasks_balanced && a.dead_balanced);
    ck_assert_uint_eq(a.led.enqueued, 5); /* as found: not "fixed" */
    ck_assert_uint_eq(a.led.acked, 1);
    ck_assert_uint_eq(a.ready, 1);
    mismatches(&t, 2); /* the audit counted it again */
    ck_assert(audit(&t, "ok").balanced);
    ck_assert_uint_eq(q_part_audit_all(t.p, NULL, NULL), 1);
    mismatches(&t, 3);

    /* The queue still works, and the counters keep counting from where they were. */
    ck_assert_int_eq(tp_ack(&t, tp_lease1(&t, "q", 60000, T0), T0), Q_OK);
    a = audit(&t, "q");
    ck_assert_uint_eq(a.led.acked, 2);
    ck_assert(!a.balanced);
    tp_close(&t);
    tp_reopen(&t, T0);
    mismatches(&t, 1); /* still there at the next start */
    ck_assert_uint_eq(audit(&t, "q").led.enqueued, 5);
    tp_done(&t);
}
END_TEST

START_TEST(audit_errors_and_record_round_trip)
{
    tp t;
    tp_open(&t, SEG);
    q_audit a;
    q_err e;
    ck_assert_int_eq(q_part_audit(t.p, "nope", 4, &a, &e), Q_NOT_FOUND);
    ck_assert_int_eq(q_part_audit(t.p, "a/b", 3, &a, &e), Q_INVALID_ARGUMENT);
    ck_assert_uint_eq(q_part_audit_all(t.p, NULL, NULL), 0);
    tp_done(&t);

    q_prec r = {.type = Q_RT_LEDGER, .name = "mail", .name_len = 4, .led = {1, 2, 3, 4, 5, 6, 7}};
    uint8_t fixed[Q_PREC_FIXED_BYTES_MAX], flat[128];
    struct iovec iov[4];
    int n = q_prec_encode(&r, fixed, iov);
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        memcpy(flat + len, iov[i].iov_base, iov[i].iov_len);
        len += iov[i].iov_len;
    }
    ck_assert_uint_eq(len, 68);
    q_prec d;
    ck_assert_int_eq(q_prec_decode(Q_RT_LEDGER, flat, (uint32_t)len, &d), 0);
    ck_assert_int_eq(memcmp(&d.led, &r.led, sizeof d.led), 0);
    ck_assert(d.name_len == 4 && memcmp(d.name, "mail", 4) == 0);
    ck_assert_int_eq(q_prec_decode(Q_RT_LEDGER, flat, (uint32_t)len - 1, &d), -EBADMSG);
    ck_assert_str_eq(q_prec_type_name(Q_RT_LEDGER), "ledger");
}
END_TEST

int main(void)
{
    log_set_level(LOG_WARN);
    const TTest *tests[] = {every_action_moves_its_term_and_balances,
                            compaction_and_retention_keep_the_counters,
                            a_death_between_the_ledger_and_the_copy_is_kept,
                            acks_after_the_ledger_of_tasks_retention_deleted,
                            a_power_cut_after_retention_keeps_the_ledger,
                            a_log_from_before_ledger_records_is_incomplete_not_unbalanced,
                            a_mismatch_is_logged_counted_and_left_alone,
                            audit_errors_and_record_round_trip};
    return tq_run("q_part_ledger", "ledger", 60, tests, sizeof tests / sizeof tests[0]);
}
