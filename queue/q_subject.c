/* queue/q_subject: the subject grammar (rules in q_subject.h and docs/semantics.md).
 *
 * Matching walks both strings token by token, in place. Overlap and subset work on token arrays
 * of checked filters:
 * - overlap: walk both in step; two literals must be equal; a '>' in either, with a token left in
 *   the other, makes a common subject (the rest of any valid filter matches something); else
 *   both must end together.
 * - subset / covers: the "generic subjects" of f are its literal tokens with every wildcard
 *   position replaced by a fresh token that equals no literal anywhere. A fresh token matches
 *   only what '*' or '>' match, so if a union of filters matches a generic subject it matches
 *   every subject f matches of that length. f without '>' has one generic subject; f ending in
 *   '>' has one per length L >= its token count, and since no filter has more than
 *   Q_SUBJECT_TOKENS_MAX tokens, every L above that behaves like Q_SUBJECT_TOKENS_MAX + 1. So f
 *   is covered iff each of those (at most 33) generic subjects matches some filter. */
#include "queue/q_subject.h"

#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "queue/q_part_int.h"

/* Longest token count whose generic subject is examined: one past any filter's token count. */
#define SUBJ_GENERIC_TOKENS_MAX (Q_SUBJECT_TOKENS_MAX + 1u)
#define SUBJ_LABEL_BYTES 16u /* "filter 15" + NUL */

_Static_assert(SUBJ_GENERIC_TOKENS_MAX < 64, "generic subject lengths are bits of a u64");
_Static_assert(Q_SUBJECT_BYTES_MAX <= UINT16_MAX, "token lengths fit subj_tok.len");
_Static_assert(Q_FILTER_SET_MAX < 100, "the label \"filter NN\" fits SUBJ_LABEL_BYTES");

typedef enum subj_kind {
    SUBJ_LIT = 0, /* a literal token: matches itself */
    SUBJ_STAR,    /* '*': one token */
    SUBJ_TAIL,    /* '>': one or more tokens, last */
} subj_kind;

typedef struct subj_tok {
    const char *p;
    uint16_t len;
    uint8_t kind; /* subj_kind */
} subj_tok;

typedef struct subj_toks {
    uint32_t n;
    subj_tok t[Q_SUBJECT_TOKENS_MAX];
} subj_toks;

/* Iterates the '.'-separated pieces of any bytes (empty pieces included); never reads outside
 * [p, p + len). A zero-length string has no piece. */
typedef struct subj_iter {
    const char *p;
    size_t len, pos;
    bool done;
} subj_iter;

static subj_iter subj_iter_of(const char *p, size_t len)
{
    return (subj_iter){.p = p, .len = len, .pos = 0, .done = len == 0};
}

static bool subj_next(subj_iter *it, const char **tok, size_t *tok_len)
{
    if (it->done) return false;
    size_t end = it->pos;
    while (end < it->len && it->p[end] != '.') end++;
    *tok = it->p + it->pos;
    *tok_len = end - it->pos;
    if (end == it->len) it->done = true;
    else it->pos = end + 1;
    return true;
}

static bool subj_byte_ok(unsigned char c)
{
    return c >= 0x21 && c <= 0x7e && c != '.' && c != '*' && c != '>';
}

static bool subj_is(const char *tok, size_t len, char c) { return len == 1 && tok[0] == c; }

/* The fault of one token starting at byte `at` of a string checked as `what`, or Q_OK. */
static q_status subj_tok_check(const char *what, bool filter, const char *tok, size_t len,
                               size_t at, bool last, q_err *err)
{
    if (len == 0) return q_fail(err, Q_INVALID_ARGUMENT, "%s: empty token at byte %zu", what, at);
    if (subj_is(tok, len, '*') || subj_is(tok, len, '>')) {
        if (!filter)
            return q_fail(err, Q_INVALID_ARGUMENT,
                          "%s: wildcard '%c' at byte %zu; a published subject has none", what,
                          tok[0], at);
        if (tok[0] == '>' && !last)
            return q_fail(err, Q_INVALID_ARGUMENT, "%s: '>' at byte %zu is not the last token",
                          what, at);
        return Q_OK;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)tok[i];
        if (subj_byte_ok(c)) continue;
        if ((c == '*' || c == '>') && filter)
            return q_fail(err, Q_INVALID_ARGUMENT,
                          "%s: '%c' at byte %zu is not a whole token (wildcards stand alone "
                          "between dots)",
                          what, c, at + i);
        if (c == '*' || c == '>')
            return q_fail(err, Q_INVALID_ARGUMENT,
                          "%s: wildcard '%c' at byte %zu; a published subject has none", what, c,
                          at + i);
        return q_fail(err, Q_INVALID_ARGUMENT,
                      "%s: byte 0x%02x at byte %zu is not allowed; token bytes are 0x21-0x7e "
                      "except . * >",
                      what, c, at + i);
    }
    return Q_OK;
}

