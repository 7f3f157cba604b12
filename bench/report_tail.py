"""bench/report_tail.py: what holds each latency target of issue 19 (open-loop p99 at half of
peak, no shard loop stall over 5 ms), for bench/report.py (the section "What holds each latency
target" and the verdict rows).

The /metrics text is read by bench/report_prom.py (read_hists, window, quantile, over: shared
with report_limits.py). Inputs, all saved by bench/suite_bench.sh beside each open-loop and stall run's JSON:
  ID.metrics0  ringqd's /metrics scraped when ringq-bench's warm-up ends (the window's start)
  ID.metrics   ... scraped after ringq-bench exited (the window's end, plus its teardown)
  ID.sched     bench_lib.sh cpu_sample lines (report_limits.read_sched)
The window's histograms are the difference of the two scrapes (without ID.metrics0, or with an
empty one or one cut short before a family's +Inf bucket and _count: the whole server life,
warm-up included, and the report says so).

The end-to-end latency (ringq-bench: the worker receives the task minus its SCHEDULED send time)
is split into
  generator   its sends' lateness: the share of sends that left over 1 ms after their slot
              (late_share), waiting for the in-flight cap (the server behind: late_cap_share) or
              behind the generator's own schedule (late_gen_share). ringq-bench counts late sends,
              it keeps no lateness histogram: with a share over 1 % (p99; 0.1 %: p99.9) the late
              sends are in the quantile, and their lateness is inside `outside` below.
  server      the stages a task crosses in ringqd (ringq_stage_seconds; docs/operations.md
              "Stage latencies"): enqueue receive, decode, append, commit (durable only), then
              the Work stream's deliver and send (those two counted once per delivered batch).
  outside     end-to-end minus the sum of the stages: the network both ways, the wake-ups of the
              server and of the worker, and the gaps between stages (a committed task waiting
              for the serve pass).
Quantiles do not add. Each stage's p99 is computed alone (interpolated inside its bucket, as
Prometheus' histogram_quantile does; buckets 1-2.5-5 per decade); their sum is what the server
would take if every stage were at its p99 at once, so it overstates the server's part of one
task's p99 and `outside` (e2e p99 minus that sum, at least 0) understates the rest. The part that
holds the tail is the largest of the stages' p99s and `outside`; `outside` is named after the late
sends when they are in the quantile (the in-flight cap: the server fell behind the offered rate;
or the generator's own schedule), since then it holds their lateness too.
"""
import os

import report_limits as RL
import report_prom as P
from report_prom import over, quantile, read_hists, total, window  # noqa: F401 (API)

# The stages of one task's path, in order: (op, stage, short name).
PATH = (("enqueue", "receive", "enq receive"), ("enqueue", "decode", "enq decode"),
        ("enqueue", "append", "enq append"), ("enqueue", "commit", "enq commit"),
        ("work", "deliver", "work deliver"), ("work", "send", "work send"))
STALL_S = 0.005  # issue 19: no shard loop turn over 5 ms


def whole_life(after, before, keys):
    """True when the window of any of `keys` present in `after` starts at the server's start:
    no (or an empty) window-start scrape, or the family missing from it."""
    if not before:
        return True
    return any(k in after and k not in before for k in keys) if after else False


def largest(h):
    """The bucket holding h's largest observation, as text: "in (a, b]" or "> a"; "-" if none."""
    return P.largest(h, fmt_s)


def fmt_s(v):
    if v is None:
        return "-"
    if v == float("inf"):
        return "> 2.5 s"
    if v >= 1:
        return "%.2f s" % v
    if v >= 1e-3:
        return "%.2f ms" % (v * 1e3)
    return "%.0f µs" % (v * 1e6)


