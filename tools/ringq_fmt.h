/* tools/ringq_fmt: the ringq CLI's output on stdout - JSON values (strings escaped, payloads as
 * text or base64, queues, tasks), the queue table, a task as text, and the cells of the peek
 * table (escaped previews, times). Arguments are borrowed for the call. */
#ifndef RINGQ_FMT_H
#define RINGQ_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/ringq.h"

/* A JSON string of s[0..n) (quotes, backslash, control bytes and DEL escaped). */
void fmt_json_str(const char *s, size_t n);
void fmt_json_cstr(const char *s);
/* Printable ASCII, newlines and tabs only. */
bool fmt_printable(const uint8_t *p, size_t n);
/* "payload":"text", or "payload_base64":"..." when it is not printable (nothing when out of
 * memory). */
void fmt_json_payload(const uint8_t *p, size_t n);
/* "headers":{"name":"value",...} */
void fmt_json_headers(const rq_header *h, size_t n);
/* A QueueInfo / TaskInfo as a JSON object. */
void fmt_json_queue(const rq_queue_info *q);
void fmt_json_task_info(const rq_task_info *t);

/* The queue table: its header line, and one row. */
void fmt_table_head(void);
void fmt_table_row(const rq_queue_info *q);
/* A task as "field: value" lines. */
void fmt_task_info(const rq_task_info *t);

/* p[0..n) in at most `width` (>= 4) columns of escaped printable ASCII ("..." when cut);
 * returns the columns written. */
size_t fmt_preview(const uint8_t *p, size_t n, size_t width);
/* Unix ms as "2024-05-01T12:00:00.123Z" (24 columns), "-" for 0. */
void fmt_time_ms(uint64_t ms);

#endif
