"""Issue 15 item 2: partitioned streams (StreamConfig.partitions; docs/semantics.md "Partitioned
streams") with grpcio against a real ringqd with 3 shards - each subject goes to the member its
hash picks (member = XXH3(subject) mod partitions), stream sequences encode the member
((member seq - 1) * partitions + member + 1) and rise strictly per subject, a batch spanning
members is split and answered in order, GetStream sums the members, GetMessage and Purge reach
the right members, Read merges the members in publish-time order (live, resumable), a durable consumer draws from every
member with Fetch and with a Consume stream, its acks go back to the member of each sequence, it resumes per member
after kill -9, /metrics has one series per member, bad configurations are refused, and what is
not supported on a partitioned stream says so (FAILED_PRECONDITION)."""
import signal
import unittest

import json

import ringq_client as C
import test_streams_cli as TC
import test_streams_server as TS
from ringq_client import DataDirTest
from stream_client import S, SC, ConsumeStream, Streams, StreamsTest, assert_invalid, msg, now_ms

NPARTS = 16  # ringqd's partitions (the default)


def member(subject, parts):
    return C.partition_of(subject, parts)  # XXH3-64(subject) mod parts, as q_subject_hash


def split(seq, parts):
    """A stream sequence as (member, member sequence)."""
    return (seq - 1) % parts, (seq - 1) // parts + 1


def member_of_seq(seq, parts):
    return split(seq, parts)[0]


def subjects_over_members(root, parts, per_member=2):
    """Subjects root.sN such that every member holds `per_member` of them."""
    out, have = [], [0] * parts
    for i in range(10000):
        subj = f"{root}.s{i}"
        k = member(subj, parts)
        if have[k] < per_member:
            have[k] += 1
            out.append(subj)
        if all(h == per_member for h in have):
            return out
    raise AssertionError("subjects do not spread over the members")


