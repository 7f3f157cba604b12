/* core/rt_dec: an unsigned integer written in decimal, by hand. Hot paths (task ids, stream
 * acks' ids, grpc-timeout) write numbers per message, and snprintf's format machinery cost as
 * much as the rest of those encodes (callgrind, perf: 1.5 % of the server at batch 1). */
#ifndef RINGQ_RT_DEC_H
#define RINGQ_RT_DEC_H

#include <stddef.h>
#include <stdint.h>

/* The most digits rt_u64_dec writes (UINT64_MAX has 20). */
#define RT_U64_DEC_MAX 20u

/* Writes v in decimal at out (room for RT_U64_DEC_MAX bytes; no terminator); returns the digits
 * written (1..RT_U64_DEC_MAX). */
static inline size_t rt_u64_dec(char *out, uint64_t v)
{
    char tmp[RT_U64_DEC_MAX];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    return n;
}

#endif