def _machine(sc):
    """(True when other processes and steal held the server's CPU, by report_limits' rule
    (machine_held); its evidence as text)."""
    if not sc or sc.get("server_busy") is None or sc.get("server_run") is None:
        return False, ""
    others, held = RL.machine_held(sc["server_busy"], sc.get("server_steal"), sc["server_run"])
    ev = "CPU S %.2f busy, %.2f of it other processes and steal; the server's threads waited " \
         "%.2f s/s for their CPU" % (sc["server_busy"], others, sc.get("server_wait") or 0.0)
    return held, ev


def _late(res, q):
    """The late sends in quantile q: (name, text) when over 1 - q of the sends left over 1 ms
    after their slot (so they are in the quantile), else None. The name says what most of them
    waited for: the in-flight cap (the server behind the offered rate; the producers' enqueue
    round trip beside it) or the generator's own schedule."""
    share, gen, cap = (res.get(k) for k in ("late_share", "late_gen_share", "late_cap_share"))
    if not all(isinstance(v, (int, float)) for v in (share, gen, cap)) or share <= 1 - q:
        return None
    rt = (res.get("send_latency_us") or {}).get("p99")
    text = "%.2f %% of sends left over 1 ms late: %.2f %% waiting for the in-flight cap%s, " \
           "%.2f %% behind the generator's own schedule" % (
               100 * share, 100 * cap, " (the producers' enqueue round trip p99 %s)" % fmt_s(
                   rt / 1e6) if isinstance(rt, (int, float)) else "", 100 * gen)
    if cap >= gen:
        return ("late sends: the in-flight cap (the server behind the offered rate)", text)
    return ("late sends: the generator's schedule", text)


def tail_point(res, after, before=None, sched=None):
    """One open-loop run's latency split: its ringq-bench JSON `res`, the read_hists of the
    /metrics after the run and at the window's start (None: the whole life), its read_sched.
    Returns a dict: e2e {q: s}, stages [(name, count, mean_s, {q: s})], server {q: sum of the
    stages' quantiles}, outside {q: s}, late (late_share, late_cap_share, late_gen_share), turns
    {q: s} (loop turns in the window), turns_over (turns over 5 ms), fsync {q: s, "n": count},
    holder {q: (name, why)}, machine (bool), machine_why, whole_life (no window start)."""
    res = res or {}
    h = window(after, before) or {}
    lat = res.get("latency_us") or {}
    p = {"e2e": {}, "stages": [], "server": {}, "outside": {}, "holder": {}, "turns": {},
         "fsync": {}, "whole_life": whole_life(after, before, [("ringq_stage_seconds", 'op="%s",'
                                                               'stage="%s"' % x[:2]) for x in PATH]
                                                 + [("ringq_loop_stall_seconds", ""),
                                                    ("ringq_fsync_seconds", "")]),
         "late": tuple(res.get(k) for k in ("late_share", "late_cap_share", "late_gen_share"))}
    for q, k in ((0.99, "p99"), (0.999, "p999")):
        v = lat.get(k)
        p["e2e"][q] = v / 1e6 if isinstance(v, (int, float)) else None
    for op, stage, name in PATH:
        s = h.get(("ringq_stage_seconds", 'op="%s",stage="%s"' % (op, stage)))
        if not s or s[1] <= 0:
            continue
        p["stages"].append((name, s[1], s[2] / s[1], {q: quantile(s, q) for q in (0.99, 0.999)}))
    turns = h.get(("ringq_loop_stall_seconds", ""))
    fs = h.get(("ringq_fsync_seconds", ""))
    for q in (0.99, 0.999):
        p["turns"][q] = quantile(turns, q)
        if fs and fs[1] > 0:
            p["fsync"][q] = quantile(fs, q)
    p["turns_over"] = over(turns, STALL_S)
    p["fsync"]["n"] = fs[1] if fs else 0
    p["machine"], p["machine_why"] = _machine(sched)
    p["sched"] = sched or {}
    for q in (0.99, 0.999):
        if not p["stages"] or p["e2e"][q] is None:
            continue
        known = [st for st in p["stages"] if st[3][q] is not None]
        if not known:
            continue
        p["server"][q] = sum(st[3][q] for st in known)
        late = _late(res, q)
        p["outside"][q] = max(0.0, p["e2e"][q] - p["server"][q])
        parts = [(st[3][q], st[0], "its p%s" % _qn(q)) for st in known]
        how = "end to end minus the stages' sum %s" % fmt_s(p["server"][q])
        if late:
            # ringq-bench keeps no lateness histogram: the late sends' time is in `outside`.
            parts.append((p["outside"][q], late[0], how + ", with the late sends (%s; this part "
                          "also holds the network and wake-ups)" % late[1]))
        else:
            parts.append((p["outside"][q], "outside the server (network, wake-ups, gaps between "
                          "stages)", how))
        v, name, how = max(parts)
        p["holder"][q] = (name, "%s: %s; end to end %s" % (how, fmt_s(v), fmt_s(p["e2e"][q])), v)
    return p


