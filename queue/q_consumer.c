/* queue/q_consumer: consumer sets, life cycle (create, delete, pause, reset, ephemeral expiry),
 * interest retention and figures. Delivery is q_consumer_next.c, settling q_consumer_ack.c,
 * records q_consumer_rec.c, replay and compaction q_consumer_hooks.c. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "queue/q_consumer_int.h"

/* ---- sets ---- */

q_cset *q_cset_of(q_part *p, q_stream *s, bool create)
{
    q_cset *set = q_stream_consumers(s);
    if (set || !create) return set;
    set = rt_calloc(1, sizeof *set);
    if (!set) return NULL;
    set->p = p;
    set->s = s;
    set->seen_last = q_stream_last_seq(s);
    q_stream_set_consumers(s, set);
    return set;
}

static int name_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

/* Index of the first consumer whose name sorts at or after `name`. */
static uint32_t lower_bound(const q_cset *set, const char *name, size_t len)
{
    uint32_t lo = 0, hi = set->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const q_consumer *c = set->by_name[mid];
        if (name_cmp(c->name, strlen(c->name), name, len) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

q_consumer *q_consumer_find(q_stream *s, const char *name, size_t len)
{
    q_cset *set = q_stream_consumers(s);
    if (!set || len == 0 || len > Q_CONSUMER_NAME_BYTES_MAX) return NULL;
    uint32_t i = lower_bound(set, name, len);
    if (i == set->n) return NULL;
    q_consumer *c = set->by_name[i];
    return strlen(c->name) == len && memcmp(c->name, name, len) == 0 ? c : NULL;
}

q_status q_cset_insert(q_cset *set, q_consumer *c, q_err *err)
{
    if (set->n >= Q_CONSUMERS_PER_STREAM_MAX)
        return q_fail(err, Q_RESOURCE_EXHAUSTED, "stream has %u consumers, the most allowed",
                      Q_CONSUMERS_PER_STREAM_MAX);
    if (set->n == set->cap) {
        uint32_t cap = set->cap ? set->cap * 2 : 8;
        q_consumer **a = rt_realloc(set->by_name, cap * sizeof *a);
        if (!a) return q_fail(err, Q_RESOURCE_EXHAUSTED, "out of memory");
        set->by_name = a;
        set->cap = cap;
    }
    uint32_t i = lower_bound(set, c->name, strlen(c->name));
    memmove(set->by_name + i + 1, set->by_name + i, (set->n - i) * sizeof *set->by_name);
    set->by_name[i] = c;
    set->n++;
    c->set = set;
    return Q_OK;
}

q_consumer *q_consumer_alloc(const q_consumer_cfg *cfg)
{
    size_t bytes = cfg->description_len;
    for (uint32_t i = 0; i < cfg->nfilters; i++) bytes += cfg->filters[i].len;
    q_consumer *c = rt_calloc(1, sizeof *c);
    char *strs = rt_malloc(bytes + 1);
    if (!c || !strs) {
        rt_free(c);
        rt_free(strs);
        return NULL;
    }
    c->strs = strs;
    c->cfg = *cfg;
    memcpy(c->name, cfg->name, cfg->name_len);
    c->name[cfg->name_len] = 0;
    c->cfg.name = c->name;
    size_t at = 0;
    for (uint32_t i = 0; i < cfg->nfilters; i++) {
        memcpy(strs + at, cfg->filters[i].ptr, cfg->filters[i].len);
        c->cfg.filters[i].ptr = strs + at;
        at += cfg->filters[i].len;
    }
    if (cfg->description_len) memcpy(strs + at, cfg->description, cfg->description_len);
    c->cfg.description = strs + at;
    if (cfg->nfilters) q_filter_set_init(&c->fs, c->cfg.filters, cfg->nfilters, NULL);
    q_cpend_init(&c->pend);
    c->cfg_rec = c->base_rec = Q_OFF_NONE;
    c->position = 1;
    return c;
}

void q_consumer_free(q_consumer *c)
{
    if (!c) return;
    q_cpend_deinit(&c->pend);
    rt_free(c->skip);
    rt_free(c->strs);
    rt_free(c);
}

void q_cset_remove(q_cset *set, q_consumer *c, bool unpin)
{
    uint32_t i = lower_bound(set, c->name, strlen(c->name));
    if (i < set->n && set->by_name[i] == c) {
        memmove(set->by_name + i, set->by_name + i + 1, (set->n - i - 1) * sizeof *set->by_name);
        set->n--;
    }
    if (unpin) {
        q_stream_pin_move(set->p, &c->cfg_rec, Q_OFF_NONE);
        q_stream_pin_move(set->p, &c->base_rec, Q_OFF_NONE);
    }
    q_consumer_free(c);
}

/* ---- position, floor, skip ranges ---- */

uint64_t q_consumer_floor(const q_consumer *c)
{
    uint32_t i = q_cpend_next_live(&c->pend, 0);
    return i == Q_NIL ? c->position - 1 : q_cpend_seq(&c->pend, i) - 1;
}

void q_consumer_advance(q_consumer *c, uint64_t position)
{
    if (position > c->position) c->position = position;
    uint32_t k = 0;
    while (k < c->nskip && c->skip[k].lo <= c->position) {
        if (c->skip[k].hi + 1 > c->position) c->position = c->skip[k].hi + 1;
        k++;
    }
    if (k) {
        memmove(c->skip, c->skip + k, (c->nskip - k) * sizeof *c->skip);
        c->nskip -= k;
        c->lag_ok = false; /* the ranges passed held acked messages the count included */
    }
}

int q_consumer_skip_add(q_consumer *c, uint64_t lo, uint64_t hi)
{
    if (hi < c->position) return 0;
    if (lo < c->position) lo = c->position;
    /* The common case: acks arrive in order, extending or following the last range. */
    if (c->nskip && c->skip[c->nskip - 1].hi + 1 >= lo && c->skip[c->nskip - 1].lo <= lo) {
        if (hi > c->skip[c->nskip - 1].hi) c->skip[c->nskip - 1].hi = hi;
        return 0;
    }
    if (c->nskip == c->skip_cap) {
        uint32_t cap = c->skip_cap ? c->skip_cap * 2 : 16;
        q_crange *r = rt_realloc(c->skip, cap * sizeof *r);
        if (!r) return -ENOMEM;
        c->skip = r;
        c->skip_cap = cap;
    }
    uint32_t i = c->nskip;
    while (i > 0 && c->skip[i - 1].lo > lo) i--;
    memmove(c->skip + i + 1, c->skip + i, (c->nskip - i) * sizeof *c->skip);
    c->skip[i] = (q_crange){lo, hi};
    c->nskip++;
    /* Merge neighbours that now touch or overlap. */
    uint32_t w = 0;
    for (uint32_t r = 1; r < c->nskip; r++) {
        if (c->skip[r].lo <= c->skip[w].hi + 1) {
            if (c->skip[r].hi > c->skip[w].hi) c->skip[w].hi = c->skip[r].hi;
        } else {
            c->skip[++w] = c->skip[r];
        }
    }
    c->nskip = w + 1;
    return 0;
}

static bool in_skip(const q_consumer *c, uint64_t seq)
{
    for (uint32_t i = 0; i < c->nskip && c->skip[i].lo <= seq; i++)
        if (seq <= c->skip[i].hi) return true;
    return false;
}

/* ---- interest and work-queue retention ---- */

bool q_consumer_done_with(const q_consumer *c, uint64_t seq, const char *subj, uint32_t slen)
{
    /* Interest starts at the consumer's creation, and not before its start point (a
     * BY_START_SEQUENCE ahead of the stream never delivers what lies between). */
    if (c->deleted || seq < c->interest_from || seq < c->start_seq) return true;
    if (c->cfg.nfilters && !q_filter_set_match(&c->fs, subj, slen, NULL)) return true;
    if (seq < c->position) return q_cpend_find(&c->pend, seq) == Q_NIL;
    return in_skip(c, seq);
}

/* Whether a consumer of the set other than `except` still holds the message. */
static bool held(const q_cset *set, const q_consumer *except, const q_smsg *m)
{
    for (uint32_t i = 0; i < set->n; i++) {
        const q_consumer *o = set->by_name[i];
        if (o != except && !q_consumer_done_with(o, m->seq, m->subject, m->subject_len))
            return true;
    }
    return false;
}

static void remove_msg(q_cset *set, uint64_t seq, uint64_t now_ms, uint64_t *commit_to)
{
    uint64_t ct = 0;
    if (q_stream_remove(set->p, set->s, seq, now_ms, &ct, NULL) == Q_OK && ct > *commit_to)
        *commit_to = ct;
}

void q_consumer_retain(q_consumer *c, uint64_t seq, uint64_t now_ms, uint64_t *commit_to)
{
    q_cset *set = c->set;
    q_retention r = q_stream_retention(set->s);
    if (r == Q_RETENTION_WORK_QUEUE) {
        remove_msg(set, seq, now_ms, commit_to);
        return;
    }
    if (r != Q_RETENTION_INTEREST) return;
    q_smsg m;
    if (q_stream_get(set->p, set->s, seq, &m, NULL) != Q_OK) return;
    if (!held(set, NULL, &m)) remove_msg(set, seq, now_ms, commit_to);
}

/* A consumer going away under interest retention: what only it held goes too. */
static void release_interest(q_consumer *c, uint64_t now_ms, uint64_t *commit_to)
{
    q_cset *set = c->set;
    if (q_stream_retention(set->s) != Q_RETENTION_INTEREST) return;
    c->deleted = true; /* done with everything: held() asks the others */
    uint64_t from = q_stream_first_seq(set->s);
    if (from < c->interest_from) from = c->interest_from;
    q_smsg m;
    while (q_stream_next(set->p, set->s, from, c->cfg.nfilters ? &c->fs : NULL, 0, &m, NULL,
                         NULL) == Q_OK) {
        from = m.seq + 1;
        if (!held(set, c, &m)) remove_msg(set, m.seq, now_ms, commit_to);
    }
}

uint64_t q_consumers_sweep_interest(q_part *p, q_stream *s, uint64_t now_ms)
{
    if (q_stream_retention(s) != Q_RETENTION_INTEREST) return 0;
    q_cset *set = q_cset_of(p, s, true);
    if (!set) return 0;
    uint64_t from = q_stream_first_seq(s), gone = 0, ct = 0;
    q_smsg m;
    while (q_stream_next(p, s, from, NULL, 0, &m, NULL, NULL) == Q_OK) {
        from = m.seq + 1;
        if (held(set, NULL, &m)) continue;
        remove_msg(set, m.seq, now_ms, &ct);
        gone++;
    }
    return gone;
}

/* ---- life cycle ---- */

/* The last kept message matching the consumer's filter, 0 if none: a walk for wildcard
 * filters (once, at create), the subject's last seq for plain ones. */
static uint64_t last_matching(q_part *p, q_stream *s, const q_consumer *c)
{
    if (c->cfg.nfilters == 0) return q_stream_msgs(s) ? q_stream_last_seq(s) : 0;
    uint64_t best = 0;
    bool wild = false;
    for (uint32_t i = 0; i < c->cfg.nfilters; i++) {
        const q_subject_view *f = &c->cfg.filters[i];
        if (q_filter_has_wildcard(f->ptr, f->len)) {
            wild = true;
            continue;
        }
        uint64_t l = q_stream_subject_last(s, f->ptr, f->len, NULL);
        if (l > best) best = l;
    }
    if (!wild) return best;
    q_smsg m;
    uint64_t from = best + 1 > q_stream_first_seq(s) ? best + 1 : q_stream_first_seq(s);
    while (q_stream_next(p, s, from, &c->fs, 0, &m, NULL, NULL) == Q_OK) {
        best = m.seq;
        from = m.seq + 1;
    }
    return best;
}

static void resolve_start(q_part *p, q_stream *s, q_consumer *c)
{
    uint64_t last = q_stream_last_seq(s), first = q_stream_first_seq(s);
    uint64_t lm;
    switch (c->cfg.deliver_policy) {
    case Q_DELIVER_LAST: c->start_seq = (lm = last_matching(p, s, c)) ? lm : last + 1; break;
    case Q_DELIVER_NEW: c->start_seq = last + 1; break;
    case Q_DELIVER_BY_START_SEQ: c->start_seq = c->cfg.opt_start_seq; break;
    case Q_DELIVER_BY_START_TIME:
        c->start_seq = q_stream_seq_at_time(p, s, c->cfg.opt_start_unix_ms);
        break;
    case Q_DELIVER_LAST_PER_SUBJECT:
        c->start_seq = first;
        c->lps_end = last;
        break;
    default: c->start_seq = first; break;
    }
    if (c->start_seq == 0) c->start_seq = 1;
    c->position = c->start_seq;
    c->interest_from = last + 1;
}

static void eph_name(q_part *p, q_stream *s, q_consumer_cfg *k, char buf[32])
{
    do {
        snprintf(buf, 32, Q_CONSUMER_EPH_PREFIX "%016" PRIx64, q_rand(p));
    } while (q_consumer_find(s, buf, strlen(buf)));
    k->name = buf;
    k->name_len = (uint32_t)strlen(buf);
}

/* An existing consumer of that name: the same configuration is the idempotent answer. */
static q_status create_again(q_consumer *old, const q_consumer_cfg *k, q_consumer **out, q_err *err)
{
    if (!q_consumer_cfg_same(&old->cfg, k))
        return q_fail(err, Q_ALREADY_EXISTS, "consumer %s exists with another configuration",
                      old->name);
    if (out) *out = old;
    return q_ok(err);
}

q_status q_consumer_create(q_part *p, q_stream *s, const q_consumer_cfg *cfg, uint64_t now_ms,
                           q_consumer **out, uint64_t *commit_to, q_err *err)
{
    *commit_to = 0;
    q_consumer_cfg k = *cfg;
    q_consumer_cfg_resolve(&k);
    q_consumer *old = k.name_len ? q_consumer_find(s, k.name, k.name_len) : NULL;
    if (old) return create_again(old, &k, out, err);
    q_status st = q_consumer_cfg_check(p, s, &k, NULL, 0, err);
    if (st) return st;
    char nbuf[32];
    if (k.name_len == 0) eph_name(p, s, &k, nbuf);
    q_cset *set = q_cset_of(p, s, true);
    q_consumer *c = set ? q_consumer_alloc(&k) : NULL;
    if (!c) return q_fail(err, Q_RESOURCE_EXHAUSTED, "out of memory");
    if ((st = q_cset_insert(set, c, err))) {
        q_consumer_free(c);
        return st;
    }
    c->created_ms = c->idle_since = c->bucket_ms = now_ms;
    c->bucket = (int64_t)k.rate_limit_bytes_per_s * 1000;
    resolve_start(p, s, c);
    if (q_consumer_logged(c)) {
        int64_t off = q_crec_put_consumer(c);
        if (off < 0) {
            q_cset_remove(set, c, true);
            return q_fail_log(err, (int)off, "consumer record");
        }
        q_commit_raise(commit_to, off);
    }
    if (out) *out = c;
    return q_ok(err);
}

q_status q_consumer_delete(q_part *p, q_stream *s, const char *name, size_t len, uint64_t now_ms,
                           uint64_t *commit_to, q_err *err)
{
    *commit_to = 0;
    q_consumer *c = q_consumer_find(s, name, len);
    if (!c) return q_fail(err, Q_NOT_FOUND, "consumer %.*s not found", (int)len, name);
    if (q_consumer_logged(c)) {
        int64_t off = q_crec_put_cdelete(c);
        if (off < 0) return q_fail_log(err, (int)off, "consumer delete");
        q_commit_raise(commit_to, off);
    }
    release_interest(c, now_ms, commit_to);
    q_cset_remove(c->set, c, true);
    return q_ok(err);
}

q_status q_consumer_pause(q_consumer *c, uint64_t until_ms, uint64_t now_ms, uint64_t *commit_to,
                          q_err *err)
{
    *commit_to = 0;
    uint64_t was = c->paused_until;
    c->paused_until = until_ms > now_ms ? until_ms : 0;
    if (q_consumer_logged(c) && c->paused_until != was) {
        uint64_t before = q_log_next(q_part_log(q_consumer_part(c)));
        int64_t off = q_crec_put_config(c);
        uint64_t after = q_log_next(q_part_log(q_consumer_part(c)));
        if (off < 0 && after == before) { /* nothing written: nothing changed */
            c->paused_until = was;
            return q_fail_log(err, (int)off, "consumer pause");
        }
        *commit_to = after; /* a snapshot too large (logged) leaves the pause record */
    }
    return q_ok(err);
}

q_status q_consumer_reset(q_consumer *c, bool by_time, uint64_t seq_or_ms, uint64_t now_ms,
                          uint64_t *commit_to, q_err *err)
{
    *commit_to = 0;
    if (!by_time && seq_or_ms == 0) return q_fail(err, Q_INVALID_ARGUMENT, "seq: 1 or more");
    uint64_t seq = by_time
                       ? q_stream_seq_at_time(q_consumer_part(c), q_consumer_stream(c), seq_or_ms)
                       : seq_or_ms;
    q_cpend_clear(&c->pend);
    c->nskip = 0;
    c->position = seq;
    c->lag_ok = false;
    if (q_consumer_logged(c)) {
        int64_t off = q_crec_put_cstate(c);
        if (off < 0) return q_fail_log(err, (int)off, "consumer reset");
        q_commit_raise(commit_to, off);
    }
    return q_ok(err);
}

void q_consumer_bind(q_consumer *c, int delta, uint64_t now_ms)
{
    if (delta < 0 && (uint32_t)-delta > c->clients) c->clients = 0;
    else c->clients = (uint32_t)((int64_t)c->clients + delta);
    c->idle_since = now_ms;
}

void q_consumer_touch(q_consumer *c, uint64_t now_ms) { c->idle_since = now_ms; }

void q_consumer_hold_expiry(q_consumer *c) { c->expiry_held = true; }

uint32_t q_consumers_tick(q_part *p, uint64_t now_ms, uint64_t *next_ms, q_consumer_gone_fn on_gone,
                          void *ud)
{
    uint64_t next = UINT64_MAX;
    uint32_t gone = 0;
    const char *after = NULL;
    uint32_t after_len = 0;
    for (q_stream *s; (s = q_stream_next_by_name(p, after, after_len));) {
        after = q_stream_name(s, &after_len);
        q_cset *set = q_stream_consumers(s);
        for (uint32_t i = 0; set && i < set->n;) {
            q_consumer *c = set->by_name[i];
            uint64_t end = c->idle_since + c->cfg.inactive_threshold_ms;
            if (!c->cfg.ephemeral || c->clients || c->expiry_held) {
                i++;
            } else if (end <= now_ms) {
                if (on_gone) on_gone(s, c->cfg.name, c->cfg.name_len, ud);
                uint64_t ct = 0;
                release_interest(c, now_ms, &ct);
                q_cset_remove(set, c, false);
                gone++;
            } else {
                if (end < next) next = end;
                i++;
            }
        }
    }
    if (next_ms) *next_ms = next;
    return gone;
}

/* ---- figures ---- */

uint64_t q_consumer_lag(q_consumer *c)
{
    q_stream *s = q_consumer_stream(c);
    if (c->cfg.nfilters == 0) return q_stream_count_from(s, c->position, NULL);
    if (!c->lag_ok) {
        c->lag = q_stream_count_from(s, c->position, &c->fs);
        c->lag_ok = true;
    }
    return c->lag;
}

void q_consumer_info_fill(q_consumer *c, uint64_t now_ms, q_consumer_info *out)
{
    memset(out, 0, sizeof *out);
    out->cfg = c->cfg;
    out->created_ms = c->created_ms;
    q_consumer_state *st = &out->state;
    st->delivered_consumer_seq = c->consumer_seq;
    st->delivered_stream_seq = c->delivered_stream_seq;
    st->ack_floor_stream_seq = q_consumer_floor(c);
    st->num_ack_pending = c->pend.live;
    st->num_redelivered = c->pend.nredel;
    st->num_pending = q_consumer_lag(c);
    st->num_terminated = c->num_terminated;
    st->paused_until_ms = c->paused_until > now_ms ? c->paused_until : 0;
    st->position_seq = c->position;
    st->clients = c->clients;
    st->pending_bytes = q_cpend_bytes(&c->pend);
}

void q_consumer_list(q_stream *s, const char *after, size_t after_len, uint32_t max,
                     uint64_t now_ms, q_consumer_info *out, uint32_t *n, bool *more)
{
    *n = 0;
    *more = false;
    q_cset *set = q_stream_consumers(s);
    if (!set) return;
    uint32_t i = after_len ? lower_bound(set, after, after_len) : 0;
    if (i < set->n && after_len &&
        name_cmp(set->by_name[i]->name, strlen(set->by_name[i]->name), after, after_len) == 0)
        i++;
    for (; i < set->n && *n < max; i++) q_consumer_info_fill(set->by_name[i], now_ms, &out[(*n)++]);
    *more = i < set->n;
}

uint32_t q_consumer_count(const q_stream *s)
{
    const q_cset *set = q_stream_consumers(s);
    return set ? set->n : 0;
}

uint64_t q_consumer_pending_bytes(const q_consumer *c) { return q_cpend_bytes(&c->pend); }
