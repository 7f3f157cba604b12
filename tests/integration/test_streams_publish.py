"""Issue 15: publishing and reading with grpcio against a real ringqd - Publish (dense
sequences, receipts, a batch checked as a whole), PublishStream (answers in order, a failed
request does not end it), deduplication by msg_id within the window, per-message TTL,
expectations (last sequence, last subject sequence, stream), limits retention at each limit with
discard old and new, max_age, GetMessage (by sequence, last of a subject), Read (ranges, from a
time, filters, headers only, max_messages, live), wildcard matching edge cases end to end, and
bad input for each PublishMessage field (docs/semantics.md "Streams")."""
import queue
import threading
import unittest

import grpc

import ringq_client as C
from ringq.v1 import queue_pb2
from stream_client import S, SC, StreamsTest, assert_invalid, msg, now_ms


class PublishTest(StreamsTest):

    def test_dense_sequences_receipts_and_payloads_back(self):
        name, a = self.n(), self.subj("a")
        info = self.s.stream(name, [a])
        r = self.s.Publish(messages=[msg(a, f"m{i}", headers={"k": str(i)}) for i in range(5)],
                           durability=queue_pb2.DURABILITY_SYNCED)
        self.assertEqual(r.stream, name)
        self.assertEqual([k.seq for k in r.acks], [1, 2, 3, 4, 5])
        self.assertTrue(all(not k.duplicate for k in r.acks))
        for k in r.acks:
            self.assertEqual(k.receipt.partition, info.partition)
            self.assertEqual(k.receipt.level, queue_pb2.DURABILITY_SYNCED)
        offs = [k.receipt.offset for k in r.acks]
        self.assertEqual(offs, sorted(offs))
        self.assertEqual(self.s.seqs(a, "m5"), [6])
        m = self.s.GetMessage(stream=name, seq=3)
        self.assertEqual((m.stream, m.subject, m.seq, m.payload), (name, a, 3, b"m2"))
        self.assertEqual(dict(m.headers), {"k": "2"})
        self.assertEqual(m.payload_size, 2)
        self.assertLessEqual(abs(m.unix_ms - now_ms()), 60000)
        st = self.s.state(name)
        self.assertEqual((st.messages, st.first_seq, st.last_seq, st.num_subjects), (6, 1, 6, 1))
        self.assertGreaterEqual(st.bytes, 6 * (len(a) + 2) + 5 * 2)  # subject+payload+headers

    def test_batch_is_checked_as_a_whole(self):
        name, a = self.n(), self.subj("a")
        self.s.stream(name, [a])
        self.s.pub(a, "first")
        for bad in [msg(a + ".*", "wild"), msg(self.subj("uncaptured"), "x"), msg("", "x")]:
            e = C.rpc_error(self.s.Publish, messages=[msg(a, "ok"), bad])
            self.assertIn(e.code(), (SC.INVALID_ARGUMENT, SC.FAILED_PRECONDITION), e.details())
        st = self.s.state(name)
        self.assertEqual((st.messages, st.last_seq), (1, 1))

    def test_subject_no_stream_captures(self):
        C.assert_code(self, SC.FAILED_PRECONDITION, self.s.pub, self.subj("nobody"), "x",
                      contains="stream")

    def test_publish_stream_in_order_failures_do_not_end_it(self):
        name, a = self.n(), self.subj("a")
        self.s.stream(name, [a])
        reqs = [S.PublishStreamRequest(request_id=10 + i, publish=S.PublishRequest(
            messages=[msg(a if i != 2 else self.subj("nobody"), f"p{i}")])) for i in range(5)]
        out = list(self.s.publish_stream(reqs))
        self.assertEqual([r.request_id for r in out], [10, 11, 12, 13, 14])
        self.assertEqual([r.code for r in out], [0, 0, SC.FAILED_PRECONDITION.value[0], 0, 0])
        self.assertTrue(out[2].message)
        self.assertEqual([r.publish.acks[0].seq for r in out if r.code == 0], [1, 2, 3, 4])
        self.assertEqual([m.payload for m in self.s.read(name, start_seq=1, end_seq=4)],
                         [b"p0", b"p1", b"p3", b"p4"])

    def test_dedup_within_the_window(self):
        name, a = self.n(), self.subj("a")
        self.s.stream(name, [a], duplicate_window_ms=1500)
        first = self.s.pub(a, "x", msg_id="id-1").acks[0]
        again = self.s.pub(a, "other", msg_id="id-1").acks[0]
        self.assertEqual((again.seq, again.duplicate), (first.seq, True))
        self.assertEqual(self.s.GetMessage(stream=name, seq=first.seq).msg_id, "id-1")
        self.assertEqual(self.s.state(name).messages, 1)
        # past the window the id is new again
        C.poll(lambda: not self.s.pub(a, "late", msg_id="id-1").acks[0].duplicate, 10,
               "the dedup window to end")
        off = self.n("off")
        b = self.subj("b")
        self.s.stream(off, [b], duplicate_window_ms=0)  # 0: no deduplication
        self.assertEqual(self.s.seqs(b, "x", "x", msg_id="same"), [1, 2])

    def test_ttl_removes_the_message(self):
        name, a = self.n(), self.subj("a")
        self.s.stream(name, [a], allow_msg_ttl=True)
        t0 = now_ms()
        k = self.s.pub(a, "short", ttl_ms=1000).acks[0]
        keep = self.s.seqs(a, "kept")[0]
        m = self.s.GetMessage(stream=name, seq=k.seq)
        self.assertGreaterEqual(m.expires_unix_ms, t0 + 1000)
        self.assertLessEqual(m.expires_unix_ms, now_ms() + 1000)
        C.poll(lambda: self.s.state(name).messages == 1, 10, "the TTL to remove the message")
        C.assert_code(self, SC.NOT_FOUND, self.s.GetMessage, stream=name, seq=k.seq)
        self.assertEqual(self.s.GetMessage(stream=name, seq=keep).payload, b"kept")
        assert_invalid(self, self.s.pub, "ttl", a, "x", ttl_ms=999)
        assert_invalid(self, self.s.pub, "ttl", a, "x", ttl_ms=367 * 86400000)
        other, b = self.n("nottl"), self.subj("b")
        self.s.stream(other, [b])
        assert_invalid(self, self.s.pub, "ttl", b, "x", ttl_ms=5000)

    def test_expectations(self):
        name, a, b = self.n(), self.subj("a"), self.subj("b")
        self.s.stream(name, [self.subj("*")])
        self.assertEqual(self.s.seqs(a, "1", expected_last_seq=0), [1])
        C.assert_code(self, SC.FAILED_PRECONDITION, self.s.pub, a, "x", expected_last_seq=0,
                      contains="wrong last sequence: 1")
        self.assertEqual(self.s.seqs(b, "2", expected_last_seq=1), [2])
        self.assertEqual(self.s.seqs(b, "3", expected_last_subject_seq=2), [3])
        C.assert_code(self, SC.FAILED_PRECONDITION, self.s.pub, a, "x",
                      expected_last_subject_seq=0)
        self.assertEqual(self.s.seqs(a, "4", expected_stream=name), [4])
        C.assert_code(self, SC.FAILED_PRECONDITION, self.s.pub, a, "x",
                      expected_stream=self.n("other"))
        # in a batch each expectation sees the messages before it
        r = self.s.Publish(messages=[msg(a, "5", expected_last_seq=4),
                                     msg(a, "6", expected_last_seq=5)])
        self.assertEqual([k.seq for k in r.acks], [5, 6])
        C.assert_code(self, SC.FAILED_PRECONDITION, self.s.Publish,
                      messages=[msg(a, "7", expected_last_seq=6), msg(a, "8", expected_last_seq=6)])
        self.assertEqual(self.s.state(name).last_seq, 6)  # nothing of the failed batch

    def test_bad_input_per_field(self):
        name, a = self.n(), self.subj("a")
        self.s.stream(name, [a], max_msg_size=100)
        assert_invalid(self, self.s.Publish, "messages", messages=[])
        assert_invalid(self, self.s.Publish, "messages", messages=[msg(a, "x")] * 1001)
        assert_invalid(self, self.s.pub, "subject", a + ".>", "x")
        assert_invalid(self, self.s.pub, "subject", a + "..b", "x")
        assert_invalid(self, self.s.pub, "size", a, "x" * 200)
        assert_invalid(self, self.s.pub, "headers", a, "x",
                       headers={f"h{i}": "v" for i in range(65)})
        assert_invalid(self, self.s.pub, "header", a, "x", headers={"": "v"})
        assert_invalid(self, self.s.pub, "msg_id", a, "x", msg_id="i" * 257)
        assert_invalid(self, self.s.Publish, "durability", messages=[msg(a, "x")],
                       durability=99)
        self.assertEqual(self.s.state(name).messages, 0)


