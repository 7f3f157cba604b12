/* tools/ringq_cmd_pubsub: `ringq pub SUBJECT` - one message per PAYLOAD argument or stdin line,
 * published in batches pipelined on one PublishStream (rq_pub_stream), printed in order as
 * their answers come - and `ringq sub SUBJECT` - a consumer (ephemeral, or a durable one bound
 * or created with --durable) on the stream that captures SUBJECT, printing each message as it
 * comes and acking it. --json: one object per line for each. docs/cli.md. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "proto_wire/pw_grpc_util.h"
#include "tools/ringq_cli.h"
#include "tools/ringq_fmt.h"
#include "tools/ringq_stream_args.h"

/* Headers per message on the command line (the server allows 64). */
#define PUB_HEADERS_MAX 64
/* Longest stdin line (one message's payload), bytes: the server's record limit is below. */
#define PUB_LINE_MAX_BYTES (4u * 1024 * 1024)
/* Batches pub has sent and not seen answered: enough to keep the stream busy while stdin is
 * read, few enough that a refused batch leaves little published after it. */
#define PUB_PIPELINE 32u
/* Deliveries the sub command lets the server send ahead of what it printed. */
#define SUB_CREDITS 64u
/* How long sub waits at the end for the server to answer its last acks. */
#define SUB_SYNC_MS 10000

typedef struct pub_ctx {
    cli_args *a;
    rq_pub_msg base;
    rq_durability level;
    size_t batch;
    rq_pub_msg *msgs;
    char **owned; /* stdin lines to free after their batch (NULL for arguments) */
    size_t n;
    size_t total; /* messages added so far */
    rq_pub_stream *ps;
    int failed; /* the first refused batch's exit code (CLI_EX_OK: none) */
} pub_ctx;

static const char *level_name(rq_durability l)
{
    switch (l) {
    case RQ_DURABILITY_MEMORY: return "memory";
    case RQ_DURABILITY_WRITTEN: return "written";
    case RQ_DURABILITY_SYNCED: return "synced";
    default: return "none";
    }
}

/* One batch answered (in send order): its acks printed, or the first failure kept. */
static void on_pub_answer(rq_pub_stream *s, void *ud, uint64_t request_id, const rq_status *st,
                          const char *stream, const rq_pub_ack *acks, size_t n)
{
    pub_ctx *p = ud;
    if (st->code) {
        if (p->failed == CLI_EX_OK) p->failed = cli_fail(st);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const rq_pub_ack *k = &acks[i];
        if (p->a->json) {
            printf("{\"stream\":");
            fmt_json_cstr(stream);
            printf(",\"seq\":%" PRIu64 ",\"duplicate\":%s,\"receipt\":{\"partition\":%" PRIu32
                   ",\"offset\":%" PRIu64 ",\"commit_seq\":%" PRIu64 ",\"level\":\"%s\"}}\n",
                   k->seq, k->duplicate ? "true" : "false", k->receipt.partition, k->receipt.offset,
                   k->receipt.commit_seq, level_name(k->receipt.level));
        } else {
            printf("%s %" PRIu64 "%s\n", stream, k->seq, k->duplicate ? " (duplicate)" : "");
        }
    }
    fflush(stdout);
}

/* Runs the client's loop until at most `left` batches are unanswered (or one failed); an
 * answer later than the client's call deadline ends it (CLI_EX_SERVER). */
static int pub_wait(pub_ctx *p, size_t left)
{
    while (p->failed == CLI_EX_OK && rq_pub_stream_unanswered(p->ps) > left) {
        int r = rq_client_poll(p->a->c, (int)RQ_TIMEOUT_MS_DEFAULT);
        if (r == 0 || r == -ETIME) {
            fprintf(stderr, "ringq: DEADLINE_EXCEEDED: no answer in %u ms\n",
                    RQ_TIMEOUT_MS_DEFAULT);
            return CLI_EX_SERVER;
        }
        if (r < 0 && r != -EINTR) return cli_usage("poll: %s", strerror(-r));
    }
    return p->failed;
}

/* Sends the batch on the stream (encoded at once: stdin lines freed here), after waiting for
 * room in the pipeline. */
