/* ringq-operator: the objects of a RingqCluster (ko_objects.h). */
#include "k8s/operator/ko_objects.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

/* The StatefulSet of k8s/manifests/base/statefulset.yaml, with what varies filled in by
 * ko_sts_build. updateStrategy OnDelete: the operator rolls pods itself (ko_cluster.c). */
static const char ko_sts_template[] =
    "{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\",\"spec\":{"
    "\"podManagementPolicy\":\"Parallel\",\"updateStrategy\":{\"type\":\"OnDelete\"},"
    "\"persistentVolumeClaimRetentionPolicy\":{\"whenDeleted\":\"Retain\",\"whenScaled\":\"Retain\"},"
    "\"template\":{\"spec\":{\"automountServiceAccountToken\":false,\"enableServiceLinks\":false,"
    "\"securityContext\":{\"runAsNonRoot\":true,\"runAsUser\":65532,\"runAsGroup\":65532,"
    "\"fsGroup\":65532,\"fsGroupChangePolicy\":\"OnRootMismatch\"},"
    "\"containers\":[{\"name\":\"ringqd\",\"imagePullPolicy\":\"IfNotPresent\","
    "\"envFrom\":[{\"configMapRef\":{}}],"
    "\"ports\":[{\"name\":\"grpc\",\"containerPort\":7070,\"protocol\":\"TCP\"}],"
    "\"startupProbe\":{\"grpc\":{\"port\":7070,\"service\":\"\"},\"periodSeconds\":2,"
    "\"timeoutSeconds\":2,\"failureThreshold\":300},"
    "\"readinessProbe\":{\"grpc\":{\"port\":7070,\"service\":\"ringq.v1.Queue\"},"
    "\"periodSeconds\":5,\"timeoutSeconds\":2,\"failureThreshold\":1},"
    "\"livenessProbe\":{\"grpc\":{\"port\":7070,\"service\":\"\"},\"periodSeconds\":10,"
    "\"timeoutSeconds\":5,\"failureThreshold\":6},"
    "\"lifecycle\":{\"preStop\":{\"sleep\":{\"seconds\":5}}},"
    "\"securityContext\":{\"allowPrivilegeEscalation\":false,\"readOnlyRootFilesystem\":true,"
    "\"privileged\":false,\"capabilities\":{\"drop\":[\"ALL\"]}},"
    "\"volumeMounts\":[{\"name\":\"data\",\"mountPath\":\"/var/lib/ringq\"}]}]}},"
    "\"volumeClaimTemplates\":[{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolumeClaim\","
    "\"metadata\":{\"name\":\"data\",\"labels\":{\"app.kubernetes.io/name\":\"ringq\"}},"
    "\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],\"resources\":{\"requests\":{}}}}]}}";

/* ringqd's flags, each from a ConfigMap key the kubelet expands ($(KEY)), as the base does. */
static const char *const ko_flag_keys[][2] = {
    {"--threads", "RINGQ_THREADS"},
    {"--partitions", "RINGQ_PARTITIONS"},
    {"--fsync", "RINGQ_FSYNC"},
    {"--drain-timeout-ms", "RINGQ_DRAIN_TIMEOUT_MS"},
    {"--segment-bytes", "RINGQ_SEGMENT_BYTES"},
    {"--max-message-bytes", "RINGQ_MAX_MESSAGE_BYTES"},
    {"--idle-timeout-ms", "RINGQ_IDLE_TIMEOUT_MS"},
    {"--log-level", "RINGQ_LOG_LEVEL"},
};

/* The base ConfigMap's values of the flags the RingqCluster spec does not name (change them
 * with spec.extraFlags: ringqd takes the last value of a repeated flag). */
static const char *const ko_fixed_config[][2] = {
    {"RINGQ_SEGMENT_BYTES", "67108864"},
    {"RINGQ_MAX_MESSAGE_BYTES", "4194304"},
    {"RINGQ_IDLE_TIMEOUT_MS", "300000"},
};

void ko_selector(const char *cluster, char *buf, size_t len)
{
    snprintf(buf, len,
             "app.kubernetes.io/name=ringq,app.kubernetes.io/component=broker,"
             "app.kubernetes.io/instance=%s",
             cluster);
}

