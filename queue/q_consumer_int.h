/* queue/q_consumer_int: the consumer structures, their records and the helpers the
 * q_consumer*.c files share. Not part of the API (q_consumer.h is).
 *
 * State of one consumer (invariants kept by every call):
 *   pending seqs  <  position  <=  every skip range
 * pending: deliveries not settled (q_consumer_pend.h). position: the next stream sequence to
 * look at. skip: acked ranges at or above the position — only after a restart (replay
 * rebuilds "ack floor + acked ranges above it" from CSTATE and CACK records; the position
 * starts at floor + 1 and passes the ranges as it meets them). Below the position, a sequence
 * that is not pending is settled (acked, terminated) or not the consumer's (filter, removed):
 * the ack floor is the first pending seq - 1, or position - 1 when nothing is pending. */
#ifndef Q_CONSUMER_INT_H
#define Q_CONSUMER_INT_H

#include "queue/q_consumer.h"
#include "queue/q_consumer_pend.h"
#include "queue/q_part_int.h"

/* Record types: Q_RT_CONSUMER, Q_RT_CACK, Q_RT_CSTATE, Q_RT_CDELETE (q_part_rec.h draws the
 * layouts; q_consumer_rec.c encodes them). */
_Static_assert(Q_RT_CONSUMER >= Q_RT_CONSUMER_FIRST && Q_RT_CDELETE <= Q_RT_CONSUMER_LAST,
               "the consumer layer's range");

#define Q_CREC_CONSUMER_FIXED 96u
#define Q_CREC_CACK_FIXED 16u
#define Q_CREC_CSTATE_FIXED 32u
#define Q_CREC_CDELETE_FIXED 8u
/* The largest CONSUMER record: fixed, name, 16 filters with their u16 lengths, 32 backoff
 * entries, the description. Encoded on the stack. */
#define Q_CREC_CONSUMER_BYTES_MAX                                                \
    (Q_CREC_CONSUMER_FIXED + Q_CONSUMER_NAME_BYTES_MAX +                         \
     Q_FILTER_SET_MAX * (2 + Q_SUBJECT_BYTES_MAX) + Q_CONSUMER_BACKOFF_MAX * 8 + \
     Q_CONSUMER_DESC_BYTES_MAX)

/* CONSUMER flags (byte 6). */
#define Q_CFLAG_UPDATE 0x1u       /* not a creation: the consumer's state stays */
#define Q_CFLAG_HEADERS_ONLY 0x2u /* ConsumerConfig.headers_only */

/* CACK kinds (byte 6). */
enum {
    Q_CACK_ACK = 1,  /* the sequences were acked */
    Q_CACK_TERM = 2, /* the sequences were terminated (TERM, or max_deliver) */
    Q_CACK_ALL = 3,  /* every sequence up to the one given is settled (ack policy all, none) */
};

typedef struct q_crange {
    uint64_t lo, hi; /* inclusive */
} q_crange;

/* A decoded consumer record: views into the record payload. */
typedef struct q_crec {
    uint16_t type;
    uint32_t stream_id;
    const char *name;
    uint32_t name_len;
    /* CONSUMER */
    uint8_t flags;
    q_consumer_cfg cfg; /* filters, name, description: views into the record */
    uint64_t created_ms, start_seq, interest_from, lps_end, paused_until;
    /* CACK */
    uint8_t kind;
    const uint8_t *seqs; /* count x u64, unaligned */
    uint32_t count;
    const char *reason;
    uint32_t reason_len;
    /* CSTATE */
    uint64_t floor, terminated;
    const uint8_t *ranges; /* count x {u64 lo, u64 hi} */
} q_crec;

/* 0, -EBADMSG (lengths do not add up, a count out of range), -EPROTO (not a consumer type). */
int q_crec_decode(uint16_t type, const uint8_t *p, uint32_t len, q_crec *out);

/* The consumers of one stream (q_stream_consumers). */
typedef struct q_cset {
    q_part *p;
    q_stream *s;
    q_consumer **by_name; /* sorted by name (memcmp, then length) */
    uint32_t n, cap;
    uint64_t seen_last; /* on_publish looked at every seq up to this */
    uint64_t eph_counter;
} q_cset;

struct q_consumer {
    q_cset *set;
    char name[Q_CONSUMER_NAME_BYTES_MAX + 1];
    char *strs;         /* copies of the filters and the description (cfg's views point here) */
    q_consumer_cfg cfg; /* resolved */
    q_filter_set fs;    /* over cfg.filters; used when cfg.nfilters > 0 */
    uint64_t created_ms, start_seq, interest_from, lps_end, paused_until;
    uint64_t position;
    q_crange *skip; /* acked ranges at or above position, sorted, disjoint */
    uint32_t nskip, skip_cap;
    q_cpend pend;
    uint64_t consumer_seq, delivered_stream_seq;
    uint64_t num_terminated;
    uint64_t cfg_rec, base_rec; /* pinned: latest CONSUMER; state base (CSTATE or creation) */
    uint32_t clients;
    uint64_t idle_since; /* ephemeral: last unbind or touch */
    bool expiry_held;    /* ephemeral: never expires here (q_consumer_hold_expiry) */
    int64_t bucket;      /* rate limit: milli-bytes that may go now (negative: debt); at most a
                     * second's worth (rate * 1000) */
    uint64_t bucket_ms;
    uint64_t lag; /* num_pending when lag_ok */
    bool lag_ok;
    bool deleted;
};

