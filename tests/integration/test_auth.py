"""Tokens and permissions (issue 18 items 2 and 3, docs/security.md): every method of every
service, called with grpcio against a real ringqd with --auth-file, with no credentials, a wrong
token, a token holding the permission on another pattern, a token holding another permission,
and the right one; /metrics and /healthz over HTTP/1.1 and h2c; a reload on SIGHUP while a Work
stream runs; a bad file on reload; and the loopback-only --host rule."""
import hashlib
import os
import queue
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import grpc

import http_api_util as U
import ringq_harness as H
import tls_certs
from google.protobuf import symbol_database
import externalscaler.externalscaler_pb2  # noqa: F401,E402 (registers the messages)
from grpc.health.v1 import health_pb2  # noqa: F401,E402
from grpc.reflection.v1 import reflection_pb2  # noqa: F401,E402
from grpc.reflection.v1alpha import reflection_pb2 as reflection_alpha_pb2  # noqa: F401,E402
from ringq.v1 import admin_pb2, queue_pb2, streams_pb2  # noqa: F401,E402

# Secrets: long random-looking strings; `consumer`'s is only in the file as its SHA-256.
SECRET = {name: f"s3cret-{name}-{i:04d}-abcdefghijkl" for i, name in enumerate(
    ["p_orders", "c_orders", "a_orders", "p_other", "c_other", "a_other", "p_all", "c_all",
     "a_all", "m_all", "m_other", "nobody"])}
# Stream names hold no dot: streams are "orders-..." and "other-...".
ALLOW = {
    "p_orders": "produce queue:orders.* stream:orders-*", "c_orders": "consume orders.* orders-*",
    "a_orders": "admin queue:orders.* stream:orders-*", "p_other": "produce other.* other-*",
    "c_other": "consume other.* other-*", "a_other": "admin other.* other-*", "p_all": "produce *",
    "c_all": "consume *", "a_all": "admin *", "m_all": "metrics *", "m_other": "metrics other.*",
}
PERM = {"produce": "p", "consume": "c", "admin": "a", "metrics": "m"}


def auth_file_text(extra=""):
    lines = ["# test tokens: one hashed, the rest in clear", ""]
    for name, secret in SECRET.items():
        if name == "c_orders":
            lines.append(f"token {name} sha256:{hashlib.sha256(secret.encode()).hexdigest()}")
        else:
            lines.append(f"token {name}   {secret}")
    for name, rule in ALLOW.items():
        lines.append(f"allow {name} {rule}")
    return "\n".join(lines) + "\n" + extra


# The specification of docs/security.md "Permissions", written here independently of
# server/srv_auth.c: method -> (permission, mode). A method missing here fails the test.
NAMED, ALL, SOME, AUTHN, OPEN = "named", "all", "some", "authn", "open"
SPEC = {}
for m in ["Enqueue", "EnqueueStream"]:
    SPEC[f"/ringq.v1.Queue/{m}"] = ("produce", NAMED)
for m in ["Lease", "Work"]:
    SPEC[f"/ringq.v1.Queue/{m}"] = ("consume", NAMED)
for m in ["Ack", "Nack", "Extend"]:
    SPEC[f"/ringq.v1.Queue/{m}"] = ("consume", SOME)
for m in ["GetQueue", "ConfigureQueue", "PauseQueue", "ResumeQueue", "PurgeQueue", "DeleteQueue",
          "ListDeadTasks", "RedriveDeadTasks", "PeekTasks"]:
    SPEC[f"/ringq.v1.Admin/{m}"] = ("admin", NAMED)
for m in ["ListQueues", "GetTask", "DeleteTask", "Audit", "ListLeases", "GetPartition", "ListWorkers"]:
    SPEC[f"/ringq.v1.Admin/{m}"] = ("admin", ALL)
for m in ["Publish", "PublishStream"]:
    SPEC[f"/ringq.v1.Streams/{m}"] = ("produce", NAMED)
for m in ["Fetch", "Consume", "AckMessages", "Read", "GetMessage"]:
    SPEC[f"/ringq.v1.Streams/{m}"] = ("consume", NAMED)
for m in ["CreateStream", "UpdateStream", "GetStream", "DeleteStream", "PurgeStream",
          "CreateConsumer", "GetConsumer", "ListConsumers", "DeleteConsumer", "PauseConsumer",
          "ResetConsumer"]:
    SPEC[f"/ringq.v1.Streams/{m}"] = ("admin", NAMED)
SPEC["/ringq.v1.Streams/ListStreams"] = ("admin", ALL)
STREAM = "orders-a"  # exists (created in setUpClass): Publish finds it by subject
for m in ["IsActive", "StreamIsActive", "GetMetricSpec", "GetMetrics"]:
    SPEC[f"/externalscaler.ExternalScaler/{m}"] = ("metrics", ALL)
for s in ["grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"]:
    SPEC[f"/{s}/ServerReflectionInfo"] = (None, AUTHN)
for m in ["Check", "List", "Watch"]:
    SPEC[f"/grpc.health.v1.Health/{m}"] = (None, OPEN)

SERVICES = ["ringq.v1.Queue", "ringq.v1.Admin", "ringq.v1.Streams",
            "externalscaler.ExternalScaler", "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"]
DENIED = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)


