/* queue/q_part_rec: the records a partition writes to its log — their types (the log's u16
 * record type) and payload layouts. Pure encode/decode: no I/O, no allocation.
 *
 * All integers little-endian, no alignment assumed (payloads are read with q_ld*). Every
 * decoder checks that the lengths add up to the record's length exactly and returns -EBADMSG
 * otherwise. Changing a layout or a type number means bumping Q_PART_REC_VERSION and keeping a
 * reader for the old one: logs outlive binaries.
 *
 * ENQUEUE (1) — a new task; the record's id is the task id
 *   OFF  SIZE  DESCRIPTION
 *   0    2     queue name length N (1..128)
 *   2    1     priority (0..15)
 *   3    1     reserved, 0
 *   4    2     max_attempts (0 = the queue's)
 *   6    2     header count
 *   8    4     lease_ms (0 = the request's or the queue's)
 *   12   4     headers bytes H
 *   16   8     not_before_ms: ready at (0 = at once)
 *   24   8     enqueued_ms
 *   32   2     idempotency key length K (0 = none)
 *   34   2     reserved, 0
 *   36   4     payload length L
 *   40   N     queue name | K key | H headers | L payload
 *   headers: count x { u16 name length, u32 value length, name, value }
 *
 * ACK (2)      0 u32 count c | 4 u32 0 | 8 c x u64 task id
 * RETRY (3)    0 u64 id | 8 u64 ready_ms | 16 u16 attempts | 18 u8 cause | 19 u8 0 | 20 u32 0
 * DEAD (4)     0 u64 id | 8 u64 when_ms | 16 u16 attempts | 18 u8 cause | 19 u8 0 |
 *              20 u16 reason length R | 22 u16 0 | 24 R reason
 * DELETE (5)   0 u64 id | 8 u8 cause | 9 7 x 0
 * REDRIVE (6)  0 u16 N | 2 u16 0 | 4 u32 count c (0 = every dead task) | 8 N name | c x u64 id
 * PURGE (7)    0 u16 N | 2 u16 0 | 4 u32 0 | 8 N name
 * QUEUE (8)    0 u16 N | 2 u8 paused | 3 u8 dead_letter | 4 u32 max_attempts | 8 u32 lease_ms |
 *              12 u32 flags (bit 0 allow_tokenless_ack, bit 1 release_counts_attempt; 0 in logs written before them) | 16 u64 backoff_base_ms | 24 u64 backoff_max_ms |
 *              32 u64 dedup_window_ms | 40 N name          (the queue's whole state)
 * STATE (9)    0 u64 id | 8 u64 due_ms | 16 u16 attempts | 18 u8 q_task_state | 19 u8 0 |
 *              20 u16 reason length R | 22 u16 0 | 24 R reason
 *              (written right after a task's ENQUEUE is compacted: its state at that time)
 * DEDUP (10)   0 u64 key hash | 8 u64 task id | 16 u64 expiry_ms | 24 u16 N | 26 u16 0 |
 *              28 u32 0 | 32 N name   (an idempotency key outliving its ENQUEUE record)
 * QDELETE (11) 0 u16 N | 2 u16 0 | 4 u32 0 | 8 N name   (Admin.DeleteQueue: the queue with its
 *              tasks, configuration and idempotency keys is gone; a later record naming it
 *              starts a new queue. Version 2.)
 * LEDGER (12)  0 u16 N | 2 u16 0 | 4 u32 0 | 8 u64 enqueued | 16 u64 redriven | 24 u64 acked |
 *              32 u64 dead | 40 u64 deleted | 48 u64 purged | 56 u64 dead_dropped | 64 N name
 *              (bytes 2..7, written 0 before: 0 = the queue's history is complete, else a
 *              48-bit "incomplete since" offset + 1 — a log written before LEDGER records
 *              whose early segments were deleted, q_part_ledger.c; older readers ignore it)
 *              (the queue's conservation ledger as of this record: replay sets the counters
 *              to these values and counts the records after it; written before retention
 *              deletes a segment, for each queue that counted since its last one, and when
 *              compaction empties the segment holding that one. Version 3.)
 *
 * Streams (version 5; queue/q_stream.h, docs/storage.md "Streams" draws them as tables; 18..19
 * reserved for streams, 20..29 are the consumers' records, queue/q_consumer.h):
 * STREAM (13)  0 u32 stream id | 4 u16 N | 6 u8 retention | 7 u8 discard | 8 u64 max_msgs |
 *              16 u64 max_bytes | 24 u64 max_age_ms | 32 u64 max_msgs_per_subject |
 *              40 u64 dup_window_ms | 48 u32 max_msg_size | 52 u8 flags (bit 0 allow_msg_ttl) |
 *              53 u8 filter count F | 54 u16 description length D | 56 u64 created_ms |
 *              64 u64 first_seq | 72 u64 last_seq | 80 N name | D description |
 *              F x { u16 length, filter }   (config and seq bounds when written; pinned)
 * SMSG (14)    0 u32 stream id | 4 u16 subject length S | 6 u16 msg_id length M | 8 u64 seq |
 *              16 u64 time_ms | 24 u64 expires_ms (0 none) | 32 u32 headers bytes H |
 *              36 u16 header count | 38 u16 0 | 40 u32 payload length L | 44 u32 0 |
 *              48 S subject | M msg_id | H headers (as ENQUEUE's) | L payload
 * SREMOVE (15) 0 u32 stream id | 4 u32 count c | 8 c x { u64 first, u64 last } (inclusive)
 * SDELETE (16) 0 u32 stream id | 4 u32 0
 * SDEDUP (17)  0 u32 stream id | 4 u32 0 | 8 u64 msg_id hash | 16 u64 seq | 24 u64 expiry_ms
 *
 * Stream consumers (queue/q_consumer.h, encoded by q_consumer_rec.c; version 5). Each names
 * its stream by the stream's per-partition id (u32 I) and the consumer by name (N bytes):
 * CONSUMER (20)  a durable consumer's configuration and start (ephemeral ones write nothing)
 *   OFF  SIZE  DESCRIPTION
 *   0    4     stream id I
 *   4    2     consumer name length N (1..128)
 *   6    1     flags: bit 0 update (not a creation: the state stays), bit 1 headers_only
 *   7    1     deliver policy (1..6, ringq.v1.DeliverPolicy)
 *   8    1     ack policy (1..3, ringq.v1.AckPolicy)
 *   9    1     filter count F (0..16)
 *   10   1     backoff count B (0..32)
 *   11   1     0
 *   12   2     description length D
 *   14   2     0
 *   16   4     max_deliver (0 = no limit)
 *   20   4     max_ack_pending
 *   24   8     ack_wait_ms
 *   32   8     opt_start_seq
 *   40   8     opt_start_unix_ms
 *   48   8     rate_limit_bytes_per_s
 *   56   8     created_ms
 *   64   8     start seq: the deliver policy's start, resolved at creation
 *   72   8     interest from: the stream's last seq + 1 at creation (interest retention)
 *   80   8     last-per-subject end: the stream's last seq at creation (policy 6; else 0)
 *   88   8     paused until (ms; 0 = not paused)
 *   96   N     name | F x { u16 length, filter } | B x u64 backoff ms | D description
 * CACK (21)     0 u32 I | 4 u16 N | 6 u8 kind (1 ack, 2 term, 3 all up to) | 7 u8 0 |
 *               8 u32 count c | 12 u16 reason length R | 14 u16 0 | 16 N name | c x u64 seq |
 *               R reason   (one per settle call; kind 3 has c = 1: every seq up to it)
 * CSTATE (22)   0 u32 I | 4 u16 N | 6 u16 0 | 8 u32 ranges c | 12 u32 0 | 16 u64 ack floor |
 *               24 u64 terminated | 32 N name | c x { u64 first, u64 last } acked ranges above
 *               the floor, ascending, inclusive   (a snapshot: reset, pause, compaction)
 * CDELETE (23)  0 u32 I | 4 u16 N | 6 u16 0 | 8 N name */
