/* bench/rb_peer: the connection glue the line-protocol peer drivers (beanstalkd, Redis) share on
 * top of bench/rb_sock: the in-order FIFO of outstanding commands (both servers answer a
 * connection's commands in order), engine callbacks that survive the engine closing the
 * connection from inside them, failure reported once, and strict reply-line helpers.
 *
 * Ownership: an rb_peer_conn is embedded in the driver's connection (the "owner", allocated by
 * the driver). The owner is destroyed through `destroy(owner)` exactly once: by rb_peer_close()
 * directly, or - when the engine closes the connection from inside one of its own callbacks -
 * as soon as that callback has returned. After any rb_peer_* call that returns false the owner
 * may be gone: the caller returns without touching it. */
#ifndef RB_PEER_H
#define RB_PEER_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bench/rb_driver.h"
#include "core/ev_reactor.h"

struct rb_sock;

/* Commands outstanding per connection (entries; a batch of n puts is one entry): far beyond
 * any pipeline the engine keeps (conns x inflight x batch is bounded by RB_BATCH_MAX and
 * RB_OPEN_INFLIGHT_DEFAULT), small enough to bound memory. */
#define RB_PEER_FIFO_MAX (1u << 20)
/* A reply line copied for splitting and messages. */
#define RB_PEER_LINE_BUF 512u
#define RB_PEER_WORDS_MAX 8u

typedef struct rb_peer_cmd {
    uint8_t kind;    /* the driver's command kind */
    uint32_t left;   /* replies still expected (a batch of n: n) */
    uint64_t val;    /* tag (batches) or the handle / id the reply is for */
    int err;         /* first error of a batch */
    const char *why; /* its static text */
} rb_peer_cmd;

typedef struct rb_peer_conn {
    struct ev_loop *loop;
    struct rb_sock *sock;
    const rb_events *ev;
    void *ud;
    const char *system; /* "beanstalkd", "redis": the first word of every message */
    char addr[128];
    /* The driver's reply parser (see rb_peer_open) and destructor. */
    ssize_t (*one_reply)(void *owner, const uint8_t *p, size_t len);
    void (*destroy)(void *owner);
    void *owner;
    /* FIFO ring */
    rb_peer_cmd *q;
    size_t qcap, qhead, qlen;
    bool failed;          /* ev->failed was called (or the connection is unusable) */
    int depth;            /* our parser or an engine callback is on the stack */
    bool close_requested; /* rb_peer_close() ran while depth > 0 */
} rb_peer_conn;

/* The driver's connection for rb_driver.open(): `size` zeroed bytes (the caller frees them), or
 * NULL with err set ("<system> has no rpc scenario" for RB_ROLE_CALL, or out of memory). */
void *rb_peer_alloc(size_t size, const char *system, rb_role role, char *err, size_t errlen);
/* Connects and arms the receive (blocking connect). 0, or -errno with err filled.
 * Received bytes go to one_reply(owner, p, len), called for each reply in turn while the
 * connection is neither failed nor closing: it parses and handles the reply at p against
 * rb_peer_head() and returns the bytes it used, 0 when the reply is not complete yet,
 * -ECANCELED when the engine closed the connection from a callback (nothing more is read), or
 * -errno (the connection is failed with that error unless it failed already). */
int rb_peer_open(rb_peer_conn *pc, struct ev_loop *loop, const char *addr, const char *system,
                 ssize_t (*one_reply)(void *owner, const uint8_t *p, size_t len),
                 void (*destroy)(void *owner), const rb_events *ev, void *ud, void *owner,
                 char *err, size_t errlen);
/* The engine's close(): destroys now, or after the callback on the stack returns. */
void rb_peer_close(rb_peer_conn *pc);
static inline bool rb_peer_closing(const rb_peer_conn *pc) { return pc->close_requested; }

