/* bench/rb_eng_int: ringq-bench engine internals shared by rb_engine.c (main thread: phases,
 * waits, progress, verification), rb_gen.c (generator threads: connections, scheduling,
 * driver callbacks) and rb_stamp.c (stamps and the seen-set). Not used by drivers. */
#ifndef RB_ENG_INT_H
#define RB_ENG_INT_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>

#include "bench/rb_engine.h"
#include "core/ev_reactor.h"

/* The run's stages; only the main thread changes e->phase (and wakes every thread after). */
typedef enum {
    RB_PH_SETUP = 0, /* threads create loops and open connections */
    RB_PH_PRELOAD,   /* drain: producers load the queue */
    RB_PH_WARMUP,    /* rpc/enqueue/e2e: running, not counted */
    RB_PH_MEASURE,   /* counted */
    RB_PH_DRAIN,     /* drain: consumers empty the queue (counted) */
    RB_PH_STOP,      /* no new sends; what is in flight completes; e2e consumers drain */
    RB_PH_DONE,      /* threads close their connections and exit */
} rb_phase;

/* Per-thread counters: written only by the owning thread (load + store, relaxed: no locked
 * instruction on the hot path), read by any thread (relaxed). Totals are sums over threads. */
enum {
    RB_C_OPS_STARTED, /* call()/send() accepted */
    RB_C_OPS_OK,
    RB_C_OPS_ERR,
    RB_C_STAMPED,  /* tasks handed to send() */
    RB_C_ENQ_OK,   /* tasks whose send was confirmed */
    RB_C_ENQ_ERR,  /* tasks whose send failed */
    RB_C_RECEIVED, /* tasks delivered to a consumer (including foreign and duplicates) */
    RB_C_FOREIGN,  /* delivered tasks without a stamp of this run */
    RB_C_DUPS,     /* delivered a second time */
    RB_C_ACK_SENT,
    RB_C_ACK_OK,
    RB_C_ACK_ERR,
    RB_C_LATE,     /* open loop: sends that left > RB_LATE_NS after their slot */
    RB_C_LATE_CAP, /* of those, the ones that waited for room under the in-flight cap */
    RB_C_OPS_WIN,  /* completed OK inside the counted phase */
    RB_C_TASKS_WIN,
    RB_C_DRV_ALLOCS, /* the driver's allocations (rb_driver.allocs), summed at close */
    RB_C_DRV_WRITES, /* the driver's socket writes (rb_driver.writes), summed at close */
    RB_C_PASSES,     /* open loop: schedule passes that started at least one operation */
    RB_C_TURNS_WIN,  /* loop iterations inside the counted phase */
    RB_C_N
};

/* Sequence numbers: the run's 24-bit nonce above a 40-bit counter, so tasks left over from
 * another run are recognised as foreign. */
#define RB_SEQ_BITS 40u
#define RB_SEQ_MASK ((1ull << RB_SEQ_BITS) - 1u)

/* Seen-set of sequence numbers (duplicate and loss detection): a bitmap in 1 MiB chunks that
 * producers allocate before stamping (so a consumer never allocates), set with atomic OR. */
#define RB_SEEN_CHUNK_BITS 23u /* 8 Mi tasks per chunk */
#define RB_SEEN_CHUNKS 4096u   /* 32 Gi tasks per run */
typedef struct rb_seen {
    _Atomic(_Atomic uint64_t *) chunk[RB_SEEN_CHUNKS];
} rb_seen;
/* Makes sure sequence numbers [first, first + n) can be marked. 0, -ENOMEM or -ERANGE. */
int rb_seen_reserve(rb_seen *s, uint64_t first, uint64_t n);
/* 1: first sighting; 0: seen before; -1: never reserved (not ours). Thread-safe. */
int rb_seen_mark(rb_seen *s, uint64_t seq);
void rb_seen_free(rb_seen *s);

/* One operation in flight on a producer / caller connection; its index is the driver's tag. */
typedef struct rb_slot {
    uint64_t t0;   /* latency origin: send time (closed loop) or scheduled time (open) */
    uint32_t n;    /* tasks in it (calls: 1) */
    uint32_t next; /* free list */
} rb_slot;

typedef struct rb_thr rb_thr;

/* One connection (one role for its life). Touched only by its thread. */
typedef struct rb_cx {
    rb_thr *th;
    rb_role role;
    unsigned idx;   /* 0.. within its role over the whole run, for messages */
    uint32_t group; /* consumers: the stream consumer group (fanout), else 0 */
    rb_conn *dc;    /* the driver's connection */
    /* producer / caller */
    rb_slot *slots;
    uint32_t cap, inflight, free_head;
    /* consumer: handles to ack at the next iteration */
    uint64_t *ackq;
    uint32_t nack, ackcap;
    bool held; /* inside the driver's hold bracket (rb_driver.hold) */
    /* consumer: handle -> time the ack was sent (open addressing, linear probing) */
    uint64_t *mk, *mv;
    uint8_t *mused;
    uint32_t mmask, mn;
    uint32_t owed; /* credits to give back (in lumps of e->lump) */
    bool started;
} rb_cx;

