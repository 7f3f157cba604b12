/* libringq: the C client of ringqd (ringq.v1 over gRPC, HTTP/2 cleartext with prior knowledge).
 *
 * Two ways to use it
 *   Blocking: rq_client_create() with no loop, then call rq_enqueue(), rq_lease(), rq_ack(),
 *   the admin calls... Each call runs the client's own io_uring loop until it completes or its
 *   deadline (rq_client_opts.timeout_ms) passes.
 *   Event-driven: pass your core ev_loop (core/ev_reactor.h) in rq_client_opts.loop; the Work
 *   stream (rq_work_open) then delivers tasks and results from your loop's iterations. Blocking
 *   calls still work on such a client, but never from inside a libringq callback.
 *   A client belongs to the thread that created it (io_uring's single issuer).
 *
 * Results
 *   Every call returns a gRPC status code (0 = OK) and, when `st` is not NULL, fills it with the
 *   code and the server's message. RQ_E* are not gRPC codes: they never come from the server.
 *
 * Connections
 *   One HTTP/2 connection, opened on first use and again after it is lost. A unary call the
 *   server did not process (refused stream, above a GOAWAY's last stream id, connection lost
 *   before sending) is retried on a new connection, at most RQ_RETRIES_MAX times. When the
 *   server cannot be reached (refused, down, restarting), unary calls wait and the connection
 *   is dialled again with exponential backoff (RQ_BACKOFF_MIN_MS doubling to RQ_BACKOFF_MAX_MS)
 *   until each call's deadline; a call still waiting then ends with RQ_ECONNECT and the last
 *   dial error. Dials run on the loop (io_uring connect; only name resolution blocks). A call
 *   already sent when its connection is lost ends with UNAVAILABLE (the server may have
 *   processed it). After a GOAWAY the old connection keeps serving the calls the server accepted
 *   while new calls go to a new one. The Work stream re-subscribes after a loss with the same
 *   backoff (at once when a connection comes up).
 *
 * Memory: results the library allocates are freed with the matching rq_*_free function. */
#ifndef RINGQ_H
#define RINGQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ev_loop;
typedef struct rq_client rq_client;
typedef struct rq_work rq_work;

/* Longest task id the server issues, plus NUL (ids are opaque; today about 20 bytes). */
#define RQ_ID_MAX 64
/* Longest queue name (docs/semantics.md) plus NUL. */
#define RQ_QUEUE_NAME_MAX 129
/* Unary calls the server refused and we resend, at most. */
#define RQ_RETRIES_MAX 3
/* Work stream reconnect backoff: doubles from MIN to MAX (ms). */
#define RQ_BACKOFF_MIN_MS 100u
#define RQ_BACKOFF_MAX_MS 5000u
/* Default per-call deadline and connect timeout (ms). */
#define RQ_TIMEOUT_MS_DEFAULT 30000u
#define RQ_CONNECT_TIMEOUT_MS_DEFAULT 5000u
/* Default address when neither rq_client_opts.addr nor $RINGQ_ADDR is set. */
#define RQ_ADDR_DEFAULT "127.0.0.1:7070"

/* Status codes that never come from a server. */
#define RQ_ECONNECT 100 /* could not connect (the message says why) */
#define RQ_EINVAL 101   /* the library refused the arguments before sending */

typedef struct rq_status {
    int code;          /* 0 OK, 1..16 gRPC status, RQ_E* */
    char message[256]; /* why, when code != 0 */
} rq_status;

/* "OK", "NOT_FOUND", ..., "CONNECT_FAILED", "INVALID_ARGS". Static. */
const char *rq_status_name(int code);

