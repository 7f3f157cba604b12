/* ringqd: the ringq server. */
#include <stdio.h>

#include "core/rt_log.h"
#include "server/srv_api.h"
#include "server/srv_auth.h"
#include "server/srv_health.h"
#include "server/srv_keda.h"
#include "server/srv_reflection.h"
#include "server/srv_queue.h"
#include "server/srv_rates.h"
#include "server/srv_runtime.h"
#include "server/srv_stream.h"
#include "worker/wk_mesh.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: ringqd [--port N] [--host ADDR] [--data DIR] [--threads N] [flags]\n"
    "  ringq task-queue server: gRPC over h2c (or TLS); /healthz and /metrics over HTTP/1.1, h2.\n"
    "  Every flag is checked before anything starts; a bad one exits 2 with its range.\n"
    "  --port N                 TCP port, 0..65535 (default 7070; 0 picks a free one, logged\n"
    "                           as port=N); a port held by anything else: \"address in use\"\n"
    "  --host ADDR              IPv4/IPv6 address, localhost or * (default 127.0.0.1); beyond\n"
    "                           loopback only with TLS and --auth-file, or --insecure\n"
    "  --auth-file PATH         tokens and permissions (docs/security.md); reread on SIGHUP\n"
    "  --insecure               allow a non-loopback --host without TLS and tokens\n"
    "  --data DIR               data directory (default ./data), one ringqd at a time\n"
    "  --threads N              shard threads, 1..64 (default: online CPUs)\n"
    "  --pin                    pin shard i to CPU i\n"
    "  --max-message-bytes N    largest gRPC message, 1024..1073741824 (default 4194304)\n"
    "  --max-concurrent-streams N  per connection, 1..1048576 (default 100)\n"
    "  --handshake-timeout-ms N time for the preface or a request head, >= 1 (default 10000)\n"
    "  --idle-timeout-ms N      GOAWAY to connections idle that long (default 300000; 0 never)\n"
    "  --drain-timeout-ms N     on SIGTERM, time calls get to finish (default 10000)\n"
    "  --send-zc-min-bytes N    send zero-copy when a send carries N bytes of payload or more\n"
    "                           (0..4294967295, default 4294967295: never)\n"
    "  --fsync POLICY           always (default: ack and deliver after fdatasync) | interval:MS\n"
    "                           (MS 1..60000) | never (docs/semantics.md, Durability)\n"
    "  --partitions N           partitions of a new data directory, 1..1024 (default 16; fixed\n"
    "                           after)\n"
    "  --segment-bytes N        log segment size, a multiple of 4096 from 4198400 to 1073741824\n"
    "                           (default 67108864)\n"
    "  --spin-us N              after cross-shard traffic, poll N us before sleeping, 0..1000\n"
    "                           (default 20; 0: always sleep at once)\n"
    "  --busy-spin-us N         a shard busy 1/4 of its time polls N us after a turn with work\n"
    "                           unless a commit is in flight, 0..1000 (default 0: never)\n"
    "  --port-file PATH         write the bound port there once listening\n"
    "  --tls-cert FILE          TLS on the port (TLS 1.2/1.3, ALPN h2, http/1.1): PEM chain,\n"
    "  --tls-key FILE           and its key; both reloaded on SIGHUP (docs/security.md)\n"
    "  --tls-client-ca FILE     mutual TLS: require client certificates signed by these CAs\n"
    "  --ktls on|off            after a TLS 1.3 handshake, hand the record layer to the kernel\n"
    "                           (kTLS) where it has the cipher (default on; else user space)\n"
    "  --log-level L            debug|info|warn|error (default info)\n"
    "  --ui MODE                the dashboard at / and the JSON API's changes: on (default) |\n"
    "                           read-only (no actions; changes refused) | off (no dashboard)\n"
    "  --admin-token T          changes through the JSON API need X-Ringq-Token: T (default:\n"
    "                           no token, changes from loopback only; docs/http-api.md)\n"
    "  --admin-token-file PATH  the same, read from a file (first line); not with --auth-file\n"
    "  --version                print the version and exit\n"
    "  Under systemd (Type=notify) READY=1 is sent once listening, STOPPING=1 on SIGTERM.\n";

static void on_drain(srv_shard *sh, void *ud)
{
    srv_health_set_all(SRV_HEALTH_NOT_SERVING);
    log_debug("health not serving", NULL);
    srv_health_drain_shard();
    srv_keda_drain_shard();
    srv_queue_on_drain(sh, ud);
}

static void shard_init(srv_shard *sh, void *ud)
{
    srv_queue_shard_init(sh, ud);
    srv_rates_shard_init(sh);
}

static void shard_fini(srv_shard *sh, void *ud)
{
    srv_rates_shard_fini(sh);
    srv_queue_shard_fini(sh, ud);
}

