/* queue/q_consumer: the consumers of a stream (docs/semantics.md "Stream consumers") — their
 * configuration, position, pending deliveries, acks, redelivery, and the records that make a
 * durable consumer resume exactly where it was after kill -9.
 *
 * A consumer belongs to one stream (queue/q_stream.h) and lives in the stream's partition: it
 * is owned by the partition's shard, single-threaded like q_part, and every call takes now_ms
 * (wall clock ms since the Unix epoch, as q_part).
 *
 * State. position: the next stream sequence the consumer looks at (messages below it were
 * delivered or skipped by the filter). pending: the deliveries not settled yet, each either OUT
 * (delivered, its ack deadline running) or WAIT (to be delivered again at a time: nak delay or
 * backoff). ack floor: every message at or below it is acked, terminated, or not the
 * consumer's (filter, removed). After a restart nothing is pending: the position starts at the
 * ack floor + 1 and skips the acked ranges above it (q_consumer_int.h).
 *
 * What is logged (queue/q_part_rec.h draws the records, types 20..29):
 *   CONSUMER  the configuration, pause and the start of the consumer's interest; written at
 *             create, pause and when compaction moves it. The latest is pinned.
 *   CACK      one per settle call (and per q_consumer_next under ack policy none, or when
 *             max_deliver gives a message up): the sequences acked or terminated, or "all up
 *             to S" (ack policy all, none).
 *   CSTATE    a snapshot: ack floor + the acked ranges above it. Written by reset, after
 *             every later CONSUMER record (pause, compaction), and when compaction reaches the
 *             consumer's state base: old CACK records can then go, so the log stays bounded
 *             for a consumer acking forever. Pinned (the consumer's "state base": every CACK
 *             that counts is after it, and its latest CONSUMER record before it).
 *   CDELETE   the consumer is gone.
 * Deliveries are NOT logged: a record per delivery would double a consumer's log traffic
 * (deliver + ack) to keep delivery counts across restarts. So after a restart the acked set is
 * exact (an acked message is never delivered again to the same durable consumer) and every
 * message delivered and not acked comes back as a first delivery (at-least-once): delivery
 * counts, and max_deliver, count deliveries since the partition opened. Naks and in-progress
 * are not logged either (they only move a deadline).
 *
 * Ephemeral consumers write nothing: they are gone after a restart, and deleted
 * inactive_threshold_ms after the last client unbound (q_consumer_bind) or Fetch touched them
 * (q_consumer_touch), by q_consumers_tick.
 *
 * Durability is the caller's, as in q_part: a call that appends records sets *commit_to (the
 * log offset past its records, 0 when it wrote none); answer the client once
 * q_log_durable(q_part_log(p)) >= *commit_to.
 *
 * Delivery tokens are lease tokens of the partition (q_part_token_next: epoch << 32 | seq):
 * unique across restarts, so a token from before a restart never matches a delivery after it.
 *
 * Memory: a pending entry is Q_CONSUMER_PENDING_ENTRY_BYTES (20) bytes in pages of
 * Q_CONSUMER_BLOCK_ENTRIES entries sorted by stream sequence (lookups by binary search, no
 * index), each page with its earliest deadline in the directory (the timer: finding what is due
 * reads 1/64 of the table): ~20.8 bytes per pending message with full pages, a million
 * included; settled holes are re-packed once they pass a quarter (q_consumer_pending_bytes says
 * what is allocated; pages are allocated one at a time, so the heap holds what it counts, and
 * go back once settled). Layout and reasons: queue/q_consumer_pend.h.
 *
 * Lag (ConsumerState.num_pending, Delivery.pending): messages matching the filter at or above
 * the position. Without a filter it is the stream's count from the position (q_stream_count_from,
 * O(1)). With one, it is counted once (q_stream_count_from walks the index from the position)
 * and then kept: -1 as the position passes a matching message, +1 per matching message
 * published (on_publish looks at the new ones only); a removal above the position (limits, TTL,
 * purge) marks it stale and the next figure counts again. So a consumer with a million
 * messages of lag costs one walk per removal burst, not one per call. After a restart, messages
 * acked above the first unacked one count as lag until the position passes them (they are
 * skipped, not delivered).
 *
 * Hooks: q_consumer_hooks_install() sets the stream layer's hook table (q_stream_hooks) to
 * this module's functions; call it once before any q_part_open that may hold streams (the
 * server at start-up, tests in their setup).
 *
 * Views (names, filters, description in q_consumer_info; message views in q_delivery) stay
 * valid until the consumer is deleted / the next q_part_tick, whichever comes first.
 *
 * Results: q_status (gRPC codes) with the reason in err (may be NULL), as q_part. */
