"""Issue 15: consumers with grpcio against a real ringqd - CreateConsumer / Get / List / Delete,
ephemeral consumers and their inactivity threshold, deliver policies (all, last, new,
by_start_sequence, by_start_time, last_per_subject), ack policies (explicit, all, none), ack wait
redelivery, naks with delays and backoff, in-progress, term, max_deliver, max_ack_pending,
Pause / Reset, headers_only, the rate limit (roughly), Fetch long-poll, AckMessages with stale
tokens refused, the Consume stream (credits, acks, several streams sharing one consumer),
interest and work-queue retention, and bad input for every ConsumerConfig and Acks field
(docs/semantics.md "Streams"). Time-based rules use short durations and poll; nothing sleeps
for synchronisation."""
import time
import unittest

import ringq_client as C
from stream_client import (S, SC, ConsumeStream, StreamsTest, assert_invalid, msg,  # noqa: F401
                           now_ms)


class ConsumerTest(StreamsTest):

    def mk(self, n_msgs=0, tag="", **scfg):
        """A stream capturing <root>.* with n_msgs messages on <root>.a (payloads m0, m1, ...);
        returns (stream, subject)."""
        name, a = self.n(tag), self.subj("a")
        self.s.stream(name, [self.subj("*")], **scfg)
        if n_msgs:
            self.s.pub(a, *[f"m{i}" for i in range(n_msgs)])
        return name, a

    def after(self, st, seq):
        """A time after message `seq` was stored, once the clock has passed it: messages
        published from now on are stored at or after it, `seq` and those before it are not."""
        t = self.s.GetMessage(stream=st, seq=seq).unix_ms + 1
        C.poll(lambda: now_ms() > t, 5, "the clock to pass the message's time")
        return t

    # ---- life cycle ----

    def test_create_idempotent_get_list_delete(self):
        st, _ = self.mk(3)
        info = self.s.consumer(st, "dur", ack_wait_ms=5000, description="d")
        self.assertEqual((info.stream, info.config.name), (st, "dur"))
        self.assertEqual(info.config.ack_wait_ms, 5000)
        self.assertEqual(info.state.num_pending, 3)
        self.assertEqual(self.s.consumer(st, "dur", ack_wait_ms=5000,
                                         description="d").created_unix_ms,
                         info.created_unix_ms)
        C.assert_code(self, SC.ALREADY_EXISTS, self.s.consumer, st, "dur", ack_wait_ms=6000)
        for nm in ("c", "a", "b"):
            self.s.consumer(st, nm)
        names = [c.config.name for c in self.s.ListConsumers(stream=st).consumers]
        self.assertEqual(names, ["a", "b", "c", "dur"])
        page = self.s.ListConsumers(stream=st, page_size=3)
        self.assertEqual(len(page.consumers), 3)
        rest = self.s.ListConsumers(stream=st, page_size=3, page_token=page.next_page_token)
        self.assertEqual([c.config.name for c in rest.consumers], ["dur"])
        self.assertEqual(self.s.GetStream(name=st).state.consumers, 4)
        self.s.DeleteConsumer(stream=st, name="b")
        C.assert_code(self, SC.NOT_FOUND, self.s.GetConsumer, stream=st, name="b")
        C.assert_code(self, SC.NOT_FOUND, self.s.DeleteConsumer, stream=st, name="b")
        C.assert_code(self, SC.NOT_FOUND, self.s.consumer, self.n("none"), "x")

    def test_ephemeral_gets_a_name_and_goes_when_inactive(self):
        st, _ = self.mk(1)
        info = self.s.consumer(st, "", ephemeral=True, inactive_threshold_ms=1000)
        name = info.config.name
        self.assertTrue(name)
        self.assertTrue(info.config.ephemeral)
        self.assertEqual(len(self.s.fetch(st, name)), 1)
        C.poll(lambda: self._gone(st, name), 15,
               "the ephemeral consumer to go after its inactive threshold")

    def _gone(self, st, name):
        try:
            self.s.GetConsumer(stream=st, name=name)
            return False
        except C.grpc.RpcError as e:
            self.assertEqual(e.code(), SC.NOT_FOUND, e.details())
            return True

    # ---- deliver policies ----

    def test_deliver_policies(self):
        st, a = self.mk(4)
        b = self.subj("b")
        self.s.pub(b, "b0")  # 5
        t_mid = self.after(st, 5)
        self.s.pub(a, "m4")  # 6
        self.s.pub(b, "b1")  # 7

        def first(**cfg):
            nm = self.n("c")
            self.s.consumer(st, nm, **cfg)
            return [d.message.seq for d in self.s.fetch(st, nm, n=100)]
        self.assertEqual(first(), [1, 2, 3, 4, 5, 6, 7])
        self.assertEqual(first(deliver_policy=S.DELIVER_POLICY_ALL), [1, 2, 3, 4, 5, 6, 7])
        self.assertEqual(first(deliver_policy=S.DELIVER_POLICY_LAST), [7])
        self.assertEqual(first(deliver_policy=S.DELIVER_POLICY_LAST, filter_subjects=[a]), [6])
        self.assertEqual(first(deliver_policy=S.DELIVER_POLICY_BY_START_SEQUENCE,
                               opt_start_seq=5), [5, 6, 7])
        self.assertEqual(first(deliver_policy=S.DELIVER_POLICY_BY_START_TIME,
                               opt_start_unix_ms=t_mid), [6, 7])
        self.assertEqual(first(deliver_policy=S.DELIVER_POLICY_LAST_PER_SUBJECT), [6, 7])
        new = self.n("new")
        self.s.consumer(st, new, deliver_policy=S.DELIVER_POLICY_NEW)
        self.assertEqual(self.s.fetch(st, new, n=10), [])
        self.s.pub(a, "after")  # 8
        self.assertEqual([d.message.seq for d in self.s.fetch(st, new, n=10)], [8])
        lps = self.n("lps")
        self.s.consumer(st, lps, deliver_policy=S.DELIVER_POLICY_LAST_PER_SUBJECT)
        self.s.pub(b, "b2")  # 9: then the new ones
        self.assertEqual([d.message.seq for d in self.s.fetch(st, lps, n=10)], [7, 8, 9])

    def test_filters(self):
        st, a = self.mk(2)
        b, c = self.subj("b"), self.subj("c")
        self.s.pub(b, "b")
        self.s.pub(c, "c")
        self.s.consumer(st, "bc", filter_subjects=[b, c])
        ds = self.s.fetch(st, "bc", n=10)
        self.assertEqual([(d.message.subject, d.message.seq) for d in ds], [(b, 3), (c, 4)])
        self.assertEqual(ds[0].pending, 1)  # one more of the filter after it
        info = self.s.GetConsumer(stream=st, name="bc")
        self.assertEqual(info.state.num_pending, 0)
        self.assertEqual(info.state.num_ack_pending, 2)

    # ---- ack policies ----

    def test_explicit_acks_and_ack_wait_redelivery_with_a_new_token(self):
        st, _ = self.mk(3)
        self.s.consumer(st, "c", ack_wait_ms=300)
        d = self.s.fetch(st, "c", n=3)
        self.assertEqual([x.delivery_count for x in d], [1, 1, 1])
        self.assertEqual([x.consumer_seq for x in d], [1, 2, 3])
        self.assertEqual([r.code for r in self.s.ack(st, "c", d[0], d[2])], [0, 0])
        again = self.s.fetch_all(st, "c", 1, ack=False)[0]
        self.assertEqual((again.message.seq, again.delivery_count), (2, 2))
        self.assertEqual(again.consumer_seq, 4)
        self.assertNotEqual(again.token, d[1].token)
        # the first delivery's token is stale: refused, and the current one still works
        stale = self.s.ack(st, "c", d[1])
        self.assertEqual(stale[0].code, SC.FAILED_PRECONDITION.value[0])
        self.assertIn("superseded", stale[0].message)
        self.assertEqual(stale[0].id, "2")
        self.assertEqual(self.s.ack(st, "c", again)[0].code, 0)
        self.assertEqual(self.s.ack(st, "c", again)[0].code, SC.NOT_FOUND.value[0])
        info = self.s.GetConsumer(stream=st, name="c").state
        self.assertEqual((info.num_ack_pending, info.ack_floor_stream_seq), (0, 3))
        self.assertEqual(info.delivered_stream_seq, 2)

    def test_ack_all_is_cumulative(self):
        st, _ = self.mk(4)
        self.s.consumer(st, "c", ack_policy=S.ACK_POLICY_ALL)
        d = self.s.fetch(st, "c", n=4)
        self.assertEqual(self.s.ack(st, "c", d[2])[0].code, 0)
        info = self.s.GetConsumer(stream=st, name="c").state
        self.assertEqual((info.num_ack_pending, info.ack_floor_stream_seq), (1, 3))

    def test_ack_none(self):
        st, _ = self.mk(3)
        self.s.consumer(st, "c", ack_policy=S.ACK_POLICY_NONE, ack_wait_ms=100)
        self.assertEqual(len(self.s.fetch(st, "c", n=10)), 3)
        info = self.s.GetConsumer(stream=st, name="c").state
        self.assertEqual((info.num_ack_pending, info.ack_floor_stream_seq), (0, 3))
        self.assertEqual(self.s.fetch(st, "c", n=10, wait_ms=400), [])  # never redelivered

    def test_nak_delay_backoff_in_progress_term_and_max_deliver(self):
        st, _ = self.mk(3)
        self.s.consumer(st, "c", ack_wait_ms=60000, backoff_ms=[300, 800], max_deliver=3)
        d1, d2, d3 = self.s.fetch(st, "c", n=3)
        # NAK with a delay: not before it
        t0 = time.monotonic()
        self.assertEqual(self.s.ack(st, "c", d1, kind=S.ACK_KIND_NAK, delay_ms=500)[0].code, 0)
        r = self.s.fetch_all(st, "c", 1, ack=False)[0]
        self.assertEqual((r.message.seq, r.delivery_count), (1, 2))
        self.assertGreaterEqual(time.monotonic() - t0, 0.45)
        # NAK without a delay: the backoff (2nd failed delivery: 800 ms)
        t0 = time.monotonic()
        self.s.ack(st, "c", r, kind=S.ACK_KIND_NAK)
        r3 = self.s.fetch_all(st, "c", 1, ack=False)[0]
        self.assertEqual(r3.delivery_count, 3)
        self.assertGreaterEqual(time.monotonic() - t0, 0.75)
        # max_deliver 3: a third failure gives it up
        self.s.ack(st, "c", r3, kind=S.ACK_KIND_NAK, delay_ms=1)
        self.assertEqual(self.s.fetch(st, "c", n=1, wait_ms=500), [])
        # IN_PROGRESS keeps the token; TERM ends it
        self.assertEqual(self.s.ack(st, "c", d2, kind=S.ACK_KIND_IN_PROGRESS)[0].code, 0)
        self.assertEqual(self.s.ack(st, "c", d2)[0].code, 0)
        self.assertEqual(self.s.ack(st, "c", d3, kind=S.ACK_KIND_TERM, reason="bad")[0].code, 0)
        info = self.s.GetConsumer(stream=st, name="c").state
        self.assertEqual(info.num_terminated, 2)
        self.assertEqual(info.num_ack_pending, 0)

    def test_ack_wait_backoff_and_in_progress(self):
        st, _ = self.mk(1)
        self.s.consumer(st, "c", ack_wait_ms=400)
        d = self.s.fetch(st, "c")[0]
        t0 = time.monotonic()
        # in-progress before the wait ends pushes the redelivery out again
        C.poll(lambda: time.monotonic() - t0 > 0.25, 5, "a moment into the ack wait")
        self.s.ack(st, "c", d, kind=S.ACK_KIND_IN_PROGRESS)
        again = self.s.fetch_all(st, "c", 1, ack=False)[0]
        self.assertGreaterEqual(time.monotonic() - t0, 0.6)
        self.assertEqual(again.delivery_count, 2)

    def test_max_ack_pending(self):
        st, _ = self.mk(5)
        self.s.consumer(st, "c", max_ack_pending=2)
        d = self.s.fetch(st, "c", n=5)
        self.assertEqual([x.message.seq for x in d], [1, 2])
        self.assertEqual(self.s.fetch(st, "c", n=5), [])
        self.s.ack(st, "c", d[0])
        self.assertEqual([x.message.seq for x in self.s.fetch(st, "c", n=5)], [3])

    def test_pause_and_reset(self):
        st, a = self.mk(4)
        self.s.consumer(st, "c")
        d = self.s.fetch(st, "c")[0]
        until = now_ms() + 1200
        info = self.s.PauseConsumer(stream=st, name="c", until_unix_ms=until)
        self.assertEqual(info.state.paused_until_unix_ms, until)
        self.assertEqual(self.s.fetch(st, "c", n=1, wait_ms=300), [])
        self.assertEqual(self.s.ack(st, "c", d)[0].code, 0)  # acks taken while paused
        got = self.s.fetch(st, "c", n=1, wait_ms=5000)  # resumes by itself at `until`
        self.assertEqual([x.message.seq for x in got], [2])
        self.assertGreaterEqual(now_ms(), until)
        self.s.PauseConsumer(stream=st, name="c", until_unix_ms=now_ms() + 60000)
        self.s.PauseConsumer(stream=st, name="c", until_unix_ms=0)  # resume now
        self.assertEqual(len(self.s.fetch(st, "c")), 1)
        info = self.s.ResetConsumer(stream=st, name="c", seq=2)
        self.assertEqual(info.state.num_ack_pending, 0)  # pending dropped
        self.assertEqual([x.message.seq for x in self.s.fetch(st, "c", n=10)], [2, 3, 4])
        t = self.after(st, 4)
        self.s.pub(a, "later")  # 5, stored at or after t; 1..4 before it
        self.s.ResetConsumer(stream=st, name="c", unix_ms=t)
        self.assertEqual([x.message.seq for x in self.s.fetch(st, "c", n=10)], [5])
        C.assert_code(self, SC.NOT_FOUND, self.s.PauseConsumer, stream=st, name="none")

    def test_headers_only(self):
        st, a = self.mk()
        self.s.Publish(messages=[msg(a, "payload!", headers={"h": "v"})])
        self.s.consumer(st, "c", headers_only=True)
        m = self.s.fetch(st, "c")[0].message
        self.assertEqual((m.payload, m.payload_size, dict(m.headers)), (b"", 8, {"h": "v"}))

    def test_rate_limit_roughly(self):
        st, a = self.mk()
        self.s.pub(a, *[b"x" * 1000] * 6)
        # The bucket starts full (one second: 2000 bytes) when the consumer is created, and a
        # message goes while the bucket is above 0 (the last one may leave it in debt): 3000 of
        # the 6000 bytes go at once, the rest at 2000 B/s, so the sixth message comes 1.5 s
        # after the creation at the earliest (t0 taken before it: after it, the bound is off by
        # the milliseconds the create took).
        t0 = time.monotonic()
        self.s.consumer(st, "c", rate_limit_bytes_per_s=2000)
        cs = ConsumeStream(self.ch)
        self.assertEqual(cs.bind(st, "c", credits=10).code, 0)
        cs.wait_deliveries(6, timeout=20)
        self.assertGreaterEqual(time.monotonic() - t0, 1.5)
        cs.cancel()

    def test_fetch_long_poll_wakes_on_publish(self):
        st, a = self.mk()
        self.s.consumer(st, "c")
        fut = self.s.future("Fetch", stream=st, consumer="c", max_messages=5, wait_ms=10000)
        C.poll(lambda: self.s.GetConsumer(stream=st, name="c").state.num_waiting == 1, 10,
               "the Fetch to wait")
        t0 = time.monotonic()
        self.s.pub(a, "wake")
        got = fut.result(timeout=10).deliveries
        self.assertLess(time.monotonic() - t0, 5)
        self.assertEqual([d.message.payload for d in got], [b"wake"])


