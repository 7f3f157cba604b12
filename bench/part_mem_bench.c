/* part_mem_bench: anonymous memory per queued task in one partition (queue/q_part), and the
 * time to reopen (replay) the log it leaves.
 *
 *   part_mem_bench [TASKS [PAYLOAD_BYTES [DIR [keep]]]]   defaults: 10000000 100 /tmp
 *   part_mem_bench reopen LOGDIR                         times a reopen of a kept log
 *
 * Enqueues TASKS tasks of PAYLOAD_BYTES bytes into one queue of one partition, in batches of
 * Q_BATCH_MAX, with the commit policy "never" (no fsync: memory is the figure, not the disk),
 * and reads RssAnon from /proc/self/status before and after. The payloads live in the log's
 * file-backed mapping (RssFile), so RssAnon is what the in-memory state costs. Then closes the
 * partition, reopens it (replay of the whole log) and reports the time and RssAnon again.
 * The log directory is created under DIR and deleted at the end (unless "keep").
 *
 * Limit (the issue): 10 million queued 100-byte tasks in under 1 GiB of anonymous memory, i.e.
 * at most 107 bytes per task including the in-memory id index; the design budget is 64 bytes per
 * task beyond its id. */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/rt_clock.h"
#include "core/rt_log.h"
#include "queue/q_log.h"
#include "queue/q_part.h"

#define LIMIT_BYTES (1024.0 * 1024.0 * 1024.0) /* 1 GiB for 10M tasks */
#define LIMIT_TASKS 10000000.0

static void die(const char *what, const char *why)
{
    fprintf(stderr, "part_mem_bench: %s: %s\n", what, why);
    exit(1);
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* A field of /proc/self/status in kB ("RssAnon", "RssFile", "VmRSS"), in bytes. */
static uint64_t status_bytes(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) die("/proc/self/status", strerror(errno));
    char line[256];
    uint64_t kb = 0;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') kb = strtoull(line + kl + 1, NULL, 10);
    fclose(f);
    return kb * 1024;
}

static uint64_t wall_ms(void) { return rt_wall_ns() / 1000000; }

