"""Issue 15: the stream calls of ringq.v1.Streams with grpcio against a real ringqd -
CreateStream (idempotent, ALREADY_EXISTS, overlapping subjects refused, the name as the default
subject, the partition q_part_of picks), UpdateStream, GetStream with per-subject counts,
ListStreams (name order, pages, by subject), DeleteStream, PurgeStream (all, a subject, up to a
sequence, keep N), and bad input for every StreamConfig field: INVALID_ARGUMENT naming the field
(docs/semantics.md "Streams")."""
import unittest

import ringq_client as C
from stream_client import S, SC, StreamsTest, assert_invalid


class StreamAdminTest(StreamsTest):

    def test_create_is_idempotent_and_reports_config_and_partition(self):
        name, a = self.n(), self.subj("a")
        info = self.s.stream(name, [a + ".>"], max_msgs=100, description="orders")
        self.assertEqual(info.config.name, name)
        self.assertEqual(list(info.config.subjects), [a + ".>"])
        self.assertEqual(info.config.max_msgs, 100)
        self.assertEqual(info.config.description, "orders")
        self.assertEqual(info.config.duplicate_window_ms, 120000)  # the default: 2 min
        self.assertEqual(info.partition, C.partition_of(name))
        self.assertEqual(info.state.messages, 0)
        self.assertEqual(info.state.first_seq, info.state.last_seq + 1)
        again = self.s.stream(name, [a + ".>"], max_msgs=100, description="orders")
        self.assertEqual(again.created_unix_ms, info.created_unix_ms)
        C.assert_code(self, SC.ALREADY_EXISTS, self.s.stream, name, [a + ".>"], max_msgs=5)

    def test_name_is_the_subject_by_default(self):
        name = self.n()
        self.s.stream(name)
        r = self.s.pub(name, "x")
        self.assertEqual(r.stream, name)
        self.assertEqual([k.seq for k in r.acks], [1])

    def test_overlapping_subjects_of_two_streams_refused(self):
        a = self.subj("a")
        self.s.stream(self.n("1"), [a + ".*"])
        # Many names, so some land on another partition and shard than the first stream.
        for i, f in enumerate([a + ".x", a + ".>", self.subj(">"), a + ".*", a + ".*.y"]):
            if f == a + ".*.y":
                self.s.stream(self.n(f"ok{i}"), [f])  # disjoint: one token more
                continue
            C.assert_code(self, SC.FAILED_PRECONDITION, self.s.stream, self.n(f"x{i}"), [f],
                          contains="overlap")

    def test_update_limits_apply_at_once_retention_cannot_change(self):
        name, a = self.n(), self.subj("a")
        self.s.stream(name, [a])
        self.s.pub(a, *[str(i) for i in range(10)])
        info = self.s.UpdateStream(config=S.StreamConfig(name=name, subjects=[a], max_msgs=4))
        self.assertEqual(info.config.max_msgs, 4)
        st = self.s.state(name)
        self.assertEqual((st.messages, st.first_seq, st.last_seq), (4, 7, 10))
        C.assert_code(self, SC.FAILED_PRECONDITION, self.s.UpdateStream,
                      config=S.StreamConfig(name=name, subjects=[a],
                                            retention=S.RETENTION_WORK_QUEUE),
                      contains="retention")
        C.assert_code(self, SC.NOT_FOUND, self.s.UpdateStream,
                      config=S.StreamConfig(name=self.n("none"), subjects=[self.subj("z")]))

    def test_get_with_subject_counts(self):
        name = self.n()
        self.s.stream(name, [self.subj(">")])
        self.s.pub(self.subj("a", "1"), "x", "y")
        self.s.pub(self.subj("a", "2"), "x")
        self.s.pub(self.subj("b"), "x")
        info = self.s.GetStream(name=name, subjects_filter=self.subj("a", "*"))
        self.assertEqual(info.state.messages, 4)
        self.assertEqual(info.state.num_subjects, 3)
        self.assertEqual([(x.subject, x.messages) for x in info.state.subjects],
                         [(self.subj("a", "1"), 2), (self.subj("a", "2"), 1)])
        self.assertEqual(len(self.s.GetStream(name=name).state.subjects), 0)
        C.assert_code(self, SC.NOT_FOUND, self.s.GetStream, name=self.n("none"))

    def test_list_in_name_order_by_pages_and_by_subject(self):
        prefix = self.n()
        names = [f"{prefix}-{c}" for c in "dbeac"]
        for i, nm in enumerate(names):
            self.s.stream(nm, [self.subj(str(i))])
        seen, tok = [], ""
        while True:
            page = self.s.ListStreams(page_size=2, page_token=tok)
            self.assertLessEqual(len(page.streams), 2)
            seen += [x.config.name for x in page.streams]
            tok = page.next_page_token
            if not tok:
                break
        self.assertEqual(seen, sorted(seen))
        self.assertEqual([x for x in seen if x.startswith(prefix)], sorted(names))
        one = self.s.ListStreams(subject=self.subj("3"))
        self.assertEqual([x.config.name for x in one.streams], [names[3]])
        self.assertEqual(len(self.s.ListStreams(subject=self.subj("none")).streams), 0)

    def test_delete_removes_messages_consumers_and_frees_the_subjects(self):
        name, a = self.n(), self.subj("a")
        self.s.stream(name, [a])
        self.s.pub(a, "x")
        self.s.consumer(name, "c1")
        self.s.DeleteStream(name=name)
        C.assert_code(self, SC.NOT_FOUND, self.s.GetStream, name=name)
        C.assert_code(self, SC.NOT_FOUND, self.s.GetConsumer, stream=name, name="c1")
        C.assert_code(self, SC.FAILED_PRECONDITION, self.s.pub, a, "y", contains="stream")
        C.assert_code(self, SC.NOT_FOUND, self.s.DeleteStream, name=name)
        info = self.s.stream(name, [a])  # the name and subjects are free again
        self.assertEqual(info.state.messages, 0)

    def test_purge_all_subject_up_to_and_keep(self):
        name = self.n()
        self.s.stream(name, [self.subj(">")])
        a, b = self.subj("a"), self.subj("b")
        for i in range(5):
            self.s.pub(a, f"a{i}")
            self.s.pub(b, f"b{i}")  # a: 1 3 5 7 9, b: 2 4 6 8 10
        self.assertEqual(self.s.PurgeStream(name=name, subject=b, keep=2).purged, 3)
        self.assertEqual(self.s.PurgeStream(name=name, up_to_seq=4).purged, 2)  # a1, a3
        left = [m.seq for m in self.s.read(name, start_seq=1, end_seq=10)]
        self.assertEqual(left, [5, 7, 8, 9, 10])
        self.assertEqual(self.s.PurgeStream(name=name, subject=a).purged, 3)
        self.assertEqual(self.s.PurgeStream(name=name).purged, 2)
        st = self.s.state(name)
        self.assertEqual((st.messages, st.first_seq, st.last_seq), (0, 11, 10))
        # sequences are never reused after a purge
        self.assertEqual(self.s.seqs(a, "next"), [11])
        assert_invalid(self, self.s.PurgeStream, "keep", name=name, up_to_seq=3, keep=1)
        C.assert_code(self, SC.NOT_FOUND, self.s.PurgeStream, name=self.n("none"))


