/* server/srv_runtime: shard threads, listeners, signals and graceful drain. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/ev_stall.h"
#include "core/rt_alloc.h"
#include "core/rt_clock.h"
#include "core/rt_log.h"
#include "core/rt_net.h"
#include "core/rt_notify.h"
#include "core/rt_version.h"
#include "server/srv_auth.h"
#include "server/srv_internal.h"

/* Wake-up codes sent between shards. */
#define SRV_WAKE_DRAIN 1u
#define SRV_WAKE_STOP 2u

/* Out of descriptors (EMFILE/ENFILE), accepting stops for this long: the failed connection stays
 * in the backlog, so accepting again at once fails again in a loop that pegs the core and floods
 * the log. 100 ms keeps a recovered server quick to notice freed descriptors. */
#define SRV_ACCEPT_PAUSE_MS 100u
/* At most one log line per this interval about refused accepts, with their count. */
#define SRV_ACCEPT_LOG_EVERY_MS 1000u
_Static_assert(SRV_ACCEPT_PAUSE_MS < SRV_ACCEPT_LOG_EVERY_MS,
               "a pause is shorter than a log interval");

static _Thread_local srv_shard *t_self;

ev_loop *srv_shard_loop(srv_shard *sh) { return sh->loop; }
int srv_shard_id(const srv_shard *sh) { return sh->id; }
srv_runtime *srv_shard_runtime(srv_shard *sh) { return sh->rt; }
srv_shard *srv_shard_self(void) { return t_self; }
void srv_shard_enter(srv_shard *sh) { t_self = sh; }
int srv_runtime_nshards(const srv_runtime *rt) { return rt->nshards; }
bool srv_runtime_draining(const srv_runtime *rt) { return atomic_load(&rt->draining) != 0; }
void srv_runtime_fail(srv_runtime *rt) { atomic_store(&rt->failed, 1); }
bool srv_runtime_failed(const srv_runtime *rt) { return atomic_load(&rt->failed) != 0; }

void srv_options_defaults(srv_options *o)
{
    memset(o, 0, sizeof *o);
    o->prog = "ringqd";
    o->host = "127.0.0.1";
    o->port = SRV_PORT_DEFAULT;
    o->threads = 0;
    o->data_dir = "./data";
    o->handshake_ms = SRV_HANDSHAKE_MS_DEFAULT;
    o->idle_ms = SRV_IDLE_MS_DEFAULT;
    o->drain_ms = SRV_DRAIN_MS_DEFAULT;
    o->grpc.output_refs = true; /* srv_conn takes output as a chain (pw_grpc_conn_output_take) */
    o->send_zc_min_bytes = SRV_SEND_ZC_MIN_BYTES;
}

/* A decimal in [0, max]: true with *out set, false when s is not one. */
static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max || s[0] == '-') return false;
    *out = v;
    return true;
}

/* A numeric flag: the value must be a decimal in [lo, hi]. */
typedef struct num_flag {
    const char *name;
    uint64_t lo, hi;
} num_flag;

static const num_flag num_flags[] = {
    {"port", 0, 65535},
    {"threads", 1, RT_SHARDS_MAX},
    {"max-message-bytes", 1024, 1u << 30},
    {"max-concurrent-streams", 1, 1u << 20},
    {"idle-timeout-ms", 0, UINT32_MAX},
    {"handshake-timeout-ms", 1, UINT32_MAX},
    {"drain-timeout-ms", 0, UINT32_MAX},
    {"send-zc-min-bytes", 0, UINT32_MAX},
};

static const num_flag *num_flag_find(const char *name)
{
    for (size_t i = 0; i < sizeof num_flags / sizeof num_flags[0]; i++)
        if (strcmp(num_flags[i].name, name) == 0) return &num_flags[i];
    return NULL;
}

