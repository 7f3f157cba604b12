/* proto_wire/gen/pw_msg_gen: what the schema generator's two files share: the parsed form of a
 * descriptor set's messages (pw_msg_gen.c reads it and emits structs and tables) and the
 * per-message encoder emitter (pw_msg_gen_code.c). A build-time program, not a library: errors
 * end it through gen_die. */
#ifndef PW_MSG_GEN_H
#define PW_MSG_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Generous bounds on what one descriptor set holds (ours: ~120 messages). */
#define GEN_NAME_BYTES_MAX 256u
#define GEN_ONEOFS_MAX 16u

typedef struct gfield {
    char name[GEN_NAME_BYTES_MAX];
    char type_name[GEN_NAME_BYTES_MAX]; /* ".pkg.Msg" for messages and enums */
    uint32_t num, label, type;
    int oneof;  /* -1: none */
    int packed; /* -1: default, 0/1: [packed=] */
    bool proto3_optional;
} gfield;

typedef struct gmsg {
    char cname[GEN_NAME_BYTES_MAX]; /* pwm_ringq_v1_Task */
    char full[GEN_NAME_BYTES_MAX];  /* ringq.v1.Task */
    gfield *fields;                 /* in declaration order */
    size_t nfields;
    char oneofs[GEN_ONEOFS_MAX][GEN_NAME_BYTES_MAX];
    size_t noneofs;
    bool proto3;
} gmsg;

/* pw_msg_gen.c */
/* Prints "pw_msg_gen: <message>" on stderr and exits 1. */
void gen_die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* "pkg.Outer.Inner" -> "pwm_pkg_Outer_Inner" into dst[GEN_NAME_BYTES_MAX]. */
void gen_cname_of(char *dst, const char *full);
/* The C member name of a proto field name (a static buffer, valid until the next call). */
const char *gen_member(const char *name);
/* The C type of a scalar, string or bytes field's value ("uint64_t", "pw_pb_bytes", ...). */
const char *gen_ctype(const gfield *g);
bool gen_is_oneof(const gfield *g);
bool gen_is_repeated(const gfield *g);
/* Whether repeated field g of m is written packed. */
bool gen_is_packed(const gmsg *m, const gfield *g);

/* pw_msg_gen_code.c */
/* Forward declarations of every message's <cname>_size and <cname>_write (the tables name
 * them before they are defined). */
void gen_code_decls(FILE *c, const gmsg *msgs, size_t n);
/* The definitions of m's size and write functions. */
void gen_code(FILE *c, const gmsg *m);

/* pw_msg_gen_dec.c */
/* Forward declarations of every message's <cname>_decode. */
void gen_dec_decls(FILE *c, const gmsg *msgs, size_t n);
/* The definition of m's decode function. */
void gen_dec(FILE *c, const gmsg *m);

#endif
