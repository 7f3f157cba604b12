/* k8s/operator: our code on top of libyaml and jansson — the YAML-to-JSON converter, the
 * kubeconfig walk (contexts, clusters, users, file names, base64 data) and base64 — from raw
 * bytes. The first byte picks the context: none (current-context) or a name taken from the
 * input. Whatever comes back must be consistent: a success has a server URL, an error leaves
 * the configuration empty. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/operator/ko_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    char ctx[32] = "";
    size_t skip = 1;
    if (data[0] & 1) {
        size_t n = data[0] >> 3;
        if (n > size - 1) n = size - 1;
        if (n >= sizeof ctx) n = sizeof ctx - 1;
        memcpy(ctx, data + 1, n);
        ctx[n] = '\0';
        skip += n;
    }
    const char *text = (const char *)data + skip;
    size_t len = size - skip;
    ko_conn_cfg c;
    char err[256];
    int r = ko_kubeconfig_parse(text, len, (data[0] & 1) ? ctx : NULL, (data[0] & 2) ? "/d" : NULL,
                                &c, err, sizeof err);
    if (r == 0) {
        if (!c.server || strncmp(c.server, "http", 4) != 0) abort();
        if (c.ca_data && c.ca_data[c.ca_len] != '\0') abort(); /* decoded, NUL-terminated */
        ko_conn_cfg_free(&c);
    } else if (c.server || c.token || c.ca_data) {
        abort();
    }
    char *out = NULL;
    size_t olen = 0;
    if (ko_base64_decode(text, len, &out, &olen) == 0) {
        if (olen > len) abort();
        free(out);
    }
    return 0;
}
