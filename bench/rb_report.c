/* bench/rb_report: ringq-bench's result as one JSON object (see rb_engine.h and rb_main.c for
 * the fields). Latencies are in microseconds. */
#include <inttypes.h>
#include <stdio.h>

#include "bench/rb_engine.h"

static void jstr(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

static const char *scenario_name(const rb_opts *o)
{
    if (o->streams) return o->scenario == RB_E2E ? "fanout" : "publish";
    static const char *n[] = {"rpc", "enqueue", "e2e", "drain"};
    return (unsigned)o->scenario < 4u ? n[o->scenario] : "?";
}

static double us(uint64_t ns) { return (double)ns / 1e3; }

/* Open loop: the share of sends that left late, split by what they waited for, with the verdict
 * on whether the generator kept its schedule (its CPU is client_cpu_*). */
static void gen_report(FILE *f, const rb_opts *o, const rb_result *r)
{
    if (o->rate <= 0 || o->scenario == RB_DRAIN) return;
    double n = r->ops_started ? (double)r->ops_started : 1;
    fprintf(f, ",\"tick_us\":%u,\"sched_passes\":%" PRIu64 ",\"sends_per_pass\":%.3f", r->tick_us,
            r->passes, r->passes ? (double)r->ops_started / (double)r->passes : 0.0);
    double share = (double)r->late_sends / n, cap = (double)r->late_cap_sends / n;
    fprintf(f,
            ",\"ops_started\":%" PRIu64 ",\"late_cap_sends\":%" PRIu64
            ",\"late_share\":%.6f,\"late_cap_share\":%.6f,\"late_gen_share\":%.6f"
            ",\"cap_limited\":%s,\"generator_limited\":%s",
            r->ops_started, r->late_cap_sends, share, cap, share - cap,
            cap > RB_GEN_LIMITED_LATE_SHARE ? "true" : "false",
            share - cap > RB_GEN_LIMITED_LATE_SHARE ? "true" : "false");
}

/* What the generator paid per task: its loop iterations and its threads' sleeps (each a wake-up)
 * in the measured window, per task counted there; its driver's socket writes over the run, per
 * task stamped (or per call: rpc). Load-independent where CPU time is not. */
static void gen_costs(FILE *f, const rb_opts *o, const rb_result *r)
{
    double win = r->tasks ? (double)r->tasks : 1;
    fprintf(f, ",\"loop_turns\":%" PRIu64 ",\"turns_per_task\":%.4f", r->turns,
            (double)r->turns / win);
    if (r->sleeps >= 0)
        fprintf(f, ",\"sleeps\":%" PRId64 ",\"sleeps_per_task\":%.4f", r->sleeps,
                (double)r->sleeps / win);
    uint64_t all = o->scenario == RB_RPC ? r->ops_started : r->stamped;
    if (r->driver_writes >= 0)
        fprintf(f, ",\"driver_writes\":%" PRId64 ",\"writes_per_task\":%.4f", r->driver_writes,
                all ? (double)r->driver_writes / (double)all : 0.0);
}

void rb_report_json(FILE *f, const rb_opts *o, const rb_driver *d, const rb_result *r)
{
    const rb_hist *h = &r->hist;
    fputs("{\"scenario\":", f);
    jstr(f, scenario_name(o));
    fputs(",\"system\":", f);
    jstr(f, o->system);
    fputs(",\"label\":", f);
    jstr(f, o->label ? o->label : "");
    fputs(",\"system_version\":", f);
    jstr(f, r->version);
    fputs(",\"config\":{\"addr\":", f);
    jstr(f, o->t.addr);
    fputs(",\"queue\":", f);
    jstr(f, o->t.queue);
    fputs(",\"method\":", f);
    jstr(f, o->t.method);
    fprintf(
        f,
        ",\"size\":%zu,\"batch\":%u,\"conns\":%u,\"inflight\":%u,\"rate\":%.3f,"
        "\"workers\":%u,\"groups\":%u,\"credits\":%u,\"threads\":%u,\"warmup_s\":%.3f,\"duration_s\":%.3f,"
        "\"preload\":%" PRIu64 ",\"lease_ms\":%u,\"loop\":\"%s\",\"size_effective\":%zu,"
        "\"batch_effective\":%u,\"max_backlog\":%" PRIu64 "}",
        o->t.size, o->batch, o->conns, o->inflight, o->rate, o->workers,
        o->streams && o->scenario == RB_E2E ? o->groups : 0, o->credits, o->threads, o->warmup_s,
        o->duration_s, o->preload, o->t.lease_ms,
        o->rate > 0 && o->scenario != RB_DRAIN ? "open" : "closed", r->size_effective,
        r->batch_effective, r->max_backlog);
    fprintf(f,
            ",\"duration_s\":%.6f,\"ops\":%" PRIu64 ",\"tasks\":%" PRIu64 ",\"ops_per_s\":%.1f,"
            "\"tasks_per_s\":%.1f,\"errors\":%" PRIu64 ",\"late_sends\":%" PRIu64,
            r->duration_s, r->ops, r->tasks, r->ops_per_s, r->tasks_per_s, r->errors,
            r->late_sends);
    fprintf(f,
            ",\"latency_us\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f,"
            "\"min\":%.3f,\"mean\":%.3f,\"count\":%" PRIu64 "}",
            us(rb_hist_quantile(h, 0.5)), us(rb_hist_quantile(h, 0.9)),
            us(rb_hist_quantile(h, 0.99)), us(rb_hist_quantile(h, 0.999)), us(h->max), us(h->min),
            rb_hist_mean(h) / 1e3, h->n);
    if (o->scenario == RB_E2E) {
        const rb_hist *oh = &r->op_hist;
        fprintf(f,
                ",\"send_latency_us\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f,\"count\":%" PRIu64
                "}",
                us(rb_hist_quantile(oh, 0.5)), us(rb_hist_quantile(oh, 0.99)), us(oh->max), oh->n);
    }
    uint64_t vals[RB_CDF_POINTS];
    double fr[RB_CDF_POINTS];
    size_t n = rb_hist_cdf(h, RB_CDF_POINTS, vals, fr);
    fputs(",\"cdf\":[", f);
    for (size_t i = 0; i < n; i++) fprintf(f, "%s[%.3f,%.6f]", i ? "," : "", us(vals[i]), fr[i]);
    fputc(']', f);
    fprintf(f,
            ",\"op_errors\":%" PRIu64 ",\"ack_errors\":%" PRIu64 ",\"stamped\":%" PRIu64
            ",\"enqueued\":%" PRIu64 ",\"enqueue_errors\":%" PRIu64 ",\"received\":%" PRIu64
            ",\"acked\":%" PRIu64 ",\"duplicates\":%" PRIu64 ",\"foreign\":%" PRIu64
            ",\"preloaded\":%" PRIu64,
            r->op_errors, r->ack_errors, r->stamped, r->enqueued, r->enqueue_errors, r->received,
            r->acked, r->duplicates, r->foreign, r->preloaded);
    /* CPU seconds to the microsecond: at ms resolution a short run's few thousand tasks made
     * cpu_s x 1e6 / tasks differ from the per-task figure by over 1 % (a CI run: 23.19 against
     * 23.45 us). */
    if (r->server_cpu_s >= 0 && r->tasks > 0)
        fprintf(f, ",\"server_cpu_s\":%.6f,\"server_cpu_us_per_task\":%.4f", r->server_cpu_s,
                r->server_cpu_s * 1e6 / (double)r->tasks);
    /* The generator's own CPU: client_cpu_util near --threads means the client, not the server,
     * bounds the rate (bench/cpu_per_task.sh prints it). */
    if (r->client_cpu_s >= 0 && r->tasks > 0 && r->duration_s > 0)
        fprintf(f,
                ",\"client_cpu_s\":%.6f,\"client_cpu_us_per_task\":%.4f,\"client_cpu_util\":%.3f",
                r->client_cpu_s, r->client_cpu_s * 1e6 / (double)r->tasks,
                r->client_cpu_s / r->duration_s);
    if (r->driver_allocs >= 0) fprintf(f, ",\"driver_allocs\":%" PRId64, r->driver_allocs);
    gen_costs(f, o, r);
    gen_report(f, o, r);
    if (r->backlog_end >= 0) fprintf(f, ",\"backlog_end\":%" PRId64, r->backlog_end);
    else fputs(",\"backlog_end\":null", f);
    fprintf(f, ",\"passed\":%s", r->passed ? "true" : "false");
    if (!r->passed) {
        fputs(",\"error\":", f);
        jstr(f, r->error[0] ? r->error : "failed");
    }
    (void)d;
    fputs("}\n", f);
}
