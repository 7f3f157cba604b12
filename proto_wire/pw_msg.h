/* proto_wire/pw_msg: protobuf messages from proto/. The tables, C structs and per-message
 * encoders and decoders come from build/gen/proto_wire/pw_msgs.[ch] (written by
 * proto_wire/gen/pw_msg_gen.c from the descriptor set protoc already produces); this file is the
 * runtime that calls them (and walks a table that has none). No I/O, no global state; memory
 * only from the arena the caller passes in.
 *
 * Generated C layout of a message (one struct per message, name `pwm_<package>_<Message>`):
 *
 *   proto field                         | C members
 *   ------------------------------------+---------------------------------------------------
 *   scalar (int32, uint64, bool, enum..)| the C type (enum: int32_t)
 *   string, bytes                       | pw_pb_bytes: a view {ptr, len}
 *   message                             | const pwm_X *name (NULL: absent)
 *   repeated T (maps are repeated       | const T *name; size_t name_count
 *     <Message>_<Name>Entry {key=1,     |   (strings/bytes: const pw_pb_bytes *,
 *     value=2})                         |    messages: const pwm_X * to an array of structs)
 *   proto3 `optional` scalar            | the value plus bool has_<name>
 *   oneof member                        | the value plus uint32_t <oneof>_case (0: none set,
 *                                       |   else the field number of the member that is set)
 *
 * Decoding contract (pw_msg_decode): zero-copy. Every pw_pb_bytes view points into the input
 * (borrowed: valid exactly as long as the input buffer); sub-messages and repeated arrays are
 * carved from the caller's arena (valid until pw_msg_arena_reset/deinit). Unknown fields are
 * skipped. A known field with the wrong wire type, a bad varint, a length past the end or a
 * packed payload of the wrong size is rejected with pw_pb's PW_PB_ERR_* codes; nesting deeper
 * than PW_MSG_DEPTH_MAX gives PW_MSG_ERR_DEPTH; an arena that cannot supply the memory gives
 * -ENOMEM. Repeated numeric fields are accepted packed and unpacked (the spec requires both).
 * A singular field seen twice: the last one wins (for a message too: it is not merged; no
 * encoder we talk to splits a sub-message). Strings are not checked for UTF-8.
 *
 * Encoding contract (pw_msg_encode): proto3 rules — a singular scalar/string is written when
 * not zero/empty, `optional` when has_ is set, a oneof member when its case names it, a message
 * when its pointer is non-NULL, repeated numerics packed (unless the .proto says packed=false).
 * Fields go out in field-number order. The size is computed first (pw_msg_size), then the bytes
 * are written straight into the caller's buffer: no intermediate copies. The size pass records
 * each sub-message's size (up to 256 of them per encode, on the stack) and the write pass uses
 * the record, so each sub-message is sized once per encode, not once per enclosing level.
 * Generated tables carry a straight-line size and write function per message (tags as
 * constant bytes, no per-field table lookups; proto_wire/pw_msg_code.h), which every
 * pw_msg_size / pw_msg_encode* call uses; a table without them (written by hand) is walked
 * field by field instead. Both give the same bytes. Likewise each generated table has a
 * straight-line decoder (pw_msg_decode calls it) with the table decoder's results and errors. */
#ifndef PW_MSG_H
#define PW_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/rt_buf.h"
#include "proto_wire/pw_pb.h"

/* Limits. */
/* Nesting of sub-messages a decoder follows before it refuses: bounds the C stack a hostile
 * peer can make us use (each level is one frame of a few hundred bytes). */
#define PW_MSG_DEPTH_MAX 32u
/* Fields one message may declare (the generator refuses more): per-field counters of the
 * decoder's sizing pass live on the stack. The largest of ours has 16. */
#define PW_MSG_FIELDS_MAX 64u
/* Default chunk a growing arena asks malloc for, in bytes: one Task with a few headers. */
#define PW_MSG_ARENA_CHUNK_BYTES 4096u

/* Runtime errors, next to pw_pb's (-1001..-1005), outside the errno range. */
#define PW_MSG_ERR_DEPTH (-1020) /* sub-messages nested deeper than PW_MSG_DEPTH_MAX */