/* ---- q_consumer_rec.c ---- */
/* Pins. A durable consumer pins its latest CONSUMER record (cfg_rec) and its state base
 * (base_rec: the latest CSTATE, or the creation record), always with cfg_rec <= base_rec: the
 * records replay needs (a CONSUMER first, then the base, then the CACKs after it) all sit at or
 * after cfg_rec, and retention deletes prefixes only. */
/* Appends the creation CONSUMER record; both pins go to it. Offset or a negative errno. */
int64_t q_crec_put_consumer(q_consumer *c);
/* A configuration change (pause) or a move by compaction: a CONSUMER record (flag
 * Q_CFLAG_UPDATE) and a CSTATE after it (keeping cfg_rec <= base_rec). Returns the CSTATE's
 * offset or a negative errno: the CONSUMER record's (nothing written), or the CSTATE's
 * (-EMSGSIZE: the ranges do not fit a record; the CONSUMER record was written and the older
 * one stays pinned before it, so it survives). */
int64_t q_crec_put_config(q_consumer *c);
/* Appends a CACK record of `kind` with n seqs (and a reason). Offset or negative errno. */
int64_t q_crec_put_cack(q_consumer *c, uint8_t kind, const uint64_t *seqs, uint32_t n,
                        const char *reason, uint32_t reason_len);
/* Appends a CSTATE snapshot of the consumer now and moves its state-base pin there. Offset,
 * or a negative errno (-EMSGSIZE when the ranges do not fit a record: nothing written). */
int64_t q_crec_put_cstate(q_consumer *c);
int64_t q_crec_put_cdelete(q_consumer *c);

/* ---- q_consumer_cfg.c ---- */
/* Whether two resolved configurations are the same (names aside). */
bool q_consumer_cfg_same(const q_consumer_cfg *a, const q_consumer_cfg *b);

/* ---- q_consumer.c ---- */
/* num_pending: counted by the stream without a filter, else cached (q_consumer.h). */
uint64_t q_consumer_lag(q_consumer *c);
q_cset *q_cset_of(q_part *p, q_stream *s, bool create);
/* Interest retention after a restart: removes every kept message of an interest stream that
 * no consumer holds (the ephemeral consumers that held them are gone; a crash between a
 * message and its removal record). Returns how many went. */
uint64_t q_consumers_sweep_interest(q_part *p, q_stream *s, uint64_t now_ms);
/* A consumer object from a resolved, checked configuration (strings copied), not in a set.
 * NULL on -ENOMEM. */
q_consumer *q_consumer_alloc(const q_consumer_cfg *cfg);
void q_consumer_free(q_consumer *c);
/* Inserts into its set by name. Q_OK or Q_RESOURCE_EXHAUSTED. */
q_status q_cset_insert(q_cset *set, q_consumer *c, q_err *err);
/* Takes the consumer out of its set, unpins its records (unless the partition closes), and
 * frees it. */
void q_cset_remove(q_cset *set, q_consumer *c, bool unpin);
/* The ack floor now (see the top). */
uint64_t q_consumer_floor(const q_consumer *c);
/* Sets the position, passing (and dropping) skip ranges it reaches. */
void q_consumer_advance(q_consumer *c, uint64_t position);
/* Adds [lo, hi] to the skip ranges (replay): merged, kept sorted; ranges at or below the
 * position are ignored. 0 or -ENOMEM. */
int q_consumer_skip_add(q_consumer *c, uint64_t lo, uint64_t hi);
/* Whether consumer c has settled (or does not want) message seq with that subject: for
 * interest retention. */
bool q_consumer_done_with(const q_consumer *c, uint64_t seq, const char *subj, uint32_t slen);
/* Interest / work-queue retention after `c` settled seq: removes the message when no
 * consumer holds it any more. *commit_to raised. */
void q_consumer_retain(q_consumer *c, uint64_t seq, uint64_t now_ms, uint64_t *commit_to);
/* The backoff after the count-th delivery failed (the last entry repeats; none: 0). */
static inline uint64_t q_consumer_backoff(const q_consumer *c, uint32_t count)
{
    uint32_t nb = c->cfg.nbackoff;
    if (nb == 0) return 0;
    uint32_t i = count ? count - 1 : 0;
    return c->cfg.backoff_ms[i < nb ? i : nb - 1];
}
static inline q_part *q_consumer_part(const q_consumer *c) { return c->set->p; }
static inline q_stream *q_consumer_stream(const q_consumer *c) { return c->set->s; }
static inline bool q_consumer_logged(const q_consumer *c) { return !c->cfg.ephemeral; }
static inline void q_commit_raise(uint64_t *commit_to, int64_t off)
{
    if (off >= 0 && (uint64_t)off + 1 > *commit_to) *commit_to = (uint64_t)off + 1;
}

/* ---- q_consumer_hooks.c ---- */
int q_consumer_on_replay(q_part *p, const q_rec *rec, uint64_t now_ms);

#endif
