/* server/srv_stream_consume_parts: the origin's half of a Consume session on a partitioned
 * stream (srv_stream_parts.h): the session registers with every member - one bind, poke and
 * unregister job per member, the credits one counter all members claim from - and its acks go
 * each to the member its sequence names, their results put back in the request's order. The
 * session itself, and the owner's half, are srv_stream_consume.c's and srv_stream_csub.c's. */
#include <errno.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "proto_wire/pw_pb.h"
#include "server/srv_stream_consume_int.h"
#include "server/srv_stream_parts.h"

/* ---- a partitioned stream: one registration per member (srv_stream_parts.h) ---- */

/* The binds all answered: bound (the merged ConsumerInfo), or refused (the members that bound
 * let go again, and the session may bind again). */
static void pbind_end(srv_consume *w, uint64_t request_id, uint32_t credits)
{
    srv_sfan *f = w->pfan;
    w->binding = false;
    w->inflight--;
    for (uint32_t k = 0; k < w->parts; k++)
        if (w->unregs[k]) srv_consume_unreg_fill(w, w->unregs[k]);
    if (f->status == Q_OK) {
        w->bound = true;
        if (atomic_load(&w->closed)) srv_consume_unbind_members(w); /* ended while binding */
        buf info;
        buf_init(&info, (size_t)1 << 20);
        int rc = srv_sparts_cons_merge(&info, f);
        if (!w->finished)
            srv_consume_result(w, request_id, Q_OK, NULL, pwm_ringq_v1_ConsumeResult_FIELD_consumer,
                               rc == 0 ? buf_begin(&info) : NULL, rc == 0 ? buf_size(&info) : 0);
        buf_deinit(&info);
        if (!w->finished) srv_consume_grant(w, credits);
        return;
    }
    srv_consume_unbind_members(w);
    if (!w->finished) srv_consume_result(w, request_id, f->status, f->msg, 0, NULL, 0);
    rt_free(w->unregs);
    w->unregs = NULL;
    srv_sfan_free(f);
    w->pfan = NULL;
    w->parts = 0;
}

static void pbind_done(srv_job *j)
{
    srv_cbind_ref *br = j->origin_ctx;
    srv_consume *w = br->w;
    srv_sfan *f = w->pfan;
    uint32_t k = srv_sparts_member_of_part(w->part, j->part_no);
    uint64_t request_id = br->request_id;
    uint32_t credits = br->credits;
    if (j->status == Q_OK) {
        size_t cl = strlen(j->msg);
        memcpy(w->cons, j->msg, cl);
        w->cl = (uint32_t)cl;
        buf t = f->resp[k];
        f->resp[k] = j->resp;
        j->resp = t;
    } else {
        if (f->status == Q_OK) {
            f->status = j->status;
            snprintf(f->msg, sizeof f->msg, "%s", j->msg);
        }
        srv_job_free(w->unregs[k]);
        w->unregs[k] = NULL;
        srv_consume_unref(w); /* no registration on that member */
    }
    srv_job_decoded_release(j);
    rt_free(br);
    if (--w->binds_out == 0) {
        pbind_end(w, request_id, credits);
        srv_consume_maybe_finish(w);
    }
    srv_consume_unref(w); /* this bind's own reference */
}

/* Binds durable consumer b->consumer of partitioned stream e on every member. */
void srv_consume_bind_parts(srv_consume *w, const uint8_t *msg, size_t len,
                            const pwm_ringq_v1_ConsumeRequest *r, const srv_sdir_ent *e)
{
    static const uint8_t room[Q_STREAM_NAME_BYTES_MAX + Q_CONSUMER_NAME_BYTES_MAX];
    const pwm_ringq_v1_ConsumeBind *b = r->bind;
    if (b->consumer.len == 0)
        return srv_consume_result(w, r->request_id, Q_FAILED_PRECONDITION,
                                  "bind: an ephemeral consumer: " SRV_SPARTS_UNSUPPORTED, 0, NULL,
                                  0);
    uint32_t n = e->parts;
    srv_job *jobs[Q_STREAM_PARTS_MAX] = {0};
    srv_cbind_ref *brs[Q_STREAM_PARTS_MAX] = {0};
    srv_sfan *f = srv_sfan_new(e->part, n, NULL, NULL, NULL);
    srv_job **unregs = rt_calloc(n, sizeof *unregs);
    bool ok = f && unregs;
    q_err qe;
    for (uint32_t k = 0; ok && k < n; k++) {
        jobs[k] = srv_job_decoded_msg(msg, len, &pwm_ringq_v1_ConsumeRequest_desc, &qe);
        brs[k] = rt_calloc(1, sizeof *brs[k]);
        unregs[k] = srv_job_new(NULL, room, sizeof room); /* filled when bound */
        ok = jobs[k] && brs[k] && unregs[k];
    }
    if (!ok) {
        for (uint32_t k = 0; k < n; k++) {
            if (jobs[k]) srv_job_decoded_release(jobs[k]), srv_job_free(jobs[k]);
            rt_free(brs[k]);
            if (unregs && unregs[k]) srv_job_free(unregs[k]);
        }
        rt_free(unregs);
        srv_sfan_free(f);
        return srv_consume_result(w, r->request_id, Q_RESOURCE_EXHAUSTED, "out of memory", 0, NULL,
                                  0);
    }
    memcpy(w->stream, b->stream.ptr, b->stream.len);
    w->sl = (uint32_t)b->stream.len;
    w->part = e->part;
    w->parts = n;
    w->unregs = unregs;
    w->pfan = f;
    w->binds_out = n;
    w->binding = true;
    w->inflight++;
    w->refs += 2 * (int)n; /* per member: the bind in flight, and the registration it makes */
    for (uint32_t k = 0; k < n; k++) {
        *brs[k] = (srv_cbind_ref){w, r->request_id, b->credits};
        jobs[k]->origin_ctx = brs[k];
        srv_job_dispatch(jobs[k], srv_sparts_member_part(e->part, k), srv_consume_run_bind,
                         pbind_done);
    }
}

