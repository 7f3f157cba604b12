/* server/srv_stream_parts: partitioned streams (StreamConfig.partitions > 1; docs/semantics.md
 * "Partitioned streams").
 *
 * A partitioned stream of n members is n streams of the same name, member k (0..n-1) in
 * partition (home + k) % partitions, home = q_part_of(name) (member 0 is where a pinned stream
 * of that name would be). Each member is an ordinary q_stream whose configuration says n and k
 * (queue/q_stream.h); it holds the subjects that hash to k (q_stream_member_of), so each
 * subject has one total order, in its member's log. The directory (srv_stream_dir.h) has one
 * entry per stream, member 0's, with `parts` = n.
 *
 * Sequences: member k's own sequence p is the stream sequence (p - 1) * n + k + 1
 * (q_stream_seq_join): a reply names stream sequences only, a request's stream sequence goes to
 * the member it names (q_stream_seq_split).
 *
 * Calls that concern every member fan out from one shard (the call's, or the home owner's for
 * Create/Update/Delete) as one srv_job per member (srv_sfan below): each runs on its member's
 * owner, on that member alone, and answers back to the fanning shard, which merges the answers
 * once all are in. No shard reads another's memory, no lock: the mesh carries every hop. */
#ifndef SRV_STREAM_PARTS_H
#define SRV_STREAM_PARTS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/rt_buf.h"
#include "proto_wire/pw_msg.h"
#include "proto_wire/pw_pb.h"
#include "queue/q_consumer.h"
#include "queue/q_part.h"
#include "server/srv_job.h"
#include "server/srv_stream_dir.h"

/* What a call that partitioned streams do not support answers (FAILED_PRECONDITION). */
#define SRV_SPARTS_UNSUPPORTED "not supported on a partitioned stream"

/* The partition holding member k of a stream whose member 0 is in `home`. */
uint32_t srv_sparts_member_part(uint32_t home, uint32_t k);
/* The member index of partition `part` for a stream homed at `home`. */
uint32_t srv_sparts_member_of_part(uint32_t home, uint32_t part);
/* Most partitions a stream may take on this server: Q_STREAM_PARTS_MAX or the server's
 * partitions, the smaller (members must be in distinct partitions). */
uint32_t srv_sparts_limit(void);

/* Origin: this shard's directory entry of stream `name` when it is partitioned, else NULL. */
const srv_sdir_ent *srv_sparts_find(pw_pb_bytes name);

/* ---- fan-out over the members ---- */

typedef struct srv_sfan srv_sfan;
/* Runs on the shard that started the fan once every member answered; frees nothing. */
typedef void (*srv_sfan_done_fn)(srv_sfan *f);

struct srv_sfan {
    uint32_t home, parts; /* the stream's member 0 partition and member count */
    uint32_t pending;     /* members not answered yet (+1 while starting) */
    q_status status;      /* the first failure of a member (Q_OK: none) */
    char msg[Q_ERR_MSG_BYTES];
    const void *arg;       /* read by the members' runs (immutable while the fan is out) */
    void *job_ctx;         /* each member job's ctx: NULL the fan itself; else (a call's
                            * srv_decoded) the members run the call's own handler on it */
    void *ctx;             /* the starter's */
    srv_sfan_done_fn done; /* on the starting shard */
    buf resp[];            /* member k's reply (its job's resp, handed over) */
};

/* A fan over `parts` members of the stream homed at `home` (rt_calloc'd). NULL: out of memory. */
srv_sfan *srv_sfan_new(uint32_t home, uint32_t parts, const void *arg, void *ctx,
                       srv_sfan_done_fn done);
/* Sends one job per member (its ctx: f) to run `run` on the member's owner; each ends with
 * srv_job_reply (its resp and status come back into f). f->done runs once all answered (here,
 * at once, when no job could be made: f->status RESOURCE_EXHAUSTED). */
void srv_sfan_start(srv_sfan *f, srv_job_run_fn run);
/* Owner side (a fan without job_ctx): the fan of a member job, and the member index of the
 * partition it runs on. */
