"""RFC 9113 conformance (h2spec-style) against build/ringq-interop-server, with raw frames.

Each test opens its own connection, sends exactly the frames it means to (malformed on
purpose), and asserts the frames the RFC requires back: GOAWAY with the right code followed by
the close for connection errors (§5.4.1), RST_STREAM with the right code and a connection that
still works for stream errors (§5.4.2). After every test the server must still answer a gRPC
health check."""
import signal
import struct

import h2raw as R
import ringq_harness  # noqa: F401  (puts the generated grpc.* modules on the path)
from h2raw import (ACK, CONTINUATION, DATA, END_HEADERS, END_STREAM, GOAWAY, HEADERS, PADDED,
                   PING, PRIORITY, PRIORITY_FLAG, PUSH_PROMISE, RST_STREAM, SETTINGS,
                   WINDOW_UPDATE, frame, hp_indexed, hp_literal, hp_size_update)
from grpc.health.v1 import health_pb2  # noqa: E402  (generated; path set by ringq_harness)
from grpc.testing import messages_pb2  # noqa: E402

TS = "/grpc.testing.TestService/"
HEALTH_BODY = R.grpc_frame(b"")  # HealthCheckRequest{service: ""}


def raw_block(fields):
    """A header block of literals without indexing: leaves the HPACK tables untouched."""
    return b"".join(hp_literal(n, v) for n, v in fields)


def req_fields(path=R.HEALTH_CHECK, extra=()):
    return R.request_headers(path, extra=extra)


def streaming_output_body(*params):
    """StreamingOutputCallRequest with (size, interval_us) response parameters."""
    m = messages_pb2.StreamingOutputCallRequest(response_parameters=[
        messages_pb2.ResponseParameters(size=s, interval_us=i) for s, i in params])
    return R.grpc_frame(m.SerializeToString())


class PrefaceTest(R.ServerCase):
    """§3.4 connection preface."""

    def _not_h2(self, c):
        frames, closed = c.read_all()
        self.assertTrue(closed, "the server kept a connection with an invalid preface open")
        raw = b"".join(R.frame(f.type, f.flags, f.stream_id, f.payload) for f in frames) + bytes(c.rbuf)
        # §3.4: an invalid preface is a connection error (GOAWAY MAY be omitted). This port also
        # speaks HTTP/1.1, so an HTTP/1.1 error response is fine too. What must not happen is an
        # HTTP/2 session: no SETTINGS frame.
        if raw.startswith(b"HTTP/1.1 "):
            self.assertRegex(raw[:12].decode(), r"HTTP/1\.1 [45]\d\d")
        elif raw:
            self.assertTrue(frames and frames[-1].type == GOAWAY and
                            frames[-1].error_code == R.PROTOCOL_ERROR, f"got {raw[:80]!r}")
            self.assertFalse(any(f.type == SETTINGS for f in frames), f"got {frames}")

    def test_garbage_preface(self):
        c = self.conn(handshake=False)
        c.send(b"INVALID CONNECTION PREFACE\r\n\r\n")
        self._not_h2(c)

    def _bad_preface_goaway(self, c):
        """§3.4: bytes that begin like the preface but differ: GOAWAY(PROTOCOL_ERROR), then the
        close; no HTTP/1.1 answer, no SETTINGS."""
        frames, closed = c.read_all()
        self.assertTrue(closed, "the server kept a connection with an invalid preface open")
        self.assertFalse(bytes(c.rbuf).startswith(b"HTTP/"), f"got {bytes(c.rbuf)[:80]!r}")
        self.assertEqual([f.type for f in frames], [GOAWAY], f"got {frames}")
        self.assertEqual(frames[0].error_code, R.PROTOCOL_ERROR)
        self.assertEqual(frames[0].last_stream_id, 0)

    def test_corrupted_preface_tail(self):
        c = self.conn(handshake=False)
        c.send(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + frame(SETTINGS))
        self._bad_preface_goaway(c)

    def test_preface_with_http1_version(self):
        c = self.conn(handshake=False)
        c.send(b"PRI * HTTP/1.1\r\nHost: x\r\n\r\n")
        self._bad_preface_goaway(c)

    def test_preface_differs_in_first_line_split(self):
        c = self.conn(handshake=False)
        c.send(b"PRI * HT")  # a prefix of the preface: the server waits for more
        c.send(b"TP/3.0\r\n\r\nSM\r\n\r\n")
        self._bad_preface_goaway(c)

    def test_first_frame_not_settings(self):
        c = self.conn(handshake=False)
        c.send(R.PREFACE + frame(PING, 0, 0, b"\0" * 8))
        self.assertConnError(c, R.PROTOCOL_ERROR)

    def test_first_frame_settings_ack(self):
        c = self.conn(handshake=False)
        c.send(R.PREFACE + frame(SETTINGS, ACK))
        self.assertConnError(c, R.PROTOCOL_ERROR)

    def test_preface_byte_by_byte(self):
        c = self.conn(handshake=False)
        for b in R.PREFACE + frame(SETTINGS):
            c.send(bytes([b]))
        f = c.read_until(lambda f: f.type == SETTINGS and not f.is_ack())
        self.assertIsNotNone(f, c.frames)
        c.send(frame(SETTINGS, ACK))
        self.assertIsNotNone(c.read_until(lambda f: f.type == SETTINGS and f.is_ack()), c.frames)
        self.assertNoError(c)

    def test_server_settings(self):
        c = self.conn()
        # §3.4: the server preface is a SETTINGS frame, its first frame.
        self.assertEqual((c.frames[0].type, c.frames[0].flags, c.frames[0].stream_id), (SETTINGS, 0, 0))
        s = c.server_settings
        # §6.5.2: a server MAY send ENABLE_PUSH only as 0; what the server advertises is sane.
        self.assertEqual(s.get(R.SETTINGS_ENABLE_PUSH, 0), 0)
        self.assertEqual(s.get(R.SETTINGS_MAX_CONCURRENT_STREAMS), 100)
        self.assertGreaterEqual(s.get(R.SETTINGS_MAX_FRAME_SIZE, 16384), 16384)
        self.assertIn(R.SETTINGS_MAX_HEADER_LIST_SIZE, s)


