/* server/srv_health: grpc.health.v1.Health (Check, List, Watch).
 *
 * The set of service names is fixed at start-up (srv_health_register before srv_run); each has
 * an atomic status that any thread may change. Watch streams live on the shard that accepted
 * them; srv_health_notify_shard() (run on each shard, e.g. from the drain hook) pushes changes
 * to that shard's watchers. */
#ifndef SRV_HEALTH_H
#define SRV_HEALTH_H

#include "proto_wire/pw_grpc_server.h"

typedef enum {
    SRV_HEALTH_UNKNOWN = 0,
    SRV_HEALTH_SERVING = 1,
    SRV_HEALTH_NOT_SERVING = 2,
    SRV_HEALTH_SERVICE_UNKNOWN = 3,
} srv_health_status;

#define SRV_HEALTH_SERVICES_MAX 32

/* Registers a service name ("" is the server as a whole) with a status. Start-up only.
 * Returns 0, -ENOSPC or -EEXIST. */
int srv_health_register(const char *service, srv_health_status st);
/* Sets every registered service's status. Thread-safe. */
void srv_health_set_all(srv_health_status st);
/* Sends the current status to this shard's watchers whose status changed. Shard thread only. */
void srv_health_notify_shard(void);
/* Drain: notifies this shard's watchers, then ends their streams (UNAVAILABLE) so they do
 * not hold the drain open. Shard thread only. */
void srv_health_drain_shard(void);
/* Adds the Health methods to the registry. */
int srv_health_add_methods(pw_grpc_server *s);

#endif
