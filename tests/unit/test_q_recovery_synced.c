/* queue/q_log_open, q_segment, q_commit: the synced watermark (docs/storage.md, "Synced
 * watermark"). Damage before it is refused naming file, position and offset, and nothing is
 * written; a torn write after it is cut with a copy kept in salvaged/; salvage lowers it;
 * version-1 segments (no watermark) still open; and it never names a record that no completed
 * fsync covered. */
#include "test_q_recovery_util.h"

#include <xxhash.h>

#include "core/rt_log.h"
#include "queue/q_sys.h"

/* The scenario on the log: records appended in three commits (enqueue 10, ack 5,
 * enqueue 10), closed, one bit flipped in the second record of the only segment. Before the
 * watermark, open cut the log there as if it were a torn write and zeroed the rest: 23 synced
 * records gone, no copy. */
START_TEST(flip_before_synced_end_is_refused)
{
    char dir[64], path[128];
    tq_mkdtemp(dir);
    q_log_opts o;
    tq_opts(&o, SEG);
    q_log *log;
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    uint64_t off = 0;
    for (int batch = 0; batch < 3; batch++) {
        for (int i = 0; i < (batch == 1 ? 5 : 10); i++, off++)
            ck_assert_int_eq(tq_append(log, off, MAXLEN), (int64_t)off);
        ck_assert_int_eq(q_log_commit(log), 0);
    }
    ck_assert_int_eq(q_log_close(log), 0); /* no final sync: a SIGTERM'd or killed process */
    uint32_t starts[32];
    one_segment_starts(off, starts);
    seg_path(path, sizeof path, dir, 0);
    image im = load(path);
    ck_assert_uint_eq(data_end(im.bytes, im.size), data_end(im.bytes, starts[off]));
    im.bytes[starts[1] + Q_REC_HDR_BYTES + 1] ^= 0x04; /* a payload bit of record 1 */
    store(path, im.bytes, im.size);
    q_log_err err;
    ck_assert_int_eq(q_log_open(dir, &o, &log, &err), -EBADMSG);
    ck_assert_str_eq(err.file, "00000000000000000000.qseg");
    ck_assert_uint_eq(err.pos, starts[1]);
    ck_assert_uint_eq(err.offset, 1);
    ck_assert_uint_eq(err.synced, off);
    ck_assert_ptr_nonnull(strstr(err.why, "before the synced end"));
    /* Refused without writing anything: the file is as it was, nothing set aside. */
    image after = load(path);
    ck_assert(after.size == im.size && memcmp(after.bytes, im.bytes, im.size) == 0);
    free(after.bytes);
    ck_assert(!salvaged_exists(dir));
    /* Read-only opens (ringq-log verify) say the same. */
    o.read_only = true;
    ck_assert_int_eq(q_log_open(dir, &o, &log, &err), -EBADMSG);
    ck_assert_uint_eq(err.pos, starts[1]);
    /* Salvage keeps record 0 and sets a whole copy of the damaged segment aside. */
    o.read_only = false;
    o.salvage = true;
    ck_assert_int_eq(q_log_open(dir, &o, &log, &err), 0);
    ck_assert_str_eq(err.kept, "salvaged/00000000000000000000.qseg");
    check_prefix(log, 1);
    ck_assert_int_eq(q_log_close(log), 0);
    image cp = salvaged_only(dir);
    ck_assert(cp.size == im.size && memcmp(cp.bytes, im.bytes, im.size) == 0);
    free(cp.bytes);
    /* The watermark was lowered with the cut: the log opens normally again, and grows. */
    o.salvage = false;
    ck_assert_int_eq(q_log_open(dir, &o, &log, &err), 0);
    ck_assert_ptr_null(err.why);
    check_prefix(log, 1);
    ck_assert_int_eq(tq_append(log, 1, MAXLEN), 1);
    ck_assert_int_eq(q_log_commit_final(log), 0);
    ck_assert_int_eq(q_log_close(log), 0);
    ck_assert_int_eq(q_log_open(dir, &o, &log, &err), 0);
    check_prefix(log, 2);
    ck_assert_int_eq(q_log_close(log), 0);
    free(im.bytes);
    tq_rmdir(dir);
}
END_TEST

/* The watermark lives in the mapping from the moment the fsync returned: a process that dies
 * right after a commit (no final sync) still has it; records appended after the last commit are
 * past it, and a torn one among them is cut with a copy kept. */
