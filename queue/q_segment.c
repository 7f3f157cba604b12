#include "core/rt_alloc.h"
#include "queue/q_segment.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/rt_bg.h"
#include "core/rt_clock.h"
#include "queue/q_sys.h"

#define PAGE_BYTES 4096u /* zeroing granularity; any page size that divides it works */

void q_seg_name(char buf[Q_SEG_NAME_BYTES], uint64_t base, bool tmp)
{
    snprintf(buf, Q_SEG_NAME_BYTES, Q_SEG_NAME_FMT "%s", base, tmp ? Q_SEG_TMP_SUFFIX : "");
}

int q_seg_name_parse(const char *name, uint64_t *base)
{
    uint64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9') return 0;
        uint64_t d = (uint64_t)(name[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return 0;
        v = v * 10 + d;
    }
    *base = v;
    if (strcmp(name + 20, Q_SEG_SUFFIX) == 0) return 1;
    if (strcmp(name + 20, Q_SEG_SUFFIX Q_SEG_TMP_SUFFIX) == 0) return 2;
    return 0;
}

static int idx_alloc(q_seg *s)
{
    /* Enough slots for the densest possible segment: every record an empty payload. */
    uint64_t max_recs = (s->bytes - Q_SEG_HDR_BYTES) / Q_REC_HDR_BYTES + 1;
    s->idx_cap = (uint32_t)(max_recs / Q_SEG_IDX_STRIDE + 1);
    s->idx = rt_calloc(s->idx_cap, sizeof *s->idx);
    return s->idx ? 0 : -ENOMEM;
}

static int map_seg(q_seg *s)
{
    int prot = s->rdonly ? PROT_READ : PROT_READ | PROT_WRITE;
    void *m = q_sys.mmap(NULL, s->bytes, prot, MAP_SHARED, s->fd, 0);
    if (m == MAP_FAILED) return -errno;
    s->map = m;
    return 0;
}

uint32_t q_seg_alloc_round(const q_seg *s, uint64_t n)
{
    uint64_t r = (n + Q_SEG_ALLOC_UNIT_BYTES - 1) / Q_SEG_ALLOC_UNIT_BYTES * Q_SEG_ALLOC_UNIT_BYTES;
    return r > s->bytes ? s->bytes : (uint32_t)r;
}

uint32_t q_seg_alloc_step(const q_seg *s)
{
    if (s->alloc < Q_SEG_ALLOC_FIRST_BYTES) return Q_SEG_ALLOC_FIRST_BYTES;
    return s->alloc > Q_SEG_ALLOC_STEP_MAX_BYTES ? Q_SEG_ALLOC_STEP_MAX_BYTES : s->alloc;
}

int q_seg_grow(q_seg *s, uint64_t to)
{
    uint32_t end = q_seg_alloc_round(s, to);
    if (end <= s->alloc) return 0;
    /* Mode 0 inside the file size: allocates (unwritten extents), never changes the size. */
    if (q_sys.fallocate(s->fd, 0, (off_t)s->alloc, (off_t)(end - s->alloc)) != 0) return -errno;
    s->alloc = end;
    return 0;
}

int q_seg_prewrite(q_seg *s, uint64_t to)
{
    static const uint8_t zeros[Q_SEG_PREWRITE_WRITE_BYTES];
    uint64_t from = (uint64_t)q_seg_alloc_round(s, s->used);
    if (from < s->written) from = s->written;
    if (to <= from) return 0;
    uint64_t end = (to + Q_SEG_PREWRITE_BYTES - 1) / Q_SEG_PREWRITE_BYTES * Q_SEG_PREWRITE_BYTES;
    if (end > s->alloc) end = s->alloc;
    if (end < to) return -EFAULT; /* the caller stores only below alloc */
    while (from < end) {
        size_t n = end - from > sizeof zeros ? sizeof zeros : (size_t)(end - from);
        ssize_t w = q_sys.pwrite(s->fd, zeros, n, (off_t)from);
        if (w <= 0) return w < 0 && errno ? -errno : -EIO;
        from += (uint64_t)w;
        s->written = (uint32_t)from;
    }
    return 0;
}

/* Resets *out to a new, empty segment of `bytes` and creates (or truncates) its file `name` in
 * dirfd, owned by out->fd: the start q_seg_create and q_seg_spare_prepare share. -errno: the
 * file could not be opened (out->fd < 0, nothing to discard). */
static int seg_open_new(int dirfd, const char *name, uint32_t bytes, q_seg *out)
{
    memset(out, 0, sizeof *out);
    out->bytes = bytes;
    out->used = Q_SEG_HDR_BYTES;
    out->verified = true;
    out->version = Q_FORMAT_VERSION;
    out->fd = q_sys.openat(dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    return out->fd < 0 ? -errno : 0;
}

int q_seg_create(int dirfd, uint64_t base, uint32_t bytes, uint32_t alloc, bool sync, q_seg *out)
{
    char name[Q_SEG_NAME_BYTES];
    q_seg_name(name, base, true);
    int r = seg_open_new(dirfd, name, bytes, out);
    if (r) return r;
    out->base = base;
    uint8_t hdr[Q_SEG_HDR_BYTES];
    q_seg_hdr_encode(hdr, base, bytes, rt_wall_ns());
    r = q_sys.ftruncate(out->fd, bytes) == 0 ? 0 : -errno;
    if (r == 0) r = q_seg_grow(out, alloc < Q_SEG_HDR_BYTES ? Q_SEG_HDR_BYTES : alloc);
    if (r == 0 && q_sys.pwrite(out->fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr)
        r = errno ? -errno : -EIO;
    out->written = Q_SEG_ALLOC_UNIT_BYTES; /* the header's page: stored to by pwrite */
    /* fsync, not fdatasync: the file size set by ftruncate must be durable too. */
    if (r == 0 && sync && q_sys.fsync(out->fd) != 0) r = -errno;
    if (r == 0 && (r = idx_alloc(out)) == 0) r = map_seg(out);
    if (r) q_seg_discard(dirfd, out);
    return r;
}

int q_seg_spare_prepare(int dirfd, uint32_t bytes, uint32_t alloc, q_seg *out)
{
    static const uint8_t zeros[Q_SEG_ALLOC_UNIT_BYTES];
    int r = seg_open_new(dirfd, Q_SEG_SPARE_NAME, bytes, out);
    if (r) return r;
    r = q_sys.ftruncate(out->fd, bytes) == 0 ? 0 : -errno;
    if (r == 0) r = q_seg_grow(out, alloc < Q_SEG_PREWRITE_BYTES ? Q_SEG_PREWRITE_BYTES : alloc);
    /* The header's page now (the header goes in at adoption), then the first prewrite step. */
    if (r == 0 && q_sys.pwrite(out->fd, zeros, sizeof zeros, 0) != (ssize_t)sizeof zeros)
        r = errno ? -errno : -EIO;
    if (r == 0) {
        out->written = Q_SEG_ALLOC_UNIT_BYTES;
        r = q_seg_prewrite(out, Q_SEG_PREWRITE_BYTES);
    }
    if (r == 0) r = map_seg(out);
    if (r) q_seg_spare_discard(dirfd, out);
    return r;
}

int q_seg_spare_adopt(int dirfd, uint64_t base, q_seg *s)
{
    s->base = base;
    int r = idx_alloc(s);
    if (r) return r;
    /* The header's page was written by pwrite (q_seg_spare_prepare): storing into it through
     * the mapping needs nothing from the filesystem. */
    q_seg_hdr_encode(s->map, base, s->bytes, rt_wall_ns());
    char name[Q_SEG_NAME_BYTES];
    q_seg_name(name, base, true);
    if (q_sys.renameat(dirfd, Q_SEG_SPARE_NAME, dirfd, name) != 0) {
        r = -errno;
        memset(s->map, 0, Q_SEG_HDR_BYTES);
        rt_free(s->idx);
        s->idx = NULL;
        return r;
    }
    return 0;
}

void q_seg_spare_discard(int dirfd, q_seg *s)
{
    q_seg_close(s);
    q_sys.unlinkat(dirfd, Q_SEG_SPARE_NAME, 0);
}

int q_seg_publish(int dirfd, q_seg *s)
{
    char tmp[Q_SEG_NAME_BYTES], fin[Q_SEG_NAME_BYTES];
    q_seg_name(tmp, s->base, true);
    q_seg_name(fin, s->base, false);
    if (q_sys.renameat(dirfd, tmp, dirfd, fin) != 0) return -errno;
    s->published = true;
    return 0;
}

void q_seg_discard(int dirfd, q_seg *s)
{
    char name[Q_SEG_NAME_BYTES];
    q_seg_name(name, s->base, !s->published);
    q_seg_close(s);
    q_sys.unlinkat(dirfd, name, 0);
}

int q_seg_open(int dirfd, uint64_t base, bool published, bool rdonly, q_seg *out, const char **why)
{
    char name[Q_SEG_NAME_BYTES];
    q_seg_name(name, base, !published);
    memset(out, 0, sizeof *out);
    out->base = base;
    out->rdonly = rdonly;
    out->published = published;
    out->used = Q_SEG_HDR_BYTES;
    *why = NULL;
    out->fd = q_sys.openat(dirfd, name, (rdonly ? O_RDONLY : O_RDWR) | O_CLOEXEC, 0);
    if (out->fd < 0) return -errno;
    struct stat st;
    int r = 0;
    if (fstat(out->fd, &st) != 0) r = -errno;
    else if (st.st_size < (off_t)(Q_SEG_HDR_BYTES + Q_REC_HDR_BYTES) ||
             (uint64_t)st.st_size > Q_SEG_BYTES_MAX) {
        *why = "segment file size out of range";
        r = -EBADMSG;
    }
    if (r == 0) {
        out->bytes = (uint32_t)st.st_size;
        if ((r = idx_alloc(out)) == 0 && (r = map_seg(out)) == 0)
            r = q_seg_hdr_check(out->map, base, out->bytes, why);
    }
    if (r > 0) {
        out->version = (uint8_t)r;
        uint32_t slot = 0;
        if (r >= 2) out->synced = q_seg_synced_decode(out->map, base, &slot);
        out->synced_slot = (uint8_t)slot;
        r = 0;
    }
    if (r) q_seg_close(out);
    return r;
}

q_scan_stop q_seg_scan(q_seg *s, uint32_t rec_max, bool verify)
{
    uint32_t pos = Q_SEG_HDR_BYTES;
    s->count = 0;
    s->cur_pos = 0;
    for (;;) {
        q_rec rec;
        uint64_t span;
        q_scan_stop st = q_rec_parse(s->map + pos, s->bytes - pos, s->base + s->count, rec_max,
                                     verify, &rec, &span);
        if (st != Q_SCAN_OK) {
            s->stop = (uint8_t)st;
            s->used = pos;
            s->verified = verify;
            return st;
        }
        q_seg_index_add(s, pos);
        s->count++;
        pos += (uint32_t)span;
    }
}

/* One past the last non-zero byte in [from, to), or `from` when all are zero. */
static uint64_t last_nonzero(const uint8_t *m, uint64_t from, uint64_t to)
{
    uint64_t i = to;
    while (i > from && i % 8 != 0)
        if (m[--i]) return i + 1;
    while (i >= from + 8 && q_ld64(m + i - 8) == 0) i -= 8;
    while (i > from)
        if (m[--i]) return i + 1;
    return from;
}

uint64_t q_seg_garbage_bytes(const q_seg *s, uint32_t pos)
{
    uint64_t last = pos; /* one past the last non-zero byte seen */
    uint64_t p = pos;
    /* Walk the data extents only: a preallocated segment is mostly unwritten extents, which read
     * as zeros and which SEEK_DATA skips without touching the pages. */
    while (p < s->bytes) {
        off_t d = lseek(s->fd, (off_t)p, SEEK_DATA), h = (off_t)s->bytes;
        if (d < 0 && errno == ENXIO) break; /* no data after p */
        if (d < 0) d = (off_t)p;            /* cannot tell: read it all */
        else if ((h = lseek(s->fd, d, SEEK_HOLE)) < 0) h = (off_t)s->bytes;
        if ((uint64_t)d >= s->bytes) break;
        uint64_t from = (uint64_t)d > p ? (uint64_t)d : p;
        uint64_t to = (uint64_t)h < s->bytes ? (uint64_t)h : s->bytes;
        if (to <= from) break; /* no progress: a filesystem answering nonsense */
        uint64_t e = last_nonzero(s->map, from, to);
        if (e > from) last = e;
        p = to;
    }
    return last - pos;
}

void q_seg_set_synced(q_seg *s, uint32_t count)
{
    if (s->rdonly || s->version < 2 || count == s->synced) return;
    if (count > s->synced) {
        s->synced_slot ^= 1;
        q_seg_synced_encode(s->map, s->base, s->synced_slot, count);
    } else {
        /* Lowered: both slots, or the larger old one would still win. */
        for (uint32_t k = 0; k < Q_SEG_SYNCED_SLOTS; k++)
            q_seg_synced_encode(s->map, s->base, k, count);
    }
    s->synced = count;
}

int q_seg_clean_tail(q_seg *s, uint64_t alloc_to)
{
    uint64_t from = s->used;
    uint64_t page_up = (from + PAGE_BYTES - 1) / PAGE_BYTES * PAGE_BYTES;
    if (page_up > s->bytes) page_up = s->bytes;
    /* The page holding the last record was written, so it has its block: zeroing its rest
     * through the mapping cannot fault. */
    if (page_up > from) memset(s->map + from, 0, page_up - from);
    s->alloc = (uint32_t)page_up;
    if (page_up < s->bytes) {
        off_t off = (off_t)page_up, len = (off_t)(s->bytes - page_up);
        if (q_sys.fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len) != 0) {
            if (errno != EOPNOTSUPP) return -errno;
            /* Only words that hold bytes are stored to: blocks that are allocated already. */
            for (uint64_t i = page_up; i < s->bytes; i += 8)
                if (q_ld64(s->map + i)) q_st64(s->map + i, 0);
        }
        /* Allocate the first step again: appends through the mapping must not fault on a full
         * disk. Without room the log still opens; its appends find the disk full. */
        int r = q_seg_grow(s, alloc_to);
        if (r && r != -ENOSPC) return r;
    }
    /* A full fsync: the segment may be one whose creation was never synced (see q_log.c on
     * why syncing the fd covers pages dirtied through the mapping). */
    if (q_sys.fsync(s->fd) != 0) return -errno;
    return 0;
}

int64_t q_seg_at(const q_seg *s, uint32_t pos, uint64_t offset, q_rec *out)
{
    uint64_t span;
    if (pos < Q_SEG_HDR_BYTES || pos >= s->used) return -ERANGE;
    q_scan_stop st = q_rec_parse(s->map + pos, s->used - pos, offset, Q_REC_BYTES_MAX, !s->verified,
                                 out, &span);
    return st == Q_SCAN_OK ? (int64_t)span : -EBADMSG;
}

/* Parses forward from record rel_from at `pos` to record `rel`; returns rel's position and sets
 * *span to its length, or a negative errno. */
static int64_t seg_walk(const q_seg *s, uint64_t rel_from, uint32_t pos, uint64_t rel, q_rec *out,
                        uint32_t *span)
{
    for (uint64_t cur = rel_from;; cur++) {
        int64_t n = q_seg_at(s, pos, s->base + cur, out);
        if (n < 0) return n;
        if (cur == rel) {
            *span = (uint32_t)n;
            return pos;
        }
        pos += (uint32_t)n;
    }
}

int64_t q_seg_find_indexed(const q_seg *s, uint64_t offset, q_rec *out)
{
    if (offset < s->base || offset >= s->base + s->count) return -ERANGE;
    uint64_t rel = offset - s->base;
    uint32_t span;
    return seg_walk(s, rel / Q_SEG_IDX_STRIDE * Q_SEG_IDX_STRIDE, s->idx[rel / Q_SEG_IDX_STRIDE],
                    rel, out, &span);
}

int64_t q_seg_find(q_seg *s, uint64_t offset, q_rec *out)
{
    if (offset < s->base || offset >= s->base + s->count) return -ERANGE;
    uint64_t rel = offset - s->base;
    uint64_t from = rel / Q_SEG_IDX_STRIDE * Q_SEG_IDX_STRIDE;
    uint32_t pos = s->idx[rel / Q_SEG_IDX_STRIDE];
    if (s->cur_pos != 0 && s->cur_rel <= rel && s->cur_rel > from) {
        from = s->cur_rel;
        pos = s->cur_pos;
    }
    uint32_t span;
    int64_t r = seg_walk(s, from, pos, rel, out, &span);
    if (r >= 0) {
        s->cur_rel = rel + 1;
        s->cur_pos = (uint32_t)r + span;
    }
    return r;
}

void q_seg_close(q_seg *s)
{
    if (s->map) q_sys.munmap(s->map, s->bytes);
    if (s->fd >= 0) q_sys.close(s->fd);
    rt_free(s->idx);
    s->map = NULL;
    s->fd = -1;
    s->idx = NULL;
}

typedef struct unmap_job {
    rt_bg_job job; /* first: the job's address is the struct's */
    void *map;
    size_t bytes;
} unmap_job;

static atomic_ulong unmapped_detached;

static void unmap_now(rt_bg_job *job)
{
    unmap_job *u = (unmap_job *)job;
    q_sys.munmap(u->map, u->bytes);
    rt_free(u);
    atomic_fetch_add_explicit(&unmapped_detached, 1, memory_order_relaxed);
}

int q_seg_unmap_detached(q_seg *s)
{
    if (!s->map) return 0;
    unmap_job *u = rt_malloc(sizeof *u);
    if (!u) return -ENOMEM;
    *u = (unmap_job){.job = {.fn = unmap_now, .detached = true}, .map = s->map, .bytes = s->bytes};
    int r = rt_bg_submit(&u->job);
    if (r) {
        rt_free(u);
        return r;
    }
    s->map = NULL;
    return 0;
}

unsigned long q_seg_unmapped_detached(void)
{
    return atomic_load_explicit(&unmapped_detached, memory_order_relaxed);
}
