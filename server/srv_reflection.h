/* server/srv_reflection: grpc.reflection.v1 and v1alpha ServerReflectionInfo, answered from the
 * descriptor set embedded at build time. */
#ifndef SRV_REFLECTION_H
#define SRV_REFLECTION_H

#include "proto_wire/pw_grpc_server.h"

/* Indexes the embedded descriptors; `server` (borrowed for the process lifetime) is asked for
 * the services it serves (list_services). Call after every method is registered. Returns 0 or a
 * negative errno / PW_PB_ERR_*. */
int srv_reflection_init(const pw_grpc_server *server);
/* Registers both reflection services' method. */
int srv_reflection_add_methods(pw_grpc_server *s);

#endif
