/* queue/q_consumer_pend: the pending table (layout and cost in q_consumer_pend.h). */
#include "queue/q_consumer_pend.h"

#include <errno.h>
#include <string.h>

#include "core/rt_alloc.h"

#define PG Q_CPEND_PAGE_ENTRIES
/* Pages at most: every slot index stays below Q_NIL. */
#define PAGES_MAX (UINT32_MAX / PG - 1u)
#define DIR_MIN 4u /* directory slots at first */

_Static_assert(PG <= 256u, "a page summary rescan stays short");
_Static_assert((uint64_t)PAGES_MAX *PG < Q_NIL, "indices below Q_NIL");

void q_cpend_init(q_cpend *t) { memset(t, 0, sizeof *t); }

void q_cpend_clear(q_cpend *t)
{
    for (uint32_t k = 0; k < t->npages; k++) rt_free(t->dir[k].pg);
    rt_free(t->dir);
    memset(t, 0, sizeof *t);
}

void q_cpend_deinit(q_cpend *t) { q_cpend_clear(t); }

uint64_t q_cpend_bytes(const q_cpend *t)
{
    return (uint64_t)t->npages * sizeof(q_cpend_page) + (uint64_t)t->cap * sizeof(q_cpend_dir);
}

static void page_rescan(q_cpend *t, uint32_t k)
{
    const q_cpend_page *pg = t->dir[k].pg;
    uint64_t m = UINT64_MAX;
    for (uint32_t s = 0; s < pg->len; s++)
        if (!pg->e[s].dead && pg->e[s].due < m) m = pg->e[s].due;
    t->dir[k].min_due = m;
}

/* Page k's entry in slot `gone` left with the page's minimum due (or rose above it): the minimum
 * stays if another live entry shares it. Acks come in delivery order and the deliveries of one
 * millisecond share their due, so the next slot usually does: looking there first (then after
 * it, then before it) ends an in-order ack in a step or two, where a rescan from slot 0 walked
 * every settled entry before it (q_cpend_remove led a fan-out server's own functions in
 * callgrind). The entry in `gone` is not looked at: the caller accounts for its new due. */
static void page_min_left(q_cpend *t, uint32_t k, uint32_t gone)
{
    const q_cpend_page *pg = t->dir[k].pg;
    uint64_t old = t->dir[k].min_due, m = UINT64_MAX;
    for (uint32_t n = 1; n < pg->len; n++) {
        uint32_t s = gone + n < pg->len ? gone + n : gone + n - pg->len;
        if (pg->e[s].dead) continue;
        if (pg->e[s].due == old) return; /* no live due is below the old minimum */
        if (pg->e[s].due < m) m = pg->e[s].due;
    }
    t->dir[k].min_due = m;
}

/* A new, empty page at the end with `base`. 0 or -ENOMEM (table unchanged). */
static int page_append(q_cpend *t, uint64_t base)
{
    if (t->npages == PAGES_MAX) return -ENOMEM;
    if (t->npages == t->cap) {
        uint32_t cap = t->cap ? (t->cap > PAGES_MAX / 2 ? PAGES_MAX : t->cap * 2) : DIR_MIN;
        q_cpend_dir *d = rt_realloc(t->dir, (size_t)cap * sizeof *d);
        if (!d) return -ENOMEM;
        t->dir = d;
        t->cap = cap;
    }
    q_cpend_page *pg = rt_malloc(sizeof *pg);
    if (!pg) return -ENOMEM;
    pg->base = base;
    pg->len = pg->live = 0;
    t->dir[t->npages++] = (q_cpend_dir){pg, UINT64_MAX};
    return 0;
}

int q_cpend_add(q_cpend *t, uint64_t seq, uint64_t token, uint64_t due, bool wait, uint32_t count,
                uint32_t *idx)
{
    q_cpend_page *last = t->npages ? t->dir[t->npages - 1].pg : NULL;
    if (last && last->len && !(q_cpend_seq(t, (t->npages - 1) * PG + last->len - 1) < seq))
        return -EINVAL;
    if (!last || last->len == PG || seq - last->base > Q_CPEND_SPAN_MAX) {
        int rc = page_append(t, seq);
        if (rc) return rc;
        last = t->dir[t->npages - 1].pg;
    }
    if (due > Q_CPEND_DUE_MAX) due = Q_CPEND_DUE_MAX;
    if (count > Q_CPEND_COUNT_MAX) count = Q_CPEND_COUNT_MAX;
    uint32_t s = last->len++;
    last->e[s] = (q_cpend_ent){.token = token,
                               .due = due,
                               .wait = wait,
                               .count = count,
                               .dseq = (uint32_t)(seq - last->base)};
    last->live++;
    q_cpend_dir *d = &t->dir[t->npages - 1];
    if (due < d->min_due) d->min_due = due;
    t->live++;
    if (count > 1) t->nredel++;
    if (idx) *idx = (t->npages - 1) * PG + s;
    return 0;
}

uint32_t q_cpend_find(const q_cpend *t, uint64_t seq)
{
    uint32_t lo = 0, hi = t->npages; /* the last page whose base <= seq */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (t->dir[mid].pg->base <= seq) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0) return Q_NIL;
    uint32_t k = lo - 1;
    const q_cpend_page *pg = t->dir[k].pg;
    if (seq - pg->base > Q_CPEND_SPAN_MAX) return Q_NIL;
    uint32_t off = (uint32_t)(seq - pg->base);
    lo = 0;
    hi = pg->len;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (pg->e[mid].dseq < off) lo = mid + 1;
        else hi = mid;
    }
    return lo < pg->len && pg->e[lo].dseq == off && !pg->e[lo].dead ? k * PG + lo : Q_NIL;
}

