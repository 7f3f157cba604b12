/* ringq-worker: runs a command for every task of one or more queues.
 *
 * One reactor thread (the libringq client's io_uring loop) holds the Work stream, the handlers'
 * pipes, their timers and the signalfd; a worker pool (worker/wk_pool) waits for the handler
 * processes (waitpid blocks, so it runs on a pool thread and completes back to the loop through
 * the mesh). Each handler gets the payload on stdin and RINGQ_TASK_ID, RINGQ_QUEUE,
 * RINGQ_ATTEMPT, RINGQ_MAX_ATTEMPTS and RINGQ_HEADER_<NAME> in its environment; its stdout and
 * stderr lines are logged with the task id. Exit 0 acks; any other end nacks (the server's
 * backoff applies). While a handler runs past two thirds of its lease, the lease is extended,
 * up to --timeout-ms; then the handler is killed and the task nacked.
 *
 * SIGTERM/SIGINT: no new task is started (tasks still pushed are nacked with delay 0, so they
 * return at once); running handlers get --grace-ms to finish, then are killed and nacked with
 * delay 0; the agent exits once every ack/nack has been answered.
 *
 * A handler that cannot be started is nacked with the reason. Failed connects are logged with
 * each retry's delay. Queue names are checked with the server's own rule before connecting;
 * a subscription the server refuses anyway ends the agent (EXIT_REFUSED). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/ringq.h"
#include "core/ev_reactor.h"
#include "core/rt_clock.h"
#include "core/rt_log.h"
#include "core/rt_version.h"
#include "queue/q_part.h"
#include "tools/ringq_cli.h"
#include "worker/wk_mesh_loop.h"
#include "worker/wk_pool.h"

extern char **environ;

/* Handlers running at once, at most (each holds a pool thread while it runs). */
#define CONCURRENCY_MAX WK_POOL_THREADS_MAX
#define QUEUES_MAX 64
/* Bytes of one output line logged; longer lines are split. */
#define LINE_LOG_MAX 4096
/* After the grace period, how long to wait for the server's answers before exiting anyway. */
#define ANSWER_WAIT_MS 5000
/* Exit statuses beyond 0 (drained) and 1 (handlers still running at exit). */
#define EXIT_USAGE 2 /* bad arguments, an invalid queue name among them */
#define EXIT_REFUSED \
    3 /* the server refused the subscription (INVALID_ARGUMENT) or the
                        * credentials (PERMISSION_DENIED, UNAUTHENTICATED) */

static const char USAGE[] =
    "usage: ringq-worker [OPTIONS] -q QUEUE [-q QUEUE...] -- COMMAND [ARGS...]\n"
    "\n"
    "Runs COMMAND once per task: payload on stdin; RINGQ_TASK_ID, RINGQ_QUEUE, RINGQ_ATTEMPT,\n"
    "RINGQ_MAX_ATTEMPTS and RINGQ_HEADER_<NAME> in the environment. Exit 0 acks the task,\n"
    "anything else nacks it (retried with the queue's backoff). Output is logged per task.\n"
    "\n"
    "  --addr HOST:PORT    server (default $RINGQ_ADDR, else " RQ_ADDR_DEFAULT ")\n"
    "  --token T           bearer token (default $RINGQ_TOKEN); --token-file F reads it from F\n"
    "  --tls, --ca FILE    TLS, the server verified against FILE (else the system's CAs)\n"
    "  --cert F --key F    client certificate (mTLS); or $RINGQ_TLS=1, $RINGQ_TLS_CA/_CERT/_KEY\n"
    "  -q, --queue NAME    queue to take tasks from (repeatable, up to 64)\n"
    "  -c, --concurrency N handlers at once (default 1, at most 64)\n"
    "  --lease-ms N        lease per delivery (default 30000); extended while running\n"
    "  --timeout-ms N      kill and nack a handler running longer (default 3600000)\n"
    "  --grace-ms N        on SIGTERM, wait this long for running handlers (default 30000)\n"
    "  --worker-id ID      names this worker as the holder of its leases in `ringq leases`\n"
    "                      (printable ASCII, at most 127 bytes; default HOSTNAME:PID)\n"
    "  --log-level L       debug|info|warn|error (default info)\n"
    "  -h, --help\n"
    "  --version\n"
    "\n"
    "A handler that cannot be started nacks its task with the reason. Exit status: 0 drained\n"
    "(SIGTERM/SIGINT); 1 handlers still running at exit, or could not start; 2 bad arguments\n"
    "(an invalid queue name among them); 3 the server refused the subscription.\n";

