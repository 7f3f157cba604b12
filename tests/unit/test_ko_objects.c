/* k8s/operator: the objects of a RingqCluster (ko_objects), the desired-state comparison and
 * conditions (ko_kube), and the work queue's dedup and backoff (ko_wq). The API round trips are
 * in tests/integration/test_k8s_operator.py. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/operator/ko_kube.h"
#include "k8s/operator/ko_objects.h"
#include "k8s/operator/ko_wq.h"

static json_t *cluster(const char *spec_json)
{
    json_error_t e;
    json_t *spec = json_loads(spec_json, 0, &e);
    ck_assert_ptr_nonnull(spec);
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:i}, s:o}", "apiVersion", KO_API_VERSION,
                     "kind", "RingqCluster", "metadata", "name", "demo", "namespace", "q", "uid",
                     "u-1", "generation", 3, "spec", spec);
}

static json_t *find(ko_desired *d, const char *kind, const char *name)
{
    for (int i = 0; i < d->n; i++) {
        if (strcmp(json_string_value(json_object_get(d->obj[i], "kind")), kind) == 0 &&
            strcmp(ko_meta(d->obj[i], "name"), name) == 0)
            return d->obj[i];
    }
    return NULL;
}

START_TEST(test_desired_objects)
{
    json_t *c = cluster("{\"replicas\":3,\"fsync\":\"never\",\"image\":\"r:1\","
                        "\"storage\":{\"size\":\"1Gi\"},\"extraFlags\":[\"--pin\"]}");
    ko_desired d;
    char err[128] = "";
    ck_assert_int_eq(ko_desired_build(c, &d, err, sizeof err), 0);
    ck_assert_int_eq(d.n, 5);
    json_t *cm = find(&d, "ConfigMap", "demo-config"), *sts = find(&d, "StatefulSet", "demo");
    ck_assert_ptr_nonnull(cm);
    ck_assert_ptr_nonnull(sts);
    ck_assert_ptr_nonnull(find(&d, "Service", "demo"));
    ck_assert_ptr_nonnull(find(&d, "Service", "demo-headless"));
    ck_assert_ptr_nonnull(find(&d, "PodDisruptionBudget", "demo"));
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(cm, "data"), "RINGQ_FSYNC")),
                     "never");
    json_t *ref = json_array_get(
        json_object_get(json_object_get(sts, "metadata"), "ownerReferences"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(ref, "uid")), "u-1");
    ck_assert(json_is_true(json_object_get(ref, "controller")));
    json_t *spec = json_object_get(sts, "spec");
    ck_assert_int_eq(json_integer_value(json_object_get(spec, "replicas")), 3);
    json_t *ctr = json_array_get(
        json_object_get(json_object_get(json_object_get(spec, "template"), "spec"), "containers"),
        0);
    ck_assert_str_eq(json_string_value(json_object_get(ctr, "image")), "r:1");
    json_t *args = json_object_get(ctr, "args");
    ck_assert_str_eq(json_string_value(json_array_get(args, json_array_size(args) - 1)), "--pin");
    ck_assert_uint_eq(strlen(d.config_hash), 16);
    char h1[17];
    memcpy(h1, d.config_hash, 17);
    ko_desired_free(&d);
    /* The hash moves with the configuration, not with the replica count. */
    json_object_set_new(json_object_get(c, "spec"), "replicas", json_integer(5));
    ck_assert_int_eq(ko_desired_build(c, &d, err, sizeof err), 0);
    ck_assert_str_eq(d.config_hash, h1);
    ko_desired_free(&d);
    json_object_set_new(json_object_get(c, "spec"), "fsync", json_string("always"));
    ck_assert_int_eq(ko_desired_build(c, &d, err, sizeof err), 0);
    ck_assert_str_ne(d.config_hash, h1);
    ko_desired_free(&d);
    json_decref(c);
}
END_TEST

START_TEST(test_desired_refuses_wrong_types)
{
    static const char *const specs[][2] = {
        {"{\"replicas\":\"3\"}", "spec.replicas"},
        {"{\"image\":5}", "spec.image"},
        {"{\"storage\":{\"size\":1}}", "spec.storage.size"},
        {"{\"extraFlags\":\"--pin\"}", "spec.extraFlags"},
        {"{\"threads\":-1}", "spec.threads"},
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        json_t *c = cluster(specs[i][0]);
        ko_desired d;
        char err[128] = "";
        ck_assert_int_eq(ko_desired_build(c, &d, err, sizeof err), -EINVAL);
        ck_assert_msg(strstr(err, specs[i][1]) != NULL, "'%s' does not name %s", err, specs[i][1]);
        ck_assert_int_eq(d.n, 0);
        json_decref(c);
    }
}
END_TEST

