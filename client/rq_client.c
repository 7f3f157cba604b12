/* client/rq_client: an rq_client from start to end - its address, token and TLS from the options
 * and the environment, its loop (its own or the caller's), and destroy, which drops every
 * connection and waits for their I/O to complete. The connections themselves: rq_conn.c. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client/rq_int.h"
#include "core/rt_clock.h"

/* How long destroy waits for its dropped connections' reads, sends and connects to complete
 * (shutdown(2) ends them at once; a peer that is gone cannot delay them). */
#define RQ_DESTROY_DRAIN_MS 2000

int rq_set_status(rq_status *st, int code, const char *fmt, ...)
{
    if (st) {
        st->code = code;
        st->message[0] = 0;
        if (fmt) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(st->message, sizeof st->message, fmt, ap);
            va_end(ap);
        }
    }
    return code;
}

const char *rq_status_name(int code)
{
    if (code == RQ_ECONNECT) return "CONNECT_FAILED";
    if (code == RQ_EINVAL) return "INVALID_ARGS";
    return pw_grpc_status_name(code);
}

/* Splits "host:port", "[v6]:port" or "host" (port 7070). Returns 0 or -1. */
static int parse_addr(rq_client *c, const char *addr)
{
    const char *colon;
    size_t hl;
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        if (!end) return -1;
        hl = (size_t)(end - addr - 1);
        if (hl == 0 || hl >= sizeof c->host) return -1;
        memcpy(c->host, addr + 1, hl);
        colon = end[1] == ':' ? end + 1 : NULL;
        if (end[1] && !colon) return -1;
    } else {
        colon = strrchr(addr, ':');
        hl = colon ? (size_t)(colon - addr) : strlen(addr);
        if (hl == 0 || hl >= sizeof c->host) return -1;
        memcpy(c->host, addr, hl);
    }
    c->host[hl] = 0;
    const char *port = colon ? colon + 1 : "7070";
    size_t pl = strlen(port);
    if (pl == 0 || pl >= sizeof c->port || strspn(port, "0123456789") != pl) return -1;
    long pv = strtol(port, NULL, 10);
    if (pv <= 0 || pv > 65535) return -1;
    memcpy(c->port, port, pl + 1);
    snprintf(c->addr, sizeof c->addr, "%s", addr);
    return 0;
}

static void on_kick(ev_loop *loop, ev_timer *t) { rq_async_run(t->ud); }
static void on_dial_timer(ev_loop *loop, ev_timer *t) { rq_async_run(t->ud); }

static void on_poll_timer(ev_loop *loop, ev_timer *t) {}

static bool env_true(const char *name)
{
    const char *v = getenv(name);
    return v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 ||
                 strcasecmp(v, "on") == 0);
}

static const char *opt_or_env(const char *v, const char *env)
{
    if (v && *v) return v;
    v = getenv(env);
    return v && *v ? v : NULL;
}

/* TLS from the options and $RINGQ_TLS*: 0 (on or off as asked), or the RQ_EINVAL code with st
 * filled (a file that does not load). */
static int client_tls_setup(rq_client *c, const rq_client_opts *o, rq_status *st)
{
    rq_tls_cfg cfg = {.ca = opt_or_env(o->tls_ca, "RINGQ_TLS_CA"),
                      .cert = opt_or_env(o->tls_cert, "RINGQ_TLS_CERT"),
                      .key = opt_or_env(o->tls_key, "RINGQ_TLS_KEY")};
    if (!o->tls && !env_true("RINGQ_TLS") && !cfg.ca) return 0;
    char why[200];
    if (!(c->tls = rq_tls_ctx_create(&cfg, why, sizeof why)))
        return rq_set_status(st, RQ_EINVAL, "TLS: %s", why);
    snprintf(c->tls_name, sizeof c->tls_name, "%s",
             o->tls_server_name && *o->tls_server_name ? o->tls_server_name : c->host);
    return 0;
}

