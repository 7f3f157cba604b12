/* ringq-operator: kubeconfig and in-cluster configuration (ko_config.h). */
#include "k8s/operator/ko_config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void ko_conn_cfg_free(ko_conn_cfg *c)
{
    if (!c) return;
    free(c->server);
    free(c->ca_data);
    free(c->ca_file);
    free(c->token);
    free(c->token_file);
    free(c->cert_data);
    free(c->cert_file);
    free(c->key_data);
    free(c->key_file);
    free(c->ns);
    memset(c, 0, sizeof *c);
}

int ko_read_file(const char *path, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    if ((size_t)st.st_size > KO_CONFIG_FILE_BYTES_MAX) {
        close(fd);
        return -EFBIG;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    size_t n = 0;
    while (n < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = -errno;
            free(buf);
            close(fd);
            return e;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* The entry of list `key` (kubeconfig's clusters/users/contexts) named `name`: its `sub`
 * object (cluster/user/context), or NULL. */
static json_t *ko_named(json_t *root, const char *key, const char *name, const char *sub)
{
    json_t *arr = json_object_get(root, key);
    size_t i;
    json_t *it;
    if (!json_is_array(arr)) return NULL;
    json_array_foreach(arr, i, it)
    {
        const char *n = json_string_value(json_object_get(it, "name"));
        json_t *o = json_object_get(it, sub);
        if (n && strcmp(n, name) == 0 && json_is_object(o)) return o;
    }
    return NULL;
}

static const char *ko_str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* A file name as kubeconfig gives it: relative ones are relative to the kubeconfig. */
static int ko_path_dup(const char *dir, const char *name, char **out)
{
    if (!name) return 0;
    int n = (name[0] == '/' || !dir) ? asprintf(out, "%s", name)
                                     : asprintf(out, "%s/%s", dir, name);
    return n < 0 ? -ENOMEM : 0;
}

static int ko_data_dup(const char *b64, const char *key, char **out, size_t *len, char *err,
                       size_t errlen)
{
    if (!b64) return 0;
    int r = ko_base64_decode(b64, strlen(b64), out, len);
    if (r == -EINVAL) snprintf(err, errlen, "kubeconfig: %s is not base64", key);
    return r;
}

static int ko_cluster_fill(json_t *cl, const char *dir, ko_conn_cfg *o, char *err, size_t errlen)
{
    const char *server = ko_str(cl, "server");
    if (!server || strncmp(server, "http", 4) != 0) {
        snprintf(err, errlen, "kubeconfig: the cluster has no server URL");
        return -EINVAL;
    }
    o->server = strdup(server);
    if (!o->server) return -ENOMEM;
    size_t n = strlen(o->server);
    while (n > 0 && o->server[n - 1] == '/') o->server[--n] = '\0';
    json_t *insecure = json_object_get(cl, "insecure-skip-tls-verify");
    const char *is = json_string_value(insecure);
    o->insecure = json_is_true(insecure) || (is && strcmp(is, "true") == 0);
    int r = ko_data_dup(ko_str(cl, "certificate-authority-data"), "certificate-authority-data",
                        &o->ca_data, &o->ca_len, err, errlen);
    if (!r) r = ko_path_dup(dir, ko_str(cl, "certificate-authority"), &o->ca_file);
    return r;
}

static int ko_user_fill(json_t *u, const char *dir, ko_conn_cfg *o, char *err, size_t errlen)
{
    const char *tok = ko_str(u, "token");
    if (tok && !(o->token = strdup(tok))) return -ENOMEM;
    int r = ko_path_dup(dir, ko_str(u, "tokenFile"), &o->token_file);
    if (!r)
        r = ko_data_dup(ko_str(u, "client-certificate-data"), "client-certificate-data",
                        &o->cert_data, &o->cert_len, err, errlen);
    if (!r) r = ko_path_dup(dir, ko_str(u, "client-certificate"), &o->cert_file);
    if (!r)
        r = ko_data_dup(ko_str(u, "client-key-data"), "client-key-data", &o->key_data, &o->key_len,
                        err, errlen);
    if (!r) r = ko_path_dup(dir, ko_str(u, "client-key"), &o->key_file);
    if (!r && !!(o->cert_data || o->cert_file) != !!(o->key_data || o->key_file)) {
        snprintf(err, errlen,
                 "kubeconfig: a client certificate needs its key and a key its "
                 "certificate");
        r = -EINVAL;
    }
    return r;
}

int ko_kubeconfig_parse(const char *text, size_t len, const char *context, const char *dir,
                        ko_conn_cfg *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    json_t *root = NULL;
    int r = ko_yaml_to_json(text, len, &root, err, errlen);
    if (r) return r;
    const char *ctx_name = context ? context : ko_str(root, "current-context");
    json_t *ctx = ctx_name ? ko_named(root, "contexts", ctx_name, "context") : NULL;
    const char *cl_name = ko_str(ctx, "cluster"), *u_name = ko_str(ctx, "user");
    json_t *cl = cl_name ? ko_named(root, "clusters", cl_name, "cluster") : NULL;
    /* A context without a user is anonymous access: allowed. */
    json_t *u = u_name ? ko_named(root, "users", u_name, "user") : NULL;
    r = -EINVAL;
    if (!ctx_name) snprintf(err, errlen, "kubeconfig: no current-context and none given");
    else if (!ctx) snprintf(err, errlen, "kubeconfig: no context named %s", ctx_name);
    else if (!cl) snprintf(err, errlen, "kubeconfig: context %s names no known cluster", ctx_name);
    else if (u_name && !u) snprintf(err, errlen, "kubeconfig: no user named %s", u_name);
    else r = ko_cluster_fill(cl, dir, out, err, errlen);
    if (!r && u) r = ko_user_fill(u, dir, out, err, errlen);
    const char *ns = ko_str(ctx, "namespace");
    if (!r && ns && !(out->ns = strdup(ns))) r = -ENOMEM;
    json_decref(root);
    if (r) ko_conn_cfg_free(out);
    return r;
}

int ko_kubeconfig_load(const char *path, const char *context, ko_conn_cfg *out, char *err,
                       size_t errlen)
{
    char *text;
    size_t len;
    int r = ko_read_file(path, &text, &len);
    if (r) {
        snprintf(err, errlen, "kubeconfig %s: %s", path, strerror(-r));
        return r;
    }
    char *copy = strdup(path);
    if (!copy) {
        free(text);
        return -ENOMEM;
    }
    r = ko_kubeconfig_parse(text, len, context, dirname(copy), out, err, errlen);
    free(copy);
    free(text);
    return r;
}

int ko_incluster_load(const char *sa_dir, ko_conn_cfg *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
    if (!host || !*host || !port || !*port) {
        snprintf(err, errlen, "not in a cluster: KUBERNETES_SERVICE_HOST/PORT unset");
        return -ENOENT;
    }
    bool v6 = strchr(host, ':') != NULL;
    int r = 0;
    if (asprintf(&out->server, v6 ? "https://[%s]:%s" : "https://%s:%s", host, port) < 0 ||
        asprintf(&out->token_file, "%s/token", sa_dir) < 0 ||
        asprintf(&out->ca_file, "%s/ca.crt", sa_dir) < 0)
        r = -ENOMEM;
    if (!r && access(out->token_file, R_OK) != 0) {
        r = -errno;
        snprintf(err, errlen, "in-cluster: %s: %s", out->token_file, strerror(-r));
    }
    char *ns_path = NULL, *ns = NULL;
    size_t ns_len;
    if (!r && asprintf(&ns_path, "%s/namespace", sa_dir) < 0) r = -ENOMEM;
    if (!r && ko_read_file(ns_path, &ns, &ns_len) == 0) {
        while (ns_len > 0 && (ns[ns_len - 1] == '\n' || ns[ns_len - 1] == ' ')) ns[--ns_len] = 0;
        out->ns = ns;
    }
    free(ns_path);
    if (r) ko_conn_cfg_free(out);
    return r;
}
