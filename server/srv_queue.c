/* server/srv_queue: data directory, partition ownership, jobs crossing shards, housekeeping
 * timers and long-poll waiters. See srv_queue.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/rt_alloc.h"
#include "core/rt_clock.h"
#include "core/rt_log.h"
#include "server/srv_queue_int.h"
#include "server/srv_queue_rpc.h"

srv_qglobal srv_q;

#define META_FILE "ringq.meta"
#define META_FORMAT 1

uint64_t srv_q_now_ms(void) { return rt_wall_ns() / RT_NS_PER_MS; }

int srv_q_self(void)
{
    srv_shard *sh = srv_shard_self();
    return sh ? srv_shard_id(sh) : 0;
}

srv_part *srv_q_part(uint32_t part_no) { return srv_q.shards[srv_q_self()].parts[part_no]; }

/* ---- data directory ---- */

static int read_meta(const char *path, uint32_t *parts)
{
    FILE *f = fopen(path, "r");
    if (!f) return -errno;
    unsigned fmt = 0, p = 0;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        sscanf(line, "format=%u", &fmt);
        sscanf(line, "partitions=%u", &p);
    }
    fclose(f);
    if (fmt != META_FORMAT || p == 0 || p > SRV_PARTITIONS_MAX) return -EBADMSG;
    *parts = p;
    return 0;
}

static int write_meta(const char *dir, uint32_t parts)
{
    char tmp[4200], path[4200];
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, META_FILE);
    snprintf(path, sizeof path, "%s/%s", dir, META_FILE);
    FILE *f = fopen(tmp, "w");
    if (!f) return -errno;
    fprintf(f, "# ringq data directory. Do not edit: the partition count is fixed.\nformat=%d\npartitions=%u\n",
            META_FORMAT, parts);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        fclose(f);
        return -errno;
    }
    fclose(f);
    if (rename(tmp, path) != 0) return -errno;
    int d = open(dir, O_RDONLY | O_DIRECTORY);
    if (d >= 0) {
        fsync(d);
        close(d);
    }
    return 0;
}

int srv_queue_setup(const srv_queue_opts *o, int nshards)
{
    snprintf(srv_q.data_dir, sizeof srv_q.data_dir, "%s", o->data_dir);
    if (mkdir(o->data_dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "ringqd: cannot create data directory %s: %s\n", o->data_dir, strerror(errno));
        return -1;
    }
    if (srv_queue_lock_dir(o->data_dir) < 0) return -1;
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", o->data_dir, META_FILE);
    uint32_t parts = 0;
    int r = read_meta(path, &parts);
    if (r == -ENOENT) {
        parts = o->partitions ? o->partitions : SRV_PARTITIONS_DEFAULT;
        if (parts > SRV_PARTITIONS_MAX) {
            fprintf(stderr, "ringqd: --partitions must be 1..%u\n", SRV_PARTITIONS_MAX);
            return -1;
        }
        r = write_meta(o->data_dir, parts);
        if (r < 0) {
            fprintf(stderr, "ringqd: cannot write %s: %s\n", path, strerror(-r));
            return -1;
        }
    } else if (r < 0) {
        fprintf(stderr, "ringqd: %s is unreadable or damaged (%s)\n", path, strerror(-r));
        return -1;
    } else if (o->partitions && o->partitions != parts) {
        fprintf(stderr, "ringqd: %s has %u partitions; --partitions %u cannot change it\n",
                o->data_dir, parts, o->partitions);
        return -1;
    }
    srv_q.nparts = parts;
    srv_q.nshards = nshards;
    srv_q.log = o->log;
    srv_q.max_msg_bytes = o->max_msg_bytes ? o->max_msg_bytes : (size_t)4 << 20;
    wk_mesh_opts mo = {.n_shards = nshards, .spin_ns = o->spin_ns};
    if (wk_mesh_create(&mo, &srv_q.mesh) != 0) {
        fprintf(stderr, "ringqd: cannot create the shard mesh\n");
        return -1;
    }
    srv_q.shards = rt_calloc((size_t)nshards, sizeof *srv_q.shards);
    if (!srv_q.shards) return -1;
    return 0;
}

/* ---- housekeeping ---- */

static void on_tick_commit(q_log *log, void *ud, int status, uint64_t durable)
{
    srv_part *sp = ud;
    sp->tick_commit_busy = false;
}

