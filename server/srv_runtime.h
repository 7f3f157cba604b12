/* server/srv_runtime: the shard runtime shared by ringqd and ringq-interop-server.
 *
 * One shard thread per core: each owns an ev_loop, an SO_REUSEPORT listener, its connections.
 * Shard 0 also reads the process signalfd: SIGTERM/SIGINT start a graceful drain on every shard
 * (stop accepting, GOAWAY to every connection, let calls in flight finish up to drain_ms, then
 * exit 0). */
#ifndef SRV_RUNTIME_H
#define SRV_RUNTIME_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/ev_reactor.h"
#include "core/rt_shard.h"
#include "proto_wire/pw_grpc_server.h"

/* Defaults, with reasons. */
#define SRV_PORT_DEFAULT 7070
#define SRV_HANDSHAKE_MS_DEFAULT 10000u /* preface/request head must arrive within 10 s */
#define SRV_IDLE_MS_DEFAULT 300000u     /* a connection with no stream for 5 min gets GOAWAY */
#define SRV_DRAIN_MS_DEFAULT 10000u     /* calls in flight get 10 s to finish on SIGTERM */
#define SRV_CONNS_PER_SHARD_MAX 65536u  /* beyond this, new connections are closed at once */

typedef struct srv_options {
    const char *prog; /* program name for messages (argv[0]'s last component) */
    const char *host;
    int port;              /* 0: pick a free port (logged as port=N) */
    int threads;           /* shards; default: online CPUs */
    bool pin;              /* pin shard i to CPU i */
    bool insecure;         /* --insecure: a non-loopback --host without TLS and tokens */
    const char *data_dir;  /* ringqd only */
    const char *port_file; /* when set, the bound port is written there once listening */
    uint32_t handshake_ms;
    uint32_t idle_ms;
    uint32_t drain_ms;
    /* A send carrying at least this many bytes of referenced payload goes zero-copy
     * (--send-zc-min-bytes; SRV_SEND_ZC_MIN_BYTES by default). */
    uint32_t send_zc_min_bytes;
    /* TLS (docs/security.md): the port speaks TLS when tls_cert is set (then tls_key too);
     * tls_client_ca additionally requires client certificates that chain to it. */
    const char *tls_cert;
    const char *tls_key;
    const char *tls_client_ca;
    /* --ktls off: keep the record layer in user space even where the kernel offers kTLS. */
    bool ktls_off;
    pw_grpc_server_config grpc;
} srv_options;

/* Per-shard counters: written only by the owning shard (relaxed stores), read by anyone
 * (/metrics) with relaxed loads: monotonic figures that need no ordering. */
typedef struct srv_counters {
    _Atomic uint64_t conns_accepted;
    _Atomic uint64_t conns_open;
    _Atomic uint64_t conns_rejected;
    _Atomic uint64_t http1_requests;
    _Atomic uint64_t bytes_in;
    _Atomic uint64_t bytes_out;
    _Atomic uint64_t proto_errors;
    /* The copy count of the delivery path (docs/architecture.md "One copy"): task payload bytes
     * delivered (Lease answers, Work deliveries), the bytes memcpy'd on their way from the log
     * mapping to the socket, and the bytes the kernel sent without a copy (send-zc). */
    _Atomic uint64_t payload_bytes;
    _Atomic uint64_t payload_copied_bytes;
    _Atomic uint64_t send_zc_bytes;
    /* TLS (--tls-cert): handshakes completed, and connections that never completed one (a
     * failed handshake, plaintext on the port, the handshake timeout). */
    _Atomic uint64_t tls_handshakes;
    _Atomic uint64_t tls_handshake_failures;
    /* Handshakes completed, by where the record layer then ran: the kernel (kTLS, both
     * directions) or user space (OpenSSL over memory BIOs). */
    _Atomic uint64_t tls_ktls;
    _Atomic uint64_t tls_user;
} srv_counters;

typedef struct srv_shard srv_shard;
typedef struct srv_runtime srv_runtime;

/* Called on each shard thread after its loop exists and before it accepts: services that keep
 * per-shard state set it up here. */
typedef void (*srv_shard_init_fn)(srv_shard *sh, void *ud);
typedef void (*srv_shard_fini_fn)(srv_shard *sh, void *ud);
/* Called on every shard when a drain starts (e.g. health turns NOT_SERVING), before the shard
 * closes its listener: the first shard to drain runs it before any listener closes. */
