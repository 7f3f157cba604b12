/* server/srv_stream_admin: ringq.v1.Streams CreateStream, UpdateStream, GetStream, ListStreams,
 * DeleteStream, PurgeStream.
 *
 * Create, Update and Delete change the subject -> stream directory: they go through shard 0's
 * serialised changes (srv_stream_dir.h): overlap checked on shard 0, the STREAM / SDELETE
 * record written by the partition's owner (answered once durable), the new entry applied on
 * every shard, then the answer. Get and Purge go to the partition's owner like a queue's Admin
 * call. ListStreams takes the page's names from the origin's own directory copy and asks each
 * partition concerned for those streams' StreamInfo. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "proto_wire/pw_pb.h"
#include "server/srv_auth.h"
#include "server/srv_stream_int.h"
#include "server/srv_stream_parts.h"

static pw_pb_bytes view(const void *p, size_t n) { return (pw_pb_bytes){(const uint8_t *)p, n}; }

bool srv_stream_reject_draining(pw_grpc_call *c)
{
    if (!srv_runtime_draining(srv_shard_runtime(srv_shard_self()))) return false;
    pw_grpc_call_finish(c, PW_GRPC_UNAVAILABLE, "server is draining");
    return true;
}

bool srv_stream_check_name(srv_job *j, pw_pb_bytes name, const char *field)
{
    q_err e;
    if (q_stream_name_check_as(field, srv_chars(name), name.len, &e) == Q_OK) return true;
    srv_job_err(j, &e);
    return false;
}

void srv_stream_route(srv_job *j, pw_pb_bytes name, const char *field, srv_job_run_fn run)
{
    if (!srv_stream_check_name(j, name, field) ||
        !srv_auth_call_named(j->call, SRV_AUTH_STREAM, srv_chars(name), name.len)) {
        srv_job_decoded_refuse(j);
        return;
    }
    srv_call_route_part(j, q_part_of(srv_chars(name), name.len, srv_q.nparts), run);
}

q_stream *srv_stream_find(srv_job *j, srv_part *sp, pw_pb_bytes name)
{
    q_stream *s = q_stream_find(sp->p, srv_chars(name), name.len);
    if (!s) srv_job_fail(j, Q_NOT_FOUND, "no stream '%.*s'", (int)name.len, srv_chars(name));
    return s;
}

srv_sdir_ent *srv_stream_ent_of(q_stream *s, uint32_t part)
{
    uint32_t nl;
    const char *name = q_stream_name(s, &nl);
    const q_filter_set *fs = q_stream_subjects(s);
    q_subject_view self = {name, nl};
    srv_sdir_ent *e = fs->n == 0 ? srv_sdir_ent_new(name, nl, part, &self, 1)
                                 : srv_sdir_ent_new(name, nl, part, fs->f, fs->n);
    q_stream_cfg c;
    q_stream_config(s, &c);
    if (e) e->parts = c.parts > 1 ? c.parts : 1;
    return e;
}

void srv_stream_boot_entries(srv_part *sp, int shard, void (*add)(int shard, srv_sdir_ent *e))
{
    const char *after = "";
    uint32_t al = 0;
    for (q_stream *s; (s = q_stream_next_by_name(sp->p, after, al)) != NULL;) {
        q_stream_cfg c;
        q_stream_config(s, &c);
        /* A partitioned stream's entry is its member 0's (the other members have none). */
        if (c.part_index == 0)
            add(shard, srv_stream_ent_of(s, sp->no)); /* NULL (out of memory): add says so */
        after = q_stream_name(s, &al);
    }
}

/* Encodes the StreamInfo of s as the job's reply. */
static void put_info(srv_job *j, srv_part *sp, q_stream *s, const char *filter, size_t flen)
{
    if (srv_stream_info_encode(&j->resp, 0, sp->p, s, sp->no, srv_q_now_ms(), filter, flen) < 0)
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the reply");
}

/* ---- Create, Update, Delete: through the directory ---- */

