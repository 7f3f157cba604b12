/* server/srv_stream_parts: partitioned streams, the fan-out over the members and the admin
 * calls (srv_stream_parts.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "server/srv_auth.h"
#include "server/srv_stream_int.h"
#include "server/srv_stream_parts.h"

/* Room for one member's decoded StreamInfo (its per-subject counts are at most
 * Q_STREAM_SUBJECT_COUNTS_MAX entries of ~40 bytes: the arena grows in chunks to that). */
#define SPARTS_ARENA_CHUNK_BYTES ((size_t)64 << 10)
#define SPARTS_ARENA_LIMIT_BYTES ((size_t)16 << 20)

uint32_t srv_sparts_member_part(uint32_t home, uint32_t k) { return (home + k) % srv_q.nparts; }

uint32_t srv_sparts_member_of_part(uint32_t home, uint32_t part)
{
    return (part + srv_q.nparts - home) % srv_q.nparts;
}

uint32_t srv_sparts_limit(void)
{
    return srv_q.nparts < Q_STREAM_PARTS_MAX ? srv_q.nparts : Q_STREAM_PARTS_MAX;
}

const srv_sdir_ent *srv_sparts_find(pw_pb_bytes name)
{
    const srv_sdir_ent *e = srv_sdir_find(srv_chars(name), name.len);
    return e && e->parts > 1 ? e : NULL;
}

static void member_cfg(const q_stream *s, q_stream_cfg *c) { q_stream_config(s, c); }

uint64_t srv_sparts_seq_out(const q_stream *s, uint64_t p)
{
    q_stream_cfg c;
    member_cfg(s, &c);
    return q_stream_seq_join(c.parts, c.part_index, p);
}

/* Member k's bound for "at or after stream sequence S": its first sequence p with
 * (p - 1) * n + k + 1 >= S, i.e. p = ceil((S - k - 1) / n) + 1 (1 when S <= k + 1). */
static uint64_t member_below(uint64_t S, uint32_t n, uint32_t k)
{
    if (S <= (uint64_t)k + 1) return 1;
    return (S - k - 1 + n - 1) / n + 1;
}

uint64_t srv_sparts_seq_from_k(uint32_t parts, uint32_t k, uint64_t S)
{
    return parts <= 1 || S == 0 ? S : member_below(S, parts, k);
}

uint64_t srv_sparts_seq_from(const q_stream *s, uint64_t S)
{
    q_stream_cfg c;
    member_cfg(s, &c);
    return c.parts <= 1 || S == 0 ? S : member_below(S, c.parts, c.part_index);
}

uint64_t srv_sparts_seq_in(const q_stream *s, uint64_t S)
{
    q_stream_cfg c;
    member_cfg(s, &c);
    uint32_t k;
    uint64_t p = q_stream_seq_split(c.parts, S, &k);
    return k == c.part_index ? p : 0;
}

bool srv_sparts_get_message(srv_job *j, srv_job_run_fn run)
{
    const pwm_ringq_v1_GetMessageRequest *r = srv_job_msg(j);
    const srv_sdir_ent *e = srv_sparts_find(r->stream);
    if (!e) return false;
    if (!srv_auth_call_named(j->call, SRV_AUTH_STREAM, srv_chars(r->stream), r->stream.len)) {
        srv_job_decoded_refuse(j);
        return true;
    }
    uint32_t k;
    if (r->which_case == pwm_ringq_v1_GetMessageRequest_FIELD_last_by_subject)
        k = q_stream_member_of(e->parts, srv_chars(r->last_by_subject), r->last_by_subject.len);
    else q_stream_seq_split(e->parts, r->seq, &k);
    srv_call_route_part(j, srv_sparts_member_part(e->part, k), run);
    return true;
}

void srv_sparts_cons_state(const q_stream *s, pwm_ringq_v1_ConsumerState *st)
{
    q_stream_cfg c;
    member_cfg(s, &c);
    if (c.parts <= 1) return;
    st->delivered_stream_seq = q_stream_seq_join(c.parts, c.part_index, st->delivered_stream_seq);
    st->delivered_consumer_seq = q_stream_seq_join(c.parts, c.part_index,
                                                   st->delivered_consumer_seq);
    st->position_seq = q_stream_seq_join(c.parts, c.part_index, st->position_seq);
    st->ack_floor_stream_seq = q_stream_seq_join(c.parts, c.part_index,
                                                 st->ack_floor_stream_seq + 1) -
                               1;
}

/* ---- fan-out ---- */

