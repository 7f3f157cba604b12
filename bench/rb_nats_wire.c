/* bench/rb_nats_wire: NATS server-to-client frames (see rb_nats_wire.h). Grammar per the NATS
 * client protocol: operation names are case-insensitive, fields are separated by spaces or tabs
 * (the server writes two spaces where MSG has no reply subject), every line ends in CRLF, and a
 * MSG/HMSG body is followed by CRLF. */
#include "bench/rb_nats_wire.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* MSG/HMSG carry 3..5 fields after the operation; a few more are tolerated nowhere. */
#define NATS_FIELDS_MAX 5

typedef struct nats_tok {
    const char *p;
    size_t n;
} nats_tok;

static bool nats_is_sp(char ch) { return ch == ' ' || ch == '\t'; }

/* Splits line[0..n) into at most `max` fields; returns the count, or max + 1 when there are
 * more. */
static int nats_split(const char *line, size_t n, nats_tok *toks, int max)
{
    int count = 0;
    size_t i = 0;
    for (;;) {
        while (i < n && nats_is_sp(line[i])) i++;
        if (i >= n) return count;
        if (count == max) return max + 1;
        size_t s = i;
        while (i < n && !nats_is_sp(line[i])) i++;
        toks[count].p = line + s;
        toks[count].n = i - s;
        count++;
    }
}

/* A decimal count of at most 18 digits (no overflow possible). 0 or -EPROTO. */
static int nats_u64(const char *p, size_t n, uint64_t *out)
{
    if (n == 0 || n > 18) return -EPROTO;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return -EPROTO;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    *out = v;
    return 0;
}

static bool nats_op_is(const char *line, size_t n, const char *op)
{
    size_t k = strlen(op);
    return n >= k && strncasecmp(line, op, k) == 0 && (n == k || nats_is_sp(line[k]));
}

static ssize_t nats_fail(const char **why, const char *text, ssize_t err)
{
    *why = text;
    return err;
}

/* MSG <subject> <sid> [reply-to] <#bytes> / HMSG <subject> <sid> [reply-to] <#hdr> <#total> */
static ssize_t nats_parse_msg(const uint8_t *p, size_t len, size_t line_end, bool hmsg,
                              size_t body_max, rb_nats_frame *f, const char **why)
{
    const char *line = (const char *)p;
    nats_tok t[NATS_FIELDS_MAX];
    size_t op = hmsg ? 4 : 3;
    int n = nats_split(line + op, line_end - op, t, NATS_FIELDS_MAX);
    int fixed = hmsg ? 4 : 3; /* fields without the optional reply */
    if (n != fixed && n != fixed + 1)
        return nats_fail(why, "MSG/HMSG: wrong number of fields", -EPROTO);
    uint64_t total = 0, hdr = 0;
    if (nats_u64(t[n - 1].p, t[n - 1].n, &total) != 0 || nats_u64(t[1].p, t[1].n, &f->sid) != 0)
        return nats_fail(why, "MSG/HMSG: bad sid or size", -EPROTO);
    if (hmsg && (nats_u64(t[n - 2].p, t[n - 2].n, &hdr) != 0 || hdr > total))
        return nats_fail(why, "HMSG: bad header size", -EPROTO);
    if (total > body_max) return nats_fail(why, "MSG/HMSG: body larger than allowed", -EMSGSIZE);
    f->kind = hmsg ? RB_NATS_HMSG : RB_NATS_MSG;
    f->subject = t[0].p;
    f->subject_len = t[0].n;
    f->reply = n == fixed + 1 ? t[2].p : NULL;
    f->reply_len = n == fixed + 1 ? t[2].n : 0;
    size_t start = line_end + 2;
    if (len - start < total + 2) return 0;
    if (p[start + total] != '\r' || p[start + total + 1] != '\n')
        return nats_fail(why, "MSG/HMSG: body not followed by CRLF", -EPROTO);
    f->hdr = hmsg ? p + start : NULL;
    f->hdr_len = (size_t)hdr;
    f->body = p + start + hdr;
    f->body_len = (size_t)(total - hdr);
    return (ssize_t)(start + total + 2);
}

