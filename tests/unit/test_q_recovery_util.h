/* Helpers shared by the recovery tests (test_q_recovery.c, test_q_recovery_synced.c): logs built
 * with a known layout, file images, and what recovery set aside. Header only, static functions. */
#ifndef TEST_Q_RECOVERY_UTIL_H
#define TEST_Q_RECOVERY_UTIL_H

#include "test_q_util.h"

#define SEG (64u * 1024u)
#define MAXLEN 300u

typedef struct {
    uint8_t *bytes;
    uint32_t size;
} image;

static inline void seg_path(char *out, size_t n, const char *dir, uint64_t base)
{
    snprintf(out, n, "%s/%020llu.qseg", dir, (unsigned long long)base);
}

static inline image load(const char *path)
{
    image im;
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    im.size = (uint32_t)st.st_size;
    im.bytes = malloc(im.size);
    ck_assert_int_eq(pread(fd, im.bytes, im.size, 0), (ssize_t)im.size);
    close(fd);
    return im;
}

static inline void store(const char *path, const uint8_t *bytes, uint32_t size)
{
    int fd = open(path, O_WRONLY | O_TRUNC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, bytes, size, 0), (ssize_t)size);
    close(fd);
}

/* Builds a log with one sealed segment and a tail of `extra` + 1 records, then appends `loose`
 * more without a commit (the close is like a crash: the page cache keeps them, but no fsync
 * covered them, so they are past the synced watermark). Returns the tail's base and the record
 * start positions of the tail segment in starts[] (count in *nstarts, and starts[count] is the
 * end). */
static inline uint64_t build(const char *dir, uint64_t extra, uint64_t loose, uint32_t *starts,
                             uint32_t *nstarts)
{
    q_log_opts o;
    tq_opts(&o, SEG);
    q_log *log;
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    uint64_t off = 0;
    while (q_log_oldest_segment_end(log) == q_log_next(log)) {
        ck_assert_int_eq(tq_append(log, off, MAXLEN), (int64_t)off);
        off++;
    }
    for (uint64_t i = 0; i < extra; i++, off++)
        ck_assert_int_eq(tq_append(log, off, MAXLEN), (int64_t)off);
    ck_assert_int_eq(q_log_commit(log), 0);
    for (uint64_t i = 0; i < loose; i++, off++)
        ck_assert_int_eq(tq_append(log, off, MAXLEN), (int64_t)off);
    q_log_stats st;
    q_log_get_stats(log, &st);
    ck_assert_uint_ge(st.segments, 2);
    char name[64];
    uint64_t base, end;
    uint32_t used, bytes;
    ck_assert_int_eq(q_log_segment_info(log, st.segments - 1, name, &base, &end, &used, &bytes), 0);
    uint32_t pos = Q_SEG_HDR_BYTES;
    *nstarts = 0;
    for (off = base; off < end; off++) {
        starts[(*nstarts)++] = pos;
        pos += (uint32_t)q_rec_span(tq_len(off, MAXLEN));
    }
    starts[*nstarts] = pos;
    ck_assert_uint_eq(pos, used);
    ck_assert_int_eq(q_log_close(log), 0);
    return base;
}

/* The one file in <dir>/salvaged/ (fails unless there is exactly one): its bytes. */
static inline image salvaged_only(const char *dir)
{
    char sal[128], path[512];
    snprintf(sal, sizeof sal, "%s/salvaged", dir);
    DIR *d = opendir(sal);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", sal, e->d_name);
        n++;
    }
    closedir(d);
    ck_assert_int_eq(n, 1);
    image im = load(path);
    ck_assert_int_eq(unlink(path), 0); /* consumed: the next check sees only its own */
    return im;
}

/* One past the last non-zero byte of b[0, n). */
static inline uint32_t data_end(const uint8_t *b, uint32_t n)
{
    while (n > 0 && b[n - 1] == 0) n--;
    return n;
}

static inline bool salvaged_exists(const char *dir)
{
    char sal[128];
    snprintf(sal, sizeof sal, "%s/salvaged", dir);
    return access(sal, F_OK) == 0;
}

static inline void check_prefix(q_log *log, uint64_t upto)
{
    ck_assert_uint_eq(q_log_oldest(log), 0);
    ck_assert_uint_eq(q_log_next(log), upto);
    q_iter it;
    q_iter_init(&it, log, 0, false);
    q_rec r;
    for (uint64_t off = 0; off < upto; off++) {
        ck_assert_int_eq(q_iter_next(&it, &r), 1);
        tq_check_rec(&r, off, MAXLEN);
    }
    ck_assert_int_eq(q_iter_next(&it, &r), 0);
}

static inline uint32_t record_of(const uint32_t *starts, uint32_t ns, uint32_t pos)
{
    uint32_t k = 0;
    while (k + 1 <= ns && starts[k + 1] <= pos) k++;
    return k;
}

/* Record start positions of the only segment of a log of n records (starts[n] is the end). */
static inline void one_segment_starts(uint64_t n, uint32_t *starts)
{
    uint32_t pos = Q_SEG_HDR_BYTES;
    for (uint64_t off = 0; off <= n; off++) {
        starts[off] = pos;
        pos += (uint32_t)q_rec_span(tq_len(off, MAXLEN));
    }
}

#endif
