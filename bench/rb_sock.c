/* bench/rb_sock: one TCP connection on a core ev_loop for the byte-protocol peer drivers. See
 * rb_sock.h for the contract.
 *
 * Sending
 *   Two rt_buf output buffers: `out[fill]` accumulates what the driver writes, `out[!fill]` is
 *   the one ev_send has in flight (at most one send per connection). A write only appends and
 *   schedules a flush; the flush runs once at the end of the loop iteration, so n pipelined
 *   commands written from one batch of callbacks leave in one send. When the send completes
 *   (short sends are resumed from where the kernel stopped) the buffers swap.
 *
 *   The flush is a zero-deadline ev_timer per connection rather than an EV_HOOK_ITERATION hook:
 *   a loop has at most EV_HOOKS_MAX (8) hooks and no way to remove one, while a generator thread
 *   holds tens of connections. A timer armed during completion dispatch fires in the same
 *   iteration's timer phase (after every completion of the batch has written its bytes); armed
 *   from a timer callback it fires in the next iteration without the loop sleeping (the reactor
 *   moves past-due re-arms to now+1). Either way the SQE is submitted at the next submit, which
 *   is also when a hook-driven flush would have been submitted.
 *
 * Receiving
 *   A multishot recv on the loop's provided buffers. When no leftover is pending the parser reads
 *   the provided buffer directly; otherwise the new bytes are appended to `in` first. What the
 *   parser does not consume is copied into `in` (bounded by RB_SOCK_IN_MAX).
 *
 * Teardown
 *   rb_sock_free() from inside one of our own callbacks is deferred until the callback returns.
 *   When a recv or send is still in flight the connection is shut down and kept as a zombie in
 *   a global list until the reactor reports the final completions, so no completion ever lands
 *   on freed memory. A zombie whose loop is destroyed first stays on that list (reachable, a few
 *   hundred bytes per connection, once per run). */
#include "bench/rb_sock.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/ev_reactor.h"
#include "core/rt_buf.h"
#include "core/rt_clock.h"

/* Bytes queued for sending (in flight + accumulating) before the connection is failed: a peer
 * that stops reading must not make the generator grow without bound. 64 MiB is ~1000 batches of
 * 64 x 1 KiB tasks, far beyond any sane pipeline depth. */
#define RB_SOCK_OUT_MAX ((size_t)64 << 20)
/* Received bytes the parser left unconsumed (one reply that has not fully arrived). */
#define RB_SOCK_IN_MAX ((size_t)64 << 20)
/* An idle output buffer larger than this is released after its send completes. */
#define RB_SOCK_OUT_KEEP ((size_t)1 << 20)
/* rb_sock_connect's connect() bound. */
#define RB_SOCK_CONNECT_MS 5000
#define RB_SOCK_WHY_MAX 360 /* "addr: message" */

typedef enum {
    RB_SOCK_OPEN = 0, /* usable */
    RB_SOCK_FAILED,   /* on_error delivered (or pending); writes refused; waiting for free */
    RB_SOCK_ZOMBIE,   /* freed by the owner; waiting for the last completions */
} rb_sock_state;

struct rb_sock {
    ev_loop *loop;
    int fd;
    rb_sock_state state;
    rb_sock_cbs cbs;
    void *ud;
    char addr[128];

    ev_op recv_op;
    ev_op send_op;
    ev_timer flush_timer;

    buf out[2];
    int fill;           /* index of the accumulating buffer; the other one is in flight */
    bool sending;       /* send_op carries out[!fill] */
    bool error_pending; /* a failure found outside a callback; delivered by the flush timer */
    char why[RB_SOCK_WHY_MAX];

    buf in;
    int depth;           /* our callbacks on the stack */
    bool free_requested; /* rb_sock_free() ran inside a callback */

    rb_sock *gnext, *gprev; /* zombie list */
};

static pthread_mutex_t rb_graveyard_mu = PTHREAD_MUTEX_INITIALIZER;
static rb_sock *rb_graveyard;

/* ---- address parsing and connecting ----------------------------------------------------- */

