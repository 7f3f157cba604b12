/* proto_wire/pw_huffman: the HPACK static Huffman code (RFC 7541 §5.2, Appendix B).
 *
 * Encoding walks a 64-bit bit accumulator. Decoding is a nibble-driven state machine: the
 * 256 internal nodes of the code tree are the states, and each (state, 4 input bits) pair has
 * a precomputed entry giving the next state and at most one decoded symbol (the shortest
 * code is 5 bits, so 4 bits can complete at most one code). The table is derived once from
 * the code table below, on first use. */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "proto_wire/pw_hpack.h"

enum {
    HUFF_SYMS = 257, /* 256 octets + EOS */
    HUFF_EOS = 256,
    HUFF_NODES = 256, /* internal nodes of a full binary tree with 257 leaves */
    HUFF_CODE_BITS_MAX = 30,
    HUFF_PAD_BITS_MAX = 7, /* §5.2: padding longer than 7 bits is a decoding error */
};

typedef struct huff_code {
    uint32_t code; /* aligned to the LSB */
    uint8_t len;   /* bits */
} huff_code;

/* RFC 7541 Appendix B, in symbol order; four symbols a line. */
static const huff_code huff_codes[HUFF_SYMS] = {
    /*   0 */ {0x1ff8, 13},
    {0x7fffd8, 23},
    {0xfffffe2, 28},
    {0xfffffe3, 28},
    /*   4 */ {0xfffffe4, 28},
    {0xfffffe5, 28},
    {0xfffffe6, 28},
    {0xfffffe7, 28},
    /*   8 */ {0xfffffe8, 28},
    {0xffffea, 24},
    {0x3ffffffc, 30},
    {0xfffffe9, 28},
    /*  12 */ {0xfffffea, 28},
    {0x3ffffffd, 30},
    {0xfffffeb, 28},
    {0xfffffec, 28},
    /*  16 */ {0xfffffed, 28},
    {0xfffffee, 28},
    {0xfffffef, 28},
    {0xffffff0, 28},
    /*  20 */ {0xffffff1, 28},
    {0xffffff2, 28},
    {0x3ffffffe, 30},
    {0xffffff3, 28},
    /*  24 */ {0xffffff4, 28},
    {0xffffff5, 28},
    {0xffffff6, 28},
    {0xffffff7, 28},
    /*  28 */ {0xffffff8, 28},
    {0xffffff9, 28},
    {0xffffffa, 28},
    {0xffffffb, 28},
    /*  32 */ {0x14, 6},
    {0x3f8, 10},
    {0x3f9, 10},
    {0xffa, 12},
    /*  36 */ {0x1ff9, 13},
    {0x15, 6},
    {0xf8, 8},
    {0x7fa, 11},
    /*  40 */ {0x3fa, 10},
    {0x3fb, 10},
    {0xf9, 8},
    {0x7fb, 11},
    /*  44 */ {0xfa, 8},
    {0x16, 6},
    {0x17, 6},
    {0x18, 6},
    /*  48 */ {0x0, 5},
    {0x1, 5},
    {0x2, 5},
    {0x19, 6},
    /*  52 */ {0x1a, 6},
    {0x1b, 6},
    {0x1c, 6},
    {0x1d, 6},
    /*  56 */ {0x1e, 6},
    {0x1f, 6},
    {0x5c, 7},
    {0xfb, 8},
    /*  60 */ {0x7ffc, 15},
    {0x20, 6},
    {0xffb, 12},
    {0x3fc, 10},
    /*  64 */ {0x1ffa, 13},
    {0x21, 6},
    {0x5d, 7},
    {0x5e, 7},
    /*  68 */ {0x5f, 7},
    {0x60, 7},
    {0x61, 7},
    {0x62, 7},
    /*  72 */ {0x63, 7},
    {0x64, 7},
    {0x65, 7},
    {0x66, 7},
    /*  76 */ {0x67, 7},
    {0x68, 7},
    {0x69, 7},
    {0x6a, 7},
    /*  80 */ {0x6b, 7},
    {0x6c, 7},
    {0x6d, 7},
    {0x6e, 7},
    /*  84 */ {0x6f, 7},
    {0x70, 7},
    {0x71, 7},
    {0x72, 7},
    /*  88 */ {0xfc, 8},
    {0x73, 7},
    {0xfd, 8},
    {0x1ffb, 13},
    /*  92 */ {0x7fff0, 19},
    {0x1ffc, 13},
    {0x3ffc, 14},
    {0x22, 6},
    /*  96 */ {0x7ffd, 15},
    {0x3, 5},
    {0x23, 6},
    {0x4, 5},
    /* 100 */ {0x24, 6},
    {0x5, 5},
    {0x25, 6},
    {0x26, 6},
    /* 104 */ {0x27, 6},
    {0x6, 5},
    {0x74, 7},
    {0x75, 7},
    /* 108 */ {0x28, 6},
    {0x29, 6},
    {0x2a, 6},
    {0x7, 5},
    /* 112 */ {0x2b, 6},
    {0x76, 7},
    {0x2c, 6},
    {0x8, 5},
    /* 116 */ {0x9, 5},
    {0x2d, 6},
    {0x77, 7},
    {0x78, 7},
    /* 120 */ {0x79, 7},
    {0x7a, 7},
    {0x7b, 7},
    {0x7ffe, 15},
    /* 124 */ {0x7fc, 11},
    {0x3ffd, 14},
    {0x1ffd, 13},
    {0xffffffc, 28},
    /* 128 */ {0xfffe6, 20},
    {0x3fffd2, 22},
    {0xfffe7, 20},
    {0xfffe8, 20},
    /* 132 */ {0x3fffd3, 22},
    {0x3fffd4, 22},
    {0x3fffd5, 22},
    {0x7fffd9, 23},
    /* 136 */ {0x3fffd6, 22},
    {0x7fffda, 23},
    {0x7fffdb, 23},
    {0x7fffdc, 23},
    /* 140 */ {0x7fffdd, 23},
    {0x7fffde, 23},
    {0xffffeb, 24},
    {0x7fffdf, 23},
    /* 144 */ {0xffffec, 24},
    {0xffffed, 24},
    {0x3fffd7, 22},
    {0x7fffe0, 23},
    /* 148 */ {0xffffee, 24},
    {0x7fffe1, 23},
    {0x7fffe2, 23},
    {0x7fffe3, 23},
    /* 152 */ {0x7fffe4, 23},
    {0x1fffdc, 21},
    {0x3fffd8, 22},
    {0x7fffe5, 23},
    /* 156 */ {0x3fffd9, 22},
    {0x7fffe6, 23},
    {0x7fffe7, 23},
    {0xffffef, 24},
    /* 160 */ {0x3fffda, 22},
    {0x1fffdd, 21},
    {0xfffe9, 20},
    {0x3fffdb, 22},
    /* 164 */ {0x3fffdc, 22},
    {0x7fffe8, 23},
    {0x7fffe9, 23},
    {0x1fffde, 21},
    /* 168 */ {0x7fffea, 23},
    {0x3fffdd, 22},
    {0x3fffde, 22},
    {0xfffff0, 24},
    /* 172 */ {0x1fffdf, 21},
    {0x3fffdf, 22},
    {0x7fffeb, 23},
    {0x7fffec, 23},
    /* 176 */ {0x1fffe0, 21},
    {0x1fffe1, 21},
    {0x3fffe0, 22},
    {0x1fffe2, 21},
    /* 180 */ {0x7fffed, 23},
    {0x3fffe1, 22},
    {0x7fffee, 23},
    {0x7fffef, 23},
    /* 184 */ {0xfffea, 20},
    {0x3fffe2, 22},
    {0x3fffe3, 22},
    {0x3fffe4, 22},
    /* 188 */ {0x7ffff0, 23},
    {0x3fffe5, 22},
    {0x3fffe6, 22},
    {0x7ffff1, 23},
    /* 192 */ {0x3ffffe0, 26},
    {0x3ffffe1, 26},
    {0xfffeb, 20},
    {0x7fff1, 19},
    /* 196 */ {0x3fffe7, 22},
    {0x7ffff2, 23},
    {0x3fffe8, 22},
    {0x1ffffec, 25},
    /* 200 */ {0x3ffffe2, 26},
    {0x3ffffe3, 26},
    {0x3ffffe4, 26},
    {0x7ffffde, 27},
    /* 204 */ {0x7ffffdf, 27},
    {0x3ffffe5, 26},
    {0xfffff1, 24},
    {0x1ffffed, 25},
    /* 208 */ {0x7fff2, 19},
    {0x1fffe3, 21},
    {0x3ffffe6, 26},
    {0x7ffffe0, 27},
    /* 212 */ {0x7ffffe1, 27},
    {0x3ffffe7, 26},
    {0x7ffffe2, 27},
    {0xfffff2, 24},
    /* 216 */ {0x1fffe4, 21},
    {0x1fffe5, 21},
    {0x3ffffe8, 26},
    {0x3ffffe9, 26},
    /* 220 */ {0xffffffd, 28},
    {0x7ffffe3, 27},
    {0x7ffffe4, 27},
    {0x7ffffe5, 27},
    /* 224 */ {0xfffec, 20},
    {0xfffff3, 24},
    {0xfffed, 20},
    {0x1fffe6, 21},
    /* 228 */ {0x3fffe9, 22},
    {0x1fffe7, 21},
    {0x1fffe8, 21},
    {0x7ffff3, 23},
    /* 232 */ {0x3fffea, 22},
    {0x3fffeb, 22},
    {0x1ffffee, 25},
    {0x1ffffef, 25},
    /* 236 */ {0xfffff4, 24},
    {0xfffff5, 24},
    {0x3ffffea, 26},
    {0x7ffff4, 23},
    /* 240 */ {0x3ffffeb, 26},
    {0x7ffffe6, 27},
    {0x3ffffec, 26},
    {0x3ffffed, 26},
    /* 244 */ {0x7ffffe7, 27},
    {0x7ffffe8, 27},
    {0x7ffffe9, 27},
    {0x7ffffea, 27},
    /* 248 */ {0x7ffffeb, 27},
    {0xffffffe, 28},
    {0x7ffffec, 27},
    {0x7ffffed, 27},
    /* 252 */ {0x7ffffee, 27},
    {0x7ffffef, 27},
    {0x7fffff0, 27},
    {0x3ffffee, 26},
    /* 256 EOS */ {0x3fffffff, 30},
};

