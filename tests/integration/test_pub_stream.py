"""libringq's pipelined publish (rq_pub_stream on Streams.PublishStream, client/ringq.h
"Pipelined publish") against a real ringqd: requests sent before any answer is read are answered
in request order with dense sequences, the messages stored in that order (read back with grpcio);
SYNCED answers only once the commit that covers them is durable (Admin's synced watermark, the
fsync counter); the credit window (the server's, in every answer) makes rq_pub_stream_send say
RQ_EAGAIN until an answer frees a slot; a refused request mid-stream is answered with its status
and the stream goes on; a server killed under the stream fails every unanswered request instead of
hanging. Also `ringq pub`, which publishes on the stream. Driven through the C program
tests/integration/rq_pub_stream_prog.c."""
import os
import signal
import subprocess
import unittest

import grpc

import ringq_client as C
import ringq_harness as H
from stream_client import Streams, StreamsTest, sname
from test_queue_receipt import fsyncs

PROG = os.path.join(H.BUILD, "aux", "tests", "integration", "rq_pub_stream_prog")
RINGQ = os.path.join(H.BUILD, "ringq")
PROG_TIMEOUT_S = 60
SYNCED = 3  # RQ_DURABILITY_SYNCED
WINDOW = 1024  # the server's PublishStream window (docs/semantics.md, EnqueueStream)
RQ_EAGAIN = 102  # client/ringq.h
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION.value[0]


def answers(out):
    """The ANS lines of the program's output: (id, code, n, seq0, level, receipt, text) each,
    and the SEQ lines in order."""
    ans, seqs = [], []
    for line in out.splitlines():
        f = line.split(" ", 7)
        if f[0] == "ANS":
            p, off, cseq = (int(x) for x in f[6].split(":"))
            ans.append((int(f[1]), int(f[2]), int(f[3]), int(f[4]), int(f[5]), (p, off, cseq),
                        f[7] if len(f) > 7 else ""))
        elif f[0] == "SEQ":
            seqs.append(int(f[1]))
    return ans, seqs


