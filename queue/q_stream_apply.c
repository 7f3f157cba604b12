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

static int apply_stream(q_part *p, const q_rec *rec, q_srec *r)
{
    q_stream_cfg c = r->cfg;
    c.max_msg_size = 0; /* checked against this run's record limit on publish, not here */
    if (q_stream_cfg_check(NULL, &c, NULL) || c.nsubjects == 0 ||
        c.retention == Q_RETENTION_DEFAULT || c.discard == Q_DISCARD_DEFAULT)
        return -EBADMSG;
    c.max_msg_size = r->cfg.max_msg_size;
    q_stream *s = q_stream_by_id(p, r->stream_id);
    if (!s) {
        q_stream *old = q_stream_find(p, c.name, c.name_len);
        if (old) q_stream_drop(p, old, false); /* its SDELETE is gone with its segment */
        if (!(s = q_stream_new(r->stream_id, &c, r->created_ms))) return -ENOMEM;
        if (q_streams_insert(p, s)) {
            q_stream_free(s);
            return -ENOMEM;
        }
        s->base = r->first_seq ? r->first_seq : 1;
        s->last_seq = r->last_seq;
        if (s->base <= s->last_seq) {
            /* The range compaction left: the live messages' copies follow and fill it. */
            uint64_t n = s->last_seq - s->base + 1;
            if (q_sidx_reserve(s, n)) return -ENOMEM;
            for (uint64_t i = 0; i < n; i++)
                s->ents[s->head + i] = (q_sent){.off = Q_OFF_NONE, .subj = Q_SNIL};
            s->len = n;
        } else {
            s->base = s->last_seq + 1;
        }
    } else {
        if (q_stream_set_cfg(s, &c)) return -ENOMEM;
        if (r->last_seq > s->last_seq) s->last_seq = r->last_seq;
    }
    return pin_at(p, &s->cfg_rec, rec->offset);
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
    q_dedup_add(&p->dd, &ne, q_dedup_unpin, p);
    q_pins_add(&p->pins, off);
    return 0;
}

static int apply_msg(q_part *p, const q_rec *rec, q_srec *r, uint64_t now_ms)
{
    q_streams *ss = q_streams_of(p, false);
    q_stream *s = q_stream_by_id(p, r->stream_id);
    const q_smsg *m = &r->msg;
    if (!s || m->seq < s->base) {
        if (ss) ss->ignored++;
        return 0;
    }
    q_sent *e = q_sidx_at(s, m->seq);
    if (e && e->off != Q_OFF_NONE) { /* a compacted copy: the message moves */
        int rc = pin_at(p, &e->off, rec->offset);
        if (rc) return rc;
    } else {
        if (q_pins_reserve(&p->pins, rec->offset, rec->offset)) return -ENOMEM;
        int rc = q_sidx_put(s, m->seq, rec->offset, m->subject, m->subject_len, m->size);
        if (rc == -ERANGE) return 0;
        if (rc) return rc;
        q_pins_add(&p->pins, rec->offset);
        if (m->expires_ms && q_sttl_push(s, m->expires_ms, m->seq)) return -ENOMEM;
    }
    if (m->msg_id_len && s->cfg.dup_window_ms)
        return remember(p, s, q_key_hash(m->msg_id, m->msg_id_len), m->seq,
                        m->time_ms + s->cfg.dup_window_ms, rec->offset, now_ms);
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
    if (r.type == Q_RT_STREAM) return apply_stream(p, rec, &r);
    if (r.type == Q_RT_SMSG) return apply_msg(p, rec, &r, now_ms);
    q_stream *s = q_stream_by_id(p, r.stream_id);
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
    for (uint32_t i = 0; ss && i < ss->n; i++) {
        q_stream *s = ss->by_name[i];
        q_sidx_trim(s);
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
        q_stream_pin_move(p, &s->cfg_rec, (uint64_t)off); /* room reserved by compact_range */
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
        q_stream_pin_move(p, &e->off, (uint64_t)off);
        if (key) q_stream_pin_move(p, &key->rec, (uint64_t)off);
        (*moved)++;
        return 0;
    }
    return key ? keep_key(p, s, key, now_ms, moved) : 0;
}
