/* core/ev_trace: what a long shard-loop turn was made of, for finding stalls (issue 19).
 *
 * The stall histograms (ev_loop_stall_hist, ev_stall.h) say how long a turn was and whether the
 * thread had its CPU; not what ran. With the trace on, the loop times every part of a turn
 *   op kinds   each completion's callback, by the kind of its op (recv, send, fsync, ...);
 *   wake       wake-up messages (MSG_RING / eventfd: the handlers of ev_loop_add_wake_handler);
 *   timers     the due timers' callbacks;
 *   hook<i>    the i-th hook (added order) in the iteration and before-sleep phases;
 * and, for a turn whose wall time reaches the threshold, writes one log line (level warn, so a
 * server started with --log-level warn prints it) with the wall time, the preempted part
 * (ev_stall), each part's count and milliseconds, and the slowest single callback (its part,
 * milliseconds and, for a recv, its bytes), and, when ev_stall split the turn, its cpu and
 * blocked parts (cpu_ms, blocked_ms: ev_stall.h; "-" otherwise). A turn is what the stall
 * histogram counts: from the wake-up to the next submit or wait.
 *
 * Switched on per process by the environment variable RINGQ_TURN_TRACE_MS (a whole number of
 * milliseconds, 1..EV_TRACE_MS_MAX; unset, empty or invalid: off), read when a loop is created.
 * Cost when on: one clock read per callback and per hook call; at most EV_TRACE_LINES_PER_S
 * lines a second per loop (the rest counted, and said in the next line). Off: nothing.
 *
 * Threads: one ev_trace per loop, used by the loop's thread only. */
#ifndef EV_TRACE_H
#define EV_TRACE_H

#include <stdbool.h>
#include <stdint.h>

/* Parts a turn is split into: the op kinds (ev_op_kind, < EV_TRACE_KINDS), then these. */
#define EV_TRACE_KINDS 16
#define EV_TRACE_PART_WAKE EV_TRACE_KINDS
#define EV_TRACE_PART_TIMERS (EV_TRACE_KINDS + 1)
#define EV_TRACE_PART_HOOK0 (EV_TRACE_KINDS + 2)
#define EV_TRACE_HOOKS 8 /* == EV_HOOKS_MAX (asserted in ev_reactor.c) */
#define EV_TRACE_PARTS (EV_TRACE_PART_HOOK0 + EV_TRACE_HOOKS)
/* Largest threshold accepted: 10 s (a turn that long is a hang, not a stall to break down). */
#define EV_TRACE_MS_MAX 10000u
/* Lines a loop writes a second at most: a machine in trouble has long turns back to back, and
 * each line is a write(2) on the shard thread. */
#define EV_TRACE_LINES_PER_S 20u

typedef struct ev_trace {
    uint64_t min_ns; /* turns at least this long are logged; 0: the trace is off */
    uint64_t part_ns[EV_TRACE_PARTS];
    uint32_t part_n[EV_TRACE_PARTS];
    uint64_t max_ns;       /* the slowest single callback of the turn */
    uint32_t max_part;     /* ... its part */
    uint32_t max_bytes;    /* ... and its recv bytes (0 for other kinds) */
    uint64_t window_ns;    /* start of the current second of the line limit */
    uint32_t window_lines; /* lines written in it */
    uint64_t suppressed;   /* long turns not written since the last line */
    uint64_t logged_total; /* lines written */
    uint64_t long_total;   /* turns at least min_ns long */
    uint64_t last_wall_ns; /* the last long turn's wall time, and its parts (tests) */
    uint64_t last_part_ns[EV_TRACE_PARTS];
    uint64_t last_cpu_ns, last_blocked_ns; /* ... its cpu and blocked parts (UINT64_MAX: none) */
} ev_trace;

/* Caller's memory: reads RINGQ_TURN_TRACE_MS (ev_trace_parse_ms). */
void ev_trace_init(ev_trace *t);
/* Switches the trace on with a threshold of `min_ns` (0: off), whatever the environment says
 * (tests). */
void ev_trace_set(ev_trace *t, uint64_t min_ns);
static inline bool ev_trace_on(const ev_trace *t) { return t->min_ns != 0; }
/* Parses a threshold in milliseconds: 1..EV_TRACE_MS_MAX. Returns 0 with *out_ns set, or
 * -EINVAL (NULL, empty, not a whole number, out of range). */
int ev_trace_parse_ms(const char *s, uint64_t *out_ns);
/* Counts `ns` of part `part` (< EV_TRACE_PARTS); `bytes` is a recv's length (else 0). */
void ev_trace_add(ev_trace *t, unsigned part, uint64_t ns, uint32_t bytes);
/* The turn of `wall_ns`, `preempted_ns` of it without a CPU (UINT64_MAX: not known), ended at
 * `now_ns`: logs it when long (shard `shard`), and starts the next turn's counts. Takes the
 * calling thread's last ev_stall split (ev_stall_take_last) for the line's cpu and blocked
 * parts when preempted_ns is known. */
void ev_trace_turn_end(ev_trace *t, int shard, uint64_t wall_ns, uint64_t preempted_ns,
                       uint64_t now_ns);

#endif
