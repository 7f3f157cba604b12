"""ringq.v1.Streams on the server side (issue 15, server/srv_stream*): ringqd with 3 shards and
real grpcio clients (Debian's /usr/bin/python3, stubs in build/gen/py).

What this file holds the server to, beyond the per-RPC suite (test_streams_*.py):
- the subject -> stream directory: a CreateStream answered OK is routable at once on every shard
  (connections land on all of them), a DeleteStream likewise gone everywhere, and overlapping
  creates racing from several connections leave exactly one stream;
- the paths end to end: publish, get, read (bounded and live), a durable consumer over Consume
  (credits, acks answered on the stream) and over Fetch + AckMessages, several Consume streams
  sharing one consumer, an ephemeral consumer made by a bind;
- a restart: the directory is rebuilt from the partitions' replayed streams (a publish routes
  with no CreateStream) and a durable consumer continues after its last ack;
- the drain: a live Read and a Consume stream end UNAVAILABLE on SIGTERM, the process exits 0;
- health ("ringq.v1.Streams" SERVING), reflection (the service listed) and /metrics (stream and
  consumer series).
Waiting is a condition polled with a deadline, never a sleep."""
import concurrent.futures
import os
import queue
import signal
import tempfile
import threading
import time
import unittest
import urllib.request

import grpc

import ringq_client as C
import ringq_harness as H
from grpc.health.v1 import health_pb2  # noqa: E402
from grpc.reflection.v1 import reflection_pb2 as refl  # noqa: E402
from ringq.v1 import queue_pb2  # noqa: E402
from stream_client import SC, ConsumeStream, S, Streams, msg, sname

SHARDS = 3
CHANNELS = 12  # connections: SO_REUSEPORT spreads them over the shards (all 12 on one of the 3
# shards: 3^-11)
# grpcio shares one connection between channels to the same address unless told not to.
OWN_CONN = {"grpc.use_local_subchannel_pool": 1}


def metrics(addr):
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=10) as r:
        return r.read().decode()


def sample(text, name, labels):
    """The value of series name{labels} in a Prometheus text body, or None."""
    want = f"{name}{{{labels}}} "
    for line in text.splitlines():
        if line.startswith(want):
            return float(line[len(want):])
    return None


