/* ringqd: the ringq server. */
#include <stdio.h>

#include "core/rt_log.h"
#include "server/srv_health.h"
#include "server/srv_reflection.h"
#include "server/srv_runtime.h"

static const char usage[] =
    "usage: ringqd [--port N] [--host ADDR] [--data DIR] [--threads N] [flags]\n"
    "  ringq task-queue server: gRPC over HTTP/2 (h2c), /healthz and /metrics over HTTP/1.1.\n"
    "  --port N                 TCP port (default 7070; 0 picks a free one, logged as port=N)\n"
    "  --host ADDR              listen address (default 127.0.0.1)\n"
    "  --data DIR               data directory (default ./data)\n"
    "  --threads N              shard threads (default: online CPUs)\n"
    "  --pin                    pin shard i to CPU i\n"
    "  --max-message-bytes N    largest gRPC message (default 4194304)\n"
    "  --max-concurrent-streams N  per connection (default 100)\n"
    "  --idle-timeout-ms N      GOAWAY to connections idle that long (default 300000; 0 never)\n"
    "  --drain-timeout-ms N     on SIGTERM, time calls get to finish (default 10000)\n"
    "  --port-file PATH         write the bound port there once listening\n"
    "  --log-level L            debug|info|warn|error (default info)\n";

static void on_drain(srv_shard *sh, void *ud)
{
    srv_health_set_all(SRV_HEALTH_NOT_SERVING);
    srv_health_drain_shard();
}

int main(int argc, char **argv)
{
    srv_options o;
    srv_options_defaults(&o);
    int r = srv_options_parse(&o, argc, argv, usage, NULL, NULL);
    if (r != 0) return r > 0 ? 0 : 2;
    pw_grpc_server *g = pw_grpc_server_create(&o.grpc);
    if (!g) {
        fprintf(stderr, "ringqd: out of memory\n");
        return 1;
    }
    srv_health_register("", SRV_HEALTH_SERVING);
    srv_health_register("ringq.v1.Queue", SRV_HEALTH_SERVING);
    srv_health_register("ringq.v1.Admin", SRV_HEALTH_SERVING);
    if (srv_health_add_methods(g) < 0 || srv_reflection_add_methods(g) < 0 ||
        srv_reflection_init(g) < 0) {
        fprintf(stderr, "ringqd: cannot register services\n");
        return 1;
    }
    srv_hooks hooks = {.on_drain = on_drain};
    return srv_run(&o, g, &hooks);
}
