/* queue/q_task_tab: where a partition's tasks live in memory — a slab of 56-byte q_task, an
 * open-addressing index id -> slab slot, and a min-heap of the tasks waiting for a time
 * (delayed tasks and leases), keyed (due, id).
 *
 * Memory per task: 56 bytes of slab + 4 / load bytes of index (load <= 0.75, so 5.3..10.7) + 4
 * bytes of heap while it waits. The slab grows by doubling with realloc (large blocks are
 * mremap'd: untouched capacity costs no resident memory); freed slots are reused LIFO.
 *
 * Not thread-safe; allocation failures return -ENOMEM and leave the structure unchanged. */
#ifndef Q_TASK_TAB_H
#define Q_TASK_TAB_H

#include <stdbool.h>
#include <stdint.h>

#define Q_NIL UINT32_MAX
#define Q_TAB_SLOTS_MIN 1024u    /* index slots at start: 4 KiB */
#define Q_TAB_LOAD_PCT 75u       /* grow the index beyond this load (linear probing) */
#define Q_TAB_FREE_ID UINT64_MAX /* id of a free slab slot (task ids are offsets < 2^63) */
#define Q_TAB_PREFETCH 16u       /* tasks ahead to prefetch index slots for: ~ DRAM latency */

/* One task. The payload, headers and key stay in the log (record `rec`). */
typedef struct q_task {
    uint64_t id;           /* offset of its first ENQUEUE record: the task id */
    uint64_t rec;          /* offset of the ENQUEUE record now (differs after compaction) */
    uint64_t due;          /* DELAYED: ready ms; LEASED: deadline ms; DEAD: offset of the record
                            * holding the reason (DEAD or STATE); READY: 0 */
    uint32_t next, prev;   /* the queue list its state puts it in; Q_NIL ends; free-list link */
    uint32_t heap;         /* position in the heap (DELAYED, LEASED) or Q_NIL */
    uint32_t lease_ms;     /* its own lease duration, 0 = request's or queue's */
    uint32_t queue : 24;   /* queue index in the partition (Q_PART_QUEUES_MAX fits) */
    uint32_t prio : 4;     /* 0..Q_PRIORITY_MAX */
    uint32_t state : 4;    /* q_task_state */
    uint16_t attempts;     /* deliveries that ended without an ack */
    uint16_t max_attempts; /* its own limit, 0 = queue's */
    uint64_t token;        /* lease token of its latest delivery (0: never delivered since
                            * open); ack/nack/extend must name it (docs/semantics.md) */
} q_task;
_Static_assert(sizeof(q_task) == 56, "the memory budget counts 56 bytes per task");
#define Q_TASK_QUEUE_BITS 24u /* width of q_task.queue */

typedef struct q_task_tab {
    q_task *t;
    uint32_t cap;       /* slab slots allocated */
    uint32_t used;      /* slab slots ever handed out (high-water) */
    uint32_t live;      /* tasks */
    uint32_t free_head; /* free slots, linked through next */
    uint32_t *slots;    /* index: slab slot or Q_NIL */
    uint32_t nslots;    /* power of two */
    uint32_t *heap;     /* slab slots, min-heap on (due, id) */
    uint32_t *lease_at; /* per slab slot (cap entries): the low 32 bits of the wall-clock ms
                         * its latest lease began, for the run-time histogram (lease to ack);
                         * differences are exact for runs under 49 days. 4 bytes a task, apart
                         * from q_task so its 56 bytes stay as the memory budget counts them. */
    uint32_t nheap, heap_cap;
} q_task_tab;

int q_task_tab_init(q_task_tab *tt);
void q_task_tab_deinit(q_task_tab *tt);
/* Bytes allocated (slab capacity counted whole: an upper bound on what is resident). */
uint64_t q_task_tab_bytes(const q_task_tab *tt);

/* A new task with this id (not already present): zeroed but for id, rec = id, links and heap
 * (Q_NIL). Reserves index and heap room for it. Returns its slot, or Q_NIL on -ENOMEM. */
uint32_t q_task_new(q_task_tab *tt, uint64_t id);
/* Makes room for n more tasks (slab, index, heap) so the next n q_task_new cannot fail.
 * 0 or -ENOMEM (nothing changed but capacity). */
int q_task_tab_reserve(q_task_tab *tt, uint32_t n);
/* Removes task `slot` from the index and frees its slot (it must not be in the heap). */
void q_task_free(q_task_tab *tt, uint32_t slot);
/* Hints the CPU to fetch the index slot of a task about to be created (replay and enqueue know
 * the next offsets). */
void q_task_prefetch(const q_task_tab *tt, uint64_t id);
/* The slot of task `id`, or Q_NIL. */
uint32_t q_task_find(const q_task_tab *tt, uint64_t id);

static inline q_task *q_task_at(const q_task_tab *tt, uint32_t slot) { return &tt->t[slot]; }

/* Heap of waiting tasks, keyed by (t->due, t->id). Its array always has room for every live
 * task (q_task_new reserves it), so a push cannot fail. */
void q_heap_push(q_task_tab *tt, uint32_t slot);
void q_heap_remove(q_task_tab *tt, uint32_t slot);
/* After t->due changed for a task in the heap. */
void q_heap_fix(q_task_tab *tt, uint32_t slot);
/* The earliest waiting task, or Q_NIL. */
static inline uint32_t q_heap_top(const q_task_tab *tt) { return tt->nheap ? tt->heap[0] : Q_NIL; }

#endif
