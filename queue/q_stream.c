/* queue/q_stream: stream configuration — check, create, update, delete — lookup by name and
 * id, listing in name order, figures, and the consumer layer's hooks. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "queue/q_stream_int.h"

static const q_stream_hooks no_hooks;
const q_stream_hooks *q_stream_hooks_tab = &no_hooks;

void q_stream_hooks_set(const q_stream_hooks *h) { q_stream_hooks_tab = h ? h : &no_hooks; }
void *q_stream_consumers(const q_stream *s) { return s->consumers; }
void q_stream_set_consumers(q_stream *s, void *consumers) { s->consumers = consumers; }
bool q_part_replaying(const q_part *p) { return p->replaying; }

const char *q_stream_name(const q_stream *s, uint32_t *len)
{
    if (len) *len = s->name_len;
    return s->name;
}
uint32_t q_stream_id(const q_stream *s) { return s->id; }
void q_stream_config(const q_stream *s, q_stream_cfg *out) { *out = s->cfg; }
const q_filter_set *q_stream_subjects(const q_stream *s) { return &s->filters; }
q_retention q_stream_retention(const q_stream *s) { return s->cfg.retention; }
uint64_t q_stream_created_ms(const q_stream *s) { return s->created_ms; }
uint64_t q_stream_first_seq(const q_stream *s) { return q_sidx_first(s); }
uint64_t q_stream_last_seq(const q_stream *s) { return s->last_seq; }
uint64_t q_stream_subject_checks(const q_stream *s) { return s->subject_checks; }
uint64_t q_stream_msgs(const q_stream *s) { return s->msgs; }

/* ---- configuration ---- */

q_status q_stream_name_check(const char *name, size_t len, q_err *err)
{
    return q_stream_name_check_as("name", name, len, err);
}

q_status q_stream_name_check_as(const char *field, const char *name, size_t len, q_err *err)
{
    if (len == 0 || len > Q_STREAM_NAME_BYTES_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "%s: %zu bytes; allowed 1..%u", field, len,
                      Q_STREAM_NAME_BYTES_MAX);
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
        if (!ok)
            return q_fail(err, Q_INVALID_ARGUMENT, "%s: byte 0x%02x at %zu; allowed [A-Za-z0-9_-]",
                          field, (unsigned char)c, i);
    }
    return q_ok(err);
}

static q_status check_subjects(const q_stream_cfg *c, q_err *err)
{
    if (c->nsubjects > Q_STREAM_SUBJECTS_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "subjects: %u filters; at most %u", c->nsubjects,
                      Q_STREAM_SUBJECTS_MAX);
    for (uint32_t i = 0; i < c->nsubjects; i++) {
        q_err e;
        if (q_filter_check(c->subjects[i].ptr, c->subjects[i].len, &e))
            return q_fail(err, Q_INVALID_ARGUMENT, "subjects[%u]: %s", i, e.msg);
        for (uint32_t j = 0; j < i; j++)
            if (q_filter_overlap(c->subjects[j].ptr, c->subjects[j].len, c->subjects[i].ptr,
                                 c->subjects[i].len))
                return q_fail(err, Q_INVALID_ARGUMENT,
                              "subjects[%u]: overlaps subjects[%u] (a subject belongs to one "
                              "filter)",
                              i, j);
    }
    return Q_OK;
}