typedef enum pw_msg_kind {
    PW_MSG_DOUBLE = 1, /* numbered as FieldDescriptorProto.Type, so the generator copies them */
    PW_MSG_FLOAT = 2,
    PW_MSG_INT64 = 3,
    PW_MSG_UINT64 = 4,
    PW_MSG_INT32 = 5,
    PW_MSG_FIXED64 = 6,
    PW_MSG_FIXED32 = 7,
    PW_MSG_BOOL = 8,
    PW_MSG_STRING = 9,
    /* 10: group, not supported (the generator refuses it) */
    PW_MSG_MESSAGE = 11,
    PW_MSG_BYTES = 12,
    PW_MSG_UINT32 = 13,
    PW_MSG_ENUM = 14,
    PW_MSG_SFIXED32 = 15,
    PW_MSG_SFIXED64 = 16,
    PW_MSG_SINT32 = 17,
    PW_MSG_SINT64 = 18,
} pw_msg_kind;

typedef enum pw_msg_flag {
    PW_MSG_F_REPEATED = 1u << 0,
    PW_MSG_F_PACKED = 1u << 1,   /* encode packed (decode accepts both) */
    PW_MSG_F_OPTIONAL = 1u << 2, /* proto3 optional: presence in a bool at pres_off */
    PW_MSG_F_ONEOF = 1u << 3,    /* member of a oneof: case (uint32_t) at pres_off */
} pw_msg_flag;

struct pw_msg_desc;

/* One field of a message table (generated; read-only). */
typedef struct pw_msg_field {
    uint32_t num;
    uint8_t kind;                  /* pw_msg_kind */
    uint8_t flags;                 /* pw_msg_flag */
    uint32_t off;                  /* the value; repeated: the array pointer */
    uint32_t aux_off;              /* repeated: the size_t count */
    uint32_t pres_off;             /* OPTIONAL: bool has_; ONEOF: uint32_t case */
    const struct pw_msg_desc *sub; /* MESSAGE: the sub-message's table */
    const char *name;
} pw_msg_field;

/* The generated per-message encoder (proto_wire/pw_msg_code.h): a size pass recording
 * sub-message sizes in a pw_msg_sizes, a write pass taking them back through a pw_msg_wr. */
typedef struct pw_msg_sizes pw_msg_sizes;
typedef struct pw_msg_wr pw_msg_wr;
typedef size_t (*pw_msg_size_fn)(const void *msg, pw_msg_sizes *sz);
typedef uint8_t *(*pw_msg_write_fn)(const void *msg, uint8_t *p, pw_msg_wr *w);
/* The generated decoder: *msg all zero on entry; contract as pw_msg_decode's. */
struct pw_msg_arena;
typedef int (*pw_msg_decode_fn)(void *msg, const uint8_t *src, size_t len, struct pw_msg_arena *a,
                                unsigned depth);

/* One message table (generated; read-only). Fields are sorted by number. */
typedef struct pw_msg_desc {
    const char *full_name; /* "ringq.v1.Task" */
    size_t size;           /* sizeof the C struct */
    size_t align;          /* _Alignof the C struct */
    const pw_msg_field *fields;
    size_t nfields;
    /* The generator's straight-line encoder (both or neither) and decoder of this message
     * (NULL: the runtime walks `fields`, as for tables written by hand). */
    pw_msg_size_fn size_fn;
    pw_msg_write_fn write_fn;
    pw_msg_decode_fn decode_fn;
} pw_msg_desc;

/* One RPC method (generated). */
typedef struct pw_msg_method {
    const char *path; /* "/ringq.v1.Queue/Enqueue" */
    const pw_msg_desc *in;
    const pw_msg_desc *out;
    bool client_streaming;
    bool server_streaming;
} pw_msg_method;

/* ---- Arena ---- */

typedef struct pw_msg_chunk pw_msg_chunk;

/* Bump allocator for decoded sub-messages and arrays. Either a fixed block the caller owns
 * (pw_msg_arena_init: never allocates; full means -ENOMEM) or a growing one
 * (pw_msg_arena_init_heap: mallocs chunks of at least chunk_bytes, freed by deinit). */
typedef struct pw_msg_arena {
    uint8_t *base;
    size_t cap;
    size_t used;
    size_t chunk_bytes;   /* 0: fixed block */
    size_t limit_bytes;   /* heap: most bytes all chunks together may take */
    size_t heap_bytes;    /* heap: bytes the chunks take now */
    pw_msg_chunk *chunks; /* heap chunks, newest first */
} pw_msg_arena;

/* Fixed arena over mem[0..cap) (borrowed for the arena's life). */
void pw_msg_arena_init(pw_msg_arena *a, void *mem, size_t cap);
/* Growing arena; no allocation until the first use. limit_bytes bounds the total: decoded
 * arrays are sized from the input, so the limit is what keeps a hostile message (a million
 * empty sub-messages) from taking memory out of proportion to its bytes. */
