/* Unit tests for the state tables of server/ connections (srv_internal.h, srv_conn.c) and Work
 * sessions (srv_queue_rpc.h, srv_queue_work.c): every legal transition is allowed, every other
 * one refused, so the setters' asserts stop an illegal move in any build. */
#include <check.h>
#include <stdbool.h>

#include "server/srv_internal.h"
#include "server/srv_queue_rpc.h"
#include "ts_main.h"

START_TEST(conn_states_only_move_forward_along_the_table)
{
    /* Row: from. Columns: OPEN, FLUSHING, LINGERING, CLOSED. */
    static const bool want[SRV_CONN_STATES][SRV_CONN_STATES] = {
        /* OPEN      */ {false, true, false, true},
        /* FLUSHING  */ {false, false, true, true},
        /* LINGERING */ {false, false, false, true},
        /* CLOSED    */ {false, false, false, false},
    };
    for (int from = 0; from < SRV_CONN_STATES; from++)
        for (int to = 0; to < SRV_CONN_STATES; to++)
            ck_assert_msg(srv_conn_state_next_ok((srv_conn_state)from, (srv_conn_state)to) ==
                              want[from][to],
                          "conn %d -> %d", from, to);
    /* Out of range never passes. */
    ck_assert(!srv_conn_state_next_ok(SRV_CONN_OPEN, (srv_conn_state)SRV_CONN_STATES));
    ck_assert(!srv_conn_state_next_ok((srv_conn_state)SRV_CONN_STATES, SRV_CONN_CLOSED));
}
END_TEST

START_TEST(work_states_follow_the_table)
{
    /* Row: from. Columns: OPEN, DRAINING, HALF_CLOSED, FINISHED, CLOSED. */
    static const bool want[SRV_WORK_STATES][SRV_WORK_STATES] = {
        /* OPEN        */ {false, true, true, true, true},
        /* DRAINING    */ {false, false, true, true, true},
        /* HALF_CLOSED */ {false, false, false, true, true}, /* a drain leaves it HALF_CLOSED */
        /* FINISHED    */ {false, false, false, false, true},
        /* CLOSED      */ {false, false, false, false, false},
    };
    for (int from = 0; from < SRV_WORK_STATES; from++)
        for (int to = 0; to < SRV_WORK_STATES; to++)
            ck_assert_msg(srv_work_state_next_ok((srv_work_state)from, (srv_work_state)to) ==
                              want[from][to],
                          "work %d -> %d", from, to);
    ck_assert(!srv_work_state_next_ok((srv_work_state)SRV_WORK_STATES, SRV_WORK_CLOSED));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("srv_state");
    TCase *tc = tcase_create("tables");
    tcase_add_test(tc, conn_states_only_move_forward_along_the_table);
    tcase_add_test(tc, work_states_follow_the_table);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