static void num_flag_set(srv_options *o, const char *name, uint64_t v)
{
    if (strcmp(name, "port") == 0) o->port = (int)v;
    else if (strcmp(name, "threads") == 0) o->threads = (int)v;
    else if (strcmp(name, "max-message-bytes") == 0)
        o->grpc.max_recv_message_bytes = o->grpc.max_send_message_bytes = (size_t)v;
    else if (strcmp(name, "max-concurrent-streams") == 0)
        o->grpc.max_concurrent_streams = (uint32_t)v;
    else if (strcmp(name, "idle-timeout-ms") == 0) o->idle_ms = (uint32_t)v;
    else if (strcmp(name, "handshake-timeout-ms") == 0) o->handshake_ms = (uint32_t)v;
    else if (strcmp(name, "drain-timeout-ms") == 0) o->drain_ms = (uint32_t)v;
    else if (strcmp(name, "send-zc-min-bytes") == 0) o->send_zc_min_bytes = (uint32_t)v;
}

/* Returns SRV_RC_OK, or SRV_RC_SAID after printing why. */
static srv_rc parse_flag(srv_options *o, const char *name, const char *val, srv_extra_flag_fn extra,
                         void *ud)
{
    const num_flag *nf = num_flag_find(name);
    if (nf) {
        uint64_t v = 0;
        if (!parse_u64(val, nf->hi, &v) || v < nf->lo) {
            fprintf(stderr, "%s: --%s must be between %llu and %llu (got '%s')\n", o->prog, name,
                    (unsigned long long)nf->lo, (unsigned long long)nf->hi, val);
            return SRV_RC_SAID;
        }
        num_flag_set(o, name, v);
        return SRV_RC_OK;
    }
    int bad = 0;
    if (strcmp(name, "host") == 0) {
        struct sockaddr_storage ss;
        socklen_t sl;
        if (rt_addr_parse(val, 0, &ss, &sl) != 0) {
            fprintf(stderr,
                    "%s: --host must be an IPv4 or IPv6 address, localhost or '*' (got '%s')\n",
                    o->prog, val);
            return SRV_RC_SAID;
        }
        o->host = val;
    } else if (strcmp(name, "pin") == 0) o->pin = true;
    else if (strcmp(name, "insecure") == 0) o->insecure = true;
    else if (strcmp(name, "data") == 0) bad = !*val, o->data_dir = val;
    else if (strcmp(name, "port-file") == 0) bad = !*val, o->port_file = val;
    else if (strcmp(name, "tls-cert") == 0) bad = !*val, o->tls_cert = val;
    else if (strcmp(name, "tls-key") == 0) bad = !*val, o->tls_key = val;
    else if (strcmp(name, "tls-client-ca") == 0) bad = !*val, o->tls_client_ca = val;
    else if (strcmp(name, "ktls") == 0)
        bad = strcmp(val, "on") != 0 && strcmp(val, "off") != 0, o->ktls_off = !strcmp(val, "off");
    else if (strcmp(name, "log-level") == 0) {
        log_level l;
        bad = log_level_parse(val, &l) != 0;
        if (!bad) log_set_level(l);
    } else {
        int r = extra ? extra(name, val, ud) : 0;
        if (r == 0) {
            fprintf(stderr, "%s: unknown flag --%s (see %s --help)\n", o->prog, name, o->prog);
            return SRV_RC_SAID;
        }
        if (r == SRV_FLAG_BAD_SAID) return SRV_RC_SAID;
        bad = r < 0;
    }
    if (bad) {
        fprintf(stderr, "%s: bad value for --%s: '%s' (see %s --help)\n", o->prog, name,
                val ? val : "", o->prog);
        return SRV_RC_SAID;
    }
    return SRV_RC_OK;
}

/* --tls-cert and --tls-key come together; --tls-client-ca needs them. */
static srv_rc srv_tls_options_check(const srv_options *o)
{
    if (!o->tls_cert != !o->tls_key) {
        fprintf(stderr, "%s: --tls-cert and --tls-key go together (got only %s)\n", o->prog,
                o->tls_cert ? "--tls-cert" : "--tls-key");
        return SRV_RC_SAID;
    }
    if (o->tls_client_ca && !o->tls_cert) {
        fprintf(stderr, "%s: --tls-client-ca needs --tls-cert and --tls-key\n", o->prog);
        return SRV_RC_SAID;
    }
    return SRV_RC_OK;
}

