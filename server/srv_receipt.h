/* server/srv_receipt: Enqueue's durability levels against the --fsync policy, the receipt of
 * each enqueued task, and ringq.v1.Admin.GetPartition, which reports a partition's commit
 * sequence so a client can confirm that a WRITTEN receipt became synced. The rules are in
 * docs/semantics.md, "Durability levels". */
#ifndef SRV_RECEIPT_H
#define SRV_RECEIPT_H

#include <stddef.h>
#include <stdint.h>

#include "proto_wire/pw_grpc_server.h"
#include "proto_wire/pw_msgs.h"
#include "queue/q_log.h"
#include "queue/q_part.h"

/* The level an Enqueue gets under `policy` for the level it asked (a DURABILITY_* value as
 * decoded, so possibly unknown). Returns the level (MEMORY, WRITTEN or SYNCED; UNSPECIFIED
 * resolves to the policy's default), or Q_INVALID_ARGUMENT (not a Durability value) or
 * Q_FAILED_PRECONDITION (above what the policy allows: SYNCED under never) as a negative
 * q_status, with the reason in msg[0..cap) (msg may be NULL when cap is 0). */
int srv_durability_resolve(int32_t asked, q_commit_policy policy, char *msg, size_t cap);

/* Fills the receipt of the task whose record is at `offset` in partition `part_no`'s log, as
 * things stand now: level SYNCED with the current commit sequence once a completed fsync covers
 * the record, else WRITTEN with the sequence of the first commit that will. The log is
 * borrowed for the call; call on the partition's owner. */
void srv_receipt_fill(pwm_ringq_v1_Receipt *out, uint32_t part_no, const q_log *log,
                      uint64_t offset);

/* on_message of the unary GetPartition method: decodes GetPartitionRequest (msg borrowed for the
 * call), answers NOT_FOUND for a partition that does not exist, else the PartitionInfo read on
 * the partition's owner. */
void srv_receipt_on_get_partition(pw_grpc_call *c, const uint8_t *msg, size_t len);

#endif
