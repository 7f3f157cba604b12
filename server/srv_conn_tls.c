/* server/srv_conn_tls: the TLS side of a connection (srv_conn.c stays the plaintext glue).
 *
 * In:  the recv's ciphertext -> srv_tls_conn_feed -> handshake -> srv_tls_conn_read into
 *      c->tls_plain -> srv_conn_input (SNIFF, then H2 or HTTP1 as on a plaintext port: a client
 *      that negotiated no ALPN is sniffed the same way).
 * Out: the engine's chain (or `out`) -> srv_tls_conn_write -> c->tls_out -> one io_uring send.
 *      The seal is the one copy the plaintext path does not make (docs/security.md, "Cost").
 *
 * The first byte decides before anything is fed: plaintext on a TLS port gets an HTTP/1.1 400
 * naming the problem when it looks like HTTP, else a close; either way it is logged (rate-
 * limited) and the server carries on. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/rt_log.h"
#include "server/srv_internal.h"

const srv_tls_peer *srv_conn_tls_peer(const srv_conn *c)
{
    return c && c->tls ? srv_tls_conn_peer(c->tls) : NULL;
}

/* Single writer (the owning shard): a relaxed load and store. */
static void ctr_inc(_Atomic uint64_t *k)
{
    atomic_store_explicit(k, atomic_load_explicit(k, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

void srv_conn_tls_count_failure(srv_conn *c) { ctr_inc(&c->sh->ctr.tls_handshake_failures); }

/* Plaintext on the TLS port. The answer goes out as is (no TLS was ever set up). */
static void plaintext_on_tls_port(srv_conn *c, uint8_t first)
{
    srv_conn_tls_count_failure(c);
    static const char body[] = "this port speaks TLS: use https:// (or grpcs, --tls)\n";
    srv_tls_log_limited(SRV_TLS_LOG_PLAINTEXT, "plaintext on the TLS port", "", c->fd);
    if (srv_tls_sniff_first(first) == SRV_TLS_SNIFF_HTTP) {
        char head[160];
        int hl = snprintf(head, sizeof head,
                          "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                          "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                          sizeof body - 1);
        if (buf_append(&c->tls_out, head, (size_t)hl) == 0)
            (void)buf_append(&c->tls_out, body, sizeof body - 1);
        srv_conn_close_after_flush(c);
        return;
    }
    srv_conn_close(c);
}

/* Hands what TLS decrypted to the connection's mode. */
static void deliver_plain(srv_conn *c)
{
    ssize_t r = srv_tls_conn_read(c->tls, &c->tls_plain);
    size_t n = buf_size(&c->tls_plain);
    if (n > 0 && c->state == SRV_CONN_OPEN) srv_conn_input(c, buf_begin(&c->tls_plain), n);
    buf_consume(&c->tls_plain, n);
    buf_shrink(&c->tls_plain, 0);
    if (r < 0 && c->state == SRV_CONN_OPEN) srv_conn_close_after_flush(c); /* an alert may go */
    else if (srv_tls_conn_peer_closed(c->tls) && c->state == SRV_CONN_OPEN)
        srv_conn_close_after_flush(c);
}

void srv_conn_tls_input(srv_conn *c, const uint8_t *p, size_t n)
{
    if (!c->tls_fed) {
        c->tls_fed = true;
        if (srv_tls_sniff_first(p[0]) != SRV_TLS_SNIFF_TLS) {
            plaintext_on_tls_port(c, p[0]);
            return;
        }
    }
    if (srv_tls_conn_feed(c->tls, p, n) < 0) {
        srv_conn_close(c);
        return;
    }
    if (srv_tls_conn_state(c->tls) == SRV_TLS_HANDSHAKE) {
        int h = srv_tls_conn_handshake(c->tls);
        if (h < 0) {
            srv_conn_tls_count_failure(c);
            srv_conn_close_after_flush(c); /* the alert in the write BIO goes out first */
            return;
        }
        if (h == 0) return; /* the flush after this recv sends the handshake's next flight */
        ctr_inc(&c->sh->ctr.tls_handshakes);
        srv_conn_ktls_start(c); /* before the first read: what follows Finished is counted */
    }
    deliver_plain(c);
}

ssize_t srv_conn_tls_seal(srv_conn *c)
{
    /* Like the plaintext path, which takes a new chain only once the last one is sent: new
     * output is sealed only once the ciphertext before it is out. So the engine keeps what the
     * peer does not read (its bound, PW_H2_OUT_CAP_BYTES, and the write-stall timeout apply)
     * and tls_out never holds more than one chain's worth. */
    /* While TX moves to kTLS nothing more is sealed: the kernel's first record must be the one
     * OpenSSL would have made next. */
    if (srv_tls_conn_state(c->tls) == SRV_TLS_OPEN && buf_size(&c->tls_out) == 0 &&
        c->ktls_tx == SRV_KTLS_USER) {
        ssize_t w = 0;
        if (c->g) {
            if (pw_h2_outv_size(&c->outv) == 0) pw_grpc_conn_output_take(c->g, &c->outv);
            /* The whole chain, a batch of iovecs at a time: each is copied by the seal. */
            while (w >= 0 && pw_h2_outv_size(&c->outv) > 0) {
                int k = pw_h2_outv_iov(&c->outv, c->iov, SRV_SEND_IOV_MAX);
                w = srv_tls_conn_write(c->tls, c->iov, k);
                if (w > 0) pw_h2_outv_consume(&c->outv, (size_t)w);
            }
        } else if (buf_size(&c->out) > 0) {
            struct iovec v = {.iov_base = (void *)buf_begin(&c->out), .iov_len = buf_size(&c->out)};
            w = srv_tls_conn_write(c->tls, &v, 1);
            if (w > 0) buf_consume(&c->out, (size_t)w);
        }
        if (w < 0) return w;
    }
    ssize_t t = srv_tls_conn_take_out(c->tls, &c->tls_out);
    if (t < 0) return t;
    return (ssize_t)buf_size(&c->tls_out);
}

void srv_conn_tls_on_plain_port(srv_conn *c)
{
    srv_tls_log_limited(SRV_TLS_LOG_HELLO, "TLS ClientHello on a plaintext port",
                        "start ringqd with --tls-cert/--tls-key, or connect without TLS", c->fd);
}
