/* queue/q_segment: one segment file of a log: create, open, map, scan, index, clean the tail.
 *
 * A segment is a file named by its first offset (Q_SEG_NAME_FMT, zero-padded so names sort),
 * sized with ftruncate and mapped MAP_SHARED for its whole size. Its blocks are allocated
 * (fallocate) only up to `alloc`, in steps ahead of the writer (q_seg_alloc_step): a store through
 * the mapping into an unallocated block would need a block at page-fault time, which on a full
 * disk is SIGBUS, so the log writes only below `alloc`. Holes past it read as zeros: the end of
 * the records. Records are appended by writing into the mapping (the log does that); this file
 * owns the file descriptor, the mapping and a sparse in-memory index rebuilt by the scan on open:
 * the position of every Q_SEG_IDX_STRIDE-th record, so a lookup is one index read plus at most
 * Q_SEG_IDX_STRIDE - 1 header hops. A lookup also leaves a cursor at the record after the one it
 * found (12 bytes per segment, not per record): deliveries mostly read the log forward, so the
 * next lookup usually starts there and parses one record instead of ~Q_SEG_IDX_STRIDE / 2.
 *
 * Not thread-safe: a segment belongs to its log's owner thread. */
#ifndef Q_SEGMENT_H
#define Q_SEGMENT_H

#include <stdbool.h>
#include <stdint.h>

#include "queue/q_format.h"

#define Q_SEG_NAME_FMT "%020" PRIu64 ".qseg"
#define Q_SEG_SUFFIX ".qseg"
#define Q_SEG_TMP_SUFFIX ".tmp"
#define Q_SEG_NAME_BYTES 32 /* 20 digits + ".qseg" + ".tmp" + NUL, rounded up */
/* Index granularity: 4 bytes of memory per 32 records; a lookup hops at most 31 headers. */
#define Q_SEG_IDX_STRIDE 32u
/* Allocation steps. The first is small so that an empty log costs little disk: 16 empty
 * partitions hold 4 MiB. Each later step is the size allocated so far (doubling), up to the
 * largest, so a busy log issues one fallocate per 4 MiB and the last step of a 64 MiB segment
 * over-allocates at most 4 MiB. Positions and steps are multiples of the allocation unit, a page,
 * so a page written through the mapping is allocated whole. */
#define Q_SEG_ALLOC_UNIT_BYTES 4096u
#define Q_SEG_ALLOC_FIRST_BYTES (256u * 1024u)
#define Q_SEG_ALLOC_STEP_MAX_BYTES (4u * 1024u * 1024u)
_Static_assert(Q_SEG_ALLOC_FIRST_BYTES <= Q_SEG_BYTES_MIN * 4, "first step near a small segment");
_Static_assert(Q_SEG_ALLOC_FIRST_BYTES % Q_SEG_ALLOC_UNIT_BYTES == 0, "steps are whole pages");
_Static_assert(Q_SEG_ALLOC_STEP_MAX_BYTES % Q_SEG_ALLOC_UNIT_BYTES == 0, "steps are whole pages");

/* Stores through the mapping go only to pages write(2) has touched first (q_seg_prewrite): an
 * allocated block of ext4 is an unwritten extent, and the first store into its page may split the
 * extent; on a nearly full filesystem (ext4 leaves delayed allocation then) that needs a block
 * the filesystem does not have, and the page fault is SIGBUS. The same need met by write(2) is
 * -ENOSPC, a disk-full refusal. Ahead of the writer in steps of this many bytes of zeros: the
 * pages are stored to at once after, so no block is written twice... */
#define Q_SEG_PREWRITE_BYTES (64u * 1024u)
_Static_assert(Q_SEG_PREWRITE_BYTES % Q_SEG_ALLOC_UNIT_BYTES == 0, "prewrite steps are pages");
/* ...one pwrite per page, not one per step: the page cache sizes a folio by the write that
 * creates it, so one 64 KiB pwrite makes a 64 KiB folio, every store through the mapping dirties
 * it whole, and each fdatasync of a small append wrote ~64 KiB back instead of the pages stored
 * to (8x the bytes at one append per fdatasync; bench/results/prewrite-2026-12-07.md). 16
 * pwrites per step, about one per 32 appends of 2 KiB. */
#define Q_SEG_PREWRITE_WRITE_BYTES Q_SEG_ALLOC_UNIT_BYTES
_Static_assert(Q_SEG_PREWRITE_BYTES % Q_SEG_PREWRITE_WRITE_BYTES == 0, "whole writes per step");

