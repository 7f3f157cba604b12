/* Unit tests for worker/wk_pool with thread-endpoint shards (no io_uring): jobs run on workers
 * and complete on the submitting shard's thread exactly once; DRAIN runs queued jobs, CANCEL
 * completes them with -ECANCELED; stopped pools refuse; a full queue refuses with -EAGAIN;
 * a stress with small lanes so completions hit backpressure. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "worker/wk_mesh.h"
#include "worker/wk_pool.h"
#include "ts_main.h"

#if defined(__SANITIZE_THREAD__)
#define WK_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WK_TSAN 1
#endif
#endif
#ifdef WK_TSAN
#define JOBS_PER_SHARD 20000u
#else
#define JOBS_PER_SHARD 300000u
#endif

/* A shard thread: polls its mesh endpoint until `expect` done callbacks ran. */
typedef struct {
    wk_mesh *m;
    int id;
    pthread_t th;
    uint64_t expect;
    uint64_t done;
    uint64_t wrong_thread;
} shard;

typedef struct {
    wk_job job;
    shard *owner;
    sem_t *started; /* posted when run begins (may be NULL) */
    sem_t *gate;    /* run waits on it (may be NULL) */
    int runs;
    int dones;
    int result;
} tjob;

static int tjob_run(wk_job *j)
{
    tjob *t = (tjob *)j;
    t->runs++;
    if (t->started) sem_post(t->started);
    if (t->gate) sem_wait(t->gate);
    return (int)(j->arg % 1000);
}

static void tjob_done(wk_job *j, int result)
{
    tjob *t = (tjob *)j;
    if (!pthread_equal(pthread_self(), t->owner->th)) t->owner->wrong_thread++;
    t->dones++;
    t->result = result;
    t->owner->done++;
}

static void *shard_main(void *p)
{
    shard *s = p;
    while (s->done < s->expect) {
        wk_mesh_poll(s->m, s->id, 0);
        if (s->done < s->expect) wk_mesh_wait(s->m, s->id);
    }
    return NULL;
}

static void tjob_init(tjob *t, shard *owner, uint64_t arg)
{
    *t = (tjob){.job = {.run = tjob_run, .done = tjob_done, .arg = arg}, .owner = owner};
}

START_TEST(create_rejects_bad_options)
{
    wk_mesh *m;
    ck_assert_int_eq(wk_mesh_create(&(wk_mesh_opts){.n_shards = 1, .n_threads = 2}, &m), 0);
    wk_pool *p;
    ck_assert_int_eq(wk_pool_create(&(wk_pool_opts){.n_threads = 0, .first_ep = 1}, m, &p),
                     -EINVAL);
    ck_assert_int_eq(wk_pool_create(&(wk_pool_opts){.n_threads = 1, .first_ep = 0}, m, &p),
                     -EINVAL);
    ck_assert_int_eq(wk_pool_create(&(wk_pool_opts){.n_threads = 3, .first_ep = 1}, m, &p),
                     -EINVAL);
    ck_assert_int_eq(
        wk_pool_create(&(wk_pool_opts){.n_threads = 2, .first_ep = 1, .queue_cap = 6}, m, &p),
        -EINVAL);
    ck_assert_int_eq(wk_pool_create(&(wk_pool_opts){.n_threads = 2, .first_ep = 1}, m, &p), 0);
    wk_job bad = {0};
    ck_assert_int_eq(wk_pool_submit(p, 0, &bad), -EINVAL);
    wk_pool_destroy(p);
    wk_mesh_destroy(m);
}
END_TEST

