/* Unit tests for core/rt_cache: a freed object is handed out again instead of a new
 * allocation; the list keeps at most `cap` objects and frees the rest; trim empties it and keeps it usable; a hit is numbered by the
 * counting allocator like an allocation and fails when it is the chosen one; another thread
 * never takes from or adds to a cache it does not own (its gets allocate, its puts free);
 * deinit frees what the cache holds. Live-block counts prove nothing leaks. */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "core/rt_cache.h"
#include "ts_main.h"

#define OBJ_BYTES 96u
#define CAP 4u

START_TEST(put_then_get_reuses)
{
    rt_alloc_test_start(0);
    rt_cache c;
    rt_cache_init(&c, OBJ_BYTES, CAP);
    uint8_t *a = rt_cache_get(&c);
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(rt_alloc_test_count(), 1);
    memset(a, 0xab, OBJ_BYTES);
    ck_assert(rt_cache_put(&c, a));
    ck_assert_uint_eq(c.count, 1);
    ck_assert_int_eq(rt_alloc_test_live(), 1); /* kept, not freed */
    uint8_t *b = rt_cache_get(&c);
    ck_assert_ptr_eq(b, a);
    ck_assert_uint_eq(rt_alloc_test_count(), 2);      /* the hit was numbered */
    ck_assert_int_eq(rt_alloc_test_live(), 1);        /* ... but allocated nothing */
    ck_assert_uint_eq(rt_alloc_test_heap_count(), 1); /* and is not a heap allocation */
    ck_assert(!rt_cache_put(&c, NULL));
    ck_assert(rt_cache_put(&c, b));
    rt_cache_deinit(&c);
    ck_assert_int_eq(rt_alloc_test_live(), 0);
    rt_alloc_test_stop();
}
END_TEST

START_TEST(list_is_capped_and_the_rest_is_freed)
{
    rt_alloc_test_start(0);
    rt_cache c;
    rt_cache_init(&c, OBJ_BYTES, CAP);
    void *objs[CAP + 3];
    for (unsigned i = 0; i < CAP + 3; i++) ck_assert_ptr_nonnull(objs[i] = rt_cache_get(&c));
    ck_assert_int_eq(rt_alloc_test_live(), CAP + 3);
    for (unsigned i = 0; i < CAP + 3; i++) ck_assert(rt_cache_put(&c, objs[i]) == (i < CAP));
    ck_assert_uint_eq(c.count, CAP);
    ck_assert_int_eq(rt_alloc_test_live(), CAP); /* the three over the cap went back */
    rt_cache_trim(&c); /* trim frees what is kept but keeps the cache working */
    ck_assert_uint_eq(c.count, 0);
    ck_assert_int_eq(rt_alloc_test_live(), 0);
    void *q = rt_cache_get(&c);
    ck_assert(rt_cache_put(&c, q));
    ck_assert_int_eq(rt_alloc_test_live(), 1);
    rt_cache_deinit(&c);
    ck_assert_int_eq(rt_alloc_test_live(), 0);
    /* After deinit it is a pass-through: nothing is kept. */
    void *p = rt_cache_get(&c);
    ck_assert_ptr_nonnull(p);
    ck_assert(!rt_cache_put(&c, p));
    ck_assert_int_eq(rt_alloc_test_live(), 0);
    rt_alloc_test_stop();
}
END_TEST

START_TEST(a_hit_can_be_the_injected_failure)
{
    rt_cache c;
    rt_cache_init(&c, OBJ_BYTES, CAP);
    rt_alloc_test_start(0);
    void *a = rt_cache_get(&c); /* allocation 1 */
    ck_assert(rt_cache_put(&c, a));
    rt_alloc_test_start(1); /* the next numbered one, a hit, fails */
    ck_assert_ptr_null(rt_cache_get(&c));
    ck_assert(rt_alloc_test_failed());
    ck_assert_uint_eq(c.count, 1); /* the kept object stays kept */
    void *b = rt_cache_get(&c);    /* the failure happens once */
    ck_assert_ptr_eq(b, a);
    ck_assert(rt_cache_put(&c, b));
    rt_cache_deinit(&c);
    rt_alloc_test_stop();
}
END_TEST

typedef struct other_thread {
    rt_cache *c;
    void *taken; /* what get returned there */
    bool owned;  /* rt_cache_owned there */
    bool kept;   /* what put of `give` returned there */
    void *give;
} other_thread;

static void *other_main(void *arg)
{
    other_thread *o = arg;
    o->owned = rt_cache_owned(o->c);
    o->taken = rt_cache_get(o->c);
    o->kept = rt_cache_put(o->c, o->give);
    return NULL;
}

START_TEST(another_thread_neither_takes_nor_adds)
{
    rt_alloc_test_start(0);
    rt_cache c;
    rt_cache_init(&c, OBJ_BYTES, CAP);
    void *mine = rt_cache_get(&c);
    ck_assert(rt_cache_put(&c, mine));
    other_thread o = {.c = &c, .give = rt_malloc(OBJ_BYTES)};
    ck_assert_ptr_nonnull(o.give);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, other_main, &o), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert(rt_cache_owned(&c));
    ck_assert(!o.owned);
    ck_assert_ptr_nonnull(o.taken);
    ck_assert_ptr_ne(o.taken, mine); /* a fresh allocation, not the owner's kept object */
    ck_assert(!o.kept);              /* freed, not put on the owner's list */
    ck_assert_uint_eq(c.count, 1);
    ck_assert_ptr_eq(rt_cache_get(&c), mine);
    rt_free(mine);
    rt_free(o.taken);
    rt_cache_deinit(&c);
    ck_assert_int_eq(rt_alloc_test_live(), 0);
    rt_alloc_test_stop();
}
END_TEST

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
/* Under AddressSanitizer a kept object is poisoned past its link, so a use after put is
 * reported as one after free would be; a get hands it back whole. */
START_TEST(kept_object_is_poisoned_under_asan)
{
    rt_cache c;
    rt_cache_init(&c, OBJ_BYTES, CAP);
    uint8_t *a = rt_cache_get(&c);
    ck_assert_ptr_nonnull(a);
    ck_assert(!__asan_region_is_poisoned(a, OBJ_BYTES));
    ck_assert(rt_cache_put(&c, a));
    ck_assert(__asan_address_is_poisoned(a + sizeof(void *)));
    ck_assert(__asan_address_is_poisoned(a + OBJ_BYTES - 1));
    ck_assert_ptr_eq(rt_cache_get(&c), a);
    ck_assert(!__asan_region_is_poisoned(a, OBJ_BYTES));
    ck_assert(rt_cache_put(&c, a));
    rt_cache_deinit(&c); /* frees the poisoned object without a report */
}
END_TEST
#endif

int main(void)
{
    Suite *su = suite_create("rt_cache");
    TCase *tc = tcase_create("cache");
    tcase_add_test(tc, put_then_get_reuses);
    tcase_add_test(tc, list_is_capped_and_the_rest_is_freed);
    tcase_add_test(tc, a_hit_can_be_the_injected_failure);
    tcase_add_test(tc, another_thread_neither_takes_nor_adds);
#if defined(__SANITIZE_ADDRESS__)
    tcase_add_test(tc, kept_object_is_poisoned_under_asan);
#endif
    suite_add_tcase(su, tc);
    return ts_run_suite(su);
}
