"""TLS on ringqd's port (issue #18 item 1): real handshakes with clients we did not write
(grpcio, curl, openssl s_client, Python's ssl) and with our own (ringq, ringq-worker), against
certificates made for each class by tls_certs.py (openssl).

What must hold: TLS 1.2 and 1.3 only, ALPN h2 and http/1.1, mTLS with --tls-client-ca, clients
that verify by default and refuse a wrong CA or an expired certificate, clear refusals of
plaintext on the TLS port and of TLS on the plaintext port, certificates reloaded on SIGHUP
without dropping connections — and after each refusal the server still serves."""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import unittest

import grpc

import h2raw as R
import ringq_harness as H
import tls_certs
from grpc.health.v1 import health_pb2  # noqa: E402  (generated; path set by ringq_harness)

RINGQ = os.path.join(H.BUILD, "ringq")
WORKER = os.path.join(H.BUILD, "ringq-worker")
RUN_TIMEOUT_S = 20
HEALTH = "/grpc.health.v1.Health/Check"


def run(argv, env=None, timeout=RUN_TIMEOUT_S, stdin=None):
    e = dict(os.environ)
    for k in [k for k in e if k.startswith("RINGQ_")]:
        del e[k]  # only what the test passes
    e.update(env or {})
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=e, input=stdin)
    return p.returncode, p.stdout, p.stderr


def read(path):
    with open(path, "rb") as f:
        return f.read()


def secure_channel(addr, ca, cert=None, key=None):
    creds = grpc.ssl_channel_credentials(root_certificates=read(ca),
                                         private_key=read(key) if key else None,
                                         certificate_chain=read(cert) if cert else None)
    return grpc.secure_channel(addr, creds)


def health(ch, timeout=5):
    return H.unary(ch, HEALTH, health_pb2.HealthCheckRequest(), health_pb2.HealthCheckResponse,
                   timeout=timeout).status


def peer_cn(port, ca, alpn=("h2",), cert=None, key=None):
    """A TLS connection of our own: the server certificate's CN and the ALPN chosen."""
    ctx = ssl.create_default_context(cafile=ca)
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if cert:
        ctx.load_cert_chain(cert, key)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            subject = dict(x[0] for x in s.getpeercert()["subject"])
            return subject["commonName"], s.selected_alpn_protocol()


class TlsCase(unittest.TestCase):
    """One ringqd with TLS per class (EXTRA: more flags), its certificates in cls.certs."""
    EXTRA = ()
    MTLS = False

    @classmethod
    def setUpClass(cls):
        cls.certs = tls_certs.Certs()
        c = cls.certs
        args = ["--tls-cert", c.server_cert, "--tls-key", c.server_key, *cls.EXTRA]
        if cls.MTLS:
            args += ["--tls-client-ca", c.ca]
        cls.srv = H.Server("ringqd", *args)
        cls.srv.tls_ca = c.ca
        cls.port = cls.srv.port

    @classmethod
    def tearDownClass(cls):
        try:
            cls.assert_code = cls.srv.terminate()
        finally:
            cls.srv.close()
            cls.certs.cleanup()

    def tls_args(self, ca=None, client=False):
        a = ["--addr", self.srv.addr, "--ca", ca or self.certs.ca]
        if client:
            a += ["--cert", self.certs.client_cert, "--key", self.certs.client_key]
        return a

    def assertServing(self):
        """The server is alive and answers a verified TLS client (the refusal left it whole)."""
        self.assertIsNone(self.srv.proc.poll(), "".join(self.srv.lines[-20:]))
        if self.MTLS:
            ch = secure_channel(self.srv.addr, self.certs.ca, self.certs.client_cert,
                                self.certs.client_key)
        else:
            ch = secure_channel(self.srv.addr, self.certs.ca)
        with ch:
            self.assertEqual(health(ch), health_pb2.HealthCheckResponse.SERVING)

    def curl(self, *args):
        p = subprocess.run(["curl", "-sS", "--max-time", "10", *args], capture_output=True,
                           text=True, timeout=RUN_TIMEOUT_S)
        return p.returncode, p.stdout, p.stderr

    def url(self, path, host="127.0.0.1"):
        return f"https://{host}:{self.port}{path}"

    def metric(self, name):
        """A counter of /metrics, read over TLS."""
        extra = ["--cert", self.certs.client_cert, "--key", self.certs.client_key] \
            if self.MTLS else []
        rc, out, err = self.curl("--cacert", self.certs.ca, *extra, self.url("/metrics"))
        self.assertEqual(rc, 0, err)
        for line in out.splitlines():
            if line.startswith(name + " "):
                return int(line.split()[1])
        self.fail(f"{name} not in /metrics")


