/* tests/unit/ts_main: what the unit tests' main functions share. */
#ifndef TS_MAIN_H
#define TS_MAIN_H

#include <check.h>

/* 0 when this kernel lets us make an io_uring (a probe loop, created and destroyed); else prints
 * why on stderr and returns 77, the exit code that tells the test runner "skipped". */
int ts_io_uring_or_skip(void);

/* Runs every test of s (takes s) and returns 0 when all passed, 1 otherwise. */
int ts_run_suite(Suite *s);

#endif
