/* libringq: the C client of ringqd (ringq.v1 over gRPC: HTTP/2 cleartext with prior knowledge,
 * or over TLS with ALPN h2 when rq_client_opts asks for it, docs/security.md).
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
#define RQ_EAGAIN 102   /* a stream's window is full: run rq_client_poll, then send again */

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
    /* TLS (docs/security.md). On when `tls` is set, when $RINGQ_TLS is 1/true/yes/on, or when
     * a CA file is given (here or $RINGQ_TLS_CA). The server's certificate is always verified:
     * against tls_ca, else the system's store, and for the address's host (or
     * tls_server_name). A failed handshake is a failed dial (RQ_ECONNECT, the reason in the
     * message: "certificate verify failed: certificate has expired", ...). */
    bool tls;
    const char *tls_ca;          /* PEM CA bundle; NULL: $RINGQ_TLS_CA, else the system's */
    const char *tls_cert;        /* client certificate for mTLS; NULL: $RINGQ_TLS_CERT */
    const char *tls_key;         /* its key; NULL: $RINGQ_TLS_KEY (else the cert file) */
    const char *tls_server_name; /* the name to verify and send (SNI); NULL: the host */
    const char *token;           /* bearer token sent with every call (authorization: Bearer),
                                    1..RQ_TOKEN_BYTES_MAX printable bytes without spaces; NULL:
                                    $RINGQ_TOKEN, else none (docs/security.md). Copied. */
} rq_client_opts;

/* Longest bearer token (the server's SRV_AUTH_SECRET_BYTES_MAX). */
#define RQ_TOKEN_BYTES_MAX 256

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
/* Holds the client's socket writes: calls, acks and credits started until the matching
 * rq_client_uncork are encoded and queued as usual but written only then, together, at most one
 * write per connection (instead of the first going out at once and the rest after its send
 * completed). For a caller that starts several operations in one go (a load generator's due
 * sends, a worker's acks for the tasks of one read). Brackets nest; no blocking call
 * (rq_enqueue, rq_client_poll, ...) may run inside one: rq_unary-based calls, rq_consume_open and
 * rq_read_open return RQ_EINVAL. */
void rq_client_cork(rq_client *c);
void rq_client_uncork(rq_client *c);
/* Socket writes (sends of buffered bytes) the client started so far, over all its connections:
 * with rq_client_cork, a caller can check how many requests each write carried. */
uint64_t rq_client_writes(const rq_client *c);

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

/* ---- pipelined enqueue: the Queue.EnqueueStream producer stream (client/rq_enq_stream.c) ----
 * One stream carries many requests (one task, or a batch to one queue, each) with no per-call
 * HTTP/2 cost; each is answered in request order once it reached the stream's durability, with
 * the results and receipts rq_enqueue_with would give. A stream has at most `credits`
 * requests unanswered (the server's window, 1024 by default; docs/semantics.md). A failed
 * request does not end the stream. Not thread-safe: one thread drives the client. */
typedef struct rq_enq_stream rq_enq_stream;
/* One answer, for request_id (1, 2, ... in send order): st->code 0 with results[n] and
 * receipts[n] (views valid during the callback only), or the request's error (n 0, NULLs).
 * When the stream is lost every unanswered request gets the stream's status. */
typedef void (*rq_enq_stream_fn)(rq_enq_stream *s, void *ud, uint64_t request_id,
                                 const rq_status *st, const rq_enqueue_result *results,
                                 const rq_receipt *receipts, size_t n);
/* Opens a stream whose requests ask `level`; a blocking client waits here for its connection.
 * fn (may be NULL) and ud are kept. NULL with st set (RQ_ECONNECT, RQ_EINVAL: out of memory). */
rq_enq_stream *rq_enq_stream_open(rq_client *c, rq_durability level, rq_enq_stream_fn fn, void *ud,
                                  rq_status *st);
/* Sends one request of n (1..1000) tasks to `queue` (borrowed for the call: encoded here);
 * *request_id (may be NULL) receives its id. 0, or RQ_EAGAIN when the window is full
 * (no credit, or the send queue full: run rq_client_poll for answers and send again), RQ_EINVAL
 * (arguments, out of memory, stream half-closed) or the status of a stream that ended. */