class TlsServerTest(TlsCase):
    def test_grpcio_over_tls(self):
        with secure_channel(self.srv.addr, self.certs.ca) as ch:
            self.assertEqual(health(ch), health_pb2.HealthCheckResponse.SERVING)
        # The name is verified: "localhost" is in the certificate too.
        with grpc.secure_channel(f"localhost:{self.port}", grpc.ssl_channel_credentials(
                root_certificates=read(self.certs.ca))) as ch:
            self.assertEqual(health(ch), health_pb2.HealthCheckResponse.SERVING)

    def test_ringq_cli_over_tls(self):
        rc, out, err = run([RINGQ, *self.tls_args(), "enqueue", "tls-q", "hello"])
        self.assertEqual(rc, 0, err)
        # The same through the environment (RINGQ_TLS_CA alone turns TLS on).
        rc, out, err = run([RINGQ, "--json", "stats", "tls-q"],
                           env={"RINGQ_ADDR": self.srv.addr, "RINGQ_TLS_CA": self.certs.ca})
        self.assertEqual(rc, 0, err)
        self.assertIn('"ready":1', out.replace(" ", ""))

    def test_curl_https_http11_and_http2(self):
        for flag, version in (("--http1.1", "1.1"), ("--http2", "2")):
            for host in ("127.0.0.1", "localhost"):
                rc, out, err = self.curl(flag, "--cacert", self.certs.ca, "-w",
                                         "\n%{http_version}", self.url("/healthz", host))
                self.assertEqual(rc, 0, err)
                body, got = out.rsplit("\n", 1)
                self.assertEqual(got, version)
                self.assertEqual(body.strip(), "ok")
            rc, out, err = self.curl(flag, "--cacert", self.certs.ca, self.url("/metrics"))
            self.assertEqual(rc, 0, err)
            self.assertIn("ringq_connections_accepted_total", out)
            # The dashboard and its JSON API (docs/http-api.md) come over the same TLS.
            rc, out, err = self.curl(flag, "--cacert", self.certs.ca, "-w",
                                     "\n%{http_code} %{content_type}", self.url("/"))
            self.assertEqual(rc, 0, err)
            self.assertTrue(out.rsplit("\n", 1)[1].startswith("200 text/html"), out[-80:])
            rc, out, err = self.curl(flag, "--cacert", self.certs.ca, "-w", "\n%{http_code}",
                                     self.url("/api/v1/queues"))
            self.assertEqual(rc, 0, err)
            self.assertEqual(out.rsplit("\n", 1)[1], "200", out[-200:])

    def test_alpn(self):
        self.assertEqual(peer_cn(self.port, self.certs.ca, ("h2", "http/1.1")),
                         ("ringq server", "h2"))
        self.assertEqual(peer_cn(self.port, self.certs.ca, ("http/1.1",))[1], "http/1.1")
        self.assertIsNone(peer_cn(self.port, self.certs.ca, None)[1])
        # Without ALPN the first bytes decide, as on the plaintext port: HTTP/1.1 here.
        ctx = ssl.create_default_context(cafile=self.certs.ca)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                data = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:80])

    def test_wrong_ca_is_refused_by_every_client(self):
        with secure_channel(self.srv.addr, self.certs.wrong_ca) as ch:
            with self.assertRaises(grpc.RpcError) as cm:
                health(ch)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)
        rc, out, err = self.curl("--cacert", self.certs.wrong_ca, self.url("/healthz"))
        self.assertEqual(rc, 60, err)  # curl: peer certificate cannot be authenticated
        rc, out, err = run([RINGQ, *self.tls_args(ca=self.certs.wrong_ca), "stats"])
        self.assertEqual(rc, 4, err)
        self.assertIn("certificate verify failed", err)
        # Verification is on by default: the system's store does not know the test CA.
        rc, out, err = run([RINGQ, "--addr", self.srv.addr, "--tls", "stats"])
        self.assertEqual(rc, 4, err)
        self.assertIn("certificate verify failed", err)
        # A name the certificate does not carry.
        rc, out, err = run([RINGQ, "--addr", f"127.0.0.2:{self.port}", "--ca", self.certs.ca,
                            "stats"])
        self.assertEqual(rc, 4, err)
        self.assertServing()

    def test_downgrade_to_tls_1_0_and_1_1_is_refused(self):
        failures = self.metric("ringq_tls_handshake_failures_total")
        for flag in ("-tls1_1", "-tls1"):
            # SECLEVEL=0: our client must really offer the old version, not refuse it itself.
            p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{self.port}",
                                flag, "-cipher", "DEFAULT@SECLEVEL=0", "-CAfile",
                                self.certs.ca], input="", capture_output=True, text=True,
                               timeout=RUN_TIMEOUT_S)
            self.assertNotEqual(p.returncode, 0, p.stdout)
            self.assertRegex(p.stdout + p.stderr, r"alert protocol version|unsupported protocol")
        self.assertTrue(self.srv.wait_log("unsupported protocol", timeout=10))
        self.assertEqual(self.metric("ringq_tls_handshake_failures_total"), failures + 2)
        handshakes = self.metric("ringq_tls_handshakes_total")
        for flag, version in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
            p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{self.port}",
                                flag, "-CAfile", self.certs.ca, "-verify_return_error"],
                               input="", capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
            self.assertEqual(p.returncode, 0, p.stderr)
            # "New, TLSv1.3, Cipher is ..." is printed at the handshake; the session block
            # ("Protocol  : TLSv1.3") only once a TLS 1.3 session ticket arrived, which s_client
            # may not wait for when its stdin ends at once.
            self.assertIn(f"New, {version}, Cipher is", p.stdout)
        # Both, and the two /metrics reads since.
        self.assertGreaterEqual(self.metric("ringq_tls_handshakes_total"), handshakes + 3)
        self.assertServing()

    def test_plaintext_to_the_tls_port(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        self.assertTrue(data.startswith(b"HTTP/1.1 400"), data[:80])
        self.assertIn(b"this port speaks TLS", data)
        # Not HTTP at all: closed without an answer.
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"\x00\x01\x02\x03")
            self.assertEqual(s.recv(4096), b"")
        # grpcio and ringq without TLS: refused, ringq says why.
        with grpc.insecure_channel(self.srv.addr) as ch:
            with self.assertRaises(grpc.RpcError) as cm:
                health(ch)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)
        rc, out, err = run([RINGQ, "--addr", self.srv.addr, "stats"])
        self.assertNotEqual(rc, 0)
        self.assertIn("this port speaks TLS", err)
        self.assertTrue(self.srv.wait_log("plaintext on the TLS port", timeout=10))
        self.assertServing()


