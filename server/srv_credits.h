/* server/srv_credits: taking credits from a session's atomic credit counter, shared by the
 * Work stream (srv_work_serve.c) and the stream Consume session (srv_stream_csub.c). Owners on
 * any shard claim; the origin shard grants (adds). */
#ifndef SRV_CREDITS_H
#define SRV_CREDITS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Takes min(want, what is left) credits from *credits into *got. Returns false (and takes none)
 * when none are left. Borrows credits for the call only; lock-free. */
static inline bool srv_credits_claim(_Atomic int32_t *credits, uint32_t want, uint32_t *got)
{
    int32_t c = atomic_load_explicit(credits, memory_order_relaxed);
    do {
        if (c <= 0) return false;
        *got = (uint32_t)c < want ? (uint32_t)c : want;
        /* acq_rel: a successful claim orders with other owners' claims and the origin's grants. */
    } while (!atomic_compare_exchange_weak_explicit(credits, &c, c - (int32_t)*got,
                                                    memory_order_acq_rel, memory_order_relaxed));
    return true;
}

#endif