typedef struct rq_client_opts {
    const char *addr;            /* "host:port" (IPv4, [IPv6] or a name); NULL: $RINGQ_ADDR,
                                    else RQ_ADDR_DEFAULT */
    uint32_t timeout_ms;         /* deadline of each unary call; 0: RQ_TIMEOUT_MS_DEFAULT */
    uint32_t connect_timeout_ms; /* one dial's limit; 0: RQ_CONNECT_TIMEOUT_MS_DEFAULT */
    struct ev_loop *loop;        /* NULL: the client creates and owns one */
    uint32_t gzip_min_bytes;     /* gzip request messages of at least this many bytes once the
                                    server listed gzip in grpc-accept-encoding; 0: never.
                                    gzip responses are always accepted. */
    bool fail_fast;              /* false (default, gRPC's wait-for-ready): unary calls wait for
                                    the server through failed dials until their deadline.
                                    true: a failed dial ends every waiting unary call at once
                                    with RQ_ECONNECT (for tools that report and exit). The Work
                                    stream always re-subscribes. */
} rq_client_opts;

/* Creates a client (no connection yet: the first call connects). Returns NULL with st filled
 * (RQ_EINVAL: bad address; RQ_ECONNECT: io_uring unavailable) on failure. */
rq_client *rq_client_create(const rq_client_opts *opts, rq_status *st);
/* Closes the connection; open Work streams are closed first (no callbacks). NULL: no-op. */
void rq_client_destroy(rq_client *c);
/* The loop the client runs on. */
struct ev_loop *rq_client_loop(rq_client *c);
/* The address in use ("host:port"). */
const char *rq_client_addr(const rq_client *c);
/* Runs the client's loop once, waiting at most timeout_ms (-1: until something happens) for
 * events; for programs that use rq_work without a loop of their own. Returns the number of
 * events handled or a negative errno. */
int rq_client_poll(rq_client *c, int timeout_ms);

/* ---- producers ---- */

typedef struct rq_header {
    const char *name;
    const char *value;
} rq_header;

/* One task to enqueue; every field but payload is optional (zero = the server's default). The
 * pointers are borrowed for the call. */
typedef struct rq_task_spec {
    const void *payload;
    size_t payload_len;
    const rq_header *headers;
    size_t nheaders;
    uint32_t priority; /* 0..15 */
    uint64_t delay_ms;
    uint64_t not_before_unix_ms;
    uint32_t max_attempts;
    uint32_t lease_ms;
    const char *idempotency_key; /* NULL or "": none */
} rq_task_spec;

typedef struct rq_enqueue_result {
    char id[RQ_ID_MAX];
    bool duplicate;
} rq_enqueue_result;

/* Enqueues n (1..1000) tasks into `queue`; results[n] receives one result per task. Answered
 * at the server's default durability (rq_enqueue_with). */
int rq_enqueue(rq_client *c, const char *queue, const rq_task_spec *tasks, size_t n,
               rq_enqueue_result *results, rq_status *st);

/* Durability of one Enqueue (docs/semantics.md, "Durability levels"): when the server answers. */
typedef enum rq_durability {
    RQ_DURABILITY_DEFAULT = 0, /* the server's: SYNCED, or WRITTEN under --fsync never */
    RQ_DURABILITY_MEMORY = 1,  /* once applied (reported as WRITTEN: the log is mapped) */
    RQ_DURABILITY_WRITTEN = 2, /* in the log's page cache: survives a process crash */
    RQ_DURABILITY_SYNCED = 3,  /* after the fdatasync that covers it: survives power loss;
                                * FAILED_PRECONDITION from a server run with --fsync never */
} rq_durability;
typedef struct rq_enqueue_opts {
    rq_durability durability;
} rq_enqueue_opts;
/* Where one enqueued task's record is and how durable it was when the server answered. It is
 * synced once rq_get_partition() reports synced_commit_seq >= commit_seq (or synced_offset >
 * offset) for `partition`, within one server life (see docs/semantics.md for restarts). */
