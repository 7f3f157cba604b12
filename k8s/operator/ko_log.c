/* ringq-operator: JSON logs (ko_log.h). */
#include "k8s/operator/ko_log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

static atomic_int ko_log_min = KO_INFO;
static const char *const ko_level_names[] = {"debug", "info", "warn", "error"};

void ko_log_set_level(ko_level min) { atomic_store(&ko_log_min, (int)min); }

int ko_log_parse_level(const char *s, ko_level *out)
{
    for (int i = KO_DEBUG; i <= KO_ERROR; i++) {
        if (strcmp(s, ko_level_names[i]) == 0) {
            *out = (ko_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

void ko_log(ko_level level, const char *msg, ...)
{
    if ((int)level < atomic_load(&ko_log_min)) return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    int n = snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000);
    if (n < 0 || (size_t)n >= sizeof when) when[0] = '\0';
    json_t *o = json_object();
    if (!o) return;
    json_object_set_new(o, "ts", json_string(when));
    json_object_set_new(o, "level", json_string(ko_level_names[level]));
    json_object_set_new(o, "msg", json_string(msg));
    va_list ap;
    va_start(ap, msg);
    for (const char *k = va_arg(ap, const char *); k; k = va_arg(ap, const char *)) {
        const char *v = va_arg(ap, const char *);
        /* Not UTF-8 (a server's message can be anything): logged with its bytes escaped. */
        json_t *s = json_string(v ? v : "");
        if (!s) s = json_string("(not UTF-8)");
        json_object_set_new(o, k, s);
    }
    va_end(ap);
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!line) return;
    flockfile(stderr);
    fputs(line, stderr);
    fputc('\n', stderr);
    fflush(stderr);
    funlockfile(stderr);
    free(line);
}