int rq_enq_stream_send(rq_enq_stream *s, const char *queue, const rq_task_spec *tasks, size_t n,
                       uint64_t *request_id, rq_status *st);
/* Requests sent and not answered yet. */
size_t rq_enq_stream_unanswered(const rq_enq_stream *s);
/* Half-closes and runs the client's loop (blocking clients) until every answer came and the
 * stream ended, at most timeout_ms between events (-1: the client's call timeout). Returns the
 * stream's status code (0: ended OK) with st set; DEADLINE_EXCEEDED when an answer is late. */
int rq_enq_stream_finish(rq_enq_stream *s, int timeout_ms, rq_status *st);
/* Frees the stream, cancelling it first when it is still open (its unanswered requests are not
 * reported). NULL is a no-op. */
void rq_enq_stream_free(rq_enq_stream *s);

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
/* Bytes of a Work stream's worker id, at most (without the NUL): what Admin.ListLeases keeps
 * (rq_lease_info.worker_id). */
#define RQ_WORKER_ID_MAX 127

typedef struct rq_work_opts {
    const char *const *queues; /* 1..64 names, copied */
    size_t nq;
    uint32_t credits;
    uint32_t lease_ms; /* 0: the queue's default */
    /* Sent as the `ringq-worker-id` request metadata at every (re)subscribe: names the holder
     * of this stream's leases in Admin.ListLeases (`ringq leases`). Copied; printable ASCII,
     * at most RQ_WORKER_ID_MAX bytes. NULL or "": none (the server shows the peer address). */
    const char *worker_id;
} rq_work_opts;

/* rq_work_open with options (`o` borrowed for the call); same results (RQ_EINVAL also for a
 * bad worker_id, or `o` NULL). */
rq_work *rq_work_open_opts(rq_client *c, const rq_work_opts *o, const rq_work_cbs *cbs, void *ud,
                           rq_status *st);
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
    bool allow_tokenless_ack;    /* acks without a lease token allowed (the old rule) */
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
int rq_list_leases(rq_client *c, const char *queue, rq_lease_info **out, size_t *n, bool *truncated,
                   rq_status *st);

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

/* ---- streams (ringq.v1.Streams; docs/semantics.md "Streams") ----
 * A stream captures the subjects its filters match and keeps the messages published to them by
 * its retention policy; consumers read it, each at its own position. The results below are plain
 * values (fixed arrays, no pointers) unless a _free function is named. */

/* Longest stream or consumer name (1..128 of [A-Za-z0-9_-]) plus NUL. */
#define RQ_STREAM_NAME_MAX 129
/* Longest subject or filter (1..256 bytes) plus NUL. */
#define RQ_SUBJECT_MAX 257
/* Subject filters of a stream, filter subjects of a consumer or a Read, at most. */
#define RQ_STREAM_SUBJECTS_MAX 16
/* Backoff entries of a consumer, at most. */
#define RQ_BACKOFF_MAX 32
/* Longest description (1024 bytes) plus NUL. */
#define RQ_DESCRIPTION_MAX 1025
/* Messages in one Publish call, at most (streams.proto PublishRequest). */
#define RQ_PUBLISH_BATCH_MAX 1000

enum { RQ_RETENTION_LIMITS = 1, RQ_RETENTION_INTEREST = 2, RQ_RETENTION_WORK_QUEUE = 3 };
enum { RQ_DISCARD_OLD = 1, RQ_DISCARD_NEW = 2 };
enum {
    RQ_DELIVER_ALL = 1,
    RQ_DELIVER_LAST = 2,
    RQ_DELIVER_NEW = 3,
    RQ_DELIVER_BY_START_SEQ = 4,
    RQ_DELIVER_BY_START_TIME = 5,
    RQ_DELIVER_LAST_PER_SUBJECT = 6
};
enum { RQ_ACK_EXPLICIT = 1, RQ_ACK_ALL = 2, RQ_ACK_NONE = 3 };
/* What an ack does (AckKind). */
enum { RQ_ACK_KIND_ACK = 1, RQ_ACK_KIND_NAK = 2, RQ_ACK_KIND_PROGRESS = 3, RQ_ACK_KIND_TERM = 4 };

