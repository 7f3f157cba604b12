/* ringq-operator: list + watch (ko_informer.h). */
#include "k8s/operator/ko_informer.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "k8s/operator/ko_api.h"
#include "k8s/operator/ko_log.h"
#include "k8s/operator/ko_metrics.h"

_Static_assert(KO_WATCH_TIMEOUT_S_MAX * 1000L + 60000L < KO_WATCH_MAX_MS,
               "a watch must end by its timeoutSeconds before curl cuts it");

struct ko_informer {
    ko_informer_cfg cfg;
    const ko_conn_cfg *conn;
    ko_api *api;
    pthread_t th;
    char rv[64];   /* the resourceVersion we are at */
    bool expired;  /* the watch answered 410 */
    char sel[512]; /* label selector, URL-escaped */
};

static void ko_inf_sleep_ms(unsigned ms)
{
    for (unsigned left = ms; left > 0 && !ko_api_cancelled();) {
        unsigned step = left < 100 ? left : 100;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)step * 1000000L};
        nanosleep(&ts, NULL);
        left -= step;
    }
}

static void ko_inf_set_rv(ko_informer *inf, json_t *obj)
{
    const char *rv = json_string_value(
        json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
    if (rv && strlen(rv) < sizeof inf->rv) strcpy(inf->rv, rv);
}

static int ko_inf_list(ko_informer *inf)
{
    char path[KO_PATH_MAX];
    snprintf(path, sizeof path, "%s%s%s", inf->cfg.path, inf->sel[0] ? "?labelSelector=" : "",
             inf->sel);
    long status;
    json_t *list;
    int r = ko_api_call(inf->api, "GET", path, NULL, NULL, &status, &list);
    if (r) return r;
    if (status != 200) {
        char st[16];
        snprintf(st, sizeof st, "%ld", status);
        ko_log(KO_WARN, "list refused", "resource", inf->cfg.name, "status", st, NULL);
        json_decref(list);
        return -EIO;
    }
    atomic_fetch_add(&ko_m.lists, 1);
    ko_inf_set_rv(inf, list);
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(list, "items"), i, it) inf->cfg.fn("SYNC", it, inf->cfg.ud);
    json_decref(list);
    ko_log(KO_DEBUG, "listed", "resource", inf->cfg.name, "resourceVersion", inf->rv, NULL);
    return 0;
}

static int ko_inf_on_event(json_t *ev, void *ud)
{
    ko_informer *inf = ud;
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_t *obj = json_object_get(ev, "object");
    if (!type || !json_is_object(obj)) return 0;
    if (strcmp(type, "ERROR") == 0) {
        json_int_t code = json_integer_value(json_object_get(obj, "code"));
        if (code == 410) inf->expired = true;
        ko_log(KO_INFO, "watch error", "resource", inf->cfg.name, "reason",
               json_string_value(json_object_get(obj, "reason")), NULL);
        return 1;
    }
    ko_inf_set_rv(inf, obj);
    if (strcmp(type, "BOOKMARK") == 0) {
        atomic_fetch_add(&ko_m.watch_bookmarks, 1);
        return 0;
    }
    atomic_fetch_add(&ko_m.watch_events, 1);
    inf->cfg.fn(type, obj, inf->cfg.ud);
    return 0;
}

/* Watches from inf->rv until the server ends it. 0: watch again; -ESTALE (410) or -EPROTO
 * (another refusal): list again; -EIO (the connection failed): watch again after a pause. */
static int ko_inf_watch(ko_informer *inf, unsigned timeout_s)
{
    char path[KO_PATH_MAX];
    snprintf(path, sizeof path,
             "%s?watch=true&allowWatchBookmarks=true&resourceVersion=%s&timeoutSeconds=%u%s%s",
             inf->cfg.path, inf->rv, timeout_s, inf->sel[0] ? "&labelSelector=" : "", inf->sel);
    inf->expired = false;
    long status;
    int r = ko_api_watch(inf->api, path, ko_inf_on_event, inf, &status);
    if (r) return r;
    if (status == 410) inf->expired = true;
    if (inf->expired) {
        atomic_fetch_add(&ko_m.watch_expired, 1);
        ko_log(KO_INFO, "watch expired (410 Gone): listing again", "resource", inf->cfg.name,
               "resourceVersion", inf->rv, NULL);
        return -ESTALE;
    }
    return status == 200 ? 0 : -EPROTO;
}

static uint64_t ko_inf_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec;
}

static void *ko_inf_main(void *arg)
{
    ko_informer *inf = arg;
    unsigned retry_ms = KO_INFORMER_RETRY_MIN_MS;
    while (!ko_api_cancelled()) {
        if (ko_inf_list(inf) != 0) {
            ko_inf_sleep_ms(retry_ms);
            retry_ms = retry_ms * 2 < KO_INFORMER_RETRY_MAX_MS ? retry_ms * 2
                                                               : KO_INFORMER_RETRY_MAX_MS;
            continue;
        }
        retry_ms = KO_INFORMER_RETRY_MIN_MS;
        uint64_t resync_at = ko_inf_now_s() + inf->cfg.resync_s;
        while (!ko_api_cancelled()) {
            uint64_t now = ko_inf_now_s();
            if (now >= resync_at) break; /* resync: list again */
            uint64_t left = resync_at - now;
            int r = ko_inf_watch(
                inf, (unsigned)(left < KO_WATCH_TIMEOUT_S_MAX ? left : KO_WATCH_TIMEOUT_S_MAX));
            if (r == -ESTALE) break;
            if (r == 0) {
                retry_ms = KO_INFORMER_RETRY_MIN_MS;
                continue;
            }
            /* A cut connection: watch again from where we were (client-go's reflector does
             * the same); a refusal: list again. Either after a pause. */
            ko_inf_sleep_ms(retry_ms);
            retry_ms = retry_ms * 2 < KO_INFORMER_RETRY_MAX_MS ? retry_ms * 2
                                                               : KO_INFORMER_RETRY_MAX_MS;
            if (r != -EIO) break;
        }
    }
    return NULL;
}

int ko_informer_start(ko_informer **out, const ko_conn_cfg *conn, const ko_informer_cfg *cfg)
{
    ko_informer *inf = calloc(1, sizeof *inf);
    if (!inf) return -ENOMEM;
    inf->cfg = *cfg;
    inf->conn = conn;
    inf->api = ko_api_create(conn);
    if (cfg->label_selector) {
        char *esc = curl_easy_escape(NULL, cfg->label_selector, 0);
        if (esc && strlen(esc) < sizeof inf->sel) strcpy(inf->sel, esc);
        curl_free(esc);
    }
    int r = inf->api ? pthread_create(&inf->th, NULL, ko_inf_main, inf) : ENOMEM;
    if (r) {
        ko_api_destroy(inf->api);
        free(inf);
        return -r;
    }
    *out = inf;
    return 0;
}

void ko_informer_join(ko_informer *inf)
{
    if (!inf) return;
    pthread_join(inf->th, NULL);
    ko_api_destroy(inf->api);
    free(inf);
}
