/* tools/ringq_cmd_queue: the ringq commands about whole queues - stats, watch, purge,
 * pause / resume and config. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tools/ringq_cli.h"
#include "tools/ringq_fmt.h"

static int stats_once(cli_args *a, const char *queue, bool header)
{
    rq_status st;
    rq_queue_info *qs = NULL, one;
    size_t n = 0;
    int rc = queue ? rq_get_queue(a->c, queue, &one, &st) : rq_list_queues(a->c, &qs, &n, &st);
    if (rc) return cli_fail(&st);
    if (queue) {
        qs = &one;
        n = 1;
    }
    if (a->json) {
        putchar('[');
        for (size_t i = 0; i < n; i++) {
            if (i) putchar(',');
            fmt_json_queue(&qs[i]);
        }
        printf("]\n");
    } else if (n == 0) {
        printf("no queues\n");
    } else {
        if (header) fmt_table_head();
        for (size_t i = 0; i < n; i++) fmt_table_row(&qs[i]);
    }
    if (!queue) free(qs);
    return CLI_EX_OK;
}

int cmd_stats(cli_args *a)
{
    if (a->n > 2) return cli_usage("stats takes at most one QUEUE");
    return stats_once(a, a->n == 2 ? a->v[1] : NULL, true);
}

int cmd_watch(cli_args *a)
{
    uint32_t interval = 1000, count = 0;
    for (int i = 1; i < a->n; i++) {
        const char *v;
        if (strcmp(a->v[i], "--interval-ms") == 0) {
            if (!(v = cli_optval(a, &i)) || !cli_parse_u32(v, &interval) || !interval)
                return cli_usage("bad --interval-ms");
        } else if (strcmp(a->v[i], "--count") == 0) {
            if (!(v = cli_optval(a, &i)) || !cli_parse_u32(v, &count))
                return cli_usage("bad --count");
        } else {
            return cli_usage("watch: unexpected %s", a->v[i]);
        }
    }
    bool tty = isatty(STDOUT_FILENO);
    for (uint32_t k = 0; !count || k < count; k++) {
        if (k) {
            struct timespec ts = {interval / 1000, (long)(interval % 1000) * 1000000L};
            nanosleep(&ts, NULL); /* the refresh period itself, not synchronization */
        }
        if (tty && !a->json) printf("\033[H\033[J"); /* home, clear: redraw in place */
        if (!a->json) {
            struct timespec now;
            clock_gettime(CLOCK_REALTIME, &now);
            char tb[FMT_TIME_BYTES];
            fmt_time_str(tb, (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u);
            printf("ringq %s  %s  every %u ms\n", rq_client_addr(a->c), tb, interval);
        }
        int rc = stats_once(a, NULL, true);
        fflush(stdout);
        if (rc) return rc;
    }
    return CLI_EX_OK;
}

int cmd_purge(cli_args *a)
{
    if (cli_need_one(a, "QUEUE")) return CLI_EX_USAGE;
    rq_status st;
    uint64_t n = 0;
    if (rq_purge_queue(a->c, a->v[1], &n, &st)) return cli_fail(&st);
    if (a->json) printf("{\"purged\":%" PRIu64 "}\n", n);
    else printf("purged: %" PRIu64 "\n", n);
    return CLI_EX_OK;
}

static int show_queue(cli_args *a, const rq_queue_info *q)
{
    if (a->json) {
        fmt_json_queue(q);
        putchar('\n');
    } else {
        fmt_table_head();
        fmt_table_row(q);
    }
    return CLI_EX_OK;
}

int cmd_pause(cli_args *a, bool pause)
{
    if (cli_need_one(a, "QUEUE")) return CLI_EX_USAGE;
    rq_status st;
    rq_queue_info q;
    int rc = pause ? rq_pause_queue(a->c, a->v[1], &q, &st)
                   : rq_resume_queue(a->c, a->v[1], &q, &st);
    return rc ? cli_fail(&st) : show_queue(a, &q);
}

int cmd_config(cli_args *a)
{
    rq_queue_settings s = {0};
    const char *queue = NULL;
    bool any = false;
    for (int i = 1; i < a->n; i++) {
        const char *o = a->v[i], *v;
        if (o[0] != '-') {
            if (queue) return cli_usage("config takes one QUEUE");
            queue = o;
            continue;
        }
        if (!(v = cli_optval(a, &i))) return cli_usage("%s needs a value", o);
        bool ok;
        if (strcmp(o, "--max-attempts") == 0)
            ok = s.has_max_attempts = cli_parse_u32(v, &s.v.max_attempts);
        else if (strcmp(o, "--lease-ms") == 0)
            ok = s.has_lease_ms = cli_parse_u32(v, &s.v.lease_ms);
        else if (strcmp(o, "--backoff-base-ms") == 0)
            ok = s.has_backoff_base_ms = cli_parse_u64(v, &s.v.backoff_base_ms);
        else if (strcmp(o, "--backoff-max-ms") == 0)
            ok = s.has_backoff_max_ms = cli_parse_u64(v, &s.v.backoff_max_ms);
        else if (strcmp(o, "--dedup-window-ms") == 0)
            ok = s.has_dedup_window_ms = cli_parse_u64(v, &s.v.dedup_window_ms);
        else if (strcmp(o, "--dead-letter") == 0) {
            ok = s.has_dead_letter = strcmp(v, "on") == 0 || strcmp(v, "off") == 0;
            s.v.dead_letter = strcmp(v, "on") == 0;
        } else if (strcmp(o, "--tokenless-ack") == 0) {
            ok = s.has_allow_tokenless_ack = strcmp(v, "on") == 0 || strcmp(v, "off") == 0;
            s.v.allow_tokenless_ack = strcmp(v, "on") == 0;
        } else if (strcmp(o, "--release-counts-attempt") == 0) {
            ok = s.has_release_counts_attempt = strcmp(v, "on") == 0 || strcmp(v, "off") == 0;
            s.v.release_counts_attempt = strcmp(v, "on") == 0;
        } else return cli_usage("config: unknown option %s", o);
        if (!ok) return cli_usage("bad value for %s: %s", o, v);
        any = true;
    }
    if (!queue) return cli_usage("config needs a QUEUE");
    rq_status st;
    rq_queue_info q;
    int rc = any ? rq_configure_queue(a->c, queue, &s, &q, &st)
                 : rq_get_queue(a->c, queue, &q, &st);
    if (rc) return cli_fail(&st);
    if (a->json) {
        fmt_json_queue(&q);
        putchar('\n');
    } else {
        printf("max_attempts=%u lease_ms=%u backoff_base_ms=%" PRIu64 " backoff_max_ms=%" PRIu64
               " dead_letter=%s dedup_window_ms=%" PRIu64 " tokenless_ack=%s"
               " release_counts_attempt=%s\n",
               q.config.max_attempts, q.config.lease_ms, q.config.backoff_base_ms,
               q.config.backoff_max_ms, q.config.dead_letter ? "on" : "off",
               q.config.dedup_window_ms, q.config.allow_tokenless_ack ? "on" : "off",
               q.config.release_counts_attempt ? "on" : "off");
    }
    return CLI_EX_OK;
}