def kernel_has_ktls():
    with open("/proc/sys/net/ipv4/tcp_available_ulp") as f:
        return "tls" in f.read().split()


KTLS_KERNEL = 'ringq_tls_connections_total{record_layer="kernel"}'
KTLS_USER = 'ringq_tls_connections_total{record_layer="user"}'


class KtlsDefaultTest(TlsCase):
    """kTLS on (the default). On a kernel without the `tls` ULP (this machine: the probe's
    setsockopt fails) every connection stays in user space, counted as such, and the fallback is
    logged once, at info; on a kernel with it, connections are counted on the kernel. The kTLS
    data path itself is checked in a VM by tests/vm/ktls.sh."""

    def test_record_layer_counted_and_fallback_logged_once(self):
        k0, u0 = self.metric(KTLS_KERNEL), self.metric(KTLS_USER)
        for _ in range(3):
            self.assertServing()
        rc, out, err = run([RINGQ, "--addr", self.srv.addr, "--ca", self.certs.ca, "stats"])
        self.assertEqual(rc, 0, err)
        k1, u1 = self.metric(KTLS_KERNEL), self.metric(KTLS_USER)
        if kernel_has_ktls():
            self.assertGreaterEqual(k1 - k0, 4)
            return
        self.assertEqual(k1, 0)
        self.assertGreaterEqual(u1 - u0, 5)  # 3 grpcio, ringq, the first /metrics read
        line = self.srv.wait_log("kTLS unavailable", timeout=10)
        self.assertIsNotNone(line)
        self.assertIn("level=info", line)
        self.assertIn("TCP_ULP", line)
        self.assertEqual(sum("kTLS unavailable" in ln for ln in self.srv.lines), 1)


