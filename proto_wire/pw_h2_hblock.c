/* proto_wire/pw_h2_hblock: header blocks in (RFC 9113 §4.3, §6.2, §6.10): reassembly of
 * HEADERS + CONTINUATION, HPACK decoding (always, to keep the dynamic table in sync, §4.3),
 * field validation (§8.2, §8.3) and delivery to on_headers. */
#include <stdint.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "proto_wire/pw_h2_int.h"

typedef enum hb_kind { HB_REQUEST, HB_RESPONSE, HB_TRAILERS, HB_DISCARD } hb_kind;

#define PS_METHOD 0x01u
#define PS_SCHEME 0x02u
#define PS_AUTHORITY 0x04u
#define PS_PATH 0x08u
#define PS_STATUS 0x10u

typedef struct hb_ctx {
    pw_h2_session *s;
    hb_kind kind;
    const char *malformed; /* first reason the message is malformed (§8.1.1), or NULL */
    bool overflow;         /* our copy ran out of room: the list is too large */
    bool regular_seen;
    bool is_connect, is_head;
    unsigned pseudo_seen;
    int status;
    int64_t content_length;
} hb_ctx;

void pw_h2i_hblock_reset(pw_h2_session *s)
{
    s->cont_stream = 0;
    s->cont_frames = 0;
    buf_deinit(&s->hblock);
    buf_deinit(&s->hbytes);
    buf_deinit(&s->hfields);
    for (size_t k = 0; k < PW_H2_DCACHE_SLOTS; k++) {
        rt_free(s->dcache[k]);
        s->dcache[k] = NULL;
    }
}

static bool eq(const uint8_t *p, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n == l && memcmp(p, lit, l) == 0;
}

/* §8.2.1: a byte a field name may not hold: 0x00-0x20, uppercase, 0x7f-0xff, a colon (outside
 * the pseudo prefix). One table lookup per byte instead of five comparisons (emit's checks were
 * ~2.8 % of the server's samples at batch 1). */
#define NAME_BAD(c) ((c) <= 0x20 || ((c) >= 0x41 && (c) <= 0x5a) || (c) >= 0x7f || (c) == ':')
#define NAME_BAD4(c) NAME_BAD(c), NAME_BAD((c) + 1), NAME_BAD((c) + 2), NAME_BAD((c) + 3)
#define NAME_BAD16(c) NAME_BAD4(c), NAME_BAD4((c) + 4), NAME_BAD4((c) + 8), NAME_BAD4((c) + 12)
#define NAME_BAD64(c) \
    NAME_BAD16(c), NAME_BAD16((c) + 16), NAME_BAD16((c) + 32), NAME_BAD16((c) + 48)
static const uint8_t name_bad[256] = {NAME_BAD64(0), NAME_BAD64(64), NAME_BAD64(128),
                                      NAME_BAD64(192)};

static bool name_ok(const uint8_t *p, size_t n)
{
    unsigned bad = 0;
    for (size_t i = 0; i < n; i++) bad |= name_bad[p[i]]; /* names are short: no early exit */
    return bad == 0;
}

/* Nonzero when one of the 8 bytes of v is zero (the classic SWAR test: a byte's high bit is set
 * by the borrow of a zero byte, and only then, once the bytes that had it set are masked). */
static inline uint64_t has_zero_byte(uint64_t v)
{
    return (v - 0x0101010101010101ull) & ~v & 0x8080808080808080ull;
}

/* §8.2.1: no NUL, LF or CR; no leading or trailing SP / HTAB. Eight bytes at a time. */
static bool value_ok(const uint8_t *p, size_t n)
{
    if (n && (p[0] == ' ' || p[0] == '\t' || p[n - 1] == ' ' || p[n - 1] == '\t')) return false;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, sizeof v);
        if (has_zero_byte(v) | has_zero_byte(v ^ 0x0a0a0a0a0a0a0a0aull) |
            has_zero_byte(v ^ 0x0d0d0d0d0d0d0d0dull))
            return false;
    }
    for (; i < n; i++)
        if (p[i] == 0 || p[i] == '\n' || p[i] == '\r') return false;
    return true;
}

