/* queue/q_log_open: opening a log directory and recovering it.
 *
 * Invariants recovery relies on (kept by q_log.c):
 *  - A segment's final name exists only after its file is fully allocated, its header is written
 *    and fsync'd (creation under a ".tmp" name, then rename + directory fsync).
 *  - Every segment but the last was fdatasync'd before its successor got its name: it is sealed,
 *    so it must verify completely and end exactly where the next one begins.
 *  - Only the last segment can hold a torn or partly flushed tail. It is cut at the first record
 *    that fails, and everything after the cut is zeroed so stale bytes can never line up with
 *    later appends and resurface as records. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/rt_log.h"
#include "queue/q_log.h"
#include "queue/q_log_int.h"
#include "queue/q_sys.h"

#define SALVAGE_DIR "salvaged"

void q_log_opts_default(q_log_opts *o)
{
    memset(o, 0, sizeof *o);
    o->segment_bytes = Q_SEGMENT_BYTES_DEFAULT;
    o->record_bytes_max = Q_RECORD_BYTES_DEFAULT;
    o->policy = Q_COMMIT_ALWAYS;
    o->interval_ms = 2;
    o->verify = Q_VERIFY_ALL;
}

int q_commit_policy_parse(const char *s, q_log_opts *o)
{
    if (strcmp(s, "always") == 0) o->policy = Q_COMMIT_ALWAYS;
    else if (strcmp(s, "never") == 0) o->policy = Q_COMMIT_NEVER;
    else if (strncmp(s, "interval:", 9) == 0) {
        char *end;
        unsigned long ms = strtoul(s + 9, &end, 10);
        if (end == s + 9 || *end || ms == 0 || ms > Q_INTERVAL_MS_MAX) return -EINVAL;
        o->policy = Q_COMMIT_INTERVAL;
        o->interval_ms = (uint32_t)ms;
    } else return -EINVAL;
    return 0;
}

static int check_opts(const q_log_opts *o)
{
    if (o->segment_bytes < Q_SEG_BYTES_MIN || o->segment_bytes > Q_SEG_BYTES_MAX ||
        o->segment_bytes % 4096 != 0)
        return -EINVAL;
    if (Q_SEG_HDR_BYTES + q_rec_span(o->record_bytes_max) > o->segment_bytes) return -EINVAL;
    if (o->policy == Q_COMMIT_INTERVAL && (o->interval_ms == 0 || o->interval_ms > Q_INTERVAL_MS_MAX))
        return -EINVAL;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Lists segment bases (sorted) and removes leftover temporary files. */
static int list_segments(q_log *log, uint64_t **bases, uint32_t *n)
{
    int fd = dup(log->dirfd);
    if (fd < 0) return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        int r = -errno;
        close(fd);
        return r;
    }
    uint32_t cap = 64, cnt = 0;
    uint64_t *v = malloc(cap * sizeof *v);
    int r = v ? 0 : -ENOMEM;
    struct dirent *e;
    while (r == 0 && (e = readdir(d)) != NULL) {
        uint64_t base;
        int kind = q_seg_name_parse(e->d_name, &base);
        if (kind == 2 && !log->opts.read_only) {
            /* A segment whose creation never finished: it holds no record. */
            log_warn("log removing unfinished segment", "dir=%s file=%s", log->dir, e->d_name);
            q_sys.unlinkat(log->dirfd, e->d_name, 0);
        }
        if (kind != 1) continue;
        if (cnt == Q_LOG_SEGMENTS_MAX) r = -E2BIG;
        else if (cnt == cap) {
            uint64_t *nv = realloc(v, (cap *= 2) * sizeof *v);
            if (!nv) r = -ENOMEM;
            else v = nv;
        }
        if (r == 0) v[cnt++] = base;
    }
    closedir(d);
    if (r) {
        free(v);
        return r;
    }
    qsort(v, cnt, sizeof *v, cmp_u64);
    *bases = v;
    *n = cnt;
    return 0;
}

static void set_err(q_log_err *err, uint64_t base, uint64_t pos, uint64_t off, uint64_t bytes,
                    const char *why)
{
    if (!err) return;
    q_seg_name(err->file, base, false);
    err->pos = pos;
    err->offset = off;
    err->bytes = bytes;
    err->why = why;
}

/* Salvage: copies segment `base` into <dir>/salvaged/ (keep = true) or moves it there. */
static int salvage_file(q_log *log, uint64_t base, bool keep)
{
    char name[Q_SEG_NAME_BYTES], dst[Q_SEG_NAME_BYTES + sizeof SALVAGE_DIR + 1];
    q_seg_name(name, base, false);
    snprintf(dst, sizeof dst, "%s/%s", SALVAGE_DIR, name);
    if (mkdirat(log->dirfd, SALVAGE_DIR, 0755) != 0 && errno != EEXIST) return -errno;
    log_warn("log salvage: segment set aside", "dir=%s file=%s to=%s copy=%d", log->dir, name,
             dst, keep);
    if (!keep) return renameat(log->dirfd, name, log->dirfd, dst) == 0 ? 0 : -errno;
    int in = openat(log->dirfd, name, O_RDONLY | O_CLOEXEC);
    int out = openat(log->dirfd, dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int r = (in < 0 || out < 0) ? -errno : 0;
    char buf[65536];
    ssize_t k;
    while (r == 0 && (k = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)k) != k) r = -EIO;
    if (r == 0 && fsync(out) != 0) r = -errno;
    if (in >= 0) close(in);
    if (out >= 0) close(out);
    return r;
}

/* Checks segment i of n; on damage fills err. Returns 0, or -EBADMSG. `last` means it is the
 * tail: a failure there is a cut, not damage. */
