/* tools/ringq_cmd_enqueue: `ringq enqueue QUEUE [PAYLOAD...]` - one task per PAYLOAD argument,
 * or per stdin line when there is none: stdin lines are streamed one task each on one
 * Queue.EnqueueStream (the default: a line's id is printed as soon as its commit is done, with
 * no per-call cost), or sent in unary Enqueue batches of --batch tasks when --batch is given;
 * payload arguments go in Enqueue batches. Prints the task ids (a JSON array with --json) in
 * input order as they are answered. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "tools/ringq_cli.h"
#include "tools/ringq_fmt.h"

/* Tasks per Enqueue call at most (the server's batch limit). */
#define BATCH_MAX 1000
/* Headers per task on the command line (the server allows 64). */
#define HEADERS_MAX 64
/* Longest stdin line (one task's payload), bytes. */
#define LINE_MAX_BYTES (4u * 1024 * 1024)

/* --durability and --receipt, for every batch of the command. */
static rq_enqueue_opts enq_opts;
static bool enq_show_receipt;

static const char *level_name(rq_durability l)
{
    switch (l) {
    case RQ_DURABILITY_MEMORY: return "memory";
    case RQ_DURABILITY_WRITTEN: return "written";
    case RQ_DURABILITY_SYNCED: return "synced";
    default: return "none"; /* a server without receipts */
    }
}

/* Parses the durability options at a->v[*i]: 1 taken, 0 not one of them, or the usage exit. */
static int enqueue_durability_opt(cli_args *a, int *i)
{
    const char *o = a->v[*i], *v;
    if (strcmp(o, "--receipt") == 0) {
        enq_show_receipt = true;
        return 1;
    }
    if (strcmp(o, "--durability") != 0) return 0;
    static const rq_durability levels[] = {RQ_DURABILITY_MEMORY, RQ_DURABILITY_WRITTEN,
                                           RQ_DURABILITY_SYNCED};
    if ((v = cli_optval(a, i)))
        for (size_t k = 0; k < sizeof levels / sizeof levels[0]; k++)
            if (strcmp(v, level_name(levels[k])) == 0) {
                enq_opts.durability = levels[k];
                return 1;
            }
    return -cli_usage("--durability takes memory, written or synced");
}

/* ",\"receipt\":{...}" (JSON) or " partition=P offset=O commit_seq=S level=L" (text). */
static void print_receipt(const rq_receipt *r, bool json)
{
    if (json)
        printf(",\"receipt\":{\"partition\":%" PRIu32 ",\"offset\":%" PRIu64
               ",\"commit_seq\":%" PRIu64 ",\"level\":\"%s\"}",
               r->partition, r->offset, r->commit_seq, level_name(r->level));
    else
        printf(" partition=%" PRIu32 " offset=%" PRIu64 " commit_seq=%" PRIu64 " level=%s",
               r->partition, r->offset, r->commit_seq, level_name(r->level));
}

static void print_result(const cli_args *a, const rq_enqueue_result *r, const rq_receipt *rc);

static int enqueue_flush(cli_args *a, const char *queue, rq_task_spec *specs, size_t n,
                         char **owned)
{
    if (n == 0) return CLI_EX_OK;
    rq_enqueue_result *res = calloc(n, sizeof *res);
    rq_receipt *rcpt = calloc(n, sizeof *rcpt);
    if (!res || !rcpt) {
        free(res);
        free(rcpt);
        return cli_usage("out of memory");
    }
    rq_status st;
    if (rq_enqueue_with(a->c, queue, specs, n, &enq_opts, res, rcpt, &st) != 0) {
        free(res);
        free(rcpt);
        return cli_fail(&st);
    }
    for (size_t i = 0; i < n; i++) {
        print_result(a, &res[i], &rcpt[i]);
        if (owned) free(owned[i]);
    }
    free(res);
    free(rcpt);
    return CLI_EX_OK;
}

/* One result printed as enqueue_flush prints it (text line or JSON object). */
static void print_result(const cli_args *a, const rq_enqueue_result *r, const rq_receipt *rc)
{
    static bool first = true;
    if (a->json) {
        printf("%s{\"id\":", first ? "" : ",");
        fmt_json_cstr(r->id);
        printf(",\"duplicate\":%s", r->duplicate ? "true" : "false");
        print_receipt(rc, true);
        putchar('}');
        first = false;
    } else {
        printf("%s%s", r->id, r->duplicate ? " (duplicate)" : "");
        if (enq_show_receipt) print_receipt(rc, false);
        putchar('\n');
    }
}

