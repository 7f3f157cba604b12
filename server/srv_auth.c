/* server/srv_auth: the server's auth table (--auth-file, swapped on SIGHUP) and the checks.
 *
 * Every gRPC method has a row in `methods` below (docs/security.md, "Permissions"); a method
 * without one fails start-up, so a new RPC cannot slip in unchecked. The guard (run by the
 * gRPC engine before a method sees a call) authenticates the call and applies its row:
 *   OPEN   health: always answered (probes carry no credentials)
 *   AUTHN  any known token (reflection: the schema, no data)
 *   ALL    the permission on every name, a bare `*` rule (list methods, KEDA)
 *   SOME   the permission on some pattern (Ack, Nack, Extend: the queue is only known on the
 *          owner shard; the lease token binds them to the delivery)
 *   NAMED  the permission on some pattern now, and the handler checks each name the request
 *          names right after decoding it (srv_auth_call)
 * Local calls (pw_grpc_call_is_local) never meet the guard (it runs on a connection's headers)
 * and pass the handlers' checks: they carry no credentials, and they are made only by the JSON
 * API after it checked the HTTP request's bearer token for the route (srv_api_authorize), and
 * by the server itself (srv_rates.c's sampling, for no client), so no other check applies.
 * Checks read the current table under a read lock; a reload swaps the pointer under the write
 * lock and frees the old table after, so no check ever sees a table being freed. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <strings.h>

#include "core/rt_log.h"
#include "core/rt_net.h"
#include "proto_wire/pw_msgs.h"
#include "server/srv_auth.h"
#include "server/srv_tls.h"

typedef enum auth_mode { MODE_OPEN, MODE_AUTHN, MODE_ALL, MODE_SOME, MODE_NAMED } auth_mode;

typedef struct auth_method {
    const char *path;
    auth_mode mode;
    srv_auth_perm perm;
} auth_method;

#define P SRV_AUTH_PRODUCE
#define C SRV_AUTH_CONSUME
#define A SRV_AUTH_ADMIN
#define M SRV_AUTH_METRICS
static const auth_method methods[] = {
    {pwm_ringq_v1_Queue_Enqueue_PATH, MODE_NAMED, P},
    {pwm_ringq_v1_Queue_EnqueueStream_PATH, MODE_NAMED, P},
    {pwm_ringq_v1_Queue_Lease_PATH, MODE_NAMED, C},
    {pwm_ringq_v1_Queue_Work_PATH, MODE_NAMED, C},
    {pwm_ringq_v1_Queue_Ack_PATH, MODE_SOME, C},
    {pwm_ringq_v1_Queue_Nack_PATH, MODE_SOME, C},
    {pwm_ringq_v1_Queue_Extend_PATH, MODE_SOME, C},
    {pwm_ringq_v1_Admin_ListQueues_PATH, MODE_ALL, A},
    {pwm_ringq_v1_Admin_GetQueue_PATH, MODE_NAMED, A},
    {pwm_ringq_v1_Admin_ConfigureQueue_PATH, MODE_NAMED, A},
    {pwm_ringq_v1_Admin_PauseQueue_PATH, MODE_NAMED, A},
    {pwm_ringq_v1_Admin_ResumeQueue_PATH, MODE_NAMED, A},
    {pwm_ringq_v1_Admin_PurgeQueue_PATH, MODE_NAMED, A},
    {pwm_ringq_v1_Admin_DeleteQueue_PATH, MODE_NAMED, A},
    {pwm_ringq_v1_Admin_ListDeadTasks_PATH, MODE_NAMED, A},
    {pwm_ringq_v1_Admin_RedriveDeadTasks_PATH, MODE_NAMED, A},
    {pwm_ringq_v1_Admin_PeekTasks_PATH, MODE_NAMED, A},
    {pwm_ringq_v1_Admin_GetTask_PATH, MODE_ALL, A},
    {pwm_ringq_v1_Admin_DeleteTask_PATH, MODE_ALL, A},
    {pwm_ringq_v1_Admin_Audit_PATH, MODE_ALL, A},
    {pwm_ringq_v1_Admin_ListLeases_PATH, MODE_ALL, A},
    {pwm_ringq_v1_Admin_GetPartition_PATH, MODE_ALL, A},
    {pwm_ringq_v1_Admin_ListWorkers_PATH, MODE_ALL, A},
    {pwm_ringq_v1_Streams_Publish_PATH, MODE_NAMED, P},
    {pwm_ringq_v1_Streams_PublishStream_PATH, MODE_NAMED, P},
    {pwm_ringq_v1_Streams_Fetch_PATH, MODE_NAMED, C},
    {pwm_ringq_v1_Streams_Consume_PATH, MODE_NAMED, C},
    {pwm_ringq_v1_Streams_AckMessages_PATH, MODE_NAMED, C},
    {pwm_ringq_v1_Streams_Read_PATH, MODE_NAMED, C},
    {pwm_ringq_v1_Streams_GetMessage_PATH, MODE_NAMED, C},
    {pwm_ringq_v1_Streams_CreateStream_PATH, MODE_NAMED, A},
    {pwm_ringq_v1_Streams_UpdateStream_PATH, MODE_NAMED, A},
    {pwm_ringq_v1_Streams_GetStream_PATH, MODE_NAMED, A},
    {pwm_ringq_v1_Streams_DeleteStream_PATH, MODE_NAMED, A},
    {pwm_ringq_v1_Streams_PurgeStream_PATH, MODE_NAMED, A},
    {pwm_ringq_v1_Streams_ListStreams_PATH, MODE_ALL, A},
    {pwm_ringq_v1_Streams_CreateConsumer_PATH, MODE_NAMED, A},
    {pwm_ringq_v1_Streams_GetConsumer_PATH, MODE_NAMED, A},
    {pwm_ringq_v1_Streams_ListConsumers_PATH, MODE_NAMED, A},
    {pwm_ringq_v1_Streams_DeleteConsumer_PATH, MODE_NAMED, A},
    {pwm_ringq_v1_Streams_PauseConsumer_PATH, MODE_NAMED, A},
    {pwm_ringq_v1_Streams_ResetConsumer_PATH, MODE_NAMED, A},
    {pwm_externalscaler_ExternalScaler_IsActive_PATH, MODE_ALL, M},
    {pwm_externalscaler_ExternalScaler_StreamIsActive_PATH, MODE_ALL, M},
    {pwm_externalscaler_ExternalScaler_GetMetricSpec_PATH, MODE_ALL, M},
    {pwm_externalscaler_ExternalScaler_GetMetrics_PATH, MODE_ALL, M},
    {pwm_grpc_reflection_v1_ServerReflection_ServerReflectionInfo_PATH, MODE_AUTHN, 0},
    {pwm_grpc_reflection_v1alpha_ServerReflection_ServerReflectionInfo_PATH, MODE_AUTHN, 0},
    {"/grpc.health.v1.Health/Check", MODE_OPEN, 0},
    {"/grpc.health.v1.Health/List", MODE_OPEN, 0},
    {"/grpc.health.v1.Health/Watch", MODE_OPEN, 0},
};
#undef P
#undef C
#undef A
#undef M

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static srv_auth_table *current; /* under `lock` */
static const char *auth_path;   /* --auth-file; NULL: auth off */