static int check_segment(q_log *log, q_seg *s, uint64_t next_base, bool last, q_log_err *err)
{
    bool verify = last || log->opts.verify == Q_VERIFY_ALL;
    q_scan_stop st = q_seg_scan(s, Q_REC_BYTES_MAX, verify);
    uint64_t end = s->base + s->count;
    if (!last) {
        if ((st == Q_SCAN_END || st == Q_SCAN_ZERO) && end == next_base) return 0;
        const char *why = (st == Q_SCAN_END || st == Q_SCAN_ZERO)
                              ? "sealed segment ends before the next segment begins"
                              : q_scan_stop_str(st);
        set_err(err, s->base, s->used, end, 0, why);
        log_error("log damage in sealed segment", "dir=%s file=%s pos=%u offset=%" PRIu64
                  " why=\"%s\"", log->dir, err ? err->file : "?", s->used, end, why);
        return -EBADMSG;
    }
    uint64_t garbage = q_seg_garbage_bytes(s, s->used);
    if (st != Q_SCAN_END && (st != Q_SCAN_ZERO || garbage > 0)) {
        set_err(err, s->base, s->used, end, garbage, q_scan_stop_str(st));
        char name[Q_SEG_NAME_BYTES];
        q_seg_name(name, s->base, false);
        log_warn("log tail cut", "dir=%s file=%s pos=%u offset=%" PRIu64 " bytes=%" PRIu64
                 " why=\"%s\"", log->dir, name, s->used, end, garbage, q_scan_stop_str(st));
    }
    return 0;
}

static int recover(q_log *log, uint64_t *bases, uint32_t n, q_log_err *err)
{
    const q_log_opts *o = &log->opts;
    for (uint32_t i = 0; i < n; i++) {
        bool last = i + 1 == n;
        const char *why = NULL;
        q_seg s;
        int r = q_seg_open(log->dirfd, bases[i], o->read_only, &s, &why);
        if (r == 0 && log->nsegs > 0) {
            const q_seg *prev = &log->segs[log->nsegs - 1];
            if (prev->base + prev->count != s.base) {
                why = "segment does not start where the previous one ends";
                q_seg_close(&s);
                r = -EBADMSG;
            }
        }
        if (r == -EBADMSG) {
            set_err(err, bases[i], 0, bases[i], 0, why);
            log_error("log damaged segment", "dir=%s base=%" PRIu64 " why=\"%s\"", log->dir,
                      bases[i], why);
            if (!o->salvage || o->read_only) return r;
            for (uint32_t j = i; j < n; j++)
                if ((r = salvage_file(log, bases[j], false)) != 0) return r;
            if (log->nsegs == 0) return q_log_add_segment(log, bases[i]);
            return 0; /* the previous segment, complete and verified, is the tail */
        }
        if (r) return r;
        r = check_segment(log, &s, last ? 0 : bases[i + 1], last, err);
        if (r == -EBADMSG && o->salvage && !o->read_only) {
            if ((r = salvage_file(log, bases[i], true)) != 0) {
                q_seg_close(&s);
                return r;
            }
            for (uint32_t j = i + 1; j < n; j++) {
                if ((r = salvage_file(log, bases[j], false)) != 0) {
                    q_seg_close(&s);
                    return r;
                }
            }
            n = i + 1;
            last = true;
            r = 0;
        }
        if (r) {
            q_seg_close(&s);
            return r;
        }
        log->segs[log->nsegs++] = s;
        if (o->progress) o->progress(o->progress_ud, i + 1, n);
        if (last && !o->read_only && (r = q_seg_clean_tail(&log->segs[log->nsegs - 1])) != 0)
            return r;
    }
    return 0;
}

int q_log_open(const char *dir, const q_log_opts *opts, q_log **out, q_log_err *err)
{
    q_log_opts def;
    if (!opts) {
        q_log_opts_default(&def);
        opts = &def;
    }
    if (err) memset(err, 0, sizeof *err);
    *out = NULL;
    int r = check_opts(opts);
    if (r) return r;
    if (strlen(dir) >= sizeof((q_log *)0)->dir) return -ENAMETOOLONG;
    if (!opts->read_only && !opts->no_create && mkdir(dir, 0755) != 0 && errno != EEXIST)
        return -errno;
    q_log *log = calloc(1, sizeof *log);
    if (!log) return -ENOMEM;
    log->opts = *opts;
    log->inflight_fd = -1;
    strcpy(log->dir, dir);
    log->dirfd = q_sys.openat(AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (log->dirfd < 0) {
        r = -errno;
        free(log);
        return r;
    }
    uint64_t *bases = NULL;
    uint32_t n = 0;
    /* One writer per log: a second ringqd (or tool) on the same directory is refused. */
    if (!opts->read_only && flock(log->dirfd, LOCK_EX | LOCK_NB) != 0)
        r = errno == EWOULDBLOCK ? -EBUSY : -errno;
    if (r == 0) r = list_segments(log, &bases, &n);
    if (r == 0) {
        log->segs_cap = n + 16;
        log->segs = calloc(log->segs_cap, sizeof *log->segs);
        if (!log->segs) r = -ENOMEM;
    }
    if (r == 0 && n == 0) {
        r = opts->read_only ? -ENOENT : q_log_add_segment(log, opts->first_offset);
        if (r == 0) r = q_sys.fsync(log->dirfd) == 0 ? 0 : -errno;
    } else if (r == 0) {
        r = recover(log, bases, n, err);
    }
    free(bases);
    if (r) {
        q_log_close(log);
        return r;
    }
    const q_seg *t = &log->segs[log->nsegs - 1];
    log->next = t->base + t->count;
    log->durable = log->next; /* the tail was fdatasync'd by q_seg_clean_tail */
    *out = log;
    return 0;
}
