/* libringq's API against a real ringqd: rq_api_prog HOST:PORT QUEUE. Exercises enqueue (with
 * options), lease, ack, nack, extend, the admin calls and the Work stream; prints one line per
 * failed check and exits 1 if any failed, 0 otherwise. Driven by tests/integration/test_cli.py. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client/ringq.h"
#include "rq_check.h"

typedef struct wstate {
    int tasks, results, result_errors;
    char ids[4][RQ_ID_MAX];
} wstate;

static void w_task(rq_work *w, void *ud, rq_task *t)
{
    wstate *s = ud;
    if (s->tasks < 4) snprintf(s->ids[s->tasks], RQ_ID_MAX, "%s", t->id);
    s->tasks++;
    rq_work_ack(w, t->id, t->lease_token, (uint64_t)s->tasks);
    rq_task_free(t);
}

/* ---- asynchronous calls ---- */

typedef struct astate {
    bool in_start; /* a callback must never run inside the starting call */
    int started, done, ok, bad_context;
    char ids[1200][RQ_ID_MAX];
    int nids;
} astate;

static void a_enq(rq_client *c, void *ud, const rq_status *st, const rq_enqueue_result *r, size_t n)
{
    astate *s = ud;
    if (s->in_start) s->bad_context++;
    s->done++;
    if (st->code == 0 && r && n >= 1) {
        s->ok++;
        for (size_t i = 0; i < n && s->nids < 1200; i++)
            snprintf(s->ids[s->nids++], RQ_ID_MAX, "%s", r[i].id);
    } else {
        printf("async enqueue: %d %s (n %zu)\n", st->code, st->message, n);
    }
}

/* One generic call's outcome. */
typedef struct acall {
    astate *s;
    int code; /* -1 until the callback */
    char msg[256];
    bool resp_null;
    uint8_t resp[512];
    size_t n;
} acall;

static void a_call(rq_client *c, void *ud, const rq_status *st, const uint8_t *resp, size_t n)
{
    acall *a = ud;
    if (a->s->in_start || a->code != -1) a->s->bad_context++;
    a->s->done++;
    a->code = st->code;
    snprintf(a->msg, sizeof a->msg, "%s", st->message);
    a->resp_null = resp == NULL;
    a->n = n;
    if (resp) memcpy(a->resp, resp, n < sizeof a->resp ? n : sizeof a->resp);
}

static void run_until(rq_client *c, const int *done, int want)
{
    for (int i = 0; i < 2000 && *done < want; i++) rq_client_poll(c, 50);
}

/* Several hundred Enqueues in flight at once on the one connection, then generic calls: a
 * GetQueue whose answer names the queue, an unknown method, and a Lease whose long-poll
 * outlasts its deadline. */