bool srv_auth_enabled(void) { return auth_path != NULL; }

int srv_auth_start(const char *path)
{
    char err[SRV_AUTH_ERR_BYTES];
    srv_auth_table *t;
    int r = srv_auth_table_load(path, &t, err);
    if (r < 0) {
        fprintf(stderr, "ringqd: --auth-file: %s\n", err);
        return r;
    }
    if (srv_auth_table_ntokens(t) == 0)
        fprintf(stderr,
                "ringqd: --auth-file %s defines no token: every call but health is "
                "refused\n",
                path);
    current = t;
    auth_path = path;
    return 0;
}

int srv_auth_reload(void)
{
    if (!auth_path) return 0;
    char err[SRV_AUTH_ERR_BYTES];
    srv_auth_table *t;
    int r = srv_auth_table_load(auth_path, &t, err);
    if (r < 0) {
        log_error("auth file not reloaded; the previous one stays in force", "reason=\"%s\"", err);
        return r;
    }
    int lr = pthread_rwlock_wrlock(&lock);
    if (lr != 0) {
        srv_auth_table_destroy(t);
        log_error("auth file not reloaded; the previous one stays in force", "err=%d", -lr);
        return -lr;
    }
    srv_auth_table *old = current;
    current = t;
    pthread_rwlock_unlock(&lock);
    srv_auth_table_destroy(old);
    log_info("auth file reloaded", "path=%s tokens=%zu", auth_path, srv_auth_table_ntokens(t));
    return 0;
}

/* The current table under the read lock, or NULL when the lock cannot be taken (EAGAIN: too
 * many readers), which every caller treats as no known token: it fails closed. */
static const srv_auth_table *table_get(void)
{
    return pthread_rwlock_rdlock(&lock) == 0 ? current : NULL;
}

static void table_put(const srv_auth_table *t)
{
    if (t) pthread_rwlock_unlock(&lock);
}