class SettingsTest(R.ServerCase):
    """§6.5 SETTINGS."""

    def test_ack_with_payload(self):
        c = self.conn()
        c.send_frame(SETTINGS, ACK, 0, b"\0" * 6)
        self.assertConnError(c, R.FRAME_SIZE_ERROR)

    def test_length_not_multiple_of_6(self):
        c = self.conn()
        c.send_frame(SETTINGS, 0, 0, R.settings_payload({R.SETTINGS_MAX_CONCURRENT_STREAMS: 10})[:5])
        self.assertConnError(c, R.FRAME_SIZE_ERROR)

    def test_on_stream(self):
        c = self.conn()
        c.send_frame(SETTINGS, 0, 1, b"")
        self.assertConnError(c, R.PROTOCOL_ERROR)

    def test_enable_push_2(self):
        c = self.conn()
        c.send_settings({R.SETTINGS_ENABLE_PUSH: 2})
        self.assertConnError(c, R.PROTOCOL_ERROR)

    def test_initial_window_2_31(self):
        c = self.conn()
        c.send_settings({R.SETTINGS_INITIAL_WINDOW_SIZE: 1 << 31})
        self.assertConnError(c, R.FLOW_CONTROL_ERROR)

    def test_max_frame_size_below_minimum(self):
        c = self.conn()
        c.send_settings({R.SETTINGS_MAX_FRAME_SIZE: 16383})
        self.assertConnError(c, R.PROTOCOL_ERROR)

    def test_max_frame_size_above_maximum(self):
        c = self.conn()
        c.send_settings({R.SETTINGS_MAX_FRAME_SIZE: 1 << 24})
        self.assertConnError(c, R.PROTOCOL_ERROR)

    def test_unknown_setting_ignored_and_acked(self):
        c = self.conn()
        c.send_settings({0x99: 12345, 0xffff: 0})
        f = c.read_until(lambda f: (f.type == SETTINGS and f.is_ack()) or f.type == GOAWAY)
        self.assertTrue(f is not None and f.type == SETTINGS, c.frames)
        self.assertNoError(c)

    def test_initial_window_change_overflows_open_stream(self):
        # §6.9.2: a SETTINGS_INITIAL_WINDOW_SIZE change that makes a window exceed 2^31-1 is a
        # connection FLOW_CONTROL_ERROR.
        c = self.conn()
        c.send_headers(1, req_fields(TS + "FullDuplexCall"))
        c.send_window_update(1, 0x7fffffff - 65535)  # stream window now exactly 2^31-1
        self.assertNoError(c)
        c.send_settings({R.SETTINGS_INITIAL_WINDOW_SIZE: 65536})
        self.assertConnError(c, R.FLOW_CONTROL_ERROR)


class PingTest(R.ServerCase):
    """§6.7 PING."""

    def test_ack_echoes_payload(self):
        c = self.conn()
        c.send_ping(b"\x01\x02\x03\x04\x05\x06\x07\x08")
        f = c.read_until(lambda f: f.type == PING)
        self.assertIsNotNone(f, c.frames)
        self.assertEqual(f.flags, ACK)
        self.assertEqual(f.stream_id, 0)
        self.assertEqual(f.payload, b"\x01\x02\x03\x04\x05\x06\x07\x08")

    def test_ack_is_not_answered(self):
        c = self.conn()
        c.send_ping(b"ackackac", flags=ACK)
        c.send_ping(b"realping")
        f = c.read_until(lambda f: f.type == PING)
        self.assertIsNotNone(f)
        self.assertEqual(f.payload, b"realping", "the server answered a PING ACK")

    def test_wrong_length(self):
        for n in (7, 9):
            with self.subTest(length=n):
                c = self.conn()
                c.send_frame(PING, 0, 0, b"\0" * n)
                self.assertConnError(c, R.FRAME_SIZE_ERROR)

    def test_on_stream(self):
        c = self.conn()
        c.send_frame(PING, 0, 1, b"\0" * 8)
        self.assertConnError(c, R.PROTOCOL_ERROR)


