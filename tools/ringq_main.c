/* ringq: the command-line client of ringqd. Subcommands enqueue, stats, watch, top, peek, get,
 * dead, redrive, purge, delete (task or queue), pause, resume, config, audit, leases, and for
 * streams stream, pub, sub, consumer; tables for people (coloured on a terminal unless NO_COLOR
 * is set), --json for scripts; `ringq COMMAND --help` for each.
 *
 * Exit codes (docs/cli.md): 0 done; 1 the server failed the request (INTERNAL, RESOURCE_EXHAUSTED,
 * UNAVAILABLE, DEADLINE_EXCEEDED, ...); 2 usage error (bad command line or input); 3 the server
 * rejected the request as invalid (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, ...);
 * 4 could not connect.
 *
 * This file: the global options and the dispatch. The commands are tools/ringq_cmd_*.c, their
 * output helpers tools/ringq_fmt.c, what they share tools/ringq_cli.h. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/ringq.h"
#include "core/rt_version.h"
#include "tools/ringq_cli.h"
#include "tools/ringq_fmt.h"

static const char USAGE[] =
    "usage: ringq [GLOBAL OPTIONS] COMMAND [ARGS] | ringq COMMAND --help | ringq --version\n"
    "global options, before COMMAND: --addr HOST:PORT --json --timeout-ms N --token T\n"
    "  --token-file F; TLS (verified): --tls --ca FILE --cert FILE --key FILE\n"
    "\n"
    "  enqueue QUEUE [PAYLOAD...]   one task per PAYLOAD, or per stdin line when none\n"
    "          [-p PRIO] [--delay-ms N] [--not-before-ms T] [--max-attempts N]\n"
    "          [--lease-ms N] [--key KEY] [-H NAME=VALUE]... [--batch N] [--durability L] [--receipt]\n"
    "  stats [QUEUE] | watch | top  queue table: once, redrawn, or live full screen (q quits)\n"
    "  peek QUEUE [--limit N] [--state ready|delayed|all]   next tasks, without leasing\n"
    "  get ID                       one task in any state\n"
    "  dead QUEUE [--limit N]       dead tasks of a queue\n"
    "  redrive QUEUE [ID...]        dead tasks back to ready (all when no ID)\n"
    "  purge QUEUE | pause QUEUE | resume QUEUE\n"
    "  delete task ID... | delete queue QUEUE [--force]\n"
    "  config QUEUE [OPTIONS]       show or change settings (ringq config --help)\n"
    "  audit [QUEUE]                the conservation ledger: does every task add up\n"
    "  leases QUEUE                 a queue's leases: who holds each, until when\n"
    "  stream create|ls|info|rm|purge|read [NAME] [OPTIONS]   streams (ringq stream --help)\n"
    "  pub SUBJECT [PAYLOAD...] | sub SUBJECT [--durable NAME] [--from POS] [--count N]\n"
    "  consumer ls|info|rm|pause|reset STREAM [NAME]   a stream's consumers\n"
    "\n"
    "Env: $RINGQ_ADDR (else " RQ_ADDR_DEFAULT
    "), $RINGQ_TOKEN, $RINGQ_TLS=1, $RINGQ_TLS_CA, _CERT,\n"
    "_KEY; NO_COLOR: no colour. Times: RFC 3339 UTC. Exit: 0 ok, 1 server error, 2 usage,\n"
    "3 rejected by the server, 4 cannot connect, 5 a ledger does not balance (audit).\n";

static int run_pause(cli_args *a) { return cmd_pause(a, true); }
static int run_resume(cli_args *a) { return cmd_pause(a, false); }

/* Each command: its name, its code and its --help text (stdout, exit 0). */
typedef struct cli_cmd {
    const char *name;
    int (*run)(cli_args *a);
    const char *help;
} cli_cmd;

