"""Issue 15 item 4: the streams commands of the `ringq` CLI against a real ringqd - stream
create (every option) / ls / info / rm / purge, pub (stdin lines in batches, --id, --ttl,
headers), sub (ephemeral, --durable continuing where it was, --from, --count, waiting for new
messages), consumer ls / info / pause / reset / rm, --json everywhere (one object per line for pub
and sub), exit codes, interop with grpcio, libringq's Streams API (rq_stream_prog), and the
newcomer's scenario of the issue: two durable subscribers continue exactly where they were after
the server is killed and restarted."""
import json
import os
import re
import shlex
import signal
import subprocess
import unittest

import ringq_client as C
import ringq_harness as H
from ringq_client import DataDirTest
from stream_client import S, SC, StreamsTest

RINGQ = os.path.join(H.BUILD, "ringq")
PROG = os.path.join(H.BUILD, "aux", "tests", "integration", "rq_stream_prog")
RUN_TIMEOUT_S = 20


def run_ringq(addr, *args, stdin=None):
    env = dict(os.environ)
    env["RINGQ_ADDR"] = addr
    p = subprocess.run([RINGQ] + list(args), input=stdin, capture_output=True, text=True,
                       env=env, timeout=RUN_TIMEOUT_S)
    return p.returncode, p.stdout, p.stderr


class CliMixin:
    def ringq(self, *args, stdin=None):
        return run_ringq(self.srv.addr, *args, stdin=stdin)

    def ok(self, *args, stdin=None):
        rc, out, err = self.ringq(*args, stdin=stdin)
        self.assertEqual(rc, 0, f"ringq {args} -> {rc}: {err}")
        return out

    def js(self, *args, stdin=None):
        return json.loads(self.ok("--json", *args, stdin=stdin))

    def jlines(self, *args, stdin=None):
        return [json.loads(line) for line in self.ok("--json", *args, stdin=stdin).splitlines()]


