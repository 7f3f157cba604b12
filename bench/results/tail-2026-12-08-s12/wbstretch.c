/* Session 12 (s12-tail) micro-benchmark: how long a nice-19 thread writing back a mapped file
 * keeps a waking nice-0 thread off their shared CPU (the shard and ringq-bg-sync under
 * --fsync never). One CPU (the caller pins it with taskset). A "shard" thread sleeps 200 us at a
 * time and records how late each wake-up ran; a nice-19 "sync" thread, ROUNDS times, stores into
 * MB megabytes of a MAP_SHARED 64 MiB file (fallocated, prewritten with pwrite like a segment),
 * then syncs it: mode 0 fsync alone, mode 1 sync_file_range(SYNC_FILE_RANGE_WRITE) in STEP-KiB
 * steps first (queue/q_commit.c bg_writeback_steps), then fsync.
 *   wbstretch MODE MB ROUNDS STEP_KIB DIR */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int mode, mb, rounds, step_kib;
static const char *dir;
static atomic_int done;
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}
static void *sync_main(void *arg)
{
    (void)arg;
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
    size_t seg = 64u << 20;
    char name[256];
    snprintf(name, sizeof name, "%s/wbstretch.%d", dir, getpid());
    int fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, (off_t)seg) != 0 || fallocate(fd, 0, 0, (off_t)seg) != 0) abort();
    static char z[4096];
    for (size_t o = 0; o < seg; o += 4096)
        if (pwrite(fd, z, 4096, (off_t)o) != 4096) abort();
    fsync(fd);
    char *m = mmap(NULL, seg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) abort();
    double tsync = 0;
    for (int r = 0; r < rounds; r++) {
        size_t off = ((size_t)r * (size_t)mb << 20) % seg, n = (size_t)mb << 20;
        if (off + n > seg) off = 0;
        for (size_t o = 0; o < n; o += 64) memset(m + off + o, r + 1, 64);
        double a = now();
        if (mode == 1)
            for (off_t at = 0; at < (off_t)seg; at += (off_t)step_kib * 1024)
                sync_file_range(fd, at, (off_t)step_kib * 1024, SYNC_FILE_RANGE_WRITE);
        fsync(fd);
        tsync += now() - a;
    }
    munmap(m, seg);
    close(fd);
    unlink(name);
    printf("sync: %.1f ms per round (%d MB)\n", tsync / rounds * 1e3, mb);
    atomic_store(&done, 1);
    return NULL;
}
int main(int argc, char **argv)
{
    if (argc < 6) return 2;
    mode = atoi(argv[1]), mb = atoi(argv[2]), rounds = atoi(argv[3]), step_kib = atoi(argv[4]);
    dir = argv[5];
    pthread_t th;
    pthread_create(&th, NULL, sync_main, NULL);
    long n = 0, over1 = 0, over2 = 0, over05 = 0;
    double worst = 0, sum = 0;
    while (!atomic_load(&done)) {
        double a = now();
        struct timespec d = {.tv_nsec = 200000};
        nanosleep(&d, NULL);
        double late = now() - a - 200e-6;
        n++, sum += late;
        if (late > worst) worst = late;
        if (late > 0.5e-3) over05++;
        if (late > 1e-3) over1++;
        if (late > 2e-3) over2++;
    }
    pthread_join(th, NULL);
    printf(
        "mode %d step %d KiB: %ld wake-ups, mean %.0f us late, >0.5 ms %ld, >1 ms %ld, >2 ms %ld, "
        "worst %.2f ms\n",
        mode, step_kib, n, sum / n * 1e6, over05, over1, over2, worst * 1e3);
    return 0;
}
