/* libFuzzer target for proto_wire/pw_http1: arbitrary bytes as a request head, parsed at every
 * prefix length the way the connection feeds it. No crash, no read past the input, views inside
 * the input, and the parse result is stable once complete. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto_wire/pw_http1.h"

static void check_view(pw_http1_view v, const uint8_t *buf, size_t len)
{
    if (v.n == 0) return;
    assert((const uint8_t *)v.p >= buf && (const uint8_t *)v.p + v.n <= buf + len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pw_http1_request req;
    long full = pw_http1_parse_request(data, size, &req);
    if (full > 0) {
        assert((size_t)full <= size);
        check_view(req.method, data, size);
        check_view(req.target, data, size);
        for (size_t i = 0; i < req.nheaders; i++) {
            check_view(req.names[i], data, size);
            check_view(req.values[i], data, size);
        }
        /* Any shorter prefix of a complete head is partial (or the same error-free head). */
        for (size_t cut = 0; cut < (size_t)full; cut += 1 + cut / 8) {
            long r = pw_http1_parse_request(data, cut, &req);
            assert(r == PW_HTTP1_PARTIAL || r == PW_HTTP1_INVALID || r == PW_HTTP1_TOO_LARGE);
        }
    } else {
        assert(full == PW_HTTP1_PARTIAL || full == PW_HTTP1_INVALID || full == PW_HTTP1_TOO_LARGE);
    }
    return 0;
}