static json_t *ko_labels(const char *name, bool broker)
{
    json_t *l = json_pack("{s:s, s:s, s:s}", "app.kubernetes.io/name", "ringq",
                          "app.kubernetes.io/instance", name, "app.kubernetes.io/managed-by",
                          KO_MANAGED_BY);
    if (l && broker) json_object_set_new(l, "app.kubernetes.io/component", json_string("broker"));
    return l;
}

static json_t *ko_sel_labels(const char *name)
{
    return json_pack("{s:s, s:s, s:s}", "app.kubernetes.io/name", "ringq",
                     "app.kubernetes.io/component", "broker", "app.kubernetes.io/instance", name);
}

/* apiVersion, kind, metadata {name, namespace, labels, ownerReferences -> cluster}. */
static json_t *ko_base(json_t *cluster, ko_kind_id k, const char *name, bool broker)
{
    const char *cname = ko_meta(cluster, "name");
    json_t *owner = json_pack("[{s:s, s:s, s:s, s:s, s:b, s:b}]", "apiVersion", KO_API_VERSION,
                              "kind", "RingqCluster", "name", cname, "uid",
                              ko_meta(cluster, "uid") ? ko_meta(cluster, "uid") : "", "controller",
                              1, "blockOwnerDeletion", 1);
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:o, s:o}}", "apiVersion", ko_kinds[k].api_version,
                     "kind", ko_kinds[k].kind, "metadata", "name", name, "namespace",
                     ko_meta(cluster, "namespace"), "labels", ko_labels(cname, broker),
                     "ownerReferences", owner);
}

typedef struct ko_spec {
    const char *image, *fsync, *storage_size, *storage_class, *log_level;
    json_int_t replicas, partitions, threads, drain_ms;
    json_t *resources, *extra_flags;
} ko_spec;

static int ko_spec_read(json_t *cluster, ko_spec *s, char *err, size_t errlen)
{
    json_t *sp = json_object_get(cluster, "spec");
    json_t *storage = json_object_get(sp, "storage");
    *s = (ko_spec){.image = KO_DEFAULT_IMAGE,
                   .fsync = "always",
                   .storage_size = "10Gi",
                   .log_level = "info",
                   .replicas = 1,
                   .partitions = KO_DEFAULT_PARTITIONS,
                   .threads = KO_DEFAULT_THREADS,
                   .drain_ms = KO_DEFAULT_DRAIN_TIMEOUT_MS};
    json_t *v;
#define KO_STR(obj, key, dst)                   \
    if ((v = json_object_get(obj, key))) {      \
        if (!json_is_string(v)) goto bad_##dst; \
        s->dst = json_string_value(v);          \
    }
#define KO_INT(obj, key, dst)                                                 \
    if ((v = json_object_get(obj, key))) {                                    \
        if (!json_is_integer(v) || json_integer_value(v) < 0) goto bad_##dst; \
        s->dst = json_integer_value(v);                                       \
    }
    KO_STR(sp, "image", image);
    KO_STR(sp, "fsync", fsync);
    KO_STR(sp, "logLevel", log_level);
    KO_STR(storage, "size", storage_size);
    KO_STR(storage, "storageClassName", storage_class);
    KO_INT(sp, "replicas", replicas);
    KO_INT(sp, "partitions", partitions);
    KO_INT(sp, "threads", threads);
    KO_INT(sp, "drainTimeoutMs", drain_ms);
#undef KO_STR
#undef KO_INT
    s->resources = json_object_get(sp, "resources");
    s->extra_flags = json_object_get(sp, "extraFlags");
    if (s->extra_flags && !json_is_array(s->extra_flags)) {
        snprintf(err, errlen, "spec.extraFlags is not a list");
        return -EINVAL;
    }
    return 0;
#define KO_BAD(dst, key)                                                  \
    bad_##dst : snprintf(err, errlen, "spec.%s has the wrong type", key); \
    return -EINVAL;
    KO_BAD(image, "image")
    KO_BAD(fsync, "fsync")
    KO_BAD(log_level, "logLevel")
    KO_BAD(storage_size, "storage.size")
    KO_BAD(storage_class, "storage.storageClassName")
    KO_BAD(replicas, "replicas")
    KO_BAD(partitions, "partitions")
    KO_BAD(threads, "threads")
    KO_BAD(drain_ms, "drainTimeoutMs")
#undef KO_BAD
}

