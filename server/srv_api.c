/* server/srv_api: the JSON API under /api/v1/ (ringq.v1.Admin, and ringq.v1.Streams' reads). See
 * srv_api.h and docs/http-api.md.
 *
 * A request's life: route (method and path pattern) -> the generated request struct, filled
 * from the JSON body, then the path segment and the query (pw_json) -> pw_msg_encode -> a
 * local call of the registered Admin method (the gRPC handler, unchanged) -> its reply decoded
 * and written as JSON. Scratch memory per request: a copy of the target and body (at most
 * SRV_CONN_IN_BYTES_MAX), the decoded struct's arena and the encoded request. */
#include "server/srv_api.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "proto_wire/pw_json.h"
#include "proto_wire/pw_msgs.h"
#include "server/srv_api_int.h"
#include "server/srv_auth.h"
#include "server/srv_http.h"
#include "server/srv_internal.h"

#define ADMIN(name) (&pwm_ringq_v1_Admin_methods[pwm_ringq_v1_Admin_##name##_INDEX])
#define STREAMS(name) (&pwm_ringq_v1_Streams_methods[pwm_ringq_v1_Streams_##name##_INDEX])

/* One route: `pattern` is relative to /api/v1/, "{}" is one path segment, which fills the
 * request field `param`. Under --auth-file the route needs `need` (srv_api_int.h) on the
 * segment's name of `kind`, or on every name (`*`) when kind is SRV_AUTH_ALL (no name, or a
 * task id or partition whose queue is only known after the lookup). */
typedef struct api_route {
    const char *method;
    const char *pattern;
    const pw_msg_method *rpc;
    const char *param;
    bool mutates;
    srv_api_need need;
    srv_auth_kind kind;
} api_route;

#define Q SRV_AUTH_QUEUE
#define S SRV_AUTH_STREAM
#define ALL SRV_AUTH_ALL
#define COUNTS SRV_API_NEED_COUNTS
#define DATA SRV_API_NEED_DATA
#define CHANGE SRV_API_NEED_CHANGE
static const api_route routes[] = {
    {"GET", "queues", ADMIN(ListQueues), NULL, false, COUNTS, ALL},
    {"GET", "queues/{}", ADMIN(GetQueue), "name", false, COUNTS, Q},
    {"DELETE", "queues/{}", ADMIN(DeleteQueue), "name", true, CHANGE, Q},
    {"POST", "queues/{}/config", ADMIN(ConfigureQueue), "name", true, CHANGE, Q},
    {"POST", "queues/{}/pause", ADMIN(PauseQueue), "name", true, CHANGE, Q},
    {"POST", "queues/{}/resume", ADMIN(ResumeQueue), "name", true, CHANGE, Q},
    {"POST", "queues/{}/purge", ADMIN(PurgeQueue), "name", true, CHANGE, Q},
    {"GET", "queues/{}/tasks", ADMIN(PeekTasks), "queue", false, DATA, Q},
    {"GET", "queues/{}/dead", ADMIN(ListDeadTasks), "queue", false, DATA, Q},
    {"POST", "queues/{}/redrive", ADMIN(RedriveDeadTasks), "queue", true, CHANGE, Q},
    {"GET", "queues/{}/leases", ADMIN(ListLeases), "queue", false, DATA, Q}, /* lease tokens */
    {"GET", "tasks/{}", ADMIN(GetTask), "id", false, DATA, ALL},
    {"DELETE", "tasks/{}", ADMIN(DeleteTask), "id", true, CHANGE, ALL},
    {"GET", "partitions/{}", ADMIN(GetPartition), "partition", false, COUNTS, ALL},
    {"GET", "audit", ADMIN(Audit), NULL, false, COUNTS, ALL},
    {"GET", "workers", ADMIN(ListWorkers), NULL, false, COUNTS, ALL},
    /* ringq.v1.Streams: what the dashboard shows (streams, consumers and their lag). */
    {"GET", "streams", STREAMS(ListStreams), NULL, false, COUNTS, ALL},
    {"GET", "streams/{}", STREAMS(GetStream), "name", false, COUNTS, S},
    {"GET", "streams/{}/consumers", STREAMS(ListConsumers), "stream", false, COUNTS, S},
    {"POST", "streams/{}/purge", STREAMS(PurgeStream), "name", true, CHANGE, S},
};
#undef Q
#undef S
#undef ALL
#undef COUNTS
#undef DATA
#undef CHANGE

/* ---- answers ---- */

