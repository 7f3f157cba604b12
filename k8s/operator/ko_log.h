/* ringq-operator: JSON logs, one object per line on stderr:
 *   {"ts":"2026-12-07T08:00:00.123Z","level":"info","msg":"reconciled","kind":"RingqQueue",...}
 * Thread-safe (one write per line). */
#ifndef KO_LOG_H
#define KO_LOG_H

typedef enum ko_level { KO_DEBUG, KO_INFO, KO_WARN, KO_ERROR } ko_level;

/* Lines below `min` are dropped. Default KO_INFO. */
void ko_log_set_level(ko_level min);
/* "debug" | "info" | "warn" | "error" -> 0 and *out; -EINVAL otherwise. */
int ko_log_parse_level(const char *s, ko_level *out);
/* Logs `msg` with string fields given as key, value pairs ending with NULL (a NULL value is
 * logged as ""). The strings are borrowed for the call and JSON-escaped. */
void ko_log(ko_level level, const char *msg, ...) __attribute__((sentinel));

#endif
