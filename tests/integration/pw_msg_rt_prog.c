/* pw_msg_rt_prog: our side of test_pw_msg_roundtrip.py, the round trip of every generated message
 * type between our codec (proto_wire/pw_msg*, the generated per-message encoders) and
 * python3-protobuf.
 *
 *   pw_msg_rt_prog gen SEED N   for every message type, N random messages: each encoded by the
 *                               generated code, checked against the table walk (same bytes),
 *                               pw_msg_size, and our own decode (generated and walked) +
 *                               re-encode; prints
 *                               "<full name> <hex>" per message for Python to parse
 *   pw_msg_rt_prog rt           reads "<full name> <hex>" lines (Python's encodings), decodes
 *                               each with pw_msg_decode and prints it re-encoded the same way
 *
 * Random values avoid what proto3 leaves to the implementation: strings are ASCII (Python
 * checks UTF-8), floats are never NaN or -0.0, map keys (entries named *Entry with fields 1 and
 * 2) are distinct and ascending (Python's deterministic order). Exit 0, 1 on bad input or a
 * decode error, 2 when the generated encoder or decoder disagrees with the table walk or itself. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_buf.h"
#include "proto_wire/pw_msg.h"
#include "proto_wire/pw_msgs.h"

#define ARENA_BYTES (4u << 20) /* the random messages stay well below (depth 3, 3 per level) */
#define DEPTH_MAX 3u           /* nesting of random sub-messages */
#define REPEAT_MAX 3u          /* elements of a random repeated field */
#define LINE_BYTES_MAX (1u << 20)
#define ENCODED_BYTES_MAX (LINE_BYTES_MAX / 2) /* a message's bytes: a line holds them in hex */

static _Alignas(16) uint8_t arena_mem[2][ARENA_BYTES];
static char text[256]; /* random string bytes point in here */
static uint64_t rng;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static bool is_map_entry(const pw_msg_desc *d)
{
    size_t n = strlen(d->full_name);
    return n > 5 && !strcmp(d->full_name + n - 5, "Entry") && d->nfields == 2 &&
           d->fields[0].num == 1 && d->fields[1].num == 2;
}

/* A scalar of `kind` at p; `key` >= 0: the i-th map key (distinct, ascending). */
static void fill_scalar(uint8_t kind, void *p, long key)
{
    static const int64_t ints[] = {0, 1, 127, 128, 300, -1, -129, INT32_MAX, INT32_MIN};
    static const int64_t wide[] = {INT64_MAX, INT64_MIN, (int64_t)1 << 40, 5, 0};
    static const double reals[] = {0.0, 1.5, -2.25, 3e10, 0.125};
    int64_t v = key >= 0 ? key : ints[rnd() % (sizeof ints / sizeof ints[0])];
    if (key < 0 && rnd() % 3 == 0) v = wide[rnd() % (sizeof wide / sizeof wide[0])];
    switch (kind) {
    case PW_MSG_BOOL: *(bool *)p = key >= 0 ? key != 0 : rnd() % 2; break;
    case PW_MSG_FLOAT: *(float *)p = (float)reals[rnd() % 5]; break;
    case PW_MSG_DOUBLE: *(double *)p = reals[rnd() % 5] * (rnd() % 2 ? 1e200 : 1); break;
    case PW_MSG_ENUM: *(int32_t *)p = key >= 0 ? (int32_t)key : (int32_t)(rnd() % 4); break;
    case PW_MSG_INT32:
    case PW_MSG_SINT32:
    case PW_MSG_SFIXED32: *(int32_t *)p = (int32_t)v; break;
    case PW_MSG_UINT32:
    case PW_MSG_FIXED32: *(uint32_t *)p = (uint32_t)v; break;
    default: *(int64_t *)p = v; break; /* the 64-bit kinds; unsigned ones take the bits */
    }
}

static void fill_bytes(pw_pb_bytes *b, long key)
{
    static char keys[64][8];
    static const size_t lens[] = {0, 1, 5, 130};
    if (key >= 0) {
        int n = snprintf(keys[key % 64], sizeof keys[0], "k%03ld", key);
        *b = (pw_pb_bytes){(const uint8_t *)keys[key % 64], (size_t)n};
        return;
    }
    size_t len = lens[rnd() % 4];
    *b = (pw_pb_bytes){(const uint8_t *)text + rnd() % (sizeof text - len), len};
}

static int fill_msg(const pw_msg_desc *d, uint8_t *m, unsigned depth, long key, pw_msg_arena *a);
static int fill_single(const pw_msg_field *fd, uint8_t *m, unsigned depth, bool always,
                       pw_msg_arena *a);

