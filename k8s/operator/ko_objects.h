/* ringq-operator: the objects a RingqCluster owns, built from its spec in the shape of
 * k8s/manifests/base (ConfigMap <name>-config, Services <name> and <name>-headless,
 * StatefulSet <name>, PodDisruptionBudget <name>), each labelled and owned by the cluster. */
#ifndef KO_OBJECTS_H
#define KO_OBJECTS_H

#include <jansson.h>

#include "k8s/operator/ko_kube.h"

/* ringqd's gRPC port in every pod and Service (k8s/manifests/base). */
#define KO_RINGQ_PORT 7070
/* Defaults of RingqCluster fields (k8s/crds/ringqcluster.yaml says the same). */
#define KO_DEFAULT_IMAGE "ringq:0.5.0"
#define KO_DEFAULT_PARTITIONS 16
#define KO_DEFAULT_THREADS 2
#define KO_DEFAULT_DRAIN_TIMEOUT_MS 20000
/* The pod's grace period beyond the drain timeout, seconds: the preStop pause (5 s) plus the
 * final group commit (k8s/manifests/base/statefulset.yaml keeps the same margin). */
#define KO_GRACE_EXTRA_S 20
/* The pod template annotation that carries the hash of the configuration: a new value makes a
 * new StatefulSet revision, which the operator rolls one pod at a time. */
#define KO_CONFIG_HASH_ANNOTATION "ringq.dev/config-hash"

/* The desired objects of `cluster` (borrowed), in creation order. Each a new reference in
 * out[i]; *config_hash (17 bytes) the hash of the broker configuration. 0, -EINVAL (a spec
 * field of the wrong type, `err` names it), -ENOMEM. */
typedef struct ko_desired {
    json_t *obj[5];
    ko_kind_id kind[5];
    int n;
    char config_hash[17];
} ko_desired;
int ko_desired_build(json_t *cluster, ko_desired *out, char *err, size_t errlen);
void ko_desired_free(ko_desired *d);

/* The labels that select a cluster's broker pods, as a labelSelector string. */
void ko_selector(const char *cluster, char *buf, size_t len);

#endif