typedef struct handler handler;

typedef struct pipe_rd {
    handler *h;
    int fd;
    const char *name; /* "stdout" / "stderr" */
    ev_op op;
    bool eof;
    size_t have;
    char buf[LINE_LOG_MAX];
} pipe_rd;

struct handler {
    bool used;
    rq_task *task;
    pid_t pid;
    uint64_t started_ns;
    int in_fd;
    ev_op in_op;
    size_t in_off;
    bool in_done;
    pipe_rd out, err;
    wk_job job;
    bool exited;
    int wstatus;
    int start_err; /* spawn's negative errno when the handler could not be started; 0: it ran */
    enum { KILL_NONE, KILL_TIMEOUT, KILL_SHUTDOWN } killed;
    ev_timer extend_timer, timeout_timer;
};

static struct {
    const char *queues[QUEUES_MAX];
    size_t nq;
    uint32_t concurrency, lease_ms, timeout_ms, grace_ms;
    char **cmd;
    rq_client *c;
    ev_loop *loop;
    rq_work *w;
    wk_mesh *mesh;
    wk_mesh_loop ml;
    wk_pool *pool;
    handler *hs;
    uint32_t running;
    uint64_t next_rid;
    bool stopping, done;
    int exit_code;     /* EXIT_* when done for a reason other than a signal */
    uint32_t failures; /* failed subscribe attempts since the stream was last up */
    ev_timer grace_timer, answer_timer;
    int sfd;
    ev_op sig_op;
    struct signalfd_siginfo si;
} A;

/* Copies s into a logfmt-quotable form (quotes and backslashes escaped, controls dropped). */
static void quote(char *dst, size_t cap, const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 2 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') dst[k++] = '\\';
        if (ch < 0x20) ch = ' ';
        dst[k++] = (char)ch;
    }
    dst[k] = 0;
}

static void grant(uint32_t n)
{
    if (!A.stopping) rq_work_credit(A.w, n);
}

static void check_done(void)
{
    if (A.stopping && A.running == 0 && rq_work_unanswered(A.w) == 0) A.done = true;
}

/* ---- finishing a task ---- */

static void finish(handler *h)
{
    if (!h->exited || !h->out.eof || !h->err.eof || !h->in_done) return;
    ev_timer_stop(A.loop, &h->extend_timer);
    ev_timer_stop(A.loop, &h->timeout_timer);
    char reason[128];
    uint64_t ms = (rt_now_ns() - h->started_ns) / RT_NS_PER_MS;
    const char *id = h->task->id;
    uint64_t rid = ++A.next_rid;
    if (!h->start_err && h->killed == KILL_NONE && WIFEXITED(h->wstatus) &&
        WEXITSTATUS(h->wstatus) == 0) {
        rq_work_ack(A.w, id, h->task->lease_token, rid);
        log_info("task done", "task=%s queue=%s attempt=%u ms=%llu", id, h->task->queue,
                 h->task->attempt, (unsigned long long)ms);
    } else {
        rq_nack_opts no = {.reason = reason};
        if (h->start_err)
            snprintf(reason, sizeof reason, "cannot start handler: %s", strerror(-h->start_err));
        else if (h->killed == KILL_TIMEOUT)
            snprintf(reason, sizeof reason, "timed out after %u ms", A.timeout_ms);
        else if (h->killed == KILL_SHUTDOWN)
            snprintf(reason, sizeof reason, "worker shutting down");
        else if (WIFEXITED(h->wstatus))
            snprintf(reason, sizeof reason, "exit status %d", WEXITSTATUS(h->wstatus));
        else snprintf(reason, sizeof reason, "killed by signal %d", WTERMSIG(h->wstatus));
        if (h->killed == KILL_SHUTDOWN) no.has_delay = true; /* delay 0: back at once */
        rq_work_nack(A.w, id, h->task->lease_token, &no, rid);
        log_warn("task failed", "task=%s queue=%s attempt=%u ms=%llu reason=\"%s\"", id,
                 h->task->queue, h->task->attempt, (unsigned long long)ms, reason);
    }
    rq_task_free(h->task);
    h->task = NULL;
    h->used = false;
    A.running--;
    grant(1);
    check_done();
}

