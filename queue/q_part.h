/* queue/q_part: one partition of the task queue — a q_log directory plus the in-memory state of
 * every queue hashed to it (docs/semantics.md states the rules; this is the state machine).
 *
 * Every state change appends a record to the partition's log (queue/q_part_rec.h draws them).
 * Opening replays the log: tasks enqueued and not acked come back READY (or DELAYED while their
 * time has not come), leases are dropped, attempts are kept as written, dead tasks stay dead,
 * queue configuration and idempotency keys are rebuilt.
 *
 * Durability is the caller's: a call that appends records leaves them in the log; answer the
 * client only once q_log_durable(q_part_log(p)) >= the `commit_to` the call returned (use
 * q_log_commit_async on the owner's loop). Lease and Extend write nothing.
 *
 * Memory: a task costs 56 bytes in a slab plus ~6.7 bytes of id index (see q_task_tab.h); its
 * payload, headers and key stay in the log and are handed out as views into the mapping.
 *
 * Time: every call takes `now_ms`, the wall clock in ms since the Unix epoch (rt_wall_ns() /
 * 1e6 in the server, anything in tests). Delays, not-before times, lease deadlines and dedup
 * expiries are all in that clock.
 *
 * Views (q_leased.payload, q_task_info.payload/headers/key/last_error, queue names) point into
 * the log's mapping or the partition's memory. They stay valid until the next q_part_tick() (which
 * may delete segments) or q_part_close(), whichever comes first. Copy what must live longer.
 *
 * Results: operations return a q_status whose numbers ARE the gRPC status codes, and fill
 * `err` (may be NULL) with a message that says why. q_part_open/close return negative errno.
 *
 * Threads: a partition belongs to one thread (its shard). No call is thread-safe. */
#ifndef Q_PART_H
#define Q_PART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue/q_log.h"

/* ---- Limits (docs/semantics.md quotes them; the proto comments too). ---- */
#define Q_QUEUE_NAME_BYTES_MAX 128u /* the API's rule: 1..128 of [A-Za-z0-9._-] */
#define Q_PRIORITY_MAX 15u          /* 16 levels: one FIFO list each, a u16 mask of non-empty */
#define Q_BATCH_MAX 1000u           /* tasks per Enqueue, ids per Ack/Redrive, tasks per Lease */
#define Q_HEADERS_MAX 64u           /* headers per task: metadata, not a second payload */
#define Q_HEADER_NAME_BYTES_MAX 256u
#define Q_KEY_BYTES_MAX 256u     /* idempotency key; hashed, only the hash is in memory */
#define Q_REASON_BYTES_MAX 1024u /* nack reason kept with a dead task */
#define Q_DELAY_MS_MAX (366ull * 86400000ull) /* delay, not-before ahead, backoff: a year */
#define Q_LEASE_MS_MIN 1u
#define Q_LEASE_MS_MAX (12u * 3600000u)            /* longer work should extend its lease */
#define Q_ATTEMPTS_MAX 1000u                       /* fits the u16 attempt counter */
#define Q_DEDUP_WINDOW_MS_MAX (7ull * 86400000ull) /* keys pin log records that long */
#define Q_WAIT_MS_MAX 60000u /* Lease long-poll (the server's): longer is a client bug */
#define Q_PAGE_MAX 1000u     /* ListQueues / ListDeadTasks page size */
#define Q_PAGE_DEFAULT 100u
/* Queues per partition. Memory is per queue, allocated as queues appear: Q_QUEUE_BYTES each
 * (its struct, an entry in the index array and in the by-name array, two name-index slots);
 * queues live as long as the partition. The limit keeps one partition's queue memory under
 * ~Q_PART_QUEUES_MAX * Q_QUEUE_BYTES = 160 MiB, far more queues than a shard can serve
 * separately; it fits the 24-bit queue index of a task (q_task_tab.h). */
#define Q_PART_QUEUES_MAX (1u << 18)
#define Q_QUEUE_BYTES \
    640u /* upper bound of the memory of one queue (asserted in q_part_int.h;
                            * 512 before the ledger counters) */
#define Q_PART_TASKS_DEFAULT 100000000u /* tasks per partition: 4.8 GB of slab at most */
#define Q_PART_TASKS_MAX 0xfffffff0u    /* u32 slab indices (Q_NIL and a margin excluded) */
#define Q_DEDUP_KEYS_DEFAULT (1u << 20) /* keys remembered per partition: ~48 MB at most */
#define Q_DEDUP_KEYS_MAX (1u << 26)

/* ---- Queue defaults. ---- */
#define Q_MAX_ATTEMPTS_DEFAULT 5u
#define Q_LEASE_MS_DEFAULT 30000u
#define Q_BACKOFF_BASE_MS_DEFAULT 1000u
#define Q_BACKOFF_MAX_MS_DEFAULT 300000u
#define Q_DEDUP_WINDOW_MS_DEFAULT 86400000u

