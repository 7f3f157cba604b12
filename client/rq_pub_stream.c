/* client/rq_pub_stream: the ringq.v1.Streams/PublishStream producer stream (ringq.h,
 * "Pipelined publish"), an ordered request stream (client/rq_ostream.c) as rq_enq_stream.c is
 * for Queue.EnqueueStream: this file encodes one request, reads one answer's acks and hands
 * them to the caller. A lost stream fails every unanswered request with its status; nothing is
 * sent again (a caller that wants exactly-once retries with message ids, which the stream's
 * dedup window recognises). */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "client/rq_int.h"
#include "client/rq_pb_fast.h"

/* An answer's decoded form (a PublishStreamResponse, its acks and receipts) goes on the stack up
 * to this many bytes: a 64-message batch's (~4.6 KiB); a larger one takes heap chunks. */
#define PSTREAM_ANSWER_STACK_BYTES 8192u

struct rq_pub_stream {
    rq_ostream o; /* the ordered stream: ids, credits, answers in order */
    rq_pub_stream_fn fn;
    void *ud;
    rq_durability level;
    rq_pub_ack *acks;                /* one answer's acks, reused */
    char stream[RQ_STREAM_NAME_MAX]; /* one answer's stream name */
    pwm_ringq_v1_PublishMessage *pm; /* one request's message views (rq_pub_fill_in), reused */
    size_t pm_bytes;
};

/* One request: what rq_pub_stream_send was given. */
typedef struct pstream_req {
    rq_pub_stream *s; /* its reused message views (pstream_encode) */
    const rq_pub_msg *msgs;
    size_t n;
} pstream_req;

static rq_pub_stream *pstream_of(rq_ostream *o)
{
    return (rq_pub_stream *)((char *)o - offsetof(rq_pub_stream, o));
}

static void pstream_deliver(rq_ostream *o, uint64_t id, const rq_status *st, size_t n)
{
    rq_pub_stream *s = pstream_of(o);
    if (s->fn) s->fn(s, s->ud, id, st, st->code ? NULL : s->stream, st->code ? NULL : s->acks, n);
}

/* One PublishStreamResponse: its status, and on OK its acks into s->acks. */
static void answer_decode(rq_pub_stream *s, const pwm_ringq_v1_PublishStreamResponse *r,
                          uint64_t id, size_t count, rq_status *st)
{
    if (r->code != 0 || r->message.len) /* (no formatting for the usual bare OK) */
        rq_set_status(st, (int)r->code, "%.*s", (int)r->message.len, (const char *)r->message.ptr);
    else rq_set_status(st, 0, NULL);
    if (r->code != 0) return;
    if (r->request_id != id || !r->publish) {
        rq_set_status(st, PW_GRPC_INTERNAL, "answer %llu for request %llu%s",
                      (unsigned long long)r->request_id, (unsigned long long)id,
                      r->publish ? "" : " without its acks");
        return;
    }
    (void)rq_pub_acks_from(r->publish, s->acks, count, s->stream, st);
}

/* ---- the usual answer, read in place ----
 * An OK answer with its acks is read straight into s->acks: no decoded form, no arena. The
 * answer's generic read was ~40 % of a producer's instructions per message at publish batch 1,
 * this one 16 % less (bench/results/streams-2026-12-07-s11.md). Anything else (a status, an
 * unknown or repeated sub-message, another wire type, a count or id that does not fit) is left
 * to the generic decode, which reads it as before. test_rq_pub_stream checks every field of the
 * usual answer read this way. */

/* One Receipt into *out. false: not the usual shape. */
static bool receipt_fast(pw_pb_bytes b, rq_receipt *out)
{
    const uint8_t *p = b.ptr, *end = b.ptr + b.len;
    pw_pb_field f;
    int rc;
    *out = (rq_receipt){0};
    while ((rc = rq_pb_fast_field(&p, end, &f)) == 1) {
        if (f.wt != PW_PB_WT_VARINT) return false;
        if (f.num == pwm_ringq_v1_Receipt_FIELD_partition) out->partition = (uint32_t)f.u64;
        else if (f.num == pwm_ringq_v1_Receipt_FIELD_offset) out->offset = f.u64;
        else if (f.num == pwm_ringq_v1_Receipt_FIELD_commit_seq) out->commit_seq = f.u64;
        else if (f.num == pwm_ringq_v1_Receipt_FIELD_level)
            out->level = (rq_durability)(int32_t)f.u64;
        else return false;
    }
    return rc == 0;
}

