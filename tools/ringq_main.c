/* ringq: the command-line client of ringqd. Subcommands enqueue, stats, watch, peek, get, dead,
 * redrive, purge, pause, resume, config; tables for people, --json for scripts.
 *
 * Exit codes (docs/cli.md): 0 done; 1 the server failed the request (INTERNAL, RESOURCE_EXHAUSTED,
 * UNAVAILABLE, DEADLINE_EXCEEDED, ...); 2 usage error (bad command line or input); 3 the server
 * rejected the request as invalid (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, ...);
 * 4 could not connect. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/ringq.h"
#include "proto_wire/pw_grpc_util.h"

enum { EX_OK = 0, EX_SERVER = 1, EX_USAGE = 2, EX_REJECTED = 3, EX_CONNECT = 4 };
/* Tasks per Enqueue call at most (the server's batch limit). */
#define BATCH_MAX 1000
/* Headers per task on the command line (the server allows 64). */
#define HEADERS_MAX 64
/* Longest stdin line (one task's payload), bytes. */
#define LINE_MAX_BYTES (4u * 1024 * 1024)

static const char USAGE[] =
    "usage: ringq [--addr HOST:PORT] [--json] [--timeout-ms N] COMMAND [ARGS]\n"
    "\n"
    "  enqueue QUEUE [PAYLOAD...]   one task per PAYLOAD, or per stdin line when none\n"
    "          [-p PRIO] [--delay-ms N] [--not-before-ms T] [--max-attempts N]\n"
    "          [--lease-ms N] [--key KEY] [-H NAME=VALUE]... [--batch N]\n"
    "  stats [QUEUE]                table of queues (or one queue)\n"
    "  watch [--interval-ms N] [--count N]   stats refreshed in place\n"
    "  peek QUEUE [--limit N] [--state ready|delayed|all]   next tasks, without leasing\n"
    "  get ID                       one task in any state\n"
    "  dead QUEUE [--limit N]       dead tasks of a queue\n"
    "  redrive QUEUE [ID...]        dead tasks back to ready (all when no ID)\n"
    "  purge QUEUE                  delete every task of a queue\n"
    "  pause QUEUE | resume QUEUE\n"
    "  config QUEUE [--max-attempts N] [--lease-ms N] [--backoff-base-ms N]\n"
    "          [--backoff-max-ms N] [--dead-letter on|off] [--dedup-window-ms N]\n"
    "\n"
    "The address defaults to $RINGQ_ADDR, else " RQ_ADDR_DEFAULT ".\n"
    "Exit: 0 ok, 1 server error, 2 usage, 3 rejected by the server, 4 cannot connect.\n";

static bool json;
static rq_client *C;

static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ringq: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(ringq --help for usage)\n");
    va_end(ap);
    return EX_USAGE;
}

static int fail(const rq_status *st)
{
    fprintf(stderr, "ringq: %s: %s\n", rq_status_name(st->code), st->message);
    switch (st->code) {
    case RQ_ECONNECT: return EX_CONNECT;
    case RQ_EINVAL: return EX_USAGE;
    case PW_GRPC_INVALID_ARGUMENT: case PW_GRPC_NOT_FOUND: case PW_GRPC_FAILED_PRECONDITION:
    case PW_GRPC_ALREADY_EXISTS: case PW_GRPC_OUT_OF_RANGE:
        return EX_REJECTED;
    default: return EX_SERVER;
    }
}

static bool parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 19) return false;
    *out = strtoull(s, NULL, 10);
    return true;
}

static bool parse_u32(const char *s, uint32_t *out)
{
    uint64_t v;
    if (!parse_u64(s, &v) || v > UINT32_MAX) return false;
    *out = (uint32_t)v;
    return true;
}

/* ---- JSON output ---- */

static void json_str(const char *s, size_t n)
{
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') printf("\\%c", ch);
        else if (ch == '\n') fputs("\\n", stdout);
        else if (ch == '\t') fputs("\\t", stdout);
        else if (ch < 0x20 || ch == 0x7f) printf("\\u%04x", ch);
        else putchar(ch);
    }
    putchar('"');
}
static void json_cstr(const char *s) { json_str(s, strlen(s)); }

