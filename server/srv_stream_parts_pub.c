/* server/srv_stream_parts_pub: Publish on a partitioned stream (srv_stream_parts.h): the
 * route of a batch, its split over the members, the members' sequences and expectations. */
#include <errno.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "server/srv_stream_int.h"
#include "server/srv_stream_parts.h"

/* Room for one member's decoded PublishResponse: at most Q_STREAM_BATCH_MAX acks with their
 * receipts (~100 bytes each). */
#define SPP_ARENA_CHUNK_BYTES ((size_t)16 << 10)
#define SPP_ARENA_LIMIT_BYTES ((size_t)1 << 20)

/* ---- Publish ---- */

q_status srv_sparts_pub_route(const srv_sdir_ent *e, const pwm_ringq_v1_PublishRequest *r,
                              uint32_t *part, bool *split, q_err *err)
{
    *split = false;
    *part = e->part;
    err->code = Q_OK;
    if (e->parts <= 1) return Q_OK;
    uint32_t k0 = 0;
    for (size_t i = 0; i < r->messages_count; i++) {
        const pwm_ringq_v1_PublishMessage *m = &r->messages[i];
        if (m->has_expected_last_seq) {
            err->code = Q_FAILED_PRECONDITION;
            snprintf(err->msg, sizeof err->msg,
                     "messages[%zu].expected_last_seq: %s (expect the subject's: "
                     "expected_last_subject_seq)",
                     i, SRV_SPARTS_UNSUPPORTED);
            return err->code;
        }
        uint32_t k = q_stream_member_of(e->parts, srv_chars(m->subject), m->subject.len);
        if (i == 0) k0 = k;
        else if (k != k0) *split = true;
    }
    *part = srv_sparts_member_part(e->part, k0);
    return Q_OK;
}

int srv_sparts_pub_mine(const srv_job *j, pwm_ringq_v1_PublishRequest *mine)
{
    const srv_sfan *f = srv_sfan_of(j);
    const pwm_ringq_v1_PublishRequest *r = f->arg;
    uint32_t k = srv_sfan_member(j);
    *mine = *r;
    pwm_ringq_v1_PublishMessage *ms = rt_calloc(r->messages_count, sizeof *ms);
    if (!ms) return -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < r->messages_count; i++)
        if (q_stream_member_of(f->parts, srv_chars(r->messages[i].subject),
                               r->messages[i].subject.len) == k)
            ms[n++] = r->messages[i];
    mine->messages = ms;
    mine->messages_count = n;
    return (int)n;
}

void srv_sparts_pub_specs(const q_stream *s, q_smsg_spec *specs, uint32_t n)
{
    q_stream_cfg c;
    q_stream_config(s, &c);
    if (c.parts <= 1) return;
    for (uint32_t i = 0; i < n; i++) {
        if (!specs[i].has_expected_last_subject_seq) continue;
        uint32_t k;
        uint64_t p = q_stream_seq_split(c.parts, specs[i].expected_last_subject_seq, &k);
        specs[i].expected_last_subject_seq = k == c.part_index || p == 0 ? p : UINT64_MAX;
    }
}

void srv_sparts_pub_seqs(const q_stream *s, q_pub_result *res, uint32_t n)
{
    q_stream_cfg c;
    q_stream_config(s, &c);
    for (uint32_t i = 0; i < n; i++)
        res[i].seq = q_stream_seq_join(c.parts, c.part_index, res[i].seq);
}

/* Origin: the members' PublishResponses, their acks put back in the request's order. */
static int pub_merge(srv_sfan *f, const pwm_ringq_v1_PublishRequest *r, buf *out)
{
    pw_msg_arena *ar = rt_calloc(f->parts, sizeof *ar);
    pwm_ringq_v1_PublishResponse *in = rt_calloc(f->parts, sizeof *in);
    size_t *next = rt_calloc(f->parts, sizeof *next);
    pwm_ringq_v1_PublishAck *acks = rt_calloc(r->messages_count, sizeof *acks);
    int rc = ar && in && next && acks ? 0 : -ENOMEM;
    uint32_t k = 0;
    for (; rc == 0 && k < f->parts; k++) {
        pw_msg_arena_init_heap(&ar[k], SPP_ARENA_CHUNK_BYTES, SPP_ARENA_LIMIT_BYTES);
        if (buf_size(&f->resp[k]))
            rc = pw_msg_decode(&pwm_ringq_v1_PublishResponse_desc, &in[k], buf_begin(&f->resp[k]),
                               buf_size(&f->resp[k]), &ar[k]);
    }
    pw_pb_bytes stream = {0};
    for (size_t i = 0; rc == 0 && i < r->messages_count; i++) {
        uint32_t m = q_stream_member_of(f->parts, srv_chars(r->messages[i].subject),
                                        r->messages[i].subject.len);
        if (next[m] >= in[m].acks_count) {
            rc = -EBADMSG;
            break;
        }
        acks[i] = in[m].acks[next[m]++];
        stream = in[m].stream;
    }
    if (rc == 0) {
        pwm_ringq_v1_PublishResponse resp = {
            .stream = stream, .acks = acks, .acks_count = r->messages_count};
        rc = pw_msg_encode(&pwm_ringq_v1_PublishResponse_desc, &resp, out);
    }
    for (uint32_t i = 0; i < k; i++) pw_msg_arena_deinit(&ar[i]);
    rt_free(acks);
    rt_free(next);
    rt_free(in);
    rt_free(ar);
    return rc;
}

static void publish_done(srv_sfan *f)
{
    srv_job *j = f->ctx;
    if (f->status == Q_OK && pub_merge(f, srv_job_msg(j), &j->resp) < 0)
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the reply");
    srv_sparts_call_end(f);
}

void srv_sparts_publish_split(srv_job *j, const srv_sdir_ent *e, srv_job_run_fn run_member)
{
    srv_sfan *f = srv_sfan_new(e->part, e->parts, srv_job_msg(j), j, publish_done);
    if (!f) {
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory");
        srv_job_decoded_refuse(j);
        return;
    }
    srv_sfan_start(f, run_member);
}

/* Home owner: every member answered a PublishStream request's split: the merged acks are the
 * request job's reply. */
static void owner_split_done(srv_sfan *f)
{
    srv_job *j = f->ctx;
    if (f->status != Q_OK) srv_job_fail(j, f->status, "%s", f->msg);
    else if (pub_merge(f, f->arg, &j->resp) < 0)
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the reply");
    srv_sfan_free(f);
    srv_job_reply(j);
}

void srv_sparts_publish_owner_split(srv_job *j, srv_part *sp, const pwm_ringq_v1_PublishRequest *r,
                                    srv_job_run_fn run_member)
{
    pw_pb_bytes subj0 = r->messages[0].subject;
    q_stream *s = q_stream_capturing(sp->p, srv_chars(subj0), subj0.len);
    q_stream_cfg c = {0};
    if (s) q_stream_config(s, &c);
    srv_sfan *f = c.parts > 1 ? srv_sfan_new(sp->no, c.parts, r, j, owner_split_done) : NULL;
    if (!f) {
        if (!s || c.parts <= 1)
            srv_job_fail(j, Q_FAILED_PRECONDITION, "no partitioned stream captures subject '%.*s'",
                         (int)subj0.len, srv_chars(subj0));
        else srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory");
        srv_job_reply(j);
        return;
    }
    srv_sfan_start(f, run_member);
}
