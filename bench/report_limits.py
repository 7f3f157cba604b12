"""bench/report_limits.py: what limits each end-to-end throughput target of issue 19, for
bench/report.py (the section "What limits each throughput target").

The suite pins the server to one CPU and ringq-bench to the other (2 vCPUs: one each), so each
side's throughput ceiling is one CPU divided by its CPU time per task:

  server ceiling     = 1 s / (server utime + stime per task over the measured window)
  generator ceiling  = 1 s / (ringq-bench utime + stime per task, same window)
  fdatasync ceiling  = chains x tasks per fdatasync / mean fdatasync latency
                       (ringqd --fsync always; from the /metrics saved after the run: the disk
                       path at the group size the run had, with every commit chain ringqd allows
                       in flight at once; chains is Q_COMMIT_CHAINS_MAX of the ringqd that ran,
                       which suite_bench.sh reads from its debug info into meta.tsv
                       (ringqd.commit_chains_max); without it, unknown: no fdatasync ceiling)

That ceiling is a model's upper bound, not a measured limit: overlapping fdatasyncs of one file
each take longer on the test VM's disk, and a third chain only starts for a group >= 4x the
first's (queue/q_commit.c), so the path may bind well below it. A point closest to it is
labelled "fdatasync (model upper bound)" at SATURATED_SHARE of it or more and "undetermined"
below, unless the independent check says more: the fdatasyncs actually in flight on average in
the measured window, ringq_fsync_seconds_sum over the window (ID.metrics minus ID.metrics0, the
scrape when the warm-up ended) / the window's span; at SATURATED_SHARE x chains or more the path
was kept full: "fdatasync". ringq_commits_pipelined_total / ringq_fsync_seconds_count
(fdatasyncs started while an older one ran) is shown as well.

The smallest ceiling is the one that binds. A point whose throughput is within SATURATED_SHARE of
it is limited by that side; one further below was limited by neither side's own cost: the
machine (other processes and steal on that side's pinned CPU: the suite's `raw/ID.sched`,
bench_lib.sh cpu_sample) or the round trips themselves (wake-ups, an fdatasync per turn, the
server's own threads queueing for its one CPU), which the row says with its evidence.

A missed target then prints what it would take: the target's tasks/s as a CPU time per task on
each side (one CPU each) against what each side costs now, and Redis' own accounting beside it,
so the ratio's composition is visible.
"""
import os

import report_prom as P

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def commit_chains_max(d):
    """Q_COMMIT_CHAINS_MAX of the ringqd that ran, from the results directory d's meta.tsv
    (ringqd.commit_chains_max, written by suite_bench.sh at run time): the commit chains (each
    an fdatasync, then the renames and directory fsync of rolled segments) one partition keeps
    in flight at once under --fsync always; the suite runs --threads 1, one partition. None
    (unknown) when the run did not record it: never the checkout's header, which may not be
    the binary's. (Session 11 modelled two in flight while q_commit.c allowed three: points read
    1.11x "their" ceiling, bench/results/report-2026-12-08-s12.md.)"""
    v = None
    try:
        with open(os.path.join(d, "meta.tsv")) as f:
            for ln in f:
                k, _, val = ln.rstrip("\n").partition("\t")
                if k == "ringqd.commit_chains_max":
                    v = val.strip()
    except OSError:
        return None
    return int(v) if v and v.isdigit() and int(v) > 0 else None


# A side that used this share of its ceiling in the window is the one that held the rate: the
# window's CPU time has clock-tick resolution (10 ms in 5 s), and a closed loop never keeps a
# CPU 100 % busy (each side waits for the other's answer now and then).
SATURATED_SHARE = 0.85
# Not saturated, other processes (and the hypervisor's steal) took at least this share of the
# binding side's CPU, and that CPU had no idle time left to speak of (busy + steal at least
# SATURATED_SHARE): the machine (the other engineers' builds and tests) held the rate. With idle
# time left, the side could have run and did not: round trips.
OTHERS_SHARE_MACHINE = 0.10
# The server's io-wq workers (iou-wrk-*, where io_uring runs fdatasync) waited at least this many
# s per s for the server's CPU: the commit's fdatasyncs queue behind the shard on its one CPU.
IO_WAIT_SHARE = 0.10
# /proc/stat cpuN fields (proc(5)): user nice system idle iowait irq softirq steal.
_BUSY_FIELDS = (0, 1, 2, 5, 6)
_STEAL_FIELD = 7
_TOTAL_FIELDS = 8

