"""Issue 15 item 4: reading a stream without a consumer from libringq (rq_read_open / _next /
_close on Streams.Read) through `ringq stream read NAME` against a real ringqd: bounded reads
(to the last message when the command starts, to a sequence, --count, from a time, a subject
filter, headers only) checked against what grpcio's Read returns, a live read that prints a
message published after it started, bad arguments (the CLI's own, and the server's refusals
reported by rq_read_next), and a lost connection (the server killed under a live read)."""
import json
import os
import signal
import subprocess
import threading

import ringq_client as C
import ringq_harness as H
from stream_client import S, StreamsTest

RINGQ = os.path.join(H.BUILD, "ringq")
PROG = os.path.join(H.BUILD, "aux", "tests", "integration", "rq_read_prog")
RUN_TIMEOUT_S = 20


def ringq(addr, *args):
    env = dict(os.environ, RINGQ_ADDR=addr)
    p = subprocess.run([RINGQ] + list(args), capture_output=True, text=True, env=env,
                       timeout=RUN_TIMEOUT_S)
    return p.returncode, p.stdout, p.stderr


class LiveRead:
    """`ringq --json stream read ... --to live` in the background; lines() waits for n lines."""

    def __init__(self, addr, *args):
        env = dict(os.environ, RINGQ_ADDR=addr)
        self.p = subprocess.Popen([RINGQ, "--json", "stream", "read"] + list(args),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=env)
        self.out, self.err = [], []
        self._t = [threading.Thread(target=self._pump, args=(self.p.stdout, self.out)),
                   threading.Thread(target=self._pump, args=(self.p.stderr, self.err))]
        for t in self._t:
            t.start()

    @staticmethod
    def _pump(f, into):
        for line in f:
            into.append(line)

    def lines(self, n, what):
        C.poll(lambda: len(self.out) >= n or self.p.poll() is not None, RUN_TIMEOUT_S, what)
        return [json.loads(x) for x in self.out]

    def wait(self):
        try:
            rc = self.p.wait(timeout=RUN_TIMEOUT_S)
        finally:
            if self.p.poll() is None:
                self.p.kill()
                self.p.wait()
        for t in self._t:
            t.join(RUN_TIMEOUT_S)
        return rc, "".join(self.err)


