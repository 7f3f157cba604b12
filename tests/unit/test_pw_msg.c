/* Unit tests for proto_wire/pw_msg (the table-driven runtime) and the generated ringq.v1 tables
 * (build/gen/proto_wire/pw_msgs.h), against golden bytes written by python3-protobuf
 * (tests/unit/pw_msg_golden.py -> test_pw_msg_golden.h). */
#include <check.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "core/rt_buf.h"
#include "proto_wire/pw_msg.h"
#include "proto_wire/pw_msgs.h"
#include "proto_wire/pw_pb.h"
#include "tests/unit/test_pw_msg_golden.h"
#include "ts_main.h"

/* ---- t.AllKinds: a hand-written table (the generator only sees proto/) ---- */

typedef struct ak ak;
typedef struct ak_entry {
    pw_pb_bytes key;
    int32_t value;
} ak_entry;
struct ak {
    double d;
    float f;
    int64_t i64;
    uint64_t u64;
    int32_t i32;
    uint64_t fx64;
    uint32_t fx32;
    bool b;
    pw_pb_bytes s, by;
    uint32_t u32;
    int32_t e, sfx32;
    int64_t sfx64;
    int32_t s32;
    int64_t s64;
    const int32_t *r_i32;
    size_t r_i32_count;
    const int64_t *r_s64;
    size_t r_s64_count;
    const uint32_t *r_fx32;
    size_t r_fx32_count;
    const double *r_d;
    size_t r_d_count;
    const pw_pb_bytes *r_s;
    size_t r_s_count;
    const ak *child;
    const ak *children;
    size_t children_count;
    uint32_t opt;
    bool has_opt;
    uint32_t pick_case;
    pw_pb_bytes o_s;
    const ak *o_m;
    const ak_entry *m;
    size_t m_count;
};

static const pw_msg_field ENTRY_FIELDS[] = {
    {1, PW_MSG_STRING, 0, offsetof(ak_entry, key), 0, 0, NULL, "key"},
    {2, PW_MSG_INT32, 0, offsetof(ak_entry, value), 0, 0, NULL, "value"},
};
static const pw_msg_desc ENTRY_DESC = {"t.AllKinds.MEntry",
                                       sizeof(ak_entry),
                                       _Alignof(ak_entry),
                                       ENTRY_FIELDS,
                                       2,
                                       NULL,
                                       NULL,
                                       NULL}; /* walked: no generated code */
extern const pw_msg_desc AK_DESC;
#define S(n, k, m)                               \
    {                                            \
        n, k, 0, offsetof(ak, m), 0, 0, NULL, #m \
    }