static int pub_flush(pub_ctx *p)
{
    if (p->n == 0) return CLI_EX_OK;
    rq_status st;
    int rc = pub_wait(p, PUB_PIPELINE - 1);
    if (rc == CLI_EX_OK && rq_pub_stream_send(p->ps, p->msgs, p->n, NULL, &st)) rc = cli_fail(&st);
    for (size_t i = 0; p->owned && i < p->n; i++) free(p->owned[i]);
    p->n = 0;
    return rc;
}

/* Every batch answered, the stream ended. */
static int pub_end(pub_ctx *p)
{
    int rc = pub_wait(p, 0);
    rq_status st;
    if (rc == CLI_EX_OK && rq_pub_stream_finish(p->ps, -1, &st)) rc = cli_fail(&st);
    return rc;
}

/* Adds one payload (owned: a stdin line to free after its batch); flushes a full batch. */
static int pub_add(pub_ctx *p, char *payload, size_t len, bool owned)
{
    if (p->base.msg_id && ++p->total > 1) {
        if (owned) free(payload);
        return cli_usage("--id applies to exactly one message (one PAYLOAD or one stdin line)");
    }
    p->msgs[p->n] = p->base;
    p->msgs[p->n].payload = payload;
    p->msgs[p->n].payload_len = len;
    if (p->owned) p->owned[p->n] = owned ? payload : NULL;
    return ++p->n == p->batch ? pub_flush(p) : CLI_EX_OK;
}

static int pub_stdin(pub_ctx *p)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = CLI_EX_OK;
    bool any = false;
    while (rc == CLI_EX_OK && (len = getline(&line, &cap, stdin)) >= 0) {
        if (len > 0 && line[len - 1] == '\n') line[--len] = 0;
        if ((size_t)len > PUB_LINE_MAX_BYTES) {
            rc = cli_usage("a stdin line is longer than %u bytes", PUB_LINE_MAX_BYTES);
            break;
        }
        any = true;
        rc = pub_add(p, line, (size_t)len, true);
        line = NULL;
        cap = 0;
    }
    free(line);
    if (rc == CLI_EX_OK) rc = pub_flush(p);
    for (size_t i = 0; i < p->n; i++) free(p->owned[i]); /* a batch not sent */
    if (rc == CLI_EX_OK && !any) fputs("ringq: no input: nothing published\n", stderr);
    return rc;
}

/* One pub option at a->v[*i]: 1 taken, 0 not an option, < 0 the usage exit. */
static int pub_opt(pub_ctx *p, int *i, rq_header *hdrs)
{
    cli_args *a = p->a;
    const char *o = a->v[*i], *v;
    uint64_t u;
    if (o[0] != '-' || !o[1]) return 0;
    if (!(v = cli_optval(a, i))) return -cli_usage("%s needs a value", o);
    if (strcmp(o, "--id") == 0) {
        p->base.msg_id = v;
    } else if (strcmp(o, "--ttl") == 0) {
        if (!sa_parse_duration_ms(v, &p->base.ttl_ms)) return -cli_usage("bad --ttl '%s'", v);
    } else if (strcmp(o, "--expect-last-seq") == 0) {
        if (!cli_parse_u64(v, &p->base.expected_last_seq)) return -cli_usage("bad %s", o);
        p->base.has_expected_last_seq = true;
    } else if (strcmp(o, "--batch") == 0) {
        if (!cli_parse_u64(v, &u) || u == 0 || u > RQ_PUBLISH_BATCH_MAX)
            return -cli_usage("--batch takes 1..%d", RQ_PUBLISH_BATCH_MAX);
        p->batch = (size_t)u;
    } else if (strcmp(o, "--durability") == 0) {
        static const rq_durability ls[] = {RQ_DURABILITY_MEMORY, RQ_DURABILITY_WRITTEN,
                                           RQ_DURABILITY_SYNCED};
        size_t k = 0;
        while (k < 3 && strcmp(v, level_name(ls[k])) != 0) k++;
        if (k == 3) return -cli_usage("--durability takes memory, written or synced");
        p->level = ls[k];
    } else if (strcmp(o, "-H") == 0 || strcmp(o, "--header") == 0) {
        char *eq = strchr(v, '=');
        if (!eq || eq == v) return -cli_usage("%s takes NAME=VALUE", o);
        if (p->base.nheaders == PUB_HEADERS_MAX)
            return -cli_usage("at most %d headers", PUB_HEADERS_MAX);
        *eq = 0;
        hdrs[p->base.nheaders++] = (rq_header){v, eq + 1};
    } else {
        return -cli_usage("pub: unknown option %s", o);
    }
    return 1;
}