static int reopen_only(const char *dir)
{
    log_set_level(LOG_WARN);
    q_part_opts o;
    q_part_opts_default(&o);
    o.log.policy = Q_COMMIT_NEVER;
    o.tasks_max = Q_PART_TASKS_MAX;
    q_part *p;
    q_log_err le;
    uint64_t t0 = rt_now_ns();
    int rc = q_part_open(dir, 0, &o, wall_ms(), &p, &le);
    if (rc) die("q_part_open", strerror(-rc));
    q_part_stats st;
    q_part_get_stats(p, &st);
    printf("reopen: %.2f s, %" PRIu64 " records, %" PRIu64 " tasks, RssAnon %.1f MiB\n",
           (double)(rt_now_ns() - t0) / 1e9, st.replayed_records, st.tasks,
           status_bytes("RssAnon") / 1048576.0);
    return q_part_close(p) ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "reopen") == 0) return reopen_only(argv[2]);
    uint64_t tasks = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000ull;
    uint32_t size = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 100;
    const char *base = argc > 3 ? argv[3] : "/tmp";
    if (tasks == 0 || size > 65536) die("usage", "part_mem_bench [TASKS [PAYLOAD_BYTES [DIR]]]");
    log_set_level(LOG_WARN);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/ringq-part-mem-XXXXXX", base);
    if (!mkdtemp(dir)) die("mkdtemp", strerror(errno));

    q_part_opts o;
    q_part_opts_default(&o);
    o.log.policy = Q_COMMIT_NEVER;
    o.tasks_max = tasks;
    q_part *p;
    q_log_err le;
    int rc = q_part_open(dir, 0, &o, wall_ms(), &p, &le);
    if (rc) die("q_part_open", strerror(-rc));

    static q_task_spec specs[Q_BATCH_MAX];
    static q_enq_result res[Q_BATCH_MAX];
    uint8_t *payload = malloc(size ? size : 1);
    memset(payload, 'x', size);
    for (uint32_t i = 0; i < Q_BATCH_MAX; i++)
        specs[i] = (q_task_spec){.payload = payload, .payload_len = size};

    uint64_t anon0 = status_bytes("RssAnon");
    uint64_t t0 = rt_now_ns();
    for (uint64_t done = 0; done < tasks;) {
        uint32_t n = tasks - done < Q_BATCH_MAX ? (uint32_t)(tasks - done) : Q_BATCH_MAX;
        uint64_t commit;
        q_err err;
        if (q_part_enqueue(p, "bench", 5, specs, n, wall_ms(), res, &commit, &err) != Q_OK)
            die("enqueue", err.msg);
        done += n;
    }
    double enq_s = (double)(rt_now_ns() - t0) / 1e9;
    uint64_t anon1 = status_bytes("RssAnon");
    q_part_stats st;
    q_part_get_stats(p, &st);
    q_log_stats ls;
    q_log_get_stats(q_part_log(p), &ls);
    double per = (double)(anon1 - anon0) / (double)tasks;
    double scaled = per * LIMIT_TASKS;
    printf("part_mem_bench tasks=%" PRIu64 " payload=%u\n", tasks, size);
    printf("enqueue: %.2f s, %.0f tasks/s\n", enq_s, (double)tasks / enq_s);
    printf("RssAnon before=%.1f MiB after=%.1f MiB delta=%.1f MiB per_task=%.1f B "
           "(RssFile=%.1f MiB: the log mapping)\n",
           anon0 / 1048576.0, anon1 / 1048576.0, (anon1 - anon0) / 1048576.0, per,
           status_bytes("RssFile") / 1048576.0);
    printf("partition accounting: mem_bytes=%.1f MiB (%.1f B/task, allocated incl. capacity)\n",
           st.mem_bytes / 1048576.0, (double)st.mem_bytes / (double)tasks);
    printf("log: %u segments, %.1f MiB used\n", ls.segments, ls.used_bytes / 1048576.0);
    printf("figure: 10M tasks -> %.0f MiB anonymous; limit 1024 MiB: %s\n", scaled / 1048576.0,
           scaled < LIMIT_BYTES ? "PASS" : "FAIL");

    if ((rc = q_part_close(p))) die("q_part_close", strerror(-rc));
    /* The log's own share of a reopen: open (verifying every checksum) and iterate. */
    t0 = rt_now_ns();
    q_log *log;
    if ((rc = q_log_open(dir, &o.log, &log, &le))) die("q_log_open", strerror(-rc));
    q_iter it;
    q_rec rec;
    q_iter_init(&it, log, q_log_oldest(log), false);
    uint64_t nrec = 0;
    while (q_iter_next(&it, &rec) == 1) nrec++;
    q_log_close(log);
    double log_s = (double)(rt_now_ns() - t0) / 1e9;
    uint64_t anon2 = status_bytes("RssAnon");
    t0 = rt_now_ns();
    rc = q_part_open(dir, 0, &o, wall_ms(), &p, &le);
    if (rc) die("q_part_open (replay)", strerror(-rc));
    double replay_s = (double)(rt_now_ns() - t0) / 1e9;
    uint64_t anon3 = status_bytes("RssAnon");
    q_part_get_stats(p, &st);
    printf("reopen: %.2f s for %.1f MiB of log (%" PRIu64 " records, every checksum verified), "
           "%.0f MiB/s; tasks=%" PRIu64 " RssAnon after replay=%.1f MiB (+%.1f MiB)\n",
           replay_s, ls.used_bytes / 1048576.0, st.replayed_records,
           ls.used_bytes / 1048576.0 / replay_s, st.tasks, anon3 / 1048576.0,
           ((double)anon3 - (double)anon2) / 1048576.0);
    printf("reopen split: log open + iterate %.2f s (%" PRIu64 " records), partition replay "
           "%.2f s\n",
           log_s, nrec, replay_s - log_s);
    if ((rc = q_part_close(p))) die("q_part_close", strerror(-rc));
    if (argc > 4 && strcmp(argv[4], "keep") == 0) printf("kept: %s\n", dir);
    else nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(payload);
    printf("command: build/aux/bench/part_mem_bench %" PRIu64 " %u %s\n", tasks, size, base);
    return scaled < LIMIT_BYTES ? 0 : 1;
}
