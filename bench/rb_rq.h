/* bench/rb_rq: libringq helpers shared by ringq-bench's ringq and grpc drivers. */
#ifndef RB_RQ_H
#define RB_RQ_H

#include <stddef.h>
#include <stdint.h>

#include "bench/rb_driver.h"
#include "client/ringq.h"

/* Deadline of the probe call open() makes to fail fast when the server is absent (libringq
 * otherwise keeps re-dialling until the call's deadline). */
#define RB_RQ_PROBE_MS 2000u

/* A client on `loop` (NULL: its own) for addr. NULL with err filled. */
rq_client *rb_rq_client(struct ev_loop *loop, const char *addr, char *err, size_t errlen);
/* Deadline of the drivers' blocking admin calls (setup and backlog, on the main thread). */
#define RB_RQ_ADMIN_MS 10000u
/* A blocking client (its own loop) for addr whose calls and connect wait at most
 * RB_RQ_ADMIN_MS. NULL with err filled. */
rq_client *rb_rq_admin_client(const char *addr, char *err, size_t errlen);
/* One unary call, run to completion on the client's loop (only before the loop runs the
 * benchmark: this runs loop iterations). Status `accept` (e.g. NOT_FOUND; -1: none) counts as
 * success. The response (up to outcap bytes, may be NULL) is copied to out, its length to
 * *outlen. Returns 0, or -1 with err filled. */
int rb_rq_probe(rq_client *c, const char *path, const void *req, size_t len, int accept,
                uint8_t *out, size_t outcap, size_t *outlen, char *err, size_t errlen);
/* A driver's connection open: a client on `loop` for addr (rb_rq_client) that has reached the
 * server with one call to `path` carrying the encoded request (req, len bytes, borrowed for the
 * call), run with rb_rq_probe. NOT_FOUND counts as success: the queue or stream the request names
 * may not exist before setup. Returns the client (the caller's, rq_client_destroy), or NULL with
 * err filled and nothing left behind. */
rq_client *rb_rq_reach(struct ev_loop *loop, const char *addr, const char *path, const void *req,
                       size_t len, char *err, size_t errlen);
/* The field a --method request carries its body in: a message whose field 1 is bytes, the
 * common shape of "echo" methods. It belongs to whatever method the user names, not to a proto
 * of ours (ringq's own requests are built from the generated schema, proto_wire/pw_msgs.h). */
#define RB_RQ_BODY_FIELD 1u
/* Encodes `body` as field RB_RQ_BODY_FIELD (bytes) of a message into dst (cap bytes; needs
 * len + 11). Returns the encoded length, or 0 when cap is too small. */
size_t rb_rq_body_msg(uint8_t *dst, size_t cap, const void *body, size_t len);
/* Encodes GetQueueRequest{name = queue} into dst (cap bytes). Returns the length, or 0 when cap
 * is too small. */
size_t rb_rq_get_queue_msg(uint8_t *dst, size_t cap, const char *queue);

/* An EnqueueRequest of n tasks with payloads of one length, encoded once from the generated schema
 * (proto_wire/pw_msgs.h): a producer's sends differ only in their payload bytes (the stamp), so
 * each send copies its payloads into their places (rb_rq_enq_fill) instead of building task specs
 * and encoding the request again. The places are found by encoding the request twice, with
 * payloads of all 0x00 and of all 0xFF bytes: exactly the payload bytes differ. */
typedef struct rb_rq_enq {
    uint8_t *msg; /* the encoded request (len bytes) */
    size_t len;
    size_t *off; /* where payload i starts in msg, i < n */
    size_t n, size;
} rb_rq_enq;
/* Makes *t the request to `queue` (borrowed for the call) for n payloads of `size` bytes; a
 * no-op when it already is. Returns 0, -ENOMEM, or -EINVAL (n or size 0, or the payloads not
 * found as n runs of size bytes: *t is then empty). */
int rb_rq_enq_make(rb_rq_enq *t, const char *queue, size_t n, size_t size);
/* Copies p[0..t->n) (each p[i].len == t->size, checked by the caller) into their places. */
void rb_rq_enq_fill(rb_rq_enq *t, const rb_payload *p);
/* Frees what *t owns and empties it. */
void rb_rq_enq_free(rb_rq_enq *t);

#endif
