/* proto_wire/pw_json: JSON for the generated messages. See pw_json.h for the mapping. */
#include "proto_wire/pw_json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_wire/pw_grpc_util.h"

/* ---- reading ---- */

typedef struct jr {
    char *start, *p, *end;
    unsigned depth;
    pw_msg_arena *a;
    char *err;
} jr;

static int fail(jr *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(jr *r, const char *fmt, ...)
{
    char what[PW_JSON_ERR_BYTES - 32]; /* room for " at byte N" */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(r->err, PW_JSON_ERR_BYTES, "%s at byte %zu", what, (size_t)(r->p - r->start));
    return -EINVAL;
}

static void skip_ws(jr *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

/* Expects character `c` (after white space) and steps over it. */
static bool eat(jr *r, char c)
{
    skip_ws(r);
    if (r->p < r->end && *r->p == c) {
        r->p++;
        return true;
    }
    return false;
}

static int hex4(const char *p, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                            : 16u;
        if (d == 16) return -1;
        *v = *v << 4 | d;
    }
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) return o[0] = (char)cp, 1;
    if (cp < 0x800) return o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3F)), 2;
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* One \uXXXX escape (and its low surrogate) at r->p (past the backslash and 'u'), written as
 * UTF-8 at *o. The encoding is never longer than the escape, so unescaping in place is safe. */
static int read_u_escape(jr *r, char **o)
{
    unsigned cp, lo;
    if (r->end - r->p < 4 || hex4(r->p, &cp) < 0) return fail(r, "bad \\u escape");
    r->p += 4;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u' || hex4(r->p + 2, &lo) < 0 ||
            lo < 0xDC00 || lo > 0xDFFF)
            return fail(r, "unpaired surrogate");
        r->p += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        return fail(r, "unpaired surrogate");
    }
    *o += put_utf8(*o, cp);
    return 0;
}

static size_t utf8_len(const unsigned char *s, size_t n);

/* A string at r->p (its opening quote), unescaped in place: *s and *n view the result. */
static int read_string(jr *r, char **s, size_t *n)
{
    skip_ws(r);
    if (r->p >= r->end || *r->p != '"') return fail(r, "expected a string");
    char *o = ++r->p;
    *s = o;
    while (r->p < r->end && *r->p != '"') {
        unsigned char c = (unsigned char)*r->p;
        if (c < 0x20) return fail(r, "control character in a string");
        if (c >= 0x80) { /* RFC 8259: JSON text is UTF-8; anything else is refused */
            size_t k = utf8_len((const unsigned char *)r->p, (size_t)(r->end - r->p));
            if (k == 0) return fail(r, "not UTF-8");
            while (k--) *o++ = *r->p++;
            continue;
        }
        if (c != '\\') {
            *o++ = *r->p++;
            continue;
        }
        if (++r->p >= r->end) break;
        char e = *r->p++;
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *k = e ? strchr(from, e) : NULL;
        if (k) *o++ = to[k - from];
        else if (e == 'u') {
            int rc = read_u_escape(r, &o);
            if (rc < 0) return rc;
        } else return fail(r, "bad escape");
    }
    if (r->p >= r->end) return fail(r, "unterminated string");
    r->p++;
    *n = (size_t)(o - *s);
    return 0;
}

/* A number token at r->p per the JSON grammar: *s and *n view it; *integral when it has no
 * fraction or exponent. */
static int read_number_token(jr *r, const char **s, size_t *n, bool *integral)
{
    skip_ws(r);
    char *p = r->p;
    *s = p;
    *integral = true;
    if (p < r->end && *p == '-') p++;
    if (p >= r->end || *p < '0' || *p > '9') return fail(r, "expected a number");
    if (*p == '0') p++;
    else
        while (p < r->end && *p >= '0' && *p <= '9') p++;
    if (p < r->end && *p == '.') {
        *integral = false;
        if (++p >= r->end || *p < '0' || *p > '9') return fail(r, "bad number");
        while (p < r->end && *p >= '0' && *p <= '9') p++;
    }
    if (p < r->end && (*p == 'e' || *p == 'E')) {
        *integral = false;
        p++;
        if (p < r->end && (*p == '+' || *p == '-')) p++;
        if (p >= r->end || *p < '0' || *p > '9') return fail(r, "bad number");
        while (p < r->end && *p >= '0' && *p <= '9') p++;
    }
    *n = (size_t)(p - *s);
    r->p = p;
    return 0;
}

