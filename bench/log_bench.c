/* log_bench: figures for the durable log (queue/q_log), each printed beside its limit.
 *
 *   log_bench append   DIR SIZE TOTAL_MIB   appends of SIZE-byte payloads vs memcpy of the same
 *                                           payloads into a fresh preallocated MAP_SHARED file
 *   log_bench fsync    DIR COUNT            raw rate: 4 KiB pwrite + fdatasync, COUNT times
 *   log_bench durable  DIR APPENDERS COUNT  durable appends/s, APPENDERS in flight on io_uring
 *                                           (append, commit_async, on ack append again)
 *   log_bench recover  DIR MIB              writes a MIB log of 4 KiB records, then times an
 *                                           open that verifies every checksum, warm and cold
 *
 * Output: one "key=value ..." line per figure (bench/suite_log.sh turns them into a table).
 * DIR should be on the disk under test; it is created and removed. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/ev_reactor.h"
#include "core/rt_clock.h"
#include "core/rt_log.h"
#include "queue/q_log.h"

static void die(const char *what, int err)
{
    fprintf(stderr, "log_bench: %s: %s\n", what, strerror(err < 0 ? -err : err));
    exit(1);
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}
static void rm_rf(const char *p) { nftw(p, rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

static double secs(uint64_t ns) { return (double)ns / 1e9; }

/* Baseline: memcpy SIZE-byte payloads back to back into fresh 64 MiB preallocated shared
 * mappings, the same page-fault and writeback work an append does, minus the log. */
static double memcpy_rate(const char *dir, uint32_t size, uint64_t total, const uint8_t *src)
{
    uint64_t seg = Q_SEGMENT_BYTES_DEFAULT, done = 0;
    uint64_t t0 = rt_now_ns();
    for (int i = 0; done < total; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/memcpy-%d", dir, i);
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || fallocate(fd, 0, 0, (off_t)seg) != 0) die("memcpy file", errno);
        uint8_t *m = mmap(NULL, seg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED) die("mmap", errno);
        for (uint64_t pos = 0; pos + size <= seg && done < total; pos += size, done += size)
            memcpy(m + pos, src, size);
        munmap(m, seg);
        close(fd);
        unlink(path);
    }
    return (double)total / secs(rt_now_ns() - t0);
}

static int bench_append(const char *dir, uint32_t size, uint64_t total_mib)
{
    uint64_t total = total_mib << 20;
    uint8_t *src = malloc(size);
    for (uint32_t i = 0; i < size; i++) src[i] = (uint8_t)(i * 7 + 1);
    char logdir[512];
    snprintf(logdir, sizeof logdir, "%s/log", dir);
    mkdir(dir, 0755);
    double base = memcpy_rate(dir, size, total, src);
    q_log *log;
    q_log_opts o;
    q_log_opts_default(&o);
    const char *seg_mib = getenv("SEG_MIB"); /* segment size override, for experiments */
    if (seg_mib) o.segment_bytes = (uint32_t)(strtoull(seg_mib, NULL, 10) << 20);
    int r = q_log_open(logdir, &o, &log, NULL);
    if (r) die("open", r);
    uint64_t n = total / size;
    uint64_t t0 = rt_now_ns();
    for (uint64_t i = 0; i < n; i++)
        if ((r = (int)q_log_append(log, 1, src, size)) < 0) die("append", r);
    double dt = secs(rt_now_ns() - t0);
    q_log_close(log);
    rm_rf(logdir);
    double rate = (double)(n * size) / dt;
    printf("figure=append size=%u records=%" PRIu64 " rec_per_s=%.0f MiB_per_s=%.1f "
           "memcpy_MiB_per_s=%.1f ratio=%.2f\n",
           size, n, (double)n / dt, rate / 1048576.0, base / 1048576.0, rate / base);
    free(src);
    return 0;
}

static int bench_fsync(const char *dir, uint64_t count)
{
    mkdir(dir, 0755);
    char path[512];
    snprintf(path, sizeof path, "%s/fsync-raw", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || fallocate(fd, 0, 0, (off_t)(count * 4096)) != 0 || fsync(fd) != 0)
        die("fsync file", errno);
    static uint8_t page[4096];
    uint64_t t0 = rt_now_ns();
    for (uint64_t i = 0; i < count; i++) {
        page[0] = (uint8_t)i;
        if (pwrite(fd, page, sizeof page, (off_t)(i * 4096)) != sizeof page || fdatasync(fd) != 0)
            die("fdatasync", errno);
    }
    double dt = secs(rt_now_ns() - t0);
    close(fd);
    unlink(path);
    printf("figure=fsync count=%" PRIu64 " fsync_per_s=%.0f us_each=%.1f\n", count,
           (double)count / dt, dt * 1e6 / (double)count);
    return 0;
}

typedef struct appender {
    q_commit_waiter w;
    struct durable_run *run;
} appender;

typedef struct durable_run {
    q_log *log;
    uint64_t started, acked, target, fsyncs;
    int inflight;
    uint8_t payload[100];
} durable_run;

static void start_one(appender *a);

static void on_ack(q_log *log, void *ud, int status, uint64_t durable)
{
    (void)log;
    (void)durable;
    appender *a = ud;
    if (status) die("commit", status);
    a->run->acked++;
    a->run->inflight--;
    if (a->run->started < a->run->target) start_one(a);
}

static void start_one(appender *a)
{
    durable_run *run = a->run;
    int64_t off = q_log_append(run->log, 1, run->payload, sizeof run->payload);
    if (off < 0) die("append", (int)off);
    run->started++;
    run->inflight++;
    int r = q_log_commit_async(run->log, &a->w, on_ack, a);
    if (r < 0) die("commit_async", r);
    if (r == 1) {
        run->acked++;
        run->inflight--;
    }
}

