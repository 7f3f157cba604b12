/* Helpers shared by the queue/q_part tests (header only, static functions). */
#ifndef TEST_Q_PART_UTIL_H
#define TEST_Q_PART_UTIL_H

#include "test_q_util.h"

#include <inttypes.h>

#include "queue/q_part.h"

#define T0 1700000000000ull /* a wall clock in ms; tests move it by hand */

typedef struct tp {
    char dir[64];
    q_part *p;
    q_part_opts o;
} tp;

static inline void tp_opts(tp *t, uint32_t seg_bytes)
{
    q_part_opts_default(&t->o);
    t->o.log.segment_bytes = seg_bytes;
    t->o.log.record_bytes_max = seg_bytes / 4;
    t->o.log.policy = Q_COMMIT_NEVER;
    t->o.seed = 42;
    t->o.pin_bucket_shift = 2;
}

static inline void tp_reopen(tp *t, uint64_t now)
{
    q_log_err le;
    memset(&le, 0, sizeof le);
    int rc = q_part_open(t->dir, 3, &t->o, now, &t->p, &le);
    ck_assert_msg(rc == 0, "q_part_open: %d (%s at %" PRIu64 ")", rc, le.why ? le.why : "",
                  le.offset);
}

static inline void tp_open(tp *t, uint32_t seg_bytes)
{
    tq_mkdtemp(t->dir);
    tp_opts(t, seg_bytes);
    tp_reopen(t, T0);
}

static inline void tp_close(tp *t)
{
    ck_assert_int_eq(q_part_close(t->p), 0);
    t->p = NULL;
}

static inline void tp_done(tp *t)
{
    if (t->p) tp_close(t);
    tq_rmdir(t->dir);
}

/* Enqueues one task with payload `body` into queue q; returns its id. */
static inline uint64_t tp_enq(tp *t, const char *q, const char *body, uint32_t prio, uint64_t now)
{
    q_task_spec s = {
        .payload = (const uint8_t *)body, .payload_len = (uint32_t)strlen(body), .priority = prio};
    q_enq_result r;
    uint64_t commit;
    q_err e;
    ck_assert_int_eq(q_part_enqueue(t->p, q, strlen(q), &s, 1, now, &r, &commit, &e), Q_OK);
    ck_assert(!r.duplicate);
    ck_assert_uint_ge(commit, r.id + 1);
    return r.id;
}

static inline q_status tp_enq_spec(tp *t, const char *q, const q_task_spec *s, uint64_t now,
                                   q_enq_result *r)
{
    uint64_t commit;
    q_err e;
    return q_part_enqueue(t->p, q, strlen(q), s, 1, now, r, &commit, &e);
}

/* Leases up to max tasks of q; returns how many. */
static inline uint32_t tp_lease(tp *t, const char *q, uint32_t max, uint32_t lease_ms, uint64_t now,
                                q_leased *out)
{
    uint32_t n = 0;
    q_err e;
    ck_assert_int_eq(q_part_lease(t->p, q, strlen(q), max, lease_ms, now, out, &n, &e), Q_OK);
    return n;
}

static inline uint64_t tp_lease1(tp *t, const char *q, uint32_t lease_ms, uint64_t now)
{
    q_leased l;
    ck_assert_uint_eq(tp_lease(t, q, 1, lease_ms, now, &l), 1);
    return l.id;
}

/* The lease token of task id's latest delivery (0: unknown task or never delivered): what its
 * holder got in q_leased.token. */
static inline uint64_t tp_tok(tp *t, uint64_t id)
{
    q_task_info ti;
    q_err e;
    return q_part_get_task(t->p, id, &ti, &e) == Q_OK ? ti.lease_token : 0;
}

/* Acks task id with token tok; returns the item's code. */
static inline q_status tp_ack_tok(tp *t, uint64_t id, uint64_t tok, uint64_t now)
{
    q_item it;
    uint64_t commit;
    q_err e;
    ck_assert_int_eq(q_part_ack(t->p, &id, &tok, 1, now, &it, &commit, &e), Q_OK);
    return it.code;
}