/* Partition housekeeping defaults. */
#define Q_RETAIN_EVERY_MS_DEFAULT 1000u /* retention/compaction check period */
#define Q_COMPACT_LIVE_PCT_DEFAULT 25u  /* compact the oldest segment when <= this % is live */
#define Q_PIN_BUCKET_SHIFT_DEFAULT 12u  /* live records are counted per 4096 offsets */
#define Q_TICK_MOVES_MAX 65536u         /* tasks moved per tick: a burst must not stall a shard */
/* Records compaction reads per tick: a 64 MiB segment of 100-byte tasks is ~400,000 records,
 * read in one tick in 25-30 ms on the shard (issue 19: the longest on-CPU loop turns); 4,096
 * are 0.3-0.8 ms (65-190 ns a record, 100 B - 2 KiB), and the tick comes back at once for the
 * rest. */
#define Q_COMPACT_SCAN_RECS_MAX 4096u

/* Lease tokens (docs/semantics.md "Lease tokens", queue/q_part_epoch.c): a token is
 * epoch << Q_TOKEN_SEQ_BITS | seq, where the epoch is a per-partition counter made durable at
 * every open (file Q_EPOCH_FILE in the partition directory) and seq counts the run's leases
 * from 1. 2^32 - 1 leases per epoch: the next lease after that makes a new epoch durable first
 * (one fsync per ~4 billion leases). The wall clock plays no part, except for the first epoch
 * of a directory without the file (above the tokens of builds that used now_ms << 20). */
#define Q_TOKEN_SEQ_BITS 32u
#define Q_TOKEN_SEQ_MASK ((1ull << Q_TOKEN_SEQ_BITS) - 1)
#define Q_EPOCH_MAX ((1ull << (64 - Q_TOKEN_SEQ_BITS)) - 1) /* ~4 billion opens */
#define Q_EPOCH_FILE "epoch"

#define Q_ID_STR_BYTES 32u /* "<partition>-<offset>" + NUL: 5 + 1 + 20 + 1, rounded up */
#define Q_ERR_MSG_BYTES 192u

_Static_assert(Q_PRIORITY_MAX < 16, "ready_mask is a u16");
_Static_assert(Q_ATTEMPTS_MAX <= UINT16_MAX, "attempts are u16");
_Static_assert(Q_PART_QUEUES_MAX < (1u << 24), "a task's queue index is 24 bits");
_Static_assert(Q_BACKOFF_MAX_MS_DEFAULT <= Q_DELAY_MS_MAX, "default backoff in range");

/* gRPC status codes, same numbers (grpc/doc/statuscodes.md). */
typedef enum q_status {
    Q_OK = 0,
    Q_CANCELLED = 1,
    Q_UNKNOWN = 2,
    Q_INVALID_ARGUMENT = 3,
    Q_DEADLINE_EXCEEDED = 4,
    Q_NOT_FOUND = 5,
    Q_ALREADY_EXISTS = 6,
    Q_PERMISSION_DENIED = 7,
    Q_RESOURCE_EXHAUSTED = 8,
    Q_FAILED_PRECONDITION = 9,
    Q_ABORTED = 10,
    Q_OUT_OF_RANGE = 11,
    Q_UNIMPLEMENTED = 12,
    Q_INTERNAL = 13,
    Q_UNAVAILABLE = 14,
    Q_DATA_LOSS = 15,
    Q_UNAUTHENTICATED = 16,
} q_status;

/* The gRPC name ("NOT_FOUND", ...), static. */
const char *q_status_name(q_status s);

typedef struct q_err {
    q_status code;
    char msg[Q_ERR_MSG_BYTES]; /* "" when code == Q_OK */
} q_err;

/* One result of a batch (Ack, Redrive by ids). `why` is static text, NULL when code == Q_OK. */
typedef struct q_item {
    q_status code;
    const char *why;
} q_item;

/* Task states; the numbers are ringq.v1.TaskState's. */
typedef enum q_task_state {
    Q_TASK_GONE = 0, /* (internal) free slot; never reported for an existing task */
    Q_TASK_READY = 1,
    Q_TASK_DELAYED = 2,
    Q_TASK_LEASED = 3,
    Q_TASK_DEAD = 4,
} q_task_state;

/* ---- Names and ids. ---- */

/* Checks the queue-name rule. Q_OK or Q_INVALID_ARGUMENT with the reason in err. */
q_status q_queue_name_check(const char *name, size_t len, q_err *err);
/* The partition of a queue: XXH3-64(name) mod nparts (nparts >= 1). */
uint32_t q_part_of(const char *name, size_t len, uint32_t nparts);
/* Writes the opaque id string of task `id` of partition `part_no` into buf (NUL-terminated);
 * returns its length. */
