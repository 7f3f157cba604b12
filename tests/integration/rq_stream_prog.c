/* libringq's Streams API against a real ringqd: rq_stream_prog HOST:PORT NAME. Exercises
 * rq_stream_create/update/get/list/purge/delete, rq_publish (batch, receipts, dedup),
 * rq_stream_get_msg, the consumer calls, rq_fetch with rq_stream_ack (a stale token refused) and
 * a Consume session (bind, credits, ack, nak, in-progress, term, sync, an ephemeral consumer);
 * prints one line per failed check and exits 1 if any failed, 0 otherwise. Driven by
 * tests/integration/test_streams_cli.py. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/ringq.h"
#include "rq_check.h"

/* gRPC codes the checks expect. */
enum { OK = 0, NOT_FOUND = 5, ALREADY_EXISTS = 6, FAILED_PRECONDITION = 9 };

static char g_stream[RQ_STREAM_NAME_MAX], g_subj[RQ_SUBJECT_MAX];

static void streams(rq_client *c)
{
    rq_status st;
    rq_stream_config *cfg = calloc(1, sizeof *cfg);
    rq_stream_info *info = calloc(1, sizeof *info);
    snprintf(cfg->name, sizeof cfg->name, "%s", g_stream);
    snprintf(cfg->subjects[0], RQ_SUBJECT_MAX, "%s.*", g_stream);
    cfg->nsubjects = 1;
    cfg->max_msgs = 100;
    int rc = rq_stream_create(c, cfg, info, &st);
    CHECK(rc == OK, "create: %d %s", rc, st.message);
    CHECK(strcmp(info->config.name, g_stream) == 0 && info->config.max_msgs == 100, "config back");
    cfg->max_msgs = 50;
    rc = rq_stream_create(c, cfg, NULL, &st);
    CHECK(rc == ALREADY_EXISTS, "another config: %d %s", rc, st.message);
    rc = rq_stream_update(c, cfg, info, &st);
    CHECK(rc == OK && info->config.max_msgs == 50, "update: %d %s", rc, st.message);
    rq_stream_info *all = NULL;
    size_t n = 0;
    rc = rq_stream_list(c, &all, &n, &st);
    bool found = false;
    for (size_t i = 0; i < n; i++) found |= strcmp(all[i].config.name, g_stream) == 0;
    CHECK(rc == OK && found, "list: %d %zu", rc, n);
    free(all);
    char name[RQ_STREAM_NAME_MAX];
    rc = rq_stream_find(c, g_subj, name, &st);
    CHECK(rc == OK && strcmp(name, g_stream) == 0, "find: %d %s", rc, st.message);
    free(cfg);
    free(info);
}

static void publish(rq_client *c)
{
    rq_status st;
    rq_header h = {"k", "v"};
    rq_pub_msg m[3] = {
        {.subject = g_subj, .payload = "one", .payload_len = 3, .headers = &h, .nheaders = 1},
        {.subject = g_subj, .payload = "two", .payload_len = 3, .msg_id = "id2"},
        {.subject = g_subj, .payload = "three", .payload_len = 5}};
    rq_pub_ack acks[3];
    char stream[RQ_STREAM_NAME_MAX];
    int rc = rq_publish(c, m, 3, RQ_DURABILITY_SYNCED, acks, stream, &st);
    CHECK(rc == OK, "publish: %d %s", rc, st.message);
    CHECK(strcmp(stream, g_stream) == 0, "stream %s", stream);
    CHECK(acks[0].seq == 1 && acks[2].seq == 3 && !acks[1].duplicate, "seqs");
    CHECK(acks[0].receipt.level == RQ_DURABILITY_SYNCED &&
              acks[0].receipt.offset < acks[2].receipt.offset,
          "receipts");
    rc = rq_publish(c, &m[1], 1, RQ_DURABILITY_DEFAULT, acks, NULL, &st);
    CHECK(rc == OK && acks[0].duplicate && acks[0].seq == 2, "dedup: %d", rc);
    m[0].has_expected_last_seq = true;
    m[0].expected_last_seq = 1;
    rc = rq_publish(c, m, 1, RQ_DURABILITY_DEFAULT, acks, NULL, &st);
    CHECK(rc == FAILED_PRECONDITION, "expectation: %d %s", rc, st.message);
    rq_stream_msg *msg = NULL;
    rc = rq_stream_get_msg(c, g_stream, 1, NULL, &msg, &st);
    CHECK(rc == OK && msg && msg->payload_len == 3 && memcmp(msg->payload, "one", 3) == 0 &&
              msg->nheaders == 1 && strcmp(msg->headers[0].value, "v") == 0 &&
              strcmp(msg->subject, g_subj) == 0,
          "get msg: %d %s", rc, st.message);
    rq_stream_msg_free(msg);
    rc = rq_stream_get_msg(c, g_stream, 0, g_subj, &msg, &st);
    CHECK(rc == OK && msg && msg->seq == 3, "last by subject: %d %s", rc, st.message);
    rq_stream_msg_free(msg);
    rc = rq_stream_get_msg(c, g_stream, 99, NULL, &msg, &st);
    CHECK(rc == NOT_FOUND && !msg, "missing msg: %d", rc);
    rq_stream_info info;
    rc = rq_stream_get(c, g_stream, g_subj, &info, &st);
    CHECK(rc == OK && info.messages == 3 && info.nsubjects == 1 && info.subjects[0].messages == 3,
          "get with counts: %d %s", rc, st.message);
    rq_stream_info_free(&info);
}

