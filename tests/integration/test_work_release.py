"""Issue 14 item 2: leases bound to the stream (docs/semantics.md "Leases bound to the stream").

Tasks delivered over a Work stream are released when that stream ends — the client cancels,
its process dies (the kernel closes the socket), the server drains — ready again at once,
long before their lease deadline (LONG_LEASE_MS here), the attempt counted or not by the
queue's release_counts_attempt, the reason in GetTask's last_error; the ledger balances after.
A task acked before the stream ended stays acked. Admin.ListLeases (`ringq leases`) shows each
lease's holder while it is held."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

import ringq_client as C
import ringq_harness as H
from ringq_client import types_pb2

LONG_LEASE_MS = 60000  # a release must beat this by far
SOON_S = 10.0          # "at once": well under LONG_LEASE_MS
RELEASED_WHY = "released: the Work stream holding it ended"
DRAIN_MS = 1000


def lease_back(test, c, q, ids, timeout=SOON_S):
    """Leases until every id of `ids` came back (long-polls; fails after `timeout`). Returns the
    tasks."""
    deadline = time.monotonic() + timeout
    got = {}
    while set(got) != set(ids):
        left = deadline - time.monotonic()
        test.assertGreater(left, 0, f"released tasks not ready again: got {sorted(got)}")
        r = c.Lease(queue=q, max_tasks=len(ids), lease_ms=LONG_LEASE_MS,
                    wait_ms=int(min(left, 2.0) * 1000))
        for t in r.tasks:
            got[t.id] = t
    return [got[i] for i in ids]


def wait_ready(test, c, tid, timeout=SOON_S):
    """Polls GetTask until tid is READY (the owner got the stream's end); returns its info."""
    return C.poll(lambda: (lambda i: i if i.state == types_pb2.TASK_STATE_READY else None)(
        c.GetTask(id=tid)), timeout, f"task {tid} to be released")


def assert_balanced(test, c, q):
    a = c.Audit(queue=q)
    test.assertTrue(all(x.balanced for x in a.queues), str(a))


class WorkReleaseTest(C.RingqdTest):

    def hold(self, q, n, **meta):
        """A Work stream holding n fresh tasks of q; returns (stream, ids, tasks)."""
        ids = self.c.put(q, *[f"t{i}" for i in range(n)])
        w = C.WorkStream(self.ch)
        w.subscribe([q], credits=n, lease_ms=LONG_LEASE_MS)
        got = w.wait_tasks(n)
        self.assertEqual(sorted(t.id for t in got), sorted(ids))
        for t in got:
            self.assertEqual(self.c.GetTask(id=t.id).state, types_pb2.TASK_STATE_LEASED)
        return w, ids, got

    def test_cancel_releases_at_once_default_keeps_attempt(self):
        c, q = self.c, self.q()
        w, ids, got = self.hold(q, 3)
        # One acked on the stream before it ends: it stays acked.
        w.ack([ids[0]], 1)
        self.assertEqual(w.wait_result(1).ack.results[0].code, 0)
        t0 = time.monotonic()
        w.cancel()
        for tid in ids[1:]:
            info = wait_ready(self, c, tid)
            self.assertEqual(info.attempts, 0)  # default: a release uses no attempt
            self.assertEqual(info.last_error, RELEASED_WHY)
        self.assertFalse(c.GetQueue(name=q).config.release_counts_attempt)
        back = lease_back(self, c, q, ids[1:])
        self.assertLess(time.monotonic() - t0, SOON_S)
        self.assertEqual([t.attempt for t in back], [1, 1])
        for t, old in zip(back, [g for g in got if g.id != ids[0]]):
            self.assertNotEqual(t.lease_token, 0)
        C.assert_code(self, C.grpc.StatusCode.NOT_FOUND, c.GetTask, id=ids[0])
        c.Ack(ids=[t.id for t in back], lease_tokens=[t.lease_token for t in back])
        assert_balanced(self, c, q)

    def test_cancel_counts_attempt_when_configured(self):
        c, q = self.c, self.q()
        info = c.ConfigureQueue(name=q, release_counts_attempt=True)
        self.assertTrue(info.config.release_counts_attempt)
        w, ids, _ = self.hold(q, 2)
        w.cancel()
        for tid in ids:
            self.assertEqual(wait_ready(self, c, tid).attempts, 1)
        back = lease_back(self, c, q, ids)
        self.assertEqual([t.attempt for t in back], [2, 2])
        assert_balanced(self, c, q)

    def test_sigkill_client_process_releases(self):
        """A worker process killed with SIGKILL: the kernel closes its socket, no RST_STREAM, no
        goodbye; the connection's end ends the stream."""
        c, q = self.c, self.q()
        ids = c.put(q, "a", "b")
        prog = textwrap.dedent(f"""
            import sys
            sys.path[:0] = {sys.path!r}
            import ringq_client as C
            ch = C.grpc.insecure_channel("127.0.0.1:{self.srv.port}")
            w = C.WorkStream(ch)
            w.subscribe([{q!r}], credits=2, lease_ms={LONG_LEASE_MS})
            got = w.wait_tasks(2)
            print(" ".join(t.id for t in got), flush=True)
            sys.stdin.read()
        """)
        p = subprocess.Popen(["/usr/bin/python3", "-c", prog], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
        try:
            line = p.stdout.readline().split()
            self.assertEqual(sorted(line), sorted(ids))
            for tid in ids:
                self.assertEqual(c.GetTask(id=tid).state, types_pb2.TASK_STATE_LEASED)
            p.send_signal(signal.SIGKILL)
            p.wait(timeout=10)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        for tid in ids:
            self.assertEqual(wait_ready(self, c, tid).last_error, RELEASED_WHY)
        lease_back(self, c, q, ids)
        assert_balanced(self, c, q)

    def test_unary_lease_not_bound(self):
        """Unary Lease leases keep the deadline rule: no stream holds them."""
        c, q = self.c, self.q()
        tid = c.put(q, "u")[0]
        c.Lease(queue=q, max_tasks=1, lease_ms=LONG_LEASE_MS)
        w = C.WorkStream(self.ch)
        w.subscribe([q], credits=1, lease_ms=LONG_LEASE_MS)
        w.cancel()
        # Another task through the same queue shows the owner handled the stream's end.
        t2 = c.put(q, "v")[0]
        self.assertEqual(lease_back(self, c, q, [t2])[0].id, t2)
        self.assertEqual(c.GetTask(id=tid).state, types_pb2.TASK_STATE_LEASED)


class WorkReleaseDrainTest(unittest.TestCase):
    """A server drain (SIGTERM: GOAWAY, then the connections close at the drain deadline) ends
    the stream: the release is a record, so after the restart the attempt it counted is there
    (a lease dropped by a restart without it counts nothing)."""

    def test_drain_releases_with_record(self):
        with tempfile.TemporaryDirectory() as d:
            srv = C.start_ringqd("--drain-timeout-ms", str(DRAIN_MS), data_dir=d)
            ch = srv.channel()
            try:
                c = C.Client(ch)
                q = C.qname("drainrel")
                c.ConfigureQueue(name=q, release_counts_attempt=True)
                tid = c.put(q, "x")[0]
                w = C.WorkStream(ch)
                w.subscribe([q], credits=1, lease_ms=LONG_LEASE_MS)
                self.assertEqual(w.wait_tasks(1)[0].id, tid)
                code, log = C.stop(srv, ch)
                self.assertEqual(code, 0, log)
            finally:
                srv.close()
            srv = C.start_ringqd(data_dir=d)
            ch = srv.channel()
            try:
                c = C.Client(ch)
                info = c.GetTask(id=tid)
                self.assertEqual(info.attempts, 1)
                self.assertEqual(info.state, types_pb2.TASK_STATE_READY)
                assert_balanced(self, c, q)
            finally:
                code, log = C.stop(srv, ch)
                self.assertEqual(code, 0, log)



class ListLeasesTest(C.RingqdTest):
    """Admin.ListLeases and `ringq leases`: each lease with its holder while held."""

    def ringq(self, *args):
        p = subprocess.run([os.path.join(H.BUILD, "ringq"), "--addr", self.srv.addr, *args],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def test_holder_while_held_gone_after(self):
        c, q = self.c, self.q()
        sids = c.put(q, "s1", "s2")
        w = C.WorkStream(self.ch, metadata=[("ringq-worker-id", "billing-7")])
        w.subscribe([q], credits=2, lease_ms=LONG_LEASE_MS)
        got = w.wait_tasks(2)
        uid = c.put(q, "u")[0]
        u = c.Lease(queue=q, max_tasks=1, lease_ms=LONG_LEASE_MS // 2).tasks[0]
        self.assertEqual(u.id, uid)
        leases = c.ListLeases(queue=q).leases
        self.assertEqual(sorted(l.id for l in leases), sorted(sids + [uid]))
        by_id = {l.id: l for l in leases}
        self.assertEqual(leases[0].id, uid)  # soonest deadline first
        for t in got:
            l = by_id[t.id]
            self.assertEqual(l.worker_id, "billing-7")
            self.assertRegex(l.address, r"^127\.0\.0\.1:\d+$")
            self.assertEqual(l.lease_token, t.lease_token)
            self.assertEqual(l.attempt, 1)
            self.assertEqual(l.deadline_unix_ms, t.lease_deadline_unix_ms)
        self.assertEqual(by_id[uid].worker_id, "")  # a unary Lease: no stream holds it
        self.assertEqual(by_id[uid].address, "")
        # The CLI: table and --json.
        out = self.ringq("leases", q)
        self.assertIn("billing-7", out)
        self.assertIn("3 leases", out)
        js = json.loads(self.ringq("--json", "leases", q))
        self.assertEqual(sorted(x["id"] for x in js["leases"]), sorted(sids + [uid]))
        self.assertFalse(js["truncated"])
        self.assertEqual({x["worker_id"] for x in js["leases"] if x["id"] in sids},
                         {"billing-7"})
        # The stream ends: its leases are gone from the list, the unary one stays.
        w.cancel()
        for tid in sids:
            wait_ready(self, c, tid)
        self.assertEqual([l.id for l in c.ListLeases(queue=q).leases], [uid])
        C.assert_code(self, C.grpc.StatusCode.NOT_FOUND, c.ListLeases, queue=q + "-none")

    def test_holder_defaults_to_address_and_cli_config(self):
        c, q = self.c, self.q()
        tid = c.put(q, "a")[0]
        w = C.WorkStream(self.ch)
        try:
            w.subscribe([q], credits=1, lease_ms=LONG_LEASE_MS)
            w.wait_tasks(1)
            l = c.ListLeases(queue=q).leases[0]
            self.assertEqual(l.id, tid)
            self.assertRegex(l.worker_id, r"^127\.0\.0\.1:\d+$")
            self.assertEqual(l.worker_id, l.address)
        finally:
            w.cancel()
        out = self.ringq("config", q, "--release-counts-attempt", "on")
        self.assertIn("release_counts_attempt=on", out)
        self.assertTrue(c.GetQueue(name=q).config.release_counts_attempt)
        self.ringq("config", q, "--release-counts-attempt", "off")
        self.assertFalse(c.GetQueue(name=q).config.release_counts_attempt)


if __name__ == "__main__":
    unittest.main()
