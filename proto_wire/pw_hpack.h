/* proto_wire/pw_hpack: HPACK (RFC 7541) header compression — decoder and encoder, with the
 * dynamic table, table-size updates and Huffman coding. No I/O; the only global state is the
 * read-only Huffman decode table, built once on first use (thread-safe).
 *
 * Errors (docs/architecture.md "Errors"): faults in the data are PW_HPACK_ERR_*, negative values
 * in this module's own range, outside errno's (-1201 ..), so they never collide with the
 * resource errors, which stay negative errno: -ENOMEM (allocation failed) and -ENOBUFS (the
 * output buffer's cap). A decoder error is a connection error of type COMPRESSION_ERROR in
 * HTTP/2 (RFC 9113 §4.3), after which the decoder must not be used again. */
#ifndef PW_HPACK_H
#define PW_HPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rt_buf.h"

/* Results. The base is above every errno value (Linux's last is EHWPOISON, 133) and apart from
 * pw_pb's (-1001 ..) and pw_h2's (-1100 ..) ranges. */
#define PW_HPACK_OK 0
#define PW_HPACK_ERR_BASE 1200
/* A malformed block: COMPRESSION_ERROR. */
#define PW_HPACK_ERR_COMPRESSION (-(PW_HPACK_ERR_BASE + 1))
/* The decoded list exceeds max_header_list_size: a stream error. */
#define PW_HPACK_ERR_LIST_TOO_LARGE (-(PW_HPACK_ERR_BASE + 2))
#define PW_HPACK_ERR_HUFFMAN (-(PW_HPACK_ERR_BASE + 3)) /* invalid Huffman string (§5.2) */
#define PW_HPACK_ERR_RANGE (-(PW_HPACK_ERR_BASE + 4))   /* no dynamic table entry there */

/* Short static name of a PW_HPACK_ERR_* or errno result, for logs ("compression", "ENOMEM"). */
const char *pw_hpack_strerror(int err);

/* Flags on a decoded or encoded field. */
/* Literal never indexed (sensitive): keep it so on re-encode (RFC 7541 §6.2.3, §7.1.3). */
#define PW_HPACK_F_NEVER_INDEXED 0x1u
#define PW_HPACK_F_NO_INDEX 0x2u /* encoder: literal without indexing */

/* Default and limits. The table size we accept from a peer's updates is bounded by what we
 * advertised in SETTINGS_HEADER_TABLE_SIZE; a string literal is bounded by the header list cap
 * so a Huffman "bomb" cannot make us allocate more than the caller allows. */
#define PW_HPACK_TABLE_SIZE_DEFAULT 4096u
#define PW_HPACK_ENTRY_OVERHEAD 32u /* RFC 7541 §4.1 */
#define PW_HPACK_STATIC_COUNT 61u   /* RFC 7541 Appendix A */
/* Largest integer the decoder accepts (index, string length, table size): every legitimate
 * value is far below 2^32 - 1, and the bound keeps size arithmetic free of overflow. */
#define PW_HPACK_INT_MAX UINT32_MAX
/* Continuation octets after the prefix (§5.1): 5 x 7 bits already cover PW_HPACK_INT_MAX; more
 * is either an attack (endless zero-padded integers) or garbage. */
#define PW_HPACK_INT_CONT_BYTES_MAX 5u
/* Octets of decoder scratch allowed above max(max_list_size, table size): room for the name
 * and the value of one field at the limit without rounding games. */
#define PW_HPACK_SCRATCH_SLACK_BYTES 64u
/* The encoder never uses a dynamic table larger than this, whatever the peer advertises
 * (§4.2 lets the encoder use less): 4 KiB holds a gRPC connection's repeated metadata, and
 * more is memory per connection for no measurable gain. */
#define PW_HPACK_ENC_TABLE_SIZE_MAX 4096u

typedef struct pw_hpack_entry pw_hpack_entry; /* private */

