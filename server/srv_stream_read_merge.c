/* server/srv_stream_read_merge: Read of a partitioned stream, its members merged.
 *
 * Order (docs/semantics.md "Partitioned streams"): by publish time (unix_ms), ties by member,
 * each member's own sequence order kept. The origin's session keeps one batch per member (a
 * read job of srv_stream_read.c in merge mode: entries carrying each message's publish time)
 * and emits the least head of all members, but only once no member could still bring an
 * earlier one:
 *   - a member with a head in its batch brings nothing earlier than that head (its order is its
 *     publish order);
 *   - a member read out (end_seq) brings nothing;
 *   - any other member brings nothing earlier than its watermark: the publish time of the last
 *     message taken from it, or the one its owner reported when caught up (no later message of
 *     the member carries an earlier time: the first not yet durable's, else the owner's now).
 * A head is emitted when it is below every such watermark (equal: when its member is lower).
 * While one is held back, the member holding it back is asked for a watermark past the head's
 * time (need_ms): its owner answers once it has one, or parks the job until a commit; a member
 * parked without that ask (it was caught up when nothing was waiting) is told to answer now.
 *
 * Flow control as the pinned Read: the merged messages go out in batches handed to the call by
 * reference; the next batch is merged only once the previous one left, and each member has at
 * most one batch buffered or in flight, so a slow reader pins at most parts + 1 batches. */
#include <errno.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "core/rt_blob.h"
#include "server/srv_stream_int.h"
#include "server/srv_stream_parts.h"
#include "server/srv_stream_read_int.h"

typedef struct rdm_member {
    srv_job *job;      /* in flight, or NULL */
    uint64_t asked_ms; /* the need_ms of the job in flight */
    bool poked;        /* its job was told to answer now */
    bool cut;          /* read out: nothing after what its batch holds */
    uint64_t wm;       /* its next message's publish time is at least this (0: unknown) */
    bool by_time;      /* from start_ms, else from from_seq (its own sequences) */
    uint64_t from_seq, start_ms, end_seq;
    buf batch; /* entries not merged yet (srv_stream_read_int.h) */
} rdm_member;

typedef struct rdm {
    srv_sread_head h; /* first: h.merge = true */
    pw_grpc_call *call;
    int refs; /* the call, each job in flight, the batch in flight */
    bool finished, blob_busy;
    uint32_t parts, home;
    uint64_t left;    /* messages still to send (UINT64_MAX: no limit) */
    rd_args a;        /* the request's; each member job gets a copy with its own positions */
    uint64_t held_ms; /* a head held back (its publish time; 0: none) ... */
    uint32_t held_k;  /* ... of this member */
    buf out;
    rdm_member m[];
} rdm;

static void rdm_unref(rdm *r)
{
    if (--r->refs > 0) return;
    for (uint32_t k = 0; k < r->parts; k++) buf_deinit(&r->m[k].batch);
    buf_deinit(&r->out);
    pw_grpc_call_unref(r->call);
    rt_free(r);
}

/* Tells member k's job in flight to answer now (a parked one would wait for a publish). */
static void rdm_poke(rdm *r, uint32_t k)
{
    rdm_member *mb = &r->m[k];
    if (!mb->job || mb->poked) return;
    mb->poked = true;
    atomic_store_explicit(&mb->job->cancelled, true, memory_order_relaxed);
    srv_sread_sweep(srv_sparts_member_part(r->home, k));
}

static void rdm_end(rdm *r, pw_grpc_status st, const char *why)
{
    if (r->finished) return;
    r->finished = true;
    pw_grpc_call_finish(r->call, st, why);
    pw_grpc_call_set_user(r->call, NULL);
    for (uint32_t k = 0; k < r->parts; k++) rdm_poke(r, k);
    rdm_unref(r);
}

/* Member k's head: true with its publish time, after taking in any watermark before it. */
static bool rdm_head(rdm_member *mb, uint64_t *time_ms)
{
    while (buf_size(&mb->batch) >= SRV_SREAD_ENTRY_BYTES) {
        uint32_t len;
        srv_sread_entry_get(buf_begin(&mb->batch), time_ms, &len);
        if (len) return true;
        if (*time_ms > mb->wm) mb->wm = *time_ms;
        buf_consume(&mb->batch, SRV_SREAD_ENTRY_BYTES);
    }
    return false;
}

