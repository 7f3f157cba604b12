"""bench/report_runs.py: the runs of a bench/suite_bench.sh results directory, for bench/report.py
and its sections (report_targets.py, report_plots.py): the groups and their units, meta.tsv and
runs.tsv read back, each series' median run, and the number formats every table uses.

A run counts when ringq-bench exited 0, its JSON says passed, and the server survived. The median
of the counted runs by throughput is kept (with two, the lower one), with that run's latencies.
"""
import json
import os


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
    _tasks("enqueue-b1", "Enqueue only, batch 1",
           "enqueue latency (request → durable confirmation)"),
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
        key = (r["group"], r["system"], r["column"], r["x"])
        out.setdefault(key, {"runs": []})["runs"].append(r)
    for s in out.values():
        ok = sorted((r for r in s["runs"] if r["ok"]),
                    key=lambda r: tput_of(r["group"], r["result"]))
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

