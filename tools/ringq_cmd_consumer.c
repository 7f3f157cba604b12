/* tools/ringq_cmd_consumer: `ringq consumer ls|info|rm|pause|reset` - a stream's consumers, their
 * positions and lag (ringq.v1.Streams; docs/semantics.md "Streams"). Text for people, one JSON
 * value with --json. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/ringq_cli.h"
#include "tools/ringq_fmt.h"
#include "tools/ringq_stream_args.h"

static void json_u64(const char *name, uint64_t v) { printf(",\"%s\":%" PRIu64, name, v); }

static void json_config(const rq_consumer_config *c)
{
    printf("{\"name\":");
    fmt_json_cstr(c->name);
    printf(",\"ephemeral\":%s,\"deliver_policy\":\"%s\"", c->ephemeral ? "true" : "false",
           rq_deliver_name(c->deliver_policy));
    json_u64("opt_start_seq", c->opt_start_seq);
    json_u64("opt_start_unix_ms", c->opt_start_unix_ms);
    printf(",\"filter_subjects\":[");
    for (size_t i = 0; i < c->nfilters; i++) {
        if (i) putchar(',');
        fmt_json_cstr(c->filter_subjects[i]);
    }
    printf("],\"ack_policy\":\"%s\"", rq_ack_policy_name(c->ack_policy));
    json_u64("ack_wait_ms", c->ack_wait_ms);
    printf(",\"max_deliver\":%" PRIu32 ",\"backoff_ms\":[", c->max_deliver);
    for (size_t i = 0; i < c->nbackoff; i++) printf("%s%" PRIu64, i ? "," : "", c->backoff_ms[i]);
    printf("],\"max_ack_pending\":%" PRIu32, c->max_ack_pending);
    json_u64("rate_limit_bytes_per_s", c->rate_limit_bytes_per_s);
    printf(",\"headers_only\":%s,\"description\":", c->headers_only ? "true" : "false");
    fmt_json_cstr(c->description);
    putchar('}');
}

static void json_info(const rq_consumer_info *c)
{
    printf("{\"stream\":");
    fmt_json_cstr(c->stream);
    printf(",\"name\":");
    fmt_json_cstr(c->config.name);
    printf(",\"config\":");
    json_config(&c->config);
    json_u64("created_unix_ms", c->created_unix_ms);
    json_u64("delivered_consumer_seq", c->delivered_consumer_seq);
    json_u64("delivered_stream_seq", c->delivered_stream_seq);
    json_u64("ack_floor_stream_seq", c->ack_floor_stream_seq);
    json_u64("num_ack_pending", c->num_ack_pending);
    json_u64("num_redelivered", c->num_redelivered);
    json_u64("num_pending", c->num_pending);
    json_u64("num_terminated", c->num_terminated);
    json_u64("position_seq", c->position_seq);
    printf(",\"num_waiting\":%" PRIu32 ",\"clients\":%" PRIu32, c->num_waiting, c->clients);
    json_u64("paused_until_unix_ms", c->paused_until_unix_ms);
    putchar('}');
}

static void text_info(const rq_consumer_info *c)
{
    const rq_consumer_config *k = &c->config;
    printf("%-18s %s\n%-18s %s%s\n%-18s ", "stream:", c->stream, "consumer:", k->name,
           k->ephemeral ? " (ephemeral)" : "", "filter:");
    for (size_t i = 0; i < k->nfilters; i++) printf("%s%s", i ? "," : "", k->filter_subjects[i]);
    printf("%s\n%-18s %s", k->nfilters ? "" : "(the whole stream)",
           "deliver:", rq_deliver_name(k->deliver_policy));
    if (k->deliver_policy == RQ_DELIVER_BY_START_SEQ)
        printf(" from seq %" PRIu64, k->opt_start_seq);
    if (k->deliver_policy == RQ_DELIVER_BY_START_TIME) {
        printf(" from ");
        fmt_time_ms(k->opt_start_unix_ms);
    }
    printf("\n%-18s %s, wait %" PRIu64 " ms, max deliver %" PRIu32 ", max pending %" PRIu32 "\n",
           "ack:", rq_ack_policy_name(k->ack_policy), k->ack_wait_ms, k->max_deliver,
           k->max_ack_pending);
    printf("%-18s %" PRIu64 " (consumer seq %" PRIu64 ", stream seq %" PRIu64 ")\n",
           "position:", c->position_seq, c->delivered_consumer_seq, c->delivered_stream_seq);
    printf("%-18s %" PRIu64 "\n%-18s %" PRIu64 " (%" PRIu64 " redelivered)\n",
           "ack floor:", c->ack_floor_stream_seq, "ack pending:", c->num_ack_pending,
           c->num_redelivered);
    printf("%-18s %" PRIu64 "\n%-18s %" PRIu64 "\n%-18s %" PRIu32 " (%" PRIu32
           " fetches waiting)\n",
           "lag:", c->num_pending, "terminated:", c->num_terminated, "clients:", c->clients,
           c->num_waiting);
    printf("%-18s ", "paused until:");
    fmt_time_ms(c->paused_until_unix_ms);
    putchar('\n');
}

static int print_info(cli_args *a, const rq_consumer_info *c)
{
    if (a->json) {
        json_info(c);
        putchar('\n');
    } else {
        text_info(c);
    }
    return CLI_EX_OK;
}

static int consumer_ls(cli_args *a)
{
    if (a->n != 3 || a->v[2][0] == '-') return cli_usage("consumer ls takes one STREAM");
    rq_consumer_info *cs = NULL;
    size_t n = 0;
    rq_status st;
    if (rq_consumer_list(a->c, a->v[2], &cs, &n, &st)) return cli_fail(&st);
    if (a->json) {
        putchar('[');
        for (size_t i = 0; i < n; i++) {
            if (i) putchar(',');
            json_info(&cs[i]);
        }
        printf("]\n");
    } else if (n == 0) {
        printf("no consumers on %s\n", a->v[2]);
    } else {
        fmt_head("%-24s %-18s %-9s %10s %10s %11s %7s %s", "CONSUMER", "DELIVER", "ACK", "POSITION",
                 "LAG", "ACK_PENDING", "CLIENTS", "PAUSED");
        for (size_t i = 0; i < n; i++) {
            const rq_consumer_info *c = &cs[i];
            printf("%-24s %-18s %-9s %10" PRIu64 " %10" PRIu64 " %11" PRIu64 " %7" PRIu32 " %s\n",
                   c->config.name, rq_deliver_name(c->config.deliver_policy),
                   rq_ack_policy_name(c->config.ack_policy), c->position_seq, c->num_pending,
                   c->num_ack_pending, c->clients, c->paused_until_unix_ms ? "yes" : "no");
        }
    }
    free(cs);
    return CLI_EX_OK;
}

/* STREAM NAME operands at v[2], v[3]; the rest options. 0 or the usage exit. */
static int two_operands(cli_args *a, const char *what)
{
    if (a->n < 4 || a->v[2][0] == '-' || a->v[3][0] == '-')
        return cli_usage("consumer %s takes STREAM NAME", what);
    return 0;
}

