/* queue/q_consumer_pend: the pending table (layout and cost in q_consumer_pend.h). */
#include "queue/q_consumer_pend.h"

#include <errno.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "queue/q_consumer.h"

#define BLK Q_CONSUMER_BLOCK_ENTRIES

static uint32_t nblocks(uint32_t n) { return (n + BLK - 1) / BLK; }

void q_cpend_init(q_cpend *t) { memset(t, 0, sizeof *t); }

void q_cpend_deinit(q_cpend *t)
{
    rt_free(t->e);
    rt_free(t->bmin);
    memset(t, 0, sizeof *t);
}

void q_cpend_clear(q_cpend *t)
{
    t->len = t->live = t->nredel = 0;
    for (uint32_t b = 0; b < nblocks(t->cap); b++) t->bmin[b] = UINT64_MAX;
}

uint64_t q_cpend_bytes(const q_cpend *t)
{
    return (uint64_t)t->cap * sizeof(q_cpend_ent) + (uint64_t)nblocks(t->cap) * sizeof(uint64_t);
}

static void block_rescan(q_cpend *t, uint32_t b)
{
    uint64_t m = UINT64_MAX;
    uint32_t end = (b + 1) * BLK < t->len ? (b + 1) * BLK : t->len;
    for (uint32_t i = b * BLK; i < end; i++)
        if (!t->e[i].dead && t->e[i].due < m) m = t->e[i].due;
    t->bmin[b] = m;
}

/* Capacity for n entries with the slack the growth allows: n + n/5, in whole blocks. */
static uint64_t cap_for(uint64_t n)
{
    uint64_t c = n + n / 5;
    if (c < Q_CPEND_CAP_MIN) c = Q_CPEND_CAP_MIN;
    return (c + BLK - 1) / BLK * BLK;
}

/* Gives back memory when at least half of it is unused: new arrays for the live entries with
 * the growth slack (kept as they are if they cannot be had). */
static void shrink(q_cpend *t)
{
    uint64_t cap = cap_for(t->len);
    if (cap >= t->cap || t->cap / 2 < t->len) return;
    q_cpend_ent *e = rt_malloc((size_t)cap * sizeof *e);
    uint64_t *bm = rt_malloc((size_t)nblocks((uint32_t)cap) * sizeof *bm);
    if (!e || !bm) {
        rt_free(e);
        rt_free(bm);
        return;
    }
    if (t->len) memcpy(e, t->e, (size_t)t->len * sizeof *e);
    memcpy(bm, t->bmin, (size_t)nblocks((uint32_t)cap) * sizeof *bm);
    rt_free(t->e);
    rt_free(t->bmin);
    t->e = e;
    t->bmin = bm;
    t->cap = (uint32_t)cap;
}

/* Moves the live entries to the front, in order, rebuilds the summaries, gives back memory. */
static void compact(q_cpend *t)
{
    uint32_t w = 0;
    for (uint32_t i = 0; i < t->len; i++)
        if (!t->e[i].dead) t->e[w++] = t->e[i];
    t->len = w;
    for (uint32_t b = 0; b < nblocks(t->cap); b++) t->bmin[b] = UINT64_MAX;
    for (uint32_t b = 0; b < nblocks(w); b++) block_rescan(t, b);
    shrink(t);
}

static int grow(q_cpend *t)
{
    /* By a fifth (whole blocks), not by doubling: with compaction at a sixteenth of holes the
     * table stays under 24 * 1.2 * 17/16 + 8/64 * 1.3 ~= 30.8 bytes per live entry from
     * Q_CPEND_CAP_BOUNDED entries up. Still geometric: O(1) amortized. */
    uint64_t want = t->cap ? cap_for(t->cap) : Q_CPEND_CAP_MIN;
    if (want > UINT32_MAX - BLK) return -ENOMEM;
    uint32_t cap = (uint32_t)want;
    q_cpend_ent *e = rt_realloc(t->e, (size_t)cap * sizeof *e);
    if (!e) return -ENOMEM;
    t->e = e;
    uint64_t *bm = rt_realloc(t->bmin, (size_t)nblocks(cap) * sizeof *bm);
    if (!bm) return -ENOMEM; /* e grew: harmless, cap unchanged */
    for (uint32_t b = nblocks(t->cap); b < nblocks(cap); b++) bm[b] = UINT64_MAX;
    t->bmin = bm;
    t->cap = cap;
    return 0;
}