ssize_t rb_nats_parse(const uint8_t *p, size_t len, size_t body_max, rb_nats_frame *f,
                      const char **why)
{
    memset(f, 0, sizeof(*f));
    *why = NULL;
    size_t scan = len < RB_NATS_LINE_MAX ? len : RB_NATS_LINE_MAX;
    const uint8_t *cr = scan >= 2 ? memmem(p, scan, "\r\n", 2) : NULL;
    if (!cr)
        return len >= RB_NATS_LINE_MAX
                   ? nats_fail(why, "control line longer than RB_NATS_LINE_MAX", -EMSGSIZE)
                   : 0;
    size_t line_end = (size_t)(cr - p);
    const char *line = (const char *)p;
    ssize_t whole = (ssize_t)(line_end + 2);
    if (nats_op_is(line, line_end, "MSG"))
        return nats_parse_msg(p, len, line_end, false, body_max, f, why);
    if (nats_op_is(line, line_end, "HMSG"))
        return nats_parse_msg(p, len, line_end, true, body_max, f, why);
    if (nats_op_is(line, line_end, "PING")) {
        f->kind = RB_NATS_PING;
        return whole;
    }
    if (nats_op_is(line, line_end, "PONG")) {
        f->kind = RB_NATS_PONG;
        return whole;
    }
    if (nats_op_is(line, line_end, "+OK")) {
        f->kind = RB_NATS_OK;
        return whole;
    }
    bool info = nats_op_is(line, line_end, "INFO");
    if (info || nats_op_is(line, line_end, "-ERR")) {
        size_t s = 4, e = line_end; /* "INFO" and "-ERR" */
        while (s < e && nats_is_sp(line[s])) s++;
        while (e > s && nats_is_sp(line[e - 1])) e--;
        if (!info && e - s >= 2 && line[s] == '\'' && line[e - 1] == '\'') {
            s++;
            e--;
        }
        f->kind = info ? RB_NATS_INFO : RB_NATS_ERR;
        f->body = p + s;
        f->body_len = e - s;
        return whole;
    }
    return nats_fail(why, "unknown operation from the server", -EPROTO);
}

int rb_nats_status(const uint8_t *hdr, size_t len, int *code, const char **desc, size_t *desc_len,
                   int64_t *pending)
{
    const char *h = (const char *)hdr;
    *code = 0;
    *desc = "";
    *desc_len = 0;
    *pending = -1;
    const char *eol = memmem(h, len, "\r\n", 2);
    if (len < 8 || memcmp(h, "NATS/1.0", 8) != 0 || !eol) return -EPROTO;
    size_t i = 8, e = (size_t)(eol - h);
    while (i < e && nats_is_sp(h[i])) i++;
    if (i < e) {
        if (e - i < 3) return -EPROTO;
        for (size_t k = 0; k < 3; k++) {
            if (h[i + k] < '0' || h[i + k] > '9') return -EPROTO;
            *code = *code * 10 + (h[i + k] - '0');
        }
        i += 3;
        while (i < e && nats_is_sp(h[i])) i++;
        *desc = h + i;
        *desc_len = e - i;
    }
    /* Header lines "Name: value" until the empty line. */
    static const char key[] = "Nats-Pending-Messages:";
    const size_t klen = sizeof(key) - 1;
    for (size_t s = e + 2; s < len;) {
        const char *nl = memmem(h + s, len - s, "\r\n", 2);
        size_t le = nl ? (size_t)(nl - h) : len;
        if (le - s > klen && strncasecmp(h + s, key, klen) == 0) {
            size_t v = s + klen;
            while (v < le && nats_is_sp(h[v])) v++;
            uint64_t n;
            if (nats_u64(h + v, le - v, &n) != 0) return -EPROTO;
            *pending = (int64_t)n;
        }
        s = le + 2;
    }
    return 0;
}
