"""What the Kubernetes manifests (k8s/manifests/base/statefulset.yaml) rely on, against a live
ringqd: the kubelet's built-in `grpc` probes ask grpc.health.v1.Health/Check for "" (liveness,
startup) and "ringq.v1.Queue" (readiness), and on SIGTERM readiness must go NOT_SERVING before
any listener closes, while the drain lasts, until the process exits 0."""
import re
import threading
import unittest

import grpc

import ringq_client as C
import ringq_harness as H
from grpc.health.v1 import health_pb2

HEALTH = "/grpc.health.v1.Health/"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
EXIT_WITHIN_S = 15.0


def check(ch, service, timeout=5.0):
    return H.unary(ch, HEALTH + "Check", health_pb2.HealthCheckRequest(service=service),
                   health_pb2.HealthCheckResponse, timeout=timeout).status


class ProbeTest(C.RingqdTest):
    def test_the_services_the_probes_ask_answer_serving(self):
        self.assertEqual(check(self.ch, ""), SERVING)  # startup and liveness
        self.assertEqual(check(self.ch, "ringq.v1.Queue"), SERVING)  # readiness


class DrainProbeTest(unittest.TestCase):
    def test_sigterm_turns_readiness_not_serving_before_any_listener_closes(self):
        srv = C.start_ringqd("--drain-timeout-ms", "30000", "--log-level", "debug", threads=2)
        ch = srv.channel()
        try:
            c = C.Client(ch)
            q = C.qname("probe")
            c.put(q, "x")
            ws = C.WorkStream(ch)  # holds a task: keeps the drain open until it acks
            ws.subscribe([q], credits=1, lease_ms=60000)
            ws.wait_tasks(1)
            watch = H.unary_stream(ch, HEALTH + "Watch",
                                   health_pb2.HealthCheckRequest(service="ringq.v1.Queue"),
                                   health_pb2.HealthCheckResponse, timeout=60)
            self.assertEqual(next(watch).status, SERVING)
            seen = []

            def read():
                try:
                    seen.extend(r.status for r in watch)
                except grpc.RpcError:  # the drain ends it: UNAVAILABLE "server is shutting down"
                    pass

            reader = threading.Thread(target=read, daemon=True)
            srv.proc.send_signal(H.signal.SIGTERM)
            reader.start()
            for s in range(2):
                self.assertTrue(srv.wait_log(f'shard={s} msg="listener closed"', timeout=5))
            # Each shard turned health NOT_SERVING before it closed its listener, so no probe
            # ever found SERVING behind a closing listener.
            for s in range(2):
                lines = [ln for ln in srv.lines if re.search(rf"\bshard={s}\b", ln)]
                health = [i for i, ln in enumerate(lines) if "health not serving" in ln]
                closed = [i for i, ln in enumerate(lines) if "listener closed" in ln]
                self.assertEqual(len(health), 1, lines)
                self.assertEqual(len(closed), 1, lines)
                self.assertLess(health[0], closed[0], lines)
            # While the drain lasts: the open Watch saw NOT_SERVING, and a probe's new
            # connection is refused (a failed probe, as NOT_SERVING is).
            C.poll(lambda: NOT_SERVING in seen, 5.0, "NOT_SERVING on the open Watch")
            self.assertIsNone(srv.proc.poll(), "the drain should still hold")
            probe = grpc.insecure_channel(srv.addr)
            with self.assertRaises(grpc.RpcError) as e:
                check(probe, "ringq.v1.Queue", timeout=2.0)
            self.assertEqual(e.exception.code(), grpc.StatusCode.UNAVAILABLE)
            probe.close()
            ws.ack([ws.tasks[0].id], request_id=7)
            self.assertEqual(ws.wait_result(7).code, 0)
            self.assertEqual(srv.proc.wait(timeout=EXIT_WITHIN_S), 0, "".join(srv.lines[-30:]))
            self.assertNotIn(SERVING, seen)
        finally:
            ch.close()
            srv.close()


if __name__ == "__main__":
    unittest.main()
