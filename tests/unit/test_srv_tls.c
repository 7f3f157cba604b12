/* server/srv_tls: the server's TLS over memory BIOs, driven against a real OpenSSL client (also
 * over memory BIOs: bytes are carried between the two by hand, no sockets). Certificates are
 * made by the openssl command in a temporary directory once per run.
 *
 * What is checked: a handshake completes and fills the peer (ALPN, version, and under mTLS the
 * client certificate's subject, CN and `verified` that authorization relies on); a client
 * without a certificate or from another CA is refused under mTLS; TLS 1.1 is refused; records
 * carry data both ways; a reload makes a new context for new connections while a connection
 * made before it keeps working; the first-byte sniffing helpers; the keys and record sequence
 * numbers the kTLS hand-over gives the kernel (checked by opening records with them). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "server/srv_tls.h"
#include "test_env_util.h"

static char dir[TENV_PATH_MAX];
static char path_buf[16][TENV_PATH_MAX + 128];
static int path_n;

static const char *P(const char *name)
{
    char *p = path_buf[path_n++ % 16];
    snprintf(p, TENV_PATH_MAX + 128, "%s/%.64s", dir, name);
    return p;
}

static void sh(const char *fmt, const char *a)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd '%s' && ", dir);
    size_t l = strlen(cmd);
    snprintf(cmd + l, sizeof cmd - l, fmt, a, a, a, a, a, a);
    if (system(cmd) != 0) { /* (also runs before the tests, outside Check's asserts) */
        fprintf(stderr, "test_srv_tls: failed: %s\n", cmd);
        exit(1);
    }
}

/* A CA, then leaf certificates signed by it (EC P-256; quiet). */
static void make_ca(const char *name)
{
    sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout %s.key "
       "-out %s.pem -subj /CN=%s -days 2 -addext basicConstraints=critical,CA:TRUE "
       "2>/dev/null",
       name);
}

static void make_leaf(const char *name, const char *ca, const char *subj)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout %%s.key "
             "-out %%s.csr -subj '%s' 2>/dev/null && openssl x509 -req -in %%s.csr -CA %s.pem "
             "-CAkey %s.key -CAcreateserial -days 2 -out %%s.pem 2>/dev/null",
             subj, ca, ca);
    sh(cmd, name);
}

static void make_certs(void)
{
    if (dir[0]) return;
    snprintf(dir, sizeof dir, "/tmp/test_srv_tls.XXXXXX");
    if (!mkdtemp(dir)) { /* (runs before the tests: no Check asserts) */
        perror("test_srv_tls: mkdtemp");
        exit(1);
    }
    make_ca("ca");
    make_ca("other");
    make_leaf("server", "ca", "/CN=server");
    make_leaf("server2", "ca", "/CN=server2");
    make_leaf("client", "ca", "/CN=worker-1/O=acme");
    make_leaf("stranger", "other", "/CN=stranger");
}

/* ---- a client over memory BIOs ---- */

typedef struct cli {
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *rbio, *wbio;
} cli;

static void cli_init(cli *c, const char *cert, long max_version, const char *alpn, size_t alpnl)
{
    c->ctx = SSL_CTX_new(TLS_client_method());
    ck_assert_ptr_nonnull(c->ctx);
    SSL_CTX_load_verify_locations(c->ctx, P("ca.pem"), NULL);
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    if (max_version) {
        SSL_CTX_set_min_proto_version(c->ctx, max_version);
        SSL_CTX_set_max_proto_version(c->ctx, max_version);
        SSL_CTX_set_security_level(c->ctx, 0); /* let the old version really be offered */
    }
    if (cert) {
        char crt[64], key[64];
        snprintf(crt, sizeof crt, "%s.pem", cert);
        snprintf(key, sizeof key, "%s.key", cert);
        ck_assert_int_eq(SSL_CTX_use_certificate_file(c->ctx, P(crt), SSL_FILETYPE_PEM), 1);
        ck_assert_int_eq(SSL_CTX_use_PrivateKey_file(c->ctx, P(key), SSL_FILETYPE_PEM), 1);
    }
    if (alpn) SSL_CTX_set_alpn_protos(c->ctx, (const unsigned char *)alpn, (unsigned)alpnl);
    c->ssl = SSL_new(c->ctx);
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(c->rbio, -1);
    SSL_set_bio(c->ssl, c->rbio, c->wbio);
    SSL_set_connect_state(c->ssl);
}

