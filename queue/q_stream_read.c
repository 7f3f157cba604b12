/* queue/q_stream_read: reading a stream — by sequence, last of a subject, the next matching a
 * filter, by time — and its figures. Messages are views into the log mapping. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "queue/q_stream_int.h"

int q_smsg_read(const q_part *p, const q_stream *s, uint64_t seq, const q_sent *e, q_smsg *out)
{
    q_rec rec;
    memset(out, 0, sizeof *out);
    out->seq = seq;
    int rc = q_log_read(p->log, e->off, &rec);
    if (rc) return rc;
    if (rec.type != Q_RT_SMSG) return -EBADMSG;
    q_srec sr;
    if ((rc = q_srec_decode(&rec, &sr))) return rc;
    if (sr.stream_id != s->id || sr.msg.seq != seq) return -EBADMSG;
    *out = sr.msg;
    return 0;
}

static q_status read_one(q_part *p, q_stream *s, uint64_t seq, q_smsg *out, q_err *err)
{
    const q_sent *e = q_sidx_at(s, seq);
    if (!e || e->off == Q_OFF_NONE) {
        memset(out, 0, sizeof *out);
        return q_fail(err, Q_NOT_FOUND, "stream %s: no message %" PRIu64, s->name, seq);
    }
    int rc = q_smsg_read(p, s, seq, e, out);
    if (rc)
        return q_fail(err, Q_DATA_LOSS, "stream %s: message %" PRIu64 " unreadable (%s)", s->name,
                      seq, strerror(-rc));
    return q_ok(err);
}

q_status q_stream_get(q_part *p, q_stream *s, uint64_t seq, q_smsg *out, q_err *err)
{
    return read_one(p, s, seq, out, err);
}

q_status q_stream_last_by_subject(q_part *p, q_stream *s, const char *subject, size_t len,
                                  q_smsg *out, q_err *err)
{
    q_err e;
    memset(out, 0, sizeof *out);
    if (q_subject_check(subject, len, &e))
        return q_fail(err, Q_INVALID_ARGUMENT, "last_by_subject: %s", e.msg);
    uint32_t k = q_ssubj_find(s, subject, len);
    if (k == Q_SNIL)
        return q_fail(err, Q_NOT_FOUND, "stream %s: no message of subject %.*s", s->name, (int)len,
                      subject);
    return read_one(p, s, s->subj[k].last, out, err);
}

uint64_t q_stream_subject_last(q_stream *s, const char *subject, size_t len, uint64_t *count)
{
    uint32_t k = q_ssubj_find(s, subject, len);
    if (count) *count = k == Q_SNIL ? 0 : s->subj[k].count;
    return k == Q_SNIL ? 0 : s->subj[k].last;
}

static bool ent_in(const q_stream *s, const q_sent *e, const q_filter_set *f)
{
    if (e->off == Q_OFF_NONE) return false;
    if (!f) return true;
    const q_ssubj *ss = &s->subj[e->subj];
    return q_filter_set_match(f, ss->s, ss->len, NULL);
}

q_status q_stream_next(q_part *p, q_stream *s, uint64_t from_seq, const q_filter_set *filter,
                       uint32_t scan_max, q_smsg *out, uint64_t *resume_seq, q_err *err)
{
    uint64_t seq = from_seq < s->base ? s->base : from_seq;
    uint64_t end = s->base + s->len;
    uint64_t stop = scan_max && end - seq > scan_max ? seq + scan_max : end;
    if (seq > end) stop = seq;
    for (; seq < stop; seq++) {
        const q_sent *e = q_sidx_at(s, seq);
        if (!ent_in(s, e, filter)) continue;
        if (resume_seq) *resume_seq = seq + 1;
        return read_one(p, s, seq, out, err);
    }
    if (resume_seq) *resume_seq = stop;
    memset(out, 0, sizeof *out);
    return q_fail(err, Q_NOT_FOUND, "stream %s: no message from %" PRIu64, s->name, from_seq);
}

uint64_t q_stream_seq_at_time(q_part *p, q_stream *s, uint64_t t_ms)
{
    /* Times rise with seqs (one writer, the wall clock read per publish; a clock step back
     * makes the search land near, never out of range). Binary search over kept entries. */
    uint64_t lo = s->base, hi = s->base + s->len; /* answer in [lo, hi] */
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2, k = mid;
        while (k < hi && q_sidx_at(s, k)->off == Q_OFF_NONE) k++;
        if (k == hi) {
            hi = mid;
            continue;
        }
        if (q_smsg_time(p, q_sidx_at(s, k)) >= t_ms) hi = mid;
        else lo = k + 1;
    }
    while (lo < s->base + s->len && q_sidx_at(s, lo)->off == Q_OFF_NONE) lo++;
    return lo < s->base + s->len ? lo : s->last_seq + 1;
}

