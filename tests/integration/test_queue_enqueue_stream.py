"""Queue.EnqueueStream (docs/semantics.md "EnqueueStream"): a producer streams requests of one
task (or a batch) and the server answers each, in request order, once its durability is reached,
with the receipt Enqueue would give; a failed request does not end the stream; a producer has at
most `credits` requests unanswered; on drain the held requests are answered and the stream ends
UNAVAILABLE.

Everything runs against a real ringqd over grpcio. "Not before the fsync" uses --fsync
interval:N, where the only fsync comes when the window's timer fires (as in
test_queue_receipt.py): an answer that waits for it provably waited for the fsync."""
import queue
import signal
import time
import unittest

import grpc

import ringq_client as C
from ringq.v1 import queue_pb2
from test_queue_receipt import confirmed, fsyncs

SYNCED = queue_pb2.DURABILITY_SYNCED
WRITTEN = queue_pb2.DURABILITY_WRITTEN
CREDITS = 1024  # SRV_ESTREAM_CREDITS
INVALID = grpc.StatusCode.INVALID_ARGUMENT.value[0]
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE.value[0]
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION.value[0]


def req(rid, queue_name, payload=b"x", **kw):
    if isinstance(payload, str):
        payload = payload.encode()
    return queue_pb2.EnqueueStreamRequest(request_id=rid, queue=queue_name,
                                          task=C.spec(payload), **kw)


class Producer(C.BidiCall):
    """An EnqueueStream call (ringq_client.BidiCall): send() queues a request (a message, or raw
    bytes as they are), take() the answers; the call's end status is in `error` once `done`."""

    def __init__(self, channel, timeout=60.0):
        super().__init__(channel, C.Q + "EnqueueStream", queue_pb2.EnqueueStreamResponse, timeout)

    def send(self, m):
        self._reqs.put(m)

    def unanswered(self):
        """Nothing answered yet (and the call has not ended)."""
        return self._resps.empty()

    def take(self, n, timeout=20.0):
        """The next n answers (fails after the timeout)."""
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            left = deadline - time.monotonic()
            try:
                r = self._next_response(max(left, 0.001))
            except queue.Empty:
                r = None
            if r is None:
                raise AssertionError(f"got {len(out)} answers of {n} (end: {self.error!r})")
            out.append(r)
        return out

    def end(self, timeout=20.0):
        """The call's end: None for OK, else the grpc.RpcError."""
        if not self.done.wait(timeout):
            raise AssertionError("the stream did not end")
        return self.error


