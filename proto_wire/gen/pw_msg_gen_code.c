/* proto_wire/gen/pw_msg_gen_code: emits, for every message, the straight-line encoder that
 * pw_msg_encode* call through the message's table (contract and the sub-message size record:
 * proto_wire/pw_msg_code.h):
 *
 *   static size_t <cname>_size(const void *msg, pw_msg_sizes *sz);
 *   static uint8_t *<cname>_write(const void *msg, uint8_t *p, pw_msg_wr *w);
 *
 * Fields in field-number order; per field one presence test on the C member, the tag as
 * constant bytes computed here, the value written by its kind's helper; a sub-message through
 * a direct call of its own functions. The presence rules are the interpreter's
 * (proto_wire/pw_msg_enc.c, pw_msg.h's encoding contract), so both give the same bytes. */
#include <stdlib.h>
#include <string.h>

#include "proto_wire/gen/pw_msg_gen.h"
#include "proto_wire/pw_msg.h"
#include "proto_wire/pw_pb.h"

/* How a field's value goes on the wire. */
typedef enum wclass { W_VARINT, W_BOOL, W_I32, W_I64, W_LEN, W_MSG } wclass;

/* Room for one C expression the emitter builds (names are at most GEN_NAME_BYTES_MAX). */
#define GEN_EXPR_BYTES_MAX (4u * GEN_NAME_BYTES_MAX)

typedef struct gexpr {
    char s[GEN_EXPR_BYTES_MAX];
} gexpr;

static wclass class_of(const gfield *g)
{
    switch (g->type) {
    case PW_MSG_BOOL: return W_BOOL;
    case PW_MSG_FIXED32:
    case PW_MSG_SFIXED32:
    case PW_MSG_FLOAT: return W_I32;
    case PW_MSG_FIXED64:
    case PW_MSG_SFIXED64:
    case PW_MSG_DOUBLE: return W_I64;
    case PW_MSG_STRING:
    case PW_MSG_BYTES: return W_LEN;
    case PW_MSG_MESSAGE: return W_MSG;
    default: return W_VARINT;
    }
}

static pw_pb_wire_type wire_type(wclass c)
{
    switch (c) {
    case W_I32: return PW_PB_WT_I32;
    case W_I64: return PW_PB_WT_I64;
    case W_LEN:
    case W_MSG: return PW_PB_WT_LEN;
    default: return PW_PB_WT_VARINT;
    }
}

static gexpr fmt(const char *f, const char *a, const char *b)
{
    gexpr e;
    int n = snprintf(e.s, sizeof e.s, f, a, b);
    if (n < 0 || (size_t)n >= sizeof e.s) gen_die("expression too long: %s", a);
    return e;
}

/* The wire value (uint64_t for varints, the bits for fixed kinds) of C value x: the
 * interpreter's load_scalar. Nonzero exactly when proto3 writes a singular field. */
static gexpr wire_value(const gfield *g, const char *x)
{
    switch (g->type) {
    case PW_MSG_INT32:
    case PW_MSG_ENUM: return fmt("(uint64_t)(int64_t)(%s)%s", x, ""); /* negative: 10 bytes */
    case PW_MSG_SINT32: return fmt("(uint64_t)pw_pb_zigzag_encode32(%s)%s", x, "");
    case PW_MSG_SINT64: return fmt("pw_pb_zigzag_encode64(%s)%s", x, "");
    case PW_MSG_FLOAT: return fmt("pw_pb_float_bits(%s)%s", x, "");
    case PW_MSG_DOUBLE: return fmt("pw_pb_double_bits(%s)%s", x, "");
    case PW_MSG_FIXED32:
    case PW_MSG_SFIXED32: return fmt("(uint32_t)(%s)%s", x, "");
    case PW_MSG_BOOL: return fmt("(%s)%s", x, "");
    default: return fmt("(uint64_t)(%s)%s", x, "");
    }
}

/* Bytes of value x (no tag); ptr: the pointer to x when it is a sub-message. */
static gexpr value_len(const gfield *g, const char *sub, const char *x, const char *ptr)
{
    switch (class_of(g)) {
    case W_BOOL: return fmt("1%s%s", "", "");
    case W_I32: return fmt("4%s%s", "", "");
    case W_I64: return fmt("8%s%s", "", "");
    case W_LEN: return fmt("pw_msg_len_body((%s).len)%s", x, "");
    case W_MSG: return fmt("pw_msg_len_body(pw_msg_sz_sub(sz, %s_size, %s))", sub, ptr);
    default: return fmt("pw_pb_varint_len(%s)%s", wire_value(g, x).s, "");
    }
}

