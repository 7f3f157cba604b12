/* server/srv_tls: TLS on the gRPC port (OpenSSL), driven by the shard's loop.
 *
 * Model
 *   No socket calls here: a connection's TLS state owns two memory BIOs. The connection glue
 *   (srv_conn.c) feeds the ciphertext its io_uring recv got (srv_tls_conn_feed), lets the
 *   handshake advance (srv_tls_conn_handshake), reads the plaintext out (srv_tls_conn_read),
 *   seals its plaintext output (srv_tls_conn_write) and sends the ciphertext that collects
 *   (srv_tls_conn_take_out) with its io_uring send. The one-copy path of docs/architecture.md
 *   thus costs the encryption copy, unless the connection moves to kTLS after a TLS 1.3
 *   handshake (below, "kTLS"; srv_conn_ktls.c; docs/security.md).
 *
 * Certificates
 *   srv_tls_server holds the current SSL_CTX (TLS 1.2 and 1.3, OpenSSL's defaults; ALPN h2 and
 *   http/1.1; with a client CA every client must present a certificate that chains to it).
 *   srv_tls_server_reload (SIGHUP) loads the files again into a new SSL_CTX; new connections take
 *   it, old ones keep the one they started with (each SSL holds a reference to its SSL_CTX, so
 *   the old context lives until its last connection ends). A failed reload keeps the old one.
 *
 * Threads
 *   srv_tls_server is shared by every shard (its current context behind a mutex taken once per
 *   accepted connection and once per reload); a srv_tls_conn belongs to its connection's shard.
 *
 * Errors are negative errno: -EPROTO for a TLS failure (the reason is logged, rate-limited, by
 * srv_tls_conn_handshake/read), -ENOMEM, -EINVAL (a certificate or key that does not load). */
#ifndef SRV_TLS_H
#define SRV_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <sys/socket.h>

#include <linux/tls.h>

#include "core/rt_buf.h"

typedef struct srv_tls_server srv_tls_server;
typedef struct srv_tls_conn srv_tls_conn;
typedef struct srv_conn srv_conn;

/* A peer certificate's subject, one line in RFC 2253 form ("CN=worker-1,O=acme"): longer
 * subjects are refused at the handshake rather than cut (a cut name could match another). */
#define SRV_TLS_SUBJECT_MAX 512u
/* Its commonName alone (RFC 5280's ub-common-name is 64 characters; UTF-8 at most 4 bytes
 * each). */
#define SRV_TLS_CN_MAX 257u

/* What the handshake established about the client: filled once, when it completes. */
typedef struct srv_tls_peer {
    bool cert;                         /* the client presented a certificate */
    bool verified;                     /* it chained to --tls-client-ca (mTLS) */
    char subject[SRV_TLS_SUBJECT_MAX]; /* RFC 2253 subject, "" without a certificate */
    char cn[SRV_TLS_CN_MAX];           /* its commonName, "" when it has none */
    char alpn[16];                     /* "h2", "http/1.1" or "" (none negotiated) */
    char version[16];                  /* "TLSv1.3", "TLSv1.2" */
} srv_tls_peer;

/* For authorization (docs/security.md, mTLS): the peer of connection `c` (an RPC handler gets
 * it from pw_grpc_call_conn_user(call)). NULL when `c` is NULL, not TLS, or its handshake has
 * not completed (a call never runs before it has). The view is borrowed: valid while `c` lives,
 * on `c`'s shard thread. Only `verified` makes `subject`/`cn` trustworthy: without a client CA
 * a certificate is accepted unverified. */
const srv_tls_peer *srv_conn_tls_peer(const srv_conn *c);

/* ---- server context ---- */

typedef struct srv_tls_files {
    const char *cert;      /* PEM chain, the server's certificate first (--tls-cert) */
    const char *key;       /* PEM private key (--tls-key) */
    const char *client_ca; /* PEM CA bundle: require and verify client certificates; NULL: no
                              client certificate asked for (--tls-client-ca) */
    bool ktls;             /* capture the traffic secrets for kTLS (srv_tls_conn_ktls_begin) */
} srv_tls_files;

/* Loads the files into a first context. The strings are borrowed for the server's life (they
 * are read again on reload). Returns NULL after printing why on stderr (a file that does not
 * load, a key that does not match the certificate). */
srv_tls_server *srv_tls_server_create(const srv_tls_files *files);
void srv_tls_server_destroy(srv_tls_server *ts);
/* Loads the files again into a new context for new connections. Returns 0, or a negative errno
 * after logging why (the old context stays in use). Any thread. */
int srv_tls_server_reload(srv_tls_server *ts);
/* Contexts loaded so far (1 after create; +1 per successful reload): for logs and tests. */
uint64_t srv_tls_server_generation(srv_tls_server *ts);

/* ---- one connection ---- */

typedef enum srv_tls_state {
    SRV_TLS_HANDSHAKE = 0, /* ClientHello awaited or the handshake under way */
    SRV_TLS_OPEN,          /* established: application data flows */
    SRV_TLS_FAILED,        /* the handshake or a record failed; only an alert may go out */
} srv_tls_state;

/* A TLS state for a new connection on the current context. `log_fd` only tags log lines.
 * Returns NULL on -ENOMEM. */
srv_tls_conn *srv_tls_conn_create(srv_tls_server *ts, int log_fd);
void srv_tls_conn_destroy(srv_tls_conn *t);
srv_tls_state srv_tls_conn_state(const srv_tls_conn *t);
const srv_tls_peer *srv_tls_conn_peer(const srv_tls_conn *t);

