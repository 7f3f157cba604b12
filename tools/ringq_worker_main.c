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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>

#include "client/ringq.h"
#include "core/ev_reactor.h"
#include "core/rt_clock.h"
#include "core/rt_log.h"
#include "tools/ringq_worker.h"

rw_state rw;

void rw_check_done(void)
{
    if (rw.stopping && rw.running == 0 && rq_work_unanswered(rw.w) == 0) rw.done = true;
}

static void on_task(rq_work *w, void *ud, rq_task *t)
{
    if (rw.stopping) {
        rq_nack_opts no = {.has_delay = true, .reason = "worker shutting down"};
        rq_work_nack(w, t->id, t->lease_token, &no, ++rw.next_rid);
        rq_task_free(t);
        return;
    }
    handler *h = NULL;
    for (uint32_t i = 0; i < rw.concurrency && !h; i++)
        if (!rw.hs[i].used) h = &rw.hs[i];
    if (!h) { /* more tasks than credits: cannot happen unless the server over-delivers */
        rq_nack_opts no = {.has_delay = true, .reason = "worker over capacity"};
        rq_work_nack(w, t->id, t->lease_token, &no, ++rw.next_rid);
        rq_task_free(t);
        return;
    }
    rw_handler_start(h, t);
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
        rw.exit_code = EXIT_REFUSED;
        rw.done = true;
        return;
    }
    if (code)
        log_warn("request failed", "request=%llu code=%s message=\"%s\"", (unsigned long long)rid,
                 rq_status_name(code), msg);
    rw_check_done();
}

static void on_state(rq_work *w, void *ud, bool up, const rq_status *why)
{
    if (up) {
        if (rw.failures)
            log_info("subscribed", "addr=%s after_failures=%u", rq_client_addr(rw.c), rw.failures);
        else log_info("subscribed", "addr=%s", rq_client_addr(rw.c));
        rw.failures = 0;
        return;
    }
    if (refusal(why->code)) {
        log_error("subscription refused", "code=%s message=\"%s\"", rq_status_name(why->code),
                  why->message);
        rw.exit_code = EXIT_REFUSED;
        rw.done = true;
        return;
    }
    rw.failures++;
    /* Every failed attempt and the wait before the next one (RQ_BACKOFF_MIN_MS doubling to
     * RQ_BACKOFF_MAX_MS): an operator sees at once that the server cannot be reached. */
    log_warn(why->code == RQ_ECONNECT ? "connect failed" : "stream lost",
             "addr=%s code=%s why=\"%s\" attempt=%u retry_in_ms=%u", rq_client_addr(rw.c),
             rq_status_name(why->code), why->message, rw.failures, rq_work_retry_ms(w));
}

/* ---- shutdown ---- */

static void on_answer_wait(ev_loop *loop, ev_timer *t)
{
    log_warn("exiting without all answers", "unanswered=%zu", rq_work_unanswered(rw.w));
    rw.done = true;
}

static void on_grace(ev_loop *loop, ev_timer *t)
{
    for (uint32_t i = 0; i < rw.concurrency; i++)
        if (rw.hs[i].used) rw_handler_kill(&rw.hs[i], KILL_SHUTDOWN);
    ev_timer_start(rw.loop, &rw.answer_timer, rt_now_ns() + ANSWER_WAIT_MS * RT_NS_PER_MS);
}

static void on_signal(ev_loop *loop, ev_op *op, int res, unsigned flags)
{
    if (res <= 0) return;
    if (!rw.stopping) {
        rw.stopping = true;
        log_info("draining", "signal=%u running=%u grace_ms=%u", rw.si.ssi_signo, rw.running,
                 rw.grace_ms);
        ev_timer_start(rw.loop, &rw.grace_timer,
                       rt_now_ns() + (uint64_t)rw.grace_ms * RT_NS_PER_MS);
        rw_check_done();
    } else {
        on_grace(loop, &rw.grace_timer); /* a second signal: stop waiting */
    }
    rw.sig_op.cb = on_signal;
    ev_read(rw.loop, &rw.sig_op, rw.sfd, &rw.si, sizeof rw.si, (uint64_t)-1);
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
    rw.sfd = signalfd(-1, &ss, SFD_CLOEXEC);

    rq_status st;
    rw.c = rq_client_create(o, &st);
    if (!rw.c) {
        fprintf(stderr, "ringq-worker: %s\n", st.message);
        return 1;
    }
    rw.loop = rq_client_loop(rw.c);
    wk_mesh_opts mo = {.n_shards = 1, .n_threads = (int)rw.concurrency};
    wk_pool_opts po = {.n_threads = (int)rw.concurrency, .first_ep = 1};
    rw.hs = calloc(rw.concurrency, sizeof *rw.hs);
    if (!rw.hs || wk_mesh_create(&mo, &rw.mesh) < 0 ||
        wk_mesh_loop_init(&rw.ml, rw.mesh, 0, rw.loop) < 0 ||
        wk_pool_create(&po, rw.mesh, &rw.pool) < 0 || rw.sfd < 0) {
        fprintf(stderr, "ringq-worker: cannot start the worker pool\n");
        return 1;
    }
    ev_timer_init(&rw.grace_timer, on_grace, NULL);
    ev_timer_init(&rw.answer_timer, on_answer_wait, NULL);
    rw.sig_op.cb = on_signal;
    ev_read(rw.loop, &rw.sig_op, rw.sfd, &rw.si, sizeof rw.si, (uint64_t)-1);

    rq_work_cbs cbs = {.on_task = on_task, .on_result = on_result, .on_state = on_state};
    rq_work_opts wo = {.queues = rw.queues,
                       .nq = rw.nq,
                       .credits = rw.concurrency,
                       .lease_ms = rw.lease_ms,
                       .worker_id = worker_id};
    rw.w = rq_work_open_opts(rw.c, &wo, &cbs, NULL, &st);
    if (!rw.w) {
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
    rw.concurrency = 1;
    rw.lease_ms = 30000;
    rw.timeout_ms = 3600000;
    rw.grace_ms = 30000;
    int rc = rw_parse_args(argc, argv, &o, &worker_id);
    if (rc < 0) rc = rw_check_args();
    if (rc >= 0) return rc;
    if (!worker_id) {
        rw_default_worker_id(wid_default);
        worker_id = wid_default;
    }
    rc = start(&o, worker_id);
    if (rc >= 0) return rc;
    log_info("ringq-worker started", "addr=%s queues=%zu concurrency=%u worker_id=%s cmd=%s",
             rq_client_addr(rw.c), rw.nq, rw.concurrency, worker_id, rw.cmd[0]);
    while (!rw.done) {
        int lrc = ev_loop_run_once(rw.loop, true);
        if (lrc < 0 && lrc != -EINTR && lrc != -ETIME) {
            log_error("loop failed", "err=\"%s\"", strerror(-lrc));
            break;
        }
    }
    log_info("ringq-worker stopped", "running=%u unanswered=%zu", rw.running,
             rq_work_unanswered(rw.w));
    rq_work_close(rw.w);
    wk_pool_destroy(rw.pool);
    rq_client_destroy(rw.c);
    wk_mesh_destroy(rw.mesh);
    free(rw.hs);
    if (rw.exit_code) return rw.exit_code;
    return rw.running ? 1 : 0;
}
