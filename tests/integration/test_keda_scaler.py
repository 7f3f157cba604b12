"""KEDA's external scaler (externalscaler.ExternalScaler, proto/externalscaler/) served by a live
ringqd, called with grpcio stubs built from that proto's generated descriptor (service, method
paths, streaming shape and message classes all come from externalscaler_pb2, as KEDA's own Go
stubs come from the same file): the metric is the queue's backlog, IsActive follows it,
StreamIsActive pushes its changes, drain_time derives the run time from the queue's figures,
and bad metadata and unknown queues are refused with the right status. A stream's durable
consumer is a source too: its metric is its backlog (lag + delivered-not-acked), read from the
same ConsumerInfo GetConsumer answers."""
import threading
import unittest

import grpc

import ringq_client as C
import ringq_harness as H
import stream_client as SCL
from externalscaler import externalscaler_pb2 as ES

S = grpc.StatusCode
# StreamIsActive polls once a second (SRV_KEDA_STREAM_POLL_MS): a change shows within a few.
STREAM_CHANGE_S = 10.0


class Scaler:
    """Stubs for every method of externalscaler.ExternalScaler, from its descriptor."""

    def __init__(self, channel):
        svc = ES.DESCRIPTOR.services_by_name["ExternalScaler"]
        for m in svc.methods:
            path = f"/{svc.full_name}/{m.name}"
            out = getattr(ES, m.output_type.name)
            make = channel.unary_stream if m.server_streaming else channel.unary_unary
            setattr(self, m.name, make(path, request_serializer=lambda r: r.SerializeToString(),
                                       response_deserializer=out.FromString))


def ref(**meta):
    return ES.ScaledObjectRef(name="workers", namespace="jobs", scalerMetadata=meta)