/* ---- encoding ---------------------------------------------------------------------------- */

size_t pw_huff_encoded_len(const uint8_t *src, size_t len)
{
    uint64_t bits = 0;
    for (size_t i = 0; i < len; i++) bits += huff_codes[src[i]].len;
    return (size_t)((bits + 7) / 8);
}

size_t pw_huff_encode(uint8_t *dst, const uint8_t *src, size_t len)
{
    uint8_t *const start = dst;
    uint64_t acc = 0;   /* only the low `nbits` bits are pending; higher bits are stale */
    unsigned nbits = 0; /* < 32 between symbols, so a 30-bit code always fits */
    for (size_t i = 0; i < len; i++) {
        const huff_code c = huff_codes[src[i]];
        acc = (acc << c.len) | c.code;
        nbits += c.len;
        while (nbits >= 8) {
            nbits -= 8;
            *dst++ = (uint8_t)(acc >> nbits);
        }
    }
    if (nbits > 0) /* pad with the most significant bits of EOS, i.e. ones (§5.2) */
        *dst++ = (uint8_t)((acc << (8 - nbits)) | (0xffu >> nbits));
    return (size_t)(dst - start);
}

/* ---- decoding ---------------------------------------------------------------------------- */

enum {
    FSM_EMIT = 0x1, /* `sym` completed within this nibble */
    FSM_FAIL = 0x2, /* EOS completed within this nibble: the string is invalid */
};

