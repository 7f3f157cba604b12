/* tools/ringq_cmd_leases: `ringq leases QUEUE` — the leases of a queue and who holds them
 * (Admin.ListLeases, docs/semantics.md "Leases bound to the stream"). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "tools/ringq_cli.h"
#include "tools/ringq_fmt.h"

static void json_lease(const rq_lease_info *l)
{
    printf("{\"id\":");
    fmt_json_cstr(l->id);
    printf(",\"worker_id\":");
    fmt_json_cstr(l->worker_id);
    printf(",\"address\":");
    fmt_json_cstr(l->address);
    printf(",\"deadline_unix_ms\":%" PRIu64 ",\"lease_token\":%" PRIu64 ",\"attempt\":%" PRIu32 "}",
           l->deadline_unix_ms, l->lease_token, l->attempt);
}

int cmd_leases(cli_args *a)
{
    if (a->n != 2) return cli_usage("leases takes one QUEUE");
    rq_status st;
    rq_lease_info *ls = NULL;
    size_t n = 0;
    bool truncated = false;
    if (rq_list_leases(a->c, a->v[1], &ls, &n, &truncated, &st)) return cli_fail(&st);
    if (a->json) {
        printf("{\"truncated\":%s,\"leases\":[", truncated ? "true" : "false");
        for (size_t i = 0; i < n; i++) {
            if (i) putchar(',');
            json_lease(&ls[i]);
        }
        printf("]}\n");
    } else {
        fmt_head("%-24s %-24s %-22s %-24s %7s %s\n", "ID", "HOLDER", "ADDRESS", "DEADLINE",
                 "ATTEMPT", "TOKEN");
        for (size_t i = 0; i < n; i++) {
            const rq_lease_info *l = &ls[i];
            printf("%-24s %-24s %-22s ", l->id, l->worker_id[0] ? l->worker_id : "-",
                   l->address[0] ? l->address : "-");
            fmt_time_ms(l->deadline_unix_ms);
            printf(" %7" PRIu32 " %" PRIu64 "\n", l->attempt, l->lease_token);
        }
        printf("%zu lease%s%s\n", n, n == 1 ? "" : "s", truncated ? " (list cut short)" : "");
    }
    free(ls);
    return CLI_EX_OK;
}
