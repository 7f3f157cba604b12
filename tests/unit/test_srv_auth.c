/* server/srv_auth_file: the auth file's parser (one table row per rule and per error, with
 * the file:line:column it must name), the glob matcher against fnmatch(3) over every pattern
 * and name of a small alphabet, and the table's answers (tokens, hashed secrets, kinds,
 * resource-less checks, certificate subjects). */
#include <check.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "core/rt_sha256.h"
#include "server/srv_auth.h"
#include "ts_main.h"

#define S(x) x, sizeof(x) - 1

/* ---- glob ---- */

typedef struct glob_row {
    const char *pat, *s;
    bool match;
} glob_row;

static const glob_row glob_rows[] = {
    {"*", "", true},
    {"*", "orders", true},
    {"orders.*", "orders.eu", true},
    {"orders.*", "orders.", true},
    {"orders.*", "orders", false},
    {"orders.*", "ordersx", false},
    {"*.dlq", "a.b.dlq", true},
    {"a*b*c", "abc", true},
    {"a*b*c", "aXbYc", true},
    {"a*b*c", "acb", false},
    {"**", "x", true},
    {"exact", "exact", true},
    {"exact", "exactly", false},
    {"*a", "aaa", true},
    {"a*a", "a", false},
};

START_TEST(glob_table)
{
    const glob_row *r = &glob_rows[_i];
    ck_assert_msg(srv_auth_glob(r->pat, strlen(r->pat), r->s, strlen(r->s)) == r->match,
                  "glob(%s, %s) != %d", r->pat, r->s, r->match);
}
END_TEST

/* Every pattern up to 5 characters over {a, ., *} against every name up to 5 over {a, b, .}:
 * the same answers as fnmatch(3) without flags, for which * is "any run" too (no [ ? \ here). */
START_TEST(glob_against_fnmatch)
{
    static const char pa[] = "a.*", na[] = "ab.";
    char p[6], s[6];
    unsigned checked = 0;
    for (unsigned pl = 0; pl <= 5; pl++) {
        unsigned pn = 1;
        for (unsigned i = 0; i < pl; i++) pn *= 3;
        for (unsigned pi = 0; pi < pn; pi++) {
            for (unsigned i = 0, v = pi; i < pl; i++, v /= 3) p[i] = pa[v % 3];
            p[pl] = 0;
            for (unsigned sl = 0; sl <= 5; sl++) {
                unsigned sn = 1;
                for (unsigned i = 0; i < sl; i++) sn *= 3;
                for (unsigned si = 0; si < sn; si++) {
                    for (unsigned i = 0, v = si; i < sl; i++, v /= 3) s[i] = na[v % 3];
                    s[sl] = 0;
                    bool want = fnmatch(p, s, 0) == 0;
                    ck_assert_msg(srv_auth_glob(p, pl, s, sl) == want, "glob(%s, %s)", p, s);
                    checked++;
                }
            }
        }
    }
    ck_assert_uint_gt(checked, 100000);
}
END_TEST

/* ---- parser errors: each names file:line:col ---- */

typedef struct err_row {
    const char *text;
    const char *err; /* the whole message */
} err_row;

#define SEC "0123456789abcdef" /* 16: the shortest secret in clear */

static const err_row err_rows[] = {
    {"bogus x\n", "f:1:1: unknown statement (token, allow, cert or # comment)"},
    {"\n  # c\n  tokn a " SEC "\n", "f:3:3: unknown statement (token, allow, cert or # comment)"},
    {"token a\n", "f:1:8: expected: token NAME SECRET (or sha256:HEX)"},
    {"token a " SEC " x\n", "f:1:26: expected: token NAME SECRET (or sha256:HEX)"},
    {"token a short\n", "f:1:9: a secret has 16..256 characters (or write sha256:HEX)"},
    {"token a/b " SEC "\n", "f:1:8: a token name has only A-Z a-z 0-9 . _ -"},
    {"token a sha256:abc\n", "f:1:16: sha256: takes 64 hex digits (sha256sum of the secret)"},
    {"token a sha256:"
     "g000000000000000000000000000000000000000000000000000000000000000\n",
     "f:1:16: not a hex digit"},
    {"token a " SEC "\ntoken a " SEC "x\n", "f:2:7: token 'a' is defined twice"},
    {"token a " SEC "\ntoken b " SEC "\n", "f:2:9: two tokens share this secret (token 'a')"},
    {"token a " SEC "\nallow a produce\n", "f:2:16: expected: allow NAME PERMS PATTERN..."},
    {"token a " SEC "\nallow a write *\n", "f:2:9: unknown permission (produce, consume, admin, "
                                           "metrics)"},
    {"token a " SEC "\nallow a produce,,admin *\n", "f:2:17: unknown permission (produce, "
                                                    "consume, admin, metrics)"},
    {"token a " SEC "\nallow a admin orders/x\n", "f:2:21: a pattern has only A-Z a-z 0-9 . _ - "
                                                  "and * (after queue: or stream:)"},
    {"token a " SEC "\nallow a admin queue:\n", "f:2:21: a pattern has 1..128 characters"},
    {"allow ghost admin *\ntoken a " SEC "\n", "f:1:7: no token named 'ghost'"},
    {"token a " SEC "\ncert ghost CN=x\n", "f:2:6: no token named 'ghost'"},
    {"token a " SEC "\r\nallow a admin *\r\nbad\r\n",
     "f:3:1: unknown statement (token, allow, cert or # comment)"},
    {"token a " SEC "\nx\0y\n", "f:2:2: a NUL byte"},
};

