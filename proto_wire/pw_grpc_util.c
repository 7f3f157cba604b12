/* proto_wire/pw_grpc_util: gRPC header helpers. See pw_grpc_util.h for the contracts. */
#include "proto_wire/pw_grpc_util.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "core/rt_dec.h"

/* ---- Status codes ---- */

static const char *const status_names[PW_GRPC_STATUS_MAX + 1] = {
    [PW_GRPC_OK] = "OK",
    [PW_GRPC_CANCELLED] = "CANCELLED",
    [PW_GRPC_UNKNOWN] = "UNKNOWN",
    [PW_GRPC_INVALID_ARGUMENT] = "INVALID_ARGUMENT",
    [PW_GRPC_DEADLINE_EXCEEDED] = "DEADLINE_EXCEEDED",
    [PW_GRPC_NOT_FOUND] = "NOT_FOUND",
    [PW_GRPC_ALREADY_EXISTS] = "ALREADY_EXISTS",
    [PW_GRPC_PERMISSION_DENIED] = "PERMISSION_DENIED",
    [PW_GRPC_RESOURCE_EXHAUSTED] = "RESOURCE_EXHAUSTED",
    [PW_GRPC_FAILED_PRECONDITION] = "FAILED_PRECONDITION",
    [PW_GRPC_ABORTED] = "ABORTED",
    [PW_GRPC_OUT_OF_RANGE] = "OUT_OF_RANGE",
    [PW_GRPC_UNIMPLEMENTED] = "UNIMPLEMENTED",
    [PW_GRPC_INTERNAL] = "INTERNAL",
    [PW_GRPC_UNAVAILABLE] = "UNAVAILABLE",
    [PW_GRPC_DATA_LOSS] = "DATA_LOSS",
    [PW_GRPC_UNAUTHENTICATED] = "UNAUTHENTICATED",
};

const char *pw_grpc_status_name(int code)
{
    if (code < 0 || code > PW_GRPC_STATUS_MAX) return "INVALID_STATUS";
    return status_names[code];
}

int pw_grpc_status_parse(const char *s, size_t len, pw_grpc_status *out)
{
    if (len == 0 || len > PW_GRPC_STATUS_DIGITS_MAX) return -EINVAL;
    uint32_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -EINVAL;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    *out = v <= PW_GRPC_STATUS_MAX ? (pw_grpc_status)v : PW_GRPC_UNKNOWN;
    return 0;
}

/* ---- grpc-timeout ---- */

typedef struct timeout_unit {
    char c;
    uint64_t ns;
} timeout_unit;

/* Largest first. */
static const timeout_unit units[] = {
    {'H', 3600ull * 1000000000ull},
    {'M', 60ull * 1000000000ull},
    {'S', 1000000000ull},
    {'m', 1000000ull},
    {'u', 1000ull},
    {'n', 1ull},
};
#define N_UNITS (sizeof units / sizeof units[0])
#define TIMEOUT_VALUE_MAX 99999999ull /* PW_GRPC_TIMEOUT_DIGITS_MAX nines */

int pw_grpc_timeout_parse(const char *s, size_t len, uint64_t *ns_out)
{
    if (len < 2 || len > PW_GRPC_TIMEOUT_DIGITS_MAX + 1) return -EINVAL;
    uint64_t v = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -EINVAL;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    for (size_t u = 0; u < N_UNITS; u++) {
        if (units[u].c != s[len - 1]) continue;
        /* Saturate instead of wrapping: 99999999H does not fit in 64 bits. */
        *ns_out = v > PW_GRPC_TIMEOUT_NS_MAX / units[u].ns ? PW_GRPC_TIMEOUT_NS_MAX
                                                           : v * units[u].ns;
        return 0;
    }
    return -EINVAL;
}

static size_t emit_timeout(uint64_t v, char unit, char *out)
{
    size_t n = rt_u64_dec(out, v);
    out[n] = unit;
    out[n + 1] = '\0';
    return n + 1;
}

size_t pw_grpc_timeout_format(uint64_t ns, char out[PW_GRPC_TIMEOUT_STR_BYTES])
{
    if (ns == 0) return emit_timeout(0, 'n', out);
    for (size_t u = 0; u < N_UNITS; u++) /* exact, fewest digits */
        if (ns % units[u].ns == 0 && ns / units[u].ns <= TIMEOUT_VALUE_MAX)
            return emit_timeout(ns / units[u].ns, units[u].c, out);
    for (size_t u = N_UNITS; u-- > 0;) { /* finest unit that fits, rounded up */
        uint64_t q = ns / units[u].ns + (ns % units[u].ns != 0);
        if (q <= TIMEOUT_VALUE_MAX) return emit_timeout(q, units[u].c, out);
    }
    /* Unreachable: UINT64_MAX ns is about 5.1e6 hours. */
    return emit_timeout(TIMEOUT_VALUE_MAX, 'H', out);
}

uint64_t pw_grpc_timeout_coarse(uint64_t ns)
{
    uint64_t step = 1, lim = 1;
    for (unsigned i = 0; i < PW_GRPC_TIMEOUT_SIG_DIGITS; i++) lim *= 10u;
    while (ns / step >= lim) step *= 10u; /* ns < lim * step: the digits fit */
    uint64_t q = ns / step + (ns % step != 0);
    return q > UINT64_MAX / step ? UINT64_MAX : q * step;
}