class StreamConfigBadInputTest(StreamsTest):
    """Each StreamConfig field, wrong: INVALID_ARGUMENT with a message naming it."""

    def bad(self, field, **cfg):
        cfg.setdefault("name", self.n())
        if "subjects" not in cfg:
            cfg["subjects"] = [self.subj("x")]
        assert_invalid(self, self.s.CreateStream, field, config=S.StreamConfig(**cfg))

    def test_name(self):
        for bad in ["", "a.b", "a b", "a*", "x" * 129, "caf\u00e9", "a>"]:
            self.bad("name", name=bad)
        self.s.stream("x" * 128, [self.subj("long")])  # 128 is the limit

    def test_subjects(self):
        for bad in ["", "a..b", ".a", "a.", "a.>.b", "a.b*", "a>", "*a.b", "a.\x01",
                    "x" * 257]:
            self.bad("subjects", subjects=[bad])
        self.bad("subjects", subjects=[self.subj(str(i)) for i in range(17)])
        self.bad("subjects", subjects=[self.subj("a", "*"), self.subj("a", "b")])  # overlap

    def test_enums_and_limits(self):
        self.bad("retention", retention=99)
        self.bad("discard", discard=99)
        self.bad("duplicate_window", duplicate_window_ms=7 * 86400000 + 1)
        self.bad("description", description="d" * 1025)
        self.bad("max_msg_size", max_msg_size=2 ** 32 - 1)

    def test_missing_config(self):
        assert_invalid(self, self.s.CreateStream, "config", S.CreateStreamRequest())


if __name__ == "__main__":
    unittest.main()