static int say_range(const char *flag, const char *value, unsigned long long lo,
                     unsigned long long hi, const char *more)
{
    fprintf(stderr, "ringqd: --%s must be between %llu and %llu%s (got '%s')\n", flag, lo, hi, more,
            value);
    return SRV_FLAG_BAD_SAID;
}

static bool parse_ul(const char *s, unsigned long *v)
{
    char *end;
    errno = 0;
    *v = strtoul(s, &end, 10);
    return *s && *s != '-' && !*end && errno == 0;
}

static const char *auth_file; /* --auth-file, or NULL: no tokens (docs/security.md) */

static int extra_flag(const char *name, const char *value, void *ud)
{
    srv_queue_opts *q = ud;
    int api = srv_api_flag(name, value);
    if (api != 0) return api;
    static const char *const mine[] = {"fsync",         "partitions", "spin-us",
                                       "segment-bytes", "auth-file",  "busy-spin-us"};
    bool known = false;
    for (size_t i = 0; i < sizeof mine / sizeof mine[0]; i++) known |= strcmp(name, mine[i]) == 0;
    if (!known) return 0;
    if (!value) return 1; /* only asked whether the flag is ours */
    unsigned long v;
    if (strcmp(name, "auth-file") == 0) {
        auth_file = value;
        return *value ? 1 : SRV_FLAG_BAD;
    }
    if (strcmp(name, "fsync") == 0) {
        if (q_commit_policy_parse(value, &q->log) == 0) return 1;
        fprintf(stderr,
                "ringqd: --fsync must be always, never or interval:MS with MS 1..%u (got '%s')\n",
                Q_INTERVAL_MS_MAX, value);
        return SRV_FLAG_BAD_SAID;
    }
    if (strcmp(name, "partitions") == 0) {
        if (!parse_ul(value, &v) || v == 0 || v > SRV_PARTITIONS_MAX)
            return say_range(name, value, 1, SRV_PARTITIONS_MAX, "");
        q->partitions = (uint32_t)v;
        return 1;
    }
    if (strcmp(name, "spin-us") == 0 || strcmp(name, "busy-spin-us") == 0) {
        if (!parse_ul(value, &v) || v > WK_MESH_SPIN_NS_MAX / 1000u)
            return say_range(name, value, 0, WK_MESH_SPIN_NS_MAX / 1000u, "");
        *(name[0] == 's' ? &q->spin_ns : &q->busy_spin_ns) = (uint64_t)v * 1000u;
        return 1;
    }
    /* segment-bytes: the range q_log_open accepts, so a bad size never reaches a shard. */
    uint32_t lo = q_log_segment_bytes_min(&q->log), hi = q_log_segment_bytes_max();
    if (!parse_ul(value, &v) || v < lo || v > hi || v % Q_SEG_ALIGN_BYTES != 0)
        return say_range(name, value, lo, hi, " and a multiple of 4096");
    q->log.segment_bytes = (uint32_t)v;
    return 1;
}

int main(int argc, char **argv)
{
    srv_options o;
    srv_options_defaults(&o);
    srv_queue_opts qo;
    memset(&qo, 0, sizeof qo);
    q_log_opts_default(&qo.log);
    qo.spin_ns = SRV_SPIN_NS_DEFAULT;
    qo.busy_spin_ns = SRV_BUSY_SPIN_NS_DEFAULT;
    int r = srv_options_parse(&o, argc, argv, usage, extra_flag, &qo);
    if (r != 0) return r > 0 ? 0 : 2;
    if (srv_auth_exposure_check(o.prog, o.host, o.tls_cert != NULL, auth_file != NULL, o.insecure) <
        0)
        return 2;
    if (auth_file && srv_auth_start(auth_file) < 0) return 2;
    if (srv_api_check_flags(auth_file != NULL) < 0) return 2;
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
    srv_health_register("ringq.v1.Streams", SRV_HEALTH_SERVING);
    if (srv_queue_add_methods(g) < 0 || srv_admin_add_methods(g) < 0 ||
        srv_stream_add_methods(g) < 0 || srv_health_add_methods(g) < 0 ||
        srv_keda_add_methods(g) < 0 || srv_reflection_add_methods(g) < 0 ||
        srv_reflection_init(g) < 0 || srv_auth_bind(g) < 0) {
        fprintf(stderr, "ringqd: cannot register services\n");
        return 1;
    }
    srv_hooks hooks = {.shard_init = shard_init,
                       .shard_fini = shard_fini,
                       .on_drain = on_drain,
                       .metrics = srv_queue_metrics,
                       .metrics_gather = srv_metrics_gather_all};
    return srv_run(&o, g, &hooks);
}
