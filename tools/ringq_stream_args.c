/* tools/ringq_stream_args: see ringq_stream_args.h. */
#include "tools/ringq_stream_args.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Reads 1..19 digits at *p (advancing it). */
static bool digits(const char **p, uint64_t *out)
{
    const char *s = *p;
    size_t n = strspn(s, "0123456789");
    if (n == 0 || n > 19) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v = v * 10 + (uint64_t)(s[i] - '0');
    *out = v;
    *p = s + n;
    return true;
}

bool sa_parse_duration_ms(const char *s, uint64_t *out)
{
    static const struct {
        const char *unit;
        uint64_t ms;
    } units[] = {{"", 1}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    uint64_t v;
    if (!s || !digits(&s, &v)) return false;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(s, units[i].unit) != 0) continue;
        if (v > SA_DURATION_MS_MAX / units[i].ms) return false;
        *out = v * units[i].ms;
        return true;
    }
    return false;
}

/* Exactly n digits at *p into *out (advancing). */
static bool fixed(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i])) return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool sep(const char **p, char c)
{
    if (**p != c) return false;
    (*p)++;
    return true;
}

/* The "Z" or "+HH:MM" / "-HH:MM" at the end of a time: its offset east of UTC in seconds. */
static bool offset_s(const char *p, long *out)
{
    if ((p[0] == 'Z' || p[0] == 'z') && !p[1]) {
        *out = 0;
        return true;
    }
    int hh, mm;
    const char *q = p + 1;
    if ((p[0] != '+' && p[0] != '-') || !fixed(&q, 2, &hh) || !sep(&q, ':') || !fixed(&q, 2, &mm) ||
        *q || hh > 23 || mm > 59)
        return false;
    *out = (p[0] == '-' ? -1 : 1) * (hh * 3600L + mm * 60L);
    return true;
}

bool sa_parse_time_ms(const char *s, uint64_t *out)
{
    struct tm tm = {0};
    int y, mo, d, h, mi, se;
    const char *p = s;
    if (!p || !fixed(&p, 4, &y) || !sep(&p, '-') || !fixed(&p, 2, &mo) || !sep(&p, '-') ||
        !fixed(&p, 2, &d) || (*p != 'T' && *p != 't' && *p != ' ') || !(++p) || !fixed(&p, 2, &h) ||
        !sep(&p, ':') || !fixed(&p, 2, &mi) || !sep(&p, ':') || !fixed(&p, 2, &se))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return false;
    uint64_t frac_ms = 0;
    if (*p == '.') {
        p++;
        size_t n = strspn(p, "0123456789");
        if (n == 0) return false;
        for (size_t i = 0; i < 3; i++)
            frac_ms = frac_ms * 10 + (i < n ? (uint64_t)(p[i] - '0') : 0);
        p += n;
    }
    long off;
    if (!offset_s(p, &off)) return false;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    time_t t = timegm(&tm);
    if (tm.tm_mday != d || tm.tm_mon != mo - 1) return false; /* 31 Feb normalised away */
    long long secs = (long long)t - off;
    if (secs < 0) return false;
    *out = (uint64_t)secs * 1000u + frac_ms;
    return true;
}

static bool seq_or_time(const char *s, sa_pos *out)
{
    sa_pos p = {0};
    const char *q;
    if (strncmp(s, "seq:", 4) == 0) {
        q = s + 4;
        if (!digits(&q, &p.seq) || *q || p.seq == 0) return false;
        p.policy = RQ_DELIVER_BY_START_SEQ;
    } else if (strncmp(s, "time:", 5) == 0) {
        if (!sa_parse_time_ms(s + 5, &p.unix_ms)) return false;
        p.policy = RQ_DELIVER_BY_START_TIME;
    } else {
        return false;
    }
    *out = p;
    return true;
}

bool sa_parse_from(const char *s, sa_pos *out)
{
    static const struct {
        const char *name;
        int policy;
    } named[] = {{"all", RQ_DELIVER_ALL},
                 {"last", RQ_DELIVER_LAST},
                 {"new", RQ_DELIVER_NEW},
                 {"last_per_subject", RQ_DELIVER_LAST_PER_SUBJECT}};
    if (!s) return false;
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        if (strcmp(s, named[i].name) == 0) {
            *out = (sa_pos){.policy = named[i].policy};
            return true;
        }
    }
    return seq_or_time(s, out);
}

bool sa_parse_to(const char *s, sa_pos *out) { return s && seq_or_time(s, out); }

bool sa_parse_retention(const char *s, int *out)
{
    for (int v = RQ_RETENTION_LIMITS; v <= RQ_RETENTION_WORK_QUEUE; v++) {
        if (s && strcmp(s, rq_retention_name(v)) == 0) {
            *out = v;
            return true;
        }
    }
    return false;
}

bool sa_parse_discard(const char *s, int *out)
{
    for (int v = RQ_DISCARD_OLD; v <= RQ_DISCARD_NEW; v++) {
        if (s && strcmp(s, rq_discard_name(v)) == 0) {
            *out = v;
            return true;
        }
    }
    return false;
}

bool sa_parse_subjects(const char *s, char (*subjects)[RQ_SUBJECT_MAX], size_t *n)
{
    if (!s || !*s) return false;
    size_t k = 0;
    for (const char *p = s;;) {
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= RQ_SUBJECT_MAX || k == RQ_STREAM_SUBJECTS_MAX) return false;
        k++;
        if (!p[len]) break;
        p += len + 1;
    }
    /* Valid: copy (a second pass, so a bad list leaves the output untouched). */
    const char *p = s;
    for (size_t i = 0; i < k; i++) {
        size_t len = strcspn(p, ",");
        memcpy(subjects[i], p, len);
        subjects[i][len] = 0;
        p += len + 1;
    }
    *n = k;
    return true;
}

bool sa_parse_until(const char *s, uint64_t now_ms, uint64_t *out)
{
    uint64_t v;
    if (!s) return false;
    if (strcmp(s, "now") == 0) {
        *out = 0;
        return true;
    }
    if (sa_parse_time_ms(s, &v)) {
        *out = v;
        return true;
    }
    if (!sa_parse_duration_ms(s, &v)) return false;
    *out = now_ms + v;
    return true;
}

bool sa_filter_probe(const char *filter, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = filter;;) {
        size_t len = strcspn(p, ".");
        bool wild = len == 1 && (*p == '*' || *p == '>');
        const char *tok = wild ? "_" : p;
        size_t tl = wild ? 1 : len;
        if (n + tl + 1 >= cap) return false;
        memcpy(out + n, tok, tl);
        n += tl;
        if (!p[len]) break;
        out[n++] = '.';
        p += len + 1;
    }
    out[n] = 0;
    return true;
}