static void cli_deinit(cli *c)
{
    SSL_free(c->ssl);
    SSL_CTX_free(c->ctx);
}

/* Client bytes to the server (feed), server bytes to the client. */
static void carry(cli *c, srv_tls_conn *t)
{
    uint8_t b[65536];
    int n;
    while ((n = BIO_read(c->wbio, b, sizeof b)) > 0)
        ck_assert_int_eq(srv_tls_conn_feed(t, b, (size_t)n), 0);
    buf out;
    buf_init(&out, 1 << 20);
    ck_assert_int_ge(srv_tls_conn_take_out(t, &out), 0);
    if (buf_size(&out)) BIO_write(c->rbio, buf_begin(&out), (int)buf_size(&out));
    buf_deinit(&out);
}

/* Runs both handshakes to the end. Returns the server's last srv_tls_conn_handshake result. */
static int handshake(cli *c, srv_tls_conn *t)
{
    int hs = 0;
    for (int i = 0; i < 10; i++) {
        int r = SSL_do_handshake(c->ssl);
        carry(c, t);
        hs = srv_tls_conn_handshake(t);
        carry(c, t);
        if (hs < 0 || (hs == 1 && r == 1)) break;
    }
    /* TLS 1.3: the client finishes first; let it read the server's tickets (or alert). */
    SSL_do_handshake(c->ssl);
    return hs;
}

static srv_tls_server *server(bool mtls)
{
    make_certs();
    srv_tls_files f = {
        .cert = P("server.pem"), .key = P("server.key"), .client_ca = mtls ? P("ca.pem") : NULL};
    srv_tls_server *ts = srv_tls_server_create(&f);
    ck_assert_ptr_nonnull(ts);
    return ts;
}

