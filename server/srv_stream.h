/* server/srv_stream: ringq.v1.Streams, durable publish/subscribe over the partitions' logs
 * (queue/q_stream, queue/q_consumer). A stream lives in the partition q_part_of(its name) and
 * is served by that partition's owner shard; requests cross to it as jobs, as the Queue's do.
 * Publishes are routed by subject through a per-shard directory (srv_stream_dir.h).
 * docs/architecture.md "Streams on the shards" draws the paths. */
#ifndef SRV_STREAM_H
#define SRV_STREAM_H

#include "core/rt_buf.h"
#include "proto_wire/pw_grpc_server.h"
#include "server/srv_runtime.h"

/* Registers every ringq.v1.Streams method. 0 or a negative errno. */
int srv_stream_add_methods(pw_grpc_server *g);
/* Called from srv_queue_shard_init / _fini / srv_queue_on_drain on every shard, after its
 * partitions opened / before they close: the directory's boot list, this shard's sessions. */
void srv_stream_shard_init(int shard);
void srv_stream_shard_fini(int shard);
void srv_stream_on_drain(int shard);
/* srv_metrics_gather_fn for the streams' figures (per stream, per consumer), merged by the
 * queue service's gather (srv_queue_metrics.c) into the same scrape. */
int srv_stream_metrics_gather(srv_shard *sh, buf *out, void (*done)(void *ctx), void *ctx);
/* srv_metrics_gather_fn for ringqd: the queue service's figures (srv_queue_metrics_gather), then
 * the streams'. */
int srv_metrics_gather_all(srv_shard *sh, buf *out, srv_gather_done_fn done, void *ctx, void *ud);

#endif