/* Checks s against the rules; fills out (if not NULL) with its tokens when Q_OK. */
static q_status subj_check(const char *what, bool filter, const char *s, size_t len, subj_toks *out,
                           q_err *err)
{
    if (len == 0)
        return q_fail(err, Q_INVALID_ARGUMENT, "%s: empty; 1..%u bytes", what, Q_SUBJECT_BYTES_MAX);
    if (len > Q_SUBJECT_BYTES_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "%s: %zu bytes; at most %u", what, len,
                      Q_SUBJECT_BYTES_MAX);
    subj_iter it = subj_iter_of(s, len);
    const char *tok;
    size_t tok_len;
    uint32_t n = 0;
    while (subj_next(&it, &tok, &tok_len)) {
        size_t at = (size_t)(tok - s);
        if (n == Q_SUBJECT_TOKENS_MAX)
            return q_fail(err, Q_INVALID_ARGUMENT,
                          "%s: more than %u tokens (token %u starts at byte %zu)", what,
                          Q_SUBJECT_TOKENS_MAX, Q_SUBJECT_TOKENS_MAX + 1, at);
        q_status st = subj_tok_check(what, filter, tok, tok_len, at, it.done, err);
        if (st != Q_OK) return st;
        if (out) {
            subj_kind k = subj_is(tok, tok_len, '*')   ? SUBJ_STAR
                          : subj_is(tok, tok_len, '>') ? SUBJ_TAIL
                                                       : SUBJ_LIT;
            out->t[n] = (subj_tok){.p = tok, .len = (uint16_t)tok_len, .kind = (uint8_t)k};
        }
        n++;
    }
    if (out) out->n = n;
    if (err) {
        err->code = Q_OK;
        err->msg[0] = '\0';
    }
    return Q_OK;
}

q_status q_subject_check(const char *s, size_t len, q_err *err)
{
    return subj_check("subject", false, s, len, NULL, err);
}

q_status q_filter_check(const char *f, size_t len, q_err *err)
{
    return subj_check("filter", true, f, len, NULL, err);
}

bool q_filter_has_wildcard(const char *f, size_t len)
{
    subj_iter it = subj_iter_of(f, len);
    const char *tok;
    size_t tok_len;
    while (subj_next(&it, &tok, &tok_len))
        if (subj_is(tok, tok_len, '*') || subj_is(tok, tok_len, '>')) return true;
    return false;
}

bool q_filter_match(const char *filter, size_t flen, const char *subject, size_t slen)
{
    /* Equal bytes match (each token meets itself: a literal its equal, '*' one token, '>' the
     * rest), which the walk below would also say: the usual stream captures its own name. */
    if (flen == slen && memcmp(filter, subject, flen) == 0) return true;
    subj_iter fi = subj_iter_of(filter, flen), si = subj_iter_of(subject, slen);
    const char *ft, *st;
    size_t fl, sl;
    for (;;) {
        bool has_f = subj_next(&fi, &ft, &fl);
        bool has_s = subj_next(&si, &st, &sl);
        if (!has_f) return !has_s;
        if (subj_is(ft, fl, '>')) return has_s; /* one or more tokens left */
        if (!has_s) return false;
        if (subj_is(ft, fl, '*')) continue;
        if (fl != sl || memcmp(ft, st, fl) != 0) return false;
    }
}

