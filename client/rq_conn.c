/* client/rq_conn: libringq's connections — TCP sockets driven by the core io_uring loop, one
 * pw_grpc_client each. New calls start on the current connection; one that received a GOAWAY
 * stays on the client's list (read, flushed) until its last call ends. The client itself: rq_client.c. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/rq_int.h"
#include "core/rt_clock.h"

static void conn_maybe_free(rq_conn *k)
{
    if (!k->dead || k->rop.busy || k->sop.busy || k->cop.busy) return;
    if (k->fd >= 0) close(k->fd);
    if (k->ais) freeaddrinfo(k->ais);
    k->cl->zombies--;
    rq_tls_destroy(k->tls);
    free(k->sbuf);
    free(k);
}

void rq_conn_drop(rq_conn *k, const char *why)
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

/* ---- I/O ---- */

static void arm_read(rq_conn *k);

static void conn_up(rq_conn *k);
static void dial_failed(rq_client *c, const char *why);

/* A read of n ciphertext bytes in k->rbuf on a TLS connection: the handshake, then the
 * plaintext to the engine; re-arms the read and flushes like on_read. */
static void tls_input(rq_conn *k, size_t n)
{
    rq_client *c = k->cl;
    char why[320], reason[200];
    if (rq_tls_feed(k->tls, k->rbuf, n) < 0) {
        rq_conn_drop(k, "out of memory");
        return;
    }
    if (k->connecting) {
        int h = rq_tls_handshake(k->tls, reason, sizeof reason);
        if (h < 0) {
            snprintf(why, sizeof why, "TLS handshake with %.100s failed: %.180s", c->addr, reason);
            dial_failed(c, why);
            rq_conn_drop(k, c->dial_err.message);
            return;
        }
        if (h == 0) {
            arm_read(k);
            rq_conn_flush(c); /* the handshake's next flight */
            return;
        }
        conn_up(k);
        if (k->dead) return;
    }
    /* Each plaintext chunk goes to the engine as it comes out (k->rbuf is free again: the
     * ciphertext was copied into the read BIO). */
    ssize_t rc = 0, got = 0;
    while (!k->dead && rc >= 0 && (got = rq_tls_read(k->tls, k->rbuf, sizeof k->rbuf)) > 0) {
        c->in_grpc++;
        rc = pw_grpc_client_recv(k->g, k->rbuf, (size_t)got, rt_now_ns());
        c->in_grpc--;
    }
    if (!k->dead && rc >= 0 && got < 0) {
        rq_tls_error(k->tls, reason, sizeof reason);
        snprintf(why, sizeof why, "TLS with %.100s failed: %.180s", c->addr,
                 got == -EPIPE ? "the server closed the connection" : reason);
        rq_conn_drop(k, why);
        return;
    }
    if (!k->dead && rc >= 0) arm_read(k);
    rq_conn_flush(c);
    rq_async_run(c);
}

/* A plaintext connection whose first bytes are an HTTP/1.1 answer: a TLS port says "this port
 * speaks TLS" that way (docs/security.md). Drops the connection with the answer's last line
 * and returns true. */
static bool plain_http1_answer(rq_conn *k, size_t n)
{
    k->got_bytes = true;
    if (n < 9 || memcmp(k->rbuf, "HTTP/1.", 7) != 0) return false;
    size_t end = n;
    while (end > 0 && (k->rbuf[end - 1] == '\n' || k->rbuf[end - 1] == '\r')) end--;
    size_t start = end;
    while (start > 0 && k->rbuf[start - 1] != '\n') start--;
    char why[320];
    snprintf(why, sizeof why, "%.100s answered in HTTP/1.1, not HTTP/2: %.*s", k->cl->addr,
             (int)(end - start > 150 ? 150 : end - start), (const char *)k->rbuf + start);
    dial_failed(k->cl, why);
    rq_conn_drop(k, k->cl->dial_err.message);
    return true;
}

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
        if (k->tls && k->connecting) { /* during the handshake: the dial failed */
            snprintf(why, sizeof why, "TLS handshake with %.100s failed: %.60s", k->cl->addr,
                     res == 0 ? "the server closed the connection (not a TLS port?)"
                              : strerror(-res));
            dial_failed(k->cl, why);
        }
        rq_conn_drop(k, why);
        return;
    }
    if (k->tls) {
        tls_input(k, (size_t)res);
        return;
    }
    rq_client *c = k->cl;
    if (!k->got_bytes && plain_http1_answer(k, (size_t)res)) return;
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
    if (rc < 0) rq_conn_drop(k, "cannot queue a socket read");
}

static void on_sent(ev_loop *loop, ev_op *op, int res, unsigned flags)
{
    rq_conn *k = op->ud;
    if (k->dead) {
        conn_maybe_free(k);
        return;
    }
    if (res < 0) {
        rq_conn_drop(k, "send failed: connection lost");
        return;
    }
    k->soff += (size_t)res;
    if (k->soff == k->slen) k->soff = k->slen = 0;
    rq_conn_flush(k->cl);
}