srv_rc srv_options_parse(srv_options *o, int argc, char **argv, const char *usage,
                         srv_extra_flag_fn extra, void *ud)
{
    const char *slash = argc > 0 ? strrchr(argv[0], '/') : NULL;
    if (argc > 0) o->prog = slash ? slash + 1 : argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return SRV_RC_EXIT;
        }
        if (strcmp(a, "--version") == 0) {
            printf("%s %s (%s)\n", o->prog, RT_VERSION, RT_VERSION_GIT);
            return SRV_RC_EXIT;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "%s: unexpected argument '%s' (see %s --help)\n", o->prog, a, o->prog);
            return SRV_RC_SAID;
        }
        char name[64];
        const char *val = NULL;
        const char *eq = strchr(a, '=');
        if (eq) {
            snprintf(name, sizeof name, "%.*s", (int)(eq - a - 2), a + 2);
            val = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a + 2);
            if (strcmp(name, "pin") != 0 && strcmp(name, "insecure") != 0) {
                bool known = num_flag_find(name) || strcmp(name, "host") == 0 ||
                             strcmp(name, "data") == 0 || strcmp(name, "port-file") == 0 ||
                             strcmp(name, "log-level") == 0 || strncmp(name, "tls-", 4) == 0 ||
                             strcmp(name, "ktls") == 0 || (extra && extra(name, NULL, ud) != 0);
                if (!known) {
                    fprintf(stderr, "%s: unknown flag --%s (see %s --help)\n", o->prog, name,
                            o->prog);
                    return SRV_RC_SAID;
                }
                if (i + 1 >= argc) {
                    fprintf(stderr, "%s: --%s needs a value\n", o->prog, name);
                    return SRV_RC_SAID;
                }
                val = argv[++i];
            }
        }
        if (parse_flag(o, name, val, extra, ud) != SRV_RC_OK) return SRV_RC_SAID;
    }
    return srv_tls_options_check(o);
}

/* ---- accept ---- */

static void accept_arm(srv_shard *sh)
{
    if (sh->draining || sh->listen_fd < 0 || sh->accept_paused || sh->accept_op.busy) return;
    int r = ev_accept_multishot(sh->loop, &sh->accept_op, sh->listen_fd);
    if (r < 0) log_error("cannot re-arm accept", "err=%d", r);
}

static void on_accept_resume(ev_loop *loop, ev_timer *t)
{
    srv_shard *sh = t->ud;
    sh->accept_paused = false;
    accept_arm(sh);
}

/* Out of descriptors: the connection stays in the backlog. Stop accepting for a moment (the
 * connections we serve keep going and may free some) and say so at most once per interval. */
static void accept_pause(srv_shard *sh, int err)
{
    sh->accept_refused++;
    uint64_t now = ev_loop_now(sh->loop);
    if (sh->accept_log_ns == 0 ||
        now - sh->accept_log_ns >= (uint64_t)SRV_ACCEPT_LOG_EVERY_MS * RT_NS_PER_MS) {
        log_warn("out of file descriptors; accepting paused",
                 "err=%d refused=%llu pause_ms=%u conns=%u", err,
                 (unsigned long long)sh->accept_refused, SRV_ACCEPT_PAUSE_MS, sh->nconns);
        sh->accept_log_ns = now;
        sh->accept_refused = 0;
    }
    if (sh->accept_paused) return;
    sh->accept_paused = true;
    if (sh->accept_op.busy) ev_cancel(sh->loop, NULL, &sh->accept_op);
    ev_timer_start(sh->loop, &sh->accept_timer, now + (uint64_t)SRV_ACCEPT_PAUSE_MS * RT_NS_PER_MS);
}

