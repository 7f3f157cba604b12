"""Lag and figures (issue 15, Deliver 1, last item): every StreamState and ConsumerState field the
other suites do not pin down, filled with the value the operations imply, over real grpcio
calls; and the same figures on /metrics. docs/semantics.md "Streams" defines each field.

Stream: first/last time bracket the publishes, num_deleted counts the holes a subject purge
leaves between first and last, subject counts by filter. Consumer: delivered (consumer and
stream sequence), position, redelivered after a nak, ack floor, pending (lag), ack pending,
terminated."""
import unittest

import ringq_client as C
from stream_client import S, StreamsTest, now_ms


class StreamsFiguresTest(StreamsTest):
    def test_stream_state_times_holes_and_subject_counts(self):
        name = self.n()
        a, b = f"{name}.a", f"{name}.b"
        self.s.stream(name, [name + ".>"])
        t0 = now_ms()
        self.s.pub(a, "a1")
        self.s.pub(b, "b1")
        self.s.pub(a, "a2")
        self.s.pub(b, "b2")
        self.s.pub(a, "a3")  # seqs: a 1 3 5, b 2 4
        t1 = now_ms()
        st = self.s.state(name)
        self.assertEqual((st.messages, st.first_seq, st.last_seq, st.num_subjects),
                         (5, 1, 5, 2))
        self.assertTrue(t0 <= st.first_unix_ms <= st.last_unix_ms <= t1,
                        (t0, st.first_unix_ms, st.last_unix_ms, t1))
        self.assertEqual(st.num_deleted, 0)
        self.assertEqual(st.bytes, sum(len(s) + 2 for s in (a, b, a, b, a)))
        self.s.PurgeStream(name=name, subject=b)  # holes at 2 and 4
        st = self.s.state(name)
        self.assertEqual((st.messages, st.first_seq, st.last_seq, st.num_deleted), (3, 1, 5, 2))
        self.assertEqual(st.num_subjects, 1)
        st = self.s.GetStream(name=name, subjects_filter=name + ".*").state
        self.assertEqual([(x.subject, x.messages) for x in st.subjects], [(a, 3)])
        self.assertFalse(st.subjects_truncated)
        self.s.PurgeStream(name=name, subject=a)
        st = self.s.state(name)
        # Empty: first_seq is last_seq + 1, the times 0 (the proto's definition).
        self.assertEqual((st.messages, st.first_seq, st.last_seq, st.first_unix_ms,
                          st.last_unix_ms), (0, 6, 5, 0, 0))

    def test_consumer_state_delivered_position_redelivered_lag(self):
        name = self.n()
        self.s.stream(name, [name])
        self.s.pub(name, *[f"m{i}" for i in range(10)])
        self.s.consumer(name, "c", ack_wait_ms=60000, max_deliver=2)
        cs = self.s.GetConsumer(stream=name, name="c").state
        self.assertEqual((cs.num_pending, cs.num_ack_pending, cs.position_seq,
                          cs.delivered_consumer_seq, cs.delivered_stream_seq), (10, 0, 1, 0, 0))
        got = self.s.fetch(name, "c", n=4)
        self.assertEqual([d.message.seq for d in got], [1, 2, 3, 4])
        cs = self.s.GetConsumer(stream=name, name="c").state
        self.assertEqual((cs.num_pending, cs.num_ack_pending, cs.position_seq,
                          cs.delivered_consumer_seq, cs.delivered_stream_seq,
                          cs.ack_floor_stream_seq), (6, 4, 5, 4, 4, 0))
        self.assertEqual([r.code for r in self.s.ack(name, "c", got[0], got[1])], [0, 0])
        self.assertEqual(self.s.ack(name, "c", got[2], kind=S.ACK_KIND_NAK, delay_ms=0)[0].code,
                         0)
        again = self.s.fetch(name, "c", n=1, wait_ms=2000)
        self.assertEqual([d.message.seq for d in again], [3])
        cs = self.s.GetConsumer(stream=name, name="c").state
        self.assertEqual((cs.num_redelivered, cs.num_ack_pending, cs.ack_floor_stream_seq,
                          cs.delivered_consumer_seq), (1, 2, 2, 5))
        self.assertEqual(self.s.ack(name, "c", again[0], kind=S.ACK_KIND_TERM)[0].code, 0)
        cs = self.s.GetConsumer(stream=name, name="c").state
        self.assertEqual((cs.num_terminated, cs.num_redelivered, cs.num_ack_pending),
                         (1, 0, 1))
        # The same lag on /metrics.
        lbl = f'stream="{name}",consumer="c"'
        pending = f"ringq_consumer_pending{{{lbl}}}"
        C.poll(lambda: C.metric(self.srv.addr, pending, missing=None) == 6, 10,
               "ringq_consumer_pending 6")
        self.assertEqual(C.metric(self.srv.addr, f"ringq_consumer_ack_pending{{{lbl}}}"), 1)
        self.assertEqual(C.metric(self.srv.addr, f'ringq_stream_messages{{stream="{name}"}}'), 10)
        self.assertEqual(C.metric(self.srv.addr, f'ringq_stream_last_seq{{stream="{name}"}}'), 10)


if __name__ == "__main__":
    unittest.main()