/* ---- handler I/O ---- */

static void log_lines(pipe_rd *r, bool flush_all)
{
    size_t start = 0;
    char q[LINE_LOG_MAX + 256];
    for (size_t i = 0; i < r->have; i++) {
        if (r->buf[i] != '\n') continue;
        quote(q, sizeof q, r->buf + start, i - start);
        log_info("handler output", "task=%s stream=%s line=\"%s\"", r->h->task->id, r->name, q);
        start = i + 1;
    }
    if (start == 0 && r->have == sizeof r->buf) flush_all = true; /* one long line: split it */
    if (flush_all && start < r->have) {
        quote(q, sizeof q, r->buf + start, r->have - start);
        log_info("handler output", "task=%s stream=%s line=\"%s\"", r->h->task->id, r->name, q);
        start = r->have;
    }
    memmove(r->buf, r->buf + start, r->have - start);
    r->have -= start;
}

static void arm_pipe(pipe_rd *r);

static void on_pipe(ev_loop *loop, ev_op *op, int res, unsigned flags)
{
    pipe_rd *r = op->ud;
    if (res > 0) {
        r->have += (size_t)res;
        log_lines(r, false);
        arm_pipe(r);
        return;
    }
    log_lines(r, true);
    close(r->fd);
    r->fd = -1;
    r->eof = true;
    finish(r->h);
}

static void arm_pipe(pipe_rd *r)
{
    r->op.cb = on_pipe;
    r->op.ud = r;
    if (ev_read(A.loop, &r->op, r->fd, r->buf + r->have, sizeof r->buf - r->have, (uint64_t)-1) < 0)
        on_pipe(A.loop, &r->op, -EIO, 0);
}

static void write_stdin(handler *h);

static void on_stdin(ev_loop *loop, ev_op *op, int res, unsigned flags)
{
    handler *h = op->ud;
    if (res > 0) {
        h->in_off += (size_t)res;
        write_stdin(h);
        return;
    }
    close(h->in_fd); /* -EPIPE: the handler does not read its stdin; that is its business */
    h->in_fd = -1;
    h->in_done = true;
    finish(h);
}

static void write_stdin(handler *h)
{
    if (h->in_off >= h->task->payload_len) {
        close(h->in_fd);
        h->in_fd = -1;
        h->in_done = true;
        return;
    }
    h->in_op.cb = on_stdin;
    h->in_op.ud = h;
    if (ev_write(A.loop, &h->in_op, h->in_fd, h->task->payload + h->in_off,
                 h->task->payload_len - h->in_off, (uint64_t)-1) < 0)
        on_stdin(A.loop, &h->in_op, -EIO, 0);
}

/* ---- process end (pool thread waits, loop thread learns) ---- */

static int job_wait(wk_job *job)
{
    handler *h = job->ud;
    int st;
    while (waitpid(h->pid, &st, 0) < 0)
        if (errno != EINTR) return -errno;
    return st;
}

static void job_done(wk_job *job, int result)
{
    handler *h = job->ud;
    h->exited = true;
    h->wstatus = result < 0 ? (255 << 8) : result;
    finish(h);
}

/* ---- timers ---- */

static uint64_t extend_period_ns(void) { return (uint64_t)A.lease_ms * RT_NS_PER_MS * 2 / 3; }

static void on_extend(ev_loop *loop, ev_timer *t)
{
    handler *h = t->ud;
    if (h->exited) return;
    rq_work_extend(A.w, h->task->id, h->task->lease_token, A.lease_ms, 0);
    log_debug("lease extended", "task=%s", h->task->id);
    ev_timer_start(A.loop, &h->extend_timer, rt_now_ns() + extend_period_ns());
}

static void kill_handler(handler *h, int why)
{
    if (h->exited || h->killed != KILL_NONE) return;
    h->killed = why;
    kill(-h->pid, SIGKILL); /* its process group: a shell's children too */
    kill(h->pid, SIGKILL);
}

static void on_timeout(ev_loop *loop, ev_timer *t)
{
    handler *h = t->ud;
    log_warn("handler timed out", "task=%s timeout_ms=%u", h->task->id, A.timeout_ms);
    kill_handler(h, KILL_TIMEOUT);
}

/* ---- starting a task ---- */