#define R(n, k, fl, m, sub)                                                                  \
    {                                                                                        \
        n, k, PW_MSG_F_REPEATED | (fl), offsetof(ak, m), offsetof(ak, m##_count), 0, sub, #m \
    }
static const pw_msg_field AK_FIELDS[] = {
    S(1, PW_MSG_DOUBLE, d),
    S(2, PW_MSG_FLOAT, f),
    S(3, PW_MSG_INT64, i64),
    S(4, PW_MSG_UINT64, u64),
    S(5, PW_MSG_INT32, i32),
    S(6, PW_MSG_FIXED64, fx64),
    S(7, PW_MSG_FIXED32, fx32),
    S(8, PW_MSG_BOOL, b),
    S(9, PW_MSG_STRING, s),
    S(12, PW_MSG_BYTES, by),
    S(13, PW_MSG_UINT32, u32),
    S(14, PW_MSG_ENUM, e),
    S(15, PW_MSG_SFIXED32, sfx32),
    S(16, PW_MSG_SFIXED64, sfx64),
    S(17, PW_MSG_SINT32, s32),
    S(18, PW_MSG_SINT64, s64),
    R(19, PW_MSG_INT32, PW_MSG_F_PACKED, r_i32, NULL),
    R(20, PW_MSG_SINT64, 0, r_s64, NULL),
    R(21, PW_MSG_FIXED32, PW_MSG_F_PACKED, r_fx32, NULL),
    R(22, PW_MSG_DOUBLE, PW_MSG_F_PACKED, r_d, NULL),
    R(23, PW_MSG_STRING, 0, r_s, NULL),
    {24, PW_MSG_MESSAGE, 0, offsetof(ak, child), 0, 0, &AK_DESC, "child"},
    R(25, PW_MSG_MESSAGE, 0, children, &AK_DESC),
    {26, PW_MSG_UINT32, PW_MSG_F_OPTIONAL, offsetof(ak, opt), 0, offsetof(ak, has_opt), NULL,
     "opt"},
    {27, PW_MSG_STRING, PW_MSG_F_ONEOF, offsetof(ak, o_s), 0, offsetof(ak, pick_case), NULL, "o_s"},
    {28, PW_MSG_MESSAGE, PW_MSG_F_ONEOF, offsetof(ak, o_m), 0, offsetof(ak, pick_case), &AK_DESC,
     "o_m"},
    R(29, PW_MSG_MESSAGE, 0, m, &ENTRY_DESC),
};
const pw_msg_desc AK_DESC = {
    "t.AllKinds", sizeof(ak), _Alignof(ak), AK_FIELDS, sizeof AK_FIELDS / sizeof AK_FIELDS[0],
    NULL,         NULL,       NULL};

#define BYTES(lit) ((pw_pb_bytes){(const uint8_t *)(lit), sizeof(lit) - 1})

static bool bytes_eq(pw_pb_bytes b, const char *s)
{
    return b.len == strlen(s) && (b.len == 0 || memcmp(b.ptr, s, b.len) == 0);
}

/* The vector of pw_msg_golden.py's fill_all, built in C. */
static void fill_all(ak *m)
{
    static const int32_t r_i32[] = {1, -1, 150};
    static const int64_t r_s64[] = {-2, 3};
    static const uint32_t r_fx32[] = {7, 8};
    static const double r_d[] = {0.5, -0.25};
    static const pw_pb_bytes r_s[] = {BYTES("a"), BYTES(""), BYTES("ccc")};
    static ak child, children[2], o_m;
    static const ak_entry entries[] = {{BYTES("k1"), 11}, {BYTES("k2"), -12}};
    memset(m, 0, sizeof *m);
    m->d = -2.5, m->f = 1.25f, m->i64 = -5000000000LL, m->u64 = UINT64_MAX, m->i32 = -7;
    m->fx64 = 0x0102030405060708ULL, m->fx32 = 0xdeadbeefu, m->b = true;
    m->s = BYTES("h\xc3\xa9llo"), m->by = BYTES("\x00\xff\x80"), m->u32 = 300, m->e = 2;
    m->sfx32 = -3, m->sfx64 = -4, m->s32 = -64, m->s64 = 9000000000LL;
    m->r_i32 = r_i32, m->r_i32_count = 3, m->r_s64 = r_s64, m->r_s64_count = 2;
    m->r_fx32 = r_fx32, m->r_fx32_count = 2, m->r_d = r_d, m->r_d_count = 2;
    m->r_s = r_s, m->r_s_count = 3;
    memset(&child, 0, sizeof child);
    child.u32 = 5, child.s = BYTES("kid");
    m->child = &child;
    memset(children, 0, sizeof children);
    children[0].i32 = 1, children[1].s = BYTES("two");
    m->children = children, m->children_count = 2;
    m->opt = 0, m->has_opt = true;
    memset(&o_m, 0, sizeof o_m);
    o_m.b = true;
    m->pick_case = 28, m->o_m = &o_m;
    m->m = entries, m->m_count = 2;
}

static void check_all(const ak *m)
{
    ck_assert(m->d == -2.5 && m->f == 1.25f);
    ck_assert_int_eq(m->i64, -5000000000LL);
    ck_assert(m->u64 == UINT64_MAX);
    ck_assert_int_eq(m->i32, -7);
    ck_assert(m->fx64 == 0x0102030405060708ULL && m->fx32 == 0xdeadbeefu && m->b);
    ck_assert(bytes_eq(m->s, "h\xc3\xa9llo"));
    ck_assert_uint_eq(m->by.len, 3);
    ck_assert_mem_eq(m->by.ptr, "\x00\xff\x80", 3);
    ck_assert_uint_eq(m->u32, 300);
    ck_assert_int_eq(m->e, 2);
    ck_assert_int_eq(m->sfx32, -3);
    ck_assert_int_eq(m->sfx64, -4);
    ck_assert_int_eq(m->s32, -64);
    ck_assert_int_eq(m->s64, 9000000000LL);
    ck_assert_uint_eq(m->r_i32_count, 3);
    ck_assert(m->r_i32[0] == 1 && m->r_i32[1] == -1 && m->r_i32[2] == 150);
    ck_assert_uint_eq(m->r_s64_count, 2);
    ck_assert(m->r_s64[0] == -2 && m->r_s64[1] == 3);
    ck_assert(m->r_fx32_count == 2 && m->r_fx32[0] == 7 && m->r_fx32[1] == 8);
    ck_assert(m->r_d_count == 2 && m->r_d[0] == 0.5 && m->r_d[1] == -0.25);
    ck_assert_uint_eq(m->r_s_count, 3);
    ck_assert(bytes_eq(m->r_s[0], "a") && bytes_eq(m->r_s[1], "") && bytes_eq(m->r_s[2], "ccc"));
    ck_assert_ptr_nonnull(m->child);
    ck_assert(m->child->u32 == 5 && bytes_eq(m->child->s, "kid") && m->child->child == NULL);
    ck_assert_uint_eq(m->children_count, 2);
    ck_assert(m->children[0].i32 == 1 && bytes_eq(m->children[1].s, "two"));
    ck_assert(m->has_opt && m->opt == 0);
    ck_assert_uint_eq(m->pick_case, 28);
    ck_assert(m->o_m && m->o_m->b);
    ck_assert_uint_eq(m->m_count, 2);
    ck_assert(bytes_eq(m->m[0].key, "k1") && m->m[0].value == 11);
    ck_assert(bytes_eq(m->m[1].key, "k2") && m->m[1].value == -12);
}

static uint8_t arena_mem[1 << 16];
static pw_msg_arena arena;
static buf out;
static void setup(void)
{
    pw_msg_arena_init(&arena, arena_mem, sizeof arena_mem);
    buf_init(&out, 1 << 20);
}
static void teardown(void) { buf_deinit(&out); }

static void expect_out(const uint8_t *want, size_t n)
{
    ck_assert_uint_eq(buf_size(&out), n);
    ck_assert_mem_eq(buf_begin(&out), want, n);
}

START_TEST(decode_every_kind_from_golden)
{
    ak m;
    ck_assert_int_eq(pw_msg_decode(&AK_DESC, &m, GOLDEN_ALL_KINDS, sizeof GOLDEN_ALL_KINDS, &arena),
                     0);
    check_all(&m);
    /* zero-copy: strings point into the input */
    ck_assert(m.s.ptr >= GOLDEN_ALL_KINDS && m.s.ptr < GOLDEN_ALL_KINDS + sizeof GOLDEN_ALL_KINDS);
}
END_TEST

START_TEST(decode_unpacked_equals_packed)
{
    ak m;
    ck_assert_int_eq(pw_msg_decode(&AK_DESC, &m, GOLDEN_ALL_KINDS_UNPACKED,
                                   sizeof GOLDEN_ALL_KINDS_UNPACKED, &arena),
                     0);
    check_all(&m);
    /* re-encoded with the table's packing it is python's packed form */
    ck_assert_int_eq(pw_msg_encode(&AK_DESC, &m, &out), 0);
    expect_out(GOLDEN_ALL_KINDS, sizeof GOLDEN_ALL_KINDS);
}
END_TEST

START_TEST(encode_every_kind_matches_golden)
{
    ak m;
    uint8_t dst[sizeof GOLDEN_ALL_KINDS];
    fill_all(&m);
    ck_assert_uint_eq(pw_msg_size(&AK_DESC, &m), sizeof GOLDEN_ALL_KINDS);
    ck_assert_int_eq(pw_msg_encode(&AK_DESC, &m, &out), 0);
    expect_out(GOLDEN_ALL_KINDS, sizeof GOLDEN_ALL_KINDS);
    ck_assert_int_eq(pw_msg_encode_to(&AK_DESC, &m, dst, sizeof dst), (long)sizeof dst);
    ck_assert_mem_eq(dst, GOLDEN_ALL_KINDS, sizeof dst);
    ck_assert_int_eq(pw_msg_encode_to(&AK_DESC, &m, dst, sizeof dst - 1), -ENOBUFS);
}
END_TEST

START_TEST(oneof_string_member)
{
    ak m;
    ck_assert_int_eq(
        pw_msg_decode(&AK_DESC, &m, GOLDEN_ONEOF_STRING, sizeof GOLDEN_ONEOF_STRING, &arena), 0);
    ck_assert_uint_eq(m.pick_case, 27);
    ck_assert(bytes_eq(m.o_s, "pick-me") && m.o_m == NULL && !m.has_opt);
    ck_assert_int_eq(pw_msg_encode(&AK_DESC, &m, &out), 0);
    expect_out(GOLDEN_ONEOF_STRING, sizeof GOLDEN_ONEOF_STRING);
}
END_TEST

START_TEST(ringq_task_round_trip)
{
    pwm_ringq_v1_Task t;
    ck_assert_int_eq(
        pw_msg_decode(&pwm_ringq_v1_Task_desc, &t, GOLDEN_TASK, sizeof GOLDEN_TASK, &arena), 0);
    ck_assert(bytes_eq(t.id, "7-0") && bytes_eq(t.queue, "emails") &&
              bytes_eq(t.payload, "to=ada"));
    ck_assert(t.priority == 1 && t.attempt == 2 && t.max_attempts == 5);
    ck_assert(t.lease_deadline_unix_ms == 1700000000123ULL && t.enqueued_unix_ms == 1);
    ck_assert_uint_eq(t.headers_count, 1);
    ck_assert(bytes_eq(t.headers[0].key, "trace") && bytes_eq(t.headers[0].value, "abc"));
    ck_assert_int_eq(pw_msg_encode(&pwm_ringq_v1_Task_desc, &t, &out), 0);
    expect_out(GOLDEN_TASK, sizeof GOLDEN_TASK);
}
END_TEST

START_TEST(ringq_enqueue_and_work_nack)
{
    pwm_ringq_v1_EnqueueRequest e;
    ck_assert_int_eq(pw_msg_decode(&pwm_ringq_v1_EnqueueRequest_desc, &e, GOLDEN_ENQUEUE,
                                   sizeof GOLDEN_ENQUEUE, &arena),
                     0);
    ck_assert(bytes_eq(e.queue, "q") && e.tasks_count == 2);
    ck_assert(bytes_eq(e.tasks[0].payload, "p1") && e.tasks[0].priority == 3 &&
              e.tasks[0].delay_ms == 10 && e.tasks[0].headers_count == 1);
    ck_assert(bytes_eq(e.tasks[1].idempotency_key, "k") && e.tasks[1].lease_ms == 1000 &&
              e.tasks[1].payload.len == 0 && e.tasks[1].headers_count == 0);
    ck_assert_int_eq(pw_msg_encode(&pwm_ringq_v1_EnqueueRequest_desc, &e, &out), 0);
    expect_out(GOLDEN_ENQUEUE, sizeof GOLDEN_ENQUEUE);

    pwm_ringq_v1_WorkRequest w;
    buf_deinit(&out);
    buf_init(&out, 1 << 20);
    ck_assert_int_eq(pw_msg_decode(&pwm_ringq_v1_WorkRequest_desc, &w, GOLDEN_WORK_NACK,
                                   sizeof GOLDEN_WORK_NACK, &arena),
                     0);
    ck_assert_uint_eq(w.request_id, 9);
    ck_assert_uint_eq(w.kind_case, pwm_ringq_v1_WorkRequest_FIELD_nack);
    ck_assert(w.nack && bytes_eq(w.nack->id, "1-2") && bytes_eq(w.nack->reason, "boom"));
    ck_assert(w.nack->has_delay_ms && w.nack->delay_ms == 0); /* optional: present at zero */
    ck_assert_int_eq(pw_msg_encode(&pwm_ringq_v1_WorkRequest_desc, &w, &out), 0);
    expect_out(GOLDEN_WORK_NACK, sizeof GOLDEN_WORK_NACK);
}
END_TEST

START_TEST(unknown_fields_skipped)
{
    /* Task + one unknown field of each wire type */
    static const uint8_t extra[] = {0xa0, 0x06, 0x96, 0x01,                     /* 100 varint */
                                    0xa9, 0x06, 1,    2,    3,   4, 5, 6, 7, 8, /* 101 I64 */
                                    0xb2, 0x06, 0x02, 'h',  'i',                /* 102 LEN */
                                    0xbd, 0x06, 1,    2,    3,   4};            /* 103 I32 */
    uint8_t in[sizeof GOLDEN_TASK + sizeof extra];
    memcpy(in, extra, sizeof extra);
    memcpy(in + sizeof extra, GOLDEN_TASK, sizeof GOLDEN_TASK);
    pwm_ringq_v1_Task t;
    ck_assert_int_eq(pw_msg_decode(&pwm_ringq_v1_Task_desc, &t, in, sizeof in, &arena), 0);
    ck_assert(bytes_eq(t.id, "7-0") && t.headers_count == 1);
    ck_assert_int_eq(pw_msg_encode(&pwm_ringq_v1_Task_desc, &t, &out), 0);
    expect_out(GOLDEN_TASK, sizeof GOLDEN_TASK); /* unknowns are not carried */
}
END_TEST

/* Offsets where a top-level field of in[0..n) ends (a prefix that long decodes). */
static bool at_field_boundary(const uint8_t *in, size_t n, size_t cut)
{
    pw_pb_reader r;
    pw_pb_field f;
    if (cut == 0) return true;
    pw_pb_reader_init(&r, in, n);
    while (pw_pb_next(&r, &f) == 1)
        if ((size_t)(r.p - in) == cut) return true;
    return false;
}

static void truncate_everywhere(const pw_msg_desc *d, const uint8_t *in, size_t n)
{
    static _Alignas(16) uint8_t msg[4096];
    ck_assert_uint_le(d->size, sizeof msg);
    for (size_t cut = 0; cut < n; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1); /* exact size: ASan sees any over-read */
        ck_assert_ptr_nonnull(copy);
        memcpy(copy, in, cut);
        pw_msg_arena_reset(&arena);
        int rc = pw_msg_decode(d, msg, copy, cut, &arena);
        if (at_field_boundary(in, n, cut)) ck_assert_int_eq(rc, 0);
        else
            ck_assert_msg(rc == PW_PB_ERR_TRUNCATED || rc == PW_PB_ERR_LEN_OVERFLOW,
                          "cut %zu of %zu: %d", cut, n, rc);
        free(copy);
    }
}

