#include "core/rt_blob.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "core/rt_cache.h"

/* Where the blob's header can sit in the buffer's own storage, after its bytes (aligned), or
 * NULL when the slack is too small. A header allocated per blob was ~1 % of the server's
 * samples at batch 1 (one blob per response); a buffer grown by doubling nearly always has the
 * room. */
static rt_blob *header_in_slack(const buf *b)
{
    uintptr_t end = (uintptr_t)(b->data + b->len);
    uintptr_t at = ((uintptr_t)(b->data + b->wr) + _Alignof(rt_blob) - 1) &
                   ~(uintptr_t)(_Alignof(rt_blob) - 1);
    return at <= end && end - at >= sizeof(rt_blob) ? (rt_blob *)at : NULL;
}

rt_blob *rt_blob_from_buf(buf *b, rt_blob_free_fn on_free, void *ud)
{
    return rt_blob_from_buf_cached(b, on_free, ud, NULL);
}

rt_blob *rt_blob_from_buf_cached(buf *b, rt_blob_free_fn on_free, void *ud, rt_cache *cache)
{
    if (buf_size(b) == 0) return NULL;
    rt_blob *bl = header_in_slack(b);
    bool inside = bl != NULL;
    if (!bl) bl = rt_malloc(sizeof *bl);
    if (!bl) return NULL;
    *bl = (rt_blob){.refs = 1,
                    .data = b->data + b->rd,
                    .len = buf_size(b),
                    .on_free = on_free,
                    .ud = ud,
                    .storage_ = b->data,
                    .inside_ = inside,
                    .cache_ = cache,
                    .storage_bytes_ = b->len};
    b->data = NULL; /* the storage is the blob's now */
    b->rd = b->wr = b->len = 0;
    return bl;
}

rt_blob *rt_blob_copy(const void *p, size_t n)
{
    rt_blob *bl = rt_malloc(sizeof *bl + (n ? n : 1));
    if (!bl) return NULL;
    uint8_t *d = (uint8_t *)(bl + 1);
    if (n) memcpy(d, p, n);
    *bl = (rt_blob){.refs = 1, .data = d, .len = n};
    return bl;
}

void rt_blob_unref(rt_blob *b)
{
    if (!b || --b->refs > 0) return;
    if (b->on_free) b->on_free(b);
    /* Read before the storage goes: the header may sit inside it. */
    uint8_t *storage = b->storage_;
    rt_cache *cache = b->cache_;
    bool cached = cache && b->storage_bytes_ == cache->obj_bytes;
    if (!b->inside_) rt_free(b);
    if (cached) rt_cache_put(cache, storage); /* kept, or freed when the cache is full */
    else rt_free(storage);                    /* with the header when it sits inside */
}
