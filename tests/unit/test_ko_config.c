/* k8s/operator/ko_config + ko_yaml: kubeconfig (YAML and JSON), base64, the YAML-to-JSON
 * converter's refusals, in-cluster configuration from a service-account directory. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "k8s/operator/ko_config.h"

/* "-----BEGIN CA-----\n" in base64. */
#define CA_B64 "LS0tLS1CRUdJTiBDQS0tLS0tCg=="

static const char kc_yaml[] = "apiVersion: v1\n"
                              "kind: Config\n"
                              "current-context: dev\n"
                              "clusters:\n"
                              "- name: prod\n"
                              "  cluster:\n"
                              "    server: https://prod.example:6443/\n"
                              "    certificate-authority: ca/prod.crt\n"
                              "- name: dev\n"
                              "  cluster:\n"
                              "    server: https://127.0.0.1:6443\n"
                              "    certificate-authority-data: " CA_B64 "\n"
                              "users:\n"
                              "- name: alice\n"
                              "  user:\n"
                              "    token: s3cret\n"
                              "- name: bob\n"
                              "  user:\n"
                              "    client-certificate: /etc/bob.crt\n"
                              "    client-key: bob.key\n"
                              "contexts:\n"
                              "- name: dev\n"
                              "  context: {cluster: dev, user: alice, namespace: queues}\n"
                              "- name: prod\n"
                              "  context:\n"
                              "    cluster: prod\n"
                              "    user: bob\n"
                              "- name: lab\n"
                              "  context: {cluster: lab-cluster, user: alice}\n";

START_TEST(test_current_context_inline_ca_and_token)
{
    ko_conn_cfg c;
    char err[256] = "";
    ck_assert_int_eq(
        ko_kubeconfig_parse(kc_yaml, strlen(kc_yaml), NULL, "/home/k", &c, err, sizeof err), 0);
    ck_assert_str_eq(c.server, "https://127.0.0.1:6443");
    ck_assert_uint_eq(c.ca_len, 19);
    ck_assert_mem_eq(c.ca_data, "-----BEGIN CA-----\n", 19);
    ck_assert_ptr_null(c.ca_file);
    ck_assert_str_eq(c.token, "s3cret");
    ck_assert_str_eq(c.ns, "queues");
    ck_assert(!c.insecure);
    ko_conn_cfg_free(&c);
}
END_TEST

START_TEST(test_named_context_files_relative_to_the_kubeconfig)
{
    ko_conn_cfg c;
    char err[256] = "";
    ck_assert_int_eq(
        ko_kubeconfig_parse(kc_yaml, strlen(kc_yaml), "prod", "/home/k", &c, err, sizeof err), 0);
    ck_assert_str_eq(c.server, "https://prod.example:6443"); /* trailing slash dropped */
    ck_assert_str_eq(c.ca_file, "/home/k/ca/prod.crt");
    ck_assert_str_eq(c.cert_file, "/etc/bob.crt");
    ck_assert_str_eq(c.key_file, "/home/k/bob.key");
    ck_assert_ptr_null(c.token);
    ck_assert_ptr_null(c.ns);
    ko_conn_cfg_free(&c);
}
END_TEST

START_TEST(test_json_kubeconfig_and_insecure)
{
    const char *js = "{\"current-context\":\"x\",\"clusters\":[{\"name\":\"c\",\"cluster\":"
                     "{\"server\":\"https://h:1\",\"insecure-skip-tls-verify\":true}}],"
                     "\"contexts\":[{\"name\":\"x\",\"context\":{\"cluster\":\"c\"}}]}";
    ko_conn_cfg c;
    char err[256] = "";
    ck_assert_int_eq(ko_kubeconfig_parse(js, strlen(js), NULL, NULL, &c, err, sizeof err), 0);
    ck_assert(c.insecure);
    ck_assert_ptr_null(c.token); /* no user: anonymous */
    ko_conn_cfg_free(&c);
}
END_TEST

/* Each broken kubeconfig is refused with a message naming what is wrong. */
static const struct {
    const char *text, *context, *names;
} bad[] = {
    {"clusters: []\n", NULL, "current-context"},
    {kc_yaml, "nope", "no context named nope"},
    {kc_yaml, "lab", "names no known cluster"},
    {"current-context: a\ncontexts: [{name: a, context: {cluster: c, user: u}}]\n"
     "clusters: [{name: c, cluster: {server: https://h}}]\n",
     NULL, "no user named u"},
    {"current-context: a\ncontexts: [{name: a, context: {cluster: c}}]\n"
     "clusters: [{name: c, cluster: {certificate-authority-data: AAAA}}]\n",
     NULL, "no server"},
    {"current-context: a\ncontexts: [{name: a, context: {cluster: c}}]\n"
     "clusters: [{name: c, cluster: {server: https://h, certificate-authority-data: '@@'}}]\n",
     NULL, "certificate-authority-data is not base64"},
    {"current-context: a\ncontexts: [{name: a, context: {cluster: c, user: u}}]\n"
     "clusters: [{name: c, cluster: {server: https://h}}]\n"
     "users: [{name: u, user: {client-certificate: /x.crt}}]\n",
     NULL, "needs its key"},
    {"a: &x 1\nb: *x\n", NULL, "anchors and aliases"},
    {"a: 1\n---\nb: 2\n", NULL, "more than one document"},
    {"a: [1, 2\n", NULL, "yaml:"},
    {"", NULL, "no document"},
    {"? [a, b]\n: c\n", NULL, "not a scalar"},
};