static void on_sync_done(q_log *log, void *ud, int status, uint64_t durable)
{
    srv_part *sp = ud;
    sp->sync_busy = false;
}

/* Every completed commit, after all its waiters' callbacks (the producers' replies are queued
 * first) and with the next fsync already started: serve what the commit made visible (tasks
 * held by ready_when_durable), so the leasing overlaps that fsync. */
static void on_committed(q_log *log, void *ud, uint64_t durable)
{
    srv_part_serve_durable(ud);
}

static void on_tick(ev_loop *loop, ev_timer *t)
{
    srv_part *sp = t->ud;
    uint64_t next = UINT64_MAX;
    q_part_tick(sp->p, srv_q_now_ms(), &next);
    /* Records written by the tick (expiries, deaths) are nobody's ack: commit them without a
     * waiter so a crash loses at most what a crash loses anyway. */
    if (!sp->tick_commit_busy) {
        int r = q_log_commit_async(q_part_log(sp->p), &sp->tick_cw, on_tick_commit, sp);
        sp->tick_commit_busy = r == 0;
    }
    /* With --fsync never no commit ever runs, and rolled segments are only published (and so
     * can only be retained or deleted) by a commit: once the log has rolled, commit it at most
     * once a second so disk use keeps following live tasks. Through the loop: a synchronous
     * fdatasync of a second's appends stalled the shard for tens of milliseconds. */
    uint64_t now_ms = srv_q_now_ms();
    if (srv_q.log.policy == Q_COMMIT_NEVER && !sp->sync_busy &&
        now_ms - sp->last_sync_ms >= Q_RETAIN_EVERY_MS_DEFAULT) {
        q_log_stats ls;
        q_log_get_stats(q_part_log(sp->p), &ls);
        if (ls.segments > 1)
            sp->sync_busy = q_log_sync_async(q_part_log(sp->p), &sp->sync_cw, on_sync_done, sp) == 0;
        sp->last_sync_ms = now_ms;
    }
    srv_part_serve_ready(sp);
    if (sp->serve_retry) { /* see SRV_SERVE_RETRY_MS */
        sp->serve_retry = false;
        for (srv_waitq *wq = sp->waits, *wnext; wq; wq = wnext) {
            wnext = wq->next;
            if (wq->subs) srv_sub_serve(sp, wq);
        }
    }
    /* Serving parked leases and Work streams may have set lease deadlines before `next`. */
    uint64_t soon = q_part_next_ms(sp->p);
    srv_part_schedule(sp, soon < next ? soon : next);
}

void srv_part_schedule(srv_part *sp, uint64_t next_ms)
{
    srv_qshard *qs = &srv_q.shards[sp->shard];
    if (next_ms == UINT64_MAX) {
        /* Still tick now and then: retention and compaction run from the tick. */
        next_ms = srv_q_now_ms() + Q_RETAIN_EVERY_MS_DEFAULT;
    }
    if (ev_timer_armed(&sp->tick) && sp->tick_at_ms <= next_ms) return;
    uint64_t now_ms = srv_q_now_ms();
    uint64_t delta_ms = next_ms > now_ms ? next_ms - now_ms : 0;
    sp->tick_at_ms = next_ms;
    ev_timer_start(qs->loop, &sp->tick, ev_loop_now(qs->loop) + delta_ms * RT_NS_PER_MS);
}

/* ---- shard init / fini ---- */

