/* server/srv_rates: per-second figures for the dashboard's charts. See srv_rates.h. */
#include "server/srv_rates.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "core/rt_clock.h"
#include "proto_wire/pw_msgs.h"
#include "queue/q_part.h"
#include "server/srv_internal.h"

#define NS_PER_S 1000000000ull
enum { R_ENQ, R_ACK, R_FAIL, R_N };

typedef struct series {
    char name[Q_QUEUE_NAME_BYTES_MAX + 1];
    size_t name_len;
    uint64_t last[R_N]; /* the counters at the previous sample */
    bool seen;          /* in the current sample (series not seen are freed) */
    uint32_t v[R_N][SRV_RATES_SECONDS];
} series;

static struct {
    pthread_mutex_t mu;
    uint64_t now_s; /* unix second of the newest slot (0: no sample yet) */
    series *q[SRV_RATES_QUEUES_MAX];
    uint32_t v[R_N][SRV_RATES_SECONDS]; /* totals */
    uint64_t last[R_N];
    /* The sampler (shard 0's thread only). */
    ev_timer timer;
    ev_loop *loop;
    bool busy, stopping;
} rates = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Zeroes every slot after the newest one up to second s (a late or first tick). */
static void advance(uint64_t s)
{
    uint64_t from = rates.now_s && s - rates.now_s < SRV_RATES_SECONDS ? rates.now_s + 1
                                                                       : s + 1 - SRV_RATES_SECONDS;
    if (rates.now_s && s <= rates.now_s) return;
    for (uint64_t t = from; t <= s; t++) {
        uint32_t k = (uint32_t)(t % SRV_RATES_SECONDS);
        for (int i = 0; i < R_N; i++) {
            rates.v[i][k] = 0;
            for (uint32_t j = 0; j < SRV_RATES_QUEUES_MAX; j++)
                if (rates.q[j]) rates.q[j]->v[i][k] = 0;
        }
    }
    rates.now_s = s;
}

static series *find(const char *name, size_t n, bool create)
{
    int free_slot = -1;
    for (uint32_t j = 0; j < SRV_RATES_QUEUES_MAX; j++) {
        series *q = rates.q[j];
        if (!q) {
            if (free_slot < 0) free_slot = (int)j;
        } else if (q->name_len == n && memcmp(q->name, name, n) == 0) return q;
    }
    if (!create || free_slot < 0 || n > Q_QUEUE_NAME_BYTES_MAX) return NULL;
    series *q = rt_calloc(1, sizeof *q); /* NULL: counted in the totals only */
    if (!q) return NULL;
    memcpy(q->name, name, n);
    q->name_len = n;
    rates.q[free_slot] = q;
    return q;
}

/* The counter's growth since the last sample (a queue deleted and created again between two
 * samples counts from 0). */
