/* bench/rb_js_admin: the JetStream driver's blocking half (see rb_js.h) — one short-lived NATS
 * connection per call on the main thread, JetStream API requests on it, answers parsed as
 * hostile JSON.
 *
 * API used (JetStream wire API, "$JS.API.>" subjects, JSON in and out; an answer with an
 * "error" member {code, err_code, description} failed):
 *   STREAM.DELETE.<stream>             a previous run's stream (err_code 10059 "stream not
 *                                      found" is fine). Deleting rather than purging also drops
 *                                      the old consumer, whose ack_wait may differ this run.
 *   STREAM.CREATE.<stream>             {name, subjects:[subject], retention:"workqueue",
 *                                      storage:"file", discard:"old", num_replicas:1}
 *   CONSUMER.DURABLE.CREATE.<s>.<c>    {stream_name, config:{durable_name, ack_policy:"explicit",
 *                                      ack_wait(ns), max_ack_pending, max_waiting,
 *                                      deliver_policy:"all", max_deliver:-1}} — the subject every
 *                                      server since 2.2 accepts (2.9 added CONSUMER.CREATE.<s>.<c>).
 *   STREAM.INFO.<stream>               state.messages: with work-queue retention an acked
 *                                      message is removed, so this is ready + delivered-unacked.
 * Streams (rb_js.h): STREAM.CREATE with retention "limits", one CONSUMER.DURABLE.CREATE per
 * group, and the backlog from CONSUMER.INFO.<stream>.<consumer> (num_pending +
 * num_ack_pending) of every group.
 * The version is the "version" member of the server's INFO. */
#include "bench/rb_js.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/rb_json.h"
#include "bench/rb_nats_wire.h"
#include "bench/rb_sock.h"

/* Answers we read: INFO (<= RB_NATS_LINE_MAX) plus one API answer (a few KiB). */
#define JS_ADMIN_BUF (RB_NATS_LINE_MAX + 64u * 1024u)
/* err_code of "stream not found". */
#define JS_ERR_STREAM_NOT_FOUND 10059u

typedef struct js_admin {
    int fd;
    const rb_target *t;
    rb_js_names names;
    char *buf;
    const char *body; /* the last answer's JSON, a view into buf */
    size_t body_len;
    char inbox[48]; /* "_INBOX.rbadm<pid>x<n>": distinct per process and session */
    char version[64];
    bool jetstream;
} js_admin;

int rb_js_names_init(rb_js_names *n, const rb_target *t, char *err, size_t errlen)
{
    const char *q = t->queue && t->queue[0] ? t->queue : RB_JS_SUBJECT_DEFAULT;
    size_t len = strlen(q);
    bool ok = len > 0 && len <= RB_JS_SUBJECT_MAX && q[0] != '.' && q[len - 1] != '.' &&
              strncmp(q, "_INBOX", 6) != 0 && strstr(q, "..") == NULL;
    for (size_t i = 0; ok && i < len; i++) {
        char ch = q[i];
        ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
             ch == '_' || ch == '-' || ch == '.';
    }
    if (!ok) {
        snprintf(err, errlen,
                 "jetstream: queue \"%.80s\" is not a plain subject (1..%d bytes "
                 "of [A-Za-z0-9_-] tokens separated by dots)",
                 q, RB_JS_SUBJECT_MAX);
        return -EINVAL;
    }
    memcpy(n->subject, q, len + 1);
    memcpy(n->stream, "RB_", 3);
    for (size_t i = 0; i <= len; i++) n->stream[3 + i] = q[i] == '.' ? '_' : q[i];
    return 0;
}

/* rb_sock_rpc completion tests: scan whole frames; stop at the one we wait for, at -ERR, or at
 * bytes that do not parse (the caller reports them). */
static bool js_scan_until(const char *p, size_t n, rb_nats_kind want)
{
    const uint8_t *b = (const uint8_t *)p;
    size_t off = 0;
    for (;;) {
        rb_nats_frame f;
        const char *why;
        ssize_t r = rb_nats_parse(b + off, n - off, RB_JS_BODY_MAX, &f, &why);
        if (r < 0) return true;
        if (r == 0) return false;
        off += (size_t)r;
        if (f.kind == want || f.kind == RB_NATS_ERR ||
            (want == RB_NATS_MSG && f.kind == RB_NATS_HMSG))
            return true;
    }
}

