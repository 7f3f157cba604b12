/* client/rq_stream_consumer: the blocking ringq.v1.Streams calls on consumers — create, get,
 * list, delete, pause, reset — and Fetch and AckMessages, with the conversions of
 * ConsumerConfig, ConsumerInfo and Delivery shared with the Consume session
 * (rq_stream_consume.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/rq_int.h"

/* Deliveries per Fetch (streams.proto FetchRequest.max_messages). */
#define RQ_FETCH_MAX 1000u

static bool str_ok(const char *s) { return s && *s; }

void rq_consumer_config_fill(pwm_ringq_v1_ConsumerConfig *m, pw_pb_bytes *filters,
                             const rq_consumer_config *c)
{
    size_t nf = c->nfilters < RQ_STREAM_SUBJECTS_MAX ? c->nfilters : RQ_STREAM_SUBJECTS_MAX;
    for (size_t i = 0; i < nf; i++) filters[i] = rq_str(c->filter_subjects[i]);
    *m = (pwm_ringq_v1_ConsumerConfig){
        .name = rq_str(c->name),
        .ephemeral = c->ephemeral,
        .inactive_threshold_ms = c->inactive_threshold_ms,
        .deliver_policy = c->deliver_policy,
        .opt_start_seq = c->opt_start_seq,
        .opt_start_unix_ms = c->opt_start_unix_ms,
        .filter_subjects = filters,
        .filter_subjects_count = nf,
        .ack_policy = c->ack_policy,
        .ack_wait_ms = c->ack_wait_ms,
        .max_deliver = c->max_deliver,
        .backoff_ms = c->backoff_ms,
        .backoff_ms_count = c->nbackoff < RQ_BACKOFF_MAX ? c->nbackoff : RQ_BACKOFF_MAX,
        .max_ack_pending = c->max_ack_pending,
        .rate_limit_bytes_per_s = c->rate_limit_bytes_per_s,
        .headers_only = c->headers_only,
        .description = rq_str(c->description),
    };
}

static void config_from(rq_consumer_config *c, const pwm_ringq_v1_ConsumerConfig *m)
{
    memset(c, 0, sizeof *c);
    if (!m) return;
    rq_copy_str(c->name, sizeof c->name, m->name);
    c->ephemeral = m->ephemeral;
    c->inactive_threshold_ms = m->inactive_threshold_ms;
    c->deliver_policy = m->deliver_policy;
    c->opt_start_seq = m->opt_start_seq;
    c->opt_start_unix_ms = m->opt_start_unix_ms;
    c->nfilters = m->filter_subjects_count < RQ_STREAM_SUBJECTS_MAX ? m->filter_subjects_count
                                                                    : RQ_STREAM_SUBJECTS_MAX;
    for (size_t i = 0; i < c->nfilters; i++)
        rq_copy_str(c->filter_subjects[i], RQ_SUBJECT_MAX, m->filter_subjects[i]);
    c->ack_policy = m->ack_policy;
    c->ack_wait_ms = m->ack_wait_ms;
    c->max_deliver = m->max_deliver;
    c->nbackoff = m->backoff_ms_count < RQ_BACKOFF_MAX ? m->backoff_ms_count : RQ_BACKOFF_MAX;
    if (c->nbackoff) memcpy(c->backoff_ms, m->backoff_ms, c->nbackoff * sizeof c->backoff_ms[0]);
    c->max_ack_pending = m->max_ack_pending;
    c->rate_limit_bytes_per_s = m->rate_limit_bytes_per_s;
    c->headers_only = m->headers_only;
    rq_copy_str(c->description, sizeof c->description, m->description);
}

