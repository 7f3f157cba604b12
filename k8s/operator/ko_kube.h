/* ringq-operator: the resources we touch and the calls every reconciler makes on them. */
#ifndef KO_KUBE_H
#define KO_KUBE_H

#include <stdbool.h>

#include <jansson.h>

#include "k8s/operator/ko_api.h"
#include "k8s/operator/ko_informer.h"

/* Our API group and version (k8s/crds/). */
#define KO_GROUP "ringq.dev"
#define KO_VERSION "v1alpha1"
#define KO_API_VERSION KO_GROUP "/" KO_VERSION
/* Set on everything we create, and the label our informers of owned kinds select. */
#define KO_MANAGED_BY "ringq-operator"
/* Attempts of one read-modify-write whose write meets 409 Conflict (someone wrote between our
 * read and our write): each reads again. More means a hot object; the work queue backs off. */
#define KO_CONFLICT_RETRIES 5

typedef enum ko_kind_id {
    KO_CLUSTER,
    KO_QUEUE,
    KO_STREAM,
    KO_CONFIGMAP,
    KO_SERVICE,
    KO_STATEFULSET,
    KO_PDB,
    KO_POD,
    KO_KIND_COUNT
} ko_kind_id;

typedef struct ko_kind {
    const char *kind;        /* "StatefulSet" */
    const char *api_version; /* "apps/v1" */
    const char *prefix;      /* "/apis/apps/v1" */
    const char *plural;      /* "statefulsets" */
} ko_kind;

extern const ko_kind ko_kinds[KO_KIND_COUNT];

/* "<prefix>/namespaces/<ns>/<plural>[/<name>[/<sub>]]"; ns NULL: every namespace. The result
 * is cut at len (KO_PATH_MAX is enough for names Kubernetes allows). */
void ko_path(char *buf, size_t len, ko_kind_id k, const char *ns, const char *name,
             const char *sub);

/* metadata.<key> as a string, or NULL (borrowed from obj). */
const char *ko_meta(json_t *obj, const char *key);

/* GET one object. 0 and *out (new reference), -ENOENT (404), -EIO (other status), api errors. */
int ko_get(ko_api *a, ko_kind_id k, const char *ns, const char *name, json_t **out);

/* Read-modify-write with optimistic concurrency: GET, mutate(obj) (which returns 0: write, 1:
 * nothing to write, <0: error), PUT (to `sub`, "status" or NULL) with the resourceVersion read;
 * on 409 read again and retry, at most KO_CONFLICT_RETRIES times (-EAGAIN after). -ENOENT when
 * the object is gone. *out (may be NULL): the object as written (new reference). */
typedef int (*ko_mutate_fn)(json_t *obj, void *ud);
int ko_update(ko_api *a, ko_kind_id k, const char *ns, const char *name, const char *sub,
              ko_mutate_fn mutate, void *ud, json_t **out);

/* Adds (add) or removes `finalizer` in metadata.finalizers with ko_update; 0 also when there
 * was nothing to do, -ENOENT when the object is gone. */
int ko_finalizer_set(ko_api *a, ko_kind_id k, const char *ns, const char *name,
                     const char *finalizer, bool add);

/* true when every field of `want` is in `have` with the same value (objects: recursively;
 * arrays: same length, element by element). What the API server adds (defaults, status,
 * metadata) does not count as a difference. */
bool ko_json_subset(json_t *want, json_t *have);

/* Sets the condition of `type` in obj.status.conditions (metav1.Condition: type, status,
 * observedGeneration, lastTransitionTime, reason, message); lastTransitionTime changes only
 * when status does. 0 or -ENOMEM. */
int ko_condition_set(json_t *obj, const char *type, bool status, const char *reason,
                     const char *message);

/* RFC 3339 UTC now, seconds ("2026-12-07T08:00:00Z"). */
void ko_time_now(char *buf, size_t len);

#endif
