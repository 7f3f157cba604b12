/* queue/q_stream against a model: random publishes on a few subjects under max_msgs and
 * max_msgs_per_subject (discard old), single removals, purges (by subject, keep, up_to_seq),
 * with ticks that compact and delete segments and reopens of the partition in between. After
 * every step the stream must agree with a plain array of what is kept: membership, counts,
 * first/last per subject, the filtered walk. The subject table's first/last links and the
 * index's front are the code under test. */
#include <inttypes.h>

#include "test_q_stream_util.h"

#include "core/rt_log.h"

#define STEPS 3000
#define SEQ_MAX 20000
#define NSUBJ 5
#define MAX_MSGS 60
#define PER_SUBJ 7

static const char *const SUBJ[NSUBJ] = {"m.a", "m.b", "m.c.x", "m.c.y", "m.d"};

typedef struct model {
    int8_t subj[SEQ_MAX + 1]; /* -1: not kept */
    uint64_t last;
} model;

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static uint64_t m_count(const model *m, int k)
{
    uint64_t n = 0;
    for (uint64_t q = 1; q <= m->last; q++) n += k < 0 ? m->subj[q] >= 0 : m->subj[q] == k;
    return n;
}

static uint64_t m_first(const model *m, int k)
{
    for (uint64_t q = 1; q <= m->last; q++)
        if (k < 0 ? m->subj[q] >= 0 : m->subj[q] == k) return q;
    return 0;
}

static uint64_t m_last(const model *m, int k)
{
    for (uint64_t q = m->last; q >= 1; q--)
        if (m->subj[q] == k) return q;
    return 0;
}

static void m_publish(model *m, int k)
{
    m->subj[++m->last] = (int8_t)k;
    while (m_count(m, k) > PER_SUBJ) m->subj[m_first(m, k)] = -1;
    while (m_count(m, -1) > MAX_MSGS) m->subj[m_first(m, -1)] = -1;
}

static void compare(tp *t, q_stream *s, const model *m)
{
    ck_assert_uint_eq(q_stream_last_seq(s), m->last);
    ck_assert_uint_eq(q_stream_msgs(s), m_count(m, -1));
    uint64_t first = m_first(m, -1);
    ck_assert_uint_eq(q_stream_first_seq(s), first ? first : m->last + 1);
    for (uint64_t q = 1; q <= m->last + 1; q++) ck_assert(q_stream_has(s, q) == (m->subj[q] >= 0));
    for (int k = 0; k < NSUBJ; k++) {
        uint64_t cnt;
        ck_assert_uint_eq(q_stream_subject_last(s, SUBJ[k], strlen(SUBJ[k]), &cnt), m_last(m, k));
        ck_assert_uint_eq(cnt, m_count(m, k));
    }
    /* The filtered walk over "m.c.*" gives exactly the model's m.c.x and m.c.y messages. */
    q_subject_view fv = {"m.c.*", 5};
    q_filter_set fs;
    ck_assert_int_eq(q_filter_set_init(&fs, &fv, 1, NULL), Q_OK);
    uint64_t resume = 1, want = 0;
    q_smsg msg;
    q_err e;
    while (q_stream_next(t->p, s, resume, &fs, 0, &msg, &resume, &e) == Q_OK) {
        do want++;
        while (want <= m->last && m->subj[want] != 2 && m->subj[want] != 3);
        ck_assert_uint_eq(msg.seq, want);
    }
    do want++;
    while (want <= m->last && m->subj[want] != 2 && m->subj[want] != 3);
    ck_assert_uint_gt(want, m->last);
}

static void step(tp *t, q_stream *s, model *m, uint64_t now)
{
    uint64_t commit, purged;
    q_err e;
    uint64_t r = rng() % 100;
    if (r < 70) {
        int k = (int)(rng() % NSUBJ);
        char body[32];
        snprintf(body, sizeof body, "seq %" PRIu64, m->last + 1);
        ck_assert_uint_eq(ts_pub(t, s, SUBJ[k], body, now), m->last + 1);
        m_publish(m, k);
    } else if (r < 85) {
        uint64_t q = 1 + rng() % (m->last + 1);
        q_status st = q_stream_remove(t->p, s, q, now, &commit, &e);
        ck_assert_int_eq(st, m->subj[q] >= 0 ? Q_OK : Q_NOT_FOUND);
        m->subj[q] = -1;
    } else if (r < 93) {
        int k = (int)(rng() % NSUBJ);
        uint64_t keep = rng() % 3, n = m_count(m, k);
        ck_assert_int_eq(
            q_stream_purge(t->p, s, SUBJ[k], strlen(SUBJ[k]), 0, keep, now, &purged, &commit, &e),
            Q_OK);
        ck_assert_uint_eq(purged, n > keep ? n - keep : 0);
        for (uint64_t i = 0; i < purged; i++) m->subj[m_first(m, k)] = -1;
    } else {
        uint64_t up_to = m->last > 10 ? m->last - rng() % 10 : 1;
        ck_assert_int_eq(q_stream_purge(t->p, s, "m.c.>", 5, up_to, 0, now, &purged, &commit, &e),
                         Q_OK);
        for (uint64_t q = 1; q < up_to; q++)
            if (m->subj[q] == 2 || m->subj[q] == 3) m->subj[q] = -1;
    }
}

START_TEST(random_operations_match_the_model)
{
    static model m;
    memset(m.subj, -1, sizeof m.subj);
    m.last = 0;
    tp t;
    tq_mkdtemp(t.dir);
    tp_opts(&t, 64u * 1024u);
    t.o.log.record_bytes_max = 4096;
    tp_reopen(&t, T0);
    ts_cfg tc;
    const char *const subs[] = {"m.>", NULL};
    q_stream_cfg *c = ts_cfg_init(&tc, "model", subs);
    c->max_msgs = MAX_MSGS;
    c->max_msgs_per_subject = PER_SUBJ;
    q_stream *s = ts_create(&t, c, T0);
    uint64_t now = T0, deleted = 0;
    q_part_stats ps;
    for (int i = 0; i < STEPS && m.last < SEQ_MAX - 10; i++) {
        step(&t, s, &m, now);
        compare(&t, s, &m);
        if (i % 149 == 148) tp_tick(&t, now += 1000); /* retention, compaction */
        if (i % 500 == 499) {
            q_part_get_stats(t.p, &ps);
            deleted += ps.segments_deleted;
            tp_close(&t);
            tp_reopen(&t, now);
            s = ts_find(&t, "model");
            ck_assert_ptr_nonnull(s);
            compare(&t, s, &m);
        }
    }
    q_part_get_stats(t.p, &ps);
    deleted += ps.segments_deleted;
    ck_assert_uint_gt(deleted, 0); /* the replays met a log cut by retention and compaction */
    tp_done(&t);
}
END_TEST

int main(void)
{
    log_set_level(LOG_WARN);
    const TTest *tests[] = {random_operations_match_the_model};
    return tq_run("q_stream_model", "model", 120, tests, sizeof tests / sizeof tests[0]);
}
