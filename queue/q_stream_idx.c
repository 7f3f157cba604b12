/* queue/q_stream_idx: a stream's seq -> record index, its subject table and its TTL heap
 * (q_stream_int.h draws them). Memory only: no records, no pins. */
#include <errno.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "queue/q_stream_int.h"

/* ---- subjects ---- */

static uint32_t slot_home(uint64_t hash, uint32_t nslots) { return (uint32_t)hash & (nslots - 1); }

uint32_t q_ssubj_find(const q_stream *s, const char *subj, size_t len)
{
    if (!s->nslots) return Q_SNIL;
    uint64_t h = q_subject_hash(subj, len);
    for (uint32_t i = slot_home(h, s->nslots);; i = (i + 1) & (s->nslots - 1)) {
        uint32_t k = s->slots[i];
        if (k == Q_SNIL) return Q_SNIL;
        const q_ssubj *e = &s->subj[k];
        if (e->hash == h && e->len == len && memcmp(e->s, subj, len) == 0) return k;
    }
}

static void slots_put(uint32_t *slots, uint32_t nslots, uint64_t hash, uint32_t k)
{
    uint32_t i = slot_home(hash, nslots);
    while (slots[i] != Q_SNIL) i = (i + 1) & (nslots - 1);
    slots[i] = k;
}

/* Room for `more` new subjects: entries and slots (load <= 1/2). */
static int subj_room(q_stream *s, uint64_t more)
{
    uint64_t need = (uint64_t)s->nsubj + more;
    if (need > UINT32_MAX / 4) return -ENOMEM;
    if (need > s->subj_cap) { /* every entry not in use is on the free list */
        uint32_t cap = s->subj_cap ? s->subj_cap : Q_SSLOTS_MIN / 2;
        while (cap < need) cap *= 2;
        q_ssubj *ne = rt_realloc(s->subj, (size_t)cap * sizeof *ne);
        if (!ne) return -ENOMEM;
        for (uint32_t k = s->subj_cap; k < cap; k++) {
            ne[k].s = NULL;
            ne[k].next_free = k + 1 < cap ? k + 1 : s->free_head;
        }
        s->free_head = s->subj_cap;
        s->subj = ne;
        s->subj_cap = cap;
    }
    if (need * 2 <= s->nslots) return 0;
    uint32_t ns = s->nslots ? s->nslots : Q_SSLOTS_MIN;
    while ((uint64_t)ns < need * 2) ns *= 2;
    uint32_t *slots = rt_malloc((size_t)ns * sizeof *slots);
    if (!slots) return -ENOMEM;
    memset(slots, 0xff, (size_t)ns * sizeof *slots);
    for (uint32_t i = 0; i < s->nslots; i++)
        if (s->slots[i] != Q_SNIL) slots_put(slots, ns, s->subj[s->slots[i]].hash, s->slots[i]);
    rt_free(s->slots);
    s->slots = slots;
    s->nslots = ns;
    return 0;
}

/* Adds a subject (room reserved); returns its position or Q_SNIL (-ENOMEM for its bytes). */
static uint32_t subj_add(q_stream *s, const char *subj, uint32_t len, uint64_t seq)
{
    char *copy = rt_malloc(len);
    if (!copy) return Q_SNIL;
    memcpy(copy, subj, len);
    uint32_t k = s->free_head;
    q_ssubj *e = &s->subj[k];
    s->free_head = e->next_free;
    *e = (q_ssubj){.s = copy, .len = len, .hash = q_subject_hash(subj, len), .first = seq};
    slots_put(s->slots, s->nslots, e->hash, k);
    s->nsubj++;
    return k;
}

