/* tools/ringq_cli: what the pieces of the ringq command-line client share - exit codes, one
 * invocation (the client, --json, the command's arguments), usage and failure reporting, number
 * parsing - and the commands themselves (tools/ringq_cmd_*.c), which tools/ringq_main.c
 * dispatches to. Every command prints its result to stdout (a table or text for people, JSON
 * with --json) and its errors to stderr, and returns the process exit code. */
#ifndef RINGQ_CLI_H
#define RINGQ_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/ringq.h"

/* Exit codes (docs/cli.md). */
enum {
    CLI_EX_OK = 0,     /* done */
    CLI_EX_SERVER = 1, /* the server failed the request (INTERNAL, UNAVAILABLE, ...) */
    CLI_EX_USAGE = 2,  /* bad command line or input */
    CLI_EX_REJECTED =
        3, /* the server rejected the request (INVALID_ARGUMENT, PERMISSION_DENIED, ...) */
    CLI_EX_CONNECT = 4,    /* could not connect */
    CLI_EX_UNBALANCED = 5, /* audit: a queue's ledger does not balance */
};

/* One invocation: v[0] is the command, v[1..n) its arguments (borrowed from argv; a command
 * may write into them). */
typedef struct cli_args {
    int n;
    char **v;
    rq_client *c; /* connected (fail-fast) client, borrowed */
    bool json;    /* --json: machine-readable output */
} cli_args;

/* "ringq: <message>" and the --help hint on stderr; returns CLI_EX_USAGE. */
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The status on stderr; returns the exit code it maps to. */
int cli_fail(const rq_status *st);
/* Strict decimal (digits only, at most 19 / no more than UINT32_MAX); false leaves *out. */
bool cli_parse_u64(const char *s, uint64_t *out);
bool cli_parse_u32(const char *s, uint32_t *out);
/* Reads a bearer token from the file at `path` (--token-file) into out[0..RQ_TOKEN_BYTES_MAX]:
 * its first line, trailing blanks and newline dropped. 0, or -1 after saying why on stderr
 * ("ringq: --token-file PATH: ..."; never the file's contents). */
int cli_token_file(const char *prog, const char *path, char out[RQ_TOKEN_BYTES_MAX + 1]);
/* The value of the option at v[*i] (advancing *i), or NULL when it is the last argument. */
const char *cli_optval(cli_args *a, int *i);
/* 0 when the command has exactly one operand (not an option), else cli_usage's code. */
int cli_need_one(cli_args *a, const char *what);

/* One subcommand of a command with subcommands (stream, consumer). */
typedef struct cli_sub {
    const char *name;
    int (*run)(cli_args *a);
} cli_sub;
/* Runs the subcommand named by v[1] from subs[0..n) and returns its exit code; cli_usage's code
 * when v[1] is missing ("<cmd> needs <names>") or names none of them. Borrows everything. */
int cli_dispatch(cli_args *a, const char *cmd, const char *names, const cli_sub *subs, size_t n);

/* ---- the commands: exit code ---- */

/* tools/ringq_cmd_enqueue.c */
int cmd_enqueue(cli_args *a);
/* tools/ringq_cmd_queue.c: queue figures and settings */
int cmd_stats(cli_args *a);
int cmd_watch(cli_args *a);
int cmd_purge(cli_args *a);
int cmd_pause(cli_args *a, bool pause); /* pause, or resume with pause = false */
int cmd_config(cli_args *a);
/* tools/ringq_cmd_task.c: looking at tasks, redrive, and delete (tasks or a queue) */
int cmd_peek(cli_args *a);
int cmd_get(cli_args *a);
int cmd_dead(cli_args *a);
int cmd_redrive(cli_args *a);
int cmd_delete(cli_args *a); /* delete task ID... | delete queue QUEUE [--force] */
/* tools/ringq_cmd_audit.c: the conservation ledger */
int cmd_audit(cli_args *a);
/* tools/ringq_cmd_leases.c: a queue's leases and their holders */
int cmd_leases(cli_args *a);
/* tools/ringq_cmd_top.c: a live full-screen table of the queues */
int cmd_top(cli_args *a);

/* tools/ringq_cmd_stream.c: stream create|ls|info|rm|purge|read */
int cmd_stream(cli_args *a);
/* tools/ringq_cmd_stream_read.c: stream read NAME (Streams.Read, no consumer) */
int cmd_stream_read(cli_args *a);
/* tools/ringq_cmd_pubsub.c: publish lines, print a consumer's messages */
int cmd_pub(cli_args *a);
int cmd_sub(cli_args *a);
/* tools/ringq_cmd_consumer.c: consumer ls|info|rm|pause|reset */
int cmd_consumer(cli_args *a);

#endif