void srv_queue_shard_init(srv_shard *sh, void *ud)
{
    int id = srv_shard_id(sh);
    srv_qshard *qs = &srv_q.shards[id];
    qs->id = id;
    qs->loop = srv_shard_loop(sh);
    qs->parts = rt_calloc(srv_q.nparts, sizeof *qs->parts);
    if (!qs->parts || wk_mesh_loop_init(&qs->ml, srv_q.mesh, id, qs->loop) != 0) {
        log_error("queue shard init failed", "shard=%d", id);
        srv_runtime_fail(srv_shard_runtime(sh));
        return;
    }
    uint64_t t0 = rt_now_ns();
    for (uint32_t k = 0; k < srv_q.nparts; k++) {
        if (srv_q_owner(k) != id) continue;
        if (srv_runtime_failed(srv_shard_runtime(sh))) return; /* another shard failed: stop */
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/p%03u", srv_q.data_dir, k);
        q_part_opts po;
        q_part_opts_default(&po);
        po.log = srv_q.log;
        /* Durable before visible (docs/semantics.md): under --fsync always a task is handed to
         * a worker only once its Enqueue is durable; the commit's completion (on_committed,
         * after the waiters' replies) serves what the commit made visible, so the gate adds
         * no fsync. Under interval/never a task is visible once in the page cache. */
        po.ready_when_durable = srv_q.log.policy == Q_COMMIT_ALWAYS;
        q_log_err le;
        memset(&le, 0, sizeof le);
        srv_part *sp = rt_calloc(1, sizeof *sp);
        int r = sp ? q_part_open(dir, k, &po, srv_q_now_ms(), &sp->p, &le) : -ENOMEM;
        if (r < 0) {
            log_error("cannot open partition", "dir=%s err=%d reason=\"%s\" file=%s pos=%llu offset=%llu%s%s%s",
                      dir, r, le.why ? le.why : strerror(-r), le.file, (unsigned long long)le.pos,
                      (unsigned long long)le.offset, r == -EBADMSG ? " salvage=\"ringq-log salvage " : "",
                      r == -EBADMSG ? dir : "", r == -EBADMSG ? "\"" : "");
            rt_free(sp);
            srv_runtime_fail(srv_shard_runtime(sh));
            return;
        }
        if (le.why)
            log_warn("partition tail cut at recovery", "dir=%s file=%s pos=%llu offset=%llu bytes=%llu kept=%s why=\"%s\"",
                     dir, le.file, (unsigned long long)le.pos, (unsigned long long)le.offset,
                     (unsigned long long)le.bytes, le.kept[0] ? le.kept : "-", le.why);
        sp->no = k;
        sp->shard = id;
        q_log_attach(q_part_log(sp->p), qs->loop);
        q_log_on_committed(q_part_log(sp->p), on_committed, sp);
        ev_timer_init(&sp->tick, on_tick, sp);
        qs->parts[k] = sp;
        qs->nowned++;
        srv_part_schedule(sp, srv_q_now_ms());
    }
    log_info("partitions open", "owned=%u total=%u ms=%llu", qs->nowned, srv_q.nparts,
             (unsigned long long)((rt_now_ns() - t0) / RT_NS_PER_MS));
}

void srv_queue_shard_fini(srv_shard *sh, void *ud)
{
    srv_qshard *qs = &srv_q.shards[srv_shard_id(sh)];
    if (!qs->parts) return;
    for (uint32_t k = 0; k < srv_q.nparts; k++) {
        srv_part *sp = qs->parts[k];
        if (!sp) continue;
        ev_timer_stop(qs->loop, &sp->tick);
        while (sp->waits) {
            srv_waitq *wq = sp->waits;
            sp->waits = wq->next;
            while (wq->subs) {
                struct srv_sub *s = wq->subs;
                wq->subs = s->next;
                rt_free(s);
            }
            rt_free(wq);
        }
        /* Let in-flight fsyncs finish, then make everything durable before closing, the synced
         * watermark included (a later open refuses damage to anything acknowledged). */
        q_log *log = q_part_log(sp->p);
        int r = -EBUSY;
        for (int i = 0; i < 1000 && (r = q_log_commit_final(log)) == -EBUSY; i++) ev_loop_run_once(qs->loop, true);
        if (r < 0) log_warn("final log sync failed", "partition=%u err=%d", sp->no, r);
        for (int i = 0; i < 1000 && q_part_close(sp->p) == -EBUSY; i++) ev_loop_run_once(qs->loop, true);
        qs->parts[k] = NULL;
        rt_free(sp);
    }
}

void srv_queue_on_drain(srv_shard *sh, void *ud)
{
    /* Long-polls answer now (with what they have: nothing) so they do not hold the drain, and
     * Work streams end. */
    srv_work_drain_shard();
    srv_qshard *qs = &srv_q.shards[srv_shard_id(sh)];
    if (!qs->parts) return;
    for (uint32_t k = 0; k < srv_q.nparts; k++) {
        srv_part *sp = qs->parts[k];
        if (!sp) continue;
        for (srv_waitq *wq = sp->waits; wq; wq = wq->next) {
            while (wq->head) {
                srv_job *j = wq->head;
                ev_timer_stop(qs->loop, &j->timer);
                wq->head = j->wait_next;
                if (!wq->head) wq->tail = NULL;
                j->waitq = NULL;
                srv_job_reply(j);
            }
        }
    }
}