/* Partitioned: what the acks of one request gather (the fan's ctx) until every member answered. */
typedef struct pack_gather {
    srv_consume *w;
    uint64_t request_id;
    uint32_t pending, nrefs;
    uint64_t seqs[]; /* the request's stream sequences, in its order */
} pack_gather;

/* The members' ItemStatus lists back in the request's order, each naming its stream sequence,
 * as ConsumeResult.results entries into out. 0 or -errno. */
static int pack_merge(const srv_sfan *f, const pack_gather *g, buf *out)
{
    pw_msg_arena ar[Q_STREAM_PARTS_MAX];
    pwm_ringq_v1_ConsumeResult in[Q_STREAM_PARTS_MAX];
    size_t next[Q_STREAM_PARTS_MAX] = {0};
    int rc = 0;
    uint32_t k = 0;
    for (; rc == 0 && k < f->parts; k++) {
        pw_msg_arena_init_heap(&ar[k], SRV_MSG_ARENA_CHUNK_BYTES, SRV_MSG_ARENA_BYTES_MAX);
        rc = pw_msg_decode(&pwm_ringq_v1_ConsumeResult_desc, &in[k], buf_begin(&f->resp[k]),
                           buf_size(&f->resp[k]), &ar[k]);
    }
    for (uint32_t i = 0; rc == 0 && i < g->nrefs; i++) {
        uint32_t m;
        q_stream_seq_split(f->parts, g->seqs[i], &m);
        if (next[m] >= in[m].results_count) {
            rc = -EBADMSG;
            break;
        }
        pwm_ringq_v1_ItemStatus is = in[m].results[next[m]++];
        char id[24];
        int il = snprintf(id, sizeof id, "%llu", (unsigned long long)g->seqs[i]);
        is.id = (pw_pb_bytes){(const uint8_t *)id, (size_t)il};
        rc = pw_msg_encode_field(&pwm_ringq_v1_ItemStatus_desc, &is,
                                 pwm_ringq_v1_ConsumeResult_FIELD_results, out);
    }
    for (uint32_t i = 0; i < k; i++) pw_msg_arena_deinit(&ar[i]);
    return rc;
}

static void pack_done(srv_job *j)
{
    srv_cack_ref *ref = j->origin_ctx;
    srv_sfan *f = ref->gather;
    pack_gather *g = f->ctx;
    srv_consume *w = g->w;
    uint32_t k = srv_sparts_member_of_part(f->home, j->part_no);
    if (j->status != Q_OK && f->status == Q_OK) {
        f->status = j->status;
        snprintf(f->msg, sizeof f->msg, "%s", j->msg);
    }
    buf t = f->resp[k];
    f->resp[k] = j->resp;
    j->resp = t;
    srv_job_decoded_release(j);
    rt_free(ref);
    if (--g->pending > 0) return;
    w->inflight--;
    buf out;
    buf_init(&out, (size_t)16 << 20);
    if (f->status == Q_OK && pack_merge(f, g, &out) < 0) {
        f->status = Q_RESOURCE_EXHAUSTED;
        snprintf(f->msg, sizeof f->msg, "acks settled, but the answer could not be encoded");
    }
    if (!w->finished)
        srv_consume_result(w, g->request_id, f->status, f->status ? f->msg : NULL,
                           pwm_ringq_v1_ConsumeResult_FIELD_results, buf_begin(&out),
                           buf_size(&out));
    buf_deinit(&out);
    rt_free(g);
    srv_sfan_free(f);
    srv_consume_maybe_finish(w);
    srv_consume_unref(w);
}

