"""Real HTTP/2 attacks against the running servers, over raw sockets.

Each test mounts one attack on its own connection(s), asserts the defence the engine documents
(proto_wire/pw_h2_limits.h: GOAWAY ENHANCE_YOUR_CALM once a flood budget is spent, bounded
buffers, timeouts), then that the server process is alive, still serves a normal gRPC call
(raw frames and grpcio) and that its RSS grew by a bounded amount.

Figures worth reading (per-connection memory, time to cut a flood off) are printed to stdout."""
import selectors
import socket
import time

import h2raw as R
import ringq_harness  # noqa: F401  (puts the generated grpc.* modules on the path)
from h2raw import (CONTINUATION, DATA, END_HEADERS, END_STREAM, GOAWAY, HEADERS, PING,
                   RST_STREAM, SETTINGS, frame, hp_indexed, hp_literal)
from grpc.testing import messages_pb2  # noqa: E402

TS = "/grpc.testing.TestService/"
HEALTH_BODY = R.grpc_frame(b"")
KiB = 1024
MiB = 1024 * 1024
# RSS growth allowed across one attack: the engine's per-connection bounds are a few hundred
# KiB at most (PW_H2_OUT_CAP_BYTES < 256 KiB, header block <= 32 KiB, ...).
RSS_GROWTH_MAX_KIB = 32 * 1024
SEND_CHUNK = 64 * KiB
# An idle connection's RSS cost, plaintext and over TLS (test_h2_tls.py): the TLS state adds
# OpenSSL's per-connection objects.
IDLE_CONN_BYTES_MAX = 16 * KiB
TLS_IDLE_CONN_BYTES_MAX = 32 * KiB  # measured: 21 KiB


def raw_block(fields):
    return b"".join(hp_literal(n, v) for n, v in fields)


def req_fields(path=R.HEALTH_CHECK, extra=()):
    return R.request_headers(path, extra=extra)


def send_flood(c, frames_iter, deadline_s=20.0):
    """Sends the frames (bytes) in ~64 KiB writes until done, the peer closes, or the
    deadline. Returns the number of frames sent."""
    buf, n, sent = [], 0, 0
    size = 0
    end = time.monotonic() + deadline_s
    for f in frames_iter:
        buf.append(f)
        size += len(f)
        n += 1
        if size >= SEND_CHUNK:
            if not c.send(b"".join(buf)) or time.monotonic() > end:
                return sent
            sent = n
            buf, size = [], 0
    if buf and c.send(b"".join(buf)):
        sent = n
    return sent


class AttackCase(R.ServerCase):
    GRPCIO_CHECK = True
    RSS_GROWTH_MAX_KIB = RSS_GROWTH_MAX_KIB

    def setUp(self):
        self.rss_before = self.srv.rss_kib()

    def tearDown(self):
        super().tearDown()  # alive, serves raw and grpcio health checks
        grown = self.srv.rss_kib() - self.rss_before
        self.assertLess(grown, self.RSS_GROWTH_MAX_KIB, f"RSS grew by {grown} KiB during the attack")

    def assertCutOff(self, c, sent, kind, responses, proto_errors_before):
        """A flood sent without reading was cut off: the server answered fewer frames than it
        got, closed the connection, counted a protocol error, and any GOAWAY that made it
        through says ENHANCE_YOUR_CALM. (The GOAWAY itself usually does not arrive: the server
        closes with the flood still unread, so its kernel resets the connection and drops the
        unsent tail of its output, GOAWAY included.)"""
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 * MiB)
        frames, closed = c.read_all(timeout=20.0)
        n = sum(1 for f in frames if responses(f))
        goaway = [f for f in frames if f.type == GOAWAY]
        print(f"\n  {kind}: sent {sent}, answered {n}, GOAWAY {goaway or 'lost (RST)'}", end=" ")
        self.assertTrue(closed, f"{kind}: connection still open after the flood")
        self.assertLess(n, sent, f"{kind}: every frame was answered")
        self.assertLess(n, 20000, f"{kind}: too many responses queued")
        if goaway:
            self.assertEqual(goaway[-1].error_code, R.ENHANCE_YOUR_CALM, goaway)
        self.assertGreater(R.metric(self.port, "ringq_protocol_errors_total"), proto_errors_before,
                           f"{kind}: the connection did not end with a protocol error")

    def assertCalm(self, c, timeout=10.0, note=""):
        """The attack was cut off: GOAWAY ENHANCE_YOUR_CALM, then the connection closes."""
        g = self.assertConnError(c, R.ENHANCE_YOUR_CALM, timeout=timeout)
        if note:
            print(f"\n  {note}: GOAWAY {R.err_name(g.error_code)} last_stream={g.last_stream_id} "
                  f"debug={g.debug!r}", end=" ")
        return g


