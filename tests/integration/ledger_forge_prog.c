/* Forges a ledger that does not balance, for the integration test of the audit path
 * (tests/integration/test_ledger.py): ledger_forge_prog PARTITION_DIR QUEUE ENQUEUED
 *
 * Appends one LEDGER record (queue/q_part_rec.h) to the stopped server's partition log, saying
 * ENQUEUED tasks went into QUEUE and nowhere else: no code path of ringqd writes such a thing,
 * it stands for a lost record. The next start must log it, count it in /metrics and leave it
 * as found. Exits 0 when the record is durable, 1 on a log error (printed), 2 on bad usage.
 *
 * ledger_forge_prog --old-retention PARTITION_DIR OFFSET does to the stopped server's log what
 * a build before LEDGER records did: records that name no task fill the segment until the log
 * rolls, compaction re-appends the live record at OFFSET (a task's ENQUEUE) into the new one,
 * and retention deletes the first segment — without any LEDGER record. The next start finds a
 * queue whose history starts mid-log (docs/semantics.md, "Incomplete history"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "queue/q_log.h"
#include "queue/q_part_rec.h"

/* A filler record: an ACK naming ids no task has (replay ignores them). */
#define FILLER_IDS 500u
#define FILLER_RECORDS_MAX 100000u /* far more than a 64 MiB segment holds */

static int old_retention(const char *dir, uint64_t offset)
{
    q_log_opts o;
    q_log_opts_default(&o);
    o.no_create = true;
    q_log *log;
    q_log_err le;
    memset(&le, 0, sizeof le);
    int rc = q_log_open(dir, &o, &log, &le);
    if (rc) {
        fprintf(stderr, "q_log_open %s: %d %s\n", dir, rc, le.why ? le.why : "");
        return 1;
    }
    int64_t off = 0;
    static uint8_t ids[8 + 8 * FILLER_IDS];
    ids[0] = (uint8_t)(FILLER_IDS & 0xff);
    ids[1] = (uint8_t)(FILLER_IDS >> 8);
    for (uint32_t i = 0; i < FILLER_IDS; i++) ids[8 + 8 * i + 7] = 0x7f; /* ids past any */
    uint64_t first_end = q_log_oldest_segment_end(log);
    for (uint32_t n = 0; off >= 0 && first_end == q_log_next(log) && n < FILLER_RECORDS_MAX; n++) {
        off = q_log_append(log, Q_RT_ACK, ids, sizeof ids);
        first_end = q_log_oldest_segment_end(log);
    }
    if (off >= 0) off = q_log_compact(log, offset); /* into the segment that stays */
    if (off < 0 || (rc = q_log_commit(log)) != 0 ||
        (rc = q_log_retain(log, q_log_oldest_segment_end(log))) != 1) {
        fprintf(stderr, "compact/fill/commit/retain: %lld %d\n", (long long)off, rc);
        q_log_close(log);
        return 1;
    }
    rc = q_log_close(log);
    if (rc) fprintf(stderr, "q_log_close: %d\n", rc);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--old-retention") == 0)
        return old_retention(argv[2], strtoull(argv[3], NULL, 10));
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
    q_prec r = {.type = Q_RT_LEDGER,
                .name = argv[2],
                .name_len = (uint32_t)strlen(argv[2]),
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
