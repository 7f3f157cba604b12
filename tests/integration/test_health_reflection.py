"""grpc.health.v1 and server reflection (v1, v1alpha) against the real servers, with grpcio."""
import queue
import unittest

import grpc
from google.protobuf import descriptor_pb2

import ringq_harness as H
from grpc.health.v1 import health_pb2  # noqa: E402
from grpc.reflection.v1 import reflection_pb2 as refl_v1  # noqa: E402
from grpc.reflection.v1alpha import reflection_pb2 as refl_v1a  # noqa: E402

HEALTH = "/grpc.health.v1.Health/"


class HealthTest(H.InteropServerTest):
    THREADS = 2

    def check(self, service):
        return H.unary(self.ch, HEALTH + "Check", health_pb2.HealthCheckRequest(service=service),
                       health_pb2.HealthCheckResponse)

    def test_check_overall_and_named(self):
        self.assertEqual(self.check("").status, health_pb2.HealthCheckResponse.SERVING)
        self.assertEqual(self.check("grpc.testing.TestService").status,
                         health_pb2.HealthCheckResponse.SERVING)

    def test_check_unknown_service_is_not_found(self):
        with self.assertRaises(grpc.RpcError) as e:
            self.check("no.such.Service")
        self.assertEqual(e.exception.code(), grpc.StatusCode.NOT_FOUND)

    def test_list(self):
        r = H.unary(self.ch, HEALTH + "List", health_pb2.HealthListRequest(),
                    health_pb2.HealthListResponse)
        self.assertEqual(r.statuses[""].status, health_pb2.HealthCheckResponse.SERVING)
        self.assertIn("grpc.testing.TestService", r.statuses)

    def test_watch_sends_current_status_then_waits(self):
        call = H.unary_stream(self.ch, HEALTH + "Watch", health_pb2.HealthCheckRequest(service=""),
                              health_pb2.HealthCheckResponse)
        self.assertEqual(next(call).status, health_pb2.HealthCheckResponse.SERVING)
        call.cancel()
        call = H.unary_stream(self.ch, HEALTH + "Watch",
                              health_pb2.HealthCheckRequest(service="unknown.Svc"),
                              health_pb2.HealthCheckResponse)
        self.assertEqual(next(call).status, health_pb2.HealthCheckResponse.SERVICE_UNKNOWN)
        call.cancel()


class WatchDrainTest(unittest.TestCase):
    def test_watch_sees_not_serving_on_sigterm_and_server_exits_0(self):
        srv = H.Server("ringq-interop-server", threads=2)
        try:
            ch = srv.channel()
            call = H.unary_stream(ch, HEALTH + "Watch", health_pb2.HealthCheckRequest(service=""),
                                  health_pb2.HealthCheckResponse)
            self.assertEqual(next(call).status, health_pb2.HealthCheckResponse.SERVING)
            srv.proc.send_signal(15)
            self.assertEqual(next(call).status, health_pb2.HealthCheckResponse.NOT_SERVING)
            self.assertEqual(srv.proc.wait(timeout=20), 0)
            ch.close()
        finally:
            srv.close()


class ReflectionTest(H.InteropServerTest):

    def ask(self, mod, path, reqs):
        return list(H.stream_stream(self.ch, path, iter(reqs), mod.ServerReflectionResponse))

    def run_suite(self, mod, path):
        resps = self.ask(mod, path, [
            mod.ServerReflectionRequest(list_services=""),
            mod.ServerReflectionRequest(file_containing_symbol="grpc.testing.TestService"),
            mod.ServerReflectionRequest(file_by_filename="grpc/health/v1/health.proto"),
            mod.ServerReflectionRequest(file_containing_symbol="grpc.testing.SimpleRequest"),
            mod.ServerReflectionRequest(file_containing_symbol="grpc.testing.TestService.UnaryCall"),
            mod.ServerReflectionRequest(file_containing_symbol="no.Such"),
            mod.ServerReflectionRequest(all_extension_numbers_of_type="grpc.testing.SimpleRequest"),
        ])
        self.assertEqual(len(resps), 7)
        names = sorted(s.name for s in resps[0].list_services_response.service)
        self.assertIn("grpc.testing.TestService", names)
        self.assertIn("grpc.health.v1.Health", names)
        self.assertIn("grpc.reflection.v1.ServerReflection", names)
        self.assertEqual(resps[0].original_request.list_services, "")

        files = [descriptor_pb2.FileDescriptorProto.FromString(b)
                 for b in resps[1].file_descriptor_response.file_descriptor_proto]
        self.assertEqual(files[0].name, "grpc/testing/test.proto")
        self.assertIn("TestService", [s.name for s in files[0].service])
        dep_names = {f.name for f in files}
        for d in files[0].dependency:
            self.assertIn(d, dep_names)  # transitive dependencies are included

        f = descriptor_pb2.FileDescriptorProto.FromString(
            resps[2].file_descriptor_response.file_descriptor_proto[0])
        self.assertEqual(f.package, "grpc.health.v1")
        f = descriptor_pb2.FileDescriptorProto.FromString(
            resps[3].file_descriptor_response.file_descriptor_proto[0])
        self.assertEqual(f.name, "grpc/testing/messages.proto")
        f = descriptor_pb2.FileDescriptorProto.FromString(
            resps[4].file_descriptor_response.file_descriptor_proto[0])
        self.assertEqual(f.name, "grpc/testing/test.proto")
        self.assertEqual(resps[5].error_response.error_code, grpc.StatusCode.NOT_FOUND.value[0])
        self.assertEqual(resps[6].all_extension_numbers_response.base_type_name,
                         "grpc.testing.SimpleRequest")

    def test_reflection_v1(self):
        self.run_suite(refl_v1, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo")

    def test_reflection_v1alpha(self):
        self.run_suite(refl_v1a, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")


if __name__ == "__main__":
    unittest.main()
