/* worker/wk_mpmc: Vyukov's bounded MPMC ring. See wk_mpmc.h for the cell states. */
#include "core/rt_alloc.h"
#include "worker/wk_mpmc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

_Static_assert((WK_MPMC_CAP_MAX & (WK_MPMC_CAP_MAX - 1)) == 0, "cap max is a power of two");
_Static_assert((uint64_t)WK_MPMC_CAP_MAX *(WK_MPMC_ELEM_BYTES_MAX + 8) <= (1ull << 32),
               "largest ring stays under 4 GiB");

typedef struct wk_cell {
    _Atomic uint64_t seq;
    alignas(8) uint8_t data[];
} wk_cell;

static inline wk_cell *cell_at(const wk_mpmc *q, uint64_t pos)
{
    return (wk_cell *)(q->cells + (size_t)(pos & q->mask) * q->stride);
}

int wk_mpmc_init(wk_mpmc *q, uint32_t cap, uint32_t elem_size)
{
    if (cap < 2 || cap > WK_MPMC_CAP_MAX || (cap & (cap - 1)) != 0) return -EINVAL;
    if (elem_size == 0 || elem_size > WK_MPMC_ELEM_BYTES_MAX) return -EINVAL;
    uint32_t stride = (uint32_t)((sizeof(uint64_t) + elem_size + 7u) & ~7u);
    size_t bytes = (size_t)cap * stride;
    bytes = (bytes + WK_CACHE_LINE_BYTES - 1) & ~(size_t)(WK_CACHE_LINE_BYTES - 1);
    q->cells = rt_aligned_alloc(WK_CACHE_LINE_BYTES, bytes);
    if (!q->cells) return -ENOMEM;
    q->mask = cap - 1;
    q->cap = cap;
    q->elem_size = elem_size;
    q->stride = stride;
    /* Relaxed: init happens before the ring is shared (thread creation orders it). */
    for (uint64_t i = 0; i < cap; i++)
        atomic_store_explicit(&cell_at(q, i)->seq, i, memory_order_relaxed);
    atomic_store_explicit(&q->enq_pos, 0, memory_order_relaxed);
    atomic_store_explicit(&q->deq_pos, 0, memory_order_relaxed);
    return 0;
}

void wk_mpmc_deinit(wk_mpmc *q)
{
    rt_free(q->cells);
    q->cells = NULL;
    q->cap = 0;
}

bool wk_mpmc_push(wk_mpmc *q, const void *item)
{
    /* Relaxed: enq_pos only picks a candidate position; the cell's seq decides. */
    uint64_t pos = atomic_load_explicit(&q->enq_pos, memory_order_relaxed);
    wk_cell *c;
    for (;;) {
        c = cell_at(q, pos);
        /* Acquire: pairs with the release store of the consumer that freed this cell (seq = pos),
         * so its copy-out is complete before we overwrite the data. */
        uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        int64_t dif = (int64_t)(seq - pos);
        if (dif == 0) {
            /* Relaxed CAS: it only claims the position; the data hand-off is ordered by seq. */
            if (atomic_compare_exchange_weak_explicit(&q->enq_pos, &pos, pos + 1,
                                                      memory_order_relaxed, memory_order_relaxed))
                break;
            /* pos was reloaded by the failed CAS. */
        } else if (dif < 0) {
            return false; /* the cell still holds the element of pos - cap: full */
        } else {
            /* Another producer claimed pos already. Relaxed: as above. */
            pos = atomic_load_explicit(&q->enq_pos, memory_order_relaxed);
        }
    }
    memcpy(c->data, item, q->elem_size);
    /* Release: the element is written before a consumer can see the cell as full. */
    atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
    return true;
}

bool wk_mpmc_pop(wk_mpmc *q, void *out)
{
    /* Relaxed: deq_pos only picks a candidate position; the cell's seq decides. */
    uint64_t pos = atomic_load_explicit(&q->deq_pos, memory_order_relaxed);
    wk_cell *c;
    for (;;) {
        c = cell_at(q, pos);
        /* Acquire: pairs with the producer's release store (seq = pos + 1), so the element is
         * fully written before we copy it. */
        uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        int64_t dif = (int64_t)(seq - (pos + 1));
        if (dif == 0) {
            /* Relaxed CAS: claims the position only. */
            if (atomic_compare_exchange_weak_explicit(&q->deq_pos, &pos, pos + 1,
                                                      memory_order_relaxed, memory_order_relaxed))
                break;
        } else if (dif < 0) {
            return false; /* not yet written: empty (or its producer is mid-write) */
        } else {
            /* Relaxed: another consumer took pos; pick again. */
            pos = atomic_load_explicit(&q->deq_pos, memory_order_relaxed);
        }
    }
    memcpy(out, c->data, q->elem_size);
    /* Release: the copy-out completes before a producer can see the cell as free. */
    atomic_store_explicit(&c->seq, pos + q->mask + 1, memory_order_release);
    return true;
}

uint32_t wk_mpmc_size_approx(const wk_mpmc *q)
{
    /* Relaxed: a hint; no data is read on the strength of it. */
    uint64_t d = atomic_load_explicit(&q->deq_pos, memory_order_relaxed);
    uint64_t e = atomic_load_explicit(&q->enq_pos, memory_order_relaxed);
    return e > d ? (uint32_t)(e - d > q->cap ? q->cap : e - d) : 0;
}
