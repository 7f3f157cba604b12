/* bench/pw_msg_bench: the server's hot encode and decode calls on the ringq.v1 messages they
 * carry, by the generated per-message encoder and decoder ("gen") and by the table walk they
 * replaced ("walk": the same table with its generated functions left out), in one binary.
 *
 *   build/aux/bench/pw_msg_bench                     ns per call, best of ROUNDS, both ways
 *   build/aux/bench/pw_msg_bench CASE gen|walk N     N calls of one case (for callgrind)
 *
 * Cases: work (a WorkResponse{Task}, 100-byte payload, behind a 5-byte gRPC prefix: one Work
 * delivery), enq_resp64 (EnqueueResponse of 64 results with receipts), ack_resp64
 * (AckResponse of 64), enq_req64 (EnqueueRequest of 64 TaskSpecs, as a client writes it),
 * dec_enq_req64, dec_work_ack64 and dec_work_ack1 (decodes of an EnqueueRequest of 64 and a
 * WorkRequest{Ack of 64 ids, or of 1, as a worker acking each task sends}; "gen" is the
 * generated decoder, "walk" the table decoder). Instruction counts, repeatable
 * on a loaded machine:
 *
 *   valgrind --tool=callgrind --toggle-collect=run_case build/aux/bench/pw_msg_bench work gen 1000
 *
 * Prints a markdown table; the figure to read is the gen/walk ratio (goal: at most GOAL_RATIO
 * for the encodes). Exit 0, or 1 when an encode or decode fails. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_buf.h"
#include "core/rt_clock.h"
#include "proto_wire/pw_msg.h"
#include "proto_wire/pw_msgs.h"

#define ROUNDS 5
#define CALLS_PER_ROUND 20000u
#define BATCH 64u
#define PAYLOAD_BYTES 100u
#define OUT_BYTES_MAX (1u << 20)
#define GOAL_RATIO 0.5 /* the encodes at half the table walk's time or better */

static char payload[PAYLOAD_BYTES];
static char ids[BATCH][24];
static size_t id_len[BATCH];
static pwm_ringq_v1_Task task;
static pwm_ringq_v1_WorkResponse work;
static pwm_ringq_v1_Receipt receipts[BATCH];
static pwm_ringq_v1_EnqueueResult results[BATCH];
static pwm_ringq_v1_EnqueueResponse enq_resp;
static pwm_ringq_v1_ItemStatus statuses[BATCH];
static pwm_ringq_v1_AckResponse ack_resp;
static pwm_ringq_v1_TaskSpec specs[BATCH];
static pwm_ringq_v1_EnqueueRequest enq_req;
static pw_pb_bytes ack_ids[BATCH];
static uint64_t tokens[BATCH];
static pwm_ringq_v1_AckRequest ack_req;
static pwm_ringq_v1_WorkRequest work_ack;
static pwm_ringq_v1_AckRequest ack_req1;
static pwm_ringq_v1_WorkRequest work_ack1;
static buf enq_req_bytes, work_ack_bytes, work_ack1_bytes, out;
static _Alignas(16) uint8_t arena_mem[256 * 1024];

static pw_pb_bytes view(const char *s, size_t n) { return (pw_pb_bytes){(const uint8_t *)s, n}; }

static void build(void)
{
    memset(payload, 'x', sizeof payload);
    for (uint32_t i = 0; i < BATCH; i++) {
        id_len[i] = (size_t)snprintf(ids[i], sizeof ids[i], "0-%u", 1000000u + 131u * i);
        receipts[i] = (pwm_ringq_v1_Receipt){0, 1000000u + 131u * i, 4242, 3};
        results[i] = (pwm_ringq_v1_EnqueueResult){view(ids[i], id_len[i]), false, &receipts[i]};
        statuses[i] = (pwm_ringq_v1_ItemStatus){view(ids[i], id_len[i]), 0, {NULL, 0}};
        specs[i] = (pwm_ringq_v1_TaskSpec){.payload = view(payload, sizeof payload)};
        ack_ids[i] = view(ids[i], id_len[i]);
        tokens[i] = 0x1234567890ull + i;
    }
    task = (pwm_ringq_v1_Task){.id = view(ids[0], id_len[0]),
                               .queue = view("bench", 5),
                               .payload = view(payload, sizeof payload),
                               .attempt = 1,
                               .lease_deadline_unix_ms = 1796000000000ull,
                               .enqueued_unix_ms = 1795999999000ull,
                               .max_attempts = 5,
                               .lease_token = 0x1234567890ull};
    work = (pwm_ringq_v1_WorkResponse){.kind_case = pwm_ringq_v1_WorkResponse_FIELD_task,
                                       .task = &task};
    enq_resp = (pwm_ringq_v1_EnqueueResponse){results, BATCH};
    ack_resp = (pwm_ringq_v1_AckResponse){statuses, BATCH};
    enq_req = (pwm_ringq_v1_EnqueueRequest){.queue = view("bench", 5), specs, BATCH, 0};
    ack_req = (pwm_ringq_v1_AckRequest){ack_ids, BATCH, tokens, BATCH};
    work_ack = (pwm_ringq_v1_WorkRequest){
        .request_id = 7, .kind_case = pwm_ringq_v1_WorkRequest_FIELD_ack, .ack = &ack_req};
    buf_init(&enq_req_bytes, OUT_BYTES_MAX);
    buf_init(&work_ack_bytes, OUT_BYTES_MAX);
    buf_init(&out, OUT_BYTES_MAX);
    ack_req1 = (pwm_ringq_v1_AckRequest){ack_ids, 1, tokens, 1};
    work_ack1 = (pwm_ringq_v1_WorkRequest){
        .request_id = 7, .kind_case = pwm_ringq_v1_WorkRequest_FIELD_ack, .ack = &ack_req1};
    buf_init(&work_ack1_bytes, OUT_BYTES_MAX);
    if (pw_msg_encode(&pwm_ringq_v1_EnqueueRequest_desc, &enq_req, &enq_req_bytes) < 0 ||
        pw_msg_encode(&pwm_ringq_v1_WorkRequest_desc, &work_ack, &work_ack_bytes) < 0 ||
        pw_msg_encode(&pwm_ringq_v1_WorkRequest_desc, &work_ack1, &work_ack1_bytes) < 0) {
        fprintf(stderr, "pw_msg_bench: cannot encode the decode inputs\n");
        exit(1);
    }
}

