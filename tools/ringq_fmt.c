/* tools/ringq_fmt: JSON, tables and previews for the ringq CLI. See ringq_fmt.h. */
#include "tools/ringq_fmt.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto_wire/pw_grpc_util.h"

/* ---- JSON output ---- */

void fmt_json_str(const char *s, size_t n)
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
void fmt_json_cstr(const char *s) { fmt_json_str(s, strlen(s)); }

bool fmt_printable(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((p[i] < 0x20 && p[i] != '\n' && p[i] != '\t') || p[i] >= 0x7f) return false;
    return true;
}

/* Payload as "payload": text, or "payload_base64" when it is not printable ASCII. */
void fmt_json_payload(const uint8_t *p, size_t n)
{
    if (fmt_printable(p, n)) {
        fputs("\"payload\":", stdout);
        fmt_json_str((const char *)p, n);
        return;
    }
    char *b = malloc(pw_b64_encoded_len(n, true) + 1);
    if (!b) return;
    size_t k = pw_b64_encode(b, p, n, true);
    fputs("\"payload_base64\":", stdout);
    fmt_json_str(b, k);
    free(b);
}

void fmt_json_headers(const rq_header *h, size_t n)
{
    fputs("\"headers\":{", stdout);
    for (size_t i = 0; i < n; i++) {
        if (i) putchar(',');
        fmt_json_cstr(h[i].name);
        putchar(':');
        fmt_json_cstr(h[i].value);
    }
    putchar('}');
}

void fmt_msg_text(const rq_stream_msg *m)
{
    printf("[%" PRIu64 "] %s: ", m->seq, m->subject);
    if (fmt_printable(m->payload, m->payload_len)) fwrite(m->payload, 1, m->payload_len, stdout);
    else printf("(%zu bytes, not text)", m->payload_len);
    putchar('\n');
}

void fmt_msg_json_open(const rq_stream_msg *m)
{
    char t[FMT_TIME_BYTES];
    fmt_time_str(t, m->unix_ms);
    printf("{\"stream\":");
    fmt_json_cstr(m->stream);
    printf(",\"subject\":");
    fmt_json_cstr(m->subject);
    printf(",\"seq\":%" PRIu64 ",\"unix_ms\":%" PRIu64 ",\"time\":\"%s\"", m->seq, m->unix_ms, t);
}

void fmt_msg_json_close(const rq_stream_msg *m)
{
    printf(",\"msg_id\":");
    fmt_json_cstr(m->msg_id);
    putchar(',');
    fmt_json_headers(m->headers, m->nheaders);
    putchar(',');
    fmt_json_payload(m->payload, m->payload_len);
    printf("}\n");
}

void fmt_json_queue(const rq_queue_info *q)
{
    fputs("{\"name\":", stdout);
    fmt_json_cstr(q->name);
    printf(",\"partition\":%u,\"paused\":%s,\"ready\":%" PRIu64 ",\"delayed\":%" PRIu64
           ",\"leased\":%" PRIu64 ",\"dead\":%" PRIu64 ",\"enqueued_total\":%" PRIu64
           ",\"acked_total\":%" PRIu64 ",\"nacked_total\":%" PRIu64 ",\"expired_total\":%" PRIu64
           ",\"dead_total\":%" PRIu64 ",\"duplicates_total\":%" PRIu64
           ",\"enqueue_rate\":%.3f,\"ack_rate\":%.3f,\"config\":{\"max_attempts\":%u,"
           "\"lease_ms\":%u,\"backoff_base_ms\":%" PRIu64 ",\"backoff_max_ms\":%" PRIu64
           ",\"dead_letter\":%s,\"dedup_window_ms\":%" PRIu64 ",\"allow_tokenless_ack\":%s,"
           "\"release_counts_attempt\":%s}}",
           q->partition, q->paused ? "true" : "false", q->ready, q->delayed, q->leased, q->dead,
           q->enqueued_total, q->acked_total, q->nacked_total, q->expired_total, q->dead_total,
           q->duplicates_total, q->enqueue_rate, q->ack_rate, q->config.max_attempts,
           q->config.lease_ms, q->config.backoff_base_ms, q->config.backoff_max_ms,
           q->config.dead_letter ? "true" : "false", q->config.dedup_window_ms,
           q->config.allow_tokenless_ack ? "true" : "false",
           q->config.release_counts_attempt ? "true" : "false");
}

void fmt_json_task_info(const rq_task_info *t)
{
    fputs("{\"id\":", stdout);
    fmt_json_cstr(t->id);
    fputs(",\"queue\":", stdout);
    fmt_json_cstr(t->queue);
    char enq[FMT_TIME_BYTES], due[FMT_TIME_BYTES];
    fmt_time_str(enq, t->enqueued_unix_ms);
    fmt_time_str(due, t->due_unix_ms);
    printf(",\"state\":\"%s\",\"priority\":%u,\"attempts\":%u,\"max_attempts\":%u,"
           "\"enqueued_unix_ms\":%" PRIu64 ",\"due_unix_ms\":%" PRIu64 ",\"enqueued\":\"%s\","
           "\"due\":",
           rq_state_name(t->state), t->priority, t->attempts, t->max_attempts, t->enqueued_unix_ms,
           t->due_unix_ms, enq);
    if (t->due_unix_ms) printf("\"%s\",", due);
    else fputs("null,", stdout);
    fmt_json_payload(t->payload, t->payload_len);
    putchar(',');
    fmt_json_headers(t->headers, t->nheaders);
    fputs(",\"idempotency_key\":", stdout);
    fmt_json_cstr(t->idempotency_key);
    fputs(",\"last_error\":", stdout);
    fmt_json_cstr(t->last_error);
    putchar('}');
}