static bool subj_tok_eq(const subj_tok *a, const subj_tok *b)
{
    return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

static bool subj_overlap_toks(const subj_toks *a, const subj_toks *b)
{
    for (uint32_t i = 0;; i++) {
        if (i == a->n || i == b->n) return a->n == b->n;
        if (a->t[i].kind == SUBJ_TAIL || b->t[i].kind == SUBJ_TAIL) return true;
        if (a->t[i].kind == SUBJ_LIT && b->t[i].kind == SUBJ_LIT &&
            !subj_tok_eq(&a->t[i], &b->t[i]))
            return false;
    }
}

bool q_filter_overlap(const char *a, size_t alen, const char *b, size_t blen)
{
    subj_toks ta, tb;
    if (subj_check("filter", true, a, alen, &ta, NULL) != Q_OK) return false;
    if (subj_check("filter", true, b, blen, &tb, NULL) != Q_OK) return false;
    return subj_overlap_toks(&ta, &tb);
}

/* Does filter b match the generic subject of f with `len` tokens (f's literals where f has
 * them, fresh tokens elsewhere; see the top of the file)? */
static bool subj_matches_generic(const subj_toks *b, const subj_toks *f, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++) {
        if (i == b->n) return false;
        const subj_tok *bt = &b->t[i];
        if (bt->kind == SUBJ_TAIL) return true; /* len - i >= 1 tokens left */
        if (bt->kind == SUBJ_STAR) continue;
        bool lit = i < f->n && f->t[i].kind == SUBJ_LIT;
        if (!lit || !subj_tok_eq(bt, &f->t[i])) return false; /* a fresh token or another */
    }
    return b->n == len;
}

/* The lengths of f's generic subjects, as bits of a u64 (bit L: L tokens). */
static uint64_t subj_generic_lengths(const subj_toks *f)
{
    if (f->t[f->n - 1].kind != SUBJ_TAIL) return 1ull << f->n;
    uint64_t m = 0;
    for (uint32_t len = f->n; len <= SUBJ_GENERIC_TOKENS_MAX; len++) m |= 1ull << len;
    return m;
}

/* The bits of `want` (generic subject lengths of f) whose subject b matches. */
static uint64_t subj_covered_lengths(const subj_toks *b, const subj_toks *f, uint64_t want)
{
    uint64_t got = 0;
    for (uint32_t len = 1; len <= SUBJ_GENERIC_TOKENS_MAX; len++)
        if ((want >> len & 1) && subj_matches_generic(b, f, len)) got |= 1ull << len;
    return got;
}

bool q_filter_subset(const char *a, size_t alen, const char *b, size_t blen)
{
    subj_toks ta, tb;
    if (subj_check("filter", true, a, alen, &ta, NULL) != Q_OK) return false;
    if (subj_check("filter", true, b, blen, &tb, NULL) != Q_OK) return false;
    uint64_t want = subj_generic_lengths(&ta);
    return subj_covered_lengths(&tb, &ta, want) == want;
}

uint64_t q_subject_hash(const char *s, size_t len) { return XXH3_64bits(s, len); }

q_status q_filter_set_init(q_filter_set *set, const q_subject_view *filters, uint32_t n, q_err *err)
{
    set->n = 0;
    if (n == 0 || n > Q_FILTER_SET_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "filters: %u given; 1..%u allowed", n,
                      Q_FILTER_SET_MAX);
    for (uint32_t i = 0; i < n; i++) {
        char what[SUBJ_LABEL_BYTES];
        snprintf(what, sizeof what, "filter %u", i);
        q_status st = subj_check(what, true, filters[i].ptr, filters[i].len, NULL, err);
        if (st != Q_OK) return st;
    }
    for (uint32_t i = 0; i < n; i++) set->f[i] = filters[i];
    set->n = n;
    return Q_OK;
}

bool q_filter_set_match(const q_filter_set *set, const char *subject, size_t slen, uint32_t *which)
{
    for (uint32_t i = 0; i < set->n; i++) {
        if (!q_filter_match(set->f[i].ptr, set->f[i].len, subject, slen)) continue;
        if (which) *which = i;
        return true;
    }
    return false;
}

bool q_filter_set_overlap(const q_filter_set *set, const char *f, size_t flen, uint32_t *which)
{
    subj_toks tf, tm;
    if (subj_check("filter", true, f, flen, &tf, NULL) != Q_OK) return false;
    for (uint32_t i = 0; i < set->n; i++) {
        if (subj_check("filter", true, set->f[i].ptr, set->f[i].len, &tm, NULL) != Q_OK) continue;
        if (!subj_overlap_toks(&tf, &tm)) continue;
        if (which) *which = i;
        return true;
    }
    return false;
}

bool q_filter_set_covers(const q_filter_set *set, const char *f, size_t flen)
{
    subj_toks tf, tm;
    if (subj_check("filter", true, f, flen, &tf, NULL) != Q_OK) return false;
    uint64_t want = subj_generic_lengths(&tf), got = 0;
    for (uint32_t i = 0; i < set->n && got != want; i++) {
        if (subj_check("filter", true, set->f[i].ptr, set->f[i].len, &tm, NULL) != Q_OK) continue;
        got |= subj_covered_lengths(&tm, &tf, want & ~got);
    }
    return set->n > 0 && got == want;
}
