"""A small raw HTTP/2 client for conformance and attack tests (RFC 9113).

Frames are built by hand (any type, flags, stream id, payload, even a wrong length), so tests
can send exactly the malformed input they mean to. Header blocks are HPACK-encoded with the
`hpack` package (python3-hpack) or written field by field with the hp_* helpers. Reading parses
frames until a timeout, a GOAWAY or the end of the connection; every header block the server
sends is decoded in order, so the HPACK decoder stays in sync.

Nothing here sleeps: every wait is a socket read with a deadline.
"""
import socket
import ssl
import struct
import time
import unittest

import hpack

# ---- RFC 9113 constants ----
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
TYPE_NAMES = ["DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE", "PING",
              "GOAWAY", "WINDOW_UPDATE", "CONTINUATION"]

END_STREAM = 0x1
ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20

NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, SETTINGS_TIMEOUT, STREAM_CLOSED, \
    FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR, CONNECT_ERROR, \
    ENHANCE_YOUR_CALM, INADEQUATE_SECURITY, HTTP_1_1_REQUIRED = range(14)
ERROR_NAMES = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR",
               "SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM",
               "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM",
               "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"]

SETTINGS_HEADER_TABLE_SIZE = 0x1
SETTINGS_ENABLE_PUSH = 0x2
SETTINGS_MAX_CONCURRENT_STREAMS = 0x3
SETTINGS_INITIAL_WINDOW_SIZE = 0x4
SETTINGS_MAX_FRAME_SIZE = 0x5
SETTINGS_MAX_HEADER_LIST_SIZE = 0x6

DEFAULT_TIMEOUT = 5.0
HEALTH_CHECK = "/grpc.health.v1.Health/Check"


# ---- TLS: test_h2_tls.py re-runs the conformance and attack tests over TLS ----

_tls = None  # (client context offering ALPN h2, one offering http/1.1), or None: plaintext


def use_tls(ca_file):
    """Every connection made here from now on speaks TLS, verifying the server against
    ca_file (None: plaintext again)."""
    global _tls
    if ca_file is None:
        _tls = None
        return

    def ctx(alpn):
        c = ssl.create_default_context(cafile=ca_file)
        c.set_alpn_protocols(alpn)
        return c
    _tls = (ctx(["h2"]), ctx(["http/1.1"]))


def tls_wrap(sock, http1=False):
    """The socket itself when plaintext, else a TLS socket over it (handshake done)."""
    if _tls is None:
        return sock
    return _tls[1 if http1 else 0].wrap_socket(sock, server_hostname="127.0.0.1")


def err_name(code):
    return ERROR_NAMES[code] if code is not None and 0 <= code < len(ERROR_NAMES) else str(code)


# ---- frame building ----

def frame(ftype, flags=0, stream_id=0, payload=b"", length=None):
    """One frame. `length` overrides the 24-bit length field (to lie about it)."""
    n = len(payload) if length is None else length
    return struct.pack(">I", n)[1:] + bytes([ftype & 0xff, flags & 0xff]) + \
        struct.pack(">I", stream_id & 0xffffffff) + payload


def settings_payload(items):
    """`items`: dict or list of (id, value)."""
    if isinstance(items, dict):
        items = list(items.items())
    return b"".join(struct.pack(">HI", k, v) for k, v in items)


def rst_payload(code):
    return struct.pack(">I", code)


def goaway_payload(last_stream_id, code, debug=b""):
    return struct.pack(">II", last_stream_id, code) + debug


def window_update_payload(increment):
    return struct.pack(">I", increment)


def priority_payload(dependency, weight=15, exclusive=False):
    return struct.pack(">IB", (dependency & 0x7fffffff) | (0x80000000 if exclusive else 0), weight)


def padded(payload, pad_len, declared=None):
    """PADDED payload: pad length octet (`declared` overrides it), payload, pad_len zeros."""
    d = pad_len if declared is None else declared
    return bytes([d]) + payload + b"\0" * pad_len


