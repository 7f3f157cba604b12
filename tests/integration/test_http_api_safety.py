"""Who may change things through the JSON API (docs/http-api.md, "Safety"): the X-Ringq-Token
header (CSRF), Origin and Sec-Fetch-Site, the admin token, loopback-only without one, and
--ui read-only / off. Each case against a real ringqd, checked on the server's state through
grpcio afterwards."""
import os
import socket
import tempfile
import unittest

import ringq_client as C
from http_api_util import request


def paused(c, q):
    return c.GetQueue(name=q).paused


def non_loopback_ipv4():
    """An address of this host that is not loopback (None when it has none)."""
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect(("192.0.2.1", 9))  # no packet is sent: picks the outgoing interface
        ip = s.getsockname()[0]
        s.close()
        return None if ip.startswith("127.") else ip
    except OSError:
        return None


class NoTokenTest(C.RingqdTest):
    def test_csrf_header_and_origin(self):
        q = self.q()
        self.c.put(q, "x")
        port = self.srv.port
        path = f"/api/v1/queues/{q}/pause"
        st, body, _ = request(port, "POST", path)
        self.assertEqual((st, body["code"]), (403, "PERMISSION_DENIED"))
        self.assertIn("X-Ringq-Token", body["message"])
        for h in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                  {"Origin": "null"}):
            st, body, _ = request(port, "POST", path, headers={"X-Ringq-Token": "1", **h})
            self.assertEqual((st, body["code"]), (403, "PERMISSION_DENIED"), h)
        self.assertFalse(paused(self.c, q))
        # The same origin, as the dashboard sends it: allowed (loopback, no token configured).
        st, body, _ = request(port, "POST", path, headers={
            "X-Ringq-Token": "1", "Origin": f"http://127.0.0.1:{port}",
            "Sec-Fetch-Site": "same-origin"})
        self.assertEqual(st, 200, body)
        self.assertTrue(paused(self.c, q))
        # DELETE needs the header too.
        tid = self.c.put(q, "y")[0]
        st, _, _ = request(port, "DELETE", f"/api/v1/tasks/{tid}")
        self.assertEqual(st, 403)
        self.assertEqual(self.c.GetTask(id=tid).id, tid)

    def test_h2c_may_read_but_not_change(self):
        import subprocess
        q = self.q()
        self.c.put(q, "x")
        url = f"http://127.0.0.1:{self.srv.port}/api/v1/queues/{q}"
        out = subprocess.run(["curl", "-s", "--http2-prior-knowledge", url], capture_output=True,
                             text=True, timeout=20).stdout
        self.assertIn(f'"name":"{q}"', out)
        out = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-X", "POST", "-H",
                              "X-Ringq-Token: 1", url + "/pause"], capture_output=True,
                             text=True, timeout=20).stdout
        self.assertIn("PERMISSION_DENIED", out)
        self.assertFalse(paused(self.c, q))

    def test_other_hosts_need_a_token(self):
        ip = non_loopback_ipv4()
        if not ip:
            self.skipTest("no non-loopback IPv4 address on this host")
        # Beyond loopback without TLS and tokens ringqd starts only when told --insecure
        # (docs/security.md, "Safe defaults"): the dashboard shares the port.
        srv = C.start_ringqd("--host", "0.0.0.0", "--insecure")
        ch = srv.channel()
        try:
            c = C.Client(ch)
            q = self.q()
            c.put(q, "x")
            st, body, _ = request(srv.port, "POST", f"/api/v1/queues/{q}/pause",
                                  headers={"X-Ringq-Token": "1"}, host=ip)
            self.assertEqual((st, body["code"]), (401, "UNAUTHENTICATED"), body)
            self.assertIn("--admin-token", body["message"])
            self.assertFalse(paused(c, q))
            st, body, _ = request(srv.port, "GET", f"/api/v1/queues/{q}", host=ip)
            self.assertEqual(st, 200)  # reads need no token
        finally:
            self.assertEqual(C.stop(srv, ch)[0], 0)


class TokenTest(unittest.TestCase):
    def test_token_from_flag_and_file(self):
        with tempfile.TemporaryDirectory() as d:
            tf = os.path.join(d, "token")
            with open(tf, "w") as f:
                f.write("s3cret-file\n")
            for args, token in ((["--admin-token", "s3cret"], "s3cret"),
                                (["--admin-token-file", tf], "s3cret-file")):
                srv = C.start_ringqd(*args)
                ch = srv.channel()
                try:
                    c = C.Client(ch)
                    q = C.qname("tok")
                    c.put(q, "x")
                    path = f"/api/v1/queues/{q}/pause"
                    for bad in ("1", token + "x", token[:-1], ""):
                        st, body, _ = request(srv.port, "POST", path,
                                              headers={"X-Ringq-Token": bad} if bad else {})
                        self.assertIn(st, (401, 403), (bad, body))
                        self.assertFalse(paused(c, q))
                    st, body, _ = request(srv.port, "GET", "/api/v1/server")
                    self.assertTrue(body["token_required"])
                    st, body, _ = request(srv.port, "POST", path,
                                          headers={"X-Ringq-Token": token})
                    self.assertEqual(st, 200, body)
                    self.assertTrue(paused(c, q))
                finally:
                    self.assertEqual(C.stop(srv, ch)[0], 0)


class ReadOnlyTest(unittest.TestCase):
    def test_read_only_refuses_every_change(self):
        srv = C.start_ringqd("--ui", "read-only", "--admin-token", "t")
        ch = srv.channel()
        try:
            c = C.Client(ch)
            q = C.qname("ro")
            tid = c.put(q, "x")[0]
            for method, path in (("POST", f"/api/v1/queues/{q}/pause"),
                                 ("POST", f"/api/v1/queues/{q}/purge"),
                                 ("POST", f"/api/v1/queues/{q}/redrive"),
                                 ("DELETE", f"/api/v1/tasks/{tid}"),
                                 ("DELETE", f"/api/v1/queues/{q}?force=true")):
                st, body, _ = request(srv.port, method, path, headers={"X-Ringq-Token": "t"})
                self.assertEqual((st, body["code"]), (403, "PERMISSION_DENIED"), path)
                self.assertIn("read-only", body["message"])
            self.assertFalse(paused(c, q))
            self.assertEqual(c.GetQueue(name=q).ready, 1)
            st, body, _ = request(srv.port, "GET", f"/api/v1/queues/{q}")
            self.assertEqual((st, body["ready"]), (200, 1))
            st, body, _ = request(srv.port, "GET", "/api/v1/server")
            self.assertEqual(body["ui"], "read-only")
        finally:
            self.assertEqual(C.stop(srv, ch)[0], 0)

    def test_ui_off_and_bad_flags(self):
        srv = C.start_ringqd("--ui", "off")
        ch = srv.channel()
        try:
            st, body, _ = request(srv.port, "GET", "/")
            self.assertEqual(st, 404)
            self.assertIn("--ui off", body)
            self.assertEqual(request(srv.port, "GET", "/api/v1/server")[0], 200)
        finally:
            self.assertEqual(C.stop(srv, ch)[0], 0)
        import subprocess
        import ringq_harness as H
        for args, says in ((["--ui", "maybe"], "--ui must be"),
                           (["--admin-token", "has space"], "printable"),
                           (["--admin-token-file", "/nonexistent/x"], "--admin-token-file")):
            p = subprocess.run([os.path.join(H.BUILD, "ringqd"), "--port", "0", *args],
                               capture_output=True, text=True, timeout=20)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn(says, p.stderr)


if __name__ == "__main__":
    unittest.main()