/* Acks as the holder of the task's latest delivery does (with its token). */
static inline q_status tp_ack(tp *t, uint64_t id, uint64_t now)
{
    return tp_ack_tok(t, id, tp_tok(t, id), now);
}

/* Commits (as the server does after its writes: retention frees only committed segments),
 * then ticks. */
static inline uint64_t tp_tick(tp *t, uint64_t now)
{
    ck_assert_int_eq(q_log_commit(q_part_log(t->p)), 0);
    uint64_t next;
    ck_assert_int_eq(q_part_tick(t->p, now, &next), Q_OK);
    return next;
}

static inline q_queue_info tp_info(tp *t, const char *q, uint64_t now)
{
    q_queue_info qi;
    q_err e;
    ck_assert_int_eq(q_part_get_queue(t->p, q, strlen(q), now, &qi, &e), Q_OK);
    return qi;
}

static inline q_task_state tp_state(tp *t, uint64_t id)
{
    q_task_info ti;
    q_err e;
    q_status st = q_part_get_task(t->p, id, &ti, &e);
    if (st == Q_NOT_FOUND) return Q_TASK_GONE;
    ck_assert_int_eq(st, Q_OK);
    return ti.state;
}

static inline void tp_cfg(tp *t, const char *q, uint32_t set, const q_queue_cfg *v)
{
    q_queue_cfg_patch pt = {.set = set, .v = *v};
    uint64_t commit;
    q_err e;
    ck_assert_int_eq(q_part_configure(t->p, q, strlen(q), &pt, T0, NULL, &commit, &e), Q_OK);
}

/* ---- the retention tests' tasks (test_q_part_ledger.c, test_q_part_replay.c) ---- */

#define TP_BODY_LEN 200 /* bytes of each payload: ~200 tasks fill a 64 KiB segment */

/* Payload of the i-th task: TP_BODY_LEN bytes, distinct per i (its NUL stays inside: bytes,
 * not a string). */
static inline void tp_body(char buf[TP_BODY_LEN + 1], int i)
{
    memset(buf, 'a' + i % 26, TP_BODY_LEN);
    snprintf(buf, TP_BODY_LEN + 1, "task-%06d-", i);
}

/* Enqueues the i-th task's payload into q; its id. */
static inline uint64_t tp_enq_body(tp *t, const char *q, int i, uint64_t now)
{
    char b[TP_BODY_LEN + 1];
    tp_body(b, i);
    q_task_spec s = {.payload = (const uint8_t *)b, .payload_len = TP_BODY_LEN};
    q_enq_result r;
    ck_assert_int_eq(tp_enq_spec(t, q, &s, now, &r), Q_OK);
    return r.id;
}

/* Leases every ready task of q and acks (with its token) all but the nkeep ids in `keep`. */
static inline void tp_ack_all_but(tp *t, const char *q, const uint64_t *keep, int nkeep,
                                  uint64_t now)
{
    q_leased l[Q_BATCH_MAX];
    uint32_t n;
    while ((n = tp_lease(t, q, Q_BATCH_MAX, 1000000, now, l)) > 0) {
        uint64_t ids[Q_BATCH_MAX], toks[Q_BATCH_MAX];
        uint32_t k = 0;
        for (uint32_t i = 0; i < n; i++) {
            bool kept = false;
            for (int j = 0; j < nkeep; j++) kept |= l[i].id == keep[j];
            if (!kept) toks[k] = l[i].token, ids[k++] = l[i].id;
        }
        if (k == 0) break;
        q_item it[Q_BATCH_MAX];
        uint64_t commit;
        q_err e;
        ck_assert_int_eq(q_part_ack(t->p, ids, toks, k, now, it, &commit, &e), Q_OK);
    }
}

/* Segments in the partition's log now. */
static inline uint32_t tp_segments(tp *t)
{
    q_log_stats st;
    q_log_get_stats(q_part_log(t->p), &st);
    return st.segments;
}

#endif