/* The write step of a Create or Update (srv_sdir_write_fn), on the owner. */
static void write_put(srv_job *h, srv_part *sp)
{
    srv_sdir_op *op = h->ctx;
    if (srv_sparts_write_put(h, sp, op->arg)) return; /* a partitioned stream: every member */
    srv_job *j = op->j;
    const pwm_ringq_v1_StreamConfig *m =
        ((const pwm_ringq_v1_CreateStreamRequest *)srv_job_msg(j))->config;
    q_stream_cfg cfg;
    q_subject_view subj[Q_STREAM_SUBJECTS_MAX];
    q_err e;
    uint64_t commit_to = 0;
    q_stream *s = NULL;
    q_status st = srv_stream_cfg_from(m, &cfg, subj, &e);
    if (st == Q_OK)
        st = op->arg /* an update */
                 ? q_stream_update(sp->p, &cfg, srv_q_now_ms(), &s, &commit_to, &e)
                 : q_stream_create(sp->p, &cfg, srv_q_now_ms(), &s, &commit_to, &e);
    if (st != Q_OK) {
        srv_job_err(j, &e);
        srv_job_reply_durable(h, sp); /* what a failure part-way wrote */
        return;
    }
    op->ent = srv_stream_ent_of(s, sp->no);
    if (!op->ent) srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory");
    else put_info(j, sp, s, NULL, 0);
    srv_job_reply_durable(h, sp);
}

static void write_delete(srv_job *h, srv_part *sp)
{
    srv_sdir_op *op = h->ctx;
    if (srv_sparts_write_delete(h, sp)) return; /* a partitioned stream: every member */
    srv_job *j = op->j;
    q_err e;
    uint64_t commit_to = 0;
    if (q_stream_delete(sp->p, op->name, op->name_len, srv_q_now_ms(), &commit_to, &e) != Q_OK) {
        srv_job_err(j, &e);
    } else {
        /* Its parked Reads, Fetches and Consume streams run once more: NOT_FOUND. */
        srv_stream_read_forget(sp, op->name, op->name_len);
        srv_cons_serve_all(sp);
        if (pw_msg_encode(&pwm_ringq_v1_DeleteStreamResponse_desc,
                          &(pwm_ringq_v1_DeleteStreamResponse){0}, &j->resp) < 0)
            srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the reply");
    }
    srv_job_reply_durable(h, sp);
}

/* Origin: the change is done everywhere (or refused): answer the call. */
static void change_done(srv_sdir_op *op)
{
    srv_job_decoded_refuse(op->j); /* answers with its status and frees it */
    srv_sdir_op_free(op);
}

static void change_start(srv_job *j, srv_sdir_kind kind, pw_pb_bytes name, srv_sdir_write_fn write,
                         const q_filter_set *check, int arg)
{
    if (!srv_auth_call_named(j->call, SRV_AUTH_STREAM, srv_chars(name), name.len)) {
        srv_job_decoded_refuse(j);
        return;
    }
    srv_sdir_op *op = srv_sdir_op_new(j, kind, srv_chars(name), name.len, write, change_done);
    if (!op) {
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory");
        srv_job_decoded_refuse(j);
        return;
    }
    if (check) op->check = *check;
    op->arg = arg;
    srv_sdir_change(op);
}

/* Create and Update: the configuration checked whole on the origin (q_stream_cfg_check: every
 * rule but the record limit, which the owner checks again), the subjects to check for overlap.
 * `update` reaches the owner's write step as op->arg. */
