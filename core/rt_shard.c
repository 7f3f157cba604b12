#include "core/rt_shard.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "core/rt_alloc.h"
#include "core/rt_log.h"

int rt_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) < n) n = CPU_COUNT(&set);
    if (n < 1) n = 1;
    if (n > RT_SHARDS_MAX) n = RT_SHARDS_MAX;
    return (int)n;
}

typedef struct start_arg {
    rt_shard_fn fn;
    void *arg;
    int shard;
    int cpu;
} start_arg;

static void *thread_main(void *p)
{
    start_arg a = *(start_arg *)p;
    rt_free(p);
    if (a.cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(a.cpu, &set);
        if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0)
            log_warn("cannot pin shard thread", "shard=%d cpu=%d", a.shard, a.cpu);
    }
    log_set_shard(a.shard);
    a.fn(a.shard, a.arg);
    return NULL;
}

int rt_shards_start(rt_shards *s, int n, bool pin, rt_shard_fn fn, void *arg)
{
    if (n < 1 || n > RT_SHARDS_MAX) return -EINVAL;
    int cpus[CPU_SETSIZE];
    int ncpu = 0;
    cpu_set_t set;
    if (pin && sched_getaffinity(0, sizeof set, &set) == 0)
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &set)) cpus[ncpu++] = c;
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    s->n = 0;
    int rc = 0;
    for (int i = 0; i < n; i++) {
        start_arg *a = rt_malloc(sizeof *a);
        if (!a) {
            rc = -ENOMEM;
            break;
        }
        *a = (start_arg){.fn = fn, .arg = arg, .shard = i, .cpu = ncpu ? cpus[i % ncpu] : -1};
        int e = pthread_create(&s->th[i], NULL, thread_main, a);
        if (e) {
            rt_free(a);
            rc = -e;
            break;
        }
        s->n++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

void rt_shards_join(rt_shards *s)
{
    for (int i = 0; i < s->n; i++) pthread_join(s->th[i], NULL);
    s->n = 0;
}

int rt_signalfd_create(void)
{
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) return -EINVAL;
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}