/* Removes subject k from the slots (backward-shift deletion) and frees it. */
static void subj_del(q_stream *s, uint32_t k)
{
    uint32_t mask = s->nslots - 1;
    uint32_t i = slot_home(s->subj[k].hash, s->nslots);
    while (s->slots[i] != k) i = (i + 1) & mask;
    for (uint32_t j = (i + 1) & mask; s->slots[j] != Q_SNIL; j = (j + 1) & mask) {
        uint32_t home = slot_home(s->subj[s->slots[j]].hash, s->nslots);
        /* Move j into the hole at i unless its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays) continue;
        s->slots[i] = s->slots[j];
        i = j;
    }
    s->slots[i] = Q_SNIL;
    rt_free(s->subj[k].s);
    s->subj[k].s = NULL;
    s->subj[k].next_free = s->free_head;
    s->free_head = k;
    s->nsubj--;
}

/* ---- index ---- */

int q_sidx_reserve(q_stream *s, uint64_t n)
{
    int rc = subj_room(s, n);
    if (rc) return rc;
    if (s->head + s->len + n <= s->cap) return 0;
    if (s->head && s->len + n <= s->cap / 2) { /* slide down: the front was trimmed */
        memmove(s->ents, s->ents + s->head, (size_t)s->len * sizeof *s->ents);
        s->head = 0;
        return 0;
    }
    uint64_t cap = s->cap ? s->cap : Q_SIDX_CAP_MIN;
    while (cap < s->len + n) cap *= 2;
    /* Grown in place (realloc: a large block is remapped, not copied), the front slid down first
     * (a trimmed stream, head > 0, still moves its len entries here: a paged index would not).
     * A new block and a copy cost the shard 3, 7 and 13 ms at 6, 12 and 24 MB (a stream of 0.25-1
     * M messages: one 24 B entry each) on one turn: the streams open point's p99
     * (bench/results/tail-2026-12-07-s11.md). */
    if (s->head) {
        memmove(s->ents, s->ents + s->head, (size_t)s->len * sizeof *s->ents);
        s->head = 0;
    }
    q_sent *ne = rt_realloc(s->ents, (size_t)cap * sizeof *ne);
    if (!ne) return -ENOMEM; /* ents as they were (slid down: still the same deque) */
    s->ents = ne;
    s->cap = cap;
    return 0;
}

uint64_t q_sidx_first(const q_stream *s)
{
    for (uint64_t i = 0; i < s->len; i++)
        if (s->ents[s->head + i].off != Q_OFF_NONE) return s->base + i;
    return s->last_seq + 1;
}

/* n removed entries before the front (replay: a message older than those met so far). */
static int sidx_prepend(q_stream *s, uint64_t n)
{
    if (n > s->base - 1) return -ERANGE; /* seqs start at 1 */
    if (s->head < n) {
        uint64_t cap = s->cap ? s->cap : Q_SIDX_CAP_MIN;
        while (cap < s->len + n) cap *= 2;
        q_sent *ne = rt_malloc((size_t)cap * sizeof *ne);
        if (!ne) return -ENOMEM;
        if (s->len) memcpy(ne + n, s->ents + s->head, (size_t)s->len * sizeof *ne);
        rt_free(s->ents);
        s->ents = ne;
        s->cap = cap;
        s->head = n;
    }
    s->head -= n;
    for (uint64_t i = 0; i < n; i++)
        s->ents[s->head + i] = (q_sent){.off = Q_OFF_NONE, .subj = Q_SNIL};
    s->len += n;
    s->base -= n;
    return 0;
}

int q_sidx_cover(q_stream *s, uint64_t first, uint64_t last)
{
    if (last > s->last_seq) s->last_seq = last;
    if (first == 0) first = 1;
    if (first > last) {
        if (s->len == 0) s->base = s->last_seq + 1;
        return 0;
    }
    if (s->len == 0) s->base = first;
    else if (first < s->base && sidx_prepend(s, s->base - first)) return -ENOMEM;
    if (last >= s->base + s->len) {
        uint64_t need = last - (s->base + s->len) + 1;
        if (q_sidx_reserve(s, need)) return -ENOMEM;
        for (; need; need--)
            s->ents[s->head + s->len++] = (q_sent){.off = Q_OFF_NONE, .subj = Q_SNIL};
    }
    return 0;
}

int q_sidx_put(q_stream *s, uint64_t seq, uint64_t off, const char *subj, uint32_t slen,
               uint32_t size)
{
    if (s->len == 0 && seq > s->last_seq) s->base = seq; /* empty: the range starts here */
    if (s->len == 0 && seq < s->base) s->base = seq;
    if (seq < s->base) {
        int rc = sidx_prepend(s, s->base - seq);
        if (rc) return rc;
    }
    uint64_t need = seq >= s->base + s->len ? seq - (s->base + s->len) + 1 : 0;
    int rc = q_sidx_reserve(s, need ? need : 1);
    if (rc) return rc;
    for (; need; need--) {
        s->ents[s->head + s->len] = (q_sent){.off = Q_OFF_NONE, .subj = Q_SNIL};
        s->len++;
    }
    q_sent *e = q_sidx_at(s, seq);
    if (e->off != Q_OFF_NONE) { /* a compacted copy: the message moves */
        e->off = off;
        return 0;
    }
    uint32_t k = s->subj_last; /* a producer's subject again: no hash, no probe */
    if (k >= s->subj_cap || !s->subj[k].s || s->subj[k].len != slen ||
        memcmp(s->subj[k].s, subj, slen) != 0) {
        k = q_ssubj_find(s, subj, slen);
        if (k == Q_SNIL && (k = subj_add(s, subj, slen, seq)) == Q_SNIL) return -ENOMEM;
        s->subj_last = k;
    }
    q_ssubj *ss = &s->subj[k];
    *e = (q_sent){.off = off, .subj = k, .size = size};
    if (ss->count == 0 || seq < ss->first) {
        /* First of the subject (or an older copy during replay): link it to the old first. */
        if (ss->count && ss->first - seq <= UINT32_MAX) e->next = (uint32_t)(ss->first - seq);
        ss->first = seq;
    }
    if (ss->count == 0 || seq > ss->last) {
        q_sent *prev = ss->count ? q_sidx_at(s, ss->last) : NULL;
        if (prev && seq - ss->last <= UINT32_MAX) prev->next = (uint32_t)(seq - ss->last);
        ss->last = seq;
    } else if (seq > ss->first) {
        /* A copy in the middle (replay): link it from the kept one before it. */
        for (uint64_t q = seq - 1; q >= ss->first; q--) {
            q_sent *pe = q_sidx_at(s, q);
            if (pe->off != Q_OFF_NONE && pe->subj == k) {
                e->next = pe->next ? (uint32_t)(q + pe->next - seq) : 0;
                pe->next = (uint32_t)(seq - q);
                break;
            }
        }
    }
    ss->count++;
    s->msgs++;
    s->bytes += size;
    if (seq > s->last_seq) s->last_seq = seq;
    return 0;
}

/* The next kept message of subject k after seq (following the links), 0 if none. */
static uint64_t subj_next(const q_stream *s, uint32_t k, uint64_t seq)
{
    const q_sent *e = q_sidx_at(s, seq);
    while (e && e->next) {
        seq += e->next;
        e = q_sidx_at(s, seq);
        if (e && e->off != Q_OFF_NONE && e->subj == k) return seq;
    }
    /* A link was lost (a gap over 2^32, or replay order): scan. */
    const q_ssubj *ss = &s->subj[k];
    for (uint64_t q = seq + 1; q <= ss->last; q++) {
        const q_sent *x = q_sidx_at(s, q);
        if (x && x->off != Q_OFF_NONE && x->subj == k) return q;
    }
    return 0;
}

void q_sidx_del(q_stream *s, uint64_t seq)
{
    q_sent *e = q_sidx_at(s, seq);
    if (!e || e->off == Q_OFF_NONE) return;
    uint32_t k = e->subj;
    q_ssubj *ss = &s->subj[k];
    e->off = Q_OFF_NONE;
    s->msgs--;
    s->bytes -= e->size;
    if (--ss->count == 0) {
        subj_del(s, k);
        return;
    }
    if (seq == ss->first) ss->first = subj_next(s, k, seq);
    if (seq == ss->last) {
        for (uint64_t q = seq - 1; q >= ss->first; q--) {
            const q_sent *x = q_sidx_at(s, q);
            if (x->off != Q_OFF_NONE && x->subj == k) {
                ss->last = q;
                break;
            }
        }
    }
}

void q_sidx_trim(q_stream *s)
{
    while (s->len && s->ents[s->head].off == Q_OFF_NONE) {
        s->head++;
        s->base++;
        s->len--;
    }
    if (s->len == 0) {
        s->head = 0;
        s->base = s->last_seq + 1;
    }
}

/* ---- TTL heap ---- */

static bool ttl_less(const q_sttl *a, const q_sttl *b)
{
    return a->expires_ms < b->expires_ms || (a->expires_ms == b->expires_ms && a->seq < b->seq);
}

int q_sttl_push(q_stream *s, uint64_t expires_ms, uint64_t seq)
{
    if (s->nttl == s->ttl_cap) {
        uint32_t cap = s->ttl_cap ? s->ttl_cap * 2 : 64;
        q_sttl *nt = rt_realloc(s->ttl, (size_t)cap * sizeof *nt);
        if (!nt) return -ENOMEM;
        s->ttl = nt;
        s->ttl_cap = cap;
    }
    uint32_t i = s->nttl++;
    q_sttl x = {expires_ms, seq};
    while (i && ttl_less(&x, &s->ttl[(i - 1) / 2])) {
        s->ttl[i] = s->ttl[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->ttl[i] = x;
    return 0;
}

void q_sttl_pop(q_stream *s)
{
    if (!s->nttl) return;
    q_sttl x = s->ttl[--s->nttl];
    uint32_t i = 0;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= s->nttl) break;
        if (c + 1 < s->nttl && ttl_less(&s->ttl[c + 1], &s->ttl[c])) c++;
        if (!ttl_less(&s->ttl[c], &x)) break;
        s->ttl[i] = s->ttl[c];
        i = c;
    }
    if (s->nttl) s->ttl[i] = x;
}
