/* server/srv_auth_file: the auth file's parser, the table it builds, the glob matcher.
 *
 * The format (docs/security.md, "The auth file") is line-based, one statement a line:
 *
 *   # a comment (a line whose first non-blank character is #)
 *   token NAME SECRET           a secret in clear (16..256 printable bytes, no space)
 *   token NAME sha256:HEX       its SHA-256 in hex (64 digits): the file need not hold it
 *   allow NAME PERMS PATTERN... PERMS: produce,consume,admin,metrics (comma-separated);
 *                               PATTERN: [queue:|stream:]GLOB, `*` matching any run
 *   cert NAME SUBJECT...        a verified client certificate with this subject is token NAME
 *
 * Strict: anything else is an error naming file:line:column, and the whole file is refused.
 * Statements may come in any order (an allow may name a token defined below it). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/rt_alloc.h"
#include "server/srv_auth.h"

typedef struct auth_token {
    char name[SRV_AUTH_NAME_BYTES_MAX + 1];
    uint8_t digest[RT_SHA256_BYTES]; /* SHA-256 of the secret: the secret itself is not kept */
} auth_token;

/* Where an allow or cert line named its token, kept to resolve it once every token is known. */
typedef struct auth_ref {
    size_t line, col;
    char name[SRV_AUTH_NAME_BYTES_MAX + 1];
} auth_ref;

typedef struct auth_rule {
    uint32_t tok;
    uint8_t perms; /* srv_auth_perm bits */
    uint8_t kind;  /* srv_auth_kind: SRV_AUTH_ALL for a pattern without a prefix */
    uint8_t plen;
    char pat[SRV_AUTH_PATTERN_BYTES_MAX + 1];
    auth_ref ref;
} auth_rule;

typedef struct auth_cert {
    uint32_t tok;
    uint32_t len;
    char subject[SRV_AUTH_SUBJECT_BYTES_MAX + 1];
    auth_ref ref;
} auth_cert;

struct srv_auth_table {
    auth_token *tok;
    size_t ntok, ctok;
    auth_rule *rule;
    size_t nrule, crule;
    auth_cert *cert;
    size_t ncert, ccert;
};

static_assert(SRV_AUTH_PATTERN_BYTES_MAX <= UINT8_MAX, "auth_rule.plen is a byte");
static_assert(SRV_AUTH_TOKENS_MAX <= UINT32_MAX, "auth_rule.tok");

const char *srv_auth_perm_name(srv_auth_perm p)
{
    switch (p) {
    case SRV_AUTH_PRODUCE: return "produce";
    case SRV_AUTH_CONSUME: return "consume";
    case SRV_AUTH_ADMIN: return "admin";
    case SRV_AUTH_METRICS: return "metrics";
    }
    return "?";
}

bool srv_auth_glob(const char *pat, size_t plen, const char *s, size_t slen)
{
    /* Greedy with one backtrack point (the last star): linear in practice, O(plen * slen) at
     * worst, and both are at most SRV_AUTH_PATTERN_BYTES_MAX / a name's length. */
    size_t p = 0, i = 0, star = SIZE_MAX, mark = 0;
    while (i < slen) {
        if (p < plen && pat[p] == '*') {
            star = p++;
            mark = i;
        } else if (p < plen && pat[p] == s[i]) {
            p++;
            i++;
        } else if (star != SIZE_MAX) {
            p = star + 1;
            i = ++mark;
        } else {
            return false;
        }
    }
    while (p < plen && pat[p] == '*') p++;
    return p == plen;
}

/* ---- parsing ---- */

typedef struct parser {
    const char *fname;
    size_t line;
    const char *line_start;
    char *err;
    srv_auth_table *t;
} parser;

typedef struct field {
    const char *p;
    size_t n;
} field;

