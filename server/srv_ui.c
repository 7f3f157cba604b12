/* server/srv_ui: the dashboard's files (server/ui/), embedded in the binary at build time
 * (Makefile: build/gen/srv_ui_assets.S, .incbin) and served at / and /ui/<name>.
 *
 * Each file is served with its Content-Type, an ETag (XXH3-64 of its bytes; If-None-Match
 * answers 304), Cache-Control: no-cache (revalidate: cheap with the ETag, and a new build is
 * seen at once), gzip when the client accepts it (compressed once, at the first request, kept
 * for the process: the files total a few tens of KB), and the security headers: a strict
 * Content-Security-Policy (nothing but this origin's own files; no inline script or style),
 * nosniff, no framing, no referrer. --ui off: 404. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>
#include <zlib.h>

#include "core/rt_alloc.h"
#include "server/srv_api.h"
#include "server/srv_http.h"

/* The table the build writes: {name, data, end} per file, then a NULL row. */
typedef struct ui_file_row {
    const char *name;
    const unsigned char *data, *end;
} ui_file_row;
extern const ui_file_row srv_ui_files[];

/* Files the dashboard may have; more is a build mistake (a stray file in server/ui). */
#define UI_FILES_MAX 16u

#define UI_CSP                                                                        \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

typedef struct ui_file {
    const ui_file_row *row;
    const char *ctype;
    char etag[24];     /* "\"<16 hex>\"" */
    unsigned char *gz; /* rt_malloc'd once, or NULL (gzip failed: served plain) */
    size_t gz_len;
} ui_file;

static ui_file files[UI_FILES_MAX];
static size_t nfiles;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static const char *ctype_of(const char *name)
{
    static const struct {
        const char *ext, *ctype;
    } map[] = {{".html", "text/html; charset=utf-8"},
               {".css", "text/css; charset=utf-8"},
               {".js", "text/javascript; charset=utf-8"},
               {".svg", "image/svg+xml"},
               {".png", "image/png"},
               {".ico", "image/x-icon"}};
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof map / sizeof map[0]; i++)
        if (strcmp(dot, map[i].ext) == 0) return map[i].ctype;
    return "application/octet-stream";
}

/* gzip (RFC 1952) of src[0..n) into a new block; NULL when it fails (served plain then). */
static unsigned char *gzip_of(const unsigned char *src, size_t n, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return NULL;
    size_t cap = deflateBound(&z, (uLong)n);
    unsigned char *out = rt_malloc(cap);
    if (out) {
        z.next_in = (Bytef *)(uintptr_t)src;
        z.avail_in = (uInt)n;
        z.next_out = out;
        z.avail_out = (uInt)cap;
        if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
            rt_free(out);
            out = NULL;
        } else *out_len = z.total_out;
    }
    deflateEnd(&z);
    return out;
}

static void load(void)
{
    for (const ui_file_row *r = srv_ui_files; r->name && nfiles < UI_FILES_MAX; r++) {
        ui_file *f = &files[nfiles++];
        size_t n = (size_t)(r->end - r->data);
        f->row = r;
        f->ctype = ctype_of(r->name);
        snprintf(f->etag, sizeof f->etag, "\"%016llx\"",
                 (unsigned long long)XXH3_64bits(r->data, n));
        f->gz = gzip_of(r->data, n, &f->gz_len);
    }
}

static const ui_file *find(const char *name, size_t n)
{
    for (size_t i = 0; i < nfiles; i++)
        if (strlen(files[i].row->name) == n && memcmp(files[i].row->name, name, n) == 0)
            return &files[i];
    return NULL;
}

/* Whether the Accept-Encoding list names gzip (q=0 is not looked for: nobody sends it). */
static bool accepts_gzip(const srv_http_call *hc)
{
    pw_http1_view v = srv_http_req_header(hc, "accept-encoding");
    for (size_t i = 0; i + 4 <= v.n; i++)
        if (strncmp(v.p + i, "gzip", 4) == 0) return true;
    return false;
}

static void security_headers(srv_http_call *hc)
{
    srv_http_header(hc, "Content-Security-Policy", UI_CSP);
    srv_http_header(hc, "X-Content-Type-Options", "nosniff");
    srv_http_header(hc, "X-Frame-Options", "DENY");
    srv_http_header(hc, "Referrer-Policy", "no-referrer");
}

srv_http_when srv_ui_handle(srv_http_call *hc)
{
    if (srv_api.ui == SRV_UI_OFF) {
        srv_http_text(hc, 404, "Not Found", "the dashboard is off (ringqd --ui off)\n");
        return SRV_HTTP_NOW;
    }
    if (!pw_http1_view_eq(hc->method, "GET") && !pw_http1_view_eq(hc->method, "HEAD")) {
        srv_http_text(hc, 405, "Method Not Allowed", "method not allowed\n");
        return SRV_HTTP_NOW;
    }
    pthread_once(&once, load);
    pw_http1_view p = hc->path;
    const ui_file *f = NULL;
    if (pw_http1_view_eq(p, "/") || pw_http1_view_eq(p, "/ui") || pw_http1_view_eq(p, "/ui/"))
        f = find("index.html", 10);
    else if (p.n > 4) f = find(p.p + 4, p.n - 4); /* "/ui/<name>" */
    if (!f) {
        srv_http_text(hc, 404, "Not Found", "not found\n");
        return SRV_HTTP_NOW;
    }
    security_headers(hc);
    srv_http_header(hc, "ETag", f->etag);
    srv_http_header(hc, "Cache-Control", "no-cache");
    srv_http_header(hc, "Vary", "Accept-Encoding");
    hc->ctype = f->ctype;
    pw_http1_view inm = srv_http_req_header(hc, "if-none-match");
    if (inm.p && pw_http1_view_eq(inm, f->etag)) {
        hc->status = 304, hc->reason = "Not Modified";
        return SRV_HTTP_NOW;
    }
    hc->status = 200, hc->reason = "OK";
    bool gz = f->gz && accepts_gzip(hc);
    if (gz) srv_http_header(hc, "Content-Encoding", "gzip");
    const unsigned char *data = gz ? f->gz : f->row->data;
    size_t n = gz ? f->gz_len : (size_t)(f->row->end - f->row->data);
    if (buf_append(&hc->body_out, data, n) < 0)
        srv_http_text(hc, 503, "Service Unavailable", "out of memory\n");
    return SRV_HTTP_NOW;
}
