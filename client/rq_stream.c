/* client/rq_stream: the blocking ringq.v1.Streams calls on streams and messages — create, update,
 * get, list, delete, purge, publish, get message — and the conversions between the public
 * plain-value types (client/ringq.h) and the generated messages. Each call fills the generated
 * request, runs rq_call (one encode, one decode into an arena) and copies out what the caller
 * gets. Consumers, Fetch and acks are rq_stream_consumer.c; the Consume session
 * rq_stream_consume.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/rq_int.h"

static bool str_ok(const char *s) { return s && *s; }

static const char *name_of(int v, const char *const *names, size_t n)
{
    return v > 0 && (size_t)v < n ? names[v] : "unspecified";
}

const char *rq_retention_name(int v)
{
    static const char *const n[] = {"", "limits", "interest", "work_queue"};
    return name_of(v, n, sizeof n / sizeof n[0]);
}

const char *rq_discard_name(int v)
{
    static const char *const n[] = {"", "old", "new"};
    return name_of(v, n, sizeof n / sizeof n[0]);
}

const char *rq_deliver_name(int v)
{
    static const char *const n[] = {
        "", "all", "last", "new", "by_start_sequence", "by_start_time", "last_per_subject"};
    return name_of(v, n, sizeof n / sizeof n[0]);
}

const char *rq_ack_policy_name(int v)
{
    static const char *const n[] = {"", "explicit", "all", "none"};
    return name_of(v, n, sizeof n / sizeof n[0]);
}

/* ---- StreamConfig / StreamInfo ---- */

void rq_stream_config_fill(pwm_ringq_v1_StreamConfig *m, pw_pb_bytes *subjects,
                           const rq_stream_config *c)
{
    size_t ns = c->nsubjects < RQ_STREAM_SUBJECTS_MAX ? c->nsubjects : RQ_STREAM_SUBJECTS_MAX;
    for (size_t i = 0; i < ns; i++) subjects[i] = rq_str(c->subjects[i]);
    *m = (pwm_ringq_v1_StreamConfig){
        .name = rq_str(c->name),
        .subjects = subjects,
        .subjects_count = ns,
        .retention = c->retention,
        .max_msgs = c->max_msgs,
        .max_bytes = c->max_bytes,
        .max_age_ms = c->max_age_ms,
        .max_msgs_per_subject = c->max_msgs_per_subject,
        .discard = c->discard,
        .duplicate_window_ms = c->duplicate_window_ms,
        .has_duplicate_window_ms = c->has_duplicate_window_ms,
        .max_msg_size = c->max_msg_size,
        .allow_msg_ttl = c->allow_msg_ttl,
        .description = rq_str(c->description),
        .partitions = c->partitions,
        .has_partitions = c->partitions != 0,
    };
}

static void config_from(rq_stream_config *c, const pwm_ringq_v1_StreamConfig *m)
{
    memset(c, 0, sizeof *c);
    if (!m) return;
    rq_copy_str(c->name, sizeof c->name, m->name);
    c->nsubjects = m->subjects_count < RQ_STREAM_SUBJECTS_MAX ? m->subjects_count
                                                              : RQ_STREAM_SUBJECTS_MAX;
    for (size_t i = 0; i < c->nsubjects; i++)
        rq_copy_str(c->subjects[i], RQ_SUBJECT_MAX, m->subjects[i]);
    c->retention = m->retention;
    c->max_msgs = m->max_msgs;
    c->max_bytes = m->max_bytes;
    c->max_age_ms = m->max_age_ms;
    c->max_msgs_per_subject = m->max_msgs_per_subject;
    c->discard = m->discard;
    c->has_duplicate_window_ms = m->has_duplicate_window_ms;
    c->duplicate_window_ms = m->duplicate_window_ms;
    c->max_msg_size = m->max_msg_size;
    c->allow_msg_ttl = m->allow_msg_ttl;
    rq_copy_str(c->description, sizeof c->description, m->description);
    c->partitions = m->has_partitions ? m->partitions : 1;
}