static void on_accept(ev_loop *loop, ev_op *op, int res, unsigned flags)
{
    srv_shard *sh = op->ud;
    if (res >= 0) {
        if (sh->draining || sh->nconns >= SRV_CONNS_PER_SHARD_MAX) {
            atomic_store_explicit(
                &sh->ctr.conns_rejected,
                atomic_load_explicit(&sh->ctr.conns_rejected, memory_order_relaxed) + 1,
                memory_order_relaxed);
            close(res);
        } else {
            srv_conn_accepted(sh, res);
        }
    } else if (res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM) {
        accept_pause(sh, res);
    } else if (res != -ECANCELED && !(sh->draining && res == -EBADF)) {
        /* (A drain closes the listener; an accept queued before it then finds no socket.) */
        log_warn("accept failed", "err=%d", res);
    }
    if (!(flags & EV_F_MORE)) accept_arm(sh);
}

/* ---- drain ---- */

/* A draining shard whose last connection is gone is idle, but it keeps running: other shards'
 * calls may still need its partitions (jobs cross shards). Every shard stops together once the
 * last one is idle (the last wakes the others with SRV_WAKE_STOP). */
static void shard_stop_now(srv_shard *sh)
{
    if (sh->stopped) return;
    sh->stopped = true;
    ev_timer_stop(sh->loop, &sh->drain_timer);
    ev_timer_stop(sh->loop, &sh->accept_timer);
    ev_loop_stop(sh->loop);
}

static void shard_maybe_stop(srv_shard *sh)
{
    if (!sh->draining || sh->nconns != 0 || sh->idle_counted) return;
    sh->idle_counted = true;
    if (atomic_fetch_sub(&sh->rt->busy_shards, 1) == 1) {
        for (int i = 0; i < sh->rt->nshards; i++)
            if (i != sh->id && sh->rt->shards[i].loop)
                ev_loop_wake_from(sh->loop, sh->rt->shards[i].loop, SRV_WAKE_STOP);
        shard_stop_now(sh);
    }
}

void srv_shard_conn_gone(srv_shard *sh) { shard_maybe_stop(sh); }

static void on_drain_deadline(ev_loop *loop, ev_timer *t)
{
    srv_shard *sh = t->ud;
    log_warn("drain deadline passed; closing remaining connections", "conns=%u", sh->nconns);
    srv_conn *c = sh->conns;
    while (c) {
        srv_conn *next = c->next;
        srv_conn_close(c);
        c = next;
    }
    /* Connections finish closing asynchronously; shard_maybe_stop runs as each goes. */
    if (sh->nconns == 0) shard_maybe_stop(sh);
}

static void shard_begin_drain(srv_shard *sh)
{
    if (sh->draining) return;
    sh->draining = true;
    /* The hook first: it turns health NOT_SERVING (ringqd), so no probe sees SERVING from a
     * server whose listeners are closing (Kubernetes' readiness, docs/kubernetes.md). */
    if (sh->rt->hooks.on_drain) sh->rt->hooks.on_drain(sh, sh->rt->hooks.ud);
    ev_timer_stop(sh->loop, &sh->accept_timer);
    if (sh->listen_fd >= 0) {
        /* Closing the listener ends the multishot accept (it completes with an error). */
        if (sh->accept_op.busy) ev_cancel(sh->loop, NULL, &sh->accept_op);
        close(sh->listen_fd);
        sh->listen_fd = -1;
        log_debug("listener closed", NULL);
    }
    for (srv_conn *c = sh->conns; c; c = c->next) srv_conn_begin_drain(c);
    ev_timer_start(sh->loop, &sh->drain_timer,
                   ev_loop_now(sh->loop) + (uint64_t)sh->rt->opt.drain_ms * RT_NS_PER_MS);
    shard_maybe_stop(sh);
}

/* Connections dirtied by answers that arrived from other shards (or from the mailbox's own
 * per-iteration poll, which runs after this hook) are flushed every iteration and again right
 * before sleeping, so no answer waits for the next wake-up. */
static bool on_iteration(ev_loop *loop, void *ud, ev_hook_phase phase)
{
    if (phase != EV_HOOK_AFTER_WAKE) srv_shard_flush_dirty(ud);
    return true;
}

