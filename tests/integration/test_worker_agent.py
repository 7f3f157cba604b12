"""ringq-worker running real commands against a real ringqd: success and failure (ack/nack),
the task's environment and logged output, a handler killed at --timeout-ms while its lease is
extended, and SIGTERM drains (handlers finish within the grace period, or are killed and their
tasks returned at once) with nothing lost. Tasks are enqueued with Python grpcio (interop)."""
import os
import signal
import subprocess
import tempfile
import threading
import time
import unittest

import ringq_harness as H
from ringq_client import RingqdTest
from ringq.v1 import admin_pb2, queue_pb2, types_pb2

WORKER = os.path.join(H.BUILD, "ringq-worker")
WAIT_S = 20


def call(ch, svc, method, req, resp_cls):
    fn = ch.unary_unary(f"/ringq.v1.{svc}/{method}", request_serializer=lambda m: m.SerializeToString(),
                        response_deserializer=resp_cls.FromString)
    return fn(req, timeout=10)


class Agent:
    """A ringq-worker process; its log lines are collected by a thread."""

    def __init__(self, addr, queues, cmd, *opts):
        argv = [WORKER, "--addr", addr] + sum((["-q", q] for q in queues), []) + list(opts)
        self.proc = subprocess.Popen(argv + ["--"] + cmd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.cv = threading.Condition()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.proc.stderr:
            with self.cv:
                self.lines.append(line)
                self.cv.notify_all()

    def wait_lines(self, needle, n=1, timeout=WAIT_S):
        with self.cv:
            ok = self.cv.wait_for(lambda: sum(needle in l for l in self.lines) >= n, timeout)
        assert ok, f"no {n}x {needle!r} in:\n" + "".join(self.lines)

    def stop(self, sig=signal.SIGTERM, timeout=WAIT_S):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.t.join(timeout=5)


class WorkerAgentTest(RingqdTest):
    """One ringqd (2 shards) for the class: cls.srv, cls.ch (ringq_client.RingqdTest)."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ringq-worker-")
        self.q = "wk-" + self._testMethodName.replace("test_", "")[:40]

    def tearDown(self):
        self.tmp.cleanup()

    def enqueue(self, *payloads, **kw):
        req = queue_pb2.EnqueueRequest(queue=self.q, tasks=[
            types_pb2.TaskSpec(payload=p.encode(), **kw) for p in payloads])
        return [r.id for r in call(self.ch, "Queue", "Enqueue", req, queue_pb2.EnqueueResponse).results]

    def info(self):
        return call(self.ch, "Admin", "GetQueue", admin_pb2.GetQueueRequest(name=self.q),
                    admin_pb2.QueueInfo)

    def wait_info(self, pred, what):
        deadline = time.monotonic() + WAIT_S
        while True:
            i = self.info()
            if pred(i):
                return i
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {i}")
            time.sleep(0.02)  # bounded polling of the server's figures

    def test_success_failure_env_and_output(self):
        out = self.tmp.name
        ids = self.enqueue("good", "bad", "good2", headers={"color": "red"})
        # Exit status decides: payload "bad" fails.
        cmd = ["sh", "-c", 'p=$(cat); echo "$p $RINGQ_TASK_ID $RINGQ_ATTEMPT $RINGQ_HEADER_COLOR '
               '$RINGQ_QUEUE" > "$0/$RINGQ_TASK_ID"; echo "said $p"; echo "err $p" >&2; '
               '[ "$p" != bad ]', out]
        a = Agent(self.srv.addr, [self.q], cmd, "-c", "2")
        try:
            self.wait_info(lambda i: i.acked_total == 2 and i.nacked_total >= 1, "2 acks, 1 nack")
            a.wait_lines('msg="task failed"')
        finally:
            self.assertEqual(a.stop(), 0)
        for tid, p in zip(ids, ["good", "bad", "good2"]):
            with open(os.path.join(out, tid)) as f:
                self.assertEqual(f.read().split(), [p, tid, "1", "red", self.q])
        log = "".join(a.lines)
        self.assertIn(f'task={ids[0]} stream=stdout line="said good"', log)
        self.assertIn(f'task={ids[1]} stream=stderr line="err bad"', log)
        self.assertIn(f'task={ids[1]}', log)
        self.assertIn('reason="exit status 1"', log)
        t = call(self.ch, "Admin", "GetTask", admin_pb2.GetTaskRequest(id=ids[1]), types_pb2.TaskInfo)
        self.assertGreaterEqual(t.attempts, 1)  # nacked: retried with the server's backoff

    def test_timeout_kills_and_extends_lease(self):
        (tid,) = self.enqueue("slow")
        a = Agent(self.srv.addr, [self.q], ["sleep", "30"], "--lease-ms", "1000",
                  "--timeout-ms", "2500", "--grace-ms", "100", "--log-level", "debug")
        try:
            a.wait_lines('msg="handler timed out"')
            i = self.wait_info(lambda i: i.nacked_total >= 1, "the timed-out task's nack")
        finally:
            a.stop()
        log = "".join(a.lines)
        self.assertGreaterEqual(log.count(f'msg="lease extended" task={tid}'), 2)
        self.assertEqual(i.expired_total, 0)  # extensions kept the 1 s lease alive for 2.5 s
        self.assertIn('reason="timed out after 2500 ms"', log)

    def test_sigterm_waits_for_running_handlers(self):
        n = 6
        self.enqueue(*[f"t{k}" for k in range(n)])
        a = Agent(self.srv.addr, [self.q], ["sh", "-c", "sleep 0.3; cat >/dev/null"], "-c", "2",
                  "--grace-ms", "10000")
        a.wait_lines('msg="task started"', 2)
        self.assertEqual(a.stop(), 0)
        i = self.info()
        self.assertEqual(i.leased, 0)
        self.assertGreaterEqual(i.acked_total, 2)  # the running ones finished and were acked
        self.assertEqual(i.acked_total + i.ready, n)  # nothing lost
        self.assertIn('msg="draining"', "".join(a.lines))

    def test_sigterm_grace_expires_tasks_return_at_once(self):
        ids = self.enqueue("a", "b", "c")
        a = Agent(self.srv.addr, [self.q], ["sleep", "30"], "-c", "3", "--grace-ms", "100")
        a.wait_lines('msg="task started"', 3)
        t0 = time.monotonic()
        self.assertEqual(a.stop(), 0)
        self.assertLess(time.monotonic() - t0, 10)
        i = self.info()
        self.assertEqual((i.leased, i.ready, i.acked_total), (0, 3, 0))  # back at once, not delayed
        got = call(self.ch, "Queue", "Lease", queue_pb2.LeaseRequest(queue=self.q, max_tasks=10),
                   queue_pb2.LeaseResponse).tasks
        self.assertEqual(sorted(t.id for t in got), sorted(ids))
        self.assertIn('reason="worker shutting down"', "".join(a.lines))

    def test_bad_arguments(self):
        for args in ([], ["-q", "x"], ["--", "true"], ["-q", "x", "-c", "0", "--", "true"]):
            p = subprocess.run([WORKER] + args, capture_output=True, text=True, timeout=WAIT_S)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn("ringq-worker:", p.stderr)


if __name__ == "__main__":
    unittest.main()