int cmd_pub(cli_args *a)
{
    rq_header hdrs[PUB_HEADERS_MAX];
    pub_ctx p = {.a = a, .batch = 100};
    char **args = calloc((size_t)a->n, sizeof *args);
    size_t nargs = 0;
    if (!args) return cli_usage("out of memory");
    int rc = CLI_EX_OK;
    for (int i = 1; i < a->n && rc == CLI_EX_OK; i++) {
        int t = pub_opt(&p, &i, hdrs);
        if (t < 0) rc = -t;
        else if (t == 0 && !p.base.subject) p.base.subject = a->v[i];
        else if (t == 0) args[nargs++] = a->v[i];
    }
    if (rc == CLI_EX_OK && !p.base.subject) rc = cli_usage("pub needs a SUBJECT");
    p.base.headers = hdrs;
    p.msgs = calloc(p.batch, sizeof *p.msgs);
    p.owned = nargs ? NULL : calloc(p.batch, sizeof *p.owned);
    if (rc == CLI_EX_OK && (!p.msgs || (!nargs && !p.owned))) rc = cli_usage("out of memory");
    rq_status st;
    if (rc == CLI_EX_OK && !(p.ps = rq_pub_stream_open(a->c, p.level, on_pub_answer, &p, &st)))
        rc = cli_fail(&st);
    if (rc == CLI_EX_OK && nargs) {
        for (size_t i = 0; i < nargs && rc == CLI_EX_OK; i++)
            rc = pub_add(&p, args[i], strlen(args[i]), false);
        if (rc == CLI_EX_OK) rc = pub_flush(&p);
    } else if (rc == CLI_EX_OK) {
        rc = pub_stdin(&p);
    }
    if (rc == CLI_EX_OK) rc = pub_end(&p);
    rq_pub_stream_free(p.ps);
    free(p.msgs);
    free(p.owned);
    free(args);
    return rc;
}

/* ---- sub ---- */

typedef struct sub_opts {
    const char *subject, *stream, *durable;
    bool has_from;
    sa_pos from;
    uint64_t count; /* 0: until interrupted */
} sub_opts;

static void print_delivery(cli_args *a, const rq_delivery *d)
{
    const rq_stream_msg *m = d->msg;
    if (!a->json) {
        fmt_msg_text(m);
        return;
    }
    fmt_msg_json_open(m);
    printf(",\"consumer_seq\":%" PRIu64 ",\"delivery_count\":%" PRIu32 ",\"pending\":%" PRIu64,
           d->consumer_seq, d->delivery_count, d->pending);
    fmt_msg_json_close(m);
}

static int sub_parse(cli_args *a, sub_opts *o)
{
    for (int i = 1; i < a->n; i++) {
        const char *s = a->v[i], *v;
        if (s[0] != '-') {
            if (o->subject) return cli_usage("sub takes one SUBJECT");
            o->subject = s;
            continue;
        }
        if (!(v = cli_optval(a, &i))) return cli_usage("%s needs a value", s);
        if (strcmp(s, "--durable") == 0) o->durable = v;
        else if (strcmp(s, "--stream") == 0) o->stream = v;
        else if (strcmp(s, "--from") == 0) {
            if (!sa_parse_from(v, &o->from))
                return cli_usage("--from takes seq:N, time:RFC3339, all, last, new or "
                                 "last_per_subject");
            o->has_from = true;
        } else if (strcmp(s, "--count") == 0) {
            if (!cli_parse_u64(v, &o->count) || !o->count) return cli_usage("--count takes 1..");
        } else {
            return cli_usage("sub: unknown option %s", s);
        }
    }
    if (!o->subject) return cli_usage("sub needs a SUBJECT");
    if (strlen(o->subject) >= RQ_SUBJECT_MAX) return cli_usage("SUBJECT is too long");
    if (o->durable && strlen(o->durable) >= RQ_STREAM_NAME_MAX)
        return cli_usage("--durable NAME is at most %d bytes", RQ_STREAM_NAME_MAX - 1);
    return 0;
}