static void put_call(pw_grpc_call *c, const uint8_t *msg, size_t len, bool update)
{
    if (srv_stream_reject_draining(c)) return;
    srv_job *j = srv_job_decoded(c, msg, len, &pwm_ringq_v1_CreateStreamRequest_desc);
    if (!j) return;
    _Static_assert(sizeof(pwm_ringq_v1_CreateStreamRequest) ==
                       sizeof(pwm_ringq_v1_UpdateStreamRequest),
                   "Create and Update requests share a layout: {config}");
    const pwm_ringq_v1_StreamConfig *m =
        ((const pwm_ringq_v1_CreateStreamRequest *)srv_job_msg(j))->config;
    q_stream_cfg cfg;
    q_subject_view subj[Q_STREAM_SUBJECTS_MAX];
    q_err e;
    if (!m) {
        srv_job_fail(j, Q_INVALID_ARGUMENT, "config is required (config.name: the stream)");
        srv_job_decoded_refuse(j);
        return;
    }
    if (srv_stream_cfg_from(m, &cfg, subj, &e) != Q_OK ||
        q_stream_cfg_check(NULL, &cfg, &e) != Q_OK) {
        srv_job_err(j, &e);
        srv_job_decoded_refuse(j);
        return;
    }
    q_filter_set check;
    q_subject_view self = {cfg.name, cfg.name_len};
    if (q_filter_set_init(&check, cfg.nsubjects ? subj : &self, cfg.nsubjects ? cfg.nsubjects : 1,
                          &e) != Q_OK) {
        srv_job_err(j, &e);
        srv_job_decoded_refuse(j);
        return;
    }
    change_start(j, SRV_SDIR_PUT, m->name, write_put, &check, update);
}

static void on_create(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    put_call(c, msg, len, false);
}

static void on_update(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    put_call(c, msg, len, true);
}

static void on_delete(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    if (srv_stream_reject_draining(c)) return;
    srv_job *j = srv_job_decoded(c, msg, len, &pwm_ringq_v1_DeleteStreamRequest_desc);
    if (!j) return;
    pw_pb_bytes name = ((const pwm_ringq_v1_DeleteStreamRequest *)srv_job_msg(j))->name;
    if (!srv_stream_check_name(j, name, "name")) {
        srv_job_decoded_refuse(j);
        return;
    }
    change_start(j, SRV_SDIR_DEL, name, write_delete, NULL, 0);
}

/* ---- Get, Purge: on the owner ---- */

static void run_get(srv_job *j, srv_part *sp)
{
    const pwm_ringq_v1_GetStreamRequest *r = srv_job_msg(j);
    q_stream *s = srv_stream_find(j, sp, r->name);
    if (s) put_info(j, sp, s, srv_chars(r->subjects_filter), r->subjects_filter.len);
    srv_job_reply(j);
}

static void run_purge(srv_job *j, srv_part *sp)
{
    const pwm_ringq_v1_PurgeStreamRequest *r = srv_job_msg(j);
    q_stream *s = srv_stream_find(j, sp, r->name);
    if (!s) {
        srv_job_reply(j);
        return;
    }
    uint64_t purged = 0, commit_to = 0;
    q_err e;
    if (q_stream_purge(sp->p, s, srv_chars(r->subject), r->subject.len, r->up_to_seq, r->keep,
                       srv_q_now_ms(), &purged, &commit_to, &e) != Q_OK)
        srv_job_err(j, &e);
    else if (pw_msg_encode(&pwm_ringq_v1_PurgeStreamResponse_desc,
                           &(pwm_ringq_v1_PurgeStreamResponse){.purged = purged}, &j->resp) < 0)
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the reply");
    srv_job_reply_durable(j, sp);
}

/* A filter field, checked on the origin ("" allowed). */
static bool check_filter(srv_job *j, const char *field, pw_pb_bytes f)
{
    q_err e;
    if (f.len == 0 || q_filter_check(srv_chars(f), f.len, &e) == Q_OK) return true;
    srv_job_fail(j, Q_INVALID_ARGUMENT, "%s: %s", field, e.msg);
    return false;
}

static void on_get(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    if (srv_stream_reject_draining(c)) return;
    srv_job *j = srv_job_decoded(c, msg, len, &pwm_ringq_v1_GetStreamRequest_desc);
    if (!j) return;
    const pwm_ringq_v1_GetStreamRequest *r = srv_job_msg(j);
    if (!check_filter(j, "subjects_filter", r->subjects_filter)) srv_job_decoded_refuse(j);
    else if (!srv_sparts_get(j, r->name)) srv_stream_route(j, r->name, "name", run_get);
}

