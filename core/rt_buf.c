#include "core/rt_buf.h"

#include <errno.h>
#include <string.h>

#include "core/rt_alloc.h"

/* First allocation of a buffer, bytes: a typical frame or request fits, and doubling from
 * here reaches any cap in a few steps. */
#define BUF_FIRST_ALLOC_BYTES 1024u

void buf_init(buf *b, size_t cap)
{
    b->data = NULL;
    b->rd = b->wr = b->len = 0;
    b->cap = cap;
}

void buf_deinit(buf *b)
{
    rt_free(b->data);
    b->data = NULL;
    b->rd = b->wr = b->len = 0;
}

int buf_reserve_slow(buf *b, size_t n, uint8_t **dst)
{
    static uint8_t empty[1];
    if (n == 0 && !b->data) { /* nothing to write; never NULL + 0 */
        *dst = empty;
        return 0;
    }
    if (b->len - b->wr >= n) {
        *dst = b->data + b->wr;
        return 0;
    }
    size_t used = b->wr - b->rd;
    if (n > b->cap || used > b->cap - n) return -ENOBUFS;
    /* Compact first when that alone makes room. */
    if (b->rd > 0 && b->len - used >= n) {
        memmove(b->data, b->data + b->rd, used);
        b->rd = 0;
        b->wr = used;
        *dst = b->data + b->wr;
        return 0;
    }
    size_t want = b->len ? b->len : BUF_FIRST_ALLOC_BYTES;
    while (want < used + n) want *= 2;
    if (want > b->cap) want = b->cap;
    uint8_t *p = rt_malloc(want);
    if (!p) return -ENOMEM;
    if (used) memcpy(p, b->data + b->rd, used);
    rt_free(b->data);
    b->data = p;
    b->len = want;
    b->rd = 0;
    b->wr = used;
    *dst = b->data + b->wr;
    return 0;
}

int buf_append(buf *b, const void *p, size_t n)
{
    if (n == 0) return 0;
    uint8_t *dst;
    int rc = buf_reserve(b, n, &dst);
    if (rc < 0) return rc;
    memcpy(dst, p, n);
    b->wr += n;
    return 0;
}

void buf_consume(buf *b, size_t n)
{
    b->rd += n;
    if (b->rd >= b->wr) b->rd = b->wr = 0;
}

int buf_unconsume(buf *b, size_t n)
{
    if (b->rd < n) return -ENOSPC;
    b->rd -= n;
    return 0;
}

void buf_shrink(buf *b, size_t keep)
{
    if (b->rd == b->wr && b->len > keep) {
        rt_free(b->data);
        b->data = NULL;
        b->len = b->rd = b->wr = 0;
    }
}