class FramingTest(R.ServerCase):
    """§4 frame format and size, §5.5 extensions, fixed-length frames."""

    def test_headers_frame_above_max_frame_size(self):
        # §4.2: a frame above SETTINGS_MAX_FRAME_SIZE carrying a field block is a connection
        # FRAME_SIZE_ERROR.
        c = self.conn()
        block = c.encode(req_fields()) + raw_block([("x-pad", "a" * 16400)])
        self.assertGreater(len(block), 16384)
        c.send_frame(HEADERS, END_HEADERS | END_STREAM, 1, block)
        self.assertConnError(c, R.FRAME_SIZE_ERROR)

    def test_data_frame_above_max_frame_size(self):
        c = self.conn()
        c.send_headers(1, req_fields(TS + "FullDuplexCall"))
        c.send_frame(DATA, 0, 1, b"\0" * 16385)
        # A DATA frame may be a stream error (§4.2); ours is a connection error.
        f = c.read_until(lambda f: f.type in (GOAWAY, RST_STREAM))
        self.assertIsNotNone(f, c.frames)
        self.assertEqual(f.error_code, R.FRAME_SIZE_ERROR, f)

    def test_unknown_frame_type_ignored(self):
        c = self.conn()
        c.send_frame(0x20, 0xff, 0, b"hello, extension")
        c.send_frame(0xfa, 0x00, 1, b"\0" * 100)  # on an idle stream, too
        self.assertNoError(c)
        c.send_health_check(1)
        self.assertEqual(c.response(1).grpc_status, 0)

    def test_unknown_flags_ignored(self):
        c = self.conn()
        c.send_frame(PING, 0xfe, 0, b"flagsfla")
        f = c.read_until(lambda f: f.type == PING)
        self.assertIsNotNone(f, c.frames)
        self.assertEqual(f.payload, b"flagsfla")

    def test_reserved_bit_ignored(self):
        # §4.1: the reserved bit of the stream identifier MUST be ignored on receipt.
        c = self.conn()
        c.send(frame(HEADERS, END_HEADERS, 0x80000001, c.encode(req_fields())) +
               frame(DATA, END_STREAM, 0x80000001, HEALTH_BODY))
        r = c.response(1)
        self.assertEqual(r.grpc_status, 0, r)

    def test_rst_stream_wrong_length(self):
        c = self.conn()
        c.send_headers(1, req_fields(TS + "FullDuplexCall"))
        c.send_frame(RST_STREAM, 0, 1, b"\0\0\0")
        self.assertConnError(c, R.FRAME_SIZE_ERROR)

    def test_window_update_wrong_length(self):
        c = self.conn()
        c.send_frame(WINDOW_UPDATE, 0, 0, b"\0\0\0\1\0")
        self.assertConnError(c, R.FRAME_SIZE_ERROR)

    def test_goaway_too_short(self):
        c = self.conn()
        c.send_frame(GOAWAY, 0, 0, b"\0\0\0\0")
        self.assertConnError(c, R.FRAME_SIZE_ERROR)

    def test_goaway_on_stream(self):
        c = self.conn()
        c.send_frame(GOAWAY, 0, 1, R.goaway_payload(0, 0))
        self.assertConnError(c, R.PROTOCOL_ERROR)

    def test_data_on_stream_0(self):
        c = self.conn()
        c.send_frame(DATA, 0, 0, b"x")
        self.assertConnError(c, R.PROTOCOL_ERROR)

    def test_headers_on_stream_0(self):
        c = self.conn()
        c.send_headers(0, req_fields(), end_stream=True)
        self.assertConnError(c, R.PROTOCOL_ERROR)

    def test_rst_stream_on_stream_0(self):
        c = self.conn()
        c.send_rst(0)
        self.assertConnError(c, R.PROTOCOL_ERROR)

    def test_priority_on_stream_0(self):
        c = self.conn()
        c.send_frame(PRIORITY, 0, 0, R.priority_payload(1))
        self.assertConnError(c, R.PROTOCOL_ERROR)

    def test_continuation_on_stream_0(self):
        c = self.conn()
        c.send_frame(CONTINUATION, END_HEADERS, 0, b"")
        self.assertConnError(c, R.PROTOCOL_ERROR)

    def test_data_padding_too_long(self):
        # §6.1: padding as long as the payload or longer: connection PROTOCOL_ERROR.
        c = self.conn()
        c.send_headers(1, req_fields())
        c.send_frame(DATA, PADDED | END_STREAM, 1, R.padded(b"abc", 3, declared=10))
        self.assertConnError(c, R.PROTOCOL_ERROR)

    def test_headers_padding_too_long(self):
        c = self.conn()
        block = c.encode(req_fields())
        c.send_frame(HEADERS, PADDED | END_HEADERS | END_STREAM, 1,
                     bytes([len(block) + 1]) + block)
        self.assertConnError(c, R.PROTOCOL_ERROR)

    def test_padded_frames_accepted(self):
        c = self.conn()
        block = c.encode(req_fields())
        c.send(frame(HEADERS, PADDED | END_HEADERS, 1, R.padded(block, 7)) +
               frame(DATA, PADDED | END_STREAM, 1, R.padded(HEALTH_BODY, 200)))
        r = c.response(1)
        self.assertEqual(r.grpc_status, 0, r)

    def test_padding_zero_length_pad(self):
        c = self.conn()
        c.send(frame(HEADERS, END_HEADERS, 1, c.encode(req_fields())) +
               frame(DATA, PADDED | END_STREAM, 1, R.padded(HEALTH_BODY, 0)))
        self.assertEqual(c.response(1).grpc_status, 0)


