"""bench/report.py's "What limits each throughput target" (bench/report_limits.py) and "What
holds each latency target" (bench/report_tail.py).

LimitsReport and LimitsFunctions: a small synthetic results directory (runs.tsv, meta.tsv,
ringq-bench JSON, the /metrics and the cpu_sample lines the suite saves beside each run), the
ceilings of each side, which one binds, and what a missed target would take. Numbers are made up
to hit each branch; none is a real run.

TailFromARealRun: the files of a real short suite run (bench_limits_run/, trimmed: see its
README.md): every open-loop p99 row and both stall rows measured, each naming what holds it,
counted over the window between the two /metrics scrapes; the expected figures are computed
here from those files."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import report_limits as RL  # noqa: E402
import report_tail as RT  # noqa: E402

DURATION_S = 5.0


def result(tput, srv_us, cli_us):
    """A passed ringq-bench e2e result with that throughput and CPU per task on each side."""
    tasks = tput * DURATION_S
    return {"scenario": "e2e", "passed": True, "duration_s": DURATION_S, "tasks": tasks,
            "tasks_per_s": tput, "ops_per_s": tput,
            "latency_us": {"p50": 100.0, "p99": 900.0, "p999": 1500.0},
            "server_cpu_s": srv_us * tasks / 1e6, "server_cpu_us_per_task": srv_us,
            "client_cpu_s": cli_us * tasks / 1e6, "client_cpu_us_per_task": cli_us,
            "client_cpu_util": cli_us * tasks / 1e6 / DURATION_S}


def metrics(enqueued, fsyncs, mean_s, pipelined=0):
    """A /metrics text with `fsyncs` commit fsyncs of mean_s each, all under 1 ms, `pipelined` of
    them started while an older one ran."""
    les = ["0.0001", "0.00025", "0.0005", "0.001", "+Inf"]
    under = [0, 0, fsyncs // 2, fsyncs, fsyncs]
    lines = ["# TYPE ringq_fsync_seconds histogram"]
    lines += ['ringq_fsync_seconds_bucket{le="%s"} %d' % (le, c) for le, c in zip(les, under)]
    lines += ["ringq_fsync_seconds_sum %.6f" % (fsyncs * mean_s),
              "ringq_fsync_seconds_count %d" % fsyncs,
              'ringq_queue_tasks_enqueued_total{queue="bench"} %d' % enqueued,
              'ringq_queue_tasks_acked_total{queue="bench"} %d' % enqueued,
              "ringq_commits_pipelined_total %d" % pipelined]
    return "\n".join(lines) + "\n"


def sched(span_s, srv_busy, cli_busy, srv_wait, srv_steal=0.0, srv_run=0.5, io_wait=0.0):
    """Two cpu_sample lines (bench_lib.sh) span_s apart: CPU S busy srv_busy of the span (steal
    srv_steal), CPU C cli_busy; the server's main thread on CPU srv_run s per s and waiting
    srv_wait - io_wait, an io-wq worker waiting io_wait; a thread that exited between the samples
    (tid 3) must not count. 100 ticks a second."""
    ticks = int(span_s * 100)

    def cpu(busy, steal):
        b, st = int(busy * ticks), int(steal * ticks)
        return "%d 0 %d %d 0 0 0 %d 0 0" % (b // 2, b - b // 2, ticks - b - st, st)
    ns = lambda share: int(share * span_s * 1e9)
    before = ("1000.000000|0 0 0 0 0 0 0 0 0 0|0 0 0 0 0 0 0 0 0 0|"
              "1:ringqd:1000:2000 3:iou-wrk-1:5000000000:5000000000")
    after = "%.6f|%s|%s|1:ringqd:%d:%d 2:iou-wrk-1:0:%d" % (
        1000 + span_s, cpu(srv_busy, srv_steal), cpu(cli_busy, 0), 1000 + ns(srv_run),
        2000 + ns(srv_wait - io_wait), ns(io_wait))
    return before + "\n" + after + "\n"


# (system, column, x) -> /metrics text at the window's start (ID.metrics0)
WINDOW0 = {
    # 15 s of fdatasyncs at the end, 10 s at the start: 5 s in the 5 s window, 1.00 in flight.
    ("ringq-stream", "durable", 256): metrics(1000000, 40000, 0.00025),
    # 25 s at the end, 11 s at the start: 14 s in 5 s, 2.80 in flight: the 3 chains kept full.
    ("ringq", "durable", 256): metrics(100000, 44000, 0.00025),
}

# (system, column, x) -> (result, /metrics text or None, sched text or None)
POINTS = {
    # Server at 0.90 of its ceiling (1e6 / 9 = 111,111): the server's CPU binds.
    ("ringq-stream", "durable", 256): (result(100000, 9.0, 4.0), metrics(1200000, 60000, 0.00025),
                                       sched(7, 0.95, 0.5, 0.02, srv_run=0.85)),
    # fdatasync: 3 chains in flight x 4 tasks each / 0.25 ms = 48,000 < 100,000 (server) and
    # 200,000; the window kept 2.80 fdatasyncs in flight (WINDOW0): measured, not the model.
    ("ringq", "durable", 256): (result(45000, 10.0, 5.0),
                                metrics(400000, 100000, 0.00025, pipelined=90000),
                                sched(7, 0.4, 0.3, 0.01, srv_run=0.35)),
    # Server at 0.40 of its ceiling, its CPU mostly its own, the io-wq workers queueing behind it:
    # round trips, with the io-wq wait as the evidence.
    ("ringq", "durable", 64): (result(20000, 20.0, 10.0), metrics(800000, 40000, 0.00025),
                               sched(7, 0.45, 0.3, 0.50, srv_run=0.42, io_wait=0.40)),
    # Server at 0.80 of its ceiling, other processes 0.25 of its CPU: the machine.
    ("redis", "durable", 256): (result(40000, 20.0, 5.0), None,
                                sched(7, 0.95, 0.3, 0.01, srv_run=0.70)),
    # Neither side near its ceiling, both CPUs mostly their own process's: round trips.
    ("ringq", "fast", 64): (result(20000, 10.0, 12.0), metrics(150000, 0, 0.0),
                            sched(7, 0.30, 0.30, 0.01, srv_run=0.25)),
    # Far below its ceiling, the hypervisor stole 0.15 of the server's CPU and the rest was busy:
    # the machine.
    ("redis", "fast", 64): (result(15000, 12.0, 6.0), None,
                            sched(7, 0.75, 0.4, 0.0, srv_steal=0.15, srv_run=0.70)),
}


def write_dir(d, points=None, chains="3"):
    points = POINTS if points is None else points
    os.makedirs(os.path.join(d, "raw"))
    with open(os.path.join(d, "meta.tsv"), "w") as f:
        for k, v in (("date", "2026-12-07"), ("host", "test"), ("reps", "1"), ("gnuplot", "no"),
                     ("server_cpu", "0"), ("client_cpu", "1"), ("quick", "0"),
                     ("ringqd.commit_chains_max", chains)):
            f.write("%s\t%s\n" % (k, v))
    with open(os.path.join(d, "runs.tsv"), "w") as f:
        for (sysname, col, x), (res, met, sch) in points.items():
            rid = "e2e-b1.%s.%s.x%d.r1" % (sysname, col, x)
            with open(os.path.join(d, "raw", rid + ".json"), "w") as jf:
                json.dump(res, jf)
            if met is not None:
                with open(os.path.join(d, "raw", rid + ".metrics"), "w") as mf:
                    mf.write(met)
            if (sysname, col, x) in WINDOW0:
                with open(os.path.join(d, "raw", rid + ".metrics0"), "w") as mf:
                    mf.write(WINDOW0[(sysname, col, x)])
            if sch is not None:
                with open(os.path.join(d, "raw", rid + ".sched"), "w") as sf:
                    sf.write(sch)
            f.write("\t".join(["e2e-b1", sysname, col, "e2e", str(x), "1", "raw/%s.json" % rid,
                               "0", "yes", "ringq-bench e2e ..."]) + "\n")


def table_rows(md, heading):
    """{(system, x): cells} of the limits table under `heading` in the report."""
    lines = md.split("\n")
    i = lines.index(heading)
    rows = {}
    for ln in lines[i + 1:]:
        if ln.startswith("### ") or ln.startswith("## "):
            break
        if ln.startswith("| ") and not ln.startswith("| system"):
            cells = [c.strip() for c in ln.strip("|").split(" | ")]
            rows[(cells[0], int(cells[1]))] = cells
    return rows


class LimitsReport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        d = os.path.join(cls.tmp.name, "run")
        write_dir(d)
        out = os.path.join(cls.tmp.name, "run.md")
        p = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "bench", "report.py"), "report",
                            d, out], capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise AssertionError("report.py failed: %s" % p.stderr)
        with open(out) as f:
            cls.md = f.read()
        cls.durable = table_rows(cls.md, "### Durable (`--fsync always` / `appendfsync always`)")
        cls.fast = table_rows(cls.md, "### Fast (`--fsync never` / `appendfsync no`)")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_ceilings_of_each_side(self):
        # 1e6 / 9 us; 1e6 / 4 us; 3 x (1,200,000 / 60,000 = 20 tasks) / 0.25 ms = 240,000.
        self.assertEqual(self.durable[("ringq-stream", 256)][9], "111,111 / 250,000 / 240,000")
        self.assertEqual(self.durable[("ringq", 256)][9], "100,000 / 200,000 / 48,000")
        self.assertEqual(self.durable[("redis", 256)][9], "50,000 / 200,000 / -")
        self.assertEqual(self.fast[("ringq", 64)][9], "100,000 / 83,333 / -")

    def test_binds_column(self):
        b = lambda t, k: t[k][10]
        self.assertTrue(b(self.durable, ("ringq-stream", 256)).startswith(
            "**server CPU** (at 0.90"))
        self.assertTrue(b(self.durable, ("ringq", 256)).startswith(
            "**fdatasync** (measured: fdatasyncs in flight 2.80 of 3 on average in the window "
            "(fdatasync-seconds / window), 90 % started while an older one ran; the model's "
            "ceiling at 0.94)"),
            b(self.durable, ("ringq", 256)))
        self.assertTrue(b(self.durable, ("redis", 256)).startswith(
            "**the machine** (closest: server CPU at 0.80 of its ceiling; its CPU 0.95 busy, "
            "0.25 of it other processes"), b(self.durable, ("redis", 256)))
        self.assertTrue(b(self.durable, ("ringq", 64)).startswith(
            "**round trips** (closest: server CPU at 0.40"), b(self.durable, ("ringq", 64)))
        self.assertIn("0.40 s/s of it its io-wq workers", b(self.durable, ("ringq", 64)))
        self.assertTrue(b(self.fast, ("ringq", 64)).startswith(
            "**round trips** (closest: generator CPU at 0.24"), b(self.fast, ("ringq", 64)))
        self.assertNotIn("io-wq", b(self.fast, ("ringq", 64)))
        self.assertTrue(b(self.fast, ("redis", 64)).startswith("**the machine**"),
                        b(self.fast, ("redis", 64)))

    def test_cpu_and_fsync_columns(self):
        row = self.durable[("ringq-stream", 256)]
        self.assertEqual(row[3], "9.00 (0.90)")  # server us/task (share of its CPU in the window)
        self.assertEqual(row[4], "4.00 (0.40)")
        self.assertEqual(row[5], "0.95 / 0.50 (0.00 / 0.00)")
        self.assertEqual(row[6], "0.85 / 0.10")
        self.assertEqual(row[7], "0.02 s/s (0.00)")
        # 5 fdatasync-seconds in the 5 s window: 1.00 in flight (WINDOW0).
        self.assertEqual(row[8], "250 µs / ≤ 1.00 ms / ≤ 1.00 ms (20.0); 1.00 of 3 in flight")
        # No /metrics at the window's start: not measured.
        self.assertEqual(self.durable[("ringq", 64)][8],
                         "250 µs / ≤ 1.00 ms / ≤ 1.00 ms (20.0); - of 3 in flight")
        self.assertEqual(self.durable[("ringq", 64)][7], "0.50 s/s (0.40)")

    def test_missed_targets_say_what_they_would_take(self):
        # Durable: 3 x Redis' best (40,000) = 120,000 tasks/s = 8.33 us per task on each side.
        self.assertIn("- **durable ≥ 3× Redis always, streaming**: ringq-stream at x=256 did "
                      "100,000 tasks/s; the target is 120,000 tasks/s, which needs ≤ 8.33 µs",
                      self.md)
        self.assertIn("ringqd costs 9.00 µs (1.08× what it may), ringq-bench 4.00 µs (within)",
                      self.md)
        # At 0.25 ms per fdatasync, three in flight: 120,000 x 0.00025 / 3 = 10 tasks each.
        self.assertIn("the fdatasync path, 3 in flight at its 250 µs mean, needs ≥ 10.0 tasks per "
                      "fdatasync (has 20.0, with 1.00 in flight in the window). Ceilings: server CPU 111,111, "
                      "fdatasync 240,000, generator CPU 250,000; binds: **server CPU** (at 0.90 "
                      "of its ceiling).", self.md)
        # Redis' server costs 20 us, ringqd's 9: 2.22x if both servers had a full CPU.
        self.assertIn("the ratio would be 2.22×", self.md)
        # Unary: 120,000 x 0.00025 / 3 = 10 tasks per fdatasync again, has 4.
        self.assertIn("- **durable ≥ 3× Redis always, unary**: ringq at x=256 did 45,000", self.md)
        # Fast at x=64: 2 x 15,000 = 30,000 = 33.33 us; ringq did 20,000: missed.
        self.assertIn("- **fast ≥ 2× Redis no at x=64, ringq**: ringq at x=64 did 20,000 "
                      "tasks/s; the target is 30,000 tasks/s, which needs ≤ 33.33 µs", self.md)

    def test_verdicts_the_machine_decided(self):
        # Redis' durable best (x=256) and its fast x=64 were limited by the machine: every
        # verdict compared with them says so; ringq-stream's durable point was not.
        self.assertIn("- **durable ≥ 3× Redis always, streaming** (NOT MET): limited by the "
                      "machine: redis at x=256 (closest: server CPU at 0.80", self.md)
        self.assertIn("- **fast ≥ 2× Redis no at x=64, ringq** (NOT MET): limited by the machine: "
                      "redis at x=64", self.md)
        self.assertNotIn("ringq-stream at x=256 (closest", self.md)

    def test_a_met_target_has_no_line(self):
        with tempfile.TemporaryDirectory() as t:
            points = dict(POINTS)
            points[("ringq", "fast", 64)] = (result(31000, 10.0, 12.0), None, None)
            write_dir(os.path.join(t, "r"), points)
            out = os.path.join(t, "r.md")
            subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "bench", "report.py"),
                            "report", os.path.join(t, "r"), out], check=True, timeout=60)
            with open(out) as f:
                md = f.read()
        self.assertNotIn("- **fast ≥ 2× Redis no at x=64, ringq**: ringq at x=64 did", md)
        self.assertIn("- **durable ≥ 3× Redis always, streaming**: ringq-stream at x=256 did", md)
        # Met, but against a Redis point the machine held: said so.
        self.assertIn("- **fast ≥ 2× Redis no at x=64, ringq** (MET): limited by the machine", md)


class LimitsFunctions(unittest.TestCase):
    def test_point_limits_without_inputs(self):
        p = RL.point_limits({}, "durable")
        self.assertEqual(p["ceil"], {})
        self.assertIsNone(p["binds"])

    def test_read_sched_shares(self):
        with tempfile.NamedTemporaryFile("w", suffix=".sched", delete=False) as f:
            f.write(sched(10, 0.6, 0.2, 0.05, srv_steal=0.1, srv_run=0.5, io_wait=0.03))
        try:
            s = RL.read_sched(f.name)
        finally:
            os.unlink(f.name)
        self.assertAlmostEqual(s["span_s"], 10.0, places=3)
        self.assertAlmostEqual(s["server_busy"], 0.6, places=3)
        self.assertAlmostEqual(s["server_steal"], 0.1, places=3)
        self.assertAlmostEqual(s["client_busy"], 0.2, places=3)
        self.assertAlmostEqual(s["server_wait"], 0.05, places=3)
        self.assertAlmostEqual(s["server_run"], 0.5, places=3)
        self.assertAlmostEqual(s["io_wait"], 0.03, places=3)
        self.assertAlmostEqual(s["others"], 0.1, places=3)

    def test_others_on_a_cpu_with_idle_time_are_not_the_machine(self):
        # Server at 0.40 of its ceiling; other processes took 0.20 of its CPU but 0.40 was idle.
        sc = {"server_busy": 0.60, "server_steal": 0.0, "server_run": 0.40, "server_wait": 0.0}
        p = RL.point_limits(result(20000, 20.0, 5.0), "fast", None, sc)
        self.assertEqual((p["binds"], p["limit"]), ("server CPU", "round trips"))
        sc["server_busy"] = 0.90  # the same others, no idle time left: the machine
        p = RL.point_limits(result(20000, 20.0, 5.0), "fast", None, sc)
        self.assertEqual(p["limit"], "the machine")

    def test_fast_column_has_no_fsync_ceiling(self):
        with tempfile.NamedTemporaryFile("w", suffix=".metrics", delete=False) as f:
            f.write(metrics(1000, 100, 0.001))
        try:
            fs = RL.read_fsyncs(f.name)
        finally:
            os.unlink(f.name)
        fs["chains"] = 3
        self.assertNotIn("fdatasync", RL.point_limits(result(1000, 10, 10), "fast", fs)["ceil"])
        # 3 chains x 10 tasks per fdatasync / 1 ms.
        self.assertAlmostEqual(
            RL.point_limits(result(1000, 10, 10), "durable", fs)["ceil"]["fdatasync"], 30000.0)

    def test_under_the_fdatasync_model_is_undetermined_not_round_trips(self):
        # Session 11's ringq durable x=64 (final-suite): 601,235 tasks in 43,495 fdatasyncs of
        # 13.334 s in all, 38,578 of them started while an older one ran; 100,129 tasks/s. Three
        # chains: a ceiling of 135,268, the point at 0.74 of it. The ceiling is an upper bound, so
        # being under it does not put the limit elsewhere: undetermined (it read "round trips").
        with tempfile.NamedTemporaryFile("w", suffix=".metrics", delete=False) as f:
            f.write(metrics(601235, 43495, 13.334268865 / 43495, pipelined=38578))
        try:
            fs = RL.read_fsyncs(f.name)
        finally:
            os.unlink(f.name)
        fs["chains"], fs["window_sum_s"] = 3, None
        sc = {"server_busy": 0.65, "server_steal": 0.0, "server_run": 0.58, "server_wait": 0.78,
              "io_wait": 0.56}
        p = RL.point_limits(result(100129, 6.77, 3.28), "durable", fs, sc)
        self.assertAlmostEqual(p["ceil"]["fdatasync"], 135268, delta=1)
        self.assertEqual((p["binds"], p["limit"]), ("fdatasync", "undetermined"))
        self.assertIn("closest: fdatasync (model upper bound) at 0.74 of its ceiling", p["why"])
        self.assertIn("fdatasyncs in flight: not measured", p["why"])
        self.assertNotIn("round trips", p["why"])
        # The window's fdatasync-seconds: 10 s in 5 s, 2.00 in flight of 3: still undetermined.
        fs["window_sum_s"] = 10.0
        p = RL.point_limits(result(100129, 6.77, 3.28), "durable", fs, sc)
        self.assertEqual(p["limit"], "undetermined")
        self.assertIn("fdatasyncs in flight 2.00 of 3 on average in the window", p["why"])
        # 13 s in 5 s: 2.60 of 3, the chains kept full: the fdatasync path, measured.
        fs["window_sum_s"] = 13.0
        p = RL.point_limits(result(100129, 6.77, 3.28), "durable", fs, sc)
        self.assertEqual(p["limit"], "fdatasync")
        # At 0.85 of the model or more but the chains not full: the model's upper bound.
        fs["window_sum_s"] = 10.0
        p = RL.point_limits(result(120000, 6.77, 3.28), "durable", fs, sc)
        self.assertEqual(p["limit"], "fdatasync (model upper bound)")

    def test_commit_chains_max_is_read_from_the_run(self):
        with tempfile.TemporaryDirectory() as t:
            self.assertIsNone(RL.commit_chains_max(t))  # no meta.tsv: unknown
            with open(os.path.join(t, "meta.tsv"), "w") as f:
                f.write("host\tx\nringqd.commit_chains_max\t\n")
            self.assertIsNone(RL.commit_chains_max(t))  # recorded empty (no gdb): unknown
            with open(os.path.join(t, "meta.tsv"), "a") as f:
                f.write("ringqd.commit_chains_max\t5\n")
            self.assertEqual(RL.commit_chains_max(t), 5)

    def test_unknown_chains_give_no_fdatasync_ceiling(self):
        fs = {"count": 100.0, "sum_s": 0.1, "p99_s": 0.001, "p999_s": 0.001, "enqueued": 1000.0,
              "pipelined": 0.0, "chains": None, "window_sum_s": None}
        p = RL.point_limits(result(1000, 10, 10), "durable", fs)
        self.assertNotIn("fdatasync", p["ceil"])
        self.assertIsNone(RL.required(2000, p)["per_fsync"])

    def test_a_run_without_chains_says_so(self):
        with tempfile.TemporaryDirectory() as t:
            write_dir(os.path.join(t, "r"), chains="")
            out = os.path.join(t, "r.md")
            subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "bench", "report.py"),
                            "report", os.path.join(t, "r"), out], check=True, timeout=60)
            with open(out) as f:
                md = f.read()
        rows = table_rows(md, "### Durable (`--fsync always` / `appendfsync always`)")
        self.assertEqual(rows[("ringq", 256)][9], "100,000 / 200,000 / -")
        self.assertEqual(rows[("ringq-stream", 256)][8],
                         "250 µs / ≤ 1.00 ms / ≤ 1.00 ms (20.0); 1.00 of ? in flight")


# ---- the latency targets, from a real run ------------------------------------------------------

RUN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_limits_run")


def report_of(d):
    """report.py's Markdown for results directory d (a copy: the report writes its plot data
    there), without gnuplot."""
    with open(os.path.join(d, "meta.tsv")) as f:
        meta = f.read()
    with open(os.path.join(d, "meta.tsv"), "w") as f:
        f.write(re.sub(r"(?m)^gnuplot\t.*$", "gnuplot\tno", meta))
    out = d + ".md"
    p = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "bench", "report.py"), "report", d,
                        out], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError("report.py failed: %s" % p.stderr)
    with open(out) as f:
        return f.read()


def target_rows(md):
    """{target text: (measured, verdict)} of the report's issue targets table."""
    rows = {}
    for ln in md.split("## Issue targets", 1)[1].split("\n## ", 1)[0].split("\n"):
        if ln.startswith("| ") and not ln.startswith("| target"):
            c = [x.strip() for x in ln.strip().strip("|").split(" | ")]
            rows[c[0]] = (c[1], c[2])
    return rows


