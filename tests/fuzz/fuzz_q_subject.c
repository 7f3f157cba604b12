/* libFuzzer target for queue/q_subject: arbitrary bytes as two filters and a subject.
 *
 * Input: pieces separated by 0xff (a byte no subject may hold): filter a, filter b, subject s.
 * Properties:
 * - no crash, no sanitizer report, on any bytes, valid or not;
 * - checks agree: a valid subject is a valid filter without wildcards and vice versa;
 * - for subjects built from the input (s, a and b with their wildcards filled in, a's "generic
 *   subjects" with a token b does not name, the common subject of a and b when there is one):
 *   match(a, x) && match(b, x) implies overlap(a, b); subset(a, b) && match(a, x) implies
 *   match(b, x); and each answer has its witness: overlap(a, b) exactly when a and b filled in
 *   position by position give one subject, !subset(a, b) exactly when a generic subject of a
 *   escapes b;
 * - subset implies overlap, overlap is symmetric, both reflexive; a subject as a filter overlaps
 *   and is inside exactly the filters that match it; a set {b} covers exactly b's subsets. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "queue/q_subject.h"

#define FZ_SEP 0xffu
#define FZ_TOKENS_MAX (Q_SUBJECT_TOKENS_MAX + 2u)
#define FZ_BUF_BYTES ((FZ_TOKENS_MAX + 1u) * (Q_SUBJECT_BYTES_MAX + 1u))

#define FZ_ASSERT(c)       \
    do {                   \
        if (!(c)) abort(); \
    } while (0)

typedef struct fz_toks {
    uint32_t n;
    const char *p[FZ_TOKENS_MAX];
    size_t len[FZ_TOKENS_MAX];
} fz_toks;

/* Splits a valid filter into its tokens. */
static void fz_split(const char *s, size_t len, fz_toks *t)
{
    t->n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '.') continue;
        t->p[t->n] = s + start;
        t->len[t->n++] = i - start;
        start = i + 1;
    }
}

static bool fz_is(const fz_toks *t, uint32_t i, char c)
{
    return t->len[i] == 1 && t->p[i][0] == c;
}

typedef struct fz_str {
    char b[FZ_BUF_BYTES];
    size_t len;
} fz_str;

static void fz_add(fz_str *o, const char *tok, size_t len)
{
    if (o->len) o->b[o->len++] = '.';
    memcpy(o->b + o->len, tok, len);
    o->len += len;
}

/* A token neither filter names: "0", "1", ... (they hold at most 2 * 32 tokens). */
static void fz_fresh(const fz_toks *a, const fz_toks *b, char *out)
{
    for (char c = '0';; c++) {
        if (c == '>') continue; /* a wildcard, not a token */
        bool used = false;
        for (uint32_t i = 0; i < a->n; i++) used |= a->len[i] == 1 && a->p[i][0] == c;
        for (uint32_t i = 0; i < b->n; i++) used |= b->len[i] == 1 && b->p[i][0] == c;
        if (!used) {
            *out = c;
            return;
        }
    }
}

/* The common subject of a and b position by position (a literal wins over a wildcard; "x" where
 * both are wildcards; past a '>' the other's remaining tokens). False when there is none. */
static bool fz_unify(const fz_toks *a, const fz_toks *b, fz_str *o)
{
    o->len = 0;
    for (uint32_t i = 0;; i++) {
        if (i == a->n || i == b->n) return a->n == b->n;
        bool at = fz_is(a, i, '>'), bt = fz_is(b, i, '>');
        if (at || bt) {
            const fz_toks *rest = at ? b : a;
            if (at && bt) rest = a; /* both '>': one more token */
            for (uint32_t j = i; j < rest->n; j++) {
                bool wild = fz_is(rest, j, '*') || fz_is(rest, j, '>');
                fz_add(o, wild ? "x" : rest->p[j], wild ? 1 : rest->len[j]);
            }
            return true;
        }
        bool aw = fz_is(a, i, '*'), bw = fz_is(b, i, '*');
        if (!aw && !bw && (a->len[i] != b->len[i] || memcmp(a->p[i], b->p[i], a->len[i]) != 0))
            return false;
        const fz_toks *lit = aw ? b : a;
        fz_add(o, aw && bw ? "x" : lit->p[i], aw && bw ? 1 : lit->len[i]);
    }
}

/* a's subject with `total` tokens: its literals, `fresh` for every wildcard position. */
static void fz_generic(const fz_toks *a, uint32_t total, char fresh, fz_str *o)
{
    o->len = 0;
    for (uint32_t i = 0; i < total; i++) {
        bool lit = i < a->n && !fz_is(a, i, '*') && !fz_is(a, i, '>');
        fz_add(o, lit ? a->p[i] : &fresh, lit ? a->len[i] : 1);
    }
}

