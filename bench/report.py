#!/usr/bin/python3
"""bench/report.py: median runs, tables, issue targets and gnuplot plots for bench/suite_bench.sh.

Usage (run with /usr/bin/python3 from the repository root):
  report.py peak DIR GROUP SYSTEM COLUMN   print the best median throughput of that series (0 if none)
  report.py report DIR OUT_MD              write the Markdown report, DIR/*.dat, *.gp and *.svg

DIR holds what suite_bench.sh wrote:
  runs.tsv  one line per run: group system column scenario x run json rc alive command
            (json relative to DIR; rc = ringq-bench exit status or "start" if the server did not
            come up; alive = "yes" if the server was still running after the run)
  meta.tsv  key<TAB>value: machine, versions, command, parameters, server command lines
  raw/*.json  ringq-bench results
  raw/*.metrics, raw/*.sched  a ringqd run's /metrics; every run's pinned-CPU and server-thread
            samples (bench_lib.sh cpu_sample): the inputs of "What limits each throughput
            target" (bench/report_limits.py)
A run counts when ringq-bench exited 0, its JSON says passed, and the server survived. The median
of the counted runs by throughput is kept (with two, the lower one), with that run's latencies.
"""
import json
import math
import os
import re
import subprocess
import sys

import report_limits
import report_tail

E2E_LATENCY = "enqueue-to-start latency (producer sends → worker receives)"


def _tasks(gid, title, latency):
    """A group measured in tasks per second."""
    return (gid, title, "tasks_per_s", "tasks/s", latency)


# group id -> (title, throughput field, unit, what the latency is)
GROUPS = [
    _tasks("e2e-b1", "End to end, closed loop, batch 1", E2E_LATENCY),
    _tasks("e2e-batch", "End to end, closed loop, batched producers", E2E_LATENCY),
    _tasks("open", "End to end, open loop at half of ringq's peak",
           "enqueue-to-start latency from the scheduled send time"),
    _tasks("enqueue-b1", "Enqueue only, batch 1", "enqueue latency (request → durable confirmation)"),
    _tasks("enqueue-batch", "Enqueue only, batched",
           "enqueue latency per batch (request → durable confirmation)"),
    _tasks("drain", "Drain a preloaded backlog",
           "ack round trip (worker sends the ack → the system answers)"),
    ("rpc", "Unary gRPC (grpc.health.v1.Health/Check)", "ops_per_s", "req/s", "call latency"),
]
GROUP_INFO = {g[0]: g for g in GROUPS}
COLUMNS = ["durable", "fast"]
SYSTEM_ORDER = ["ringq", "ringq-stream", "ringq-health", "beanstalkd", "redis", "redis-ping",
                "jetstream", "grpc-sync", "grpc-callback"]


def add_sized_groups(sizes):
    """The open loop at each payload size (open-s<N>), the closed-loop runs that find its peak at
    sizes other than the suite's (peak-s<N>), the do-nothing requests at its rate (floor-s<N>)
    and the 60 s loop-stall run, after the plain "open"."""
    at = [g[0] for g in GROUPS].index("open") + 1
    new = []
    for n in sizes:
        new.append(_tasks("peak-s%s" % n, "Peak for the open loop, %s-byte payloads (closed loop, "
                          "batch 1)" % n, E2E_LATENCY))
        new.append(_tasks("open-s%s" % n, "End to end, open loop at half of ringq's peak, %s-byte "
                          "payloads" % n, "enqueue-to-start latency from the scheduled send time"))
        new.append(("floor-s%s" % n, "The floor under the open loop, %s-byte rows: requests that "
                    "do nothing at the same rate" % n, "ops_per_s", "ops/s",
                    "call latency (Redis e2e: enqueue-to-start) from the scheduled send time"))
    new.append(_tasks("stall", "Shard loop stalls: one long open-loop run",
                      "enqueue-to-start latency from the scheduled send time"))
    for g in new:
        if g[0] not in GROUP_INFO:
            GROUPS.insert(at, g)
            GROUP_INFO[g[0]] = g
            at += 1


def read_meta(d):
    """meta.tsv as a dict (a key written again: the last value); meta["_all"][key] lists every
    value, in order (a run in chunks writes its command, load and fsync figures once a chunk)."""
    meta = {"_all": {}}
    with open(os.path.join(d, "meta.tsv")) as f:
        for line in f:
            line = line.rstrip("\n")
            if "\t" in line:
                k, v = line.split("\t", 1)
                meta[k] = v
                meta["_all"].setdefault(k, []).append(v)
    return meta


def read_runs(d):
    runs = []
    path = os.path.join(d, "runs.tsv")
    if not os.path.exists(path):
        return runs
    with open(path) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) < 10:
                continue
            r = dict(zip(["group", "system", "column", "scenario", "x", "run", "json", "rc",
                          "alive", "command"], p))
            r["x"] = int(r["x"])
            r["result"] = None
            jp = os.path.join(d, r["json"])
            try:
                with open(jp) as jf:
                    r["result"] = json.load(jf)
            except (OSError, ValueError):
                pass
            res = r["result"] or {}
            if r["rc"] == "start":
                r["ok"], r["why"] = False, "server did not start"
            elif r["rc"] != "0" or not res.get("passed"):
                why = res.get("error") or ("exit %s" % r["rc"])
                if r["rc"] == "124":
                    why = "timed out"
                r["ok"], r["why"] = False, why
            elif r["alive"] != "yes":
                r["ok"], r["why"] = False, "server exited during the run"
            else:
                r["ok"], r["why"] = True, ""
            runs.append(r)
    return runs


