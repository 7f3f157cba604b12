#include "proto_wire/pw_http1.h"

#include <string.h>
#include <strings.h>

int pw_http1_view_eq(pw_http1_view v, const char *s)
{
    size_t n = strlen(s);
    return v.n == n && strncasecmp(v.p, s, n) == 0;
}

/* RFC 9110 §5.6.2 token characters. */
static int is_tchar(unsigned char c)
{
    if (c >= '0' && c <= '9') return 1;
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Finds "\r\n" starting at p; returns the index of '\r' or -1. Bare LF is rejected as invalid
 * by the caller (we are strict: this port also speaks HTTP/2). */
static long find_crlf(const uint8_t *b, size_t from, size_t len)
{
    for (size_t i = from; i + 1 < len; i++) {
        if (b[i] == '\r') return b[i + 1] == '\n' ? (long)i : -2;
        if (b[i] == '\n') return -2;
    }
    return -1;
}

long pw_http1_parse_request(const uint8_t *b, size_t len, pw_http1_request *req)
{
    memset(req, 0, sizeof *req);
    size_t scan = len < PW_HTTP1_HEAD_BYTES_MAX ? len : PW_HTTP1_HEAD_BYTES_MAX;
    long eol = find_crlf(b, 0, scan);
    if (eol == -2) return PW_HTTP1_INVALID;
    if (eol < 0) return len >= PW_HTTP1_HEAD_BYTES_MAX ? PW_HTTP1_TOO_LARGE : PW_HTTP1_PARTIAL;
    /* request-line = method SP request-target SP HTTP-version */
    size_t i = 0;
    while (i < (size_t)eol && is_tchar(b[i])) i++;
    if (i == 0 || i >= (size_t)eol || b[i] != ' ') return PW_HTTP1_INVALID;
    req->method = (pw_http1_view){(const char *)b, i};
    size_t t0 = ++i;
    while (i < (size_t)eol && b[i] > 0x20 && b[i] < 0x7f) i++;
    if (i == t0 || i >= (size_t)eol || b[i] != ' ') return PW_HTTP1_INVALID;
    req->target = (pw_http1_view){(const char *)b + t0, i - t0};
    i++;
    if ((size_t)eol - i != 8 || memcmp(b + i, "HTTP/1.", 7) != 0 ||
        (b[i + 7] != '0' && b[i + 7] != '1'))
        return PW_HTTP1_INVALID;
    req->minor_version = b[i + 7] - '0';
    req->keep_alive = req->minor_version == 1;
    size_t pos = (size_t)eol + 2;
    for (;;) {
        eol = find_crlf(b, pos, scan);
        if (eol == -2) return PW_HTTP1_INVALID;
        if (eol < 0) return len >= PW_HTTP1_HEAD_BYTES_MAX ? PW_HTTP1_TOO_LARGE : PW_HTTP1_PARTIAL;
        if ((size_t)eol == pos) return (long)pos + 2; /* blank line: end of head */
        if (req->nheaders == PW_HTTP1_HEADERS_MAX) return PW_HTTP1_TOO_LARGE;
        size_t k = pos;
        while (k < (size_t)eol && is_tchar(b[k])) k++;
        if (k == pos || k >= (size_t)eol || b[k] != ':') return PW_HTTP1_INVALID;
        pw_http1_view name = {(const char *)b + pos, k - pos};
        k++;
        while (k < (size_t)eol && (b[k] == ' ' || b[k] == '\t')) k++;
        size_t ve = (size_t)eol;
        while (ve > k && (b[ve - 1] == ' ' || b[ve - 1] == '\t')) ve--;
        for (size_t j = k; j < ve; j++)
            if ((b[j] < 0x20 && b[j] != '\t') || b[j] == 0x7f) return PW_HTTP1_INVALID;
        pw_http1_view val = {(const char *)b + k, ve - k};
        req->names[req->nheaders] = name;
        req->values[req->nheaders] = val;
        req->nheaders++;
        if (pw_http1_view_eq(name, "content-length")) {
            uint64_t v = 0;
            if (val.n == 0 || val.n > 18) return PW_HTTP1_INVALID;
            for (size_t j = 0; j < val.n; j++) {
                if (val.p[j] < '0' || val.p[j] > '9') return PW_HTTP1_INVALID;
                v = v * 10 + (uint64_t)(val.p[j] - '0');
            }
            /* Two lengths (RFC 9112 §6.3: a smuggling vector) are refused, even when equal. */
            if (req->has_length) return PW_HTTP1_INVALID;
            req->has_length = 1;
            req->content_length = v;
            if (v > 0) req->has_body = 1;
        } else if (pw_http1_view_eq(name, "transfer-encoding")) {
            req->has_body = 1;
            req->chunked = 1;
        } else if (pw_http1_view_eq(name, "connection")) {
            if (pw_http1_view_eq(val, "close")) req->keep_alive = 0;
            else if (pw_http1_view_eq(val, "keep-alive")) req->keep_alive = 1;
        }
        pos = (size_t)eol + 2;
    }
}
