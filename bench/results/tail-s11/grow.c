#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}
typedef struct {
    unsigned long off;
    unsigned a, b, c, d;
} ent;
int main(int argc, char **argv)
{
    int mode = atoi(argv[1]);
    /* churn: big frees raise glibc's mmap threshold, as a server's buffers would */
    for (int i = 0; i < 8; i++) {
        void *p = malloc(8 << 20);
        memset(p, 1, 8 << 20);
        free(p);
    }
    size_t cap = 1024, len = 0;
    ent *e = malloc(cap * sizeof *e);
    for (size_t n = 0; n < (3u << 20); n++) {
        if (len == cap) {
            double t0 = now();
            size_t nc = cap * 2;
            ent *ne;
            if (mode == 0) {
                ne = malloc(nc * sizeof *ne);
                memcpy(ne, e, len * sizeof *e);
                free(e);
            } else ne = realloc(e, nc * sizeof *ne);
            e = ne;
            cap = nc;
            double t1 = now();
            if (cap >= (1u << 18))
                printf("mode %d grow to %zu (%zu MB): %.2f ms\n", mode, cap, cap * sizeof *e >> 20,
                       t1 - t0);
        }
        e[len].off = n;
        e[len].a = 1;
        len++;
    }
    return 0;
}
