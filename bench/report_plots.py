"""bench/report_plots.py: the gnuplot scripts, their data files and the SVGs of bench/report.py
(throughput against concurrency, latency CDFs on a percentile scale), written beside the runs in
the results directory; run_gnuplot() draws them when gnuplot is installed.
"""
import os
import subprocess

from report_runs import COLUMNS, GROUP_INFO, fmt_us, fsync_q, med_tput, systems_in


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
    gp = gp_header(name + ".svg", title, "latency (µs, log scale)",
                   "percentile (tasks ≤ latency)")
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
    n = plot_tput(d, ser, "rpc", "-", "throughput-rpc",
                  "Unary gRPC Health/Check, server on one CPU")
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
    marks = [(1000.0, "target, fast: 1 ms")]
    if fs:
        marks.append((3 * fs, "target, durable: 3 x fdatasync p99 = %s" % fmt_us(3 * fs)))
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
