"""Durability per request, with a receipt (docs/semantics.md "Durability levels").

Enqueue takes a level -- MEMORY, WRITTEN, SYNCED, or UNSPECIFIED for the server's default --
and each result carries a receipt: partition, log offset, the commit sequence that covers the
record and the level reached. Admin.GetPartition reports the partition's synced commit sequence
and synced offset, which is how a WRITTEN receipt is later confirmed synced.

Every check goes through a real ringqd over gRPC (grpcio): receipts against GetPartition, the
fsync count on /metrics (`ringq_fsync_seconds_count`), deliveries held until the record is
synced, refusals under --fsync never, and a SIGKILL under load after which every task with a
SYNCED receipt (and, the page cache surviving a process crash, every WRITTEN one) is there."""
import json
import os
import subprocess
import tempfile
import threading
import unittest
import urllib.request

import grpc

import ringq_client as C
import ringq_harness as H
from test_storage_edges import records
from ringq.v1 import queue_pb2

MEMORY = queue_pb2.DURABILITY_MEMORY
WRITTEN = queue_pb2.DURABILITY_WRITTEN
SYNCED = queue_pb2.DURABILITY_SYNCED
UNSPECIFIED = queue_pb2.DURABILITY_UNSPECIFIED


def fsyncs(addr):
    """ringq_fsync_seconds_count: the commit fsyncs of every partition so far."""
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("ringq_fsync_seconds_count "):
                return int(float(line.split()[1]))
    raise AssertionError("no ringq_fsync_seconds_count on /metrics")


def enqueue(c, queue, level, *payloads):
    r = c.Enqueue(queue=queue, durability=level, tasks=[C.spec(p) for p in payloads])
    return list(r.results)


def part(c, no):
    return c.GetPartition(partition=no)


def confirmed(c, receipt):
    """Whether Admin says the receipt's record is synced, by both of the documented rules
    (they must agree: asserted by the callers)."""
    pi = part(c, receipt.partition)
    return pi.synced_commit_seq >= receipt.commit_seq, pi.synced_offset > receipt.offset


class ServerTest(unittest.TestCase):
    def start(self, *args, data_dir=None):
        srv = C.start_ringqd(*args, threads=2, data_dir=data_dir)
        ch = srv.channel()
        self.addCleanup(lambda: srv.close())
        return srv, ch, C.Client(ch)

    def stop(self, srv, ch):
        code, log = C.stop(srv, ch)
        self.assertEqual(code, 0, log)


