/* proto_wire/gen/pw_msg_gen: the build's schema generator. Reads the FileDescriptorSet protoc
 * writes (build/gen/ringq_descriptors.bin) with our own pw_pb reader and emits, for every
 * message, enum and service in it, the C structs, field-number constants, pw_msg tables and
 * method paths (build/gen/proto_wire/pw_msgs.[ch]; layout in proto_wire/pw_msg.h), and each
 * message's straight-line encoder (pw_msg_gen_code.c; proto_wire/pw_msg_code.h) and decoder
 * (pw_msg_gen_dec.c).
 *
 *   pw_msg_gen DESCRIPTORS.bin OUT.h OUT.c
 *
 * The field numbers below are those of google/protobuf/descriptor.proto (the bootstrap: the
 * generator must read descriptors before any table exists); they are the only hand-written
 * ones the build needs, and they sit here, outside every module's runtime code.
 * Exit status: 0, or 1 with a message on stderr (unreadable input, a descriptor we do not
 * support such as a group or a message above PW_MSG_FIELDS_MAX fields, a write error). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_wire/gen/pw_msg_gen.h"
#include "proto_wire/pw_msg.h"
#include "proto_wire/pw_pb.h"

/* google/protobuf/descriptor.proto field numbers. */
enum {
    FDS_FILE = 1,
    FILE_PACKAGE = 2,
    FILE_MESSAGE = 4,
    FILE_ENUM = 5,
    FILE_SERVICE = 6,
    FILE_SYNTAX = 12,
    MSG_NAME = 1,
    MSG_FIELD = 2,
    MSG_NESTED = 3,
    MSG_ENUM = 4,
    MSG_ONEOF = 8,
    FIELD_NAME = 1,
    FIELD_NUMBER = 3,
    FIELD_LABEL = 4,
    FIELD_TYPE = 5,
    FIELD_TYPE_NAME = 6,
    FIELD_OPTIONS = 8,
    FIELD_ONEOF_INDEX = 9,
    FIELD_PROTO3_OPTIONAL = 17,
    FIELDOPT_PACKED = 2,
    ONEOF_NAME = 1,
    ENUM_NAME = 1,
    ENUM_VALUE = 2,
    ENUMVAL_NAME = 1,
    ENUMVAL_NUMBER = 2,
    SVC_NAME = 1,
    SVC_METHOD = 2,
    METHOD_NAME = 1,
    METHOD_IN = 2,
    METHOD_OUT = 3,
    METHOD_CSTREAM = 5,
    METHOD_SSTREAM = 6,
    LABEL_REPEATED = 3,
    TYPE_GROUP = 10,
};

static gmsg *msgs;
static size_t nmsgs, cap_msgs;
static FILE *H, *C;

void gen_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("pw_msg_gen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q) gen_die("out of memory");
    return q;
}

static void copy_name(char *dst, pw_pb_bytes b)
{
    if (b.len >= GEN_NAME_BYTES_MAX) gen_die("name of %zu bytes", b.len);
    memcpy(dst, b.ptr, b.len);
    dst[b.len] = 0;
}

/* Iterates the fields of a descriptor message; dies on malformed input. */
static bool next(pw_pb_reader *r, pw_pb_field *f)
{
    int rc = pw_pb_next(r, f);
    if (rc < 0) gen_die("bad descriptor set: %s", pw_pb_strerror(rc));
    return rc == 1;
}

/* "pkg.Outer.Inner" -> "pwm_pkg_Outer_Inner". */
void gen_cname_of(char *dst, const char *full)
{
    size_t n = (size_t)snprintf(dst, GEN_NAME_BYTES_MAX, "pwm_%s", full);
    if (n >= GEN_NAME_BYTES_MAX) gen_die("name too long: %s", full);
    for (char *p = dst; *p; p++)
        if (*p == '.') *p = '_';
}

static void parse_field(gfield *g, pw_pb_bytes b)
{
    pw_pb_reader r;
    pw_pb_field f;
    memset(g, 0, sizeof *g);
    g->oneof = -1;
    g->packed = -1;
    pw_pb_reader_init(&r, b.ptr, b.len);
    while (next(&r, &f)) {
        switch (f.num) {
        case FIELD_NAME: copy_name(g->name, f.bytes); break;
        case FIELD_NUMBER: g->num = (uint32_t)f.u64; break;
        case FIELD_LABEL: g->label = (uint32_t)f.u64; break;
        case FIELD_TYPE: g->type = (uint32_t)f.u64; break;
        case FIELD_TYPE_NAME: copy_name(g->type_name, f.bytes); break;
        case FIELD_ONEOF_INDEX: g->oneof = (int)f.u64; break;
        case FIELD_PROTO3_OPTIONAL: g->proto3_optional = f.u64 != 0; break;
        case FIELD_OPTIONS: {
            pw_pb_reader o;
            pw_pb_field of;
            pw_pb_reader_init(&o, f.bytes.ptr, f.bytes.len);
            while (next(&o, &of))
                if (of.num == FIELDOPT_PACKED) g->packed = of.u64 != 0;
            break;
        }
        default: break;
        }
    }
    if (g->type == TYPE_GROUP) gen_die("field %s: groups are not supported", g->name);
}

