/* proto_wire/pw_msg_int: what pw_msg.c (arena, decode) and pw_msg_enc.c (encode) share: the
 * wire type and C size of each field kind. Internal to proto_wire/pw_msg*. */
#ifndef PW_MSG_INT_H
#define PW_MSG_INT_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "proto_wire/pw_msg.h"
#include "proto_wire/pw_pb.h"

/* Wire type and C size of each kind, by table: these are asked per field and per element on
 * every encode and decode (a switch each was ~3 % of the server's samples at batch 64). Kind 0
 * and 10 (group) never occur; messages get their size from the sub-table. */
static const uint8_t KIND_WT[PW_MSG_SINT64 + 1] = {
    [PW_MSG_DOUBLE] = PW_PB_WT_I64,   [PW_MSG_FIXED64] = PW_PB_WT_I64,
    [PW_MSG_SFIXED64] = PW_PB_WT_I64, [PW_MSG_FLOAT] = PW_PB_WT_I32,
    [PW_MSG_FIXED32] = PW_PB_WT_I32,  [PW_MSG_SFIXED32] = PW_PB_WT_I32,
    [PW_MSG_STRING] = PW_PB_WT_LEN,   [PW_MSG_BYTES] = PW_PB_WT_LEN,
    [PW_MSG_MESSAGE] = PW_PB_WT_LEN, /* the rest: VARINT (0) */
};
static const uint8_t KIND_SIZE[PW_MSG_SINT64 + 1] = {
    [PW_MSG_DOUBLE] = 8,
    [PW_MSG_FLOAT] = 4,
    [PW_MSG_INT64] = 8,
    [PW_MSG_UINT64] = 8,
    [PW_MSG_INT32] = 4,
    [PW_MSG_FIXED64] = 8,
    [PW_MSG_FIXED32] = 4,
    [PW_MSG_BOOL] = sizeof(bool),
    [PW_MSG_STRING] = sizeof(pw_pb_bytes),
    [PW_MSG_BYTES] = sizeof(pw_pb_bytes),
    [PW_MSG_UINT32] = 4,
    [PW_MSG_ENUM] = 4,
    [PW_MSG_SFIXED32] = 4,
    [PW_MSG_SFIXED64] = 8,
    [PW_MSG_SINT32] = 4,
    [PW_MSG_SINT64] = 8,
};

static inline pw_pb_wire_type kind_wt(uint8_t kind)
{
    assert(kind <= PW_MSG_SINT64);
    return (pw_pb_wire_type)KIND_WT[kind];
}

/* Bytes one element takes in the C struct (or array). */
static inline size_t elem_size(const pw_msg_field *fd)
{
    assert(fd->kind <= PW_MSG_SINT64);
    return fd->kind == PW_MSG_MESSAGE ? fd->sub->size : KIND_SIZE[fd->kind];
}

#endif