/* ---- jobs ---- */

srv_job *srv_job_new(pw_grpc_call *call, const uint8_t *req, size_t req_len)
{
    srv_job *j = rt_calloc(1, sizeof *j);
    if (!j) return NULL;
    if (req_len) {
        j->req = rt_malloc(req_len);
        if (!j->req) {
            rt_free(j);
            return NULL;
        }
        memcpy(j->req, req, req_len);
    }
    j->req_len = req_len;
    buf_init(&j->resp, (size_t)64 << 20);
    j->call = call;
    if (call) pw_grpc_call_ref(call);
    j->origin = srv_q_self();
    return j;
}

void srv_job_free(srv_job *j)
{
    if (j->call) pw_grpc_call_unref(j->call);
    rt_free(j->req);
    buf_deinit(&j->resp);
    rt_free(j);
}

void srv_job_fail(srv_job *j, q_status st, const char *fmt, ...)
{
    j->status = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->msg, sizeof j->msg, fmt, ap);
    va_end(ap);
}

static void on_origin(wk_mesh *m, int self, const wk_msg *msg)
{
    srv_job *j = msg->arg;
    if (j->done) j->done(j);
    else srv_job_answer(j);
    if (!j->keep) srv_job_free(j);
}

static void on_owner(wk_mesh *m, int self, const wk_msg *msg)
{
    srv_job *j = msg->arg;
    srv_part *sp = srv_q.shards[self].parts[j->part_no];
    if (!sp) {
        srv_job_fail(j, Q_UNAVAILABLE, "partition %u is not open", j->part_no);
        srv_job_reply(j);
        return;
    }
    j->run(j, sp);
    /* A lease, a delayed enqueue, a nack, an extend or a redrive may bring the partition's next
     * deadline forward: re-arm its timer. */
    srv_part_schedule(sp, q_part_next_ms(sp->p));
}

void srv_job_dispatch(srv_job *j, uint32_t part_no, srv_job_run_fn run, srv_job_done_fn done)
{
    j->part_no = part_no;
    j->run = run;
    j->done = done;
    j->owner = srv_q_owner(part_no);
    j->node.msg = (wk_msg){.fn = on_owner, .arg = j};
    wk_mesh_send_node(srv_q.mesh, j->origin, j->owner, &j->node);
}

void srv_job_reply(srv_job *j)
{
    j->node.msg = (wk_msg){.fn = on_origin, .arg = j};
    wk_mesh_send_node(srv_q.mesh, j->owner, j->origin, &j->node);
}

static void on_job_durable(q_log *log, void *ud, int status, uint64_t durable)
{
    srv_job *j = ud;
    if (status < 0) srv_job_fail(j, Q_UNAVAILABLE, "log write failed: %s", strerror(-status));
    /* What the commit made visible is served by on_committed once every waiter it covered is
     * answered and the next fsync is in flight — not here, between two waiters' replies. */
    srv_job_reply(j);
}

void srv_job_reply_durable(srv_job *j, srv_part *sp)
{
    int r = q_log_commit_async(q_part_log(sp->p), &j->cw, on_job_durable, j);
    if (r == 0) return; /* on_job_durable replies */
    if (r < 0) srv_job_fail(j, Q_UNAVAILABLE, "log write failed: %s", strerror(-r));
    srv_job_reply(j);
}

void srv_job_answer(srv_job *j)
{
    pw_grpc_call *c = j->call;
    if (!c || pw_grpc_call_done(c)) return;
    if (j->status == Q_OK) {
        int r = pw_grpc_call_send(c, buf_begin(&j->resp), buf_size(&j->resp), 0);
        /* A response that was not sent is never answered OK (an OK without its message). */
        if (r == -EMSGSIZE) pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "response larger than the message limit");
        else if (r < 0) pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "the response could not be sent");
        else pw_grpc_call_finish(c, PW_GRPC_OK, NULL);
    } else {
        pw_grpc_call_finish(c, (pw_grpc_status)j->status, j->msg);
    }
}

/* ---- long-poll waiters ---- */