START_TEST(handshake_alpn_and_data)
{
    srv_tls_server *ts = server(false);
    cli c;
    cli_init(&c, NULL, 0, "\x08http/1.1\x02h2", 12);
    srv_tls_conn *t = srv_tls_conn_create(ts, 3);
    ck_assert_ptr_null(srv_tls_conn_peer(t)); /* nothing before the handshake */
    ck_assert_int_eq(handshake(&c, t), 1);
    ck_assert_int_eq(srv_tls_conn_state(t), SRV_TLS_OPEN);
    const srv_tls_peer *pe = srv_tls_conn_peer(t);
    ck_assert_ptr_nonnull(pe);
    ck_assert_str_eq(pe->alpn, "h2"); /* ours first, whatever the client's order */
    ck_assert_str_eq(pe->version, "TLSv1.3");
    ck_assert(!pe->cert && !pe->verified);
    ck_assert_str_eq(pe->subject, "");
    /* Records both ways. */
    ck_assert_int_eq(SSL_write(c.ssl, "ping", 4), 4);
    carry(&c, t);
    buf in;
    buf_init(&in, 1 << 20);
    ck_assert_int_eq(srv_tls_conn_read(t, &in), 4);
    ck_assert_int_eq(memcmp(buf_begin(&in), "ping", 4), 0);
    struct iovec v[2] = {{.iov_base = "po", .iov_len = 2}, {.iov_base = "ng", .iov_len = 2}};
    ck_assert_int_eq(srv_tls_conn_write(t, v, 2), 4);
    carry(&c, t);
    char got[8] = {0};
    ck_assert_int_eq(SSL_read(c.ssl, got, sizeof got), 4); /* one record for both pieces */
    ck_assert_str_eq(got, "pong");
    /* A piece of a record's size or more goes as is, between the gathered ones. */
    static char big[40000];
    memset(big, 'x', sizeof big);
    struct iovec v3[3] = {{.iov_base = "ab", .iov_len = 2},
                          {.iov_base = big, .iov_len = sizeof big},
                          {.iov_base = "yz", .iov_len = 2}};
    ck_assert_int_eq(srv_tls_conn_write(t, v3, 3), (int)sizeof big + 4);
    carry(&c, t);
    static char back[40004];
    size_t have = 0;
    int r;
    while (have < sizeof back && (r = SSL_read(c.ssl, back + have, (int)(sizeof back - have))) > 0)
        have += (size_t)r;
    ck_assert_uint_eq(have, sizeof back);
    ck_assert(memcmp(back, "ab", 2) == 0 && back[2] == 'x' && back[40001] == 'x');
    ck_assert(memcmp(back + 40002, "yz", 2) == 0);
    /* Our close_notify, once; nothing is written after it. */
    ck_assert_int_eq(srv_tls_conn_close_notify(t), 1);
    ck_assert_int_eq(srv_tls_conn_close_notify(t), 0);
    ck_assert_int_eq(srv_tls_conn_write(t, v, 1), -EPROTO);
    carry(&c, t);
    ck_assert_int_eq(SSL_read(c.ssl, got, sizeof got), 0);
    ck_assert_int_eq(SSL_get_error(c.ssl, 0), SSL_ERROR_ZERO_RETURN);
    /* close_notify from the client. */
    SSL_shutdown(c.ssl);
    carry(&c, t);
    ck_assert_int_eq(srv_tls_conn_read(t, &in), 0);
    ck_assert(srv_tls_conn_peer_closed(t));
    buf_deinit(&in);
    srv_tls_conn_destroy(t);
    cli_deinit(&c);
    srv_tls_server_destroy(ts);
}
END_TEST

START_TEST(tls12_and_no_alpn)
{
    srv_tls_server *ts = server(false);
    cli c;
    cli_init(&c, NULL, TLS1_2_VERSION, NULL, 0);
    srv_tls_conn *t = srv_tls_conn_create(ts, 3);
    ck_assert_int_eq(handshake(&c, t), 1);
    ck_assert_str_eq(srv_tls_conn_peer(t)->version, "TLSv1.2");
    ck_assert_str_eq(srv_tls_conn_peer(t)->alpn, ""); /* sniffed by the glue, as in plaintext */
    srv_tls_conn_destroy(t);
    cli_deinit(&c);
    srv_tls_server_destroy(ts);
}
END_TEST

START_TEST(tls11_is_refused)
{
    srv_tls_server *ts = server(false);
    cli c;
    cli_init(&c, NULL, TLS1_1_VERSION, NULL, 0);
    srv_tls_conn *t = srv_tls_conn_create(ts, 3);
    ck_assert_int_eq(handshake(&c, t), -EPROTO);
    ck_assert_int_eq(srv_tls_conn_state(t), SRV_TLS_FAILED);
    ck_assert_ptr_null(srv_tls_conn_peer(t));
    buf in;
    buf_init(&in, 1024);
    ck_assert_int_eq(srv_tls_conn_read(t, &in), -EPROTO);
    buf_deinit(&in);
    srv_tls_conn_destroy(t);
    cli_deinit(&c);
    srv_tls_server_destroy(ts);
}
END_TEST