/* ---- tables ---- */

void fmt_head(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(fmt_on(FMT_BOLD), stdout);
    vprintf(fmt, ap);
    fputs(fmt_off(), stdout);
    putchar('\n');
    va_end(ap);
}

void fmt_table_head(void)
{
    fmt_head("%-32s %10s %10s %10s %10s %9s %9s %s", "QUEUE", "READY", "DELAYED", "LEASED", "DEAD",
             "ENQ/S", "ACK/S", "PAUSED");
}

void fmt_table_row(const rq_queue_info *q)
{
    printf("%-32s %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %s%10" PRIu64 "%s %9.1f %9.1f ",
           q->name, q->ready, q->delayed, q->leased, q->dead ? fmt_on(FMT_RED) : "", q->dead,
           q->dead ? fmt_off() : "", q->enqueue_rate, q->ack_rate);
    if (q->paused) printf("%syes%s\n", fmt_on(FMT_YELLOW), fmt_off());
    else printf("no\n");
}

void fmt_task_info(const rq_task_info *t)
{
    char enq[FMT_TIME_BYTES], due[FMT_TIME_BYTES];
    fmt_time_str(enq, t->enqueued_unix_ms);
    fmt_time_str(due, t->due_unix_ms);
    printf("id:           %s\nqueue:        %s\nstate:        %s\npriority:     %u\n"
           "attempts:     %u of %u\nenqueued:     %s\n",
           t->id, t->queue, rq_state_name(t->state), t->priority, t->attempts, t->max_attempts,
           enq);
    if (t->due_unix_ms) printf("due:          %s\n", due);
    if (t->idempotency_key[0]) printf("key:          %s\n", t->idempotency_key);
    if (t->last_error[0]) printf("last error:   %s\n", t->last_error);
    for (size_t i = 0; i < t->nheaders; i++)
        printf("header:       %s=%s\n", t->headers[i].name, t->headers[i].value);
    if (fmt_printable(t->payload, t->payload_len)) printf("payload:      %s\n", (char *)t->payload);
    else printf("payload:      (%zu bytes, binary)\n", t->payload_len);
}

/* Payload (or any server string) for a table cell: at most `width` (>= 4) columns of
 * printable ASCII — control bytes, DEL and non-ASCII as \n, \t, \xNN (and \\), so nothing a
 * producer put in a payload can move the cursor or recolour the terminal; "..." when cut.
 * Returns the columns written. */
size_t fmt_preview(const uint8_t *p, size_t n, size_t width)
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

size_t fmt_time_str(char out[FMT_TIME_BYTES], uint64_t ms)
{
    if (!ms) return (size_t)snprintf(out, FMT_TIME_BYTES, "-");
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    char b[FMT_TIME_BYTES];
    if (!gmtime_r(&s, &tm) || !strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%S", &tm))
        return (size_t)snprintf(out, FMT_TIME_BYTES, "%" PRIu64, ms); /* beyond struct tm */
    int n = snprintf(out, FMT_TIME_BYTES, "%.20s.%03uZ", b, (unsigned)(ms % 1000));
    return n < 0 ? 0 : (size_t)n;
}

void fmt_time_ms(uint64_t ms)
{
    char b[FMT_TIME_BYTES];
    fmt_time_str(b, ms);
    printf("%-24s", b);
}

/* ---- colour ---- */

static bool g_color;

void fmt_color_init(bool json)
{
    const char *nc = getenv("NO_COLOR");
    g_color = !json && isatty(STDOUT_FILENO) && !(nc && nc[0]);
}

const char *fmt_on(fmt_color c)
{
    static const char *const sgr[] = {
        [FMT_BOLD] = "\033[1m",    [FMT_RED] = "\033[31m",  [FMT_GREEN] = "\033[32m",
        [FMT_YELLOW] = "\033[33m", [FMT_CYAN] = "\033[36m",
    };
    return g_color ? sgr[c] : "";
}

const char *fmt_off(void) { return g_color ? "\033[0m" : ""; }

/* The colour of a task state's cell. */
static fmt_color state_color(int state)
{
    switch (state) {
    case RQ_STATE_READY: return FMT_GREEN;
    case RQ_STATE_DELAYED: return FMT_YELLOW;
    case RQ_STATE_LEASED: return FMT_CYAN;
    default: return FMT_RED;
    }
}

void fmt_state_cell(int state, int width)
{
    printf("%s%-*s%s", fmt_on(state_color(state)), width, rq_state_name(state), fmt_off());
}
