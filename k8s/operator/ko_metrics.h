/* ringq-operator: the counters /metrics shows (Prometheus text format, ko_serve.c). Global
 * atomics: any thread adds, the HTTP thread reads. */
#ifndef KO_METRICS_H
#define KO_METRICS_H

#include <stdatomic.h>

typedef struct ko_metrics {
    atomic_ulong api_requests;       /* HTTP calls answered */
    atomic_ulong api_errors;         /* calls with no answer (transport) */
    atomic_ulong api_conflicts;      /* 409 answers (optimistic concurrency) */
    atomic_ulong watch_events;       /* ADDED/MODIFIED/DELETED received */
    atomic_ulong watch_bookmarks;    /* BOOKMARK events received */
    atomic_ulong watch_expired;      /* 410 Gone answers: each followed by a relist */
    atomic_ulong lists;              /* full lists (start, resync, after 410) */
    atomic_ulong reconciles;         /* reconciles that succeeded */
    atomic_ulong reconcile_errors;   /* reconciles that failed (requeued with backoff) */
    atomic_ulong objects_created;    /* owned objects created (first time or drift) */
    atomic_ulong objects_updated;    /* owned objects updated back to the desired state */
    atomic_ulong pods_rolled;        /* pods deleted to roll a config change */
    atomic_ulong leader_transitions; /* times this process became the leader */
    atomic_int is_leader;            /* 1 while this process holds the Lease */
    atomic_int queue_depth;          /* keys waiting in the work queue */
} ko_metrics;

extern ko_metrics ko_m;

#endif