static int consumer_info(cli_args *a)
{
    int rc = two_operands(a, "info");
    if (rc) return rc;
    if (a->n != 4) return cli_usage("consumer info takes STREAM NAME");
    rq_consumer_info c;
    rq_status st;
    if (rq_consumer_get(a->c, a->v[2], a->v[3], &c, &st)) return cli_fail(&st);
    return print_info(a, &c);
}

static int consumer_rm(cli_args *a)
{
    int rc = two_operands(a, "rm");
    if (rc) return rc;
    if (a->n != 4) return cli_usage("consumer rm takes STREAM NAME");
    rq_status st;
    if (rq_consumer_delete(a->c, a->v[2], a->v[3], &st)) return cli_fail(&st);
    if (a->json) {
        printf("{\"stream\":");
        fmt_json_cstr(a->v[2]);
        printf(",\"deleted\":");
        fmt_json_cstr(a->v[3]);
        printf("}\n");
    } else {
        printf("deleted consumer %s of %s\n", a->v[3], a->v[2]);
    }
    return CLI_EX_OK;
}

static int consumer_pause(cli_args *a)
{
    int rc = two_operands(a, "pause");
    if (rc) return rc;
    uint64_t until = 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    if (a->n != 6 || strcmp(a->v[4], "--until") != 0 || !sa_parse_until(a->v[5], now_ms, &until))
        return cli_usage("consumer pause takes STREAM NAME --until TIME|DURATION|now");
    rq_consumer_info c;
    rq_status st;
    if (rq_consumer_pause(a->c, a->v[2], a->v[3], until, &c, &st)) return cli_fail(&st);
    return print_info(a, &c);
}

static int consumer_reset(cli_args *a)
{
    int rc = two_operands(a, "reset");
    if (rc) return rc;
    sa_pos p;
    if (a->n != 6 || strcmp(a->v[4], "--to") != 0 || !sa_parse_to(a->v[5], &p))
        return cli_usage("consumer reset takes STREAM NAME --to seq:N|time:RFC3339");
    bool by_time = p.policy == RQ_DELIVER_BY_START_TIME;
    rq_consumer_info c;
    rq_status st;
    if (rq_consumer_reset(a->c, a->v[2], a->v[3], by_time ? p.unix_ms : p.seq, by_time, &c, &st))
        return cli_fail(&st);
    return print_info(a, &c);
}

int cmd_consumer(cli_args *a)
{
    static const cli_sub subs[] = {{"ls", consumer_ls},
                                   {"info", consumer_info},
                                   {"rm", consumer_rm},
                                   {"pause", consumer_pause},
                                   {"reset", consumer_reset}};
    return cli_dispatch(a, "consumer", "ls, info, rm, pause or reset", subs,
                        sizeof subs / sizeof subs[0]);
}