/* One worker blocked on a gate, then `n` queued jobs, then stop(mode), then the gate opens. */
static void run_stop(wk_pool_stop_mode mode)
{
    enum { N = 100 };
    wk_mesh *m;
    ck_assert_int_eq(wk_mesh_create(&(wk_mesh_opts){.n_shards = 1, .n_threads = 1}, &m), 0);
    wk_pool *p;
    ck_assert_int_eq(wk_pool_create(&(wk_pool_opts){.n_threads = 1, .first_ep = 1}, m, &p), 0);
    shard s = {.m = m, .id = 0, .expect = N + 1};
    ck_assert_int_eq(pthread_create(&s.th, NULL, shard_main, &s), 0);
    sem_t started, gate;
    sem_init(&started, 0, 0);
    sem_init(&gate, 0, 0);
    tjob *jobs = calloc(N + 1, sizeof *jobs);
    tjob_init(&jobs[0], &s, 0);
    jobs[0].started = &started;
    jobs[0].gate = &gate;
    ck_assert_int_eq(wk_pool_submit(p, 0, &jobs[0].job), 0);
    sem_wait(&started); /* the worker is inside job 0 */
    for (int i = 1; i <= N; i++) {
        tjob_init(&jobs[i], &s, (uint64_t)i);
        ck_assert_int_eq(wk_pool_submit(p, 0, &jobs[i].job), 0);
    }
    wk_pool_stop(p, mode);
    ck_assert_int_eq(wk_pool_get_state(p),
                     mode == WK_POOL_CANCEL ? WK_POOL_CANCELLING : WK_POOL_DRAINING);
    tjob late;
    tjob_init(&late, &s, 0);
    ck_assert_int_eq(wk_pool_submit(p, 0, &late.job), -ESHUTDOWN);
    sem_post(&gate);
    wk_pool_destroy(p); /* joins; the shard thread keeps polling meanwhile */
    pthread_join(s.th, NULL);
    ck_assert_uint_eq(s.wrong_thread, 0);
    ck_assert_int_eq(jobs[0].runs, 1);
    ck_assert_int_eq(jobs[0].result, 0);
    for (int i = 0; i <= N; i++) ck_assert_int_eq(jobs[i].dones, 1);
    for (int i = 1; i <= N; i++) {
        if (mode == WK_POOL_CANCEL) {
            ck_assert_int_eq(jobs[i].runs, 0);
            ck_assert_int_eq(jobs[i].result, -ECANCELED);
        } else {
            ck_assert_int_eq(jobs[i].runs, 1);
            ck_assert_int_eq(jobs[i].result, i);
        }
    }
    ck_assert_int_eq(late.runs, 0);
    ck_assert_int_eq(late.dones, 0);
    free(jobs);
    sem_destroy(&started);
    sem_destroy(&gate);
    wk_mesh_destroy(m);
}

START_TEST(stop_drain_runs_queued_jobs) { run_stop(WK_POOL_DRAIN); }
END_TEST
START_TEST(stop_cancel_completes_queued_jobs_with_ecanceled) { run_stop(WK_POOL_CANCEL); }
END_TEST

START_TEST(full_queue_refuses_with_eagain)
{
    wk_mesh *m;
    ck_assert_int_eq(wk_mesh_create(&(wk_mesh_opts){.n_shards = 1, .n_threads = 1}, &m), 0);
    wk_pool *p;
    ck_assert_int_eq(
        wk_pool_create(&(wk_pool_opts){.n_threads = 1, .first_ep = 1, .queue_cap = 4}, m, &p), 0);
    shard s = {.m = m, .id = 0, .expect = 5};
    ck_assert_int_eq(pthread_create(&s.th, NULL, shard_main, &s), 0);
    sem_t started, gate;
    sem_init(&started, 0, 0);
    sem_init(&gate, 0, 0);
    tjob jobs[6];
    tjob_init(&jobs[0], &s, 0);
    jobs[0].started = &started;
    jobs[0].gate = &gate;
    ck_assert_int_eq(wk_pool_submit(p, 0, &jobs[0].job), 0);
    sem_wait(&started);
    for (int i = 1; i <= 4; i++) {
        tjob_init(&jobs[i], &s, (uint64_t)i);
        ck_assert_int_eq(wk_pool_submit(p, 0, &jobs[i].job), 0);
    }
    tjob_init(&jobs[5], &s, 5);
    ck_assert_int_eq(wk_pool_submit(p, 0, &jobs[5].job), -EAGAIN);
    sem_post(&gate);
    wk_pool_destroy(p);
    pthread_join(s.th, NULL);
    for (int i = 0; i <= 4; i++) ck_assert_int_eq(jobs[i].dones, 1);
    ck_assert_int_eq(jobs[5].dones, 0);
    sem_destroy(&started);
    sem_destroy(&gate);
    wk_mesh_destroy(m);
}
END_TEST

