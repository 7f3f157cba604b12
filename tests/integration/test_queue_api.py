"""ringq.v1.Queue unary calls against the real ringqd (2 shards, 16 partitions) with Python
grpcio: Enqueue, Lease (with long-poll), Ack, Nack, Extend, the rules of docs/semantics.md they
implement (ordering, delays, leases and attempts, retries to dead, dedup) and bad input for each
field. Time-based rules use short leases/delays and bounded polls or Lease's own wait."""
import time
import unittest

import grpc

import ringq_client as C
from ringq_client import spec
from ringq.v1 import types_pb2

S = grpc.StatusCode
DAY_MS = 86400000
YEAR_MS = 366 * DAY_MS
TWELVE_H_MS = 12 * 3600000


class QueueApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # 8 MiB messages so a task over the 4 MiB record limit reaches the queue's own check.
        cls.srv = C.start_ringqd("--max-message-bytes", str(8 * C.MiB), threads=2)
        opts = {"grpc.max_receive_message_length": 16 * C.MiB,
                "grpc.max_send_message_length": 16 * C.MiB}
        cls.ch = cls.srv.channel(**opts)
        cls.ch2 = cls.srv.channel(**opts)  # a second connection (another shard, maybe)
        cls.c = C.Client(cls.ch)
        cls.c2 = C.Client(cls.ch2)

    @classmethod
    def tearDownClass(cls):
        cls.ch2.close()
        code, log = C.stop(cls.srv, cls.ch)
        assert code == 0, f"ringqd exited {code}:\n{log}"

    def q(self):
        return C.qname(self._testMethodName.replace("test_", "")[:40])

    # ---- round trip and fields ----

    def test_enqueue_lease_ack_round_trip(self):
        c, q = self.c, self.q()
        t0 = C.now_ms()
        r = c.Enqueue(queue=q, tasks=[
            spec(b"\x00\x01bin", headers={"h1": "v1", "trace": ""}, priority=3),
            spec("second"), spec("")])
        self.assertEqual(len(r.results), 3)
        ids = [x.id for x in r.results]
        self.assertEqual(len(set(ids)), 3)
        self.assertTrue(all(x.id and not x.duplicate for x in r.results))
        got = c.take(q, n=10, lease_ms=45000)
        t1 = C.now_ms()
        self.assertEqual([t.id for t in got], ids)  # priority 3 first, then FIFO
        first = got[0]
        self.assertEqual(first.queue, q)
        self.assertEqual(first.payload, b"\x00\x01bin")
        self.assertEqual(dict(first.headers), {"h1": "v1", "trace": ""})
        self.assertEqual(first.priority, 3)
        self.assertEqual(first.attempt, 1)
        self.assertEqual(first.max_attempts, 5)
        self.assertTrue(t0 - 5 <= first.enqueued_unix_ms <= t1 + 5, first.enqueued_unix_ms)
        self.assertTrue(t0 + 45000 - 5 <= first.lease_deadline_unix_ms <= t1 + 45000 + 5)
        self.assertEqual(got[1].payload, b"second")
        self.assertEqual(got[2].payload, b"")
        for i in ids:
            self.assertEqual(c.state(i), types_pb2.TASK_STATE_LEASED)
        res = c.ack(*ids)
        self.assertEqual([(x.id, x.code, x.message) for x in res], [(i, 0, "") for i in ids])
        # Acked tasks are gone: a second ack, GetTask and Lease all say so.
        again = c.ack(ids[0])
        self.assertEqual(again[0].code, S.NOT_FOUND.value[0])
        self.assertTrue(again[0].message)
        C.assert_code(self, S.NOT_FOUND, c.GetTask, id=ids[0])
        self.assertEqual(c.take(q, n=10), [])
        info = c.GetQueue(name=q)
        self.assertEqual((info.ready, info.delayed, info.leased, info.dead), (0, 0, 0, 0))
        self.assertEqual((info.enqueued_total, info.acked_total), (3, 3))

    def test_ids_unique_across_queues_and_partitions(self):
        names = C.names_by_shard(self.c, self.q(), per_shard=3)
        ids = []
        for q in sum(names, []):
            ids += self.c.put(q, "a", "b")
        self.assertEqual(len(set(ids)), len(ids))
        for i in ids:
            self.assertEqual(self.c.state(i), types_pb2.TASK_STATE_READY)

    # ---- ordering ----

    def test_priority_order_and_fifo_within_priority(self):
        c, q = self.c, self.q()
        prios = [0, 5, 15, 5, 0, 15, 7, 0, 5]
        ids = c.Enqueue(queue=q, tasks=[spec(f"t{i}", priority=p) for i, p in enumerate(prios)])
        ids = [x.id for x in ids.results]
        # A second enqueue call: same priorities go behind the earlier ones.
        ids += c.put(q, "late15", priority=15)
        ids += c.put(q, "late0", priority=0)
        prios += [15, 0]
        expect = [i for _, _, i in sorted(zip([-p for p in prios], range(len(ids)), ids))]
        got = []
        while True:  # one at a time, then the same order in a batch below
            t = c.take(q, n=1, lease_ms=60000)
            if not t:
                break
            got.append(t[0].id)
            self.assertEqual(t[0].priority, prios[ids.index(t[0].id)])
        self.assertEqual(got, expect)
        # Requeued tasks (nack at once) go to the back of their priority.
        for i in got:
            self.c.Nack(id=i, delay_ms=0)
        batch = [t.id for t in c.take(q, n=100, lease_ms=60000)]
        self.assertEqual(batch, expect)
        c.ack(*batch)

    def test_retried_task_goes_to_back_of_its_priority(self):
        c, q = self.c, self.q()
        a, b, d = c.put(q, "a", "b", "c", priority=2)
        hi = c.put(q, "hi", priority=9)[0]
        self.assertEqual(c.take(q)[0].id, hi)
        self.assertEqual(c.take(q)[0].id, a)
        r = c.Nack(id=a, delay_ms=0)
        self.assertEqual(r.state, types_pb2.TASK_STATE_READY)
        self.assertEqual(r.attempts, 1)
        order = [t.id for t in c.take(q, n=10)]
        self.assertEqual(order, [b, d, a])
        self.assertEqual(c.GetTask(id=a).attempts, 1)
        c.ack(hi, *order)

    # ---- delay / not-before ----

    def test_delay_ms_holds_the_task(self):
        c, q = self.c, self.q()
        t0 = C.now_ms()
        late = c.put(q, "late", delay_ms=1500)[0]
        now = c.put(q, "now")[0]
        info = c.GetTask(id=late)
        self.assertEqual(info.state, types_pb2.TASK_STATE_DELAYED)
        self.assertTrue(t0 + 1500 <= info.due_unix_ms <= C.now_ms() + 1500, info.due_unix_ms)
        got = c.take(q, n=10)
        self.assertEqual([t.id for t in got], [now])
        # Long-poll until it is due: it must not come before its time, and must come.
        t = c.take(q, n=10, wait_ms=10000)
        self.assertEqual([x.id for x in t], [late])
        self.assertGreaterEqual(C.now_ms(), info.due_unix_ms - 2)
        c.ack(now, late)

    def test_not_before_unix_ms(self):
        c, q = self.c, self.q()
        due = C.now_ms() + 1200
        later = c.put(q, "later", not_before_unix_ms=due)[0]
        past = c.put(q, "past", not_before_unix_ms=C.now_ms() - 60000)[0]  # past = now
        self.assertEqual(c.state(past), types_pb2.TASK_STATE_READY)
        info = c.GetTask(id=later)
        self.assertEqual(info.state, types_pb2.TASK_STATE_DELAYED)
        self.assertEqual(info.due_unix_ms, due)
        self.assertEqual([t.id for t in c.take(q, n=10)], [past])
        t = c.take(q, n=10, wait_ms=10000)
        self.assertEqual([x.id for x in t], [later])
        self.assertGreaterEqual(C.now_ms(), due - 2)
        c.ack(past, later)

    def test_delayed_tasks_due_together_leave_in_enqueue_order(self):
        c, q = self.c, self.q()
        due = C.now_ms() + 800
        ids = [c.put(q, f"d{i}", not_before_unix_ms=due)[0] for i in range(5)]
        got = []
        while len(got) < 5:
            got += [t.id for t in c.take(q, n=10, wait_ms=10000)]
        self.assertEqual(got, ids)
        c.ack(*got)

    # ---- leases, attempts ----

    def test_lease_expiry_counts_an_attempt_and_task_is_ready_again(self):
        c, q = self.c, self.q()
        tid = c.put(q, "x")[0]
        t = c.take(q, lease_ms=200)[0]
        self.assertEqual((t.id, t.attempt), (tid, 1))
        # Wait (bounded) for the lease to end by the clock, then the ack must be refused.
        C.poll(lambda: C.now_ms() > t.lease_deadline_unix_ms + 20, 5, "the lease deadline")
        res = c.ack(tid)[0]
        self.assertEqual(res.code, S.FAILED_PRECONDITION.value[0], res.message)
        self.assertTrue("lease expired" in res.message or "not leased" in res.message, res.message)
        info = C.poll(lambda: (lambda i: i if i.state == types_pb2.TASK_STATE_READY else None)(
            c.GetTask(id=tid)), 10, "the expired task to be READY")
        self.assertEqual(info.attempts, 1)
        self.assertEqual(info.due_unix_ms, 0)
        t2 = c.take(q, lease_ms=30000)[0]
        self.assertEqual((t2.id, t2.attempt), (tid, 2))
        self.assertEqual(c.ack(tid)[0].code, 0)
        stats = c.GetQueue(name=q)
        self.assertEqual(stats.expired_total, 1)

    def test_ack_after_deadline_is_failed_precondition_lease_expired(self):
        # A long-ish lease whose deadline we pass by the clock; the server's timer may or may
        # not have run, and the answer is the same.
        c, q = self.c, self.q()
        c.put(q, "x")
        t = c.take(q, lease_ms=300)[0]
        C.poll(lambda: C.now_ms() > t.lease_deadline_unix_ms + 5, 5, "the lease deadline")
        for fn in (lambda: c.ack(t.id)[0],):
            r = fn()
            self.assertEqual(r.code, S.FAILED_PRECONDITION.value[0])
        C.assert_code(self, S.FAILED_PRECONDITION, c.Extend, id=t.id, lease_ms=1000)
        C.assert_code(self, S.FAILED_PRECONDITION, c.Nack, id=t.id)

    def leased_twice(self, q):
        """A task leased, its lease let run out, leased again: (first, second) deliveries."""
        c = self.c
        tid = c.put(q, "x")[0]
        first = c.take(q, lease_ms=200)[0]
        second = c.take(q, wait_ms=10000, lease_ms=30000)  # comes back after expiry
        self.assertEqual([x.id for x in second], [tid])
        self.assertEqual(second[0].attempt, 2)
        self.assertGreater(second[0].lease_deadline_unix_ms, first.lease_deadline_unix_ms)
        return first, second[0]

    def test_old_holder_ack_refused_task_leased_again(self):
        c, q = self.c, self.q()
        first, second = self.leased_twice(q)
        # The lease is named by its token: the first holder's ack is refused...
        r = c.ack(first)[0]
        self.assertEqual(r.code, S.FAILED_PRECONDITION.value[0])
        self.assertIn("lease superseded", r.message)
        self.assertEqual(c.state(first.id), types_pb2.TASK_STATE_LEASED)
        # ...and the second holder's completes the task.
        self.assertEqual(c.ack(second)[0].code, 0)
        self.assertEqual(c.ack(second)[0].code, S.NOT_FOUND.value[0])

    def test_tokenless_old_holder_ack_completes_task_leased_again(self):
        # The rule before lease tokens, kept for old clients on a queue configured for them:
        # an ack without a token completes whatever lease the task has.
        c, q = self.c, self.q()
        c.ConfigureQueue(name=q, allow_tokenless_ack=True)
        first, second = self.leased_twice(q)
        self.assertEqual(c.Ack(ids=[first.id], lease_tokens=[]).results[0].code, 0)
        self.assertEqual(c.ack(second)[0].code, S.NOT_FOUND.value[0])

    def test_lease_duration_precedence(self):
        c, q = self.c, self.q()
        c.ConfigureQueue(name=q, lease_ms=40000)
        own = c.put(q, "own", lease_ms=50000)[0]
        plain = c.put(q, "plain")[0]
        t0 = C.now_ms()
        got = {t.id: t for t in c.take(q, n=2, lease_ms=20000)}
        t1 = C.now_ms()
        self.assertTrue(t0 + 50000 <= got[own].lease_deadline_unix_ms <= t1 + 50000)
        self.assertTrue(t0 + 20000 <= got[plain].lease_deadline_unix_ms <= t1 + 20000)
        c.Nack(id=own, delay_ms=0)
        c.Nack(id=plain, delay_ms=0)
        t0 = C.now_ms()
        got = {t.id: t for t in c.take(q, n=2)}  # no request lease: the queue's
        t1 = C.now_ms()
        self.assertTrue(t0 + 50000 <= got[own].lease_deadline_unix_ms <= t1 + 50000)
        self.assertTrue(t0 + 40000 <= got[plain].lease_deadline_unix_ms <= t1 + 40000)
        c.ack(own, plain)

    def test_extend(self):
        c, q = self.c, self.q()
        tid = c.put(q, "x")[0]
        t = c.take(q, lease_ms=300)[0]
        t0 = C.now_ms()
        r = c.Extend(id=tid, lease_ms=60000)
        self.assertTrue(t0 + 60000 <= r.lease_deadline_unix_ms <= C.now_ms() + 60000)
        self.assertEqual(c.GetTask(id=tid).due_unix_ms, r.lease_deadline_unix_ms)
        # Past the original deadline the lease still holds.
        C.poll(lambda: C.now_ms() > t.lease_deadline_unix_ms + 200, 5, "the old deadline")
        self.assertEqual(c.state(tid), types_pb2.TASK_STATE_LEASED)
        # lease_ms 0: the task's or queue's lease (30 s by default).
        t0 = C.now_ms()
        r = c.Extend(id=tid)
        self.assertTrue(t0 + 30000 <= r.lease_deadline_unix_ms <= C.now_ms() + 30000)
        C.assert_code(self, S.INVALID_ARGUMENT, c.Extend, id=tid, lease_ms=TWELVE_H_MS + 1)
        r = c.Extend(id=tid, lease_ms=TWELVE_H_MS)  # the upper bound is allowed
        self.assertGreater(r.lease_deadline_unix_ms, C.now_ms() + TWELVE_H_MS - 10000)
        self.assertEqual(c.ack(tid)[0].code, 0)
        C.assert_code(self, S.NOT_FOUND, c.Extend, id=tid, lease_ms=1000)
        ready = c.put(q, "ready")[0]
        C.assert_code(self, S.FAILED_PRECONDITION, c.Extend, id=ready, lease_ms=1000,
                      contains="not leased")

    # ---- nack, retries, dead ----

    def test_nack_backoff_retries_then_dead(self):
        c, q = self.c, self.q()
        c.ConfigureQueue(name=q, max_attempts=3, backoff_base_ms=300, backoff_max_ms=500)
        tid = c.put(q, "x")[0]
        t = c.take(q, lease_ms=30000)
        # base * 2^(attempts-1) capped at max: 300 after the first attempt, 500 (not 600) next.
        for attempt, d in ((1, 300), (2, 500)):
            self.assertEqual([x.id for x in t], [tid])
            self.assertEqual((t[0].attempt, t[0].max_attempts), (attempt, 3))
            t0 = C.now_ms()
            r = c.Nack(id=tid, reason=f"fail {attempt}")
            t1 = C.now_ms()
            self.assertEqual(r.state, types_pb2.TASK_STATE_DELAYED)
            self.assertEqual(r.attempts, attempt)
            # Jittered into [d/2, d].
            self.assertTrue(t0 + d // 2 <= r.ready_unix_ms <= t1 + d, (r.ready_unix_ms - t0, d))
            info = c.GetTask(id=tid)
            self.assertEqual((info.state, info.attempts), (types_pb2.TASK_STATE_DELAYED, attempt))
            self.assertEqual(info.due_unix_ms, r.ready_unix_ms)
            self.assertEqual(info.last_error, "")
            self.assertEqual(c.take(q), [])  # not before its time
            t = c.take(q, lease_ms=30000, wait_ms=10000)
            self.assertGreaterEqual(C.now_ms(), r.ready_unix_ms - 2)
        # The third delivery is the last allowed: its nack kills the task whatever the delay.
        self.assertEqual((t[0].id, t[0].attempt), (tid, 3))
        r = c.Nack(id=tid, reason="final failure", delay_ms=0)
        self.assertEqual(r.state, types_pb2.TASK_STATE_DEAD)
        self.assertEqual(r.attempts, 3)
        self.assertEqual(r.ready_unix_ms, 0)
        info = c.GetTask(id=tid)
        self.assertEqual(info.state, types_pb2.TASK_STATE_DEAD)
        self.assertEqual(info.attempts, 3)
        self.assertEqual(info.last_error, "final failure")
        self.assertEqual(c.take(q, wait_ms=300), [])
        dead = c.ListDeadTasks(queue=q).tasks
        self.assertEqual([x.id for x in dead], [tid])
        stats = c.GetQueue(name=q)
        self.assertEqual((stats.dead, stats.dead_total, stats.nacked_total), (1, 1, 3))

    def test_backoff_doubles_per_attempt(self):
        c, q = self.c, self.q()
        c.ConfigureQueue(name=q, max_attempts=10, backoff_base_ms=100, backoff_max_ms=800)
        tid = c.put(q, "x")[0]
        for attempt, d in ((1, 100), (2, 200), (3, 400), (4, 800), (5, 800)):
            t = c.take(q, lease_ms=30000, wait_ms=10000)
            self.assertEqual((t[0].id, t[0].attempt), (tid, attempt))
            t0 = C.now_ms()
            r = c.Nack(id=tid)
            t1 = C.now_ms()
            self.assertEqual(r.attempts, attempt)
            self.assertTrue(t0 + d // 2 <= r.ready_unix_ms <= t1 + d,
                            f"attempt {attempt}: ready in {r.ready_unix_ms - t0} ms, d={d}")
        c.DeleteTask(id=tid)

    def test_lease_expiry_to_dead_after_max_attempts(self):
        c, q = self.c, self.q()
        tid = c.put(q, "x", max_attempts=2)[0]
        for attempt in (1, 2):
            t = c.take(q, lease_ms=150, wait_ms=10000)
            self.assertEqual((t[0].id, t[0].attempt, t[0].max_attempts), (tid, attempt, 2))
        info = C.poll(lambda: (lambda i: i if i.state == types_pb2.TASK_STATE_DEAD else None)(
            c.GetTask(id=tid)), 10, "the task to die of expiry")
        self.assertEqual(info.attempts, 2)
        self.assertIn("lease expired", info.last_error)
        self.assertEqual(c.take(q, wait_ms=300), [])
        stats = c.GetQueue(name=q)
        self.assertEqual((stats.expired_total, stats.dead_total, stats.dead), (2, 1, 1))

    def test_nack_variants(self):
        c, q = self.c, self.q()
        a, b, d, e = c.put(q, "a", "b", "d", "e")
        got = [t.id for t in c.take(q, n=4, lease_ms=60000)]
        self.assertEqual(got, [a, b, d, e])
        t0 = C.now_ms()
        r = c.Nack(id=a, delay_ms=0)
        self.assertEqual((r.state, r.attempts), (types_pb2.TASK_STATE_READY, 1))
        self.assertTrue(t0 <= r.ready_unix_ms <= C.now_ms())
        r = c.Nack(id=b, delay_ms=60000)
        self.assertEqual(r.state, types_pb2.TASK_STATE_DELAYED)
        self.assertTrue(t0 + 60000 <= r.ready_unix_ms <= C.now_ms() + 60000)
        r = c.Nack(id=d, dead_letter=True, reason="poison", delay_ms=0)
        self.assertEqual((r.state, r.attempts, r.ready_unix_ms), (types_pb2.TASK_STATE_DEAD, 1, 0))
        self.assertEqual(c.GetTask(id=d).last_error, "poison")
        # Not leased (ready, delayed, dead) is FAILED_PRECONDITION; gone is NOT_FOUND.
        for tid, st in ((a, "ready"), (b, "delayed"), (d, "dead")):
            C.assert_code(self, S.FAILED_PRECONDITION, c.Nack, id=tid, contains=st)
        c.ack(e)
        C.assert_code(self, S.NOT_FOUND, c.Nack, id=e)

    def test_nack_dead_with_dead_letter_off_deletes(self):
        c, q = self.c, self.q()
        c.ConfigureQueue(name=q, dead_letter=False, max_attempts=2)
        a, b = c.put(q, "a", "b")
        c.take(q, n=2, lease_ms=60000)
        r = c.Nack(id=a, dead_letter=True, reason="x")
        self.assertEqual(r.state, types_pb2.TASK_STATE_UNSPECIFIED)
        C.assert_code(self, S.NOT_FOUND, c.GetTask, id=a)
        self.assertEqual(c.Nack(id=b, delay_ms=0).state, types_pb2.TASK_STATE_READY)
        c.take(q, lease_ms=60000)
        r = c.Nack(id=b, delay_ms=0)  # out of attempts
        self.assertEqual((r.state, r.attempts), (types_pb2.TASK_STATE_UNSPECIFIED, 2))
        C.assert_code(self, S.NOT_FOUND, c.GetTask, id=b)
        stats = c.GetQueue(name=q)
        self.assertEqual((stats.dead, stats.dead_total, stats.ready), (0, 2, 0))

    def test_nack_bad_input(self):
        c, q = self.c, self.q()
        tid = c.put(q, "x")[0]
        c.take(q, lease_ms=60000)
        C.assert_code(self, S.INVALID_ARGUMENT, c.Nack, id=tid, reason="r" * 1025,
                      contains="1024")
        C.assert_code(self, S.INVALID_ARGUMENT, c.Nack, id=tid, delay_ms=YEAR_MS + 1)
        C.assert_code(self, S.INVALID_ARGUMENT, c.Nack, id="")
        self.assertEqual(c.state(tid), types_pb2.TASK_STATE_LEASED)  # nothing changed
        r = c.Nack(id=tid, reason="r" * 1024, delay_ms=YEAR_MS)
        self.assertEqual(r.state, types_pb2.TASK_STATE_DELAYED)

    # ---- dedup ----

    def test_idempotency_key_dedup(self):
        c, q = self.c, self.q()
        r = c.Enqueue(queue=q, tasks=[spec("a", idempotency_key="k1")]).results[0]
        self.assertFalse(r.duplicate)
        again = c.Enqueue(queue=q, tasks=[spec("other", idempotency_key="k1"),
                                          spec("b", idempotency_key="k2"),
                                          spec("b2", idempotency_key="k2")]).results
        self.assertEqual((again[0].id, again[0].duplicate), (r.id, True))
        self.assertFalse(again[1].duplicate)
        self.assertEqual((again[2].id, again[2].duplicate), (again[1].id, True))  # same batch
        # The original is kept unchanged; only two tasks exist.
        self.assertEqual(c.GetTask(id=r.id).payload, b"a")
        self.assertEqual(c.GetTask(id=r.id).idempotency_key, "k1")
        stats = c.GetQueue(name=q)
        self.assertEqual((stats.ready, stats.enqueued_total, stats.duplicates_total), (2, 2, 2))
        # Another queue: keys are per queue.
        q2 = self.q()
        other = c.Enqueue(queue=q2, tasks=[spec("a", idempotency_key="k1")]).results[0]
        self.assertFalse(other.duplicate)
        self.assertNotEqual(other.id, r.id)
        # Whether or not the original is still queued.
        got = c.take(q, n=10)
        c.ack(*[t.id for t in got])
        r3 = c.Enqueue(queue=q, tasks=[spec("a", idempotency_key="k1")]).results[0]
        self.assertEqual((r3.id, r3.duplicate), (r.id, True))
        C.assert_code(self, S.NOT_FOUND, c.GetTask, id=r3.id)
        # No key: no dedup.
        n1, n2 = c.put(q, "same", "same")
        self.assertNotEqual(n1, n2)

    def test_dedup_window_zero_turns_dedup_off_and_window_ends(self):
        c, q = self.c, self.q()
        c.ConfigureQueue(name=q, dedup_window_ms=0)
        a = c.Enqueue(queue=q, tasks=[spec("a", idempotency_key="k")]).results[0]
        b = c.Enqueue(queue=q, tasks=[spec("a", idempotency_key="k")]).results[0]
        self.assertFalse(a.duplicate or b.duplicate)
        self.assertNotEqual(a.id, b.id)
        q2 = self.q()
        c.ConfigureQueue(name=q2, dedup_window_ms=400)
        first = c.Enqueue(queue=q2, tasks=[spec("x", idempotency_key="w")]).results[0]
        dup = c.Enqueue(queue=q2, tasks=[spec("x", idempotency_key="w")]).results[0]
        self.assertEqual((dup.id, dup.duplicate), (first.id, True))
        # After the window the key is forgotten (bounded poll: the expiry is the timer's).
        deadline = time.monotonic() + 10
        while True:
            r = c.Enqueue(queue=q2, tasks=[spec("x", idempotency_key="w")]).results[0]
            if not r.duplicate:
                self.assertNotEqual(r.id, first.id)
                break
            self.assertLess(time.monotonic(), deadline, "key never forgotten")
            time.sleep(0.05)
        # Not before the window (from the original Enqueue) ended.
        self.assertGreaterEqual(C.now_ms() - c.GetTask(id=first.id).enqueued_unix_ms, 400 - 2)

    # ---- long-poll ----

    def _long_poll_woken(self, q, producer):
        t0 = time.monotonic()
        fut = self.c2.future("Lease", queue=q, max_tasks=5, wait_ms=20000, lease_ms=30000)
        # The call must be waiting: it stays unanswered while nothing is ready.
        end = time.monotonic() + 0.4
        while time.monotonic() < end:
            self.assertFalse(fut.done(), "Lease answered before anything was enqueued")
            time.sleep(0.02)
        ids = producer()
        r = fut.result(timeout=15)
        elapsed = time.monotonic() - t0
        self.assertEqual([t.id for t in r.tasks][:len(ids)], ids)
        self.assertLess(elapsed, 10, "the long-poll did not return early")
        return r

    def test_long_poll_returns_early_on_enqueue_from_another_connection(self):
        # Queues on both shards: the Lease (connection 2) and the Enqueue (connection 1) may
        # land on different shards from the queue's owner.
        for names in C.names_by_shard(self.c, self.q()):
            q = names[0]
            r = self._long_poll_woken(q, lambda: self.c.put(q, "wake"))
            self.c.ack(*[t.id for t in r.tasks])

    def test_long_poll_returns_empty_after_wait_ms(self):
        c, q = self.c, self.q()
        for wait in (300, 800):
            t0 = time.monotonic()
            r = c.Lease(queue=q, wait_ms=wait)
            elapsed = (time.monotonic() - t0) * 1000
            self.assertEqual(list(r.tasks), [])
            self.assertGreaterEqual(elapsed, wait - 20)
            self.assertLess(elapsed, wait + 5000)

    def test_long_poll_wakes_when_delayed_task_is_due(self):
        c, q = self.c, self.q()
        tid = c.put(q, "soon", delay_ms=600)[0]
        t0 = time.monotonic()
        r = c.Lease(queue=q, wait_ms=20000)
        self.assertEqual([t.id for t in r.tasks], [tid])
        self.assertLess(time.monotonic() - t0, 10)

    def test_long_poll_woken_by_nack_and_redrive(self):
        c, q = self.c, self.q()
        a, b = c.put(q, "a", "b")
        c.take(q, n=2, lease_ms=60000)
        c.Nack(id=b, dead_letter=True)
        r = self._long_poll_woken(q, lambda: [a] if c.Nack(id=a, delay_ms=0) else [])
        self.assertEqual(r.tasks[0].attempt, 2)
        r = self._long_poll_woken(
            q, lambda: [b] if c.RedriveDeadTasks(queue=q).redriven == 1 else [])
        self.assertEqual(r.tasks[0].attempt, 1)
        c.ack(a, b)

    def test_long_poll_several_waiters_each_get_a_task(self):
        c, q = self.c, self.q()
        futs = [self.c2.future("Lease", queue=q, wait_ms=20000, lease_ms=30000) for _ in range(3)]
        ids = c.put(q, "1", "2", "3")
        got = sorted(t.id for f in futs for t in f.result(timeout=15).tasks)
        self.assertEqual(got, sorted(ids))
        c.ack(*ids)

    # ---- bad input: queue names ----

    def test_bad_queue_names_on_every_call(self):
        c = self.c
        bad = [("", "empty"), ("x" * 129, "128"), ("a/b", "'/' at position 1"),
               ("sp ace", "position 2"), ("caf\u00e9", "position 3"), ("a*", "'*'")]
        calls = [
            lambda n: c.Enqueue(queue=n, tasks=[spec("x")]),
            lambda n: c.Lease(queue=n),
            lambda n: c.Lease(queue=n, wait_ms=1000),
            lambda n: c.GetQueue(name=n),
            lambda n: c.ConfigureQueue(name=n, max_attempts=3),
            lambda n: c.PauseQueue(name=n),
            lambda n: c.ResumeQueue(name=n),
            lambda n: c.PurgeQueue(name=n),
            lambda n: c.ListDeadTasks(queue=n),
            lambda n: c.RedriveDeadTasks(queue=n),
        ]
        for name, why in bad:
            for i, call in enumerate(calls):
                with self.subTest(name=name[:20], call=i):
                    d = C.assert_code(self, S.INVALID_ARGUMENT, call, name)
                    self.assertIn("queue name", d)
                    self.assertIn(why.lower(), d.lower())
        # The limits themselves are fine.
        ok = "A-z_0.9" + "q" * 121
        self.assertEqual(len(ok), 128)
        self.assertEqual(len(c.put(ok, "x")), 1)
        self.assertEqual(len(c.put("a", "x")), 1)
        c.PurgeQueue(name=ok)
        c.PurgeQueue(name="a")

    # ---- bad input: Enqueue ----

    def test_enqueue_field_limits(self):
        c, q = self.c, self.q()
        now = C.now_ms()
        bad = [
            (dict(priority=16), "priority"),
            (dict(delay_ms=1000, not_before_unix_ms=now + 1000), "not both"),
            (dict(delay_ms=YEAR_MS + 1), "delay_ms"),
            (dict(not_before_unix_ms=now + YEAR_MS + 60000), "366 days"),
            (dict(max_attempts=1001), "max_attempts"),
            (dict(lease_ms=TWELVE_H_MS + 1), "lease_ms"),
            (dict(headers={f"h{i}": "v" for i in range(65)}), "headers"),
            (dict(headers={"n" * 257: "v"}), "name"),
            (dict(headers={"": "v"}), "name"),
            (dict(idempotency_key="k" * 257), "key"),
            (dict(payload=b"p" * (4 * C.MiB)), "limit"),
        ]
        for fields, why in bad:
            with self.subTest(fields=str(fields)[:60]):
                ok = types_pb2.TaskSpec(payload=b"fine")
                t = types_pb2.TaskSpec(**fields)
                d = C.assert_code(self, S.INVALID_ARGUMENT, c.Enqueue, queue=q, tasks=[ok, t])
                self.assertIn("task 1", d)  # names the task
                self.assertIn(why.lower(), d.lower())
        # The whole batch is refused: nothing was enqueued by any of these.
        self.assertEqual(c.take(q, n=100), [])
        # Batch size.
        C.assert_code(self, S.INVALID_ARGUMENT, c.Enqueue, queue=q, tasks=[], contains="1..1000")
        C.assert_code(self, S.INVALID_ARGUMENT, c.Enqueue, queue=q,
                      tasks=[spec("x")] * 1001, contains="1001")
        self.assertEqual(c.take(q, n=100), [])
        # The limits themselves are accepted.
        good = [
            dict(priority=15), dict(delay_ms=YEAR_MS), dict(max_attempts=1000),
            dict(max_attempts=1), dict(lease_ms=TWELVE_H_MS), dict(lease_ms=1),
            dict(headers={f"h{i}": "v" * 100 for i in range(64)}),
            dict(headers={"n" * 256: "v"}), dict(idempotency_key="k" * 256),
            dict(payload=b"p" * (4 * C.MiB - 4096)),
            dict(not_before_unix_ms=now + YEAR_MS - 60000),
        ]
        r = c.Enqueue(queue=q, tasks=[types_pb2.TaskSpec(**g) for g in good])
        ids = [x.id for x in r.results]
        self.assertEqual(len(ids), len(good))
        big = c.GetTask(id=ids[9])
        self.assertEqual(len(big.payload), 4 * C.MiB - 4096)
        self.assertEqual(len(c.GetTask(id=ids[6]).headers), 64)
        self.assertEqual(c.Enqueue(queue=q, tasks=[spec("x")] * 1000).results.__len__(), 1000)
        self.assertEqual(c.PurgeQueue(name=q).purged, len(good) + 1000)

    def test_lease_response_fits_the_message_limit(self):
        # Three 3 MiB tasks do not fit one 8 MiB response (this server's --max-message-bytes):
        # a Lease for all three answers with what fits, and what it did not hand out stays
        # READY (not leased to nobody).
        c, q = self.c, self.q()
        ids = [c.put(q, bytes([65 + i]) * (3 * C.MiB))[0] for i in range(3)]
        r = c.Lease(queue=q, max_tasks=3, lease_ms=60000)
        self.assertIsNotNone(r, "OK status without a response message")
        got = [t.id for t in r.tasks]
        self.assertTrue(1 <= len(got) <= 2, got)
        self.assertEqual(got, ids[:len(got)])
        for t in r.tasks:
            self.assertEqual(len(t.payload), 3 * C.MiB)
        info = c.GetQueue(name=q)
        self.assertEqual((info.leased, info.ready), (len(got), 3 - len(got)))
        rest = []
        while len(got) + len(rest) < 3:
            r = c.Lease(queue=q, max_tasks=3, lease_ms=60000)
            self.assertTrue(r is not None and len(r.tasks) >= 1)
            rest += [t.id for t in r.tasks]
        self.assertEqual(got + rest, ids)
        c.ack(*ids)

    # ---- bad input: Lease, Ack, ids ----

    def test_lease_field_limits(self):
        c, q = self.c, self.q()
        c.put(q, "x", "y")
        C.assert_code(self, S.INVALID_ARGUMENT, c.Lease, queue=q, max_tasks=1001, contains="1000")
        C.assert_code(self, S.INVALID_ARGUMENT, c.Lease, queue=q, wait_ms=60001, contains="60000")
        C.assert_code(self, S.INVALID_ARGUMENT, c.Lease, queue=q, lease_ms=TWELVE_H_MS + 1,
                      contains="lease_ms")
        self.assertEqual(len(c.take(q, n=0)), 1)  # 0 means 1
        self.assertEqual(len(c.take(q, n=1000)), 1)
        self.assertEqual(c.take("never-used-queue-xyz", n=5), [])  # unknown queue: empty
        self.assertEqual(c.GetQueue(name=q).leased, 2)

    def test_ack_batch_results_and_limits(self):
        c = self.c
        names = C.names_by_shard(c, self.q())
        qa, qb = names[0][0], names[1][0]
        a1, a2 = c.put(qa, "a1", "a2")
        b1, b2 = c.put(qb, "b1", "b2")
        c.take(qa, n=2, lease_ms=60000)
        c.take(qb, n=1, lease_ms=60000)  # b2 stays ready
        gone = c.put(qa, "gone")[0]
        c.DeleteTask(id=gone)
        ids = [b1, "65000-1", a1, gone, b2, "garbage", a2, a1]
        res = c.ack(*ids)
        self.assertEqual([r.id for r in res], ids)  # one per id, in request order
        codes = [r.code for r in res]
        self.assertEqual(codes[0], 0)
        self.assertEqual(codes[1], S.NOT_FOUND.value[0])
        self.assertEqual(codes[2], 0)
        self.assertEqual(codes[3], S.NOT_FOUND.value[0])
        self.assertEqual(codes[4], S.FAILED_PRECONDITION.value[0])
        self.assertEqual(codes[6], 0)
        self.assertIn(codes[7], (0, S.NOT_FOUND.value[0]))  # a1 twice in one request
        for r in res:
            if r.code:
                self.assertTrue(r.message, r)
        self.assertIn("ready", res[4].message)
        # "garbage" is not a ringq id: AckResponse documents INVALID_ARGUMENT for it.
        self.assertEqual(codes[5], S.INVALID_ARGUMENT.value[0], res[5])
        C.assert_code(self, S.INVALID_ARGUMENT, c.Ack, ids=[], contains="1..1000")
        C.assert_code(self, S.INVALID_ARGUMENT, c.Ack, ids=[a1] * 1001)
        self.assertEqual(c.ack(*([b2] * 1000))[0].code, S.FAILED_PRECONDITION.value[0])

    def test_unknown_and_malformed_ids(self):
        c, q = self.c, self.q()
        real = c.put(q, "x")[0]
        c.DeleteTask(id=real)
        calls = [lambda i: c.Nack(id=i), lambda i: c.Extend(id=i, lease_ms=1000),
                 lambda i: c.GetTask(id=i), lambda i: c.DeleteTask(id=i)]
        for i, call in enumerate(calls):
            with self.subTest(call=i):
                # Well-formed but unknown (deleted; never existed; partition out of range).
                for tid in (real, "3-123456789", "65000-1"):
                    C.assert_code(self, S.NOT_FOUND, call, tid)
                # Not ids at all: rejected either way, with a reason.
                for tid in ("garbage", "1-", "-1", "01-5", "1-x"):
                    e = C.rpc_error(call, tid)
                    self.assertIn(e.code(), (S.NOT_FOUND, S.INVALID_ARGUMENT), tid)
                    self.assertTrue(e.details())
                C.assert_code(self, S.INVALID_ARGUMENT, call, "", contains="id")


if __name__ == "__main__":
    unittest.main()