/* The policy names the CLI and docs use ("limits", "interest", "work_queue", "old", "new",
 * "all", "last", "new", "by_start_sequence", "by_start_time", "last_per_subject", "explicit",
 * "none"); "unspecified" for 0 or an unknown value. Static. */
const char *rq_retention_name(int v);
const char *rq_discard_name(int v);
const char *rq_deliver_name(int v);
const char *rq_ack_policy_name(int v);

/* A stream's configuration (StreamConfig): 0 / "" is the server's default for every field. */
typedef struct rq_stream_config {
    char name[RQ_STREAM_NAME_MAX];
    char subjects[RQ_STREAM_SUBJECTS_MAX][RQ_SUBJECT_MAX];
    size_t nsubjects; /* 0: the stream's name as its only subject */
    int retention;    /* RQ_RETENTION_*; 0 limits */
    uint64_t max_msgs, max_bytes, max_age_ms, max_msgs_per_subject; /* 0 = no limit */
    int discard;                                                    /* RQ_DISCARD_*; 0 old */
    bool has_duplicate_window_ms;                                   /* false: 2 min */
    uint64_t duplicate_window_ms;                                   /* 0: no deduplication */
    uint32_t max_msg_size; /* 0: the server's record limit */
    bool allow_msg_ttl;
    char description[RQ_DESCRIPTION_MAX];
    /* 0: the server's default (1: the stream pinned to one partition); 2..64 spreads it over
     * that many partitions, ordered per subject (docs/semantics.md "Partitioned streams"). */
    uint32_t partitions;
} rq_stream_config;

typedef struct rq_subject_count {
    char subject[RQ_SUBJECT_MAX];
    uint64_t messages;
} rq_subject_count;

typedef struct rq_stream_info {
    rq_stream_config config;
    uint64_t messages, bytes, first_seq, first_unix_ms, last_seq, last_unix_ms;
    uint64_t num_subjects, num_deleted;
    uint32_t consumers;
    uint64_t created_unix_ms;
    uint32_t partition;
    /* Per-subject counts, only from rq_stream_get with a subjects filter: a new array (free
     * with rq_stream_info_free); NULL otherwise. */
    rq_subject_count *subjects;
    size_t nsubjects;
    bool subjects_truncated;
} rq_stream_info;
/* Frees what rq_stream_get allocated in *s (its subjects array), not *s. NULL: no-op. */
void rq_stream_info_free(rq_stream_info *s);

/* Creates a stream (idempotent for the same configuration: returns the existing one). *out (may
 * be NULL) gets the stream as created. INVALID_ARGUMENT (a bad field, named in the message),
 * ALREADY_EXISTS (another configuration under that name), FAILED_PRECONDITION (a subject
 * overlapping another stream's). */
int rq_stream_create(rq_client *c, const rq_stream_config *cfg, rq_stream_info *out, rq_status *st);
/* Replaces a stream's configuration (the name picks it). FAILED_PRECONDITION for a change of
 * retention, NOT_FOUND for an unknown stream. */
int rq_stream_update(rq_client *c, const rq_stream_config *cfg, rq_stream_info *out, rq_status *st);
/* One stream; subjects_filter (NULL or "": none) asks for the counts of the subjects it matches
 * in out->subjects (then rq_stream_info_free(out)). NOT_FOUND for an unknown stream. */
int rq_stream_get(rq_client *c, const char *name, const char *subjects_filter, rq_stream_info *out,
                  rq_status *st);
/* Every stream (all pages), in name order: *out a new array (free(); NULL when *n is 0). */
int rq_stream_list(rq_client *c, rq_stream_info **out, size_t *n, rq_status *st);
/* The stream that captures `subject` (ListStreams with a subject): its name into
 * stream[RQ_STREAM_NAME_MAX]. NOT_FOUND when none does. */
int rq_stream_find(rq_client *c, const char *subject, char *stream, rq_status *st);
/* Deletes a stream with its messages and consumers. NOT_FOUND for an unknown stream. */
int rq_stream_delete(rq_client *c, const char *name, rq_status *st);

/* What rq_stream_purge removes: every message, or only a subject filter's, below a sequence, or
 * all but the last `keep` (up_to_seq and keep exclude each other). */
