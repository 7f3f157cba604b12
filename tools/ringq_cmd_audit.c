/* tools/ringq_cmd_audit: `ringq audit [QUEUE]` — the conservation ledger (Admin.Audit,
 * docs/semantics.md) of one queue or of every queue: each term, the two equations with both
 * sides summed, and whether they balance (or have an incomplete history, a log from before
 * LEDGER records). Exits CLI_EX_UNBALANCED when one does not balance with a complete history. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "tools/ringq_cli.h"
#include "tools/ringq_fmt.h"

static void print_ledger(const rq_ledger *l)
{
    uint64_t in = l->enqueued + l->redriven;
    uint64_t out = l->acked + l->dead + l->deleted + l->purged + l->ready + l->delayed + l->leased;
    uint64_t dead_out = l->redriven + l->dead_dropped + l->dead_held;
    if (l->incomplete_since)
        printf("queue %s (partition %" PRIu32 "): %s, incomplete history since offset %" PRIu64
               "\n",
               l->name, l->partition, l->balanced ? "balanced" : "does not balance",
               l->incomplete_since);
    else
        printf("queue %s (partition %" PRIu32 "): %s\n", l->name, l->partition,
               l->balanced ? "balanced" : "DOES NOT BALANCE");
    printf("  tasks:        enqueued %" PRIu64 " + redriven %" PRIu64 " = acked %" PRIu64
           " + dead %" PRIu64 " + deleted %" PRIu64 " + purged %" PRIu64 " + ready %" PRIu64
           " + delayed %" PRIu64 " + leased %" PRIu64 "   (%" PRIu64 " %s %" PRIu64 ")\n",
           l->enqueued, l->redriven, l->acked, l->dead, l->deleted, l->purged, l->ready, l->delayed,
           l->leased, in, l->tasks_balanced ? "=" : "!=", out);
    printf("  dead letters: dead %" PRIu64 " = redriven %" PRIu64 " + dead_dropped %" PRIu64
           " + dead_held %" PRIu64 "   (%" PRIu64 " %s %" PRIu64 ")\n",
           l->dead, l->redriven, l->dead_dropped, l->dead_held, l->dead,
           l->dead_balanced ? "=" : "!=", dead_out);
}

static void json_ledger(const rq_ledger *l)
{
    printf("{\"name\":");
    fmt_json_cstr(l->name);
    printf(",\"partition\":%" PRIu32 ",\"enqueued\":%" PRIu64 ",\"redriven\":%" PRIu64
           ",\"acked\":%" PRIu64 ",\"dead\":%" PRIu64 ",\"deleted\":%" PRIu64 ",\"purged\":%" PRIu64
           ",\"dead_dropped\":%" PRIu64 ",\"ready\":%" PRIu64 ",\"delayed\":%" PRIu64
           ",\"leased\":%" PRIu64 ",\"dead_held\":%" PRIu64
           ",\"tasks_balanced\":%s,\"dead_balanced\":%s,\"balanced\":%s"
           ",\"incomplete_since\":%" PRIu64 "}",
           l->partition, l->enqueued, l->redriven, l->acked, l->dead, l->deleted, l->purged,
           l->dead_dropped, l->ready, l->delayed, l->leased, l->dead_held,
           l->tasks_balanced ? "true" : "false", l->dead_balanced ? "true" : "false",
           l->balanced ? "true" : "false", l->incomplete_since);
}

int cmd_audit(cli_args *a)
{
    if (a->n > 2) return cli_usage("audit takes at most one QUEUE");
    rq_status st;
    rq_audit au;
    if (rq_audit_queues(a->c, a->n == 2 ? a->v[1] : NULL, &au, &st)) return cli_fail(&st);
    if (a->json) {
        printf("{\"balanced\":%s,\"queues_audited\":%" PRIu64 ",\"queues_unbalanced\":%" PRIu64
               ",\"truncated\":%s,\"queues\":[",
               au.balanced ? "true" : "false", au.queues_audited, au.queues_unbalanced,
               au.truncated ? "true" : "false");
        for (size_t i = 0; i < au.n; i++) {
            if (i) putchar(',');
            json_ledger(&au.queues[i]);
        }
        printf("]}\n");
    } else {
        for (size_t i = 0; i < au.n; i++) print_ledger(&au.queues[i]);
        printf("%" PRIu64 " queue%s audited, %" PRIu64 " do%s not balance%s\n", au.queues_audited,
               au.queues_audited == 1 ? "" : "s", au.queues_unbalanced,
               au.queues_unbalanced == 1 ? "es" : "", au.truncated ? " (list cut short)" : "");
    }
    int rc = au.balanced ? CLI_EX_OK : CLI_EX_UNBALANCED;
    free(au.queues);
    return rc;
}
