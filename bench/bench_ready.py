#!/usr/bin/python3
"""bench/bench_ready.py: wait until a freshly started server answers its own protocol.

Usage: bench_ready.py KIND HOST:PORT PID [TIMEOUT_S]
KIND: ringq     GET /healthz over HTTP/1.1 answers 200
      grpc      grpc.health.v1.Health/Check over grpcio answers SERVING
      beanstalkd  "stats" answers "OK <n>"
      redis     PING answers +PONG
      jetstream NATS INFO, then a request to $JS.API.INFO answers without an error
Polls every 20 ms (a probe is a real request, not a fixed sleep) until the server answers, the
process PID exits, or TIMEOUT_S (default 20) passes. Exit 0 ready, 1 not ready (reason on stderr).
"""
import json
import os
import socket
import sys
import time


def recv_until(s, pred, limit=1 << 16):
    buf = b""
    while not pred(buf):
        chunk = s.recv(4096)
        if not chunk:
            raise OSError("connection closed after %r" % buf[:80])
        buf += chunk
        if len(buf) > limit:
            raise OSError("answer too long")
    return buf


def probe_line(host, port, request, prefix, what):
    """Sends `request` on a new connection; OSError unless the first reply line starts with
    `prefix`."""
    with socket.create_connection((host, port), timeout=2) as s:
        s.sendall(request)
        buf = recv_until(s, lambda b: b"\r\n" in b)
        if not buf.startswith(prefix):
            raise OSError("%s: %r" % (what, buf.split(b"\r\n")[0][:80]))


def probe_ringq(host, port):
    probe_line(host, port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
               b"HTTP/1.1 200", "healthz")


def probe_grpc(host, port):
    import grpc  # Debian python3-grpcio
    with grpc.insecure_channel("%s:%d" % (host, port)) as ch:
        check = ch.unary_unary("/grpc.health.v1.Health/Check",
                               request_serializer=lambda b: b,
                               response_deserializer=lambda b: b)
        # HealthCheckRequest{service:""} is zero bytes; SERVING is field 1 = 1 (08 01).
        r = check(b"", timeout=2)
        if r != b"\x08\x01":
            raise OSError("health status bytes %r" % r)


def probe_beanstalkd(host, port):
    probe_line(host, port, b"stats\r\n", b"OK ", "stats")


def probe_redis(host, port):
    probe_line(host, port, b"PING\r\n", b"+PONG", "PING")


def probe_jetstream(host, port):
    with socket.create_connection((host, port), timeout=2) as s:
        recv_until(s, lambda b: b"\r\n" in b)  # INFO {...}
        s.sendall(b'CONNECT {"verbose":false,"pedantic":false,"headers":true}\r\n'
                  b"SUB _INBOX.ready 1\r\nPUB $JS.API.INFO _INBOX.ready 0\r\n\r\nPING\r\n")

        def have_msg(b):
            i = b.find(b"MSG _INBOX.ready")
            if i < 0:
                return False
            j = b.find(b"\r\n", i)
            if j < 0:
                return False
            n = int(b[i:j].split()[-1])
            return len(b) >= j + 2 + n + 2
        buf = recv_until(s, have_msg)
        i = buf.find(b"MSG _INBOX.ready")
        j = buf.find(b"\r\n", i)
        n = int(buf[i:j].split()[-1])
        body = json.loads(buf[j + 2:j + 2 + n])
        if "error" in body:
            raise OSError("$JS.API.INFO: %s" % body["error"])


PROBES = {"ringq": probe_ringq, "grpc": probe_grpc, "beanstalkd": probe_beanstalkd,
          "redis": probe_redis, "jetstream": probe_jetstream}


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    # A zombie (exited, not yet reaped by the shell) is not alive either.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def main():
    if len(sys.argv) not in (4, 5) or sys.argv[1] not in PROBES:
        print(__doc__, file=sys.stderr)
        return 2
    kind, addr, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
    timeout = float(sys.argv[4]) if len(sys.argv) == 5 else 20.0
    host, port = addr.rsplit(":", 1)
    deadline = time.monotonic() + timeout
    last = "no attempt"
    while time.monotonic() < deadline:
        if not alive(pid):
            print("bench_ready: %s (pid %d) exited; last probe: %s" % (kind, pid, last),
                  file=sys.stderr)
            return 1
        try:
            PROBES[kind](host, int(port))
            return 0
        except Exception as e:  # noqa: BLE001 - any failure means "not yet"
            last = "%s: %s" % (type(e).__name__, e)
        time.sleep(0.02)
    print("bench_ready: %s at %s not ready after %.0f s; last probe: %s"
          % (kind, addr, timeout, last), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