START_TEST(truncated_at_every_byte)
{
    truncate_everywhere(&AK_DESC, GOLDEN_ALL_KINDS, sizeof GOLDEN_ALL_KINDS);
    truncate_everywhere(&AK_DESC, GOLDEN_ALL_KINDS_UNPACKED, sizeof GOLDEN_ALL_KINDS_UNPACKED);
    truncate_everywhere(&pwm_ringq_v1_Task_desc, GOLDEN_TASK, sizeof GOLDEN_TASK);
    truncate_everywhere(&pwm_ringq_v1_EnqueueRequest_desc, GOLDEN_ENQUEUE, sizeof GOLDEN_ENQUEUE);
    truncate_everywhere(&pwm_ringq_v1_WorkRequest_desc, GOLDEN_WORK_NACK, sizeof GOLDEN_WORK_NACK);
}
END_TEST

START_TEST(wire_type_mismatch_and_bad_lengths)
{
    pwm_ringq_v1_Task t;
    ak m;
    /* Task.id (string) as a varint; Task.priority (uint32) as LEN */
    ck_assert_int_eq(
        pw_msg_decode(&pwm_ringq_v1_Task_desc, &t, (const uint8_t[]){0x08, 0x01}, 2, &arena),
        PW_PB_ERR_BAD_WIRE_TYPE);
    ck_assert_int_eq(
        pw_msg_decode(&pwm_ringq_v1_Task_desc, &t, (const uint8_t[]){0x2a, 0x01, 0x01}, 3, &arena),
        PW_PB_ERR_BAD_WIRE_TYPE);
    /* AllKinds.d (double) as I32 */
    ck_assert_int_eq(pw_msg_decode(&AK_DESC, &m, (const uint8_t[]){0x0d, 0, 0, 0, 0}, 5, &arena),
                     PW_PB_ERR_BAD_WIRE_TYPE);
    /* packed fixed32 of 5 bytes; packed int32 whose last varint is cut */
    ck_assert_int_eq(
        pw_msg_decode(&AK_DESC, &m, (const uint8_t[]){0xaa, 0x01, 5, 1, 2, 3, 4, 5}, 8, &arena),
        PW_PB_ERR_TRUNCATED);
    ck_assert_int_eq(
        pw_msg_decode(&AK_DESC, &m, (const uint8_t[]){0x9a, 0x01, 2, 1, 0x80}, 5, &arena),
        PW_PB_ERR_TRUNCATED);
    /* a length past the end; a group */
    ck_assert_int_eq(
        pw_msg_decode(&pwm_ringq_v1_Task_desc, &t, (const uint8_t[]){0x0a, 0x05, 'a'}, 3, &arena),
        PW_PB_ERR_LEN_OVERFLOW);
    ck_assert_int_eq(
        pw_msg_decode(&pwm_ringq_v1_Task_desc, &t, (const uint8_t[]){0x0b, 0x0c}, 2, &arena),
        PW_PB_ERR_BAD_WIRE_TYPE);
    /* a bad sub-message inside a good one */
    ck_assert_int_eq(pw_msg_decode(&pwm_ringq_v1_Task_desc, &t,
                                   (const uint8_t[]){0x22, 0x02, 0x08, 0x01}, 4, &arena),
                     PW_PB_ERR_BAD_WIRE_TYPE);
}
END_TEST

