/* libringq with payloads of the given sizes: rq_sizes_prog HOST:PORT QUEUE SIZE...
 *
 * For each size, on a fresh client (so the request leaves before the server's SETTINGS, on the
 * initial 65,535-byte windows): Enqueue one task whose payload is a size-dependent byte pattern,
 * Lease it back, compare it byte for byte, Ack it. Prints one line per size:
 *
 *     size N enqueue CODE lease CODE got LEN match 0|1 message TEXT
 *
 * CODE is the gRPC status (or RQ_E*); TEXT the first failing call's message ("-" if none). The
 * driver (tests/integration/test_libringq_sizes.py) decides what each size must give, against
 * ringqd and against a grpcio server. Exits 0 once every size has been tried (2 on bad usage). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/ringq.h"

/* Largest payload tried, bytes: above the 4 MiB message limit, so its refusal is seen too. */
#define SIZES_PAYLOAD_MAX_BYTES (5u * 1024 * 1024)
/* Lease long-poll, ms: the task was acknowledged before, so it is ready at once. */
#define SIZES_LEASE_WAIT_MS 5000u

static void fill(uint8_t *p, size_t n)
{
    /* Not periodic at any power of two, so a repeated or shifted block cannot match. */
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i * 131u + (i >> 9) + (i >> 17));
}

static void one_size(const char *addr, const char *queue, const uint8_t *pat, size_t n)
{
    rq_status st = {0};
    rq_client_opts o = {.addr = addr, .timeout_ms = 30000};
    rq_client *c = rq_client_create(&o, &st);
    if (!c) {
        printf("size %zu enqueue %d lease -1 got 0 match 0 message %s\n", n, st.code, st.message);
        return;
    }
    rq_task_spec sp = {.payload = pat, .payload_len = n};
    rq_enqueue_result res;
    int enq = rq_enqueue(c, queue, &sp, 1, &res, &st);
    int lease = -1, match = 0;
    size_t got = 0;
    char why[sizeof st.message + 32]; /* room for an "ack: CODE/CODE " prefix */
    snprintf(why, sizeof why, "%s", enq ? st.message : "-");
    if (enq == 0) {
        rq_task **t = NULL;
        size_t nt = 0;
        lease = rq_lease(c, queue, 1, SIZES_LEASE_WAIT_MS, 0, &t, &nt, &st);
        if (lease != 0) snprintf(why, sizeof why, "%s", st.message);
        if (lease == 0 && nt == 1) {
            got = t[0]->payload_len;
            match = got == n && (n == 0 || memcmp(t[0]->payload, pat, n) == 0) &&
                    strcmp(t[0]->id, res.id) == 0;
            const char *ids[1] = {t[0]->id};
            rq_item_status is;
            int ack = rq_ack(c, ids, &t[0]->lease_token, 1, &is, &st);
            if (ack != 0 || is.code != 0) {
                match = 0;
                snprintf(why, sizeof why, "ack: %d/%d %s", ack, is.code,
                         ack ? st.message : is.message);
            }
        } else if (lease == 0) {
            snprintf(why, sizeof why, "lease returned %zu tasks", nt);
        }
        rq_tasks_free(t, nt);
    }
    for (char *p = why; *p; p++)
        if (*p == '\n') *p = ' ';
    printf("size %zu enqueue %d lease %d got %zu match %d message %s\n", n, enq, lease, got, match,
           why);
    fflush(stdout);
    rq_client_destroy(c);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: rq_sizes_prog HOST:PORT QUEUE SIZE...\n");
        return 2;
    }
    uint8_t *pat = malloc(SIZES_PAYLOAD_MAX_BYTES);
    if (!pat) {
        fprintf(stderr, "rq_sizes_prog: out of memory\n");
        return 2;
    }
    fill(pat, SIZES_PAYLOAD_MAX_BYTES);
    for (int i = 3; i < argc; i++) {
        char *end;
        unsigned long long n = strtoull(argv[i], &end, 10);
        if (*end || n > SIZES_PAYLOAD_MAX_BYTES) {
            fprintf(stderr, "rq_sizes_prog: bad size %s (0..%u)\n", argv[i],
                    SIZES_PAYLOAD_MAX_BYTES);
            free(pat);
            return 2;
        }
        one_size(argv[1], argv[2], pat, (size_t)n);
    }
    free(pat);
    return 0;
}
