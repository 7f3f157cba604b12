/* server/srv_auth: bearer tokens and per-queue/stream permissions (docs/security.md).
 *
 * Two layers:
 *   - the auth file (srv_auth_file.c): parsed into an immutable srv_auth_table; pure, no I/O
 *     but the read, so unit tests and the fuzzer drive it with bytes;
 *   - the server's current table (srv_auth.c): loaded by --auth-file, swapped on SIGHUP, and
 *     the checks every gRPC method and HTTP endpoint makes against it.
 *
 * Without --auth-file every check allows (srv_auth_enabled() is false). */
#ifndef SRV_AUTH_H
#define SRV_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rt_sha256.h"
#include "proto_wire/pw_grpc_server.h"

typedef struct srv_tls_peer srv_tls_peer; /* server/srv_tls.h */

/* Permissions, a bit each (a rule grants a set). */
typedef enum srv_auth_perm {
    SRV_AUTH_PRODUCE = 1u << 0, /* Enqueue, Publish, PublishStream */
    SRV_AUTH_CONSUME = 1u << 1, /* Lease, Ack, Nack, Extend, Work; Fetch, Consume, Read, ... */
    SRV_AUTH_ADMIN = 1u << 2,   /* the Admin service, stream and consumer administration */
    SRV_AUTH_METRICS = 1u << 3, /* /metrics, the dashboard, the KEDA scaler: counts, no data */
} srv_auth_perm;

/* What a name checked against a pattern is. A pattern without a prefix covers both kinds;
 * `queue:GLOB` only queues, `stream:GLOB` only streams. SRV_AUTH_ALL: a method that names no
 * resource (ListQueues, /metrics): it needs the permission on every name, a bare `*` rule. */
typedef enum srv_auth_kind {
    SRV_AUTH_ALL = 0,
    SRV_AUTH_QUEUE = 1,
    SRV_AUTH_STREAM = 2,
} srv_auth_kind;

/* Limits of the auth file: generous for hand-written files, small enough that a reload (on
 * shard 0's loop) parses in well under a millisecond per thousand lines. */
#define SRV_AUTH_FILE_BYTES_MAX (1u << 20) /* the whole file */
#define SRV_AUTH_LINE_BYTES_MAX 4096u      /* one line */
#define SRV_AUTH_TOKENS_MAX 1024u          /* token lines */
#define SRV_AUTH_RULES_MAX 8192u           /* patterns over all allow lines */
#define SRV_AUTH_NAME_BYTES_MAX 64u        /* a token's name: [A-Za-z0-9._-] */
#define SRV_AUTH_SECRET_BYTES_MIN 16u      /* a secret in clear: short ones are guessable */
#define SRV_AUTH_SECRET_BYTES_MAX 256u     /* a secret: printable ASCII, no space */
#define SRV_AUTH_PATTERN_BYTES_MAX 128u    /* as a queue or stream name (Q_*_NAME_BYTES_MAX) */
#define SRV_AUTH_SUBJECT_BYTES_MAX 512u    /* a certificate subject on a `cert` line */
#define SRV_AUTH_FIELDS_MAX 256u           /* words on a line (4 KiB of views on the stack) */
#define SRV_AUTH_ERR_BYTES 256u            /* an error message: "file:line:col: why" */

typedef struct srv_auth_table srv_auth_table;

/* Parses an auth file's text (text[0..len), borrowed for the call; `fname` only names it in
 * errors). Returns 0 with *out set (owned by the caller: srv_auth_table_destroy), or -EINVAL
 * with err filled "fname:line:col: what is wrong", or -ENOMEM. Never keeps a secret in clear:
 * clear secrets are hashed as they are read. */
int srv_auth_table_parse(const char *text, size_t len, const char *fname, srv_auth_table **out,
                         char err[SRV_AUTH_ERR_BYTES]);
/* Reads and parses the file at `path`: as srv_auth_table_parse, and -errno (the file cannot be
 * read: err says so) or -EFBIG (above SRV_AUTH_FILE_BYTES_MAX). */
int srv_auth_table_load(const char *path, srv_auth_table **out, char err[SRV_AUTH_ERR_BYTES]);
void srv_auth_table_destroy(srv_auth_table *t);
size_t srv_auth_table_ntokens(const srv_auth_table *t);

/* The token whose secret is `secret` (compared in constant time against every token: the
 * time does not tell which one, nor how much matched), or -1. */
