/* core/rt_blob: a reference-counted block of bytes, so a payload can be handed on (to an output
 * chain, to the socket) instead of copied.
 *
 * A blob is made from a buf by taking its storage (no copy): the buf is left empty and the blob
 * owns the bytes. Holders take references (rt_blob_ref) for as long as they keep pointers into
 * the bytes; the last rt_blob_unref frees the storage and runs the owner's `on_free` hook (if
 * any), which may read `copied_bytes` to account how many of the blob's bytes were copied after
 * all (a layer that could not reference them adds to it).
 *
 * Not thread-safe: a blob lives on the one thread (shard) that made it. */
#ifndef RT_BLOB_H
#define RT_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rt_buf.h"

typedef struct rt_blob rt_blob;
typedef void (*rt_blob_free_fn)(rt_blob *b);

struct rt_blob {
    uint32_t refs;
    const uint8_t *data; /* the bytes, `len` of them; never moves */
    size_t len;
    uint64_t copied_bytes;   /* bytes of this blob copied by a holder instead of referenced */
    rt_blob_free_fn on_free; /* optional: runs once, before the storage is freed */
    void *ud;                /* the owner's, for on_free */
    uint8_t *storage_;       /* owned allocation (data points into it) */
    bool inside_;            /* this header sits in storage_ (after the bytes): freed with it */
    struct rt_cache *cache_; /* rt_blob_from_buf_cached: where storage_ goes back, or NULL */
    size_t storage_bytes_;   /* storage_'s size (the buf's len when it was taken) */
};

/* Takes the storage of `b` (its readable bytes become the blob's, nothing is copied) and leaves
 * `b` empty (re-usable, same cap). The blob's header goes in the storage's free tail when it
 * fits there (no allocation), else it is allocated. One reference, the caller's. Returns NULL
 * on allocation failure (then `b` is unchanged) or when `b` is empty. */
rt_blob *rt_blob_from_buf(buf *b, rt_blob_free_fn on_free, void *ud);
/* The same, and the last unref puts the storage back into `cache` (core/rt_cache: borrowed,
 * it must outlive the blob and belong to the thread the blob lives on) when it is exactly the
 * cache's object size, instead of freeing it: a per-request buffer that goes to the socket by
 * reference is reused, not malloc'd and freed each time (past glibc's per-thread cache of 7
 * blocks of a size, a free consolidates). NULL cache: rt_blob_from_buf. */
rt_blob *rt_blob_from_buf_cached(buf *b, rt_blob_free_fn on_free, void *ud, struct rt_cache *cache);
/* Copies `n` bytes into a new blob (for small pieces that must join a chain of blobs). NULL on
 * allocation failure. Counts nothing: the caller knows it copied. */
rt_blob *rt_blob_copy(const void *p, size_t n);
static inline rt_blob *rt_blob_ref(rt_blob *b)
{
    b->refs++;
    return b;
}
/* Drops one reference; the last one runs on_free and frees. NULL is ignored. */
void rt_blob_unref(rt_blob *b);

#endif
