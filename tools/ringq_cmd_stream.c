/* tools/ringq_cmd_stream: `ringq stream create|ls|info|rm|purge` - a stream's configuration and
 * figures (ringq.v1.Streams; docs/semantics.md "Streams", docs/cli.md). Text for people, one
 * JSON value with --json. `stream read` is tools/ringq_cmd_stream_read.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/ringq_cli.h"
#include "tools/ringq_fmt.h"
#include "tools/ringq_stream_args.h"

static void json_u64(const char *name, uint64_t v) { printf(",\"%s\":%" PRIu64, name, v); }

static void json_config(const rq_stream_config *c)
{
    printf("{\"name\":");
    fmt_json_cstr(c->name);
    printf(",\"subjects\":[");
    for (size_t i = 0; i < c->nsubjects; i++) {
        if (i) putchar(',');
        fmt_json_cstr(c->subjects[i]);
    }
    printf("],\"retention\":\"%s\",\"discard\":\"%s\"", rq_retention_name(c->retention),
           rq_discard_name(c->discard));
    json_u64("max_msgs", c->max_msgs);
    json_u64("max_bytes", c->max_bytes);
    json_u64("max_age_ms", c->max_age_ms);
    json_u64("max_msgs_per_subject", c->max_msgs_per_subject);
    if (c->has_duplicate_window_ms) json_u64("duplicate_window_ms", c->duplicate_window_ms);
    printf(",\"max_msg_size\":%" PRIu32 ",\"allow_msg_ttl\":%s,\"partitions\":%" PRIu32
           ",\"description\":",
           c->max_msg_size, c->allow_msg_ttl ? "true" : "false", c->partitions);
    fmt_json_cstr(c->description);
    putchar('}');
}

/* A StreamInfo as one JSON object: {config, state figures, subjects (when asked)}. */
static void json_info(const rq_stream_info *s)
{
    printf("{\"name\":");
    fmt_json_cstr(s->config.name);
    printf(",\"config\":");
    json_config(&s->config);
    printf(",\"partition\":%" PRIu32, s->partition);
    json_u64("created_unix_ms", s->created_unix_ms);
    json_u64("messages", s->messages);
    json_u64("bytes", s->bytes);
    json_u64("first_seq", s->first_seq);
    json_u64("first_unix_ms", s->first_unix_ms);
    json_u64("last_seq", s->last_seq);
    json_u64("last_unix_ms", s->last_unix_ms);
    json_u64("num_subjects", s->num_subjects);
    json_u64("num_deleted", s->num_deleted);
    printf(",\"consumers\":%" PRIu32, s->consumers);
    if (s->subjects || s->subjects_truncated) {
        printf(",\"subjects_truncated\":%s,\"subject_counts\":{",
               s->subjects_truncated ? "true" : "false");
        for (size_t i = 0; i < s->nsubjects; i++) {
            if (i) putchar(',');
            fmt_json_cstr(s->subjects[i].subject);
            printf(":%" PRIu64, s->subjects[i].messages);
        }
        putchar('}');
    }
    putchar('}');
}

static void text_limit(const char *name, uint64_t v)
{
    if (v) printf("%-22s %" PRIu64 "\n", name, v);
    else printf("%-22s unlimited\n", name);
}

static void text_info(const rq_stream_info *s)
{
    const rq_stream_config *c = &s->config;
    char t1[FMT_TIME_BYTES], t2[FMT_TIME_BYTES];
    printf("%-22s %s\n%-22s ", "stream:", c->name, "subjects:");
    for (size_t i = 0; i < c->nsubjects; i++) printf("%s%s", i ? "," : "", c->subjects[i]);
    printf("\n%-22s %s\n%-22s %s\n", "retention:", rq_retention_name(c->retention),
           "discard:", rq_discard_name(c->discard));
    text_limit("max_msgs:", c->max_msgs);
    text_limit("max_bytes:", c->max_bytes);
    text_limit("max_age_ms:", c->max_age_ms);
    text_limit("max_msgs_per_subject:", c->max_msgs_per_subject);
    if (c->has_duplicate_window_ms)
        printf("%-22s %" PRIu64 "\n", "duplicate_window_ms:", c->duplicate_window_ms);
    printf("%-22s %" PRIu32 "\n%-22s %s\n", "max_msg_size:", c->max_msg_size,
           "allow_msg_ttl:", c->allow_msg_ttl ? "yes" : "no");
    if (c->partitions > 1)
        printf("%-22s %" PRIu32 " (order per subject)\n", "partitions:", c->partitions);
    if (c->description[0]) printf("%-22s %s\n", "description:", c->description);
    fmt_time_str(t1, s->created_unix_ms);
    printf("%-22s %" PRIu32 "\n%-22s %s\n", "partition:", s->partition, "created:", t1);
    printf("%-22s %" PRIu64 " (%" PRIu64 " bytes, %" PRIu64 " subjects)\n",
           "messages:", s->messages, s->bytes, s->num_subjects);
    printf("%-22s %" PRIu64 " .. %" PRIu64 " (%" PRIu64 " removed between)\n",
           "sequences:", s->first_seq, s->last_seq, s->num_deleted);
    fmt_time_str(t1, s->first_unix_ms);
    fmt_time_str(t2, s->last_unix_ms);
    printf("%-22s %s / %s\n%-22s %" PRIu32 "\n", "first / last:", t1, t2,
           "consumers:", s->consumers);
    for (size_t i = 0; i < s->nsubjects; i++)
        printf("  %-40s %" PRIu64 "\n", s->subjects[i].subject, s->subjects[i].messages);
    if (s->subjects_truncated) printf("  (more subjects not shown)\n");
}

