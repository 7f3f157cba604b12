/* bench/rb_main: ringq-bench's command line. Parses the options into rb_opts, picks the driver,
 * runs the engine and writes the result JSON. Exit 0 when the run passed, 1 when it failed, 2 on
 * bad usage. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/rb_engine.h"
#include "core/rt_version.h"

static const char usage_text[] =
    "usage: ringq-bench <rpc|enqueue|e2e|drain> --system ringq|grpc|beanstalkd|redis|jetstream "
    "[options]\n"
    "       ringq-bench <publish|fanout> --system ringq|ringq-unary|redis|jetstream [options]\n"
    "                        (streams; ringq-unary: one unary Publish per send;\n"
    "       also spelled ringq-bench --mode publish|fanout ...)\n"
    "  --addr HOST:PORT      system address (defaults per system: ringq/grpc 127.0.0.1:7070,\n"
    "                        beanstalkd :11300, redis :6379, jetstream :4222)\n"
    "  --queue NAME          queue/tube/list/stream (default \"bench\")\n"
    "  --method PATH         rpc: gRPC path (default /grpc.health.v1.Health/Check; ringq:\n"
    "                        /ringq.v1.Admin/GetQueue on --queue)\n"
    "  --size BYTES          payload / request bytes (default 100; min 16 for the stamp)\n"
    "  --batch N             tasks per producer send (default 1)\n"
    "  --conns N             producer (or rpc) connections (default 1)\n"
    "  --inflight N          operations in flight per connection, closed loop (default 1;\n"
    "                        open loop: the cap on outstanding operations, default 1024)\n"
    "  --rate R              open loop: R operations/s in total (0 = closed loop, the default)\n"
    "  --tick-us N           open loop: send passes at least N us apart, the slots due in\n"
    "                        between leave together (default 100; 0: a pass per slot)\n"
    "  --workers N           consumer connections for e2e/drain (fanout: per group; default 1)\n"
    "  --groups N            fanout: consumer groups, each receiving every message (default 1)\n"
    "  --credits N           tasks outstanding per consumer (default 64)\n"
    "  --threads N           generator threads (default 1); connections spread round-robin\n"
    "  --warmup S --duration S   (defaults 2 and 10; may be fractional)\n"
    "  --preload N           drain: tasks loaded before consuming (default 100000)\n"
    "  --lease-ms N          consumer lease / ack wait (default 30000)\n"
    "  --subjects N          publish/fanout on ringq: subjects <queue>.0..N-1 in turn (default 1:\n"
    "                        <queue> alone); --stream-partitions N: the stream's partitions\n"
    "  --label TEXT          copied into the result\n"
    "  --json FILE           write the JSON result there (default: stdout)\n"
    "  --quiet               no progress line\n"
    "  --tls, --ca FILE, --cert FILE, --key FILE   ringq/grpc over TLS (libringq's, server\n"
    "                        verified; the same as $RINGQ_TLS=1, $RINGQ_TLS_CA, _CERT, _KEY)\n"
    "  --server-pid PID      record that process's CPU time (user + system) over the measured\n"
    "                        window: server_cpu_s and server_cpu_us_per_task in the JSON\n"
    "                        (the generator's own: client_cpu_s, _us_per_task, _util, always)\n"
    "  --version             print the version and exit\n"
    "publish/fanout: enqueue/e2e on a stream (ringq Publish/Consume, Redis XADD/XREADGROUP/\n"
    "XACK, JetStream durable pull consumers); fanout's tasks/s counts messages acked by every\n"
    "group.\n"
    "e2e closed loop: producers pause while max(4 x conns x inflight x batch, 1024) tasks are\n"
    "stamped but not yet received, until that backlog halves. Exit: 0 passed, 1 failed, 2 usage.\n";

static int usage(const char *why)
{
    if (why) fprintf(stderr, "ringq-bench: %s\n", why);
    fputs(usage_text, stderr);
    return 2;
}

static bool parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-') return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static bool parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
    uint64_t v;
    if (!parse_u64(s, lo, hi, &v)) return false;
    *out = (uint32_t)v;
    return true;
}

static bool parse_secs(const char *s, double lo, double *out)
{
    char *end;
    errno = 0;
    if (!s || !*s) return false;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < lo || v > 1e7) return false;
    *out = v;
    return true;
}

static const char *default_addr(const char *system)
{
    if (strcmp(system, "beanstalkd") == 0) return "127.0.0.1:11300";
    if (strcmp(system, "redis") == 0) return "127.0.0.1:6379";
    if (strcmp(system, "jetstream") == 0) return "127.0.0.1:4222";
    return "127.0.0.1:7070";
}

int main(int argc, char **argv)
{
    enum {
        O_ADDR = 256,
        O_QUEUE,
        O_METHOD,
        O_SIZE,
        O_BATCH,
        O_CONNS,
        O_INFLIGHT,
        O_RATE,
        O_WORKERS,
        O_CREDITS,
        O_THREADS,
        O_WARMUP,
        O_DURATION,
        O_PRELOAD,
        O_LEASE,
        O_LABEL,
        O_JSON,
        O_QUIET,
        O_SERVER_PID,
        O_SYSTEM,
        O_TLS,
        O_CA,
        O_CERT,
        O_KEY,
        O_GROUPS,
        O_SUBJECTS,
        O_SPARTS,
        O_TICK,
        O_HELP
    };
    static const struct option lo[] = {
        {"system", required_argument, 0, O_SYSTEM},
        {"addr", required_argument, 0, O_ADDR},
        {"queue", required_argument, 0, O_QUEUE},
        {"method", required_argument, 0, O_METHOD},
        {"size", required_argument, 0, O_SIZE},
        {"batch", required_argument, 0, O_BATCH},
        {"conns", required_argument, 0, O_CONNS},
        {"inflight", required_argument, 0, O_INFLIGHT},
        {"rate", required_argument, 0, O_RATE},
        {"tick-us", required_argument, 0, O_TICK},
        {"workers", required_argument, 0, O_WORKERS},
        {"groups", required_argument, 0, O_GROUPS},
        {"subjects", required_argument, 0, O_SUBJECTS},
        {"stream-partitions", required_argument, 0, O_SPARTS},
        {"credits", required_argument, 0, O_CREDITS},
        {"threads", required_argument, 0, O_THREADS},
        {"warmup", required_argument, 0, O_WARMUP},
        {"duration", required_argument, 0, O_DURATION},
        {"preload", required_argument, 0, O_PRELOAD},
        {"lease-ms", required_argument, 0, O_LEASE},
        {"label", required_argument, 0, O_LABEL},
        {"json", required_argument, 0, O_JSON},
        {"quiet", no_argument, 0, O_QUIET},
        {"server-pid", required_argument, 0, O_SERVER_PID},
        {"tls", no_argument, 0, O_TLS},
        {"ca", required_argument, 0, O_CA},
        {"cert", required_argument, 0, O_CERT},
        {"key", required_argument, 0, O_KEY},
        {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0},
    };
    rb_opts o = {.t = {.queue = "bench", .size = 100, .lease_ms = 30000},
                 .batch = 1,
                 .conns = 1,
                 .inflight = 1,
                 .workers = 1,
                 .groups = 1,
                 .credits = 64,
                 .threads = 1,
                 .warmup_s = 2,
                 .duration_s = 10,
                 .preload = 100000};
    if (argc < 2) return usage(NULL);
    const char *sc = argv[1];
    /* `--mode publish|fanout` first is the streams scenarios' other spelling. */
    int first_opt = 2;
    if (strcmp(sc, "--mode") == 0) {
        if (argc < 3 || (strcmp(argv[2], "publish") != 0 && strcmp(argv[2], "fanout") != 0))
            return usage("--mode is publish or fanout");
        sc = argv[2];
        first_opt = 3;
    }
    if (strcmp(sc, "-h") == 0 || strcmp(sc, "--help") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (strcmp(sc, "--version") == 0) {
        printf("ringq-bench %s (%s)\n", RT_VERSION, RT_VERSION_GIT);
        return 0;
    }
    if (strcmp(sc, "rpc") == 0) o.scenario = RB_RPC;
    else if (strcmp(sc, "enqueue") == 0) o.scenario = RB_ENQUEUE;
    else if (strcmp(sc, "e2e") == 0) o.scenario = RB_E2E;
    else if (strcmp(sc, "drain") == 0) o.scenario = RB_DRAIN;
    else if (strcmp(sc, "publish") == 0) o.scenario = RB_ENQUEUE, o.streams = true;
    else if (strcmp(sc, "fanout") == 0) o.scenario = RB_E2E, o.streams = true;
    else
        return usage("the first argument is the scenario: rpc, enqueue, e2e, drain, publish or "
                     "fanout");
    optind = first_opt;
    uint64_t v64;
    uint32_t v32;
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        const char *a = optarg;
        bool ok = true;
        switch (c) {
        case O_SYSTEM: o.system = a; break;
        case O_ADDR: o.t.addr = a; break;
        case O_QUEUE:
            o.t.queue = a;
            ok = *a != 0;
            break;
        case O_METHOD:
            o.t.method = a;
            ok = a[0] == '/';
            break;
        case O_SIZE:
            ok = parse_u64(a, 0, RB_SIZE_MAX, &v64);
            o.t.size = (size_t)v64;
            break;
        case O_BATCH: ok = parse_u32(a, 1, RB_BATCH_MAX, &o.batch); break;
        case O_CONNS: ok = parse_u32(a, 1, RB_CONNS_MAX, &o.conns); break;
        case O_INFLIGHT:
            ok = parse_u32(a, 1, 1u << 20, &o.inflight);
            o.inflight_set = true;
            break;
        case O_RATE: ok = parse_secs(a, 0, &o.rate); break;
        case O_TICK:
            ok = parse_u32(a, 0, RB_TICK_US_MAX, &o.tick_us);
            o.tick_set = true;
            break;
        case O_WORKERS: ok = parse_u32(a, 1, RB_CONNS_MAX, &o.workers); break;
        case O_GROUPS: ok = parse_u32(a, 1, RB_GROUPS_MAX, &o.groups); break;
        case O_SUBJECTS: ok = parse_u32(a, 1, RB_SUBJECTS_MAX, &o.t.subjects); break;
        case O_SPARTS: ok = parse_u32(a, 1, RB_STREAM_PARTS_MAX, &o.t.parts); break;
        case O_CREDITS: ok = parse_u32(a, 1, 1u << 20, &o.credits); break;
        case O_THREADS: ok = parse_u32(a, 1, RB_THREADS_MAX, &o.threads); break;
        case O_WARMUP: ok = parse_secs(a, 0, &o.warmup_s); break;
        case O_DURATION: ok = parse_secs(a, 0.001, &o.duration_s); break;
        case O_PRELOAD: ok = parse_u64(a, 1, RB_PRELOAD_MAX, &o.preload); break;
        case O_LEASE: ok = parse_u32(a, 1, UINT32_MAX, &o.t.lease_ms); break;
        case O_LABEL: o.label = a; break;
        case O_JSON: o.json_path = a; break;
        case O_QUIET: o.quiet = true; break;
        case O_SERVER_PID:
            ok = parse_u32(a, 1, INT32_MAX, &v32);
            o.server_pid = (int)v32;
            break;
        /* Every ringq/grpc connection is a libringq client, which reads these (ringq.h). */
        case O_TLS: ok = setenv("RINGQ_TLS", "1", 1) == 0; break;
        case O_CA: ok = *a && setenv("RINGQ_TLS_CA", a, 1) == 0; break;
        case O_CERT: ok = *a && setenv("RINGQ_TLS_CERT", a, 1) == 0; break;
        case O_KEY: ok = *a && setenv("RINGQ_TLS_KEY", a, 1) == 0; break;
        case O_HELP: fputs(usage_text, stdout); return 0;
        default: return usage(NULL);
        }
        if (!ok) {
            char why[160] = "bad option value";
            for (size_t i = 0; lo[i].name; i++)
                if (lo[i].val == c)
                    snprintf(why, sizeof why, "bad value for --%s: '%s'", lo[i].name, a ? a : "");
            return usage(why);
        }
    }
    if (optind < argc) return usage("unexpected argument");
    if (!o.system) return usage("--system is required");
    if (o.t.size < RB_STAMP_BYTES) return usage("--size must be at least 16 (the stamp)");
    bool known;
    if (o.groups > 1 && !(o.streams && o.scenario == RB_E2E))
        return usage("--groups is for the fanout scenario");
    if ((uint64_t)o.groups * o.workers > RB_CONNS_MAX)
        return usage("--groups x --workers: too many consumer connections");
    const rb_driver *d = rb_driver_find(o.system, o.streams, &known);
    if (!known)
        return usage(o.streams ? "unknown --system for streams (ringq, redis or jetstream)"
                               : "unknown --system");
    o.t.stream = o.streams;
    o.t.groups = o.streams && o.scenario == RB_E2E ? o.groups : 0;
    if (!o.t.addr) o.t.addr = default_addr(o.system);
    rb_result *r = calloc(1, sizeof *r);
    if (!r) {
        fprintf(stderr, "ringq-bench: out of memory\n");
        return 1;
    }
    if (!d) {
        r->backlog_end = -1;
        r->errors = 1;
        snprintf(r->error, sizeof r->error, "driver not built: %s%s", o.system,
                 o.streams ? " (streams)" : "");
    } else {
        rb_engine_run(&o, d, r);
    }
    FILE *f = stdout;
    if (o.json_path && !(f = fopen(o.json_path, "w"))) {
        fprintf(stderr, "ringq-bench: cannot write %s: %s\n", o.json_path, strerror(errno));
        free(r);
        return 1;
    }
    rb_report_json(f, &o, d, r);
    if (f != stdout) fclose(f);
    else fflush(stdout);
    if (!r->passed) fprintf(stderr, "ringq-bench: FAILED: %s\n", r->error);
    int rc = r->passed ? 0 : 1;
    free(r);
    return rc;
}
