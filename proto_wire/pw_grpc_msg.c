/* proto_wire/pw_grpc_msg: gRPC message framing. See pw_grpc_msg.h for the contracts. */
#include "proto_wire/pw_grpc_msg.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_alloc.h"

_Static_assert(PW_GRPC_MAX_MSG_BYTES_DEFAULT <= UINT32_MAX, "fits the 32-bit length field");
_Static_assert(PW_GRPC_DEFRAMER_KEEP_BYTES <= PW_GRPC_MAX_MSG_BYTES_DEFAULT,
               "keeping more than a default message would be pointless");

/* Target of empty messages' views, so a yielded ptr is never NULL. */
static const uint8_t empty_msg[1];

/* The one place the state changes; asserts the transition is legal. */
static void set_state(pw_grpc_deframer *d, pw_grpc_deframer_state next)
{
    switch (next) {
    case PW_GRPC_DF_HEADER: assert(d->state == PW_GRPC_DF_BODY); break;
    case PW_GRPC_DF_BODY: assert(d->state == PW_GRPC_DF_HEADER); break;
    case PW_GRPC_DF_FAILED: assert(d->state != PW_GRPC_DF_FAILED); break;
    }
    d->state = next;
}

static int fail(pw_grpc_deframer *d, int err)
{
    set_state(d, PW_GRPC_DF_FAILED);
    d->err = err;
    return err;
}

void pw_grpc_deframer_init(pw_grpc_deframer *d, size_t max_msg_bytes)
{
    memset(d, 0, sizeof *d);
    d->state = PW_GRPC_DF_HEADER;
    d->max_msg_bytes = max_msg_bytes ? max_msg_bytes : PW_GRPC_MAX_MSG_BYTES_DEFAULT;
    d->realloc_fn = rt_realloc;
}

static void release_body(pw_grpc_deframer *d)
{
    rt_free(d->body);
    d->body = NULL;
    d->body_cap = 0;
    d->body_have = 0;
}

void pw_grpc_deframer_deinit(pw_grpc_deframer *d) { release_body(d); }

static inline void advance(const uint8_t **src, size_t *len, size_t n)
{
    *src += n;
    *len -= n;
}

/* A complete prefix is in d->hdr: validate it, then yield the body in place or start assembly. */
static int on_prefix(pw_grpc_deframer *d, const uint8_t **src, size_t *len, pw_grpc_msg *out)
{
    uint8_t flag = d->hdr[0];
    size_t mlen = (size_t)d->hdr[1] << 24 | (size_t)d->hdr[2] << 16 | (size_t)d->hdr[3] << 8 |
                  (size_t)d->hdr[4];
    d->hdr_have = 0;
    if (flag > 1) return fail(d, PW_GRPC_DEFRAME_ERR_BAD_FLAG);
    if (flag == 1 && !d->compression_ok) return fail(d, PW_GRPC_DEFRAME_ERR_COMPRESSED);
    /* Checked before anything of the body is buffered: the peer cannot make us allocate. */
    if (mlen > d->max_msg_bytes) return fail(d, PW_GRPC_DEFRAME_ERR_TOO_LARGE);

    if (*len >= mlen) { /* whole body in this slice: zero copy */
        out->ptr = mlen ? *src : empty_msg;
        out->len = mlen;
        out->compressed = flag == 1;
        out->copied = false;
        advance(src, len, mlen);
        return 1;
    }
    if (d->body_cap < mlen) {
        rt_free(d->body);
        d->body = NULL;
        d->body_cap = 0;
        uint8_t *p = d->realloc_fn(NULL, mlen); /* exactly one message, at most max_msg_bytes */
        if (!p) return fail(d, -ENOMEM);
        d->body = p;
        d->body_cap = mlen;
    }
    if (*len) memcpy(d->body, *src, *len);
    d->body_have = *len;
    advance(src, len, *len);
    d->cur_len = mlen;
    d->cur_compressed = flag == 1;
    set_state(d, PW_GRPC_DF_BODY);
    return 0;
}

