/* Helpers shared by the stream storage tests (header only, static functions). */
#ifndef TEST_Q_STREAM_UTIL_H
#define TEST_Q_STREAM_UTIL_H

#include "test_q_part_util.h"

#include "queue/q_stream.h"

/* A configuration of stream `name` capturing up to 4 filters (NULL-terminated list; NULL: the
 * name itself). The views point at the caller's strings. */
typedef struct ts_cfg {
    q_stream_cfg c;
    q_subject_view v[4];
} ts_cfg;

static inline q_stream_cfg *ts_cfg_init(ts_cfg *tc, const char *name, const char *const *subjects)
{
    memset(tc, 0, sizeof *tc);
    tc->c.name = name;
    tc->c.name_len = (uint32_t)strlen(name);
    uint32_t n = 0;
    for (; subjects && subjects[n] && n < 4; n++)
        tc->v[n] = (q_subject_view){subjects[n], strlen(subjects[n])};
    tc->c.subjects = tc->v;
    tc->c.nsubjects = n;
    return &tc->c;
}

static inline q_stream *ts_create(tp *t, const q_stream_cfg *c, uint64_t now)
{
    q_stream *s = NULL;
    uint64_t commit;
    q_err e;
    q_status st = q_stream_create(t->p, c, now, &s, &commit, &e);
    ck_assert_msg(st == Q_OK, "create: %s", e.msg);
    ck_assert_ptr_nonnull(s);
    return s;
}

static inline q_stream *ts_find(tp *t, const char *name)
{
    return q_stream_find(t->p, name, strlen(name));
}

static inline q_smsg_spec ts_spec(const char *subject, const char *body)
{
    return (q_smsg_spec){.subject = subject,
                         .subject_len = (uint32_t)strlen(subject),
                         .payload = (const uint8_t *)body,
                         .payload_len = (uint32_t)strlen(body)};
}

/* Publishes one message; returns its status, *res filled. */
static inline q_status ts_pub_spec(tp *t, q_stream *s, const q_smsg_spec *m, uint64_t now,
                                   q_pub_result *res, q_err *e)
{
    uint64_t commit = 0;
    q_status st = q_stream_publish(t->p, s, m, 1, now, res, &commit, e);
    if (st == Q_OK && !res->duplicate) ck_assert_uint_gt(commit, res->offset);
    return st;
}

/* Publishes body on subject (must succeed and be new); returns the seq. */
static inline uint64_t ts_pub(tp *t, q_stream *s, const char *subject, const char *body,
                              uint64_t now)
{
    q_smsg_spec m = ts_spec(subject, body);
    q_pub_result r;
    q_err e;
    q_status st = ts_pub_spec(t, s, &m, now, &r, &e);
    ck_assert_msg(st == Q_OK, "publish: %s", e.msg);
    ck_assert(!r.duplicate);
    return r.seq;
}

/* Message seq's payload equals body. */
static inline void ts_expect(tp *t, q_stream *s, uint64_t seq, const char *subject,
                             const char *body)
{
    q_smsg m;
    q_err e;
    q_status st = q_stream_get(t->p, s, seq, &m, &e);
    ck_assert_msg(st == Q_OK, "get %" PRIu64 ": %s", seq, e.msg);
    ck_assert_uint_eq(m.seq, seq);
    ck_assert_uint_eq(m.subject_len, strlen(subject));
    ck_assert(memcmp(m.subject, subject, m.subject_len) == 0);
    ck_assert_uint_eq(m.payload_len, strlen(body));
    ck_assert(memcmp(m.payload, body, m.payload_len) == 0);
}

static inline bool ts_gone(tp *t, q_stream *s, uint64_t seq)
{
    q_smsg m;
    return q_stream_get(t->p, s, seq, &m, NULL) == Q_NOT_FOUND;
}

static inline q_stream_state ts_state(tp *t, q_stream *s, uint64_t now)
{
    q_stream_state st;
    q_err e;
    ck_assert_int_eq(q_stream_info(t->p, s, now, NULL, 0, NULL, 0, NULL, NULL, &st, &e), Q_OK);
    return st;
}

#endif
