/* server/srv_queue_metrics: the queue service's part of /metrics, gathered from every partition
 * on its owner shard (the only thread that may read it), then merged on the scraping shard:
 *
 *   ringq_partitions                      gauge
 *   ringq_queues                          gauge    queues in all partitions
 *   ringq_queue_tasks{queue,state}        gauge    state: ready, delayed, leased, dead
 *   ringq_queue_tasks_enqueued_total{queue}, ringq_queue_tasks_acked_total,
 *   ringq_queue_tasks_nacked_total, ringq_queue_leases_expired_total,
 *   ringq_queue_tasks_dead_total          counters since the partition was opened
 *   ringq_fsync_seconds                   histogram of the commit fsyncs, all partitions
 *   ringq_task_wait_seconds               histogram: enqueue to first lease (queueing delay)
 *   ringq_task_run_seconds                histogram: lease to ack (a task's run time)
 *   ringq_disk_full                       gauge    partitions whose log refuses appends for
 *                                                  lack of disk space (acks still accepted)
 *   ringq_disk_full_total                 counter  times a partition's log found the disk full
 *   ringq_stream_delivered_before_durable_total  counter  stream messages a consumer handed
 *                                         out before their record was durable
 *   ringq_leased_before_durable_total     counter  tasks handed out before their Enqueue was
 *                                                  durable (0 under --fsync always, interval)
 *   ringq_ledger_mismatch_total           counter  queue ledgers found unbalanced (at partition
 *                                                  open and by Admin.Audit; docs/semantics.md)
 *   ringq_commits_served_total{overlap}   counter  completed commits after which the partition
 *                                                  served what became visible; overlap="yes"
 *                                                  when the next fsync was already in flight
 *   ringq_commits_pipelined_total         counter  commit fsyncs started while an older one was
 *                                                  in flight (--fsync always)
 *   ringq_commits_held_total{shard}       counter  commit starts on an idle log that waited for
 *                                                  their group (Q_COMMIT_HOLD_US), owner shard
 *   ringq_busy_spins_total{shard}, ringq_busy_spin_found_total, ringq_busy_spin_gated_total,
 *   ringq_busy_spin_seconds_total         counters of the busy spin (--busy-spin-us): spins,
 *                                                  those work ended, those a commit ended, time
 *
 * Per-queue series are bounded: the first SRV_METRICS_QUEUES_MAX queues by name get their own;
 * the others are summed into queue="(other)" (a name no queue can have), so a scrape of 100,000
 * queues stays near 1 MB instead of 60. One family function each, so more merge easily. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "server/srv_metrics.h"
#include "server/srv_queue_int.h"

/* Queues with series of their own: a dashboard's worth; the rest are summed. */
#define SRV_METRICS_QUEUES_MAX 1000u
#define QM_OTHER "(other)" /* '(' is not allowed in queue names: no clash */

enum {
    QM_READY,
    QM_DELAYED,
    QM_LEASED,
    QM_DEAD, /* gauges */
    QM_ENQ,
    QM_ACK,
    QM_NACK,
    QM_EXPIRED,
    QM_DEAD_TOTAL, /* counters */
    QM_NVALS
};

/* One queue's figures. The owner copies the name into its answer (after the entries) and sets
 * name_off; the scraping shard points `name` at that copy when the answer arrives. (It used to
 * point into the partition, another shard's memory: ThreadSanitizer saw the owner free it at
 * shutdown with no ordering against the scraper's reads.) */
typedef struct qm_entry {
    const char *name;  /* origin: into this answer's names; NULL on the owner */
    uint32_t name_off; /* owner: offset in the answer's names */
    uint32_t name_len;
    uint64_t v[QM_NVALS];
} qm_entry;

/* A partition's answer (the job's resp): this header, then `n` entries. */
typedef struct qm_part {
    uint64_t nqueues;
    uint64_t sum[QM_NVALS]; /* over all its queues */
    q_log_stats log;
    uint64_t leased_undurable;    /* q_part_stats.leased_undurable */
    uint64_t delivered_undurable; /* q_part_stats.delivered_undurable */
    uint64_t ledger_mismatches;   /* q_part_stats.ledger_mismatches */
    uint64_t held;                /* q_log_held_total */
    q_lat_hist wait, run;         /* q_part_stats.wait, .run */
    uint32_t n;
} qm_part;

typedef struct qm_gather {
    buf *out;
    srv_gather_done_fn done;
    void *ctx;
    uint32_t pending;
    buf *parts; /* per partition: its qm_part and entries */
} qm_gather;