/* Decimal digits s[0..n) (an optional '-') into *mag and *neg; false on overflow or junk. */
static bool parse_int(const char *s, size_t n, uint64_t *mag, bool *neg)
{
    size_t i = 0;
    *neg = n > 0 && s[0] == '-';
    if (*neg) i++;
    if (i == n) return false;
    *mag = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (*mag > (UINT64_MAX - d) / 10) return false;
        *mag = *mag * 10 + d;
    }
    return true;
}

static bool kind_is_64(uint8_t k)
{
    return k == PW_MSG_INT64 || k == PW_MSG_UINT64 || k == PW_MSG_FIXED64 || k == PW_MSG_SFIXED64 ||
           k == PW_MSG_SINT64;
}

static bool kind_is_unsigned(uint8_t k)
{
    return k == PW_MSG_UINT64 || k == PW_MSG_FIXED64 || k == PW_MSG_UINT32 || k == PW_MSG_FIXED32;
}

/* An integer of kind k (a number, or for 64-bit kinds a string of digits) into dst. */
static int read_int(jr *r, const pw_msg_field *f, void *dst)
{
    const char *s;
    size_t n;
    bool integral = true, neg;
    uint64_t mag;
    skip_ws(r);
    if (r->p < r->end && *r->p == '"' && kind_is_64(f->kind)) {
        char *t;
        int rc = read_string(r, &t, &n);
        if (rc < 0) return rc;
        s = t;
    } else {
        int rc = read_number_token(r, &s, &n, &integral);
        if (rc < 0) return rc;
    }
    if (!integral || !parse_int(s, n, &mag, &neg)) return fail(r, "%s: not an integer", f->name);
    bool u = kind_is_unsigned(f->kind), w = kind_is_64(f->kind);
    uint64_t lim = u ? (w ? UINT64_MAX : UINT32_MAX) : (w ? (uint64_t)INT64_MAX : INT32_MAX);
    if ((neg && u && mag != 0) || mag > lim + (neg && !u ? 1u : 0u))
        return fail(r, "%s: out of range", f->name);
    uint64_t v = neg ? (uint64_t)0 - mag : mag;
    if (w) memcpy(dst, &v, 8);
    else {
        uint32_t v32 = (uint32_t)v;
        memcpy(dst, &v32, 4);
    }
    return 0;
}

static int read_value(jr *r, const pw_msg_field *f, void *dst);

static int read_bool(jr *r, const pw_msg_field *f, bool *dst)
{
    skip_ws(r);
    if (r->end - r->p >= 4 && memcmp(r->p, "true", 4) == 0) *dst = true, r->p += 4;
    else if (r->end - r->p >= 5 && memcmp(r->p, "false", 5) == 0) *dst = false, r->p += 5;
    else return fail(r, "%s: expected true or false", f->name);
    return 0;
}

static int read_double(jr *r, const pw_msg_field *f, void *dst)
{
    const char *s;
    size_t n;
    bool integral;
    int rc = read_number_token(r, &s, &n, &integral);
    if (rc < 0) return fail(r, "%s: expected a number", f->name);
    char tmp[64];
    if (n >= sizeof tmp) return fail(r, "%s: number too long", f->name);
    memcpy(tmp, s, n);
    tmp[n] = 0;
    double v = strtod(tmp, NULL);
    if (!isfinite(v) || (f->kind == PW_MSG_FLOAT && !isfinite((float)v)))
        return fail(r, "%s: out of range", f->name);
    if (f->kind == PW_MSG_FLOAT) {
        float fv = (float)v;
        memcpy(dst, &fv, sizeof fv);
    } else memcpy(dst, &v, sizeof v);
    return 0;
}

static int read_bytes(jr *r, const pw_msg_field *f, pw_pb_bytes *dst)
{
    char *s;
    size_t n;
    int rc = read_string(r, &s, &n);
    if (rc < 0) return rc;
    if (f->kind == PW_MSG_BYTES) {
        long k = pw_b64_decode((uint8_t *)s, s, n);
        if (k < 0) return fail(r, "%s: not base64", f->name);
        n = (size_t)k;
    }
    *dst = (pw_pb_bytes){(const uint8_t *)s, n};
    return 0;
}

static int read_object(jr *r, const pw_msg_desc *d, void *out);

