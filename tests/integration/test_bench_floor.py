"""bench/report.py's floor under the open loop (bench/suite_bench.sh's open-floor group, groups
floor-s<N>; bench/report_tail.py floor_point, floor_verdict, floor_section): at each open row's
offered rate, requests that do nothing (ringqd's Health/Check as ringq-health, Redis' PING as
redis-ping) and Redis' own e2e path, read beside each open-loop target row and in a table of their
own.

A small synthetic results directory: numbers are made up to hit each branch (the fast row's
floor under its 1 ms target, so the gap is ringq's; the durable row's floor over 3x the fdatasync
p99, so the machine's limit), none is a real run."""
import json
import os
import sys
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "bench"))
# test_bench_limits sits beside this file: found by this file's path, not by the directory the
# runner started in (`python -m unittest tests/integration/test_bench_floor.py` from the root).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report_tail as RT  # noqa: E402
import test_bench_limits as TL  # noqa: E402  (report_of, target_rows)

RATE = {"fast": 160188, "durable": 84910}
# (group, system, column, scenario) -> (p99 us, p99.9 us, late share)
RUNS = {
    ("open-s100", "ringq", "fast", "e2e"): (5770.0, 12980.0, 0.018),
    ("floor-s100", "ringq-health", "fast", "rpc"): (640.0, 1900.0, 0.004),
    ("floor-s100", "redis-ping", "fast", "rpc"): (410.0, 1500.0, 0.002),
    ("floor-s100", "redis", "fast", "e2e"): (2200.0, 4100.0, 0.010),
    ("open-s100", "ringq", "durable", "e2e"): (3470.0, 12320.0, 0.006),
    # Over 3 x the fdatasync p99 (400 us: 1.20 ms) for a request that does nothing.
    ("floor-s100", "ringq-health", "durable", "rpc"): (1250.0, 2600.0, 0.003),
    ("floor-s100", "redis-ping", "durable", "rpc"): (1300.0, 2400.0, 0.002),
}


def result(scenario, col, p99, p999, late):
    rate = RATE[col]
    return {"scenario": scenario, "passed": True, "duration_s": 5.0, "tasks_per_s": rate,
            "ops_per_s": rate, "late_share": late, "late_cap_share": late / 2,
            "late_gen_share": late / 2, "late_sends": int(late * rate * 5),
            "latency_us": {"p50": 150.0, "p99": p99, "p999": p999}}


def write_dir(d, runs):
    os.makedirs(os.path.join(d, "raw"))
    with open(os.path.join(d, "meta.tsv"), "w") as f:
        for k, v in (("date", "2026-12-08"), ("host", "test"), ("reps", "1"), ("gnuplot", "no"),
                     ("quick", "0"), ("open_sizes", "100"), ("size", "100"),
                     ("open.rate.fast.s100", str(RATE["fast"])),
                     ("open.peak.fast.s100", str(2 * RATE["fast"])),
                     ("open.rate.durable.s100", str(RATE["durable"])),
                     ("open.peak.durable.s100", str(2 * RATE["durable"])),
                     ("fsync.before", json.dumps({"p99_us": 400.0, "p999_us": 700.0}))):
            f.write("%s\t%s\n" % (k, v))
    with open(os.path.join(d, "runs.tsv"), "w") as f:
        for (group, sysname, col, scen), (p99, p999, late) in runs.items():
            rid = "%s.%s.%s.x512.r1" % (group, sysname, col)
            with open(os.path.join(d, "raw", rid + ".json"), "w") as jf:
                json.dump(result(scen, col, p99, p999, late), jf)
            f.write("\t".join([group, sysname, col, scen, "512", "1", "raw/%s.json" % rid, "0",
                               "yes", "ringq-bench %s ..." % scen]) + "\n")


def report_md(d):
    return TL.report_of(d)


def target_row(md, start):
    """The measured cell of the issue-target row that starts with `start`."""
    rows = [v[0] for k, v in TL.target_rows(md).items() if k.startswith(start)]
    if not rows:
        raise AssertionError("no target row %r" % start)
    return rows[0]


