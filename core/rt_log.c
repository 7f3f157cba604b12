#include "core/rt_log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Atomic int g_level = LOG_INFO;
static _Thread_local int t_shard = -1;

void log_set_level(log_level level)
{
    atomic_store_explicit(&g_level, (int)level, memory_order_relaxed);
}
log_level log_get_level(void)
{
    return (log_level)atomic_load_explicit(&g_level, memory_order_relaxed);
}
void log_set_shard(int shard) { t_shard = shard; }

int log_level_parse(const char *s, log_level *out)
{
    static const char *names[] = {"debug", "info", "warn", "error", "off"};
    for (int i = 0; i < 5; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (log_level)i;
            return 0;
        }
    }
    return -22; /* -EINVAL */
}

void log_write(log_level level, const char *msg, const char *kv_fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error", "off"};
    if ((int)level < atomic_load_explicit(&g_level, memory_order_relaxed)) return;
    char line[2048];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, names[level]);
    if (t_shard >= 0 && n < (int)sizeof line)
        n += snprintf(line + n, sizeof line - (size_t)n, " shard=%d", t_shard);
    if (n < (int)sizeof line) n += snprintf(line + n, sizeof line - (size_t)n, " msg=\"");
    /* Escape quotes and control characters in msg so a line stays one logfmt record. */
    for (const char *p = msg; *p && n < (int)sizeof line - 4; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            line[n++] = '\\';
            line[n++] = (char)c;
        } else if (c < 0x20) line[n++] = '?';
        else line[n++] = (char)c;
    }
    if (n < (int)sizeof line) line[n++] = '"';
    if (kv_fmt && *kv_fmt && n < (int)sizeof line - 2) {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, kv_fmt);
        int k = vsnprintf(line + n, sizeof line - (size_t)n, kv_fmt, ap);
        va_end(ap);
        if (k > 0) n += k;
    }
    if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
    line[n++] = '\n';
    ssize_t w = write(2, line, (size_t)n);
    (void)w;
}