/* content-length: 1*DIGIT, at most 18 digits so the value fits comfortably in int64. */
static int64_t parse_content_length(const uint8_t *p, size_t n)
{
    if (n == 0 || n > 18) return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* RFC 9110 §5.6.2 tchar. */
static bool is_tchar(uint8_t c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A view of a buffer's bytes that is never a null pointer (for empty buffers). */
static const uint8_t *bytes_of(const buf *b)
{
    return b->data ? buf_begin(b) : (const uint8_t *)"";
}

static const char *check_pseudo(hb_ctx *c, const uint8_t *name, size_t nlen, const uint8_t *value,
                                size_t vlen)
{
    if (c->kind == HB_TRAILERS) return "pseudo-header in trailers";    /* §8.1 */
    if (c->regular_seen) return "pseudo-header after a regular field"; /* §8.3 */
    unsigned bit = 0;
    if (c->kind == HB_REQUEST) { /* §8.3.1 */
        if (eq(name, nlen, ":method")) bit = PS_METHOD;
        else if (eq(name, nlen, ":scheme")) bit = PS_SCHEME;
        else if (eq(name, nlen, ":authority")) bit = PS_AUTHORITY;
        else if (eq(name, nlen, ":path")) bit = PS_PATH;
    } else if (eq(name, nlen, ":status")) { /* §8.3.2 */
        bit = PS_STATUS;
    }
    if (!bit) return "unknown or misplaced pseudo-header"; /* §8.3 */
    if (c->pseudo_seen & bit) return "duplicate pseudo-header";
    c->pseudo_seen |= bit;
    switch (bit) {
    case PS_METHOD: /* RFC 9110 §9.1: method = token */
        if (vlen == 0) return "empty :method";
        for (size_t i = 0; i < vlen; i++)
            if (!is_tchar(value[i])) return "invalid :method";
        c->is_connect = eq(value, vlen, "CONNECT");
        c->is_head = eq(value, vlen, "HEAD");
        break;
    case PS_PATH:
        if (vlen == 0) return "empty :path"; /* §8.3.1 */
        break;
    case PS_SCHEME:
        if (vlen == 0) return "empty :scheme";
        break;
    case PS_STATUS:
        if (vlen != 3) return "invalid :status";
        c->status = 0;
        for (size_t i = 0; i < 3; i++) {
            if (value[i] < '0' || value[i] > '9') return "invalid :status";
            c->status = c->status * 10 + (value[i] - '0');
        }
        if (c->status < 100) return "invalid :status";
        break;
    default: break;
    }
    return NULL;
}

static const char *check_regular(hb_ctx *c, const uint8_t *name, size_t nlen, const uint8_t *value,
                                 size_t vlen)
{
    c->regular_seen = true;
    if (nlen == 0) return "empty field name";
    if (!name_ok(name, nlen)) return "invalid field name";
    /* §8.2.2: connection-specific fields are malformed; TE may only say "trailers". */
    if (eq(name, nlen, "connection") || eq(name, nlen, "proxy-connection") ||
        eq(name, nlen, "keep-alive") || eq(name, nlen, "transfer-encoding") ||
        eq(name, nlen, "upgrade"))
        return "connection-specific field";
    if (eq(name, nlen, "te") && !eq(value, vlen, "trailers")) return "TE other than trailers";
    if (eq(name, nlen, "content-length")) {
        int64_t v = parse_content_length(value, vlen);
        if (v < 0) return "invalid content-length";
        if (c->content_length >= 0 && c->content_length != v) return "conflicting content-length";
        c->content_length = v;
    }
    return NULL;
}

/* Copies a field into the session's block scratch (hbytes / hfields). Pointers are stored as
 * offsets into hbytes (it may move while growing) and fixed up in deliver(). */
static void collect(hb_ctx *c, const uint8_t *name, size_t nlen, const uint8_t *value, size_t vlen,
                    unsigned flags)
{
    pw_h2_session *s = c->s;
    size_t off = buf_size(&s->hbytes);
    pw_h2_header h = {(const char *)(uintptr_t)off, nlen, (const char *)(uintptr_t)(off + nlen),
                      vlen, flags};
    if (buf_append(&s->hbytes, name, nlen) < 0 || buf_append(&s->hbytes, value, vlen) < 0 ||
        buf_append(&s->hfields, &h, sizeof h) < 0)
        c->overflow = true;
}

static int emit(void *ud, const uint8_t *name, size_t nlen, const uint8_t *value, size_t vlen,
                unsigned flags)
{
    hb_ctx *c = ud;
    if (c->kind == HB_DISCARD || c->malformed || c->overflow) return 0; /* decode on, for sync */
    const char *bad = nlen && name[0] == ':' ? check_pseudo(c, name, nlen, value, vlen)
                                             : check_regular(c, name, nlen, value, vlen);
    if (!bad && nlen && name[0] == ':' && !name_ok(name + 1, nlen - 1)) bad = "invalid name";
    if (!bad && !value_ok(value, vlen)) bad = "invalid field value";
    if (bad) {
        c->malformed = bad;
        return 0;
    }
    collect(c, name, nlen, value, vlen, flags);
    return 0;
}

/* Whole-message checks once the block is decoded (§8.3.1, §8.3.2, §8.5). */
static const char *check_complete(const hb_ctx *c)
{
    if (c->malformed) return c->malformed;
    if (c->kind == HB_REQUEST) {
        if (!(c->pseudo_seen & PS_METHOD)) return "missing :method";
        if (c->is_connect) { /* §8.5: only :method and :authority */
            if (!(c->pseudo_seen & PS_AUTHORITY)) return "CONNECT without :authority";
            if (c->pseudo_seen & (PS_SCHEME | PS_PATH)) return "CONNECT with :scheme or :path";
        } else if ((c->pseudo_seen & (PS_SCHEME | PS_PATH)) != (PS_SCHEME | PS_PATH)) {
            return "missing :scheme or :path";
        }
    } else if (c->kind == HB_RESPONSE) {
        if (!(c->pseudo_seen & PS_STATUS)) return "missing :status";
        if (c->status == 101) return "101 is not allowed in HTTP/2"; /* §8.6 */
    }
    return NULL;
}

static int deliver(pw_h2_session *s, pw_h2_stream *st, unsigned hflags)
{
    size_t n = buf_size(&s->hfields) / sizeof(pw_h2_header);
    pw_h2_header *h = n ? (pw_h2_header *)(void *)(s->hfields.data + s->hfields.rd) : NULL;
    const char *base = (const char *)bytes_of(&s->hbytes);
    for (size_t i = 0; i < n; i++) {
        h[i].name = base + (uintptr_t)h[i].name;
        h[i].value = base + (uintptr_t)h[i].value;
    }
    int rc = 0;
    s->cb_depth++;
    if (s->cb.on_headers) rc = s->cb.on_headers(s->ud, st->id, h, n, hflags);
    s->cb_depth--;
    if (rc < 0) return pw_h2i_fail(s, PW_H2_INTERNAL_ERROR, "application failed on_headers");
    return 0;
}

/* A new peer stream (server role): open it and deliver the request (§5.1, §8.3.1). */
static int open_request(pw_h2_session *s, uint32_t sid, bool es, const hb_ctx *c)
{
    /* §6.8: after our GOAWAY new streams are not processed. Refusals still draw from the reset
     * budget: a peer that keeps opening streams after GOAWAY is flooding. */
    if (s->goaway_sent) return pw_h2i_stream_error(s, sid, PW_H2_REFUSED_STREAM);
    /* §5.1.2: beyond our MAX_CONCURRENT_STREAMS: REFUSED_STREAM (retryable). */
    if (s->n_peer_live >= s->cfg.max_concurrent_streams)
        return pw_h2i_stream_error(s, sid, PW_H2_REFUSED_STREAM);
    /* §8.1.1: content-length must match the DATA total, which is 0 here. */
    if (es && c->content_length > 0) return pw_h2i_stream_error(s, sid, PW_H2_PROTOCOL_ERROR);
    pw_h2_stream *st = pw_h2i_stream_new(s, sid, false);
    if (!st) return pw_h2i_fail(s, PW_H2_INTERNAL_ERROR, "out of memory");
    pw_h2i_stream_set_state(s, st, es ? PW_H2_SS_HALF_CLOSED_REMOTE : PW_H2_SS_OPEN);
    st->flags |= PW_H2_SF_HDRS_IN;
    st->content_length = c->content_length;
    s->last_processed_id = sid;
    if (s->cb.on_begin_stream) {
        s->cb_depth++;
        int rc = s->cb.on_begin_stream(s->ud, sid);
        s->cb_depth--;
        if (rc < 0) return pw_h2i_fail(s, PW_H2_INTERNAL_ERROR, "application failed a stream");
    }
    return deliver(s, st, es ? PW_H2_HF_END_STREAM : 0);
}

/* Headers on a stream that is receiving: trailers, or a response (client role). */
static int on_stream_block(pw_h2_session *s, pw_h2_stream *st, bool es, const hb_ctx *c)
{
    unsigned hflags = es ? PW_H2_HF_END_STREAM : 0;
    if (c->kind == HB_TRAILERS) {
        /* §8.1: a trailer section must end the stream. */
        if (!es) return pw_h2i_stream_error(s, st->id, PW_H2_PROTOCOL_ERROR);
        hflags |= PW_H2_HF_TRAILERS;
    } else if (c->status < 200) { /* §8.1: 1xx informational, more HEADERS follow */
        if (es) return pw_h2i_stream_error(s, st->id, PW_H2_PROTOCOL_ERROR);
        hflags |= PW_H2_HF_INFORMATIONAL;
    } else {
        st->flags |= PW_H2_SF_HDRS_IN;
        st->content_length = c->content_length;
        /* No body is expected after HEAD or for 204 / 304, whatever content-length says. */
        if (c->status == 204 || c->status == 304) st->flags |= PW_H2_SF_HEAD_REQ;
    }
    /* §8.1.1: at END_STREAM the DATA total must equal content-length. */
    if (es && st->content_length >= 0 && !(st->flags & PW_H2_SF_HEAD_REQ) &&
        (uint64_t)st->content_length != st->data_recvd)
        return pw_h2i_stream_error(s, st->id, PW_H2_PROTOCOL_ERROR);
    int rc = deliver(s, st, hflags);
    if (rc < 0) return rc;
    if (es && st->state != PW_H2_SS_CLOSED) pw_h2i_stream_on_recv_es(s, st);
    return 0;
}

/* Where a complete block goes (§5.1): sets *kind, or returns a connection error, or a stream
 * error code through *rst (the block is decoded and dropped, then the stream reset). */
static int classify(pw_h2_session *s, uint32_t sid, hb_kind *kind, uint32_t *rst)
{
    pw_h2_stream *st = pw_h2i_stream_find(s, sid);
    *rst = 0;
    if (st && st->state != PW_H2_SS_CLOSED) {
        if (st->state == PW_H2_SS_IDLE)
            return pw_h2i_fail(s, PW_H2_PROTOCOL_ERROR, "HEADERS on idle stream");
        if (st->state == PW_H2_SS_HALF_CLOSED_REMOTE) { /* §5.1: half-closed (remote) */
            *kind = HB_DISCARD;
            *rst = PW_H2_STREAM_CLOSED;
            return 0;
        }
        bool response = s->role == PW_H2_ROLE_CLIENT && !(st->flags & PW_H2_SF_HDRS_IN);
        *kind = response ? HB_RESPONSE : HB_TRAILERS;
        return 0;
    }
    if (!st && s->role == PW_H2_ROLE_SERVER && pw_h2i_is_peer_id(s, sid) && sid > s->last_peer_id) {
        *kind = HB_REQUEST; /* §5.1.1: a new stream, implicitly closing lower idle ones */
        return 0;
    }
    if (!st && pw_h2i_stream_is_idle(s, sid)) /* §5.1 idle; §8.4 no push without promise */
        return pw_h2i_fail(s, PW_H2_PROTOCOL_ERROR, "HEADERS on idle stream");
    switch (pw_h2i_closed_lookup(s, sid)) {
    case PW_H2_CLOSED_BY_US: /* §5.4.2: in flight after our RST_STREAM: ignore */
        *kind = HB_DISCARD;
        return 0;
    case PW_H2_CLOSED_BY_PEER: /* §5.1 closed: after its END_STREAM / RST_STREAM */
        return pw_h2i_fail(s, PW_H2_STREAM_CLOSED, "HEADERS on closed stream");
    default:
        if (pw_h2i_is_peer_id(s, sid)) /* §5.1.1: ids must increase */
            return pw_h2i_fail(s, PW_H2_PROTOCOL_ERROR, "HEADERS stream id not increasing");
        *kind = HB_DISCARD; /* one of ours, long closed: drop */
        return 0;
    }
}

/* The decoded-block cache. A block decodes to a function of its bytes and of the decoder's
 * table (and of whether the next block must start with a size update): with the same bytes
 * under the same dec.gen, HPACK yields the same list, and validation, which reads only the
 * list and the block's kind, the same verdict. Only a block that changed nothing in the decoder
 * (dec.gen equal before and after: no insertion, no size update) is kept, so skipping its
 * decoding leaves the table where decoding it would have (RFC 7541 §2.3.2, §4.3). */
/* The cache slot of a block of this kind: trailers apart from the headers before them. */
static size_t dcache_slot(hb_kind kind) { return kind == HB_TRAILERS ? 1u : 0u; }

static bool dcache_hit(pw_h2_session *s, hb_ctx *c, const uint8_t *block, size_t len)
{
    const pw_h2_dcache *d = s->dcache[dcache_slot(c->kind)];
    if (!d) return false;
    const size_t n = d->n_fields;
    if (len == 0 || len != d->block_len || d->dec_gen != s->dec.gen || d->kind != c->kind ||
        s->dec.failed || memcmp(block, d->block, len) != 0)
        return false;
    /* The scratch was emptied by the caller and keeps its capacity: no allocation here once
     * the connection has decoded its first block. */
    if (buf_append(&s->hbytes, d->bytes, d->bytes_len) < 0 ||
        buf_append(&s->hfields, d->fields, n * sizeof(pw_h2_header)) < 0) {
        buf_consume(&s->hbytes, buf_size(&s->hbytes));
        buf_consume(&s->hfields, buf_size(&s->hfields));
        return false; /* decode it instead, which meets the same limits */
    }
    c->pseudo_seen = d->pseudo_seen;
    c->is_connect = d->is_connect;
    c->status = d->status;
    c->content_length = d->content_length;
    s->hblock_id = d->id;
    s->dcache_hits++;
    return true;
}

/* Keeps a block decoded whole and valid that left the decoder unchanged (gen0 == dec.gen), when
 * it fits the cache's bounds, in its kind's slot; any other block empties that slot (a block that
 * changed the table also made the other slot stale: its dec_gen no longer matches). Returns
 * whether it was kept (then s->hblock_id is the new list's id). */
static bool dcache_fill(pw_h2_session *s, const hb_ctx *c, uint64_t gen0, const uint8_t *block,
                        size_t len)
{
    const size_t nbytes = buf_size(&s->hbytes);
    const size_t n = buf_size(&s->hfields) / sizeof(pw_h2_header);
    pw_h2_dcache **slot = &s->dcache[dcache_slot(c->kind)];
    if (*slot) (*slot)->block_len = 0;
    if (s->dec.gen != gen0 || c->kind == HB_DISCARD || c->malformed || c->overflow ||
        check_complete(c) != NULL || len == 0 || len > PW_H2_DCACHE_BLOCK_MAX_BYTES ||
        nbytes > PW_H2_DCACHE_LIST_MAX_BYTES || n > PW_H2_DCACHE_FIELDS_MAX)
        return false;
    if (!*slot && !(*slot = rt_malloc(sizeof **slot))) return false; /* decode each time */
    pw_h2_dcache *d = *slot;
    memcpy(d->block, block, len);
    if (nbytes) memcpy(d->bytes, buf_begin(&s->hbytes), nbytes);
    if (n) memcpy(d->fields, buf_begin(&s->hfields), n * sizeof(pw_h2_header));
    d->dec_gen = gen0;
    d->bytes_len = (uint32_t)nbytes;
    d->n_fields = (uint32_t)n;
    d->kind = (uint8_t)c->kind;
    d->pseudo_seen = (uint8_t)c->pseudo_seen;
    d->is_connect = c->is_connect;
    d->status = c->status;
    d->content_length = c->content_length;
    d->block_len = (uint32_t)len;
    d->id = s->hblock_id = ++s->dcache_epoch; /* just kept */
    return true;
}

/* Decodes a complete block into the scratch (hbytes / hfields) through emit, or takes it from
 * the decoded-block cache. Returns pw_hpack_decode_block's result (0 on a hit). */
static int decode(pw_h2_session *s, hb_ctx *c, const uint8_t *block, size_t len, const char **desc)
{
    if (c->kind != HB_DISCARD && dcache_hit(s, c, block, len)) return 0;
    const uint64_t gen0 = s->dec.gen;
    const int rc = pw_hpack_decode_block(&s->dec, block, len, s->cfg.max_header_list_size, emit, c,
                                         desc);
    if (rc == 0) dcache_fill(s, c, gen0, block, len);
    else if (s->dcache[dcache_slot(c->kind)]) s->dcache[dcache_slot(c->kind)]->block_len = 0;
    return rc;
}

static int block_done(pw_h2_session *s, uint32_t sid, uint8_t flags, uint32_t frame_err,
                      const uint8_t *block, size_t len)
{
    bool es = (flags & PW_H2_FLAG_END_STREAM) != 0;
    hb_ctx c = {.s = s, .content_length = -1};
    uint32_t rst;
    int rc = classify(s, sid, &c.kind, &rst);
    if (rc < 0) return rc;
    if (c.kind == HB_REQUEST) s->last_peer_id = sid;
    buf_consume(&s->hbytes, buf_size(&s->hbytes));
    buf_consume(&s->hfields, buf_size(&s->hfields));
    const char *desc = NULL;
    rc = decode(s, &c, block, len, &desc);
    if (rc == PW_HPACK_ERR_COMPRESSION) /* §4.3 */
        return pw_h2i_fail(s, PW_H2_COMPRESSION_ERROR, desc ? desc : "HPACK decoding failed");
    if (rc < 0 && rc != PW_HPACK_ERR_LIST_TOO_LARGE)
        return pw_h2i_fail(s, PW_H2_INTERNAL_ERROR, "HPACK decoder out of memory");
    if (c.kind == HB_DISCARD) rc = rst ? pw_h2i_stream_error(s, sid, rst) : 0;
    else if (frame_err) rc = pw_h2i_stream_error(s, sid, frame_err); /* §5.3.1 self-dependency */
    else if (rc == PW_HPACK_ERR_LIST_TOO_LARGE || c.overflow)
        /* §6.5.2 / §10.5.1: beyond our header list cap: refuse this stream only. */
        rc = pw_h2i_stream_error(s, sid, PW_H2_ENHANCE_YOUR_CALM);
    else if ((c.malformed = check_complete(&c)) != NULL)
        rc = pw_h2i_stream_error(s, sid, PW_H2_PROTOCOL_ERROR); /* §8.1.1 malformed */
    else if (c.kind == HB_REQUEST) rc = open_request(s, sid, es, &c);
    else rc = on_stream_block(s, pw_h2i_stream_find(s, sid), es, &c);
    s->hblock_id = 0;
    buf_consume(&s->hbytes, buf_size(&s->hbytes));
    buf_consume(&s->hfields, buf_size(&s->hfields));
    /* While the connection is busy the next block comes soon: keep the scratch (freeing it cost
     * two mallocs and frees per request). An idle connection holds none (pw_h2i_idle_trim). */
    pw_h2i_idle_trim(s);
    return rc;
}

void pw_h2i_hblock_release(pw_h2_session *s)
{
    buf_shrink(&s->hbytes, 0); /* only when empty: never under a block being delivered */
    buf_shrink(&s->hfields, 0);
    for (size_t k = 0; k < PW_H2_DCACHE_SLOTS; k++) { /* kept only while the connection is busy */
        rt_free(s->dcache[k]);
        s->dcache[k] = NULL;
    }
}

static int take_empty(pw_h2_session *s)
{
    /* CVE-2019-9518: frames that carry nothing still cost us a dispatch each. */
    if (!pw_h2i_bucket_take(&s->empty_budget, s->now_ns))
        return pw_h2i_fail(s, PW_H2_ENHANCE_YOUR_CALM, "empty frame flood");
    return 0;
}

int pw_h2i_on_headers(pw_h2_session *s, const pw_h2_frame *f)
{
    const uint8_t *block = f->u.headers.block;
    size_t len = f->u.headers.block_len;
    if (f->hd.flags & PW_H2_FLAG_END_HEADERS)
        return block_done(s, f->hd.stream_id, f->hd.flags, f->stream_error, block, len);
    if (len == 0 && take_empty(s) < 0) return pw_h2i_neg(s->error_code);
    /* CVE-2024-27316: the block is bounded by PW_H2_HEADER_BLOCK_IN_FACTOR x the list cap. */
    if (buf_append(&s->hblock, block, len) < 0)
        return pw_h2i_fail(s, PW_H2_ENHANCE_YOUR_CALM, "header block too large");
    s->cont_stream = f->hd.stream_id;
    s->cont_flags = f->hd.flags;
    s->cont_stream_error = (uint8_t)f->stream_error;
    s->cont_frames = 0;
    return 0;
}

int pw_h2i_on_continuation(pw_h2_session *s, const pw_h2_frame *f)
{
    /* §6.10: a CONTINUATION not preceded by HEADERS / CONTINUATION without END_HEADERS. */
    if (!s->cont_stream) return pw_h2i_fail(s, PW_H2_PROTOCOL_ERROR, "unexpected CONTINUATION");
    if (++s->cont_frames > PW_H2_CONTINUATION_FRAMES_MAX)
        return pw_h2i_fail(s, PW_H2_ENHANCE_YOUR_CALM, "too many CONTINUATION frames");
    size_t len = f->u.continuation.block_len;
    bool end = (f->hd.flags & PW_H2_FLAG_END_HEADERS) != 0;
    if (len == 0 && !end && take_empty(s) < 0) return pw_h2i_neg(s->error_code);
    if (buf_append(&s->hblock, f->u.continuation.block, len) < 0)
        return pw_h2i_fail(s, PW_H2_ENHANCE_YOUR_CALM, "header block too large");
    if (!end) return 0;
    uint32_t sid = s->cont_stream;
    s->cont_stream = 0;
    int rc = block_done(s, sid, s->cont_flags, s->cont_stream_error, bytes_of(&s->hblock),
                        buf_size(&s->hblock));
    buf_consume(&s->hblock, buf_size(&s->hblock));
    buf_shrink(&s->hblock, 0);
    return rc;
}

uint64_t pw_h2_session_hblock_id(const pw_h2_session *s) { return s->hblock_id; }

/* pw_h2.h: the glue bounds how long a block may stay open. */
bool pw_h2_session_in_header_block(const pw_h2_session *s) { return s->cont_stream != 0; }
