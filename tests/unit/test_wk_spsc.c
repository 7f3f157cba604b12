/* Unit tests for worker/wk_spsc: sizes, FIFO order, full/empty, wrap-around with batches,
 * staging, and a two-thread stress that checks every item arrives exactly once and in order. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "worker/wk_spsc.h"
#include "ts_main.h"

#if defined(__SANITIZE_THREAD__)
#define WK_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WK_TSAN 1
#endif
#endif
/* Items per stress run: millions natively, fewer under TSan (10-50x slower). */
#ifdef WK_TSAN
#define STRESS_ITEMS 200000ull
#else
#define STRESS_ITEMS 20000000ull
#endif

START_TEST(init_rejects_bad_sizes)
{
    wk_spsc r;
    ck_assert_int_eq(wk_spsc_init(&r, 0, 8), -EINVAL);
    ck_assert_int_eq(wk_spsc_init(&r, 1, 8), -EINVAL);
    ck_assert_int_eq(wk_spsc_init(&r, 12, 8), -EINVAL);
    ck_assert_int_eq(wk_spsc_init(&r, WK_SPSC_CAP_MAX * 2u, 8), -EINVAL);
    ck_assert_int_eq(wk_spsc_init(&r, 8, 0), -EINVAL);
    ck_assert_int_eq(wk_spsc_init(&r, 8, WK_SPSC_ELEM_BYTES_MAX + 1), -EINVAL);
    ck_assert_int_eq(wk_spsc_init(&r, 8, 8), 0);
    wk_spsc_deinit(&r);
}
END_TEST

START_TEST(fifo_full_and_empty)
{
    wk_spsc r;
    ck_assert_int_eq(wk_spsc_init(&r, 8, sizeof(uint64_t)), 0);
    uint64_t v;
    ck_assert(!wk_spsc_pop(&r, &v));
    ck_assert(!wk_spsc_readable(&r));
    for (uint64_t i = 0; i < 8; i++) ck_assert(wk_spsc_push(&r, &i));
    v = 99;
    ck_assert(!wk_spsc_push(&r, &v));
    ck_assert(!wk_spsc_writable(&r));
    ck_assert_uint_eq(wk_spsc_size_approx(&r), 8);
    for (uint64_t i = 0; i < 8; i++) {
        ck_assert(wk_spsc_pop(&r, &v));
        ck_assert_uint_eq(v, i);
    }
    ck_assert(!wk_spsc_pop(&r, &v));
    ck_assert_uint_eq(wk_spsc_size_approx(&r), 0);
    wk_spsc_deinit(&r);
}
END_TEST

/* Batches that straddle the wrap point, for the inlined sizes and the generic memcpy path. */
static void wrap_with_elem(uint32_t esz)
{
    wk_spsc r;
    ck_assert_int_eq(wk_spsc_init(&r, 16, esz), 0);
    uint8_t in[64 * 40], out[64 * 40];
    uint32_t next_in = 0, next_out = 0;
    for (int round = 0; round < 200; round++) {
        uint32_t n = (uint32_t)(round * 7 % 13) + 1;
        for (uint32_t i = 0; i < n; i++)
            memset(in + (size_t)i * esz, (int)((next_in + i) & 0xff), esz);
        uint32_t k = wk_spsc_push_n(&r, in, n);
        next_in += k;
        uint32_t m = (uint32_t)(round * 5 % 11) + 1;
        uint32_t got = wk_spsc_pop_n(&r, out, m);
        for (uint32_t i = 0; i < got; i++)
            for (uint32_t b = 0; b < esz; b++)
                ck_assert_uint_eq(out[(size_t)i * esz + b], (next_out + i) & 0xff);
        next_out += got;
        ck_assert_uint_le(next_in - next_out, 16);
    }
    uint32_t got;
    while ((got = wk_spsc_pop_n(&r, out, 40)) > 0) next_out += got;
    ck_assert_uint_eq(next_in, next_out);
    ck_assert_uint_gt(next_in, 16 * 10); /* wrapped many times */
    wk_spsc_deinit(&r);
}

START_TEST(wrap_around_batches)
{
    wrap_with_elem(8);
    wrap_with_elem(32);
    wrap_with_elem(24);
    wrap_with_elem(1);
}
END_TEST

