/* libFuzzer target for the JSON API's router and request parsers (server/srv_api.c through
 * srv_api_route_parse): a request's method, path, query string and body, all hostile, go
 * through the route table's matcher, the percent-decoding of the path segment and the query,
 * pw_json's body reader and the query's field setter, then pw_msg_encode. No crash, no read
 * past the input, bounded memory; every answer is one of the documented ones; an error says
 * what is wrong; an accepted request encodes a message that decodes again as its method's
 * request type.
 *
 * Input: byte 0 picks the method; the rest is split at the first two 0x00 bytes into path
 * (after /api/v1/), query and body (missing parts are empty). */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto_wire/pw_json.h"
#include "server/srv_api_int.h"

#define FUZZ_ARENA_BYTES_MAX (16u << 20) /* decoding the encoded request again */

static const char *const methods[] = {"GET", "POST", "DELETE", "HEAD", "PUT", "get", ""};

/* The next part of in[*off..n) up to a 0x00 (excluded), as a view. */
static pw_http1_view next_part(const uint8_t *in, size_t n, size_t *off)
{
    size_t s = *off, e = s;
    while (e < n && in[e] != 0) e++;
    *off = e < n ? e + 1 : n;
    return (pw_http1_view){(const char *)in + s, e - s};
}

/* A heap copy of v (exactly v.n bytes, so ASan sees any read past it). */
static pw_http1_view own(pw_http1_view v, char **keep)
{
    *keep = malloc(v.n ? v.n : 1);
    assert(*keep);
    if (v.n) memcpy(*keep, v.p, v.n);
    return (pw_http1_view){*keep, v.n};
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    const char *m = methods[data[0] % (sizeof methods / sizeof methods[0])];
    size_t off = 1;
    char *kp, *kq, *kb;
    pw_http1_view path = own(next_part(data, size, &off), &kp);
    pw_http1_view query = own(next_part(data, size, &off), &kq);
    pw_http1_view body = own((pw_http1_view){(const char *)data + off, size - off}, &kb);
    pw_http1_view method = {m, strlen(m)};
    const pw_msg_method *rpc = NULL;
    char err[PW_JSON_ERR_BYTES];
    buf out;
    buf_init(&out, 8u << 20);
    int rc = srv_api_route_parse(method, path.p, path.n, query, body, &rpc, &out, err);
    assert(rc <= 0);
    assert(strlen(err) < PW_JSON_ERR_BYTES);
    if (rc == 0) {
        assert(rpc && rpc->in);
        void *msg = calloc(1, rpc->in->size);
        assert(msg);
        pw_msg_arena a;
        pw_msg_arena_init_heap(&a, PW_MSG_ARENA_CHUNK_BYTES, FUZZ_ARENA_BYTES_MAX);
        assert(pw_msg_decode(rpc->in, msg, buf_begin(&out), buf_size(&out), &a) == 0);
        pw_msg_arena_deinit(&a);
        free(msg);
    } else if (rc != -ENOENT && rc != -EOPNOTSUPP && rc != -ENOMEM) {
        assert(err[0] != 0); /* a refused request says why */
    }
    buf_deinit(&out);
    free(kb);
    free(kq);
    free(kp);
    return 0;
}
