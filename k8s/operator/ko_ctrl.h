/* ringq-operator: the two reconcilers. Each reads the object afresh, brings the world to its
 * spec and writes its status; the worker (ringq_operator_main.c) calls them with keys from the
 * work queue. Return: 0 done; > 0 done for now, reconcile again after that many ms (a rollout
 * waiting on a pod, queue counts to refresh); < 0 failed (negative errno; requeued with
 * backoff, and RingqCluster reports Degraded). */
#ifndef KO_CTRL_H
#define KO_CTRL_H

#include "k8s/operator/ko_api.h"

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

/* The finalizer RingqQueue carries while the queue may need deleting from the broker. */
#define KO_QUEUE_FINALIZER "ringq.dev/queue"

#endif