/* `levels` AllKinds nested through field 24 (child), innermost u32 = 1. */
static size_t nest(uint8_t *dst, size_t cap, unsigned levels)
{
    size_t n = 2;
    ck_assert_uint_ge(cap, 2 + levels * 3);
    uint8_t *p = dst + cap - 2;
    p[0] = 0x68, p[1] = 1; /* u32 = 1 */
    for (unsigned i = 0; i < levels; i++) {
        ck_assert_uint_lt(n, 128);
        *--p = (uint8_t)n;
        *--p = 0x01;
        *--p = 0xc2; /* field 24, LEN: two-byte tag */
        n += 3;
    }
    memmove(dst, p, n);
    return n;
}

START_TEST(nesting_is_bounded)
{
    uint8_t in[256];
    ak m;
    size_t n = nest(in, sizeof in, PW_MSG_DEPTH_MAX);
    ck_assert_int_eq(pw_msg_decode(&AK_DESC, &m, in, n, &arena), 0);
    const ak *p = &m;
    for (unsigned i = 0; i < PW_MSG_DEPTH_MAX; i++) p = p->child;
    ck_assert_uint_eq(p->u32, 1);
    n = nest(in, sizeof in, PW_MSG_DEPTH_MAX + 1);
    ck_assert_int_eq(pw_msg_decode(&AK_DESC, &m, in, n, &arena), PW_MSG_ERR_DEPTH);
}
END_TEST

