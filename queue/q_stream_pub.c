/* queue/q_stream_pub: publishing — the batch checked whole against the state it would meet
 * (expectations, duplicates, discard new), then one SMSG record per new message, the index,
 * the msg_id keys, TTL deadlines, and the limits with discard old. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "queue/q_stream_int.h"

/* What the check pass decided for one message. */
typedef struct pub_plan {
    uint64_t seq;  /* assigned (new) or the original's (duplicate) */
    uint64_t hash; /* of msg_id, when it has one and the stream deduplicates */
    uint64_t size;
    bool dup;
    uint64_t dup_off; /* the original's record (Q_OFF_NONE: unknown or in this batch) */
} pub_plan;

static bool same_subject(const q_smsg_spec *a, const q_smsg_spec *b)
{
    return a->subject_len == b->subject_len && memcmp(a->subject, b->subject, a->subject_len) == 0;
}

/* Message i's subject is valid and the stream captures it. The message before's, when equal,
 * was checked already, and so was the one the stream remembers (the last subject it checked,
 * s->pub_subj): a batch of one subject is checked once, and a producer's publishes of one
 * subject once in all (s->subject_checks counts the checks made). */
static q_status check_subject(q_stream *s, const q_smsg_spec *msgs, uint32_t i, q_err *err)
{
    const q_smsg_spec *m = &msgs[i];
    if (i > 0 && same_subject(m, &msgs[i - 1])) return Q_OK;
    if (q_stream_subj_memo_is(s, m->subject, m->subject_len)) return Q_OK;
    s->subject_checks++;
    q_err e;
    if (q_subject_check(m->subject, m->subject_len, &e))
        return q_fail(err, Q_INVALID_ARGUMENT, "message %u: %s", i, e.msg);
    if (!q_filter_set_match(&s->filters, m->subject, m->subject_len, NULL))
        return q_fail(err, Q_FAILED_PRECONDITION,
                      "message %u: subject %.*s is not captured by "
                      "stream %s",
                      i, (int)m->subject_len, m->subject, s->name);
    if (m->subject_len <= sizeof s->pub_subj) {
        memcpy(s->pub_subj, m->subject, m->subject_len);
        s->pub_subj_len = m->subject_len;
    }
    return Q_OK;
}

static q_status check_shape(const q_part *p, const q_stream *s, const q_smsg_spec *m, uint32_t i,
                            uint64_t *size, q_err *err)
{
    if (m->nheaders > Q_HEADERS_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "message %u: %u headers; at most %u", i, m->nheaders,
                      Q_HEADERS_MAX);
    for (uint32_t h = 0; h < m->nheaders; h++) {
        uint32_t nl = m->headers[h].name_len;
        if (nl == 0 || nl > Q_HEADER_NAME_BYTES_MAX)
            return q_fail(err, Q_INVALID_ARGUMENT,
                          "message %u: header %u: name is %u bytes; allowed 1..%u", i, h, nl,
                          Q_HEADER_NAME_BYTES_MAX);
    }
    if (m->msg_id_len > Q_STREAM_MSG_ID_BYTES_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "message %u: msg_id is %u bytes; at most %u", i,
                      m->msg_id_len, Q_STREAM_MSG_ID_BYTES_MAX);
    if (m->ttl_ms && !s->cfg.allow_msg_ttl)
        return q_fail(err, Q_INVALID_ARGUMENT,
                      "message %u: ttl_ms set but stream %s does not allow_msg_ttl", i, s->name);
    if (m->ttl_ms && (m->ttl_ms < Q_STREAM_TTL_MS_MIN || m->ttl_ms > Q_STREAM_TTL_MS_MAX))
        return q_fail(err, Q_INVALID_ARGUMENT, "message %u: ttl_ms %" PRIu64 "; allowed %u..%llu",
                      i, m->ttl_ms, Q_STREAM_TTL_MS_MIN, Q_STREAM_TTL_MS_MAX);
    uint64_t rec = q_smsg_rec_bytes(m, size);
    if (rec > p->opts.log.record_bytes_max)
        return q_fail(err, Q_INVALID_ARGUMENT,
                      "message %u: %" PRIu64 " bytes with its record; the limit is %u", i, rec,
                      p->opts.log.record_bytes_max);
    if (s->cfg.max_msg_size && *size > s->cfg.max_msg_size)
        return q_fail(err, Q_INVALID_ARGUMENT,
                      "message %u: payload, headers and subject take %" PRIu64
                      " bytes; max_msg_size is %u",
                      i, *size, s->cfg.max_msg_size);
    return Q_OK;
}