/* Fails the connection once: ev->failed(why). Returns false when the owner is gone. */
bool rb_peer_fail(rb_peer_conn *pc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The first check of send / consume / ack: -EPIPE when the connection failed, else -EINVAL
 * unless `ok` (the call fits the connection's role and limits), else 0. */
static inline int rb_peer_usable(const rb_peer_conn *pc, bool ok)
{
    return pc->failed ? -EPIPE : ok ? 0 : -EINVAL;
}

/* FIFO. push: 0 or -ENOBUFS (RB_PEER_FIFO_MAX) / -ENOMEM. */
int rb_peer_push(rb_peer_conn *pc, uint8_t kind, uint32_t replies, uint64_t val);
rb_peer_cmd *rb_peer_head(rb_peer_conn *pc);
void rb_peer_pop(rb_peer_conn *pc);

/* Engine callbacks; each returns false when the engine closed the connection meanwhile.
 * batch_reply: one reply of the batch at the head (err 0 or -errno with a static `why` word);
 * the last one pops it and calls ev->done(tag, first error). */
bool rb_peer_batch_reply(rb_peer_conn *pc, int err, const char *why);
bool rb_peer_task(rb_peer_conn *pc, const uint8_t *p, size_t len, uint64_t handle);
bool rb_peer_acked(rb_peer_conn *pc, uint64_t handle, int err, const char *why);

/* A reply line split on single spaces (a copy; `line` is NUL-terminated, without CRLF). */
typedef struct rb_peer_words {
    char line[RB_PEER_LINE_BUF];
    const char *w[RB_PEER_WORDS_MAX];
    size_t n;
} rb_peer_words;
/* Finds the CRLF-terminated line at p. Returns its length with CRLF, 0 when incomplete, or
 * -EPROTO (the connection is failed) when it is longer than `max` (< RB_PEER_LINE_BUF) or holds
 * a NUL or a bare LF. */
ssize_t rb_peer_line(rb_peer_conn *pc, const uint8_t *p, size_t len, size_t max, rb_peer_words *w);
bool rb_peer_word_is(const rb_peer_words *w, size_t i, const char *s);
/* Strict decimal (1..20 digits, no sign, no overflow). */
bool rb_peer_u64(const rb_peer_words *w, size_t i, uint64_t *v);
bool rb_peer_parse_u64(const char *s, size_t n, uint64_t *v);

/* ---- blocking admin connections (setup, backlog, version) ---- */

/* Allocates the reply buffer *out (outcap bytes; the caller frees it) and dials addr. Returns
 * the socket, or -errno with err set and nothing allocated. */
int rb_peer_admin_dial(const char *system, const char *addr, size_t outcap, int timeout_ms,
                       char **out, char *err, size_t errlen);
/* The server's version out of a stats text: the value after `key` (e.g. "\nversion: "), one
 * leading quote skipped, up to CR, LF or a quote, copied into out. 0, or -EPROTO when `key` is
 * missing or the value is empty, 64 bytes or longer, or does not fit outlen. */
int rb_peer_version_of(const char *text, const char *key, char *out, size_t outlen);

/* ---- the consumer's pull pump ----
 * Both servers answer a connection's commands in order, and a blocking pop (beanstalkd
 * reserve-with-timeout 1, Redis BLMOVE) that has to wait holds every command behind it - our
 * acks included - until a task arrives or it times out. So:
 *   hot   (the last pull found a task): up to `credits` non-blocking pulls in flight;
 *   cold  (one came back empty): once every pull is answered, exactly one blocking pull - but
 *         only while no delivered task is waiting for its ack to be sent (`held` == 0), since
 *         that ack would queue behind it. With tasks held, a non-blocking probe every
 *         RB_PEER_POLL_MS until they are acked.
 * `issue(owner, wait)` writes one pull (blocking or not) and pushes its FIFO entry.
 * Batched pulls (per_pull > 1, Redis XREADGROUP COUNT k): one pull may return up to per_pull
 * tasks (the owner asks for min(credits, per_pull)), so at most one pull is in flight, hot or
 * cold; and cold with tasks held, it waits for their acks (the engine acks every delivered task
 * at its next loop iteration; rb_peer_pull_acking pumps) instead of probing on the timer, so a
 * message published meanwhile is not held up to RB_PEER_POLL_MS. */
#define RB_PEER_POLL_MS 1u

typedef struct rb_peer_pull {
    rb_peer_conn *pc;
    int (*issue)(void *owner, bool wait);
    uint64_t credits;  /* tasks the engine still wants */
    uint64_t held;     /* delivered, ack not sent yet */
    uint32_t fast;     /* non-blocking pulls in flight */
    uint32_t wait;     /* blocking pulls in flight (0 or 1) */
    uint32_t per_pull; /* tasks one pull may return: 0 or 1 = one (set after init) */
    bool hot;
    bool backoff; /* the timer is a back-off: no pulls until it fires */
    ev_timer timer;
} rb_peer_pull;

void rb_peer_pull_init(rb_peer_pull *pl, rb_peer_conn *pc, int (*issue)(void *owner, bool wait));
/* Stops the timer (the owner's destroy calls it). */
void rb_peer_pull_deinit(rb_peer_pull *pl);
/* consume(n): 0 or -errno. */
int rb_peer_pull_credit(rb_peer_pull *pl, uint32_t n);
/* A pull was answered (before ev->task is called for a found one). */
void rb_peer_pull_answered(rb_peer_pull *pl, bool wait, bool found);
/* A batched pull was answered with n tasks (before ev->task is called for them). */
void rb_peer_pull_answered_n(rb_peer_pull *pl, bool wait, uint32_t n);
/* After the answer's callbacks: issue what is due. 0 or -errno. */
int rb_peer_pull_pump(rb_peer_pull *pl);
/* ack(): one held task less. */
int rb_peer_pull_acking(rb_peer_pull *pl);
/* No pulls for `ms` (beanstalkd DEADLINE_SOON). */
void rb_peer_pull_backoff(rb_peer_pull *pl, uint32_t ms);

#endif
