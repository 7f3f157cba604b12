/* server/srv_keda: KEDA's external scaler, externalscaler.ExternalScaler (proto/externalscaler/),
 * served by ringqd itself, so a KEDA `external` (or `external-push`) trigger points straight at
 * the broker (docs/kubernetes.md, "KEDA").
 *
 * The trigger's metadata (ScaledObjectRef.scalerMetadata; every other key, e.g. KEDA's own
 * scalerAddress, is ignored):
 *   queue               the queue whose backlog scales the workers
 *   stream, consumer    or: a stream's durable consumer whose backlog scales them (both, and
 *                       not with queue: one source per trigger)
 *   mode                "backlog" (default) or "drain_time"
 *   target              backlog: tasks per replica (required, > 0);
 *                       drain_time: tasks a replica runs at once (default 1)
 *   targetDrainSeconds  drain_time: the time the backlog should take to empty (required, > 0)
 *   activationTarget    IsActive is true while the backlog is above it (default 0)
 * The backlog is ready + leased tasks (what is waiting plus what is running; delayed tasks are
 * not runnable yet). In drain_time mode the metric is the replicas' worth of work that empties
 * the backlog in targetDrainSeconds: backlog * mean run time / targetDrainSeconds, where the mean
 * run time comes from Little's law over the queue's last rate window, leased / ack_rate (tasks
 * in flight over tasks finished per second), or the queue's lease_ms when no ack was counted.
 *
 * A consumer's backlog is ConsumerState.num_pending + num_ack_pending: its lag (messages it has
 * not been given yet: waiting) plus what it was given and has not acked (running), the same
 * "waiting plus running" as a queue's ready + leased, so workers are not scaled away while they
 * still hold deliveries. drain_time is refused for a consumer (INVALID_ARGUMENT): no ack rate
 * is kept per consumer, and its ack_wait is no run time, so the run time would be a guess.
 *
 * Calls are answered on the shard that received them: a job fetches the queue's QueueInfo from
 * the owner of its partition, as Admin.GetQueue does (a consumer's ConsumerInfo through
 * GetConsumer's own path, srv_consumer_get_dispatch), and the metric is computed here.
 * StreamIsActive polls every SRV_KEDA_STREAM_POLL_MS and sends the answer when it changes. */
#ifndef SRV_KEDA_H
#define SRV_KEDA_H

#include <stdbool.h>
#include <stdint.h>

#include "proto_wire/pw_grpc_server.h"
#include "proto_wire/pw_msgs.h"
#include "queue/q_part.h"

/* How often a StreamIsActive stream asks for its queue's backlog, in ms: KEDA's push trigger
 * exists to react faster than its pollingInterval (30 s by default); one job per stream per
 * second is noise next to the queue's own traffic. */
#define SRV_KEDA_STREAM_POLL_MS 1000u
/* Largest target / activationTarget / targetDrainSeconds accepted: far above any backlog a
 * partition can hold (Q_PART_TASKS_MAX) and a year of drain, so a typo is refused rather than
 * silently scaling nothing. */
#define SRV_KEDA_NUMBER_MAX 1e12
/* Longest metadata number accepted, in characters (with its terminator). */
#define SRV_KEDA_NUMBER_BYTES_MAX 32u
/* Longest metric name, in bytes with the terminator: ours ("ringq-backlog-" and a 128-byte
 * queue name, or "ringq-consumer-" and two 128-byte names) and the one KEDA asks GetMetrics
 * with (ours behind its "sN-" prefix). */
#define SRV_KEDA_METRIC_NAME_BYTES_MAX 300u

typedef enum srv_keda_mode {
    SRV_KEDA_MODE_BACKLOG,
    SRV_KEDA_MODE_DRAIN_TIME,
} srv_keda_mode;

/* A trigger's parsed metadata. The names are views into the decoded request it came from;
 * `stream` is {NULL, 0} for a queue trigger, `queue` for a consumer's. */
typedef struct srv_keda_params {
    pw_pb_bytes queue;
    pw_pb_bytes stream, consumer;
    srv_keda_mode mode;
    double target;     /* > 0 */
    double drain_s;    /* drain_time only, > 0 */
    double activation; /* >= 0 */
} srv_keda_params;

/* The figures the metric is computed from: a QueueInfo's, or a consumer's ConsumerState as
 * ready = num_pending (waiting), leased = num_ack_pending (running), no ack rate, no lease. */
typedef struct srv_keda_queue {
    uint64_t ready, leased;
    double ack_rate;   /* acks per second over the last window; 0 when none */
    uint32_t lease_ms; /* the queue's lease */
} srv_keda_queue;

/* Parses ref's metadata into *out (views borrow ref). Returns Q_OK, or Q_INVALID_ARGUMENT with
 * the reason (naming the key) in err. */
q_status srv_keda_params_parse(const pwm_externalscaler_ScaledObjectRef *ref, srv_keda_params *out,
                               q_err *err);
/* The backlog: ready + leased. */
uint64_t srv_keda_backlog(const srv_keda_queue *q);
/* The metric's value for *q under *p (see the file comment). */
double srv_keda_metric(const srv_keda_params *p, const srv_keda_queue *q);
/* IsActive's answer: the backlog is above the activation target. */
bool srv_keda_active(const srv_keda_params *p, const srv_keda_queue *q);
/* The metric's name ("ringq-backlog-<queue>" / "ringq-drain-<queue>" /
 * "ringq-consumer-<stream>-<consumer>") into out[0..cap), NUL terminated. Returns its length. */
size_t srv_keda_metric_name(const srv_keda_params *p, char *out, size_t cap);

/* Adds the ExternalScaler methods to the registry. Returns 0 or the registry's error. */
int srv_keda_add_methods(pw_grpc_server *g);
/* Drain: ends this shard's StreamIsActive streams (UNAVAILABLE) so they do not hold the drain
 * open. Shard thread only. */
void srv_keda_drain_shard(void);

#endif