int srv_auth_table_find_secret(const srv_auth_table *t, const char *secret, size_t len);
/* The token named by a `cert NAME SUBJECT` line for this verified certificate subject, or -1. */
int srv_auth_table_find_subject(const srv_auth_table *t, const char *subject, size_t len);
/* true when token `tok` holds `perm` on `name` of `kind` (SRV_AUTH_ALL: on every name). */
bool srv_auth_table_allows(const srv_auth_table *t, int tok, srv_auth_perm perm, srv_auth_kind kind,
                           const char *name, size_t len);

/* true when token `tok` holds `perm` on at least one pattern, of any kind. */
bool srv_auth_table_allows_some(const srv_auth_table *t, int tok, srv_auth_perm perm);

/* `*` matches any run of characters (also none, also dots); every other byte matches itself. */
bool srv_auth_glob(const char *pat, size_t plen, const char *s, size_t slen);

/* "produce", "consume", "admin", "metrics". */
const char *srv_auth_perm_name(srv_auth_perm p);

/* ---- the server's table (srv_auth.c) ---- */

/* Loads --auth-file at start-up (before shards run). 0, or a negative errno with the reason
 * printed on stderr as "file:line:col: why". */
int srv_auth_start(const char *path);
/* SIGHUP: reads the file again; on success the new table answers every check from now on, on
 * failure the old one stays and the reason is logged (file:line:col). Any thread. 0 or the
 * parse's negative errno. */
int srv_auth_reload(void);
bool srv_auth_enabled(void);
/* Installs the guard on `g` and checks that every registered method has a row in the method
 * table (a method without one would be refused: start-up fails instead, naming it). 0 or
 * -ENOENT (printed). No-op without an auth file. */
int srv_auth_bind(pw_grpc_server *g);

/* Safe defaults (docs/security.md): true when `host` is a loopback address (127.0.0.0/8, ::1,
 * localhost). */
bool srv_auth_host_is_loopback(const char *host);
/* The start-up rule: listening beyond loopback needs TLS and an auth file, or `insecure`
 * (--insecure). 0, or -EPERM with the reason and the ways out printed on stderr. */
int srv_auth_exposure_check(const char *prog, const char *host, bool tls, bool tokens,
                            bool insecure);

/* The check a handler makes right after decoding its request, for each resource it names:
 * true when the call may go on; false when it was ended (UNAUTHENTICATED without a known
 * token, PERMISSION_DENIED "missing produce on queue 'orders'") and the handler must return
 * without touching the call again. `name` borrowed for the call. A local call (the JSON API's,
 * pw_grpc_call_is_local) is allowed: srv_api checked its HTTP request before making it. */
bool srv_auth_call(pw_grpc_call *call, srv_auth_perm perm, srv_auth_kind kind, const char *name,
                   size_t len);

/* srv_auth_call with the permission of the call's method in the table (docs/security.md): for
 * code shared by methods that need different ones (the Streams service's routing). A NULL call
 * (an internal job) is allowed. */
bool srv_auth_call_named(pw_grpc_call *call, srv_auth_kind kind, const char *name, size_t len);
/* srv_auth_check with the method's permission (PublishStream answers on the stream). */
int srv_auth_check_named(const pw_grpc_call *call, srv_auth_kind kind, const char *name, size_t len,
                         char why[SRV_AUTH_ERR_BYTES]);

/* srv_auth_call without ending the call: 0 when allowed, else PW_GRPC_UNAUTHENTICATED or
 * PW_GRPC_PERMISSION_DENIED with `why` filled (for a stream that answers one request message
 * with an error and stays open: Work's Subscribe). */
int srv_auth_check(const pw_grpc_call *call, srv_auth_perm perm, srv_auth_kind kind,
                   const char *name, size_t len, char why[SRV_AUTH_ERR_BYTES]);

/* HTTP endpoints (/metrics, the dashboard, its JSON API): `authz` is the request's
 * Authorization header value (NULL or "" without one), `peer` its connection's TLS peer
 * (srv_conn_tls_peer; NULL when not TLS), both borrowed for the call. The identity is resolved
 * as for a gRPC call (one function): the bearer token, else a verified client certificate's
 * subject on a `cert` line. Returns 200 when allowed, 401 without a known identity (answer
 * with WWW-Authenticate: Bearer), 403 without the permission. `kind`/`name` as srv_auth_call
 * (SRV_AUTH_ALL, NULL for a page about everything). */
int srv_auth_http(const char *authz, size_t authz_len, const srv_tls_peer *peer, srv_auth_perm perm,
                  srv_auth_kind kind, const char *name, size_t len);

#endif