static void on_purge(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    if (srv_stream_reject_draining(c)) return;
    srv_job *j = srv_job_decoded(c, msg, len, &pwm_ringq_v1_PurgeStreamRequest_desc);
    if (!j) return;
    const pwm_ringq_v1_PurgeStreamRequest *r = srv_job_msg(j);
    if (!check_filter(j, "subject", r->subject)) {
        srv_job_decoded_refuse(j);
    } else if (r->up_to_seq && r->keep) {
        srv_job_fail(j, Q_INVALID_ARGUMENT, "up_to_seq and keep: one or the other, not both");
        srv_job_decoded_refuse(j);
    } else if (!srv_sparts_purge(j, r->name)) {
        srv_stream_route(j, r->name, "name", run_purge);
    }
}

/* ---- ListStreams ---- */

#define LIST_PAGE_DEFAULT 100u
#define LIST_PAGE_MAX 1000u

typedef struct slist_ctx {
    pw_grpc_call *call;
    uint32_t pending;
    q_status status;
    char msg[Q_ERR_MSG_BYTES];
    buf *parts; /* per partition: (name, StreamInfo) pairs, varint-length-prefixed */
    char next_tok[SRV_STREAM_NAME_BYTES_MAX]; /* the page's last name when more follow */
    uint32_t next_tok_len;
} slist_ctx;

/* Owner: the job carries the names asked of this partition (a length-prefixed list). */
static void run_list_part(srv_job *j, srv_part *sp)
{
    const uint8_t *p = j->req.bytes.ptr, *name;
    size_t left = j->req.bytes.len, nl;
    int rc = 0;
    while (rc == 0 && srv_lp_next(&p, &left, &name, &nl)) {
        q_stream *s = q_stream_find(sp->p, (const char *)name, nl);
        if (!s) continue; /* deleted since the origin's directory listed it */
        size_t mark = buf_size(&j->resp);
        buf info;
        buf_init(&info, (size_t)16 << 20);
        rc = srv_stream_info_encode(&info, 0, sp->p, s, sp->no, srv_q_now_ms(), NULL, 0);
        if (rc == 0) rc = srv_lp_put(&j->resp, name, nl);
        if (rc == 0) rc = srv_lp_put(&j->resp, buf_begin(&info), buf_size(&info));
        if (rc < 0) buf_truncate(&j->resp, mark);
        buf_deinit(&info);
    }
    if (rc < 0) srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the page");
    srv_job_reply(j);
}

typedef struct sref {
    const uint8_t *name, *info;
    size_t name_len, info_len;
} sref;

