/* client/rq_tls: libringq's TLS (OpenSSL over memory BIOs), internal to the client.
 *
 * Like the server's (server/srv_tls.h), no socket calls: rq_conn.c feeds the ciphertext its
 * io_uring read got, advances the handshake, reads the plaintext out for pw_grpc_client, seals
 * the engine's output and sends the ciphertext with its io_uring send.
 *
 * Verification is always on: the server's chain must lead to the CA file (or, without one, the
 * system's store) and name the server: its DNS name, or its IP address when the address is one.
 * Errors: NULL / negative errno with a one-line reason in `why`. */
#ifndef RQ_TLS_H
#define RQ_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct rq_tls_ctx rq_tls_ctx;
typedef struct rq_tls rq_tls;

typedef struct rq_tls_cfg {
    const char *ca;   /* PEM CA bundle; NULL: the system's default store */
    const char *cert; /* client certificate chain (mTLS), or NULL */
    const char *key;  /* its private key (with cert) */
} rq_tls_cfg;

/* Loads the files (borrowed only during the call). NULL with `why` filled on failure. */
rq_tls_ctx *rq_tls_ctx_create(const rq_tls_cfg *cfg, char *why, size_t cap);
void rq_tls_ctx_destroy(rq_tls_ctx *x);

/* A connection's TLS, verifying `server_name` (a DNS name, sent as SNI, or an IP address).
 * NULL on -ENOMEM or a name OpenSSL refuses. */
rq_tls *rq_tls_create(rq_tls_ctx *x, const char *server_name);
void rq_tls_destroy(rq_tls *t);
/* Copies received ciphertext in. 0 or -ENOMEM. */
int rq_tls_feed(rq_tls *t, const uint8_t *p, size_t n);
/* 1 established, 0 needs more input (its output waits: rq_tls_take), -EPROTO failed with the
 * reason in `why` ("certificate verify failed: certificate has expired", ...). */
int rq_tls_handshake(rq_tls *t, char *why, size_t cap);
/* Decrypts into dst. Bytes (0: nothing whole yet), -EPIPE after the server's close_notify,
 * -EPROTO on a bad record. */
ssize_t rq_tls_read(rq_tls *t, uint8_t *dst, size_t cap);
/* The reason of the last -EPROTO from rq_tls_read ("tlsv13 alert certificate required"). */
void rq_tls_error(const rq_tls *t, char *dst, size_t cap);
/* Seals n bytes of plaintext (copied). n, or -EPROTO. */
ssize_t rq_tls_write(rq_tls *t, const uint8_t *p, size_t n);
/* Ciphertext waiting to be sent. */
size_t rq_tls_pending(rq_tls *t);
/* Moves up to cap bytes of it to dst. Bytes moved. */
size_t rq_tls_take(rq_tls *t, uint8_t *dst, size_t cap);

#endif
