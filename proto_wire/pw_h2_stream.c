/* proto_wire/pw_h2_stream: the stream table, the RFC 9113 §5.1 state machine and closing. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "proto_wire/pw_h2_int.h"

/* ---- table: open addressing with linear probing, keyed by stream id ---- */

#define TAB_CAP_MIN 8u

static uint32_t slot_of(uint32_t id, uint32_t cap)
{
    return (id * 2654435761u) & (cap - 1); /* Fibonacci hashing; cap is a power of two */
}

pw_h2_stream *pw_h2i_stream_find(const pw_h2_session *s, uint32_t id)
{
    if (!s->tab) return NULL;
    for (uint32_t i = slot_of(id, s->tab_cap);; i = (i + 1) & (s->tab_cap - 1)) {
        pw_h2_stream *st = s->tab[i];
        if (!st) return NULL;
        if (st->id == id) return st;
    }
}

static void tab_put(pw_h2_stream **tab, uint32_t cap, pw_h2_stream *st)
{
    uint32_t i = slot_of(st->id, cap);
    while (tab[i]) i = (i + 1) & (cap - 1);
    tab[i] = st;
}

static int tab_grow(pw_h2_session *s)
{
    /* Keep the load factor at or below 1/2. */
    if (s->tab && (s->tab_count + 1) * 2 <= s->tab_cap) return 0;
    uint32_t cap = s->tab_cap ? s->tab_cap * 2 : TAB_CAP_MIN;
    pw_h2_stream **tab = rt_calloc(cap, sizeof *tab);
    if (!tab) return -ENOMEM;
    for (uint32_t i = 0; i < s->tab_cap; i++)
        if (s->tab[i]) tab_put(tab, cap, s->tab[i]);
    rt_free(s->tab);
    s->tab = tab;
    s->tab_cap = cap;
    return 0;
}

static void tab_remove(pw_h2_session *s, uint32_t id)
{
    uint32_t mask = s->tab_cap - 1, i = slot_of(id, s->tab_cap);
    while (s->tab[i]->id != id) i = (i + 1) & mask;
    s->tab[i] = NULL;
    s->tab_count--;
    /* Backward-shift deletion: re-place the rest of the probe run. */
    for (uint32_t j = (i + 1) & mask; s->tab[j]; j = (j + 1) & mask) {
        pw_h2_stream *st = s->tab[j];
        s->tab[j] = NULL;
        tab_put(s->tab, s->tab_cap, st);
    }
}

void pw_h2i_idle_trim(pw_h2_session *s)
{
    if (s->tab_count > 0 || s->now_ns - s->last_open_ns < (uint64_t)PW_H2_IDLE_KEEP_MS * 1000000u)
        return;
    pw_h2i_hblock_release(s); /* an idle connection holds no block scratch, */
    rt_free(s->tab);          /* no table, */
    s->tab = NULL;
    s->tab_cap = 0;
    rt_cache_trim(&s->stream_cache); /* no cached streams, */
    pw_h2i_hcache_clear(s);          /* no header lists */
}

pw_h2_stream *pw_h2i_stream_new(pw_h2_session *s, uint32_t id, bool local)
{
    if (tab_grow(s) < 0) return NULL;
    pw_h2_stream *st = rt_cache_get(&s->stream_cache);
    if (!st) return NULL;
    memset(st, 0, sizeof *st);
    s->last_open_ns = s->now_ns;
    st->id = id;
    st->state = PW_H2_SS_IDLE;
    st->content_length = -1;
    st->send_window = s->peer_initial_window;
    st->recv_window = s->local_initial_window;
    buf_init(&st->pending, s->cfg.stream_pending_max);
    if (local) {
        st->flags |= PW_H2_SF_LOCAL;
        s->n_local_live++;
    }
    tab_put(s->tab, s->tab_cap, st);
    s->tab_count++;
    return st;
}

void pw_h2i_stream_table_free(pw_h2_session *s)
{
    for (uint32_t i = 0; i < s->tab_cap; i++) {
        pw_h2_stream *st = s->tab[i];
        if (!st) continue;
        buf_deinit(&st->pending);
        pw_h2i_sref_drop_all(st);
        pw_h2i_hlist_free(st->out_headers);
        pw_h2i_hlist_free(st->out_trailers);
        rt_free(st);
    }
    rt_free(s->tab);
    s->tab = NULL;
    s->tab_cap = s->tab_count = 0;
}

