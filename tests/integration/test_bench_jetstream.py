"""ringq-bench's JetStream driver (bench/rb_drv_jetstream.c) against a real nats-server:
e2e, enqueue with batches and drain each run about a second and must pass with the stream left
empty; a server without JetStream and a bad queue name fail with a clear message.

Skips when nats-server (Debian package nats-server) or build/ringq-bench is missing."""
import os
import tempfile
import unittest

from bench_harness import BENCH, BenchChecks, LogServer, error_text, find_program, run_bench

NATS = find_program("nats-server")


class NatsServer(LogServer):
    """nats-server on a random port (-p -1); the port comes from its 'Listening for client
    connections on HOST:PORT' log line, readiness from 'Server is ready'."""

    def __init__(self, jetstream=True):
        self.tmp = tempfile.TemporaryDirectory(prefix="ringq-it-nats-")
        argv = [NATS, "-a", "127.0.0.1", "-p", "-1"]
        if jetstream:
            argv += ["-js", "-sd", os.path.join(self.tmp.name, "js")]
        listening = []

        def ready(line):
            if "Listening for client connections on" in line:
                listening.append(line.rsplit(" ", 1)[1].strip())
            return listening[-1] if "Server is ready" in line and listening else None
        super().__init__("nats-server", argv, ready, log="stderr")

    def close(self):
        super().close()
        self.tmp.cleanup()


@unittest.skipUnless(NATS, "nats-server not installed (apt-get install nats-server)")
@unittest.skipUnless(os.path.exists(BENCH), f"{BENCH} not built")
class JetStreamBenchTest(BenchChecks, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.nats = NatsServer()

    @classmethod
    def tearDownClass(cls):
        cls.nats.close()

    def bench(self, scenario, *args, backlog_end=0):
        res = self.check_run(*run_bench(scenario, "--system", "jetstream",
                                        "--addr", self.nats.addr, *args),
                             backlog_end=backlog_end, what="stream")
        self.assertTrue(res["system_version"].startswith("2."), res["system_version"])
        return res

    def test_e2e(self):
        res = self.bench("e2e", "--queue", "it.e2e", "--warmup", "0.2", "--duration", "1",
                         "--workers", "2", "--credits", "32")
        self.check_e2e(res)

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
        text = error_text(res, err)
        self.assertIn("JetStream disabled", text)

    def test_bad_queue_name(self):
        rc, res, err = run_bench("e2e", "--system", "jetstream", "--addr", self.nats.addr,
                                 "--queue", "a..b", "--warmup", "0", "--duration", "0.2")
        self.assertNotEqual(rc, 0)
        text = error_text(res, err)
        self.assertIn("not a plain subject", text)


if __name__ == "__main__":
    unittest.main()