/* The dynamic table: a ring of entries, sized in RFC 7541 octets (name + value + 32). */
typedef struct pw_hpack_table {
    pw_hpack_entry **ents; /* ring of owned entries */
    size_t cap_ents;       /* slots allocated in the ring */
    size_t head;           /* index of the newest entry */
    size_t count;          /* live entries */
    size_t size;           /* current size in octets */
    size_t max_size;       /* current maximum size in octets */
} pw_hpack_table;

/* Reads dynamic table entry `i` (0 = newest, i.e. HPACK index 62). The views borrow the entry
 * and stay valid until the table is next modified. Returns 0, or PW_HPACK_ERR_RANGE if
 * i >= t->count. */
int pw_hpack_table_entry(const pw_hpack_table *t, size_t i, const uint8_t **name, size_t *name_len,
                         const uint8_t **value, size_t *value_len);

typedef struct pw_hpack_dec {
    pw_hpack_table table;
    uint32_t settings_max; /* the ceiling we advertised (SETTINGS_HEADER_TABLE_SIZE) */
    uint8_t *scratch;      /* Huffman-decoded strings of the current field, owned */
    size_t scratch_cap;
    bool update_required; /* settings_max was lowered below the table max: the next block
                            * must start with a size update (RFC 7541 §4.2) */
    bool failed;          /* sticky: a previous block was malformed */
    /* Moved by every change of the dynamic table or of what the next block must hold (an
     * insertion, a size update, a new settings_max): a block that left it unchanged decodes to
     * the same list when the same bytes come again under the same generation (pw_h2's decoded
     * block cache, pw_h2_hblock.c). */
    uint64_t gen;
} pw_hpack_dec;

typedef struct pw_hpack_enc {
    pw_hpack_table table;
    uint32_t pending_max; /* peer's latest SETTINGS_HEADER_TABLE_SIZE, applied at next block */
    uint32_t min_pending; /* smallest size seen since last block (RFC 7541 §4.2) */
    bool update_pending;
    /* Moved by every change of the dynamic table (an insertion, a size update): two equal
     * generations mean the same table, so a header list encoded under one encodes to the same
     * bytes under the other when its encoding inserted nothing (pw_h2's block cache). */
    uint64_t gen;
} pw_hpack_enc;

/* Decoder. `settings_max` is the SETTINGS_HEADER_TABLE_SIZE we advertise; the table starts at
 * that size. Returns 0 (it cannot fail). Nothing is allocated until needed. */
int pw_hpack_dec_init(pw_hpack_dec *d, uint32_t settings_max);
void pw_hpack_dec_deinit(pw_hpack_dec *d);
/* Our SETTINGS_HEADER_TABLE_SIZE changed and the peer acknowledged it. Later size updates must
 * be <= `settings_max`; if it is below the current table maximum, the next block must begin
 * with a size update (else PW_HPACK_ERR_COMPRESSION). */
void pw_hpack_dec_set_settings_max(pw_hpack_dec *d, uint32_t settings_max);

/* Called once per decoded field. `name`/`value` are borrowed views valid only during the call
 * (they may point into the input, the dynamic table or the decoder's scratch). Return 0 to go
 * on, or a negative value to stop decoding (returned from pw_hpack_decode_block as is). */
typedef int (*pw_hpack_emit_fn)(void *ud, const uint8_t *name, size_t name_len,
                                const uint8_t *value, size_t value_len, unsigned flags);

