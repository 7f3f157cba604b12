"""Normal requests from nghttp2's own clients (Debian nghttp2-client): nghttp for single
requests, h2load for a short burst on several connections. nghttp speaks HTTP/2 with prior
knowledge for http:// URIs and sends PRIORITY frames for idle streams first, a useful check
of a client the server was not written against."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import h2raw as R

NGHTTP = shutil.which("nghttp")
H2LOAD = shutil.which("h2load")
HEALTH_BODY = R.grpc_frame(b"")
GRPC_HEADERS = ["-H", "content-type: application/grpc", "-H", "te: trailers"]


@unittest.skipUnless(NGHTTP and H2LOAD, "nghttp2-client (nghttp, h2load) not installed")
class NghttpTest(R.ServerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.TemporaryDirectory(prefix="ringq-nghttp-")
        cls.body = os.path.join(cls.tmp.name, "health.bin")
        with open(cls.body, "wb") as f:
            f.write(HEALTH_BODY)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()
        super().tearDownClass()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def run_tool(self, argv, timeout=30):
        p = subprocess.run(argv, capture_output=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr

    def test_health_check_verbose(self):
        rc, out, err = self.run_tool([NGHTTP, "-v", "-d", self.body, *GRPC_HEADERS,
                                      self.url(R.HEALTH_CHECK)])
        text = out.decode(errors="replace")
        self.assertEqual(rc, 0, text + err.decode(errors="replace"))
        self.assertRegex(text, r"recv \(stream_id=\d+\) :status: 200")
        self.assertRegex(text, r"recv \(stream_id=\d+\) content-type: application/grpc")
        self.assertRegex(text, r"recv \(stream_id=\d+\) grpc-status: 0")
        self.assertIn("recv SETTINGS frame", text)
        # The trailers end the stream; nothing resets it and the server sends no GOAWAY.
        self.assertRegex(text, r"recv HEADERS frame <[^>]*flags=0x05")
        self.assertNotIn("recv RST_STREAM", text)
        self.assertNotIn("recv GOAWAY", text)

    def test_health_check_body(self):
        rc, out, err = self.run_tool([NGHTTP, "-d", self.body, *GRPC_HEADERS, self.url(R.HEALTH_CHECK)])
        self.assertEqual(rc, 0, err)
        # One gRPC message: HealthCheckResponse{status: SERVING}.
        self.assertEqual(out, b"\x00\x00\x00\x00\x02\x08\x01")

    def test_several_requests_one_connection(self):
        # nghttp fetches every URI on one connection, concurrently (it drops duplicate URIs).
        # Every method below accepts an empty request message.
        paths = [R.HEALTH_CHECK, "/grpc.health.v1.Health/List", "/grpc.testing.TestService/EmptyCall",
                 "/grpc.testing.TestService/UnaryCall", "/grpc.testing.TestService/CacheableUnaryCall",
                 "/no.Such/Method"]
        urls = [self.url(p) for p in paths]
        rc, out, err = self.run_tool([NGHTTP, "-v", "-d", self.body, *GRPC_HEADERS, *urls])
        text = out.decode(errors="replace")
        self.assertEqual(rc, 0, text)
        self.assertEqual(len(re.findall(r"grpc-status: 0\b", text)), 5, text)
        self.assertEqual(len(re.findall(r"grpc-status: 12\b", text)), 1, text)  # UNIMPLEMENTED
        self.assertNotIn("recv GOAWAY", text)

    def test_get_is_not_grpc(self):
        rc, out, err = self.run_tool([NGHTTP, "-v", self.url(R.HEALTH_CHECK)])
        self.assertRegex(out.decode(errors="replace"), r":status: 405")

    def test_h2load_burst(self):
        rc, out, err = self.run_tool([H2LOAD, "-n", "2000", "-c", "4", "-m", "10", "-d", self.body,
                                      *GRPC_HEADERS, self.url(R.HEALTH_CHECK)], timeout=60)
        text = out.decode(errors="replace")
        self.assertEqual(rc, 0, text)
        self.assertIn("requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed, "
                      "0 errored", text)
        self.assertIn("status codes: 2000 2xx", text)