typedef struct fsm_entry {
    uint8_t next; /* state after the nibble (0 = root) */
    uint8_t sym;
    uint8_t flags; /* FSM_* */
    uint8_t pad;
} fsm_entry;

static fsm_entry fsm[HUFF_NODES][16];
/* A string may end in a state only when the bits since the last symbol are a valid padding:
 * at most 7 bits, all ones (a prefix of EOS). The root (no padding) is accepted too. */
static bool fsm_accept[HUFF_NODES];
static pthread_once_t fsm_once = PTHREAD_ONCE_INIT;

/* Tree children: >= 0 internal node, < 0 leaf -(sym + 1). */
static void fsm_build(void)
{
    int16_t child[HUFF_NODES][2];
    uint8_t depth[HUFF_NODES];
    bool ones[HUFF_NODES]; /* path from the root is all one bits */
    int nodes = 1;
    for (int i = 0; i < HUFF_NODES; i++) child[i][0] = child[i][1] = 0;
    depth[0] = 0;
    ones[0] = true;
    for (int s = 0; s < HUFF_SYMS; s++) {
        const huff_code c = huff_codes[s];
        int n = 0;
        for (int b = c.len - 1; b >= 0; b--) {
            const int bit = (int)((c.code >> b) & 1u);
            if (b == 0) {
                child[n][bit] = (int16_t) - (s + 1);
                break;
            }
            if (child[n][bit] == 0) { /* 0 is the root, never a child: means "unset" */
                child[n][bit] = (int16_t)nodes;
                depth[nodes] = (uint8_t)(depth[n] + 1);
                ones[nodes] = ones[n] && bit == 1;
                nodes++;
            }
            n = child[n][bit];
        }
    }
    for (int n = 0; n < HUFF_NODES; n++) {
        fsm_accept[n] = ones[n] && depth[n] <= HUFF_PAD_BITS_MAX;
        for (int x = 0; x < 16; x++) {
            fsm_entry e = {0, 0, 0, 0};
            int cur = n;
            for (int b = 3; b >= 0; b--) {
                const int ch = child[cur][(x >> b) & 1];
                if (ch >= 0) {
                    cur = ch;
                    continue;
                }
                const int sym = -ch - 1;
                if (sym == HUFF_EOS) e.flags |= FSM_FAIL;
                else {
                    e.flags |= FSM_EMIT;
                    e.sym = (uint8_t)sym;
                }
                cur = 0;
            }
            e.next = (uint8_t)cur;
            fsm[n][x] = e;
        }
    }
}