typedef struct rb_eng rb_eng;

struct rb_thr {
    rb_eng *e;
    unsigned idx;
    pthread_t tid;
    ev_loop *loop;
    rb_cx *cx; /* producers / callers first (nprod), then consumers */
    size_t ncx, nprod;
    /* loop thread only */
    int seen_phase;
    bool running, exit, pump, acks, prod_started;
    bool in_start;  /* inside the driver's call()/send() */
    ev_timer sched; /* open loop: next slot */
    uint64_t s_t0, s_k;
    double s_iv_ns;
    size_t s_rr;
    bool s_blocked;        /* due slots wait for room on a connection */
    uint64_t s_unblock_ns; /* when the last such wait ended: slots due before it waited on it */
    ev_timer tick;         /* publishes p99_ns once a second */
    rb_hist *hist;         /* counted latencies (ns) */
    rb_hist *prog;         /* latencies of the current second, for the progress line */
    rb_hist *ophist;       /* e2e: counted send() latencies (enqueue / publish confirmation) */
    uint8_t *pbuf;         /* batch x size payload scratch */
    rb_payload *pl;
    /* any thread */
    _Atomic bool paused; /* e2e: producers held by the backlog bound */
    _Atomic uint64_t p99_ns;
    alignas(64) _Atomic uint64_t ctr[RB_C_N];
};

struct rb_eng {
    const rb_opts *o;
    const rb_driver *d;
    rb_target t; /* o->t with defaults filled */
    _Atomic int phase;
    rb_thr *thr;
    unsigned nthr;
    pthread_mutex_t mu; /* guards nready, fatal, why, first_err; cv: phase and progress */
    pthread_cond_t cv;
    unsigned nready;
    unsigned nstarted, nexited; /* threads destroy their loops only after all left them */
    bool started_final;         /* nstarted is final */
    bool fatal;
    char why[512];           /* the fatal error */
    char first_err[512];     /* the first non-fatal error (a failed op or ack) */
    _Atomic uint64_t t_done; /* when a thread saw the current stage finished (0: not yet) */
    /* derived settings, fixed before threads start */
    size_t size; /* payload / body bytes */
    bool binary;
    uint32_t batch;
    uint32_t cap; /* operations in flight per producer / caller */
    bool open_loop;
    uint64_t tick_ns; /* open loop: schedule passes at least this far apart (0: one per slot) */
    double rate_per_conn;
    uint64_t max_backlog; /* 0: unbounded */
    uint32_t credits, lump;
    uint64_t nonce;   /* in the sequence numbers' top bits */
    uint64_t t_start; /* CLOCK_MONOTONIC at the start: stamps before it are foreign */
    _Atomic uint64_t seq;
    _Atomic int64_t preload_left;
    _Atomic unsigned npaused;
    uint32_t ngroups; /* deliveries each message must get: fanout's groups, else 1 */
    rb_target *tg;    /* per group: t with .group set (consumers open with theirs) */
    rb_seen *seen;    /* per group */
};

static inline void rb_ctr_add(rb_thr *th, int c, uint64_t n)
{
    atomic_store_explicit(&th->ctr[c], atomic_load_explicit(&th->ctr[c], memory_order_relaxed) + n,
                          memory_order_relaxed);
}
static inline int rb_phase_now(const rb_eng *e)
{
    return atomic_load_explicit(&e->phase, memory_order_relaxed);
}

/* rb_engine.c */
uint64_t rb_eng_sum(rb_eng *e, int c);
/* Tasks stamped and not yet received (e2e backlog), never negative. */
uint64_t rb_eng_backlog(rb_eng *e);
/* Ends the run with this message (the first one wins). Any thread. */
void rb_eng_fail(rb_eng *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Remembers the first failed op's message. Any thread. */
void rb_eng_note(rb_eng *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Whether the stage `ph` has nothing left to do. */
bool rb_eng_finished(rb_eng *e, int ph);
/* Wakes the main thread if the current stage is finished (records the time). Any thread. */
void rb_eng_poke(rb_eng *e);

/* rb_gen.c: the generator thread's body (arg: rb_thr). */
void *rb_gen_main(void *arg);
/* Lets paused producers go once the backlog is back to half the bound (consumer side). */
void rb_gen_release(rb_eng *e, rb_thr *self);

#endif
