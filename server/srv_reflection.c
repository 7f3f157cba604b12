/* server/srv_reflection: gRPC server reflection, grpc.reflection.v1 and v1alpha
 * (ServerReflectionInfo, a bidi stream: one response per request).
 *
 * The answers come from the FileDescriptorSet that protoc builds from proto/ at build time and
 * that is embedded in the binary (srv_descriptor_set, see the Makefile). At start-up the set is
 * indexed once (files, their dependencies, every fully qualified symbol); the index is read-only
 * afterwards and shared by all shards. Descriptor bytes are served straight from the embedded
 * blob. Requests and answers go through the generated schema (reflection's and descriptor.proto's
 * tables in proto_wire/pw_msgs.h). */
#include "core/rt_alloc.h"
#include "server/srv_reflection.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_wire/pw_pb.h"
#include "server/srv_msg.h"

extern const uint8_t srv_descriptor_set[];
extern const uint8_t srv_descriptor_set_end[];

#define REFL_FILES_MAX 64
#define REFL_DEPS_MAX 16
#define REFL_SYMBOLS_MAX 2048
#define REFL_NAME_BYTES_MAX 256
/* Services listed in one ListServiceResponse: ringqd registers 5 (Queue, Admin, Health, two
 * reflections), the interop server 4. */
#define REFL_SERVICES_MAX 32
/* Arena of one decoded FileDescriptorProto at start-up: our largest file (ringq/v1/admin.proto)
 * decodes into well under 64 KiB of structs; the bound only stops a broken build. */
#define REFL_DECODE_ARENA_BYTES (1u << 20)

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
    char *s = rt_malloc(pl + name.len + 2);
    if (!s) return -ENOMEM;
    size_t k = 0;
    if (pl) {
        memcpy(s, prefix, pl);
        s[pl] = '.';
        k = pl + 1;
    }
    memcpy(s + k, srv_chars(name), name.len);
    s[k + name.len] = 0;
    g_syms[g_nsyms++] = (refl_symbol){s, file, is_message};
    return 0;
}

/* Indexes a DescriptorProto (message) and, recursively, its nested messages and enums. */
static int index_message(const char *prefix, const pwm_google_protobuf_DescriptorProto *m, int file,
                         int depth)
{
    if (depth > 32) return -ELOOP;
    int r = add_symbol(prefix, m->name, file, true);
    if (r < 0) return r;
    const char *full = g_syms[g_nsyms - 1].name;
    for (size_t i = 0; r == 0 && i < m->nested_type_count; i++)
        r = index_message(full, &m->nested_type[i], file, depth + 1);
    for (size_t i = 0; r == 0 && i < m->enum_type_count; i++)
        r = add_symbol(full, m->enum_type[i].name, file, false);
    return r;
}

/* find_file's and find_symbol's answer for an unknown name (file indexes are >= 0). */
#define REFL_NONE (-1)

/* The index of the file named `name`, or REFL_NONE. */
static int find_file(const uint8_t *name, size_t len)
{
    for (int i = 0; i < g_nfiles; i++)
        if (g_files[i].name.len == len && memcmp(g_files[i].name.ptr, name, len) == 0) return i;
    return REFL_NONE;
}

/* A service and its methods (pkg.Service.Method). */
static int index_service(const char *prefix, const pwm_google_protobuf_ServiceDescriptorProto *sv,
                         int fi)
{
    int r = add_symbol(prefix, sv->name, fi, false);
    if (r < 0) return r;
    char svc[REFL_NAME_BYTES_MAX];
    snprintf(svc, sizeof svc, "%s", g_syms[g_nsyms - 1].name);
    for (size_t i = 0; r == 0 && i < sv->method_count; i++)
        r = add_symbol(svc, sv->method[i].name, fi, false);
    return r;
}

/* Indexes one decoded FileDescriptorProto as file `fi` (its views borrow the embedded blob). */
static int index_file(refl_file *rf, int fi, const pwm_google_protobuf_FileDescriptorProto *fd)
{
    rf->name = fd->name;
    char prefix[REFL_NAME_BYTES_MAX];
    if (fd->package.len >= sizeof prefix) return -ENAMETOOLONG;
    if (fd->package.len) memcpy(prefix, fd->package.ptr, fd->package.len);
    prefix[fd->package.len] = 0;
    /* protoc --include_imports lists dependencies before their dependents. */
    for (size_t i = 0; i < fd->dependency_count; i++) {
        int d = find_file(fd->dependency[i].ptr, fd->dependency[i].len);
        if (d != REFL_NONE && rf->ndeps < REFL_DEPS_MAX) rf->deps[rf->ndeps++] = d;
    }
    int r = 0;
    for (size_t i = 0; r == 0 && i < fd->message_type_count; i++)
        r = index_message(prefix, &fd->message_type[i], fi, 0);
    for (size_t i = 0; r == 0 && i < fd->enum_type_count; i++)
        r = add_symbol(prefix, fd->enum_type[i].name, fi, false);
    for (size_t i = 0; r == 0 && i < fd->service_count; i++)
        r = index_service(prefix, &fd->service[i], fi);
    return r;
}