static void emit_enum(const char *scope_c, const char *scope_full, pw_pb_bytes b);

static void parse_message(const char *scope_full, pw_pb_bytes b, bool proto3)
{
    pw_pb_reader r;
    pw_pb_field f;
    char name[GEN_NAME_BYTES_MAX] = "";
    pw_pb_reader_init(&r, b.ptr, b.len);
    while (next(&r, &f))
        if (f.num == MSG_NAME) copy_name(name, f.bytes);
    if (nmsgs == cap_msgs) {
        cap_msgs = cap_msgs ? cap_msgs * 2 : 64;
        msgs = xrealloc(msgs, cap_msgs * sizeof *msgs);
    }
    size_t self = nmsgs++;
    gmsg *m = &msgs[self];
    memset(m, 0, sizeof *m);
    m->proto3 = proto3;
    int n = snprintf(m->full, sizeof m->full, "%s%s%s", scope_full, *scope_full ? "." : "", name);
    if (n < 0 || (size_t)n >= sizeof m->full) gen_die("name too long: %s", name);
    gen_cname_of(m->cname, m->full);
    char full[GEN_NAME_BYTES_MAX], cname[GEN_NAME_BYTES_MAX];
    memcpy(full, m->full, sizeof full);
    memcpy(cname, m->cname, sizeof cname);
    pw_pb_reader_init(&r, b.ptr, b.len);
    while (next(&r, &f)) {
        m = &msgs[self]; /* nested messages may move the array */
        if (f.num == MSG_FIELD) {
            m->fields = xrealloc(m->fields, (m->nfields + 1) * sizeof *m->fields);
            parse_field(&m->fields[m->nfields++], f.bytes);
            if (m->nfields > PW_MSG_FIELDS_MAX)
                gen_die("%s: over %u fields", full, PW_MSG_FIELDS_MAX);
        } else if (f.num == MSG_ONEOF) {
            if (m->noneofs == GEN_ONEOFS_MAX) gen_die("%s: too many oneofs", full);
            pw_pb_reader o;
            pw_pb_field of;
            pw_pb_reader_init(&o, f.bytes.ptr, f.bytes.len);
            while (next(&o, &of))
                if (of.num == ONEOF_NAME) copy_name(m->oneofs[m->noneofs], of.bytes);
            m->noneofs++;
        } else if (f.num == MSG_NESTED) {
            parse_message(full, f.bytes, proto3);
        } else if (f.num == MSG_ENUM) {
            emit_enum(cname, full, f.bytes);
        }
    }
}

static void emit_enum(const char *scope_c, const char *scope_full, pw_pb_bytes b)
{
    pw_pb_reader r;
    pw_pb_field f;
    char name[GEN_NAME_BYTES_MAX] = "";
    pw_pb_reader_init(&r, b.ptr, b.len);
    while (next(&r, &f))
        if (f.num == ENUM_NAME) copy_name(name, f.bytes);
    fprintf(H, "/* enum %s%s%s */\ntypedef enum %s_%s {\n", scope_full, *scope_full ? "." : "",
            name, scope_c, name);
    pw_pb_reader_init(&r, b.ptr, b.len);
    while (next(&r, &f)) {
        if (f.num != ENUM_VALUE) continue;
        pw_pb_reader v;
        pw_pb_field vf;
        char vname[GEN_NAME_BYTES_MAX] = "";
        int32_t num = 0;
        pw_pb_reader_init(&v, f.bytes.ptr, f.bytes.len);
        while (next(&v, &vf)) {
            if (vf.num == ENUMVAL_NAME) copy_name(vname, vf.bytes);
            if (vf.num == ENUMVAL_NUMBER) num = pw_pb_as_int32(vf.u64);
        }
        /* C++ scoping: values are siblings of their enum. */
        fprintf(H, "    %s_%s = %d,\n", scope_c, vname, (int)num);
    }
    fprintf(H, "} %s_%s;\n\n", scope_c, name);
}

