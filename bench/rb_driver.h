/* bench/rb_driver: the interface between ringq-bench's engine (bench/rb_main.c, rb_engine.c) and
 * the system it drives (ringq, a plain gRPC server, beanstalkd, Redis, NATS JetStream).
 *
 * Model
 *   The engine runs one or more generator threads; each owns a core ev_loop (io_uring). A driver
 *   is a table of functions; every I/O it does is asynchronous on the loop of the thread that
 *   opened the connection (ev_recv_multishot / ev_send on a connected socket; connect() itself
 *   may block: it happens before the measured phase). A driver never sleeps, never spins, never
 *   starts threads.
 *
 *   The engine decides *when* to send (closed loop: keep N operations in flight per connection;
 *   open loop: at scheduled times) and measures *how long*; the driver only moves bytes and
 *   reports completions through rb_events. Latency is taken by the engine, never by a driver.
 *
 * Operations (one rb_conn plays one role for its life)
 *   RB_ROLE_CALL      rpc scenario: rb_driver.call() sends one unary request of o->size bytes;
 *                     ev->done(tag, err) when the reply (with its status) has arrived.
 *   RB_ROLE_PRODUCER  rb_driver.send() enqueues a batch of n payloads as one operation (one RPC
 *                     for ringq; pipelined commands answered together for the others);
 *                     ev->done(tag, err) once the system confirmed every one of them with its
 *                     configured durability (ringq: Enqueue answered; beanstalkd: INSERTED;
 *                     Redis: the LPUSH reply; JetStream: the PubAck).
 *   RB_ROLE_CONSUMER  rb_driver.consume() asks for up to `n` more tasks (credits); each task
 *                     arrives as ev->task(payload, len, handle) at the moment the worker would
 *                     start work. The engine later calls rb_driver.ack(handle) (it may ack after
 *                     the callback returns; the payload view is valid only during ev->task);
 *                     ev->acked(err) reports the system's answer to that ack.
 *
 * Errors: functions return 0 or a negative errno; `err` strings name the system and the reason
 * ("beanstalkd 127.0.0.1:11300: JOB_TOO_BIG"). A connection that fails calls ev->failed(why)
 * once; the engine stops the run with that message (benchmarks do not retry silently).
 *
 * Streams (the publish and fanout scenarios, rb_target.stream): the queue names a stream, and the
 * roles mean the stream's operations. RB_ROLE_PRODUCER publishes (done once every message of the
 * batch is stored with the system's configured durability: Redis' XADD reply, JetStream's
 * PubAck); setup creates the stream and rb_target.groups consumer groups (durable consumers)
 * starting at its beginning; an RB_ROLE_CONSUMER connection reads as group rb_target.group, so
 * every message reaches one consumer connection of each group; ack acknowledges it for that group
 * only. backlog() = messages not yet acknowledged, summed over the groups.
 *
 * Payloads: the engine writes the payload bytes (the first 16 bytes carry the scheduled send
 * time and a sequence number; see rb_payload_stamp in rb_engine.h); drivers send them as opaque
 * bytes and deliver them back unchanged. Drivers that need text-safe bodies say so in
 * rb_driver.binary_safe = false and the engine hex-encodes the stamp instead. */
#ifndef RB_DRIVER_H
#define RB_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ev_loop;

typedef enum { RB_ROLE_CALL = 0, RB_ROLE_PRODUCER, RB_ROLE_CONSUMER } rb_role;

/* Settings the driver may read (owned by the engine, valid for the whole run). */
typedef struct rb_target {
    const char *addr;   /* host:port of the system under test */
    const char *queue;  /* queue / tube / list / stream subject, or NULL for the default */
    const char *method; /* RB_ROLE_CALL: gRPC path, NULL: /grpc.health.v1.Health/Check */
    size_t size;        /* payload bytes per task / request body bytes */
    uint32_t lease_ms;  /* consumers: lease / ack-wait the system should give a task */
    bool durable;       /* the system is configured to fsync every write (for labels only) */
    bool stream;        /* publish / fanout: a stream with consumer groups, not a task queue */
    uint32_t groups;    /* stream: consumer groups setup creates (fanout >= 1; publish 0) */
    uint32_t group;     /* stream consumer connections: the group this one reads as */
    uint32_t subjects;  /* stream: publishes spread over <queue>.0 .. <queue>.<subjects-1>
                         * (0 or 1: the subject <queue> alone) */
    uint32_t parts;     /* ringq stream: StreamConfig.partitions (0 or 1: pinned to one) */
} rb_target;

