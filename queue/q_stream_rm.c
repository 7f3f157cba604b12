/* queue/q_stream_rm: messages leaving a stream — limits (discard old), purge, single removal
 * for the consumer layer, TTL and max_age as time passes. Each removal unpins the message's
 * record, updates the index and the subject counts, and is written as ranges in SREMOVE
 * records (so replay removes the same messages). */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "queue/q_stream_int.h"

uint64_t q_smsg_time(const q_part *p, const q_sent *e)
{
    q_rec rec;
    if (q_log_read(p->log, e->off, &rec) != 0 || rec.type != Q_RT_SMSG || rec.len < Q_SMSG_FIXED)
        return 0;
    return q_ld64(rec.payload + 16);
}

int q_srm_flush(q_part *p, q_stream *s, q_srm *rm)
{
    if (rm->n == 0) return 0;
    int rc = q_srec_put_remove(p, s->id, rm->ranges, rm->n);
    rm->n = 0;
    return rc;
}

int q_srm_one(q_part *p, q_stream *s, q_srm *rm, uint64_t seq, bool hook)
{
    q_sent *e = q_sidx_at(s, seq);
    if (!e || e->off == Q_OFF_NONE) return 0;
    int rc = 0;
    if (rm->n && rm->ranges[2 * (rm->n - 1) + 1] + 1 == seq) {
        rm->ranges[2 * (rm->n - 1) + 1] = seq;
    } else {
        if (rm->n == rm->cap) rc = q_srm_flush(p, s, rm);
        rm->ranges[2 * rm->n] = seq;
        rm->ranges[2 * rm->n + 1] = seq;
        rm->n++;
    }
    q_pins_del(&p->pins, e->off);
    q_sidx_del(s, seq);
    rm->removed++;
    if (seq == s->base) {
        q_sidx_trim(s);
        if (s->msgs && s->cfg.max_age_ms) s->front_ms = q_smsg_time(p, q_sidx_at(s, s->base));
    }
    if (hook && q_stream_hooks_tab->on_remove) q_stream_hooks_tab->on_remove(p, s, seq);
    return rc;
}

/* Keeps the first error. */
static void first_err(int *rc, int r)
{
    if (r && !*rc) *rc = r;
}

/* Removes the oldest kept message (the front is trimmed outside replay: base is kept). False
 * when nothing was removed (an index out of step: stop rather than spin). */
static bool drop_front(q_part *p, q_stream *s, q_srm *rm, int *rc)
{
    uint64_t before = s->msgs;
    first_err(rc, q_srm_one(p, s, rm, q_sidx_first(s), true));
    return s->msgs < before;
}

int q_stream_enforce(q_part *p, q_stream *s, uint64_t now_ms, q_srm *rm, uint32_t subj)
{
    const q_stream_cfg *c = &s->cfg;
    int rc = 0;
    while (c->max_msgs && s->msgs > c->max_msgs && drop_front(p, s, rm, &rc)) {}
    while (c->max_bytes && s->bytes > c->max_bytes && s->msgs && drop_front(p, s, rm, &rc)) {}
    if (!c->max_msgs_per_subject) return rc;
    uint32_t from = subj == Q_SNIL ? 0 : subj, to = subj == Q_SNIL ? s->subj_cap : subj + 1;
    for (uint32_t k = from; k < to; k++) {
        while (s->subj[k].s && s->subj[k].count > c->max_msgs_per_subject) {
            uint64_t before = s->subj[k].count;
            first_err(&rc, q_srm_one(p, s, rm, s->subj[k].first, true));
            if (s->subj[k].s && s->subj[k].count == before) break; /* out of step: stop */
        }
    }
    return rc;
}

bool q_stream_has(const q_stream *s, uint64_t seq)
{
    const q_sent *e = q_sidx_at(s, seq);
    return e && e->off != Q_OFF_NONE;
}

q_status q_stream_remove(q_part *p, q_stream *s, uint64_t seq, uint64_t now_ms, uint64_t *commit_to,
                         q_err *err)
{
    *commit_to = 0;
    if (!q_stream_has(s, seq))
        return q_fail(err, Q_NOT_FOUND, "stream %s: no message %" PRIu64, s->name, seq);
    uint64_t ranges[2];
    q_srm rm = {.ranges = ranges, .cap = 1};
    int rc = q_srm_one(p, s, &rm, seq, false);
    if (!rc) rc = q_srm_flush(p, s, &rm);
    if (rc) return q_fail_log(err, rc, "remove message");
    *commit_to = q_log_next(p->log);
    return q_ok(err);
}

