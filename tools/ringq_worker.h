/* tools/ringq_worker: what the pieces of ringq-worker share - its limits and exit statuses, one
 * handler process (its pipes, timers and pool job), and the agent's one state, rw, owned by the
 * loop thread. The pieces: ringq_worker_args.c (command line and usage), ringq_worker_handler.c
 * (a handler process from spawn to ack/nack), ringq_worker_main.c (the Work session, signals and
 * shutdown). */
#ifndef RINGQ_WORKER_H
#define RINGQ_WORKER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/signalfd.h>
#include <sys/types.h>

#include "client/ringq.h"
#include "core/ev_reactor.h"
#include "worker/wk_mesh_loop.h"
#include "worker/wk_pool.h"

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

/* The agent: every field is read and written on the loop thread only. */
typedef struct rw_state {
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
} rw_state;

extern rw_state rw;

/* Parses the command line into rw and *o, *worker_id (borrowed from argv). Returns -1 to go on,
 * else the exit code (0 after --help/--version, EXIT_USAGE on a bad argument). */
int rw_parse_args(int argc, char **argv, rq_client_opts *o, const char **worker_id);

/* The rules rw_parse_args cannot check one argument at a time. -1 to go on, else EXIT_USAGE. */
int rw_check_args(void);

/* The default worker id: HOSTNAME:PID (in Kubernetes the hostname is the pod's name). */
void rw_default_worker_id(char out[RQ_WORKER_ID_MAX + 1]);

/* Starts task t in free handler slot h (takes ownership of t: freed when the task is acked or
 * nacked). A handler that cannot be started nacks its task with the reason; never fails. */
void rw_handler_start(handler *h, rq_task *t);

/* Kills h's process group with SIGKILL and notes why (KILL_TIMEOUT, KILL_SHUTDOWN); nothing
 * when it has exited or was killed already. */
void rw_handler_kill(handler *h, int why);

/* Marks the agent done once it is stopping, no handler runs and every ack/nack is answered. */
void rw_check_done(void);

#endif
