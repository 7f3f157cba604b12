/* ringq-operator: the Kubernetes API client (ko_api.h). */
#include "k8s/operator/ko_api.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "k8s/operator/ko_log.h"
#include "k8s/operator/ko_metrics.h"

ko_metrics ko_m;
static atomic_bool ko_cancel;

struct ko_api {
    const ko_conn_cfg *cfg;
    CURL *h;
};

typedef struct ko_buf {
    char *p;
    size_t n, cap, max;
    ko_watch_fn fn; /* watch: split into lines and call fn */
    void *ud;
    bool stop; /* fn asked to stop */
    bool too_big;
} ko_buf;

int ko_api_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -ENOMEM;
}
void ko_api_cancel_all(void) { atomic_store(&ko_cancel, true); }
bool ko_api_cancelled(void) { return atomic_load(&ko_cancel); }

ko_api *ko_api_create(const ko_conn_cfg *cfg)
{
    ko_api *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->cfg = cfg;
    a->h = curl_easy_init();
    if (!a->h) {
        free(a);
        return NULL;
    }
    return a;
}

void ko_api_destroy(ko_api *a)
{
    if (!a) return;
    curl_easy_cleanup(a->h);
    free(a);
}

static int ko_buf_add(ko_buf *b, const char *p, size_t n)
{
    if (b->n + n + 1 > b->max) {
        b->too_big = true;
        return -EFBIG;
    }
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) return -ENOMEM;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}

/* Watch streams: each complete line is one event. */
static void ko_buf_lines(ko_buf *b)
{
    size_t start = 0;
    for (size_t i = 0; i < b->n && !b->stop; i++) {
        if (b->p[i] != '\n') continue;
        if (i > start) {
            json_error_t je;
            json_t *ev = json_loadb(b->p + start, i - start, 0, &je);
            if (!ev) ko_log(KO_WARN, "watch: a line that is not JSON", "error", je.text, NULL);
            else if (b->fn(ev, b->ud) != 0) b->stop = true;
            json_decref(ev);
        }
        start = i + 1;
    }
    memmove(b->p, b->p + start, b->n - start);
    b->n -= start;
}

static size_t ko_on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    ko_buf *b = ud;
    size_t n = size * nmemb;
    if (ko_buf_add(b, p, n) != 0) return 0; /* ends the transfer: CURLE_WRITE_ERROR */
    if (b->fn) ko_buf_lines(b);
    return b->stop ? 0 : n;
}

static int ko_on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    return atomic_load(&ko_cancel) ? 1 : 0;
}

/* The Authorization header, from the token or the token file (read at each call). */
static int ko_auth_header(const ko_conn_cfg *c, struct curl_slist **hdrs)
{
    char *file_tok = NULL;
    size_t len = 0;
    const char *tok = c->token;
    if (!tok && c->token_file && ko_read_file(c->token_file, &file_tok, &len) == 0) {
        while (len > 0 && (file_tok[len - 1] == '\n' || file_tok[len - 1] == ' '))
            file_tok[--len] = 0;
        tok = file_tok;
    }
    int r = 0;
    if (tok) {
        char *h = NULL;
        if (asprintf(&h, "Authorization: Bearer %s", tok) < 0) r = -ENOMEM;
        struct curl_slist *n = r ? NULL : curl_slist_append(*hdrs, h);
        if (!r && !n) r = -ENOMEM;
        if (n) *hdrs = n;
        free(h);
    }
    free(file_tok);
    return r;
}

static void ko_tls_setup(CURL *h, const ko_conn_cfg *c)
{
    if (c->ca_data) {
        struct curl_blob b = {.data = c->ca_data, .len = c->ca_len, .flags = CURL_BLOB_COPY};
        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b);
    } else if (c->ca_file) {
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
    }
    if (c->cert_data) {
        struct curl_blob b = {.data = c->cert_data, .len = c->cert_len, .flags = CURL_BLOB_COPY};
        curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &b);
    } else if (c->cert_file) {
        curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert_file);
    }
    if (c->key_data) {
        struct curl_blob b = {.data = c->key_data, .len = c->key_len, .flags = CURL_BLOB_COPY};
        curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &b);
    } else if (c->key_file) {
        curl_easy_setopt(h, CURLOPT_SSLKEY, c->key_file);
    }
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, c->insecure ? 0L : 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, c->insecure ? 0L : 2L);
}

/* One exchange: body (may be NULL) out, answer into b. */
static int ko_perform(ko_api *a, const char *method, const char *path, const char *body,
                      const char *ctype, ko_buf *b, long timeout_ms, long *status)
{
    if (atomic_load(&ko_cancel)) return -ECANCELED;
    CURL *h = a->h;
    curl_easy_reset(h);
    char *url = NULL, *ct = NULL;
    if (asprintf(&url, "%s%s", a->cfg->server, path) < 0) return -ENOMEM;
    struct curl_slist *hdrs = curl_slist_append(NULL, "Accept: application/json");
    int r = hdrs ? ko_auth_header(a->cfg, &hdrs) : -ENOMEM;
    if (!r && body) {
        struct curl_slist *n = NULL;
        if (asprintf(&ct, "Content-Type: %s", ctype ? ctype : "application/json") >= 0)
            n = curl_slist_append(hdrs, ct);
        if (n) hdrs = n;
        else r = -ENOMEM;
    }
    if (!r) {
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "ringq-operator");
        if (body) curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, ko_on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, ko_on_progress);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, KO_API_CONNECT_TIMEOUT_MS);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        ko_tls_setup(h, a->cfg);
        CURLcode cc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
        if (atomic_load(&ko_cancel)) r = -ECANCELED;
        else if (cc == CURLE_WRITE_ERROR && b->stop) r = 0;
        else if (cc == CURLE_WRITE_ERROR && b->too_big) r = -EFBIG;
        else if (cc != CURLE_OK && !(b->fn && cc == CURLE_OPERATION_TIMEDOUT && *status == 200)) {
            ko_log(KO_WARN, "api: no answer", "method", method, "path", path, "error",
                   curl_easy_strerror(cc), NULL);
            atomic_fetch_add(&ko_m.api_errors, 1);
            r = -EIO;
        }
    }
    if (!r) {
        atomic_fetch_add(&ko_m.api_requests, 1);
        if (*status == 409) atomic_fetch_add(&ko_m.api_conflicts, 1);
    }
    curl_slist_free_all(hdrs);
    free(url);
    free(ct);
    return r;
}

int ko_api_call(ko_api *a, const char *method, const char *path, json_t *body, const char *ctype,
                long *status, json_t **out)
{
    *out = NULL;
    *status = 0;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (body && !text) return -ENOMEM;
    ko_buf b = {.max = KO_API_BODY_BYTES_MAX};
    int r = ko_perform(a, method, path, text, ctype, &b, KO_API_CALL_TIMEOUT_MS, status);
    if (!r && b.n > 0) {
        json_error_t je;
        *out = json_loadb(b.p, b.n, 0, &je);
        if (!*out) {
            ko_log(KO_WARN, "api: an answer that is not JSON", "path", path, "error", je.text,
                   NULL);
            r = -EPROTO;
        }
    }
    free(text);
    free(b.p);
    return r;
}

int ko_api_watch(ko_api *a, const char *path, ko_watch_fn fn, void *ud, long *status)
{
    *status = 0;
    ko_buf b = {.max = KO_WATCH_LINE_BYTES_MAX, .fn = fn, .ud = ud};
    int r = ko_perform(a, "GET", path, NULL, NULL, &b, KO_WATCH_MAX_MS, status);
    free(b.p);
    return r;
}