class KtlsOffTest(TlsCase):
    """--ktls off: the record layer stays in user space without trying the kernel."""
    EXTRA = ("--ktls", "off")

    def test_user_space_and_no_probe(self):
        self.assertServing()
        self.assertGreaterEqual(self.metric(KTLS_USER), 2)
        self.assertEqual(self.metric(KTLS_KERNEL), 0)
        self.assertFalse(any("kTLS unavailable" in ln for ln in self.srv.lines))

    def test_bad_value_refused(self):
        rc, out, err = run([os.path.join(H.BUILD, "ringqd"), "--ktls", "maybe", "--port", "0",
                            "--data", "/nonexistent"])
        self.assertEqual(rc, 2, err)
        self.assertIn("bad value for --ktls: 'maybe'", err)


class TlsHandshakeTimeoutTest(TlsCase):
    EXTRA = ("--handshake-timeout-ms", "500")

    def test_stalled_handshake_is_closed(self):
        t0 = time.monotonic()
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(b"\x16\x03\x01\x02\x00\x01")  # a ClientHello's first bytes, then nothing
            self.assertEqual(s.recv(4096), b"")
        elapsed = time.monotonic() - t0
        self.assertGreater(elapsed, 0.4)
        self.assertLess(elapsed, 5.0)
        self.assertTrue(self.srv.wait_log("TLS handshake timed out", timeout=10))
        self.assertServing()


class TlsOnThePlainPortTest(unittest.TestCase):
    def test_tls_client_hello_on_the_plaintext_port(self):
        certs = tls_certs.Certs()
        srv = H.Server("ringqd")
        try:
            ctx = ssl.create_default_context(cafile=certs.ca)
            with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as raw:
                with self.assertRaises((ssl.SSLError, ConnectionResetError)):
                    ctx.wrap_socket(raw, server_hostname="127.0.0.1")
            rc, out, err = run([RINGQ, "--addr", srv.addr, "--ca", certs.ca, "stats"])
            self.assertEqual(rc, 4, err)
            self.assertIn("a plaintext port?", err)
            self.assertTrue(srv.wait_log("TLS ClientHello on a plaintext port", timeout=10))
            with srv.channel() as ch:  # plaintext still served
                self.assertEqual(health(ch), health_pb2.HealthCheckResponse.SERVING)
        finally:
            srv.terminate()
            srv.close()
            certs.cleanup()


class TlsExpiredCertTest(TlsCase):
    @classmethod
    def setUpClass(cls):
        cls.certs = tls_certs.Certs()
        c = cls.certs
        cls.srv = H.Server("ringqd", "--tls-cert", c.expired_cert, "--tls-key", c.expired_key)
        cls.port = cls.srv.port

    def test_clients_refuse_an_expired_certificate(self):
        with secure_channel(self.srv.addr, self.certs.ca) as ch:
            with self.assertRaises(grpc.RpcError) as cm:
                health(ch)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)
        rc, out, err = self.curl("--cacert", self.certs.ca, self.url("/healthz"))
        self.assertEqual(rc, 60, err)
        self.assertIn("expired", err)
        rc, out, err = run([RINGQ, *self.tls_args(), "stats"])
        self.assertEqual(rc, 4, err)
        self.assertIn("certificate has expired", err)
        self.assertIsNone(self.srv.proc.poll())


