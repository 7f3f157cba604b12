/* ringq-operator: reconciles RingqCluster and RingqQueue (k8s/crds/) against the Kubernetes
 * API; docs/kubernetes.md "Operator". Threads: one informer per watched resource (list +
 * watch), one worker taking keys from the work queue, the /healthz + /metrics server, and the
 * main thread, which holds the leader Lease. Only the leader starts informers and the worker. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "k8s/operator/ko_api.h"
#include "k8s/operator/ko_config.h"
#include "k8s/operator/ko_ctrl.h"
#include "k8s/operator/ko_informer.h"
#include "k8s/operator/ko_kube.h"
#include "k8s/operator/ko_lease.h"
#include "k8s/operator/ko_log.h"
#include "k8s/operator/ko_metrics.h"
#include "k8s/operator/ko_serve.h"
#include "k8s/operator/ko_wq.h"

static const char ko_usage[] =
    "usage: ringq-operator [options]\n"
    "Reconciles RingqCluster, RingqQueue and RingqStream resources (docs/kubernetes.md,\n"
    "\"Operator\").\n"
    "  --kubeconfig PATH        out of cluster (default $KUBECONFIG; else in-cluster config)\n"
    "  --context NAME           kubeconfig context (default current-context)\n"
    "  --service-account-dir D  in-cluster token/ca.crt/namespace (default " KO_SA_DIR ")\n"
    "  --namespace NS           watch one namespace (default: every namespace)\n"
    "  --metrics-host H         /healthz and /metrics address (default 0.0.0.0)\n"
    "  --metrics-port N         their port (default 8080; 0: any free one, logged)\n"
    "  --leader-elect BOOL      true (default) | false\n"
    "  --lease-name NAME        the Lease (default ringq-operator)\n"
    "  --lease-namespace NS     its namespace (default: the config's namespace, else default)\n"
    "  --identity ID            this candidate (default hostname_pid)\n"
    "  --lease-duration-s N     15 (default); --renew-deadline-s N 10; --retry-period-s N 2\n"
    "  --resync-s N             list everything again this often (default 300)\n"
    "  --queue-refresh-s N      refresh RingqQueue/RingqStream counts this often (default 30)\n"
    "  --log-level L            debug | info (default) | warn | error\n"
    "  --help\n";

typedef struct ko_opts {
    const char *kubeconfig, *context, *sa_dir, *ns, *metrics_host, *lease_name, *lease_ns;
    char identity[300];
    int metrics_port;
    bool leader_elect;
    unsigned lease_s, renew_s, retry_s, resync_s, queue_refresh_s;
} ko_opts;

static atomic_bool ko_stop;
static ko_wq *ko_queue;

static void ko_on_signal(int sig) { atomic_store(&ko_stop, true); }

/* Largest value of a seconds flag: a year (anything longer is a typo). */
#define KO_FLAG_SECONDS_MAX (86400u * 365)

static int ko_uint(const char *s, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || end == s || v > KO_FLAG_SECONDS_MAX) return -EINVAL;
    *out = (unsigned)v;
    return 0;
}

