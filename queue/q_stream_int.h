/* queue/q_stream_int: the stream structures and the helpers the q_stream*.c files share. Not part
 * of the API (queue/q_stream.h is).
 *
 * The index of a stream: one q_sent per sequence from `base` to last_seq, in a deque (ents[head
 * + (seq - base)]). A removed message keeps its entry with off == Q_OFF_NONE until the front
 * passes it (then the deque's head moves). Outside replay base == first_seq: the front is
 * trimmed after every removal. During replay it is not (a STREAM record copied by compaction
 * opens the range its live messages' copies fill afterwards); q_streams_replay_done trims.
 *
 * Subjects: a table of distinct subjects with kept messages (count, first and last seq),
 * hashed by open addressing with backward-shift deletion; an entry leaves when its count is 0.
 * An index entry names its subject by table position and links to the next message of the same
 * subject (delta in seqs), so removing a subject's oldest finds the next one in O(1) (the
 * max_msgs_per_subject = 1 case: a key-value stream). */
#ifndef Q_STREAM_INT_H
#define Q_STREAM_INT_H

#include <string.h>

#include "queue/q_part_int.h"
#include "queue/q_stream.h"

/* Namespace of stream msg_ids in the partition's dedup ring (q_part_dedup.h): queue indexes
 * are < 2^24, stream keys use this bit with the stream id. */
#define Q_SDEDUP_NS 0x80000000u
#define Q_SNIL UINT32_MAX          /* no subject / empty slot */
#define Q_SSLOTS_MIN 16u           /* subject slots at first (load <= 1/2) */
#define Q_SIDX_CAP_MIN 64u         /* index entries at first; doubles */
#define Q_SREMOVE_RANGES_MAX 4096u /* ranges per SREMOVE record: 64 KiB */
#define Q_STREAM_REC_FIXED 80u     /* STREAM record's fixed part */
#define Q_SMSG_FIXED 48u           /* SMSG record's fixed part */

_Static_assert(Q_PART_QUEUES_MAX < Q_SDEDUP_NS, "queue indexes stay below the stream bit");
/* Stream ids are never reused while a record of the old stream may be in the log: 2^31 creates
 * per partition (one a second for 68 years). */
#define Q_STREAM_ID_MAX Q_SDEDUP_NS
_Static_assert(Q_PART_STREAMS_MAX < Q_STREAM_ID_MAX, "stream ids fit beside the bit");

/* Longest subject a stream remembers as checked (q_stream.pub_subj): producers' subjects are
 * short; a longer one is checked on every publish, as before. */
#define Q_STREAM_SUBJ_MEMO_BYTES 64u

/* One index entry (24 bytes per sequence). */
typedef struct q_sent {
    uint64_t off;  /* the SMSG record (pinned), Q_OFF_NONE: removed */
    uint32_t subj; /* subject table position (meaningless when removed) */
    uint32_t size; /* payload + headers + subject bytes */
    uint32_t next; /* seq delta to the next message of the subject (0: none yet) */
    uint32_t pad;
} q_sent;

typedef struct q_ssubj {
    char *s; /* rt_malloc'd, not NUL-terminated */
    uint32_t len;
    uint32_t next_free;
    uint64_t hash;
    uint64_t count, first, last;
} q_ssubj;

typedef struct q_sttl {
    uint64_t expires_ms, seq;
} q_sttl;

