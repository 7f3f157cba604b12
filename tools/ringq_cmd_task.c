/* tools/ringq_cmd_task: the ringq commands about tasks - peek (next tasks without leasing them),
 * get, dead (the dead letters), redrive (saying which ids it skipped and why) and delete task. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/ringq_cli.h"
#include "tools/ringq_fmt.h"

/* Ids per redrive (the server's batch limit). */
#define REDRIVE_IDS_MAX 1000

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
        if (show)
            fmt_head("%-24s %-7s %4s %8s  %-24s %9s  %s", "ID", "STATE", "PRIO", "ATTEMPTS",
                     "ENQUEUED/DUE (UTC)", "BYTES", "PAYLOAD");
        for (size_t i = 0; i < show; i++) {
            const rq_task_info *t = ts[i];
            char att[24];
            snprintf(att, sizeof att, "%u/%u", t->attempts, t->max_attempts);
            size_t w = fmt_preview((const uint8_t *)t->id, strlen(t->id), 24);
            printf("%*s ", (int)(24 - w), "");
            fmt_state_cell(t->state, 7);
            printf(" %4u %8s  ", t->priority, att);
            fmt_time_ms(t->state == RQ_STATE_DELAYED ? t->due_unix_ms : t->enqueued_unix_ms);
            printf(" %9zu  ", t->payload_len);
            fmt_preview(t->payload, t->payload_len, 48);
            putchar('\n');
        }
        if (show == 0)
            printf("no %s tasks in %s\n",
                   state == RQ_STATE_READY     ? "ready"
                   : state == RQ_STATE_DELAYED ? "delayed"
                                               : "ready or delayed",
                   queue);
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
    else if (n == 0) printf("no dead tasks in %s\n", queue);
    else
        fmt_head("%-24s %8s  %-24s  %-30s %s", "ID", "ATTEMPTS", "ENQUEUED (UTC)", "LAST ERROR",
                 "PAYLOAD");
    for (size_t i = 0; i < n; i++) {
        const rq_task_info *t = ts[i];
        if (a->json) {
            if (i) putchar(',');
            fmt_json_task_info(t);
            continue;
        }
        size_t w = fmt_preview((const uint8_t *)t->id, strlen(t->id), 24);
        printf("%*s %8u  ", (int)(24 - w), "", t->attempts);
        fmt_time_ms(t->enqueued_unix_ms);
        fputs("  ", stdout);
        fputs(fmt_on(FMT_RED), stdout);
        w = fmt_preview((const uint8_t *)t->last_error, strlen(t->last_error), 30);
        printf("%s%*s ", fmt_off(), (int)(30 - w), "");
        fmt_preview(t->payload, t->payload_len, 40);
        putchar('\n');
    }
    if (a->json) printf("]\n");
    rq_task_infos_free(ts, n);
    return CLI_EX_OK;
}

/* redrive QUEUE: every dead task. redrive QUEUE ID...: those, and each id the server skipped
 * (unknown, another queue's, not dead) is listed with why; exit 3 when any was skipped. */
int cmd_redrive(cli_args *a)
{
    if (a->n < 2 || a->v[1][0] == '-') return cli_usage("redrive needs a QUEUE");
    const char *queue = a->v[1];
    const char *const *ids = (const char *const *)a->v + 2;
    size_t nids = (size_t)(a->n - 2);
    if (nids > REDRIVE_IDS_MAX) return cli_usage("redrive takes at most %d ids", REDRIVE_IDS_MAX);
    rq_status st;
    uint64_t n = 0;
    if (nids == 0) {
        if (rq_redrive(a->c, queue, NULL, 0, &n, &st)) return cli_fail(&st);
        if (a->json) printf("{\"redriven\":%" PRIu64 ",\"skipped\":[]}\n", n);
        else if (n == 0) printf("no dead tasks in %s: nothing redriven\n", queue);
        else printf("redriven: %" PRIu64 "\n", n);
        return CLI_EX_OK;
    }
    rq_item_status *res = calloc(nids, sizeof *res);
    if (!res) return cli_usage("out of memory");
    if (rq_redrive_each(a->c, queue, ids, nids, res, &n, &st)) {
        free(res);
        return cli_fail(&st);
    }
    size_t skipped = 0;
    if (a->json) printf("{\"redriven\":%" PRIu64 ",\"skipped\":[", n);
    else printf("redriven: %" PRIu64 "\n", n);
    for (size_t i = 0; i < nids; i++) {
        if (res[i].code == 0) continue;
        if (a->json) {
            printf("%s{\"id\":", skipped ? "," : "");
            fmt_json_cstr(ids[i]);
            printf(",\"code\":\"%s\",\"reason\":", rq_status_name(res[i].code));
            fmt_json_cstr(res[i].message);
            putchar('}');
        } else {
            printf("skipped %s: %s (%s)\n", ids[i], res[i].message, rq_status_name(res[i].code));
        }
        skipped++;
    }
    if (a->json) printf("]}\n");
    free(res);
    return skipped ? CLI_EX_REJECTED : CLI_EX_OK;
}

/* delete task ID...: each one (any state); an id that fails is reported and the rest go on.
 * delete queue QUEUE [--force]: the queue with its tasks, settings and keys. */
static int delete_tasks(cli_args *a, int first)
{
    int rc = CLI_EX_OK;
    if (a->json) printf("{\"deleted\":[");
    size_t k = 0;
    for (int i = first; i < a->n; i++) {
        rq_status st;
        if (rq_delete_task(a->c, a->v[i], &st)) {
            int r = cli_fail(&st);
            if (rc == CLI_EX_OK || r == CLI_EX_CONNECT) rc = r;
            if (r == CLI_EX_CONNECT) break;
            continue;
        }
        if (a->json) {
            if (k) putchar(',');
            fmt_json_cstr(a->v[i]);
        } else {
            printf("deleted task %s\n", a->v[i]);
        }
        k++;
    }
    if (a->json) printf("]}\n");
    return rc;
}

static int delete_queue(cli_args *a, int first)
{
    const char *queue = NULL;
    bool force = false;
    for (int i = first; i < a->n; i++) {
        if (strcmp(a->v[i], "--force") == 0) force = true;
        else if (a->v[i][0] == '-') return cli_usage("delete queue: unknown option %s", a->v[i]);
        else if (queue) return cli_usage("delete queue takes one QUEUE");
        else queue = a->v[i];
    }
    if (!queue) return cli_usage("delete queue needs a QUEUE");
    rq_status st;
    uint64_t n = 0;
    if (rq_delete_queue(a->c, queue, force, &n, &st)) return cli_fail(&st);
    if (a->json) {
        fputs("{\"queue\":", stdout);
        fmt_json_cstr(queue);
        printf(",\"deleted_tasks\":%" PRIu64 "}\n", n);
    } else {
        printf("deleted queue %s with %" PRIu64 " tasks\n", queue, n);
    }
    return CLI_EX_OK;
}

int cmd_delete(cli_args *a)
{
    if (a->n < 2) return cli_usage("delete needs 'task ID...' or 'queue QUEUE'");
    if (strcmp(a->v[1], "task") == 0) {
        if (a->n < 3) return cli_usage("delete task needs at least one ID");
        for (int i = 2; i < a->n; i++)
            if (a->v[i][0] == '-') return cli_usage("delete task: unknown option %s", a->v[i]);
        return delete_tasks(a, 2);
    }
    if (strcmp(a->v[1], "queue") == 0) return delete_queue(a, 2);
    return cli_usage("delete takes 'task ID...' or 'queue QUEUE', not '%s'", a->v[1]);
}