/* The checked loop: stops at the first invalid symbol or when dst (if any) is full.
 * Returns the decoded length, -1 on invalid input, -2 when dst_cap is too small. */
static long huff_run_checked(uint8_t *dst, size_t dst_cap, const uint8_t *src, size_t len)
{
    size_t out = 0;
    unsigned state = 0;
    for (size_t i = 0; i < len; i++) {
        const unsigned nib[2] = {src[i] >> 4, src[i] & 0xfu};
        for (int k = 0; k < 2; k++) {
            const fsm_entry e = fsm[state][nib[k]];
            if (e.flags) {
                if (e.flags & FSM_FAIL) return -1;
                if (dst) {
                    if (out == dst_cap) return -2;
                    dst[out] = e.sym;
                }
                out++;
            }
            state = e.next;
        }
    }
    return fsm_accept[state] ? (long)out : -1;
}

/* The hot loop, branch-free per nibble: always stores the entry's symbol and advances only
 * on FSM_EMIT, so dst needs one spare byte past the longest possible output. Faults are
 * collected and checked once at the end (the output is then discarded). */
static long huff_run_fast(uint8_t *dst, const uint8_t *src, size_t len)
{
    size_t out = 0;
    unsigned state = 0, flags = 0;
    for (size_t i = 0; i < len; i++) {
        fsm_entry e = fsm[state][src[i] >> 4];
        dst[out] = e.sym;
        out += e.flags & FSM_EMIT;
        flags |= e.flags;
        e = fsm[e.next][src[i] & 0xfu];
        dst[out] = e.sym;
        out += e.flags & FSM_EMIT;
        flags |= e.flags;
        state = e.next;
    }
    if ((flags & FSM_FAIL) || !fsm_accept[state]) return -1;
    return (long)out;
}

long pw_huff_decode(uint8_t *dst, size_t dst_cap, const uint8_t *src, size_t len)
{
    pthread_once(&fsm_once, fsm_build);
    /* At most len * 8 / 5 symbols (5-bit shortest code), + 1 spare for the fast loop. */
    if (dst && len <= SIZE_MAX / 8 && dst_cap > len * 8 / 5) {
        const long r = huff_run_fast(dst, src, len);
        return r < 0 ? PW_HPACK_ERR_HUFFMAN : r;
    }
    if (!dst) dst_cap = 0;
    uint8_t none;
    const long r = huff_run_checked(dst ? dst : &none, dst_cap, src, len);
    return r < 0 ? PW_HPACK_ERR_HUFFMAN : r;
}

long pw_huff_decoded_len(const uint8_t *src, size_t len)
{
    pthread_once(&fsm_once, fsm_build);
    const long r = huff_run_checked(NULL, 0, src, len);
    return r < 0 ? PW_HPACK_ERR_HUFFMAN : r;
}