struct q_stream {
    uint32_t id;
    uint16_t name_len;
    char name[Q_STREAM_NAME_BYTES_MAX + 1];
    q_stream_cfg cfg; /* views into name, subj_buf, desc; defaults applied */
    q_subject_view subj_views[Q_STREAM_SUBJECTS_MAX];
    char *subj_buf; /* the filters' bytes */
    char *desc;
    q_filter_set filters;
    uint64_t subject_checks; /* subjects q_stream_publish checked (q_stream_subject_checks) */
    /* The subject q_stream_publish checked last (valid and captured by filters): a publish of
     * the same subject again skips the grammar check and the filter match, as a repeat within
     * a batch does. pub_subj_len 0: none; cleared whenever the filters are set. */
    char pub_subj[Q_STREAM_SUBJ_MEMO_BYTES];
    uint32_t pub_subj_len;
    uint64_t created_ms;
    uint64_t cfg_rec; /* the latest STREAM record (pinned) */
    /* index */
    q_sent *ents;
    uint64_t head, len, cap; /* ents[head .. head + len) are seqs base .. base + len - 1 */
    uint64_t base;           /* seq of ents[head] */
    uint64_t last_seq;
    uint64_t msgs, bytes;
    uint64_t front_ms; /* the time of message `base` when msgs > 0 and max_age is set (kept
                        * without a read per removal otherwise) */
    /* subjects */
    q_ssubj *subj;
    uint32_t nsubj, subj_cap, free_head;
    uint32_t *slots;
    uint32_t nslots;
    /* The table position q_sidx_put used last: tried first (its bytes compared; a free entry
     * has s == NULL), as producers repeat their subject. Past subj_cap: none. */
    uint32_t subj_last;
    /* TTL deadlines: a min-heap by expires_ms (entries of removed messages stay until popped) */
    q_sttl *ttl;
    uint32_t nttl, ttl_cap;
    void *consumers;
    /* Replay met records of this id before its STREAM record (which compaction re-wrote later
     * in the log): no name or configuration yet; msg_ids remembered for the longest window. */
    bool placeholder;
};

/* The partition's streams: by id and sorted by name. */
typedef struct q_streams {
    q_stream **by_name; /* sorted by name (memcmp, then length) */
    q_stream **by_id;   /* the same streams sorted by id: records name streams by id */
    uint32_t n, cap;
    uint32_t next_id; /* above every id met (create, replay) */
    /* q_stream_capturing's last answer, tried first (its pub_subj equal to the subject: that
     * stream captures it, and no other can); NULL when unlinked. */
    q_stream *last_pub;
    uint64_t ignored; /* replayed message records of unknown streams (deleted since) */
} q_streams;

extern const q_stream_hooks *q_stream_hooks_tab;

/* Is subject (len bytes) the one s remembers as checked and captured (pub_subj)? */
static inline bool q_stream_subj_memo_is(const q_stream *s, const char *subject, size_t len)
{
    return s->pub_subj_len && s->pub_subj_len == len && memcmp(s->pub_subj, subject, len) == 0;
}

/* ---- q_stream.c ---- */
q_streams *q_streams_of(q_part *p, bool create);
int q_streams_insert(q_part *p, q_stream *s);
void q_streams_unlink(q_part *p, q_stream *s);
/* Frees a stream's memory (not its pins). */
void q_stream_free(q_stream *s);
/* Removes s from the partition (on_delete hook, pins, dedup keys, memory). */
void q_stream_drop(q_part *p, q_stream *s, bool closing);
/* Makes a stream from a normalised configuration (copies the strings). NULL on -ENOMEM. */
q_stream *q_stream_new(uint32_t id, const q_stream_cfg *c, uint64_t created_ms);
/* Applies defaults: retention, discard, duplicate window, subjects (the name). */
void q_stream_cfg_norm(q_stream_cfg *c, q_subject_view *name_view);
/* Replaces the configuration (strings copied). 0 or -ENOMEM (nothing changed). */
int q_stream_set_cfg(q_stream *s, const q_stream_cfg *c);

/* ---- q_stream_rec.c: records 13..17 (layouts in q_part_rec.h) ---- */
typedef struct q_srec {
    uint16_t type;
    uint32_t stream_id;
    /* STREAM */
    q_stream_cfg cfg;
    q_subject_view subj[Q_STREAM_SUBJECTS_MAX];
    uint64_t created_ms, first_seq, last_seq;
    /* SMSG */
    q_smsg msg;
    /* SREMOVE: nranges x (u64 first, u64 last), unaligned */
    const uint8_t *ranges;
    uint32_t nranges;
    /* SDEDUP */
    uint64_t hash, seq, expiry_ms;
} q_srec;
/* 0, -EBADMSG (bad layout). */
int q_srec_decode(const q_rec *rec, q_srec *out);
/* Appends a STREAM record for s now. Offset or negative errno. */
int64_t q_srec_put_stream(q_part *p, const q_stream *s);
/* Appends an SMSG record. */
int64_t q_srec_put_msg(q_part *p, const q_stream *s, const q_smsg_spec *m, uint64_t seq,
                       uint64_t now_ms, uint64_t expires_ms);
