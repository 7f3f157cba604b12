/* queue/q_stream_apply: streams across restarts — replay of the stream records (types 13..17)
 * and compaction keeping the live ones. Replay applies every record in log order: STREAM makes
 * or reconfigures a stream (a copy written by compaction also opens the seq range its live
 * messages' copies fill next), SMSG adds a message (a compacted copy moves it), SREMOVE and
 * SDELETE take away, SDEDUP remembers a msg_id whose message record is gone. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "core/rt_log.h"
#include "queue/q_stream_int.h"

/* Pins `off` during replay (room grows as the log is read) in place of *where. */
static int pin_at(q_part *p, uint64_t *where, uint64_t off)
{
    return q_stream_pin_move(p, where, off);
}

/* The msg_ids replay remembered from a placeholder's messages took the longest window; now the
 * stream's (those from SDEDUP records carry their exact expiry). */
static void fix_keys(q_part *p, q_stream *s, uint64_t now_ms)
{
    for (uint64_t q = p->dd.head; q < p->dd.tail; q++) {
        q_dedup_ent *e = &p->dd.ring[q & (p->dd.cap - 1)];
        if (e->queue != (Q_SDEDUP_NS | s->id) || e->expiry_ms == Q_DEDUP_DROPPED) continue;
        q_rec rr;
        if (e->rec != Q_OFF_NONE && q_log_read(p->log, e->rec, &rr) == 0 && rr.type == Q_RT_SDEDUP)
            continue;
        uint64_t t = e->expiry_ms - Q_STREAM_DUP_WINDOW_MS_MAX + s->cfg.dup_window_ms;
        if (s->cfg.dup_window_ms && t > now_ms) {
            e->expiry_ms = t;
            continue;
        }
        q_stream_pin_move(p, &e->rec, Q_OFF_NONE); /* to none: cannot fail */
        e->expiry_ms = Q_DEDUP_DROPPED;
    }
}

/* Names a placeholder (or makes the stream) from its STREAM record. */
static int adopt(q_part *p, q_stream **sp, const q_stream_cfg *c, const q_srec *r, uint64_t now_ms)
{
    q_stream *s = *sp;
    q_stream *old = q_stream_find(p, c->name, c->name_len);
    if (old) q_stream_drop(p, old, false); /* its SDELETE is gone with its segment */
    if (!s) {
        if (!(s = q_stream_new(r->stream_id, c, r->created_ms))) return -ENOMEM;
    } else {
        q_streams_unlink(p, s);
        memcpy(s->name, c->name, c->name_len);
        s->name_len = (uint16_t)c->name_len;
        s->created_ms = r->created_ms;
        if (q_stream_set_cfg(s, c)) {
            q_stream_free(s); /* its pins stay: the open fails anyway */
            return -ENOMEM;
        }
    }
    if (q_streams_insert(p, s)) {
        q_stream_free(s);
        return -ENOMEM;
    }
    if (s->placeholder) {
        s->placeholder = false;
        fix_keys(p, s, now_ms);
    }
    *sp = s;
    return 0;
}

static int apply_stream(q_part *p, const q_rec *rec, q_srec *r, uint64_t now_ms)
{
    q_stream_cfg c = r->cfg;
    c.max_msg_size = 0; /* checked against this run's record limit on publish, not here */
    if (q_stream_cfg_check(NULL, &c, NULL) || c.nsubjects == 0 ||
        c.retention == Q_RETENTION_DEFAULT || c.discard == Q_DISCARD_DEFAULT)
        return -EBADMSG;
    c.max_msg_size = r->cfg.max_msg_size;
    q_stream *s = q_stream_by_id(p, r->stream_id);
    if (s && !s->placeholder) {
        if (q_stream_set_cfg(s, &c)) return -ENOMEM;
    } else {
        int rc = adopt(p, &s, &c, r, now_ms);
        if (rc) return rc;
        /* A copy written by compaction: the range its live messages' copies fill next. */
        if (q_sidx_cover(s, r->first_seq, r->last_seq)) return -ENOMEM;
    }
    if (r->last_seq > s->last_seq) s->last_seq = r->last_seq;
    if (s->len == 0) s->base = s->last_seq + 1;
    return pin_at(p, &s->cfg_rec, rec->offset);
}

/* Records of a stream met before its STREAM record: a nameless stream until it comes. */
static q_stream *placeholder(q_part *p, uint32_t id)
{
    q_stream_cfg c = {.name = "", .retention = Q_RETENTION_LIMITS, .discard = Q_DISCARD_OLD};
    q_stream *s = q_stream_new(id, &c, 0);
    if (!s) return NULL;
    s->placeholder = true;
    s->base = 1;
    if (q_streams_insert(p, s)) {
        q_stream_free(s);
        return NULL;
    }
    return s;
}

