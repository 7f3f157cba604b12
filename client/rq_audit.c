/* client/rq_audit: Admin.Audit, the conservation ledger (rq_audit_queues), and Admin.ListLeases
 * (rq_list_leases) in client/ringq.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/rq_int.h"

static void ledger_from(const pwm_ringq_v1_QueueLedger *m, rq_ledger *l)
{
    memset(l, 0, sizeof *l);
    rq_copy_str(l->name, sizeof l->name, m->name);
    l->partition = m->partition;
    l->enqueued = m->enqueued;
    l->redriven = m->redriven;
    l->acked = m->acked;
    l->dead = m->dead;
    l->deleted = m->deleted;
    l->purged = m->purged;
    l->dead_dropped = m->dead_dropped;
    l->ready = m->ready;
    l->delayed = m->delayed;
    l->leased = m->leased;
    l->dead_held = m->dead_held;
    l->tasks_balanced = m->tasks_balanced;
    l->dead_balanced = m->dead_balanced;
    l->balanced = m->balanced;
    l->incomplete_since = m->incomplete_since;
}

/* Copies a decoded AuditResponse into *out: 0 or the status (out of memory). */
static int audit_from(const pwm_ringq_v1_AuditResponse *r, rq_audit *out, rq_status *st)
{
    out->queues_audited = r->queues_audited;
    out->queues_unbalanced = r->queues_unbalanced;
    out->balanced = r->balanced;
    out->truncated = r->truncated;
    if (r->queues_count == 0) return 0;
    out->queues = calloc(r->queues_count, sizeof *out->queues);
    if (!out->queues) return rq_set_status(st, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t i = 0; i < r->queues_count; i++) ledger_from(&r->queues[i], &out->queues[i]);
    out->n = r->queues_count;
    return 0;
}

int rq_audit_queues(rq_client *c, const char *queue, rq_audit *out, rq_status *st)
{
    memset(out, 0, sizeof *out);
    pwm_ringq_v1_AuditRequest m = {.queue = rq_str(queue)};
    pwm_ringq_v1_AuditResponse r;
    rq_reply reply;
    int rc = rq_call(c, pwm_ringq_v1_Admin_Audit_PATH, &pwm_ringq_v1_AuditRequest_desc, &m,
                     &pwm_ringq_v1_AuditResponse_desc, &r, &reply, st);
    if (rc) return rc;
    rc = audit_from(&r, out, st);
    rq_reply_free(&reply);
    return rc;
}

/* ---- Admin.ListLeases (rq_list_leases) ---- */

static int leases_from(const pwm_ringq_v1_ListLeasesResponse *r, rq_lease_info **out, size_t *n,
                       rq_status *st)
{
    if (r->leases_count == 0) return 0;
    rq_lease_info *ls = calloc(r->leases_count, sizeof *ls);
    if (!ls) return rq_set_status(st, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t i = 0; i < r->leases_count; i++) {
        const pwm_ringq_v1_LeaseInfo *m = &r->leases[i];
        rq_copy_str(ls[i].id, sizeof ls[i].id, m->id);
        rq_copy_str(ls[i].worker_id, sizeof ls[i].worker_id, m->worker_id);
        rq_copy_str(ls[i].address, sizeof ls[i].address, m->address);
        ls[i].deadline_unix_ms = m->deadline_unix_ms;
        ls[i].lease_token = m->lease_token;
        ls[i].attempt = m->attempt;
    }
    *out = ls;
    *n = r->leases_count;
    return 0;
}

int rq_list_leases(rq_client *c, const char *queue, rq_lease_info **out, size_t *n, bool *truncated,
                   rq_status *st)
{
    *out = NULL;
    *n = 0;
    *truncated = false;
    pwm_ringq_v1_ListLeasesRequest m = {.queue = rq_str(queue)};
    pwm_ringq_v1_ListLeasesResponse r;
    rq_reply reply;
    int rc = rq_call(c, pwm_ringq_v1_Admin_ListLeases_PATH, &pwm_ringq_v1_ListLeasesRequest_desc,
                     &m, &pwm_ringq_v1_ListLeasesResponse_desc, &r, &reply, st);
    if (rc) return rc;
    *truncated = r.truncated;
    rc = leases_from(&r, out, n, st);
    rq_reply_free(&reply);
    return rc;
}
