"""ringq.v1.Queue/Work, the worker bidi stream, against the real ringqd (2 shards, 16
partitions) with Python grpcio: subscriptions to several queues on both shards, credits bounding
what is pushed, acks/nacks/extends answered by WorkResults with their request_id, new credits
resuming delivery, half-close and cancel, and bad requests on the stream.

"The server pushed nothing more" is checked without sleeping: tasks are leased before they are
pushed, so Admin's `leased` figure shows any over-delivery, and a barrier (an Extend sent to every
partition involved, answered on the same owner-to-connection path as deliveries) makes sure
earlier deliveries have arrived before counting."""
import itertools
import signal
import time
import unittest

import grpc

import ringq_client as C
from ringq_client import spec
from ringq.v1 import types_pb2

S = grpc.StatusCode
TWELVE_H_MS = 12 * 3600000


class WorkStreamTest(C.RingqdTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.rid = itertools.count(1000)

    def setUp(self):
        self.streams = []

    def tearDown(self):
        for w in self.streams:
            w.cancel()

    def stream(self):
        ch = self.srv.channel()  # one connection per stream: shard placement varies
        self.addCleanup(ch.close)
        w = C.WorkStream(ch)
        self.streams.append(w)
        return w

    def queues(self, per_shard=1):
        names = C.names_by_shard(self.c, C.qname(self._testMethodName[5:30]), per_shard=per_shard)
        return [n for shard in names for n in shard]

    def leased(self, queues):
        return sum(self.c.GetQueue(name=q).leased for q in queues)

    def barrier(self, w, ids):
        """Extends (60 s) each task id on the stream and waits for every answer: by then every
        delivery the owners of those partitions decided earlier has been received."""
        rids = []
        for i in ids:
            rid = next(self.rid)
            w.extend(rid, id=i, lease_ms=60000)
            rids.append(rid)
        return [w.wait_result(r) for r in rids]

    def subscribe_ok(self, w, queues, credits=0, lease_ms=0):
        rid = next(self.rid)
        w.subscribe(queues, credits=credits, lease_ms=lease_ms, request_id=rid)
        r = w.wait_result(rid)
        self.assertEqual(r.code, 0, r.message)
        return r

    # ---- credits ----

    def test_credits_bound_deliveries_across_queues_on_both_shards(self):
        qs = self.queues(per_shard=2)
        ids = {q: self.c.put(q, *[f"{q}/{i}" for i in range(6)]) for q in qs}
        all_ids = {i for v in ids.values() for i in v}
        w = self.stream()
        self.subscribe_ok(w, qs, credits=5)
        got = w.wait_tasks(5)
        self.barrier(w, [v[-1] for v in ids.values()])
        self.assertEqual(len(w.tasks), 5, "more tasks than credits")
        self.assertEqual(self.leased(qs), 5)
        for t in got:
            self.assertIn(t.id, all_ids)
            self.assertIn(t.queue, qs)
            self.assertEqual(t.payload.decode().split("/")[0], t.queue)
            self.assertEqual(t.attempt, 1)
        self.assertEqual(len({t.id for t in got}), 5)
        # More credits: exactly that many more.
        w.credit(7)
        w.wait_tasks(12)
        self.barrier(w, [v[-1] for v in ids.values()])
        self.assertEqual(len(w.tasks), 12)
        self.assertEqual(self.leased(qs), 12)
        # Ack them all on the stream.
        rid = next(self.rid)
        w.ack([t.id for t in w.tasks], rid)
        r = w.wait_result(rid)
        self.assertEqual(r.code, 0)
        self.assertEqual([x.code for x in r.ack.results], [0] * 12)
        self.assertEqual(self.leased(qs), 0)
        self.assertEqual(sum(self.c.GetQueue(name=q).ready for q in qs), len(all_ids) - 12)
        w.half_close()
        w.drain_until_end()

    def test_new_credits_resume_delivery_of_tasks_enqueued_later(self):
        qs = self.queues()
        w = self.stream()
        self.subscribe_ok(w, qs, credits=3)
        # Nothing ready yet: tasks enqueued now (another connection) are pushed as they come.
        first = self.c.put(qs[0], "a")
        w.wait_tasks(1)
        second = self.c.put(qs[1], "b", "c", "d")
        w.wait_tasks(3)
        self.assertEqual([t.id for t in w.tasks], first + second[:2])
        self.barrier(w, second)
        self.assertEqual(len(w.tasks), 3)  # credits used up: "d" waits
        self.assertEqual(self.c.state(second[2]), types_pb2.TASK_STATE_READY)
        w.credit(10)
        w.wait_tasks(4)
        self.assertEqual(w.tasks[3].id, second[2])
        # A delayed task is pushed when it becomes ready.
        late = self.c.put(qs[0], "late", delay_ms=500)[0]
        t0 = time.monotonic()
        w.wait_tasks(5)
        self.assertEqual(w.tasks[4].id, late)
        self.assertLess(time.monotonic() - t0, 10)
        rid = next(self.rid)
        w.ack([t.id for t in w.tasks], rid)
        self.assertEqual([x.code for x in w.wait_result(rid).ack.results], [0] * 5)

    def test_every_credited_task_is_delivered(self):
        # 1000 ready tasks and 1000 credits: all 1000 must arrive, not a first batch only.
        q = self.queues()[0]
        for k in range(2):
            self.c.Enqueue(queue=q, tasks=[spec(f"{k}.{i}") for i in range(500)])
        w = self.stream()
        self.subscribe_ok(w, [q], credits=1000)
        w.wait_tasks(1000, timeout=10)
        self.assertEqual(len({t.id for t in w.tasks}), 1000)
        self.assertEqual(self.c.GetQueue(name=q).leased, 1000)

    def test_credits_shared_across_shards_are_all_used(self):
        # Tasks ready in four queues on both shards, credits == tasks: every task must be
        # pushed, whatever the order in which the owners claim (and give back) credits. A
        # race, so many short rounds.
        qs = self.queues(per_shard=2)
        ch = self.srv.channel()
        self.addCleanup(ch.close)
        for trial in range(300):
            for k, q in enumerate(qs):
                self.c.put(q, *[f"{trial}.{k}.{i}" for i in range(k + 1)])
            w = C.WorkStream(ch)
            self.streams.append(w)
            w.subscribe(qs, credits=10, request_id=1)
            try:
                w.wait_tasks(10, timeout=5)
            except AssertionError as e:
                left = {q: self.c.GetQueue(name=q).ready for q in qs}
                self.fail(f"round {trial}: {e}; credits left unused while ready: {left}")
            rid = next(self.rid)
            w.ack([t.id for t in w.tasks], rid)
            self.assertEqual([x.code for x in w.wait_result(rid).ack.results], [0] * 10)
            w.half_close()
            w.drain_until_end()

    def test_credits_granted_in_small_steps_deliver_in_priority_order(self):
        q = self.queues()[0]
        prios = [1, 9, 1, 4, 9, 0]
        ids = [x.id for x in self.c.Enqueue(
            queue=q, tasks=[spec(str(i), priority=p) for i, p in enumerate(prios)]).results]
        expect = [i for _, _, i in sorted(zip([-p for p in prios], range(6), ids))]
        w = self.stream()
        self.subscribe_ok(w, [q], credits=1)
        for n in range(1, 7):
            w.wait_tasks(n)
            self.barrier(w, [ids[0]])
            self.assertEqual(len(w.tasks), n)
            if n < 6:
                w.credit(1)
        self.assertEqual([t.id for t in w.tasks], expect)

    def test_credits_capped_at_10000_outstanding(self):
        # Credit.n: "added to the credits left, at most 10000 in total". Credits granted on an
        # empty queue stay outstanding: 6000 + 6000 leave 10000, so of 11000 tasks enqueued
        # afterwards exactly 10000 are pushed.
        q, other = self.queues()
        probe = self.c.put(other, "probe")[0]
        w = self.stream()
        self.subscribe_ok(w, [q], credits=6000)
        w.credit(6000)
        rid = next(self.rid)
        w.extend(rid, id=probe, lease_ms=1000)  # answered after the credit was applied
        self.assertEqual(w.wait_result(rid).code, S.FAILED_PRECONDITION.value[0])
        for k in range(11):
            self.c.Enqueue(queue=q, tasks=[spec(b"") for _ in range(1000)])
        w.wait_tasks(10000, timeout=20)
        self.barrier(w, [w.tasks[0].id])
        self.assertEqual(len(w.tasks), 10000)
        info = self.c.GetQueue(name=q)
        self.assertEqual((info.leased, info.ready), (10000, 1000))
        self.c.PurgeQueue(name=q)

    # ---- results ----

    def test_ack_nack_extend_answered_with_their_request_ids(self):
        qs = self.queues()
        a = self.c.put(qs[0], "a1", "a2", "a3")
        b = self.c.put(qs[1], "b1", "b2")
        w = self.stream()
        self.subscribe_ok(w, qs, credits=5, lease_ms=20000)
        w.wait_tasks(5)
        delivered = {t.id: t for t in w.tasks}
        self.assertEqual(set(delivered), set(a + b))
        for t in w.tasks:
            self.assertTrue(C.now_ms() + 10000 < t.lease_deadline_unix_ms <= C.now_ms() + 20000)
        # Many requests in flight at once; answers may come in any order, matched by id.
        w.ack([a[0], b[0], "0-999999999"], 11)
        w.nack(12, id=a[1], delay_ms=0)
        w.nack(13, id=b[1], dead_letter=True, reason="bad input")
        t0 = C.now_ms()
        w.extend(14, id=a[2], lease_ms=45000)
        w.extend(15, id=a[0], lease_ms=1000)  # acked by request 11 (same partition, earlier)
        w.nack(16, id="0-999999999")
        w.extend(17, id=a[2], lease_ms=TWELVE_H_MS + 1)
        w.ack([], 18)
        w.nack(19, id=a[2], reason="r" * 1025)
        r = {i: w.wait_result(i) for i in range(11, 20)}
        for i, res in r.items():
            self.assertEqual(res.request_id, i)
        self.assertEqual(r[11].code, 0)
        self.assertEqual(r[11].WhichOneof("response"), "ack")
        self.assertEqual([(x.id, x.code) for x in r[11].ack.results],
                         [(a[0], 0), (b[0], 0), ("0-999999999", S.NOT_FOUND.value[0])])
        self.assertEqual(r[12].code, 0)
        self.assertEqual(r[12].WhichOneof("response"), "nack")
        self.assertEqual((r[12].nack.state, r[12].nack.attempts), (types_pb2.TASK_STATE_READY, 1))
        self.assertEqual(r[13].nack.state, types_pb2.TASK_STATE_DEAD)
        self.assertEqual(self.c.GetTask(id=b[1]).last_error, "bad input")
        self.assertEqual(r[14].code, 0)
        self.assertEqual(r[14].WhichOneof("response"), "extend")
        self.assertTrue(t0 + 45000 <= r[14].extend.lease_deadline_unix_ms <= C.now_ms() + 45000)
        self.assertEqual(r[15].code, S.NOT_FOUND.value[0])
        self.assertIsNone(r[15].WhichOneof("response"))
        self.assertEqual(r[16].code, S.NOT_FOUND.value[0])
        self.assertTrue(r[16].message)
        self.assertEqual(r[17].code, S.INVALID_ARGUMENT.value[0])
        self.assertEqual(r[18].code, S.INVALID_ARGUMENT.value[0])
        self.assertEqual(r[19].code, S.INVALID_ARGUMENT.value[0])
        for i in (16, 17, 18, 19):
            self.assertTrue(r[i].message, i)
        # The nacked-at-once task comes back on the stream once credited.
        w.credit(1)
        w.wait_tasks(6)
        self.assertEqual((w.tasks[5].id, w.tasks[5].attempt), (a[1], 2))
        # The stream is still fine after all those errors.
        self.assertIsNone(w.error)

    def test_credit_is_answered_with_its_request_id(self):
        q = self.queues()[0]
        w = self.stream()
        self.subscribe_ok(w, [q])
        w.credit(2, request_id=77)
        r = w.wait_result(77, timeout=5)
        self.assertEqual(r.code, 0)

    def test_request_id_zero_gets_no_result_on_success(self):
        q = self.queues()[0]
        tid = self.c.put(q, "x")[0]
        w = self.stream()
        w.subscribe([q], credits=1, request_id=0)
        w.wait_tasks(1)
        w.extend(0, id=tid, lease_ms=30000)   # succeeds: no answer
        w.extend(0, id=tid, lease_ms=TWELVE_H_MS + 1)  # fails: answered, with request_id 0
        w.extend(5, id=tid, lease_ms=30000)   # same partition: answered after the two above
        got = []
        while True:
            r = w.next(10)
            self.assertIsNotNone(r, "stream ended")
            if r.HasField("result"):
                got.append((r.result.request_id, r.result.code))
                if r.result.request_id == 5:
                    break
        self.assertEqual(got, [(0, S.INVALID_ARGUMENT.value[0]), (5, 0)])

    # ---- subscriptions ----

    def test_later_subscribe_replaces_the_set(self):
        qa, qb = self.queues()
        w = self.stream()
        self.subscribe_ok(w, [qa], credits=0)
        self.subscribe_ok(w, [qb], credits=0)
        a = self.c.put(qa, "a")[0]
        b = self.c.put(qb, "b")[0]
        w.credit(2)
        w.wait_tasks(1)
        self.barrier(w, [a, b])
        self.assertEqual([t.id for t in w.tasks], [b])
        self.assertEqual(self.c.state(a), types_pb2.TASK_STATE_READY)

    def test_subscribe_to_64_queues(self):
        base = C.qname("many")
        names = [f"{base}.{i}" for i in range(64)]
        w = self.stream()
        self.subscribe_ok(w, names, credits=64)
        ids = [self.c.put(n, n)[0] for n in names]
        w.wait_tasks(64)
        self.assertEqual(sorted(t.id for t in w.tasks), sorted(ids))
        rid = next(self.rid)
        w.subscribe(names + [base + ".64"], request_id=rid)
        r = w.wait_result(rid)
        self.assertEqual(r.code, S.INVALID_ARGUMENT.value[0])
        self.assertIn("64", r.message)

    def test_subscribe_and_credit_errors(self):
        w = self.stream()
        w.credit(5, request_id=1)
        r = w.wait_result(1)
        self.assertEqual(r.code, S.FAILED_PRECONDITION.value[0])  # credit before subscribe
        self.assertTrue(r.message)
        cases = [(dict(queues=[]), "no queue"),
                 (dict(queues=[""]), "empty"),
                 (dict(queues=["ok", "x" * 129]), "128"),
                 (dict(queues=["bad/name"]), "'/'"),
                 (dict(queues=["ok"], lease_ms=TWELVE_H_MS + 1), "lease_ms")]
        for i, (kw, why) in enumerate(cases):
            w.subscribe(request_id=10 + i, **kw)
            r = w.wait_result(10 + i)
            self.assertEqual(r.code, S.INVALID_ARGUMENT.value[0], kw)
            self.assertIn(why, r.message)
        w.send(30)  # an empty WorkRequest
        self.assertEqual(w.wait_result(30).code, S.INVALID_ARGUMENT.value[0])
        # The stream survives bad requests and works afterwards.
        q = self.queues()[0]
        tid = self.c.put(q, "fine")[0]
        self.subscribe_ok(w, [q], credits=1)
        self.assertEqual(w.wait_tasks(1)[0].id, tid)

    def test_paused_queue_pushes_nothing_until_resumed(self):
        q = self.queues()[0]
        self.c.put(q, "x")
        self.c.PauseQueue(name=q)
        ids = self.c.put(q, "y", "z")
        w = self.stream()
        self.subscribe_ok(w, [q], credits=10)
        self.barrier(w, ids)
        self.assertEqual(w.tasks, [])
        self.assertEqual(self.leased([q]), 0)
        self.c.ResumeQueue(name=q)
        w.wait_tasks(3)
        self.assertEqual([t.payload for t in w.tasks], [b"x", b"y", b"z"])

    # ---- end of the stream ----

    def test_half_close_ends_stream_after_answers_in_flight(self):
        q = self.queues()[0]
        ids = self.c.put(q, "a", "b")
        w = self.stream()
        self.subscribe_ok(w, [q], credits=2, lease_ms=300)
        w.wait_tasks(2)
        w.ack([ids[0]], 41)
        w.half_close()
        rest = w.drain_until_end()
        self.assertIsNone(w.error, w.error)  # finished with OK
        self.assertEqual(w.call.code(), S.OK)
        results = [r.result for r in rest if r.HasField("result")]
        self.assertIn(41, [r.request_id for r in results] + list(w.results))
        ack = w.results.get(41) or next(r for r in results if r.request_id == 41)
        self.assertEqual(ack.ack.results[0].code, 0)
        # The task it still held is released when the stream ends (docs/semantics.md "Leases
        # bound to the stream"): READY again, no attempt counted by default.
        info = C.poll(lambda: (lambda i: i if i.state == types_pb2.TASK_STATE_READY else None)(
            self.c.GetTask(id=ids[1])), 10, "the held task's release")
        self.assertEqual(info.attempts, 0)
        C.assert_code(self, S.NOT_FOUND, self.c.GetTask, id=ids[0])

    def test_half_close_stops_delivery(self):
        q = self.queues()[0]
        w = self.stream()
        self.subscribe_ok(w, [q], credits=10)
        w.half_close()
        w.drain_until_end()
        tid = self.c.put(q, "after")[0]
        self.assertEqual(self.c.take(q, lease_ms=30000)[0].id, tid)  # nobody took it

    def test_cancelled_stream_tasks_come_back_released(self):
        """A cancelled stream's tasks are released (ready at once, long before their 60 s
        lease), no attempt counted by default (test_work_release.py has the rest)."""
        q = self.queues()[0]
        ids = self.c.put(q, "a", "b", "c")
        w = self.stream()
        self.subscribe_ok(w, [q], credits=2, lease_ms=60000)
        w.wait_tasks(2)
        w.cancel()
        got = []
        deadline = time.monotonic() + 10
        while len(got) < 3 and time.monotonic() < deadline:
            got += [t for t in self.c.take(q, n=3, wait_ms=2000, lease_ms=30000)]
        self.assertEqual(sorted(t.id for t in got), sorted(ids))
        attempts = {t.id: t.attempt for t in got}
        self.assertEqual(attempts[ids[2]], 1)
        self.assertEqual((attempts[ids[0]], attempts[ids[1]]), (1, 1))
        self.c.ack(*ids)

    def test_stream_and_unary_calls_share_leases(self):
        q = self.queues()[0]
        a, b = self.c.put(q, "a", "b")
        w = self.stream()
        self.subscribe_ok(w, [q], credits=1, lease_ms=60000)
        self.assertEqual(w.wait_tasks(1)[0].id, a)
        self.assertEqual(self.c.take(q, lease_ms=60000)[0].id, b)
        # A task pushed on the stream acked by a unary call, and the other way round.
        self.assertEqual(self.c.ack(a)[0].code, 0)
        w.ack([b], 51)
        self.assertEqual(w.wait_result(51).ack.results[0].code, 0)
        w.ack([a], 52)
        self.assertEqual(w.wait_result(52).ack.results[0].code, S.NOT_FOUND.value[0])



class DrainTest(unittest.TestCase):
    """SIGTERM: the server drains. Waiting long-polls answer at once (empty), Work streams end
    with UNAVAILABLE (the API's code for a draining server) once they hold no task instead of
    holding the shutdown, and new calls are refused with UNAVAILABLE."""

    def test_sigterm_ends_long_polls_and_work_streams_promptly(self):
        srv = C.start_ringqd(threads=2)
        chans = [srv.channel() for _ in range(3)]
        try:
            c = C.Client(chans[0])
            q = C.qname("drain")
            tid = c.put(q, "held")[0]
            w = C.WorkStream(chans[1])
            w.subscribe([q], credits=5, request_id=1)
            self.assertEqual(w.wait_tasks(1)[0].id, tid)
            empty = C.qname("empty")
            c.ConfigureQueue(name=empty)
            c2 = C.Client(chans[2])
            fut = c2.future("Lease", queue=empty, wait_ms=30000)
            # Same connection, same partition, sent after it: once GetQueue has answered, the
            # owner has run the Lease, which is parked (nothing is ready).
            c2.GetQueue(name=empty)
            self.assertFalse(fut.done())
            t0 = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)
            self.assertEqual(list(fut.result(timeout=10).tasks), [])
            self.assertLess(time.monotonic() - t0, 3, "the long-poll held the drain")
            # The stream holds a task: it gets the drain time to finish it, and ends once acked.
            w.ack([tid], request_id=2)
            self.assertTrue(w.done.wait(8), "the Work stream is still open")
            self.assertLess(time.monotonic() - t0, 5, "the Work stream held the drain")
            self.assertIsNotNone(w.error)
            self.assertEqual(w.error.code(), S.UNAVAILABLE)
            self.assertEqual(srv.proc.wait(timeout=10), 0)
            self.assertLess(time.monotonic() - t0, 5)
        finally:
            for ch in chans:
                ch.close()
            srv.close()


if __name__ == "__main__":
    unittest.main()