static int print_info(cli_args *a, const rq_stream_info *s)
{
    if (a->json) {
        json_info(s);
        putchar('\n');
    } else {
        text_info(s);
    }
    return CLI_EX_OK;
}

/* One create option at a->v[*i] into *c: 1 taken, 0 not a create option, < 0 the usage exit. */
static int create_opt(cli_args *a, int *i, rq_stream_config *c)
{
    const char *o = a->v[*i], *v;
    bool ok = true;
    if (strcmp(o, "--allow-ttl") == 0) {
        c->allow_msg_ttl = true;
        return 1;
    }
    static const char *const takes[] = {"--subjects",    "--retention",    "--max-msgs",
                                        "--max-bytes",   "--max-age",      "--max-msgs-per-subject",
                                        "--discard",     "--dedup-window", "--max-msg-size",
                                        "--description", "--partitions"};
    size_t k = 0;
    while (k < sizeof takes / sizeof takes[0] && strcmp(o, takes[k]) != 0) k++;
    if (k == sizeof takes / sizeof takes[0]) return 0;
    if (!(v = cli_optval(a, i))) return -cli_usage("%s needs a value", o);
    switch (k) {
    case 0: ok = sa_parse_subjects(v, c->subjects, &c->nsubjects); break;
    case 1: ok = sa_parse_retention(v, &c->retention); break;
    case 2: ok = cli_parse_u64(v, &c->max_msgs); break;
    case 3: ok = cli_parse_u64(v, &c->max_bytes); break;
    case 4: ok = sa_parse_duration_ms(v, &c->max_age_ms); break;
    case 5: ok = cli_parse_u64(v, &c->max_msgs_per_subject); break;
    case 6: ok = sa_parse_discard(v, &c->discard); break;
    case 7:
        ok = sa_parse_duration_ms(v, &c->duplicate_window_ms);
        c->has_duplicate_window_ms = ok;
        break;
    case 8: ok = cli_parse_u32(v, &c->max_msg_size); break;
    case 10: ok = cli_parse_u32(v, &c->partitions) && c->partitions > 0; break;
    default:
        ok = strlen(v) < sizeof c->description;
        if (ok) snprintf(c->description, sizeof c->description, "%s", v);
    }
    if (!ok) return -cli_usage("bad %s '%s' (ringq stream --help)", o, v);
    return 1;
}

static int stream_create(cli_args *a)
{
    rq_stream_config *c = calloc(1, sizeof *c);
    if (!c) return cli_usage("out of memory");
    const char *name = NULL;
    int rc = CLI_EX_OK;
    for (int i = 2; i < a->n && rc == CLI_EX_OK; i++) {
        int t = create_opt(a, &i, c);
        if (t < 0) rc = -t;
        else if (t > 0) continue;
        else if (a->v[i][0] == '-') rc = cli_usage("stream create: unknown option %s", a->v[i]);
        else if (name) rc = cli_usage("stream create takes one NAME");
        else name = a->v[i];
    }
    if (rc == CLI_EX_OK && !name) rc = cli_usage("stream create needs a NAME");
    if (rc == CLI_EX_OK && strlen(name) >= sizeof c->name)
        rc = cli_usage("a stream name is at most %d bytes", RQ_STREAM_NAME_MAX - 1);
    if (rc == CLI_EX_OK) {
        snprintf(c->name, sizeof c->name, "%s", name);
        rq_status st;
        rq_stream_info *info = calloc(1, sizeof *info);
        if (!info) rc = cli_usage("out of memory");
        else if (rq_stream_create(a->c, c, info, &st)) rc = cli_fail(&st);
        else rc = print_info(a, info);
        free(info);
    }
    free(c);
    return rc;
}