static json_t *ko_configmap(json_t *cluster, const ko_spec *s, const char *name)
{
    char buf[64];
    json_t *o = ko_base(cluster, KO_CONFIGMAP, name, false);
    json_t *d = json_object();
    if (!o || !d) goto fail;
#define KO_SETI(key, val)                                \
    snprintf(buf, sizeof buf, "%lld", (long long)(val)); \
    json_object_set_new(d, key, json_string(buf));
    KO_SETI("RINGQ_THREADS", s->threads);
    KO_SETI("RINGQ_PARTITIONS", s->partitions);
    KO_SETI("RINGQ_DRAIN_TIMEOUT_MS", s->drain_ms);
#undef KO_SETI
    json_object_set_new(d, "RINGQ_FSYNC", json_string(s->fsync));
    json_object_set_new(d, "RINGQ_LOG_LEVEL", json_string(s->log_level));
    for (size_t i = 0; i < sizeof ko_fixed_config / sizeof ko_fixed_config[0]; i++)
        json_object_set_new(d, ko_fixed_config[i][0], json_string(ko_fixed_config[i][1]));
    json_object_set_new(o, "data", d);
    return o;
fail:
    json_decref(o);
    json_decref(d);
    return NULL;
}

static json_t *ko_service(json_t *cluster, const char *name, bool headless)
{
    json_t *o = ko_base(cluster, KO_SERVICE, name, false);
    json_t *spec = json_pack("{s:o, s:[{s:s, s:i, s:s, s:s}]}", "selector",
                             ko_sel_labels(ko_meta(cluster, "name")), "ports", "name", "grpc",
                             "port", KO_RINGQ_PORT, "targetPort", "grpc", "appProtocol",
                             "kubernetes.io/h2c");
    if (!o || !spec) goto fail;
    if (headless) {
        json_object_set_new(spec, "clusterIP", json_string("None"));
        json_object_set_new(spec, "publishNotReadyAddresses", json_true());
    } else {
        json_object_set_new(spec, "type", json_string("ClusterIP"));
    }
    json_object_set_new(o, "spec", spec);
    return o;
fail:
    json_decref(o);
    json_decref(spec);
    return NULL;
}

static json_t *ko_pdb(json_t *cluster, const char *name)
{
    json_t *o = ko_base(cluster, KO_PDB, name, false);
    json_t *spec = json_pack("{s:i, s:{s:o}}", "maxUnavailable", 1, "selector", "matchLabels",
                             ko_sel_labels(ko_meta(cluster, "name")));
    if (!o || !spec) {
        json_decref(o);
        json_decref(spec);
        return NULL;
    }
    json_object_set_new(o, "spec", spec);
    return o;
}

static json_t *ko_args(const ko_spec *s)
{
    /* As the base StatefulSet: every address of the pod without TLS or tokens, which ringqd
     * refuses unless told --insecure (docs/security.md, "Safe defaults"). */
    json_t *a = json_pack("[s,s,s,s,s,s,s]", "--host", "*", "--insecure", "--port", "7070",
                          "--data", "/var/lib/ringq/data");
    for (size_t i = 0; a && i < sizeof ko_flag_keys / sizeof ko_flag_keys[0]; i++) {
        char ref[64];
        snprintf(ref, sizeof ref, "$(%s)", ko_flag_keys[i][1]);
        json_array_append_new(a, json_string(ko_flag_keys[i][0]));
        json_array_append_new(a, json_string(ref));
    }
    size_t i;
    json_t *f;
    json_array_foreach(s->extra_flags, i, f)
    {
        if (json_is_string(f)) json_array_append(a, f);
    }
    return a;
}

