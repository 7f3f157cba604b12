/* server/srv_queue_lock: one ringqd per data directory, and the message that names the other.
 *
 * The directory itself is flock()ed (so flock(1) on it, or any tool that locks it, also keeps
 * ringqd out) and ringqd.pid inside it names the holder. Each partition's log keeps its own
 * lock too (q_log_open); this one is taken first, in the main thread, so the refusal is one
 * clear line before any shard starts. The lock lives as long as the process: the kernel drops
 * it however the process ends, and a stale ringqd.pid without the lock means nothing. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "server/srv_queue_int.h"

#define PID_FILE "ringqd.pid"

/* The pid recorded by the holder, or 0 when none is readable or it is not alive. */
static long holder_pid(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, PID_FILE);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    long pid = 0;
    if (fscanf(f, "%ld", &pid) != 1) pid = 0;
    fclose(f);
    if (pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno == ESRCH)) return 0;
    return pid;
}

static int write_pid(const char *dir)
{
    char tmp[4200], path[4200];
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, PID_FILE);
    snprintf(path, sizeof path, "%s/%s", dir, PID_FILE);
    FILE *f = fopen(tmp, "w");
    if (!f) return -errno;
    int r = fprintf(f, "%ld\n", (long)getpid()) < 0 ? -EIO : 0;
    if (fclose(f) != 0 && r == 0) r = -errno;
    if (r == 0 && rename(tmp, path) != 0) r = -errno;
    return r;
}

int srv_queue_lock_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        fprintf(stderr, "ringqd: cannot open data directory %s: %s\n", dir, strerror(e));
        return -e;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e != EWOULDBLOCK) {
            fprintf(stderr, "ringqd: cannot lock data directory %s: %s\n", dir, strerror(e));
            return -e;
        }
        long pid = holder_pid(dir);
        if (pid)
            fprintf(stderr, "ringqd: data directory %s is in use by another ringqd (pid %ld)\n",
                    dir, pid);
        else
            fprintf(stderr, "ringqd: data directory %s is in use by another process (locked)\n",
                    dir);
        return -EBUSY;
    }
    int r = write_pid(dir);
    if (r < 0) {
        fprintf(stderr, "ringqd: cannot write %s/%s: %s\n", dir, PID_FILE, strerror(-r));
        close(fd);
        return r;
    }
    return fd; /* held until the process exits */
}
