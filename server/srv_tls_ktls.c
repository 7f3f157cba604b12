/* server/srv_tls_ktls: handing an established TLS 1.3 connection's record layer to the kernel
 * (kTLS, Documentation/networking/tls.rst), for srv_conn_tls.c (see srv_tls.h, "kTLS").
 *
 * OpenSSL does the handshake over memory BIOs and never sees the socket, so its own kTLS switch
 * (SSL_OP_ENABLE_KTLS, for socket BIOs) cannot apply. Instead:
 *   keys       the keylog callback hands us CLIENT/SERVER_TRAFFIC_SECRET_0; the record key and
 *              IV are HKDF-Expand-Label(secret, "key"/"iv", "", length) with the suite's hash
 *              (RFC 8446 §7.3), computed here with OpenSSL's HKDF in expand-only mode;
 *   sequence   the kernel must start at the record number OpenSSL reached: we count records
 *              ourselves (srv_tls_track) from the Finished on, in both directions: the session
 *              tickets OpenSSL wrote after it, the client's records fed after its Finished;
 *   boundary   the switch is made only where everything received so far is whole records that
 *              OpenSSL has decrypted (srv_tls_conn_ktls_rx_missing: the connection reads the
 *              rest of a record in progress first), and everything OpenSSL wrote is sent.
 * TLS 1.2 stays in user space (its keys would need the key block; TLS 1.3 is what our clients
 * negotiate). */
#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "server/srv_tls_int.h"

/* TLS 1.3 cipher suites (RFC 8446 §B.4) and the kernel's ciphers for them. */
#define SUITE_AES_128_GCM_SHA256 0x1301u
#define SUITE_AES_256_GCM_SHA384 0x1302u
#define SUITE_CHACHA20_POLY1305_SHA256 0x1303u
/* Every TLS 1.3 AEAD takes a 12-byte nonce (RFC 8446 §5.3: iv_length). */
#define SRV_TLS_IV_BYTES 12u
/* HkdfLabel (RFC 8446 §7.1): length (2), label length (1), "tls13 " + label, context (1). */
#define HKDF_LABEL_BYTES_MAX (2u + 1u + 6u + 8u + 1u)

void srv_tls_track(srv_tls_rec_track *r, const uint8_t *p, size_t n)
{
    while (n > 0) {
        if (r->body_left > 0) {
            size_t k = n < r->body_left ? n : r->body_left;
            r->body_left -= k, p += k, n -= k;
            if (r->body_left == 0) r->hdr_have = 0, r->records++;
            continue;
        }
        r->hdr[r->hdr_have++] = *p++, n--;
        if (r->hdr_have == SRV_TLS_RECORD_HEADER_BYTES) {
            r->body_left = (size_t)r->hdr[3] << 8 | r->hdr[4];
            if (r->body_left == 0) r->hdr_have = 0, r->records++; /* OpenSSL refuses these */
        }
    }
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes the hex field `s` (up to a space or the end) into dst; returns bytes or 0. */
static size_t hex_decode(const char *s, uint8_t *dst, size_t cap)
{
    size_t n = 0;
    while (s[0] && s[0] != ' ') {
        int hi = hex_val(s[0]), lo = s[1] ? hex_val(s[1]) : -1;
        if (hi < 0 || lo < 0 || n == cap) return 0;
        dst[n++] = (uint8_t)(hi << 4 | lo);
        s += 2;
    }
    return n;
}

void srv_tls_on_keylog(const SSL *ssl, const char *line)
{
    /* NSS key log format: LABEL CLIENT_RANDOM_HEX SECRET_HEX. */
    static const char ctx_label[] = "CLIENT_TRAFFIC_SECRET_0 ",
                      stx_label[] = "SERVER_TRAFFIC_SECRET_0 ";
    srv_tls_conn *t = SSL_get_app_data(ssl);
    if (!t) return;
    uint8_t *dst;
    size_t *len;
    if (strncmp(line, ctx_label, sizeof ctx_label - 1) == 0)
        dst = t->ktls.secret_rx, len = &t->ktls.secret_rx_len;
    else if (strncmp(line, stx_label, sizeof stx_label - 1) == 0)
        dst = t->ktls.secret_tx, len = &t->ktls.secret_tx_len;
    else return;
    const char *sp = strchr(line + sizeof ctx_label - 1, ' ');
    *len = sp ? hex_decode(sp + 1, dst, SRV_TLS_SECRET_BYTES_MAX) : 0;
}

/* HKDF-Expand-Label(secret, label, "", out_len) (RFC 8446 §7.1). 0 or -EPROTO. */
static int expand_label(const EVP_MD *md, const uint8_t *secret, size_t slen, const char *label,
                        uint8_t *out, size_t out_len)
{
    uint8_t info[HKDF_LABEL_BYTES_MAX];
    size_t ll = strlen(label), il = 0;
    if (ll > 8) return -EPROTO;
    info[il++] = (uint8_t)(out_len >> 8), info[il++] = (uint8_t)out_len;
    info[il++] = (uint8_t)(6 + ll);
    memcpy(info + il, "tls13 ", 6), il += 6;
    memcpy(info + il, label, ll), il += ll;
    info[il++] = 0; /* empty context */
    int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)EVP_MD_get0_name(md), 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, slen),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, il),
        OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
        OSSL_PARAM_construct_end(),
    };
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    int ok = kctx && EVP_KDF_derive(kctx, out, out_len, params) == 1;
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    return ok ? 0 : -EPROTO;
}

static uint16_t suite_of(const srv_tls_conn *t)
{
    const SSL_CIPHER *c = SSL_get_current_cipher(t->ssl);
    return c ? SSL_CIPHER_get_protocol_id(c) : 0;
}