/* Does the kept entry e match the filter (flen 0: everything)? */
static bool ent_match(const q_stream *s, const q_sent *e, const char *f, size_t flen)
{
    if (!flen) return true;
    const q_ssubj *ss = &s->subj[e->subj];
    return q_filter_match(f, flen, ss->s, ss->len);
}

/* Messages matching the filter now. */
static uint64_t count_matching(const q_stream *s, const char *f, size_t flen)
{
    if (!flen) return s->msgs;
    uint64_t n = 0;
    for (uint32_t k = 0; k < s->subj_cap; k++)
        if (s->subj[k].s && q_filter_match(f, flen, s->subj[k].s, s->subj[k].len))
            n += s->subj[k].count;
    return n;
}

q_status q_stream_purge(q_part *p, q_stream *s, const char *filter, size_t flen, uint64_t up_to_seq,
                        uint64_t keep, uint64_t now_ms, uint64_t *purged, uint64_t *commit_to,
                        q_err *err)
{
    *commit_to = 0;
    *purged = 0;
    if (flen) {
        q_err e;
        if (q_filter_check(filter, flen, &e))
            return q_fail(err, Q_INVALID_ARGUMENT, "subject: %s", e.msg);
    }
    if (up_to_seq && keep)
        return q_fail(err, Q_INVALID_ARGUMENT, "up_to_seq and keep: set one, not both");
    uint64_t matching = count_matching(s, filter, flen);
    uint64_t to_remove = keep ? (matching > keep ? matching - keep : 0) : matching;
    uint64_t end = up_to_seq ? up_to_seq : s->last_seq + 1; /* exclusive */
    uint64_t ranges[2 * Q_SRM_RANGES];
    q_srm rm = {.ranges = ranges, .cap = Q_SRM_RANGES};
    int rc = 0;
    /* Walk from the front: the oldest go first, so `keep` keeps the newest. */
    for (uint64_t seq = s->base; seq < end && rm.removed < to_remove && s->msgs; seq++) {
        const q_sent *e = q_sidx_at(s, seq);
        if (!e) {
            if (seq < s->base) seq = s->base - 1; /* the front moved past */
            continue;
        }
        if (e->off == Q_OFF_NONE || !ent_match(s, e, filter, flen)) continue;
        first_err(&rc, q_srm_one(p, s, &rm, seq, true));
    }
    first_err(&rc, q_srm_flush(p, s, &rm));
    *purged = rm.removed;
    if (rc) return q_fail_log(err, rc, "purge");
    *commit_to = q_log_next(p->log);
    return q_ok(err);
}

/* ---- time ---- */

static int tick_stream(q_part *p, q_stream *s, uint64_t now_ms, uint32_t *budget)
{
    uint64_t ranges[2 * Q_SRM_RANGES];
    q_srm rm = {.ranges = ranges, .cap = Q_SRM_RANGES};
    int rc = 0;
    while (*budget && s->nttl && s->ttl[0].expires_ms <= now_ms) {
        uint64_t seq = s->ttl[0].seq;
        q_sttl_pop(s);
        if (!q_stream_has(s, seq)) continue;
        first_err(&rc, q_srm_one(p, s, &rm, seq, true));
        (*budget)--;
    }
    while (*budget && s->cfg.max_age_ms && s->msgs) {
        if (s->front_ms + s->cfg.max_age_ms > now_ms) break;
        first_err(&rc, q_srm_one(p, s, &rm, s->base, true));
        (*budget)--;
    }
    first_err(&rc, q_srm_flush(p, s, &rm));
    return rc;
}

int q_streams_tick(q_part *p, uint64_t now_ms, uint32_t budget, bool *more)
{
    *more = false;
    q_streams *ss = p->streams;
    int rc = 0;
    for (uint32_t i = 0; ss && i < ss->n && budget; i++)
        first_err(&rc, tick_stream(p, ss->by_name[i], now_ms, &budget));
    if (!budget) *more = true;
    return rc;
}

uint64_t q_streams_next_ms(const q_part *p)
{
    const q_streams *ss = p->streams;
    uint64_t next = UINT64_MAX;
    for (uint32_t i = 0; ss && i < ss->n; i++) {
        const q_stream *s = ss->by_name[i];
        if (s->nttl && s->ttl[0].expires_ms < next) next = s->ttl[0].expires_ms;
        if (s->cfg.max_age_ms && s->msgs) {
            uint64_t t = s->front_ms + s->cfg.max_age_ms;
            if (t < next) next = t;
        }
    }
    return next;
}