class LimitsTest(StreamsTest):
    """Retention `limits` at each limit, with discard old and new."""

    def fill(self, tag, **cfg):
        """A stream capturing <root>.<tag>.*; returns its name and the subject <root>.<tag>.a."""
        name = self.n(tag)
        self.s.stream(name, [self.subj(tag, "*")], **cfg)
        return name, self.subj(tag, "a")

    def test_max_msgs_discard_old(self):
        name, a = self.fill("o", max_msgs=3)
        self.s.pub(a, *"abcde")
        st = self.s.state(name)
        self.assertEqual((st.messages, st.first_seq, st.last_seq), (3, 3, 5))
        self.assertEqual([m.payload for m in self.s.read(name, start_seq=1, end_seq=5)],
                         [b"c", b"d", b"e"])

    def test_max_msgs_discard_new(self):
        name, a = self.fill("n", max_msgs=3, discard=S.DISCARD_NEW)
        self.s.pub(a, *"abc")
        C.assert_code(self, SC.FAILED_PRECONDITION, self.s.pub, a, "d", contains="max_msgs")
        st = self.s.state(name)
        self.assertEqual((st.messages, st.first_seq, st.last_seq), (3, 1, 3))

    def test_max_bytes_old_and_new(self):
        size = len(self.subj("o", "a")) + 10  # subject + payload, no headers
        name, a = self.fill("o", max_bytes=3 * size)
        self.s.pub(a, *["x" * 10] * 5)
        st = self.s.state(name)
        self.assertEqual((st.messages, st.bytes, st.first_seq), (3, 3 * size, 3))
        new, b = self.fill("n", max_bytes=3 * size, discard=S.DISCARD_NEW)
        self.s.pub(b, *["x" * 10] * 3)
        C.assert_code(self, SC.FAILED_PRECONDITION, self.s.pub, b, "x" * 10,
                      contains="max_bytes")
        self.assertEqual(self.s.state(new).messages, 3)

    def test_max_msgs_per_subject_old_and_new(self):
        name, a = self.fill("o", max_msgs_per_subject=2)
        b = self.subj("o", "b")
        self.s.pub(a, "a1", "a2", "a3")
        self.s.pub(b, "b1")
        got = [(m.subject, m.payload) for m in self.s.read(name, start_seq=1, end_seq=4)]
        self.assertEqual(got, [(a, b"a2"), (a, b"a3"), (b, b"b1")])
        new, c = self.fill("n", max_msgs_per_subject=1, discard=S.DISCARD_NEW)
        self.s.pub(c, "c1")
        C.assert_code(self, SC.FAILED_PRECONDITION, self.s.pub, c, "c2",
                      contains="max_msgs_per_subject")
        self.s.pub(self.subj("n", "d"), "d1")  # another subject still has room
        self.assertEqual(self.s.state(new).messages, 2)

    def test_max_age(self):
        name, a = self.fill("age", max_age_ms=1000)
        self.s.pub(a, "old")
        C.poll(lambda: self.s.state(name).messages == 0, 10, "max_age to remove the message")
        self.assertEqual(self.s.seqs(a, "new"), [2])


