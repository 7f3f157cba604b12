/* What a unit test needs of its environment (header only, static functions): a scratch data
 * directory and io_uring. Shared by test_q_util.h and test_srv_util.h, which name the directory
 * by their own template. */
#ifndef TEST_ENV_UTIL_H
#define TEST_ENV_UTIL_H

#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/ev_reactor.h"

#define TENV_PATH_MAX 64 /* "/tmp/ringq-<what>-XXXXXX" with room to spare */
#define TENV_NFTW_FDS 16 /* descriptors nftw may hold open: our trees are 2-3 levels deep */

static inline int tenv_rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* A fresh directory under /tmp (a real disk, not tmpfs) named from `tmpl` (ending in XXXXXX);
 * removed by tenv_rm. */
static inline void tenv_mkdtemp(char path[TENV_PATH_MAX], const char *tmpl)
{
    snprintf(path, TENV_PATH_MAX, "%s", tmpl);
    ck_assert_ptr_nonnull(mkdtemp(path));
}

/* Removes the tree at `path`, best effort (a test that failed may have left it half-made). */
static inline void tenv_rm(const char *path)
{
    nftw(path, tenv_rm_cb, TENV_NFTW_FDS, FTW_DEPTH | FTW_PHYS);
}

/* Exits 77 (Check: skipped) when io_uring is unusable here; `test` names the binary. */
static inline void tenv_require_uring(const char *test)
{
    int err;
    const char *why;
    ev_loop *probe = ev_loop_create(NULL, &err, &why);
    if (!probe) {
        printf("SKIP %s: io_uring unusable: %s\n", test, why);
        exit(77);
    }
    ev_loop_destroy(probe);
}

#endif
