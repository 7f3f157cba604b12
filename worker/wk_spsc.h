/* worker/wk_spsc: a bounded single-producer single-consumer ring of fixed-size elements.
 *
 * Model
 *   Capacity is a power of two. Positions are 64-bit counters that only grow (they cannot wrap in
 *   the life of a process), the slot of position p is p & mask, and "used" is tail - head.
 *
 *   The producer owns `tail` and the consumer owns `head`; each lives on its own cache line
 *   together with that side's private state. Each side keeps a cached copy of the other side's
 *   index and only reloads it (one cache-line transfer) when the cached value says the ring is
 *   full (producer) or empty (consumer), so a stream of items costs about one transfer per
 *   ring's worth of items in each direction instead of one per item.
 *
 *   The producer may stage items without publishing them (wk_spsc_stage*), then make a whole
 *   batch visible with one release store (wk_spsc_publish). The mailbox uses this to batch the
 *   messages of one loop iteration.
 *
 * Memory order (the only two cross-thread edges)
 *   - producer: slot writes, then release-store of tail. Consumer: acquire-load of tail, then slot
 *     reads. So a consumer that sees tail = t sees every slot below t fully written.
 *   - consumer: slot reads, then release-store of head. Producer: acquire-load of head, then slot
 *     writes. So the producer never overwrites a slot the consumer is still copying out.
 *   Each side's own index is read relaxed (only its owner writes it).
 *
 * Threads
 *   Exactly one producer thread calls the stage/publish/push functions and wk_spsc_writable();
 *   exactly one consumer thread calls the pop functions and wk_spsc_readable(). Any thread may
 *   call wk_spsc_size_approx(). init/deinit are not concurrent with anything. */
#ifndef WK_SPSC_H
#define WK_SPSC_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Distance that keeps two hot indexes from sharing a line: 64-byte lines, and x86's adjacent-line
 * prefetcher pulls pairs, so 128. */
#define WK_CACHE_LINE_BYTES 128
/* Largest ring: 2^24 slots (bounded memory; a mailbox lane is far smaller). */
#define WK_SPSC_CAP_MAX (1u << 24)
/* Largest element: messages are small fixed-size structs; larger payloads travel by pointer. */
#define WK_SPSC_ELEM_BYTES_MAX 256u

typedef struct wk_spsc {
    /* Producer's line. */
    alignas(WK_CACHE_LINE_BYTES) _Atomic uint64_t tail; /* published: [head, tail) readable */
    uint64_t tail_staged; /* producer-private: next position to write (>= tail) */
    uint64_t head_cache;  /* producer-private: last head seen */
    /* Consumer's line. */
    alignas(WK_CACHE_LINE_BYTES) _Atomic uint64_t head; /* [tail - cap, head) writable */
    uint64_t tail_cache;                                /* consumer-private: last tail seen */
    /* Read-only after init. */
    alignas(WK_CACHE_LINE_BYTES) uint8_t *slots;
    uint64_t mask;
    uint32_t cap;
    uint32_t elem_size;
} wk_spsc;

/* Initializes an empty ring of `cap` slots (a power of two, 2..WK_SPSC_CAP_MAX) of `elem_size`
 * bytes (1..WK_SPSC_ELEM_BYTES_MAX). Returns 0, -EINVAL (bad sizes) or -ENOMEM. */
int wk_spsc_init(wk_spsc *r, uint32_t cap, uint32_t elem_size);
/* Frees the slots. Items still inside are discarded. */
void wk_spsc_deinit(wk_spsc *r);

/* Copies `n` elements of `esz` bytes. When a caller passes a constant esz (the *_sized
 * functions), the compiler turns this into inline moves instead of a memcpy call. */
static inline void wk_spsc_copy_(uint8_t *dst, const uint8_t *src, uint32_t n, uint32_t esz)
{
    memcpy(dst, src, (size_t)n * esz);
}

/* Producer: free slots, counting staged items as used. Reloads head only when the cached value
 * shows fewer than `want` free. */
