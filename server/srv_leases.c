/* server/srv_leases: ringq.v1.Admin.ListLeases — the leases of a queue with their holder
 * (docs/semantics.md "Leases bound to the stream"). A queue lives in one partition: one job to
 * its owner, which lists the leases (q_part_list_leases), names the Work registration holding
 * each (srv_sub_holder: the worker id and address its registration message carried) and
 * encodes the whole ListLeasesResponse; the origin sends it as it is (srv_job_answer). */
#include "server/srv_leases.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "server/srv_msg.h"
#include "server/srv_queue_int.h"
#include "server/srv_queue_rpc.h"

#define LEASES_MAX Q_PAGE_MAX        /* leases listed: an admin view, not an export */
#define LEASES_MSG_SLACK_BYTES 1024u /* framing of the response besides its entries */

static int by_deadline(const void *a, const void *b)
{
    const q_lease_info *x = a, *y = b;
    if (x->deadline_ms != y->deadline_ms) return x->deadline_ms < y->deadline_ms ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static pw_pb_bytes str_bytes(const char *s) { return (pw_pb_bytes){(const uint8_t *)s, strlen(s)}; }

/* Owner: encodes ListLeasesResponse for the job's queue into j->resp. */
static void run_list_leases(srv_job *j, srv_part *sp)
{
    const char *name = (const char *)j->req.bytes.ptr;
    uint32_t nl = (uint32_t)j->req.bytes.len;
    q_lease_info *ls = rt_calloc(LEASES_MAX, sizeof *ls);
    pwm_ringq_v1_LeaseInfo *out = ls ? rt_calloc(LEASES_MAX, sizeof *out) : NULL;
    char(*ids)[Q_ID_STR_BYTES] = out ? rt_calloc(LEASES_MAX, Q_ID_STR_BYTES) : NULL;
    if (!ids) {
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
    }
    uint32_t n = 0;
    bool more = false;
    q_err e;
    if (q_part_list_leases(sp->p, name, nl, srv_q_now_ms(), ls, LEASES_MAX, &n, &more, &e) !=
        Q_OK) {
        srv_job_err(j, &e);
        goto out;
    }
    qsort(ls, n, sizeof *ls, by_deadline);
    const srv_waitq *wq = srv_part_waitq(sp, name, nl, false);
    size_t budget = srv_q.max_msg_bytes > LEASES_MSG_SLACK_BYTES
                        ? srv_q.max_msg_bytes - LEASES_MSG_SLACK_BYTES
                        : 0;
    size_t bytes = 0;
    uint32_t k = 0;
    for (; k < n; k++) {
        const srv_sub *s = srv_sub_holder(sp, wq, ls[k].id, ls[k].token);
        size_t idl = q_id_format(ids[k], sp->no, ls[k].id);
        out[k] = (pwm_ringq_v1_LeaseInfo){.id = {(const uint8_t *)ids[k], idl},
                                          .worker_id = s ? str_bytes(s->worker) : (pw_pb_bytes){0},
                                          .address = s ? str_bytes(s->addr) : (pw_pb_bytes){0},
                                          .deadline_unix_ms = ls[k].deadline_ms,
                                          .lease_token = ls[k].token,
                                          .attempt = ls[k].attempt};
        bytes += pw_msg_size(&pwm_ringq_v1_LeaseInfo_desc, &out[k]) + 8;
        if (bytes > budget) break;
    }
    pwm_ringq_v1_ListLeasesResponse r = {
        .leases = out, .leases_count = k, .truncated = more || k < n};
    if (pw_msg_encode(&pwm_ringq_v1_ListLeasesResponse_desc, &r, &j->resp) < 0)
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the leases");
out:
    rt_free(ids);
    rt_free(out);
    rt_free(ls);
    srv_job_reply(j);
}

void srv_leases_on_message(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    pwm_ringq_v1_ListLeasesRequest r;
    pw_msg_arena a;
    if (srv_msg_decode(c, &pwm_ringq_v1_ListLeasesRequest_desc, &r, msg, len, &a) < 0) return;
    pw_msg_arena_deinit(&a); /* no sub-messages: the name is a view into msg */
    q_err e;
    if (q_queue_name_check(srv_chars(r.queue), r.queue.len, &e) != Q_OK) {
        pw_grpc_call_finish(c, (pw_grpc_status)e.code, e.msg);
        return;
    }
    srv_job *j = srv_job_new(c, r.queue.ptr, r.queue.len);
    if (!j) {
        pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    srv_job_dispatch(j, q_part_of(srv_chars(r.queue), r.queue.len, srv_q.nparts), run_list_leases,
                     NULL);
}
