"""ringq-bench's JetStream driver (bench/rb_drv_jetstream.c) against a real nats-server:
e2e, enqueue with batches and drain each run about a second and must pass with the stream left
empty; a server without JetStream and a bad queue name fail with a clear message.

Skips when nats-server (Debian package nats-server) or build/ringq-bench is missing."""
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

from ringq_harness import BUILD

NATS = shutil.which("nats-server") or next(
    (p for p in ("/usr/sbin/nats-server", "/usr/bin/nats-server") if os.path.exists(p)), None)
BENCH = os.path.join(BUILD, "ringq-bench")
START_TIMEOUT_S = 20.0
RUN_TIMEOUT_S = 60.0


class NatsServer:
    """nats-server on a random port (-p -1); the port comes from its 'Listening for client
    connections on HOST:PORT' log line, readiness from 'Server is ready'."""

    def __init__(self, jetstream=True):
        self.tmp = tempfile.TemporaryDirectory(prefix="ringq-it-nats-")
        argv = [NATS, "-a", "127.0.0.1", "-p", "-1"]
        if jetstream:
            argv += ["-js", "-sd", os.path.join(self.tmp.name, "js")]
        self.lines = []
        self._q = queue.Queue()
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        threading.Thread(target=self._read, daemon=True).start()
        self.addr = self._wait_ready()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line)
            self._q.put(line)
        self._q.put(None)

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        addr = None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                raise RuntimeError("nats-server did not start:\n" + "".join(self.lines))
            try:
                line = self._q.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError("nats-server exited:\n" + "".join(self.lines))
            if "Listening for client connections on" in line:
                addr = line.rsplit(" ", 1)[1].strip()
            if "Server is ready" in line and addr:
                return addr

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.tmp.cleanup()


def run_bench(*args):
    """Runs ringq-bench; returns (exit code, result dict or None, stderr)."""
    with tempfile.TemporaryDirectory(prefix="ringq-it-rb-") as d:
        out = os.path.join(d, "result.json")
        p = subprocess.run([BENCH, *args, "--quiet", "--json", out], capture_output=True,
                           text=True, timeout=RUN_TIMEOUT_S)
        res = None
        if os.path.exists(out) and os.path.getsize(out) > 0:
            with open(out) as f:
                res = json.load(f)
        return p.returncode, res, p.stderr


@unittest.skipUnless(NATS, "nats-server not installed (apt-get install nats-server)")
@unittest.skipUnless(os.path.exists(BENCH), f"{BENCH} not built")
class JetStreamBenchTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.nats = NatsServer()

    @classmethod
    def tearDownClass(cls):
        cls.nats.close()

    def bench(self, scenario, *args, backlog_end=0):
        rc, res, err = run_bench(scenario, "--system", "jetstream", "--addr", self.nats.addr,
                                 *args)
        self.assertIsNotNone(res, f"no result JSON; exit {rc}; stderr:\n{err}")
        self.assertEqual(rc, 0, f"{res.get('error')}\n{err}")
        self.assertTrue(res["passed"], res.get("error"))
        self.assertEqual(res["errors"], 0)
        expect = res["enqueued"] if backlog_end is None else backlog_end
        self.assertEqual(res["backlog_end"], expect, "stream backlog after the run")
        self.assertTrue(res["system_version"].startswith("2."), res["system_version"])
        return res

    def test_e2e(self):
        res = self.bench("e2e", "--queue", "it.e2e", "--warmup", "0.2", "--duration", "1",
                         "--workers", "2", "--credits", "32")
        self.assertGreater(res["tasks"], 0)
        self.assertEqual(res["duplicates"], 0)
        self.assertEqual(res["foreign"], 0)
        self.assertEqual(res["received"], res["stamped"])
        self.assertEqual(res["acked"], res["received"])

    def test_enqueue_batches(self):
        res = self.bench("enqueue", "--queue", "it-enq", "--batch", "16", "--inflight", "4",
                         "--size", "1000", "--warmup", "0", "--duration", "0.5",
                         backlog_end=None)
        self.assertGreater(res["ops"], 0)
        self.assertEqual(res["tasks"], res["ops"] * 16)
        self.assertEqual(res["enqueued"] % 16, 0)
        # enqueue leaves every task in the stream (backlog_end == enqueued); the drain run's
        # setup must start again from an empty stream
        res = self.bench("drain", "--queue", "it-enq", "--preload", "3000", "--batch", "64",
                         "--workers", "2")
        self.assertEqual(res["preloaded"], 3000)
        self.assertEqual(res["acked"], 3000)

    def test_jetstream_disabled(self):
        plain = NatsServer(jetstream=False)
        try:
            rc, res, err = run_bench("e2e", "--system", "jetstream", "--addr", plain.addr,
                                     "--warmup", "0", "--duration", "0.2")
        finally:
            plain.close()
        self.assertEqual(rc, 1, err)
        text = (res or {}).get("error", "") + err
        self.assertIn("JetStream disabled", text)

    def test_bad_queue_name(self):
        rc, res, err = run_bench("e2e", "--system", "jetstream", "--addr", self.nats.addr,
                                 "--queue", "a..b", "--warmup", "0", "--duration", "0.2")
        self.assertNotEqual(rc, 0)
        text = (res or {}).get("error", "") + err
        self.assertIn("not a plain subject", text)


if __name__ == "__main__":
    unittest.main()
