/* queue/q_segment: the spare segment file (q_seg_spare_prepare) is made with written extents
 * only, so the commit path's fdatasync never converts an unwritten extent of it (which writes the
 * inode and extent block inside that fdatasync: s11-commit's 16 % of slow fdatasyncs). Checked
 * with FIEMAP (no FIEMAP_EXTENT_UNWRITTEN, every byte mapped to a block), and that the zeros were
 * synced once, before the spare is handed over (one fdatasync, on the spare's descriptor). */
#include "test_q_util.h"

#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "queue/q_segment.h"
#include "queue/q_sys.h"

#define SEG (4u * 1024u * 1024u + 4096u)
#define MAX_EXTENTS 512u

static atomic_uint spare_syncs;
static int spare_sync_fd = -1;

static int counting_fdatasync(int fd)
{
    if (fd == spare_sync_fd) atomic_fetch_add(&spare_syncs, 1);
    return fdatasync(fd);
}

/* Reads the file's extent map into *fm (caller frees); NULL when the filesystem has no FIEMAP. */
static struct fiemap *extent_map(int fd, uint64_t len)
{
    size_t sz = sizeof(struct fiemap) + MAX_EXTENTS * sizeof(struct fiemap_extent);
    struct fiemap *fm = calloc(1, sz);
    ck_assert_ptr_nonnull(fm);
    fm->fm_start = 0;
    fm->fm_length = len;
    fm->fm_flags = FIEMAP_FLAG_SYNC;
    fm->fm_extent_count = MAX_EXTENTS;
    if (ioctl(fd, FS_IOC_FIEMAP, fm) != 0) {
        ck_assert_msg(errno == EOPNOTSUPP || errno == ENOTTY, "FIEMAP: errno %d", errno);
        free(fm);
        return NULL;
    }
    return fm;
}

START_TEST(the_spare_has_no_unwritten_extent)
{
    char dir[64];
    tq_mkdtemp(dir);
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(dirfd, 0);
    q_seg s;
    ck_assert_int_eq(q_seg_spare_prepare(dirfd, SEG, Q_SEG_ALLOC_FIRST_BYTES, &s), 0);
    ck_assert_uint_eq(s.bytes, SEG);
    struct fiemap *fm = extent_map(s.fd, SEG);
    if (fm) {
        ck_assert_uint_gt(fm->fm_mapped_extents, 0);
        ck_assert_uint_lt(fm->fm_mapped_extents, MAX_EXTENTS);
        uint64_t covered = 0, next = 0;
        for (uint32_t i = 0; i < fm->fm_mapped_extents; i++) {
            const struct fiemap_extent *e = &fm->fm_extents[i];
            ck_assert_msg(!(e->fe_flags & FIEMAP_EXTENT_UNWRITTEN),
                          "extent %u at %llu (+%llu) is unwritten", i,
                          (unsigned long long)e->fe_logical, (unsigned long long)e->fe_length);
            ck_assert_msg(!(e->fe_flags & FIEMAP_EXTENT_DELALLOC), "extent %u not allocated", i);
            ck_assert_uint_eq(e->fe_logical, next); /* no hole */
            next = e->fe_logical + e->fe_length;
            covered += e->fe_length;
        }
        ck_assert_uint_ge(covered, SEG);
        free(fm);
    } else {
        fprintf(stderr, "FIEMAP unsupported on %s: extent check skipped\n", dir);
    }
    ck_assert_uint_eq(s.alloc, SEG);   /* all of it allocated: no step on the log's thread */
    ck_assert_uint_eq(s.written, SEG); /* no prewrite left for the log's thread either */
    /* The mapping reads zeros (the segment's empty tail). */
    for (uint32_t at = 0; at < SEG; at += 4096u) ck_assert_uint_eq(((uint8_t *)s.map)[at], 0);
    q_seg_spare_discard(dirfd, &s);
    close(dirfd);
    tq_rmdir(dir);
}
END_TEST

/* The zeros are synced on the spare's own descriptor before prepare returns: a commit's
 * fdatasync of the adopted segment then finds no dirty zero page and no extent to convert. */
START_TEST(the_spare_is_synced_before_it_is_handed_over)
{
    char dir[64];
    tq_mkdtemp(dir);
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(dirfd, 0);
    /* The next descriptor the process opens is the spare's (single-threaded test). */
    int probe = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(probe, 0);
    close(probe);
    spare_sync_fd = probe;
    atomic_store(&spare_syncs, 0);
    q_sys.fdatasync = counting_fdatasync;
    q_seg s;
    int r = q_seg_spare_prepare(dirfd, SEG, Q_SEG_ALLOC_FIRST_BYTES, &s);
    q_sys_reset();
    ck_assert_int_eq(r, 0);
    ck_assert_int_eq(s.fd, probe);
    ck_assert_uint_eq(atomic_load(&spare_syncs), 1);
    q_seg_spare_discard(dirfd, &s);
    close(dirfd);
    tq_rmdir(dir);
}
END_TEST

int main(void)
{
    const TTest *tests[] = {the_spare_has_no_unwritten_extent,
                            the_spare_is_synced_before_it_is_handed_over};
    return tq_run("q_seg_spare", "spare", 60, tests, sizeof tests / sizeof tests[0]);
}