static void async_checks(rq_client *c, const char *q)
{
    static astate s; /* large */
    memset(&s, 0, sizeof s);
    /* On a fresh client: the burst starts before the server's SETTINGS arrive, and is far above
     * its 100 streams (most calls wait their turn; none may be refused for good). */
    enum { CALLS = 600 };
    rq_status st;
    rq_client_opts fo = {.addr = rq_client_addr(c), .timeout_ms = 20000};
    rq_client *fc = rq_client_create(&fo, &st);
    CHECK(fc, "fresh client: %s", st.message);
    if (!fc) return;
    for (int i = 0; i < CALLS; i++) {
        char p1[32], p2[32];
        snprintf(p1, sizeof p1, "async-%d-a", i);
        snprintf(p2, sizeof p2, "async-%d-b", i);
        rq_task_spec sp[2] = {{.payload = p1, .payload_len = strlen(p1)},
                              {.payload = p2, .payload_len = strlen(p2), .delay_ms = 3600000}};
        s.in_start = true;
        int rc = rq_enqueue_async(fc, q, sp, 2, a_enq, &s);
        s.in_start = false;
        CHECK(rc == 0, "enqueue_async %d", rc);
        if (rc == 0) s.started++;
    }
    CHECK(s.done == 0, "no callback before the loop runs (%d)", s.done);
    run_until(fc, &s.done, s.started);
    rq_client_destroy(fc);
    CHECK(s.done == CALLS && s.ok == CALLS && s.bad_context == 0,
          "async enqueues: done %d ok %d bad %d", s.done, s.ok, s.bad_context);
    int dups = 0;
    for (int i = 1; i < s.nids; i++)
        for (int j = 0; j < i; j++) dups += strcmp(s.ids[i], s.ids[j]) == 0;
    CHECK(s.nids == 2 * CALLS, "ids %d", s.nids);
    CHECK(dups == 0, "distinct ids (%d duplicates)", dups);
    rq_queue_info qi;
    int rc = rq_get_queue(c, q, &qi, &st);
    CHECK(rc == 0 && qi.ready == CALLS && qi.delayed == CALLS,
          "after async: ready %llu delayed %llu", (unsigned long long)qi.ready,
          (unsigned long long)qi.delayed);
    rq_task_spec bad = {.payload = "x", .payload_len = 1};
    CHECK(rq_enqueue_async(c, "", &bad, 1, a_enq, &s) < 0, "empty queue refused");
    CHECK(rq_enqueue_async(c, q, &bad, 0, a_enq, &s) < 0, "no tasks refused");

    /* Generic calls: the request messages are encoded here by hand. */
    uint8_t req[256];
    size_t ql = strlen(q);
    req[0] = 0x0a; /* field 1, LEN: the queue name */
    req[1] = (uint8_t)ql;
    memcpy(req + 2, q, ql);
    char eq[128];
    snprintf(eq, sizeof eq, "%s-empty", q);
    rq_task_spec later = {.payload = "later", .payload_len = 5, .delay_ms = 3600000};
    rq_enqueue_result lr;
    rc = rq_enqueue(c, eq, &later, 1, &lr, &st); /* a queue with nothing ready */
    CHECK(rc == 0, "empty queue: %s", st.message);
    /* Long-poll it: wait_ms 5000, past a 300 ms deadline (the server answers by then). */
    uint8_t lreq[256];
    size_t ll = 0;
    lreq[ll++] = 0x0a;
    lreq[ll++] = (uint8_t)strlen(eq);
    memcpy(lreq + ll, eq, strlen(eq));
    ll += strlen(eq);
    lreq[ll++] = 0x18; /* field 3 wait_ms = 5000 (varint) */
    lreq[ll++] = 0x88;
    lreq[ll++] = 0x27;
    acall get = {.s = &s, .code = -1}, unknown = get, poll = get;
    int base = s.done;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    s.in_start = true;
    rc = rq_call_async(c, "/ringq.v1.Admin/GetQueue", req, 2 + ql, 0, a_call, &get);
    CHECK(rc == 0, "call_async GetQueue %d", rc);
    rc = rq_call_async(c, "/ringq.v1.Admin/NoSuchMethod", req, 2 + ql, 0, a_call, &unknown);
    CHECK(rc == 0, "call_async unknown %d", rc);
    rc = rq_call_async(c, "/ringq.v1.Queue/Lease", lreq, ll, 300, a_call, &poll);
    CHECK(rc == 0, "call_async Lease %d", rc);
    CHECK(rq_call_async(c, "no-slash", req, 1, 0, a_call, &get) < 0, "bad path refused");
    s.in_start = false;
    CHECK(s.done == base, "no callback inside the start");
    run_until(c, &s.done, base + 3);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    CHECK(s.done == base + 3 && s.bad_context == 0, "generic calls done %d bad %d", s.done - base,
          s.bad_context);
    CHECK(get.code == 0 && !get.resp_null && get.n > ql && memmem(get.resp, get.n, q, ql),
          "GetQueue answered: %d %s (len %zu)", get.code, get.msg, get.n);
    CHECK(unknown.code == 12 && unknown.resp_null, "unknown method: %d", unknown.code);
    CHECK((poll.code == 0 || poll.code == 4) && secs < 3.0,
          "long-poll bounded by its deadline: %d %s after %.2f s", poll.code, poll.msg, secs);
    rc = rq_purge_queue(c, q, NULL, &st);
    CHECK(rc == 0, "purge after async %d", rc);
}

/* A server that accepts TCP connections (the kernel's backlog) and never answers: the client
 * must end calls at their deadline, the asynchronous ones and the blocking ones. */
