/* server/srv_tls_int: a TLS connection's insides, shared by srv_tls.c (the record layer over
 * memory BIOs) and srv_tls_ktls.c (its hand-over to kernel TLS). No other file includes it. */
#ifndef SRV_TLS_INT_H
#define SRV_TLS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "server/srv_tls.h"

/* A TLS 1.3 traffic secret at most: the output of SHA-384, the largest hash of a TLS 1.3 cipher
 * suite (RFC 8446 §B.4). */
#define SRV_TLS_SECRET_BYTES_MAX 48u
/* A TLS record's header (RFC 8446 §5.1: type, legacy version, 16-bit length). */
#define SRV_TLS_RECORD_HEADER_BYTES 5u

/* Record boundaries in a ciphertext stream: how many records passed, and where the one in
 * progress stands. */
typedef struct srv_tls_rec_track {
    uint64_t records;                         /* complete records seen */
    uint8_t hdr[SRV_TLS_RECORD_HEADER_BYTES]; /* the header of the record in progress */
    size_t hdr_have;                          /* its bytes seen (0: at a boundary) */
    size_t body_left;                         /* its body bytes still to come */
} srv_tls_rec_track;

/* What the hand-over to kTLS needs (srv_tls_ktls.c): the TLS 1.3 application traffic secrets,
 * captured by the keylog callback during the handshake (wiped with the connection), and the
 * record counts that become the kernel's sequence numbers. */
typedef struct srv_tls_ktls_keys {
    uint8_t secret_tx[SRV_TLS_SECRET_BYTES_MAX]; /* SERVER_TRAFFIC_SECRET_0 */
    uint8_t secret_rx[SRV_TLS_SECRET_BYTES_MAX]; /* CLIENT_TRAFFIC_SECRET_0 */
    size_t secret_tx_len, secret_rx_len;
    bool rx_tracking;     /* srv_tls_conn_ktls_begin ran: received records are counted */
    srv_tls_rec_track rx; /* the client's records since its Finished */
    uint64_t tx_records;  /* ours since our Finished (session tickets) */
} srv_tls_ktls_keys;

struct srv_tls_conn {
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl */
    srv_tls_state state;
    bool peer_closed;
    bool notify_sent; /* our close_notify is queued: nothing more is written */
    int fd;
    srv_tls_peer peer;
    srv_tls_ktls_keys ktls;
};

/* SSL_CTX keylog callback (installed when kTLS is allowed): keeps the connection's two
 * application traffic secrets; every other line is ignored. Never logs. */
void srv_tls_on_keylog(const SSL *ssl, const char *line);
/* Advances `r` over `n` bytes of ciphertext. */
void srv_tls_track(srv_tls_rec_track *r, const uint8_t *p, size_t n);

#endif
