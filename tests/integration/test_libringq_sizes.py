"""libringq with payloads of every interesting size (issue #12 item 9: requests of 65,518 to
131,052 bytes of payload failed with INTERNAL "invalid compressed flag", larger ones went out
with a block of the message repeated). rq_sizes_prog enqueues each payload through libringq on a
fresh connection, leases it back, compares it byte for byte and acks it — against ringqd, and
against a ringq.v1.Queue written with Python grpcio (a server we did not write: if both agree,
the client speaks gRPC, not just our server's dialect).

The sizes sit on both sides of every edge of the path: the 16,384-byte DATA frame, the 65,535-byte
initial windows, the 64 KiB per-stream send queue of our HTTP/2 session, twice that, 1 MiB, and
the 4 MiB message limit — each edge taken once for the payload and once for the framed request
(5-byte gRPC prefix + the EnqueueRequest), n-1, n and n+1, plus the old failing range's ends and
points inside it."""
import os
import subprocess
import threading
import unittest
from concurrent import futures

import grpc

import ringq_harness as H
from ringq.v1 import queue_pb2, types_pb2

PROG = os.path.join(H.BUILD, "aux", "tests", "integration", "rq_sizes_prog")
QUEUE = "sizes"
KiB, MiB = 1024, 1024 * 1024
GRPC_PREFIX = 5
MSG_MAX = 4 * MiB  # both servers' and libringq's default message limit
# Below this many bytes of payload the Lease response (payload + id, queue, times) fits in
# MSG_MAX as well; between it and the request limit only the Enqueue is sure to be accepted.
ROUNDTRIP_MAX = MSG_MAX - 1 * KiB
EDGES = (16384, 65535, 65536, 131072, 1 * MiB, MSG_MAX)
PROG_TIMEOUT_S = 240


def request_bytes(payload_len):
    """The EnqueueRequest's encoded size for a payload of payload_len bytes."""
    return queue_pb2.EnqueueRequest(queue=QUEUE, tasks=[
        types_pb2.TaskSpec(payload=b"\0" * payload_len)]).ByteSize()


def payload_for_framed(framed):
    """The payload length whose framed request (prefix + message) is `framed` bytes."""
    p = framed - GRPC_PREFIX
    while p > 0 and GRPC_PREFIX + request_bytes(p) > framed:
        p -= 1
    return p


def sizes():
    s = {0, 1, 100, 65518, 65519, 70000, 98304, 131051, 131052, 131053, 200000, ROUNDTRIP_MAX}
    for edge in EDGES:
        for base in (edge, payload_for_framed(edge)):
            s.update((base - 1, base, base + 1))
    # The largest payload whose request is exactly the limit, and one byte more.
    top = payload_for_framed(MSG_MAX + GRPC_PREFIX)
    s.update((top - 1, top, top + 1))
    return sorted(s)


def run_prog(addr, szs):
    out = subprocess.run([PROG, addr, QUEUE] + [str(n) for n in szs], capture_output=True,
                         text=True, timeout=PROG_TIMEOUT_S)
    if out.returncode != 0:
        raise AssertionError(f"rq_sizes_prog exited {out.returncode}: {out.stderr}")
    rows = {}
    for line in out.stdout.splitlines():
        f = line.split(" ", 11)
        rows[int(f[1])] = {"enqueue": int(f[3]), "lease": int(f[5]), "got": int(f[7]),
                           "match": f[9] == "1", "message": f[11]}
    return rows


class QueueServicer:
    """ringq.v1.Queue's Enqueue, Lease and Ack on a Python list: enough for rq_sizes_prog."""

    def __init__(self):
        self.lock = threading.Lock()
        self.tasks = []
        self.next_id = 1

    def enqueue(self, req, ctx):
        out = queue_pb2.EnqueueResponse()
        with self.lock:
            for spec in req.tasks:
                tid = f"py-{self.next_id}"
                self.next_id += 1
                self.tasks.append(types_pb2.Task(id=tid, queue=req.queue, payload=spec.payload,
                                                 attempt=1))
                out.results.add(id=tid)
        return out

    def lease(self, req, ctx):
        with self.lock:
            take, self.tasks = self.tasks[:max(req.max_tasks, 1)], self.tasks[max(req.max_tasks, 1):]
        return queue_pb2.LeaseResponse(tasks=take)

    def ack(self, req, ctx):
        out = queue_pb2.AckResponse()
        for _ in req.ids:
            out.results.add()  # code 0: OK
        return out

    def handler(self):
        def h(fn, req_cls, resp_cls):
            return grpc.unary_unary_rpc_method_handler(
                fn, request_deserializer=req_cls.FromString,
                response_serializer=resp_cls.SerializeToString)
        return grpc.method_handlers_generic_handler("ringq.v1.Queue", {
            "Enqueue": h(self.enqueue, queue_pb2.EnqueueRequest, queue_pb2.EnqueueResponse),
            "Lease": h(self.lease, queue_pb2.LeaseRequest, queue_pb2.LeaseResponse),
            "Ack": h(self.ack, queue_pb2.AckRequest, queue_pb2.AckResponse),
        })


class LibringqSizesTest(unittest.TestCase):
    def setUp(self):
        self.assertTrue(os.path.exists(PROG), f"{PROG} missing: run `make all`")
        self.sizes = sizes()

    def check(self, rows, server):
        self.assertEqual(sorted(rows), self.sizes, "a size printed no result")
        for n in self.sizes:
            r = rows[n]
            req = request_bytes(n)
            with self.subTest(server=server, size=n, request=req):
                if req > MSG_MAX:
                    # Refused whole by the server's limit: never INTERNAL, never half a message.
                    self.assertEqual(r["enqueue"], grpc.StatusCode.RESOURCE_EXHAUSTED.value[0],
                                     r["message"])
                    continue
                if n > ROUNDTRIP_MAX and r["enqueue"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]:
                    # ringqd's log record (payload + headers + key + its own header) is capped
                    # at 4 MiB too, a little below the message limit: refused whole, by name.
                    self.assertIn("the limit is", r["message"])
                    continue
                self.assertEqual(r["enqueue"], 0, r["message"])
                if n <= ROUNDTRIP_MAX:
                    self.assertEqual(r["lease"], 0, r["message"])
                    self.assertEqual(r["got"], n)
                    self.assertTrue(r["match"], f"payload differs: {r['message']}")
                elif r["lease"] == 0:
                    self.assertTrue(r["match"], f"payload differs: {r['message']}")
                else:  # the response with it does not fit the 4 MiB limit
                    self.assertEqual(r["lease"], grpc.StatusCode.RESOURCE_EXHAUSTED.value[0],
                                     r["message"])

    def test_every_size_against_ringqd(self):
        srv = H.Server("ringqd", threads=1)
        try:
            self.check(run_prog(srv.addr, self.sizes), "ringqd")
        finally:
            srv.terminate()
            srv.close()

    def test_every_size_against_grpcio(self):
        servicer = QueueServicer()
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        server.add_generic_rpc_handlers((servicer.handler(),))
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        try:
            self.check(run_prog(f"127.0.0.1:{port}", self.sizes), "grpcio")
        finally:
            server.stop(None).wait()


if __name__ == "__main__":
    unittest.main()
