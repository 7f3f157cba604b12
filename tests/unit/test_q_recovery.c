/* queue/q_log_open: recovery. Every-byte truncation of the tail, single bit flips anywhere,
 * zero-filled tails, stale bytes after a cut, damage in sealed segments and salvage (the synced
 * watermark's own cases: test_q_recovery_synced.c). */
#include "test_q_recovery_util.h"

#include <sys/mman.h>

#include "core/rt_log.h"

START_TEST(every_byte_truncation)
{
    char dir[64], path[128];
    tq_mkdtemp(dir);
    uint32_t starts[4096], ns;
    uint64_t base = build(dir, 7, 3, starts, &ns);
    ck_assert_uint_ge(ns, 4);
    seg_path(path, sizeof path, dir, base);
    image orig = load(path);
    uint8_t *work = malloc(orig.size);
    q_log_opts o;
    tq_opts(&o, SEG);
    /* Cut at every byte of the last three records, the ones no fsync covered: what is before
     * the cut reached the disk, the rest never did (zeros). */
    for (uint32_t cut = starts[ns - 3]; cut <= starts[ns]; cut++) {
        memcpy(work, orig.bytes, cut);
        memset(work + cut, 0, orig.size - cut);
        store(path, work, orig.size);
        /* Expected: the records whose bytes are all unchanged by the cut. */
        uint64_t keep = 0;
        while (keep < ns) {
            bool same = true;
            for (uint32_t i = starts[keep]; i < starts[keep + 1] && same; i++)
                same = orig.bytes[i] == work[i];
            if (!same) break;
            keep++;
        }
        q_log *log;
        q_log_err err;
        ck_assert_int_eq(q_log_open(dir, &o, &log, &err), 0);
        check_prefix(log, base + keep);
        ck_assert(err.why == NULL || cut != starts[keep]);
        if (err.why) {
            /* What was cut is kept: exactly the bytes from the cut to the end of the data. */
            ck_assert_uint_eq(err.pos, starts[keep]);
            ck_assert_uint_eq(err.pos + err.bytes, data_end(work, orig.size));
            image cp = salvaged_only(dir);
            ck_assert_uint_eq(cp.size, err.bytes);
            ck_assert(memcmp(cp.bytes, work + err.pos, cp.size) == 0);
            free(cp.bytes);
        }
        /* The log is usable after the cut: append, commit, reopen. */
        ck_assert_int_eq(tq_append(log, base + keep, MAXLEN), (int64_t)(base + keep));
        ck_assert_int_eq(q_log_commit(log), 0);
        ck_assert_int_eq(q_log_close(log), 0);
        ck_assert_int_eq(q_log_open(dir, &o, &log, &err), 0);
        ck_assert_ptr_null(err.why);
        check_prefix(log, base + keep + 1);
        ck_assert_int_eq(q_log_close(log), 0);
    }
    /* A cut that reaches the records the commit covered is damage, not a torn write: refused,
     * and nothing on disk changes. */
    memcpy(work, orig.bytes, orig.size);
    memset(work + starts[ns - 4] + 5, 0, orig.size - starts[ns - 4] - 5);
    store(path, work, orig.size);
    q_log *log;
    q_log_err err;
    ck_assert_int_eq(q_log_open(dir, &o, &log, &err), -EBADMSG);
    ck_assert_uint_eq(err.pos, starts[ns - 4]);
    ck_assert_uint_eq(err.offset, base + ns - 4);
    image after = load(path);
    ck_assert(after.size == orig.size && memcmp(after.bytes, work, orig.size) == 0);
    free(after.bytes);
    free(work);
    free(orig.bytes);
    tq_rmdir(dir);
}
END_TEST

