/* Helpers shared by the queue/q_consumer tests (header only, static functions): a partition
 * with the consumer hooks installed, a stream, publishing, consumers, delivering, settling. */
#ifndef TEST_Q_CONSUMER_UTIL_H
#define TEST_Q_CONSUMER_UTIL_H

#include "test_q_part_util.h"

#include "queue/q_consumer.h"
#include "queue/q_stream.h"

static inline void tc_open(tp *t, uint32_t seg_bytes)
{
    q_consumer_hooks_install();
    tp_open(t, seg_bytes);
}

/* Creates stream `name` capturing one filter, with a retention. */
static inline q_stream *tc_stream(tp *t, const char *name, const char *subj, q_retention ret)
{
    q_subject_view sv = {subj, strlen(subj)};
    q_stream_cfg c = {.name = name,
                      .name_len = (uint32_t)strlen(name),
                      .subjects = &sv,
                      .nsubjects = 1,
                      .retention = ret};
    q_stream *s = NULL;
    uint64_t ct;
    q_err e;
    q_status st = q_stream_create(t->p, &c, T0, &s, &ct, &e);
    ck_assert_msg(st == Q_OK, "q_stream_create: %s", e.msg);
    return s;
}

static inline q_stream *tc_find(tp *t, const char *name)
{
    q_stream *s = q_stream_find(t->p, name, strlen(name));
    ck_assert_ptr_nonnull(s);
    return s;
}

/* Publishes one message; returns its sequence. */
static inline uint64_t tc_pub(tp *t, q_stream *s, const char *subj, const char *body, uint64_t now)
{
    q_smsg_spec m = {.subject = subj,
                     .subject_len = (uint32_t)strlen(subj),
                     .payload = (const uint8_t *)body,
                     .payload_len = (uint32_t)strlen(body)};
    q_pub_result r;
    uint64_t ct;
    q_err e;
    q_status st = q_stream_publish(t->p, s, &m, 1, now, &r, &ct, &e);
    ck_assert_msg(st == Q_OK, "q_stream_publish: %s", e.msg);
    return r.seq;
}

static inline q_consumer_cfg tc_cfg(const char *name)
{
    q_consumer_cfg c;
    memset(&c, 0, sizeof c);
    c.name = name;
    c.name_len = (uint32_t)strlen(name);
    return c;
}

static inline q_consumer *tc_cons(tp *t, q_stream *s, const q_consumer_cfg *c, uint64_t now)
{
    q_consumer *out = NULL;
    uint64_t ct;
    q_err e;
    q_status st = q_consumer_create(t->p, s, c, now, &out, &ct, &e);
    ck_assert_msg(st == Q_OK, "q_consumer_create: %s", e.msg);
    return out;
}

/* Hands out up to max deliveries into out; returns how many. */
static inline uint32_t tc_next(q_consumer *c, uint64_t now, uint32_t max, q_delivery *out)
{
    uint32_t n;
    uint64_t ct, next;
    q_err e;
    q_status st = q_consumer_next(c, now, max, SIZE_MAX, 0, out, &n, &next, &ct, &e);
    ck_assert_msg(st == Q_OK, "q_consumer_next: %s", e.msg);
    return n;
}

/* Settles one delivery (seq, token) with `kind`; returns the item's status. */
static inline q_status tc_settle(q_consumer *c, q_ack_kind kind, uint64_t seq, uint64_t token,
                                 uint64_t now)
{
    q_ack_ref r = {seq, token};
    q_acks a = {.kind = kind, .refs = &r, .n = 1};
    q_item it;
    uint64_t ct;
    q_err e;
    q_status st = q_consumer_settle(c, &a, now, &it, &ct, &e);
    ck_assert_msg(st == Q_OK, "q_consumer_settle: %s", e.msg);
    return it.code;
}

static inline q_consumer_state tc_state(q_consumer *c, uint64_t now)
{
    q_consumer_info i;
    q_consumer_info_fill(c, now, &i);
    return i.state;
}

#endif