def all_methods():
    """Every method of every service ringqd serves, from the generated descriptors."""
    pool = symbol_database.Default().pool
    out = []
    for sname in SERVICES:
        for m in pool.FindServiceByName(sname).methods:
            out.append((f"/{sname}/{m.name}", m))
    return out


def stream_request(m, req, resource):
    """A Streams request naming stream `resource` (its consumer: c1)."""
    stream = resource.replace(".", "-")
    fields = m.input_type.fields_by_name
    if m.name in ("CreateStream", "UpdateStream"):
        req.config.name = stream
        req.config.subjects.append(stream + ".>")
    elif m.name == "Publish":
        req.messages.add(subject=stream + ".x", payload=b"p")
    elif m.name == "PublishStream":
        req.request_id = 3
        req.publish.messages.add(subject=stream + ".x", payload=b"p")
    elif m.name == "Consume":
        req.request_id = 5
        req.bind.stream = stream
        req.bind.consumer = "c1"
        req.bind.credits = 1
    elif "stream" in fields:
        req.stream = stream
        if "name" in fields:
            req.name = "c1"
        if "consumer" in fields:
            req.consumer = "c1"
        if m.name == "GetMessage":
            req.seq = 1
        if m.name == "CreateConsumer":
            req.config.name = "c2"
    elif "name" in fields:
        req.name = stream
    return req


def request_for(m, resource):
    """A request naming `resource` in its queue or name field when it has one."""
    cls = symbol_database.Default().GetSymbol(m.input_type.full_name)
    req = cls()
    if m.containing_service.full_name == "ringq.v1.Streams":
        return stream_request(m, req, resource)
    if m.name == "Work":
        req.subscribe.queues.append(resource)
        req.subscribe.credits = 1
        req.request_id = 7
        return req
    for field in ("queue", "name"):
        f = m.input_type.fields_by_name.get(field)
        if f is not None and f.type == f.TYPE_STRING and f.label != f.LABEL_REPEATED:
            setattr(req, field, resource)
    if m.name in ("Enqueue", "EnqueueStream"):
        req.tasks.add().payload = b"x"
    if m.name == "EnqueueStream":
        req.request_id = 9
    return req


def call(ch, path, m, req, token, timeout=3.0):
    """Calls `path` once; returns (code, details, first response bytes or None)."""
    md = [("authorization", f"Bearer {token}")] if token else []
    ser, des = (lambda x: x.SerializeToString()), (lambda b: b)
    try:
        if not m.client_streaming and not m.server_streaming:
            resp = ch.unary_unary(path, ser, des)(req, metadata=md, timeout=timeout)
            return grpc.StatusCode.OK, "", resp
        if m.client_streaming and not m.server_streaming:
            resp = ch.stream_unary(path, ser, des)(iter([req]), metadata=md, timeout=timeout)
            return grpc.StatusCode.OK, "", resp
        it = (ch.unary_stream(path, ser, des)(req, metadata=md, timeout=timeout)
              if not m.client_streaming else
              ch.stream_stream(path, ser, des)(iter([req]), metadata=md, timeout=timeout))
        for first in it:
            it.cancel()
            return grpc.StatusCode.OK, "", first
        return grpc.StatusCode.OK, "", None
    except grpc.RpcError as e:
        return e.code(), e.details() or "", None


def work_result(first):
    r = queue_pb2.WorkResponse.FromString(first)
    return r.result.code, r.result.message


# Methods that answer a request message on the stream, which stays open: (decode, result).
IN_STREAM = {
    "/ringq.v1.Queue/Work": lambda b: queue_pb2.WorkResponse.FromString(b).result,
    "/ringq.v1.Streams/PublishStream": lambda b: streams_pb2.PublishStreamResponse.FromString(b),
    "/ringq.v1.Queue/EnqueueStream": lambda b: queue_pb2.EnqueueStreamResponse.FromString(b),
    "/ringq.v1.Streams/Consume": lambda b: streams_pb2.ConsumeResponse.FromString(b).result,
}


class AuthServer:
    def __init__(self, text=None, *extra):
        self.tmp = tempfile.TemporaryDirectory(prefix="ringq-auth-")
        self.path = os.path.join(self.tmp.name, "auth.conf")
        with open(self.path, "w") as f:
            f.write(text if text is not None else auth_file_text())
        self.srv = H.Server("ringqd", "--auth-file", self.path, *extra)
        self.ch = self.srv.channel()

    def close(self):
        self.ch.close()
        self.srv.close()
        self.tmp.cleanup()


