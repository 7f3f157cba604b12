/* ringq-worker's handler processes: spawn with the task's environment, stdin fed from the
 * payload, stdout/stderr logged line by line, the lease extended while it runs, killed at
 * --timeout-ms, waited for on a pool thread, then the task acked or nacked
 * (tools/ringq_worker.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/rt_clock.h"
#include "core/rt_log.h"
#include "tools/ringq_worker.h"

extern char **environ;

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
    if (!rw.stopping) rq_work_credit(rw.w, n);
}

/* ---- finishing a task ---- */

static void finish(handler *h)
{
    if (!h->exited || !h->out.eof || !h->err.eof || !h->in_done) return;
    ev_timer_stop(rw.loop, &h->extend_timer);
    ev_timer_stop(rw.loop, &h->timeout_timer);
    char reason[128];
    uint64_t ms = (rt_now_ns() - h->started_ns) / RT_NS_PER_MS;
    const char *id = h->task->id;
    uint64_t rid = ++rw.next_rid;
    if (!h->start_err && h->killed == KILL_NONE && WIFEXITED(h->wstatus) &&
        WEXITSTATUS(h->wstatus) == 0) {
        rq_work_ack(rw.w, id, h->task->lease_token, rid);
        log_info("task done", "task=%s queue=%s attempt=%u ms=%llu", id, h->task->queue,
                 h->task->attempt, (unsigned long long)ms);
    } else {
        rq_nack_opts no = {.reason = reason};
        if (h->start_err)
            snprintf(reason, sizeof reason, "cannot start handler: %s", strerror(-h->start_err));
        else if (h->killed == KILL_TIMEOUT)
            snprintf(reason, sizeof reason, "timed out after %u ms", rw.timeout_ms);
        else if (h->killed == KILL_SHUTDOWN)
            snprintf(reason, sizeof reason, "worker shutting down");
        else if (WIFEXITED(h->wstatus))
            snprintf(reason, sizeof reason, "exit status %d", WEXITSTATUS(h->wstatus));
        else snprintf(reason, sizeof reason, "killed by signal %d", WTERMSIG(h->wstatus));
        if (h->killed == KILL_SHUTDOWN) no.has_delay = true; /* delay 0: back at once */
        rq_work_nack(rw.w, id, h->task->lease_token, &no, rid);
        log_warn("task failed", "task=%s queue=%s attempt=%u ms=%llu reason=\"%s\"", id,
                 h->task->queue, h->task->attempt, (unsigned long long)ms, reason);
    }
    rq_task_free(h->task);
    h->task = NULL;
    h->used = false;
    rw.running--;
    grant(1);
    rw_check_done();
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
    if (ev_read(rw.loop, &r->op, r->fd, r->buf + r->have, sizeof r->buf - r->have, (uint64_t)-1) <
        0)
        on_pipe(rw.loop, &r->op, -EIO, 0);
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
    if (ev_write(rw.loop, &h->in_op, h->in_fd, h->task->payload + h->in_off,
                 h->task->payload_len - h->in_off, (uint64_t)-1) < 0)
        on_stdin(rw.loop, &h->in_op, -EIO, 0);
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

static uint64_t extend_period_ns(void) { return (uint64_t)rw.lease_ms * RT_NS_PER_MS * 2 / 3; }

static void on_extend(ev_loop *loop, ev_timer *t)
{
    handler *h = t->ud;
    if (h->exited) return;
    rq_work_extend(rw.w, h->task->id, h->task->lease_token, rw.lease_ms, 0);
    log_debug("lease extended", "task=%s", h->task->id);
    ev_timer_start(rw.loop, &h->extend_timer, rt_now_ns() + extend_period_ns());
}

void rw_handler_kill(handler *h, int why)
{
    if (h->exited || h->killed != KILL_NONE) return;
    h->killed = why;
    kill(-h->pid, SIGKILL); /* its process group: a shell's children too */
    kill(h->pid, SIGKILL);
}

static void on_timeout(ev_loop *loop, ev_timer *t)
{
    handler *h = t->ud;
    log_warn("handler timed out", "task=%s timeout_ms=%u", h->task->id, rw.timeout_ms);
    rw_handler_kill(h, KILL_TIMEOUT);
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
    int rc = env ? posix_spawnp(&h->pid, rw.cmd[0], &fa, &at, rw.cmd, env) : ENOMEM;
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

void rw_handler_start(handler *h, rq_task *t)
{
    memset(h, 0, sizeof *h);
    h->used = true;
    h->task = t;
    h->started_ns = rt_now_ns();
    /* Before anything can fail: finish() stops both timers, armed or not. */
    ev_timer_init(&h->extend_timer, on_extend, h);
    ev_timer_init(&h->timeout_timer, on_timeout, h);
    rw.running++;
    int rc = spawn(h);
    if (rc < 0) {
        /* A typo in the command, or no permission: nack the task with the reason (the queue's
         * backoff, then its dead letters, decide what happens to it) and keep running. */
        log_error("cannot start handler", "task=%s cmd=%s err=\"%s\"", t->id, rw.cmd[0],
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
    if (wk_pool_submit(rw.pool, 0, &h->job) < 0) {
        /* Cannot happen: the pool queue holds more jobs than there are handlers. */
        rw_handler_kill(h, KILL_SHUTDOWN);
        waitpid(h->pid, &h->wstatus, 0);
        h->exited = true;
    }
    ev_timer_start(rw.loop, &h->extend_timer, h->started_ns + extend_period_ns());
    ev_timer_start(rw.loop, &h->timeout_timer,
                   h->started_ns + (uint64_t)rw.timeout_ms * RT_NS_PER_MS);
}