class FloorReport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        d = os.path.join(cls.tmp.name, "run")
        write_dir(d, RUNS)
        cls.md = report_md(d)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_fast_row_floor_under_the_target_on_a_late_open_run_is_undetermined(self):
        # The open run itself sent 1.8 % of its requests over 1 ms late (over FLOOR_LATE_MAX):
        # the gap is not shown to be ringq's (it read "the gap is ringq's").
        m = target_row(self.md, "p99 enqueue-to-start at half of peak, 100 B, ≤ 1 ms")
        self.assertIn("floor at this rate (a request that does nothing from the same generator and rate: no "
                      "workers, no payload, 2 messages where an e2e task has ≥ 4; at least this "
                      "much is the machine's): p99 410 µs (Redis PING), under the target's 1.00 ms: **gap "
                      "undetermined: e2e run on a busy machine** (e2e p99 5.77 ms − floor 410 µs "
                      "= 5.36 ms; the open run itself: 1.8 % of its sends over 1 ms late); "
                      "ringqd's own Health/Check at this rate: p99 640 µs; Redis' own e2e at "
                      "this rate: p99 2.20 ms (over the target too)", m)
        self.assertNotIn("the gap is ringq's", m)
        self.assertNotIn("at most", m)

    def test_durable_row_floor_over_the_target_is_the_machines_limit(self):
        m = target_row(self.md, "p99 enqueue-to-start at half of peak, 100 B, ≤ 3× fdatasync")
        self.assertIn("floor at this rate (a request that does nothing from the same generator and rate: no "
                      "workers, no payload, 2 messages where an e2e task has ≥ 4; at least this "
                      "much is the machine's): p99 1.25 ms (ringqd Health/Check), over the target's 1.20 "
                      "ms: **the machine's limit**", m)
        self.assertNotIn("the gap is ringq's", m)

    def test_floor_table_in_the_latency_section(self):
        self.assertIn("## What holds each latency target\n", self.md)
        sec = self.md.split("### The floor under each open-loop row", 1)[1].split("\n## ", 1)[0]
        rows = [ln for ln in sec.split("\n") if ln.startswith("| open-s100")]
        self.assertEqual(rows, [
            "| open-s100 durable | 84,910 | 3.47 ms / 12.32 ms | 1.25 ms / 2.60 ms (0.3 %) | "
            "1.30 ms / 2.40 ms (0.2 %) | - | 1.25 ms | 1.20 ms | the machine's limit |",
            "| open-s100 fast | 160,188 | 5.77 ms / 12.98 ms | 640 µs / 1.90 ms (0.4 %) | "
            "410 µs / 1.50 ms (0.2 %) | 2.20 ms / 4.10 ms (1.0 %) | 410 µs | 1.00 ms | "
            "gap undetermined: e2e run on a busy machine |"])

    def test_floor_runs_have_their_results_table(self):
        self.assertIn("### The floor under the open loop, 100-byte rows: requests that do nothing "
                      "at the same rate", self.md)
        self.assertIn("| 512 | ringq-health | 84,910 | 150 µs | 1.25 ms | 2.60 ms |", self.md)
        self.assertIn("| 512 | redis-ping | 84,910 | 150 µs | 1.30 ms | 2.40 ms |", self.md)

    def test_no_floor_runs_no_floor(self):
        with tempfile.TemporaryDirectory() as t:
            d = os.path.join(t, "r")
            write_dir(d, {k: v for k, v in RUNS.items() if k[0] != "floor-s100"})
            md = report_md(d)
        self.assertNotIn("floor at this rate", md)
        self.assertNotIn("### The floor under each open-loop row", md)


