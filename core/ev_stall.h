/* core/ev_stall: who a long shard-loop turn belongs to: the thread's CPU, the scheduler, or a
 * blocking call.
 *
 * The loop stall histogram (ev_loop_stall_hist) counts the wall time of each turn, so a turn
 * during which the thread was runnable but had no CPU (preempted, or woken and waiting for a
 * CPU) counts the scheduler's time as ringqd's. For each turn of at least EV_STALL_SPLIT_NS,
 * ev_stall splits that wall time into
 *   preempted  the thread's run delay in the turn (runnable, not running): the kernel's
 *              per-thread sched_info.run_delay, /proc/thread-self/schedstat field 2 (ns);
 *   on-CPU     the rest: the thread's own work, and any blocking call it made (a sleep or a
 *              synchronous syscall is ringqd's doing, not the scheduler's). Interrupts and
 *              softirqs served on its CPU meanwhile (loopback TCP's receive processing) and
 *              hypervisor steal are not run delay either, so they count here too.
 * and counts each part in its own histogram, one observation per long turn. The on-CPU part is
 * split once more, by the thread's CPU time (CLOCK_THREAD_CPUTIME_ID read beside schedstat):
 *   cpu        the thread's CPU time in the turn: its own instructions, kernel work in its
 *              syscalls and page faults, and (this kernel has no IRQ_TIME_ACCOUNTING) the
 *              interrupts and softirqs served while it ran;
 *   blocked    on-CPU minus cpu: the thread slept inside a call (a mutex, an ext4 lock, a page
 *              fault waiting for I/O, a sleep), or hypervisor steal took its CPU.
 * Not schedstat's field 1 (run time), although it comes with the same pread for free: for the
 * running thread it is the scheduler's last update, up to a tick (4 ms at HZ=250) old — a 3 ms
 * spin read 0.3 to 4.8 ms there — where the clock brings the count up to date first.
 * The cpu and blocked parts count into the histograms the loop's thread registered with
 * ev_stall_set_thread_hists (else the ev_stall's own), and the last long turn's split is left
 * for ev_trace's line (ev_stall_take_last).
 *
 * Cost: reading schedstat is a pread of ~0.4-1.6 us on this VM and clock_gettime(CLOCK_THREAD_
 * CPUTIME_ID) a syscall of ~0.2-2 us, too much per turn at tens of thousands of turns a second
 * (bench/results/stall-2026-12-08-s13/cost.c: 390 and 190 ns on an idle CPU). So both are read
 * (a) when a long turn ends, and (b) as a baseline at the start of a turn at most once every
 * EV_STALL_BASE_NS. A long turn's preempted part is the run delay since the newest baseline,
 * capped at the turn's wall time: it over-counts by the run delay between that baseline and the
 * turn's start, which is at most EV_STALL_BASE_NS of wall time (zero when the baseline was
 * read at this turn's start); the cpu part likewise over-counts by the run time in that gap, so
 * blocked (the remainder, floored at 0) is a lower bound. At most 1,000 baselines a second:
 * the clock read adds ~0.2 ms of CPU a second at most. Without schedstat (CONFIG_SCHED_INFO
 * off) nothing is split.
 *
 * Threads: one ev_stall per loop, used by the loop's thread only; the histograms follow
 * rt_hist's one-writer rule, so any thread may read them. */
#ifndef EV_STALL_H
#define EV_STALL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/rt_hist.h"

/* Turns at least this long are split: 1 ms, a fifth of the 5 ms stall bound and the
 * open-loop p99 target, far above a normal turn (tens of us). */
#define EV_STALL_SPLIT_NS 1000000ull
/* The run-delay baseline is re-read at a turn start at most this often: 1 ms, so at most 1,000
 * reads (~1.6 ms of CPU) a second, and a long turn's preempted part is off by at most the run
 * delay of 1 ms of wall time before it. */
#define EV_STALL_BASE_NS 1000000ull

typedef struct ev_stall {
    int fd;               /* /proc/thread-self/schedstat of the loop's thread; -1 not yet opened */
    bool off;             /* schedstat unavailable: nothing is split */
    bool base_ok;         /* base_rd_ns holds a reading */
    uint64_t base_rd_ns;  /* run delay at the baseline */
    uint64_t base_run_ns; /* run time (on a CPU) at the baseline */
    uint64_t base_at_ns;  /* when the baseline was read (rt_now_ns) */
    rt_hist *oncpu, *preempted; /* the own ones, or the owner's (ev_stall_set_hists) */
    rt_hist oncpu_own, preempted_own;
    rt_hist cpu_own, blocked_own;          /* counted when the thread registered none */
    uint64_t last_cpu_ns, last_blocked_ns; /* the last split turn's (tests) */
} ev_stall;

/* Caller's memory; opens nothing yet (the file is the calling thread's, so it is opened by the
 * first ev_stall_turn_start, on the loop's thread). */
void ev_stall_init(ev_stall *s);
/* Closes the file. */
void ev_stall_deinit(ev_stall *s);
/* Counts into `oncpu` and `preempted` (borrowed: they must outlive `s`), or back into the own
 * ones when NULL. Owner thread only. */
void ev_stall_set_hists(ev_stall *s, rt_hist *oncpu, rt_hist *preempted);
/* A turn starts at `now_ns`: refreshes the baseline when it is older than EV_STALL_BASE_NS. */
void ev_stall_turn_start(ev_stall *s, uint64_t now_ns);
/* A turn that started at `start_ns` ends at `end_ns`: splits it when it is long. Returns its
 * preempted part (ns), or UINT64_MAX when the turn was not split (short, or no schedstat). */
uint64_t ev_stall_turn_end(ev_stall *s, uint64_t start_ns, uint64_t end_ns);

/* The calling thread's run delay so far (ns) from `fd`, an open /proc/thread-self/schedstat.
 * 0, or a negative errno (-EBADMSG when the file does not parse). */
int ev_stall_read_run_delay(int fd, uint64_t *out_ns);
/* The calling thread's CPU time so far (ns): CLOCK_THREAD_CPUTIME_ID, which brings the
 * scheduler's count up to date first. 0, or a negative errno. */
int ev_stall_read_cpu(uint64_t *out_ns);

/* The long turns of the loops the calling thread runs count their cpu and blocked parts into
 * `cpu` and `blocked` (borrowed: they must outlive the thread's loops; the one-writer rule makes
 * this thread their writer), or into each ev_stall's own when NULL. Per thread, not per loop,
 * because a loop is run by one thread and core/ev_reactor (which owns the ev_stall) has no
 * setter for them: the server calls it on the shard thread. */
void ev_stall_set_thread_hists(rt_hist *cpu, rt_hist *blocked);
/* The split of the calling thread's last long turn, once: true and the parts (ns) when a turn
 * was split since the previous call, else false. ev_trace's line reads it right after
 * ev_stall_turn_end on the same thread. */
bool ev_stall_take_last(uint64_t *cpu_ns, uint64_t *blocked_ns);

#endif
