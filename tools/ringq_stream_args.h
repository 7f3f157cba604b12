/* tools/ringq_stream_args: the argument grammar of the streams commands (`ringq stream`, `pub`,
 * `sub`, `consumer`), apart from any I/O so tests/unit/test_cli_stream.c checks it directly:
 * durations, RFC 3339 times, --from / --to positions, policy names and subject lists. Each
 * parser returns true and fills *out, or false and leaves *out as it was. Strings borrowed. */
#ifndef RINGQ_STREAM_ARGS_H
#define RINGQ_STREAM_ARGS_H

#include <stdbool.h>
#include <stdint.h>

#include "client/ringq.h"

/* A duration: digits with a unit, ms | s | m | h | d ("500ms", "2m", "7d"); digits alone are
 * milliseconds. At most 100 years (a bound that keeps the product in 64 bits). */
#define SA_DURATION_MS_MAX (100ull * 366 * 24 * 3600 * 1000)
bool sa_parse_duration_ms(const char *s, uint64_t *out);

/* An RFC 3339 time, "2026-05-01T12:00:00Z", with optional fraction (milliseconds kept) and a
 * "Z" or "+HH:MM" / "-HH:MM" offset; into Unix ms. Times before 1970 are refused. */
bool sa_parse_time_ms(const char *s, uint64_t *out);

/* Where a consumer starts or is moved to (--from, --to). */
typedef struct sa_pos {
    int policy;   /* RQ_DELIVER_*: ALL, LAST, NEW, LAST_PER_SUBJECT, BY_START_SEQ, BY_START_TIME */
    uint64_t seq; /* BY_START_SEQ: the stream sequence (1..) */
    uint64_t unix_ms; /* BY_START_TIME */
} sa_pos;
/* --from: "seq:N" (N >= 1) | "time:RFC3339" | "all" | "last" | "new" | "last_per_subject". */
bool sa_parse_from(const char *s, sa_pos *out);
/* --to: "seq:N" | "time:RFC3339" only. */
bool sa_parse_to(const char *s, sa_pos *out);

/* --retention limits|interest|work_queue, --discard old|new: the RQ_RETENTION_* / RQ_DISCARD_*
 * value. */
bool sa_parse_retention(const char *s, int *out);
bool sa_parse_discard(const char *s, int *out);

/* --subjects "a.>,b": splits at commas into subjects[] (each 1..RQ_SUBJECT_MAX-1 bytes, no empty
 * item), at most RQ_STREAM_SUBJECTS_MAX. */
bool sa_parse_subjects(const char *s, char (*subjects)[RQ_SUBJECT_MAX], size_t *n);

/* A subject the filter matches, to find the stream a `sub FILTER` reads (the stream whose
 * subjects take in the filter captures every subject it matches): each whole-token wildcard
 * ('*', '>') becomes "_". Into out[cap]; false when it does not fit. Checks nothing else: the
 * server judges the filter. */
bool sa_filter_probe(const char *filter, char *out, size_t cap);

/* --until for pause: "now" (0: resume), an RFC 3339 time, or a duration from now_ms. */
bool sa_parse_until(const char *s, uint64_t now_ms, uint64_t *out);

#endif