/* The set is walked entry by entry (not decoded whole) because each file is also served as the
 * exact bytes protoc wrote; each entry is then decoded through descriptor.proto's generated
 * table (build/gen: the schema's input includes google/protobuf/descriptor.proto). */
int srv_reflection_init(const pw_grpc_server *server)
{
    g_server = server;
    pw_pb_reader set;
    pw_pb_field f;
    size_t total = (size_t)(srv_descriptor_set_end - srv_descriptor_set);
    pw_pb_reader_init(&set, srv_descriptor_set, total);
    int rc;
    while ((rc = pw_pb_next(&set, &f)) == 1) {
        if (f.num != pwm_google_protobuf_FileDescriptorSet_FIELD_file || f.wt != PW_PB_WT_LEN)
            continue;
        if (g_nfiles >= REFL_FILES_MAX) return -ENOSPC;
        pwm_google_protobuf_FileDescriptorProto fd;
        pw_msg_arena a;
        pw_msg_arena_init_heap(&a, 0, REFL_DECODE_ARENA_BYTES);
        int r = pw_msg_decode(&pwm_google_protobuf_FileDescriptorProto_desc, &fd, f.bytes.ptr,
                              f.bytes.len, &a);
        refl_file *rf = &g_files[g_nfiles];
        rf->bytes = f.bytes;
        if (r == 0) r = index_file(rf, g_nfiles++, &fd);
        pw_msg_arena_deinit(&a);
        if (r < 0) return r;
    }
    return rc < 0 ? rc : 0;
}

/* The index of the file defining symbol `name` (and whether it is a message), or REFL_NONE. */
static int find_symbol(const uint8_t *name, size_t len, bool *is_message)
{
    for (int i = 0; i < g_nsyms; i++)
        if (strlen(g_syms[i].name) == len && memcmp(g_syms[i].name, name, len) == 0) {
            if (is_message) *is_message = g_syms[i].is_message;
            return g_syms[i].file;
        }
    return REFL_NONE;
}

/* Adds file `fi` and its transitive dependencies to `out` (deduplicated), the file first. */
static void collect(int fi, bool *seen, int *out, int *n)
{
    if (seen[fi]) return;
    seen[fi] = true;
    out[(*n)++] = fi;
    for (int i = 0; i < g_files[fi].ndeps; i++) collect(g_files[fi].deps[i], seen, out, n);
}

/* FileDescriptorResponse: file `fi` and its dependencies, the embedded bytes as they are. */
static void reply_files(pwm_grpc_reflection_v1_ServerReflectionResponse *out,
                        pwm_grpc_reflection_v1_FileDescriptorResponse *fr, pw_pb_bytes *files,
                        int fi)
{
    bool seen[REFL_FILES_MAX] = {false};
    int order[REFL_FILES_MAX], n = 0;
    collect(fi, seen, order, &n);
    for (int i = 0; i < n; i++) files[i] = g_files[order[i]].bytes;
    *fr = (pwm_grpc_reflection_v1_FileDescriptorResponse){files, (size_t)n};
    out->message_response_case =
        pwm_grpc_reflection_v1_ServerReflectionResponse_FIELD_file_descriptor_response;
    out->file_descriptor_response = fr;
}

static void reply_error(pwm_grpc_reflection_v1_ServerReflectionResponse *out,
                        pwm_grpc_reflection_v1_ErrorResponse *er, pw_grpc_status code,
                        const char *msg)
{
    *er = (pwm_grpc_reflection_v1_ErrorResponse){(int32_t)code,
                                                 {(const uint8_t *)msg, strlen(msg)}};
    out->message_response_case =
        pwm_grpc_reflection_v1_ServerReflectionResponse_FIELD_error_response;
    out->error_response = er;
}

/* ListServiceResponse: each service of the server's methods once, into svcs[0..). */
static size_t list_services(pwm_grpc_reflection_v1_ServiceResponse *svcs, size_t cap)
{
    size_t n = pw_grpc_server_nmethods(g_server), k = 0;
    for (size_t i = 0; i < n && k < cap; i++) {
        const char *path = pw_grpc_server_method_at(g_server, i)->path;
        const char *slash = strrchr(path, '/');
        size_t sl = (size_t)(slash - path - 1);
        /* Each service once: skip if an earlier method had the same service. */
        bool dup = false;
        for (size_t j = 0; j < k && !dup; j++)
            dup = svcs[j].name.len == sl && memcmp(svcs[j].name.ptr, path + 1, sl) == 0;
        if (!dup) svcs[k++].name = (pw_pb_bytes){(const uint8_t *)path + 1, sl};
    }
    return k;
}

/* Room for one answer's parts: every member the response may point at. */
typedef struct refl_answer {
    pwm_grpc_reflection_v1_ServerReflectionResponse out;
    pwm_grpc_reflection_v1_FileDescriptorResponse files;
    pw_pb_bytes file_bytes[REFL_FILES_MAX];
    pwm_grpc_reflection_v1_ErrorResponse error;
    pwm_grpc_reflection_v1_ExtensionNumberResponse ext;
    pwm_grpc_reflection_v1_ListServiceResponse list;
    pwm_grpc_reflection_v1_ServiceResponse svcs[REFL_SERVICES_MAX];
} refl_answer;