/* The parsed command line. */
typedef struct enq_args {
    rq_task_spec base;
    rq_header hdrs[HEADERS_MAX];
    char *payloads[BATCH_MAX];
    size_t npay, batch;
    bool batch_set; /* --batch given: stdin lines go in unary Enqueue batches */
    const char *queue;
} enq_args;

/* Parses one task option at a->v[*i]: 1 taken, 0 not one, or the usage exit as -code. */
static int enqueue_task_opt(cli_args *a, int *i, enq_args *e)
{
    const char *o = a->v[*i], *v;
    rq_task_spec *b = &e->base;
    bool ok = true;
    if (strcmp(o, "-p") == 0 || strcmp(o, "--priority") == 0)
        ok = (v = cli_optval(a, i)) && cli_parse_u32(v, &b->priority);
    else if (strcmp(o, "--delay-ms") == 0)
        ok = (v = cli_optval(a, i)) && cli_parse_u64(v, &b->delay_ms);
    else if (strcmp(o, "--not-before-ms") == 0)
        ok = (v = cli_optval(a, i)) && cli_parse_u64(v, &b->not_before_unix_ms);
    else if (strcmp(o, "--max-attempts") == 0)
        ok = (v = cli_optval(a, i)) && cli_parse_u32(v, &b->max_attempts);
    else if (strcmp(o, "--lease-ms") == 0)
        ok = (v = cli_optval(a, i)) && cli_parse_u32(v, &b->lease_ms);
    else if (strcmp(o, "--key") == 0) ok = (b->idempotency_key = cli_optval(a, i)) != NULL;
    else if (strcmp(o, "-H") == 0 || strcmp(o, "--header") == 0) {
        char *hv = (char *)cli_optval(a, i);
        char *eq = hv ? strchr(hv, '=') : NULL;
        if (!eq || eq == hv) return -cli_usage("%s takes NAME=VALUE", o);
        if (b->nheaders == HEADERS_MAX) return -cli_usage("at most %d headers", HEADERS_MAX);
        *eq = 0;
        e->hdrs[b->nheaders++] = (rq_header){hv, eq + 1};
    } else return 0;
    return ok ? 1 : -cli_usage("bad %s", o);
}

static int enqueue_parse(cli_args *a, enq_args *e)
{
    for (int i = 1; i < a->n; i++) {
        const char *o = a->v[i], *v;
        uint64_t u;
        int d = enqueue_durability_opt(a, &i);
        if (!d) d = enqueue_task_opt(a, &i, e);
        if (d < 0) return -d;
        if (d) continue;
        if (strcmp(o, "--batch") == 0) {
            if (!(v = cli_optval(a, &i)) || !cli_parse_u64(v, &u) || u == 0 || u > BATCH_MAX)
                return cli_usage("--batch takes 1..%d", BATCH_MAX);
            e->batch = (size_t)u;
            e->batch_set = true;
        } else if (o[0] == '-' && o[1]) {
            return cli_usage("enqueue: unknown option %s", o);
        } else if (!e->queue) {
            e->queue = o;
        } else {
            if (e->npay == BATCH_MAX) return cli_usage("at most %d payload arguments", BATCH_MAX);
            e->payloads[e->npay++] = (char *)o;
        }
    }
    if (!e->queue) return cli_usage("enqueue needs a QUEUE");
    if (e->base.idempotency_key && e->npay != 1)
        return cli_usage("--key applies to exactly one task (one PAYLOAD argument)");
    e->base.headers = e->hdrs;
    return CLI_EX_OK;
}

/* stdin lines in unary Enqueue batches of e->batch (--batch). */
static int enqueue_stdin_batched(cli_args *a, enq_args *e, rq_task_spec *specs, bool *any)
{
    char **lines = calloc(e->batch, sizeof *lines);
    size_t k = 0, cap = 0;
    char *line = NULL;
    ssize_t len;
    int rc = lines ? CLI_EX_OK : cli_usage("out of memory");
    while (rc == CLI_EX_OK && (len = getline(&line, &cap, stdin)) >= 0) {
        if (len > 0 && line[len - 1] == '\n') line[--len] = 0;
        if ((size_t)len > LINE_MAX_BYTES) {
            rc = cli_usage("a stdin line is longer than %u bytes", LINE_MAX_BYTES);
            break;
        }
        *any = true;
        specs[k] = e->base;
        specs[k].payload = lines[k] = line;
        specs[k].payload_len = (size_t)len;
        line = NULL;
        cap = 0;
        if (++k == e->batch) {
            rc = enqueue_flush(a, e->queue, specs, k, lines);
            k = 0;
        }
    }
    free(line);
    if (rc == CLI_EX_OK && lines) rc = enqueue_flush(a, e->queue, specs, k, lines);
    else if (lines)
        for (size_t i = 0; i < k; i++) free(lines[i]);
    free(lines);
    return rc;
}

