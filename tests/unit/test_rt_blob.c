/* Unit tests for core/rt_blob: a blob takes a buffer's storage without copying; its header sits
 * in the storage's free tail when it fits there (no allocation) and is allocated otherwise; the
 * bytes stay where they were, on_free runs once with the last reference, and nothing leaks
 * (counting allocator: allocations numbered, live blocks zero at the end). */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "core/rt_blob.h"
#include "ts_main.h"

static int freed_calls;
static size_t freed_len;
static void on_free(rt_blob *b)
{
    freed_calls++;
    freed_len = b->len;
}

/* Fills b with n bytes 0, 1, 2, ... (mod 251). */
static void fill(buf *b, size_t n)
{
    uint8_t *p;
    ck_assert_int_eq(buf_reserve(b, n, &p), 0);
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i % 251);
    buf_commit(b, n);
}

static void check_bytes(const rt_blob *bl, size_t n)
{
    ck_assert_uint_eq(bl->len, n);
    for (size_t i = 0; i < n; i++) ck_assert_uint_eq(bl->data[i], (uint8_t)(i % 251));
}

START_TEST(header_in_the_slack_allocates_nothing)
{
    freed_calls = 0;
    rt_alloc_test_start(0);
    buf b;
    buf_init(&b, 1 << 20);
    fill(&b, 100); /* the first allocation is far larger than 100 bytes + a header */
    const uint8_t *bytes = buf_begin(&b);
    uint64_t before = rt_alloc_test_count();
    rt_blob *bl = rt_blob_from_buf(&b, on_free, NULL);
    ck_assert_ptr_nonnull(bl);
    ck_assert_uint_eq(rt_alloc_test_count(), before); /* no allocation for the header */
    ck_assert_ptr_eq(bl->data, bytes);                /* nothing copied or moved */
    ck_assert_uint_eq(buf_size(&b), 0);
    check_bytes(bl, 100);
    rt_blob_ref(bl);
    rt_blob_unref(bl);
    ck_assert_int_eq(freed_calls, 0);
    check_bytes(bl, 100);
    rt_blob_unref(bl);
    ck_assert_int_eq(freed_calls, 1);
    ck_assert_uint_eq(freed_len, 100);
    buf_deinit(&b);
    ck_assert_int_eq(rt_alloc_test_live(), 0);
    rt_alloc_test_stop();
}
END_TEST

START_TEST(full_storage_allocates_the_header)
{
    freed_calls = 0;
    rt_alloc_test_start(0);
    buf b;
    buf_init(&b, 1 << 20);
    fill(&b, 1);
    size_t cap = b.len; /* fill the storage to its last byte: no slack at all */
    fill(&b, cap - 1);
    ck_assert_uint_eq(b.wr, b.len);
    uint64_t before = rt_alloc_test_count();
    rt_blob *bl = rt_blob_from_buf(&b, on_free, NULL);
    ck_assert_ptr_nonnull(bl);
    ck_assert_uint_eq(rt_alloc_test_count(), before + 1);
    ck_assert_uint_eq(bl->len, cap);
    ck_assert_uint_eq(bl->data[0], 0);
    rt_blob_unref(bl);
    ck_assert_int_eq(freed_calls, 1);
    ck_assert_int_eq(rt_alloc_test_live(), 0);
    /* The same with the header's allocation failing: NULL, and the buffer is untouched. */
    fill(&b, 1);
    cap = b.len;
    fill(&b, cap - 1);
    rt_alloc_test_start(1); /* the next allocation fails */
    ck_assert_ptr_null(rt_blob_from_buf(&b, on_free, NULL));
    ck_assert(rt_alloc_test_failed());
    ck_assert_uint_eq(buf_size(&b), cap);
    buf_deinit(&b);
    rt_alloc_test_stop();
}
END_TEST

START_TEST(empty_buffer_and_copies)
{
    rt_alloc_test_start(0);
    buf b;
    buf_init(&b, 64);
    ck_assert_ptr_null(rt_blob_from_buf(&b, NULL, NULL));
    rt_blob *c = rt_blob_copy("abc", 3);
    ck_assert_ptr_nonnull(c);
    ck_assert(c->len == 3 && memcmp(c->data, "abc", 3) == 0);
    rt_blob_unref(c);
    rt_blob_unref(NULL);
    ck_assert_int_eq(rt_alloc_test_live(), 0);
    rt_alloc_test_stop();
}
END_TEST

int main(void)
{
    Suite *su = suite_create("rt_blob");
    TCase *tc = tcase_create("blob");
    tcase_add_test(tc, header_in_the_slack_allocates_nothing);
    tcase_add_test(tc, full_storage_allocates_the_header);
    tcase_add_test(tc, empty_buffer_and_copies);
    suite_add_tcase(su, tc);
    return ts_run_suite(su);
}
