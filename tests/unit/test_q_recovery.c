/* queue/q_log_open: recovery. Every-byte truncation of the tail, single bit flips anywhere,
 * zero-filled tails, stale bytes after a cut, damage in sealed segments and salvage. */
#include "test_q_util.h"

#include <sys/mman.h>
#include <xxhash.h>

#include "core/rt_log.h"
#include "queue/q_sys.h"

#define SEG (64u * 1024u)
#define MAXLEN 300u

typedef struct {
    uint8_t *bytes;
    uint32_t size;
} image;

static void seg_path(char *out, size_t n, const char *dir, uint64_t base)
{
    snprintf(out, n, "%s/%020llu.qseg", dir, (unsigned long long)base);
}

static image load(const char *path)
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

static void store(const char *path, const uint8_t *bytes, uint32_t size)
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
static uint64_t build(const char *dir, uint64_t extra, uint64_t loose, uint32_t *starts,
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
static image salvaged_only(const char *dir)
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
static uint32_t data_end(const uint8_t *b, uint32_t n)
{
    while (n > 0 && b[n - 1] == 0) n--;
    return n;
}

static bool salvaged_exists(const char *dir)
{
    char sal[128];
    snprintf(sal, sizeof sal, "%s/salvaged", dir);
    return access(sal, F_OK) == 0;
}

static void check_prefix(q_log *log, uint64_t upto)
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

static uint32_t record_of(const uint32_t *starts, uint32_t ns, uint32_t pos)
{
    uint32_t k = 0;
    while (k + 1 <= ns && starts[k + 1] <= pos) k++;
    return k;
}

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
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
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

/* Record start positions of the only segment of a log of n records (starts[n] is the end). */
static void one_segment_starts(uint64_t n, uint32_t *starts)
{
    uint32_t pos = Q_SEG_HDR_BYTES;
    for (uint64_t off = 0; off <= n; off++) {
        starts[off] = pos;
        pos += (uint32_t)q_rec_span(tq_len(off, MAXLEN));
    }
}

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
        ck_assert_int_eq(q_log_segment_info(log, st.segments - 1, name, &base, &end, &used,
                                            &bytes), 0);
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
    log_set_level(LOG_OFF); /* thousands of expected "tail cut" and "damage" lines */
    Suite *s = suite_create("q_recovery");
    TCase *tc = tcase_create("recovery");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, every_byte_truncation);
    tcase_add_test(tc, bit_flips_tail);
    tcase_add_test(tc, bit_flips_sealed);
    tcase_add_test(tc, zero_filled_tail_and_stale_bytes);
    tcase_add_test(tc, sealed_segment_short_and_leftovers);
    tcase_add_test(tc, unpublished_tail_segments);
    tcase_add_test(tc, flip_before_synced_end_is_refused);
    tcase_add_test(tc, torn_record_past_synced_end_is_cut_with_copy);
    tcase_add_test(tc, version1_segments_still_open);
    tcase_add_test(tc, watermark_never_ahead_of_an_fsync);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