srv_sfan *srv_sfan_new(uint32_t home, uint32_t parts, const void *arg, void *ctx,
                       srv_sfan_done_fn done)
{
    srv_sfan *f = rt_calloc(1, sizeof *f + parts * sizeof f->resp[0]);
    if (!f) return NULL;
    f->home = home;
    f->parts = parts;
    f->arg = arg;
    f->ctx = ctx;
    f->done = done;
    for (uint32_t k = 0; k < parts; k++) buf_init(&f->resp[k], (size_t)64 << 20);
    return f;
}

void srv_sfan_free(srv_sfan *f)
{
    if (!f) return;
    for (uint32_t k = 0; k < f->parts; k++) buf_deinit(&f->resp[k]);
    rt_free(f);
}

uint32_t srv_sfan_member(const srv_job *j)
{
    return srv_sparts_member_of_part(srv_sfan_of(j)->home, j->part_no);
}

static void fan_fail(srv_sfan *f, q_status st, const char *msg)
{
    if (f->status != Q_OK) return;
    f->status = st;
    snprintf(f->msg, sizeof f->msg, "%s", msg);
}

static void fan_member_done(srv_job *j)
{
    srv_sfan *f = j->origin_ctx;
    uint32_t k = srv_sparts_member_of_part(f->home, j->part_no);
    if (j->status != Q_OK) fan_fail(f, j->status, j->msg);
    buf t = f->resp[k];
    f->resp[k] = j->resp;
    j->resp = t;
    if (--f->pending == 0) f->done(f);
}

void srv_sfan_start(srv_sfan *f, srv_job_run_fn run)
{
    f->pending = 1;
    for (uint32_t k = 0; k < f->parts; k++) {
        srv_job *j = srv_job_new(NULL, NULL, 0);
        if (!j) {
            fan_fail(f, Q_RESOURCE_EXHAUSTED, "out of memory");
            break;
        }
        j->ctx = f->job_ctx ? f->job_ctx : f;
        j->origin_ctx = f;
        f->pending++;
        srv_job_dispatch(j, srv_sparts_member_part(f->home, k), run, fan_member_done);
    }
    if (--f->pending == 0) f->done(f);
}

/* ---- StreamInfo merge ---- */

static int count_cmp(const void *a, const void *b)
{
    const pwm_ringq_v1_SubjectCount *x = a, *y = b;
    size_t n = x->subject.len < y->subject.len ? x->subject.len : y->subject.len;
    int c = n ? memcmp(x->subject.ptr, y->subject.ptr, n) : 0;
    return c ? c : (x->subject.len > y->subject.len) - (x->subject.len < y->subject.len);
}

/* Folds member k's state into the sum. */
static void state_fold(pwm_ringq_v1_StreamState *sum, const pwm_ringq_v1_StreamState *m,
                       uint32_t parts, uint32_t k)
{
    uint64_t last = q_stream_seq_join(parts, k, m->last_seq);
    if (last > sum->last_seq) sum->last_seq = last;
    if (m->messages) {
        uint64_t first = q_stream_seq_join(parts, k, m->first_seq);
        if (sum->messages == 0 || first < sum->first_seq) sum->first_seq = first;
        if (sum->messages == 0 || m->first_unix_ms < sum->first_unix_ms)
            sum->first_unix_ms = m->first_unix_ms;
        if (m->last_unix_ms > sum->last_unix_ms) sum->last_unix_ms = m->last_unix_ms;
    }
    sum->messages += m->messages;
    sum->bytes += m->bytes;
    sum->num_subjects += m->num_subjects;
    sum->num_deleted += m->num_deleted;
    sum->subjects_truncated |= m->subjects_truncated;
}

static int info_put(buf *out, uint32_t field, pwm_ringq_v1_StreamInfo *info,
                    pwm_ringq_v1_StreamState *sum, uint32_t *members, uint32_t parts)
{
    info->state = sum;
    info->member_partitions = members;
    info->member_partitions_count = parts;
    return field ? pw_msg_encode_field(&pwm_ringq_v1_StreamInfo_desc, info, field, out)
                 : pw_msg_encode(&pwm_ringq_v1_StreamInfo_desc, info, out);
}