static void fill(uint64_t v[QM_NVALS], const q_queue_info *q)
{
    const uint64_t x[QM_NVALS] = {q->ready,        q->delayed,        q->leased,
                                  q->dead,         q->enqueued_total, q->acked_total,
                                  q->nacked_total, q->expired_total,  q->dead_total};
    memcpy(v, x, sizeof x);
}

/* Owner shard: every queue of the partition, in name order, pages of Q_PAGE_MAX. */
static void run_part(srv_job *j, srv_part *sp)
{
    qm_part h;
    memset(&h, 0, sizeof h);
    q_queue_info *page = rt_calloc(Q_PAGE_MAX, sizeof *page);
    buf ents, names;
    buf_init(&ents, (size_t)SRV_METRICS_QUEUES_MAX * sizeof(qm_entry));
    buf_init(&names, (size_t)SRV_METRICS_QUEUES_MAX * Q_QUEUE_NAME_BYTES_MAX);
    const char *after = "";
    size_t al = 0;
    bool more = page != NULL;
    while (more) {
        uint32_t n = 0;
        q_part_list_queues(sp->p, after, al, Q_PAGE_MAX, srv_q_now_ms(), page, &n, &more);
        for (uint32_t i = 0; i < n; i++) {
            qm_entry e = {.name_off = (uint32_t)buf_size(&names), .name_len = page[i].name_len};
            fill(e.v, &page[i]);
            for (int k = 0; k < QM_NVALS; k++) h.sum[k] += e.v[k];
            h.nqueues++;
            if (h.n < SRV_METRICS_QUEUES_MAX &&
                buf_append(&names, page[i].name, page[i].name_len) == 0) {
                if (buf_append(&ents, &e, sizeof e) == 0) h.n++;
                else buf_truncate(&names, e.name_off);
            }
        }
        if (n == 0) break;
        after = page[n - 1].name;
        al = page[n - 1].name_len;
    }
    q_log_get_stats(q_part_log(sp->p), &h.log);
    q_part_stats ps;
    q_part_get_stats(sp->p, &ps);
    h.leased_undurable = ps.leased_undurable;
    h.delivered_undurable = ps.delivered_undurable;
    h.ledger_mismatches = ps.ledger_mismatches;
    h.held = q_log_held_total(q_part_log(sp->p));
    h.wait = ps.wait;
    h.run = ps.run;
    if (!page) srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory");
    else if (buf_append(&j->resp, &h, sizeof h) < 0 ||
             buf_append(&j->resp, buf_begin(&ents), buf_size(&ents)) < 0 ||
             buf_append(&j->resp, buf_begin(&names), buf_size(&names)) < 0)
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory");
    buf_deinit(&ents);
    buf_deinit(&names);
    rt_free(page);
    srv_job_reply(j);
}

