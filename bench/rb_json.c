/* bench/rb_json: bounded JSON member lookup (see rb_json.h). RFC 8259 grammar, read loosely
 * only where it cannot matter (numbers are scanned as runs of number characters). */
#include "bench/rb_json.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

typedef struct json_cur {
    const char *end;
    int err; /* first error: -EPROTO or -E2BIG */
} json_cur;

static const char *json_ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

static const char *json_fail(json_cur *c, int err)
{
    if (c->err == 0) c->err = err;
    return NULL;
}

/* p points at '"'; returns the byte after the closing quote. */
static const char *json_skip_str(json_cur *c, const char *p)
{
    for (p++; p < c->end; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '"') return p + 1;
        if (ch < 0x20) return json_fail(c, -EPROTO);
        if (ch == '\\' && ++p >= c->end) break;
    }
    return json_fail(c, -EPROTO);
}

static const char *json_skip_value(json_cur *c, const char *p, int depth);

/* p points at '{' or '['. */
static const char *json_skip_container(json_cur *c, const char *p, int depth)
{
    bool obj = *p == '{';
    char close = obj ? '}' : ']';
    if (depth >= RB_JSON_DEPTH_MAX) return json_fail(c, -E2BIG);
    p = json_ws(p + 1, c->end);
    if (p < c->end && *p == close) return p + 1;
    for (;;) {
        if (obj) {
            if (p >= c->end || *p != '"' || !(p = json_skip_str(c, p)))
                return json_fail(c, -EPROTO);
            p = json_ws(p, c->end);
            if (p >= c->end || *p != ':') return json_fail(c, -EPROTO);
            p = json_ws(p + 1, c->end);
        }
        if (!(p = json_skip_value(c, p, depth + 1))) return NULL;
        p = json_ws(p, c->end);
        if (p < c->end && *p == close) return p + 1;
        if (p >= c->end || *p != ',') return json_fail(c, -EPROTO);
        p = json_ws(p + 1, c->end);
    }
}

static const char *json_skip_lit(json_cur *c, const char *p, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(c->end - p) < n || memcmp(p, lit, n) != 0) return json_fail(c, -EPROTO);
    return p + n;
}

static const char *json_skip_value(json_cur *c, const char *p, int depth)
{
    if (p >= c->end) return json_fail(c, -EPROTO);
    switch (*p) {
    case '"': return json_skip_str(c, p);
    case '{':
    case '[': return json_skip_container(c, p, depth);
    case 't': return json_skip_lit(c, p, "true");
    case 'f': return json_skip_lit(c, p, "false");
    case 'n': return json_skip_lit(c, p, "null");
    default: break;
    }
    const char *s = p;
    while (p < c->end && (strchr("0123456789+-.eE", *p) != NULL && *p != '\0')) p++;
    return p == s ? json_fail(c, -EPROTO) : p;
}

int rb_json_find(const char *js, size_t len, const char *path, const char **val, size_t *vlen)
{
    json_cur c = {.end = js + len, .err = 0};
    const char *p = json_ws(js, c.end);
    const char *seg = path;
    for (int depth = 0;; depth++) {
        if (depth >= RB_JSON_DEPTH_MAX) return -E2BIG;
        if (p >= c.end || *p != '{') return depth == 0 ? -EPROTO : -ENOENT;
        const char *dot = strchr(seg, '.');
        size_t seglen = dot ? (size_t)(dot - seg) : strlen(seg);
        p = json_ws(p + 1, c.end);
        if (p < c.end && *p == '}') return -ENOENT;
        for (;;) {
            if (p >= c.end || *p != '"') return -EPROTO;
            const char *key = p + 1;
            if (!(p = json_skip_str(&c, p))) return c.err;
            size_t keylen = (size_t)(p - 1 - key);
            p = json_ws(p, c.end);
            if (p >= c.end || *p != ':') return -EPROTO;
            p = json_ws(p + 1, c.end);
            bool match = keylen == seglen && memcmp(key, seg, seglen) == 0;
            if (match && dot) {
                seg = dot + 1;
                break; /* descend: p is at the member's value */
            }
            const char *vend = json_skip_value(&c, p, depth + 1);
            if (!vend) return c.err;
            if (match) {
                *val = p;
                *vlen = (size_t)(vend - p);
                return 0;
            }
            p = json_ws(vend, c.end);
            if (p < c.end && *p == '}') return -ENOENT;
            if (p >= c.end || *p != ',') return -EPROTO;
            p = json_ws(p + 1, c.end);
        }
    }
}

int rb_json_u64(const char *val, size_t vlen, uint64_t *out)
{
    if (vlen == 0 || vlen > 20) return -EINVAL;
    uint64_t v = 0;
    for (size_t i = 0; i < vlen; i++) {
        unsigned d = (unsigned)(val[i] - '0');
        if (d > 9 || v > (UINT64_MAX - d) / 10) return -EINVAL;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int rb_json_str(const char *val, size_t vlen, char *out, size_t outlen)
{
    if (vlen < 2 || val[0] != '"' || val[vlen - 1] != '"' || outlen == 0) return -EINVAL;
    size_t o = 0;
    for (size_t i = 1; i + 1 < vlen && o + 1 < outlen; i++) {
        char ch = val[i];
        if (ch == '\\' && i + 2 < vlen) {
            char esc = val[++i];
            switch (esc) {
            case 'n': ch = '\n'; break;
            case 't': ch = '\t'; break;
            case 'r': ch = '\r'; break;
            case 'b': ch = '\b'; break;
            case 'f': ch = '\f'; break;
            case 'u':
                ch = '?';
                i += (vlen - 2 - i < 4) ? vlen - 2 - i : 4; /* the hex digits, if present */
                break;
            default: ch = esc; break; /* \" \\ \/ */
            }
        }
        out[o++] = ((unsigned char)ch < 0x20 && ch != '\n' && ch != '\t') ? '?' : ch;
    }
    out[o] = '\0';
    return 0;
}
