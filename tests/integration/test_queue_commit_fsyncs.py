"""fdatasyncs per Enqueue under `--fsync always` (queue/q_commit.c, "Deferred start"), counted
by the server itself on /metrics -- not timed.

Each fdatasync costs ~154 us of system CPU on the test VM, paid per fdatasync, not per byte
(bench/results/cpu-per-task-2026-12-07.md, s8-cpu5). The producers' Enqueues that one loop turn
of the shard runs used to start one fdatasync each: the first alone, the second beside it as the
pipelined chain, so at 4 producers x 1 Enqueue of 64 in flight nearly every Enqueue paid one of
its own. The commit now starts at the end of the turn for every request the turn ran.

ringq-bench (the real generator) drives a `--threads 1` server as bench/cpu_per_task.sh does;
the ratio is the server's `ringq_fsync_seconds_count` over the Enqueues it counted
(`ringq_queue_tasks_enqueued_total` / batch). The idle case checks the other side of the trade:
a lone Enqueue on an idle server still gets an fdatasync of its own, started in the loop turn
that appended it (its commit stage is its fsync, not a wait for company)."""
import json
import os
import subprocess
import tempfile
import unittest

import ringq_client as C
import ringq_harness as H

BENCH = os.path.join(H.BUILD, "ringq-bench")
RUN = ["--warmup", "0.3", "--duration", "2"]
# Measured on this VM (load 3-5): main 1355544 0.78-0.79 fdatasyncs per Enqueue of 64 at 4 x 1
# (this test fails there), main 3086e4d 0.81; with the deferred start 0.63-0.69 on 1355544,
# 0.72-0.74 merged with 3086e4d (a faster server: the requests spread over more turns). The
# margin is ~0.03 on each side, too thin for a test that must pass on a loaded machine, so the
# bound here is a guard (one fdatasync per Enqueue, as two chains side by side come to, fails
# it); the deterministic before/after test of the deferred start is tests/unit/test_q_commit_kick.
# 64 x 1 of single tasks: 0.062-0.070 before, 0.052-0.058 after; a guard too.
B64_FSYNCS_PER_ENQUEUE_MAX = 0.9
B1_FSYNCS_PER_ENQUEUE_MAX = 0.1
LONE_ENQUEUES = 20
# A lone Enqueue's commit stage (append to the commit covering it) minus its fsync's time, on
# average: the rest of the loop turn and the completion's hop, 7-11 us measured. The bound is
# wide enough for a loaded machine's preemptions (wall clock); what it catches is a policy that
# waits for company on a timer of tens of ms or for the once-a-second tick. That a lone commit
# starts in its own turn is checked without a clock in tests/unit/test_q_commit_kick.
LONE_EXTRA_S_MAX = 0.02


def enqueued(addr, queue):
    return C.metric(addr, f'ringq_queue_tasks_enqueued_total{{queue="{queue}"}}', missing=0)


class FsyncsPerEnqueueTest(unittest.TestCase):
    def setUp(self):
        self.srv = C.start_ringqd("--fsync", "always", threads=1)
        self.tmp = tempfile.TemporaryDirectory(prefix="ringq-fsyncs-it-")

    def tearDown(self):
        code, log = C.stop(self.srv)
        self.tmp.cleanup()
        self.assertEqual(code, 0, log)

    def fsyncs_per_enqueue(self, batch, conns):
        """Runs ringq-bench enqueue (batch x conns x 1 in flight) on a fresh queue; returns the
        server's fdatasyncs per Enqueue over the run."""
        q = C.qname(f"fs-b{batch}")
        out = os.path.join(self.tmp.name, q + ".json")
        f0 = C.metric(self.srv.addr, "ringq_fsync_seconds_count")
        argv = [BENCH, "enqueue", "--system", "ringq", "--addr", self.srv.addr, "--queue", q,
                "--batch", str(batch), "--conns", str(conns), "--inflight", "1", "--size", "100",
                *RUN, "--quiet", "--json", out]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(out) as f:
            r = json.load(f)
        self.assertGreater(r["ops"], 0)
        fsyncs = C.metric(self.srv.addr, "ringq_fsync_seconds_count") - f0
        tasks = enqueued(self.srv.addr, q)
        self.assertEqual(tasks % batch, 0)
        enqueues = tasks // batch
        self.assertGreaterEqual(enqueues, r["ops"])  # warm-up's too
        ratio = fsyncs / enqueues
        print(f"\n  b{batch} x {conns} conns: {fsyncs} fdatasyncs / {enqueues} Enqueues = "
              f"{ratio:.3f}", flush=True)
        return ratio

    def test_four_producers_of_64_share_fsyncs(self):
        self.assertLessEqual(self.fsyncs_per_enqueue(64, 4), B64_FSYNCS_PER_ENQUEUE_MAX)

    def test_64_producers_of_one_share_fsyncs(self):
        self.assertLessEqual(self.fsyncs_per_enqueue(1, 64), B1_FSYNCS_PER_ENQUEUE_MAX)

    def test_lone_enqueue_gets_its_fsync_at_once(self):
        ch = self.srv.channel()
        try:
            c = C.Client(ch)
            q = C.qname("lone")
            c.put(q, "warm")  # the queue exists; its first commit is not in the figures

            def stage(suffix):
                return C.metric(self.srv.addr, "ringq_stage_seconds_" + suffix +
                                '{op="enqueue",stage="commit"}')

            f0 = C.metric(self.srv.addr, "ringq_fsync_seconds_count")
            fs0 = C.metric(self.srv.addr, "ringq_fsync_seconds_sum")
            n0, s0 = stage("count"), stage("sum")
            for i in range(LONE_ENQUEUES):
                c.put(q, f"t{i}")  # SYNCED: answered after its fdatasync
            fsyncs = C.metric(self.srv.addr, "ringq_fsync_seconds_count") - f0
            fsync_s = C.metric(self.srv.addr, "ringq_fsync_seconds_sum") - fs0
            n, commit_s = stage("count") - n0, stage("sum") - s0
        finally:
            ch.close()
        # One fdatasync each: nothing else was coming, and none waited for another.
        self.assertEqual(fsyncs, LONE_ENQUEUES)
        self.assertEqual(n, LONE_ENQUEUES)
        extra = (commit_s - fsync_s) / LONE_ENQUEUES
        print(f"\n  lone: commit stage {commit_s / n * 1e6:.0f} us, fsync "
              f"{fsync_s / fsyncs * 1e6:.0f} us, extra {extra * 1e6:.0f} us", flush=True)
        self.assertLess(extra, LONE_EXTRA_S_MAX)


if __name__ == "__main__":
    unittest.main()