static int ko_parse(int argc, char **argv, ko_opts *o)
{
    static const struct option lo[] = {{"kubeconfig", 1, 0, 'k'},
                                       {"context", 1, 0, 'c'},
                                       {"service-account-dir", 1, 0, 'S'},
                                       {"namespace", 1, 0, 'n'},
                                       {"metrics-host", 1, 0, 'H'},
                                       {"metrics-port", 1, 0, 'p'},
                                       {"leader-elect", 1, 0, 'L'},
                                       {"lease-name", 1, 0, 'l'},
                                       {"lease-namespace", 1, 0, 'N'},
                                       {"identity", 1, 0, 'i'},
                                       {"lease-duration-s", 1, 0, 'D'},
                                       {"renew-deadline-s", 1, 0, 'R'},
                                       {"retry-period-s", 1, 0, 'T'},
                                       {"resync-s", 1, 0, 'r'},
                                       {"queue-refresh-s", 1, 0, 'q'},
                                       {"log-level", 1, 0, 'v'},
                                       {"help", 0, 0, 'h'},
                                       {0, 0, 0, 0}};
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    *o = (ko_opts){.kubeconfig = getenv("KUBECONFIG"),
                   .sa_dir = KO_SA_DIR,
                   .metrics_host = "0.0.0.0",
                   .metrics_port = 8080,
                   .leader_elect = true,
                   .lease_name = "ringq-operator",
                   .lease_s = 15,
                   .renew_s = 10,
                   .retry_s = 2,
                   .resync_s = 300,
                   .queue_refresh_s = 30};
    snprintf(o->identity, sizeof o->identity, "%s_%d", host, (int)getpid());
    unsigned port = 0;
    int c, bad = 0;
    ko_level lvl;
    while (!bad && (c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'k': o->kubeconfig = optarg; break;
        case 'c': o->context = optarg; break;
        case 'S': o->sa_dir = optarg; break;
        case 'n': o->ns = optarg; break;
        case 'H': o->metrics_host = optarg; break;
        case 'p':
            bad = ko_uint(optarg, &port) || port > 65535;
            o->metrics_port = (int)port;
            break;
        case 'L': o->leader_elect = strcmp(optarg, "false") != 0; break;
        case 'l': o->lease_name = optarg; break;
        case 'N': o->lease_ns = optarg; break;
        case 'i': snprintf(o->identity, sizeof o->identity, "%s", optarg); break;
        case 'D': bad = ko_uint(optarg, &o->lease_s) || o->lease_s == 0; break;
        case 'R': bad = ko_uint(optarg, &o->renew_s) || o->renew_s == 0; break;
        case 'T': bad = ko_uint(optarg, &o->retry_s) || o->retry_s == 0; break;
        case 'r': bad = ko_uint(optarg, &o->resync_s) || o->resync_s == 0; break;
        case 'q': bad = ko_uint(optarg, &o->queue_refresh_s) || o->queue_refresh_s == 0; break;
        case 'v':
            bad = ko_log_parse_level(optarg, &lvl) != 0;
            if (!bad) ko_log_set_level(lvl);
            break;
        case 'h': fputs(ko_usage, stdout); exit(0);
        default: bad = 1;
        }
    }
    if (!bad && o->renew_s >= o->lease_s) {
        fprintf(stderr, "ringq-operator: --renew-deadline-s must be below --lease-duration-s\n");
        return -EINVAL;
    }
    if (bad || optind != argc) {
        fputs(ko_usage, stderr);
        return -EINVAL;
    }
    return 0;
}

/* What the informers of the kinds we create select; pods carry the template's labels. */
#define KO_OWNED_SELECTOR "app.kubernetes.io/managed-by=" KO_MANAGED_BY
#define KO_POD_SELECTOR KO_OWNED_SELECTOR ",app.kubernetes.io/component=broker"

/* Informer callbacks: our kinds by their own key, owned kinds by their owner's. */
static void ko_enqueue(const char *kind, const char *ns, const char *name)
{
    char key[KO_WQ_KEY_MAX];
    if (!ns || !name) return;
    int n = snprintf(key, sizeof key, "%s/%s/%s", kind, ns, name);
    if (n < 0 || (size_t)n >= sizeof key) return; /* longer than Kubernetes names go */
    if (ko_wq_add(ko_queue, key, 0) != 0) ko_log(KO_WARN, "work queue full", "key", key, NULL);
    atomic_store(&ko_m.queue_depth, ko_wq_len(ko_queue));
}

static void ko_on_own(const char *type, json_t *obj, void *ud)
{
    ko_enqueue(ud, ko_meta(obj, "namespace"), ko_meta(obj, "name"));
}

static void ko_on_owned(const char *type, json_t *obj, void *ud)
{
    size_t i;
    json_t *ref;
    json_array_foreach(json_object_get(json_object_get(obj, "metadata"), "ownerReferences"), i, ref)
    {
        const char *k = json_string_value(json_object_get(ref, "kind"));
        const char *av = json_string_value(json_object_get(ref, "apiVersion"));
        if (k && av && strcmp(k, "RingqCluster") == 0 &&
            strncmp(av, KO_GROUP "/", strlen(KO_GROUP) + 1) == 0)
            ko_enqueue("RingqCluster", ko_meta(obj, "namespace"),
                       json_string_value(json_object_get(ref, "name")));
    }
}

