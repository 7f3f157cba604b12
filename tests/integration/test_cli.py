"""The `ringq` CLI and libringq against a real ringqd: every subcommand, --json parsed here,
bad input and exit codes (2 usage, 3 rejected by the server, 4 cannot connect), and interop
(tasks enqueued by the CLI are leased by Python grpcio). Also runs rq_api_prog, the C program
that drives libringq's API (Queue, Admin, Work stream)."""
import json
import time
import os
import socket
import subprocess
import unittest

import grpc

import ringq_harness as H
from ringq_client import RingqdTest
from ringq.v1 import admin_pb2, queue_pb2, types_pb2

RINGQ = os.path.join(H.BUILD, "ringq")
PROG = os.path.join(H.BUILD, "aux", "tests", "integration", "rq_api_prog")
RUN_TIMEOUT_S = 20


def rpc_count(addr, method):
    """ringq_rpc_requests_total for one method ("pkg.Service/Method"), every code summed."""
    import urllib.request
    total = 0
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("ringq_rpc_requests_total{") and f'method="{method}"' in line:
                total += int(float(line.split()[-1]))
    return total


class CliTest(RingqdTest):
    """One ringqd (2 shards) for the class: cls.srv, cls.ch (ringq_client.RingqdTest)."""

    def ringq(self, *args, stdin=None, addr=None, env_addr=True):
        env = dict(os.environ)
        env.pop("RINGQ_ADDR", None)
        if env_addr:
            env["RINGQ_ADDR"] = self.srv.addr
        argv = [RINGQ] + (["--addr", addr] if addr else []) + list(args)
        p = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env,
                           timeout=RUN_TIMEOUT_S)
        return p.returncode, p.stdout, p.stderr

    def ok(self, *args, **kw):
        rc, out, err = self.ringq(*args, **kw)
        self.assertEqual(rc, 0, f"ringq {args} -> {rc}: {err}")
        return out

    def js(self, *args, **kw):
        return json.loads(self.ok("--json", *args, **kw))

    def q(self):
        return "cli-" + self._testMethodName.replace("test_", "")[:40]

    def lease(self, queue, n=10, lease_ms=60000):
        fn = self.ch.unary_unary("/ringq.v1.Queue/Lease",
                                 request_serializer=lambda m: m.SerializeToString(),
                                 response_deserializer=queue_pb2.LeaseResponse.FromString)
        return fn(queue_pb2.LeaseRequest(queue=queue, max_tasks=n, lease_ms=lease_ms),
                  timeout=10).tasks

    def nack_dead(self, task):
        """Nacks a delivered task (with its lease token) to the dead letters."""
        fn = self.ch.unary_unary("/ringq.v1.Queue/Nack",
                                 request_serializer=lambda m: m.SerializeToString(),
                                 response_deserializer=queue_pb2.NackResponse.FromString)
        return fn(queue_pb2.NackRequest(id=task.id, lease_token=task.lease_token,
                                        dead_letter=True, reason="broken"), timeout=10)

    # ---- enqueue ----

    def test_enqueue_arguments_json_and_grpcio_lease(self):
        q = self.q()
        res = self.js("enqueue", q, "-p", "7", "-H", "trace=t1", "--max-attempts", "4",
                      "one", "two")
        self.assertEqual(len(res), 2)
        self.assertTrue(all(r["id"] and r["duplicate"] is False for r in res))
        tasks = self.lease(q)  # interop: the CLI's tasks as grpcio sees them
        self.assertEqual([t.id for t in tasks], [r["id"] for r in res])
        self.assertEqual([t.payload for t in tasks], [b"one", b"two"])
        self.assertEqual(tasks[0].priority, 7)
        self.assertEqual(dict(tasks[0].headers), {"trace": "t1"})
        self.assertEqual(tasks[0].max_attempts, 4)

    def test_enqueue_stdin_lines_in_batches(self):
        q = self.q()
        lines = "".join(f"line {i}\n" for i in range(7))
        out = self.ok("enqueue", "--batch", "3", q, stdin=lines)
        ids = out.split()
        self.assertEqual(len(ids), 7)
        self.assertEqual(len(set(ids)), 7)
        info = self.js("stats", q)[0]
        self.assertEqual(info["ready"], 7)
        self.assertEqual([t.payload for t in self.lease(q)], [f"line {i}".encode() for i in range(7)])

    def test_enqueue_stdin_streams_one_task_per_line(self):
        # The default for stdin: one EnqueueStream, one request per line, more lines than the
        # stream's credits (1024), so the CLI must wait for answers to send on.
        q = self.q()
        n = 2500
        unary = rpc_count(self.srv.addr, "ringq.v1.Queue/Enqueue")
        streams = rpc_count(self.srv.addr, "ringq.v1.Queue/EnqueueStream")
        lines = "".join(f"s{i}\n" for i in range(n))
        out = self.ok("enqueue", "--durability", "synced", "--receipt", q, stdin=lines)
        rows = out.splitlines()
        self.assertEqual(len(rows), n)
        self.assertTrue(all("level=synced" in r for r in rows))
        ids = [r.split()[0] for r in rows]
        self.assertEqual(len(set(ids)), n)
        # One stream and no unary Enqueue: the lines went on the stream.
        self.assertEqual(rpc_count(self.srv.addr, "ringq.v1.Queue/EnqueueStream"), streams + 1)
        self.assertEqual(rpc_count(self.srv.addr, "ringq.v1.Queue/Enqueue"), unary)
        got = []
        while len(got) < n:
            batch = self.lease(q, n=1000)
            self.assertTrue(batch)
            got += batch
        # Printed in input order: the ids and payloads line up.
        self.assertEqual([t.id for t in got], ids)
        self.assertEqual([t.payload for t in got], [f"s{i}".encode() for i in range(n)])
        # A refused line (bad queue name) fails the command with the server's reason.
        rc, _, err = self.ringq("enqueue", "bad name!", stdin="x\n")
        self.assertEqual(rc, 3, err)
        self.assertIn("queue", err)

    def test_enqueue_key_delay_and_duplicate(self):
        q = self.q()
        first = self.js("enqueue", "--key", "k1", "--delay-ms", "3600000", q, "x")[0]
        again = self.js("enqueue", "--key", "k1", q, "x")[0]
        self.assertTrue(again["duplicate"])
        self.assertEqual(again["id"], first["id"])
        t = self.js("get", first["id"])
        self.assertEqual(t["state"], "delayed")
        self.assertEqual(t["idempotency_key"], "k1")
        self.assertEqual(t["payload"], "x")

    # ---- inspection ----

    def test_stats_peek_get_tables_and_json(self):
        q = self.q()
        tid = self.js("enqueue", q, "-H", "a=b", "payload\twith tab")[0]["id"]
        table = self.ok("stats")
        self.assertIn("QUEUE", table.splitlines()[0])
        self.assertTrue(any(line.split()[0] == q for line in table.splitlines()[1:]))
        all_q = self.js("stats")
        mine = [x for x in all_q if x["name"] == q][0]
        self.assertEqual(mine["ready"], 1)
        self.assertEqual(mine["config"]["max_attempts"], 5)
        self.assertEqual([t["id"] for t in self.js("peek", q)], [tid])
        self.assertIn("payload:      payload\twith tab", self.ok("get", tid))
        t = self.js("get", tid)
        self.assertEqual((t["id"], t["queue"], t["state"]), (tid, q, "ready"))
        self.assertEqual(t["headers"], {"a": "b"})

    def enqueue_raw(self, queue, payload, **kw):
        fn = self.ch.unary_unary("/ringq.v1.Queue/Enqueue",
                                 request_serializer=lambda m: m.SerializeToString(),
                                 response_deserializer=queue_pb2.EnqueueResponse.FromString)
        return fn(queue_pb2.EnqueueRequest(queue=queue, tasks=[types_pb2.TaskSpec(
            payload=payload, **kw)]), timeout=10).results[0].id

    def test_peek_order_state_limit_and_escaping(self):
        q = self.q()
        low = self.js("enqueue", "-p", "1", q, "low")[0]["id"]
        high = self.js("enqueue", "-p", "9", q, "high")[0]["id"]
        low2 = self.js("enqueue", "-p", "1", q, "low2")[0]["id"]
        later = self.js("enqueue", "--delay-ms", "3600000", q, "later")[0]["id"]
        nasty = self.enqueue_raw(q, b"\x1b[2Jred\x00\xff\\n" + b"z" * 100)  # priority 0
        order = [high, low, low2, nasty, later]
        got = self.js("peek", q)
        self.assertEqual([t["id"] for t in got], order)
        self.assertEqual([t["state"] for t in got], ["ready"] * 4 + ["delayed"])
        self.assertEqual([t["priority"] for t in got], [9, 1, 1, 0, 0])
        self.assertEqual(got[0]["payload"], "high")
        self.assertIn("payload_base64", got[3])
        self.assertGreater(got[4]["due_unix_ms"], got[4]["enqueued_unix_ms"])
        self.assertEqual([t["id"] for t in self.js("peek", q, "--state", "delayed")], [later])
        self.assertEqual([t["id"] for t in self.js("peek", "--state", "ready", q)], order[:4])
        self.assertEqual([t["id"] for t in self.js("peek", q, "--limit", "2")], order[:2])
        self.assertEqual([t["id"] for t in self.js("peek", q, "--state", "all", "--limit",
                                                   "1000")], order)
        # The table: one row per task, in order, payloads escaped (no raw control bytes).
        out = self.ok("peek", q, "--limit", "2")
        lines = out.splitlines()
        self.assertIn("ID", lines[0])
        self.assertIn("PAYLOAD", lines[0])
        self.assertEqual([line.split()[0] for line in lines[1:3]], order[:2])
        self.assertEqual(lines[1].split()[1:3], ["ready", "9"])
        self.assertIn("more tasks follow", lines[3])
        out = self.ok("peek", q)
        row = [line for line in out.splitlines() if line.startswith(nasty)][0]
        self.assertIn("\\x1b[2Jred\\x00\\xff\\\\n", row)
        self.assertTrue(row.endswith("..."))
        self.assertFalse(any(ch < " " for ch in out.replace("\n", "")))
        self.assertIn("delayed", [line.split()[1] for line in out.splitlines()[1:]])
        self.assertNotIn("more tasks follow", out)
        # Peeking changed nothing: a lease gets the same tasks, in the same order.
        self.assertEqual([t.id for t in self.lease(q)], order[:4])
        self.assertIn("no ready tasks", self.ok("peek", q, "--state", "ready"))
        # Errors: unknown queue rejected by the server (3), bad arguments refused here (2).
        rc, _, err = self.ringq("peek", q + "-nope")
        self.assertEqual(rc, 3)
        self.assertIn("NOT_FOUND", err)
        for args in (["peek"], ["peek", q, "--limit", "0"], ["peek", q, "--limit", "1001"],
                     ["peek", q, "--state", "leased"], ["peek", q, "--state"], ["peek", q, q],
                     ["peek", q, "--bogus"]):
            rc, _, err = self.ringq(*args)
            self.assertEqual(rc, 2, f"{args}: {rc} {err}")

    def test_watch_refreshes_count_times(self):
        q = self.q()
        self.ok("enqueue", q, "x")
        out = self.ok("watch", "--count", "3", "--interval-ms", "20")
        self.assertEqual(out.count("QUEUE"), 3)
        self.assertIn(q, out)

    # ---- dead letters, redrive, purge, pause, config ----

    def test_dead_redrive_purge(self):
        q = self.q()
        ids = [r["id"] for r in self.js("enqueue", q, "a", "b", "c")]
        for t in self.lease(q):
            self.nack_dead(t)
        dead = self.js("dead", q)
        self.assertEqual(sorted(d["id"] for d in dead), sorted(ids))
        self.assertTrue(all(d["state"] == "dead" and d["last_error"] == "broken" for d in dead))
        self.assertEqual(len(self.js("dead", "--limit", "2", q)), 2)
        self.assertIn("broken", self.ok("dead", q))
        self.assertEqual(self.js("redrive", q, ids[0])["redriven"], 1)
        self.assertEqual(self.js("redrive", q)["redriven"], 2)
        info = self.js("stats", q)[0]
        self.assertEqual((info["ready"], info["dead"]), (3, 0))
        self.assertEqual(self.js("purge", q)["purged"], 3)
        self.assertEqual(self.js("stats", q)[0]["ready"], 0)

    def test_pause_resume_config(self):
        q = self.q()
        self.ok("enqueue", q, "x")
        self.assertTrue(self.js("pause", q)["paused"])
        self.assertEqual(len(self.lease(q)), 0)
        self.assertFalse(self.js("resume", q)["paused"])
        c = self.js("config", q, "--max-attempts", "9", "--lease-ms", "1234",
                    "--dead-letter", "off", "--dedup-window-ms", "0")["config"]
        self.assertEqual((c["max_attempts"], c["lease_ms"], c["dead_letter"], c["dedup_window_ms"]),
                         (9, 1234, False, 0))
        self.assertIn("max_attempts=9", self.ok("config", q))
        # Lease tokens: required by default; --tokenless-ack turns the old rule on and off.
        self.assertFalse(c["allow_tokenless_ack"])
        self.assertIn("tokenless_ack=off", self.ok("config", q))
        c = self.js("config", q, "--tokenless-ack", "on")["config"]
        self.assertTrue(c["allow_tokenless_ack"])
        self.assertEqual(c["max_attempts"], 9)  # the other settings stay
        self.assertIn("tokenless_ack=on", self.ok("config", q))
        c = self.js("config", q, "--tokenless-ack", "off")["config"]
        self.assertFalse(c["allow_tokenless_ack"])
        rc, _, err = self.ringq("config", q, "--tokenless-ack", "maybe")
        self.assertEqual(rc, 2, err)

    # ---- errors and exit codes ----

    def test_usage_errors_exit_2(self):
        for args in (["bogus"], [], ["enqueue"], ["enqueue", "q", "-p", "high", "x"],
                     ["enqueue", "q", "-H", "novalue", "x"], ["config", "q", "--dead-letter", "maybe"],
                     ["get"], ["dead", "q", "--limit", "-1"], ["stats", "a", "b"]):
            rc, out, err = self.ringq(*args)
            self.assertEqual(rc, 2, f"{args}: {rc} {err}")
            self.assertIn("ringq:", err)

    def test_server_rejections_exit_3(self):
        rc, _, err = self.ringq("enqueue", "bad/name", "x")
        self.assertEqual(rc, 3)
        self.assertIn("INVALID_ARGUMENT", err)
        self.assertIn("queue name", err)
        rc, _, err = self.ringq("get", "no-such-id")
        self.assertEqual(rc, 3)
        # (An Enqueue rejected by q_part_enqueue, e.g. priority 99, is sometimes left unanswered
        # by ringqd until another commit happens: reported to the server's owners, not tested
        # here so this file stays deterministic.)

    def test_cannot_connect_exit_4_and_addr_flag(self):
        # The CLI is a fail-fast client: a refused dial ends the call at once, long before
        # the default 30 s deadline (a wait-for-ready client would keep dialling until then).
        t0 = time.monotonic()
        rc, _, err = self.ringq("stats", addr="127.0.0.1:1")
        self.assertEqual(rc, 4)
        self.assertIn("CONNECT_FAILED", err)
        self.assertIn("refused", err)
        self.assertLess(time.monotonic() - t0, 10.0)
        rc, _, err = self.ringq("stats", addr="localhost:notaport")
        self.assertEqual(rc, 2)
        # --addr alone (no environment) reaches the server.
        rc, out, err = self.ringq("--json", "stats", addr=self.srv.addr, env_addr=False)
        self.assertEqual(rc, 0, err)
        self.assertIsInstance(json.loads(out), list)

    def test_help_fits_a_screen(self):
        for binary in ("ringq", "ringq-worker"):
            p = subprocess.run([os.path.join(H.BUILD, binary), "--help"], capture_output=True,
                               text=True, timeout=RUN_TIMEOUT_S)
            self.assertEqual(p.returncode, 0)
            lines = p.stdout.splitlines()
            self.assertLessEqual(len(lines), 24, binary)
            self.assertTrue(all(len(line) <= 100 for line in lines), binary)

    # ---- libringq's C API ----

    def test_c_api_program(self):
        p = subprocess.run([PROG, self.srv.addr, self.q()], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("OK (0 failures)", p.stdout)

    def test_c_api_call_before_the_server_listens(self):
        """Calls started while nothing listens are dialled again with backoff and succeed once
        ringqd comes up on that port, within their deadline (the program says "dialled" after
        its first dial failed; the server is started only then)."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        p = subprocess.Popen([PROG, "--late", f"127.0.0.1:{port}", "late-q"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        srv = None
        try:
            first = p.stdout.readline()
            if first.strip() != "dialled":
                self.fail(first + p.communicate(timeout=30)[1])
            srv = H.Server("ringqd", "--port", str(port), threads=1)
            out, err = p.communicate(timeout=30)
            self.assertEqual(p.returncode, 0, out + err)
            self.assertIn("OK (0 failures)", out)
            with srv.channel() as ch:
                info = H.unary(ch, "/ringq.v1.Admin/GetQueue",
                               admin_pb2.GetQueueRequest(name="late-q"), admin_pb2.QueueInfo,
                               timeout=10)
            self.assertEqual(info.ready, 2)  # the asynchronous and the blocking Enqueue
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            if srv:
                srv.terminate()
                srv.close()


if __name__ == "__main__":
    unittest.main()