static int cmp_entry(const void *a, const void *b)
{
    const qm_entry *x = a, *y = b;
    int c = memcmp(x->name, y->name, x->name_len < y->name_len ? x->name_len : y->name_len);
    return c ? c : (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

static const qm_part *part_of(const qm_gather *g, uint32_t k)
{
    const buf *b = &g->parts[k];
    return buf_size(b) >= sizeof(qm_part) ? (const qm_part *)buf_begin(b) : NULL;
}

/* ---- families ---- */

static void family_queue_values(buf *out, const qm_entry *e, size_t n, const uint64_t *other)
{
    static const char *const states[4] = {"ready", "delayed", "leased", "dead"};
    static const struct {
        const char *name, *help;
    } counters[5] = {
        {"ringq_queue_tasks_enqueued_total", "Tasks enqueued (duplicates not counted)."},
        {"ringq_queue_tasks_acked_total", "Tasks acknowledged."},
        {"ringq_queue_tasks_nacked_total", "Nacks (attempts given back)."},
        {"ringq_queue_leases_expired_total", "Leases that expired."},
        {"ringq_queue_tasks_dead_total", "Tasks that went to the dead letters."},
    };
    char q[2 * Q_QUEUE_NAME_BYTES_MAX + 1], labels[sizeof q + 64];
    srv_metric_family(out, "ringq_queue_tasks", "gauge", "Tasks of a queue now, by state.");
    for (int s = 0; s < 4; s++) {
        for (size_t i = 0; i <= n; i++) {
            if (i == n && !other) break;
            if (i < n) srv_metric_escape(q, sizeof q, e[i].name, e[i].name_len);
            snprintf(labels, sizeof labels, "queue=\"%s\",state=\"%s\"", i < n ? q : QM_OTHER,
                     states[s]);
            srv_metric_u64(out, "ringq_queue_tasks", labels, i < n ? e[i].v[s] : other[s]);
        }
    }
    for (int c = 0; c < 5; c++) {
        srv_metric_family(out, counters[c].name, "counter", counters[c].help);
        for (size_t i = 0; i <= n; i++) {
            if (i == n && !other) break;
            if (i < n) srv_metric_escape(q, sizeof q, e[i].name, e[i].name_len);
            snprintf(labels, sizeof labels, "queue=\"%s\"", i < n ? q : QM_OTHER);
            uint64_t v = i < n ? e[i].v[QM_ENQ + c] : other[QM_ENQ + c];
            srv_metric_u64(out, counters[c].name, labels, v);
        }
    }
}

static void family_disk_full(buf *out, const qm_gather *g)
{
    uint64_t full = 0, total = 0;
    for (uint32_t k = 0; k < srv_q.nparts; k++) {
        const qm_part *p = part_of(g, k);
        if (!p) continue;
        full += p->log.disk_full;
        total += p->log.disk_full_total;
    }
    srv_metric_family(out, "ringq_disk_full", "gauge",
                      "Partitions whose log refuses appends for lack of disk space (acks still "
                      "accepted).");
    srv_metric_u64(out, "ringq_disk_full", NULL, full);
    srv_metric_family(out, "ringq_disk_full_total", "counter",
                      "Times a partition's log found the disk full.");
    srv_metric_u64(out, "ringq_disk_full_total", NULL, total);
}

/* A counter family `name` whose one sample is the sum over partitions of the uint64_t field at
 * `field_off` in qm_part. */
static void family_part_total(buf *out, const qm_gather *g, const char *name, const char *help,
                              size_t field_off)
{
    uint64_t total = 0;
    for (uint32_t k = 0; k < srv_q.nparts; k++) {
        const qm_part *p = part_of(g, k);
        if (!p) continue;
        uint64_t v;
        memcpy(&v, (const char *)p + field_off, sizeof v);
        total += v;
    }
    srv_metric_family(out, name, "counter", help);
    srv_metric_u64(out, name, NULL, total);
}

static void family_fsync(buf *out, const qm_gather *g)
{
    static const uint64_t bounds[Q_FSYNC_BUCKETS - 1] = Q_FSYNC_BOUNDS_NS;
    uint64_t b[Q_FSYNC_BUCKETS] = {0}, count = 0, ns = 0;
    for (uint32_t k = 0; k < srv_q.nparts; k++) {
        const qm_part *p = part_of(g, k);
        if (!p) continue;
        for (uint32_t i = 0; i < Q_FSYNC_BUCKETS; i++) b[i] += p->log.fsync_buckets[i];
        count += p->log.fsyncs;
        ns += p->log.fsync_ns_total;
    }
    srv_metric_family(out, "ringq_fsync_seconds", "histogram",
                      "Latency of the commit fsyncs (segment fdatasync, directory fsync).");
    srv_metric_histogram(out, "ringq_fsync_seconds", NULL, bounds, Q_FSYNC_BUCKETS - 1, b, count,
                         ns, 1e9);
}

/* A latency histogram family: the q_lat_hist at `off` in qm_part, summed over partitions (each
 * partition counts its own on its owner shard; merged here, at the scrape). */
static void family_latency(buf *out, const qm_gather *g, const char *name, const char *help,
                           size_t off)
{
    static const uint64_t bounds[Q_LAT_BUCKETS - 1] = Q_LAT_BOUNDS_MS;
    q_lat_hist sum;
    memset(&sum, 0, sizeof sum);
    for (uint32_t k = 0; k < srv_q.nparts; k++) {
        const qm_part *p = part_of(g, k);
        if (!p) continue;
        q_lat_hist h;
        memcpy(&h, (const char *)p + off, sizeof h);
        for (uint32_t i = 0; i < Q_LAT_BUCKETS; i++) sum.buckets[i] += h.buckets[i];
        sum.count += h.count;
        sum.sum_ms += h.sum_ms;
    }
    srv_metric_family(out, name, "histogram", help);
    srv_metric_histogram(out, name, NULL, bounds, Q_LAT_BUCKETS - 1, sum.buckets, sum.count,
                         sum.sum_ms, 1e3);
}

static void family_committed(buf *out, const qm_gather *g)
{
    uint64_t total = 0, overlapped = 0, pipelined = 0;
    for (uint32_t k = 0; k < srv_q.nparts; k++) {
        const qm_part *p = part_of(g, k);
        if (!p) continue;
        total += p->log.committed_total;
        overlapped += p->log.committed_overlapped;
        pipelined += p->log.commits_pipelined;
    }
    srv_metric_family(out, "ringq_commits_served_total", "counter",
                      "Completed commits after which the partition served the tasks they made "
                      "visible; overlap=\"yes\": with the next fsync already in flight.");
    srv_metric_u64(out, "ringq_commits_served_total", "overlap=\"yes\"", overlapped);
    srv_metric_u64(out, "ringq_commits_served_total", "overlap=\"no\"", total - overlapped);
    srv_metric_family(out, "ringq_commits_pipelined_total", "counter",
                      "Commit fsyncs started while an older one was still in flight.");
    srv_metric_u64(out, "ringq_commits_pipelined_total", NULL, pipelined);
}

/* Per shard: its partitions' held commit starts (summed on the scraping shard from the owners'
 * answers) and its busy-spin counters (wk_mesh_loop_get_stats: relaxed reads, any thread). */
static void family_shards(buf *out, const qm_gather *g)
{
    static const struct {
        const char *name, *help;
    } spin[4] = {
        {"ringq_busy_spins_total", "Busy spins a shard started (--busy-spin-us)."},
        {"ringq_busy_spin_found_total", "Busy spins that ended because work arrived."},
        {"ringq_busy_spin_gated_total",
         "Busy spins that ended because a commit started (the gate closed)."},
        {"ringq_busy_spin_seconds_total", "Time a shard spent in busy spins."},
    };
    char lb[32];
    srv_metric_family(out, "ringq_commits_held_total", "counter",
                      "Commit starts on an idle log that waited for their group right after a "
                      "completion (--fsync always), by owner shard.");
    for (int i = 0; i < srv_q.nshards; i++) {
        uint64_t held = 0;
        for (uint32_t k = 0; k < srv_q.nparts; k++) {
            const qm_part *p = part_of(g, k);
            if (p && srv_q_owner(k) == i) held += p->held;
        }
        snprintf(lb, sizeof lb, "shard=\"%d\"", i);
        srv_metric_u64(out, "ringq_commits_held_total", lb, held);
    }
    for (int f = 0; f < 4; f++) {
        srv_metric_family(out, spin[f].name, "counter", spin[f].help);
        for (int i = 0; i < srv_q.nshards; i++) {
            wk_mesh_loop_stats st;
            wk_mesh_loop_get_stats(&srv_q.shards[i].ml, &st);
            snprintf(lb, sizeof lb, "shard=\"%d\"", i);
            if (f == 3) srv_metric_f64(out, spin[f].name, lb, (double)st.busy_spin_ns / 1e9);
            else
                srv_metric_u64(out, spin[f].name, lb,
                               f == 0 ? st.busy_spins
                                      : (f == 1 ? st.busy_spin_found : st.busy_spin_gated));
        }
    }
}

/* Merges the partitions' first queues by name, keeps the first SRV_METRICS_QUEUES_MAX, sums
 * the rest, and writes the families. */
static void gather_finish(qm_gather *g)
{
    size_t total = 0;
    uint64_t nqueues = 0, sum[QM_NVALS] = {0};
    for (uint32_t k = 0; k < srv_q.nparts; k++) {
        const qm_part *p = part_of(g, k);
        if (!p) continue;
        total += p->n;
        nqueues += p->nqueues;
        for (int v = 0; v < QM_NVALS; v++) sum[v] += p->sum[v];
    }
    qm_entry *all = rt_calloc(total ? total : 1, sizeof *all);
    size_t n = 0;
    for (uint32_t k = 0; all && k < srv_q.nparts; k++) {
        const qm_part *p = part_of(g, k);
        if (!p) continue;
        memcpy(all + n, p + 1, (size_t)p->n * sizeof *all);
        n += p->n;
    }
    qsort(all, n, sizeof *all, cmp_entry);
    if (n > SRV_METRICS_QUEUES_MAX) n = SRV_METRICS_QUEUES_MAX;
    uint64_t other[QM_NVALS];
    memcpy(other, sum, sizeof other);
    for (size_t i = 0; i < n; i++)
        for (int v = 0; v < QM_NVALS; v++) other[v] -= all[i].v[v];
    srv_metric_family(g->out, "ringq_queues", "gauge", "Queues in all partitions.");
    srv_metric_u64(g->out, "ringq_queues", NULL, nqueues);
    if (all) family_queue_values(g->out, all, n, nqueues > n ? other : NULL);
    family_fsync(g->out, g);
    family_latency(g->out, g, "ringq_task_wait_seconds",
                   "Time from a task's enqueue to its first lease (requested delays included).",
                   offsetof(qm_part, wait));
    family_latency(g->out, g, "ringq_task_run_seconds",
                   "Time from a task's lease to its ack (the run that succeeded).",
                   offsetof(qm_part, run));
    family_committed(g->out, g);
    family_shards(g->out, g);
    family_disk_full(g->out, g);
    family_part_total(g->out, g, "ringq_leased_before_durable_total",
                      "Tasks handed to a worker (Lease or Work) before their Enqueue was durable: "
                      "0 under --fsync always and interval (docs/semantics.md).",
                      offsetof(qm_part, leased_undurable));
    family_part_total(g->out, g, "ringq_stream_delivered_before_durable_total",
                      "Stream messages handed to a consumer (Consume or Fetch) before their "
                      "record was durable: 0 under --fsync always and interval "
                      "(docs/semantics.md \"Streams\").",
                      offsetof(qm_part, delivered_undurable));
    family_part_total(g->out, g, "ringq_ledger_mismatch_total",
                      "Queue ledgers found not to balance, at partition open or by Admin.Audit "
                      "(each logged; nothing is changed: docs/semantics.md).",
                      offsetof(qm_part, ledger_mismatches));
    rt_free(all);
    for (uint32_t k = 0; k < srv_q.nparts; k++) buf_deinit(&g->parts[k]);
    rt_free(g->parts);
    srv_gather_done_fn done = g->done;
    void *ctx = g->ctx;
    rt_free(g);
    done(ctx);
}

/* Origin: the answer is ours now; point each entry's name at the copy after the entries. */
static void part_names(buf *b)
{
    if (buf_size(b) < sizeof(qm_part)) return;
    qm_part *h = (qm_part *)buf_begin(b);
    qm_entry *e = (qm_entry *)(h + 1);
    size_t ents = (size_t)h->n * sizeof *e;
    if (buf_size(b) - sizeof *h < ents) {
        h->n = 0;
        return;
    }
    const char *names = (const char *)buf_begin(b) + sizeof *h + ents;
    size_t names_len = buf_size(b) - sizeof *h - ents;
    for (uint32_t i = 0; i < h->n; i++) {
        if ((size_t)e[i].name_off + e[i].name_len > names_len) {
            h->n = i;
            return;
        }
        e[i].name = names + e[i].name_off;
    }
}

static void part_done(srv_job *j)
{
    qm_gather *g = j->ctx;
    buf t = g->parts[j->part_no];
    g->parts[j->part_no] = j->resp;
    j->resp = t;
    if (j->status != Q_OK) buf_consume(&g->parts[j->part_no], buf_size(&g->parts[j->part_no]));
    part_names(&g->parts[j->part_no]);
    if (--g->pending == 0) gather_finish(g);
}

void srv_queue_metrics(buf *out, void *ud)
{
    srv_metric_family(out, "ringq_partitions", "gauge", "Partitions in the data directory.");
    srv_metric_u64(out, "ringq_partitions", NULL, srv_q.nparts);
}

int srv_queue_metrics_gather(srv_shard *sh, buf *out, srv_gather_done_fn done, void *ctx, void *ud)
{
    qm_gather *g = rt_calloc(1, sizeof *g);
    if (g) g->parts = rt_calloc(srv_q.nparts, sizeof *g->parts);
    if (!g || !g->parts) {
        rt_free(g);
        return -ENOMEM;
    }
    for (uint32_t k = 0; k < srv_q.nparts; k++) buf_init(&g->parts[k], 1);
    *g = (qm_gather){.out = out, .done = done, .ctx = ctx, .pending = 1, .parts = g->parts};
    for (uint32_t k = 0; k < srv_q.nparts; k++) {
        srv_job *j = srv_job_new(NULL, NULL, 0);
        if (!j) continue; /* that partition is left out of this scrape */
        j->ctx = g;
        g->pending++;
        srv_job_dispatch(j, k, run_part, part_done);
    }
    if (--g->pending == 0) gather_finish(g); /* every partition answered at once (one shard) */
    return 0;
}
