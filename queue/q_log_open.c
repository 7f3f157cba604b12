/* queue/q_log_open: opening a log directory and recovering it.
 *
 * Names. A segment is created as "<base>.qseg.tmp" and renamed to "<base>.qseg" (published) only
 * by a commit, after every segment before it has been fdatasync'd; the rename is followed by a
 * directory fsync before the commit reports anything durable. The first segment of a new log is
 * published at creation. So, with L the last published segment:
 *  - segments before L are sealed: complete, synced. Each must verify and end exactly where the
 *    next begins; anything else is damage (an error naming file and position, or salvage).
 *  - L and the temporary segments after it are the tail. Recovery walks them in order to the
 *    first record that fails. If that record is below its segment's synced watermark (records
 *    a completed fsync covered, kept in the header: q_format.h), it is damage, refused like
 *    damage in a sealed segment, and nothing is written. Otherwise it is a torn write (nothing
 *    past the last commit was promised): the log is cut there. Later temporary segments hold no
 *    acknowledged record. What the cut throws away is first copied (the bytes) or moved (later
 *    segments) into salvaged/ (q_log_salvage.c); then everything after the cut is zeroed so
 *    stale bytes can never line up with later appends and resurface as records. The kept tail
 *    is synced and published, and its watermark raised to all it holds. */
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

