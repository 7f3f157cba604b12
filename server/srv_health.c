#include "core/rt_alloc.h"
#include "server/srv_health.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "server/srv_msg.h"

typedef struct health_entry {
    char name[128];
    _Atomic int status;
} health_entry;

static health_entry g_services[SRV_HEALTH_SERVICES_MAX];
static int g_nservices;

/* A Watch stream on this shard. */
typedef struct watcher {
    pw_grpc_call *call;
    int idx;       /* service index, or -1 for an unknown name */
    int last_sent; /* last status sent, or STATUS_NONE_SENT */
    struct watcher *next;
} watcher;
static _Thread_local watcher *t_watchers;

int srv_health_register(const char *service, srv_health_status st)
{
    if (g_nservices >= SRV_HEALTH_SERVICES_MAX) return -ENOSPC;
    if (strlen(service) >= sizeof g_services[0].name) return -EINVAL;
    for (int i = 0; i < g_nservices; i++)
        if (strcmp(g_services[i].name, service) == 0) return -EEXIST;
    strcpy(g_services[g_nservices].name, service);
    atomic_store(&g_services[g_nservices].status, (int)st);
    g_nservices++;
    return 0;
}

void srv_health_set_all(srv_health_status st)
{
    for (int i = 0; i < g_nservices; i++) atomic_store(&g_services[i].status, (int)st);
}

/* A watcher's last_sent before any status went out: no status has this value. */
#define STATUS_NONE_SENT (-1)
/* find_service's answer for a name nobody registered (indexes are >= 0). */
#define SERVICE_NONE (-1)

/* The index of the registered service `name`, or SERVICE_NONE. */
static int find_service(const uint8_t *name, size_t len)
{
    for (int i = 0; i < g_nservices; i++)
        if (strlen(g_services[i].name) == len && memcmp(g_services[i].name, name, len) == 0)
            return i;
    return SERVICE_NONE;
}

/* A HealthCheckResponse with status `st` (0, UNKNOWN, is not written: proto3). */
static int send_status(pw_grpc_call *c, int st)
{
    pwm_grpc_health_v1_HealthCheckResponse r = {.status = st};
    return srv_msg_send(c, &pwm_grpc_health_v1_HealthCheckResponse_desc, &r, 0);
}

static void on_check(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    pwm_grpc_health_v1_HealthCheckRequest req;
    pw_msg_arena a;
    if (srv_msg_decode(c, &pwm_grpc_health_v1_HealthCheckRequest_desc, &req, msg, len, &a) < 0)
        return;
    pw_msg_arena_deinit(&a); /* no sub-messages: only the service view, borrowed from msg */
    int i = find_service((const uint8_t *)srv_chars(req.service), req.service.len);
    if (i == SERVICE_NONE) {
        pw_grpc_call_finish(c, PW_GRPC_NOT_FOUND, "unknown service");
        return;
    }
    pwm_grpc_health_v1_HealthCheckResponse r = {.status = atomic_load(&g_services[i].status)};
    srv_msg_reply(c, &pwm_grpc_health_v1_HealthCheckResponse_desc, &r);
}

static void on_list(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    pwm_grpc_health_v1_HealthListRequest req;
    pw_msg_arena a;
    if (srv_msg_decode(c, &pwm_grpc_health_v1_HealthListRequest_desc, &req, msg, len, &a) < 0)
        return;
    pw_msg_arena_deinit(&a);
    pwm_grpc_health_v1_HealthCheckResponse st[SRV_HEALTH_SERVICES_MAX];
    pwm_grpc_health_v1_HealthListResponse_StatusesEntry e[SRV_HEALTH_SERVICES_MAX];
    int n = g_nservices;
    for (int i = 0; i < n; i++) {
        st[i] = (pwm_grpc_health_v1_HealthCheckResponse){
            .status = atomic_load(&g_services[i].status)};
        e[i] = (pwm_grpc_health_v1_HealthListResponse_StatusesEntry){
            .key = {(const uint8_t *)g_services[i].name, strlen(g_services[i].name)},
            .value = &st[i]};
    }
    pwm_grpc_health_v1_HealthListResponse r = {.statuses = e, .statuses_count = (size_t)n};
    srv_msg_reply(c, &pwm_grpc_health_v1_HealthListResponse_desc, &r);
}

static void watcher_remove(pw_grpc_call *c)
{
    for (watcher **pp = &t_watchers; *pp; pp = &(*pp)->next) {
        if ((*pp)->call == c) {
            watcher *w = *pp;
            *pp = w->next;
            pw_grpc_call_unref(w->call);
            rt_free(w);
            return;
        }
    }
}

static void on_watch(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    pwm_grpc_health_v1_HealthCheckRequest req;
    pw_msg_arena a;
    if (srv_msg_decode(c, &pwm_grpc_health_v1_HealthCheckRequest_desc, &req, msg, len, &a) < 0)
        return;
    pw_msg_arena_deinit(&a);
    watcher *w = rt_calloc(1, sizeof *w);
    if (!w) {
        pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    w->call = c;
    w->idx = find_service((const uint8_t *)srv_chars(req.service), req.service.len);
    int st = w->idx == SERVICE_NONE ? SRV_HEALTH_SERVICE_UNKNOWN
                                    : atomic_load(&g_services[w->idx].status);
    pw_grpc_call_ref(c);
    w->next = t_watchers;
    t_watchers = w;
    /* A first status that could not be sent (no memory, output full) goes out with the next
     * notify: last_sent stays one no status has. */
    w->last_sent = send_status(c, st) == 0 ? st : STATUS_NONE_SENT;
}

static void on_watch_cancel(pw_grpc_call *c, pw_grpc_status st) { watcher_remove(c); }

void srv_health_notify_shard(void)
{
    for (watcher *w = t_watchers; w; w = w->next) {
        if (w->idx < 0) continue;
        int st = atomic_load(&g_services[w->idx].status);
        if (st != w->last_sent && send_status(w->call, st) == 0) w->last_sent = st;
    }
}

void srv_health_drain_shard(void)
{
    srv_health_notify_shard();
    while (t_watchers) {
        pw_grpc_call *c = t_watchers->call;
        pw_grpc_call_finish(c, PW_GRPC_UNAVAILABLE, "server is shutting down");
        watcher_remove(c);
    }
}

int srv_health_add_methods(pw_grpc_server *s)
{
    static const pw_grpc_method m[] = {
        {.path = "/grpc.health.v1.Health/Check", .kind = PW_GRPC_UNARY, .on_message = on_check},
        {.path = "/grpc.health.v1.Health/List", .kind = PW_GRPC_UNARY, .on_message = on_list},
        {.path = "/grpc.health.v1.Health/Watch",
         .kind = PW_GRPC_SERVER_STREAMING,
         .on_message = on_watch,
         .on_cancel = on_watch_cancel},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        int r = pw_grpc_server_add_method(s, &m[i]);
        if (r < 0) return r;
    }
    return 0;
}