START_TEST(parse_errors)
{
    const err_row *r = &err_rows[_i];
    size_t len = strlen(r->text);
    if (strstr(r->err, "NUL")) len = sizeof("token a " SEC "\nx\0y\n") - 1;
    srv_auth_table *t = NULL;
    char err[SRV_AUTH_ERR_BYTES];
    ck_assert_int_eq(srv_auth_table_parse(r->text, len, "f", &t, err), -EINVAL);
    ck_assert_ptr_null(t);
    ck_assert_str_eq(err, r->err);
}
END_TEST

START_TEST(long_line_and_limits)
{
    char big[SRV_AUTH_LINE_BYTES_MAX + 16];
    memset(big, ' ', sizeof big);
    big[sizeof big - 1] = '\n';
    srv_auth_table *t = NULL;
    char err[SRV_AUTH_ERR_BYTES];
    ck_assert_int_eq(srv_auth_table_parse(big, sizeof big, "f", &t, err), -EINVAL);
    ck_assert_str_eq(err, "f:1:4097: line longer than 4096 bytes");
    ck_assert_int_eq(srv_auth_table_parse(big, SRV_AUTH_FILE_BYTES_MAX + 1, "f", &t, err), -EFBIG);
}
END_TEST

/* ---- answers ---- */

static srv_auth_table *parse_ok(const char *text)
{
    srv_auth_table *t = NULL;
    char err[SRV_AUTH_ERR_BYTES];
    int r = srv_auth_table_parse(text, strlen(text), "f", &t, err);
    ck_assert_msg(r == 0, "%s", err);
    return t;
}