START_TEST(arena_limits)
{
    ak m;
    uint8_t small[64];
    pw_msg_arena a;
    pw_msg_arena_init(&a, small, sizeof small);
    ck_assert_int_eq(pw_msg_decode(&AK_DESC, &m, GOLDEN_ALL_KINDS, sizeof GOLDEN_ALL_KINDS, &a),
                     -ENOMEM);
    /* a growing arena: enough under its limit, -ENOMEM over it */
    pw_msg_arena_init_heap(&a, 128, 1 << 20);
    ck_assert_int_eq(pw_msg_decode(&AK_DESC, &m, GOLDEN_ALL_KINDS, sizeof GOLDEN_ALL_KINDS, &a), 0);
    check_all(&m);
    pw_msg_arena_deinit(&a);
    /* 1000 empty children: 3 bytes each on the wire, sizeof(ak) each in memory */
    uint8_t many_in[2000 + 1000];
    size_t n = 0;
    for (size_t i = 0; i < 1000; i++) {
        many_in[n++] = 0xca; /* field 25, LEN */
        many_in[n++] = 0x01;
        many_in[n++] = 0x00;
    }
    pw_msg_arena_init_heap(&a, 0, 1000 * sizeof(ak) / 2);
    ck_assert_int_eq(pw_msg_decode(&AK_DESC, &m, many_in, n, &a), -ENOMEM);
    pw_msg_arena_deinit(&a);
    pw_msg_arena_init_heap(&a, 0, 2 * 1000 * sizeof(ak));
    ck_assert_int_eq(pw_msg_decode(&AK_DESC, &m, many_in, n, &a), 0);
    ck_assert_uint_eq(m.children_count, 1000);
    pw_msg_arena_deinit(&a);
}
END_TEST

