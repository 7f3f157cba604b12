/* queue/q_part_dedup: idempotency-key ring and index (see q_part_dedup.h). */
#include "core/rt_alloc.h"
#include "queue/q_part_dedup.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "queue/q_task_tab.h"

#define DEDUP_CAP_MIN 256u

static inline uint32_t key_hash(uint64_t hash, uint32_t queue, uint32_t nslots)
{
    uint64_t h = (hash ^ ((uint64_t)queue * 0xC2B2AE3D27D4EB4Full)) * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(h >> (64 - __builtin_ctz(nslots)));
}

static int alloc_tables(q_dedup *d, uint32_t cap)
{
    q_dedup_ent *ring = rt_malloc((size_t)cap * sizeof *ring);
    uint32_t *slots = rt_malloc((size_t)cap * 2 * sizeof *slots);
    if (!ring || !slots) {
        rt_free(ring);
        rt_free(slots);
        return -ENOMEM;
    }
    memset(slots, 0xff, (size_t)cap * 2 * sizeof *slots);
    for (uint64_t s = d->head; s < d->tail; s++) ring[s & (cap - 1)] = d->ring[s & (d->cap - 1)];
    rt_free(d->ring);
    rt_free(d->slots);
    d->ring = ring;
    d->slots = slots;
    d->cap = cap;
    d->nslots = cap * 2;
    for (uint64_t s = d->head; s < d->tail; s++) {
        uint32_t pos = (uint32_t)(s & (cap - 1));
        uint32_t i = key_hash(ring[pos].hash, ring[pos].queue, d->nslots);
        while (slots[i] != Q_NIL) i = (i + 1) & (d->nslots - 1);
        slots[i] = pos;
    }
    return 0;
}

int q_dedup_init(q_dedup *d, uint32_t max)
{
    memset(d, 0, sizeof *d);
    d->max = max ? max : 1;
    d->cap = 1; /* alloc_tables copies nothing yet */
    return alloc_tables(d, DEDUP_CAP_MIN);
}

void q_dedup_deinit(q_dedup *d)
{
    rt_free(d->ring);
    rt_free(d->slots);
    memset(d, 0, sizeof *d);
}

uint64_t q_dedup_bytes(const q_dedup *d)
{
    return (uint64_t)d->cap * sizeof(q_dedup_ent) + (uint64_t)d->nslots * 4;
}

q_dedup_ent *q_dedup_find_any(q_dedup *d, uint64_t hash, uint32_t queue)
{
    uint32_t mask = d->nslots - 1;
    for (uint32_t i = key_hash(hash, queue, d->nslots);; i = (i + 1) & mask) {
        uint32_t pos = d->slots[i];
        if (pos == Q_NIL) return NULL;
        q_dedup_ent *e = &d->ring[pos];
        if (e->hash == hash && e->queue == queue && e->expiry_ms != Q_DEDUP_DROPPED) return e;
    }
}

q_dedup_ent *q_dedup_find(q_dedup *d, uint64_t hash, uint32_t queue, uint64_t now_ms)
{
    q_dedup_ent *e = q_dedup_find_any(d, hash, queue);
    return e && e->expiry_ms > now_ms ? e : NULL;
}

/* Removes the head entry from the index and the ring. */
static void pop_head(q_dedup *d, q_dedup_drop_fn drop, void *ud)
{
    assert(d->head < d->tail);
    uint32_t pos = (uint32_t)(d->head & (d->cap - 1));
    q_dedup_ent *e = &d->ring[pos];
    if (drop) drop(ud, e);
    uint32_t mask = d->nslots - 1;
    uint32_t i = key_hash(e->hash, e->queue, d->nslots);
    while (d->slots[i] != pos) {
        assert(d->slots[i] != Q_NIL);
        i = (i + 1) & mask;
    }
    uint32_t hole = i; /* backward-shift deletion, as in q_task_tab.c */
    for (uint32_t j = (i + 1) & mask; d->slots[j] != Q_NIL; j = (j + 1) & mask) {
        const q_dedup_ent *o = &d->ring[d->slots[j]];
        uint32_t home = key_hash(o->hash, o->queue, d->nslots);
        bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (!stays) {
            d->slots[hole] = d->slots[j];
            hole = j;
        }
    }
    d->slots[hole] = Q_NIL;
    d->head++;
}

int q_dedup_reserve(q_dedup *d, uint32_t n)
{
    uint64_t want = d->tail - d->head + n;
    if (want > d->max) want = d->max;
    uint32_t cap = d->cap;
    while (cap < want) cap *= 2;
    return cap == d->cap ? 0 : alloc_tables(d, cap);
}

q_dedup_ent *q_dedup_add(q_dedup *d, const q_dedup_ent *e, q_dedup_drop_fn drop, void *ud)
{
    uint64_t n = d->tail - d->head;
    if (n >= d->max) {
        pop_head(d, drop, ud);
        d->evicted++;
    } else if (n == d->cap && alloc_tables(d, d->cap * 2) != 0) {
        return NULL;
    }
    uint32_t pos = (uint32_t)(d->tail & (d->cap - 1));
    d->ring[pos] = *e;
    uint32_t i = key_hash(e->hash, e->queue, d->nslots);
    while (d->slots[i] != Q_NIL) i = (i + 1) & (d->nslots - 1);
    d->slots[i] = pos;
    d->tail++;
    return &d->ring[pos];
}

uint32_t q_dedup_expire(q_dedup *d, uint64_t now_ms, q_dedup_drop_fn drop, void *ud)
{
    uint32_t k = 0;
    while (d->head < d->tail && d->ring[d->head & (d->cap - 1)].expiry_ms <= now_ms) {
        pop_head(d, drop, ud);
        k++;
    }
    return k;
}