class FloodTest(AttackCase):
    """Control-frame and empty-frame floods (CVE-2019-9512/9514/9515/9518), rapid reset
    (CVE-2023-44487), CONTINUATION flood (CVE-2024-27316)."""

    def test_rapid_reset(self):
        # CVE-2023-44487: open a stream and reset it at once, thousands of times. The reset budget
        # (PW_H2_RESET_BURST 400, then 100/s) ends the connection with ENHANCE_YOUR_CALM.
        c = self.conn()
        n = 20000

        def gen():
            for i in range(n):
                sid = 1 + 2 * i
                yield frame(HEADERS, END_HEADERS, sid, c.encode(req_fields(TS + "FullDuplexCall"))) + \
                    frame(RST_STREAM, 0, sid, R.rst_payload(R.CANCEL))
        t0 = time.monotonic()
        send_flood(c, gen())
        g = self.assertCalm(c, note="rapid reset")
        # Bounded work: the server stopped after about the budget, not after all n streams.
        processed = (g.last_stream_id + 1) // 2
        burst_plus_refill = 400 + 100 * (time.monotonic() - t0) + 50
        self.assertLess(processed, burst_plus_refill, f"{processed} streams processed")

    def test_cancel_within_budget_is_fine(self):
        # A client cancelling a normal number of streams is not punished.
        c = self.conn()
        out = b""
        for i in range(150):
            sid = 1 + 2 * i
            out += frame(HEADERS, END_HEADERS, sid, c.encode(req_fields(TS + "FullDuplexCall"))) + \
                frame(RST_STREAM, 0, sid, R.rst_payload(R.CANCEL))
        c.send(out)
        self.assertNoError(c)
        c.send_request(301, R.HEALTH_CHECK, HEALTH_BODY)
        self.assertEqual(c.response(301).grpc_status, 0)

    def test_rapid_reset_of_completed_requests(self):
        # The variant with complete requests: each one is answered, and the RST_STREAMs that
        # cross the answers are ignored (§5.1). The server keeps up with bounded work and the
        # connection either stays up or is cut off with ENHANCE_YOUR_CALM.
        c = self.conn(rcvbuf=64 * KiB)
        n = 3000

        def gen():
            for i in range(n):
                sid = 1 + 2 * i
                yield frame(HEADERS, END_HEADERS, sid, c.encode(req_fields())) + \
                    frame(DATA, END_STREAM, sid, HEALTH_BODY) + \
                    frame(RST_STREAM, 0, sid, R.rst_payload(R.CANCEL))
        send_flood(c, gen())
        c.send_ping(b"afterall")
        f = c.read_until(lambda f: f.type == GOAWAY or (f.type == PING and f.payload == b"afterall"),
                         timeout=20.0)
        self.assertIsNotNone(f, f"neither a PING ACK nor a GOAWAY: {c.frames[-5:]}")
        answered = sum(1 for x in c.frames if x.type == HEADERS and x.flags & END_STREAM)
        print(f"\n  rapid reset of completed requests: {answered} answered, then {f}", end=" ")
        if f.type == GOAWAY:
            self.assertEqual(f.error_code, R.ENHANCE_YOUR_CALM, f)

    def test_continuation_flood_small_frames(self):
        # CVE-2024-27316: HEADERS without END_HEADERS, then endless CONTINUATIONs. Cut off after
        # PW_H2_CONTINUATION_FRAMES_MAX (64) frames, long before the block limit.
        c = self.conn()
        block = c.encode(req_fields())
        frames = (frame(CONTINUATION, 0, 1, raw_block([("x-f", "v" * 10)])) for _ in range(200000))
        c.send_frame(HEADERS, END_STREAM, 1, block)
        send_flood(c, frames)
        self.assertCalm(c, note="CONTINUATION flood (small)")

    def test_continuation_flood_large_frames(self):
        # Big CONTINUATIONs: the accumulated block is capped (2 x max header list = 32 KiB).
        c = self.conn()
        c.send_frame(HEADERS, END_STREAM, 1, c.encode(req_fields()))
        big = frame(CONTINUATION, 0, 1, b"\x00" * 16384)
        send_flood(c, (big for _ in range(2000)))
        self.assertCalm(c, note="CONTINUATION flood (16 KiB frames)")

    def test_continuation_flood_empty_frames(self):
        c = self.conn()
        c.send_frame(HEADERS, END_STREAM, 1, b"")
        empty = frame(CONTINUATION, 0, 1, b"")
        send_flood(c, (empty for _ in range(200000)))
        self.assertCalm(c, note="CONTINUATION flood (empty)")

    def test_continuation_flood_on_closed_stream(self):
        # The flood aimed at a stream id the server would discard (not the first one): the block
        # is still bounded.
        c = self.conn()
        c.send_request(1, R.HEALTH_CHECK, HEALTH_BODY)
        self.assertEqual(c.response(1).grpc_status, 0)
        c.send_frame(HEADERS, END_STREAM, 3, c.encode(req_fields()))
        send_flood(c, (frame(CONTINUATION, 0, 3, b"\x00" * 1000) for _ in range(100000)))
        self.assertCalm(c)

    def test_ping_flood_without_reading(self):
        # CVE-2019-9512: PINGs while never reading the ACKs. A small receive buffer makes the
        # server's output back up; past PW_H2_OUT_CTRL_QUEUED_MAX queued responses it gives up.
        errs = R.metric(self.port, "ringq_protocol_errors_total")
        c = self.conn(rcvbuf=4 * KiB)
        ping = frame(PING, 0, 0, b"floodflo")
        sent = send_flood(c, (ping for _ in range(400000)))  # 6.8 MB of PINGs
        self.assertCutOff(c, sent, "PING flood", lambda f: f.type == PING, errs)

    def test_settings_flood_without_reading(self):
        # CVE-2019-9515: SETTINGS frames (each needs an ACK) while never reading.
        errs = R.metric(self.port, "ringq_protocol_errors_total")
        c = self.conn(rcvbuf=4 * KiB)
        st = frame(SETTINGS, 0, 0, b"")
        sent = send_flood(c, (st for _ in range(800000)))  # 7.2 MB
        self.assertCutOff(c, sent, "SETTINGS flood", lambda f: f.type == SETTINGS and f.is_ack(), errs)

    def test_reset_flood_without_reading(self):
        # CVE-2019-9514: requests the server must reset (malformed: uppercase name), while the
        # client never reads the RST_STREAMs.
        errs = R.metric(self.port, "ringq_protocol_errors_total")
        c = self.conn(rcvbuf=4 * KiB)
        bad = raw_block(req_fields(extra=[("X-Bad", "1")]))
        sent = send_flood(c, (frame(HEADERS, END_HEADERS | END_STREAM, 1 + 2 * i, bad)
                              for i in range(100000)))
        self.assertCutOff(c, sent, "reset flood", lambda f: f.type == RST_STREAM, errs)

    def test_ping_burst_while_reading(self):
        # A client that reads and sends a burst of PINGs below PW_H2_OUT_CTRL_QUEUED_MAX in one
        # write gets every ACK. (Above it, the budget applies even to a reading client: it counts
        # responses produced from one input batch, before the glue can hand them to the socket.)
        c = self.conn()
        c.send(frame(PING, 0, 0, b"smallbst") * 200)
        frames = [c.read_until(lambda f: f.type in (PING, GOAWAY)) for _ in range(200)]
        self.assertTrue(all(f is not None and f.type == PING for f in frames), frames[-3:])
        self.assertTrue(c.ping_roundtrip())

    def test_window_update_zero_reset_flood(self):
        # Another way to make the server reset streams: WINDOW_UPDATE 0 on each open stream.
        c = self.conn()

        def gen():
            for i in range(5000):
                sid = 1 + 2 * i
                yield frame(HEADERS, END_HEADERS, sid, c.encode(req_fields(TS + "FullDuplexCall"))) + \
                    frame(R.WINDOW_UPDATE, 0, sid, R.window_update_payload(0))
        send_flood(c, gen())
        self.assertCalm(c)

    def test_empty_data_flood(self):
        # CVE-2019-9518: DATA frames without payload nor END_STREAM (the empty-frame budget:
        # PW_H2_EMPTY_FRAME_BURST 100, then 20/s).
        c = self.conn()
        c.send_headers(1, req_fields(TS + "FullDuplexCall"))
        empty = frame(DATA, 0, 1, b"")
        send_flood(c, (empty for _ in range(100000)))
        self.assertCalm(c, note="empty DATA flood")

    def test_empty_headers_fragments(self):
        # Zero-length HEADERS fragment (no END_HEADERS) and zero-length CONTINUATIONs.
        c = self.conn()
        c.send_frame(HEADERS, 0, 1, b"")
        send_flood(c, (frame(CONTINUATION, 0, 1, b"") for _ in range(10000)))
        self.assertCalm(c)

    def test_empty_headers_before_each_request(self):
        # Each request starts with an empty HEADERS fragment: the block completes in a
        # CONTINUATION, but every empty fragment is charged to the empty-frame budget.
        c = self.conn()

        def gen():
            for i in range(5000):
                sid = 1 + 2 * i
                yield frame(HEADERS, END_STREAM, sid, b"") + \
                    frame(CONTINUATION, END_HEADERS, sid, raw_block(req_fields(TS + "EmptyCall")))
        send_flood(c, gen())
        self.assertCalm(c)

    def test_unknown_frame_flood_is_cheap(self):
        # Unknown frame types are ignored (§5.5): a flood of them costs the server reading only;
        # the connection stays usable and memory flat.
        c = self.conn()
        junk = frame(0xfa, 0, 0, b"x" * 100)
        send_flood(c, (junk for _ in range(50000)))
        self.assertTrue(c.ping_roundtrip(timeout=20.0))