class ReceiptLevelsTest(ServerTest):
    def check_receipts(self, c, q, results, level):
        info = c.GetQueue(name=q)
        offs = []
        for res in results:
            r = res.receipt
            self.assertEqual(r.partition, info.partition)
            self.assertEqual(r.level, level)
            self.assertGreater(r.commit_seq, 0)
            offs.append(r.offset)
            # The id names the same record: GetTask by id finds it.
            self.assertEqual(c.GetTask(id=res.id).id, res.id)
        self.assertEqual(offs, sorted(set(offs)))  # one record each, in request order

    def test_every_level_under_always(self):
        srv, ch, c = self.start("--fsync", "always")
        q = C.qname("rcpt")
        # UNSPECIFIED and SYNCED: answered after the fsync that covers them.
        for asked in (UNSPECIFIED, SYNCED):
            res = enqueue(c, q, asked, "a", "b")
            self.check_receipts(c, q, res, SYNCED)
            for x in res:
                self.assertEqual(confirmed(c, x.receipt), (True, True))
        # MEMORY and WRITTEN: answered once applied, before any fsync covered them (a receipt
        # is SYNCED as soon as one has: these replies were made before); the commit that
        # follows by itself makes them synced, which Admin then confirms.
        for asked in (MEMORY, WRITTEN):
            res = enqueue(c, q, asked, "c", "d")
            self.check_receipts(c, q, res, WRITTEN)
            for x in res:
                C.poll(lambda: all(confirmed(c, x.receipt)), 10, "the WRITTEN receipt synced")
        # A WRITTEN answer starts the commit that covers it (nobody waits for it): a parked
        # Lease gets the task from that commit, well before the partition's next housekeeping
        # tick (1 s) would have committed it. Ten rounds with a 500 ms bound: without the
        # commit, a round passes only when the tick happens to fall within it.
        for i in range(10):
            fut = c.future("Lease", queue=q + "w", max_tasks=1, wait_ms=500)
            (x,) = enqueue(c, q + "w", WRITTEN, f"k{i}")
            self.assertEqual([t.id for t in fut.result().tasks], [x.id], f"round {i}")
            c.ack(x.id)
        # The commit sequence is monotonic and every receipt so far is covered.
        pi = part(c, c.GetQueue(name=q).partition)
        self.assertGreaterEqual(pi.durable_offset, pi.synced_offset)
        self.assertGreaterEqual(pi.next_offset, pi.synced_offset)
        self.stop(srv, ch)

    def test_written_answers_before_the_fsync_under_interval(self):
        # A 3 s window: an fsync comes only when the window's timer fires, so a reply that
        # came before it provably did not wait for one.
        srv, ch, c = self.start("--fsync", "interval:3000")
        q = C.qname("rcptint")
        before = fsyncs(srv.addr)
        (mem,) = enqueue(c, q, MEMORY, "m")
        (wr,) = enqueue(c, q, WRITTEN, "w")
        self.assertEqual(fsyncs(srv.addr), before)
        for x in (mem, wr):
            self.assertEqual(x.receipt.level, WRITTEN)
            self.assertEqual(confirmed(c, x.receipt), (False, False))
        # Not delivered before it is synced (ready_when_durable under interval too).
        self.assertEqual(c.take(q, n=2), [])
        # Then the window's commit: both confirmed synced, one more fsync, and delivered.
        C.poll(lambda: all(confirmed(c, wr.receipt)), 15, "the window's commit")
        self.assertEqual(confirmed(c, mem.receipt), (True, True))
        self.assertGreater(fsyncs(srv.addr), before)
        got = c.take(q, n=2)
        self.assertEqual(sorted(t.payload for t in got), [b"m", b"w"])
        # SYNCED (the default too) waits for the window's fsync.
        n = fsyncs(srv.addr)
        for asked in (SYNCED, UNSPECIFIED):
            (s,) = enqueue(c, q, asked, "s")
            self.assertEqual(s.receipt.level, SYNCED)
            self.assertEqual(confirmed(c, s.receipt), (True, True))
        self.assertGreaterEqual(fsyncs(srv.addr), n + 2)
        self.stop(srv, ch)

    def test_never_refuses_synced(self):
        srv, ch, c = self.start("--fsync", "never")
        q = C.qname("rcptnever")
        for asked in (UNSPECIFIED, MEMORY, WRITTEN):
            (x,) = enqueue(c, q, asked, "n")
            self.assertEqual(x.receipt.level, WRITTEN)
        before = c.Audit(queue=q).queues[0].enqueued
        self.assertEqual(before, 3)
        C.assert_code(self, grpc.StatusCode.FAILED_PRECONDITION, enqueue, c, q, SYNCED, "x",
                      contains=["synced", "--fsync never"])
        C.assert_code(self, grpc.StatusCode.INVALID_ARGUMENT, enqueue, c, q, 9, "x",
                      contains="durability")
        self.assertEqual(c.Audit(queue=q).queues[0].enqueued, before)  # nothing enqueued
        self.assertEqual(len(c.take(q, n=10)), 3)  # delivered from the page cache
        C.assert_code(self, grpc.StatusCode.NOT_FOUND, c.GetPartition, partition=16,
                      contains="partition 16")
        self.stop(srv, ch)


PRODUCERS = 4


