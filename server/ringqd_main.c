/* ringqd: the ringq server. */
#include <stdio.h>

#include "core/rt_log.h"
#include "server/srv_health.h"
#include "server/srv_reflection.h"
#include "server/srv_queue.h"
#include "server/srv_runtime.h"
#include "worker/wk_mesh.h"
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: ringqd [--port N] [--host ADDR] [--data DIR] [--threads N] [flags]\n"
    "  ringq task-queue server: gRPC over h2c; /healthz and /metrics over HTTP/1.1 and h2c.\n"
    "  --port N                 TCP port (default 7070; 0 picks a free one, logged as port=N)\n"
    "  --host ADDR              listen address (default 127.0.0.1)\n"
    "  --data DIR               data directory (default ./data)\n"
    "  --threads N              shard threads (default: online CPUs)\n"
    "  --pin                    pin shard i to CPU i\n"
    "  --max-message-bytes N    largest gRPC message (default 4194304)\n"
    "  --max-concurrent-streams N  per connection (default 100)\n"
    "  --idle-timeout-ms N      GOAWAY to connections idle that long (default 300000; 0 never)\n"
    "  --drain-timeout-ms N     on SIGTERM, time calls get to finish (default 10000)\n"
    "  --fsync POLICY           always (default: ack after fdatasync) | interval:MS | never\n"
    "  --partitions N           partitions of a new data directory (default 16; fixed after)\n"
    "  --segment-bytes N        log segment size (default 67108864)\n"
    "  --spin-us N              after cross-shard traffic, poll N us before sleeping\n"
    "                           (default 20; 0: always sleep at once)\n"
    "  --port-file PATH         write the bound port there once listening\n"
    "  --log-level L            debug|info|warn|error (default info)\n";

static void on_drain(srv_shard *sh, void *ud)
{
    srv_health_set_all(SRV_HEALTH_NOT_SERVING);
    srv_health_drain_shard();
    srv_queue_on_drain(sh, ud);
}

static int extra_flag(const char *name, const char *value, void *ud)
{
    srv_queue_opts *q = ud;
    char *end;
    if (strcmp(name, "fsync") == 0) return q_commit_policy_parse(value, &q->log) == 0 ? 1 : -1;
    if (strcmp(name, "partitions") == 0) {
        unsigned long v = strtoul(value, &end, 10);
        if (*end || v == 0 || v > SRV_PARTITIONS_MAX) return -1;
        q->partitions = (uint32_t)v;
        return 1;
    }
    if (strcmp(name, "spin-us") == 0) {
        unsigned long v = strtoul(value, &end, 10);
        if (*end || !*value || v * 1000u > WK_MESH_SPIN_NS_MAX) return -1;
        q->spin_ns = (uint64_t)v * 1000u;
        return 1;
    }
    if (strcmp(name, "segment-bytes") == 0) {
        unsigned long v = strtoul(value, &end, 10);
        if (*end || v < 65536 || v > (1ul << 31)) return -1;
        q->log.segment_bytes = (uint32_t)v;
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    srv_options o;
    srv_options_defaults(&o);
    srv_queue_opts qo;
    memset(&qo, 0, sizeof qo);
    q_log_opts_default(&qo.log);
    qo.spin_ns = SRV_SPIN_NS_DEFAULT;
    int r = srv_options_parse(&o, argc, argv, usage, extra_flag, &qo);
    if (r != 0) return r > 0 ? 0 : 2;
    qo.data_dir = o.data_dir;
    qo.max_msg_bytes = o.grpc.max_send_message_bytes;
    int nshards = o.threads > 0 ? o.threads : rt_cpu_count();
    o.threads = nshards;
    if (srv_queue_setup(&qo, nshards) != 0) return 1;
    pw_grpc_server *g = pw_grpc_server_create(&o.grpc);
    if (!g) {
        fprintf(stderr, "ringqd: out of memory\n");
        return 1;
    }
    srv_health_register("", SRV_HEALTH_SERVING);
    srv_health_register("ringq.v1.Queue", SRV_HEALTH_SERVING);
    srv_health_register("ringq.v1.Admin", SRV_HEALTH_SERVING);
    if (srv_queue_add_methods(g) < 0 || srv_admin_add_methods(g) < 0 ||
        srv_health_add_methods(g) < 0 || srv_reflection_add_methods(g) < 0 ||
        srv_reflection_init(g) < 0) {
        fprintf(stderr, "ringqd: cannot register services\n");
        return 1;
    }
    srv_hooks hooks = {.shard_init = srv_queue_shard_init, .shard_fini = srv_queue_shard_fini,
                       .on_drain = on_drain, .metrics = srv_queue_metrics,
                       .metrics_gather = srv_queue_metrics_gather};
    return srv_run(&o, g, &hooks);
}
