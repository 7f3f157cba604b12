/* worker/wk_mpmc: a bounded multi-producer multi-consumer ring (Vyukov's design: one sequence
 * number per cell). Feeds the worker pool.
 *
 * Model
 *   Capacity is a power of two. Each cell carries `seq`:
 *     seq == pos          the cell is free for the producer that claims position `pos`;
 *     seq == pos + 1      it holds the element of position `pos`, ready for its consumer;
 *     seq == pos + cap    the consumer of `pos` is done; free for position pos + cap.
 *   A producer claims a position with a CAS on enq_pos, writes the element, then release-stores
 *   seq = pos + 1. A consumer claims with a CAS on deq_pos, copies out, then release-stores
 *   seq = pos + cap. The CASes only pick a position; all data hand-off goes through `seq`, so
 *   they are relaxed.
 *
 * Guarantees
 *   Every element pushed is popped exactly once. Elements leave in claim order, so any one
 *   consumer sees the elements of any one producer in that producer's order. Push fails only
 *   when the ring is full and pop only when it is empty (at the instant of the check); neither
 *   blocks or allocates. Not "lock-free" in the strict sense: a producer preempted between its
 *   claim and its seq store delays consumers of that cell (they see it empty), not others.
 *
 * Threads: push and pop from any number of threads; init/deinit not concurrent with anything. */
#ifndef WK_MPMC_H
#define WK_MPMC_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "worker/wk_spsc.h" /* WK_CACHE_LINE_BYTES */

/* Largest ring: 2^22 cells (the pool's queue is a few thousand). */
#define WK_MPMC_CAP_MAX (1u << 22)
/* Largest element: jobs travel by pointer; small structs fit. */
#define WK_MPMC_ELEM_BYTES_MAX 128u

typedef struct wk_mpmc {
    alignas(WK_CACHE_LINE_BYTES) _Atomic uint64_t enq_pos; /* next position to claim for push */
    alignas(WK_CACHE_LINE_BYTES) _Atomic uint64_t deq_pos; /* next position to claim for pop */
    /* Read-only after init. */
    alignas(WK_CACHE_LINE_BYTES) uint8_t *cells;
    uint64_t mask;
    uint32_t cap;
    uint32_t elem_size;
    uint32_t stride; /* bytes per cell: the 8-byte seq then the element, rounded up to 8 */
} wk_mpmc;

/* Initializes an empty ring of `cap` cells (a power of two, 2..WK_MPMC_CAP_MAX) of `elem_size`
 * bytes (1..WK_MPMC_ELEM_BYTES_MAX). Returns 0, -EINVAL or -ENOMEM. */
int wk_mpmc_init(wk_mpmc *q, uint32_t cap, uint32_t elem_size);
/* Frees the cells; elements still inside are discarded. */
void wk_mpmc_deinit(wk_mpmc *q);

/* Copies `item` (elem_size bytes) in. Returns false when full. */
bool wk_mpmc_push(wk_mpmc *q, const void *item);
/* Copies the oldest element into `out`. Returns false when empty. */
bool wk_mpmc_pop(wk_mpmc *q, void *out);
/* Any thread: elements inside at some recent instant (a hint). */
uint32_t wk_mpmc_size_approx(const wk_mpmc *q);

#endif