class ReadTest(StreamsTest):

    def setUp(self):
        self.name, self.a, self.b = self.n(), self.subj("a"), self.subj("b")
        self.s.stream(self.name, [self.subj("*")])
        self.t0 = now_ms()
        for i in range(6):
            self.s.pub(self.a if i % 2 == 0 else self.b, f"m{i}", headers={"i": str(i)})

    def test_ranges_filters_headers_only_and_max(self):
        seqs = lambda ms: [m.seq for m in ms]  # noqa: E731
        self.assertEqual(seqs(self.s.read(self.name, start_seq=2, end_seq=4)), [2, 3, 4])
        self.assertEqual(seqs(self.s.read(self.name, start_seq=1, end_seq=6,
                                          filter_subjects=[self.b])), [2, 4, 6])
        self.assertEqual(seqs(self.s.read(self.name, start_seq=1, max_messages=2)), [1, 2])
        self.assertEqual(seqs(self.s.read(self.name, start_unix_ms=self.t0, end_seq=6)),
                         [1, 2, 3, 4, 5, 6])
        self.assertEqual(self.s.read(self.name, start_unix_ms=now_ms() + 60000, max_messages=1,
                                     end_seq=6), [])
        ho = self.s.read(self.name, start_seq=1, end_seq=1, headers_only=True)[0]
        self.assertEqual((ho.payload, ho.payload_size, dict(ho.headers)), (b"", 2, {"i": "0"}))
        C.assert_code(self, SC.NOT_FOUND, self.s.read, self.n("none"), start_seq=1, end_seq=1)
        assert_invalid(self, self.s.read, "filter_subjects", self.name, start_seq=1, end_seq=1,
                       filter_subjects=["a..b"])

    def test_get_message_last_by_subject(self):
        m = self.s.GetMessage(stream=self.name, last_by_subject=self.a)
        self.assertEqual((m.seq, m.payload), (5, b"m4"))
        C.assert_code(self, SC.NOT_FOUND, self.s.GetMessage, stream=self.name,
                      last_by_subject=self.subj("c"))
        C.assert_code(self, SC.NOT_FOUND, self.s.GetMessage, stream=self.name, seq=99)
        assert_invalid(self, self.s.GetMessage, "last_by_subject", stream=self.name,
                       last_by_subject=self.subj("*"))

    def test_live_read_gets_new_messages(self):
        call = self.s.read_call(self.name, start_seq=5, filter_subjects=[self.a])
        got = queue.Queue()

        def reader():
            try:
                for m in call:
                    got.put(m)
            except grpc.RpcError as e:
                got.put(e)

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        self.assertEqual(got.get(timeout=10).seq, 5)
        self.s.pub(self.b, "skip")  # 7: another subject
        self.s.pub(self.a, "live")  # 8
        m = got.get(timeout=10)
        self.assertEqual((m.seq, m.payload), (8, b"live"))
        call.cancel()
        t.join(timeout=10)