static void on_durable(q_log *log, void *ud, uint64_t durable)
{
    (void)log;
    (void)durable;
    ((durable_run *)ud)->fsyncs++;
}

static int bench_durable(const char *dir, int appenders, uint64_t count)
{
    int err;
    const char *why;
    ev_loop *loop = ev_loop_create(NULL, &err, &why);
    if (!loop) {
        printf("figure=durable appenders=%d skipped=\"%s\"\n", appenders, why);
        return 0;
    }
    durable_run run = {.target = count};
    memset(run.payload, 'x', sizeof run.payload);
    int r = q_log_open(dir, NULL, &run.log, NULL);
    if (r) die("open", r);
    q_log_attach(run.log, loop);
    q_log_on_durable(run.log, on_durable, &run);
    appender *as = calloc((size_t)appenders, sizeof *as);
    uint64_t t0 = rt_now_ns();
    for (int i = 0; i < appenders; i++) {
        as[i].run = &run;
        start_one(&as[i]);
    }
    while (run.inflight > 0)
        if ((r = ev_loop_run_once(loop, true)) < 0) die("loop", r);
    double dt = secs(rt_now_ns() - t0);
    printf("figure=durable appenders=%d acked=%" PRIu64 " durable_per_s=%.0f fsyncs=%" PRIu64
           " appends_per_fsync=%.1f\n",
           appenders, run.acked, (double)run.acked / dt, run.fsyncs,
           (double)run.acked / (double)(run.fsyncs ? run.fsyncs : 1));
    q_log_close(run.log);
    ev_loop_destroy(loop);
    free(as);
    rm_rf(dir);
    return 0;
}

/* Cold cache for our own files only: the segments are clean (fdatasync'd), so
 * fadvise(DONTNEED) drops their pages; nothing else on the machine is touched. */
static void evict(const char *dir)
{
    q_log_opts o;
    q_log_opts_default(&o);
    o.read_only = true;
    o.verify = Q_VERIFY_TAIL;
    q_log *log;
    int r = q_log_open(dir, &o, &log, NULL);
    if (r) die("evict open", r);
    static char names[4096][64];
    uint32_t n = 0;
    uint64_t base, end;
    uint32_t used, bytes;
    while (n < 4096 && q_log_segment_info(log, n, names[n], &base, &end, &used, &bytes) == 0) n++;
    q_log_close(log);
    for (uint32_t i = 0; i < n; i++) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY);
        int fd = dfd < 0 ? -1 : openat(dfd, names[i], O_RDONLY);
        if (dfd >= 0) close(dfd);
        if (fd < 0) die("evict", errno);
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
}

static double time_open(const char *dir, uint64_t *records)
{
    q_log_opts o;
    q_log_opts_default(&o);
    o.read_only = true;
    q_log *log;
    uint64_t t0 = rt_now_ns();
    int r = q_log_open(dir, &o, &log, NULL);
    double dt = secs(rt_now_ns() - t0);
    if (r) die("reopen", r);
    *records = q_log_next(log) - q_log_oldest(log);
    q_log_close(log);
    return dt;
}

static int bench_recover(const char *dir, uint64_t mib)
{
    q_log *log;
    int r = q_log_open(dir, NULL, &log, NULL);
    if (r) die("open", r);
    static uint8_t rec[4096 - 48];
    for (size_t i = 0; i < sizeof rec; i++) rec[i] = (uint8_t)(i * 13);
    uint64_t n = (mib << 20) / 4096;
    for (uint64_t i = 0; i < n; i++)
        if ((r = (int)q_log_append(log, 2, rec, sizeof rec)) < 0) die("append", r);
    if ((r = q_log_commit(log)) != 0) die("commit", r);
    q_log_stats st;
    q_log_get_stats(log, &st);
    q_log_close(log);
    uint64_t records;
    double warm = time_open(dir, &records); /* first open pulls the pages in */
    warm = time_open(dir, &records);
    evict(dir);
    double cold = time_open(dir, &records);
    double gib = (double)st.used_bytes / (double)(1ull << 30);
    printf("figure=recover bytes=%" PRIu64 " records=%" PRIu64 " segments=%u warm_s=%.3f "
           "warm_GiB_per_s=%.2f cold_s=%.3f cold_GiB_per_s=%.2f\n",
           st.used_bytes, records, st.segments, warm, gib / warm, cold, gib / cold);
    rm_rf(dir);
    return 0;
}

int main(int argc, char **argv)
{
    log_set_level(LOG_ERROR);
    if (argc < 4) {
        fprintf(stderr, "usage: log_bench append DIR SIZE MIB | fsync DIR COUNT | "
                        "durable DIR APPENDERS COUNT | recover DIR MIB\n");
        return 64;
    }
    const char *mode = argv[1], *dir = argv[2];
    if (strcmp(mode, "append") == 0 && argc == 5)
        return bench_append(dir, (uint32_t)atoi(argv[3]), strtoull(argv[4], NULL, 10));
    if (strcmp(mode, "fsync") == 0) return bench_fsync(dir, strtoull(argv[3], NULL, 10));
    if (strcmp(mode, "durable") == 0 && argc == 5)
        return bench_durable(dir, atoi(argv[3]), strtoull(argv[4], NULL, 10));
    if (strcmp(mode, "recover") == 0) return bench_recover(dir, strtoull(argv[3], NULL, 10));
    fprintf(stderr, "log_bench: bad arguments\n");
    return 64;
}