#ifndef Q_CONSUMER_H
#define Q_CONSUMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue/q_part.h"
#include "queue/q_stream.h"
#include "queue/q_subject.h"

/* ---- Limits (the proto's; docs/semantics.md quotes them). ---- */
#define Q_CONSUMER_NAME_BYTES_MAX 128u /* [A-Za-z0-9_-], as stream names */
#define Q_CONSUMER_DESC_BYTES_MAX 1024u
#define Q_CONSUMER_BACKOFF_MAX 32u /* backoff_ms entries */
#define Q_CONSUMER_BACKOFF_MS_MIN 1u
#define Q_CONSUMER_BACKOFF_MS_MAX Q_DELAY_MS_MAX /* 366 days */
#define Q_CONSUMER_ACK_WAIT_MS_DEFAULT 30000u
#define Q_CONSUMER_ACK_WAIT_MS_MIN 1u
#define Q_CONSUMER_ACK_WAIT_MS_MAX (12u * 3600000u) /* longer work sends in-progress */
#define Q_CONSUMER_INACTIVE_MS_DEFAULT 5000u
#define Q_CONSUMER_INACTIVE_MS_MIN 1000u
#define Q_CONSUMER_INACTIVE_MS_MAX 86400000u /* a day: an ephemeral is not a durable */
#define Q_CONSUMER_ACK_PENDING_DEFAULT 1000u
#define Q_CONSUMER_ACK_PENDING_MAX 1000000u /* ~21 MB of pending entries at most */
/* Delivery counts are 16 bits in a pending entry; a message delivered 65535 times is a bug, not
 * a workload. max_deliver above this is refused (INVALID_ARGUMENT). */
#define Q_CONSUMER_DELIVER_MAX 65535u
#define Q_CONSUMER_NAK_DELAY_MS_MAX Q_DELAY_MS_MAX
/* The token bucket counts milli-bytes in an int64: 1 TiB/s leaves room, and no link is that
 * fast. */
#define Q_CONSUMER_RATE_MAX (1ull << 40)
/* Consumers per stream: interest retention asks each of them on every ack and publish. */
#define Q_CONSUMERS_PER_STREAM_MAX 1024u
/* Messages examined (filtered out, removed, already acked) by one q_consumer_next: a sparse
 * filter over a long stream must not stall the shard; the call then reports more to do
 * (next_ms = now_ms). */
#define Q_CONSUMER_SCAN_MAX 65536u
#define Q_CONSUMER_PENDING_ENTRY_BYTES 20u
#define Q_CONSUMER_BLOCK_ENTRIES 64u /* pending entries per deadline summary */
/* Ephemeral names the server chooses: "eph-" and 16 hex digits. */
#define Q_CONSUMER_EPH_PREFIX "eph-"

typedef enum q_deliver_policy {
    Q_DELIVER_ALL = 1,
    Q_DELIVER_LAST = 2,
    Q_DELIVER_NEW = 3,
    Q_DELIVER_BY_START_SEQ = 4,
    Q_DELIVER_BY_START_TIME = 5,
    Q_DELIVER_LAST_PER_SUBJECT = 6,
} q_deliver_policy;

typedef enum q_ack_policy {
    Q_ACKP_EXPLICIT = 1,
    Q_ACKP_ALL = 2,
    Q_ACKP_NONE = 3,
} q_ack_policy;

/* ConsumerConfig. Strings are views: borrowed by q_consumer_cfg_check / q_consumer_create for
 * the call (the consumer keeps copies); in q_consumer_info they point into the consumer. Zero
 * fields mean the proto's defaults (q_consumer_cfg_resolve fills them). */
