/* queue/q_format: the on-disk layout of a log segment and its records (docs/storage.md draws
 * the same tables). Pure functions: no I/O, no allocation, so tests and the fuzzer drive them on
 * plain buffers.
 *
 * Segment file  = file header (Q_SEG_HDR_BYTES) | record | record | ... | zero bytes to the end
 * Record        = record header (Q_REC_HDR_BYTES) | payload | zero padding to 8 bytes
 *
 * Every record carries an XXH3-64 checksum over the rest of its header, payload and padding, so a
 * torn, zeroed or flipped record is found before anything of it is handed out. The format
 * version must be bumped with any change to either header (beanstalkd's rule for its binlog). */
#ifndef Q_FORMAT_H
#define Q_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bump on any change to a header below, and say what changed in docs/storage.md.
 * Version 2: the segment header keeps the synced watermark in bytes 40..55 (two slots, see
 * below) and its checksum covers bytes 0..39 only, so rewriting a slot never touches what the
 * checksum protects. Version 1 segments are still read (their watermark is unknown: 0). Records
 * did not change: they still carry Q_REC_VERSION. */
#define Q_FORMAT_VERSION 2u
#define Q_FORMAT_VERSION_MIN 1u /* oldest segment header version still read */
#define Q_REC_VERSION 1u        /* record header layout; unchanged since format 1 */

/* Segment file header: 64 bytes, checksummed. */
#define Q_SEG_MAGIC 0x47455351474e4952ull /* "RINGQSEG" little-endian */
#define Q_SEG_HDR_BYTES 64u
#define Q_SEG_OFF_MAGIC 0u   /* u64 Q_SEG_MAGIC */
#define Q_SEG_OFF_VERSION 8u /* u16 Q_FORMAT_VERSION */
#define Q_SEG_OFF_HDRLEN 10u /* u16 Q_SEG_HDR_BYTES */
#define Q_SEG_OFF_FLAGS 12u  /* u32 zero (reserved) */
#define Q_SEG_OFF_BASE 16u   /* u64 offset of the first record; equals the file name */
#define Q_SEG_OFF_BYTES 24u  /* u64 file size at creation */
#define Q_SEG_OFF_CTIME 32u  /* u64 creation time, ns since the epoch */
#define Q_SEG_OFF_SYNCED 40u /* v2: Q_SEG_SYNCED_SLOTS watermark slots; v1: zero */
#define Q_SEG_OFF_CSUM 56u   /* u64 XXH3-64 of bytes [0, 40) (v2) or [0, 56) (v1) */
#define Q_SEG_CSUM_BYTES 40u /* v2: the immutable fields the header checksum covers */

/* The synced watermark (v2). Slot k (Q_SEG_SYNCED_SLOT_BYTES at Q_SEG_OFF_SYNCED + 8k) holds a
 * u32 count and a u32 check, the low 32 bits of XXH3-64 (seed: the segment base) of the count's
 * 4 bytes; an all-zero slot means 0. "count" says: the first `count` records of this segment were
 * covered by a completed fsync, so damage among them is corruption, not a torn write. A slot is
 * raised only after the fsync that covered those records returned, so it never claims more than
 * the disk has, and it is rewritten in place (one aligned 8-byte store into the mapping) by
 * alternating slots: a torn slot leaves the other, older one. The reader takes the larger valid
 * count; a count is lowered (recovery cut it) by writing both. */
#define Q_SEG_SYNCED_SLOTS 2u
#define Q_SEG_SYNCED_SLOT_BYTES 8u
_Static_assert(Q_SEG_OFF_SYNCED + Q_SEG_SYNCED_SLOTS * Q_SEG_SYNCED_SLOT_BYTES == Q_SEG_OFF_CSUM,
               "the watermark slots fill the reserved bytes 40..55 exactly");
_Static_assert(Q_SEG_CSUM_BYTES == Q_SEG_OFF_SYNCED, "the v2 checksum stops at the slots");

/* Record header: 48 bytes, 8-aligned. */
#define Q_REC_MAGIC 0x7152u /* "Rq" */
#define Q_REC_HDR_BYTES 48u
#define Q_REC_OFF_CSUM 0u     /* u64 XXH3-64 of bytes [8, span): rest of header, payload, padding */
#define Q_REC_OFF_MAGIC 8u    /* u16 Q_REC_MAGIC */
#define Q_REC_OFF_VERSION 10u /* u16 Q_REC_VERSION */
#define Q_REC_OFF_LEN 12u     /* u32 payload bytes (padding not counted) */
#define Q_REC_OFF_TYPE 16u    /* u16 caller-defined type */
#define Q_REC_OFF_FLAGS 18u   /* u16 Q_REC_F_* */
#define Q_REC_OFF_RSVD 20u    /* u32 zero (reserved) */
#define Q_REC_OFF_OFFSET 24u  /* u64 dense record number of this record */
#define Q_REC_OFF_ID 32u      /* u64 original offset: == offset unless re-appended by compaction */
#define Q_REC_OFF_TS 40u      /* u64 append time, ns since the epoch */
#define Q_REC_ALIGN 8u

/* Record flags. Unknown bits are rejected so a future flag cannot be misread as absent. */
#define Q_REC_F_COMPACTED 0x1u /* re-appended by q_log_compact(); id is the original offset */
#define Q_REC_F_KNOWN 0x1u

/* Limits. Payloads are addressed with u32 lengths and records with u32 positions inside a
 * segment, so a segment stays below 4 GiB; 1 GiB keeps the whole-segment mapping modest. */
