/* core/ev_trace: the breakdown of long loop turns (ev_trace.h). */
#include "core/ev_trace.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ev_stall.h"
#include "core/rt_clock.h"
#include "core/rt_log.h"

/* The names of the parts in a line: the op kinds in ev_op_kind's order, then the rest. */
static const char *const part_names[EV_TRACE_PARTS] = {
    "none",     "accept", "recv",  "send",      "read",    "write",   "fsync",
    "msg_ring", "cancel", "poll",  "fallocate", "connect", "sendmsg", "sendmsg_zc",
    "unlinkat", "kind15", "wake",  "timers",    "hook0",   "hook1",   "hook2",
    "hook3",    "hook4",  "hook5", "hook6",     "hook7",
};
_Static_assert(sizeof part_names / sizeof part_names[0] == EV_TRACE_PARTS, "a name per part");

/* A line: the fixed fields and up to EV_TRACE_PARTS "name:N/ms" entries of ~24 bytes. */
#define EV_TRACE_LINE_BYTES 1024

int ev_trace_parse_ms(const char *s, uint64_t *out_ns)
{
    if (!s || !*s) return -EINVAL;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return -EINVAL;
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > EV_TRACE_MS_MAX) return -EINVAL;
    }
    if (v == 0) return -EINVAL;
    *out_ns = v * RT_NS_PER_MS;
    return 0;
}

static void reset_turn(ev_trace *t)
{
    memset(t->part_ns, 0, sizeof t->part_ns);
    memset(t->part_n, 0, sizeof t->part_n);
    t->max_ns = 0;
    t->max_part = 0;
    t->max_bytes = 0;
}

void ev_trace_set(ev_trace *t, uint64_t min_ns) { *t = (ev_trace){.min_ns = min_ns}; }

void ev_trace_init(ev_trace *t)
{
    uint64_t ns = 0;
    if (ev_trace_parse_ms(getenv("RINGQ_TURN_TRACE_MS"), &ns) != 0) ns = 0;
    ev_trace_set(t, ns);
}

void ev_trace_add(ev_trace *t, unsigned part, uint64_t ns, uint32_t bytes)
{
    if (part >= EV_TRACE_PARTS) return;
    t->part_ns[part] += ns;
    t->part_n[part]++;
    if (ns > t->max_ns) {
        t->max_ns = ns;
        t->max_part = part;
        t->max_bytes = bytes;
    }
}

/* Whether the line limit lets one more line out now. */
static bool may_log(ev_trace *t, uint64_t now_ns)
{
    if (now_ns - t->window_ns >= RT_NS_PER_S) {
        t->window_ns = now_ns;
        t->window_lines = 0;
    }
    if (t->window_lines >= EV_TRACE_LINES_PER_S) return false;
    t->window_lines++;
    return true;
}

/* "-" for UINT64_MAX (not known), else milliseconds with three decimals. */
static void fmt_ms(char *dst, size_t cap, uint64_t ns)
{
    if (ns == UINT64_MAX) snprintf(dst, cap, "-");
    else snprintf(dst, cap, "%.3f", (double)ns / 1e6);
}

static void write_line(ev_trace *t, int shard, uint64_t wall_ns, uint64_t preempted_ns)
{
    char parts[EV_TRACE_LINE_BYTES];
    size_t n = 0;
    parts[0] = 0;
    for (unsigned i = 0; i < EV_TRACE_PARTS; i++) {
        if (!t->part_n[i] || n >= sizeof parts) continue;
        int w = snprintf(parts + n, sizeof parts - n, "%s%s:%u/%.3f", n ? "," : "", part_names[i],
                         t->part_n[i], (double)t->part_ns[i] / 1e6);
        if (w > 0) n += (size_t)w;
    }
    char pre[32], cpu[32], blk[32];
    fmt_ms(pre, sizeof pre, preempted_ns);
    fmt_ms(cpu, sizeof cpu, t->last_cpu_ns);
    fmt_ms(blk, sizeof blk, t->last_blocked_ns);
    log_write(LOG_WARN, "long loop turn",
              "loop=%d wall_ms=%.3f preempted_ms=%s cpu_ms=%s blocked_ms=%s parts=%s max=%s/%.3f "
              "max_bytes=%u suppressed=%llu",
              shard, (double)wall_ns / 1e6, pre, cpu, blk, parts[0] ? parts : "-",
              part_names[t->max_part], (double)t->max_ns / 1e6, t->max_bytes,
              (unsigned long long)t->suppressed);
    t->suppressed = 0;
    t->logged_total++;
}

void ev_trace_turn_end(ev_trace *t, int shard, uint64_t wall_ns, uint64_t preempted_ns,
                       uint64_t now_ns)
{
    if (!t->min_ns) return;
    uint64_t cpu = UINT64_MAX, blocked = UINT64_MAX;
    if (!ev_stall_take_last(&cpu, &blocked) || preempted_ns == UINT64_MAX)
        cpu = blocked = UINT64_MAX;
    if (wall_ns >= t->min_ns) {
        t->long_total++;
        t->last_cpu_ns = cpu;
        t->last_blocked_ns = blocked;
        t->last_wall_ns = wall_ns;
        memcpy(t->last_part_ns, t->part_ns, sizeof t->part_ns);
        if (may_log(t, now_ns)) write_line(t, shard, wall_ns, preempted_ns);
        else t->suppressed++;
    }
    reset_turn(t);
}
