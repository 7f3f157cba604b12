/* ringq-operator: RingqCluster -> ConfigMap, Services, StatefulSet, PDB; pods rolled one at a
 * time; status conditions (ko_ctrl.h).
 *
 * Rollout: the StatefulSet's updateStrategy is OnDelete, so a new template (a new config hash)
 * changes no pod by itself. While pods of an older revision exist (their
 * controller-revision-hash label differs from status.updateRevision) the operator deletes ONE
 * of them, the highest ordinal first, and only when every pod of the cluster is Ready and none
 * is terminating: the deleted pod drains (preStop, then SIGTERM: health NOT_SERVING, calls in
 * flight finish, final group commit) and exits; the StatefulSet controller then creates it
 * again at the new revision on the same volume, and the next pod goes only once it is Ready. */
#include "k8s/operator/ko_ctrl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "k8s/operator/ko_kube.h"
#include "k8s/operator/ko_log.h"
#include "k8s/operator/ko_metrics.h"
#include "k8s/operator/ko_objects.h"

/* Desired into current: everything but metadata replaced; our labels and owner set. */
static int ko_apply_mutate(json_t *cur, void *ud)
{
    json_t *want = ud;
    json_t *wm = json_object_get(want, "metadata"), *cm = json_object_get(cur, "metadata");
    if (ko_json_subset(want, cur)) return 1;
    const char *k;
    json_t *v;
    json_object_foreach(want, k, v)
    {
        if (strcmp(k, "metadata") != 0) json_object_set(cur, k, v);
    }
    json_t *labels = json_object_get(cm, "labels");
    if (!json_is_object(labels)) json_object_set_new(cm, "labels", labels = json_object());
    json_object_update(labels, json_object_get(wm, "labels"));
    json_object_set(cm, "ownerReferences", json_object_get(wm, "ownerReferences"));
    return 0;
}

/* Creates or corrects one owned object. */
static int ko_apply(ko_api *a, ko_kind_id k, json_t *want, json_t **live)
{
    const char *ns = ko_meta(want, "namespace"), *name = ko_meta(want, "name");
    json_t *cur;
    int r = ko_get(a, k, ns, name, &cur);
    if (r == -ENOENT) {
        char path[KO_PATH_MAX];
        ko_path(path, sizeof path, k, ns, NULL, NULL);
        long status;
        r = ko_api_call(a, "POST", path, want, NULL, &status, live);
        if (r) return r;
        if (status == 201 || status == 200) {
            atomic_fetch_add(&ko_m.objects_created, 1);
            ko_log(KO_INFO, "created", "kind", ko_kinds[k].kind, "namespace", ns, "name", name,
                   NULL);
            return 0;
        }
        json_decref(*live);
        *live = NULL;
        return status == 409 ? -EAGAIN : -EIO; /* 409: created meanwhile; next round updates */
    }
    if (r) return r;
    if (k == KO_STATEFULSET) { /* immutable after creation: keep what exists */
        json_t *ws = json_object_get(want, "spec"), *cs = json_object_get(cur, "spec");
        json_object_set(ws, "volumeClaimTemplates", json_object_get(cs, "volumeClaimTemplates"));
    }
    bool same = ko_json_subset(want, cur);
    json_decref(cur);
    if (same) return ko_get(a, k, ns, name, live);
    r = ko_update(a, k, ns, name, NULL, ko_apply_mutate, want, live);
    if (!r) {
        atomic_fetch_add(&ko_m.objects_updated, 1);
        ko_log(KO_INFO, "corrected", "kind", ko_kinds[k].kind, "namespace", ns, "name", name, NULL);
    }
    return r;
}

static bool ko_pod_ready(json_t *pod)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(json_object_get(pod, "status"), "conditions"), i, c)
    {
        const char *t = json_string_value(json_object_get(c, "type"));
        const char *s = json_string_value(json_object_get(c, "status"));
        if (t && s && strcmp(t, "Ready") == 0) return strcmp(s, "True") == 0;
    }
    return false;
}

