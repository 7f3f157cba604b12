/* libFuzzer target: arbitrary bytes as one or two segment files of a log, opened read-only or
 * for writing (recovery, salvage). Properties: no crash, no sanitizer report, and every record
 * handed out verifies its checksum and sits in the dense offset sequence.
 *
 * Input: byte 0 = flags, byte 1 = split point (split/256 of the bytes go to the first of two
 * segments; the second is named by its header's base), then the file bytes. With
 * F_FIXUP the harness repairs the segment header and record checksums first, so the fuzzer
 * reaches the logic behind them (sequence, lengths, tails, multi-segment rules). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/rt_log.h"
#include "queue/q_format.h"
#include "queue/q_log.h"

#define F_FIXUP 0x01u
#define F_SPLIT 0x02u
#define F_WRITE 0x04u
#define F_TMP2 0x08u /* the second segment is unpublished */
#define F_SALVAGE 0x10u
#define F_LAZY 0x20u /* Q_VERIFY_TAIL */
#define FILE_BYTES_MAX (256u * 1024u)

static char g_dir[64];

static void clear_dir(void)
{
    char sub[128];
    snprintf(sub, sizeof sub, "%s/salvaged", g_dir);
    const char *dirs[2] = {sub, g_dir};
    for (int k = 0; k < 2; k++) {
        DIR *d = opendir(dirs[k]);
        if (!d) continue;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.' || strcmp(e->d_name, "salvaged") == 0) continue;
            char p[512];
            snprintf(p, sizeof p, "%s/%s", dirs[k], e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(sub);
}

/* Repairs the header and the checksums of whatever parses as a record, in place. Returns the
 * offset after the last repaired record. */
static uint64_t fixup(uint8_t *b, size_t n, uint64_t base)
{
    if (n < Q_SEG_HDR_BYTES) return base;
    q_seg_hdr_encode(b, base, n, 0);
    uint64_t pos = Q_SEG_HDR_BYTES, off = base;
    while (pos + Q_REC_HDR_BYTES <= n) {
        uint8_t *r = b + pos;
        uint32_t len = q_ld32(r + Q_REC_OFF_LEN) % 4096u;
        if (q_rec_span(len) > n - pos || q_ld16(r + Q_REC_OFF_MAGIC) == 0) break;
        q_st16(r + Q_REC_OFF_MAGIC, Q_REC_MAGIC);
        q_st16(r + Q_REC_OFF_VERSION, Q_REC_VERSION);
        q_st32(r + Q_REC_OFF_LEN, len);
        q_st64(r + Q_REC_OFF_OFFSET, off);
        if (!(q_ld16(r + Q_REC_OFF_FLAGS) & Q_REC_F_COMPACTED)) q_st64(r + Q_REC_OFF_ID, off);
        q_st64(r + Q_REC_OFF_CSUM, q_rec_checksum(r, len));
        pos += q_rec_span(len);
        off++;
    }
    return off;
}

static void write_file(uint64_t base, bool tmp, const uint8_t *b, size_t n)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%020llu.qseg%s", g_dir, (unsigned long long)base, tmp ? ".tmp" : "");
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) abort();
    if (n && write(fd, b, n) != (ssize_t)n) abort();
    close(fd);
}

static void walk(q_log *log)
{
    q_iter it;
    q_iter_init(&it, log, q_log_oldest(log), false);
    q_rec r;
    uint64_t expect = q_log_oldest(log);
    int k;
    while ((k = q_iter_next(&it, &r)) == 1) {
        const uint8_t *rec = r.payload - Q_REC_HDR_BYTES;
        if (r.offset != expect++) abort();
        if (q_ld64(rec + Q_REC_OFF_CSUM) != q_rec_checksum(rec, r.len)) abort();
        q_rec again;
        if (q_log_read(log, r.offset, &again) != 0 || again.payload != r.payload) abort();
    }
    if (k == 0 && expect != q_log_next(log)) abort();
}

static void remove_dir(void)
{
    clear_dir();
    rmdir(g_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* tmpfs: the harness measures parsing and recovery logic, not the disk. */
    snprintf(g_dir, sizeof g_dir, "/dev/shm/ringq-fuzz-%d", (int)getpid());
    mkdir(g_dir, 0755);
    atexit(remove_dir);
    log_set_level(LOG_OFF);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    unsigned flags = data[0];
    size_t split = data[1];
    data += 2;
    size -= 2;
    if (size > FILE_BYTES_MAX) size = FILE_BYTES_MAX;
    uint8_t *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    clear_dir();
    size_t n1 = size;
    if (flags & F_SPLIT) n1 = size * split / 256;
    uint64_t base2 = 0;
    if (flags & F_FIXUP) base2 = fixup(buf, n1, 0);
    else if (size - n1 >= Q_SEG_HDR_BYTES) base2 = q_ld64(buf + n1 + Q_SEG_OFF_BASE) % 100000u;
    write_file(0, false, buf, n1);
    if (flags & F_SPLIT) {
        if (flags & F_FIXUP) fixup(buf + n1, size - n1, base2);
        write_file(base2, flags & F_TMP2, buf + n1, size - n1);
    }
    q_log_opts o;
    q_log_opts_default(&o);
    o.segment_bytes = 64u * 1024u;
    o.record_bytes_max = 16u * 1024u;
    o.read_only = !(flags & F_WRITE);
    o.no_create = true;
    o.salvage = flags & F_SALVAGE;
    o.verify = (flags & F_LAZY) ? Q_VERIFY_TAIL : Q_VERIFY_ALL;
    q_log *log;
    q_log_err err;
    if (q_log_open(g_dir, &o, &log, &err) == 0) {
        walk(log);
        if (flags & F_WRITE) {
            uint64_t next = q_log_next(log);
            uint32_t len = size < 100 ? (uint32_t)size : 100;
            if (q_log_append(log, 9, data, len) != (int64_t)next) abort();
            if (q_log_commit(log) != 0) abort();
            q_log_close(log);
            o.read_only = true;
            o.salvage = false;
            if (q_log_open(g_dir, &o, &log, &err) != 0) abort(); /* recovery left a clean log */
            if (q_log_next(log) != next + 1 || err.why) {
                fprintf(stderr,
                        "fuzz_q_segment: after recovery next=%llu want %llu why=%s "
                        "file=%s pos=%llu\n",
                        (unsigned long long)q_log_next(log), (unsigned long long)next + 1,
                        err.why ? err.why : "-", err.file, (unsigned long long)err.pos);
                abort();
            }
            walk(log);
        }
        q_log_close(log);
    }
    free(buf);
    return 0;
}