class StreamStateTest(R.ServerCase):
    """§5.1 stream states and identifiers."""

    def test_even_stream_id_from_client(self):
        c = self.conn()
        c.send_headers(2, req_fields(), end_stream=True)
        self.assertConnError(c, R.PROTOCOL_ERROR)

    def test_decreasing_stream_id(self):
        c = self.conn()
        c.send_request(5, R.HEALTH_CHECK, HEALTH_BODY)
        self.assertEqual(c.response(5).grpc_status, 0)
        c.send_request(3, R.HEALTH_CHECK, HEALTH_BODY)
        self.assertConnError(c, R.PROTOCOL_ERROR)

    def test_data_on_idle_stream(self):
        c = self.conn()
        c.send_frame(DATA, END_STREAM, 1, HEALTH_BODY)
        self.assertConnError(c, R.PROTOCOL_ERROR)

    def test_rst_stream_on_idle_stream(self):
        c = self.conn()
        c.send_rst(1)
        self.assertConnError(c, R.PROTOCOL_ERROR)

    def test_window_update_on_idle_stream(self):
        c = self.conn()
        c.send_window_update(1, 100)
        self.assertConnError(c, R.PROTOCOL_ERROR)

    def test_continuation_without_headers(self):
        c = self.conn()
        c.send_frame(CONTINUATION, END_HEADERS, 1, c.encode(req_fields()))
        self.assertConnError(c, R.PROTOCOL_ERROR)

    def test_continuation_after_end_headers(self):
        c = self.conn()
        c.send_headers(1, req_fields(TS + "FullDuplexCall"))
        c.send_frame(CONTINUATION, END_HEADERS, 1, raw_block([("x-late", "1")]))
        self.assertConnError(c, R.PROTOCOL_ERROR)

    def test_unknown_frame_inside_header_block(self):
        # §6.2/§6.10: a field block is contiguous; any other frame between HEADERS and its
        # CONTINUATION (even of an unknown type) is a connection PROTOCOL_ERROR.
        c = self.conn()
        block = c.encode(req_fields())
        c.send(frame(HEADERS, END_STREAM, 1, block[:5]) + frame(0xfa, 0, 0, b"ext") +
               frame(CONTINUATION, END_HEADERS, 1, block[5:]))
        self.assertConnError(c, R.PROTOCOL_ERROR)

    def test_continuation_on_other_stream(self):
        c = self.conn()
        block = c.encode(req_fields())
        c.send(frame(HEADERS, END_STREAM, 1, block[:5]) +
               frame(CONTINUATION, END_HEADERS, 3, block[5:]))
        self.assertConnError(c, R.PROTOCOL_ERROR)

    def test_headers_inside_header_block(self):
        c = self.conn()
        block = c.encode(req_fields())
        c.send(frame(HEADERS, END_STREAM, 1, block[:5]) +
               frame(HEADERS, END_STREAM | END_HEADERS, 3, block))
        self.assertConnError(c, R.PROTOCOL_ERROR)

    def test_header_block_split_in_continuations(self):
        c = self.conn()
        block = c.encode(req_fields())
        c.send(frame(HEADERS, 0, 1, block[:3]) + frame(CONTINUATION, 0, 1, block[3:7]) +
               frame(CONTINUATION, END_HEADERS, 1, block[7:]) +
               frame(DATA, END_STREAM, 1, HEALTH_BODY))
        self.assertEqual(c.response(1).grpc_status, 0)

    def test_data_on_half_closed_remote_stream(self):
        # The client ended its side; the call is still running (a delayed response).
        # §5.1 half-closed (remote) / §6.1: DATA is a stream error STREAM_CLOSED.
        c = self.conn()
        c.send_request(1, TS + "StreamingOutputCall", streaming_output_body((1, 5_000_000)))
        c.send_data(1, b"\0\0\0\0\0")
        self.assertStreamError(c, 1, R.STREAM_CLOSED)

    def test_headers_on_half_closed_remote_stream(self):
        c = self.conn()
        c.send_request(1, TS + "StreamingOutputCall", streaming_output_body((1, 5_000_000)))
        c.send_headers(1, None, end_stream=True, block=raw_block([("x-trailer", "1")]))
        self.assertStreamError(c, 1, R.STREAM_CLOSED)

    def test_data_on_closed_stream(self):
        # Both sides ended the stream. §5.1 closed: a stream error STREAM_CLOSED, or a
        # connection error STREAM_CLOSED.
        c = self.conn()
        c.send_request(1, R.HEALTH_CHECK, HEALTH_BODY)
        self.assertEqual(c.response(1).grpc_status, 0)
        c.send_data(1, b"late")
        f = c.read_until(lambda f: f.type in (GOAWAY, RST_STREAM))
        self.assertIsNotNone(f, c.frames)
        self.assertEqual(f.error_code, R.STREAM_CLOSED, f)
        if f.type == GOAWAY:
            self.assertTrue(c.wait_closed())

    def test_frames_after_client_rst_are_ignored(self):
        # §5.1 closed: after sending RST_STREAM, WINDOW_UPDATE and PRIORITY may follow; the
        # peer's own late frames must not kill the connection.
        c = self.conn()
        c.send_headers(1, req_fields(TS + "FullDuplexCall"))
        c.send_rst(1, R.CANCEL)
        c.send_frame(PRIORITY, 0, 1, R.priority_payload(0))
        c.send_window_update(1, 10)
        self.assertNoError(c)

    def test_max_concurrent_streams_exceeded(self):
        c = self.conn()
        limit = c.server_settings[R.SETTINGS_MAX_CONCURRENT_STREAMS]
        out = b""
        for i in range(limit):
            out += frame(HEADERS, END_HEADERS, 1 + 2 * i, c.encode(req_fields(TS + "FullDuplexCall")))
        c.send(out)
        self.assertNoError(c)
        sid = 1 + 2 * limit
        c.send_headers(sid, req_fields(TS + "FullDuplexCall"))
        # §5.1.2: PROTOCOL_ERROR or REFUSED_STREAM (the latter tells the client it may retry).
        self.assertStreamError(c, sid, R.REFUSED_STREAM, R.PROTOCOL_ERROR)
        # A slot frees once a stream ends: a new stream then works.
        c.send_rst(1)
        c.send_request(sid + 2, R.HEALTH_CHECK, HEALTH_BODY)
        self.assertEqual(c.response(sid + 2).grpc_status, 0)