class PartitionedStreamTest(StreamsTest):

    @classmethod
    def setUpClass(cls):
        cls.srv = C.start_ringqd(threads=3)
        cls.ch = cls.srv.channel()
        cls.s = Streams(cls.ch)
        cls.c = C.Client(cls.ch)

    def make(self, parts=4, **cfg):
        name, root = self.n(), self.subj()
        info = self.s.stream(name, [root + ".>"], partitions=parts, **cfg)
        return name, root, info

    def test_bad_configuration_refused(self):
        name, a = self.n(), self.subj("a")
        assert_invalid(self, self.s.stream, "partitions", name, [a], partitions=0)
        assert_invalid(self, self.s.stream, "partitions", name, [a], partitions=65)
        assert_invalid(self, self.s.stream, "partitions", name, [a], partitions=NPARTS + 1)
        self.s.stream(name, [a], partitions=4)
        C.assert_code(self, SC.FAILED_PRECONDITION, self.s.UpdateStream,
                      config=S.StreamConfig(name=name, subjects=[a], partitions=2),
                      contains="partitions")
        C.assert_code(self, SC.FAILED_PRECONDITION, self.s.UpdateStream,
                      config=S.StreamConfig(name=name, subjects=[a], partitions=1),
                      contains="partitions")
        C.assert_code(self, SC.ALREADY_EXISTS, self.s.stream, name, [a], partitions=8)
        # Absent on UpdateStream keeps it; the new limits reach every member.
        info = self.s.UpdateStream(config=S.StreamConfig(name=name, subjects=[a], max_msgs=7))
        self.assertEqual((info.config.partitions, info.config.max_msgs), (4, 7))
        # A pinned stream cannot become partitioned.
        pinned, b = self.n("p"), self.subj("b")
        self.s.stream(pinned, [b])
        C.assert_code(self, SC.FAILED_PRECONDITION, self.s.UpdateStream,
                      config=S.StreamConfig(name=pinned, subjects=[b], partitions=4),
                      contains="partitions")
        # A partitioned stream's subjects overlap others' like any stream's.
        C.assert_code(self, SC.FAILED_PRECONDITION, self.s.stream, self.n("o"), [a],
                      partitions=2, contains="overlap")

    def test_create_reports_members_and_pinned_is_unchanged(self):
        name, root, info = self.make(4)
        home = C.partition_of(name)
        self.assertEqual(info.config.partitions, 4)
        self.assertTrue(info.config.HasField("partitions"))
        self.assertEqual(info.partition, home)
        self.assertEqual(list(info.member_partitions), [(home + k) % NPARTS for k in range(4)])
        self.assertEqual((info.state.messages, info.state.first_seq, info.state.last_seq),
                         (0, 1, 0))
        again = self.s.stream(name, [root + ".>"], partitions=4)
        self.assertEqual(again.created_unix_ms, info.created_unix_ms)
        pinned = self.s.stream(self.n("p"))  # its name is its subject
        self.assertFalse(pinned.config.HasField("partitions"))
        self.assertEqual(list(pinned.member_partitions), [])

    def test_publish_orders_each_subject_and_splits_batches(self):
        parts = 4
        name, root, _ = self.make(parts)
        subs = subjects_over_members(root, parts)
        sent = {s: [] for s in subs}
        for rnd in range(5):
            # one batch over every member: split, answered in the request's order
            batch = [msg(s, f"{s}:{rnd}") for s in subs]
            r = self.s.Publish(messages=batch)
            self.assertEqual(r.stream, name)
            self.assertEqual(len(r.acks), len(subs))
            for s, a in zip(subs, r.acks):
                k, _ = split(a.seq, parts)
                self.assertEqual(k, member(s, parts), f"{s} seq {a.seq}")
                self.assertEqual(a.receipt.partition,
                                 (C.partition_of(name) + k) % NPARTS)
                sent[s].append(a.seq)
            # and single messages, routed straight to their member
            for s in subs[:3]:
                sent[s] += self.s.seqs(s, f"{s}:single{rnd}")
        for s, seqs in sent.items():
            self.assertEqual(seqs, sorted(seqs), s)
            self.assertEqual(len(set(seqs)), len(seqs), s)
            got = [self.s.GetMessage(stream=name, seq=q).subject for q in seqs]
            self.assertEqual(got, [s] * len(seqs))
        last = self.s.GetMessage(stream=name, last_by_subject=subs[0])
        self.assertEqual((last.seq, last.payload), (sent[subs[0]][-1], f"{subs[0]}:single4".encode()))
        total = sum(len(v) for v in sent.values())
        info = self.s.GetStream(name=name, subjects_filter=root + ".>")
        st = info.state
        allseqs = sorted(q for v in sent.values() for q in v)
        self.assertEqual((st.messages, st.num_subjects), (total, len(subs)))
        self.assertEqual((st.first_seq, st.last_seq), (allseqs[0], allseqs[-1]))
        self.assertEqual({c.subject: c.messages for c in st.subjects},
                         {s: len(v) for s, v in sent.items()})
        self.assertEqual([c.subject for c in st.subjects], sorted(sent, key=str.encode))
        C.assert_code(self, SC.NOT_FOUND, self.s.GetMessage, stream=name, seq=allseqs[-1] + 4)
        listed = self.s.ListStreams(subject=root + ".>").streams
        self.assertEqual([x.config.name for x in listed], [name])
        self.assertEqual((listed[0].state.messages, listed[0].state.last_seq,
                          list(listed[0].member_partitions)),
                         (total, allseqs[-1], list(info.member_partitions)))

    def test_dedup_per_member_and_expectations(self):
        parts = 2
        name, root, _ = self.make(parts)
        a, b = subjects_over_members(root, parts, per_member=1)
        first = self.s.pub(a, "x", msg_id="id-1").acks[0]
        again = self.s.pub(a, "x", msg_id="id-1").acks[0]
        self.assertTrue(again.duplicate)
        self.assertEqual(again.seq, first.seq)
        # expected_last_subject_seq names stream sequences
        ok = self.s.pub(a, "y", expected_last_subject_seq=first.seq).acks[0]
        C.assert_code(self, SC.FAILED_PRECONDITION, self.s.pub, a, "z",
                      expected_last_subject_seq=first.seq, contains="wrong last subject")
        self.s.pub(b, "w", expected_last_subject_seq=0)
        self.assertGreater(ok.seq, first.seq)
        C.assert_code(self, SC.FAILED_PRECONDITION, self.s.pub, a, "z", expected_last_seq=1,
                      contains="expected_last_seq")

    def test_purge_every_member(self):
        parts = 4
        name, root, _ = self.make(parts)
        subs = subjects_over_members(root, parts)
        seqs = {}
        for rnd in range(3):
            for a, s in zip(self.s.Publish(messages=[msg(s, str(rnd)) for s in subs]).acks, subs):
                seqs.setdefault(s, []).append(a.seq)
        total = 3 * len(subs)
        self.assertEqual(self.s.PurgeStream(name=name, subject=subs[0]).purged, 3)
        cut = sorted(q for v in seqs.values() for q in v)[10]
        below = sum(1 for s, v in seqs.items() if s != subs[0] for q in v if q < cut)
        self.assertEqual(self.s.PurgeStream(name=name, up_to_seq=cut).purged, below)
        left = total - 3 - below
        self.assertEqual(self.s.state(name).messages, left)
        self.assertEqual(self.s.PurgeStream(name=name, subject=subs[1], keep=1).purged,
                         len([q for q in seqs[subs[1]] if q >= cut]) - 1)
        C.assert_code(self, SC.FAILED_PRECONDITION, self.s.PurgeStream, name=name, keep=1,
                      contains="partitioned")
        self.s.PurgeStream(name=name)
        st = self.s.state(name)
        self.assertEqual((st.messages, st.first_seq), (0, st.last_seq + 1))

    def test_durable_consumer_fetches_every_member(self):
        parts = 4
        name, root, _ = self.make(parts)
        subs = subjects_over_members(root, parts)
        for rnd in range(6):
            self.s.Publish(messages=[msg(s, f"{rnd}") for s in subs])
        total = 6 * len(subs)
        info = self.s.consumer(name, "c1", ack_wait_ms=30000)
        self.assertEqual(info.state.num_pending, total)
        got = self.s.fetch_all(name, "c1", total)
        self.assertEqual(len(got), total)
        self.assertEqual(len({d.message.seq for d in got}), total)
        per = {}
        for d in got:
            self.assertEqual(split(d.message.seq, parts)[0], member(d.message.subject, parts))
            per.setdefault(d.message.subject, []).append(d.message.seq)
        for s, q in per.items():
            self.assertEqual(q, sorted(q), s)  # each subject in publish order
        st = self.s.GetConsumer(stream=name, name="c1").state
        self.assertEqual((st.num_pending, st.num_ack_pending), (0, 0))
        self.assertEqual(self.s.fetch(name, "c1", n=5), [])
        # a waiting Fetch is answered by a publish to any member
        fut = self.s.future("Fetch", stream=name, consumer="c1", max_messages=5, wait_ms=20000)
        C.poll(lambda: self.s.GetConsumer(stream=name, name="c1").state.num_waiting > 0, 10,
               "the Fetch parks")
        seq = self.s.seqs(subs[-1], "late")[0]
        late = list(fut.result(timeout=10).deliveries)
        self.assertEqual([d.message.seq for d in late], [seq])
        res = self.s.ack(name, "c1", *late)
        self.assertEqual([(r.id, r.code) for r in res], [(str(seq), 0)])
        # a stale token and a sequence never delivered answer per item
        res = self.s.ack(name, "c1", *late)
        self.assertEqual(res[0].code, SC.NOT_FOUND.value[0])
        # max_messages bounds a Fetch over several members
        self.s.Publish(messages=[msg(s, "more") for s in subs])
        self.assertEqual(len(self.s.fetch(name, "c1", n=3)), 3)
        # Reset by sequence: every member from its first message at or after it
        r = self.s.ResetConsumer(stream=name, name="c1", seq=1)
        self.assertEqual(r.state.num_ack_pending, 0)
        self.assertEqual(len(self.s.fetch_all(name, "c1", total + 1 + len(subs))),
                         total + 1 + len(subs))
        self.s.consumer(name, "c0", filter_subjects=[subs[0]])
        listed = self.s.ListConsumers(stream=name).consumers
        self.assertEqual([c.config.name for c in listed], ["c0", "c1"])
        self.assertEqual(listed[0].state.num_pending, 7)  # subs[0]: 6 rounds + "more"
        self.assertEqual(listed[1].state, self.s.GetConsumer(stream=name, name="c1").state)
        self.s.PauseConsumer(stream=name, name="c1", until_unix_ms=2 ** 50)
        self.assertGreater(self.s.GetConsumer(stream=name, name="c1").state.paused_until_unix_ms,
                           0)
        self.s.DeleteConsumer(stream=name, name="c1")
        C.assert_code(self, SC.NOT_FOUND, self.s.GetConsumer, stream=name, name="c1")

    def test_unsupported_calls_say_so(self):
        parts = 2
        name, root, _ = self.make(parts)
        a, b = subjects_over_members(root, parts, per_member=1)
        self.s.pub(a, "x")
        self.s.consumer(name, "c")
        cs = ConsumeStream(self.ch)
        try:
            # (an ephemeral consumer made by the bind itself; CreateConsumer makes one)
            r = cs.bind(name, "", credits=1, ephemeral=S.ConsumerConfig())
            self.assertEqual(r.code, SC.FAILED_PRECONDITION.value[0])
            self.assertIn("partitioned", r.message)
        finally:
            cs.cancel()
        # PublishStream: a request spanning members is split too, answers in request order
        reqs = [S.PublishStreamRequest(request_id=1, publish=S.PublishRequest(
            messages=[msg(a, "1"), msg(b, "2"), msg(a, "3")])),
            S.PublishStreamRequest(request_id=2, publish=S.PublishRequest(messages=[msg(b, "4")])),
            S.PublishStreamRequest(request_id=3, publish=S.PublishRequest(
                messages=[msg(b, "5"), msg(a, "6", expected_last_seq=1)]))]
        out = list(self.s.publish_stream(reqs))
        self.assertEqual([(o.request_id, o.code) for o in out],
                         [(1, 0), (2, 0), (3, SC.FAILED_PRECONDITION.value[0])])
        seqs = [x.seq for x in out[0].publish.acks] + [out[1].publish.acks[0].seq]
        self.assertEqual([split(q, parts)[0] for q in seqs],
                         [member(s, parts) for s in (a, b, a, b)])
        self.assertLess(seqs[0], seqs[2])
        self.assertLess(seqs[1], seqs[3])
        self.assertEqual([self.s.GetMessage(stream=name, seq=q).payload for q in seqs],
                         [b"1", b"2", b"3", b"4"])

    def test_publish_stream_keeps_a_subjects_order_across_requests(self):
        # A split request (a, b) then a request on b alone, many times over, pipelined on one
        # PublishStream: b's messages must get increasing sequences in the order sent. The
        # request on b alone once went straight to b's shard and could overtake the split one,
        # which went through member 0's shard first.
        parts = 2
        name, root, _ = self.make(parts)
        a, b = subjects_over_members(root, parts, per_member=1)
        rounds = 150
        reqs = []
        for i in range(rounds):
            reqs.append(S.PublishStreamRequest(request_id=2 * i + 1, publish=S.PublishRequest(
                messages=[msg(a, f"a{i}"), msg(b, f"b{i}.0")])))
            reqs.append(S.PublishStreamRequest(request_id=2 * i + 2, publish=S.PublishRequest(
                messages=[msg(b, f"b{i}.1")])))
        out = list(self.s.publish_stream(reqs))
        self.assertEqual([(o.request_id, o.code) for o in out],
                         [(r.request_id, 0) for r in reqs])
        kb = member(b, parts)
        b_seqs = [x.seq for o in out for x in o.publish.acks if member_of_seq(x.seq, parts) == kb]
        self.assertEqual(len(b_seqs), 2 * rounds)
        self.assertEqual(b_seqs, sorted(b_seqs), "b's sequences out of the order sent")
        got = [self.s.GetMessage(stream=name, seq=q).payload for q in b_seqs[:6]]
        self.assertEqual(got, [b"b0.0", b"b0.1", b"b1.0", b"b1.1", b"b2.0", b"b2.1"])

    def test_consume_stream_draws_from_every_member(self):
        parts = 4
        name, root, _ = self.make(parts)
        subs = subjects_over_members(root, parts)
        for rnd in range(3):
            self.s.Publish(messages=[msg(s, f"{s}:{rnd}") for s in subs])
        total = 3 * len(subs)
        self.s.consumer(name, "cc", ack_wait_ms=30000)
        cs = ConsumeStream(self.ch)
        try:
            r = cs.bind(name, "cc", credits=5)
            self.assertEqual(r.code, 0, r.message)
            self.assertEqual((r.consumer.config.name, r.consumer.state.num_pending),
                             ("cc", total))
            got = cs.wait_deliveries(5)
            self.assertEqual(len(got), 5)  # the credits bound what every member sends
            self.assertEqual(cs.quiet_for(0.3), [])
            cs.credit(total)
            got = cs.wait_deliveries(total)
            self.assertEqual(len({d.message.seq for d in got}), total)
            per = {}
            for d in got:
                self.assertEqual(split(d.message.seq, parts)[0], member(d.message.subject, parts))
                per.setdefault(d.message.subject, []).append(d.message.seq)
            for s, q in per.items():
                self.assertEqual(q, sorted(q), s)
            res = cs.ack_wait(*got)
            self.assertEqual([(x.id, x.code) for x in res.results],
                             [(str(d.message.seq), 0) for d in got])
            st = self.s.GetConsumer(stream=name, name="cc").state
            self.assertEqual((st.num_pending, st.num_ack_pending, st.clients), (0, 0, 1))
            seq = self.s.seqs(subs[-1], "live")[0]
            live = cs.wait_deliveries(total + 1)[total:]
            self.assertEqual([d.message.seq for d in live], [seq])
        finally:
            cs.cancel()
        C.poll(lambda: self.s.GetConsumer(stream=name, name="cc").state.clients == 0, 10,
               "the members let the session go")

    def publish_rounds(self, subs, rounds):
        """Publishes one message per subject per round, rounds in distinct milliseconds (the
        next starts once the clock moved on), each round's subjects in a new order, so the
        members' messages interleave in time."""
        for rnd in range(rounds):
            t = now_ms()
            order = subs[rnd % len(subs):] + subs[:rnd % len(subs)]
            for s in order:
                self.s.pub(s, f"{s}:{rnd}")
            C.poll(lambda: now_ms() > t, 5, "the next millisecond")

    def assert_merged(self, got, parts):
        """Publish-time order (unix_ms, then member), each member in its own order."""
        keys = [(m.unix_ms, split(m.seq, parts)[0]) for m in got]
        self.assertEqual(keys, sorted(keys), "not in (unix_ms, member) order")
        for k in range(parts):
            q = [m.seq for m in got if split(m.seq, parts)[0] == k]
            self.assertEqual(q, sorted(q))

    def test_read_merges_members_in_publish_time_order(self):
        parts = 4
        name, root, _ = self.make(parts)
        subs = subjects_over_members(root, parts)
        t0 = now_ms()
        self.publish_rounds(subs, 4)
        total = 4 * len(subs)
        last = max(self.s.GetMessage(stream=name, last_by_subject=s).seq for s in subs)
        got = self.s.read(name, start_seq=1, end_seq=last)
        self.assertEqual(len(got), total)
        self.assert_merged(got, parts)
        self.assertGreater(len({split(m.seq, parts)[0] for m in got[:len(subs)]}), 1,
                           "the first round is not from several members")
        per = {}
        for m in got:
            self.assertEqual(split(m.seq, parts)[0], member(m.subject, parts))
            per.setdefault(m.subject, []).append(m.payload.decode())
        self.assertEqual(per, {s: [f"{s}:{r}" for r in range(4)] for s in subs})
        cut = sorted(m.seq for m in got)[total // 2]
        self.assertEqual(sorted(m.seq for m in self.s.read(name, start_seq=cut, end_seq=last)),
                         sorted(m.seq for m in got if m.seq >= cut))
        self.assertEqual(sorted(m.seq for m in self.s.read(name, start_seq=1, end_seq=cut)),
                         sorted(m.seq for m in got if m.seq <= cut))
        self.assertEqual(self.s.read(name, start_seq=1, max_messages=5), got[:5])
        self.assertEqual(self.s.read(name, start_unix_ms=t0, end_seq=last), got)
        self.assertEqual(self.s.read(name, start_unix_ms=now_ms() + 60000, end_seq=last), [])
        only = self.s.read(name, start_seq=1, end_seq=last, filter_subjects=[subs[1]])
        self.assertEqual([m.subject for m in only], [subs[1]] * 4)

    def test_read_cut_short_resumes_after_its_last_message(self):
        parts = 3
        name, root, _ = self.make(parts)
        subs = subjects_over_members(root, parts, per_member=3)
        # Two publishes per round in the same millisecond on most members: ties to resume over.
        self.publish_rounds(subs, 3)
        last = max(self.s.GetMessage(stream=name, last_by_subject=s).seq for s in subs)
        whole = self.s.read(name, start_seq=1, end_seq=last)
        self.assertEqual(len(whole), 3 * len(subs))
        for step in (1, 4, 7):
            got = self.s.read(name, start_seq=1, end_seq=last, max_messages=step)
            while len(got) < len(whole):
                more = self.s.read(name, start_unix_ms=got[-1].unix_ms, after_seq=got[-1].seq,
                                   end_seq=last, max_messages=step)
                self.assertTrue(more, f"resume after {got[-1].seq} ended early")
                got += more
            self.assertEqual([m.seq for m in got], [m.seq for m in whole], f"step {step}")
        assert_invalid(self, lambda: self.s.read(name, start_seq=1, after_seq=whole[0].seq,
                                                 end_seq=last), "after_seq")

    def test_read_live_follows_every_member(self):
        parts = 3
        name, root, _ = self.make(parts)
        subs = subjects_over_members(root, parts, per_member=1)
        self.publish_rounds(subs, 2)
        call = self.s.read_call(name, start_seq=1, timeout=30)
        try:
            it = iter(call)
            got = [next(it) for _ in range(2 * len(subs))]
            self.assert_merged(got, parts)
            # Live: each member's new messages come as they are published, in order.
            for rnd in range(2, 5):
                for s in reversed(subs):
                    self.s.pub(s, f"{s}:{rnd}")
                    m = next(it)
                    self.assertEqual((m.subject, m.payload.decode()), (s, f"{s}:{rnd}"))
                    got.append(m)
            self.assert_merged(got, parts)
        finally:
            call.cancel()

    def test_consumer_figures_are_the_whole_consumers(self):
        parts = 3
        name, root, _ = self.make(parts)
        subs = subjects_over_members(root, parts, per_member=2)
        self.publish_rounds(subs, 2)
        seqs = sorted(self.s.GetMessage(stream=name, last_by_subject=s).seq for s in subs)
        start = next(q for q in seqs if split(q, parts)[0] != 0)  # not member 0's
        info = self.s.consumer(name, "fig", deliver_policy=S.DELIVER_POLICY_BY_START_SEQUENCE,
                               opt_start_seq=start)
        self.assertEqual(info.config.opt_start_seq, start)  # the request's, not a member's own
        self.assertEqual(self.s.GetConsumer(stream=name, name="fig").config.opt_start_seq, start)
        listed = [c for c in self.s.ListConsumers(stream=name).consumers
                  if c.config.name == "fig"]
        self.assertEqual([c.config.opt_start_seq for c in listed], [start])
        want = self.s.GetConsumer(stream=name, name="fig").state.num_pending
        got = self.s.fetch_all(name, "fig", want, ack=False)
        self.assertEqual(len(got), want)
        self.assertTrue(all(d.message.seq >= start for d in got))
        cseqs = [d.consumer_seq for d in got]
        self.assertEqual(len(set(cseqs)), len(cseqs), "a consumer sequence twice")
        for d in got:  # a member's consumer sequences, joined as its stream sequences
            self.assertEqual(split(d.consumer_seq, parts)[0], split(d.message.seq, parts)[0])
        st = self.s.GetConsumer(stream=name, name="fig").state
        self.assertEqual(st.delivered_consumer_seq, max(cseqs))
        self.assertEqual(st.num_ack_pending, len(got))

    def members_with(self, name, consumer):
        """The members with a ringq_consumer_pending series of consumer (from /metrics)."""
        text = TS.metrics(self.srv.addr)
        pre = f'ringq_consumer_pending{{stream="{name}",consumer="{consumer}",member="'
        return sorted(int(ln[len(pre):].split('"')[0]) for ln in text.splitlines()
                      if ln.startswith(pre))

    def test_ephemeral_consumer_is_one_set_expired_once(self):
        parts = 3
        name, root, _ = self.make(parts)
        subs = subjects_over_members(root, parts, per_member=1)
        self.s.Publish(messages=[msg(s, s) for s in subs])
        info = self.s.consumer(name, ephemeral=True, inactive_threshold_ms=1000)
        eph = info.config.name
        self.assertTrue(eph.startswith("eph-"), eph)
        self.assertEqual(self.members_with(name, eph), list(range(parts)))  # one name on all
        self.assertEqual([c.config.name for c in self.s.ListConsumers(stream=name).consumers],
                         [eph])
        got = self.s.fetch_all(name, eph, len(subs))
        self.assertEqual(sorted(d.message.subject for d in got), sorted(subs))
        # Fetches (each waiting up to 300 ms on the server) for three thresholds: member 0 hears
        # of every one, so no member goes, whichever member a Fetch starts with.
        t_end = now_ms() + 3000
        while now_ms() < t_end:
            self.assertEqual(self.s.fetch(name, eph, n=1, wait_ms=300), [])
            self.assertEqual(self.members_with(name, eph), list(range(parts)))
        # Idle: it goes once, from every member together.
        C.poll(lambda: self.members_with(name, eph) == [], 10, "the set to expire")
        C.assert_code(self, SC.NOT_FOUND, self.s.GetConsumer, stream=name, name=eph)
        named = self.s.consumer(name, "mine", ephemeral=True, inactive_threshold_ms=1000)
        self.assertEqual(named.config.name, "mine")
        self.assertEqual(self.members_with(name, "mine"), list(range(parts)))
        self.s.DeleteConsumer(stream=name, name="mine")
        self.assertEqual(self.members_with(name, "mine"), [])

    def test_metrics_one_series_per_member(self):
        parts = 2
        name, root, _ = self.make(parts)
        a, b = subjects_over_members(root, parts, per_member=1)
        self.s.pub(a, "x")
        self.s.pub(b, "y", "z")
        self.s.consumer(name, "m")
        text = TS.metrics(self.srv.addr)
        series = [ln.split(" ")[0] for ln in text.splitlines() if ln and ln[0] != "#"]
        self.assertEqual(len(series), len(set(series)), "a series twice")
        got = {k: TS.sample(text, "ringq_stream_messages", f'stream="{name}",member="{k}"')
               for k in range(parts)}
        self.assertEqual(got, {member(a, parts): 1.0, member(b, parts): 2.0})
        self.assertIsNotNone(TS.sample(text, "ringq_consumer_pending",
                                       f'stream="{name}",consumer="m",member="1"'))

    def test_cli_creates_and_shows_a_partitioned_stream(self):
        name, root = self.n(), self.subj()
        rc, out, err = TC.run_ringq(self.srv.addr, "--json", "stream", "create", name,
                                    "--subjects", root + ".>", "--partitions", "3")
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["config"]["partitions"], 3)
        self.assertEqual(self.s.GetStream(name=name).config.partitions, 3)
        rc, out, err = TC.run_ringq(self.srv.addr, "stream", "info", name)
        self.assertIn("partitions:", out)
        subs = subjects_over_members(root, 3, per_member=1)
        self.s.Publish(messages=[msg(s, s) for s in subs])
        rc, out, err = TC.run_ringq(self.srv.addr, "--json", "stream", "read", name)
        self.assertEqual(rc, 0, err)  # --to last (the default): it ends
        got = [json.loads(line) for line in out.splitlines()]
        self.assertEqual(sorted(m["subject"] for m in got), sorted(subs))
        rc, out, err = TC.run_ringq(self.srv.addr, "--json", "stream", "info", self.n("none"))
        self.assertNotEqual(rc, 0)
        pinned = self.n("p")
        rc, out, err = TC.run_ringq(self.srv.addr, "--json", "stream", "create", pinned)
        self.assertEqual((rc, json.loads(out)["config"]["partitions"]), (0, 1), err)
        rc, out, err = TC.run_ringq(self.srv.addr, "stream", "create", self.n("z"),
                                    "--partitions", "0")
        self.assertEqual(rc, 2, err)  # a usage error: partitions are 1..

    def test_delete_frees_the_name_on_every_member(self):
        name, root, _ = self.make(4)
        subs = subjects_over_members(root, 4, per_member=1)
        self.s.Publish(messages=[msg(s, "x") for s in subs])
        self.s.DeleteStream(name=name)
        C.assert_code(self, SC.NOT_FOUND, self.s.GetStream, name=name)
        info = self.s.stream(name, [root + ".>"], partitions=2)
        self.assertEqual((info.state.messages, info.state.last_seq, info.config.partitions),
                         (0, 0, 2))
        names = [x.config.name for x in self.s.ListStreams(page_size=1000).streams]
        self.assertEqual(names.count(name), 1)


