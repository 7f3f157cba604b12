/* server/srv_tls: TLS with OpenSSL over memory BIOs (see srv_tls.h). */
#include "server/srv_tls.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "core/rt_alloc.h"
#include "core/rt_clock.h"
#include "core/rt_log.h"
#include "server/srv_tls_int.h"

/* A TLS record's plaintext at most (RFC 8446 §5.1: 2^14 bytes). */
#define SRV_TLS_RECORD_BYTES 16384u
/* Plaintext decrypted per SSL_read: one record. */
#define SRV_TLS_READ_CHUNK_BYTES SRV_TLS_RECORD_BYTES
/* Ciphertext moved out of the write BIO per step (records of at most 16 KiB + overhead). */
#define SRV_TLS_OUT_CHUNK_BYTES 16640u
/* Causes with their own log budget (srv_tls_log_limited); a cause key is folded into this many
 * slots, so unrelated causes rarely share one. */
#define SRV_TLS_LOG_SLOTS 32u

struct srv_tls_server {
    srv_tls_files files;
    pthread_mutex_t mu; /* guards cur */
    SSL_CTX *cur;       /* one reference held here; each SSL holds its own */
    _Atomic uint64_t generation;
};

/* ---- rate-limited logging ---- */

static struct {
    _Atomic uint64_t last_ns;
    _Atomic uint64_t suppressed;
} log_slots[SRV_TLS_LOG_SLOTS];

void srv_tls_log_limited(unsigned cause, const char *msg, const char *detail, int fd)
{
    unsigned i = cause % SRV_TLS_LOG_SLOTS;
    uint64_t now = rt_now_ns();
    uint64_t last = atomic_load_explicit(&log_slots[i].last_ns, memory_order_relaxed);
    if (last && now - last < (uint64_t)SRV_TLS_LOG_EVERY_MS * RT_NS_PER_MS) {
        atomic_fetch_add_explicit(&log_slots[i].suppressed, 1, memory_order_relaxed);
        return;
    }
    /* One thread wins the slot for this interval; the others count as suppressed. */
    if (!atomic_compare_exchange_strong(&log_slots[i].last_ns, &last, now)) {
        atomic_fetch_add_explicit(&log_slots[i].suppressed, 1, memory_order_relaxed);
        return;
    }
    uint64_t sup = atomic_exchange_explicit(&log_slots[i].suppressed, 0, memory_order_relaxed);
    log_warn(msg, "fd=%d reason=\"%s\" suppressed=%llu", fd, detail ? detail : "",
             (unsigned long long)sup);
}

/* ---- context ---- */

/* RFC 7301 §3.2: the server picks from the client's list; we prefer h2. A client without ALPN
 * (or with neither protocol) proceeds without one and is sniffed as before. */