static int fail(parser *ps, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(parser *ps, const char *at, const char *fmt, ...)
{
    int n = snprintf(ps->err, SRV_AUTH_ERR_BYTES, "%s:%zu:%zu: ", ps->fname, ps->line,
                     (size_t)(at - ps->line_start) + 1);
    if (n < 0 || (size_t)n >= SRV_AUTH_ERR_BYTES) return -EINVAL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err + n, SRV_AUTH_ERR_BYTES - (size_t)n, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static bool field_is(field f, const char *s)
{
    return f.n == strlen(s) && memcmp(f.p, s, f.n) == 0;
}

static bool name_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

static int grow(void **arr, size_t *cap, size_t n, size_t size, size_t max)
{
    if (n < *cap) return 0;
    if (n >= max) return -ENOSPC;
    size_t nc = *cap ? *cap * 2 : 16;
    if (nc > max) nc = max;
    void *p = rt_realloc(*arr, nc * size);
    if (!p) return -ENOMEM;
    *arr = p;
    *cap = nc;
    return 0;
}

static int token_name(parser *ps, field f, char out[SRV_AUTH_NAME_BYTES_MAX + 1])
{
    if (f.n == 0 || f.n > SRV_AUTH_NAME_BYTES_MAX)
        return fail(ps, f.p, "a token name has 1..%u characters", SRV_AUTH_NAME_BYTES_MAX);
    for (size_t i = 0; i < f.n; i++)
        if (!name_char(f.p[i])) return fail(ps, f.p + i, "a token name has only A-Z a-z 0-9 . _ -");
    memcpy(out, f.p, f.n);
    out[f.n] = 0;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int parse_secret(parser *ps, field f, uint8_t digest[RT_SHA256_BYTES])
{
    static const char pre[] = "sha256:";
    if (f.n >= sizeof pre - 1 && memcmp(f.p, pre, sizeof pre - 1) == 0) {
        const char *h = f.p + sizeof pre - 1;
        if (f.n - (sizeof pre - 1) != 2 * RT_SHA256_BYTES)
            return fail(ps, h, "sha256: takes 64 hex digits (sha256sum of the secret)");
        for (size_t i = 0; i < RT_SHA256_BYTES; i++) {
            int hi = hexval(h[2 * i]), lo = hexval(h[2 * i + 1]);
            if (hi < 0 || lo < 0) return fail(ps, h + 2 * i + (hi < 0 ? 0 : 1), "not a hex digit");
            digest[i] = (uint8_t)(hi << 4 | lo);
        }
        return 0;
    }
    if (f.n < SRV_AUTH_SECRET_BYTES_MIN || f.n > SRV_AUTH_SECRET_BYTES_MAX)
        return fail(ps, f.p, "a secret has %u..%u characters (or write sha256:HEX)",
                    SRV_AUTH_SECRET_BYTES_MIN, SRV_AUTH_SECRET_BYTES_MAX);
    for (size_t i = 0; i < f.n; i++)
        if (f.p[i] < 0x21 || f.p[i] > 0x7e)
            return fail(ps, f.p + i, "a secret is printable ASCII without spaces");
    rt_sha256(f.p, f.n, digest);
    return 0;
}

static int stmt_token(parser *ps, const field *fv, size_t nf)
{
    if (nf != 3)
        return fail(ps, nf < 3 ? fv[nf - 1].p + fv[nf - 1].n : fv[3].p,
                    "expected: token NAME SECRET (or sha256:HEX)");
    srv_auth_table *t = ps->t;
    int r = grow((void **)&t->tok, &t->ctok, t->ntok, sizeof *t->tok, SRV_AUTH_TOKENS_MAX);
    if (r == -ENOSPC) return fail(ps, fv[0].p, "more than %u tokens", SRV_AUTH_TOKENS_MAX);
    if (r < 0) return r;
    auth_token *k = &t->tok[t->ntok];
    if ((r = token_name(ps, fv[1], k->name)) < 0 || (r = parse_secret(ps, fv[2], k->digest)) < 0)
        return r;
    for (size_t i = 0; i < t->ntok; i++) {
        if (strcmp(t->tok[i].name, k->name) == 0)
            return fail(ps, fv[1].p, "token '%s' is defined twice", k->name);
        if (memcmp(t->tok[i].digest, k->digest, RT_SHA256_BYTES) == 0)
            return fail(ps, fv[2].p, "two tokens share this secret (token '%s')", t->tok[i].name);
    }
    t->ntok++;
    return 0;
}

static int parse_perms(parser *ps, field f, uint8_t *perms)
{
    static const srv_auth_perm all[] = {SRV_AUTH_PRODUCE, SRV_AUTH_CONSUME, SRV_AUTH_ADMIN,
                                        SRV_AUTH_METRICS};
    *perms = 0;
    size_t i = 0;
    while (i <= f.n) {
        size_t j = i;
        while (j < f.n && f.p[j] != ',') j++;
        field one = {f.p + i, j - i};
        uint8_t bit = 0;
        for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
            if (field_is(one, srv_auth_perm_name(all[k]))) bit = (uint8_t)all[k];
        if (!bit) return fail(ps, one.p, "unknown permission (produce, consume, admin, metrics)");
        *perms |= bit;
        i = j + 1;
    }
    return 0;
}

static int parse_pattern(parser *ps, field f, auth_rule *ru)
{
    ru->kind = SRV_AUTH_ALL;
    if (f.n >= 6 && memcmp(f.p, "queue:", 6) == 0) ru->kind = SRV_AUTH_QUEUE, f.p += 6, f.n -= 6;
    else if (f.n >= 7 && memcmp(f.p, "stream:", 7) == 0)
        ru->kind = SRV_AUTH_STREAM, f.p += 7, f.n -= 7;
    if (f.n == 0 || f.n > SRV_AUTH_PATTERN_BYTES_MAX)
        return fail(ps, f.p, "a pattern has 1..%u characters", SRV_AUTH_PATTERN_BYTES_MAX);
    for (size_t i = 0; i < f.n; i++)
        if (!name_char(f.p[i]) && f.p[i] != '*')
            return fail(ps, f.p + i,
                        "a pattern has only A-Z a-z 0-9 . _ - and * (after queue: or stream:)");
    memcpy(ru->pat, f.p, f.n);
    ru->pat[f.n] = 0;
    ru->plen = (uint8_t)f.n;
    return 0;
}

static int stmt_allow(parser *ps, const field *fv, size_t nf)
{
    if (nf < 4)
        return fail(ps, fv[nf - 1].p + fv[nf - 1].n, "expected: allow NAME PERMS PATTERN...");
    srv_auth_table *t = ps->t;
    auth_ref ref = {.line = ps->line, .col = (size_t)(fv[1].p - ps->line_start) + 1};
    uint8_t perms;
    int r;
    if ((r = token_name(ps, fv[1], ref.name)) < 0 || (r = parse_perms(ps, fv[2], &perms)) < 0)
        return r;
    for (size_t i = 3; i < nf; i++) {
        r = grow((void **)&t->rule, &t->crule, t->nrule, sizeof *t->rule, SRV_AUTH_RULES_MAX);
        if (r == -ENOSPC) return fail(ps, fv[i].p, "more than %u patterns", SRV_AUTH_RULES_MAX);
        if (r < 0) return r;
        auth_rule *ru = &t->rule[t->nrule];
        ru->perms = perms;
        if ((r = parse_pattern(ps, fv[i], ru)) < 0) return r;
        ru->ref = ref;
        t->nrule++;
    }
    return 0;
}

static int stmt_cert(parser *ps, const field *fv, size_t nf, const char *end)
{
    if (nf < 3) return fail(ps, fv[nf - 1].p + fv[nf - 1].n, "expected: cert NAME SUBJECT");
    srv_auth_table *t = ps->t;
    int r = grow((void **)&t->cert, &t->ccert, t->ncert, sizeof *t->cert, SRV_AUTH_TOKENS_MAX);
    if (r == -ENOSPC) return fail(ps, fv[0].p, "more than %u cert lines", SRV_AUTH_TOKENS_MAX);
    if (r < 0) return r;
    auth_ref ref = {.line = ps->line, .col = (size_t)(fv[1].p - ps->line_start) + 1};
    if ((r = token_name(ps, fv[1], ref.name)) < 0) return r;
    /* The subject is the rest of the line (it may hold spaces), trailing blanks dropped. */
    size_t n = (size_t)(end - fv[2].p);
    while (n && (fv[2].p[n - 1] == ' ' || fv[2].p[n - 1] == '\t')) n--;
    if (n > SRV_AUTH_SUBJECT_BYTES_MAX)
        return fail(ps, fv[2].p, "a subject has at most %u characters", SRV_AUTH_SUBJECT_BYTES_MAX);
    for (size_t i = 0; i < n; i++)
        if (fv[2].p[i] < 0x20 || fv[2].p[i] > 0x7e)
            return fail(ps, fv[2].p + i, "a subject is printable ASCII");
    auth_cert *ce = &t->cert[t->ncert];
    memcpy(ce->subject, fv[2].p, n);
    ce->subject[n] = 0;
    ce->len = (uint32_t)n;
    ce->ref = ref;
    t->ncert++;
    return 0;
}

static int parse_line(parser *ps, const char *p, const char *end)
{
    field f[SRV_AUTH_FIELDS_MAX];
    size_t nf = 0;
    for (const char *q = p; q < end;) {
        if (*q == ' ' || *q == '\t') {
            q++;
            continue;
        }
        const char *s = q;
        if (nf == SRV_AUTH_FIELDS_MAX)
            return fail(ps, s, "more than %u words on a line", SRV_AUTH_FIELDS_MAX);
        while (q < end && *q != ' ' && *q != '\t') q++;
        f[nf++] = (field){s, (size_t)(q - s)};
    }
    if (nf == 0 || f[0].p[0] == '#') return 0;
    if (field_is(f[0], "token")) return stmt_token(ps, f, nf);
    if (field_is(f[0], "allow")) return stmt_allow(ps, f, nf);
    if (field_is(f[0], "cert")) return stmt_cert(ps, f, nf, end);
    return fail(ps, f[0].p, "unknown statement (token, allow, cert or # comment)");
}

/* Every allow and cert line names a defined token. */
static int resolve(parser *ps)
{
    srv_auth_table *t = ps->t;
    for (size_t k = 0; k < t->nrule + t->ncert; k++) {
        auth_ref *ref = k < t->nrule ? &t->rule[k].ref : &t->cert[k - t->nrule].ref;
        size_t i = 0;
        while (i < t->ntok && strcmp(t->tok[i].name, ref->name) != 0) i++;
        if (i == t->ntok) {
            snprintf(ps->err, SRV_AUTH_ERR_BYTES, "%s:%zu:%zu: no token named '%s'", ps->fname,
                     ref->line, ref->col, ref->name);
            return -EINVAL;
        }
        if (k < t->nrule) t->rule[k].tok = (uint32_t)i;
        else t->cert[k - t->nrule].tok = (uint32_t)i;
    }
    return 0;
}

int srv_auth_table_parse(const char *text, size_t len, const char *fname, srv_auth_table **out,
                         char err[SRV_AUTH_ERR_BYTES])
{
    err[0] = 0;
    srv_auth_table *t = rt_calloc(1, sizeof *t);
    if (!t) return -ENOMEM;
    parser ps = {.fname = fname, .err = err, .t = t};
    int r = 0;
    if (len > SRV_AUTH_FILE_BYTES_MAX) {
        snprintf(err, SRV_AUTH_ERR_BYTES, "%s: larger than %u bytes", fname,
                 SRV_AUTH_FILE_BYTES_MAX);
        r = -EFBIG;
    }
    for (size_t at = 0; r == 0 && at < len;) {
        const char *p = text + at, *nl = memchr(p, '\n', len - at);
        const char *end = nl ? nl : text + len;
        ps.line++;
        ps.line_start = p;
        if (end > p && end[-1] == '\r') end--; /* CRLF files are fine */
        const char *zero = memchr(p, 0, (size_t)(end - p));
        if ((size_t)(end - p) > SRV_AUTH_LINE_BYTES_MAX)
            r = fail(&ps, p + SRV_AUTH_LINE_BYTES_MAX, "line longer than %u bytes",
                     SRV_AUTH_LINE_BYTES_MAX);
        else if (zero) r = fail(&ps, zero, "a NUL byte");
        else r = parse_line(&ps, p, end);
        at = nl ? (size_t)(nl - text) + 1 : len;
    }
    if (r == 0) r = resolve(&ps);
    if (r < 0) {
        if (r == -ENOMEM && !err[0]) snprintf(err, SRV_AUTH_ERR_BYTES, "%s: out of memory", fname);
        srv_auth_table_destroy(t);
        return r;
    }
    *out = t;
    return 0;
}

int srv_auth_table_load(const char *path, srv_auth_table **out, char err[SRV_AUTH_ERR_BYTES])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, SRV_AUTH_ERR_BYTES, "%s: cannot open: %s", path, strerror(e));
        return -e;
    }
    char *text = rt_malloc(SRV_AUTH_FILE_BYTES_MAX + 1);
    if (!text) {
        close(fd);
        snprintf(err, SRV_AUTH_ERR_BYTES, "%s: out of memory", path);
        return -ENOMEM;
    }
    size_t n = 0;
    int r = 0;
    while (n <= SRV_AUTH_FILE_BYTES_MAX) {
        ssize_t k = read(fd, text + n, SRV_AUTH_FILE_BYTES_MAX + 1 - n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            r = -errno;
            snprintf(err, SRV_AUTH_ERR_BYTES, "%s: cannot read: %s", path, strerror(-r));
            break;
        }
        if (k == 0) break;
        n += (size_t)k;
    }
    close(fd);
    if (r == 0) r = srv_auth_table_parse(text, n, path, out, err);
    /* The text may hold secrets in clear: wipe it before it goes back to the allocator. */
    explicit_bzero(text, n);
    rt_free(text);
    return r;
}