void rq_consumer_info_from(rq_consumer_info *out, const pwm_ringq_v1_ConsumerInfo *m)
{
    memset(out, 0, sizeof *out);
    rq_copy_str(out->stream, sizeof out->stream, m->stream);
    config_from(&out->config, m->config);
    out->created_unix_ms = m->created_unix_ms;
    const pwm_ringq_v1_ConsumerState *s = m->state;
    if (!s) return;
    out->delivered_consumer_seq = s->delivered_consumer_seq;
    out->delivered_stream_seq = s->delivered_stream_seq;
    out->ack_floor_stream_seq = s->ack_floor_stream_seq;
    out->num_ack_pending = s->num_ack_pending;
    out->num_redelivered = s->num_redelivered;
    out->num_pending = s->num_pending;
    out->num_waiting = s->num_waiting;
    out->clients = s->clients;
    out->paused_until_unix_ms = s->paused_until_unix_ms;
    out->num_terminated = s->num_terminated;
    out->position_seq = s->position_seq;
}

/* A call answered by one ConsumerInfo: *out (may be NULL) filled from it. */
static int info_call(rq_client *c, const char *path, const pw_msg_desc *rd, const void *req,
                     rq_consumer_info *out, rq_status *st)
{
    pwm_ringq_v1_ConsumerInfo resp;
    rq_reply r;
    int rc = rq_call(c, path, rd, req, &pwm_ringq_v1_ConsumerInfo_desc, &resp, &r, st);
    if (rc) return rc;
    if (out) rq_consumer_info_from(out, &resp);
    rq_reply_free(&r);
    return 0;
}

int rq_consumer_create(rq_client *c, const char *stream, const rq_consumer_config *cfg,
                       rq_consumer_info *out, rq_status *st)
{
    if (!str_ok(stream) || !cfg)
        return rq_set_status(st, RQ_EINVAL, "create consumer needs a stream and a configuration");
    pw_pb_bytes filters[RQ_STREAM_SUBJECTS_MAX];
    pwm_ringq_v1_ConsumerConfig m;
    rq_consumer_config_fill(&m, filters, cfg);
    pwm_ringq_v1_CreateConsumerRequest req = {.stream = rq_str(stream), .config = &m};
    return info_call(c, pwm_ringq_v1_Streams_CreateConsumer_PATH,
                     &pwm_ringq_v1_CreateConsumerRequest_desc, &req, out, st);
}

int rq_consumer_get(rq_client *c, const char *stream, const char *name, rq_consumer_info *out,
                    rq_status *st)
{
    if (!str_ok(stream) || !str_ok(name) || !out)
        return rq_set_status(st, RQ_EINVAL, "get consumer needs a stream and a name");
    pwm_ringq_v1_GetConsumerRequest req = {.stream = rq_str(stream), .name = rq_str(name)};
    return info_call(c, pwm_ringq_v1_Streams_GetConsumer_PATH,
                     &pwm_ringq_v1_GetConsumerRequest_desc, &req, out, st);
}

int rq_consumer_pause(rq_client *c, const char *stream, const char *name, uint64_t until_unix_ms,
                      rq_consumer_info *out, rq_status *st)
{
    if (!str_ok(stream) || !str_ok(name))
        return rq_set_status(st, RQ_EINVAL, "pause consumer needs a stream and a name");
    pwm_ringq_v1_PauseConsumerRequest req = {
        .stream = rq_str(stream), .name = rq_str(name), .until_unix_ms = until_unix_ms};
    return info_call(c, pwm_ringq_v1_Streams_PauseConsumer_PATH,
                     &pwm_ringq_v1_PauseConsumerRequest_desc, &req, out, st);
}

int rq_consumer_reset(rq_client *c, const char *stream, const char *name, uint64_t seq,
                      bool by_time, rq_consumer_info *out, rq_status *st)
{
    if (!str_ok(stream) || !str_ok(name))
        return rq_set_status(st, RQ_EINVAL, "reset consumer needs a stream and a name");
    pwm_ringq_v1_ResetConsumerRequest req = {.stream = rq_str(stream), .name = rq_str(name)};
    if (by_time) {
        req.to_case = pwm_ringq_v1_ResetConsumerRequest_FIELD_unix_ms;
        req.unix_ms = seq;
    } else {
        req.to_case = pwm_ringq_v1_ResetConsumerRequest_FIELD_seq;
        req.seq = seq;
    }
    return info_call(c, pwm_ringq_v1_Streams_ResetConsumer_PATH,
                     &pwm_ringq_v1_ResetConsumerRequest_desc, &req, out, st);
}

