"""Group commit of a stream's durable traffic (docs/semantics.md "Streams", docs/storage.md
"Group commit"): under `--fsync always` a SYNCED publish and a durable consumer's ack wait for
the fdatasync that covers their records, but they join the next one instead of starting one
beside the fdatasync in flight (q_log_commit_join): two fdatasyncs of one file do not overlap on
the disk, so a second one only split the group and made each slower.

Many publishes are kept in flight at once (unary Publish futures and a PublishStream) while a
bound Consume stream acks every delivery; /metrics then shows no pipelined commit
(`ringq_commits_pipelined_total`, which counted one for most fdatasyncs before), every publish
answered with its own sequence, and every delivery acked. (How many publishes one fdatasync
covers depends on how fast this client sends; bench/streams.sh measures that.)"""
import threading
import unittest
import urllib.request

import ringq_client as C
from stream_client import S, ConsumeStream, Streams, msg, sname

ROUNDS = 8
INFLIGHT = 64


def metric(addr, series):
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(series + " "):
                return int(float(line.split()[1]))
    raise AssertionError(f"no {series} on /metrics")


class StreamsGroupCommitTest(unittest.TestCase):
    def test_publishes_and_acks_join_the_next_fsync(self):
        srv = C.start_ringqd("--fsync", "always", threads=1)
        ch = srv.channel()
        cch = srv.channel()
        try:
            s = Streams(ch)
            name = sname("gc")
            s.stream(name, [name + ".>"])
            s.consumer(name, "c", ack_wait_ms=60000)
            cs = ConsumeStream(cch)
            total = ROUNDS * INFLIGHT * 2
            self.assertEqual(cs.bind(name, "c", credits=total).code, 0)
            acked = []

            def consume():
                got = 0
                while got < total:
                    ds = cs.wait_deliveries(got + 1, timeout=30)
                    new = ds[got:]
                    got = len(ds)
                    acked.append(cs.ack_wait(*new).code)

            consumer = threading.Thread(target=consume)
            pipelined0 = metric(srv.addr, "ringq_commits_pipelined_total")
            fsyncs0 = metric(srv.addr, "ringq_fsync_seconds_count")
            consumer.start()
            seqs = []
            for r in range(ROUNDS):
                futs = [s.future("Publish", messages=[msg(f"{name}.u", f"u{r}.{i}")])
                        for i in range(INFLIGHT)]
                reqs = [S.PublishStreamRequest(
                    request_id=i + 1,
                    publish=S.PublishRequest(messages=[msg(f"{name}.p", f"p{r}.{i}")]))
                    for i in range(INFLIGHT)]
                answers = list(s.publish_stream(reqs))
                self.assertEqual([a.code for a in answers], [0] * INFLIGHT)
                seqs += [a.publish.acks[0].seq for a in answers]
                seqs += [f.result().acks[0].seq for f in futs]
            consumer.join(60)
            self.assertFalse(consumer.is_alive(), "the consumer got every delivery")
            self.assertEqual(sorted(seqs), list(range(1, total + 1)))
            self.assertTrue(acked and all(code == 0 for code in acked), acked)
            self.assertEqual(s.GetConsumer(stream=name, name="c").state.num_ack_pending, 0)
            fsyncs = metric(srv.addr, "ringq_fsync_seconds_count") - fsyncs0
            self.assertEqual(metric(srv.addr, "ringq_commits_pipelined_total") - pipelined0, 0)
            self.assertGreater(fsyncs, 0)  # every answer above waited for one
            cs.cancel()
        finally:
            code, log = C.stop(srv, ch, cch)
            self.assertEqual(code, 0, log)


if __name__ == "__main__":
    unittest.main()