/* Splits "host:port" / "[v6]:port" into host and port strings. */
static int split_addr(const char *addr, char *host, size_t hostlen, char *port, size_t portlen)
{
    const char *colon;
    const char *h = addr;
    size_t hl;
    if (!addr || !*addr) return -EINVAL;
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':') return -EINVAL;
        h = addr + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon) return -EINVAL;
        hl = (size_t)(colon - addr);
    }
    size_t pl = strlen(colon + 1);
    if (hl == 0 || hl >= hostlen || pl == 0 || pl >= portlen) return -EINVAL;
    memcpy(host, h, hl);
    host[hl] = 0;
    memcpy(port, colon + 1, pl + 1);
    return 0;
}

static int connect_bounded(const struct addrinfo *ai, int timeout_ms)
{
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -errno;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        if (errno != EINPROGRESS) {
            int e = -errno;
            close(fd);
            return e;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int r = poll(&pfd, 1, timeout_ms);
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (r == 0) soerr = ETIMEDOUT;
        else if (r < 0) soerr = errno;
        else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) soerr = errno;
        if (soerr) {
            close(fd);
            return -soerr;
        }
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

int rb_sock_dial(const char *addr, int timeout_ms, char *err, size_t errlen)
{
    char host[96], port[16];
    if (split_addr(addr, host, sizeof host, port, sizeof port) < 0) {
        snprintf(err, errlen, "bad address \"%s\" (want host:port)", addr ? addr : "");
        return -EINVAL;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int g = getaddrinfo(host, port, &hints, &res);
    if (g != 0) {
        snprintf(err, errlen, "resolve %s: %s", addr, gai_strerror(g));
        return -EHOSTUNREACH;
    }
    int fd = -ECONNREFUSED;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = connect_bounded(ai, timeout_ms);
        if (fd >= 0) break;
    }
    freeaddrinfo(res);
    if (fd < 0) snprintf(err, errlen, "connect %s: %s", addr, strerror(-fd));
    return fd;
}

/* ---- blocking request/reply for setup, backlog, version ---------------------------------- */

static int remaining_ms(uint64_t deadline_ns)
{
    uint64_t now = rt_now_ns();
    if (now >= deadline_ns) return 0;
    uint64_t ms = (deadline_ns - now + RT_NS_PER_MS - 1) / RT_NS_PER_MS;
    return ms > 60000 ? 60000 : (int)ms;
}

static int wait_fd(int fd, short ev, uint64_t deadline_ns)
{
    for (;;) {
        int ms = remaining_ms(deadline_ns);
        if (ms == 0) return -ETIMEDOUT;
        struct pollfd pfd = {.fd = fd, .events = ev};
        int r = poll(&pfd, 1, ms);
        if (r > 0) return 0;
        if (r < 0 && errno != EINTR) return -errno;
    }
}

ssize_t rb_sock_rpc(int fd, const void *req, size_t reqlen, char *out, size_t outlen,
                    bool (*complete)(const char *p, size_t n), int timeout_ms)
{
    if (!out || outlen < 2 || !complete || timeout_ms <= 0) return -EINVAL;
    uint64_t deadline = rt_now_ns() + (uint64_t)timeout_ms * RT_NS_PER_MS;
    const uint8_t *p = req;
    size_t off = 0;
    while (off < reqlen) {
        ssize_t w = send(fd, p + off, reqlen - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            off += (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int r = wait_fd(fd, POLLOUT, deadline);
            if (r < 0) return r;
        } else if (w < 0 && errno != EINTR) {
            return -errno;
        }
    }
    size_t n = 0;
    out[0] = 0;
    for (;;) {
        if (n > 0 && complete(out, n)) return (ssize_t)n;
        if (n >= outlen - 1) return -EMSGSIZE; /* reply larger than the caller allows */
        ssize_t r = recv(fd, out + n, outlen - 1 - n, MSG_DONTWAIT);
        if (r > 0) {
            n += (size_t)r;
            out[n] = 0;
        } else if (r == 0) {
            return -ECONNRESET;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int w = wait_fd(fd, POLLIN, deadline);
            if (w < 0) return w;
        } else if (errno != EINTR) {
            return -errno;
        }
    }
}

/* ---- failure and teardown ----------------------------------------------------------------- */

/* Marks the connection failed and tells the owner (once). Only called from our own loop
 * callbacks; failures found inside rb_sock_write go through error_pending. */
static void sock_fail(rb_sock *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sock_fail(rb_sock *s, const char *fmt, ...)
{
    if (s->state != RB_SOCK_OPEN) return;
    s->state = RB_SOCK_FAILED;
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(s->why, sizeof s->why, "%s: %s", s->addr, msg);
    s->depth++;
    s->cbs.on_error(s->ud, s->why);
    s->depth--;
}

/* A zombie is freed once neither op is in flight. Returns true when it was freed. */
static bool zombie_reap(rb_sock *s)
{
    if (s->recv_op.busy || s->send_op.busy) return false;
    pthread_mutex_lock(&rb_graveyard_mu);
    if (s->gprev) s->gprev->gnext = s->gnext;
    else rb_graveyard = s->gnext;
    if (s->gnext) s->gnext->gprev = s->gprev;
    pthread_mutex_unlock(&rb_graveyard_mu);
    buf_deinit(&s->out[0]);
    buf_deinit(&s->out[1]);
    free(s);
    return true;
}

/* Turns `s` into a zombie on the graveyard list; the caller reaps it. */
static void sock_teardown(rb_sock *s)
{
    s->state = RB_SOCK_ZOMBIE;
    ev_timer_stop(s->loop, &s->flush_timer);
    buf_deinit(&s->in);
    if (s->fd >= 0) {
        /* Ends both ops promptly: the recv completes with EOF, a stuck send with an error. The
         * file stays referenced by io_uring until they do, so closing the number is safe. */
        shutdown(s->fd, SHUT_RDWR);
        if (s->recv_op.busy) ev_cancel(s->loop, NULL, &s->recv_op);
        close(s->fd);
        s->fd = -1;
    }
    pthread_mutex_lock(&rb_graveyard_mu);
    s->gnext = rb_graveyard;
    s->gprev = NULL;
    if (rb_graveyard) rb_graveyard->gprev = s;
    rb_graveyard = s;
    pthread_mutex_unlock(&rb_graveyard_mu);
}

/* After one of our callbacks returned: honours a deferred rb_sock_free(). Returns true when `s`
 * became a zombie (possibly already freed): the caller must not touch it again. */
static bool sock_after_cb(rb_sock *s)
{
    if (s->depth > 0 || !s->free_requested) return false;
    sock_teardown(s);
    zombie_reap(s);
    return true;
}

void rb_sock_free(rb_sock *s)
{
    if (!s || s->state == RB_SOCK_ZOMBIE) return;
    if (s->depth > 0) {
        s->free_requested = true;
        return;
    }
    sock_teardown(s);
    zombie_reap(s);
}

/* ---- sending -------------------------------------------------------------------------------- */

static void on_send(ev_loop *loop, ev_op *op, int res, unsigned flags);

static void schedule_flush(rb_sock *s)
{
    if (!ev_timer_armed(&s->flush_timer)) ev_timer_start(s->loop, &s->flush_timer, 0);
}

/* Starts a send of what is left of the in-flight buffer. */
static void send_inflight(rb_sock *s)
{
    buf *b = &s->out[!s->fill];
    int r = ev_send(s->loop, &s->send_op, s->fd, buf_begin(b), buf_size(b));
    if (r == -EBUSY) {
        schedule_flush(s); /* SQ full: retry next iteration */
        return;
    }
    if (r < 0) {
        sock_fail(s, "send: %s", strerror(-r));
        return;
    }
    s->sending = true;
}

static void on_flush_timer(ev_loop *loop, ev_timer *t)
{
    rb_sock *s = t->ud;
    if (s->error_pending && s->state == RB_SOCK_OPEN) {
        s->error_pending = false;
        sock_fail(s, "%s", s->why);
        sock_after_cb(s);
        return;
    }
    if (s->state != RB_SOCK_OPEN || s->sending) return;
    if (buf_size(&s->out[!s->fill]) == 0) {
        if (buf_size(&s->out[s->fill]) == 0) return;
        s->fill = !s->fill;
    }
    send_inflight(s);
    sock_after_cb(s);
}

static void on_send(ev_loop *loop, ev_op *op, int res, unsigned flags)
{
    rb_sock *s = op->ud;
    if (s->state == RB_SOCK_ZOMBIE) {
        zombie_reap(s);
        return;
    }
    s->sending = false;
    if (s->state != RB_SOCK_OPEN) return;
    if (res <= 0) {
        sock_fail(s, "send: %s", res == 0 ? "connection closed" : strerror(-res));
        sock_after_cb(s);
        return;
    }
    buf *b = &s->out[!s->fill];
    size_t n = (size_t)res > buf_size(b) ? buf_size(b) : (size_t)res;
    buf_consume(b, n);
    if (buf_size(b) > 0) {
        send_inflight(s); /* short send: the rest first, order matters */
    } else {
        buf_shrink(b, RB_SOCK_OUT_KEEP);
        if (buf_size(&s->out[s->fill]) > 0) schedule_flush(s);
    }
    sock_after_cb(s);
}

static size_t queued(const rb_sock *s) { return buf_size(&s->out[0]) + buf_size(&s->out[1]); }

static int over_limit(rb_sock *s, size_t n)
{
    if (s->state == RB_SOCK_OPEN && !s->error_pending) {
        s->error_pending = true;
        snprintf(s->why, sizeof s->why,
                 "send queue over %zu MiB (%zu queued + %zu): the peer is not reading",
                 RB_SOCK_OUT_MAX >> 20, queued(s), n);
        schedule_flush(s);
    }
    return -ENOMEM;
}

int rb_sock_write(rb_sock *s, const void *p, size_t n)
{
    if (s->state != RB_SOCK_OPEN || s->error_pending) return -EPIPE;
    if (n > RB_SOCK_OUT_MAX - queued(s)) return over_limit(s, n);
    int r = buf_append(&s->out[s->fill], p, n);
    if (r < 0) return r == -ENOBUFS ? over_limit(s, n) : -ENOMEM;
    if (!s->sending) schedule_flush(s);
    return 0;
}

int rb_sock_printf(rb_sock *s, const char *fmt, ...)
{
    if (s->state != RB_SOCK_OPEN || s->error_pending) return -EPIPE;
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return -EINVAL;
    if ((size_t)n < sizeof small) return rb_sock_write(s, small, (size_t)n);
    if ((size_t)n > RB_SOCK_OUT_MAX - queued(s)) return over_limit(s, (size_t)n);
    buf *b = &s->out[s->fill];
    uint8_t *dst;
    int rc = buf_reserve(b, (size_t)n + 1, &dst);
    if (rc < 0) return rc == -ENOBUFS ? over_limit(s, (size_t)n) : rc;
    va_start(ap, fmt);
    vsnprintf((char *)dst, (size_t)n + 1, fmt, ap);
    va_end(ap);
    buf_commit(b, (size_t)n);
    if (!s->sending) schedule_flush(s);
    return 0;
}

/* ---- receiving ------------------------------------------------------------------------------ */

/* Offers `p[0..len)` to the parser until it stops consuming. Returns bytes consumed or -1 when
 * the connection failed or was freed meanwhile. */
static ssize_t parse(rb_sock *s, const uint8_t *p, size_t len)
{
    size_t used = 0;
    while (used < len) {
        s->depth++;
        ssize_t c = s->cbs.on_data(s->ud, p + used, len - used);
        s->depth--;
        if (s->free_requested || s->state != RB_SOCK_OPEN) return -1;
        if (c < 0) {
            sock_fail(s, "protocol error: %s", strerror((int)-c));
            return -1;
        }
        if ((size_t)c > len - used) {
            sock_fail(s, "parser consumed %zd of %zu bytes", c, len - used);
            return -1;
        }
        if (c == 0) break;
        used += (size_t)c;
    }
    return (ssize_t)used;
}

static void on_bytes(rb_sock *s, const uint8_t *p, size_t len)
{
    if (buf_size(&s->in) == 0) {
        ssize_t c = parse(s, p, len);
        if (c < 0) return;
        if ((size_t)c < len && buf_append(&s->in, p + c, len - (size_t)c) < 0)
            sock_fail(s, "reply over %zu MiB not consumed", RB_SOCK_IN_MAX >> 20);
        return;
    }
    if (buf_append(&s->in, p, len) < 0) {
        sock_fail(s, "reply over %zu MiB not consumed", RB_SOCK_IN_MAX >> 20);
        return;
    }
    ssize_t c = parse(s, buf_begin(&s->in), buf_size(&s->in));
    if (c < 0) return;
    buf_consume(&s->in, (size_t)c);
    buf_shrink(&s->in, RB_SOCK_OUT_KEEP);
}

static void on_recv(ev_loop *loop, ev_op *op, int res, unsigned flags)
{
    rb_sock *s = op->ud;
    if (res > 0 && (flags & EV_F_BUFFER)) {
        uint16_t bid = op->bid;
        if (s->state == RB_SOCK_OPEN) on_bytes(s, ev_op_buffer(loop, op), (size_t)res);
        ev_buffer_release(loop, bid);
    }
    if (s->state == RB_SOCK_ZOMBIE) {
        zombie_reap(s);
        return;
    }
    if (sock_after_cb(s) || s->state != RB_SOCK_OPEN) return;
    if (res == 0) {
        sock_fail(s, "connection closed by the peer");
    } else if (res < 0 && res != -ENOBUFS) {
        sock_fail(s, "recv: %s", strerror(-res));
    } else if (!(flags & EV_F_MORE)) {
        /* -ENOBUFS (provided buffers ran dry: flow control) or the kernel ended the multishot. */
        int r = ev_recv_multishot(loop, &s->recv_op, s->fd);
        if (r < 0) sock_fail(s, "recv re-arm: %s", strerror(-r));
    }
    sock_after_cb(s);
}

/* ---- connect -------------------------------------------------------------------------------- */

rb_sock *rb_sock_connect(ev_loop *loop, const char *addr, const rb_sock_cbs *cbs, void *ud,
                         char *err, size_t errlen)
{
    if (!loop || !cbs || !cbs->on_data || !cbs->on_error) {
        snprintf(err, errlen, "rb_sock_connect: missing loop or callbacks");
        return NULL;
    }
    int fd = rb_sock_dial(addr, RB_SOCK_CONNECT_MS, err, errlen);
    if (fd < 0) return NULL;
    /* io_uring retries a blocking socket's send/recv internally; O_NONBLOCK would hand -EAGAIN
     * back to us instead. */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    rb_sock *s = calloc(1, sizeof *s);
    if (!s) {
        close(fd);
        snprintf(err, errlen, "connect %s: out of memory", addr);
        return NULL;
    }
    s->loop = loop;
    s->fd = fd;
    s->cbs = *cbs;
    s->ud = ud;
    snprintf(s->addr, sizeof s->addr, "%s", addr);
    s->recv_op.cb = on_recv;
    s->recv_op.ud = s;
    s->send_op.cb = on_send;
    s->send_op.ud = s;
    ev_timer_init(&s->flush_timer, on_flush_timer, s);
    buf_init(&s->out[0], RB_SOCK_OUT_MAX);
    buf_init(&s->out[1], RB_SOCK_OUT_MAX);
    buf_init(&s->in, RB_SOCK_IN_MAX);
    int r = ev_recv_multishot(loop, &s->recv_op, fd);
    if (r < 0) {
        snprintf(err, errlen, "connect %s: arming recv: %s", addr, strerror(-r));
        close(fd);
        free(s);
        return NULL;
    }
    return s;
}