def stall_point(after, before=None, sched=None):
    """One stall run's long turns in the window: dict(turns, over (turns over 5 ms), largest
    (text), oncpu (long turns with over 5 ms on CPU), preempted (with over 5 ms waiting for a
    CPU), long_n (turns of 1 ms or more, the split's), oncpu_s, preempted_s (their seconds),
    machine, machine_why, limit (a short verdict), why) or None without /metrics."""
    h = window(after, before)
    if h is None or ("ringq_loop_stall_seconds", "") not in h:
        return None
    t = h[("ringq_loop_stall_seconds", "")]
    on = h.get(("ringq_loop_stall_oncpu_seconds", ""))
    pre = h.get(("ringq_loop_stall_preempted_seconds", ""))
    p = {"turns": total(t), "over": over(t, STALL_S), "largest": largest(t),
         "oncpu": over(on, STALL_S), "preempted": over(pre, STALL_S),
         "long_n": on[1] if on else None, "oncpu_s": on[2] if on else None,
         "preempted_s": pre[2] if pre else None, "oncpu_largest": largest(on),
         "whole_life": whole_life(after, before, [("ringq_loop_stall" + x + "_seconds", "") for x in
                                                  ("", "_oncpu", "_preempted")])}
    p["machine"], p["machine_why"] = _machine(sched)
    if not p["over"]:
        p["limit"], p["why"] = "-", ""
        return p
    split = ""
    if p["oncpu"] is not None and p["preempted"] is not None:
        split = "%d with over 5 ms on CPU (ringqd's own work or a blocking call; the largest " \
                "%s), %d with over 5 ms waiting for a CPU" % (p["oncpu"], p["oncpu_largest"],
                                                              p["preempted"])
        if p["long_n"] and p["oncpu_s"] is not None and p["preempted_s"] is not None and \
                p["oncpu_s"] + p["preempted_s"] > 0:
            split += "; of the %d turns of 1 ms or more, %.0f %% of the time waiting for a " \
                     "CPU" % (p["long_n"], 100 * p["preempted_s"] /
                              (p["oncpu_s"] + p["preempted_s"]))
    p["limit"] = _stall_limit(p)
    p["why"] = "; ".join(x for x in (split, p["machine_why"]) if x)
    return p


def _stall_limit(p):
    """What the turns over 5 ms of stall_point p were: one name when they were all of one kind,
    else each kind's count. A turn can be over 5 ms with neither part over 5 ms alone (its own
    work and a wait for the CPU together): the turns over 5 ms that neither split counts."""
    if p["oncpu"] is None or p["preempted"] is None:
        return "unattributed (no split histograms)"
    rest = max(0, p["over"] - p["oncpu"] - p["preempted"])
    kinds = [(p["oncpu"], "ringqd's own turns", "ringqd's own"),
             (p["preempted"], "the scheduler (waiting for a CPU)", "the scheduler's"),
             (rest, "on CPU and waiting for it together (neither part alone over 5 ms)",
              "on CPU and waiting together")]
    kinds = [k for k in kinds if k[0]]
    if len(kinds) == 1:
        return kinds[0][1]
    return ", ".join("%d %s" % (k[0], k[2]) for k in kinds)


