/* server/srv_stream_metrics: the streams' part of /metrics, gathered from every partition on its
 * owner shard (one job each, answered with copies: no pointer into another shard's memory),
 * then written on the scraping shard after the queue service's families:
 *
 *   ringq_streams                                   gauge   streams in all partitions
 *   ringq_stream_messages{stream}                   gauge   messages kept
 *   ringq_stream_bytes{stream}                      gauge   payload + headers + subject bytes
 *   ringq_stream_last_seq{stream}                   gauge   the last sequence assigned
 *   ringq_stream_consumers{stream}                  gauge   consumers of the stream
 *   ringq_consumer_pending{stream,consumer}         gauge   lag: matching messages not delivered
 *   ringq_consumer_ack_pending{stream,consumer}     gauge   delivered, not acked yet
 *   ringq_consumer_redelivered{stream,consumer}     gauge   of those, delivered more than once
 *   ringq_consumer_clients{stream,consumer}         gauge   Consume streams bound
 *   ringq_consumer_pending_table_bytes{stream,consumer} gauge memory of its pending table
 *
 * A partitioned stream's members (srv_stream_parts.h) each have their series, told apart by a
 * `member` label (0..partitions-1; last_seq as the stream's sequence); ringq_streams counts the
 * stream once. Bounded like the queues' series: the first SM_STREAMS_MAX streams and SM_CONSUMERS_MAX
 * consumers of each partition get series of their own; ringq_streams counts them all. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "queue/q_consumer.h"
#include "server/srv_metrics.h"
#include "server/srv_stream_int.h"

#define SM_STREAMS_MAX 1000u   /* per partition, series of their own */
#define SM_CONSUMERS_MAX 1000u /* per partition */
#define SM_PAGE 256u           /* consumers listed per q_consumer_list call */

enum { SM_MSGS, SM_BYTES, SM_LAST, SM_CONS, SM_NSTREAM };
enum { SM_PENDING, SM_ACK_PENDING, SM_REDELIVERED, SM_CLIENTS, SM_PEND_BYTES, SM_NCONS };
_Static_assert(SM_NCONS <= 5 && SM_NSTREAM <= 5, "sm_entry.v holds every value");

/* One series' names and values, copied on the owner (fixed size: no pointers). */
typedef struct sm_entry {
    bool consumer;
    uint8_t sl, cl;
    uint8_t member; /* a partitioned stream's member + 1; 0: a pinned stream */
    char stream[Q_STREAM_NAME_BYTES_MAX];
    char cons[Q_CONSUMER_NAME_BYTES_MAX];
    uint64_t v[5];
} sm_entry;

typedef struct sm_part {
    uint64_t nstreams;
    uint32_t n; /* entries that follow */
} sm_part;

typedef struct sm_gather {
    buf *out;
    srv_gather_done_fn done;
    void *ctx;
    uint32_t pending;
    buf *parts;
} sm_gather;

static void put_consumers(buf *out, q_stream *s, const char *sn, uint32_t sl, uint8_t member,
                          uint32_t *ncons, uint32_t *n)
{
    q_consumer_info *ci = rt_calloc(SM_PAGE, sizeof *ci);
    const char *after = "";
    size_t al = 0;
    bool more = ci != NULL;
    char last[Q_CONSUMER_NAME_BYTES_MAX];
    while (more && *ncons < SM_CONSUMERS_MAX) {
        uint32_t got = 0;
        q_consumer_list(s, after, al, SM_PAGE, srv_q_now_ms(), ci, &got, &more);
        for (uint32_t i = 0; i < got && *ncons < SM_CONSUMERS_MAX; i++) {
            sm_entry e = {.consumer = true,
                          .sl = (uint8_t)sl,
                          .cl = (uint8_t)ci[i].cfg.name_len,
                          .member = member};
            memcpy(e.stream, sn, sl);
            memcpy(e.cons, ci[i].cfg.name, ci[i].cfg.name_len);
            e.v[SM_PENDING] = ci[i].state.num_pending;
            e.v[SM_ACK_PENDING] = ci[i].state.num_ack_pending;
            e.v[SM_REDELIVERED] = ci[i].state.num_redelivered;
            e.v[SM_CLIENTS] = ci[i].state.clients;
            e.v[SM_PEND_BYTES] = ci[i].state.pending_bytes;
            if (buf_append(out, &e, sizeof e) == 0) (*n)++, (*ncons)++;
        }
        if (got == 0) break;
        memcpy(last, ci[got - 1].cfg.name, ci[got - 1].cfg.name_len);
        after = last;
        al = ci[got - 1].cfg.name_len;
    }
    rt_free(ci);
}

