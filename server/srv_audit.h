/* server/srv_audit: ringq.v1.Admin.Audit — the conservation ledger of one queue or of every
 * queue, gathered from the partitions' owners (server/srv_audit.c). */
#ifndef SRV_AUDIT_H
#define SRV_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "proto_wire/pw_grpc_server.h"

/* on_message of the unary Audit method: decodes AuditRequest (msg borrowed for the call),
 * answers INVALID_ARGUMENT for a bad queue name, NOT_FOUND for an unknown one, else an
 * AuditResponse once every partition asked has answered. */
void srv_audit_on_message(pw_grpc_call *c, const uint8_t *msg, size_t len);

#endif