class ReceiptCrashTest(ServerTest):
    def test_synced_receipts_survive_sigkill(self):
        data = tempfile.TemporaryDirectory(prefix="ringq-rcpt-")
        self.addCleanup(data.cleanup)
        d = os.path.join(data.name, "data")
        srv, ch, c = self.start("--fsync", "always", data_dir=d)
        qs = [C.qname("rcptkill") for _ in range(PRODUCERS)]
        got = {SYNCED: [], WRITTEN: []}
        lock = threading.Lock()
        enough = threading.Event()
        stop = threading.Event()

        def produce(i):
            pc = C.Client(srv.channel())
            k = 0
            while not stop.is_set():
                level = SYNCED if k % 2 == 0 else WRITTEN
                try:
                    res = enqueue(pc, qs[i], level, f"{i}.{k}", f"{i}.{k}b")
                except grpc.RpcError:
                    return  # the kill
                with lock:
                    got[level] += [(x.id, x.receipt) for x in res]
                    if len(got[SYNCED]) >= 200:
                        enough.set()
                k += 1

        threads = [threading.Thread(target=produce, args=(i,)) for i in range(PRODUCERS)]
        for t in threads:
            t.start()
        self.assertTrue(enough.wait(60), "producers made no progress")
        srv.kill()  # mid-load: calls are in flight
        stop.set()
        for t in threads:
            t.join(30)
        ch.close()
        srv.close()
        srv2, ch2, c2 = self.start("--fsync", "always", data_dir=d)
        with lock:
            synced, written = list(got[SYNCED]), list(got[WRITTEN])
        self.assertGreaterEqual(len(synced), 200)
        for tid, r in synced + written:
            self.assertEqual(c2.GetTask(id=tid).id, tid)
        # The commit sequence never goes back across the restart: every receipt is covered,
        # and the records are synced (recovery syncs what the page cache kept).
        for tid, r in synced + written:
            self.assertEqual(confirmed(c2, r), (True, True), tid)
        self.stop(srv2, ch2)

    def test_power_loss_keeps_synced_receipts(self):
        """A power loss, as test_storage_edges simulates it: the process is killed and every
        record the last completed fsync did not cover is zeroed (the page cache is gone). Every
        SYNCED receipt's task survives; WRITTEN ones answered before their commit are lost, as
        the level allows: with nothing enqueued since, GetTask shows it (docs/semantics.md: the
        sequence alone is no proof across a power loss)."""
        data = tempfile.TemporaryDirectory(prefix="ringq-rcpt-")
        self.addCleanup(data.cleanup)
        d = os.path.join(data.name, "data")
        seg = os.path.join(d, "p000", "00000000000000000000.qseg")
        # A 1.5 s window: the WRITTEN batch below stays unsynced until the kill.
        args = ("--partitions", "1", "--fsync", "interval:1500")
        srv, ch, c = self.start(*args, data_dir=d)
        q = C.qname("rcptpower")
        synced = enqueue(c, q, SYNCED, "s0", "s1", "s2")
        written = enqueue(c, q, WRITTEN, "w0", "w1", "w2")
        pi = part(c, 0)
        srv.kill()
        ch.close()
        srv.close()
        self.assertTrue(all(x.receipt.level == SYNCED for x in synced))
        self.assertTrue(all(x.receipt.level == WRITTEN for x in written))
        self.assertGreater(pi.synced_offset, max(x.receipt.offset for x in synced))
        self.assertLessEqual(pi.synced_offset, min(x.receipt.offset for x in written))
        lost = [r for r in records(seg) if r[1] >= pi.synced_offset]
        self.assertEqual(len(lost), len(written))
        with open(seg, "r+b") as f:
            for pos, _, span in lost:
                f.seek(pos)
                f.write(bytes(span))
        srv2, ch2, c2 = self.start(*args, data_dir=d)
        seq = part(c2, 0).synced_commit_seq
        for x in synced:
            self.assertEqual(c2.GetTask(id=x.id).id, x.id)
            self.assertGreaterEqual(seq, x.receipt.commit_seq)
        for x in written:
            C.assert_code(self, grpc.StatusCode.NOT_FOUND, c2.GetTask, id=x.id)
        self.stop(srv2, ch2)


class ReceiptCliTest(ServerTest):
    """`ringq enqueue --durability LEVEL --receipt` (libringq's rq_enqueue_with)."""

    def ringq(self, srv, *args):
        env = dict(os.environ, RINGQ_ADDR=srv.addr)
        p = subprocess.run([os.path.join(H.BUILD, "ringq")] + list(args), capture_output=True,
                           text=True, env=env, timeout=20)
        return p.returncode, p.stdout, p.stderr

    def test_cli_levels_and_receipts(self):
        srv, ch, c = self.start("--fsync", "always")
        q = C.qname("rcptcli")
        rc, out, err = self.ringq(srv, "enqueue", "--durability", "written", "--receipt", q, "a")
        self.assertEqual(rc, 0, err)
        tid, *fields = out.split()
        kv = dict(f.split("=") for f in fields)
        self.assertEqual(kv["level"], "written")
        self.assertEqual(int(kv["partition"]), c.GetQueue(name=q).partition)
        self.assertEqual(c.GetTask(id=tid).id, tid)
        C.poll(lambda: part(c, int(kv["partition"])).synced_commit_seq >= int(kv["commit_seq"]),
               10, "the CLI's WRITTEN receipt synced")
        rc, out, err = self.ringq(srv, "--json", "enqueue", "--durability", "synced", q, "b")
        self.assertEqual(rc, 0, err)
        (r,) = json.loads(out)
        self.assertEqual(r["receipt"]["level"], "synced")
        pi = part(c, r["receipt"]["partition"])
        self.assertGreater(pi.synced_offset, r["receipt"]["offset"])
        self.assertGreaterEqual(pi.synced_commit_seq, r["receipt"]["commit_seq"])
        rc, out, err = self.ringq(srv, "enqueue", "--durability", "sometimes", q, "c")
        self.assertEqual(rc, 2)
        self.assertIn("--durability", err)
        self.stop(srv, ch)

    def test_cli_synced_refused_under_never(self):
        srv, ch, c = self.start("--fsync", "never")
        rc, out, err = self.ringq(srv, "enqueue", "--durability", "synced", C.qname("n"), "x")
        self.assertNotEqual(rc, 0)
        self.assertIn("--fsync never", err)
        self.assertEqual(out, "")
        self.stop(srv, ch)


if __name__ == "__main__":
    unittest.main()
