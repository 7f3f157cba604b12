/* core/rt_cache: a bounded, thread-confined free list (see rt_cache.h). */
#include "core/rt_cache.h"

#include <assert.h>
#include <string.h>

#include "core/rt_alloc.h"

/* Under AddressSanitizer a kept object is poisoned but for its link, so a use after
 * rt_cache_put is still reported (ASan's own quarantine never sees it: the object is not
 * freed). GCC defines __SANITIZE_ADDRESS__; clang answers __has_feature. */
#if defined(__SANITIZE_ADDRESS__)
#define RT_CACHE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RT_CACHE_ASAN 1
#endif
#endif
#ifdef RT_CACHE_ASAN
#include <sanitizer/asan_interface.h>
#define cache_poison(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define cache_unpoison(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define cache_poison(p, n) ((void)(p), (void)(n))
#define cache_unpoison(p, n) ((void)(p), (void)(n))
#endif

struct rt_cache_node {
    rt_cache_node *next;
};

/* Each thread's identity: the address of its own instance of this variable. */
static _Thread_local char thread_token;

bool rt_cache_owned(const rt_cache *c) { return c->owner == &thread_token; }

void rt_cache_init(rt_cache *c, size_t obj_bytes, uint32_t cap)
{
    memset(c, 0, sizeof *c);
    c->obj_bytes = obj_bytes < sizeof(rt_cache_node) ? sizeof(rt_cache_node) : obj_bytes;
    c->cap = cap;
    c->owner = &thread_token;
}

void rt_cache_trim(rt_cache *c)
{
    assert(rt_cache_owned(c) || c->count == 0);
    while (c->head) {
        rt_cache_node *n = c->head;
        c->head = n->next;
        cache_unpoison(n, c->obj_bytes);
        rt_free(n);
    }
    c->count = 0;
}

void rt_cache_deinit(rt_cache *c)
{
    rt_cache_trim(c);
    c->cap = 0;
}

void *rt_cache_get(rt_cache *c)
{
    if (c->head && rt_cache_owned(c)) {
        if (!rt_alloc_admit()) return NULL;
        rt_cache_node *n = c->head;
        c->head = n->next;
        c->count--;
        cache_unpoison(n, c->obj_bytes);
        return n;
    }
    return rt_malloc(c->obj_bytes);
}

bool rt_cache_put(rt_cache *c, void *p)
{
    if (!p) return false;
    if (c->count >= c->cap || !rt_cache_owned(c)) {
        rt_free(p);
        return false;
    }
    rt_cache_node *n = p;
    n->next = c->head;
    c->head = n;
    c->count++;
    cache_poison((char *)p + sizeof *n, c->obj_bytes - sizeof *n);
    return true;
}