static bool printable(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((p[i] < 0x20 && p[i] != '\n' && p[i] != '\t') || p[i] >= 0x7f) return false;
    return true;
}

/* Payload as "payload": text, or "payload_base64" when it is not printable ASCII. */
static void json_payload(const uint8_t *p, size_t n)
{
    if (printable(p, n)) {
        fputs("\"payload\":", stdout);
        json_str((const char *)p, n);
        return;
    }
    char *b = malloc(pw_b64_encoded_len(n, true) + 1);
    if (!b) return;
    size_t k = pw_b64_encode(b, p, n, true);
    fputs("\"payload_base64\":", stdout);
    json_str(b, k);
    free(b);
}

static void json_headers(const rq_header *h, size_t n)
{
    fputs("\"headers\":{", stdout);
    for (size_t i = 0; i < n; i++) {
        if (i) putchar(',');
        json_cstr(h[i].name);
        putchar(':');
        json_cstr(h[i].value);
    }
    putchar('}');
}

static void json_queue(const rq_queue_info *q)
{
    fputs("{\"name\":", stdout);
    json_cstr(q->name);
    printf(",\"partition\":%u,\"paused\":%s,\"ready\":%" PRIu64 ",\"delayed\":%" PRIu64
           ",\"leased\":%" PRIu64 ",\"dead\":%" PRIu64 ",\"enqueued_total\":%" PRIu64
           ",\"acked_total\":%" PRIu64 ",\"nacked_total\":%" PRIu64 ",\"expired_total\":%" PRIu64
           ",\"dead_total\":%" PRIu64 ",\"duplicates_total\":%" PRIu64
           ",\"enqueue_rate\":%.3f,\"ack_rate\":%.3f,\"config\":{\"max_attempts\":%u,"
           "\"lease_ms\":%u,\"backoff_base_ms\":%" PRIu64 ",\"backoff_max_ms\":%" PRIu64
           ",\"dead_letter\":%s,\"dedup_window_ms\":%" PRIu64 "}}",
           q->partition, q->paused ? "true" : "false", q->ready, q->delayed, q->leased, q->dead,
           q->enqueued_total, q->acked_total, q->nacked_total, q->expired_total, q->dead_total,
           q->duplicates_total, q->enqueue_rate, q->ack_rate, q->config.max_attempts,
           q->config.lease_ms, q->config.backoff_base_ms, q->config.backoff_max_ms,
           q->config.dead_letter ? "true" : "false", q->config.dedup_window_ms);
}

static void json_task_info(const rq_task_info *t)
{
    fputs("{\"id\":", stdout);
    json_cstr(t->id);
    fputs(",\"queue\":", stdout);
    json_cstr(t->queue);
    printf(",\"state\":\"%s\",\"priority\":%u,\"attempts\":%u,\"max_attempts\":%u,"
           "\"enqueued_unix_ms\":%" PRIu64 ",\"due_unix_ms\":%" PRIu64 ",",
           rq_state_name(t->state), t->priority, t->attempts, t->max_attempts,
           t->enqueued_unix_ms, t->due_unix_ms);
    json_payload(t->payload, t->payload_len);
    putchar(',');
    json_headers(t->headers, t->nheaders);
    fputs(",\"idempotency_key\":", stdout);
    json_cstr(t->idempotency_key);
    fputs(",\"last_error\":", stdout);
    json_cstr(t->last_error);
    putchar('}');
}

/* ---- tables ---- */

static void table_head(void)
{
    printf("%-32s %10s %10s %10s %10s %9s %9s %s\n", "QUEUE", "READY", "DELAYED", "LEASED",
           "DEAD", "ENQ/S", "ACK/S", "PAUSED");
}

static void table_row(const rq_queue_info *q)
{
    printf("%-32s %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %9.1f %9.1f %s\n",
           q->name, q->ready, q->delayed, q->leased, q->dead, q->enqueue_rate, q->ack_rate,
           q->paused ? "yes" : "no");
}