int srv_sparts_info_merge_views(buf *out, uint32_t field, uint32_t home, uint32_t n,
                                const uint8_t *const *info, const size_t *len)
{
    pw_msg_arena *ar = rt_calloc(n, sizeof *ar);
    pwm_ringq_v1_StreamInfo *in = rt_calloc(n, sizeof *in), *by = rt_calloc(n, sizeof *by);
    uint32_t members[Q_STREAM_PARTS_MAX];
    int rc = ar && in && by && n <= Q_STREAM_PARTS_MAX ? 0 : -ENOMEM;
    uint32_t k = 0;
    for (; rc == 0 && k < n; k++) {
        pw_msg_arena_init_heap(&ar[k], SPARTS_ARENA_CHUNK_BYTES, SPARTS_ARENA_LIMIT_BYTES);
        rc = pw_msg_decode(&pwm_ringq_v1_StreamInfo_desc, &in[k], info[k], len[k], &ar[k]);
        if (rc == 0 && !in[k].state) rc = -EBADMSG;
        members[k] = srv_sparts_member_part(home, k);
    }
    for (uint32_t i = 0; rc == 0 && i < n; i++) { /* member order, by the partition each names */
        uint32_t m = srv_sparts_member_of_part(home, in[i].partition);
        if (m >= n || by[m].state) rc = -EBADMSG;
        else by[m] = in[i];
    }
    pwm_ringq_v1_StreamState sum = {0};
    pwm_ringq_v1_SubjectCount *counts = NULL;
    size_t ncounts = 0;
    for (uint32_t i = 0; rc == 0 && i < n; i++) ncounts += by[i].state->subjects_count;
    if (rc == 0 && ncounts) {
        counts = rt_calloc(ncounts, sizeof *counts);
        if (!counts) rc = -ENOMEM;
    }
    for (uint32_t i = 0, at = 0; rc == 0 && i < n; i++) {
        state_fold(&sum, by[i].state, n, i);
        for (size_t c = 0; c < by[i].state->subjects_count; c++)
            counts[at++] = by[i].state->subjects[c];
    }
    if (rc == 0) {
        if (sum.messages == 0) sum.first_seq = sum.last_seq + 1;
        if (ncounts) qsort(counts, ncounts, sizeof *counts, count_cmp);
        if (ncounts > Q_STREAM_SUBJECT_COUNTS_MAX) {
            ncounts = Q_STREAM_SUBJECT_COUNTS_MAX;
            sum.subjects_truncated = true;
        }
        sum.subjects = counts;
        sum.subjects_count = ncounts;
        sum.consumers = by[0].state->consumers; /* every member has the same consumers */
        rc = info_put(out, field, &by[0], &sum, members, n);
    }
    for (uint32_t i = 0; i < k; i++) pw_msg_arena_deinit(&ar[i]);
    rt_free(counts);
    rt_free(by);
    rt_free(in);
    rt_free(ar);
    return rc;
}

int srv_sparts_info_merge(buf *out, uint32_t field, const srv_sfan *f)
{
    const uint8_t *info[Q_STREAM_PARTS_MAX];
    size_t len[Q_STREAM_PARTS_MAX];
    for (uint32_t k = 0; k < f->parts && k < Q_STREAM_PARTS_MAX; k++) {
        info[k] = buf_begin(&f->resp[k]);
        len[k] = buf_size(&f->resp[k]);
    }
    return srv_sparts_info_merge_views(out, field, f->home, f->parts, info, len);
}

/* ---- Create, Update, Delete: the write step on the home owner ---- */

/* The call's StreamConfig (a Create or Update request: the same layout). */
static const pwm_ringq_v1_StreamConfig *op_cfg(const srv_sdir_op *op)
{
    return ((const pwm_ringq_v1_CreateStreamRequest *)srv_job_msg(op->j))->config;
}

/* Member: creates or updates member k (op->arg: an update) and encodes its StreamInfo. */
static void run_member_put(srv_job *j, srv_part *sp)
{
    srv_sfan *f = srv_sfan_of(j);
    const srv_sdir_op *op = f->arg;
    q_stream_cfg cfg;
    q_subject_view subj[Q_STREAM_SUBJECTS_MAX];
    q_err e;
    uint64_t commit_to = 0;
    q_stream *s = NULL;
    q_status st = srv_stream_cfg_from(op_cfg(op), &cfg, subj, &e);
    cfg.parts = f->parts;
    cfg.part_index = srv_sfan_member(j);
    if (st == Q_OK)
        st = op->arg ? q_stream_update(sp->p, &cfg, srv_q_now_ms(), &s, &commit_to, &e)
                     : q_stream_create(sp->p, &cfg, srv_q_now_ms(), &s, &commit_to, &e);
    if (st != Q_OK) srv_job_err(j, &e);
    else if (srv_stream_info_encode(&j->resp, 0, sp->p, s, sp->no, srv_q_now_ms(), NULL, 0) < 0)
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the reply");
    srv_job_reply_durable(j, sp);
}