/* Owner: this partition's streams and consumers. */
static void run_part(srv_job *j, srv_part *sp)
{
    sm_part h = {.nstreams = q_stream_count(sp->p)};
    buf ents;
    buf_init(&ents, (size_t)(SM_STREAMS_MAX + SM_CONSUMERS_MAX) * sizeof(sm_entry));
    const char *after = "";
    uint32_t al = 0, nstreams = 0, ncons = 0;
    for (q_stream *s; nstreams < SM_STREAMS_MAX && (s = q_stream_next_by_name(sp->p, after, al));
         nstreams++) {
        uint32_t sl;
        const char *sn = q_stream_name(s, &sl);
        q_stream_cfg c;
        q_stream_config(s, &c);
        if (c.part_index) h.nstreams--; /* one stream, counted at its member 0 */
        q_stream_state st;
        q_err e;
        if (q_stream_info(sp->p, s, srv_q_now_ms(), NULL, 0, NULL, 0, NULL, NULL, &st, &e) ==
            Q_OK) {
            sm_entry en = {.sl = (uint8_t)sl, .member = c.parts > 1 ? c.part_index + 1 : 0};
            memcpy(en.stream, sn, sl);
            en.v[SM_MSGS] = st.messages;
            en.v[SM_BYTES] = st.bytes;
            en.v[SM_LAST] = q_stream_seq_join(c.parts, c.part_index, st.last_seq);
            en.v[SM_CONS] = q_consumer_count(s);
            if (buf_append(&ents, &en, sizeof en) == 0) h.n++;
        }
        put_consumers(&ents, s, sn, sl, c.parts > 1 ? c.part_index + 1 : 0, &ncons, &h.n);
        after = sn;
        al = sl;
    }
    if (buf_append(&j->resp, &h, sizeof h) < 0 ||
        buf_append(&j->resp, buf_begin(&ents), buf_size(&ents)) < 0)
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory");
    buf_deinit(&ents);
    srv_job_reply(j);
}

static void labels_of(char *dst, size_t cap, const sm_entry *e)
{
    char s[2 * Q_STREAM_NAME_BYTES_MAX + 1], c[2 * Q_CONSUMER_NAME_BYTES_MAX + 1];
    char m[24] = "";
    if (e->member) snprintf(m, sizeof m, ",member=\"%u\"", e->member - 1u);
    srv_metric_escape(s, sizeof s, e->stream, e->sl);
    if (!e->consumer) {
        snprintf(dst, cap, "stream=\"%s\"%s", s, m);
        return;
    }
    srv_metric_escape(c, sizeof c, e->cons, e->cl);
    snprintf(dst, cap, "stream=\"%s\",consumer=\"%s\"%s", s, c, m);
}

static void family(buf *out, const sm_gather *g, bool consumer, int k, const char *name,
                   const char *help)
{
    char labels[4 * Q_STREAM_NAME_BYTES_MAX + 64];
    srv_metric_family(out, name, "gauge", help);
    for (uint32_t p = 0; p < srv_q.nparts; p++) {
        const buf *b = &g->parts[p];
        if (buf_size(b) < sizeof(sm_part)) continue;
        const sm_part *h = (const sm_part *)buf_begin(b);
        const sm_entry *e = (const sm_entry *)(h + 1);
        for (uint32_t i = 0; i < h->n; i++) {
            if (e[i].consumer != consumer) continue;
            labels_of(labels, sizeof labels, &e[i]);
            srv_metric_u64(out, name, labels, e[i].v[k]);
        }
    }
}

