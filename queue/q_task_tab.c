/* queue/q_task_tab: task slab, id index (linear probing, backward-shift deletion), timer heap. */
#include "core/rt_alloc.h"
#include "queue/q_task_tab.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Ids are dense log offsets: Fibonacci hashing (the top bits of id * 2^64/phi) spreads runs of
 * consecutive ids evenly over the table. */
static inline uint32_t id_hash(uint64_t id, uint32_t nslots)
{
    return (uint32_t)((id * 0x9E3779B97F4A7C15ull) >> (64 - __builtin_ctz(nslots)));
}

/* Lookups land anywhere in the index and the slab: with millions of tasks, TLB misses cost as
 * much as cache misses, so ask for transparent huge pages (a hint; the kernel may ignore it).
 * Only the 2 MiB-aligned interior of a block can be advised. */
#define HUGE_BYTES (2u << 20)
static void advise_huge(void *p, size_t len)
{
    if (len < 2 * HUGE_BYTES) return;
    uintptr_t a = ((uintptr_t)p + HUGE_BYTES - 1) & ~(uintptr_t)(HUGE_BYTES - 1);
    uintptr_t e = ((uintptr_t)p + len) & ~(uintptr_t)(HUGE_BYTES - 1);
    if (e > a) madvise((void *)a, e - a, MADV_HUGEPAGE);
}

/* Index slots, all Q_NIL. */
static uint32_t *slots_alloc(uint32_t n)
{
    uint32_t *s = rt_malloc((size_t)n * sizeof *s);
    if (!s) return NULL;
    advise_huge(s, (size_t)n * sizeof *s);
    memset(s, 0xff, (size_t)n * sizeof *s);
    return s;
}

int q_task_tab_init(q_task_tab *tt)
{
    memset(tt, 0, sizeof *tt);
    tt->free_head = Q_NIL;
    tt->slots = slots_alloc(Q_TAB_SLOTS_MIN);
    if (!tt->slots) return -ENOMEM;
    tt->nslots = Q_TAB_SLOTS_MIN;
    return 0;
}

void q_task_tab_deinit(q_task_tab *tt)
{
    rt_free(tt->t);
    rt_free(tt->lease_at);
    rt_free(tt->slots);
    rt_free(tt->heap);
    memset(tt, 0, sizeof *tt);
}

uint64_t q_task_tab_bytes(const q_task_tab *tt)
{
    return (uint64_t)tt->cap * (sizeof(q_task) + sizeof *tt->lease_at) + (uint64_t)tt->nslots * 4 +
           (uint64_t)tt->heap_cap * 4;
}

static void index_put(uint32_t *slots, uint32_t nslots, const q_task *t, uint32_t slot)
{
    uint32_t i = id_hash(t[slot].id, nslots);
    while (slots[i] != Q_NIL) i = (i + 1) & (nslots - 1);
    slots[i] = slot;
}

static int index_grow(q_task_tab *tt)
{
    uint32_t n = tt->nslots * 2;
    uint32_t *s = slots_alloc(n);
    if (!s) return -ENOMEM;
    /* Slab order is (mostly) id order: walk it, prefetching where a later task will land. */
    for (uint32_t i = 0; i < tt->used; i++) {
        if (i + Q_TAB_PREFETCH < tt->used)
            __builtin_prefetch(&s[id_hash(tt->t[i + Q_TAB_PREFETCH].id, n)], 1);
        if (tt->t[i].id != Q_TAB_FREE_ID) index_put(s, n, tt->t, i);
    }
    rt_free(tt->slots);
    tt->slots = s;
    tt->nslots = n;
    return 0;
}

int q_task_tab_reserve(q_task_tab *tt, uint32_t n)
{
    uint64_t want = (uint64_t)tt->live + n;
    if (want >= Q_NIL / 2) return -ENOMEM;
    while (want * 100 > (uint64_t)tt->nslots * Q_TAB_LOAD_PCT)
        if (index_grow(tt) != 0) return -ENOMEM;
    if (want > tt->heap_cap) {
        /* Every task may wait at once; the untouched tail of a large block costs no RSS. */
        uint32_t cap = tt->heap_cap ? tt->heap_cap : 1024;
        while (cap < want) cap *= 2;
        uint32_t *h = rt_realloc(tt->heap, (size_t)cap * sizeof *h);
        if (!h) return -ENOMEM;
        tt->heap = h;
        tt->heap_cap = cap;
    }
    /* Free slots are used - live (the free list) plus cap - used (never handed out). */
    if (want > tt->cap) {
        uint32_t cap = tt->cap ? tt->cap : 1024;
        while (cap < want) cap *= 2;
        uint32_t *la = rt_realloc(tt->lease_at, (size_t)cap * sizeof *la);
        if (!la) return -ENOMEM;
        tt->lease_at = la;
        q_task *t = rt_realloc(tt->t, (size_t)cap * sizeof *t);
        if (!t) return -ENOMEM;
        advise_huge(t, (size_t)cap * sizeof *t);
        tt->t = t;
        tt->cap = cap;
    }
    return 0;
}