static char **build_env(const rq_task *t)
{
    size_t n = 0;
    while (environ[n]) n++;
    char **env = calloc(n + t->nheaders + 5, sizeof *env);
    if (!env) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "RINGQ_", 6) != 0 || strncmp(environ[i], "RINGQ_ADDR=", 11) == 0)
            env[k++] = strdup(environ[i]);
    if (asprintf(&env[k++], "RINGQ_TASK_ID=%s", t->id) < 0 ||
        asprintf(&env[k++], "RINGQ_QUEUE=%s", t->queue) < 0 ||
        asprintf(&env[k++], "RINGQ_ATTEMPT=%u", t->attempt) < 0 ||
        asprintf(&env[k++], "RINGQ_MAX_ATTEMPTS=%u", t->max_attempts) < 0)
        return env; /* best effort under ENOMEM */
    for (size_t i = 0; i < t->nheaders; i++) {
        char *e;
        if (asprintf(&e, "RINGQ_HEADER_%s=%s", t->headers[i].name, t->headers[i].value) < 0)
            continue;
        for (char *p = e + 13; *p && *p != '='; p++) {
            if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 'a' + 'A');
            else if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))) *p = '_';
        }
        env[k++] = e;
    }
    return env;
}

static void free_env(char **env)
{
    for (size_t i = 0; env && env[i]; i++) free(env[i]);
    free(env);
}

static int spawn(handler *h)
{
    int in[2], out[2], err[2];
    if (pipe2(in, O_CLOEXEC) < 0) return -errno;
    if (pipe2(out, O_CLOEXEC) < 0) {
        close(in[0]);
        close(in[1]);
        return -errno;
    }
    if (pipe2(err, O_CLOEXEC) < 0) {
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        return -errno;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    posix_spawnattr_init(&at);
    sigset_t none, def;
    sigemptyset(&none);
    sigemptyset(&def);
    sigaddset(&def, SIGTERM);
    sigaddset(&def, SIGINT);
    sigaddset(&def, SIGPIPE);
    sigaddset(&def, SIGCHLD);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &def);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETPGROUP);
    char **env = build_env(h->task);
    int rc = env ? posix_spawnp(&h->pid, A.cmd[0], &fa, &at, A.cmd, env) : ENOMEM;
    free_env(env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(in[0]);
    close(out[1]);
    close(err[1]);
    if (rc != 0) {
        close(in[1]);
        close(out[0]);
        close(err[0]);
        return -rc;
    }
    h->in_fd = in[1];
    h->out = (pipe_rd){.h = h, .fd = out[0], .name = "stdout"};
    h->err = (pipe_rd){.h = h, .fd = err[0], .name = "stderr"};
    return 0;
}

static void on_task(rq_work *w, void *ud, rq_task *t)
{
    if (A.stopping) {
        rq_nack_opts no = {.has_delay = true, .reason = "worker shutting down"};
        rq_work_nack(w, t->id, t->lease_token, &no, ++A.next_rid);
        rq_task_free(t);
        return;
    }
    handler *h = NULL;
    for (uint32_t i = 0; i < A.concurrency && !h; i++)
        if (!A.hs[i].used) h = &A.hs[i];
    if (!h) { /* more tasks than credits: cannot happen unless the server over-delivers */
        rq_nack_opts no = {.has_delay = true, .reason = "worker over capacity"};
        rq_work_nack(w, t->id, t->lease_token, &no, ++A.next_rid);
        rq_task_free(t);
        return;
    }
    memset(h, 0, sizeof *h);
    h->used = true;
    h->task = t;
    h->started_ns = rt_now_ns();
    /* Before anything can fail: finish() stops both timers, armed or not. */
    ev_timer_init(&h->extend_timer, on_extend, h);
    ev_timer_init(&h->timeout_timer, on_timeout, h);
    A.running++;
    int rc = spawn(h);
    if (rc < 0) {
        /* A typo in the command, or no permission: nack the task with the reason (the queue's
         * backoff, then its dead letters, decide what happens to it) and keep running. */
        log_error("cannot start handler", "task=%s cmd=%s err=\"%s\"", t->id, A.cmd[0],
                  strerror(-rc));
        h->in_done = h->out.eof = h->err.eof = h->exited = true;
        h->start_err = rc;
        finish(h);
        return;
    }
    log_info("task started", "task=%s queue=%s attempt=%u pid=%d bytes=%zu", t->id, t->queue,
             t->attempt, (int)h->pid, t->payload_len);
    write_stdin(h);
    arm_pipe(&h->out);
    arm_pipe(&h->err);
    h->job = (wk_job){.run = job_wait, .done = job_done, .ud = h};
    if (wk_pool_submit(A.pool, 0, &h->job) < 0) {
        /* Cannot happen: the pool queue holds more jobs than there are handlers. */
        kill_handler(h, KILL_SHUTDOWN);
        waitpid(h->pid, &h->wstatus, 0);
        h->exited = true;
    }
    ev_timer_start(A.loop, &h->extend_timer, h->started_ns + extend_period_ns());
    ev_timer_start(A.loop, &h->timeout_timer,
                   h->started_ns + (uint64_t)A.timeout_ms * RT_NS_PER_MS);
}