typedef struct rq_receipt {
    uint32_t partition;
    uint64_t offset;     /* the record's offset in the partition's log */
    uint64_t commit_seq; /* SYNCED: a completed commit covering it; WRITTEN: the first that will */
    rq_durability level; /* RQ_DURABILITY_WRITTEN or RQ_DURABILITY_SYNCED */
} rq_receipt;
/* rq_enqueue with options (NULL: the defaults) and, when `receipts` is not NULL, each task's
 * receipt in receipts[n]. Same errors as rq_enqueue, and FAILED_PRECONDITION for a level the
 * server does not allow (nothing enqueued), INVALID_ARGUMENT for an unknown level. */
int rq_enqueue_with(rq_client *c, const char *queue, const rq_task_spec *tasks, size_t n,
                    const rq_enqueue_opts *opts, rq_enqueue_result *results, rq_receipt *receipts,
                    rq_status *st);

/* One partition's log (Admin.GetPartition): to confirm WRITTEN receipts became synced. */
typedef struct rq_partition_info {
    uint32_t partition;
    uint64_t synced_commit_seq; /* commits that synced something; monotonic across restarts */
    uint64_t synced_offset;     /* records below it are covered by a completed fdatasync */
    uint64_t durable_offset;    /* records below it are durable as --fsync defines it */
    uint64_t next_offset;       /* the offset the next record gets */
} rq_partition_info;
/* 0, or the status: NOT_FOUND for a partition the server does not have. */
int rq_get_partition(rq_client *c, uint32_t partition, rq_partition_info *out, rq_status *st);

/* ---- asynchronous calls (programs that run their own loop: rq_client_opts.loop) ----
 * The callback runs exactly once, from an iteration of the client's loop (never from inside the
 * starting call). Refused calls are retried and lost connections re-dialled with backoff, as for
 * the blocking calls, until the call's deadline. Views passed to a callback are valid during it
 * only. Return 0 when started, or a negative errno (-EINVAL, -ENOMEM): then no callback runs.
 * Any number of calls may be in flight on the one connection (beyond the server's stream limit
 * they wait their turn). rq_client_destroy ends calls still in flight with CANCELLED: their
 * callbacks run inside it (starting a call from one fails with -EINVAL). A blocking call made
 * from inside a libringq callback fails with RQ_EINVAL. */

/* Any unary gRPC call: `req` is the serialized request message (copied); `resp` the response
 * message (NULL when st->code != 0). timeout_ms 0: the client's. */
typedef void (*rq_call_fn)(rq_client *c, void *ud, const rq_status *st, const uint8_t *resp,
                           size_t resp_len);
int rq_call_async(rq_client *c, const char *path, const void *req, size_t len, uint32_t timeout_ms,
                  rq_call_fn done, void *ud);

/* Enqueue (the same request as rq_enqueue; `tasks` is encoded before the call returns). */
typedef void (*rq_enqueue_fn)(rq_client *c, void *ud, const rq_status *st,
                              const rq_enqueue_result *results, size_t n);
int rq_enqueue_async(rq_client *c, const char *queue, const rq_task_spec *tasks, size_t n,
                     rq_enqueue_fn done, void *ud);

/* ---- workers ---- */

/* A delivered task: one allocation, freed with rq_task_free. */
typedef struct rq_task {
    char *id;
    char *queue;
    uint8_t *payload; /* NUL-terminated for convenience (not counted in payload_len) */
    size_t payload_len;
    rq_header *headers;
    size_t nheaders;
    uint32_t priority;
    uint32_t attempt;
    uint32_t max_attempts;
    uint64_t lease_deadline_unix_ms;
    uint64_t enqueued_unix_ms;
    uint64_t lease_token; /* this delivery's token: pass it to ack, nack and extend */
} rq_task;
void rq_task_free(rq_task *t);
/* Frees an array from rq_lease and every task in it. */
void rq_tasks_free(rq_task **tasks, size_t n);

/* Leases up to max_tasks (0: 1) tasks, waiting up to wait_ms for the first; lease_ms 0: the
 * queue's. *tasks is a new array of *n tasks (NULL when none). */
