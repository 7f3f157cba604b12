/* server/srv_workers: ringq.v1.Admin.ListWorkers — the connected Work streams of every shard
 * with their queues, credits and tasks in flight (server/srv_workers.c). */
#ifndef SRV_WORKERS_H
#define SRV_WORKERS_H

#include <stddef.h>
#include <stdint.h>

#include "proto_wire/pw_grpc_server.h"

/* on_message of the unary ListWorkers method: decodes ListWorkersRequest (msg borrowed for the
 * call), answers INVALID_ARGUMENT for a bad page_size or page_token, RESOURCE_EXHAUSTED when out
 * of memory, else a ListWorkersResponse gathered from every shard (each lists its own sessions on
 * its own thread: credits and in-flight counts are read where they are written). */
void srv_workers_on_message(pw_grpc_call *c, const uint8_t *msg, size_t len);

#endif