typedef struct rq_purge_opts {
    const char *subject; /* NULL or "": every subject */
    uint64_t up_to_seq;  /* 0: no bound */
    uint64_t keep;       /* 0: keep none */
} rq_purge_opts;
/* *purged (may be NULL): messages removed. o NULL: every message. */
int rq_stream_purge(rq_client *c, const char *name, const rq_purge_opts *o, uint64_t *purged,
                    rq_status *st);

/* One message to publish; pointers borrowed for the call. */
typedef struct rq_pub_msg {
    const char *subject; /* no wildcards: it decides the stream */
    const void *payload;
    size_t payload_len;
    const rq_header *headers;
    size_t nheaders;
    const char *msg_id; /* NULL or "": no deduplication */
    uint64_t ttl_ms;    /* 0: none (a stream with allow_msg_ttl only) */
    bool has_expected_last_seq, has_expected_last_subject_seq;
    uint64_t expected_last_seq, expected_last_subject_seq;
    const char *expected_stream; /* NULL or "": any */
} rq_pub_msg;

typedef struct rq_pub_ack {
    uint64_t seq;
    bool duplicate; /* msg_id seen within the window: nothing stored, seq is the original's */
    rq_receipt receipt;
} rq_pub_ack;

/* Publishes n (1..RQ_PUBLISH_BATCH_MAX) messages, all captured by one stream, checked as a
 * whole before anything is written; answers once they reached `level` (RQ_DURABILITY_DEFAULT:
 * the server's). acks[n] gets one ack per message; stream (may be NULL, RQ_STREAM_NAME_MAX
 * bytes) the stream's name. INVALID_ARGUMENT (a bad subject, size, TTL), FAILED_PRECONDITION (no
 * stream captures the subject, an expectation failed, discard new at a limit). */
int rq_publish(rq_client *c, const rq_pub_msg *msgs, size_t n, rq_durability level,
               rq_pub_ack *acks, char *stream, rq_status *st);

/* Publish from the client's loop (rq_client_opts.loop): the same request as rq_publish, encoded
 * before the call returns (msgs borrowed for the call only). `done` runs once from a loop
 * iteration, as for the other asynchronous calls (above): st->code 0 with acks[n] (a view valid
 * during the callback), else the call's status and acks NULL. Returns 0, or -EINVAL (bad
 * arguments, as rq_publish's INVALID_ARGUMENT; a closing client) / -ENOMEM: then no callback
 * runs. */
typedef void (*rq_publish_fn)(rq_client *c, void *ud, const rq_status *st, const rq_pub_ack *acks,
                              size_t n);
int rq_publish_async(rq_client *c, const rq_pub_msg *msgs, size_t n, rq_durability level,
                     rq_publish_fn done, void *ud);

/* ---- pipelined publish: the Streams.PublishStream producer stream (client/rq_pub_stream.c) ----
 * What rq_enq_stream is for tasks: one stream carries many Publish requests (one message, or a
 * batch for one stream, each) with no per-call HTTP/2 cost; each is answered in request order
 * once it reached the stream's durability (SYNCED: after the group commit that covers it), with
 * the acks rq_publish would give. At most `credits` requests unanswered (the server's window,
 * 1024 by default, stated in every answer; docs/semantics.md). A failed request (a bad subject,
 * an expectation) is answered with its status and does not end the stream. Works on blocking
 * and asynchronous clients (rq_client_opts.loop: the answers come from that loop). Not
 * thread-safe: one thread drives the client. */
typedef struct rq_pub_stream rq_pub_stream;
/* One answer, for request_id (1, 2, ... in send order): st->code 0 with the stream's name and
 * acks[n] (views valid during the callback only), or the request's error (stream and acks NULL,
 * n 0). When the stream is lost
 * every unanswered request gets the stream's status (RQ_ECONNECT, UNAVAILABLE...). */
typedef void (*rq_pub_stream_fn)(rq_pub_stream *s, void *ud, uint64_t request_id,
                                 const rq_status *st, const char *stream, const rq_pub_ack *acks,
                                 size_t n);
/* Opens a stream whose requests ask `level`; a blocking client waits here for its connection,
 * an asynchronous one returns at once (requests queue until the call starts). fn (may be NULL)
 * and ud are kept. NULL with st set (RQ_ECONNECT, RQ_EINVAL: out of memory). */