rq_client *rq_client_create(const rq_client_opts *opts, rq_status *st)
{
    rq_client_opts o = opts ? *opts : (rq_client_opts){0};
    const char *addr = o.addr ? o.addr : getenv("RINGQ_ADDR");
    if (!addr || !*addr) addr = RQ_ADDR_DEFAULT;
    rq_client *c = calloc(1, sizeof *c);
    if (!c) {
        rq_set_status(st, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    if (parse_addr(c, addr) < 0) {
        rq_set_status(st, RQ_EINVAL, "bad address '%s' (want host:port)", addr);
        free(c);
        return NULL;
    }
    const char *token = o.token ? o.token : getenv("RINGQ_TOKEN");
    if (token && *token) {
        size_t n = strlen(token);
        bool ok = n <= RQ_TOKEN_BYTES_MAX;
        for (size_t i = 0; ok && i < n; i++) ok = token[i] > 0x20 && token[i] < 0x7f;
        if (!ok) {
            /* The token itself is not repeated: it is a secret. */
            rq_set_status(st, RQ_EINVAL, "bad token: 1..%d printable characters, no spaces",
                          RQ_TOKEN_BYTES_MAX);
            free(c);
            return NULL;
        }
        snprintf(c->authz, sizeof c->authz, "Bearer %s", token);
    }
    c->timeout_ms = o.timeout_ms ? o.timeout_ms : RQ_TIMEOUT_MS_DEFAULT;
    c->gzip_min_bytes = o.gzip_min_bytes;
    c->fail_fast = o.fail_fast;
    c->connect_timeout_ms = o.connect_timeout_ms ? o.connect_timeout_ms
                                                 : RQ_CONNECT_TIMEOUT_MS_DEFAULT;
    if (client_tls_setup(c, &o, st) != 0) {
        free(c);
        return NULL;
    }
    if (o.loop) {
        c->loop = o.loop;
    } else {
        int err;
        const char *why;
        ev_loop_opts lo = {.sq_entries = 64, .buf_count = 16, .buf_size = 4096, .shard_id = -1};
        c->loop = ev_loop_create(&lo, &err, &why);
        if (!c->loop) {
            rq_set_status(st, RQ_ECONNECT, "io_uring unavailable: %s (%s)", why, strerror(-err));
            rq_tls_ctx_destroy(c->tls);
            free(c);
            return NULL;
        }
        c->own_loop = true;
    }
    ev_timer_init(&c->kick, on_kick, c);
    ev_timer_init(&c->dial_timer, on_dial_timer, c);
    ev_timer_init(&c->poll_timer, on_poll_timer, c);
    rq_set_status(st, 0, NULL);
    return c;
}

void rq_client_destroy(rq_client *c)
{
    if (!c) return;
    c->closing = true;
    rq_work_client_gone(c);
    while (c->conns) rq_conn_drop(c->conns, "client closed");
    rq_async_close(c);
    ev_timer_stop(c->loop, &c->kick);
    ev_timer_stop(c->loop, &c->dial_timer);
    ev_timer_stop(c->loop, &c->poll_timer);
    /* Let the reads, sends and connects of dropped connections complete so their memory is
     * freed (and no completion reaches them afterwards on a loop that outlives the client).
     * Bounded by wall time, not by iterations: on a loop shared with busy clients an iteration
     * may last microseconds. */
    uint64_t until = rt_now_ns() + (uint64_t)RQ_DESTROY_DRAIN_MS * RT_NS_PER_MS;
    while (c->zombies > 0 && rt_now_ns() < until) rq_client_poll(c, 10);
    /* A completion dispatched in the loop above may have cached results again (rq_api.c). */
    free(c->enq_res);
    free(c->pub_acks);
    if (c->own_loop) ev_loop_destroy(c->loop);
    explicit_bzero(c->authz, sizeof c->authz); /* a secret */
    rq_tls_ctx_destroy(c->tls);
    free(c);
}

struct ev_loop *rq_client_loop(rq_client *c) { return c->loop; }
const char *rq_client_addr(const rq_client *c) { return c->addr; }

int rq_client_poll(rq_client *c, int timeout_ms)
{
    if (timeout_ms >= 0)
        ev_timer_start(c->loop, &c->poll_timer, rt_now_ns() + (uint64_t)timeout_ms * RT_NS_PER_MS);
    int rc = ev_loop_run_once(c->loop, true);
    ev_timer_stop(c->loop, &c->poll_timer);
    return rc;
}