/* Home owner: every member answered; the op's entry is member 0's (now on this shard). */
static void put_done(srv_sfan *f)
{
    srv_job *h = f->ctx;
    srv_sdir_op *op = h->ctx;
    srv_job *j = op->j;
    if (f->status != Q_OK) {
        srv_job_fail(j, f->status, "%s", f->msg);
    } else {
        srv_part *sp = srv_q_part(f->home);
        q_stream *s = q_stream_find(sp->p, op->name, op->name_len);
        op->ent = s ? srv_stream_ent_of(s, f->home) : NULL;
        if (!op->ent || srv_sparts_info_merge(&j->resp, 0, f) < 0) {
            rt_free(op->ent);
            op->ent = NULL;
            srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory");
        }
    }
    srv_sfan_free(f);
    srv_job_reply(h);
}

bool srv_sparts_write_put(srv_job *h, srv_part *sp, bool update)
{
    srv_sdir_op *op = h->ctx;
    const pwm_ringq_v1_StreamConfig *m = op_cfg(op);
    q_stream *have = q_stream_find(sp->p, op->name, op->name_len);
    q_stream_cfg hc = {0};
    if (have) q_stream_config(have, &hc);
    uint32_t parts = m->has_partitions ? m->partitions : 1;
    if (update && have && !m->has_partitions) parts = hc.parts; /* absent keeps it */
    if (parts <= 1 && hc.parts <= 1) return false;              /* pinned: as always */
    if (have && hc.parts != parts) {
        srv_job_fail(op->j, update ? Q_FAILED_PRECONDITION : Q_ALREADY_EXISTS,
                     "partitions: cannot change (stream %.*s has %u)", (int)op->name_len, op->name,
                     hc.parts);
        srv_job_reply(h);
        return true;
    }
    if (update && !have) {
        srv_job_fail(op->j, Q_NOT_FOUND, "stream %.*s not found", (int)op->name_len, op->name);
        srv_job_reply(h);
        return true;
    }
    srv_sfan *f = srv_sfan_new(sp->no, parts, op, h, put_done);
    if (!f) {
        srv_job_fail(op->j, Q_RESOURCE_EXHAUSTED, "out of memory");
        srv_job_reply(h);
        return true;
    }
    srv_sfan_start(f, run_member_put);
    return true;
}

static void run_member_delete(srv_job *j, srv_part *sp)
{
    const srv_sdir_op *op = srv_sfan_of(j)->arg;
    q_err e;
    uint64_t commit_to = 0;
    if (q_stream_delete(sp->p, op->name, op->name_len, srv_q_now_ms(), &commit_to, &e) != Q_OK) {
        srv_job_err(j, &e);
    } else {
        srv_stream_read_forget(sp, op->name, op->name_len);
        srv_cons_serve_all(sp);
    }
    srv_job_reply_durable(j, sp);
}

