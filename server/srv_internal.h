/* server/srv_internal: structures shared by srv_runtime.c, srv_conn.c and srv_http1.c. */
#ifndef SRV_INTERNAL_H
#define SRV_INTERNAL_H

#include <signal.h>
#include <sys/signalfd.h>

#include "core/rt_buf.h"
#include "proto_wire/pw_h2.h"
#include "server/srv_runtime.h"
#include "server/srv_stage.h"
#include "server/srv_tls.h"

typedef struct srv_conn srv_conn;

typedef enum {
    SRV_CONN_SNIFF = 0, /* first bytes not yet seen: HTTP/2 preface or an HTTP/1.1 request? */
    SRV_CONN_H2,
    SRV_CONN_HTTP1,
} srv_conn_mode;

/* A connection's life, whatever its mode (the handshake is mode SNIFF in state OPEN; a GOAWAY
 * sent is the engine's, and the connection stays OPEN until the engine wants to close). States
 * only move forward, through conn_set_state, which asserts it:
 *
 *   from \ to   FLUSHING                    LINGERING               CLOSED
 *   OPEN         srv_conn_close_after_flush  -                       srv_conn_close
 *   FLUSHING     -                           all output sent (FIN)   srv_conn_close, deadline
 *   LINGERING    -                           -                       EOF, srv_conn_close, deadline
 *   CLOSED       (final: freed once no op is busy and no callback holds it)
 */
typedef enum srv_conn_state {
    SRV_CONN_OPEN,      /* reading and answering */
    SRV_CONN_FLUSHING,  /* asked to close: input ignored, the last bytes going out, until
                         * close_deadline_ns */
    SRV_CONN_LINGERING, /* output flushed, write side shut: reading and dropping until EOF */
    SRV_CONN_CLOSED,    /* teardown started: no new I/O */
} srv_conn_state;
#define SRV_CONN_STATES 4
/* true when the table above allows from -> to. */
bool srv_conn_state_next_ok(srv_conn_state from, srv_conn_state to);

/* A connection asked to close gets this long to flush its last bytes (GOAWAY, an HTTP/1.1
 * answer) and for the peer to see them before we close (so the kernel does not reset it with
 * unread input and drop what we sent): a peer that does not read cannot hold it open longer. */
#define SRV_CLOSE_LINGER_MS 1000u
/* A connection with response bytes waiting that makes no progress at all (the peer keeps its
 * flow-control window at zero or does not read) for this long is closed: otherwise a peer could
 * pin every stream's pending output forever (CVE-2019-9511/9517 style). */
#define SRV_WRITE_STALL_MS 30000u

/* Decrypted bytes held at once: what one recv's ciphertext decrypts to (a provided buffer,
 * 16 KiB by default) plus one SSL_read chunk of headroom; srv_conn_input consumes it at once. */
#define SRV_TLS_PLAIN_BYTES_MAX (256u * 1024u)

/* Largest HTTP/1.1 request body (the JSON API's POSTs): a redrive of Q_BATCH_MAX ids is
 * ~27 KiB. Larger bodies are answered 413 and the connection closed. */
#define SRV_HTTP_BODY_BYTES_MAX 65536u
/* Bytes of a sniffed prefix or an HTTP/1.1 request (head and body) kept per connection: a
 * limit, not an allocation (the buffer grows as bytes arrive). */
#define SRV_CONN_IN_BYTES_MAX (16384u + SRV_HTTP_BODY_BYTES_MAX)

/* iovecs per sendmsg: a chain alternates frame headers and referenced DATA payloads (at most
 * 16 KiB each, PW_H2_OUT_FRAME_MAX_BYTES), so 64 entries carry about 512 KiB, more than the
 * engine queues at once (PW_H2_OUT_CAP_BYTES); what does not fit goes with the next send. Far
 * below the kernel's UIO_MAXIOV (1024). */