size_t q_id_format(char buf[Q_ID_STR_BYTES], uint32_t part_no, uint64_t id);
/* Parses an id string (len bytes, no NUL needed). 0 or -EINVAL (not an id of ours). */
int q_id_parse(const char *s, size_t len, uint32_t *part_no, uint64_t *id);

/* ---- Task headers: stored in the record as a packed list, walked with an iterator. ---- */

typedef struct q_header {
    const char *name;
    uint32_t name_len;
    const char *value;
    uint32_t value_len;
} q_header;

typedef struct q_hdr_iter {
    const uint8_t *p, *end;
} q_hdr_iter;
static inline void q_hdr_iter_init(q_hdr_iter *it, const uint8_t *headers, uint32_t len)
{
    it->p = headers;
    it->end = headers + len;
}
/* Returns true with *out filled (views into the record), false at the end. The packed list was
 * validated when the record was read, so this never fails on a record from the log. */
bool q_hdr_next(q_hdr_iter *it, q_header *out);

/* ---- Queue configuration. ---- */

typedef struct q_queue_cfg {
    uint32_t max_attempts;       /* 1..Q_ATTEMPTS_MAX */
    uint32_t lease_ms;           /* Q_LEASE_MS_MIN..Q_LEASE_MS_MAX */
    uint64_t backoff_base_ms;    /* 1..Q_DELAY_MS_MAX */
    uint64_t backoff_max_ms;     /* backoff_base_ms..Q_DELAY_MS_MAX */
    uint64_t dedup_window_ms;    /* 0 (off)..Q_DEDUP_WINDOW_MS_MAX */
    bool dead_letter;            /* keep dead tasks (true) or delete them */
    bool allow_tokenless_ack;    /* ack/nack/extend without a lease token (token 0) follow the
                                * old rule (any live lease of the task); default false: a
                                * token is required (docs/semantics.md, "Lease tokens") */
    bool release_counts_attempt; /* a task released because the Work stream holding it ended
                                  * (q_part_release) uses an attempt; default false: a rolling
                                  * deploy must not eat attempts (docs/semantics.md, "Leases
                                  * bound to the stream") */
} q_queue_cfg;

void q_queue_cfg_default(q_queue_cfg *c);

/* A partial update: the fields whose Q_CFG_* bit is in `set` replace the queue's. */
#define Q_CFG_MAX_ATTEMPTS 0x01u
#define Q_CFG_LEASE_MS 0x02u
#define Q_CFG_BACKOFF_BASE_MS 0x04u
#define Q_CFG_BACKOFF_MAX_MS 0x08u
#define Q_CFG_DEAD_LETTER 0x10u
#define Q_CFG_DEDUP_WINDOW_MS 0x20u
#define Q_CFG_ALLOW_TOKENLESS 0x40u
#define Q_CFG_RELEASE_COUNTS 0x80u
typedef struct q_queue_cfg_patch {
    uint32_t set;
    q_queue_cfg v;
} q_queue_cfg_patch;

/* Figures of one queue (Admin.GetQueue / ListQueues). */
typedef struct q_queue_info {
    const char *name; /* view: valid until q_part_close */
    uint32_t name_len;
    bool paused;
    q_queue_cfg cfg;
    uint64_t ready, delayed, leased, dead;
    uint64_t enqueued_total, acked_total, nacked_total, expired_total, dead_total,
        duplicates_total;          /* since open */
    double enqueue_rate, ack_rate; /* per second over the last complete window (>= 10 s) */
} q_queue_info;

/* ---- The conservation ledger (docs/semantics.md, "The conservation ledger"). ----
 *
 * Per queue, counters kept in the log (rebuilt by replay, carried across compaction and
 * retention by LEDGER records, q_part_rec.h) that say where every task ever enqueued went.
 * Two equations hold:
 *   tasks:        enqueued + redriven = acked + dead + deleted + purged + ready + delayed + leased
 *   dead letters: dead = redriven + dead_dropped + dead_held
 * `dead` counts deaths (kept as dead letters or, with dead_letter off, dropped at once); a
 * redrive takes a task out of the dead letters (right of the second) and puts it back in play
 * (left of the first): a redriven task is counted both ways. `deleted` and `purged` count tasks
 * removed while ready, delayed or leased; a dead task removed (DeleteTask, Purge) or never kept
 * counts in `dead_dropped`. Deleting the queue (DeleteQueue) starts a new ledger with the new
 * queue. ready, delayed, leased and dead_held are the tasks there now, counted from the task
 * lists, not from the counters. */
typedef struct q_ledger {
    uint64_t enqueued, redriven, acked, dead, deleted, purged, dead_dropped;
} q_ledger;

