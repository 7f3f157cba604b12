/* server/srv_stream_read.c, srv_stream_cons.c: how a publish reaches a Consume stream under
 * --fsync never, driven in process (server/srv_local, test_srv_util.h; one shard, stepped by
 * the test). The publishes that one loop iteration brings are served to the consumer together,
 * from the next iteration: one batch of deliveries, i.e. one DATA frame carrying them all, where
 * serving each publish as it was applied made one delivery job and one frame per message (the
 * largest server cost of batch-1 fan-out, bench/results/streams-2026-12-07.md). */
#include "queue/q_consumer.h"
#include "queue/q_stream.h"
#include "server/srv_stream_int.h"
#include "test_srv_util.h"
#include "ts_main.h"

#define NSHARDS 1
#define NPARTS 2
#define NPUB 8 /* batch-1 Publish calls written at once */

static ts_server S;
static ts_client C;

static uint32_t call_ok(const char *path, const pw_msg_desc *d, const void *msg)
{
    uint32_t sid = ts_call_start(&C, path, d, msg);
    ck_assert(ts_wait_closed(&C, sid, TS_WAIT_MS));
    ck_assert_int_eq(ts_status(&C, sid), 0);
    return sid;
}

typedef struct got {
    uint32_t sid;
    size_t bytes; /* of NPUB framed deliveries and the bind's result, at least */
} got;

static bool data_at_least(ts_client *c, const void *arg)
{
    const got *g = arg;
    return buf_size(&ts_call_of(c, g->sid)->data) >= g->bytes;
}

/* Messages of a framed body. */
static uint32_t framed_count(const buf *b)
{
    const uint8_t *p = buf_begin(b);
    size_t left = buf_size(b);
    uint32_t n = 0;
    while (left >= 5) {
        size_t len = ((size_t)p[1] << 24) | ((size_t)p[2] << 16) | ((size_t)p[3] << 8) | p[4];
        if (left < 5 + len) break;
        p += 5 + len;
        left -= 5 + len;
        n++;
    }
    return n;
}

static bool no_calls(ts_client *c, const void *arg) { return ts_active_calls(c->s, 0) == 0; }

START_TEST(publishes_of_one_iteration_delivered_as_one_batch)
{
    ck_assert_int_eq(ts_server_start(&S, NSHARDS, NPARTS, Q_COMMIT_NEVER), 0);
    ts_client_open(&C, &S, 0);
    pw_pb_bytes subj = ts_str("fan");
    pwm_ringq_v1_StreamConfig cfg = {.name = ts_str("fan"), .subjects = &subj, .subjects_count = 1};
    pwm_ringq_v1_CreateStreamRequest csr = {.config = &cfg};
    call_ok(pwm_ringq_v1_Streams_CreateStream_PATH, &pwm_ringq_v1_CreateStreamRequest_desc, &csr);
    pwm_ringq_v1_ConsumerConfig cc = {.name = ts_str("g")};
    pwm_ringq_v1_CreateConsumerRequest ccr = {.stream = ts_str("fan"), .config = &cc};
    call_ok(pwm_ringq_v1_Streams_CreateConsumer_PATH, &pwm_ringq_v1_CreateConsumerRequest_desc,
            &ccr);

    uint32_t cs = ts_open(&C, pwm_ringq_v1_Streams_Consume_PATH);
    pwm_ringq_v1_ConsumeBind bind = {
        .stream = ts_str("fan"), .consumer = ts_str("g"), .credits = 2 * NPUB};
    pwm_ringq_v1_ConsumeRequest br = {
        .request_id = 1, .kind_case = pwm_ringq_v1_ConsumeRequest_FIELD_bind, .bind = &bind};
    ts_send(&C, cs, &pwm_ringq_v1_ConsumeRequest_desc, &br, false);
    got bound = {cs, 6};
    ck_assert(ts_wait_for(&C, data_at_least, &bound, TS_WAIT_MS)); /* the bind's result */
    ck_assert_uint_eq(framed_count(&ts_call_of(&C, cs)->data), 1);
    uint32_t frames_before = ts_call_of(&C, cs)->data_frames;

    /* NPUB batch-1 publishes in one write: the server reads them in one go. */
    pwm_ringq_v1_PublishMessage m = {.subject = ts_str("fan"), .payload = ts_str("p")};
    pwm_ringq_v1_PublishRequest pr = {.messages = &m, .messages_count = 1};
    uint32_t ps[NPUB];
    for (int i = 0; i < NPUB; i++)
        ps[i] = ts_call_start(&C, pwm_ringq_v1_Streams_Publish_PATH,
                              &pwm_ringq_v1_PublishRequest_desc, &pr);
    for (int i = 0; i < NPUB; i++) {
        ck_assert(ts_wait_closed(&C, ps[i], TS_WAIT_MS));
        ck_assert_int_eq(ts_status(&C, ps[i]), 0);
    }
    uint64_t deadline = rt_now_ns() + (uint64_t)TS_WAIT_MS * RT_NS_PER_MS;
    while (framed_count(&ts_call_of(&C, cs)->data) < 1 + NPUB) {
        ck_assert_msg(rt_now_ns() < deadline, "the deliveries did not come");
        if (!ts_round(&C)) ts_idle(&C);
    }
    ck_assert_uint_eq(framed_count(&ts_call_of(&C, cs)->data), 1 + NPUB);
    uint32_t frames = ts_call_of(&C, cs)->data_frames - frames_before;
    ck_assert_msg(frames == 1, "%d deliveries came in %u DATA frames, not one batch", NPUB, frames);
    ts_rst(&C, cs, 8 /* CANCEL */);
    ck_assert(ts_wait_for(&C, no_calls, NULL, TS_WAIT_MS)); /* the session is gone */
    ts_client_close(&C);
    ts_server_stop(&S);
}
END_TEST

int main(void)
{
    ts_require_uring("test_srv_stream_serve"); /* exits 77 (skip) without io_uring */
    Suite *s = suite_create("srv_stream_serve");
    TCase *tc = tcase_create("serve");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, publishes_of_one_iteration_delivered_as_one_batch);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
