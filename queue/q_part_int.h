/* queue/q_part_int: the q_part structures and the helpers the q_part*.c files share. Not part
 * of the API (server code includes queue/q_part.h only).
 *
 * Where a task is, by state (every task is in exactly one list of its queue):
 *   READY    ready[prio] FIFO list          due = 0
 *   DELAYED  waiting list + heap            due = ready time (ms)
 *   LEASED   waiting list + heap            due = lease deadline (ms)
 *   DEAD     dead list                      due = offset of the record with its reason
 * q_task_move() is the one place that changes a state: it unlinks, links, and keeps the counts.
 *
 * Live records (pins): every record the state needs after a restart is pinned — each task's
 * ENQUEUE (t->rec), each dedup key's record, each queue's latest QUEUE record. Pins are counted
 * per bucket of 2^shift offsets; the first non-empty bucket bounds what retention may delete.
 * Records after a pinned one (acks, retries, ...) survive with it: retention deletes prefixes. */
#ifndef Q_PART_INT_H
#define Q_PART_INT_H

#include <string.h>

#include "queue/q_part.h"
#include "queue/q_part_dedup.h"
#include "queue/q_part_rec.h"
#include "queue/q_task_tab.h"

#define Q_PRIO_LEVELS (Q_PRIORITY_MAX + 1)
#define Q_QNIL UINT32_MAX       /* empty slot of the queue name index */
#define Q_QSLOTS_MIN 64u        /* name index slots at first: 256 bytes; load kept <= 1/2 */
#define Q_QUEUES_CAP_MIN 32u    /* queue array entries at first; doubles as queues appear */
#define Q_RATE_WINDOW_MS 10000u /* rates are averaged over windows of at least this */

typedef struct q_list {
    uint32_t head, tail; /* slab slots, Q_NIL when empty */
} q_list;

typedef struct q_queue {
    char name[Q_QUEUE_NAME_BYTES_MAX + 1]; /* NUL-terminated for logs */
    uint16_t name_len;
    uint32_t idx; /* in p->queues; < Q_PART_QUEUES_MAX */
    bool paused;
    bool wake_pending; /* in the wake list (p->wake_head) */
    bool deleted;      /* Admin.DeleteQueue: invisible (q_queue_find), slot kept for its name */
    struct q_queue *wake_next; /* next in the wake list */
    uint64_t wake_durable;     /* opts.ready_when_durable: drain once q_log_durable() reaches this
                            * (one past the newest ENQUEUE record of a task made READY) */
    uint16_t ready_mask;       /* bit i: ready[i] non-empty */
    q_queue_cfg cfg;
    uint64_t cfg_rec; /* its latest QUEUE record (pinned), Q_OFF_NONE if never configured */
    q_list ready[Q_PRIO_LEVELS];
    q_list waiting; /* DELAYED and LEASED */
    q_list dead;
    uint64_t n[5]; /* tasks per q_task_state (n[0] unused) */
    uint64_t enqueued_total, acked_total, nacked_total, expired_total, dead_total, duplicates_total;
    q_ledger led;       /* the conservation ledger (q_part.h): kept in the log */
    uint64_t led_rec;   /* its latest LEDGER record (pinned), Q_OFF_NONE if none yet */
    uint64_t led_since; /* q_audit.incomplete_since: kept in its LEDGER records */
    bool led_dirty;     /* counted since that record: retention writes a new one before it
                       * deletes anything (q_ledger_flush) */
    uint64_t win_start_ms, win_enq0, win_ack0;
    double enq_rate, ack_rate;
} q_queue;
/* What Q_QUEUE_BYTES counts: the struct, two array entries, two index slots (load <= 1/2). */
_Static_assert(sizeof(q_queue) + 2 * sizeof(q_queue *) + 2 * sizeof(uint32_t) <= Q_QUEUE_BYTES,
               "Q_QUEUE_BYTES bounds a queue's memory");

