/* client/rq_conn: libringq's connections — TCP sockets driven by the core io_uring loop, one
 * pw_grpc_client each. New calls start on the current connection; one that received a GOAWAY
 * stays on the client's list (read, flushed) until its last call ends. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/rq_int.h"
#include "core/rt_clock.h"

int rq_set_status(rq_status *st, int code, const char *fmt, ...)
{
    if (st) {
        st->code = code;
        st->message[0] = 0;
        if (fmt) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(st->message, sizeof st->message, fmt, ap);
            va_end(ap);
        }
    }
    return code;
}

const char *rq_status_name(int code)
{
    if (code == RQ_ECONNECT) return "CONNECT_FAILED";
    if (code == RQ_EINVAL) return "INVALID_ARGS";
    return pw_grpc_status_name(code);
}

/* Splits "host:port", "[v6]:port" or "host" (port 7070). Returns 0 or -1. */
static int parse_addr(rq_client *c, const char *addr)
{
    const char *colon;
    size_t hl;
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        if (!end) return -1;
        hl = (size_t)(end - addr - 1);
        if (hl == 0 || hl >= sizeof c->host) return -1;
        memcpy(c->host, addr + 1, hl);
        colon = end[1] == ':' ? end + 1 : NULL;
        if (end[1] && !colon) return -1;
    } else {
        colon = strrchr(addr, ':');
        hl = colon ? (size_t)(colon - addr) : strlen(addr);
        if (hl == 0 || hl >= sizeof c->host) return -1;
        memcpy(c->host, addr, hl);
    }
    c->host[hl] = 0;
    const char *port = colon ? colon + 1 : "7070";
    size_t pl = strlen(port);
    if (pl == 0 || pl >= sizeof c->port || strspn(port, "0123456789") != pl) return -1;
    long pv = strtol(port, NULL, 10);
    if (pv <= 0 || pv > 65535) return -1;
    memcpy(c->port, port, pl + 1);
    snprintf(c->addr, sizeof c->addr, "%s", addr);
    return 0;
}

static void on_kick(ev_loop *loop, ev_timer *t) { rq_async_run(t->ud); }
static void on_dial_timer(ev_loop *loop, ev_timer *t) { rq_async_run(t->ud); }

static void on_poll_timer(ev_loop *loop, ev_timer *t) {}

