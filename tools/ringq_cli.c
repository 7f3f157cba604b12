/* tools/ringq_cli: usage and failure reporting and argument parsing of the ringq CLI. See
 * ringq_cli.h. */
#include "tools/ringq_cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_wire/pw_grpc_util.h"

int cli_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ringq: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(ringq --help for usage)\n");
    va_end(ap);
    return CLI_EX_USAGE;
}

int cli_fail(const rq_status *st)
{
    fprintf(stderr, "ringq: %s: %s\n", rq_status_name(st->code), st->message);
    switch (st->code) {
    case RQ_ECONNECT: return CLI_EX_CONNECT;
    case RQ_EINVAL: return CLI_EX_USAGE;
    case PW_GRPC_INVALID_ARGUMENT:
    case PW_GRPC_NOT_FOUND:
    case PW_GRPC_FAILED_PRECONDITION:
    case PW_GRPC_ALREADY_EXISTS:
    case PW_GRPC_OUT_OF_RANGE:
    case PW_GRPC_PERMISSION_DENIED: /* the request is refused, not failed: docs/security.md */
    case PW_GRPC_UNAUTHENTICATED: return CLI_EX_REJECTED;
    default: return CLI_EX_SERVER;
    }
}

bool cli_parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 19) return false;
    *out = strtoull(s, NULL, 10);
    return true;
}

bool cli_parse_u32(const char *s, uint32_t *out)
{
    uint64_t v;
    if (!cli_parse_u64(s, &v) || v > UINT32_MAX) return false;
    *out = (uint32_t)v;
    return true;
}

const char *cli_optval(cli_args *a, int *i)
{
    if (*i + 1 >= a->n) return NULL;
    return a->v[++*i];
}

int cli_need_one(cli_args *a, const char *what)
{
    if (a->n != 2 || a->v[1][0] == '-') return cli_usage("%s takes exactly one %s", a->v[0], what);
    return 0;
}

int cli_dispatch(cli_args *a, const char *cmd, const char *names, const cli_sub *subs, size_t n)
{
    if (a->n < 2) return cli_usage("%s needs %s", cmd, names);
    for (size_t i = 0; i < n; i++)
        if (strcmp(a->v[1], subs[i].name) == 0) return subs[i].run(a);
    return cli_usage("%s: unknown subcommand '%s'", cmd, a->v[1]);
}

int cli_token_file(const char *prog, const char *path, char out[RQ_TOKEN_BYTES_MAX + 1])
{
    FILE *f = fopen(path, "re");
    if (!f) {
        fprintf(stderr, "%s: --token-file %s: %s\n", prog, path, strerror(errno));
        return -1;
    }
    char line[RQ_TOKEN_BYTES_MAX + 3]; /* the token, a CR, LF and NUL */
    bool got = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    size_t n = got ? strlen(line) : 0;
    bool whole = n == 0 || line[n - 1] == '\n' || n < sizeof line - 1;
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' ||
                 line[n - 1] == '\t'))
        n--;
    int rc = 0;
    if (!whole || n > RQ_TOKEN_BYTES_MAX) {
        fprintf(stderr, "%s: --token-file %s: a token has at most %d characters\n", prog, path,
                RQ_TOKEN_BYTES_MAX);
        rc = -1;
    } else if (n == 0) {
        fprintf(stderr, "%s: --token-file %s: no token on its first line\n", prog, path);
        rc = -1;
    } else {
        memcpy(out, line, n);
        out[n] = 0;
    }
    explicit_bzero(line, sizeof line);
    return rc;
}