static uint32_t delta(uint64_t now, uint64_t *last)
{
    uint64_t d = now >= *last ? now - *last : now;
    *last = now;
    return d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

/* One sample: the ListQueues page decoded in `r`. Caller holds the mutex. */
static void record(const pwm_ringq_v1_ListQueuesResponse *r, uint64_t s)
{
    advance(s);
    uint32_t k = (uint32_t)(s % SRV_RATES_SECONDS);
    uint64_t tot[R_N] = {0};
    for (uint32_t j = 0; j < SRV_RATES_QUEUES_MAX; j++)
        if (rates.q[j]) rates.q[j]->seen = false;
    for (size_t i = 0; i < r->queues_count; i++) {
        const pwm_ringq_v1_QueueInfo *qi = &r->queues[i];
        uint64_t now[R_N] = {qi->enqueued_total, qi->acked_total,
                             qi->nacked_total + qi->expired_total};
        for (int f = 0; f < R_N; f++) tot[f] += now[f];
        /* A new series starts from 0: the counters count since the queue was created or the
         * server started, which is since the previous sample for a queue new in this one. */
        series *q = find((const char *)qi->name.ptr, qi->name.len, true);
        if (!q) continue;
        q->seen = true;
        for (int f = 0; f < R_N; f++) q->v[f][k] += delta(now[f], &q->last[f]);
    }
    for (uint32_t j = 0; j < SRV_RATES_QUEUES_MAX; j++)
        if (rates.q[j] && !rates.q[j]->seen) {
            rt_free(rates.q[j]);
            rates.q[j] = NULL;
        }
    for (int f = 0; f < R_N; f++) rates.v[f][k] += delta(tot[f], &rates.last[f]);
}

static void arm(void);

static void on_sample(void *ud, pw_grpc_status st, const char *message, const uint8_t *msg,
                      size_t len)
{
    rates.busy = false;
    if (rates.stopping) return;
    if (st == PW_GRPC_OK) {
        pwm_ringq_v1_ListQueuesResponse r;
        pw_msg_arena a;
        pw_msg_arena_init_heap(&a, PW_MSG_ARENA_CHUNK_BYTES, 64u * 1024u * 1024u);
        memset(&r, 0, sizeof r);
        if (pw_msg_decode(&pwm_ringq_v1_ListQueuesResponse_desc, &r, msg, len, &a) == 0) {
            pthread_mutex_lock(&rates.mu);
            record(&r, rt_wall_ns() / NS_PER_S);
            pthread_mutex_unlock(&rates.mu);
        }
        pw_msg_arena_deinit(&a);
    }
}

static void sample(srv_shard *sh)
{
    const pw_grpc_server *g = sh->rt->grpc;
    const char *path = pwm_ringq_v1_Admin_ListQueues_PATH;
    const pw_grpc_method *m = pw_grpc_server_find(g, path, strlen(path));
    pw_grpc_call *call = m ? pw_grpc_call_new_local(g, m, on_sample, NULL) : NULL;
    if (!call) return; /* the next tick tries again */
    uint8_t req[8];
    buf b;
    buf_init(&b, sizeof req);
    pwm_ringq_v1_ListQueuesRequest lr = {.page_size = SRV_RATES_PAGE};
    if (pw_msg_encode(&pwm_ringq_v1_ListQueuesRequest_desc, &lr, &b) == 0) {
        rates.busy = true;
        m->on_message(call, buf_begin(&b), buf_size(&b));
    }
    buf_deinit(&b);
    pw_grpc_call_unref(call);
}

static void on_tick(ev_loop *loop, ev_timer *t)
{
    srv_shard *sh = t->ud;
    if (rates.stopping || sh->draining) return;
    if (!rates.busy) sample(sh); /* a sample still gathering: skip this second */
    arm();
}

static void arm(void)
{
    uint64_t now = ev_loop_now(rates.loop);
    (void)ev_timer_start(rates.loop, &rates.timer, now + NS_PER_S);
}

void srv_rates_shard_init(srv_shard *sh)
{
    if (sh->id != 0) return;
    rates.loop = sh->loop;
    rates.stopping = false;
    ev_timer_init(&rates.timer, on_tick, sh);
    arm();
}

void srv_rates_shard_fini(srv_shard *sh)
{
    if (sh->id != 0) return;
    rates.stopping = true;
    ev_timer_stop(sh->loop, &rates.timer);
    pthread_mutex_lock(&rates.mu);
    for (uint32_t j = 0; j < SRV_RATES_QUEUES_MAX; j++) {
        rt_free(rates.q[j]);
        rates.q[j] = NULL;
    }
    pthread_mutex_unlock(&rates.mu);
}

static int put_array(buf *out, const char *name, const uint32_t *v, uint64_t now_s)
{
    char t[32];
    int n = snprintf(t, sizeof t, ",\"%s\":[", name);
    int rc = buf_append(out, t, (size_t)n);
    for (uint32_t i = 0; rc == 0 && i < SRV_RATES_SECONDS; i++) {
        uint64_t s = now_s + 1 + i; /* oldest first: the slot after the newest */
        n = snprintf(t, sizeof t, "%s%u", i ? "," : "", v[s % SRV_RATES_SECONDS]);
        rc = buf_append(out, t, (size_t)n);
    }
    return rc == 0 ? buf_append(out, "]", 1) : rc;
}

int srv_rates_json(buf *out, const char *queue, size_t queue_len)
{
    pthread_mutex_lock(&rates.mu);
    advance(rt_wall_ns() / NS_PER_S); /* seconds with no sample yet read as 0 */
    const series *q = queue ? find(queue, queue_len, false) : NULL;
    int rc = 0;
    if (queue && !q) rc = -ENOENT;
    const uint32_t(*v)[SRV_RATES_SECONDS] = q ? q->v : rates.v;
    char t[96];
    int n = snprintf(t, sizeof t, "{\"now_unix_s\":%llu,\"seconds\":%u",
                     (unsigned long long)rates.now_s, SRV_RATES_SECONDS);
    if (rc == 0) rc = buf_append(out, t, (size_t)n);
    if (rc == 0) rc = put_array(out, "enqueued", v[R_ENQ], rates.now_s);
    if (rc == 0) rc = put_array(out, "acked", v[R_ACK], rates.now_s);
    if (rc == 0) rc = put_array(out, "failed", v[R_FAIL], rates.now_s);
    pthread_mutex_unlock(&rates.mu);
    return rc == 0 ? buf_append(out, "}\n", 2) : rc;
}