/* A StatefulSet pod's ordinal: the number after the last '-' of its name; 0 for a name
 * without one (not a StatefulSet pod's: it goes last). */
static long ko_ordinal(json_t *pod)
{
    const char *n = ko_meta(pod, "name"), *dash = n ? strrchr(n, '-') : NULL;
    return dash ? strtol(dash + 1, NULL, 10) : 0;
}

typedef struct ko_roll {
    int ready, old, total;
    bool rolling;  /* a pod was deleted now or one is on its way */
    char msg[256]; /* what the rollout waits for */
} ko_roll;

/* One step of the rollout (file comment). */
static int ko_roll_step(ko_api *a, json_t *cluster, json_t *sts, ko_roll *st)
{
    const char *ns = ko_meta(cluster, "namespace"), *name = ko_meta(cluster, "name");
    const char *rev = json_string_value(
        json_object_get(json_object_get(sts, "status"), "updateRevision"));
    char sel[512], path[KO_PATH_MAX];
    ko_selector(name, sel, sizeof sel);
    char *esc = curl_easy_escape(NULL, sel, 0);
    if (!esc) return -ENOMEM;
    ko_path(path, sizeof path, KO_POD, ns, NULL, NULL);
    size_t n = strlen(path);
    snprintf(path + n, sizeof path - n, "?labelSelector=%s", esc);
    curl_free(esc);
    long status;
    json_t *list;
    int r = ko_api_call(a, "GET", path, NULL, NULL, &status, &list);
    if (r) return r;
    if (status != 200) {
        json_decref(list);
        return -EIO;
    }
    json_t *victim = NULL, *pod;
    bool blocked = false;
    size_t i;
    json_array_foreach(json_object_get(list, "items"), i, pod)
    {
        st->total++;
        bool ready = ko_pod_ready(pod) && !ko_meta(pod, "deletionTimestamp");
        st->ready += ready;
        if (!ready) {
            blocked = true;
            snprintf(st->msg, sizeof st->msg, "waiting for pod %s to be Ready",
                     ko_meta(pod, "name"));
        }
        const char *prev = json_string_value(
            json_object_get(json_object_get(json_object_get(pod, "metadata"), "labels"),
                            "controller-revision-hash"));
        if (rev && (!prev || strcmp(prev, rev) != 0)) {
            st->old++;
            if (!victim || ko_ordinal(pod) > ko_ordinal(victim)) victim = pod;
        }
    }
    json_int_t want = json_integer_value(json_object_get(json_object_get(sts, "spec"), "replicas"));
    if (st->total < want) {
        blocked = true;
        snprintf(st->msg, sizeof st->msg, "waiting for %lld pods (%d exist)", (long long)want,
                 st->total);
    }
    st->rolling = st->old > 0;
    if (victim && !blocked) {
        const char *pn = ko_meta(victim, "name");
        ko_path(path, sizeof path, KO_POD, ns, pn, NULL);
        json_t *resp = NULL;
        r = ko_api_call(a, "DELETE", path, NULL, NULL, &status, &resp);
        json_decref(resp);
        if (!r && (status == 200 || status == 202 || status == 404)) {
            atomic_fetch_add(&ko_m.pods_rolled, 1);
            ko_log(KO_INFO, "rollout: deleted a pod of the old revision (it drains first)",
                   "namespace", ns, "pod", pn, "revision", rev, NULL);
            snprintf(st->msg, sizeof st->msg, "rolling pod %s to revision %s", pn, rev);
        } else if (!r) {
            r = -EIO;
        }
    }
    json_decref(list);
    return r;
}

typedef struct ko_cluster_status {
    int err;          /* reconcile result so far (0 or negative errno) */
    const char *what; /* what failed */
    ko_roll roll;
    json_int_t replicas;
    const char *hash;
} ko_cluster_status;

