/* ringq-worker's command line: usage, options and the checks across them (tools/ringq_worker.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/rt_log.h"
#include "core/rt_version.h"
#include "queue/q_part.h"
#include "tools/ringq_cli.h"
#include "tools/ringq_worker.h"

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

void rw_default_worker_id(char out[RQ_WORKER_ID_MAX + 1])
{
    char host[RQ_WORKER_ID_MAX + 1];
    if (gethostname(host, sizeof host) < 0) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = 0;
    /* Bounded so the ":PID" always fits. */
    snprintf(out, RQ_WORKER_ID_MAX + 1, "%.100s:%ld", host, (long)getpid());
}

int rw_parse_args(int argc, char **argv, rq_client_opts *o, const char **worker_id)
{
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(s, "--") == 0) {
            rw.cmd = argv + i + 1;
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
            if (rw.nq == QUEUES_MAX) return bad("at most 64 queues%s", "");
            rw.queues[rw.nq++] = v;
        } else if (strcmp(s, "-c") == 0 || strcmp(s, "--concurrency") == 0) {
            if (!num(v, &rw.concurrency) || rw.concurrency < 1 || rw.concurrency > CONCURRENCY_MAX)
                return bad("--concurrency takes 1..64, not '%s'", v ? v : "");
        } else if (strcmp(s, "--lease-ms") == 0) {
            if (!num(v, &rw.lease_ms) || !rw.lease_ms)
                return bad("bad --lease-ms '%s'", v ? v : "");
        } else if (strcmp(s, "--timeout-ms") == 0) {
            if (!num(v, &rw.timeout_ms) || !rw.timeout_ms)
                return bad("bad --timeout-ms '%s'", v ? v : "");
        } else if (strcmp(s, "--grace-ms") == 0) {
            if (!num(v, &rw.grace_ms)) return bad("bad --grace-ms '%s'", v ? v : "");
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

int rw_check_args(void)
{
    if (rw.nq == 0) return bad("no queue (-q QUEUE)%s", "");
    for (size_t i = 0; i < rw.nq; i++) {
        /* The server's own rule (docs/semantics.md), so a typo fails here, not in a loop of
         * refused subscriptions. */
        q_err e;
        if (q_queue_name_check(rw.queues[i], strlen(rw.queues[i]), &e) != Q_OK) {
            fprintf(stderr, "ringq-worker: invalid queue name '%s': %s\n", rw.queues[i], e.msg);
            return EXIT_USAGE;
        }
    }
    if (!rw.cmd || !rw.cmd[0]) return bad("no command (-- COMMAND [ARGS...])%s", "");
    return -1;
}