/* One value of field fd at p (an element when fd is repeated). */
static int fill_value(const pw_msg_field *fd, uint8_t *p, unsigned depth, long key, pw_msg_arena *a)
{
    if (fd->kind == PW_MSG_STRING || fd->kind == PW_MSG_BYTES) fill_bytes((pw_pb_bytes *)p, key);
    else if (fd->kind == PW_MSG_MESSAGE) return fill_msg(fd->sub, p, depth + 1, key, a);
    else fill_scalar(fd->kind, p, key);
    return 0;
}

static size_t elem_bytes(const pw_msg_field *fd)
{
    switch (fd->kind) {
    case PW_MSG_MESSAGE: return fd->sub->size;
    case PW_MSG_STRING:
    case PW_MSG_BYTES: return sizeof(pw_pb_bytes);
    case PW_MSG_BOOL: return sizeof(bool);
    case PW_MSG_DOUBLE:
    case PW_MSG_INT64:
    case PW_MSG_UINT64:
    case PW_MSG_FIXED64:
    case PW_MSG_SFIXED64:
    case PW_MSG_SINT64: return 8;
    default: return 4;
    }
}

static int fill_repeated(const pw_msg_field *fd, uint8_t *m, unsigned depth, pw_msg_arena *a)
{
    bool map = fd->kind == PW_MSG_MESSAGE && is_map_entry(fd->sub);
    size_t n = (fd->kind == PW_MSG_MESSAGE && depth >= DEPTH_MAX) ? 0 : rnd() % (REPEAT_MAX + 1);
    if (map && fd->sub->fields[0].kind == PW_MSG_BOOL && n > 2) n = 2;
    if (!n) return 0;
    uint8_t *arr = pw_msg_arena_alloc(a, n * elem_bytes(fd), 16);
    if (!arr) return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int rc = fill_value(fd, arr + i * elem_bytes(fd), depth, map ? -2 - (long)i : -1, a);
        if (rc < 0) return rc;
    }
    memcpy(m + fd->off, &arr, sizeof arr);
    memcpy(m + fd->aux_off, &n, sizeof n);
    return 0;
}

/* A singular field; `always`: a message value is present (a map entry's: Python has no
 * entry without one). */
static int fill_single(const pw_msg_field *fd, uint8_t *m, unsigned depth, bool always,
                       pw_msg_arena *a)
{
    if (fd->flags & PW_MSG_F_ONEOF) {
        if (rnd() % 3) return 0;
        memcpy(m + fd->pres_off, &fd->num, sizeof fd->num); /* the last one chosen wins */
    } else if (fd->flags & PW_MSG_F_OPTIONAL) {
        *(bool *)(m + fd->pres_off) = rnd() % 2;
    }
    if (fd->kind != PW_MSG_MESSAGE) return fill_value(fd, m + fd->off, depth, -1, a);
    if (!always && (depth >= DEPTH_MAX || rnd() % 2)) {
        if (fd->flags & PW_MSG_F_ONEOF) memset(m + fd->pres_off, 0, sizeof(uint32_t));
        return 0;
    }
    uint8_t *sub = pw_msg_arena_alloc(a, fd->sub->size, 16);
    if (!sub) return -ENOMEM;
    memcpy(m + fd->off, &sub, sizeof sub);
    return depth >= DEPTH_MAX ? 0 : fill_msg(fd->sub, sub, depth + 1, -1, a);
}

/* A random message (zeroed by the arena); key <= -2: a map entry whose key is the
 * (-2 - key)-th. */
static int fill_msg(const pw_msg_desc *d, uint8_t *m, unsigned depth, long key, pw_msg_arena *a)
{
    for (size_t i = 0; i < d->nfields; i++) {
        const pw_msg_field *fd = &d->fields[i];
        int rc;
        if (key <= -2 && i == 0) rc = fill_value(fd, m + fd->off, depth, -2 - key, a);
        else if (fd->flags & PW_MSG_F_REPEATED) rc = fill_repeated(fd, m, depth, a);
        else rc = fill_single(fd, m, depth, key <= -2, a);
        if (rc < 0) return rc;
    }
    return 0;
}

static void print_hex(const char *name, const uint8_t *p, size_t n)
{
    printf("%s ", name);
    for (size_t i = 0; i < n; i++) printf("%02x", p[i]);
    printf("\n");
}

/* Encodes m by the generated code and by the table walk, checks they agree with each other, with
 * pw_msg_size, and with a decode + re-encode of the bytes (decoded by the generated decoder and
 * by the table walk); prints them. 0 or 2. */
