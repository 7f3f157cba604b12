/* server/srv_msg: decode once, encode once (see srv_msg.h). */
#include "server/srv_msg.h"

#include <errno.h>
#include <stdio.h>

int srv_msg_decode(pw_grpc_call *c, const pw_msg_desc *d, void *out, const uint8_t *msg, size_t len,
                   pw_msg_arena *a)
{
    return srv_msg_decode_over(c, d, out, msg, len, a, NULL, 0);
}

int srv_msg_decode_over(pw_grpc_call *c, const pw_msg_desc *d, void *out, const uint8_t *msg,
                        size_t len, pw_msg_arena *a, void *first, size_t first_bytes)
{
    pw_msg_arena_init_heap_over(a, first, first_bytes, SRV_MSG_ARENA_CHUNK_BYTES,
                                SRV_MSG_ARENA_BYTES_MAX);
    int rc = pw_msg_decode(d, out, msg, len, a);
    if (rc == 0) return 0;
    pw_msg_arena_deinit(a);
    if (rc == -ENOMEM) {
        pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory decoding the request");
        return rc;
    }
    char why[160];
    snprintf(why, sizeof why, "malformed %s: %s", d->full_name, pw_msg_strerror(rc));
    pw_grpc_call_finish(c, PW_GRPC_INVALID_ARGUMENT, why);
    return rc;
}

int srv_msg_send(pw_grpc_call *c, const pw_msg_desc *d, const void *msg, unsigned flags)
{
    buf *b = pw_grpc_call_send_begin(c);
    if (!b) return -ECANCELED;
    int rc = pw_msg_encode(d, msg, b);
    if (rc < 0) {
        pw_grpc_call_send_abort(c);
        return rc;
    }
    return pw_grpc_call_send_commit(c, flags);
}

int srv_msg_reply(pw_grpc_call *c, const pw_msg_desc *d, const void *msg)
{
    int rc = srv_msg_send(c, d, msg, 0);
    if (rc == 0) pw_grpc_call_finish(c, PW_GRPC_OK, NULL);
    else if (rc == -EMSGSIZE)
        pw_grpc_call_finish(c, PW_GRPC_INTERNAL, "reply larger than the message limit");
    else pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "no memory or buffer for the reply");
    return rc;
}
