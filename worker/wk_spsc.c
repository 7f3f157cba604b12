/* worker/wk_spsc: ring setup. The hot paths are inline in wk_spsc.h. */
#include "core/rt_alloc.h"
#include "worker/wk_spsc.h"

#include <errno.h>
#include <stdlib.h>

_Static_assert(WK_CACHE_LINE_BYTES >= 64, "indexes must not share a 64-byte line");
_Static_assert((WK_SPSC_CAP_MAX & (WK_SPSC_CAP_MAX - 1)) == 0, "cap max is a power of two");
_Static_assert((uint64_t)WK_SPSC_CAP_MAX *WK_SPSC_ELEM_BYTES_MAX <= (1ull << 32),
               "largest ring stays under 4 GiB");

int wk_spsc_init(wk_spsc *r, uint32_t cap, uint32_t elem_size)
{
    if (cap < 2 || cap > WK_SPSC_CAP_MAX || (cap & (cap - 1)) != 0) return -EINVAL;
    if (elem_size == 0 || elem_size > WK_SPSC_ELEM_BYTES_MAX) return -EINVAL;
    size_t bytes = (size_t)cap * elem_size;
    /* Round up so aligned_alloc's size is a multiple of the alignment. */
    bytes = (bytes + WK_CACHE_LINE_BYTES - 1) & ~(size_t)(WK_CACHE_LINE_BYTES - 1);
    uint8_t *slots = rt_aligned_alloc(WK_CACHE_LINE_BYTES, bytes);
    if (!slots) return -ENOMEM;
    /* Relaxed: init happens before the ring is handed to other threads (thread creation or the
     * caller's own publication orders it). */
    atomic_store_explicit(&r->tail, 0, memory_order_relaxed);
    atomic_store_explicit(&r->head, 0, memory_order_relaxed);
    r->tail_staged = 0;
    r->head_cache = 0;
    r->tail_cache = 0;
    r->slots = slots;
    r->mask = cap - 1;
    r->cap = cap;
    r->elem_size = elem_size;
    return 0;
}

void wk_spsc_deinit(wk_spsc *r)
{
    rt_free(r->slots);
    r->slots = NULL;
    r->cap = 0;
}