#define SRV_SEND_IOV_MAX 64
/* A send goes zero-copy (IORING_OP_SENDMSG_ZC) when it carries at least this many bytes of
 * referenced payload (--send-zc-min-bytes). Off by default, by measurement: on the shared VM's
 * loopback zero-copy sends lost at every size tried (64 KiB payloads: 388-755 against
 * 1,533-2,601 tasks/s; bench/results/2026-12-07-send-zc.md): a send's notification comes only
 * once TCP has its ACK, and a connection sends its next chain only after it (the chain must
 * stay unchanged until then), so sends serialise on the round trip. The kernel's copy costs
 * less than that wait here; a host with a real NIC and large payloads may lower it. The bytes a
 * connection has in flight zero-copy are bounded by one send: one chain at a time, at most
 * PW_H2_OUT_CAP_BYTES (the engine pumps no more until it is taken). */
#define SRV_SEND_ZC_MIN_BYTES UINT32_MAX

/* Who makes a TLS direction's records (srv_conn_ktls.c). */
typedef enum srv_conn_ktls {
    SRV_KTLS_USER = 0, /* OpenSSL, over memory BIOs (every connection starts so) */
    SRV_KTLS_MOVING,   /* being handed to the kernel: RX waits for the multishot recv to stop
                          and the record in progress to end, TX for OpenSSL's last ciphertext
                          to be sent */
    SRV_KTLS_KERNEL,   /* the kernel (kTLS): plain io_uring sends and recvs of plaintext */
} srv_conn_ktls;

struct srv_conn {
    srv_shard *sh;
    int fd;
    srv_conn_mode mode;
    srv_conn_state state;       /* only through conn_set_state (srv_conn.c) */
    bool recv_stopped;          /* multishot recv ended and was not re-armed */
    uint32_t hold;              /* callbacks of this connection on the stack: no free while > 0 */
    bool dirty;                 /* on the shard's dirty list: flush at the next loop iteration */
    uint64_t close_deadline_ns; /* FLUSHING/LINGERING: hard close then */
    uint64_t hblock_since_ns;   /* when the current incomplete header block started */
    uint64_t stall_since_ns;    /* output pending without progress since then (0: not stalled) */
    srv_conn *dirty_next;
    ev_op recv_op;
    ev_op send_op;
    ev_timer timer;
    uint64_t idle_since_ns; /* when the last stream ended (or the handshake completed) */
    uint64_t handshake_deadline_ns;
    bool http1_waiting; /* an HTTP/1.1 answer is being gathered: input waits in `in` */
    buf in;             /* SNIFF/HTTP1 input */
    buf out;            /* SNIFF/HTTP1: bytes being sent (owned while send_op is busy) */
    /* H2: the chain being sent, taken from the engine without a copy (owned while send_op is
     * busy, and with send-zc until its notification), and the sendmsg describing it. */
    pw_h2_outv outv;
    struct iovec iov[SRV_SEND_IOV_MAX];
    struct msghdr msg;
    bool send_zc;        /* the send in flight is zero-copy: wait for its notification */
    size_t send_zc_done; /* bytes its result reported, consumed at the notification */
    pw_grpc_conn *g;
    /* TLS (srv_conn_tls.c): the connection's TLS state (NULL on a plaintext port), the
     * decrypted input not yet consumed, and the ciphertext being sent (owned while send_op is
     * busy). The engine's output is sealed into tls_out (only once it is empty: one chain's
     * worth at most), so sends are never zero-copy. */
    srv_tls_conn *tls;
    buf tls_plain;
    buf tls_out;
    bool tls_fed;             /* the first bytes were seen (the plaintext check is done) */
    uint8_t ktls_rx, ktls_tx; /* srv_conn_ktls of each direction */
    bool ktls_counted;        /* counted in tls_ktls or tls_user */
    uint8_t *ktls_tail;       /* MOVING: the rest of a record, read before RX moves */
    srv_conn *prev, *next;    /* shard's connection list */
};

