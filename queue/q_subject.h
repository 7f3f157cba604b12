/* queue/q_subject: the subject grammar of streams (docs/semantics.md "Streams: subjects") —
 * checking subjects and filters, matching a subject against a filter, and the two questions
 * asked when streams and consumers are configured: can two filters capture the same subject
 * (overlap), and does one filter capture only subjects another captures too (subset).
 *
 * The rules:
 * - A subject is 1..Q_SUBJECT_BYTES_MAX bytes: 1..Q_SUBJECT_TOKENS_MAX tokens separated by '.'.
 * - A token is one or more bytes, each in 0x21..0x7e (printable ASCII without space) except
 *   '.' (0x2e), '*' (0x2a) and '>' (0x3e). So no space, no tab or other control byte
 *   (0x00..0x1f, 0x7f) and no byte >= 0x80 (UTF-8 is refused, not interpreted). No empty token:
 *   no leading, trailing or double dot.
 * - A published subject has no wildcards.
 * - A filter (the subjects a stream captures, a consumer's filter) follows the same rules and
 *   may also use '*' as a whole token (matches exactly one token) and '>' as the whole last
 *   token (matches one or more tokens). "a.*b", "a.>.b", ">x" and "a*" are invalid. A filter
 *   without wildcards matches exactly the subject equal to it.
 *
 * Overlap and subset reason on tokens and ignore the size limits: "*.<250 bytes>" and
 * "<250 bytes>.*" overlap although their common subjects are longer than Q_SUBJECT_BYTES_MAX.
 * Both uses (refusing overlapping streams or work-queue consumers; accepting a consumer filter
 * only inside its stream) then err on the side of refusing.
 *
 * Everything here is pure: no allocation, no I/O, no global state; safe from any thread.
 * Strings are (pointer, length) pairs, no NUL needed; a pointer may be NULL when its length is
 * 0. All strings are borrowed for the duration of the call only, except by q_filter_set (below).
 * Cost: checking and matching are one pass over the bytes; overlap a pass over both token
 * lists; q_filter_subset and q_filter_set_covers compare up to 33 "generic subjects" of the
 * first filter (q_subject.c explains them) against each other filter: O(33 * 32) token
 * comparisons per filter pair. Nothing reads a byte outside [s, s + len) whatever the bytes are;
 * the token arrays take about 1 KiB of stack. */
#ifndef Q_SUBJECT_H
#define Q_SUBJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue/q_part.h"

/* ---- Limits (docs/semantics.md quotes them). ---- */
/* A subject is copied into every message record and index entry: a short routing key, not
 * data. NATS allows more, but nothing routes on a kilobyte key. */
#define Q_SUBJECT_BYTES_MAX 256u
/* Bounds matching work (and the token arrays on the stack) per subject. */
#define Q_SUBJECT_TOKENS_MAX 32u
/* Filters per q_filter_set (a stream's subjects, a consumer's filters): matching tries each in
 * turn, so this bounds the work of routing one publish. */
#define Q_FILTER_SET_MAX 16u

_Static_assert(Q_SUBJECT_TOKENS_MAX * 2 - 1 <= Q_SUBJECT_BYTES_MAX,
               "the token limit is reachable with 1-byte tokens");

/* A borrowed string: a subject or a filter. */
typedef struct q_subject_view {
    const char *ptr;
    size_t len;
} q_subject_view;

/* Checks a published subject (no wildcards). Q_OK (err, if not NULL, gets code Q_OK and "") or
 * Q_INVALID_ARGUMENT with a message naming the fault and its byte offset, for example
 * "subject: empty token at byte 4", "subject: byte 0x20 at byte 3 is not allowed ...",
 * "subject: wildcard '*' at byte 2; a published subject has none". err may be NULL. */
q_status q_subject_check(const char *s, size_t len, q_err *err);

/* Checks a filter: the subject rules plus '*' as a whole token and '>' as the whole last token.
 * Q_OK or Q_INVALID_ARGUMENT as for q_subject_check, messages starting "filter: ". */
q_status q_filter_check(const char *f, size_t len, q_err *err);

/* True if the filter has a '*' or '>' token (it is then not a valid published subject). The
 * filter must have passed q_filter_check; on other bytes the answer is unspecified (but safe). */
bool q_filter_has_wildcard(const char *f, size_t len);

/* Does `subject` match `filter`? '*' matches one token, '>' one or more, any other token only
 * itself (bytewise). "a.>" does not match "a". Hot path (routing a publish): does not validate;
 * the caller passes a checked filter and a checked subject. On unchecked bytes the answer is
 * unspecified but the call stays inside both buffers. */
bool q_filter_match(const char *filter, size_t flen, const char *subject, size_t slen);

/* Could some subject match both filters a and b? ("a.*" and "*.b": yes, "a.b"; "a.>" and "a":
 * no.) Symmetric. Validates both: false if either is not a valid filter. */
bool q_filter_overlap(const char *a, size_t alen, const char *b, size_t blen);

/* Does every subject matching filter a also match filter b? ("a.*" in "a.>": yes; "a.>" in
 * "a.*": no.) Reflexive and transitive. Validates both: false if either is not a valid filter. */
bool q_filter_subset(const char *a, size_t alen, const char *b, size_t blen);

/* XXH3-64 of the subject's bytes, for sharding subjects across partitions
 * (partition = q_subject_hash(s, len) % nparts). Stable across builds and machines: it decides
 * where messages are stored. */
uint64_t q_subject_hash(const char *s, size_t len);

/* ---- q_filter_set: a few filters matched together. ----
 * A stream's subjects or a consumer's filters. Borrows the filter bytes: the strings the views
 * point to must stay unchanged until the set is no longer used (the view array itself is copied
 * and may go). Matching tries the filters in order: O(n * subject length), n <=
 * Q_FILTER_SET_MAX; a sorted or trie index is only worth it for more filters than that.
 * sizeof(q_filter_set) is ~260 bytes; the caller owns the memory (embed it). */
typedef struct q_filter_set {
    uint32_t n;
    q_subject_view f[Q_FILTER_SET_MAX];
} q_filter_set;

/* Fills `set` with filters[0..n). Each filter is checked (q_filter_check); n is 1..
 * Q_FILTER_SET_MAX. Q_OK, or Q_INVALID_ARGUMENT naming the bad filter by index ("filter 2: empty
 * token at byte 0") or n; `set` is then empty (n = 0, matches nothing). Duplicates and
 * overlapping filters are allowed (a subject matching two is matched once). */
q_status q_filter_set_init(q_filter_set *set, const q_subject_view *filters, uint32_t n,
                           q_err *err);

/* Does the subject match any filter of the set? If it does and `which` is not NULL, *which is
 * the index of the first filter that matches. The subject must be checked (q_subject_check). */
bool q_filter_set_match(const q_filter_set *set, const char *subject, size_t slen, uint32_t *which);

/* Could some subject match filter f and a filter of the set? If so and `which` is not NULL,
 * *which is the first such filter. False if f is not a valid filter. */
bool q_filter_set_overlap(const q_filter_set *set, const char *f, size_t flen, uint32_t *which);

/* Does every subject matching filter f match some filter of the set (their union)? Stronger
 * than "f is a subset of one member": ">" is covered by {"*", "*.>"}. False if f is not a valid
 * filter or the set is empty. */
bool q_filter_set_covers(const q_filter_set *set, const char *f, size_t flen);

#endif