/* ---- stress: 2 shards submitting, 2 workers, lanes of 8 (completion backpressure) ---- */

#define STRESS_IN_FLIGHT 256 /* per shard; 2 x 256 <= queue_cap, so submit never sees -EAGAIN */

typedef struct {
    shard s;
    wk_pool *pool;
    tjob *jobs;
    uint64_t submitted;
    uint64_t eagain;
} submitter;

static void stress_done(wk_job *j, int result);

static void submit_next(submitter *sb)
{
    tjob *t = &sb->jobs[sb->submitted];
    tjob_init(t, &sb->s, sb->submitted);
    t->job.done = stress_done;
    t->job.ud = sb;
    int r = wk_pool_submit(sb->pool, sb->s.id, &t->job);
    if (r == -EAGAIN) sb->eagain++;
    if (r == 0) sb->submitted++;
}

static void stress_done(wk_job *j, int result)
{
    submitter *sb = j->ud;
    tjob_done(j, result);
    if (sb->submitted < sb->s.expect) submit_next(sb);
}

static void *submitter_main(void *p)
{
    submitter *sb = p;
    for (int i = 0; i < STRESS_IN_FLIGHT && sb->submitted < sb->s.expect; i++) submit_next(sb);
    return shard_main(&sb->s);
}

START_TEST(stress_two_shards_two_workers)
{
    wk_mesh *m;
    ck_assert_int_eq(
        wk_mesh_create(&(wk_mesh_opts){.n_shards = 2, .n_threads = 2, .lane_cap = 8}, &m), 0);
    wk_pool *p;
    ck_assert_int_eq(
        wk_pool_create(&(wk_pool_opts){.n_threads = 2, .first_ep = 2, .queue_cap = 512}, m, &p), 0);
    submitter sb[2];
    for (int i = 0; i < 2; i++) {
        sb[i] = (submitter){.s = {.m = m, .id = i, .expect = JOBS_PER_SHARD}, .pool = p};
        sb[i].jobs = calloc(JOBS_PER_SHARD, sizeof(tjob));
        ck_assert_ptr_nonnull(sb[i].jobs);
    }
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&sb[i].s.th, NULL, submitter_main, &sb[i]), 0);
    for (int i = 0; i < 2; i++) pthread_join(sb[i].s.th, NULL);
    wk_pool_destroy(p);
    for (int i = 0; i < 2; i++) {
        ck_assert_uint_eq(sb[i].eagain, 0);
        ck_assert_uint_eq(sb[i].s.wrong_thread, 0);
        ck_assert_uint_eq(sb[i].s.done, JOBS_PER_SHARD);
        for (uint64_t k = 0; k < JOBS_PER_SHARD; k++) {
            tjob *t = &sb[i].jobs[k];
            if (t->runs != 1 || t->dones != 1 || t->result != (int)(k % 1000))
                ck_abort_msg("shard %d job %llu: runs=%d dones=%d result=%d", i,
                             (unsigned long long)k, t->runs, t->dones, t->result);
        }
        free(sb[i].jobs);
    }
    wk_mesh_destroy(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("wk_pool");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, create_rejects_bad_options);
    tcase_add_test(tc, stop_drain_runs_queued_jobs);
    tcase_add_test(tc, stop_cancel_completes_queued_jobs_with_ecanceled);
    tcase_add_test(tc, full_queue_refuses_with_eagain);
    tcase_add_test(tc, stress_two_shards_two_workers);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