typedef void (*srv_drain_fn)(srv_shard *sh, void *ud);
/* Appends extra Prometheus text to /metrics. */
typedef void (*srv_metrics_fn)(buf *out, void *ud);

/* Appends Prometheus text that must be gathered from other shards (per-queue figures): starts
 * the gathering and returns 0, then appends to `out` and runs done(ctx) later on this shard's
 * thread; or returns a negative errno (nothing appended, done never runs). `out` stays valid
 * until done. */
typedef void (*srv_gather_done_fn)(void *ctx);
typedef int (*srv_metrics_gather_fn)(srv_shard *sh, buf *out, srv_gather_done_fn done, void *ctx,
                                     void *ud);

typedef struct srv_hooks {
    srv_shard_init_fn shard_init;
    srv_shard_fini_fn shard_fini;
    srv_drain_fn on_drain;
    srv_metrics_fn metrics;
    srv_metrics_gather_fn metrics_gather;
    void *ud;
} srv_hooks;

/* server/'s result for start-up steps that report their own failure (a bad flag, an unusable
 * data directory): the reason is already printed, the program only picks its exit code. Kept
 * apart from negative errno and from q_status (docs/architecture.md, "Errors"). */
typedef enum srv_rc {
    SRV_RC_OK = 0,
    SRV_RC_EXIT = 1,    /* nothing failed, but the program is done (--help, --version) */
    SRV_RC_SAID = -500, /* failed; why was printed on stderr or logged */
} srv_rc;

/* Parses and validates the common flags, before anything starts. Unknown flags are an error
 * ("unknown flag --x") unless `extra` handles them: extra(name, value, ud) returns 1 when it
 * consumed a flag with a value, 0 when not its flag (called with value NULL first, to tell an
 * unknown flag from a missing value), SRV_FLAG_BAD on a bad value (the parser
 * prints "bad value"), or SRV_FLAG_BAD_SAID after printing its own message (with the range).
 * --help prints `usage`; --version prints "<prog> RT_VERSION (RT_VERSION_GIT)". Returns SRV_RC_OK,
 * SRV_RC_EXIT (help or version printed: exit 0) or SRV_RC_SAID (error printed on stderr:
 * exit 2). */
#define SRV_FLAG_BAD (-1)
#define SRV_FLAG_BAD_SAID (-2)
typedef int (*srv_extra_flag_fn)(const char *name, const char *value, void *ud);
srv_rc srv_options_parse(srv_options *o, int argc, char **argv, const char *usage,
                         srv_extra_flag_fn extra, void *ud);
void srv_options_defaults(srv_options *o);

/* Runs the server until drained. Before any shard starts: raises RLIMIT_NOFILE's soft limit to
 * the hard one and claims the listen address (srv_port_claim). Shards bind, run shard_init,
 * and only then listen: a connection is accepted only once every shard can serve it. Sends
 * READY=1 ($NOTIFY_SOCKET) once listening and STOPPING=1 when a drain starts. Returns the
 * process exit code (0 after a graceful drain, 1 when start-up failed). */
int srv_run(const srv_options *o, pw_grpc_server *grpc, const srv_hooks *hooks);

/* Shard accessors (for handlers and services). */
ev_loop *srv_shard_loop(srv_shard *sh);
int srv_shard_id(const srv_shard *sh);
srv_runtime *srv_shard_runtime(srv_shard *sh);
/* The shard whose thread is running (NULL outside shard threads). */
srv_shard *srv_shard_self(void);
/* Adds to the calling shard's delivery counters (srv_counters.payload_*); no-op off a shard. */
void srv_count_payload(uint64_t payload_bytes, uint64_t copied_bytes);
int srv_runtime_nshards(const srv_runtime *rt);
bool srv_runtime_draining(const srv_runtime *rt);
/* Marks start-up failed (from a shard_init hook): every shard stops without serving and the
 * process exits 1 at once (log the cause first). */
void srv_runtime_fail(srv_runtime *rt);
/* Whether start-up failed: a long shard_init (recovery) checks it to give up early. */
bool srv_runtime_failed(const srv_runtime *rt);

#endif