/* Statements writing value x (no tag) at p. */
static void put_value(FILE *c, const char *ind, const gfield *g, const char *sub, const char *x,
                      const char *ptr)
{
    switch (class_of(g)) {
    case W_BOOL: fprintf(c, "%s*p++ = (%s) ? 1 : 0;\n", ind, x); break;
    case W_I32: fprintf(c, "%sp = pw_msg_put_le32(p, %s);\n", ind, wire_value(g, x).s); break;
    case W_I64: fprintf(c, "%sp = pw_msg_put_le64(p, %s);\n", ind, wire_value(g, x).s); break;
    case W_LEN: fprintf(c, "%sp = pw_msg_put_bytes(p, %s);\n", ind, x); break;
    case W_MSG:
        fprintf(c, "%sp = pw_msg_put_varint(p, pw_msg_wr_sub(w, %s_size, %s));\n", ind, sub, ptr);
        fprintf(c, "%sp = %s_write(%s, p, w);\n", ind, sub, ptr);
        break;
    default: fprintf(c, "%sp = pw_msg_put_varint(p, %s);\n", ind, wire_value(g, x).s); break;
    }
}

/* The tag of g as the bytes of its varint (packed: of the LEN field that holds the elements);
 * returns their count. */
static size_t tag_bytes(const gfield *g, bool packed, uint8_t t[PW_PB_VARINT_BYTES_MAX])
{
    uint64_t v = (uint64_t)g->num << 3 | (packed ? PW_PB_WT_LEN : wire_type(class_of(g)));
    size_t k = 0;
    while (v >= 0x80) {
        t[k++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    t[k++] = (uint8_t)v;
    return k;
}

static void put_tag(FILE *c, const char *ind, const gfield *g, bool packed)
{
    uint8_t t[PW_PB_VARINT_BYTES_MAX];
    size_t k = tag_bytes(g, packed, t);
    if (k == 1) {
        fprintf(c, "%s*p++ = 0x%02x;\n", ind, t[0]);
        return;
    }
    fprintf(c, "%smemcpy(p, \"", ind);
    for (size_t i = 0; i < k; i++) fprintf(c, "\\x%02x", t[i]);
    fprintf(c, "\", %zu);\n%sp += %zu;\n", k, ind, k);
}

/* Names the emitter needs for one field. */
typedef struct gnames {
    char mem[GEN_NAME_BYTES_MAX + 1]; /* the C member */
    char sub[GEN_NAME_BYTES_MAX];     /* the sub-message's C name, or "" */
    gexpr one;                        /* singular: the value; repeated: element i */
    gexpr ptr;                        /* a pointer to it (sub-messages) */
    gexpr count;                      /* repeated: the count member */
    size_t tag_len;
} gnames;

static void names_of(gnames *n, const gfield *g)
{
    uint8_t t[PW_PB_VARINT_BYTES_MAX];
    snprintf(n->mem, sizeof n->mem, "%s", gen_member(g->name));
    n->sub[0] = 0;
    if (g->type == PW_MSG_MESSAGE) gen_cname_of(n->sub, g->type_name + 1);
    if (gen_is_repeated(g)) {
        n->one = fmt("m->%s[i]%s", n->mem, "");
        n->ptr = fmt("&m->%s[i]%s", n->mem, "");
        n->count = fmt("m->%s_count%s", g->name, "");
    } else {
        n->one = fmt("m->%s%s", n->mem, "");
        n->ptr = n->one; /* a singular sub-message member is its pointer */
    }
    n->tag_len = tag_bytes(g, false, t); /* the wire type does not change the length */
}

/* When a singular field is written (pw_msg.h's encoding contract). */
static gexpr present(const gmsg *m, const gfield *g, const gnames *n)
{
    const char *and_sub = class_of(g) == W_MSG ? " && m->" : "";
    const char *sub_mem = class_of(g) == W_MSG ? n->mem : "";
    char num[16];
    snprintf(num, sizeof num, "%u", g->num);
    if (g->proto3_optional) {
        gexpr e = fmt("m->has_%s%s", g->name, and_sub);
        return fmt("%s%s", e.s, sub_mem);
    }
    if (gen_is_oneof(g)) {
        gexpr e = fmt("m->%s_case == %s", m->oneofs[g->oneof], num);
        e = fmt("%s%s", e.s, and_sub);
        return fmt("%s%s", e.s, sub_mem);
    }
    switch (class_of(g)) {
    case W_MSG:
    case W_BOOL: return n->one;
    case W_LEN: return fmt("%s.len%s", n->one.s, "");
    default: return wire_value(g, n->one.s);
    }
}

/* The body length of packed field g into local b (declared by the caller). */
static void packed_body(FILE *c, const gfield *g, const gnames *n)
{
    switch (class_of(g)) {
    case W_BOOL: fprintf(c, "        b = %s;\n", n->count.s); return;
    case W_I32: fprintf(c, "        b = %s * 4;\n", n->count.s); return;
    case W_I64: fprintf(c, "        b = %s * 8;\n", n->count.s); return;
    default:
        fprintf(c, "        for (size_t i = 0; i < %s; i++) b += %s;\n", n->count.s,
                value_len(g, n->sub, n->one.s, n->ptr.s).s);
    }
}

static void size_field(FILE *c, const gmsg *m, const gfield *g)
{
    gnames n;
    names_of(&n, g);
    gexpr len = value_len(g, n.sub, n.one.s, n.ptr.s);
    if (!gen_is_repeated(g)) {
        fprintf(c, "    if (%s) n += %zu + %s;\n", present(m, g, &n).s, n.tag_len, len.s);
    } else if (gen_is_packed(m, g)) {
        fprintf(c, "    if (%s) {\n        size_t b = 0;\n", n.count.s);
        packed_body(c, g, &n);
        fprintf(c, "        n += %zu + pw_msg_len_body(b);\n    }\n", n.tag_len);
    } else {
        fprintf(c, "    for (size_t i = 0; i < %s; i++) n += %zu + %s;\n", n.count.s, n.tag_len,
                len.s);
    }
}

static void write_field(FILE *c, const gmsg *m, const gfield *g)
{
    gnames n;
    names_of(&n, g);
    if (!gen_is_repeated(g)) {
        fprintf(c, "    if (%s) {\n", present(m, g, &n).s);
        put_tag(c, "        ", g, false);
        put_value(c, "        ", g, n.sub, n.one.s, n.ptr.s);
        fprintf(c, "    }\n");
    } else if (gen_is_packed(m, g)) {
        fprintf(c, "    if (%s) {\n        size_t b = 0;\n", n.count.s);
        put_tag(c, "        ", g, true);
        packed_body(c, g, &n);
        fprintf(c, "        p = pw_msg_put_varint(p, b);\n");
        fprintf(c, "        for (size_t i = 0; i < %s; i++) {\n", n.count.s);
        put_value(c, "            ", g, n.sub, n.one.s, n.ptr.s);
        fprintf(c, "        }\n    }\n");
    } else {
        fprintf(c, "    for (size_t i = 0; i < %s; i++) {\n", n.count.s);
        put_tag(c, "        ", g, false);
        put_value(c, "        ", g, n.sub, n.one.s, n.ptr.s);
        fprintf(c, "    }\n");
    }
}

void gen_code_decls(FILE *c, const gmsg *msgs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(c,
                "static size_t %s_size(const void *msg, pw_msg_sizes *sz);\n"
                "static uint8_t *%s_write(const void *msg, uint8_t *p, pw_msg_wr *w);\n",
                msgs[i].cname, msgs[i].cname);
    fprintf(c, "\n");
}

static int cmp_num(const void *a, const void *b)
{
    const gfield *x = a, *y = b;
    return x->num < y->num ? -1 : x->num > y->num;
}

void gen_code(FILE *c, const gmsg *m)
{
    gfield *sorted = malloc((m->nfields + 1) * sizeof *sorted);
    if (!sorted) gen_die("out of memory");
    if (m->nfields) memcpy(sorted, m->fields, m->nfields * sizeof *sorted);
    qsort(sorted, m->nfields, sizeof *sorted, cmp_num);
    const char *self = m->nfields ? "    const %s *m = msg;\n" : "    (void)msg;%s\n";
    fprintf(c, "/* %s */\nstatic size_t %s_size(const void *msg, pw_msg_sizes *sz)\n{\n", m->full,
            m->cname);
    fprintf(c, self, m->nfields ? m->cname : "");
    fprintf(c, "    size_t n = 0;\n");
    for (size_t i = 0; i < m->nfields; i++) size_field(c, m, &sorted[i]);
    fprintf(c, "    return n;\n}\n\n");
    fprintf(c, "static uint8_t *%s_write(const void *msg, uint8_t *p, pw_msg_wr *w)\n{\n",
            m->cname);
    fprintf(c, self, m->nfields ? m->cname : "");
    for (size_t i = 0; i < m->nfields; i++) write_field(c, m, &sorted[i]);
    fprintf(c, "    return p;\n}\n\n");
    free(sorted);
}