START_TEST(mtls_peer_subject)
{
    srv_tls_server *ts = server(true);
    cli c;
    cli_init(&c, "client", 0, "\x02h2", 3);
    srv_tls_conn *t = srv_tls_conn_create(ts, 3);
    ck_assert_int_eq(handshake(&c, t), 1);
    const srv_tls_peer *pe = srv_tls_conn_peer(t);
    ck_assert(pe->cert);
    ck_assert(pe->verified);
    ck_assert_str_eq(pe->cn, "worker-1");
    ck_assert_str_eq(pe->subject, "O=acme,CN=worker-1"); /* RFC 2253: most specific first */
    srv_tls_conn_destroy(t);
    cli_deinit(&c);
    srv_tls_server_destroy(ts);
}
END_TEST

START_TEST(mtls_refuses_missing_and_foreign_certs)
{
    srv_tls_server *ts = server(true);
    const char *certs[] = {NULL, "stranger"};
    for (int i = 0; i < 2; i++) {
        cli c;
        cli_init(&c, certs[i], 0, NULL, 0);
        srv_tls_conn *t = srv_tls_conn_create(ts, 3);
        ck_assert_int_eq(handshake(&c, t), -EPROTO);
        ck_assert_ptr_null(srv_tls_conn_peer(t));
        /* The client hears why (an alert in the write BIO, carried above). */
        char b[8];
        ck_assert_int_le(SSL_read(c.ssl, b, sizeof b), 0);
        srv_tls_conn_destroy(t);
        cli_deinit(&c);
    }
    srv_tls_server_destroy(ts);
}
END_TEST

static void x509_cn(SSL *ssl, char *out, size_t cap)
{
    X509 *x = SSL_get1_peer_certificate(ssl);
    ck_assert_ptr_nonnull(x);
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out, (int)cap);
    X509_free(x);
}

START_TEST(reload_keeps_old_connections)
{
    make_certs();
    /* The live files: server's now, server2's after the reload. */
    sh("cp server.pem live.pem && cp server.key live.key%s", "");
    srv_tls_files f = {.cert = P("live.pem"), .key = P("live.key")};
    srv_tls_server *ts = srv_tls_server_create(&f);
    ck_assert_ptr_nonnull(ts);
    cli old;
    cli_init(&old, NULL, 0, NULL, 0);
    srv_tls_conn *t_old = srv_tls_conn_create(ts, 3);
    ck_assert_int_eq(handshake(&old, t_old), 1);
    sh("cp server2.pem live.pem && cp server2.key live.key%s", "");
    ck_assert_int_eq(srv_tls_server_reload(ts), 0);
    ck_assert_uint_eq(srv_tls_server_generation(ts), 2);
    cli nw;
    cli_init(&nw, NULL, 0, NULL, 0);
    srv_tls_conn *t_new = srv_tls_conn_create(ts, 4);
    ck_assert_int_eq(handshake(&nw, t_new), 1);
    char cn[64];
    x509_cn(nw.ssl, cn, sizeof cn);
    ck_assert_str_eq(cn, "server2");
    x509_cn(old.ssl, cn, sizeof cn);
    ck_assert_str_eq(cn, "server");
    /* A failed reload keeps the context. */
    sh("echo garbage > live.pem%s", "");
    ck_assert_int_eq(srv_tls_server_reload(ts), -EINVAL);
    ck_assert_uint_eq(srv_tls_server_generation(ts), 2);
    /* The old connection, on the context the server no longer holds, still works. */
    ck_assert_int_eq(SSL_write(old.ssl, "still", 5), 5);
    carry(&old, t_old);
    buf in;
    buf_init(&in, 1 << 20);
    ck_assert_int_eq(srv_tls_conn_read(t_old, &in), 5);
    buf_deinit(&in);
    srv_tls_conn_destroy(t_old);
    srv_tls_conn_destroy(t_new);
    cli_deinit(&old);
    cli_deinit(&nw);
    srv_tls_server_destroy(ts);
}
END_TEST

START_TEST(bad_files)
{
    make_certs();
    srv_tls_files f = {.cert = P("server.pem"), .key = P("client.key")}; /* not its key */
    ck_assert_ptr_null(srv_tls_server_create(&f));
    f = (srv_tls_files){.cert = P("missing.pem"), .key = P("server.key")};
    ck_assert_ptr_null(srv_tls_server_create(&f));
}
END_TEST

