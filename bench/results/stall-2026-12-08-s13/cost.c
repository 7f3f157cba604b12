#include <stdio.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdint.h>
#include <inttypes.h>
static uint64_t now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000ull + t.tv_nsec;
}
int main(void)
{
    int fd = open("/proc/thread-self/schedstat", O_RDONLY);
    char b[96];
    int N = 200000;
    uint64_t a, r, d;
    volatile uint64_t sink = 0;
    for (int rep = 0; rep < 3; rep++) {
        a = now();
        for (int i = 0; i < N; i++) {
            ssize_t n = pread(fd, b, 95, 0);
            b[n] = 0;
            sscanf(b, "%" SCNu64 " %" SCNu64, &r, &d);
            sink += r;
        }
        uint64_t t1 = now() - a;
        a = now();
        for (int i = 0; i < N; i++) {
            struct timespec t;
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
            sink += t.tv_nsec;
        }
        uint64_t t2 = now() - a;
        printf("schedstat pread+sscanf %.0f ns, thread cputime %.0f ns\n", (double)t1 / N,
               (double)t2 / N);
    }
    /* staleness of schedstat run time vs cputime after 3ms spin */
    for (int k = 0; k < 3; k++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
        ssize_t n = pread(fd, b, 95, 0);
        b[n] = 0;
        uint64_t r0;
        sscanf(b, "%" SCNu64, &r0);
        uint64_t s = now();
        while (now() - s < 3000000)
            ;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
        n = pread(fd, b, 95, 0);
        b[n] = 0;
        uint64_t r1;
        sscanf(b, "%" SCNu64, &r1);
        printf("spin 3ms: cputime delta %.3f ms, schedstat run delta %.3f ms\n",
               ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 1e6, (r1 - r0) / 1e6);
    }
}