/* ---- Percent-encoding ---- */

static inline bool pct_plain(uint8_t c) { return c >= 0x20 && c <= 0x7E && c != '%'; }

size_t pw_grpc_pct_encoded_len(const uint8_t *src, size_t len)
{
    size_t n = len;
    for (size_t i = 0; i < len; i++) n += pct_plain(src[i]) ? 0 : 2;
    return n;
}

size_t pw_grpc_pct_encode(uint8_t *dst, const uint8_t *src, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    uint8_t *p = dst;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = src[i];
        if (pct_plain(c)) {
            *p++ = c;
        } else {
            *p++ = '%';
            *p++ = (uint8_t)hex[c >> 4];
            *p++ = (uint8_t)hex[c & 15];
        }
    }
    return (size_t)(p - dst);
}

int pw_grpc_pct_encode_buf(buf *out, const uint8_t *src, size_t len)
{
    size_t n = pw_grpc_pct_encoded_len(src, len);
    if (n == 0) return 0;
    uint8_t *p;
    int rc = buf_reserve(out, n, &p);
    if (rc < 0) return rc;
    buf_commit(out, pw_grpc_pct_encode(p, src, len));
    return 0;
}

static inline int hex_val(uint8_t c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

size_t pw_grpc_pct_decode(uint8_t *dst, const uint8_t *src, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        if (src[i] == '%' && i + 2 < len) {
            int hi = hex_val(src[i + 1]), lo = hex_val(src[i + 2]);
            if (hi >= 0 && lo >= 0) {
                dst[o++] = (uint8_t)(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        dst[o++] = src[i++]; /* plain byte, or a broken %-sequence passed through */
    }
    return o;
}

/* ---- base64 ---- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t pw_b64_encoded_len(size_t n, bool pad)
{
    if (pad) return (n + 2) / 3 * 4;
    return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

size_t pw_b64_encode(char *dst, const uint8_t *src, size_t len, bool pad)
{
    char *p = dst;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8 | src[i + 2];
        *p++ = b64_alphabet[v >> 18];
        *p++ = b64_alphabet[(v >> 12) & 63];
        *p++ = b64_alphabet[(v >> 6) & 63];
        *p++ = b64_alphabet[v & 63];
    }
    size_t rest = len - i;
    if (rest) {
        uint32_t v = (uint32_t)src[i] << 16 | (rest == 2 ? (uint32_t)src[i + 1] << 8 : 0);
        *p++ = b64_alphabet[v >> 18];
        *p++ = b64_alphabet[(v >> 12) & 63];
        if (rest == 2) *p++ = b64_alphabet[(v >> 6) & 63];
        if (pad) {
            if (rest == 1) *p++ = '=';
            *p++ = '=';
        }
    }
    return (size_t)(p - dst);
}

static inline int b64_val(char ch)
{
    unsigned char c = (unsigned char)ch;
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

long pw_b64_decode(uint8_t *dst, const char *src, size_t len)
{
    size_t n = len;
    if (len % 4 == 0 && len > 0 && src[len - 1] == '=') {
        n--;
        if (src[len - 2] == '=') n--;
    }
    if (n % 4 == 1) return -EINVAL;
    size_t o = 0;
    uint32_t acc = 0;
    unsigned have = 0; /* sextets in acc */
    for (size_t i = 0; i < n; i++) {
        int v = b64_val(src[i]);
        if (v < 0) return -EINVAL;
        acc = acc << 6 | (uint32_t)v;
        if (++have == 4) {
            dst[o++] = (uint8_t)(acc >> 16);
            dst[o++] = (uint8_t)(acc >> 8);
            dst[o++] = (uint8_t)acc;
            acc = 0;
            have = 0;
        }
    }
    if (have == 2) {
        dst[o++] = (uint8_t)(acc >> 4);
    } else if (have == 3) {
        dst[o++] = (uint8_t)(acc >> 10);
        dst[o++] = (uint8_t)(acc >> 2);
    }
    return (long)o;
}

/* ---- Custom metadata ---- */

bool pw_grpc_md_name_valid(const char *name, size_t len)
{
    if (len == 0) return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '_' || c == '-' ||
                  c == '.';
        if (!ok) return false;
    }
    return true;
}

bool pw_grpc_md_is_bin(const char *name, size_t len)
{
    return len >= 4 && memcmp(name + len - 4, "-bin", 4) == 0;
}

bool pw_grpc_md_is_reserved(const char *name, size_t len)
{
    return len >= 5 && memcmp(name, "grpc-", 5) == 0;
}

bool pw_grpc_md_value_valid(const char *name, size_t name_len, const char *value, size_t len)
{
    bool bin = pw_grpc_md_is_bin(name, name_len);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        if (bin) {
            if (b64_val((char)c) < 0 && c != '=' && c != ',') return false;
        } else if (c < 0x20 || c > 0x7E) {
            return false;
        }
    }
    return true;
}

bool pw_grpc_list_has(const char *p, size_t n, const char *tok)
{
    size_t tl = strlen(tok), i = 0;
    while (i < n) {
        while (i < n && (p[i] == ' ' || p[i] == ',')) i++;
        size_t s = i;
        while (i < n && p[i] != ',') i++;
        size_t e = i;
        while (e > s && p[e - 1] == ' ') e--;
        if (e - s == tl && strncasecmp(p + s, tok, tl) == 0) return true;
    }
    return false;
}