class ZeroWindowTest(AttackCase):
    """CVE-2019-9511 (data dribble) / 9517 (internal data buffering): large responses asked for
    while the client's window is 0. The server must not buffer them."""

    def test_zero_window_streaming_response(self):
        c = self.conn(settings={R.SETTINGS_INITIAL_WINDOW_SIZE: 0})
        nstreams, per_stream = 20, 200  # each asks 200 x 256 KiB = 50 MiB: 1 GiB in all
        req = messages_pb2.StreamingOutputCallRequest(response_parameters=[
            messages_pb2.ResponseParameters(size=256 * KiB) for _ in range(per_stream)])
        body = R.grpc_frame(req.SerializeToString())
        for i in range(nstreams):
            c.send_request(1 + 2 * i, TS + "StreamingOutputCall", body)
        self.assertTrue(c.ping_roundtrip())  # the requests were processed
        self.assertEqual([f for f in c.frames if f.type == DATA], [], "DATA sent into a 0 window")
        grown = self.srv.rss_kib() - self.rss_before
        print(f"\n  zero window: {nstreams} streams asking {nstreams * per_stream // 4} MiB: "
              f"RSS +{grown} KiB", end=" ")
        self.assertLess(grown, 24 * 1024)
        # Dribble: one byte of window at a time is served one byte at a time.
        for _ in range(5):
            c.send_window_update(1, 1)
            f = c.read_until(lambda f: f.type == DATA and f.stream_id == 1)
            self.assertIsNotNone(f, c.frames)
            self.assertEqual(len(f.payload), 1)
        for i in range(nstreams):
            c.send_rst(1 + 2 * i)
        self.assertTrue(c.ping_roundtrip())

    def test_zero_window_unary_responses(self):
        # Unary responses are whole messages: a zero window can hold at most one message per
        # stream (the handler produced it), never more.
        c = self.conn(settings={R.SETTINGS_INITIAL_WINDOW_SIZE: 0})
        nstreams, size = 10, 1 * MiB
        body = R.grpc_frame(messages_pb2.SimpleRequest(response_size=size).SerializeToString())
        for i in range(nstreams):
            c.send_request(1 + 2 * i, TS + "UnaryCall", body)
        self.assertTrue(c.ping_roundtrip())
        grown = self.srv.rss_kib() - self.rss_before
        print(f"\n  zero window, unary: {nstreams} x {size // KiB} KiB held: RSS +{grown} KiB", end=" ")
        self.assertLess(grown * KiB, nstreams * (size + 512 * KiB) + 16 * MiB)
        c.close()

    def test_zero_connection_window(self):
        # Stream windows open, but the connection window is exhausted and never updated.
        c = self.conn(settings={R.SETTINGS_INITIAL_WINDOW_SIZE: 1 << 30})
        req = messages_pb2.StreamingOutputCallRequest(response_parameters=[
            messages_pb2.ResponseParameters(size=256 * KiB) for _ in range(100)])
        for i in range(10):
            c.send_request(1 + 2 * i, TS + "StreamingOutputCall", R.grpc_frame(req.SerializeToString()))
        total = 0
        while total < 65535:
            f = c.read_until(lambda f: f.type == DATA)
            self.assertIsNotNone(f, "stalled before the connection window was used")
            total += len(f.payload)
        self.assertTrue(c.ping_roundtrip())
        self.assertEqual(sum(len(f.payload) for f in c.frames if f.type == DATA), 65535)
        grown = self.srv.rss_kib() - self.rss_before
        self.assertLess(grown, 16 * 1024)