typedef struct q_audit {
    const char *name; /* view: valid until q_part_close */
    uint32_t name_len;
    q_ledger led;
    uint64_t ready, delayed, leased, dead_held; /* now */
    bool tasks_balanced, dead_balanced;         /* the two equations */
    bool balanced;                              /* both */
    /* The queue's history before this log offset is gone (a log written before LEDGER
     * records, whose early segments retention deleted): its counters miss what those
     * segments held, so an unbalanced ledger is not a finding — not logged as a mismatch,
     * not counted, not in q_part_audit_all's result. UINT64_MAX: the history is complete. */
    uint64_t incomplete_since;
} q_audit;

/* ---- Partition. ---- */

typedef struct q_part q_part;

typedef struct q_part_opts {
    q_log_opts log;            /* for q_log_open (defaults: q_log_opts_default) */
    uint64_t tasks_max;        /* live tasks (any state); default Q_PART_TASKS_DEFAULT */
    uint32_t queues_max;       /* queues (1..Q_PART_QUEUES_MAX, the default); a log written
                                * with a larger limit still replays whole */
    uint32_t dedup_keys_max;   /* idempotency keys remembered; default Q_DEDUP_KEYS_DEFAULT */
    uint32_t retain_every_ms;  /* retention / compaction period; default 1000 */
    uint32_t compact_live_pct; /* compact the oldest segment at <= this % live; default 25 */
    uint32_t pin_bucket_shift; /* 2^shift offsets per live-record counter; default 12 */
    uint64_t seed;             /* backoff jitter PRNG; 0 = from the clock */
    bool ready_when_durable;   /* hand a task out (q_part_lease, q_part_drain_ready) only once
                                * its ENQUEUE record is below q_log_durable(): the server sets it
                                * under Q_COMMIT_ALWAYS (docs/semantics.md). Default false. */
} q_part_opts;

void q_part_opts_default(q_part_opts *o);

/* Opens (creating) the log in `dir` and replays it. `opts` may be NULL (defaults); `lerr` (may
 * be NULL) gets what q_log_open found. Unless the log is read-only, first makes the next lease
 * token epoch durable (file Q_EPOCH_FILE in `dir`, queue/q_part_epoch.c). Returns 0 with *out
 * owning the partition, or a negative errno: those of q_log_open, -EBADMSG for a record this
 * code cannot read (lerr->why says which) or a damaged epoch file, the epoch file's I/O
 * errors, -EOVERFLOW (epochs exhausted), -ENOMEM. */
int q_part_open(const char *dir, uint32_t part_no, const q_part_opts *opts, uint64_t now_ms,
                q_part **out, q_log_err *lerr);
/* Closes the partition and its log (no commit). -EBUSY, doing nothing, while an async fsync is
 * in flight (see q_log_close). */
int q_part_close(q_part *p);

/* The partition's log: attach it to the loop, commit, read q_log_durable. Borrowed. */
q_log *q_part_log(q_part *p);
uint32_t q_part_no(const q_part *p);

/* ---- Queue operations. ---- */

/* One task to enqueue; every pointer is borrowed for the call. */
typedef struct q_task_spec {
    const uint8_t *payload;
    uint32_t payload_len;
    const q_header *headers;
    uint32_t nheaders;
    uint32_t priority;      /* 0..Q_PRIORITY_MAX */
    uint64_t delay_ms;      /* at most one of delay_ms / not_before_ms non-zero */
    uint64_t not_before_ms; /* wall clock, ms since the epoch */
    uint32_t max_attempts;  /* 0 = queue's */
    uint32_t lease_ms;      /* 0 = request's or queue's */
    const char *key;        /* idempotency key, NULL / key_len 0 = none */
    uint32_t key_len;
} q_task_spec;

typedef struct q_enq_result {
    uint64_t id;    /* format with q_id_format(q_part_no(p), id, ...) */
    bool duplicate; /* the key was in the window: nothing enqueued, id is the original's */
} q_enq_result;

/* Enqueues n (1..Q_BATCH_MAX) tasks into queue `name` (created if new). The whole batch is
 * validated first: Q_INVALID_ARGUMENT (names the task and the rule) or Q_RESOURCE_EXHAUSTED
 * (queue or task limit) enqueue nothing. Then one record per new task; duplicates (also within
 * the batch) append nothing. out[i] answers tasks[i]. *commit_to is the durable end to wait
 * for before answering. A log failure part-way (Q_RESOURCE_EXHAUSTED disk full, Q_INTERNAL I/O)
 * leaves the tasks before it enqueued (their out[] filled, *commit_to set): answer the error.
 * Tasks that are ready at once mark the queue for q_part_drain_ready(). */
q_status q_part_enqueue(q_part *p, const char *name, size_t name_len, const q_task_spec *tasks,
                        uint32_t n, uint64_t now_ms, q_enq_result *out, uint64_t *commit_to,
                        q_err *err);