bool pw_h2i_stream_is_idle(const pw_h2_session *s, uint32_t id)
{
    if (pw_h2i_is_peer_id(s, id)) return id > s->last_peer_id;
    return id >= s->next_local_id;
}

/* ---- the state machine ---- */

static bool is_live(uint8_t state)
{
    return state == PW_H2_SS_OPEN || state == PW_H2_SS_HALF_CLOSED_LOCAL ||
           state == PW_H2_SS_HALF_CLOSED_REMOTE;
}

/* RFC 9113 §5.1, Figure 2, without the reserved states (no push). */
static bool transition_legal(uint8_t from, uint8_t to)
{
    switch (from) {
    case PW_H2_SS_IDLE:
        /* open (HEADERS), half-closed (HEADERS + END_STREAM); closed: a client request reset
         * or refused before its HEADERS were sent. */
        return to == PW_H2_SS_OPEN || to == PW_H2_SS_HALF_CLOSED_LOCAL ||
               to == PW_H2_SS_HALF_CLOSED_REMOTE || to == PW_H2_SS_CLOSED;
    case PW_H2_SS_OPEN:
        return to == PW_H2_SS_HALF_CLOSED_LOCAL || to == PW_H2_SS_HALF_CLOSED_REMOTE ||
               to == PW_H2_SS_CLOSED;
    case PW_H2_SS_HALF_CLOSED_LOCAL:
    case PW_H2_SS_HALF_CLOSED_REMOTE: return to == PW_H2_SS_CLOSED;
    default: return false;
    }
}

void pw_h2i_stream_set_state(pw_h2_session *s, pw_h2_stream *st, pw_h2_stream_state to)
{
    uint8_t from = st->state;
    assert(transition_legal(from, (uint8_t)to));
    bool local = (st->flags & PW_H2_SF_LOCAL) != 0;
    /* §5.1.2: open and half-closed streams count toward MAX_CONCURRENT_STREAMS. Our own streams
     * count from creation (idle included) so submit_request respects the peer's limit. */
    if (!local) {
        if (!is_live(from) && is_live((uint8_t)to)) s->n_peer_live++;
        if (is_live(from) && !is_live((uint8_t)to)) {
            assert(s->n_peer_live > 0);
            s->n_peer_live--;
        }
    } else if (to == PW_H2_SS_CLOSED) {
        assert(s->n_local_live > 0);
        s->n_local_live--;
    }
    st->state = (uint8_t)to;
}

void pw_h2i_event_queue(pw_h2_session *s, pw_h2_stream *st)
{
    if (st->flags & PW_H2_SF_EV_QUEUED) return;
    st->flags |= PW_H2_SF_EV_QUEUED;
    st->ev_next = NULL;
    if (s->ev_tail) s->ev_tail->ev_next = st;
    else s->ev_head = st;
    s->ev_tail = st;
}

void pw_h2i_stream_close(pw_h2_session *s, pw_h2_stream *st, uint32_t code, pw_h2_closed_how how)
{
    assert(st->state != PW_H2_SS_CLOSED);
    pw_h2i_stream_set_state(s, st, PW_H2_SS_CLOSED);
    st->close_code = code;
    st->closed_how = (uint8_t)how;
    pw_h2i_sendq_remove(s, st);
    buf_deinit(&st->pending);
    pw_h2i_sref_drop_all(st);
    pw_h2i_hlist_free(st->out_headers);
    pw_h2i_hlist_free(st->out_trailers);
    st->out_headers = st->out_trailers = NULL;
    st->flags &= (uint16_t) ~(PW_H2_SF_WANT_WRITABLE | PW_H2_SF_EV_WRITABLE);
    pw_h2i_event_queue(s, st);
}