int rq_lease(rq_client *c, const char *queue, uint32_t max_tasks, uint32_t wait_ms,
             uint32_t lease_ms, rq_task ***tasks, size_t *n, rq_status *st);

typedef struct rq_item_status {
    int code; /* gRPC code of this item */
    char message[128];
} rq_item_status;

/* Lease tokens: ack, nack and extend name a task by its id and the lease_token it was delivered
 * with (rq_task.lease_token). A stale token (the task was delivered again since) answers
 * FAILED_PRECONDITION "lease superseded"; token 0 means none, refused unless the queue allows
 * tokenless acks (rq_queue_config.allow_tokenless_ack). */

/* Acks n ids, ids[i] with tokens[i] (tokens NULL: none for any); results[n] (may be NULL)
 * gets one status per id. The call fails only for a malformed request; check each item. */
int rq_ack(rq_client *c, const char *const *ids, const uint64_t *tokens, size_t n,
           rq_item_status *results, rq_status *st);

typedef struct rq_nack_opts {
    bool has_delay; /* false: the queue's backoff */
    uint64_t delay_ms;
    bool dead_letter;
    const char *reason; /* NULL: none */
} rq_nack_opts;

/* TaskState values (types.proto). */
enum {
    RQ_STATE_UNSPECIFIED = 0,
    RQ_STATE_READY = 1,
    RQ_STATE_DELAYED = 2,
    RQ_STATE_LEASED = 3,
    RQ_STATE_DEAD = 4
};
const char *rq_state_name(int state); /* "ready", "delayed", ... */

typedef struct rq_nack_result {
    int state;
    uint64_t ready_unix_ms;
    uint32_t attempts;
} rq_nack_result;

int rq_nack(rq_client *c, const char *id, uint64_t token, const rq_nack_opts *opts,
            rq_nack_result *out, rq_status *st);
int rq_extend(rq_client *c, const char *id, uint64_t token, uint32_t lease_ms,
              uint64_t *deadline_unix_ms, rq_status *st);

/* ---- the Work stream ---- */

typedef struct rq_work_cbs {
    /* A task (ownership passes to the callee: rq_task_free it). Uses one credit. */
    void (*on_task)(rq_work *w, void *ud, rq_task *task);
    /* The answer to a request sent with a non-zero request_id (code 0 = OK). Optional. */
    void (*on_result)(rq_work *w, void *ud, uint64_t request_id, int code, const char *message);
    /* The stream is up (connected true), or was lost or could not be opened (why filled:
     * RQ_ECONNECT with the dial error when the server cannot be reached, called at every failed
     * attempt). A re-subscribe follows after rq_work_retry_ms(), with the credits not yet
     * used. Optional. */
    void (*on_state)(rq_work *w, void *ud, bool connected, const rq_status *why);
} rq_work_cbs;

/* Opens the Work stream: subscribes to nq (1..64) queues with `credits`. Returns NULL with st
 * filled when the arguments are bad; a connection failure is not an error here (the stream
 * keeps trying, reporting through on_state). `cbs` is copied. */
rq_work *rq_work_open(rq_client *c, const char *const *queues, size_t nq, uint32_t credits,
                      uint32_t lease_ms, const rq_work_cbs *cbs, void *ud, rq_status *st);
/* Requests: queued and sent in order; a request whose answer was lost with the stream is sent
 * again on the next one. Return 0, -ENOMEM or -EINVAL. */
int rq_work_credit(rq_work *w, uint32_t n);
int rq_work_ack(rq_work *w, const char *id, uint64_t token, uint64_t request_id);
int rq_work_nack(rq_work *w, const char *id, uint64_t token, const rq_nack_opts *opts,
                 uint64_t request_id);
int rq_work_extend(rq_work *w, const char *id, uint64_t token, uint32_t lease_ms,
                   uint64_t request_id);