def inputs(d, run):
    """(res, after, before, sched) of one run of runs.tsv (report.read_runs' dict)."""
    base = os.path.join(d, run["json"][:-len(".json")])
    return (run["result"], read_hists(base + ".metrics"), read_hists(base + ".metrics0"),
            RL.read_sched(base + ".sched"))


# ---- the report's section ---------------------------------------------------------------------

def _qn(q):
    return "99" if q == 0.99 else "99.9"


def _q2(d):
    return "%s / %s" % (fmt_s(d.get(0.99)), fmt_s(d.get(0.999)))


HEAD = ["run", "e2e p99 / p99.9", "sends > 1 ms late (cap / generator)"] + \
    [n for _, _, n in PATH] + ["stages' sum", "outside the server", "loop turn p99 / p99.9",
                               "fdatasync p99 / p99.9 (n)",
                               "CPU S: ringqd / others; ringqd waited for it; CPU C busy",
                               "holds the p99", "holds the p99.9"]


def table_row(label, p):
    stages = {st[0]: st for st in p["stages"]}
    late = "-"
    if all(isinstance(v, (int, float)) for v in p["late"]):
        late = "%.2f %% (%.2f / %.2f)" % tuple(100 * v for v in p["late"])
    row = [label + (" (whole life)" if p["whole_life"] else ""), _q2(p["e2e"]), late]
    row += [_q2(stages[n][3]) if n in stages else "-" for _, _, n in PATH]
    row += [_q2(p["server"]), _q2(p["outside"]), _q2(p["turns"])]
    row.append("%s (%s)" % (_q2(p["fsync"]), RL._n(p["fsync"]["n"])) if p["fsync"]["n"] else "-")
    sc = p["sched"]
    if sc.get("server_run") is not None and sc.get("others") is not None:
        row.append("%.2f / %.2f; %.2f s/s; %s" % (sc["server_run"], sc["others"] + (
            sc.get("server_steal") or 0.0), sc.get("server_wait") or 0.0,
            "%.2f" % sc["client_busy"] if sc.get("client_busy") is not None else "-"))
    else:
        row.append("-")
    for q in (0.99, 0.999):
        hd = p["holder"].get(q)
        row.append("**%s** (%s)" % hd[:2] if hd else "-")
    return row


def section(points):
    """points: [(label, tail_point)] of the open-loop and stall runs, in the report's order."""
    if not points:
        return []
    L = ["## What holds each latency target", "",
         "Each open-loop run's end-to-end p99 and p99.9 (ringq-bench, from the scheduled send "
         "time) split into the generator's late sends, the server's stages on a task's path "
         "(`ringq_stage_seconds` over the measured window: /metrics scraped when the warm-up ends "
         "and after the run; each stage's quantile interpolated in its bucket, work deliver and "
         "send counted per delivered batch) and what lies outside the server (end to end minus "
         "the stages' sum: the network, wake-ups, gaps between stages). Quantiles do not add: "
         "the stages' sum overstates the server's part of one task's p99, so `outside` is a low "
         "estimate. The part that holds a quantile is the largest of the stages and `outside`; "
         "when over 1 % (p99; 0.1 % for p99.9) of the sends left over 1 ms late, the late sends "
         "are in that quantile and their lateness (ringq-bench keeps no histogram of it) is in "
         "`outside`, which is then named after what most of them waited for: the in-flight cap "
         "(the server behind the offered rate) or the generator's own schedule "
         "(bench/report_tail.py). CPU S: the share of the server's CPU its threads ran and "
         "other processes (steal included) took, and the server's threads' run-queue wait, over "
         "ringq-bench's whole life (`raw/<run>.sched`): a server waiting for its CPU puts that "
         "wait before the `receive` stage starts, i.e. outside the stages; CPU C (ringq-bench's, "
         "every process on it counted) busy: a generator that is slow to read its workers' "
         "connections puts that time outside the stages too.", "",
         "| " + " | ".join(HEAD) + " |", "|" + "|".join(["---"] + ["---:"] * (len(HEAD) - 3) +
                                                      ["---", "---"]) + "|"]
    L += ["| " + " | ".join(table_row(lab, p)) + " |" for lab, p in points]
    L.append("")
    mach = ["- %s: %s" % (lab, p["machine_why"]) for lab, p in points if p["machine"]]
    if mach:
        L += ["Runs whose verdict the machine decided (other processes and steal held CPU S; over "
              "ringq-bench's whole life):", ""] + mach + [""]
    return L