static inline uint32_t wk_spsc_free_(wk_spsc *r, uint32_t want)
{
    uint64_t free_slots = r->cap - (r->tail_staged - r->head_cache);
    if (free_slots < want) {
        /* Acquire: pairs with the consumer's release store of head, so its reads of the slots we
         * are about to reuse are complete before we overwrite them. */
        r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
        free_slots = r->cap - (r->tail_staged - r->head_cache);
    }
    return (uint32_t)free_slots;
}

/* Producer: writes up to `n` elements from `items` after the staged ones without publishing
 * them. Returns how many were written (fewer when the ring is full; 0 when it is full).
 * `esz` must equal the ring's elem_size: pass sizeof(your type) so the copy is inlined. */
static inline uint32_t wk_spsc_stage_sized(wk_spsc *r, const void *items, uint32_t n, uint32_t esz)
{
    uint32_t k = wk_spsc_free_(r, n);
    if (k > n) k = n;
    if (k == 0) return 0;
    uint32_t idx = (uint32_t)(r->tail_staged & r->mask);
    uint32_t first = r->cap - idx < k ? r->cap - idx : k;
    const uint8_t *src = items;
    wk_spsc_copy_(r->slots + (size_t)idx * esz, src, first, esz);
    if (k > first) wk_spsc_copy_(r->slots, src + (size_t)first * esz, k - first, esz);
    r->tail_staged += k;
    return k;
}

static inline uint32_t wk_spsc_stage_n(wk_spsc *r, const void *items, uint32_t n)
{
    return wk_spsc_stage_sized(r, items, n, r->elem_size);
}

/* Producer: stages one element. Returns false when the ring is full. */
static inline bool wk_spsc_stage(wk_spsc *r, const void *item)
{
    return wk_spsc_stage_n(r, item, 1) == 1;
}

/* Producer: number of staged, unpublished elements. */
static inline uint32_t wk_spsc_staged(const wk_spsc *r)
{
    /* Relaxed: tail is written only by this (the producer) thread. */
    return (uint32_t)(r->tail_staged - atomic_load_explicit(&r->tail, memory_order_relaxed));
}

/* Producer: makes every staged element visible to the consumer. */
static inline void wk_spsc_publish(wk_spsc *r)
{
    /* Release: the slot writes above become visible before the new tail (pairs with the
     * consumer's acquire load of tail). */
    atomic_store_explicit(&r->tail, r->tail_staged, memory_order_release);
}

/* Producer: stages and publishes up to `n` elements; returns how many went in. */
static inline uint32_t wk_spsc_push_n(wk_spsc *r, const void *items, uint32_t n)
{
    uint32_t k = wk_spsc_stage_n(r, items, n);
    if (k) wk_spsc_publish(r);
    return k;
}

/* Producer: push_n with a constant element size (pass sizeof(your type)): the copy is inlined,
 * which is what a one-item push costs most without it. */
static inline uint32_t wk_spsc_push_sized(wk_spsc *r, const void *items, uint32_t n, uint32_t esz)
{
    uint32_t k = wk_spsc_stage_sized(r, items, n, esz);
    if (k) wk_spsc_publish(r);
    return k;
}

/* Producer: stages and publishes one element of `esz` bytes (pass sizeof(your type)); returns
 * false when the ring is full. Same effect as push_sized(r, item, 1, esz), without the batch
 * path's clamping and wrap split: one compare, one inlined copy, two stores. Any staged items are
 * published with it. */
static inline bool wk_spsc_push_one_sized(wk_spsc *r, const void *item, uint32_t esz)
{
    uint64_t t = r->tail_staged;
    if (t - r->head_cache >= r->cap) {
        /* Acquire: as in wk_spsc_free_ (the consumer's reads of this slot are done). */
        r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
        if (t - r->head_cache >= r->cap) return false;
    }
    memcpy(r->slots + (size_t)(t & r->mask) * esz, item, esz);
    r->tail_staged = t + 1;
    /* Release: the slot write above is visible before the new tail (as in wk_spsc_publish). */
    atomic_store_explicit(&r->tail, t + 1, memory_order_release);
    return true;
}