def tput_of(group, res):
    field = GROUP_INFO[group][2] if group in GROUP_INFO else "tasks_per_s"
    v = (res or {}).get(field)
    return float(v) if isinstance(v, (int, float)) else float("nan")


def series(runs):
    """(group, system, column, x) -> dict(runs=[...], med=run or None)."""
    out = {}
    for r in runs:
        out.setdefault((r["group"], r["system"], r["column"], r["x"]), {"runs": []})["runs"].append(r)
    for s in out.values():
        ok = sorted((r for r in s["runs"] if r["ok"]), key=lambda r: tput_of(r["group"], r["result"]))
        s["med"] = ok[(len(ok) - 1) // 2] if ok else None
        s["npass"] = len(ok)
    return out


def med_tput(s):
    return tput_of(s["med"]["group"], s["med"]["result"]) if s and s.get("med") else None


def best(ser, group, system, column):
    """Best median throughput over x for one series, and its x."""
    cands = [(med_tput(s), k[3]) for k, s in ser.items()
             if k[:3] == (group, system, column) and med_tput(s) is not None]
    return max(cands) if cands else (None, None)


def lat(s, q):
    if not s or not s.get("med"):
        return None
    v = (s["med"]["result"].get("latency_us") or {}).get(q)
    return float(v) if isinstance(v, (int, float)) else None


def fmt_n(v):
    return "-" if v is None or v != v else "{:,.0f}".format(v)


def fmt_us(v):
    if v is None or v != v:
        return "-"
    if v >= 1e6:
        return "%.2f s" % (v / 1e6)
    if v >= 1000:
        return "%.2f ms" % (v / 1000)
    return "%.0f µs" % v


def fmt_ratio(a, b):
    if a is None or b is None or not b or a != a or b != b:
        return "-"
    return "%.2f×" % (a / b)


class Notes:
    """Numbered footnotes for failed or missing cells."""

    def __init__(self):
        self.items = []

    def ref(self, text):
        if text not in self.items:
            self.items.append(text)
        return "[%d]" % (self.items.index(text) + 1)


def systems_in(ser, group):
    present = {k[1] for k in ser if k[0] == group}
    return [s for s in SYSTEM_ORDER if s in present] + sorted(present - set(SYSTEM_ORDER))


def cell_for(ser, key, meta, notes):
    """(throughput cell, p50, p99, p99.9) for one series key."""
    s = ser.get(key)
    if s is None:
        na = meta.get("na.%s.%s" % (key[1], key[2]))
        if na:
            return ["n/a " + notes.ref(na)] + ["-"] * 3
        return ["not run"] + ["-"] * 3
    if not s["med"]:
        why = "; ".join(sorted({r["why"] for r in s["runs"]}))
        return ["FAIL " + notes.ref("%s %s %s x=%d: %s" % (key[0], key[1], key[2], key[3], why))] + ["-"] * 3
    t = fmt_n(med_tput(s))
    if s["npass"] < len(s["runs"]):
        bad = [r for r in s["runs"] if not r["ok"]]
        t += " " + notes.ref("%s %s %s x=%d: %d of %d runs failed (%s); median of the rest" % (
            key[0], key[1], key[2], key[3], len(bad), len(s["runs"]),
            "; ".join(sorted({r["why"] for r in bad}))))
    return [t, fmt_us(lat(s, "p50")), fmt_us(lat(s, "p99")), fmt_us(lat(s, "p999"))]


def group_table(ser, group, meta, notes):
    _, title, _, unit, latwhat = GROUP_INFO[group]
    cols = sorted({k[2] for k in ser if k[0] == group},
                  key=lambda c: COLUMNS.index(c) if c in COLUMNS else 9)
    xs = sorted({k[3] for k in ser if k[0] == group})
    syss = systems_in(ser, group)
    lines = ["### %s" % title, ""]
    if meta.get("desc." + group):
        lines += [meta["desc." + group], ""]
    lines += ["Latency: %s. `x` = %s." % (latwhat, meta.get("xdesc." + group, "concurrency")), ""]
    head = ["x", "system"]
    for c in cols:
        pre = "" if c == "-" else c + " "
        head += [pre + unit, "p50", "p99", "p99.9", "ringq ÷ system"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join(["---:", "---"] + ["---:"] * (len(head) - 2)) + "|")
    for x in xs:
        for sysname in syss:
            row = [str(x), sysname]
            anything = False
            for c in cols:
                key = (group, sysname, c, x)
                if key in ser:
                    anything = True
                cells = cell_for(ser, key, meta, notes)
                rq = ser.get((group, "ringq", c, x))
                ratio = "" if sysname == "ringq" else fmt_ratio(med_tput(rq), med_tput(ser.get(key)))
                row += cells + [ratio]
            if anything or any(meta.get("na.%s.%s" % (sysname, c)) for c in cols):
                lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    if group.startswith("open") or group == "stall":
        lines += gen_lines(ser, group)
    return lines


def gen_note(res):
    """The generator's own figures beside an open-loop point (ringq-bench's client_cpu_util,
    late_share split into late_cap_share and late_gen_share, cap_limited, generator_limited):
    "" for a run without them."""
    parts = []
    util = res.get("client_cpu_util")
    if not isinstance(util, (int, float)) and isinstance(res.get("gen_cpu_pct"), (int, float)):
        util = res["gen_cpu_pct"] / 100  # this session's first runs, before client_cpu_util
    if isinstance(util, (int, float)):
        parts.append("generator CPU %.0f %% of a CPU" % (100 * util))
    if isinstance(res.get("late_share"), (int, float)):
        late = "%.1f %% of sends late" % (100 * res["late_share"])
        if isinstance(res.get("late_cap_share"), (int, float)):
            late += " (%.1f %% waiting for the in-flight cap, %.1f %% behind the generator's " \
                    "schedule)" % (100 * res["late_cap_share"], 100 * res.get("late_gen_share", 0))
        parts.append(late)
    if res.get("generator_limited"):
        parts.append("**generator-limited** (over 1 % of sends late with room to send: the "
                     "generator, not the server, set this latency)")
    if res.get("cap_limited"):
        parts.append("**cap-limited** (over 1 % of sends waited for the server's answers under "
                     "the in-flight cap: the server fell behind the offered rate)")
    return ", ".join(parts)


def gen_lines(ser, group):
    """Under an open-loop table: each point's generator figures."""
    out = []
    for k in sorted(k for k in ser if k[0] == group):
        s = ser[k]
        g = gen_note(s["med"]["result"]) if s.get("med") else ""
        if g:
            out.append("- %s %s x=%d: %s" % (k[1], k[2], k[3], g))
    return ["Generator (the median run's):", ""] + out + [""] if out else []


def verdict(ok):
    return "**NOT MEASURED**" if ok is None else ("**MET**" if ok else "**NOT MET**")


def fsync_q(meta, q):
    """fdatasync quantile `q` (p50_us, p99_us, ...) in µs: the mean of the figures measured
    before and after the runs (None when neither has it)."""
    vals = []
    for k in ("fsync.before", "fsync.after"):
        for v in meta.get("_all", {}).get(k, [meta.get(k, "{}")]):
            try:
                vals.append(float(json.loads(v).get(q)))
            except (ValueError, TypeError):
                pass
    return sum(vals) / len(vals) if vals else None


def target_row(L, text, meas, ok):
    L.append("| %s | %s | %s |" % (text, meas, verdict(ok)))


def binds_note(d, ser, ok, key, redis_key):
    """A throughput row's limit (bench/report_limits.py): for a missed target, what binds ringq's
    point with its numbers; either way, a Redis or ringq point the machine held."""
    lim = {}
    for k in (key, redis_key):
        s = ser.get(("e2e-b1",) + k)
        if s and s.get("med"):
            res, fs, sc = report_limits.inputs(d, s["med"])
            lim[k] = report_limits.point_limits(res, k[1], fs, sc)
    out = ""
    p = lim.get(key)
    if not ok and p and p["binds"]:
        out += "; %s binds: **%s** (%s)" % (key[0], p["limit"], p["why"])
    held = ["%s at x=%s" % (k[0], k[2]) for k in (key, redis_key)
            if lim.get(k) and lim[k]["limit"] == "the machine"]
    if held:
        out += "; **the machine decided** (%s held by other processes)" % ", ".join(held)
    return out


def targets_durable(L, ser, d="."):
    """Durable e2e, one task per message: the streaming path (and the unary one beside it)
    against Redis appendfsync always, each at its best x; beanstalkd as before."""
    rv, rx = best(ser, "e2e-b1", "redis", "durable")
    for sysname, note in (("ringq-stream", "streaming producers (Queue.EnqueueStream)"),
                          ("ringq", "unary Enqueue, reported beside it")):
        v, x = best(ser, "e2e-b1", sysname, "durable")
        if v is None or rv is None:
            meas, ok = "%s %s, redis %s" % (sysname, fmt_n(v), fmt_n(rv)), None
        else:
            ok = v >= 3 * rv
            meas = "%s %s tasks/s (x=%s) vs redis %s tasks/s (x=%s): **%.2f×**" % (
                sysname, fmt_n(v), x, fmt_n(rv), rx, v / rv)
            meas += binds_note(d, ser, ok, (sysname, "durable", x), ("redis", "durable", rx))
        target_row(L, "durable e2e, one task per message, %s, each at its best x ≥ 3× Redis "
                   "appendfsync always" % note, meas, ok)
    for group, what in (("e2e-b1", "batch 1"), ("e2e-batch", "batched")):
        rq, rqx = best(ser, group, "ringq", "durable")
        pv, px = best(ser, group, "beanstalkd", "durable")
        if rq is None or pv is None:
            meas, ok = "ringq %s, beanstalkd %s" % (fmt_n(rq), fmt_n(pv)), None
        else:
            ok = rq >= 5 * pv
            meas = "ringq %s tasks/s (x=%s) vs beanstalkd %s tasks/s (x=%s): **%.2f×**" % (
                fmt_n(rq), rqx, fmt_n(pv), px, rq / pv)
        target_row(L, "durable e2e tasks/s (%s, each at its best x) ≥ 5× beanstalkd fsync every "
                   "write (-f 0)" % what, meas, ok)


def targets_fast(L, ser, d="."):
    """--fsync never end to end at every x >= 16: >= 2x Redis appendfsync no."""
    xs = sorted({k[3] for k in ser if k[0] == "e2e-b1" and k[2] == "fast" and k[3] >= 16})
    for sysname in ("ringq", "ringq-stream"):
        for x in xs:
            a = med_tput(ser.get(("e2e-b1", sysname, "fast", x)))
            b = med_tput(ser.get(("e2e-b1", "redis", "fast", x)))
            if a is None and sysname == "ringq-stream":
                continue
            ok = None if a is None or b is None else a >= 2 * b
            meas = "%s %s tasks/s vs redis %s tasks/s: **%s**" % (sysname, fmt_n(a), fmt_n(b),
                                                                    fmt_ratio(a, b))
            if ok is not None:
                meas += binds_note(d, ser, ok, (sysname, "fast", x), ("redis", "fast", x))
            target_row(L, "fast e2e batch 1 at x=%d ≥ 2× Redis appendfsync no (%s)" % (x, sysname),
                       meas, ok)


def open_run(ser, group, col):
    """ringq's open-loop series `group` in column `col` (its one x; series()' dict), or None."""
    s = ser.get((group, "ringq", col, next((k[3] for k in ser if k[:3] == (group, "ringq", col)),
                                           -1)))
    return s


def targets_open(L, ser, meta, d="."):
    """Open loop at half of peak, each payload size: p99 (p99.9 beside) <= 1 ms with --fsync
    never, <= 3x the measured fdatasync p99 with always; what holds each quantile (the stages
    from /metrics, the generator's late sends, outside the server: bench/report_tail.py), and
    with always the server's own fdatasync p99 in the window beside the raw one."""
    f99, f999 = fsync_q(meta, "p99_us"), fsync_q(meta, "p999_us")
    sizes = meta.get("open_sizes", "").split()
    groups = [("open-s%s" % n, "%s B" % n, "open.%%s.%s.s%s" % ("%s", n)) for n in sizes]
    if any(k[0] == "open" for k in ser):  # a run from before the payload sizes
        groups.append(("open", meta.get("size", "?") + " B", "open.%s.%s"))
    for group, size, mkey in groups:
        for col, limit, text in (
                ("fast", FAST_LIMIT_US, "≤ 1 ms with `--fsync never`"),
                ("durable", 3 * f99 if f99 else None,
                 "≤ 3× fdatasync p99 with `--fsync always` (fdatasync p99 %s, p99.9 %s: 3 × p99 = %s)" % (
                     fmt_us(f99), fmt_us(f999), fmt_us(3 * f99 if f99 else None)))):
            s = open_run(ser, group, col)
            p99, p999 = lat(s, "p99"), lat(s, "p999")
            ok = None if p99 is None or limit is None else p99 <= limit
            meas = "p99 %s, p99.9 %s at %s tasks/s offered (half of peak %s)" % (
                fmt_us(p99), fmt_us(p999), meta.get(mkey % ("rate", col), "?"),
                meta.get(mkey % ("peak", col), "?"))
            if s and s["med"]:
                res = s["med"]["result"]
                meas += "; achieved %s tasks/s, %s late sends" % (fmt_n(res.get("tasks_per_s")),
                                                                   res.get("late_sends", "?"))
                g = gen_note(res)
                if g:
                    meas += "; " + g
                tp = report_tail.tail_point(*report_tail.inputs(d, s["med"]))
                meas += own_fsync_note(tp, col, p99)
                for q in (0.99, 0.999):
                    note = report_tail.open_note(tp, q, limit if q == 0.99 else None)
                    if note:
                        meas += "; " + note
                fp = floor_of(d, ser, group, col)
                if fp:
                    meas += "; " + report_tail.floor_verdict(fp, limit / 1e6 if limit else None,
                                                             tp["outside"].get(0.99))
            target_row(L, "p99 enqueue-to-start at half of peak, %s, %s" % (size, text), meas, ok)


FAST_LIMIT_US = 1000.0  # issue 19: p99 enqueue-to-start at half of peak <= 1 ms, --fsync never


def floor_of(d, ser, group, col):
    """report_tail.floor_point of open group `group` (open-s<N>) in column col: its median run
    and the median floor-s<N> runs at its rate (with their raw/<run>.sched from results
    directory d); None without any floor run."""
    s = open_run(ser, group, col)
    fg = "floor-" + group[len("open-"):]
    med = {k[1]: v["med"] for k, v in ser.items() if k[0] == fg and k[2] == col and v.get("med")}
    if not med or not s or not s.get("med"):
        return None
    rates = {k: rate_of(r) for k, r in med.items()}
    rates["e2e"] = rate_of(s["med"])
    return report_tail.floor_point(s["med"]["result"], {k: r["result"] for k, r in med.items()},
                                   {k: report_limits.inputs(d, r)[2] for k, r in med.items()},
                                   rates, report_limits.inputs(d, s["med"])[2])


def rate_of(run):
    """The offered tasks/s of a run of runs.tsv: its command's --rate, or None."""
    m = re.search(r"--rate (\d+)", run.get("command") or "")
    return int(m.group(1)) if m else None


def floor_rows(d, ser, meta):
    """Every open row with floor runs: (label, offered rate, floor_point, target limit in s)."""
    f99 = fsync_q(meta, "p99_us")
    rows = []
    for n in meta.get("open_sizes", "").split():
        for col in COLUMNS:
            p = floor_of(d, ser, "open-s%s" % n, col)
            limit = FAST_LIMIT_US / 1e6 if col == "fast" else (3 * f99 / 1e6 if f99 else None)
            if p:
                rows.append(("open-s%s %s" % (n, col), meta.get("open.rate.%s.s%s" % (col, n), "?"),
                             p, limit))
    return rows


def own_fsync_note(tp, col, p99_us):
    """With --fsync always: the server's own fdatasync p99 and p99.9 over the window (its
    /metrics), and the target read against 3x that p99."""
    f = tp["fsync"]
    if col != "durable" or not f.get("n") or f.get(0.99) in (None, float("inf")) or \
            f.get(0.999) is None:
        return ""
    ok = p99_us is not None and p99_us <= 3 * f[0.99] * 1e6
    return ("; ringqd's own fdatasyncs %s: p99 %s, p99.9 %s (%s): against 3 × that p99 = %s the "
            "p99 is %s" % ("over its life" if tp["whole_life"] else "in the window",
                           fmt_us(f[0.99] * 1e6), fmt_us(f[0.999] * 1e6),
                                        fmt_n(f["n"]), fmt_us(3 * f[0.99] * 1e6),
                                        "within" if ok else "over"))


def targets_stall(L, d, ser, meta):
    """No shard loop turn over 5 ms in the stall run: the turns over 5 ms in its window, and what
    they were (on CPU or waiting for one: bench/report_tail.stall_point)."""
    for col in COLUMNS:
        s = [v for k, v in ser.items() if k[:3] == ("stall", "ringq", col)]
        sp = None
        if s and s[0]["med"]:
            res, after, before, sched = report_tail.inputs(d, s[0]["med"])
            sp = report_tail.stall_point(after, before, sched)
        if sp is None:
            meas, ok = "no run with /metrics", None
        else:
            ok = sp["over"] == 0
            meas = "%d of %s loop turns over 5 ms%s; the largest %s (%s s at %s tasks/s)" % (
                sp["over"], fmt_n(sp["turns"]), " (whole life: no window start)" if
                sp["whole_life"] else " in the window", sp["largest"], meta.get("stall_s", "?"),
                meta.get("stall.rate." + col, "?"))
            if not ok:
                meas += "; limit: **%s**%s" % (sp["limit"],
                                               " (%s)" % sp["why"] if sp["why"] else "")
                if sp["machine"] and sp["preempted"] and not sp["oncpu"]:
                    meas += "; **the machine decided** this verdict"
        target_row(L, "no shard loop stall over 5 ms in a %s s run (`--fsync %s`)" % (
            meta.get("stall_s", "60"), "always" if col == "durable" else "never"), meas, ok)


def targets(ser, meta, d="."):
    L = ["## Issue targets", ""]
    L.append("| target | measured | verdict |")
    L.append("|---|---|---|")
    targets_durable(L, ser, d)
    targets_fast(L, ser, d)
    targets_open(L, ser, meta, d)
    targets_stall(L, d, ser, meta)
    rq, rqx = best(ser, "rpc", "ringq", "-")
    peers = [(best(ser, "rpc", p, "-"), p) for p in ("grpc-sync", "grpc-callback")]
    peers = [(v, x, p) for (v, x), p in peers if v is not None]
    if rq is None or not peers:
        meas, ok = "ringq %s; C++ gRPC %s" % (fmt_n(rq), "-"), None
    else:
        pv, px, pn = max(peers)
        ok = rq >= 3 * pv
        meas = "ringqd %s req/s (x=%s) vs %s %s req/s (x=%s): **%.2f×**" % (
            fmt_n(rq), rqx, pn, fmt_n(pv), px, rq / pv)
    target_row(L, "unary gRPC req/s on one core ≥ 3× Debian C++ gRPC (its faster API)", meas, ok)
    L.append("")
    if meta.get("quick") == "1":
        L += ["QUICK mode: one short run per point — these verdicts are a smoke test, not the "
              "benchmark.", ""]
    return L


def limits(d, ser, meta):
    """The section "What limits each throughput target" (bench/report_limits.py): every e2e-b1
    point's accounting, and for each missed throughput target (durable ≥ 3× Redis always at each
    one's best x, fast ≥ 2× Redis no at every x ≥ 16) what it would take on each side."""
    points = {k[1:]: report_limits.inputs(d, s["med"]) for k, s in ser.items()
              if k[0] == "e2e-b1" and s.get("med")}
    if not points:
        return []
    cmp = []
    rv, rx = best(ser, "e2e-b1", "redis", "durable")
    for sysname, what in (("ringq-stream", "durable ≥ 3× Redis always, streaming"),
                          ("ringq", "durable ≥ 3× Redis always, unary")):
        v, x = best(ser, "e2e-b1", sysname, "durable")
        if v is not None and rv is not None:
            cmp.append((what, "durable", sysname, x, 3 * rv, rx, v >= 3 * rv))
    for sysname in ("ringq", "ringq-stream"):
        for x in sorted({k[3] for k in ser if k[:3] == ("e2e-b1", sysname, "fast") and k[3] >= 16}):
            a = med_tput(ser.get(("e2e-b1", sysname, "fast", x)))
            b = med_tput(ser.get(("e2e-b1", "redis", "fast", x)))
            if a is not None and b is not None:
                cmp.append(("fast ≥ 2× Redis no at x=%d, %s" % (x, sysname), "fast", sysname, x,
                            2 * b, x, a >= 2 * b))
    return report_limits.section(points, meta, cmp)


def tail_section(d, ser, meta):
    """The section "What holds each latency target" (bench/report_tail.py): every median
    open-loop and stall run's p99 and p99.9 split into the generator, the server's stages and
    what lies outside the server."""
    pts = []
    for k in sorted(ser, key=lambda k: ([g[0] for g in GROUPS].index(k[0]) if k[0] in GROUP_INFO
                                        else 99, k[2], k[3])):
        if not (k[0].startswith("open") or k[0] == "stall") or not ser[k].get("med"):
            continue
        res, after, before, sched = report_tail.inputs(d, ser[k]["med"])
        if after is None:
            continue
        pts.append(("%s %s" % (k[0], k[2]), report_tail.tail_point(res, after, before, sched)))
    L, floor = report_tail.section(pts), report_tail.floor_section(floor_rows(d, ser, meta))
    if floor and not L:
        L = ["## What holds each latency target", ""]
    return L + floor


# ---- plots -------------------------------------------------------------------------------------

def gp_header(out_svg, title, xlabel, ylabel, logx=True, logy=False):
    s = ["set terminal svg size 860,520 dynamic enhanced font 'sans,12' background rgb 'white'",
         "set output '%s'" % out_svg, "set title '%s' noenhanced" % title,
         "set xlabel '%s' noenhanced" % xlabel, "set ylabel '%s' noenhanced" % ylabel,
         "set grid", "set key outside right top noenhanced", "set format x '%.0f'",
         "set format y '%.0f'" if logy else "set format y '%g'"]
    if logx:
        s.append("set logscale x 2" if "concurrency" in xlabel or "in flight" in xlabel
                 else "set logscale x 10")
    if logy:
        s.append("set logscale y 10")
    return s


def plot_tput(d, ser, group, col, name, title):
    syss = [s for s in systems_in(ser, group) if any(k[:3] == (group, s, col) for k in ser)]
    plots = []
    for sysname in syss:
        pts = sorted((k[3], med_tput(v)) for k, v in ser.items()
                     if k[:3] == (group, sysname, col) and med_tput(v) is not None)
        if not pts:
            continue
        dat = "%s-%s.dat" % (name, sysname)
        with open(os.path.join(d, dat), "w") as f:
            f.writelines("%d %.3f\n" % p for p in pts)
        plots.append("'%s' using 1:2 with linespoints lw 2 pt 7 title '%s'" % (dat, sysname))
    if not plots:
        return None
    unit = GROUP_INFO[group][3]
    gp = gp_header(name + ".svg", title, "concurrency x (%s)" % "requests in flight", unit,
                   logy=True)
    gp.append("set xtics 2")
    gp.append("plot " + ", \\\n     ".join(plots))
    return write_gp(d, name, gp)


def plot_cdf(d, curves, name, title, marks=()):
    """curves: [(label, run)]; marks: [(us, text)] vertical lines."""
    plots = []
    for i, (label, run) in enumerate(curves):
        cdf = (run["result"] or {}).get("cdf") or []
        if not cdf:
            continue
        dat = "%s-%d.dat" % (name, i)
        with open(os.path.join(d, dat), "w") as f:
            for p in cdf:
                if isinstance(p, list) and len(p) == 2 and p[0] > 0:
                    f.write("%.3f %.6f\n" % (p[0], p[1]))
        plots.append("'%s' using 1:(pct($2)) with lines lw 2 title '%s'" % (dat, label))
    if not plots:
        return None
    for i, (us, text) in enumerate(marks):  # vertical dashed lines, as two-point data sets
        dat = "%s-mark%d.dat" % (name, i)
        with open(os.path.join(d, dat), "w") as f:
            f.write("%.3f 0\n%.3f 1\n" % (us, us))  # fraction 0 .. 1 -> bottom .. top
        plots.append("'%s' using 1:($2 * 5.1) with lines dt 2 lw 1.5 lc rgb '%s' title '%s'" % (
            dat, ("red", "dark-red", "black")[i % 3], text))
    # Percentile scale: y = -log10(1 - fraction), so the bulk and the tail (p99, p99.9) both show;
    # fractions past 99.999 % are drawn at the top.
    gp = gp_header(name + ".svg", title, "latency (µs, log scale)", "percentile (tasks ≤ latency)")
    gp.append("set key inside right bottom box opaque noenhanced")
    gp.append("pct(f) = f >= 0.99999 ? 5 : -log10(1 - f)")
    gp.append("set yrange [0:5.1]")
    gp.append('set ytics ("0" 0, "50%%" 0.30103, "90%%" 1, "99%%" 2, "99.9%%" 3, "99.99%%" 4, '
              '"99.999%%" 5)')
    gp.append("plot " + ", \\\n     ".join(plots))
    return write_gp(d, name, gp)


def write_gp(d, name, gp):
    with open(os.path.join(d, name + ".gp"), "w") as f:
        f.write("\n".join(gp) + "\n")
    return name


def run_gnuplot(d, names):
    made, errs = [], []
    for n in names:
        try:
            p = subprocess.run(["gnuplot", n + ".gp"], cwd=d, capture_output=True, text=True,
                               timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            errs.append("%s: %s" % (n, e))
            continue
        if p.returncode == 0 and os.path.exists(os.path.join(d, n + ".svg")):
            made.append(n)
        else:
            errs.append("%s: %s" % (n, p.stderr.strip()[-300:]))
            try:
                os.unlink(os.path.join(d, n + ".svg"))  # half-written
            except OSError:
                pass
    return made, errs


def plots(d, ser, meta):
    names = []
    for col in COLUMNS:
        for group, what in (("e2e-b1", "batch 1"), ("e2e-batch", "batched")):
            n = plot_tput(d, ser, group, col, "throughput-%s-%s" % (group, col),
                          "End to end %s, %s (%s), closed loop" % (what, col, meta.get(
                              "coldesc." + col, "")))
            if n:
                names.append(n)
    n = plot_tput(d, ser, "rpc", "-", "throughput-rpc", "Unary gRPC Health/Check, server on one CPU")
    if n:
        names.append(n)
    cdf_x = int(meta.get("cdf_x", "0") or 0)
    for col in COLUMNS:
        curves = [(s, ser[("e2e-b1", s, col, cdf_x)]["med"]) for s in systems_in(ser, "e2e-b1")
                  if ser.get(("e2e-b1", s, col, cdf_x), {}).get("med")]
        n = plot_cdf(d, curves, "cdf-e2e-%s" % col,
                     "Enqueue-to-start latency CDF, e2e batch 1, x=%d, %s" % (cdf_x, col))
        if n:
            names.append(n)
    curves = [("ringq %s, %s (%s tasks/s offered)" % (
        c, k[0][len("open-s"):] + " B" if k[0].startswith("open-s") else "",
        meta.get("open.rate.%s.%s" % (c, k[0][len("open-"):]), meta.get("open.rate." + c, "?"))),
        v["med"]) for c in COLUMNS for k, v in sorted(ser.items())
        if k[0].startswith("open") and k[1:3] == ("ringq", c) and v["med"]]
    fs = fsync_q(meta, "p99_us")
    marks = [(1000.0, "target, fast: 1 ms")] + ([(3 * fs, "target, durable: 3 x fdatasync p99 = %s" % fmt_us(3 * fs))] if fs else [])
    n = plot_cdf(d, curves, "cdf-open", "ringq open loop at half of peak: enqueue-to-start CDF",
                 marks)
    if n:
        names.append(n)
    xs = sorted({k[3] for k in ser if k[0] == "rpc"})
    if xs:
        curves = [(s, ser[("rpc", s, "-", xs[-1])]["med"]) for s in systems_in(ser, "rpc")
                  if ser.get(("rpc", s, "-", xs[-1]), {}).get("med")]
        n = plot_cdf(d, curves, "cdf-rpc", "Unary gRPC call latency CDF, x=%d" % xs[-1])
        if n:
            names.append(n)
    return names


# ---- report ------------------------------------------------------------------------------------

def report(d, out_md):
    meta = read_meta(d)
    add_sized_groups(meta.get("open_sizes", "").split())
    runs = read_runs(d)
    ser = series(runs)
    notes = Notes()
    rel = os.path.relpath(d, os.path.dirname(os.path.abspath(out_md)) or ".")
    L = ["# ringq benchmark suite — %s on %s%s" % (meta.get("date", "?"), meta.get("host", "?"),
                                                 " (QUICK mode)" if meta.get("quick") == "1" else ""),
         ""]
    if meta.get("quick") == "1":
        L += ["**QUICK mode** (`QUICK=1`): one short run per point and fewer points, to check the "
              "plumbing. Not a measurement to quote.", ""]
    L += [meta.get("intro", ""), ""]
    L += targets(ser, meta, d)
    # A hand-written analysis saved in the results directory (profiles, what limits a missed
    # target) goes in right after the verdicts.
    try:
        with open(os.path.join(d, "analysis.md")) as f:
            L += [f.read().rstrip("\n"), ""]
    except OSError:
        pass
    L += limits(d, ser, meta)
    L += tail_section(d, ser, meta)
    L += ["## Systems and configurations", ""]
    L += ["| system | durable | fast |", "|---|---|---|"]
    for sysname in ("ringq", "beanstalkd", "redis", "jetstream"):
        row = [sysname + (" " + meta["version." + sysname] if meta.get("version." + sysname) else "")]
        for c in COLUMNS:
            row.append(meta.get("na.%s.%s" % (sysname, c)) or meta.get("conf.%s.%s" % (sysname, c), "-"))
        L.append("| " + " | ".join(row) + " |")
    L.append("")
    if meta.get("conf.rpc"):
        L += [meta["conf.rpc"], ""]
    L += ["## Results", "", "Median of %s run(s) per point by throughput; latencies are those of "
          "the median run. ringq ÷ system = ringq's throughput over that system's at the same x "
          "and column." % meta.get("reps", "?"), ""]
    names = []
    if meta.get("gnuplot") == "yes":
        names, errs = run_gnuplot(d, plots(d, ser, meta))
    else:
        errs = ["gnuplot not installed (apt-get install -y gnuplot-nox): no plots"]
    first_open = next((g[0] for g in GROUPS if g[0].startswith("open")
                       and any(k[0] == g[0] for k in ser)), None)
    for g in GROUPS:
        if any(k[0] == g[0] for k in ser):
            L += group_table(ser, g[0], meta, notes)
            for n in names:
                if (g[0] in ("e2e-b1", "e2e-batch") and n.startswith("throughput-" + g[0] + "-")) or \
                        (g[0] == "e2e-b1" and n.startswith("cdf-e2e-")) or \
                        (g[0] == first_open and n == "cdf-open") or \
                        (g[0] == "rpc" and n in ("throughput-rpc", "cdf-rpc")):
                    L += ["![%s](%s/%s.svg)" % (n, rel, n), ""]
    if errs:
        L += ["Plots: " + "; ".join(errs), ""]
    if notes.items:
        L += ["Notes:", ""] + ["%d. %s" % (i + 1, t) for i, t in enumerate(notes.items)] + [""]
    L += ["## Machine and versions", ""]
    for k, label in (("cpu", "CPU"), ("mem", "memory"), ("kernel", "kernel"), ("disk", "data directories on"),
                     ("fsync.text", "raw fdatasync (4 KiB append + fdatasync, in the data directory)"),
                     ("pinning", "pinning"), ("load", "load average (1/5/15 min)"),
                     ("commit", "ringq commit"), ("gcc", "compiler"),
                     ("version.beanstalkd", "beanstalkd"), ("version.redis", "redis-server"),
                     ("version.jetstream", "nats-server"), ("version.grpc", "C++ gRPC (Debian)"),
                     ("elapsed", "suite wall time")):
        vals = meta["_all"].get(k, [])
        if len(set(vals)) > 1:  # one per chunk
            L.append("- %s: %s" % (label, "; ".join("chunk %d: %s" % (i + 1, v) for i, v in enumerate(vals))))
        elif meta.get(k):
            L.append("- %s: %s" % (label, meta[k]))
    L += ["", "## Commands", "", "```"] + meta["_all"].get("command", ["?"]) + ["```", "",
          "Servers (a fresh process and data directory for every run; PORT is a free port, DIR a "
          "new directory under %s):" % meta.get("bench_dir", "/tmp"), "", "```"]
    L += [v for k, v in sorted(meta.items()) if k.startswith("server.")]
    L += ["```", "", "<details><summary>Every ringq-bench command (%d runs)</summary>" % len(runs),
          "", "```"]
    L += ["%s  # %s" % (r["command"], "ok" if r["ok"] else "FAIL: " + r["why"]) for r in runs]
    L += ["```", "", "</details>", "",
          "Raw results: [%s/raw/](%s/raw/) (ringq-bench JSON, one file per run), "
          "[runs.tsv](%s/runs.tsv), [meta.tsv](%s/meta.tsv); plot data and gnuplot scripts next "
          "to the SVGs." % (rel, rel, rel, rel), ""]
    L += ["## All runs", "", "| group | system | column | x | runs (throughput) | counted |",
          "|---|---|---|---:|---|---:|"]
    for k in sorted(ser, key=lambda k: ([g[0] for g in GROUPS].index(k[0]) if k[0] in GROUP_INFO else 99,
                                         SYSTEM_ORDER.index(k[1]) if k[1] in SYSTEM_ORDER else 99,
                                         k[2], k[3])):
        s = ser[k]
        vals = " / ".join(fmt_n(tput_of(r["group"], r["result"])) if r["ok"] else "FAIL"
                          for r in s["runs"])
        L.append("| %s | %s | %s | %d | %s | %d/%d |" % (k[0], k[1], k[2], k[3], vals, s["npass"],
                                                        len(s["runs"])))
    L.append("")
    with open(out_md, "w") as f:
        f.write("\n".join(L))
    return 0


def main(argv):
    if len(argv) == 6 and argv[1] == "peak":
        add_sized_groups([argv[3][len("peak-s"):]] if argv[3].startswith("peak-s") else [])
        ser = series(read_runs(argv[2]))
        v, _ = best(ser, argv[3], argv[4], argv[5])
        print("%.0f" % v if v is not None and not math.isnan(v) else "0")
        return 0
    if len(argv) == 4 and argv[1] == "report":
        return report(argv[2], argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
