/* proto_wire/pw_grpc_cmeta_int.h: a call's custom request metadata, copied into one block
 * (internal to pw_grpc_client; the entry rules are in pw_grpc_client.h, pw_grpc_cmeta). */
#ifndef PW_GRPC_CMETA_INT_H
#define PW_GRPC_CMETA_INT_H

#include "proto_wire/pw_grpc_client.h"
#include "proto_wire/pw_h2.h"

/* Checks md[0..n) and copies them, ready to send: -bin values base64-encoded (unpadded).
 * On success *out is one allocation (rt_free it) of n header fields followed by their bytes,
 * or NULL when n == 0. Returns 0, -EINVAL (an invalid entry, more than PW_GRPC_CCALL_MD_MAX
 * entries or PW_GRPC_CCALL_MD_BYTES_MAX bytes, md NULL with n > 0) or -ENOMEM. */
int pw_grpc_cmeta_copy(const pw_grpc_cmeta *md, size_t n, pw_h2_header **out);

#endif