class TestAuthPerMethod(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = AuthServer()
        cls.ch = cls.a.ch
        # The stream Publish finds by subject, and a consumer for the consumer calls.
        md = [("authorization", "Bearer " + SECRET["a_all"])]
        ser, des = (lambda x: x.SerializeToString()), (lambda b: b)
        cfg = streams_pb2.CreateStreamRequest()
        cfg.config.name = STREAM
        cfg.config.subjects.append(STREAM + ".>")
        cls.ch.unary_unary("/ringq.v1.Streams/CreateStream", ser, des)(cfg, metadata=md,
                                                                      timeout=10)
        cc = streams_pb2.CreateConsumerRequest(stream=STREAM)
        cc.config.name = "c1"
        cls.ch.unary_unary("/ringq.v1.Streams/CreateConsumer", ser, des)(cc, metadata=md,
                                                                        timeout=10)

    @classmethod
    def tearDownClass(cls):
        cls.a.close()

    def test_spec_covers_every_method(self):
        self.assertEqual(sorted(p for p, _ in all_methods()), sorted(SPEC))

    def outcome(self, path, m, token, resource="orders.a"):
        code, details, first = call(self.ch, path, m, request_for(m, resource), token)
        if path in IN_STREAM and code == grpc.StatusCode.OK and first is not None:
            res = IN_STREAM[path](first)
            rc, msg = res.code, res.message
            code = {7: grpc.StatusCode.PERMISSION_DENIED, 16: grpc.StatusCode.UNAUTHENTICATED}.get(
                rc, grpc.StatusCode.OK)
            details = msg
        return code, details

    def check_denied(self, path, m, token, want, needle):
        code, details = self.outcome(path, m, token)
        self.assertEqual(code, want, f"{path} with {token!r}: {details}")
        self.assertIn(needle, details, path)
        for secret in SECRET.values():
            self.assertNotIn(secret, details, "a token was echoed")

    def check_allowed(self, path, m, token):
        code, details = self.outcome(path, m, token)
        self.assertNotIn(code, DENIED, f"{path} refused with {token!r}: {details}")

    def test_every_method(self):
        # Deletes last: the stream and consumer the others name stay until then.
        for path, m in sorted(all_methods(), key=lambda pm: "/Delete" in pm[0]):
            perm, mode = SPEC[path]
            with self.subTest(method=path):
                if mode == OPEN:
                    self.check_allowed(path, m, None)
                    self.check_allowed(path, m, "wrong-token-0123456789")
                    continue
                self.check_denied(path, m, None, grpc.StatusCode.UNAUTHENTICATED,
                                  "credentials required")
                self.check_denied(path, m, "wrong-token-0123456789",
                                  grpc.StatusCode.UNAUTHENTICATED, "unknown credentials")
                if mode == AUTHN:
                    self.check_allowed(path, m, SECRET["nobody"])
                    continue
                p = PERM[perm]
                # Another permission on every name: never enough.
                wrong = "a_all" if p != "a" else "p_all"
                self.check_denied(path, m, SECRET[wrong], grpc.StatusCode.PERMISSION_DENIED,
                                  f"missing {perm}")
                self.check_denied(path, m, SECRET["nobody"], grpc.StatusCode.PERMISSION_DENIED,
                                  f"missing {perm}")
                if mode == NAMED:
                    name = "stream 'orders-a'" if "Streams" in path else "queue 'orders.a'"
                    self.check_denied(path, m, SECRET[f"{p}_other"],
                                      grpc.StatusCode.PERMISSION_DENIED,
                                      f"missing {perm} on {name}")
                    self.check_allowed(path, m, SECRET[f"{p}_orders"])
                elif mode == SOME:
                    self.check_allowed(path, m, SECRET[f"{p}_other"])
                    self.check_allowed(path, m, SECRET[f"{p}_orders"])
                else:  # ALL: a pattern narrower than * is not enough
                    self.check_denied(path, m, SECRET[f"{p}_other"],
                                      grpc.StatusCode.PERMISSION_DENIED,
                                      f"missing {perm} on every queue and stream")
                self.check_allowed(path, m, SECRET[f"{p}_all"])

    def test_queue_prefix_does_not_cover_streams(self):
        """p_orders holds produce on queue:orders.* only: not on a stream, not on 'ordersx'."""
        enq = dict(all_methods())["/ringq.v1.Queue/Enqueue"]
        code, details = self.outcome("/ringq.v1.Queue/Enqueue", enq, SECRET["p_orders"],
                                     resource="ordersx")
        self.assertEqual(code, grpc.StatusCode.PERMISSION_DENIED, details)
        self.assertIn("missing produce on queue 'ordersx'", details)

    def test_work_subscribe_checks_each_queue_and_the_stream_stays(self):
        """A Subscribe naming one allowed and one other queue is refused whole, on the stream,
        which stays open: a Subscribe to the allowed queue alone then works."""
        ser = queue_pb2.WorkRequest.SerializeToString
        reqs = queue.Queue()
        it = self.ch.stream_stream("/ringq.v1.Queue/Work", ser, queue_pb2.WorkResponse.FromString)(
            iter(reqs.get, None), metadata=[("authorization", "Bearer " + SECRET["c_orders"])],
            timeout=10)
        bad = queue_pb2.WorkRequest(request_id=1)
        bad.subscribe.queues.extend(["orders.a", "secret.q"])
        reqs.put(bad)
        r = next(it)
        self.assertEqual((r.result.request_id, r.result.code), (1, 7), r)
        self.assertIn("missing consume on queue 'secret.q'", r.result.message)
        good = queue_pb2.WorkRequest(request_id=2)
        good.subscribe.queues.append("orders.a")
        reqs.put(good)
        r = next(it)
        self.assertEqual((r.result.request_id, r.result.code), (2, 0), r)
        reqs.put(None)
        it.cancel()


def http_get(port, path, token=None, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    head = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    if token:
        head += f"Authorization: Bearer {token}\r\n"
    s.sendall((head + "\r\n").encode())
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    s.close()
    status = int(data.split(b" ", 2)[1])
    return status, data


class TestAuthHttp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = AuthServer()

    @classmethod
    def tearDownClass(cls):
        cls.a.close()

    def test_healthz_open(self):
        self.assertEqual(http_get(self.a.srv.port, "/healthz")[0], 200)

    def test_metrics_http1(self):
        port = self.a.srv.port
        st, data = http_get(port, "/metrics")
        self.assertEqual(st, 401)
        self.assertIn(b"WWW-Authenticate: Bearer", data)
        self.assertEqual(http_get(port, "/metrics", "wrong-token-0123456789")[0], 401)
        self.assertEqual(http_get(port, "/metrics", SECRET["a_all"])[0], 403)
        self.assertEqual(http_get(port, "/metrics", SECRET["m_other"])[0], 403)
        st, data = http_get(port, "/metrics", SECRET["m_all"])
        self.assertEqual(st, 200)
        self.assertIn(b"ringq_", data)

    def curl_h2(self, path, token=None):
        argv = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--http2-prior-knowledge",
                f"http://127.0.0.1:{self.a.srv.port}{path}"]
        if token:
            argv += ["-H", f"Authorization: Bearer {token}"]
        return int(subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout)

    def test_metrics_h2c(self):
        self.assertEqual(self.curl_h2("/healthz"), 200)
        self.assertEqual(self.curl_h2("/metrics"), 401)
        self.assertEqual(self.curl_h2("/metrics", SECRET["p_all"]), 403)
        self.assertEqual(self.curl_h2("/metrics", SECRET["m_all"]), 200)


class TestAuthReload(unittest.TestCase):
    def setUp(self):
        self.a = AuthServer()

    def tearDown(self):
        self.a.close()

    def enqueue(self, token):
        m = dict(all_methods())["/ringq.v1.Queue/Enqueue"]
        return call(self.a.ch, "/ringq.v1.Queue/Enqueue", m, request_for(m, "orders.r"), token)[0]

    def reload(self, text, needle):
        with open(self.a.path, "w") as f:
            f.write(text)
        self.a.srv.proc.send_signal(signal.SIGHUP)
        line = self.a.srv.wait_log(needle)
        self.assertIsNotNone(line, "".join(self.a.srv.lines[-5:]))
        return line

    def test_reload_while_work_stream_runs(self):
        """An open Work stream keeps what it was granted; each new request on it is checked
        against the file in force: after a reload that drops c_orders, the stream's next
        Subscribe is refused UNAUTHENTICATED, new calls too, and the new token works."""
        ser = queue_pb2.WorkRequest.SerializeToString
        reqs = queue.Queue()
        it = self.a.ch.stream_stream("/ringq.v1.Queue/Work", ser,
                                     queue_pb2.WorkResponse.FromString)(
            iter(reqs.get, None), metadata=[("authorization", "Bearer " + SECRET["c_orders"])],
            timeout=20)
        sub = queue_pb2.WorkRequest(request_id=1)
        sub.subscribe.queues.append("orders.r")
        sub.subscribe.credits = 5
        reqs.put(sub)
        self.assertEqual(next(it).result.code, 0)
        self.assertEqual(self.enqueue(SECRET["p_orders"]), grpc.StatusCode.OK)
        r = next(it)
        self.assertTrue(r.HasField("task"), r)
        text = "\n".join(ln for ln in auth_file_text().split("\n")
                         if not ln.startswith(("token c_orders", "allow c_orders")))
        text += "\ntoken c_new c-new-secret-0123456789\nallow c_new consume orders.*\n"
        self.reload(text, "auth file reloaded")
        # The stream still delivers what its subscription holds.
        self.assertEqual(self.enqueue(SECRET["p_orders"]), grpc.StatusCode.OK)
        r = next(it)
        self.assertTrue(r.HasField("task"), r)
        # A new Subscribe on it is checked against the new file.
        sub2 = queue_pb2.WorkRequest(request_id=2)
        sub2.subscribe.queues.append("orders.r")
        reqs.put(sub2)
        r = next(it)
        self.assertEqual((r.result.request_id, r.result.code), (2, 16), r)
        reqs.put(None)
        it.cancel()
        m = dict(all_methods())["/ringq.v1.Queue/Lease"]
        lease = request_for(m, "orders.r")
        self.assertEqual(call(self.a.ch, "/ringq.v1.Queue/Lease", m, lease, SECRET["c_orders"])[0],
                         grpc.StatusCode.UNAUTHENTICATED)
        self.assertEqual(call(self.a.ch, "/ringq.v1.Queue/Lease", m, lease,
                              "c-new-secret-0123456789")[0], grpc.StatusCode.OK)

    def test_bad_file_on_reload_keeps_the_old_one(self):
        line = self.reload(auth_file_text("allow p_orders produce orders.*\nallow ghost admin *\n"),
                           "auth file not reloaded")
        self.assertIn(f"{self.a.path}:{len(auth_file_text().splitlines()) + 2}:7: no token named "
                      f"'ghost'", line)
        for secret in SECRET.values():
            self.assertNotIn(secret, "".join(self.a.srv.lines), "a secret was logged")
        self.assertEqual(self.enqueue(SECRET["p_orders"]), grpc.StatusCode.OK)
        self.assertEqual(self.enqueue(SECRET["c_orders"]), grpc.StatusCode.PERMISSION_DENIED)


class TestAuthClients(unittest.TestCase):
    """The CLI (--token, --token-file, $RINGQ_TOKEN) and ringq-worker against tokens."""

    @classmethod
    def setUpClass(cls):
        cls.a = AuthServer()
        cls.tmp = tempfile.TemporaryDirectory(prefix="ringq-auth-cli-")

    @classmethod
    def tearDownClass(cls):
        cls.a.close()
        cls.tmp.cleanup()

    def ringq(self, *args, env_token=None):
        env = {k: v for k, v in os.environ.items() if k not in ("RINGQ_TOKEN", "RINGQ_ADDR")}
        if env_token:
            env["RINGQ_TOKEN"] = env_token
        p = subprocess.run([os.path.join(H.BUILD, "ringq"), "--addr", self.a.srv.addr, *args],
                           capture_output=True, text=True, timeout=30, env=env)
        for secret in SECRET.values():
            self.assertNotIn(secret, p.stderr + p.stdout, "a token was printed")
        return p

    def token_file(self, name):
        path = os.path.join(self.tmp.name, name)
        with open(path, "w") as f:
            f.write(SECRET[name] + "\n")
        return path

    def test_cli_tokens(self):
        p = self.ringq("enqueue", "orders.cli", "a")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("credentials required", p.stderr)
        p = self.ringq("--token", SECRET["p_orders"], "enqueue", "orders.cli", "a")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.ringq("--token-file", self.token_file("p_orders"), "enqueue", "orders.cli", "b")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.ringq("enqueue", "orders.cli", "c", env_token=SECRET["p_orders"])
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.ringq("--token", SECRET["c_orders"], "enqueue", "orders.cli", "d")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("missing produce on any queue", p.stderr)
        p = self.ringq("--token", SECRET["p_other"], "enqueue", "orders.cli", "d")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("missing produce on queue 'orders.cli'", p.stderr)
        p = self.ringq("--json", "stats", env_token=SECRET["a_all"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("orders.cli", p.stdout)
        p = self.ringq("--token-file", os.path.join(self.tmp.name, "none"), "stats")
        self.assertEqual(p.returncode, 2)
        self.assertIn("--token-file", p.stderr)

    def test_worker_with_token_file(self):
        out = os.path.join(self.tmp.name, "worked")
        p = self.ringq("--token", SECRET["p_orders"], "enqueue", "orders.wk", "payload-1")
        self.assertEqual(p.returncode, 0, p.stderr)
        env = {k: v for k, v in os.environ.items() if k not in ("RINGQ_TOKEN", "RINGQ_ADDR")}
        w = subprocess.Popen([os.path.join(H.BUILD, "ringq-worker"), "--addr", self.a.srv.addr,
                              "--token-file", self.token_file("c_orders"), "-q", "orders.wk",
                              "--", "sh", "-c", f"cat >> {out}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        try:
            deadline = time.monotonic() + 20
            got = ""
            while time.monotonic() < deadline and "payload-1" not in got:
                if os.path.exists(out):
                    with open(out) as f:
                        got = f.read()
                if w.poll() is not None:
                    break
                time.sleep(0.05)  # polling the file for the condition, with a deadline
            self.assertIn("payload-1", got)
        finally:
            w.send_signal(signal.SIGTERM)
            _, err = w.communicate(timeout=30)
        for secret in SECRET.values():
            self.assertNotIn(secret, err, "the worker logged a token")


class TestAuthMutualTls(unittest.TestCase):
    """With --tls-client-ca, a verified client certificate whose subject is on a `cert` line
    is that token; the same certificate's subject on no line, or no certificate and no token,
    is UNAUTHENTICATED; a bearer token still works over TLS. And TLS with an auth file may
    listen beyond loopback."""

    @classmethod
    def setUpClass(cls):
        cls.certs = tls_certs.Certs()
        c = cls.certs
        cls.tmp = tempfile.TemporaryDirectory(prefix="ringq-auth-mtls-")
        cls.path = os.path.join(cls.tmp.name, "auth.conf")
        with open(cls.path, "w") as f:
            f.write(auth_file_text("cert c_orders O=ringq tests,CN=worker-1\n"))
        cls.srv = H.Server("ringqd", "--host", "*", "--auth-file", cls.path, "--tls-cert",
                           c.server_cert, "--tls-key", c.server_key, "--tls-client-ca", c.ca)

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()
        cls.certs.cleanup()
        cls.tmp.cleanup()

    def channel(self, client):
        c = self.certs
        creds = grpc.ssl_channel_credentials(
            root_certificates=c.read("ca.pem"),
            private_key=c.read("client.key") if client else None,
            certificate_chain=c.read("client.pem") if client else None)
        return grpc.secure_channel(f"localhost:{self.srv.port}", creds)

    def lease(self, ch, token=None, queue_name="orders.m"):
        m = dict(all_methods())["/ringq.v1.Queue/Lease"]
        return call(ch, "/ringq.v1.Queue/Lease", m, request_for(m, queue_name), token)[:2]

    def test_certificate_subject_is_a_token(self):
        with self.channel(client=True) as ch:
            self.assertEqual(self.lease(ch)[0], grpc.StatusCode.OK)
            code, details = self.lease(ch, queue_name="other.m")
            self.assertEqual(code, grpc.StatusCode.PERMISSION_DENIED)
            self.assertIn("missing consume on queue 'other.m'", details)
            # A bearer token, when sent, is what the call is checked with.
            self.assertEqual(self.lease(ch, SECRET["c_other"], "other.m")[0], grpc.StatusCode.OK)

    def test_a_subject_on_no_line_is_unknown(self):
        with open(self.path, "w") as f:
            f.write(auth_file_text("cert c_orders CN=somebody-else\n"))
        self.srv.proc.send_signal(signal.SIGHUP)
        self.assertIsNotNone(self.srv.wait_log("auth file reloaded"))
        try:
            with self.channel(client=True) as ch:
                code, details = self.lease(ch)
                self.assertEqual(code, grpc.StatusCode.UNAUTHENTICATED)
                self.assertIn("unknown credentials", details)
        finally:
            with open(self.path, "w") as f:
                f.write(auth_file_text("cert c_orders O=ringq tests,CN=worker-1\n"))
            n = sum("auth file reloaded" in ln for ln in self.srv.lines)
            self.srv.proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while (sum("auth file reloaded" in ln for ln in self.srv.lines) == n
                   and time.monotonic() < deadline):
                self.srv.wait_log("auth file reloaded", timeout=0.2)


class TestAuthMutualTlsHttp(unittest.TestCase):
    """The HTTP doors resolve the identity as gRPC does (one function, srv_auth.c identify()):
    curl over HTTPS, HTTP/1.1 and HTTP/2, with a client certificate whose subject is on a `cert`
    line and no bearer token: /metrics and the JSON API are allowed or denied by that token's
    rules, naming the missing permission; a subject on no line is 401; no certificate at all
    fails the mTLS handshake; a bearer token, when sent, is what the request is checked with."""

    @classmethod
    def setUpClass(cls):
        cls.certs = tls_certs.Certs()
        c = cls.certs
        for name, cn in (("viewer", "viewer"), ("stranger", "stranger")):
            c._leaf(name, "ca", cn, "extendedKeyUsage=clientAuth", days=30)
        cls.tmp = tempfile.TemporaryDirectory(prefix="ringq-auth-mtls-http-")
        cls.path = os.path.join(cls.tmp.name, "auth.conf")
        with open(cls.path, "w") as f:
            f.write(auth_file_text("cert a_orders O=ringq tests,CN=worker-1\n"
                                   "cert m_all O=ringq tests,CN=viewer\n"))
        cls.srv = H.Server("ringqd", "--host", "*", "--auth-file", cls.path, "--tls-cert",
                           c.server_cert, "--tls-key", c.server_key, "--tls-client-ca", c.ca)
        creds = grpc.ssl_channel_credentials(
            root_certificates=c.read("ca.pem"), private_key=c.read("client.key"),
            certificate_chain=c.read("client.pem"))
        with grpc.secure_channel(f"localhost:{cls.srv.port}", creds) as ch:
            enq = ch.unary_unary("/ringq.v1.Queue/Enqueue", lambda x: x.SerializeToString(),
                                 lambda b: b)
            md = [("authorization", "Bearer " + SECRET["p_all"])]
            for q in ("orders.a", "other.b"):
                req = queue_pb2.EnqueueRequest(queue=q)
                req.tasks.add(payload=b"x")
                enq(req, metadata=md, timeout=10)

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()
        cls.certs.cleanup()
        cls.tmp.cleanup()

    def curl(self, path, cert, http2=False, method="GET", headers=()):
        """(status, body, curl's exit code) of one HTTPS request with client certificate `cert`
        (a Certs name, or None for none)."""
        c = self.certs
        argv = ["curl", "-s", "-S", "-D", "-", "--max-time", "20", "--cacert", c.ca,
                "--http2" if http2 else "--http1.1", "-X", method,
                f"https://localhost:{self.srv.port}{path}"]
        if cert:
            argv += ["--cert", c.p(cert + ".pem"), "--key", c.p(cert + ".key")]
        for h in headers:
            argv += ["-H", h]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            return 0, r.stderr, r.returncode
        head, _, body = r.stdout.partition("\r\n\r\n")
        status = int(head.split()[1])
        if http2:
            self.assertTrue(head.startswith("HTTP/2"), head)
        return status, head.lower() + "\n" + body, 0

    def test_metrics_by_certificate(self):
        for h2 in (False, True):
            st, out, _ = self.curl("/metrics", "viewer", h2)
            self.assertEqual(st, 200, out)
            self.assertIn("ringq_tls_handshakes_total", out)
            st, out, _ = self.curl("/metrics", "client", h2)
            self.assertEqual(st, 403, out)
            self.assertIn("missing metrics on every queue and stream (*)", out)
            # A bearer token, when sent, decides (here one that holds metrics on *).
            st, out, _ = self.curl("/metrics", "client", h2,
                                   headers=["Authorization: Bearer " + SECRET["m_all"]])
            self.assertEqual(st, 200, out)

    def test_unknown_subject_is_401_and_no_certificate_fails_the_handshake(self):
        for h2 in (False, True):
            for path in ("/metrics", "/api/v1/queues"):
                st, out, _ = self.curl(path, "stranger", h2)
                self.assertEqual(st, 401, (path, out))
                if not h2:  # (docs/security.md: WWW-Authenticate over HTTP/1.1)
                    self.assertIn("www-authenticate: bearer", out)
            st, out, rc = self.curl("/metrics", None, h2)
            self.assertNotEqual(rc, 0, out)  # --tls-client-ca: no certificate, no connection
        self.assertEqual(self.curl("/healthz", "stranger")[0], 200)

    def test_json_api_by_certificate(self):
        for h2 in (False, True):
            # worker-1 is a_orders: admin on queue:orders.*, which reads counts too.
            st, out, _ = self.curl("/api/v1/queues/orders.a", "client", h2)
            self.assertEqual(st, 200, out)
            self.assertIn('"name":"orders.a"', out.replace(" ", ""))
            st, out, _ = self.curl("/api/v1/queues/other.b", "client", h2)
            self.assertEqual(st, 403, out)
            self.assertIn("missing metrics on queue 'other.b'", out)
            st, out, _ = self.curl("/api/v1/queues/orders.a/tasks", "viewer", h2)
            self.assertEqual(st, 403, out)
            self.assertIn("missing admin on queue 'orders.a'", out)
            st, out, _ = self.curl("/api/v1/queues", "viewer", h2)
            self.assertEqual(st, 200, out)
        change = ["X-Ringq-Token: 1"]
        st, out, _ = self.curl("/api/v1/queues/orders.a/pause", "viewer", method="POST",
                               headers=change)
        self.assertEqual(st, 403, out)
        self.assertIn("missing admin on queue 'orders.a'", out)
        for verb in ("pause", "resume"):
            st, out, _ = self.curl(f"/api/v1/queues/orders.a/{verb}", "client", method="POST",
                                   headers=change)
            self.assertEqual(st, 200, out)


class TestAuthJsonApi(unittest.TestCase):
    """The JSON API and the dashboard under --auth-file (docs/security.md, "The JSON API and the
    dashboard"): the route's check runs on the bearer token before the local call of the gRPC
    handler, whose own check then does not refuse the credential-less local call."""

    @classmethod
    def setUpClass(cls):
        cls.a = AuthServer()
        cls.port = cls.a.srv.port
        md = [("authorization", "Bearer " + SECRET["p_all"])]
        ser, des = (lambda x: x.SerializeToString()), (lambda b: b)
        enq = cls.a.ch.unary_unary("/ringq.v1.Queue/Enqueue", ser, des)
        for q in ("orders.a", "other.b"):
            req = queue_pb2.EnqueueRequest(queue=q)
            for i in range(3):
                req.tasks.add(payload=f"secret payload {i}".encode())
            enq(req, metadata=md, timeout=10)

    @classmethod
    def tearDownClass(cls):
        cls.a.close()

    def api(self, method, path, token=None, change=False, body=None):
        h = {"Authorization": f"Bearer {token}"} if token else {}
        if change:
            h["X-Ringq-Token"] = "1"
        return U.request(self.port, method, "/api/v1/" + path, body, h)

    def ready(self, q):
        st, body, _ = self.api("GET", f"queues/{q}", SECRET["a_all"])
        self.assertEqual(st, 200, body)
        return body["ready"]

    def test_no_or_unknown_token_is_401(self):
        for path, change in (("queues", False), ("server", False), ("queues/orders.a", False),
                             ("queues/orders.a/purge", True)):
            for tok in (None, "wrong-token-0123456789"):
                st, body, h = self.api("POST" if change else "GET", path, tok, change)
                self.assertEqual((st, body["code"]), (401, "UNAUTHENTICATED"), (path, body))
                self.assertEqual(h.get("www-authenticate"), "Bearer", path)
        self.assertEqual(self.ready("orders.a"), 3)

    def test_reads_need_metrics_or_admin(self):
        st, body, _ = self.api("GET", "queues", SECRET["p_all"])
        self.assertEqual((st, body["code"]), (403, "PERMISSION_DENIED"))
        self.assertIn("missing metrics on every queue and stream (*)", body["message"])
        self.assertNotIn(SECRET["p_all"], body["message"])
        for tok in ("m_all", "a_all"):
            st, body, _ = self.api("GET", "queues", SECRET[tok])
            self.assertEqual(st, 200, body)
            self.assertIn("orders.a", [q["name"] for q in body["queues"]])
            st, body, _ = self.api("GET", "server", SECRET[tok])
            self.assertEqual((st, body["auth_file"], body["token_required"]), (200, True, True))
        # metrics on other.* only: that queue (the gRPC handler, which wants admin, lets the
        # local call through), not orders.a, not the list of every queue.
        st, body, _ = self.api("GET", "queues/other.b", SECRET["m_other"])
        self.assertEqual((st, body.get("enqueued_total")), (200, 3), body)
        st, body, _ = self.api("GET", "queues/orders.a", SECRET["m_other"])
        self.assertEqual(st, 403)
        self.assertIn("missing metrics on queue 'orders.a'", body["message"])
        self.assertEqual(self.api("GET", "queues", SECRET["m_other"])[0], 403)
        self.assertIn(self.api("GET", "rates/other.b", SECRET["m_other"])[0], (200, 404))
        self.assertEqual(self.api("GET", "rates/orders.a", SECRET["m_other"])[0], 403)

    def test_payloads_need_admin(self):
        st, body, _ = self.api("GET", "queues/orders.a/tasks", SECRET["m_all"])
        self.assertEqual(st, 403)
        self.assertIn("missing admin on queue 'orders.a'", body["message"])
        st, body, _ = self.api("GET", "queues/orders.a/tasks", SECRET["a_orders"])
        self.assertEqual(st, 200, body)
        self.assertEqual(len(body["tasks"]), 3)

    def test_changes_need_admin_on_the_queue(self):
        for tok in ("m_all", "a_other", "p_all", "c_all"):
            st, body, _ = self.api("POST", "queues/orders.a/pause", SECRET[tok], change=True)
            self.assertEqual(st, 403, (tok, body))
            self.assertIn("missing admin on queue 'orders.a'", body["message"])
        # The name checked is the one the handler gets: percent-decoded.
        st, body, _ = self.api("POST", "queues/orders%2Ea/pause", SECRET["a_other"], change=True)
        self.assertEqual(st, 403)
        self.assertIn("missing admin on queue 'orders.a'", body["message"])
        # The CSRF header is still required with a good token.
        st, body, _ = self.api("POST", "queues/orders.a/pause", SECRET["a_orders"])
        self.assertEqual(st, 403)
        self.assertIn("X-Ringq-Token", body["message"])
        st, body, _ = self.api("GET", "queues/orders.a", SECRET["a_all"])
        self.assertFalse(body.get("paused", False))
        st, body, _ = self.api("POST", "queues/orders.a/pause", SECRET["a_orders"], change=True)
        self.assertEqual(st, 200, body)
        st, body, _ = self.api("GET", "queues/orders.a", SECRET["a_all"])
        self.assertTrue(body["paused"])
        st, body, _ = self.api("POST", "queues/orders.a/resume", SECRET["a_orders"], change=True)
        self.assertEqual(st, 200, body)

    def test_task_by_id_needs_admin_on_every_name(self):
        st, body, _ = self.api("GET", "queues/orders.a/tasks", SECRET["a_orders"])
        tid = body["tasks"][0]["id"]
        st, body, _ = self.api("GET", f"tasks/{tid}", SECRET["a_orders"])
        self.assertEqual(st, 403)
        self.assertIn("missing admin on every queue and stream (*)", body["message"])
        st, body, _ = self.api("DELETE", f"tasks/{tid}", SECRET["a_orders"], change=True)
        self.assertEqual(st, 403)
        st, body, _ = self.api("GET", f"tasks/{tid}", SECRET["a_all"])
        self.assertEqual(st, 200, body)

    def test_purge_with_admin_other_queue_untouched(self):
        self.assertEqual(self.ready("other.b"), 3)
        st, body, _ = self.api("POST", "queues/other.b/purge", SECRET["a_orders"], change=True)
        self.assertEqual(st, 403)
        self.assertEqual(self.ready("other.b"), 3)
        st, body, _ = self.api("POST", "queues/other.b/purge", SECRET["a_other"], change=True)
        self.assertEqual((st, body.get("purged")), (200, 3), body)
        self.assertEqual(self.ready("other.b"), 0)

    def test_dashboard_files_open_and_h2c_reads_checked(self):
        st, body, _ = U.request(self.port, "GET", "/")
        self.assertEqual(st, 200)
        self.assertIn("app.js", body)
        self.assertEqual(TestAuthHttp.curl_h2(self, "/api/v1/queues"), 401)
        self.assertEqual(TestAuthHttp.curl_h2(self, "/api/v1/queues", SECRET["p_all"]), 403)
        self.assertEqual(TestAuthHttp.curl_h2(self, "/api/v1/queues", SECRET["m_all"]), 200)


class TestStartup(unittest.TestCase):
    def run_ringqd(self, *args):
        with tempfile.TemporaryDirectory(prefix="ringq-auth-") as d:
            return subprocess.run([os.path.join(H.BUILD, "ringqd"), "--port", "0", "--threads", "1",
                                   "--data", os.path.join(d, "data"), *args],
                                  capture_output=True, text=True, timeout=30)

    def test_non_loopback_host_refused(self):
        for host in ("*", "0.0.0.0", "::"):
            p = self.run_ringqd("--host", host)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn(f"refusing --host {host}", p.stderr)
            self.assertIn("--insecure", p.stderr)
            self.assertIn("TLS and --auth-file", p.stderr)

    def test_tokens_alone_are_not_enough(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "auth")
            with open(path, "w") as f:
                f.write(auth_file_text())
            p = self.run_ringqd("--host", "*", "--auth-file", path)
        self.assertEqual(p.returncode, 2)
        self.assertIn("configure TLS", p.stderr)

    def test_insecure_and_loopback_start(self):
        for args in (["--host", "*", "--insecure"], ["--host", "127.0.0.2"], ["--host", "::1"],
                     ["--host", "localhost"]):
            srv = H.Server("ringqd", *args)
            try:
                self.assertGreater(srv.port, 0)
            finally:
                srv.close()

    def test_admin_token_with_auth_file_refused(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "auth")
            with open(path, "w") as f:
                f.write(auth_file_text())
            p = self.run_ringqd("--auth-file", path, "--admin-token", "t0ken-for-the-api")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--admin-token is the simple mode without --auth-file", p.stderr)

    def test_bad_auth_file_refused_with_position(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "auth")
            with open(path, "w") as f:
                f.write("token a short\n")
            p = self.run_ringqd("--auth-file", path)
        self.assertEqual(p.returncode, 2)
        self.assertIn(f"{path}:1:9: a secret has 16..256 characters", p.stderr)


if __name__ == "__main__":
    unittest.main()