static void consumers_and_fetch(rq_client *c)
{
    rq_status st;
    rq_consumer_config *cfg = calloc(1, sizeof *cfg);
    rq_consumer_info ci;
    snprintf(cfg->name, sizeof cfg->name, "f1");
    cfg->ack_wait_ms = 200;
    int rc = rq_consumer_create(c, g_stream, cfg, &ci, &st);
    CHECK(rc == OK && strcmp(ci.config.name, "f1") == 0 && ci.config.ack_wait_ms == 200,
          "consumer create: %d %s", rc, st.message);
    rq_delivery **d = NULL;
    size_t n = 0;
    rc = rq_fetch(c, g_stream, "f1", 3, 0, &d, &n, &st);
    CHECK(rc == OK && n == 3 && d[0]->msg->seq == 1 && d[1]->delivery_count == 1, "fetch: %d %zu",
          rc, n);
    if (n == 3) {
        rq_delivery_ref refs[3] = {{d[0]->msg->seq, d[0]->token},
                                   {d[1]->msg->seq, d[1]->token},
                                   {d[2]->msg->seq, d[2]->token}};
        rq_delivery_ref done[2] = {refs[0], refs[2]};
        uint64_t stale = refs[1].token;
        rq_item_status res[2];
        rc = rq_stream_ack(c, g_stream, "f1", RQ_ACK_KIND_ACK, done, 2, NULL, res, &st);
        CHECK(rc == OK && res[0].code == OK && res[1].code == OK, "ack: %d %d", rc, res[0].code);
        rq_deliveries_free(d, n);
        /* the second one comes again after its ack wait, with a new token */
        n = 0;
        d = NULL;
        rc = rq_fetch(c, g_stream, "f1", 1, 5000, &d, &n, &st);
        CHECK(rc == OK && n == 1 && d[0]->msg->seq == 2 && d[0]->delivery_count == 2 &&
                  d[0]->token != stale,
              "redelivery: %d %zu", rc, n);
        rc = rq_stream_ack(c, g_stream, "f1", RQ_ACK_KIND_ACK, &refs[1], 1, NULL, res, &st);
        CHECK(rc == OK && res[0].code == FAILED_PRECONDITION, "stale token: %d %d %s", rc,
              res[0].code, res[0].message);
    }
    rq_deliveries_free(d, n);
    rc = rq_consumer_pause(c, g_stream, "f1", 4102444800000ull, &ci, &st);
    CHECK(rc == OK && ci.paused_until_unix_ms == 4102444800000ull, "pause: %d", rc);
    rc = rq_consumer_reset(c, g_stream, "f1", 3, false, &ci, &st);
    CHECK(rc == OK && ci.num_ack_pending == 0, "reset: %d %s", rc, st.message);
    rq_consumer_info *all = NULL;
    rc = rq_consumer_list(c, g_stream, &all, &n, &st);
    CHECK(rc == OK && n == 1 && strcmp(all[0].config.name, "f1") == 0, "list: %d %zu", rc, n);
    free(all);
    rc = rq_consumer_delete(c, g_stream, "f1", &st);
    CHECK(rc == OK, "delete: %d", rc);
    rc = rq_consumer_get(c, g_stream, "f1", &ci, &st);
    CHECK(rc == NOT_FOUND, "gone: %d", rc);
    free(cfg);
}

