/* queue/q_subject: the grammar's edge cases, one table row each, and the clever code
 * (q_filter_overlap, q_filter_subset, q_filter_set_covers, q_filter_match) proven against the
 * obvious one: every filter of up to 4 tokens over {a, b, *, >} is matched by a POSIX regex
 * (an independent matcher) against every subject of up to 5 tokens over {a, b, z}, and overlap,
 * subset and cover are read off those match sets.
 *
 * Why that enumeration is exact: a filter's literals are a or b, so z is a token no literal
 * equals (any witness token outside the literals behaves like z), and a subject that matches
 * one filter and not another (or two at once) can be cut down to at most one token more than
 * the longer filter has. */
#include <check.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "queue/q_subject.h"
#include "ts_main.h"

#define S(x) x, sizeof(x) - 1

/* ---- q_subject_check / q_filter_check ---- */

typedef struct check_row {
    const char *s;
    size_t len;
    bool filter;
    const char *msg; /* NULL: valid; else the message, or its start when it ends in "..." */
} check_row;

static const check_row check_rows[] = {
    {S("a"), false, NULL},
    {S("orders.eu.created"), false, NULL},
    {S("A-Z_0~9!\"#$%&'()+,/:;<=?@[\\]^`{|}"), false, NULL}, /* every punctuation allowed */
    {S(""), false, "subject: empty; 1..256 bytes"},
    {S("abc..d"), false, "subject: empty token at byte 4"},
    {S(".a"), false, "subject: empty token at byte 0"},
    {S("a."), false, "subject: empty token at byte 2"},
    {S("."), false, "subject: empty token at byte 0"},
    {S("a.*"), false, "subject: wildcard '*' at byte 2; a published subject has none"},
    {S(">"), false, "subject: wildcard '>' at byte 0; a published subject has none"},
    {S("a*"), false, "subject: wildcard '*' at byte 1; a published subject has none"},
    {S("a.b>"), false, "subject: wildcard '>' at byte 3; a published subject has none"},
    {S("a\0b"), false,
     "subject: byte 0x00 at byte 1 is not allowed; token bytes are 0x21-0x7e except . * >"},
    {S("a b"), false, "subject: byte 0x20 at byte 1 is not allowed..."},
    {S(" "), false, "subject: byte 0x20 at byte 0 is not allowed..."},
    {S("a.\tb"), false, "subject: byte 0x09 at byte 2 is not allowed..."},
    {S("ab\n"), false, "subject: byte 0x0a at byte 2 is not allowed..."},
    {S("a\x1f"), false, "subject: byte 0x1f at byte 1 is not allowed..."},
    {S("a\x7f"), false, "subject: byte 0x7f at byte 1 is not allowed..."},
    {S("\x80"), false, "subject: byte 0x80 at byte 0 is not allowed..."},
    {S("caf\xc3\xa9"), false, "subject: byte 0xc3 at byte 3 is not allowed..."},
    {S("a.\xff"), false, "subject: byte 0xff at byte 2 is not allowed..."},
    {S("a..b "), false, "subject: empty token at byte 2"}, /* the first fault is named */
    {S(">"), true, NULL},
    {S("*"), true, NULL},
    {S("a.*.c"), true, NULL},
    {S("*.>"), true, NULL},
    {S("a.b"), true, NULL},
    {S(""), true, "filter: empty; 1..256 bytes"},
    {S("a.*b"), true,
     "filter: '*' at byte 2 is not a whole token (wildcards stand alone between dots)"},
    {S("a.>.b"), true, "filter: '>' at byte 2 is not the last token"},
    {S(">.>"), true, "filter: '>' at byte 0 is not the last token"},
    {S(">x"), true, "filter: '>' at byte 0 is not a whole token..."},
    {S("a>"), true, "filter: '>' at byte 1 is not a whole token..."},
    {S("**"), true, "filter: '*' at byte 0 is not a whole token..."},
    {S("a..>"), true, "filter: empty token at byte 2"},
    {S("a.>."), true, "filter: '>' at byte 2 is not the last token"},
    {S("*."), true, "filter: empty token at byte 2"},
    {S("*.a b"), true, "filter: byte 0x20 at byte 3 is not allowed..."},
    {S("\t"), true, "filter: byte 0x09 at byte 0 is not allowed..."},
};

