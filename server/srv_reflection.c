/* server/srv_reflection: gRPC server reflection, grpc.reflection.v1 and v1alpha
 * (ServerReflectionInfo, a bidi stream: one response per request).
 *
 * The answers come from the FileDescriptorSet that protoc builds from proto/ at build time and
 * that is embedded in the binary (srv_descriptor_set, see the Makefile). At start-up the set is
 * indexed once (files, their dependencies, every fully qualified symbol); the index is read-only
 * afterwards and shared by all shards. Descriptor bytes are served straight from the embedded
 * blob. */
#include "server/srv_reflection.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_wire/pw_pb.h"

extern const uint8_t srv_descriptor_set[];
extern const uint8_t srv_descriptor_set_end[];

#define REFL_FILES_MAX 64
#define REFL_DEPS_MAX 16
#define REFL_SYMBOLS_MAX 2048
#define REFL_NAME_BYTES_MAX 256

typedef struct refl_file {
    pw_pb_bytes name;
    pw_pb_bytes bytes; /* the serialized FileDescriptorProto */
    int deps[REFL_DEPS_MAX];
    int ndeps;
} refl_file;

typedef struct refl_symbol {
    char *name; /* fully qualified, owned */
    int file;
    bool is_message;
} refl_symbol;

static refl_file g_files[REFL_FILES_MAX];
static int g_nfiles;
static refl_symbol g_syms[REFL_SYMBOLS_MAX];
static int g_nsyms;
static const pw_grpc_server *g_server;

static int add_symbol(const char *prefix, pw_pb_bytes name, int file, bool is_message)
{
    if (g_nsyms >= REFL_SYMBOLS_MAX) return -ENOSPC;
    size_t pl = strlen(prefix);
    if (pl + 1 + name.len >= REFL_NAME_BYTES_MAX) return -ENAMETOOLONG;
    char *s = malloc(pl + name.len + 2);
    if (!s) return -ENOMEM;
    size_t k = 0;
    if (pl) {
        memcpy(s, prefix, pl);
        s[pl] = '.';
        k = pl + 1;
    }
    memcpy(s + k, name.ptr, name.len);
    s[k + name.len] = 0;
    g_syms[g_nsyms++] = (refl_symbol){s, file, is_message};
    return 0;
}

static pw_pb_bytes field_string(const uint8_t *p, size_t len, uint32_t num)
{
    pw_pb_reader r;
    pw_pb_field f;
    pw_pb_reader_init(&r, p, len);
    while (pw_pb_next(&r, &f) == 1)
        if (f.num == num && f.wt == PW_PB_WT_LEN) return f.bytes;
    return (pw_pb_bytes){(const uint8_t *)"", 0};
}

/* Indexes a DescriptorProto (message) and, recursively, its nested messages and enums. */
static int index_message(const char *prefix, pw_pb_bytes msg, int file, int depth)
{
    if (depth > 32) return -ELOOP;
    pw_pb_bytes name = field_string(msg.ptr, msg.len, 1);
    int r = add_symbol(prefix, name, file, true);
    if (r < 0) return r;
    const char *full = g_syms[g_nsyms - 1].name;
    pw_pb_reader rd;
    pw_pb_field f;
    pw_pb_reader_init(&rd, msg.ptr, msg.len);
    while (pw_pb_next(&rd, &f) == 1) {
        if (f.wt != PW_PB_WT_LEN) continue;
        if (f.num == 3) r = index_message(full, f.bytes, file, depth + 1);
        else if (f.num == 4) r = add_symbol(full, field_string(f.bytes.ptr, f.bytes.len, 1), file, false);
        else continue;
        if (r < 0) return r;
    }
    return 0;
}

static int find_file(const uint8_t *name, size_t len)
{
    for (int i = 0; i < g_nfiles; i++)
        if (g_files[i].name.len == len && memcmp(g_files[i].name.ptr, name, len) == 0) return i;
    return -1;
}

