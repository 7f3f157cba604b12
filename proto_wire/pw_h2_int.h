/* proto_wire/pw_h2_int: private to the pw_h2_*.c files. The session and stream structs and the
 * functions the parts of the engine call on each other (prefix pw_h2i_).
 *
 *   pw_h2_session.c  creation, input framing (preface, frame reassembly), dispatch of
 *                    connection-level frames (SETTINGS, PING, GOAWAY), connection errors,
 *                    deferred events.
 *   pw_h2_stream.c   stream table, the state machine setter, closing, recently-closed ring.
 *   pw_h2_hblock.c   HEADERS / CONTINUATION reassembly, HPACK decoding, §8.2/§8.3 validation,
 *                    whether a block is open (pw_h2_session_in_header_block).
 *   pw_h2_flow.c     DATA and WINDOW_UPDATE receipt, RST_STREAM, PRIORITY, consume.
 *   pw_h2_send.c     submit_*, the output pump (HEADERS/DATA generation), control output.
 *   pw_h2_ref.c      DATA by reference: a stream's queue of blob pieces, the output's
 *                    references (framed DATA payloads not copied), taking the output. */
#ifndef PW_H2_INT_H
#define PW_H2_INT_H

#include "core/rt_cache.h"
#include "proto_wire/pw_h2.h"

/* RFC 9113 §5.1 stream states (no "reserved": we never push and refuse pushes). */
typedef enum pw_h2_stream_state {
    PW_H2_SS_IDLE = 0, /* client role: created by submit_request, HEADERS not yet sent */
    PW_H2_SS_OPEN,
    PW_H2_SS_HALF_CLOSED_LOCAL,  /* we sent END_STREAM */
    PW_H2_SS_HALF_CLOSED_REMOTE, /* the peer sent END_STREAM */
    PW_H2_SS_CLOSED,             /* waiting for on_stream_close, then freed */
} pw_h2_stream_state;

/* How a stream closed: decides what late frames on it mean (RFC §5.1 "closed"). */
typedef enum pw_h2_closed_how {
    PW_H2_CLOSED_UNKNOWN = 0, /* not remembered (evicted from the ring, or never opened) */
    PW_H2_CLOSED_BY_US,       /* we sent RST_STREAM: ignore what the peer had in flight */
    PW_H2_CLOSED_BY_PEER,     /* the peer sent RST_STREAM or END_STREAM: more is STREAM_CLOSED */
} pw_h2_closed_how;

/* A copied header list (one allocation: the struct, the array, then the bytes). Shared by
 * the streams that submitted an equal list and the session's block cache: freed with its last
 * reference (pw_h2i_hlist_free). */
typedef struct pw_h2_hlist {
    uint32_t refs;
    size_t alloc_bytes; /* of the one allocation */
    size_t n;
    size_t encoded_max; /* upper bound of its HPACK encoding, bytes */
    pw_h2_header h[];
} pw_h2_hlist;

/* Stream flags. */
#define PW_H2_SF_HDRS_IN 0x0001u     /* the peer's initial (final, for a response) headers came */
#define PW_H2_SF_HDRS_SUBMIT 0x0002u /* the application submitted its initial headers */
#define PW_H2_SF_HDRS_OUT 0x0004u    /* ... and they were framed */
#define PW_H2_SF_ES_SUBMIT 0x0008u   /* the application ended its side */
#define PW_H2_SF_TRL_SUBMIT 0x0010u  /* trailers submitted */
#define PW_H2_SF_IN_SENDQ 0x0020u
#define PW_H2_SF_WANT_WRITABLE 0x0040u /* a submit_data was short: fire on_stream_writable */
#define PW_H2_SF_EV_WRITABLE 0x0080u   /* an on_stream_writable event is queued */
#define PW_H2_SF_EV_QUEUED 0x0100u     /* on the events list */
#define PW_H2_SF_HEAD_REQ 0x0200u      /* client: HEAD request (no content-length check) */
#define PW_H2_SF_LOCAL 0x0400u         /* initiated by us */

/* A piece of a stream's submitted DATA held by reference (pw_h2_submit_data_ref), in order
 * behind `pending`. Owns one reference on `blob`. */
typedef struct pw_h2_sref pw_h2_sref;
struct pw_h2_sref {
    rt_blob *blob;
    const uint8_t *p; /* the next byte to frame, inside blob */
    size_t n;         /* bytes left to frame */
    pw_h2_sref *next;
};