class FlowControlTest(R.ServerCase):
    """§6.9 WINDOW_UPDATE and flow control."""

    def test_window_update_zero_on_stream(self):
        c = self.conn()
        c.send_headers(1, req_fields(TS + "FullDuplexCall"))
        c.send_window_update(1, 0)
        self.assertStreamError(c, 1, R.PROTOCOL_ERROR)

    def test_window_update_zero_on_connection(self):
        c = self.conn()
        c.send_window_update(0, 0)
        self.assertConnError(c, R.PROTOCOL_ERROR)

    def test_connection_window_overflow(self):
        c = self.conn()
        c.send_window_update(0, 0x7fffffff)  # 65535 + 2^31-1 > 2^31-1
        self.assertConnError(c, R.FLOW_CONTROL_ERROR)

    def test_stream_window_overflow(self):
        c = self.conn()
        c.send_headers(1, req_fields(TS + "FullDuplexCall"))
        c.send_window_update(1, 0x7fffffff)
        self.assertStreamError(c, 1, R.FLOW_CONTROL_ERROR)

    def test_stream_window_respected(self):
        # The server sends no more DATA than our stream window, and resumes on WINDOW_UPDATE.
        c = self.conn(settings={R.SETTINGS_INITIAL_WINDOW_SIZE: 10})
        req = messages_pb2.SimpleRequest(response_size=1000)
        c.send_request(1, TS + "UnaryCall", R.grpc_frame(req.SerializeToString()))
        f = c.read_until(lambda f: f.type == DATA and f.stream_id == 1)
        self.assertIsNotNone(f, c.frames)
        got = sum(len(x.payload) for x in c.frames if x.type == DATA and x.stream_id == 1)
        # Nothing more arrives beyond the window (the PING round trip orders the check).
        self.assertTrue(c.ping_roundtrip())
        got = sum(len(x.payload) for x in c.frames if x.type == DATA and x.stream_id == 1)
        self.assertEqual(got, 10, "server exceeded the stream window")
        c.send_window_update(1, 1 << 20)
        r = c.response(1)
        self.assertEqual(r.grpc_status, 0, r)
        self.assertEqual(len(messages_pb2.SimpleResponse.FromString(r.messages()[0]).payload.body), 1000)

    def test_settings_window_increase_unblocks_streams(self):
        # §6.9.2: a SETTINGS_INITIAL_WINDOW_SIZE change applies to every open stream.
        c = self.conn(settings={R.SETTINGS_INITIAL_WINDOW_SIZE: 0})
        req = messages_pb2.SimpleRequest(response_size=1000)
        c.send_request(1, TS + "UnaryCall", R.grpc_frame(req.SerializeToString()))
        c.send_request(3, TS + "UnaryCall", R.grpc_frame(req.SerializeToString()))
        self.assertTrue(c.ping_roundtrip())
        self.assertEqual([f for f in c.frames if f.type == DATA], [], "DATA into a zero window")
        c.send_settings({R.SETTINGS_INITIAL_WINDOW_SIZE: 65535})
        for sid in (1, 3):
            r = c.response(sid)
            self.assertEqual(r.grpc_status, 0, r)

    def test_negative_stream_window_after_settings(self):
        # §6.9.2: lowering INITIAL_WINDOW_SIZE can make a window negative; the sender must wait
        # until WINDOW_UPDATEs make it positive again.
        c = self.conn(settings={R.SETTINGS_INITIAL_WINDOW_SIZE: 100})
        req = messages_pb2.SimpleRequest(response_size=1000)
        c.send_request(1, TS + "UnaryCall", R.grpc_frame(req.SerializeToString()))
        self.assertIsNotNone(c.read_until(lambda f: f.type == DATA and f.stream_id == 1))
        self.assertTrue(c.ping_roundtrip())
        c.send_settings({R.SETTINGS_INITIAL_WINDOW_SIZE: 0})  # window now 0 - 100 = -100
        self.assertTrue(c.ping_roundtrip())
        c.send_window_update(1, 50)  # -50: still nothing may be sent
        self.assertTrue(c.ping_roundtrip())
        got = sum(len(x.payload) for x in c.frames if x.type == DATA and x.stream_id == 1)
        self.assertEqual(got, 100)
        c.send_window_update(1, 1 << 20)
        r = c.response(1)
        self.assertEqual(r.grpc_status, 0, r)

    def test_connection_window_respected(self):
        # Our connection window stays at its initial 65535: the server stops there, and every
        # frame it sends is within the default SETTINGS_MAX_FRAME_SIZE.
        c = self.conn(settings={R.SETTINGS_INITIAL_WINDOW_SIZE: 1 << 20})
        req = messages_pb2.SimpleRequest(response_size=200_000)
        c.send_request(1, TS + "UnaryCall", R.grpc_frame(req.SerializeToString()))
        total = 0
        while total < 65535:
            f = c.read_until(lambda f: f.type == DATA and f.stream_id == 1)
            self.assertIsNotNone(f, f"stalled at {total} bytes")
            total += len(f.payload)
        self.assertTrue(c.ping_roundtrip())
        total = sum(len(x.payload) for x in c.frames if x.type == DATA)
        self.assertEqual(total, 65535)
        self.assertTrue(all(len(x.payload) <= 16384 for x in c.frames))
        c.send_window_update(0, 1 << 20)
        # The rest arrives (response() returns each DATA frame to both windows).
        r = c.response(1)
        self.assertEqual(r.grpc_status, 0, r)
        body = messages_pb2.SimpleResponse.FromString(r.messages()[0]).payload.body
        self.assertEqual(len(body), 200_000)


