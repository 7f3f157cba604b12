/* Helpers shared by the queue/ log tests (header only, static functions). */
#ifndef TEST_Q_UTIL_H
#define TEST_Q_UTIL_H

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/ev_reactor.h"
#include <unistd.h>

#include "queue/q_log.h"
#include "test_env_util.h"

/* Runs `n` tests as Check suite `suite` with one test case `tcase` timing out after
 * `timeout_s` seconds each; returns main's exit status (0: all passed, 1: any failed). Borrows
 * `tests`. */
static inline int tq_run(const char *suite, const char *tcase, int timeout_s, const TTest **tests,
                         size_t n)
{
    Suite *s = suite_create(suite);
    TCase *tc = tcase_create(tcase);
    tcase_set_timeout(tc, timeout_s);
    for (size_t i = 0; i < n; i++) tcase_add_test(tc, tests[i]);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

/* A fresh directory under /tmp (a real disk, not tmpfs); removed by tq_rmdir. */
static inline void tq_mkdtemp(char path[64]) { tenv_mkdtemp(path, "/tmp/ringq-qtest-XXXXXX"); }

static inline void tq_rmdir(const char *path) { tenv_rm(path); }

/* Deterministic payload for offset `off`: length in [0, max_len], bytes from a xorshift. */
static inline uint32_t tq_len(uint64_t off, uint32_t max_len)
{
    uint64_t x = off * 0x9E3779B97F4A7C15ull + 1;
    x ^= x >> 29;
    return (uint32_t)(x % (max_len + 1));
}

static inline void tq_fill(uint8_t *p, uint32_t len, uint64_t off)
{
    uint64_t x = off * 0xD1B54A32D192ED03ull + 0x1234567;
    for (uint32_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)x;
    }
}

/* Checks record `off` has the payload tq_fill made for it. */
static inline void tq_check_rec(const q_rec *r, uint64_t off, uint32_t max_len)
{
    static uint8_t buf[1 << 16];
    uint32_t len = tq_len(off, max_len);
    ck_assert_uint_eq(r->offset, off);
    ck_assert_uint_eq(r->len, len);
    tq_fill(buf, len, off);
    ck_assert(memcmp(r->payload, buf, len) == 0);
}

static inline int64_t tq_append(q_log *log, uint64_t off, uint32_t max_len)
{
    static uint8_t buf[1 << 16];
    uint32_t len = tq_len(off, max_len);
    tq_fill(buf, len, off);
    return q_log_append(log, (uint16_t)(off & 0xffff), buf, len);
}

/* A commit callback that records each durable mark it hears: ud is a uint64_t array, [0] the
 * count so far, [1..] the marks in order. Fails the test on an error status. */
static inline void tq_count_cb(q_log *log, void *ud, int status, uint64_t durable)
{
    (void)log;
    uint64_t *seen = ud;
    ck_assert_int_eq(status, 0);
    seen[seen[0] + 1] = durable;
    seen[0]++;
}

static inline void tq_opts(q_log_opts *o, uint32_t seg_bytes)
{
    q_log_opts_default(o);
    o->segment_bytes = seg_bytes;
    o->record_bytes_max = seg_bytes / 2;
}

static inline int tq_count_files(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l > 5 && strcmp(e->d_name + l - 5, ".qseg") == 0) n++;
    }
    closedir(d);
    return n;
}

/* Exits 77 (the runner's skip) when this kernel or sandbox cannot run an io_uring loop: for the
 * tests that need a real loop (async commits, fallocate steps, durable delivery). */
static inline void tq_require_uring(const char *test) { tenv_require_uring(test); }

#endif
