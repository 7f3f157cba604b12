/* server/srv_stream_dir: every shard's copy of the subject -> stream directory, and the
 * serialised changes to it (shard 0). See srv_stream_dir.h. */
#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "core/rt_log.h"
#include "core/rt_shard.h"
#include "server/srv_queue_int.h"
#include "server/srv_stream_dir.h"
#include "server/srv_stream_int.h"

/* Shard 0 owns the directory's changes. */
#define SDIR_OWNER 0
/* Subjects remembered per shard (direct-mapped by q_subject_hash): publishers repeat their
 * subjects, so a lookup is usually one hash and one filter-set match instead of a walk over
 * every stream, and a publish's (srv_sdir_route) one hash and a compare of the bytes it
 * remembered checked. 256 slots of 72 bytes (18 KiB a shard); cleared at every directory
 * change. */
#define SDIR_CACHE_SLOTS 256u
/* Longest subject a slot remembers by its bytes: producers' subjects are short; a longer one is
 * checked and matched on every publish, as before. */
#define SDIR_CACHE_SUBJECT_BYTES 52u

/* One remembered subject: its hash and stream; with checked_len > 0, its bytes (checked valid
 * by q_subject_check when they were put there). */
typedef struct sdir_slot {
    uint64_t hash;
    const srv_sdir_ent *e;
    uint32_t checked_len;
    char subj[SDIR_CACHE_SUBJECT_BYTES];
} sdir_slot;

/* A shard's copy: sorted by name, touched only by its thread. The boot list is written by the
 * shard in its shard_init and only read (by every shard) after the start-up barrier. */
typedef struct sdir_shard {
    srv_sdir_ent **ents;
    uint32_t n, cap;
    bool built;
    srv_sdir_ent **boot; /* this shard's partitions' streams at start */
    uint32_t nboot;
    /* Shard 0 only: the changes waiting, the first one running. */
    srv_sdir_op *head, *tail;
    /* A subject's hash -> the stream that captured it. A lookup's hit is checked by matching
     * the subject against that stream's filters (a subject belongs to at most one stream); a
     * route's hit is not (its bytes were checked and matched when stored): dir_put and dir_del
     * clearing the cache at every change is what keeps a route's hit true. */
    sdir_slot cache[SDIR_CACHE_SLOTS];
    uint64_t lookups; /* srv_sdir_lookup calls (srv_sdir_lookups) */
    uint64_t checks;  /* subjects srv_sdir_route checked (srv_sdir_subject_checks) */
} sdir_shard;

static sdir_shard g_dir[RT_SHARDS_MAX];
/* Shards that have not yet copied the boot lists: the last one to do so frees them. */
static _Atomic int g_boot_users;

srv_sdir_ent *srv_sdir_ent_new(const char *name, size_t name_len, uint32_t part,
                               const q_subject_view *filters, uint32_t n)
{
    if (name_len == 0 || name_len > SRV_STREAM_NAME_BYTES_MAX || n == 0 || n > Q_FILTER_SET_MAX)
        return NULL;
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++) total += filters[i].len;
    srv_sdir_ent *e = rt_calloc(1, sizeof *e + total + 1);
    if (!e) return NULL;
    memcpy(e->name, name, name_len);
    e->name_len = (uint32_t)name_len;
    e->part = part;
    e->parts = 1;
    q_subject_view v[Q_FILTER_SET_MAX];
    size_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        memcpy(e->bytes + off, filters[i].ptr, filters[i].len);
        v[i] = (q_subject_view){e->bytes + off, filters[i].len};
        off += filters[i].len;
    }
    e->bytes_len = (uint32_t)total;
    q_err err;
    if (q_filter_set_init(&e->subjects, v, n, &err) != Q_OK) {
        rt_free(e);
        return NULL;
    }
    return e;
}

/* A copy of `src` in this thread's memory (the filters re-pointed at the copy's bytes). */
static srv_sdir_ent *ent_dup(const srv_sdir_ent *src)
{
    q_subject_view v[Q_FILTER_SET_MAX];
    for (uint32_t i = 0; i < src->subjects.n; i++) v[i] = src->subjects.f[i];
    srv_sdir_ent *e = srv_sdir_ent_new(src->name, src->name_len, src->part, v, src->subjects.n);
    if (e) e->parts = src->parts;
    return e;
}

static int name_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