/* A growing arena over a caller's block: what fits takes no allocation, more goes to the heap
 * (and deinit frees only that). */
START_TEST(arena_over_a_block_then_the_heap)
{
    ak m;
    pw_msg_arena a;
    _Alignas(max_align_t) uint8_t block[4096];
    rt_alloc_test_start(0);
    pw_msg_arena_init_heap_over(&a, block, sizeof block, 128, 1 << 20);
    ck_assert_int_eq(pw_msg_decode(&AK_DESC, &m, GOLDEN_ALL_KINDS, sizeof GOLDEN_ALL_KINDS, &a), 0);
    check_all(&m);
    ck_assert_uint_eq(rt_alloc_test_count(), 0); /* all in the block */
    pw_msg_arena_deinit(&a);
    uint8_t small[64];
    pw_msg_arena_init_heap_over(&a, small, sizeof small, 128, 1 << 20);
    ck_assert_int_eq(pw_msg_decode(&AK_DESC, &m, GOLDEN_ALL_KINDS, sizeof GOLDEN_ALL_KINDS, &a), 0);
    check_all(&m);
    ck_assert_uint_ge(rt_alloc_test_count(), 1); /* past the block: heap chunks */
    pw_msg_arena_deinit(&a);
    ck_assert_int_eq(rt_alloc_test_live(), 0);
    rt_alloc_test_stop();
}
END_TEST

START_TEST(encode_respects_buffer_cap)
{
    ak m;
    buf small;
    fill_all(&m);
    buf_init(&small, 16);
    ck_assert_int_eq(buf_append(&small, "xyz", 3), 0);
    ck_assert_int_eq(pw_msg_encode(&AK_DESC, &m, &small), -ENOBUFS);
    ck_assert_uint_eq(buf_size(&small), 3); /* unchanged */
    ck_assert_int_eq(pw_msg_encode_field(&AK_DESC, &m, 0, &out), -EINVAL);
    buf_deinit(&small);
    /* as a field: tag, length, body */
    ck_assert_int_eq(pw_msg_encode_field(&AK_DESC, &m, 5, &out), 0);
    pw_pb_reader r;
    pw_pb_field f;
    pw_pb_reader_init(&r, buf_begin(&out), buf_size(&out));
    ck_assert_int_eq(pw_pb_next(&r, &f), 1);
    ck_assert(f.num == 5 && f.wt == PW_PB_WT_LEN && f.bytes.len == sizeof GOLDEN_ALL_KINDS);
    ck_assert_mem_eq(f.bytes.ptr, GOLDEN_ALL_KINDS, sizeof GOLDEN_ALL_KINDS);
    ck_assert_int_eq(pw_pb_next(&r, &f), 0);
}
END_TEST

