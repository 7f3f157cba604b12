"""Durable before visible for stream consumers (docs/semantics.md "Streams"): under `--fsync
always` a message is handed to a consumer -- a bound Consume stream, a parked Fetch -- only once
its record is durable; under `--fsync never` it may go out as soon as it is in the page cache.

The server counts, at the moment a consumer hands a message out, whether the message's record is
at or past the log's durable end (`ringq_stream_delivered_before_durable_total` on /metrics).
Each round publishes one message while a Consume stream (bound, with credit) and a Fetch
long-poll wait for it, so both deliveries come from the wake-up that a publish causes. Two
things hold a delivery back until its commit: the server serves consumers only after the publish
(srv_stream_published, srv_stream_watch.c), and q_consumer_next refuses a message past the
durable end whatever wakes it. The unit tests test_q_consumer durable_before_visible and
undurable_deliveries_counted hold that bound alone and show the counter counts a delivery made
before the commit; since the server serves consumers from the loop turn after a publish, an
--fsync never run no longer hands one out early, so there is no end-to-end run where it is
non-zero."""
import unittest

import ringq_client as C
from stream_client import ConsumeStream, Streams, sname

ROUNDS = 20


class StreamsDurableBeforeVisibleTest(unittest.TestCase):
    def rounds(self, *args):
        """ROUNDS publishes, each taken by a waiting Consume stream, then ROUNDS more, each
        taken by a waiting Fetch; returns ringq_stream_delivered_before_durable_total."""
        srv = C.start_ringqd(*args, threads=2)
        ch = srv.channel()
        try:
            s = Streams(ch)
            name = sname("dur")
            s.stream(name, [name + ".>"])
            s.consumer(name, "c", ack_wait_ms=60000)
            s.consumer(name, "f", ack_wait_ms=60000, filter_subjects=[name + ".f"])
            cch = srv.channel()
            cs = ConsumeStream(cch)
            self.assertEqual(cs.bind(name, "c", credits=2 * ROUNDS).code, 0)
            for i in range(ROUNDS):
                s.pub(f"{name}.c", f"c{i}")
                got = cs.wait_deliveries(i + 1)
                self.assertEqual(got[i].message.payload, f"c{i}".encode())
                self.assertEqual(cs.ack_wait(got[i]).code, 0)
            cs.cancel()
            cch.close()
            for i in range(ROUNDS):
                fut = s.future("Fetch", stream=name, consumer="f", max_messages=1, wait_ms=10000)
                C.poll(lambda: s.GetConsumer(stream=name, name="f").state.num_waiting == 1, 10,
                       "the Fetch parks")
                s.pub(f"{name}.f", f"f{i}")
                got = list(fut.result().deliveries)
                self.assertEqual([d.message.payload for d in got], [f"f{i}".encode()])
                self.assertEqual(s.ack(name, "f", got[0])[0].code, 0)
            return C.metric(srv.addr, "ringq_stream_delivered_before_durable_total")
        finally:
            code, log = C.stop(srv, ch)
            self.assertEqual(code, 0, log)

    def test_always_delivers_only_durable_messages(self):
        self.assertEqual(self.rounds("--fsync", "always"), 0)


if __name__ == "__main__":
    unittest.main()