static void print_task_info(const rq_task_info *t)
{
    printf("id:           %s\nqueue:        %s\nstate:        %s\npriority:     %u\n"
           "attempts:     %u of %u\nenqueued:     %" PRIu64 " (unix ms)\n",
           t->id, t->queue, rq_state_name(t->state), t->priority, t->attempts, t->max_attempts,
           t->enqueued_unix_ms);
    if (t->due_unix_ms) printf("due:          %" PRIu64 " (unix ms)\n", t->due_unix_ms);
    if (t->idempotency_key[0]) printf("key:          %s\n", t->idempotency_key);
    if (t->last_error[0]) printf("last error:   %s\n", t->last_error);
    for (size_t i = 0; i < t->nheaders; i++)
        printf("header:       %s=%s\n", t->headers[i].name, t->headers[i].value);
    if (printable(t->payload, t->payload_len)) printf("payload:      %s\n", (char *)t->payload);
    else printf("payload:      (%zu bytes, binary)\n", t->payload_len);
}

/* ---- commands ---- */

typedef struct args {
    int n;
    char **v;
} args;

/* Takes option `name`'s value at v[*i]; NULL (usage printed) when missing. */
static const char *optval(args *a, int *i)
{
    if (*i + 1 >= a->n) return NULL;
    return a->v[++*i];
}

static int enqueue_flush(const char *queue, rq_task_spec *specs, size_t n, char **owned)
{
    if (n == 0) return EX_OK;
    rq_enqueue_result *res = calloc(n, sizeof *res);
    if (!res) return usage("out of memory");
    rq_status st;
    if (rq_enqueue(C, queue, specs, n, res, &st) != 0) {
        free(res);
        return fail(&st);
    }
    static bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (json) {
            printf("%s{\"id\":", first ? "" : ",");
            json_cstr(res[i].id);
            printf(",\"duplicate\":%s}", res[i].duplicate ? "true" : "false");
            first = false;
        } else {
            printf("%s%s\n", res[i].id, res[i].duplicate ? " (duplicate)" : "");
        }
        if (owned) free(owned[i]);
    }
    free(res);
    return EX_OK;
}

static int cmd_enqueue(args *a)
{
    rq_task_spec base = {0};
    rq_header hdrs[HEADERS_MAX];
    char *payloads[BATCH_MAX];
    size_t npay = 0, batch = 100;
    const char *queue = NULL;
    for (int i = 1; i < a->n; i++) {
        const char *o = a->v[i], *v;
        uint64_t u;
        if (strcmp(o, "-p") == 0 || strcmp(o, "--priority") == 0) {
            if (!(v = optval(a, &i)) || !parse_u32(v, &base.priority))
                return usage("%s needs a number", o);
        } else if (strcmp(o, "--delay-ms") == 0) {
            if (!(v = optval(a, &i)) || !parse_u64(v, &base.delay_ms)) return usage("bad %s", o);
        } else if (strcmp(o, "--not-before-ms") == 0) {
            if (!(v = optval(a, &i)) || !parse_u64(v, &base.not_before_unix_ms))
                return usage("bad %s", o);
        } else if (strcmp(o, "--max-attempts") == 0) {
            if (!(v = optval(a, &i)) || !parse_u32(v, &base.max_attempts)) return usage("bad %s", o);
        } else if (strcmp(o, "--lease-ms") == 0) {
            if (!(v = optval(a, &i)) || !parse_u32(v, &base.lease_ms)) return usage("bad %s", o);
        } else if (strcmp(o, "--key") == 0) {
            if (!(base.idempotency_key = optval(a, &i))) return usage("--key needs a value");
        } else if (strcmp(o, "--batch") == 0) {
            if (!(v = optval(a, &i)) || !parse_u64(v, &u) || u == 0 || u > BATCH_MAX)
                return usage("--batch takes 1..%d", BATCH_MAX);
            batch = (size_t)u;
        } else if (strcmp(o, "-H") == 0 || strcmp(o, "--header") == 0) {
            char *hv = (char *)optval(a, &i);
            char *eq = hv ? strchr(hv, '=') : NULL;
            if (!eq || eq == hv) return usage("%s takes NAME=VALUE", o);
            if (base.nheaders == HEADERS_MAX) return usage("at most %d headers", HEADERS_MAX);
            *eq = 0;
            hdrs[base.nheaders++] = (rq_header){hv, eq + 1};
        } else if (o[0] == '-' && o[1]) {
            return usage("enqueue: unknown option %s", o);
        } else if (!queue) {
            queue = o;
        } else {
            if (npay == BATCH_MAX) return usage("at most %d payload arguments", BATCH_MAX);
            payloads[npay++] = (char *)o;
        }
    }
    if (!queue) return usage("enqueue needs a QUEUE");
    if (base.idempotency_key && npay != 1)
        return usage("--key applies to exactly one task (one PAYLOAD argument)");
    base.headers = hdrs;
    rq_task_spec *specs = calloc(batch > npay ? batch : npay, sizeof *specs);
    if (!specs) return usage("out of memory");
    if (json) putchar('[');
    int rc = EX_OK;
    if (npay) {
        for (size_t i = 0; i < npay; i++) {
            specs[i] = base;
            specs[i].payload = payloads[i];
            specs[i].payload_len = strlen(payloads[i]);
        }
        for (size_t off = 0; off < npay && rc == EX_OK; off += batch)
            rc = enqueue_flush(queue, specs + off, npay - off < batch ? npay - off : batch, NULL);
    } else {
        char **lines = calloc(batch, sizeof *lines);
        size_t k = 0;
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        while (rc == EX_OK && lines && (len = getline(&line, &cap, stdin)) >= 0) {
            if (len > 0 && line[len - 1] == '\n') line[--len] = 0;
            if ((size_t)len > LINE_MAX_BYTES) {
                rc = usage("a stdin line is longer than %u bytes", LINE_MAX_BYTES);
                break;
            }
            specs[k] = base;
            specs[k].payload = lines[k] = line;
            specs[k].payload_len = (size_t)len;
            line = NULL;
            cap = 0;
            if (++k == batch) {
                rc = enqueue_flush(queue, specs, k, lines);
                k = 0;
            }
        }
        free(line);
        if (rc == EX_OK) rc = enqueue_flush(queue, specs, k, lines);
        else for (size_t i = 0; i < k; i++) free(lines[i]);
        free(lines);
    }
    if (json) printf("]\n");
    free(specs);
    return rc;
}