/* The subject's last seq and count as the batch would leave them before message i. */
static void subject_then(const q_stream *s, const q_smsg_spec *msgs, const pub_plan *plan,
                         uint32_t i, uint64_t *last, uint64_t *count)
{
    uint32_t k = q_ssubj_find(s, msgs[i].subject, msgs[i].subject_len);
    *last = k == Q_SNIL ? 0 : s->subj[k].last;
    *count = k == Q_SNIL ? 0 : s->subj[k].count;
    for (uint32_t j = 0; j < i; j++) {
        if (plan[j].dup || !same_subject(&msgs[j], &msgs[i])) continue;
        *last = plan[j].seq;
        (*count)++;
    }
}

/* Duplicate of a kept key or of an earlier message of the batch? */
static void find_dup(q_part *p, const q_stream *s, const q_smsg_spec *msgs, pub_plan *plan,
                     uint32_t i, uint64_t now_ms)
{
    const q_smsg_spec *m = &msgs[i];
    if (!m->msg_id_len || !s->cfg.dup_window_ms) return;
    plan[i].hash = q_key_hash(m->msg_id, m->msg_id_len);
    q_dedup_ent *e = q_dedup_find(&p->dd, plan[i].hash, Q_SDEDUP_NS | s->id, now_ms);
    if (e) {
        plan[i].dup = true;
        plan[i].seq = e->id;
        const q_sent *x = q_sidx_at(s, e->id);
        plan[i].dup_off = x && x->off != Q_OFF_NONE ? x->off : Q_OFF_NONE;
        return;
    }
    for (uint32_t j = 0; j < i; j++)
        if (!plan[j].dup && plan[j].hash == plan[i].hash && msgs[j].msg_id_len) {
            plan[i].dup = true;
            plan[i].seq = plan[j].seq;
            plan[i].dup_off = Q_OFF_NONE; /* set once j is written */
            return;
        }
}

/* Discard new: would message i (not a duplicate) go over a limit? */
static q_status check_room(const q_stream *s, uint64_t msgs, uint64_t bytes, uint64_t subj_count,
                           uint64_t size, uint32_t i, q_err *err)
{
    const q_stream_cfg *c = &s->cfg;
    if (c->discard != Q_DISCARD_NEW) return Q_OK;
    if (c->max_msgs && msgs + 1 > c->max_msgs)
        return q_fail(err, Q_FAILED_PRECONDITION, "message %u: stream full: max_msgs %" PRIu64, i,
                      c->max_msgs);
    if (c->max_bytes && bytes + size > c->max_bytes)
        return q_fail(err, Q_FAILED_PRECONDITION, "message %u: stream full: max_bytes %" PRIu64, i,
                      c->max_bytes);
    if (c->max_msgs_per_subject && subj_count + 1 > c->max_msgs_per_subject)
        return q_fail(err, Q_FAILED_PRECONDITION,
                      "message %u: stream full: max_msgs_per_subject %" PRIu64, i,
                      c->max_msgs_per_subject);
    return Q_OK;
}

static q_status plan_batch(q_part *p, q_stream *s, const q_smsg_spec *msgs, uint32_t n,
                           uint64_t now_ms, pub_plan *plan, q_err *err)
{
    uint64_t last = s->last_seq, nmsgs = s->msgs, bytes = s->bytes;
    for (uint32_t i = 0; i < n; i++) {
        const q_smsg_spec *m = &msgs[i];
        plan[i] = (pub_plan){.dup_off = Q_OFF_NONE};
        q_status st = check_subject(s, msgs, i, err);
        if (!st) st = check_shape(p, s, m, i, &plan[i].size, err);
        if (st) return st;
        if (m->has_expected_last_seq && m->expected_last_seq != last)
            return q_fail(err, Q_FAILED_PRECONDITION, "message %u: wrong last sequence: %" PRIu64,
                          i, last);
        /* O(i) within the batch: only when an expectation or discard new asks for it. */
        uint64_t slast = 0, scount = 0;
        if (m->has_expected_last_subject_seq ||
            (s->cfg.discard == Q_DISCARD_NEW && s->cfg.max_msgs_per_subject))
            subject_then(s, msgs, plan, i, &slast, &scount);
        if (m->has_expected_last_subject_seq && m->expected_last_subject_seq != slast)
            return q_fail(err, Q_FAILED_PRECONDITION,
                          "message %u: wrong last subject sequence: %" PRIu64, i, slast);
        find_dup(p, s, msgs, plan, i, now_ms);
        if (plan[i].dup) continue;
        if ((st = check_room(s, nmsgs, bytes, scount, plan[i].size, i, err))) return st;
        plan[i].seq = ++last;
        nmsgs++;
        bytes += plan[i].size;
    }
    return Q_OK;
}