rq_pub_stream *rq_pub_stream_open(rq_client *c, rq_durability level, rq_pub_stream_fn fn, void *ud,
                                  rq_status *st);
/* Sends one request of n (1..RQ_PUBLISH_BATCH_MAX) messages, all for one stream (msgs borrowed
 * for the call: encoded here); *request_id (may be NULL) receives its id. 0, or RQ_EAGAIN when
 * the window is full (poll for answers, then send again), RQ_EINVAL (arguments, out of memory,
 * the stream half-closed) or the status of a stream that ended. */
int rq_pub_stream_send(rq_pub_stream *s, const rq_pub_msg *msgs, size_t n, uint64_t *request_id,
                       rq_status *st);
/* Requests sent and not answered yet. */
size_t rq_pub_stream_unanswered(const rq_pub_stream *s);
/* Half-closes and runs the client's loop (blocking clients) until every answer came and the
 * stream ended, at most timeout_ms between events (-1: the client's call timeout). Returns the
 * stream's status code (0: ended OK) with st set; DEADLINE_EXCEEDED when an answer is late. */
int rq_pub_stream_finish(rq_pub_stream *s, int timeout_ms, rq_status *st);
/* Frees the stream, cancelling it first when it is still open (its unanswered requests are not
 * reported). NULL is a no-op. */
void rq_pub_stream_free(rq_pub_stream *s);

/* A stored message: one allocation (the struct, its headers and every string), freed with
 * rq_stream_msg_free. */
typedef struct rq_stream_msg {
    char *stream;
    char *subject;
    uint64_t seq;
    uint64_t unix_ms;
    uint8_t *payload; /* NUL-terminated (not counted); empty for headers-only deliveries */
    size_t payload_len;
    uint32_t payload_size; /* the stored payload's size (headers-only: the one left out) */
    rq_header *headers;
    size_t nheaders;
    char *msg_id;
    uint64_t expires_unix_ms; /* 0: no TTL */
} rq_stream_msg;
void rq_stream_msg_free(rq_stream_msg *m);

/* One message by sequence (last_by_subject NULL) or the last one of a subject (seq ignored).
 * *out a new message. NOT_FOUND: no such message (never stored, or removed). */
int rq_stream_get_msg(rq_client *c, const char *stream, uint64_t seq, const char *last_by_subject,
                      rq_stream_msg **out, rq_status *st);

/* ---- Read: a stream's messages in sequence order, without a consumer ----
 * A blocking session on Streams.Read (server streaming): from a sequence or a time, to a
 * sequence or live (the call stays open and new messages come as they are published). No
 * acks, no position kept on the server: a lost connection ends the session (UNAVAILABLE from
 * rq_read_next once the messages received before it are taken) and the caller opens a new one
 * from the sequence after the last it got. Flow-controlled: the session reads the connection
 * only inside rq_read_next and only when nothing received waits, so a slow caller holds the
 * server back (HTTP/2 stream window) instead of buffering the stream. Close a session before
 * rq_client_destroy. */
typedef struct rq_read rq_read;
typedef struct rq_read_opts {
    uint64_t start_seq;     /* from this sequence (the first kept at or above it); 0: the first */
    uint64_t start_unix_ms; /* or (start_seq 0) from the first message stored at or after it */
    uint64_t end_seq;       /* up to and including this sequence; 0: live (never ends) */
    const char *const *filters; /* subject filters (wildcards), borrowed for the open */
    size_t nfilters;            /* 0..RQ_STREAM_SUBJECTS_MAX; 0: every message */
    bool headers_only;          /* payloads left out (payload_size says how big) */
    uint64_t max_messages;      /* the read ends after this many; 0: no limit */
} rq_read_opts;
/* Starts a read of `stream` (o NULL: everything from the first message, live). Returns the
 * session, or NULL with st filled: RQ_EINVAL (bad arguments: both starts, start above end, too
 * many or empty filters), RQ_ECONNECT (no connection within the client's timeout), out of
 * memory. The server's refusals (NOT_FOUND stream, INVALID_ARGUMENT filter) come from the first
 * rq_read_next. */
