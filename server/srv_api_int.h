/* server/srv_api_int: pieces shared by the JSON API's files (srv_api.c: the Admin routes,
 * srv_api_auth.c: flags and who may mutate, srv_api_info.c: server figures and rates). */
#ifndef SRV_API_INT_H
#define SRV_API_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/rt_buf.h"
#include "proto_wire/pw_grpc_util.h"
#include "proto_wire/pw_msg.h"
#include "server/srv_auth.h"
#include "server/srv_http.h"

#define SRV_API_CTYPE "application/json"
/* Arena of one decoded request or reply: a reply holds at most one gRPC message (4 MiB by
 * default), whose decoded arrays are a few times smaller than its bytes. */
#define SRV_API_ARENA_BYTES_MAX (64u * 1024u * 1024u)

/* The answer as JSON {"code": "<gRPC code name>", "message": ...} with the HTTP status that
 * fits the code. */
void srv_api_error(srv_http_call *hc, pw_grpc_status st, const char *message);
/* 200 with the JSON content type (the caller writes the body). */
void srv_api_ok(srv_http_call *hc);
/* Percent-decodes s[0..n) in place ('+' as a space when plus_space: query strings); returns
 * the new length. A '%' not followed by two hex digits stays as it is. */
size_t srv_api_pct_decode(char *s, size_t n, bool plus_space);

/* The JSON API's router and request parsers, with no I/O (what srv_api_handle runs before the
 * local call; tests/fuzz/fuzz_srv_api_route.c drives it): routes `method` on `path` (after
 * /api/v1/) and builds the route's request message from the JSON `body`, the `query` string and
 * the path segment, encoded into `out` (the caller's, initialised). Everything is borrowed for
 * the call. Returns 0 with *rpc set; -ENOENT: no route has the path; -EOPNOTSUPP: the path
 * exists for another method; -ENOMEM; another negative pw_json error with err (at least
 * PW_JSON_ERR_BYTES) saying what is wrong. */
int srv_api_route_parse(pw_http1_view method, const char *path, size_t n, pw_http1_view query,
                        pw_http1_view body, const pw_msg_method **rpc, buf *out, char *err);
/* What a JSON API route needs under --auth-file (docs/security.md, "The JSON API and the
 * dashboard"): */
typedef enum srv_api_need {
    SRV_API_NEED_COUNTS, /* a read of names, counts, configuration: `metrics`, or `admin` */
    SRV_API_NEED_DATA,   /* a read of task payloads: `admin` (as the gRPC method) */
    SRV_API_NEED_CHANGE, /* anything that changes state: `admin` */
} srv_api_need;

/* srv_api_auth.c: the --auth-file check of a request (its Authorization: Bearer token) for
 * `need` on `name` of `kind` (SRV_AUTH_ALL, NULL: on every name). true without --auth-file or
 * when allowed; false: the answer is set (401 UNAUTHENTICATED with WWW-Authenticate: Bearer,
 * or 403 PERMISSION_DENIED naming the missing permission). `name` borrowed for the call. */
bool srv_api_authorize(srv_http_call *hc, srv_api_need need, srv_auth_kind kind, const char *name,
                       size_t len);

/* srv_api_auth.c: whether this request may change anything (--ui read-only, the admin token,
 * the CSRF header and Origin). false: the refusal is already the call's answer. */
bool srv_api_may_mutate(srv_http_call *hc);

/* srv_api_info.c: the routes that are not Admin methods (server, rates). true when `path`
 * (after /api/v1/) is one: *w says whether it answered now. */
bool srv_api_info_route(srv_http_call *hc, const char *path, size_t n, srv_http_when *w);

#endif