static int remember(q_part *p, q_stream *s, uint64_t hash, uint64_t seq, uint64_t expiry,
                    uint64_t off, uint64_t now_ms)
{
    q_dedup_ent *e = q_dedup_find_any(&p->dd, hash, Q_SDEDUP_NS | s->id);
    if (e) return e->id == seq ? pin_at(p, &e->rec, off) : 0;
    if (expiry <= now_ms) return 0;
    if (q_dedup_reserve(&p->dd, 1) || q_pins_reserve(&p->pins, off, off)) return -ENOMEM;
    q_dedup_ent ne = {
        .hash = hash, .id = seq, .expiry_ms = expiry, .rec = off, .queue = Q_SDEDUP_NS | s->id};
    if (!q_dedup_add(&p->dd, &ne, q_dedup_unpin, p)) return -ENOMEM; /* reserved: cannot */
    q_pins_add(&p->pins, off);
    return 0;
}

static int apply_msg(q_part *p, const q_rec *rec, q_srec *r, uint64_t now_ms)
{
    q_stream *s = q_stream_by_id(p, r->stream_id);
    const q_smsg *m = &r->msg;
    if (!s && !(s = placeholder(p, r->stream_id))) return -ENOMEM;
    q_sent *e = q_sidx_at(s, m->seq);
    if (e && e->off != Q_OFF_NONE) { /* a compacted copy: the message moves */
        int rc = pin_at(p, &e->off, rec->offset);
        if (rc) return rc;
    } else {
        if (q_pins_reserve(&p->pins, rec->offset, rec->offset)) return -ENOMEM;
        int rc = q_sidx_put(s, m->seq, rec->offset, m->subject, m->subject_len, m->size);
        if (rc) return rc == -ERANGE ? -EBADMSG : rc;
        q_pins_add(&p->pins, rec->offset);
        if (m->expires_ms && q_sttl_push(s, m->expires_ms, m->seq)) return -ENOMEM;
    }
    uint64_t window = s->placeholder ? Q_STREAM_DUP_WINDOW_MS_MAX : s->cfg.dup_window_ms;
    if (m->msg_id_len && window)
        return remember(p, s, q_key_hash(m->msg_id, m->msg_id_len), m->seq, m->time_ms + window,
                        rec->offset, now_ms);
    return 0;
}

static void apply_remove(q_part *p, q_stream *s, const q_srec *r)
{
    for (uint32_t i = 0; i < r->nranges; i++) {
        uint64_t a = q_ld64(r->ranges + 16 * i), b = q_ld64(r->ranges + 16 * i + 8);
        if (a < s->base) a = s->base;
        if (b >= s->base + s->len) b = s->base + s->len - 1;
        for (uint64_t seq = a; seq <= b && s->len; seq++) {
            q_sent *e = q_sidx_at(s, seq);
            if (e->off == Q_OFF_NONE) continue;
            q_pins_del(&p->pins, e->off);
            q_sidx_del(s, seq);
        }
    }
}

int q_stream_apply(q_part *p, const q_rec *rec, uint64_t now_ms)
{
    q_srec r;
    int rc = q_srec_decode(rec, &r);
    if (rc) return rc == -EPROTO ? rc : -EBADMSG;
    if (r.stream_id >= Q_STREAM_ID_MAX) return -EBADMSG;
    q_streams *ss = q_streams_of(p, true);
    if (!ss) return -ENOMEM;
    if (r.stream_id >= ss->next_id) ss->next_id = r.stream_id + 1; /* never reused while met */
    if (r.type == Q_RT_STREAM) return apply_stream(p, rec, &r, now_ms);
    if (r.type == Q_RT_SMSG) return apply_msg(p, rec, &r, now_ms);
    q_stream *s = q_stream_by_id(p, r.stream_id);
    if (!s && r.type == Q_RT_SDEDUP && !(s = placeholder(p, r.stream_id))) return -ENOMEM;
    if (!s) return 0; /* deleted since */
    switch (r.type) {
    case Q_RT_SREMOVE: apply_remove(p, s, &r); return 0;
    case Q_RT_SDELETE: q_stream_drop(p, s, false); return 0;
    case Q_RT_SDEDUP: return remember(p, s, r.hash, r.seq, r.expiry_ms, rec->offset, now_ms);
    }
    return -EPROTO;
}