static bool js_complete_pong(const char *p, size_t n) { return js_scan_until(p, n, RB_NATS_PONG); }

static bool js_complete_msg(const char *p, size_t n) { return js_scan_until(p, n, RB_NATS_MSG); }

static void js_info(js_admin *a, const rb_nats_frame *f)
{
    const char *v;
    size_t vlen;
    if (rb_json_find((const char *)f->body, f->body_len, "version", &v, &vlen) == 0)
        rb_json_str(v, vlen, a->version, sizeof(a->version));
    a->jetstream = rb_json_find((const char *)f->body, f->body_len, "jetstream", &v, &vlen) == 0 &&
                   vlen == 4 && memcmp(v, "true", 4) == 0;
}

/* Sends req and reads until `complete`; then walks the frames: INFO is recorded, -ERR fails,
 * the first MSG/HMSG becomes a->body (an HMSG must be a status, which fails). */
static int js_exchange(js_admin *a, const char *req, size_t reqlen,
                       bool (*complete)(const char *, size_t), const char *what, char *err,
                       size_t errlen)
{
    ssize_t n = rb_sock_rpc(a->fd, req, reqlen, a->buf, JS_ADMIN_BUF, complete,
                            RB_JS_ADMIN_TIMEOUT_MS);
    if (n < 0) {
        snprintf(err, errlen, "jetstream %s: %s: %s", a->t->addr, what, strerror((int)-n));
        return (int)n;
    }
    a->body = NULL;
    const uint8_t *b = (const uint8_t *)a->buf;
    for (size_t off = 0; off < (size_t)n;) {
        rb_nats_frame f;
        const char *why;
        ssize_t r = rb_nats_parse(b + off, (size_t)n - off, RB_JS_BODY_MAX, &f, &why);
        if (r <= 0) {
            snprintf(err, errlen, "jetstream %s: %s: %s", a->t->addr, what,
                     r < 0 ? why : "answer cut short");
            return -EPROTO;
        }
        off += (size_t)r;
        if (f.kind == RB_NATS_INFO) {
            js_info(a, &f);
        } else if (f.kind == RB_NATS_ERR) {
            snprintf(err, errlen, "jetstream %s: %s: -ERR '%.*s'", a->t->addr, what,
                     (int)(f.body_len > 200 ? 200 : f.body_len), (const char *)f.body);
            return -EIO;
        } else if (f.kind == RB_NATS_HMSG) {
            int code;
            const char *desc;
            size_t dlen;
            int64_t pending;
            rb_nats_status(f.hdr, f.hdr_len, &code, &desc, &dlen, &pending);
            snprintf(err, errlen, "jetstream %s: %s: status %d %.*s%s", a->t->addr, what, code,
                     (int)(dlen > 100 ? 100 : dlen), desc,
                     code == 503 ? " (no responders: is JetStream enabled, nats-server -js?)" : "");
            return -EIO;
        } else if (f.kind == RB_NATS_MSG) {
            a->body = (const char *)f.body;
            a->body_len = f.body_len;
            return 0;
        }
    }
    return 0;
}

static void js_admin_close(js_admin *a)
{
    if (a->fd >= 0) close(a->fd);
    free(a->buf);
}

static int js_admin_open(js_admin *a, const rb_target *t, bool need_js, char *err, size_t errlen)
{
    memset(a, 0, sizeof(*a));
    a->fd = -1;
    a->t = t;
    int rc = rb_js_names_init(&a->names, t, err, errlen);
    if (rc != 0) return rc;
    if (!(a->buf = malloc(JS_ADMIN_BUF + 1))) {
        snprintf(err, errlen, "jetstream: out of memory");
        return -ENOMEM;
    }
    char derr[200] = "";
    a->fd = rb_sock_dial(t->addr, RB_JS_ADMIN_TIMEOUT_MS, derr, sizeof(derr));
    if (a->fd < 0) {
        snprintf(err, errlen, "jetstream: %s", derr);
        rc = a->fd;
        js_admin_close(a);
        return rc;
    }
    static unsigned sessions; /* main thread only, but cheap to make safe */
    snprintf(a->inbox, sizeof(a->inbox), "_INBOX.rbadm%ldx%u", (long)getpid(),
             __atomic_add_fetch(&sessions, 1u, __ATOMIC_RELAXED));
    char hello[sizeof(RB_JS_CONNECT) + 96];
    int n = snprintf(hello, sizeof(hello), RB_JS_CONNECT "SUB %s.* 1\r\nPING\r\n", a->inbox);
    rc = js_exchange(a, hello, (size_t)n, js_complete_pong, "connect", err, errlen);
    if (rc == 0 && need_js && !a->jetstream) {
        snprintf(err, errlen,
                 "jetstream %s: the server (%s) has JetStream disabled (start "
                 "nats-server with -js)",
                 t->addr, a->version[0] ? a->version : "no INFO");
        rc = -ENOTSUP;
    }
    if (rc != 0) js_admin_close(a);
    return rc;
}

