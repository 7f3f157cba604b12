/* client/rq_codec: ringq.v1 messages through the generated schema (proto_wire/pw_msgs.h). A
 * response is decoded once, zero-copy, into a per-call arena; the public rq_task / rq_task_info
 * each become one allocation (the struct, its header array and every string, NUL-terminated),
 * laid out from the decoded view. No field number is written here: they live in proto/. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "client/rq_int.h"

pw_pb_bytes rq_str(const char *s)
{
    return (pw_pb_bytes){(const uint8_t *)(s ? s : ""), s ? strlen(s) : 0};
}

void rq_copy_str(char *dst, size_t cap, pw_pb_bytes v)
{
    size_t l = v.len < cap - 1 ? v.len : cap - 1;
    if (l) memcpy(dst, v.ptr, l);
    dst[l] = 0;
}

int rq_msg_decode(const pw_msg_desc *d, void *msg, const uint8_t *p, size_t n, pw_msg_arena *a)
{
    pw_msg_arena_init_heap(a, 0, RQ_DECODE_ARENA_BYTES);
    int rc = pw_msg_decode(d, msg, p, n, a);
    if (rc < 0) pw_msg_arena_deinit(a);
    return rc;
}

int rq_msg_decode_over(const pw_msg_desc *d, void *msg, const uint8_t *p, size_t n, pw_msg_arena *a,
                       void *mem, size_t cap)
{
    pw_msg_arena_init_heap_over(a, mem, cap, 0, RQ_DECODE_ARENA_BYTES);
    int rc = pw_msg_decode(d, msg, p, n, a);
    if (rc < 0) pw_msg_arena_deinit(a);
    return rc;
}

int rq_msg_encode(buf *b, const pw_msg_desc *d, const void *msg)
{
    return pw_msg_encode(d, msg, b) ? -ENOMEM : 0;
}

/* Copies `len` bytes plus a NUL into the arena; returns where. */
static char *arena_put(char **arena, pw_pb_bytes v)
{
    char *d = *arena;
    if (v.len) memcpy(d, v.ptr, v.len);
    d[v.len] = 0;
    *arena += v.len + 1;
    return d;
}

/* One allocation: `size` bytes of struct, then nh headers, then `strings` bytes. */
static uint8_t *obj_alloc(size_t size, size_t nh, size_t strings, rq_header **hdrs, char **arena)
{
    size_t hdr_off = (size + _Alignof(rq_header) - 1) / _Alignof(rq_header) * _Alignof(rq_header);
    uint8_t *obj = calloc(1, hdr_off + nh * sizeof(rq_header) + strings);
    if (!obj) return NULL;
    *hdrs = (rq_header *)(obj + hdr_off);
    *arena = (char *)(*hdrs + nh);
    return obj;
}

static size_t headers_bytes(const pwm_ringq_v1_Task_HeadersEntry *h, size_t n)
{
    size_t s = 0;
    for (size_t i = 0; i < n; i++) s += h[i].key.len + h[i].value.len + 2;
    return s;
}

static void headers_put(rq_header *dst, const pwm_ringq_v1_Task_HeadersEntry *h, size_t n,
                        char **arena)
{
    for (size_t i = 0; i < n; i++) {
        dst[i].name = arena_put(arena, h[i].key);
        dst[i].value = arena_put(arena, h[i].value);
    }
}

rq_task *rq_task_from(const pwm_ringq_v1_Task *m)
{
    rq_header *hdrs;
    char *arena;
    size_t strings = m->id.len + m->queue.len + m->payload.len + 3 +
                     headers_bytes(m->headers, m->headers_count);
    rq_task *t = (rq_task *)obj_alloc(sizeof *t, m->headers_count, strings, &hdrs, &arena);
    if (!t) return NULL;
    t->id = arena_put(&arena, m->id);
    t->queue = arena_put(&arena, m->queue);
    t->payload = (uint8_t *)arena_put(&arena, m->payload);
    t->payload_len = m->payload.len;
    t->headers = hdrs;
    t->nheaders = m->headers_count;
    headers_put(hdrs, m->headers, m->headers_count, &arena);
    t->priority = m->priority;
    t->attempt = m->attempt;
    t->max_attempts = m->max_attempts;
    t->lease_token = m->lease_token;
    t->lease_deadline_unix_ms = m->lease_deadline_unix_ms;
    t->enqueued_unix_ms = m->enqueued_unix_ms;
    return t;
}

/* TaskInfo's map entries have their own generated type, of the same layout as Task's. */
_Static_assert(sizeof(pwm_ringq_v1_TaskInfo_HeadersEntry) ==
                       sizeof(pwm_ringq_v1_Task_HeadersEntry) &&
                   offsetof(pwm_ringq_v1_TaskInfo_HeadersEntry, value) ==
                       offsetof(pwm_ringq_v1_Task_HeadersEntry, value),
               "map<string,string> entries share one layout");

