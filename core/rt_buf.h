/* core/rt_buf: a growable byte buffer with a hard cap.
 *
 * Used for per-connection input leftovers and output queues. Memory is bounded by `cap`: an
 * append that would exceed it fails with -ENOBUFS and leaves the buffer unchanged, so callers
 * turn "too much data" into a protocol error instead of unbounded growth.
 *
 * Layout: [consumed | data (rd..wr) | free]. buf_consume() advances rd; space is reclaimed by
 * compaction when needed. */
#ifndef RT_BUF_H
#define RT_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct buf {
    uint8_t *data;
    size_t rd;  /* first unconsumed byte */
    size_t wr;  /* one past the last written byte */
    size_t len; /* allocated bytes */
    size_t cap; /* hard limit on allocated bytes */
} buf;

/* Initializes an empty buffer (no allocation yet) with a hard cap in bytes. */
void buf_init(buf *b, size_t cap);
/* Frees the storage. The buffer may be re-initialized afterwards. */
void buf_deinit(buf *b);

static inline size_t buf_size(const buf *b) { return b->wr - b->rd; }
static inline const uint8_t *buf_begin(const buf *b)
{
    return b->data ? b->data + b->rd : (const uint8_t *)"";
}

/* Ensures `n` writable bytes after wr and points `*dst` at them. Returns 0, -ENOBUFS (the cap
 * would be exceeded: flow control, the caller decides) or -ENOMEM (allocation failed); on error
 * the buffer is unchanged and `*dst` untouched. Never touches the global errno. The pointer is
 * valid until the next call that may reallocate. Call buf_commit() with what was written. */
static inline int buf_reserve(buf *b, size_t n, uint8_t **dst);
/* buf_reserve when the room after wr is short (or nothing is allocated): compacts or grows. */
int buf_reserve_slow(buf *b, size_t n, uint8_t **dst);
/* The room is there: inline, no call (s12-fastcpu2: ~800k calls per 57k tasks at x = 256
 * ringq-stream, most of them this case). */
static inline int buf_reserve(buf *b, size_t n, uint8_t **dst)
{
    if (b->data && b->len - b->wr >= n) {
        *dst = b->data + b->wr;
        return 0;
    }
    return buf_reserve_slow(b, n, dst);
}
static inline void buf_commit(buf *b, size_t n) { b->wr += n; }

/* Copies `n` bytes in; returns 0 or -ENOBUFS (cap) / -ENOMEM. */
int buf_append(buf *b, const void *p, size_t n);
/* Drops bytes from the end so that buf_size(b) == size (size <= buf_size): undoes appends made
 * since the size was taken, e.g. a half-written frame after an error. */
static inline void buf_truncate(buf *b, size_t size) { b->wr = b->rd + size; }
/* Drops `n` bytes from the front (n <= buf_size). Resets to empty cheaply when all consumed. */
void buf_consume(buf *b, size_t n);
/* Takes back the last n bytes consumed, still in the storage in front of buf_begin (e.g. room a
 * producer left for a header written later). 0, or -ENOSPC when fewer lie there (buf_consume
 * of everything forgets them). */
int buf_unconsume(buf *b, size_t n);
/* Releases storage when empty and larger than `keep` bytes, to bound idle-connection memory. */
void buf_shrink(buf *b, size_t keep);

#endif
