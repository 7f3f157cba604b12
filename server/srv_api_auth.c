/* server/srv_api_auth: ringqd's --ui / --admin-token flags and the checks every mutating JSON
 * API request passes (docs/http-api.md, "Safety").
 *
 * A mutation (POST, DELETE) is allowed only when all of these hold, checked in this order:
 *   1. the server does not run with --ui read-only                    (else 403)
 *   2. it came over HTTP/1.1 (h2c plain requests carry no headers)     (else 403)
 *   3. CSRF: it carries the custom header X-Ringq-Token, and its Origin, when sent, is this
 *      server (http://<Host>), and Sec-Fetch-Site, when sent, is same-origin or none (else 403).
 *      A page of another origin cannot send a custom header without a CORS preflight, which we
 *      never grant, and an HTML form cannot send one at all: the header alone defeats CSRF,
 *      without cookies or server state (a double-submit token would need both). Origin and
 *      Sec-Fetch-Site are the browser's own word on where the request came from.
 *   4. the token: with --auth-file, the bearer token was checked already (srv_api_authorize:
 *      `admin` on what the change touches) and X-Ringq-Token's value is not read; else with
 *      --admin-token(-file), X-Ringq-Token must equal it (compared in constant time); without
 *      either, only a loopback peer may mutate, with any non-empty value (else 401).
 *
 * Under --auth-file every route is checked first (srv_api_authorize, before the local call):
 * reads of counts need `metrics` or `admin`, reads of payloads and changes need `admin`, on the
 * queue or stream the path names (on `*` when it names none). --admin-token is the simple mode
 * for a server without an auth file; ringqd refuses both together (srv_api_check_flags).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "server/srv_api.h"
#include "server/srv_api_int.h"
#include "server/srv_internal.h"
#include "server/srv_runtime.h"
#include "server/srv_tls.h"

srv_api_cfg srv_api = {.ui = SRV_UI_ON};

#define TOKEN_HEADER "x-ringq-token"

static int set_token(const char *v, size_t n, const char *from)
{
    while (n > 0 && (v[n - 1] == '\n' || v[n - 1] == '\r' || v[n - 1] == ' ')) n--;
    if (n == 0 || n > SRV_API_TOKEN_BYTES_MAX) {
        fprintf(stderr, "ringqd: the admin token %s must be 1..%u bytes\n", from,
                SRV_API_TOKEN_BYTES_MAX);
        return SRV_FLAG_BAD_SAID;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f) {
            fprintf(stderr, "ringqd: the admin token %s must be printable ASCII, no spaces\n",
                    from);
            return SRV_FLAG_BAD_SAID;
        }
    memcpy(srv_api.token, v, n);
    srv_api.token[n] = 0;
    srv_api.token_len = n;
    return 1;
}

static int token_file(const char *path)
{
    char b[SRV_API_TOKEN_BYTES_MAX + 8];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "ringqd: --admin-token-file %s: %s\n", path, strerror(errno));
        return SRV_FLAG_BAD_SAID;
    }
    ssize_t n = read(fd, b, sizeof b);
    close(fd);
    if (n < 0) {
        fprintf(stderr, "ringqd: --admin-token-file %s: %s\n", path, strerror(errno));
        return SRV_FLAG_BAD_SAID;
    }
    return set_token(b, (size_t)n, "in --admin-token-file");
}

int srv_api_flag(const char *name, const char *value)
{
    bool ui = strcmp(name, "ui") == 0, tok = strcmp(name, "admin-token") == 0,
         file = strcmp(name, "admin-token-file") == 0;
    if (!ui && !tok && !file) return 0;
    if (!value) return 1; /* only asked whether the flag is ours */
    if (tok) return set_token(value, strlen(value), "of --admin-token");
    if (file) return token_file(value);
    if (strcmp(value, "on") == 0) srv_api.ui = SRV_UI_ON;
    else if (strcmp(value, "read-only") == 0) srv_api.ui = SRV_UI_READ_ONLY;
    else if (strcmp(value, "off") == 0) srv_api.ui = SRV_UI_OFF;
    else {
        fprintf(stderr, "ringqd: --ui must be on, read-only or off (got '%s')\n", value);
        return SRV_FLAG_BAD_SAID;
    }
    return 1;
}

/* Constant-time comparison: the time taken does not say how many leading bytes matched. */
static bool token_eq(pw_http1_view v)
{
    unsigned char d = v.n != srv_api.token_len;
    for (size_t i = 0; i < v.n; i++)
        d |= (unsigned char)(v.p[i] ^ srv_api.token[i < srv_api.token_len ? i : 0]);
    return d == 0;
}

