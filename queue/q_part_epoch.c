/* queue/q_part_epoch: the partition's open epoch, the high half of every lease token
 * (docs/semantics.md "Lease tokens"), kept in the file Q_EPOCH_FILE of the partition directory.
 *
 * Why a file and not the clock: a token must never be handed out twice, and leases live in
 * memory only, so a restart must start above every token of every earlier run. The wall clock
 * cannot promise that (set back by hand, an NTP step, a VM restored from a snapshot). Each
 * open reads the epoch E of the last run and makes E + 1 durable before any lease: write
 * "epoch.tmp", fdatasync it, rename it over Q_EPOCH_FILE, fsync the directory. The rename is
 * atomic, so the file holds one whole epoch at any crash point, and a run whose epoch write
 * failed hands out no token at all (the open fails). Tokens are E << Q_TOKEN_SEQ_BITS | seq
 * with seq from 1: unique and increasing across runs whatever the clock does.
 *
 * A directory without the file (a new partition, or a log written before epochs, whose tokens
 * were now_ms << 20) starts at the clock's epoch, (now_ms >> (Q_TOKEN_SEQ_BITS - 20)) + 1:
 * above the tokens such a build handed out while the clock was right, so tokens keep
 * increasing through the upgrade; from then on the clock no longer matters. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/rt_log.h"
#include "queue/q_part_int.h"
#include "queue/q_sys.h"

#define Q_EPOCH_TMP_FILE "epoch.tmp"
#define Q_EPOCH_TEXT_BYTES 32u   /* "<u64 decimal>\n" fits in 21 */
#define Q_TOKEN_LEGACY_SHIFT 20u /* tokens before epochs: now_ms << 20 */

/* The epoch in the file: 0 and *epoch set, -ENOENT (no file), -EBADMSG (not one decimal number
 * and a newline), or another negative errno. */
static int epoch_read(int dirfd, uint64_t *epoch)
{
    int fd = q_sys.openat(dirfd, Q_EPOCH_FILE, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) return -errno;
    char buf[Q_EPOCH_TEXT_BYTES];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    int rc = n < 0 ? -errno : 0;
    q_sys.close(fd);
    if (rc) return rc;
    buf[n] = '\0';
    uint64_t v = 0;
    ssize_t i = 0;
    for (; i < n && buf[i] >= '0' && buf[i] <= '9'; i++) {
        if (v > (UINT64_MAX - 9) / 10) return -EBADMSG;
        v = v * 10 + (uint64_t)(buf[i] - '0');
    }
    if (i == 0 || i + 1 != n || buf[i] != '\n') return -EBADMSG;
    *epoch = v;
    return 0;
}

/* Makes `epoch` the file's content, durably. 0 or a negative errno. */
static int epoch_write(int dirfd, uint64_t epoch)
{
    char buf[Q_EPOCH_TEXT_BYTES];
    int len = snprintf(buf, sizeof buf, "%" PRIu64 "\n", epoch);
    int fd = q_sys.openat(dirfd, Q_EPOCH_TMP_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    int rc = 0;
    if (q_sys.pwrite(fd, buf, (size_t)len, 0) != len) rc = errno ? -errno : -EIO;
    else if (q_sys.fdatasync(fd) != 0) rc = -errno;
    if (q_sys.close(fd) != 0 && !rc) rc = -errno;
    if (!rc && q_sys.renameat(dirfd, Q_EPOCH_TMP_FILE, dirfd, Q_EPOCH_FILE) != 0) rc = -errno;
    if (!rc && q_sys.fsync(dirfd) != 0) rc = -errno;
    return rc;
}

uint64_t q_part_epoch_from_clock(uint64_t now_ms)
{
    uint64_t e = (now_ms >> (Q_TOKEN_SEQ_BITS - Q_TOKEN_LEGACY_SHIFT)) + 1;
    return e < Q_EPOCH_MAX ? e : Q_EPOCH_MAX;
}

int q_part_epoch_advance(q_part *p, uint64_t now_ms)
{
    uint64_t last = p->token_epoch;
    if (last == 0) { /* the open: the file says where the last run was */
        int rc = epoch_read(p->epoch_dirfd, &last);
        if (rc == -ENOENT) last = q_part_epoch_from_clock(now_ms) - 1;
        else if (rc) {
            log_error("lease token epoch unreadable", "partition=%u file=%s err=%d", p->no,
                      Q_EPOCH_FILE, rc);
            return rc;
        }
    }
    if (last >= Q_EPOCH_MAX) return -EOVERFLOW;
    uint64_t e = last + 1;
    if (!p->opts.log.read_only) {
        int rc = epoch_write(p->epoch_dirfd, e);
        if (rc) {
            log_error("lease token epoch not written", "partition=%u epoch=%" PRIu64 " err=%d",
                      p->no, e, rc);
            return rc;
        }
    }
    p->token_epoch = e;
    p->token_last = e << Q_TOKEN_SEQ_BITS;
    return 0;
}

uint64_t q_part_token_next(q_part *p, uint64_t now_ms)
{
    if ((p->token_last & Q_TOKEN_SEQ_MASK) == Q_TOKEN_SEQ_MASK &&
        q_part_epoch_advance(p, now_ms) != 0)
        return 0; /* no epoch to go on with: no token rather than one that may repeat */
    return ++p->token_last;
}