static void fz_implications(const char *a, size_t al, const char *b, size_t bl, const char *x,
                            size_t xl)
{
    bool ma = q_filter_match(a, al, x, xl), mb = q_filter_match(b, bl, x, xl);
    if (ma && mb) FZ_ASSERT(q_filter_overlap(a, al, b, bl));
    if (ma && q_filter_subset(a, al, b, bl)) FZ_ASSERT(mb);
}

static void fz_pair(const char *a, size_t al, const char *b, size_t bl)
{
    static fz_toks ta, tb;
    static fz_str w;
    fz_split(a, al, &ta);
    fz_split(b, bl, &tb);
    bool ov = q_filter_overlap(a, al, b, bl), sub = q_filter_subset(a, al, b, bl);
    FZ_ASSERT(ov == q_filter_overlap(b, bl, a, al));
    if (sub) FZ_ASSERT(ov);
    /* Overlap has its witness exactly when it says so. */
    FZ_ASSERT(fz_unify(&ta, &tb, &w) == ov);
    if (ov) {
        FZ_ASSERT(q_filter_match(a, al, w.b, w.len) && q_filter_match(b, bl, w.b, w.len));
        fz_implications(a, al, b, bl, w.b, w.len);
    }
    /* Subset fails exactly when some generic subject of a escapes b. */
    char fresh;
    fz_fresh(&ta, &tb, &fresh);
    bool tail = fz_is(&ta, ta.n - 1, '>'), escaped = false;
    uint32_t last = tail ? Q_SUBJECT_TOKENS_MAX + 1 : ta.n;
    for (uint32_t total = ta.n; total <= last; total++) {
        fz_generic(&ta, total, fresh, &w);
        FZ_ASSERT(q_filter_match(a, al, w.b, w.len));
        escaped |= !q_filter_match(b, bl, w.b, w.len);
        fz_implications(a, al, b, bl, w.b, w.len);
        fz_implications(b, bl, a, al, w.b, w.len);
    }
    FZ_ASSERT(sub == !escaped);
    q_subject_view v = {b, bl};
    q_filter_set set;
    FZ_ASSERT(q_filter_set_init(&set, &v, 1, NULL) == Q_OK);
    FZ_ASSERT(q_filter_set_covers(&set, a, al) == sub);
    FZ_ASSERT(q_filter_set_overlap(&set, a, al, NULL) == ov);
}

/* Every answer on raw bytes, for the sanitizers; and the checks' agreement. */
static bool fz_valid(const char *s, size_t len)
{
    bool subj = q_subject_check(s, len, NULL) == Q_OK;
    q_err err;
    bool filt = q_filter_check(s, len, &err) == Q_OK;
    FZ_ASSERT(filt == (err.code == Q_OK));
    FZ_ASSERT(strnlen(err.msg, sizeof err.msg) < sizeof err.msg);
    if (filt) FZ_ASSERT(subj == !q_filter_has_wildcard(s, len));
    if (subj) FZ_ASSERT(filt);
    (void)q_subject_hash(s, len);
    return filt;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *piece[3] = {"", "", ""};
    size_t plen[3] = {0, 0, 0}, start = 0;
    uint32_t k = 0;
    for (size_t i = 0; i <= size && k < 3; i++) {
        if (i < size && data[i] != FZ_SEP) continue;
        piece[k] = (const char *)data + start;
        plen[k++] = i - start;
        start = i + 1;
    }
    const char *a = piece[0], *b = piece[1], *s = piece[2];
    size_t al = plen[0], bl = plen[1], sl = plen[2];
    bool va = fz_valid(a, al), vb = fz_valid(b, bl), vs = fz_valid(s, sl);
    /* Raw bytes in every call: no crash, whatever they are. */
    (void)q_filter_match(a, al, s, sl);
    (void)q_filter_match(s, sl, a, al);
    if (!va || !vb) FZ_ASSERT(!q_filter_overlap(a, al, b, bl) && !q_filter_subset(a, al, b, bl));
    if (va) FZ_ASSERT(q_filter_subset(a, al, a, al) && q_filter_overlap(a, al, a, al));
    if (vs && q_subject_check(s, sl, NULL) == Q_OK && va) {
        bool m = q_filter_match(a, al, s, sl);
        FZ_ASSERT(q_filter_match(s, sl, s, sl));
        FZ_ASSERT(q_filter_subset(s, sl, a, al) == m);
        FZ_ASSERT(q_filter_overlap(s, sl, a, al) == m);
    }
    if (va && vb) {
        fz_pair(a, al, b, bl);
        fz_pair(b, bl, a, al);
        if (vs) fz_implications(a, al, b, bl, s, sl);
    }
    return 0;
}