rq_task_info *rq_task_info_from(const pwm_ringq_v1_TaskInfo *m)
{
    rq_header *hdrs;
    char *arena;
    const pwm_ringq_v1_Task_HeadersEntry *h = (const void *)m->headers;
    size_t strings = m->id.len + m->queue.len + m->payload.len + m->idempotency_key.len +
                     m->last_error.len + 5 + headers_bytes(h, m->headers_count);
    rq_task_info *t = (rq_task_info *)obj_alloc(sizeof *t, m->headers_count, strings, &hdrs,
                                                &arena);
    if (!t) return NULL;
    t->id = arena_put(&arena, m->id);
    t->queue = arena_put(&arena, m->queue);
    t->state = m->state;
    t->payload = (uint8_t *)arena_put(&arena, m->payload);
    t->payload_len = m->payload.len;
    t->headers = hdrs;
    t->nheaders = m->headers_count;
    headers_put(hdrs, h, m->headers_count, &arena);
    t->priority = m->priority;
    t->attempts = m->attempts;
    t->max_attempts = m->max_attempts;
    t->enqueued_unix_ms = m->enqueued_unix_ms;
    t->due_unix_ms = m->due_unix_ms;
    t->idempotency_key = arena_put(&arena, m->idempotency_key);
    t->last_error = arena_put(&arena, m->last_error);
    return t;
}

rq_task *rq_task_decode(const uint8_t *p, size_t n)
{
    pwm_ringq_v1_Task m;
    pw_msg_arena a;
    if (rq_msg_decode(&pwm_ringq_v1_Task_desc, &m, p, n, &a) < 0) return NULL;
    rq_task *t = rq_task_from(&m);
    pw_msg_arena_deinit(&a);
    return t;
}

rq_task_info *rq_task_info_decode(const uint8_t *p, size_t n)
{
    pwm_ringq_v1_TaskInfo m;
    pw_msg_arena a;
    if (rq_msg_decode(&pwm_ringq_v1_TaskInfo_desc, &m, p, n, &a) < 0) return NULL;
    rq_task_info *t = rq_task_info_from(&m);
    pw_msg_arena_deinit(&a);
    return t;
}

void rq_task_free(rq_task *t) { free(t); }
void rq_task_info_free(rq_task_info *t) { free(t); }

void rq_tasks_free(rq_task **tasks, size_t n)
{
    if (!tasks) return;
    for (size_t i = 0; i < n; i++) free(tasks[i]);
    free(tasks);
}

void rq_task_infos_free(rq_task_info **t, size_t n)
{
    if (!t) return;
    for (size_t i = 0; i < n; i++) free(t[i]);
    free(t);
}

void rq_queue_info_from(const pwm_ringq_v1_QueueInfo *m, rq_queue_info *q)
{
    memset(q, 0, sizeof *q);
    rq_copy_str(q->name, sizeof q->name, m->name);
    q->partition = m->partition;
    q->paused = m->paused;
    if (m->config) {
        q->config.max_attempts = m->config->max_attempts;
        q->config.lease_ms = m->config->lease_ms;
        q->config.backoff_base_ms = m->config->backoff_base_ms;
        q->config.backoff_max_ms = m->config->backoff_max_ms;
        q->config.dead_letter = m->config->dead_letter;
        q->config.dedup_window_ms = m->config->dedup_window_ms;
        q->config.allow_tokenless_ack = m->config->allow_tokenless_ack;
        q->config.release_counts_attempt = m->config->release_counts_attempt;
    }
    q->ready = m->ready;
    q->delayed = m->delayed;
    q->leased = m->leased;
    q->dead = m->dead;
    q->enqueued_total = m->enqueued_total;
    q->acked_total = m->acked_total;
    q->nacked_total = m->nacked_total;
    q->expired_total = m->expired_total;
    q->dead_total = m->dead_total;
    q->duplicates_total = m->duplicates_total;
    q->enqueue_rate = m->enqueue_rate;
    q->ack_rate = m->ack_rate;
}

int rq_queue_info_decode(const uint8_t *p, size_t n, rq_queue_info *q)
{
    pwm_ringq_v1_QueueInfo m;
    pw_msg_arena a;
    int rc = rq_msg_decode(&pwm_ringq_v1_QueueInfo_desc, &m, p, n, &a);
    if (rc < 0) return rc;
    rq_queue_info_from(&m, q);
    pw_msg_arena_deinit(&a);
    return 0;
}

void rq_nack_fill(pwm_ringq_v1_NackRequest *m, const char *id, uint64_t token,
                  const rq_nack_opts *o)
{
    memset(m, 0, sizeof *m);
    m->id = rq_str(id);
    m->lease_token = token;
    if (!o) return;
    m->has_delay_ms = o->has_delay; /* proto3 optional: present even when 0 */
    m->delay_ms = o->delay_ms;
    m->dead_letter = o->dead_letter;
    m->reason = rq_str(o->reason);
}

const char *rq_state_name(int state)
{
    switch (state) {
    case RQ_STATE_READY: return "ready";
    case RQ_STATE_DELAYED: return "delayed";
    case RQ_STATE_LEASED: return "leased";
    case RQ_STATE_DEAD: return "dead";
    default: return "unspecified";
    }
}