def grpc_frame(msg, compressed=False):
    """gRPC length-prefixed message (PROTOCOL-HTTP2.md)."""
    return bytes([1 if compressed else 0]) + struct.pack(">I", len(msg)) + msg


# ---- HPACK by hand (RFC 7541 §5.1, §6) ----

def hp_int(value, prefix_bits, first=0):
    """Integer with an N-bit prefix; `first` holds the pattern bits above the prefix."""
    mx = (1 << prefix_bits) - 1
    if value < mx:
        return bytes([first | value])
    out = [first | mx]
    value -= mx
    while value >= 128:
        out.append((value & 0x7f) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hp_str(s):
    s = s.encode() if isinstance(s, str) else s
    return hp_int(len(s), 7, 0x00) + s  # no Huffman


def hp_literal(name, value):
    """Literal without indexing, new name (§6.2.2): never touches the dynamic table, so it can be
    mixed with an hpack.Encoder's output without desynchronising the tables."""
    return b"\x00" + hp_str(name) + hp_str(value)


def hp_literal_indexed(name, value):
    """Literal with incremental indexing, new name (§6.2.1): adds an entry to the table."""
    return b"\x40" + hp_str(name) + hp_str(value)


def hp_indexed(index):
    """Indexed field (§6.1)."""
    return hp_int(index, 7, 0x80)


def hp_size_update(size):
    """Dynamic table size update (§6.3)."""
    return hp_int(size, 5, 0x20)


def request_headers(path, authority="127.0.0.1", method="POST", scheme="http", extra=(),
                    grpc=True):
    h = [(":method", method), (":scheme", scheme), (":path", path), (":authority", authority)]
    if grpc:
        h += [("content-type", "application/grpc"), ("te", "trailers")]
    return h + list(extra)


# ---- frames read ----

class Frame:
    __slots__ = ("type", "flags", "stream_id", "payload", "headers", "block")

    def __init__(self, ftype, flags, stream_id, payload):
        self.type, self.flags, self.stream_id, self.payload = ftype, flags, stream_id, payload
        self.headers = None  # decoded list of (name, value) on the frame ending a header block
        self.block = None    # ... and the raw HPACK block it was decoded from

    @property
    def error_code(self):
        if self.type == RST_STREAM:
            return struct.unpack(">I", self.payload[:4])[0]
        if self.type == GOAWAY:
            return struct.unpack(">I", self.payload[4:8])[0]
        return None

    @property
    def last_stream_id(self):
        return struct.unpack(">I", self.payload[:4])[0] & 0x7fffffff

    @property
    def debug(self):
        return self.payload[8:] if self.type == GOAWAY else b""

    @property
    def settings(self):
        return {struct.unpack(">H", self.payload[i:i + 2])[0]:
                struct.unpack(">I", self.payload[i + 2:i + 6])[0]
                for i in range(0, len(self.payload) - 5, 6)}

    @property
    def increment(self):
        return struct.unpack(">I", self.payload[:4])[0] & 0x7fffffff

    def is_ack(self):
        return self.type in (SETTINGS, PING) and bool(self.flags & ACK)

    def __repr__(self):
        t = TYPE_NAMES[self.type] if self.type < len(TYPE_NAMES) else hex(self.type)
        extra = ""
        if self.type in (RST_STREAM, GOAWAY):
            extra = " " + err_name(self.error_code)
            if self.type == GOAWAY:
                extra += f" last={self.last_stream_id} debug={self.debug!r}"
        elif self.headers is not None:
            extra = f" {self.headers}"
        elif self.type == WINDOW_UPDATE:
            extra = f" +{self.increment}"
        return f"<{t} flags=0x{self.flags:x} sid={self.stream_id} len={len(self.payload)}{extra}>"


class ConnClosed(Exception):
    pass


class Response:
    """What a stream received: response headers, DATA bytes, trailers, RST_STREAM code."""

    def __init__(self):
        self.headers = None
        self.data = b""
        self.trailers = None
        self.rst = None
        self.ended = False

    def header(self, name):
        for k, v in (self.headers or []):
            if k == name:
                return v
        return None

    def trailer(self, name):
        for k, v in (self.trailers or []):
            if k == name:
                return v
        # Trailers-only responses carry grpc-status in the headers.
        if self.trailers is None and self.ended:
            return self.header(name)
        return None

    @property
    def status(self):
        return self.header(":status")

    @property
    def grpc_status(self):
        v = self.trailer("grpc-status")
        return int(v) if v is not None else None

    def messages(self):
        """Splits `data` into gRPC messages."""
        out, d = [], self.data
        while len(d) >= 5:
            n = struct.unpack(">I", d[1:5])[0]
            out.append(d[5:5 + n])
            d = d[5 + n:]
        return out

    def __repr__(self):
        return (f"<Response headers={self.headers} data={len(self.data)}B "
                f"trailers={self.trailers} rst={err_name(self.rst) if self.rst is not None else None}>")


class H2Conn:
    """One raw HTTP/2 connection to 127.0.0.1:port.

    handshake=True sends the preface and `settings`, answers the server's SETTINGS with an ACK
    and waits for the ACK of ours. rcvbuf sets SO_RCVBUF before connecting (a small value makes a
    client that does not read hit the server's output bounds quickly)."""

    def __init__(self, port, host="127.0.0.1", handshake=True, settings=None, rcvbuf=None,
                 timeout=DEFAULT_TIMEOUT, conn_window_update=0):
        self.port = port
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.sock = tls_wrap(self.sock)
        self.rbuf = bytearray()
        self.closed = False
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.dec.max_header_list_size = 1 << 24
        self._hblock = None  # (stream id, bytes so far) of a header block being received
        self.frames = []  # every frame read, in order
        self.server_settings = {}
        self.goaway = None
        self.bytes_read = 0
        if handshake:
            self.handshake(settings or {}, conn_window_update)

    # -- sending --

    def send(self, data):
        """Sends bytes; returns False (and marks the connection closed) if the peer is gone."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, ssl.SSLEOFError):
            self.closed = True  # (over TLS, a peer that closed shows as an unexpected EOF)
            return False
        except socket.timeout:
            return False

    def send_frame(self, ftype, flags=0, stream_id=0, payload=b"", length=None):
        return self.send(frame(ftype, flags, stream_id, payload, length))

    def send_settings(self, items=None, flags=0):
        return self.send_frame(SETTINGS, flags, 0, settings_payload(items or {}))

    def send_ping(self, opaque=b"\0" * 8, flags=0):
        return self.send_frame(PING, flags, 0, opaque)

    def send_rst(self, sid, code=CANCEL):
        return self.send_frame(RST_STREAM, 0, sid, rst_payload(code))

    def send_window_update(self, sid, inc):
        return self.send_frame(WINDOW_UPDATE, 0, sid, window_update_payload(inc))

    def send_goaway(self, last, code=NO_ERROR, debug=b""):
        return self.send_frame(GOAWAY, 0, 0, goaway_payload(last, code, debug))

    def encode(self, headers):
        return self.enc.encode(headers)

    def send_headers(self, sid, headers, end_stream=False, end_headers=True, block=None, flags=0):
        """HEADERS with `headers` encoded (or the raw `block`)."""
        if block is None:
            block = self.encode(headers)
        f = flags | (END_STREAM if end_stream else 0) | (END_HEADERS if end_headers else 0)
        return self.send_frame(HEADERS, f, sid, block)

    def send_data(self, sid, data, end_stream=False):
        return self.send_frame(DATA, END_STREAM if end_stream else 0, sid, data)

    def send_request(self, sid, path, body=None, extra=(), end_stream=True):
        """A gRPC request: HEADERS, then one DATA with `body` (already gRPC-framed) and
        END_STREAM. body=None sends HEADERS only (END_STREAM per `end_stream`)."""
        h = request_headers(path, extra=extra)
        if body is None:
            return self.send_headers(sid, h, end_stream=end_stream)
        return self.send(frame(HEADERS, END_HEADERS, sid, self.encode(h)) +
                         frame(DATA, END_STREAM if end_stream else 0, sid, body))

    def send_health_check(self, sid, service=b""):
        msg = (b"\x0a" + bytes([len(service)]) + service) if service else b""
        return self.send_request(sid, HEALTH_CHECK, grpc_frame(msg))

    # -- receiving --

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(1 << 18)
        except socket.timeout:
            return False
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, ssl.SSLEOFError):
            chunk = b""
        if not chunk:
            self.closed = True
            raise ConnClosed()
        self.bytes_read += len(chunk)
        self.rbuf += chunk
        return True

    def _parse(self):
        if len(self.rbuf) < 9:
            return None
        n = int.from_bytes(self.rbuf[0:3], "big")
        if len(self.rbuf) < 9 + n:
            return None
        f = Frame(self.rbuf[3], self.rbuf[4], int.from_bytes(self.rbuf[5:9], "big") & 0x7fffffff,
                  bytes(self.rbuf[9:9 + n]))
        del self.rbuf[:9 + n]
        self._track(f)
        return f

    def _track(self, f):
        if f.type == HEADERS:
            p, off = f.payload, 0
            end = len(p)
            if f.flags & PADDED:
                off, end = 1, len(p) - p[0]
            if f.flags & PRIORITY_FLAG:
                off += 5
            self._hblock = (f.stream_id, bytes(p[off:end]))
            if f.flags & END_HEADERS:
                self._end_block(f)
        elif f.type == CONTINUATION and self._hblock is not None:
            self._hblock = (self._hblock[0], self._hblock[1] + f.payload)
            if f.flags & END_HEADERS:
                self._end_block(f)
        elif f.type == SETTINGS and not (f.flags & ACK):
            self.server_settings.update(f.settings)
        elif f.type == GOAWAY:
            self.goaway = f
        self.frames.append(f)

    def _end_block(self, f):
        f.block = self._hblock[1]
        f.headers = [(k, v) for k, v in self.dec.decode(self._hblock[1])]
        self._hblock = None

    def read_frame(self, timeout=None):
        """The next frame, or None after `timeout` seconds. Raises ConnClosed at EOF."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            f = self._parse()
            if f is not None:
                return f
            if not self._fill(deadline):
                return None

    def read_until(self, pred, timeout=None):
        """Reads frames until pred(frame) is true: returns that frame, or None on timeout or
        when the connection closes first."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            try:
                f = self.read_frame(max(0.0, deadline - time.monotonic()))
            except ConnClosed:
                return None
            if f is None:
                return None
            if pred(f):
                return f

    def read_all(self, timeout=None):
        """Reads until EOF or timeout; returns (frames read, closed)."""
        out = []
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            try:
                f = self.read_frame(max(0.0, deadline - time.monotonic()))
            except ConnClosed:
                return out, True
            if f is None:
                return out, False
            out.append(f)

    def expect_goaway(self, timeout=None):
        """Reads until a GOAWAY arrives (returned) or the connection ends / times out (None)."""
        if self.goaway is not None:
            return self.goaway
        return self.read_until(lambda f: f.type == GOAWAY, timeout)

    def wait_closed(self, timeout=None):
        """Reads (and keeps) frames until EOF: True if the peer closed within `timeout`."""
        if self.closed:
            return True
        _, closed = self.read_all(timeout)
        return closed

    def connection_error(self, timeout=None):
        """After a connection error the server must send GOAWAY and close (RFC 9113 §5.4.1).
        Returns (GOAWAY frame or None, closed)."""
        g = self.expect_goaway(timeout)
        closed = self.wait_closed(timeout)
        return g, closed

    def stream_reset(self, sid, timeout=None):
        """Waits for RST_STREAM on `sid`: returns its error code, or None (timeout, GOAWAY or
        close first)."""
        f = self.read_until(lambda f: (f.type == RST_STREAM and f.stream_id == sid) or
                            f.type == GOAWAY, timeout)
        if f is None or f.type == GOAWAY:
            return None
        return f.error_code

    def ping_roundtrip(self, opaque=b"alive?!!", timeout=None):
        """Sends a PING and waits for its ACK: True when the connection is still usable."""
        if not self.send_ping(opaque):
            return False
        f = self.read_until(lambda f: (f.type == PING and f.is_ack() and f.payload == opaque) or
                            f.type == GOAWAY, timeout)
        return f is not None and f.type == PING

    def response(self, sid, timeout=None):
        """Collects one stream's response until END_STREAM, RST_STREAM, GOAWAY (with sid above
        its last stream id), close or timeout. Frames for other streams are kept in self.frames.
        Also answers flow control so large responses are not stuck: every DATA frame read is
        returned to both windows at once."""
        r = Response()
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        # Frames already read that belong to this stream.
        for f in self.frames:
            if f.stream_id == sid:
                self._apply(r, f, credit=False)
        while not r.ended and r.rst is None:
            try:
                f = self.read_frame(max(0.0, deadline - time.monotonic()))
            except ConnClosed:
                break
            if f is None:
                break
            if f.stream_id == sid:
                self._apply(r, f, credit=True)
            elif f.type == GOAWAY and sid > f.last_stream_id:
                break
        return r

    def _apply(self, r, f, credit):
        if f.type == HEADERS or (f.type == CONTINUATION and f.headers is not None):
            if f.headers is not None:
                if r.headers is None:
                    r.headers = f.headers
                else:
                    r.trailers = f.headers
            if f.type == HEADERS and f.flags & END_STREAM:
                r.ended = True
        elif f.type == DATA:
            p = f.payload
            if f.flags & PADDED:
                p = p[1:len(p) - p[0]]
            r.data += p
            if credit and len(f.payload):
                self.send(frame(WINDOW_UPDATE, 0, 0, window_update_payload(len(f.payload))) +
                          frame(WINDOW_UPDATE, 0, f.stream_id,
                                window_update_payload(len(f.payload))))
            if f.flags & END_STREAM:
                r.ended = True
        elif f.type == RST_STREAM:
            r.rst = f.error_code

    def handshake(self, settings, conn_window_update=0):
        out = PREFACE + frame(SETTINGS, 0, 0, settings_payload(settings))
        if conn_window_update:
            out += frame(WINDOW_UPDATE, 0, 0, window_update_payload(conn_window_update))
        self.send(out)
        got_settings = got_ack = False
        deadline = time.monotonic() + self.timeout
        while not (got_settings and got_ack):
            f = self.read_frame(max(0.0, deadline - time.monotonic()))
            if f is None:
                raise AssertionError(f"no SETTINGS exchange; frames: {self.frames}")
            if f.type == SETTINGS and not (f.flags & ACK):
                if got_settings:
                    raise AssertionError("server sent a second SETTINGS before our ACK")
                got_settings = True
                self.send_frame(SETTINGS, ACK, 0)
            elif f.type == SETTINGS:
                got_ack = True
            elif f.type == GOAWAY:
                raise AssertionError(f"GOAWAY during handshake: {f}")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def http1_get(port, path, timeout=DEFAULT_TIMEOUT):
    """A one-shot HTTP/1.1 GET on the same port (/metrics, /healthz): (status, body)."""
    with tls_wrap(socket.create_connection(("127.0.0.1", port), timeout=timeout), True) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def metric(port, name):
    """A counter from GET /metrics (summed over shards by the server)."""
    status, body = http1_get(port, "/metrics")
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return int(line.split()[1])
    raise KeyError(name)


def health_check(port, timeout=DEFAULT_TIMEOUT):
    """A fresh connection, one grpc.health.v1.Health/Check over raw frames: the Response."""
    with H2Conn(port, timeout=timeout) as c:
        c.send_health_check(1)
        return c.response(1, timeout)


# ---- a TestCase base shared by the test_h2_* files ----


class ServerCase(unittest.TestCase):
    """Starts SERVER with ARGS once per class; every test ends by checking that the server still
    answers a gRPC health check (raw frames, and with grpcio when GRPCIO_CHECK)."""
    SERVER = "ringq-interop-server"
    ARGS = ()
    THREADS = 2
    GRPCIO_CHECK = False
    TLS = False  # True: the server and every connection speak TLS (test_h2_tls.py)

    @classmethod
    def setUpClass(cls):
        import ringq_harness as H
        cls.H = H
        args = tuple(cls.ARGS)
        if cls.TLS:
            import tls_certs
            cls.certs = tls_certs.Certs()
            args += ("--tls-cert", cls.certs.server_cert, "--tls-key", cls.certs.server_key)
            use_tls(cls.certs.ca)
        cls.srv = H.Server(cls.SERVER, *args, threads=cls.THREADS)
        if cls.TLS:
            cls.srv.tls_ca = cls.certs.ca
        cls.port = cls.srv.port
        r = health_check(cls.port)
        assert r.grpc_status == 0, f"server not healthy at start: {r}"
        cls.rss0 = cls.srv.rss_kib()

    @classmethod
    def tearDownClass(cls):
        try:
            code = cls.srv.terminate(timeout=8.0)
        finally:
            cls.srv.close()
            if cls.TLS:
                use_tls(None)
                cls.certs.cleanup()
        assert code == 0, f"{cls.SERVER} exited {code}"

    def tearDown(self):
        self.assertAlive()

    def conn(self, **kw):
        c = H2Conn(self.port, **kw)
        self.addCleanup(c.close)
        return c

    def assertAlive(self):
        self.assertIsNone(self.srv.proc.poll(), "server process died:\n" + "".join(self.srv.lines[-20:]))
        r = health_check(self.port)
        self.assertEqual(r.status, "200", f"health check after the test: {r}")
        self.assertEqual(r.grpc_status, 0, f"health check after the test: {r}")
        if self.GRPCIO_CHECK:
            from grpc.health.v1 import health_pb2
            ch = self.srv.channel()
            try:
                resp = self.H.unary(ch, "/grpc.health.v1.Health/Check", health_pb2.HealthCheckRequest(),
                                    health_pb2.HealthCheckResponse, timeout=5)
                self.assertEqual(resp.status, health_pb2.HealthCheckResponse.SERVING)
            finally:
                ch.close()

    def assertConnError(self, c, *codes, timeout=None):
        """RFC 9113 §5.4.1: GOAWAY with one of `codes`, then the connection is closed."""
        g, closed = c.connection_error(timeout)
        self.assertIsNotNone(g, f"expected GOAWAY {[err_name(x) for x in codes]}; got {c.frames}")
        self.assertIn(g.error_code, codes,
                      f"GOAWAY code {err_name(g.error_code)}, expected {[err_name(x) for x in codes]}")
        self.assertTrue(closed, "the server did not close the connection after its GOAWAY")
        return g

    def assertStreamError(self, c, sid, *codes, timeout=None):
        """RFC 9113 §5.4.2: RST_STREAM on `sid` with one of `codes`; the connection stays up."""
        code = c.stream_reset(sid, timeout)
        self.assertIsNotNone(code, f"expected RST_STREAM on stream {sid}; got {c.frames}")
        self.assertIn(code, codes,
                      f"RST_STREAM code {err_name(code)}, expected {[err_name(x) for x in codes]}")
        self.assertTrue(c.ping_roundtrip(), f"connection unusable after a stream error: {c.frames}")
        return code

    def assertNoError(self, c):
        """The connection is still fine: a PING is answered and no GOAWAY / RST came."""
        self.assertTrue(c.ping_roundtrip(), f"no PING ACK: {c.frames}")
        bad = [f for f in c.frames if f.type in (GOAWAY, RST_STREAM)]
        self.assertEqual(bad, [], "unexpected error frames")
