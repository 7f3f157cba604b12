/* queue/q_consumer_hooks: what the stream layer calls (q_stream_hooks) — publishes (interest
 * retention, lag), removals, deletion, replay of the consumer records and their compaction. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "core/rt_log.h"
#include "queue/q_consumer_int.h"

/* ---- live events ---- */

/* A new message: filtered lags count it; under interest retention it goes at once when no
 * consumer wants it. */
static void on_new_msg(q_cset *set, const q_smsg *m, bool interest, uint64_t *ct)
{
    bool wanted = false;
    for (uint32_t i = 0; i < set->n; i++) {
        q_consumer *c = set->by_name[i];
        bool match = c->cfg.nfilters == 0 ||
                     q_filter_set_match(&c->fs, m->subject, m->subject_len, NULL);
        if (match && c->cfg.nfilters && c->lag_ok && m->seq >= c->position) c->lag++;
        if (match && m->seq >= c->interest_from && m->seq >= c->start_seq) wanted = true;
    }
    if (interest && !wanted) {
        uint64_t t = 0;
        q_stream_remove(set->p, set->s, m->seq, m->time_ms, &t, NULL);
        if (t > *ct) *ct = t;
    }
}

static void on_publish(q_part *p, q_stream *s, uint64_t last_seq)
{
    bool interest = q_stream_retention(s) == Q_RETENTION_INTEREST;
    bool fresh = q_stream_consumers(s) == NULL;
    q_cset *set = q_cset_of(p, s, interest);
    if (!set) return;
    if (fresh) set->seen_last = q_stream_first_seq(s) - 1; /* nobody was there for any of them */
    bool lags = false;
    for (uint32_t i = 0; i < set->n; i++) lags |= set->by_name[i]->cfg.nfilters != 0;
    uint64_t from = set->seen_last + 1, first = q_stream_first_seq(s), ct = 0;
    set->seen_last = last_seq;
    if (!interest && !lags) return;
    for (uint64_t seq = from > first ? from : first; seq <= last_seq; seq++) {
        q_smsg m;
        if (q_stream_get(p, s, seq, &m, NULL) == Q_OK) on_new_msg(set, &m, interest, &ct);
    }
    /* Removal records ride on the publish's commit: the server waits for the publish's. */
}

static void on_remove(q_part *p, q_stream *s, uint64_t seq)
{
    q_cset *set = q_stream_consumers(s);
    for (uint32_t i = 0; set && i < set->n; i++) {
        q_consumer *c = set->by_name[i];
        if (seq >= c->position) c->lag_ok = false;
        uint32_t at = q_cpend_find(&c->pend, seq);
        if (at != Q_NIL) q_cpend_remove(&c->pend, at); /* consumers skip what is gone */
    }
}

static void on_delete(q_part *p, q_stream *s, bool closing)
{
    q_cset *set = q_stream_consumers(s);
    if (!set) return;
    while (set->n) q_cset_remove(set, set->by_name[set->n - 1], !closing);
    rt_free(set->by_name);
    rt_free(set);
    q_stream_set_consumers(s, NULL);
}

/* ---- replay ---- */

/* A consumer from its CONSUMER record (a creation, or an update whose creation was compacted
 * away). */
static int replay_create(q_part *p, q_stream *s, const q_crec *r, uint64_t off)
{
    q_consumer_cfg k = r->cfg;
    if (q_consumer_cfg_check(p, NULL, &k, NULL, 0, NULL) != Q_OK) return -EBADMSG;
    q_consumer_cfg_resolve(&k);
    q_cset *set = q_cset_of(p, s, true);
    q_consumer *c = set ? q_consumer_alloc(&k) : NULL;
    if (!c) return -ENOMEM;
    if (q_cset_insert(set, c, NULL) != Q_OK) {
        q_consumer_free(c);
        return -ENOMEM;
    }
    c->created_ms = c->idle_since = c->bucket_ms = r->created_ms;
    c->bucket = (int64_t)k.rate_limit_bytes_per_s * 1000;
    c->start_seq = r->start_seq;
    c->interest_from = r->interest_from;
    c->lps_end = r->lps_end;
    c->paused_until = r->paused_until;
    c->position = r->start_seq ? r->start_seq : 1;
    int rc = q_stream_pin_move(p, &c->cfg_rec, off);
    return rc ? rc : q_stream_pin_move(p, &c->base_rec, off);
}

static int replay_consumer(q_part *p, q_stream *s, q_consumer *c, const q_crec *r, uint64_t off)
{
    if (c && !(r->flags & Q_CFLAG_UPDATE)) { /* a creation again: the old one is gone */
        q_cset_remove(c->set, c, true);
        c = NULL;
    }
    if (!c) return replay_create(p, s, r, off);
    c->paused_until = r->paused_until;
    return q_stream_pin_move(p, &c->cfg_rec, off);
}