rq_read *rq_read_open(rq_client *c, const char *stream, const rq_read_opts *o, rq_status *st);
/* The next message, waiting up to timeout_ms (-1: until one comes or the read ends): 0 with *out
 * a message (the caller's: rq_stream_msg_free); 0 with *out NULL when the time ran out or the
 * read ended OK (end_seq or max_messages reached: rq_read_done says which; with -1 it is
 * always the end); else the status that ended the call (NOT_FOUND, INVALID_ARGUMENT,
 * UNAVAILABLE: connection lost or the server draining), st filled. */
int rq_read_next(rq_read *r, int timeout_ms, rq_stream_msg **out, rq_status *st);
/* The read ended OK and every message was taken. */
bool rq_read_done(const rq_read *r);
/* Ends the session (cancels the call if still open) and frees it with the messages not taken.
 * NULL: no-op. */
void rq_read_close(rq_read *r);

/* ---- consumers ---- */

/* A consumer's configuration (ConsumerConfig); 0 / "" is the server's default. */
typedef struct rq_consumer_config {
    char name[RQ_STREAM_NAME_MAX]; /* durable: 1..128 of [A-Za-z0-9_-]; "" with ephemeral */
    bool ephemeral;
    uint64_t inactive_threshold_ms;
    int deliver_policy; /* RQ_DELIVER_* */
    uint64_t opt_start_seq, opt_start_unix_ms;
    char filter_subjects[RQ_STREAM_SUBJECTS_MAX][RQ_SUBJECT_MAX];
    size_t nfilters;
    int ack_policy; /* RQ_ACK_* */
    uint64_t ack_wait_ms;
    uint32_t max_deliver;
    uint64_t backoff_ms[RQ_BACKOFF_MAX];
    size_t nbackoff;
    uint32_t max_ack_pending;
    uint64_t rate_limit_bytes_per_s;
    bool headers_only;
    char description[RQ_DESCRIPTION_MAX];
} rq_consumer_config;

typedef struct rq_consumer_info {
    char stream[RQ_STREAM_NAME_MAX];
    rq_consumer_config config;
    uint64_t delivered_consumer_seq, delivered_stream_seq, ack_floor_stream_seq;
    uint64_t num_ack_pending, num_redelivered, num_pending, num_terminated, position_seq;
    uint32_t num_waiting, clients;
    uint64_t paused_until_unix_ms; /* 0: not paused */
    uint64_t created_unix_ms;
} rq_consumer_info;

/* Creates a consumer of `stream` (idempotent like rq_stream_create); *out (may be NULL) gets it,
 * with the server-chosen name of an ephemeral one. INVALID_ARGUMENT (a bad field), NOT_FOUND
 * (no such stream), ALREADY_EXISTS, FAILED_PRECONDITION (overlapping work-queue consumers). */
int rq_consumer_create(rq_client *c, const char *stream, const rq_consumer_config *cfg,
                       rq_consumer_info *out, rq_status *st);
/* NOT_FOUND for an unknown stream or consumer. */
int rq_consumer_get(rq_client *c, const char *stream, const char *name, rq_consumer_info *out,
                    rq_status *st);
/* Every consumer of `stream` (all pages) in name order: *out a new array (free(); NULL when *n
 * is 0). */
int rq_consumer_list(rq_client *c, const char *stream, rq_consumer_info **out, size_t *n,
                     rq_status *st);
int rq_consumer_delete(rq_client *c, const char *stream, const char *name, rq_status *st);
/* No deliveries before until_unix_ms (0: resume now). out may be NULL. */
int rq_consumer_pause(rq_client *c, const char *stream, const char *name, uint64_t until_unix_ms,
                      rq_consumer_info *out, rq_status *st);
/* Moves the position to stream sequence `seq` (by_time false) or to the first message stored at
 * or after unix ms `seq` (by_time true); pending deliveries are dropped. out may be NULL. */
int rq_consumer_reset(rq_client *c, const char *stream, const char *name, uint64_t seq,
                      bool by_time, rq_consumer_info *out, rq_status *st);