#ifndef Q_PART_REC_H
#define Q_PART_REC_H

#include <stdint.h>
#include <sys/uio.h>

#include "queue/q_format.h"
#include "queue/q_part.h"

#define Q_PART_REC_VERSION \
    6u /* 2: QDELETE, 3: LEDGER, 4: LEDGER "incomplete since", 5: streams (13..17) and their
        * consumers (20..29), 6: STREAM flag bit 1 (a partitioned stream's member: its count
        * and index after the filters); older logs read as they are */
#define Q_LEDGER_SINCE_MAX ((1ull << 48) - 1) /* bytes 2..7 of LEDGER: offset + 1 */

enum {
    Q_RT_ENQUEUE = 1,
    Q_RT_ACK = 2,
    Q_RT_RETRY = 3,
    Q_RT_DEAD = 4,
    Q_RT_DELETE = 5,
    Q_RT_REDRIVE = 6,
    Q_RT_PURGE = 7,
    Q_RT_QUEUE = 8,
    Q_RT_STATE = 9,
    Q_RT_DEDUP = 10,
    Q_RT_QDELETE = 11,
    Q_RT_LEDGER = 12,
    /* Streams (queue/q_stream.h); 18..19 reserved for them, 20..29 are the consumers'. */
    Q_RT_STREAM = 13,
    Q_RT_SMSG = 14,
    Q_RT_SREMOVE = 15,
    Q_RT_SDELETE = 16,
    Q_RT_SDEDUP = 17,
    /* Stream consumers (queue/q_consumer.h); 24..29 reserved for them. */
    Q_RT_CONSUMER = 20,
    Q_RT_CACK = 21,
    Q_RT_CSTATE = 22,
    Q_RT_CDELETE = 23,
};