class PubStreamTest(StreamsTest):

    SERVER_ARGS = ("--fsync", "always")

    def stream(self):
        name = sname(self._testMethodName[5:25]).replace("-", "_")
        self.s.stream(name, [name + ".>"])
        return name, name + ".a"

    def prog(self, subject, mode, *args):
        out = subprocess.run([PROG, self.srv.addr, subject, mode, *args], capture_output=True,
                             text=True, timeout=PROG_TIMEOUT_S)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("END", out.stdout)
        return out.stdout

    def test_pipelined_answers_in_order_and_messages_stored_in_order(self):
        name, subj = self.stream()
        n = 300  # requests of 1, 2, 3 messages: 600 messages, all sent before any answer
        out = self.prog(subj, "order", str(n))
        ans, seqs = answers(out)
        self.assertEqual([a[0] for a in ans], list(range(1, n + 1)))
        self.assertTrue(all(a[1] == 0 for a in ans), out[:2000])
        self.assertEqual([a[2] for a in ans], [1 + i % 3 for i in range(n)])
        self.assertEqual(seqs, list(range(1, 601)))
        self.assertIn("FINISH 0", out)
        got = [(m.seq, m.payload) for m in self.s.read(name, start_seq=1, end_seq=600)]
        self.assertEqual(got, [(k + 1, b"m%d" % k) for k in range(600)])

    def test_partitioned_stream_answers_in_order(self):
        name = sname("parts").replace("-", "_")
        self.s.stream(name, [name + ".>"], partitions=2)
        out = self.prog(name + ".a", "order", "60")  # one subject: one member, its own order
        ans, seqs = answers(out)
        self.assertEqual([a[0] for a in ans], list(range(1, 61)))
        self.assertTrue(all(a[1] == 0 for a in ans), out[:2000])
        self.assertEqual(len(seqs), 120)
        self.assertEqual(seqs, sorted(seqs))
        self.assertEqual(len(set(seqs)), 120)

    def test_synced_answer_comes_after_the_commit_that_covers_it(self):
        name, subj = self.stream()
        before = fsyncs(self.srv.addr)
        ans, _ = answers(self.prog(subj, "synced"))
        self.assertEqual(len(ans), 1)
        rid, code, n, seq, level, (part, off, cseq), _ = ans[0]
        self.assertEqual((rid, code, n, level), (1, 0, 1, SYNCED))
        self.assertGreater(fsyncs(self.srv.addr), before)
        pi = self.c.GetPartition(partition=part)
        self.assertGreaterEqual(pi.synced_commit_seq, cseq)
        self.assertGreater(pi.synced_offset, off)

    def test_credit_window_backpressure(self):
        _, subj = self.stream()
        out = self.prog(subj, "window")
        self.assertIn(f"WINDOW {WINDOW} {RQ_EAGAIN}", out)  # the window full: EAGAIN, not sent
        self.assertIn("RESENT 0", out)  # one answer read: room for one more
        ans, seqs = answers(out)
        self.assertEqual([a[0] for a in ans], list(range(1, WINDOW + 2)))
        self.assertTrue(all(a[1] == 0 for a in ans))
        self.assertEqual(seqs, list(range(1, WINDOW + 2)))

    def test_server_states_its_window_in_every_answer(self):
        name, subj = self.stream()
        from ringq.v1 import streams_pb2 as S
        reqs = [S.PublishStreamRequest(request_id=i, publish=S.PublishRequest(
            messages=[S.PublishMessage(subject=subj, payload=b"x")])) for i in (1, 2)]
        got = list(self.s.publish_stream(reqs))
        self.assertEqual([r.request_id for r in got], [1, 2])
        self.assertTrue(all(0 < r.credits <= WINDOW for r in got), got)

    def test_refused_request_mid_stream_does_not_end_it(self):
        _, subj = self.stream()
        out = self.prog(subj, "badmid")
        ans, seqs = answers(out)
        self.assertEqual([(a[0], a[1]) for a in ans], [(1, 0), (2, PRECONDITION), (3, 0)])
        self.assertIn("no stream captures subject 'nostream.x'", ans[1][6])
        self.assertEqual(seqs[1], seqs[0] + 1)  # the refused one stored nothing
        self.assertIn("FINISH 0", out)

    def test_ringq_pub_publishes_on_the_stream_in_order(self):
        name, subj = self.stream()
        lines = "".join(f"line{i}\n" for i in range(250))
        out = subprocess.run([RINGQ, "--addr", self.srv.addr, "pub", subj, "--batch", "7"],
                             input=lines, capture_output=True, text=True, timeout=PROG_TIMEOUT_S)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.splitlines(), [f"{name} {i}" for i in range(1, 251)])
        got = [m.payload for m in self.s.read(name, start_seq=1, end_seq=250)]
        self.assertEqual(got, [b"line%d" % i for i in range(250)])
        bad = subprocess.run([RINGQ, "--addr", self.srv.addr, "pub", "nostream.y", "x"],
                             capture_output=True, text=True, timeout=PROG_TIMEOUT_S)
        self.assertEqual(bad.returncode, 3, bad.stderr)
        self.assertIn("no stream captures subject", bad.stderr)


class PubStreamLostTest(unittest.TestCase):

    def test_lost_connection_fails_every_unanswered_request(self):
        srv = C.start_ringqd("--fsync", "always", threads=1)
        try:
            ch = srv.channel()
            name = sname("lost").replace("-", "_")
            Streams(ch).stream(name, [name + ".>"])
            ch.close()
            p = subprocess.Popen([PROG, srv.addr, name + ".a", "lost"], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                self.assertEqual(p.stdout.readline().split(" ")[:3], ["ANS", "1", "0"])
                self.assertEqual(p.stdout.readline().split(" ")[0], "SEQ")
                self.assertEqual(p.stdout.readline().strip(), "READY")
                srv.proc.send_signal(signal.SIGKILL)
                srv.proc.wait(timeout=10)
                out, err = p.communicate("go\n", timeout=PROG_TIMEOUT_S)
            finally:
                if p.poll() is None:
                    p.kill()
            self.assertEqual(p.returncode, 0, out + err)
            ans, _ = answers(out)
            refused = int(out.split("REFUSED ")[1].split()[0])
            # Each request after the kill is refused by send (the stream is known closed) or
            # answered with a failure; none is left hanging, none answered OK.
            self.assertEqual(len(ans) + refused, 5, out)
            self.assertTrue(all(a[1] != 0 for a in ans), out)
            self.assertIn("UNANSWERED 0", out)
        finally:
            srv.close()


if __name__ == "__main__":
    unittest.main()
