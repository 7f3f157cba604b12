/* server/srv_stream: ringq.v1.Streams, durable publish/subscribe over the partitions' logs
 * (queue/q_stream, queue/q_consumer). A stream lives in the partition q_part_of(its name) and
 * is served by that partition's owner shard; requests cross to it as jobs, as the Queue's do.
 * Publishes are routed by subject through a per-shard directory (srv_stream_dir.h).
 * docs/architecture.md "Streams on the shards" draws the paths. */
#ifndef SRV_STREAM_H
#define SRV_STREAM_H

#include "core/rt_buf.h"
#include "proto_wire/pw_grpc_server.h"
#include "proto_wire/pw_pb.h"
#include "server/srv_job.h"
#include "server/srv_runtime.h"

/* Registers every ringq.v1.Streams method. 0 or a negative errno. */
int srv_stream_add_methods(pw_grpc_server *g);
/* Called from srv_queue_shard_init / _fini / srv_queue_on_drain on every shard, after its
 * partitions opened / before they close: the directory's boot list, this shard's sessions. */
void srv_stream_shard_init(int shard);
void srv_stream_shard_fini(int shard);
void srv_stream_on_drain(int shard);
/* GetConsumer's path for another service (the KEDA scaler): a job carrying a decoded
 * GetConsumerRequest{stream, name} goes to the owner of the stream's partition, which runs
 * GetConsumer's handler; `done` then runs on this shard with j->resp holding the ConsumerInfo,
 * or j->status set (NOT_FOUND naming the stream or the consumer). j->origin_ctx is
 * `origin_ctx`; j->ctx is the decoded request: `done` must call srv_job_decoded_release(j)
 * (the job itself is freed after done). Borrows the names for the call. Returns Q_OK when
 * dispatched; else INVALID_ARGUMENT (a bad name, said which) or RESOURCE_EXHAUSTED with the
 * reason in e, and nothing was dispatched. */
q_status srv_consumer_get_dispatch(pw_pb_bytes stream, pw_pb_bytes name, void *origin_ctx,
                                   srv_job_done_fn done, q_err *e);
/* srv_metrics_gather_fn for the streams' figures (per stream, per consumer), merged by the
 * queue service's gather (srv_queue_metrics.c) into the same scrape. */
int srv_stream_metrics_gather(srv_shard *sh, buf *out, void (*done)(void *ctx), void *ctx);
/* srv_metrics_gather_fn for ringqd: the queue service's figures (srv_queue_metrics_gather), then
 * the streams'. */
int srv_metrics_gather_all(srv_shard *sh, buf *out, srv_gather_done_fn done, void *ctx, void *ud);

#endif