struct srv_shard {
    srv_runtime *rt;
    int id;
    ev_loop *loop;
    int listen_fd;
    ev_op accept_op;
    int sigfd; /* shard 0 only, else -1 */
    ev_op sig_op;
    struct signalfd_siginfo siginfo;
    bool draining;
    bool stopped;
    bool idle_counted; /* counted out of busy_shards (draining, no connection left) */
    bool running;      /* passed start-up: its loop runs (or is about to) */
    ev_timer drain_timer;
    ev_timer accept_timer; /* ends a pause of accepting after EMFILE/ENFILE */
    bool accept_paused;
    uint64_t accept_refused; /* accepts failed for want of descriptors since the last log */
    uint64_t accept_log_ns;  /* when that was last logged (0: never) */
    srv_conn *conns;
    uint32_t nconns;
    srv_counters ctr;
    /* RPCs answered: [method index + 1][status] (row 0: without a call). Written by this shard
     * only (relaxed), read by any /metrics scrape. */
    _Atomic uint64_t rpc_done[PW_GRPC_METHODS_MAX + 1][PW_GRPC_STATUS_MAX + 1];
    srv_conn *dirty; /* connections with output produced outside their own callbacks */
    /* Latency histograms written by this shard only, read by any scrape (srv_stage.h). */
    rt_hist stage[SRV_STAGE_OPS][SRV_STAGES];
    rt_hist stall;                        /* the loop's (ev_loop_set_stall_hist) */
    rt_hist stall_oncpu, stall_preempted; /* its long turns split (ev_loop_set_stall_split_hists) */
    rt_hist stall_cpu, stall_blocked;     /* oncpu split again (ev_stall_set_thread_hists) */
};

struct srv_runtime {
    srv_options opt;
    pw_grpc_server *grpc;
    srv_tls_server *tls; /* --tls-cert: every connection speaks TLS; NULL: plaintext */
    srv_hooks hooks;
    int nshards;
    srv_shard *shards;
    _Atomic int port;   /* the bound port (after shard 0 binds) */
    int port_lock_fd;   /* srv_port_claim's / srv_port_lock's lock, or -1 */
    _Atomic int ready;  /* shards that finished init */
    _Atomic int inited; /* shards whose shard_init hook ran (barrier before accepting) */
    _Atomic int draining;
    _Atomic int failed;
    _Atomic int busy_shards; /* shards not yet idle in a drain; all stop when it reaches 0 */
    uint64_t start_wall_ns;
};

/* srv_conn.c */
void srv_conn_accepted(srv_shard *sh, int fd);
void srv_conn_begin_drain(srv_conn *c);
void srv_conn_close(srv_conn *c);
/* Writes whatever output is pending (no-op while a send is in flight). */
void srv_conn_flush(srv_conn *c);
/* Asks for a graceful close: flush, shut the write side, linger (bounded), close. */
void srv_conn_close_after_flush(srv_conn *c);

/* Keeps the connection's memory alive across an asynchronous answer (a /metrics scrape);
 * release frees it if it closed meanwhile. */
void srv_conn_hold(srv_conn *c);
void srv_conn_release(srv_conn *c);

/* Flushes connections marked dirty (run from the shard's per-iteration hook). */
void srv_shard_flush_dirty(srv_shard *sh);

/* Feeds plaintext input to the connection's mode (SNIFF, H2, HTTP1): what the recv got on a
 * plaintext port, what TLS decrypted on a TLS port. */
void srv_conn_input(srv_conn *c, const uint8_t *p, size_t n);

/* srv_conn_tls.c: a TLS connection's received ciphertext: the first-byte check (plaintext on a
 * TLS port gets a 400 or a close), the handshake, then the plaintext to srv_conn_input. */
void srv_conn_tls_input(srv_conn *c, const uint8_t *p, size_t n);
/* srv_conn.c: (re)arms the connection's multishot recv. 0 or a negative errno. */
int srv_conn_recv_arm(srv_conn *c);
/* srv_conn_ktls.c: after a completed handshake, starts the hand-over to kTLS when the kernel
 * offers it (else counts the connection as user space; the first refusal of the "tls" ULP is
 * logged once, at info). Cancels the multishot recv: srv_conn_ktls_rx_continue follows when it
 * has stopped. */