/* One delivery of a message to a consumer: one allocation, freed with rq_delivery_free. */
typedef struct rq_delivery {
    rq_stream_msg *msg; /* part of the same allocation */
    uint64_t consumer_seq;
    uint32_t delivery_count; /* 1 on the first delivery */
    uint64_t token;          /* quote it in acks (a redelivery gets a new one) */
    uint64_t pending;        /* messages of the filter still to deliver after this one */
} rq_delivery;
void rq_delivery_free(rq_delivery *d);
/* Frees an array of deliveries (rq_fetch's) and every delivery in it. */
void rq_deliveries_free(rq_delivery **d, size_t n);

/* Takes up to max_messages (0: 1; at most 1000) deliveries of a consumer, waiting up to wait_ms
 * (at most 60000) for the first. *out a new array of *n (NULL when none). */
int rq_fetch(rq_client *c, const char *stream, const char *consumer, uint32_t max_messages,
             uint32_t wait_ms, rq_delivery ***out, size_t *n, rq_status *st);

/* Acks per AckMessages / Consume acks request (streams.proto Acks.refs). */
#define RQ_ACK_REFS_MAX 1000u
/* A delivery to ack: its stream sequence and the token it came with. */
typedef struct rq_delivery_ref {
    uint64_t stream_seq;
    uint64_t token;
} rq_delivery_ref;
/* Options of an ack other than ACK: a NAK's delay, a TERM's reason. */
typedef struct rq_ack_opts {
    bool has_delay; /* NAK: false = the consumer's backoff */
    uint64_t delay_ms;
    const char *reason; /* TERM: NULL or "" none */
} rq_ack_opts;
/* Acks (kind RQ_ACK_KIND_*) n (1..1000) deliveries of a consumer; results[n] (may be NULL) get
 * one status each: OK, NOT_FOUND (not pending), FAILED_PRECONDITION ("delivery superseded": the
 * token is not the current delivery's). The call fails only for a malformed request. */
int rq_stream_ack(rq_client *c, const char *stream, const char *consumer, int kind,
                  const rq_delivery_ref *refs, size_t n, const rq_ack_opts *o,
                  rq_item_status *results, rq_status *st);

/* ---- the Consume stream: a blocking session on one consumer ----
 * rq_consume_open binds (waiting for the server's answer), then the caller pulls deliveries
 * with rq_consume_next and sends credits and acks; everything runs on the client's loop from
 * inside these calls. A session does not re-bind after a lost connection: rq_consume_next
 * then reports the loss (UNAVAILABLE) and the caller opens a new one (a durable consumer
 * continues where it was; unacked deliveries come again after their ack wait). Close a session
 * before rq_client_destroy; one still open is ended by it (UNAVAILABLE), and then only
 * rq_consume_close may be called on it. */
typedef struct rq_consume rq_consume;
/* Binds to consumer `name` of `stream`, or (name NULL or "") to a new ephemeral consumer with
 * `ephemeral`'s configuration (deleted when the session ends, after its inactive threshold),
 * granting `credits`. *bound (may be NULL) gets the consumer. Returns NULL with st filled: the
 * bind's status (NOT_FOUND, INVALID_ARGUMENT, ...), RQ_ECONNECT, DEADLINE_EXCEEDED (no answer
 * within the client's timeout). */
rq_consume *rq_consume_open(rq_client *c, const char *stream, const char *name,
                            const rq_consumer_config *ephemeral, uint32_t credits,
                            rq_consumer_info *bound, rq_status *st);
/* The next delivery, waiting up to timeout_ms (-1: until one comes): 0 with *out a delivery (the
 * caller's: rq_delivery_free) or NULL when the time ran out; else the status that ended the
 * session or the first failed request's (an ack or credit the server refused), st filled. */
int rq_consume_next(rq_consume *s, int timeout_ms, rq_delivery **out, rq_status *st);
/* More credits (queued and sent; at most 10000 outstanding). 0, -EINVAL or -ENOMEM. */
int rq_consume_credit(rq_consume *s, uint32_t n);
/* Acks one delivery (kind RQ_ACK_KIND_*, o may be NULL); queued and sent, its failure reported
 * by a later rq_consume_next. 0, -EINVAL, -ENOMEM, -EPIPE (the session ended). */
