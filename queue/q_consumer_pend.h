/* queue/q_consumer_pend: a consumer's pending deliveries — the messages handed out and not
 * settled — and the timer that says which are due again (queue/q_consumer.h).
 *
 * Pages of Q_CPEND_PAGE_ENTRIES 20-byte entries, in stream-sequence order across and within
 * pages: deliveries of new messages come in increasing sequence order (q_cpend_add asserts
 * it), so an append keeps the order and a lookup is two binary searches (the page by its base
 * sequence, then the entry) — no index. An entry keeps its sequence as a 32-bit offset from
 * its page's base (a new page starts where an offset would not fit). A settled entry becomes a
 * hole (dead bit) where it is; q_cpend_gc re-packs the pages (merging neighbours, freeing the
 * emptied ones) once the unused entry slots pass a quarter of the live entries plus two pages.
 *
 * Why pages and not one array: one array grows by copying (realloc), and at a million entries
 * the allocator keeps what the earlier, smaller copies took (glibc's dynamic mmap threshold
 * puts them on the heap once a large block was freed): the table cost 26.4 bytes per entry by
 * its own count and the server's heap grew by 32-35 (bench/results/streams-2026-12-07.md
 * "Memory"). Pages are allocated one at a time, all the same size, and freed ones are reused:
 * what the table counts is what the heap holds.
 *
 * An index (uint32_t) is page number * Q_CPEND_PAGE_ENTRIES + slot; indices stay valid until
 * the next q_cpend_add or q_cpend_gc (both may move entries); q_cpend_remove keeps them.
 *
 * The timer: every entry has a due time (OUT: its ack deadline; WAIT: when to deliver it
 * again). The directory keeps each page's earliest due of its live entries (UINT64_MAX when
 * none): finding what is due reads the directory and only the pages whose summary has passed;
 * a due time that moves later rescans its page (64 entries).
 *
 * Memory: 20 bytes per entry, 16 bytes of page header per Q_CPEND_PAGE_ENTRIES, 16 bytes of
 * directory per page (doubling: at most 32): ~20.8 bytes per pending entry when the pages are
 * full (q_cpend_bytes counts what is allocated, allocator headers aside), at most ~26 with
 * the re-pack threshold above. Allocation failures return -ENOMEM and leave the table
 * unchanged. Not thread-safe. */
#ifndef Q_CONSUMER_PEND_H
#define Q_CONSUMER_PEND_H

#include <stdbool.h>
#include <stdint.h>

#include "queue/q_consumer.h"
#include "queue/q_task_tab.h" /* Q_NIL */

#define Q_CPEND_DUE_BITS 46u /* ms since the Unix epoch: until the year 4199 */
#define Q_CPEND_DUE_MAX ((1ull << Q_CPEND_DUE_BITS) - 1)
#define Q_CPEND_COUNT_MAX 0xffffu
/* Entries per page: one deadline summary each (a due time moving later rescans 64 entries);
 * a page is 1,296 bytes, which is also what a consumer with one pending message costs. */
#define Q_CPEND_PAGE_ENTRIES Q_CONSUMER_BLOCK_ENTRIES
/* The largest gap between a page's base and an entry's sequence (the offset is 32 bits). */
#define Q_CPEND_SPAN_MAX UINT32_MAX

/* 20 bytes, 4-aligned: packed so that the 32-bit offset does not round the entry up to 24. */
typedef struct __attribute__((packed, aligned(4))) q_cpend_ent {
    uint64_t token;                  /* its current delivery's token; 0: none (WAIT) */
    uint64_t due : Q_CPEND_DUE_BITS; /* OUT: ack deadline; WAIT: redeliver at (ms) */
    uint64_t wait : 1;               /* 1: WAIT (not out now), 0: OUT */
    uint64_t dead : 1;               /* a hole: settled */
    uint64_t count : 16;             /* deliveries so far (since the partition opened) */
    uint32_t dseq;                   /* stream sequence - the page's base */
} q_cpend_ent;
_Static_assert(sizeof(q_cpend_ent) == Q_CONSUMER_PENDING_ENTRY_BYTES,
               "Q_CONSUMER_PENDING_ENTRY_BYTES");

typedef struct q_cpend_page {
    uint64_t base; /* the stream sequence of dseq 0 */
    uint32_t len;  /* slots in use, holes included */
    uint32_t live; /* slots that are not holes */
    q_cpend_ent e[Q_CPEND_PAGE_ENTRIES];
} q_cpend_page;

typedef struct q_cpend_dir {
    q_cpend_page *pg; /* owned */
    uint64_t min_due; /* the earliest due of its live entries, UINT64_MAX if none */
} q_cpend_dir;

typedef struct q_cpend {
    q_cpend_dir *dir; /* pages in sequence order */
    uint32_t npages, cap;
    uint32_t live;   /* entries that are not holes */
    uint32_t nredel; /* live entries with count > 1 */
} q_cpend;

void q_cpend_init(q_cpend *t);
void q_cpend_deinit(q_cpend *t);
/* Drops every entry and frees the pages and the directory. */
void q_cpend_clear(q_cpend *t);
/* What the table allocated: pages and directory, in bytes. */
uint64_t q_cpend_bytes(const q_cpend *t);

/* Appends a live entry; seq must be above every entry's (-EINVAL otherwise). 0 or -ENOMEM
 * (also when the index space, 2^32 slots, is used up). Returns its index in *idx (valid until
 * the next add or gc). */
int q_cpend_add(q_cpend *t, uint64_t seq, uint64_t token, uint64_t due, bool wait, uint32_t count,
                uint32_t *idx);
/* The index of the live entry of `seq`, Q_NIL if none. O(log len). */
uint32_t q_cpend_find(const q_cpend *t, uint64_t seq);
/* Entry i (a valid index of a live or dead entry; borrowed until the next add or gc). */
static inline q_cpend_ent *q_cpend_at(const q_cpend *t, uint32_t i)
{
    return &t->dir[i / Q_CPEND_PAGE_ENTRIES].pg->e[i % Q_CPEND_PAGE_ENTRIES];
}
/* The stream sequence of entry i. */
static inline uint64_t q_cpend_seq(const q_cpend *t, uint32_t i)
{
    return t->dir[i / Q_CPEND_PAGE_ENTRIES].pg->base + q_cpend_at(t, i)->dseq;
}
/* Sets an entry's due time and state; keeps the page summary. */
void q_cpend_set(q_cpend *t, uint32_t i, uint64_t due, bool wait, uint64_t token, uint32_t count);
/* Makes entry i a hole (indices stay: callers walk the table while settling). The last live
 * entry settled frees every page. */
void q_cpend_remove(q_cpend *t, uint32_t i);
/* Re-packs the pages when the unused slots pass a quarter of the live entries (and two pages):
 * indices change. */
void q_cpend_gc(q_cpend *t);
/* The earliest due time of a live entry, UINT64_MAX if none. O(pages). */
uint64_t q_cpend_min_due(const q_cpend *t);
/* Index of the first live entry (lowest sequence) at or after index `from` whose due <= now,
 * or Q_NIL. Walk with from = previous + 1. */
uint32_t q_cpend_next_due(const q_cpend *t, uint32_t from, uint64_t now_ms);
/* Index of the first live entry at or after `from`, Q_NIL if none. */
uint32_t q_cpend_next_live(const q_cpend *t, uint32_t from);

#endif
