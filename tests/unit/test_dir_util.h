/* A scratch data directory for unit tests (header only, static functions): shared by
 * test_q_util.h and test_srv_util.h, which name the directory by their own template. */
#ifndef TEST_DIR_UTIL_H
#define TEST_DIR_UTIL_H

#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

#define TDIR_PATH_MAX 64 /* "/tmp/ringq-<what>-XXXXXX" with room to spare */
#define TDIR_NFTW_FDS 16 /* descriptors nftw may hold open: our trees are 2-3 levels deep */

static inline int tdir_rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* A fresh directory under /tmp (a real disk, not tmpfs) named from `tmpl` (ending in XXXXXX);
 * removed by tdir_rm. */
static inline void tdir_mkdtemp(char path[TDIR_PATH_MAX], const char *tmpl)
{
    snprintf(path, TDIR_PATH_MAX, "%s", tmpl);
    ck_assert_ptr_nonnull(mkdtemp(path));
}

/* Removes the tree at `path`, best effort (a test that failed may have left it half-made). */
static inline void tdir_rm(const char *path)
{
    nftw(path, tdir_rm_cb, TDIR_NFTW_FDS, FTW_DEPTH | FTW_PHYS);
}

#endif