/* Sub-message sizes are recorded by the size pass and reused by the write pass, up to a limit
 * past which they are sized again: 60 tasks with 3 headers each (240 sub-messages, within the
 * record) and 100 (400, past it) encode to the same bytes as each task written on its own, decode
 * back, and the delimited form is the length and then those bytes. */
static void many_tasks(size_t ntasks)
{
    enum { NT = 100, NH = 3 };
    ck_assert_uint_le(ntasks, NT);
    static pwm_ringq_v1_Task ts[NT];
    static pwm_ringq_v1_Task_HeadersEntry hs[NT][NH];
    static char ids[NT][16];
    for (size_t i = 0; i < ntasks; i++) {
        int n = snprintf(ids[i], sizeof ids[i], "1-%zu", i * 1000);
        for (size_t h = 0; h < NH; h++)
            hs[i][h] = (pwm_ringq_v1_Task_HeadersEntry){{(const uint8_t *)"k", 1},
                                                        {(const uint8_t *)ids[i], (size_t)n}};
        ts[i] = (pwm_ringq_v1_Task){.id = {(const uint8_t *)ids[i], (size_t)n},
                                    .queue = {(const uint8_t *)"q", 1},
                                    .payload = {(const uint8_t *)ids[i], (size_t)n},
                                    .headers = hs[i],
                                    .headers_count = NH,
                                    .attempt = (uint32_t)i + 1};
    }
    pwm_ringq_v1_LeaseResponse lr = {.tasks = ts, .tasks_count = ntasks};
    buf each;
    buf_init(&each, 1 << 20);
    pw_msg_arena_reset(&arena);
    for (size_t i = 0; i < ntasks; i++)
        ck_assert_int_eq(pw_msg_encode_field(&pwm_ringq_v1_Task_desc, &ts[i],
                                             pwm_ringq_v1_LeaseResponse_FIELD_tasks, &each),
                         0);
    buf_truncate(&out, 0);
    ck_assert_int_eq(pw_msg_encode(&pwm_ringq_v1_LeaseResponse_desc, &lr, &out), 0);
    ck_assert_uint_eq(buf_size(&out), buf_size(&each));
    ck_assert_uint_eq(buf_size(&out), pw_msg_size(&pwm_ringq_v1_LeaseResponse_desc, &lr));
    ck_assert(memcmp(buf_begin(&out), buf_begin(&each), buf_size(&each)) == 0);
    pwm_ringq_v1_LeaseResponse back;
    ck_assert_int_eq(pw_msg_decode(&pwm_ringq_v1_LeaseResponse_desc, &back, buf_begin(&out),
                                   buf_size(&out), &arena),
                     0);
    ck_assert_uint_eq(back.tasks_count, ntasks);
    for (size_t i = 0; i < ntasks; i++) {
        ck_assert(bytes_eq(back.tasks[i].id, ids[i]));
        ck_assert_uint_eq(back.tasks[i].headers_count, NH);
        ck_assert(bytes_eq(back.tasks[i].headers[NH - 1].value, ids[i]));
        ck_assert_uint_eq(back.tasks[i].attempt, i + 1);
    }
    buf_truncate(&out, 0);
    ck_assert_int_eq(pw_msg_encode_delimited(&pwm_ringq_v1_LeaseResponse_desc, &lr, &out), 0);
    size_t pre = pw_pb_varint_len(buf_size(&each));
    ck_assert_uint_eq(buf_size(&out), pre + buf_size(&each));
    ck_assert(memcmp(buf_begin(&out) + pre, buf_begin(&each), buf_size(&each)) == 0);
    /* Headed: the caller's 5 bytes first (a gRPC prefix), untouched, then the same message. */
    buf_truncate(&out, 0);
    ck_assert_int_eq(buf_append(&out, "ab", 2), 0);
    size_t body = 0;
    ck_assert_int_eq(pw_msg_encode_headed(&pwm_ringq_v1_LeaseResponse_desc, &lr, 5, &out, &body),
                     0);
    ck_assert_uint_eq(body, buf_size(&each));
    ck_assert_uint_eq(buf_size(&out), 2 + 5 + buf_size(&each));
    ck_assert(memcmp(buf_begin(&out), "ab", 2) == 0);
    /* Through the storage (non-NULL: 7 bytes and more are in it), not buf_begin: gcc -O1 with
     * the sanitizers sees buf_begin's "" for an empty buffer and warns about the + 7. */
    ck_assert_ptr_nonnull(out.data);
    ck_assert(memcmp(out.data + out.rd + 7, buf_begin(&each), buf_size(&each)) == 0);
    buf_deinit(&each);
}

START_TEST(sub_message_sizes_within_and_past_the_record)
{
    many_tasks(60);
    many_tasks(100);
}
END_TEST