srv_waitq *srv_part_waitq(srv_part *sp, const char *name, uint32_t name_len, bool create)
{
    for (srv_waitq *w = sp->waits; w; w = w->next)
        if (w->name_len == name_len && memcmp(w->name, name, name_len) == 0) return w;
    if (!create || name_len > Q_QUEUE_NAME_BYTES_MAX) return NULL;
    srv_waitq *w = rt_calloc(1, sizeof *w);
    if (!w) return NULL;
    memcpy(w->name, name, name_len);
    w->name_len = name_len;
    w->next = sp->waits;
    sp->waits = w;
    return w;
}

/* Frees a wait list nobody waits on any more (queue names come and go; the lists must not). */
void srv_part_waitq_gc(srv_part *sp, srv_waitq *wq)
{
    if (wq->head || wq->subs) return;
    for (srv_waitq **pp = &sp->waits; *pp; pp = &(*pp)->next)
        if (*pp == wq) {
            *pp = wq->next;
            rt_free(wq);
            return;
        }
}

static void waitq_unlink(srv_waitq *wq, srv_job *j)
{
    if (j->wait_prev) j->wait_prev->wait_next = j->wait_next;
    else wq->head = j->wait_next;
    if (j->wait_next) j->wait_next->wait_prev = j->wait_prev;
    else wq->tail = j->wait_prev;
    j->wait_next = j->wait_prev = NULL;
    j->waitq = NULL;
}

static void on_wait_timeout(ev_loop *loop, ev_timer *t)
{
    srv_job *j = t->ud;
    srv_waitq *wq = j->waitq;
    if (wq) {
        waitq_unlink(wq, j);
        srv_part *sp = srv_q_part(j->part_no);
        if (sp) srv_part_waitq_gc(sp, wq);
    }
    srv_job_reply(j); /* resp holds an empty response */
}

void srv_part_park(srv_part *sp, srv_job *j, const char *name, uint32_t name_len, uint64_t wait_ms,
                   srv_job_run_fn retry)
{
    srv_waitq *wq = srv_part_waitq(sp, name, name_len, true);
    if (!wq) {
        srv_job_reply(j);
        return;
    }
    j->run = retry;
    j->waitq = wq;
    j->wait_prev = wq->tail;
    j->wait_next = NULL;
    if (wq->tail) wq->tail->wait_next = j;
    else wq->head = j;
    wq->tail = j;
    srv_qshard *qs = &srv_q.shards[sp->shard];
    /* A job that re-parks keeps its first deadline. */
    if (!j->wait_deadline_ns) j->wait_deadline_ns = ev_loop_now(qs->loop) + wait_ms * RT_NS_PER_MS;
    ev_timer_init(&j->timer, on_wait_timeout, j);
    ev_timer_start(qs->loop, &j->timer, j->wait_deadline_ns);
}

static void on_ready(void *ud, q_part *p, const char *name, uint32_t name_len, uint64_t ready)
{
    srv_part *sp = ud;
    srv_waitq *wq = srv_part_waitq(sp, name, name_len, false);
    if (!wq) return;
    srv_qshard *qs = &srv_q.shards[sp->shard];
    /* Parked Lease calls first (FIFO): each retries its lease; one that still gets nothing
     * (another took the tasks) stays parked. Cancelled ones are answered and dropped. */
    srv_job *j = wq->head;
    wq->head = wq->tail = NULL; /* detach: jobs that re-park join a fresh list */
    while (j) {
        srv_job *next = j->wait_next;
        j->wait_next = j->wait_prev = NULL;
        j->waitq = NULL;
        ev_timer_stop(qs->loop, &j->timer);
        if (atomic_load_explicit(&j->cancelled, memory_order_relaxed)) srv_job_reply(j);
        else j->run(j, sp); /* re-parks itself if it got nothing */
        j = next;
    }
    if (wq->subs) srv_sub_serve(sp, wq);
    srv_part_waitq_gc(sp, wq);
}

void srv_part_serve_ready(srv_part *sp) { q_part_drain_ready(sp->p, on_ready, sp); }

void srv_part_serve_durable(srv_part *sp)
{
    uint64_t durable = q_log_durable(q_part_log(sp->p));
    if (durable == sp->served_durable) return; /* nothing new became visible */
    sp->served_durable = durable;
    srv_part_serve_ready(sp);
}