START_TEST(bit_flips_tail)
{
    char dir[64], path[128];
    tq_mkdtemp(dir);
    uint32_t starts[4096], ns;
    uint64_t base = build(dir, 4, 3, starts, &ns);
    uint32_t synced = ns - 3; /* records the commit covered */
    seg_path(path, sizeof path, dir, base);
    image orig = load(path);
    q_log_opts o;
    tq_opts(&o, SEG);
    o.read_only = true; /* the flips are undone in place between opens */
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    uint8_t *m = mmap(NULL, orig.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ck_assert_ptr_ne(m, MAP_FAILED);
    /* Every bit of the file header and of the records, and of 64 bytes past the end. */
    uint32_t end = starts[ns] + 64;
    for (uint32_t byte = 0; byte < end; byte++) {
        for (int bit = 0; bit < 8; bit++) {
            m[byte] ^= (uint8_t)(1u << bit);
            q_log *log;
            q_log_err err;
            int r = q_log_open(dir, &o, &log, &err);
            if (byte >= Q_SEG_OFF_SYNCED && byte < Q_SEG_OFF_CSUM) {
                /* A watermark slot: it fails its own check and the other slot (older) is
                 * used; nothing is damaged and nothing is lost. */
                ck_assert_int_eq(r, 0);
                ck_assert_uint_eq(q_log_next(log), base + ns);
                ck_assert_int_eq(q_log_close(log), 0);
            } else if (byte < Q_SEG_HDR_BYTES) {
                ck_assert_int_eq(r, -EBADMSG);
                ck_assert_str_eq(err.file, path + strlen(dir) + 1);
            } else if (byte < starts[synced]) {
                /* Synced: refused, naming the file, the record's position and offset. */
                uint32_t k = record_of(starts, ns, byte);
                ck_assert_int_eq(r, -EBADMSG);
                ck_assert_str_eq(err.file, path + strlen(dir) + 1);
                ck_assert_uint_eq(err.pos, starts[k]);
                ck_assert_uint_eq(err.offset, base + k);
            } else if (byte < starts[ns]) {
                ck_assert_int_eq(r, 0);
                uint32_t k = record_of(starts, ns, byte);
                ck_assert_uint_eq(q_log_next(log), base + k);
                ck_assert_ptr_nonnull(err.why);
                ck_assert_uint_eq(err.pos, starts[k]);
                ck_assert_int_eq(q_log_close(log), 0);
            } else {
                /* Past the last record: no record lost, the garbage is reported. */
                ck_assert_int_eq(r, 0);
                ck_assert_uint_eq(q_log_next(log), base + ns);
                ck_assert_ptr_nonnull(err.why);
                ck_assert_uint_gt(err.bytes, 0);
                ck_assert_int_eq(q_log_close(log), 0);
            }
            m[byte] ^= (uint8_t)(1u << bit);
        }
    }
    munmap(m, orig.size);
    close(fd);
    free(orig.bytes);
    tq_rmdir(dir);
}
END_TEST

START_TEST(bit_flips_sealed)
{
    char dir[64], path[128];
    tq_mkdtemp(dir);
    uint32_t starts[4096], ns;
    build(dir, 4, 0, starts, &ns);
    seg_path(path, sizeof path, dir, 0);
    image orig = load(path);
    /* The sealed segment's record starts. */
    static uint32_t s0[4096];
    uint32_t n0 = 0, pos = Q_SEG_HDR_BYTES;
    for (uint64_t off = 0;; off++) {
        uint32_t span = (uint32_t)q_rec_span(tq_len(off, MAXLEN));
        s0[n0++] = pos;
        if (q_ld64(orig.bytes + pos) == 0 || pos + span > orig.size) break;
        pos += span;
    }
    n0--; /* the last entry is the end */
    q_log_opts o;
    tq_opts(&o, SEG);
    o.read_only = true;
    int fd = open(path, O_RDWR);
    uint8_t *m = mmap(NULL, orig.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ck_assert_ptr_ne(m, MAP_FAILED);
    /* Every bit of the header and first two records, the last two records, and a sample of
     * 3000 bits between: each fails the open naming the file and the record's position. */
    uint64_t x = 88172645463325252ull;
    for (uint32_t i = 0; i < s0[2] * 8 + (s0[n0] - s0[n0 - 2]) * 8 + 3000; i++) {
        uint32_t bitpos;
        if (i < s0[2] * 8) bitpos = i;
        else if (i < s0[2] * 8 + (s0[n0] - s0[n0 - 2]) * 8)
            bitpos = s0[n0 - 2] * 8 + (i - s0[2] * 8);
        else {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            bitpos = (uint32_t)(x % (s0[n0] * 8u));
        }
        uint32_t byte = bitpos / 8;
        if (byte >= Q_SEG_OFF_SYNCED && byte < Q_SEG_OFF_CSUM) continue; /* see bit_flips_tail */
        m[byte] ^= (uint8_t)(1u << (bitpos % 8));
        q_log *log;
        q_log_err err;
        ck_assert_int_eq(q_log_open(dir, &o, &log, &err), -EBADMSG);
        ck_assert_str_eq(err.file, "00000000000000000000.qseg");
        ck_assert_uint_eq(err.pos, byte < Q_SEG_HDR_BYTES ? 0 : s0[record_of(s0, n0, byte)]);
        m[byte] ^= (uint8_t)(1u << (bitpos % 8));
    }
    /* Lazy verification (Q_VERIFY_TAIL) still never hands out a flipped record. */
    o.verify = Q_VERIFY_TAIL;
    m[s0[5] + Q_REC_HDR_BYTES] ^= 1; /* first payload byte of record 5 */
    q_log *log;
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    q_rec r;
    ck_assert_int_eq(q_log_read(log, 4, &r), 0);
    ck_assert_int_eq(q_log_read(log, 5, &r), -EBADMSG);
    ck_assert_int_eq(q_log_close(log), 0);
    /* Salvage keeps everything before the damage and sets the rest aside. */
    o.verify = Q_VERIFY_ALL;
    o.read_only = false;
    o.salvage = true;
    q_log_err err;
    ck_assert_int_eq(q_log_open(dir, &o, &log, &err), 0);
    ck_assert_str_eq(err.file, "00000000000000000000.qseg");
    check_prefix(log, 5);
    ck_assert_int_eq(q_log_close(log), 0);
    char sal[128];
    snprintf(sal, sizeof sal, "%s/salvaged", dir);
    ck_assert_int_ge(tq_count_files(sal), 2);
    ck_assert_int_eq(tq_count_files(dir), 1);
    munmap(m, orig.size);
    close(fd);
    free(orig.bytes);
    tq_rmdir(dir);
}
END_TEST

START_TEST(zero_filled_tail_and_stale_bytes)
{
    char dir[64], path[128];
    tq_mkdtemp(dir);
    uint32_t starts[4096], ns;
    uint64_t base = build(dir, 2, 58, starts, &ns);
    ck_assert_uint_ge(ns, 40);
    seg_path(path, sizeof path, dir, base);
    image orig = load(path);
    /* Power loss with out-of-order writeback: the 4 KiB block holding record k's start never
     * reached the disk (zeros), later blocks did. Nothing from k on was covered by an fsync. */
    uint32_t blk = 8192, k = record_of(starts, ns, blk);
    ck_assert_uint_lt(blk + 4096, starts[ns]);
    ck_assert_uint_gt(starts[k], starts[3]);
    uint8_t *work = malloc(orig.size);
    memcpy(work, orig.bytes, orig.size);
    memset(work + blk, 0, 4096);
    store(path, work, orig.size);
    q_log_opts o;
    tq_opts(&o, SEG);
    q_log *log;
    q_log_err err;
    ck_assert_int_eq(q_log_open(dir, &o, &log, &err), 0);
    uint64_t kept = q_log_next(log) - base;
    ck_assert_uint_le(kept, k);
    ck_assert_ptr_nonnull(err.why);
    ck_assert_uint_gt(err.bytes, 0);
    check_prefix(log, base + kept);
    /* The copy holds everything cut, the records after the zero block included. */
    ck_assert_uint_eq(err.pos + err.bytes, data_end(work, orig.size));
    image cp = salvaged_only(dir);
    ck_assert_uint_eq(cp.size, err.bytes);
    ck_assert(memcmp(cp.bytes, work + err.pos, cp.size) == 0);
    free(cp.bytes);
    /* Re-append the very same records: they land exactly where the old ones were. Before the
     * fix of cleaning the tail, the old records after them would verify again on reopen. */
    for (uint64_t off = base + kept; off < base + kept + 3; off++)
        ck_assert_int_eq(tq_append(log, off, MAXLEN), (int64_t)off);
    ck_assert_int_eq(q_log_close(log), 0);
    ck_assert_int_eq(q_log_open(dir, &o, &log, &err), 0);
    ck_assert_ptr_null(err.why);
    check_prefix(log, base + kept + 3);
    ck_assert_int_eq(q_log_close(log), 0);
    free(work);
    free(orig.bytes);
    tq_rmdir(dir);
}
END_TEST

START_TEST(sealed_segment_short_and_leftovers)
{
    char dir[64], path[128];
    tq_mkdtemp(dir);
    uint32_t starts[4096], ns;
    build(dir, 4, 0, starts, &ns);
    /* A leftover temporary segment (creation interrupted) is set aside. */
    snprintf(path, sizeof path, "%s/00000000000099999999.qseg.tmp", dir);
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    ck_assert_int_ge(fd, 0);
    close(fd);
    q_log_opts o;
    tq_opts(&o, SEG);
    q_log *log;
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    ck_assert_int_eq(access(path, F_OK), -1);
    ck_assert_int_eq(q_log_close(log), 0);
    /* A sealed segment whose last record is zeroed ends early: damage, not a tail cut. */
    seg_path(path, sizeof path, dir, 0);
    image im = load(path);
    uint32_t pos = Q_SEG_HDR_BYTES, last = pos;
    for (uint64_t off = 0; q_ld64(im.bytes + pos) != 0; off++) {
        last = pos;
        pos += (uint32_t)q_rec_span(tq_len(off, MAXLEN));
        if (pos + Q_REC_HDR_BYTES > im.size) break;
    }
    memset(im.bytes + last, 0, im.size - last);
    store(path, im.bytes, im.size);
    q_log_err err;
    ck_assert_int_eq(q_log_open(dir, &o, &log, &err), -EBADMSG);
    ck_assert_uint_eq(err.pos, last);
    ck_assert_str_eq(err.why, "sealed segment ends before the next segment begins");
    free(im.bytes);
    tq_rmdir(dir);
}
END_TEST

/* Appends across three rolls with no commit: segment 0 is published, the rest are temporary. */
static uint64_t build_unpublished(const char *dir, uint64_t bases[4])
{
    q_log_opts o;
    tq_opts(&o, SEG);
    q_log *log;
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    uint64_t off = 0;
    q_log_stats st;
    do {
        ck_assert_int_eq(tq_append(log, off, MAXLEN), (int64_t)off);
        off++;
        q_log_get_stats(log, &st);
    } while (st.segments < 4 || q_log_next(log) - q_log_oldest(log) < 20 + off / 2);
    for (uint32_t i = 0; i < 4; i++) {
        char name[64];
        uint64_t end;
        uint32_t used, bytes;
        ck_assert_int_eq(q_log_segment_info(log, i, name, &bases[i], &end, &used, &bytes), 0);
    }
    ck_assert_int_eq(q_log_close(log), 0); /* no commit: like a crash, the page cache keeps it */
    ck_assert_int_eq(tq_count_files(dir), 1);
    return off;
}

START_TEST(unpublished_tail_segments)
{
    char dir[64], path[160];
    q_log_opts o;
    tq_opts(&o, SEG);
    q_log *log;
    q_log_err err;
    uint64_t bases[4];
    /* Intact: everything is recovered, and the rolled segments get their final names. */
    tq_mkdtemp(dir);
    uint64_t n = build_unpublished(dir, bases);
    ck_assert_int_eq(q_log_open(dir, &o, &log, &err), 0);
    ck_assert_ptr_null(err.why);
    check_prefix(log, n);
    ck_assert_int_eq(q_log_close(log), 0);
    ck_assert_int_eq(tq_count_files(dir), 4);
    tq_rmdir(dir);
    /* A torn record inside the first temporary segment: cut there, later ones removed. */
    tq_mkdtemp(dir);
    n = build_unpublished(dir, bases);
    snprintf(path, sizeof path, "%s/%020llu.qseg.tmp", dir, (unsigned long long)bases[1]);
    image im = load(path);
    uint32_t pos = Q_SEG_HDR_BYTES;
    for (uint64_t off = bases[1]; off < bases[1] + 7; off++)
        pos += (uint32_t)q_rec_span(tq_len(off, MAXLEN));
    im.bytes[pos + Q_REC_HDR_BYTES - 1] ^= 0x40; /* a header byte of record base+7 */
    store(path, im.bytes, im.size);
    free(im.bytes);
    ck_assert_int_eq(q_log_open(dir, &o, &log, &err), 0);
    ck_assert_ptr_nonnull(err.why);
    ck_assert_uint_eq(err.pos, pos);
    check_prefix(log, bases[1] + 7);
    ck_assert_int_eq(tq_append(log, bases[1] + 7, MAXLEN), (int64_t)(bases[1] + 7));
    ck_assert_int_eq(q_log_commit(log), 0);
    ck_assert_int_eq(q_log_close(log), 0);
    ck_assert_int_eq(tq_count_files(dir), 2);
    ck_assert_int_eq(q_log_open(dir, &o, &log, &err), 0);
    check_prefix(log, bases[1] + 8);
    ck_assert_int_eq(q_log_close(log), 0);
    tq_rmdir(dir);
    /* A temporary segment whose creation never finished (bad header): it and later ones go. */
    tq_mkdtemp(dir);
    n = build_unpublished(dir, bases);
    snprintf(path, sizeof path, "%s/%020llu.qseg.tmp", dir, (unsigned long long)bases[2]);
    im = load(path);
    memset(im.bytes, 0, Q_SEG_HDR_BYTES);
    store(path, im.bytes, im.size);
    free(im.bytes);
    ck_assert_int_eq(q_log_open(dir, &o, &log, &err), 0);
    check_prefix(log, bases[2]);
    ck_assert_int_eq(q_log_close(log), 0);
    ck_assert_int_eq(tq_count_files(dir), 2);
    tq_rmdir(dir);
}
END_TEST

int main(void)
{
    log_set_level(LOG_OFF); /* thousands of expected "tail cut" and "damage" lines */
    const TTest *tests[] = {every_byte_truncation,
                            bit_flips_tail,
                            bit_flips_sealed,
                            zero_filled_tail_and_stale_bytes,
                            sealed_segment_short_and_leftovers,
                            unpublished_tail_segments};
    return tq_run("q_recovery", "recovery", 120, tests, sizeof tests / sizeof tests[0]);
}