typedef struct q_consumer_cfg {
    const char *name; /* durable: 1..128 of [A-Za-z0-9_-]; ephemeral: may be empty */
    uint32_t name_len;
    bool ephemeral;
    uint64_t inactive_threshold_ms;  /* ephemeral only: 0 = 5000, 1 s .. 1 day */
    q_deliver_policy deliver_policy; /* 0 = ALL */
    uint64_t opt_start_seq;          /* BY_START_SEQ only: 1.. */
    uint64_t opt_start_unix_ms;      /* BY_START_TIME only */
    q_subject_view filters[Q_FILTER_SET_MAX];
    uint32_t nfilters;       /* 0: the whole stream */
    q_ack_policy ack_policy; /* 0 = EXPLICIT */
    uint64_t ack_wait_ms;    /* 0 = 30000; 1 .. 12 h */
    uint32_t max_deliver;    /* 0 = no limit; at most Q_CONSUMER_DELIVER_MAX */
    uint64_t backoff_ms[Q_CONSUMER_BACKOFF_MAX];
    uint32_t nbackoff;
    uint32_t max_ack_pending;        /* 0 = 1000; at most 1000000 */
    uint64_t rate_limit_bytes_per_s; /* 0 = none */
    bool headers_only;
    const char *description; /* at most 1024 bytes */
    uint32_t description_len;
} q_consumer_cfg;

/* Replaces the zero defaults by their values (deliver ALL, ack EXPLICIT, 30 s ack wait, 1000
 * ack pending, 5 s inactivity for an ephemeral). Idempotent. */
void q_consumer_cfg_resolve(q_consumer_cfg *c);

/* Checks every rule of ConsumerConfig against stream `s` (already resolved or not): name,
 * ephemeral and inactive threshold, deliver policy with its options, filters (each valid and
 * within the stream's subjects: q_filter_set_covers), ack policy, ack wait, max_deliver,
 * backoff entries, max_ack_pending, description. Q_OK or Q_INVALID_ARGUMENT naming the field
 * ("filter_subjects[1]: ...", "ack_wait_ms: ..."). Then, on a work-queue stream,
 * Q_FAILED_PRECONDITION when a filter overlaps one of another consumer of the stream (q_filter_
 * overlap; an unfiltered consumer overlaps every other). `self` (may be NULL): a consumer not
 * to compare with (its own earlier version). Writes nothing. */
q_status q_consumer_cfg_check(q_part *p, q_stream *s, const q_consumer_cfg *c, const char *self,
                              size_t self_len, q_err *err);

typedef struct q_consumer q_consumer;

/* ---- Life cycle. ---- */

/* Creates a consumer of stream `s` (config checked first, as q_consumer_cfg_check). The
 * deliver policy's start point is resolved now (DELIVER_NEW: after the stream's last message;
 * LAST: the last message matching the filter; BY_START_TIME: q_stream's first message at or
 * after the time) and kept in the CONSUMER record, so a restart starts at the same place. The
 * consumer's interest (interest retention) starts after the stream's last message now:
 * messages published before do not wait for it. Idempotent: a durable consumer of that name
 * with the same configuration is returned as it is (nothing written); another configuration is
 * Q_ALREADY_EXISTS. An ephemeral without a name gets one (Q_CONSUMER_EPH_PREFIX + 16 hex).
 * Errors: Q_INVALID_ARGUMENT, Q_FAILED_PRECONDITION (work queue overlap), Q_ALREADY_EXISTS,
 * Q_RESOURCE_EXHAUSTED (Q_CONSUMERS_PER_STREAM_MAX, memory, disk full), Q_INTERNAL (log).
 * *out (may be NULL) is the consumer, owned by the stream. Durable: one CONSUMER record. */
q_status q_consumer_create(q_part *p, q_stream *s, const q_consumer_cfg *cfg, uint64_t now_ms,
                           q_consumer **out, uint64_t *commit_to, q_err *err);

/* The consumer of that name, NULL when unknown. */
q_consumer *q_consumer_find(q_stream *s, const char *name, size_t len);

/* Deletes a consumer: one CDELETE record (durable ones). Under interest retention, messages
 * only it still held are removed (q_stream_remove). Its deliveries' acks answer NOT_FOUND
 * afterwards. Q_NOT_FOUND unknown, or the log's failure (nothing changed). */
q_status q_consumer_delete(q_part *p, q_stream *s, const char *name, size_t len, uint64_t now_ms,
                           uint64_t *commit_to, q_err *err);

/* No deliveries before until_ms (0 or a past time: resume now). Acks are still taken. One
 * CONSUMER record for a durable consumer. */
