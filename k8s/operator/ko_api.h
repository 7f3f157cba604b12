/* ringq-operator: calls to the Kubernetes API over HTTPS with libcurl, JSON bodies (jansson).
 *
 * One ko_api per thread (it holds one curl easy handle, which keeps its connection alive
 * between calls); the ko_conn_cfg it is created from is borrowed and must outlive it.
 * Errors: negative errno values. -EIO: no HTTP answer (connect, TLS, timeout; the curl message
 * is logged); -EPROTO: an answer whose body is not JSON; -ENOMEM; -ECANCELED: ko_api_cancel_all
 * was called. Any HTTP status is a success of the call: the caller reads *status. */
#ifndef KO_API_H
#define KO_API_H

#include <stdbool.h>

#include <jansson.h>

#include "k8s/operator/ko_config.h"

typedef struct ko_api ko_api;

/* Connect limit and one unary call's limit (ms): an API server answers in milliseconds; the
 * bound keeps a worker from hanging on a dead connection. */
#define KO_API_CONNECT_TIMEOUT_MS 5000L
#define KO_API_CALL_TIMEOUT_MS 30000L
/* Longest watch event line, bytes: objects are at most 1.5 MiB in etcd; twice that is a
 * broken stream. */
#define KO_WATCH_LINE_BYTES_MAX (3u << 20)
/* One watch request's limit, ms: the server ends a watch at its timeoutSeconds (the informers
 * ask for at most --resync-s); this bounds a connection that died without a word. */
#define KO_WATCH_MAX_MS (15L * 60 * 1000)
/* Largest response body of a unary call, bytes (a list of many objects). */
#define KO_API_BODY_BYTES_MAX (64u << 20)

/* Global curl state; once, before any thread starts. 0 or -ENOMEM. */
int ko_api_global_init(void);
/* Makes every call in progress and every later call fail with -ECANCELED (shutdown). */
void ko_api_cancel_all(void);
bool ko_api_cancelled(void);

/* NULL on -ENOMEM. */
ko_api *ko_api_create(const ko_conn_cfg *cfg);
void ko_api_destroy(ko_api *a);

/* `method` "GET" | "POST" | "PUT" | "PATCH" | "DELETE"; `path` from the server's root
 * ("/api/v1/namespaces/x/configmaps/y"); `body` borrowed (NULL: none); `ctype` its content
 * type (NULL: application/json). *out: the response (a new reference; NULL when empty). */
int ko_api_call(ko_api *a, const char *method, const char *path, json_t *body, const char *ctype,
                long *status, json_t **out);

/* Called once per watch event ({"type":..., "object":...}, borrowed for the call). Return 0 to
 * go on, anything else to end the watch (ko_api_watch then returns 0). */
typedef int (*ko_watch_fn)(json_t *event, void *ud);
/* GETs `path` (which carries watch=true and its parameters) and calls `fn` per line until the
 * server ends the stream, fn asks to stop or the call is cancelled. *status: the HTTP status
 * (a non-200 answer's body is not read as events). */
int ko_api_watch(ko_api *a, const char *path, ko_watch_fn fn, void *ud, long *status);

#endif
