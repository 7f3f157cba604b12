/* server/srv_keda: the trigger metadata parser and the metric (the parts that need no server;
 * tests/integration/test_keda_scaler.py drives the service against a live ringqd). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "queue/q_stream.h"
#include "server/srv_keda.h"
#include "ts_main.h"

/* Metadata pairs into a ScaledObjectRef (views into the literals). */
#define META_MAX 8
typedef struct meta {
    pwm_externalscaler_ScaledObjectRef_ScalerMetadataEntry e[META_MAX];
    pwm_externalscaler_ScaledObjectRef ref;
} meta;

static pw_pb_bytes str(const char *s) { return (pw_pb_bytes){(const uint8_t *)s, strlen(s)}; }

/* kv: NULL-terminated key, value, key, value, ... */
static const pwm_externalscaler_ScaledObjectRef *ref_of(meta *m, const char *const *kv)
{
    size_t n = 0;
    for (; kv[2 * n]; n++) {
        ck_assert_uint_lt(n, META_MAX);
        m->e[n] = (pwm_externalscaler_ScaledObjectRef_ScalerMetadataEntry){
            .key = str(kv[2 * n]), .value = str(kv[2 * n + 1])};
    }
    m->ref = (pwm_externalscaler_ScaledObjectRef){.scalerMetadata = m->e,
                                                  .scalerMetadata_count = n};
    return &m->ref;
}

static q_status parse(const char *const *kv, srv_keda_params *p, q_err *e)
{
    static meta m;
    return srv_keda_params_parse(ref_of(&m, kv), p, e);
}

START_TEST(test_backlog_mode)
{
    srv_keda_params p;
    q_err e;
    const char *kv[] = {"scalerAddress", "ringq:7070", "queue", "jobs", "target", "2.5", NULL};
    ck_assert_int_eq(parse(kv, &p, &e), Q_OK);
    ck_assert_int_eq(p.mode, SRV_KEDA_MODE_BACKLOG);
    ck_assert_uint_eq(p.queue.len, 4);
    ck_assert_mem_eq(p.queue.ptr, "jobs", 4);
    ck_assert_double_eq(p.target, 2.5);
    ck_assert_double_eq(p.activation, 0);
    char name[SRV_KEDA_METRIC_NAME_BYTES_MAX];
    ck_assert_uint_eq(srv_keda_metric_name(&p, name, sizeof name), strlen("ringq-backlog-jobs"));
    ck_assert_str_eq(name, "ringq-backlog-jobs");
    srv_keda_queue q = {.ready = 7, .leased = 3, .ack_rate = 9, .lease_ms = 30000};
    ck_assert_uint_eq(srv_keda_backlog(&q), 10);
    ck_assert_double_eq(srv_keda_metric(&p, &q), 10);
    ck_assert(srv_keda_active(&p, &q));
    q = (srv_keda_queue){.lease_ms = 30000};
    ck_assert(!srv_keda_active(&p, &q));
}
END_TEST

START_TEST(test_drain_time_littles_law)
{
    srv_keda_params p;
    q_err e;
    const char *kv[] = {"queue", "q", "mode", "drain_time", "targetDrainSeconds", "60", NULL};
    ck_assert_int_eq(parse(kv, &p, &e), Q_OK);
    ck_assert_double_eq(p.target, 1); /* default: one task per replica */
    /* 4 in flight at 2 acks/s: 2 s each; 100 tasks x 2 s over 60 s = 3.33 replicas. */
    srv_keda_queue q = {.ready = 96, .leased = 4, .ack_rate = 2, .lease_ms = 30000};
    ck_assert_double_eq_tol(srv_keda_metric(&p, &q), 100.0 * 2 / 60, 1e-9);
    /* No ack in the window: the lease (30 s) bounds a run. */
    q.ack_rate = 0;
    ck_assert_double_eq_tol(srv_keda_metric(&p, &q), 100.0 * 30 / 60, 1e-9);
    char name[SRV_KEDA_METRIC_NAME_BYTES_MAX];
    srv_keda_metric_name(&p, name, sizeof name);
    ck_assert_str_eq(name, "ringq-drain-q");
}
END_TEST

START_TEST(test_activation_target)
{
    srv_keda_params p;
    q_err e;
    const char *kv[] = {"queue", "q", "target", "1", "activationTarget", "5", NULL};
    ck_assert_int_eq(parse(kv, &p, &e), Q_OK);
    srv_keda_queue q = {.ready = 5};
    ck_assert(!srv_keda_active(&p, &q));
    q.leased = 1;
    ck_assert(srv_keda_active(&p, &q));
}
END_TEST