/* The consumer's configuration: SUBJECT as its filter, --from as its start, explicit acks. */
static void sub_config(const sub_opts *o, rq_consumer_config *c)
{
    memset(c, 0, sizeof *c);
    if (o->durable) snprintf(c->name, sizeof c->name, "%s", o->durable);
    c->ephemeral = !o->durable;
    snprintf(c->filter_subjects[0], RQ_SUBJECT_MAX, "%s", o->subject);
    c->nfilters = 1;
    c->ack_policy = RQ_ACK_EXPLICIT;
    c->deliver_policy = o->has_from ? o->from.policy : RQ_DELIVER_ALL;
    c->opt_start_seq = o->from.seq;
    c->opt_start_unix_ms = o->from.unix_ms;
}

/* Binds the durable consumer, creating it when it does not exist yet. */
static int sub_durable(cli_args *a, const char *stream, const sub_opts *o,
                       const rq_consumer_config *cfg, rq_status *st)
{
    rq_consumer_info info;
    int rc = rq_consumer_get(a->c, stream, o->durable, &info, st);
    if (rc == PW_GRPC_NOT_FOUND) return rq_consumer_create(a->c, stream, cfg, NULL, st);
    if (rc == 0 && o->has_from)
        fprintf(stderr,
                "ringq: consumer %s exists: --from ignored (it continues where it was; "
                "ringq consumer reset moves it)\n",
                o->durable);
    if (rc == 0 &&
        (info.config.nfilters != 1 || strcmp(info.config.filter_subjects[0], o->subject)))
        fprintf(stderr, "ringq: consumer %s exists with %s filter: it delivers that, not only %s\n",
                o->durable, info.config.nfilters ? "another" : "no", o->subject);
    return rc;
}

/* Prints and acks deliveries until --count of them (or the session ends). */
static int sub_loop(cli_args *a, rq_consume *s, const sub_opts *o, bool ack)
{
    rq_status st;
    for (uint64_t got = 0; !o->count || got < o->count;) {
        rq_delivery *d;
        if (rq_consume_next(s, -1, &d, &st)) return cli_fail(&st);
        if (!d) continue;
        print_delivery(a, d);
        fflush(stdout);
        got++;
        int rc = ack ? rq_consume_ack(s, RQ_ACK_KIND_ACK, (rq_delivery_ref){d->msg->seq, d->token},
                                      NULL)
                     : 0;
        if (rc == 0 && (!o->count || got + SUB_CREDITS <= o->count)) rc = rq_consume_credit(s, 1);
        rq_delivery_free(d);
        if (rc) return cli_usage("the Consume stream ended (%d)", rc);
    }
    if (rq_consume_sync(s, SUB_SYNC_MS, &st)) return cli_fail(&st);
    return CLI_EX_OK;
}

int cmd_sub(cli_args *a)
{
    sub_opts o = {0};
    int rc = sub_parse(a, &o);
    if (rc) return rc;
    char stream[RQ_STREAM_NAME_MAX], probe[RQ_SUBJECT_MAX + 1];
    rq_status st = {.code = RQ_EINVAL, .message = "SUBJECT is too long"};
    if (o.stream) snprintf(stream, sizeof stream, "%s", o.stream);
    else if (!sa_filter_probe(o.subject, probe, sizeof probe) ||
             rq_stream_find(a->c, probe, stream, &st))
        return cli_fail(&st);
    rq_consumer_config *cfg = calloc(1, sizeof *cfg);
    rq_consumer_info *bound = calloc(1, sizeof *bound);
    rq_consume *s = NULL;
    if (!cfg || !bound) rc = cli_usage("out of memory");
    if (rc == 0) sub_config(&o, cfg);
    if (rc == 0 && o.durable && sub_durable(a, stream, &o, cfg, &st)) rc = cli_fail(&st);
    uint32_t credits = o.count && o.count < SUB_CREDITS ? (uint32_t)o.count : SUB_CREDITS;
    if (rc == 0 && !(s = rq_consume_open(a->c, stream, o.durable, o.durable ? NULL : cfg, credits,
                                         bound, &st)))
        rc = cli_fail(&st);
    if (rc == 0) rc = sub_loop(a, s, &o, bound->config.ack_policy != RQ_ACK_NONE);
    rq_consume_close(s);
    free(cfg);
    free(bound);
    return rc;
}