class StreamCliTest(CliMixin, StreamsTest):

    def test_stream_create_every_option_info_ls_rm(self):
        name, r = self.n(), self.subj()
        info = self.js("stream", "create", name, "--subjects", f"{r}.a.>,{r}.b",
                       "--retention", "limits", "--max-msgs", "10", "--max-bytes", "100000",
                       "--max-age", "1h", "--max-msgs-per-subject", "3", "--discard", "new",
                       "--dedup-window", "30s", "--max-msg-size", "512", "--allow-ttl",
                       "--description", "from the CLI")
        cfg = info["config"]
        self.assertEqual((info["name"], cfg["subjects"]), (name, [f"{r}.a.>", f"{r}.b"]))
        self.assertEqual((cfg["retention"], cfg["discard"]), ("limits", "new"))
        self.assertEqual((cfg["max_msgs"], cfg["max_bytes"], cfg["max_age_ms"]),
                         (10, 100000, 3600000))
        self.assertEqual((cfg["max_msgs_per_subject"], cfg["duplicate_window_ms"]), (3, 30000))
        self.assertEqual((cfg["max_msg_size"], cfg["allow_msg_ttl"]), (512, True))
        self.assertEqual(info["partition"], C.partition_of(name))
        g = self.s.GetStream(name=name)  # interop: what grpcio sees
        self.assertEqual(g.config.max_age_ms, 3600000)
        self.assertEqual(g.config.discard, S.DISCARD_NEW)
        self.assertEqual(g.config.description, "from the CLI")
        out = self.ok("stream", "info", name)
        self.assertIn(name, out)
        self.assertIn("retention:", out)
        self.assertIn(name, [x["name"] for x in self.js("stream", "ls")])
        self.assertIn(name, self.ok("stream", "ls"))
        # the same configuration again is fine; another one is refused (exit 3)
        rc, _, err = self.ringq("stream", "create", name, "--subjects", f"{r}.c")
        self.assertEqual(rc, 3, err)
        self.assertIn("ALREADY_EXISTS", err)
        self.assertEqual(self.js("stream", "rm", name), {"deleted": name})
        rc, _, err = self.ringq("stream", "info", name)
        self.assertEqual((rc, "NOT_FOUND" in err), (3, True), err)

    def test_bad_arguments_exit_2_and_server_rejections_exit_3(self):
        name = self.n()
        for args in [("stream", "create", name, "--retention", "sometimes"),
                     ("stream", "create", name, "--max-age", "forever"),
                     ("stream", "create", name, "--subjects", "a,,b"),
                     ("stream", "create"), ("stream", "bogus"),
                     ("stream", "purge", name, "--up-to", "3", "--keep", "1"),
                     ("sub", "x", "--from", "yesterday"), ("sub",),
                     ("consumer", "reset", name, "c", "--to", "all"),
                     ("consumer", "pause", name, "c", "--until", "later"),
                     ("pub",)]:
            rc, _, err = self.ringq(*args)
            self.assertEqual(rc, 2, f"{args}: {err}")
        C.assert_code(self, SC.NOT_FOUND, self.s.GetStream, name=name)  # nothing was sent
        rc, _, err = self.ringq("stream", "create", "bad.name")
        self.assertEqual(rc, 3, err)
        self.assertIn("INVALID_ARGUMENT", err)
        rc, _, err = self.ringq("pub", self.subj("nobody"), "x")
        self.assertEqual(rc, 3, err)
        self.assertIn("FAILED_PRECONDITION", err)

    def test_pub_stdin_lines_in_batches_headers_id_ttl(self):
        name, a = self.n(), self.subj("a")
        self.ok("stream", "create", name, "--subjects", a, "--allow-ttl")
        lines = "".join(f"line {i}\n" for i in range(5))
        res = self.jlines("pub", a, "--batch", "2", "-H", "k=v", stdin=lines)
        self.assertEqual([x["seq"] for x in res], [1, 2, 3, 4, 5])
        self.assertTrue(all(x["stream"] == name and not x["duplicate"] for x in res))
        self.assertTrue(all(x["receipt"]["level"] in ("written", "synced") for x in res))
        got = self.s.read(name, start_seq=1, end_seq=5)
        self.assertEqual([m.payload for m in got], [f"line {i}".encode() for i in range(5)])
        self.assertEqual(dict(got[0].headers), {"k": "v"})
        self.assertEqual(self.ok("pub", a, "--id", "x1", "once"), f"{name} 6\n")
        self.assertEqual(self.ok("pub", a, "--id", "x1", "once"), f"{name} 6 (duplicate)\n")
        rc, _, err = self.ringq("pub", a, "--id", "x2", "two", "messages")
        self.assertEqual(rc, 2, err)  # an id names one message
        rc, _, err = self.ringq("pub", a, "--id", "x3", stdin="l1\nl2\n")
        self.assertEqual(rc, 2, err)
        self.assertEqual(self.s.state(name).last_seq, 6)  # nothing of either was published
        self.ok("pub", a, "--ttl", "30s", "short")
        self.assertGreater(self.s.GetMessage(stream=name, seq=7).expires_unix_ms, 0)
        rc, _, err = self.ringq("pub", a, stdin="")
        self.assertEqual(rc, 0)
        self.assertIn("nothing published", err)

    def test_sub_ephemeral_json_lines(self):
        name, a = self.n(), self.subj("a")
        self.ok("stream", "create", name, "--subjects", self.subj("*"))
        self.s.pub(a, "one", "two", headers={"h": "1"})
        self.s.pub(self.subj("b"), "other")
        res = self.jlines("sub", a, "--count", "2")
        self.assertEqual([(x["seq"], x["payload"], x["subject"]) for x in res],
                         [(1, "one", a), (2, "two", a)])
        self.assertEqual(res[0]["headers"], {"h": "1"})
        self.assertEqual(res[0]["delivery_count"], 1)
        out = self.ok("sub", self.subj("*"), "--count", "3")
        self.assertEqual(out.splitlines()[2], f"[3] {self.subj('b')}: other")

    def test_sub_durable_continues_and_from(self):
        name, a = self.n(), self.subj("a")
        self.ok("stream", "create", name, "--subjects", a)
        self.s.pub(a, *[f"m{i}" for i in range(6)])
        self.assertEqual([x["seq"] for x in self.jlines("sub", a, "--durable", "d1",
                                                        "--count", "2")], [1, 2])
        self.assertEqual([x["seq"] for x in self.jlines("sub", a, "--durable", "d1",
                                                        "--count", "2")], [3, 4])
        info = self.js("consumer", "info", name, "d1")
        self.assertEqual((info["ack_floor_stream_seq"], info["num_ack_pending"]), (4, 0))
        self.assertEqual(info["num_pending"], 2)
        self.assertEqual([x["seq"] for x in self.jlines("sub", a, "--durable", "d2", "--from",
                                                        "seq:5", "--count", "2")], [5, 6])
        self.assertEqual([x["seq"] for x in self.jlines("sub", a, "--from", "last",
                                                        "--count", "1")], [6])
        rc, out, err = self.ringq("sub", a, "--durable", "d1", "--from", "all", "--count", "1")
        self.assertEqual(rc, 0, err)
        self.assertIn("--from ignored", err)  # an existing durable keeps its position
        self.assertTrue(out.startswith("[5] "), out)
        rc, out, err = self.ringq("sub", self.subj("*"), "--stream", name, "--durable", "d1",
                                  "--count", "1")
        self.assertEqual(rc, 0, err)
        self.assertIn("another filter", err)  # it keeps its own filter: said, not hidden
        self.assertTrue(out.startswith("[6] "), out)

    def test_sub_waits_for_new_messages(self):
        name, a = self.n(), self.subj("a")
        self.ok("stream", "create", name, "--subjects", a)
        env = dict(os.environ, RINGQ_ADDR=self.srv.addr)
        p = subprocess.Popen([RINGQ, "--json", "sub", a, "--from", "new", "--count", "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            C.poll(lambda: self.s.GetStream(name=name).state.consumers == 1, 10,
                   "sub's consumer to be bound")
            self.s.pub(a, "fresh")
            out, err = p.communicate(timeout=RUN_TIMEOUT_S)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(json.loads(out)["payload"], "fresh")

    def test_consumer_commands(self):
        name, a = self.n(), self.subj("a")
        self.ok("stream", "create", name, "--subjects", a)
        self.s.pub(a, "1", "2", "3")
        self.s.consumer(name, "cx")
        self.s.consumer(name, "cy")
        self.assertEqual([c["name"] for c in self.js("consumer", "ls", name)], ["cx", "cy"])
        self.assertIn("cy", self.ok("consumer", "ls", name))
        p = self.js("consumer", "pause", name, "cx", "--until", "1h")
        self.assertGreater(p["paused_until_unix_ms"], 0)
        self.assertEqual(self.s.fetch(name, "cx", wait_ms=100), [])
        p = self.js("consumer", "pause", name, "cx", "--until", "now")
        self.assertEqual(p["paused_until_unix_ms"], 0)
        r = self.js("consumer", "reset", name, "cx", "--to", "seq:3")
        self.assertEqual(r["position_seq"], 3)
        self.assertEqual([d.message.seq for d in self.s.fetch(name, "cx", n=5)], [3])
        self.assertIn("paused until:", self.ok("consumer", "info", name, "cy"))
        self.assertEqual(self.js("consumer", "rm", name, "cy"), {"stream": name, "deleted": "cy"})
        rc, _, err = self.ringq("consumer", "info", name, "cy")
        self.assertEqual(rc, 3, err)

    def test_purge_options(self):
        name = self.n()
        a, b = self.subj("a"), self.subj("b")
        self.ok("stream", "create", name, "--subjects", self.subj("*"))
        for i in range(4):
            self.s.pub(a, f"a{i}")
            self.s.pub(b, f"b{i}")
        self.assertEqual(self.js("stream", "purge", name, "--subject", b, "--keep", "1"),
                         {"purged": 3})
        # a: 1 3 5 7, b: 2 4 6 8 -> b keeps 8; below 3 only a's 1 is left to purge
        self.assertEqual(self.js("stream", "purge", name, "--up-to", "3"), {"purged": 1})
        self.assertEqual(self.ok("stream", "purge", name), f"purged 4 messages from {name}\n")
        self.assertEqual(self.s.GetStream(name=name).state.messages, 0)

    def test_c_api_program(self):
        """libringq's Streams calls and its Consume session (tests/integration/rq_stream_prog.c)."""
        p = subprocess.run([PROG, self.srv.addr, self.n()], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("OK (0 failures)", p.stdout)

    def test_help_texts(self):
        for cmd in ("stream", "pub", "sub", "consumer"):
            out = self.ok(cmd, "--help")
            self.assertTrue(out.startswith("usage: ringq " + cmd), out)
            self.assertTrue(all(len(line) <= 100 for line in out.splitlines()), cmd)


class NewcomerScenarioTest(CliMixin, DataDirTest):
    """The issue's "done when": create a stream with the CLI, publish lines, read them back with
    two independent durable consumers, kill the server, restart it, and each consumer continues
    exactly where it was (README "Streams in one minute")."""

    TMP_PREFIX = "ringq-streams-cli-"

    def seqs(self, durable, n):
        return [x["seq"] for x in self.jlines("sub", "orders.>", "--durable", durable,
                                              "--count", str(n))]

    def test_two_durable_subscribers_continue_after_kill(self):
        self.start()
        self.ok("stream", "create", "orders", "--subjects", "orders.>")
        self.ok("pub", "orders.new", stdin="".join(f"order {i}\n" for i in range(1, 7)))
        self.assertEqual(self.seqs("billing", 2), [1, 2])
        self.assertEqual(self.seqs("shipping", 4), [1, 2, 3, 4])
        self.srv.proc.send_signal(signal.SIGKILL)
        self.srv.proc.wait()
        self.ch.close()
        self.srv.close()
        self.start()  # same data directory, a new port
        self.assertEqual(self.seqs("billing", 4), [3, 4, 5, 6])
        self.assertEqual(self.seqs("shipping", 2), [5, 6])
        lines = self.ok("sub", "orders.>", "--from", "seq:6", "--count", "1")
        self.assertEqual(lines, "[6] orders.new: order 6\n")
        self.assertEqual(self.srv.terminate(), 0)


README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "README.md")


def readme_streams_block():
    """The shell lines of README's "Streams in one minute" code block."""
    with open(README) as f:
        text = f.read()
    at = text.index("### Streams in one minute")
    start = text.index("```sh\n", at) + len("```sh\n")
    return text[start:text.index("```", start)].splitlines()


class ReadmeStreamsTest(CliMixin, DataDirTest):
    """README "Streams in one minute", run exactly as written (build/ringq is this build's
    binary, the server's address comes in RINGQ_ADDR): the comment line that says to kill -9 the
    server is a SIGKILL and a restart on the same data directory. Each `sub` prints the
    sequences its comment promises, so the README cannot drift from what ringq does."""

    TMP_PREFIX = "ringq-streams-readme-"
    # per command, in order: the sequences it prints ([n] at the start of a line), or None
    WANT = [None, None, [1, 2], [1, 2, 3], [3, 4], [4], None]

    def run_line(self, line):
        cmd = line.replace("build/ringq", shlex.quote(RINGQ))
        env = dict(os.environ, RINGQ_ADDR=self.srv.addr)
        p = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True,
                           env=env, timeout=RUN_TIMEOUT_S)
        self.assertEqual(p.returncode, 0, f"{line}: {p.stderr}")
        return p.stdout

    def test_readme_commands(self):
        self.start()
        outs = []
        killed = False
        for line in readme_streams_block():
            if line.startswith("# kill -9"):
                self.srv.proc.send_signal(signal.SIGKILL)
                self.srv.proc.wait()
                self.ch.close()
                self.srv.close()
                self.start()  # same data directory, a new port
                killed = True
            elif line.strip() and not line.startswith("#"):
                outs.append(self.run_line(line))
        self.assertTrue(killed, "the README block no longer kills the server")
        self.assertEqual(len(outs), len(self.WANT), "README commands changed: update WANT")
        for out, want in zip(outs, self.WANT):
            if want is not None:
                self.assertEqual([int(x) for x in re.findall(r"^\[(\d+)\]", out, re.M)], want,
                                 out)
        self.assertIn("order 4", outs[5])
        for name in ("billing", "shipping"):
            self.assertIn(name, outs[6])
        self.assertEqual(self.srv.terminate(), 0)


if __name__ == "__main__":
    unittest.main()
