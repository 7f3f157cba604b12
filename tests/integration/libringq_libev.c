/* A program that links libringq.a next to libev (Debian's libev-dev), as an application with
 * its own libev loop would: libev_link HOST:PORT QUEUE. Built and run by
 * tests/integration/test_libringq_static.py (not by the Makefile: it links the installed-style
 * static library, not the module archives).
 *
 * libringq's own reactor is also called ev_*: while libringq.a exported its internals,
 * ev_loop_destroy, ev_timer_start and ev_timer_stop below bound to ours and the program aborted.
 * Each step prints "ok STEP" or "FAIL STEP: why"; exit 0 only when all passed. */
#include <ev.h>
#include <stdio.h>
#include <string.h>

#include "client/ringq.h"

static int fails;
#define STEP(name, cond, ...)          \
    do {                               \
        if (cond) {                    \
            printf("ok %s\n", name);   \
        } else {                       \
            fails++;                   \
            printf("FAIL %s: ", name); \
            printf(__VA_ARGS__);       \
            printf("\n");              \
        }                              \
        fflush(stdout);                \
    } while (0)

static int fired;
static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    fired++;
    ev_timer_stop(loop, w);
}

/* One libev timer run to completion on `loop`. */
static void libev_round(struct ev_loop *loop, const char *name)
{
    ev_timer t;
    int before = fired;
    ev_timer_init(&t, on_timer, 0.001, 0.);
    ev_timer_start(loop, &t);
    ev_run(loop, 0);
    STEP(name, fired == before + 1, "timer fired %d times", fired - before);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: libev_link HOST:PORT QUEUE\n");
        return 2;
    }
    struct ev_loop *def = ev_default_loop(0);
    STEP("ev_default_loop", def != NULL, "no default loop");
    if (!def) return 1;
    libev_round(def, "libev timer");

    rq_status st = {0};
    rq_client_opts o = {.addr = argv[1], .timeout_ms = 10000};
    rq_client *c = rq_client_create(&o, &st);
    STEP("rq_client_create", c != NULL, "%s", st.message);
    if (!c) return 1;
    static const char payload[] = "next to libev";
    rq_task_spec sp = {.payload = payload, .payload_len = sizeof payload - 1};
    rq_enqueue_result r;
    int rc = rq_enqueue(c, argv[2], &sp, 1, &r, &st);
    STEP("rq_enqueue", rc == 0, "%d %s", rc, st.message);
    rq_task **t = NULL;
    size_t n = 0;
    rc = rq_lease(c, argv[2], 1, 5000, 0, &t, &n, &st);
    STEP("rq_lease",
         rc == 0 && n == 1 && t[0]->payload_len == sizeof payload - 1 &&
             memcmp(t[0]->payload, payload, sizeof payload - 1) == 0,
         "%d %s (%zu tasks)", rc, st.message, n);
    if (rc == 0 && n == 1) {
        const char *ids[1] = {t[0]->id};
        rc = rq_ack(c, ids, &t[0]->lease_token, 1, NULL, &st);
        STEP("rq_ack", rc == 0, "%d %s", rc, st.message);
    }
    rq_tasks_free(t, n);

    /* A second libev loop created and destroyed while a libringq client (and its own reactor)
     * is alive: each library keeps to its own loop. */
    struct ev_loop *mine = ev_loop_new(EVFLAG_AUTO);
    STEP("ev_loop_new", mine != NULL, "no loop");
    if (mine) {
        libev_round(mine, "libev timer on a new loop");
        ev_loop_destroy(mine);
        printf("ok ev_loop_destroy (new loop)\n");
    }
    rq_client_destroy(c);
    libev_round(def, "libev timer after rq_client_destroy");
    ev_loop_destroy(def);
    printf("ok ev_loop_destroy (default loop)\n");
    return fails ? 1 : 0;
}