/* One API request; on success a->body is the answer. *err_code receives the answer's
 * error.err_code (0 when it has no error member); an error answer returns -EIO with err
 * filled unless its err_code equals `tolerated`. */
static int js_api(js_admin *a, const char *api, const char *json, uint32_t tolerated, char *err,
                  size_t errlen)
{
    char req[1024];
    size_t jlen = strlen(json);
    int n = snprintf(req, sizeof(req), "PUB $JS.API.%s %s.r %zu\r\n%s\r\n", api, a->inbox, jlen,
                     json);
    if (n < 0 || (size_t)n >= sizeof(req)) {
        snprintf(err, errlen, "jetstream: request %s too long", api);
        return -EINVAL;
    }
    int rc = js_exchange(a, req, (size_t)n, js_complete_msg, api, err, errlen);
    if (rc != 0) return rc;
    if (!a->body) {
        snprintf(err, errlen, "jetstream %s: %s: no answer", a->t->addr, api);
        return -EPROTO;
    }
    const char *v;
    size_t vlen;
    int f = rb_json_find(a->body, a->body_len, "error", &v, &vlen);
    if (f == -ENOENT) return 0;
    char desc[160] = "malformed answer";
    uint64_t code = 0, ecode = 0;
    if (f == 0) {
        const char *d;
        size_t dlen;
        if (rb_json_find(v, vlen, "description", &d, &dlen) == 0)
            rb_json_str(d, dlen, desc, sizeof(desc));
        if (rb_json_find(v, vlen, "code", &d, &dlen) == 0) rb_json_u64(d, dlen, &code);
        if (rb_json_find(v, vlen, "err_code", &d, &dlen) == 0) rb_json_u64(d, dlen, &ecode);
        if (tolerated != 0 && ecode == tolerated) return 0;
    }
    snprintf(err, errlen, "jetstream %s: %s: %s (code %llu, err_code %llu)", a->t->addr, api, desc,
             (unsigned long long)code, (unsigned long long)ecode);
    return -EIO;
}

void rb_js_consumer_name(const rb_target *t, uint32_t group, char out[RB_JS_CONSUMER_MAX])
{
    if (t->stream) snprintf(out, RB_JS_CONSUMER_MAX, RB_JS_GROUP_PREFIX "%u", group);
    else snprintf(out, RB_JS_CONSUMER_MAX, "%s", RB_JS_CONSUMER);
}

/* The durable pull consumer `name` on the stream, reading from its first message. */
static int js_create_consumer(js_admin *a, const char *name, uint64_t ack_wait_ns, char *err,
                              size_t errlen)
{
    char api[160], json[768];
    const rb_js_names *nm = &a->names;
    snprintf(api, sizeof(api), "CONSUMER.DURABLE.CREATE.%s.%s", nm->stream, name);
    snprintf(json, sizeof(json),
             "{\"stream_name\":\"%s\",\"config\":{\"durable_name\":\"%s\","
             "\"ack_policy\":\"explicit\",\"ack_wait\":%llu,\"max_ack_pending\":%u,"
             "\"max_waiting\":%u,\"deliver_policy\":\"all\",\"max_deliver\":-1,"
             "\"replay_policy\":\"instant\"}}",
             nm->stream, name, (unsigned long long)ack_wait_ns, RB_JS_MAX_ACK_PENDING,
             RB_JS_MAX_WAITING);
    return js_api(a, api, json, 0, err, errlen);
}

