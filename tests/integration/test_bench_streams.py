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
import re
import tempfile
import unittest
import urllib.request

import ringq_client as C
import ringq_harness as H
from ringq.v1 import streams_pb2 as S
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

    def test_pending_table_bytes_metric(self):
        """/metrics reports what a consumer's pending table costs (the figure the memory target
        of issue 15 item 6 is read from, bench/stream_pending_mem.py): under 32 bytes per pending
        delivery from 1024 up, at least the 20 of an entry (queue/q_consumer_pend.h); back down once
        they are acked."""
        stream, n = "sb-mem", 4000
        self.s.stream(stream, subjects=[stream])
        for _ in range(n // 1000):
            self.s.Publish(messages=[S.PublishMessage(subject=stream, payload=b"m")] * 1000)
        self.s.CreateConsumer(stream=stream, config=S.ConsumerConfig(
            name="holder", ack_wait_ms=600000, max_ack_pending=n))
        refs = []
        while len(refs) < n:
            r = self.s.Fetch(stream=stream, consumer="holder", max_messages=1000, wait_ms=1000)
            self.assertTrue(r.deliveries)
            refs += [S.DeliveryRef(stream_seq=d.message.seq, token=d.token) for d in r.deliveries]
        lab = f'stream="{stream}",consumer="holder"'
        text = metrics(self.srv.addr)
        self.assertEqual(sample(text, "ringq_consumer_ack_pending", lab), n)
        held = sample(text, "ringq_consumer_pending_table_bytes", lab)
        self.assertGreaterEqual(held, 20 * n)
        self.assertLessEqual(held, 32 * n)
        for i in range(0, n, 1000):
            self.s.AckMessages(stream=stream, consumer="holder",
                               acks=S.Acks(kind=S.ACK_KIND_ACK, refs=refs[i:i + 1000]))
        text = metrics(self.srv.addr)
        self.assertEqual(sample(text, "ringq_consumer_ack_pending", lab), 0)
        self.assertLess(sample(text, "ringq_consumer_pending_table_bytes", lab), held)


def metrics(addr):
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=10) as r:
        return r.read().decode()


def sample(text, name, labels):
    m = re.search(r"^%s\{%s\} (\d+)$" % (re.escape(name), re.escape(labels)), text, re.M)
    if not m:
        raise AssertionError(f"no {name}{{{labels}}} in /metrics")
    return int(m.group(1))


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
