"""Requests that are not gRPC over h2c (prior knowledge) on ringqd's port: GET /healthz and
/metrics answer as over HTTP/1.1 (200, the same body and content-type), other paths 404 with a
body, other methods on those paths 405 with a body, HEAD the headers alone; gRPC requests are
answered as before. Driven with curl --http2-prior-knowledge, nghttp and raw frames."""
import subprocess
import unittest

import h2raw as R
import ringq_harness as H


def curl_h2(port, path, *args):
    """(status, content-type, body) of one request with curl over h2c."""
    p = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "--max-time", "10", "-o", "-",
                        "-w", "\n%{http_code} %{http_version} %{content_type}", *args,
                        f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True)
    body, _, tail = p.stdout.rpartition("\n")
    code, version, ctype = (tail.split(" ", 2) + ["", ""])[:3]
    assert version == "2", f"curl did not speak HTTP/2: {tail!r} {p.stderr}"
    return int(code), ctype, body


def metric_names(text):
    return sorted({line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")})


class H2PlainTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = H.Server("ringqd", threads=2)
        cls.port = cls.srv.port

    @classmethod
    def tearDownClass(cls):
        try:
            code = cls.srv.terminate()
        finally:
            cls.srv.close()
        assert code == 0, f"ringqd exited {code}"

    def test_healthz_as_over_http1(self):
        code, ctype, body = curl_h2(self.port, "/healthz")
        self.assertEqual((code, ctype, body), (200, "text/plain", "ok\n"))
        self.assertEqual(R.http1_get(self.port, "/healthz"), (200, b"ok\n"))
        code, _, body = curl_h2(self.port, "/healthz?verbose=1")
        self.assertEqual((code, body), (200, "ok\n"))

    def test_metrics_as_over_http1(self):
        code, ctype, body = curl_h2(self.port, "/metrics")
        self.assertEqual(code, 200)
        self.assertEqual(ctype, "text/plain; version=0.0.4")
        st, body1 = R.http1_get(self.port, "/metrics")
        self.assertEqual(st, 200)
        self.assertIn("ringq_connections_open", metric_names(body))
        self.assertEqual(metric_names(body), metric_names(body1.decode()))

    def test_other_paths_404_with_a_body(self):
        for path in ("/nope", "/healthz/x", "/metricsz", "/ui/nope.js"):  # "/": the dashboard
            code, ctype, body = curl_h2(self.port, path)
            self.assertEqual((code, ctype, body), (404, "text/plain", "not found\n"), path)

    def test_other_methods_405_with_a_body(self):
        code, _, body = curl_h2(self.port, "/healthz", "-X", "POST", "-d", "x")
        self.assertEqual((code, body), (405, "method not allowed\n"))
        code, _, body = curl_h2(self.port, "/metrics", "-X", "DELETE")
        self.assertEqual((code, body), (405, "method not allowed\n"))

    def test_head_gets_headers_only(self):
        with R.H2Conn(self.port) as c:
            c.send_headers(1, R.request_headers("/healthz", method="HEAD", grpc=False),
                           end_stream=True)
            r = c.response(1)
            self.assertTrue(r.ended, r)
            self.assertEqual((r.status, r.header("content-length"), r.data), ("200", "3", b""))

    def test_nghttp(self):
        p = subprocess.run(["nghttp", "-v", "-t", "10", f"http://127.0.0.1:{self.port}/healthz"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(":status: 200", p.stdout)
        self.assertIn("\nok\n", p.stdout)
        p = subprocess.run(["nghttp", "-v", "-t", "10", f"http://127.0.0.1:{self.port}/nope"],
                           capture_output=True, text=True)
        self.assertIn(":status: 404", p.stdout)
        self.assertIn("not found", p.stdout)

    def test_many_requests_on_one_connection_then_grpc(self):
        """Plain answers and gRPC calls share a connection; gRPC is unchanged: a registered
        method with GET is 405, an unknown gRPC method UNIMPLEMENTED."""
        with R.H2Conn(self.port) as c:
            sid = 1
            for path in ("/healthz", "/metrics", "/nope") * 5:
                c.send_headers(sid, R.request_headers(path, method="GET", grpc=False),
                               end_stream=True)
                r = c.response(sid)
                self.assertTrue(r.ended, r)
                self.assertEqual(r.status, "404" if path == "/nope" else "200")
                self.assertEqual(int(r.header("content-length")), len(r.data))
                sid += 2
            c.send_health_check(sid)
            r = c.response(sid)
            self.assertEqual((r.status, r.grpc_status), ("200", 0))
            sid += 2
            c.send_headers(sid, R.request_headers(R.HEALTH_CHECK, method="GET", grpc=False),
                           end_stream=True)
            self.assertEqual(c.response(sid).status, "405")
            sid += 2
            c.send_request(sid, "/no.Such/Method", body=R.grpc_frame(b""))
            r = c.response(sid)
            self.assertEqual((r.status, r.grpc_status), ("200", 12))


if __name__ == "__main__":
    unittest.main()