static const cli_cmd CMDS[] = {
    {"enqueue", cmd_enqueue,
     "usage: ringq enqueue QUEUE [OPTIONS] [PAYLOAD...]\n"
     "One task per PAYLOAD argument, or one per stdin line when there is none (empty stdin:\n"
     "\"no input: nothing enqueued\" on stderr, exit 0). Prints each task id (\"(duplicate)\"\n"
     "when its key was seen), or a JSON array of {id, duplicate, receipt} with --json.\n"
     "  -p, --priority N      0..15, higher first (default 0)\n"
     "  --delay-ms N          ready after N ms\n"
     "  --not-before-ms T     ready at unix time T (ms)\n"
     "  --max-attempts N      attempts before the task dies (default: the queue's)\n"
     "  --lease-ms N          lease per delivery (default: the queue's)\n"
     "  --key KEY             idempotency key (exactly one PAYLOAD)\n"
     "  --durability LEVEL    memory | written | synced: when the server answers (default:\n"
     "                        the server's; synced is refused under --fsync never)\n"
     "  --receipt             print each task's receipt after its id: partition=P offset=O\n"
     "                        commit_seq=S level=written|synced (--json always has it)\n"
     "  -H, --header N=V      a header (repeatable, up to 64)\n"
     "  --batch N             stdin lines go in Enqueue calls of N tasks, 1..1000 (default:\n"
     "                        each line streamed on one EnqueueStream, its id printed once\n"
     "                        answered; PAYLOAD arguments go in calls of 100)\n"},
    {"stats", cmd_stats,
     "usage: ringq stats [QUEUE]\n"
     "A table of every queue (or one): ready, delayed, leased, dead, rates, paused. \"no queues\"\n"
     "when there is none. --json: an array of queues with their settings and counters.\n"},
    {"watch", cmd_watch,
     "usage: ringq watch [--interval-ms N] [--count N]\n"
     "The stats table redrawn in place every N ms (default 1000), COUNT times (default: until\n"
     "interrupted), under a line with the server and the time (RFC 3339 UTC).\n"},
    {"top", cmd_top,
     "usage: ringq top [--interval-ms N] [--sort COLUMN] [--reverse]\n"
     "A live full-screen table of every queue, redrawn every N ms (100..60000, default 1000):\n"
     "ready, delayed, leased, dead, and enqueued, acked and failed (nacks, expired leases) per\n"
     "second since the previous screen. Keys: q quit, s / S next / previous sort column, 1-8\n"
     "a column, r reverse, + / - double / halve the interval. --sort name (default), ready,\n"
     "delayed, leased, dead, enq, ack or fail; numbers sort largest first. Not on a terminal:\n"
     "the table once.\n"},
    {"peek", cmd_peek,
     "usage: ringq peek QUEUE [--limit N] [--state ready|delayed|all]\n"
     "The next tasks without leasing them (nothing changes): ready tasks in the order a lease\n"
     "would take them, then delayed ones by due time. --limit 1..1000 (default 10), --state\n"
     "default all. Times are RFC 3339 UTC. --json: an array of tasks as get prints them.\n"},
    {"get", cmd_get,
     "usage: ringq get ID\n"
     "One task in any state: queue, state, priority, attempts, times (RFC 3339 UTC), key,\n"
     "last error, headers, payload. --json: one object (with *_unix_ms and RFC 3339 times).\n"},
    {"dead", cmd_dead,
     "usage: ringq dead QUEUE [--limit N]\n"
     "The dead tasks of QUEUE by id, with attempts, enqueue time and last error; \"no dead tasks\n"
     "in QUEUE\" when there is none. --limit N: at most N (default: all).\n"},
    {"redrive", cmd_redrive,
     "usage: ringq redrive QUEUE [ID...]\n"
     "Dead tasks back to ready with their attempts reset: the given ones (at most 1000), or\n"
     "every dead task of QUEUE when no ID is given. Prints how many were redriven, then one\n"
     "\"skipped ID: why (CODE)\" line per id that was not (unknown, another queue's, not dead);\n"
     "exit 3 when any was skipped. --json: {redriven, skipped: [{id, code, reason}]}.\n"},
    {"purge", cmd_purge,
     "usage: ringq purge QUEUE\n"
     "Deletes every task of QUEUE in every state; its settings and keys stay.\n"},
    {"delete", cmd_delete,
     "usage: ringq delete task ID...\n"
     "       ringq delete queue QUEUE [--force]\n"
     "delete task: each task, in any state (a leased task's ack then fails). An id that fails\n"
     "is reported on stderr and the rest go on; the exit code is the first failure's.\n"
     "delete queue: the queue with its tasks (dead ones too), settings, pause state and\n"
     "idempotency keys; it stays deleted across restarts and the name is free to use again.\n"
     "A queue with leased tasks is refused (exit 3) unless --force.\n"},
    {"pause", run_pause,
     "usage: ringq pause QUEUE\n"
     "Stop handing out tasks of QUEUE (it still accepts them; leases run on).\n"},
    {"resume", run_resume,
     "usage: ringq resume QUEUE\n"
     "Hand out tasks of a paused QUEUE again.\n"},
    {"config", cmd_config,
     "usage: ringq config QUEUE [OPTIONS]\n"
     "Without options, shows the settings; with them, changes those (creating the queue).\n"
     "  --max-attempts N  --lease-ms N  --backoff-base-ms N  --backoff-max-ms N\n"
     "  --dead-letter on|off  --dedup-window-ms N\n"
     "  --tokenless-ack on|off   acks without a lease token allowed (old clients; default off)\n"
     "  --release-counts-attempt on|off   a task released because its Work stream ended\n"
     "                           uses an attempt (default off)\n"},
    {"audit", cmd_audit,
     "usage: ringq audit [QUEUE]\n"
     "The conservation ledger of QUEUE, or of every queue (those that do not balance first):\n"
     "  enqueued + redriven = acked + dead + deleted + purged + ready + delayed + leased\n"
     "  dead = redriven + dead_dropped + dead_held\n"
     "each term, both sides summed, and whether they balance; then \"N queues audited, M do\n"
     "not balance\". Exit 5 when one does not (the server logs it and counts it in\n"
     "ringq_ledger_mismatch_total; nothing is changed). --json: {balanced, queues_audited,\n"
     "queues_unbalanced, truncated, queues: [{name, partition, each term, balanced}]}.\n"},
    {"stream", cmd_stream,
     "usage: ringq stream create NAME [OPTIONS]\n"
     "       ringq stream ls | info NAME [--subjects FILTER] | rm NAME\n"
     "       ringq stream purge NAME [--subject FILTER] [--up-to SEQ | --keep N]\n"
     "       ringq stream read NAME [--from seq:N|time:T|first] [--to seq:N|last|live]\n"
     "                        [--count N] [--subject FILTER]... [--headers-only]\n"
     "create options (0 or absent: the server's default; DUR is N[ms|s|m|h|d]):\n"
     "  --subjects F,F...     subjects captured, wildcards * and > (default: NAME)\n"
     "  --retention limits|interest|work_queue   --discard old|new (at a limit)\n"
     "  --max-msgs N  --max-bytes N  --max-age DUR  --max-msgs-per-subject N\n"
     "  --dedup-window DUR    how long --id of pub is remembered (default 2m; 0: off)\n"
     "  --max-msg-size N      --allow-ttl (pub --ttl allowed)   --description TEXT\n"
     "  --partitions N        spread over N partitions, ordered per subject (default 1)\n"
     "info --subjects FILTER adds per-subject counts. purge: every message, or a subject's,\n"
     "or below SEQ, or all but the last N. read: the messages in order, without a consumer,\n"
     "\"[SEQ] SUBJECT: PAYLOAD\", from the first (default) to the last now (default), a\n"
     "sequence, or live (until interrupted or --count). --json: one object (ls: an array;\n"
     "read: one per line).\n"},
    {"pub", cmd_pub,
     "usage: ringq pub SUBJECT [OPTIONS] [PAYLOAD...]\n"
     "One message per PAYLOAD, or per stdin line when there is none, published in batches to\n"
     "the stream that captures SUBJECT, pipelined on one PublishStream. Prints \"STREAM SEQ\"\n"
     "per message (\"(duplicate)\" for a repeated --id); --json: one {stream, seq, duplicate,\n"
     "receipt} object per line.\n"
     "  --id ID               message id for deduplication (one message only)\n"
     "  --ttl DUR             removed DUR after it is stored (a stream with --allow-ttl)\n"
     "  -H, --header N=V      a header (repeatable)          --batch N  1..1000 (default 100)\n"
     "  --expect-last-seq N   only if the stream's last sequence is N (0: empty)\n"
     "  --durability memory|written|synced   when the server answers\n"},
    {"sub", cmd_sub,
     "usage: ringq sub SUBJECT [--durable NAME] [--from POS] [--count N] [--stream NAME]\n"
     "Prints the messages of SUBJECT (a filter: * and > allowed) as they come, \"[SEQ]\n"
     "SUBJECT: PAYLOAD\", and acks each one printed. Without --durable an ephemeral consumer,\n"
     "gone when sub ends; --durable NAME binds that consumer, creating it (with SUBJECT as\n"
     "its filter) when it does not exist: it continues where it was, across restarts.\n"
     "  --from POS     all (default) | last | new | last_per_subject | seq:N | time:RFC3339\n"
     "                 (a new consumer's start; an existing durable keeps its position)\n"
     "  --count N      stop after N messages (default: run until interrupted)\n"
     "  --stream NAME  the stream (default: the one capturing SUBJECT, wildcards as any token)\n"
     "--json: one object per line {stream, subject, seq, unix_ms, time, consumer_seq,\n"
     "delivery_count, pending, msg_id, headers, payload | payload_base64}.\n"},
    {"consumer", cmd_consumer,
     "usage: ringq consumer ls STREAM | info STREAM NAME | rm STREAM NAME\n"
     "       ringq consumer pause STREAM NAME --until RFC3339|DUR|now\n"
     "       ringq consumer reset STREAM NAME --to seq:N|time:RFC3339\n"
     "ls: name, deliver and ack policies, position, lag, ack pending, clients, paused. info:\n"
     "the same and the configuration. pause: no deliveries until the time (DUR: from now;\n"
     "now: resume). reset: deliver next from that sequence or time, dropping what is pending.\n"
     "--json: one object (ls: an array).\n"},
    {"leases", cmd_leases,
     "usage: ringq leases QUEUE\n"
     "The leases of QUEUE now, soonest deadline first (at most 1000): task id, holder (a Work\n"
     "stream's ringq-worker-id, else its address; \"-\" for a unary Lease, which no stream\n"
     "holds), address, deadline, attempt, lease token. --json: {truncated, leases: [{id,\n"
     "worker_id, address, deadline_unix_ms, lease_token, attempt}]}.\n"},
};

