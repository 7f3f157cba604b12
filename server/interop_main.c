/* ringq-interop-server: grpc.testing.TestService (plus health and reflection) on the ringq
 * runtime, for gRPC's interop client and our integration tests. */
#include <stdio.h>

#include "core/rt_log.h"
#include "server/srv_health.h"
#include "server/srv_interop.h"
#include "server/srv_reflection.h"
#include "server/srv_runtime.h"

static const char usage[] =
    "usage: ringq-interop-server [--port N] [--host ADDR] [--threads N] [flags]\n"
    "  gRPC interop TestService, health and reflection on HTTP/2 (h2c).\n"
    "  --port N                 TCP port, 0..65535 (default 7070; 0 picks a free one, logged\n"
    "                           as port=N); a port held by anything else: \"address in use\"\n"
    "  --host ADDR              IPv4/IPv6 address, localhost or * (default 127.0.0.1)\n"
    "  --threads N              shard threads, 1..64 (default: online CPUs)\n"
    "  --pin                    pin shard i to CPU i\n"
    "  --max-message-bytes N    largest gRPC message, 1024..1073741824 (default 4194304)\n"
    "  --max-concurrent-streams N  per connection, 1..1048576 (default 100)\n"
    "  --handshake-timeout-ms N, --idle-timeout-ms N, --drain-timeout-ms N,\n"
    "  --send-zc-min-bytes N    as for ringqd\n"
    "  --port-file PATH         write the bound port there once listening\n"
    "  --tls-cert FILE --tls-key FILE [--tls-client-ca FILE]   TLS (as ringqd's)\n"
    "  --log-level L            debug|info|warn|error (default info)\n"
    "  --version                print the version and exit\n";

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
    if (!g || srv_interop_init(o.grpc.max_send_message_bytes ? o.grpc.max_send_message_bytes
                                                             : 4u << 20) < 0) {
        fprintf(stderr, "ringq-interop-server: out of memory\n");
        return 1;
    }
    srv_health_register("", SRV_HEALTH_SERVING);
    srv_health_register("grpc.testing.TestService", SRV_HEALTH_SERVING);
    if (srv_interop_add_methods(g) < 0 || srv_health_add_methods(g) < 0 ||
        srv_reflection_add_methods(g) < 0 || srv_reflection_init(g) < 0) {
        fprintf(stderr, "ringq-interop-server: cannot register services\n");
        return 1;
    }
    srv_hooks hooks = {.on_drain = on_drain};
    return srv_run(&o, g, &hooks);
}