static void answer(refl_answer *an, const pwm_grpc_reflection_v1_ServerReflectionRequest *req)
{
    pwm_grpc_reflection_v1_ServerReflectionResponse *out = &an->out;
    bool is_msg = false;
    int fi;
    switch (req->message_request_case) {
    case pwm_grpc_reflection_v1_ServerReflectionRequest_FIELD_file_by_filename:
        fi = find_file((const uint8_t *)srv_chars(req->file_by_filename),
                       req->file_by_filename.len);
        if (fi != REFL_NONE) reply_files(out, &an->files, an->file_bytes, fi);
        else reply_error(out, &an->error, PW_GRPC_NOT_FOUND, "file not found");
        break;
    case pwm_grpc_reflection_v1_ServerReflectionRequest_FIELD_file_containing_symbol:
        fi = find_symbol((const uint8_t *)srv_chars(req->file_containing_symbol),
                         req->file_containing_symbol.len, NULL);
        if (fi != REFL_NONE) reply_files(out, &an->files, an->file_bytes, fi);
        else reply_error(out, &an->error, PW_GRPC_NOT_FOUND, "symbol not found");
        break;
    case pwm_grpc_reflection_v1_ServerReflectionRequest_FIELD_file_containing_extension:
        reply_error(out, &an->error, PW_GRPC_NOT_FOUND, "extension not found");
        break;
    case pwm_grpc_reflection_v1_ServerReflectionRequest_FIELD_all_extension_numbers_of_type:
        fi = find_symbol((const uint8_t *)srv_chars(req->all_extension_numbers_of_type),
                         req->all_extension_numbers_of_type.len, &is_msg);
        if (fi != REFL_NONE && is_msg) {
            an->ext = (pwm_grpc_reflection_v1_ExtensionNumberResponse){
                .base_type_name = req->all_extension_numbers_of_type};
            out->message_response_case =
                pwm_grpc_reflection_v1_ServerReflectionResponse_FIELD_all_extension_numbers_response;
            out->all_extension_numbers_response = &an->ext;
        } else {
            reply_error(out, &an->error, PW_GRPC_NOT_FOUND, "message type not found");
        }
        break;
    case pwm_grpc_reflection_v1_ServerReflectionRequest_FIELD_list_services:
        an->list = (pwm_grpc_reflection_v1_ListServiceResponse){
            an->svcs, list_services(an->svcs, REFL_SERVICES_MAX)};
        out->message_response_case =
            pwm_grpc_reflection_v1_ServerReflectionResponse_FIELD_list_services_response;
        out->list_services_response = &an->list;
        break;
    default:
        reply_error(out, &an->error, PW_GRPC_INVALID_ARGUMENT, "empty or unknown message_request");
        break;
    }
}

/* One ServerReflectionRequest, one ServerReflectionResponse. v1alpha is v1 under another
 * package (the same messages, fields and numbers), so both decode with v1's table. */
static void on_message(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    pwm_grpc_reflection_v1_ServerReflectionRequest req;
    pw_msg_arena a;
    if (srv_msg_decode(c, &pwm_grpc_reflection_v1_ServerReflectionRequest_desc, &req, msg, len,
                       &a) < 0)
        return;
    refl_answer *an = rt_calloc(1, sizeof *an);
    if (!an) {
        pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    } else {
        an->out.valid_host = req.host;
        an->out.original_request = &req;
        answer(an, &req);
        int rc = srv_msg_send(c, &pwm_grpc_reflection_v1_ServerReflectionResponse_desc, &an->out,
                              0);
        if (rc < 0 && rc != -ECANCELED)
            pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "the answer could not be sent");
    }
    rt_free(an);
    pw_msg_arena_deinit(&a);
}

static void on_half_close(pw_grpc_call *c) { pw_grpc_call_finish(c, PW_GRPC_OK, NULL); }

static void on_writable(pw_grpc_call *c) {}

int srv_reflection_add_methods(pw_grpc_server *s)
{
    static const pw_grpc_method m[] = {
        {.path = pwm_grpc_reflection_v1_ServerReflection_ServerReflectionInfo_PATH,
         .kind = PW_GRPC_BIDI_STREAMING,
         .on_message = on_message,
         .on_half_close = on_half_close,
         .on_writable = on_writable},
        {.path = pwm_grpc_reflection_v1alpha_ServerReflection_ServerReflectionInfo_PATH,
         .kind = PW_GRPC_BIDI_STREAMING,
         .on_message = on_message,
         .on_half_close = on_half_close,
         .on_writable = on_writable},
    };
    for (size_t i = 0; i < 2; i++) {
        int r = pw_grpc_server_add_method(s, &m[i]);
        if (r < 0) return r;
    }
    return 0;
}
