/* ringq-operator: the work queue (ko_wq.h). A flat array scanned linearly: at most
 * KO_WQ_KEYS_MAX keys, each reconcile costs milliseconds of network; a heap would not show. */
#include "k8s/operator/ko_wq.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct ko_wq_ent {
    char key[KO_WQ_KEY_MAX];
    uint64_t due_ms;   /* when waiting */
    unsigned failures; /* consecutive failed reconciles */
    bool waiting;      /* in the queue */
    bool processing;   /* handed out, ko_wq_done not yet called */
    bool in_use;
} ko_wq_ent;

struct ko_wq {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool shutdown;
    ko_wq_ent ents[KO_WQ_KEYS_MAX];
};

static uint64_t ko_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

ko_wq *ko_wq_create(void)
{
    ko_wq *q = calloc(1, sizeof *q);
    if (!q) return NULL;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, &ca);
    pthread_condattr_destroy(&ca);
    return q;
}

void ko_wq_destroy(ko_wq *q)
{
    if (!q) return;
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    free(q);
}

uint64_t ko_wq_backoff_ms(unsigned failures)
{
    if (failures == 0) return 0;
    uint64_t ms = KO_WQ_BACKOFF_MIN_MS;
    for (unsigned i = 1; i < failures && ms < KO_WQ_BACKOFF_MAX_MS; i++) ms *= 2;
    return ms < KO_WQ_BACKOFF_MAX_MS ? ms : KO_WQ_BACKOFF_MAX_MS;
}

static ko_wq_ent *ko_wq_find(ko_wq *q, const char *key, bool create)
{
    ko_wq_ent *free_ent = NULL;
    for (int i = 0; i < KO_WQ_KEYS_MAX; i++) {
        ko_wq_ent *e = &q->ents[i];
        if (e->in_use && strcmp(e->key, key) == 0) return e;
        if (!e->in_use && !free_ent) free_ent = e;
    }
    if (!create || !free_ent) return NULL;
    memset(free_ent, 0, sizeof *free_ent);
    strcpy(free_ent->key, key);
    free_ent->in_use = true;
    return free_ent;
}

/* Marks e waiting with due time `due` (the earlier one wins); caller holds mu. */
static void ko_wq_schedule(ko_wq *q, ko_wq_ent *e, uint64_t due)
{
    if (!e->waiting || due < e->due_ms) e->due_ms = due;
    e->waiting = true;
    pthread_cond_broadcast(&q->cv);
}

int ko_wq_add(ko_wq *q, const char *key, uint64_t delay_ms)
{
    if (strlen(key) >= KO_WQ_KEY_MAX) return -ENAMETOOLONG;
    pthread_mutex_lock(&q->mu);
    ko_wq_ent *e = ko_wq_find(q, key, true);
    if (e) ko_wq_schedule(q, e, ko_now_ms() + delay_ms);
    pthread_mutex_unlock(&q->mu);
    return e ? 0 : -ENOSPC;
}

int ko_wq_get(ko_wq *q, char *key, int timeout_ms)
{
    uint64_t deadline = ko_now_ms() + (uint64_t)timeout_ms;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        if (q->shutdown) {
            pthread_mutex_unlock(&q->mu);
            return -ECANCELED;
        }
        uint64_t now = ko_now_ms(), next = deadline;
        ko_wq_ent *best = NULL;
        for (int i = 0; i < KO_WQ_KEYS_MAX; i++) {
            ko_wq_ent *e = &q->ents[i];
            if (!e->in_use || !e->waiting || e->processing) continue;
            if (e->due_ms <= now && (!best || e->due_ms < best->due_ms)) best = e;
            if (e->due_ms > now && e->due_ms < next) next = e->due_ms;
        }
        if (best) {
            best->waiting = false;
            best->processing = true;
            strcpy(key, best->key);
            pthread_mutex_unlock(&q->mu);
            return 0;
        }
        if (now >= deadline) {
            pthread_mutex_unlock(&q->mu);
            return -ETIMEDOUT;
        }
        struct timespec ts = {.tv_sec = (time_t)(next / 1000u),
                              .tv_nsec = (long)(next % 1000u) * 1000000L};
        pthread_cond_timedwait(&q->cv, &q->mu, &ts);
    }
}

void ko_wq_done(ko_wq *q, const char *key, bool ok, uint64_t requeue_ms)
{
    pthread_mutex_lock(&q->mu);
    ko_wq_ent *e = ko_wq_find(q, key, false);
    if (e) {
        e->processing = false;
        if (ok) e->failures = 0;
        else e->failures++;
        if (!ok) ko_wq_schedule(q, e, ko_now_ms() + ko_wq_backoff_ms(e->failures));
        else if (requeue_ms) ko_wq_schedule(q, e, ko_now_ms() + requeue_ms);
        else if (!e->waiting) e->in_use = false; /* forgotten until added again */
        pthread_cond_broadcast(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
}

void ko_wq_shutdown(ko_wq *q)
{
    pthread_mutex_lock(&q->mu);
    q->shutdown = true;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

int ko_wq_len(ko_wq *q)
{
    int n = 0;
    pthread_mutex_lock(&q->mu);
    for (int i = 0; i < KO_WQ_KEYS_MAX; i++) n += q->ents[i].in_use && q->ents[i].waiting;
    pthread_mutex_unlock(&q->mu);
    return n;
}