static void on_wake(ev_loop *loop, void *ud, uint32_t data)
{
    srv_shard *sh = ud;
    /* Start-up failed elsewhere (the main thread's wake through the eventfd carries no code). */
    if (atomic_load(&sh->rt->failed)) {
        shard_stop_now(sh);
        return;
    }
    if (data == SRV_WAKE_DRAIN || atomic_load(&sh->rt->draining)) shard_begin_drain(sh);
    if (data == SRV_WAKE_STOP || (sh->draining && atomic_load(&sh->rt->busy_shards) == 0))
        shard_stop_now(sh);
}

static void on_signal(ev_loop *loop, ev_op *op, int res, unsigned flags)
{
    srv_shard *sh = op->ud;
    if (res == (int)sizeof sh->siginfo) {
        int sig = (int)sh->siginfo.ssi_signo;
        if (sig == SIGTERM || sig == SIGINT) {
            if (!atomic_exchange(&sh->rt->draining, 1)) {
                log_info("signal received; draining", "signal=%d drain_ms=%u", sig,
                         sh->rt->opt.drain_ms);
                int nr = rt_notify("STOPPING=1\nSTATUS=draining");
                if (nr < 0) log_warn("cannot notify the service manager", "err=%d", nr);
                for (int i = 0; i < sh->rt->nshards; i++)
                    if (i != sh->id)
                        ev_loop_wake_from(loop, sh->rt->shards[i].loop, SRV_WAKE_DRAIN);
                shard_begin_drain(sh);
            } else if (sig == SIGINT) {
                log_warn("second interrupt; exiting now", NULL);
                _exit(130);
            }
        } else if (sig == SIGHUP) {
            /* Reload what is configured: certificates (new connections take them) and the
             * auth file; each logs its outcome and keeps the old one on failure. */
            if (sh->rt->tls) srv_tls_server_reload(sh->rt->tls);
            srv_auth_reload();
        } else {
            log_info("signal ignored", "signal=%d", sig);
        }
    }
    if (!sh->stopped && res != -ECANCELED)
        ev_read(loop, &sh->sig_op, sh->sigfd, &sh->siginfo, sizeof sh->siginfo, 0);
}

/* ---- shard thread ---- */

static void write_port_file(const char *path, int port)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return;
    fprintf(f, "%d\n", port);
    fclose(f);
    rename(tmp, path);
}

/* Start-up failed on this shard: say why once for the process (the first failure is the
 * cause; the others only follow it) and stop the start. */
static void start_fail(srv_runtime *rt, const char *msg, const char *fmt_host, int port, int err)
{
    if (!atomic_exchange(&rt->failed, 1))
        log_error(msg, "host=%s port=%d err=%d reason=\"%s\"", fmt_host, port, err, strerror(-err));
}

/* Binds this shard's listener (not listening yet). Shard 0 binds first so that --port 0
 * resolves to one port all shards share. Returns false when start-up failed. */
static bool shard_bind(srv_runtime *rt, srv_shard *sh)
{
    if (sh->id != 0)
        while (atomic_load(&rt->port) == 0 && !atomic_load(&rt->failed)) sched_yield();
    if (atomic_load(&rt->failed)) return false;
    int port = sh->id == 0 ? rt->opt.port : atomic_load(&rt->port);
    sh->listen_fd = rt_bind_tcp(rt->opt.host, (uint16_t)port, true);
    if (sh->listen_fd < 0) {
        start_fail(rt, "cannot bind", rt->opt.host, port, sh->listen_fd);
        if (sh->id == 0) atomic_store(&rt->port, -1);
        return false;
    }
    if (sh->id == 0) {
        int p = rt_socket_port(sh->listen_fd);
        if (p <= 0) {
            start_fail(rt, "cannot read the bound port", rt->opt.host, port, p < 0 ? p : -EINVAL);
            atomic_store(&rt->port, -1);
            return false;
        }
        /* --port 0: lock the port the kernel gave us, so a ringqd started on it fails. */
        if (rt->port_lock_fd < 0 && (rt->port_lock_fd = srv_port_lock(&rt->opt, p)) < 0) {
            atomic_store(&rt->failed, 1);
            atomic_store(&rt->port, -1);
            return false;
        }
        atomic_store(&rt->port, p);
    }
    return true;
}