START_TEST(first_bytes)
{
    ck_assert_int_eq(srv_tls_sniff_first(22), SRV_TLS_SNIFF_TLS);
    ck_assert_int_eq(srv_tls_sniff_first('G'), SRV_TLS_SNIFF_HTTP);
    ck_assert_int_eq(srv_tls_sniff_first('P'), SRV_TLS_SNIFF_HTTP); /* an h2c preface */
    ck_assert_int_eq(srv_tls_sniff_first(0), SRV_TLS_SNIFF_OTHER);
    ck_assert(srv_tls_looks_like_hello((const uint8_t *)"\x16\x03\x01", 3));
    ck_assert(!srv_tls_looks_like_hello((const uint8_t *)"\x16\x03", 2));
    ck_assert(!srv_tls_looks_like_hello((const uint8_t *)"\x16\x02\x01", 3));
    ck_assert(!srv_tls_looks_like_hello((const uint8_t *)"GET", 3));
}
END_TEST

/* ---- kTLS: the keys and sequence numbers handed to the kernel ----
 *
 * No kernel TLS needed: the kernel would seal and open records with exactly the key, IV and
 * sequence number srv_tls_conn_ktls_info gives it, so the test does that itself (EVP AEAD) on
 * records OpenSSL made: the server's next record after the switch point (past the session
 * tickets) must open with the TX info, the client's next record (past those that arrived with
 * its Finished, one of them cut in two) with the RX info. */

static const uint8_t *info_key(const srv_tls_ktls_info *in, size_t *klen, uint8_t iv[12],
                               uint64_t *seq, const EVP_CIPHER **ciph)
{
    const unsigned char *rs;
    if (in->u.gcm128.info.cipher_type == TLS_CIPHER_AES_GCM_128) {
        memcpy(iv, in->u.gcm128.salt, 4), memcpy(iv + 4, in->u.gcm128.iv, 8);
        *klen = 16, *ciph = EVP_aes_128_gcm(), rs = in->u.gcm128.rec_seq;
    } else if (in->u.gcm256.info.cipher_type == TLS_CIPHER_AES_GCM_256) {
        memcpy(iv, in->u.gcm256.salt, 4), memcpy(iv + 4, in->u.gcm256.iv, 8);
        *klen = 32, *ciph = EVP_aes_256_gcm(), rs = in->u.gcm256.rec_seq;
    } else {
        ck_assert_int_eq(in->u.chacha.info.cipher_type, TLS_CIPHER_CHACHA20_POLY1305);
        memcpy(iv, in->u.chacha.iv, 12);
        *klen = 32, *ciph = EVP_chacha20_poly1305(), rs = in->u.chacha.rec_seq;
    }
    *seq = 0;
    for (int i = 0; i < 8; i++) *seq = *seq << 8 | rs[i];
    return in->u.chacha.info.cipher_type == TLS_CIPHER_CHACHA20_POLY1305 ? in->u.chacha.key
           : *klen == 16                                                 ? in->u.gcm128.key
                                                                         : in->u.gcm256.key;
}

/* Opens the TLS 1.3 record at `rec` (header included) as the kernel would with `in`; returns
 * the plaintext's length (content type byte stripped) or -1. */