/* One PublishAck into *out. false: not the usual shape. */
static bool ack_fast(pw_pb_bytes b, rq_pub_ack *out)
{
    const uint8_t *p = b.ptr, *end = b.ptr + b.len;
    pw_pb_field f;
    int rc;
    bool receipt = false;
    *out = (rq_pub_ack){0};
    while ((rc = rq_pb_fast_field(&p, end, &f)) == 1) {
        if (f.num == pwm_ringq_v1_PublishAck_FIELD_seq && f.wt == PW_PB_WT_VARINT) out->seq = f.u64;
        else if (f.num == pwm_ringq_v1_PublishAck_FIELD_duplicate && f.wt == PW_PB_WT_VARINT)
            out->duplicate = f.u64 != 0;
        else if (f.num == pwm_ringq_v1_PublishAck_FIELD_receipt && f.wt == PW_PB_WT_LEN &&
                 !receipt) {
            if (!receipt_fast(f.bytes, &out->receipt)) return false;
            receipt = true;
        } else return false;
    }
    return rc == 0;
}

/* PublishResponse b: its count acks into s->acks, its stream into s->stream. */
static bool publish_fast(rq_pub_stream *s, pw_pb_bytes b, size_t count)
{
    const uint8_t *p = b.ptr, *end = b.ptr + b.len;
    pw_pb_field f;
    int rc;
    size_t k = 0;
    bool named = false;
    pw_pb_bytes stream = {0};
    while ((rc = rq_pb_fast_field(&p, end, &f)) == 1) {
        if (f.num == pwm_ringq_v1_PublishResponse_FIELD_acks && f.wt == PW_PB_WT_LEN) {
            if (k == count || !ack_fast(f.bytes, &s->acks[k++])) return false;
        } else if (f.num == pwm_ringq_v1_PublishResponse_FIELD_stream && f.wt == PW_PB_WT_LEN &&
                   !named) {
            stream = f.bytes;
            named = true;
        } else return false;
    }
    if (rc != 0 || k != count) return false;
    rq_copy_str(s->stream, RQ_STREAM_NAME_MAX, stream);
    return true;
}

/* The answer to request id (count messages) read in place: true with *st OK and *credits, or
 * false (nothing the caller sees set but s->acks and s->stream, which the generic decode
 * writes again). */
static bool answer_fast(rq_pub_stream *s, const uint8_t *p, size_t n, uint64_t id, size_t count,
                        rq_status *st, uint32_t *credits)
{
    if (n == 0) return false; /* p may be NULL: no p + n before this */
    const uint8_t *end = p + n;
    pw_pb_field f;
    int rc;
    uint64_t rid = 0;
    uint32_t cr = 0;
    bool has_pub = false;
    pw_pb_bytes pub = {0};
    while ((rc = rq_pb_fast_field(&p, end, &f)) == 1) {
        if (f.num == pwm_ringq_v1_PublishStreamResponse_FIELD_request_id && f.wt == PW_PB_WT_VARINT)
            rid = f.u64;
        else if (f.num == pwm_ringq_v1_PublishStreamResponse_FIELD_credits &&
                 f.wt == PW_PB_WT_VARINT)
            cr = (uint32_t)f.u64;
        else if (f.num == pwm_ringq_v1_PublishStreamResponse_FIELD_publish &&
                 f.wt == PW_PB_WT_LEN && !has_pub) {
            pub = f.bytes;
            has_pub = true;
        } else return false; /* a status, or not the usual shape */
    }
    if (rc != 0 || !has_pub || rid != id || !publish_fast(s, pub, count)) return false;
    rq_set_status(st, 0, NULL);
    *credits = cr;
    return true;
}