/* ---- Emitting structs and tables ---- */

const char *gen_ctype(const gfield *g)
{
    switch (g->type) {
    case PW_MSG_DOUBLE: return "double";
    case PW_MSG_FLOAT: return "float";
    case PW_MSG_INT64:
    case PW_MSG_SFIXED64:
    case PW_MSG_SINT64: return "int64_t";
    case PW_MSG_UINT64:
    case PW_MSG_FIXED64: return "uint64_t";
    case PW_MSG_INT32:
    case PW_MSG_SFIXED32:
    case PW_MSG_SINT32:
    case PW_MSG_ENUM: return "int32_t";
    case PW_MSG_UINT32:
    case PW_MSG_FIXED32: return "uint32_t";
    case PW_MSG_BOOL: return "bool";
    case PW_MSG_STRING:
    case PW_MSG_BYTES: return "pw_pb_bytes";
    default: gen_die("field %s: unsupported type %u", g->name, g->type);
    }
    return NULL;
}

/* C member name: the proto name, with a trailing '_' when it is a C keyword. */
const char *gen_member(const char *name)
{
    static const char *const kw[] = {
        "auto",     "break",  "case",   "char",     "const",    "continue", "default",  "do",
        "double",   "else",   "enum",   "extern",   "float",    "for",      "goto",     "if",
        "inline",   "int",    "long",   "register", "restrict", "return",   "short",    "signed",
        "sizeof",   "static", "struct", "switch",   "typedef",  "union",    "unsigned", "void",
        "volatile", "while",  "bool",   "true",     "false"};
    static char out[GEN_NAME_BYTES_MAX + 1];
    snprintf(out, sizeof out, "%s", name);
    for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++)
        if (!strcmp(kw[i], name)) strcat(out, "_");
    return out;
}

bool gen_is_oneof(const gfield *g) { return g->oneof >= 0 && !g->proto3_optional; }

bool gen_is_repeated(const gfield *g) { return g->label == LABEL_REPEATED; }

bool gen_is_packed(const gmsg *m, const gfield *g)
{
    bool scalar = g->type != PW_MSG_STRING && g->type != PW_MSG_BYTES && g->type != PW_MSG_MESSAGE;
    return gen_is_repeated(g) && scalar && (g->packed == 1 || (g->packed == -1 && m->proto3));
}

static void emit_struct(const gmsg *m)
{
    fprintf(H, "/* message %s */\nstruct %s {\n", m->full, m->cname);
    bool case_done[GEN_ONEOFS_MAX] = {false};
    for (size_t i = 0; i < m->nfields; i++) {
        const gfield *g = &m->fields[i];
        char sub[GEN_NAME_BYTES_MAX];
        if (gen_is_oneof(g) && !case_done[g->oneof]) {
            fprintf(H, "    uint32_t %s_case; /* oneof %s: the field number set, or 0 */\n",
                    m->oneofs[g->oneof], m->oneofs[g->oneof]);
            case_done[g->oneof] = true;
        }
        if (g->type == PW_MSG_MESSAGE) gen_cname_of(sub, g->type_name + 1);
        const char *t = g->type == PW_MSG_MESSAGE ? sub : gen_ctype(g);
        if (g->label == LABEL_REPEATED) {
            fprintf(H, "    const %s *%s;\n", t, gen_member(g->name));
            fprintf(H, "    size_t %s_count;\n", g->name);
        } else if (g->type == PW_MSG_MESSAGE) {
            fprintf(H, "    const %s *%s;\n", t, gen_member(g->name));
        } else {
            fprintf(H, "    %s %s;\n", t, gen_member(g->name));
        }
        if (g->proto3_optional) fprintf(H, "    bool has_%s;\n", g->name);
    }
    if (!m->nfields) fprintf(H, "    char unused_; /* C has no empty structs */\n");
    fprintf(H, "};\n\n");
}

static int cmp_num(const void *a, const void *b)
{
    const gfield *x = a, *y = b;
    return x->num < y->num ? -1 : x->num > y->num;
}