/* Feeds received ciphertext (copied into the read BIO). Returns 0 or -ENOMEM. */
int srv_tls_conn_feed(srv_tls_conn *t, const uint8_t *p, size_t n);
/* Advances the handshake with what was fed. Returns 1 once established (peer filled), 0 when it
 * needs more input (its output, if any, waits in the write BIO), -EPROTO when it failed (logged
 * once per cause, rate-limited; an alert may wait in the write BIO: send it, then close). */
int srv_tls_conn_handshake(srv_tls_conn *t);
/* Decrypts what was fed, appending the plaintext to `out`. Returns bytes appended (0: a partial
 * record, or the peer's close_notify: see srv_tls_conn_peer_closed), -EPROTO on a bad record,
 * -ENOBUFS when `out` is full. */
ssize_t srv_tls_conn_read(srv_tls_conn *t, buf *out);
/* The peer sent close_notify. */
bool srv_tls_conn_peer_closed(const srv_tls_conn *t);
/* Encrypts `iovcnt` buffers of plaintext into the write BIO (the bytes are copied: the caller
 * may reuse them at once). Returns bytes taken (all of them) or -EPROTO / -ENOMEM. */
ssize_t srv_tls_conn_write(srv_tls_conn *t, const struct iovec *iov, int iovcnt);
/* Queues a close_notify alert (RFC 8446 §6.1) in the write BIO, once, on an open connection:
 * the peer then tells our close from a truncation. Returns 1 when it queued it now (send it
 * before shutting the socket), 0 when there is nothing to do. Nothing can be written after. */
int srv_tls_conn_close_notify(srv_tls_conn *t);
/* Moves the ciphertext waiting in the write BIO to the end of `out`. Returns bytes moved or
 * -ENOBUFS. */
ssize_t srv_tls_conn_take_out(srv_tls_conn *t, buf *out);

/* ---- kTLS: the record layer handed to the kernel after the handshake (srv_tls_ktls.c) ----
 *
 * The connection glue (srv_conn_tls.c) calls begin once the handshake is done, then installs
 * each direction with setsockopt(SOL_TLS, TLS_TX / TLS_RX, info) once it is at a record
 * boundary: TX when the write BIO is empty and its ciphertext sent, RX when every byte received
 * is part of a whole record OpenSSL has decrypted. After that OpenSSL is not used for records
 * again in that direction. */

/* The setsockopt argument for one direction: `len` bytes of `u`. Holds a key: wipe it
 * (explicit_bzero) once installed. */
typedef struct srv_tls_ktls_info {
    union {
        struct tls12_crypto_info_aes_gcm_128 gcm128;
        struct tls12_crypto_info_aes_gcm_256 gcm256;
        struct tls12_crypto_info_chacha20_poly1305 chacha;
    } u;
    socklen_t len;
} srv_tls_ktls_info;

/* On an OPEN connection of a context with `ktls`: 0 when it can move to kTLS (TLS 1.3, an AEAD
 * the kernel has, both traffic secrets seen), and from then on counts the records received,
 * starting with what the read BIO holds past the client's Finished; else -EOPNOTSUPP with a
 * static reason in *why ("TLS 1.2 stays in user space", ...). */
int srv_tls_conn_ktls_begin(srv_tls_conn *t, const char **why);
/* Wipes the captured traffic secrets (the connection stays in user space). */
void srv_tls_conn_ktls_forget(srv_tls_conn *t);
/* After begin: ciphertext bytes still to feed to end the record in progress (0 at a boundary). */
size_t srv_tls_conn_ktls_rx_missing(const srv_tls_conn *t);
/* RX may move: at a record boundary, nothing unread in the read BIO or inside OpenSSL. */
bool srv_tls_conn_ktls_rx_ready(const srv_tls_conn *t);
/* TX may move once this holds and what was taken out (srv_tls_conn_take_out) is sent. */
bool srv_tls_conn_ktls_tx_ready(const srv_tls_conn *t);
/* Derives the direction's key and IV (HKDF-Expand-Label, RFC 8446 §7.3) into `info`, with the
 * record sequence number OpenSSL reached; wipes that direction's secret. 0 or -EPROTO. */
int srv_tls_conn_ktls_info(srv_tls_conn *t, bool tx, srv_tls_ktls_info *info);

/* ---- first bytes ---- */

/* What the first byte of a connection says (RFC 8446 §5.1: a handshake record is type 22). */
typedef enum srv_tls_sniff {
    SRV_TLS_SNIFF_TLS = 0, /* a TLS handshake record */
    SRV_TLS_SNIFF_HTTP,    /* an ASCII method letter: plaintext HTTP (or an h2c preface) */
    SRV_TLS_SNIFF_OTHER,   /* neither */
} srv_tls_sniff;
srv_tls_sniff srv_tls_sniff_first(uint8_t first);
/* True when `p` (n >= 3) begins a TLS handshake record (type 22, version 3.x): a ClientHello on
 * the plaintext port. */
bool srv_tls_looks_like_hello(const uint8_t *p, size_t n);

/* Logs `msg` at warn level at most once per SRV_TLS_LOG_EVERY_MS per `cause` (a small integer
 * key; different causes do not silence each other), with the count of lines suppressed since.
 * Any thread. */
#define SRV_TLS_LOG_EVERY_MS 10000u
/* Causes of our own (OpenSSL's failures use their reason code, which is far above these). */
enum {
    SRV_TLS_LOG_SUBJECT = 1,   /* client certificate subject too long */
    SRV_TLS_LOG_TIMEOUT = 2,   /* handshake not done within --handshake-timeout-ms */
    SRV_TLS_LOG_PLAINTEXT = 3, /* plaintext on the TLS port */
    SRV_TLS_LOG_HELLO = 4,     /* a TLS ClientHello on the plaintext port */
};
void srv_tls_log_limited(unsigned cause, const char *msg, const char *detail, int fd);

#endif
