/* core/ev_stall: splits long shard-loop turns into cpu, blocked and preempted time (ev_stall.h). */
#include "core/ev_stall.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

/* schedstat is three decimal u64s and a newline: at most 3 x 20 digits + 3 bytes. */
#define EV_SCHEDSTAT_BYTES 96

/* The calling thread's registered histograms (ev_stall_set_thread_hists) and its last split. */
static _Thread_local rt_hist *t_cpu, *t_blocked;
static _Thread_local bool t_last_ok;
static _Thread_local uint64_t t_last_cpu, t_last_blocked;

int ev_stall_read_run_delay(int fd, uint64_t *out_ns)
{
    char b[EV_SCHEDSTAT_BYTES];
    ssize_t n = pread(fd, b, sizeof b - 1, 0);
    if (n < 0) return -errno;
    b[n] = 0;
    uint64_t on_cpu, delay;
    if (sscanf(b, "%" SCNu64 " %" SCNu64, &on_cpu, &delay) != 2) return -EBADMSG;
    *out_ns = delay;
    return 0;
}

int ev_stall_read_cpu(uint64_t *out_ns)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return -errno;
    *out_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    return 0;
}

void ev_stall_set_thread_hists(rt_hist *cpu, rt_hist *blocked)
{
    t_cpu = cpu;
    t_blocked = blocked;
}

bool ev_stall_take_last(uint64_t *cpu_ns, uint64_t *blocked_ns)
{
    if (!t_last_ok) return false;
    t_last_ok = false;
    *cpu_ns = t_last_cpu;
    *blocked_ns = t_last_blocked;
    return true;
}

void ev_stall_init(ev_stall *s)
{
    *s = (ev_stall){.fd = -1};
    s->oncpu = &s->oncpu_own;
    s->preempted = &s->preempted_own;
}

void ev_stall_deinit(ev_stall *s)
{
    if (s->fd >= 0) close(s->fd);
    s->fd = -1;
}

void ev_stall_set_hists(ev_stall *s, rt_hist *oncpu, rt_hist *preempted)
{
    s->oncpu = oncpu ? oncpu : &s->oncpu_own;
    s->preempted = preempted ? preempted : &s->preempted_own;
}

/* Reads the run delay into the baseline; false (and the split turned off when the file cannot
 * be had at all) on failure. */
static bool read_base(ev_stall *s, uint64_t now_ns)
{
    if (s->off) return false;
    if (s->fd < 0) {
        s->fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
        if (s->fd < 0) {
            s->off = true;
            return false;
        }
    }
    uint64_t run = 0, rd = 0;
    if (ev_stall_read_run_delay(s->fd, &rd) < 0 || ev_stall_read_cpu(&run) < 0) {
        s->base_ok = false;
        return false;
    }
    s->base_rd_ns = rd;
    s->base_run_ns = run;
    s->base_at_ns = now_ns;
    s->base_ok = true;
    return true;
}

void ev_stall_turn_start(ev_stall *s, uint64_t now_ns)
{
    if (!s->base_ok || now_ns - s->base_at_ns >= EV_STALL_BASE_NS) read_base(s, now_ns);
}

uint64_t ev_stall_turn_end(ev_stall *s, uint64_t start_ns, uint64_t end_ns)
{
    if (end_ns < start_ns || end_ns - start_ns < EV_STALL_SPLIT_NS || !s->base_ok)
        return UINT64_MAX;
    uint64_t wall = end_ns - start_ns, base = s->base_rd_ns, base_run = s->base_run_ns;
    if (!read_base(s, end_ns)) return UINT64_MAX;
    uint64_t delay = s->base_rd_ns > base ? s->base_rd_ns - base : 0;
    if (delay > wall) delay = wall;
    uint64_t cpu = s->base_run_ns > base_run ? s->base_run_ns - base_run : 0;
    if (cpu > wall - delay) cpu = wall - delay;
    rt_hist_observe(s->preempted, delay);
    rt_hist_observe(s->oncpu, wall - delay);
    rt_hist_observe(t_cpu ? t_cpu : &s->cpu_own, cpu);
    rt_hist_observe(t_blocked ? t_blocked : &s->blocked_own, wall - delay - cpu);
    s->last_cpu_ns = t_last_cpu = cpu;
    s->last_blocked_ns = t_last_blocked = wall - delay - cpu;
    t_last_ok = true;
    return delay;
}
