/* ringq-operator: the two reconcilers. Each reads the object afresh, brings the world to its
 * spec and writes its status; the worker (ringq_operator_main.c) calls them with keys from the
 * work queue. Return: 0 done; > 0 done for now, reconcile again after that many ms (a rollout
 * waiting on a pod, queue counts to refresh); < 0 failed (negative errno; requeued with
 * backoff, and RingqCluster reports Degraded). */
#ifndef KO_CTRL_H
#define KO_CTRL_H

#include <jansson.h>

#include "k8s/operator/ko_api.h"

struct rq_client;
struct rq_status;

/* How often a cluster whose pods are not all Ready (or that is rolling) is looked at again, ms,
 * besides the pod events that move it on: pods take seconds to drain and start; the poll only
 * covers an event we missed. */
#define KO_ROLL_POLL_MS 2000u

typedef struct ko_ctrl {
    ko_api *api;               /* the worker's own */
    unsigned queue_refresh_ms; /* RingqQueue status counts refresh period */
} ko_ctrl;

int ko_cluster_reconcile(ko_ctrl *c, const char *ns, const char *name);
int ko_rqueue_reconcile(ko_ctrl *c, const char *ns, const char *name);
int ko_rstream_reconcile(ko_ctrl *c, const char *ns, const char *name);

/* One Admin call's limit, ms: the broker answers in microseconds; a dead one must not hold the
 * worker (the reconcile is retried with backoff). */
#define KO_ADMIN_TIMEOUT_MS 5000u

/* The broker of a RingqQueue or RingqStream: spec.address, else the client Service of
 * spec.clusterRef, "<clusterRef>.<namespace>.svc:7070". 0, or -EINVAL with `err`. */
int ko_broker_addr(json_t *obj, char *buf, size_t len, char *err, size_t errlen);
/* A libringq client of `addr` with KO_ADMIN_TIMEOUT_MS limits that fails fast (the caller
 * destroys it; it belongs to the calling thread). NULL with st filled. */
struct rq_client *ko_broker_connect(const char *addr, struct rq_status *st);

/* The finalizers RingqQueue and RingqStream carry while the broker's object may need deleting. */
#define KO_QUEUE_FINALIZER "ringq.dev/queue"
#define KO_STREAM_FINALIZER "ringq.dev/stream"

#endif
