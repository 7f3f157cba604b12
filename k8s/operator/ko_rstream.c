/* ringq-operator: RingqStream -> a stream on the live broker, through ringq.v1.Streams
 * (libringq); status with its counts (ko_ctrl.h).
 *
 * The spec is the stream's whole configuration: a field left out is the server's default.
 * CreateStream is idempotent for the same configuration; another one (ALREADY_EXISTS) is put in
 * place with UpdateStream, which refuses a change of retention (FAILED_PRECONDITION: reported in
 * the Ready condition, retried with backoff). Deletion works as for RingqQueue: the finalizer
 * KO_STREAM_FINALIZER; deletionPolicy Retain (default) keeps the stream and its messages,
 * Delete deletes it (with its consumers) on the broker. */
#include "k8s/operator/ko_ctrl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/ringq.h"
#include "k8s/operator/ko_kube.h"
#include "k8s/operator/ko_log.h"

/* gRPC status codes the reconcile tells apart (they come from the broker). */
#define KO_GRPC_NOT_FOUND 5
#define KO_GRPC_ALREADY_EXISTS 6

typedef struct ko_sspec {
    char addr[300];
    bool delete_on_delete;
    rq_stream_config cfg;
} ko_sspec;

static int ko_enum(json_t *sp, const char *key, const char *const *names, int n, int *out,
                   char *err, size_t errlen)
{
    const char *v = json_string_value(json_object_get(sp, key));
    if (!v) return 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(v, names[i]) == 0) {
            *out = i + 1;
            return 0;
        }
    }
    snprintf(err, errlen, "spec.%s: unknown value %s", key, v);
    return -EINVAL;
}