static void silent_server_checks(void)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    int rc = bind(lfd, (struct sockaddr *)&sa, sizeof sa);
    rc |= listen(lfd, 16);
    rc |= getsockname(lfd, (struct sockaddr *)&sa, &sl);
    CHECK(rc == 0, "silent listener");
    if (rc) return;
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(sa.sin_port));
    rq_status st;
    rq_client_opts o = {.addr = addr, .timeout_ms = 300};
    rq_client *c = rq_client_create(&o, &st);
    CHECK(c, "create: %s", st.message);
    if (!c) return;
    static astate s;
    memset(&s, 0, sizeof s);
    acall calls[5];
    for (int i = 0; i < 5; i++) {
        calls[i] = (acall){.s = &s, .code = -1};
        s.in_start = true;
        rc = rq_call_async(c, "/ringq.v1.Admin/GetQueue", "\x0a\x01q", 3, 100 + 50 * (uint32_t)i,
                           a_call, &calls[i]);
        s.in_start = false;
        CHECK(rc == 0, "start %d", rc);
    }
    run_until(c, &s.done, 5);
    for (int i = 0; i < 5; i++)
        CHECK(calls[i].code == 4 && calls[i].resp_null, "silent server, call %d: %d %s", i,
              calls[i].code, calls[i].msg);
    CHECK(s.bad_context == 0, "callback contexts");
    rc = rq_get_queue(c, "q", NULL, &st);
    CHECK(rc == 4, "blocking call to a silent server: %d %s", rc, st.message);
    rq_client_destroy(c);
    close(lfd);
}

static void w_result(rq_work *w, void *ud, uint64_t rid, int code, const char *msg)
{
    wstate *s = ud;
    s->results++;
    if (code) s->result_errors++;
}

/* --late: the server is not listening yet. Starts an asynchronous Enqueue, runs the loop once
 * (the first dial fails), says "dialled" on stdout and then makes a blocking Enqueue; both
 * must succeed once the server comes up (the test starts it on reading "dialled"). */
static int late_server(const char *addr, const char *q)
{
    rq_status st;
    rq_client_opts o = {.addr = addr, .timeout_ms = 15000};
    rq_client *c = rq_client_create(&o, &st);
    CHECK(c, "create: %s", st.message);
    if (!c) return 1;
    static astate s;
    rq_task_spec sp = {.payload = "late-async", .payload_len = 10};
    int rc = rq_enqueue_async(c, q, &sp, 1, a_enq, &s);
    CHECK(rc == 0, "enqueue_async %d", rc);
    rq_client_poll(c, 0);
    CHECK(s.done == 0, "not done before the server is up");
    printf("dialled\n");
    fflush(stdout);
    rq_task_spec sp2 = {.payload = "late-blocking", .payload_len = 13};
    rq_enqueue_result r;
    rc = rq_enqueue(c, q, &sp2, 1, &r, &st);
    CHECK(rc == 0 && r.id[0], "blocking enqueue once the server is up: %d %s", rc, st.message);
    run_until(c, &s.done, 1);
    CHECK(s.done == 1 && s.nids == 1, "async enqueue once the server is up: done %d", s.done);
    rq_client_destroy(c);
    return rq_check_end();
}

/* rq_enqueue_with and rq_get_partition (docs/semantics.md "Durability levels"): a SYNCED
 * receipt is covered at once, a WRITTEN one after the commit its answer started. */