typedef struct pw_h2_stream pw_h2_stream;
struct pw_h2_stream {
    uint32_t id;
    uint8_t state;      /* pw_h2_stream_state, only through pw_h2i_stream_set_state */
    uint8_t closed_how; /* pw_h2_closed_how once CLOSED */
    uint16_t flags;     /* PW_H2_SF_* */
    uint32_t close_code;
    int64_t send_window;          /* RFC §6.9.2: may go negative after a SETTINGS change */
    int64_t recv_window;          /* what the peer may still send on this stream */
    uint32_t recv_unacked;        /* consumed by the app, not yet returned by WINDOW_UPDATE */
    uint32_t recv_delivered;      /* delivered to on_data, not yet consumed */
    int64_t content_length;       /* -1: none announced */
    uint64_t data_recvd;          /* DATA payload bytes received (content-length check) */
    buf pending;                  /* submitted DATA not yet framed (cap: stream_pending_max) */
    pw_h2_sref *refs, *refs_tail; /* DATA submitted by reference, after `pending` */
    size_t refs_bytes;            /* bytes left in `refs` */
    pw_h2_hlist *out_headers;     /* submitted, not yet framed */
    pw_h2_hlist *out_trailers;
    void *user;
    pw_h2_stream *sq_prev, *sq_next; /* send queue */
    pw_h2_stream *ev_next;           /* events list */
    /* The node of one piece in `refs` lives here (a unary reply's one message, a Work batch):
     * a malloc + free per referenced piece were two heap round trips per task at batch 1.
     * More pieces queued at once allocate their nodes. */
    pw_h2_sref sref_inline;
    bool sref_inline_used;
};

/* Storage of a stream's `pending` kept once it is framed, while the stream may send more (no
 * END_STREAM submitted): a long-lived stream's next message reuses it (a Work stream's answers
 * allocated and freed 1 KiB, rt_buf's first size, per answer). At most this per open stream,
 * freed when it closes. */
#define PW_H2_PENDING_KEEP_BYTES 1024u

/* After framing from st->pending: gives its storage back unless the stream may send more. */
static inline void pw_h2i_pending_shrink(pw_h2_stream *st)
{
    buf_shrink(&st->pending, (st->flags & PW_H2_SF_ES_SUBMIT) ? 0 : PW_H2_PENDING_KEEP_BYTES);
}

/* A token bucket for flood budgets (time passed in by recv). */
typedef struct pw_h2_bucket {
    uint32_t tokens, burst, per_s;
    uint64_t last_ns;
} pw_h2_bucket;

typedef enum pw_h2_in_state {
    PW_H2_IN_PREFACE = 0,    /* server: matching the 24-byte client preface */
    PW_H2_IN_FIRST_SETTINGS, /* the first frame must be a SETTINGS (RFC §3.4) */
    PW_H2_IN_FRAMES,
    PW_H2_IN_FAILED,
} pw_h2_in_state;

/* The decoded-block cache (pw_h2_hblock.c): the last block decoded whole and valid that left
 * the decoder's table unchanged (dec.gen == dec_gen before and after), with its fields in
 * offset form (into bytes) and what validation found; block_len 0: empty. */
typedef struct pw_h2_dcache {
    uint64_t dec_gen;
    uint64_t id; /* the kept list's id (pw_h2_session_hblock_id) */
    uint32_t block_len, bytes_len, n_fields;
    uint8_t kind;        /* hb_kind the block was validated as */
    uint8_t pseudo_seen; /* PS_* of the request or response */
    bool is_connect;
    int32_t status;
    int64_t content_length;
    uint8_t block[PW_H2_DCACHE_BLOCK_MAX_BYTES];
    uint8_t bytes[PW_H2_DCACHE_LIST_MAX_BYTES];
    pw_h2_header fields[PW_H2_DCACHE_FIELDS_MAX];
} pw_h2_dcache;

struct pw_h2_session {
    pw_h2_role role;
    pw_h2_config cfg;
    pw_h2_callbacks cb;
    void *ud;

    /* Input. */
    uint8_t in_state;    /* pw_h2_in_state */
    uint8_t preface_got; /* bytes of the client preface matched so far */
    buf in;              /* partial frame; cap max_frame_size + 9 */

