/* proto_wire/pw_hpack: HPACK (RFC 7541) header compression — decoder and encoder, with the
 * dynamic table, table-size updates and Huffman coding. No I/O, no global state.
 *
 * Errors are negative values below; a decoder error is a connection error of type
 * COMPRESSION_ERROR in HTTP/2 (RFC 9113 §4.3), after which the decoder must not be used again. */
#ifndef PW_HPACK_H
#define PW_HPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rt_buf.h"

/* Results. */
#define PW_HPACK_OK 0
#define PW_HPACK_ERR_COMPRESSION (-1)  /* malformed block: COMPRESSION_ERROR */
#define PW_HPACK_ERR_LIST_TOO_LARGE (-2) /* decoded list exceeds max_header_list_size */
#define PW_HPACK_ERR_NOMEM (-3)

/* Flags on a decoded or encoded field. */
#define PW_HPACK_F_NEVER_INDEXED 0x1u /* literal never indexed (sensitive): keep it so on re-encode */
#define PW_HPACK_F_NO_INDEX 0x2u      /* encoder: literal without indexing */

/* Default and limits. The table size we accept from a peer's updates is bounded by what we
 * advertised in SETTINGS_HEADER_TABLE_SIZE; a string literal is bounded by the header list cap
 * so a Huffman "bomb" cannot make us allocate more than the caller allows. */
#define PW_HPACK_TABLE_SIZE_DEFAULT 4096u
#define PW_HPACK_ENTRY_OVERHEAD 32u /* RFC 7541 §4.1 */

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

typedef struct pw_hpack_dec {
    pw_hpack_table table;
    uint32_t settings_max; /* the ceiling we advertised (SETTINGS_HEADER_TABLE_SIZE) */
    uint8_t *scratch;      /* Huffman-decoded strings of the current field, owned */
    size_t scratch_cap;
    bool failed;           /* sticky: a previous block was malformed */
} pw_hpack_dec;

typedef struct pw_hpack_enc {
    pw_hpack_table table;
    uint32_t pending_max; /* peer's latest SETTINGS_HEADER_TABLE_SIZE, applied at next block */
    uint32_t min_pending; /* smallest size seen since last block (RFC 7541 §4.2) */
    bool update_pending;
} pw_hpack_enc;

/* Decoder. `settings_max` is the SETTINGS_HEADER_TABLE_SIZE we advertise. Returns 0 or
 * PW_HPACK_ERR_NOMEM. */
int pw_hpack_dec_init(pw_hpack_dec *d, uint32_t settings_max);
void pw_hpack_dec_deinit(pw_hpack_dec *d);

/* Called once per decoded field. `name`/`value` are borrowed views valid only during the call
 * (they may point into the input, the dynamic table or the decoder's scratch). Return 0 to go
 * on, or a negative value to stop decoding (returned from pw_hpack_decode_block as is). */
typedef int (*pw_hpack_emit_fn)(void *ud, const uint8_t *name, size_t name_len,
                                const uint8_t *value, size_t value_len, unsigned flags);

/* Decodes one complete header block (HEADERS + CONTINUATION payloads, concatenated).
 * `max_list_size` bounds the decoded list (sum of name + value + 32 per field, RFC 9113 §6.5.2):
 * when exceeded, the rest of the block is still decoded (to keep the dynamic table in sync with
 * the peer) but not emitted, and PW_HPACK_ERR_LIST_TOO_LARGE is returned — a stream error, not a
 * connection error. Returns 0, PW_HPACK_ERR_*, or the emit's negative value; on
 * PW_HPACK_ERR_COMPRESSION `*err_desc` names the fault (static string). */
int pw_hpack_decode_block(pw_hpack_dec *d, const uint8_t *src, size_t len, size_t max_list_size,
                          pw_hpack_emit_fn emit, void *ud, const char **err_desc);

/* Encoder. `table_size` is the initial dynamic table size (4096 per RFC). */
int pw_hpack_enc_init(pw_hpack_enc *e, uint32_t table_size);
void pw_hpack_enc_deinit(pw_hpack_enc *e);
/* The peer changed SETTINGS_HEADER_TABLE_SIZE; a size update is emitted at the next block. */
void pw_hpack_enc_set_max_table_size(pw_hpack_enc *e, uint32_t size);
/* Starts a header block: emits any pending dynamic table size update into `out`. */
int pw_hpack_encode_begin(pw_hpack_enc *e, buf *out);
/* Appends one field to `out`. Picks the shortest representation: full static/dynamic index
 * match, name index + literal, Huffman when shorter. Names must be lowercase. Flags:
 * PW_HPACK_F_NO_INDEX / PW_HPACK_F_NEVER_INDEXED; otherwise the field is added to the dynamic
 * table when it fits. Returns 0 or -ENOBUFS (out's cap) / PW_HPACK_ERR_NOMEM. */
int pw_hpack_encode_field(pw_hpack_enc *e, buf *out, const uint8_t *name, size_t name_len,
                          const uint8_t *value, size_t value_len, unsigned flags);

/* Huffman (RFC 7541 §5.2, Appendix B). */
/* Bytes needed to Huffman-encode `len` bytes of `src`. */
size_t pw_huff_encoded_len(const uint8_t *src, size_t len);
/* Encodes into `dst` (at least pw_huff_encoded_len bytes); returns bytes written. */
size_t pw_huff_encode(uint8_t *dst, const uint8_t *src, size_t len);
/* Decodes into `dst` of `dst_cap` bytes. Returns bytes written, or -1 on invalid input (EOS in
 * the string, padding longer than 7 bits or not all ones) or when dst_cap is too small. */
long pw_huff_decode(uint8_t *dst, size_t dst_cap, const uint8_t *src, size_t len);

#endif