static void rdm_done(srv_job *j);

static void rdm_fetch(rdm *r, uint32_t k, uint64_t need_ms)
{
    rdm_member *mb = &r->m[k];
    rd_args a = r->a;
    a.merge = true;
    a.by_time = mb->by_time;
    a.start_ms = mb->start_ms;
    a.from_seq = mb->from_seq;
    a.end_seq = mb->end_seq;
    a.need_ms = need_ms;
    a.max = r->left < READ_BATCH_MSGS ? r->left : READ_BATCH_MSGS;
    srv_job *j = srv_job_new(NULL, (const uint8_t *)&a, sizeof a);
    if (!j) return rdm_end(r, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    j->origin_ctx = r;
    j->ctx = mb;
    mb->job = j;
    mb->asked_ms = need_ms;
    mb->poked = false;
    r->refs++;
    srv_job_dispatch(j, srv_sparts_member_part(r->home, k), srv_sread_run, rdm_done);
}

static void rdm_blob_freed(rt_blob *b);
static void rdm_pump(rdm *r);

/* Can member `best`'s head at time t go before whatever member k (no head) brings next? */
static bool rdm_before(const rdm_member *mb, uint32_t k, uint32_t best, uint64_t t)
{
    return mb->cut || t < mb->wm || (t == mb->wm && best < k);
}

/* Moves the heads that may go into r->out; sets r->held_ms and r->held_k. */
static uint32_t rdm_merge(rdm *r)
{
    uint32_t n = 0;
    r->held_ms = 0;
    while (n < READ_BATCH_MSGS && buf_size(&r->out) < READ_BATCH_BYTES && r->left > 0) {
        uint32_t best = UINT32_MAX;
        uint64_t bt = 0, t;
        for (uint32_t k = 0; k < r->parts; k++)
            if (rdm_head(&r->m[k], &t) && (best == UINT32_MAX || t < bt)) best = k, bt = t;
        if (best == UINT32_MAX) break;
        for (uint32_t k = 0; k < r->parts && !r->held_ms; k++)
            if (k != best && !rdm_head(&r->m[k], &t) && !rdm_before(&r->m[k], k, best, bt))
                r->held_ms = bt, r->held_k = best;
        if (r->held_ms) break;
        rdm_member *mb = &r->m[best];
        uint32_t len;
        srv_sread_entry_get(buf_begin(&mb->batch), &t, &len);
        if (buf_append(&r->out, buf_begin(&mb->batch) + SRV_SREAD_ENTRY_BYTES, len) < 0) {
            if (n == 0) rdm_end(r, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
            break;
        }
        buf_consume(&mb->batch, SRV_SREAD_ENTRY_BYTES + len);
        mb->wm = bt;
        if (r->left != UINT64_MAX) r->left--;
        n++;
    }
    return n;
}

/* Hands r->out (n framed messages) to the call by reference. */
static void rdm_send(rdm *r, uint32_t n)
{
    rt_blob *b = rt_blob_from_buf(&r->out, rdm_blob_freed, r);
    if (!b) return rdm_end(r, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    r->refs++;
    r->blob_busy = true;
    int rc = srv_grpc_send_batch(r->call, b, n);
    rt_blob_unref(b);
    if (rc < 0 && rc != -ECANCELED)
        rdm_end(r, PW_GRPC_RESOURCE_EXHAUSTED, "a message could not be sent");
}

/* Merges what may go, sends it, ends the call when all is sent, asks the members for more. */
static void rdm_pump(rdm *r)
{
    if (r->finished || r->blob_busy) return;
    uint32_t n = rdm_merge(r);
    if (r->finished) return;
    if (n) rdm_send(r, n);
    if (r->finished) return;
    bool all_out = true;
    for (uint32_t k = 0; k < r->parts; k++) {
        rdm_member *mb = &r->m[k];
        uint64_t t;
        bool head = rdm_head(mb, &t);
        if (head || mb->job || !mb->cut) all_out = false;
        if (head || mb->cut || r->left == 0) continue;
        /* Holding a head back: asked for a watermark past it (else it parks until a message). */
        bool holds = r->held_ms && !rdm_before(mb, k, r->held_k, r->held_ms);
        uint64_t need = holds ? r->held_ms : 0;
        if (!mb->job) rdm_fetch(r, k, need);
        else if (mb->asked_ms < need) rdm_poke(r, k);
        if (r->finished) return;
    }
    if ((r->left == 0 || all_out) && !r->blob_busy) rdm_end(r, PW_GRPC_OK, NULL);
}

static void rdm_blob_freed(rt_blob *b)
{
    rdm *r = b->ud;
    if (b->copied_bytes) srv_count_payload(0, b->copied_bytes);
    r->blob_busy = false;
    rdm_pump(r);
    rdm_unref(r);
}

static void rdm_done(srv_job *j)
{
    rdm *r = j->origin_ctx;
    rdm_member *mb = j->ctx;
    mb->job = NULL;
    if (r->finished) {
        /* the call ended: the answer goes with the job */
    } else if (j->status != Q_OK) {
        rdm_end(r, (pw_grpc_status)j->status, j->msg);
    } else if (srv_runtime_draining(srv_shard_runtime(srv_shard_self()))) {
        rdm_end(r, PW_GRPC_UNAVAILABLE, "server is draining");
    } else {
        buf empty = mb->batch; /* empty: a member is asked only once its batch is merged */
        mb->batch = j->resp;
        j->resp = empty;
        if (j->task_id) { /* (a job told to answer before it ran has no position) */
            mb->by_time = false;
            mb->from_seq = j->task_id;
        }
        mb->cut = j->list_cut;
        rdm_pump(r);
    }
    rdm_unref(r);
}

/* Member k's first position: the request's sequence, time, or the message after after_seq. */
static void rdm_member_init(rdm *r, uint32_t k, uint64_t after_seq)
{
    rdm_member *mb = &r->m[k];
    buf_init(&mb->batch, SIZE_MAX);
    mb->by_time = r->a.by_time;
    mb->start_ms = r->a.start_ms;
    mb->from_seq = srv_sparts_seq_from_k(r->parts, k, r->a.from_seq);
    if (after_seq) { /* (time, member, seq) order: member m's next, earlier ones past the ms */
        uint32_t m = (uint32_t)((after_seq - 1) % r->parts);
        if (k < m) mb->start_ms = r->a.start_ms + 1;
        if (k == m) mb->by_time = false, mb->from_seq = (after_seq - 1) / r->parts + 2;
    }
    if (r->a.end_seq) {
        mb->end_seq = srv_sparts_seq_from_k(r->parts, k, r->a.end_seq + 1) - 1;
        mb->cut = mb->end_seq == 0 || (!mb->by_time && mb->from_seq > mb->end_seq);
    }
}

void srv_sread_merge_start(pw_grpc_call *c, const srv_sdir_ent *pe, const rd_args *a, uint64_t max,
                           uint64_t after_seq)
{
    rdm *r = rt_calloc(1, sizeof *r + pe->parts * sizeof r->m[0]);
    if (!r) return (void)pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    r->h.merge = true;
    r->call = c;
    pw_grpc_call_ref(c);
    r->refs = 1;
    r->parts = pe->parts;
    r->home = pe->part;
    r->left = max ? max : UINT64_MAX;
    r->a = *a;
    r->a.snapshot = a->end_seq != 0; /* with end_seq: what each member holds, no wait */
    buf_init(&r->out, SIZE_MAX);
    for (uint32_t k = 0; k < r->parts; k++) rdm_member_init(r, k, after_seq);
    pw_grpc_call_set_user(c, r);
    r->refs++; /* the pump may end the call: r stays until it returned */
    rdm_pump(r);
    rdm_unref(r);
}

void srv_sread_merge_cancel(void *user)
{
    rdm *r = user;
    pw_grpc_call_set_user(r->call, NULL);
    r->finished = true;
    for (uint32_t k = 0; k < r->parts; k++) rdm_poke(r, k);
    rdm_unref(r);
}
