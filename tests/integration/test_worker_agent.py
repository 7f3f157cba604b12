"""ringq-worker running real commands against a real ringqd: success and failure (ack/nack),
the task's environment and logged output, a handler killed at --timeout-ms while its lease is
extended, and SIGTERM drains (handlers finish within the grace period, or are killed and their
tasks returned at once) with nothing lost. A handler that cannot be started is nacked with the
reason; failed connects are logged with each retry; an invalid queue name, or a subscription the
server refuses, ends the worker with an error. Tasks are enqueued with Python grpcio (interop)."""
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
from concurrent import futures

import grpc

import ringq_harness as H
from ringq_client import RingqdTest
from ringq.v1 import admin_pb2, queue_pb2, types_pb2

WORKER = os.path.join(H.BUILD, "ringq-worker")
WAIT_S = 20


def call(ch, svc, method, req, resp_cls):
    fn = ch.unary_unary(f"/ringq.v1.{svc}/{method}", request_serializer=lambda m: m.SerializeToString(),
                        response_deserializer=resp_cls.FromString)
    return fn(req, timeout=10)


def fake_work_server(work, max_workers):
    """A stand-in ringq.v1.Queue in this process (Python grpcio, port 0) whose Work stream is
    work(requests, ctx); returns (server, port), started. The caller stops it:
    server.stop(None).wait()."""
    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers))
    srv.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("ringq.v1.Queue", {
        "Work": grpc.stream_stream_rpc_method_handler(
            work, request_deserializer=queue_pb2.WorkRequest.FromString,
            response_serializer=queue_pb2.WorkResponse.SerializeToString)}),))
    port = srv.add_insecure_port("127.0.0.1:0")
    srv.start()
    return srv, port

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

    def test_handler_that_cannot_start_nacks_with_reason(self):
        # A typo in the command: posix_spawn fails. The worker once crashed (SIGSEGV in
        # ev_timer_stop) and left the task leased; now it nacks it with the reason and goes on.
        missing = os.path.join(self.tmp.name, "no-such-handler")
        (first,) = self.enqueue("one", max_attempts=1)  # one nack makes it dead, reason kept
        a = Agent(self.srv.addr, [self.q], [missing, "--flag"])
        try:
            i = self.wait_info(lambda i: i.dead == 1, "the first task nacked to dead")
            self.assertEqual(i.leased, 0)
            self.assertIsNone(a.proc.poll(), "the worker exited:\n" + "".join(a.lines))
            (second,) = self.enqueue("two", max_attempts=1)  # still taking tasks
            self.wait_info(lambda i: i.dead == 2, "the second task nacked to dead")
            a.wait_lines('msg="cannot start handler"', 2)
        finally:
            self.assertEqual(a.stop(), 0)
        for tid in (first, second):
            t = call(self.ch, "Admin", "GetTask", admin_pb2.GetTaskRequest(id=tid),
                     types_pb2.TaskInfo)
            self.assertEqual(t.last_error, "cannot start handler: No such file or directory")
        log = "".join(a.lines)
        self.assertIn(f'cmd={missing} err="No such file or directory"', log)
        self.assertIn('reason="cannot start handler: No such file or directory"', log)

    def test_logs_failed_connects_and_retries(self):
        # A port bound but not listening: every connect is refused (and no one else gets it
        # while we hold it).
        with socket.socket() as hold:
            hold.bind(("127.0.0.1", 0))
            addr = f"127.0.0.1:{hold.getsockname()[1]}"
            a = Agent(addr, [self.q], ["true"])
            try:
                a.wait_lines('msg="connect failed"', 3)
            finally:
                self.assertEqual(a.stop(), 0)
        fails = [l for l in a.lines if 'msg="connect failed"' in l]
        for k, line in enumerate(fails[:3], 1):
            self.assertIn(f"addr={addr} code=CONNECT_FAILED", line)
            self.assertIn(f'why="cannot connect to {addr}: Connection refused"', line)
            # Each attempt numbered, and the wait before the next one doubling from 200 ms.
            self.assertIn(f"attempt={k} retry_in_ms={100 << k}", line)

    def test_invalid_queue_name_exits_with_error(self):
        for name, why in (("bad/name", "queue name has '/' at position 3"),
                          ("x" * 129, "queue name is 129 bytes; at most 128 allowed"),
                          ("", "queue name is empty")):
            p = subprocess.run([WORKER, "--addr", self.srv.addr, "-q", "ok", "-q", name, "--",
                                "true"], capture_output=True, text=True, timeout=WAIT_S)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn(f"ringq-worker: invalid queue name '{name}': {why}", p.stderr)

    def test_subscription_refused_by_the_server_exits_with_error(self):
        # A server that refuses every Subscribe (as ringqd answers one it finds invalid: a
        # WorkResult with INVALID_ARGUMENT and no request id). Python grpcio, on port 0.
        def work(requests, ctx):
            for _ in requests:
                yield queue_pb2.WorkResponse(result=queue_pb2.WorkResult(
                    code=grpc.StatusCode.INVALID_ARGUMENT.value[0], message="refused by the test"))
                return
        srv, port = fake_work_server(work, max_workers=2)
        try:
            p = subprocess.run([WORKER, "--addr", f"127.0.0.1:{port}", "-q", self.q, "--", "true"],
                               capture_output=True, text=True, timeout=WAIT_S)
        finally:
            srv.stop(None).wait()
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn('msg="subscription refused" code=INVALID_ARGUMENT '
                      'message="refused by the test"', p.stderr)

    def test_bad_arguments(self):
        for args in ([], ["-q", "x"], ["--", "true"], ["-q", "x", "-c", "0", "--", "true"]):
            p = subprocess.run([WORKER] + args, capture_output=True, text=True, timeout=WAIT_S)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn("ringq-worker:", p.stderr)


if __name__ == "__main__":
    unittest.main()