q_status q_stream_cfg_check(const q_part *p, const q_stream_cfg *c, q_err *err)
{
    q_status st = q_stream_name_check(c->name, c->name_len, err);
    if (st) return st;
    if ((st = check_subjects(c, err))) return st;
    if ((unsigned)c->retention > Q_RETENTION_WORK_QUEUE)
        return q_fail(err, Q_INVALID_ARGUMENT, "retention: %u; allowed 0..3", c->retention);
    if ((unsigned)c->discard > Q_DISCARD_NEW)
        return q_fail(err, Q_INVALID_ARGUMENT, "discard: %u; allowed 0..2", c->discard);
    if (c->has_dup_window && c->dup_window_ms > Q_STREAM_DUP_WINDOW_MS_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT,
                      "duplicate_window_ms: %" PRIu64 "; at most %llu (7 days)", c->dup_window_ms,
                      Q_STREAM_DUP_WINDOW_MS_MAX);
    uint32_t rec_max = p ? p->opts.log.record_bytes_max : Q_RECORD_BYTES_DEFAULT;
    if (c->max_msg_size > rec_max - Q_SMSG_FIXED)
        return q_fail(err, Q_INVALID_ARGUMENT, "max_msg_size: %u; at most %u (the record limit)",
                      c->max_msg_size, rec_max - Q_SMSG_FIXED);
    if (c->description_len > Q_STREAM_DESC_BYTES_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "description: %u bytes; at most %u",
                      c->description_len, Q_STREAM_DESC_BYTES_MAX);
    if (c->parts > Q_STREAM_PARTS_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "partitions: %u; allowed 1..%u", c->parts,
                      Q_STREAM_PARTS_MAX);
    if (c->part_index >= (c->parts ? c->parts : 1))
        return q_fail(err, Q_INVALID_ARGUMENT, "partition index %u of %u", c->part_index, c->parts);
    return q_ok(err);
}

uint32_t q_stream_member_of(uint32_t parts, const char *subject, size_t len)
{
    return parts <= 1 ? 0 : (uint32_t)(q_subject_hash(subject, len) % parts);
}

void q_stream_cfg_norm(q_stream_cfg *c, q_subject_view *name_view)
{
    if (c->retention == Q_RETENTION_DEFAULT) c->retention = Q_RETENTION_LIMITS;
    if (c->discard == Q_DISCARD_DEFAULT) c->discard = Q_DISCARD_OLD;
    if (c->parts == 0) c->parts = 1;
    if (!c->has_dup_window) {
        c->has_dup_window = true;
        c->dup_window_ms = Q_STREAM_DUP_WINDOW_MS_DEFAULT;
    }
    if (c->nsubjects == 0) {
        name_view->ptr = c->name;
        name_view->len = c->name_len;
        c->subjects = name_view;
        c->nsubjects = 1;
    }
}

static bool cfg_equal(const q_stream_cfg *a, const q_stream_cfg *b)
{
    if (a->retention != b->retention || a->discard != b->discard || a->max_msgs != b->max_msgs ||
        a->max_bytes != b->max_bytes || a->max_age_ms != b->max_age_ms ||
        a->max_msgs_per_subject != b->max_msgs_per_subject ||
        a->dup_window_ms != b->dup_window_ms || a->max_msg_size != b->max_msg_size ||
        a->allow_msg_ttl != b->allow_msg_ttl || a->nsubjects != b->nsubjects ||
        a->parts != b->parts || a->part_index != b->part_index ||
        a->description_len != b->description_len ||
        (a->description_len && memcmp(a->description, b->description, a->description_len) != 0))
        return false;
    for (uint32_t i = 0; i < a->nsubjects; i++)
        if (a->subjects[i].len != b->subjects[i].len ||
            memcmp(a->subjects[i].ptr, b->subjects[i].ptr, a->subjects[i].len) != 0)
            return false;
    return true;
}

int q_stream_set_cfg(q_stream *s, const q_stream_cfg *c)
{
    size_t total = 0;
    for (uint32_t i = 0; i < c->nsubjects; i++) total += c->subjects[i].len;
    char *buf = rt_malloc(total ? total : 1);
    char *desc = rt_malloc(c->description_len ? c->description_len : 1);
    if (!buf || !desc) {
        rt_free(buf);
        rt_free(desc);
        return -ENOMEM;
    }
    size_t at = 0;
    for (uint32_t i = 0; i < c->nsubjects; i++) {
        memcpy(buf + at, c->subjects[i].ptr, c->subjects[i].len);
        s->subj_views[i] = (q_subject_view){buf + at, c->subjects[i].len};
        at += c->subjects[i].len;
    }
    if (c->description_len) memcpy(desc, c->description, c->description_len);
    rt_free(s->subj_buf);
    rt_free(s->desc);
    s->subj_buf = buf;
    s->desc = desc;
    s->cfg = *c;
    s->cfg.name = s->name;
    s->cfg.name_len = s->name_len;
    s->cfg.subjects = s->subj_views;
    s->cfg.description = desc;
    s->pub_subj_len = 0; /* what the old filters captured */
    /* Checked filters: cannot fail. */
    if (q_filter_set_init(&s->filters, s->subj_views, c->nsubjects, NULL) != Q_OK)
        s->filters.n = 0; /* a replay placeholder (no subjects yet): matches nothing */
    return 0;
}