void srv_shard_init_timers(srv_shard *sh)
{
    ev_timer_init(&sh->drain_timer, on_drain_deadline, sh);
    ev_timer_init(&sh->accept_timer, on_accept_resume, sh);
}

static void shard_main(int id, void *arg)
{
    srv_runtime *rt = arg;
    srv_shard *sh = &rt->shards[id];
    t_self = sh;
    srv_shard_init_timers(sh);
    int err;
    const char *why;
    ev_loop_opts lo = {.shard_id = id};
    sh->loop = ev_loop_create(&lo, &err, &why);
    bool ok = sh->loop != NULL;
    if (!ok && !atomic_exchange(&rt->failed, 1)) log_error(why, "err=%d", err);
    if (ok) {
        ev_loop_add_wake_handler(sh->loop, on_wake, sh);
        ev_loop_add_hook(sh->loop, on_iteration, sh);
        ev_loop_set_stall_hist(sh->loop, &sh->stall); /* outlives the loop: scrapes read it */
        ev_loop_set_stall_split_hists(sh->loop, &sh->stall_oncpu, &sh->stall_preempted);
        ev_stall_set_thread_hists(&sh->stall_cpu, &sh->stall_blocked); /* this thread's loop */
        ok = shard_bind(rt, sh);
    }
    /* Listen now, accept only once every shard is ready: during recovery the kernel completes
     * handshakes into the backlog, so a client that connects while the log is being replayed
     * waits for its first SETTINGS instead of being refused (a refused or reset connect sends
     * gRPC clients into their reconnect backoff: 1 s, then x1.6 — the "first call stalls"
     * after a restart). Nothing is read or answered before the barrier below. */
    if (ok) {
        int r = rt_listen(sh->listen_fd);
        if (r < 0) {
            start_fail(rt, "cannot listen", rt->opt.host, atomic_load(&rt->port), r);
            ok = false;
        }
    }
    bool init_ran = ok && rt->hooks.shard_init;
    if (init_ran) rt->hooks.shard_init(sh, rt->hooks.ud);
    /* Barrier: no shard accepts (and so sends cross-shard work) before every shard has set up
     * its state and its mailbox waker. A failure anywhere ends the wait: nobody serves. */
    atomic_fetch_add(&rt->inited, 1);
    while (atomic_load(&rt->inited) < rt->nshards && !atomic_load(&rt->failed)) sched_yield();
    if (!ok || atomic_load(&rt->failed)) {
        if (init_ran && rt->hooks.shard_fini) rt->hooks.shard_fini(sh, rt->hooks.ud);
        if (sh->listen_fd >= 0) close(sh->listen_fd);
        sh->listen_fd = -1;
        atomic_fetch_add(&rt->ready, 1);
        pw_grpc_thread_exit();
        return;
    }
    sh->accept_op.cb = on_accept;
    sh->accept_op.ud = sh;
    accept_arm(sh);
    if (sh->sigfd >= 0) {
        sh->sig_op.cb = on_signal;
        sh->sig_op.ud = sh;
        ev_read(sh->loop, &sh->sig_op, sh->sigfd, &sh->siginfo, sizeof sh->siginfo, 0);
    }
    sh->running = true;
    if (atomic_fetch_add(&rt->ready, 1) + 1 == rt->nshards && !atomic_load(&rt->failed)) {
        int p = atomic_load(&rt->port);
        log_info("listening", "host=%s port=%d threads=%d tls=%s", rt->opt.host, p, rt->nshards,
                 rt->tls ? (rt->opt.tls_client_ca ? "mtls" : "on") : "off");
        if (rt->opt.port_file) write_port_file(rt->opt.port_file, p);
        int nr = rt_notify("READY=1\nSTATUS=listening");
        if (nr < 0) log_warn("cannot notify the service manager", "err=%d", nr);
    }
    /* A drain may have been requested before this shard installed its wake handler. It may
     * also have stopped the shard already (no connection: the drain is complete), and
     * ev_loop_run would forget that stop: then do not run at all. */
    if (atomic_load(&rt->draining)) shard_begin_drain(sh);
    int r = sh->stopped ? 0 : ev_loop_run(sh->loop);
    if (r < 0) atomic_store(&rt->failed, 1);
    if (rt->hooks.shard_fini) rt->hooks.shard_fini(sh, rt->hooks.ud);
    /* Not `while (sh->conns) close(sh->conns)`: a connection whose ops are still in flight stays
     * listed after its close, and that loop would spin on it for ever. */
    for (srv_conn *c = sh->conns, *next; c; c = next) {
        next = c->next;
        srv_conn_close(c);
    }
    /* Let closing connections' final completions run before the loop goes away. */
    for (int i = 0; i < 100 && sh->nconns > 0; i++) ev_loop_run_once(sh->loop, true);
    if (sh->listen_fd >= 0) close(sh->listen_fd);
    pw_grpc_thread_exit();
}

