"""Hostile request bodies against the real servers (ringqd with 2 shards, the interop server):
arbitrary bytes sent through grpcio with identity serializers, so no protobuf library cleans them
up. Every server RPC decodes its request through the generated schema (srv_msg_decode), so each
malformed body is answered INVALID_ARGUMENT with a message naming the message type and the
reason, never INTERNAL and never a crash; the same servers then still answer well-formed calls.

The bodies, each malformed in a way pw_pb/pw_msg reject (docs/architecture.md "The schema"):
  TRUNCATED   field 1 (LEN) claims 5 bytes, 2 follow
  BAD_VARINT  field 1 (varint) with an 11-byte varint
  WRONG_TYPE  field 1 sent as a varint where every request below declares a string/bytes
  NESTED_BAD  field 2 a sub-message whose own field 1 is truncated (Enqueue's TaskSpec)
"""
import queue
import unittest

import grpc

import ringq_client as C
import ringq_harness as H
from grpc.health.v1 import health_pb2
from ringq.v1 import queue_pb2

S = grpc.StatusCode
TRUNCATED = b"\x0a\x05ab"
BAD_VARINT = b"\x08" + b"\xff" * 10 + b"\x01"
WRONG_TYPE = b"\x08\x01"
NESTED_BAD = b"\x0a\x01q\x12\x04\x0a\x05ab"

Q = "/ringq.v1.Queue/"
A = "/ringq.v1.Admin/"
HEALTH = "/grpc.health.v1.Health/"

# (path, request message type, bodies). Every request here has a string/bytes field 1.
RINGQD_METHODS = [
    (Q + "Enqueue", "ringq.v1.EnqueueRequest", [TRUNCATED, BAD_VARINT, WRONG_TYPE, NESTED_BAD]),
    (Q + "Lease", "ringq.v1.LeaseRequest", [TRUNCATED, BAD_VARINT, WRONG_TYPE]),
    (Q + "Ack", "ringq.v1.AckRequest", [TRUNCATED, BAD_VARINT, WRONG_TYPE]),
    (Q + "Nack", "ringq.v1.NackRequest", [TRUNCATED, BAD_VARINT, WRONG_TYPE]),
    (Q + "Extend", "ringq.v1.ExtendRequest", [TRUNCATED, BAD_VARINT, WRONG_TYPE]),
    (A + "GetQueue", "ringq.v1.GetQueueRequest", [TRUNCATED, WRONG_TYPE]),
    (A + "ConfigureQueue", "ringq.v1.ConfigureQueueRequest", [TRUNCATED, WRONG_TYPE]),
    (A + "ListQueues", "ringq.v1.ListQueuesRequest", [TRUNCATED, BAD_VARINT]),
    (A + "RedriveDeadTasks", "ringq.v1.RedriveDeadTasksRequest", [TRUNCATED, WRONG_TYPE]),
    (A + "PeekTasks", "ringq.v1.PeekTasksRequest", [TRUNCATED, WRONG_TYPE]),
    (A + "GetTask", "ringq.v1.GetTaskRequest", [TRUNCATED, WRONG_TYPE]),
    (HEALTH + "Check", "grpc.health.v1.HealthCheckRequest", [TRUNCATED, WRONG_TYPE]),
    (HEALTH + "List", "grpc.health.v1.HealthListRequest", [TRUNCATED, BAD_VARINT]),
]
INTEROP_METHODS = [
    ("/grpc.testing.TestService/UnaryCall", "grpc.testing.SimpleRequest", [TRUNCATED, BAD_VARINT]),
    ("/grpc.testing.TestService/EmptyCall", "grpc.testing.Empty", [TRUNCATED, BAD_VARINT]),
]


def raw_unary(channel, path, body):
    """Sends `body` as it is; returns the raw response bytes."""
    fn = channel.unary_unary(path, request_serializer=None, response_deserializer=None)
    return fn(body, timeout=C.CALL_TIMEOUT_S)


class MalformedBodies(unittest.TestCase):
    def check_rejected(self, channel, methods):
        for path, msg_type, bodies in methods:
            for body in bodies:
                with self.subTest(path=path, body=body):
                    with self.assertRaises(grpc.RpcError) as e:
                        raw_unary(channel, path, body)
                    self.assertEqual(e.exception.code(), S.INVALID_ARGUMENT, e.exception.details())
                    self.assertIn("malformed " + msg_type + ": ", e.exception.details())


class RingqdMalformedTest(MalformedBodies, C.RingqdTest):
    def test_every_method_rejects_malformed_bodies(self):
        self.check_rejected(self.ch, RINGQD_METHODS)
        self.assertIsNone(self.srv.proc.poll(), "ringqd died")
        # Still serving: a full Enqueue / Lease / Ack on the same connection.
        q = C.qname("after-malformed")
        ids = self.c.put(q, b"ok")
        tasks = self.c.take(q)
        self.assertEqual([t.id for t in tasks], ids)
        self.assertEqual([r.code for r in self.c.ack(*ids)], [0])
        r = H.unary(self.ch, HEALTH + "Check", health_pb2.HealthCheckRequest(service=""),
                    health_pb2.HealthCheckResponse)
        self.assertEqual(r.status, health_pb2.HealthCheckResponse.SERVING)

    def test_work_stream_answers_a_malformed_request_and_goes_on(self):
        """A bad WorkRequest is answered with a WorkResult (INVALID_ARGUMENT, the reason); the
        stream stays open and a later Subscribe on it is served."""
        fn = self.ch.stream_stream(Q + "Work", request_serializer=None,
                                   response_deserializer=queue_pb2.WorkResponse.FromString)
        q = C.qname("work-malformed")
        ids = self.c.put(q, b"w")
        good = queue_pb2.WorkRequest(request_id=7, subscribe=queue_pb2.Subscribe(
            queues=[q], credits=1)).SerializeToString()
        # The request side stays open until the task came: a half-close would end deliveries.
        reqs = queue.Queue()
        reqs.put(TRUNCATED)
        reqs.put(good)
        call = fn(iter(reqs.get, None), timeout=C.CALL_TIMEOUT_S)
        got = []
        for r in call:
            got.append(r)
            if r.WhichOneof("kind") == "task":
                break
        reqs.put(None)
        call.cancel()
        bad = got[0].result
        self.assertEqual(bad.code, S.INVALID_ARGUMENT.value[0])
        self.assertIn("malformed ringq.v1.WorkRequest: ", bad.message)
        self.assertEqual(got[-1].task.id, ids[0])
        self.assertIsNone(self.srv.proc.poll(), "ringqd died")


class InteropMalformedTest(MalformedBodies, H.InteropServerTest):
    def test_test_service_rejects_malformed_bodies(self):
        self.check_rejected(self.ch, INTEROP_METHODS)
        self.assertIsNone(self.srv.proc.poll(), "interop server died")
        self.assertEqual(raw_unary(self.ch, "/grpc.testing.TestService/EmptyCall", b""), b"")


if __name__ == "__main__":
    unittest.main()
