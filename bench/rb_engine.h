/* bench/rb_engine: ringq-bench's load generator — generator threads each running a core ev_loop,
 * connections opened through an rb_driver (bench/rb_driver.h), closed- or open-loop scheduling,
 * the warmup / measure / stop phases, the progress line, verification and the result.
 *
 * Scenarios (rb_opts.scenario)
 *   RB_RPC      unary calls on --conns RB_ROLE_CALL connections; latency per call.
 *   RB_ENQUEUE  producers only; one operation = one send() of --batch tasks; latency per send.
 *   RB_E2E      producers and --workers consumers; every task is acked; latency = the time the
 *               task reaches the consumer minus the time stamped in its payload (closed loop:
 *               when it was sent; open loop: its SCHEDULED send time, so a system that falls
 *               behind shows it in the latency instead of hiding it: no coordinated omission).
 *               The producers' own send() latency (until the enqueue is confirmed) goes to
 *               rb_result.op_hist ("send_latency_us" in the JSON).
 *               Closed-loop producers pause while the backlog (tasks stamped and not yet
 *               received, minus failed sends) is >= rb_result.max_backlog, which is
 *               max(4 x conns x inflight x batch, 1024), and resume once it is back to half;
 *               otherwise producers faster than the consumers would only measure a growing
 *               queue. Open loop has no such bound (falling behind is what it measures).
 *   RB_DRAIN    preload --preload tasks (closed loop, batches of max(--batch, 64) capped by the
 *               driver, at least 4 in flight per connection), check backlog() == preload, then
 *               start the consumers and time until every task is received and acked. Latency =
 *               ack round trip. No warmup; duration_s is the time to empty.
 *
 * Streams (rb_opts.streams; rb_target.stream for the driver, see rb_driver.h)
 *   publish     RB_ENQUEUE on a stream: producers publish batches of --batch messages; latency
 *               per publish (until the system confirmed every message of it).
 *   fanout      RB_E2E on a stream read by --groups G consumer groups of --workers consumer
 *               connections each: every message must reach each group exactly once (one seen-set
 *               per group) and be acked there; latency = publish-to-deliver of every delivery;
 *               tasks = messages acked by all G groups (acks / G). The backlog bound and the
 *               end-of-run check count G deliveries per message.
 *
 * Phases (rpc / enqueue / e2e): warmup seconds discarded, then duration seconds measured (ops,
 * tasks and latencies counted when they complete inside the window), then producers stop, their
 * operations in flight complete and, for e2e, consumers drain what was enqueued. A stage that
 * makes no progress for RB_STALL_S fails the run.
 *
 * Open loop (rate > 0): every generator thread owns a schedule of rate x (its connections /
 * all connections) slots per second. A timer runs a pass at the next slot, but at most once per
 * tick (rb_opts.tick_us, default RB_OPEN_TICK_US_DEFAULT; 0: a pass per slot); a pass sends
 * every due slot, all on the pass's connection (the next one in turn) while it has room, then on
 * the next with room (at most rb_opts.inflight outstanding per connection, default
 * RB_OPEN_INFLIGHT_DEFAULT in open loop), inside the driver's hold bracket (rb_driver.hold), so
 * the pass leaves in one socket write. Each operation carries its scheduled time, which its
 * latency counts from (the slots' times do not depend on the tick): a send leaves at most one
 * tick (plus the timer's own delay) after its slot, and that wait is in its latency. One that
 * leaves more than RB_LATE_NS after it counts in late_sends.
 *   Why passes: with a pass per slot the generator paid a socket write, a wake-up and an answer
 *   read per task; on loopback each write also runs the receiver's TCP path in the sender's
 *   context, so at half of ringq's peak the open loop cost four times the closed loop per task
 *   (bench/results/tail-targets-2026-12-07.md, "Session 10 (s10-openloop)").
 *
 * Payloads (tasks): the first bytes carry the stamp (rb_payload_stamp); the rest is filler. */
#ifndef RB_ENGINE_H
#define RB_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bench/rb_driver.h"
#include "bench/rb_hist.h"