int pw_grpc_deframe(pw_grpc_deframer *d, const uint8_t **src, size_t *len, pw_grpc_msg *out)
{
    switch (d->state) {
    case PW_GRPC_DF_FAILED: return d->err;

    case PW_GRPC_DF_HEADER: {
        /* The previous yield's view is dead now: drop a large assembly buffer. */
        if (d->body_cap > PW_GRPC_DEFRAMER_KEEP_BYTES) release_body(d);
        size_t take = PW_GRPC_MSG_PREFIX_BYTES - d->hdr_have;
        if (take > *len) take = *len;
        if (take) {
            memcpy(d->hdr + d->hdr_have, *src, take);
            d->hdr_have += take;
            advance(src, len, take);
        }
        if (d->hdr_have < PW_GRPC_MSG_PREFIX_BYTES) return 0;
        return on_prefix(d, src, len, out);
    }

    case PW_GRPC_DF_BODY: {
        size_t take = d->cur_len - d->body_have;
        if (take > *len) take = *len;
        if (take) {
            memcpy(d->body + d->body_have, *src, take);
            d->body_have += take;
            advance(src, len, take);
        }
        if (d->body_have < d->cur_len) return 0;
        out->ptr = d->body;
        out->len = d->cur_len;
        out->compressed = d->cur_compressed;
        out->copied = true;
        d->body_have = 0;
        set_state(d, PW_GRPC_DF_HEADER);
        return 1;
    }
    }
    return d->err; /* unreachable */
}

int pw_grpc_deframer_finish(pw_grpc_deframer *d)
{
    if (d->state == PW_GRPC_DF_FAILED) return d->err;
    if (pw_grpc_deframer_at_boundary(d)) return 0;
    return fail(d, PW_GRPC_DEFRAME_ERR_TRUNCATED);
}

pw_grpc_status pw_grpc_deframe_err_status(int err)
{
    switch (err) {
    case PW_GRPC_DEFRAME_ERR_TOO_LARGE:
    case -ENOMEM: return PW_GRPC_RESOURCE_EXHAUSTED;
    default: return PW_GRPC_INTERNAL;
    }
}

const char *pw_grpc_deframe_strerror(int err)
{
    switch (err) {
    case PW_GRPC_DEFRAME_ERR_TOO_LARGE: return "message larger than the maximum";
    case PW_GRPC_DEFRAME_ERR_COMPRESSED: return "compressed flag set but no grpc-encoding";
    case PW_GRPC_DEFRAME_ERR_BAD_FLAG: return "invalid compressed flag";
    case PW_GRPC_DEFRAME_ERR_TRUNCATED: return "stream ended inside a message";
    case -ENOMEM: return "out of memory assembling a message";
    default: return "unknown deframer error";
    }
}

/* ---- Encoder ---- */

int pw_grpc_msg_encode(buf *out, const uint8_t *payload, size_t len, bool compressed)
{
    if (len > UINT32_MAX) return -EMSGSIZE;
    uint8_t *p;
    int rc = buf_reserve(out, PW_GRPC_MSG_PREFIX_BYTES + len, &p);
    if (rc < 0) return rc;
    pw_grpc_msg_put_prefix(p, compressed, (uint32_t)len);
    if (len) memcpy(p + PW_GRPC_MSG_PREFIX_BYTES, payload, len);
    buf_commit(out, PW_GRPC_MSG_PREFIX_BYTES + len);
    return 0;
}

int pw_grpc_msg_begin(buf *out, pw_grpc_msg_mark *m)
{
    uint8_t *p;
    int rc = buf_reserve(out, PW_GRPC_MSG_PREFIX_BYTES, &p);
    if (rc < 0) return rc;
    memset(p, 0, PW_GRPC_MSG_PREFIX_BYTES);
    buf_commit(out, PW_GRPC_MSG_PREFIX_BYTES);
    m->off = buf_size(out) - PW_GRPC_MSG_PREFIX_BYTES;
    return 0;
}

int pw_grpc_msg_end(buf *out, const pw_grpc_msg_mark *m, bool compressed)
{
    size_t size = buf_size(out);
    assert(m->off + PW_GRPC_MSG_PREFIX_BYTES <= size); /* nothing consumed since begin */
    size_t body = size - m->off - PW_GRPC_MSG_PREFIX_BYTES;
    if (body > UINT32_MAX) return -EMSGSIZE;
    pw_grpc_msg_put_prefix(out->data + out->rd + m->off, compressed, (uint32_t)body);
    return 0;
}
