/* queue/q_stream: streams stored inside a partition's log (docs/storage.md "Streams",
 * docs/semantics.md "Streams"). A stream captures the subjects its filters match, numbers its
 * messages 1, 2, 3, ... densely, and keeps them by its retention policy and limits; readers get
 * views into the log mapping.
 *
 * Placement: a stream lives in ONE partition, q_part_of(name, nparts), like a queue: its
 * records share that log's group commit, receipts and recovery, so a stream has one total order
 * (and each subject with it). A partitioned stream (cfg.parts > 1) is one such stream per member
 * partition, each holding the subjects that hash to it (q_stream_member_of); the server spreads
 * and merges (server/srv_stream_parts.h).
 *
 * Ownership and threads: streams hang off their q_part (created lazily at the first stream) and
 * belong to the partition's thread; no call is thread-safe, none takes a lock. Every call takes
 * now_ms (the wall clock in ms since the Unix epoch, as q_part).
 *
 * Results: q_status (the gRPC codes) with `err` (may be NULL) saying why, as q_part. Calls that
 * append records set *commit_to (may not be NULL): answer the client only once
 * q_log_durable(q_part_log(p)) >= *commit_to. A log failure part-way (Q_RESOURCE_EXHAUSTED
 * disk full, Q_INTERNAL I/O error) leaves what was written before it applied.
 *
 * Records (queue/q_part_rec.h draws them): STREAM (13) a stream's configuration and sequence
 * bounds, pinned (the latest); SMSG (14) one message, pinned while the message is kept (and
 * while its msg_id is in the dedup window); SREMOVE (15) ranges of removed sequences; SDELETE
 * (16) the stream is gone; SDEDUP (17) a msg_id outliving its message's record. Records name
 * their stream by a small per-partition id fixed at create (4 bytes per message instead of the
 * name). Types 20..29 are the consumer layer's (q_consumer.h), handed to its hooks (below).
 *
 * Memory: per kept message 24 bytes of index (u64 record offset, u32 subject index, u32 size,
 * u32 seq delta to the next message of its subject, 4 spare; the array doubles as it grows);
 * a removed message in the middle keeps its 24 bytes (an offset sentinel) until the front
 * passes it; q_part_stats.stream_mem_bytes counts it all; a message with a TTL 16 more bytes in a deadline heap; a msg_id an entry of the
 * partition's dedup ring (q_part_dedup.h: <= 48 bytes) while in the window. Per distinct
 * subject with messages: its bytes + ~48 bytes (count, first and last seq, hash slot).
 * Payloads, headers, subjects and ids stay in the log.
 *
 * Views (q_smsg fields, q_stream_cfg views of a stored configuration) point into the log mapping
 * or the stream's memory: valid until the next q_part_tick() or q_part_close(), or the stream's
 * deletion, whichever comes first. Copy what must live longer. */
#ifndef Q_STREAM_H
#define Q_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "queue/q_format.h"
#include "queue/q_part.h"
#include "queue/q_part_dedup.h" /* Q_OFF_NONE */
#include "queue/q_subject.h"

/* ---- Limits (docs/semantics.md and streams.proto quote them). ---- */
#define Q_STREAM_NAME_BYTES_MAX 128u /* 1..128 of [A-Za-z0-9_-]: no dot, never a subject */
#define Q_STREAM_SUBJECTS_MAX Q_FILTER_SET_MAX           /* filters a stream captures: 1..16 */
#define Q_STREAM_DESC_BYTES_MAX 1024u                    /* free text */
#define Q_STREAM_DUP_WINDOW_MS_DEFAULT 120000u           /* 2 min: absent duplicate_window_ms */
#define Q_STREAM_DUP_WINDOW_MS_MAX Q_DEDUP_WINDOW_MS_MAX /* 7 days: ids pin their records */
#define Q_STREAM_MSG_ID_BYTES_MAX 256u                   /* hashed; only the hash is in memory */
#define Q_STREAM_TTL_MS_MIN 1000u          /* shorter is a clock-skew race, not a TTL */
#define Q_STREAM_TTL_MS_MAX Q_DELAY_MS_MAX /* 366 days */
#define Q_STREAM_BATCH_MAX Q_BATCH_MAX     /* messages per publish */
#define Q_STREAM_SUBJECT_COUNTS_MAX 10000u /* per-subject counts in one q_stream_info */
/* Streams per partition: each costs ~2 KiB (struct, filter copies, tables) before messages;
 * the API pages ListStreams, but a partition with more than this is a configuration mistake. */