q_stream *q_stream_new(uint32_t id, const q_stream_cfg *c, uint64_t created_ms)
{
    q_stream *s = rt_calloc(1, sizeof *s);
    if (!s) return NULL;
    s->id = id;
    memcpy(s->name, c->name, c->name_len);
    s->name_len = (uint16_t)c->name_len;
    s->created_ms = created_ms;
    s->cfg_rec = Q_OFF_NONE;
    s->free_head = Q_SNIL;
    s->base = 1;
    if (q_stream_set_cfg(s, c)) {
        rt_free(s);
        return NULL;
    }
    return s;
}

void q_stream_free(q_stream *s)
{
    for (uint32_t k = 0; k < s->subj_cap; k++) rt_free(s->subj[k].s);
    rt_free(s->subj);
    rt_free(s->slots);
    rt_free(s->ents);
    rt_free(s->ttl);
    rt_free(s->subj_buf);
    rt_free(s->desc);
    rt_free(s);
}

/* ---- the partition's set ---- */

q_streams *q_streams_of(q_part *p, bool create)
{
    if (!p->streams && create) p->streams = rt_calloc(1, sizeof *p->streams);
    return p->streams;
}

static int name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c) return c;
    return alen < blen ? -1 : alen > blen;
}

/* First position whose name is >= (name, len) (strictly > when `after`). */
static uint32_t lower_bound(const q_streams *ss, const char *name, size_t len, bool after)
{
    uint32_t lo = 0, hi = ss->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = name_cmp(ss->by_name[mid]->name, ss->by_name[mid]->name_len, name, len);
        if (c < 0 || (after && c == 0)) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* First position of by_id whose id is >= id. */
static uint32_t id_bound(const q_streams *ss, uint32_t id)
{
    uint32_t lo = 0, hi = ss->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ss->by_id[mid]->id < id) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

int q_streams_insert(q_part *p, q_stream *s)
{
    q_streams *ss = q_streams_of(p, true);
    if (!ss) return -ENOMEM;
    if (ss->n == ss->cap) {
        uint32_t cap = ss->cap ? ss->cap * 2 : 8;
        q_stream **nb = rt_realloc(ss->by_name, (size_t)cap * sizeof *nb);
        if (!nb) return -ENOMEM;
        ss->by_name = nb;
        q_stream **ni = rt_realloc(ss->by_id, (size_t)cap * sizeof *ni);
        if (!ni) return -ENOMEM; /* by_name grew: harmless */
        ss->by_id = ni;
        ss->cap = cap;
    }
    uint32_t i = lower_bound(ss, s->name, s->name_len, false);
    memmove(ss->by_name + i + 1, ss->by_name + i, (size_t)(ss->n - i) * sizeof *ss->by_name);
    ss->by_name[i] = s;
    i = id_bound(ss, s->id);
    memmove(ss->by_id + i + 1, ss->by_id + i, (size_t)(ss->n - i) * sizeof *ss->by_id);
    ss->by_id[i] = s;
    ss->n++;
    if (s->id >= ss->next_id) ss->next_id = s->id + 1;
    return 0;
}

void q_streams_unlink(q_part *p, q_stream *s)
{
    q_streams *ss = p->streams;
    uint32_t i = lower_bound(ss, s->name, s->name_len, false);
    while (ss->by_name[i] != s) i++; /* placeholders share the empty name */
    memmove(ss->by_name + i, ss->by_name + i + 1, (size_t)(ss->n - i - 1) * sizeof *ss->by_name);
    i = id_bound(ss, s->id);
    memmove(ss->by_id + i, ss->by_id + i + 1, (size_t)(ss->n - i - 1) * sizeof *ss->by_id);
    ss->n--;
    if (ss->last_pub == s) ss->last_pub = NULL;
}

q_stream *q_stream_find(q_part *p, const char *name, size_t len)
{
    q_streams *ss = p->streams;
    if (!ss) return NULL;
    uint32_t i = lower_bound(ss, name, len, false);
    if (i < ss->n && ss->by_name[i]->name_len == len &&
        memcmp(ss->by_name[i]->name, name, len) == 0)
        return ss->by_name[i];
    return NULL;
}

q_stream *q_stream_by_id(q_part *p, uint32_t id)
{
    q_streams *ss = p->streams;
    if (!ss) return NULL;
    uint32_t i = id_bound(ss, id);
    return i < ss->n && ss->by_id[i]->id == id ? ss->by_id[i] : NULL;
}

q_stream *q_stream_next_by_name(q_part *p, const char *after, size_t after_len)
{
    q_streams *ss = p->streams;
    if (!ss) return NULL;
    uint32_t i = after_len ? lower_bound(ss, after, after_len, true) : 0;
    return i < ss->n ? ss->by_name[i] : NULL;
}

uint32_t q_stream_count(const q_part *p) { return p->streams ? p->streams->n : 0; }

q_stream *q_stream_capturing(q_part *p, const char *subject, size_t len)
{
    q_streams *ss = p->streams;
    if (ss && ss->last_pub && q_stream_subj_memo_is(ss->last_pub, subject, len))
        return ss->last_pub; /* it captures the subject; filters never overlap */
    for (uint32_t i = 0; ss && i < ss->n; i++)
        if (q_filter_set_match(&ss->by_name[i]->filters, subject, len, NULL))
            return ss->last_pub = ss->by_name[i];
    return NULL;
}

/* Another stream of the partition whose filters overlap c's, or NULL. */
static q_stream *overlapping(q_part *p, const q_stream_cfg *c, const q_stream *self,
                             uint32_t *which)
{
    q_streams *ss = p->streams;
    for (uint32_t i = 0; ss && i < ss->n; i++) {
        q_stream *o = ss->by_name[i];
        if (o == self) continue;
        for (uint32_t k = 0; k < c->nsubjects; k++)
            if (q_filter_set_overlap(&o->filters, c->subjects[k].ptr, c->subjects[k].len, NULL)) {
                *which = k;
                return o;
            }
    }
    return NULL;
}

int q_stream_pin_move(q_part *p, uint64_t *where, uint64_t to)
{
    if (to != Q_OFF_NONE && q_pins_reserve(&p->pins, to, to)) return -ENOMEM;
    if (*where != Q_OFF_NONE) q_pins_del(&p->pins, *where);
    *where = to;
    if (to != Q_OFF_NONE) q_pins_add(&p->pins, to);
    return 0;
}

int64_t q_stream_rec_append(q_part *p, uint16_t type, const struct iovec *iov, int n, bool freeing)
{
    if (freeing) return q_log_appendv_freeing(p->log, type, iov, n);
    q_part_keep_room(p, 0);
    return q_log_appendv(p->log, type, iov, n);
}

/* Writes s's STREAM record with configuration c (s->cfg when NULL) and pins it; a failure
 * changes nothing. */
static q_status write_cfg(q_part *p, q_stream *s, const q_stream_cfg *c, uint64_t *commit_to,
                          q_err *err)
{
    uint64_t next = q_log_next(p->log);
    if (q_pins_reserve(&p->pins, next, next))
        return q_fail(err, Q_RESOURCE_EXHAUSTED, "stream: out of memory");
    q_stream as = *s; /* the record as it will be: only the configuration differs */
    if (c) as.cfg = *c;
    int64_t off = q_srec_put_stream(p, &as);
    if (off < 0) return q_fail_log(err, (int)off, "stream");
    if (q_stream_pin_move(p, &s->cfg_rec, (uint64_t)off)) /* room reserved above */
        return q_fail(err, Q_INTERNAL, "stream: pin room lost");
    *commit_to = q_log_next(p->log);
    return Q_OK;
}

static q_status prepare(q_part *p, const q_stream_cfg *in, q_stream_cfg *c, q_subject_view *nv,
                        q_err *err)
{
    q_status st = q_stream_cfg_check(p, in, err);
    if (st) return st;
    *c = *in;
    q_stream_cfg_norm(c, nv);
    return Q_OK;
}

q_status q_stream_create(q_part *p, const q_stream_cfg *in, uint64_t now_ms, q_stream **out,
                         uint64_t *commit_to, q_err *err)
{
    q_stream_cfg c;
    q_subject_view nv;
    *commit_to = 0;
    q_status st = prepare(p, in, &c, &nv, err);
    if (st) return st;
    q_stream *s = q_stream_find(p, c.name, c.name_len);
    if (s) {
        if (!cfg_equal(&s->cfg, &c))
            return q_fail(err, Q_ALREADY_EXISTS, "stream %.*s exists with another configuration",
                          (int)c.name_len, c.name);
        if (out) *out = s;
        return q_ok(err);
    }
    uint32_t which = 0;
    q_stream *o = overlapping(p, &c, NULL, &which);
    if (o)
        return q_fail(err, Q_FAILED_PRECONDITION, "subjects[%u]: overlaps a subject of stream %s",
                      which, o->name);
    q_streams *ss = q_streams_of(p, true);
    if (!ss) return q_fail(err, Q_RESOURCE_EXHAUSTED, "stream: out of memory");
    if (ss->n >= Q_PART_STREAMS_MAX)
        return q_fail(err, Q_RESOURCE_EXHAUSTED, "streams: %u in this partition; at most %u", ss->n,
                      Q_PART_STREAMS_MAX);
    if (ss->next_id >= Q_STREAM_ID_MAX)
        return q_fail(err, Q_RESOURCE_EXHAUSTED, "streams: ids of this partition used up");
    s = q_stream_new(ss->next_id, &c, now_ms);
    if (!s || q_streams_insert(p, s)) {
        if (s) q_stream_free(s);
        return q_fail(err, Q_RESOURCE_EXHAUSTED, "stream: out of memory");
    }
    st = write_cfg(p, s, NULL, commit_to, err);
    if (st) {
        q_streams_unlink(p, s);
        q_stream_free(s);
        return st;
    }
    if (out) *out = s;
    return q_ok(err);
}

q_status q_stream_update(q_part *p, const q_stream_cfg *in, uint64_t now_ms, q_stream **out,
                         uint64_t *commit_to, q_err *err)
{
    q_stream_cfg c;
    q_subject_view nv;
    *commit_to = 0;
    q_status st = prepare(p, in, &c, &nv, err);
    if (st) return st;
    q_stream *s = q_stream_find(p, c.name, c.name_len);
    if (!s) return q_fail(err, Q_NOT_FOUND, "stream %.*s not found", (int)c.name_len, c.name);
    if (c.retention != s->cfg.retention)
        return q_fail(err, Q_FAILED_PRECONDITION, "retention: cannot change (is %u)",
                      s->cfg.retention);
    if (c.parts != s->cfg.parts || c.part_index != s->cfg.part_index)
        return q_fail(err, Q_FAILED_PRECONDITION, "partitions: cannot change (is %u)",
                      s->cfg.parts);
    uint32_t which = 0;
    q_stream *o = overlapping(p, &c, s, &which);
    if (o)
        return q_fail(err, Q_FAILED_PRECONDITION, "subjects[%u]: overlaps a subject of stream %s",
                      which, o->name);
    if (out) *out = s;
    if (cfg_equal(&s->cfg, &c)) return q_ok(err);
    st = write_cfg(p, s, &c, commit_to, err); /* the log first: a failure changes nothing */
    if (st) return st;
    if (q_stream_set_cfg(s, &c)) /* the new one applies after a restart */
        return q_fail(err, Q_RESOURCE_EXHAUSTED, "stream: out of memory");
    if (s->msgs) s->front_ms = q_smsg_time(p, q_sidx_at(s, s->base)); /* max_age may be new */
    uint64_t ranges[2 * Q_SRM_RANGES];
    q_srm rm = {.ranges = ranges, .cap = Q_SRM_RANGES};
    int rc = q_stream_enforce(p, s, now_ms, &rm, Q_SNIL);
    if (rc == 0) rc = q_srm_flush(p, s, &rm);
    if (rc) return q_fail_log(err, rc, "stream limits");
    *commit_to = q_log_next(p->log);
    return q_ok(err);
}

void q_stream_drop(q_part *p, q_stream *s, bool closing)
{
    if (q_stream_hooks_tab->on_delete) q_stream_hooks_tab->on_delete(p, s, closing);
    if (!closing) {
        for (uint64_t i = 0; i < s->len; i++) {
            q_sent *e = &s->ents[s->head + i];
            if (e->off != Q_OFF_NONE) q_pins_del(&p->pins, e->off);
        }
        if (s->cfg_rec != Q_OFF_NONE) q_pins_del(&p->pins, s->cfg_rec);
        /* Its msg_ids: expired now and unpinned, as a deleted queue's keys (q_queue_drop). */
        for (uint64_t q = p->dd.head; q < p->dd.tail; q++) {
            q_dedup_ent *e = &p->dd.ring[q & (p->dd.cap - 1)];
            if (e->queue != (Q_SDEDUP_NS | s->id)) continue;
            if (e->rec != Q_OFF_NONE) q_pins_del(&p->pins, e->rec);
            e->rec = Q_OFF_NONE;
            e->expiry_ms = Q_DEDUP_DROPPED;
        }
        q_streams_unlink(p, s);
    }
    q_stream_free(s);
}

q_status q_stream_delete(q_part *p, const char *name, size_t len, uint64_t now_ms,
                         uint64_t *commit_to, q_err *err)
{
    *commit_to = 0;
    q_status st = q_stream_name_check(name, len, err);
    if (st) return st;
    q_stream *s = q_stream_find(p, name, len);
    if (!s) return q_fail(err, Q_NOT_FOUND, "stream %.*s not found", (int)len, name);
    int64_t off = q_srec_put_small(p, Q_RT_SDELETE, s->id, 0, 0, 0);
    if (off < 0) return q_fail_log(err, (int)off, "delete stream");
    q_stream_drop(p, s, false);
    *commit_to = q_log_next(p->log);
    return q_ok(err);
}

void q_streams_stats(const q_part *p, uint64_t *streams, uint64_t *msgs, uint64_t *bytes)
{
    const q_streams *ss = p->streams;
    *streams = *msgs = *bytes = 0;
    if (!ss) return;
    *streams = ss->n;
    *bytes = sizeof *ss + (uint64_t)ss->cap * 2 * sizeof(q_stream *);
    for (uint32_t i = 0; i < ss->n; i++) {
        const q_stream *s = ss->by_name[i];
        *msgs += s->msgs;
        *bytes += sizeof *s + s->cap * sizeof(q_sent) + (uint64_t)s->subj_cap * sizeof(q_ssubj) +
                  (uint64_t)s->nslots * sizeof(uint32_t) + (uint64_t)s->ttl_cap * sizeof(q_sttl) +
                  s->cfg.description_len;
        for (uint32_t k = 0; k < s->cfg.nsubjects; k++) *bytes += s->cfg.subjects[k].len;
        for (uint32_t k = 0; k < s->subj_cap; k++)
            if (s->subj[k].s) *bytes += s->subj[k].len;
    }
}

void q_streams_free(q_part *p)
{
    q_streams *ss = p->streams;
    if (!ss) return;
    for (uint32_t i = 0; i < ss->n; i++) q_stream_drop(p, ss->by_name[i], true);
    rt_free(ss->by_name);
    rt_free(ss->by_id);
    rt_free(ss);
    p->streams = NULL;
}