/* Decodes one complete header block (HEADERS + CONTINUATION payloads, concatenated).
 * `max_list_size` bounds the decoded list (sum of name + value + 32 per field, RFC 9113 §6.5.2):
 * when exceeded, the rest of the block is still decoded (to keep the dynamic table in sync with
 * the peer) but not emitted, and PW_HPACK_ERR_LIST_TOO_LARGE is returned — a stream error, not a
 * connection error. Returns 0, PW_HPACK_ERR_*, -ENOMEM, or the emit's negative value; on
 * PW_HPACK_ERR_COMPRESSION `*err_desc` names the fault (static string; err_desc may be NULL).
 * Emitted flags: PW_HPACK_F_NEVER_INDEXED for never-indexed literals, else 0.
 * Memory: the scratch never grows past max(max_list_size, table max) + PW_HPACK_SCRATCH_SLACK_BYTES
 * and the dynamic table past settings_max octets.
 * After PW_HPACK_ERR_COMPRESSION, -ENOMEM or an emit error the block was not fully
 * processed, the table may be out of sync, and the decoder is failed for good (sticky). */
int pw_hpack_decode_block(pw_hpack_dec *d, const uint8_t *src, size_t len, size_t max_list_size,
                          pw_hpack_emit_fn emit, void *ud, const char **err_desc);

/* Encoder. `table_size` is the dynamic table size both ends assume at the start (4096 per RFC);
 * above PW_HPACK_ENC_TABLE_SIZE_MAX the encoder announces its cap in the first block. Returns 0
 * (nothing is allocated until needed). */
int pw_hpack_enc_init(pw_hpack_enc *e, uint32_t table_size);
void pw_hpack_enc_deinit(pw_hpack_enc *e);
/* The peer changed SETTINGS_HEADER_TABLE_SIZE; a size update is emitted at the next block
 * (the smallest size seen since the last block first, then the final one, §4.2). The encoder
 * uses min(size, PW_HPACK_ENC_TABLE_SIZE_MAX). */
void pw_hpack_enc_set_max_table_size(pw_hpack_enc *e, uint32_t size);
/* Starts a header block: emits any pending dynamic table size update into `out`. Must be the
 * first call of every block, before pw_hpack_encode_field (§4.2). Returns 0 or
 * -ENOBUFS (out's cap) / -ENOMEM; on error nothing is written and the update stays
 * pending. */
int pw_hpack_encode_begin(pw_hpack_enc *e, buf *out);
/* Appends one field to `out`. Picks the shortest representation: full static/dynamic index
 * match, name index + literal, Huffman when shorter. Names must be lowercase. Flags:
 * PW_HPACK_F_NO_INDEX / PW_HPACK_F_NEVER_INDEXED; otherwise the field is added to the dynamic
 * table when it fits. A never-indexed field is always sent as a never-indexed literal (never as
 * an index, §7.1.3). Returns 0 or -ENOBUFS (out's cap) / -ENOMEM; on error nothing is
 * written and the table is unchanged, so the encoder stays usable. `name`/`value` are borrowed
 * for the call; strings longer than PW_HPACK_INT_MAX are rejected with -ENOBUFS. */
int pw_hpack_encode_field(pw_hpack_enc *e, buf *out, const uint8_t *name, size_t name_len,
                          const uint8_t *value, size_t value_len, unsigned flags);

/* Huffman (RFC 7541 §5.2, Appendix B). */
/* Bytes needed to Huffman-encode `len` bytes of `src`. */
size_t pw_huff_encoded_len(const uint8_t *src, size_t len);
/* Encodes into `dst` (at least pw_huff_encoded_len bytes); returns bytes written. */
size_t pw_huff_encode(uint8_t *dst, const uint8_t *src, size_t len);
/* Decodes into `dst` of `dst_cap` bytes. Returns bytes written, or PW_HPACK_ERR_HUFFMAN on
 * invalid input (EOS in the string, padding longer than 7 bits or not all ones) or when dst_cap
 * is too small.
 * A decoded string is at most len * 8 / 5 bytes (the shortest code is 5 bits). */
long pw_huff_decode(uint8_t *dst, size_t dst_cap, const uint8_t *src, size_t len);
/* Validates `len` bytes of Huffman input without writing anything. Returns the decoded length,
 * or PW_HPACK_ERR_HUFFMAN on invalid input (same rules as pw_huff_decode). */
long pw_huff_decoded_len(const uint8_t *src, size_t len);

#endif
