/* proto_wire/pw_h2_ref: DATA by reference.
 *
 * A stream's DATA is `pending` (copied bytes) followed by a queue of referenced pieces
 * (pw_h2_sref, one blob reference each). The pump frames a piece as a 9-byte DATA header in the
 * session's `out` and, with cfg.output_refs, the payload as an pw_h2_out_ref placed after those
 * bytes; the glue takes the whole chain (pw_h2_session_output_take: buffers swapped, references
 * handed on) and gives it to the kernel as iovecs. Nothing here does I/O. */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "proto_wire/pw_h2_int.h"

/* First size of the output's reference array; doubles as needed. Bounded by the output
 * watermark: the pump stops at PW_H2_OUT_DATA_WATERMARK_BYTES of output, references included,
 * and each reference is one framed piece. */
#define PW_H2_OREFS_FIRST 16u

/* A node for a piece of st's refs: the stream's own when free, else allocated. NULL: no
 * memory. */
static pw_h2_sref *sref_alloc(pw_h2_stream *st)
{
    if (!st->sref_inline_used) {
        st->sref_inline_used = true;
        return &st->sref_inline;
    }
    return rt_malloc(sizeof(pw_h2_sref));
}

static void sref_free(pw_h2_stream *st, pw_h2_sref *r)
{
    if (r == &st->sref_inline) st->sref_inline_used = false;
    else rt_free(r);
}

void pw_h2i_sref_drop_all(pw_h2_stream *st)
{
    pw_h2_sref *r = st->refs;
    while (r) {
        pw_h2_sref *next = r->next;
        rt_blob_unref(r->blob);
        sref_free(st, r);
        r = next;
    }
    st->refs = st->refs_tail = NULL;
    st->refs_bytes = 0;
}

static int sref_push(pw_h2_stream *st, rt_blob *blob, const uint8_t *p, size_t n)
{
    pw_h2_sref *r = sref_alloc(st);
    if (!r) return -ENOMEM;
    *r = (pw_h2_sref){.blob = blob, .p = p, .n = n};
    if (st->refs_tail) st->refs_tail->next = r;
    else st->refs = r;
    st->refs_tail = r;
    st->refs_bytes += n;
    return 0;
}

int pw_h2i_sref_push_copy(pw_h2_stream *st, const uint8_t *p, size_t n)
{
    rt_blob *b = rt_blob_copy(p, n);
    if (!b) return -ENOMEM;
    int r = sref_push(st, b, b->data, n);
    if (r < 0) rt_blob_unref(b);
    return r;
}

void pw_h2i_sref_pop_tail(pw_h2_stream *st)
{
    pw_h2_sref **pp = &st->refs, *prev = NULL;
    while (*pp && (*pp)->next) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    pw_h2_sref *r = *pp;
    if (!r) return;
    *pp = NULL;
    st->refs_tail = prev;
    st->refs_bytes -= r->n;
    rt_blob_unref(r->blob);
    sref_free(st, r);
}

int pw_h2i_sref_submit(pw_h2_stream *st, rt_blob *blob, const uint8_t *p, size_t n)
{
    assert(p >= blob->data && n <= blob->len - (size_t)(p - blob->data));
    rt_blob_ref(blob);
    int r = sref_push(st, blob, p, n);
    if (r < 0) rt_blob_unref(blob);
    return r;
}

static int oref_push(pw_h2_outv *v, size_t at, rt_blob *blob, const uint8_t *p, size_t n)
{
    if (v->nrefs == v->cap) {
        uint32_t cap = v->cap ? v->cap * 2 : PW_H2_OREFS_FIRST;
        pw_h2_out_ref *a = rt_realloc(v->refs, cap * sizeof *a);
        if (!a) return -ENOMEM;
        v->refs = a;
        v->cap = cap;
    }
    v->refs[v->nrefs++] = (pw_h2_out_ref){.at = at, .blob = rt_blob_ref(blob), .p = p, .n = n};
    v->ref_bytes += n;
    return 0;
}

