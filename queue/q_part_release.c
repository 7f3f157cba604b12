/* queue/q_part_release: tasks given back because the Work stream holding them ended
 * (docs/semantics.md, "Leases bound to the stream"), and the list of a queue's leases. The server's owner shard calls it when a
 * stream's registration ends; a RETRY record with cause Q_CAUSE_RELEASED makes it durable, and
 * replay treats it as any RETRY (ready at its time, attempts as written). */
#include <inttypes.h>

#include "queue/q_part_int.h"

static const char released_last_why[] =
    "released on the last attempt: the Work stream holding it ended";

bool q_part_holds(q_part *p, uint64_t id, uint64_t token, uint64_t now_ms)
{
    uint32_t slot = q_task_find(&p->tt, id);
    if (slot == Q_NIL || token == 0) return false;
    const q_task *t = q_task_at(&p->tt, slot);
    return t->state == Q_TASK_LEASED && t->token == token && t->due > now_ms;
}

/* One task: 1 released, 0 left alone, negative errno from the log. */
static int release_one(q_part *p, uint64_t id, uint64_t token, uint64_t now_ms)
{
    if (!q_part_holds(p, id, token, now_ms)) return 0; /* acked, nacked, re-leased, expired */
    uint32_t slot = q_task_find(&p->tt, id);
    q_task *t = q_task_at(&p->tt, slot);
    q_queue *q = q_queue_of(p, t);
    uint32_t attempts = t->attempts + (q->cfg.release_counts_attempt ? 1u : 0u);
    if (attempts >= q_task_max_attempts(p, t)) {
        t->attempts = (uint16_t)attempts;
        int rc = q_task_kill(p, slot, Q_CAUSE_RELEASED, now_ms, released_last_why,
                             (uint32_t)sizeof released_last_why - 1);
        return rc < 0 ? rc : 1;
    }
    q_prec r = {.type = Q_RT_RETRY,
                .id = id,
                .t_ms = now_ms,
                .attempts = attempts,
                .cause = Q_CAUSE_RELEASED};
    int64_t off = q_part_append(p, &r);
    if (off < 0) return (int)off;
    t->attempts = (uint16_t)attempts;
    q_task_move(p, slot, Q_TASK_READY, 0);
    t->due = (uint64_t)off; /* READY keeps its release record: q_task_fill_info's reason */
    return 1;
}

q_status q_part_release(q_part *p, const uint64_t *ids, const uint64_t *tokens, uint32_t n,
                        uint64_t now_ms, uint32_t *released, uint64_t *commit_to, q_err *err)
{
    *released = 0;
    *commit_to = q_log_next(p->log);
    if (n > Q_BATCH_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "release takes 0..%u tasks, got %u", Q_BATCH_MAX, n);
    for (uint32_t i = 0; i < n; i++) {
        int rc = release_one(p, ids[i], tokens[i], now_ms);
        if (rc < 0) {
            *commit_to = q_log_next(p->log);
            return q_fail_log(err, rc, "release");
        }
        *released += (uint32_t)rc;
    }
    *commit_to = q_log_next(p->log);
    return q_ok(err);
}

q_status q_part_list_leases(q_part *p, const char *name, size_t name_len, uint64_t now_ms,
                            q_lease_info *out, uint32_t max, uint32_t *n, bool *more, q_err *err)
{
    *n = 0;
    *more = false;
    q_status st = q_queue_name_check(name, name_len, err);
    if (st) return st;
    q_queue *q = q_queue_find(p, name, name_len);
    if (!q) return q_fail(err, Q_NOT_FOUND, "queue '%.*s' not found", (int)name_len, name);
    for (uint32_t s = q->waiting.head; s != Q_NIL; s = q_task_at(&p->tt, s)->next) {
        const q_task *t = q_task_at(&p->tt, s);
        if (t->state != Q_TASK_LEASED || t->due <= now_ms) continue;
        if (*n == max) {
            *more = true;
            break;
        }
        out[(*n)++] = (q_lease_info){
            .id = t->id, .deadline_ms = t->due, .token = t->token, .attempt = t->attempts + 1u};
    }
    return q_ok(err);
}