/* Origin, when sent, must be this server: "http://" (or "https://" over TLS) followed by the
 * Host header. */
static bool same_origin(const srv_http_call *hc)
{
    pw_http1_view o = srv_http_req_header(hc, "origin"), h = srv_http_req_header(hc, "host");
    if (o.p) {
        const char *scheme = srv_conn_tls_peer(hc->c) ? "https://" : "http://";
        size_t sl = strlen(scheme);
        if (!h.p || o.n != sl + h.n || strncasecmp(o.p, scheme, sl) != 0 ||
            strncasecmp(o.p + sl, h.p, h.n) != 0)
            return false;
    }
    pw_http1_view s = srv_http_req_header(hc, "sec-fetch-site");
    return !s.p || pw_http1_view_eq(s, "same-origin") || pw_http1_view_eq(s, "none");
}

bool srv_api_may_mutate(srv_http_call *hc)
{
    if (srv_api.ui == SRV_UI_READ_ONLY) {
        srv_api_error(hc, PW_GRPC_PERMISSION_DENIED,
                      "read-only: the server runs with --ui read-only");
        return false;
    }
    if (!hc->h1) {
        srv_api_error(hc, PW_GRPC_PERMISSION_DENIED,
                      "changes go over HTTP/1.1 (h2c plain requests carry no headers)");
        return false;
    }
    pw_http1_view t = srv_http_req_header(hc, TOKEN_HEADER);
    if (!t.p || t.n == 0) {
        srv_api_error(hc, PW_GRPC_PERMISSION_DENIED,
                      "a change needs the X-Ringq-Token header (CSRF protection)");
        return false;
    }
    if (!same_origin(hc)) {
        srv_api_error(hc, PW_GRPC_PERMISSION_DENIED, "cross-origin request refused");
        return false;
    }
    if (srv_auth_enabled()) return true; /* the bearer token holds admin: srv_api_authorize */
    if (srv_api.token_len > 0 ? !token_eq(t) : !srv_http_peer_loopback(hc)) {
        srv_api_error(hc, PW_GRPC_UNAUTHENTICATED,
                      srv_api.token_len > 0
                          ? "bad admin token"
                          : "changes from other hosts need ringqd --admin-token or "
                            "--admin-token-file");
        return false;
    }
    return true;
}

bool srv_api_authorize(srv_http_call *hc, srv_api_need need, srv_auth_kind kind, const char *name,
                       size_t len)
{
    if (!srv_auth_enabled()) return true;
    /* Counts: `metrics`, or `admin`, which reads the same through the gRPC Admin service. */
    if (need == SRV_API_NEED_COUNTS &&
        srv_auth_http(hc->authz.p, hc->authz.n, srv_conn_tls_peer(hc->c), SRV_AUTH_ADMIN, kind,
                      name, len) == 200)
        return true;
    srv_auth_perm perm = need == SRV_API_NEED_COUNTS ? SRV_AUTH_METRICS : SRV_AUTH_ADMIN;
    if (srv_http_authorize(hc, perm, kind, name, len)) return true;
    int status = hc->status;
    char why[SRV_AUTH_ERR_BYTES];
    const char *kn = kind == SRV_AUTH_QUEUE ? "queue" : "stream";
    if (status == 401)
        snprintf(why, sizeof why,
                 "credentials required: send Authorization: Bearer <token>, a "
                 "token of the server's --auth-file (or, over mTLS, a client certificate on "
                 "one of its cert lines)");
    else if (kind == SRV_AUTH_ALL)
        snprintf(why, sizeof why, "permission denied: missing %s on every queue and stream (*)",
                 srv_auth_perm_name(perm));
    else
        snprintf(why, sizeof why, "permission denied: missing %s on %s '%.*s'",
                 srv_auth_perm_name(perm), kn, (int)(len > 128 ? 128 : len), name);
    srv_api_error(hc, status == 401 ? PW_GRPC_UNAUTHENTICATED : PW_GRPC_PERMISSION_DENIED, why);
    return false;
}

int srv_api_check_flags(bool auth_file)
{
    if (!auth_file || srv_api.token_len == 0) return 0;
    fprintf(stderr,
            "ringqd: --admin-token is the simple mode without --auth-file; with an auth "
            "file, give the dashboard's user a token that holds admin (docs/security.md)\n");
    return -EINVAL;
}
