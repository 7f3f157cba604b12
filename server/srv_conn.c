/* server/srv_conn: connection glue between the reactor and the protocol engines.
 *
 * A connection starts in SNIFF mode: the first bytes tell an HTTP/2 client preface from an
 * HTTP/1.1 request. Bytes that begin like the preface ("PRI ") but differ from it get
 * GOAWAY(PROTOCOL_ERROR), not an HTTP/1.1 400. Plain requests over HTTP/2 (GET /healthz,
 * /metrics) are answered by srv_http1.c through the gRPC connection's plain handler.
 *
 * In H2 mode, received bytes go straight from the provided recv buffer into the gRPC connection
 * (no copy), and its output is taken as a chain (`outv`: the engine's frame buffer swapped out,
 * DATA payloads referenced where they were encoded) and sent with one sendmsg over its iovecs
 * (zero-copy when --send-zc-min-bytes says so); while a send is in flight new output
 * accumulates in the engine and goes out with the next send.
 *
 * TLS (--tls-cert): srv_conn_tls.c sits between the socket and the above: received ciphertext
 * is decrypted before it reaches SNIFF/H2/HTTP1 (srv_conn_input), output is sealed into
 * `tls_out` and sent from there (never zero-copy). Once a direction moved to kTLS
 * (srv_conn_ktls.c), it is the plaintext path again: srv_conn_tls_user_tx() says which.
 *
 * Teardown: srv_conn_close() shuts the socket down so in-flight ops complete, and frees the
 * connection once neither the recv nor the send op is busy. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/rt_alloc.h"
#include "core/rt_clock.h"
#include "core/rt_log.h"
#include "core/rt_net.h"
#include "proto_wire/pw_h2_frame.h"
#include "server/srv_internal.h"

static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define H2_PREFACE_LEN 24u
/* First bytes that make a connection an HTTP/2 one even if the rest of the preface is wrong:
 * "PRI " — the PRI method exists only for the preface (RFC 9113 §3.4, RFC 7540 §11.6). */
#define H2_PREFACE_LIKE_BYTES 4u
/* Output storage a connection with calls open keeps once its output is drained: the HTTP/2
 * engine's frame buffer of a loop turn at the suite's load (replies, deliveries and their
 * frame headers; the payloads go by reference); larger buffers are given back. */
#define SRV_CONN_OUT_KEEP_BYTES (64u * 1024u)