/* Makes room for n bytes to send. 0, or -1 after dropping the connection. */
static int sbuf_room(rq_conn *k, size_t n)
{
    if (n <= k->scap) return 0;
    uint8_t *nb = realloc(k->sbuf, n);
    if (!nb) {
        rq_conn_drop(k, "out of memory");
        return -1;
    }
    k->sbuf = nb;
    k->scap = n;
    return 0;
}

/* TLS: moves the ciphertext waiting (a handshake flight, sealed records) into the send buffer
 * (empty). 0, or -1 after dropping the connection. */
static int tls_take(rq_conn *k)
{
    size_t n = rq_tls_pending(k->tls);
    if (n == 0 || sbuf_room(k, n) < 0) return n == 0 ? 0 : -1;
    k->slen = rq_tls_take(k->tls, k->sbuf, n);
    k->soff = 0;
    return 0;
}

static void conn_pump(rq_conn *k)
{
    /* (k->tls exists once TCP is up: then the handshake's flights go out.) */
    if (k->sop.busy || (k->connecting && !k->tls)) return;
    if (k->tls && k->slen == 0 && tls_take(k) < 0) return;
    const uint8_t *p;
    size_t n;
    while (k->slen == 0 && !k->connecting && k->g && pw_grpc_client_want_write(k->g)) {
        pw_grpc_client_output(k->g, &p, &n);
        if (n == 0) break;
        if (k->tls) {
            if (rq_tls_write(k->tls, p, n) < 0) {
                rq_conn_drop(k, "TLS write failed");
                return;
            }
        } else {
            if (sbuf_room(k, n) < 0) return;
            memcpy(k->sbuf, p, n);
            k->slen = n;
            k->soff = 0;
        }
        k->cl->in_grpc++;
        pw_grpc_client_output_consume(k->g, n); /* may run callbacks that queue more */
        k->cl->in_grpc--;
        if (k->dead) return;
        if (k->tls && tls_take(k) < 0) return;
    }
    if (k->slen > k->soff) {
        k->sop.cb = on_sent;
        k->sop.ud = k;
        if (ev_send(k->cl->loop, &k->sop, k->fd, k->sbuf + k->soff, k->slen - k->soff) < 0)
            rq_conn_drop(k, "cannot queue a socket send");
        else k->cl->writes++;
    }
}

void rq_conn_flush(rq_client *c)
{
    if (c->in_flush || c->in_grpc || c->corked) {
        /* The caller up the stack (or the last rq_client_uncork) flushes. */
        c->flush_again = true;
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
                rq_conn_drop(k, "the server closed the connection");
                c->flush_again = true;
                break;
            }
            if (idle && k != c->conn && pw_grpc_client_calls(k->g) == 0) {
                rq_conn_drop(k, "drained");
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
        rq_conn_drop(k, c->dial_err.message);
        return;
    }
    freeaddrinfo(k->ais);
    k->ais = k->ai = NULL;
    int one = 1;
    setsockopt(k->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (c->tls) {
        /* The handshake, within the same connect timeout: conn_up once it is done. */
        if (!(k->tls = rq_tls_create(c->tls, c->tls_name))) {
            char why[300];
            snprintf(why, sizeof why, "TLS: cannot verify the name '%.200s'", c->tls_name);
            dial_failed(c, why);
            rq_conn_drop(k, c->dial_err.message);
            return;
        }
        if (rq_tls_handshake(k->tls, NULL, 0) < 0) { /* writes the ClientHello */
            dial_failed(c, "TLS: cannot start the handshake");
            rq_conn_drop(k, c->dial_err.message);
            return;
        }
        arm_read(k);
        rq_conn_flush(c);
        return;
    }
    arm_read(k);
    conn_up(k);
}

/* TCP (and TLS) is up: the calls that waited for it go. */
static void conn_up(rq_conn *k)
{
    rq_client *c = k->cl;
    ev_timer_stop(c->loop, &k->ctimer);
    k->connecting = false;
    c->dial_fails = 0;
    c->dial_backoff_ms = 0;
    rq_conn_flush(c);
    rq_async_run(c);    /* the calls that waited for it */
    rq_work_conn_up(c); /* and the Work streams */
}

static void on_connect_timeout(ev_loop *loop, ev_timer *t)
{
    rq_conn *k = t->ud;
    k->timed_out = true;
    if (k->cop.busy) {
        ev_cancel(loop, NULL, &k->cop);
    } else if (k->tls && k->connecting) {
        char why[300];
        snprintf(why, sizeof why, "TLS handshake with %.100s timed out", k->cl->addr);
        dial_failed(k->cl, why);
        rq_conn_drop(k, k->cl->dial_err.message);
    }
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
        rq_conn_drop(k, c->dial_err.message);
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

void rq_client_cork(rq_client *c) { c->corked++; }

void rq_client_uncork(rq_client *c)
{
    if (c->corked == 0 || --c->corked > 0) return;
    rq_conn_flush(c);
}

uint64_t rq_client_writes(const rq_client *c) { return c->writes; }
