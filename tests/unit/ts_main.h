/* tests/unit/ts_main: what the unit tests' main functions share. */
#ifndef TS_MAIN_H
#define TS_MAIN_H

#include <check.h>
#include <stdint.h>

#include "core/ev_reactor.h"

/* 0 when this kernel lets us make an io_uring (a probe loop, created and destroyed); else prints
 * why on stderr and returns 77, the exit code that tells the test runner "skipped". */
int ts_io_uring_or_skip(void);

/* A new ev_loop with the default options, owned by the caller (ev_loop_destroy); fails the test
 * with ev_loop_create's reason and error when none can be made. */
ev_loop *ts_loop_create(void);

/* The next value of a xorshift64 generator whose state (never 0) the caller owns: cheap,
 * deterministic test data, the same sequence for the same seed on every run. */
static inline uint64_t ts_xorshift64(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

/* Runs every test of s (takes s) and returns 0 when all passed, 1 otherwise. */
int ts_run_suite(Suite *s);

#endif
