"""The copy count of the delivery path (docs/architecture.md "One copy"): a real ringqd (2
shards), tasks delivered to Python grpcio over the Work stream and by Lease, and /metrics read
before and after. ringq_payload_delivered_bytes_total must grow by exactly the payload bytes
delivered; ringq_payload_copied_bytes_total counts every memcpy of those bytes between the log
mapping and the socket, so copied / delivered is the copies per payload byte: at most 1.0 (the
encode from the mapping into the reply; every later step hands the reply on). With payloads
above the send-zc threshold on a kernel that has it, the kernel reads them in place:
ringq_send_zc_bytes_total grows by at least the payload bytes.

Before this counter existed the figure was six copies per byte on the Work path (the issue's
count); the test fails on that code for want of the counters, and would fail on any path that
copies a payload twice."""
import itertools
import time
import unittest
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

import ringq_client as C

# --send-zc-min-bytes for the zero-copy class: sends carrying at least this much payload by
# reference go zero-copy (off by default, SRV_SEND_ZC_MIN_BYTES in server/srv_internal.h).
SEND_ZC_MIN_BYTES = 16 * 1024


def counters(addr):
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for f in text_string_to_metric_families(text):
        for s in f.samples:
            if s.name.startswith(("ringq_payload_", "ringq_send_zc_")):
                out[s.name] = s.value
    return out


class CopyCountTest(C.RingqdTest):
    SERVER_ARGS = ()  # the default: no zero-copy sends

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.rid = itertools.count(1)

    def delivered_after(self, before, want_bytes, timeout=10.0):
        """Polls /metrics until the delivered bytes grew by want_bytes; returns the deltas."""
        deadline = time.monotonic() + timeout
        while True:
            now = counters(self.srv.addr)
            d = {k: now[k] - before.get(k, 0) for k in now}
            if d["ringq_payload_delivered_bytes_total"] >= want_bytes:
                return d
            if time.monotonic() > deadline:
                self.fail(f"delivered bytes {d} never reached {want_bytes}")
            time.sleep(0.01)

    def work(self, queue, payloads):
        ch = self.srv.channel()
        self.addCleanup(ch.close)
        w = C.WorkStream(ch)
        self.addCleanup(w.cancel)
        rid = next(self.rid)
        w.subscribe([queue], credits=len(payloads), request_id=rid)
        self.assertEqual(w.wait_result(rid).code, 0)
        got = w.wait_tasks(len(payloads), timeout=30)
        self.assertEqual(sorted(t.payload for t in got), sorted(payloads))
        rid = next(self.rid)
        w.ack([t.id for t in got], rid)
        self.assertEqual(w.wait_result(rid).code, 0)
        w.half_close()
        w.drain_until_end()

    def test_counters_exist(self):
        c = counters(self.srv.addr)
        for k in ("ringq_payload_delivered_bytes_total", "ringq_payload_copied_bytes_total",
                  "ringq_send_zc_bytes_total", "ringq_send_zc_available"):
            self.assertIn(k, c)

    def test_small_payloads_work_and_lease_copied_at_most_once(self):
        q = C.qname("copysmall")
        payloads = [f"task-{i:05d}-".encode() * 8 for i in range(300)]
        self.c.put(q, *payloads)
        before = counters(self.srv.addr)
        self.work(q, payloads[:200])
        lease = [t.payload for t in self.c.take(q, n=100)]
        self.assertEqual(sorted(lease), sorted(payloads[200:]))
        want = sum(map(len, payloads))
        d = self.delivered_after(before, want)
        self.assertEqual(d["ringq_payload_delivered_bytes_total"], want)
        ratio = d["ringq_payload_copied_bytes_total"] / want
        self.assertLessEqual(ratio, 1.0, f"copies per payload byte {ratio:.2f}")
        self.assertGreater(ratio, 0.0, "the encode from the mapping is a copy and is counted")

    def test_large_payloads_copied_at_most_once_and_sent_zero_copy(self):
        q = C.qname("copylarge")
        payloads = [bytes([i]) * (64 * 1024) for i in range(24)]
        for p in payloads:  # one per Enqueue: each stays far below the message limit
            self.c.put(q, p)
        before = counters(self.srv.addr)
        self.work(q, payloads)
        want = sum(map(len, payloads))
        d = self.delivered_after(before, want)
        self.assertEqual(d["ringq_payload_delivered_bytes_total"], want)
        ratio = d["ringq_payload_copied_bytes_total"] / want
        self.assertLessEqual(ratio, 1.0, f"copies per payload byte {ratio:.2f}")
        if self.SERVER_ARGS and counters(self.srv.addr)["ringq_send_zc_available"] == 1:
            # Every payload went out in sends carrying >= SEND_ZC_MIN_BYTES of references.
            self.assertGreaterEqual(d["ringq_send_zc_bytes_total"], want)
        else:
            self.assertEqual(d["ringq_send_zc_bytes_total"], 0)


class CopyCountZeroCopyTest(CopyCountTest):
    """The same with zero-copy sends on (--send-zc-min-bytes): the counts hold, and where the
    kernel has SENDMSG_ZC the large payloads leave through it (the chain held until each
    notification); where it has not, the copying sendmsg serves and nothing is counted as zc."""
    SERVER_ARGS = ("--send-zc-min-bytes", str(SEND_ZC_MIN_BYTES))


if __name__ == "__main__":
    unittest.main()