uint32_t q_task_new(q_task_tab *tt, uint64_t id)
{
    if (q_task_tab_reserve(tt, 1) != 0) return Q_NIL;
    uint32_t slot;
    if (tt->free_head != Q_NIL) {
        slot = tt->free_head;
        tt->free_head = tt->t[slot].next;
    } else {
        assert(tt->used < tt->cap);
        slot = tt->used++;
    }
    q_task *t = &tt->t[slot];
    memset(t, 0, sizeof *t);
    t->id = id;
    t->rec = id;
    t->next = t->prev = t->heap = Q_NIL;
    index_put(tt->slots, tt->nslots, tt->t, slot);
    tt->live++;
    return slot;
}

void q_task_prefetch(const q_task_tab *tt, uint64_t id)
{
    __builtin_prefetch(&tt->slots[id_hash(id, tt->nslots)], 1);
}

uint32_t q_task_find(const q_task_tab *tt, uint64_t id)
{
    uint32_t mask = tt->nslots - 1;
    for (uint32_t i = id_hash(id, tt->nslots);; i = (i + 1) & mask) {
        uint32_t s = tt->slots[i];
        if (s == Q_NIL) return Q_NIL;
        if (tt->t[s].id == id) return s;
    }
}

void q_task_free(q_task_tab *tt, uint32_t slot)
{
    q_task *t = &tt->t[slot];
    assert(t->heap == Q_NIL);
    uint32_t mask = tt->nslots - 1;
    uint32_t i = id_hash(t->id, tt->nslots);
    while (tt->slots[i] != slot) {
        assert(tt->slots[i] != Q_NIL);
        i = (i + 1) & mask;
    }
    /* Backward-shift deletion: pull later members of the probe run into the hole when their
     * home position does not lie cyclically in (hole, j]. No tombstones, so lookups stay short. */
    uint32_t hole = i;
    for (uint32_t j = (i + 1) & mask; tt->slots[j] != Q_NIL; j = (j + 1) & mask) {
        uint32_t home = id_hash(tt->t[tt->slots[j]].id, tt->nslots);
        bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (!stays) {
            tt->slots[hole] = tt->slots[j];
            hole = j;
        }
    }
    tt->slots[hole] = Q_NIL;
    t->state = 0;
    t->id = Q_TAB_FREE_ID;
    t->next = tt->free_head;
    tt->free_head = slot;
    tt->live--;
}

/* ---- heap ---- */

static inline bool before(const q_task *a, const q_task *b)
{
    return a->due < b->due || (a->due == b->due && a->id < b->id);
}

static inline void heap_set(q_task_tab *tt, uint32_t i, uint32_t slot)
{
    tt->heap[i] = slot;
    tt->t[slot].heap = i;
}

/* The moving task's key (due, id) is read once into locals: heap_set's store to a task's heap
 * field may alias it, so the compiler would reload it at every level otherwise. */
static inline bool key_before(const q_task *a, uint64_t due, uint64_t id)
{
    return a->due < due || (a->due == due && a->id < id);
}

static inline bool before_key(uint64_t due, uint64_t id, const q_task *b)
{
    return due < b->due || (due == b->due && id < b->id);
}

static void sift_up(q_task_tab *tt, uint32_t i)
{
    uint32_t slot = tt->heap[i];
    const uint64_t due = tt->t[slot].due, id = tt->t[slot].id;
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!before_key(due, id, &tt->t[tt->heap[parent]])) break;
        heap_set(tt, i, tt->heap[parent]);
        i = parent;
    }
    heap_set(tt, i, slot);
}

static void sift_down(q_task_tab *tt, uint32_t i)
{
    uint32_t slot = tt->heap[i];
    const uint64_t due = tt->t[slot].due, id = tt->t[slot].id;
    const uint32_t n = tt->nheap;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n) break;
        const q_task *tc = &tt->t[tt->heap[c]];
        if (c + 1 < n) {
            const q_task *tr = &tt->t[tt->heap[c + 1]];
            if (before(tr, tc)) {
                c++;
                tc = tr;
            }
        }
        if (!key_before(tc, due, id)) break;
        heap_set(tt, i, tt->heap[c]);
        i = c;
    }
    heap_set(tt, i, slot);
}

void q_heap_push(q_task_tab *tt, uint32_t slot)
{
    assert(tt->t[slot].heap == Q_NIL && tt->nheap < tt->heap_cap);
    tt->heap[tt->nheap] = slot;
    sift_up(tt, tt->nheap++);
}

void q_heap_remove(q_task_tab *tt, uint32_t slot)
{
    uint32_t i = tt->t[slot].heap;
    assert(i < tt->nheap && tt->heap[i] == slot);
    tt->t[slot].heap = Q_NIL;
    uint32_t last = tt->heap[--tt->nheap];
    if (i == tt->nheap) return;
    heap_set(tt, i, last);
    q_heap_fix(tt, last);
}

void q_heap_fix(q_task_tab *tt, uint32_t slot)
{
    uint32_t i = tt->t[slot].heap;
    if (i > 0 && before(&tt->t[slot], &tt->t[tt->heap[(i - 1) / 2]])) sift_up(tt, i);
    else sift_down(tt, i);
}