SIDES = ("server CPU", "generator CPU", "fdatasync")


def _threads(field):
    """{tid: (comm, run_ns, wait_ns)} of a cpu_sample thread field."""
    out = {}
    for t in field.split():
        tid, comm, run, wait = t.rsplit(":", 3)
        out[tid] = (comm, int(run), int(wait))
    return out


def read_sched(path):
    """A run's two cpu_sample lines (bench_lib.sh) as shares of ringq-bench's whole life:
    dict(span_s, server_busy, server_steal, client_busy, client_steal; server_run, server_wait,
    io_wait, others) or None when the file is missing or malformed. busy and steal count every
    process on that CPU; server_run and server_wait are the server's threads' time on a CPU and
    waiting on a run queue, s per s (a thread that exited between the samples drops out; one
    that started counts from 0); io_wait is the part of server_wait of its io-wq workers
    (iou-wrk-*: the blocking ops io_uring runs in threads, fdatasync among them); others =
    server_busy - server_run, the CPU's time spent on other processes."""
    try:
        with open(path) as f:
            lines = [ln.strip() for ln in f if ln.strip()]
    except OSError:
        return None
    if len(lines) < 2:
        return None
    try:
        a, b = ([x.strip() for x in ln.split("|")] for ln in lines[:2])
        span = float(b[0]) - float(a[0])
        if span <= 0:
            return None
        out = {"span_s": span}
        for side, i in (("server", 1), ("client", 2)):
            x = [int(v) for v in a[i].split()[:_TOTAL_FIELDS]]
            y = [int(v) for v in b[i].split()[:_TOTAL_FIELDS]]
            d = [q - p for p, q in zip(x, y)]
            tot = sum(d)
            out[side + "_busy"] = sum(d[k] for k in _BUSY_FIELDS) / tot if tot > 0 else None
            out[side + "_steal"] = d[_STEAL_FIELD] / tot if tot > 0 else None
        t0, t1 = _threads(a[3]), _threads(b[3])
        run = wait = io = 0
        for tid, (comm, r1, w1) in t1.items():
            _, r0, w0 = t0.get(tid, (comm, 0, 0))
            run, wait = run + r1 - r0, wait + w1 - w0
            if comm.startswith("iou-wrk"):
                io += w1 - w0
        if t1:
            out["server_run"], out["server_wait"] = run / 1e9 / span, wait / 1e9 / span
            out["io_wait"] = io / 1e9 / span
            if out["server_busy"] is not None:
                out["others"] = max(0.0, out["server_busy"] - out["server_run"])
    except (ValueError, IndexError):
        return None
    return out


def read_fsyncs(path):
    """From a saved /metrics text: dict(count, sum_s, p99_s, p999_s, enqueued, pipelined) of
    ringqd's commit fsyncs (ringq_fsync_seconds; pipelined: ringq_commits_pipelined_total, those
    started while an older one was in flight) and tasks enqueued (ringq_queue_tasks_enqueued_total,
    every queue) over the server's life; None when the file is missing. p99_s and p999_s are the
    bounds of the buckets holding the 99th and 99.9th percentiles (None past the last finite
    bucket)."""
    text = P.read_text(path)
    if text is None:
        return None
    hists, values = P.parse(text)
    h = hists.get(("ringq_fsync_seconds", ""))
    return {"count": h[1] if h else 0.0, "sum_s": h[2] if h else 0.0,
            "p99_s": P.bucket_bound(h, 0.99), "p999_s": P.bucket_bound(h, 0.999),
            "enqueued": P.value_sum(values, "ringq_queue_tasks_enqueued_total"),
            "pipelined": P.value_sum(values, "ringq_commits_pipelined_total")}


def machine_held(busy, steal, own):
    """(others, held) of a pinned CPU: others = what other processes and the hypervisor's steal
    took of it (busy - own + steal); held = True when that is at least OTHERS_SHARE_MACHINE and
    the CPU had no idle time left (busy + steal at least SATURATED_SHARE): the machine held the
    side that runs there."""
    others = max(0.0, busy - own) + (steal or 0.0)
    return others, others >= OTHERS_SHARE_MACHINE and busy + (steal or 0.0) >= SATURATED_SHARE


