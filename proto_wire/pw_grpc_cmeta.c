/* proto_wire/pw_grpc_cmeta: custom request metadata of a client call (gRPC PROTOCOL-HTTP2
 * "Custom-Metadata"): checking an entry and copying a call's entries for its HEADERS. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "proto_wire/pw_grpc_cmeta_int.h"
#include "proto_wire/pw_grpc_util.h"

/* Names the client sets itself, or that HTTP/2 forbids in a request (RFC 9113 §8.2.2). */
static const char *const cmeta_forbidden[] = {
    "te",      "content-type",     "user-agent",        "connection", "keep-alive",
    "upgrade", "proxy-connection", "transfer-encoding", "host",
};

int pw_grpc_cmeta_check(const pw_grpc_cmeta *m)
{
    if (!m || !m->name || (!m->value && m->value_len)) return -EINVAL;
    size_t nl = strlen(m->name);
    /* pw_grpc_md_name_valid refuses ':' (pseudo-headers) and upper case. */
    if (!pw_grpc_md_name_valid(m->name, nl) || pw_grpc_md_is_reserved(m->name, nl)) return -EINVAL;
    for (size_t i = 0; i < sizeof cmeta_forbidden / sizeof cmeta_forbidden[0]; i++)
        if (strcmp(m->name, cmeta_forbidden[i]) == 0) return -EINVAL;
    if (pw_grpc_md_is_bin(m->name, nl)) return 0; /* any bytes: sent in base64 */
    for (size_t i = 0; i < m->value_len; i++)
        if (m->value[i] < 0x20 || m->value[i] > 0x7E) return -EINVAL;
    return 0;
}

/* Bytes entry m takes on the wire (name and encoded value). */
static size_t cmeta_wire_len(const pw_grpc_cmeta *m)
{
    size_t nl = strlen(m->name);
    bool bin = pw_grpc_md_is_bin(m->name, nl);
    return nl + (bin ? pw_b64_encoded_len(m->value_len, false) : m->value_len);
}

int pw_grpc_cmeta_copy(const pw_grpc_cmeta *md, size_t n, pw_h2_header **out)
{
    *out = NULL;
    if (n == 0) return 0;
    if (!md || n > PW_GRPC_CCALL_MD_MAX) return -EINVAL;
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = pw_grpc_cmeta_check(&md[i]);
        if (rc < 0) return rc;
        if (md[i].value_len > PW_GRPC_CCALL_MD_BYTES_MAX) return -EINVAL;
        bytes += cmeta_wire_len(&md[i]);
        if (bytes > PW_GRPC_CCALL_MD_BYTES_MAX) return -EINVAL;
    }
    pw_h2_header *h = rt_malloc(n * sizeof *h + bytes);
    if (!h) return -ENOMEM;
    char *p = (char *)(h + n);
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(md[i].name);
        memcpy(p, md[i].name, nl);
        h[i] = (pw_h2_header){.name = p, .name_len = nl};
        p += nl;
        size_t vl = md[i].value_len;
        if (pw_grpc_md_is_bin(md[i].name, nl)) vl = pw_b64_encode(p, md[i].value, vl, false);
        else if (vl) memcpy(p, md[i].value, vl);
        h[i].value = p;
        h[i].value_len = vl;
        p += vl;
    }
    *out = h;
    return 0;
}