void pw_h2i_stream_on_recv_es(pw_h2_session *s, pw_h2_stream *st)
{
    switch (st->state) {
    case PW_H2_SS_IDLE: /* a request with END_STREAM on its HEADERS */
    case PW_H2_SS_OPEN: pw_h2i_stream_set_state(s, st, PW_H2_SS_HALF_CLOSED_REMOTE); break;
    case PW_H2_SS_HALF_CLOSED_LOCAL:
        pw_h2i_stream_close(s, st, PW_H2_NO_ERROR, PW_H2_CLOSED_BY_PEER);
        break;
    default: assert(!"END_STREAM received on a stream not receiving");
    }
}

void pw_h2i_stream_on_send_es(pw_h2_session *s, pw_h2_stream *st)
{
    switch (st->state) {
    case PW_H2_SS_IDLE: /* client: request HEADERS with END_STREAM */
    case PW_H2_SS_OPEN: pw_h2i_stream_set_state(s, st, PW_H2_SS_HALF_CLOSED_LOCAL); break;
    case PW_H2_SS_HALF_CLOSED_REMOTE:
        /* Both sides ended. The peer ended first, so late DATA/HEADERS from it are
         * STREAM_CLOSED; WINDOW_UPDATE / RST_STREAM in flight are ignored (§5.1 "closed"). */
        pw_h2i_stream_close(s, st, PW_H2_NO_ERROR, PW_H2_CLOSED_BY_PEER);
        break;
    default: assert(!"END_STREAM sent on a stream not sending");
    }
}

void pw_h2i_stream_free(pw_h2_session *s, pw_h2_stream *st)
{
    assert(st->state == PW_H2_SS_CLOSED);
    assert(!(st->flags & PW_H2_SF_IN_SENDQ));
    /* DATA the application was given but never consumed would shrink the connection window
     * for good: it is returned now (later pw_h2_consume calls for this id are no-ops). */
    if (st->recv_delivered) pw_h2i_credit(s, NULL, st->recv_delivered);
    pw_h2i_closed_remember(s, st->id, (pw_h2_closed_how)st->closed_how);
    tab_remove(s, st->id);
    buf_deinit(&st->pending);
    pw_h2i_sref_drop_all(st);
    rt_cache_put(&s->stream_cache, st);
    pw_h2i_idle_trim(s);
}

void pw_h2i_closed_remember(pw_h2_session *s, uint32_t id, pw_h2_closed_how how)
{
    s->closed[s->closed_next].id = id;
    s->closed[s->closed_next].how = how;
    s->closed_next = (s->closed_next + 1) % PW_H2_CLOSED_STREAMS_KEPT;
}

pw_h2_closed_how pw_h2i_closed_lookup(const pw_h2_session *s, uint32_t id)
{
    const pw_h2_stream *st = pw_h2i_stream_find(s, id);
    if (st && st->state == PW_H2_SS_CLOSED) return (pw_h2_closed_how)st->closed_how;
    /* Newest first: a stream may be remembered twice (closed by the peer, then reset by us). */
    for (uint32_t i = 1; i <= PW_H2_CLOSED_STREAMS_KEPT && id != 0; i++) {
        uint32_t k = (s->closed_next + PW_H2_CLOSED_STREAMS_KEPT - i) % PW_H2_CLOSED_STREAMS_KEPT;
        if (s->closed[k].id == id) return (pw_h2_closed_how)s->closed[k].how;
    }
    return PW_H2_CLOSED_UNKNOWN;
}

int pw_h2i_stream_error(pw_h2_session *s, uint32_t id, uint32_t code)
{
    /* Resets the peer provokes draw from the same budget as the ones it sends ("made you
     * reset"): a peer cannot make us churn streams faster than the budget either way. */
    if (!pw_h2i_bucket_take(&s->reset_budget, s->now_ns))
        return pw_h2i_fail(s, PW_H2_ENHANCE_YOUR_CALM, "stream reset budget exceeded");
    int rc = pw_h2i_out_rst(s, id, code);
    if (rc < 0) return rc;
    pw_h2_stream *st = pw_h2i_stream_find(s, id);
    if (st && st->state != PW_H2_SS_CLOSED) pw_h2i_stream_close(s, st, code, PW_H2_CLOSED_BY_US);
    else if (!st) pw_h2i_closed_remember(s, id, PW_H2_CLOSED_BY_US);
    return 0;
}