START_TEST(torn_record_past_synced_end_is_cut_with_copy)
{
    char dir[64], path[128];
    tq_mkdtemp(dir);
    q_log_opts o;
    tq_opts(&o, SEG);
    q_log *log;
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    for (uint64_t off = 0; off < 13; off++) {
        ck_assert_int_eq(tq_append(log, off, MAXLEN), (int64_t)off);
        if (off == 9) ck_assert_int_eq(q_log_commit(log), 0);
    }
    ck_assert_int_eq(q_log_close(log), 0);
    uint32_t starts[32];
    one_segment_starts(13, starts);
    seg_path(path, sizeof path, dir, 0);
    image im = load(path);
    im.bytes[starts[11] + 3] ^= 0x80; /* record 11's checksum */
    store(path, im.bytes, im.size);
    q_log_err err;
    ck_assert_int_eq(q_log_open(dir, &o, &log, &err), 0);
    ck_assert_ptr_nonnull(err.why);
    ck_assert_uint_eq(err.pos, starts[11]);
    ck_assert_uint_eq(err.offset, 11);
    ck_assert_uint_eq(err.synced, 10);
    ck_assert_ptr_nonnull(strstr(err.kept, "salvaged/00000000000000000000.qseg.cut-"));
    check_prefix(log, 11);
    ck_assert_int_eq(q_log_close(log), 0);
    image cp = salvaged_only(dir);
    uint32_t end = data_end(im.bytes, im.size);
    ck_assert_uint_eq(cp.size, end - starts[11]);
    ck_assert(memcmp(cp.bytes, im.bytes + starts[11], cp.size) == 0);
    free(cp.bytes);
    /* The cut records are zero on disk now (so they cannot resurface), the rest unchanged. */
    image after = load(path);
    ck_assert(memcmp(after.bytes + Q_SEG_OFF_BASE, im.bytes + Q_SEG_OFF_BASE,
                     Q_SEG_OFF_SYNCED - Q_SEG_OFF_BASE) == 0);
    ck_assert(memcmp(after.bytes + Q_SEG_HDR_BYTES, im.bytes + Q_SEG_HDR_BYTES,
                     starts[11] - Q_SEG_HDR_BYTES) == 0);
    ck_assert_uint_le(data_end(after.bytes, after.size), starts[11]);
    free(after.bytes);
    /* Recovery synced what it kept: all 11 records are below the watermark now. */
    after = load(path);
    after.bytes[starts[10] + Q_REC_HDR_BYTES] ^= 1;
    store(path, after.bytes, after.size);
    ck_assert_int_eq(q_log_open(dir, &o, &log, &err), -EBADMSG);
    ck_assert_uint_eq(err.offset, 10);
    free(after.bytes);
    free(im.bytes);
    tq_rmdir(dir);
}
END_TEST

/* Rewrites the header of segment file `path` as format version 1 wrote it. */
static void make_v1(const char *path)
{
    image im = load(path);
    q_st16(im.bytes + Q_SEG_OFF_VERSION, 1);
    memset(im.bytes + Q_SEG_OFF_SYNCED, 0, Q_SEG_OFF_CSUM - Q_SEG_OFF_SYNCED);
    q_st64(im.bytes + Q_SEG_OFF_CSUM, XXH3_64bits(im.bytes, Q_SEG_OFF_CSUM));
    store(path, im.bytes, im.size);
    free(im.bytes);
}

/* Version-1 segments (no watermark) still open; damage in their tail is cut as before, now
 * with a copy kept; new segments are version 2. */