static size_t elem_size(const pw_msg_field *f, size_t *align)
{
    switch (f->kind) {
    case PW_MSG_MESSAGE: *align = f->sub->align; return f->sub->size;
    case PW_MSG_STRING:
    case PW_MSG_BYTES: *align = _Alignof(pw_pb_bytes); return sizeof(pw_pb_bytes);
    case PW_MSG_BOOL: *align = _Alignof(bool); return sizeof(bool);
    case PW_MSG_DOUBLE: *align = 8; return 8;
    default: *align = kind_is_64(f->kind) ? 8 : 4; return kind_is_64(f->kind) ? 8 : 4;
    }
}

/* A repeated field: an array, grown in the arena by doubling (bounded by PW_JSON_ARRAY_MAX). */
static int read_array(jr *r, const pw_msg_field *f, uint8_t *msg)
{
    size_t align, es = elem_size(f, &align), n = 0, cap = 0;
    uint8_t *arr = NULL;
    if (!eat(r, '[')) return fail(r, "%s: expected an array", f->name);
    if (++r->depth > PW_JSON_DEPTH_MAX) return fail(r, "nested too deep");
    if (!eat(r, ']')) {
        do {
            if (n == PW_JSON_ARRAY_MAX)
                return fail(r, "%s: more than %u elements", f->name, PW_JSON_ARRAY_MAX);
            if (n == cap) {
                size_t ncap = cap ? cap * 2 : 8;
                uint8_t *na = pw_msg_arena_alloc(r->a, ncap * es, align);
                if (!na) return -ENOMEM;
                if (n) memcpy(na, arr, n * es);
                memset(na + n * es, 0, (ncap - n) * es);
                arr = na, cap = ncap;
            }
            int rc = read_value(r, f, arr + n * es);
            if (rc < 0) return rc;
            n++;
        } while (eat(r, ','));
        if (!eat(r, ']')) return fail(r, "%s: expected , or ]", f->name);
    }
    r->depth--;
    memcpy(msg + f->off, &arr, sizeof arr);
    memcpy(msg + f->aux_off, &n, sizeof n);
    return 0;
}

/* One value of field f (an element, for a repeated field) into dst. */
static int read_value(jr *r, const pw_msg_field *f, void *dst)
{
    switch (f->kind) {
    case PW_MSG_BOOL: return read_bool(r, f, dst);
    case PW_MSG_DOUBLE:
    case PW_MSG_FLOAT: return read_double(r, f, dst);
    case PW_MSG_STRING:
    case PW_MSG_BYTES: return read_bytes(r, f, dst);
    case PW_MSG_MESSAGE: return read_object(r, f->sub, dst);
    default: return read_int(r, f, dst);
    }
}

static bool eat_null(jr *r)
{
    skip_ws(r);
    if (r->end - r->p >= 4 && memcmp(r->p, "null", 4) == 0) {
        r->p += 4;
        return true;
    }
    return false;
}

static int read_field(jr *r, const pw_msg_field *f, uint8_t *msg)
{
    if (eat_null(r)) return 0; /* proto3: null is the default */
    if (f->flags & PW_MSG_F_REPEATED) return read_array(r, f, msg);
    if (f->kind == PW_MSG_MESSAGE) {
        void *sub = pw_msg_arena_alloc(r->a, f->sub->size, f->sub->align);
        if (!sub) return -ENOMEM;
        memset(sub, 0, f->sub->size);
        int rc = read_object(r, f->sub, sub);
        if (rc < 0) return rc;
        memcpy(msg + f->off, &sub, sizeof sub);
        return 0;
    }
    int rc = read_value(r, f, msg + f->off);
    if (rc < 0) return rc;
    if (f->flags & PW_MSG_F_OPTIONAL) msg[f->pres_off] = 1;
    if (f->flags & PW_MSG_F_ONEOF) memcpy(msg + f->pres_off, &f->num, sizeof f->num);
    return 0;
}

static const pw_msg_field *find_field(const pw_msg_desc *d, const char *name, size_t n)
{
    for (size_t i = 0; i < d->nfields; i++)
        if (strlen(d->fields[i].name) == n && memcmp(d->fields[i].name, name, n) == 0)
            return &d->fields[i];
    return NULL;
}