/* gRPC INVALID_ARGUMENT: the server refused the request as written. */
#define CODE_INVALID_ARGUMENT 3

#define CODE_PERMISSION_DENIED 7
#define CODE_UNAUTHENTICATED 16
/* The server refused these credentials: retrying with the same ones is refused again. */
static bool refusal(int code)
{
    return code == CODE_PERMISSION_DENIED || code == CODE_UNAUTHENTICATED;
}

static void on_result(rq_work *w, void *ud, uint64_t rid, int code, const char *msg)
{
    if (rid == 0 && (code == CODE_INVALID_ARGUMENT || refusal(code))) {
        /* The Subscribe (the one request sent without an id) was refused: no task will ever
         * come, and sending it again would be refused again. */
        log_error("subscription refused", "code=%s message=\"%s\"", rq_status_name(code), msg);
        A.exit_code = EXIT_REFUSED;
        A.done = true;
        return;
    }
    if (code)
        log_warn("request failed", "request=%llu code=%s message=\"%s\"", (unsigned long long)rid,
                 rq_status_name(code), msg);
    check_done();
}

static void on_state(rq_work *w, void *ud, bool up, const rq_status *why)
{
    if (up) {
        if (A.failures)
            log_info("subscribed", "addr=%s after_failures=%u", rq_client_addr(A.c), A.failures);
        else log_info("subscribed", "addr=%s", rq_client_addr(A.c));
        A.failures = 0;
        return;
    }
    if (refusal(why->code)) {
        log_error("subscription refused", "code=%s message=\"%s\"", rq_status_name(why->code),
                  why->message);
        A.exit_code = EXIT_REFUSED;
        A.done = true;
        return;
    }
    A.failures++;
    /* Every failed attempt and the wait before the next one (RQ_BACKOFF_MIN_MS doubling to
     * RQ_BACKOFF_MAX_MS): an operator sees at once that the server cannot be reached. */
    log_warn(why->code == RQ_ECONNECT ? "connect failed" : "stream lost",
             "addr=%s code=%s why=\"%s\" attempt=%u retry_in_ms=%u", rq_client_addr(A.c),
             rq_status_name(why->code), why->message, A.failures, rq_work_retry_ms(w));
}

/* ---- shutdown ---- */

static void on_answer_wait(ev_loop *loop, ev_timer *t)
{
    log_warn("exiting without all answers", "unanswered=%zu", rq_work_unanswered(A.w));
    A.done = true;
}

static void on_grace(ev_loop *loop, ev_timer *t)
{
    for (uint32_t i = 0; i < A.concurrency; i++)
        if (A.hs[i].used) kill_handler(&A.hs[i], KILL_SHUTDOWN);
    ev_timer_start(A.loop, &A.answer_timer, rt_now_ns() + ANSWER_WAIT_MS * RT_NS_PER_MS);
}

static void on_signal(ev_loop *loop, ev_op *op, int res, unsigned flags)
{
    if (res <= 0) return;
    if (!A.stopping) {
        A.stopping = true;
        log_info("draining", "signal=%u running=%u grace_ms=%u", A.si.ssi_signo, A.running,
                 A.grace_ms);
        ev_timer_start(A.loop, &A.grace_timer, rt_now_ns() + (uint64_t)A.grace_ms * RT_NS_PER_MS);
        check_done();
    } else {
        on_grace(loop, &A.grace_timer); /* a second signal: stop waiting */
    }
    A.sig_op.cb = on_signal;
    ev_read(A.loop, &A.sig_op, A.sfd, &A.si, sizeof A.si, (uint64_t)-1);
}