static inline srv_sfan *srv_sfan_of(const srv_job *j) { return (srv_sfan *)j->ctx; }
uint32_t srv_sfan_member(const srv_job *j);
/* Frees the fan and its replies. */
void srv_sfan_free(srv_sfan *f);

/* Origin: fans call job j (a srv_job_decoded call job) over the members of stream `name` when
 * it is partitioned (auth checked here: the stream's permission for the call's method): each
 * member runs `run` (its ctx: job_ctx, or the fan when NULL; f->arg the call's request), then
 * `done` merges into j->resp and ends with srv_sparts_call_end. false (nothing done) for a
 * pinned stream. */
bool srv_sparts_call_fan(srv_job *j, pw_pb_bytes name, srv_job_run_fn run, srv_sfan_done_fn done,
                         void *job_ctx);
/* Origin: answers the fanned call (the fan's failure, else j's status and resp) and frees the
 * fan and the call job. */
void srv_sparts_call_end(srv_sfan *f);

/* Merges every member's StreamInfo (f->resp[k]) into one StreamInfo appended to out (as the
 * message: field 0, or as field `field`): figures summed, first/last sequences and times the
 * lowest/highest as stream sequences, per-subject counts merged in subject order. 0 or a
 * negative errno. */
int srv_sparts_info_merge(buf *out, uint32_t field, const srv_sfan *f);
/* The same from n encoded StreamInfos in any order (each names its member's partition) of a
 * stream homed at `home` (ListStreams). 0 or a negative errno (-EBADMSG: not one per member). */
int srv_sparts_info_merge_views(buf *out, uint32_t field, uint32_t home, uint32_t n,
                                const uint8_t *const *info, const size_t *len);

/* Owner: member s's sequence p as the stream's (p itself for a pinned stream). */
uint64_t srv_sparts_seq_out(const q_stream *s, uint64_t p);
/* Owner: the first sequence of member s at or after stream sequence S (S for a pinned one). */
uint64_t srv_sparts_seq_from(const q_stream *s, uint64_t S);
/* Member k's (of parts) first sequence at or after stream sequence S (0 stays 0). */
uint64_t srv_sparts_seq_from_k(uint32_t parts, uint32_t k, uint64_t S);
/* Owner: stream sequence S as member s's own, 0 when another member holds it. */
uint64_t srv_sparts_seq_in(const q_stream *s, uint64_t S);
/* Origin: GetMessage (job j, decoded) of a partitioned stream goes to the member its seq or
 * its subject names, to run `run`; true when it took j. */
bool srv_sparts_get_message(srv_job *j, srv_job_run_fn run);
/* Owner: a member's ConsumerState sequences as the stream's: delivered (stream and consumer
 * sequences: a member's consumer sequences are joined as its stream sequences, so they are
 * unique over the consumer's members) and position joined, the ack floor as the highest stream
 * sequence below the member's next unacked one. */
void srv_sparts_cons_state(const q_stream *s, pwm_ringq_v1_ConsumerState *st);

/* ---- the admin calls (srv_stream_admin.c hooks) ---- */

/* The write step of Create/Update on the home owner (srv_sdir_write_fn): a partitioned config
 * (or an update of a partitioned stream) fans out to every member and takes the job: true. */
bool srv_sparts_write_put(srv_job *h, srv_part *sp, bool update);
/* The write step of Delete: a partitioned stream deletes every member: true. */
bool srv_sparts_write_delete(srv_job *h, srv_part *sp);
/* Origin: GetStream / PurgeStream of a partitioned stream (merged); true when it took j. */
bool srv_sparts_get(srv_job *j, pw_pb_bytes name);
bool srv_sparts_purge(srv_job *j, pw_pb_bytes name);

/* ---- consumers (srv_stream_cons.c hooks; srv_stream_parts_cons.c) ---- */

typedef enum srv_spc_kind {
    SRV_SPC_CREATE, /* the same consumer on every member; ConsumerInfo merged */
    SRV_SPC_GET,
    SRV_SPC_DELETE,
    SRV_SPC_PAUSE,
    SRV_SPC_RESET, /* by time on each member; by sequence from each member's first at or after */
    SRV_SPC_ACK,   /* each ref to the member its sequence names; results in request order */
    SRV_SPC_FETCH, /* every member asked (srv_stream_parts_cons.c) */
    SRV_SPC_LIST,  /* member 0's page, each consumer's figures merged with its namesakes' */
} srv_spc_kind;

