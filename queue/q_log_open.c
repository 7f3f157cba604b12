/* queue/q_log_open: opening a log directory and recovering it.
 *
 * Names. A segment is created as "<base>.qseg.tmp" and renamed to "<base>.qseg" (published) only
 * by a commit, after every segment before it has been fdatasync'd; the rename is followed by a
 * directory fsync before the commit reports anything durable. The first segment of a new log is
 * published at creation. So, with L the last published segment:
 *  - segments before L are sealed: complete, synced. Each must verify and end exactly where the
 *    next begins; anything else is damage (an error naming file and position, or salvage).
 *  - L and the temporary segments after it are the tail: nothing past the last commit is
 *    promised, so recovery walks them in order and cuts at the first record that fails (torn
 *    write, zero bytes, bit flip). Later temporary segments hold no acknowledged record and are
 *    deleted. Everything after the cut is zeroed so stale bytes can never line up with later
 *    appends and resurface as records. The kept tail is then synced and published. */
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

uint32_t q_log_segment_bytes_min(const q_log_opts *o)
{
    uint64_t need = Q_SEG_HDR_BYTES + q_rec_span(o->record_bytes_max);
    if (need < Q_SEG_BYTES_MIN) need = Q_SEG_BYTES_MIN;
    need = (need + Q_SEG_ALIGN_BYTES - 1) / Q_SEG_ALIGN_BYTES * Q_SEG_ALIGN_BYTES;
    return need > Q_SEG_BYTES_MAX ? (uint32_t)Q_SEG_BYTES_MAX : (uint32_t)need;
}

uint32_t q_log_segment_bytes_max(void) { return (uint32_t)Q_SEG_BYTES_MAX; }

static int check_opts(const q_log_opts *o)
{
    if (o->segment_bytes < Q_SEG_BYTES_MIN || o->segment_bytes > Q_SEG_BYTES_MAX ||
        o->segment_bytes % Q_SEG_ALIGN_BYTES != 0)
        return -EINVAL;
    if (Q_SEG_HDR_BYTES + q_rec_span(o->record_bytes_max) > o->segment_bytes) return -EINVAL;
    if (o->policy == Q_COMMIT_INTERVAL &&
        (o->interval_ms == 0 || o->interval_ms > Q_INTERVAL_MS_MAX))
        return -EINVAL;
    return 0;
}

typedef struct seg_ent {
    uint64_t base;
    bool published;
} seg_ent;

static int cmp_ent(const void *a, const void *b)
{
    const seg_ent *x = a, *y = b;
    if (x->base != y->base) return x->base < y->base ? -1 : 1;
    return (int)y->published - (int)x->published; /* the published one first */
}

/* Lists segment files, sorted by base. A temporary file that shadows a published one of the
 * same base (cannot happen through q_log, but a copy could) is ignored. */
static int list_segments(q_log *log, seg_ent **ents, uint32_t *n)
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
    seg_ent *v = malloc(cap * sizeof *v);
    int r = v ? 0 : -ENOMEM;
    struct dirent *e;
    while (r == 0 && (e = readdir(d)) != NULL) {
        uint64_t base;
        int kind = q_seg_name_parse(e->d_name, &base);
        if (kind == 0) continue;
        if (cnt == Q_LOG_SEGMENTS_MAX) r = -E2BIG;
        else if (cnt == cap) {
            seg_ent *nv = realloc(v, (cap *= 2) * sizeof *v);
            if (!nv) r = -ENOMEM;
            else v = nv;
        }
        if (r == 0) v[cnt++] = (seg_ent){base, kind == 1};
    }
    closedir(d);
    if (r) {
        free(v);
        return r;
    }
    qsort(v, cnt, sizeof *v, cmp_ent);
    uint32_t k = 0;
    for (uint32_t i = 0; i < cnt; i++)
        if (k == 0 || v[k - 1].base != v[i].base) v[k++] = v[i];
    *ents = v;
    *n = k;
    return 0;
}