typedef struct q_pins {
    uint32_t *cnt; /* cnt[i]: pins in bucket base + i */
    uint64_t base; /* bucket number of cnt[0] */
    uint32_t len;  /* buckets in use from base */
    uint32_t cap;
    uint32_t shift; /* bucket = offset >> shift */
    uint64_t total;
} q_pins;

struct q_part {
    q_log *log;
    uint32_t no;
    q_part_opts opts;
    q_task_tab tt;
    q_dedup dd;
    q_pins pins;
    q_queue **queues;  /* by index (creation order); queues are never removed */
    q_queue **by_name; /* the same queues: [0, nsorted) sorted by name, the rest not yet */
    uint32_t nqueues, nsorted, queues_cap;
    uint32_t *qslots; /* name index: open addressing, queue index or Q_QNIL */
    uint32_t nqslots; /* power of two, >= 2 * nqueues */
    /* The queue queue_slot found last: a request names its queue 3-5 times on its way
     * (enqueue, lease, ack, the delivery's readiness), mostly the same one; a queue stays in
     * p->queues, at the same address, until q_queues_free (a delete only marks it). */
    q_queue *last_q;
    q_queue *wake_head, *wake_tail; /* queues to drain (FIFO, linked through wake_next) */
    uint64_t rng;
    uint64_t next_retain_ms;
    /* A deletion waiting for its records to be durable (q_part_tick.c retain_below): segments
     * wholly below retain_low go once q_log_durable() reaches retain_wait; 0 = none waits. */
    uint64_t retain_wait, retain_low;
    /* A compaction in progress (q_part_tick.c): [compact_from, compact_to) is being copied out,
     * compact_at is the next record to read (at most Q_COMPACT_SCAN_RECS_MAX a tick), moved the
     * records copied so far; compact_to == 0: none. Nothing is deleted meanwhile. */
    uint64_t compact_from, compact_to, compact_at, compact_moved;
    bool replaying;
    uint64_t compactions, records_compacted, replayed_records;
    uint64_t leased_undurable;    /* q_part_stats.leased_undurable */
    uint64_t delivered_undurable; /* q_part_stats.delivered_undurable */
    uint64_t ledger_mismatches;   /* q_part_stats.ledger_mismatches */
    uint64_t token_last;          /* the latest lease token handed out (q_part_lease) */
    bool ledger_seen;             /* replay met a LEDGER record (q_ledger_check_open) */
    uint64_t token_epoch;         /* the durable epoch token_last belongs to (q_part_epoch.c) */
    int epoch_dirfd;              /* the partition directory, for the epoch file; -1 if none */
    struct q_streams *streams;    /* queue/q_stream_int.h; NULL until the first stream */

    q_lat_hist lat_wait, lat_run; /* q_part_stats.wait, .run (q_lat_observe) */
};

