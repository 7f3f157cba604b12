/* Unit tests for core/rt_buf and core/rt_alloc: errors come back as negative errno and never
 * through the global errno; a failed reserve leaves the buffer as it was; the counting
 * allocator fails exactly the Nth armed allocation and counts live blocks. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "core/rt_buf.h"
#include "ts_main.h"

/* A value no call of ours would store: proves errno was left alone. */
#define ERRNO_SENTINEL 4242

START_TEST(reserve_over_cap_is_enobufs_without_errno)
{
    buf b;
    buf_init(&b, 100);
    ck_assert_int_eq(buf_append(&b, "0123456789", 10), 0);
    uint8_t *p = (uint8_t *)&b; /* must stay untouched on error */
    errno = ERRNO_SENTINEL;
    ck_assert_int_eq(buf_reserve(&b, 91, &p), -ENOBUFS);
    ck_assert_ptr_eq(p, (uint8_t *)&b);
    ck_assert_int_eq(buf_append(&b, "x", 91), -ENOBUFS);
    ck_assert_int_eq(errno, ERRNO_SENTINEL);
    ck_assert_uint_eq(buf_size(&b), 10);
    ck_assert_mem_eq(buf_begin(&b), "0123456789", 10);
    ck_assert_int_eq(buf_reserve(&b, 90, &p), 0); /* exactly up to the cap */
    memset(p, 'y', 90);
    buf_commit(&b, 90);
    ck_assert_uint_eq(buf_size(&b), 100);
    buf_deinit(&b);
}
END_TEST

START_TEST(reserve_out_of_memory_is_enomem_and_unchanged)
{
    buf b;
    buf_init(&b, 1 << 20);
    ck_assert_int_eq(buf_append(&b, "abc", 3), 0); /* first block: 1 KiB */
    rt_alloc_test_start(1);                        /* the next allocation fails */
    errno = ERRNO_SENTINEL;
    uint8_t *p = NULL;
    ck_assert_int_eq(buf_reserve(&b, 4096, &p), -ENOMEM); /* must grow: allocates */
    ck_assert_ptr_null(p);
    ck_assert_int_eq(errno, ERRNO_SENTINEL);
    ck_assert(rt_alloc_test_failed());
    ck_assert_uint_eq(buf_size(&b), 3);
    ck_assert_mem_eq(buf_begin(&b), "abc", 3);
    ck_assert_int_eq(buf_reserve(&b, 4096, &p), 0); /* only the Nth fails */
    /* +1 for the new block, -1 for the old one (allocated before the start, freed after). */
    ck_assert_int_eq(rt_alloc_test_live(), 0);
    ck_assert_uint_eq(rt_alloc_test_count(), 2);
    rt_alloc_test_stop();
    buf_deinit(&b);
}
END_TEST

START_TEST(truncate_undoes_appends)
{
    buf b;
    buf_init(&b, 1 << 10);
    ck_assert_int_eq(buf_append(&b, "keep", 4), 0);
    buf_consume(&b, 1);
    size_t mark = buf_size(&b);
    ck_assert_int_eq(buf_append(&b, "half-written", 12), 0);
    buf_truncate(&b, mark);
    ck_assert_uint_eq(buf_size(&b), 3);
    ck_assert_mem_eq(buf_begin(&b), "eep", 3);
    buf_deinit(&b);
}
END_TEST

START_TEST(unconsume_takes_back_room_in_front)
{
    buf b;
    buf_init(&b, 1024);
    ck_assert_int_eq(buf_append(&b, "HHHHHbody", 9), 0);
    buf_consume(&b, 5);
    ck_assert_int_eq(buf_unconsume(&b, 6), -ENOSPC); /* only 5 lie in front */
    ck_assert_int_eq(buf_unconsume(&b, 5), 0);
    ck_assert_uint_eq(buf_size(&b), 9);
    ck_assert_int_eq(memcmp(buf_begin(&b), "HHHHHbody", 9), 0);
    buf_consume(&b, 9); /* everything consumed: the room is forgotten */
    ck_assert_int_eq(buf_unconsume(&b, 1), -ENOSPC);
    buf_deinit(&b);
}
END_TEST

START_TEST(counting_allocator_arms_counts_and_balances)
{
    rt_alloc_test_start(0);
    void *a = rt_malloc(10), *c = rt_calloc(2, 8);
    char *s = rt_strdup("text");
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(c);
    ck_assert_str_eq(s, "text");
    a = rt_realloc(a, 100);
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(rt_alloc_test_count(), 4);
    ck_assert_int_eq(rt_alloc_test_live(), 3);
    rt_alloc_test_arm(0); /* disarmed: not numbered, never failed, still live-counted */
    void *d = rt_malloc(1);
    ck_assert_ptr_nonnull(d);
    ck_assert_uint_eq(rt_alloc_test_count(), 4);
    ck_assert_int_eq(rt_alloc_test_live(), 4);
    rt_alloc_test_arm(1);
    rt_free(a);
    rt_free(c);
    rt_free(s);
    rt_free(d);
    rt_free(NULL);
    ck_assert_int_eq(rt_alloc_test_live(), 0);
    ck_assert(!rt_alloc_test_failed());
    rt_alloc_test_start(2); /* the second fails, once */
    void *x = rt_malloc(1), *y = rt_calloc(1, 1), *z = rt_malloc(1);
    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_null(y);
    ck_assert_ptr_nonnull(z);
    ck_assert(rt_alloc_test_failed());
    rt_free(x);
    rt_free(z);
    ck_assert_int_eq(rt_alloc_test_live(), 0);
    rt_alloc_test_stop();
}
END_TEST

int main(void)
{
    Suite *su = suite_create("rt_buf");
    TCase *tc = tcase_create("buf");
    tcase_add_test(tc, reserve_over_cap_is_enobufs_without_errno);
    tcase_add_test(tc, reserve_out_of_memory_is_enomem_and_unchanged);
    tcase_add_test(tc, truncate_undoes_appends);
    tcase_add_test(tc, unconsume_takes_back_room_in_front);
    tcase_add_test(tc, counting_allocator_arms_counts_and_balances);
    suite_add_tcase(su, tc);
    return ts_run_suite(su);
}