/* Index of `name` in d, or where it would go (*found false). */
static uint32_t find_pos(const sdir_shard *d, const char *name, size_t len, bool *found)
{
    uint32_t lo = 0, hi = d->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = name_cmp(d->ents[mid]->name, d->ents[mid]->name_len, name, len);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    *found = false;
    return lo;
}

/* Puts e (taken) into d, replacing a stream of the same name. 0 or -ENOMEM (e freed). */
static int dir_put(sdir_shard *d, srv_sdir_ent *e)
{
    memset(d->cache, 0, sizeof d->cache);
    bool found;
    uint32_t i = find_pos(d, e->name, e->name_len, &found);
    if (found) {
        rt_free(d->ents[i]);
        d->ents[i] = e;
        return 0;
    }
    if (d->n == d->cap) {
        uint32_t cap = d->cap ? d->cap * 2 : 16;
        srv_sdir_ent **ne = rt_realloc(d->ents, cap * sizeof *ne);
        if (!ne) {
            rt_free(e);
            return -ENOMEM;
        }
        d->ents = ne;
        d->cap = cap;
    }
    memmove(&d->ents[i + 1], &d->ents[i], (d->n - i) * sizeof *d->ents);
    d->ents[i] = e;
    d->n++;
    return 0;
}

static void dir_del(sdir_shard *d, const char *name, size_t len)
{
    memset(d->cache, 0, sizeof d->cache);
    bool found;
    uint32_t i = find_pos(d, name, len, &found);
    if (!found) return;
    rt_free(d->ents[i]);
    memmove(&d->ents[i], &d->ents[i + 1], (d->n - i - 1) * sizeof *d->ents);
    d->n--;
}

static void boot_free_all(void)
{
    for (int s = 0; s < RT_SHARDS_MAX; s++) {
        for (uint32_t i = 0; i < g_dir[s].nboot; i++) rt_free(g_dir[s].boot[i]);
        rt_free(g_dir[s].boot);
        g_dir[s].boot = NULL;
        g_dir[s].nboot = 0;
    }
}

/* This shard's copy, built from the boot lists at its first use (after the start-up barrier,
 * when no boot list changes any more). A stream that cannot be copied (out of memory) is logged
 * and missing from this shard's copy until its next change. */
static sdir_shard *self_dir(void)
{
    int self = srv_q_self();
    sdir_shard *d = &g_dir[self];
    if (d->built) return d;
    d->built = true;
    for (int s = 0; s < srv_q.nshards; s++) {
        for (uint32_t i = 0; i < g_dir[s].nboot; i++) {
            srv_sdir_ent *e = ent_dup(g_dir[s].boot[i]);
            if (!e || dir_put(d, e) < 0)
                log_error("stream directory: out of memory", "shard=%d stream=%s", self,
                          g_dir[s].boot[i]->name);
        }
    }
    if (atomic_fetch_sub_explicit(&g_boot_users, 1, memory_order_acq_rel) == 1) boot_free_all();
    return d;
}

/* The stream capturing subject (hash h) in d, through its cache slot sl (filled on a miss). */
static const srv_sdir_ent *dir_match(sdir_shard *d, const char *subject, size_t len, uint64_t h,
                                     sdir_slot *sl)
{
    const srv_sdir_ent *hit = sl->e;
    if (hit && sl->hash == h && q_filter_set_match(&hit->subjects, subject, len, NULL)) return hit;
    for (uint32_t i = 0; i < d->n; i++) {
        if (!q_filter_set_match(&d->ents[i]->subjects, subject, len, NULL)) continue;
        *sl = (sdir_slot){.hash = h, .e = d->ents[i]};
        return d->ents[i];
    }
    return NULL;
}

const srv_sdir_ent *srv_sdir_lookup(const char *subject, size_t len)
{
    sdir_shard *d = self_dir();
    d->lookups++;
    uint64_t h = q_subject_hash(subject, len);
    return dir_match(d, subject, len, h, &d->cache[h % SDIR_CACHE_SLOTS]);
}

q_status srv_sdir_route(const char *subject, size_t len, const srv_sdir_ent **out, q_err *e)
{
    sdir_shard *d = self_dir();
    d->lookups++;
    uint64_t h = q_subject_hash(subject, len);
    sdir_slot *sl = &d->cache[h % SDIR_CACHE_SLOTS];
    /* checked_len 0: a slot srv_sdir_lookup filled, or a subject too long to remember: its
     * bytes were not checked here, so even the empty subject (whose hash a lookup may have
     * stored) takes the check. */
    if (sl->e && sl->checked_len != 0 && sl->checked_len == len && sl->hash == h &&
        memcmp(sl->subj, subject, len) == 0) {
        *out = sl->e;
        return Q_OK;
    }
    *out = NULL;
    d->checks++;
    q_status st = q_subject_check(subject, len, e);
    if (st != Q_OK) return st;
    *out = dir_match(d, subject, len, h, sl);
    if (*out && sl->e == *out && len <= sizeof sl->subj) { /* checked, and sl names it */
        memcpy(sl->subj, subject, len);
        sl->checked_len = (uint32_t)len;
    }
    return Q_OK;
}

