"""The conservation ledger (docs/semantics.md) against a real ringqd (2 shards, 16 partitions):
every admin action moves its term and Admin.Audit (grpcio) and `ringq audit` (the CLI) say the
queue balances after each; the same counters come back after a SIGKILL and a restart on the
same data directory; a ledger that does not balance (a LEDGER record forged into the stopped
server's log, standing for a lost record) is logged at start, counted in
ringq_ledger_mismatch_total, reported by Audit and `ringq audit` (exit 5), and left as found;
and the counters of a queue whose first segment retention deleted come back after SIGKILL."""
import json
import os
import subprocess
import unittest

import grpc

import ringq_client as C
import ringq_harness as H
from ringq.v1 import types_pb2

S = grpc.StatusCode
ST = types_pb2
RINGQ = os.path.join(H.BUILD, "ringq")
FORGE = os.path.join(H.BUILD, "aux", "tests", "integration", "ledger_forge_prog")
RUN_TIMEOUT_S = 20
TERMS = ("enqueued", "redriven", "acked", "dead", "deleted", "purged", "dead_dropped",
         "ready", "delayed", "leased", "dead_held")


class LedgerTest(C.DataDirTest):
    TMP_PREFIX = "ringq-ledger-"

    def kill(self):
        self.ch.close()
        self.ch = None
        self.srv.kill()
        self.srv.close()
        self.srv = None

    def ringq(self, *args):
        env = dict(os.environ, RINGQ_ADDR=self.srv.addr)
        p = subprocess.run([RINGQ] + list(args), capture_output=True, text=True, env=env,
                           timeout=RUN_TIMEOUT_S)
        return p.returncode, p.stdout, p.stderr

    def check(self, q, step, **want):
        """Audit by grpcio and by the CLI: every term as `want` says (absent: 0), balanced."""
        expect = {t: want.get(t, 0) for t in TERMS}
        r = self.c.Audit(queue=q)
        self.assertEqual((r.queues_audited, r.queues_unbalanced, r.truncated), (1, 0, False), step)
        self.assertTrue(r.balanced, step)
        (led,) = r.queues
        self.assertEqual(led.name, q)
        self.assertEqual(led.partition, C.partition_of(q), step)
        self.assertEqual({t: getattr(led, t) for t in TERMS}, expect, step)
        self.assertTrue(led.balanced and led.tasks_balanced and led.dead_balanced, step)
        rc, out, err = self.ringq("--json", "audit", q)
        self.assertEqual(rc, 0, f"{step}: ringq audit -> {rc}: {err}")
        js = json.loads(out)
        self.assertTrue(js["balanced"], step)
        self.assertEqual({t: js["queues"][0][t] for t in TERMS}, expect, step)
        rc, out, err = self.ringq("audit", q)
        self.assertEqual(rc, 0, f"{step}: {err}")
        self.assertIn(f"queue {q} (partition {led.partition}): balanced", out)
        self.assertIn("1 queue audited, 0 do not balance", out)

    def test_admin_actions_restart_and_a_forged_mismatch(self):
        c = self.start()
        q = "ledger-q"
        c.ConfigureQueue(name=q, max_attempts=1, dedup_window_ms=3600000)
        ids = c.put(q, *[f"t{i}" for i in range(6)])
        c.Enqueue(queue=q, tasks=[C.spec("k", idempotency_key="k1")])
        dup = c.Enqueue(queue=q, tasks=[C.spec("k", idempotency_key="k1")]).results[0]
        self.assertTrue(dup.duplicate)
        self.check(q, "enqueue", enqueued=7, ready=7)

        acked, nacked = c.take(q, n=2, lease_ms=60000)
        self.assertEqual(c.ack(acked.id)[0].code, 0)
        self.check(q, "ack", enqueued=7, acked=1, ready=5, leased=1)
        r = c.Nack(id=nacked.id, dead_letter=True, reason="poison")
        self.assertEqual(r.state, ST.TASK_STATE_DEAD)
        self.check(q, "nack to dead", enqueued=7, acked=1, dead=1, ready=5, dead_held=1)

        (exp,) = c.take(q, n=1, lease_ms=100)  # one attempt: its expiry kills it
        C.poll(lambda: c.state(exp.id) == ST.TASK_STATE_DEAD, 10, "the lease to expire")
        self.check(q, "expiry to dead", enqueued=7, acked=1, dead=2, ready=4, dead_held=2)

        r = c.RedriveDeadTasks(queue=q, ids=[nacked.id])
        self.assertEqual(r.redriven, 1)
        self.check(q, "redrive", enqueued=7, redriven=1, acked=1, dead=2, ready=5, dead_held=1)
        c.DeleteTask(id=exp.id)  # dead: leaves the dead letters
        self.check(q, "delete a dead task", enqueued=7, redriven=1, acked=1, dead=2,
                   dead_dropped=1, ready=5)
        c.DeleteTask(id=ids[5])  # ready
        self.check(q, "delete a ready task", enqueued=7, redriven=1, acked=1, dead=2,
                   deleted=1, dead_dropped=1, ready=4)
        c.ConfigureQueue(name=q, dead_letter=False)
        (gone,) = c.take(q, n=1, lease_ms=60000)
        c.Nack(id=gone.id, dead_letter=True)  # dies and is dropped at once
        self.check(q, "dead, not kept", enqueued=7, redriven=1, acked=1, dead=3, deleted=1,
                   dead_dropped=2, ready=3)
        c.take(q, n=1, lease_ms=60000)  # leased when the server dies
        before = dict(enqueued=7, redriven=1, acked=1, dead=3, deleted=1, dead_dropped=2)

        # SIGKILL and restart: the counters come back from the log; the lease is dropped.
        self.kill()
        c = self.start()
        self.check(q, "after SIGKILL", ready=3, **before)
        self.assertEqual(C.metric(self.srv.addr, "ringq_ledger_mismatch_total"), 0)

        c.take(q, n=1, lease_ms=60000)
        self.assertEqual(c.PurgeQueue(name=q).purged, 3)
        self.check(q, "purge", purged=3, **before)
        other = "ledger-other"
        c.put(other, "a", "b")
        whole = c.Audit()  # every queue of every partition
        self.assertTrue(whole.balanced)
        self.assertEqual((whole.queues_audited, whole.queues_unbalanced), (2, 0))
        self.assertEqual(sorted(x.name for x in whole.queues), [other, q])
        rc, out, err = self.ringq("audit")
        self.assertEqual(rc, 0, err)
        self.assertIn("2 queues audited, 0 do not balance", out)

        C.assert_code(self, S.NOT_FOUND, c.Audit, queue="ledger-none", contains="ledger-none")
        C.assert_code(self, S.INVALID_ARGUMENT, c.Audit, queue="bad/name")
        self.assertEqual(self.ringq("audit", "ledger-none")[0], 3)

        # A ledger that does not balance: forged into the stopped server's log.
        self.kill()
        part = C.partition_of(other)
        p = subprocess.run([FORGE, os.path.join(self.data, f"p{part:03d}"), other, "5"],
                           capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        self.assertEqual(p.returncode, 0, p.stderr)
        c = self.start()  # the start goes on
        line = self.srv.wait_log('msg="ledger does not balance"')
        self.assertIsNotNone(line, "".join(self.srv.lines))
        self.assertIn(f"queue={other} enqueued=5 ", line)
        self.assertIn("tasks=UNBALANCED", line)
        self.assertEqual(C.metric(self.srv.addr, "ringq_ledger_mismatch_total"), 1)
        r = c.Audit()
        self.assertFalse(r.balanced)
        self.assertEqual((r.queues_audited, r.queues_unbalanced), (2, 1))
        self.assertEqual(r.queues[0].name, other)  # the unbalanced first
        self.assertFalse(r.queues[0].balanced)
        self.assertEqual((r.queues[0].enqueued, r.queues[0].ready), (5, 2))  # left as found
        self.assertTrue(r.queues[1].balanced)
        rc, out, err = self.ringq("audit")
        self.assertEqual(rc, 5, out + err)
        self.assertIn(f"queue {other} (partition {part}): DOES NOT BALANCE", out)
        self.assertIn("(5 != 2)", out)
        self.assertIn("2 queues audited, 1 does not balance", out)
        self.assertEqual(self.ringq("audit", q)[0], 0)
        self.assertGreaterEqual(C.metric(self.srv.addr, "ringq_ledger_mismatch_total"), 2)
        code, log = C.stop(self.srv, self.ch)
        self.srv = self.ch = None
        self.assertEqual(code, 0, log)

    def test_counters_survive_retention_and_a_sigkill(self):
        """Enough traffic that the queue's first segment is deleted (its tasks all acked): the
        counters then live in LEDGER records only, and come back the same after SIGKILL."""
        self.srv = C.start_ringqd("--segment-bytes", str(SEGMENT_BYTES), threads=2,
                                  data_dir=self.data)
        self.ch = self.srv.channel()
        c = self.c = C.Client(self.ch)
        q = "ledger-big"
        part = os.path.join(self.data, f"p{C.partition_of(q):03d}")
        body = b"x" * BIG_PAYLOAD_BYTES
        total = 0
        while segments(part)[0] == 0:  # until the first segment has been deleted
            ids = c.put(q, *[body] * 100)
            total += len(ids)
            for t in c.take(q, n=100, lease_ms=60000):
                self.assertEqual(c.ack(t.id)[0].code, 0)
            self.assertLess(total, BIG_TASKS_MAX, f"no segment deleted: {segments(part)}")
        self.check(q, "after retention", enqueued=total, acked=total)
        self.kill()
        self.srv = C.start_ringqd("--segment-bytes", str(SEGMENT_BYTES), threads=2,
                                  data_dir=self.data)
        self.ch = self.srv.channel()
        self.c = C.Client(self.ch)
        self.assertGreater(segments(part)[0], 0)
        self.check(q, "after retention and SIGKILL", enqueued=total, acked=total)
        self.assertEqual(C.metric(self.srv.addr, "ringq_ledger_mismatch_total"), 0)

    def test_a_log_from_before_ledger_records_is_incomplete_not_unbalanced(self):
        """A log whose first segment a build before LEDGER records deleted (after compacting
        the live task out of it): the queue's counters miss that history. The start says
        "incomplete since", not "does not balance", and Audit and `ringq audit` agree."""
        c = self.start()
        q = "ledger-old"
        (a,) = c.put(q, "live")  # stays: its ENQUEUE is copied, then the segment goes
        self.assertEqual(len(c.put(q, "x", "y")), 2)  # acked: history that will be lost
        got = c.take(q, n=3, lease_ms=60000)
        self.assertEqual(len(got), 3)
        for t in got:
            if t.id != a:
                self.assertEqual(c.ack(t.id)[0].code, 0)
        c.call("Nack", id=a, delay_ms=0)
        self.check(q, "before", enqueued=3, acked=2, ready=1)
        self.kill()
        part = C.partition_of(q)
        offset = int(a.split("-")[1])
        p = subprocess.run([FORGE, "--old-retention", os.path.join(self.data, f"p{part:03d}"),
                            str(offset)], capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        self.assertEqual(p.returncode, 0, p.stderr)
        for step in ("first start", "second start"):
            c = self.start()
            line = self.srv.wait_log('msg="ledger history incomplete"')
            self.assertIsNotNone(line, "".join(self.srv.lines))
            self.assertIn(f"queue={q} since=", line)
            since = int(line.split("since=")[1].split()[0])
            self.assertGreater(since, offset)
            self.assertEqual([l for l in self.srv.lines if "ledger does not balance" in l], [],
                             step)
            self.assertEqual(C.metric(self.srv.addr, "ringq_ledger_mismatch_total"), 0, step)
            r = c.Audit()
            self.assertTrue(r.balanced, step)
            self.assertEqual((r.queues_audited, r.queues_unbalanced), (1, 0), step)
            (led,) = r.queues
            self.assertEqual((led.name, led.incomplete_since), (q, since), step)
            self.assertFalse(led.balanced, step)  # as found: nothing is fixed
            self.assertEqual((led.enqueued, led.acked, led.ready), (0, 0, 1), step)
            rc, out, err = self.ringq("audit", q)
            self.assertEqual(rc, 0, out + err)
            self.assertIn(f"does not balance, incomplete history since offset {since}", out)
            rc, out, err = self.ringq("--json", "audit")
            self.assertEqual(rc, 0, out + err)
            self.assertEqual(json.loads(out)["queues"][0]["incomplete_since"], since)
            self.kill()


SEGMENT_BYTES = 4198400  # the smallest --segment-bytes
BIG_PAYLOAD_BYTES = 4096
BIG_TASKS_MAX = 20000  # 80 MB: retention has had many chances by then


def segments(part_dir):
    """Bases of the partition's segment files, oldest first ([0] when none is there yet)."""
    bases = sorted(int(f.split(".")[0]) for f in os.listdir(part_dir) if f.endswith(".qseg"))
    return bases or [0]


if __name__ == "__main__":
    unittest.main()
