/* worker/wk_park: parking for threads that have no event loop (pool workers, blocking senders).
 *
 * An event count over a futex: a waiter announces itself, re-checks its condition, and only
 * then blocks; a notifier makes the condition true and wakes only when someone announced.
 *
 *   waiter                                   notifier
 *     key = wk_park_prepare(p)                 make condition true (e.g. push a job)
 *     if (condition) wk_park_cancel(p)         wk_park_notify(p, all)
 *     else wk_park_wait(p, key)
 *
 * The race closed: without the announce-then-recheck order a waiter could check the condition
 * (false), the notifier make it true and see nobody waiting, and the waiter block forever.
 * prepare() increments `waiters` and then issues a seq_cst fence before the waiter's re-check;
 * notify() issues a seq_cst fence after the condition write and before reading `waiters`. With
 * both fences, at least one side sees the other's write: the notifier sees waiters > 0, or the
 * waiter's re-check sees the condition. When the notifier wakes, it bumps `epoch`, so a waiter
 * that has not reached the futex yet returns at once (the futex compares epoch with its key).
 *
 * wk_park_wait() may return spuriously; callers loop on their condition. No allocation. */
#ifndef WK_PARK_H
#define WK_PARK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct wk_park {
    _Atomic uint32_t epoch;   /* futex word: bumped by every notify that found a waiter */
    _Atomic uint32_t waiters; /* announced waiters (between prepare and wait/cancel) */
} wk_park;

void wk_park_init(wk_park *p);
/* Announces the calling thread as a waiter; returns the key for wk_park_wait(). */
uint32_t wk_park_prepare(wk_park *p);
/* Withdraws the announcement (the re-check found the condition true). */
void wk_park_cancel(wk_park *p);
/* Blocks until a notify after the matching prepare (or spuriously), then withdraws. */
void wk_park_wait(wk_park *p, uint32_t key);
/* Wakes one waiter (all when `all`) if any announced. Call after making the condition true. */
void wk_park_notify(wk_park *p, bool all);

/* Raw futex helpers on a 32-bit atomic word (process-private). wait blocks while *word == val
 * (returns at once otherwise, or on a signal/spurious wake-up); wake wakes up to `n` waiters. */
void wk_futex_wait(_Atomic uint32_t *word, uint32_t val);
void wk_futex_wake(_Atomic uint32_t *word, int n);

#endif
