/* Fuzz target for the pw_h2 session (pw_h2_session.c, _stream, _hblock, _flow, _send).
 *
 * A session gets a valid start (server: client preface + SETTINGS; client: the server's
 * SETTINGS and one request), then a fuzzer-chosen script of operations: input chunks of
 * fuzzer bytes, partial output drains, application actions (submit headers/data/trailers/rst,
 * consume, GOAWAY, PING, new requests) and clock steps. Checked throughout:
 *  - no crash, leak or sanitizer report;
 *  - on_stream_close exactly once per stream the application saw, none for unknown ids;
 *  - output, pending and allocated memory stay within the documented bounds;
 *  - after a connection error the output ends with a GOAWAY and the session wants to close.
 *
 * Input: byte 0 = config (bit 0 client role, bit 1 auto_consume, bits 2-3 max concurrent
 * streams, bits 4-5 peer-visible initial window, bit 6 small header list, bit 7 small pending
 * cap); then ops: byte >> 5 = kind, byte & 31 = arg:
 *   0: feed the next data[i] bytes          1: feed the next 16-bit LE length of bytes
 *   2: drain (arg == 31: all; else (arg+1) * 61 bytes)
 *   3: application action on stream slot arg % 8, action byte follows
 *   4: clock += arg * 50 ms                 5-7: feed the next arg bytes */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto_wire/pw_h2.h"

#define CHECK(c) ((c) ? (void)0 : __builtin_trap())

#define SLOTS 8
#define LIVE_MAX 512

static pw_h2_session *S;
static bool client;
static uint64_t now_ns;
static struct {
    uint32_t id;
    size_t delivered;
} slot[SLOTS];
static uint32_t live[LIVE_MAX]; /* streams the application knows, not yet closed */
static size_t nlive;
static size_t stream_pending_max;
static uint8_t scratch[70000];

static int live_find(uint32_t id)
{
    for (size_t i = 0; i < nlive; i++)
        if (live[i] == id) return (int)i;
    return -1;
}

static void live_add(uint32_t id)
{
    CHECK(live_find(id) < 0);
    CHECK(nlive < LIVE_MAX);
    live[nlive++] = id;
    slot[id % SLOTS].id = id;
    slot[id % SLOTS].delivered = 0;
}

static int on_begin(void *ud, uint32_t sid)
{
    (void)ud;
    CHECK(!client);
    live_add(sid);
    return 0;
}

static int on_headers(void *ud, uint32_t sid, const pw_h2_header *h, size_t n, unsigned flags)
{
    (void)ud;
    (void)flags;
    CHECK(live_find(sid) >= 0);
    uint32_t sum = 0;
    for (size_t i = 0; i < n; i++) { /* touch every byte of the borrowed views */
        CHECK(h[i].name_len > 0);
        for (size_t k = 0; k < h[i].name_len; k++) sum += (uint8_t)h[i].name[k];
        for (size_t k = 0; k < h[i].value_len; k++) sum += (uint8_t)h[i].value[k];
    }
    (void)sum;
    return 0;
}

static int on_data(void *ud, uint32_t sid, const uint8_t *p, size_t n, bool es)
{
    (void)ud;
    (void)es;
    CHECK(live_find(sid) >= 0);
    if (n) CHECK(p[0] == p[0] && p[n - 1] == p[n - 1]);
    if (slot[sid % SLOTS].id == sid) slot[sid % SLOTS].delivered += n;
    else pw_h2_consume(S, sid, n);
    return 0;
}

static void on_close(void *ud, uint32_t sid, uint32_t code)
{
    (void)ud;
    (void)code;
    int i = live_find(sid);
    CHECK(i >= 0); /* exactly once, and only for streams the application saw */
    live[i] = live[--nlive];
    if (slot[sid % SLOTS].id == sid) slot[sid % SLOTS].id = 0;
}

static void on_writable(void *ud, uint32_t sid)
{
    (void)ud;
    CHECK(live_find(sid) >= 0);
}

static const pw_h2_callbacks cbs = {
    .on_begin_stream = on_begin,
    .on_headers = on_headers,
    .on_data = on_data,
    .on_stream_close = on_close,
    .on_stream_writable = on_writable,
};

static void check_bounds(void)
{
    pw_h2_stats st;
    pw_h2_session_stats(S, &st);
    CHECK(st.output_bytes <= PW_H2_OUT_CAP_BYTES);
    CHECK(st.pending_bytes <= (size_t)(nlive + 1) * stream_pending_max);
    CHECK(st.open_streams <= nlive);
    /* Input: one frame; header block: 2x list; output cap; streams: struct + pending. */
    size_t bound = (16384 + 9) + 2 * 16384 + 2 * 16384 + PW_H2_OUT_CAP_BYTES +
                   (size_t)(nlive + 1) * (stream_pending_max + 512) + 8192;
    CHECK(st.allocated_bytes <= bound);
}

static void drain(size_t max)
{
    const uint8_t *p;
    size_t n;
    pw_h2_session_output(S, &p, &n);
    if (n > max) n = max;
    if (n) pw_h2_session_output_consume(S, n);
}

