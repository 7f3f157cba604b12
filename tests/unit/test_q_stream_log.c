/* queue/q_stream across restarts: reopen rebuilds streams, index, subject counts, dedup ids and
 * TTL deadlines; a torn tail loses only the unsynced message; compaction keeps live messages
 * readable under their seqs; the consumer layer's hooks see what they should. */
#include <fcntl.h>
#include <inttypes.h>
#include <unistd.h>

#include "test_q_stream_util.h"

#include "core/rt_log.h"

#define SMALL (64u * 1024u) /* ~250 messages of 200 bytes per segment: many segments */

/* Everything observable about a stream, for before/after comparisons. */
typedef struct snap {
    q_stream_state st;
    uint64_t seqs[64];
    char bodies[64][32];
    uint32_t n;
    q_subject_count cnt[16];
    char subj[16][32];
    uint32_t ncnt;
} snap;

static void take(tp *t, q_stream *s, snap *sn)
{
    memset(sn, 0, sizeof *sn);
    bool trunc;
    q_err e;
    ck_assert_int_eq(
        q_stream_info(t->p, s, T0, ">", 1, sn->cnt, 16, &sn->ncnt, &trunc, &sn->st, &e), Q_OK);
    for (uint32_t i = 0; i < sn->ncnt; i++) {
        memcpy(sn->subj[i], sn->cnt[i].subject, sn->cnt[i].subject_len);
        sn->cnt[i].subject = sn->subj[i];
    }
    q_smsg m;
    uint64_t resume = 1;
    while (q_stream_next(t->p, s, resume, NULL, 0, &m, &resume, &e) == Q_OK && sn->n < 64) {
        sn->seqs[sn->n] = m.seq;
        memcpy(sn->bodies[sn->n], m.payload, m.payload_len < 31 ? m.payload_len : 31);
        sn->n++;
    }
}

static void same(const snap *a, const snap *b)
{
    ck_assert_uint_eq(a->st.messages, b->st.messages);
    ck_assert_uint_eq(a->st.bytes, b->st.bytes);
    ck_assert_uint_eq(a->st.first_seq, b->st.first_seq);
    ck_assert_uint_eq(a->st.last_seq, b->st.last_seq);
    ck_assert_uint_eq(a->st.first_ms, b->st.first_ms);
    ck_assert_uint_eq(a->st.last_ms, b->st.last_ms);
    ck_assert_uint_eq(a->st.num_subjects, b->st.num_subjects);
    ck_assert_uint_eq(a->st.num_deleted, b->st.num_deleted);
    ck_assert_uint_eq(a->n, b->n);
    for (uint32_t i = 0; i < a->n; i++) {
        ck_assert_uint_eq(a->seqs[i], b->seqs[i]);
        ck_assert_str_eq(a->bodies[i], b->bodies[i]);
    }
    ck_assert_uint_eq(a->ncnt, b->ncnt);
    for (uint32_t i = 0; i < a->ncnt; i++) {
        ck_assert_str_eq(a->subj[i], b->subj[i]);
        ck_assert_uint_eq(a->cnt[i].messages, b->cnt[i].messages);
    }
}

static q_pub_result pub_id(tp *t, q_stream *s, const char *subject, const char *body,
                           const char *id, uint64_t ttl_ms, uint64_t now)
{
    q_smsg_spec m = ts_spec(subject, body);
    m.msg_id = id;
    m.msg_id_len = id ? (uint32_t)strlen(id) : 0;
    m.ttl_ms = ttl_ms;
    q_pub_result r;
    q_err e;
    ck_assert_int_eq(ts_pub_spec(t, s, &m, now, &r, &e), Q_OK);
    return r;
}