def point_limits(res, column, fsyncs=None, sched=None):
    """One e2e point's accounting from its ringq-bench JSON `res` (server_cpu_us_per_task,
    client_cpu_us_per_task, server_cpu_s, client_cpu_util, duration_s, tasks_per_s), the
    read_fsyncs of its /metrics (durable ringqd only; as inputs() gives it, with chains, the
    run's commit chains or None, and window_sum_s, the fdatasync-seconds of the measured window
    or None) and its read_sched. Returns a dict: tput, srv_us, srv_util, cli_us, cli_util,
    per_fsync, fsync_mean_s, fsync_p99_s, fsync_p999_s, chains, in_flight (the window's
    fdatasyncs in flight on average, or None), ceil {side: tasks/s},
    binds (the side with the smallest ceiling, or None), share (tput over that ceiling), limit (a
    short verdict: the side, "fdatasync (model upper bound)", "undetermined", "the machine" or
    "round trips"), why (its evidence)."""
    res = res or {}
    num = lambda k: float(res[k]) if isinstance(res.get(k), (int, float)) else None
    p = {"tput": num("tasks_per_s"), "srv_us": num("server_cpu_us_per_task"),
         "cli_us": num("client_cpu_us_per_task"), "cli_util": num("client_cpu_util"),
         "srv_util": None, "per_fsync": None, "fsync_mean_s": None, "fsync_p99_s": None,
         "fsync_p999_s": None, "in_flight": None, "pipelined": None, "chains": None,
         "ceil": {}, "binds": None, "share": None, "limit": "-", "why": "", "sched": sched}
    dur, scpu = num("duration_s"), num("server_cpu_s")
    if dur and scpu is not None:
        p["srv_util"] = scpu / dur
    if p["srv_us"]:
        p["ceil"]["server CPU"] = 1e6 / p["srv_us"]
    if p["cli_us"]:
        p["ceil"]["generator CPU"] = 1e6 / p["cli_us"]
    if column == "durable" and fsyncs and fsyncs["count"] > 0 and fsyncs["enqueued"] > 0:
        p["per_fsync"] = fsyncs["enqueued"] / fsyncs["count"]
        p["fsync_mean_s"] = fsyncs["sum_s"] / fsyncs["count"]
        p["fsync_p99_s"] = fsyncs["p99_s"]
        p["fsync_p999_s"] = fsyncs.get("p999_s")
        p["pipelined"] = (fsyncs.get("pipelined") or 0.0) / fsyncs["count"]
        p["chains"] = fsyncs.get("chains")
        if p["fsync_mean_s"] > 0 and p["chains"]:
            p["ceil"]["fdatasync"] = p["chains"] * p["per_fsync"] / p["fsync_mean_s"]
        if fsyncs.get("window_sum_s") is not None and dur:
            p["in_flight"] = fsyncs["window_sum_s"] / dur
    if not p["ceil"] or not p["tput"]:
        return p
    side = min(p["ceil"], key=p["ceil"].get)
    p["binds"], p["share"] = side, p["tput"] / p["ceil"][side]
    if side == "fdatasync" and fsync_full(p):
        p["limit"] = "fdatasync"
        p["why"] = "measured: %s; the model's ceiling at %.2f" % (fsync_flight(p), p["share"])
        return p
    if p["share"] >= SATURATED_SHARE:
        p["limit"], p["why"] = side, "at %.2f of its ceiling" % p["share"]
        if side == "fdatasync":
            p["limit"] = "fdatasync (model upper bound)"
            p["why"] += "; " + fsync_flight(p)
        return p
    sc = sched or {}
    if side == "generator CPU":
        busy, steal, own = sc.get("client_busy"), sc.get("client_steal"), p["cli_util"]
    else:
        busy, steal, own = sc.get("server_busy"), sc.get("server_steal"), sc.get("server_run")
    others, machine = None, False
    if busy is not None and own is not None:
        others, machine = machine_held(busy, steal, own)
    ev = []
    if busy is not None:
        ev.append("its CPU %.2f busy, %s of it other processes and steal" % (
            busy, _f(others)))
    if side != "generator CPU" and sc.get("server_wait") is not None:
        ev.append("the server's threads waited %.2f s/s for their CPU" % sc["server_wait"])
        if (sc.get("io_wait") or 0) >= IO_WAIT_SHARE:
            ev.append("%.2f s/s of it its io-wq workers (fdatasync): the commit's fdatasyncs "
                      "queue behind the shard on one CPU" % sc["io_wait"])
    # Under the fdatasync model's ceiling says nothing of where the limit lies: it is an upper
    # bound (see the module's text), so the point is undetermined, not round trips.
    p["limit"] = "the machine" if machine else (
        "undetermined" if side == "fdatasync" else "round trips")
    p["why"] = "closest: %s%s at %.2f of its ceiling%s" % (
        side, " (model upper bound)" if side == "fdatasync" else "", p["share"],
        "; " + ", ".join(ev) if ev else "")
    if p["per_fsync"] is not None:
        p["why"] += "; " + fsync_flight(p)
    return p