/* The type's name as docs and ringq-log print it ("enqueue", "ack", ..., "queue-delete"),
 * static; NULL for a type this code does not know. */
const char *q_prec_type_name(uint16_t type);

/* Why a task was retried, died or was deleted (RETRY, DEAD, DELETE cause byte). */
enum {
    Q_CAUSE_NACK = 1,     /* the worker's nack */
    Q_CAUSE_EXPIRED = 2,  /* the lease expired */
    Q_CAUSE_ADMIN = 3,    /* Admin.DeleteTask */
    Q_CAUSE_DAMAGED = 4,  /* the record failed its checksum when read */
    Q_CAUSE_RELEASED = 5, /* the Work stream holding its lease ended (q_part_release) */
};

/* QUEUE record flags (offset 12). */
#define Q_QFLAG_TOKENLESS_ACK 0x1u  /* acks, nacks, extends without a lease token are allowed */
#define Q_QFLAG_RELEASE_COUNTS 0x2u /* a release (stream ended) uses an attempt */

#define Q_ENQ_FIXED_BYTES 40u
#define Q_HDR_PREFIX_BYTES 6u /* u16 name length + u32 value length */

/* A decoded ENQUEUE record: views into the record payload. */
typedef struct q_enq_rec {
    const char *queue;
    uint32_t queue_len;
    uint32_t priority, max_attempts, lease_ms, nheaders;
    uint64_t not_before_ms, enqueued_ms;
    const char *key;
    uint32_t key_len;
    const uint8_t *headers;
    uint32_t headers_len;
    const uint8_t *payload;
    uint32_t payload_len;
} q_enq_rec;

/* Scratch for encoding an ENQUEUE record as iovecs (the payload is not copied). */
typedef struct q_enq_enc {
    uint8_t fixed[Q_ENQ_FIXED_BYTES];
    uint8_t prefix[Q_HEADERS_MAX][Q_HDR_PREFIX_BYTES];
    struct iovec iov[4 + 2 * Q_HEADERS_MAX + Q_HEADERS_MAX];
    int n;
    uint64_t len;
} q_enq_enc;

/* Bytes of the ENQUEUE payload for this task (to check against the log's record limit). */
uint64_t q_enq_size(size_t name_len, const q_task_spec *t);
/* Builds the iovecs; the spec's buffers and name are borrowed until the append. */
void q_enq_encode(q_enq_enc *e, const char *name, size_t name_len, const q_task_spec *t,
                  uint64_t not_before_ms, uint64_t enqueued_ms);
/* 0 or -EBADMSG (lengths do not add up, a header runs past the end). */
int q_enq_decode(const uint8_t *p, uint32_t len, q_enq_rec *out);

/* Any other record, decoded. Fields not in the type's layout are zero. */
typedef struct q_prec {
    uint16_t type;
    uint8_t cause;     /* RETRY, DEAD, DELETE */
    uint8_t state;     /* STATE */
    uint32_t attempts; /* RETRY, DEAD, STATE */
    uint64_t id;       /* RETRY, DEAD, DELETE, STATE, DEDUP */
    uint64_t t_ms;     /* RETRY ready_ms, DEAD when_ms, STATE due_ms, DEDUP expiry_ms */
    uint64_t key_hash; /* DEDUP */
    const char *name;  /* REDRIVE, PURGE, QUEUE, DEDUP, QDELETE, LEDGER */
    uint32_t name_len;
    const char *reason; /* DEAD, STATE */
    uint32_t reason_len;
    const uint8_t *ids; /* ACK, REDRIVE: nids x u64, unaligned */
    uint32_t nids;
    bool paused;         /* QUEUE */
    q_queue_cfg cfg;     /* QUEUE */
    q_ledger led;        /* LEDGER */
    uint64_t led_since1; /* LEDGER: 0 = the queue's history is complete, else it is known
                          * only from offset led_since1 - 1 (q_audit.incomplete_since) */
} q_prec;

/* Decodes a non-ENQUEUE record. 0, -EBADMSG (bad layout), -EPROTO (unknown type). */
int q_prec_decode(uint16_t type, const uint8_t *p, uint32_t len, q_prec *out);

/* The longest fixed part of a small record (LEDGER's). */
#define Q_PREC_FIXED_BYTES_MAX 64u

/* Encoders for the small records: write the fixed part into `fixed` and the iovecs (borrowing
 * name/reason/ids) into iov (at most 4); return the iovec count. */
int q_prec_encode(const q_prec *r, uint8_t fixed[Q_PREC_FIXED_BYTES_MAX], struct iovec iov[4]);

#endif