START_TEST(answers)
{
    /* sha256("hashed-secret-0123456789") */
    uint8_t d[RT_SHA256_BYTES];
    rt_sha256(S("hashed-secret-0123456789"), d);
    char text[1024], hexd[65];
    for (unsigned i = 0; i < RT_SHA256_BYTES; i++) snprintf(hexd + 2 * i, 3, "%02x", d[i]);
    snprintf(text, sizeof text,
             "# two tokens\n"
             "token prod   producer-secret-0123\n"
             "token ops sha256:%s\n"
             "\tallow prod produce queue:orders.* stream:events\n"
             "allow ops admin,metrics *\n"
             "allow ops consume queue:*\n"
             "cert ops CN=ops, O=acme  \n",
             hexd);
    srv_auth_table *t = parse_ok(text);
    ck_assert_uint_eq(srv_auth_table_ntokens(t), 2);
    int prod = srv_auth_table_find_secret(t, S("producer-secret-0123"));
    int ops = srv_auth_table_find_secret(t, S("hashed-secret-0123456789"));
    ck_assert_int_eq(prod, 0);
    ck_assert_int_eq(ops, 1);
    ck_assert_int_eq(srv_auth_table_find_secret(t, S("producer-secret-012")), -1);
    ck_assert_int_eq(srv_auth_table_find_secret(t, S("")), -1);
    /* prod: produce on queues orders.* and the stream events only */
    ck_assert(srv_auth_table_allows(t, prod, SRV_AUTH_PRODUCE, SRV_AUTH_QUEUE, S("orders.eu")));
    ck_assert(!srv_auth_table_allows(t, prod, SRV_AUTH_PRODUCE, SRV_AUTH_STREAM, S("orders.eu")));
    ck_assert(srv_auth_table_allows(t, prod, SRV_AUTH_PRODUCE, SRV_AUTH_STREAM, S("events")));
    ck_assert(!srv_auth_table_allows(t, prod, SRV_AUTH_PRODUCE, SRV_AUTH_QUEUE, S("events")));
    ck_assert(!srv_auth_table_allows(t, prod, SRV_AUTH_CONSUME, SRV_AUTH_QUEUE, S("orders.eu")));
    ck_assert(!srv_auth_table_allows(t, prod, SRV_AUTH_PRODUCE, SRV_AUTH_ALL, NULL, 0));
    ck_assert(srv_auth_table_allows_some(t, prod, SRV_AUTH_PRODUCE));
    ck_assert(!srv_auth_table_allows_some(t, prod, SRV_AUTH_ADMIN));
    /* ops: admin and metrics everywhere (a bare *), consume on every queue but no stream */
    ck_assert(srv_auth_table_allows(t, ops, SRV_AUTH_ADMIN, SRV_AUTH_ALL, NULL, 0));
    ck_assert(srv_auth_table_allows(t, ops, SRV_AUTH_METRICS, SRV_AUTH_ALL, NULL, 0));
    ck_assert(srv_auth_table_allows(t, ops, SRV_AUTH_CONSUME, SRV_AUTH_QUEUE, S("x")));
    ck_assert(!srv_auth_table_allows(t, ops, SRV_AUTH_CONSUME, SRV_AUTH_STREAM, S("x")));
    ck_assert(!srv_auth_table_allows(t, ops, SRV_AUTH_CONSUME, SRV_AUTH_ALL, NULL, 0));
    ck_assert(!srv_auth_table_allows(t, ops, SRV_AUTH_PRODUCE, SRV_AUTH_QUEUE, S("x")));
    ck_assert(!srv_auth_table_allows(t, -1, SRV_AUTH_ADMIN, SRV_AUTH_ALL, NULL, 0));
    /* cert: the rest of the line, trailing blanks dropped, compared exactly */
    ck_assert_int_eq(srv_auth_table_find_subject(t, S("CN=ops, O=acme")), ops);
    ck_assert_int_eq(srv_auth_table_find_subject(t, S("CN=ops, O=acme ")), -1);
    ck_assert_int_eq(srv_auth_table_find_subject(t, S("CN=ops")), -1);
    srv_auth_table_destroy(t);
    /* An empty file is valid: no token, every check refuses. */
    t = parse_ok("");
    ck_assert_uint_eq(srv_auth_table_ntokens(t), 0);
    ck_assert_int_eq(srv_auth_table_find_secret(t, S("producer-secret-0123")), -1);
    srv_auth_table_destroy(t);
}
END_TEST

START_TEST(loopback_rule)
{
    ck_assert(srv_auth_host_is_loopback("127.0.0.1"));
    ck_assert(srv_auth_host_is_loopback("127.1.2.3"));
    ck_assert(srv_auth_host_is_loopback("::1"));
    ck_assert(srv_auth_host_is_loopback("localhost"));
    ck_assert(!srv_auth_host_is_loopback("*"));
    ck_assert(!srv_auth_host_is_loopback("0.0.0.0"));
    ck_assert(!srv_auth_host_is_loopback("::"));
    ck_assert(!srv_auth_host_is_loopback("10.0.0.1"));
    ck_assert_int_eq(srv_auth_exposure_check("t", "127.0.0.1", false, false, false), 0);
    ck_assert_int_eq(srv_auth_exposure_check("t", "0.0.0.0", true, true, false), 0);
    ck_assert_int_eq(srv_auth_exposure_check("t", "0.0.0.0", false, false, true), 0);
    ck_assert_int_eq(srv_auth_exposure_check("t", "0.0.0.0", false, true, false), -EPERM);
    ck_assert_int_eq(srv_auth_exposure_check("t", "0.0.0.0", true, false, false), -EPERM);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("srv_auth");
    TCase *tc = tcase_create("file");
    tcase_add_loop_test(tc, glob_table, 0, sizeof glob_rows / sizeof glob_rows[0]);
    tcase_add_test(tc, glob_against_fnmatch);
    tcase_add_loop_test(tc, parse_errors, 0, sizeof err_rows / sizeof err_rows[0]);
    tcase_add_test(tc, long_line_and_limits);
    tcase_add_test(tc, answers);
    tcase_add_test(tc, loopback_rule);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
