/* libringq's API against a real ringqd: rq_api_prog HOST:PORT QUEUE. Exercises enqueue (with
 * options), lease, ack, nack, extend, the admin calls and the Work stream; prints one line per
 * failed check and exits 1 if any failed, 0 otherwise. Driven by tests/integration/test_cli.py. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/ringq.h"

static int failures;
#define CHECK(cond, ...)                                                                    \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            failures++;                                                                     \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                          \
            printf(__VA_ARGS__);                                                            \
            printf("\n");                                                                   \
        }                                                                                   \
    } while (0)

typedef struct wstate {
    int tasks, results, result_errors;
    char ids[4][RQ_ID_MAX];
} wstate;

static void w_task(rq_work *w, void *ud, rq_task *t)
{
    wstate *s = ud;
    if (s->tasks < 4) snprintf(s->ids[s->tasks], RQ_ID_MAX, "%s", t->id);
    s->tasks++;
    rq_work_ack(w, t->id, (uint64_t)s->tasks);
    rq_task_free(t);
}

static void w_result(rq_work *w, void *ud, uint64_t rid, int code, const char *msg)
{
    wstate *s = ud;
    s->results++;
    if (code) s->result_errors++;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: rq_api_prog HOST:PORT QUEUE\n");
        return 2;
    }
    const char *q = argv[2];
    rq_status st;
    rq_client_opts o = {.addr = argv[1], .timeout_ms = 10000};
    rq_client *c = rq_client_create(&o, &st);
    CHECK(c, "create: %s", st.message);
    if (!c) return 1;

    /* Enqueue with options, then lease in priority order. */
    rq_header hs[] = {{"trace", "abc"}, {"k", "v"}};
    rq_task_spec specs[3] = {
        {.payload = "low", .payload_len = 3},
        {.payload = "high", .payload_len = 4, .priority = 9, .headers = hs, .nheaders = 2,
         .max_attempts = 3, .idempotency_key = "key-1"},
        {.payload = "later", .payload_len = 5, .delay_ms = 3600000},
    };
    rq_enqueue_result res[3];
    int rc = rq_enqueue(c, q, specs, 3, res, &st);
    CHECK(rc == 0, "enqueue: %d %s", rc, st.message);
    CHECK(res[0].id[0] && !res[0].duplicate, "first id");
    rq_enqueue_result dup;
    rc = rq_enqueue(c, q, &specs[1], 1, &dup, &st);
    CHECK(rc == 0 && dup.duplicate && strcmp(dup.id, res[1].id) == 0, "dedup: %d", rc);

    rq_task **tasks;
    size_t n;
    rc = rq_lease(c, q, 10, 0, 60000, &tasks, &n, &st);
    CHECK(rc == 0 && n == 2, "lease: rc %d n %zu %s", rc, n, st.message);
    if (rc == 0 && n == 2) {
        CHECK(strcmp(tasks[0]->id, res[1].id) == 0, "priority first");
        CHECK(tasks[0]->payload_len == 4 && memcmp(tasks[0]->payload, "high", 4) == 0, "payload");
        CHECK(tasks[0]->nheaders == 2, "headers %zu", tasks[0]->nheaders);
        CHECK(tasks[0]->max_attempts == 3 && tasks[0]->attempt == 1, "attempts");
        CHECK(strcmp(tasks[0]->queue, q) == 0, "queue name");
        uint64_t dl = 0;
        rc = rq_extend(c, tasks[0]->id, 120000, &dl, &st);
        CHECK(rc == 0 && dl > tasks[0]->lease_deadline_unix_ms, "extend %d", rc);
        rq_nack_result nr;
        rq_nack_opts no = {.has_delay = true, .delay_ms = 0, .reason = "try again"};
        rc = rq_nack(c, tasks[1]->id, &no, &nr, &st);
        CHECK(rc == 0 && nr.state == RQ_STATE_READY && nr.attempts == 1, "nack %d state %d",
              rc, nr.state);
        const char *ids[2] = {tasks[0]->id, "bogus"};
        rq_item_status items[2];
        rc = rq_ack(c, ids, 2, items, &st);
        CHECK(rc == 0 && items[0].code == 0 && items[1].code != 0, "ack items %d %d",
              items[0].code, items[1].code);
    }
    rq_tasks_free(tasks, n);

    /* Errors carry the server's status. */
    rc = rq_enqueue(c, "bad/name", specs, 1, res, &st);
    CHECK(rc == 3 && strstr(st.message, "queue name"), "bad name: %d %s", rc, st.message);
    rq_task_info *ti;
    rc = rq_get_task(c, "nope", &ti, &st);
    CHECK(rc != 0, "get bogus task");

    /* Admin. */
    rq_queue_info qi;
    rc = rq_get_queue(c, q, &qi, &st);
    CHECK(rc == 0 && qi.ready == 1 && qi.delayed == 1 && qi.acked_total == 1,
          "get_queue %d ready %llu delayed %llu", rc, (unsigned long long)qi.ready,
          (unsigned long long)qi.delayed);
    rq_queue_settings set = {.has_max_attempts = true, .v.max_attempts = 7};
    rc = rq_configure_queue(c, q, &set, &qi, &st);
    CHECK(rc == 0 && qi.config.max_attempts == 7, "configure %d", rc);
    rq_queue_info *all;
    size_t nall;
    rc = rq_list_queues(c, &all, &nall, &st);
    bool found = false;
    for (size_t i = 0; rc == 0 && i < nall; i++) found |= strcmp(all[i].name, q) == 0;
    CHECK(found, "list_queues has the queue");
    free(all);
    rc = rq_get_task(c, res[2].id, &ti, &st);
    CHECK(rc == 0 && ti->state == RQ_STATE_DELAYED && strcmp((char *)ti->payload, "later") == 0,
          "get_task %d", rc);
    if (rc == 0) rq_task_info_free(ti);
    rc = rq_delete_task(c, res[2].id, &st);
    CHECK(rc == 0, "delete %d", rc);

    /* Work stream: the ready task plus two more, acked on the stream. */
    rq_task_spec more[2] = {{.payload = "w1", .payload_len = 2}, {.payload = "w2", .payload_len = 2}};
    rc = rq_enqueue(c, q, more, 2, res, &st);
    CHECK(rc == 0, "enqueue more");
    wstate ws = {0};
    rq_work_cbs cbs = {.on_task = w_task, .on_result = w_result};
    const char *qs[1] = {q};
    rq_work *w = rq_work_open(c, qs, 1, 3, 60000, &cbs, &ws, &st);
    CHECK(w, "work_open %s", st.message);
    for (int i = 0; w && i < 200 && (ws.tasks < 3 || ws.results < 3); i++) rq_client_poll(c, 100);
    CHECK(ws.tasks == 3 && ws.results == 3 && ws.result_errors == 0,
          "work: tasks %d results %d errors %d", ws.tasks, ws.results, ws.result_errors);
    CHECK(w && rq_work_unanswered(w) == 0, "all answered");
    rq_work_close(w);
    rc = rq_get_queue(c, q, &qi, &st);
    CHECK(rc == 0 && qi.ready == 0 && qi.leased == 0 && qi.acked_total == 4,
          "after work: ready %llu leased %llu acked %llu", (unsigned long long)qi.ready,
          (unsigned long long)qi.leased, (unsigned long long)qi.acked_total);

    rq_client_destroy(c);
    /* No server: a connect error, not a server status. */
    rq_client_opts bad = {.addr = "127.0.0.1:1"};
    c = rq_client_create(&bad, &st);
    rc = rq_purge_queue(c, q, NULL, &st);
    CHECK(rc == RQ_ECONNECT, "connect failure %d %s", rc, st.message);
    rq_client_destroy(c);
    printf("%s (%d failures)\n", failures ? "FAILED" : "OK", failures);
    return failures ? 1 : 0;
}