uint64_t q_stream_count_from(q_stream *s, uint64_t from_seq, const q_filter_set *filter)
{
    uint64_t seq = from_seq < s->base ? s->base : from_seq;
    if (!filter && seq == s->base) return s->msgs;
    uint64_t n = 0;
    for (; seq < s->base + s->len; seq++)
        if (ent_in(s, q_sidx_at(s, seq), filter)) n++;
    return n;
}

/* ---- figures ---- */

static int subj_cmp(const void *a, const void *b, void *ud)
{
    const q_stream *s = ud;
    const q_ssubj *x = &s->subj[*(const uint32_t *)a], *y = &s->subj[*(const uint32_t *)b];
    int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static q_status fill_counts(q_stream *s, const char *filter, size_t flen, q_subject_count *counts,
                            uint32_t max, uint32_t *ncounts, bool *truncated, q_err *err)
{
    q_err e;
    if (q_filter_check(filter, flen, &e))
        return q_fail(err, Q_INVALID_ARGUMENT, "subjects_filter: %s", e.msg);
    uint32_t *sel = rt_malloc((size_t)(s->nsubj ? s->nsubj : 1) * sizeof *sel);
    if (!sel) return q_fail(err, Q_RESOURCE_EXHAUSTED, "stream info: out of memory");
    uint32_t n = 0;
    for (uint32_t k = 0; k < s->subj_cap; k++)
        if (s->subj[k].s && q_filter_match(filter, flen, s->subj[k].s, s->subj[k].len))
            sel[n++] = k;
    qsort_r(sel, n, sizeof *sel, subj_cmp, s);
    uint32_t take = n < max ? n : max;
    for (uint32_t i = 0; i < take; i++) {
        const q_ssubj *ss = &s->subj[sel[i]];
        counts[i] = (q_subject_count){ss->s, ss->len, ss->count};
    }
    *ncounts = take;
    *truncated = n > take;
    rt_free(sel);
    return Q_OK;
}

q_status q_stream_info(q_part *p, q_stream *s, uint64_t now_ms, const char *filter, size_t flen,
                       q_subject_count *counts, uint32_t max, uint32_t *ncounts, bool *truncated,
                       q_stream_state *out, q_err *err)
{
    memset(out, 0, sizeof *out);
    if (ncounts) *ncounts = 0;
    if (truncated) *truncated = false;
    out->messages = s->msgs;
    out->bytes = s->bytes;
    out->first_seq = q_sidx_first(s);
    out->last_seq = s->last_seq;
    out->num_subjects = s->nsubj;
    if (s->msgs) {
        out->first_ms = q_smsg_time(p, q_sidx_at(s, out->first_seq));
        uint64_t last = s->last_seq;
        while (q_sidx_at(s, last)->off == Q_OFF_NONE) last--;
        out->last_ms = q_smsg_time(p, q_sidx_at(s, last));
        out->num_deleted = s->last_seq - out->first_seq + 1 - s->msgs;
    }
    if (flen) {
        if (max > Q_STREAM_SUBJECT_COUNTS_MAX) max = Q_STREAM_SUBJECT_COUNTS_MAX;
        q_status st = fill_counts(s, filter, flen, counts, max, ncounts, truncated, err);
        if (st) return st;
    }
    return q_ok(err);
}
