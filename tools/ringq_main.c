/* ringq: the command-line client of ringqd. Subcommands enqueue, stats, watch, peek, get, dead,
 * redrive, purge, pause, resume, config; tables for people, --json for scripts.
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
#include "tools/ringq_cli.h"

static const char USAGE[] =
    "usage: ringq [--addr HOST:PORT] [--json] [--timeout-ms N] COMMAND [ARGS]\n"
    "\n"
    "  enqueue QUEUE [PAYLOAD...]   one task per PAYLOAD, or per stdin line when none\n"
    "          [-p PRIO] [--delay-ms N] [--not-before-ms T] [--max-attempts N]\n"
    "          [--lease-ms N] [--key KEY] [-H NAME=VALUE]... [--batch N]\n"
    "  stats [QUEUE]                table of queues (or one queue)\n"
    "  watch [--interval-ms N] [--count N]   stats refreshed in place\n"
    "  peek QUEUE [--limit N] [--state ready|delayed|all]   next tasks, without leasing\n"
    "  get ID                       one task in any state\n"
    "  dead QUEUE [--limit N]       dead tasks of a queue\n"
    "  redrive QUEUE [ID...]        dead tasks back to ready (all when no ID)\n"
    "  purge QUEUE                  delete every task of a queue\n"
    "  pause QUEUE | resume QUEUE\n"
    "  config QUEUE [--max-attempts N] [--lease-ms N] [--backoff-base-ms N]\n"
    "          [--backoff-max-ms N] [--dead-letter on|off] [--dedup-window-ms N]\n"
    "\n"
    "The address defaults to $RINGQ_ADDR, else " RQ_ADDR_DEFAULT ".\n"
    "Exit: 0 ok, 1 server error, 2 usage, 3 rejected by the server, 4 cannot connect.\n";

static int run(int argc, char **argv, char **rest)
{
    rq_client_opts o = {.fail_fast = true}; /* a tool reports a down server at once */
    bool json = false;
    int n = 0;
    bool opts_done = false;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!opts_done && strcmp(s, "--") == 0) {
            opts_done = true;
        } else if (!opts_done && (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0)) {
            fputs(USAGE, stdout);
            return CLI_EX_OK;
        } else if (!opts_done && strcmp(s, "--json") == 0) {
            json = true;
        } else if (!opts_done && strcmp(s, "--addr") == 0) {
            if (++i >= argc) return cli_usage("--addr needs HOST:PORT");
            o.addr = argv[i];
        } else if (!opts_done && strcmp(s, "--timeout-ms") == 0) {
            if (++i >= argc || !cli_parse_u32(argv[i], &o.timeout_ms) || !o.timeout_ms)
                return cli_usage("--timeout-ms needs a positive number");
        } else {
            rest[n++] = argv[i];
        }
    }
    if (n == 0) return cli_usage("no command");
    rq_status st;
    rq_client *c = rq_client_create(&o, &st);
    if (!c) return cli_fail(&st);
    cli_args a = {.n = n, .v = rest, .c = c, .json = json};
    const char *cmd = rest[0];
    int rc;
    if (strcmp(cmd, "enqueue") == 0) rc = cmd_enqueue(&a);
    else if (strcmp(cmd, "stats") == 0) rc = cmd_stats(&a);
    else if (strcmp(cmd, "watch") == 0) rc = cmd_watch(&a);
    else if (strcmp(cmd, "peek") == 0) rc = cmd_peek(&a);
    else if (strcmp(cmd, "get") == 0) rc = cmd_get(&a);
    else if (strcmp(cmd, "dead") == 0) rc = cmd_dead(&a);
    else if (strcmp(cmd, "redrive") == 0) rc = cmd_redrive(&a);
    else if (strcmp(cmd, "purge") == 0) rc = cmd_purge(&a);
    else if (strcmp(cmd, "pause") == 0) rc = cmd_pause(&a, true);
    else if (strcmp(cmd, "resume") == 0) rc = cmd_pause(&a, false);
    else if (strcmp(cmd, "config") == 0) rc = cmd_config(&a);
    else rc = cli_usage("unknown command '%s'", cmd);
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