class HpackBombTest(AttackCase):
    def test_hpack_bomb(self):
        # A ~4 KiB dynamic-table entry, then a block referencing it 16,000 times (1 byte each):
        # 64 MB decoded from 16 KB. The list cap (SETTINGS_MAX_HEADER_LIST_SIZE) turns it into a
        # stream error; decoding goes on only to keep the HPACK state in sync, without copies.
        c = self.conn()
        value = "a" * 4000
        c.send_request(1, R.HEALTH_CHECK, HEALTH_BODY, extra=[("x-bomb", value)])
        self.assertEqual(c.response(1).grpc_status, 0)
        self.assertEqual(c.enc.header_table.dynamic_entries[0], (b"x-bomb", value.encode()))
        # Pseudo-headers as literals without indexing, so entry 62 stays the bomb.
        block = raw_block(req_fields()) + hp_indexed(62) * 16000
        t0 = time.monotonic()
        c.send(frame(HEADERS, 0, 3, block[:16000]) + frame(CONTINUATION, END_HEADERS, 3, block[16000:]))
        f = c.read_until(lambda f: (f.stream_id == 3 and f.type in (RST_STREAM, HEADERS)) or f.type == GOAWAY)
        elapsed = time.monotonic() - t0
        self.assertIsNotNone(f, c.frames)
        self.assertNotEqual(f.type, GOAWAY, f)
        if f.type == HEADERS:
            self.assertEqual(dict(f.headers).get(":status"), "431", f)
        self.assertLess(elapsed, 2.0)
        # The HPACK tables are still in sync: the same encoder, a normal request.
        c.send_request(5, R.HEALTH_CHECK, HEALTH_BODY, extra=[("x-bomb", value)])
        self.assertEqual(c.response(5).grpc_status, 0)

    def test_hpack_bomb_repeated(self):
        # Many bombs on one connection: each is a stream error, charged to the reset budget.
        c = self.conn()
        c.send_request(1, R.HEALTH_CHECK, HEALTH_BODY, extra=[("x-bomb", "b" * 4000)])
        self.assertEqual(c.response(1).grpc_status, 0)
        block = raw_block(req_fields()) + hp_indexed(62) * 8000
        out = b""
        for i in range(1, 51):
            out += frame(HEADERS, END_HEADERS | END_STREAM, 1 + 2 * i, block)
        c.send(out)
        rsts = 0
        for i in range(1, 51):
            code = c.stream_reset(1 + 2 * i)
            self.assertIsNotNone(code, c.frames[-5:])
            rsts += 1
        self.assertEqual(rsts, 50)
        self.assertTrue(c.ping_roundtrip())

    def test_huge_literal_rejected(self):
        # A single literal longer than the list cap (but inside the block cap).
        c = self.conn()
        block = raw_block(req_fields()) + hp_literal("x-huge", "z" * 20000)
        c.send(frame(HEADERS, END_STREAM, 1, block[:16000]) + frame(CONTINUATION, END_HEADERS, 1, block[16000:]))
        f = c.read_until(lambda f: (f.stream_id == 1 and f.type in (RST_STREAM, HEADERS)) or f.type == GOAWAY)
        self.assertIsNotNone(f, c.frames)
        if f.type == GOAWAY:
            self.assertIn(f.error_code, (R.ENHANCE_YOUR_CALM, R.COMPRESSION_ERROR), f)
        elif f.type == HEADERS:
            self.assertEqual(dict(f.headers).get(":status"), "431", f)


