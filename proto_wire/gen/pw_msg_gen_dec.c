/* proto_wire/gen/pw_msg_gen_dec: emits, for every message, the straight-line decoder that
 * pw_msg_decode calls through the message's table (pw_msg_desc.decode_fn):
 *
 *   static int <cname>_decode(void *msg, const uint8_t *src, size_t len, pw_msg_arena *a,
 *                             unsigned depth);    msg: all zero bytes on entry
 *
 * The table-driven decoder's algorithm (proto_wire/pw_msg.c) with the table lookups resolved
 * here: one switch on the field number, the wire type checked against a constant, the value
 * stored by its kind's conversion. Pass 1 decodes the singular fields and counts the elements
 * of the repeated ones; their arrays are carved from the arena in field-number order; pass 2
 * (only when a repeated field is present) fills them. Results, errors and their order, and the
 * arena's use are the table decoder's (fuzz_pw_msg and pw_msg_rt_prog compare the two). */
#include <stdlib.h>
#include <string.h>

#include "proto_wire/gen/pw_msg_gen.h"
#include "proto_wire/pw_msg.h"
#include "proto_wire/pw_pb.h"

static bool is_len(const gfield *g)
{
    return g->type == PW_MSG_STRING || g->type == PW_MSG_BYTES || g->type == PW_MSG_MESSAGE;
}

/* The wire type a non-packed occurrence of g has (pw_pb's enumerator name). */
static const char *wt_name(const gfield *g)
{
    switch (g->type) {
    case PW_MSG_DOUBLE:
    case PW_MSG_FIXED64:
    case PW_MSG_SFIXED64: return "PW_PB_WT_I64";
    case PW_MSG_FLOAT:
    case PW_MSG_FIXED32:
    case PW_MSG_SFIXED32: return "PW_PB_WT_I32";
    default: return is_len(g) ? "PW_PB_WT_LEN" : "PW_PB_WT_VARINT";
    }
}

/* The C value of wire value `v` (a uint64_t expression): pw_msg.c's store_scalar. */
static void convert(FILE *c, const gfield *g, const char *v)
{
    switch (g->type) {
    case PW_MSG_SINT64: fprintf(c, "pw_pb_zigzag_decode64(%s)", v); break;
    case PW_MSG_SINT32: fprintf(c, "pw_pb_zigzag_decode32((uint32_t)%s)", v); break;
    case PW_MSG_BOOL: fprintf(c, "(%s != 0)", v); break;
    case PW_MSG_FLOAT: fprintf(c, "pw_pb_as_float(%s)", v); break;
    case PW_MSG_DOUBLE: fprintf(c, "pw_pb_as_double(%s)", v); break;
    case PW_MSG_INT64:
    case PW_MSG_SFIXED64: fprintf(c, "(int64_t)%s", v); break;
    case PW_MSG_UINT64:
    case PW_MSG_FIXED64: fprintf(c, "%s", v); break;
    case PW_MSG_UINT32:
    case PW_MSG_FIXED32: fprintf(c, "(uint32_t)%s", v); break;
    default: fprintf(c, "(int32_t)(uint32_t)%s", v); break; /* int32, enum, sfixed32 */
    }
}

/* The element type of g's C member. */
static void elem_type(char *dst, const gfield *g)
{
    if (g->type == PW_MSG_MESSAGE) gen_cname_of(dst, g->type_name + 1);
    else snprintf(dst, GEN_NAME_BYTES_MAX, "%s", gen_ctype(g));
}

/* Presence after a singular field is stored: `optional`'s has_, a oneof's case. */
static void mark_present(FILE *c, const gmsg *m, const gfield *g)
{
    if (g->proto3_optional) fprintf(c, "            m->has_%s = true;\n", g->name);
    else if (gen_is_oneof(g))
        fprintf(c, "            m->%s_case = %u;\n", m->oneofs[g->oneof], g->num);
}