class ConsumeStreamTest(StreamsTest):

    def test_bind_credits_acks_and_results(self):
        st, a = self.n(), self.subj("a")
        self.s.stream(st, [a])
        self.s.pub(a, *[f"m{i}" for i in range(5)])
        self.s.consumer(st, "c")
        cs = ConsumeStream(self.ch)
        res = cs.bind(st, "c", credits=2)
        self.assertEqual((res.code, res.consumer.config.name), (0, "c"))
        got = cs.wait_deliveries(2)
        self.assertEqual([d.message.seq for d in got], [1, 2])
        self.assertEqual(cs.quiet_for(0.3), [])  # no credits left
        r = cs.ack_wait(*got)
        self.assertEqual([x.code for x in r.results], [0, 0])
        cs.credit(10)
        self.assertEqual([d.message.seq for d in cs.wait_deliveries(5)[2:]], [3, 4, 5])
        stale = cs.ack_wait(refs=[S.DeliveryRef(stream_seq=3, token=got[0].token)])
        self.assertEqual(stale.results[0].code, SC.FAILED_PRECONDITION.value[0])
        self.assertEqual(self.s.GetConsumer(stream=st, name="c").state.clients, 1)
        cs.cancel()
        C.poll(lambda: self.s.GetConsumer(stream=st, name="c").state.clients == 0, 10,
               "the stream to unbind")

    def test_bind_errors(self):
        st, a = self.n(), self.subj("a")
        self.s.stream(st, [a])
        cs = ConsumeStream(self.ch)
        res = cs.bind(st, "missing", credits=1)
        self.assertEqual(res.code, SC.NOT_FOUND.value[0])
        self.assertTrue(res.message)

    def test_several_streams_share_one_consumer(self):
        st, a = self.n(), self.subj("a")
        self.s.stream(st, [a])
        self.s.consumer(st, "shared", max_ack_pending=1000)
        streams = [ConsumeStream(self.ch) for _ in range(3)]
        for cs in streams:
            self.assertEqual(cs.bind(st, "shared", credits=100).code, 0)
        n = 60
        self.s.pub(a, *[f"m{i}" for i in range(n)])

        def total():
            for cs in streams:
                cs.quiet_for(0.05)
            return sum(len(cs.deliveries) for cs in streams) >= n
        C.poll(total, 20, f"{n} deliveries across the streams")
        seqs = [d.message.seq for cs in streams for d in cs.deliveries]
        self.assertEqual(sorted(seqs), list(range(1, n + 1)))  # each message to one of them
        for cs in streams:
            if cs.deliveries:
                self.assertEqual(all(x.code == 0 for x in cs.ack_wait(*cs.deliveries).results),
                                 True)
            cs.cancel()
        self.assertEqual(self.s.GetConsumer(stream=st, name="shared").state.num_ack_pending, 0)

    def test_ephemeral_bind(self):
        st, a = self.n(), self.subj("a")
        self.s.stream(st, [a])
        self.s.pub(a, "x")
        cs = ConsumeStream(self.ch)
        res = cs.bind(st, "", credits=5, ephemeral=S.ConsumerConfig(
            ephemeral=True, inactive_threshold_ms=1000))
        self.assertEqual(res.code, 0)
        name = res.consumer.config.name
        self.assertTrue(name)
        self.assertEqual(cs.wait_deliveries(1)[0].message.payload, b"x")
        cs.cancel()
        C.poll(lambda: name not in [c.config.name for c in
                                    self.s.ListConsumers(stream=st).consumers], 15,
               "the ephemeral consumer to be deleted after its stream ended")


