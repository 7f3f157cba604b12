/* tests/integration/rq_check.h: the soft checks of the libringq client programs
 * (rq_api_prog.c, rq_read_prog.c, rq_stream_prog.c) that the integration tests run against a
 * real ringqd: CHECK counts a failure and prints where and why, and the run goes on (the test
 * reads every FAIL line); rq_check_end prints the verdict line and gives main's exit code.
 * Header only: include it once per program. */
#ifndef RQ_CHECK_H
#define RQ_CHECK_H

#include <stdio.h>

static int failures;
#define CHECK(cond, ...)                                           \
    do {                                                           \
        if (!(cond)) {                                             \
            failures++;                                            \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            printf(__VA_ARGS__);                                   \
            printf("\n");                                          \
        }                                                          \
    } while (0)

/* "OK (0 failures)" or "FAILED (N failures)"; returns 0 or 1 for main. */
static inline int rq_check_end(void)
{
    printf("%s (%d failures)\n", failures ? "FAILED" : "OK", failures);
    return failures ? 1 : 0;
}

#endif
