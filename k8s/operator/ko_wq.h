/* ringq-operator: the work queue. Keys ("RingqCluster/ns/name") wait here until a worker takes
 * them; a key is in the queue at most once however often it is added, a key being processed
 * is not handed to a second worker (added meanwhile, it comes back after ko_wq_done), and a
 * key whose reconcile failed comes back after a per-key exponential backoff:
 *   KO_WQ_BACKOFF_MIN_MS << (failures - 1), at most KO_WQ_BACKOFF_MAX_MS.
 * Thread-safe (one mutex). */
#ifndef KO_WQ_H
#define KO_WQ_H

#include <stdbool.h>
#include <stdint.h>

/* Keys tracked at once: each custom resource and nothing else; above it, adds are refused
 * (-ENOSPC) and the resync adds them later. */
#define KO_WQ_KEYS_MAX 4096
/* Longest key, bytes with the NUL: kind + '/' + namespace (63) + '/' + name (253). */
#define KO_WQ_KEY_MAX 352
/* Backoff after a failed reconcile: 100 ms doubling to 60 s (client-go's defaults are 5 ms to
 * 1000 s; we talk to a broker, whose restarts take seconds). */
#define KO_WQ_BACKOFF_MIN_MS 100u
#define KO_WQ_BACKOFF_MAX_MS 60000u

typedef struct ko_wq ko_wq;

ko_wq *ko_wq_create(void); /* NULL: -ENOMEM */
void ko_wq_destroy(ko_wq *q);
/* Adds `key` now (0) or after delay_ms; an earlier due time wins over a later one. 0, -ENOSPC,
 * -ENAMETOOLONG. */
int ko_wq_add(ko_wq *q, const char *key, uint64_t delay_ms);
/* Waits up to timeout_ms for a due key and copies it to key[KO_WQ_KEY_MAX]. 0, -ETIMEDOUT,
 * -ECANCELED after ko_wq_shutdown. The key is then "processing" until ko_wq_done. */
int ko_wq_get(ko_wq *q, char *key, int timeout_ms);
/* Ends processing. ok: the failure count is forgotten; !ok: the key comes back after its
 * backoff. requeue_ms > 0 (with ok): come back after that long (a rollout waiting on a pod). */
void ko_wq_done(ko_wq *q, const char *key, bool ok, uint64_t requeue_ms);
/* The backoff the key's next failure would get (for logs and tests), ms. */
uint64_t ko_wq_backoff_ms(unsigned failures);
/* Wakes every ko_wq_get with -ECANCELED. */
void ko_wq_shutdown(ko_wq *q);
/* Keys waiting (due or not). */
int ko_wq_len(ko_wq *q);

#endif
