/* queue/q_consumer_ack: settling deliveries (q_consumer.h, q_consumer_settle) — ack, ack all,
 * nak with delay or backoff, in-progress, term; stale tokens refused. */
#include <string.h>

#include "queue/q_consumer_int.h"

static const char why_not_pending[] = "not pending";
static const char why_superseded[] = "delivery superseded";

static q_status check_acks(const q_consumer *c, const q_acks *a, q_err *err)
{
    if (a->n == 0 || a->n > Q_BATCH_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "refs: 1..%u deliveries", Q_BATCH_MAX);
    if (a->kind < Q_ACK_ACK || a->kind > Q_ACK_TERM)
        return q_fail(err, Q_INVALID_ARGUMENT, "kind: unknown value %u", (unsigned)a->kind);
    if (a->has_delay && a->kind != Q_ACK_NAK)
        return q_fail(err, Q_INVALID_ARGUMENT, "delay_ms: only with a NAK");
    if (a->has_delay && a->delay_ms > Q_CONSUMER_NAK_DELAY_MS_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "delay_ms: at most 366 days");
    if (a->reason_len && a->kind != Q_ACK_TERM)
        return q_fail(err, Q_INVALID_ARGUMENT, "reason: only with a TERM");
    if (a->reason_len > Q_REASON_BYTES_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "reason: %u bytes, at most %u", a->reason_len,
                      Q_REASON_BYTES_MAX);
    if (c->cfg.ack_policy == Q_ACKP_NONE)
        return q_fail(err, Q_FAILED_PRECONDITION, "consumer %s has ack policy none: nothing to ack",
                      c->name);
    return Q_OK;
}

/* Answers each ref without changing anything; collects the sequences that qualify. */
static uint32_t classify(q_consumer *c, const q_acks *a, q_item *items, uint64_t *seqs,
                         uint64_t *top)
{
    uint32_t k = 0;
    *top = 0;
    for (uint32_t i = 0; i < a->n; i++) {
        uint32_t at = q_cpend_find(&c->pend, a->refs[i].seq);
        if (at == Q_NIL) {
            items[i] = (q_item){Q_NOT_FOUND, why_not_pending};
        } else if (q_cpend_at(&c->pend, at)->token != a->refs[i].token) {
            items[i] = (q_item){Q_FAILED_PRECONDITION, why_superseded};
        } else {
            items[i] = (q_item){Q_OK, NULL};
            seqs[k++] = a->refs[i].seq;
            if (a->refs[i].seq > *top) *top = a->refs[i].seq;
        }
    }
    return k;
}

static void settle_one(q_consumer *c, uint32_t at, bool term, uint64_t now_ms, uint64_t *ct)
{
    uint64_t seq = q_cpend_seq(&c->pend, at);
    q_cpend_remove(&c->pend, at);
    if (term) c->num_terminated++;
    q_consumer_retain(c, seq, now_ms, ct);
}

/* ACK or TERM of the qualifying seqs (ack policy all: everything pending up to the top one):
 * the record first, then memory. */
static q_status finish(q_consumer *c, const q_acks *a, const uint64_t *seqs, uint32_t k,
                       uint64_t top, uint64_t now_ms, uint64_t *commit_to, q_err *err)
{
    bool all = a->kind == Q_ACK_ACK && c->cfg.ack_policy == Q_ACKP_ALL;
    bool term = a->kind == Q_ACK_TERM;
    if (q_consumer_logged(c)) {
        int64_t off = all ? q_crec_put_cack(c, Q_CACK_ALL, &top, 1, NULL, 0)
                          : q_crec_put_cack(c, term ? Q_CACK_TERM : Q_CACK_ACK, seqs, k, a->reason,
                                            a->reason_len);
        if (off < 0) return q_fail_log(err, (int)off, "consumer ack record");
        q_commit_raise(commit_to, off);
    }
    if (all) {
        for (uint32_t i = q_cpend_next_live(&c->pend, 0);
             i != Q_NIL && q_cpend_seq(&c->pend, i) <= top; i = q_cpend_next_live(&c->pend, i + 1))
            settle_one(c, i, false, now_ms, commit_to);
    } else {
        for (uint32_t i = 0; i < k; i++) {
            uint32_t at = q_cpend_find(&c->pend, seqs[i]); /* Q_NIL: a duplicate ref */
            if (at != Q_NIL) settle_one(c, at, term, now_ms, commit_to);
        }
    }
    return q_ok(err);
}

q_status q_consumer_settle(q_consumer *c, const q_acks *a, uint64_t now_ms, q_item *items,
                           uint64_t *commit_to, q_err *err)
{
    *commit_to = 0;
    q_status st = check_acks(c, a, err);
    if (st) return st;
    q_consumer_touch(c, now_ms);
    uint64_t seqs[Q_BATCH_MAX], top;
    uint32_t k = classify(c, a, items, seqs, &top);
    if (k == 0) return q_ok(err);
    if (a->kind == Q_ACK_ACK || a->kind == Q_ACK_TERM)
        st = finish(c, a, seqs, k, top, now_ms, commit_to, err);
    bool moves = a->kind == Q_ACK_NAK || a->kind == Q_ACK_PROGRESS; /* write nothing */
    for (uint32_t i = 0; moves && i < k; i++) {
        uint32_t at = q_cpend_find(&c->pend, seqs[i]);
        q_cpend_ent *e = q_cpend_at(&c->pend, at);
        if (a->kind == Q_ACK_PROGRESS) {
            q_cpend_set(&c->pend, at, now_ms + c->cfg.ack_wait_ms, false, e->token, e->count);
            continue;
        }
        uint64_t delay = a->has_delay ? a->delay_ms : q_consumer_backoff(c, e->count);
        q_cpend_set(&c->pend, at, now_ms + delay, true, e->token, e->count);
    }
    q_cpend_gc(&c->pend);
    return st;
}
