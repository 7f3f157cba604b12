/* server/srv_interop: grpc.testing.TestService for gRPC's interop client. */
#ifndef SRV_INTEROP_H
#define SRV_INTEROP_H

#include <stddef.h>

#include "proto_wire/pw_grpc_server.h"

/* Allocates the shared zero payload (max_message_bytes) and the server id. 0 or -ENOMEM. */
int srv_interop_init(size_t max_message_bytes);
int srv_interop_add_methods(pw_grpc_server *s);

#endif