class RetentionPolicyTest(StreamsTest):

    def test_interest_with_consumers_coming_and_going(self):
        st, a = self.n(), self.subj("a")
        self.s.stream(st, [a], retention=S.RETENTION_INTEREST)
        self.s.pub(a, "nobody")  # no consumer: removed at once
        self.assertEqual(self.s.state(st).messages, 0)
        self.s.consumer(st, "c1")
        self.s.consumer(st, "c2")
        self.s.pub(a, "both")  # seq 2
        d1 = self.s.fetch(st, "c1")[0]
        self.s.ack(st, "c1", d1)
        self.assertEqual(self.s.state(st).messages, 1)  # c2 has not acked
        d2 = self.s.fetch(st, "c2")[0]
        self.s.ack(st, "c2", d2)
        C.poll(lambda: self.s.state(st).messages == 0, 5, "removal once both acked")
        self.s.pub(a, "then")  # seq 3
        self.s.consumer(st, "late")  # came after: not interested in seq 3
        self.s.ack(st, "c1", self.s.fetch(st, "c1")[0])
        self.assertEqual(self.s.state(st).messages, 1)
        self.s.DeleteConsumer(stream=st, name="c2")  # c2 goes: its interest with it
        C.poll(lambda: self.s.state(st).messages == 0, 5, "removal once c2 is gone")

    def test_work_queue(self):
        st = self.n()
        a, b = self.subj("a"), self.subj("b")
        self.s.stream(st, [self.subj("*")], retention=S.RETENTION_WORK_QUEUE)
        self.s.consumer(st, "wa", filter_subjects=[a])
        C.assert_code(self, SC.FAILED_PRECONDITION, self.s.consumer, st, "all",
                      contains="wa")  # names the consumer already taking those subjects
        C.assert_code(self, SC.FAILED_PRECONDITION, self.s.consumer, st, "wa2",
                      filter_subjects=[self.subj("*")])
        self.s.consumer(st, "wb", filter_subjects=[b])
        self.s.pub(a, "1", "2")
        self.s.pub(b, "3")
        self.s.ack(st, "wa", self.s.fetch(st, "wa")[0])
        st_ = self.s.state(st)
        self.assertEqual((st_.messages, st_.first_seq), (2, 2))
        self.s.ack(st, "wb", self.s.fetch(st, "wb")[0])
        self.assertEqual(self.s.state(st).messages, 1)


