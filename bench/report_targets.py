"""bench/report_targets.py: the "Issue targets" verdict table of bench/report.py, with each row's
evidence, and the glue to the sections that explain them: "What limits each throughput target"
(report_limits.py) and "What holds each latency target" (report_tail.py, the floor under the
open loop included). Reads the series report_runs.series() made.
"""
import re

import report_limits
import report_tail
from report_runs import (COLUMNS, GROUP_INFO, GROUPS, best, fmt_n, fmt_ratio, fmt_us, fsync_q,
                         gen_note, lat, med_tput)


def verdict(ok):
    return "**NOT MEASURED**" if ok is None else ("**MET**" if ok else "**NOT MET**")


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
            target_row(L, "fast e2e batch 1 at x=%d ≥ 2× Redis appendfsync no (%s)" % (
                x, sysname), meas, ok)


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
                 "≤ 3× fdatasync p99 with `--fsync always` (fdatasync p99 %s, p99.9 %s: "
                 "3 × p99 = %s)" % (
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