static void expect_check(const char *s, size_t len, bool filter, const char *msg, int row)
{
    q_err err = {.code = Q_INTERNAL, .msg = "stale"};
    q_status st = filter ? q_filter_check(s, len, &err) : q_subject_check(s, len, &err);
    if (!msg) {
        ck_assert_msg(st == Q_OK, "row %d: refused: %s", row, err.msg);
        ck_assert_int_eq(err.code, Q_OK);
        ck_assert_str_eq(err.msg, "");
        return;
    }
    ck_assert_msg(st == Q_INVALID_ARGUMENT, "row %d: accepted, want %s", row, msg);
    ck_assert_int_eq(err.code, Q_INVALID_ARGUMENT);
    size_t n = strlen(msg);
    if (n > 3 && strcmp(msg + n - 3, "...") == 0)
        ck_assert_msg(strncmp(err.msg, msg, n - 3) == 0, "row %d: %s", row, err.msg);
    else ck_assert_msg(strcmp(err.msg, msg) == 0, "row %d: %s", row, err.msg);
    /* The same verdict without an err to fill. */
    ck_assert_int_eq(filter ? q_filter_check(s, len, NULL) : q_subject_check(s, len, NULL), st);
}

START_TEST(check_rows_table)
{
    const check_row *r = &check_rows[_i];
    expect_check(r->s, r->len, r->filter, r->msg, _i);
    /* Every valid subject is a valid filter; a filter is a subject iff it has no wildcard. */
    if (!r->filter && !r->msg) ck_assert_int_eq(q_filter_check(r->s, r->len, NULL), Q_OK);
    if (r->filter && !r->msg)
        ck_assert_int_eq(q_subject_check(r->s, r->len, NULL) == Q_OK,
                         !q_filter_has_wildcard(r->s, r->len));
}
END_TEST

/* n tokens of one byte `tok` joined by dots, padded with extra bytes in the first token so the
 * string is `len` bytes (len >= 2 n - 1). Returns the length. */
static size_t build(char *out, uint32_t n, char tok, size_t len)
{
    size_t pad = len - (2 * n - 1), k = 0;
    for (size_t i = 0; i < pad; i++) out[k++] = 'p';
    for (uint32_t i = 0; i < n; i++) {
        if (i) out[k++] = '.';
        out[k++] = tok;
    }
    return k;
}

START_TEST(size_limits)
{
    char b[512];
    size_t n = build(b, 1, 'a', 256);
    expect_check(b, n, false, NULL, 256);
    expect_check(b, n, true, NULL, 256);
    ck_assert(q_filter_match(">", 1, b, n));
    n = build(b, 1, 'a', 257);
    expect_check(b, n, false, "subject: 257 bytes; at most 256", 257);
    expect_check(b, n, true, "filter: 257 bytes; at most 256", 257);
    n = build(b, 32, 'a', 63);
    expect_check(b, n, false, NULL, 32);
    n = build(b, 32, 'a', 256); /* both limits at once */
    expect_check(b, n, false, NULL, 32);
    n = build(b, 33, 'a', 65);
    expect_check(b, n, false, "subject: more than 32 tokens (token 33 starts at byte 64)", 33);
    n = build(b, 32, '*', 63);
    expect_check(b, n, true, NULL, 32);
    b[n - 1] = '>';
    expect_check(b, n, true, NULL, 32);
    n = build(b, 33, '*', 65);
    expect_check(b, n, true, "filter: more than 32 tokens (token 33 starts at byte 64)", 33);
    n = build(b, 129, 'a', 257); /* too long is named before too many tokens */
    expect_check(b, n, false, "subject: 257 bytes; at most 256", 129);
    /* A NULL pointer with length 0 is an empty string, not a crash. */
    expect_check(NULL, 0, false, "subject: empty; 1..256 bytes", 0);
    ck_assert(!q_filter_match(NULL, 0, "a", 1));
    ck_assert(!q_filter_overlap(NULL, 0, NULL, 0));
}
END_TEST