/* The HTTP status of a gRPC status (google.rpc.Code's documented mapping, FAILED_PRECONDITION
 * and ABORTED as 409: the request was understood but the queue's state refuses it). */
static int http_status_of(pw_grpc_status st, const char **reason)
{
    static const struct {
        int http;
        const char *reason;
    } map[] = {
        [PW_GRPC_OK] = {200, "OK"},
        [PW_GRPC_CANCELLED] = {499, "Client Closed Request"},
        [PW_GRPC_UNKNOWN] = {500, "Internal Server Error"},
        [PW_GRPC_INVALID_ARGUMENT] = {400, "Bad Request"},
        [PW_GRPC_DEADLINE_EXCEEDED] = {504, "Gateway Timeout"},
        [PW_GRPC_NOT_FOUND] = {404, "Not Found"},
        [PW_GRPC_ALREADY_EXISTS] = {409, "Conflict"},
        [PW_GRPC_PERMISSION_DENIED] = {403, "Forbidden"},
        [PW_GRPC_RESOURCE_EXHAUSTED] = {429, "Too Many Requests"},
        [PW_GRPC_FAILED_PRECONDITION] = {409, "Conflict"},
        [PW_GRPC_ABORTED] = {409, "Conflict"},
        [PW_GRPC_OUT_OF_RANGE] = {400, "Bad Request"},
        [PW_GRPC_UNIMPLEMENTED] = {501, "Not Implemented"},
        [PW_GRPC_INTERNAL] = {500, "Internal Server Error"},
        [PW_GRPC_UNAVAILABLE] = {503, "Service Unavailable"},
        [PW_GRPC_DATA_LOSS] = {500, "Internal Server Error"},
        [PW_GRPC_UNAUTHENTICATED] = {401, "Unauthorized"},
    };
    if ((unsigned)st >= sizeof map / sizeof map[0]) st = PW_GRPC_UNKNOWN;
    *reason = map[st].reason;
    return map[st].http;
}

void srv_api_error(srv_http_call *hc, pw_grpc_status st, const char *message)
{
    hc->status = http_status_of(st, &hc->reason);
    hc->ctype = SRV_API_CTYPE;
    buf *b = &hc->body_out;
    buf_truncate(b, 0);
    const char *code = pw_grpc_status_name((int)st);
    int rc = buf_append(b, "{\"code\":", 8);
    if (rc == 0) rc = pw_json_write_str(b, code, strlen(code));
    if (rc == 0) rc = buf_append(b, ",\"message\":", 11);
    if (rc == 0) rc = pw_json_write_str(b, message, strlen(message));
    if (rc == 0) rc = buf_append(b, "}\n", 2);
    if (rc < 0) buf_truncate(b, 0);
}

void srv_api_ok(srv_http_call *hc)
{
    hc->status = 200;
    hc->reason = "OK";
    hc->ctype = SRV_API_CTYPE;
}

/* ---- the local call ---- */

typedef struct api_call {
    srv_http_call *hc;
    const pw_msg_method *rpc;
} api_call;

/* The Admin handler finished: its reply as JSON, or its status as an error. */
static void on_local_done(void *ud, pw_grpc_status st, const char *message, const uint8_t *msg,
                          size_t len)
{
    api_call *ac = ud;
    srv_http_call *hc = ac->hc;
    if (st != PW_GRPC_OK) {
        srv_api_error(hc, st, message ? message : "");
    } else {
        pw_msg_arena a;
        pw_msg_arena_init_heap(&a, PW_MSG_ARENA_CHUNK_BYTES, SRV_API_ARENA_BYTES_MAX);
        void *out = rt_calloc(1, ac->rpc->out->size);
        int rc = out ? pw_msg_decode(ac->rpc->out, out, msg, len, &a) : -ENOMEM;
        if (rc == 0) {
            srv_api_ok(hc);
            rc = pw_json_write_msg(&hc->body_out, ac->rpc->out, out);
            if (rc == 0) rc = buf_append(&hc->body_out, "\n", 1);
        }
        if (rc < 0) srv_api_error(hc, PW_GRPC_RESOURCE_EXHAUSTED, "the reply could not be written");
        rt_free(out);
        pw_msg_arena_deinit(&a);
    }
    rt_free(ac);
    srv_http_call_done(hc);
}

