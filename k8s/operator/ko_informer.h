/* ringq-operator: list + watch of one resource, on a thread of its own.
 *
 *   list (resourceVersion R) -> fn("SYNC", item) for every item
 *   watch from R (allowWatchBookmarks, timeoutSeconds) -> fn(type, object) per event; R moves
 *     with every event and BOOKMARK; when the server ends the watch, watch again from R;
 *   410 Gone (an ERROR event or the HTTP status: R left the server's history) -> list again;
 *   every resync_s -> list again (each object is handed to fn: the periodic resync that
 *     corrects drift nobody was told about);
 *   other errors -> list again after a pause that doubles from 1 s to 30 s.
 * fn runs on the informer's thread; it must not block for long (it adds keys to a queue). */
#ifndef KO_INFORMER_H
#define KO_INFORMER_H

#include <jansson.h>

#include "k8s/operator/ko_config.h"

/* Longest API path with its query, bytes. */
#define KO_PATH_MAX 1024
/* Longest watch asked for (timeoutSeconds), s: client-go picks 5 to 10 minutes; a longer
 * resync period is served by several watches in a row. Below KO_WATCH_MAX_MS. */
#define KO_WATCH_TIMEOUT_S_MAX 600u
/* Pause after a failed list or watch: 1 s doubling to 30 s (the API server may be restarting). */
#define KO_INFORMER_RETRY_MIN_MS 1000u
#define KO_INFORMER_RETRY_MAX_MS 30000u

/* type: "SYNC" (from a list), "ADDED", "MODIFIED", "DELETED". obj borrowed for the call. */
typedef void (*ko_informer_fn)(const char *type, json_t *obj, void *ud);

typedef struct ko_informer_cfg {
    const char *name;           /* for logs: "ringqclusters" */
    const char *path;           /* collection path: "/apis/ringq.dev/v1alpha1/ringqclusters" */
    const char *label_selector; /* NULL: every object */
    unsigned resync_s;          /* list again this often (the watch's timeoutSeconds) */
    ko_informer_fn fn;
    void *ud;
} ko_informer_cfg;

typedef struct ko_informer ko_informer;

/* Starts the thread. cfg's strings and conn are borrowed for the informer's life. 0, -ENOMEM,
 * -errno of pthread_create. */
int ko_informer_start(ko_informer **out, const ko_conn_cfg *conn, const ko_informer_cfg *cfg);
/* Joins the thread; call after ko_api_cancel_all (which ends its calls). NULL-safe. */
void ko_informer_join(ko_informer *inf);

#endif