/* ---- q_part_util.c ---- */
/* Fills err (if not NULL) and returns code. */
q_status q_fail(q_err *err, q_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline q_status q_ok(q_err *err)
{
    if (err) {
        err->code = Q_OK;
        err->msg[0] = 0;
    }
    return Q_OK;
}
/* A log error (negative errno) as a status: -ENOSPC RESOURCE_EXHAUSTED, -EMSGSIZE
 * INVALID_ARGUMENT, anything else INTERNAL. */
q_status q_fail_log(q_err *err, int rc, const char *what);
uint64_t q_key_hash(const char *key, size_t len);
uint64_t q_rand(q_part *p);

/* ---- lease tokens (q_part_epoch.c) ---- */
/* The first epoch of a directory without an epoch file: above every now_ms << 20 token of a
 * build before epochs while the clock was right. */
uint64_t q_part_epoch_from_clock(uint64_t now_ms);
/* Makes the next epoch durable (at open: the file's + 1, or the clock's when there is none)
 * and starts its tokens. 0, or a negative errno (file unreadable, write or fsync failed,
 * -EOVERFLOW: epochs exhausted); then the partition must not hand out tokens. */
int q_part_epoch_advance(q_part *p, uint64_t now_ms);
/* A new token, strictly above every token of this and every earlier open of the partition;
 * 0 when a new epoch was needed and could not be made durable (the lease must not go out). */
uint64_t q_part_token_next(q_part *p, uint64_t now_ms);

/* ---- q_part_queue.c ---- */
/* The queue of that name, NULL when unknown or deleted. */
q_queue *q_queue_find(q_part *p, const char *name, size_t len);
/* Finds or creates (Q_RESOURCE_EXHAUSTED past opts.queues_max — Q_PART_QUEUES_MAX while
 * replaying — or out of memory). A deleted queue of that name comes back new: default
 * settings, no figures. */
q_status q_queue_get(q_part *p, const char *name, size_t len, q_queue **out, q_err *err);
static inline q_queue *q_queue_of(q_part *p, const q_task *t) { return p->queues[t->queue]; }
/* q_queue_name_check, answered at once when the name is that of the queue found last
 * (p->last_q): every queue in p->queues was created under a checked name (q_part_enqueue,
 * q_part_open's replay, q_part_admin), so only a new name pays the per-byte check. */
static inline q_status q_part_name_check(const q_part *p, const char *name, size_t len, q_err *err)
{
    const q_queue *q = p->last_q;
    if (q && q->name_len == len && memcmp(q->name, name, len) == 0) return Q_OK;
    return q_queue_name_check(name, len, err);
}
/* Effective limits of a task in its queue. */
uint32_t q_task_max_attempts(const q_part *p, const q_task *t);
uint32_t q_task_lease_ms(const q_part *p, const q_task *t, uint32_t req_lease_ms);
/* The one state setter (see the table above). `due` as in the table (READY: ignored). */
void q_task_move(q_part *p, uint32_t slot, q_task_state to, uint64_t due);
/* Removes a task in any state: unlinks, unpins its record, frees the slot. */
void q_task_remove(q_part *p, uint32_t slot);
/* Deletes a queue in memory (QDELETE): removes every task, unpins its QUEUE record, forgets
 * its idempotency keys (expired now, their records unpinned) and marks it deleted. The slot
 * and index stay with the name, so ids of keys still in the dedup ring keep meaning it. */
uint64_t q_queue_drop(q_part *p, q_queue *q);
/* Purge (a PURGE record written or replayed): removes every task of q, counting each in the
 * ledger by its state. Returns how many. */
uint64_t q_part_purge_tasks(q_part *p, q_queue *q);
/* Whether q_part_lease would hand out a task of q now: some priority level's first ready task
 * is durable (or opts.ready_when_durable is off and any task is ready). */
bool q_queue_leasable(const q_part *p, const q_queue *q);
/* Marks a queue for q_part_drain_ready when it has ready tasks and is not paused. */
void q_queue_wake(q_part *p, q_queue *q);
/* Rolls the rate window when it is over. */
void q_queue_rates(q_queue *q, uint64_t now_ms);
void q_queue_fill_info(q_part *p, q_queue *q, uint64_t now_ms, q_queue_info *out);
/* Frees the queues and their indexes (q_part_close). */
void q_queues_free(q_part *p);

/* ---- pins (q_part_queue.c) ---- */
int q_pins_init(q_pins *pn, uint32_t shift);
void q_pins_deinit(q_pins *pn);
/* Makes room for pins at offsets lo..hi (inclusive). 0 or -ENOMEM. */
int q_pins_reserve(q_pins *pn, uint64_t lo, uint64_t hi);
/* Counts a pin at `off` (room reserved: cannot fail for off >= the first bucket). */
void q_pins_add(q_pins *pn, uint64_t off);
void q_pins_del(q_pins *pn, uint64_t off);
/* First offset of the first non-empty bucket, or `none` when nothing is pinned. */
uint64_t q_pins_low(const q_pins *pn, uint64_t none);
/* Pins in buckets that start below `off`. */
uint64_t q_pins_below(const q_pins *pn, uint64_t off);
/* Drops empty buckets at the front. */
void q_pins_trim(q_pins *pn);

/* ---- records (q_part_ops.c) ---- */
/* Log bytes one task's end takes: an ACK record for one id (48-byte header, 8 fixed, 8 per id)
 * or a DELETE (48 + 16). The log's reserve holds this much per live task (q_part_keep_room). */
#define Q_PART_FREE_REC_BYTES 64u
_Static_assert(Q_REC_HDR_BYTES + 8 + 8 <= Q_PART_FREE_REC_BYTES, "one ack fits the reserve");
_Static_assert(Q_REC_HDR_BYTES + 16 <= Q_PART_FREE_REC_BYTES, "one delete fits the reserve");
/* Appends a small record; returns its offset or a negative errno. Acks, deletes and purges may
 * use the log's reserve (q_log_appendv_freeing); other records leave it, set first to the ends
 * of every live task. */
int64_t q_part_append(q_part *p, const q_prec *r);
/* Sets the log's reserve to the ends of the live tasks plus `more_tasks` (enqueue: its own). */
void q_part_keep_room(q_part *p, uint64_t more_tasks);
/* Reads and decodes the ENQUEUE record of a task. 0 or negative errno. */
int q_task_read(const q_part *p, const q_task *t, q_enq_rec *out);
/* The queue's dedup callback: unpins the entry's record. */
void q_dedup_unpin(void *ud, const q_dedup_ent *e);
/* Kills a leased or ready task for `cause` (record DEAD, or DELETE when dead_letter is off).
 * Returns the log result (the in-memory move happens regardless). */
int q_task_kill(q_part *p, uint32_t slot, uint8_t cause, uint64_t now_ms, const char *reason,
                uint32_t reason_len);

/* ---- task info (q_part_admin.c) ---- */
/* Fills a task_info of task `slot`; its record is read for payload, headers, key, enqueue
 * time (views as q_task_info says). Q_DATA_LOSS, with the rest filled, when the record cannot
 * be read. */
q_status q_task_fill_info(q_part *p, uint32_t slot, q_task_info *out, q_err *err);

/* ---- the conservation ledger (q_part_ledger.c) ----
 * The counters change where the records that count are written (q_part_ops.c, q_part_admin.c,
 * q_part_tick.c) and where replay applies them (q_part_open.c), through these helpers, so both
 * count the same; each marks the queue dirty (counted since its LEDGER record). */
static inline void q_ledger_touch(q_queue *q) { q->led_dirty = true; }
/* A task of state `from` removed by DeleteTask (purge false) or Purge (true). */
void q_ledger_removed(q_queue *q, q_task_state from, bool purge);
/* A task died; `kept`: it stays as a dead letter (false: dropped at once, dead_letter off). */
void q_ledger_died(q_queue *q, bool kept);
/* Replay of a LEDGER record: the counters as written, not dirty; pins it. 0 or -ENOMEM. */
int q_ledger_apply(q_part *p, q_queue *q, const q_ledger *led, uint64_t since, uint64_t off);
/* Forgets a queue's ledger (QDELETE): unpins its record, zeroes the counters. */
void q_ledger_drop(q_part *p, q_queue *q);
/* Writes a LEDGER record (counters now, at the head, pinned instead of the old one) for every
 * queue that is dirty or whose LEDGER record is below `below` (compaction moves it out of the
 * segment; 0: dirty ones only). *moved (may be NULL) counts them. 0 or the log's negative
 * errno (the queues not written stay as they were). Retention calls it before deleting
 * anything: a record that counted after a queue's LEDGER record may name a task whose ENQUEUE
 * is in the segments deleted, and replay could not count it then. */
int q_ledger_flush(q_part *p, uint64_t below, uint64_t *moved);
/* After replay: marks the queues whose history is incomplete (q_part_ledger.c), then checks
 * every queue (q_part_audit_all without a callback). */
void q_ledger_check_open(q_part *p);

/* ---- replay (q_part_open.c) and housekeeping (q_part_tick.c) ---- */
int q_part_apply(q_part *p, const q_rec *r, uint64_t now_ms);
q_status q_part_retain(q_part *p, uint64_t now_ms);

#endif