class IdleTimeoutTest(AttackCase):
    """--idle-timeout-ms: a connection without streams for that long gets GOAWAY(NO_ERROR) and
    is closed. One shard, so a stuck shard cannot hide behind the other one."""
    ARGS = ("--idle-timeout-ms", "1000")
    THREADS = 1

    def test_idle_connection_gets_goaway(self):
        c = self.conn()
        t0 = time.monotonic()
        g = c.expect_goaway(timeout=6.0)
        self.assertIsNotNone(g, f"no GOAWAY within 6 s of idleness (1 s timeout): {c.frames}")
        self.assertEqual(g.error_code, R.NO_ERROR)
        self.assertTrue(c.wait_closed(timeout=5.0))
        self.assertGreater(time.monotonic() - t0, 0.5)


class SlowHeadersTest(AttackCase):
    """Slow header delivery (slowloris): a header block that never completes. There is no
    header-block timeout of its own (the handshake timeout ends at the preface); the idle
    timeout (no open stream for --idle-timeout-ms, default 300 s) is what ends such a
    connection. Shortened to 1 s here."""
    ARGS = ("--idle-timeout-ms", "1000")
    THREADS = 1

    def test_stalled_header_block_is_closed(self):
        c = self.conn()
        block = c.encode(req_fields())
        t0 = time.monotonic()
        c.send_frame(HEADERS, END_STREAM, 1, block[:4])  # no END_HEADERS, then nothing
        closed = c.wait_closed(timeout=8.0)
        elapsed = time.monotonic() - t0
        print(f"\n  stalled header block: closed={closed} after {elapsed:.2f} s", end=" ")
        self.assertTrue(closed, f"connection with a stalled header block still open: {c.frames}")
        self.assertGreater(elapsed, 0.5)