    /* Header block in progress (HEADERS without END_HEADERS, then CONTINUATIONs). */
    uint32_t cont_stream;      /* != 0: only a CONTINUATION on this stream may come next */
    uint8_t cont_flags;        /* the HEADERS frame's flags (END_STREAM) */
    uint8_t cont_stream_error; /* stream error carried by the HEADERS frame (self-dependency) */
    uint32_t cont_frames;
    buf hblock;  /* the block so far; cap PW_H2_HEADER_BLOCK_IN_FACTOR x list size */
    buf hbytes;  /* decoded names/values of the current block */
    buf hfields; /* pw_h2_header array of the current block */

    pw_hpack_dec dec;
    pw_hpack_enc enc;
    /* The block cache (pw_h2_send.c): per slot the last list submitted (a reference) and, when
     * enc_len > 0, its HPACK encoding, valid while enc.gen == enc_gen. */
    struct {
        pw_h2_hlist *list;
        /* The constant list (pw_h2_submit_*_const) `list` copies, known by address: NULL when
         * the slot's list came from a list that may change. */
        const pw_h2_header *src;
        size_t src_n;
        uint64_t enc_gen;
        uint32_t enc_len;
        uint8_t enc[PW_H2_HCACHE_BLOCK_MAX_BYTES];
    } hcache[PW_H2_HCACHE_SLOTS];
    uint64_t hcache_hits;       /* blocks sent from the cache (tests) */
    uint64_t hcache_const_hits; /* constant lists taken by address, not compared (tests) */
    /* The decoded-block cache (pw_h2_hblock.c), allocated at the first block it keeps and let go
     * with the block scratch when the connection is idle (pw_h2i_idle_trim) or fails. */
    pw_h2_dcache *dcache[PW_H2_DCACHE_SLOTS]; /* by the block's kind: headers, trailers */
    uint64_t dcache_epoch;                    /* ids given to kept lists so far */
    uint64_t hblock_id;                       /* the id of the list being delivered, or 0 */
    uint64_t dcache_hits;                     /* blocks delivered from the decoded-block cache */

    /* Streams: open addressing on the id, allocated lazily. */
    pw_h2_stream **tab;
    uint32_t tab_cap, tab_count;
    rt_cache stream_cache; /* closed streams' memory for the next ones (PW_H2_STREAM_CACHE_MAX);
                            * emptied when the last stream goes, like the table */
    uint64_t last_open_ns; /* now_ns when the last stream was opened (PW_H2_IDLE_KEEP_MS) */
    uint32_t n_peer_live;  /* peer-initiated streams open or half-closed (§5.1.2) */
    uint32_t n_local_live; /* our streams not yet closed (including idle ones) */
    uint32_t last_peer_id; /* highest peer stream id seen (opened or refused) */
    uint32_t last_processed_id; /* highest peer stream id given to the application */
    uint32_t next_local_id;     /* next id we would use */
    struct {
        uint32_t id;
        uint32_t how;
    } closed[PW_H2_CLOSED_STREAMS_KEPT];
    uint32_t closed_next;
    pw_h2_stream *sq_head, *sq_tail;
    uint32_t sq_len;
    /* pw_h2_submit_data queued DATA without framing it; the next pump (every output read)
     * frames it and clears this. Makes pw_h2_session_want_write true meanwhile. */
    bool data_deferred;
    pw_h2_stream *ev_head, *ev_tail;

    /* Flow control (RFC §6.9). */
    int64_t conn_send_window;
    int64_t conn_recv_window;
    uint32_t conn_recv_unacked;
    uint32_t local_initial_window; /* our INITIAL_WINDOW_SIZE in force (acked) */
    bool settings_ack_pending;

    /* Peer settings. */
    uint32_t peer_initial_window;
    uint32_t peer_max_frame;
    uint32_t peer_max_concurrent;
    bool peer_settings_seen; /* the peer's first SETTINGS arrived */
    uint32_t peer_max_header_list;

    /* Output. */
    buf out;
    pw_h2_outv orefs; /* DATA payloads framed by reference, `at` their places in `out` (its own
                       * `bytes` unused) */
    uint64_t out_consumed_total; /* bytes ever consumed from `out` */
    uint64_t ctrl_last_end;      /* absolute end offset of the newest queued control frame */
    uint32_t ctrl_queued;        /* control responses queued since the output last drained them */