def fsync_full(p):
    """True when the window kept the fdatasync path full: on average at least SATURATED_SHARE of
    the run's commit chains had an fdatasync in flight (both known)."""
    return p["in_flight"] is not None and p["chains"] is not None and \
        p["in_flight"] >= SATURATED_SHARE * p["chains"]


def fsync_flight(p):
    """The fdatasyncs a point kept in flight in its measured window, as text (fdatasync-seconds
    in the window / its span), against the run's commit chains, and the share that started while
    an older one ran; "not measured" without the window's start scrape."""
    chains = "%d" % p["chains"] if p["chains"] else "? (commit chains not recorded)"
    if p["in_flight"] is None:
        s = "fdatasyncs in flight: not measured (no /metrics at the window's start) of %s" % chains
    else:
        s = "fdatasyncs in flight %.2f of %s on average in the window (fdatasync-seconds / " \
            "window)" % (p["in_flight"], chains)
    if p.get("pipelined") is not None:
        s += ", %.0f %% started while an older one ran" % (100 * p["pipelined"])
    return s


def required(target, p):
    """What `target` tasks/s takes of a point p (point_limits): us per task on each side with one
    CPU each, and tasks per fdatasync at p's mean fdatasync latency (None without fsyncs)."""
    need_us = 1e6 / target if target else None
    per_fsync = None
    if p.get("fsync_mean_s") and p.get("chains"):
        per_fsync = target * p["fsync_mean_s"] / p["chains"]
    return {"us": need_us, "per_fsync": per_fsync}


# ---- formatting ----------------------------------------------------------------------------------

def _n(v):
    return "-" if v is None or v != v else "{:,.0f}".format(v)


def _f(v, fmt="%.2f"):
    return "-" if v is None or v != v else fmt % v


def _us(v_s):
    if v_s is None:
        return "-"
    return "%.2f ms" % (v_s * 1e3) if v_s >= 1e-3 else "%.0f µs" % (v_s * 1e6)


TABLE_HEAD = ["system", "x", "tasks/s", "server µs/task (CPU used)",
              "generator µs/task (CPU used)", "CPU S / CPU C busy (steal)",
              "CPU S: server on CPU / other processes", "server waited for a CPU (io-wq)",
              "fdatasync mean / p99 / p99.9 (tasks each); in flight", "ceiling: server / generator / fdatasync",
              "binds"]


def table_row(sysname, x, p):
    """The table's cells for one point (TABLE_HEAD)."""
    sc = p.get("sched") or {}
    cpu = "-"
    if sc.get("server_busy") is not None and sc.get("client_busy") is not None:
        cpu = "%.2f / %.2f (%.2f / %.2f)" % (sc["server_busy"], sc["client_busy"],
                                             sc.get("server_steal") or 0, sc.get("client_steal") or 0)
    srv = "-"
    if sc.get("server_run") is not None and sc.get("others") is not None:
        srv = "%.2f / %.2f" % (sc["server_run"], sc["others"])
    wait = "-"
    if sc.get("server_wait") is not None:
        wait = "%.2f s/s (%.2f)" % (sc["server_wait"], sc.get("io_wait") or 0.0)
    fs = "-"
    if p["per_fsync"] is not None:
        fs = "%s / ≤ %s / ≤ %s (%.1f)" % (_us(p["fsync_mean_s"]), _us(p["fsync_p99_s"]),
                                          _us(p["fsync_p999_s"]), p["per_fsync"])
        fs += "; %s of %s in flight" % (_f(p["in_flight"]), _chains(p))
    ceil = " / ".join(_n(p["ceil"].get(s)) for s in SIDES)
    binds = "**%s**" % p["limit"] if p["binds"] else "-"
    if p["why"]:
        binds += " (%s)" % p["why"]
    return [sysname, str(x), _n(p["tput"]), "%s (%s)" % (_f(p["srv_us"]), _f(p["srv_util"])),
            "%s (%s)" % (_f(p["cli_us"]), _f(p["cli_util"])), cpu, srv, wait, fs, ceil, binds]