/* The table of d as the walk sees it: no generated functions. */
static pw_msg_desc walk_of(const pw_msg_desc *d)
{
    pw_msg_desc w = *d;
    w.size_fn = NULL;
    w.write_fn = NULL;
    w.decode_fn = NULL;
    return w;
}

typedef enum which {
    WORK,
    ENQ_RESP,
    ACK_RESP,
    ENQ_REQ,
    DEC_ENQ_REQ,
    DEC_WORK_ACK,
    DEC_WORK_ACK1,
    CASES
} which;
static const char *const NAMES[CASES] = {"work",         "enq_resp64",    "ack_resp64",
                                         "enq_req64",    "dec_enq_req64", "dec_work_ack64",
                                         "dec_work_ack1"};

static int one_call(which c, bool gen)
{
    static _Alignas(16) uint8_t msg[4096];
    pw_msg_arena a;
    pw_msg_desc d;
    buf_truncate(&out, 0);
    switch (c) {
    case WORK:
        d = gen ? pwm_ringq_v1_WorkResponse_desc : walk_of(&pwm_ringq_v1_WorkResponse_desc);
        return pw_msg_encode_headed(&d, &work, 5, &out, NULL);
    case ENQ_RESP:
        d = gen ? pwm_ringq_v1_EnqueueResponse_desc : walk_of(&pwm_ringq_v1_EnqueueResponse_desc);
        return pw_msg_encode(&d, &enq_resp, &out);
    case ACK_RESP:
        d = gen ? pwm_ringq_v1_AckResponse_desc : walk_of(&pwm_ringq_v1_AckResponse_desc);
        return pw_msg_encode(&d, &ack_resp, &out);
    case ENQ_REQ:
        d = gen ? pwm_ringq_v1_EnqueueRequest_desc : walk_of(&pwm_ringq_v1_EnqueueRequest_desc);
        return pw_msg_encode(&d, &enq_req, &out);
    case DEC_ENQ_REQ:
        pw_msg_arena_init(&a, arena_mem, sizeof arena_mem);
        d = gen ? pwm_ringq_v1_EnqueueRequest_desc : walk_of(&pwm_ringq_v1_EnqueueRequest_desc);
        return pw_msg_decode(&d, msg, buf_begin(&enq_req_bytes), buf_size(&enq_req_bytes), &a);
    case DEC_WORK_ACK:
        pw_msg_arena_init(&a, arena_mem, sizeof arena_mem);
        d = gen ? pwm_ringq_v1_WorkRequest_desc : walk_of(&pwm_ringq_v1_WorkRequest_desc);
        return pw_msg_decode(&d, msg, buf_begin(&work_ack_bytes), buf_size(&work_ack_bytes), &a);
    default:
        pw_msg_arena_init(&a, arena_mem, sizeof arena_mem);
        d = gen ? pwm_ringq_v1_WorkRequest_desc : walk_of(&pwm_ringq_v1_WorkRequest_desc);
        return pw_msg_decode(&d, msg, buf_begin(&work_ack1_bytes), buf_size(&work_ack1_bytes), &a);
    }
}

/* The measured loop (callgrind's --toggle-collect names it). */
__attribute__((noinline)) int run_case(which c, bool gen, unsigned long n)
{
    for (unsigned long i = 0; i < n; i++)
        if (one_call(c, gen) < 0) return -1;
    return 0;
}

static double best_ns(which c, bool gen)
{
    double best = 1e30;
    for (int r = 0; r < ROUNDS; r++) {
        uint64_t t0 = rt_now_ns();
        if (run_case(c, gen, CALLS_PER_ROUND) < 0) {
            fprintf(stderr, "pw_msg_bench: %s failed\n", NAMES[c]);
            exit(1);
        }
        double ns = (double)(rt_now_ns() - t0) / CALLS_PER_ROUND;
        if (ns < best) best = ns;
    }
    return best;
}

int main(int argc, char **argv)
{
    build();
    if (argc == 4) {
        for (int c = 0; c < CASES; c++)
            if (!strcmp(argv[1], NAMES[c]))
                return run_case((which)c, !strcmp(argv[2], "gen"), strtoul(argv[3], NULL, 10)) < 0;
        fprintf(stderr, "pw_msg_bench: unknown case %s\n", argv[1]);
        return 1;
    }
    printf(
        "| case | walk ns/call | gen ns/call | gen/walk | goal (encodes) |\n|---|---|---|---|---|\n");
    for (int c = 0; c < CASES; c++) {
        double w = best_ns((which)c, false), g = best_ns((which)c, true);
        printf("| %s | %.0f | %.0f | %.2f | %s |\n", NAMES[c], w, g, g / w,
               c < DEC_ENQ_REQ ? "<= 0.50" : "-");
    }
    printf("\nbest of %d rounds of %u calls; build/aux/bench/pw_msg_bench (goal %.2f)\n", ROUNDS,
           CALLS_PER_ROUND, GOAL_RATIO);
    return 0;
}