START_TEST(version1_segments_still_open)
{
    char dir[64], path[128];
    tq_mkdtemp(dir);
    uint32_t starts[4096], ns;
    uint64_t base = build(dir, 6, 0, starts, &ns);
    char p0[128];
    seg_path(p0, sizeof p0, dir, 0);
    seg_path(path, sizeof path, dir, base);
    make_v1(p0);
    make_v1(path);
    q_log_opts o;
    tq_opts(&o, SEG);
    q_log *log;
    q_log_err err;
    ck_assert_int_eq(q_log_open(dir, &o, &log, &err), 0);
    ck_assert_ptr_null(err.why);
    check_prefix(log, base + ns);
    /* Appends and commits on a version-1 tail keep it a valid version-1 file. */
    ck_assert_int_eq(tq_append(log, base + ns, MAXLEN), (int64_t)(base + ns));
    ck_assert_int_eq(q_log_commit_final(log), 0);
    ck_assert_int_eq(q_log_close(log), 0);
    image im = load(path);
    ck_assert_uint_eq(q_ld16(im.bytes + Q_SEG_OFF_VERSION), 1);
    /* Its watermark is unknown: a flipped record is cut (a copy kept), not refused. */
    im.bytes[starts[2] + Q_REC_HDR_BYTES] ^= 0x01;
    store(path, im.bytes, im.size);
    ck_assert_int_eq(q_log_open(dir, &o, &log, &err), 0);
    ck_assert_uint_eq(err.pos, starts[2]);
    ck_assert(err.kept[0] != 0);
    check_prefix(log, base + 2);
    /* The next segment is version 2, its watermark covering what was committed. */
    uint64_t off = base + 2;
    q_log_stats st;
    do {
        ck_assert_int_eq(tq_append(log, off, MAXLEN), (int64_t)off);
        off++;
        q_log_get_stats(log, &st);
    } while (st.segments < 3);
    ck_assert_int_eq(q_log_commit_final(log), 0);
    char name[64];
    uint64_t b2, end;
    uint32_t used, bytes;
    ck_assert_int_eq(q_log_segment_info(log, 2, name, &b2, &end, &used, &bytes), 0);
    ck_assert_int_eq(q_log_close(log), 0);
    seg_path(path, sizeof path, dir, b2);
    image im2 = load(path);
    ck_assert_uint_eq(q_ld16(im2.bytes + Q_SEG_OFF_VERSION), Q_FORMAT_VERSION);
    uint32_t slot;
    ck_assert_uint_eq(q_seg_synced_decode(im2.bytes, b2, &slot), end - b2);
    free(im2.bytes);
    free(im.bytes);
    tq_rmdir(dir);
}
END_TEST

/* The watermark never claims more than the disk holds: whenever a segment is fsync'd, the
 * header it is about to write names no record that an earlier, completed fsync did not cover
 * (so a power loss at any point leaves a watermark <= what is on disk); and once a commit
 * returned, the watermark in the page cache covers everything it made durable. */
static uint64_t g_synced_end; /* offset end covered by the last completed commit */

static void check_header_at_sync(int fd)
{
    uint8_t hdr[Q_SEG_HDR_BYTES];
    if (pread(fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr) return; /* the directory */
    uint64_t base = q_ld64(hdr + Q_SEG_OFF_BASE);
    uint32_t slot;
    uint64_t count = q_seg_synced_decode(hdr, base, &slot);
    ck_assert_uint_le(base + count, g_synced_end > base ? g_synced_end : base);
}

static int hook_fdatasync(int fd)
{
    check_header_at_sync(fd);
    return fdatasync(fd);
}

static int hook_fsync(int fd)
{
    check_header_at_sync(fd);
    return fsync(fd);
}

START_TEST(watermark_never_ahead_of_an_fsync)
{
    char dir[64], path[128];
    tq_mkdtemp(dir);
    q_log_opts o;
    tq_opts(&o, SEG);
    q_log *log;
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    g_synced_end = 0;
    q_sys.fdatasync = hook_fdatasync;
    q_sys.fsync = hook_fsync;
    uint64_t off = 0;
    for (int round = 0; round < 400; round++) {
        for (int k = 0; k < 1 + round % 5; k++, off++)
            ck_assert_int_eq(tq_append(log, off, MAXLEN), (int64_t)off);
        ck_assert_int_eq(q_log_commit(log), 0);
        g_synced_end = off;
        /* After the commit: the tail's header (read through the page cache) covers it all. */
        q_log_stats st;
        q_log_get_stats(log, &st);
        char name[64];
        uint64_t base, end;
        uint32_t used, bytes, slot;
        ck_assert_int_eq(q_log_segment_info(log, st.segments - 1, name, &base, &end, &used, &bytes),
                         0);
        seg_path(path, sizeof path, dir, base);
        image im = load(path);
        ck_assert_uint_eq(base + q_seg_synced_decode(im.bytes, base, &slot), off);
        free(im.bytes);
    }
    ck_assert_int_eq(q_log_commit_final(log), 0);
    q_sys_reset();
    q_log_stats st;
    q_log_get_stats(log, &st);
    ck_assert_uint_ge(st.segments, 3); /* rolls were part of it */
    ck_assert_int_eq(q_log_close(log), 0);
    tq_rmdir(dir);
}
END_TEST

int main(void)
{
    log_set_level(LOG_OFF); /* expected "damage" and "tail cut" lines */
    const TTest *tests[] = {flip_before_synced_end_is_refused,
                            torn_record_past_synced_end_is_cut_with_copy,
                            version1_segments_still_open, watermark_never_ahead_of_an_fsync};
    return tq_run("q_recovery_synced", "synced", 60, tests, sizeof tests / sizeof tests[0]);
}
