/* ringq-operator: where the Kubernetes API is and how to authenticate to it.
 *
 * Two sources, as client-go reads them:
 *   in-cluster   KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT, and the service account's
 *                token, ca.crt and namespace files (KO_SA_DIR unless another is given);
 *   kubeconfig   a YAML (or JSON) file: current-context (or the named one) -> its cluster
 *                (server, certificate-authority[-data], insecure-skip-tls-verify) and its user
 *                (token, tokenFile, client-certificate[-data], client-key[-data]); relative
 *                file names are taken from the kubeconfig's directory.
 * Parsing is ours on top of libyaml (ko_yaml_to_json) and jansson; no I/O in ko_kubeconfig_parse
 * beyond nothing: files named inside are only recorded, and read by the HTTP client. */
#ifndef KO_CONFIG_H
#define KO_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* The in-cluster service account directory (Kubernetes mounts it there). */
#define KO_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
/* Largest kubeconfig or service-account file we read, bytes: real ones are a few KiB; a bigger
 * file is a wrong path, not a configuration. */
#define KO_CONFIG_FILE_BYTES_MAX (4u << 20)
/* Deepest YAML nesting accepted: a kubeconfig is 4 levels deep; the bound keeps the converter's
 * recursion (and a fuzzer's input) from exhausting the stack. */
#define KO_YAML_DEPTH_MAX 64

typedef struct ko_conn_cfg {
    char *server;  /* "https://host:port" (no trailing slash) */
    char *ca_data; /* PEM bytes (decoded certificate-authority-data) or NULL */
    size_t ca_len;
    char *ca_file;    /* or a PEM file, or NULL: the system's CAs */
    char *token;      /* bearer token or NULL */
    char *token_file; /* read again at each request (bound tokens rotate) or NULL */
    char *cert_data;  /* client certificate PEM or NULL */
    size_t cert_len;
    char *cert_file;
    char *key_data; /* client key PEM or NULL */
    size_t key_len;
    char *key_file;
    bool insecure; /* insecure-skip-tls-verify */
    char *ns;      /* the context's (or service account's) namespace, or NULL */
} ko_conn_cfg;

/* Frees what the fields own and zeroes *c. NULL-safe. */
void ko_conn_cfg_free(ko_conn_cfg *c);

/* Converts one YAML document of `len` bytes to a JSON tree. Mappings become objects (keys must
 * be scalars), sequences arrays; plain scalars true/false/null become JSON booleans and null,
 * everything else a string. Anchors and aliases are refused (kubeconfigs use none). Returns 0
 * and *out (a new reference), -EINVAL with `err` filled on a syntax error, a non-scalar key,
 * an alias, more than one document or nesting over KO_YAML_DEPTH_MAX, -ENOMEM. */
int ko_yaml_to_json(const char *text, size_t len, json_t **out, char *err, size_t errlen);

/* Standard base64 (RFC 4648 section 4, padding optional, no whitespace other than line
 * breaks). Returns 0 with *out (malloc'd, NUL-terminated, owned by the caller) and *outlen;
 * -EINVAL for any other byte or a bad length; -ENOMEM. */
int ko_base64_decode(const char *in, size_t len, char **out, size_t *outlen);

/* Fills *out from a kubeconfig's text. `context`: NULL for current-context. `dir`: the
 * kubeconfig's directory, for relative file names (NULL: as given). Returns 0, -EINVAL with
 * `err` naming the missing or malformed key, -ENOMEM. On error *out is left empty. */
int ko_kubeconfig_parse(const char *text, size_t len, const char *context, const char *dir,
                        ko_conn_cfg *out, char *err, size_t errlen);
/* Reads `path` and parses it (above). Also -ENOENT/-EACCES/-EFBIG from reading. */
int ko_kubeconfig_load(const char *path, const char *context, ko_conn_cfg *out, char *err,
                       size_t errlen);
/* In-cluster: KUBERNETES_SERVICE_HOST/PORT from the environment, sa_dir/token (as token_file),
 * sa_dir/ca.crt, sa_dir/namespace. -ENOENT with `err` when not in a cluster. */
int ko_incluster_load(const char *sa_dir, ko_conn_cfg *out, char *err, size_t errlen);

/* Reads a whole file (at most KO_CONFIG_FILE_BYTES_MAX) into a NUL-terminated malloc'd buffer.
 * 0, -errno, -EFBIG. */
int ko_read_file(const char *path, char **out, size_t *len);

#endif