rq_client *rq_client_create(const rq_client_opts *opts, rq_status *st)
{
    rq_client_opts o = opts ? *opts : (rq_client_opts){0};
    const char *addr = o.addr ? o.addr : getenv("RINGQ_ADDR");
    if (!addr || !*addr) addr = RQ_ADDR_DEFAULT;
    rq_client *c = calloc(1, sizeof *c);
    if (!c) {
        rq_set_status(st, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    if (parse_addr(c, addr) < 0) {
        rq_set_status(st, RQ_EINVAL, "bad address '%s' (want host:port)", addr);
        free(c);
        return NULL;
    }
    const char *token = o.token ? o.token : getenv("RINGQ_TOKEN");
    if (token && *token) {
        size_t n = strlen(token);
        bool ok = n <= RQ_TOKEN_BYTES_MAX;
        for (size_t i = 0; ok && i < n; i++) ok = token[i] > 0x20 && token[i] < 0x7f;
        if (!ok) {
            /* The token itself is not repeated: it is a secret. */
            rq_set_status(st, RQ_EINVAL, "bad token: 1..%d printable characters, no spaces",
                          RQ_TOKEN_BYTES_MAX);
            free(c);
            return NULL;
        }
        snprintf(c->authz, sizeof c->authz, "Bearer %s", token);
    }
    c->timeout_ms = o.timeout_ms ? o.timeout_ms : RQ_TIMEOUT_MS_DEFAULT;
    c->gzip_min_bytes = o.gzip_min_bytes;
    c->fail_fast = o.fail_fast;
    c->connect_timeout_ms = o.connect_timeout_ms ? o.connect_timeout_ms
                                                 : RQ_CONNECT_TIMEOUT_MS_DEFAULT;
    if (o.loop) {
        c->loop = o.loop;
    } else {
        int err;
        const char *why;
        ev_loop_opts lo = {.sq_entries = 64, .buf_count = 16, .buf_size = 4096, .shard_id = -1};
        c->loop = ev_loop_create(&lo, &err, &why);
        if (!c->loop) {
            rq_set_status(st, RQ_ECONNECT, "io_uring unavailable: %s (%s)", why, strerror(-err));
            free(c);
            return NULL;
        }
        c->own_loop = true;
    }
    ev_timer_init(&c->kick, on_kick, c);
    ev_timer_init(&c->dial_timer, on_dial_timer, c);
    ev_timer_init(&c->poll_timer, on_poll_timer, c);
    rq_set_status(st, 0, NULL);
    return c;
}

static void conn_maybe_free(rq_conn *k)
{
    if (!k->dead || k->rop.busy || k->sop.busy || k->cop.busy) return;
    if (k->fd >= 0) close(k->fd);
    if (k->ais) freeaddrinfo(k->ais);
    k->cl->zombies--;
    free(k->sbuf);
    free(k);
}

/* Ends the connection: every call closes (UNAVAILABLE, `why`); memory goes once the reads and
 * sends in flight have completed. */
static void conn_drop(rq_conn *k, const char *why)
{
    if (k->dead) return;
    k->dead = true;
    rq_client *c = k->cl;
    c->zombies++; /* until conn_maybe_free */
    ev_timer_stop(c->loop, &k->ctimer);
    if (k->cop.busy) ev_cancel(c->loop, NULL, &k->cop);
    if (c->conn == k) c->conn = NULL;
    for (rq_conn **pp = &c->conns; *pp; pp = &(*pp)->next) {
        if (*pp == k) {
            *pp = k->next;
            break;
        }
    }
    shutdown(k->fd, SHUT_RDWR); /* completes the read in flight */
    c->in_grpc++;
    pw_grpc_client_fail(k->g, why);
    pw_grpc_client_destroy(k->g);
    c->in_grpc--;
    k->g = NULL;
    conn_maybe_free(k);
    rq_conn_flush(c); /* what the closes' callbacks queued on other connections */
}

void rq_client_destroy(rq_client *c)
{
    if (!c) return;
    c->closing = true;
    rq_work_client_gone(c);
    while (c->conns) conn_drop(c->conns, "client closed");
    rq_async_close(c);
    ev_timer_stop(c->loop, &c->kick);
    ev_timer_stop(c->loop, &c->dial_timer);
    ev_timer_stop(c->loop, &c->poll_timer);
    /* Let the reads, sends and connects of dropped connections complete so their memory is
     * freed (and no completion reaches them afterwards on a loop that outlives the client). */
    for (int i = 0; i < 200 && c->zombies > 0; i++) rq_client_poll(c, 10);
    if (c->own_loop) ev_loop_destroy(c->loop);
    explicit_bzero(c->authz, sizeof c->authz); /* a secret */
    free(c);
}

struct ev_loop *rq_client_loop(rq_client *c) { return c->loop; }
const char *rq_client_addr(const rq_client *c) { return c->addr; }

int rq_client_poll(rq_client *c, int timeout_ms)
{
    if (timeout_ms >= 0)
        ev_timer_start(c->loop, &c->poll_timer, rt_now_ns() + (uint64_t)timeout_ms * RT_NS_PER_MS);
    int rc = ev_loop_run_once(c->loop, true);
    ev_timer_stop(c->loop, &c->poll_timer);
    return rc;
}

/* ---- I/O ---- */

static void arm_read(rq_conn *k);

static void on_read(ev_loop *loop, ev_op *op, int res, unsigned flags)
{
    rq_conn *k = op->ud;
    if (k->dead) {
        conn_maybe_free(k);
        return;
    }
    if (res <= 0) {
        char why[256];
        snprintf(why, sizeof why, "connection to %.100s lost: %.60s", k->cl->addr,
                 res == 0 ? "closed by the server" : strerror(-res));
        conn_drop(k, why);
        return;
    }
    rq_client *c = k->cl;
    c->in_grpc++;
    ssize_t rc = pw_grpc_client_recv(k->g, k->rbuf, (size_t)res, rt_now_ns());
    c->in_grpc--;
    if (!k->dead && rc >= 0) arm_read(k);
    rq_conn_flush(c);
    rq_async_run(c);
}

static void arm_read(rq_conn *k)
{
    k->rop.cb = on_read;
    k->rop.ud = k;
    int rc = ev_read(k->cl->loop, &k->rop, k->fd, k->rbuf, sizeof k->rbuf, (uint64_t)-1);
    if (rc < 0) conn_drop(k, "cannot queue a socket read");
}

static void on_sent(ev_loop *loop, ev_op *op, int res, unsigned flags)
{
    rq_conn *k = op->ud;
    if (k->dead) {
        conn_maybe_free(k);
        return;
    }
    if (res < 0) {
        conn_drop(k, "send failed: connection lost");
        return;
    }
    k->soff += (size_t)res;
    if (k->soff == k->slen) k->soff = k->slen = 0;
    rq_conn_flush(k->cl);
}

static void conn_pump(rq_conn *k)
{
    if (k->sop.busy || k->connecting) return;
    const uint8_t *p;
    size_t n;
    while (k->slen == 0 && k->g && pw_grpc_client_want_write(k->g)) {
        pw_grpc_client_output(k->g, &p, &n);
        if (n == 0) break;
        if (n > k->scap) {
            uint8_t *nb = realloc(k->sbuf, n);
            if (!nb) {
                conn_drop(k, "out of memory");
                return;
            }
            k->sbuf = nb;
            k->scap = n;
        }
        memcpy(k->sbuf, p, n);
        k->slen = n;
        k->soff = 0;
        k->cl->in_grpc++;
        pw_grpc_client_output_consume(k->g, n); /* may run callbacks that queue more */
        k->cl->in_grpc--;
        if (k->dead) return;
    }
    if (k->slen > k->soff) {
        k->sop.cb = on_sent;
        k->sop.ud = k;
        if (ev_send(k->cl->loop, &k->sop, k->fd, k->sbuf + k->soff, k->slen - k->soff) < 0)
            conn_drop(k, "cannot queue a socket send");
    }
}

void rq_conn_flush(rq_client *c)
{
    if (c->in_flush || c->in_grpc) {
        c->flush_again = true; /* the caller up the stack flushes once out of pw_grpc */
        return;
    }
    c->in_flush = true;
    do {
        c->flush_again = false;
        rq_conn *next;
        for (rq_conn *k = c->conns; k; k = next) {
            next = k->next;
            conn_pump(k);
            if (k->dead) {
                c->flush_again = true; /* the list changed */
                break;
            }
            bool idle = k->slen == 0 && !k->sop.busy && !pw_grpc_client_want_write(k->g);
            if (idle && pw_grpc_client_want_close(k->g)) {
                conn_drop(k, "the server closed the connection");
                c->flush_again = true;
                break;
            }
            if (idle && k != c->conn && pw_grpc_client_calls(k->g) == 0) {
                conn_drop(k, "drained");
                c->flush_again = true;
                break;
            }
        }
    } while (c->flush_again);
    c->in_flush = false;
}

/* ---- dialling: getaddrinfo, then one io_uring connect per address until one answers ---- */

/* A dial failed: waiting calls dial again after a backoff (RQ_BACKOFF_MIN_MS doubling to
 * RQ_BACKOFF_MAX_MS) and, at their deadline, report `why`. */
static void dial_failed(rq_client *c, const char *why)
{
    c->dial_fails++;
    c->dial_backoff_ms = c->dial_backoff_ms ? c->dial_backoff_ms * 2 : RQ_BACKOFF_MIN_MS;
    if (c->dial_backoff_ms > RQ_BACKOFF_MAX_MS) c->dial_backoff_ms = RQ_BACKOFF_MAX_MS;
    c->dial_next_ns = rt_now_ns() + (uint64_t)c->dial_backoff_ms * RT_NS_PER_MS;
    rq_set_status(&c->dial_err, RQ_ECONNECT, "%s", why);
    ev_timer_start(c->loop, &c->dial_timer, c->dial_next_ns);
    if (c->fail_fast) rq_async_fail_waiting(c, RQ_ECONNECT, c->dial_err.message);
}

static int conn_try_next(rq_conn *k);

static void on_connected(ev_loop *loop, ev_op *op, int res, unsigned flags)
{
    rq_conn *k = op->ud;
    if (k->dead) {
        conn_maybe_free(k);
        return;
    }
    rq_client *c = k->cl;
    if (res < 0) {
        k->err = k->timed_out ? ETIMEDOUT : -res;
        close(k->fd);
        k->fd = -1;
        if (!k->timed_out && conn_try_next(k) == 0) return;
        char why[256];
        snprintf(why, sizeof why, "cannot connect to %.100s: %.60s", c->addr, strerror(k->err));
        dial_failed(c, why);
        conn_drop(k, c->dial_err.message);
        return;
    }
    ev_timer_stop(loop, &k->ctimer);
    freeaddrinfo(k->ais);
    k->ais = k->ai = NULL;
    int one = 1;
    setsockopt(k->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    k->connecting = false;
    c->dial_fails = 0;
    c->dial_backoff_ms = 0;
    arm_read(k);
    rq_conn_flush(c);
    rq_async_run(c);    /* the calls that waited for it */
    rq_work_conn_up(c); /* and the Work streams */
}

static void on_connect_timeout(ev_loop *loop, ev_timer *t)
{
    rq_conn *k = t->ud;
    k->timed_out = true;
    if (k->cop.busy) ev_cancel(loop, NULL, &k->cop);
}

/* Starts a connect to the next address. 0, or -1 when none is left (k->err says why). */
static int conn_try_next(rq_conn *k)
{
    for (; k->ai; k->ai = k->ai->ai_next) {
        const struct addrinfo *ai = k->ai;
        if (ai->ai_addrlen > sizeof k->sa) continue;
        k->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (k->fd < 0) {
            k->err = errno;
            continue;
        }
        memcpy(&k->sa, ai->ai_addr, ai->ai_addrlen);
        k->ai = ai->ai_next;
        k->cop.cb = on_connected;
        k->cop.ud = k;
        int rc = ev_connect(k->cl->loop, &k->cop, k->fd, (struct sockaddr *)&k->sa, ai->ai_addrlen);
        if (rc == 0) return 0;
        k->err = -rc;
        close(k->fd);
        k->fd = -1;
        if (!k->ai) break;
    }
    return -1;
}

rq_conn *rq_conn_ready(rq_client *c)
{
    rq_conn *k = c->conn;
    return k && !k->connecting && !pw_grpc_client_draining(k->g) && !pw_grpc_client_want_close(k->g)
               ? k
               : NULL;
}

rq_conn *rq_conn_get(rq_client *c, rq_status *st)
{
    if (rq_conn_ready(c) || (c->conn && c->conn->connecting)) return c->conn;
    /* Draining (GOAWAY): the calls it accepted finish on it (it stays on c->conns, read and
     * flushed, until its last call ends); new calls need a new connection. */
    c->conn = NULL;
    rq_conn_flush(c);
    char why[256];
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int gai = getaddrinfo(c->host, c->port, &hints, &res);
    rq_conn *k = gai == 0 ? calloc(1, sizeof *k) : NULL;
    pw_grpc_client_opts go = {.authority = c->addr,
                              .max_recv_msg_bytes = RQ_MAX_RECV_BYTES,
                              .gzip_min_bytes = c->gzip_min_bytes};
    if (!k || !(k->g = pw_grpc_client_create(&go))) {
        if (gai)
            snprintf(why, sizeof why, "cannot resolve %.100s: %.60s", c->host, gai_strerror(gai));
        else snprintf(why, sizeof why, "out of memory for a connection");
        if (res) freeaddrinfo(res);
        free(k);
        dial_failed(c, why);
        rq_set_status(st, RQ_ECONNECT, "%s", why);
        return NULL;
    }
    k->cl = c;
    k->fd = -1;
    k->ais = k->ai = res;
    k->connecting = true;
    k->err = EADDRNOTAVAIL;
    ev_timer_init(&k->ctimer, on_connect_timeout, k);
    c->conn = k;
    k->next = c->conns;
    c->conns = k;
    if (conn_try_next(k) < 0) {
        snprintf(why, sizeof why, "cannot connect to %.100s: %.60s", c->addr, strerror(k->err));
        dial_failed(c, why);
        conn_drop(k, c->dial_err.message);
        rq_set_status(st, RQ_ECONNECT, "%s", why);
        return NULL;
    }
    ev_timer_start(c->loop, &k->ctimer,
                   rt_now_ns() + (uint64_t)c->connect_timeout_ms * RT_NS_PER_MS);
    return k;
}

rq_conn *rq_conn_for_calls(rq_client *c)
{
    rq_conn *k = rq_conn_ready(c);
    if (k || (c->conn && c->conn->connecting)) return k; /* connecting: on_connected runs them */
    if (c->dial_fails && rt_now_ns() < c->dial_next_ns) {
        ev_timer_start(c->loop, &c->dial_timer, c->dial_next_ns);
        return NULL;
    }
    rq_conn_get(c, NULL); /* a dial: its completion (or the dial timer) runs the calls */
    return NULL;
}

const pw_grpc_ccall_opts *rq_call_opts(const rq_client *c, const pw_grpc_ccall_opts *in,
                                       pw_grpc_cmeta *md, pw_grpc_ccall_opts *out)
{
    size_t n = in ? in->md_count : 0;
    if (!c->authz[0] || n >= PW_GRPC_CCALL_MD_MAX) return in; /* full: start refuses it */
    for (size_t i = 0; i < n; i++) md[i] = in->md[i];
    md[n] = (pw_grpc_cmeta){"authorization", (const uint8_t *)c->authz, strlen(c->authz)};
    *out = (pw_grpc_ccall_opts){.md = md, .md_count = n + 1};
    return out;
}

pw_grpc_ccall *rq_conn_start(rq_client *c, const char *path, uint64_t deadline_ns,
                             const pw_grpc_ccall_cbs *cb, void *ud, rq_status *st)
{
    return rq_conn_start_opts(c, path, deadline_ns, NULL, cb, ud, st);
}

pw_grpc_ccall *rq_conn_start_opts(rq_client *c, const char *path, uint64_t deadline_ns,
                                  const pw_grpc_ccall_opts *opts, const pw_grpc_ccall_cbs *cb,
                                  void *ud, rq_status *st)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        rq_conn *k = rq_conn_ready(c);
        if (!k) {
            /* Dial (unless a failed dial's backoff runs); the caller retries once it is up
             * (rq_work_conn_up). */
            rq_conn_for_calls(c);
            rq_set_status(st, RQ_ECONNECT, "%s",
                          c->dial_fails ? c->dial_err.message : "connecting");
            return NULL;
        }
        int err;
        pw_grpc_cmeta md[PW_GRPC_CCALL_MD_MAX];
        pw_grpc_ccall_opts o;
        pw_grpc_ccall *call = pw_grpc_ccall_start_opts(k->g, path, deadline_ns, rt_now_ns(),
                                                       rq_call_opts(c, opts, md, &o), cb, ud, &err);
        if (call) return call;
        if (err != -ENOTCONN) {
            rq_set_status(st, PW_GRPC_INTERNAL, "cannot start %s: %s", path, strerror(-err));
            return NULL;
        }
        /* The connection is closing: the next attempt opens a new one. */
    }
    rq_set_status(st, PW_GRPC_UNAVAILABLE, "the connection keeps closing");
    return NULL;
}