class DribbledHeadersTest(AttackCase):
    ARGS = ("--idle-timeout-ms", "1000")
    THREADS = 1

    def test_dribbled_header_block_is_closed(self):
        # Dribbling a byte of the block now and then does not reset the idle clock.
        c = self.conn()
        c.send_frame(HEADERS, END_STREAM, 1, c.encode(req_fields())[:4])
        t0 = time.monotonic()
        closed = False
        for _ in range(32):  # 32 x 0.25 s; the block limit allows 64 CONTINUATIONs
            try:
                f = c.read_frame(timeout=0.25)
            except R.ConnClosed:
                closed = True
                break
            if f is None and not c.send_frame(CONTINUATION, 0, 1, b"\x00"):
                closed = c.wait_closed(timeout=2.0)
                break
        elapsed = time.monotonic() - t0
        print(f"\n  dribbled header block: closed={closed} after {elapsed:.2f} s", end=" ")
        self.assertTrue(closed, "a dribbled header block kept the connection open")


class SilentConnectionsTest(AttackCase):
    """1,000 connections that send nothing (and 100 that stop inside the preface): the handshake
    timeout closes them all (--handshake-timeout-ms 1000 here; 10 s by default)."""
    SERVER = "ringqd"
    ARGS = ("--handshake-timeout-ms", "1000")

    def test_silent_connections_are_closed(self):
        sel = selectors.DefaultSelector()
        socks = []
        t0 = time.monotonic()
        try:
            for i in range(1100):
                s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                if i >= 1000:
                    s.sendall(R.PREFACE[:10])  # a partial preface, then nothing
                s.setblocking(False)
                sel.register(s, selectors.EVENT_READ)
                socks.append(s)
            open_ = set(socks)
            deadline = t0 + 15.0
            while open_ and time.monotonic() < deadline:
                for key, _ in sel.select(timeout=max(0.0, deadline - time.monotonic())):
                    s = key.fileobj
                    try:
                        data = s.recv(4096)
                    except (ConnectionResetError, BlockingIOError):
                        data = b""
                    if not data:
                        sel.unregister(s)
                        open_.discard(s)
            elapsed = time.monotonic() - t0
            print(f"\n  1100 silent connections closed after {elapsed:.2f} s", end=" ")
            self.assertEqual(len(open_), 0, f"{len(open_)} silent connections still open")
            self.assertGreater(elapsed, 0.9, "closed before the handshake timeout?")
        finally:
            for s in socks:
                s.close()
            sel.close()


