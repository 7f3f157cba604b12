#include "core/rt_blob.h"

#include <string.h>

#include "core/rt_alloc.h"

rt_blob *rt_blob_from_buf(buf *b, rt_blob_free_fn on_free, void *ud)
{
    if (buf_size(b) == 0) return NULL;
    rt_blob *bl = rt_malloc(sizeof *bl);
    if (!bl) return NULL;
    *bl = (rt_blob){.refs = 1,
                    .data = b->data + b->rd,
                    .len = buf_size(b),
                    .on_free = on_free,
                    .ud = ud,
                    .storage_ = b->data};
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
    rt_free(b->storage_);
    rt_free(b);
}
