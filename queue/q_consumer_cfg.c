/* queue/q_consumer_cfg: ConsumerConfig's rules (q_consumer.h, streams.proto) — defaults, the
 * check naming the field, and the comparison idempotent creation uses. */
#include <string.h>

#include "queue/q_consumer_int.h"

void q_consumer_cfg_resolve(q_consumer_cfg *c)
{
    if (c->deliver_policy == 0) c->deliver_policy = Q_DELIVER_ALL;
    if (c->ack_policy == 0) c->ack_policy = Q_ACKP_EXPLICIT;
    if (c->ack_wait_ms == 0) c->ack_wait_ms = Q_CONSUMER_ACK_WAIT_MS_DEFAULT;
    if (c->max_ack_pending == 0) c->max_ack_pending = Q_CONSUMER_ACK_PENDING_DEFAULT;
    if (c->ephemeral && c->inactive_threshold_ms == 0)
        c->inactive_threshold_ms = Q_CONSUMER_INACTIVE_MS_DEFAULT;
}

static q_status check_name(const q_consumer_cfg *c, q_err *err)
{
    if (c->name_len == 0) {
        if (c->ephemeral) return Q_OK;
        return q_fail(err, Q_INVALID_ARGUMENT, "name: required for a durable consumer");
    }
    if (c->name_len > Q_CONSUMER_NAME_BYTES_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "name: %u bytes, at most %u", c->name_len,
                      Q_CONSUMER_NAME_BYTES_MAX);
    for (uint32_t i = 0; i < c->name_len; i++) {
        char ch = c->name[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
        if (!ok)
            return q_fail(err, Q_INVALID_ARGUMENT,
                          "name: byte 0x%02x at %u is not one of [A-Za-z0-9_-]", (uint8_t)ch, i);
    }
    return Q_OK;
}

static q_status check_start(const q_consumer_cfg *c, q_err *err)
{
    if (c->deliver_policy > Q_DELIVER_LAST_PER_SUBJECT)
        return q_fail(err, Q_INVALID_ARGUMENT, "deliver_policy: unknown value %u",
                      (unsigned)c->deliver_policy);
    bool by_seq = c->deliver_policy == Q_DELIVER_BY_START_SEQ;
    bool by_time = c->deliver_policy == Q_DELIVER_BY_START_TIME;
    if (by_seq && c->opt_start_seq == 0)
        return q_fail(err, Q_INVALID_ARGUMENT,
                      "opt_start_seq: required (1 or more) with DELIVER_POLICY_BY_START_SEQUENCE");
    if (!by_seq && c->opt_start_seq)
        return q_fail(err, Q_INVALID_ARGUMENT,
                      "opt_start_seq: only with DELIVER_POLICY_BY_START_SEQUENCE");
    if (!by_time && c->opt_start_unix_ms)
        return q_fail(err, Q_INVALID_ARGUMENT,
                      "opt_start_unix_ms: only with DELIVER_POLICY_BY_START_TIME");
    return Q_OK;
}

static q_status check_filters(q_stream *s, const q_consumer_cfg *c, q_err *err)
{
    if (c->nfilters > Q_FILTER_SET_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "filter_subjects: %u filters, at most %u",
                      c->nfilters, Q_FILTER_SET_MAX);
    q_err fe;
    for (uint32_t i = 0; i < c->nfilters; i++) {
        const q_subject_view *f = &c->filters[i];
        if (q_filter_check(f->ptr, f->len, &fe) != Q_OK)
            return q_fail(err, Q_INVALID_ARGUMENT, "filter_subjects[%u]: %s", i, fe.msg);
        if (s && !q_filter_set_covers(q_stream_subjects(s), f->ptr, f->len))
            return q_fail(err, Q_INVALID_ARGUMENT,
                          "filter_subjects[%u]: \"%.*s\" is not within the stream's subjects", i,
                          (int)f->len, f->ptr);
    }
    return Q_OK;
}

static q_status check_acks(const q_consumer_cfg *c, q_err *err)
{
    if (c->ack_policy > Q_ACKP_NONE)
        return q_fail(err, Q_INVALID_ARGUMENT, "ack_policy: unknown value %u",
                      (unsigned)c->ack_policy);
    if (c->ack_wait_ms > Q_CONSUMER_ACK_WAIT_MS_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "ack_wait_ms: at most %u (12 h)",
                      Q_CONSUMER_ACK_WAIT_MS_MAX);
    if (c->max_deliver > Q_CONSUMER_DELIVER_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "max_deliver: at most %u", Q_CONSUMER_DELIVER_MAX);
    if (c->nbackoff > Q_CONSUMER_BACKOFF_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "backoff_ms: %u entries, at most %u", c->nbackoff,
                      Q_CONSUMER_BACKOFF_MAX);
    for (uint32_t i = 0; i < c->nbackoff; i++)
        if (c->backoff_ms[i] < Q_CONSUMER_BACKOFF_MS_MIN ||
            c->backoff_ms[i] > Q_CONSUMER_BACKOFF_MS_MAX)
            return q_fail(err, Q_INVALID_ARGUMENT, "backoff_ms[%u]: 1 ms .. 366 days", i);
    if (c->rate_limit_bytes_per_s > Q_CONSUMER_RATE_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "rate_limit_bytes_per_s: at most 2^40 (1 TiB/s)");
    if (c->max_ack_pending > Q_CONSUMER_ACK_PENDING_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "max_ack_pending: at most %u",
                      Q_CONSUMER_ACK_PENDING_MAX);
    return Q_OK;
}

/* Work-queue streams: no two consumers may want the same subject. */
static q_status check_overlap(q_part *p, q_stream *s, const q_consumer_cfg *c, const char *self,
                              size_t self_len, q_err *err)
{
    if (!s || q_stream_retention(s) != Q_RETENTION_WORK_QUEUE) return Q_OK;
    q_cset *set = q_cset_of(p, s, false);
    for (uint32_t i = 0; set && i < set->n; i++) {
        const q_consumer *o = set->by_name[i];
        if (self && strlen(o->name) == self_len && memcmp(o->name, self, self_len) == 0) continue;
        if (c->nfilters == 0 || o->cfg.nfilters == 0)
            return q_fail(err, Q_FAILED_PRECONDITION,
                          "work-queue stream: %s overlaps consumer %s%s",
                          c->nfilters == 0 ? "a consumer without filter_subjects (every subject)"
                                           : "filter_subjects",
                          o->name, o->cfg.nfilters == 0 ? ", which takes every subject" : "");
        for (uint32_t k = 0; k < c->nfilters; k++) {
            uint32_t which;
            if (q_filter_set_overlap(&o->fs, c->filters[k].ptr, c->filters[k].len, &which))
                return q_fail(err, Q_FAILED_PRECONDITION,
                              "work-queue stream: filter_subjects[%u] overlaps \"%.*s\" of "
                              "consumer %s",
                              k, (int)o->cfg.filters[which].len, o->cfg.filters[which].ptr,
                              o->name);
        }
    }
    return Q_OK;
}

q_status q_consumer_cfg_check(q_part *p, q_stream *s, const q_consumer_cfg *c, const char *self,
                              size_t self_len, q_err *err)
{
    q_status st;
    if ((st = check_name(c, err))) return st;
    if (!c->ephemeral && c->inactive_threshold_ms)
        return q_fail(err, Q_INVALID_ARGUMENT,
                      "inactive_threshold_ms: only for an ephemeral consumer");
    if (c->ephemeral && c->inactive_threshold_ms &&
        (c->inactive_threshold_ms < Q_CONSUMER_INACTIVE_MS_MIN ||
         c->inactive_threshold_ms > Q_CONSUMER_INACTIVE_MS_MAX))
        return q_fail(err, Q_INVALID_ARGUMENT, "inactive_threshold_ms: 1 s .. 1 day");
    if ((st = check_start(c, err)) || (st = check_filters(s, c, err)) || (st = check_acks(c, err)))
        return st;
    if (c->description_len > Q_CONSUMER_DESC_BYTES_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "description: %u bytes, at most %u",
                      c->description_len, Q_CONSUMER_DESC_BYTES_MAX);
    return check_overlap(p, s, c, self, self_len, err);
}

static bool view_eq(const char *a, size_t al, const char *b, size_t bl)
{
    return al == bl && (al == 0 || memcmp(a, b, al) == 0);
}

/* Whether two resolved configurations are the same (the name aside). */
bool q_consumer_cfg_same(const q_consumer_cfg *a, const q_consumer_cfg *b)
{
    if (a->ephemeral != b->ephemeral || a->inactive_threshold_ms != b->inactive_threshold_ms ||
        a->deliver_policy != b->deliver_policy || a->opt_start_seq != b->opt_start_seq ||
        a->opt_start_unix_ms != b->opt_start_unix_ms || a->nfilters != b->nfilters ||
        a->ack_policy != b->ack_policy || a->ack_wait_ms != b->ack_wait_ms ||
        a->max_deliver != b->max_deliver || a->nbackoff != b->nbackoff ||
        a->max_ack_pending != b->max_ack_pending ||
        a->rate_limit_bytes_per_s != b->rate_limit_bytes_per_s ||
        a->headers_only != b->headers_only ||
        !view_eq(a->description, a->description_len, b->description, b->description_len))
        return false;
    for (uint32_t i = 0; i < a->nfilters; i++)
        if (!view_eq(a->filters[i].ptr, a->filters[i].len, b->filters[i].ptr, b->filters[i].len))
            return false;
    for (uint32_t i = 0; i < a->nbackoff; i++)
        if (a->backoff_ms[i] != b->backoff_ms[i]) return false;
    return true;
}