static int replay_cack(q_consumer *c, const q_crec *r)
{
    if (r->kind == Q_CACK_ALL) {
        if (r->count) q_consumer_advance(c, q_ld64(r->seqs + 8ull * (r->count - 1)) + 1);
        return 0;
    }
    for (uint32_t i = 0; i < r->count; i++) {
        uint64_t seq = q_ld64(r->seqs + 8ull * i);
        if (q_consumer_skip_add(c, seq, seq)) return -ENOMEM;
        if (r->kind == Q_CACK_TERM) c->num_terminated++;
    }
    q_consumer_advance(c, c->position);
    return 0;
}

static int replay_cstate(q_part *p, q_consumer *c, const q_crec *r, uint64_t off)
{
    c->position = r->floor + 1;
    c->nskip = 0;
    c->num_terminated = r->terminated;
    for (uint32_t i = 0; i < r->count; i++) {
        uint64_t lo = q_ld64(r->ranges + 16ull * i), hi = q_ld64(r->ranges + 16ull * i + 8);
        if (lo > hi) return -EBADMSG;
        if (q_consumer_skip_add(c, lo, hi)) return -ENOMEM;
    }
    q_consumer_advance(c, c->position);
    return q_stream_pin_move(p, &c->base_rec, off);
}

int q_consumer_on_replay(q_part *p, const q_rec *rec, uint64_t now_ms)
{
    q_crec r;
    int rc = q_crec_decode(rec->type, rec->payload, rec->len, &r);
    if (rc) return rc;
    q_stream *s = q_stream_by_id(p, r.stream_id);
    if (!s) return 0; /* the stream was deleted: its consumers went with it */
    q_consumer *c = q_consumer_find(s, r.name, r.name_len);
    if (rec->type == Q_RT_CONSUMER) return replay_consumer(p, s, c, &r, rec->offset);
    if (!c) return 0; /* a consumer deleted since */
    switch (rec->type) {
    case Q_RT_CACK: return replay_cack(c, &r);
    case Q_RT_CSTATE: return replay_cstate(p, c, &r, rec->offset);
    default: q_cset_remove(c->set, c, true); return 0; /* CDELETE */
    }
}

/* After replay: the position passes what is settled — acked ranges, and the messages between
 * them the filter does not want or that are gone — so the ack floor reads right. */
static void settle_position(q_part *p, q_stream *s, q_consumer *c)
{
    q_smsg m;
    while (c->nskip) {
        uint64_t resume = c->position;
        q_status st = q_stream_next(p, s, c->position, c->cfg.nfilters ? &c->fs : NULL, 0, &m,
                                    &resume, NULL);
        if (st == Q_NOT_FOUND) {
            q_consumer_advance(c, resume);
            return;
        }
        if (c->skip[0].lo > m.seq) {
            q_consumer_advance(c, m.seq); /* the first message still to deliver */
            return;
        }
        q_consumer_advance(c, m.seq);
    }
}

static void on_replay_done(q_part *p, uint64_t now_ms)
{
    const char *after = NULL;
    uint32_t after_len = 0;
    for (q_stream *s; (s = q_stream_next_by_name(p, after, after_len));) {
        after = q_stream_name(s, &after_len);
        q_cset *set = q_stream_consumers(s);
        if (set) {
            set->seen_last = q_stream_last_seq(s);
            for (uint32_t i = 0; i < set->n; i++) settle_position(p, s, set->by_name[i]);
        }
        uint64_t gone = q_consumers_sweep_interest(p, s, now_ms);
        if (gone)
            log_info("interest retention after restart: messages nobody holds removed",
                     "stream=%.*s removed=%" PRIu64, (int)after_len, after, gone);
    }
}

/* ---- compaction ---- */

static int on_compact(q_part *p, const q_rec *rec, uint64_t now_ms, uint64_t *moved)
{
    q_crec r;
    if (q_crec_decode(rec->type, rec->payload, rec->len, &r)) return 0;
    q_stream *s = q_stream_by_id(p, r.stream_id);
    q_consumer *c = s ? q_consumer_find(s, r.name, r.name_len) : NULL;
    if (!c) return 0;
    int64_t off = 0;
    bool cfg = c->cfg_rec == rec->offset;
    if (cfg) off = q_crec_put_config(c); /* CONSUMER + CSTATE */
    else if (c->base_rec == rec->offset) off = q_crec_put_cstate(c);
    else return 0; /* an older record of the consumer: nothing needs it */
    if (off == -EMSGSIZE)
        log_warn("consumer snapshot too large: the segment stays", "consumer=%s", c->name);
    if (off < 0) return (int)off; /* stops the pass: the segment is not deleted */
    *moved += cfg ? 2 : 1;
    return 0;
}

void q_consumer_hooks_install(void)
{
    static const q_stream_hooks hooks = {
        .on_publish = on_publish,
        .on_remove = on_remove,
        .on_delete = on_delete,
        .on_replay = q_consumer_on_replay,
        .on_replay_done = on_replay_done,
        .on_compact = on_compact,
    };
    q_stream_hooks_set(&hooks);
}