static int sref_cmp(const void *a, const void *b)
{
    const sref *x = a, *y = b;
    int c = memcmp(x->name, y->name, x->name_len < y->name_len ? x->name_len : y->name_len);
    return c ? c : (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

/* One StreamInfo from the n members' of a partitioned stream (srv_stream_parts.h). */
static int slist_merge(buf *b, const sref *refs, uint32_t n)
{
    const uint8_t *info[Q_STREAM_PARTS_MAX];
    size_t len[Q_STREAM_PARTS_MAX];
    if (n > Q_STREAM_PARTS_MAX) return -EBADMSG;
    for (uint32_t i = 0; i < n; i++) {
        info[i] = refs[i].info;
        len[i] = refs[i].info_len;
    }
    uint32_t home = q_part_of((const char *)refs[0].name, refs[0].name_len, srv_q.nparts);
    return srv_sparts_info_merge_views(b, pwm_ringq_v1_ListStreamsResponse_FIELD_streams, home, n,
                                       info, len);
}

/* ListStreamsResponse from every partition's pairs, in name order. 0 or a negative errno. */
static int slist_put(slist_ctx *lc, buf *b)
{
    size_t n = 0, k = 0;
    const uint8_t *p, *m;
    size_t left, ml;
    for (uint32_t i = 0; i < srv_q.nparts; i++)
        for (p = buf_begin(&lc->parts[i]), left = buf_size(&lc->parts[i]);
             srv_lp_next(&p, &left, &m, &ml);)
            n++;
    sref *refs = rt_calloc(n / 2 + 1, sizeof *refs);
    if (!refs) return -ENOMEM;
    for (uint32_t i = 0; i < srv_q.nparts; i++) {
        p = buf_begin(&lc->parts[i]);
        left = buf_size(&lc->parts[i]);
        while (k < n / 2 && srv_lp_next(&p, &left, &refs[k].name, &refs[k].name_len) &&
               srv_lp_next(&p, &left, &refs[k].info, &refs[k].info_len))
            k++;
    }
    qsort(refs, k, sizeof *refs, sref_cmp);
    int rc = 0;
    for (size_t i = 0, g; rc == 0 && i < k; i += g) {
        for (g = 1; i + g < k && sref_cmp(&refs[i], &refs[i + g]) == 0;) g++;
        if (g == 1)
            rc = pw_pb_put_bytes(b, pwm_ringq_v1_ListStreamsResponse_FIELD_streams, refs[i].info,
                                 refs[i].info_len);
        else rc = slist_merge(b, &refs[i], (uint32_t)g); /* a partitioned stream's members */
        if (rc == -EBADMSG) /* a member missing (a create that failed part-way): member 0's */
            rc = pw_pb_put_bytes(b, pwm_ringq_v1_ListStreamsResponse_FIELD_streams, refs[i].info,
                                 refs[i].info_len);
    }
    pwm_ringq_v1_ListStreamsResponse tail = {
        .next_page_token = view(lc->next_tok, lc->next_tok_len)};
    if (rc == 0) rc = pw_msg_encode(&pwm_ringq_v1_ListStreamsResponse_desc, &tail, b);
    rt_free(refs);
    return rc;
}

static void slist_finish(slist_ctx *lc)
{
    pw_grpc_call *c = lc->call;
    if (!pw_grpc_call_done(c)) {
        if (lc->status != Q_OK) {
            pw_grpc_call_finish(c, (pw_grpc_status)lc->status, lc->msg);
        } else {
            buf *b = pw_grpc_call_send_begin(c);
            int rc = b ? slist_put(lc, b) : -ENOMEM;
            if (b) rc = rc == 0 ? pw_grpc_call_send_commit(c, 0) : (pw_grpc_call_send_abort(c), rc);
            if (rc == 0) pw_grpc_call_finish(c, PW_GRPC_OK, NULL);
            else if (rc == -EMSGSIZE)
                pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED,
                                    "page larger than the message limit: ask a smaller page_size");
            else pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        }
    }
    for (uint32_t k = 0; k < srv_q.nparts; k++) buf_deinit(&lc->parts[k]);
    rt_free(lc->parts);
    pw_grpc_call_unref(lc->call);
    rt_free(lc);
}

static void slist_part_done(srv_job *j)
{
    slist_ctx *lc = j->ctx;
    if (j->status != Q_OK && lc->status == Q_OK) {
        lc->status = j->status;
        snprintf(lc->msg, sizeof lc->msg, "%s", j->msg);
    }
    buf t = lc->parts[j->part_no];
    lc->parts[j->part_no] = j->resp;
    j->resp = t;
    if (--lc->pending == 0) slist_finish(lc);
}

/* The page's names from this shard's directory, each appended to its partition's list. */
static q_status slist_pick(slist_ctx *lc, const pwm_ringq_v1_ListStreamsRequest *r, buf *names)
{
    uint32_t page = r->page_size ? r->page_size : LIST_PAGE_DEFAULT, taken = 0;
    const char *subj = srv_chars(r->subject);
    bool wild = r->subject.len && q_filter_has_wildcard(subj, r->subject.len);
    const srv_sdir_ent *only = r->subject.len && !wild ? srv_sdir_lookup(subj, r->subject.len)
                                                       : NULL;
    if (r->subject.len && !wild && !only) return Q_OK; /* no stream captures it: empty page */
    for (uint32_t i = 0, n = srv_sdir_count(); i < n; i++) {
        const srv_sdir_ent *e = srv_sdir_at(i);
        if (only && e != only) continue;
        if (wild && !q_filter_set_overlap(&e->subjects, subj, r->subject.len, NULL)) continue;
        sref a = {(const uint8_t *)e->name, NULL, e->name_len, 0},
             t = {r->page_token.ptr, NULL, r->page_token.len, 0};
        if (r->page_token.len && sref_cmp(&a, &t) <= 0) continue;
        if (taken == page) {
            const srv_sdir_ent *last = srv_sdir_at(i - 1);
            memcpy(lc->next_tok, last->name, last->name_len);
            lc->next_tok_len = last->name_len;
            break;
        }
        for (uint32_t m = 0; m < e->parts; m++) /* a partitioned stream: every member */
            if (srv_lp_put(&names[srv_sparts_member_part(e->part, m)], (const uint8_t *)e->name,
                           e->name_len) < 0)
                return Q_RESOURCE_EXHAUSTED;
        taken++;
    }
    return Q_OK;
}

static void on_list(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    if (srv_stream_reject_draining(c)) return;
    pwm_ringq_v1_ListStreamsRequest r;
    pw_msg_arena a;
    if (srv_msg_decode(c, &pwm_ringq_v1_ListStreamsRequest_desc, &r, msg, len, &a) < 0) return;
    pw_msg_arena_deinit(&a); /* no sub-messages: views into msg */
    q_err e;
    if (r.page_size > LIST_PAGE_MAX) {
        pw_grpc_call_finish(c, PW_GRPC_INVALID_ARGUMENT, "page_size must be 1..1000 (0: 100)");
        return;
    }
    /* A subject names the stream capturing it; a filter (wildcards) every stream whose
     * subjects it overlaps (what `ringq sub 'orders.>'` looks for). */
    if (r.subject.len && q_filter_check(srv_chars(r.subject), r.subject.len, &e) != Q_OK) {
        char why[Q_ERR_MSG_BYTES + 16];
        snprintf(why, sizeof why, "subject: %s", e.msg);
        pw_grpc_call_finish(c, PW_GRPC_INVALID_ARGUMENT, why);
        return;
    }
    slist_ctx *lc = rt_calloc(1, sizeof *lc);
    buf *names = rt_calloc(srv_q.nparts, sizeof *names);
    if (lc) lc->parts = rt_calloc(srv_q.nparts, sizeof *lc->parts);
    if (!lc || !names || !lc->parts) {
        if (lc) rt_free(lc->parts);
        rt_free(lc);
        rt_free(names);
        pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    for (uint32_t k = 0; k < srv_q.nparts; k++) {
        buf_init(&lc->parts[k], 1);
        buf_init(&names[k], (size_t)1 << 20);
    }
    lc->call = c;
    pw_grpc_call_ref(c);
    lc->pending = 1;
    lc->status = slist_pick(lc, &r, names);
    for (uint32_t k = 0; lc->status == Q_OK && k < srv_q.nparts; k++) {
        if (buf_size(&names[k]) == 0) continue;
        srv_job *j = srv_job_new(NULL, buf_begin(&names[k]), buf_size(&names[k]));
        if (!j) {
            lc->status = Q_RESOURCE_EXHAUSTED;
            break;
        }
        j->ctx = lc;
        lc->pending++;
        srv_job_dispatch(j, k, run_list_part, slist_part_done);
    }
    if (lc->status != Q_OK) snprintf(lc->msg, sizeof lc->msg, "out of memory");
    for (uint32_t k = 0; k < srv_q.nparts; k++) buf_deinit(&names[k]);
    rt_free(names);
    if (--lc->pending == 0) slist_finish(lc);
}

int srv_stream_admin_add_methods(pw_grpc_server *g)
{
    static const pw_grpc_method m[] = {
        {.path = pwm_ringq_v1_Streams_CreateStream_PATH, .on_message = on_create},
        {.path = pwm_ringq_v1_Streams_UpdateStream_PATH, .on_message = on_update},
        {.path = pwm_ringq_v1_Streams_GetStream_PATH, .on_message = on_get},
        {.path = pwm_ringq_v1_Streams_ListStreams_PATH, .on_message = on_list},
        {.path = pwm_ringq_v1_Streams_DeleteStream_PATH, .on_message = on_delete},
        {.path = pwm_ringq_v1_Streams_PurgeStream_PATH, .on_message = on_purge},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        int r = pw_grpc_server_add_method(g, &m[i]);
        if (r < 0) return r;
    }
    return 0;
}