void pw_msg_arena_init_heap(pw_msg_arena *a, size_t chunk_bytes, size_t limit_bytes);
/* Growing arena that uses mem[0..cap) (borrowed for the arena's life, e.g. the caller's stack)
 * first and mallocs chunks as pw_msg_arena_init_heap once that is full; limit_bytes bounds the
 * heap chunks only. */
void pw_msg_arena_init_heap_over(pw_msg_arena *a, void *mem, size_t cap, size_t chunk_bytes,
                                 size_t limit_bytes);
/* Forgets every allocation (keeps the newest heap chunk for reuse). */
void pw_msg_arena_reset(pw_msg_arena *a);
/* Frees the heap chunks (a fixed block stays the caller's). */
void pw_msg_arena_deinit(pw_msg_arena *a);
/* pw_msg_arena_alloc when the current block has no room: grows the arena (a new heap chunk)
 * and carves from it, or NULL. */
void *pw_msg_arena_alloc_slow(pw_msg_arena *a, size_t n, size_t align);
/* `n` zeroed bytes aligned to `align` (a power of two), or NULL when the arena cannot grow.
 * Inline: the room check is a few instructions and a constant n (a generated decoder's
 * sub-message) zeroes with stores instead of a memset call, several times per decoded request. */
static inline void *pw_msg_arena_alloc(pw_msg_arena *a, size_t n, size_t align)
{
    size_t pad = (size_t)(-((uintptr_t)a->base + a->used) & (align - 1));
    size_t room = a->cap - a->used; /* cap >= used always; 0 for an unused heap arena */
    if (a->base && pad <= room && n <= room - pad) {
        uint8_t *p = a->base + a->used + pad;
        a->used += pad + n;
        memset(p, 0, n);
        return p;
    }
    return pw_msg_arena_alloc_slow(a, n, align);
}

/* ---- Decode / encode ---- */

/* Decodes src[0..len) as message `d` into *msg (a struct of d->size bytes; zeroed first).
 * Returns 0 or PW_PB_ERR_* / PW_MSG_ERR_DEPTH / -ENOMEM (see the contract above); on error
 * *msg holds a partial decode that must not be used. Views borrow src; arrays borrow `a`. */
int pw_msg_decode(const pw_msg_desc *d, void *msg, const uint8_t *src, size_t len, pw_msg_arena *a);

/* Encoded size of *msg in bytes (borrowed for the call). */
size_t pw_msg_size(const pw_msg_desc *d, const void *msg);

/* Writes *msg into dst[0..cap). Returns the bytes written, or -ENOBUFS when cap is smaller than
 * pw_msg_size() (nothing useful is written then), or -EMSGSIZE above PW_PB_LEN_MAX. */
long pw_msg_encode_to(const pw_msg_desc *d, const void *msg, uint8_t *dst, size_t cap);

/* Appends *msg to `out`: sizes it, reserves that many bytes once, writes them in place.
 * Returns 0, or -ENOBUFS / -ENOMEM (out's cap or allocation; out unchanged) / -EMSGSIZE. */
int pw_msg_encode(const pw_msg_desc *d, const void *msg, buf *out);

/* Appends field `field` of LEN type holding *msg (tag, length, body) to `out`: how a
 * sub-message is written by code that builds the outer message by hand. Errors as above. */
int pw_msg_encode_field(const pw_msg_desc *d, const void *msg, uint32_t field, buf *out);

/* Appends *msg with its length in front (a varint: the protobuf "delimited" form, as gRPC
 * streams of messages framed by hand use it), sized once. Errors as pw_msg_encode. */
int pw_msg_encode_delimited(const pw_msg_desc *d, const void *msg, buf *out);
/* Appends `head` bytes for the caller's own framing (left unwritten: it fills them at
 * buf_begin(out) + the size before the call, e.g. a gRPC message prefix) and *msg behind them,
 * sized once; *body_len (may be NULL) gets the message's size. Errors as pw_msg_encode, and
 * then nothing is appended. */
int pw_msg_encode_headed(const pw_msg_desc *d, const void *msg, size_t head, buf *out,
                         size_t *body_len);

/* The field of `d` numbered `num`, or NULL. */
const pw_msg_field *pw_msg_field_find(const pw_msg_desc *d, uint32_t num);

/* Short names for errors in logs ("depth", then pw_pb_strerror's). Static. */
const char *pw_msg_strerror(int err);

#endif