/* ---- q_filter_match ---- */

typedef struct pair_row {
    const char *a, *b;
    bool want;
} pair_row;

static const pair_row match_rows[] = {
    {">", "a", true},          {">", "a.b.c", true},       {"*", "a", true},
    {"*", "a.b", false},       {"a.>", "a", false},        {"a.>", "a.b", true},
    {"a.>", "a.b.c", true},    {"a.>", "b.c", false},      {"*.*", "a.b.c", false},
    {"*.*", "a.b", true},      {"*.*", "a", false},        {"a.*.c", "a.b.c", true},
    {"a.*.c", "a.b.d", false}, {"a.*.c", "a.c", false},    {"a.*.c", "a.b.c.d", false},
    {"a.b", "a.b", true},      {"a.b", "a.bc", false},     {"a.b", "a.b.c", false},
    {"a.bc", "a.b", false},    {"ab", "a", false},         {"a", "ab", false},
    {"*.>", "a", false},       {"*.>", "a.b", true},       {"a.*", "b.a", false},
    {"a.b.>", "a.b", false},   {"*.b.>", "x.b.y.z", true}, {"Orders", "orders", false},
};

START_TEST(match_rows_table)
{
    const pair_row *r = &match_rows[_i];
    ck_assert_int_eq(q_filter_check(r->a, strlen(r->a), NULL), Q_OK);
    ck_assert_int_eq(q_subject_check(r->b, strlen(r->b), NULL), Q_OK);
    ck_assert_msg(q_filter_match(r->a, strlen(r->a), r->b, strlen(r->b)) == r->want,
                  "match(%s, %s) != %d", r->a, r->b, r->want);
    /* A subject that matches lies inside the filter; one that does not, does not overlap it. */
    ck_assert(q_filter_subset(r->b, strlen(r->b), r->a, strlen(r->a)) == r->want);
    ck_assert(q_filter_overlap(r->b, strlen(r->b), r->a, strlen(r->a)) == r->want);
}
END_TEST

/* ---- q_filter_overlap (both orders) and q_filter_subset ---- */

static const pair_row overlap_rows[] = {
    {"a.*", "*.b", true},     {"a.>", "*.b.c", true},  {"a.b", "a.b", true},
    {"a.b", "a.c", false},    {"a.>", "a", false},     {">", "a", true},
    {">", "*", true},         {">", ">", true},        {"*", "a.b", false},
    {"*.*", "a.>", true},     {"a.*", "b.*", false},   {"a.>", "b.>", false},
    {"*.b.>", "a.*.c", true}, {"a.b.c", "a.*", false}, {"*", "a", true},
    {"a.*.c", "a.b.*", true}, {"a.>", "a.b.>", true},  {"*.>", "a", false},
    {"a.b.>", "a.*", false},  {"a.*.>", "*.b", false}, {"*.*.*", "a.b", false},
    {"a..b", "a..b", false}, /* invalid: false, even for identical bytes */
};

START_TEST(overlap_rows_table)
{
    const pair_row *r = &overlap_rows[_i];
    size_t al = strlen(r->a), bl = strlen(r->b);
    ck_assert_msg(q_filter_overlap(r->a, al, r->b, bl) == r->want, "overlap(%s, %s)", r->a, r->b);
    ck_assert_msg(q_filter_overlap(r->b, bl, r->a, al) == r->want, "overlap(%s, %s)", r->b, r->a);
}
END_TEST