void srv_auth_table_destroy(srv_auth_table *t)
{
    if (!t) return;
    if (t->tok) explicit_bzero(t->tok, t->ctok * sizeof *t->tok);
    rt_free(t->tok);
    rt_free(t->rule);
    rt_free(t->cert);
    rt_free(t);
}

size_t srv_auth_table_ntokens(const srv_auth_table *t) { return t->ntok; }

int srv_auth_table_find_secret(const srv_auth_table *t, const char *secret, size_t len)
{
    uint8_t d[RT_SHA256_BYTES];
    rt_sha256(secret, len, d);
    /* Every token is compared, whatever matched: the time depends on the token count only. */
    int found = -1;
    for (size_t i = 0; i < t->ntok; i++) {
        bool eq = rt_ct_equal(d, t->tok[i].digest, RT_SHA256_BYTES);
        found = eq ? (int)i : found;
    }
    explicit_bzero(d, sizeof d);
    return found;
}

int srv_auth_table_find_subject(const srv_auth_table *t, const char *subject, size_t len)
{
    for (size_t i = 0; i < t->ncert; i++)
        if (t->cert[i].len == len && memcmp(t->cert[i].subject, subject, len) == 0)
            return (int)t->cert[i].tok;
    return -1;
}

bool srv_auth_table_allows(const srv_auth_table *t, int tok, srv_auth_perm perm, srv_auth_kind kind,
                           const char *name, size_t len)
{
    if (tok < 0 || (size_t)tok >= t->ntok) return false;
    for (size_t i = 0; i < t->nrule; i++) {
        const auth_rule *ru = &t->rule[i];
        if (ru->tok != (uint32_t)tok || !(ru->perms & perm)) continue;
        if (kind == SRV_AUTH_ALL) {
            if (ru->kind == SRV_AUTH_ALL && ru->plen == 1 && ru->pat[0] == '*') return true;
            continue;
        }
        if (ru->kind != SRV_AUTH_ALL && ru->kind != kind) continue;
        if (srv_auth_glob(ru->pat, ru->plen, name, len)) return true;
    }
    return false;
}

bool srv_auth_table_allows_some(const srv_auth_table *t, int tok, srv_auth_perm perm)
{
    for (size_t i = 0; tok >= 0 && i < t->nrule; i++)
        if (t->rule[i].tok == (uint32_t)tok && (t->rule[i].perms & perm)) return true;
    return false;
}
