/* proto_wire/pw_grpc_send: a call's response messages — copied into its output queue
 * (pw_grpc_call_send, send_begin/commit), compressed when the call compresses, or handed to the
 * HTTP/2 stream by reference (pw_grpc_call_send_buf, pw_grpc_call_send_framed). The call's life,
 * headers, trailers and pump are pw_grpc_call.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto_wire/pw_grpc_server_int.h"

static int check_can_send(pw_grpc_call *c)
{
    if (c->done || c->finished || !pw_grpc_call_attached(c)) return -ECANCELED;
    if ((c->m->kind == PW_GRPC_UNARY || c->m->kind == PW_GRPC_CLIENT_STREAMING) && c->nresp > 0)
        return -EPROTO;
    if (buf_size(&c->outq) >= PW_GRPC_CALL_OUTQ_HIGH_BYTES) {
        c->want_writable = true;
        return -ENOBUFS;
    }
    return 0;
}

/* Reserves the prefix of the next message: 0, check_can_send's errors, -ENOBUFS (outq's cap)
 * or -ENOMEM. */
static int send_begin(pw_grpc_call *c)
{
    int r = check_can_send(c);
    if (r) return r;
    uint8_t *p;
    r = buf_reserve(&c->outq, PW_GRPC_MSG_PREFIX_BYTES, &p);
    if (r < 0) return r;
    buf_commit(&c->outq, PW_GRPC_MSG_PREFIX_BYTES);
    c->send_mark = c->outq.wr - PW_GRPC_MSG_PREFIX_BYTES - c->outq.rd;
    c->in_send = true;
    return 0;
}

buf *pw_grpc_call_send_begin(pw_grpc_call *c) { return send_begin(c) == 0 ? &c->outq : NULL; }

static void put_prefix(uint8_t *p, bool compressed, size_t len)
{
    p[0] = compressed ? 1 : 0;
    p[1] = (uint8_t)(len >> 24);
    p[2] = (uint8_t)(len >> 16);
    p[3] = (uint8_t)(len >> 8);
    p[4] = (uint8_t)len;
}

int pw_grpc_call_send_commit(pw_grpc_call *c, unsigned flags)
{
    if (!c->in_send) return -EINVAL;
    c->in_send = false;
    size_t start = c->outq.rd + c->send_mark;
    size_t len = c->outq.wr - start - PW_GRPC_MSG_PREFIX_BYTES;
    if (c->done || !pw_grpc_call_attached(c)) {
        c->outq.wr = start;
        return -ECANCELED;
    }
    if (len > pw_grpc_call_send_max(c)) {
        c->outq.wr = start;
        return -EMSGSIZE;
    }
    if (c->local_fn) { /* kept in outq for pw_grpc_call_finish */
        put_prefix(c->outq.data + start, false, len);
        c->nresp++;
        return 0;
    }
    bool gz = pw_grpc_call_compressing(c) && !(flags & PW_GRPC_SEND_NO_COMPRESS);
    if (gz) {
        buf z;
        buf_init(&z, c->outq.cap);
        int r = pw_gzip_compress(pw_grpc_gzip(), c->outq.data + start + PW_GRPC_MSG_PREFIX_BYTES,
                                 len, &z);
        if (r == 0) {
            c->outq.wr = start + PW_GRPC_MSG_PREFIX_BYTES;
            r = buf_append(&c->outq, buf_begin(&z), buf_size(&z));
            len = buf_size(&z);
        }
        buf_deinit(&z);
        if (r != 0) {
            c->outq.wr = start;
            return r;
        }
    }
    /* Submitting the headers can fail the whole session (its output could not grow): that
     * closes every stream and detaches this call. Keep the connection to notify it, so its
     * owner flushes the GOAWAY and closes, instead of leaving the peer waiting. */
    pw_grpc_conn *g = c->conn;
    int r = pw_grpc_call_send_headers(c);
    if (r == 0 && !c->conn) r = -ECANCELED;
    if (r < 0) { /* nothing of this message is queued: the caller may finish with a status */
        c->outq.wr = start;
        pw_grpc_conn_touch(g);
        return r;
    }
    put_prefix(c->outq.data + start, gz, len);
    c->nresp++;
    pw_grpc_call_pump(c);
    return 0;
}

void pw_grpc_call_send_abort(pw_grpc_call *c)
{
    if (!c->in_send) return;
    c->in_send = false;
    c->outq.wr = c->outq.rd + c->send_mark;
}

int pw_grpc_call_send(pw_grpc_call *c, const uint8_t *msg, size_t len, unsigned flags)
{
    int r = check_can_send(c);
    if (r) return r;
    if (len > pw_grpc_call_send_max(c)) return -EMSGSIZE;
    r = send_begin(c);
    if (r < 0) return r;
    r = buf_append(&c->outq, msg, len);
    if (r < 0) {
        c->in_send = false;
        c->outq.wr = c->outq.rd + c->send_mark;
        return r;
    }
    return pw_grpc_call_send_commit(c, flags);
}

/* Hands `len` bytes of `b` (already gRPC-framed messages, `nmsgs` of them) to the stream by
 * reference, behind `prefix` (copied: a message prefix, or nothing), in one frame with it.
 * Bytes still in outq (the stream's pending was full) go first, their storage handed on as a
 * blob of its own (no copy); only inside a send_begin/commit is the blob copied into outq
 * instead, to keep the order, and the blob counts that copy. */