/* ---- main ---- */

static int bad(const char *fmt, const char *arg)
{
    fprintf(stderr, "ringq-worker: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(ringq-worker --help for usage)\n");
    return EXIT_USAGE;
}

static bool num(const char *s, uint32_t *out)
{
    if (!s || !*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 9) return false;
    *out = (uint32_t)strtoul(s, NULL, 10);
    return true;
}

/* The default worker id: HOSTNAME:PID (in Kubernetes the hostname is the pod's name). */
static void default_worker_id(char out[RQ_WORKER_ID_MAX + 1])
{
    char host[RQ_WORKER_ID_MAX + 1];
    if (gethostname(host, sizeof host) < 0) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = 0;
    /* Bounded so the ":PID" always fits. */
    snprintf(out, RQ_WORKER_ID_MAX + 1, "%.100s:%ld", host, (long)getpid());
}

/* Parses the command line into A and *o, *worker_id (borrowed from argv). Returns -1 to go on,
 * else the exit code (0 after --help/--version, EXIT_USAGE on a bad argument). */
static int parse_args(int argc, char **argv, rq_client_opts *o, const char **worker_id)
{
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(s, "--") == 0) {
            A.cmd = argv + i + 1;
            break;
        } else if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
            fputs(USAGE, stdout);
            return 0;
        } else if (strcmp(s, "--version") == 0) {
            printf("ringq-worker %s (%s)\n", RT_VERSION, RT_VERSION_GIT);
            return 0;
        } else if (strcmp(s, "--addr") == 0 && v) {
            o->addr = v;
        } else if (strcmp(s, "--token") == 0 && v) {
            o->token = v;
        } else if (strcmp(s, "--token-file") == 0 && v) {
            static char token[RQ_TOKEN_BYTES_MAX + 1];
            if (cli_token_file("ringq-worker", v, token) < 0) return EXIT_USAGE;
            o->token = token;
        } else if (strcmp(s, "--tls") == 0) {
            o->tls = true;
            continue; /* no value */
        } else if (strcmp(s, "--ca") == 0 && v) {
            o->tls = true, o->tls_ca = v;
        } else if (strcmp(s, "--cert") == 0 && v) {
            o->tls = true, o->tls_cert = v;
        } else if (strcmp(s, "--key") == 0 && v) {
            o->tls = true, o->tls_key = v;
        } else if ((strcmp(s, "-q") == 0 || strcmp(s, "--queue") == 0) && v) {
            if (A.nq == QUEUES_MAX) return bad("at most 64 queues%s", "");
            A.queues[A.nq++] = v;
        } else if (strcmp(s, "-c") == 0 || strcmp(s, "--concurrency") == 0) {
            if (!num(v, &A.concurrency) || A.concurrency < 1 || A.concurrency > CONCURRENCY_MAX)
                return bad("--concurrency takes 1..64, not '%s'", v ? v : "");
        } else if (strcmp(s, "--lease-ms") == 0) {
            if (!num(v, &A.lease_ms) || !A.lease_ms) return bad("bad --lease-ms '%s'", v ? v : "");
        } else if (strcmp(s, "--timeout-ms") == 0) {
            if (!num(v, &A.timeout_ms) || !A.timeout_ms)
                return bad("bad --timeout-ms '%s'", v ? v : "");
        } else if (strcmp(s, "--grace-ms") == 0) {
            if (!num(v, &A.grace_ms)) return bad("bad --grace-ms '%s'", v ? v : "");
        } else if (strcmp(s, "--worker-id") == 0 && v) {
            if (!*v || strlen(v) > RQ_WORKER_ID_MAX)
                return bad("--worker-id takes 1..127 bytes, not '%s'", v);
            *worker_id = v;
        } else if (strcmp(s, "--log-level") == 0 && v) {
            log_level l;
            if (log_level_parse(v, &l) < 0) return bad("bad --log-level '%s'", v);
            log_set_level(l);
        } else {
            return bad("unexpected argument '%s'", s);
        }
        i++;
    }
    return -1;
}