static const pair_row subset_rows[] = {
    {"a.b.>", "a.>", true},   {"a.*", "a.>", true},    {"a.>", "a.*", false},
    {"a.b", "a.*", true},     {"a.*", "a.b", false},   {"a", "a", true},
    {">", ">", true},         {"*", ">", true},        {">", "*", false},
    {"*.>", ">", true},       {">", "*.>", false},     {"a.*.c", "*.*.*", true},
    {"a.*.c", "a.>", true},   {"a.b.c", "a.*", false}, {"a.*", "*.*", true},
    {"*.*", "a.*", false},    {"a.>", "a.*.>", false}, {"a.*.>", "a.>", true},
    {"a.b", "a.b.>", false},  {"a.>", "a.>", true},    {"a.b.c", ">", true},
    {"a.b.c", "a.*.c", true}, {"*.b.>", "a.>", false}, {"a.b", "a", false},
    {"a.*", "a.*", true},     {"a..b", "a..b", false}, {"a.b", "a.c.>", false},
};

START_TEST(subset_rows_table)
{
    const pair_row *r = &subset_rows[_i];
    size_t al = strlen(r->a), bl = strlen(r->b);
    ck_assert_msg(q_filter_subset(r->a, al, r->b, bl) == r->want, "subset(%s, %s)", r->a, r->b);
    q_subject_view v = {r->b, bl};
    q_filter_set set;
    if (q_filter_set_init(&set, &v, 1, NULL) == Q_OK)
        ck_assert(q_filter_set_covers(&set, r->a, al) == r->want);
}
END_TEST

START_TEST(has_wildcard_and_hash)
{
    ck_assert(q_filter_has_wildcard(S("a.*")));
    ck_assert(q_filter_has_wildcard(S(">")));
    ck_assert(q_filter_has_wildcard(S("a.b.>")));
    ck_assert(!q_filter_has_wildcard(S("a.b")));
    /* The hash decides where messages are stored: it must be XXH3-64 (seed 0) of the bytes,
     * nothing build- or run-specific, and see every byte. */
    ck_assert_uint_eq(q_subject_hash(S("orders.eu")), XXH3_64bits("orders.eu", 9));
    ck_assert_uint_eq(q_subject_hash(NULL, 0), XXH3_64bits("", 0));
    ck_assert_uint_ne(q_subject_hash(S("orders.eu")), q_subject_hash(S("orders.e")));
    ck_assert_uint_ne(q_subject_hash(S("orders.eu")), q_subject_hash(S("orders.ue")));
}
END_TEST

/* ---- q_filter_set ---- */

START_TEST(set_init_errors)
{
    q_subject_view v[Q_FILTER_SET_MAX + 1];
    for (uint32_t i = 0; i <= Q_FILTER_SET_MAX; i++) v[i] = (q_subject_view){"a.>", 3};
    q_filter_set set;
    q_err err;
    ck_assert_int_eq(q_filter_set_init(&set, v, 0, &err), Q_INVALID_ARGUMENT);
    ck_assert_str_eq(err.msg, "filters: 0 given; 1..16 allowed");
    ck_assert_int_eq(q_filter_set_init(&set, v, Q_FILTER_SET_MAX + 1, &err), Q_INVALID_ARGUMENT);
    ck_assert_str_eq(err.msg, "filters: 17 given; 1..16 allowed");
    ck_assert_int_eq(q_filter_set_init(&set, v, Q_FILTER_SET_MAX, &err), Q_OK);
    ck_assert_int_eq(err.code, Q_OK);
    ck_assert_uint_eq(set.n, Q_FILTER_SET_MAX);
    v[2] = (q_subject_view){".x", 2};
    ck_assert_int_eq(q_filter_set_init(&set, v, 3, &err), Q_INVALID_ARGUMENT);
    ck_assert_str_eq(err.msg, "filter 2: empty token at byte 0");
    v[2] = (q_subject_view){"a.>.b", 5};
    ck_assert_int_eq(q_filter_set_init(&set, v, 3, &err), Q_INVALID_ARGUMENT);
    ck_assert_str_eq(err.msg, "filter 2: '>' at byte 2 is not the last token");
    /* A refused set is empty: it matches nothing, covers nothing, overlaps nothing. */
    ck_assert_uint_eq(set.n, 0);
    ck_assert(!q_filter_set_match(&set, S("a.b"), NULL));
    ck_assert(!q_filter_set_covers(&set, S("a.b")));
    ck_assert(!q_filter_set_overlap(&set, S(">"), NULL));
}
END_TEST