static void consume(rq_client *c)
{
    rq_status st;
    rq_consumer_config *cfg = calloc(1, sizeof *cfg);
    snprintf(cfg->name, sizeof cfg->name, "s1");
    cfg->ack_wait_ms = 60000;
    int rc = rq_consumer_create(c, g_stream, cfg, NULL, &st);
    CHECK(rc == OK, "create: %d %s", rc, st.message);
    rq_consumer_info bound;
    rq_consume *s = rq_consume_open(c, g_stream, "s1", NULL, 2, &bound, &st);
    CHECK(s && strcmp(bound.config.name, "s1") == 0, "open: %s", st.message);
    if (!s) return;
    CHECK(strcmp(rq_consume_name(s), "s1") == 0, "name %s", rq_consume_name(s));
    rq_delivery *d1 = NULL, *d2 = NULL, *d3 = NULL;
    rc = rq_consume_next(s, 5000, &d1, &st);
    CHECK(rc == OK && d1 && d1->msg->seq == 1, "first: %d %s", rc, st.message);
    rc = rq_consume_next(s, 5000, &d2, &st);
    CHECK(rc == OK && d2 && d2->msg->seq == 2, "second: %d", rc);
    rc = rq_consume_next(s, 200, &d3, &st);
    CHECK(rc == OK && !d3, "no credit, no delivery: %d", rc);
    if (d1 && d2) {
        rq_ack_opts nak = {.has_delay = true, .delay_ms = 1};
        CHECK(rq_consume_ack(s, RQ_ACK_KIND_PROGRESS, (rq_delivery_ref){1, d1->token}, NULL) == 0,
              "progress");
        CHECK(rq_consume_ack(s, RQ_ACK_KIND_ACK, (rq_delivery_ref){1, d1->token}, NULL) == 0,
              "ack");
        CHECK(rq_consume_ack(s, RQ_ACK_KIND_NAK, (rq_delivery_ref){2, d2->token}, &nak) == 0,
              "nak");
        rc = rq_consume_sync(s, 5000, &st);
        CHECK(rc == OK, "sync: %d %s", rc, st.message);
        CHECK(rq_consume_credit(s, 5) == 0, "credit");
        /* the nak'ed one again (seq 3, new, may come before it) */
        for (int i = 0; i < 2; i++) {
            rc = rq_consume_next(s, 5000, &d3, &st);
            if (rc != OK || !d3 || d3->msg->seq == 2) break;
            rq_delivery_free(d3);
            d3 = NULL;
        }
        CHECK(rc == OK && d3 && d3->msg->seq == 2 && d3->delivery_count == 2, "again: %d", rc);
        if (d3) {
            rq_ack_opts term = {.reason = "no good"};
            CHECK(rq_consume_ack(s, RQ_ACK_KIND_TERM, (rq_delivery_ref){2, d3->token}, &term) == 0,
                  "term");
        }
        /* the stale token of the first delivery of 2 */
        CHECK(rq_consume_ack(s, RQ_ACK_KIND_ACK, (rq_delivery_ref){2, d2->token}, NULL) == 0,
              "stale ack queued");
        rc = rq_consume_sync(s, 5000, &st);
        CHECK(rc == FAILED_PRECONDITION || rc == NOT_FOUND, "stale ack refused: %d %s", rc,
              st.message);
    }
    rq_delivery_free(d1);
    rq_delivery_free(d2);
    rq_delivery_free(d3);
    rq_consume_close(s);
    /* an unknown consumer: the bind's status */
    s = rq_consume_open(c, g_stream, "nobody", NULL, 1, NULL, &st);
    CHECK(!s && st.code == NOT_FOUND, "bind unknown: %d %s", st.code, st.message);
    rq_consume_close(s);
    /* an ephemeral one */
    memset(cfg, 0, sizeof *cfg);
    cfg->ephemeral = true;
    s = rq_consume_open(c, g_stream, NULL, cfg, 10, &bound, &st);
    CHECK(s && bound.config.name[0] && rq_consume_name(s)[0], "ephemeral: %s", st.message);
    rq_delivery *d = NULL;
    rc = s ? rq_consume_next(s, 5000, &d, &st) : -1;
    CHECK(rc == OK && d && d->msg->seq == 1, "ephemeral first: %d", rc);
    rq_delivery_free(d);
    rq_consume_close(s);
    free(cfg);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: rq_stream_prog HOST:PORT NAME\n");
        return 2;
    }
    snprintf(g_stream, sizeof g_stream, "%s", argv[2]);
    snprintf(g_subj, sizeof g_subj, "%s.a", argv[2]);
    rq_status st;
    rq_client_opts o = {.addr = argv[1], .timeout_ms = 10000};
    rq_client *c = rq_client_create(&o, &st);
    CHECK(c, "create: %s", st.message);
    if (!c) return 1;
    streams(c);
    publish(c);
    consumers_and_fetch(c);
    consume(c);
    uint64_t purged = 0;
    rq_purge_opts po = {.keep = 1};
    int rc = rq_stream_purge(c, g_stream, &po, &purged, &st);
    CHECK(rc == OK && purged == 2, "purge keep 1: %d %llu", rc, (unsigned long long)purged);
    rc = rq_stream_delete(c, g_stream, &st);
    CHECK(rc == OK, "delete: %d %s", rc, st.message);
    rc = rq_stream_delete(c, g_stream, &st);
    CHECK(rc == NOT_FOUND, "delete again: %d", rc);
    rq_client_destroy(c);
    return rq_check_end();
}
