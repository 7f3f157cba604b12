#include "core/rt_alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static const rt_allocator *hooks; /* NULL: the C library */

void rt_alloc_set(const rt_allocator *a) { hooks = a; }

void *rt_malloc(size_t n) { return hooks ? hooks->malloc_fn(hooks->ud, n) : malloc(n); }

void *rt_calloc(size_t nmemb, size_t size)
{
    return hooks ? hooks->calloc_fn(hooks->ud, nmemb, size) : calloc(nmemb, size);
}

void *rt_realloc(void *p, size_t n)
{
    return hooks ? hooks->realloc_fn(hooks->ud, p, n) : realloc(p, n);
}

void rt_free(void *p)
{
    if (hooks) hooks->free_fn(hooks->ud, p);
    else free(p);
}

void *rt_aligned_alloc(size_t align, size_t n)
{
    return hooks && hooks->aligned_fn ? hooks->aligned_fn(hooks->ud, align, n)
                                      : aligned_alloc(align, n);
}

int rt_alloc_admit(void) { return hooks && hooks->admit_fn ? hooks->admit_fn(hooks->ud) : 1; }

char *rt_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = rt_malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

/* ---- The counting allocator ---- */

static _Atomic uint64_t test_count;
static _Atomic uint64_t test_fail_nth;
static _Atomic int64_t test_live;
static _Atomic int test_failed;
static _Atomic int test_armed;
static _Atomic uint64_t test_heap; /* armed allocations that reached the C library */

/* Counts one allocation; false when it is the one to fail. */
static int test_admit(void)
{
    if (!atomic_load(&test_armed)) return 1;
    uint64_t nth = atomic_fetch_add(&test_count, 1) + 1;
    if (nth == atomic_load(&test_fail_nth)) {
        atomic_store(&test_failed, 1);
        return 0;
    }
    return 1;
}

/* An admitted allocation goes to the C library (not a cache's hit): counted while armed. */
static void test_heap_count(void)
{
    if (atomic_load(&test_armed)) atomic_fetch_add(&test_heap, 1);
}

static void *test_malloc(void *ud, size_t n)
{
    (void)ud;
    if (!test_admit()) return NULL;
    test_heap_count();
    void *p = malloc(n);
    if (p) atomic_fetch_add(&test_live, 1);
    return p;
}

static void *test_calloc(void *ud, size_t nmemb, size_t size)
{
    (void)ud;
    if (!test_admit()) return NULL;
    test_heap_count();
    void *p = calloc(nmemb, size);
    if (p) atomic_fetch_add(&test_live, 1);
    return p;
}

static void *test_realloc(void *ud, void *p, size_t n)
{
    (void)ud;
    if (n == 0) { /* not an allocation: callers never rely on realloc(p, 0) freeing */
        void *q = realloc(p, n);
        return q;
    }
    if (!test_admit()) return NULL;
    test_heap_count();
    void *q = realloc(p, n);
    if (q && !p) atomic_fetch_add(&test_live, 1);
    return q;
}

static void *test_aligned(void *ud, size_t align, size_t n)
{
    (void)ud;
    if (!test_admit()) return NULL;
    test_heap_count();
    void *p = aligned_alloc(align, n);
    if (p) atomic_fetch_add(&test_live, 1);
    return p;
}

static int test_admit_cached(void *ud)
{
    (void)ud;
    return test_admit();
}

static void test_free(void *ud, void *p)
{
    (void)ud;
    if (!p) return;
    atomic_fetch_sub(&test_live, 1);
    free(p);
}

static const rt_allocator test_allocator = {
    .malloc_fn = test_malloc,
    .calloc_fn = test_calloc,
    .realloc_fn = test_realloc,
    .free_fn = test_free,
    .aligned_fn = test_aligned,
    .admit_fn = test_admit_cached,
    .ud = NULL,
};

void rt_alloc_test_start(uint64_t fail_nth)
{
    atomic_store(&test_count, 0);
    atomic_store(&test_heap, 0);
    atomic_store(&test_fail_nth, fail_nth);
    atomic_store(&test_live, 0);
    atomic_store(&test_failed, 0);
    atomic_store(&test_armed, 1);
    rt_alloc_set(&test_allocator);
}

void rt_alloc_test_arm(int armed) { atomic_store(&test_armed, armed); }
uint64_t rt_alloc_test_count(void) { return atomic_load(&test_count); }
uint64_t rt_alloc_test_heap_count(void) { return atomic_load(&test_heap); }
int64_t rt_alloc_test_live(void) { return atomic_load(&test_live); }
int rt_alloc_test_failed(void) { return atomic_load(&test_failed); }
void rt_alloc_test_stop(void) { rt_alloc_set(NULL); }
