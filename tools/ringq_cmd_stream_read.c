/* tools/ringq_cmd_stream_read: `ringq stream read NAME` - a stream's messages in sequence order
 * without a consumer (libringq's rq_read_* on Streams.Read): from the first message, a
 * sequence or a time, to the last message when the command starts (default), a sequence, or
 * live (then until interrupted or --count). Prints "[SEQ] SUBJECT: PAYLOAD" per message, or
 * one JSON object per line with --json. docs/cli.md. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "proto_wire/pw_grpc_util.h"
#include "tools/ringq_cli.h"
#include "tools/ringq_fmt.h"
#include "tools/ringq_stream_args.h"

typedef struct read_cli {
    const char *name;
    rq_read_opts o;
    const char *filters[RQ_STREAM_SUBJECTS_MAX];
    bool live, to_last;
} read_cli;

static void print_msg(cli_args *a, const rq_stream_msg *m)
{
    if (!a->json) {
        fmt_msg_text(m);
        return;
    }
    fmt_msg_json_open(m);
    printf(",\"payload_size\":%" PRIu32 ",\"expires_unix_ms\":%" PRIu64, m->payload_size,
           m->expires_unix_ms);
    fmt_msg_json_close(m);
}

/* --from seq:N | time:RFC3339 | first;  --to seq:N | last | live. */
static int parse_pos(read_cli *r, const char *opt, const char *v)
{
    sa_pos p;
    bool from = strcmp(opt, "--from") == 0;
    if (from && strcmp(v, "first") == 0) return 0;
    if (!from && (strcmp(v, "last") == 0 || strcmp(v, "live") == 0)) {
        r->live = strcmp(v, "live") == 0;
        r->to_last = !r->live;
        return 0;
    }
    if (!sa_parse_to(v, &p) || (!from && p.policy != RQ_DELIVER_BY_START_SEQ))
        return cli_usage(from ? "--from takes seq:N, time:RFC3339 or first"
                              : "--to takes seq:N, last or live");
    if (!from) {
        r->o.end_seq = p.seq;
        r->to_last = false;
    } else if (p.policy == RQ_DELIVER_BY_START_SEQ) {
        r->o.start_seq = p.seq;
    } else {
        r->o.start_unix_ms = p.unix_ms;
    }
    return 0;
}

static int read_parse(cli_args *a, read_cli *r)
{
    r->to_last = true;
    for (int i = 2; i < a->n; i++) {
        const char *s = a->v[i], *v;
        int rc = 0;
        if (s[0] != '-') {
            if (r->name) return cli_usage("stream read takes one NAME");
            r->name = s;
            continue;
        }
        if (strcmp(s, "--headers-only") == 0) {
            r->o.headers_only = true;
            continue;
        }
        if (!(v = cli_optval(a, &i))) return cli_usage("%s needs a value", s);
        if (strcmp(s, "--from") == 0 || strcmp(s, "--to") == 0) rc = parse_pos(r, s, v);
        else if (strcmp(s, "--count") == 0) {
            if (!cli_parse_u64(v, &r->o.max_messages) || !r->o.max_messages)
                return cli_usage("--count takes 1..");
        } else if (strcmp(s, "--subject") == 0) {
            if (r->o.nfilters == RQ_STREAM_SUBJECTS_MAX)
                return cli_usage("--subject: at most %d", RQ_STREAM_SUBJECTS_MAX);
            r->filters[r->o.nfilters++] = v;
        } else {
            return cli_usage("stream read: unknown option %s", s);
        }
        if (rc) return rc;
    }
    if (!r->name) return cli_usage("stream read needs a NAME");
    r->o.filters = r->filters;
    return 0;
}

/* --to last: the stream's last sequence now. *empty when there is nothing to read. */
static int resolve_last(cli_args *a, read_cli *r, bool *empty)
{
    rq_stream_info info;
    rq_status st;
    if (rq_stream_get(a->c, r->name, NULL, &info, &st)) return cli_fail(&st);
    rq_stream_info_free(&info);
    r->o.end_seq = info.last_seq;
    *empty = info.last_seq == 0 || r->o.start_seq > info.last_seq;
    return 0;
}

int cmd_stream_read(cli_args *a)
{
    read_cli r = {0};
    int rc = read_parse(a, &r);
    bool empty = false;
    if (rc == 0 && r.to_last) rc = resolve_last(a, &r, &empty);
    if (rc || empty) return rc;
    rq_status st;
    rq_read *s = rq_read_open(a->c, r.name, &r.o, &st);
    if (!s) return cli_fail(&st);
    for (;;) {
        rq_stream_msg *m;
        if (rq_read_next(s, -1, &m, &st)) {
            rc = cli_fail(&st);
            break;
        }
        if (!m) break; /* the end: --to or --count reached */
        print_msg(a, m);
        fflush(stdout);
        rq_stream_msg_free(m);
    }
    rq_read_close(s);
    return rc;
}