/* Fills *s from m (subjects counts only when `counts`). false: out of memory for them. */
static bool info_from(rq_stream_info *s, const pwm_ringq_v1_StreamInfo *m, bool counts)
{
    memset(s, 0, sizeof *s);
    config_from(&s->config, m->config);
    s->created_unix_ms = m->created_unix_ms;
    s->partition = m->partition;
    const pwm_ringq_v1_StreamState *t = m->state;
    if (!t) return true;
    s->messages = t->messages;
    s->bytes = t->bytes;
    s->first_seq = t->first_seq;
    s->first_unix_ms = t->first_unix_ms;
    s->last_seq = t->last_seq;
    s->last_unix_ms = t->last_unix_ms;
    s->num_subjects = t->num_subjects;
    s->num_deleted = t->num_deleted;
    s->consumers = t->consumers;
    s->subjects_truncated = t->subjects_truncated;
    if (!counts || t->subjects_count == 0) return true;
    s->subjects = calloc(t->subjects_count, sizeof *s->subjects);
    if (!s->subjects) return false;
    s->nsubjects = t->subjects_count;
    for (size_t i = 0; i < s->nsubjects; i++) {
        rq_copy_str(s->subjects[i].subject, RQ_SUBJECT_MAX, t->subjects[i].subject);
        s->subjects[i].messages = t->subjects[i].messages;
    }
    return true;
}

void rq_stream_info_free(rq_stream_info *s)
{
    if (!s) return;
    free(s->subjects);
    s->subjects = NULL;
    s->nsubjects = 0;
}

/* ---- stream calls ---- */

/* CreateStream or UpdateStream (the same request shape, described by rd). */
static int stream_put(rq_client *c, const char *path, const pw_msg_desc *rd,
                      const rq_stream_config *cfg, rq_stream_info *out, rq_status *st)
{
    if (!cfg || !cfg->name[0]) return rq_set_status(st, RQ_EINVAL, "a stream needs a name");
    pw_pb_bytes subjects[RQ_STREAM_SUBJECTS_MAX];
    pwm_ringq_v1_StreamConfig m;
    rq_stream_config_fill(&m, subjects, cfg);
    pwm_ringq_v1_CreateStreamRequest req = {.config = &m};
    _Static_assert(sizeof(pwm_ringq_v1_CreateStreamRequest) ==
                       sizeof(pwm_ringq_v1_UpdateStreamRequest),
                   "CreateStream and UpdateStream requests share one shape");
    pwm_ringq_v1_StreamInfo resp;
    rq_reply r;
    int rc = rq_call(c, path, rd, &req, &pwm_ringq_v1_StreamInfo_desc, &resp, &r, st);
    if (rc) return rc;
    if (out) info_from(out, &resp, false);
    rq_reply_free(&r);
    return 0;
}

int rq_stream_create(rq_client *c, const rq_stream_config *cfg, rq_stream_info *out, rq_status *st)
{
    return stream_put(c, pwm_ringq_v1_Streams_CreateStream_PATH,
                      &pwm_ringq_v1_CreateStreamRequest_desc, cfg, out, st);
}

int rq_stream_update(rq_client *c, const rq_stream_config *cfg, rq_stream_info *out, rq_status *st)
{
    return stream_put(c, pwm_ringq_v1_Streams_UpdateStream_PATH,
                      &pwm_ringq_v1_UpdateStreamRequest_desc, cfg, out, st);
}