/* Origin: a consumer call j (a srv_job_decoded call job) on stream `stream`: when the stream
 * is partitioned, takes j (fans it out, answers, frees) and returns true. `run` is the call's
 * own owner handler (CREATE..RESET: run on each member with the call's request; FETCH: on each
 * member with a FetchRequest of its share). */
bool srv_sparts_cons(srv_job *j, pw_pb_bytes stream, srv_spc_kind kind, srv_job_run_fn run);
/* ---- ephemeral consumers (srv_stream_parts_eph.c) ---- */

/* Origin: a name for a new ephemeral consumer of a partitioned stream (Q_CONSUMER_EPH_PREFIX and
 * 16 hex digits, in arena ar, which owns it) into *name, so every member creates that one. 0 or
 * -ENOMEM. */
int srv_sparts_eph_name(pw_msg_arena *ar, pw_pb_bytes *name);
/* Owner, after CreateConsumer made c on stream s: an ephemeral consumer on a member k >= 1
 * holds its expiry (member 0 decides it for the set). */
void srv_sparts_cons_created(const q_stream *s, q_consumer *c);
/* Owner, a q_consumer_gone_fn (ud: the srv_part of s): member 0's ephemeral consumer expired:
 * its namesakes on the other members are deleted (one job each). */
void srv_sparts_cons_gone(q_stream *s, const char *name, size_t len, void *ud);
/* Origin: restarts the inactivity clock of consumer `consumer` of stream `stream` on member 0
 * (partition home): a Fetch that did not ask member 0. Borrows the views for the call. */
void srv_sparts_cons_touch0(uint32_t home, pw_pb_bytes stream, pw_pb_bytes consumer);

/* Merges every member's ConsumerInfo (f->resp[k], sequences already the stream's) into out:
 * counts summed, delivered the highest, ack floor and position the lowest. 0 or -errno. */
int srv_sparts_cons_merge(buf *out, const srv_sfan *f);

/* ---- publish (srv_stream_pub.c hooks; srv_stream_parts_pub.c) ---- */

/* Origin: where a checked Publish batch of stream e goes: e->part for a pinned stream, else
 * the member partition of its first subject, *split set when its subjects span several
 * members. Q_OK, or FAILED_PRECONDITION (expected_last_seq names the whole stream's order,
 * which no member has) with the reason in err. */
q_status srv_sparts_pub_route(const srv_sdir_ent *e, const pwm_ringq_v1_PublishRequest *r,
                              uint32_t *part, bool *split, q_err *err);
/* Origin: a Publish whose batch spans several members (stream e): one job per member running
 * run_member, the acks merged back in the request's order (PublishResponse). Takes j. */
void srv_sparts_publish_split(srv_job *j, const srv_sdir_ent *e, srv_job_run_fn run_member);
/* The same for a PublishStream request (job j, on the owner of the stream's member 0, sp): the
 * split fans out from that shard; the merged acks become j's reply, and j is replied. */
void srv_sparts_publish_owner_split(srv_job *j, srv_part *sp, const pwm_ringq_v1_PublishRequest *r,
                                    srv_job_run_fn run_member);
/* Member side of the split: *mine gets the request with only member j's messages (their array
 * rt_malloc'd: the caller frees mine->messages). The count; 0 with none; -ENOMEM. */
int srv_sparts_pub_mine(const srv_job *j, pwm_ringq_v1_PublishRequest *mine);
/* Owner, before q_stream_publish on a member: each expected_last_subject_seq (a stream
 * sequence) as the member's own (one of another member can never match). */
void srv_sparts_pub_specs(const q_stream *s, q_smsg_spec *specs, uint32_t n);
/* Owner, after: the member's sequences as stream sequences. */
void srv_sparts_pub_seqs(const q_stream *s, q_pub_result *res, uint32_t n);

#endif