/* Stores message i of the plan: record, pin, index, key, TTL deadline. */
static int store(q_part *p, q_stream *s, const q_smsg_spec *m, pub_plan *pl, uint64_t now_ms,
                 uint64_t *off_out)
{
    uint64_t expires = m->ttl_ms ? now_ms + m->ttl_ms : 0;
    if (s->msgs == 0) s->front_ms = now_ms;
    int64_t off = q_srec_put_msg(p, s, m, pl->seq, now_ms, expires);
    if (off < 0) return (int)off;
    *off_out = (uint64_t)off;
    q_pins_add(&p->pins, (uint64_t)off); /* room reserved by the caller */
    int rc = q_sidx_put(s, pl->seq, (uint64_t)off, m->subject, m->subject_len, (uint32_t)pl->size);
    if (rc) return rc; /* memory reserved: cannot happen but for a subject's bytes */
    if (expires && (rc = q_sttl_push(s, expires, pl->seq))) return rc;
    if (pl->hash) {
        q_dedup_ent ne = {.hash = pl->hash,
                          .id = pl->seq,
                          .expiry_ms = now_ms + s->cfg.dup_window_ms,
                          .rec = (uint64_t)off,
                          .queue = Q_SDEDUP_NS | s->id};
        if (q_dedup_add(&p->dd, &ne, q_dedup_unpin, p)) q_pins_add(&p->pins, (uint64_t)off);
    }
    return 0;
}

static q_status reserve(q_part *p, q_stream *s, uint32_t n, q_err *err)
{
    uint64_t next = q_log_next(p->log);
    if (q_sidx_reserve(s, n) || q_dedup_reserve(&p->dd, n) ||
        q_pins_reserve(&p->pins, next, next + 2 * (uint64_t)n + 2))
        return q_fail(err, Q_RESOURCE_EXHAUSTED, "publish: out of memory");
    return Q_OK;
}

/* The plan is on the stack up to this many messages (40 bytes each): the batches producers
 * send most; a larger one allocates it. */
#define PUB_PLAN_STACK_MSGS 64u

q_status q_stream_publish(q_part *p, q_stream *s, const q_smsg_spec *msgs, uint32_t n,
                          uint64_t now_ms, q_pub_result *out, uint64_t *commit_to, q_err *err)
{
    *commit_to = 0;
    if (n == 0 || n > Q_STREAM_BATCH_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "messages: %u; allowed 1..%u", n,
                      Q_STREAM_BATCH_MAX);
    pub_plan plan_local[PUB_PLAN_STACK_MSGS];
    pub_plan *plan = n <= PUB_PLAN_STACK_MSGS ? plan_local : rt_malloc((size_t)n * sizeof *plan);
    if (!plan) return q_fail(err, Q_RESOURCE_EXHAUSTED, "publish: out of memory");
    q_status st = plan_batch(p, s, msgs, n, now_ms, plan, err);
    if (!st) st = reserve(p, s, n, err);
    uint64_t ranges[2 * Q_SRM_RANGES];
    q_srm rm = {.ranges = ranges, .cap = Q_SRM_RANGES};
    int rc = 0;
    bool stored = false;
    for (uint32_t i = 0; !st && i < n; i++) {
        pub_plan *pl = &plan[i];
        out[i] = (q_pub_result){.seq = pl->seq, .duplicate = pl->dup, .offset = pl->dup_off};
        if (pl->dup) {
            if (out[i].offset == Q_OFF_NONE && q_stream_has(s, pl->seq))
                out[i].offset = q_sidx_at(s, pl->seq)->off;
            continue;
        }
        if ((rc = store(p, s, &msgs[i], pl, now_ms, &out[i].offset))) {
            st = q_fail_log(err, rc, "publish");
            break;
        }
        stored = true;
        *commit_to = q_log_next(p->log);
        uint32_t k = q_sidx_at(s, pl->seq)->subj; /* stored: its subject's entry */
        if ((rc = q_stream_enforce(p, s, now_ms, &rm, k))) st = q_fail_log(err, rc, "publish");
    }
    if (plan != plan_local) rt_free(plan);
    if ((rc = q_srm_flush(p, s, &rm)) && !st) st = q_fail_log(err, rc, "publish limits");
    if (stored) {
        /* The hook's records (interest retention removing what nobody wants) ride on the
         * publish's commit. */
        if (q_stream_hooks_tab->on_publish) q_stream_hooks_tab->on_publish(p, s, s->last_seq);
        *commit_to = q_log_next(p->log);
    }
    return st ? st : q_ok(err);
}
