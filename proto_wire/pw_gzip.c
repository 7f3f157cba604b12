/* proto_wire/pw_gzip: bounded gzip for gRPC messages. See pw_gzip.h for the contracts. */
#include "proto_wire/pw_gzip.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <zlib.h>

#include "core/rt_alloc.h"

/* zlib's default memLevel: deflate state about 256 KiB + 6 KiB, once per context. */
#define GZIP_MEM_LEVEL 8

void pw_gzip_ctx_init(pw_gzip_ctx *c, int level)
{
    c->deflate = NULL;
    c->inflate = NULL;
    c->level = level;
}

void pw_gzip_ctx_deinit(pw_gzip_ctx *c)
{
    if (c->deflate) {
        deflateEnd(c->deflate);
        rt_free(c->deflate);
        c->deflate = NULL;
    }
    if (c->inflate) {
        inflateEnd(c->inflate);
        rt_free(c->inflate);
        c->inflate = NULL;
    }
}

/* zlib's own allocations go through core/rt_alloc too, so a test can fail them. */
static voidpf zalloc_rt(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    return rt_calloc(items, size);
}

static void zfree_rt(voidpf opaque, voidpf p)
{
    (void)opaque;
    rt_free(p);
}

/* Returns the reset deflate stream, or NULL with *err = -ENOMEM / -EINVAL (bad level). */
static z_stream *deflater(pw_gzip_ctx *c, int *err)
{
    if (c->deflate) {
        if (deflateReset(c->deflate) == Z_OK) return c->deflate;
        *err = -EINVAL;
        return NULL;
    }
    z_stream *z = rt_calloc(1, sizeof *z);
    if (!z) {
        *err = -ENOMEM;
        return NULL;
    }
    z->zalloc = zalloc_rt;
    z->zfree = zfree_rt;
    int rc = deflateInit2(z, c->level, Z_DEFLATED, PW_GZIP_WINDOW_BITS, GZIP_MEM_LEVEL,
                          Z_DEFAULT_STRATEGY);
    if (rc != Z_OK) {
        rt_free(z);
        *err = rc == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
        return NULL;
    }
    c->deflate = z;
    return z;
}

static z_stream *inflater(pw_gzip_ctx *c)
{
    if (c->inflate) {
        if (inflateReset(c->inflate) != Z_OK) return NULL;
        return c->inflate;
    }
    z_stream *z = rt_calloc(1, sizeof *z);
    if (!z) return NULL;
    z->zalloc = zalloc_rt;
    z->zfree = zfree_rt;
    if (inflateInit2(z, PW_GZIP_WINDOW_BITS) != Z_OK) {
        rt_free(z);
        return NULL;
    }
    c->inflate = z;
    return z;
}

/* Undo everything appended since the call started: out keeps its previous contents. */
static int rollback(buf *out, size_t orig_size, int err)
{
    out->wr = out->rd + orig_size;
    return err;
}

static inline size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

int pw_gzip_compress(pw_gzip_ctx *c, const uint8_t *src, size_t len, buf *out)
{
    if (len > UINT_MAX) return -EMSGSIZE; /* avail_in is a uInt */
    int err = 0;
    z_stream *z = deflater(c, &err);
    if (!z) return err;
    size_t orig = buf_size(out);
    z->next_in = (Bytef *)(uintptr_t)src; /* zlib does not write through next_in */
    z->avail_in = (uInt)len;
    /* deflateBound covers the whole stream (with gzip header and trailer) in one step, unless
     * out's cap leaves less room; then we go on in smaller steps until the cap refuses. */
    size_t step = deflateBound(z, (uLong)len);
    for (;;) {
        size_t room = min_sz(min_sz(step, out->cap - buf_size(out)), UINT_MAX);
        if (room == 0) return rollback(out, orig, -ENOBUFS);
        uint8_t *dst;
        int rrc = buf_reserve(out, room, &dst);
        if (rrc < 0) return rollback(out, orig, rrc);
        z->next_out = dst;
        z->avail_out = (uInt)room;
        int rc = deflate(z, Z_FINISH);
        buf_commit(out, room - z->avail_out);
        if (rc == Z_STREAM_END) return 0;
        if (rc != Z_OK && rc != Z_BUF_ERROR) return rollback(out, orig, -EINVAL);
        step = PW_GZIP_STEP_BYTES;
    }
}

int pw_gzip_decompress(pw_gzip_ctx *c, const uint8_t *src, size_t len, size_t max_out, buf *out)
{
    if (len == 0) return PW_GZIP_ERR_CORRUPT;
    z_stream *z = inflater(c);
    if (!z) return -ENOMEM;
    z->next_in = NULL; /* inflateReset keeps the last call's input pointers: drop them */
    z->avail_in = 0;
    size_t orig = buf_size(out);
    size_t produced = 0;
    const uint8_t *in = src;
    size_t in_left = len;
    for (;;) {
        if (z->avail_in == 0 && in_left > 0) {
            size_t chunk = min_sz(in_left, UINT_MAX);
            z->next_in = (Bytef *)(uintptr_t)in;
            z->avail_in = (uInt)chunk;
            in += chunk;
            in_left -= chunk;
        }
        /* Room for output: bounded by max_out, out's cap and one step. When no room is left we
         * still run inflate into a one-byte probe: a produced byte proves the output is larger
         * than allowed, while a clean end (only trailer bytes left) is still a success. */
        size_t room = min_sz(min_sz(max_out - produced, out->cap - buf_size(out)),
                             PW_GZIP_STEP_BYTES);
        uint8_t probe;
        uint8_t *dst = &probe;
        size_t avail = 1;
        if (room > 0) {
            int rrc = buf_reserve(out, room, &dst);
            if (rrc < 0) return rollback(out, orig, rrc);
            avail = room;
        }
        z->next_out = dst;
        z->avail_out = (uInt)avail;
        int rc = inflate(z, Z_NO_FLUSH);
        size_t got = avail - z->avail_out;
        if (room == 0 && got > 0)
            return rollback(out, orig, produced == max_out ? PW_GZIP_ERR_TOO_LARGE : -ENOBUFS);
        if (room > 0) {
            buf_commit(out, got);
            produced += got;
        }
        switch (rc) {
        case Z_OK: continue;
        case Z_STREAM_END:
            if (z->avail_in == 0 && in_left == 0) return 0;
            /* RFC 1952 §2.2: a gzip file is a series of members. Anything that is not another
             * member fails in the next inflate() with Z_DATA_ERROR. */
            if (inflateReset(z) != Z_OK) return rollback(out, orig, PW_GZIP_ERR_CORRUPT);
            continue;
        case Z_MEM_ERROR: return rollback(out, orig, -ENOMEM);
        default: /* Z_BUF_ERROR (no progress: input ended early), Z_DATA_ERROR, Z_NEED_DICT */
            return rollback(out, orig, PW_GZIP_ERR_CORRUPT);
        }
    }
}
