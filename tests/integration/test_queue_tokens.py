"""Issue 14 item 1: lease tokens fence acks (docs/semantics.md "Lease tokens").

Every delivery (Lease, Work) carries a lease token that changes each time the task is delivered.
Ack, Nack and Extend name the task and the token; a stale token is FAILED_PRECONDITION "lease
superseded" and changes nothing, so a worker whose lease ran out cannot complete (or give back,
or prolong) a task that was handed to someone else since. No token is refused unless the queue
is configured for the old rule (allow_tokenless_ack).

The requests here carry their tokens explicitly (lease_token(s)=...): the helpers' automatic
tokens (ringq_client.token_of) are not used, so each case sends exactly what it says."""
import os
import tempfile
import unittest

import grpc

import ringq_client as C
from ringq_client import types_pb2

S = grpc.StatusCode
FP = S.FAILED_PRECONDITION.value[0]
SHORT_LEASE_MS = 300
WAIT_MS = 10000  # the second Lease long-polls until the first lease expired


class LeaseTokenTest(C.RingqdTest):

    def lease_expired_then_again(self, q):
        """Holder A leases with a short lease and lets it run out; holder B leases the same
        task again. Returns (a, b): the two deliveries."""
        c = self.c
        tid = c.put(q, "job")[0]
        a = c.Lease(queue=q, max_tasks=1, lease_ms=SHORT_LEASE_MS).tasks[0]
        self.assertEqual(a.id, tid)
        self.assertNotEqual(a.lease_token, 0)
        b = c.Lease(queue=q, max_tasks=1, lease_ms=60000, wait_ms=WAIT_MS).tasks
        self.assertEqual(len(b), 1, "the expired task was not leased again")
        b = b[0]
        self.assertEqual(b.id, tid)
        self.assertEqual(b.attempt, 2)
        self.assertNotEqual(b.lease_token, a.lease_token)
        return a, b

    def test_stale_token_after_release(self):
        c, q = self.c, self.q()
        a, b = self.lease_expired_then_again(q)
        # A's ack arrives late: refused, and B still holds the task.
        r = c.Ack(ids=[a.id], lease_tokens=[a.lease_token]).results[0]
        self.assertEqual(r.code, FP)
        self.assertIn("lease superseded", r.message)
        info = c.GetTask(id=a.id)
        self.assertEqual(info.state, types_pb2.TASK_STATE_LEASED)
        self.assertEqual(info.due_unix_ms, b.lease_deadline_unix_ms)
        self.assertEqual(info.attempts, 1)
        # A's nack and extend are refused the same way and change nothing.
        C.assert_code(self, S.FAILED_PRECONDITION, c.Nack, id=a.id, lease_token=a.lease_token,
                      delay_ms=0, contains="lease superseded")
        C.assert_code(self, S.FAILED_PRECONDITION, c.Extend, id=a.id,
                      lease_token=a.lease_token, lease_ms=1000, contains="lease superseded")
        info = c.GetTask(id=a.id)
        self.assertEqual((info.state, info.due_unix_ms, info.attempts),
                         (types_pb2.TASK_STATE_LEASED, b.lease_deadline_unix_ms, 1))
        # B's token works: extend keeps it, then the ack completes the task.
        c.Extend(id=b.id, lease_token=b.lease_token, lease_ms=60000)
        self.assertEqual(c.Ack(ids=[b.id], lease_tokens=[b.lease_token]).results[0].code, 0)
        C.assert_code(self, S.NOT_FOUND, c.GetTask, id=b.id)

    def test_tokenless_refused_by_default_allowed_by_config(self):
        c, q = self.c, self.q()
        tid = c.put(q, "old client")[0]
        t = c.Lease(queue=q, max_tasks=1, lease_ms=60000).tasks[0]
        self.assertFalse(c.GetQueue(name=q).config.allow_tokenless_ack)  # the default
        r = c.Ack(ids=[tid], lease_tokens=[]).results[0]  # what an old client sends
        self.assertEqual(r.code, FP)
        self.assertIn("lease token required", r.message)
        C.assert_code(self, S.FAILED_PRECONDITION, c.Nack, id=tid, lease_token=0,
                      contains="lease token required")
        C.assert_code(self, S.FAILED_PRECONDITION, c.Extend, id=tid, lease_token=0,
                      contains="lease token required")
        self.assertEqual(c.GetTask(id=tid).state, types_pb2.TASK_STATE_LEASED)
        # The migration: the queue allows tokenless acks (the rule before tokens).
        info = c.ConfigureQueue(name=q, allow_tokenless_ack=True)
        self.assertTrue(info.config.allow_tokenless_ack)
        c.Extend(id=tid, lease_token=0, lease_ms=60000)
        # A token that is sent is still checked.
        r = c.Ack(ids=[tid], lease_tokens=[t.lease_token + 1]).results[0]
        self.assertEqual(r.code, FP)
        self.assertIn("lease superseded", r.message)
        self.assertEqual(c.Ack(ids=[tid], lease_tokens=[]).results[0].code, 0)
        # And back: tokens required again.
        c.ConfigureQueue(name=q, allow_tokenless_ack=False)
        tid2 = c.put(q, "again")[0]
        c.Lease(queue=q, max_tasks=1, lease_ms=60000)
        self.assertEqual(c.Ack(ids=[tid2], lease_tokens=[]).results[0].code, FP)

    def test_token_count_must_match_ids(self):
        c, q = self.c, self.q()
        ids = c.put(q, "a", "b")
        got = c.Lease(queue=q, max_tasks=2, lease_ms=60000).tasks
        C.assert_code(self, S.INVALID_ARGUMENT, c.Ack, ids=ids,
                      lease_tokens=[got[0].lease_token], contains="one lease token per id")
        toks = {t.id: t.lease_token for t in got}
        res = c.Ack(ids=ids, lease_tokens=[toks[i] for i in ids]).results
        self.assertEqual([r.code for r in res], [0, 0])

    def test_work_stream_carries_and_checks_tokens(self):
        c, q = self.c, self.q()
        tid = c.put(q, "w")[0]
        w = C.WorkStream(self.ch)
        try:
            w.subscribe([q], credits=1, lease_ms=SHORT_LEASE_MS)
            t = w.wait_tasks(1)[0]
            self.assertEqual(t.id, tid)
            self.assertNotEqual(t.lease_token, 0)
            # The stream's lease runs out; a unary Lease takes the task.
            b = c.Lease(queue=q, max_tasks=1, lease_ms=60000, wait_ms=WAIT_MS).tasks
            self.assertEqual([x.id for x in b], [tid])
            self.assertNotEqual(b[0].lease_token, t.lease_token)
            # The stream's late ack, nack and extend are refused.
            w.ack([tid], 1, lease_tokens=[t.lease_token])
            r = w.wait_result(1)
            self.assertEqual(r.code, 0)
            self.assertEqual(r.ack.results[0].code, FP)
            self.assertIn("lease superseded", r.ack.results[0].message)
            w.nack(2, id=tid, lease_token=t.lease_token, delay_ms=0)
            r = w.wait_result(2)
            self.assertEqual(r.code, FP)
            self.assertIn("lease superseded", r.message)
            w.extend(3, id=tid, lease_token=t.lease_token, lease_ms=1000)
            self.assertEqual(w.wait_result(3).code, FP)
            self.assertEqual(c.GetTask(id=tid).state, types_pb2.TASK_STATE_LEASED)
            # The unary holder's ack works; a fresh delivery on the stream acks with its token.
            self.assertEqual(c.Ack(ids=[tid], lease_tokens=[b[0].lease_token]).results[0].code,
                             0)
            tid2 = c.put(q, "w2")[0]
            w.credit(1)
            t2 = w.wait_tasks(2)[1]
            self.assertEqual(t2.id, tid2)
            w.ack([tid2], 4, lease_tokens=[t2.lease_token])
            self.assertEqual(w.wait_result(4).ack.results[0].code, 0)
        finally:
            w.cancel()


