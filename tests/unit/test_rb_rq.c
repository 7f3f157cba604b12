/* Unit tests for bench/rb_rq's encoded-once Enqueue request (rb_rq_enq): filled with a send's
 * payloads it decodes, with the generated schema, to the queue and exactly those payloads, and it
 * is the bytes the schema encodes for that request; remade only when the shape changes. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bench/rb_rq.h"
#include "proto_wire/pw_msg.h"
#include "proto_wire/pw_msgs.h"
#include "tests/unit/ts_main.h"

/* Payloads i = 0..n-1 of `size` bytes, each different (the stamp's job in a run). */
static void payloads(uint8_t *mem, rb_payload *p, size_t n, size_t size, unsigned salt)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t b = 0; b < size; b++) mem[i * size + b] = (uint8_t)(salt + 7 * i + 13 * b);
        p[i] = (rb_payload){mem + i * size, size};
    }
}

/* t's bytes decode to `queue` and exactly p[0..n), and equal the schema's own encoding. */
static void check_request(const rb_rq_enq *t, const char *queue, const rb_payload *p, size_t n)
{
    pwm_ringq_v1_EnqueueRequest req;
    static uint8_t mem[16384];
    pw_msg_arena a;
    pw_msg_arena_init(&a, mem, sizeof mem);
    ck_assert_int_eq(pw_msg_decode(&pwm_ringq_v1_EnqueueRequest_desc, &req, t->msg, t->len, &a), 0);
    ck_assert_uint_eq(req.queue.len, strlen(queue));
    ck_assert_mem_eq(req.queue.ptr, queue, req.queue.len);
    ck_assert_uint_eq(req.tasks_count, n);
    for (size_t i = 0; i < n; i++) {
        ck_assert_uint_eq(req.tasks[i].payload.len, p[i].len);
        ck_assert_mem_eq(req.tasks[i].payload.ptr, p[i].p, p[i].len);
    }
    uint8_t out[8192];
    long w = pw_msg_encode_to(&pwm_ringq_v1_EnqueueRequest_desc, &req, out, sizeof out);
    ck_assert_int_eq(w, (long)t->len);
    ck_assert_mem_eq(out, t->msg, t->len);
    pw_msg_arena_deinit(&a);
}

START_TEST(filled_request_is_the_schema_encoding)
{
    static const size_t sizes[] = {16, 100, 127, 128, 2048};
    static const size_t counts[] = {1, 3};
    uint8_t pay[3 * 2048];
    rb_payload p[3];
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (size_t ci = 0; ci < 2; ci++) {
            rb_rq_enq t = {0};
            size_t n = counts[ci], size = sizes[si];
            ck_assert_int_eq(rb_rq_enq_make(&t, "bench-q", n, size), 0);
            for (unsigned round = 0; round < 2; round++) { /* the next send overwrites */
                payloads(pay, p, n, size, round * 101u);
                rb_rq_enq_fill(&t, p);
                check_request(&t, "bench-q", p, n);
            }
            rb_rq_enq_free(&t);
            ck_assert_ptr_null(t.msg);
        }
}
END_TEST

START_TEST(remade_only_when_the_shape_changes)
{
    rb_rq_enq t = {0};
    ck_assert_int_eq(rb_rq_enq_make(&t, "q", 2, 16), 0);
    const uint8_t *first = t.msg;
    ck_assert_int_eq(rb_rq_enq_make(&t, "q", 2, 16), 0);
    ck_assert_ptr_eq(t.msg, first); /* the same shape: kept */
    ck_assert_int_eq(rb_rq_enq_make(&t, "q", 1, 16), 0);
    ck_assert_uint_eq(t.n, 1);
    uint8_t pay[32];
    rb_payload p[1];
    payloads(pay, p, 1, 16, 5);
    rb_rq_enq_fill(&t, p);
    check_request(&t, "q", p, 1);
    ck_assert_int_eq(rb_rq_enq_make(&t, "q", 0, 16), -EINVAL);
    ck_assert_ptr_null(t.msg);
    ck_assert_int_eq(rb_rq_enq_make(&t, "q", 1, 0), -EINVAL);
    rb_rq_enq_free(&t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rb_rq");
    TCase *tc = tcase_create("enq");
    tcase_add_test(tc, filled_request_is_the_schema_encoding);
    tcase_add_test(tc, remade_only_when_the_shape_changes);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