START_TEST(reopen_rebuilds_every_stream)
{
    tp t;
    tp_open(&t, 1 << 20);
    ts_cfg tc;
    const char *const subs[] = {"orders.>", "refunds", NULL};
    q_stream_cfg *c = ts_cfg_init(&tc, "orders", subs);
    c->allow_msg_ttl = true;
    c->max_msgs_per_subject = 3;
    c->description = "the orders";
    c->description_len = 10;
    q_stream *s = ts_create(&t, c, T0);
    ts_create(&t, ts_cfg_init(&tc, "gone", NULL), T0);
    for (int i = 0; i < 12; i++) {
        char b[24];
        snprintf(b, sizeof b, "body-%d", i);
        ts_pub(&t, s, i % 3 ? "orders.eu" : "refunds", b, T0 + (uint64_t)i);
    }
    q_pub_result dup = pub_id(&t, s, "orders.us", "with-id", "id-1", 0, T0 + 20);
    pub_id(&t, s, "orders.us", "expiring", NULL, 60000, T0 + 21);
    uint64_t commit, purged;
    q_err e;
    ck_assert_int_eq(q_stream_remove(t.p, s, 11, T0, &commit, &e), Q_OK);
    ck_assert_int_eq(q_stream_purge(t.p, s, "refunds", 7, 0, 1, T0, &purged, &commit, &e), Q_OK);
    ck_assert_uint_eq(purged, 2);
    ck_assert_int_eq(q_stream_delete(t.p, "gone", 4, T0, &commit, &e), Q_OK);
    ck_assert_int_eq(q_stream_delete(t.p, "gone", 4, T0, &commit, &e), Q_NOT_FOUND);
    snap before, after;
    take(&t, s, &before);
    uint32_t id = q_stream_id(s);
    tp_close(&t);
    tp_reopen(&t, T0 + 100);
    s = ts_find(&t, "orders");
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_null(ts_find(&t, "gone"));
    ck_assert_uint_eq(q_stream_count(t.p), 1);
    ck_assert_uint_eq(q_stream_id(s), id);
    take(&t, s, &after);
    same(&before, &after);
    q_stream_cfg got;
    q_stream_config(s, &got);
    ck_assert_uint_eq(got.nsubjects, 2);
    ck_assert(got.subjects[1].len == 7 && memcmp(got.subjects[1].ptr, "refunds", 7) == 0);
    ck_assert(got.description_len == 10 && memcmp(got.description, "the orders", 10) == 0);
    ck_assert_uint_eq(got.max_msgs_per_subject, 3);
    ck_assert_uint_eq(q_stream_created_ms(s), T0);
    /* The msg_id is remembered, the TTL deadline kept, seqs go on. */
    q_pub_result r = pub_id(&t, s, "orders.us", "again", "id-1", 0, T0 + 200);
    ck_assert(r.duplicate);
    ck_assert_uint_eq(r.seq, dup.seq);
    ck_assert_uint_eq(q_part_next_ms(t.p), T0 + 21 + 60000);
    tp_tick(&t, T0 + 21 + 60000);
    ck_assert(ts_gone(&t, s, dup.seq + 1));
    ck_assert_uint_eq(ts_pub(&t, s, "orders.x", "next", T0), before.st.last_seq + 1);
    /* A stream created again under a deleted name starts anew. */
    q_stream *g = ts_create(&t, ts_cfg_init(&tc, "gone", NULL), T0);
    ck_assert_uint_ne(q_stream_id(g), id);
    ck_assert_uint_eq(ts_pub(&t, g, "gone", "x", T0), 1);
    tp_close(&t);
    tp_reopen(&t, T0 + 100);
    ck_assert_uint_eq(q_stream_last_seq(ts_find(&t, "gone")), 1);
    tp_done(&t);
}
END_TEST

/* The tail segment's file (the newest: names sort by base offset). */
static void tail_file(tp *t, char path[256], uint32_t *used)
{
    q_log_stats st;
    q_log_get_stats(q_part_log(t->p), &st);
    char name[64];
    uint64_t base, end;
    uint32_t bytes;
    ck_assert_int_eq(
        q_log_segment_info(q_part_log(t->p), st.segments - 1, name, &base, &end, used, &bytes), 0);
    snprintf(path, 256, "%s/%s", t->dir, name);
}

START_TEST(torn_tail_loses_only_the_unsynced_message)
{
    tp t;
    tp_open(&t, 1 << 20);
    ts_cfg tc;
    q_stream *s = ts_create(&t, ts_cfg_init(&tc, "t", NULL), T0);
    for (int i = 0; i < 5; i++) ts_pub(&t, s, "t", "synced", T0);
    ck_assert_int_eq(q_log_commit(q_part_log(t.p)), 0);
    ts_pub(&t, s, "t", "kept-too", T0);
    ts_pub(&t, s, "t", "torn-away", T0);
    char path[256];
    uint32_t used;
    tail_file(&t, path, &used);
    tp_close(&t);
    /* Flip a byte of the last record's payload: its checksum fails, recovery cuts there. */
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    uint8_t b;
    ck_assert_int_eq(pread(fd, &b, 1, used - 8), 1);
    b ^= 0x5a;
    ck_assert_int_eq(pwrite(fd, &b, 1, used - 8), 1);
    close(fd);
    tp_reopen(&t, T0);
    s = ts_find(&t, "t");
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(q_stream_last_seq(s), 6);
    ck_assert_uint_eq(q_stream_msgs(s), 6);
    ts_expect(&t, s, 6, "t", "kept-too");
    ck_assert(ts_gone(&t, s, 7));
    ck_assert_uint_eq(ts_pub(&t, s, "t", "after", T0), 7);
    tp_done(&t);
}
END_TEST

