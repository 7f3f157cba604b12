/* ringq-operator: resource paths, reads and conflict-retried writes (ko_kube.h). */
#include "k8s/operator/ko_kube.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "k8s/operator/ko_log.h"

const ko_kind ko_kinds[KO_KIND_COUNT] = {
    [KO_CLUSTER] = {"RingqCluster", KO_API_VERSION, "/apis/" KO_API_VERSION, "ringqclusters"},
    [KO_QUEUE] = {"RingqQueue", KO_API_VERSION, "/apis/" KO_API_VERSION, "ringqqueues"},
    [KO_STREAM] = {"RingqStream", KO_API_VERSION, "/apis/" KO_API_VERSION, "ringqstreams"},
    [KO_CONFIGMAP] = {"ConfigMap", "v1", "/api/v1", "configmaps"},
    [KO_SERVICE] = {"Service", "v1", "/api/v1", "services"},
    [KO_STATEFULSET] = {"StatefulSet", "apps/v1", "/apis/apps/v1", "statefulsets"},
    [KO_PDB] = {"PodDisruptionBudget", "policy/v1", "/apis/policy/v1", "poddisruptionbudgets"},
    [KO_POD] = {"Pod", "v1", "/api/v1", "pods"},
};

void ko_path(char *buf, size_t len, ko_kind_id k, const char *ns, const char *name, const char *sub)
{
    const ko_kind *kd = &ko_kinds[k];
    int n = ns ? snprintf(buf, len, "%s/namespaces/%s/%s", kd->prefix, ns, kd->plural)
               : snprintf(buf, len, "%s/%s", kd->prefix, kd->plural);
    if (n < 0 || (size_t)n >= len || !name) return;
    n += snprintf(buf + n, len - (size_t)n, "/%s", name);
    if (sub && n > 0 && (size_t)n < len) snprintf(buf + n, len - (size_t)n, "/%s", sub);
}

const char *ko_meta(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

int ko_get(ko_api *a, ko_kind_id k, const char *ns, const char *name, json_t **out)
{
    char path[KO_PATH_MAX];
    ko_path(path, sizeof path, k, ns, name, NULL);
    long status;
    int r = ko_api_call(a, "GET", path, NULL, NULL, &status, out);
    if (r) return r;
    if (status == 200 && *out) return 0;
    json_decref(*out);
    *out = NULL;
    return status == 404 ? -ENOENT : -EIO;
}

int ko_update(ko_api *a, ko_kind_id k, const char *ns, const char *name, const char *sub,
              ko_mutate_fn mutate, void *ud, json_t **out)
{
    char path[KO_PATH_MAX];
    ko_path(path, sizeof path, k, ns, name, sub);
    if (out) *out = NULL;
    for (int i = 0; i < KO_CONFLICT_RETRIES; i++) {
        json_t *obj;
        int r = ko_get(a, k, ns, name, &obj);
        if (r) return r;
        r = mutate(obj, ud);
        if (r != 0) {
            if (r == 1 && out) *out = obj;
            else json_decref(obj);
            return r < 0 ? r : 0;
        }
        long status;
        json_t *resp = NULL;
        r = ko_api_call(a, "PUT", path, obj, NULL, &status, &resp);
        json_decref(obj);
        if (!r && status == 409) {
            json_decref(resp);
            ko_log(KO_DEBUG, "conflict: reading again", "path", path, NULL);
            continue;
        }
        if (!r && status != 200) {
            char st[16];
            snprintf(st, sizeof st, "%ld", status);
            ko_log(KO_WARN, "update refused", "path", path, "status", st, "message",
                   json_string_value(json_object_get(resp, "message")), NULL);
            r = status == 404 ? -ENOENT : -EIO;
        }
        if (!r && out) *out = resp;
        else json_decref(resp);
        return r;
    }
    return -EAGAIN;
}

typedef struct ko_fin {
    const char *name;
    bool add;
} ko_fin;

static int ko_finalizer_mutate(json_t *obj, void *ud)
{
    const ko_fin *f = ud;
    json_t *md = json_object_get(obj, "metadata");
    json_t *fins = json_object_get(md, "finalizers");
    if (!json_is_array(fins)) json_object_set_new(md, "finalizers", fins = json_array());
    size_t i;
    json_t *v;
    json_array_foreach(fins, i, v)
    {
        if (json_string_value(v) && strcmp(json_string_value(v), f->name) == 0) {
            if (f->add) return 1;
            json_array_remove(fins, i);
            return 0;
        }
    }
    if (!f->add) return 1;
    return json_array_append_new(fins, json_string(f->name)) ? -ENOMEM : 0;
}

int ko_finalizer_set(ko_api *a, ko_kind_id k, const char *ns, const char *name,
                     const char *finalizer, bool add)
{
    ko_fin f = {finalizer, add};
    return ko_update(a, k, ns, name, NULL, ko_finalizer_mutate, &f, NULL);
}

bool ko_json_subset(json_t *want, json_t *have)
{
    if (json_is_object(want)) {
        if (!json_is_object(have)) return false;
        const char *k;
        json_t *v;
        json_object_foreach(want, k, v)
        {
            if (!ko_json_subset(v, json_object_get(have, k))) return false;
        }
        return true;
    }
    if (json_is_array(want)) {
        if (!json_is_array(have) || json_array_size(want) != json_array_size(have)) return false;
        for (size_t i = 0; i < json_array_size(want); i++) {
            if (!ko_json_subset(json_array_get(want, i), json_array_get(have, i))) return false;
        }
        return true;
    }
    return have && json_equal(want, have);
}

void ko_time_now(char *buf, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int ko_condition_set(json_t *obj, const char *type, bool status, const char *reason,
                     const char *message)
{
    json_t *st = json_object_get(obj, "status");
    if (!json_is_object(st)) {
        st = json_object();
        if (!st || json_object_set_new(obj, "status", st)) return -ENOMEM;
    }
    json_t *conds = json_object_get(st, "conditions");
    if (!json_is_array(conds)) {
        conds = json_array();
        if (!conds || json_object_set_new(st, "conditions", conds)) return -ENOMEM;
    }
    json_t *gen = json_object_get(json_object_get(obj, "metadata"), "generation");
    const char *sv = status ? "True" : "False";
    char now[40];
    ko_time_now(now, sizeof now);
    json_t *c = NULL;
    size_t i;
    json_t *it;
    json_array_foreach(conds, i, it)
    {
        const char *t = json_string_value(json_object_get(it, "type"));
        if (t && strcmp(t, type) == 0) c = it;
    }
    if (!c) {
        c = json_object();
        if (!c || json_array_append_new(conds, c)) return -ENOMEM;
        json_object_set_new(c, "type", json_string(type));
    }
    const char *old = json_string_value(json_object_get(c, "status"));
    if (!old || strcmp(old, sv) != 0)
        json_object_set_new(c, "lastTransitionTime", json_string(now));
    json_object_set_new(c, "status", json_string(sv));
    json_object_set_new(c, "observedGeneration", json_integer(json_integer_value(gen)));
    json_object_set_new(c, "reason", json_string(reason));
    json_object_set_new(c, "message", json_string(message ? message : ""));
    return 0;
}
