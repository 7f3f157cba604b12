"""ringq-bench's ringq Streams driver (bench/rb_drv_ringq_streams.c, over libringq's
rq_publish_async and rq_aconsume) against a real ringqd: `publish` (batch 1 and 64) and `fanout
--groups 2` for about a second each. The result JSON must pass with every published message
confirmed and, in fan-out, received and acked once by each group; the server is then asked
itself (grpcio): the stream holds exactly the messages the run published, and each group's
durable consumer delivered all of them and has nothing pending or unacked.

One ringqd with --fsync always (publish answers after the fdatasync: the durable column) and one
with --fsync never (the fast column)."""
import json
import os
import subprocess
import tempfile
import unittest

import ringq_client as C
import ringq_harness as H
from stream_client import Streams

BENCH = os.path.join(H.BUILD, "ringq-bench")
SHORT = ["--warmup", "0.2", "--duration", "0.8"]


class BenchStreamsTest(unittest.TestCase):
    FSYNC = "always"

    @classmethod
    def setUpClass(cls):
        cls.srv = C.start_ringqd("--fsync", cls.FSYNC, threads=1)
        cls.ch = cls.srv.channel()
        cls.s = Streams(cls.ch)
        cls.tmp = tempfile.TemporaryDirectory(prefix="ringq-bench-streams-")

    @classmethod
    def tearDownClass(cls):
        code, log = C.stop(cls.srv, cls.ch)
        cls.tmp.cleanup()
        assert code == 0, f"ringqd exited {code}:\n{log}"

    def run_bench(self, scenario, stream, *args):
        out = os.path.join(self.tmp.name, self._testMethodName + ".json")
        argv = [BENCH, scenario, "--system", "ringq", "--addr", self.srv.addr,
                "--queue", stream, *SHORT, *args, "--json", out, "--quiet"]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, f"{argv}\nstderr:\n{p.stderr}")
        with open(out) as f:
            r = json.load(f)
        self.assertEqual(r["scenario"], scenario)
        self.assertEqual(r["system"], "ringq")
        self.assertTrue(r["passed"], r.get("error"))
        self.assertEqual(r["errors"], 0)
        self.assertGreater(r["enqueued"], 0)
        self.assertEqual(r["enqueue_errors"], 0)
        self.assertGreater(r["tasks_per_s"], 0)
        return r

    def check_stream(self, stream, published):
        """The server holds exactly what the run says it published."""
        info = self.s.GetStream(name=stream)
        self.assertEqual(info.state.messages, published)
        self.assertEqual(info.state.last_seq, published)
        return info

    def test_publish_batch_1(self):
        r = self.run_bench("publish", "sb-pub1-" + self.FSYNC, "--batch", "1", "--conns", "2",
                           "--inflight", "8")
        self.assertEqual(r["config"]["batch_effective"], 1)
        self.check_stream("sb-pub1-" + self.FSYNC, r["enqueued"])

    def test_publish_batch_64(self):
        r = self.run_bench("publish", "sb-pub64-" + self.FSYNC, "--batch", "64", "--conns", "2",
                           "--inflight", "2")
        self.assertEqual(r["config"]["batch_effective"], 64)
        self.assertEqual(r["enqueued"] % 64, 0)
        self.check_stream("sb-pub64-" + self.FSYNC, r["enqueued"])

    def test_fanout_two_groups(self):
        stream = "sb-fan-" + self.FSYNC
        r = self.run_bench("fanout", stream, "--batch", "1", "--conns", "1", "--inflight", "16",
                           "--groups", "2", "--workers", "2", "--credits", "32")
        n = r["enqueued"]
        self.assertEqual(r["received"], 2 * n)
        self.assertEqual(r["acked"], 2 * n)
        self.assertEqual(r["duplicates"], 0)
        self.assertEqual(r["backlog_end"], 0)
        info = self.check_stream(stream, n)
        for g in ("rbgrp0", "rbgrp1"):
            ci = self.s.GetConsumer(stream=stream, name=g)
            self.assertEqual(ci.state.num_pending, 0, g)
            self.assertEqual(ci.state.num_ack_pending, 0, g)
            self.assertEqual(ci.state.delivered_stream_seq, info.state.last_seq, g)
            self.assertEqual(ci.state.ack_floor_stream_seq, info.state.last_seq, g)

    def test_setup_starts_from_an_empty_stream(self):
        """A second run on the same stream starts over: the stream holds only its messages."""
        stream = "sb-again-" + self.FSYNC
        self.run_bench("publish", stream, "--batch", "64", "--conns", "1", "--inflight", "2")
        r = self.run_bench("fanout", stream, "--batch", "1", "--conns", "1", "--inflight", "8",
                           "--groups", "1", "--workers", "1", "--credits", "16")
        self.assertEqual(r["received"], r["enqueued"])
        self.check_stream(stream, r["enqueued"])


class BenchStreamsFastTest(BenchStreamsTest):
    FSYNC = "never"


class BenchStreamsFailTest(unittest.TestCase):
    def test_unreachable_server_fails_clearly(self):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "r.json")
            p = subprocess.run([BENCH, "fanout", "--system", "ringq", "--addr",
                                "127.0.0.1:1", "--groups", "1", "--duration", "0.2",
                                "--json", out, "--quiet"],
                               capture_output=True, text=True, timeout=60)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("127.0.0.1:1", p.stderr + (open(out).read() if os.path.exists(out)
                                                      else ""))


if __name__ == "__main__":
    unittest.main()