def open_note(p, q, limit_s):
    """The short text a target row gets: what holds quantile q, whether that part alone is over
    the target limit_s (µs), and whether the machine decided the run."""
    hd = p["holder"].get(q)
    if not hd:
        return ""
    s = "p%s held by **%s** (%s)" % (_qn(q), hd[0], hd[1])
    if limit_s is not None and hd[2] > limit_s / 1e6:
        s += ", alone over the target's %s" % fmt_s(limit_s / 1e6)
    if p["whole_life"] and q == 0.99:
        s += " (stages over the server's whole life: no /metrics at the window's start)"
    if p["machine"] and q == 0.99:
        s += "; **the machine decided** (%s)" % p["machine_why"]
    return s


# ---- the open loop's floor: requests that do nothing at the same rate ---------------------------

# The open-floor group's systems (bench/suite_bench.sh run_floor): (system, short name). The
# first two do nothing (no queue, no disk): the smaller of their p99s is the floor.
FLOOR = (("ringq-health", "ringqd Health/Check"), ("redis-ping", "Redis PING"),
         ("redis", "Redis e2e (LPUSH, LMOVE)"))
NOTHING = ("ringq-health", "redis-ping")


# A floor run on a busy machine is no floor: over this share of its sends left over 1 ms late
# (the generator behind its schedule or the server behind the rate), or other processes and
# steal took at least report_limits.OTHERS_SHARE_MACHINE of the server's CPU.
FLOOR_LATE_MAX = 0.01