class WildcardTest(StreamsTest):
    """Matching edge cases end to end: what a stream captures and what a filter selects."""

    def test_capture(self):
        r = self.subj()
        name = self.n()
        self.s.stream(name, [r + ".*.x", r + ".y.*.*.>"])  # disjoint: 3 tokens, 5 or more
        captured = [r + ".a.x", r + ".y.x", r + ".-.x", r + ".y.a.b.c", r + ".y.a.b.c.d.e"]
        refused = [r + ".a.b.x", r + ".y", r + ".y.a.b", r + ".a.x.z", r + ".x", r,
                   r + ".Y.a.b.c"]  # tokens compare bytewise
        for sub in captured:
            self.assertEqual(self.s.pub(sub, "x").stream, name, sub)
        for sub in refused:
            C.assert_code(self, SC.FAILED_PRECONDITION, self.s.pub, sub, "x")
        self.assertEqual(self.s.state(name).messages, len(captured))

    def test_filters_select(self):
        r = self.subj()
        name = self.n()
        self.s.stream(name, [r + ".>"])
        subs = [r + ".a", r + ".a.b", r + ".a.b.c", r + ".b.b", r + ".ab"]
        for sub in subs:
            self.s.pub(sub, "x")

        def read(*filters):
            return [m.subject for m in self.s.read(name, start_seq=1, end_seq=len(subs),
                                                   filter_subjects=list(filters))]
        self.assertEqual(read(r + ".a"), [r + ".a"])
        self.assertEqual(read(r + ".a.*"), [r + ".a.b"])
        self.assertEqual(read(r + ".a.>"), [r + ".a.b", r + ".a.b.c"])
        self.assertEqual(read(r + ".*.b"), [r + ".a.b", r + ".b.b"])
        self.assertEqual(read(r + ".*"), [r + ".a", r + ".ab"])
        self.assertEqual(read(r + ".>"), subs)
        self.assertEqual(read(r + ".a", r + ".b.*"), [r + ".a", r + ".b.b"])


if __name__ == "__main__":
    unittest.main()