typedef struct stream_ctx {
    const cli_args *a;
    rq_status failed; /* the first failed answer's */
} stream_ctx;

/* An EnqueueStream answer: printed in order; the first failure is kept for the exit. */
static void on_stream_answer(rq_enq_stream *s, void *ud, uint64_t id, const rq_status *st,
                             const rq_enqueue_result *res, const rq_receipt *rc, size_t n)
{
    stream_ctx *x = ud;
    if (st->code && !x->failed.code) x->failed = *st;
    for (size_t i = 0; i < n; i++) print_result(x->a, &res[i], &rc[i]);
}

/* stdin lines, one task each, on one EnqueueStream (the default): each line is sent as it is
 * read, within the stream's credits, and its id printed once its durability is reached. */
static int enqueue_stdin_streamed(cli_args *a, enq_args *e, bool *any)
{
    rq_status st;
    stream_ctx x = {.a = a};
    rq_enq_stream *s = rq_enq_stream_open(a->c, enq_opts.durability, on_stream_answer, &x, &st);
    if (!s) return cli_fail(&st);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = CLI_EX_OK;
    while (rc == CLI_EX_OK && !x.failed.code && (len = getline(&line, &cap, stdin)) >= 0) {
        if (len > 0 && line[len - 1] == '\n') line[--len] = 0;
        if ((size_t)len > LINE_MAX_BYTES) {
            rc = cli_usage("a stdin line is longer than %u bytes", LINE_MAX_BYTES);
            break;
        }
        *any = true;
        rq_task_spec t = e->base;
        t.payload = line;
        t.payload_len = (size_t)len;
        int r;
        while ((r = rq_enq_stream_send(s, e->queue, &t, 1, NULL, &st)) == RQ_EAGAIN &&
               rq_client_poll(a->c, -1) >= 0) {}
        if (r) rc = cli_fail(&st);
    }
    free(line);
    int end = rq_enq_stream_finish(s, -1, &st);
    rq_enq_stream_free(s);
    if (rc != CLI_EX_OK) return rc;
    if (x.failed.code) return cli_fail(&x.failed);
    return end ? cli_fail(&st) : CLI_EX_OK;
}

int cmd_enqueue(cli_args *a)
{
    enq_args *e = calloc(1, sizeof *e);
    if (!e) return cli_usage("out of memory");
    e->batch = 100;
    int rc = enqueue_parse(a, e);
    rq_task_spec *specs = rc == CLI_EX_OK
                              ? calloc(e->batch > e->npay ? e->batch : e->npay, sizeof *specs)
                              : NULL;
    if (rc == CLI_EX_OK && !specs) rc = cli_usage("out of memory");
    if (rc != CLI_EX_OK) {
        free(e);
        return rc;
    }
    if (a->json) putchar('[');
    if (e->npay) {
        for (size_t i = 0; i < e->npay; i++) {
            specs[i] = e->base;
            specs[i].payload = e->payloads[i];
            specs[i].payload_len = strlen(e->payloads[i]);
        }
        for (size_t off = 0; off < e->npay && rc == CLI_EX_OK; off += e->batch)
            rc = enqueue_flush(a, e->queue, specs + off,
                               e->npay - off < e->batch ? e->npay - off : e->batch, NULL);
    } else {
        bool any = false; /* empty stdin: say so (exit 0: nothing to do is no failure) */
        rc = e->batch_set ? enqueue_stdin_batched(a, e, specs, &any)
                          : enqueue_stdin_streamed(a, e, &any);
        if (rc == CLI_EX_OK && !any) fputs("ringq: no input: nothing enqueued\n", stderr);
    }
    if (a->json) printf("]\n");
    free(specs);
    free(e);
    return rc;
}