def floor_point(e2e, runs, scheds=None, rates=None, e2e_sched=None):
    """One open-loop row's floor: e2e its ringq-bench JSON (the open run), runs {system: JSON of
    the floor-s<N> run at the same rate}, scheds {system: its report_limits.read_sched} (may
    lack some), rates {"e2e" or system: offered tasks/s of that run (its --rate)} (may lack
    some), e2e_sched the open run's read_sched. Returns dict(e2e {q: s}, sys {system: {q: s,
    "late": share, "others": share of CPU S other processes and steal took}}, floor (the smaller
    p99 of the do-nothing requests, s, or None), floor_by (its system's short name), floor_sys,
    floor999, busy (text: why the floor's run was on a busy machine, or ""), e2e_busy (text: why
    the open run itself was: over FLOOR_LATE_MAX late sends, or the machine held its server's
    CPU; or ""), rate_note (text when a floor run's offered rate is not the open row's, as across
    KEEP_RESULTS chunks; or ""))."""
    def qs(res, sc=None):
        lat = (res or {}).get("latency_us") or {}
        d = {q: lat[k] / 1e6 if isinstance(lat.get(k), (int, float)) else None
             for q, k in ((0.99, "p99"), (0.999, "p999"))}
        d["late"] = (res or {}).get("late_share")
        d["others"] = None
        if sc and sc.get("server_busy") is not None and sc.get("server_run") is not None:
            d["others"] = RL.machine_held(sc["server_busy"], sc.get("server_steal"),
                                          sc["server_run"])[0]
        return d
    scheds = scheds or {}
    p = {"e2e": qs(e2e), "sys": {s: qs(r, scheds.get(s)) for s, r in runs.items() if r},
         "floor": None, "floor_by": None, "floor_sys": None, "floor999": None, "busy": "",
         "e2e_busy": "", "rate_note": ""}
    why = []
    late = p["e2e"]["late"]
    if isinstance(late, (int, float)) and late > FLOOR_LATE_MAX:
        why.append("%.1f %% of its sends over 1 ms late" % (100 * late))
    held, held_why = _machine(e2e_sched)
    if held:
        why.append(held_why)
    p["e2e_busy"] = "; ".join(why)
    rates = rates or {}
    other = ["%s at %s" % (dict(FLOOR).get(k, k), RL._n(v)) for k, v in sorted(rates.items())
             if k != "e2e" and k in p["sys"] and rates.get("e2e") is not None and v is not None
             and v != rates["e2e"]]
    if other:
        p["rate_note"] = "floor runs at another offered rate than this row's %s tasks/s (%s): " \
                         "not the same load" % (RL._n(rates["e2e"]), ", ".join(other))
    cands = [(p["sys"][s][0.99], s) for s in NOTHING if p["sys"].get(s, {}).get(0.99) is not None]
    if cands:
        v, s = min(cands)
        p["floor"], p["floor_by"], p["floor_sys"] = v, dict(FLOOR)[s], s
        p["floor999"] = p["sys"][s][0.999]
        d, why = p["sys"][s], []
        if isinstance(d["late"], (int, float)) and d["late"] > FLOOR_LATE_MAX:
            why.append("%.1f %% of its sends over 1 ms late" % (100 * d["late"]))
        if d["others"] is not None and d["others"] >= RL.OTHERS_SHARE_MACHINE:
            why.append("other processes and steal took %.2f of the server's CPU" % d["others"])
        p["busy"] = "; ".join(why)
    return p


def floor_kind(p, limit_s):
    """The floor's verdict on an open row, in short: "the machine's limit" (a request that does
    nothing is over the target limit_s at this rate), "no floor: re-run on a quiet machine"
    (over it, but measured on a busy machine: p["busy"]), "the gap is ringq's" (under it, or no
    target), "gap undetermined: e2e run on a busy machine" (under it, but the open run itself
    was: p["e2e_busy"]), or "" without a floor or an e2e p99. The floor is a lower bound of the
    machine's share (a request that does nothing has no workers, no payload and 2 messages where
    an e2e task has at least 4), so "the gap is ringq's" means only that the machine does not
    by itself explain the miss."""
    if p["floor"] is None:
        return ""
    if limit_s is not None and p["floor"] > limit_s:
        return "no floor: re-run on a quiet machine" if p["busy"] else "the machine's limit"
    if p["e2e"].get(0.99) is None:
        return ""
    return "gap undetermined: e2e run on a busy machine" if p.get("e2e_busy") else \
        "the gap is ringq's"


