"""PublishStream on the wire (issue 15 item 6, s8-pbs): pipelined requests are answered in order
and the answers of requests that arrived together leave coalesced in a few DATA frames on the one
HTTP/2 stream, where the same publishes as unary Publish calls cost a HEADERS, a DATA and a
trailer HEADERS each; the server's stream window (SETTINGS_INITIAL_WINDOW_SIZE) holds many batch-64
requests, so a producer with a few in flight never waits for a WINDOW_UPDATE. Counted over a
real connection to ringqd with the raw HTTP/2 client (h2raw.py): frame counts, not wall-clock.
bench/results/streams-2026-12-07-s8.md "s8-pbs" has the figures."""
import time
import unittest

import h2raw as R
import ringq_client as C
from stream_client import S, Streams, sname

REQUESTS = 16  # pipelined requests, sent in one write
BATCH = 64  # messages per request, the benchmark's b64
PAYLOAD_BYTES = 100  # the benchmark's --size
READ_TIMEOUT_S = 20.0
# At most this many DATA frames for REQUESTS answers that arrive together: ~1 KiB each, so two
# 16 KiB frames hold them; the slack covers a server that reads the requests in a few pieces.
DATA_FRAMES_MAX = REQUESTS // 2
WINDOW_BYTES = 1 << 24  # what this client grants the server (its answers never wait on it)
FRAME_BYTES = 16384  # SETTINGS_MAX_FRAME_SIZE's initial value (RFC 9113 §6.5.2)
WINDOW_INITIAL_BYTES = 65535  # SETTINGS_INITIAL_WINDOW_SIZE's initial value (§6.9.2)


def read_answers(c, sids, n):
    """Reads frames until n gRPC messages arrived on the streams sids; returns (messages in
    arrival order, DATA frames on sids). Fails on a deadline, a GOAWAY or an RST_STREAM."""
    deadline = time.monotonic() + READ_TIMEOUT_S
    data, frames, msgs = {sid: b"" for sid in sids}, 0, []
    while len(msgs) < n:
        f = c._parse()
        if f is None:
            if not c._fill(deadline):
                raise AssertionError(f"{len(msgs)} of {n} answers in {READ_TIMEOUT_S} s")
            continue
        if f.type in (R.GOAWAY, R.RST_STREAM):
            raise AssertionError(f"{f!r} after {len(msgs)} answers")
        if f.type != R.DATA or f.stream_id not in data:
            continue
        frames += 1
        d = data[f.stream_id] + f.payload
        while len(d) >= 5 and len(d) >= 5 + int.from_bytes(d[1:5], "big"):
            ln = int.from_bytes(d[1:5], "big")
            msgs.append(d[5:5 + ln])
            d = d[5 + ln:]
        data[f.stream_id] = d
    return msgs, frames


class PubStreamFramesTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.srv = C.start_ringqd("--fsync", "never", threads=1)
        cls.ch = cls.srv.channel()
        cls.s = Streams(cls.ch)
        cls.port = int(cls.srv.addr.rsplit(":", 1)[1])

    @classmethod
    def tearDownClass(cls):
        code, log = C.stop(cls.srv, cls.ch)
        assert code == 0, f"ringqd exited {code}:\n{log}"

    def batch(self):
        name = sname(self._testMethodName[5:25]).replace("-", "_")
        self.s.stream(name, [name + ".>"])
        return S.PublishRequest(messages=[
            S.PublishMessage(subject=name + ".a", payload=b"x" * PAYLOAD_BYTES)
            for _ in range(BATCH)])

    def conn(self):
        c = R.H2Conn(self.port)
        self.addCleanup(c.close)
        c.send_window_update(0, WINDOW_BYTES)
        return c

    def test_pipelined_answers_in_order_and_coalesced(self):
        pub = self.batch()
        body = b"".join(R.grpc_frame(S.PublishStreamRequest(request_id=i + 1, publish=pub)
                                     .SerializeToString()) for i in range(REQUESTS))
        # The server's stream window holds every request: no WINDOW_UPDATE is waited for.
        c = self.conn()
        self.assertGreater(c.server_settings.get(R.SETTINGS_INITIAL_WINDOW_SIZE, WINDOW_INITIAL_BYTES), len(body))
        out = R.frame(R.HEADERS, R.END_HEADERS, 1,
                      c.encode(R.request_headers("/ringq.v1.Streams/PublishStream")))
        out += R.frame(R.WINDOW_UPDATE, 0, 1, R.window_update_payload(WINDOW_BYTES))
        out += b"".join(R.frame(R.DATA, 0, 1, body[o:o + FRAME_BYTES])
                        for o in range(0, len(body), FRAME_BYTES))
        self.assertTrue(c.send(out))
        msgs, frames = read_answers(c, {1}, REQUESTS)
        seq = 0
        for i, m in enumerate(msgs):
            a = S.PublishStreamResponse.FromString(m)
            self.assertEqual((a.request_id, a.code), (i + 1, 0), a.message)
            self.assertEqual(len(a.publish.acks), BATCH)
            self.assertEqual(a.publish.acks[0].seq, seq + 1)
            seq = a.publish.acks[-1].seq
        self.assertEqual(seq, REQUESTS * BATCH)
        self.assertLessEqual(frames, DATA_FRAMES_MAX,
                             f"{REQUESTS} answers in {frames} DATA frames")

    def test_unary_publishes_cost_a_frame_each(self):
        """The comparison the benchmark's ringq-unary row makes: one DATA frame per answer."""
        req = R.grpc_frame(self.batch().SerializeToString())
        c = self.conn()
        out = b""
        for i in range(REQUESTS):
            sid = 1 + 2 * i
            out += R.frame(R.HEADERS, R.END_HEADERS, sid,
                           c.encode(R.request_headers("/ringq.v1.Streams/Publish")))
            out += R.frame(R.DATA, R.END_STREAM, sid, req)
        self.assertTrue(c.send(out))
        msgs, frames = read_answers(c, {1 + 2 * i for i in range(REQUESTS)}, REQUESTS)
        for m in msgs:
            self.assertEqual(len(S.PublishResponse.FromString(m).acks), BATCH)
        self.assertEqual(frames, REQUESTS)


if __name__ == "__main__":
    unittest.main()