/* A leased task: views valid until the next q_part_tick / q_part_close. */
typedef struct q_leased {
    uint64_t id;
    const uint8_t *payload;
    uint32_t payload_len;
    const uint8_t *headers; /* walk with q_hdr_iter */
    uint32_t headers_len;
    uint32_t nheaders;
    uint32_t priority;
    uint32_t attempt;      /* attempts used + 1 */
    uint32_t max_attempts; /* resolved: the task's or the queue's */
    uint64_t lease_deadline_ms;
    uint64_t enqueued_ms;
    uint64_t token; /* this delivery's lease token (never 0): ack/nack/extend name it */
} q_leased;

/* Leases up to max_n (1..Q_BATCH_MAX) ready tasks of queue `name`: highest priority first,
 * FIFO within one. Lease duration: the task's own, else lease_ms (if non-zero), else the
 * queue's. *n_out = tasks written to out (0 when the queue is unknown, paused or empty: Q_OK).
 * Writes no record. Q_INVALID_ARGUMENT for a bad name, max_n or lease_ms. A task whose record
 * fails its checksum is not handed out: it is made DEAD ("record damaged") and logged. With
 * opts.ready_when_durable, a priority level whose first ready task's ENQUEUE record is not yet
 * durable hands out nothing until a commit covers it (tasks behind it wait too: FIFO). */
q_status q_part_lease(q_part *p, const char *name, size_t name_len, uint32_t max_n,
                      uint32_t lease_ms, uint64_t now_ms, q_leased *out, uint32_t *n_out,
                      q_err *err);

/* Whether q_part_lease would hand out a task now: the queue is known, not paused, and the first
 * ready task of some priority level is leasable (with opts.ready_when_durable: its ENQUEUE
 * record is durable). Lets a caller that reserves credits before leasing (Work streams) tell
 * "nothing visible yet" from "taken meanwhile". Writes nothing. */
bool q_part_lease_ready(q_part *p, const char *name, size_t name_len);
/* The queue's ready tasks when q_part_lease_ready says yes, else 0: what a Work stream's serve
 * pass asks before it leases, in one look-up (no name check, no rate window, no q_queue_info).
 * Writes nothing. */
uint64_t q_part_ready_to_lease(q_part *p, const char *name, size_t name_len);

/* q_part_lease with a byte budget: stops before the task whose payload + headers +
 * per_task_bytes would take the running total past budget_bytes (the first task always goes),
 * so a response message holding the tasks stays under the caller's message limit. */
q_status q_part_lease_budget(q_part *p, const char *name, size_t name_len, uint32_t max_n,
                             uint32_t lease_ms, uint64_t now_ms, size_t budget_bytes,
                             size_t per_task_bytes, q_leased *out, uint32_t *n_out, q_err *err);

/* Lease tokens (Ack, Nack, Extend): `token` must be the one the task's current lease was handed
 * out with (q_leased.token). On a leased task, a different non-zero token is
 * Q_FAILED_PRECONDITION "lease superseded" — the task was delivered again since — and changes
 * nothing; a task that is not leased any more is "not leased" whatever the token. Token 0 means
 * "none": Q_FAILED_PRECONDITION "lease token required" unless the queue's allow_tokenless_ack
 * is set, then any live lease of the task qualifies (the rule before tokens). */

/* Acks n (1..Q_BATCH_MAX) tasks: one record for all that qualify. items[i] answers ids[i] with
 * tokens[i] (tokens NULL: all 0): Q_OK, Q_NOT_FOUND (unknown: never existed, acked, deleted,
 * purged, or acked by an earlier ids[j] of this call: only the first of repeated ids is Q_OK), Q_FAILED_PRECONDITION (token superseded or missing — see above — lease expired —
 * deadline <= now_ms, even before q_part_tick noticed — or not leased). Returns Q_OK,
 * Q_INVALID_ARGUMENT (n out of range), or the log's failure (nothing acked then). *commit_to as
 * for enqueue. ids and tokens are borrowed for the call. */
q_status q_part_ack(q_part *p, const uint64_t *ids, const uint64_t *tokens, uint32_t n,
                    uint64_t now_ms, q_item *items, uint64_t *commit_to, q_err *err);

typedef struct q_nack {
    bool dead_letter;   /* to the dead letters now */
    bool has_delay;     /* retry after delay_ms (else the queue's backoff with jitter) */
    uint64_t delay_ms;  /* 0..Q_DELAY_MS_MAX */
    const char *reason; /* borrowed; 0..Q_REASON_BYTES_MAX bytes */
    uint32_t reason_len;
} q_nack;

