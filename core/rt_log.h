/* core/rt_log: structured log lines (logfmt) to stderr.
 *
 *   ts=2026-11-25T15:21:28.123Z level=info shard=0 msg="listening" port=7070
 *
 * One write(2) per line, so lines from different threads never interleave. Thread-safe; the
 * level is a process-wide setting read with a relaxed atomic load. */
#ifndef RT_LOG_H
#define RT_LOG_H

#include <stdarg.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3, LOG_OFF = 4 } log_level;

/* Sets the minimum level printed. */
void log_set_level(log_level level);
log_level log_get_level(void);
/* Parses "debug|info|warn|error|off"; returns 0 or -EINVAL. */
int log_level_parse(const char *s, log_level *out);
/* Tags this thread's lines with shard=N (N < 0: no tag). */
void log_set_shard(int shard);

/* Writes one line. `msg` is quoted for you. `kv_fmt` is a printf format producing the trailing
 * key=value pairs (may be NULL); quote values that can contain spaces with log_quote(). */
void log_write(log_level level, const char *msg, const char *kv_fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(msg, ...)                                                       \
    do {                                                                          \
        if (log_get_level() <= LOG_DEBUG) log_write(LOG_DEBUG, msg, __VA_ARGS__); \
    } while (0)
#define log_info(msg, ...) log_write(LOG_INFO, msg, __VA_ARGS__)
#define log_warn(msg, ...) log_write(LOG_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...) log_write(LOG_ERROR, msg, __VA_ARGS__)

#endif