static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned inlen, void *arg)
{
    static const unsigned char ours[] = "\x02h2\x08http/1.1";
    unsigned char *sel = NULL;
    if (SSL_select_next_proto(&sel, outlen, ours, sizeof ours - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* The first queued OpenSSL error as text (drains the queue). */
static void ssl_err_text(char *dst, size_t cap)
{
    unsigned long e = ERR_get_error();
    if (e) ERR_error_string_n(e, dst, cap);
    else snprintf(dst, cap, "unknown");
    ERR_clear_error();
}

static SSL_CTX *ctx_load(const srv_tls_files *f, char *why, size_t cap)
{
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        ssl_err_text(why, cap);
        return NULL;
    }
    const char *step = "certificate";
    /* TLS 1.2 and 1.3 only; cipher suites and groups are the library's defaults. Renegotiation
     * is refused: a peer could make us do handshakes at will. */
    bool ok = SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1;
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    ok = ok && SSL_CTX_use_certificate_chain_file(ctx, f->cert) == 1;
    if (ok) step = "key";
    ok = ok && SSL_CTX_use_PrivateKey_file(ctx, f->key, SSL_FILETYPE_PEM) == 1;
    ok = ok && SSL_CTX_check_private_key(ctx) == 1;
    if (ok && f->client_ca) {
        step = "client CA";
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(f->client_ca);
        ok = names && SSL_CTX_load_verify_locations(ctx, f->client_ca, NULL) == 1;
        if (names) SSL_CTX_set_client_CA_list(ctx, names); /* takes ownership */
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    if (!ok) {
        char e[160];
        ssl_err_text(e, sizeof e);
        snprintf(why, cap, "%s: %s", step, e);
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn, NULL);
    if (f->ktls) SSL_CTX_set_keylog_callback(ctx, srv_tls_on_keylog); /* kTLS: the secrets */
    return ctx;
}

srv_tls_server *srv_tls_server_create(const srv_tls_files *files)
{
    char why[256];
    SSL_CTX *ctx = ctx_load(files, why, sizeof why);
    if (!ctx) {
        fprintf(stderr, "ringqd: cannot load TLS files (--tls-cert %s, --tls-key %s%s%s): %s\n",
                files->cert, files->key, files->client_ca ? ", --tls-client-ca " : "",
                files->client_ca ? files->client_ca : "", why);
        return NULL;
    }
    srv_tls_server *ts = rt_calloc(1, sizeof *ts);
    if (!ts || pthread_mutex_init(&ts->mu, NULL) != 0) {
        fprintf(stderr, "ringqd: out of memory for TLS\n");
        rt_free(ts);
        SSL_CTX_free(ctx);
        return NULL;
    }
    ts->files = *files;
    ts->cur = ctx;
    atomic_store(&ts->generation, 1);
    return ts;
}

void srv_tls_server_destroy(srv_tls_server *ts)
{
    if (!ts) return;
    SSL_CTX_free(ts->cur);
    pthread_mutex_destroy(&ts->mu);
    rt_free(ts);
}

int srv_tls_server_reload(srv_tls_server *ts)
{
    char why[256];
    SSL_CTX *ctx = ctx_load(&ts->files, why, sizeof why);
    if (!ctx) {
        log_error("TLS reload failed; keeping the previous certificate", "reason=\"%s\"", why);
        return -EINVAL;
    }
    pthread_mutex_lock(&ts->mu);
    SSL_CTX *old = ts->cur;
    ts->cur = ctx;
    pthread_mutex_unlock(&ts->mu);
    SSL_CTX_free(old); /* freed for real once the last connection on it ends */
    uint64_t g = atomic_fetch_add(&ts->generation, 1) + 1;
    log_info("TLS certificates reloaded", "generation=%llu", (unsigned long long)g);
    return 0;
}

uint64_t srv_tls_server_generation(srv_tls_server *ts) { return atomic_load(&ts->generation); }

/* ---- connection ---- */

srv_tls_conn *srv_tls_conn_create(srv_tls_server *ts, int log_fd)
{
    srv_tls_conn *t = rt_calloc(1, sizeof *t);
    if (!t) return NULL;
    pthread_mutex_lock(&ts->mu);
    t->ssl = SSL_new(ts->cur); /* takes its own reference on the context */
    pthread_mutex_unlock(&ts->mu);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->rbio || !t->wbio) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        SSL_free(t->ssl);
        rt_free(t);
        ERR_clear_error();
        return NULL;
    }
    /* An empty read BIO says "retry later", not EOF. */
    BIO_set_mem_eof_return(t->rbio, -1);
    SSL_set_bio(t->ssl, t->rbio, t->wbio); /* the SSL owns both from here */
    SSL_set_app_data(t->ssl, t);           /* for srv_tls_on_keylog */
    SSL_set_accept_state(t->ssl);
    t->fd = log_fd;
    t->state = SRV_TLS_HANDSHAKE;
    return t;
}

void srv_tls_conn_destroy(srv_tls_conn *t)
{
    if (!t) return;
    OPENSSL_cleanse(&t->ktls, sizeof t->ktls);
    SSL_free(t->ssl);
    rt_free(t);
}

srv_tls_state srv_tls_conn_state(const srv_tls_conn *t) { return t->state; }
const srv_tls_peer *srv_tls_conn_peer(const srv_tls_conn *t)
{
    return t && t->state == SRV_TLS_OPEN ? &t->peer : NULL;
}
bool srv_tls_conn_peer_closed(const srv_tls_conn *t) { return t->peer_closed; }

int srv_tls_conn_feed(srv_tls_conn *t, const uint8_t *p, size_t n)
{
    while (n > 0) {
        size_t chunk = n > INT32_MAX ? INT32_MAX : n;
        int w = BIO_write(t->rbio, p, (int)chunk);
        if (w <= 0) return -ENOMEM;
        if (t->ktls.rx_tracking) srv_tls_track(&t->ktls.rx, p, (size_t)w);
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Fills t->peer from the finished handshake. Returns 0, or -EPROTO for a subject too long to
 * keep whole. */
static int peer_fill(srv_tls_conn *t)
{
    srv_tls_peer *pe = &t->peer;
    const unsigned char *a = NULL;
    unsigned alen = 0;
    SSL_get0_alpn_selected(t->ssl, &a, &alen);
    if (a && alen < sizeof pe->alpn) memcpy(pe->alpn, a, alen), pe->alpn[alen] = 0;
    snprintf(pe->version, sizeof pe->version, "%s", SSL_get_version(t->ssl));
    X509 *cert = SSL_get1_peer_certificate(t->ssl);
    if (!cert) return 0;
    pe->cert = true;
    pe->verified = SSL_get_verify_result(t->ssl) == X509_V_OK &&
                   (SSL_get_verify_mode(t->ssl) & SSL_VERIFY_PEER);
    X509_NAME *name = X509_get_subject_name(cert);
    int rc = 0;
    BIO *m = BIO_new(BIO_s_mem());
    if (!m || X509_NAME_print_ex(m, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
        rc = -EPROTO;
    } else {
        int n = BIO_read(m, pe->subject, (int)sizeof pe->subject);
        if (n < 0) n = 0;
        if ((size_t)n >= sizeof pe->subject) rc = -EPROTO; /* too long: refuse, never cut */
        else pe->subject[n] = 0;
    }
    BIO_free(m);
    int cnl = X509_NAME_get_text_by_NID(name, NID_commonName, pe->cn, (int)sizeof pe->cn);
    if (cnl < 0) pe->cn[0] = 0;
    X509_free(cert);
    if (rc < 0) pe->verified = false;
    return rc;
}

/* A TLS failure: remember it, log it once per cause. */
static int conn_fail(srv_tls_conn *t, const char *what)
{
    unsigned long e = ERR_peek_error();
    char detail[200];
    long vr = SSL_get_verify_result(t->ssl);
    if (e) ERR_error_string_n(e, detail, sizeof detail);
    else snprintf(detail, sizeof detail, "unexpected end of stream");
    if (vr != X509_V_OK) {
        size_t l = strlen(detail);
        snprintf(detail + l, sizeof detail - l, " (certificate: %s)",
                 X509_verify_cert_error_string(vr));
    }
    ERR_clear_error();
    t->state = SRV_TLS_FAILED;
    srv_tls_log_limited(16u + (unsigned)ERR_GET_REASON(e) + (vr != X509_V_OK ? 7u : 0u), what,
                        detail, t->fd);
    return -EPROTO;
}

int srv_tls_conn_handshake(srv_tls_conn *t)
{
    if (t->state == SRV_TLS_OPEN) return 1;
    if (t->state == SRV_TLS_FAILED) return -EPROTO;
    ERR_clear_error();
    int r = SSL_do_handshake(t->ssl);
    if (r == 1) {
        if (peer_fill(t) < 0) {
            srv_tls_log_limited(SRV_TLS_LOG_SUBJECT, "TLS client certificate subject too long", "",
                                t->fd);
            t->state = SRV_TLS_FAILED;
            return -EPROTO;
        }
        t->state = SRV_TLS_OPEN;
        return 1;
    }
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
    return conn_fail(t, "TLS handshake failed");
}

ssize_t srv_tls_conn_read(srv_tls_conn *t, buf *out)
{
    if (t->state != SRV_TLS_OPEN) return t->state == SRV_TLS_FAILED ? -EPROTO : 0;
    ssize_t total = 0;
    for (;;) {
        uint8_t *dst;
        if (buf_reserve(out, SRV_TLS_READ_CHUNK_BYTES, &dst) < 0) return -ENOBUFS;
        ERR_clear_error();
        int r = SSL_read(t->ssl, dst, (int)SRV_TLS_READ_CHUNK_BYTES);
        if (r > 0) {
            buf_commit(out, (size_t)r);
            total += r;
            continue;
        }
        int e = SSL_get_error(t->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return total;
        if (e == SSL_ERROR_ZERO_RETURN) {
            t->peer_closed = true;
            return total;
        }
        return conn_fail(t, "TLS record failed");
    }
}

/* Seals `n` bytes as records (a memory BIO grows as needed: a write takes all or fails). */
static int seal(srv_tls_conn *t, const uint8_t *p, size_t n)
{
    size_t w = 0;
    ERR_clear_error();
    if (n > 0 && (SSL_write_ex(t->ssl, p, n, &w) != 1 || w != n))
        return conn_fail(t, "TLS write failed");
    return 0;
}

ssize_t srv_tls_conn_write(srv_tls_conn *t, const struct iovec *iov, int iovcnt)
{
    /* An HTTP/2 chain alternates 9-byte frame headers with payloads: sealed one iovec at a
     * time, each header would be a record of its own (22 bytes of overhead and a cipher call
     * for 9). Small pieces are gathered into full records first; a piece of a record's size
     * or more is sealed where it lies. (Per thread: a shard seals one connection at a time.) */
    static _Thread_local uint8_t stage[SRV_TLS_RECORD_BYTES];
    if (t->state != SRV_TLS_OPEN || t->notify_sent) return -EPROTO;
    size_t staged = 0;
    ssize_t total = 0;
    for (int i = 0; i < iovcnt; i++) {
        const uint8_t *p = iov[i].iov_base;
        size_t n = iov[i].iov_len;
        total += (ssize_t)n;
        if (n >= SRV_TLS_RECORD_BYTES) {
            if (seal(t, stage, staged) < 0 || seal(t, p, n) < 0) return -EPROTO;
            staged = 0;
            continue;
        }
        while (n > 0) {
            size_t k = SRV_TLS_RECORD_BYTES - staged < n ? SRV_TLS_RECORD_BYTES - staged : n;
            memcpy(stage + staged, p, k);
            staged += k, p += k, n -= k;
            if (staged == SRV_TLS_RECORD_BYTES) {
                if (seal(t, stage, staged) < 0) return -EPROTO;
                staged = 0;
            }
        }
    }
    if (seal(t, stage, staged) < 0) return -EPROTO;
    return total;
}

int srv_tls_conn_close_notify(srv_tls_conn *t)
{
    if (t->state != SRV_TLS_OPEN || t->notify_sent) return 0;
    t->notify_sent = true;
    ERR_clear_error();
    /* With memory BIOs this only writes the alert (0: ours sent, the peer's not yet seen). */
    int r = SSL_shutdown(t->ssl);
    ERR_clear_error();
    return r >= 0 ? 1 : 0;
}

ssize_t srv_tls_conn_take_out(srv_tls_conn *t, buf *out)
{
    ssize_t total = 0;
    size_t pend;
    while ((pend = BIO_ctrl_pending(t->wbio)) > 0) {
        size_t chunk = pend < SRV_TLS_OUT_CHUNK_BYTES ? pend : SRV_TLS_OUT_CHUNK_BYTES;
        uint8_t *dst;
        if (buf_reserve(out, chunk, &dst) < 0) return -ENOBUFS;
        int r = BIO_read(t->wbio, dst, (int)chunk);
        if (r <= 0) break;
        buf_commit(out, (size_t)r);
        total += r;
    }
    return total;
}

/* ---- first bytes ---- */

srv_tls_sniff srv_tls_sniff_first(uint8_t first)
{
    if (first == 22) return SRV_TLS_SNIFF_TLS;
    if (first >= 'A' && first <= 'Z') return SRV_TLS_SNIFF_HTTP; /* GET, POST, PRI, ... */
    return SRV_TLS_SNIFF_OTHER;
}

bool srv_tls_looks_like_hello(const uint8_t *p, size_t n)
{
    /* RFC 8446 §5.1 TLSPlaintext: type 22 (handshake), legacy_record_version 0x03 0x0x. */
    return n >= 3 && p[0] == 22 && p[1] == 3 && p[2] <= 4;
}