#define Q_PART_STREAMS_MAX 4096u
/* Log reserve kept per stream (q_part_keep_room) so a full disk still takes the SREMOVE that
 * frees segments: one record of a few ranges (48-byte header + 8 + 16 per range). */
#define Q_STREAM_FREE_REC_BYTES 128u
/* Partitions one stream may spread over (StreamConfig.partitions): a Read merges every member
 * and a Fetch asks each one, so the work of one call grows with it; 64 also keeps the member
 * index in one byte of the STREAM record. The server further bounds it by its partitions. */
#define Q_STREAM_PARTS_MAX 64u
/* Work per q_part_tick for TTL and max_age removals: a burst must not stall a shard. */
#define Q_STREAM_TICK_REMOVES_MAX Q_TICK_MOVES_MAX

/* Record type ranges (q_part_rec.h). */
#define Q_RT_STREAM_FIRST 13u
#define Q_RT_STREAM_LAST 19u
#define Q_RT_CONSUMER_FIRST 20u
#define Q_RT_CONSUMER_LAST 29u

/* Numbers as ringq.v1.Retention / Discard; 0 (unspecified) is taken as the default. */
typedef enum q_retention {
    Q_RETENTION_DEFAULT = 0, /* LIMITS */
    Q_RETENTION_LIMITS = 1,
    Q_RETENTION_INTEREST = 2,
    Q_RETENTION_WORK_QUEUE = 3,
} q_retention;

typedef enum q_discard {
    Q_DISCARD_DEFAULT = 0, /* OLD */
    Q_DISCARD_OLD = 1,
    Q_DISCARD_NEW = 2,
} q_discard;

/* A stream configuration, StreamConfig field by field. As input every pointer is borrowed for
 * the call; as output (q_stream_config) the views point into the stream's memory. */
typedef struct q_stream_cfg {
    const char *name;
    uint32_t name_len;
    const q_subject_view *subjects; /* filters; nsubjects 0: the name is the only subject */
    uint32_t nsubjects;
    q_retention retention;
    uint64_t max_msgs, max_bytes, max_age_ms, max_msgs_per_subject; /* 0 = no limit */
    q_discard discard;
    bool has_dup_window;    /* false: Q_STREAM_DUP_WINDOW_MS_DEFAULT */
    uint64_t dup_window_ms; /* 0 = no deduplication .. Q_STREAM_DUP_WINDOW_MS_MAX */
    uint32_t max_msg_size;  /* payload + headers + subject; 0 = the log's record limit */
    bool allow_msg_ttl;
    const char *description;
    uint32_t description_len;
    /* Partitioned streams (docs/semantics.md "Partitioned streams"): parts 0 or 1 is a stream
     * pinned to one partition (the default); 2..Q_STREAM_PARTS_MAX makes this stream member
     * part_index (0..parts-1) of a stream spread over `parts` partitions, each member a stream
     * of the same name in its own partition holding the subjects that hash to it. */
    uint32_t parts;
    uint32_t part_index;
} q_stream_cfg;

/* Sequences of a partitioned stream: member k's own sequence pseq (1, 2, 3 ... in its
 * partition) is the stream sequence (pseq - 1) * parts + k + 1, so each member's sequences,
 * and with them each subject's, rise strictly; parts <= 1 leaves pseq as it is. 0 stays 0. */
static inline uint64_t q_stream_seq_join(uint32_t parts, uint32_t k, uint64_t pseq)
{
    if (parts <= 1 || pseq == 0) return pseq;
    return (pseq - 1) * parts + k + 1;
}
/* The inverse: stream sequence seq (>= 1) is member *k's sequence (the return value). */
static inline uint64_t q_stream_seq_split(uint32_t parts, uint64_t seq, uint32_t *k)
{
    if (parts <= 1 || seq == 0) {
        *k = 0;
        return seq;
    }
    *k = (uint32_t)((seq - 1) % parts);
    return (seq - 1) / parts + 1;
}
/* The member holding subject (a checked subject, len bytes) in a stream of `parts`. */
uint32_t q_stream_member_of(uint32_t parts, const char *subject, size_t len);