int srv_reflection_init(const pw_grpc_server *server)
{
    g_server = server;
    pw_pb_reader set;
    pw_pb_field f;
    size_t total = (size_t)(srv_descriptor_set_end - srv_descriptor_set);
    pw_pb_reader_init(&set, srv_descriptor_set, total);
    int rc;
    while ((rc = pw_pb_next(&set, &f)) == 1) {
        if (f.num != 1 || f.wt != PW_PB_WT_LEN) continue;
        if (g_nfiles >= REFL_FILES_MAX) return -ENOSPC;
        refl_file *rf = &g_files[g_nfiles];
        rf->bytes = f.bytes;
        rf->name = field_string(f.bytes.ptr, f.bytes.len, 1);
        pw_pb_bytes pkg = field_string(f.bytes.ptr, f.bytes.len, 2);
        char prefix[REFL_NAME_BYTES_MAX];
        if (pkg.len >= sizeof prefix) return -ENAMETOOLONG;
        memcpy(prefix, pkg.ptr, pkg.len);
        prefix[pkg.len] = 0;
        int fi = g_nfiles++;
        pw_pb_reader fr;
        pw_pb_field ff;
        pw_pb_reader_init(&fr, f.bytes.ptr, f.bytes.len);
        while (pw_pb_next(&fr, &ff) == 1) {
            if (ff.wt != PW_PB_WT_LEN) continue;
            int r = 0;
            if (ff.num == 3) {
                /* protoc --include_imports lists dependencies before their dependents. */
                int d = find_file(ff.bytes.ptr, ff.bytes.len);
                if (d >= 0 && rf->ndeps < REFL_DEPS_MAX) rf->deps[rf->ndeps++] = d;
            } else if (ff.num == 4) {
                r = index_message(prefix, ff.bytes, fi, 0);
            } else if (ff.num == 5) {
                r = add_symbol(prefix, field_string(ff.bytes.ptr, ff.bytes.len, 1), fi, false);
            } else if (ff.num == 6) {
                r = add_symbol(prefix, field_string(ff.bytes.ptr, ff.bytes.len, 1), fi, false);
                if (r == 0) {
                    /* Methods: pkg.Service.Method. */
                    char svc[REFL_NAME_BYTES_MAX];
                    snprintf(svc, sizeof svc, "%s", g_syms[g_nsyms - 1].name);
                    pw_pb_reader mr;
                    pw_pb_field mf;
                    pw_pb_reader_init(&mr, ff.bytes.ptr, ff.bytes.len);
                    while (r == 0 && pw_pb_next(&mr, &mf) == 1)
                        if (mf.num == 2 && mf.wt == PW_PB_WT_LEN)
                            r = add_symbol(svc, field_string(mf.bytes.ptr, mf.bytes.len, 1), fi, false);
                }
            }
            if (r < 0) return r;
        }
    }
    return rc < 0 ? rc : 0;
}

static int find_symbol(const uint8_t *name, size_t len, bool *is_message)
{
    for (int i = 0; i < g_nsyms; i++)
        if (strlen(g_syms[i].name) == len && memcmp(g_syms[i].name, name, len) == 0) {
            if (is_message) *is_message = g_syms[i].is_message;
            return g_syms[i].file;
        }
    return -1;
}

/* Adds file `fi` and its transitive dependencies to `out` (deduplicated), the file first. */
static void collect(int fi, bool *seen, int *out, int *n)
{
    if (seen[fi]) return;
    seen[fi] = true;
    out[(*n)++] = fi;
    for (int i = 0; i < g_files[fi].ndeps; i++) collect(g_files[fi].deps[i], seen, out, n);
}

static void reply_files(buf *b, int fi)
{
    bool seen[REFL_FILES_MAX] = {false};
    int order[REFL_FILES_MAX], n = 0;
    collect(fi, seen, order, &n);
    pw_pb_mark m;
    pw_pb_submsg_begin(b, 4, &m);
    for (int i = 0; i < n; i++)
        pw_pb_put_bytes(b, 1, g_files[order[i]].bytes.ptr, g_files[order[i]].bytes.len);
    pw_pb_submsg_end(b, &m);
}

static void reply_error(buf *b, pw_grpc_status code, const char *msg)
{
    pw_pb_mark m;
    pw_pb_submsg_begin(b, 7, &m);
    pw_pb_put_int32(b, 1, (int32_t)code);
    pw_pb_put_string(b, 2, msg, strlen(msg));
    pw_pb_submsg_end(b, &m);
}

