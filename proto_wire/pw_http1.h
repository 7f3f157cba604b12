/* proto_wire/pw_http1: a minimal HTTP/1.1 request-head parser for the small endpoints served on
 * the gRPC port (/healthz, /metrics). Never allocates: results are views into the caller's
 * buffer (picohttpparser's contract).
 *
 * Bodies: the head reports Content-Length (the caller reads that many bytes after the head)
 * and whether Transfer-Encoding was sent (the server answers 411: bodies by length only). */
#ifndef PW_HTTP1_H
#define PW_HTTP1_H

#include <stddef.h>
#include <stdint.h>

/* Limits: a request head larger than this is rejected (431), so a slow or endless header
 * stream cannot hold memory. */
#define PW_HTTP1_HEAD_BYTES_MAX 8192
#define PW_HTTP1_HEADERS_MAX 32

#define PW_HTTP1_PARTIAL (-2)   /* need more bytes */
#define PW_HTTP1_INVALID (-1)   /* malformed: answer 400 and close */
#define PW_HTTP1_TOO_LARGE (-3) /* head over PW_HTTP1_HEAD_BYTES_MAX: 431 and close */

typedef struct pw_http1_view {
    const char *p;
    size_t n;
} pw_http1_view;

typedef struct pw_http1_request {
    pw_http1_view method;
    pw_http1_view target;
    int minor_version; /* HTTP/1.<minor> */
    size_t nheaders;
    pw_http1_view names[PW_HTTP1_HEADERS_MAX];
    pw_http1_view values[PW_HTTP1_HEADERS_MAX];
    uint64_t content_length; /* 0 when absent */
    int has_body;            /* Content-Length > 0 or Transfer-Encoding present */
    int has_length;          /* a Content-Length header (a second one is INVALID) */
    int chunked;             /* Transfer-Encoding present (bodies are read by length only) */
    int keep_alive;          /* HTTP/1.1 without "Connection: close" */
} pw_http1_request;

/* Parses a request head from buf[0..len). Returns the head length (bytes consumed, up to and
 * including the blank line), PW_HTTP1_PARTIAL, PW_HTTP1_INVALID or PW_HTTP1_TOO_LARGE. Views in
 * `req` borrow `buf` and are valid while it is. */
long pw_http1_parse_request(const uint8_t *buf, size_t len, pw_http1_request *req);

/* Case-insensitive view comparison with a NUL-terminated string. */
int pw_http1_view_eq(pw_http1_view v, const char *s);

#endif