int rq_stream_get(rq_client *c, const char *name, const char *subjects_filter, rq_stream_info *out,
                  rq_status *st)
{
    if (!str_ok(name) || !out) return rq_set_status(st, RQ_EINVAL, "get stream needs a name");
    pwm_ringq_v1_GetStreamRequest req = {.name = rq_str(name),
                                         .subjects_filter = rq_str(subjects_filter)};
    pwm_ringq_v1_StreamInfo resp;
    rq_reply r;
    int rc = rq_call(c, pwm_ringq_v1_Streams_GetStream_PATH, &pwm_ringq_v1_GetStreamRequest_desc,
                     &req, &pwm_ringq_v1_StreamInfo_desc, &resp, &r, st);
    if (rc) return rc;
    bool ok = info_from(out, &resp, true);
    rq_reply_free(&r);
    if (!ok) return rq_set_status(st, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    return 0;
}

/* Appends one page to *out; copies the next page token into tok. */
static int list_page(rq_client *c, char *tok, size_t tokcap, rq_stream_info **out, size_t *n,
                     rq_status *st)
{
    pwm_ringq_v1_ListStreamsRequest req = {.page_size = 1000, .page_token = rq_str(tok)};
    pwm_ringq_v1_ListStreamsResponse resp;
    rq_reply r;
    int rc = rq_call(c, pwm_ringq_v1_Streams_ListStreams_PATH,
                     &pwm_ringq_v1_ListStreamsRequest_desc, &req,
                     &pwm_ringq_v1_ListStreamsResponse_desc, &resp, &r, st);
    if (rc) return rc;
    rq_stream_info *arr = resp.streams_count
                              ? realloc(*out, (*n + resp.streams_count) * sizeof **out)
                              : *out;
    if (!arr && resp.streams_count) {
        rq_reply_free(&r);
        return rq_set_status(st, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    }
    *out = arr;
    for (size_t i = 0; i < resp.streams_count; i++)
        info_from(&arr[(*n)++], &resp.streams[i], false);
    if (resp.next_page_token.len >= tokcap) resp.next_page_token.len = 0; /* absurd: stop */
    rq_copy_str(tok, tokcap, resp.next_page_token);
    rq_reply_free(&r);
    return 0;
}

int rq_stream_list(rq_client *c, rq_stream_info **out, size_t *n, rq_status *st)
{
    if (!out || !n) return rq_set_status(st, RQ_EINVAL, "list streams needs out and n");
    *out = NULL;
    *n = 0;
    char tok[256] = "";
    do {
        int rc = list_page(c, tok, sizeof tok, out, n, st);
        if (rc) {
            free(*out);
            *out = NULL;
            *n = 0;
            return rc;
        }
    } while (tok[0]);
    return 0;
}

int rq_stream_find(rq_client *c, const char *subject, char *stream, rq_status *st)
{
    if (!str_ok(subject) || !stream) return rq_set_status(st, RQ_EINVAL, "find needs a subject");
    pwm_ringq_v1_ListStreamsRequest req = {.page_size = 1, .subject = rq_str(subject)};
    pwm_ringq_v1_ListStreamsResponse resp;
    rq_reply r;
    int rc = rq_call(c, pwm_ringq_v1_Streams_ListStreams_PATH,
                     &pwm_ringq_v1_ListStreamsRequest_desc, &req,
                     &pwm_ringq_v1_ListStreamsResponse_desc, &resp, &r, st);
    if (rc) return rc;
    if (resp.streams_count && resp.streams[0].config) {
        rq_copy_str(stream, RQ_STREAM_NAME_MAX, resp.streams[0].config->name);
        rc = 0;
    } else {
        rc = rq_set_status(st, PW_GRPC_NOT_FOUND, "no stream captures %s", subject);
    }
    rq_reply_free(&r);
    return rc;
}

int rq_stream_delete(rq_client *c, const char *name, rq_status *st)
{
    if (!str_ok(name)) return rq_set_status(st, RQ_EINVAL, "delete stream needs a name");
    pwm_ringq_v1_DeleteStreamRequest req = {.name = rq_str(name)};
    pwm_ringq_v1_DeleteStreamResponse resp;
    rq_reply r;
    int rc = rq_call(c, pwm_ringq_v1_Streams_DeleteStream_PATH,
                     &pwm_ringq_v1_DeleteStreamRequest_desc, &req,
                     &pwm_ringq_v1_DeleteStreamResponse_desc, &resp, &r, st);
    if (rc == 0) rq_reply_free(&r);
    return rc;
}

int rq_stream_purge(rq_client *c, const char *name, const rq_purge_opts *o, uint64_t *purged,
                    rq_status *st)
{
    if (!str_ok(name)) return rq_set_status(st, RQ_EINVAL, "purge stream needs a name");
    rq_purge_opts none = {0};
    if (!o) o = &none;
    if (o->up_to_seq && o->keep)
        return rq_set_status(st, RQ_EINVAL, "purge: up_to_seq and keep exclude each other");
    pwm_ringq_v1_PurgeStreamRequest req = {.name = rq_str(name),
                                           .subject = rq_str(o->subject),
                                           .up_to_seq = o->up_to_seq,
                                           .keep = o->keep};
    pwm_ringq_v1_PurgeStreamResponse resp;
    rq_reply r;
    int rc = rq_call(c, pwm_ringq_v1_Streams_PurgeStream_PATH,
                     &pwm_ringq_v1_PurgeStreamRequest_desc, &req,
                     &pwm_ringq_v1_PurgeStreamResponse_desc, &resp, &r, st);
    if (rc) return rc;
    if (purged) *purged = resp.purged;
    rq_reply_free(&r);
    return 0;
}

/* ---- Publish ---- */

size_t rq_pub_fill_bytes(const rq_pub_msg *msgs, size_t n)
{
    size_t nh = 0;
    for (size_t i = 0; i < n; i++) nh += msgs[i].nheaders;
    return n * sizeof(pwm_ringq_v1_PublishMessage) +
           nh * sizeof(pwm_ringq_v1_PublishMessage_HeadersEntry);
}

void rq_pub_fill_in(const rq_pub_msg *msgs, size_t n, pwm_ringq_v1_PublishMessage *pm)
{
    pwm_ringq_v1_PublishMessage_HeadersEntry *h = (void *)(pm + n);
    for (size_t i = 0; i < n; i++) {
        const rq_pub_msg *m = &msgs[i];
        pm[i] = (pwm_ringq_v1_PublishMessage){
            .subject = rq_str(m->subject),
            .payload = {m->payload, m->payload_len},
            .headers = h,
            .headers_count = m->nheaders,
            .msg_id = rq_str(m->msg_id),
            .ttl_ms = m->ttl_ms,
            .expected_last_seq = m->expected_last_seq,
            .has_expected_last_seq = m->has_expected_last_seq,
            .expected_last_subject_seq = m->expected_last_subject_seq,
            .has_expected_last_subject_seq = m->has_expected_last_subject_seq,
            .expected_stream = rq_str(m->expected_stream),
        };
        for (size_t k = 0; k < m->nheaders; k++, h++)
            *h = (pwm_ringq_v1_PublishMessage_HeadersEntry){rq_str(m->headers[k].name),
                                                            rq_str(m->headers[k].value)};
    }
}

pwm_ringq_v1_PublishMessage *rq_pub_fill(const rq_pub_msg *msgs, size_t n)
{
    pwm_ringq_v1_PublishMessage *pm = calloc(1, rq_pub_fill_bytes(msgs, n));
    if (pm) rq_pub_fill_in(msgs, n, pm);
    return pm;
}

int rq_pub_check(const rq_pub_msg *msgs, size_t n, rq_status *st)
{
    if (!msgs || n == 0 || n > RQ_PUBLISH_BATCH_MAX)
        return rq_set_status(st, RQ_EINVAL, "publish needs 1..%d messages and their acks",
                             RQ_PUBLISH_BATCH_MAX);
    for (size_t i = 0; i < n; i++)
        if (!str_ok(msgs[i].subject) || (msgs[i].nheaders && !msgs[i].headers))
            return rq_set_status(st, RQ_EINVAL, "message %zu: no subject (or headers NULL)", i);
    return 0;
}

int rq_pub_acks_from(const pwm_ringq_v1_PublishResponse *resp, rq_pub_ack *acks, size_t n,
                     char *stream, rq_status *st)
{
    if (resp->acks_count != n)
        return rq_set_status(st, PW_GRPC_INTERNAL, "the server returned %zu acks for %zu messages",
                             resp->acks_count, n);
    for (size_t i = 0; i < n; i++) {
        const pwm_ringq_v1_PublishAck *a = &resp->acks[i];
        const pwm_ringq_v1_Receipt *m = a->receipt;
        acks[i] = (rq_pub_ack){.seq = a->seq,
                               .duplicate = a->duplicate,
                               .receipt = m ? (rq_receipt){m->partition, m->offset, m->commit_seq,
                                                           (rq_durability)m->level}
                                            : (rq_receipt){0}};
    }
    if (stream) rq_copy_str(stream, RQ_STREAM_NAME_MAX, resp->stream);
    return 0;
}

int rq_publish(rq_client *c, const rq_pub_msg *msgs, size_t n, rq_durability level,
               rq_pub_ack *acks, char *stream, rq_status *st)
{
    if (!acks) return rq_set_status(st, RQ_EINVAL, "publish needs an acks array");
    int rc = rq_pub_check(msgs, n, st);
    if (rc) return rc;
    pwm_ringq_v1_PublishMessage *pm = rq_pub_fill(msgs, n);
    if (!pm) return rq_set_status(st, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    pwm_ringq_v1_PublishRequest req = {
        .messages = pm, .messages_count = n, .durability = (int32_t)level};
    pwm_ringq_v1_PublishResponse resp;
    rq_reply r;
    rc = rq_call(c, pwm_ringq_v1_Streams_Publish_PATH, &pwm_ringq_v1_PublishRequest_desc, &req,
                 &pwm_ringq_v1_PublishResponse_desc, &resp, &r, st);
    free(pm);
    if (rc) return rc;
    rc = rq_pub_acks_from(&resp, acks, n, stream, st);
    rq_reply_free(&r);
    return rc;
}

/* rq_publish_async's completion: the acks decoded into the client's reused array. */
static void publish_fin(rq_acall *a, const rq_status *st, const uint8_t *p, size_t len)
{
    rq_client *c = a->c;
    rq_publish_fn done = (rq_publish_fn)a->fn;
    if (st->code) {
        done(c, a->ud, st, NULL, 0);
        return;
    }
    rq_status dst;
    if (a->n > c->pub_cap) {
        rq_pub_ack *na = realloc(c->pub_acks, a->n * sizeof *na);
        if (!na) {
            rq_set_status(&dst, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory for the acks");
            done(c, a->ud, &dst, NULL, 0);
            return;
        }
        c->pub_acks = na;
        c->pub_cap = a->n;
    }
    pwm_ringq_v1_PublishResponse resp;
    pw_msg_arena ar;
    int rc = rq_msg_decode(&pwm_ringq_v1_PublishResponse_desc, &resp, p, len, &ar);
    if (rc < 0) {
        rq_set_status(&dst, PW_GRPC_INTERNAL, "malformed PublishResponse: %s", pw_msg_strerror(rc));
        done(c, a->ud, &dst, NULL, 0);
        return;
    }
    rc = rq_pub_acks_from(&resp, c->pub_acks, a->n, NULL, &dst);
    pw_msg_arena_deinit(&ar);
    if (rc) done(c, a->ud, &dst, NULL, 0);
    else done(c, a->ud, st, c->pub_acks, a->n);
}

int rq_publish_async(rq_client *c, const rq_pub_msg *msgs, size_t n, rq_durability level,
                     rq_publish_fn done, void *ud)
{
    rq_status st;
    if (!c || !done || c->closing || rq_pub_check(msgs, n, &st)) return -EINVAL;
    pwm_ringq_v1_PublishMessage *pm = rq_pub_fill(msgs, n);
    if (!pm) return -ENOMEM;
    rq_acall *a = rq_acall_new(c, pwm_ringq_v1_Streams_Publish_PATH, false);
    if (!a) {
        free(pm);
        return -ENOMEM;
    }
    pwm_ringq_v1_PublishRequest req = {
        .messages = pm, .messages_count = n, .durability = (int32_t)level};
    int rc = rq_msg_encode(&a->req, &pwm_ringq_v1_PublishRequest_desc, &req);
    free(pm);
    if (rc) {
        rq_acall_free(a);
        return -ENOMEM; /* above RQ_MAX_SEND_BYTES, or out of memory */
    }
    a->fn = (void *)done;
    a->ud = ud;
    a->n = n;
    return rq_acall_submit(a, 0, publish_fin);
}

/* ---- messages ---- */

static char *put_str(char **arena, pw_pb_bytes v)
{
    char *d = *arena;
    if (v.len) memcpy(d, v.ptr, v.len);
    d[v.len] = 0;
    *arena += v.len + 1;
    return d;
}

void *rq_stream_msg_alloc(const pwm_ringq_v1_StreamMessage *m, size_t head, rq_stream_msg **out)
{
    const size_t al = _Alignof(max_align_t);
    size_t msg_off = (head + al - 1) / al * al;
    size_t hdr_off = msg_off + (sizeof(rq_stream_msg) + al - 1) / al * al;
    size_t strings = m->stream.len + m->subject.len + m->payload.len + m->msg_id.len + 4;
    for (size_t i = 0; i < m->headers_count; i++)
        strings += m->headers[i].key.len + m->headers[i].value.len + 2;
    uint8_t *obj = calloc(1, hdr_off + m->headers_count * sizeof(rq_header) + strings);
    if (!obj) return NULL;
    rq_stream_msg *s = (rq_stream_msg *)(obj + msg_off);
    s->headers = (rq_header *)(obj + hdr_off);
    char *arena = (char *)(s->headers + m->headers_count);
    s->stream = put_str(&arena, m->stream);
    s->subject = put_str(&arena, m->subject);
    s->payload = (uint8_t *)put_str(&arena, m->payload);
    s->payload_len = m->payload.len;
    s->payload_size = m->payload_size;
    s->msg_id = put_str(&arena, m->msg_id);
    s->nheaders = m->headers_count;
    for (size_t i = 0; i < m->headers_count; i++) {
        s->headers[i].name = put_str(&arena, m->headers[i].key);
        s->headers[i].value = put_str(&arena, m->headers[i].value);
    }
    s->seq = m->seq;
    s->unix_ms = m->unix_ms;
    s->expires_unix_ms = m->expires_unix_ms;
    *out = s;
    return obj;
}

void rq_stream_msg_free(rq_stream_msg *m) { free(m); }

int rq_stream_get_msg(rq_client *c, const char *stream, uint64_t seq, const char *last_by_subject,
                      rq_stream_msg **out, rq_status *st)
{
    if (!str_ok(stream) || !out) return rq_set_status(st, RQ_EINVAL, "get message needs a stream");
    *out = NULL;
    pwm_ringq_v1_GetMessageRequest req = {.stream = rq_str(stream)};
    if (last_by_subject) {
        req.which_case = pwm_ringq_v1_GetMessageRequest_FIELD_last_by_subject;
        req.last_by_subject = rq_str(last_by_subject);
    } else {
        req.which_case = pwm_ringq_v1_GetMessageRequest_FIELD_seq;
        req.seq = seq;
    }
    pwm_ringq_v1_StreamMessage resp;
    rq_reply r;
    int rc = rq_call(c, pwm_ringq_v1_Streams_GetMessage_PATH, &pwm_ringq_v1_GetMessageRequest_desc,
                     &req, &pwm_ringq_v1_StreamMessage_desc, &resp, &r, st);
    if (rc) return rc;
    void *obj = rq_stream_msg_alloc(&resp, 0, out);
    rq_reply_free(&r);
    if (!obj) return rq_set_status(st, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    return 0;
}