static void body(char b[201], int i)
{
    memset(b, 'a' + i % 26, 200);
    b[200] = 0;
    snprintf(b, 201, "msg-%06d-", i);
    b[strlen(b)] = 'z';
}

START_TEST(compaction_keeps_live_messages_and_their_seqs)
{
    tp t;
    tq_mkdtemp(t.dir);
    tp_opts(&t, SMALL);
    t.o.log.record_bytes_max = 4096;
    tp_reopen(&t, T0);
    ts_cfg tc;
    q_stream_cfg *c = ts_cfg_init(&tc, "big", NULL);
    c->has_dup_window = true;
    c->dup_window_ms = 86400000;
    q_stream *s = ts_create(&t, c, T0);
    q_pub_result idr = pub_id(&t, s, "big", "first, with an id", "the-id", 0, T0);
    char b[201];
    for (int i = 2; i <= 2000; i++) {
        body(b, i);
        ck_assert_uint_eq(ts_pub(&t, s, "big", b, T0), (uint64_t)i);
    }
    uint32_t before = tp_segments(&t);
    ck_assert_uint_gt(before, 5);
    uint64_t commit;
    q_err e;
    const uint64_t live[] = {5, 700, 1500};
    for (uint64_t q = 1; q <= 2000; q++)
        if (q != live[0] && q != live[1] && q != live[2])
            ck_assert_int_eq(q_stream_remove(t.p, s, q, T0, &commit, &e), Q_OK);
    for (int round = 0; round < 20 && tp_segments(&t) > 3; round++)
        tp_tick(&t, T0 + 1000 * (uint64_t)(round + 1));
    ck_assert_uint_le(tp_segments(&t), 3);
    q_part_stats ps;
    q_part_get_stats(t.p, &ps);
    ck_assert_uint_gt(ps.compactions, 0);
    for (int i = 0; i < 3; i++) {
        body(b, (int)live[i]);
        ts_expect(&t, s, live[i], "big", b);
    }
    ck_assert_uint_eq(ts_state(&t, s, T0).first_seq, 5);
    tp_close(&t);
    tp_reopen(&t, T0 + 30000);
    s = ts_find(&t, "big");
    ck_assert_ptr_nonnull(s);
    q_stream_state st = ts_state(&t, s, T0);
    ck_assert_uint_eq(st.messages, 3);
    ck_assert_uint_eq(st.first_seq, 5);
    ck_assert_uint_eq(st.last_seq, 2000);
    ck_assert_uint_eq(st.num_deleted, 2000 - 5 + 1 - 3);
    for (int i = 0; i < 3; i++) {
        body(b, (int)live[i]);
        ts_expect(&t, s, live[i], "big", b);
    }
    /* The removed first message's id outlived its record's segment. */
    q_pub_result r = pub_id(&t, s, "big", "dup", "the-id", 0, T0 + 30000);
    ck_assert(r.duplicate);
    ck_assert_uint_eq(r.seq, idr.seq);
    ck_assert_uint_eq(ts_pub(&t, s, "big", "new", T0), 2001);
    tp_done(&t);
}
END_TEST

/* The oldest segment (the STREAM record and mostly removed messages) is compacted while the
 * next segments, all live, stay: their messages now come before the stream's STREAM record in
 * the log, and replay must still give them to the stream (and their ids the stream's window). */