int srv_tls_conn_ktls_begin(srv_tls_conn *t, const char **why)
{
    *why = NULL;
    if (t->state != SRV_TLS_OPEN) *why = "handshake not complete";
    else if (SSL_version(t->ssl) != TLS1_3_VERSION) *why = "TLS 1.2 stays in user space";
    else if (suite_of(t) < SUITE_AES_128_GCM_SHA256 || suite_of(t) > SUITE_CHACHA20_POLY1305_SHA256)
        *why = "cipher suite without a kernel cipher";
    else if (!t->ktls.secret_tx_len || !t->ktls.secret_rx_len) *why = "traffic secrets not seen";
    if (*why) return -EOPNOTSUPP;
    /* What the client sent past its Finished is still in the read BIO (OpenSSL reads a record
     * at a time); what we wrote past ours (session tickets) is in the write BIO. */
    char *p = NULL;
    long n = BIO_get_mem_data(t->rbio, &p);
    t->ktls.rx = (srv_tls_rec_track){0};
    if (n > 0) srv_tls_track(&t->ktls.rx, (const uint8_t *)p, (size_t)n);
    t->ktls.rx_tracking = true;
    srv_tls_rec_track tx = {0};
    n = BIO_get_mem_data(t->wbio, &p);
    if (n > 0) srv_tls_track(&tx, (const uint8_t *)p, (size_t)n);
    if (tx.hdr_have != 0) {
        *why = "a partial record in the write buffer";
        return -EOPNOTSUPP;
    }
    t->ktls.tx_records = tx.records;
    return 0;
}

void srv_tls_conn_ktls_forget(srv_tls_conn *t)
{
    OPENSSL_cleanse(t->ktls.secret_tx, sizeof t->ktls.secret_tx);
    OPENSSL_cleanse(t->ktls.secret_rx, sizeof t->ktls.secret_rx);
    t->ktls.secret_tx_len = t->ktls.secret_rx_len = 0;
}

size_t srv_tls_conn_ktls_rx_missing(const srv_tls_conn *t)
{
    const srv_tls_rec_track *r = &t->ktls.rx;
    if (r->hdr_have == 0) return 0;
    if (r->hdr_have < SRV_TLS_RECORD_HEADER_BYTES) return SRV_TLS_RECORD_HEADER_BYTES - r->hdr_have;
    return r->body_left;
}

bool srv_tls_conn_ktls_rx_ready(const srv_tls_conn *t)
{
    return srv_tls_conn_ktls_rx_missing(t) == 0 && BIO_ctrl_pending(t->rbio) == 0 &&
           !SSL_has_pending(t->ssl);
}

bool srv_tls_conn_ktls_tx_ready(const srv_tls_conn *t) { return BIO_ctrl_pending(t->wbio) == 0; }

static void put_seq(unsigned char dst[8], uint64_t seq)
{
    for (int i = 7; i >= 0; i--, seq >>= 8) dst[i] = (unsigned char)seq;
}

int srv_tls_conn_ktls_info(srv_tls_conn *t, bool tx, srv_tls_ktls_info *info)
{
    const SSL_CIPHER *c = SSL_get_current_cipher(t->ssl);
    const EVP_MD *md = c ? SSL_CIPHER_get_handshake_digest(c) : NULL;
    const uint8_t *secret = tx ? t->ktls.secret_tx : t->ktls.secret_rx;
    size_t slen = tx ? t->ktls.secret_tx_len : t->ktls.secret_rx_len;
    uint64_t seq = tx ? t->ktls.tx_records : t->ktls.rx.records;
    uint16_t suite = suite_of(t);
    size_t klen = suite == SUITE_AES_128_GCM_SHA256 ? 16 : 32;
    uint8_t key[32], iv[SRV_TLS_IV_BYTES];
    memset(info, 0, sizeof *info);
    if (!md || !slen || expand_label(md, secret, slen, "key", key, klen) < 0 ||
        expand_label(md, secret, slen, "iv", iv, sizeof iv) < 0) {
        OPENSSL_cleanse(key, sizeof key);
        return -EPROTO;
    }
    if (suite == SUITE_CHACHA20_POLY1305_SHA256) {
        struct tls12_crypto_info_chacha20_poly1305 *k = &info->u.chacha;
        k->info = (struct tls_crypto_info){TLS_1_3_VERSION, TLS_CIPHER_CHACHA20_POLY1305};
        memcpy(k->key, key, sizeof k->key), memcpy(k->iv, iv, sizeof k->iv);
        put_seq(k->rec_seq, seq);
        info->len = sizeof *k;
    } else if (klen == 16) {
        struct tls12_crypto_info_aes_gcm_128 *k = &info->u.gcm128;
        k->info = (struct tls_crypto_info){TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128};
        memcpy(k->key, key, sizeof k->key), memcpy(k->salt, iv, 4), memcpy(k->iv, iv + 4, 8);
        put_seq(k->rec_seq, seq);
        info->len = sizeof *k;
    } else {
        struct tls12_crypto_info_aes_gcm_256 *k = &info->u.gcm256;
        k->info = (struct tls_crypto_info){TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_256};
        memcpy(k->key, key, sizeof k->key), memcpy(k->salt, iv, 4), memcpy(k->iv, iv + 4, 8);
        put_seq(k->rec_seq, seq);
        info->len = sizeof *k;
    }
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(iv, sizeof iv);
    /* Each secret serves once: wiped after its direction is installed. */
    OPENSSL_cleanse(tx ? t->ktls.secret_tx : t->ktls.secret_rx, SRV_TLS_SECRET_BYTES_MAX);
    return 0;
}
