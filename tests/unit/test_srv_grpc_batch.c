/* srv_grpc_send_batch (server/srv_queue_codec.c): a batch of gRPC-framed messages goes to the
 * call by reference, and to a call that cannot take it so (one that compresses its responses,
 * or a local call, both -EOPNOTSUPP from pw_grpc_call_send_framed) each message the copying
 * way, as Streams.Read and the merged Read send their batches. The copying way is driven here
 * through a local call (pw_grpc_call_new_local): what reaches its callback is what was copied. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_blob.h"
#include "proto_wire/pw_grpc_msg.h"
#include "proto_wire/pw_grpc_server.h"
#include "server/srv_queue_int.h"
#include "ts_main.h"

static pw_grpc_server *SRV;
static pw_grpc_call *held; /* the call the handler keeps to answer later */
static int answers;
static char answer[64];
static size_t answer_len;

static void later(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    pw_grpc_call_ref(c);
    held = c;
}

static void on_answer(void *ud, pw_grpc_status st, const char *message, const uint8_t *msg,
                      size_t len)
{
    answers++;
    ck_assert_int_eq(st, PW_GRPC_OK);
    ck_assert_uint_lt(len, sizeof answer);
    memcpy(answer, msg, len);
    answer_len = len;
}

static void setup(void)
{
    pw_grpc_server_config cfg = {.max_recv_message_bytes = 4096};
    SRV = pw_grpc_server_create(&cfg);
    ck_assert_ptr_nonnull(SRV);
    static const pw_grpc_method m = {
        .path = "/t.S/Later", .kind = PW_GRPC_UNARY, .on_message = later};
    ck_assert_int_eq(pw_grpc_server_add_method(SRV, &m), 0);
    held = NULL;
    answers = 0;
    answer_len = 0;
}

static void teardown(void) { pw_grpc_server_destroy(SRV); }

/* A local call, its handler run: `held` is the call. */
static void start_call(void)
{
    const pw_grpc_method *m = pw_grpc_server_find(SRV, "/t.S/Later", 10);
    ck_assert_ptr_nonnull(m);
    pw_grpc_call *c = pw_grpc_call_new_local(SRV, m, on_answer, NULL);
    ck_assert_ptr_nonnull(c);
    m->on_message(c, NULL, 0);
    pw_grpc_call_unref(c); /* the handler's reference keeps it */
    ck_assert_ptr_nonnull(held);
}

/* A blob of the messages in `msgs` (NULL-terminated), each behind its 5-byte prefix. */
static rt_blob *framed(const char *const *msgs)
{
    buf b;
    buf_init(&b, 256);
    for (; *msgs; msgs++) {
        size_t n = strlen(*msgs);
        uint8_t p[PW_GRPC_MSG_PREFIX_BYTES] = {0, (uint8_t)(n >> 24), (uint8_t)(n >> 16),
                                               (uint8_t)(n >> 8), (uint8_t)n};
        ck_assert_int_eq(buf_append(&b, p, sizeof p), 0);
        ck_assert_int_eq(buf_append(&b, *msgs, n), 0);
    }
    rt_blob *blob = rt_blob_from_buf(&b, NULL, NULL);
    ck_assert_ptr_nonnull(blob);
    buf_deinit(&b);
    return blob;
}

START_TEST(batch_to_a_copying_call_is_sent_message_by_message)
{
    start_call();
    rt_blob *b = framed((const char *const[]){"one message", NULL});
    ck_assert_int_eq(pw_grpc_call_send_framed(held, b, 1), -EOPNOTSUPP); /* not by reference */
    ck_assert_int_eq(srv_grpc_send_batch(held, b, 1), 0);
    rt_blob_unref(b);
    ck_assert_int_eq(pw_grpc_call_finish(held, PW_GRPC_OK, NULL), 0);
    ck_assert_int_eq(answers, 1);
    ck_assert_uint_eq(answer_len, 11);
    ck_assert_int_eq(memcmp(answer, "one message", 11), 0);
    pw_grpc_call_unref(held);
}
END_TEST

START_TEST(batch_error_of_a_copied_message_is_returned)
{
    start_call();
    /* A unary call answers one message: the second copy is refused, and said so. */
    rt_blob *b = framed((const char *const[]){"first", "second", NULL});
    ck_assert_int_eq(srv_grpc_send_batch(held, b, 2), -EPROTO);
    rt_blob_unref(b);
    ck_assert_int_eq(pw_grpc_call_finish(held, PW_GRPC_OK, NULL), 0);
    ck_assert_uint_eq(answer_len, 5);
    ck_assert_int_eq(memcmp(answer, "first", 5), 0);
    pw_grpc_call_unref(held);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("srv_grpc_batch");
    TCase *tc = tcase_create("batch");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, batch_to_a_copying_call_is_sent_message_by_message);
    tcase_add_test(tc, batch_error_of_a_copied_message_is_returned);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