class KedaScalerTest(C.RingqdTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.k = Scaler(cls.ch)
        cls.s = SCL.Streams(cls.ch)

    def metric(self, **meta):
        r = self.k.GetMetrics(ES.GetMetricsRequest(scaledObjectRef=ref(**meta)),
                              timeout=C.CALL_TIMEOUT_S)
        self.assertEqual(len(r.metricValues), 1)
        return r.metricValues[0]

    @staticmethod
    def watch(call):
        """Reads a StreamIsActive call on a thread: the list its answers are appended to, and an
        Event set when the call ends (however it ends)."""
        got = []
        done = threading.Event()

        def read():
            try:
                for r in call:
                    got.append(r.result)
            except grpc.RpcError:
                pass
            done.set()

        threading.Thread(target=read, daemon=True).start()
        return got, done

    def active(self, **meta):
        return self.k.IsActive(ref(**meta), timeout=C.CALL_TIMEOUT_S).result

    def test_metric_spec_names_the_queue_and_the_target(self):
        q = self.q()
        r = self.k.GetMetricSpec(ref(queue=q, target="5", scalerAddress="ringq:7070"),
                                 timeout=C.CALL_TIMEOUT_S)
        self.assertEqual(len(r.metricSpecs), 1)
        s = r.metricSpecs[0]
        self.assertEqual(s.metricName, f"ringq-backlog-{q}")
        self.assertEqual((s.targetSize, s.targetSizeFloat), (5, 5.0))
        s = self.k.GetMetricSpec(ref(queue=q, mode="drain_time", targetDrainSeconds="60"),
                                 timeout=C.CALL_TIMEOUT_S).metricSpecs[0]
        self.assertEqual(s.metricName, f"ringq-drain-{q}")
        self.assertEqual((s.targetSize, s.targetSizeFloat), (1, 1.0))  # one task per replica

    def test_metric_is_the_backlog_ready_plus_leased(self):
        c, q = self.c, self.q()
        c.ConfigureQueue(name=q, max_attempts=3)  # exists, empty
        self.assertEqual(self.metric(queue=q, target="2").metricValue, 0)
        self.assertFalse(self.active(queue=q, target="2"))
        c.put(q, *[f"t{i}" for i in range(7)])
        c.put(q, "later", delay_ms=3600000)  # delayed: not runnable, not backlog
        m = self.metric(queue=q, target="2")
        self.assertEqual((m.metricName, m.metricValue, m.metricValueFloat),
                         (f"ringq-backlog-{q}", 7, 7.0))
        got = c.take(q, n=3, lease_ms=60000)
        self.assertEqual(len(got), 3)
        self.assertEqual(self.metric(queue=q, target="2").metricValue, 7)  # 4 ready + 3 running
        c.ack(*got[:2])
        info = c.GetQueue(name=q)
        self.assertEqual((info.ready, info.leased, info.delayed), (4, 1, 1))
        self.assertEqual(self.metric(queue=q, target="2").metricValue, info.ready + info.leased)
        self.assertTrue(self.active(queue=q, target="2"))

    def test_metric_name_asked_by_keda_is_answered(self):
        q = self.q()
        self.c.put(q, "x")
        r = self.k.GetMetrics(ES.GetMetricsRequest(scaledObjectRef=ref(queue=q, target="1"),
                                                   metricName=f"s0-ringq-backlog-{q}"),
                              timeout=C.CALL_TIMEOUT_S)
        self.assertEqual(r.metricValues[0].metricName, f"s0-ringq-backlog-{q}")
        self.assertEqual(r.metricValues[0].metricValue, 1)

    def test_is_active_false_on_empty_and_activation_target(self):
        c, q = self.c, self.q()
        c.ConfigureQueue(name=q, max_attempts=3)
        self.assertFalse(self.active(queue=q, target="1"))
        c.put(q, "a", "b")
        self.assertTrue(self.active(queue=q, target="1"))
        self.assertFalse(self.active(queue=q, target="1", activationTarget="2"))
        c.put(q, "c")
        self.assertTrue(self.active(queue=q, target="1", activationTarget="2"))
        c.PurgeQueue(name=q)
        self.assertFalse(self.active(queue=q, target="1"))

    def test_unknown_queue_is_not_found(self):
        q = self.q()
        for fn in (lambda: self.active(queue=q, target="1"),
                   lambda: self.metric(queue=q, target="1")):
            C.assert_code(self, S.NOT_FOUND, fn, contains=q)

    def test_bad_metadata_is_invalid_argument_naming_the_key(self):
        q = self.q()
        self.c.put(q, "x")
        bad = [
            ({"target": "1"}, "queue"),
            ({"queue": q}, "target"),
            ({"queue": q, "target": "abc"}, "target"),
            ({"queue": q, "target": "0"}, "target"),
            ({"queue": q, "target": "-3"}, "target"),
            ({"queue": q, "target": "nan"}, "target"),
            ({"queue": q, "target": "1e300"}, "target"),
            ({"queue": q, "target": "5x"}, "target"),
            ({"queue": q, "target": "1", "activationTarget": "-1"}, "activationTarget"),
            ({"queue": q, "target": "1", "mode": "fast"}, "mode"),
            ({"queue": q, "mode": "drain_time"}, "targetDrainSeconds"),
            ({"queue": q, "mode": "drain_time", "targetDrainSeconds": "0"}, "targetDrainSeconds"),
            ({"queue": q, "target": "1", "targetDrainSeconds": "9"}, "targetDrainSeconds"),
            ({"queue": "bad name!", "target": "1"}, "name"),
            ({"queue": "", "target": "1"}, "name"),
        ]
        for meta, key in bad:
            with self.subTest(meta=meta):
                for fn in (self.k.IsActive, self.k.GetMetricSpec):
                    C.assert_code(self, S.INVALID_ARGUMENT, fn, ref(**meta),
                                  timeout=C.CALL_TIMEOUT_S, contains=key)
                C.assert_code(self, S.INVALID_ARGUMENT, self.metric, **meta, contains=key)
        C.assert_code(self, S.INVALID_ARGUMENT, self.k.GetMetrics, ES.GetMetricsRequest(),
                      timeout=C.CALL_TIMEOUT_S, contains="queue")

    # ---- a stream's durable consumer as the source ----

    def stream_consumer(self, **ccfg):
        """A stream capturing <root>.* and a durable consumer on it (ack wait long enough that
        nothing is redelivered during the test); returns (stream, consumer, subject)."""
        st, cons = SCL.sname("keda"), SCL.sname("workers")
        root = SCL.sname("kroot").replace("-", "_")
        self.s.stream(st, [f"{root}.*"])
        self.s.consumer(st, cons, ack_wait_ms=600000, **ccfg)
        return st, cons, f"{root}.jobs"

    def backlog(self, st, cons):
        state = self.s.GetConsumer(stream=st, name=cons).state
        return state.num_pending + state.num_ack_pending, state

    def test_consumer_metric_is_its_lag_plus_its_ack_pending(self):
        st, cons, subj = self.stream_consumer()
        meta = dict(stream=st, consumer=cons, target="2")
        name = f"ringq-consumer-{st}-{cons}"
        spec = self.k.GetMetricSpec(ref(**meta), timeout=C.CALL_TIMEOUT_S).metricSpecs[0]
        self.assertEqual((spec.metricName, spec.targetSize, spec.targetSizeFloat), (name, 2, 2.0))
        m = self.metric(**meta)
        self.assertEqual((m.metricName, m.metricValue, m.metricValueFloat), (name, 0, 0.0))
        self.assertFalse(self.active(**meta))
        self.s.pub(subj, *[f"m{i}" for i in range(7)])
        self.assertEqual(self.backlog(st, cons)[0], 7)
        self.assertEqual(self.metric(**meta).metricValue, 7)  # all lag
        self.assertTrue(self.active(**meta))
        got = self.s.fetch(st, cons, n=3)
        self.assertEqual(len(got), 3)
        total, state = self.backlog(st, cons)
        self.assertEqual((state.num_pending, state.num_ack_pending), (4, 3))
        self.assertEqual(self.metric(**meta).metricValue, total)  # delivered, not acked: counted
        self.assertEqual([r.code for r in self.s.ack(st, cons, *got[:2])], [0, 0])
        self.assertEqual(self.metric(**meta).metricValue, 5)  # 4 lag + 1 unacked
        self.assertEqual(self.backlog(st, cons)[0], 5)
        self.assertFalse(self.active(**meta, activationTarget="5"))
        self.assertTrue(self.active(**meta, activationTarget="4"))
        self.s.pub(subj, "late")
        self.assertEqual(self.metric(**meta).metricValue, 6)
        self.s.ack(st, cons, got[2])
        self.s.fetch_all(st, cons, 5)  # fetches and acks the rest
        self.assertEqual(self.backlog(st, cons)[0], 0)
        self.assertEqual(self.metric(**meta).metricValue, 0)
        self.assertFalse(self.active(**meta))
        r = self.k.GetMetrics(ES.GetMetricsRequest(scaledObjectRef=ref(**meta),
                                                   metricName=f"s1-{name}"),
                              timeout=C.CALL_TIMEOUT_S)
        self.assertEqual(r.metricValues[0].metricName, f"s1-{name}")

    def test_consumer_stream_is_active_pushes_changes(self):
        st, cons, subj = self.stream_consumer()
        call = self.k.StreamIsActive(ref(stream=st, consumer=cons, target="1"), timeout=60)
        got, done = self.watch(call)
        C.poll(lambda: got == [False], STREAM_CHANGE_S, "the first answer (inactive)")
        self.s.pub(subj, "x")
        C.poll(lambda: got == [False, True], STREAM_CHANGE_S, "active after a publish")
        d = self.s.fetch(st, cons, n=1)
        self.assertEqual(len(d), 1)
        self.assertEqual(self.backlog(st, cons)[0], 1)  # delivered, not acked: still active
        self.s.ack(st, cons, *d)
        C.poll(lambda: got == [False, True, False], STREAM_CHANGE_S, "inactive after the ack")
        call.cancel()
        self.assertTrue(done.wait(STREAM_CHANGE_S))
        self.assertEqual(got, [False, True, False])  # only changes are sent

    def test_consumer_unknown_stream_or_consumer_is_not_found_naming_it(self):
        st, cons, _ = self.stream_consumer()
        longest = "L" * 128  # the name limit: the request to the owner still fits
        for meta, named in (({"stream": st + "x", "consumer": cons}, st + "x"),
                            ({"stream": st, "consumer": cons + "x"}, cons + "x"),
                            ({"stream": longest, "consumer": longest}, longest),
                            ({"stream": st, "consumer": longest}, longest)):
            with self.subTest(meta=meta):
                meta["target"] = "1"
                for fn in (lambda: self.active(**meta), lambda: self.metric(**meta),
                           lambda: next(self.k.StreamIsActive(ref(**meta),
                                                              timeout=C.CALL_TIMEOUT_S))):
                    C.assert_code(self, S.NOT_FOUND, fn, contains=named)

    def test_consumer_bad_metadata_is_invalid_argument(self):
        st, cons, _ = self.stream_consumer()
        q = self.q()
        bad = [
            ({"queue": q, "stream": st, "consumer": cons, "target": "1"}, "queue"),
            ({"queue": q, "stream": st, "target": "1"}, "queue"),
            ({"stream": st, "target": "1"}, "consumer"),
            ({"consumer": cons, "target": "1"}, "stream"),
            ({"stream": st, "consumer": cons}, "target"),
            ({"stream": st, "consumer": cons, "mode": "drain_time", "targetDrainSeconds": "60"},
             "drain_time"),
            ({"stream": "a.b", "consumer": cons, "target": "1"}, "stream"),
            ({"stream": st, "consumer": "bad name", "target": "1"}, "consumer"),
            ({"stream": st, "consumer": cons, "target": "0"}, "target"),
        ]
        for meta, key in bad:
            with self.subTest(meta=meta):
                for fn in (self.k.IsActive, self.k.GetMetricSpec):
                    C.assert_code(self, S.INVALID_ARGUMENT, fn, ref(**meta),
                                  timeout=C.CALL_TIMEOUT_S, contains=key)
                C.assert_code(self, S.INVALID_ARGUMENT, self.metric, **meta, contains=key)
                C.assert_code(self, S.INVALID_ARGUMENT, lambda: list(self.k.StreamIsActive(
                    ref(**meta), timeout=C.CALL_TIMEOUT_S)), contains=key)

    def test_drain_time_without_acks_assumes_the_lease(self):
        c, q = self.c, self.q()
        c.ConfigureQueue(name=q, lease_ms=2000)
        c.put(q, *[f"t{i}" for i in range(10)])
        m = self.metric(queue=q, mode="drain_time", targetDrainSeconds="5")
        # 10 tasks x 2 s each (no ack yet: the lease bounds a run) over 5 s: 4 replicas' work.
        self.assertEqual(m.metricName, f"ringq-drain-{q}")
        self.assertAlmostEqual(m.metricValueFloat, 4.0)
        self.assertEqual(m.metricValue, 4)

    def test_drain_time_uses_littles_law_once_acks_are_counted(self):
        c, q = self.c, self.q()
        c.put(q, *[f"t{i}" for i in range(30)])
        c.ack(*c.take(q, n=20, lease_ms=60000))
        running = c.take(q, n=4, lease_ms=60000)
        self.assertEqual(len(running), 4)
        # The rate window is 10 s: poll until a complete one holds the 20 acks, and read the
        # figures on both sides of the metric so that both come from the same window.
        def same_window():
            before = c.GetQueue(name=q)
            m = self.metric(queue=q, mode="drain_time", targetDrainSeconds="3")
            after = c.GetQueue(name=q)
            return (before, m) if before.ack_rate > 0 and before.ack_rate == after.ack_rate \
                else None

        info, m = C.poll(same_window, 25.0, "an ack rate")
        backlog = info.ready + info.leased
        self.assertEqual(backlog, 10)
        want = backlog * (info.leased / info.ack_rate) / 3
        self.assertAlmostEqual(m.metricValueFloat, want, places=6)
        self.assertGreater(m.metricValueFloat, 0)

    def test_stream_is_active_pushes_changes(self):
        c, q = self.c, self.q()
        c.ConfigureQueue(name=q, max_attempts=3)
        call = self.k.StreamIsActive(ref(queue=q, target="1"), timeout=60)
        got, done = self.watch(call)
        C.poll(lambda: got == [False], STREAM_CHANGE_S, "the first answer (inactive)")
        c.put(q, "x")
        C.poll(lambda: got == [False, True], STREAM_CHANGE_S, "active after an enqueue")
        c.ack(*c.take(q, n=1))
        C.poll(lambda: got == [False, True, False], STREAM_CHANGE_S, "inactive after the ack")
        call.cancel()
        self.assertTrue(done.wait(STREAM_CHANGE_S))
        self.assertEqual(got, [False, True, False])  # only changes are sent


class KedaStreamDrainTest(unittest.TestCase):
    def test_sigterm_ends_stream_is_active_and_the_server_exits_0(self):
        srv = C.start_ringqd(threads=2)
        ch = srv.channel()
        try:
            c, k = C.Client(ch), Scaler(ch)
            q = C.qname("drain")
            c.put(q, "x")
            call = k.StreamIsActive(ref(queue=q, target="1"), timeout=60)
            self.assertTrue(next(call).result)
            srv.proc.send_signal(H.signal.SIGTERM)
            with self.assertRaises(grpc.RpcError) as e:
                next(call)
            self.assertEqual(e.exception.code(), S.UNAVAILABLE)
        finally:
            code, log = C.stop(srv, ch)  # the process is gone afterwards, whatever happened
        self.assertEqual(code, 0, log)


if __name__ == "__main__":
    unittest.main()
