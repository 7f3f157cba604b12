/* server/srv_stream_dir: the subject -> stream directory of ringq.v1.Streams.
 *
 * A published subject belongs to at most one stream (the overlap rule); the stream lives in one
 * partition (q_part_of(stream name)), owned by one shard (a partitioned stream: its member 0
 * there, `parts` members in all, srv_stream_parts.h). Every shard must route a Publish, so
 * every shard keeps its OWN copy of the directory: a table of the streams (name, partition,
 * subject filters) in its own memory, read only by its own thread, without a lock. No shard
 * reads another's copy.
 *
 * Changes (CreateStream, UpdateStream, DeleteStream) are serialised by shard 0, the directory's
 * owner, one at a time in arrival order (a FIFO of srv_sdir_op):
 *   1. the origin (the call's shard) decodes and checks the request, and sends the op to shard 0;
 *   2. shard 0 checks the new subjects against its copy (q_filter_set_overlap with every other
 *      stream: FAILED_PRECONDITION naming the stream they overlap);
 *   3. shard 0 sends a job to the partition's owner, which writes the stream's record (the
 *      op's `write` step) and hands back the directory entry as stored (or none: deleted);
 *   4. shard 0 sends the change to every shard (itself included) as a mesh call; each shard
 *      copies the entry into its own table; once every shard has answered,
 *   5. the op goes back to the origin, which answers the call: a CreateStream answered OK is
 *      routable on every shard, whatever shard the next Publish arrives on.
 * Only then does shard 0 start the next op, so step 2 always sees every earlier change.
 *
 * At start every shard's copy is built from the streams its partitions replayed: in
 * srv_sdir_shard_init each shard lists its own partitions' streams into a boot list (its own
 * memory); the start-up barrier (srv_run: no shard serves before every shard_init ended)
 * orders those writes before any read; the first use on each shard copies every boot list
 * (immutable by then) into its own table, and the last shard to do so frees them.
 *
 * Memory: one allocation per stream per shard, ~200 bytes plus its filters' bytes, and an
 * 18 KiB cache (256 slots of 72 bytes). Lookup of a subject first tries the shard's cache
 * (q_subject_hash -> the stream that captured it last; srv_sdir_lookup checks a hit by matching
 * its filters, srv_sdir_route by comparing the subject's bytes it remembered checked and
 * matched, without a check or a match), else walks the streams and their filters
 * (q_filter_set_match): O(streams x filters) on a miss. Every change clears the caches: the only
 * guard of a route's hit. */
#ifndef SRV_STREAM_DIR_H
#define SRV_STREAM_DIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue/q_part.h"
#include "queue/q_subject.h"
#include "server/srv_job.h"
#include "worker/wk_call.h"

/* Streams in one server: each costs every shard an entry and makes every publish's lookup
 * longer; more is RESOURCE_EXHAUSTED. */
#define SRV_STREAMS_MAX 4096u
/* A stream name: 1..128 of [A-Za-z0-9_-] (streams.proto). */
#define SRV_STREAM_NAME_BYTES_MAX 128u

/* One stream as a shard's directory holds it: one allocation (the filters' bytes follow it). */
typedef struct srv_sdir_ent {
    char name[SRV_STREAM_NAME_BYTES_MAX + 1];
    uint32_t name_len;
    uint32_t part;         /* the partition holding the stream (a partitioned one's member 0) */
    uint32_t parts;        /* members of a partitioned stream; 1: pinned (srv_stream_parts.h) */
    q_filter_set subjects; /* views into bytes[] below */
    uint32_t bytes_len;
    char bytes[];
} srv_sdir_ent;

/* A new entry (rt_malloc'd, owned by the caller, freed with rt_free) with copies of `name` and
 * of the n filters (1..Q_FILTER_SET_MAX, each checked by q_filter_check). NULL when out of
 * memory or a filter is not valid. Any thread. */
srv_sdir_ent *srv_sdir_ent_new(const char *name, size_t name_len, uint32_t part,
                               const q_subject_view *filters, uint32_t n);

/* ---- lookups: on any shard, its own copy; results valid during the current callback ---- */