typedef struct q_nack_result {
    q_task_state state; /* DELAYED, READY, DEAD, or GONE (deleted: dead_letter off) */
    uint64_t ready_ms;  /* READY/DELAYED: when it is ready again */
    uint32_t attempts;  /* attempts used, this one included */
} q_nack_result;

/* Gives a leased task back, counting an attempt; one record (retry, dead or delete). Errors:
 * Q_NOT_FOUND, Q_FAILED_PRECONDITION (token superseded or missing, not leased, lease expired),
 * Q_INVALID_ARGUMENT (delay or reason too long), the log's failure (nothing changed). */
q_status q_part_nack(q_part *p, uint64_t id, uint64_t token, const q_nack *nk, uint64_t now_ms,
                     q_nack_result *res, uint64_t *commit_to, q_err *err);

/* Moves a leased task's deadline to now + lease_ms (0 = the task's or queue's lease); the token
 * stays the same. Writes nothing. Q_NOT_FOUND, Q_FAILED_PRECONDITION (token superseded or
 * missing, not leased, expired), Q_INVALID_ARGUMENT (lease_ms out of range). */
q_status q_part_extend(q_part *p, uint64_t id, uint64_t token, uint32_t lease_ms, uint64_t now_ms,
                       uint64_t *deadline_ms, q_err *err);

/* Why q_task_info.last_error reads this for a READY task released by q_part_release. */
#define Q_RELEASED_WHY "released: the Work stream holding it ended"

/* Releases tasks whose Work stream ended (docs/semantics.md, "Leases bound to the stream"):
 * each ids[i] still leased with tokens[i] (non-zero) and not expired goes back to READY at
 * once, one RETRY record (cause "released") each; with the queue's release_counts_attempt it
 * uses an attempt (the last one makes it DEAD, as an expired lease does). A task acked,
 * nacked, re-leased (another token) or expired since is left alone: *released counts those
 * that moved. ids and tokens are borrowed for the call. Q_OK, Q_INVALID_ARGUMENT (n over
 * Q_BATCH_MAX), or the log's failure (tasks before it released, *released says how many; the
 * rest come back when their leases expire). *commit_to as for enqueue. */
q_status q_part_release(q_part *p, const uint64_t *ids, const uint64_t *tokens, uint32_t n,
                        uint64_t now_ms, uint32_t *released, uint64_t *commit_to, q_err *err);

/* One live lease (Admin.ListLeases). */
typedef struct q_lease_info {
    uint64_t id;
    uint64_t deadline_ms;
    uint64_t token;
    uint32_t attempt; /* attempts used + 1: the one in progress */
} q_lease_info;

/* The leases of queue `name` now (state LEASED, deadline not passed), up to max of them into
 * out, *n set; *more: some were left out. Q_NOT_FOUND for an unknown queue,
 * Q_INVALID_ARGUMENT for a bad name. Writes nothing. */
q_status q_part_list_leases(q_part *p, const char *name, size_t name_len, uint64_t now_ms,
                            q_lease_info *out, uint32_t max, uint32_t *n, bool *more, q_err *err);

/* Whether task `id` is leased now with `token` (and not expired). Writes nothing. */
bool q_part_holds(q_part *p, uint64_t id, uint64_t token, uint64_t now_ms);

/* Time passes: dedup keys expire, delayed tasks whose time came become READY, expired leases
 * count an attempt and return to READY (or die) with a record each; every retain_every_ms the
 * log's dead segments are deleted (after a LEDGER record for each queue that counted since its
 * last one) and a mostly dead oldest segment is compacted. Sets
 * *next_ms to when to call again (UINT64_MAX: nothing pending; now_ms: more work was left for
 * the next call, at most Q_TICK_MOVES_MAX moves per call). Returns Q_OK or the log's failure
 * (the in-memory transitions still happen; attempts not written are lost on restart, as with a
 * crash). Invalidates views handed out before. Appends records: commit afterwards (nobody waits
 * on them). Retention frees only segments a commit has covered (q_log_retain), so with
 * Q_COMMIT_NEVER nothing is freed unless the caller runs q_log_commit now and then. */
q_status q_part_tick(q_part *p, uint64_t now_ms, uint64_t *next_ms);
/* When q_part_tick has work next (the earliest delayed task or lease deadline, the next
 * retention pass), UINT64_MAX if none. Cheap: call it after any operation (a lease, a delayed
 * enqueue, a nack, an extend can bring it forward) to re-arm the shard's one timer. */
uint64_t q_part_next_ms(const q_part *p);

/* Queues that got ready tasks (or were resumed with some) since the last call: for each, runs
 * fn(ud, p, name, name_len, ready). The set is taken before the first call, so fn may call any
 * q_part function (q_part_lease to serve long-polls and Work streams). Returns how many. With
 * opts.ready_when_durable, fn runs only for a queue with a task q_part_lease hands out now, and
 * a queue with ready tasks not yet durable stays in the set until q_log_durable() passes them:
 * call again after each commit completes (q_log_on_committed). */