START_TEST(test_refusals_name_the_problem)
{
    ko_conn_cfg c;
    char err[256] = "";
    int r = ko_kubeconfig_parse(bad[_i].text, strlen(bad[_i].text), bad[_i].context, NULL, &c, err,
                                sizeof err);
    ck_assert_int_eq(r, -EINVAL);
    ck_assert_msg(strstr(err, bad[_i].names) != NULL, "'%s' does not name '%s'", err,
                  bad[_i].names);
    ck_assert_ptr_null(c.server); /* left empty on error */
}
END_TEST

START_TEST(test_yaml_depth_bound)
{
    char deep[4 * (KO_YAML_DEPTH_MAX + 8)];
    size_t n = 0;
    for (int i = 0; i < KO_YAML_DEPTH_MAX + 4; i++) deep[n++] = '[';
    for (int i = 0; i < KO_YAML_DEPTH_MAX + 4; i++) deep[n++] = ']';
    json_t *j = NULL;
    char err[128];
    ck_assert_int_eq(ko_yaml_to_json(deep, n, &j, err, sizeof err), -EINVAL);
    ck_assert(strstr(err, "too deep") != NULL);
    ck_assert_int_eq(ko_yaml_to_json("[[[1]]]", 7, &j, err, sizeof err), 0);
    ck_assert_str_eq(json_string_value(json_array_get(json_array_get(json_array_get(j, 0), 0), 0)),
                     "1"); /* scalars other than true/false/null stay strings */
    json_decref(j);
}
END_TEST

START_TEST(test_base64)
{
    static const struct {
        const char *in, *out;
        int r;
    } v[] = {
        {"", "", 0},
        {"Zg==", "f", 0},
        {"Zm8=", "fo", 0},
        {"Zm9v", "foo", 0},
        {"Zm9vYg", "foob", 0},
        {"Zm9v\nYmFy", "foobar", 0},
        {"Z", NULL, -EINVAL},
        {"Zg=a", NULL, -EINVAL},
        {"Zg===", NULL, -EINVAL},
        {"Z-9v", NULL, -EINVAL},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char *o = NULL;
        size_t n = 0;
        int r = ko_base64_decode(v[i].in, strlen(v[i].in), &o, &n);
        ck_assert_msg(r == v[i].r, "%s: %d", v[i].in, r);
        if (r == 0) {
            ck_assert_uint_eq(n, strlen(v[i].out));
            ck_assert_mem_eq(o, v[i].out, n);
        }
        free(o);
    }
}
END_TEST

START_TEST(test_in_cluster)
{
    char dir[] = "/tmp/ko-sa-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/token", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("tok\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/namespace", dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("ringq\n", f);
    fclose(f);
    ko_conn_cfg c;
    char err[256] = "";
    unsetenv("KUBERNETES_SERVICE_HOST");
    ck_assert_int_eq(ko_incluster_load(dir, &c, err, sizeof err), -ENOENT);
    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    ck_assert_int_eq(ko_incluster_load(dir, &c, err, sizeof err), 0);
    ck_assert_str_eq(c.server, "https://[fd00::1]:443");
    ck_assert_str_eq(c.ns, "ringq");
    ck_assert(strstr(c.token_file, "/token") != NULL);
    ck_assert(strstr(c.ca_file, "/ca.crt") != NULL);
    ko_conn_cfg_free(&c);
    unlink(path);
    snprintf(path, sizeof path, "%s/token", dir);
    unlink(path);
    ck_assert_int_eq(ko_incluster_load(dir, &c, err, sizeof err), -ENOENT);
    ck_assert(strstr(err, "token") != NULL);
    rmdir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ko_config");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_current_context_inline_ca_and_token);
    tcase_add_test(tc, test_named_context_files_relative_to_the_kubeconfig);
    tcase_add_test(tc, test_json_kubeconfig_and_insecure);
    tcase_add_loop_test(tc, test_refusals_name_the_problem, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, test_yaml_depth_bound);
    tcase_add_test(tc, test_base64);
    tcase_add_test(tc, test_in_cluster);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
