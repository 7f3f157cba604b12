/* tools/ringq_cmd_enqueue: `ringq enqueue QUEUE [PAYLOAD...]` - one task per PAYLOAD argument,
 * or per stdin line when there is none, sent in Enqueue batches of --batch tasks; prints the
 * task ids (a JSON array with --json) as each batch is answered. */
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
    static bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (a->json) {
            printf("%s{\"id\":", first ? "" : ",");
            fmt_json_cstr(res[i].id);
            printf(",\"duplicate\":%s", res[i].duplicate ? "true" : "false");
            print_receipt(&rcpt[i], true);
            putchar('}');
            first = false;
        } else {
            printf("%s%s", res[i].id, res[i].duplicate ? " (duplicate)" : "");
            if (enq_show_receipt) print_receipt(&rcpt[i], false);
            putchar('\n');
        }
        if (owned) free(owned[i]);
    }
    free(res);
    free(rcpt);
    return CLI_EX_OK;
}

int cmd_enqueue(cli_args *a)
{
    rq_task_spec base = {0};
    rq_header hdrs[HEADERS_MAX];
    char *payloads[BATCH_MAX];
    size_t npay = 0, batch = 100;
    const char *queue = NULL;
    for (int i = 1; i < a->n; i++) {
        const char *o = a->v[i], *v;
        uint64_t u;
        int d = enqueue_durability_opt(a, &i);
        if (d) {
            if (d < 0) return -d;
            continue;
        }
        if (strcmp(o, "-p") == 0 || strcmp(o, "--priority") == 0) {
            if (!(v = cli_optval(a, &i)) || !cli_parse_u32(v, &base.priority))
                return cli_usage("%s needs a number", o);
        } else if (strcmp(o, "--delay-ms") == 0) {
            if (!(v = cli_optval(a, &i)) || !cli_parse_u64(v, &base.delay_ms))
                return cli_usage("bad %s", o);
        } else if (strcmp(o, "--not-before-ms") == 0) {
            if (!(v = cli_optval(a, &i)) || !cli_parse_u64(v, &base.not_before_unix_ms))
                return cli_usage("bad %s", o);
        } else if (strcmp(o, "--max-attempts") == 0) {
            if (!(v = cli_optval(a, &i)) || !cli_parse_u32(v, &base.max_attempts))
                return cli_usage("bad %s", o);
        } else if (strcmp(o, "--lease-ms") == 0) {
            if (!(v = cli_optval(a, &i)) || !cli_parse_u32(v, &base.lease_ms))
                return cli_usage("bad %s", o);
        } else if (strcmp(o, "--key") == 0) {
            if (!(base.idempotency_key = cli_optval(a, &i)))
                return cli_usage("--key needs a value");
        } else if (strcmp(o, "--batch") == 0) {
            if (!(v = cli_optval(a, &i)) || !cli_parse_u64(v, &u) || u == 0 || u > BATCH_MAX)
                return cli_usage("--batch takes 1..%d", BATCH_MAX);
            batch = (size_t)u;
        } else if (strcmp(o, "-H") == 0 || strcmp(o, "--header") == 0) {
            char *hv = (char *)cli_optval(a, &i);
            char *eq = hv ? strchr(hv, '=') : NULL;
            if (!eq || eq == hv) return cli_usage("%s takes NAME=VALUE", o);
            if (base.nheaders == HEADERS_MAX) return cli_usage("at most %d headers", HEADERS_MAX);
            *eq = 0;
            hdrs[base.nheaders++] = (rq_header){hv, eq + 1};
        } else if (o[0] == '-' && o[1]) {
            return cli_usage("enqueue: unknown option %s", o);
        } else if (!queue) {
            queue = o;
        } else {
            if (npay == BATCH_MAX) return cli_usage("at most %d payload arguments", BATCH_MAX);
            payloads[npay++] = (char *)o;
        }
    }
    if (!queue) return cli_usage("enqueue needs a QUEUE");
    if (base.idempotency_key && npay != 1)
        return cli_usage("--key applies to exactly one task (one PAYLOAD argument)");
    base.headers = hdrs;
    rq_task_spec *specs = calloc(batch > npay ? batch : npay, sizeof *specs);
    if (!specs) return cli_usage("out of memory");
    if (a->json) putchar('[');
    int rc = CLI_EX_OK;
    if (npay) {
        for (size_t i = 0; i < npay; i++) {
            specs[i] = base;
            specs[i].payload = payloads[i];
            specs[i].payload_len = strlen(payloads[i]);
        }
        for (size_t off = 0; off < npay && rc == CLI_EX_OK; off += batch)
            rc = enqueue_flush(a, queue, specs + off, npay - off < batch ? npay - off : batch,
                               NULL);
    } else {
        char **lines = calloc(batch, sizeof *lines);
        size_t k = 0;
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        bool any_line = false; /* empty stdin: say so (exit 0: nothing to do is no failure) */
        while (rc == CLI_EX_OK && lines && (len = getline(&line, &cap, stdin)) >= 0) {
            if (len > 0 && line[len - 1] == '\n') line[--len] = 0;
            if ((size_t)len > LINE_MAX_BYTES) {
                rc = cli_usage("a stdin line is longer than %u bytes", LINE_MAX_BYTES);
                break;
            }
            any_line = true;
            specs[k] = base;
            specs[k].payload = lines[k] = line;
            specs[k].payload_len = (size_t)len;
            line = NULL;
            cap = 0;
            if (++k == batch) {
                rc = enqueue_flush(a, queue, specs, k, lines);
                k = 0;
            }
        }
        free(line);
        if (!lines) rc = cli_usage("out of memory");
        else if (rc == CLI_EX_OK) rc = enqueue_flush(a, queue, specs, k, lines);
        else
            for (size_t i = 0; i < k; i++) free(lines[i]);
        if (rc == CLI_EX_OK && !any_line) fputs("ringq: no input: nothing enqueued\n", stderr);
        free(lines);
    }
    if (a->json) printf("]\n");
    free(specs);
    return rc;
}