static void pass1_single(FILE *c, const gmsg *m, const gfield *g, const char *mem)
{
    char t[GEN_NAME_BYTES_MAX];
    elem_type(t, g);
    fprintf(c, "        case %u:\n", g->num);
    fprintf(c, "            if (f.wt != %s) return PW_PB_ERR_BAD_WIRE_TYPE;\n", wt_name(g));
    if (g->type == PW_MSG_MESSAGE) {
        fprintf(c,
                "            {\n"
                "                %s *sub = pw_msg_arena_alloc(a, sizeof(%s), _Alignof(%s));\n"
                "                if (!sub) return -ENOMEM;\n"
                "                rc = %s_decode(sub, f.bytes.ptr, f.bytes.len, a, depth + 1);\n"
                "                m->%s = sub;\n",
                t, t, t, t, mem);
        mark_present(c, m, g);
        fprintf(c, "                if (rc < 0) return rc;\n            }\n            break;\n");
        return;
    }
    if (is_len(g)) {
        fprintf(c, "            m->%s = f.bytes;\n", mem);
    } else {
        fprintf(c, "            m->%s = ", mem);
        convert(c, g, "f.u64");
        fprintf(c, ";\n");
    }
    mark_present(c, m, g);
    fprintf(c, "            break;\n");
}

/* Pass 1 of a repeated field: its wire type checked, its elements counted into n<num>. */
static void pass1_repeated(FILE *c, const gfield *g)
{
    fprintf(c, "        case %u:\n", g->num);
    if (is_len(g)) {
        fprintf(c, "            if (f.wt != PW_PB_WT_LEN) return PW_PB_ERR_BAD_WIRE_TYPE;\n");
        fprintf(c, "            n%u++;\n            seen = true;\n            break;\n", g->num);
        return;
    }
    const char *wt = wt_name(g);
    fprintf(c, "            {\n                long k = 1;\n");
    fprintf(c, "                if (f.wt == PW_PB_WT_LEN) ");
    if (!strcmp(wt, "PW_PB_WT_I64"))
        fprintf(c, "k = f.bytes.len %% 8 ? PW_PB_ERR_TRUNCATED : (long)(f.bytes.len / 8);\n");
    else if (!strcmp(wt, "PW_PB_WT_I32"))
        fprintf(c, "k = f.bytes.len %% 4 ? PW_PB_ERR_TRUNCATED : (long)(f.bytes.len / 4);\n");
    else fprintf(c, "k = pw_pb_packed_varint_count(f.bytes);\n");
    fprintf(c, "                else if (f.wt != %s) k = PW_PB_ERR_BAD_WIRE_TYPE;\n", wt);
    fprintf(c, "                if (k < 0) return (int)k;\n");
    fprintf(c, "                n%u += (size_t)k;\n                seen = true;\n", g->num);
    fprintf(c, "            }\n            break;\n");
}

/* Pass 2 of a repeated field: its elements appended to e<num>. */
static void pass2_repeated(FILE *c, const gfield *g)
{
    char t[GEN_NAME_BYTES_MAX];
    elem_type(t, g);
    fprintf(c, "        case %u:\n", g->num);
    if (g->type == PW_MSG_MESSAGE) {
        fprintf(c,
                "            rc = %s_decode(&e%u[m->%s_count++], f.bytes.ptr, f.bytes.len, a, "
                "depth + 1);\n            if (rc < 0) return rc;\n            break;\n",
                t, g->num, g->name);
        return;
    }
    if (is_len(g)) {
        fprintf(c, "            e%u[m->%s_count++] = f.bytes;\n            break;\n", g->num,
                g->name);
        return;
    }
    const char *wt = wt_name(g);
    const char *next = !strcmp(wt, "PW_PB_WT_I64")   ? "pw_pb_packed_next_fixed64"
                       : !strcmp(wt, "PW_PB_WT_I32") ? "pw_pb_packed_next_fixed32"
                                                     : "pw_pb_packed_next_varint";
    fprintf(c, "            if (f.wt != PW_PB_WT_LEN) {\n                e%u[m->%s_count++] = ",
            g->num, g->name);
    convert(c, g, "f.u64");
    fprintf(c,
            ";\n                break;\n            }\n            {\n"
            "                pw_pb_packed it;\n                uint64_t v;\n"
            "                pw_pb_packed_init(&it, f.bytes);\n"
            "                while ((rc = %s(&it, &v)) > 0) e%u[m->%s_count++] = ",
            next, g->num, g->name);
    convert(c, g, "v");
    fprintf(c, ";\n                if (rc < 0) return rc;\n            }\n            break;\n");
}