static int stats_once(const char *queue, bool header)
{
    rq_status st;
    rq_queue_info *qs = NULL, one;
    size_t n = 0;
    int rc = queue ? rq_get_queue(C, queue, &one, &st) : rq_list_queues(C, &qs, &n, &st);
    if (rc) return fail(&st);
    if (queue) {
        qs = &one;
        n = 1;
    }
    if (json) {
        putchar('[');
        for (size_t i = 0; i < n; i++) {
            if (i) putchar(',');
            json_queue(&qs[i]);
        }
        printf("]\n");
    } else {
        if (header) table_head();
        for (size_t i = 0; i < n; i++) table_row(&qs[i]);
    }
    if (!queue) free(qs);
    return EX_OK;
}

static int cmd_stats(args *a)
{
    if (a->n > 2) return usage("stats takes at most one QUEUE");
    return stats_once(a->n == 2 ? a->v[1] : NULL, true);
}

static int cmd_watch(args *a)
{
    uint32_t interval = 1000, count = 0;
    for (int i = 1; i < a->n; i++) {
        const char *v;
        if (strcmp(a->v[i], "--interval-ms") == 0) {
            if (!(v = optval(a, &i)) || !parse_u32(v, &interval) || !interval)
                return usage("bad --interval-ms");
        } else if (strcmp(a->v[i], "--count") == 0) {
            if (!(v = optval(a, &i)) || !parse_u32(v, &count)) return usage("bad --count");
        } else {
            return usage("watch: unexpected %s", a->v[i]);
        }
    }
    bool tty = isatty(STDOUT_FILENO);
    for (uint32_t k = 0; !count || k < count; k++) {
        if (k) {
            struct timespec ts = {interval / 1000, (long)(interval % 1000) * 1000000L};
            nanosleep(&ts, NULL); /* the refresh period itself, not synchronization */
        }
        if (tty && !json) printf("\033[H\033[J"); /* home, clear: redraw in place */
        if (!json) {
            time_t now = time(NULL);
            char tb[32];
            strftime(tb, sizeof tb, "%H:%M:%S", localtime(&now));
            printf("ringq %s  %s  every %u ms\n", rq_client_addr(C), tb, interval);
        }
        int rc = stats_once(NULL, true);
        fflush(stdout);
        if (rc) return rc;
    }
    return EX_OK;
}

