"""A multi-shard smoke of ringqd for ThreadSanitizer (`make tsan` runs it against
build-tsan/ringqd; `make integration` against the plain build, where it is a cross-shard test
like any other).

Three shards, queues placed on every shard, several connections (each lands on some shard):
concurrent Enqueues, two Work streams subscribed to every queue (so owners lease for sessions
that live on other shards and hand tasks back through the mesh), acks both on the streams and
as unary Acks (fanned out to the owners), a re-subscribe that changes lease_ms (the owners learn
it from a message, not by reading the session), a parked Lease answered by an Enqueue, and a
scrape of /metrics (gathered from every shard). Then SIGTERM: the server must exit 0 and print
no ThreadSanitizer report (TSAN_OPTIONS halt_on_error=1 exitcode=66 makes a report fatal)."""
import os
import queue
import threading
import time
import unittest
import urllib.request

import ringq_client as C
import ringq_harness as H

SHARDS = 3
PER_QUEUE = 40
DEADLINE_S = 60.0


class TsanSmokeTest(unittest.TestCase):
    def test_cross_shard_traffic_has_no_race(self):
        env = dict(os.environ)
        env["TSAN_OPTIONS"] = (env.get("TSAN_OPTIONS", "") + " halt_on_error=1 exitcode=66").strip()
        srv = H.Server("ringqd", threads=SHARDS, env=env)
        chans = [srv.channel() for _ in range(4)]
        streams = []
        try:
            c = C.Client(chans[0])
            names = [n for shard in C.names_by_shard(c, C.qname("tsan"), nshards=SHARDS,
                                                     per_shard=2) for n in shard]
            parked_q = names.pop()  # no stream subscribes to it: for the parked Lease
            total = PER_QUEUE * len(names)
            for i in range(2):
                w = C.WorkStream(chans[1 + i])
                w.subscribe(names, credits=total, lease_ms=60000)
                streams.append(w)
            # Producers on two connections at once.
            def produce(ch, k):
                pc = C.Client(ch)
                for q in names:
                    for b in range(PER_QUEUE // 4):
                        pc.put(q, *[f"{k}.{q}.{b}.{x}" for x in range(2)])
            prods = [threading.Thread(target=produce, args=(chans[k], k)) for k in (0, 3)]
            for t in prods:
                t.start()
            acker = C.Client(chans[3])
            got, rid, sent = {}, 1, [[], []]
            deadline = time.monotonic() + DEADLINE_S
            while len(got) < total:
                self.assertLess(time.monotonic(), deadline, f"{len(got)} of {total} delivered")
                for si, w in enumerate(streams):
                    try:
                        r = w.next(0.05)
                    except queue.Empty:
                        continue
                    self.assertIsNotNone(r, f"stream ended: {w.error!r}")
                    if not r.HasField("task"):
                        self.assertEqual(r.result.code, 0, r.result.message)
                        continue
                    self.assertNotIn(r.task.id, got)
                    got[r.task.id] = r.task.payload
                    if si == 0 and len(got) % 8 == 0:
                        # A new lease_ms while owners lease for the stream: the kept
                        # registrations get it in a message, never by reading the session.
                        w.subscribe(names, lease_ms=40000 + len(got))
                    # Stream 1 acks on the stream, stream 0 by unary Acks from another
                    # connection (so its origin sends the owners nothing but the re-subscribes).
                    if si == 1:
                        w.ack([r.task.id], request_id=rid)
                        sent[si].append(rid)
                        rid += 1
                    else:
                        self.assertEqual(acker.ack(r.task.id)[0].code, 0)
            for t in prods:
                t.join()
            # Every ack sent on a stream answered before the streams go.
            for w, rids in zip(streams, sent):
                for x in rids:
                    res = w.results.pop(x, None) or w.wait_result(x)
                    self.assertEqual(res.code, 0, res.message)
                w.cancel()
            # A Lease on a queue of the last shard, parked or not yet arrived when the Enqueue
            # comes: either way it gets the task.
            fut = c.future("Lease", queue=parked_q, max_tasks=1, wait_ms=30000)
            c.put(parked_q, "parked")
            tasks = list(fut.result().tasks)
            self.assertEqual([t.payload for t in tasks], [b"parked"])
            c.ack(tasks[0].id)
            with urllib.request.urlopen(f"http://{srv.addr}/metrics", timeout=30) as r:
                self.assertIn("ringq_queue_tasks_acked_total", r.read().decode())
            # Every stream ack answered: nothing left leased once the streams are gone.
            C.poll(lambda: all(c.GetQueue(name=q).leased == 0 and c.GetQueue(name=q).ready == 0
                               for q in names), DEADLINE_S, "every task acked")
        finally:
            code, log = C.stop(srv, *chans)
        report = [l for l in srv.lines if "ThreadSanitizer" in l]
        self.assertEqual(report, [], "".join(srv.lines[-200:]))
        self.assertEqual(code, 0, log)


if __name__ == "__main__":
    unittest.main()