/* Broker pods (owned by the StatefulSet, not by us): their cluster is their instance label.
 * A pod's readiness moves a rollout on. */
static void ko_on_pod(const char *type, json_t *obj, void *ud)
{
    json_t *labels = json_object_get(json_object_get(obj, "metadata"), "labels");
    ko_enqueue("RingqCluster", ko_meta(obj, "namespace"),
               json_string_value(json_object_get(labels, "app.kubernetes.io/instance")));
}

typedef struct ko_worker {
    const ko_conn_cfg *conn;
    unsigned queue_refresh_ms;
    pthread_t th;
} ko_worker;

static void ko_work_one(ko_ctrl *c, char *key)
{
    char *kind = key, *ns = strchr(key, '/'), *name = ns ? strchr(ns + 1, '/') : NULL;
    if (!name) return;
    *ns++ = '\0';
    *name++ = '\0';
    int r = strcmp(kind, "RingqCluster") == 0  ? ko_cluster_reconcile(c, ns, name)
            : strcmp(kind, "RingqStream") == 0 ? ko_rstream_reconcile(c, ns, name)
                                               : ko_rqueue_reconcile(c, ns, name);
    char full[KO_WQ_KEY_MAX];
    int n = snprintf(full, sizeof full, "%s/%s/%s", kind, ns, name);
    if (n < 0 || (size_t)n >= sizeof full) return; /* cannot be: it came from a key */
    if (r < 0) {
        atomic_fetch_add(&ko_m.reconcile_errors, 1);
        ko_log(KO_DEBUG, "reconcile failed: backing off", "key", full, "error", strerror(-r), NULL);
    } else {
        atomic_fetch_add(&ko_m.reconciles, 1);
    }
    ko_wq_done(ko_queue, full, r >= 0, r > 0 ? (uint64_t)r : 0);
    atomic_store(&ko_m.queue_depth, ko_wq_len(ko_queue));
}

static void *ko_worker_main(void *arg)
{
    ko_worker *w = arg;
    ko_ctrl c = {.api = ko_api_create(w->conn), .queue_refresh_ms = w->queue_refresh_ms};
    if (!c.api) return NULL;
    char key[KO_WQ_KEY_MAX];
    for (;;) {
        int r = ko_wq_get(ko_queue, key, 500);
        if (r == -ECANCELED) break;
        if (r == 0) ko_work_one(&c, key);
    }
    ko_api_destroy(c.api);
    return NULL;
}

#define KO_INFORMERS 8

/* Starts the informers and the worker: what only the leader runs. */
static int ko_start_controllers(const ko_opts *o, const ko_conn_cfg *conn, ko_informer **inf,
                                ko_worker *w, char paths[KO_INFORMERS][KO_PATH_MAX])
{
    static const ko_kind_id kinds[KO_INFORMERS] = {
        KO_CLUSTER, KO_QUEUE, KO_STREAM, KO_CONFIGMAP, KO_SERVICE, KO_STATEFULSET, KO_PDB, KO_POD};
    static const ko_informer_fn fns[KO_INFORMERS] = {ko_on_own,   ko_on_own,   ko_on_own,
                                                     ko_on_owned, ko_on_owned, ko_on_owned,
                                                     ko_on_owned, ko_on_pod};
    for (int i = 0; i < KO_INFORMERS; i++) {
        bool own = kinds[i] == KO_CLUSTER || kinds[i] == KO_QUEUE || kinds[i] == KO_STREAM;
        ko_path(paths[i], KO_PATH_MAX, kinds[i], o->ns, NULL, NULL);
        ko_informer_cfg ic = {.name = ko_kinds[kinds[i]].plural,
                              .path = paths[i],
                              .label_selector = own                  ? NULL
                                                : kinds[i] == KO_POD ? KO_POD_SELECTOR
                                                                     : KO_OWNED_SELECTOR,
                              .resync_s = o->resync_s,
                              .fn = fns[i],
                              .ud = (void *)ko_kinds[kinds[i]].kind};
        int r = ko_informer_start(&inf[i], conn, &ic);
        if (r) return r;
    }
    *w = (ko_worker){.conn = conn, .queue_refresh_ms = o->queue_refresh_s * 1000u};
    return -pthread_create(&w->th, NULL, ko_worker_main, w);
}