static int encode_checked(const pw_msg_desc *d, const void *m, pw_msg_arena *a)
{
    pw_msg_desc walk = *d;
    walk.size_fn = NULL;
    walk.write_fn = NULL;
    walk.decode_fn = NULL;
    buf gen, tab, again;
    buf_init(&gen, ENCODED_BYTES_MAX);
    buf_init(&tab, ENCODED_BYTES_MAX);
    buf_init(&again, ENCODED_BYTES_MAX);
    static _Alignas(16) uint8_t back[8192];
    int rc = 2;
    if (pw_msg_encode(d, m, &gen) < 0 || pw_msg_encode(&walk, m, &tab) < 0) goto out;
    if (buf_size(&gen) != buf_size(&tab) || buf_size(&gen) != pw_msg_size(d, m) ||
        memcmp(buf_begin(&gen), buf_begin(&tab), buf_size(&gen)) != 0) {
        fprintf(stderr, "%s: generated and table encoders disagree\n", d->full_name);
        goto out;
    }
    if (d->size > sizeof back || pw_msg_decode(d, back, buf_begin(&gen), buf_size(&gen), a) < 0 ||
        pw_msg_encode(d, back, &again) < 0 || buf_size(&again) != buf_size(&gen) ||
        memcmp(buf_begin(&again), buf_begin(&gen), buf_size(&gen)) != 0) {
        fprintf(stderr, "%s: our decode + re-encode differs\n", d->full_name);
        goto out;
    }
    buf_truncate(&again, 0); /* the table decoder reads the same bytes the same way */
    if (pw_msg_decode(&walk, back, buf_begin(&gen), buf_size(&gen), a) < 0 ||
        pw_msg_encode(d, back, &again) < 0 || buf_size(&again) != buf_size(&gen) ||
        memcmp(buf_begin(&again), buf_begin(&gen), buf_size(&gen)) != 0) {
        fprintf(stderr, "%s: generated and table decoders disagree\n", d->full_name);
        goto out;
    }
    print_hex(d->full_name, buf_begin(&gen), buf_size(&gen));
    rc = 0;
out:
    buf_deinit(&gen);
    buf_deinit(&tab);
    buf_deinit(&again);
    return rc;
}

static int gen(unsigned long seed, unsigned long n)
{
    rng = seed * 0x9E3779B97F4A7C15ull | 1;
    for (size_t i = 0; i < sizeof text; i++) text[i] = (char)(' ' + rnd() % 95);
    pw_msg_arena a, b;
    for (size_t t = 0; t < PWM_MESSAGES; t++) {
        const pw_msg_desc *d = pwm_messages[t];
        for (unsigned long k = 0; k < n; k++) {
            pw_msg_arena_init(&a, arena_mem[0], ARENA_BYTES);
            pw_msg_arena_init(&b, arena_mem[1], ARENA_BYTES);
            uint8_t *m = pw_msg_arena_alloc(&a, d->size, 16);
            if (!m || fill_msg(d, m, 0, -1, &a) < 0) return 1;
            int rc = encode_checked(d, m, &b);
            if (rc) return rc;
        }
    }
    return 0;
}

static const pw_msg_desc *find(const char *name)
{
    for (size_t t = 0; t < PWM_MESSAGES; t++)
        if (!strcmp(pwm_messages[t]->full_name, name)) return pwm_messages[t];
    return NULL;
}

static int rt_line(char *line, pw_msg_arena *a)
{
    static uint8_t bin[LINE_BYTES_MAX / 2];
    static _Alignas(16) uint8_t m[8192];
    char *sp = strchr(line, ' ');
    if (!sp) return 1;
    *sp = 0;
    const pw_msg_desc *d = find(line);
    char *hex = sp + 1;
    size_t hn = strcspn(hex, "\r\n"), n = hn / 2;
    if (!d || hn % 2 || d->size > sizeof m) return 1;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) return 1;
        bin[i] = (uint8_t)v;
    }
    pw_msg_arena_init(a, arena_mem[0], ARENA_BYTES);
    int rc = pw_msg_decode(d, m, bin, n, a);
    if (rc < 0) {
        fprintf(stderr, "%s: decode: %s\n", d->full_name, pw_msg_strerror(rc));
        return 1;
    }
    pw_msg_arena b;
    pw_msg_arena_init(&b, arena_mem[1], ARENA_BYTES);
    return encode_checked(d, m, &b);
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "gen"))
        return gen(strtoul(argv[2], NULL, 10), strtoul(argv[3], NULL, 10));
    if (argc != 2 || strcmp(argv[1], "rt")) {
        fprintf(stderr, "usage: pw_msg_rt_prog gen SEED N | rt\n");
        return 1;
    }
    static char line[LINE_BYTES_MAX];
    pw_msg_arena a;
    while (fgets(line, sizeof line, stdin)) {
        int rc = rt_line(line, &a);
        if (rc) return rc;
    }
    return 0;
}