typedef void (*q_ready_fn)(void *ud, q_part *p, const char *name, uint32_t name_len,
                           uint64_t ready);
uint32_t q_part_drain_ready(q_part *p, q_ready_fn fn, void *ud);

/* ---- Admin. ---- */

/* Q_NOT_FOUND for an unknown queue. */
q_status q_part_get_queue(q_part *p, const char *name, size_t name_len, uint64_t now_ms,
                          q_queue_info *out, q_err *err);
/* Queues whose name sorts after `after` (after_len 0: from the start), by name (memcmp then
 * length), up to max. *more says whether more follow. */
q_status q_part_list_queues(q_part *p, const char *after, size_t after_len, uint32_t max,
                            uint64_t now_ms, q_queue_info *out, uint32_t *n_out, bool *more);
/* Applies a patch (validated whole first: Q_INVALID_ARGUMENT changes nothing), creating the
 * queue if new; one record. out (may be NULL) gets the result. */
q_status q_part_configure(q_part *p, const char *name, size_t name_len,
                          const q_queue_cfg_patch *patch, uint64_t now_ms, q_queue_info *out,
                          uint64_t *commit_to, q_err *err);
/* Pause (true) / resume (false); one record when it changes. Q_NOT_FOUND for an unknown queue. */
q_status q_part_pause(q_part *p, const char *name, size_t name_len, bool paused, uint64_t now_ms,
                      q_queue_info *out, uint64_t *commit_to, q_err *err);
/* Deletes every task of the queue (one record). */
q_status q_part_purge(q_part *p, const char *name, size_t name_len, uint64_t now_ms,
                      uint64_t *purged, uint64_t *commit_to, q_err *err);

/* Deletes a queue entirely: its tasks in every state, its configuration and pause state, its
 * idempotency keys (one QDELETE record; replay deletes it again). The name is free afterwards:
 * an Enqueue or ConfigureQueue naming it starts a new queue with default settings. Leased
 * tasks make it Q_FAILED_PRECONDITION (nothing changes) unless `force`: then they go too and
 * their acks answer Q_NOT_FOUND. *deleted = the tasks removed. Q_NOT_FOUND unknown queue,
 * Q_INVALID_ARGUMENT bad name, or the log's failure (nothing changed). */
q_status q_part_delete_queue(q_part *p, const char *name, size_t name_len, bool force,
                             uint64_t now_ms, uint64_t *deleted, uint64_t *commit_to, q_err *err);

typedef struct q_task_info {
    uint64_t id;
    const char *queue; /* view, valid until q_part_close */
    uint32_t queue_len;
    q_task_state state;
    const uint8_t *payload; /* views into the log: valid until the next tick */
    uint32_t payload_len;
    const uint8_t *headers;
    uint32_t headers_len, nheaders;
    const char *key;
    uint32_t key_len;
    const char *last_error; /* DEAD: why; READY after a release: Q_RELEASED_WHY; else "" */
    uint32_t last_error_len;
    uint32_t priority, attempts, max_attempts;
    uint64_t enqueued_ms;
    uint64_t due_ms;      /* DELAYED: ready time; LEASED: deadline; else 0 */
    uint64_t lease_token; /* its latest delivery's token (LEASED: the lease's), 0 if none since
                           * open; for tests and tools, not for the API */
} q_task_info;

/* Q_NOT_FOUND for an unknown id; Q_DATA_LOSS if its record fails its checksum. */
q_status q_part_get_task(q_part *p, uint64_t id, q_task_info *out, q_err *err);
/* Dead tasks of a queue with id >= from_id, ascending, up to max (1..Q_PAGE_MAX). *more says
 * whether more follow (continue with from_id = the last id + 1). Q_NOT_FOUND unknown queue,
 * Q_INVALID_ARGUMENT bad max. A task whose record cannot be read is listed without payload. */
q_status q_part_list_dead(q_part *p, const char *name, size_t name_len, uint64_t from_id,
                          uint32_t max, q_task_info *out, uint32_t *n_out, bool *more, q_err *err);