int rq_consume_ack(rq_consume *s, int kind, rq_delivery_ref ref, const rq_ack_opts *o);
/* Sends what is queued and waits until the server answered every request so far (acks
 * included) or timeout_ms passed: 0, or the first failure's status (DEADLINE_EXCEEDED). */
int rq_consume_sync(rq_consume *s, int timeout_ms, rq_status *st);
/* The consumer's name (the server's choice for an ephemeral one). */
const char *rq_consume_name(const rq_consume *s);
/* Ends the session (cancels the stream) and frees it; deliveries not yet taken are dropped
 * (they come again after their ack wait). NULL: no-op. */
void rq_consume_close(rq_consume *s);

/* ---- the Consume stream, asynchronous (programs that run their own loop) ----
 * One session on a durable consumer, driven by the client's loop: deliveries, ack answers and
 * the session's end come as callbacks from its iterations (on_delivery and on_acked from inside
 * the read that brought them: ack and credit from there, never block). Acks collect and go out
 * as one Acks request from the next loop iteration (up to RQ_ACK_REFS_MAX per request), each
 * answered through on_acked with the caller's tag. No re-bind after a loss: on_end says why,
 * once; then only rq_aconsume_close may be called. Close every session before
 * rq_client_destroy (one still open gets on_end from it). */
typedef struct rq_aconsume rq_aconsume;

/* A delivery as views into the received message: valid during on_delivery only. */
typedef struct rq_delivery_view {
    uint64_t stream_seq, consumer_seq, unix_ms;
    uint32_t delivery_count; /* 1 on the first delivery */
    uint64_t token;          /* quote it in the ack */
    uint64_t pending;        /* messages of the filter still to deliver after this one */
    const char *subject;     /* not NUL-terminated */
    size_t subject_len;
    const uint8_t *payload;
    size_t payload_len;
} rq_delivery_view;

typedef struct rq_aconsume_cbs {
    /* The bind's answer: st->code 0 with the consumer bound, or the refusal (NOT_FOUND, ...)
     * with ci NULL; on_end follows a refusal. */
    void (*on_bound)(rq_aconsume *s, void *ud, const rq_consumer_info *ci, const rq_status *st);
    void (*on_delivery)(rq_aconsume *s, void *ud, const rq_delivery_view *d);
    /* One ack's answer: OK, NOT_FOUND (not pending), FAILED_PRECONDITION (superseded), or the
     * whole request's failure. */
    void (*on_acked)(rq_aconsume *s, void *ud, uint64_t tag, int code, const char *message);
    /* The session ended: the stream was lost or refused, a request failed (a credit beyond the
     * limit), the server sent what we cannot read, or no connection came before the client's
     * timeout (RQ_ECONNECT). Acks not answered get no on_acked. */
    void (*on_end)(rq_aconsume *s, void *ud, const rq_status *st);
} rq_aconsume_cbs;

/* Opens a session on durable consumer `consumer` of `stream` granting `credits` (at most
 * 10000 outstanding); cbs is copied, ud handed back. Returns the session (the bind is under way:
 * on_bound answers it), or NULL with st filled: RQ_EINVAL (bad arguments), out of memory. */
rq_aconsume *rq_aconsume_open(rq_client *c, const char *stream, const char *consumer,
                              uint32_t credits, const rq_aconsume_cbs *cbs, void *ud,
                              rq_status *st);
/* More credits: sent now (from the next iteration inside a callback). 0, -EINVAL (0 or above
 * 10000), -ENOMEM, -EPIPE (the session ended). */
int rq_aconsume_credit(rq_aconsume *s, uint32_t n);
/* Acks a delivery (kind ACK) with the caller's tag for on_acked; sent with the others of this
 * iteration. 0, -EINVAL, -ENOMEM, -EPIPE (the session ended). */
int rq_aconsume_ack(rq_aconsume *s, rq_delivery_ref ref, uint64_t tag);
/* The bind succeeded and the session has not ended. */
bool rq_aconsume_bound(const rq_aconsume *s);
const char *rq_aconsume_name(const rq_aconsume *s);
/* Ends the session (cancels the stream) and frees it; no callback runs afterwards. Deliveries
 * not acked come again after their ack wait. NULL: no-op. */
void rq_aconsume_close(rq_aconsume *s);

#ifdef __cplusplus
}
#endif
#endif