    pw_h2_bucket reset_budget, empty_budget;
    uint64_t now_ns;

    bool goaway_sent, goaway_recvd;
    uint32_t goaway_sent_code;
    uint32_t error_code; /* connection error, once failed */
    const char *error_desc;
    int cb_depth; /* > 0 while a callback runs: deferred events wait */

    uint64_t frames_in, frames_out, peer_resets, local_resets;
    uint64_t data_ref_bytes;    /* DATA payload bytes framed by reference (not copied) */
    uint64_t data_copied_bytes; /* DATA payload bytes of referenced pieces copied into `out` */
};

/* An error code as a negative int return (PW_H2_ERR_*). Codes come from the RFC (<= 0xd) except
 * one the application passed to pw_h2_submit_goaway, which may be any 32-bit value: that one
 * is PW_H2_ERR_OTHER (pw_h2_session_error still tells the exact code). */
static inline int pw_h2i_neg(uint32_t code) { return pw_h2_err_from_code(code); }

/* ---- pw_h2_session.c ---- */
/* Connection error (RFC §5.4.1): queue GOAWAY(code), close all streams, stop input. Returns
 * pw_h2_err_from_code(code) for convenient `return pw_h2i_fail(...)`. Idempotent (the first
 * error wins). */
int pw_h2i_fail(pw_h2_session *s, uint32_t code, const char *desc);
/* The same with explicit GOAWAY debug data (truncated to PW_H2_GOAWAY_DEBUG_MAX_BYTES). */
int pw_h2i_fail_debug(pw_h2_session *s, uint32_t code, const char *desc, const uint8_t *debug,
                      size_t debug_len);
/* Runs deferred on_stream_close / on_stream_writable events unless inside a callback. */
void pw_h2i_run_events(pw_h2_session *s);
/* Takes one token; false when the budget is exhausted. */
bool pw_h2i_bucket_take(pw_h2_bucket *b, uint64_t now_ns);
bool pw_h2i_is_peer_id(const pw_h2_session *s, uint32_t id);

/* ---- pw_h2_ref.c ---- */
/* Bytes submitted and not yet framed: `pending` plus the referenced pieces. */
static inline size_t pw_h2i_stream_pending(const pw_h2_stream *st)
{
    return buf_size(&st->pending) + st->refs_bytes;
}
/* Drops a stream's referenced pieces (stream closed or freed). */
void pw_h2i_sref_drop_all(pw_h2_stream *st);
/* Appends a copy of p[0..n) as a piece behind the stream's references (a copy submitted after a
 * reference must go out after it). 0 or -ENOMEM. */
int pw_h2i_sref_push_copy(pw_h2_stream *st, const uint8_t *p, size_t n);
/* Drops the last piece (undoes a push when what was to follow it failed). */
void pw_h2i_sref_pop_tail(pw_h2_stream *st);
/* Appends p[0..n) of `blob` by reference (a reference taken). 0 or -ENOMEM. */
int pw_h2i_sref_submit(pw_h2_stream *st, rt_blob *blob, const uint8_t *p, size_t n);
/* One DATA frame of `npre` bytes of `pending` (copied) followed by `n` bytes of the first
 * referenced piece (by reference, or copied when the session does not reference output): the
 * header and the copied bytes into `out`, the rest as a reference. A small message prefix and
 * the message it precedes thus share one frame. Returns 0, or pw_h2i_fail's code when out of
 * memory. */
int pw_h2i_sref_frame(pw_h2_session *s, pw_h2_stream *st, size_t npre, size_t n, uint8_t flags);
/* Bytes the output holds: `out` plus the referenced payloads. */
static inline size_t pw_h2i_out_size(const pw_h2_session *s)
{
    return buf_size(&s->out) + s->orefs.ref_bytes;
}