/* Which tasks q_part_peek walks (bits; at least one). */
#define Q_PEEK_READY 0x1u
#define Q_PEEK_DELAYED 0x2u
#define Q_PEEK_LIMIT_DEFAULT 10u /* the API's default peek size; at most Q_PAGE_MAX */
/* The next tasks of a queue in delivery order, read-only: with Q_PEEK_READY the ready tasks in
 * the order q_part_lease would hand them out (highest priority first, FIFO within one), then
 * with Q_PEEK_DELAYED the delayed tasks in the order they become ready (due time, then id).
 * Leased and dead tasks are never listed. A paused queue is peeked like any other (what it
 * would hand out once resumed). Writes up to max (1..Q_PAGE_MAX) entries to out, stopping
 * early, like q_part_lease_budget, before the task whose payload + headers + key +
 * per_task_bytes would take the running total past budget_bytes (the first always goes;
 * SIZE_MAX: no budget). *more says whether tasks of the selected states were left out.
 * Changes nothing (no state, no record, no wake-up) and allocates nothing: memory is O(max)
 * on the stack. Time: O(entries) for ready tasks; O(delayed + leased tasks of the queue) once
 * Q_PEEK_DELAYED is walked (they share one unordered list). A task whose record cannot be read
 * is listed without payload (q_part_lease would make it dead). Q_NOT_FOUND unknown queue,
 * Q_INVALID_ARGUMENT bad name, max or states. */
q_status q_part_peek(q_part *p, const char *name, size_t name_len, uint32_t states, uint32_t max,
                     size_t budget_bytes, size_t per_task_bytes, q_task_info *out, uint32_t *n_out,
                     bool *more, q_err *err);
/* Dead tasks back to READY with attempts reset: n == 0 redrives every dead task of the queue;
 * otherwise ids (1..Q_BATCH_MAX) with items[i] for each (Q_NOT_FOUND: unknown or another
 * queue's, Q_FAILED_PRECONDITION: not dead). One record. */
q_status q_part_redrive(q_part *p, const char *name, size_t name_len, const uint64_t *ids,
                        uint32_t n, uint64_t now_ms, q_item *items, uint64_t *redriven,
                        uint64_t *commit_to, q_err *err);
/* Deletes one task in any state (one record). Q_NOT_FOUND. */
q_status q_part_delete(q_part *p, uint64_t id, uint64_t now_ms, uint64_t *commit_to, q_err *err);

/* The ledger of one queue, checked now. A queue that does not balance is logged (one line with
 * every term) and counted in q_part_stats.ledger_mismatches; nothing is changed. Q_NOT_FOUND
 * unknown queue, Q_INVALID_ARGUMENT bad name. */
q_status q_part_audit(q_part *p, const char *name, size_t name_len, q_audit *out, q_err *err);
/* Every queue of the partition, in creation order: fn(ud, audit) for each (the audit's views
 * valid during the call only), logged and counted as q_part_audit. Returns how many did not
 * balance. */
typedef void (*q_audit_fn)(void *ud, const q_audit *a);
uint64_t q_part_audit_all(q_part *p, q_audit_fn fn, void *ud);

/* Latency histograms kept per partition (q_part_stats), in Prometheus' shape: how many
 * observations fell at or under each bound (not cumulative here; the last bucket is above
 * every bound), their count and their sum. Bounds in ms, 1 ms to 1 hour: a queue's wait
 * spans milliseconds (a busy worker pool) to hours (a backlog), and so does a task's run. */
#define Q_LAT_BUCKETS 16u
#define Q_LAT_BOUNDS_MS                                                                           \
    {                                                                                             \
        1, 5, 10, 50, 100, 500, 1000, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000 \
    }
typedef struct q_lat_hist {
    uint64_t buckets[Q_LAT_BUCKETS];
    uint64_t count, sum_ms;
} q_lat_hist;
/* Counts one observation of `ms`. */
void q_lat_observe(q_lat_hist *h, uint64_t ms);

typedef struct q_part_stats {
    uint64_t tasks, queues;
    uint64_t dedup_keys, dedup_evicted;
    uint64_t mem_bytes; /* task slab + id index + heap + dedup + pins (allocated) */
    uint64_t compactions, records_compacted, segments_deleted;
    uint64_t replayed_records;     /* at open */
    uint64_t leased_undurable;     /* tasks a lease handed out while their ENQUEUE record was not
                                  * yet durable (q_task id >= q_log_durable): the check that
                                  * docs/semantics.md's "durable before visible" holds */
    uint64_t delivered_undurable;  /* stream messages a consumer handed out (Consume, Fetch)
                                    * while their SMSG record was not yet durable: the same
                                    * check for streams */
    uint64_t ledger_mismatches;    /* queue ledgers found unbalanced: at open (every queue is
                                  * checked after replay) and by q_part_audit[_all] */
    uint64_t streams, stream_msgs; /* streams of the partition and their kept messages */
    uint64_t stream_mem_bytes;     /* their memory (index, subjects, TTL heaps, configuration;
                                    * counted in mem_bytes too; queue/q_stream.h "Memory") */

    q_lat_hist wait; /* enqueue to its first lease (attempt 1), requested delays included */
    q_lat_hist run;  /* lease to ack, the ack's lease (attempt n) */
} q_part_stats;
void q_part_get_stats(const q_part *p, q_part_stats *st);

#endif