/* Requests with a request_id whose answer has not arrived yet. */
size_t rq_work_unanswered(const rq_work *w);
bool rq_work_connected(const rq_work *w);
/* Milliseconds until the next re-subscribe attempt (RQ_BACKOFF_MIN_MS doubling to
 * RQ_BACKOFF_MAX_MS); 0 when none is scheduled (the stream is open). */
uint32_t rq_work_retry_ms(const rq_work *w);
/* Ends the stream (cancelling it) and frees it. No callback runs afterwards. */
void rq_work_close(rq_work *w);

/* ---- admin ---- */

typedef struct rq_queue_config {
    uint32_t max_attempts;
    uint32_t lease_ms;
    uint64_t backoff_base_ms;
    uint64_t backoff_max_ms;
    bool dead_letter;
    uint64_t dedup_window_ms;
    bool allow_tokenless_ack; /* acks without a lease token allowed (the old rule) */
    bool release_counts_attempt; /* a task released because its Work stream ended uses an
                                  * attempt (docs/semantics.md "Leases bound to the stream") */
} rq_queue_config;

typedef struct rq_queue_info {
    char name[RQ_QUEUE_NAME_MAX];
    uint32_t partition;
    bool paused;
    rq_queue_config config;
    uint64_t ready, delayed, leased, dead;
    uint64_t enqueued_total, acked_total, nacked_total, expired_total, dead_total, duplicates_total;
    double enqueue_rate, ack_rate;
} rq_queue_info;

/* Every queue (all pages); *out is a new array (free()) of *n entries. */
int rq_list_queues(rq_client *c, rq_queue_info **out, size_t *n, rq_status *st);
int rq_get_queue(rq_client *c, const char *name, rq_queue_info *out, rq_status *st);

/* Settings to change: set has_* for each one to change. */
typedef struct rq_queue_settings {
    bool has_max_attempts, has_lease_ms, has_backoff_base_ms, has_backoff_max_ms, has_dead_letter,
        has_dedup_window_ms, has_allow_tokenless_ack, has_release_counts_attempt;
    rq_queue_config v;
} rq_queue_settings;
int rq_configure_queue(rq_client *c, const char *name, const rq_queue_settings *s,
                       rq_queue_info *out, rq_status *st);
int rq_pause_queue(rq_client *c, const char *name, rq_queue_info *out, rq_status *st);
int rq_resume_queue(rq_client *c, const char *name, rq_queue_info *out, rq_status *st);
int rq_purge_queue(rq_client *c, const char *name, uint64_t *purged, rq_status *st);
/* Deletes a queue entirely: its tasks in every state, settings, pause state and idempotency
 * keys (Admin.DeleteQueue); the name is free afterwards. A queue with leased tasks fails with
 * FAILED_PRECONDITION unless `force`. *deleted (may be NULL): tasks deleted with it. NOT_FOUND
 * for an unknown queue. */
int rq_delete_queue(rq_client *c, const char *name, bool force, uint64_t *deleted, rq_status *st);

/* The conservation ledger of one queue (Admin.Audit; docs/semantics.md): counters kept in the
 * log since the queue was created, and the tasks there now. Balanced when
 *   enqueued + redriven == acked + dead + deleted + purged + ready + delayed + leased  and
 *   dead == redriven + dead_dropped + dead_held. */
typedef struct rq_ledger {
    char name[RQ_QUEUE_NAME_MAX];
    uint32_t partition;
    uint64_t enqueued, redriven, acked, dead, deleted, purged, dead_dropped;
    uint64_t ready, delayed, leased, dead_held;
    bool tasks_balanced, dead_balanced, balanced;
    /* 0, or the log offset since which the counters cover the queue's history (a log from
     * before LEDGER records whose first segments were deleted): then an unbalanced ledger is
     * not a finding and not counted in queues_unbalanced. */
    uint64_t incomplete_since;
} rq_ledger;
typedef struct rq_audit {
    rq_ledger *queues; /* unbalanced first, then by name; free() */
    size_t n;
    uint64_t queues_audited, queues_unbalanced; /* complete even when truncated */
    bool balanced;  /* every queue audited balances (or has an incomplete history) */
    bool truncated; /* more queues than one reply holds: some left out of `queues` */
} rq_audit;
/* Audits `queue`, or every queue when it is NULL or "". *out->queues is a new array (free();
 * NULL when n is 0). NOT_FOUND for an unknown queue. */
