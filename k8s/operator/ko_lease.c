/* ringq-operator: leader election (ko_lease.h). */
#include "k8s/operator/ko_lease.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "k8s/operator/ko_informer.h"
#include "k8s/operator/ko_log.h"
#include "k8s/operator/ko_metrics.h"

/* What we last saw of the Lease and when (our monotonic clock). */
typedef struct ko_lease_seen {
    char holder[256];
    char renew[64];
    uint64_t seen_ms;
} ko_lease_seen;

static uint64_t ko_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* metav1.MicroTime: RFC 3339 with microseconds, UTC. */
static void ko_micro_time(char *buf, size_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000);
    if (n < 0 || (size_t)n >= len) buf[0] = '\0';
}

static void ko_sleep_s(unsigned s, const atomic_bool *stop)
{
    for (unsigned i = 0; i < s * 10 && !ko_api_cancelled() && !atomic_load(stop); i++) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 100000000L};
        nanosleep(&ts, NULL);
    }
}

static json_t *ko_lease_body(const ko_lease_cfg *c, json_t *old, bool release)
{
    char now[64];
    ko_micro_time(now, sizeof now);
    json_t *spec = json_object_get(old, "spec");
    const char *holder = json_string_value(json_object_get(spec, "holderIdentity"));
    json_int_t transitions = json_integer_value(json_object_get(spec, "leaseTransitions"));
    bool ours = holder && strcmp(holder, c->identity) == 0;
    json_t *body = old ? json_deep_copy(old)
                       : json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion",
                                   "coordination.k8s.io/v1", "kind", "Lease", "metadata", "name",
                                   c->name, "namespace", c->ns);
    if (!body) return NULL;
    json_t *ns = json_pack("{s:s, s:i, s:s, s:I}", "holderIdentity", release ? "" : c->identity,
                           "leaseDurationSeconds", release ? 1 : (int)c->duration_s, "renewTime",
                           now, "leaseTransitions", (json_int_t)(transitions + (ours ? 0 : 1)));
    if (!ns) {
        json_decref(body);
        return NULL;
    }
    const char *acq = json_string_value(json_object_get(spec, "acquireTime"));
    json_object_set_new(ns, "acquireTime", json_string(ours && acq ? acq : now));
    if (!old) json_object_set_new(ns, "leaseTransitions", json_integer(0));
    json_object_set_new(body, "spec", ns);
    return body;
}

/* One try: 1 we hold it now, 0 someone else does, -errno. */
static int ko_lease_try(ko_api *a, const ko_lease_cfg *c, ko_lease_seen *seen, bool release)
{
    char path[KO_PATH_MAX], coll[KO_PATH_MAX];
    int n = snprintf(coll, sizeof coll, "/apis/coordination.k8s.io/v1/namespaces/%s/leases", c->ns);
    int m = snprintf(path, sizeof path, "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s",
                     c->ns, c->name);
    if (n < 0 || m < 0 || (size_t)n >= sizeof coll || (size_t)m >= sizeof path)
        return -ENAMETOOLONG;
    long status;
    json_t *cur = NULL;
    int r = ko_api_call(a, "GET", path, NULL, NULL, &status, &cur);
    if (r) return r;
    if (status == 404) {
        json_decref(cur);
        cur = NULL;
    } else if (status != 200) {
        json_decref(cur);
        return -EIO;
    }
    json_t *spec = json_object_get(cur, "spec");
    const char *holder = json_string_value(json_object_get(spec, "holderIdentity"));
    const char *renew = json_string_value(json_object_get(spec, "renewTime"));
    json_int_t dur = json_integer_value(json_object_get(spec, "leaseDurationSeconds"));
    holder = holder ? holder : "";
    renew = renew ? renew : "";
    uint64_t now = ko_mono_ms();
    if (strcmp(seen->holder, holder) != 0 || strcmp(seen->renew, renew) != 0) {
        snprintf(seen->holder, sizeof seen->holder, "%s", holder);
        snprintf(seen->renew, sizeof seen->renew, "%s", renew);
        seen->seen_ms = now;
    }
    bool ours = strcmp(holder, c->identity) == 0;
    bool expired = !*holder || now >= seen->seen_ms + (uint64_t)dur * 1000u;
    if (cur && !ours && !expired) {
        json_decref(cur);
        return 0;
    }
    if (release && !ours) {
        json_decref(cur);
        return 0;
    }
    json_t *body = ko_lease_body(c, cur, release);
    json_decref(cur);
    if (!body) return -ENOMEM;
    json_t *resp = NULL;
    r = ko_api_call(a, cur ? "PUT" : "POST", cur ? path : coll, body, NULL, &status, &resp);
    json_decref(body);
    json_decref(resp);
    if (r) return r;
    if (status == 409) return 0; /* another candidate wrote first */
    return status == 200 || status == 201 ? 1 : -EIO;
}

int ko_lease_acquire(ko_api *a, const ko_lease_cfg *c, const atomic_bool *stop)
{
    ko_lease_seen seen = {.seen_ms = ko_mono_ms()};
    ko_log(KO_INFO, "leader election: waiting for the lease", "lease", c->name, "identity",
           c->identity, NULL);
    while (!ko_api_cancelled() && !atomic_load(stop)) {
        int r = ko_lease_try(a, c, &seen, false);
        if (r == 1) {
            atomic_store(&ko_m.is_leader, 1);
            atomic_fetch_add(&ko_m.leader_transitions, 1);
            ko_log(KO_INFO, "leader election: became the leader", "lease", c->name, "identity",
                   c->identity, NULL);
            return 0;
        }
        ko_sleep_s(c->retry_s, stop);
    }
    return -ECANCELED;
}

int ko_lease_hold(ko_api *a, const ko_lease_cfg *c, const atomic_bool *stop)
{
    ko_lease_seen seen = {.seen_ms = ko_mono_ms()};
    uint64_t renewed = ko_mono_ms();
    for (;;) {
        ko_sleep_s(c->retry_s, stop);
        if (ko_api_cancelled() || atomic_load(stop)) break;
        int r = ko_lease_try(a, c, &seen, false);
        if (r == 1) renewed = ko_mono_ms();
        else if (r == 0) break; /* someone else holds it */
        else if (ko_mono_ms() - renewed >= (uint64_t)c->renew_deadline_s * 1000u) break;
    }
    atomic_store(&ko_m.is_leader, 0);
    if (atomic_load(stop) && !ko_api_cancelled()) {
        int r = ko_lease_try(a, c, &seen, true);
        ko_log(KO_INFO,
               r == 1 ? "leader election: released the lease"
                      : "leader election: could not release the lease",
               "lease", c->name, "identity", c->identity, NULL);
        return -ECANCELED;
    }
    if (ko_api_cancelled()) return -ECANCELED;
    ko_log(KO_ERROR, "leader election: lost the lease", "lease", c->name, "identity", c->identity,
           NULL);
    return -ETIMEDOUT;
}