/* Runs the registered method of `rpc` with the encoded request req[0..len). */
static srv_http_when run_local(srv_http_call *hc, const pw_msg_method *rpc, const buf *req)
{
    const pw_grpc_server *g = hc->c->sh->rt->grpc;
    const pw_grpc_method *m = pw_grpc_server_find(g, rpc->path, strlen(rpc->path));
    if (!m) {
        srv_api_error(hc, PW_GRPC_UNIMPLEMENTED, "method not registered");
        return SRV_HTTP_NOW;
    }
    api_call *ac = rt_calloc(1, sizeof *ac);
    pw_grpc_call *call = ac ? pw_grpc_call_new_local(g, m, on_local_done, ac) : NULL;
    if (!call) {
        rt_free(ac);
        srv_api_error(hc, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return SRV_HTTP_NOW;
    }
    *ac = (api_call){hc, rpc};
    m->on_message(call, buf_begin(req), buf_size(req));
    pw_grpc_call_unref(call); /* the handler holds its own reference while it needs one */
    return SRV_HTTP_LATER;    /* on_local_done answers (maybe already has) */
}

/* ---- requests ---- */

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

size_t srv_api_pct_decode(char *s, size_t n, bool plus_space)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            s[o++] = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
            i += 2;
        } else s[o++] = plus_space && s[i] == '+' ? ' ' : s[i];
    }
    return o;
}

/* Matches `path` (after /api/v1/) against `pattern`; *seg and *seg_len: the "{}" segment. */
static bool match(const char *pattern, const char *path, size_t n, const char **seg,
                  size_t *seg_len)
{
    size_t i = 0;
    for (const char *p = pattern; *p; p++) {
        if (p[0] == '{' && p[1] == '}') {
            size_t s = i;
            while (i < n && path[i] != '/') i++;
            if (i == s) return false;
            *seg = path + s;
            *seg_len = i - s;
            p++;
            continue;
        }
        if (i >= n || path[i] != *p) return false;
        i++;
    }
    return i == n;
}

/* Query parameters into fields of `msg`; text is the request's writable copy of the query. */
static int apply_query(const pw_msg_desc *d, void *msg, char *q, size_t n, char *err)
{
    for (size_t i = 0; i < n;) {
        size_t e = i;
        while (e < n && q[e] != '&') e++;
        size_t eq = i;
        while (eq < e && q[eq] != '=') eq++;
        if (e > i) {
            size_t kl = srv_api_pct_decode(q + i, eq - i, true);
            size_t vl = eq < e ? srv_api_pct_decode(q + eq + 1, e - eq - 1, true) : 0;
            int rc = pw_json_set_field(d, msg, q + i, kl, q + eq + (eq < e), vl, err);
            if (rc < 0) return rc;
        }
        i = e + 1;
    }
    return 0;
}

/* The route's request: body, then query, then path segment; encoded into `out`. scratch holds
 * body.n + seg_len + query.n bytes (the writable copies the parsers decode in place). */
static int build_request(pw_http1_view body_in, pw_http1_view query, const api_route *r,
                         const char *seg, size_t seg_len, char *scratch, buf *out, char *err)
{
    const pw_msg_desc *d = r->rpc->in;
    pw_msg_arena a;
    pw_msg_arena_init_heap(&a, PW_MSG_ARENA_CHUNK_BYTES, SRV_API_ARENA_BYTES_MAX);
    void *msg = rt_calloc(1, d->size);
    int rc = msg ? 0 : -ENOMEM;
    char *body = scratch, *sg = scratch + body_in.n, *q = sg + seg_len;
    if (body_in.n) memcpy(body, body_in.p, body_in.n); /* views may be {NULL, 0} */
    if (seg_len) memcpy(sg, seg, seg_len);
    if (query.n) memcpy(q, query.p, query.n);
    size_t bl = body_in.n;
    while (bl > 0 && (body[bl - 1] == ' ' || body[bl - 1] == '\n' || body[bl - 1] == '\r')) bl--;
    if (rc == 0 && bl > 0) rc = pw_json_read_msg(d, msg, body, bl, &a, err);
    if (rc == 0) rc = apply_query(d, msg, q, query.n, err);
    if (rc == 0 && r->param) { /* last: neither body nor query can aim elsewhere */
        size_t sl = srv_api_pct_decode(sg, seg_len, false);
        rc = pw_json_set_field(d, msg, r->param, strlen(r->param), sg, sl, err);
    }
    if (rc == 0 && pw_msg_encode(d, msg, out) < 0) rc = -ENOMEM;
    if (rc == -ENOMEM) snprintf(err, PW_JSON_ERR_BYTES, "out of memory");
    rt_free(msg);
    pw_msg_arena_deinit(&a);
    return rc;
}

/* The --auth-file check of route `r` on its (percent-decoded) path segment. Runs before the
 * request is built and the local call made: a local call carries no credentials, and the
 * handler's own checks let it through (srv_auth_call), so this is its only check. */
