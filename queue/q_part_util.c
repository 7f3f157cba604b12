/* queue/q_part_util: statuses, names, ids, defaults. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "core/rt_hist.h"
#include "queue/q_part_int.h"

const char *q_status_name(q_status s)
{
    static const char *const names[] = {
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    };
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

q_status q_fail(q_err *err, q_status code, const char *fmt, ...)
{
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

q_status q_fail_log(q_err *err, int rc, const char *what)
{
    switch (rc) {
    case -ENOSPC:
        return q_fail(err, Q_RESOURCE_EXHAUSTED,
                      "%s: disk full: no space left for the task log (acks are still accepted "
                      "and free space as tasks finish)",
                      what);
    case -EMSGSIZE:
        return q_fail(err, Q_INVALID_ARGUMENT, "%s: record larger than the log accepts", what);
    case -ENOMEM: return q_fail(err, Q_RESOURCE_EXHAUSTED, "%s: out of memory", what);
    default: return q_fail(err, Q_INTERNAL, "%s: task log failed: %s", what, strerror(-rc));
    }
}

q_status q_queue_name_check(const char *name, size_t len, q_err *err)
{
    if (len == 0) return q_fail(err, Q_INVALID_ARGUMENT, "queue name is empty");
    if (len > Q_QUEUE_NAME_BYTES_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "queue name is %zu bytes; at most %u allowed", len,
                      Q_QUEUE_NAME_BYTES_MAX);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (ok) continue;
        if (c >= 0x21 && c < 0x7f)
            return q_fail(err, Q_INVALID_ARGUMENT,
                          "queue name has '%c' at position %zu; allowed: A-Z a-z 0-9 . _ -", c, i);
        return q_fail(err, Q_INVALID_ARGUMENT,
                      "queue name has byte 0x%02x at position %zu; allowed: A-Z a-z 0-9 . _ -", c,
                      i);
    }
    return Q_OK;
}

uint32_t q_part_of(const char *name, size_t len, uint32_t nparts)
{
    return (uint32_t)(XXH3_64bits(name, len) % (nparts ? nparts : 1));
}

uint64_t q_key_hash(const char *key, size_t len) { return XXH3_64bits(key, len); }

/* Decimal digits of v (1 for 0). */
static size_t dec_digits(uint64_t v)
{
    size_t n = 1;
    for (; v >= 10000; v /= 10000) n += 4;
    return n + (v >= 10) + (v >= 100) + (v >= 1000);
}

/* Writes v's `nd` digits (dec_digits) ending at out + nd, two at a time from a table. */
static void dec_put(char *out, uint64_t v, size_t nd)
{
    static const char pairs[201] = "00010203040506070809101112131415161718192021222324252627282930"
                                   "31323334353637383940414243444546474849505152535455565758596061"
                                   "62636465666768697071727374757677787980818283848586878889909192"
                                   "93949596979899";
    char *p = out + nd;
    while (v >= 100) {
        const char *d = pairs + 2 * (v % 100);
        v /= 100;
        *--p = d[1];
        *--p = d[0];
    }
    if (v >= 10) {
        *--p = pairs[2 * v + 1];
        *--p = pairs[2 * v];
    } else {
        *--p = (char)('0' + v);
    }
}

/* By hand, not snprintf: it runs for every task delivered and every id answered, and printf's
 * format machinery was ~1.5 % of the server's CPU at batch 1 (perf, --fsync never). Digits are
 * counted first and written in place two at a time (no reversal, half the divisions): it was
 * 3.6 % of ringqd's instructions at batch 64 digit by digit (rt_u64_dec, callgrind s10). */
size_t q_id_format(char buf[Q_ID_STR_BYTES], uint32_t part_no, uint64_t id)
{
    size_t n = dec_digits(part_no);
    dec_put(buf, part_no, n);
    buf[n++] = '-';
    size_t m = dec_digits(id);
    dec_put(buf + n, id, m);
    n += m;
    buf[n] = 0;
    return n;
}

/* Decimal without sign, leading zeros or overflow past `max`. */
static int parse_dec(const char *s, size_t len, uint64_t max, uint64_t *out)
{
    if (len == 0 || len > 20 || (len > 1 && s[0] == '0')) return -EINVAL;
    uint64_t v = 0;
    /* Up to 19 digits cannot overflow (10^19 - 1 < 2^64): one bound check at the end instead
     * of one per digit (parse_dec runs twice for every acked id). */
    if (len < 20) {
        for (size_t i = 0; i < len; i++) {
            if (s[i] < '0' || s[i] > '9') return -EINVAL;
            v = v * 10 + (uint64_t)(s[i] - '0');
        }
        if (v > max) return -EINVAL;
        *out = v;
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -EINVAL;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (max - d) / 10) return -EINVAL;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Characters of a valid partition number, at most: UINT16_MAX has 5 digits. */
#define ID_PART_DIGITS_MAX 5u

int q_id_parse(const char *s, size_t len, uint32_t *part_no, uint64_t *id)
{
    /* The dash within the first ID_PART_DIGITS_MAX + 1 bytes, by a loop: memchr's call and
     * vector set-up for these few bytes was ~1 % of the server's samples at batch 64 (every
     * acked id). A dash further on could only follow a partition number too long to parse. */
    size_t scan = len < ID_PART_DIGITS_MAX + 1 ? len : ID_PART_DIGITS_MAX + 1;
    const char *dash = NULL;
    for (size_t i = 0; i < scan && !dash; i++)
        if (s[i] == '-') dash = s + i;
    if (!dash) return -EINVAL;
    uint64_t part, off;
    if (parse_dec(s, (size_t)(dash - s), UINT16_MAX, &part) ||
        parse_dec(dash + 1, len - (size_t)(dash - s) - 1, INT64_MAX, &off))
        return -EINVAL;
    *part_no = (uint32_t)part;
    *id = off;
    return 0;
}

void q_queue_cfg_default(q_queue_cfg *c)
{
    /* Every field: the flags (allow_tokenless_ack, release_counts_attempt) default to false. */
    *c = (q_queue_cfg){.max_attempts = Q_MAX_ATTEMPTS_DEFAULT,
                       .lease_ms = Q_LEASE_MS_DEFAULT,
                       .backoff_base_ms = Q_BACKOFF_BASE_MS_DEFAULT,
                       .backoff_max_ms = Q_BACKOFF_MAX_MS_DEFAULT,
                       .dedup_window_ms = Q_DEDUP_WINDOW_MS_DEFAULT,
                       .dead_letter = true};
}

void q_part_opts_default(q_part_opts *o)
{
    memset(o, 0, sizeof *o);
    q_log_opts_default(&o->log);
    o->tasks_max = Q_PART_TASKS_DEFAULT;
    o->queues_max = Q_PART_QUEUES_MAX;
    o->dedup_keys_max = Q_DEDUP_KEYS_DEFAULT;
    o->retain_every_ms = Q_RETAIN_EVERY_MS_DEFAULT;
    o->compact_live_pct = Q_COMPACT_LIVE_PCT_DEFAULT;
    o->pin_bucket_shift = Q_PIN_BUCKET_SHIFT_DEFAULT;
}

/* xorshift64*: jitter only, never security. */
uint64_t q_rand(q_part *p)
{
    uint64_t x = p->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    p->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

void q_lat_observe(q_lat_hist *h, uint64_t ms)
{
    static const uint64_t bounds[Q_LAT_BUCKETS - 1] = Q_LAT_BOUNDS_MS;
    h->buckets[rt_hist_bucket(bounds, Q_LAT_BUCKETS - 1, ms)]++;
    h->count++;
    h->sum_ms += ms;
}