static int pstream_answer(rq_ostream *o, const uint8_t *p, size_t n, uint64_t id, size_t count,
                          rq_status *st, size_t *items, uint32_t *credits)
{
    if (answer_fast(pstream_of(o), p, n, id, count, st, credits)) {
        *items = count;
        return 0;
    }
    pwm_ringq_v1_PublishStreamResponse r;
    pw_msg_arena a;
    _Alignas(max_align_t) uint8_t mem[PSTREAM_ANSWER_STACK_BYTES];
    int rc = rq_msg_decode_over(&pwm_ringq_v1_PublishStreamResponse_desc, &r, p, n, &a, mem,
                                sizeof mem);
    if (rc < 0) return rc;
    answer_decode(pstream_of(o), &r, id, count, st);
    *credits = r.credits;
    *items = count;
    pw_msg_arena_deinit(&a);
    return 0;
}

static void pstream_release(rq_ostream *o)
{
    rq_pub_stream *s = pstream_of(o);
    free(s->acks);
    free(s->pm);
    free(s);
}

static const rq_ostream_ops pstream_ops = {pwm_ringq_v1_Streams_PublishStream_PATH, pstream_answer,
                                           pstream_deliver, pstream_release};

static rq_pub_stream *pstream_new(rq_client *c, rq_durability level, rq_pub_stream_fn fn, void *ud)
{
    rq_pub_stream *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->fn = fn;
    s->ud = ud;
    s->level = level;
    s->acks = calloc(RQ_PUBLISH_BATCH_MAX, sizeof *s->acks);
    if (s->acks && rq_ostream_init(&s->o, c, &pstream_ops) == 0) return s;
    free(s->acks);
    free(s);
    return NULL;
}

rq_pub_stream *rq_pub_stream_open(rq_client *c, rq_durability level, rq_pub_stream_fn fn, void *ud,
                                  rq_status *st)
{
    rq_status tmp;
    if (!st) st = &tmp;
    rq_pub_stream *s = c ? pstream_new(c, level, fn, ud) : NULL;
    if (!s) {
        rq_set_status(st, RQ_EINVAL, c ? "out of memory" : "no client");
        return NULL;
    }
    if (rq_ostream_start(&s->o, st)) return s;
    rq_pub_stream_free(s);
    return NULL;
}

size_t rq_pub_stream_unanswered(const rq_pub_stream *s) { return rq_ostream_unanswered(&s->o); }

static int pstream_check(const void *req, rq_status *st)
{
    const pstream_req *q = req;
    return rq_pub_check(q->msgs, q->n, st);
}

/* PublishStreamRequest{request_id, publish{msgs, durability}} into b, the message views in the
 * stream's reused array (grown to the largest request so far). */
static int pstream_encode(const void *req, uint64_t id, buf *b, rq_status *st)
{
    const pstream_req *q = req;
    rq_pub_stream *s = q->s;
    size_t need = rq_pub_fill_bytes(q->msgs, q->n);
    int rc = -ENOMEM;
    if (need > s->pm_bytes) {
        pwm_ringq_v1_PublishMessage *pm = realloc(s->pm, need);
        if (pm) s->pm = pm, s->pm_bytes = need;
    }
    if (need <= s->pm_bytes) {
        rq_pub_fill_in(q->msgs, q->n, s->pm);
        pwm_ringq_v1_PublishRequest pr = {
            .messages = s->pm, .messages_count = q->n, .durability = (int32_t)s->level};
        pwm_ringq_v1_PublishStreamRequest m = {.request_id = id, .publish = &pr};
        rc = rq_msg_encode(b, &pwm_ringq_v1_PublishStreamRequest_desc, &m);
    }
    if (rc < 0) return rq_set_status(st, RQ_EINVAL, "request not sent: %s", strerror(-rc));
    return 0;
}

int rq_pub_stream_send(rq_pub_stream *s, const rq_pub_msg *msgs, size_t n, uint64_t *request_id,
                       rq_status *st)
{
    pstream_req q = {s, msgs, n};
    return rq_ostream_send(&s->o, pstream_check, pstream_encode, &q, n, request_id, st);
}

int rq_pub_stream_finish(rq_pub_stream *s, int timeout_ms, rq_status *st)
{
    return rq_ostream_finish(&s->o, timeout_ms, st);
}

void rq_pub_stream_free(rq_pub_stream *s)
{
    if (!s) return;
    s->fn = NULL;
    rq_ostream_free(&s->o); /* s may be gone on return */
}
