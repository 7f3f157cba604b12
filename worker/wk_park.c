/* worker/wk_park: an event count over a futex. See wk_park.h for the protocol. */
#include "worker/wk_park.h"

#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "worker/wk_atomic.h"

void wk_futex_wait(_Atomic uint32_t *word, uint32_t val)
{
    /* EAGAIN (value changed), EINTR and spurious returns all mean "re-check"; the caller loops. */
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

void wk_futex_wake(_Atomic uint32_t *word, int n)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

void wk_park_init(wk_park *p)
{
    /* Relaxed: before the park is shared. */
    atomic_store_explicit(&p->epoch, 0, memory_order_relaxed);
    atomic_store_explicit(&p->waiters, 0, memory_order_relaxed);
}

uint32_t wk_park_prepare(wk_park *p)
{
    /* Relaxed: the key only has to be read before the announce below (program order plus the
     * fence keeps it there); a bump after this read makes the futex return at once. */
    uint32_t key = atomic_load_explicit(&p->epoch, memory_order_relaxed);
    /* Relaxed increment, then a seq_cst fence: the fence orders the announce before the
     * caller's re-check of its condition (the Dekker pair with the fence in notify). */
    atomic_fetch_add_explicit(&p->waiters, 1, memory_order_relaxed);
    wk_fence_seq_cst();
    return key;
}

void wk_park_cancel(wk_park *p)
{
    /* Relaxed: a stale count only costs a notifier one unneeded wake. */
    atomic_fetch_sub_explicit(&p->waiters, 1, memory_order_relaxed);
}

void wk_park_wait(wk_park *p, uint32_t key)
{
    /* Relaxed: the kernel compares the word itself; after waking the caller re-checks its own
     * condition with its own ordering. */
    if (atomic_load_explicit(&p->epoch, memory_order_relaxed) == key) wk_futex_wait(&p->epoch, key);
    wk_park_cancel(p);
}

void wk_park_notify(wk_park *p, bool all)
{
    /* seq_cst fence: orders the caller's condition write before the read of `waiters` (the
     * other half of the Dekker pair with prepare). */
    wk_fence_seq_cst();
    /* Relaxed: ordered by the fence above. */
    if (atomic_load_explicit(&p->waiters, memory_order_relaxed) == 0) return;
    /* Relaxed: the epoch carries no data; it only makes a racing futex_wait return. */
    atomic_fetch_add_explicit(&p->epoch, 1, memory_order_relaxed);
    wk_futex_wake(&p->epoch, all ? INT_MAX : 1);
}
