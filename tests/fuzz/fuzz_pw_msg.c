/* Fuzz target for proto_wire/pw_msg.c over every generated message table (pw_msgs.h). The first
 * input byte picks the message type, the rest is decoded as that type:
 *  1. Decode: no crash, no read outside the input (ASan), only pw_pb / pw_msg error codes, every
 *     string view inside the input; the generated decoder and the table walk return the same
 *     result and (re-encoded) the same message.
 *  2. Re-encode what decoded: the size-first prediction holds, the generated per-message
 *     encoder and the table walk write the same bytes, the bytes decode again, and a second
 *     encode is byte-identical to the first (encode is canonical and stable).
 * Seeds (tests/fuzz/seeds/fuzz_pw_msg/): ringq.v1 messages written by python3-protobuf, each
 * prefixed with its index in pwm_messages when they were made. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto_wire/pw_msg.h"
#include "proto_wire/pw_msgs.h"
#include "proto_wire/pw_pb.h"

#define CHECK(c) ((c) ? (void)0 : __builtin_trap())
/* Arena per input: bounds memory per input the way a server's arena would. */
#define ARENA_BYTES (1u << 20)

static _Alignas(16) uint8_t arena_mem[2][ARENA_BYTES];
static _Alignas(16) uint8_t msg[2][4096];

static bool is_err(int rc)
{
    return rc == PW_PB_ERR_TRUNCATED || rc == PW_PB_ERR_BAD_VARINT ||
           rc == PW_PB_ERR_BAD_WIRE_TYPE || rc == PW_PB_ERR_BAD_FIELD ||
           rc == PW_PB_ERR_LEN_OVERFLOW || rc == PW_MSG_ERR_DEPTH || rc == -ENOMEM;
}

/* Every string/bytes view of a decoded message lies inside [lo, hi). */
static void check_views(const pw_msg_desc *d, const uint8_t *m, const uint8_t *lo,
                        const uint8_t *hi)
{
    for (size_t i = 0; i < d->nfields; i++) {
        const pw_msg_field *fd = &d->fields[i];
        bool rep = fd->flags & PW_MSG_F_REPEATED;
        size_t n = rep ? *(const size_t *)(m + fd->aux_off) : 1;
        const uint8_t *base = rep ? *(const uint8_t *const *)(m + fd->off) : m + fd->off;
        if (fd->kind == PW_MSG_STRING || fd->kind == PW_MSG_BYTES) {
            for (size_t j = 0; j < n; j++) {
                const pw_pb_bytes *b = (const pw_pb_bytes *)base + j;
                CHECK(b->len == 0 || (b->ptr >= lo && b->ptr + b->len <= hi));
            }
        } else if (fd->kind == PW_MSG_MESSAGE) {
            if (!rep) {
                const uint8_t *sub = *(const uint8_t *const *)base;
                if (sub) check_views(fd->sub, sub, lo, hi);
            } else {
                for (size_t j = 0; j < n; j++)
                    check_views(fd->sub, base + j * fd->sub->size, lo, hi);
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const pw_msg_desc *d = pwm_messages[data[0] % PWM_MESSAGES];
    const uint8_t *in = data + 1;
    size_t n = size - 1;
    pw_msg_arena a;
    CHECK(d->size <= sizeof msg[0]);
    pw_msg_arena_init(&a, arena_mem[0], ARENA_BYTES);
    int rc = pw_msg_decode(d, msg[0], in, n, &a);
    /* The generated decoder and the table walk: the same result, the same message. */
    pw_msg_desc walk = *d;
    walk.size_fn = NULL;
    walk.write_fn = NULL;
    walk.decode_fn = NULL;
    CHECK(d->size_fn && d->write_fn && d->decode_fn);
    pw_msg_arena wa;
    pw_msg_arena_init(&wa, arena_mem[1], ARENA_BYTES);
    CHECK(pw_msg_decode(&walk, msg[1], in, n, &wa) == rc);
    if (rc != 0) {
        CHECK(is_err(rc));
        return 0;
    }
    check_views(d, msg[0], in, in + n);
    size_t len = pw_msg_size(d, msg[0]);
    uint8_t *enc1 = malloc(len ? len : 1), *enc2 = malloc(len ? len : 1);
    CHECK(enc1 && enc2);
    CHECK(pw_msg_encode_to(d, msg[0], enc1, len) == (long)len);
    /* The generated encoder and the table walk write the same bytes, for both decodes. */
    CHECK(pw_msg_size(&walk, msg[0]) == len && pw_msg_size(d, msg[1]) == len);
    CHECK(pw_msg_encode_to(&walk, msg[0], enc2, len) == (long)len);
    CHECK(memcmp(enc1, enc2, len) == 0);
    CHECK(pw_msg_encode_to(d, msg[1], enc2, len) == (long)len);
    CHECK(memcmp(enc1, enc2, len) == 0);
    pw_msg_arena_init(&a, arena_mem[1], ARENA_BYTES);
    rc = pw_msg_decode(d, msg[1], enc1, len, &a);
    CHECK(rc == 0 || rc == -ENOMEM); /* canonical output may take more arena (packed arrays) */
    if (rc == 0) {
        CHECK(pw_msg_size(d, msg[1]) == len);
        CHECK(pw_msg_encode_to(d, msg[1], enc2, len) == (long)len);
        CHECK(memcmp(enc1, enc2, len) == 0);
    }
    free(enc1);
    free(enc2);
    return 0;
}