typedef struct q_stream q_stream;

/* ---- Configuration. ---- */

/* Checks the stream-name rule. Q_OK or Q_INVALID_ARGUMENT ("name: ..."). */
q_status q_stream_name_check(const char *name, size_t len, q_err *err);
/* The same, the message naming `field` (borrowed for the call) instead: "stream: ...". */
q_status q_stream_name_check_as(const char *field, const char *name, size_t len, q_err *err);
/* Checks every rule of a configuration: name, each subject filter (q_filter_check; message
 * "subjects[i]: ..."), no two filters of the stream overlapping, enums, duplicate window,
 * max_msg_size against the log's record limit, description length. Q_OK or
 * Q_INVALID_ARGUMENT naming the field. Pure (p only for the record limit; may be NULL). */
q_status q_stream_cfg_check(const q_part *p, const q_stream_cfg *c, q_err *err);
/* Creates a stream (one STREAM record). Idempotent: the same configuration again (after
 * defaults are applied) returns the existing stream, writes nothing, *commit_to = 0.
 * Q_INVALID_ARGUMENT (q_stream_cfg_check), Q_ALREADY_EXISTS (another configuration under the
 * name), Q_FAILED_PRECONDITION (a subject filter overlaps one of another stream of this
 * partition: the server checks the other partitions), Q_RESOURCE_EXHAUSTED (Q_PART_STREAMS_MAX,
 * memory, disk), Q_INTERNAL. *out (may be NULL) gets the stream. */
q_status q_stream_create(q_part *p, const q_stream_cfg *c, uint64_t now_ms, q_stream **out,
                         uint64_t *commit_to, q_err *err);
/* Replaces the configuration of stream c->name (one STREAM record). Name and retention cannot
 * change (Q_FAILED_PRECONDITION); tighter limits apply at once (messages over them are removed,
 * as by discard old, whatever the discard policy: SREMOVE records). Q_NOT_FOUND, and the errors
 * of q_stream_create. */
q_status q_stream_update(q_part *p, const q_stream_cfg *c, uint64_t now_ms, q_stream **out,
                         uint64_t *commit_to, q_err *err);
/* Deletes a stream with its messages (one SDELETE record): the consumer hook on_delete runs
 * first, then every pin goes and the stream's memory is freed (the q_stream pointer dies).
 * Q_NOT_FOUND, Q_INVALID_ARGUMENT (bad name), the log's failure (nothing changed). */
q_status q_stream_delete(q_part *p, const char *name, size_t len, uint64_t now_ms,
                         uint64_t *commit_to, q_err *err);

/* The stream of that name, NULL if none. */
q_stream *q_stream_find(q_part *p, const char *name, size_t len);
/* The stream with that per-partition id (in records), NULL if none. */
q_stream *q_stream_by_id(q_part *p, uint32_t id);
/* Name order (memcmp, then length): the first stream whose name sorts after `after`
 * (after_len 0: the first of all), NULL at the end. O(log streams). */
q_stream *q_stream_next_by_name(q_part *p, const char *after, size_t after_len);
/* Streams in the partition. */
uint32_t q_stream_count(const q_part *p);
/* The stream capturing `subject` (a checked subject) in this partition, NULL if none. */
q_stream *q_stream_capturing(q_part *p, const char *subject, size_t len);

/* Accessors. The name and configuration views live as long as the stream. */
const char *q_stream_name(const q_stream *s, uint32_t *len);
uint32_t q_stream_id(const q_stream *s);
void q_stream_config(const q_stream *s, q_stream_cfg *out); /* defaults applied */
const q_filter_set *q_stream_subjects(const q_stream *s);
q_retention q_stream_retention(const q_stream *s); /* never Q_RETENTION_DEFAULT */
uint64_t q_stream_created_ms(const q_stream *s);
/* Sequence bounds: last_seq is the highest ever assigned (0: none yet); first_seq the lowest
 * kept, last_seq + 1 when the stream is empty. */