static void feed(const uint8_t *p, size_t n)
{
    ssize_t r = pw_h2_session_recv(S, p, n, now_ns);
    if (r < 0) {
        CHECK(pw_h2_session_want_close(S));
        CHECK(pw_h2_is_err(r)); /* never errno, never a bare -1 */
        CHECK(pw_h2_err_from_code(pw_h2_session_error(S, NULL)) == r);
    } else {
        CHECK((size_t)r == n);
    }
    check_bounds();
}

static const pw_h2_header resp[] = {PW_H2_HDR(":status", "200"),
                                    PW_H2_HDR("content-type", "application/grpc")};
static const pw_h2_header trl[] = {PW_H2_HDR("grpc-status", "0")};
static const pw_h2_header req[] = {PW_H2_HDR(":method", "POST"), PW_H2_HDR(":scheme", "http"),
                                   PW_H2_HDR(":path", "/a/b"), PW_H2_HDR(":authority", "x")};

static void act(unsigned s, uint8_t a)
{
    uint32_t id = slot[s].id;
    switch (a & 7) {
    case 0: pw_h2_submit_headers(S, id, resp, 2, (a & 8) != 0); break;
    case 1: pw_h2_submit_data(S, id, scratch, (size_t)(a >> 3) * 2000, (a & 4) != 0); break;
    case 2: pw_h2_submit_trailers(S, id, trl, 1); break;
    case 3: pw_h2_submit_rst(S, id, a >> 3); break;
    case 4:
        if (id) {
            pw_h2_consume(S, id, slot[s].delivered);
            slot[s].delivered = 0;
        }
        break;
    case 5:
        pw_h2_submit_goaway(S, (a & 8) ? PW_H2_NO_ERROR : (uint32_t)(a >> 4), scratch, a >> 3);
        break;
    case 6: pw_h2_submit_ping(S, scratch); break;
    case 7:
        /* The harness tracks at most LIVE_MAX streams; the session itself lets a client open
         * as many as the peer's SETTINGS_MAX_CONCURRENT_STREAMS allows (unlimited by default). */
        if (client && nlive < LIVE_MAX) {
            int64_t r = pw_h2_submit_request(S, req, 4, (a & 8) != 0, NULL);
            if (r > 0) live_add((uint32_t)r);
        }
        break;
    }
    check_bounds();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static const uint32_t mcs[4] = {1, 2, 7, 100};
    static const uint32_t iws[4] = {0, 1, 65535, 1u << 20};
    uint8_t c = data[0];
    pw_h2_config cfg;
    pw_h2_config_default(&cfg);
    client = c & 1;
    cfg.auto_consume = (c & 2) != 0;
    cfg.max_concurrent_streams = mcs[(c >> 2) & 3];
    cfg.initial_window_size = iws[(c >> 4) & 3];
    if (c & 0x40) cfg.max_header_list_size = 256;
    if (c & 0x80) cfg.stream_pending_max = PW_H2_OUT_FRAME_MAX_BYTES;
    stream_pending_max = cfg.stream_pending_max;
    memset(slot, 0, sizeof slot);
    nlive = 0;
    now_ns = 1000000000ull;
    S = pw_h2_session_create(client ? PW_H2_ROLE_CLIENT : PW_H2_ROLE_SERVER, &cfg, &cbs, NULL);
    CHECK(S != NULL);
    drain(SIZE_MAX);
    static const uint8_t settings[9] = {0, 0, 0, PW_H2_FT_SETTINGS, 0, 0, 0, 0, 0};
    if (!client) feed(pw_h2_preface, PW_H2_PREFACE_BYTES);
    feed(settings, sizeof settings);
    if (client) act(0, 7);
    size_t i = 1;
    while (i < size) {
        uint8_t op = data[i++], kind = op >> 5, arg = op & 31;
        size_t n;
        switch (kind) {
        case 0:
            if (i >= size) break;
            n = data[i++];
            goto do_feed;
        case 1:
            if (size - i < 2) {
                i = size;
                break;
            }
            n = (size_t)data[i] | (size_t)data[i + 1] << 8;
            i += 2;
            goto do_feed;
        case 2: drain(arg == 31 ? SIZE_MAX : (size_t)(arg + 1) * 61); break;
        case 3:
            if (i < size) act(arg % SLOTS, data[i++]);
            break;
        case 4: now_ns += (uint64_t)arg * 50000000ull; break;
        default:
            n = arg;
        do_feed:
            if (n > size - i) n = size - i;
            feed(data + i, n);
            i += n;
            break;
        }
    }
    if (pw_h2_session_error(S, NULL)) {
        /* After a connection error: every stream was closed, a GOAWAY is queued. */
        CHECK(nlive == 0);
        CHECK(pw_h2_session_want_close(S));
    }
    drain(SIZE_MAX);
    pw_h2_session_destroy(S);
    CHECK(nlive == 0); /* destroy closed the rest, exactly once */
    S = NULL;
    return 0;
}