class ConsumerBadInputTest(StreamsTest):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.st = "bad-input-" + str(now_ms() % 100000)
        cls.root = cls.st.replace("-", "_")
        cls.s.stream(cls.st, [cls.root + ".>"])

    def bad(self, field, name="c", **cfg):
        assert_invalid(self, self.s.CreateConsumer, field, stream=self.st,
                       config=S.ConsumerConfig(name=name, **cfg))

    def test_config_fields(self):
        for nm in ["a.b", "a b", "x" * 129, "a*"]:
            self.bad("name", name=nm)
        self.bad("name", name="")  # neither a name nor ephemeral
        self.bad("inactive_threshold", name="", ephemeral=True, inactive_threshold_ms=999)
        self.bad("inactive_threshold", name="", ephemeral=True,
                 inactive_threshold_ms=86400000 + 1)
        self.bad("deliver_policy", deliver_policy=99)
        self.bad("opt_start_seq", deliver_policy=S.DELIVER_POLICY_BY_START_SEQUENCE)
        self.bad("filter_subjects", filter_subjects=["a..b"])
        self.bad("filter_subjects", filter_subjects=["elsewhere.x"])  # outside the stream
        self.bad("filter_subjects", filter_subjects=[f"{self.root}.{i}" for i in range(17)])
        self.bad("ack_policy", ack_policy=99)
        self.bad("ack_wait", ack_wait_ms=12 * 3600000 + 1)
        self.bad("backoff", backoff_ms=[10] * 33)
        self.bad("backoff", backoff_ms=[0])
        self.bad("max_ack_pending", max_ack_pending=1000001)
        self.bad("description", description="d" * 1025)
        C.assert_code(self, SC.NOT_FOUND, self.s.CreateConsumer, stream=self.n("none"),
                      config=S.ConsumerConfig(name="c"))

    def test_acks_and_fetch_fields(self):
        self.s.consumer(self.st, "ok")

        def bad_acks(field, **acks):
            assert_invalid(self, self.s.AckMessages, field, stream=self.st, consumer="ok",
                           acks=S.Acks(**acks))
        ref = S.DeliveryRef(stream_seq=1, token=1)
        bad_acks("refs", refs=[])
        bad_acks("refs", refs=[ref] * 1001)
        bad_acks("kind", kind=99, refs=[ref])
        bad_acks("delay", kind=S.ACK_KIND_NAK, refs=[ref], delay_ms=367 * 86400000)
        bad_acks("reason", kind=S.ACK_KIND_TERM, refs=[ref], reason="r" * 1025)
        assert_invalid(self, self.s.Fetch, "max_messages", stream=self.st, consumer="ok",
                       max_messages=1001)
        assert_invalid(self, self.s.Fetch, "wait_ms", stream=self.st, consumer="ok",
                       wait_ms=60001)
        C.assert_code(self, SC.NOT_FOUND, self.s.Fetch, stream=self.st, consumer="none")


if __name__ == "__main__":
    unittest.main()