#define Q_SEG_BYTES_MIN (64u * 1024u)             /* a segment must hold a useful record */
#define Q_SEG_BYTES_MAX (1024ull * 1024u * 1024u) /* u32 positions, mapping size */
#define Q_REC_BYTES_MAX (Q_SEG_BYTES_MAX - Q_SEG_HDR_BYTES - Q_REC_HDR_BYTES)

_Static_assert(Q_SEG_HDR_BYTES % Q_REC_ALIGN == 0, "records start aligned");
_Static_assert(Q_REC_HDR_BYTES % Q_REC_ALIGN == 0, "payloads start aligned");
_Static_assert(Q_SEG_BYTES_MAX <= UINT32_MAX, "positions are u32");

/* A decoded record: a view. `payload` points into the buffer that was parsed (for a log, the
 * segment mapping) and is valid as long as that buffer is. */
typedef struct q_rec {
    uint64_t offset; /* dense record number */
    uint64_t id;     /* original offset (== offset unless compacted) */
    uint64_t ts_ns;  /* append time, wall clock */
    uint16_t type;   /* caller-defined */
    uint16_t flags;  /* Q_REC_F_* */
    uint32_t len;    /* payload bytes */
    const uint8_t *payload;
} q_rec;

/* Bytes a record with `len` payload bytes occupies in a segment (header + padded payload). */
static inline uint64_t q_rec_span(uint64_t len)
{
    return Q_REC_HDR_BYTES + ((len + Q_REC_ALIGN - 1) & ~(uint64_t)(Q_REC_ALIGN - 1));
}

#define Q_LD(bits)                                            \
    static inline uint##bits##_t q_ld##bits(const uint8_t *p) \
    {                                                         \
        uint##bits##_t v;                                     \
        __builtin_memcpy(&v, p, sizeof v);                    \
        return v;                                             \
    }
Q_LD(16)
Q_LD(32)
Q_LD(64)
#undef Q_LD
static inline void q_st16(uint8_t *p, uint16_t v) { __builtin_memcpy(p, &v, 2); }
static inline void q_st32(uint8_t *p, uint32_t v) { __builtin_memcpy(p, &v, 4); }
static inline void q_st64(uint8_t *p, uint64_t v) { __builtin_memcpy(p, &v, 8); }
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the format is little-endian");

/* Fills a segment file header into `dst` (Q_SEG_HDR_BYTES bytes): version Q_FORMAT_VERSION,
 * watermark slots zero. */
void q_seg_hdr_encode(uint8_t *dst, uint64_t base, uint64_t seg_bytes, uint64_t ctime_ns);
/* Checks a segment file header: magic, version (Q_FORMAT_VERSION_MIN .. Q_FORMAT_VERSION),
 * reserved bits, checksum, and that the base and size agree with the caller's (from the file name
 * and fstat). The watermark slots are not checked here (q_seg_synced_decode). Returns the header's
 * version (> 0) or -EBADMSG with a static reason in *why. */
int q_seg_hdr_check(const uint8_t *src, uint64_t base, uint64_t file_bytes, const char **why);

/* Reads the watermark of a checked version-2 header `hdr`: the larger count of the valid slots
 * (0 when none is). *slot gets the index of the slot it came from (the next raise writes the
 * other one). */
uint32_t q_seg_synced_decode(const uint8_t *hdr, uint64_t base, uint32_t *slot);
/* Writes `count` into watermark slot `slot` of the header at `hdr` (in a mapping: one aligned
 * 8-byte store). */
void q_seg_synced_encode(uint8_t *hdr, uint64_t base, uint32_t slot, uint32_t count);

/* Writes a whole record at `dst` (which must have q_rec_span(len) bytes): header, payload from
 * the `n` pieces in iov (their lengths sum to `len`), padding, and the checksum last. */
struct iovec;
void q_rec_encode(uint8_t *dst, uint64_t offset, uint64_t id, uint64_t ts_ns, uint16_t type,
                  uint16_t flags, const struct iovec *iov, int n, uint32_t len);
/* Computes the checksum of the record at `src` with payload length `len` (padding included). */
uint64_t q_rec_checksum(const uint8_t *src, uint32_t len);

/* Why a scan stopped. */
typedef enum {
    Q_SCAN_OK = 0,       /* (q_rec_parse) a complete, verified record */
    Q_SCAN_END,          /* no room for another header: the segment is full */
    Q_SCAN_ZERO,         /* an all-zero header: the clean end of written data */
    Q_SCAN_BAD_HEADER,   /* magic, version, reserved bits or flags wrong */
    Q_SCAN_BAD_LENGTH,   /* the record would run past the end of the segment or the max */
    Q_SCAN_BAD_OFFSET,   /* the offset is not the next dense number */
    Q_SCAN_BAD_CHECKSUM, /* checksum mismatch (torn write, bit flip) */
} q_scan_stop;

const char *q_scan_stop_str(q_scan_stop s);

/* Parses one record at `src` (`avail` bytes to the end of the segment) expecting offset
 * `expect`. Returns Q_SCAN_OK for a complete record (out filled, *span set) or a stop reason.
 * `verify_csum` false skips the checksum (a trusted, already verified region). The payload view
 * points into src. */
q_scan_stop q_rec_parse(const uint8_t *src, uint64_t avail, uint64_t expect, uint32_t rec_max,
                        bool verify_csum, q_rec *out, uint64_t *span);

#endif
