/* server/srv_msg: every server RPC reads and writes its messages through the generated schema
 * (proto_wire/pw_msgs.h); no field number is written in server/. A request is decoded once,
 * zero-copy: its string and bytes fields are views into the received message (borrowed from
 * the gRPC layer for the length of the on_message callback), its sub-messages and arrays come
 * from an arena the handler owns. A reply is encoded once, straight into the call's send buffer
 * (pw_grpc_call_send_begin), never through an intermediate buffer. */
#ifndef SRV_MSG_H
#define SRV_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "proto_wire/pw_grpc_server.h"
#include "proto_wire/pw_msg.h"
#include "proto_wire/pw_msgs.h"

/* Most bytes the arena of one decoded request may take (sub-messages and arrays): a request
 * holds at most a max-size gRPC message of tasks; a Task struct with its header array is well
 * under 16 times its smallest encoding, so 64 MiB bounds any request we accept (max receive is
 * 4 MiB by default) while keeping a hostile body of empty sub-messages from taking more. */
#define SRV_MSG_ARENA_BYTES_MAX (64u << 20)
/* First chunk the arena asks for, in bytes: one request of a few tasks fits. */
#define SRV_MSG_ARENA_CHUNK_BYTES 4096u

/* The bytes of a decoded string/bytes view as a pointer that is never NULL: an absent field
 * decodes to {NULL, 0}, and memcmp/memcpy/strndup must not see NULL even for 0 bytes. */
static inline const char *srv_chars(pw_pb_bytes b) { return b.ptr ? (const char *)b.ptr : ""; }

/* Decodes msg[0..len) as `d` into *out (a struct of d->size bytes) with arena `a`, which this
 * initialises (a heap arena bounded by SRV_MSG_ARENA_BYTES_MAX; the caller deinits it after a
 * 0 return, when done with *out). Views in *out borrow msg. Returns 0; on a malformed body
 * finishes `c` with INVALID_ARGUMENT "malformed <message>: <reason>" (RESOURCE_EXHAUSTED when
 * out of memory), frees the arena and returns the negative pw_msg/pw_pb error. */
int srv_msg_decode(pw_grpc_call *c, const pw_msg_desc *d, void *out, const uint8_t *msg, size_t len,
                   pw_msg_arena *a);
/* srv_msg_decode with first[0..first_bytes) (borrowed while the arena lives; NULL/0: none) used
 * before the heap. */
int srv_msg_decode_over(pw_grpc_call *c, const pw_msg_desc *d, void *out, const uint8_t *msg,
                        size_t len, pw_msg_arena *a, void *first, size_t first_bytes);

/* Encodes *msg (borrowed for the call) as one response message straight into c's send buffer
 * and commits it with `flags` (PW_GRPC_SEND_*). Returns 0, or the error of
 * pw_grpc_call_send_begin (-ECANCELED for any failure to begin), pw_msg_encode (-ENOMEM,
 * -ENOBUFS, -EMSGSIZE: nothing is sent) or pw_grpc_call_send_commit. */
int srv_msg_send(pw_grpc_call *c, const pw_msg_desc *d, const void *msg, unsigned flags);

/* srv_msg_send for a unary reply, then finishes the call: OK after a send, else
 * RESOURCE_EXHAUSTED (out of memory or buffer space) or INTERNAL (too large). Returns the send's
 * result. */
int srv_msg_reply(pw_grpc_call *c, const pw_msg_desc *d, const void *msg);

#endif