int rq_audit_queues(rq_client *c, const char *queue, rq_audit *out, rq_status *st);

/* One live lease of a queue (Admin.ListLeases) and who holds it. */
typedef struct rq_lease_info {
    char id[RQ_ID_MAX];
    char worker_id[128]; /* the Work stream's ringq-worker-id (else its address); "" for a
                          * unary Lease */
    char address[128];   /* the Work stream's peer address; "" for a unary Lease */
    uint64_t deadline_unix_ms;
    uint64_t lease_token;
    uint32_t attempt;
} rq_lease_info;
/* The leases of `queue` now, soonest deadline first (at most 1000; *truncated: more exist).
 * *out is a new array (free(); NULL when *n is 0). NOT_FOUND for an unknown queue. */
int rq_list_leases(rq_client *c, const char *queue, rq_lease_info **out, size_t *n,
                   bool *truncated, rq_status *st);

/* Everything about one task: one allocation, freed with rq_task_info_free. */
typedef struct rq_task_info {
    char *id;
    char *queue;
    int state;
    uint8_t *payload; /* NUL-terminated, not counted */
    size_t payload_len;
    rq_header *headers;
    size_t nheaders;
    uint32_t priority, attempts, max_attempts;
    uint64_t enqueued_unix_ms, due_unix_ms;
    char *idempotency_key;
    char *last_error;
} rq_task_info;
void rq_task_info_free(rq_task_info *t);
void rq_task_infos_free(rq_task_info **t, size_t n);

int rq_get_task(rq_client *c, const char *id, rq_task_info **out, rq_status *st);
/* Dead tasks of `queue` in id order, at most `limit` (0: all); *out a new array. */
int rq_list_dead(rq_client *c, const char *queue, size_t limit, rq_task_info ***out, size_t *n,
                 rq_status *st);
/* The next tasks of `queue` in delivery order without leasing them (nothing changes): ready
 * tasks in the order a lease would take them (priority, then FIFO), then delayed ones by due
 * time. state: RQ_STATE_READY or RQ_STATE_DELAYED for only those, RQ_STATE_UNSPECIFIED both.
 * limit: 1..1000 (0: the server's default, 10); fewer come back when large payloads fill a
 * response message. *out a new array of *n (NULL when none); *more (may be NULL) is true when
 * further tasks of the asked states follow. NOT_FOUND for an unknown queue. */
int rq_peek(rq_client *c, const char *queue, int state, size_t limit, rq_task_info ***out,
            size_t *n, bool *more, rq_status *st);
/* Redrives the given dead tasks (n 0: every dead task of the queue). */
int rq_redrive(rq_client *c, const char *queue, const char *const *ids, size_t n,
               uint64_t *redriven, rq_status *st);
/* rq_redrive with one result per id: ids[n] (1..1000, borrowed for the call) and results[n]
 * (the caller's), each OK, NOT_FOUND (unknown or another queue's) or FAILED_PRECONDITION (not
 * dead) with the server's reason. Returns 0 when the call succeeded (check each result), else
 * the status code, st set: RQ_EINVAL (no queue, no ids, no results), or the call's status. */
int rq_redrive_each(rq_client *c, const char *queue, const char *const *ids, size_t n,
                    rq_item_status *results, uint64_t *redriven, rq_status *st);
int rq_delete_task(rq_client *c, const char *id, rq_status *st);

#ifdef __cplusplus
}
#endif
#endif