/* Member k's share of acks a: its refs with its own sequences, as a decoded ConsumeRequest job
 * (NULL: none of the refs is member k's, or out of memory: *oom). */
static srv_job *pack_job(const pwm_ringq_v1_ConsumeRequest *r, uint32_t parts, uint32_t k,
                         pwm_ringq_v1_DeliveryRef *mine, bool *oom)
{
    const pwm_ringq_v1_Acks *a = r->acks;
    size_t n = 0;
    for (size_t i = 0; i < a->refs_count; i++) {
        uint32_t m;
        uint64_t p = q_stream_seq_split(parts, a->refs[i].stream_seq, &m);
        if (m == k) mine[n++] = (pwm_ringq_v1_DeliveryRef){p, a->refs[i].token};
    }
    if (n == 0) return NULL;
    pwm_ringq_v1_Acks share = *a;
    share.refs = mine;
    share.refs_count = n;
    pwm_ringq_v1_ConsumeRequest req = {.request_id = r->request_id,
                                       .kind_case = pwm_ringq_v1_ConsumeRequest_FIELD_acks,
                                       .acks = &share};
    buf b;
    buf_init(&b, (size_t)16 << 20);
    q_err e;
    srv_job *j = NULL;
    if (pw_msg_encode(&pwm_ringq_v1_ConsumeRequest_desc, &req, &b) == 0)
        j = srv_job_decoded_msg(buf_begin(&b), buf_size(&b), &pwm_ringq_v1_ConsumeRequest_desc, &e);
    buf_deinit(&b);
    *oom = j == NULL;
    return j;
}

/* Acks on a partitioned stream's session: each ref to the member its sequence names. */
void srv_consume_acks_parts(srv_consume *w, const pwm_ringq_v1_ConsumeRequest *r)
{
    const pwm_ringq_v1_Acks *a = r->acks;
    if (!a || a->refs_count == 0 || a->refs_count > Q_BATCH_MAX)
        return srv_consume_result(w, r->request_id, Q_INVALID_ARGUMENT,
                                  "acks.refs: 1..1000 deliveries", 0, NULL, 0);
    pack_gather *g = rt_calloc(1, sizeof *g + a->refs_count * sizeof g->seqs[0]);
    srv_sfan *f = g ? srv_sfan_new(w->part, w->parts, NULL, g, NULL) : NULL;
    pwm_ringq_v1_DeliveryRef *mine = f ? rt_calloc(a->refs_count, sizeof *mine) : NULL;
    if (!mine) {
        rt_free(g);
        srv_sfan_free(f);
        return srv_consume_result(w, r->request_id, Q_RESOURCE_EXHAUSTED, "out of memory", 0, NULL,
                                  0);
    }
    *g = (pack_gather){
        .w = w, .request_id = r->request_id, .pending = 1, .nrefs = (uint32_t)a->refs_count};
    for (size_t i = 0; i < a->refs_count; i++) g->seqs[i] = a->refs[i].stream_seq;
    w->inflight++;
    w->refs++;
    for (uint32_t k = 0; k < w->parts; k++) {
        bool oom = false;
        srv_job *j = pack_job(r, w->parts, k, mine, &oom);
        srv_cack_ref *ref = j ? rt_calloc(1, sizeof *ref) : NULL;
        if (!ref) {
            if (j) srv_job_decoded_release(j), srv_job_free(j);
            if ((oom || j) && f->status == Q_OK) {
                f->status = Q_RESOURCE_EXHAUSTED;
                snprintf(f->msg, sizeof f->msg, "out of memory");
            }
            continue;
        }
        *ref = (srv_cack_ref){
            .w = w, .gather = f, .request_id = r->request_id, .sl = w->sl, .cl = w->cl};
        memcpy(ref->names, w->stream, w->sl);
        memcpy(ref->names + w->sl, w->cons, w->cl);
        j->origin_ctx = ref;
        g->pending++;
        srv_job_dispatch(j, srv_sparts_member_part(w->part, k), srv_consume_run_cack, pack_done);
    }
    rt_free(mine);
    if (--g->pending == 0) { /* the starting hold; nothing was sent: answer now */
        w->inflight--;
        if (!w->finished) srv_consume_result(w, r->request_id, f->status, f->msg, 0, NULL, 0);
        rt_free(g);
        srv_sfan_free(f);
        srv_consume_unref(w);
    }
}
