/* libringq's pipelined publish (rq_pub_stream, Streams.PublishStream) against a real ringqd:
 *   rq_pub_stream_prog HOST:PORT SUBJECT MODE
 * Modes (each prints one line per answer, "ANS id code n seq0 level partition:offset:commit_seq
 * stream-or-message" with the first ack's receipt, and "SEQ seq" per ack; then "END"):
 *   order N     N requests sent before any answer is read (request i: 1 + i % 3 messages with
 *               payloads "m<k>", k counting every message from 0), then every answer
 *   synced      one request at SYNCED, its answer
 *   window      sends until rq_pub_stream_send says RQ_EAGAIN without polling ("WINDOW n"),
 *               then polls one answer and sends once more ("RESENT code")
 *   badmid      good, bad (SUBJECT "nostream.x" is captured by no stream), good: three answers
 *   lost        "READY" once a first request was answered; reads a line from stdin (the caller
 *               stops the server meanwhile), sends 5 requests, then polls until all five are
 *               answered or 20 s passed ("UNANSWERED n" then)
 * Driven by tests/integration/test_pub_stream.py; exit 0 unless the program itself failed. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/ringq.h"

/* Longest wait of the lost mode for its answers: far above a reconnect attempt's time. */
#define LOST_WAIT_MS 20000
#define PAYLOAD_MAX 32

static uint64_t g_answers;

static void on_answer(rq_pub_stream *s, void *ud, uint64_t id, const rq_status *st,
                      const char *stream, const rq_pub_ack *acks, size_t n)
{
    g_answers++;
    const rq_receipt *r = n ? &acks[0].receipt : NULL;
    printf("ANS %llu %d %zu %llu %d %u:%llu:%llu %s\n", (unsigned long long)id, st->code, n,
           n ? (unsigned long long)acks[0].seq : 0ULL, r ? (int)r->level : -1, r ? r->partition : 0,
           r ? (unsigned long long)r->offset : 0ULL, r ? (unsigned long long)r->commit_seq : 0ULL,
           st->code ? st->message : stream);
    for (size_t i = 0; i < n; i++) printf("SEQ %llu\n", (unsigned long long)acks[i].seq);
    fflush(stdout);
}

/* Polls until `want` answers came in total or ms passed. */
static void poll_until(rq_client *c, uint64_t want, int ms)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (g_answers < want) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        long el = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        if (el >= ms) break;
        rq_client_poll(c, (int)(ms - el));
    }
}

static int send_msgs(rq_pub_stream *s, const char *subj, size_t n, uint64_t *k)
{
    static char pay[RQ_PUBLISH_BATCH_MAX][PAYLOAD_MAX];
    rq_pub_msg m[3];
    for (size_t i = 0; i < n; i++) {
        int len = snprintf(pay[i], PAYLOAD_MAX, "m%llu", (unsigned long long)(*k)++);
        m[i] = (rq_pub_msg){.subject = subj, .payload = pay[i], .payload_len = (size_t)len};
    }
    rq_status st;
    int rc = rq_pub_stream_send(s, m, n, NULL, &st);
    if (rc) printf("SEND %d %s\n", rc, st.message);
    return rc;
}

static int mode_order(rq_client *c, rq_pub_stream *s, const char *subj, long n)
{
    uint64_t k = 0;
    for (long i = 0; i < n; i++)
        if (send_msgs(s, subj, 1 + (size_t)(i % 3), &k)) return 1;
    poll_until(c, (uint64_t)n, LOST_WAIT_MS);
    return 0;
}

static int mode_window(rq_client *c, rq_pub_stream *s, const char *subj)
{
    uint64_t k = 0;
    rq_status st;
    rq_pub_msg m = {.subject = subj, .payload = "w", .payload_len = 1};
    size_t sent = 0;
    while (rq_pub_stream_send(s, &m, 1, NULL, &st) == 0) sent++;
    printf("WINDOW %zu %d\n", sent, st.code);
    poll_until(c, 1, LOST_WAIT_MS);
    printf("RESENT %d\n", send_msgs(s, subj, 1, &k));
    poll_until(c, sent + 1, LOST_WAIT_MS);
    return 0;
}

static int mode_badmid(rq_client *c, rq_pub_stream *s, const char *subj)
{
    uint64_t k = 0;
    if (send_msgs(s, subj, 1, &k) || send_msgs(s, "nostream.x", 1, &k) || send_msgs(s, subj, 1, &k))
        return 1;
    poll_until(c, 3, LOST_WAIT_MS);
    return 0;
}

static int mode_lost(rq_client *c, rq_pub_stream *s, const char *subj)
{
    uint64_t k = 0;
    if (send_msgs(s, subj, 1, &k)) return 1;
    poll_until(c, 1, LOST_WAIT_MS);
    printf("READY\n");
    fflush(stdout);
    char line[16];
    if (!fgets(line, sizeof line, stdin)) return 1;
    int refused = 0;
    for (int i = 0; i < 5; i++) refused += send_msgs(s, subj, 1, &k) != 0;
    printf("REFUSED %d\n", refused);
    poll_until(c, 6 - (uint64_t)refused, LOST_WAIT_MS);
    printf("UNANSWERED %zu\n", rq_pub_stream_unanswered(s));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: rq_pub_stream_prog HOST:PORT SUBJECT MODE [N]\n");
        return 2;
    }
    const char *subj = argv[2], *mode = argv[3];
    rq_status st;
    rq_client_opts o = {.addr = argv[1], .timeout_ms = 10000};
    rq_client *c = rq_client_create(&o, &st);
    if (!c) {
        fprintf(stderr, "client: %s\n", st.message);
        return 1;
    }
    rq_durability level = strcmp(mode, "synced") == 0 ? RQ_DURABILITY_SYNCED
                                                      : RQ_DURABILITY_DEFAULT;
    rq_pub_stream *s = rq_pub_stream_open(c, level, on_answer, NULL, &st);
    if (!s) {
        fprintf(stderr, "open: %d %s\n", st.code, st.message);
        rq_client_destroy(c);
        return 1;
    }
    int rc = 0;
    if (strcmp(mode, "order") == 0) rc = mode_order(c, s, subj, argc > 4 ? atol(argv[4]) : 100);
    else if (strcmp(mode, "synced") == 0) rc = mode_order(c, s, subj, 1);
    else if (strcmp(mode, "window") == 0) rc = mode_window(c, s, subj);
    else if (strcmp(mode, "badmid") == 0) rc = mode_badmid(c, s, subj);
    else if (strcmp(mode, "lost") == 0) rc = mode_lost(c, s, subj);
    else rc = 2;
    if (rc == 0 && strcmp(mode, "lost") != 0) {
        int end = rq_pub_stream_finish(s, 10000, &st);
        printf("FINISH %d\n", end);
    }
    printf("END\n");
    rq_pub_stream_free(s);
    rq_client_destroy(c);
    return rc;
}