static int need_one(args *a, const char *what)
{
    if (a->n != 2 || a->v[1][0] == '-') return usage("%s takes exactly one %s", a->v[0], what);
    return 0;
}

/* Payload (or any server string) for a table cell: at most `width` (>= 4) columns of
 * printable ASCII — control bytes, DEL and non-ASCII as \n, \t, \xNN (and \\), so nothing a
 * producer put in a payload can move the cursor or recolour the terminal; "..." when cut.
 * Returns the columns written. */
static size_t put_preview(const uint8_t *p, size_t n, size_t width)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        char e[8];
        unsigned char ch = p[i];
        if (ch == '\\') snprintf(e, sizeof e, "\\\\");
        else if (ch == '\n') snprintf(e, sizeof e, "\\n");
        else if (ch == '\t') snprintf(e, sizeof e, "\\t");
        else if (ch < 0x20 || ch >= 0x7f) snprintf(e, sizeof e, "\\x%02x", ch);
        else e[0] = (char)ch, e[1] = 0;
        size_t k = strlen(e);
        /* The last piece may use the room "..." would have taken. */
        if (w + k > width || (w + k > width - 3 && i + 1 < n)) {
            fputs("...", stdout);
            return w + 3;
        }
        fputs(e, stdout);
        w += k;
    }
    return w;
}

/* "2024-05-01T12:00:00.123Z", or "-" for 0. */
static void put_time_ms(uint64_t ms)
{
    if (!ms) {
        printf("%-24s", "-");
        return;
    }
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    char b[32];
    if (!gmtime_r(&s, &tm) || !strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%S", &tm)) {
        printf("%-24" PRIu64, ms);
        return;
    }
    printf("%s.%03uZ", b, (unsigned)(ms % 1000));
}

static int cmd_peek(args *a)
{
    const char *queue = NULL;
    uint64_t limit = 10;
    int state = RQ_STATE_UNSPECIFIED;
    for (int i = 1; i < a->n; i++) {
        const char *o = a->v[i], *v;
        if (strcmp(o, "--limit") == 0) {
            if (!(v = optval(a, &i)) || !parse_u64(v, &limit) || limit < 1 || limit > 1000)
                return usage("--limit takes 1..1000");
        } else if (strcmp(o, "--state") == 0) {
            v = optval(a, &i);
            if (v && strcmp(v, "ready") == 0) state = RQ_STATE_READY;
            else if (v && strcmp(v, "delayed") == 0) state = RQ_STATE_DELAYED;
            else if (v && strcmp(v, "all") == 0) state = RQ_STATE_UNSPECIFIED;
            else return usage("--state takes ready, delayed or all");
        } else if (o[0] == '-') {
            return usage("peek: unknown option %s", o);
        } else if (!queue) {
            queue = o;
        } else {
            return usage("peek takes one QUEUE");
        }
    }
    if (!queue) return usage("peek needs a QUEUE");
    rq_status st;
    rq_task_info **ts;
    size_t n;
    bool more;
    if (rq_peek(C, queue, state, (size_t)limit, &ts, &n, &more, &st)) return fail(&st);
    size_t show = n;
    if (json) {
        putchar('[');
        for (size_t i = 0; i < show; i++) {
            if (i) putchar(',');
            json_task_info(ts[i]);
        }
        printf("]\n");
    } else {
        printf("%-24s %-7s %4s %8s  %-24s %9s  %s\n", "ID", "STATE", "PRIO", "ATTEMPTS",
               "ENQUEUED/DUE (UTC)", "BYTES", "PAYLOAD");
        for (size_t i = 0; i < show; i++) {
            const rq_task_info *t = ts[i];
            char att[24];
            snprintf(att, sizeof att, "%u/%u", t->attempts, t->max_attempts);
            size_t w = put_preview((const uint8_t *)t->id, strlen(t->id), 24);
            printf("%*s %-7s %4u %8s  ", (int)(24 - w), "", rq_state_name(t->state), t->priority,
                   att);
            put_time_ms(t->state == RQ_STATE_DELAYED ? t->due_unix_ms : t->enqueued_unix_ms);
            printf(" %9zu  ", t->payload_len);
            put_preview(t->payload, t->payload_len, 48);
            putchar('\n');
        }
        if (show == 0) printf("(no %s tasks)\n", state == RQ_STATE_READY ? "ready"
                              : state == RQ_STATE_DELAYED ? "delayed" : "ready or delayed");
        else if (more) printf("(more tasks follow: --limit N shows up to 1000)\n");
    }
    rq_task_infos_free(ts, n);
    return EX_OK;
}

