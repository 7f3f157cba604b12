/* client/rq_codec: ringq.v1 messages the client decodes (Task, TaskInfo, QueueInfo) and small
 * protobuf helpers. A decoded task is one allocation: the struct, its header array and every
 * string, laid out by a table of fields (one table per message). */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "client/rq_int.h"

typedef enum { F_STR, F_BYTES, F_U32, F_U64, F_INT, F_HEADERS } fkind;

typedef struct fdesc {
    uint32_t num;
    fkind kind;
    size_t off;     /* the char* / uint8_t* / integer / rq_header* member */
    size_t len_off; /* F_BYTES: size_t length member; F_HEADERS: size_t count member */
} fdesc;

#define TF(n, k, m) {n, k, offsetof(rq_task, m), 0}
static const fdesc TASK_FIELDS[] = {
    TF(1, F_STR, id), TF(2, F_STR, queue),
    {3, F_BYTES, offsetof(rq_task, payload), offsetof(rq_task, payload_len)},
    {4, F_HEADERS, offsetof(rq_task, headers), offsetof(rq_task, nheaders)},
    TF(5, F_U32, priority), TF(6, F_U32, attempt), TF(7, F_U64, lease_deadline_unix_ms),
    TF(8, F_U64, enqueued_unix_ms), TF(9, F_U32, max_attempts),
};
#define IF(n, k, m) {n, k, offsetof(rq_task_info, m), 0}
static const fdesc INFO_FIELDS[] = {
    IF(1, F_STR, id), IF(2, F_STR, queue), IF(3, F_INT, state),
    {4, F_BYTES, offsetof(rq_task_info, payload), offsetof(rq_task_info, payload_len)},
    {5, F_HEADERS, offsetof(rq_task_info, headers), offsetof(rq_task_info, nheaders)},
    IF(6, F_U32, priority), IF(7, F_U32, attempts), IF(8, F_U32, max_attempts),
    IF(9, F_U64, enqueued_unix_ms), IF(10, F_U64, due_unix_ms), IF(11, F_STR, idempotency_key),
    IF(12, F_STR, last_error),
};

static const fdesc *find_fd(const fdesc *t, size_t n, uint32_t num)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].num == num) return &t[i];
    return NULL;
}

/* Copies `len` bytes plus a NUL into the arena; returns where. */
static char *arena_put(char **arena, const uint8_t *p, size_t len)
{
    char *d = *arena;
    if (len) memcpy(d, p, len);
    d[len] = 0;
    *arena += len + 1;
    return d;
}

/* Two passes: size everything, then fill one allocation of `size` + arrays + strings. */
static void *obj_decode(const uint8_t *p, size_t n, const fdesc *t, size_t nt, size_t size)
{
    pw_pb_reader r;
    pw_pb_field f;
    int rc;
    size_t strings = 0, nh = 0;
    pw_pb_reader_init(&r, p, n);
    while ((rc = pw_pb_next(&r, &f)) == 1) {
        const fdesc *d = find_fd(t, nt, f.num);
        if (!d) continue;
        bool is_len = d->kind == F_STR || d->kind == F_BYTES || d->kind == F_HEADERS;
        if (is_len != (f.wt == PW_PB_WT_LEN)) return NULL;
        if (d->kind == F_HEADERS) {
            nh++;
            strings += f.bytes.len + 2; /* key and value fit in the entry's bytes */
        } else if (is_len) {
            strings += f.bytes.len + 1;
        }
    }
    if (rc < 0) return NULL;
    /* Every string member gets at least "" even when absent. */
    strings += nt;
    size_t hdr_off = (size + _Alignof(rq_header) - 1) / _Alignof(rq_header) * _Alignof(rq_header);
    uint8_t *obj = calloc(1, hdr_off + nh * sizeof(rq_header) + strings);
    if (!obj) return NULL;
    rq_header *hdrs = (rq_header *)(obj + hdr_off);
    char *arena = (char *)(hdrs + nh);
    for (size_t i = 0; i < nt; i++) {
        if (t[i].kind == F_STR || t[i].kind == F_BYTES)
            *(char **)(obj + t[i].off) = arena_put(&arena, NULL, 0);
        if (t[i].kind == F_HEADERS) *(rq_header **)(obj + t[i].off) = hdrs;
    }
    pw_pb_reader_init(&r, p, n);
    while (pw_pb_next(&r, &f) == 1) {
        const fdesc *d = find_fd(t, nt, f.num);
        if (!d) continue;
        switch (d->kind) {
        case F_STR:
            *(char **)(obj + d->off) = arena_put(&arena, f.bytes.ptr, f.bytes.len);
            break;
        case F_BYTES:
            *(uint8_t **)(obj + d->off) = (uint8_t *)arena_put(&arena, f.bytes.ptr, f.bytes.len);
            *(size_t *)(obj + d->len_off) = f.bytes.len;
            break;
        case F_U32: *(uint32_t *)(obj + d->off) = (uint32_t)f.u64; break;
        case F_U64: *(uint64_t *)(obj + d->off) = f.u64; break;
        case F_INT: *(int *)(obj + d->off) = (int)f.u64; break;
        case F_HEADERS: {
            size_t *count = (size_t *)(obj + d->len_off);
            rq_header *h = &hdrs[(*count)++];
            pw_pb_bytes k = {(const uint8_t *)"", 0}, v = {(const uint8_t *)"", 0};
            rq_pb_find(f.bytes.ptr, f.bytes.len, 1, &k);
            rq_pb_find(f.bytes.ptr, f.bytes.len, 2, &v);
            h->name = arena_put(&arena, k.ptr, k.len);
            h->value = arena_put(&arena, v.ptr, v.len);
            break;
        }
        }
    }
    return obj;
}