def plain(text, name):
    """The value of the series `name` without labels."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no {name} in /metrics")


class StreamsServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = C.start_ringqd(threads=SHARDS)
        cls.chans = [cls.srv.channel(**OWN_CONN) for _ in range(CHANNELS)]
        cls.ss = [Streams(ch) for ch in cls.chans]
        cls.s = cls.ss[0]

    @classmethod
    def tearDownClass(cls):
        code, log = C.stop(cls.srv, *cls.chans)
        assert code == 0, f"ringqd exited {code}:\n{log}"

    def n(self):
        return sname(self._testMethodName[5:25])

    # ---- the directory ----

    def test_create_routable_on_every_shard_at_once_delete_gone_everywhere(self):
        name = self.n()
        info = self.s.stream(name, [name + ".>"])
        seqs = [s.pub(f"{name}.c{i}", "x").acks[0].seq for i, s in enumerate(self.ss)]
        self.assertEqual(sorted(seqs), list(range(1, CHANNELS + 1)))
        self.assertEqual(self.s.state(name).messages, CHANNELS)
        self.assertLess(info.partition, 16)
        self.s.DeleteStream(name=name)
        for s in self.ss:
            C.assert_code(self, SC.FAILED_PRECONDITION, s.pub, f"{name}.x", "y",
                          contains="no stream captures")
        # the subjects are free again, on every shard
        self.ss[-1].stream(name + "-again", [name + ".>"])
        for s in self.ss:
            self.assertEqual(s.pub(f"{name}.z", "z").stream, name + "-again")

    def test_overlapping_creates_racing_leave_one_stream(self):
        root = self.n()
        with concurrent.futures.ThreadPoolExecutor(max_workers=CHANNELS) as ex:
            futs = [ex.submit(s.stream, f"{root}-{i}", [f"{root}.>" if i % 2 else f"{root}.*"])
                    for i, s in enumerate(self.ss)]
            ok, refused = [], []
            for f in futs:
                try:
                    ok.append(f.result().config.name)
                except grpc.RpcError as e:
                    self.assertEqual(e.code(), SC.FAILED_PRECONDITION, e.details())
                    self.assertIn("overlap", e.details())
                    refused.append(e)
        self.assertEqual(len(ok), 1, ok)
        for s in self.ss:
            self.assertEqual(s.pub(f"{root}.a", "x").stream, ok[0])

    # ---- publish, get, read ----

    def test_publish_get_read(self):
        name = self.n()
        self.s.stream(name, [name + ".*"])
        r = self.ss[1].Publish(messages=[msg(f"{name}.a", "a1"), msg(f"{name}.b", "b1",
                                                                      headers={"k": "v"}),
                                         msg(f"{name}.a", "a2")],
                               durability=queue_pb2.DURABILITY_SYNCED)
        self.assertEqual(r.stream, name)
        self.assertEqual([a.seq for a in r.acks], [1, 2, 3])
        # receipts as Enqueue's: the partition, the record's offset, SYNCED (--fsync always)
        self.assertEqual({a.receipt.level for a in r.acks}, {queue_pb2.DURABILITY_SYNCED})
        self.assertEqual(len({a.receipt.offset for a in r.acks}), 3)
        m = self.ss[2].GetMessage(stream=name, seq=2)
        self.assertEqual((m.subject, m.payload, dict(m.headers), m.payload_size),
                         (f"{name}.b", b"b1", {"k": "v"}, 2))
        last = self.ss[3].GetMessage(stream=name, last_by_subject=f"{name}.a")
        self.assertEqual((last.seq, last.payload), (3, b"a2"))
        C.assert_code(self, SC.NOT_FOUND, self.s.GetMessage, stream=name, seq=9)
        got = self.ss[4].read(name, start_seq=1, end_seq=3)
        self.assertEqual([(x.seq, x.payload) for x in got], [(1, b"a1"), (2, b"b1"), (3, b"a2")])
        got = self.ss[5].read(name, start_seq=2, max_messages=5, end_seq=3,
                              filter_subjects=[f"{name}.a"], headers_only=True)
        self.assertEqual([(x.seq, x.payload, x.payload_size) for x in got], [(3, b"", 2)])

    def test_read_many_batches_and_live(self):
        name = self.n()
        self.s.stream(name, [name])
        for i in range(3):  # 300 messages: several read batches (64 each)
            self.s.Publish(messages=[msg(name, f"m{i * 100 + k}") for k in range(100)])
        got = self.ss[1].read(name, start_seq=1, end_seq=300)
        self.assertEqual([x.seq for x in got], list(range(1, 301)))
        call = self.ss[2].read_call(name, start_seq=299)  # live: end_seq 0
        it = iter(call)
        self.assertEqual([next(it).seq, next(it).seq], [299, 300])
        self.ss[3].pub(name, "late1", "late2")
        self.assertEqual([(x.seq, x.payload) for x in (next(it), next(it))],
                         [(301, b"late1"), (302, b"late2")])
        call.cancel()

    def test_slow_reader_is_not_read_ahead(self):
        """A Read whose client does not read holds at most a batch and the transport's windows
        on the server: the bytes the server encoded for it (ringq_payload_delivered_bytes_total)
        stay far below the stream's size until the client reads on (about 12 MiB of 64 here:
        grpcio's window and the sockets' buffers; without flow control it would be all 64)."""
        name = self.n()
        self.s.stream(name, [name])
        payload = b"r" * 65536
        for _ in range(32):  # 1024 x 64 KiB = 64 MiB, 2 MiB per Publish (4 MiB messages)
            self.s.Publish(messages=[msg(name, payload) for _ in range(32)])
        total = 1024 * len(payload)
        before = plain(metrics(self.srv.addr), "ringq_payload_delivered_bytes_total")
        call = self.ss[1].read_call(name, start_seq=1, end_seq=1024)
        it = iter(call)
        self.assertEqual(next(it).seq, 1)

        def delivered():
            return plain(metrics(self.srv.addr), "ringq_payload_delivered_bytes_total") - before
        # the server stops once the windows are full: the figure stops moving
        last = [-1.0]

        def settled():
            d = delivered()
            same = d == last[0]
            last[0] = d
            return same
        C.poll(settled, 20, "the server stops reading ahead", every_s=0.3)
        self.assertLess(last[0], total / 2, f"read ahead {last[0]:.0f} of {total} bytes")
        got = 1 + sum(1 for _ in it)
        self.assertEqual(got, 1024)
        self.assertGreaterEqual(delivered(), total)

    def test_publish_stream_answers_in_order(self):
        name = self.n()
        self.s.stream(name, [name])
        reqs = [S.PublishStreamRequest(request_id=i, publish=S.PublishRequest(
            messages=[msg(name if i != 3 else "nobody-" + name, f"p{i}")])) for i in range(1, 8)]
        resps = list(self.ss[1].publish_stream(reqs))
        self.assertEqual([r.request_id for r in resps], list(range(1, 8)))
        self.assertEqual(resps[2].code, SC.FAILED_PRECONDITION.value[0], resps[2].message)
        self.assertEqual([r.publish.acks[0].seq for r in resps if r.code == 0], list(range(1, 7)))

    # ---- consumers ----

    def test_durable_consumer_consume_with_acks_then_fetch(self):
        name = self.n()
        self.s.stream(name, [name])
        self.s.pub(name, *[f"m{i}" for i in range(6)])
        self.ss[1].consumer(name, "d", ack_wait_ms=60000)
        cs = ConsumeStream(self.chans[2])
        self.addCleanup(cs.cancel)
        r = cs.bind(name, "d", credits=3)
        self.assertEqual((r.code, r.consumer.config.name), (0, "d"))
        got = cs.wait_deliveries(3)
        self.assertEqual([d.message.seq for d in got], [1, 2, 3])
        self.assertEqual(cs.quiet_for(0.3), [], "more deliveries than credits")
        res = cs.ack_wait(*got)
        self.assertEqual((res.code, [x.code for x in res.results]), (0, [0, 0, 0]))
        self.assertEqual(self.s.GetConsumer(stream=name, name="d").state.clients, 1)
        cs.credit(10)
        more = cs.wait_deliveries(6)[3:]
        self.assertEqual([d.message.seq for d in more], [4, 5, 6])
        cs.cancel()
        C.poll(lambda: self.s.GetConsumer(stream=name, name="d").state.clients == 0, 10,
               "the Consume stream unbinds")
        # 4..6 unacked: a Fetch with a nak-and-retake shows the stale token refused
        self.s.ResetConsumer(stream=name, name="d", seq=4)
        f = self.ss[3].fetch(name, "d", n=10, wait_ms=1000)
        self.assertEqual([d.message.seq for d in f], [4, 5, 6])
        nak = self.ss[3].ack(name, "d", f[0], kind=S.ACK_KIND_NAK, delay_ms=0)
        self.assertEqual(nak[0].code, 0)
        again = self.ss[3].fetch(name, "d", n=1, wait_ms=2000)
        self.assertEqual(again[0].message.seq, 4)
        stale = self.ss[3].ack(name, "d", f[0])
        self.assertEqual(stale[0].code, SC.FAILED_PRECONDITION.value[0], stale[0].message)
        ok = self.ss[3].ack(name, "d", again[0], *f[1:])
        self.assertEqual([x.code for x in ok], [0, 0, 0])
        self.assertEqual(self.s.GetConsumer(stream=name, name="d").state.num_ack_pending, 0)

    def test_fetch_long_poll_woken_by_publish_on_another_shard(self):
        name = self.n()
        self.s.stream(name, [name])
        self.s.consumer(name, "w")
        fut = self.ss[1].future("Fetch", stream=name, consumer="w", max_messages=5, wait_ms=20000)
        C.poll(lambda: self.s.GetConsumer(stream=name, name="w").state.num_waiting == 1, 10,
               "the Fetch parks")
        t0 = time.monotonic()
        self.ss[2].pub(name, "wake")
        got = fut.result(timeout=10).deliveries
        self.assertEqual([d.message.payload for d in got], [b"wake"])
        self.assertLess(time.monotonic() - t0, 5.0)

    def test_two_consume_streams_share_one_consumer(self):
        name = self.n()
        self.s.stream(name, [name])
        self.s.consumer(name, "shared", ack_policy=S.ACK_POLICY_NONE)
        a, b = ConsumeStream(self.chans[4]), ConsumeStream(self.chans[5])
        self.addCleanup(a.cancel)
        self.addCleanup(b.cancel)
        self.assertEqual(a.bind(name, "shared", credits=100).code, 0)
        self.assertEqual(b.bind(name, "shared", credits=100).code, 0)
        self.s.pub(name, *[f"m{i}" for i in range(40)])

        def total():
            for cs in (a, b):
                try:
                    cs.next(0.05)
                except Exception:  # queue.Empty: nothing arrived in that slice
                    pass
            return len(a.deliveries) + len(b.deliveries) >= 40
        C.poll(total, 10, "40 deliveries over the two streams")
        seqs = [d.message.seq for d in a.deliveries + b.deliveries]
        self.assertEqual(sorted(seqs), list(range(1, 41)), "each message to one of them")
        self.assertEqual(self.s.GetConsumer(stream=name, name="shared").state.clients, 2)

    def test_ephemeral_consumer_from_a_bind(self):
        name = self.n()
        self.s.stream(name, [name])
        self.s.pub(name, "e1")
        cs = ConsumeStream(self.chans[6])
        self.addCleanup(cs.cancel)
        r = cs.bind(name, ephemeral=S.ConsumerConfig(ephemeral=True, inactive_threshold_ms=1000),
                    credits=5)
        self.assertEqual(r.code, 0, r.message)
        eph = r.consumer.config.name
        self.assertTrue(eph.startswith("eph-"), eph)
        self.assertEqual([d.message.payload for d in cs.wait_deliveries(1)], [b"e1"])
        cs.cancel()
        def gone():
            try:
                self.s.GetConsumer(stream=name, name=eph)
                return False
            except grpc.RpcError as e:
                return e.code() == SC.NOT_FOUND
        C.poll(gone, 15, "the ephemeral consumer goes after its inactivity threshold")

    def test_delete_ends_live_read_parked_fetch_and_consume_not_found(self):
        name = self.n()
        self.s.stream(name, [name])
        self.s.consumer(name, "c1")
        self.s.consumer(name, "c2")
        read = self.ss[1].read_call(name, start_seq=1, timeout=20)
        fetch = self.ss[2].future("Fetch", stream=name, consumer="c1", wait_ms=20000, timeout=20)
        cs = ConsumeStream(self.chans[3], timeout=20)
        self.addCleanup(cs.cancel)
        self.assertEqual(cs.bind(name, "c2", credits=5).code, 0)
        C.poll(lambda: self.s.GetConsumer(stream=name, name="c1").state.num_waiting == 1, 10,
               "the Fetch parks")
        t0 = time.monotonic()
        self.s.DeleteStream(name=name)
        with self.assertRaises(grpc.RpcError) as r:
            next(read)
        self.assertEqual(r.exception.code(), SC.NOT_FOUND)
        with self.assertRaises(grpc.RpcError) as f:
            fetch.result(timeout=20)
        self.assertEqual(f.exception.code(), SC.NOT_FOUND)

        def consume_ended():
            try:
                return cs.next(0.1) is None or cs.error is not None
            except queue.Empty:
                return False
        C.poll(consume_ended, 20, "Consume ends")
        self.assertEqual(cs.error.code(), SC.NOT_FOUND)
        self.assertLess(time.monotonic() - t0, 5.0, "each ended at the delete, not a timeout")

    # ---- service registration, figures ----

    def test_health_reflection_metrics(self):
        r = H.unary(self.chans[0], "/grpc.health.v1.Health/Check",
                    health_pb2.HealthCheckRequest(service="ringq.v1.Streams"),
                    health_pb2.HealthCheckResponse)
        self.assertEqual(r.status, health_pb2.HealthCheckResponse.SERVING)
        resps = list(H.stream_stream(self.chans[0],
                                     "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                                     iter([refl.ServerReflectionRequest(list_services="")]),
                                     refl.ServerReflectionResponse))
        names = {s.name for s in resps[0].list_services_response.service}
        self.assertIn("ringq.v1.Streams", names)
        name = self.n()
        self.s.stream(name, [name])
        self.s.pub(name, "abc", "defg")
        self.s.consumer(name, "m")
        self.s.fetch(name, "m", n=1)
        text = metrics(self.srv.addr)
        lab = f'stream="{name}"'
        self.assertEqual(sample(text, "ringq_stream_messages", lab), 2)
        self.assertEqual(sample(text, "ringq_stream_last_seq", lab), 2)
        self.assertEqual(sample(text, "ringq_stream_consumers", lab), 1)
        self.assertGreater(sample(text, "ringq_stream_bytes", lab), 7)
        clab = f'stream="{name}",consumer="m"'
        self.assertEqual(sample(text, "ringq_consumer_ack_pending", clab), 1)
        self.assertEqual(sample(text, "ringq_consumer_pending", clab), 1)
        self.assertIn("\nringq_streams ", text)


class StreamsRestartDrainTest(unittest.TestCase):
    """Restart on one data directory: the directory and the consumers come back; the drain ends
    live streams with UNAVAILABLE."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ringq-streams-server-")
        self.data = os.path.join(self.tmp.name, "data")
        self.srv = None

    def tearDown(self):
        if self.srv:
            self.srv.close()
        self.tmp.cleanup()

    def start(self):
        self.srv = C.start_ringqd(threads=SHARDS, data_dir=self.data)
        self.chans = [self.srv.channel(**OWN_CONN) for _ in range(CHANNELS)]
        for ch in self.chans:
            self.addCleanup(ch.close)
        return [Streams(ch) for ch in self.chans]

    def test_restart_rebuilds_directory_and_consumer_resumes(self):
        ss = self.start()
        ss[0].stream("orders", ["orders.*"])
        ss[0].stream("logs", ["logs.>"])
        ss[1].pub("orders.a", *[f"o{i}" for i in range(5)])
        ss[0].consumer("orders", "billing")
        got = ss[2].fetch("orders", "billing", n=3)
        self.assertEqual([x.code for x in ss[2].ack("orders", "billing", *got)], [0, 0, 0])
        self.assertEqual(self.srv.terminate(), 0, "".join(self.srv.lines[-30:]))
        self.srv.close()
        ss = self.start()
        for i, s in enumerate(ss):  # no CreateStream: every shard routes from the replay
            self.assertEqual(s.pub("orders.b", f"after{i}").stream, "orders")
            self.assertEqual(s.pub("logs.x.y", "l").stream, "logs")
        C.assert_code(self, SC.FAILED_PRECONDITION, ss[0].pub, "other", "x")
        rest = ss[3].fetch("orders", "billing", n=100, wait_ms=1000)
        self.assertEqual([d.message.seq for d in rest][:2], [4, 5])
        self.assertEqual(len(rest), 2 + CHANNELS)
        self.assertEqual(self.srv.terminate(), 0)

    def test_drain_ends_live_read_and_consume_unavailable(self):
        ss = self.start()
        ss[0].stream("d", ["d"])
        ss[0].consumer("d", "c")
        read = ss[1].read_call("d", start_seq=1)
        reqs = queue.Queue()
        pubs = ss[3].publish_stream(iter(reqs.get, None), timeout=60)
        reqs.put(S.PublishStreamRequest(request_id=7, publish=S.PublishRequest(
            messages=[msg("d", "via-stream")])))
        first = next(pubs)
        self.assertEqual((first.request_id, first.code, first.publish.acks[0].seq), (7, 0, 1))
        cs = ConsumeStream(self.chans[2])
        self.assertEqual(cs.bind("d", "c", credits=10).code, 0)
        ss[0].pub("d", "x")
        self.assertEqual([next(read).payload, next(read).payload], [b"via-stream", b"x"])
        cs.wait_deliveries(2)
        errors = {}

        def drain_read():
            try:
                for _ in read:
                    pass
            except grpc.RpcError as e:
                errors["read"] = e.code()
        t = threading.Thread(target=drain_read)
        t.start()
        t_term = time.monotonic()
        self.srv.proc.send_signal(signal.SIGTERM)
        t.join(15)
        self.assertEqual(errors.get("read"), SC.UNAVAILABLE)
        def consume_ended():
            try:
                return cs.next(0.1) is None or cs.error is not None
            except queue.Empty:
                return False
        C.poll(consume_ended, 15, "Consume ends")
        self.assertEqual(cs.error.code(), SC.UNAVAILABLE)
        with self.assertRaises(grpc.RpcError) as ended:  # an idle PublishStream ends too
            next(pubs)
        self.assertEqual(ended.exception.code(), SC.UNAVAILABLE)
        reqs.put(None)
        self.assertEqual(self.srv.proc.wait(20), 0)
        # nothing held the drain to its deadline (--drain-timeout-ms, 10 s by default)
        self.assertLess(time.monotonic() - t_term, 5.0)


if __name__ == "__main__":
    unittest.main()