static int cmd_get(args *a)
{
    if (need_one(a, "ID")) return EX_USAGE;
    rq_status st;
    rq_task_info *t;
    if (rq_get_task(C, a->v[1], &t, &st)) return fail(&st);
    if (json) {
        json_task_info(t);
        putchar('\n');
    } else {
        print_task_info(t);
    }
    rq_task_info_free(t);
    return EX_OK;
}

static int cmd_dead(args *a)
{
    const char *queue = NULL;
    uint64_t limit = 0;
    for (int i = 1; i < a->n; i++) {
        const char *v;
        if (strcmp(a->v[i], "--limit") == 0) {
            if (!(v = optval(a, &i)) || !parse_u64(v, &limit)) return usage("bad --limit");
        } else if (a->v[i][0] == '-') {
            return usage("dead: unknown option %s", a->v[i]);
        } else if (!queue) {
            queue = a->v[i];
        } else {
            return usage("dead takes one QUEUE");
        }
    }
    if (!queue) return usage("dead needs a QUEUE");
    rq_status st;
    rq_task_info **ts;
    size_t n;
    if (rq_list_dead(C, queue, (size_t)limit, &ts, &n, &st)) return fail(&st);
    if (json) putchar('[');
    else printf("%-24s %8s  %-30s %s\n", "ID", "ATTEMPTS", "LAST ERROR", "PAYLOAD");
    for (size_t i = 0; i < n; i++) {
        if (json) {
            if (i) putchar(',');
            json_task_info(ts[i]);
        } else {
            const rq_task_info *t = ts[i];
            printf("%-24s %8u  %-30.30s %.40s\n", t->id, t->attempts, t->last_error,
                   printable(t->payload, t->payload_len) ? (char *)t->payload : "(binary)");
        }
    }
    if (json) printf("]\n");
    rq_task_infos_free(ts, n);
    return EX_OK;
}

static int cmd_redrive(args *a)
{
    if (a->n < 2 || a->v[1][0] == '-') return usage("redrive needs a QUEUE");
    rq_status st;
    uint64_t n = 0;
    if (rq_redrive(C, a->v[1], (const char *const *)a->v + 2, (size_t)(a->n - 2), &n, &st))
        return fail(&st);
    if (json) printf("{\"redriven\":%" PRIu64 "}\n", n);
    else printf("redriven: %" PRIu64 "\n", n);
    return EX_OK;
}

static int cmd_purge(args *a)
{
    if (need_one(a, "QUEUE")) return EX_USAGE;
    rq_status st;
    uint64_t n = 0;
    if (rq_purge_queue(C, a->v[1], &n, &st)) return fail(&st);
    if (json) printf("{\"purged\":%" PRIu64 "}\n", n);
    else printf("purged: %" PRIu64 "\n", n);
    return EX_OK;
}

static int show_queue(const rq_queue_info *q)
{
    if (json) {
        json_queue(q);
        putchar('\n');
    } else {
        table_head();
        table_row(q);
    }
    return EX_OK;
}

static int cmd_pause(args *a, bool pause)
{
    if (need_one(a, "QUEUE")) return EX_USAGE;
    rq_status st;
    rq_queue_info q;
    int rc = pause ? rq_pause_queue(C, a->v[1], &q, &st) : rq_resume_queue(C, a->v[1], &q, &st);
    return rc ? fail(&st) : show_queue(&q);
}