/* A send that leaves this long after its scheduled time is late (open loop). */
#define RB_LATE_NS 1000000ull
/* Outstanding operations per connection in open loop when --inflight is not given. */
#define RB_OPEN_INFLIGHT_DEFAULT 1024u
/* Open loop: the schedule's passes are at least this far apart when --tick-us is not given.
 * 100 us: at the suite's half-of-peak rates (17-63k tasks/s) a pass carries 2-6 sends in one
 * write, where a pass per slot made a write (and, on loopback, the server's receive path) per
 * task; it adds at most 100 us to a send (a tenth of the 1 ms p99 target, and counted
 * in the latency, from the slot). Bounded by RB_TICK_US_MAX. */
#define RB_OPEN_TICK_US_DEFAULT 100u
#define RB_TICK_US_MAX 1000u /* RB_LATE_NS: a tick never makes a send late by itself */
/* A stop / drain / preload stage that completes nothing for this long fails the run. */
#define RB_STALL_S 10u
/* Bytes of the stamp: binary (8 bytes time + 8 bytes sequence, little-endian) or, for drivers
 * with binary_safe == false, the same 16 bytes as 32 lowercase hex digits. */
#define RB_STAMP_BYTES 16u
#define RB_STAMP_TEXT_BYTES 32u
/* Points of the result's CDF. */
#define RB_CDF_POINTS 100u
/* Bounds of the options (sanity, and memory: payload scratch is batch x size per thread). */
#define RB_SIZE_MAX (16u * 1024u * 1024u)
#define RB_BATCH_MAX 10000u
#define RB_CONNS_MAX 4096u
#define RB_THREADS_MAX 64u
/* fanout: consumer groups (each one a durable consumer the system keeps a position for). */
#define RB_GROUPS_MAX 64u
/* --subjects: distinct subjects a stream publish run spreads over (enough to fill 64 members) */
#define RB_SUBJECTS_MAX 1024u
/* --stream-partitions: as the server's Q_STREAM_PARTS_MAX (docs/semantics.md) */
#define RB_STREAM_PARTS_MAX 64u
/* Tasks one run can stamp is 2^40 (rb_eng_int.h); a preload stays well below. */
#define RB_PRELOAD_MAX (1ull << 36)

typedef enum { RB_RPC = 0, RB_ENQUEUE, RB_E2E, RB_DRAIN } rb_scenario;

/* Everything the CLI sets (rb_main.c fills it; strings are borrowed for the run). */
typedef struct rb_opts {
    rb_scenario scenario;
    const char *system;
    rb_target t; /* addr, queue, method, size, lease_ms */
    uint32_t batch, conns, inflight, workers, credits, threads;
    bool streams;      /* publish / fanout: the scenario runs on a stream (see above) */
    uint32_t groups;   /* fanout: consumer groups, 1..RB_GROUPS_MAX */
    bool inflight_set; /* --inflight given (open loop otherwise uses the default above) */
    double rate;       /* ops/s in total; 0 = closed loop */
    uint32_t tick_us;  /* open loop: passes at least this far apart (0: one per slot) */
    bool tick_set;     /* --tick-us given (else RB_OPEN_TICK_US_DEFAULT) */
    double warmup_s, duration_s;
    uint64_t preload;
    const char *label;     /* may be NULL */
    const char *json_path; /* NULL: stdout */
    bool quiet;
    int server_pid; /* > 0: its CPU time over the measured window goes into the result */
} rb_opts;

