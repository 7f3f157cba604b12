/* queue/q_consumer_pend: a consumer's pending deliveries — the messages handed out and not
 * settled — and the timer that says which are due again (queue/q_consumer.h).
 *
 * One array of 24-byte entries sorted by stream sequence: deliveries of new messages come in
 * increasing sequence order (q_cpend_add asserts it), so an append keeps the order and a lookup
 * is a binary search — no index. A settled entry becomes a hole (dead bit) where it is; the
 * array is compacted when holes pass a quarter of the live entries (q_cpend_gc, after settling)
 * or a sixteenth of them when the array is full (q_cpend_add), plus a block; a compaction that
 * leaves more than half of the capacity unused gives memory back.
 *
 * The timer: every entry has a due time (OUT: its ack deadline; WAIT: when to deliver it
 * again). bmin[b] is the earliest due of the live entries of block b (entries b*64 ..
 * b*64+63), UINT64_MAX when none: finding what is due reads the summaries and only the blocks
 * whose summary has passed; a due time that moves later rescans its block (64 entries).
 *
 * Memory: 24 bytes per entry + 8 per 64 entries; capacity grows by a fifth, so with the slack
 * and the holes a table filled by q_cpend_add to Q_CPEND_CAP_BOUNDED live entries or more costs
 * under 32 bytes per live entry (q_cpend_bytes counts what is allocated).
 * Allocation failures return -ENOMEM and leave the table unchanged. Not thread-safe. */
#ifndef Q_CONSUMER_PEND_H
#define Q_CONSUMER_PEND_H

#include <stdbool.h>
#include <stdint.h>

#include "queue/q_task_tab.h" /* Q_NIL */

#define Q_CPEND_DUE_BITS 46u /* ms since the Unix epoch: until the year 4199 */
#define Q_CPEND_DUE_MAX ((1ull << Q_CPEND_DUE_BITS) - 1)
#define Q_CPEND_COUNT_MAX 0xffffu
#define Q_CPEND_CAP_MIN 64u /* entries at first: 1.5 KiB */
/* From this many live entries up the table costs under 32 bytes per entry (see above). */
#define Q_CPEND_CAP_BOUNDED 1024u

typedef struct q_cpend_ent {
    uint64_t seq;                    /* stream sequence */
    uint64_t token;                  /* its current delivery's token; 0: none (WAIT) */
    uint64_t due : Q_CPEND_DUE_BITS; /* OUT: ack deadline; WAIT: redeliver at (ms) */
    uint64_t wait : 1;               /* 1: WAIT (not out now), 0: OUT */
    uint64_t dead : 1;               /* a hole: settled */
    uint64_t count : 16;             /* deliveries so far (since the partition opened) */
} q_cpend_ent;
_Static_assert(sizeof(q_cpend_ent) == 24, "Q_CONSUMER_PENDING_ENTRY_BYTES");

typedef struct q_cpend {
    q_cpend_ent *e;
    uint64_t *bmin; /* per block of Q_CONSUMER_BLOCK_ENTRIES */
    uint32_t len;   /* entries in use, holes included */
    uint32_t cap;
    uint32_t live;   /* entries that are not holes */
    uint32_t nredel; /* live entries with count > 1 */
} q_cpend;

void q_cpend_init(q_cpend *t);
void q_cpend_deinit(q_cpend *t);
/* Drops every entry (keeps the memory). */
void q_cpend_clear(q_cpend *t);
uint64_t q_cpend_bytes(const q_cpend *t);

/* Appends a live entry; seq must be above every entry's (-EINVAL otherwise). 0 or -ENOMEM.
 * Returns its index in *idx (valid until the next add or gc: compaction moves entries). */
int q_cpend_add(q_cpend *t, uint64_t seq, uint64_t token, uint64_t due, bool wait, uint32_t count,
                uint32_t *idx);
/* The index of the live entry of `seq`, Q_NIL if none. O(log len). */
uint32_t q_cpend_find(const q_cpend *t, uint64_t seq);
static inline q_cpend_ent *q_cpend_at(q_cpend *t, uint32_t i) { return &t->e[i]; }
/* Sets an entry's due time and state; keeps the block summary. */
void q_cpend_set(q_cpend *t, uint32_t i, uint64_t due, bool wait, uint64_t token, uint32_t count);
/* Makes entry i a hole (indices stay: callers walk the table while settling). */
void q_cpend_remove(q_cpend *t, uint32_t i);
/* Compacts when holes pass a quarter of the entries (and a block): indices change. q_cpend_add
 * does it too when the array is full. */
void q_cpend_gc(q_cpend *t);
/* The earliest due time of a live entry, UINT64_MAX if none. O(len / 64). */
uint64_t q_cpend_min_due(const q_cpend *t);
/* Index of the first live entry (lowest sequence) at or after index `from` whose due <= now,
 * or Q_NIL. Walk with from = previous + 1. */
uint32_t q_cpend_next_due(const q_cpend *t, uint32_t from, uint64_t now_ms);
/* Index of the first live entry at or after `from`, Q_NIL if none. */
uint32_t q_cpend_next_live(const q_cpend *t, uint32_t from);

#endif
