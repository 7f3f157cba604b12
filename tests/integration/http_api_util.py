"""Helpers for the JSON API tests: requests over real sockets (http.client), and a ringqd
holding queues in every state, built through grpcio."""
import http.client
import json
import socket

import grpc

import ringq_client as C
from ringq.v1 import types_pb2  # noqa: F401


def request(port, method, path, body=None, headers=None, host="127.0.0.1"):
    """(status, parsed JSON or raw text, headers) of one request on a fresh connection."""
    conn = http.client.HTTPConnection(host, port, timeout=20)
    try:
        h = dict(headers or {})
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        raw = r.read()
        try:
            out = json.loads(raw)
        except ValueError:
            out = raw.decode(errors="replace")
        return r.status, out, {k.lower(): v for k, v in r.getheaders()}
    finally:
        conn.close()


CHANGE = {"X-Ringq-Token": "1"}


def raw_exchange(port, data, want_responses, timeout=20.0):
    """Sends bytes on one connection and reads until `want_responses` HTTP responses (by their
    Content-Length) arrived or the server closed. Returns (list of (status, body), closed)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        buf, out, closed = b"", [], False
        while len(out) < want_responses:
            while b"\r\n\r\n" in buf:
                head, rest = buf.split(b"\r\n\r\n", 1)
                lines = head.split(b"\r\n")
                n = 0
                for line in lines[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        n = int(v.strip())
                if len(rest) < n:
                    break
                out.append((int(lines[0].split()[1]), rest[:n]))
                buf = rest[n:]
            if len(out) >= want_responses:
                break
            chunk = s.recv(65536)
            if not chunk:
                closed = True
                break
            buf += chunk
        return out, closed
    finally:
        s.close()


def make_states(c, name):
    """Queue `name` with tasks in every state: 3 ready, 1 delayed, 1 leased, 2 dead (nacked to
    the dead letters with a reason). Returns a dict of ids by state."""
    ready = c.put(name, "r1", "r2", "<script>alert(1)</script>")
    delayed = c.put(name, "later", delay_ms=3600 * 1000)
    dead_ids = c.put(name, "d1", "d2", priority=9)
    # Lease the two dead-to-be first (priority 9), then one more to hold.
    got = c.take(name, 2, lease_ms=600000)
    assert sorted(t.id for t in got) == sorted(dead_ids), (got, dead_ids)
    for t in got:
        c.Nack(id=t.id, dead_letter=True, reason="smtp 550 <b>no such user</b>")
    leased = c.take(name, 1, lease_ms=600000)
    return {"ready": [i for i in ready if i != leased[0].id], "delayed": delayed,
            "leased": [leased[0].id], "dead": dead_ids}


def grpc_code_name(e):
    return e.code().name


def admin_error(fn, **kw):
    try:
        fn(**kw)
    except grpc.RpcError as e:
        return e.code().name, e.details()
    raise AssertionError("expected an error")
