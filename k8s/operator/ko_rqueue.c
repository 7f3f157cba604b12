/* ringq-operator: RingqQueue -> the queue's settings on the live broker, through
 * ringq.v1.Admin (libringq); status with its counts (ko_ctrl.h).
 *
 * The broker: spec.address when given (host:port), else the client Service of the cluster
 * the queue names, <spec.clusterRef>.<namespace>.svc:7070.
 * Deletion: the RingqQueue carries the finalizer KO_QUEUE_FINALIZER. When it is deleted, with
 * spec.deletionPolicy Retain (the default) the queue and its tasks stay on the broker; with
 * Delete the queue is deleted there (Admin.DeleteQueue, not forced: a queue with leased tasks
 * is retried with backoff until its leases end). Then the finalizer is removed and the object
 * goes. */
#include "k8s/operator/ko_ctrl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/ringq.h"
#include "k8s/operator/ko_kube.h"
#include "k8s/operator/ko_log.h"
#include "k8s/operator/ko_objects.h"

typedef struct ko_qspec {
    char queue[RQ_QUEUE_NAME_MAX];
    char addr[300];
    bool paused, delete_on_delete;
    rq_queue_settings set;
} ko_qspec;

static int ko_qspec_read(json_t *obj, ko_qspec *q, char *err, size_t errlen)
{
    memset(q, 0, sizeof *q);
    json_t *sp = json_object_get(obj, "spec");
    const char *queue = json_string_value(json_object_get(sp, "queue"));
    const char *pol = json_string_value(json_object_get(sp, "deletionPolicy"));
    if (!queue) queue = ko_meta(obj, "name");
    if (!queue || strlen(queue) >= sizeof q->queue) {
        snprintf(err, errlen, "spec.queue is missing or too long");
        return -EINVAL;
    }
    strcpy(q->queue, queue);
    int r = ko_broker_addr(obj, q->addr, sizeof q->addr, err, errlen);
    if (r) return r;
    q->paused = json_is_true(json_object_get(sp, "paused"));
    q->delete_on_delete = pol && strcmp(pol, "Delete") == 0;
    json_t *v;
    rq_queue_settings *s = &q->set;
#define KO_U(key, has, field)                                                          \
    if (json_is_integer(v = json_object_get(sp, key)) && json_integer_value(v) >= 0) { \
        s->has = true;                                                                 \
        s->v.field = (__typeof__(s->v.field))json_integer_value(v);                    \
    }
    KO_U("maxAttempts", has_max_attempts, max_attempts);
    KO_U("leaseMs", has_lease_ms, lease_ms);
    KO_U("backoffBaseMs", has_backoff_base_ms, backoff_base_ms);
    KO_U("backoffMaxMs", has_backoff_max_ms, backoff_max_ms);
    KO_U("dedupWindowMs", has_dedup_window_ms, dedup_window_ms);
#undef KO_U
    if (json_is_boolean(v = json_object_get(sp, "deadLetter"))) {
        s->has_dead_letter = true;
        s->v.dead_letter = json_is_true(v);
    }
    return 0;
}

typedef struct ko_qstatus {
    const rq_queue_info *info; /* NULL: the broker did not answer */
    const char *message;
} ko_qstatus;

static int ko_qstatus_mutate(json_t *obj, void *ud)
{
    const ko_qstatus *s = ud;
    json_t *before = json_deep_copy(json_object_get(obj, "status"));
    json_t *st = json_object_get(obj, "status");
    if (!json_is_object(st)) json_object_set_new(obj, "status", st = json_object());
    json_t *gen = json_object_get(json_object_get(obj, "metadata"), "generation");
    if (s->info) {
        json_object_set_new(st, "observedGeneration", json_integer(json_integer_value(gen)));
        json_object_set_new(st, "ready", json_integer((json_int_t)s->info->ready));
        json_object_set_new(st, "delayed", json_integer((json_int_t)s->info->delayed));
        json_object_set_new(st, "leased", json_integer((json_int_t)s->info->leased));
        json_object_set_new(st, "dead", json_integer((json_int_t)s->info->dead));
        json_object_set_new(st, "paused", json_boolean(s->info->paused));
    }
    int r = ko_condition_set(obj, "Ready", s->info != NULL, s->info ? "Configured" : "BrokerError",
                             s->message);
    bool same = !r && json_equal(before, st);
    json_decref(before);
    return r ? r : same ? 1 : 0;
}

/* Settings, pause state and counts on the broker. */
rq_client *ko_broker_connect(const char *addr, rq_status *st)
{
    rq_client_opts o = {.addr = addr,
                        .timeout_ms = KO_ADMIN_TIMEOUT_MS,
                        .connect_timeout_ms = KO_ADMIN_TIMEOUT_MS,
                        .fail_fast = true};
    return rq_client_create(&o, st);
}