uint64_t q_stream_first_seq(const q_stream *s);
uint64_t q_stream_last_seq(const q_stream *s);
/* Subjects q_stream_publish checked (grammar and capture) on s since it was opened: a subject
 * equal to the message before's in a batch is not checked again. A cost counter for tests. */
uint64_t q_stream_subject_checks(const q_stream *s);
uint64_t q_stream_msgs(const q_stream *s);

/* StreamState. */
typedef struct q_stream_state {
    uint64_t messages, bytes;
    uint64_t first_seq, first_ms; /* first_ms 0 when empty */
    uint64_t last_seq, last_ms;   /* last_ms: the time of message last_seq if it is kept, else
                                   * of the newest kept message (0 when empty) */
    uint64_t num_subjects, num_deleted;
} q_stream_state;

typedef struct q_subject_count {
    const char *subject; /* view into the stream's memory */
    uint32_t subject_len;
    uint64_t messages;
} q_subject_count;

/* Figures of a stream. With a filter (flen > 0, a checked filter), the counts of the subjects
 * it matches go to counts[] (up to max, in subject order: memcmp then length), *ncounts set and
 * *truncated when more matched; O(distinct subjects). counts may be NULL when flen is 0.
 * Q_INVALID_ARGUMENT for a bad filter. Writes nothing. */
q_status q_stream_info(q_part *p, q_stream *s, uint64_t now_ms, const char *filter, size_t flen,
                       q_subject_count *counts, uint32_t max, uint32_t *ncounts, bool *truncated,
                       q_stream_state *out, q_err *err);

/* ---- Publishing. ---- */

/* One message; every pointer borrowed for the call. */
typedef struct q_smsg_spec {
    const char *subject; /* a subject (no wildcards) the stream captures */
    uint32_t subject_len;
    const uint8_t *payload;
    uint32_t payload_len;
    const q_header *headers; /* at most Q_HEADERS_MAX, names 1..Q_HEADER_NAME_BYTES_MAX */
    uint32_t nheaders;
    const char *msg_id; /* 0..Q_STREAM_MSG_ID_BYTES_MAX bytes; 0: none */
    uint32_t msg_id_len;
    uint64_t ttl_ms; /* 0 or Q_STREAM_TTL_MS_MIN..Q_STREAM_TTL_MS_MAX (allow_msg_ttl) */
    bool has_expected_last_seq;
    uint64_t expected_last_seq; /* the stream's last_seq must be this (0: empty stream) */
    bool has_expected_last_subject_seq;
    uint64_t expected_last_subject_seq; /* the subject's last seq (0: no message of it) */
} q_smsg_spec;

typedef struct q_pub_result {
    uint64_t seq;
    bool duplicate;  /* the msg_id was in the window: nothing stored, seq is the original's */
    uint64_t offset; /* the message's record (the original's for a duplicate; Q_OFF_NONE when
                      * that one is gone): the receipt's offset */
} q_pub_result;

/* Publishes n (1..Q_STREAM_BATCH_MAX) messages to stream s. The batch is checked whole before
 * anything is written, each message against the state after the ones before it (expectations,
 * duplicates within the batch, discard new): Q_INVALID_ARGUMENT (names the message and the
 * rule: subject syntax, sizes, headers, msg_id, a TTL without allow_msg_ttl or out of range),
 * Q_FAILED_PRECONDITION (a subject the stream does not capture; "wrong last sequence: N";
 * "wrong last subject sequence: N"; a limit with discard new: "stream full: max_msgs" ...) —
 * nothing written then. Then one SMSG record per new message with dense seqs (not one per batch:
 * each message is pinned, compacted, removed and read on its own; docs/storage.md); duplicates append
 * nothing. Limits with discard old remove from the front (max_msgs, max_bytes) or the subject's
 * oldest (max_msgs_per_subject): SREMOVE records, on_remove hooks. out[i] answers msgs[i].
 * After the batch, the on_publish hook runs once with the new last seq; *commit_to covers
 * what it appended too. */
