/* queue/q_part_dedup: the idempotency keys a partition remembers.
 *
 * One ring per partition, in insertion order, of entries {key hash, queue, task id, expiry,
 * record}; an open-addressing index (key hash, queue) -> ring position. Entries leave from the
 * head only: when expired (q_dedup_expire) or, when the ring holds `max` entries, to make room
 * (counted in `evicted`). An entry behind the head whose expiry passed is ignored by lookups
 * and dropped when it reaches the head. Memory: 40 bytes per entry + 8 bytes of index per
 * entry at most; the ring grows by doubling up to `max`.
 *
 * `rec` is the log record that lets the key survive a restart (its ENQUEUE, or a DEDUP record
 * written by compaction), Q_OFF_NONE when it no longer needs one (expired during compaction).
 * The partition keeps a pin on it (q_part_int.h); the callbacks here tell it when to drop one. */
#ifndef Q_PART_DEDUP_H
#define Q_PART_DEDUP_H

#include <stdbool.h>
#include <stdint.h>

#define Q_OFF_NONE UINT64_MAX
/* expiry_ms of an entry dropped before its time (its queue was deleted): no lookup finds it;
 * it waits in the ring until it reaches the head. */
#define Q_DEDUP_DROPPED 0u

typedef struct q_dedup_ent {
    uint64_t hash; /* XXH3-64 of the key */
    uint64_t id;   /* the task the key named first */
    uint64_t expiry_ms;
    uint64_t rec;   /* record that carries it across restarts, or Q_OFF_NONE */
    uint32_t queue; /* queue index in the partition */
} q_dedup_ent;

typedef struct q_dedup {
    q_dedup_ent *ring;
    uint32_t cap, max;   /* cap: power of two, <= the power of two >= max */
    uint64_t head, tail; /* sequence numbers: ring[seq & (cap - 1)] for head <= seq < tail */
    uint32_t *slots;     /* ring position or Q_NIL; 2 x cap */
    uint32_t nslots;
    uint64_t evicted; /* dropped for room while still in their window */
} q_dedup;

/* Called for each entry leaving the ring (expired or evicted), to unpin its record. */
typedef void (*q_dedup_drop_fn)(void *ud, const q_dedup_ent *e);

int q_dedup_init(q_dedup *d, uint32_t max);
void q_dedup_deinit(q_dedup *d);
static inline uint64_t q_dedup_count(const q_dedup *d) { return d->tail - d->head; }
uint64_t q_dedup_bytes(const q_dedup *d);

/* The live (expiry > now) entry for (hash, queue), or NULL. */
q_dedup_ent *q_dedup_find(q_dedup *d, uint64_t hash, uint32_t queue, uint64_t now_ms);
/* The entry for (hash, queue) whatever its expiry, or NULL (replay, compaction); dropped
 * entries (Q_DEDUP_DROPPED) are never returned. */
q_dedup_ent *q_dedup_find_any(q_dedup *d, uint64_t hash, uint32_t queue);
/* Adds an entry (the caller checked there is none for (hash, queue)); when full, the head goes
 * first (drop called, evicted++). Returns the entry, or NULL on -ENOMEM. */
q_dedup_ent *q_dedup_add(q_dedup *d, const q_dedup_ent *e, q_dedup_drop_fn drop, void *ud);
/* Makes room so the next n q_dedup_add cannot fail. 0 or -ENOMEM. */
int q_dedup_reserve(q_dedup *d, uint32_t n);
/* Drops entries from the head while expired (expiry <= now). Returns how many. */
uint32_t q_dedup_expire(q_dedup *d, uint64_t now_ms, q_dedup_drop_fn drop, void *ud);

#endif