void gen_dec_decls(FILE *c, const gmsg *msgs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(c,
                "static int %s_decode(void *msg, const uint8_t *src, size_t len, pw_msg_arena *a, "
                "unsigned depth);\n",
                msgs[i].cname);
    fprintf(c, "\n");
}

static int cmp_num(const void *a, const void *b)
{
    const gfield *x = a, *y = b;
    return x->num < y->num ? -1 : x->num > y->num;
}

/* The arrays of the repeated fields seen, in field-number order (pw_msg.c's alloc_arrays). */
static void alloc_arrays(FILE *c, const gfield *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!gen_is_repeated(&s[i])) continue;
        char t[GEN_NAME_BYTES_MAX];
        elem_type(t, &s[i]);
        fprintf(c,
                "    if (n%u) {\n"
                "        if (n%u > SIZE_MAX / sizeof(%s)) return -ENOMEM;\n"
                "        e%u = pw_msg_arena_alloc(a, n%u * sizeof(%s), _Alignof(%s));\n"
                "        if (!e%u) return -ENOMEM;\n        m->%s = e%u;\n    }\n",
                s[i].num, s[i].num, t, s[i].num, s[i].num, t, t, s[i].num, gen_member(s[i].name),
                s[i].num);
    }
}

void gen_dec(FILE *c, const gmsg *m)
{
    gfield *s = malloc((m->nfields + 1) * sizeof *s);
    if (!s) gen_die("out of memory");
    if (m->nfields) memcpy(s, m->fields, m->nfields * sizeof *s);
    qsort(s, m->nfields, sizeof *s, cmp_num);
    bool rep = false;
    for (size_t i = 0; i < m->nfields; i++) rep |= gen_is_repeated(&s[i]);
    fprintf(c,
            "static int %s_decode(void *msg, const uint8_t *src, size_t len, pw_msg_arena *a, "
            "unsigned depth)\n{\n    %s *m = msg;\n    pw_pb_reader r;\n    pw_pb_field f;\n"
            "    int rc;\n",
            m->cname, m->cname);
    if (!m->nfields) fprintf(c, "    (void)m;\n    (void)a;\n");
    for (size_t i = 0; i < m->nfields; i++) {
        if (!gen_is_repeated(&s[i])) continue;
        char t[GEN_NAME_BYTES_MAX];
        elem_type(t, &s[i]);
        fprintf(c, "    size_t n%u = 0;\n    %s *e%u = NULL;\n", s[i].num, t, s[i].num);
    }
    if (rep) fprintf(c, "    bool seen = false;\n");
    fprintf(c, "    if (depth > PW_MSG_DEPTH_MAX) return PW_MSG_ERR_DEPTH;\n"
               "    pw_pb_reader_init(&r, src, len);\n"
               "    while ((rc = pw_pb_next_inline(&r, &f)) == 1) {\n        switch (f.num) {\n");
    for (size_t i = 0; i < m->nfields; i++) {
        char mem[GEN_NAME_BYTES_MAX + 1];
        snprintf(mem, sizeof mem, "%s", gen_member(s[i].name));
        if (gen_is_repeated(&s[i])) pass1_repeated(c, &s[i]);
        else pass1_single(c, m, &s[i], mem);
    }
    fprintf(c, "        default: break; /* unknown: skipped */\n        }\n    }\n");
    if (!rep) {
        fprintf(c, "    return rc;\n}\n\n");
        free(s);
        return;
    }
    fprintf(c, "    if (rc < 0 || !seen) return rc;\n");
    alloc_arrays(c, s, m->nfields);
    fprintf(c, "    pw_pb_reader_init(&r, src, len);\n"
               "    while ((rc = pw_pb_next_inline(&r, &f)) == 1) {\n        switch (f.num) {\n");
    for (size_t i = 0; i < m->nfields; i++)
        if (gen_is_repeated(&s[i])) pass2_repeated(c, &s[i]);
    fprintf(c, "        default: break;\n        }\n    }\n    return rc;\n}\n\n");
    free(s);
}