#include "core/rt_alloc.h"
#include "core/rt_log.h"
#include "queue/q_log.h"
#include "queue/q_log_int.h"
#include "queue/q_sys.h"

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
    seg_ent *v = rt_malloc(cap * sizeof *v);
    int r = v ? 0 : -ENOMEM;
    struct dirent *e;
    while (r == 0 && (e = readdir(d)) != NULL) {
        uint64_t base;
        int kind = q_seg_name_parse(e->d_name, &base);
        if (kind == 0) continue;
        if (cnt == Q_LOG_SEGMENTS_MAX) r = -E2BIG;
        else if (cnt == cap) {
            seg_ent *nv = rt_realloc(v, (cap *= 2) * sizeof *v);
            if (!nv) r = -ENOMEM;
            else v = nv;
        }
        if (r == 0) v[cnt++] = (seg_ent){base, kind == 1};
    }
    closedir(d);
    if (r) {
        rt_free(v);
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

/* Takes segment file ents[i] out of the log: moved into salvaged/ (read-only: left alone). */
static int set_aside(q_log *log, const seg_ent *e, const char *why, q_log_err *err)
{
    char name[Q_SEG_NAME_BYTES];
    q_seg_name(name, e->base, !e->published);
    log_warn("log segment past the tail set aside", "dir=%s file=%s why=\"%s\"", log->dir, name,
             why);
    return log->opts.read_only ? 0 : q_log_aside_move(log, name, err);
}

static int set_aside_from(q_log *log, const seg_ent *ents, uint32_t from, uint32_t n,
                          const char *why, q_log_err *err)
{
    int r = 0;
    for (uint32_t j = from; j < n && r == 0; j++) r = set_aside(log, &ents[j], why, err);
    if (r == 0 && from < n && !log->opts.read_only) r = q_log_aside_sync(log);
    return r;
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
    log_error("log damage in sealed segment",
              "dir=%s base=%" PRIu64 " pos=%u offset=%" PRIu64 " why=\"%s\"", log->dir, s->base,
              s->used, end, why);
    return -EBADMSG;
}

static const char *synced_damage_str(q_scan_stop st)
{
    switch (st) {
    case Q_SCAN_ZERO: return "zero bytes before the synced end";
    case Q_SCAN_BAD_HEADER: return "bad record header before the synced end";
    case Q_SCAN_BAD_LENGTH: return "bad record length before the synced end";
    case Q_SCAN_BAD_OFFSET: return "record offset out of sequence before the synced end";
    case Q_SCAN_BAD_CHECKSUM: return "record checksum mismatch before the synced end";
    case Q_SCAN_OK:
    case Q_SCAN_END: break;
    }
    return "segment ends before the synced end";
}

/* Scans a tail segment. The records its watermark covers were synced (a completed fsync) and
 * may have been acknowledged: if the scan stops among them, that is damage, never a torn write.
 * Returns 0 (*st says where the scan stopped) or -EBADMSG with err filled. */
static int check_tail(q_log *log, q_seg *s, q_scan_stop *st, q_log_err *err)
{
    *st = q_seg_scan(s, Q_REC_BYTES_MAX, true);
    if (s->count >= s->synced) return 0;
    const char *why = synced_damage_str(*st);
    uint64_t end = s->base + s->count;
    set_err(err, s->base, s->used, end, 0, why);
    if (err) err->synced = s->base + s->synced;
    char name[Q_SEG_NAME_BYTES];
    q_seg_name(name, s->base, !s->published);
    log_error("log damage before the synced end",
              "dir=%s file=%s pos=%u offset=%" PRIu64 " synced=%" PRIu64 " why=\"%s\"", log->dir,
              name, s->used, end, s->base + s->synced, why);
    return -EBADMSG;
}

/* Logs (and reports in err) what is cut off the end of the tail segment, if anything. Returns
 * the bytes cut: from the cut to the last non-zero byte of the file. `damage`: err already
 * describes the damage this cut is at (salvage): only the byte count is added. */
static uint64_t report_tail(q_log *log, const q_seg *s, bool damage, q_log_err *err)
{
    q_scan_stop st = (q_scan_stop)s->stop;
    if (st == Q_SCAN_END) return 0;
    uint64_t garbage = q_seg_garbage_bytes(s, s->used);
    if (st == Q_SCAN_ZERO && garbage == 0) return 0;
    uint64_t end = s->base + s->count;
    if (damage && err) err->bytes = garbage;
    else if (err) {
        set_err(err, s->base, s->used, end, garbage, q_scan_stop_str(st));
        err->synced = s->base + s->synced;
    }
    char name[Q_SEG_NAME_BYTES];
    q_seg_name(name, s->base, !s->published);
    log_warn("log tail cut",
             "dir=%s file=%s pos=%u offset=%" PRIu64 " bytes=%" PRIu64 " synced=%" PRIu64
             " why=\"%s\"",
             log->dir, name, s->used, end, garbage, s->base + s->synced, q_scan_stop_str(st));
    return garbage;
}

/* Damage (in a sealed segment, a published segment's header, or before a tail segment's
 * watermark): fail, or with salvage keep what is before it and set the rest aside.
 * `keep_damaged`: the damaged segment itself stays (cut at the damage, a whole copy set aside);
 * else it is moved aside too. Returns the new entry count or -errno. */
static int salvage_from(q_log *log, const seg_ent *ents, uint32_t n, uint32_t i, bool keep_damaged,
                        q_log_err *err)
{
    if (!log->opts.salvage || log->opts.read_only) return -EBADMSG;
    char name[Q_SEG_NAME_BYTES];
    q_seg_name(name, ents[i].base, !ents[i].published);
    int r;
    if (keep_damaged) {
        struct stat st;
        r = fstatat(log->dirfd, name, &st, 0) == 0 ? 0 : -errno;
        if (r == 0) r = q_log_aside_copy(log, name, 0, (uint64_t)st.st_size, "", err);
    } else {
        r = set_aside(log, &ents[i], "damaged", err);
    }
    if (r == 0) r = set_aside_from(log, ents, i + 1, n, "after damage (salvage)", err);
    if (r == 0) r = q_log_aside_sync(log);
    return r ? r : (int)(keep_damaged ? i + 1 : i);
}

/* The last kept segment is the tail: copy aside what its cut throws away, zero it, sync every
 * tail segment (from index `tail`) and publish those that still have their temporary name.
 * Then raise their watermarks: everything kept is synced now. */
static int finish_tail(q_log *log, uint32_t tail, bool copied, q_log_err *err)
{
    q_seg *t = &log->segs[log->nsegs - 1];
    uint64_t cut = report_tail(log, t, copied, err);
    if (log->opts.read_only) return 0;
    int r = 0;
    if (cut > 0 && !copied) {
        char name[Q_SEG_NAME_BYTES], suffix[32];
        q_seg_name(name, t->base, !t->published);
        snprintf(suffix, sizeof suffix, ".cut-%u", t->used);
        r = q_log_aside_copy(log, name, t->used, t->used + cut, suffix, err);
        if (r == 0) r = q_log_aside_sync(log);
        if (r) return r;
    }
    /* Salvage cut synced records: lower the watermark in the same fsync as the cut. */
    if (t->synced > t->count) q_seg_set_synced(t, (uint32_t)t->count);
    bool renamed = false;
    for (uint32_t k = tail; k < log->nsegs && r == 0; k++) {
        q_seg *x = &log->segs[k];
        /* Every tail segment: its records past the watermark may be in the page cache only. */
        if (k + 1 == log->nsegs) r = q_seg_clean_tail(x, x->used + Q_SEG_ALLOC_FIRST_BYTES);
        else if (q_sys.fsync(x->fd) != 0) r = -errno;
        if (r == 0 && !x->published) {
            r = q_seg_publish(log->dirfd, x);
            renamed = true;
        }
    }
    if (r == 0 && renamed && q_sys.fsync(log->dirfd) != 0) r = -errno;
    for (uint32_t k = tail; k < log->nsegs && r == 0; k++)
        q_seg_set_synced(&log->segs[k], (uint32_t)log->segs[k].count);
    return r;
}

static int recover(q_log *log, seg_ent *ents, uint32_t n, q_log_err *err)
{
    const q_log_opts *o = &log->opts;
    uint32_t last_pub = UINT32_MAX;
    for (uint32_t i = 0; i < n; i++)
        if (ents[i].published) last_pub = i;
    if (last_pub == UINT32_MAX) {
        /* Only unfinished segments: the log's first commit never completed. */
        int r = set_aside_from(log, ents, 0, n, "no published segment", err);
        if (r) return r;
        if (o->read_only) return -ENOENT;
        return q_log_add_segment(log, n ? ents[0].base : o->first_offset, 0, true);
    }
    bool copied = false; /* salvage kept a whole copy of the segment that becomes the tail */
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
            if ((r = set_aside_from(log, ents, i, n, why, err)) < 0) return r;
            break;
        }
        if (r == -EBADMSG) {
            set_err(err, ents[i].base, 0, ents[i].base, 0, why);
            log_error("log damaged segment", "dir=%s base=%" PRIu64 " why=\"%s\"", log->dir,
                      ents[i].base, why);
            if ((r = salvage_from(log, ents, n, i, false, err)) < 0) return r;
            if (log->nsegs == 0) return q_log_add_segment(log, ents[i].base, 0, true);
            break; /* the previous segment, complete and verified, is the tail */
        }
        if (r) return r;
        q_scan_stop st = Q_SCAN_END;
        r = tail ? check_tail(log, &s, &st, err) : check_sealed(log, &s, ents[i + 1].base, err);
        if (r == -EBADMSG) {
            if ((r = salvage_from(log, ents, n, i, true, err)) < 0) {
                q_seg_close(&s);
                return r;
            }
            n = (uint32_t)r;
            last = copied = true;
        } else if (tail && !last) {
            /* A tail segment that ends cleanly where the next begins is kept whole; after
             * any other end the later segments hold nothing acknowledged. */
            bool clean_end = (st == Q_SCAN_END || st == Q_SCAN_ZERO) &&
                             s.base + s.count == ents[i + 1].base;
            if (!clean_end) {
                if ((r = set_aside_from(log, ents, i + 1, n, "past the cut", err)) < 0) {
                    q_seg_close(&s);
                    return r;
                }
                n = i + 1;
                last = true;
            }
        }
        log->segs[log->nsegs++] = s;
        if (o->progress) o->progress(o->progress_ud, i + 1, n);
        if (last) break;
    }
    uint32_t tail = last_pub < log->nsegs ? last_pub : log->nsegs - 1;
    return finish_tail(log, tail, copied, err);
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
    q_log *log = rt_calloc(1, sizeof *log);
    if (!log) return -ENOMEM;
    log->opts = *opts;
    log->grow_fd = -1;
    /* The reserve: at most a quarter of a segment, and never so much that the largest record
     * would not fit an empty segment beside it (check_opts: the record alone fits). */
    uint64_t beside = opts->segment_bytes - Q_SEG_HDR_BYTES - q_rec_span(opts->record_bytes_max);
    uint32_t quarter = opts->segment_bytes / 4;
    log->reserve_max = beside < quarter ? (uint32_t)beside : quarter;
    strcpy(log->dir, dir);
    log->dirfd = q_sys.openat(AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (log->dirfd < 0) {
        r = -errno;
        rt_free(log);
        return r;
    }
    seg_ent *ents = NULL;
    uint32_t n = 0;
    /* One writer per log: a second ringqd (or tool) on the same directory is refused. */
    if (!opts->read_only && flock(log->dirfd, LOCK_EX | LOCK_NB) != 0)
        r = errno == EWOULDBLOCK ? -EBUSY : -errno;
    /* A spare segment file left by a crash (q_log_spare.c) holds no record: delete it. */
    if (r == 0 && !opts->read_only && q_sys.unlinkat(log->dirfd, Q_SEG_SPARE_NAME, 0) != 0 &&
        errno != ENOENT)
        r = -errno;
    if (r == 0) r = list_segments(log, &ents, &n);
    if (r == 0) {
        log->segs_cap = n + 16;
        log->segs = rt_calloc(log->segs_cap, sizeof *log->segs);
        if (!log->segs) r = -ENOMEM;
    }
    if (r == 0 && n == 0) {
        r = opts->read_only ? -ENOENT : q_log_add_segment(log, opts->first_offset, 0, true);
        if (r == 0) r = q_sys.fsync(log->dirfd) == 0 ? 0 : -errno;
    } else if (r == 0) {
        r = recover(log, ents, n, err);
    }
    rt_free(ents);
    if (r) {
        q_log_close(log);
        return r;
    }
    const q_seg *t = &log->segs[log->nsegs - 1];
    log->next = t->base + t->count;
    log->durable = log->next; /* the tail was fdatasync'd by q_seg_clean_tail */
    log->synced = log->next;
    /* The commit sequence starts at the synced end: each commit counted raises synced by at
     * least one record, so commit_seq <= synced holds from here on; the next open recovers a
     * synced end at least as high as any count before it (a completed fsync's records are on
     * disk and recovery keeps them), so the sequence never goes back across restarts. */
    log->commit_seq = log->synced;
    log->sync_from = t->base;
    *out = log;
    return 0;
}
