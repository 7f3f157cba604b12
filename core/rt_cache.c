/* core/rt_cache: a bounded, thread-confined free list (see rt_cache.h). */
#include "core/rt_cache.h"

#include <assert.h>
#include <string.h>

#include "core/rt_alloc.h"

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
    return true;
}