static void receipt_checks(rq_client *c, const char *q)
{
    char rq[256];
    snprintf(rq, sizeof rq, "%s-rcpt", q);
    rq_task_spec sp = {.payload = "r", .payload_len = 1};
    rq_enqueue_result res;
    rq_receipt r;
    rq_status st;
    rq_enqueue_opts synced = {.durability = RQ_DURABILITY_SYNCED};
    int rc = rq_enqueue_with(c, rq, &sp, 1, &synced, &res, &r, &st);
    CHECK(rc == 0 && r.level == RQ_DURABILITY_SYNCED && r.commit_seq > 0, "synced: %d %s", rc,
          st.message);
    rq_partition_info pi;
    rc = rq_get_partition(c, r.partition, &pi, &st);
    CHECK(rc == 0 && pi.partition == r.partition && pi.synced_commit_seq >= r.commit_seq &&
              pi.synced_offset > r.offset && pi.next_offset >= pi.synced_offset,
          "partition: %d %s", rc, st.message);
    rq_enqueue_opts written = {.durability = RQ_DURABILITY_WRITTEN};
    rc = rq_enqueue_with(c, rq, &sp, 1, &written, &res, &r, &st);
    CHECK(rc == 0 && r.level == RQ_DURABILITY_WRITTEN && r.offset > 0, "written: %d %s", rc,
          st.message);
    /* Confirmed by polling with a deadline: the commit follows the answer by itself. */
    struct timespec t0, now, pause = {0, 10 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        rc = rq_get_partition(c, r.partition, &pi, &st);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (rc == 0 && pi.synced_commit_seq < r.commit_seq && now.tv_sec - t0.tv_sec < 10 &&
             nanosleep(&pause, NULL) == 0);
    CHECK(rc == 0 && pi.synced_commit_seq >= r.commit_seq && pi.synced_offset > r.offset,
          "written confirmed: %d seq %llu < %llu", rc, (unsigned long long)pi.synced_commit_seq,
          (unsigned long long)r.commit_seq);
    rc = rq_get_partition(c, 100000, &pi, &st);
    CHECK(rc == 5 /* NOT_FOUND */ && strstr(st.message, "partition 100000"), "no partition: %d %s",
          rc, st.message);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--late") == 0) return late_server(argv[2], argv[3]);
    if (argc != 3) {
        fprintf(stderr, "usage: rq_api_prog [--late] HOST:PORT QUEUE\n");
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
        {.payload = "high",
         .payload_len = 4,
         .priority = 9,
         .headers = hs,
         .nheaders = 2,
         .max_attempts = 3,
         .idempotency_key = "key-1"},
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
        CHECK(tasks[0]->lease_token != 0 && tasks[0]->lease_token != tasks[1]->lease_token,
              "lease tokens %llu %llu", (unsigned long long)tasks[0]->lease_token,
              (unsigned long long)tasks[1]->lease_token);
        uint64_t dl = 0;
        rc = rq_extend(c, tasks[0]->id, tasks[0]->lease_token + 1, 120000, &dl, &st);
        CHECK(rc == 9 /* FAILED_PRECONDITION */ && strstr(st.message, "lease superseded"),
              "extend with a wrong token: %d %s", rc, st.message);
        rc = rq_extend(c, tasks[0]->id, tasks[0]->lease_token, 120000, &dl, &st);
        CHECK(rc == 0 && dl > tasks[0]->lease_deadline_unix_ms, "extend %d", rc);
        rq_nack_result nr;
        rq_nack_opts no = {.has_delay = true, .delay_ms = 0, .reason = "try again"};
        rc = rq_nack(c, tasks[1]->id, tasks[1]->lease_token, &no, &nr, &st);
        CHECK(rc == 0 && nr.state == RQ_STATE_READY && nr.attempts == 1, "nack %d state %d", rc,
              nr.state);
        const char *ids[2] = {tasks[0]->id, "bogus"};
        const uint64_t toks[2] = {tasks[0]->lease_token, 1};
        rq_item_status items[2];
        rc = rq_ack(c, ids, toks, 2, items, &st);
        CHECK(rc == 0 && items[0].code == 0 && items[1].code != 0, "ack items %d %d", items[0].code,
              items[1].code);
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
    rq_task_spec more[2] = {{.payload = "w1", .payload_len = 2},
                            {.payload = "w2", .payload_len = 2}};
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

    async_checks(c, q);
    silent_server_checks();

    receipt_checks(c, q);
    rq_client_destroy(c);

    /* No server: dialled again with backoff until the deadline, then a connect error (not a
     * server status) that says why. */
    rq_client_opts bad = {.addr = "127.0.0.1:1", .timeout_ms = 700};
    c = rq_client_create(&bad, &st);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = rq_purge_queue(c, q, NULL, &st);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    CHECK(rc == RQ_ECONNECT && strstr(st.message, "cannot connect to 127.0.0.1:1") &&
              strstr(st.message, "attempts"),
          "connect failure %d %s", rc, st.message);
    CHECK(secs >= 0.6 && secs < 5, "tried until the deadline: %.2f s", secs);
    rq_client_destroy(c);
    return rq_check_end();
}