START_TEST(set_match_overlap_covers)
{
    q_subject_view v[3] = {{S("orders.eu.*")}, {S("orders.>")}, {S("audit")}};
    q_filter_set set;
    ck_assert_int_eq(q_filter_set_init(&set, v, 3, NULL), Q_OK);
    v[0] = v[2] = (q_subject_view){S("zzz")}; /* the views were copied; the bytes are borrowed */
    uint32_t which = 99;
    ck_assert(q_filter_set_match(&set, S("orders.eu.new"), &which));
    ck_assert_uint_eq(which, 0);
    ck_assert(q_filter_set_match(&set, S("orders.us"), &which));
    ck_assert_uint_eq(which, 1);
    ck_assert(q_filter_set_match(&set, S("audit"), &which));
    ck_assert_uint_eq(which, 2);
    which = 99;
    ck_assert(!q_filter_set_match(&set, S("audit.x"), &which));
    ck_assert(!q_filter_set_match(&set, S("orders"), &which));
    ck_assert(!q_filter_set_match(&set, S("zzz"), &which));
    ck_assert_uint_eq(which, 99); /* untouched when nothing matches */
    ck_assert(q_filter_set_match(&set, S("orders.eu.new"), NULL));

    ck_assert(q_filter_set_overlap(&set, S("*.us"), &which));
    ck_assert_uint_eq(which, 1);
    ck_assert(q_filter_set_overlap(&set, S("*"), &which));
    ck_assert_uint_eq(which, 2);
    ck_assert(!q_filter_set_overlap(&set, S("billing.>"), NULL));
    ck_assert(!q_filter_set_overlap(&set, S("a..b"), NULL));

    ck_assert(q_filter_set_covers(&set, S("orders.*.*.>")));
    ck_assert(q_filter_set_covers(&set, S("audit")));
    ck_assert(!q_filter_set_covers(&set, S("audit.>")));
    ck_assert(!q_filter_set_covers(&set, S("*")));
    ck_assert(!q_filter_set_covers(&set, S("a..b")));
}
END_TEST

typedef struct cover_row {
    const char *set[3]; /* NULL-terminated when shorter */
    const char *f;
    bool want;
} cover_row;

static const cover_row cover_rows[] = {
    {{"*", "*.>"}, ">", true}, /* a union covers what no member does */
    {{"*"}, ">", false},
    {{"*.>"}, ">", false},
    {{"a.>"}, "a.b", true},
    {{"a.b", "a.c"}, "a.*", false},
    {{"a.*", "a.*.>"}, "a.>", true},
    {{"a.*", "a.*.*"}, "a.>", false},
    {{"a.b.>", "a.*.c"}, "a.*.c", true},
    {{"a.b", "*.c", "a.*.>"}, "a.>", false},
    {{"a.b", "*.*", "a.*.>"}, "a.>", true},
};

START_TEST(cover_rows_table)
{
    const cover_row *r = &cover_rows[_i];
    q_subject_view v[3];
    uint32_t n = 0;
    while (n < 3 && r->set[n]) {
        v[n] = (q_subject_view){r->set[n], strlen(r->set[n])};
        n++;
    }
    q_filter_set set;
    ck_assert_int_eq(q_filter_set_init(&set, v, n, NULL), Q_OK);
    ck_assert_msg(q_filter_set_covers(&set, r->f, strlen(r->f)) == r->want, "row %d", _i);
}
END_TEST

/* ---- Brute force ---- */