START_TEST(messages_before_a_compacted_stream_record_survive)
{
    tp t;
    tq_mkdtemp(t.dir);
    tp_opts(&t, SMALL);
    t.o.log.record_bytes_max = 4096;
    tp_reopen(&t, T0);
    ts_cfg tc;
    q_stream_cfg *c = ts_cfg_init(&tc, "s", NULL);
    c->has_dup_window = true;
    c->dup_window_ms = 3600000;
    q_stream *s = ts_create(&t, c, T0);
    char b[201];
    for (int i = 1; i <= 1200; i++) {
        body(b, i);
        char id[16];
        snprintf(id, sizeof id, "id-%d", i);
        pub_id(&t, s, "s", b, i > 300 ? id : NULL, 0, T0); /* ids would pin segment 1 */
    }
    uint32_t before = tp_segments(&t);
    ck_assert_uint_gt(before, 4);
    uint64_t commit;
    q_err e;
    for (uint64_t q = 1; q <= 200; q++)
        if (q != 7) ck_assert_int_eq(q_stream_remove(t.p, s, q, T0, &commit, &e), Q_OK);
    tp_tick(&t, T0 + 1000);
    tp_tick(&t, T0 + 2000);
    q_part_stats ps;
    q_part_get_stats(t.p, &ps);
    ck_assert_uint_ge(ps.compactions, 1);
    ck_assert_uint_lt(tp_segments(&t), before); /* the first segment went */
    snap sb, sa;
    take(&t, s, &sb);
    ck_assert_uint_eq(q_stream_msgs(s), 1200 - 199);
    tp_close(&t);
    tp_reopen(&t, T0 + 1800000);
    s = ts_find(&t, "s");
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(q_stream_msgs(s), 1200 - 199);
    take(&t, s, &sa);
    same(&sb, &sa);
    for (uint64_t q = 201; q <= 1200; q += 149) {
        body(b, (int)q);
        ts_expect(&t, s, q, "s", b);
    }
    body(b, 7);
    ts_expect(&t, s, 7, "s", b);
    /* Ids: inside the stream's window after the reopen, and with that window, not 7 days. */
    q_pub_result r = pub_id(&t, s, "s", "again", "id-600", 0, T0 + 1800000);
    ck_assert(r.duplicate);
    ck_assert_uint_eq(r.seq, 600);
    tp_close(&t);
    tp_reopen(&t, T0 + 3600001);
    s = ts_find(&t, "s");
    r = pub_id(&t, s, "s", "again", "id-601", 0, T0 + 3600001);
    ck_assert(!r.duplicate);
    ck_assert_uint_eq(r.seq, 1201);
    tp_done(&t);
}
END_TEST

/* ---- hooks ---- */

#define T_RT_CONS 20u

static struct {
    uint64_t publishes, last_seq, removes, removed_sum, deletes, closes, replays, replay_done,
        compacts;
    uint64_t cons_rec; /* the test's consumer record (pinned) */
    uint32_t replay_stream;
} hk;

static void on_publish(q_part *p, q_stream *s, uint64_t last_seq)
{
    hk.publishes++;
    hk.last_seq = last_seq;
}
static void on_remove(q_part *p, q_stream *s, uint64_t seq)
{
    hk.removes++;
    hk.removed_sum += seq;
}
static void on_delete(q_part *p, q_stream *s, bool closing)
{
    if (closing) hk.closes++;
    else hk.deletes++;
    q_stream_set_consumers(s, NULL);
}
static int on_replay(q_part *p, const q_rec *rec, uint64_t now_ms)
{
    if (rec->len != 4) return -EBADMSG;
    hk.replays++;
    hk.replay_stream = q_ld32(rec->payload);
    ck_assert_ptr_nonnull(q_stream_by_id(p, hk.replay_stream));
    ck_assert(q_part_replaying(p));
    return q_stream_pin_move(p, &hk.cons_rec, rec->offset);
}
static void on_replay_done(q_part *p, uint64_t now_ms) { hk.replay_done++; }
static int on_compact(q_part *p, const q_rec *rec, uint64_t now_ms, uint64_t *moved)
{
    hk.compacts++;
    if (rec->offset != hk.cons_rec) return 0;
    struct iovec iov = {(void *)rec->payload, rec->len};
    int64_t off = q_stream_rec_append(p, rec->type, &iov, 1, false);
    if (off < 0) return (int)off;
    (*moved)++;
    return q_stream_pin_move(p, &hk.cons_rec, (uint64_t)off);
}
static const q_stream_hooks hooks = {on_publish, on_remove,      on_delete,
                                     on_replay,  on_replay_done, on_compact};