class PriorityTest(R.ServerCase):
    """§5.3, §6.3 PRIORITY (signals ignored, frames still validated)."""

    def test_priority_self_dependency(self):
        # §5.3.1: a stream cannot depend on itself: PROTOCOL_ERROR (stream error; on an idle
        # stream, which cannot be reset, a connection error).
        c = self.conn()
        c.send_frame(PRIORITY, 0, 1, R.priority_payload(1))
        f = c.read_until(lambda f: f.type in (GOAWAY, RST_STREAM))
        self.assertIsNotNone(f, c.frames)
        self.assertEqual(f.error_code, R.PROTOCOL_ERROR, f)

    def test_priority_self_dependency_on_open_stream(self):
        c = self.conn()
        c.send_headers(1, req_fields(TS + "FullDuplexCall"))
        c.send_frame(PRIORITY, 0, 1, R.priority_payload(1))
        self.assertStreamError(c, 1, R.PROTOCOL_ERROR)

    def test_headers_self_dependency(self):
        c = self.conn()
        c.send_frame(HEADERS, END_HEADERS | END_STREAM | PRIORITY_FLAG, 1,
                     R.priority_payload(1) + c.encode(req_fields()))
        self.assertStreamError(c, 1, R.PROTOCOL_ERROR)
        c.send_request(3, R.HEALTH_CHECK, HEALTH_BODY)
        self.assertEqual(c.response(3).grpc_status, 0)

    def test_priority_wrong_length(self):
        c = self.conn()
        c.send_headers(1, req_fields(TS + "FullDuplexCall"))
        c.send_frame(PRIORITY, 0, 1, b"\0\0\0\0")
        self.assertStreamError(c, 1, R.FRAME_SIZE_ERROR)

    def test_priority_on_idle_stream_allowed(self):
        c = self.conn()
        c.send_frame(PRIORITY, 0, 9, R.priority_payload(0, 200))
        self.assertNoError(c)
        c.send_frame(HEADERS, END_HEADERS | PRIORITY_FLAG, 1,
                     R.priority_payload(9, 10, True) + c.encode(req_fields()))
        c.send_data(1, HEALTH_BODY, end_stream=True)
        self.assertEqual(c.response(1).grpc_status, 0)