class IdleMemoryTest(AttackCase):
    """2,000 idle HTTP/2 connections (preface and SETTINGS exchanged, nothing else) on ringqd:
    the RSS cost per connection."""
    SERVER = "ringqd"
    N = 2000
    PER_CONN_MAX = IDLE_CONN_BYTES_MAX

    def test_idle_connection_memory(self):
        conns = []
        try:
            rss0 = self.srv.rss_kib()
            for _ in range(self.N):
                conns.append(R.H2Conn(self.port))
            # Every connection answers a PING: all are fully set up on the server.
            for c in conns[::100]:
                self.assertTrue(c.ping_roundtrip())
            rss1 = self.srv.rss_kib()
            per = (rss1 - rss0) * KiB / self.N
            print(f"\n  {self.N} idle h2 connections: RSS {rss0} -> {rss1} KiB, "
                  f"{per:.0f} bytes per connection", end=" ")
            self.assertLess(per, self.PER_CONN_MAX)
        finally:
            for c in conns:
                c.close()
        # The server notices the closes and stays healthy (tearDown).


class RingqdRapidResetTest(AttackCase):
    SERVER = "ringqd"

    def test_rapid_reset_ringqd(self):
        c = self.conn()

        def gen():
            for i in range(20000):
                sid = 1 + 2 * i
                yield frame(HEADERS, END_HEADERS, sid, c.encode(req_fields())) + \
                    frame(RST_STREAM, 0, sid, R.rst_payload(R.CANCEL))
        send_flood(c, gen())
        self.assertCalm(c)
