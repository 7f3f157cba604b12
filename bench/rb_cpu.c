/* bench/rb_cpu: CPU time of another process (the server under test), from /proc/PID/stat, and
 * of this one (the load generator), from getrusage. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench/rb_engine.h"

/* /proc/PID/stat is at most a few hundred bytes; comm is at most 16 (TASK_COMM_LEN). */
#define RB_PROC_STAT_BYTES 1024

int rb_proc_cpu_ns(int pid, uint64_t *out)
{
    char path[64], buf[RB_PROC_STAT_BYTES];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    int err = n < 0 ? -errno : 0;
    close(fd);
    if (err) return err;
    buf[n] = 0;
    /* Fields after "(comm)": state is field 3, utime 14 and stime 15 (proc(5)); comm may hold
     * spaces and parentheses, so start after the last ')'. */
    const char *p = strrchr(buf, ')');
    if (!p) return -EBADMSG;
    unsigned long long ut, st;
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -EBADMSG;
    long tck = sysconf(_SC_CLK_TCK);
    if (tck <= 0) return -EINVAL;
    *out = (uint64_t)(ut + st) * (1000000000ull / (uint64_t)tck);
    return 0;
}

int rb_self_cpu_ns(uint64_t *out)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return -errno;
    uint64_t us = (uint64_t)ru.ru_utime.tv_sec * 1000000u + (uint64_t)ru.ru_utime.tv_usec +
                  (uint64_t)ru.ru_stime.tv_sec * 1000000u + (uint64_t)ru.ru_stime.tv_usec;
    *out = us * 1000u;
    return 0;
}

int rb_self_sleeps(uint64_t *out)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return -errno;
    *out = ru.ru_nvcsw > 0 ? (uint64_t)ru.ru_nvcsw : 0;
    return 0;
}