int rb_js_setup(const rb_target *t, char *err, size_t errlen)
{
    js_admin a;
    int rc = js_admin_open(&a, t, true, err, errlen);
    if (rc != 0) return rc;
    const rb_js_names *nm = &a.names;
    char api[160], json[768];
    uint64_t ack_wait_ns = (uint64_t)(t->lease_ms ? t->lease_ms : RB_JS_ACK_WAIT_MS_DEFAULT) *
                           1000000u;
    snprintf(api, sizeof(api), "STREAM.DELETE.%s", nm->stream);
    rc = js_api(&a, api, "", JS_ERR_STREAM_NOT_FOUND, err, errlen);
    if (rc == 0) {
        snprintf(api, sizeof(api), "STREAM.CREATE.%s", nm->stream);
        snprintf(json, sizeof(json),
                 "{\"name\":\"%s\",\"subjects\":[\"%s\"],\"retention\":\"%s\","
                 "\"storage\":\"file\",\"discard\":\"old\",\"num_replicas\":1}",
                 nm->stream, nm->subject, t->stream ? "limits" : "workqueue");
        rc = js_api(&a, api, json, 0, err, errlen);
    }
    /* A task queue has its one consumer; a stream one per group (none for publish). */
    uint32_t nconsumers = t->stream ? t->groups : 1u;
    for (uint32_t g = 0; rc == 0 && g < nconsumers; g++) {
        char name[RB_JS_CONSUMER_MAX];
        rb_js_consumer_name(t, g, name);
        rc = js_create_consumer(&a, name, ack_wait_ns, err, errlen);
    }
    js_admin_close(&a);
    return rc;
}

/* Streams: what `group`'s consumer has not acked yet (num_pending + num_ack_pending). */
static int js_group_backlog(js_admin *a, uint32_t group, uint64_t *n, char *err, size_t errlen)
{
    char api[160], name[RB_JS_CONSUMER_MAX];
    rb_js_consumer_name(a->t, group, name);
    snprintf(api, sizeof(api), "CONSUMER.INFO.%s.%s", a->names.stream, name);
    int rc = js_api(a, api, "", 0, err, errlen);
    if (rc != 0) return rc;
    static const char *const keys[] = {"num_pending", "num_ack_pending"};
    *n = 0;
    for (size_t k = 0; k < 2; k++) {
        const char *v;
        size_t vlen;
        uint64_t x;
        if (rb_json_find(a->body, a->body_len, keys[k], &v, &vlen) != 0 ||
            rb_json_u64(v, vlen, &x) != 0) {
            snprintf(err, errlen, "jetstream %s: %s: no %s in the answer", a->t->addr, api,
                     keys[k]);
            return -EPROTO;
        }
        *n += x;
    }
    return 0;
}

int rb_js_backlog(const rb_target *t, uint64_t *n, char *err, size_t errlen)
{
    js_admin a;
    int rc = js_admin_open(&a, t, true, err, errlen);
    if (rc != 0) return rc;
    if (t->stream) {
        *n = 0;
        for (uint32_t g = 0; rc == 0 && g < t->groups; g++) {
            uint64_t one = 0;
            rc = js_group_backlog(&a, g, &one, err, errlen);
            *n += one;
        }
        js_admin_close(&a);
        return rc;
    }
    char api[160];
    snprintf(api, sizeof(api), "STREAM.INFO.%s", a.names.stream);
    rc = js_api(&a, api, "", 0, err, errlen);
    if (rc == 0) {
        const char *v;
        size_t vlen;
        if (rb_json_find(a.body, a.body_len, "state.messages", &v, &vlen) != 0 ||
            rb_json_u64(v, vlen, n) != 0) {
            snprintf(err, errlen, "jetstream %s: %s: no state.messages in the answer", t->addr,
                     api);
            rc = -EPROTO;
        }
    }
    js_admin_close(&a);
    return rc;
}

int rb_js_version(const rb_target *t, char *out, size_t outlen)
{
    js_admin a;
    char err[256];
    int rc = js_admin_open(&a, t, false, err, sizeof(err));
    if (rc != 0) return rc;
    snprintf(out, outlen, "%s", a.version[0] ? a.version : "unknown");
    js_admin_close(&a);
    return 0;
}