static const auth_method *method_row(const char *path)
{
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strcmp(methods[i].path, path) == 0) return &methods[i];
    return NULL;
}

/* The bearer secret of "Bearer SECRET" (scheme case-insensitive, RFC 6750 2.1), or NULL. */
static const char *bearer(const char *v, size_t n, size_t *len)
{
    if (!v || n < 7 || strncasecmp(v, "bearer ", 7) != 0) return NULL;
    v += 7, n -= 7;
    while (n && *v == ' ') v++, n--;
    while (n && v[n - 1] == ' ') n--;
    *len = n;
    return n ? v : NULL;
}

/* The one identity rule of every door, gRPC and HTTP alike (under the read lock): the bearer
 * secret of `authz` (an Authorization header or metadata value, NULL when absent), else the
 * verified certificate subject of `peer` (NULL: not TLS) on a `cert` line. -1: none known.
 * *had: credentials were presented. */
static int identify(const srv_auth_table *t, const char *authz, size_t authz_len,
                    const srv_tls_peer *peer, bool *had)
{
    size_t n = 0;
    const char *s = bearer(authz, authz_len, &n);
    *had = authz != NULL && authz_len > 0;
    if (!t) return -1;
    if (s) return srv_auth_table_find_secret(t, s, n);
    /* mTLS: a certificate verified against --tls-client-ca; an unverified one proves nothing. */
    if (peer && peer->cert && peer->verified) {
        *had = true;
        return srv_auth_table_find_subject(t, peer->subject, strlen(peer->subject));
    }
    return -1;
}

/* The token a call presents: identify() with its metadata and its connection's TLS peer. */
static int call_token(const srv_auth_table *t, const pw_grpc_call *call, bool *had)
{
    const pw_grpc_md *md = pw_grpc_call_find_metadata(call, "authorization");
    const srv_tls_peer *peer = srv_conn_tls_peer(pw_grpc_call_conn_user(call));
    int tok = identify(t, md ? (const char *)md->value : NULL, md ? md->value_len : 0, peer, had);
    *had = *had || md != NULL; /* an empty authorization value is still presented */
    return tok;
}

static const char *unauthenticated_why(bool had)
{
    return had ? "unknown credentials (the bearer token or certificate is not in the server's "
                 "auth file)"
               : "credentials required: send authorization: Bearer <token>";
}

static void deny_unauthenticated(pw_grpc_call *call, bool had)
{
    pw_grpc_call_finish(call, PW_GRPC_UNAUTHENTICATED, unauthenticated_why(had));
}

static const char *kind_name(srv_auth_kind k)
{
    return k == SRV_AUTH_QUEUE ? "queue" : k == SRV_AUTH_STREAM ? "stream" : "";
}

static void deny_why(char m[SRV_AUTH_ERR_BYTES], srv_auth_perm perm, srv_auth_kind kind,
                     const char *name, size_t len)
{
    if (kind == SRV_AUTH_ALL)
        snprintf(m, SRV_AUTH_ERR_BYTES,
                 "permission denied: missing %s on every queue and stream (*)",
                 srv_auth_perm_name(perm));
    else if (len == SIZE_MAX)
        snprintf(m, SRV_AUTH_ERR_BYTES, "permission denied: missing %s on any %s",
                 srv_auth_perm_name(perm), kind_name(kind));
    else
        snprintf(m, SRV_AUTH_ERR_BYTES, "permission denied: missing %s on %s '%.*s'",
                 srv_auth_perm_name(perm), kind_name(kind), (int)(len > 128 ? 128 : len), name);
}

static void deny(pw_grpc_call *call, srv_auth_perm perm, srv_auth_kind kind, const char *name,
                 size_t len)
{
    char m[SRV_AUTH_ERR_BYTES];
    deny_why(m, perm, kind, name, len);
    pw_grpc_call_finish(call, PW_GRPC_PERMISSION_DENIED, m);
}

static bool guard(pw_grpc_call *call, const pw_grpc_method *m)
{
    const auth_method *row = method_row(m->path);
    if (row && row->mode == MODE_OPEN) return true;
    const srv_auth_table *t = table_get();
    bool had;
    int tok = call_token(t, call, &had);
    bool ok = false, authn = tok >= 0;
    if (authn && row) {
        switch (row->mode) {
        case MODE_OPEN:
        case MODE_AUTHN: ok = true; break;
        case MODE_ALL: ok = srv_auth_table_allows(t, tok, row->perm, SRV_AUTH_ALL, NULL, 0); break;
        case MODE_SOME:
        case MODE_NAMED: ok = srv_auth_table_allows_some(t, tok, row->perm); break;
        }
    }
    table_put(t);
    if (!authn) deny_unauthenticated(call, had);
    else if (!row) pw_grpc_call_finish(call, PW_GRPC_PERMISSION_DENIED, "permission denied");
    else if (!ok)
        deny(call, row->perm,
             row->mode == MODE_ALL                             ? SRV_AUTH_ALL
             : strncmp(m->path, "/ringq.v1.Streams/", 18) == 0 ? SRV_AUTH_STREAM
                                                               : SRV_AUTH_QUEUE,
             NULL, SIZE_MAX);
    return authn && row && ok;
}

