/* server/srv_stream_read_int.h: what the Read session (srv_stream_read.c) shares with the merge
 * of a partitioned stream's members (srv_stream_read_merge.c). Not a public interface. */
#ifndef SRV_STREAM_READ_INT_H
#define SRV_STREAM_READ_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "proto_wire/pw_msgs.h"
#include "queue/q_stream.h"
#include "server/srv_job.h"
#include "server/srv_stream_dir.h"

#define READ_BATCH_MSGS 64u         /* messages per batch: one mesh round trip each */
#define READ_BATCH_BYTES (1u << 20) /* bytes a batch may pin (the first message always goes) */

/* The first field of a Read call's user pointer: which session it is. */
typedef struct srv_sread_head {
    bool merge; /* srv_stream_read_merge.c's; else srv_stream_read.c's */
} srv_sread_head;

/* What a read job carries (a copy in j->req.bytes: plain bytes, self-contained). */
typedef struct rd_args {
    char name[Q_STREAM_NAME_BYTES_MAX];
    uint32_t name_len;
    bool by_time, headers_only;
    bool snapshot; /* a partitioned stream's member with end_seq: never live, ends at its last
                    * message at or below end_seq when read */
    bool merge;    /* a member of a merge read: entries (below) instead of bare frames */
    uint64_t from_seq, start_ms, end_seq, max; /* max: messages this job may send (>= 1) */
    uint64_t need_ms; /* merge, caught up: answer once the member's watermark passes this
                       * (0: park until a message comes, as a live read) */
    uint32_t nf;
    uint16_t flen[Q_FILTER_SET_MAX];
    char f[Q_FILTER_SET_MAX][Q_SUBJECT_BYTES_MAX];
} rd_args;

/* A merge read's reply is a run of entries: an entry head (publish time u64, frame length u32,
 * host order: it never leaves the process) and that many bytes of gRPC-framed StreamMessage;
 * a head of length 0 (last, when the member is caught up) is the member's watermark: its next
 * messages carry that publish time or later. */
#define SRV_SREAD_ENTRY_BYTES 12u

static inline void srv_sread_entry_put(uint8_t *head, uint64_t time_ms, uint32_t len)
{
    memcpy(head, &time_ms, 8);
    memcpy(head + 8, &len, 4);
}

static inline void srv_sread_entry_get(const uint8_t *head, uint64_t *time_ms, uint32_t *len)
{
    memcpy(time_ms, head, 8);
    memcpy(len, head + 8, 4);
}

/* Owner: runs a read job (reply: the batch; j->task_id the next member sequence, j->list_max
 * the messages, j->list_cut the end reached), or parks it while live and caught up. */
void srv_sread_run(srv_job *j, srv_part *sp);
/* Origin: lets a job parked on partition `part` answer now (its `cancelled` set by the
 * caller): a sweep job to the owner. */
void srv_sread_sweep(uint32_t part);

/* Origin: a Read of the partitioned stream pe (checked arguments a, at most max messages,
 * 0: no limit; after_seq: resume after that message, with a->by_time) on call c. Takes a
 * reference to c; answers c itself, including on failure. */
void srv_sread_merge_start(pw_grpc_call *c, const srv_sdir_ent *pe, const rd_args *a, uint64_t max,
                           uint64_t after_seq);
/* Origin: the call of merge session `user` (its pw_grpc_call_user) was cancelled. */
void srv_sread_merge_cancel(void *user);

#endif
