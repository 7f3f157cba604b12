/* core/rt_alloc: the one allocator of core/, proto_wire/, queue/, worker/ and server/, behind a
 * table tests can swap.
 *
 * Every heap allocation in those layers (buffers, the HTTP/2 session and its streams,
 * HPACK tables, gRPC calls, the mesh's cache-aligned lanes) goes through rt_malloc / rt_calloc /
 * rt_realloc / rt_aligned_alloc / rt_free. By default they are the C library's. A test installs its own table (rt_alloc_set) or the
 * counting one below, which fails a chosen allocation: STYLE "fault injection seams" (SQLite's
 * overridable system calls, nghttp2's failing-allocation tests).
 *
 * Errors: the functions return NULL exactly when the C library's would (out of memory, or an
 * injected failure); callers turn that into -ENOMEM. They never set or read the global errno
 * on our behalf (the C library may still set it).
 *
 * Threads: the table pointer is read on every call without synchronisation; install or remove
 * a table only while no other thread allocates through it (tests do it between exchanges).
 * The counting allocator's counters are atomic. */
#ifndef RT_ALLOC_H
#define RT_ALLOC_H

#include <stddef.h>
#include <stdint.h>

typedef struct rt_allocator {
    void *(*malloc_fn)(void *ud, size_t n);
    void *(*calloc_fn)(void *ud, size_t nmemb, size_t size);
    void *(*realloc_fn)(void *ud, void *p, size_t n);
    void (*free_fn)(void *ud, void *p);
    /* As aligned_alloc(3), freed by free_fn; NULL in a table: the C library's. */
    void *(*aligned_fn)(void *ud, size_t align, size_t n);
    /* Asked when a cache (core/rt_cache) hands out a block it kept instead of allocating: 0
     * refuses it like a failed allocation. NULL in a table: always admitted. */
    int (*admit_fn)(void *ud);
    void *ud;
} rt_allocator;

/* Installs `a` (borrowed: it must outlive its use) for every later call; NULL restores the C
 * library. Memory must be freed by the table that allocated it. */
void rt_alloc_set(const rt_allocator *a);

void *rt_malloc(size_t n);
/* Zeroed; NULL also when nmemb * size overflows (the C library's check). */
void *rt_calloc(size_t nmemb, size_t size);
/* As realloc(3): on NULL the old block is untouched and still owned by the caller. */
void *rt_realloc(void *p, size_t n);
void rt_free(void *p); /* NULL is a no-op */
/* As aligned_alloc(3) (`n` a multiple of `align`, a power of two); freed with rt_free. The
 * counting allocator counts it and may fail it like the others. */
void *rt_aligned_alloc(size_t align, size_t n);
/* Whether a cache may hand out a block it kept (an allocation that reaches no allocator):
 * 1, or 0 when the installed table refuses it (the counting allocator numbers it like an
 * allocation and fails the chosen one). */
int rt_alloc_admit(void);
/* A copy of the string `s` (borrowed) through rt_malloc; NULL when out of memory. */
char *rt_strdup(const char *s);

/* ---- The counting allocator, for tests ----
 * Counts allocations (malloc, calloc, realloc of any pointer to a non-zero size, and a cache's
 * admissions: rt_alloc_admit) and live
 * blocks, and fails the allocation numbered `fail_nth` (1-based, counted from the last
 * rt_alloc_test_start), once. fail_nth 0 fails nothing: a dry run that counts. */
void rt_alloc_test_start(uint64_t fail_nth);
/* Only armed allocations are numbered (and may fail); all are counted in `live`. Armed from
 * rt_alloc_test_start on; a test disarms it while its own scaffolding (a scripted peer)
 * allocates, so that only the code under test sees the failure. */
void rt_alloc_test_arm(int armed);
/* Armed allocations seen since rt_alloc_test_start. */
uint64_t rt_alloc_test_count(void);
/* Those of them that reached the C library: rt_alloc_test_count less the caches' admissions
 * (core/rt_cache hits), so a test can tell a heap round trip from a reused object. */
uint64_t rt_alloc_test_heap_count(void);
/* Blocks allocated since rt_alloc_test_start and not yet freed (a leak if non-zero after
 * teardown). Blocks allocated before the start and freed after it count as -1 each. */
int64_t rt_alloc_test_live(void);
/* The injected failure has happened. */
int rt_alloc_test_failed(void);
/* Removes the counting allocator (rt_alloc_set(NULL)). */
void rt_alloc_test_stop(void);

#endif