static void emit_table(gmsg *m)
{
    gfield *sorted = xrealloc(NULL, (m->nfields + 1) * sizeof *sorted);
    if (m->nfields) memcpy(sorted, m->fields, m->nfields * sizeof *sorted);
    qsort(sorted, m->nfields, sizeof *sorted, cmp_num);
    if (m->nfields) fprintf(H, "enum {\n");
    for (size_t i = 0; i < m->nfields; i++)
        fprintf(H, "    %s_FIELD_%s = %u,\n", m->cname, sorted[i].name, sorted[i].num);
    fprintf(H, "%sextern const pw_msg_desc %s_desc;\n\n", m->nfields ? "};\n" : "", m->cname);
    if (m->nfields) fprintf(C, "static const pw_msg_field %s_fields[] = {\n", m->cname);
    for (size_t i = 0; i < m->nfields; i++) {
        const gfield *g = &sorted[i];
        char sub[GEN_NAME_BYTES_MAX] = "";
        bool rep = gen_is_repeated(g);
        bool packed = gen_is_packed(m, g);
        if (g->type == PW_MSG_MESSAGE) gen_cname_of(sub, g->type_name + 1);
        fprintf(C, "    {%u, %u, %s%s%s%s0, offsetof(%s, %s), ", g->num, g->type,
                rep ? "PW_MSG_F_REPEATED | " : "", packed ? "PW_MSG_F_PACKED | " : "",
                g->proto3_optional ? "PW_MSG_F_OPTIONAL | " : "",
                gen_is_oneof(g) ? "PW_MSG_F_ONEOF | " : "", m->cname, gen_member(g->name));
        if (rep) fprintf(C, "offsetof(%s, %s_count), ", m->cname, g->name);
        else fprintf(C, "0, ");
        if (g->proto3_optional) fprintf(C, "offsetof(%s, has_%s), ", m->cname, g->name);
        else if (gen_is_oneof(g))
            fprintf(C, "offsetof(%s, %s_case), ", m->cname, m->oneofs[g->oneof]);
        else fprintf(C, "0, ");
        fprintf(C, "%s%s%s, \"%s\"},\n", *sub ? "&" : "", *sub ? sub : "NULL", *sub ? "_desc" : "",
                g->name);
    }
    if (m->nfields) fprintf(C, "};\n");
    fprintf(C,
            "const pw_msg_desc %s_desc = {\"%s\", sizeof(%s), _Alignof(%s), %s%s, %zu, %s_size, "
            "%s_write, %s_decode};\n\n",
            m->cname, m->full, m->cname, m->cname, m->nfields ? m->cname : "NULL",
            m->nfields ? "_fields" : "", m->nfields, m->cname, m->cname, m->cname);
    free(sorted);
}

static void emit_service(const char *pkg, pw_pb_bytes b)
{
    pw_pb_reader r;
    pw_pb_field f;
    char name[GEN_NAME_BYTES_MAX] = "", full[GEN_NAME_BYTES_MAX * 2], cname[GEN_NAME_BYTES_MAX];
    size_t n = 0;
    pw_pb_reader_init(&r, b.ptr, b.len);
    while (next(&r, &f))
        if (f.num == SVC_NAME) copy_name(name, f.bytes);
    snprintf(full, sizeof full, "%s%s%s", pkg, *pkg ? "." : "", name);
    gen_cname_of(cname, full);
    fprintf(H, "/* service %s */\n", full);
    fprintf(C, "const pw_msg_method %s_methods[] = {\n", cname);
    pw_pb_reader_init(&r, b.ptr, b.len);
    while (next(&r, &f)) {
        if (f.num != SVC_METHOD) continue;
        pw_pb_reader mr;
        pw_pb_field mf;
        char mname[GEN_NAME_BYTES_MAX] = "", in[GEN_NAME_BYTES_MAX] = "",
             out[GEN_NAME_BYTES_MAX] = "";
        char cin[GEN_NAME_BYTES_MAX] = "", cout[GEN_NAME_BYTES_MAX] = "";
        bool cs = false, ss = false;
        pw_pb_reader_init(&mr, f.bytes.ptr, f.bytes.len);
        while (next(&mr, &mf)) {
            if (mf.num == METHOD_NAME) copy_name(mname, mf.bytes);
            if (mf.num == METHOD_IN) copy_name(in, mf.bytes);
            if (mf.num == METHOD_OUT) copy_name(out, mf.bytes);
            if (mf.num == METHOD_CSTREAM) cs = mf.u64 != 0;
            if (mf.num == METHOD_SSTREAM) ss = mf.u64 != 0;
        }
        gen_cname_of(cin, in + 1);
        gen_cname_of(cout, out + 1);
        fprintf(H, "#define %s_%s_PATH \"/%s/%s\"\n#define %s_%s_INDEX %zu\n", cname, mname, full,
                mname, cname, mname, n);
        fprintf(C, "    {%s_%s_PATH, &%s_desc, &%s_desc, %s, %s},\n", cname, mname, cin, cout,
                cs ? "true" : "false", ss ? "true" : "false");
        n++;
    }
    fprintf(H, "#define %s_METHODS %zu\nextern const pw_msg_method %s_methods[%zu];\n\n", cname, n,
            cname, n);
    fprintf(C, "};\n\n");
}