START_TEST(partial_batch_when_nearly_full)
{
    wk_spsc r;
    ck_assert_int_eq(wk_spsc_init(&r, 8, sizeof(uint64_t)), 0);
    uint64_t in[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, out[12];
    ck_assert_uint_eq(wk_spsc_push_n(&r, in, 5), 5);
    ck_assert_uint_eq(wk_spsc_push_n(&r, in + 5, 7), 3);
    ck_assert_uint_eq(wk_spsc_push_n(&r, in + 8, 4), 0);
    ck_assert_uint_eq(wk_spsc_pop_n(&r, out, 12), 8);
    for (int i = 0; i < 8; i++) ck_assert_uint_eq(out[i], (uint64_t)i);
    wk_spsc_deinit(&r);
}
END_TEST

START_TEST(staged_items_are_invisible_until_published)
{
    wk_spsc r;
    ck_assert_int_eq(wk_spsc_init(&r, 8, sizeof(uint64_t)), 0);
    uint64_t v = 42;
    ck_assert(wk_spsc_stage(&r, &v));
    v = 43;
    ck_assert(wk_spsc_stage(&r, &v));
    ck_assert_uint_eq(wk_spsc_staged(&r), 2);
    ck_assert(!wk_spsc_readable(&r));
    ck_assert(!wk_spsc_pop(&r, &v));
    wk_spsc_publish(&r);
    ck_assert_uint_eq(wk_spsc_staged(&r), 0);
    ck_assert(wk_spsc_readable(&r));
    ck_assert(wk_spsc_pop(&r, &v));
    ck_assert_uint_eq(v, 42);
    /* Staged items count against capacity. */
    for (uint64_t i = 0; i < 7; i++) ck_assert(wk_spsc_stage(&r, &i));
    ck_assert(!wk_spsc_stage(&r, &v));
    wk_spsc_deinit(&r);
}
END_TEST

/* The one-item push publishes what was staged before it, in order, and respects capacity. */
START_TEST(push_one_publishes_staged_items)
{
    wk_spsc r;
    ck_assert_int_eq(wk_spsc_init(&r, 4, sizeof(uint32_t)), 0);
    uint32_t v = 1;
    ck_assert(wk_spsc_stage(&r, &v));
    v = 2;
    ck_assert(wk_spsc_stage(&r, &v));
    ck_assert(!wk_spsc_readable(&r));
    v = 3;
    ck_assert(wk_spsc_push_one_sized(&r, &v, sizeof v));
    ck_assert_uint_eq(wk_spsc_staged(&r), 0);
    ck_assert_uint_eq(wk_spsc_size_approx(&r), 3);
    v = 4;
    ck_assert(wk_spsc_push_one_sized(&r, &v, sizeof v));
    ck_assert(!wk_spsc_push_one_sized(&r, &v, sizeof v)); /* full */
    for (uint32_t want = 1; want <= 4; want++) {
        ck_assert(wk_spsc_pop_one_sized(&r, &v, sizeof v));
        ck_assert_uint_eq(v, want);
    }
    ck_assert(!wk_spsc_pop_one_sized(&r, &v, sizeof v));
    /* Wraps: the positions keep growing past the capacity. */
    for (uint32_t i = 0; i < 10; i++) {
        ck_assert(wk_spsc_push_one_sized(&r, &i, sizeof i));
        ck_assert(wk_spsc_pop_one_sized(&r, &v, sizeof v));
        ck_assert_uint_eq(v, i);
    }
    wk_spsc_deinit(&r);
}
END_TEST

/* ---- two-thread stress ---- */

typedef struct {
    wk_spsc *r;
    uint64_t n;
    int mode; /* 0: push_n of 1, 1: push_n, 2: stage then publish, 3: push_one/pop_one */
    uint64_t bad;
} stress_arg;

static void *producer(void *p)
{
    stress_arg *a = p;
    uint64_t next = 0, buf[37];
    unsigned seed = 1;
    while (next < a->n) {
        uint32_t want = a->mode == 0 || a->mode == 3 ? 1 : (uint32_t)(rand_r(&seed) % 37) + 1;
        if (want > a->n - next) want = (uint32_t)(a->n - next);
        for (uint32_t i = 0; i < want; i++) buf[i] = next + i;
        uint32_t k;
        if (a->mode == 3) {
            k = wk_spsc_push_one_sized(a->r, buf, sizeof buf[0]);
        } else if (a->mode == 2) {
            k = wk_spsc_stage_n(a->r, buf, want);
            if (k) wk_spsc_publish(a->r);
        } else {
            k = wk_spsc_push_n(a->r, buf, want);
        }
        next += k;
        if (!k) sched_yield();
    }
    return NULL;
}

static void *consumer(void *p)
{
    stress_arg *a = p;
    uint64_t next = 0, buf[41];
    unsigned seed = 2;
    while (next < a->n) {
        uint32_t want = a->mode == 0 || a->mode == 3 ? 1 : (uint32_t)(rand_r(&seed) % 41) + 1;
        uint32_t k = a->mode == 3 ? wk_spsc_pop_one_sized(a->r, buf, sizeof buf[0])
                                  : wk_spsc_pop_n(a->r, buf, want);
        for (uint32_t i = 0; i < k; i++)
            if (buf[i] != next + i) a->bad++;
        next += k;
        if (!k) sched_yield();
    }
    return NULL;
}

static void run_stress(int mode, uint64_t n, uint32_t cap)
{
    wk_spsc r;
    ck_assert_int_eq(wk_spsc_init(&r, cap, sizeof(uint64_t)), 0);
    stress_arg a = {.r = &r, .n = n, .mode = mode};
    pthread_t pt, ct;
    ck_assert_int_eq(pthread_create(&ct, NULL, consumer, &a), 0);
    ck_assert_int_eq(pthread_create(&pt, NULL, producer, &a), 0);
    pthread_join(pt, NULL);
    pthread_join(ct, NULL);
    ck_assert_uint_eq(a.bad, 0);
    uint64_t v;
    ck_assert(!wk_spsc_pop(&r, &v));
    wk_spsc_deinit(&r);
}

START_TEST(stress_single_items) { run_stress(0, STRESS_ITEMS / 4, 1024); }
END_TEST
START_TEST(stress_one_item_fast_path) { run_stress(3, STRESS_ITEMS / 4, 256); }
END_TEST
START_TEST(stress_batches) { run_stress(1, STRESS_ITEMS, 1024); }
END_TEST
START_TEST(stress_staged_batches_small_ring) { run_stress(2, STRESS_ITEMS / 4, 64); }
END_TEST

int main(void)
{
    Suite *s = suite_create("wk_spsc");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, init_rejects_bad_sizes);
    tcase_add_test(tc, fifo_full_and_empty);
    tcase_add_test(tc, wrap_around_batches);
    tcase_add_test(tc, partial_batch_when_nearly_full);
    tcase_add_test(tc, staged_items_are_invisible_until_published);
    tcase_add_test(tc, push_one_publishes_staged_items);
    tcase_add_test(tc, stress_single_items);
    tcase_add_test(tc, stress_one_item_fast_path);
    tcase_add_test(tc, stress_batches);
    tcase_add_test(tc, stress_staged_batches_small_ring);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