static int ko_load_conn(const ko_opts *o, ko_conn_cfg *conn)
{
    char err[512] = "";
    int r = o->kubeconfig && *o->kubeconfig
                ? ko_kubeconfig_load(o->kubeconfig, o->context, conn, err, sizeof err)
                : ko_incluster_load(o->sa_dir, conn, err, sizeof err);
    if (r) ko_log(KO_ERROR, "no API server configuration", "error", err, NULL);
    else
        ko_log(KO_INFO, "API server", "server", conn->server, "source",
               o->kubeconfig && *o->kubeconfig ? "kubeconfig" : "in-cluster", NULL);
    return r;
}

/* The leader's life: acquire, run, hold; 0 on a clean stop, 1 when leadership was lost. */
static int ko_run(const ko_opts *o, const ko_conn_cfg *conn)
{
    ko_api *main_api = ko_api_create(conn);
    if (!main_api) return 1;
    const char *lease_ns = o->lease_ns ? o->lease_ns : conn->ns ? conn->ns : "default";
    ko_lease_cfg lc = {.ns = lease_ns,
                       .name = o->lease_name,
                       .identity = o->identity,
                       .duration_s = o->lease_s,
                       .renew_deadline_s = o->renew_s,
                       .retry_s = o->retry_s};
    int rc = 0;
    if (o->leader_elect && ko_lease_acquire(main_api, &lc, &ko_stop) != 0) {
        ko_api_destroy(main_api);
        return 0;
    }
    ko_informer *inf[KO_INFORMERS] = {0};
    ko_worker w;
    static char paths[KO_INFORMERS][KO_PATH_MAX];
    int r = ko_start_controllers(o, conn, inf, &w, paths);
    if (r) {
        ko_log(KO_ERROR, "could not start the controllers", "error", strerror(-r), NULL);
        atomic_store(&ko_stop, true);
    }
    if (o->leader_elect) {
        if (ko_lease_hold(main_api, &lc, &ko_stop) == -ETIMEDOUT) rc = 1;
    } else {
        while (!atomic_load(&ko_stop)) {
            struct timespec ts = {.tv_sec = 0, .tv_nsec = 100000000L};
            nanosleep(&ts, NULL);
        }
    }
    ko_api_cancel_all();
    ko_wq_shutdown(ko_queue);
    for (int i = 0; i < KO_INFORMERS; i++) ko_informer_join(inf[i]);
    if (!r) pthread_join(w.th, NULL);
    ko_api_destroy(main_api);
    return rc;
}

int main(int argc, char **argv)
{
    ko_opts o;
    if (ko_parse(argc, argv, &o) != 0) return 2;
    struct sigaction sa = {.sa_handler = ko_on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    ko_conn_cfg conn;
    if (ko_api_global_init() != 0 || ko_load_conn(&o, &conn) != 0) return 1;
    ko_queue = ko_wq_create();
    ko_serve *srv = NULL;
    int port = 0;
    int r = ko_queue ? ko_serve_start(&srv, o.metrics_host, o.metrics_port, &port) : -ENOMEM;
    if (r) {
        ko_log(KO_ERROR, "cannot serve /healthz and /metrics", "error", strerror(-r), NULL);
        return 1;
    }
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    ko_log(KO_INFO, "listening", "port", ps, "identity", o.identity, NULL);
    int rc = ko_run(&o, &conn);
    ko_serve_stop(srv);
    ko_wq_destroy(ko_queue);
    ko_conn_cfg_free(&conn);
    ko_log(KO_INFO, rc ? "stopped: leadership lost" : "stopped", NULL);
    return rc;
}
