/* proto_wire/pw_msg_code: what the generated per-message encoders (build/gen/proto_wire/pw_msgs.c,
 * written by proto_wire/gen/pw_msg_gen.c) and pw_msg_enc.c share. Internal to proto_wire.
 *
 * For every message the generator emits two straight-line functions, reached through the
 * message's table (pw_msg_desc.size_fn / write_fn; pw_msg_encode* call them, the table-walking
 * interpreter in pw_msg_enc.c remains for tables without them, e.g. those tests write by hand):
 *
 *   size_t  <msg>_size(const void *msg, pw_msg_sizes *sz)     bytes of msg's body
 *   uint8_t *<msg>_write(const void *msg, uint8_t *p, pw_msg_wr *w)   writes them at p,
 *                                                                     returns the end
 *
 * Fields go in field-number order, each one's tag as constant bytes, presence by the proto3
 * rules of pw_msg.h's encoding contract. Sub-message lengths: the size pass records each
 * sub-message's size in pre-order (a slot taken before its own sub-messages are sized) and
 * the write pass takes them back in the same order, so each sub-message is sized once per
 * encode. A record rather than backpatching reserved varint bytes: the output stays canonical
 * (minimal length varints, byte-identical to the interpreter and to protoc's encoders, as the
 * golden tests check) and the size is known before a byte is written, so the caller reserves
 * exactly that much once. Past PW_MSG_SIZES_MAX sub-messages the write pass sizes the rest
 * again (correct, only slower). The write pass trusts the size pass: the caller checks the
 * end it returns against the size (an assert). */
#ifndef PW_MSG_CODE_H
#define PW_MSG_CODE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto_wire/pw_msg.h"
#include "proto_wire/pw_pb.h"

/* Sub-message sizes one encode records (on the caller's stack, 8 bytes each): a Work delivery
 * of 64 tasks with 2 headers each needs 192. */
#define PW_MSG_SIZES_MAX 256u

/* The size pass's record. */
struct pw_msg_sizes {
    size_t *v; /* NULL: record nothing (pw_msg_size) */
    size_t n;  /* sub-messages met so far, recorded or not */
};

/* The write pass's view of that record. */
struct pw_msg_wr {
    const size_t *sizes; /* the size pass's record */
    size_t n;            /* next slot of it */
};

/* The size of sub-message `sub` by fn, recorded in its pre-order slot. */
static inline size_t pw_msg_sz_sub(pw_msg_sizes *sz, pw_msg_size_fn fn, const void *sub)
{
    size_t slot = sz->n++;
    size_t n = fn(sub, sz);
    if (sz->v && slot < PW_MSG_SIZES_MAX) sz->v[slot] = n;
    return n;
}

/* Bytes of a LEN field's length and body (the tag is the caller's constant). */
static inline size_t pw_msg_len_body(size_t n) { return pw_pb_varint_len(n) + n; }

/* The size the size pass recorded for the next sub-message (sized again past the record). */
static inline size_t pw_msg_wr_sub(pw_msg_wr *w, pw_msg_size_fn fn, const void *sub)
{
    size_t slot = w->n++;
    if (slot < PW_MSG_SIZES_MAX) return w->sizes[slot];
    pw_msg_sizes again = {NULL, 0};
    return fn(sub, &again);
}

/* One-byte values (small lengths and numbers) are most of what is written: first branch. */
static inline uint8_t *pw_msg_put_varint(uint8_t *p, uint64_t v)
{
    return pw_pb_write_varint(p, v);
}

static inline uint8_t *pw_msg_put_le32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
    return p + 4;
}

static inline uint8_t *pw_msg_put_le64(uint8_t *p, uint64_t v)
{
    for (unsigned i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
    return p + 8;
}

/* A string/bytes value: length, then the bytes (none read when empty: ptr may be NULL). */
static inline uint8_t *pw_msg_put_bytes(uint8_t *p, pw_pb_bytes b)
{
    p = pw_msg_put_varint(p, b.len);
    if (b.len) memcpy(p, b.ptr, b.len);
    return p + b.len;
}

#endif
