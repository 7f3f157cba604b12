"""The edges of the command-line programs against a real ringqd (issue #12, item 12): --version
on ringq, ringq-worker, ringq-log and ringq-bench; the LICENSE file; `ringq COMMAND --help`;
colour in tables only on a terminal (a real pty) and never with NO_COLOR; one time format
(RFC 3339 UTC with milliseconds) in every text output and beside the unix-ms integers in JSON;
redrive naming the ids it skipped; empty results and empty stdin saying so; `ringq delete task`
and `ringq delete queue` (Admin.DeleteQueue) checked with Python grpcio."""
import datetime
import json
import os
import pty
import re
import select
import subprocess
import time
import unittest

import grpc

import ringq_client as C
import ringq_harness as H

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RINGQ = os.path.join(H.BUILD, "ringq")
RUN_TIMEOUT_S = 20
RFC3339_MS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
SGR = "\x1b["


def rt_version():
    with open(os.path.join(ROOT, "core", "rt_version.h")) as f:
        return re.search(r'#define RT_VERSION "([^"]+)"', f.read()).group(1)


def rfc3339(ms):
    t = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


class CliEdgesTest(C.RingqdTest):
    def env(self, **extra):
        env = dict(os.environ)
        env.pop("RINGQ_ADDR", None)
        env.pop("NO_COLOR", None)
        env["RINGQ_ADDR"] = self.srv.addr
        env.update(extra)
        return env

    def ringq(self, *args, stdin=None, **extra_env):
        p = subprocess.run([RINGQ] + list(args), input=stdin, capture_output=True, text=True,
                           env=self.env(**extra_env), timeout=RUN_TIMEOUT_S)
        return p.returncode, p.stdout, p.stderr

    def ok(self, *args, **kw):
        rc, out, err = self.ringq(*args, **kw)
        self.assertEqual(rc, 0, f"ringq {args} -> {rc}: {err}")
        return out

    def js(self, *args, **kw):
        return json.loads(self.ok("--json", *args, **kw))

    def on_pty(self, *args, **extra_env):
        """Runs ringq with its stdout on a pseudo-terminal; returns (exit code, output)."""
        master, slave = pty.openpty()
        try:
            p = subprocess.Popen([RINGQ] + list(args), stdin=subprocess.DEVNULL, stdout=slave,
                                 stderr=subprocess.PIPE, env=self.env(**extra_env))
        finally:
            os.close(slave)
        out = b""
        deadline = time.monotonic() + RUN_TIMEOUT_S
        try:
            while time.monotonic() < deadline:
                r, _, _ = select.select([master], [], [], deadline - time.monotonic())
                if not r:
                    break
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the program exited and closed its side
                    break
                if not chunk:
                    break
                out += chunk
            rc = p.wait(timeout=RUN_TIMEOUT_S)
            p.stderr.close()
        finally:
            os.close(master)
            if p.poll() is None:
                p.kill()
                p.wait()
        return rc, out.decode(errors="replace")

    def lease(self, queue, n=10):
        return self.c.take(queue, n=n, lease_ms=60000)

    def dead(self, queue, *payloads):
        ids = self.c.put(queue, *payloads)
        got = self.lease(queue, n=len(ids))
        for t in got:
            self.c.Nack(id=t.id, dead_letter=True, reason="broken")
        return ids

    # ---- --version, LICENSE, --help ----

    def test_version_on_every_program(self):
        want = rt_version()
        for prog in ("ringq", "ringq-worker", "ringq-log", "ringq-bench"):
            with self.subTest(prog=prog):
                p = subprocess.run([os.path.join(H.BUILD, prog), "--version"],
                                   capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertRegex(p.stdout, rf"^{re.escape(prog)} {re.escape(want)} \(\S+\)\n$")
                self.assertEqual(p.stderr, "")

    def test_license_is_mit(self):
        with open(os.path.join(ROOT, "LICENSE")) as f:
            text = f.read()
        self.assertTrue(text.startswith("MIT License"))
        self.assertIn("the ringq authors", text)
        self.assertIn("WITHOUT WARRANTY OF ANY KIND", text)

    def test_each_command_has_its_own_help(self):
        cmds = ["enqueue", "stats", "watch", "peek", "get", "dead", "redrive", "purge", "delete",
                "pause", "resume", "config"]
        for cmd in cmds:
            with self.subTest(cmd=cmd):
                # No server needed (nothing listens at port 1): help never connects.
                for argv in ([cmd, "--help"], [cmd, "-h"], ["--addr", "127.0.0.1:1", cmd,
                                                             "some-arg", "--help"]):
                    p = subprocess.run([RINGQ] + argv, capture_output=True, text=True,
                                       timeout=RUN_TIMEOUT_S)
                    self.assertEqual(p.returncode, 0, p.stderr)
                    self.assertTrue(p.stdout.startswith(f"usage: ringq {cmd}"), p.stdout)
                    self.assertEqual(p.stderr, "")
                    lines = p.stdout.splitlines()
                    self.assertLessEqual(len(lines), 24)
                    self.assertTrue(all(len(line) <= 100 for line in lines))
        # The command's help is not the global one.
        self.assertNotIn("watch", self.ok("enqueue", "--help"))
        self.assertIn("--force", self.ok("delete", "queue", "--help"))
        # After "--" a --help is an argument (here: a payload the command refuses).
        rc, out, err = self.ringq("enqueue", "q", "--", "--help")
        self.assertEqual(rc, 2, out + err)

    # ---- colour ----

    def test_colour_only_on_a_terminal_and_never_with_no_color(self):
        q = self.q()
        self.dead(q, "gone")
        self.c.put(q, "ready one")
        self.c.put(q, "later", delay_ms=3600000)
        rc, out = self.on_pty("stats", q)
        self.assertEqual(rc, 0, out)
        self.assertIn("\x1b[1mQUEUE", out)      # bold header
        self.assertIn("\x1b[31m", out)          # a dead count, red
        rc, out = self.on_pty("peek", q)
        self.assertEqual(rc, 0, out)
        self.assertIn("\x1b[32mready", out)
        self.assertIn("\x1b[33mdelayed", out)
        rc, out = self.on_pty("dead", q)
        self.assertIn("\x1b[1mID", out)
        # NO_COLOR (any non-empty value) on a terminal: plain text, same content.
        for cmd in (["stats", q], ["peek", q], ["dead", q]):
            rc, out = self.on_pty(*cmd, NO_COLOR="1")
            self.assertEqual(rc, 0, out)
            self.assertNotIn(SGR, out, cmd)
            self.assertIn(q if cmd[0] == "stats" else "gone" if cmd[0] == "dead" else "ready",
                          out)
        # Not a terminal (a pipe): plain; --json on a terminal: plain.
        for cmd in (["stats", q], ["peek", q], ["dead", q]):
            self.assertNotIn(SGR, self.ok(*cmd))
        rc, out = self.on_pty("--json", "stats", q)
        self.assertNotIn(SGR, out)
        self.assertEqual(json.loads(out)[0]["name"], q)
        # An empty NO_COLOR does not count (no-color.org).
        rc, out = self.on_pty("stats", q, NO_COLOR="")
        self.assertIn(SGR, out)

    # ---- one time format ----

    def test_one_time_format_rfc3339_utc_ms(self):
        q = self.q()
        ready = self.c.put(q, "now")[0]
        later = self.c.put(q, "later", delay_ms=3600000)[0]
        info = {i: self.c.GetTask(id=i) for i in (ready, later)}
        # get: enqueued and due as RFC 3339 UTC with ms, the same instant as the API's.
        out = self.ok("get", later)
        self.assertIn(f"enqueued:     {rfc3339(info[later].enqueued_unix_ms)}\n", out)
        self.assertIn(f"due:          {rfc3339(info[later].due_unix_ms)}\n", out)
        self.assertNotIn("unix ms", out)
        # JSON: the integers stay, the same format beside them.
        t = self.js("get", later)
        self.assertEqual(t["enqueued_unix_ms"], info[later].enqueued_unix_ms)
        self.assertEqual(t["enqueued"], rfc3339(info[later].enqueued_unix_ms))
        self.assertEqual(t["due"], rfc3339(info[later].due_unix_ms))
        self.assertIsNone(self.js("get", ready)["due"])
        # peek's table, dead's table and watch's heading use it too.
        out = self.ok("peek", q)
        self.assertIn(rfc3339(info[ready].enqueued_unix_ms), out)
        self.assertIn(rfc3339(info[later].due_unix_ms), out)
        d = self.q() + "-d"
        dead_id = self.dead(d, "x")[0]
        out = self.ok("dead", d)
        self.assertIn(rfc3339(self.c.GetTask(id=dead_id).enqueued_unix_ms), out)
        first = self.ok("watch", "--count", "1").splitlines()[0]
        self.assertRegex(first, rf"^ringq \S+  {RFC3339_MS}  every 1000 ms$")

    # ---- redrive says what it skipped ----

    def test_redrive_names_the_ids_it_skipped(self):
        q, other = self.q(), self.q() + "-o"
        d1, d2 = self.dead(q, "a", "b")
        ready = self.c.put(q, "r")[0]
        elsewhere = self.dead(other, "o")[0]
        unknown = "0-999999999"
        rc, out, err = self.ringq("redrive", q, d1, ready, unknown, elsewhere)
        self.assertEqual(rc, 3, err)
        lines = out.splitlines()
        self.assertEqual(lines[0], "redriven: 1")
        self.assertEqual(lines[1], f"skipped {ready}: task is not dead (FAILED_PRECONDITION)")
        self.assertRegex(lines[2], rf"^skipped {unknown}: .+ \(NOT_FOUND\)$")
        self.assertRegex(lines[3], rf"^skipped {elsewhere}: .+ \(NOT_FOUND\)$")
        self.assertEqual(len(lines), 4)
        self.assertEqual(self.c.GetTask(id=d1).state, C.types_pb2.TASK_STATE_READY)
        # --json: the same, for scripts.
        rc, out, err = self.ringq("--json", "redrive", q, d2, d1)
        self.assertEqual(rc, 3, err)
        r = json.loads(out)
        self.assertEqual(r["redriven"], 1)
        self.assertEqual([(s["id"], s["code"]) for s in r["skipped"]],
                         [(d1, "FAILED_PRECONDITION")])
        self.assertEqual(r["skipped"][0]["reason"], "task is not dead")
        # Nothing skipped: exit 0, no skipped lines; nothing dead: it says so.
        q3 = q + "-3"
        d3 = self.dead(q3, "c")[0]
        self.assertEqual(self.ok("redrive", q3, d3), "redriven: 1\n")
        self.assertEqual(self.ok("redrive", q3), f"no dead tasks in {q3}: nothing redriven\n")
        self.assertEqual(self.js("redrive", q3), {"redriven": 0, "skipped": []})

    # ---- empty results and empty stdin ----

    def test_empty_results_and_empty_stdin_say_so(self):
        q = self.q()
        self.c.ConfigureQueue(name=q, max_attempts=3)  # exists, holds nothing
        self.assertEqual(self.ok("dead", q), f"no dead tasks in {q}\n")
        self.assertEqual(self.js("dead", q), [])
        self.assertEqual(self.ok("peek", q), f"no ready or delayed tasks in {q}\n")
        self.assertEqual(self.js("peek", q), [])
        rc, out, err = self.ringq("enqueue", q, stdin="")
        self.assertEqual((rc, out), (0, ""), err)
        self.assertEqual(err, "ringq: no input: nothing enqueued\n")
        rc, out, err = self.ringq("--json", "enqueue", q, stdin="")
        self.assertEqual((rc, json.loads(out)), (0, []))
        self.assertIn("no input", err)
        self.assertEqual(self.c.GetQueue(name=q).ready, 0)
        # A server without queues.
        srv = C.start_ringqd(threads=1)
        try:
            env = self.env(RINGQ_ADDR=srv.addr)
            p = subprocess.run([RINGQ, "stats"], capture_output=True, text=True, env=env,
                               timeout=RUN_TIMEOUT_S)
            self.assertEqual((p.returncode, p.stdout), (0, "no queues\n"), p.stderr)
            p = subprocess.run([RINGQ, "--json", "stats"], capture_output=True, text=True,
                               env=env, timeout=RUN_TIMEOUT_S)
            self.assertEqual(json.loads(p.stdout), [])
        finally:
            code, log = C.stop(srv)
        self.assertEqual(code, 0, log)

    # ---- delete ----

    def test_delete_tasks_and_queues(self):
        q = self.q()
        a, b, c = self.c.put(q, "a", "b", "c")
        rc, out, err = self.ringq("delete", "task", a, "0-999999999", b)
        self.assertEqual(rc, 3, err)
        self.assertEqual(out, f"deleted task {a}\ndeleted task {b}\n")
        self.assertIn("NOT_FOUND", err)
        for i in (a, b):
            C.assert_code(self, grpc.StatusCode.NOT_FOUND, self.c.GetTask, id=i)
        self.assertEqual(self.js("delete", "task", c), {"deleted": [c]})
        # A queue with a leased task: refused, then forced.
        x, y = self.c.put(q, "x", "y")
        self.assertEqual(len(self.lease(q, n=1)), 1)
        rc, out, err = self.ringq("delete", "queue", q)
        self.assertEqual(rc, 3)
        self.assertIn("FAILED_PRECONDITION", err)
        self.assertIn("--force", self.ok("delete", "--help"))
        self.assertEqual(self.c.GetQueue(name=q).leased, 1)
        self.assertEqual(self.ok("delete", "queue", q, "--force"),
                         f"deleted queue {q} with 2 tasks\n")
        C.assert_code(self, grpc.StatusCode.NOT_FOUND, self.c.GetQueue, name=q)
        rc, _, err = self.ringq("stats", q)
        self.assertEqual(rc, 3)
        self.assertIn("NOT_FOUND", err)
        rc, _, err = self.ringq("delete", "queue", q)
        self.assertEqual(rc, 3)
        self.c.put(q, "again")
        self.assertEqual(self.js("delete", "queue", q), {"queue": q, "deleted_tasks": 1})
        for args in (["delete"], ["delete", "thing", q], ["delete", "task"],
                     ["delete", "queue"], ["delete", "queue", q, q],
                     ["delete", "queue", q, "--bogus"], ["delete", "task", "--force"]):
            rc, _, err = self.ringq(*args)
            self.assertEqual(rc, 2, f"{args}: {rc} {err}")


if __name__ == "__main__":
    unittest.main()