START_TEST(test_subset_ignores_what_the_server_adds)
{
    json_t *want = json_loads("{\"spec\":{\"a\":1,\"l\":[{\"x\":1}]}}", 0, NULL);
    json_t *have = json_loads(
        "{\"spec\":{\"a\":1,\"b\":2,\"l\":[{\"x\":1,\"y\":2}]},\"status\":{}}", 0, NULL);
    ck_assert(ko_json_subset(want, have));
    json_object_set_new(json_object_get(have, "spec"), "a", json_integer(2));
    ck_assert(!ko_json_subset(want, have));
    json_object_set_new(json_object_get(have, "spec"), "a", json_integer(1));
    json_array_append_new(json_object_get(json_object_get(have, "spec"), "l"), json_object());
    ck_assert(!ko_json_subset(want, have)); /* a list has exactly the desired items */
    json_decref(want);
    json_decref(have);
}
END_TEST

START_TEST(test_condition_transition_time_moves_only_with_status)
{
    json_t *o = cluster("{}");
    ck_assert_int_eq(ko_condition_set(o, "Ready", false, "Starting", "m1"), 0);
    json_t *c = json_array_get(json_object_get(json_object_get(o, "status"), "conditions"), 0);
    json_object_set_new(c, "lastTransitionTime", json_string("2000-01-01T00:00:00Z"));
    ck_assert_int_eq(ko_condition_set(o, "Ready", false, "Starting", "m2"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(c, "lastTransitionTime")),
                     "2000-01-01T00:00:00Z");
    ck_assert_str_eq(json_string_value(json_object_get(c, "message")), "m2");
    ck_assert_int_eq(json_integer_value(json_object_get(c, "observedGeneration")), 3);
    ck_assert_int_eq(ko_condition_set(o, "Ready", true, "Up", ""), 0);
    ck_assert_str_ne(json_string_value(json_object_get(c, "lastTransitionTime")),
                     "2000-01-01T00:00:00Z");
    ck_assert_str_eq(json_string_value(json_object_get(c, "status")), "True");
    ck_assert_int_eq(ko_condition_set(o, "Degraded", false, "Fine", ""), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(o, "status"), "conditions")),
                      2);
    json_decref(o);
}
END_TEST

START_TEST(test_wq_dedup_processing_and_backoff)
{
    ko_wq *q = ko_wq_create();
    ck_assert_ptr_nonnull(q);
    char key[KO_WQ_KEY_MAX];
    ck_assert_int_eq(ko_wq_add(q, "RingqQueue/a/b", 0), 0);
    ck_assert_int_eq(ko_wq_add(q, "RingqQueue/a/b", 0), 0);
    ck_assert_int_eq(ko_wq_len(q), 1); /* once, however often added */
    ck_assert_int_eq(ko_wq_get(q, key, 0), 0);
    ck_assert_str_eq(key, "RingqQueue/a/b");
    /* Added while processing: not handed out again until done. */
    ck_assert_int_eq(ko_wq_add(q, "RingqQueue/a/b", 0), 0);
    ck_assert_int_eq(ko_wq_get(q, key, 20), -ETIMEDOUT);
    ko_wq_done(q, "RingqQueue/a/b", true, 0);
    ck_assert_int_eq(ko_wq_get(q, key, 100), 0);
    /* A failure comes back after the backoff, not before. */
    ko_wq_done(q, key, false, 0);
    ck_assert_int_eq(ko_wq_get(q, key, (int)KO_WQ_BACKOFF_MIN_MS / 2), -ETIMEDOUT);
    ck_assert_int_eq(ko_wq_get(q, key, (int)KO_WQ_BACKOFF_MIN_MS * 4), 0);
    ko_wq_done(q, key, true, 0);
    ck_assert_int_eq(ko_wq_len(q), 0);
    ko_wq_shutdown(q);
    ck_assert_int_eq(ko_wq_get(q, key, 1000), -ECANCELED);
    ko_wq_destroy(q);
    ck_assert_uint_eq(ko_wq_backoff_ms(0), 0);
    ck_assert_uint_eq(ko_wq_backoff_ms(1), KO_WQ_BACKOFF_MIN_MS);
    ck_assert_uint_eq(ko_wq_backoff_ms(3), 4 * KO_WQ_BACKOFF_MIN_MS);
    ck_assert_uint_eq(ko_wq_backoff_ms(40), KO_WQ_BACKOFF_MAX_MS);
}
END_TEST

START_TEST(test_path)
{
    char p[KO_PATH_MAX];
    ko_path(p, sizeof p, KO_STATEFULSET, "ns", "demo", NULL);
    ck_assert_str_eq(p, "/apis/apps/v1/namespaces/ns/statefulsets/demo");
    ko_path(p, sizeof p, KO_QUEUE, "ns", "q", "status");
    ck_assert_str_eq(p, "/apis/ringq.dev/v1alpha1/namespaces/ns/ringqqueues/q/status");
    ko_path(p, sizeof p, KO_CONFIGMAP, NULL, NULL, NULL);
    ck_assert_str_eq(p, "/api/v1/configmaps");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ko_objects");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_desired_objects);
    tcase_add_test(tc, test_desired_refuses_wrong_types);
    tcase_add_test(tc, test_subset_ignores_what_the_server_adds);
    tcase_add_test(tc, test_condition_transition_time_moves_only_with_status);
    tcase_add_test(tc, test_wq_dedup_processing_and_backoff);
    tcase_add_test(tc, test_path);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
