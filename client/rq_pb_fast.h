/* client/rq_pb_fast: the in-place field reader of client/rq_pub_stream.c's usual answer, in a
 * header of its own so that tests/unit/test_rq_pub_stream.c can hold it against the generic
 * reader (proto_wire/pw_pb.h, pw_pb_next) byte for byte. */
#ifndef RQ_PB_FAST_H
#define RQ_PB_FAST_H

#include <stdint.h>

#include "proto_wire/pw_pb.h"

/* The next field of the usual answer at *pp (before end): a one-byte tag (fields 1..15) then a
 * VARINT of at most 9 bytes, or a LEN whose length fits. 1 with *f set and *pp past it, 0 at
 * the end, -1 for anything else (the answer goes to the generic decode, which reads and judges
 * it). Reads what pw_pb_next reads for these shapes, without its calls: the answer's
 * request id, sequence, offset and commit sequence are multi-byte varints, which
 * pw_pb_next_inline hands to pw_pb_next, ~45 % of the fast read's instructions at batch 1
 * (bench/results/pub-2026-12-08-s12.md). Borrows *pp..end; owns nothing.
 * tests/unit/test_rq_pub_stream.c checks it against pw_pb_next on mutated answers. */
static inline int rq_pb_fast_field(const uint8_t **pp, const uint8_t *end, pw_pb_field *f)
{
    const uint8_t *p = *pp;
    if (p == end) return 0;
    uint8_t tag = *p++;
    if (tag >= 0x80 || tag < 8) return -1;
    uint64_t v = 0;
    for (unsigned shift = 0;; shift += 7) {
        if (p == end || shift > 56) return -1;
        uint8_t b = *p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (b < 0x80) break;
    }
    f->num = tag >> 3;
    f->wt = (pw_pb_wire_type)(tag & 7);
    f->u64 = v;
    f->bytes = (pw_pb_bytes){NULL, 0};
    if (f->wt == PW_PB_WT_LEN && v <= (uint64_t)(end - p)) {
        f->u64 = 0;
        f->bytes = (pw_pb_bytes){p, (size_t)v};
        p += v;
    } else if (f->wt != PW_PB_WT_VARINT) {
        return -1;
    }
    *pp = p;
    return 1;
}

#endif