q_status q_stream_publish(q_part *p, q_stream *s, const q_smsg_spec *msgs, uint32_t n,
                          uint64_t now_ms, q_pub_result *out, uint64_t *commit_to, q_err *err);

/* ---- Reading. ---- */

/* A stored message: views valid as the header says. */
typedef struct q_smsg {
    uint64_t seq;
    uint64_t time_ms;    /* when it was published (stored) */
    uint64_t expires_ms; /* TTL end, 0: none */
    const char *subject;
    uint32_t subject_len;
    const uint8_t *payload;
    uint32_t payload_len;
    const uint8_t *headers; /* packed as task headers: walk with q_hdr_iter */
    uint32_t headers_len;
    uint32_t nheaders;
    const char *msg_id;
    uint32_t msg_id_len;
    uint64_t offset; /* its record in the partition's log */
    uint32_t size;   /* payload + headers + subject: what max_bytes counts */
} q_smsg;

/* Message `seq`. Q_NOT_FOUND (never assigned, or removed), Q_DATA_LOSS (its record fails its
 * checksum: *out has seq only). */
q_status q_stream_get(q_part *p, q_stream *s, uint64_t seq, q_smsg *out, q_err *err);
/* The last kept message of a subject (a checked subject, no wildcards). Q_NOT_FOUND,
 * Q_INVALID_ARGUMENT (bad subject), Q_DATA_LOSS. */
q_status q_stream_last_by_subject(q_part *p, q_stream *s, const char *subject, size_t len,
                                  q_smsg *out, q_err *err);
/* The first kept message with seq >= from_seq whose subject matches `filter` (NULL: any).
 * Q_OK, Q_NOT_FOUND (none now: wait for on_publish), Q_DATA_LOSS (that message's record fails
 * its checksum: out->seq says which, continue from out->seq + 1). Walks at most `scan_max`
 * index entries (0: no bound); past it, Q_NOT_FOUND with *resume_seq (may be NULL) set to where
 * to continue, so a sparse filter cannot stall a shard. *resume_seq is also set on a plain
 * Q_NOT_FOUND (last_seq + 1). O(1) per entry: the subject test is on the index. */
q_status q_stream_next(q_part *p, q_stream *s, uint64_t from_seq, const q_filter_set *filter,
                       uint32_t scan_max, q_smsg *out, uint64_t *resume_seq, q_err *err);
/* The first kept seq stored at or after t_ms (last_seq + 1 if none). O(log messages) reads. */
uint64_t q_stream_seq_at_time(q_part *p, q_stream *s, uint64_t t_ms);
/* The last kept seq of a (checked) subject, 0 if none; with *count (may be NULL) its kept
 * messages. O(1). */
uint64_t q_stream_subject_last(q_stream *s, const char *subject, size_t len, uint64_t *count);
/* Kept messages with seq >= from_seq matching filter (NULL: all): O(1) without a filter,
 * O(entries from from_seq) with one (consumers' num_pending). */
uint64_t q_stream_count_from(q_stream *s, uint64_t from_seq, const q_filter_set *filter);
/* Whether seq is kept now. */
bool q_stream_has(const q_stream *s, uint64_t seq);

/* ---- Removal. ---- */

/* PurgeStream: removes the kept messages whose subject matches `filter` (flen 0: every
 * subject) and either with seq < up_to_seq (non-zero) or all but the last `keep` of them
 * (keep 0: none kept); not both (Q_INVALID_ARGUMENT). SREMOVE records with the removed ranges;
 * on_remove per message. *purged = messages removed. */
q_status q_stream_purge(q_part *p, q_stream *s, const char *filter, size_t flen, uint64_t up_to_seq,
                        uint64_t keep, uint64_t now_ms, uint64_t *purged, uint64_t *commit_to,
                        q_err *err);
/* Removes one message (interest / work-queue retention: the consumer layer knows it may go):
 * one SREMOVE record; unpinned, gone from the index and the figures; on_remove is NOT called
 * (the caller knows). Q_NOT_FOUND when not kept (already gone: nothing written, *commit_to 0),
 * or the log's failure. */