rq_task *rq_task_decode(const uint8_t *p, size_t n)
{
    return obj_decode(p, n, TASK_FIELDS, sizeof TASK_FIELDS / sizeof TASK_FIELDS[0],
                      sizeof(rq_task));
}

rq_task_info *rq_task_info_decode(const uint8_t *p, size_t n)
{
    return obj_decode(p, n, INFO_FIELDS, sizeof INFO_FIELDS / sizeof INFO_FIELDS[0],
                      sizeof(rq_task_info));
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

bool rq_pb_find(const uint8_t *p, size_t n, uint32_t num, pw_pb_bytes *out)
{
    pw_pb_reader r;
    pw_pb_field f;
    pw_pb_reader_init(&r, p, n);
    while (pw_pb_next(&r, &f) == 1) {
        if (f.num == num && f.wt == PW_PB_WT_LEN) {
            *out = f.bytes;
            return true;
        }
    }
    return false;
}

uint64_t rq_pb_u64(const uint8_t *p, size_t n, uint32_t num)
{
    pw_pb_reader r;
    pw_pb_field f;
    uint64_t v = 0;
    pw_pb_reader_init(&r, p, n);
    while (pw_pb_next(&r, &f) == 1)
        if (f.num == num && f.wt != PW_PB_WT_LEN) v = f.u64;
    return v;
}

static void config_decode(const uint8_t *p, size_t n, rq_queue_config *c)
{
    pw_pb_reader r;
    pw_pb_field f;
    pw_pb_reader_init(&r, p, n);
    while (pw_pb_next(&r, &f) == 1) {
        switch (f.num) {
        case 1: c->max_attempts = (uint32_t)f.u64; break;
        case 2: c->lease_ms = (uint32_t)f.u64; break;
        case 3: c->backoff_base_ms = f.u64; break;
        case 4: c->backoff_max_ms = f.u64; break;
        case 5: c->dead_letter = f.u64 != 0; break;
        case 6: c->dedup_window_ms = f.u64; break;
        default: break;
        }
    }
}

int rq_queue_info_decode(const uint8_t *p, size_t n, rq_queue_info *q)
{
    pw_pb_reader r;
    pw_pb_field f;
    int rc;
    memset(q, 0, sizeof *q);
    pw_pb_reader_init(&r, p, n);
    while ((rc = pw_pb_next(&r, &f)) == 1) {
        uint64_t v = f.u64;
        switch (f.num) {
        case 1: {
            size_t l = f.bytes.len < sizeof q->name - 1 ? f.bytes.len : sizeof q->name - 1;
            memcpy(q->name, f.bytes.ptr, l);
            q->name[l] = 0;
            break;
        }
        case 2: q->partition = (uint32_t)v; break;
        case 3: q->paused = v != 0; break;
        case 4: config_decode(f.bytes.ptr, f.bytes.len, &q->config); break;
        case 5: q->ready = v; break;
        case 6: q->delayed = v; break;
        case 7: q->leased = v; break;
        case 8: q->dead = v; break;
        case 9: q->enqueued_total = v; break;
        case 10: q->acked_total = v; break;
        case 11: q->nacked_total = v; break;
        case 12: q->expired_total = v; break;
        case 13: q->dead_total = v; break;
        case 14: q->duplicates_total = v; break;
        case 15: q->enqueue_rate = pw_pb_as_double(v); break;
        case 16: q->ack_rate = pw_pb_as_double(v); break;
        default: break;
        }
    }
    return rc < 0 ? -1 : 0;
}

int rq_encode_nack(buf *b, const char *id, const rq_nack_opts *o)
{
    int rc = pw_pb_put_string(b, 1, id, strlen(id));
    if (o && o->has_delay) {
        /* proto3 optional: present even when 0 */
        rc |= pw_pb_put_tag(b, 2, PW_PB_WT_VARINT);
        rc |= pw_pb_put_varint(b, o->delay_ms);
    }
    if (o && o->dead_letter) rc |= pw_pb_put_bool(b, 3, true);
    if (o && o->reason && *o->reason) rc |= pw_pb_put_string(b, 4, o->reason, strlen(o->reason));
    return rc ? -ENOMEM : 0;
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