class LeaseTokenRestartTest(unittest.TestCase):
    """Leases are in memory only: after a crash (SIGKILL) and restart the task is ready again,
    the token handed out before is refused, and the next delivery's token differs from it."""

    def test_kill_between_lease_and_ack(self):
        with tempfile.TemporaryDirectory(prefix="ringq-tok-") as tmp:
            data = os.path.join(tmp, "data")
            srv = C.start_ringqd("--fsync", "always", threads=2, data_dir=data)
            try:
                ch = srv.channel()
                c = C.Client(ch)
                q = C.qname("tok-restart")
                tid = c.put(q, "survives")[0]
                before = c.Lease(queue=q, max_tasks=1, lease_ms=60000).tasks[0]
                ch.close()
            finally:
                srv.kill()
                srv.close()
            srv = C.start_ringqd("--fsync", "always", threads=2, data_dir=data)
            ch = srv.channel()
            try:
                c = C.Client(ch)
                self.assertEqual(c.GetTask(id=tid).state, types_pb2.TASK_STATE_READY)
                r = c.Ack(ids=[tid], lease_tokens=[before.lease_token]).results[0]
                self.assertEqual(r.code, FP)
                after = c.Lease(queue=q, max_tasks=1, lease_ms=60000).tasks[0]
                self.assertEqual(after.id, tid)
                self.assertNotEqual(after.lease_token, before.lease_token)
                r = c.Ack(ids=[tid], lease_tokens=[before.lease_token]).results[0]
                self.assertEqual(r.code, FP)
                self.assertIn("lease superseded", r.message)
                self.assertEqual(c.GetTask(id=tid).state, types_pb2.TASK_STATE_LEASED)
                r = c.Ack(ids=[tid], lease_tokens=[after.lease_token]).results[0]
                self.assertEqual(r.code, 0)
            finally:
                code, log = C.stop(srv, ch)
            self.assertEqual(code, 0, log)


if __name__ == "__main__":
    unittest.main()