class FloorFunctions(unittest.TestCase):
    def test_floor_is_the_smaller_do_nothing_p99(self):
        e2e = result("e2e", "fast", 3000.0, 5000.0, 0.0)
        runs = {"ringq-health": result("rpc", "fast", 800.0, 900.0, 0.0),
                "redis-ping": result("rpc", "fast", 900.0, 950.0, 0.0),
                # Redis' e2e is not a request that does nothing: never the floor.
                "redis": result("e2e", "fast", 100.0, 200.0, 0.0)}
        p = RT.floor_point(e2e, runs)
        self.assertAlmostEqual(p["floor"], 800e-6)
        self.assertEqual(p["floor_by"], "ringqd Health/Check")
        self.assertAlmostEqual(p["floor999"], 900e-6)

    def test_without_do_nothing_runs_there_is_no_floor(self):
        p = RT.floor_point(result("e2e", "fast", 3000.0, 5000.0, 0.0),
                           {"redis": result("e2e", "fast", 100.0, 200.0, 0.0)})
        self.assertIsNone(p["floor"])
        self.assertEqual(RT.floor_verdict(p, 1e-3), "")

    def test_verdict_without_a_target_limit(self):
        p = RT.floor_point(result("e2e", "durable", 3000.0, 5000.0, 0.0),
                           {"redis-ping": result("rpc", "durable", 500.0, 600.0, 0.0)})
        self.assertEqual(RT.floor_verdict(p, None),
                         "floor at this rate (a request that does nothing from the same generator and rate: no "
                         "workers, no payload, 2 messages where an e2e task has ≥ 4; at least this "
                         "much is the machine's): p99 500 µs (Redis PING): **the gap is ringq's** (e2e "
                         "p99 3.00 ms − floor 500 µs = 2.50 ms)")

    def test_verdict_splits_what_lies_outside_the_stages(self):
        p = RT.floor_point(result("e2e", "fast", 3000.0, 5000.0, 0.0),
                           {"redis-ping": result("rpc", "fast", 400.0, 600.0, 0.0)})
        v = RT.floor_verdict(p, 1e-3, outside_s=2.5e-3)
        # The floor is a lower bound of the machine's share, not an upper one: no "at most".
        self.assertIn("(e2e p99 3.00 ms − floor 400 µs = 2.60 ms); of the p99 outside the stages "
                      "(2.50 ms) at least the floor is the machine's (network and wake-ups at "
                      "this rate); the other 2.10 ms is not the floor's", v)
        self.assertNotIn("at most", v)
        # Outside the stages under the floor: nothing to split.
        self.assertNotIn("outside the stages", RT.floor_verdict(p, 1e-3, outside_s=3e-4))

    def test_a_floor_over_the_target_on_a_busy_machine_is_no_floor(self):
        e2e = result("e2e", "fast", 9000.0, 12000.0, 0.05)
        # 10 % of the PING run's sends over 1 ms late: the generator or the machine was behind.
        late = RT.floor_point(e2e, {"redis-ping": result("rpc", "fast", 5300.0, 8000.0, 0.10)})
        self.assertEqual(RT.floor_kind(late, 1e-3), "no floor: re-run on a quiet machine")
        self.assertIn("p99 5.30 ms (Redis PING), over the target's 1.00 ms, on a busy machine "
                      "(10.0 % of its sends over 1 ms late): **no floor: re-run on a quiet "
                      "machine**", RT.floor_verdict(late, 1e-3))
        # On time, but other processes took 0.30 of the server's CPU (busy 0.50, ringqd 0.20).
        sc = {"server_busy": 0.50, "server_run": 0.20, "server_steal": 0.0}
        others = RT.floor_point(e2e, {"ringq-health": result("rpc", "fast", 2000.0, 3000.0, 0.0)},
                                {"ringq-health": sc})
        self.assertEqual(RT.floor_kind(others, 1e-3), "no floor: re-run on a quiet machine")
        self.assertIn("other processes and steal took 0.30 of the server's CPU", others["busy"])
        # The same run on a quiet machine: the machine's limit.
        quiet = RT.floor_point(e2e, {"ringq-health": result("rpc", "fast", 2000.0, 3000.0, 0.0)},
                               {"ringq-health": dict(sc, server_busy=0.22)})
        self.assertEqual((quiet["busy"], RT.floor_kind(quiet, 1e-3)), ("", "the machine's limit"))
        # Under the target the floor run's busy machine changes nothing; the open run's does:
        # 5 % of its sends late (over FLOOR_LATE_MAX).
        self.assertEqual(RT.floor_kind(others, 5e-3), "gap undetermined: e2e run on a busy machine")
        self.assertIn("5.0 % of its sends over 1 ms late", others["e2e_busy"])
        ontime = result("e2e", "fast", 9000.0, 12000.0, 0.0)
        p = RT.floor_point(ontime, {"ringq-health": result("rpc", "fast", 2000.0, 3000.0, 0.0)},
                           {"ringq-health": sc})
        self.assertEqual(RT.floor_kind(p, 5e-3), "the gap is ringq's")
        # On time, but the machine held the open run's own server CPU: undetermined again.
        p = RT.floor_point(ontime, {"ringq-health": result("rpc", "fast", 2000.0, 3000.0, 0.0)},
                           {"ringq-health": sc}, None,
                           {"server_busy": 0.95, "server_run": 0.60, "server_steal": 0.0})
        self.assertEqual(RT.floor_kind(p, 5e-3), "gap undetermined: e2e run on a busy machine")

    def test_a_floor_at_another_rate_says_so(self):
        e2e = result("e2e", "fast", 3000.0, 5000.0, 0.0)
        runs = {"redis-ping": result("rpc", "fast", 400.0, 600.0, 0.0)}
        p = RT.floor_point(e2e, runs, None, {"e2e": 160188, "redis-ping": 150000})
        self.assertIn("**floor runs at another offered rate than this row's 160,188 tasks/s "
                      "(Redis PING at 150,000): not the same load**", RT.floor_verdict(p, 1e-3))
        same = RT.floor_point(e2e, runs, None, {"e2e": 160188, "redis-ping": 160188})
        self.assertEqual(same["rate_note"], "")

    def test_report_reads_each_runs_offered_rate(self):
        # A floor run from another KEEP_RESULTS chunk: its command's --rate is not the open row's.
        with tempfile.TemporaryDirectory() as t:
            d = os.path.join(t, "r")
            write_dir(d, RUNS)
            with open(os.path.join(d, "runs.tsv")) as f:
                rows = f.read().split("\n")
            for i, ln in enumerate(rows):
                if ln.startswith("open-s100\tringq\tfast"):
                    rows[i] = ln.replace("ringq-bench e2e ...", "ringq-bench e2e --rate 160188")
                elif ln.startswith("floor-s100\tredis-ping\tfast"):
                    rows[i] = ln.replace("ringq-bench rpc ...", "ringq-bench rpc --rate 150000")
            with open(os.path.join(d, "runs.tsv"), "w") as f:
                f.write("\n".join(rows))
            md = report_md(d)
        self.assertIn("(Redis PING at 150,000): not the same load", md)
        self.assertIn("(floor at another rate) |", md)


if __name__ == "__main__":
    unittest.main()