static void delete_done(srv_sfan *f)
{
    srv_job *h = f->ctx;
    srv_sdir_op *op = h->ctx;
    if (f->status != Q_OK) srv_job_fail(op->j, f->status, "%s", f->msg);
    else if (pw_msg_encode(&pwm_ringq_v1_DeleteStreamResponse_desc,
                           &(pwm_ringq_v1_DeleteStreamResponse){0}, &op->j->resp) < 0)
        srv_job_fail(op->j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the reply");
    srv_sfan_free(f);
    srv_job_reply(h);
}

bool srv_sparts_write_delete(srv_job *h, srv_part *sp)
{
    srv_sdir_op *op = h->ctx;
    q_stream *s = q_stream_find(sp->p, op->name, op->name_len);
    q_stream_cfg c = {0};
    if (s) q_stream_config(s, &c);
    if (!s || c.parts <= 1) return false;
    srv_sfan *f = srv_sfan_new(sp->no, c.parts, op, h, delete_done);
    if (!f) {
        srv_job_fail(op->j, Q_RESOURCE_EXHAUSTED, "out of memory");
        srv_job_reply(h);
        return true;
    }
    srv_sfan_start(f, run_member_delete);
    return true;
}

/* ---- Get, Purge: fanned from the call's shard ---- */

/* Origin: every member answered a call job's fan: the merged reply is already in j->resp (or
 * the fan's failure is the status); answer and free. */
void srv_sparts_call_end(srv_sfan *f)
{
    srv_job *j = f->ctx;
    if (f->status != Q_OK) srv_job_fail(j, f->status, "%s", f->msg);
    srv_sfan_free(f);
    srv_job_decoded_refuse(j); /* answers with its status (and resp when OK) */
}

bool srv_sparts_call_fan(srv_job *j, pw_pb_bytes name, srv_job_run_fn run, srv_sfan_done_fn done,
                         void *job_ctx)
{
    const srv_sdir_ent *e = srv_sparts_find(name);
    if (!e) return false;
    if (!srv_auth_call_named(j->call, SRV_AUTH_STREAM, srv_chars(name), name.len)) {
        srv_job_decoded_refuse(j);
        return true;
    }
    srv_sfan *f = srv_sfan_new(e->part, e->parts, srv_job_msg(j), j, done);
    if (!f) {
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory");
        srv_job_decoded_refuse(j);
        return true;
    }
    f->job_ctx = job_ctx;
    srv_sfan_start(f, run);
    return true;
}

static void run_member_get(srv_job *j, srv_part *sp)
{
    const pwm_ringq_v1_GetStreamRequest *r = srv_sfan_of(j)->arg;
    q_stream *s = srv_stream_find(j, sp, r->name);
    if (s && srv_stream_info_encode(&j->resp, 0, sp->p, s, sp->no, srv_q_now_ms(),
                                    srv_chars(r->subjects_filter), r->subjects_filter.len) < 0)
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the reply");
    srv_job_reply(j);
}

static void get_done(srv_sfan *f)
{
    srv_job *j = f->ctx;
    if (f->status == Q_OK && srv_sparts_info_merge(&j->resp, 0, f) < 0)
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the reply");
    srv_sparts_call_end(f);
}

bool srv_sparts_get(srv_job *j, pw_pb_bytes name)
{
    return srv_sparts_call_fan(j, name, run_member_get, get_done, NULL);
}

/* Purge below stream sequence S: member k's sequences below member_below(S) (its first at or
 * after S). */

static void run_member_purge(srv_job *j, srv_part *sp)
{
    const pwm_ringq_v1_PurgeStreamRequest *r = srv_sfan_of(j)->arg;
    q_stream *s = srv_stream_find(j, sp, r->name);
    if (!s) {
        srv_job_reply(j);
        return;
    }
    uint64_t up_to = r->up_to_seq
                         ? member_below(r->up_to_seq, srv_sfan_of(j)->parts, srv_sfan_member(j))
                         : 0;
    uint64_t purged = 0, commit_to = 0;
    q_err e;
    if (q_stream_purge(sp->p, s, srv_chars(r->subject), r->subject.len, up_to, r->keep,
                       srv_q_now_ms(), &purged, &commit_to, &e) != Q_OK)
        srv_job_err(j, &e);
    else if (pw_msg_encode(&pwm_ringq_v1_PurgeStreamResponse_desc,
                           &(pwm_ringq_v1_PurgeStreamResponse){.purged = purged}, &j->resp) < 0)
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the reply");
    srv_job_reply_durable(j, sp);
}

static void purge_done(srv_sfan *f)
{
    srv_job *j = f->ctx;
    uint64_t purged = 0;
    for (uint32_t k = 0; f->status == Q_OK && k < f->parts; k++) {
        pwm_ringq_v1_PurgeStreamResponse m;
        pw_msg_arena a;
        pw_msg_arena_init_heap(&a, 256, 4096);
        if (pw_msg_decode(&pwm_ringq_v1_PurgeStreamResponse_desc, &m, buf_begin(&f->resp[k]),
                          buf_size(&f->resp[k]), &a) == 0)
            purged += m.purged;
        pw_msg_arena_deinit(&a);
    }
    if (f->status == Q_OK &&
        pw_msg_encode(&pwm_ringq_v1_PurgeStreamResponse_desc,
                      &(pwm_ringq_v1_PurgeStreamResponse){.purged = purged}, &j->resp) < 0)
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the reply");
    srv_sparts_call_end(f);
}

bool srv_sparts_purge(srv_job *j, pw_pb_bytes name)
{
    const pwm_ringq_v1_PurgeStreamRequest *r = srv_job_msg(j);
    if (!srv_sparts_find(name)) return false;
    /* `keep` counts from the end of one order: a subject's (one member) is kept exactly; the
     * whole stream's or a wildcard's would need the members' orders merged. */
    if (r->keep &&
        (r->subject.len == 0 || q_filter_has_wildcard(srv_chars(r->subject), r->subject.len))) {
        srv_job_fail(j, Q_FAILED_PRECONDITION,
                     "keep without a single subject: %s (keep counts per subject there)",
                     SRV_SPARTS_UNSUPPORTED);
        srv_job_decoded_refuse(j);
        return true;
    }
    return srv_sparts_call_fan(j, name, run_member_purge, purge_done, NULL);
}