static bool route_authorized(srv_http_call *hc, const api_route *r, const char *seg, size_t seg_len)
{
    if (!srv_auth_enabled()) return true;
    if (r->kind == SRV_AUTH_ALL) return srv_api_authorize(hc, r->need, SRV_AUTH_ALL, NULL, 0);
    char *name = rt_malloc(seg_len + 1);
    if (!name) {
        srv_api_error(hc, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return false;
    }
    if (seg_len) memcpy(name, seg, seg_len);
    size_t n = srv_api_pct_decode(name, seg_len, false);
    bool ok = srv_api_authorize(hc, r->need, r->kind, name, n);
    rt_free(name);
    return ok;
}

static srv_http_when run_route(srv_http_call *hc, const api_route *r, const char *seg,
                               size_t seg_len)
{
    if (!route_authorized(hc, r, seg, seg_len)) return SRV_HTTP_NOW;
    if (r->mutates && !srv_api_may_mutate(hc)) return SRV_HTTP_NOW;
    char err[PW_JSON_ERR_BYTES];
    char *scratch = rt_malloc(hc->body.n + seg_len + hc->query.n + 1);
    buf req;
    buf_init(&req, SRV_CONN_IN_BYTES_MAX * 2);
    int rc = scratch ? build_request(hc->body, hc->query, r, seg, seg_len, scratch, &req, err)
                     : -ENOMEM;
    rt_free(scratch);
    srv_http_when w = SRV_HTTP_NOW;
    if (rc == -ENOMEM) srv_api_error(hc, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    else if (rc < 0) srv_api_error(hc, PW_GRPC_INVALID_ARGUMENT, err);
    else w = run_local(hc, r->rpc, &req);
    buf_deinit(&req);
    return w;
}

/* The route for `method` on `path` (after /api/v1/), its "{}" segment in *seg; NULL when none,
 * *path_known telling whether another method has the path. HEAD is served as GET. */
static const api_route *find_route(pw_http1_view method, const char *path, size_t n,
                                   const char **seg, size_t *seg_len, bool *path_known)
{
    *path_known = false;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (!match(routes[i].pattern, path, n, seg, seg_len)) continue;
        *path_known = true;
        if (pw_http1_view_eq(method, routes[i].method) ||
            (pw_http1_view_eq(method, "HEAD") && strcmp(routes[i].method, "GET") == 0))
            return &routes[i];
    }
    return NULL;
}

int srv_api_route_parse(pw_http1_view method, const char *path, size_t n, pw_http1_view query,
                        pw_http1_view body, const pw_msg_method **rpc, buf *out, char *err)
{
    const char *seg = NULL;
    size_t seg_len = 0;
    bool path_known;
    err[0] = 0;
    const api_route *r = find_route(method, path, n, &seg, &seg_len, &path_known);
    if (!r) return path_known ? -EOPNOTSUPP : -ENOENT;
    *rpc = r->rpc;
    char *scratch = rt_malloc(body.n + seg_len + query.n + 1);
    int rc = scratch ? build_request(body, query, r, seg, seg_len, scratch, out, err) : -ENOMEM;
    rt_free(scratch);
    return rc;
}

srv_http_when srv_api_handle(srv_http_call *hc)
{
    static const char prefix[] = "/api/v1/";
    srv_http_header(hc, "Cache-Control", "no-store");
    srv_http_header(hc, "X-Content-Type-Options", "nosniff");
    if (hc->path.n < sizeof prefix - 1 || memcmp(hc->path.p, prefix, sizeof prefix - 1) != 0) {
        srv_api_error(hc, PW_GRPC_NOT_FOUND, "no such API: the API lives under /api/v1/");
        return SRV_HTTP_NOW;
    }
    const char *p = hc->path.p + sizeof prefix - 1;
    size_t n = hc->path.n - (sizeof prefix - 1);
    srv_http_when w;
    if (srv_api_info_route(hc, p, n, &w)) return w;
    bool path_known = false;
    const char *seg = NULL;
    size_t seg_len = 0;
    const api_route *r = find_route(hc->method, p, n, &seg, &seg_len, &path_known);
    if (r) return run_route(hc, r, seg, seg_len);
    if (path_known) srv_api_error(hc, PW_GRPC_UNIMPLEMENTED, "method not allowed on this path");
    else srv_api_error(hc, PW_GRPC_NOT_FOUND, "no such API path");
    if (path_known) hc->status = 405, hc->reason = "Method Not Allowed";
    return SRV_HTTP_NOW;
}
