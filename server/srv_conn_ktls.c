/* server/srv_conn_ktls: a TLS connection's record layer handed to the kernel (kTLS) after the
 * handshake, so its data path is plain io_uring sends and recvs again (docs/security.md,
 * "Where the bytes go"). The keys and sequence numbers come from srv_tls_ktls.c.
 *
 * Start (handshake done, srv_conn_ktls_start): setsockopt(TCP_ULP, "tls"). A kernel without
 * the ULP refuses it (ENOENT): the connection stays in user space, and so does every later one
 * (one info line says so). Otherwise both directions are MOVING:
 *   RX  the multishot recv is cancelled; what it still delivers goes through OpenSSL. Once it
 *       has stopped, the rest of a record in progress is read (ev_read, exactly the bytes
 *       missing) and decrypted, so the kernel starts on a record boundary with the next
 *       sequence number; then TLS_RX is installed and the recv re-armed: plaintext from then on.
 *   TX  nothing more is sealed; the ciphertext OpenSSL already made (session tickets) is sent;
 *       with the send idle and nothing left, TLS_TX is installed and the engine's output goes
 *       out as it does in plaintext (without zero-copy).
 * A direction whose setsockopt fails (a cipher the kernel lacks) stays in user space: OpenSSL's
 * state for it is intact. Control records after the switch: an alert or a KeyUpdate from the
 * peer makes the kTLS recv fail (-EIO, we pass no cmsg buffer) and the connection is closed, as
 * on a reset; our close sends a close_notify alert through kTLS (a record of type 21). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include "core/rt_alloc.h"
#include "core/rt_log.h"
#include "server/srv_internal.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif

/* The largest TLS 1.3 record on the wire: 2^14 + 256 bytes of ciphertext (RFC 8446 §5.2) and
 * its 5-byte header: the most a record in progress can still miss. */
#define SRV_KTLS_TAIL_BYTES_MAX (16384u + 256u + 5u)
/* TLS record type of an alert (RFC 8446 §5.1) and close_notify (§6.1), as sent through kTLS. */
#define SRV_KTLS_RECORD_ALERT 21u

/* Set once the kernel refused the "tls" ULP: no later connection tries again. */
static _Atomic bool ulp_absent;