int rq_consumer_delete(rq_client *c, const char *stream, const char *name, rq_status *st)
{
    if (!str_ok(stream) || !str_ok(name))
        return rq_set_status(st, RQ_EINVAL, "delete consumer needs a stream and a name");
    pwm_ringq_v1_DeleteConsumerRequest req = {.stream = rq_str(stream), .name = rq_str(name)};
    pwm_ringq_v1_DeleteConsumerResponse resp;
    rq_reply r;
    int rc = rq_call(c, pwm_ringq_v1_Streams_DeleteConsumer_PATH,
                     &pwm_ringq_v1_DeleteConsumerRequest_desc, &req,
                     &pwm_ringq_v1_DeleteConsumerResponse_desc, &resp, &r, st);
    if (rc == 0) rq_reply_free(&r);
    return rc;
}

/* Appends one page of consumers to *out; the next page token into tok. */
static int list_page(rq_client *c, const char *stream, char *tok, size_t tokcap,
                     rq_consumer_info **out, size_t *n, rq_status *st)
{
    pwm_ringq_v1_ListConsumersRequest req = {
        .stream = rq_str(stream), .page_size = 1000, .page_token = rq_str(tok)};
    pwm_ringq_v1_ListConsumersResponse resp;
    rq_reply r;
    int rc = rq_call(c, pwm_ringq_v1_Streams_ListConsumers_PATH,
                     &pwm_ringq_v1_ListConsumersRequest_desc, &req,
                     &pwm_ringq_v1_ListConsumersResponse_desc, &resp, &r, st);
    if (rc) return rc;
    size_t k = resp.consumers_count;
    rq_consumer_info *arr = k ? realloc(*out, (*n + k) * sizeof **out) : *out;
    if (!arr && k) {
        rq_reply_free(&r);
        return rq_set_status(st, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    }
    *out = arr;
    for (size_t i = 0; i < k; i++) rq_consumer_info_from(&arr[(*n)++], &resp.consumers[i]);
    if (resp.next_page_token.len >= tokcap) resp.next_page_token.len = 0; /* absurd: stop */
    rq_copy_str(tok, tokcap, resp.next_page_token);
    rq_reply_free(&r);
    return 0;
}

int rq_consumer_list(rq_client *c, const char *stream, rq_consumer_info **out, size_t *n,
                     rq_status *st)
{
    if (!str_ok(stream) || !out || !n)
        return rq_set_status(st, RQ_EINVAL, "list consumers needs a stream");
    *out = NULL;
    *n = 0;
    char tok[256] = "";
    do {
        int rc = list_page(c, stream, tok, sizeof tok, out, n, st);
        if (rc) {
            free(*out);
            *out = NULL;
            *n = 0;
            return rc;
        }
    } while (tok[0]);
    return 0;
}

/* ---- deliveries ---- */

rq_delivery *rq_delivery_from(const pwm_ringq_v1_Delivery *m)
{
    static const pwm_ringq_v1_StreamMessage none = {0};
    rq_stream_msg *msg;
    rq_delivery *d = rq_stream_msg_alloc(m->message ? m->message : &none, sizeof *d, &msg);
    if (!d) return NULL;
    d->msg = msg;
    d->consumer_seq = m->consumer_seq;
    d->delivery_count = m->delivery_count;
    d->token = m->token;
    d->pending = m->pending;
    return d;
}

void rq_delivery_free(rq_delivery *d) { free(d); }

void rq_deliveries_free(rq_delivery **d, size_t n)
{
    if (!d) return;
    for (size_t i = 0; i < n; i++) free(d[i]);
    free(d);
}

int rq_fetch(rq_client *c, const char *stream, const char *consumer, uint32_t max_messages,
             uint32_t wait_ms, rq_delivery ***out, size_t *n, rq_status *st)
{
    if (!str_ok(stream) || !str_ok(consumer) || !out || !n || max_messages > RQ_FETCH_MAX)
        return rq_set_status(st, RQ_EINVAL, "fetch needs a stream, a consumer, 0..%u messages",
                             RQ_FETCH_MAX);
    *out = NULL;
    *n = 0;
    pwm_ringq_v1_FetchRequest req = {.stream = rq_str(stream),
                                     .consumer = rq_str(consumer),
                                     .max_messages = max_messages,
                                     .wait_ms = wait_ms};
    pwm_ringq_v1_FetchResponse resp;
    rq_reply r;
    int rc = rq_call(c, pwm_ringq_v1_Streams_Fetch_PATH, &pwm_ringq_v1_FetchRequest_desc, &req,
                     &pwm_ringq_v1_FetchResponse_desc, &resp, &r, st);
    if (rc) return rc;
    size_t k = resp.deliveries_count;
    rq_delivery **arr = k ? calloc(k, sizeof *arr) : NULL;
    for (size_t i = 0; arr && i < k; i++) {
        if (!(arr[i] = rq_delivery_from(&resp.deliveries[i]))) {
            rq_deliveries_free(arr, i);
            arr = NULL;
        }
    }
    rq_reply_free(&r);
    /* Out of memory: the deliveries stay pending at the server and come again after their ack
     * wait. */
    if (k && !arr) return rq_set_status(st, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    *out = arr;
    *n = k;
    return 0;
}

void rq_acks_fill(pwm_ringq_v1_Acks *m, pwm_ringq_v1_DeliveryRef *refs_out,
                  const rq_delivery_ref *refs, size_t n, int kind, const rq_ack_opts *o)
{
    for (size_t i = 0; i < n; i++)
        refs_out[i] = (pwm_ringq_v1_DeliveryRef){refs[i].stream_seq, refs[i].token};
    *m = (pwm_ringq_v1_Acks){.kind = kind, .refs = refs_out, .refs_count = n};
    if (!o) return;
    m->has_delay_ms = o->has_delay;
    m->delay_ms = o->delay_ms;
    m->reason = rq_str(o->reason);
}

int rq_stream_ack(rq_client *c, const char *stream, const char *consumer, int kind,
                  const rq_delivery_ref *refs, size_t n, const rq_ack_opts *o,
                  rq_item_status *results, rq_status *st)
{
    if (!str_ok(stream) || !str_ok(consumer) || !refs || n == 0 || n > RQ_ACK_REFS_MAX)
        return rq_set_status(st, RQ_EINVAL, "ack needs a stream, a consumer and 1..%u refs",
                             RQ_ACK_REFS_MAX);
    pwm_ringq_v1_DeliveryRef *dr = calloc(n, sizeof *dr);
    if (!dr) return rq_set_status(st, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    pwm_ringq_v1_Acks acks;
    rq_acks_fill(&acks, dr, refs, n, kind, o);
    pwm_ringq_v1_AckMessagesRequest req = {
        .stream = rq_str(stream), .consumer = rq_str(consumer), .acks = &acks};
    pwm_ringq_v1_AckMessagesResponse resp;
    rq_reply r;
    int rc = rq_call(c, pwm_ringq_v1_Streams_AckMessages_PATH,
                     &pwm_ringq_v1_AckMessagesRequest_desc, &req,
                     &pwm_ringq_v1_AckMessagesResponse_desc, &resp, &r, st);
    free(dr);
    if (rc) return rc;
    for (size_t i = 0; results && i < n; i++) {
        if (i < resp.results_count) {
            results[i].code = (int)resp.results[i].code;
            rq_copy_str(results[i].message, sizeof results[i].message, resp.results[i].message);
        } else {
            results[i].code = PW_GRPC_INTERNAL;
            rq_copy_str(results[i].message, sizeof results[i].message,
                        rq_str("no result from the server"));
        }
    }
    rq_reply_free(&r);
    return 0;
}