def floor_verdict(p, limit_s, outside_s=None):
    """floor_kind's verdict as the target row's text, with its numbers: the floor and what
    measured it; under the target, ringq's e2e p99 minus the floor and, with outside_s (the row's
    p99 outside the server's stages, tail_point), how much of that the floor (network and
    wake-ups at this rate) can explain; ringqd's own Health/Check and Redis' own e2e at the rate
    beside it. "" without a floor."""
    kind = floor_kind(p, limit_s)
    if p["floor"] is None:
        return ""
    e2e = p["e2e"].get(0.99)
    s = "floor at this rate (a request that does nothing from the same generator and rate: no " \
        "workers, no payload, 2 messages where an e2e task has ≥ 4; at least this much is the " \
        "machine's): p99 %s (%s)" % (fmt_s(p["floor"]), p["floor_by"])
    if kind == "no floor: re-run on a quiet machine":
        s += ", over the target's %s, on a busy machine (%s): **%s**" % (
            fmt_s(limit_s), p["busy"], kind)
    elif kind == "the machine's limit":
        s += ", over the target's %s: **%s** (a request that does nothing misses it here)" % (
            fmt_s(limit_s), kind)
    elif kind:
        s += "%s: **%s** (e2e p99 %s − floor %s = %s%s)" % (
            ", under the target's %s" % fmt_s(limit_s) if limit_s is not None else "", kind,
            fmt_s(e2e), fmt_s(p["floor"]), fmt_s(max(0.0, e2e - p["floor"])),
            "; the open run itself: %s" % p["e2e_busy"] if p.get("e2e_busy") else "")
        if outside_s is not None and outside_s > p["floor"]:
            s += "; of the p99 outside the stages (%s) at least the floor is the machine's " \
                 "(network and wake-ups at this rate); the other %s is not the floor's: ringq's " \
                 "(gaps between its stages, its clients, late sends) or the machine's for the " \
                 "messages a request that does nothing does not send" % (
                     fmt_s(outside_s), fmt_s(outside_s - p["floor"]))
    if p.get("rate_note"):
        s += "; **%s**" % p["rate_note"]
    own = p["sys"].get("ringq-health", {}).get(0.99)
    if own is not None and p["floor_sys"] != "ringq-health":
        s += "; ringqd's own Health/Check at this rate: p99 %s" % fmt_s(own)
    red = p["sys"].get("redis", {}).get(0.99)
    if red is not None:
        s += "; Redis' own e2e at this rate: p99 %s%s" % (
            fmt_s(red), " (over the target too)" if limit_s is not None and red > limit_s else "")
    return s


FLOOR_HEAD = ["open row", "offered tasks/s", "ringq e2e p99 / p99.9"] + \
    ["%s p99 / p99.9 (late)" % n for _, n in FLOOR] + ["floor p99", "target", "verdict"]


def floor_section(rows):
    """rows: [(label, rate, floor_point, target limit s)] of every open row with floor runs."""
    if not rows:
        return []
    L = ["### The floor under each open-loop row", "",
         "At each open row's offered rate, from the same generator (ringq-bench, the same "
         "connections and in-flight cap, latency from the scheduled send time), requests that do "
         "nothing (bench/suite_bench.sh's open-floor group; no workers, no payload, 2 messages "
         "a request where an e2e task has at least 4): ringqd's "
         "`grpc.health.v1.Health/Check` (no queue, no disk: HTTP/2 and gRPC in and out on the "
         "shard) and Redis' `PING`; beside them Redis' own end-to-end path (LPUSH, then LMOVE "
         "and LREM by the same workers) at the same rate and payload. A call's latency is one "
         "round trip; enqueue-to-start is one too (producer to server, server to worker), so "
         "the smaller do-nothing p99 is a lower bound of what this machine costs the open loop "
         "at that rate: at least this much is the machine's. A floor over the target is the "
         "machine's limit; under it, the machine does not by itself explain the miss (the gap "
         "is ringq's, unless the open run itself was on a busy machine: then undetermined). "
         "(late) is the share of that run's sends that left over 1 ms late.", "",
         "| " + " | ".join(FLOOR_HEAD) + " |",
         "|" + "|".join(["---"] + ["---:"] * (len(FLOOR_HEAD) - 2) + ["---"]) + "|"]
    for label, rate, p, limit_s in rows:
        row = [label, RL._n(float(rate)) if rate not in (None, "?") else "?", _q2(p["e2e"])]
        for s, _ in FLOOR:
            d = p["sys"].get(s)
            late = " (%.1f %%)" % (100 * d["late"]) if d and isinstance(d.get("late"), (
                int, float)) else ""
            row.append(_q2(d) + late if d else "-")
        verdict = floor_kind(p, limit_s) or "-"
        if p.get("rate_note"):
            verdict += " (floor at another rate)"
        row += [fmt_s(p["floor"]), fmt_s(limit_s), verdict]
        L.append("| " + " | ".join(row) + " |")
    return L + [""]