static int ko_cluster_status_mutate(json_t *obj, void *ud)
{
    const ko_cluster_status *s = ud;
    json_t *before = json_deep_copy(json_object_get(obj, "status"));
    json_t *st = json_object_get(obj, "status");
    if (!json_is_object(st)) json_object_set_new(obj, "status", st = json_object());
    json_t *gen = json_object_get(json_object_get(obj, "metadata"), "generation");
    json_object_set_new(st, "observedGeneration", json_integer(json_integer_value(gen)));
    json_object_set_new(st, "replicas", json_integer(s->replicas));
    json_object_set_new(st, "readyReplicas", json_integer(s->roll.ready));
    json_object_set_new(st, "updatedReplicas", json_integer(s->roll.total - s->roll.old));
    json_object_set_new(st, "configHash", json_string(s->hash ? s->hash : ""));
    bool ready = !s->err && !s->roll.rolling && s->roll.ready == s->replicas;
    bool progressing = !s->err && (s->roll.rolling || s->roll.ready != s->replicas);
    char msg[300];
    snprintf(msg, sizeof msg, "%s: %s", s->what ? s->what : "", strerror(s->err < 0 ? -s->err : 0));
    int r = ko_condition_set(obj, "Ready", ready, ready ? "AllPodsReady" : "NotAllPodsReady",
                             ready ? "every broker pod is Ready at the current revision"
                                   : s->roll.msg);
    if (!r)
        r = ko_condition_set(obj, "Progressing", progressing,
                             s->roll.rolling ? "RollingUpdate"
                             : progressing   ? "PodsStarting"
                                             : "Stable",
                             s->roll.msg);
    if (!r)
        r = ko_condition_set(obj, "Degraded", s->err != 0,
                             s->err ? "ReconcileFailed" : "Reconciled", s->err ? msg : "");
    /* Unchanged but for the timestamps we did not move: no write (no event, no loop). */
    bool same = !r && json_equal(before, st);
    json_decref(before);
    return r ? r : same ? 1 : 0;
}

int ko_cluster_reconcile(ko_ctrl *c, const char *ns, const char *name)
{
    json_t *cluster;
    int r = ko_get(c->api, KO_CLUSTER, ns, name, &cluster);
    if (r == -ENOENT) return 0; /* deleted: the owned objects go with it (owner references) */
    if (r) return r;
    if (ko_meta(cluster, "deletionTimestamp")) {
        json_decref(cluster);
        return 0;
    }
    ko_cluster_status s = {0};
    s.replicas = json_integer_value(json_object_get(json_object_get(cluster, "spec"), "replicas"));
    if (!json_object_get(json_object_get(cluster, "spec"), "replicas")) s.replicas = 1;
    ko_desired d;
    char err[256] = "";
    s.err = ko_desired_build(cluster, &d, err, sizeof err);
    s.what = err;
    json_t *sts = NULL;
    for (int i = 0; !s.err && i < d.n; i++) {
        json_t *live = NULL;
        s.err = ko_apply(c->api, d.kind[i], d.obj[i], &live);
        if (s.err) {
            snprintf(err, sizeof err, "%s %s", ko_kinds[d.kind[i]].kind, ko_meta(d.obj[i], "name"));
            json_decref(live);
        } else if (d.kind[i] == KO_STATEFULSET) {
            sts = live;
        } else {
            json_decref(live);
        }
    }
    s.hash = d.n ? d.config_hash : NULL;
    if (!s.err && sts) {
        s.err = ko_roll_step(c->api, cluster, sts, &s.roll);
        if (s.err) snprintf(err, sizeof err, "rollout");
    }
    int w = ko_update(c->api, KO_CLUSTER, ns, name, "status", ko_cluster_status_mutate, &s, NULL);
    json_decref(sts);
    json_decref(cluster);
    ko_desired_free(&d);
    if (s.err) {
        ko_log(KO_WARN, "RingqCluster not reconciled", "namespace", ns, "name", name, "what", err,
               "error", strerror(-s.err), NULL);
        return s.err;
    }
    if (w && w != -ENOENT) return w;
    return s.roll.rolling || s.roll.ready != s.replicas ? (int)KO_ROLL_POLL_MS : 0;
}
