/* tools/ringq_cmd_task: the ringq commands about tasks - peek (next tasks without leasing them),
 * get, dead (the dead letters) and redrive. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/ringq_cli.h"
#include "tools/ringq_fmt.h"

int cmd_peek(cli_args *a)
{
    const char *queue = NULL;
    uint64_t limit = 10;
    int state = RQ_STATE_UNSPECIFIED;
    for (int i = 1; i < a->n; i++) {
        const char *o = a->v[i], *v;
        if (strcmp(o, "--limit") == 0) {
            if (!(v = cli_optval(a, &i)) || !cli_parse_u64(v, &limit) || limit < 1 || limit > 1000)
                return cli_usage("--limit takes 1..1000");
        } else if (strcmp(o, "--state") == 0) {
            v = cli_optval(a, &i);
            if (v && strcmp(v, "ready") == 0) state = RQ_STATE_READY;
            else if (v && strcmp(v, "delayed") == 0) state = RQ_STATE_DELAYED;
            else if (v && strcmp(v, "all") == 0) state = RQ_STATE_UNSPECIFIED;
            else return cli_usage("--state takes ready, delayed or all");
        } else if (o[0] == '-') {
            return cli_usage("peek: unknown option %s", o);
        } else if (!queue) {
            queue = o;
        } else {
            return cli_usage("peek takes one QUEUE");
        }
    }
    if (!queue) return cli_usage("peek needs a QUEUE");
    rq_status st;
    rq_task_info **ts;
    size_t n;
    bool more;
    if (rq_peek(a->c, queue, state, (size_t)limit, &ts, &n, &more, &st)) return cli_fail(&st);
    size_t show = n;
    if (a->json) {
        putchar('[');
        for (size_t i = 0; i < show; i++) {
            if (i) putchar(',');
            fmt_json_task_info(ts[i]);
        }
        printf("]\n");
    } else {
        printf("%-24s %-7s %4s %8s  %-24s %9s  %s\n", "ID", "STATE", "PRIO", "ATTEMPTS",
               "ENQUEUED/DUE (UTC)", "BYTES", "PAYLOAD");
        for (size_t i = 0; i < show; i++) {
            const rq_task_info *t = ts[i];
            char att[24];
            snprintf(att, sizeof att, "%u/%u", t->attempts, t->max_attempts);
            size_t w = fmt_preview((const uint8_t *)t->id, strlen(t->id), 24);
            printf("%*s %-7s %4u %8s  ", (int)(24 - w), "", rq_state_name(t->state), t->priority,
                   att);
            fmt_time_ms(t->state == RQ_STATE_DELAYED ? t->due_unix_ms : t->enqueued_unix_ms);
            printf(" %9zu  ", t->payload_len);
            fmt_preview(t->payload, t->payload_len, 48);
            putchar('\n');
        }
        if (show == 0) printf("(no %s tasks)\n", state == RQ_STATE_READY ? "ready"
                              : state == RQ_STATE_DELAYED ? "delayed" : "ready or delayed");
        else if (more) printf("(more tasks follow: --limit N shows up to 1000)\n");
    }
    rq_task_infos_free(ts, n);
    return CLI_EX_OK;
}

int cmd_get(cli_args *a)
{
    if (cli_need_one(a, "ID")) return CLI_EX_USAGE;
    rq_status st;
    rq_task_info *t;
    if (rq_get_task(a->c, a->v[1], &t, &st)) return cli_fail(&st);
    if (a->json) {
        fmt_json_task_info(t);
        putchar('\n');
    } else {
        fmt_task_info(t);
    }
    rq_task_info_free(t);
    return CLI_EX_OK;
}

int cmd_dead(cli_args *a)
{
    const char *queue = NULL;
    uint64_t limit = 0;
    for (int i = 1; i < a->n; i++) {
        const char *v;
        if (strcmp(a->v[i], "--limit") == 0) {
            if (!(v = cli_optval(a, &i)) || !cli_parse_u64(v, &limit))
                return cli_usage("bad --limit");
        } else if (a->v[i][0] == '-') {
            return cli_usage("dead: unknown option %s", a->v[i]);
        } else if (!queue) {
            queue = a->v[i];
        } else {
            return cli_usage("dead takes one QUEUE");
        }
    }
    if (!queue) return cli_usage("dead needs a QUEUE");
    rq_status st;
    rq_task_info **ts;
    size_t n;
    if (rq_list_dead(a->c, queue, (size_t)limit, &ts, &n, &st)) return cli_fail(&st);
    if (a->json) putchar('[');
    else printf("%-24s %8s  %-30s %s\n", "ID", "ATTEMPTS", "LAST ERROR", "PAYLOAD");
    for (size_t i = 0; i < n; i++) {
        if (a->json) {
            if (i) putchar(',');
            fmt_json_task_info(ts[i]);
        } else {
            const rq_task_info *t = ts[i];
            printf("%-24s %8u  %-30.30s %.40s\n", t->id, t->attempts, t->last_error,
                   fmt_printable(t->payload, t->payload_len) ? (char *)t->payload : "(binary)");
        }
    }
    if (a->json) printf("]\n");
    rq_task_infos_free(ts, n);
    return CLI_EX_OK;
}

int cmd_redrive(cli_args *a)
{
    if (a->n < 2 || a->v[1][0] == '-') return cli_usage("redrive needs a QUEUE");
    rq_status st;
    uint64_t n = 0;
    if (rq_redrive(a->c, a->v[1], (const char *const *)a->v + 2, (size_t)(a->n - 2), &n, &st))
        return cli_fail(&st);
    if (a->json) printf("{\"redriven\":%" PRIu64 "}\n", n);
    else printf("redriven: %" PRIu64 "\n", n);
    return CLI_EX_OK;
}