void q_streams_replay_done(q_part *p, uint64_t now_ms)
{
    q_streams *ss = p->streams;
    /* Placeholders never named: records of a stream whose STREAM and SDELETE records are both
     * gone (cannot happen while the latest STREAM record is pinned); their pins go. */
    while (ss && ss->n && ss->by_name[0]->placeholder) {
        log_warn("stream records without a stream dropped", "partition=%u id=%u msgs=%" PRIu64,
                 p->no, ss->by_name[0]->id, ss->by_name[0]->msgs);
        ss->ignored += ss->by_name[0]->msgs;
        q_stream_drop(p, ss->by_name[0], false);
    }
    for (uint32_t i = 0; ss && i < ss->n; i++) {
        q_stream *s = ss->by_name[i];
        q_sidx_trim(s);
        if (s->msgs) s->front_ms = q_smsg_time(p, q_sidx_at(s, s->base));
        /* A crash between a publish's messages and the SREMOVE of what its limits removed: */
        uint64_t ranges[2 * Q_SRM_RANGES];
        q_srm rm = {.ranges = ranges, .cap = Q_SRM_RANGES};
        int rc = q_stream_enforce(p, s, now_ms, &rm, Q_SNIL);
        if (!rc) rc = q_srm_flush(p, s, &rm);
        if (rc && rc != -EROFS)
            log_error("stream limits at open not written", "partition=%u stream=%s err=%d", p->no,
                      s->name, rc);
    }
    if (ss && ss->ignored)
        log_info("stream records of deleted streams skipped", "partition=%u records=%" PRIu64,
                 p->no, ss->ignored);
    if (q_stream_hooks_tab->on_replay_done) q_stream_hooks_tab->on_replay_done(p, now_ms);
}

/* ---- compaction ---- */

int q_streams_compact_begin(q_part *p, uint64_t from, uint64_t to, uint64_t *moved)
{
    q_streams *ss = p->streams;
    for (uint32_t i = 0; ss && i < ss->n; i++) {
        q_stream *s = ss->by_name[i];
        if (s->cfg_rec < from || s->cfg_rec >= to) continue;
        int64_t off = q_srec_put_stream(p, s);
        if (off < 0) return (int)off;
        int rc = q_stream_pin_move(p, &s->cfg_rec, (uint64_t)off); /* room: compact_range */
        if (rc) return rc;
        (*moved)++;
    }
    return 0;
}

/* A msg_id entry whose record is `off`: re-written as SDEDUP while in its window. */
static int keep_key(q_part *p, q_stream *s, q_dedup_ent *key, uint64_t now_ms, uint64_t *moved)
{
    if (key->expiry_ms <= now_ms) return q_stream_pin_move(p, &key->rec, Q_OFF_NONE);
    int64_t off = q_srec_put_small(p, Q_RT_SDEDUP, s->id, key->hash, key->id, key->expiry_ms);
    if (off < 0) return (int)off;
    (*moved)++;
    return q_stream_pin_move(p, &key->rec, (uint64_t)off);
}

int q_stream_compact_rec(q_part *p, const q_rec *rec, uint64_t now_ms, uint64_t *moved)
{
    q_srec r;
    if (q_srec_decode(rec, &r) != 0) return 0;
    q_stream *s = q_stream_by_id(p, r.stream_id);
    if (!s || (r.type != Q_RT_SMSG && r.type != Q_RT_SDEDUP)) return 0;
    if (r.type == Q_RT_SDEDUP) {
        q_dedup_ent *key = q_dedup_find_any(&p->dd, r.hash, Q_SDEDUP_NS | s->id);
        return key && key->rec == rec->offset ? keep_key(p, s, key, now_ms, moved) : 0;
    }
    q_dedup_ent *key = NULL;
    if (r.msg.msg_id_len) {
        key = q_dedup_find_any(&p->dd, q_key_hash(r.msg.msg_id, r.msg.msg_id_len),
                               Q_SDEDUP_NS | s->id);
        if (key && key->rec != rec->offset) key = NULL;
    }
    q_sent *e = q_sidx_at(s, r.msg.seq);
    if (e && e->off == rec->offset) {
        q_part_keep_room(p, 0);
        int64_t off = q_log_compact(p->log, rec->offset);
        if (off < 0) return (int)off;
        int rc = q_stream_pin_move(p, &e->off, (uint64_t)off); /* room: compact_range */
        if (rc == 0 && key) rc = q_stream_pin_move(p, &key->rec, (uint64_t)off);
        if (rc) return rc;
        (*moved)++;
        return 0;
    }
    return key ? keep_key(p, s, key, now_ms, moved) : 0;
}