static void reply_services(buf *b)
{
    pw_pb_mark m;
    pw_pb_submsg_begin(b, 6, &m);
    size_t n = pw_grpc_server_nmethods(g_server);
    for (size_t i = 0; i < n; i++) {
        const char *path = pw_grpc_server_method_at(g_server, i)->path;
        const char *slash = strrchr(path, '/');
        size_t sl = (size_t)(slash - path - 1);
        /* Each service once: skip if an earlier method had the same service. */
        bool dup = false;
        for (size_t j = 0; j < i && !dup; j++) {
            const char *pj = pw_grpc_server_method_at(g_server, j)->path;
            const char *sj = strrchr(pj, '/');
            dup = (size_t)(sj - pj - 1) == sl && memcmp(pj + 1, path + 1, sl) == 0;
        }
        if (dup) continue;
        pw_pb_mark s;
        pw_pb_submsg_begin(b, 1, &s);
        pw_pb_put_string(b, 1, path + 1, sl);
        pw_pb_submsg_end(b, &s);
    }
    pw_pb_submsg_end(b, &m);
}

static void on_message(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    pw_pb_reader r;
    pw_pb_field f;
    pw_pb_bytes host = {(const uint8_t *)"", 0};
    int kind = 0;
    pw_pb_bytes arg = {NULL, 0};
    int rc;
    pw_pb_reader_init(&r, msg, len);
    while ((rc = pw_pb_next(&r, &f)) == 1) {
        if (f.wt != PW_PB_WT_LEN) continue;
        if (f.num == 1) host = f.bytes;
        else if (f.num >= 3 && f.num <= 7) {
            kind = (int)f.num;
            arg = f.bytes;
        }
    }
    if (rc < 0) {
        pw_grpc_call_finish(c, PW_GRPC_INVALID_ARGUMENT, "malformed ServerReflectionRequest");
        return;
    }
    buf *b = pw_grpc_call_send_begin(c);
    if (!b) return;
    if (host.len) pw_pb_put_string(b, 1, (const char *)host.ptr, host.len);
    pw_pb_put_bytes(b, 2, msg, len); /* original_request */
    bool is_msg = false;
    int fi;
    switch (kind) {
    case 3:
        fi = find_file(arg.ptr, arg.len);
        if (fi >= 0) reply_files(b, fi);
        else reply_error(b, PW_GRPC_NOT_FOUND, "file not found");
        break;
    case 4:
        fi = find_symbol(arg.ptr, arg.len, NULL);
        if (fi >= 0) reply_files(b, fi);
        else reply_error(b, PW_GRPC_NOT_FOUND, "symbol not found");
        break;
    case 5:
        reply_error(b, PW_GRPC_NOT_FOUND, "extension not found");
        break;
    case 6:
        fi = find_symbol(arg.ptr, arg.len, &is_msg);
        if (fi >= 0 && is_msg) {
            pw_pb_mark m;
            pw_pb_submsg_begin(b, 5, &m);
            pw_pb_put_string(b, 1, (const char *)arg.ptr, arg.len);
            pw_pb_submsg_end(b, &m);
        } else {
            reply_error(b, PW_GRPC_NOT_FOUND, "message type not found");
        }
        break;
    case 7:
        reply_services(b);
        break;
    default:
        reply_error(b, PW_GRPC_INVALID_ARGUMENT, "empty or unknown message_request");
        break;
    }
    pw_grpc_call_send_commit(c, 0);
}

static void on_half_close(pw_grpc_call *c) { pw_grpc_call_finish(c, PW_GRPC_OK, NULL); }

static void on_writable(pw_grpc_call *c) {}

int srv_reflection_add_methods(pw_grpc_server *s)
{
    static const pw_grpc_method m[] = {
        {.path = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
         .kind = PW_GRPC_BIDI_STREAMING, .on_message = on_message, .on_half_close = on_half_close,
         .on_writable = on_writable},
        {.path = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
         .kind = PW_GRPC_BIDI_STREAMING, .on_message = on_message, .on_half_close = on_half_close,
         .on_writable = on_writable},
    };
    for (size_t i = 0; i < 2; i++) {
        int r = pw_grpc_server_add_method(s, &m[i]);
        if (r < 0) return r;
    }
    return 0;
}