/* What a pod's ringqd runs with: a change of it is a new revision rolled pod by pod. */
static void ko_hash(json_t *cm, const ko_spec *s, json_t *args, char out[17])
{
    json_t *h = json_pack("{s:O, s:s, s:O, s:O*}", "data", json_object_get(cm, "data"), "image",
                          s->image, "args", args, "resources", s->resources);
    char *text = h ? json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    uint64_t x = text ? XXH3_64bits(text, strlen(text)) : 0;
    snprintf(out, 17, "%016llx", (unsigned long long)x);
    free(text);
    json_decref(h);
}

static json_t *ko_statefulset(json_t *cluster, const ko_spec *s, const char *name,
                              const char *cm_name, const char *hash, json_t *args)
{
    json_t *o = ko_base(cluster, KO_STATEFULSET, name, true);
    json_t *t = json_loads(ko_sts_template, 0, NULL);
    if (!o || !t) goto fail;
    json_t *spec = json_object_get(t, "spec");
    char hl[300];
    snprintf(hl, sizeof hl, "%s-headless", name);
    json_object_set_new(spec, "serviceName", json_string(hl));
    json_object_set_new(spec, "replicas", json_integer(s->replicas));
    json_object_set_new(spec, "selector",
                        json_pack("{s:o}", "matchLabels", ko_sel_labels(ko_meta(cluster, "name"))));
    json_t *tmpl = json_object_get(spec, "template");
    json_object_set_new(tmpl, "metadata",
                        json_pack("{s:o, s:{s:s}}", "labels",
                                  ko_labels(ko_meta(cluster, "name"), true), "annotations",
                                  KO_CONFIG_HASH_ANNOTATION, hash));
    json_t *pod = json_object_get(tmpl, "spec");
    json_object_set_new(pod, "terminationGracePeriodSeconds",
                        json_integer(s->drain_ms / 1000 + KO_GRACE_EXTRA_S));
    json_t *c = json_array_get(json_object_get(pod, "containers"), 0);
    json_object_set_new(c, "image", json_string(s->image));
    json_object_set(c, "args", args);
    json_t *cmref = json_object_get(json_array_get(json_object_get(c, "envFrom"), 0),
                                    "configMapRef");
    json_object_set_new(cmref, "name", json_string(cm_name));
    if (s->resources) json_object_set(c, "resources", s->resources);
    json_t *pvc = json_object_get(json_array_get(json_object_get(spec, "volumeClaimTemplates"), 0),
                                  "spec");
    json_object_set_new(json_object_get(json_object_get(pvc, "resources"), "requests"), "storage",
                        json_string(s->storage_size));
    if (s->storage_class)
        json_object_set_new(pvc, "storageClassName", json_string(s->storage_class));
    json_object_set(o, "spec", spec);
    json_decref(t);
    return o;
fail:
    json_decref(o);
    json_decref(t);
    return NULL;
}

int ko_desired_build(json_t *cluster, ko_desired *d, char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    ko_spec s;
    int r = ko_spec_read(cluster, &s, err, errlen);
    if (r) return r;
    const char *name = ko_meta(cluster, "name");
    char cm_name[300], hl[300];
    snprintf(cm_name, sizeof cm_name, "%s-config", name);
    snprintf(hl, sizeof hl, "%s-headless", name);
    json_t *cm = ko_configmap(cluster, &s, cm_name);
    json_t *args = ko_args(&s);
    if (cm && args) ko_hash(cm, &s, args, d->config_hash);
    json_t *objs[5] = {cm, ko_service(cluster, hl, true), ko_service(cluster, name, false),
                       cm && args ? ko_statefulset(cluster, &s, name, cm_name, d->config_hash, args)
                                  : NULL,
                       ko_pdb(cluster, name)};
    const ko_kind_id kinds[5] = {KO_CONFIGMAP, KO_SERVICE, KO_SERVICE, KO_STATEFULSET, KO_PDB};
    json_decref(args);
    for (int i = 0; i < 5; i++) {
        d->obj[i] = objs[i];
        d->kind[i] = kinds[i];
        if (!objs[i]) r = -ENOMEM;
    }
    d->n = 5;
    if (r) ko_desired_free(d);
    return r;
}

void ko_desired_free(ko_desired *d)
{
    for (int i = 0; i < d->n; i++) json_decref(d->obj[i]);
    d->n = 0;
}
