/* core/rt_shard: thread-per-core shard threads. */
#ifndef RT_SHARD_H
#define RT_SHARD_H

#include <pthread.h>
#include <stdbool.h>

/* Upper bound on shard threads: the mailbox mesh is N x N rings. */
#define RT_SHARDS_MAX 64

typedef void (*rt_shard_fn)(int shard, void *arg);

typedef struct rt_shards {
    int n;
    pthread_t th[RT_SHARDS_MAX];
} rt_shards;

/* Online CPUs (at least 1, at most RT_SHARDS_MAX). */
int rt_cpu_count(void);
/* Starts `n` threads running fn(i, arg). When `pin` is true, thread i is pinned to the i-th CPU
 * of the process's affinity mask (wrapping). Signals are blocked in the new threads (the process
 * handles them through a signalfd). Returns 0 or a negative errno (threads already started are
 * left running; join them). */
int rt_shards_start(rt_shards *s, int n, bool pin, rt_shard_fn fn, void *arg);
void rt_shards_join(rt_shards *s);

/* Blocks SIGINT, SIGTERM, SIGHUP in the calling thread (call before starting threads) and
 * ignores SIGPIPE. Returns a signalfd (non-blocking, cloexec) for those signals, or -errno. */
int rt_signalfd_create(void);

#endif