START_TEST(hooks_see_publish_remove_delete_replay_and_compaction)
{
    memset(&hk, 0, sizeof hk);
    hk.cons_rec = Q_OFF_NONE;
    q_stream_hooks_set(&hooks);
    tp t;
    tq_mkdtemp(t.dir);
    tp_opts(&t, SMALL);
    t.o.log.record_bytes_max = 4096;
    tp_reopen(&t, T0);
    ck_assert_uint_eq(hk.replay_done, 1);
    ts_cfg tc;
    q_stream_cfg *c = ts_cfg_init(&tc, "h", NULL);
    c->max_msgs = 2;
    q_stream *s = ts_create(&t, c, T0);
    int tag = 1;
    q_stream_set_consumers(s, &tag);
    ck_assert_ptr_eq(q_stream_consumers(s), &tag);
    /* A consumer record, pinned by the "consumer layer". */
    uint8_t pl[4];
    q_st32(pl, q_stream_id(s));
    struct iovec iov = {pl, 4};
    int64_t off = q_stream_rec_append(t.p, T_RT_CONS, &iov, 1, false);
    ck_assert_int_ge(off, 0);
    ck_assert_int_eq(q_stream_pin_move(t.p, &hk.cons_rec, (uint64_t)off), 0);
    ts_pub(&t, s, "h", "1", T0);
    ts_pub(&t, s, "h", "2", T0);
    ck_assert_uint_eq(hk.publishes, 2);
    ck_assert_uint_eq(hk.last_seq, 2);
    ts_pub(&t, s, "h", "3", T0); /* max_msgs: 1 goes */
    ck_assert_uint_eq(hk.removes, 1);
    ck_assert_uint_eq(hk.removed_sum, 1);
    uint64_t commit;
    q_err e;
    ck_assert_int_eq(q_stream_remove(t.p, s, 2, T0, &commit, &e), Q_OK);
    ck_assert_uint_eq(hk.removes, 1); /* the caller's own removal: no hook */
    /* Fill segments so the one holding the consumer record gets compacted. */
    q_stream *big = ts_create(&t, ts_cfg_init(&tc, "fill", NULL), T0);
    char b[201];
    for (int i = 0; i < 1500; i++) {
        body(b, i);
        ts_pub(&t, big, "fill", b, T0);
    }
    uint64_t purged;
    ck_assert_int_eq(q_stream_purge(t.p, big, NULL, 0, 0, 0, T0, &purged, &commit, &e), Q_OK);
    for (int round = 0; round < 20 && tp_segments(&t) > 3; round++)
        tp_tick(&t, T0 + 1000 * (uint64_t)(round + 1));
    ck_assert_uint_le(tp_segments(&t), 3);
    ck_assert_uint_ge(hk.compacts, 1);
    ck_assert_uint_gt(hk.cons_rec, (uint64_t)off); /* moved forward */
    tp_close(&t);
    ck_assert_uint_eq(hk.closes, 2);
    tp_reopen(&t, T0);
    ck_assert_uint_eq(hk.replays, 1); /* only the copy is left */
    ck_assert_uint_eq(hk.replay_stream, q_stream_id(ts_find(&t, "h")));
    ck_assert_uint_eq(hk.replay_done, 2);
    ts_expect(&t, ts_find(&t, "h"), 3, "h", "3");
    ck_assert_int_eq(q_stream_delete(t.p, "h", 1, T0, &commit, &e), Q_OK);
    ck_assert_uint_eq(hk.deletes, 1);
    q_stream_hooks_set(NULL);
    tp_done(&t);
}
END_TEST

START_TEST(consumer_records_without_hooks_fail_the_open)
{
    q_stream_hooks_set(NULL);
    tp t;
    tp_open(&t, 1 << 20);
    uint8_t pl[4] = {0};
    struct iovec iov = {pl, 4};
    ck_assert_int_ge(q_stream_rec_append(t.p, 21, &iov, 1, false), 0);
    tp_close(&t);
    q_log_err le;
    memset(&le, 0, sizeof le);
    ck_assert_int_eq(q_part_open(t.dir, 3, &t.o, T0, &t.p, &le), -EBADMSG);
    t.p = NULL;
    ck_assert_ptr_nonnull(le.why);
    tp_done(&t);
}
END_TEST

START_TEST(damaged_stream_record_fails_the_open)
{
    tp t;
    tp_open(&t, 1 << 20);
    uint8_t pl[8] = {0}; /* an SREMOVE claiming one range with no bytes for it */
    pl[4] = 1;
    struct iovec iov = {pl, 8};
    ck_assert_int_ge(q_stream_rec_append(t.p, 15, &iov, 1, false), 0);
    tp_close(&t);
    q_log_err le;
    memset(&le, 0, sizeof le);
    ck_assert_int_eq(q_part_open(t.dir, 3, &t.o, T0, &t.p, &le), -EBADMSG);
    t.p = NULL;
    tp_done(&t);
}
END_TEST

int main(void)
{
    log_set_level(LOG_ERROR);
    const TTest *tests[] = {reopen_rebuilds_every_stream,
                            torn_tail_loses_only_the_unsynced_message,
                            compaction_keeps_live_messages_and_their_seqs,
                            messages_before_a_compacted_stream_record_survive,
                            hooks_see_publish_remove_delete_replay_and_compaction,
                            consumer_records_without_hooks_fail_the_open,
                            damaged_stream_record_fails_the_open};
    return tq_run("q_stream_log", "replay", 120, tests, sizeof tests / sizeof tests[0]);
}