q_status q_stream_remove(q_part *p, q_stream *s, uint64_t seq, uint64_t now_ms, uint64_t *commit_to,
                         q_err *err);

/* ---- Time: TTL and max_age (called by q_part_tick). ----
 * Removes expired messages (TTL end <= now, or time + max_age <= now), at most `budget`
 * across streams, with SREMOVE records; *more set when work was left. Returns 0 or the first
 * log error (negative errno). When the earliest such deadline is: q_streams_next_ms (O(streams), no reads). */
int q_streams_tick(q_part *p, uint64_t now_ms, uint32_t budget, bool *more);
uint64_t q_streams_next_ms(const q_part *p);

/* ---- Hooks for the consumer layer (q_consumer.c). ----
 * A stream carries an opaque `consumers` pointer (NULL until the consumer layer sets it) and
 * calls this table, set once (q_stream_hooks_set, before any q_part_open, e.g. by
 * q_consumer_hooks_install()) and global to the process. Every hook may be NULL. Hooks run on
 * the partition's thread, after the stream's state is consistent; they may call q_stream_*
 * read functions and q_stream_remove (not publish, purge or delete).
 *   on_publish(p, s, last_seq)  after a publish stored messages (last_seq is the new last);
 *                               not during replay.
 *   on_remove(p, s, seq)        a message went by limits, TTL, max_age, purge or update (not by
 *                               q_stream_remove); not during replay (replay rebuilds).
 *   on_delete(p, s)             the stream is being deleted (also during replay) or the
 *                               partition closes (`closing` true): free what `consumers` holds
 *                               and set it NULL. When not closing, consumer records are not
 *                               needed any more: unpin them.
 *   on_replay(p, rec, now_ms)   a record of type Q_RT_CONSUMER_FIRST..LAST in replay order
 *                               (find the stream with q_stream_by_id). 0, or -EBADMSG /
 *                               -ENOMEM (fails the open). NULL: such records fail the open
 *                               with -EPROTO.
 *   on_replay_done(p, now_ms)   after the whole log was replayed (before the first tick).
 *   on_compact(p, rec, now_ms, moved)  a consumer record in the oldest segment, being
 *                               compacted: re-append what is still needed (q_stream_rec_append)
 *                               and move its pins; (*moved)++ per record written. 0 or a
 *                               negative errno (stops the pass). Runs after every STREAM record
 *                               of that segment was moved (a copy's stream exists at replay).
 */
typedef struct q_stream_hooks {
    void (*on_publish)(q_part *p, q_stream *s, uint64_t last_seq);
    void (*on_remove)(q_part *p, q_stream *s, uint64_t seq);
    void (*on_delete)(q_part *p, q_stream *s, bool closing);
    int (*on_replay)(q_part *p, const q_rec *rec, uint64_t now_ms);
    void (*on_replay_done)(q_part *p, uint64_t now_ms);
    int (*on_compact)(q_part *p, const q_rec *rec, uint64_t now_ms, uint64_t *moved);
} q_stream_hooks;

/* Sets the table (borrowed for the life of the process). */
void q_stream_hooks_set(const q_stream_hooks *h);
/* The consumer layer's pointer of a stream. */
void *q_stream_consumers(const q_stream *s);
void q_stream_set_consumers(q_stream *s, void *consumers);

/* For the consumer layer's records (types Q_RT_CONSUMER_FIRST..LAST): appends a record of
 * `type` with the payload in n (<= 4) pieces, keeping the log's reserve for task ends unless
 * `freeing` (a record that lets others go: an ack). Returns the offset or a negative errno. */
int64_t q_stream_rec_append(q_part *p, uint16_t type, const struct iovec *iov, int n, bool freeing);
/* Moves a pin (a record the state needs after a restart) from *where to `to` (either may be
 * Q_OFF_NONE) and sets *where = to. 0, or -ENOMEM (during replay, when room for pins could not
 * grow; nothing changed). */
int q_stream_pin_move(q_part *p, uint64_t *where, uint64_t to);
/* Whether the partition is replaying its log (hooks may want to know). */
bool q_part_replaying(const q_part *p);

#endif