void srv_conn_ktls_start(srv_conn *c);
/* The recv stopped while RX is MOVING: reads the rest of the record in progress, then installs
 * RX (or leaves it in user space) and re-arms the recv. */
void srv_conn_ktls_rx_continue(srv_conn *c);
/* From the flush, no send busy: installs TX once OpenSSL's ciphertext is all sent. */
void srv_conn_ktls_tx_try(srv_conn *c);
/* Sends a close_notify alert through kTLS (a record of type alert); best effort. */
void srv_conn_ktls_close_notify(srv_conn *c);
/* TLS records of this connection's output are made by OpenSSL (sent from tls_out). */
static inline bool srv_conn_tls_user_tx(const srv_conn *c)
{
    return c->tls && c->ktls_tx != SRV_KTLS_KERNEL;
}
/* Seals the plaintext output waiting (the engine's chain or `out`) into c->tls_out. Returns the
 * ciphertext bytes waiting there, or a negative errno (close the connection). */
ssize_t srv_conn_tls_seal(srv_conn *c);
/* Counts a connection that ends without a TLS handshake (ringq_tls_handshake_failures_total). */
void srv_conn_tls_count_failure(srv_conn *c);
/* Logs a TLS ClientHello on the plaintext port (rate-limited): sniff calls it, then refuses the
 * bytes as any other non-HTTP input (an HTTP/1.1 400, and the close). */
void srv_conn_tls_on_plain_port(srv_conn *c);

/* srv_http1.c: handles the buffered HTTP/1.1 input; may queue output and mark close. */
void srv_http1_on_input(srv_conn *c);
/* srv_http1.c: the same answers to a plain request on an HTTP/2 connection; `user` is the
 * srv_conn (pw_grpc_plain_fn). */
void srv_http_on_h2_request(void *user, const pw_grpc_plain_req *req, pw_grpc_plain_resp *resp);

/* srv_metrics.c: renders /metrics into `body`. Returns 0 when it is complete, 1 when the
 * gather hook still runs: then done(ctx) runs later on this shard and `body` must live until. */
int srv_metrics_scrape(srv_shard *sh, buf *body, srv_gather_done_fn done, void *ctx);
/* pw_grpc_done_fn of every HTTP/2 connection (user: its srv_conn): counts answered RPCs. */
void srv_metrics_on_rpc_done(void *user, int method_index, pw_grpc_status status);

/* srv_listen.c: makes sure o->host:o->port is free for this process's listeners before the
 * shards bind it with SO_REUSEPORT (which would let them join another process's listeners
 * silently). With port 0 there is nothing to claim. Takes the abstract lock
 * "ringq-listen:<host>:<port>" (released when the process exits, however it exits: two servers
 * starting at once cannot both pass), then probes the port without SO_REUSEPORT, waiting
 * briefly for a killed predecessor's listeners to close. On success *lock_fd holds the lock
 * (keep it open while serving; -1 with port 0). Errors are printed ("address in use"); returns
 * 0 or a negative errno. */
int srv_port_claim(const srv_options *o, int *lock_fd);
/* Takes the abstract lock for host:`port` alone (after --port 0 resolved). Returns its fd or a
 * negative errno after printing why (-EADDRINUSE: "address in use"). */
int srv_port_lock(const srv_options *o, int port);

/* srv_runtime.c: called when a connection is gone, to see whether a drain is complete. */
void srv_shard_conn_gone(srv_shard *sh);
/* Initialises the shard's own timers (drain deadline, accept pause): before the shard's loop
 * runs, in the threaded runtime and in srv_local alike. */
void srv_shard_init_timers(srv_shard *sh);
/* srv_runtime.c: makes `sh` the calling thread's shard (srv_shard_self), for srv_local's
 * shards that share one thread; NULL: none. */
void srv_shard_enter(srv_shard *sh);

#endif
