#include "core/rt_buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void buf_init(buf *b, size_t cap)
{
    b->data = NULL;
    b->rd = b->wr = b->len = 0;
    b->cap = cap;
}

void buf_deinit(buf *b)
{
    free(b->data);
    b->data = NULL;
    b->rd = b->wr = b->len = 0;
}

uint8_t *buf_reserve(buf *b, size_t n)
{
    static uint8_t empty[1];
    if (n == 0 && !b->data) return empty; /* nothing to write; never NULL + 0 */
    if (b->len - b->wr >= n) return b->data + b->wr;
    size_t used = b->wr - b->rd;
    if (n > b->cap || used > b->cap - n) {
        errno = ENOBUFS;
        return NULL;
    }
    /* Compact first when that alone makes room. */
    if (b->rd > 0 && b->len - used >= n) {
        memmove(b->data, b->data + b->rd, used);
        b->rd = 0;
        b->wr = used;
        return b->data + b->wr;
    }
    size_t want = b->len ? b->len : 1024;
    while (want < used + n) want *= 2;
    if (want > b->cap) want = b->cap;
    uint8_t *p = malloc(want);
    if (!p) {
        errno = ENOMEM;
        return NULL;
    }
    if (used) memcpy(p, b->data + b->rd, used);
    free(b->data);
    b->data = p;
    b->len = want;
    b->rd = 0;
    b->wr = used;
    return b->data + b->wr;
}

int buf_append(buf *b, const void *p, size_t n)
{
    if (n == 0) return 0;
    uint8_t *dst = buf_reserve(b, n);
    if (!dst) return -errno;
    memcpy(dst, p, n);
    b->wr += n;
    return 0;
}

void buf_consume(buf *b, size_t n)
{
    b->rd += n;
    if (b->rd >= b->wr) b->rd = b->wr = 0;
}

void buf_shrink(buf *b, size_t keep)
{
    if (b->rd == b->wr && b->len > keep) {
        free(b->data);
        b->data = NULL;
        b->len = b->rd = b->wr = 0;
    }
}
