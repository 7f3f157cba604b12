/* tools/ringq_fmt: the ringq CLI's output on stdout - JSON values (strings escaped, payloads as
 * text or base64, queues, tasks), the queue table, a task as text, the cells of the peek and
 * dead tables (escaped previews, state cells), the one time format (also ringq-log's) and
 * table colour (on a terminal only, NO_COLOR honoured). Arguments are borrowed for the call. */
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
/* A stream message for people: "[SEQ] SUBJECT: payload" (or its size when not text) and a
 * newline. */
void fmt_msg_text(const rq_stream_msg *m);
/* A stream message as one JSON object on one line, in two halves around the caller's own
 * fields: _open prints {"stream","subject","seq","unix_ms","time" (no closing brace), _close
 * prints ,"msg_id",headers and the payload, then }\n. The caller's fields start with a comma. */
void fmt_msg_json_open(const rq_stream_msg *m);
void fmt_msg_json_close(const rq_stream_msg *m);
/* A QueueInfo / TaskInfo as a JSON object. */
void fmt_json_queue(const rq_queue_info *q);
void fmt_json_task_info(const rq_task_info *t);

/* A task state's name in `width` columns, coloured by state (green ready, yellow delayed, cyan
 * leased, red dead) when colour is on. */
void fmt_state_cell(int state, int width);
/* A table's header line (bold when colour is on): the format and its arguments. */
void fmt_head(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The queue table: its header line, and one row (dead counts red, paused yellow). */
void fmt_table_head(void);
void fmt_table_row(const rq_queue_info *q);
/* A task as "field: value" lines. */
void fmt_task_info(const rq_task_info *t);

/* p[0..n) in at most `width` (>= 4) columns of escaped printable ASCII ("..." when cut);
 * returns the columns written. */
size_t fmt_preview(const uint8_t *p, size_t n, size_t width);
/* The one time format of ringq's output (docs/cli.md): RFC 3339 in UTC with milliseconds,
 * "2024-05-01T12:00:00.123Z" (24 columns). JSON keeps the *_unix_ms integers beside it. */
#define FMT_TIME_BYTES 32u /* 24 and the NUL, with room for years past 9999 */
/* Unix ms into out (NUL-terminated), "-" for 0; returns the length. */
size_t fmt_time_str(char out[FMT_TIME_BYTES], uint64_t ms);
/* fmt_time_str on stdout, padded to 24 columns. */
void fmt_time_ms(uint64_t ms);

/* ---- colour ---- */

/* Colours for table cells (SGR sequences). */
typedef enum fmt_color {
    FMT_BOLD,
    FMT_RED,
    FMT_GREEN,
    FMT_YELLOW,
    FMT_CYAN,
} fmt_color;

/* Decides once whether tables are coloured: only when stdout is a terminal and NO_COLOR is
 * unset or empty (no-color.org), and never for --json. */
void fmt_color_init(bool json);
/* The colour's start and reset sequences ("" when colour is off), for printf. */
const char *fmt_on(fmt_color c);
const char *fmt_off(void);

#endif