int pw_h2i_sref_frame(pw_h2_session *s, pw_h2_stream *st, size_t npre, size_t n, uint8_t flags)
{
    pw_h2_sref *r = st->refs;
    assert(npre <= buf_size(&st->pending) && (n == 0 || (r && n <= r->n)));
    size_t mark = buf_size(&s->out), len = npre + n;
    /* The header (a DATA frame without padding is header + payload) with the whole length,
     * the copied bytes behind it, then the referenced payload's place in the chain. */
    int rc = pw_h2_write_data(&s->out, st->id, flags, NULL, 0, -1);
    if (rc == 0) {
        uint8_t *hd = (uint8_t *)buf_begin(&s->out) + mark;
        hd[0] = (uint8_t)(len >> 16); /* RFC 9113 §4.1: the 24-bit length */
        hd[1] = (uint8_t)(len >> 8);
        hd[2] = (uint8_t)len;
        rc = buf_append(&s->out, buf_begin(&st->pending), npre);
    }
    if (rc == 0 && n > 0) {
        rc = s->cfg.output_refs ? oref_push(&s->orefs, buf_size(&s->out), r->blob, r->p, n)
                                : buf_append(&s->out, r->p, n);
    }
    if (rc < 0) {
        buf_truncate(&s->out, mark);
        return pw_h2i_fail(s, PW_H2_INTERNAL_ERROR, "out of memory");
    }
    buf_consume(&st->pending, npre);
    pw_h2i_pending_shrink(st);
    if (n == 0) return 0;
    if (s->cfg.output_refs) {
        s->data_ref_bytes += n;
    } else {
        s->data_copied_bytes += n;
        r->blob->copied_bytes += n;
    }
    r->p += n;
    r->n -= n;
    st->refs_bytes -= n;
    if (r->n == 0) {
        st->refs = r->next;
        if (!st->refs) st->refs_tail = NULL;
        rt_blob_unref(r->blob);
        sref_free(st, r);
    }
    return 0;
}

/* ---- the chain ---- */

int pw_h2_outv_iov(const pw_h2_outv *v, struct iovec *iov, int max)
{
    const uint8_t *bytes = buf_begin(&v->bytes);
    size_t nbytes = buf_size(&v->bytes), skip = v->sent, pos = 0; /* pos: bytes emitted */
    int k = 0;
    for (uint32_t i = 0; i <= v->nrefs && k < max; i++) {
        size_t end = i < v->nrefs ? v->refs[i].at : nbytes;
        /* bytes[pos..end) then the reference */
        size_t span = end - pos;
        if (skip >= span) {
            skip -= span;
        } else {
            iov[k++] = (struct iovec){(void *)(bytes + pos + skip), span - skip};
            skip = 0;
        }
        pos = end;
        if (i == v->nrefs || k == max) break;
        const pw_h2_out_ref *r = &v->refs[i];
        if (skip >= r->n) {
            skip -= r->n;
        } else {
            iov[k++] = (struct iovec){(void *)(r->p + skip), r->n - skip};
            skip = 0;
        }
    }
    return k;
}

void pw_h2_outv_reset(pw_h2_outv *v)
{
    for (uint32_t i = 0; i < v->nrefs; i++) rt_blob_unref(v->refs[i].blob);
    v->nrefs = 0;
    v->ref_bytes = 0;
    v->sent = 0;
    buf_consume(&v->bytes, buf_size(&v->bytes));
}

void pw_h2_outv_deinit(pw_h2_outv *v)
{
    pw_h2_outv_reset(v);
    rt_free(v->refs);
    v->refs = NULL;
    v->cap = 0;
    buf_deinit(&v->bytes);
}

void pw_h2_outv_consume(pw_h2_outv *v, size_t n)
{
    assert(n <= pw_h2_outv_size(v));
    v->sent += n;
    if (pw_h2_outv_size(v) == 0) pw_h2_outv_reset(v);
}

size_t pw_h2_session_output_take(pw_h2_session *s, pw_h2_outv *dst)
{
    assert(pw_h2_outv_size(dst) == 0);
    pw_h2i_pump(s);
    size_t n = pw_h2i_out_size(s);
    if (n == 0) return 0;
    pw_h2_outv_reset(dst);
    /* Swaps, no copy: the session's bytes and references become dst's; dst's empty storage
     * (kept for reuse) becomes the session's. */
    buf t = dst->bytes;
    dst->bytes = s->out;
    s->out = t;
    s->out.cap = PW_H2_OUT_CAP_BYTES;
    pw_h2_outv r = s->orefs;
    s->orefs = (pw_h2_outv){.refs = dst->refs, .cap = dst->cap};
    dst->refs = r.refs;
    dst->nrefs = r.nrefs;
    dst->cap = r.cap;
    dst->ref_bytes = r.ref_bytes;
    dst->sent = 0;
    /* As if consumed: the control-frame budget counts what has left the session. */
    s->out_consumed_total += n;
    if (s->out_consumed_total >= s->ctrl_last_end) s->ctrl_queued = 0;
    pw_h2i_pump(s);
    pw_h2i_run_events(s);
    return n;
}
