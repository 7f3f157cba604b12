"""Issue 14 item 2: ringq-worker names itself as the holder of its leases. While the agent's
handler holds a task (blocked reading a fifo until the test releases it), Admin.ListLeases
(grpcio) and `ringq leases QUEUE` show the id given with --worker-id, else the default
HOSTNAME:PID — sent by libringq as the Work stream's `ringq-worker-id` request metadata
(docs/semantics.md "Leases bound to the stream"), again on every re-subscribe (seen by a Python
grpcio Work server that ends the first stream). A worker id the metadata rules refuse ends the
agent with the usage status."""
import errno
import os
import re
import socket
import subprocess
import tempfile
import threading
import unittest

import grpc

import ringq_client as C
import ringq_harness as H
from test_worker_agent import Agent, WAIT_S, fake_work_server

RINGQ = os.path.join(H.BUILD, "ringq")


class WorkerIdTest(C.RingqdTest):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ringq-wid-")
        self.fifo = os.path.join(self.tmp.name, "release")
        os.mkfifo(self.fifo)
        self.agent = None

    def tearDown(self):
        if self.agent:
            self.agent.stop()
        self.tmp.cleanup()

    def ringq(self, *args):
        p = subprocess.run([RINGQ, "--addr", self.srv.addr, *args], capture_output=True,
                           text=True, timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def start_agent(self, q, *opts):
        # The handler blocks until the test opens the fifo for writing and closes it; a test
        # that fails first stops the agent, which kills the handler after --grace-ms.
        self.agent = Agent(self.srv.addr, [q], ["sh", "-c", f"cat >/dev/null; exec cat {self.fifo}"],
                           "--lease-ms", "60000", "--grace-ms", "1000", *opts)
        return self.agent

    def held(self, q, tid):
        """Polls ListLeases until the agent holds tid; returns that lease."""
        return C.poll(lambda: next((l for l in self.c.ListLeases(queue=q).leases
                                    if l.id == tid), None), WAIT_S, f"a lease on {tid}")

    def release(self):
        """Opens the fifo for writing once the handler reads it (ENXIO until then) and closes it:
        the handler's `cat` sees EOF and exits 0, so the task is acked."""
        def try_open():
            try:
                return os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK) + 1
            except OSError as e:
                if e.errno != errno.ENXIO:
                    raise
                return None
        os.close(C.poll(try_open, WAIT_S, "the handler to open the fifo") - 1)

    def finish(self, q, tid):
        self.release()
        self.agent.wait_lines(f'msg="task done" task={tid} ')
        C.poll(lambda: not self.c.ListLeases(queue=q).leases, WAIT_S, "no lease left")
        self.assertEqual(self.agent.stop(), 0)
        self.agent = None

    def test_given_worker_id_names_the_holder(self):
        q = self.q()
        tid = self.c.put(q, "x")[0]
        self.start_agent(q, "--worker-id", "billing-pod-7")
        lease = self.held(q, tid)
        self.assertEqual(lease.worker_id, "billing-pod-7")
        self.assertRegex(lease.address, r"^127\.0\.0\.1:\d+$")
        self.assertEqual(lease.attempt, 1)
        out = self.ringq("leases", q)
        row = next(l for l in out.splitlines() if l.startswith(tid))
        self.assertEqual(row.split()[1], "billing-pod-7", out)
        self.assertIn("1 lease\n", out)
        self.finish(q, tid)

    def test_default_worker_id_is_host_and_pid(self):
        q = self.q()
        tid = self.c.put(q, "x")[0]
        agent = self.start_agent(q)
        lease = self.held(q, tid)
        self.assertEqual(lease.worker_id, f"{socket.gethostname()}:{agent.proc.pid}")
        self.assertNotEqual(lease.worker_id, lease.address)
        self.finish(q, tid)

    def test_worker_id_sent_again_on_resubscribe(self):
        # A grpcio Work server (not ours): records each stream's metadata and first request,
        # ends the first stream with UNAVAILABLE, keeps the second open until the agent stops.
        seen, cv = [], threading.Condition()

        def work(requests, ctx):
            first = next(requests, None)
            with cv:
                seen.append((dict(ctx.invocation_metadata()).get("ringq-worker-id"),
                             first.WhichOneof("kind") if first else None))
                cv.notify_all()
                n = len(seen)
            if n == 1:
                ctx.abort(grpc.StatusCode.UNAVAILABLE, "the test ends the first stream")
            for _ in requests:
                pass
            return iter(())

        srv, port = fake_work_server(work, max_workers=4)
        try:
            self.agent = Agent(f"127.0.0.1:{port}", ["q"], ["true"], "--worker-id", "w-resub")
            with cv:
                ok = cv.wait_for(lambda: len(seen) >= 2, WAIT_S)
            self.assertTrue(ok, f"streams seen: {seen}\n" + "".join(self.agent.lines))
            self.assertEqual(seen[:2], [("w-resub", "subscribe")] * 2)
            self.assertEqual(self.agent.stop(), 0)
            self.agent = None
        finally:
            srv.stop(None).wait()

    def test_invalid_worker_id_is_a_usage_error(self):
        q = self.q()
        for bad in ["tab\there", "x" * 128, ""]:
            p = subprocess.run([os.path.join(H.BUILD, "ringq-worker"), "--addr", self.srv.addr,
                                "-q", q, "--worker-id", bad, "--", "true"],
                               capture_output=True, text=True, timeout=20)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertRegex(p.stderr, re.compile("worker.id", re.I))
        self.assertIn("--worker-id ID", subprocess.run(
            [os.path.join(H.BUILD, "ringq-worker"), "--help"], capture_output=True, text=True,
            timeout=20).stdout)


if __name__ == "__main__":
    unittest.main()