/* Engine callbacks for one connection; `ud` is the engine's pointer passed to open(). */
typedef struct rb_events {
    void (*done)(void *ud, uint64_t tag, int err, const char *why);
    void (*task)(void *ud, const uint8_t *payload, size_t len, uint64_t handle);
    void (*acked)(void *ud, uint64_t handle, int err, const char *why);
    void (*failed)(void *ud, const char *why);
} rb_events;

typedef struct rb_conn rb_conn; /* driver-private */

typedef struct rb_payload {
    const uint8_t *p;
    size_t len;
} rb_payload;

typedef struct rb_driver {
    const char *name; /* "ringq", "grpc", "beanstalkd", "redis", "jetstream" */
    bool can_call, can_queue;
    bool binary_safe;   /* payload bytes may be any value */
    uint32_t batch_max; /* largest n send() accepts */

    /* Once per run on the main thread, blocking I/O allowed: create the queue/stream/consumer,
     * and empty it so the run starts from zero. */
    int (*setup)(const rb_target *t, char *err, size_t errlen);
    /* Tasks still queued (ready + in flight), blocking; for drain's preload check and the
     * end-of-run verification. */
    int (*backlog)(const rb_target *t, uint64_t *n, char *err, size_t errlen);
    /* A connection on the calling thread's loop, ready when it returns (connect may block). */
    rb_conn *(*open)(struct ev_loop *loop, const rb_target *t, rb_role role, const rb_events *ev,
                     void *ud, char *err, size_t errlen);
    /* call()/send(): the body and payload views are borrowed for the call only (copy what is
     * kept). `tag` is the engine's (small, dense: its slot index) and comes back in ev->done.
     * ev->done may run from inside call()/send() only if the driver cannot avoid it; the
     * engine copes, but prefers completions from a later loop iteration. */
    int (*call)(rb_conn *c, const uint8_t *body, size_t len, uint64_t tag);
    int (*send)(rb_conn *c, const rb_payload *p, size_t n, uint64_t tag);
    /* consume(n) adds n credits; the engine grants `--credits` once when consumers start and
     * then gives credits back in lumps of max(1, credits/4) as acks are answered.
     * ack(handle): the engine queues the handles of ev->task and acks them at the start of the
     * next loop iteration (never from inside ev->task), each exactly once, even for a task it
     * did not recognise. */
    int (*consume)(rb_conn *c, uint32_t n);
    int (*ack)(rb_conn *c, uint64_t handle);
    /* Frees the connection; no callback runs afterwards. */
    void (*close)(rb_conn *c);
    /* Version string of the system (asked over the wire or from its binary), blocking; may
     * be NULL. */
    int (*version)(const rb_target *t, char *out, size_t outlen);
    /* Heap allocations the connection's driver made so far for its operations and deliveries
     * (contexts, records, request scratch), read by the engine before close() for the result's
     * driver_allocs: a driver that allocates per task shows it. May be NULL (not counted). */
    uint64_t (*allocs)(const rb_conn *c);
    /* Optional (NULL: every operation is written as it comes). The engine brackets the
     * operations it starts on one connection in one go — a schedule pass's due sends, the acks
     * of one loop turn — with hold(c, true) ... hold(c, false); the driver may keep their bytes
     * until the bracket closes and write them together (one socket write instead of one each).
     * Brackets do not nest; nothing blocks inside one. */
    void (*hold)(rb_conn *c, bool on);
    /* Optional: socket writes the connection started so far (the result's driver_writes: with
     * hold, writes per task show how many operations each write carried). */
    uint64_t (*writes)(const rb_conn *c);
} rb_driver;

extern const rb_driver rb_drv_ringq;
extern const rb_driver rb_drv_grpc;
extern const rb_driver rb_drv_beanstalkd;
extern const rb_driver rb_drv_redis;
extern const rb_driver rb_drv_jetstream; /* task queues and streams (rb_target.stream) */
extern const rb_driver rb_drv_redis_streams;
/* ringq's Streams service (ringq.v1.Streams Publish and Consume) as the driver of the publish and
 * fanout scenarios: bench/rb_drv_ringq_streams.c (issue #15 item 6). Referenced weakly: a
 * ringq-bench built without that file reports "driver not built" and bench/streams.sh marks the
 * ringq columns "not yet run". */
extern const rb_driver rb_drv_ringq_streams;

#endif
