// greeter_server: the C++ gRPC peer ringqd is measured against (bench/suite_rpc.sh).
//
// Serves grpc.health.v1.Health/Check, always answering SERVING, with stock gRPC C++ (Debian's
// libgrpc++), through one of two server APIs chosen at start-up:
//   --api sync      Health::Service: the handler runs on gRPC's sync-server thread pool.
//   --api callback  Health::CallbackService: the handler returns a ServerUnaryReactor and runs
//                   on gRPC's internal callback executor.
// Other flags:
//   --port N        listen on 127.0.0.1:N (0: let the kernel pick; the port is logged).
//   --host H        listen address (default 127.0.0.1).
//   --threads N     upper bound on gRPC's threads (ResourceQuota::SetMaxThreads); for the sync
//                   API also the maximum number of pollers. 0 (default) leaves gRPC's defaults.
// On start it prints "greeter_server api=<api> port=<N> pid=<P>" on stderr, then serves until
// SIGINT or SIGTERM.

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include <unistd.h>

#include <grpcpp/grpcpp.h>
#include <grpcpp/resource_quota.h>

#include "grpc/health/v1/health.grpc.pb.h"

namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

class HealthSync final : public Health::Service {
    grpc::Status Check(grpc::ServerContext *, const HealthCheckRequest *,
                       HealthCheckResponse *resp) override {
        resp->set_status(HealthCheckResponse::SERVING);
        return grpc::Status::OK;
    }
};

class HealthCallback final : public Health::CallbackService {
    grpc::ServerUnaryReactor *Check(grpc::CallbackServerContext *ctx, const HealthCheckRequest *,
                                    HealthCheckResponse *resp) override {
        resp->set_status(HealthCheckResponse::SERVING);
        // The context owns the default reactor; Finish completes the call without a hop.
        grpc::ServerUnaryReactor *reactor = ctx->DefaultReactor();
        reactor->Finish(grpc::Status::OK);
        return reactor;
    }
};

volatile std::sig_atomic_t stop_requested = 0;

void on_signal(int) { stop_requested = 1; }

[[noreturn]] void usage(const char *prog) {
    std::fprintf(stderr,
                 "usage: %s [--api sync|callback] [--host H] [--port N] [--threads N]\n", prog);
    std::exit(2);
}

long parse_long(const char *prog, const char *s, long lo, long hi) {
    char *end = nullptr;
    long v = std::strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < lo || v > hi) usage(prog);
    return v;
}

}  // namespace

int main(int argc, char **argv) {
    std::string api = "sync";
    std::string host = "127.0.0.1";
    long port = 50051;
    long threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) usage(argv[0]);
        if (std::strcmp(a, "--api") == 0) {
            api = argv[++i];
        } else if (std::strcmp(a, "--host") == 0) {
            host = argv[++i];
        } else if (std::strcmp(a, "--port") == 0) {
            port = parse_long(argv[0], argv[++i], 0, 65535);
        } else if (std::strcmp(a, "--threads") == 0) {
            threads = parse_long(argv[0], argv[++i], 0, 4096);
        } else {
            usage(argv[0]);
        }
    }
    if (api != "sync" && api != "callback") usage(argv[0]);

    HealthSync sync_service;
    HealthCallback callback_service;
    grpc::ServerBuilder builder;
    int bound_port = 0;
    builder.AddListeningPort(host + ":" + std::to_string(port), grpc::InsecureServerCredentials(),
                             &bound_port);
    if (api == "sync") {
        builder.RegisterService(&sync_service);
    } else {
        builder.RegisterService(&callback_service);
    }
    if (threads > 0) {
        grpc::ResourceQuota quota("greeter_server");
        // The sync server needs at least one thread beyond its pollers to run handlers.
        quota.SetMaxThreads(static_cast<int>(threads) + 1);
        builder.SetResourceQuota(quota);
        if (api == "sync") {
            builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::NUM_CQS, 1);
            builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 1);
            builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS,
                                        static_cast<int>(threads));
        }
    }
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    if (!server || bound_port == 0) {
        std::fprintf(stderr, "greeter_server: cannot listen on %s:%ld\n", host.c_str(), port);
        return 1;
    }
    std::fprintf(stderr, "greeter_server api=%s port=%d pid=%d\n", api.c_str(), bound_port,
                 static_cast<int>(getpid()));

    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    // Signal handlers may not call Shutdown; poll the flag instead (100 ms is far below any
    // benchmark's duration, and costs nothing measurable).
    while (!stop_requested) usleep(100 * 1000);
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    server->Wait();
    return 0;
}
