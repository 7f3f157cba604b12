/* ringq-operator: leader election with a coordination.k8s.io/v1 Lease, as client-go's
 * leaderelection does it:
 *   - the Lease names its holder (holderIdentity), for how long (leaseDurationSeconds) and
 *     when it was last renewed (renewTime);
 *   - a candidate takes the Lease when it has none, names us, or has not changed for
 *     leaseDurationSeconds of OUR clock (the time we last saw its renewTime change: clocks of
 *     two nodes are never compared);
 *   - every write carries the resourceVersion read: of two candidates one gets 409 and stays
 *     a candidate;
 *   - the leader renews every retry_s; when it cannot renew for renew_deadline_s it has lost
 *     the Lease (another may hold it already) and stops acting.
 * On a clean stop the leader releases the Lease (holderIdentity emptied) so another takes over
 * at once instead of after the duration. */
#ifndef KO_LEASE_H
#define KO_LEASE_H

#include <stdatomic.h>

#include "k8s/operator/ko_api.h"

typedef struct ko_lease_cfg {
    const char *ns, *name, *identity;
    unsigned duration_s;       /* leaseDurationSeconds written (client-go default 15) */
    unsigned renew_deadline_s; /* < duration_s (default 10) */
    unsigned retry_s;          /* between tries and renewals (default 2) */
} ko_lease_cfg;

/* Blocks until we hold the Lease (0) or *stop is set or calls are cancelled (-ECANCELED). */
int ko_lease_acquire(ko_api *a, const ko_lease_cfg *c, const atomic_bool *stop);
/* Renews until renewal has failed for renew_deadline_s (-ETIMEDOUT: leadership lost) or the
 * *stop is set (-ECANCELED, after releasing the Lease). */
int ko_lease_hold(ko_api *a, const ko_lease_cfg *c, const atomic_bool *stop);

#endif