static void remove_ent(q_log *log, const seg_ent *e, const char *why)
{
    char name[Q_SEG_NAME_BYTES];
    q_seg_name(name, e->base, !e->published);
    log_warn("log removing segment past the tail", "dir=%s file=%s why=\"%s\"", log->dir, name,
             why);
    if (!log->opts.read_only) q_sys.unlinkat(log->dirfd, name, 0);
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
static int salvage_file(q_log *log, const seg_ent *e, bool keep)
{
    char name[Q_SEG_NAME_BYTES], dst[Q_SEG_NAME_BYTES + sizeof SALVAGE_DIR + 1];
    q_seg_name(name, e->base, !e->published);
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

/* Checks a sealed segment: it must verify and end exactly where the next one begins. Returns 0
 * or -EBADMSG with err filled. */
static int check_sealed(q_log *log, q_seg *s, uint64_t next_base, q_log_err *err)
{
    q_scan_stop st = q_seg_scan(s, Q_REC_BYTES_MAX, log->opts.verify == Q_VERIFY_ALL);
    uint64_t end = s->base + s->count;
    if ((st == Q_SCAN_END || st == Q_SCAN_ZERO) && end == next_base) return 0;
    const char *why = (st == Q_SCAN_END || st == Q_SCAN_ZERO)
                          ? "sealed segment ends before the next segment begins"
                          : q_scan_stop_str(st);
    set_err(err, s->base, s->used, end, 0, why);
    log_error("log damage in sealed segment", "dir=%s base=%" PRIu64 " pos=%u offset=%" PRIu64
              " why=\"%s\"", log->dir, s->base, s->used, end, why);
    return -EBADMSG;
}

/* Logs (and reports in err) what is cut off the end of the tail segment, if anything. */
static void report_tail(q_log *log, const q_seg *s, q_log_err *err)
{
    q_scan_stop st = (q_scan_stop)s->stop;
    uint64_t garbage = q_seg_garbage_bytes(s, s->used);
    if (st == Q_SCAN_END || (st == Q_SCAN_ZERO && garbage == 0)) return;
    uint64_t end = s->base + s->count;
    set_err(err, s->base, s->used, end, garbage, q_scan_stop_str(st));
    char name[Q_SEG_NAME_BYTES];
    q_seg_name(name, s->base, !s->published);
    log_warn("log tail cut", "dir=%s file=%s pos=%u offset=%" PRIu64 " bytes=%" PRIu64
             " why=\"%s\"", log->dir, name, s->used, end, garbage, q_scan_stop_str(st));
}

/* Damage in a sealed segment (or a published segment's header): fail, or with salvage keep
 * what is before it and set the rest aside. `keep_damaged`: the damaged segment itself stays (cut
 * at the damage, a copy set aside); else it goes too. Returns the new entry count or -errno. */
static int salvage_from(q_log *log, const seg_ent *ents, uint32_t n, uint32_t i, bool keep_damaged)
{
    if (!log->opts.salvage || log->opts.read_only) return -EBADMSG;
    int r = salvage_file(log, &ents[i], keep_damaged);
    for (uint32_t j = i + 1; j < n && r == 0; j++) r = salvage_file(log, &ents[j], false);
    return r ? r : (int)(keep_damaged ? i + 1 : i);
}

static int recover(q_log *log, seg_ent *ents, uint32_t n, q_log_err *err)
{
    const q_log_opts *o = &log->opts;
    uint32_t last_pub = UINT32_MAX;
    for (uint32_t i = 0; i < n; i++)
        if (ents[i].published) last_pub = i;
    if (last_pub == UINT32_MAX) {
        /* Only unfinished segments: the log's first commit never completed. */
        for (uint32_t i = 0; i < n; i++) remove_ent(log, &ents[i], "no published segment");
        if (o->read_only) return -ENOENT;
        return q_log_add_segment(log, n ? ents[0].base : o->first_offset, true);
    }
    for (uint32_t i = 0; i < n; i++) {
        bool tail = i >= last_pub, last = i + 1 == n;
        const char *why = NULL;
        q_seg s;
        int r = q_seg_open(log->dirfd, ents[i].base, ents[i].published, o->read_only, &s, &why);
        if (r == 0 && log->nsegs > 0) {
            const q_seg *prev = &log->segs[log->nsegs - 1];
            if (prev->base + prev->count != s.base) {
                why = "segment does not start where the previous one ends";
                q_seg_close(&s);
                r = -EBADMSG;
            }
        }
        if (r == -EBADMSG && tail && i > last_pub) {
            /* An unpublished segment past a cut or never finished: nothing in it was acked. */
            for (uint32_t j = i; j < n; j++) remove_ent(log, &ents[j], why);
            break;
        }
        if (r == -EBADMSG) {
            set_err(err, ents[i].base, 0, ents[i].base, 0, why);
            log_error("log damaged segment", "dir=%s base=%" PRIu64 " why=\"%s\"", log->dir,
                      ents[i].base, why);
            if ((r = salvage_from(log, ents, n, i, false)) < 0) return r;
            if (log->nsegs == 0) return q_log_add_segment(log, ents[i].base, true);
            break; /* the previous segment, complete and verified, is the tail */
        }
        if (r) return r;
        /* A segment in the tail that ends cleanly where the next begins is not cut. */
        if (!tail) {
            r = check_sealed(log, &s, ents[i + 1].base, err);
            if (r == -EBADMSG) {
                if ((r = salvage_from(log, ents, n, i, true)) < 0) {
                    q_seg_close(&s);
                    return r;
                }
                n = (uint32_t)r;
                last = true;
                r = 0;
            }
        } else {
            /* A tail segment that ends cleanly where the next begins is kept whole. */
            q_scan_stop st = q_seg_scan(&s, Q_REC_BYTES_MAX, true);
            bool clean_end = !last && (st == Q_SCAN_END || st == Q_SCAN_ZERO) &&
                             s.base + s.count == ents[i + 1].base;
            if (!clean_end && !last) {
                for (uint32_t j = i + 1; j < n; j++) remove_ent(log, &ents[j], "past the cut");
                n = i + 1;
                last = true;
            }
        }
        log->segs[log->nsegs++] = s;
        if (o->progress) o->progress(o->progress_ud, i + 1, n);
        if (last) break;
    }
    /* The last kept segment is the tail: report its cut, zero what follows it, and publish
     * (after an fdatasync) every segment that still has its temporary name. */
    report_tail(log, &log->segs[log->nsegs - 1], err);
    if (o->read_only) return 0;
    bool renamed = false;
    for (uint32_t k = 0; k < log->nsegs; k++) {
        q_seg *x = &log->segs[k];
        int r = 0;
        if (k + 1 == log->nsegs) r = q_seg_clean_tail(x);
        else if (!x->published && q_sys.fsync(x->fd) != 0) r = -errno;
        if (r == 0 && !x->published) {
            r = q_seg_publish(log->dirfd, x);
            renamed = true;
        }
        if (r) return r;
    }
    if (renamed && q_sys.fsync(log->dirfd) != 0) return -errno;
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
    seg_ent *ents = NULL;
    uint32_t n = 0;
    /* One writer per log: a second ringqd (or tool) on the same directory is refused. */
    if (!opts->read_only && flock(log->dirfd, LOCK_EX | LOCK_NB) != 0)
        r = errno == EWOULDBLOCK ? -EBUSY : -errno;
    if (r == 0) r = list_segments(log, &ents, &n);
    if (r == 0) {
        log->segs_cap = n + 16;
        log->segs = calloc(log->segs_cap, sizeof *log->segs);
        if (!log->segs) r = -ENOMEM;
    }
    if (r == 0 && n == 0) {
        r = opts->read_only ? -ENOENT : q_log_add_segment(log, opts->first_offset, true);
        if (r == 0) r = q_sys.fsync(log->dirfd) == 0 ? 0 : -errno;
    } else if (r == 0) {
        r = recover(log, ents, n, err);
    }
    free(ents);
    if (r) {
        q_log_close(log);
        return r;
    }
    const q_seg *t = &log->segs[log->nsegs - 1];
    log->next = t->base + t->count;
    log->durable = log->next; /* the tail was fdatasync'd by q_seg_clean_tail */
    log->sync_from = t->base;
    *out = log;
    return 0;
}