class PartitionedReadFsyncNeverTest(StreamsTest):
    """The merged Read where a publish wakes parked reads at once (no commit in between)."""

    @classmethod
    def setUpClass(cls):
        cls.srv = C.start_ringqd("--fsync", "never", threads=3)
        cls.ch = cls.srv.channel()
        cls.s = Streams(cls.ch)
        cls.c = C.Client(cls.ch)

    make = PartitionedStreamTest.make
    publish_rounds = PartitionedStreamTest.publish_rounds
    assert_merged = PartitionedStreamTest.assert_merged
    test_read_live_follows_every_member = PartitionedStreamTest.test_read_live_follows_every_member
    test_read_cut_short_resumes_after_its_last_message = \
        PartitionedStreamTest.test_read_cut_short_resumes_after_its_last_message


class PartitionedRestartTest(DataDirTest):
    TMP_PREFIX = "ringq-streams-parts-"

    def start(self):
        self.srv = C.start_ringqd(threads=3, data_dir=self.data)
        self.ch = self.srv.channel()
        self.s = Streams(self.ch)
        return self.s

    def test_durable_consumer_resumes_per_member_after_kill(self):
        parts = 4
        s = self.start()
        s.stream("ev", ["ev.>"], partitions=parts)
        subs = subjects_over_members("ev", parts, per_member=2)
        for rnd in range(5):
            s.Publish(messages=[msg(x, f"{x}:{rnd}") for x in subs])
        total = 5 * len(subs)
        s.consumer("ev", "c1", ack_wait_ms=500)
        acked = s.fetch_all("ev", "c1", total // 2)           # acked
        held = s.fetch("ev", "c1", n=5)                        # delivered, not acked
        before = s.GetStream(name="ev")
        self.ch.close()
        self.srv.proc.send_signal(signal.SIGKILL)
        self.srv.proc.wait()
        self.srv.close()
        s = self.start()
        after = s.GetStream(name="ev")
        self.assertEqual(after.config, before.config)
        self.assertEqual((after.state.messages, after.state.first_seq, after.state.last_seq),
                         (before.state.messages, before.state.first_seq, before.state.last_seq))
        self.assertEqual(list(after.member_partitions), list(before.member_partitions))
        self.assertEqual((after.config.partitions, len(after.member_partitions)), (parts, parts))
        rest = s.fetch_all("ev", "c1", total - len(acked))
        acked_seqs = {d.message.seq for d in acked}
        rest_seqs = {d.message.seq for d in rest}
        self.assertFalse(acked_seqs & rest_seqs, "an acked message came again")
        self.assertEqual(acked_seqs | rest_seqs, {d.message.seq for d in acked + rest})
        self.assertEqual(len(acked_seqs | rest_seqs), total)
        self.assertTrue({d.message.seq for d in held} <= rest_seqs)
        for d in acked + rest:  # each from its subject's member, before and after the kill
            self.assertEqual(split(d.message.seq, parts)[0], member(d.message.subject, parts))
        self.assertEqual(s.fetch("ev", "c1", n=10, wait_ms=300), [])
        # sequences continue per member after the restart
        seq = s.seqs(subs[0], "after")[0]
        self.assertGreater(seq, max(q for q in acked_seqs | rest_seqs
                                    if split(q, parts)[0] == member(subs[0], parts)))
        code, log = C.stop(self.srv, self.ch)
        self.srv, self.ch = None, None
        self.assertEqual(code, 0, log)


if __name__ == "__main__":
    unittest.main()
