/* libringq's Read session against a real ringqd: rq_read_prog HOST:PORT STREAM, on a stream
 * that holds exactly the messages "1", "2", "3" (seqs 1..3; the caller publishes them). Checks
 * rq_read_open / _next / _done / _close: a live read takes the three, then a timed wait returns
 * nothing without ending it; a bounded read (end_seq 2) ends OK after two and says so; a read
 * from seq 3 with max_messages 1; the library's refusals (both starts, start above end, an
 * empty filter) before anything is sent; the server's (no such stream) from rq_read_next.
 * Prints one line per failed check; exit 1 if any failed. Driven by
 * tests/integration/test_streams_read.py. */
#include <stdio.h>
#include <string.h>

#include "client/ringq.h"
#include "rq_check.h"

enum { OK = 0, NOT_FOUND = 5 };
/* Long enough for a loaded machine, short enough for a test. */
#define WAIT_MS 10000
#define IDLE_MS 200

/* Takes `n` messages, checking their sequences from `first`. */
static void take(rq_read *r, uint64_t first, int n)
{
    for (int i = 0; i < n; i++) {
        rq_stream_msg *m = NULL;
        rq_status st;
        int rc = rq_read_next(r, WAIT_MS, &m, &st);
        CHECK(rc == OK && m, "next %d: %d %s", i, rc, st.message);
        if (!m) return;
        char want[24];
        snprintf(want, sizeof want, "%llu", (unsigned long long)(first + (uint64_t)i));
        CHECK(m->seq == first + (uint64_t)i && strcmp((char *)m->payload, want) == 0,
              "seq %llu payload %s", (unsigned long long)m->seq, (char *)m->payload);
        rq_stream_msg_free(m);
    }
}

static void live(rq_client *c, const char *stream)
{
    rq_status st;
    rq_read *r = rq_read_open(c, stream, NULL, &st);
    CHECK(r, "open live: %s", st.message);
    if (!r) return;
    take(r, 1, 3);
    rq_stream_msg *m = NULL;
    int rc = rq_read_next(r, IDLE_MS, &m, &st);
    CHECK(rc == OK && !m && !rq_read_done(r), "caught up: %d %p %d", rc, (void *)m,
          rq_read_done(r));
    rq_read_close(r);
}

static void bounded(rq_client *c, const char *stream)
{
    rq_status st;
    rq_read_opts o = {.end_seq = 2};
    rq_read *r = rq_read_open(c, stream, &o, &st);
    CHECK(r, "open bounded: %s", st.message);
    if (!r) return;
    take(r, 1, 2);
    rq_stream_msg *m = NULL;
    int rc = rq_read_next(r, -1, &m, &st);
    CHECK(rc == OK && !m && rq_read_done(r), "end: %d %d", rc, rq_read_done(r));
    rq_read_close(r);
    rq_read_opts o2 = {.start_seq = 3, .max_messages = 1};
    r = rq_read_open(c, stream, &o2, &st);
    CHECK(r, "open from 3: %s", st.message);
    if (!r) return;
    take(r, 3, 1);
    rc = rq_read_next(r, -1, &m, &st);
    CHECK(rc == OK && !m && rq_read_done(r), "end after max_messages: %d", rc);
    rq_read_close(r);
}

static void refused(rq_client *c, const char *stream)
{
    rq_status st;
    rq_read_opts both = {.start_seq = 1, .start_unix_ms = 1};
    CHECK(!rq_read_open(c, stream, &both, &st) && st.code == RQ_EINVAL, "both starts: %d", st.code);
    rq_read_opts inv = {.start_seq = 5, .end_seq = 2};
    CHECK(!rq_read_open(c, stream, &inv, &st) && st.code == RQ_EINVAL, "start > end: %d", st.code);
    const char *empty[] = {""};
    rq_read_opts ef = {.filters = empty, .nfilters = 1};
    CHECK(!rq_read_open(c, stream, &ef, &st) && st.code == RQ_EINVAL, "empty filter: %d", st.code);
    rq_read *r = rq_read_open(c, "no-such-stream-rq-read", NULL, &st);
    CHECK(r, "open unknown: %s", st.message);
    if (!r) return;
    rq_stream_msg *m = NULL;
    int rc = rq_read_next(r, WAIT_MS, &m, &st);
    CHECK(rc == NOT_FOUND && !m && !rq_read_done(r), "unknown stream: %d %s", rc, st.message);
    rq_read_close(r);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: rq_read_prog HOST:PORT STREAM\n");
        return 2;
    }
    rq_status st;
    rq_client_opts o = {.addr = argv[1], .timeout_ms = WAIT_MS};
    rq_client *c = rq_client_create(&o, &st);
    CHECK(c, "create: %s", st.message);
    if (!c) return 1;
    live(c, argv[2]);
    bounded(c, argv[2]);
    refused(c, argv[2]);
    rq_client_destroy(c);
    return rq_check_end();
}
