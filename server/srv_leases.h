/* server/srv_leases: ringq.v1.Admin.ListLeases — a queue's leases and who holds them
 * (server/srv_leases.c). */
#ifndef SRV_LEASES_H
#define SRV_LEASES_H

#include <stddef.h>
#include <stdint.h>

#include "proto_wire/pw_grpc_server.h"

/* on_message of the unary ListLeases method: decodes ListLeasesRequest (msg borrowed for the
 * call), answers INVALID_ARGUMENT for a bad queue name, NOT_FOUND for an unknown queue, else a
 * ListLeasesResponse from the queue's partition owner. */
void srv_leases_on_message(pw_grpc_call *c, const uint8_t *msg, size_t len);

#endif