static uint64_t ko_u64(json_t *sp, const char *key)
{
    json_t *v = json_object_get(sp, key);
    return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

static int ko_sspec_read(json_t *obj, ko_sspec *s, char *err, size_t errlen)
{
    static const char *const retention[] = {"Limits", "Interest", "WorkQueue"};
    static const char *const discard[] = {"Old", "New"};
    memset(s, 0, sizeof *s);
    json_t *sp = json_object_get(obj, "spec");
    rq_stream_config *c = &s->cfg;
    const char *name = json_string_value(json_object_get(sp, "stream"));
    const char *desc = json_string_value(json_object_get(sp, "description"));
    const char *pol = json_string_value(json_object_get(sp, "deletionPolicy"));
    if (!name) name = ko_meta(obj, "name");
    if (!name || strlen(name) >= sizeof c->name) {
        snprintf(err, errlen, "spec.stream is missing or too long");
        return -EINVAL;
    }
    strcpy(c->name, name);
    json_t *subs = json_object_get(sp, "subjects");
    size_t i;
    json_t *v;
    json_array_foreach(subs, i, v)
    {
        const char *subj = json_string_value(v);
        if (!subj || strlen(subj) >= RQ_SUBJECT_MAX || c->nsubjects == RQ_STREAM_SUBJECTS_MAX) {
            snprintf(err, errlen, "spec.subjects[%zu]: not a subject, or more than %d", i,
                     RQ_STREAM_SUBJECTS_MAX);
            return -EINVAL;
        }
        strcpy(c->subjects[c->nsubjects++], subj);
    }
    int r = ko_enum(sp, "retention", retention, 3, &c->retention, err, errlen);
    if (!r) r = ko_enum(sp, "discard", discard, 2, &c->discard, err, errlen);
    if (r) return r;
    c->max_msgs = ko_u64(sp, "maxMsgs");
    c->max_bytes = ko_u64(sp, "maxBytes");
    c->max_age_ms = ko_u64(sp, "maxAgeMs");
    c->max_msgs_per_subject = ko_u64(sp, "maxMsgsPerSubject");
    c->has_duplicate_window_ms = json_is_integer(json_object_get(sp, "duplicateWindowMs"));
    c->duplicate_window_ms = ko_u64(sp, "duplicateWindowMs");
    c->max_msg_size = (uint32_t)ko_u64(sp, "maxMsgSize");
    c->allow_msg_ttl = json_is_true(json_object_get(sp, "allowMsgTtl"));
    if (desc) snprintf(c->description, sizeof c->description, "%s", desc);
    s->delete_on_delete = pol && strcmp(pol, "Delete") == 0;
    return ko_broker_addr(obj, s->addr, sizeof s->addr, err, errlen);
}

typedef struct ko_sstatus {
    const rq_stream_info *info; /* NULL: not applied */
    const char *reason, *message;
} ko_sstatus;

static int ko_sstatus_mutate(json_t *obj, void *ud)
{
    const ko_sstatus *s = ud;
    json_t *before = json_deep_copy(json_object_get(obj, "status"));
    json_t *st = json_object_get(obj, "status");
    if (!json_is_object(st)) json_object_set_new(obj, "status", st = json_object());
    json_t *gen = json_object_get(json_object_get(obj, "metadata"), "generation");
    if (s->info) {
        const rq_stream_info *i = s->info;
        json_object_set_new(st, "observedGeneration", json_integer(json_integer_value(gen)));
        json_object_set_new(st, "messages", json_integer((json_int_t)i->messages));
        json_object_set_new(st, "bytes", json_integer((json_int_t)i->bytes));
        json_object_set_new(st, "firstSeq", json_integer((json_int_t)i->first_seq));
        json_object_set_new(st, "lastSeq", json_integer((json_int_t)i->last_seq));
        json_object_set_new(st, "consumers", json_integer((json_int_t)i->consumers));
    }
    int r = ko_condition_set(obj, "Ready", s->info != NULL, s->reason, s->message);
    bool same = !r && json_equal(before, st);
    json_decref(before);
    return r ? r : same ? 1 : 0;
}

/* Create, or update when the broker has another configuration; then read the counts. */
static int ko_stream_apply(const ko_sspec *s, rq_stream_info *info, rq_status *st)
{
    rq_client *cl = ko_broker_connect(s->addr, st);
    if (!cl) return -EHOSTUNREACH;
    int code = rq_stream_create(cl, &s->cfg, NULL, st);
    if (code == KO_GRPC_ALREADY_EXISTS) code = rq_stream_update(cl, &s->cfg, NULL, st);
    if (code == 0) code = rq_stream_get(cl, s->cfg.name, NULL, info, st);
    rq_client_destroy(cl);
    return code == 0 ? 0 : -EIO;
}

static int ko_rstream_finalize(ko_ctrl *c, const ko_sspec *s, const char *ns, const char *name)
{
    if (s->delete_on_delete) {
        rq_status st = {0};
        rq_client *cl = ko_broker_connect(s->addr, &st);
        int code = cl ? rq_stream_delete(cl, s->cfg.name, &st) : RQ_ECONNECT;
        rq_client_destroy(cl);
        if (code != 0 && code != KO_GRPC_NOT_FOUND) {
            ko_log(KO_WARN, "RingqStream: could not delete the stream", "namespace", ns, "name",
                   name, "error", st.message, NULL);
            return -EIO;
        }
        ko_log(KO_INFO, "RingqStream: deleted the stream on the broker", "namespace", ns, "name",
               name, "stream", s->cfg.name, NULL);
    }
    int r = ko_finalizer_set(c->api, KO_STREAM, ns, name, KO_STREAM_FINALIZER, false);
    return r == -ENOENT ? 0 : r;
}

int ko_rstream_reconcile(ko_ctrl *c, const char *ns, const char *name)
{
    json_t *obj;
    int r = ko_get(c->api, KO_STREAM, ns, name, &obj);
    if (r == -ENOENT) return 0;
    if (r) return r;
    ko_sspec *s = malloc(sizeof *s); /* ~6 KiB of names: not on the worker's stack */
    if (!s) {
        json_decref(obj);
        return -ENOMEM;
    }
    char err[256] = "";
    r = ko_sspec_read(obj, s, err, sizeof err);
    bool deleting = ko_meta(obj, "deletionTimestamp") != NULL;
    json_decref(obj);
    if (deleting) {
        /* A spec we cannot read names no broker to clean: the finalizer just goes. */
        if (r) s->delete_on_delete = false;
        r = ko_rstream_finalize(c, s, ns, name);
    } else if (r) {
        ko_sstatus ss = {.reason = "InvalidSpec", .message = err};
        ko_update(c->api, KO_STREAM, ns, name, "status", ko_sstatus_mutate, &ss, NULL);
    } else if ((r = ko_finalizer_set(c->api, KO_STREAM, ns, name, KO_STREAM_FINALIZER, true)) ==
               0) {
        rq_stream_info info;
        rq_status st = {0};
        r = ko_stream_apply(s, &info, &st);
        char msg[700];
        snprintf(msg, sizeof msg, r ? "broker %s: %s" : "stream configured on %s%s", s->addr,
                 r ? st.message : "");
        ko_sstatus ss = {
            .info = r ? NULL : &info, .reason = r ? "BrokerError" : "Configured", .message = msg};
        int w = ko_update(c->api, KO_STREAM, ns, name, "status", ko_sstatus_mutate, &ss, NULL);
        if (r)
            ko_log(KO_WARN, "RingqStream not reconciled", "namespace", ns, "name", name, "error",
                   msg, NULL);
        else if (w && w != -ENOENT) r = w;
        else r = (int)c->queue_refresh_ms;
    }
    free(s);
    return r;
}