void q_cpend_set(q_cpend *t, uint32_t i, uint64_t due, bool wait, uint64_t token, uint32_t count)
{
    q_cpend_ent *e = q_cpend_at(t, i);
    uint64_t old = e->due;
    if (due > Q_CPEND_DUE_MAX) due = Q_CPEND_DUE_MAX;
    if (count > Q_CPEND_COUNT_MAX) count = Q_CPEND_COUNT_MAX;
    if (e->count > 1) t->nredel--;
    if (count > 1) t->nredel++;
    e->due = due;
    e->wait = wait;
    e->token = token;
    e->count = count;
    q_cpend_dir *d = &t->dir[i / PG];
    if (due <= d->min_due) d->min_due = due;
    else if (old == d->min_due) {
        page_min_left(t, i / PG, i % PG); /* the others' minimum: add this one's new due */
        if (due < d->min_due) d->min_due = due;
    }
}

void q_cpend_remove(q_cpend *t, uint32_t i)
{
    q_cpend_ent *e = q_cpend_at(t, i);
    if (e->dead) return;
    e->dead = 1;
    t->dir[i / PG].pg->live--;
    t->live--;
    if (e->count > 1) t->nredel--;
    if (t->live == 0) { /* a burst fully settled: start over, giving back what it took */
        q_cpend_clear(t);
        return;
    }
    if (e->due == t->dir[i / PG].min_due) page_min_left(t, i / PG, i % PG);
}

/* Moves the live entries of page `from` (from its slot `s` on) to the end of page `to` while
 * they fit (room and span). Returns the slot of `from` where it stopped. */
static uint32_t move_into(q_cpend_page *to, q_cpend_page *from, uint32_t s)
{
    for (; s < from->len; s++) {
        if (from->e[s].dead) continue;
        uint64_t seq = from->base + from->e[s].dseq;
        if (to->len == PG || seq - to->base > Q_CPEND_SPAN_MAX) break;
        if (to->len == 0) to->base = seq;
        to->e[to->len] = from->e[s];
        to->e[to->len].dseq = (uint32_t)(seq - to->base);
        to->len++;
        to->live++;
        from->live--;
    }
    return s;
}

/* Slides the live entries of a page from slot s on to its front, based on the first. */
static void page_slide(q_cpend_page *pg, uint32_t s)
{
    uint32_t w = 0;
    uint64_t base = 0;
    for (; s < pg->len; s++) {
        if (pg->e[s].dead) continue;
        uint64_t seq = pg->base + pg->e[s].dseq;
        if (w == 0) base = seq;
        pg->e[w] = pg->e[s];
        pg->e[w].dseq = (uint32_t)(seq - base);
        w++;
    }
    pg->len = w;
    pg->base = w ? base : pg->base;
}

/* Re-packs: every page filled from its successors in order (sequence order kept), the
 * emptied pages freed, the directory closed up, the summaries rebuilt. O(entries). */
static void repack(q_cpend *t)
{
    uint32_t w = 0; /* the page being filled */
    page_slide(t->dir[0].pg, 0);
    for (uint32_t r = 1; r < t->npages; r++) {
        q_cpend_page *src = t->dir[r].pg;
        uint32_t s = move_into(t->dir[w].pg, src, 0);
        if (src->live == 0) {
            rt_free(src);
            t->dir[r].pg = NULL;
            continue;
        }
        page_slide(src, s);
        t->dir[++w].pg = src; /* w < r: the slot is free or src's own */
        if (w != r) t->dir[r].pg = NULL;
    }
    if (t->dir[w].pg->live == 0) { /* only when every page was empty: callers clear instead */
        rt_free(t->dir[w].pg);
        t->npages = 0;
        return;
    }
    t->npages = w + 1;
    for (uint32_t k = 0; k < t->npages; k++) page_rescan(t, k);
}

void q_cpend_gc(q_cpend *t)
{
    uint64_t slots = (uint64_t)t->npages * PG;
    if (slots - t->live > t->live / 4 + 2 * PG) repack(t);
}

uint64_t q_cpend_min_due(const q_cpend *t)
{
    uint64_t m = UINT64_MAX;
    for (uint32_t k = 0; k < t->npages; k++)
        if (t->dir[k].min_due < m) m = t->dir[k].min_due;
    return m;
}

uint32_t q_cpend_next_due(const q_cpend *t, uint32_t from, uint64_t now_ms)
{
    for (uint32_t k = from / PG, s = from % PG; k < t->npages; k++, s = 0) {
        if (t->dir[k].min_due > now_ms) continue;
        const q_cpend_page *pg = t->dir[k].pg;
        for (; s < pg->len; s++)
            if (!pg->e[s].dead && pg->e[s].due <= now_ms) return k * PG + s;
    }
    return Q_NIL;
}

uint32_t q_cpend_next_live(const q_cpend *t, uint32_t from)
{
    for (uint32_t k = from / PG, s = from % PG; k < t->npages; k++, s = 0) {
        const q_cpend_page *pg = t->dir[k].pg;
        if (pg->live == 0) continue;
        for (; s < pg->len; s++)
            if (!pg->e[s].dead) return k * PG + s;
    }
    return Q_NIL;
}