uint64_t srv_sdir_lookups(void) { return self_dir()->lookups; }

uint64_t srv_sdir_subject_checks(void) { return self_dir()->checks; }

const srv_sdir_ent *srv_sdir_find(const char *name, size_t len)
{
    sdir_shard *d = self_dir();
    bool found;
    uint32_t i = find_pos(d, name, len, &found);
    return found ? d->ents[i] : NULL;
}

uint32_t srv_sdir_count(void) { return self_dir()->n; }

const srv_sdir_ent *srv_sdir_at(uint32_t i)
{
    sdir_shard *d = self_dir();
    return i < d->n ? d->ents[i] : NULL;
}

/* ---- changes ---- */

srv_sdir_op *srv_sdir_op_new(srv_job *j, srv_sdir_kind kind, const char *name, size_t name_len,
                             srv_sdir_write_fn write, void (*done)(srv_sdir_op *op))
{
    assert(name_len > 0 && name_len <= SRV_STREAM_NAME_BYTES_MAX);
    srv_sdir_op *op = rt_calloc(1, sizeof *op + (size_t)srv_q.nshards * sizeof op->bcast[0]);
    if (!op) return NULL;
    op->j = j;
    op->kind = kind;
    op->write = write;
    op->done = done;
    memcpy(op->name, name, name_len);
    op->name_len = (uint32_t)name_len;
    op->part = q_part_of(name, name_len, srv_q.nparts);
    return op;
}

void srv_sdir_op_free(srv_sdir_op *op)
{
    rt_free(op->ent);
    rt_free(op);
}

static void op_start(srv_sdir_op *op);

/* Shard 0: the op is finished (answered or failed); back to the origin, then the next one. */
static void op_finish(srv_sdir_op *op)
{
    sdir_shard *d = &g_dir[SDIR_OWNER];
    assert(d->head == op);
    d->head = op->next;
    if (!d->head) d->tail = NULL;
    op->next = NULL;
    wk_call_reply(&op->wc, 0);
    if (d->head) op_start(d->head);
}

/* Every shard: apply the change to its copy. */
static void on_apply(wk_call *c, int self)
{
    srv_sdir_op *op = c->ud;
    sdir_shard *d = self_dir();
    if (op->kind == SRV_SDIR_DEL || !op->ent) {
        dir_del(d, op->name, op->name_len);
        wk_call_reply(c, 0);
        return;
    }
    srv_sdir_ent *e = ent_dup(op->ent);
    if (e && dir_put(d, e) == 0) {
        wk_call_reply(c, 0);
        return;
    }
    /* The old entry stays (or none): this shard routes by it until the next change. The call
     * is answered RESOURCE_EXHAUSTED, so its client retries (CreateStream and UpdateStream are
     * idempotent: the retry sends the entry again). */
    log_error("stream directory: out of memory", "shard=%d stream=%s", self, op->name);
    wk_call_reply(c, -ENOMEM);
}

static void on_applied(wk_call *c, int result)
{
    srv_sdir_op *op = c->ud;
    if (result < 0 && op->j->status == Q_OK)
        srv_job_fail(op->j, Q_RESOURCE_EXHAUSTED,
                     "stream %.64s written, but shard %d could not route it (out of memory): retry",
                     op->name, c->target);
    if (--op->bcast_pending == 0) op_finish(op);
}

/* Shard 0: the partition's owner wrote the record (or refused). */
static void on_written(srv_job *h)
{
    srv_sdir_op *op = h->ctx;
    if (h->status != Q_OK && op->j->status == Q_OK) { /* the commit failed */
        op->j->status = h->status;
        memcpy(op->j->msg, h->msg, sizeof op->j->msg);
    }
    if (op->j->status != Q_OK) {
        op_finish(op);
        return;
    }
    op->bcast_pending = (uint32_t)srv_q.nshards;
    for (int s = 0; s < srv_q.nshards; s++) {
        op->bcast[s] = (wk_call){.run = on_apply, .done = on_applied, .ud = op};
        wk_call_start(srv_q.mesh, SDIR_OWNER, s, &op->bcast[s]);
    }
}

