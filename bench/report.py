#!/usr/bin/python3
"""bench/report.py: median runs, tables, issue targets and gnuplot plots for bench/suite_bench.sh.

Usage (run with /usr/bin/python3 from the repository root):
  report.py peak DIR GROUP SYSTEM COLUMN   print the best median throughput of that series (0 if
                                           none)
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

This file writes the report's frame and its result tables; the rest, one concern a module:
  report_runs.py     groups, meta.tsv and runs.tsv read back, medians, number formats
  report_targets.py  the issue-target verdicts, and the glue to report_limits.py ("What limits
                     each throughput target") and report_tail.py ("What holds each latency
                     target", the floor under the open loop)
  report_plots.py    gnuplot scripts, plot data and SVGs
  report_prom.py     the /metrics text read back (for report_limits.py and report_tail.py)
"""
import math
import os
import sys

import report_plots
import report_targets
from report_runs import (COLUMNS, GROUP_INFO, GROUPS, SYSTEM_ORDER, Notes, add_sized_groups,
                         best, fmt_n, fmt_ratio, fmt_us, gen_note, lat, med_tput, read_meta,
                         read_runs, series, systems_in, tput_of)

verdict = report_targets.verdict  # bench/streams_report.py reads it as report.verdict


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
        ref = notes.ref("%s %s %s x=%d: %s" % (key[0], key[1], key[2], key[3], why))
        return ["FAIL " + ref] + ["-"] * 3
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
                ratio = "" if sysname == "ringq" else fmt_ratio(med_tput(rq),
                                                                med_tput(ser.get(key)))
                row += cells + [ratio]
            if anything or any(meta.get("na.%s.%s" % (sysname, c)) for c in cols):
                lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    if group.startswith("open") or group == "stall":
        lines += gen_lines(ser, group)
    return lines


def gen_lines(ser, group):
    """Under an open-loop table: each point's generator figures."""
    out = []
    for k in sorted(k for k in ser if k[0] == group):
        s = ser[k]
        g = gen_note(s["med"]["result"]) if s.get("med") else ""
        if g:
            out.append("- %s %s x=%d: %s" % (k[1], k[2], k[3], g))
    return ["Generator (the median run's):", ""] + out + [""] if out else []


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
    L += report_targets.targets(ser, meta, d)
    # A hand-written analysis saved in the results directory (profiles, what limits a missed
    # target) goes in right after the verdicts.
    try:
        with open(os.path.join(d, "analysis.md")) as f:
            L += [f.read().rstrip("\n"), ""]
    except OSError:
        pass
    L += report_targets.limits(d, ser, meta)
    L += report_targets.tail_section(d, ser, meta)
    L += ["## Systems and configurations", ""]
    L += ["| system | durable | fast |", "|---|---|---|"]
    for sysname in ("ringq", "beanstalkd", "redis", "jetstream"):
        ver = meta.get("version." + sysname)
        row = [sysname + (" " + ver if ver else "")]
        for c in COLUMNS:
            row.append(meta.get("na.%s.%s" % (sysname, c)) or
                       meta.get("conf.%s.%s" % (sysname, c), "-"))
        L.append("| " + " | ".join(row) + " |")
    L.append("")
    if meta.get("conf.rpc"):
        L += [meta["conf.rpc"], ""]
    L += ["## Results", "", "Median of %s run(s) per point by throughput; latencies are those of "
          "the median run. ringq ÷ system = ringq's throughput over that system's at the same x "
          "and column." % meta.get("reps", "?"), ""]
    names = []
    if meta.get("gnuplot") == "yes":
        names, errs = report_plots.run_gnuplot(d, report_plots.plots(d, ser, meta))
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
            L.append("- %s: %s" % (label, "; ".join("chunk %d: %s" % (i + 1, v)
                                                    for i, v in enumerate(vals))))
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