START_TEST(test_stream_consumer)
{
    srv_keda_params p;
    q_err e;
    const char *kv[] = {"stream", "orders",           "consumer", "billing", "target",
                        "10",     "activationTarget", "3",        NULL};
    ck_assert_int_eq(parse(kv, &p, &e), Q_OK);
    ck_assert_ptr_null(p.queue.ptr);
    ck_assert_uint_eq(p.stream.len, 6);
    ck_assert_mem_eq(p.stream.ptr, "orders", 6);
    ck_assert_uint_eq(p.consumer.len, 7);
    ck_assert_mem_eq(p.consumer.ptr, "billing", 7);
    ck_assert_int_eq(p.mode, SRV_KEDA_MODE_BACKLOG);
    ck_assert_double_eq(p.target, 10);
    char name[SRV_KEDA_METRIC_NAME_BYTES_MAX];
    ck_assert_uint_eq(srv_keda_metric_name(&p, name, sizeof name),
                      strlen("ringq-consumer-orders-billing"));
    ck_assert_str_eq(name, "ringq-consumer-orders-billing");
    /* lag 2 + delivered-not-acked 2: 4, above the activation target */
    srv_keda_queue q = {.ready = 2, .leased = 2};
    ck_assert_double_eq(srv_keda_metric(&p, &q), 4);
    ck_assert(srv_keda_active(&p, &q));
    q.leased = 1;
    ck_assert(!srv_keda_active(&p, &q));
    /* the longest names fit the metric name, whole */
    char s[Q_STREAM_NAME_BYTES_MAX], c[Q_STREAM_NAME_BYTES_MAX];
    memset(s, 's', sizeof s);
    memset(c, 'c', sizeof c);
    p.stream = (pw_pb_bytes){(const uint8_t *)s, sizeof s};
    p.consumer = (pw_pb_bytes){(const uint8_t *)c, sizeof c};
    ck_assert_uint_eq(srv_keda_metric_name(&p, name, sizeof name),
                      strlen("ringq-consumer--") + 2 * Q_STREAM_NAME_BYTES_MAX);
}
END_TEST

/* Each bad trigger is refused with the status and a message naming the key. */
static const struct {
    const char *kv[12];
    q_status st;
    const char *names;
} bad[] = {
    {{"target", "1", NULL}, Q_INVALID_ARGUMENT, "queue"},
    {{"queue", "q", NULL}, Q_INVALID_ARGUMENT, "target"},
    {{"queue", "q", "target", "", NULL}, Q_INVALID_ARGUMENT, "target"},
    {{"queue", "q", "target", "0", NULL}, Q_INVALID_ARGUMENT, "target"},
    {{"queue", "q", "target", "-1", NULL}, Q_INVALID_ARGUMENT, "target"},
    {{"queue", "q", "target", "inf", NULL}, Q_INVALID_ARGUMENT, "target"},
    {{"queue", "q", "target", "2x", NULL}, Q_INVALID_ARGUMENT, "target"},
    {{"queue", "q", "target", "1e13", NULL}, Q_INVALID_ARGUMENT, "target"},
    {{"queue", "q", "target", "123456789012345678901234567890123", NULL},
     Q_INVALID_ARGUMENT,
     "target"},
    {{"queue", "q", "target", "1", "activationTarget", "-0.5", NULL},
     Q_INVALID_ARGUMENT,
     "activationTarget"},
    {{"queue", "q", "target", "1", "mode", "Backlog", NULL}, Q_INVALID_ARGUMENT, "mode"},
    {{"queue", "q", "mode", "drain_time", NULL}, Q_INVALID_ARGUMENT, "targetDrainSeconds"},
    {{"queue", "q", "target", "1", "targetDrainSeconds", "5", NULL},
     Q_INVALID_ARGUMENT,
     "targetDrainSeconds"},
    {{"queue", "a b", "target", "1", NULL}, Q_INVALID_ARGUMENT, "name"},
    {{"queue", "q", "stream", "s", "target", "1", NULL}, Q_INVALID_ARGUMENT, "queue"},
    {{"queue", "q", "consumer", "c", "target", "1", NULL}, Q_INVALID_ARGUMENT, "stream"},
    {{"stream", "s", "target", "1", NULL}, Q_INVALID_ARGUMENT, "consumer"},
    {{"consumer", "c", "target", "1", NULL}, Q_INVALID_ARGUMENT, "stream"},
    {{"stream", "s", "consumer", "c", NULL}, Q_INVALID_ARGUMENT, "target"},
    {{"stream", "s.x", "consumer", "c", "target", "1", NULL}, Q_INVALID_ARGUMENT, "stream"},
    {{"stream", "s", "consumer", "", "target", "1", NULL}, Q_INVALID_ARGUMENT, "consumer"},
    {{"stream", "s", "consumer", "c", "mode", "drain_time", "targetDrainSeconds", "9", NULL},
     Q_INVALID_ARGUMENT,
     "drain_time"},
};

START_TEST(test_bad_metadata)
{
    srv_keda_params p;
    q_err e;
    ck_assert_int_eq(parse(bad[_i].kv, &p, &e), bad[_i].st);
    ck_assert_int_eq(e.code, bad[_i].st);
    ck_assert_msg(strstr(e.msg, bad[_i].names) != NULL, "'%s' does not name %s", e.msg,
                  bad[_i].names);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("srv_keda");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_backlog_mode);
    tcase_add_test(tc, test_drain_time_littles_law);
    tcase_add_test(tc, test_activation_target);
    tcase_add_test(tc, test_stream_consumer);
    tcase_add_loop_test(tc, test_bad_metadata, 0, (int)(sizeof bad / sizeof bad[0]));
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