q_status q_consumer_pause(q_consumer *c, uint64_t until_ms, uint64_t now_ms, uint64_t *commit_to,
                          q_err *err);

/* Moves the position to stream sequence `seq` (by_time false) or to the first message stored
 * at or after unix ms `seq` (by_time true): every pending delivery is dropped (its acks answer
 * NOT_FOUND) and delivery continues from there; the ack floor becomes position - 1. One
 * CSTATE record. Q_INVALID_ARGUMENT for sequence 0. */
q_status q_consumer_reset(q_consumer *c, bool by_time, uint64_t seq_or_ms, uint64_t now_ms,
                          uint64_t *commit_to, q_err *err);

/* Clients bound (Consume streams): +1 at bind, -1 when the stream ends. An ephemeral consumer
 * with no client bound is deleted inactive_threshold_ms after the last unbind or touch. */
void q_consumer_bind(q_consumer *c, int delta, uint64_t now_ms);
/* Activity that is not a bound stream (Fetch, AckMessages): restarts the inactivity clock. */
void q_consumer_touch(q_consumer *c, uint64_t now_ms);
/* An ephemeral consumer whose inactivity another decides (a partitioned stream's member k >= 1:
 * its member 0 expires the set, server/srv_stream_parts.h): q_consumers_tick leaves it; it goes
 * by q_consumer_delete. In memory only, as the ephemeral consumer itself. */
void q_consumer_hold_expiry(q_consumer *c);

/* ---- Delivering. ---- */

typedef struct q_delivery {
    q_smsg msg;              /* views into the log (payload NULL, payload_len 0 when headers_only;
                             * msg.size still counts it) */
    uint64_t stream_seq;     /* = msg.seq */
    uint64_t consumer_seq;   /* the consumer's delivery number, redeliveries included */
    uint64_t token;          /* this delivery's token (never 0) */
    uint64_t pending;        /* lag after this delivery (Delivery.pending) */
    uint32_t delivery_count; /* 1 on the first delivery since the partition opened */
} q_delivery;

/* Hands out up to max (1..Q_BATCH_MAX) deliveries into out, *n set: first redeliveries that
 * are due (WAIT entries whose time came, OUT entries whose ack deadline passed), lowest stream
 * sequence first; then new messages from the position, those matching the filter — with the
 * partition's opts.ready_when_durable, only up to the first whose record is not durable yet
 * (call again after the commit). Nothing
 * while paused; no more than max_ack_pending OUT + WAIT entries (a message waiting for
 * redelivery still counts); a message over max_deliver is given up instead (terminated: one
 * CACK TERM record for the call) and never delivered again. Stops before the delivery whose
 * payload + headers + per_msg_bytes would take the running total past budget_bytes (the first
 * always goes; SIZE_MAX: none), and, with a rate limit, when the token bucket (fed by now_ms,
 * one second of burst) is empty. Each delivery gets a fresh token (an older token of the same
 * message is superseded). Ack policy none: delivered is acked (one CACK record for the call;
 * under interest / work-queue retention messages may be removed).
 * *next_ms (may be NULL): when the consumer has something to hand out next without a publish
 * (a redelivery or pause end or rate limit; now_ms: more is ready; UINT64_MAX: only a publish).
 * Returns Q_OK (possibly *n = 0), Q_INVALID_ARGUMENT (max), the log's failure. */
q_status q_consumer_next(q_consumer *c, uint64_t now_ms, uint32_t max, size_t budget_bytes,
                         size_t per_msg_bytes, q_delivery *out, uint32_t *n, uint64_t *next_ms,
                         uint64_t *commit_to, q_err *err);

/* Whether q_consumer_next would hand out something now: not paused, the rate allows, and a
 * redelivery is due or a new matching message is there and max_ack_pending has room. No
 * message is read: the deadline summaries (pending / 64) and the lag (q_consumer.h "Lag"). */
bool q_consumer_ready(q_consumer *c, uint64_t now_ms);
/* When the consumer has a redelivery, pause end or rate-limit refill due (UINT64_MAX: none). */
uint64_t q_consumer_next_ms(const q_consumer *c);

/* ---- Settling (Acks). ---- */

typedef enum q_ack_kind {
    Q_ACK_ACK = 1,
    Q_ACK_NAK = 2,
    Q_ACK_PROGRESS = 3,
    Q_ACK_TERM = 4,
} q_ack_kind;