static int stream_ls(cli_args *a)
{
    if (a->n != 2) return cli_usage("stream ls takes no arguments");
    rq_stream_info *ss = NULL;
    size_t n = 0;
    rq_status st;
    if (rq_stream_list(a->c, &ss, &n, &st)) return cli_fail(&st);
    if (a->json) {
        putchar('[');
        for (size_t i = 0; i < n; i++) {
            if (i) putchar(',');
            json_info(&ss[i]);
        }
        printf("]\n");
    } else if (n == 0) {
        printf("no streams\n");
    } else {
        fmt_head("%-24s %-24s %-10s %10s %12s %10s %10s %9s", "STREAM", "SUBJECTS", "RETENTION",
                 "MESSAGES", "BYTES", "FIRST", "LAST", "CONSUMERS");
        for (size_t i = 0; i < n; i++) {
            const rq_stream_info *s = &ss[i];
            char subj[25];
            const char *s0 = s->config.nsubjects ? s->config.subjects[0] : "";
            bool more = s->config.nsubjects > 1 || strlen(s0) > 20;
            snprintf(subj, sizeof subj, "%.20s%s", s0, more ? ",..." : "");
            printf("%-24s %-24s %-10s %10" PRIu64 " %12" PRIu64 " %10" PRIu64 " %10" PRIu64
                   " %9" PRIu32 "\n",
                   s->config.name, subj, rq_retention_name(s->config.retention), s->messages,
                   s->bytes, s->first_seq, s->last_seq, s->consumers);
        }
    }
    free(ss);
    return CLI_EX_OK;
}

static int stream_info(cli_args *a)
{
    const char *name = NULL, *filter = NULL;
    for (int i = 2; i < a->n; i++) {
        if (strcmp(a->v[i], "--subjects") == 0) {
            if (!(filter = cli_optval(a, &i))) return cli_usage("--subjects needs a FILTER");
        } else if (a->v[i][0] == '-' || name) {
            return cli_usage("stream info takes NAME [--subjects FILTER]");
        } else {
            name = a->v[i];
        }
    }
    if (!name) return cli_usage("stream info needs a NAME");
    rq_stream_info *s = calloc(1, sizeof *s);
    if (!s) return cli_usage("out of memory");
    rq_status st;
    int rc = rq_stream_get(a->c, name, filter, s, &st) ? cli_fail(&st) : print_info(a, s);
    rq_stream_info_free(s);
    free(s);
    return rc;
}

static int stream_rm(cli_args *a)
{
    if (a->n != 3 || a->v[2][0] == '-') return cli_usage("stream rm takes one NAME");
    rq_status st;
    if (rq_stream_delete(a->c, a->v[2], &st)) return cli_fail(&st);
    if (a->json) {
        printf("{\"deleted\":");
        fmt_json_cstr(a->v[2]);
        printf("}\n");
    } else {
        printf("deleted stream %s\n", a->v[2]);
    }
    return CLI_EX_OK;
}

static int stream_purge(cli_args *a)
{
    rq_purge_opts o = {0};
    const char *name = NULL, *v;
    for (int i = 2; i < a->n; i++) {
        const char *opt = a->v[i];
        if (strcmp(opt, "--subject") == 0) {
            if (!(o.subject = cli_optval(a, &i))) return cli_usage("--subject needs a FILTER");
        } else if (strcmp(opt, "--up-to") == 0) {
            if (!(v = cli_optval(a, &i)) || !cli_parse_u64(v, &o.up_to_seq) || !o.up_to_seq)
                return cli_usage("--up-to needs a sequence (1..)");
        } else if (strcmp(opt, "--keep") == 0) {
            if (!(v = cli_optval(a, &i)) || !cli_parse_u64(v, &o.keep))
                return cli_usage("--keep needs a number");
        } else if (opt[0] == '-' || name) {
            return cli_usage("stream purge takes NAME [--subject F] [--up-to SEQ] [--keep N]");
        } else {
            name = opt;
        }
    }
    if (!name) return cli_usage("stream purge needs a NAME");
    if (o.up_to_seq && o.keep) return cli_usage("--up-to and --keep exclude each other");
    uint64_t purged = 0;
    rq_status st;
    if (rq_stream_purge(a->c, name, &o, &purged, &st)) return cli_fail(&st);
    if (a->json) printf("{\"purged\":%" PRIu64 "}\n", purged);
    else printf("purged %" PRIu64 " message%s from %s\n", purged, purged == 1 ? "" : "s", name);
    return CLI_EX_OK;
}

int cmd_stream(cli_args *a)
{
    static const cli_sub subs[] = {{"create", stream_create}, {"ls", stream_ls},
                                   {"info", stream_info},     {"rm", stream_rm},
                                   {"purge", stream_purge},   {"read", cmd_stream_read}};
    return cli_dispatch(a, "stream", "create, ls, info, rm, purge or read", subs,
                        sizeof subs / sizeof subs[0]);
}