static int open_record(const srv_tls_ktls_info *in, const uint8_t *rec, uint8_t *out)
{
    size_t klen, len = (size_t)rec[3] << 8 | rec[4];
    uint8_t nonce[12];
    uint64_t seq;
    const EVP_CIPHER *ciph;
    const uint8_t *key = info_key(in, &klen, nonce, &seq, &ciph);
    for (int i = 0; i < 8; i++) nonce[4 + i] ^= (uint8_t)(seq >> (56 - 8 * i));
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int n = 0, f = 0,
        ok = EVP_DecryptInit_ex(x, ciph, NULL, key, nonce) == 1 &&
             EVP_DecryptUpdate(x, NULL, &n, rec, 5) == 1 &&
             EVP_DecryptUpdate(x, out, &n, rec + 5, (int)len - 16) == 1 &&
             EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, 16, (void *)(rec + 5 + len - 16)) == 1 &&
             EVP_DecryptFinal_ex(x, out + n, &f) == 1;
    EVP_CIPHER_CTX_free(x);
    if (!ok) return -1;
    n += f;
    while (n > 0 && out[n - 1] == 0) n--; /* TLSInnerPlaintext padding, then the type */
    ck_assert_int_eq(out[n - 1], 23);     /* application_data */
    return n - 1;
}

/* The bytes of record `k` (0-based) in `p`. */
static const uint8_t *nth_record(const uint8_t *p, size_t n, int k)
{
    size_t off = 0;
    for (int i = 0; i < k; i++) off += 5 + ((size_t)p[off + 3] << 8 | p[off + 4]);
    ck_assert_uint_lt(off + 5, n);
    return p + off;
}

static void ktls_suite(const char *suite)
{
    make_certs();
    srv_tls_files f = {.cert = P("server.pem"), .key = P("server.key"), .ktls = true};
    srv_tls_server *ts = srv_tls_server_create(&f);
    ck_assert_ptr_nonnull(ts);
    cli c;
    cli_init(&c, NULL, 0, "\x02h2", 3);
    ck_assert_int_eq(SSL_set_ciphersuites(c.ssl, suite), 1);
    srv_tls_conn *t = srv_tls_conn_create(ts, 3);
    uint8_t b[65536];
    int n = 0, hs = 0;
    /* Up to the client's Finished, which goes with two records of data: the second cut. */
    for (int i = 0; i < 10 && SSL_do_handshake(c.ssl) != 1; i++) {
        carry(&c, t);
        ck_assert_int_eq(srv_tls_conn_handshake(t), 0); /* done only with the Finished */
        carry(&c, t);
    }
    ck_assert_int_eq(SSL_write(c.ssl, "hello", 5), 5);
    ck_assert_int_eq(SSL_write(c.ssl, "world!", 6), 6);
    n = BIO_read(c.wbio, b, sizeof b);
    ck_assert_int_gt(n, 20);
    ck_assert_int_eq(srv_tls_conn_feed(t, b, (size_t)n - 10), 0);
    hs = srv_tls_conn_handshake(t);
    ck_assert_int_eq(hs, 1);
    const char *why = "unset";
    ck_assert_int_eq(srv_tls_conn_ktls_begin(t, &why), 0);
    ck_assert_ptr_null(why);
    buf in;
    buf_init(&in, 1 << 20);
    ck_assert_int_eq(srv_tls_conn_read(t, &in), 5); /* "hello"; "world!" is cut */
    ck_assert_uint_eq(srv_tls_conn_ktls_rx_missing(t), 10);
    ck_assert(!srv_tls_conn_ktls_rx_ready(t));
    ck_assert_int_eq(srv_tls_conn_feed(t, b + n - 10, 10), 0);
    ck_assert_int_eq(srv_tls_conn_read(t, &in), 6);
    ck_assert(srv_tls_conn_ktls_rx_ready(t));
    srv_tls_ktls_info rx, tx;
    ck_assert_int_eq(srv_tls_conn_ktls_info(t, false, &rx), 0);
    ck_assert_int_eq(srv_tls_conn_ktls_info(t, true, &tx), 0);
    /* RX: the client's next record opens with the kernel's RX state (sequence 2). */
    ck_assert_int_eq(SSL_write(c.ssl, "third", 5), 5);
    n = BIO_read(c.wbio, b, sizeof b);
    uint8_t plain[256];
    ck_assert_int_eq(open_record(&rx, b, plain), 5);
    ck_assert_int_eq(memcmp(plain, "third", 5), 0);
    /* TX: past the tickets OpenSSL wrote at the handshake, its next record is what the
     * kernel's TX state would have made. */
    ck_assert(!srv_tls_conn_ktls_tx_ready(t)); /* the tickets wait in the write BIO */
    struct iovec v = {.iov_base = "pong", .iov_len = 4};
    ck_assert_int_eq(srv_tls_conn_write(t, &v, 1), 4);
    buf out;
    buf_init(&out, 1 << 20);
    ck_assert_int_gt(srv_tls_conn_take_out(t, &out), 0);
    uint64_t seq = 0;
    size_t kl;
    uint8_t iv[12];
    const EVP_CIPHER *ci;
    (void)info_key(&tx, &kl, iv, &seq, &ci);
    ck_assert_uint_ge(seq, 1); /* OpenSSL sends session tickets by default */
    const uint8_t *rec = nth_record(buf_begin(&out), buf_size(&out), (int)seq);
    ck_assert_int_eq(open_record(&tx, rec, plain), 4);
    ck_assert_int_eq(memcmp(plain, "pong", 4), 0);
    buf_deinit(&out);
    buf_deinit(&in);
    srv_tls_conn_destroy(t);
    cli_deinit(&c);
    srv_tls_server_destroy(ts);
}