static inline bool wk_spsc_push(wk_spsc *r, const void *item)
{
    return wk_spsc_push_one_sized(r, item, r->elem_size);
}

/* Producer: true when at least one slot is free (reloads head if the cache says full). */
static inline bool wk_spsc_writable(wk_spsc *r) { return wk_spsc_free_(r, 1) > 0; }

/* Consumer: readable elements; reloads tail only when the cached value shows fewer than `want`. */
static inline uint32_t wk_spsc_avail_(wk_spsc *r, uint64_t head, uint32_t want)
{
    uint64_t avail = r->tail_cache - head;
    if (avail < want) {
        /* Acquire: pairs with the producer's release store of tail, so the slots below the new
         * tail are fully written before we read them. */
        r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
        avail = r->tail_cache - head;
    }
    return (uint32_t)avail;
}

/* Consumer: copies up to `n` elements into `out` and frees their slots. Returns how many.
 * `esz` must equal the ring's elem_size (a constant lets the compiler inline the copy). */
static inline uint32_t wk_spsc_pop_sized(wk_spsc *r, void *out, uint32_t n, uint32_t esz)
{
    /* Relaxed: head is written only by this (the consumer) thread. */
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint32_t k = wk_spsc_avail_(r, head, n);
    if (k > n) k = n;
    if (k == 0) return 0;
    uint32_t idx = (uint32_t)(head & r->mask);
    uint32_t first = r->cap - idx < k ? r->cap - idx : k;
    uint8_t *dst = out;
    wk_spsc_copy_(dst, r->slots + (size_t)idx * esz, first, esz);
    if (k > first) wk_spsc_copy_(dst + (size_t)first * esz, r->slots, k - first, esz);
    /* Release: our slot reads complete before the producer can see these slots as free (pairs
     * with its acquire load of head). */
    atomic_store_explicit(&r->head, head + k, memory_order_release);
    return k;
}

static inline uint32_t wk_spsc_pop_n(wk_spsc *r, void *out, uint32_t n)
{
    return wk_spsc_pop_sized(r, out, n, r->elem_size);
}

/* Consumer: takes one element of `esz` bytes (pass sizeof(your type)) into `out`; returns false
 * when none is published. The one-item counterpart of pop_sized, as push_one_sized is of
 * push_sized. */
static inline bool wk_spsc_pop_one_sized(wk_spsc *r, void *out, uint32_t esz)
{
    /* Relaxed: head is written only by this (the consumer) thread. */
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (h == r->tail_cache) {
        /* Acquire: as in wk_spsc_avail_ (the slot below the new tail is fully written). */
        r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (h == r->tail_cache) return false;
    }
    memcpy(out, r->slots + (size_t)(h & r->mask) * esz, esz);
    /* Release: our slot read completes before the producer may reuse the slot. */
    atomic_store_explicit(&r->head, h + 1, memory_order_release);
    return true;
}

static inline bool wk_spsc_pop(wk_spsc *r, void *out)
{
    return wk_spsc_pop_one_sized(r, out, r->elem_size);
}

/* Consumer: true when at least one published element is waiting. */
static inline bool wk_spsc_readable(wk_spsc *r)
{
    /* Relaxed: head is written only by this (the consumer) thread. */
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    return wk_spsc_avail_(r, head, 1) > 0;
}

/* Any thread: published, unconsumed elements at some recent instant (a hint for stats). */
static inline uint32_t wk_spsc_size_approx(const wk_spsc *r)
{
    /* Relaxed: a statistic; no data is read on the strength of it. Head first so the difference
     * never goes negative (tail only grows, and never passes a later head by more than cap). */
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    return t >= h ? (uint32_t)(t - h) : 0;
}

#endif