/* Shard 0: step 2 (overlap) for a PUT, then the owner's write. */
static void op_start(srv_sdir_op *op)
{
    sdir_shard *d = self_dir();
    srv_job *j = op->j;
    if (op->kind == SRV_SDIR_PUT) {
        bool exists = srv_sdir_find(op->name, op->name_len) != NULL;
        if (!exists && d->n >= SRV_STREAMS_MAX) {
            srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "too many streams (at most %u)", SRV_STREAMS_MAX);
            op_finish(op);
            return;
        }
        for (uint32_t i = 0; i < d->n; i++) {
            const srv_sdir_ent *e = d->ents[i];
            if (name_cmp(e->name, e->name_len, op->name, op->name_len) == 0) continue;
            for (uint32_t k = 0; k < op->check.n; k++) {
                uint32_t w;
                if (!q_filter_set_overlap(&e->subjects, op->check.f[k].ptr, op->check.f[k].len, &w))
                    continue;
                srv_job_fail(j, Q_FAILED_PRECONDITION,
                             "subjects overlap: '%.*s' of this stream and '%.*s' of stream %s",
                             (int)op->check.f[k].len, op->check.f[k].ptr, (int)e->subjects.f[w].len,
                             e->subjects.f[w].ptr, e->name);
                op_finish(op);
                return;
            }
        }
    }
    srv_job *h = srv_job_new(NULL, NULL, 0);
    if (!h) {
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory");
        op_finish(op);
        return;
    }
    h->ctx = op;
    srv_job_dispatch(h, op->part, op->write, on_written);
}

static void on_op_arrived(wk_call *c, int self)
{
    srv_sdir_op *op = c->ud;
    sdir_shard *d = &g_dir[SDIR_OWNER];
    op->next = NULL;
    bool idle = d->head == NULL;
    if (d->tail) d->tail->next = op;
    else d->head = op;
    d->tail = op;
    if (idle) op_start(op);
}

static void on_op_back(wk_call *c, int result)
{
    srv_sdir_op *op = c->ud;
    op->done(op);
}

void srv_sdir_change(srv_sdir_op *op)
{
    op->wc = (wk_call){.run = on_op_arrived, .done = on_op_back, .ud = op};
    wk_call_start(srv_q.mesh, srv_q_self(), SDIR_OWNER, &op->wc);
}

/* ---- life ---- */

/* Set by boot_add when a stream could not be listed: the start fails (a stream missing from
 * the directory would refuse its publishes). Written and read by the shard's own init. */
static _Thread_local bool t_boot_failed;

static void boot_add(int shard, srv_sdir_ent *e)
{
    sdir_shard *d = &g_dir[shard];
    srv_sdir_ent **nb = e ? rt_realloc(d->boot, (d->nboot + 1) * sizeof *nb) : NULL;
    if (!nb) {
        rt_free(e);
        t_boot_failed = true;
        return;
    }
    d->boot = nb;
    d->boot[d->nboot++] = e;
}

void srv_sdir_shard_init(int shard)
{
    sdir_shard *d = &g_dir[shard];
    memset(d, 0, sizeof *d);
    if (shard == 0) atomic_store(&g_boot_users, srv_q.nshards);
    for (uint32_t k = 0; k < srv_q.nparts; k++) {
        srv_part *sp = srv_q.shards[shard].parts ? srv_q.shards[shard].parts[k] : NULL;
        if (!sp) continue;
        uint32_t before = d->nboot;
        t_boot_failed = false;
        srv_stream_boot_entries(sp, shard, boot_add);
        if (t_boot_failed) {
            log_error("stream directory: out of memory at start", "shard=%d partition=%u", shard,
                      k);
            srv_runtime_fail(srv_shard_runtime(srv_shard_self()));
            return;
        }
        log_debug("streams replayed", "partition=%u streams=%u", k, d->nboot - before);
    }
}

void srv_sdir_shard_fini(int shard)
{
    sdir_shard *d = &g_dir[shard];
    if (!d->built) {
        d->built = true;
        if (atomic_fetch_sub_explicit(&g_boot_users, 1, memory_order_acq_rel) == 1) boot_free_all();
    }
    for (uint32_t i = 0; i < d->n; i++) rt_free(d->ents[i]);
    rt_free(d->ents);
    d->ents = NULL;
    d->n = d->cap = 0;
    d->built = false;
}