typedef struct q_seg {
    uint64_t base;    /* offset of the first record (the file name) */
    uint64_t count;   /* records in the segment */
    uint32_t used;    /* bytes in use: file header + records */
    uint32_t bytes;   /* file size == mapping size */
    uint32_t alloc;   /* [0, alloc) has blocks: stores through the mapping stay below it (writable
                     * tail segment only; 0 when unknown: a sealed or read-only segment) */
    uint32_t written; /* [0, written) was stored to with write(2) (zeros, q_seg_prewrite) or
                       * holds records: a store through the mapping below it needs nothing more
                       * from the filesystem (0: not known yet; never below used's page) */
    int fd;
    bool rdonly;
    bool published;      /* has its final name (else still "<name>.tmp", see q_log_open.c) */
    uint8_t stop;        /* q_scan_stop of the last q_seg_scan */
    bool verified;       /* every record's checksum was checked (or we wrote it): reads skip it */
    uint8_t version;     /* of the file header: Q_FORMAT_VERSION_MIN .. Q_FORMAT_VERSION */
    uint8_t synced_slot; /* watermark slot holding `synced` (the next raise writes the other) */
    uint32_t synced;     /* the first `synced` records were covered by a completed fsync, as the
                          * header's watermark says (0: unknown, or a version-1 file) */
    uint8_t *map;        /* whole file, MAP_SHARED; PROT_READ only when rdonly */
    uint32_t *idx;       /* idx[i]: position of record base + i * Q_SEG_IDX_STRIDE */
    uint32_t idx_cap;
    /* Lookup cursor (q_seg_find): record base + cur_rel starts at position cur_pos (0: none).
     * Records never move once written (count only grows, or restarts at 0 in q_seg_scan, which
     * clears the cursor), so the cursor stays true. */
    uint64_t cur_rel;
    uint32_t cur_pos;
} q_seg;

/* Writes the file name for `base` ("%020llu.qseg", plus ".tmp" when tmp) into buf. */
void q_seg_name(char buf[Q_SEG_NAME_BYTES], uint64_t base, bool tmp);
/* Parses a segment file name. Returns 1 for a segment, 2 for a leftover temporary file, 0 for
 * anything else (left alone). */
int q_seg_name_parse(const char *name, uint64_t *base);

/* Creates the temporary file for a new segment in dirfd: sets its size to `bytes` (ftruncate),
 * fallocate()s its first `alloc` bytes (rounded up to Q_SEG_ALLOC_UNIT_BYTES, at most `bytes`;
 * appends below that never hit ENOSPC or SIGBUS), writes the file header, maps it and, when
 * `sync`, fsync()s it (size and header; otherwise the commit that publishes it does). The name
 * stays temporary until q_seg_publish(). Returns 0 or a negative errno (-ENOSPC from
 * fallocate); on error nothing is left behind. */
int q_seg_create(int dirfd, uint64_t base, uint32_t bytes, uint32_t alloc, bool sync, q_seg *out);
/* A segment file made ready ahead of the roll that needs it (queue/q_log_spare.c), off the
 * log's thread: created under this name, which is no segment's (q_seg_name_parse ignores it), so
 * recovery never reads it as one; q_log_open deletes a leftover (a crash or power loss leaves it
 * absent, empty or partial, never named as a segment). q_seg_spare_adopt gives it its segment
 * name when the log rolls into it. */
#define Q_SEG_SPARE_NAME "spare" Q_SEG_SUFFIX Q_SEG_TMP_SUFFIX
/* Creates the spare file in dirfd as q_seg_create would create a segment, header excepted (its
 * base is not known yet): size `bytes`, the first `alloc` bytes allocated, the header's page and
 * the first prewrite step (Q_SEG_PREWRITE_BYTES) written with zeros one page per pwrite, the
 * whole file mapped; out->base is 0 and out->idx NULL. Blocking: for a helper thread. Returns 0
 * or a negative errno; on error nothing is left behind. */
int q_seg_spare_prepare(int dirfd, uint32_t bytes, uint32_t alloc, q_seg *out);
/* Turns the prepared spare `s` into the empty segment at `base`: allocates its index, writes the
 * file header (into a page written already: no fault, no allocation) and renames the spare to
 * the segment's temporary name ("<base>.qseg.tmp"), which q_seg_create would have given it. The
 * caller publishes it like a created one. Returns 0 or a negative errno (the spare is then left
 * as it was, still the caller's). */
int q_seg_spare_adopt(int dirfd, uint64_t base, q_seg *s);
/* Unmaps, closes and deletes a spare never adopted. */
void q_seg_spare_discard(int dirfd, q_seg *s);
/* `n` rounded up to the allocation unit, at most the segment size. */
uint32_t q_seg_alloc_round(const q_seg *s, uint64_t n);
/* The next allocation step: what is allocated so far, between Q_SEG_ALLOC_FIRST_BYTES and
 * Q_SEG_ALLOC_STEP_MAX_BYTES. */
uint32_t q_seg_alloc_step(const q_seg *s);
/* Allocates blocks from `alloc` up to `to` (rounded up, at most the size) on the calling thread
 * and moves `alloc`. Returns 0 (also when already allocated) or a negative errno (-ENOSPC: the
 * disk is full; `alloc` is unchanged). */