class EnqueueStreamTest(unittest.TestCase):
    def start(self, *args, threads=2):
        srv = C.start_ringqd(*args, threads=threads)
        ch = srv.channel()
        self.addCleanup(srv.close)
        return srv, ch, C.Client(ch)

    def stop(self, srv, *chs):
        code, log = C.stop(srv, *chs)
        self.assertEqual(code, 0, log)

    def test_in_order_across_shards_with_synced_receipts(self):
        srv, ch, c = self.start("--fsync", "always", threads=3)
        names = [n for shard in C.names_by_shard(c, C.qname("es"), nshards=3, per_shard=2)
                 for n in shard]
        p = Producer(srv.channel())
        n = 120
        for i in range(n):
            if i % 17 == 5:
                p.send(req(1000 + i, "bad name!"))  # fails, the stream goes on
            else:
                p.send(req(1000 + i, names[i % len(names)], f"t{i}"))
        p.half_close()
        got = p.take(n)
        self.assertIsNone(p.end())
        self.assertEqual([a.request_id for a in got], [1000 + i for i in range(n)])
        per_queue = {}
        for i, a in enumerate(got):
            self.assertEqual(a.credits, CREDITS)
            if i % 17 == 5:
                self.assertEqual(a.code, INVALID, a.message)
                self.assertIn("queue", a.message)
                self.assertEqual(len(a.results), 0)
                continue
            self.assertEqual(a.code, 0, a.message)
            (res,) = a.results
            self.assertEqual(res.receipt.level, SYNCED)
            self.assertEqual(confirmed(c, res.receipt), (True, True))
            per_queue.setdefault(names[i % len(names)], []).append((res.receipt.offset, i))
        # Each queue holds its tasks in request order, one record each.
        for q, offs in per_queue.items():
            self.assertEqual(offs, sorted(offs))
            tasks = c.take(q, n=len(offs))
            self.assertEqual(sorted(t.payload for t in tasks),
                             sorted(f"t{i}".encode() for _, i in offs))
        self.stop(srv, ch)

    def test_synced_answer_waits_for_the_fsync(self):
        srv, ch, c = self.start("--fsync", "interval:4000")
        q = C.qname("esint")
        before = fsyncs(srv.addr)
        slow = Producer(srv.channel())
        slow.send(req(1, q, "s", durability=SYNCED))
        # A WRITTEN request on another stream is answered at once, before any fsync; the
        # SYNCED one, sent first, is still unanswered then.
        fast = Producer(srv.channel())
        fast.send(req(2, q, "w", durability=WRITTEN))
        (w,) = fast.take(1)
        self.assertEqual((w.code, w.results[0].receipt.level), (0, WRITTEN))
        self.assertEqual(fsyncs(srv.addr), before)
        self.assertTrue(slow.unanswered())
        (s,) = slow.take(1)
        self.assertEqual((s.code, s.request_id), (0, 1))
        self.assertEqual(s.results[0].receipt.level, SYNCED)
        self.assertGreater(fsyncs(srv.addr), before)
        self.assertEqual(confirmed(c, s.results[0].receipt), (True, True))
        for p in (slow, fast):
            p.half_close()
            self.assertIsNone(p.end())
        self.stop(srv, ch)

    def test_a_producer_past_its_credits_is_refused(self):
        # The SYNCED answers wait for the window's fsync, so every request stays held: the
        # ones past the credit window are answered RESOURCE_EXHAUSTED and enqueue nothing.
        srv, ch, c = self.start("--fsync", "interval:8000")
        q = C.qname("escred")
        p = Producer(srv.channel())
        extra = 40
        for i in range(CREDITS + extra):
            p.send(req(i + 1, q, f"c{i}", durability=SYNCED))
        p.half_close()
        got = p.take(CREDITS + extra, timeout=30)
        self.assertIsNone(p.end())
        codes = [a.code for a in got]
        self.assertEqual(codes[:CREDITS], [0] * CREDITS)
        self.assertEqual(codes[CREDITS:], [EXHAUSTED] * extra)
        self.assertIn("unanswered", got[-1].message)
        self.assertEqual(c.GetQueue(name=q).ready, CREDITS)
        self.stop(srv, ch)

    def test_bad_input_per_field(self):
        srv, ch, c = self.start("--fsync", "never")
        q = C.qname("esbad")
        p = Producer(srv.channel())
        cases = [
            (INVALID, "queue", queue_pb2.EnqueueStreamRequest(request_id=1, task=C.spec(b"x"))),
            (INVALID, "task", queue_pb2.EnqueueStreamRequest(request_id=2, queue=q)),
            (INVALID, "not both", queue_pb2.EnqueueStreamRequest(
                request_id=3, queue=q, task=C.spec(b"x"), tasks=[C.spec(b"y")])),
            (INVALID, "1..1000", queue_pb2.EnqueueStreamRequest(
                request_id=4, queue=q, tasks=[C.spec(b"y")] * 1001)),
            (INVALID, "durability", req(5, q, durability=77)),
            (PRECONDITION, "never", req(6, q, durability=SYNCED)),
            (INVALID, "priority", queue_pb2.EnqueueStreamRequest(
                request_id=7, queue=q, task=C.spec(b"x", priority=1 << 20))),
            (INVALID, "malformed", b"\x0a\xff\xff"),
        ]
        for _, _, m in cases:
            p.send(m)
        p.send(queue_pb2.EnqueueStreamRequest(request_id=9, queue=q,
                                              tasks=[C.spec(b"a"), C.spec(b"b")]))
        p.half_close()
        got = p.take(len(cases) + 1)
        self.assertIsNone(p.end())
        for (code, word, _), a in zip(cases, got):
            self.assertEqual(a.code, code, (word, a.message))
            self.assertIn(word, a.message.lower())
        last = got[-1]
        self.assertEqual((last.request_id, last.code, len(last.results)), (9, 0, 2))
        self.assertEqual(sorted(t.payload for t in c.take(q, n=3)), [b"a", b"b"])
        self.stop(srv, ch)

    def test_paused_queue_takes_tasks_and_holds_them(self):
        srv, ch, c = self.start("--fsync", "always")
        q = C.qname("espause")
        c.ConfigureQueue(name=q)
        c.PauseQueue(name=q)
        p = Producer(srv.channel())
        p.send(req(1, q, "held"))
        (a,) = p.take(1)
        self.assertEqual(a.code, 0, a.message)
        self.assertEqual(c.take(q, n=1), [])
        c.ResumeQueue(name=q)
        self.assertEqual([t.id for t in c.take(q, n=1)], [a.results[0].id])
        p.half_close()
        self.assertIsNone(p.end())
        self.stop(srv, ch)

    def test_drain_answers_what_is_held_then_unavailable(self):
        srv, ch, c = self.start("--fsync", "interval:60000")
        q = C.qname("esdrain")
        p = Producer(srv.channel())
        for i in range(5):
            p.send(req(i + 1, q, f"d{i}", durability=SYNCED))
        # Every request is held once the server counted it (the window's fsync is a minute
        # away, so none is answered).
        def appended():
            try:
                return c.GetQueue(name=q).enqueued_total == 5
            except grpc.RpcError as e:  # the first request has not created the queue yet
                if e.code() != grpc.StatusCode.NOT_FOUND:
                    raise
                return False

        C.poll(appended, 10, "the 5 tasks appended")
        self.assertTrue(p.unanswered())
        srv.proc.send_signal(signal.SIGTERM)
        got = p.take(5)
        self.assertEqual([a.request_id for a in got], [1, 2, 3, 4, 5])
        self.assertEqual([a.code for a in got], [0] * 5)
        for a in got:
            self.assertEqual(a.results[0].receipt.level, SYNCED)
        err = p.end()
        self.assertIsNotNone(err)
        self.assertEqual(err.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(srv.proc.wait(timeout=20), 0)
        ch.close()


if __name__ == "__main__":
    unittest.main()