START_TEST(every_generated_message_decodes_empty)
{
    static _Alignas(16) uint8_t msg[4096];
    ck_assert_uint_gt(PWM_MESSAGES, 50);
    for (size_t i = 0; i < PWM_MESSAGES; i++) {
        const pw_msg_desc *d = pwm_messages[i];
        ck_assert_uint_le(d->size, sizeof msg);
        for (size_t j = 1; j < d->nfields; j++)
            ck_assert_uint_lt(d->fields[j - 1].num, d->fields[j].num);
        ck_assert_int_eq(pw_msg_decode(d, msg, NULL, 0, &arena), 0);
        ck_assert_uint_eq(pw_msg_size(d, msg), 0);
    }
    ck_assert_str_eq(pwm_ringq_v1_Queue_methods[pwm_ringq_v1_Queue_Work_INDEX].path,
                     "/ringq.v1.Queue/Work");
    ck_assert(pwm_ringq_v1_Queue_methods[pwm_ringq_v1_Queue_Work_INDEX].client_streaming);
    ck_assert_ptr_eq(pwm_ringq_v1_Queue_methods[pwm_ringq_v1_Queue_Enqueue_INDEX].in,
                     &pwm_ringq_v1_EnqueueRequest_desc);
    ck_assert_str_eq(pwm_grpc_health_v1_Health_Check_PATH, "/grpc.health.v1.Health/Check");
}
END_TEST

/* Every generated table carries its generated encoder and decoder, and they agree with the table
 * walk on the golden messages of python3-protobuf (decode, then encode, both ways). */
START_TEST(generated_code_matches_the_table_walk)
{
    static const struct {
        const pw_msg_desc *d;
        const uint8_t *bytes;
        size_t len;
    } golden[] = {
        {&pwm_ringq_v1_Task_desc, GOLDEN_TASK, sizeof GOLDEN_TASK},
        {&pwm_ringq_v1_EnqueueRequest_desc, GOLDEN_ENQUEUE, sizeof GOLDEN_ENQUEUE},
        {&pwm_ringq_v1_WorkRequest_desc, GOLDEN_WORK_NACK, sizeof GOLDEN_WORK_NACK},
    };
    for (size_t i = 0; i < PWM_MESSAGES; i++)
        ck_assert(pwm_messages[i]->size_fn && pwm_messages[i]->write_fn &&
                  pwm_messages[i]->decode_fn);
    for (size_t i = 0; i < sizeof golden / sizeof golden[0]; i++) {
        pw_msg_desc walk = *golden[i].d;
        walk.size_fn = NULL;
        walk.write_fn = NULL;
        walk.decode_fn = NULL;
        static _Alignas(16) uint8_t gen_msg[4096], walk_msg[4096];
        buf a, b;
        buf_init(&a, 1 << 16);
        buf_init(&b, 1 << 16);
        ck_assert_int_eq(
            pw_msg_decode(golden[i].d, gen_msg, golden[i].bytes, golden[i].len, &arena), 0);
        ck_assert_int_eq(pw_msg_decode(&walk, walk_msg, golden[i].bytes, golden[i].len, &arena), 0);
        ck_assert_int_eq(pw_msg_encode(golden[i].d, gen_msg, &a), 0);
        ck_assert_int_eq(pw_msg_encode(&walk, walk_msg, &b), 0);
        ck_assert_uint_eq(buf_size(&a), golden[i].len);
        ck_assert_uint_eq(buf_size(&b), golden[i].len);
        ck_assert_mem_eq(buf_begin(&a), golden[i].bytes, golden[i].len);
        ck_assert_mem_eq(buf_begin(&b), golden[i].bytes, golden[i].len);
        buf_deinit(&a);
        buf_deinit(&b);
    }
}
END_TEST

static Suite *msg_suite(void)
{
    Suite *s = suite_create("pw_msg");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, decode_every_kind_from_golden);
    tcase_add_test(tc, decode_unpacked_equals_packed);
    tcase_add_test(tc, encode_every_kind_matches_golden);
    tcase_add_test(tc, oneof_string_member);
    tcase_add_test(tc, ringq_task_round_trip);
    tcase_add_test(tc, ringq_enqueue_and_work_nack);
    tcase_add_test(tc, unknown_fields_skipped);
    tcase_add_test(tc, truncated_at_every_byte);
    tcase_add_test(tc, wire_type_mismatch_and_bad_lengths);
    tcase_add_test(tc, nesting_is_bounded);
    tcase_add_test(tc, arena_limits);
    tcase_add_test(tc, encode_respects_buffer_cap);
    tcase_add_test(tc, every_generated_message_decodes_empty);
    tcase_add_test(tc, generated_code_matches_the_table_walk);
    tcase_add_test(tc, arena_over_a_block_then_the_heap);
    tcase_add_test(tc, sub_message_sizes_within_and_past_the_record);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return ts_run_suite(msg_suite()); }