START_TEST(ktls_keys_and_sequence_numbers)
{
    ktls_suite("TLS_AES_128_GCM_SHA256");
    ktls_suite("TLS_AES_256_GCM_SHA384");
    ktls_suite("TLS_CHACHA20_POLY1305_SHA256");
}
END_TEST

START_TEST(ktls_not_for_tls12_or_without_the_flag)
{
    const char *why = NULL;
    srv_tls_server *ts = server(false); /* .ktls false: no keylog, no secrets */
    cli c;
    cli_init(&c, NULL, 0, NULL, 0);
    srv_tls_conn *t = srv_tls_conn_create(ts, 3);
    ck_assert_int_eq(handshake(&c, t), 1);
    ck_assert_int_eq(srv_tls_conn_ktls_begin(t, &why), -EOPNOTSUPP);
    ck_assert_str_eq(why, "traffic secrets not seen");
    srv_tls_conn_destroy(t);
    cli_deinit(&c);
    srv_tls_server_destroy(ts);
    srv_tls_files f = {.cert = P("server.pem"), .key = P("server.key"), .ktls = true};
    ts = srv_tls_server_create(&f);
    cli_init(&c, NULL, TLS1_2_VERSION, NULL, 0);
    t = srv_tls_conn_create(ts, 3);
    ck_assert_int_eq(handshake(&c, t), 1);
    ck_assert_int_eq(srv_tls_conn_ktls_begin(t, &why), -EOPNOTSUPP);
    ck_assert_str_eq(why, "TLS 1.2 stays in user space");
    srv_tls_conn_destroy(t);
    cli_deinit(&c);
    srv_tls_server_destroy(ts);
}
END_TEST

static void cleanup(void)
{
    if (dir[0]) tenv_rm(dir);
}

int main(void)
{
    Suite *s = suite_create("srv_tls");
    TCase *tc = tcase_create("tls");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, handshake_alpn_and_data);
    tcase_add_test(tc, tls12_and_no_alpn);
    tcase_add_test(tc, tls11_is_refused);
    tcase_add_test(tc, mtls_peer_subject);
    tcase_add_test(tc, mtls_refuses_missing_and_foreign_certs);
    tcase_add_test(tc, reload_keeps_old_connections);
    tcase_add_test(tc, bad_files);
    tcase_add_test(tc, first_bytes);
    tcase_add_test(tc, ktls_keys_and_sequence_numbers);
    tcase_add_test(tc, ktls_not_for_tls12_or_without_the_flag);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    /* The certificates are made once, before forking the tests. */
    make_certs();
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    cleanup();
    return failed ? 1 : 0;
}
