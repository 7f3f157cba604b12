"""The long loop iterations' on-CPU part split into cpu and blocked (docs/operations.md "Stage
latencies", core/ev_stall.h): ringq_loop_stall_cpu_seconds and ringq_loop_stall_blocked_seconds
from a real ringqd (2 shards) driven by a real gRPC client (Debian's grpcio). Each iteration of
1 ms or more is counted once in each, and the two add up to its oncpu part."""
import unittest

import ringq_client as C
from test_metrics import families, scrape
from test_metrics_stages import hist


class StallSplitTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = C.start_ringqd("--fsync", "always", threads=2)
        cls.ch = cls.srv.channel()
        cls.c = C.Client(cls.ch)

    @classmethod
    def tearDownClass(cls):
        code, log = C.stop(cls.srv, cls.ch)
        assert code == 0, f"ringqd exited {code}:\n{log}"

    def test_oncpu_is_split_into_cpu_and_blocked(self):
        # Drive until at least one iteration of 1 ms or more was split (so the checks below see
        # real observations): new queues, then batches of 2 MiB (copied, hashed and prewritten
        # in one turn), at most 40 rounds.
        q, big = C.qname("split"), b"x" * (128 * 1024)
        for i in range(40):
            self.c.put(C.qname("split%d" % i) if i < 10 else q, *([big] * 16))
            fams = families(scrape(self.srv.addr))
            bo, so, no = hist(fams, "ringq_loop_stall_oncpu_seconds")
            if no > 0:
                break
        self.assertGreater(no, 0, "no iteration of 1 ms or more in 40 rounds")
        bc, sc, nc = hist(fams, "ringq_loop_stall_cpu_seconds")
        bb, sb, nb = hist(fams, "ringq_loop_stall_blocked_seconds")
        for b, n in ((bc, nc), (bb, nb)):
            self.assertEqual(b["+Inf"], n)
            counts = [b[k] for k in sorted((k for k in b if k != "+Inf"), key=float)]
            self.assertEqual(counts, sorted(counts), "buckets are cumulative")
        shards = 2  # a scrape may fall between a shard's observations of one iteration
        self.assertLessEqual(abs(nc - no), shards)
        self.assertLessEqual(abs(nb - no), shards)
        if no == nc == nb:  # no iteration straddled the scrape: the parts add up exactly
            self.assertAlmostEqual(sc + sb, so, delta=1e-6)
        else:
            self.assertLessEqual(sc + sb, so + 2.6 * shards)


if __name__ == "__main__":
    unittest.main()