class TlsBadFilesTest(unittest.TestCase):
    def setUp(self):
        self.certs = tls_certs.Certs()
        self.addCleanup(self.certs.cleanup)

    def start(self, *args):
        d = os.path.join(self.certs.dir, "data")
        return run([os.path.join(H.BUILD, "ringqd"), "--port", "0", "--data", d, *args])

    def test_bad_files_stop_the_start(self):
        c = self.certs
        garbage = c.p("garbage.pem")
        with open(garbage, "w") as f:
            f.write("not a certificate\n")
        rc, _, err = self.start("--tls-cert", garbage, "--tls-key", c.server_key)
        self.assertEqual(rc, 1, err)
        self.assertIn("cannot load TLS files", err)
        rc, _, err = self.start("--tls-cert", c.server_cert, "--tls-key", c.client_key)
        self.assertEqual(rc, 1, err)
        self.assertIn("key", err)
        rc, _, err = self.start("--tls-cert", c.server_cert)
        self.assertEqual(rc, 2, err)
        self.assertIn("--tls-cert and --tls-key go together", err)
        rc, _, err = self.start("--tls-cert", c.server_cert, "--tls-key", c.server_key,
                                "--tls-client-ca", garbage)
        self.assertEqual(rc, 1, err)
        self.assertIn("client CA", err)