/* The stream capturing the (checked) subject, or NULL. */
const srv_sdir_ent *srv_sdir_lookup(const char *subject, size_t len);
/* The stream capturing `subject` once it is checked (q_subject_check): Q_OK with *out (NULL when
 * no stream captures it), or INVALID_ARGUMENT with the reason in e. A subject this shard
 * checked and routed before, with no directory change since, is found by its bytes alone: no
 * check, no filter match (a producer's publishes of one subject). */
q_status srv_sdir_route(const char *subject, size_t len, const srv_sdir_ent **out, q_err *e);
/* Subject lookups (srv_sdir_lookup, srv_sdir_route) this shard made since it started: what
 * routing a publish costs, counted (a batch of one subject makes one, test_srv_stream_pub). */
uint64_t srv_sdir_lookups(void);
/* Subjects srv_sdir_route checked (a miss of its memory) on this shard since it started. */
uint64_t srv_sdir_subject_checks(void);
/* The stream named `name`, or NULL. */
const srv_sdir_ent *srv_sdir_find(const char *name, size_t len);
/* Streams known to this shard. */
uint32_t srv_sdir_count(void);
/* The i-th stream in name order (i < srv_sdir_count()). */
const srv_sdir_ent *srv_sdir_at(uint32_t i);

/* ---- changes, serialised by shard 0 ---- */

typedef enum srv_sdir_kind {
    SRV_SDIR_PUT, /* create or update: the entry replaces the stream's (or joins) */
    SRV_SDIR_DEL, /* delete */
} srv_sdir_kind;

typedef struct srv_sdir_op srv_sdir_op;
/* The write step, on the partition's owner: `job` is a job shard 0 made (its ctx: the op). It
 * writes the stream's records and sets op->ent (PUT: the entry as stored, rt_malloc'd; the op
 * owns it) or leaves it NULL (DEL, or a failure: then the op's call job gets the status), and
 * ends with srv_job_reply(job) (at once or after a commit). */
typedef void (*srv_sdir_write_fn)(srv_job *job, srv_part *sp);

struct srv_sdir_op {
    wk_call wc; /* origin <-> shard 0 */
    srv_job *j; /* the call's job (srv_job_decoded): its status, msg and resp answer the call;
                  * handed to shard 0 then to the owner along with the op, read and written only
                  * by whoever holds the op */
    srv_sdir_kind kind;
    srv_sdir_write_fn write;
    int arg; /* the write step's own argument (the caller's: an update rather than a create) */
    uint32_t part;
    /* PUT: the new subjects, checked against the other streams on shard 0 (views into the call
     * job's request copy; n may be 0 for an update that keeps them, then nothing is checked). */
    q_filter_set check;
    char name[SRV_STREAM_NAME_BYTES_MAX + 1];
    uint32_t name_len;
    srv_sdir_ent *ent; /* set by the write step (PUT) */
    uint32_t bcast_pending;
    srv_sdir_op *next;             /* shard 0's FIFO */
    void (*done)(srv_sdir_op *op); /* on the origin: answer the call, free the op */
    wk_call bcast[];               /* one per shard */
};

/* Origin: a new op (rt_calloc'd with room for every shard's broadcast) for stream `name`
 * (valid, checked by the caller), carrying the call job `j`. NULL when out of memory. */
srv_sdir_op *srv_sdir_op_new(srv_job *j, srv_sdir_kind kind, const char *name, size_t name_len,
                             srv_sdir_write_fn write, void (*done)(srv_sdir_op *op));
/* Origin: sends the op to shard 0 (steps 2..5 above); op->done runs on this shard at the end.
 * Never fails (mesh calls park when a lane is full). */
void srv_sdir_change(srv_sdir_op *op);
/* Frees the op and its entry (not its call job). */
void srv_sdir_op_free(srv_sdir_op *op);

/* ---- life ---- */

/* On each shard after its partitions opened (srv_queue_shard_init): lists the streams of the
 * partitions it owns into its boot list. Out of memory fails the start (srv_runtime_fail). */
void srv_sdir_shard_init(int shard);
/* On each shard at exit: frees its copy (and the boot lists if it is the last user). */
void srv_sdir_shard_fini(int shard);

#endif