static const cli_cmd *find_cmd(const char *name)
{
    for (size_t i = 0; i < sizeof CMDS / sizeof CMDS[0]; i++)
        if (strcmp(CMDS[i].name, name) == 0) return &CMDS[i];
    return NULL;
}

static int run(int argc, char **argv, char **rest)
{
    rq_client_opts o = {.fail_fast = true}; /* a tool reports a down server at once */
    static char token[RQ_TOKEN_BYTES_MAX + 1];
    bool json = false, help = false;
    int n = 0;
    bool opts_done = false;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!opts_done && strcmp(s, "--") == 0) {
            opts_done = true;
        } else if (!opts_done && (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0)) {
            if (n == 0) {
                fputs(USAGE, stdout);
                return CLI_EX_OK;
            }
            help = true; /* the command's own help */
        } else if (!opts_done && n == 0 && strcmp(s, "--version") == 0) {
            printf("ringq %s (%s)\n", RT_VERSION, RT_VERSION_GIT);
            return CLI_EX_OK;
        } else if (!opts_done && strcmp(s, "--json") == 0) {
            json = true;
        } else if (!opts_done && strcmp(s, "--addr") == 0) {
            if (++i >= argc) return cli_usage("--addr needs HOST:PORT");
            o.addr = argv[i];
        } else if (!opts_done && strcmp(s, "--token") == 0) {
            if (++i >= argc || !*argv[i]) return cli_usage("--token needs a token");
            o.token = argv[i];
        } else if (!opts_done && strcmp(s, "--token-file") == 0) {
            if (++i >= argc) return cli_usage("--token-file needs a path");
            if (cli_token_file("ringq", argv[i], token) < 0) return CLI_EX_USAGE;
            o.token = token;
        } else if (!opts_done && (strcmp(s, "--ca") == 0 || strcmp(s, "--cert") == 0 ||
                                  (n == 0 && strcmp(s, "--key") == 0))) {
            /* (--key after COMMAND is enqueue's idempotency key.) */
            if (++i >= argc) return cli_usage("%s needs a FILE", s);
            const char **dst = strcmp(s, "--ca") == 0     ? &o.tls_ca
                               : strcmp(s, "--cert") == 0 ? &o.tls_cert
                                                          : &o.tls_key;
            *dst = argv[i];
            o.tls = true;
        } else if (!opts_done && strcmp(s, "--tls") == 0) {
            o.tls = true;
        } else if (!opts_done && strcmp(s, "--timeout-ms") == 0) {
            if (++i >= argc || !cli_parse_u32(argv[i], &o.timeout_ms) || !o.timeout_ms)
                return cli_usage("--timeout-ms needs a positive number");
        } else {
            rest[n++] = argv[i];
        }
    }
    if (n == 0) return cli_usage("no command");
    const cli_cmd *cmd = find_cmd(rest[0]);
    if (!cmd) return cli_usage("unknown command '%s'", rest[0]);
    if (help) {
        fputs(cmd->help, stdout);
        return CLI_EX_OK;
    }
    fmt_color_init(json);
    rq_status st;
    rq_client *c = rq_client_create(&o, &st);
    if (!c) return cli_fail(&st);
    cli_args a = {.n = n, .v = rest, .c = c, .json = json};
    int rc = cmd->run(&a);
    rq_client_destroy(c);
    fflush(stdout);
    return rc;
}

int main(int argc, char **argv)
{
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    if (!rest) return CLI_EX_SERVER;
    int rc = run(argc, argv, rest);
    free(rest);
    return rc;
}
