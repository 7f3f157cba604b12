"""ringq-bench (bench/rb_*.c) against a real ringqd: every scenario with the ringq driver, rpc
with the plain gRPC driver (health check), for about a second each with small settings, checking
the result JSON: passed, work counted, percentiles ordered, the CDF monotone and ending at 1, and
for e2e/drain that every enqueued task was received and acked and the queue is empty. Also the
exit codes for bad usage and for an unreachable server."""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import ringq_harness as H

BENCH = os.path.join(H.BUILD, "ringq-bench")
SHORT = ["--warmup", "0.2", "--duration", "0.8"]


class BenchTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = H.Server("ringqd", threads=2)
        cls.tmp = tempfile.TemporaryDirectory(prefix="ringq-bench-it-")

    @classmethod
    def tearDownClass(cls):
        code = cls.srv.terminate()
        cls.srv.close()
        cls.tmp.cleanup()
        assert code == 0, f"ringqd exited {code}"

    def bench(self, *args, expect_rc=0, quiet=True):
        out = os.path.join(self.tmp.name, self._testMethodName + ".json")
        argv = [BENCH, *args, "--json", out] + (["--quiet"] if quiet else [])
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, expect_rc, f"{argv}\nstderr:\n{p.stderr}")
        with open(out) as f:
            r = json.load(f)
        return r, p.stderr

    def ringq(self, scenario, *args, **kw):
        return self.bench(scenario, "--system", "ringq", "--addr", self.srv.addr,
                          "--queue", "bench-" + self._testMethodName[5:], *args, **kw)

    def assert_latency(self, r):
        lat = r["latency_us"]
        self.assertGreater(lat["count"], 0)
        self.assertLessEqual(lat["min"], lat["p50"])
        self.assertLessEqual(lat["p50"], lat["p90"])
        self.assertLessEqual(lat["p90"], lat["p99"])
        self.assertLessEqual(lat["p99"], lat["p999"])
        self.assertLessEqual(lat["p999"], lat["max"])
        self.assertLessEqual(lat["min"], lat["mean"])
        self.assertLessEqual(lat["mean"], lat["max"])
        cdf = r["cdf"]
        self.assertGreaterEqual(len(cdf), 2)
        self.assertLessEqual(len(cdf), 100)
        for (v0, f0), (v1, f1) in zip(cdf, cdf[1:]):
            self.assertLess(v0, v1)
            self.assertLess(f0, f1)
        self.assertEqual(cdf[-1], [lat["max"], 1.0])

    def assert_passed(self, r, scenario):
        self.assertEqual(r["scenario"], scenario)
        self.assertTrue(r["passed"], r.get("error"))
        self.assertNotIn("error", r)
        self.assertEqual(r["errors"], 0)
        self.assertGreater(r["ops"], 0)
        self.assertGreater(r["tasks"], 0)
        self.assertGreater(r["duration_s"], 0)
        rate = r["tasks"] / r["duration_s"]  # duration_s has 6 decimals: relative tolerance
        self.assertAlmostEqual(r["tasks_per_s"], rate, delta=max(1.0, rate * 1e-3))
        self.assert_latency(r)

    def assert_all_delivered(self, r):
        self.assertGreater(r["enqueued"], 0)
        self.assertEqual(r["enqueue_errors"], 0)
        self.assertEqual(r["received"], r["enqueued"])
        self.assertEqual(r["acked"], r["enqueued"])
        self.assertEqual(r["duplicates"], 0)
        self.assertEqual(r["foreign"], 0)
        self.assertEqual(r["backlog_end"], 0)

    # ---- scenarios ----

    def test_rpc_ringq(self):
        r, _ = self.ringq("rpc", *SHORT, "--conns", "2", "--inflight", "4", "--label", "it")
        self.assert_passed(r, "rpc")
        self.assertEqual(r["system"], "ringq")
        self.assertEqual(r["label"], "it")
        self.assertEqual(r["config"]["conns"], 2)
        self.assertEqual(r["config"]["loop"], "closed")
        self.assertEqual(r["ops"], r["tasks"])

    def test_rpc_grpc_health_with_progress(self):
        r, err = self.bench("rpc", "--system", "grpc", "--addr", self.srv.addr, *SHORT,
                            "--threads", "2", "--conns", "2", quiet=False)
        self.assert_passed(r, "rpc")
        self.assertIsNone(r["config"]["method"])
        # stderr is not a tty: one progress line per second, each ending with a newline
        lines = [l for l in err.splitlines() if "ops/s" in l]
        self.assertGreaterEqual(len(lines), 1, err)
        self.assertNotIn("\r", err)

    def test_enqueue(self):
        r, _ = self.ringq("enqueue", *SHORT, "--batch", "8", "--inflight", "2", "--size", "64")
        self.assert_passed(r, "enqueue")
        self.assertEqual(r["tasks"], 8 * r["ops"])
        self.assertEqual(r["config"]["size_effective"], 64)
        # nothing consumed: every task enqueued by the run is still in the (purged) queue
        self.assertEqual(r["backlog_end"], r["enqueued"])
        self.assertEqual(r["received"], 0)

    def test_e2e_closed_loop_two_threads(self):
        r, _ = self.ringq("e2e", *SHORT, "--threads", "2", "--conns", "2", "--workers", "2",
                          "--batch", "4", "--inflight", "2", "--credits", "32")
        self.assert_passed(r, "e2e")
        self.assert_all_delivered(r)
        self.assertEqual(r["config"]["max_backlog"], 1024)
        self.assertEqual(r["late_sends"], 0)

    def test_e2e_cpu_per_task_of_client_and_server(self):
        """--server-pid gives the server's CPU per task; the generator's own is always there, so a
        run can tell a client-bound rate (client_cpu_util near --threads) from a server-bound one."""
        r, _ = self.ringq("e2e", *SHORT, "--server-pid", str(self.srv.proc.pid))
        self.assert_passed(r, "e2e")
        for who in ("client", "server"):
            cpu_s, per_task = r[who + "_cpu_s"], r[who + "_cpu_us_per_task"]
            self.assertGreater(per_task, 0, who)
            self.assertAlmostEqual(per_task, cpu_s * 1e6 / r["tasks"], delta=per_task * 0.01 + 0.01)
        # one generator thread: at most one CPU's worth over the window (getrusage's rounding aside)
        self.assertGreater(r["client_cpu_util"], 0)
        self.assertLessEqual(r["client_cpu_util"], 1.05)
        self.assertAlmostEqual(r["client_cpu_util"], r["client_cpu_s"] / r["duration_s"],
                               delta=0.01)

    def test_e2e_open_loop(self):
        rate = 1000
        r, _ = self.ringq("e2e", *SHORT, "--rate", str(rate), "--batch", "2")
        self.assert_passed(r, "e2e")
        self.assert_all_delivered(r)
        self.assertEqual(r["config"]["loop"], "open")
        self.assertEqual(r["config"]["max_backlog"], 0)
        self.assertGreater(r["ops_per_s"], 0.5 * rate)
        self.assertLess(r["ops_per_s"], 1.2 * rate)
        self.assertGreaterEqual(r["late_sends"], 0)
        self.assert_generator_figures(r)
        self.assertLessEqual(r["late_sends"], r["ops_started"])
        self.assertEqual(r["tick_us"], 100)  # RB_OPEN_TICK_US_DEFAULT
        self.assertGreaterEqual(r["sends_per_pass"], 1.0)

    def test_open_loop_sends_due_slots_in_passes(self):
        """The open-loop schedule runs in passes at least --tick-us apart: the slots due within a
        tick leave together, on one connection in one socket write (the driver's hold bracket,
        libringq's cork), where a pass per slot (--tick-us 0, the schedule before) made a pass, a
        write and a wake-up per task. Latency still counts from each slot (the sends carry their
        slot times), so the run's figures stay comparable."""
        common = [*SHORT, "--rate", "8000", "--conns", "4", "--inflight", "64", "--workers", "2",
                  "--credits", "64"]
        per_slot, _ = self.ringq("e2e", *common, "--tick-us", "0")
        ticked, _ = self.ringq("e2e", *common, "--tick-us", "500")
        for r in (per_slot, ticked):
            self.assert_passed(r, "e2e")
            self.assert_all_delivered(r)
            self.assert_generator_figures(r)
            self.assertGreater(r["writes_per_task"], 0)
            self.assertGreater(r["turns_per_task"], 0)
            self.assertGreaterEqual(r["sleeps_per_task"], 0)
        self.assertEqual(per_slot["tick_us"], 0)
        self.assertEqual(ticked["tick_us"], 500)
        # sends happen in warm-up and measure (1 s): at most one pass a tick (1.2 s: the timer's
        # slack), and 8000/s x 0.5 ms = 4 slots due per pass
        self.assertLessEqual(ticked["sched_passes"], 1.2 / 500e-6)
        self.assertGreaterEqual(ticked["sends_per_pass"], 2.0)
        self.assertLess(ticked["writes_per_task"], 0.75 * per_slot["writes_per_task"])

    def assert_generator_figures(self, r):
        """The generator's own CPU in the window, and in open loop its late-send share with the
        generator-limited verdict (late sends over 1 % of the sends)."""
        self.assertGreater(r["client_cpu_s"], 0)
        self.assertAlmostEqual(r["client_cpu_util"], r["client_cpu_s"] / r["duration_s"],
                               delta=0.01)
        if r["config"]["loop"] != "open":
            self.assertNotIn("late_share", r)
            return
        self.assertGreater(r["ops_started"], 0)
        self.assertAlmostEqual(r["late_share"], r["late_sends"] / r["ops_started"], places=5)
        self.assertLessEqual(r["late_cap_sends"], r["late_sends"])
        self.assertAlmostEqual(r["late_cap_share"], r["late_cap_sends"] / r["ops_started"],
                               places=5)
        self.assertAlmostEqual(r["late_gen_share"], r["late_share"] - r["late_cap_share"],
                               places=5)
        self.assertEqual(r["cap_limited"], r["late_cap_share"] > 0.01)
        self.assertEqual(r["generator_limited"], r["late_gen_share"] > 0.01)

    def test_ringq_driver_allocates_per_connection_not_per_task(self):
        """The ringq driver's own heap allocations (driver_allocs) are bounded by what it keeps
        per connection (operation contexts in chunks, a record per delivery in flight: at most
        the credits, the Enqueue request encoded once), not by the tasks: before, every send
        allocated a context and every delivery a record (2 or more per task)."""
        for loop in (["--rate", "4000", "--inflight", "64"], ["--inflight", "8"]):
            r, _ = self.ringq("e2e", *SHORT, "--conns", "2", "--workers", "2", "--credits", "32",
                              *loop)
            self.assert_passed(r, "e2e")
            self.assert_all_delivered(r)
            bound = 2 * 32 + 2 * 4  # a record per credit; per producer: chunk, table, request
            self.assertGreater(r["stamped"], 20 * bound, loop)
            self.assertLessEqual(r["driver_allocs"], bound, loop)
            self.assertGreater(r["driver_allocs"], 0, loop)  # it counts

    def test_open_loop_against_a_full_cap_is_cap_limited(self):
        """A schedule of 2 M sends/s with at most 1 in flight on one connection: nearly every
        send waits for the previous answer, so it is late because of the server's round trip
        (cap_limited), not because the generator fell behind."""
        r, _ = self.ringq("e2e", *SHORT, "--rate", "2000000", "--conns", "1", "--inflight", "1")
        self.assert_passed(r, "e2e")
        self.assert_generator_figures(r)
        self.assertGreater(r["late_share"], 0.5)
        self.assertGreater(r["late_cap_share"], 0.5)
        self.assertTrue(r["cap_limited"])

    def test_open_loop_with_a_stopped_generator_is_generator_limited(self):
        """The generator itself stopped (SIGSTOP) for 300 ms of its measured window, with room
        on every connection: the sends due meanwhile leave late through no fault of the
        server, and the run says the generator set that latency (generator_limited), not the
        in-flight cap."""
        out = os.path.join(self.tmp.name, "stopped.json")
        argv = [BENCH, "e2e", "--system", "ringq", "--addr", self.srv.addr, "--queue",
                "bench-stopped", "--warmup", "0.5", "--duration", "2.5", "--rate", "2000",
                "--conns", "4", "--json", out]
        p = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
        try:
            for line in p.stderr:  # progress lines, one a second: wait for the measured window
                if "measure" in line:
                    break
            p.send_signal(signal.SIGSTOP)
            time.sleep(0.3)  # the injected stall itself, not a wait for a condition
            p.send_signal(signal.SIGCONT)
            rest = p.stderr.read()
            self.assertEqual(p.wait(timeout=30), 0, rest)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        with open(out) as f:
            r = json.load(f)
        self.assert_passed(r, "e2e")
        self.assert_generator_figures(r)
        self.assertGreater(r["late_sends"], 0.2 * 0.3 * 2000)  # most of the 600 stopped slots
        self.assertGreater(r["late_gen_share"], 0.01)
        self.assertTrue(r["generator_limited"])
        self.assertFalse(r["cap_limited"])

    def test_closed_loop_reports_generator_cpu(self):
        r, _ = self.ringq("e2e", *SHORT)
        self.assert_passed(r, "e2e")
        self.assert_generator_figures(r)

    def test_e2e_and_enqueue_on_the_enqueue_stream(self):
        # System ringq-stream: producers on Queue.EnqueueStream, one task per request.
        q = "bench-" + self._testMethodName[5:30]
        r, _ = self.bench("e2e", "--system", "ringq-stream", "--addr", self.srv.addr,
                          "--queue", q, *SHORT, "--conns", "2", "--workers", "2",
                          "--batch", "1", "--inflight", "64", "--credits", "128")
        self.assert_passed(r, "e2e")
        self.assert_all_delivered(r)
        self.assertEqual(r["system"], "ringq-stream")
        r, _ = self.bench("enqueue", "--system", "ringq-stream", "--addr", self.srv.addr,
                          "--queue", q + "e", *SHORT, "--batch", "1", "--inflight", "32")
        self.assert_passed(r, "enqueue")
        self.assertEqual(r["tasks"], r["ops"])
        self.assertEqual(r["backlog_end"], r["enqueued"])

    def test_drain(self):
        r, _ = self.ringq("drain", "--preload", "5000", "--workers", "2", "--credits", "128")
        self.assert_passed(r, "drain")
        self.assert_all_delivered(r)
        self.assertEqual(r["preloaded"], 5000)
        self.assertEqual(r["enqueued"], 5000)
        self.assertEqual(r["tasks"], 5000)
        self.assertEqual(r["ops"], 5000)
        self.assertEqual(r["latency_us"]["count"], 5000)

    # ---- failures ----

    def test_bad_usage_exits_2(self):
        for argv in (["e2e"], ["nope", "--system", "ringq"], ["rpc", "--system", "nope"],
                     ["rpc", "--system", "ringq", "--size", "8"],
                     ["rpc", "--system", "ringq", "--conns", "0"],
                     ["e2e", "--system", "ringq", "--duration", "x"]):
            p = subprocess.run([BENCH, *argv], capture_output=True, text=True, timeout=10)
            self.assertEqual(p.returncode, 2, argv)
            self.assertIn("usage", p.stderr)

    def test_unreachable_server_fails(self):
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        r, err = self.bench("rpc", "--system", "grpc", "--addr", f"127.0.0.1:{port}", *SHORT,
                            expect_rc=1)
        self.assertFalse(r["passed"])
        self.assertIn(f"127.0.0.1:{port}", r["error"])
        self.assertIn("FAILED", err)


if __name__ == "__main__":
    unittest.main()