#define BF_FILTER_TOKENS_MAX 4u
#define BF_SUBJECT_TOKENS_MAX (BF_FILTER_TOKENS_MAX + 1u)
#define BF_SUBJECTS_MAX 363u /* 3 + 9 + 27 + 81 + 243 */
#define BF_FILTERS_MAX 160u  /* 3^(n-1) * 4 for n = 1..4 */
#define BF_WORDS ((BF_SUBJECTS_MAX + 63) / 64)
#define BF_STR_BYTES 16u

typedef struct bf_item {
    char s[BF_STR_BYTES];
    size_t len;
    uint64_t m[BF_WORDS]; /* filters: the subjects they match, by the regex */
} bf_item;

static bf_item subjects[BF_SUBJECTS_MAX], filters[BF_FILTERS_MAX];
static uint32_t nsubj, nfilt;

/* Every string of n tokens over alphabet `al` (the last token over `last`), as items. */
static void bf_enum(bf_item *out, uint32_t *count, uint32_t n, const char *al, const char *last)
{
    uint32_t na = (uint32_t)strlen(al), nl = (uint32_t)strlen(last), total = nl;
    for (uint32_t i = 1; i < n; i++) total *= na;
    for (uint32_t x = 0; x < total; x++) {
        bf_item *it = &out[(*count)++];
        uint32_t y = x, k = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (i) it->s[k++] = '.';
            it->s[k++] = i + 1 == n ? last[y % nl] : al[y % na];
            y /= i + 1 == n ? nl : na;
        }
        it->s[k] = '\0';
        it->len = k;
    }
}

/* The obvious matcher: the filter as an anchored POSIX regex. */
static void bf_regex(const char *f, regex_t *re)
{
    char pat[128];
    size_t k = 0;
    pat[k++] = '^';
    for (const char *c = f; *c; c++) {
        const char *piece = *c == '.' ? "\\." : *c == '*' ? "[^.]+" : *c == '>' ? ".+" : NULL;
        if (piece) k += (size_t)snprintf(pat + k, sizeof pat - k, "%s", piece);
        else pat[k++] = *c;
    }
    pat[k++] = '$';
    pat[k] = '\0';
    ck_assert_int_eq(regcomp(re, pat, REG_EXTENDED | REG_NOSUB), 0);
}

static void bf_setup(void)
{
    nsubj = nfilt = 0;
    for (uint32_t n = 1; n <= BF_SUBJECT_TOKENS_MAX; n++)
        bf_enum(subjects, &nsubj, n, "abz", "abz");
    for (uint32_t n = 1; n <= BF_FILTER_TOKENS_MAX; n++) bf_enum(filters, &nfilt, n, "ab*", "ab*>");
    ck_assert_uint_eq(nsubj, BF_SUBJECTS_MAX);
    ck_assert_uint_eq(nfilt, BF_FILTERS_MAX);
    for (uint32_t i = 0; i < nsubj; i++)
        ck_assert_int_eq(q_subject_check(subjects[i].s, subjects[i].len, NULL), Q_OK);
    for (uint32_t f = 0; f < nfilt; f++) {
        bf_item *fi = &filters[f];
        ck_assert_int_eq(q_filter_check(fi->s, fi->len, NULL), Q_OK);
        regex_t re;
        bf_regex(fi->s, &re);
        memset(fi->m, 0, sizeof fi->m);
        for (uint32_t i = 0; i < nsubj; i++) {
            bool want = regexec(&re, subjects[i].s, 0, NULL, 0) == 0;
            ck_assert_msg(q_filter_match(fi->s, fi->len, subjects[i].s, subjects[i].len) == want,
                          "match(%s, %s) != regex %d", fi->s, subjects[i].s, want);
            if (want) fi->m[i / 64] |= 1ull << (i % 64);
        }
        regfree(&re);
    }
}