/* ---- pw_h2_stream.c ---- */
pw_h2_stream *pw_h2i_stream_find(const pw_h2_session *s, uint32_t id);
/* Creates a stream in IDLE and inserts it. NULL on allocation failure. */
pw_h2_stream *pw_h2i_stream_new(pw_h2_session *s, uint32_t id, bool local);
/* The one state setter: asserts the legal previous state and keeps the live counters. */
void pw_h2i_stream_set_state(pw_h2_session *s, pw_h2_stream *st, pw_h2_stream_state to);
/* END_STREAM received / sent: the §5.1 transitions, closing (NO_ERROR) when both ended. */
void pw_h2i_stream_on_recv_es(pw_h2_session *s, pw_h2_stream *st);
void pw_h2i_stream_on_send_es(pw_h2_session *s, pw_h2_stream *st);
/* Closes a live stream: drops its output, queues on_stream_close(code). */
void pw_h2i_stream_close(pw_h2_session *s, pw_h2_stream *st, uint32_t code, pw_h2_closed_how how);
/* Frees a closed stream after its event and remembers it in the ring. */
void pw_h2i_stream_free(pw_h2_session *s, pw_h2_stream *st);
pw_h2_closed_how pw_h2i_closed_lookup(const pw_h2_session *s, uint32_t id);
void pw_h2i_closed_remember(pw_h2_session *s, uint32_t id, pw_h2_closed_how how);
/* True when the id was never used yet (RFC §5.1 "idle"). */
bool pw_h2i_stream_is_idle(const pw_h2_session *s, uint32_t id);
/* Stream error (RFC §5.4.2) caused by the peer: RST_STREAM(code), close if live, charge the
 * reset budget. Returns 0 or the negative connection error it escalated to. */
int pw_h2i_stream_error(pw_h2_session *s, uint32_t id, uint32_t code);
void pw_h2i_event_queue(pw_h2_session *s, pw_h2_stream *st);
void pw_h2i_stream_table_free(pw_h2_session *s);

/* ---- pw_h2_hblock.c ---- */
int pw_h2i_on_headers(pw_h2_session *s, const pw_h2_frame *f);
int pw_h2i_on_continuation(pw_h2_session *s, const pw_h2_frame *f);
void pw_h2i_hblock_reset(pw_h2_session *s);
/* Frees the decoded-block scratch (hbytes, hfields) when it is empty: called once no stream is
 * live, so an idle session holds no buffers while a busy one keeps them between blocks. */
void pw_h2i_hblock_release(pw_h2_session *s);

/* ---- pw_h2_flow.c ---- */
int pw_h2i_on_data(pw_h2_session *s, const pw_h2_frame *f);
int pw_h2i_on_window_update(pw_h2_session *s, const pw_h2_frame *f);
int pw_h2i_on_rst_stream(pw_h2_session *s, const pw_h2_frame *f);
int pw_h2i_on_priority(pw_h2_session *s, const pw_h2_frame *f);
/* Returns `n` bytes to the connection window (and the stream's if live), batching updates. */
int pw_h2i_credit(pw_h2_session *s, pw_h2_stream *st, size_t n);
/* Applies a SETTINGS_INITIAL_WINDOW_SIZE change of the peer to every stream (§6.9.2). */
int pw_h2i_peer_initial_window(pw_h2_session *s, uint32_t value);

/* ---- pw_h2_send.c ---- */
/* Appends a control frame: `kind` a frame type; counts peer-induced responses against
 * PW_H2_OUT_CTRL_QUEUED_MAX. Returns 0 or a negative connection error (output full). */
int pw_h2i_out_rst(pw_h2_session *s, uint32_t id, uint32_t code);
int pw_h2i_out_window_update(pw_h2_session *s, uint32_t id, uint32_t inc);
int pw_h2i_out_settings_ack(pw_h2_session *s);
int pw_h2i_out_ping_ack(pw_h2_session *s, const uint8_t opaque[PW_H2_PING_PAYLOAD_BYTES]);
/* Generates HEADERS/DATA from the send queue while windows and the watermark allow. */
void pw_h2i_pump(pw_h2_session *s);
void pw_h2i_sendq_add(pw_h2_session *s, pw_h2_stream *st);
void pw_h2i_sendq_remove(pw_h2_session *s, pw_h2_stream *st);
bool pw_h2i_stream_has_output(const pw_h2_stream *st);
/* Drops one reference to `l` (NULL: nothing); frees it with the last. */
void pw_h2i_hlist_free(pw_h2_hlist *l);
/* Drops the block cache's references (session teardown). */
void pw_h2i_hcache_clear(pw_h2_session *s);
/* With no stream in the table and none opened for PW_H2_IDLE_KEEP_MS: frees the table, the
 * cached streams and the block cache (an idle connection keeps no memory). */
void pw_h2i_idle_trim(pw_h2_session *s);

#endif
