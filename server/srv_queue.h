/* server/srv_queue: ringq.v1 Queue and Admin on the partitions (queue/q_part), sharded.
 *
 * A data directory holds P partitions (fixed at creation, recorded in ringq.meta); partition k
 * is owned by shard k mod N. A request arriving on shard A for a partition owned by shard B
 * becomes a job: A copies the request bytes, the job crosses to B through the worker/ mesh, B
 * runs it on the partition, waits for the group commit that covers its records when it wrote
 * any, encodes the response, and the job crosses back to A, which answers the call. Jobs for a
 * partition A owns run on A without a hop. */
#ifndef SRV_QUEUE_H
#define SRV_QUEUE_H

#include <stdint.h>

#include "core/rt_buf.h"
#include "worker/wk_mesh.h"
#include "proto_wire/pw_grpc_server.h"
#include "queue/q_log.h"
#include "server/srv_runtime.h"

#define SRV_PARTITIONS_DEFAULT 16u
#define SRV_PARTITIONS_MAX 1024u

typedef struct srv_queue_opts {
    const char *data_dir;
    uint32_t partitions;   /* 0: what the data directory records, or the default for a new one */
    q_log_opts log;        /* fsync policy and segment sizes for every partition */
    size_t max_msg_bytes;  /* the server's max send message size (0: 4 MiB) */
    uint64_t spin_ns;      /* mesh adaptive polling after cross-shard traffic (wk_mesh_opts) */
    uint64_t busy_spin_ns; /* polling after a turn with work on a busy shard (wk_mesh_opts) */
} srv_queue_opts;

/* ringqd's default spin: a shard that just exchanged messages with another polls 20 us before
 * sleeping, so request/reply between shards costs about a microsecond, not a wake-up (tens of
 * microseconds on a VM). The busy spin (--busy-spin-us, worker/wk_mesh_loop.h) is off by
 * default: it lifts a closed loop of fast publishes but costs CPU per task end to end. */
#define SRV_SPIN_NS_DEFAULT WK_MESH_SPIN_NS_DEFAULT
#define SRV_BUSY_SPIN_NS_DEFAULT 0u

/* Creates or checks the data directory (ringq.meta) and sets up the mesh for `nshards`. Call
 * before srv_run. Returns SRV_RC_OK, or SRV_RC_SAID after printing a one-line reason to
 * stderr. */
srv_rc srv_queue_setup(const srv_queue_opts *o, int nshards);
/* srv_hooks for srv_run: shard_init opens the shard's partitions and joins the mesh,
 * shard_fini commits and closes them, on_drain wakes long-polls, metrics adds queue figures. */
void srv_queue_shard_init(srv_shard *sh, void *ud);
void srv_queue_shard_fini(srv_shard *sh, void *ud);
void srv_queue_on_drain(srv_shard *sh, void *ud);
void srv_queue_metrics(buf *out, void *ud);
/* srv_metrics_gather_fn: per-queue figures and the fsync histogram from every partition
 * (server/srv_queue_metrics.c). */
int srv_queue_metrics_gather(srv_shard *sh, buf *out, srv_gather_done_fn done, void *ctx, void *ud);
/* Registers ringq.v1.Queue and ringq.v1.Admin. */
int srv_queue_add_methods(pw_grpc_server *g);
int srv_admin_add_methods(pw_grpc_server *g);

#endif