class StreamReadTest(StreamsTest):

    def ok(self, *args):
        rc, out, err = ringq(self.srv.addr, *args)
        self.assertEqual(rc, 0, f"ringq {args} -> {rc}: {err}")
        return out

    def jl(self, *args):
        return [json.loads(x) for x in self.ok("--json", "stream", "read", *args).splitlines()]

    def grpc_seqs(self, name, **kw):
        return [m.seq for m in self.s.read(name, **kw)]

    def test_bounded_reads(self):
        name, a, b = self.n(), self.subj("a"), self.subj("b")
        self.s.stream(name, subjects=[a, b])
        for i in range(1, 7):
            self.s.pub(a if i % 2 else b, f"m{i}", headers={"k": f"v{i}"})
        # default: from the first to the last message now, text lines
        out = self.ok("stream", "read", name).splitlines()
        self.assertEqual(out, [f"[{i}] {a if i % 2 else b}: m{i}" for i in range(1, 7)])
        # JSON, every field, and the same messages grpcio's Read gives
        got = self.jl(name)
        self.assertEqual([m["seq"] for m in got], self.grpc_seqs(name, end_seq=6))
        self.assertEqual((got[1]["subject"], got[1]["payload"], got[1]["headers"]),
                         (b, "m2", {"k": "v2"}))
        self.assertEqual(got[1]["stream"], name)
        # a range, a count, a filter, headers only
        self.assertEqual([m["seq"] for m in self.jl(name, "--from", "seq:3", "--to", "seq:5")],
                         [3, 4, 5])
        self.assertEqual([m["seq"] for m in self.jl(name, "--from", "seq:2", "--count", "2")],
                         [2, 3])
        self.assertEqual([m["seq"] for m in self.jl(name, "--subject", b)], [2, 4, 6])
        ho = self.jl(name, "--from", "seq:6", "--headers-only")
        self.assertEqual((ho[0]["payload"], ho[0]["payload_size"]), ("", 2))
        # from a time: the first message stored at or after it (times are whole ms)
        t4 = self.s.GetMessage(stream=name, seq=4).unix_ms
        iso = self.jl(name, "--from", "seq:4", "--count", "1")[0]["time"]
        from_t = self.jl(name, "--from", "time:" + iso)
        self.assertIn(4, [m["seq"] for m in from_t])
        self.assertTrue(all(m["unix_ms"] >= t4 for m in from_t), from_t)
        self.assertEqual(from_t[-1]["seq"], 6)
        before = [m for m in got if m["seq"] < from_t[0]["seq"]]
        self.assertTrue(all(m["unix_ms"] < t4 for m in before), before)
        # a bounded read ends after what was there when it started
        self.s.pub(a, "m7")
        self.assertEqual(len(self.jl(name)), 7)
        # an empty stream reads nothing and succeeds
        empty = self.n("e")
        self.s.stream(empty, subjects=[self.subj("e")])
        self.assertEqual(self.ok("stream", "read", empty), "")

    def test_live_read(self):
        name, a = self.n(), self.subj("a")
        self.s.stream(name, subjects=[a])
        self.s.pub(a, "old1", "old2")
        r = LiveRead(self.srv.addr, name, "--to", "live", "--count", "3")
        try:
            first = r.lines(2, "the two stored messages")
            self.assertEqual([m["payload"] for m in first], ["old1", "old2"])
            self.assertIsNone(r.p.poll(), "a live read stays open once caught up")
            self.s.pub(a, "new")
            rc, err = r.wait()
        finally:
            if r.p.poll() is None:
                r.p.kill()
        self.assertEqual(rc, 0, err)
        self.assertEqual([m["payload"] for m in r.lines(3, "all")], ["old1", "old2", "new"])
        self.assertEqual(r.lines(3, "all")[2]["seq"], 3)

    def test_bad_arguments(self):
        name, a = self.n(), self.subj("a")
        self.s.stream(name, subjects=[a])
        self.s.pub(a, "x")
        for args, why in ((["--to", "time:2026-01-01T00:00:00Z"], "--to takes"),
                          (["--from", "seq:0"], "--from takes"),
                          (["--from", "soon"], "--from takes"),
                          (["--count", "0"], "--count"),
                          (["--bogus", "1"], "unknown option"),
                          (["--from", "seq:5", "--to", "seq:2"], "above end_seq")):
            rc, _, err = ringq(self.srv.addr, "stream", "read", name, *args)
            self.assertEqual(rc, 2, f"{args}: {err}")
            self.assertIn(why, err)
        rc, _, err = ringq(self.srv.addr, "stream", "read")
        self.assertEqual(rc, 2, err)
        # the server's refusals, reported by rq_read_next: exit 3
        rc, _, err = ringq(self.srv.addr, "stream", "read", self.n("none"), "--to", "live")
        self.assertEqual(rc, 3, err)
        self.assertIn("NOT_FOUND", err)
        rc, _, err = ringq(self.srv.addr, "stream", "read", name, "--to", "live", "--subject",
                           "a..b")
        self.assertEqual(rc, 3, err)
        self.assertIn("INVALID_ARGUMENT", err)
        self.assertIn("filter_subjects", err)

    def test_c_api(self):
        """rq_read_* directly: live, bounded, max_messages, the library's and server's refusals
        (tests/integration/rq_read_prog.c)."""
        name, a = self.n(), self.subj("a")
        self.s.stream(name, subjects=[a])
        self.s.pub(a, "1", "2", "3")
        p = subprocess.run([PROG, self.srv.addr, name], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("OK (0 failures)", p.stdout)

    def test_lost_connection(self):
        srv = C.start_ringqd(threads=1)
        ch = srv.channel()
        try:
            s = type(self.s)(ch)
            name, a = self.n(), self.subj("a")
            s.stream(name, subjects=[a])
            s.pub(a, "before")
            r = LiveRead(srv.addr, name, "--to", "live")
            try:
                self.assertEqual(r.lines(1, "the stored message")[0]["payload"], "before")
                srv.proc.send_signal(signal.SIGKILL)
                rc, err = r.wait()
            finally:
                if r.p.poll() is None:
                    r.p.kill()
            self.assertEqual(rc, 1, err)  # a server error: the read ended, it did not finish
            self.assertIn("UNAVAILABLE", err)
        finally:
            ch.close()
            srv.close()


if __name__ == "__main__":
    import unittest
    unittest.main()
