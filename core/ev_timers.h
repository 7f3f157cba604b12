/* core/ev_timers: the reactor's in-loop timers, a binary min-heap of ev_timer on deadline_ns.
 * Internal to core (ev_reactor.c embeds one per loop); the public calls are ev_timer_* in
 * ev_reactor.h. The heap borrows each armed ev_timer until it is stopped or has fired; it owns
 * only its array of pointers. Loop thread only. */
#ifndef EV_TIMERS_H
#define EV_TIMERS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/ev_reactor.h"

typedef struct ev_timers {
    ev_timer **heap;
    uint32_t len;
    uint32_t cap;
    bool running; /* ev_timers_run is on the stack */
} ev_timers;

/* Frees the array (the timers themselves are the callers'). */
void ev_timers_deinit(ev_timers *ts);

/* Arms t at deadline_ns, or moves it there when armed. From a timer callback, a deadline at or
 * before now_ns becomes now_ns + 1 (the next pass). 0, or -ENOMEM growing the array. */
int ev_timers_start(ev_timers *ts, ev_timer *t, uint64_t deadline_ns, uint64_t now_ns);

/* Disarms t; nothing when it is not armed. */
void ev_timers_stop(ev_timers *ts, ev_timer *t);

/* The earliest armed timer, or NULL when none is. */
static inline const ev_timer *ev_timers_first(const ev_timers *ts)
{
    return ts->len > 0 ? ts->heap[0] : NULL;
}

/* Runs the timers due at now_ns (each disarmed before its callback, which may start or stop any
 * timer, itself included). Returns how many ran. */
int ev_timers_run(ev_timers *ts, ev_loop *loop, uint64_t now_ns);

#endif