/* One FileDescriptorProto: enums and services straight out, messages collected. */
static void parse_file(pw_pb_bytes b)
{
    pw_pb_reader r;
    pw_pb_field f;
    char pkg[GEN_NAME_BYTES_MAX] = "", pkg_c[GEN_NAME_BYTES_MAX];
    bool proto3 = false;
    pw_pb_reader_init(&r, b.ptr, b.len);
    while (next(&r, &f)) {
        if (f.num == FILE_PACKAGE) copy_name(pkg, f.bytes);
        if (f.num == FILE_SYNTAX) proto3 = f.bytes.len == 6 && !memcmp(f.bytes.ptr, "proto3", 6);
    }
    gen_cname_of(pkg_c, pkg);
    pw_pb_reader_init(&r, b.ptr, b.len);
    while (next(&r, &f)) {
        if (f.num == FILE_MESSAGE) parse_message(pkg, f.bytes, proto3);
        if (f.num == FILE_ENUM) emit_enum(pkg_c, pkg, f.bytes);
    }
    pw_pb_reader_init(&r, b.ptr, b.len);
    while (next(&r, &f))
        if (f.num == FILE_SERVICE) emit_service(pkg, f.bytes);
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) gen_die("%s: %s", path, strerror(errno));
    uint8_t *data = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) data = xrealloc(data, cap = cap ? cap * 2 : 65536);
        size_t got = fread(data + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) gen_die("%s: read error", path);
    fclose(f);
    *len = n;
    return data;
}

static FILE *open_out(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) gen_die("%s: %s", path, strerror(errno));
    return f;
}

static void close_out(FILE *f, const char *path)
{
    if (ferror(f) | fclose(f)) gen_die("%s: write error", path);
}

int main(int argc, char **argv)
{
    if (argc != 4) gen_die("usage: pw_msg_gen DESCRIPTORS.bin OUT.h OUT.c");
    size_t len;
    uint8_t *set = read_all(argv[1], &len);
    H = open_out(argv[2]);
    C = open_out(argv[3]);
    fprintf(H,
            "/* Generated by proto_wire/gen/pw_msg_gen from %s. Do not edit. The layout and\n"
            " * the contract of these tables: proto_wire/pw_msg.h. */\n"
            "#ifndef PW_MSGS_H\n#define PW_MSGS_H\n\n#include <stdbool.h>\n#include <stddef.h>\n"
            "#include <stdint.h>\n\n#include \"proto_wire/pw_msg.h\"\n\n",
            argv[1]);
    fprintf(C, "/* Generated by proto_wire/gen/pw_msg_gen. Do not edit. */\n"
               "#include <errno.h>\n#include <stdint.h>\n#include <string.h>\n\n"
               "#include \"proto_wire/pw_msg_code.h\"\n"
               "#include \"proto_wire/pw_msgs.h\"\n\n");
    pw_pb_reader r;
    pw_pb_field f;
    pw_pb_reader_init(&r, set, len);
    while (next(&r, &f))
        if (f.num == FDS_FILE) parse_file(f.bytes);
    for (size_t i = 0; i < nmsgs; i++)
        fprintf(H, "typedef struct %s %s;\n", msgs[i].cname, msgs[i].cname);
    fprintf(H, "\n");
    for (size_t i = 0; i < nmsgs; i++) emit_struct(&msgs[i]);
    gen_code_decls(C, msgs, nmsgs);
    gen_dec_decls(C, msgs, nmsgs);
    for (size_t i = 0; i < nmsgs; i++) emit_table(&msgs[i]);
    for (size_t i = 0; i < nmsgs; i++) gen_code(C, &msgs[i]);
    for (size_t i = 0; i < nmsgs; i++) gen_dec(C, &msgs[i]);
    fprintf(H,
            "/* Every message above, for tests and fuzzers that walk them all. */\n"
            "#define PWM_MESSAGES %zu\nextern const pw_msg_desc *const pwm_messages[%zu];\n\n"
            "#endif\n",
            nmsgs, nmsgs);
    fprintf(C, "const pw_msg_desc *const pwm_messages[%zu] = {\n", nmsgs);
    for (size_t i = 0; i < nmsgs; i++) fprintf(C, "    &%s_desc,\n", msgs[i].cname);
    fprintf(C, "};\n");
    close_out(H, argv[2]);
    close_out(C, argv[3]);
    free(set);
    return 0;
}