def miss_line(what, sysname, x, p, target, redis_p):
    """One missed target: what it takes on each side against what each costs now, Redis' own
    accounting beside it."""
    need = required(target, p)
    s = ("- **%s**: %s at x=%s did %s tasks/s; the target is %s tasks/s, which needs ≤ %s µs of "
         "CPU per task on each side (one CPU each). ringqd costs %s µs (%s), ringq-bench %s µs "
         "(%s)" % (what, sysname, x, _n(p["tput"]), _n(target), _f(need["us"]), _f(p["srv_us"]),
                   _over(p["srv_us"], need["us"]), _f(p["cli_us"]), _over(p["cli_us"], need["us"])))
    if need["per_fsync"] is not None:
        s += "; the fdatasync path, %s in flight at its %s mean, needs ≥ %.1f tasks per " \
             "fdatasync (has %.1f%s)" % (
                 _chains(p), _us(p["fsync_mean_s"]), need["per_fsync"], p["per_fsync"],
                 ", with %.2f in flight in the window" % p["in_flight"]
                 if p["in_flight"] is not None else "")
    s += ". Ceilings: %s; binds: **%s**%s." % (
        ", ".join("%s %s" % (k, _n(v)) for k, v in sorted(p["ceil"].items(), key=lambda kv: kv[1])),
        p["limit"], " (%s)" % p["why"] if p["why"] else "")
    if redis_p and redis_p.get("srv_us"):
        s += (" Redis there: redis-server %s µs/task (%s of its CPU), ringq-bench's Redis driver "
              "%s µs/task" % (_f(redis_p["srv_us"]), _f(redis_p["srv_util"]), _f(redis_p["cli_us"])))
        if p["srv_us"]:
            s += "; with both servers at a full CPU the ratio would be %.2f× (Redis' server µs ÷ " \
                 "ringqd's)" % (redis_p["srv_us"] / p["srv_us"])
        s += "."
    return s


def _chains(p):
    return "%d" % p["chains"] if p.get("chains") else "?"


def _over(has, need):
    if has is None or not need:
        return "?"
    return "%.2f× what it may" % (has / need) if has > need else "within"


def machine_line(what, met, sysname, x, p, rx, redis_p):
    """A verdict decided by the machine: either point compared was limited by other processes on
    its CPU, so the ratio measures the shared machine as much as the two systems."""
    who = ["%s at x=%s (%s)" % (n, px, q["why"]) for n, px, q in
           ((sysname, x, p), ("redis", rx, redis_p)) if q and q["limit"] == "the machine"]
    if not who:
        return None
    return ("- **%s** (%s): limited by the machine: %s. This verdict measures the shared machine "
            "as much as the systems; re-run the point on a quieter machine." % (
                what, "MET" if met else "NOT MET", "; ".join(who)))


