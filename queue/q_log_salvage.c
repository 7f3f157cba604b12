/* queue/q_log_salvage: keeping a copy of whatever recovery cuts or sets aside.
 *
 * Recovery never destroys bytes without a copy: a torn tail's bytes are copied, a segment past
 * the cut is moved, and salvage keeps a whole copy of a damaged segment, all under
 * <dir>/salvaged/ with names that never replace an earlier copy ("<file>", then "<file>.1", ...).
 * The copies are fsync'd and the directories too (q_log_aside_sync) before anything is zeroed,
 * so a crash in the middle leaves the copy or the original, never neither. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/rt_alloc.h"
#include "core/rt_log.h"
#include "queue/q_log_int.h"

#define ASIDE_NAMES_MAX 1000u   /* suffixes tried: 1000 events nobody cleaned up is a mistake */
#define ASIDE_COPY_CHUNK 65536u /* bytes per read/write of a copy */

static int aside_dir(q_log *log)
{
    if (mkdirat(log->dirfd, Q_LOG_SALVAGE_DIR, 0755) != 0 && errno != EEXIST) return -errno;
    return 0;
}

/* "salvaged/<name><suffix>" for k == 0, else with ".<k>" appended. */
static void aside_path(char *dst, size_t n, const char *name, const char *suffix, unsigned k)
{
    if (k == 0) snprintf(dst, n, "%s/%s%s", Q_LOG_SALVAGE_DIR, name, suffix);
    else snprintf(dst, n, "%s/%s%s.%u", Q_LOG_SALVAGE_DIR, name, suffix, k);
}

static void note_kept(q_log_err *err, const char *path)
{
    if (err && !err->kept[0]) snprintf(err->kept, sizeof err->kept, "%s", path);
}

int q_log_aside_move(q_log *log, const char *name, q_log_err *err)
{
    int r = aside_dir(log);
    if (r) return r;
    char dst[Q_LOG_ASIDE_PATH_BYTES];
    for (unsigned k = 0; k < ASIDE_NAMES_MAX; k++) {
        aside_path(dst, sizeof dst, name, "", k);
        /* link + unlink instead of rename: link never replaces an existing copy. */
        if (linkat(log->dirfd, name, log->dirfd, dst, 0) != 0) {
            if (errno == EEXIST) continue;
            return -errno;
        }
        if (unlinkat(log->dirfd, name, 0) != 0) return -errno;
        log_warn("log recovery: segment set aside", "dir=%s file=%s to=%s", log->dir, name, dst);
        note_kept(err, dst);
        return 0;
    }
    return -EEXIST;
}

static int copy_range(int in, int out, uint64_t from, uint64_t to)
{
    /* Shards recover their logs in parallel: no static buffer. */
    uint8_t *buf = rt_malloc(ASIDE_COPY_CHUNK);
    if (!buf) return -ENOMEM;
    int r = 0;
    for (uint64_t at = from; at < to && r == 0;) {
        size_t want = to - at < ASIDE_COPY_CHUNK ? (size_t)(to - at) : ASIDE_COPY_CHUNK;
        ssize_t k = pread(in, buf, want, (off_t)at);
        if (k < 0) r = -errno;
        else if (k == 0) r = -EIO; /* the file is shorter than its mapping said */
        else if (pwrite(out, buf, (size_t)k, (off_t)(at - from)) != k) r = errno ? -errno : -EIO;
        else at += (uint64_t)k;
    }
    rt_free(buf);
    return r;
}

int q_log_aside_copy(q_log *log, const char *name, uint64_t from, uint64_t to, const char *suffix,
                     q_log_err *err)
{
    int r = aside_dir(log);
    if (r) return r;
    char dst[Q_LOG_ASIDE_PATH_BYTES];
    int out = -1;
    for (unsigned k = 0; k < ASIDE_NAMES_MAX && out < 0; k++) {
        aside_path(dst, sizeof dst, name, suffix, k);
        out = openat(log->dirfd, dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (out < 0 && errno != EEXIST) return -errno;
    }
    if (out < 0) return -EEXIST;
    int in = openat(log->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (in < 0) r = -errno;
    else r = copy_range(in, out, from, to);
    if (r == 0 && fsync(out) != 0) r = -errno;
    if (in >= 0) close(in);
    close(out);
    if (r) {
        unlinkat(log->dirfd, dst, 0); /* a partial copy is no copy */
        return r;
    }
    log_warn("log recovery: copy kept", "dir=%s file=%s from=%" PRIu64 " bytes=%" PRIu64 " to=%s",
             log->dir, name, from, to - from, dst);
    note_kept(err, dst);
    return 0;
}

int q_log_aside_sync(q_log *log)
{
    int fd = openat(log->dirfd, Q_LOG_SALVAGE_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -errno;
    int r = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    /* The log directory: the new salvaged/ entry and the names moved out of it. */
    if (r == 0 && fsync(log->dirfd) != 0) r = -errno;
    return r;
}