typedef struct q_ack_ref {
    uint64_t seq;   /* stream sequence */
    uint64_t token; /* q_delivery.token as received */
} q_ack_ref;

typedef struct q_acks {
    q_ack_kind kind;
    const q_ack_ref *refs; /* borrowed for the call */
    uint32_t n;            /* 1..Q_BATCH_MAX */
    bool has_delay;        /* NAK: redeliver after delay_ms (else the backoff) */
    uint64_t delay_ms;     /* 0..Q_CONSUMER_NAK_DELAY_MS_MAX */
    const char *reason;    /* TERM: 0..Q_REASON_BYTES_MAX bytes, borrowed (logged) */
    uint32_t reason_len;
} q_acks;

/* Settles deliveries; items[i] answers refs[i]: Q_OK; Q_NOT_FOUND (not pending: acked, never
 * delivered, removed, reset); Q_FAILED_PRECONDITION "delivery superseded" (the token is not
 * the message's current delivery's — it was delivered again since, or the partition
 * restarted). ACK acks (ack policy all: every pending message at or below it too), TERM
 * terminates (num_terminated), both in one CACK record for the call; NAK makes the delivery
 * WAIT until delay_ms or the backoff entry of its delivery count (empty backoff: at once);
 * PROGRESS restarts the ack wait, same token (both write nothing). Under interest / work-queue
 * retention acked messages no consumer holds any more are removed (q_stream_remove). Returns
 * Q_OK, Q_INVALID_ARGUMENT (n, kind, delay, reason; nothing settled), Q_FAILED_PRECONDITION
 * (ack policy none: nothing to ack), or the log's failure (nothing settled). */
q_status q_consumer_settle(q_consumer *c, const q_acks *a, uint64_t now_ms, q_item *items,
                           uint64_t *commit_to, q_err *err);

/* ---- Figures. ---- */

typedef struct q_consumer_state {
    uint64_t delivered_consumer_seq, delivered_stream_seq;
    uint64_t ack_floor_stream_seq;
    uint64_t num_ack_pending; /* pending entries: OUT + WAIT */
    uint64_t num_redelivered; /* of those, delivered more than once */
    uint64_t num_pending;     /* lag: matching messages at or above the position */
    uint64_t num_terminated;  /* given up (max_deliver) or TERM, kept across restarts */
    uint64_t paused_until_ms; /* 0: not paused */
    uint64_t position_seq;
    uint32_t clients;
    uint64_t pending_bytes; /* memory of the table of pending entries (q_consumer_pending_bytes) */
} q_consumer_state;

typedef struct q_consumer_info {
    q_consumer_cfg cfg; /* resolved; views into the consumer */
    q_consumer_state state;
    uint64_t created_ms;
} q_consumer_info;

void q_consumer_info_fill(q_consumer *c, uint64_t now_ms, q_consumer_info *out);

/* Consumers of `s` whose name sorts after `after` (after_len 0: from the start), by name
 * (memcmp then length), up to max into out; *more: some follow. */
void q_consumer_list(q_stream *s, const char *after, size_t after_len, uint32_t max,
                     uint64_t now_ms, q_consumer_info *out, uint32_t *n, bool *more);
uint32_t q_consumer_count(const q_stream *s);

/* Bytes of the consumer's pending table (allocated: entries and deadline summaries). */
uint64_t q_consumer_pending_bytes(const q_consumer *c);

/* Called by q_consumers_tick for each consumer it deletes, just before: stream s, the
 * consumer's name (borrowed for the call), ud. */
typedef void (*q_consumer_gone_fn)(q_stream *s, const char *name, size_t len, void *ud);
/* Time passes for the consumers of every stream of the partition: ephemeral consumers with
 * no client bound and idle past their inactive threshold (not held: q_consumer_hold_expiry)
 * are deleted (as q_consumer_delete, writing nothing), each told to on_gone (may be NULL) first.
 * Returns how many went; *next_ms: when to call again (UINT64_MAX: no ephemeral consumer is
 * idle). Call it with q_part_tick. */
uint32_t q_consumers_tick(q_part *p, uint64_t now_ms, uint64_t *next_ms, q_consumer_gone_fn on_gone,
                          void *ud);

/* Installs the hooks (see the top). Idempotent. */
void q_consumer_hooks_install(void);

#endif