/* Raises the soft descriptor limit to the hard one: every connection and segment is a
 * descriptor, and distributions start services at a soft 1024. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        log_warn("cannot read RLIMIT_NOFILE", "err=%d", -errno);
        return;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t was = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            log_warn("cannot raise RLIMIT_NOFILE", "err=%d", -errno);
        else
            log_debug("raised RLIMIT_NOFILE", "from=%llu to=%llu", (unsigned long long)was,
                      (unsigned long long)rl.rlim_cur);
    }
}

int srv_run(const srv_options *o, pw_grpc_server *grpc, const srv_hooks *hooks)
{
    raise_nofile();
    int lock_fd;
    if (srv_port_claim(o, &lock_fd) < 0) return 1;
    srv_runtime *rt = rt_calloc(1, sizeof *rt);
    if (!rt) return 1;
    rt->opt = *o;
    rt->port_lock_fd = lock_fd;
    rt->grpc = grpc;
    if (hooks) rt->hooks = *hooks;
    rt->nshards = o->threads > 0 ? o->threads : rt_cpu_count();
    atomic_store(&rt->busy_shards, rt->nshards);
    rt->shards = rt_calloc((size_t)rt->nshards, sizeof *rt->shards);
    if (!rt->shards) return 1;
    rt->start_wall_ns = rt_wall_ns();
    if (o->tls_cert) {
        srv_tls_files tf = {.cert = o->tls_cert,
                            .key = o->tls_key,
                            .client_ca = o->tls_client_ca,
                            .ktls = !o->ktls_off};
        if (!(rt->tls = srv_tls_server_create(&tf))) return 1; /* why was printed */
    }
    int sigfd = rt_signalfd_create();
    if (sigfd < 0) {
        log_error("signalfd failed", "err=%d", sigfd);
        return 1;
    }
    for (int i = 0; i < rt->nshards; i++) {
        rt->shards[i].rt = rt;
        rt->shards[i].id = i;
        rt->shards[i].listen_fd = -1;
        rt->shards[i].sigfd = i == 0 ? sigfd : -1;
    }
    rt_shards threads;
    int r = rt_shards_start(&threads, rt->nshards, o->pin, shard_main, rt);
    if (r < 0) {
        log_error("cannot start shard threads", "err=%d", r);
        atomic_store(&rt->failed, 1);
    }
    /* Every started shard reports once: serving, or gave up. If start-up failed anywhere, the
     * shards already running stop at once (nothing was accepted: their listeners were not
     * listening before every shard was ready). */
    while (atomic_load(&rt->ready) < threads.n) sched_yield();
    if (atomic_load(&rt->failed)) {
        for (int i = 0; i < rt->nshards; i++)
            if (rt->shards[i].running) ev_loop_wake_from(NULL, rt->shards[i].loop, SRV_WAKE_STOP);
    }
    rt_shards_join(&threads);
    int failed = atomic_load(&rt->failed);
    for (int i = 0; i < rt->nshards; i++)
        if (rt->shards[i].loop) ev_loop_destroy(rt->shards[i].loop);
    close(sigfd);
    if (rt->port_lock_fd >= 0) close(rt->port_lock_fd);
    rt_free(rt->shards);
    srv_tls_server_destroy(rt->tls);
    rt_free(rt);
    if (!failed) log_info("stopped", NULL);
    return failed ? 1 : 0;
}