def secs(text):
    """A report figure ("2.16 ms", "986 µs", "1.20 s") in seconds."""
    v, unit = text.split()
    return float(v) * {"µs": 1e-6, "ms": 1e-3, "s": 1.0}[unit]


def counts(path, name):
    """(count, observations <= 5 ms) of histogram `name` in a /metrics file, read here."""
    c = le5 = 0.0
    with open(path) as f:
        for ln in f:
            if ln.startswith(name + "_count "):
                c = float(ln.split()[1])
            elif ln.startswith(name + '_bucket{le="0.005"}'):
                le5 = float(ln.split()[1])
    return c, le5


def runs_of(group_prefix):
    with open(os.path.join(RUN, "runs.tsv")) as f:
        rows = [ln.rstrip("\n").split("\t") for ln in f if ln.strip()]
    return [r for r in rows if r[0].startswith(group_prefix)]


@unittest.skipUnless(os.path.isdir(RUN), "no recorded run in " + RUN)
class TailFromARealRun(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.d = os.path.join(cls.tmp.name, "run")
        shutil.copytree(RUN, cls.d)
        cls.md = report_of(cls.d)
        cls.rows = target_rows(cls.md)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def open_rows(self):
        return {k: v for k, v in self.rows.items() if k.startswith("p99 enqueue-to-start")}

    def test_every_open_row_is_measured_and_names_what_holds_it(self):
        rows = self.open_rows()
        sizes = [r[0][len("open-s"):] for r in runs_of("open-s")]
        self.assertEqual(len(rows), 2 * len(set(sizes)), rows.keys())
        for what, (meas, verdict) in rows.items():
            self.assertNotEqual(verdict, "**NOT MEASURED**", what)
            self.assertRegex(meas, r"p99 [0-9.]+ (µs|ms), p99\.9 [0-9.]+ (µs|ms)", what)
            self.assertIn("; p99 held by **", meas, what)
            self.assertIn("; p99.9 held by **", meas, what)
            self.assertNotIn("whole life", meas, what)  # the window's start was scraped

    def test_the_part_named_is_the_largest(self):
        """In the section's table, the part that holds each quantile is the largest of the
        stages' and outside's figures printed beside it; the e2e figures are the JSON's."""
        sec = self.md.split("## What holds each latency target", 1)[1].split("\n## ", 1)[0]
        lines = [ln for ln in sec.split("\n") if ln.startswith("| ")]
        head = [c.strip() for c in lines[0].strip("|").split(" | ")]
        body = [[c.strip() for c in ln.strip("|").split(" | ")] for ln in lines[1:]]
        self.assertEqual(len(body), len(runs_of("open-s")) + len(runs_of("stall")))
        parts = [h for h in head if h.startswith(("enq ", "work "))] + ["outside the server"]
        for row in body:
            cell = dict(zip(head, row))
            for i, q in enumerate(("p99", "p99.9")):
                vals = {h: secs(cell[h].split(" / ")[i]) for h in parts if cell[h] != "-"}
                named = cell["holds the " + q]
                m = re.match(r"\*\*(.+?)\*\* \(", named)
                self.assertIsNotNone(m, named)
                name = m.group(1)
                # `outside` is named after the late sends when they are in the quantile.
                key = "outside the server" if name.startswith(("outside", "late sends")) else name
                self.assertEqual(vals[key], max(vals.values()), (row[0], q, named))
            e2e = [secs(x) for x in cell["e2e p99 / p99.9"].split(" / ")]
            group, col = row[0].split()[:2]
            run = next(r for r in runs_of(group) if r[0] == group and r[2] == col)
            with open(os.path.join(RUN, run[6])) as f:
                res = json.load(f)
            for v, k in zip(e2e, ("p99", "p999")):
                self.assertAlmostEqual(v, res["latency_us"][k] / 1e6, delta=max(0.006 * v, 1e-6))

    def test_stall_rows_count_the_window(self):
        for r in runs_of("stall"):
            base = os.path.join(RUN, r[6][:-len(".json")])
            c1, u1 = counts(base + ".metrics", "ringq_loop_stall_seconds")
            c0, u0 = counts(base + ".metrics0", "ringq_loop_stall_seconds")
            what = next(k for k in self.rows if k.startswith("no shard loop stall") and
                        "--fsync %s" % ("always" if r[2] == "durable" else "never") in k)
            meas, verdict = self.rows[what]
            over = int((c1 - u1) - (c0 - u0))
            self.assertTrue(meas.startswith("%d of %s loop turns over 5 ms in the window" % (
                over, "{:,.0f}".format(c1 - c0))), meas)
            self.assertEqual(verdict, "**MET**" if over == 0 else "**NOT MET**")
            if over:
                on = counts(base + ".metrics", "ringq_loop_stall_oncpu_seconds")
                on0 = counts(base + ".metrics0", "ringq_loop_stall_oncpu_seconds")
                self.assertIn("limit: **", meas)
                self.assertIn("%d with over 5 ms on CPU" % ((on[0] - on[1]) - (on0[0] - on0[1])),
                              meas)

    def test_without_the_window_start_it_says_whole_life(self):
        with tempfile.TemporaryDirectory() as t:
            d = os.path.join(t, "run")
            shutil.copytree(RUN, d)
            for f in os.listdir(os.path.join(d, "raw")):
                if f.endswith(".metrics0"):
                    os.unlink(os.path.join(d, "raw", f))
            md = report_of(d)
        rows = target_rows(md)
        for r in runs_of("stall"):
            c1, u1 = counts(os.path.join(RUN, r[6][:-len(".json")]) + ".metrics",
                            "ringq_loop_stall_seconds")
            what = next(k for k in rows if k.startswith("no shard loop stall") and
                        "--fsync %s" % ("always" if r[2] == "durable" else "never") in k)
            self.assertTrue(rows[what][0].startswith("%d of %s loop turns over 5 ms (whole life" % (
                c1 - u1, "{:,.0f}".format(c1))), rows[what][0])
        self.assertIn("(whole life)", md)

    def stall_rows_of_a_broken_window_start(self, cut):
        """The stall rows' texts when each stall run's ID.metrics0 is cut(text)'s text."""
        with tempfile.TemporaryDirectory() as t:
            d = os.path.join(t, "run")
            shutil.copytree(RUN, d)
            for r in runs_of("stall"):
                path = os.path.join(d, r[6][:-len(".json")]) + ".metrics0"
                with open(path) as f:
                    text = f.read()
                with open(path, "w") as f:
                    f.write(cut(text))
            rows = target_rows(report_of(d))
        return {r[2]: next(v[0] for k, v in rows.items() if k.startswith("no shard loop stall")
                           and "--fsync %s" % ("always" if r[2] == "durable" else "never") in k)
                for r in runs_of("stall")}

    def test_an_empty_window_start_says_whole_life(self):
        # A failed scrape used to leave a 0-byte ID.metrics0, read as "in the window".
        for col, meas in self.stall_rows_of_a_broken_window_start(lambda text: "").items():
            self.assertIn("loop turns over 5 ms (whole life: no window start)", meas, col)
            self.assertNotIn("in the window", meas, col)

    def test_a_truncated_window_start_says_whole_life(self):
        # Cut in the middle of the loop-turn histogram: that family has no +Inf bucket and no
        # _count in the window start, so it counts from the server's start and says so.
        def cut(text):
            i = text.index('ringq_loop_stall_seconds_bucket{le="0.005"}')
            return text[:i]
        for col, meas in self.stall_rows_of_a_broken_window_start(cut).items():
            self.assertIn("loop turns over 5 ms (whole life: no window start)", meas, col)

    def test_a_stall_row_counts_each_kind_of_long_turn(self):
        # The --fsync never stall run: 18 turns over 5 ms, 14 waiting over 5 ms for a CPU, none
        # over 5 ms on CPU, 4 with neither part over 5 ms alone: not all "the scheduler".
        base = os.path.join(RUN, next(r for r in runs_of("stall") if r[2] == "fast")[6][:-5])
        d = lambda name: [a - b for a, b in zip(counts(base + ".metrics", name),
                                                 counts(base + ".metrics0", name))]
        c, u = d("ringq_loop_stall_seconds")
        on, pre = d("ringq_loop_stall_oncpu_seconds"), d("ringq_loop_stall_preempted_seconds")
        over, oncpu, preempted = c - u, on[0] - on[1], pre[0] - pre[1]
        self.assertGreater(over, oncpu + preempted)
        self.assertGreater(preempted, 0)
        self.assertEqual(oncpu, 0)
        what = next(k for k in self.rows if k.startswith("no shard loop stall") and
                    "--fsync never" in k)
        self.assertIn("limit: **%d the scheduler's, %d on CPU and waiting together**" % (
            preempted, over - oncpu - preempted), self.rows[what][0])

    def test_a_missed_throughput_row_names_what_binds(self):
        rows = {k: v for k, v in self.rows.items() if k.startswith(("durable e2e, one task",
                                                                    "fast e2e batch 1"))}
        self.assertTrue(rows)
        for what, (meas, verdict) in rows.items():
            if verdict == "**NOT MET**":
                self.assertRegex(meas, r"; ringq(-stream)? binds: \*\*(server CPU|generator CPU|"
                                 r"fdatasync( \(model upper bound\))?|undetermined|the machine|"
                                 r"round trips)\*\* \(", what)

    def test_durable_rows_read_ringqd_own_fdatasyncs(self):
        for what, (meas, _) in self.open_rows().items():
            if "--fsync always" in what:
                self.assertIn("ringqd's own fdatasyncs in the window: p99 ", meas)


class StallSplitFromARealRun(unittest.TestCase):
    """sample-r2's --fsync never stall run (extra/, its loop-turn lines only): one turn over 5 ms
    in the window, neither its time on CPU nor its wait for one over 5 ms alone."""
    BASE = os.path.join(RUN, "extra", "r2-stall.ringq.fast.x512.r1")

    @unittest.skipUnless(os.path.exists(BASE + ".metrics"), "no recorded run")
    def test_a_turn_neither_part_of_which_is_over_5_ms(self):
        after = RT.read_hists(self.BASE + ".metrics")
        before = RT.read_hists(self.BASE + ".metrics0")
        sp = RT.stall_point(after, before)
        d = lambda name: [a - b for a, b in zip(counts(self.BASE + ".metrics", name),
                                                 counts(self.BASE + ".metrics0", name))]
        c, u = d("ringq_loop_stall_seconds")
        on, pre = d("ringq_loop_stall_oncpu_seconds"), d("ringq_loop_stall_preempted_seconds")
        self.assertEqual(sp["over"], c - u)
        self.assertEqual((sp["oncpu"], sp["preempted"]), (on[0] - on[1], pre[0] - pre[1]))
        self.assertGreater(sp["over"], 0)
        self.assertEqual((sp["oncpu"], sp["preempted"]), (0, 0))
        self.assertEqual(sp["limit"], "on CPU and waiting for it together (neither part alone "
                         "over 5 ms)")


class TailFunctions(unittest.TestCase):
    H = [[(0.001, 50.0), (0.0025, 90.0), (0.005, 99.0), (float("inf"), 100.0)], 100.0, 0.2]

    def test_quantile_interpolates_inside_the_bucket(self):
        self.assertAlmostEqual(RT.quantile(self.H, 0.5), 0.001)
        self.assertAlmostEqual(RT.quantile(self.H, 0.7), 0.001 + 0.0015 * 0.5)
        self.assertEqual(RT.quantile(self.H, 0.999), float("inf"))
        self.assertIsNone(RT.quantile([[], 0.0, 0.0], 0.99))

    def test_quantiles_rank_against_the_inf_bucket(self):
        # A scrape under load can read _count one above the +Inf bucket: rank against the
        # bucket (as Prometheus' histogram_quantile does), never past the last bucket.
        h = [[(0.001, 1.0), (0.0025, 1.0), (float("inf"), 1.0)], 2.0, 0.001]
        self.assertAlmostEqual(RT.quantile(h, 0.99), 0.00099)
        self.assertEqual(RT.over(h, 0.001), 0.0)

    def test_a_window_with_count_above_the_inf_bucket(self):
        # One stage of a small window: count = +Inf + 1 must not crash the point or name None.
        key = ("ringq_stage_seconds", 'op="enqueue",stage="append"')
        after = {key: [[(0.001, 3.0), (float("inf"), 3.0)], 4.0, 0.002]}
        before = {key: [[(0.001, 2.0), (float("inf"), 2.0)], 2.0, 0.001]}
        res = {"latency_us": {"p99": 900.0, "p999": 1000.0}}
        p = RT.tail_point(res, after, before)
        self.assertFalse(p["whole_life"])
        self.assertAlmostEqual(p["server"][0.99], 0.00099)
        self.assertEqual(p["holder"][0.99][:2], ("enq append", "its p99: 990 µs; end to end "
                                                            "900 µs"))

    def test_read_hists_leaves_out_a_cut_family(self):
        with tempfile.NamedTemporaryFile("w", suffix=".metrics", delete=False) as f:
            f.write('a_bucket{le="0.001"} 1\na_bucket{le="+Inf"} 2\na_sum 0.1\na_count 2\n'
                    'b_bucket{le="0.001"} 1\nb_bucket{le="+Inf"} 2\n')
        try:
            h = RT.read_hists(f.name)
        finally:
            os.unlink(f.name)
        self.assertEqual(set(h), {("a", "")})
        self.assertTrue(RT.whole_life({("b", ""): None}, h, [("b", "")]))
        self.assertFalse(RT.whole_life({("a", ""): None}, h, [("a", "")]))

    def test_window_subtracts_bucket_by_bucket(self):
        before = {("x", ""): [[(0.001, 40.0), (0.0025, 40.0), (0.005, 40.0),
                               (float("inf"), 40.0)], 40.0, 0.01]}
        w = RT.window({("x", ""): self.H}, before)[("x", "")]
        self.assertEqual(w[1], 60.0)
        self.assertEqual(RT.over(w, 0.005), 1.0)
        self.assertAlmostEqual(RT.quantile(w, 0.5), 0.001 + 0.0015 * 20 / 40)


if __name__ == "__main__":
    unittest.main()