static void gather_finish(sm_gather *g)
{
    uint64_t total = 0;
    for (uint32_t p = 0; p < srv_q.nparts; p++)
        if (buf_size(&g->parts[p]) >= sizeof(sm_part))
            total += ((const sm_part *)buf_begin(&g->parts[p]))->nstreams;
    buf *out = g->out;
    srv_metric_family(out, "ringq_streams", "gauge", "Streams in all partitions.");
    srv_metric_u64(out, "ringq_streams", NULL, total);
    family(out, g, false, SM_MSGS, "ringq_stream_messages", "Messages a stream keeps.");
    family(out, g, false, SM_BYTES, "ringq_stream_bytes",
           "Payload, header and subject bytes of the messages a stream keeps.");
    family(out, g, false, SM_LAST, "ringq_stream_last_seq", "The last sequence a stream assigned.");
    family(out, g, false, SM_CONS, "ringq_stream_consumers", "Consumers of a stream.");
    family(out, g, true, SM_PENDING, "ringq_consumer_pending",
           "Messages matching a consumer's filter not delivered yet (lag).");
    family(out, g, true, SM_ACK_PENDING, "ringq_consumer_ack_pending",
           "Deliveries of a consumer waiting for an ack.");
    family(out, g, true, SM_REDELIVERED, "ringq_consumer_redelivered",
           "Of a consumer's deliveries waiting for an ack, those delivered more than once.");
    family(out, g, true, SM_CLIENTS, "ringq_consumer_clients", "Consume streams bound.");
    family(out, g, true, SM_PEND_BYTES, "ringq_consumer_pending_table_bytes",
           "Memory of a consumer's table of deliveries waiting for an ack (bytes).");
    for (uint32_t p = 0; p < srv_q.nparts; p++) buf_deinit(&g->parts[p]);
    rt_free(g->parts);
    srv_gather_done_fn done = g->done;
    void *ctx = g->ctx;
    rt_free(g);
    done(ctx);
}

static void part_done(srv_job *j)
{
    sm_gather *g = j->ctx;
    if (j->status == Q_OK) {
        buf t = g->parts[j->part_no];
        g->parts[j->part_no] = j->resp;
        j->resp = t;
    }
    if (--g->pending == 0) gather_finish(g);
}

int srv_stream_metrics_gather(srv_shard *sh, buf *out, void (*done)(void *ctx), void *ctx)
{
    sm_gather *g = rt_calloc(1, sizeof *g);
    buf *parts = g ? rt_calloc(srv_q.nparts, sizeof *parts) : NULL;
    if (!parts) {
        rt_free(g);
        return -ENOMEM;
    }
    for (uint32_t k = 0; k < srv_q.nparts; k++) buf_init(&parts[k], 1);
    *g = (sm_gather){.out = out, .done = done, .ctx = ctx, .pending = 1, .parts = parts};
    for (uint32_t k = 0; k < srv_q.nparts; k++) {
        srv_job *j = srv_job_new(NULL, NULL, 0);
        if (!j) continue; /* that partition is left out of this scrape */
        j->ctx = g;
        g->pending++;
        srv_job_dispatch(j, k, run_part, part_done);
    }
    if (--g->pending == 0) gather_finish(g);
    return 0;
}

/* ---- both services in one scrape: the queues' families, then the streams' ---- */

typedef struct all_gather {
    srv_shard *sh;
    buf *out;
    srv_gather_done_fn done;
    void *ctx;
} all_gather;

static void all_done(void *ctx)
{
    all_gather *a = ctx;
    srv_gather_done_fn done = a->done;
    void *dctx = a->ctx;
    rt_free(a);
    done(dctx);
}

static void after_queues(void *ctx)
{
    all_gather *a = ctx;
    if (srv_stream_metrics_gather(a->sh, a->out, all_done, a) < 0) all_done(a);
}

int srv_metrics_gather_all(srv_shard *sh, buf *out, srv_gather_done_fn done, void *ctx, void *ud)
{
    all_gather *a = rt_calloc(1, sizeof *a);
    if (!a) return -ENOMEM;
    *a = (all_gather){sh, out, done, ctx};
    int r = srv_queue_metrics_gather(sh, out, after_queues, a, ud);
    if (r < 0) rt_free(a);
    return r;
}
