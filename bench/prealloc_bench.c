/* bench/prealloc_bench: what an append's fdatasync costs, by how the blocks ahead were prepared.
 *
 *   prealloc_bench DIR COUNT [ROUNDS]
 *
 * Appends COUNT records of 100..4096 bytes (fixed pseudo-random sizes, the same in every mode)
 * through a MAP_SHARED mapping, as the log does, each followed by fdatasync, into a file of
 * FILE_BYTES whose first COUNT x 4 KiB (rounded up to 1 MiB: where the appends may go) were
 * prepared one of six ways:
 *   unwritten   fallocate(mode 0): ext4 unwritten extents (what q_seg_grow does)
 *   log         fallocate(mode 0) + zeros pwrite()n just ahead, never synced (q_seg_prewrite:
 *               today's log path)
 *   log-pages   the same in one pwrite() per 4 KiB page: the page cache keeps 4 KiB folios, so
 *               an fdatasync writes back the pages stored to, not a whole 64 KiB folio
 *   written     zeros pwrite()n over the whole file and fdatasync()ed before the first append
 *               (blocks WRITTEN and durable: the candidate)
 *   written-dropped  the same, then its page cache dropped (POSIX_FADV_DONTNEED): the appends
 *               fault pages in as the other modes do, instead of storing into the (possibly
 *               large) folios the zeroing pwrite()s left in the cache
 *   hole        ftruncate only (a sparse file: blocks allocated at writeback)
 * Modes run interleaved, ROUNDS times (default 3), odd rounds in reverse order, each in a fresh
 * file after fsync + syncfs of the preparation, so load on a shared machine hits them alike. Prints one JSON line per mode: fdatasync latency p50/p90/p99/max in
 * µs (rb_hist), this process's CPU time (utime+stime, getrusage) per append+fdatasync in µs, and
 * the bytes it dirtied per append (/proc/self/io write_bytes: whole folios, so it shows when a
 * 100-4096 B append makes the fdatasync write much more; independent of the machine's load).
 * The journal commit an fdatasync may wait for runs in jbd2's thread: its CPU is not ours, so
 * latency is the fuller figure. Preparation (fallocate, zeroing) is outside the timed loop. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench/rb_hist.h"

#define FILE_BYTES (32u * 1024u * 1024u) /* room for COUNT appends of <= 4 KiB: COUNT <= 8000 */
#define REC_MIN_BYTES 100u
#define REC_MAX_BYTES 4096u
#define ZERO_CHUNK_BYTES (1024u * 1024u) /* one pwrite of zeros */
#define LOG_PREWRITE_BYTES (64u * 1024u) /* as Q_SEG_PREWRITE_BYTES */

enum mode { M_UNWRITTEN, M_LOG, M_LOG_PAGES, M_WRITTEN, M_WRITTEN_DROPPED, M_HOLE, M_COUNT };
static const char *const mode_name[M_COUNT] = {"unwritten",       "log", "log-pages", "written",
                                               "written-dropped", "hole"};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_ns(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000u +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000u;
}

/* Bytes this process has dirtied for writeback (/proc/self/io write_bytes: counted per folio
 * when it is first dirtied), or 0 when unreadable. Load-independent: what the fdatasyncs write. */
static uint64_t io_write_bytes(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    char line[128];
    unsigned long long v = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "write_bytes: %llu", &v) == 1) break;
    if (f) fclose(f);
    return v;
}

/* Zeros over [from, to) in writes of at most `chunk` bytes. */
static int write_zeros(int fd, uint64_t from, uint64_t to, size_t chunk)
{
    static const uint8_t zeros[ZERO_CHUNK_BYTES];
    while (from < to) {
        size_t n = to - from > chunk ? chunk : (size_t)(to - from);
        ssize_t w = pwrite(fd, zeros, n, (off_t)from);
        if (w <= 0) return w < 0 ? -errno : -EIO;
        from += (uint64_t)w;
    }
    return 0;
}

/* Prepares [0, span) (where the appends may go) of a FILE_BYTES file. */
static int prepare(int fd, enum mode m, uint64_t span)
{
    if (ftruncate(fd, FILE_BYTES) != 0) return -errno;
    if (m == M_UNWRITTEN || m == M_LOG || m == M_LOG_PAGES)
        if (fallocate(fd, 0, 0, (off_t)span) != 0) return -errno;
    if (m == M_WRITTEN || m == M_WRITTEN_DROPPED) {
        int r = write_zeros(fd, 0, span, ZERO_CHUNK_BYTES);
        if (r) return r;
    }
    /* Everything prepared is durable before the timed loop (the file size too), and no other
     * dirty data of this filesystem is left for the timed fdatasyncs to wait behind. */
    if (fsync(fd) != 0) return -errno;
    if (m == M_WRITTEN_DROPPED) {
        int r = posix_fadvise(fd, 0, (off_t)span, POSIX_FADV_DONTNEED);
        if (r) return -r;
    }
    return syncfs(fd) == 0 ? 0 : -errno;
}

