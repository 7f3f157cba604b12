"""Shared helpers for the integration tests: start the real binaries on free ports, wait for
them to be ready by reading their log (no sleeps), stop them, and load the generated protobuf
modules next to grpcio's own `grpc` package."""
import os
import queue
import signal
import subprocess
import tempfile
import threading
import time
import unittest

import grpc

BUILD = os.environ.get("RINGQ_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
BUILD = os.path.abspath(BUILD)
_gen = os.path.join(BUILD, "gen", "py", "grpc")
if _gen not in grpc.__path__:
    grpc.__path__.append(_gen)  # generated grpc.health.v1, grpc.testing, ... join grpcio's package

START_TIMEOUT_S = 20.0


class Server:
    """A server process. Its stderr is collected line by line by a reader thread; `port` is
    taken from the 'listening' log line."""

    def __init__(self, binary, *args, threads=2, data_dir=None, env=None, preexec_fn=None):
        self.binary = os.path.join(BUILD, binary)
        self.tmp = tempfile.TemporaryDirectory(prefix="ringq-it-")
        self.data_dir = data_dir or os.path.join(self.tmp.name, "data")
        argv = [self.binary, "--port", "0", "--threads", str(threads)]
        if binary == "ringqd":
            argv += ["--data", self.data_dir]
        argv += list(args)
        self.lines = []
        self._q = queue.Queue()
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     env=env, text=True, preexec_fn=preexec_fn)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.port = self._wait_port()
        self.addr = f"127.0.0.1:{self.port}"
        self.tls_ca = None  # a CA file: channel() speaks TLS, verifying the server with it

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line)
            self._q.put(line)
        self._q.put(None)

    def _wait_port(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise RuntimeError("server did not start:\n" + "".join(self.lines))
            try:
                line = self._q.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError("server exited:\n" + "".join(self.lines))
            if 'msg="listening"' in line:
                for kv in line.split():
                    if kv.startswith("port="):
                        return int(kv[5:])

    def wait_log(self, needle, timeout=10.0):
        """Waits until a log line containing `needle` appears (or the process exits)."""
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            while seen < len(self.lines):
                if needle in self.lines[seen]:
                    return self.lines[seen]
                seen += 1
            try:
                line = self._q.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                break
        return None

    def channel(self, **opts):
        options = [(k, v) for k, v in opts.items()]
        if self.tls_ca:
            with open(self.tls_ca, "rb") as f:
                creds = grpc.ssl_channel_credentials(root_certificates=f.read())
            return grpc.secure_channel(self.addr, creds, options=options)
        return grpc.insecure_channel(self.addr, options=options)

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def terminate(self, timeout=15.0):
        """SIGTERM and wait: returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def close(self):
        self.kill()
        self._reader.join(timeout=5)
        self.tmp.cleanup()


class InteropServerTest(unittest.TestCase):
    """Tests sharing one ringq-interop-server (THREADS shards) for the class: cls.srv, cls.ch."""
    THREADS = 1

    @classmethod
    def setUpClass(cls):
        cls.srv = Server("ringq-interop-server", threads=cls.THREADS)
        cls.ch = cls.srv.channel()

    @classmethod
    def tearDownClass(cls):
        cls.ch.close()
        cls.srv.terminate()
        cls.srv.close()


def unary(channel, path, req, resp_cls, **kw):
    fn = channel.unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                             response_deserializer=resp_cls.FromString)
    return fn(req, **kw)


def unary_stream(channel, path, req, resp_cls, **kw):
    fn = channel.unary_stream(path, request_serializer=lambda m: m.SerializeToString(),
                              response_deserializer=resp_cls.FromString)
    return fn(req, **kw)


def stream_unary(channel, path, reqs, resp_cls, **kw):
    fn = channel.stream_unary(path, request_serializer=lambda m: m.SerializeToString(),
                              response_deserializer=resp_cls.FromString)
    return fn(reqs, **kw)


def stream_stream(channel, path, reqs, resp_cls, **kw):
    fn = channel.stream_stream(path, request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=resp_cls.FromString)
    return fn(reqs, **kw)
