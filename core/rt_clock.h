/* core/rt_clock: monotonic and wall time in nanoseconds. */
#ifndef RT_CLOCK_H
#define RT_CLOCK_H

#include <stdint.h>
#include <time.h>

#define RT_NS_PER_MS 1000000ull
#define RT_NS_PER_S 1000000000ull

/* CLOCK_MONOTONIC in ns: for deadlines, timers and durations. */
static inline uint64_t rt_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * RT_NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* CLOCK_REALTIME in ns since the epoch: for timestamps written to disk or sent to clients. */
static inline uint64_t rt_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * RT_NS_PER_S + (uint64_t)ts.tv_nsec;
}

#endif