START_TEST(overlap_subset_against_brute_force)
{
    bf_setup();
    uint32_t n_overlap = 0, n_subset = 0;
    for (uint32_t a = 0; a < nfilt; a++) {
        for (uint32_t b = 0; b < nfilt; b++) {
            const bf_item *fa = &filters[a], *fb = &filters[b];
            bool both = false, outside = false;
            for (uint32_t w = 0; w < BF_WORDS; w++) {
                both |= (fa->m[w] & fb->m[w]) != 0;
                outside |= (fa->m[w] & ~fb->m[w]) != 0;
            }
            ck_assert_msg(q_filter_overlap(fa->s, fa->len, fb->s, fb->len) == both,
                          "overlap(%s, %s) != %d", fa->s, fb->s, both);
            ck_assert_msg(q_filter_subset(fa->s, fa->len, fb->s, fb->len) == !outside,
                          "subset(%s, %s) != %d", fa->s, fb->s, !outside);
            n_overlap += both;
            n_subset += !outside;
        }
    }
    /* Both answers occur often enough for the comparison to mean something. */
    ck_assert_uint_gt(n_overlap, nfilt * nfilt / 10);
    ck_assert_uint_lt(n_overlap, nfilt * nfilt * 9 / 10);
    ck_assert_uint_gt(n_subset, nfilt * 2);
}
END_TEST

static uint64_t rng = 0x9e3779b97f4a7c15ull; /* fixed seed: a failure replays */
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

START_TEST(covers_against_brute_force)
{
    bf_setup();
    uint32_t n_true = 0;
    for (uint32_t trial = 0; trial < 50000; trial++) {
        uint32_t n = 1 + (uint32_t)(next_rand() % 3);
        q_subject_view v[3];
        uint64_t uni[BF_WORDS] = {0};
        for (uint32_t i = 0; i < n; i++) {
            const bf_item *m = &filters[next_rand() % nfilt];
            v[i] = (q_subject_view){m->s, m->len};
            for (uint32_t w = 0; w < BF_WORDS; w++) uni[w] |= m->m[w];
        }
        const bf_item *f = &filters[next_rand() % nfilt];
        bool want = true;
        for (uint32_t w = 0; w < BF_WORDS; w++) want &= (f->m[w] & ~uni[w]) == 0;
        q_filter_set set;
        ck_assert_int_eq(q_filter_set_init(&set, v, n, NULL), Q_OK);
        ck_assert_msg(q_filter_set_covers(&set, f->s, f->len) == want, "covers(%s) != %d", f->s,
                      want);
        bool any_overlap = false;
        for (uint32_t w = 0; w < BF_WORDS; w++) any_overlap |= (f->m[w] & uni[w]) != 0;
        ck_assert(q_filter_set_overlap(&set, f->s, f->len, NULL) == any_overlap);
        n_true += want;
    }
    ck_assert_uint_gt(n_true, 1000);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("q_subject");
    TCase *tc = tcase_create("rules");
    tcase_add_loop_test(tc, check_rows_table, 0, sizeof check_rows / sizeof check_rows[0]);
    tcase_add_test(tc, size_limits);
    tcase_add_loop_test(tc, match_rows_table, 0, sizeof match_rows / sizeof match_rows[0]);
    tcase_add_loop_test(tc, overlap_rows_table, 0, sizeof overlap_rows / sizeof overlap_rows[0]);
    tcase_add_loop_test(tc, subset_rows_table, 0, sizeof subset_rows / sizeof subset_rows[0]);
    tcase_add_test(tc, has_wildcard_and_hash);
    tcase_add_test(tc, set_init_errors);
    tcase_add_test(tc, set_match_overlap_covers);
    tcase_add_loop_test(tc, cover_rows_table, 0, sizeof cover_rows / sizeof cover_rows[0]);
    suite_add_tcase(s, tc);
    TCase *bf = tcase_create("brute_force");
    tcase_set_timeout(bf, 60);
    tcase_add_test(bf, overlap_subset_against_brute_force);
    tcase_add_test(bf, covers_against_brute_force);
    suite_add_tcase(s, bf);
    return ts_run_suite(s);
}