class MtlsTest(TlsCase):
    MTLS = True

    def test_grpcio_mtls(self):
        c = self.certs
        with secure_channel(self.srv.addr, c.ca, c.client_cert, c.client_key) as ch:
            self.assertEqual(health(ch), health_pb2.HealthCheckResponse.SERVING)
        for cert, key in ((None, None), (c.wrong_client_cert, c.wrong_client_key)):
            with secure_channel(self.srv.addr, c.ca, cert, key) as ch:
                with self.assertRaises(grpc.RpcError) as cm:
                    health(ch)
                self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertTrue(self.srv.wait_log("peer did not return a certificate", timeout=10))
        self.assertTrue(self.srv.wait_log("certificate verify failed", timeout=10))
        self.assertServing()

    def test_curl_and_ringq_mtls(self):
        c = self.certs
        rc, out, err = self.curl("--cacert", c.ca, "--cert", c.client_cert, "--key",
                                 c.client_key, self.url("/healthz"))
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.strip(), "ok")
        rc, out, err = self.curl("--cacert", c.ca, self.url("/healthz"))
        self.assertNotEqual(rc, 0)
        rc, out, err = run([RINGQ, *self.tls_args(client=True), "stats"])
        self.assertEqual(rc, 0, err)
        rc, out, err = run([RINGQ, *self.tls_args(), "stats"])
        self.assertNotEqual(rc, 0)
        self.assertIn("certificate required", err)
        # The environment names them too.
        rc, out, err = run([RINGQ, "stats"], env={
            "RINGQ_ADDR": self.srv.addr, "RINGQ_TLS": "1", "RINGQ_TLS_CA": c.ca,
            "RINGQ_TLS_CERT": c.client_cert, "RINGQ_TLS_KEY": c.client_key})
        self.assertEqual(rc, 0, err)

    def test_ringq_worker_mtls(self):
        c = self.certs
        q = "tls-work"
        rc, out, err = run([RINGQ, *self.tls_args(client=True), "enqueue", q, "a", "b", "c"])
        self.assertEqual(rc, 0, err)
        w = subprocess.Popen([WORKER, "--addr", self.srv.addr, "--ca", c.ca, "--cert",
                              c.client_cert, "--key", c.client_key, "-q", q, "--", "cat"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 20
            left = None
            while time.monotonic() < deadline:
                rc, out, err = run([RINGQ, *self.tls_args(client=True), "--json", "stats", q])
                self.assertEqual(rc, 0, err)
                flat = out.replace(" ", "")
                left = '"ready":0' in flat and '"leased":0' in flat
                if left:
                    break
                self.assertIsNone(w.poll(), w.stderr.read() if w.poll() is not None else "")
            self.assertTrue(left, out)
        finally:
            w.send_signal(signal.SIGTERM)
            w.wait(timeout=20)


    def test_ringq_bench_mtls(self):
        c = self.certs
        json_path = os.path.join(c.dir, "bench.json")
        rc, out, err = run([os.path.join(H.BUILD, "ringq-bench"), "e2e", "--system", "ringq",
                            "--addr", self.srv.addr, "--tls", "--ca", c.ca, "--cert",
                            c.client_cert, "--key", c.client_key, "--queue", "tls-bench",
                            "--warmup", "0", "--duration", "1", "--quiet", "--json", json_path],
                           timeout=30)
        self.assertEqual(rc, 0, err)
        import json
        with open(json_path) as f:
            self.assertGreater(json.load(f)["tasks_per_s"], 0)
        # Without the client certificate the bench cannot even set up.
        rc, out, err = run([os.path.join(H.BUILD, "ringq-bench"), "e2e", "--system", "ringq",
                            "--addr", self.srv.addr, "--ca", c.ca, "--queue", "tls-bench",
                            "--warmup", "0", "--duration", "1", "--quiet"], timeout=30)
        self.assertNotEqual(rc, 0)
        self.assertIn("certificate required", out + err)


class ReloadTest(TlsCase):
    """SIGHUP loads the certificate files again: new connections get the new certificate,
    connections open across the reload keep theirs and keep working, a bad file keeps the
    previous certificate."""

    @classmethod
    def setUpClass(cls):
        cls.certs = tls_certs.Certs()
        c = cls.certs
        cls.cert = c.p("live.pem")
        cls.key = c.p("live.key")
        shutil.copy(c.server_cert, cls.cert)
        shutil.copy(c.server_key, cls.key)
        cls.srv = H.Server("ringqd", "--tls-cert", cls.cert, "--tls-key", cls.key)
        cls.srv.tls_ca = c.ca
        cls.port = cls.srv.port
        R.use_tls(c.ca)

    @classmethod
    def tearDownClass(cls):
        R.use_tls(None)
        super().tearDownClass()

    def reload(self, nth):
        self.srv.proc.send_signal(signal.SIGHUP)
        line = self.srv.wait_log(f"generation={nth}", timeout=10)
        self.assertIsNotNone(line, "".join(self.srv.lines[-10:]))

    def test_reload_while_calls_run(self):
        c = self.certs
        self.assertEqual(peer_cn(self.port, c.ca)[0], "ringq server")
        # A connection with a stream open across the reload: its request's HEADERS now, the
        # body after the reload.
        old = R.H2Conn(self.port)
        self.addCleanup(old.close)
        old_cn = dict(x[0] for x in old.sock.getpeercert()["subject"])["commonName"]
        old.send_request(1, R.HEALTH_CHECK, end_stream=False)
        # Calls running all along on a grpcio channel.
        stop, errors, done = threading.Event(), [], [0]

        def caller():
            with secure_channel(self.srv.addr, c.ca) as ch:
                while not stop.is_set():
                    try:
                        health(ch)
                        done[0] += 1
                    except grpc.RpcError as e:
                        errors.append(e)
        t = threading.Thread(target=caller)
        t.start()
        try:
            shutil.copy(c.server2_cert, self.cert)
            shutil.copy(c.server2_key, self.key)
            self.reload(2)
            self.assertEqual(peer_cn(self.port, c.ca)[0], "ringq server 2")
            old.send_data(1, R.grpc_frame(b""), end_stream=True)
            r = old.response(1)
            self.assertEqual(r.grpc_status, 0, r)
            old.send_health_check(3)
            self.assertEqual(old.response(3).grpc_status, 0)
            self.assertEqual(old_cn, "ringq server")
            # A file that does not load: logged, the previous certificate stays.
            with open(self.cert, "w") as f:
                f.write("garbage\n")
            self.srv.proc.send_signal(signal.SIGHUP)
            self.assertTrue(self.srv.wait_log("TLS reload failed", timeout=10))
            self.assertEqual(peer_cn(self.port, c.ca)[0], "ringq server 2")
            deadline = time.monotonic() + 10
            while done[0] < 10 and time.monotonic() < deadline:
                stop.wait(0.05)  # (waiting for the caller's progress, bounded by the deadline)
        finally:
            stop.set()
            t.join(timeout=20)
        self.assertEqual(errors, [])
        self.assertGreaterEqual(done[0], 10)
        self.assertServing()


if __name__ == "__main__":
    unittest.main()