static int cmd_config(args *a)
{
    rq_queue_settings s = {0};
    const char *queue = NULL;
    bool any = false;
    for (int i = 1; i < a->n; i++) {
        const char *o = a->v[i], *v;
        if (o[0] != '-') {
            if (queue) return usage("config takes one QUEUE");
            queue = o;
            continue;
        }
        if (!(v = optval(a, &i))) return usage("%s needs a value", o);
        bool ok;
        if (strcmp(o, "--max-attempts") == 0) ok = s.has_max_attempts = parse_u32(v, &s.v.max_attempts);
        else if (strcmp(o, "--lease-ms") == 0) ok = s.has_lease_ms = parse_u32(v, &s.v.lease_ms);
        else if (strcmp(o, "--backoff-base-ms") == 0)
            ok = s.has_backoff_base_ms = parse_u64(v, &s.v.backoff_base_ms);
        else if (strcmp(o, "--backoff-max-ms") == 0)
            ok = s.has_backoff_max_ms = parse_u64(v, &s.v.backoff_max_ms);
        else if (strcmp(o, "--dedup-window-ms") == 0)
            ok = s.has_dedup_window_ms = parse_u64(v, &s.v.dedup_window_ms);
        else if (strcmp(o, "--dead-letter") == 0) {
            ok = s.has_dead_letter = strcmp(v, "on") == 0 || strcmp(v, "off") == 0;
            s.v.dead_letter = strcmp(v, "on") == 0;
        } else return usage("config: unknown option %s", o);
        if (!ok) return usage("bad value for %s: %s", o, v);
        any = true;
    }
    if (!queue) return usage("config needs a QUEUE");
    rq_status st;
    rq_queue_info q;
    int rc = any ? rq_configure_queue(C, queue, &s, &q, &st) : rq_get_queue(C, queue, &q, &st);
    if (rc) return fail(&st);
    if (json) {
        json_queue(&q);
        putchar('\n');
    } else {
        printf("max_attempts=%u lease_ms=%u backoff_base_ms=%" PRIu64 " backoff_max_ms=%" PRIu64
               " dead_letter=%s dedup_window_ms=%" PRIu64 "\n", q.config.max_attempts,
               q.config.lease_ms, q.config.backoff_base_ms, q.config.backoff_max_ms,
               q.config.dead_letter ? "on" : "off", q.config.dedup_window_ms);
    }
    return EX_OK;
}

static int run(int argc, char **argv, char **rest)
{
    rq_client_opts o = {.fail_fast = true}; /* a tool reports a down server at once */
    int n = 0;
    bool opts_done = false;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!opts_done && strcmp(s, "--") == 0) {
            opts_done = true;
        } else if (!opts_done && (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0)) {
            fputs(USAGE, stdout);
            return EX_OK;
        } else if (!opts_done && strcmp(s, "--json") == 0) {
            json = true;
        } else if (!opts_done && strcmp(s, "--addr") == 0) {
            if (++i >= argc) return usage("--addr needs HOST:PORT");
            o.addr = argv[i];
        } else if (!opts_done && strcmp(s, "--timeout-ms") == 0) {
            if (++i >= argc || !parse_u32(argv[i], &o.timeout_ms) || !o.timeout_ms)
                return usage("--timeout-ms needs a positive number");
        } else {
            rest[n++] = argv[i];
        }
    }
    if (n == 0) return usage("no command");
    rq_status st;
    C = rq_client_create(&o, &st);
    if (!C) return fail(&st);
    args a = {n, rest};
    const char *cmd = rest[0];
    int rc;
    if (strcmp(cmd, "enqueue") == 0) rc = cmd_enqueue(&a);
    else if (strcmp(cmd, "stats") == 0) rc = cmd_stats(&a);
    else if (strcmp(cmd, "watch") == 0) rc = cmd_watch(&a);
    else if (strcmp(cmd, "peek") == 0) rc = cmd_peek(&a);
    else if (strcmp(cmd, "get") == 0) rc = cmd_get(&a);
    else if (strcmp(cmd, "dead") == 0) rc = cmd_dead(&a);
    else if (strcmp(cmd, "redrive") == 0) rc = cmd_redrive(&a);
    else if (strcmp(cmd, "purge") == 0) rc = cmd_purge(&a);
    else if (strcmp(cmd, "pause") == 0) rc = cmd_pause(&a, true);
    else if (strcmp(cmd, "resume") == 0) rc = cmd_pause(&a, false);
    else if (strcmp(cmd, "config") == 0) rc = cmd_config(&a);
    else rc = usage("unknown command '%s'", cmd);
    rq_client_destroy(C);
    fflush(stdout);
    return rc;
}

int main(int argc, char **argv)
{
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    if (!rest) return EX_SERVER;
    int rc = run(argc, argv, rest);
    free(rest);
    return rc;
}
