"""gRPC interop cases (doc/interop-test-descriptions.md) run with Python grpcio against
build/ringq-interop-server."""
import queue
import threading
import unittest

import grpc

import ringq_harness as H
from grpc.testing import empty_pb2, messages_pb2  # noqa: E402  (generated; path set by harness)

SVC = "/grpc.testing.TestService/"
MiB = 1024 * 1024


def payload(n):
    return messages_pb2.Payload(body=b"\0" * n)


class InteropTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = H.Server("ringq-interop-server", "--max-message-bytes", str(8 * MiB), threads=2)
        cls.ch = cls.srv.channel(**{"grpc.max_receive_message_length": 8 * MiB,
                                    "grpc.max_send_message_length": 8 * MiB})

    @classmethod
    def tearDownClass(cls):
        cls.ch.close()
        code = cls.srv.terminate()
        log = "".join(cls.srv.lines[-80:])
        cls.srv.close()
        assert code == 0, f"interop server exited {code}:\n{log}"

    def test_empty_unary(self):
        r = H.unary(self.ch, SVC + "EmptyCall", empty_pb2.Empty(), empty_pb2.Empty)
        self.assertEqual(r.SerializeToString(), b"")

    def test_large_unary(self):
        req = messages_pb2.SimpleRequest(response_size=314159, payload=payload(271828))
        r = H.unary(self.ch, SVC + "UnaryCall", req, messages_pb2.SimpleResponse)
        self.assertEqual(len(r.payload.body), 314159)
        self.assertEqual(r.payload.body, b"\0" * 314159)

    def test_large_messages_over_1mib(self):
        req = messages_pb2.SimpleRequest(response_size=3 * MiB, payload=payload(2 * MiB + 17))
        r = H.unary(self.ch, SVC + "UnaryCall", req, messages_pb2.SimpleResponse)
        self.assertEqual(len(r.payload.body), 3 * MiB)

    def test_message_above_server_limit_is_resource_exhausted(self):
        req = messages_pb2.SimpleRequest(response_size=1, payload=payload(8 * MiB + 1))
        ch = self.srv.channel(**{"grpc.max_send_message_length": 16 * MiB})
        with self.assertRaises(grpc.RpcError) as e:
            H.unary(ch, SVC + "UnaryCall", req, messages_pb2.SimpleResponse)
        self.assertEqual(e.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        ch.close()

    def test_client_compressed_unary(self):
        # Probe: expect_compressed without compression must be rejected.
        req = messages_pb2.SimpleRequest(response_size=314159, payload=payload(271828),
                                         expect_compressed=messages_pb2.BoolValue(value=True))
        with self.assertRaises(grpc.RpcError) as e:
            H.unary(self.ch, SVC + "UnaryCall", req, messages_pb2.SimpleResponse)
        self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        r = H.unary(self.ch, SVC + "UnaryCall", req, messages_pb2.SimpleResponse,
                    compression=grpc.Compression.Gzip)
        self.assertEqual(len(r.payload.body), 314159)
        req.expect_compressed.value = False
        r = H.unary(self.ch, SVC + "UnaryCall", req, messages_pb2.SimpleResponse)
        self.assertEqual(len(r.payload.body), 314159)

    def test_server_compressed_unary(self):
        for comp in (True, False):
            req = messages_pb2.SimpleRequest(response_size=314159, payload=payload(271828),
                                             response_compressed=messages_pb2.BoolValue(value=comp))
            r = H.unary(self.ch, SVC + "UnaryCall", req, messages_pb2.SimpleResponse)
            self.assertEqual(len(r.payload.body), 314159)

    def test_client_streaming(self):
        sizes = [27182, 8, 1828, 45904]
        reqs = (messages_pb2.StreamingInputCallRequest(payload=payload(n)) for n in sizes)
        r = H.stream_unary(self.ch, SVC + "StreamingInputCall", reqs,
                           messages_pb2.StreamingInputCallResponse)
        self.assertEqual(r.aggregated_payload_size, 74922)

    def test_client_compressed_streaming(self):
        reqs = [messages_pb2.StreamingInputCallRequest(
            payload=payload(n), expect_compressed=messages_pb2.BoolValue(value=True)) for n in (27182, 45904)]
        r = H.stream_unary(self.ch, SVC + "StreamingInputCall", iter(reqs),
                           messages_pb2.StreamingInputCallResponse, compression=grpc.Compression.Gzip)
        self.assertEqual(r.aggregated_payload_size, 73086)
        with self.assertRaises(grpc.RpcError) as e:
            H.stream_unary(self.ch, SVC + "StreamingInputCall", iter(reqs[:1]),
                           messages_pb2.StreamingInputCallResponse)
        self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)

    def test_server_streaming(self):
        sizes = [31415, 9, 2653, 58979]
        req = messages_pb2.StreamingOutputCallRequest(
            response_parameters=[messages_pb2.ResponseParameters(size=n) for n in sizes])
        got = [len(r.payload.body) for r in H.unary_stream(
            self.ch, SVC + "StreamingOutputCall", req, messages_pb2.StreamingOutputCallResponse)]
        self.assertEqual(got, sizes)

    def test_server_compressed_streaming(self):
        req = messages_pb2.StreamingOutputCallRequest(response_parameters=[
            messages_pb2.ResponseParameters(size=31415, compressed=messages_pb2.BoolValue(value=True)),
            messages_pb2.ResponseParameters(size=92653, compressed=messages_pb2.BoolValue(value=False))])
        got = [len(r.payload.body) for r in H.unary_stream(
            self.ch, SVC + "StreamingOutputCall", req, messages_pb2.StreamingOutputCallResponse)]
        self.assertEqual(got, [31415, 92653])

    def test_ping_pong(self):
        reqs = queue.Queue()
        req_sizes = [27182, 8, 1828, 45904]
        resp_sizes = [31415, 9, 2653, 58979]

        def gen():
            while True:
                m = reqs.get()
                if m is None:
                    return
                yield m

        call = H.stream_stream(self.ch, SVC + "FullDuplexCall", gen(),
                               messages_pb2.StreamingOutputCallResponse)
        for q, s in zip(req_sizes, resp_sizes):
            reqs.put(messages_pb2.StreamingOutputCallRequest(
                response_parameters=[messages_pb2.ResponseParameters(size=s)], payload=payload(q)))
            r = next(call)
            self.assertEqual(len(r.payload.body), s)
        reqs.put(None)
        self.assertEqual(list(call), [])
        self.assertEqual(call.code(), grpc.StatusCode.OK)

    def test_half_duplex(self):
        reqs = [messages_pb2.StreamingOutputCallRequest(
            response_parameters=[messages_pb2.ResponseParameters(size=s)]) for s in (10, 20, 30)]
        got = [len(r.payload.body) for r in H.stream_stream(
            self.ch, SVC + "HalfDuplexCall", iter(reqs), messages_pb2.StreamingOutputCallResponse)]
        self.assertEqual(got, [10, 20, 30])

    def test_empty_stream(self):
        call = H.stream_stream(self.ch, SVC + "FullDuplexCall", iter([]),
                               messages_pb2.StreamingOutputCallResponse)
        self.assertEqual(list(call), [])
        self.assertEqual(call.code(), grpc.StatusCode.OK)

    def test_cancel_after_begin(self):
        fn = self.ch.stream_unary(SVC + "StreamingInputCall",
                                  request_serializer=lambda m: m.SerializeToString(),
                                  response_deserializer=messages_pb2.StreamingInputCallResponse.FromString)
        hold = threading.Event()

        def gen():
            hold.wait()
            return
            yield  # noqa

        fut = fn.future(gen())
        fut.cancel()
        hold.set()
        self.assertTrue(fut.cancelled())
        with self.assertRaises(grpc.FutureCancelledError):
            fut.result()

    def test_cancel_after_first_response(self):
        reqs = queue.Queue()

        def gen():
            while True:
                m = reqs.get()
                if m is None:
                    return
                yield m

        call = H.stream_stream(self.ch, SVC + "FullDuplexCall", gen(),
                               messages_pb2.StreamingOutputCallResponse)
        reqs.put(messages_pb2.StreamingOutputCallRequest(
            response_parameters=[messages_pb2.ResponseParameters(size=31415)], payload=payload(27182)))
        self.assertEqual(len(next(call).payload.body), 31415)
        call.cancel()
        reqs.put(None)
        self.assertEqual(call.code(), grpc.StatusCode.CANCELLED)
        # The server is still healthy afterwards.
        H.unary(self.ch, SVC + "EmptyCall", empty_pb2.Empty(), empty_pb2.Empty)

    def test_timeout_on_sleeping_server(self):
        reqs = queue.Queue()

        def gen():
            yield messages_pb2.StreamingOutputCallRequest(payload=payload(27182))
            reqs.get()  # never sends more: the server waits for the client

        call = H.stream_stream(self.ch, SVC + "FullDuplexCall", gen(),
                               messages_pb2.StreamingOutputCallResponse, timeout=0.001)
        with self.assertRaises(grpc.RpcError) as e:
            list(call)
        self.assertEqual(e.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
        reqs.put(None)

    def test_server_enforces_grpc_timeout(self):
        # A delayed response (interval) longer than the deadline: the server ends the call.
        req = messages_pb2.StreamingOutputCallRequest(
            response_parameters=[messages_pb2.ResponseParameters(size=1, interval_us=2_000_000)])
        with self.assertRaises(grpc.RpcError) as e:
            list(H.unary_stream(self.ch, SVC + "StreamingOutputCall", req,
                                messages_pb2.StreamingOutputCallResponse, timeout=0.2))
        self.assertEqual(e.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)

    def test_custom_metadata(self):
        md = (("x-grpc-test-echo-initial", "test_initial_metadata_value"),
              ("x-grpc-test-echo-trailing-bin", b"\x0a\x0b\x0a\x0b\x0a\x0b"))
        req = messages_pb2.SimpleRequest(response_size=314159, payload=payload(271828))
        fn = self.ch.unary_unary(SVC + "UnaryCall", request_serializer=lambda m: m.SerializeToString(),
                                 response_deserializer=messages_pb2.SimpleResponse.FromString)
        r, call = fn.with_call(req, metadata=md)
        self.assertEqual(len(r.payload.body), 314159)
        self.assertIn(("x-grpc-test-echo-initial", "test_initial_metadata_value"),
                      list(call.initial_metadata()))
        self.assertIn(("x-grpc-test-echo-trailing-bin", b"\x0a\x0b\x0a\x0b\x0a\x0b"),
                      list(call.trailing_metadata()))
        # The same over a bidi stream.
        call = H.stream_stream(self.ch, SVC + "FullDuplexCall", iter([
            messages_pb2.StreamingOutputCallRequest(
                response_parameters=[messages_pb2.ResponseParameters(size=314159)],
                payload=payload(271828))]), messages_pb2.StreamingOutputCallResponse, metadata=md)
        self.assertEqual([len(x.payload.body) for x in call], [314159])
        self.assertIn(("x-grpc-test-echo-initial", "test_initial_metadata_value"),
                      list(call.initial_metadata()))
        self.assertIn(("x-grpc-test-echo-trailing-bin", b"\x0a\x0b\x0a\x0b\x0a\x0b"),
                      list(call.trailing_metadata()))

    def test_status_code_and_message(self):
        st = messages_pb2.EchoStatus(code=2, message="test status message")
        with self.assertRaises(grpc.RpcError) as e:
            H.unary(self.ch, SVC + "UnaryCall", messages_pb2.SimpleRequest(response_status=st),
                    messages_pb2.SimpleResponse)
        self.assertEqual(e.exception.code(), grpc.StatusCode.UNKNOWN)
        self.assertEqual(e.exception.details(), "test status message")
        call = H.stream_stream(self.ch, SVC + "FullDuplexCall",
                               iter([messages_pb2.StreamingOutputCallRequest(response_status=st)]),
                               messages_pb2.StreamingOutputCallResponse)
        with self.assertRaises(grpc.RpcError) as e:
            list(call)
        self.assertEqual(e.exception.code(), grpc.StatusCode.UNKNOWN)
        self.assertEqual(e.exception.details(), "test status message")

    def test_special_status_message(self):
        text = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"
        st = messages_pb2.EchoStatus(code=2, message=text)
        with self.assertRaises(grpc.RpcError) as e:
            H.unary(self.ch, SVC + "UnaryCall", messages_pb2.SimpleRequest(response_status=st),
                    messages_pb2.SimpleResponse)
        self.assertEqual(e.exception.code(), grpc.StatusCode.UNKNOWN)
        self.assertEqual(e.exception.details(), text)

    def test_unimplemented_method(self):
        with self.assertRaises(grpc.RpcError) as e:
            H.unary(self.ch, SVC + "UnimplementedCall", empty_pb2.Empty(), empty_pb2.Empty)
        self.assertEqual(e.exception.code(), grpc.StatusCode.UNIMPLEMENTED)

    def test_unimplemented_service(self):
        with self.assertRaises(grpc.RpcError) as e:
            H.unary(self.ch, "/grpc.testing.UnimplementedService/UnimplementedCall",
                    empty_pb2.Empty(), empty_pb2.Empty)
        self.assertEqual(e.exception.code(), grpc.StatusCode.UNIMPLEMENTED)

    def test_100_concurrent_streams(self):
        fn = self.ch.unary_unary(SVC + "UnaryCall", request_serializer=lambda m: m.SerializeToString(),
                                 response_deserializer=messages_pb2.SimpleResponse.FromString)
        futs = [fn.future(messages_pb2.SimpleRequest(response_size=1000 + i, payload=payload(i)))
                for i in range(100)]
        sizes = [len(f.result(timeout=30).payload.body) for f in futs]
        self.assertEqual(sizes, [1000 + i for i in range(100)])
        # And 100 concurrent server streams with delays, all open at once.
        req = messages_pb2.StreamingOutputCallRequest(response_parameters=[
            messages_pb2.ResponseParameters(size=10, interval_us=20000),
            messages_pb2.ResponseParameters(size=20, interval_us=20000)])
        calls = [H.unary_stream(self.ch, SVC + "StreamingOutputCall", req,
                                messages_pb2.StreamingOutputCallResponse) for _ in range(100)]
        for c in calls:
            self.assertEqual([len(x.payload.body) for x in c], [10, 20])

    def test_many_sequential_calls_one_connection(self):
        for i in range(300):
            r = H.unary(self.ch, SVC + "UnaryCall", messages_pb2.SimpleRequest(response_size=i % 50),
                        messages_pb2.SimpleResponse)
            self.assertEqual(len(r.payload.body), i % 50)


if __name__ == "__main__":
    unittest.main()
