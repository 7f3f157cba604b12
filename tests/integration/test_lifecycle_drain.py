"""Issue 12 item 8: a drain is not held by idle Work streams. On SIGTERM a Work stream with no
task in flight ends at once with UNAVAILABLE "server is draining" (clients retry UNAVAILABLE:
ringq-worker re-subscribes after the restart), and ringqd exits as soon as no call is left,
long before --drain-timeout-ms. A stream that holds a task keeps it for the drain time."""
import os
import signal
import subprocess
import threading
import time
import unittest

import grpc

import ringq_client as C
import ringq_harness as H

DRAIN_MS = 10000
# Well under the drain timeout: a drain that waits for it fails this.
EXIT_WITHIN_S = 2.0
WORKER = os.path.join(H.BUILD, "ringq-worker")


def sigterm_and_wait(test, srv):
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    code = srv.proc.wait(timeout=DRAIN_MS / 1000 + 5)
    took = time.monotonic() - t0
    log = "".join(srv.lines[-20:])
    test.assertEqual(code, 0, log)
    test.assertFalse(any("drain deadline passed" in l for l in srv.lines), log)
    return took


class DrainIdleWork(unittest.TestCase):
    def grpcio_idle(self, threads):
        srv = C.start_ringqd("--drain-timeout-ms", str(DRAIN_MS), threads=threads)
        ch = srv.channel()
        try:
            c = C.Client(ch)
            q = C.qname("drain")
            c.put(q, "x")
            ws = C.WorkStream(ch)
            ws.subscribe([q], credits=1, lease_ms=60000)
            ws.wait_tasks(1)
            ws.ack([ws.tasks[0].id], request_id=7)
            ws.wait_result(7)  # now idle: subscribed, no task in flight
            took = sigterm_and_wait(self, srv)
            self.assertLess(took, EXIT_WITHIN_S)
            self.assertTrue(ws.done.wait(5))
            self.assertEqual(ws.error.code(), grpc.StatusCode.UNAVAILABLE)
            self.assertIn("draining", ws.error.details())
        finally:
            ch.close()
            srv.close()

    def test_grpcio_idle_stream_one_shard(self):
        self.grpcio_idle(1)

    def test_grpcio_idle_stream_two_shards(self):
        self.grpcio_idle(2)

    def test_idle_ringq_worker(self):
        """ringq-worker does not half-close its stream after the trailers: the connection is
        closed once no call is left on it instead of waiting for the client."""
        for threads in (1, 2):
            srv = C.start_ringqd("--drain-timeout-ms", str(DRAIN_MS), threads=threads)
            wk = subprocess.Popen([WORKER, "--addr", srv.addr, "-q", C.qname("idle"), "--", "true"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            lines = []
            reader = threading.Thread(target=lambda: lines.extend(wk.stderr), daemon=True)
            reader.start()
            try:
                C.poll(lambda: any("subscribed" in l for l in list(lines)), 10, "worker subscribed")
                took = sigterm_and_wait(self, srv)
                self.assertLess(took, EXIT_WITHIN_S, f"threads={threads}")
            finally:
                wk.kill()
                wk.wait()
                reader.join(timeout=5)
                srv.close()

    def test_held_task_gets_the_drain_time(self):
        """A stream holding a task is not cut: it ends after the ack, and the process then."""
        srv = C.start_ringqd("--drain-timeout-ms", str(DRAIN_MS), threads=2)
        ch = srv.channel()
        try:
            c = C.Client(ch)
            q = C.qname("held")
            c.put(q, "x")
            ws = C.WorkStream(ch)
            ws.subscribe([q], credits=1, lease_ms=60000)
            ws.wait_tasks(1)
            srv.proc.send_signal(signal.SIGTERM)
            self.assertTrue(srv.wait_log("draining", timeout=5))
            self.assertFalse(ws.done.wait(0.3), "a stream holding a task was ended at once")
            ws.ack([ws.tasks[0].id], request_id=9)
            self.assertEqual(ws.wait_result(9).code, 0)
            self.assertTrue(ws.done.wait(EXIT_WITHIN_S))
            self.assertEqual(ws.error.code(), grpc.StatusCode.UNAVAILABLE)
            self.assertEqual(srv.proc.wait(timeout=EXIT_WITHIN_S), 0, "".join(srv.lines[-40:]))
        finally:
            ch.close()
            srv.close()


if __name__ == "__main__":
    unittest.main()