/* Appends SREMOVE records for the ranges (pairs). 0 or negative errno. */
int q_srec_put_remove(q_part *p, uint32_t id, const uint64_t *ranges, uint32_t nranges);
int64_t q_srec_put_small(q_part *p, uint16_t type, uint32_t id, uint64_t hash, uint64_t seq,
                         uint64_t expiry_ms);
/* Bytes of an SMSG payload, and the size max_bytes counts. */
uint64_t q_smsg_rec_bytes(const q_smsg_spec *m, uint64_t *size);

/* ---- q_stream_idx.c ---- */
static inline q_sent *q_sidx_at(const q_stream *s, uint64_t seq)
{
    if (seq < s->base || seq >= s->base + s->len) return NULL;
    return &s->ents[s->head + (seq - s->base)];
}
/* Appends entries up to `seq` (sentinels before it; replay: also before the front) and sets
 * seq's. 0 or -ENOMEM. */
int q_sidx_put(q_stream *s, uint64_t seq, uint64_t off, const char *subj, uint32_t slen,
               uint32_t size);
/* Makes the index cover [first, last] (removed entries where none is), last_seq >= last
 * (replay of a STREAM record). 0 or -ENOMEM. */
int q_sidx_cover(q_stream *s, uint64_t first, uint64_t last);
/* Room for n more entries and n more subjects (publish reserves first). 0 or -ENOMEM. */
int q_sidx_reserve(q_stream *s, uint64_t n);
/* Removes a kept message from the index and the subject table (not the pins). */
void q_sidx_del(q_stream *s, uint64_t seq);
/* Drops removed entries at the front (outside replay). */
void q_sidx_trim(q_stream *s);
/* Subject table position of a subject, Q_SNIL if none kept. */
uint32_t q_ssubj_find(const q_stream *s, const char *subj, size_t len);
/* The first kept seq (last_seq + 1 when empty). */
uint64_t q_sidx_first(const q_stream *s);
int q_sttl_push(q_stream *s, uint64_t expires_ms, uint64_t seq);
void q_sttl_pop(q_stream *s);

/* ---- q_stream_rm.c ---- */
/* Removes kept messages (unpins, index, subjects); `ranges` collects them for SREMOVE records
 * (at most cap pairs: the caller flushes). Calls on_remove when `hook`. */
typedef struct q_srm {
    uint64_t *ranges;
    uint32_t n, cap;
    uint64_t removed;
} q_srm;
#define Q_SRM_RANGES 64u /* ranges collected on the stack before an SREMOVE is written */
/* Removes seq if kept; writes the collected ranges first when rm is full. 0 or negative errno
 * (the removal happened in memory regardless, as q_part_tick's transitions). */
int q_srm_one(q_part *p, q_stream *s, q_srm *rm, uint64_t seq, bool hook);
/* Writes the collected ranges (SREMOVE records) and empties rm. 0 or negative errno. */
int q_srm_flush(q_part *p, q_stream *s, q_srm *rm);
/* Applies the limits as discard old would (publish, update, open): max_msgs, max_bytes, and
 * max_msgs_per_subject for subject table position `subj` (Q_SNIL: every subject). Returns 0 or
 * negative errno. */
int q_stream_enforce(q_part *p, q_stream *s, uint64_t now_ms, q_srm *rm, uint32_t subj);
/* The time a kept message was stored (its record's), 0 if unreadable. */
uint64_t q_smsg_time(const q_part *p, const q_sent *e);

/* ---- q_stream_apply.c: replay and compaction ---- */
int q_stream_apply(q_part *p, const q_rec *rec, uint64_t now_ms);
int q_stream_compact_rec(q_part *p, const q_rec *rec, uint64_t now_ms, uint64_t *moved);
/* Re-appends the STREAM records in [from, to) first (compaction pass start). */
int q_streams_compact_begin(q_part *p, uint64_t from, uint64_t to, uint64_t *moved);
/* After replay: trims, checks limits (writing what they remove). */
void q_streams_replay_done(q_part *p, uint64_t now_ms);
/* q_part_get_stats: streams, kept messages, memory allocated for them. */
void q_streams_stats(const q_part *p, uint64_t *streams, uint64_t *msgs, uint64_t *bytes);
/* q_part_close: frees every stream (on_delete with closing). */
void q_streams_free(q_part *p);
/* Reads a message's record into a view. 0 or negative errno. */
int q_smsg_read(const q_part *p, const q_stream *s, uint64_t seq, const q_sent *e, q_smsg *out);

#endif