static int read_object(jr *r, const pw_msg_desc *d, void *out)
{
    if (!eat(r, '{')) return fail(r, "expected an object");
    if (++r->depth > PW_JSON_DEPTH_MAX) return fail(r, "nested too deep");
    if (!eat(r, '}')) {
        do {
            char *k;
            size_t kn;
            int rc = read_string(r, &k, &kn);
            if (rc < 0) return rc;
            const pw_msg_field *f = find_field(d, k, kn);
            if (!f) return fail(r, "unknown field \"%.*s\"", (int)(kn < 40 ? kn : 40), k);
            if (!eat(r, ':')) return fail(r, "expected :");
            rc = read_field(r, f, out);
            if (rc < 0) return rc;
        } while (eat(r, ','));
        if (!eat(r, '}')) return fail(r, "expected , or }");
    }
    r->depth--;
    return 0;
}

int pw_json_read_msg(const pw_msg_desc *d, void *out, char *text, size_t len, pw_msg_arena *a,
                     char *err)
{
    jr r = {.start = text, .p = text, .end = text + len, .a = a, .err = err};
    err[0] = 0;
    int rc = read_object(&r, d, out);
    if (rc == -ENOMEM) snprintf(err, PW_JSON_ERR_BYTES, "out of memory");
    if (rc < 0) return rc;
    skip_ws(&r);
    if (r.p != r.end) return fail(&r, "trailing bytes after the object");
    return 0;
}

int pw_json_set_field(const pw_msg_desc *d, void *out, const char *name, size_t name_len,
                      char *text, size_t len, char *err)
{
    jr r = {.start = text, .p = text, .end = text + len, .err = err};
    err[0] = 0;
    const pw_msg_field *f = find_field(d, name, name_len);
    if (!f || (f->flags & PW_MSG_F_REPEATED) || f->kind == PW_MSG_MESSAGE)
        return fail(&r, "no parameter \"%.*s\"", (int)(name_len < 40 ? name_len : 40), name);
    uint8_t *msg = out;
    int rc = 0;
    if (f->kind == PW_MSG_STRING) {
        pw_pb_bytes v = {(const uint8_t *)text, len};
        memcpy(msg + f->off, &v, sizeof v);
        r.p = r.end;
    } else if (f->kind == PW_MSG_BYTES) {
        long k = pw_b64_decode((uint8_t *)text, text, len);
        if (k < 0) return fail(&r, "%s: not base64", f->name);
        pw_pb_bytes v = {(const uint8_t *)text, (size_t)k};
        memcpy(msg + f->off, &v, sizeof v);
        r.p = r.end;
    } else {
        rc = read_value(&r, f, msg + f->off);
    }
    if (rc < 0 || r.p != r.end) {
        r.p = r.start;
        return fail(&r, "%s: bad value '%.*s'", f->name, (int)(len < 24 ? len : 24), text);
    }
    if (f->flags & PW_MSG_F_OPTIONAL) msg[f->pres_off] = 1;
    if (f->flags & PW_MSG_F_ONEOF) memcpy(msg + f->pres_off, &f->num, sizeof f->num);
    return 0;
}

/* ---- writing ---- */

#define PUT(b, s) buf_append((b), (s), sizeof(s) - 1)

/* Length of the valid UTF-8 sequence at s[0..n) (1..4), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t k = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
    if (k == 0 || k > n) return 0;
    for (size_t i = 1; i < k; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if (k == 3 && ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0))) return 0;
    if (k == 4 && ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] >= 0x90))) return 0;
    return k;
}

int pw_json_write_str(buf *out, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    int rc = PUT(out, "\"");
    size_t run = 0; /* bytes copied as they are, pending */
    for (size_t i = 0; rc == 0 && i < n;) {
        unsigned c = u[i];
        size_t k = c < 0x80 ? 1 : utf8_len(u + i, n - i);
        /* Escaped: quotes, backslash, controls, and <>& so that a value can never close a
         * <script> or an HTML context it is pasted into; bytes that are not UTF-8 as U+00XX. */
        bool esc = k == 0 || (k == 1 && (c < 0x20 || c == '"' || c == '\\' || c == '<' ||
                                         c == '>' || c == '&' || c == 0x7F));
        if (!esc) {
            run += k, i += k;
            continue;
        }
        if (run) rc = buf_append(out, s + i - run, run), run = 0;
        char e[8];
        int en = c == '"' || c == '\\' ? snprintf(e, sizeof e, "\\%c", (char)c)
                                       : snprintf(e, sizeof e, "\\u%04x", c);
        if (rc == 0) rc = buf_append(out, e, (size_t)en);
        i++;
    }
    if (rc == 0 && run) rc = buf_append(out, s + n - run, run);
    return rc == 0 ? PUT(out, "\"") : rc;
}

