"""Issue 15: what a stream and its consumers keep across restarts (docs/semantics.md "Streams":
what survives a restart) - after SIGTERM and after SIGKILL the messages, sequences and
configuration are there, each durable consumer continues exactly where it was (acked messages
never come again, unacked ones do, counted as first deliveries), the dedup window holds, a paused
consumer stays paused, and ephemeral consumers are gone."""
import signal
import unittest

import ringq_client as C
from ringq_client import DataDirTest
from stream_client import SC, Streams, now_ms


class StreamRestartTest(DataDirTest):
    TMP_PREFIX = "ringq-streams-restart-"

    def start(self):
        super().start()
        self.s = Streams(self.ch)
        return self.s

    def restart(self, how):
        self.ch.close()
        if how == "kill":
            self.srv.proc.send_signal(signal.SIGKILL)
            self.srv.proc.wait()
        else:
            self.assertEqual(self.srv.terminate(), 0, "".join(self.srv.lines[-30:]))
        self.srv.close()
        return self.start()

    def scenario(self, how):
        s = self.start()
        s.stream("orders", ["orders.*"], duplicate_window_ms=600000)
        s.pub("orders.a", *[f"a{i}" for i in range(6)], msg_id="")
        s.pub("orders.b", "b0", msg_id="once")
        s.consumer("orders", "c1", ack_wait_ms=300)
        s.consumer("orders", "c2", ack_wait_ms=300, filter_subjects=["orders.a"])
        s.consumer("orders", "paused")
        s.consumer("orders", "", ephemeral=True, inactive_threshold_ms=60000)
        self.assertEqual(len(s.fetch_all("orders", "c1", 4)), 4)       # 1..4 acked
        c2 = s.fetch("orders", "c2", n=5)                               # 1..5 delivered
        s.ack("orders", "c2", *c2[:2])                                  # 1, 2 acked
        until = now_ms() + 3600000
        s.PauseConsumer(stream="orders", name="paused", until_unix_ms=until)
        before = s.GetStream(name="orders")

        s = self.restart(how)
        after = s.GetStream(name="orders")
        self.assertEqual(after.config, before.config)
        self.assertEqual((after.state.messages, after.state.first_seq, after.state.last_seq),
                         (7, 1, 7))
        self.assertEqual(s.GetMessage(stream="orders", seq=7).payload, b"b0")
        # c1 continues at 5, nothing before it again
        got = s.fetch_all("orders", "c1", 3)
        self.assertEqual([d.message.seq for d in got], [5, 6, 7])
        self.assertEqual(s.fetch("orders", "c1", n=10, wait_ms=600), [])
        # c2: 3, 4, 5 were delivered and not acked: they come again, then 6; 1, 2 never
        got = s.fetch_all("orders", "c2", 4)
        self.assertEqual(sorted(d.message.seq for d in got), [3, 4, 5, 6])
        # deliveries are not logged: after a restart an unacked message comes back as a first
        # delivery (delivery counts restart; docs/semantics.md "What survives a restart")
        self.assertTrue(all(d.delivery_count == 1 for d in got))
        self.assertEqual(s.GetConsumer(stream="orders", name="paused").state.paused_until_unix_ms,
                         until)
        self.assertEqual(s.fetch("orders", "paused", wait_ms=200), [])
        names = [c.config.name for c in s.ListConsumers(stream="orders").consumers]
        self.assertEqual(names, ["c1", "c2", "paused"])  # the ephemeral one is gone
        # the dedup window survived; sequences continue
        dup = s.pub("orders.b", "again", msg_id="once").acks[0]
        self.assertEqual((dup.seq, dup.duplicate), (7, True))
        self.assertEqual(s.seqs("orders.a", "next"), [8])
        self.assertEqual(self.srv.terminate(), 0)

    def test_sigterm(self):
        self.scenario("term")

    def test_sigkill(self):
        self.scenario("kill")

    def test_deleted_stream_and_consumer_stay_deleted(self):
        s = self.start()
        s.stream("gone", ["gone.>"])
        s.pub("gone.x", "1")
        s.stream("kept", ["kept.>"])
        s.consumer("kept", "dead")
        s.DeleteStream(name="gone")
        s.DeleteConsumer(stream="kept", name="dead")
        s = self.restart("kill")
        C.assert_code(self, SC.NOT_FOUND, s.GetStream, name="gone")
        C.assert_code(self, SC.NOT_FOUND, s.GetConsumer, stream="kept", name="dead")
        self.assertEqual(s.stream("gone", ["gone.>"]).state.messages, 0)
        self.assertEqual(self.srv.terminate(), 0)


if __name__ == "__main__":
    unittest.main()