static void ctr_inc(_Atomic uint64_t *k)
{
    atomic_store_explicit(k, atomic_load_explicit(k, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* Counts the connection once both directions are settled: kernel when both moved. */
static void settle(srv_conn *c)
{
    if (c->ktls_counted || c->ktls_rx == SRV_KTLS_MOVING || c->ktls_tx == SRV_KTLS_MOVING) return;
    c->ktls_counted = true;
    bool kernel = c->ktls_rx == SRV_KTLS_KERNEL && c->ktls_tx == SRV_KTLS_KERNEL;
    ctr_inc(kernel ? &c->sh->ctr.tls_ktls : &c->sh->ctr.tls_user);
}

static void stay_user(srv_conn *c)
{
    srv_tls_conn_ktls_forget(c->tls);
    c->ktls_rx = c->ktls_tx = SRV_KTLS_USER;
    settle(c);
}

void srv_conn_ktls_start(srv_conn *c)
{
    const char *why = NULL;
    if (c->sh->rt->opt.ktls_off || atomic_load_explicit(&ulp_absent, memory_order_relaxed) ||
        srv_tls_conn_ktls_begin(c->tls, &why) < 0) {
        if (why)
            log_debug("TLS record layer stays in user space", "fd=%d reason=\"%s\"", c->fd, why);
        stay_user(c);
        return;
    }
    if (setsockopt(c->fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof "tls") != 0) {
        int e = errno;
        /* ENOENT: the kernel has no "tls" ULP (nor a module for it): so for every connection.
         * Anything else (the peer already gone) concerns this one only. */
        if (e != ENOENT)
            log_debug("kTLS not set up", "fd=%d reason=\"setsockopt(TCP_ULP, tls): %s\"", c->fd,
                      strerror(e));
        else if (!atomic_exchange(&ulp_absent, true))
            log_info("kTLS unavailable: the TLS record layer stays in user space",
                     "reason=\"setsockopt(TCP_ULP, tls): %s\"", strerror(e));
        stay_user(c);
        return;
    }
    c->ktls_rx = c->ktls_tx = SRV_KTLS_MOVING;
    /* A multishot still armed is stopped; one that already ended continues in its completion
     * (srv_conn.c conn_recv_ended). */
    if (c->recv_op.busy && ev_cancel(c->sh->loop, NULL, &c->recv_op) < 0)
        c->ktls_rx = SRV_KTLS_USER;
}

/* Installs one direction. true when the kernel took it. */
static bool install(srv_conn *c, bool tx)
{
    srv_tls_ktls_info info;
    int r = srv_tls_conn_ktls_info(c->tls, tx, &info);
    int e = 0;
    if (r == 0 && setsockopt(c->fd, SOL_TLS, tx ? TLS_TX : TLS_RX, &info.u, info.len) != 0)
        e = errno;
    explicit_bzero(&info, sizeof info);
    if (r < 0 || e)
        log_info("kTLS refused a direction; it stays in user space", "fd=%d dir=%s reason=\"%s\"",
                 c->fd, tx ? "tx" : "rx", r < 0 ? "key derivation failed" : strerror(e));
    return r == 0 && e == 0;
}

static void rx_done(srv_conn *c, bool kernel)
{
    c->ktls_rx = kernel ? SRV_KTLS_KERNEL : SRV_KTLS_USER;
    rt_free(c->ktls_tail);
    c->ktls_tail = NULL;
    settle(c);
    if (c->state != SRV_CONN_CLOSED && srv_conn_recv_arm(c) < 0) srv_conn_close(c);
}

static void on_tail(ev_loop *loop, ev_op *op, int res, unsigned flags)
{
    srv_conn *c = op->ud;
    srv_conn_hold(c);
    if (res <= 0 || c->state != SRV_CONN_OPEN) {
        c->recv_stopped = true;
        srv_conn_close(c); /* EOF or an error in the middle of a record */
    } else {
        srv_conn_tls_input(c, c->ktls_tail, (size_t)res); /* counted and decrypted */
        if (c->state == SRV_CONN_OPEN) srv_conn_ktls_rx_continue(c);
        if (c->state != SRV_CONN_CLOSED) srv_conn_flush(c);
    }
    srv_conn_release(c);
}

void srv_conn_ktls_rx_continue(srv_conn *c)
{
    if (c->state != SRV_CONN_OPEN) { /* closing: the recv only drains now */
        rx_done(c, false);
        return;
    }
    size_t miss = srv_tls_conn_ktls_rx_missing(c->tls);
    if (miss > 0) {
        if (!c->ktls_tail && !(c->ktls_tail = rt_malloc(SRV_KTLS_TAIL_BYTES_MAX))) {
            srv_conn_close(c);
            return;
        }
        c->recv_op.cb = on_tail;
        if (ev_read(c->sh->loop, &c->recv_op, c->fd, c->ktls_tail, miss, 0) < 0) srv_conn_close(c);
        return;
    }
    rx_done(c, srv_tls_conn_ktls_rx_ready(c->tls) && install(c, false));
}

void srv_conn_ktls_tx_try(srv_conn *c)
{
    if (c->send_op.busy || buf_size(&c->tls_out) > 0) return;
    if (c->state != SRV_CONN_OPEN) { /* closing: OpenSSL may have sealed our close_notify */
        c->ktls_tx = SRV_KTLS_USER;
        settle(c);
        return;
    }
    if (!srv_tls_conn_ktls_tx_ready(c->tls)) {
        (void)srv_tls_conn_take_out(c->tls, &c->tls_out); /* sent first, then we come back */
        if (buf_size(&c->tls_out) > 0) return;
    }
    c->ktls_tx = install(c, true) ? SRV_KTLS_KERNEL : SRV_KTLS_USER;
    settle(c);
}

void srv_conn_ktls_close_notify(srv_conn *c)
{
    /* One alert record: level warning (1), close_notify (0). Best effort, without waiting:
     * the socket's buffer is empty at this point (everything was sent), and a peer that does
     * not get it sees the FIN. */
    static const uint8_t alert[2] = {1, 0};
    char cbuf[CMSG_SPACE(sizeof(uint8_t))] = {0};
    struct iovec v = {.iov_base = (void *)alert, .iov_len = sizeof alert};
    struct msghdr m = {
        .msg_iov = &v, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_TLS;
    cm->cmsg_type = TLS_SET_RECORD_TYPE;
    cm->cmsg_len = CMSG_LEN(sizeof(uint8_t));
    *CMSG_DATA(cm) = SRV_KTLS_RECORD_ALERT;
    if (sendmsg(c->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
        log_debug("kTLS close_notify not sent", "fd=%d", c->fd);
}
