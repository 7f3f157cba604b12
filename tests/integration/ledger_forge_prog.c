/* Forges a ledger that does not balance, for the integration test of the audit path
 * (tests/integration/test_ledger.py): ledger_forge_prog PARTITION_DIR QUEUE ENQUEUED
 *
 * Appends one LEDGER record (queue/q_part_rec.h) to the stopped server's partition log, saying
 * ENQUEUED tasks went into QUEUE and nowhere else: no code path of ringqd writes such a thing,
 * it stands for a lost record. The next start must log it, count it in /metrics and leave it
 * as found. Exits 0 when the record is durable, 1 on a log error (printed), 2 on bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "queue/q_log.h"
#include "queue/q_part_rec.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: ledger_forge_prog PARTITION_DIR QUEUE ENQUEUED\n");
        return 2;
    }
    q_log_opts o;
    q_log_opts_default(&o);
    o.no_create = true;
    q_log *log;
    q_log_err le;
    memset(&le, 0, sizeof le);
    int rc = q_log_open(argv[1], &o, &log, &le);
    if (rc) {
        fprintf(stderr, "q_log_open %s: %d %s\n", argv[1], rc, le.why ? le.why : "");
        return 1;
    }
    q_prec r = {.type = Q_RT_LEDGER, .name = argv[2], .name_len = (uint32_t)strlen(argv[2]),
                .led = {.enqueued = strtoull(argv[3], NULL, 10)}};
    uint8_t fixed[Q_PREC_FIXED_BYTES_MAX];
    struct iovec iov[4];
    int n = q_prec_encode(&r, fixed, iov);
    int64_t off = q_log_appendv(log, Q_RT_LEDGER, iov, n);
    if (off < 0 || (rc = q_log_commit(log)) != 0) {
        fprintf(stderr, "append/commit: %lld %d\n", (long long)off, rc);
        q_log_close(log);
        return 1;
    }
    rc = q_log_close(log);
    if (rc) fprintf(stderr, "q_log_close: %d\n", rc);
    return rc ? 1 : 0;
}