/* What a run measured. rb_engine_run fills it; hist is the merged latency histogram (ns). */
typedef struct rb_result {
    double duration_s;   /* measured window (drain: time to empty) */
    uint64_t ops, tasks; /* completed OK in the window */
    double ops_per_s, tasks_per_s;
    uint64_t errors; /* failed ops + failed acks + foreign/duplicate tasks + fatal */
    uint64_t late_sends;
    uint64_t late_cap_sends; /* of late_sends, those due while every connection was at its cap */
    uint64_t ops_started;    /* operations handed to the driver, the whole run (late_sends' base) */
    uint64_t op_errors, ack_errors;
    uint64_t stamped, enqueued, enqueue_errors, received, acked, duplicates, foreign;
    uint64_t max_backlog;  /* e2e closed loop: the producers' bound; else 0 */
    uint64_t preloaded;    /* drain */
    int64_t driver_allocs; /* the driver's heap allocations over the run (rb_driver.allocs); -1:
                            * the driver does not count them */
    int64_t driver_writes; /* its socket writes over the run (rb_driver.writes); -1: not counted */
    uint64_t passes;       /* open loop: schedule passes that sent (the run; ops_started's base) */
    uint64_t turns;        /* the generator threads' loop iterations in the measured window */
    int64_t sleeps;        /* this process's voluntary context switches in the window (its
                            * threads going to sleep: each is a wake-up later); -1 unknown */
    uint32_t tick_us;      /* open loop: the tick in use */
    int64_t backlog_end;   /* backlog() after the run; -1 when unknown */
    size_t size_effective; /* payload bytes sent per task */
    uint32_t batch_effective;
    char version[128];   /* system version, "" when unknown */
    double server_cpu_s; /* CPU time (user + system) of o->server_pid in the window; -1 unknown */
    double client_cpu_s; /* the same of this process (every generator thread); -1 unknown */
    bool passed;
    char error[512]; /* why it failed, "" when passed */
    rb_hist hist;
    rb_hist op_hist; /* e2e: send() latency (enqueue / publish confirmation) in the window */
} rb_result;

/* Runs the scenario with driver `d` and fills `r` (which the caller allocates: it is large).
 * Prints the progress line on stderr unless o->quiet. Returns 0 when the run passed, 1 when
 * it failed (r->error says why). */
int rb_engine_run(const rb_opts *o, const rb_driver *d, rb_result *r);

/* CPU time (utime + stime, every thread, exited ones included) of process `pid` so far, in ns
 * (clock-tick resolution, usually 10 ms), from /proc/PID/stat. 0 or a negative errno. */
int rb_proc_cpu_ns(int pid, uint64_t *out);
/* An open-loop run whose late sends exceed this share of its sends did not keep its schedule.
 * Late sends that were due while every connection was at its in-flight cap waited for the
 * system's answers ("cap_limited": the system's latency); the others waited for this process
 * ("generator_limited": the generator, not the system, set that latency). 1 %: the p99 then
 * includes late sends by construction. */
#define RB_GEN_LIMITED_LATE_SHARE 0.01

/* CPU time (utime + stime, every thread) of this process so far, in ns (getrusage: microsecond
 * resolution). 0 or a negative errno. */
int rb_self_cpu_ns(uint64_t *out);
/* Voluntary context switches (every thread) of this process so far (getrusage ru_nvcsw). 0 or a
 * negative errno. */
int rb_self_sleeps(uint64_t *out);

/* Writes the result JSON object (one line) to `f`. */
void rb_report_json(FILE *f, const rb_opts *o, const rb_driver *d, const rb_result *r);

/* ---- payload stamps ---- */
/* Bytes the stamp takes for a driver (binary_safe or not). */
static inline size_t rb_stamp_bytes(bool binary_safe)
{
    return binary_safe ? RB_STAMP_BYTES : RB_STAMP_TEXT_BYTES;
}
/* Writes the stamp (time t_ns on CLOCK_MONOTONIC, sequence number seq) at the start of p;
 * len must be >= rb_stamp_bytes(binary_safe). */
void rb_payload_stamp(uint8_t *p, size_t len, uint64_t t_ns, uint64_t seq, bool binary_safe);
/* Reads a stamp back; false when the payload is too short or (text) not hex. */
bool rb_payload_read(const uint8_t *p, size_t len, bool binary_safe, uint64_t *t_ns, uint64_t *seq);

/* Drivers compiled into this binary (bench/rb_drivers.c), for task queues or (`streams`) for the
 * publish / fanout scenarios. *known is set to whether `name` is a system ringq-bench knows for
 * that kind of scenario; NULL is returned when it is unknown or its driver was not built. */
const rb_driver *rb_driver_find(const char *name, bool streams, bool *known);
/* "ringq|grpc|..." for the usage text. */
const char *rb_driver_names(bool streams);

#endif
