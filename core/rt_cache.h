/* core/rt_cache: a bounded free list of same-size objects, confined to one thread.
 *
 * Per-request objects (a server job, an Ack fan-out) are made and freed thousands of times a
 * second on the same shard; a free list keeps the last `cap` freed ones for the next request
 * instead of a malloc + free each (glibc's fast paths, and its consolidation, were 16-21 % of
 * the server's samples). Objects come from rt_malloc and go back with rt_free, so they stay
 * ordinary heap blocks: whatever the cache holds at rt_cache_deinit is freed there.
 *
 * Fault injection: a hit asks the installed allocator table for admission (rt_alloc_admit), so
 * the counting allocator numbers a hit like an allocation and can fail it: a test walking
 * allocation failures sees the same allocations with or without the cache.
 *
 * AddressSanitizer: a kept object is poisoned but for its first pointer (the list's link) until a
 * get hands it out again, so a use after rt_cache_put is reported as a use after free would be.
 *
 * Threads: a cache belongs to the thread that called rt_cache_init. get/put from any other
 * thread bypass it (get allocates, put frees): an object that crossed threads goes back to the
 * allocator, never onto another thread's list. No locks, no atomics. */
#ifndef RT_CACHE_H
#define RT_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rt_cache_node rt_cache_node;

typedef struct rt_cache {
    rt_cache_node *head; /* freed objects, most recent first */
    uint32_t count;      /* objects on the list */
    uint32_t cap;        /* most objects the list keeps; 0 after deinit (a pass-through) */
    size_t obj_bytes;    /* size of every object (at least a pointer) */
    const void *owner;   /* the owning thread's token */
} rt_cache;

/* Prepares an empty cache of objects of obj_bytes, keeping at most cap freed ones, owned by
 * the calling thread. Never allocates. */
void rt_cache_init(rt_cache *c, size_t obj_bytes, uint32_t cap);
/* Frees every cached object (rt_free); later puts free at once and gets allocate. */
void rt_cache_deinit(rt_cache *c);
/* Frees every cached object and keeps the cache usable (e.g. when its user goes idle). */
void rt_cache_trim(rt_cache *c);
/* An object of obj_bytes, its contents undefined (as malloc's; the caller clears what it needs,
 * which for a large object sized for the worst case is much less than all of it): the most
 * recently put one, else a fresh rt_malloc. NULL when out of memory or when the allocator
 * table refuses admission (an injected failure). */
void *rt_cache_get(rt_cache *c);
/* Gives back an object that came from rt_cache_get of a cache of the same obj_bytes (or from
 * rt_malloc of obj_bytes): kept when the list has room and the caller owns the cache, else
 * rt_free. NULL is a no-op. Returns true when kept. */
bool rt_cache_put(rt_cache *c, void *p);
/* The calling thread owns c. */
bool rt_cache_owned(const rt_cache *c);

#endif