static void ctr_add(_Atomic uint64_t *c, uint64_t n)
{
    /* Single writer (the owning shard): a relaxed load+store is enough and avoids a locked op. */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static void conn_arm_timer(srv_conn *c);
static void conn_maybe_free(srv_conn *c);

bool srv_conn_state_next_ok(srv_conn_state from, srv_conn_state to)
{
    /* The table in srv_internal.h, row `from`, column `to`. */
    static const bool ok[SRV_CONN_STATES][SRV_CONN_STATES] = {
        [SRV_CONN_OPEN] = {[SRV_CONN_FLUSHING] = true, [SRV_CONN_CLOSED] = true},
        [SRV_CONN_FLUSHING] = {[SRV_CONN_LINGERING] = true, [SRV_CONN_CLOSED] = true},
        [SRV_CONN_LINGERING] = {[SRV_CONN_CLOSED] = true},
    };
    return (unsigned)from < SRV_CONN_STATES && (unsigned)to < SRV_CONN_STATES && ok[from][to];
}

/* The one setter of c->state. */
static void conn_set_state(srv_conn *c, srv_conn_state next)
{
    assert(srv_conn_state_next_ok(c->state, next));
    c->state = next;
}

/* Asked to close, last bytes still going out or the peer's FIN awaited. */
static bool conn_winding_down(const srv_conn *c)
{
    return c->state == SRV_CONN_FLUSHING || c->state == SRV_CONN_LINGERING;
}

static void conn_unlink(srv_conn *c)
{
    srv_shard *sh = c->sh;
    if (c->prev) c->prev->next = c->next;
    else sh->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    sh->nconns--;
    ctr_add(&sh->ctr.conns_open, (uint64_t)-1);
}

static void conn_maybe_free(srv_conn *c)
{
    if (c->state != SRV_CONN_CLOSED || c->hold > 0 || c->recv_op.busy || c->send_op.busy) return;
    srv_shard *sh = c->sh;
    ev_timer_stop(sh->loop, &c->timer);
    if (c->g) pw_grpc_conn_destroy(c->g);
    c->g = NULL;
    close(c->fd);
    buf_deinit(&c->in);
    buf_deinit(&c->out);
    pw_h2_outv_deinit(&c->outv); /* no send in flight: the kernel holds none of it */
    srv_tls_conn_destroy(c->tls);
    rt_free(c->ktls_tail);
    buf_deinit(&c->tls_plain);
    buf_deinit(&c->tls_out);
    conn_unlink(c);
    rt_free(c);
    srv_shard_conn_gone(sh);
}

void srv_conn_close(srv_conn *c)
{
    if (c->state == SRV_CONN_CLOSED) return;
    conn_set_state(c, SRV_CONN_CLOSED);
    /* shutdown() makes a pending multishot recv complete with 0 and fails pending sends, so
     * both ops reach their final completion without an explicit cancel. */
    shutdown(c->fd, SHUT_RDWR);
    if (c->recv_op.busy) ev_cancel(c->sh->loop, NULL, &c->recv_op);
    conn_maybe_free(c);
}

static void on_send(ev_loop *loop, ev_op *op, int res, unsigned flags);

/* Every callback holds the connection while it runs; the last release frees a closed one. */
static void conn_enter(srv_conn *c) { c->hold++; }
static void conn_leave(srv_conn *c)
{
    if (--c->hold == 0) conn_maybe_free(c);
}

void srv_conn_hold(srv_conn *c) { conn_enter(c); }
void srv_conn_release(srv_conn *c) { conn_leave(c); }
/* A draining connection with no call left is done even while the peer keeps streams open on
 * its side: a client that got a bidi stream's trailers need not end its half (ringq-worker does
 * not), and waiting for it would hold the drain for --drain-timeout-ms. Those streams are
 * reset with NO_ERROR once everything else is out; the session then wants to close. Returns
 * true when resets were queued (flush again). */
static bool conn_reset_drained(srv_conn *c)
{
    return c->sh->draining && pw_grpc_conn_active_calls(c->g) == 0 &&
           pw_grpc_conn_reset_finished(c->g) > 0;
}

/* Starts the send of the chain taken from the engine: one sendmsg over its iovecs, zero-copy
 * when the kernel has it and the chain references enough payload (--send-zc-min-bytes). */
static int conn_send_chain(srv_conn *c)
{
    int k = pw_h2_outv_iov(&c->outv, c->iov, SRV_SEND_IOV_MAX);
    c->msg = (struct msghdr){.msg_iov = c->iov, .msg_iovlen = (size_t)k};
    /* Not over kTLS: its sendmsg encrypts into its own pages (no zero-copy to gain). */
    c->send_zc = c->outv.ref_bytes > 0 && c->outv.ref_bytes >= c->sh->rt->opt.send_zc_min_bytes &&
                 ev_loop_has_send_zc(c->sh->loop) && !c->tls;
    if (c->send_zc) return ev_sendmsg_zc(c->sh->loop, &c->send_op, c->fd, &c->msg);
    return ev_sendmsg(c->sh->loop, &c->send_op, c->fd, &c->msg);
}

void srv_conn_flush(srv_conn *c)
{
    if (c->state == SRV_CONN_CLOSED || c->send_op.busy) return;
    size_t n;
    if (c->tls && c->ktls_tx == SRV_KTLS_MOVING) srv_conn_ktls_tx_try(c);
    if (srv_conn_tls_user_tx(c)) {
        ssize_t sealed = srv_conn_tls_seal(c);
        if (sealed < 0) {
            srv_conn_close(c);
            return;
        }
        n = (size_t)sealed;
    } else if (c->g) {
        /* Take the engine's output as it is: buffers swapped, payloads referenced, no copy. */
        if (pw_h2_outv_size(&c->outv) == 0) pw_grpc_conn_output_take(c->g, &c->outv);
        n = pw_h2_outv_size(&c->outv);
    } else {
        n = buf_size(&c->out);
    }
    if (n == 0) {
        buf_shrink(&c->out, 0);
        /* Kept while calls are open: the next output is swapped into this storage (the engine
         * got it empty and allocated its frame buffer anew at each drained turn, two heap round
         * trips per task at batch 1); an idle connection holds none. */
        buf_shrink(&c->outv.bytes,
                   c->g && pw_grpc_conn_active_calls(c->g) > 0 ? SRV_CONN_OUT_KEEP_BYTES : 0);
        buf_shrink(&c->tls_out, 0);
        if (c->g && c->state == SRV_CONN_OPEN && conn_reset_drained(c)) {
            srv_conn_flush(c);
            return;
        }
        if (c->g && pw_grpc_conn_want_close(c->g) && c->state == SRV_CONN_OPEN)
            srv_conn_close_after_flush(c);
        if (c->state == SRV_CONN_FLUSHING && srv_conn_tls_user_tx(c) &&
            srv_tls_conn_close_notify(c->tls)) {
            srv_conn_flush(c); /* the close_notify goes out before the FIN */
            return;
        }
        if (c->state == SRV_CONN_FLUSHING) {
            /* Everything is out: FIN after it, then drain the peer's input until it closes (or
             * the deadline), so our last frames are not lost to a reset. */
            conn_set_state(c, SRV_CONN_LINGERING);
            if (c->tls && c->ktls_tx == SRV_KTLS_KERNEL) srv_conn_ktls_close_notify(c);
            shutdown(c->fd, SHUT_WR);
            conn_arm_timer(c);
        }
        return;
    }
    int r = srv_conn_tls_user_tx(c)
                ? ev_send(c->sh->loop, &c->send_op, c->fd, buf_begin(&c->tls_out), n)
            : c->g ? conn_send_chain(c)
                   : ev_send(c->sh->loop, &c->send_op, c->fd, buf_begin(&c->out), n);
    if (r < 0) srv_conn_close(c);
}

void srv_conn_close_after_flush(srv_conn *c)
{
    if (c->state != SRV_CONN_OPEN) return;
    conn_set_state(c, SRV_CONN_FLUSHING);
    c->close_deadline_ns = ev_loop_now(c->sh->loop) + (uint64_t)SRV_CLOSE_LINGER_MS * RT_NS_PER_MS;
}

/* What a send completed: the bytes leave the chain (or the buffer), and the next send starts. */
static void conn_sent(srv_conn *c, size_t n)
{
    ctr_add(&c->sh->ctr.bytes_out, (uint64_t)n);
    if (srv_conn_tls_user_tx(c)) buf_consume(&c->tls_out, n);
    else if (c->g) pw_h2_outv_consume(&c->outv, n); /* a short write leaves the rest for next */
    else buf_consume(&c->out, n);
    if (n > 0) c->stall_since_ns = 0; /* progress */
    if (c->state != SRV_CONN_CLOSED) srv_conn_flush(c);
    if (c->state != SRV_CONN_CLOSED) conn_arm_timer(c);
}

static void on_send(ev_loop *loop, ev_op *op, int res, unsigned flags)
{
    srv_conn *c = op->ud;
    conn_enter(c);
    bool open = c->state != SRV_CONN_CLOSED;
    if (c->send_zc && (flags & EV_F_MORE)) {
        /* A zero-copy send's result: the kernel still reads the chain until its notification,
         * which comes next; until then nothing of it is released or changed. */
        c->send_zc_done = res > 0 ? (size_t)res : 0;
        if (res > 0) ctr_add(&c->sh->ctr.send_zc_bytes, (uint64_t)res);
        if (res < 0 && open) log_debug("send failed", "fd=%d err=%d", c->fd, res);
        if (res < 0) srv_conn_close(c); /* the op stays busy: freed after the notification */
    } else if (c->send_zc) {
        /* The notification (or a result without one): the chain is the engine's again. */
        c->send_zc = false;
        size_t n = (flags & EV_F_NOTIF) ? c->send_zc_done : (res > 0 ? (size_t)res : 0);
        c->send_zc_done = 0;
        if (res < 0 && !(flags & EV_F_NOTIF)) {
            if (open) log_debug("send failed", "fd=%d err=%d", c->fd, res);
            srv_conn_close(c);
        } else if (open) {
            conn_sent(c, n);
        }
    } else if (res < 0) {
        if (open) log_debug("send failed", "fd=%d err=%d", c->fd, res);
        srv_conn_close(c);
    } else {
        conn_sent(c, (size_t)res);
    }
    conn_leave(c);
}

void srv_count_payload(uint64_t payload_bytes, uint64_t copied_bytes)
{
    srv_shard *sh = srv_shard_self();
    if (!sh) return;
    ctr_add(&sh->ctr.payload_bytes, payload_bytes);
    ctr_add(&sh->ctr.payload_copied_bytes, copied_bytes);
}

/* An async handler produced output: flush at the next loop iteration (batched). */
static void on_notify(void *user)
{
    srv_conn *c = user;
    if (c->dirty || c->state == SRV_CONN_CLOSED) return;
    c->dirty = true;
    conn_enter(c); /* the dirty list holds the connection */
    c->dirty_next = c->sh->dirty;
    c->sh->dirty = c;
}

void srv_shard_flush_dirty(srv_shard *sh)
{
    while (sh->dirty) {
        srv_conn *c = sh->dirty;
        sh->dirty = c->dirty_next;
        c->dirty = false;
        if (c->state != SRV_CONN_CLOSED) srv_conn_flush(c);
        if (c->state != SRV_CONN_CLOSED) conn_arm_timer(c);
        conn_leave(c);
    }
}

static void conn_to_h2(srv_conn *c)
{
    c->mode = SRV_CONN_H2;
    c->g = pw_grpc_conn_create(c->sh->rt->grpc, ev_loop_now(c->sh->loop));
    if (!c->g) {
        srv_conn_close(c);
        return;
    }
    pw_grpc_conn_set_user(c->g, c);
    pw_grpc_conn_set_notify(c->g, on_notify);
    pw_grpc_conn_set_plain(c->g, srv_http_on_h2_request);
    pw_grpc_conn_set_on_done(c->g, srv_metrics_on_rpc_done);
    if (c->sh->draining) pw_grpc_conn_shutdown(c->g);
}

static void h2_input(srv_conn *c, const uint8_t *p, size_t n)
{
    ssize_t r = pw_grpc_conn_recv(c->g, p, n, ev_loop_now(c->sh->loop));
    if (r < 0) {
        ctr_add(&c->sh->ctr.proto_errors, 1);
        srv_conn_close_after_flush(c);
    }
    if (pw_grpc_conn_in_header_block(c->g)) {
        if (c->hblock_since_ns == 0) c->hblock_since_ns = ev_loop_now(c->sh->loop);
    } else {
        c->hblock_since_ns = 0;
    }
}

/* RFC 9113 §3.4: an invalid connection preface is a connection error (PROTOCOL_ERROR): a
 * GOAWAY (last stream 0), then close. No SETTINGS: no HTTP/2 session was ever set up (h2spec
 * 3.5 expects just the GOAWAY). */
static void h2_bad_preface(srv_conn *c)
{
    static const char why[] = "invalid connection preface";
    ctr_add(&c->sh->ctr.proto_errors, 1);
    buf_consume(&c->in, buf_size(&c->in));
    if (pw_h2_write_goaway(&c->out, 0, PW_H2_PROTOCOL_ERROR, (const uint8_t *)why, sizeof why - 1) <
        0) {
        srv_conn_close(c);
        return;
    }
    srv_conn_close_after_flush(c);
}

/* Decides the protocol from the first bytes. Returns true when decided. */
static bool sniff(srv_conn *c)
{
    size_t n = buf_size(&c->in);
    const uint8_t *p = buf_begin(&c->in);
    size_t cmp = n < H2_PREFACE_LEN ? n : H2_PREFACE_LEN, same = 0;
    while (same < cmp && p[same] == (uint8_t)h2_preface[same]) same++;
    if (same == cmp) {
        if (n < H2_PREFACE_LEN) return false;
        conn_to_h2(c);
        if (c->state == SRV_CONN_CLOSED) return true;
        h2_input(c, p, n);
        buf_consume(&c->in, n);
        buf_shrink(&c->in, 0);
        return true;
    }
    if (same >= H2_PREFACE_LIKE_BYTES) { /* "PRI ...": an HTTP/2 client with a bad preface */
        h2_bad_preface(c);               /* stays SNIFF: no HTTP/2 session is made for it */
        return true;
    }
    if (!c->tls && p[0] == 22) { /* a TLS record on the plaintext port? */
        if (n < 3) return false;
        if (srv_tls_looks_like_hello(p, n)) srv_conn_tls_on_plain_port(c); /* says so */
    }
    /* Anything else is treated as HTTP/1.1; its parser rejects garbage with a 400. */
    c->mode = SRV_CONN_HTTP1;
    return true;
}

void srv_conn_input(srv_conn *c, const uint8_t *p, size_t n)
{
    if (c->mode == SRV_CONN_H2) {
        h2_input(c, p, n);
        return;
    }
    if (buf_append(&c->in, p, n) < 0) {
        srv_conn_close_after_flush(c); /* request head far too large */
    } else if (c->mode == SRV_CONN_SNIFF) {
        sniff(c);
    }
    if (c->mode == SRV_CONN_HTTP1 && c->state != SRV_CONN_CLOSED) srv_http1_on_input(c);
}

/* The multishot recv ended (no EV_F_MORE): re-armed, or, while kTLS takes RX over, the hand-over
 * goes on (it re-arms when done). */
static void on_recv(ev_loop *loop, ev_op *op, int res, unsigned flags);
static void conn_recv_ended(srv_conn *c)
{
    if (c->state == SRV_CONN_CLOSED) return;
    if (c->tls && c->ktls_rx == SRV_KTLS_MOVING) srv_conn_ktls_rx_continue(c);
    else if (srv_conn_recv_arm(c) < 0) srv_conn_close(c);
}

int srv_conn_recv_arm(srv_conn *c)
{
    c->recv_op.cb = on_recv;
    return ev_recv_multishot(c->sh->loop, &c->recv_op, c->fd);
}

static void on_recv(ev_loop *loop, ev_op *op, int res, unsigned flags)
{
    srv_conn *c = op->ud;
    conn_enter(c);
    if (res > 0) {
        const uint8_t *p = ev_op_buffer(loop, op);
        uint16_t bid = op->bid;
        ctr_add(&c->sh->ctr.bytes_in, (uint64_t)res);
        if (c->state == SRV_CONN_OPEN) {
            /* Once RX is on kTLS, the kernel hands us plaintext. */
            if (c->tls && c->ktls_rx != SRV_KTLS_KERNEL) srv_conn_tls_input(c, p, (size_t)res);
            else srv_conn_input(c, p, (size_t)res);
        }
        ev_buffer_release(loop, bid);
        if (!(flags & EV_F_MORE)) conn_recv_ended(c);
        if (c->state != SRV_CONN_CLOSED) srv_conn_flush(c);
        if (c->state != SRV_CONN_CLOSED) conn_arm_timer(c);
    } else if (res == -ENOBUFS && c->state != SRV_CONN_CLOSED) {
        /* The provided-buffer ring ran dry: flow control. Re-arm; buffers come back as other
         * connections finish with theirs in this same iteration. */
        if (!(flags & EV_F_MORE)) conn_recv_ended(c);
    } else if (res == -ECANCELED && c->tls && c->ktls_rx == SRV_KTLS_MOVING &&
               c->state != SRV_CONN_CLOSED) {
        conn_recv_ended(c); /* stopped for the kTLS hand-over */
        if (c->state != SRV_CONN_CLOSED) srv_conn_flush(c);
    } else {
        /* EOF or error: the peer is gone. Over kTLS RX, a record that is not application data
         * (an alert, a KeyUpdate) also ends here: the recv fails with -EIO. */
        if (!(flags & EV_F_MORE)) c->recv_stopped = true;
        srv_conn_close(c);
    }
    conn_leave(c);
}

static void on_timer(ev_loop *loop, ev_timer *t)
{
    srv_conn *c = t->ud;
    if (c->state == SRV_CONN_CLOSED) return;
    conn_enter(c);
    uint64_t now = ev_loop_now(loop);
    uint64_t hs_ns = (uint64_t)c->sh->rt->opt.handshake_ms * RT_NS_PER_MS;
    if (conn_winding_down(c) && now >= c->close_deadline_ns) {
        srv_conn_close(c); /* the peer did not read our last bytes or did not close in time */
    } else if (c->mode != SRV_CONN_H2) {
        if (now >= c->handshake_deadline_ns && c->state == SRV_CONN_OPEN) {
            if (c->tls && srv_tls_conn_state(c->tls) == SRV_TLS_HANDSHAKE) {
                srv_tls_log_limited(SRV_TLS_LOG_TIMEOUT, "TLS handshake timed out", "", c->fd);
                srv_conn_tls_count_failure(c);
            }
            log_debug("handshake timeout", "fd=%d", c->fd);
            srv_conn_close(c);
        }
    } else if (c->state == SRV_CONN_OPEN) {
        pw_grpc_conn_expire(c->g, now);
        if (c->stall_since_ns &&
            now - c->stall_since_ns >= (uint64_t)SRV_WRITE_STALL_MS * RT_NS_PER_MS &&
            pw_grpc_conn_pending_bytes(c->g) > 0) {
            log_debug("write stall timeout", "fd=%d", c->fd);
            srv_conn_close(c);
            conn_leave(c);
            return;
        }
        if (c->hblock_since_ns && now - c->hblock_since_ns >= hs_ns) {
            /* Slow header delivery: a header block must complete within the handshake time. */
            log_debug("header block timeout", "fd=%d", c->fd);
            ctr_add(&c->sh->ctr.proto_errors, 1);
            pw_grpc_conn_shutdown(c->g);
            srv_conn_close_after_flush(c);
        }
        uint32_t idle_ms = c->sh->rt->opt.idle_ms;
        if (c->state == SRV_CONN_OPEN && idle_ms && pw_grpc_conn_idle(c->g)) {
            if (c->idle_since_ns == 0) c->idle_since_ns = now;
            else if (now - c->idle_since_ns >= (uint64_t)idle_ms * RT_NS_PER_MS) {
                log_debug("idle timeout", "fd=%d", c->fd);
                pw_grpc_conn_shutdown(c->g);
                srv_conn_close_after_flush(c);
            }
        } else {
            c->idle_since_ns = 0;
        }
        srv_conn_flush(c);
    }
    if (c->state != SRV_CONN_CLOSED) conn_arm_timer(c);
    conn_leave(c);
}

/* One timer per connection, at the earliest of: the close deadline (closing), the handshake
 * deadline (before HTTP/2 is up), the next call deadline, the header-block deadline, the idle
 * check. */
static void conn_arm_timer(srv_conn *c)
{
    uint64_t now = ev_loop_now(c->sh->loop);
    uint64_t dl = UINT64_MAX;
    if (conn_winding_down(c)) {
        dl = c->close_deadline_ns;
    } else if (c->mode != SRV_CONN_H2) {
        dl = c->handshake_deadline_ns;
    } else {
        dl = pw_grpc_conn_next_deadline(c->g);
        if (pw_grpc_conn_pending_bytes(c->g) > 0) {
            if (c->stall_since_ns == 0) c->stall_since_ns = now;
            uint64_t st = c->stall_since_ns + (uint64_t)SRV_WRITE_STALL_MS * RT_NS_PER_MS;
            if (st < dl) dl = st;
        } else {
            c->stall_since_ns = 0;
        }
        if (c->hblock_since_ns) {
            uint64_t h = c->hblock_since_ns + (uint64_t)c->sh->rt->opt.handshake_ms * RT_NS_PER_MS;
            if (h < dl) dl = h;
        }
        uint32_t idle_ms = c->sh->rt->opt.idle_ms;
        if (idle_ms && pw_grpc_conn_idle(c->g)) {
            if (c->idle_since_ns == 0) c->idle_since_ns = now;
            uint64_t idl = c->idle_since_ns + (uint64_t)idle_ms * RT_NS_PER_MS;
            if (idl < dl) dl = idl;
        }
    }
    if (dl == UINT64_MAX) {
        ev_timer_stop(c->sh->loop, &c->timer);
        return;
    }
    if (ev_timer_armed(&c->timer) && c->timer.deadline_ns == dl) return;
    ev_timer_start(c->sh->loop, &c->timer, dl);
}

void srv_conn_accepted(srv_shard *sh, int fd)
{
    srv_conn *c = rt_calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    rt_socket_tune(fd);
    c->sh = sh;
    c->fd = fd;
    c->mode = SRV_CONN_SNIFF;
    buf_init(&c->in, SRV_CONN_IN_BYTES_MAX);
    /* The send buffer holds at most what the engine had queued, which the engine bounds. */
    buf_init(&c->out, (size_t)1 << 30);
    buf_init(&c->outv.bytes, 0); /* takes the engine's buffer (and cap) at the first flush */
    /* Decrypted input is consumed at once by the engine (or kept up to SRV_CONN_IN_BYTES_MAX by
     * SNIFF/HTTP1); ciphertext out is what the engine queued, sealed (the engine bounds it). */
    buf_init(&c->tls_plain, SRV_TLS_PLAIN_BYTES_MAX);
    buf_init(&c->tls_out, (size_t)1 << 30);
    if (sh->rt->tls && !(c->tls = srv_tls_conn_create(sh->rt->tls, fd))) {
        close(fd);
        rt_free(c);
        return;
    }
    c->recv_op.cb = on_recv;
    c->recv_op.ud = c;
    c->send_op.cb = on_send;
    c->send_op.ud = c;
    ev_timer_init(&c->timer, on_timer, c);
    c->next = sh->conns;
    if (sh->conns) sh->conns->prev = c;
    sh->conns = c;
    sh->nconns++;
    ctr_add(&sh->ctr.conns_accepted, 1);
    ctr_add(&sh->ctr.conns_open, 1);
    c->handshake_deadline_ns = ev_loop_now(sh->loop) +
                               (uint64_t)sh->rt->opt.handshake_ms * RT_NS_PER_MS;
    if (ev_recv_multishot(sh->loop, &c->recv_op, fd) < 0) {
        srv_conn_close(c);
        return;
    }
    conn_arm_timer(c);
}

void srv_conn_begin_drain(srv_conn *c)
{
    if (c->state == SRV_CONN_CLOSED) return;
    if (c->mode == SRV_CONN_H2) {
        pw_grpc_conn_shutdown(c->g);
        srv_conn_flush(c);
    } else {
        srv_conn_close(c);
    }
}
