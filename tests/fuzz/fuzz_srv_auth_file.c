/* libFuzzer target for server/srv_auth_file: arbitrary bytes as an auth file.
 *
 * Properties:
 * - no crash, no sanitizer report, no leak, on any bytes;
 * - a refusal says where: the message starts with "f:" and, for a parse error, names a line
 *   and column within the input;
 * - an accepted file answers every question without crashing: each token's lookups, a glob of
 *   the input's tail against its head, the resource-less and per-name checks;
 * - parsing is deterministic: the same bytes give the same verdict and message again. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/srv_auth.h"

#define FZ_ASSERT(c)       \
    do {                   \
        if (!(c)) abort(); \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    srv_auth_table *t = NULL, *t2 = NULL;
    char err[SRV_AUTH_ERR_BYTES], err2[SRV_AUTH_ERR_BYTES];
    int r = srv_auth_table_parse(text, size, "f", &t, err);
    int r2 = srv_auth_table_parse(text, size, "f", &t2, err2);
    FZ_ASSERT(r == r2);
    if (r < 0) {
        FZ_ASSERT(t == NULL && t2 == NULL);
        FZ_ASSERT(strcmp(err, err2) == 0);
        FZ_ASSERT(strncmp(err, "f:", 2) == 0);
        if (r == -EINVAL) {
            char *end;
            unsigned long line = strtoul(err + 2, &end, 10);
            FZ_ASSERT(line >= 1 && *end == ':');
            size_t lines = 1;
            for (size_t i = 0; i < size; i++) lines += data[i] == '\n';
            FZ_ASSERT(line <= lines);
        }
        return 0;
    }
    FZ_ASSERT(t && t2);
    size_t n = srv_auth_table_ntokens(t);
    FZ_ASSERT(n == srv_auth_table_ntokens(t2));
    size_t half = size / 2;
    int tok = srv_auth_table_find_secret(t, text, half);
    FZ_ASSERT(tok >= -1 && tok < (int)n);
    FZ_ASSERT(srv_auth_table_find_secret(t2, text, half) == tok);
    int subj = srv_auth_table_find_subject(t, text + half, size - half);
    FZ_ASSERT(subj >= -1 && subj < (int)n);
    const srv_auth_perm perms[] = {SRV_AUTH_PRODUCE, SRV_AUTH_CONSUME, SRV_AUTH_ADMIN,
                                   SRV_AUTH_METRICS};
    for (int k = -1; k < (int)n && k < 8; k++)
        for (size_t p = 0; p < sizeof perms / sizeof perms[0]; p++) {
            bool all = srv_auth_table_allows(t, k, perms[p], SRV_AUTH_ALL, NULL, 0);
            bool some = srv_auth_table_allows_some(t, k, perms[p]);
            FZ_ASSERT(!all || some); /* every name implies some pattern */
            bool q = srv_auth_table_allows(t, k, perms[p], SRV_AUTH_QUEUE, text + half,
                                           size - half);
            FZ_ASSERT(!q || some);
            FZ_ASSERT(!all || q); /* a bare * covers every queue name */
        }
    (void)srv_auth_glob(text, half, text + half, size - half);
    srv_auth_table_destroy(t);
    srv_auth_table_destroy(t2);
    return 0;
}
