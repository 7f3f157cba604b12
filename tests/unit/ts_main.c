/* tests/unit/ts_main: what the unit tests' main functions share (ts_main.h). */
#include "ts_main.h"

#include <stdio.h>

#include "core/ev_reactor.h"

int ts_io_uring_or_skip(void)
{
    int err;
    const char *why;
    ev_loop *probe = ev_loop_create(NULL, &err, &why);
    if (!probe) {
        fprintf(stderr, "skip: %s\n", why);
        return 77;
    }
    ev_loop_destroy(probe);
    return 0;
}

ev_loop *ts_loop_create(void)
{
    int err;
    const char *why;
    ev_loop *l = ev_loop_create(NULL, &err, &why);
    ck_assert_msg(l != NULL, "ev_loop_create: %s (%d)", why ? why : "?", err);
    return l;
}

int ts_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