int ko_broker_addr(json_t *obj, char *buf, size_t len, char *err, size_t errlen)
{
    json_t *sp = json_object_get(obj, "spec");
    const char *addr = json_string_value(json_object_get(sp, "address"));
    const char *cl = json_string_value(json_object_get(sp, "clusterRef"));
    int n = 0;
    if (addr) n = snprintf(buf, len, "%s", addr);
    else if (cl)
        n = snprintf(buf, len, "%s.%s.svc:%d", cl, ko_meta(obj, "namespace"), KO_RINGQ_PORT);
    if ((!addr && !cl) || n < 0 || (size_t)n >= len) {
        snprintf(err, errlen, "spec.clusterRef or spec.address is required (and short)");
        return -EINVAL;
    }
    return 0;
}

static int ko_broker_apply(const ko_qspec *q, rq_queue_info *info, rq_status *st)
{
    rq_client *cl = ko_broker_connect(q->addr, st);
    if (!cl) return -EHOSTUNREACH;
    int code = rq_configure_queue(cl, q->queue, &q->set, info, st);
    if (code == 0 && q->paused != info->paused)
        code = q->paused ? rq_pause_queue(cl, q->queue, info, st)
                         : rq_resume_queue(cl, q->queue, info, st);
    rq_client_destroy(cl);
    return code == 0 ? 0 : -EIO;
}

static int ko_broker_delete(const ko_qspec *q, rq_status *st)
{
    rq_client *cl = ko_broker_connect(q->addr, st);
    if (!cl) return -EHOSTUNREACH;
    int code = rq_delete_queue(cl, q->queue, false, NULL, st);
    rq_client_destroy(cl);
    return code == 0 || code == 5 /* NOT_FOUND: gone already */ ? 0 : -EIO;
}

static int ko_rqueue_finalize(ko_ctrl *c, json_t *obj, const ko_qspec *q, const char *ns,
                              const char *name)
{
    if (q->delete_on_delete) {
        rq_status st = {0};
        int r = ko_broker_delete(q, &st);
        if (r) {
            ko_log(KO_WARN, "RingqQueue: could not delete the queue", "namespace", ns, "name", name,
                   "queue", q->queue, "error", st.message, NULL);
            return r;
        }
        ko_log(KO_INFO, "RingqQueue: deleted the queue on the broker", "namespace", ns, "name",
               name, "queue", q->queue, NULL);
    }
    int r = ko_finalizer_set(c->api, KO_QUEUE, ns, name, KO_QUEUE_FINALIZER, false);
    return r == -ENOENT ? 0 : r;
}

int ko_rqueue_reconcile(ko_ctrl *c, const char *ns, const char *name)
{
    json_t *obj;
    int r = ko_get(c->api, KO_QUEUE, ns, name, &obj);
    if (r == -ENOENT) return 0;
    if (r) return r;
    ko_qspec q;
    char err[256] = "";
    r = ko_qspec_read(obj, &q, err, sizeof err);
    bool deleting = ko_meta(obj, "deletionTimestamp") != NULL;
    /* A spec we cannot read names no broker to clean: the finalizer just goes. */
    if (deleting && r) q.delete_on_delete = false;
    if (deleting) r = ko_rqueue_finalize(c, obj, &q, ns, name);
    json_decref(obj);
    if (deleting) return r;
    if (r) {
        ko_qstatus s = {.message = err};
        ko_update(c->api, KO_QUEUE, ns, name, "status", ko_qstatus_mutate, &s, NULL);
        return r;
    }
    r = ko_finalizer_set(c->api, KO_QUEUE, ns, name, KO_QUEUE_FINALIZER, true);
    if (r) return r;
    rq_queue_info info;
    rq_status st = {0};
    r = ko_broker_apply(&q, &info, &st);
    char msg[700];
    snprintf(msg, sizeof msg, r ? "broker %s: %s" : "queue configured on %s%s", q.addr,
             r ? st.message : "");
    ko_qstatus s = {.info = r ? NULL : &info, .message = msg};
    int w = ko_update(c->api, KO_QUEUE, ns, name, "status", ko_qstatus_mutate, &s, NULL);
    if (r) {
        ko_log(KO_WARN, "RingqQueue not reconciled", "namespace", ns, "name", name, "error", msg,
               NULL);
        return r;
    }
    ko_log(KO_DEBUG, "RingqQueue reconciled", "namespace", ns, "name", name, "queue", q.queue,
           NULL);
    if (w && w != -ENOENT) return w;
    return (int)c->queue_refresh_ms;
}