int q_seg_grow(q_seg *s, uint64_t to);
/* Makes [used, to) safe to store to through the mapping (see Q_SEG_PREWRITE_BYTES): writes zeros
 * with one pwrite per page (Q_SEG_PREWRITE_WRITE_BYTES) from the first untouched page at or after `used` up to `to` rounded up to a step,
 * capped at `alloc`. Never touches a byte below `used`. Caller: to <= alloc. 0, or negative errno
 * of the write (-ENOSPC on a full filesystem: nothing may be stored then). */
int q_seg_prewrite(q_seg *s, uint64_t to);
/* Renames the temporary file to its final name (the caller fsyncs the directory afterwards).
 * Returns 0 or a negative errno. */
int q_seg_publish(int dirfd, q_seg *s);
/* Closes and unlinks a segment (under its current name): one never published, or a recovered
 * segment past a cut. */
void q_seg_discard(int dirfd, q_seg *s);

/* Opens and maps an existing segment (its temporary name unless `published`) and checks its
 * file header. Returns 0, -EBADMSG with a static reason in *why (damaged or foreign file), or
 * another negative errno. */
int q_seg_open(int dirfd, uint64_t base, bool published, bool rdonly, q_seg *out, const char **why);

/* Walks the records from the file header, building the index, and sets count and used. Stops at
 * the first record that does not parse; returns why (Q_SCAN_END or Q_SCAN_ZERO are clean ends).
 * With verify false, checksums are not computed (headers and sequence still are). */
q_scan_stop q_seg_scan(q_seg *s, uint32_t rec_max, bool verify);

/* Bytes from `pos` to one past the last non-zero byte of the file: what a cut at pos throws
 * away (recovery copies them aside first). Only the file's data extents are read
 * (SEEK_DATA/SEEK_HOLE; the whole range where the filesystem cannot tell). */
uint64_t q_seg_garbage_bytes(const q_seg *s, uint32_t pos);

/* Sets the synced watermark to `count` records (see Q_SEG_OFF_SYNCED): a raise writes the slot
 * not holding the current value, a lowering (recovery cut synced records) writes both. Only in the
 * mapping: the next fsync of the file carries it. The caller guarantees that the first `count`
 * records have been covered by a completed fsync (for a raise). No-op on read-only segments and
 * version-1 files (their header checksum covers the slots' bytes). */
void q_seg_set_synced(q_seg *s, uint32_t count);

/* Makes everything from `used` to the end of the file zero, then fsync()s: the bytes after a cut
 * can never resurface as records after later appends. Zeroes the partial page in the mapping and
 * punches the rest, falling back to writing zeros where punching is unsupported; then allocates
 * again up to `alloc_to` (at least the page holding `used`) and sets `alloc`. A full disk is no
 * error here: `alloc` stays at the end of the records and the appends find the disk full.
 * Returns 0 or a negative errno. */
int q_seg_clean_tail(q_seg *s, uint64_t alloc_to);

/* Records the position of a new record with offset base + count (call before count++). */
static inline void q_seg_index_add(q_seg *s, uint32_t pos)
{
    if (s->count % Q_SEG_IDX_STRIDE == 0) s->idx[s->count / Q_SEG_IDX_STRIDE] = pos;
}

/* Finds record `offset` (base <= offset < base + count). Fills out (payload points into the
 * mapping) and returns its position, or a negative errno (-ERANGE outside, -EBADMSG if the
 * mapping no longer parses — the file was changed underneath). Starts from the lookup cursor
 * when it lies at or before `offset` within the same index stride, else from the index entry;
 * leaves the cursor at the record after the one found. */
int64_t q_seg_find(q_seg *s, uint64_t offset, q_rec *out);
/* q_seg_find without the cursor (neither read nor moved), for readers holding the segment const
 * (q_iter): always from the index entry. */
int64_t q_seg_find_indexed(const q_seg *s, uint64_t offset, q_rec *out);
/* Parses the record at position `pos` known to be `offset` (an iterator's next step); returns its
 * span or a negative errno. Checksums are verified unless the segment is `verified`. */
int64_t q_seg_at(const q_seg *s, uint32_t pos, uint64_t offset, q_rec *out);

/* Unmaps, closes and frees the index. */
void q_seg_close(q_seg *s);
/* Hands the mapping to the background thread (core/rt_bg) to unmap, and forgets it: tearing down
 * a 64 MiB mapping the writer touched page by page (16,384 page-table entries) took 1-4 ms of
 * the calling thread (issue 19, session 9's profile: munmap under q_seg_close in retention).
 * The caller guarantees nothing reads the mapping any more. Returns 0 (s->map is NULL, the
 * rest of `s` still to q_seg_close), or a negative errno: the mapping stays, for q_seg_close. */
int q_seg_unmap_detached(q_seg *s);
/* Mappings q_seg_unmap_detached handed off and the background thread has unmapped. */
unsigned long q_seg_unmapped_detached(void);

#endif