int q_cpend_add(q_cpend *t, uint64_t seq, uint64_t token, uint64_t due, bool wait, uint32_t count,
                uint32_t *idx)
{
    if (t->len && !(t->e[t->len - 1].seq < seq)) return -EINVAL;
    if (t->len == t->cap && t->live + t->live / 16 + BLK < t->len) compact(t);
    if (t->len == t->cap) {
        int rc = grow(t);
        if (rc) return rc;
    }
    uint32_t i = t->len++;
    if (due > Q_CPEND_DUE_MAX) due = Q_CPEND_DUE_MAX;
    if (count > Q_CPEND_COUNT_MAX) count = Q_CPEND_COUNT_MAX;
    t->e[i] = (q_cpend_ent){.seq = seq, .token = token, .due = due, .wait = wait, .count = count};
    if (due < t->bmin[i / BLK]) t->bmin[i / BLK] = due;
    t->live++;
    if (count > 1) t->nredel++;
    if (idx) *idx = i;
    return 0;
}

uint32_t q_cpend_find(const q_cpend *t, uint64_t seq)
{
    uint32_t lo = 0, hi = t->len;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (t->e[mid].seq < seq) lo = mid + 1;
        else hi = mid;
    }
    return lo < t->len && t->e[lo].seq == seq && !t->e[lo].dead ? lo : Q_NIL;
}

void q_cpend_set(q_cpend *t, uint32_t i, uint64_t due, bool wait, uint64_t token, uint32_t count)
{
    q_cpend_ent *e = &t->e[i];
    uint64_t old = e->due;
    if (due > Q_CPEND_DUE_MAX) due = Q_CPEND_DUE_MAX;
    if (count > Q_CPEND_COUNT_MAX) count = Q_CPEND_COUNT_MAX;
    if (e->count > 1) t->nredel--;
    if (count > 1) t->nredel++;
    e->due = due;
    e->wait = wait;
    e->token = token;
    e->count = count;
    uint32_t b = i / BLK;
    if (due <= t->bmin[b]) t->bmin[b] = due;
    else if (old == t->bmin[b]) block_rescan(t, b);
}

void q_cpend_remove(q_cpend *t, uint32_t i)
{
    q_cpend_ent *e = &t->e[i];
    if (e->dead) return;
    e->dead = 1;
    t->live--;
    if (e->count > 1) t->nredel--;
    if (t->live == 0) { /* a burst fully settled: start over, giving back what it took */
        q_cpend_clear(t);
        shrink(t);
        return;
    }
    if (e->due == t->bmin[i / BLK]) block_rescan(t, i / BLK);
}

void q_cpend_gc(q_cpend *t)
{
    if (t->len - t->live > t->live / 4 + BLK) compact(t);
}

uint64_t q_cpend_min_due(const q_cpend *t)
{
    uint64_t m = UINT64_MAX;
    for (uint32_t b = 0; b < nblocks(t->len); b++)
        if (t->bmin[b] < m) m = t->bmin[b];
    return m;
}

uint32_t q_cpend_next_due(const q_cpend *t, uint32_t from, uint64_t now_ms)
{
    uint32_t i = from;
    while (i < t->len) {
        uint32_t b = i / BLK;
        if (t->bmin[b] > now_ms) {
            i = (b + 1) * BLK;
            continue;
        }
        uint32_t end = (b + 1) * BLK < t->len ? (b + 1) * BLK : t->len;
        for (; i < end; i++)
            if (!t->e[i].dead && t->e[i].due <= now_ms) return i;
    }
    return Q_NIL;
}

uint32_t q_cpend_next_live(const q_cpend *t, uint32_t from)
{
    for (uint32_t i = from; i < t->len; i++)
        if (!t->e[i].dead) return i;
    return Q_NIL;
}
