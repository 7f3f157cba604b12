/* client/rq_tls: libringq's TLS over memory BIOs (see rq_tls.h). */
#include "client/rq_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct rq_tls_ctx {
    SSL_CTX *ctx;
};

struct rq_tls {
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl */
    char err[160];    /* the last record failure */
};

static void err_text(const char *what, char *why, size_t cap)
{
    unsigned long e = ERR_get_error();
    char s[160];
    if (e) ERR_error_string_n(e, s, sizeof s);
    else snprintf(s, sizeof s, "unknown error");
    ERR_clear_error();
    snprintf(why, cap, "%s: %s", what, s);
}

rq_tls_ctx *rq_tls_ctx_create(const rq_tls_cfg *cfg, char *why, size_t cap)
{
    ERR_clear_error();
    rq_tls_ctx *x = calloc(1, sizeof *x);
    if (!x || !(x->ctx = SSL_CTX_new(TLS_client_method()))) {
        snprintf(why, cap, "out of memory for TLS");
        free(x);
        return NULL;
    }
    SSL_CTX *ctx = x->ctx;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    const char *what = NULL;
    if (cfg->ca ? SSL_CTX_load_verify_locations(ctx, cfg->ca, NULL) != 1
                : SSL_CTX_set_default_verify_paths(ctx) != 1)
        what = "cannot load the CA file";
    if (!what && cfg->cert && SSL_CTX_use_certificate_chain_file(ctx, cfg->cert) != 1)
        what = "cannot load the client certificate";
    if (!what && cfg->cert &&
        SSL_CTX_use_PrivateKey_file(ctx, cfg->key ? cfg->key : cfg->cert, SSL_FILETYPE_PEM) != 1)
        what = "cannot load the client key";
    if (!what && cfg->cert && SSL_CTX_check_private_key(ctx) != 1)
        what = "the client key does not match its certificate";
    /* RFC 7301: we speak HTTP/2 only. */
    static const unsigned char alpn[] = "\x02h2";
    if (!what && SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn - 1) != 0) what = "ALPN";
    if (what) {
        err_text(what, why, cap);
        rq_tls_ctx_destroy(x);
        return NULL;
    }
    return x;
}

void rq_tls_ctx_destroy(rq_tls_ctx *x)
{
    if (!x) return;
    SSL_CTX_free(x->ctx);
    free(x);
}

rq_tls *rq_tls_create(rq_tls_ctx *x, const char *server_name)
{
    rq_tls *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->ssl = SSL_new(x->ctx);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->rbio || !t->wbio) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        SSL_free(t->ssl);
        free(t);
        ERR_clear_error();
        return NULL;
    }
    BIO_set_mem_eof_return(t->rbio, -1); /* empty: "retry", not EOF */
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    SSL_set_connect_state(t->ssl);
    unsigned char ip[16];
    bool is_ip = inet_pton(AF_INET, server_name, ip) == 1 ||
                 inet_pton(AF_INET6, server_name, ip) == 1;
    int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), server_name)
                   : SSL_set1_host(t->ssl, server_name) == 1 &&
                         SSL_set_tlsext_host_name(t->ssl, server_name) == 1;
    if (!ok) {
        rq_tls_destroy(t);
        ERR_clear_error();
        return NULL;
    }
    return t;
}

void rq_tls_destroy(rq_tls *t)
{
    if (!t) return;
    SSL_free(t->ssl);
    free(t);
}

int rq_tls_feed(rq_tls *t, const uint8_t *p, size_t n)
{
    size_t w = 0;
    if (n > 0 && (BIO_write_ex(t->rbio, p, n, &w) != 1 || w != n)) return -ENOMEM;
    return 0;
}

int rq_tls_handshake(rq_tls *t, char *why, size_t cap)
{
    ERR_clear_error();
    int r = SSL_do_handshake(t->ssl);
    if (r == 1) return 1;
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
    long vr = SSL_get_verify_result(t->ssl);
    unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (vr != X509_V_OK) {
        snprintf(why, cap, "certificate verify failed: %s", X509_verify_cert_error_string(vr));
    } else {
        const char *reason = code ? ERR_reason_error_string(code) : NULL;
        /* A plaintext server answers the ClientHello with something that is no TLS record. */
        bool plain = code && ERR_GET_REASON(code) == SSL_R_WRONG_VERSION_NUMBER;
        snprintf(why, cap, "%s%s", reason ? reason : "unexpected end of stream",
                 plain ? " (a plaintext port?)" : "");
    }
    return -EPROTO;
}

ssize_t rq_tls_read(rq_tls *t, uint8_t *dst, size_t cap)
{
    size_t got = 0;
    ERR_clear_error();
    if (SSL_read_ex(t->ssl, dst, cap, &got) == 1) return (ssize_t)got;
    int e = SSL_get_error(t->ssl, 0);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
    if (e == SSL_ERROR_ZERO_RETURN) return -EPIPE;
    unsigned long code = ERR_get_error();
    const char *r = code ? ERR_reason_error_string(code) : NULL;
    snprintf(t->err, sizeof t->err, "%s", r ? r : "bad record");
    ERR_clear_error();
    return -EPROTO;
}

void rq_tls_error(const rq_tls *t, char *dst, size_t cap) { snprintf(dst, cap, "%s", t->err); }

ssize_t rq_tls_write(rq_tls *t, const uint8_t *p, size_t n)
{
    size_t done = 0;
    while (done < n) {
        size_t w = 0;
        ERR_clear_error();
        if (SSL_write_ex(t->ssl, p + done, n - done, &w) != 1) {
            ERR_clear_error();
            return -EPROTO;
        }
        done += w;
    }
    return (ssize_t)n;
}

size_t rq_tls_pending(rq_tls *t) { return BIO_ctrl_pending(t->wbio); }

size_t rq_tls_take(rq_tls *t, uint8_t *dst, size_t cap)
{
    size_t got = 0;
    if (cap > 0 && BIO_read_ex(t->wbio, dst, cap, &got) != 1) return 0;
    return got;
}
