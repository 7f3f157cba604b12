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
static uint64_t rd(int fd)
{
    char b[96];
    ssize_t n = pread(fd, b, 95, 0);
    b[n] = 0;
    uint64_t r;
    sscanf(b, "%" SCNu64, &r);
    return r;
}
int main(int argc, char **argv)
{
    int fd = open("/proc/thread-self/schedstat", O_RDONLY);
    int mode = argc > 1;
    for (int k = 0; k < 8; k++) {
        uint64_t r0 = rd(fd);
        uint64_t s = now();
        while (now() - s < 3000000)
            ;
        if (mode) {
            struct timespec t;
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
        }
        uint64_t r1 = rd(fd);
        printf("%s spin 3 ms: schedstat run delta %.3f ms\n",
               mode ? "with cputime read" : "schedstat only", (r1 - r0) / 1e6);
    }
}