/* One round of one mode; adds to h, *cpu and *wbytes (dirtied in the timed loop). Returns 0 or a negative errno. */
static int run_mode(const char *dir, enum mode m, long count, rb_hist *h, uint64_t *cpu,
                    uint64_t *wbytes)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/prealloc_bench.%d.%s", dir, (int)getpid(), mode_name[m]);
    int fd = open(path, O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) return -errno;
    uint64_t span = ((uint64_t)count * REC_MAX_BYTES + ZERO_CHUNK_BYTES - 1) / ZERO_CHUNK_BYTES *
                    ZERO_CHUNK_BYTES;
    int r = prepare(fd, m, span);
    uint8_t *map = MAP_FAILED;
    if (r == 0 &&
        (map = mmap(NULL, FILE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED)
        r = -errno;
    uint64_t pos = 0, zeroed = 0, seed = 12345;
    uint64_t c0 = cpu_ns(), w0 = io_write_bytes();
    for (long i = 0; r == 0 && i < count; i++) {
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        uint32_t len = REC_MIN_BYTES + (uint32_t)(seed >> 33) % (REC_MAX_BYTES - REC_MIN_BYTES + 1);
        if (pos + len > FILE_BYTES) {
            r = -EFBIG;
            break;
        }
        uint64_t t0 = now_ns();
        if ((m == M_LOG || m == M_LOG_PAGES) && pos + len > zeroed) {
            uint64_t to = (pos + len + LOG_PREWRITE_BYTES - 1) / LOG_PREWRITE_BYTES *
                          LOG_PREWRITE_BYTES;
            uint64_t page_up = (pos + 4095) / 4096 * 4096; /* pos's own page was stored to */
            uint64_t from = zeroed > page_up ? zeroed : page_up;
            size_t chunk = m == M_LOG ? LOG_PREWRITE_BYTES : 4096;
            if ((r = write_zeros(fd, from, to, chunk)) != 0) break;
            zeroed = to;
        }
        memset(map + pos, (int)(i & 0x7f) | 1, len);
        pos += len;
        if (fdatasync(fd) != 0) r = -errno;
        rb_hist_record(h, now_ns() - t0);
    }
    *cpu += cpu_ns() - c0;
    *wbytes += io_write_bytes() - w0;
    if (map != MAP_FAILED) munmap(map, FILE_BYTES);
    close(fd);
    unlink(path);
    return r;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: prealloc_bench DIR COUNT [ROUNDS]\n");
        return 2;
    }
    long count = atol(argv[2]), rounds = argc == 4 ? atol(argv[3]) : 3;
    if (count <= 0 || count > (long)(FILE_BYTES / REC_MAX_BYTES) || rounds <= 0) {
        fprintf(stderr, "prealloc_bench: COUNT 1..%u, ROUNDS >= 1\n", FILE_BYTES / REC_MAX_BYTES);
        return 2;
    }
    rb_hist *h = calloc(M_COUNT, sizeof *h);
    uint64_t cpu[M_COUNT] = {0}, wbytes[M_COUNT] = {0};
    if (!h) return 1;
    for (long k = 0; k < rounds; k++)
        for (int i = 0; i < M_COUNT; i++) {
            int m = k % 2 ? M_COUNT - 1 - i : i; /* odd rounds in reverse: no mode always first */
            int r = run_mode(argv[1], (enum mode)m, count, &h[m], &cpu[m], &wbytes[m]);
            if (r) {
                fprintf(stderr, "prealloc_bench: %s: %s\n", mode_name[m], strerror(-r));
                free(h);
                return 1;
            }
        }
    for (int m = 0; m < M_COUNT; m++)
        printf("{\"bench\":\"prealloc\",\"mode\":\"%s\",\"appends\":%lu,\"p50_us\":%.1f,"
               "\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"mean_us\":%.1f,"
               "\"cpu_us_each\":%.1f,\"dirtied_bytes_each\":%.0f}\n",
               mode_name[m], (unsigned long)h[m].n, rb_hist_quantile(&h[m], 0.50) / 1e3,
               rb_hist_quantile(&h[m], 0.90) / 1e3, rb_hist_quantile(&h[m], 0.99) / 1e3,
               (double)h[m].max / 1e3, rb_hist_mean(&h[m]) / 1e3,
               (double)cpu[m] / 1e3 / (double)h[m].n, (double)wbytes[m] / (double)h[m].n);
    free(h);
    return 0;
}