def section(points, meta, targets):
    """The report's section. points: {(system, column, x): (res, fsyncs, sched)} of the median
    e2e-b1 runs; targets: [(what, column, system, x, target tasks/s, redis_x, met)] for every
    throughput target compared (x: ringq's point; redis_x: Redis' point it was compared with)."""
    L = ["## What limits each throughput target", "",
         "Every e2e-b1 point's CPU accounting (bench/report_limits.py): the server (`ringqd` or "
         "`redis-server`, pinned to CPU S = %s) and ringq-bench (CPU C = %s) each used "
         "utime + stime over the measured window, per task acked; with one CPU each, a side's "
         "ceiling is 1 s ÷ its µs per task; for `ringqd --fsync always` also the fdatasync path, "
         "%s in flight (every commit chain the ringqd that ran allows at once, "
         "`Q_COMMIT_CHAINS_MAX`, recorded in meta.tsv; ? when not) × tasks per fdatasync ÷ mean "
         "fdatasync (its /metrics). That is a model's **upper bound** (overlapping fdatasyncs "
         "each take longer on this disk; a third chain only starts for a large group), so a "
         "point closest to it reads **fdatasync (model upper bound)** at ≥ %.0f %% of it and "
         "**undetermined** below, unless the fdatasyncs measured in flight in the window "
         "(fdatasync-seconds between the window's two /metrics scrapes ÷ its span, in the "
         "fdatasync column) fill the chains: then **fdatasync**. Otherwise the smallest ceiling "
         "binds; a point below %.0f %% of it was held by neither side's cost: **the machine** "
         "when other processes and steal took ≥ %.0f %% of that side's CPU and left it no idle "
         "time (busy + steal ≥ %.0f %%: other engineers' builds and tests), else **round "
         "trips** (wake-ups, a side waiting for the other's "
         "answer, the server's own threads queueing for its one CPU). The CPU columns cover "
         "ringq-bench's whole life (connect, warm-up, window, teardown): CPU S's and CPU C's "
         "busy share counting every process, the server's threads' time on CPU S and the rest "
         "(other processes), and the server's threads' run-queue wait, in brackets the part of "
         "its io-wq workers (`iou-wrk-*`, which run ringqd's fdatasyncs)." % (
             meta.get("server_cpu", "0"), meta.get("client_cpu", "1"),
             meta.get("ringqd.commit_chains_max") or "?", 100 * SATURATED_SHARE,
             100 * SATURATED_SHARE, 100 * OTHERS_SHARE_MACHINE, 100 * SATURATED_SHARE), ""]
    lim = {k: point_limits(v[0], k[1], v[1], v[2]) for k, v in points.items()}
    for col, title in (("durable", "Durable (`--fsync always` / `appendfsync always`)"),
                       ("fast", "Fast (`--fsync never` / `appendfsync no`)")):
        keys = sorted((k for k in lim if k[1] == col), key=lambda k: (k[2], _sys_order(k[0])))
        if not keys:
            continue
        L += ["### %s" % title, "", "| " + " | ".join(TABLE_HEAD) + " |",
              "|" + "|".join(["---", "---:"] + ["---:"] * (len(TABLE_HEAD) - 3) + ["---"]) + "|"]
        L += ["| " + " | ".join(table_row(k[0], k[2], lim[k])) + " |" for k in keys]
        L.append("")
        miss = [t for t in targets if t[1] == col and not t[6]]
        if miss:
            L += ["Missed targets, and what each would take:", ""]
        for what, c, sysname, x, target, rx, _ in miss:
            p = lim.get((sysname, c, x))
            if p:
                L.append(miss_line(what, sysname, x, p, target, lim.get(("redis", c, rx))))
        L.append("")
        mach = [machine_line(t[0], t[6], t[2], t[3], lim.get((t[2], col, t[3])), t[5],
                             lim.get(("redis", col, t[5]))) for t in targets if t[1] == col]
        mach = [m for m in mach if m]
        if mach:
            L += ["Verdicts the machine decided:", ""] + mach + [""]
    return L


def _sys_order(s):
    order = ["ringq", "ringq-stream", "redis"]
    return order.index(s) if s in order else 9


def inputs(d, run):
    """(res, fsyncs, sched) of one run of runs.tsv (report.read_runs' dict); fsyncs (None
    without its /metrics) also holds chains (commit_chains_max of d) and window_sum_s: the
    fdatasync-seconds between ID.metrics0 (the window's start) and ID.metrics, None without a
    usable ID.metrics0."""
    base = os.path.join(d, run["json"][:-len(".json")])
    fs = read_fsyncs(base + ".metrics")
    if fs is not None:
        fs["chains"] = commit_chains_max(d)
        fs0 = read_fsyncs(base + ".metrics0")
        fs["window_sum_s"] = None
        if fs0 is not None and fs0["count"] > 0 and fs["sum_s"] >= fs0["sum_s"]:
            fs["window_sum_s"] = fs["sum_s"] - fs0["sum_s"]
    return run["result"], fs, read_sched(base + ".sched")