static int send_blob(pw_grpc_call *c, rt_blob *b, const uint8_t *prefix, size_t prefix_len,
                     uint32_t nmsgs)
{
    /* Submitting the headers can fail the whole session (see pw_grpc_call_send_commit): the
     * call is detached then; keep the connection to notify it. */
    pw_grpc_conn *g = c->conn;
    int r = pw_grpc_call_send_headers(c);
    if (r == 0 && !c->conn) r = -ECANCELED;
    if (r < 0) {
        pw_grpc_conn_touch(g);
        return r;
    }
    if (buf_size(&c->outq) > 0 && !c->in_send) {
        rt_blob *q = rt_blob_from_buf(&c->outq, NULL, NULL);
        r = q ? pw_h2_submit_data_ref(c->conn->h2, c->stream_id, NULL, 0, q, q->data, q->len)
              : -ENOMEM;
        rt_blob_unref(q);
        if (r < 0) {
            pw_grpc_call_reset_on_error(c, r); /* outq's bytes are gone with the blob */
            return r;
        }
        if (!c->conn) { /* the submit's pump failed the session: detached */
            pw_grpc_conn_touch(g);
            return -ECANCELED;
        }
    }
    if (c->in_send) { /* behind a message being written: into outq after it, a copy */
        size_t mark = buf_size(&c->outq);
        r = buf_append(&c->outq, prefix, prefix_len);
        if (r == 0) r = buf_append(&c->outq, b->data, b->len);
        if (r < 0) {
            buf_truncate(&c->outq, mark);
            return r;
        }
        b->copied_bytes += b->len;
    } else {
        r = pw_h2_submit_data_ref(c->conn->h2, c->stream_id, prefix, prefix_len, b, b->data,
                                  b->len);
        if (r < 0) return r; /* -ENOMEM: nothing of it was queued */
    }
    c->nresp += (int)nmsgs;
    if (!c->conn) { /* queued, then the pump failed the session: its GOAWAY must go out */
        pw_grpc_conn_touch(g);
        return -ECANCELED;
    }
    pw_grpc_call_pump(c);
    return 0;
}

static int send_owned_check(pw_grpc_call *c, size_t len)
{
    int r = check_can_send(c);
    if (r) return r;
    if (len > pw_grpc_call_send_max(c)) return -EMSGSIZE;
    return 0;
}

int pw_grpc_call_send_buf(pw_grpc_call *c, buf *msg, unsigned flags)
{
    int r = send_owned_check(c, buf_size(msg));
    if (r) return r;
    if ((pw_grpc_call_compressing(c) && !(flags & PW_GRPC_SEND_NO_COMPRESS)) ||
        buf_size(msg) == 0 || c->local_fn) {
        r = pw_grpc_call_send(c, buf_begin(msg), buf_size(msg), flags);
        if (r == 0) buf_consume(msg, buf_size(msg));
        return r;
    }
    if (buf_unconsume(msg, PW_GRPC_MSG_PREFIX_BYTES) == 0) {
        /* Encoded with room in front (pw_grpc_msg_encode_for_send): the prefix goes there, and
         * prefix and message leave as one piece, nothing copied into the stream. */
        put_prefix(msg->data + msg->rd, false, buf_size(msg) - PW_GRPC_MSG_PREFIX_BYTES);
        rt_blob *b = rt_blob_from_buf(msg, NULL, NULL);
        if (!b) {
            buf_consume(msg, PW_GRPC_MSG_PREFIX_BYTES); /* msg as it came: the message only */
            return -ENOMEM;
        }
        r = send_blob(c, b, NULL, 0, 1);
        rt_blob_unref(b);
        return r;
    }
    uint8_t prefix[PW_GRPC_MSG_PREFIX_BYTES];
    put_prefix(prefix, false, buf_size(msg));
    rt_blob *b = rt_blob_from_buf(msg, NULL, NULL);
    if (!b) return -ENOMEM;
    r = send_blob(c, b, prefix, sizeof prefix, 1);
    rt_blob_unref(b);
    return r;
}

int pw_grpc_msg_encode_for_send(const pw_msg_desc *d, const void *msg, buf *out)
{
    if (buf_size(out) != 0) return -EINVAL;
    int r = pw_msg_encode_headed(d, msg, PW_GRPC_MSG_PREFIX_BYTES, out, NULL);
    if (r < 0) return r;
    buf_consume(out,
                PW_GRPC_MSG_PREFIX_BYTES); /* an empty message leaves no room: sent as before */
    return r;
}

int pw_grpc_call_send_framed(pw_grpc_call *c, rt_blob *b, uint32_t nmsgs)
{
    int r = check_can_send(c);
    if (r) return r;
    if (pw_grpc_call_compressing(c) || c->local_fn) return -EOPNOTSUPP;
    /* Each message within the limit, as pw_grpc_call_send checks one: walk the prefixes. */
    for (size_t off = 0; off < b->len;) {
        if (b->len - off < PW_GRPC_MSG_PREFIX_BYTES) return -EINVAL;
        const uint8_t *h = b->data + off;
        size_t n = (size_t)h[1] << 24 | (size_t)h[2] << 16 | (size_t)h[3] << 8 | h[4];
        if (n > c->conn->srv->cfg.max_send_message_bytes) return -EMSGSIZE;
        if (n > b->len - off - PW_GRPC_MSG_PREFIX_BYTES) return -EINVAL;
        off += PW_GRPC_MSG_PREFIX_BYTES + n;
    }
    return send_blob(c, b, NULL, 0, nmsgs);
}