/* The rules parse_args cannot check one argument at a time. -1 to go on, else EXIT_USAGE. */
static int check_args(void)
{
    if (A.nq == 0) return bad("no queue (-q QUEUE)%s", "");
    for (size_t i = 0; i < A.nq; i++) {
        /* The server's own rule (docs/semantics.md), so a typo fails here, not in a loop of
         * refused subscriptions. */
        q_err e;
        if (q_queue_name_check(A.queues[i], strlen(A.queues[i]), &e) != Q_OK) {
            fprintf(stderr, "ringq-worker: invalid queue name '%s': %s\n", A.queues[i], e.msg);
            return EXIT_USAGE;
        }
    }
    if (!A.cmd || !A.cmd[0]) return bad("no command (-- COMMAND [ARGS...])%s", "");
    return -1;
}

/* Signals, the client, the pool and the Work stream. -1 when all run, else the exit code. */
static int start(const rq_client_opts *o, const char *worker_id)
{
    /* Signals: SIGTERM/SIGINT through a signalfd read by the loop; blocked before any thread
     * starts so pool threads inherit the mask. Handlers get a clean mask (posix_spawn). */
    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGTERM);
    sigaddset(&ss, SIGINT);
    pthread_sigmask(SIG_BLOCK, &ss, NULL);
    signal(SIGPIPE, SIG_IGN);
    A.sfd = signalfd(-1, &ss, SFD_CLOEXEC);

    rq_status st;
    A.c = rq_client_create(o, &st);
    if (!A.c) {
        fprintf(stderr, "ringq-worker: %s\n", st.message);
        return 1;
    }
    A.loop = rq_client_loop(A.c);
    wk_mesh_opts mo = {.n_shards = 1, .n_threads = (int)A.concurrency};
    wk_pool_opts po = {.n_threads = (int)A.concurrency, .first_ep = 1};
    A.hs = calloc(A.concurrency, sizeof *A.hs);
    if (!A.hs || wk_mesh_create(&mo, &A.mesh) < 0 ||
        wk_mesh_loop_init(&A.ml, A.mesh, 0, A.loop) < 0 ||
        wk_pool_create(&po, A.mesh, &A.pool) < 0 || A.sfd < 0) {
        fprintf(stderr, "ringq-worker: cannot start the worker pool\n");
        return 1;
    }
    ev_timer_init(&A.grace_timer, on_grace, NULL);
    ev_timer_init(&A.answer_timer, on_answer_wait, NULL);
    A.sig_op.cb = on_signal;
    ev_read(A.loop, &A.sig_op, A.sfd, &A.si, sizeof A.si, (uint64_t)-1);

    rq_work_cbs cbs = {.on_task = on_task, .on_result = on_result, .on_state = on_state};
    rq_work_opts wo = {.queues = A.queues,
                       .nq = A.nq,
                       .credits = A.concurrency,
                       .lease_ms = A.lease_ms,
                       .worker_id = worker_id};
    A.w = rq_work_open_opts(A.c, &wo, &cbs, NULL, &st);
    if (!A.w) {
        fprintf(stderr, "ringq-worker: %s\n", st.message);
        return EXIT_USAGE;
    }
    return -1;
}

int main(int argc, char **argv)
{
    rq_client_opts o = {0};
    char wid_default[RQ_WORKER_ID_MAX + 1];
    const char *worker_id = NULL;
    A.concurrency = 1;
    A.lease_ms = 30000;
    A.timeout_ms = 3600000;
    A.grace_ms = 30000;
    int rc = parse_args(argc, argv, &o, &worker_id);
    if (rc < 0) rc = check_args();
    if (rc >= 0) return rc;
    if (!worker_id) {
        default_worker_id(wid_default);
        worker_id = wid_default;
    }
    rc = start(&o, worker_id);
    if (rc >= 0) return rc;
    log_info("ringq-worker started", "addr=%s queues=%zu concurrency=%u worker_id=%s cmd=%s",
             rq_client_addr(A.c), A.nq, A.concurrency, worker_id, A.cmd[0]);
    while (!A.done) {
        int lrc = ev_loop_run_once(A.loop, true);
        if (lrc < 0 && lrc != -EINTR && lrc != -ETIME) {
            log_error("loop failed", "err=\"%s\"", strerror(-lrc));
            break;
        }
    }
    log_info("ringq-worker stopped", "running=%u unanswered=%zu", A.running,
             rq_work_unanswered(A.w));
    rq_work_close(A.w);
    wk_pool_destroy(A.pool);
    rq_client_destroy(A.c);
    wk_mesh_destroy(A.mesh);
    free(A.hs);
    if (A.exit_code) return A.exit_code;
    return A.running ? 1 : 0;
}