int srv_auth_bind(pw_grpc_server *g)
{
    if (!auth_path) return 0;
    for (size_t i = 0; i < pw_grpc_server_nmethods(g); i++) {
        const char *path = pw_grpc_server_method_at(g, i)->path;
        if (!method_row(path)) {
            fprintf(stderr, "ringqd: method %s has no row in server/srv_auth.c's table\n", path);
            return -ENOENT;
        }
    }
    pw_grpc_server_set_guard(g, guard);
    return 0;
}

bool srv_auth_call(pw_grpc_call *call, srv_auth_perm perm, srv_auth_kind kind, const char *name,
                   size_t len)
{
    if (!auth_path || pw_grpc_call_is_local(call)) return true;
    const srv_auth_table *t = table_get();
    bool had;
    int tok = call_token(t, call, &had);
    bool ok = tok >= 0 && srv_auth_table_allows(t, tok, perm, kind, name, len);
    table_put(t);
    if (tok < 0) deny_unauthenticated(call, had);
    else if (!ok) deny(call, perm, kind, name, len);
    return ok;
}

int srv_auth_check(const pw_grpc_call *call, srv_auth_perm perm, srv_auth_kind kind,
                   const char *name, size_t len, char why[SRV_AUTH_ERR_BYTES])
{
    if (!auth_path || pw_grpc_call_is_local(call)) return 0;
    const srv_auth_table *t = table_get();
    bool had;
    int tok = call_token(t, call, &had);
    bool ok = tok >= 0 && srv_auth_table_allows(t, tok, perm, kind, name, len);
    table_put(t);
    if (tok < 0) {
        snprintf(why, SRV_AUTH_ERR_BYTES, "%s", unauthenticated_why(had));
        return PW_GRPC_UNAUTHENTICATED;
    }
    if (!ok) deny_why(why, perm, kind, name, len);
    return ok ? 0 : PW_GRPC_PERMISSION_DENIED;
}

int srv_auth_http(const char *authz, size_t authz_len, const srv_tls_peer *peer, srv_auth_perm perm,
                  srv_auth_kind kind, const char *name, size_t len)
{
    if (!auth_path) return 200;
    const srv_auth_table *t = table_get();
    bool had;
    int tok = identify(t, authz, authz_len, peer, &had);
    bool ok = tok >= 0 && srv_auth_table_allows(t, tok, perm, kind, name, len);
    table_put(t);
    return tok < 0 ? 401 : ok ? 200 : 403;
}

bool srv_auth_host_is_loopback(const char *host)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (strcmp(host, "*") == 0 || rt_addr_parse(host, 0, &ss, &sl) != 0) return false;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        return IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
    }
    return false;
}

int srv_auth_exposure_check(const char *prog, const char *host, bool tls, bool tokens,
                            bool insecure)
{
    if (insecure || srv_auth_host_is_loopback(host) || (tls && tokens)) return 0;
    fprintf(stderr,
            "%s: refusing --host %s: without TLS and tokens anyone who reaches the port can read "
            "and purge every queue. Listen on 127.0.0.1, or configure %s, or pass --insecure "
            "to accept that (docs/security.md)\n",
            prog, host,
            tls      ? "--auth-file"
            : tokens ? "TLS (--tls-cert, --tls-key)"
                     : "TLS and --auth-file");
    return -EPERM;
}

/* The permission a call's method needs (0 for rows that name none, and an unknown method). */
static srv_auth_perm method_perm(const pw_grpc_call *call)
{
    const auth_method *row = method_row(pw_grpc_call_method(call)->path);
    return row ? row->perm : 0;
}

bool srv_auth_call_named(pw_grpc_call *call, srv_auth_kind kind, const char *name, size_t len)
{
    if (!auth_path || !call) return true;
    return srv_auth_call(call, method_perm(call), kind, name, len);
}

int srv_auth_check_named(const pw_grpc_call *call, srv_auth_kind kind, const char *name, size_t len,
                         char why[SRV_AUTH_ERR_BYTES])
{
    if (!auth_path || !call) return 0;
    return srv_auth_check(call, method_perm(call), kind, name, len, why);
}
