/* tools/ringq_fmt: JSON, tables and previews for the ringq CLI. See ringq_fmt.h. */
#include "tools/ringq_fmt.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
           ",\"dead_letter\":%s,\"dedup_window_ms\":%" PRIu64 "}}",
           q->partition, q->paused ? "true" : "false", q->ready, q->delayed, q->leased, q->dead,
           q->enqueued_total, q->acked_total, q->nacked_total, q->expired_total, q->dead_total,
           q->duplicates_total, q->enqueue_rate, q->ack_rate, q->config.max_attempts,
           q->config.lease_ms, q->config.backoff_base_ms, q->config.backoff_max_ms,
           q->config.dead_letter ? "true" : "false", q->config.dedup_window_ms);
}

void fmt_json_task_info(const rq_task_info *t)
{
    fputs("{\"id\":", stdout);
    fmt_json_cstr(t->id);
    fputs(",\"queue\":", stdout);
    fmt_json_cstr(t->queue);
    printf(",\"state\":\"%s\",\"priority\":%u,\"attempts\":%u,\"max_attempts\":%u,"
           "\"enqueued_unix_ms\":%" PRIu64 ",\"due_unix_ms\":%" PRIu64 ",",
           rq_state_name(t->state), t->priority, t->attempts, t->max_attempts,
           t->enqueued_unix_ms, t->due_unix_ms);
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

void fmt_table_head(void)
{
    printf("%-32s %10s %10s %10s %10s %9s %9s %s\n", "QUEUE", "READY", "DELAYED", "LEASED",
           "DEAD", "ENQ/S", "ACK/S", "PAUSED");
}

void fmt_table_row(const rq_queue_info *q)
{
    printf("%-32s %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %9.1f %9.1f %s\n",
           q->name, q->ready, q->delayed, q->leased, q->dead, q->enqueue_rate, q->ack_rate,
           q->paused ? "yes" : "no");
}

void fmt_task_info(const rq_task_info *t)
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

/* "2024-05-01T12:00:00.123Z", or "-" for 0. */
void fmt_time_ms(uint64_t ms)
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
