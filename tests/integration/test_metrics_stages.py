"""The per-stage latency histograms of /metrics (docs/operations.md "Stage latencies"):
ringq_stage_seconds{op,stage}, ringq_loop_stall_seconds and its long iterations split into
ringq_loop_stall_oncpu_seconds and ringq_loop_stall_preempted_seconds, from a real ringqd (2 shards,
--fsync always) driven by real gRPC clients (Debian's grpcio): unary Enqueues, then a Work
stream that receives the tasks and acks them. Every stage each request passes through must
count it; the sums must be sane (an Enqueue's stages are disjoint parts of its round trip, so
their sums together stay under the client's measured round trips); the buckets follow
Prometheus' conventions, parsed with the Prometheus client's own parser."""
import time
import unittest

import ringq_client as C
from test_metrics import families, scrape

ENQ_STAGES = ("receive", "decode", "append", "commit", "send")
WORK_STAGES = ("receive", "decode", "deliver", "send")
N = 6  # Enqueues, one task each


def hist(fams, name, **labels):
    """({le: cumulative}, sum, count) of one histogram series (labels matched exactly)."""
    f = fams[name]
    assert f.type == "histogram", (name, f.type)
    b, s, n = {}, None, None
    for x in f.samples:
        lb = {k: v for k, v in x.labels.items() if k != "le"}
        if lb != labels:
            continue
        if x.name == name + "_bucket":
            b[x.labels["le"]] = x.value
        elif x.name == name + "_sum":
            s = x.value
        elif x.name == name + "_count":
            n = x.value
    assert n is not None, (name, labels)
    return b, s, n


class StageHistogramTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = C.start_ringqd("--fsync", "always", threads=2)
        cls.ch = cls.srv.channel()
        cls.c = C.Client(cls.ch)

    @classmethod
    def tearDownClass(cls):
        code, log = C.stop(cls.srv, cls.ch)
        assert code == 0, f"ringqd exited {code}:\n{log}"

    def check_shape(self, b, n):
        les = sorted(float(k) for k in b if k != "+Inf")
        self.assertEqual((les[0], les[-1]), (1e-06, 2.5))
        counts = [b[k] for k in sorted((k for k in b if k != "+Inf"), key=float)] + [b["+Inf"]]
        self.assertEqual(counts, sorted(counts), "buckets are cumulative")
        self.assertEqual(b["+Inf"], n)

    def test_enqueue_and_work_stages_are_measured(self):
        name = "ringq_stage_seconds"
        base = families(scrape(self.srv.addr))
        q = C.qname("stages")
        rtt = 0.0
        for i in range(N):
            t0 = time.monotonic()
            self.c.put(q, f"p{i}")
            rtt += time.monotonic() - t0
        after_enq = families(scrape(self.srv.addr))
        total = 0.0
        for st in ENQ_STAGES:
            b0, s0, n0 = hist(base, name, op="enqueue", stage=st)
            b, s, n = hist(after_enq, name, op="enqueue", stage=st)
            self.check_shape(b, n)
            self.assertEqual(n - n0, N, f"enqueue {st}: one observation per Enqueue")
            self.assertGreater(s - s0, 0, f"enqueue {st}: no time at all")
            total += s - s0
        # Disjoint parts of each Enqueue's round trip: together less than the round trips.
        self.assertLess(total, rtt)
        # An Enqueue passes no deliver stage: no such series is exported.
        self.assertNotIn(("enqueue", "deliver"), [
            (s.labels.get("op"), s.labels.get("stage")) for s in after_enq[name].samples])

        w = C.WorkStream(self.ch)
        try:
            w.subscribe([q], credits=N, lease_ms=60000, request_id=1)
            self.assertEqual(w.wait_result(1).code, 0)
            got = w.wait_tasks(N)
            w.ack([t.id for t in got], request_id=2)
            self.assertEqual(w.wait_result(2).code, 0)
        finally:
            w.half_close()
            w.cancel()
        fams = families(scrape(self.srv.addr))
        b0, s0, n0 = hist(after_enq, name, op="work", stage="deliver")
        b, s, n = hist(fams, name, op="work", stage="deliver")
        self.check_shape(b, n)
        self.assertGreaterEqual(n - n0, 1)  # batches: one per pass that found tasks
        self.assertLessEqual(n - n0, N)
        sent = hist(fams, name, op="work", stage="send")[2] - \
            hist(after_enq, name, op="work", stage="send")[2]
        self.assertEqual(sent, n - n0, "each delivered batch is sent once")
        for st in ("receive", "decode"):  # the Subscribe and the Ack
            self.assertGreaterEqual(hist(fams, name, op="work", stage=st)[2] -
                                    hist(after_enq, name, op="work", stage=st)[2], 2)
        for st in WORK_STAGES:
            b, s, n = hist(fams, name, op="work", stage=st)
            self.check_shape(b, n)
            self.assertGreaterEqual(s, 0)
            self.assertLess(s, n * 2.5)  # nothing near the top bound on an idle machine

    def test_loop_stall_counts_iterations(self):
        name = "ringq_loop_stall_seconds"
        b0, s0, n0 = hist(families(scrape(self.srv.addr)), name)
        self.c.put(C.qname("stall"), "x")
        b, s, n = hist(families(scrape(self.srv.addr)), name)
        self.check_shape(b, n)
        self.assertGreater(n, n0)  # the Enqueue and the scrape woke the loops
        self.assertGreater(s, s0)

    def test_long_iterations_are_split_into_oncpu_and_preempted(self):
        """Each iteration of 1 ms or more is counted once in each half of the split, and the
        halves add up to that iteration's wall time: together they never exceed the whole-
        iteration histogram, in count above 1 ms or in sum."""
        self.c.put(C.qname("split"), "x")
        fams = families(scrape(self.srv.addr))
        b, s, n = hist(fams, "ringq_loop_stall_seconds")
        bo, so, no = hist(fams, "ringq_loop_stall_oncpu_seconds")
        bp, sp, np_ = hist(fams, "ringq_loop_stall_preempted_seconds")
        self.check_shape(bo, no)
        self.check_shape(bp, np_)
        shards = 2  # a scrape may fall between a shard's two observations of one iteration
        self.assertLessEqual(abs(no - np_), shards)
        self.assertLessEqual(no, n - b["0.001"] + shards)
        self.assertLessEqual(so + sp, s)


if __name__ == "__main__":
    unittest.main()
