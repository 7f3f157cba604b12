"""HTTP/1.1 on the gRPC port, driven with curl (and a raw socket for malformed input)."""
import socket
import subprocess
import unittest

import ringq_harness as H


def curl(*args):
    p = subprocess.run(["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "10", *args],
                       capture_output=True, text=True)
    body, _, code = p.stdout.rpartition("\n")
    return int(code), body


def raw(port, data, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except socket.timeout:
        pass
    s.close()
    return out


class Http1Test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = H.Server("ringqd", threads=2)

    @classmethod
    def tearDownClass(cls):
        cls.srv.terminate()
        cls.srv.close()

    def test_healthz(self):
        code, body = curl(f"http://{self.srv.addr}/healthz")
        self.assertEqual((code, body), (200, "ok\n"))

    def test_metrics(self):
        code, body = curl(f"http://{self.srv.addr}/metrics")
        self.assertEqual(code, 200)
        self.assertIn("ringq_connections_accepted_total", body)
        self.assertIn("# TYPE ringq_connections_open gauge", body)

    def test_unknown_path_404(self):
        self.assertEqual(curl(f"http://{self.srv.addr}/nope")[0], 404)

    def test_wrong_method_405(self):
        self.assertEqual(curl("-X", "POST", "-d", "x", f"http://{self.srv.addr}/healthz")[0], 405)

    def test_keep_alive_two_requests_one_connection(self):
        out = raw(self.srv.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                                 b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertEqual(out.count(b"HTTP/1.1 200 OK"), 2)

    def test_garbage_gets_400_and_close(self):
        out = raw(self.srv.port, b"\x16\x03\x01\x00\xa5 garbage\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 400"), out)

    def test_huge_head_gets_431(self):
        out = raw(self.srv.port, b"GET /healthz HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 431"), out[:100])

    def test_prior_knowledge_h2_with_curl(self):
        # curl speaks HTTP/2 with prior knowledge too; /healthz answers as over HTTP/1.1
        # (test_h2_plain.py has the rest).
        code, body = curl("--http2-prior-knowledge", f"http://{self.srv.addr}/healthz")
        self.assertEqual((code, body), (200, "ok\n"))


if __name__ == "__main__":
    unittest.main()