static int write_value(buf *out, const pw_msg_field *f, const uint8_t *p)
{
    char t[40];
    int n;
    int32_t i32;
    uint32_t u32;
    int64_t i64;
    uint64_t u64;
    double dv;
    float fv;
    switch (f->kind) {
    case PW_MSG_BOOL: return *(const bool *)p ? PUT(out, "true") : PUT(out, "false");
    case PW_MSG_STRING: {
        pw_pb_bytes b;
        memcpy(&b, p, sizeof b);
        return pw_json_write_str(out, (const char *)b.ptr, b.len);
    }
    case PW_MSG_BYTES: {
        pw_pb_bytes b;
        memcpy(&b, p, sizeof b);
        size_t el = pw_b64_encoded_len(b.len, true);
        uint8_t *dst;
        int rc = PUT(out, "\"");
        if (rc == 0) rc = buf_reserve(out, el, &dst);
        if (rc < 0) return rc;
        buf_commit(out, pw_b64_encode((char *)dst, b.ptr, b.len, true));
        return PUT(out, "\"");
    }
    case PW_MSG_MESSAGE: return pw_json_write_msg(out, f->sub, p);
    case PW_MSG_DOUBLE:
    case PW_MSG_FLOAT:
        if (f->kind == PW_MSG_FLOAT) memcpy(&fv, p, sizeof fv), dv = fv;
        else memcpy(&dv, p, sizeof dv);
        if (!isfinite(dv)) return PUT(out, "null");
        n = snprintf(t, sizeof t, "%.17g", dv);
        break;
    default:
        if (kind_is_64(f->kind) && kind_is_unsigned(f->kind))
            memcpy(&u64, p, 8), n = snprintf(t, sizeof t, "%llu", (unsigned long long)u64);
        else if (kind_is_64(f->kind))
            memcpy(&i64, p, 8), n = snprintf(t, sizeof t, "%lld", (long long)i64);
        else if (kind_is_unsigned(f->kind))
            memcpy(&u32, p, 4), n = snprintf(t, sizeof t, "%u", u32);
        else memcpy(&i32, p, 4), n = snprintf(t, sizeof t, "%d", i32);
        break;
    }
    return buf_append(out, t, (size_t)n);
}

static int write_field(buf *out, const pw_msg_field *f, const uint8_t *msg)
{
    if (f->flags & PW_MSG_F_REPEATED) {
        const uint8_t *arr;
        size_t n, align, es = elem_size(f, &align);
        memcpy(&arr, msg + f->off, sizeof arr);
        memcpy(&n, msg + f->aux_off, sizeof n);
        int rc = PUT(out, "[");
        for (size_t i = 0; rc == 0 && i < n; i++) {
            if (i) rc = PUT(out, ",");
            if (rc == 0) rc = write_value(out, f, arr + i * es);
        }
        return rc == 0 ? PUT(out, "]") : rc;
    }
    if (f->kind == PW_MSG_MESSAGE) {
        const uint8_t *sub;
        memcpy(&sub, msg + f->off, sizeof sub);
        return sub ? pw_json_write_msg(out, f->sub, sub) : PUT(out, "null");
    }
    return write_value(out, f, msg + f->off);
}

int pw_json_write_msg(buf *out, const pw_msg_desc *d, const void *msgp)
{
    const uint8_t *msg = msgp;
    int rc = PUT(out, "{");
    bool first = true;
    for (size_t i = 0; rc == 0 && i < d->nfields; i++) {
        const pw_msg_field *f = &d->fields[i];
        if ((f->flags & PW_MSG_F_OPTIONAL) && !msg[f->pres_off]) continue;
        if (f->flags & PW_MSG_F_ONEOF) {
            uint32_t cs;
            memcpy(&cs, msg + f->pres_off, sizeof cs);
            if (cs != f->num) continue;
        }
        if (!first) rc = PUT(out, ",");
        first = false;
        if (rc == 0) rc = pw_json_write_str(out, f->name, strlen(f->name));
        if (rc == 0) rc = PUT(out, ":");
        if (rc == 0) rc = write_field(out, f, msg);
    }
    return rc == 0 ? PUT(out, "}") : rc;
}
