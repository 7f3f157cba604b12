/* server/srv_metrics: /metrics — the runtime's metric families, one function each, and the
 * scrape that puts them together with the service's (srv_hooks.metrics, .metrics_gather).
 *
 * Families here: connections and bytes (per-shard counters), RPCs answered by method and status
 * (ringq_rpc_requests_total), the process (process_* from /proc, the names every Prometheus
 * client library uses), ringq_build_info and the long loop turns' cpu / blocked split
 * (ringq_loop_stall_{cpu,blocked}_seconds; the rest of the stall families are srv_stage.c's).
 * docs/operations.md lists them all. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/rt_version.h"
#include "server/srv_internal.h"
#include "server/srv_metrics.h"

/* ---- text helpers ---- */

void srv_metric_family(buf *out, const char *name, const char *type, const char *help)
{
    char line[SRV_METRIC_LINE_BYTES_MAX];
    int n = snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    if (n > 0) buf_append(out, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static void series(buf *out, const char *name, const char *labels, const char *value)
{
    char line[SRV_METRIC_LINE_BYTES_MAX];
    bool has = labels && *labels;
    int n = snprintf(line, sizeof line, "%s%s%s%s %s\n", name, has ? "{" : "", has ? labels : "",
                     has ? "}" : "", value);
    if (n > 0 && (size_t)n < sizeof line) buf_append(out, line, (size_t)n);
}

void srv_metric_u64(buf *out, const char *name, const char *labels, uint64_t v)
{
    char s[24];
    snprintf(s, sizeof s, "%" PRIu64, v);
    series(out, name, labels, s);
}

void srv_metric_f64(buf *out, const char *name, const char *labels, double v)
{
    char s[40];
    snprintf(s, sizeof s, "%.15g", v); /* 15 digits: a start time to the 10 us, no 0.1 noise */
    series(out, name, labels, s);
}

void srv_metric_histogram(buf *out, const char *name, const char *labels, const uint64_t *bounds,
                          uint32_t nbounds, const uint64_t *buckets, uint64_t count, uint64_t sum,
                          double per_s)
{
    char fam[128], lb[SRV_METRIC_LINE_BYTES_MAX / 2];
    const char *pre = labels && labels[0] ? labels : "", *sep = pre[0] ? "," : "";
    snprintf(fam, sizeof fam, "%s_bucket", name);
    uint64_t cum = 0;
    for (uint32_t i = 0; i <= nbounds; i++) {
        cum += buckets[i];
        if (i < nbounds)
            snprintf(lb, sizeof lb, "%s%sle=\"%.9g\"", pre, sep, (double)bounds[i] / per_s);
        else snprintf(lb, sizeof lb, "%s%sle=\"+Inf\"", pre, sep);
        srv_metric_u64(out, fam, lb, cum);
    }
    snprintf(fam, sizeof fam, "%s_sum", name);
    srv_metric_f64(out, fam, labels, (double)sum / per_s);
    snprintf(fam, sizeof fam, "%s_count", name);
    srv_metric_u64(out, fam, labels, count);
}

size_t srv_metric_escape(char *dst, size_t cap, const char *v, size_t len)
{
    size_t k = 0;
    for (size_t i = 0; i < len && cap > 0; i++) {
        const char *rep = v[i] == '\\'   ? "\\\\"
                          : v[i] == '"'  ? "\\\""
                          : v[i] == '\n' ? "\\n"
                                         : NULL;
        size_t rl = rep ? 2 : 1;
        if (k + rl >= cap) break;
        if (rep) memcpy(dst + k, rep, 2);
        else dst[k] = v[i];
        k += rl;
    }
    if (cap > 0) dst[k] = 0;
    return k;
}

/* ---- families ---- */

static uint64_t ld(const _Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static void one(buf *out, const char *name, const char *type, const char *help, uint64_t v)
{
    srv_metric_family(out, name, type, help);
    srv_metric_u64(out, name, NULL, v);
}

static void metrics_connections(srv_runtime *rt, buf *out)
{
    uint64_t acc = 0, open = 0, rej = 0, h1 = 0, bin = 0, bout = 0, perr = 0, pay = 0, cop = 0,
             zc = 0, tls_ok = 0, tls_fail = 0, tls_k = 0, tls_u = 0;
    for (int i = 0; i < rt->nshards; i++) {
        srv_counters *k = &rt->shards[i].ctr;
        acc += ld(&k->conns_accepted);
        open += ld(&k->conns_open);
        rej += ld(&k->conns_rejected);
        h1 += ld(&k->http1_requests);
        bin += ld(&k->bytes_in);
        bout += ld(&k->bytes_out);
        perr += ld(&k->proto_errors);
        pay += ld(&k->payload_bytes);
        cop += ld(&k->payload_copied_bytes);
        zc += ld(&k->send_zc_bytes);
        tls_ok += ld(&k->tls_handshakes);
        tls_fail += ld(&k->tls_handshake_failures);
        tls_k += ld(&k->tls_ktls);
        tls_u += ld(&k->tls_user);
    }
    one(out, "ringq_connections_accepted_total", "counter", "Connections accepted.", acc);
    one(out, "ringq_connections_open", "gauge", "Connections open now.", open);
    one(out, "ringq_connections_rejected_total", "counter", "Connections refused (limit or drain).",
        rej);
    one(out, "ringq_http1_requests_total", "counter", "HTTP/1.1 requests served.", h1);
    one(out, "ringq_bytes_received_total", "counter", "Bytes received.", bin);
    one(out, "ringq_bytes_sent_total", "counter", "Bytes sent.", bout);
    one(out, "ringq_protocol_errors_total", "counter", "Connections ended by a protocol error.",
        perr);
    one(out, "ringq_payload_delivered_bytes_total", "counter",
        "Task payload bytes delivered (Lease answers, Work deliveries).", pay);
    one(out, "ringq_payload_copied_bytes_total", "counter",
        "Bytes memcpy'd on the delivery path from the log mapping to the socket.", cop);
    one(out, "ringq_send_zc_bytes_total", "counter",
        "Bytes sent with zero-copy sendmsg (the kernel read them in place).", zc);
    one(out, "ringq_send_zc_available", "gauge",
        "1 when the kernel's io_uring has zero-copy sendmsg (large payloads use it).",
        rt->nshards > 0 && ev_loop_has_send_zc(rt->shards[0].loop) ? 1 : 0);
    one(out, "ringq_tls_handshakes_total", "counter", "TLS handshakes completed.", tls_ok);
    one(out, "ringq_tls_handshake_failures_total", "counter",
        "TLS connections closed without a handshake (failed, plaintext, timed out).", tls_fail);
    srv_metric_family(out, "ringq_tls_connections_total", "counter",
                      "TLS connections after the handshake, by where the record layer ran: "
                      "kernel (kTLS) or user (OpenSSL).");
    srv_metric_u64(out, "ringq_tls_connections_total", "record_layer=\"kernel\"", tls_k);
    srv_metric_u64(out, "ringq_tls_connections_total", "record_layer=\"user\"", tls_u);
    one(out, "ringq_shards", "gauge", "Shard threads.", (uint64_t)rt->nshards);
    one(out, "ringq_draining", "gauge", "1 while draining.", (uint64_t)atomic_load(&rt->draining));
}

void srv_metrics_on_rpc_done(void *user, int method_index, pw_grpc_status status)
{
    srv_conn *c = user;
    if (method_index < -1 || method_index >= (int)PW_GRPC_METHODS_MAX ||
        (unsigned)status > PW_GRPC_STATUS_MAX)
        return;
    _Atomic uint64_t *k = &c->sh->rpc_done[method_index + 1][status];
    /* Single writer (the owning shard): a relaxed load+store, as for srv_counters. */
    atomic_store_explicit(k, ld(k) + 1, memory_order_relaxed);
}

/* ringq_rpc_requests_total{method,code}: RPCs answered, summed over the shards; only the pairs
 * seen so far. method "unknown": answered without a call (no such method, bad encoding). */
static void metrics_rpc(srv_runtime *rt, buf *out)
{
    srv_metric_family(out, "ringq_rpc_requests_total", "counter",
                      "gRPC requests answered, by method and status code.");
    size_t nm = pw_grpc_server_nmethods(rt->grpc);
    for (size_t m = 0; m <= nm && m <= PW_GRPC_METHODS_MAX; m++) {
        const pw_grpc_method *pm = m ? pw_grpc_server_method_at(rt->grpc, m - 1) : NULL;
        const char *path = pm ? pm->path + (pm->path[0] == '/') : "unknown";
        for (unsigned st = 0; st <= PW_GRPC_STATUS_MAX; st++) {
            uint64_t v = 0;
            for (int i = 0; i < rt->nshards; i++) v += ld(&rt->shards[i].rpc_done[m][st]);
            if (!v) continue;
            char esc[256], labels[384];
            srv_metric_escape(esc, sizeof esc, path, strlen(path));
            snprintf(labels, sizeof labels, "method=\"%s\",code=\"%s\"", esc,
                     pw_grpc_status_name((int)st));
            srv_metric_u64(out, "ringq_rpc_requests_total", labels, v);
        }
    }
}

/* Fields 14 (utime), 15 (stime), 22 (starttime, ticks after boot) and 24 (rss, pages) of
 * /proc/self/stat (proc(5)). 0 or -EIO. */
static int proc_stat(uint64_t *utime, uint64_t *stime, uint64_t *start, uint64_t *rss)
{
    char b[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f) return -EIO;
    size_t n = fread(b, 1, sizeof b - 1, f);
    fclose(f);
    b[n] = 0;
    char *p = strrchr(b, ')'); /* the command name may hold spaces and parentheses */
    if (!p) return -EIO;
    unsigned long long v[24] = {0};
    int field = 2; /* p is the end of field 2 */
    for (char *s = p + 1; *s && field < 24;) {
        while (*s == ' ') s++;
        field++;
        v[field - 1] = strtoull(s, &s, 10);
        while (*s && *s != ' ') s++;
    }
    if (field < 24) return -EIO;
    *utime = v[13];
    *stime = v[14];
    *start = v[21];
    *rss = v[23];
    return 0;
}

static uint64_t boot_time_s(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long bt = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "btime %llu", &bt) == 1) break;
    fclose(f);
    return bt;
}

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -EIO;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

static void metrics_process(buf *out)
{
    uint64_t ut, st, start, rss;
    long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    if (tck > 0 && page > 0 && proc_stat(&ut, &st, &start, &rss) == 0) {
        srv_metric_family(out, "process_cpu_seconds_total", "counter",
                          "User and system CPU time spent in seconds.");
        srv_metric_f64(out, "process_cpu_seconds_total", NULL, (double)(ut + st) / (double)tck);
        srv_metric_family(out, "process_resident_memory_bytes", "gauge",
                          "Resident memory size in bytes.");
        srv_metric_u64(out, "process_resident_memory_bytes", NULL, rss * (uint64_t)page);
        uint64_t bt = boot_time_s();
        if (bt) {
            srv_metric_family(out, "process_start_time_seconds", "gauge",
                              "Start time of the process since unix epoch in seconds.");
            srv_metric_f64(out, "process_start_time_seconds", NULL,
                           (double)bt + (double)start / (double)tck);
        }
    }
    int fds = open_fds();
    if (fds >= 0)
        one(out, "process_open_fds", "gauge", "Number of open file descriptors.", (uint64_t)fds);
}

static void metrics_build_info(buf *out)
{
    char v[64], g[128], labels[256];
    srv_metric_escape(v, sizeof v, RT_VERSION, strlen(RT_VERSION));
    srv_metric_escape(g, sizeof g, RT_VERSION_GIT, strlen(RT_VERSION_GIT));
    snprintf(labels, sizeof labels, "version=\"%s\",git=\"%s\"", v, g);
    srv_metric_family(out, "ringq_build_info", "gauge",
                      "The running build: version and git revision; value 1.");
    srv_metric_u64(out, "ringq_build_info", labels, 1);
}

/* ---- the long turns' cpu / blocked split (core/ev_stall.h) ---- */

static void stall_part(srv_runtime *rt, buf *out, bool cpu, const char *name, const char *help)
{
    rt_hist h = {0};
    for (int i = 0; i < rt->nshards; i++)
        rt_hist_add(&h, cpu ? &rt->shards[i].stall_cpu : &rt->shards[i].stall_blocked);
    srv_metric_family(out, name, "histogram", help);
    srv_metric_histogram(out, name, NULL, rt_hist_bounds_ns(), RT_HIST_BUCKETS - 1, h.buckets,
                         h.count, h.sum_ns, 1e9);
}

static void metrics_stall_split(srv_runtime *rt, buf *out)
{
    stall_part(rt, out, true, "ringq_loop_stall_cpu_seconds",
               "Shard loop iterations of 1 ms or more: the part of oncpu the thread ran on a CPU "
               "(its CLOCK_THREAD_CPUTIME_ID time, interrupts included).");
    stall_part(rt, out, false, "ringq_loop_stall_blocked_seconds",
               "Shard loop iterations of 1 ms or more: the part of oncpu the thread was asleep "
               "in a call (oncpu minus cpu).");
}

/* ---- the scrape ---- */

int srv_metrics_scrape(srv_shard *sh, buf *body, srv_gather_done_fn done, void *ctx)
{
    srv_runtime *rt = sh->rt;
    metrics_connections(rt, body);
    metrics_rpc(rt, body);
    metrics_process(body);
    metrics_build_info(body);
    srv_stage_metrics(rt, body);
    metrics_stall_split(rt, body);
    if (rt->hooks.metrics) rt->hooks.metrics(body, rt->hooks.ud);
    srv_metrics_gather_fn gather = rt->hooks.metrics_gather;
    if (gather && gather(sh, body, done, ctx, rt->hooks.ud) == 0) return 1;
    return 0;
}