class HeaderFieldsTest(R.ServerCase):
    """§8.2, §8.3 field validity and pseudo-header fields: malformed requests are stream errors
    of type PROTOCOL_ERROR (§8.1.1); the connection goes on."""

    def _malformed(self, fields, end_stream=True):
        c = self.conn()
        c.send_headers(1, None, end_stream=end_stream, block=raw_block(fields))
        self.assertStreamError(c, 1, R.PROTOCOL_ERROR)
        c.send_request(3, R.HEALTH_CHECK, HEALTH_BODY)
        self.assertEqual(c.response(3).grpc_status, 0)

    def test_uppercase_header_name(self):
        self._malformed(req_fields(extra=[("X-Upper", "1")]))

    def test_pseudo_header_after_regular(self):
        m, s, p, a = req_fields()[:4]
        self._malformed([m, s, a, ("content-type", "application/grpc"), p])

    def test_unknown_pseudo_header(self):
        self._malformed(req_fields()[:4] + [(":foo", "bar")])

    def test_response_pseudo_header_in_request(self):
        self._malformed([(":status", "200")] + req_fields())

    def test_duplicate_pseudo_header(self):
        self._malformed(req_fields()[:4] + [(":path", "/again")])

    def test_missing_path(self):
        self._malformed([x for x in req_fields() if x[0] != ":path"])

    def test_empty_path(self):
        self._malformed([(n, "" if n == ":path" else v) for n, v in req_fields()])

    def test_missing_method(self):
        self._malformed([x for x in req_fields() if x[0] != ":method"])

    def test_missing_scheme(self):
        self._malformed([x for x in req_fields() if x[0] != ":scheme"])

    def test_connection_specific_header(self):
        self._malformed(req_fields(extra=[("connection", "keep-alive")]))

    def test_keep_alive_header(self):
        self._malformed(req_fields(extra=[("keep-alive", "timeout=5")]))

    def test_transfer_encoding_header(self):
        self._malformed(req_fields(extra=[("transfer-encoding", "chunked")]))

    def test_te_other_than_trailers(self):
        self._malformed([(n, "trailers, gzip" if n == "te" else v) for n, v in req_fields()])

    def test_field_value_with_newline(self):
        self._malformed(req_fields(extra=[("x-bad", "a\nb")]))

    def test_field_name_with_space(self):
        self._malformed(req_fields(extra=[("x bad", "1")]))

    def test_content_length_mismatch(self):
        c = self.conn()
        c.send_headers(1, None, block=raw_block(req_fields(extra=[("content-length", "100")])))
        c.send_data(1, HEALTH_BODY, end_stream=True)
        self.assertStreamError(c, 1, R.PROTOCOL_ERROR)

    def test_content_length_exceeded(self):
        c = self.conn()
        c.send_headers(1, None, block=raw_block(req_fields(extra=[("content-length", "2")])))
        c.send_data(1, HEALTH_BODY)
        self.assertStreamError(c, 1, R.PROTOCOL_ERROR)

    def test_content_length_nonzero_without_body(self):
        self._malformed(req_fields(extra=[("content-length", "5")]))

    def test_content_length_match_ok(self):
        c = self.conn()
        c.send_headers(1, None, block=raw_block(req_fields(extra=[("content-length", "5")])))
        c.send_data(1, HEALTH_BODY, end_stream=True)
        self.assertEqual(c.response(1).grpc_status, 0)

    def test_trailers_with_pseudo_header(self):
        c = self.conn()
        c.send_headers(1, req_fields(TS + "FullDuplexCall"))
        c.send_headers(1, None, end_stream=True, block=raw_block([(":path", "/x")]))
        self.assertStreamError(c, 1, R.PROTOCOL_ERROR)

    def test_trailers_without_end_stream(self):
        # §8.1: a second HEADERS (trailers) must carry END_STREAM.
        c = self.conn()
        c.send_headers(1, req_fields(TS + "FullDuplexCall"))
        c.send_headers(1, None, end_stream=False, block=raw_block([("x-trailer", "1")]))
        self.assertStreamError(c, 1, R.PROTOCOL_ERROR)

    def test_header_list_above_limit(self):
        # Above our SETTINGS_MAX_HEADER_LIST_SIZE: refused as a stream error (RFC 9113 §10.5.1
        # also allows a 431 response); the connection and its HPACK state go on.
        c = self.conn()
        limit = c.server_settings[R.SETTINGS_MAX_HEADER_LIST_SIZE]
        extra = [(f"x-big-{i}", "v" * 4000) for i in range(limit // 4000 + 1)]
        block = c.encode(req_fields()) + raw_block(extra)
        c.send(frame(HEADERS, 0, 1, block[:16000]) + frame(CONTINUATION, END_HEADERS, 1, block[16000:]))
        f = c.read_until(lambda f: (f.stream_id == 1 and f.type in (RST_STREAM, HEADERS)) or f.type == GOAWAY)
        self.assertIsNotNone(f, c.frames)
        self.assertNotEqual(f.type, GOAWAY, f)
        if f.type == HEADERS:
            self.assertEqual(dict(f.headers).get(":status"), "431", f)
        c.send_request(3, R.HEALTH_CHECK, HEALTH_BODY)
        self.assertEqual(c.response(3).grpc_status, 0)

    def test_push_promise_from_client(self):
        c = self.conn()
        c.send_headers(1, req_fields(TS + "FullDuplexCall"))
        c.send_frame(PUSH_PROMISE, END_HEADERS, 1, struct.pack(">I", 2) + c.encode(req_fields()))
        self.assertConnError(c, R.PROTOCOL_ERROR)


class HpackTest(R.ServerCase):
    """§4.3 / RFC 7541: decoding errors are connection errors of type COMPRESSION_ERROR."""

    def test_invalid_index(self):
        c = self.conn()
        c.send_headers(1, None, end_stream=True, block=hp_indexed(2) + hp_indexed(70))
        self.assertConnError(c, R.COMPRESSION_ERROR)

    def test_index_zero(self):
        c = self.conn()
        c.send_headers(1, None, end_stream=True, block=b"\x80")
        self.assertConnError(c, R.COMPRESSION_ERROR)

    def test_table_size_update_above_setting(self):
        c = self.conn()
        limit = c.server_settings.get(R.SETTINGS_HEADER_TABLE_SIZE, 4096)
        c.send_headers(1, None, end_stream=True,
                       block=hp_size_update(limit + 1) + raw_block(req_fields()))
        self.assertConnError(c, R.COMPRESSION_ERROR)

    def test_table_size_update_after_field(self):
        # RFC 7541 §4.2: a size update must come at the beginning of a block.
        c = self.conn()
        c.send_headers(1, None, end_stream=True,
                       block=raw_block(req_fields()[:1]) + hp_size_update(100) + raw_block(req_fields()[1:]))
        self.assertConnError(c, R.COMPRESSION_ERROR)

    def test_truncated_block(self):
        c = self.conn()
        c.send_headers(1, None, end_stream=True, block=raw_block(req_fields()) + b"\x00\x05ab")
        self.assertConnError(c, R.COMPRESSION_ERROR)

    def test_invalid_huffman(self):
        # A Huffman string whose padding is not all ones (RFC 7541 §5.2).
        c = self.conn()
        c.send_headers(1, None, end_stream=True,
                       block=raw_block(req_fields()) + b"\x00\x81\x00\x81\x00")
        self.assertConnError(c, R.COMPRESSION_ERROR)

    def test_peer_header_table_size_zero(self):
        # RFC 7541 §4.2: after our SETTINGS_HEADER_TABLE_SIZE 0, the server's next header block
        # starts with a dynamic table size update to 0 and nothing is indexed any more.
        c = self.conn(settings={R.SETTINGS_HEADER_TABLE_SIZE: 0})
        for sid in (1, 3):
            c.send_request(sid, R.HEALTH_CHECK, HEALTH_BODY)
            self.assertEqual(c.response(sid).grpc_status, 0)
        blocks = [f.block for f in c.frames if f.block is not None]
        self.assertTrue(blocks[0].startswith(b"\x20"), f"first block {blocks[0][:8].hex()}")
        for b in blocks:
            self.assertEqual(self._indexed_literals(b), 0, b.hex())
        self.assertEqual(len(c.dec.header_table.dynamic_entries), 0)

    @staticmethod
    def _indexed_literals(block):
        """Counts literals with incremental indexing (RFC 7541 §6.2.1) in a block."""
        n, i = 0, 0

        def integer(i, prefix):
            v = block[i] & ((1 << prefix) - 1)
            i += 1
            if v == (1 << prefix) - 1:
                m = 0
                while True:
                    b = block[i]
                    i += 1
                    v += (b & 0x7f) << m
                    m += 7
                    if not b & 0x80:
                        break
            return v, i

        def string(i):
            ln, i = integer(i, 7)
            return i + ln

        while i < len(block):
            b = block[i]
            if b & 0x80:  # indexed
                _, i = integer(i, 7)
            elif b & 0xc0 == 0x40:  # literal with incremental indexing
                n += 1
                idx, i = integer(i, 6)
                if idx == 0:
                    i = string(i)
                i = string(i)
            elif b & 0xe0 == 0x20:  # size update
                _, i = integer(i, 5)
            else:  # literal without indexing / never indexed
                idx, i = integer(i, 4)
                if idx == 0:
                    i = string(i)
                i = string(i)
        return n

    def test_dynamic_table_used_across_requests(self):
        # The same encoder on three requests: later blocks are mostly dynamic-table indices.
        c = self.conn()
        for sid in (1, 3, 5):
            c.send_request(sid, R.HEALTH_CHECK, HEALTH_BODY, extra=[("x-meta", "v" * 100)])
            self.assertEqual(c.response(sid).grpc_status, 0)

    def test_table_size_update_to_zero(self):
        c = self.conn()
        c.enc.header_table_size = 0  # the next block starts with a size update to 0
        c.send_request(1, R.HEALTH_CHECK, HEALTH_BODY)
        self.assertEqual(c.response(1).grpc_status, 0)
        c.enc.header_table_size = 4096
        c.send_request(3, R.HEALTH_CHECK, HEALTH_BODY)
        self.assertEqual(c.response(3).grpc_status, 0)


class GrpcOverRawFramesTest(R.ServerCase):
    def test_health_check(self):
        c = self.conn()
        c.send_request(1, R.HEALTH_CHECK, HEALTH_BODY)
        r = c.response(1)
        self.assertTrue(r.ended, r)
        self.assertEqual(r.status, "200")
        self.assertTrue(r.header("content-type").startswith("application/grpc"), r)
        self.assertEqual(len(r.messages()), 1)
        self.assertEqual(health_pb2.HealthCheckResponse.FromString(r.messages()[0]).status,
                         health_pb2.HealthCheckResponse.SERVING)
        self.assertIsNotNone(r.trailers, "grpc-status must come in trailers after a message")
        self.assertEqual(dict(r.trailers).get("grpc-status"), "0")
        # Trailers end the stream: the last frame of the stream is HEADERS with END_STREAM.
        last = [f for f in c.frames if f.stream_id == 1][-1]
        self.assertEqual(last.type, HEADERS)
        self.assertTrue(last.flags & END_STREAM)

    def test_unknown_method_trailers_only(self):
        c = self.conn()
        c.send_request(1, "/no.Such/Method", R.grpc_frame(b""))
        r = c.response(1)
        self.assertEqual(r.status, "200")
        self.assertEqual(r.grpc_status, 12, r)  # UNIMPLEMENTED

    def test_grpc_timeout_expires(self):
        # A call that never completes, with grpc-timeout 200 ms: DEADLINE_EXCEEDED (4) in
        # trailers, and the stream ends.
        c = self.conn()
        c.send_headers(1, req_fields(TS + "FullDuplexCall", extra=[("grpc-timeout", "200m")]))
        r = c.response(1, timeout=5.0)
        self.assertTrue(r.ended, r)
        self.assertEqual(r.grpc_status, 4, r)
        self.assertNoError(c)

    def test_many_requests_one_connection(self):
        c = self.conn()
        out = b""
        for i in range(50):
            sid = 1 + 2 * i
            out += frame(HEADERS, END_HEADERS, sid, c.encode(req_fields())) + \
                frame(DATA, END_STREAM, sid, HEALTH_BODY)
        c.send(out)
        for i in range(50):
            self.assertEqual(c.response(1 + 2 * i).grpc_status, 0)


class ClientGoawayTest(R.ServerCase):
    """§6.8: GOAWAY from the client."""

    def test_goaway_without_streams_closes(self):
        c = self.conn()
        c.send_goaway(0, R.NO_ERROR)
        frames, closed = c.read_all()
        self.assertTrue(closed, "the server did not close after the client's GOAWAY")
        self.assertFalse([f for f in frames if f.type == GOAWAY and f.error_code != R.NO_ERROR], frames)

    def test_goaway_with_stream_in_flight(self):
        c = self.conn()
        c.send_request(1, TS + "StreamingOutputCall", streaming_output_body((10, 0), (20, 300_000)))
        self.assertIsNotNone(c.read_until(lambda f: f.type == DATA and f.stream_id == 1))
        c.send_goaway(0, R.NO_ERROR)
        r = c.response(1)
        self.assertEqual(r.grpc_status, 0, r)
        self.assertEqual(len(r.messages()), 2)
        self.assertTrue(c.wait_closed(), "the server did not close once the last stream ended")

    def test_goaway_with_error_from_client(self):
        c = self.conn()
        c.send_goaway(0, R.PROTOCOL_ERROR, b"client says bye")
        frames, closed = c.read_all()
        self.assertTrue(closed)


class GracefulDrainTest(R.ServerCase):
    """SIGTERM: GOAWAY(NO_ERROR) to every connection, the call in flight completes, new streams
    on the old connection are refused, then the process exits 0."""

    def tearDown(self):
        pass  # the server is gone by design

    @classmethod
    def tearDownClass(cls):
        cls.srv.kill()
        cls.srv.close()

    def test_sigterm_goaway_and_in_flight_call_completes(self):
        c = self.conn()
        c.send_request(1, TS + "StreamingOutputCall", streaming_output_body((10, 0), (20, 1_500_000)))
        self.assertIsNotNone(c.read_until(lambda f: f.type == DATA and f.stream_id == 1), c.frames)
        self.srv.proc.send_signal(signal.SIGTERM)
        g = c.expect_goaway()
        self.assertIsNotNone(g, c.frames)
        self.assertEqual(g.error_code, R.NO_ERROR, g)
        self.assertGreaterEqual(g.last_stream_id, 1)
        # A stream above last_stream_id is not processed: REFUSED_STREAM (safe to retry).
        sid = max(3, g.last_stream_id + 2)
        c.send_request(sid, R.HEALTH_CHECK, HEALTH_BODY)
        self.assertEqual(c.stream_reset(sid), R.REFUSED_STREAM)
        r = c.response(1)
        self.assertEqual(r.grpc_status, 0, r)
        self.assertEqual([len(messages_pb2.StreamingOutputCallResponse.FromString(m).payload.body)
                          for m in r.messages()], [10, 20])
        self.assertTrue(c.wait_closed(), "connection not closed after the drain")
        self.assertEqual(self.srv.proc.wait(timeout=15), 0)
