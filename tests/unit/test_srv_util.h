/* An in-process ringqd for server/ unit tests (static functions; the one ts_armed flag is
 * defined in ts_walk.c, in build/libunit_fx.a, which the Makefile links into the unit tests).
 *
 * The server: the real Queue and Admin services (srv_queue_setup on a fresh data directory,
 * srv_queue_shard_init on each shard) on shards created by server/srv_local: every shard's
 * ev_loop runs on the test's thread, one non-blocking iteration at a time, only when the test
 * steps it. A job sent from one shard to another sits in its mesh lane until the test steps the
 * receiver, so the test holds, orders and releases cross-shard deliveries.
 *
 * The client: a scripted HTTP/2 peer on the other end of a socketpair the server adopted. It
 * writes the preface, SETTINGS, HEADERS blocks from our HPACK encoder and DATA frames holding
 * gRPC messages from the generated pwm_ encoders (or raw bytes), and parses every frame the
 * server sends (SETTINGS and PING are acknowledged, DATA is credited back with WINDOW_UPDATE,
 * header blocks are decoded with our HPACK decoder) into per-stream results: gRPC messages,
 * grpc-status, grpc-message, RST_STREAM, GOAWAY, EOF.
 *
 * Waiting is polling a condition with a deadline: every round steps the chosen shards, sends
 * the client's pending bytes and parses what arrived; a round in which nothing happened waits
 * in poll(2) on the client's socket for at most TS_IDLE_POLL_MS (the server may be waiting for
 * an fsync or a timer, which the next round's step collects). */
#ifndef TEST_SRV_UTIL_H
#define TEST_SRV_UTIL_H

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/rt_alloc.h"
#include "core/rt_buf.h"
#include "core/rt_clock.h"
#include "core/rt_log.h"
#include "proto_wire/pw_grpc_server.h"
#include "proto_wire/pw_h2_frame.h"
#include "proto_wire/pw_hpack.h"
#include "proto_wire/pw_msg.h"
#include "proto_wire/pw_msgs.h"
#include "queue/q_part.h"
#include "server/srv_internal.h"
#include "server/srv_local.h"
#include "server/srv_queue.h"
#include "server/srv_queue_int.h"
#include "server/srv_stream.h"
#include "test_env_util.h"
#include "worker/wk_mesh.h"

#include "core/ev_reactor.h"

#define TS_SHARDS_MAX 4
#define TS_CALLS_MAX 256    /* streams one client opens */
#define TS_IDLE_POLL_MS 1   /* an idle round waits this long on the socket, at most */
#define TS_WAIT_MS 10000    /* default deadline of a wait: a wedged server fails the test */
#define TS_FRAME_MAX 16384u /* SETTINGS_MAX_FRAME_SIZE we leave at its default */
#define TS_HDR_LIST_MAX 65536u

/* ---- the data directory (test_env_util.h, under this header's template) ---- */

/* A fresh directory under /tmp (a real disk, not tmpfs). */
static inline void ts_mkdtemp(char path[64]) { tenv_mkdtemp(path, "/tmp/ringq-srvtest-XXXXXX"); }

static inline void ts_rmdir(const char *path) { tenv_rm(path); }

/* Exits 77 (Check: skipped) when io_uring is unusable here. */
static inline void ts_require_uring(const char *test) { tenv_require_uring(test); }

/* ---- the server ---- */

typedef struct ts_server {
    char dir[64];
    pw_grpc_server *g;
    srv_runtime *rt;
    int nshards;
    int lock_fd_floor; /* descriptors at and above it after setup: the data dir's lock */
} ts_server;

static inline srv_shard *ts_shard(ts_server *s, int i) { return srv_local_shard(s->rt, i); }

/* Starts the server with `nshards` shards and `nparts` partitions under `policy`. Returns 0 or
 * a negative errno (io_uring unusable: the caller skips). */
static inline int ts_server_start(ts_server *s, int nshards, uint32_t nparts,
                                  q_commit_policy policy)
{
    memset(s, 0, sizeof *s);
    log_set_level(LOG_WARN); /* a server per case: its start-up lines would bury the results */
    ts_mkdtemp(s->dir);
    s->nshards = nshards;
    srv_queue_opts qo;
    memset(&qo, 0, sizeof qo);
    q_log_opts_default(&qo.log);
    qo.log.policy = policy;
    qo.log.segment_bytes = q_log_segment_bytes_min(&qo.log);
    qo.data_dir = s->dir;
    qo.partitions = nparts;
    qo.spin_ns = 0; /* the test steps the shards: nobody spins */
    int fd_before = open("/dev/null", O_RDONLY | O_CLOEXEC); /* the lowest free descriptor */
    ck_assert_int_ge(fd_before, 0);
    close(fd_before);
    s->lock_fd_floor = fd_before;
    ck_assert_int_eq(srv_queue_setup(&qo, nshards), 0);
    s->g = pw_grpc_server_create(NULL);
    ck_assert_ptr_nonnull(s->g);
    ck_assert_int_ge(srv_queue_add_methods(s->g), 0);
    ck_assert_int_ge(srv_admin_add_methods(s->g), 0);
    ck_assert_int_ge(srv_stream_add_methods(s->g), 0);
    srv_options o;
    srv_options_defaults(&o);
    o.data_dir = s->dir;
    srv_hooks hooks = {.shard_init = srv_queue_shard_init,
                       .shard_fini = srv_queue_shard_fini,
                       .on_drain = srv_queue_on_drain};
    return srv_local_create(&o, s->g, &hooks, nshards, &s->rt);
}

/* Stops the server: shard_fini commits and closes the partitions; then what srv_queue_setup
 * made (the mesh, the shard table, the data directory's lock) goes too. */
static inline void ts_server_stop(ts_server *s)
{
    if (s->rt) srv_local_destroy(s->rt);
    s->rt = NULL;
    if (srv_q.shards)
        for (int i = 0; i < srv_q.nshards; i++) rt_free(srv_q.shards[i].parts);
    rt_free(srv_q.shards);
    if (srv_q.mesh) wk_mesh_destroy(srv_q.mesh);
    memset(&srv_q, 0, sizeof srv_q);
    if (s->g) pw_grpc_server_destroy(s->g);
    s->g = NULL;
    /* srv_queue_setup keeps the directory's lock open for the process's life (ringqd never
     * gives it up); the test does, so the next server of the same process starts clean. */
    for (int fd = s->lock_fd_floor; fd < s->lock_fd_floor + 8; fd++) {
        char link[64], target[4200];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 0) continue;
        target[n] = 0;
        if (strcmp(target, s->dir) == 0) close(fd);
    }
    ts_rmdir(s->dir);
}

/* Calls open on shard `i`'s connections (white-box: the gRPC layer's count). */
static inline size_t ts_active_calls(ts_server *s, int i)
{
    size_t n = 0;
    for (srv_conn *c = ts_shard(s, i)->conns; c; c = c->next)
        if (c->g) n += pw_grpc_conn_active_calls(c->g);
    return n;
}

/* The partition `k` on its owner (white-box checks of the owner's state). */
static inline srv_part *ts_part(uint32_t k) { return srv_q.shards[srv_q_owner(k)].parts[k]; }

/* A queue name ("<prefix>-<n>") whose partition is owned by shard `owner`. */
static inline void ts_queue_on(char *out, size_t cap, const char *prefix, int owner)
{
    for (int n = 0; n < 10000; n++) {
        snprintf(out, cap, "%s-%d", prefix, n);
        if (srv_q_owner(q_part_of(out, strlen(out), srv_q.nparts)) == owner) return;
    }
    ck_abort_msg("no queue name for shard %d", owner);
}

/* ---- the client ---- */

typedef struct ts_call {
    uint32_t sid;
    bool used;
    bool headers; /* response headers (or trailers-only) seen */
    bool closed;  /* END_STREAM or RST_STREAM from the server */
    bool reset;
    uint32_t rst_code;
    int status; /* grpc-status, -1 until the trailers */
    char message[256];
    char http_status[8];
    buf data;             /* gRPC-framed response bytes */
    size_t taken;         /* bytes of `data` already returned by ts_next_msg */
    uint32_t data_frames; /* non-empty DATA frames received */
} ts_call;

typedef struct ts_client {
    ts_server *s;
    int fd;
    int shard; /* the shard serving the connection */
    buf in, out;
    pw_hpack_enc enc;
    pw_hpack_dec dec;
    uint32_t next_sid;
    ts_call calls[TS_CALLS_MAX];
    bool goaway, eof;
    bool settings_acked; /* the server acknowledged our SETTINGS */
    uint32_t goaway_code;
    bool step_mask_set;
    unsigned step_mask; /* shards a wait steps (all when not set) */
} ts_client;

/* The scripted peer's own allocations are not the server's: with the counting allocator armed
 * (the fail-Nth walk), the client disarms it while it works. One flag for the whole binary
 * (defined in ts_walk.c): the walk's code and the test's exchange, in two files, must agree. */
extern int ts_armed;
static inline void ts_quiet(void)
{
    if (ts_armed) rt_alloc_test_arm(0);
}
static inline void ts_loud(void)
{
    if (ts_armed) rt_alloc_test_arm(1);
}

static inline ts_call *ts_call_of(ts_client *c, uint32_t sid)
{
    if (sid == 0 || (sid & 1) == 0 || (sid - 1) / 2 >= TS_CALLS_MAX) return NULL;
    ts_call *k = &c->calls[(sid - 1) / 2];
    return k->used ? k : NULL;
}

static inline void ts_client_open(ts_client *c, ts_server *s, int shard)
{
    memset(c, 0, sizeof *c);
    c->s = s;
    c->shard = shard;
    c->next_sid = 1;
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    c->fd = sv[0];
    ts_quiet();
    buf_init(&c->in, (size_t)64 << 20);
    buf_init(&c->out, (size_t)64 << 20);
    pw_hpack_enc_init(&c->enc, 4096);
    pw_hpack_dec_init(&c->dec, 4096);
    ck_assert_int_eq(buf_append(&c->out, pw_h2_preface, PW_H2_PREFACE_BYTES), 0);
    ck_assert_int_eq(pw_h2_write_settings(&c->out, NULL, 0), 0);
    ts_loud();
    srv_local_adopt(ts_shard(s, shard), sv[1]);
}

static inline void ts_client_close(ts_client *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    ts_quiet();
    for (size_t i = 0; i < TS_CALLS_MAX; i++)
        if (c->calls[i].used) buf_deinit(&c->calls[i].data);
    buf_deinit(&c->in);
    buf_deinit(&c->out);
    pw_hpack_enc_deinit(&c->enc);
    pw_hpack_dec_deinit(&c->dec);
    ts_loud();
}

typedef struct ts_hdr_ctx {
    ts_call *k;
} ts_hdr_ctx;

static inline int ts_on_field(void *ud, const uint8_t *n, size_t nl, const uint8_t *v, size_t vl,
                              unsigned fl)
{
    ts_call *k = ((ts_hdr_ctx *)ud)->k;
    if (!k) return 0;
    if (nl == 11 && memcmp(n, "grpc-status", 11) == 0) {
        char tmp[16];
        snprintf(tmp, sizeof tmp, "%.*s", (int)(vl < 15 ? vl : 15), (const char *)v);
        k->status = atoi(tmp);
    } else if (nl == 12 && memcmp(n, "grpc-message", 12) == 0) {
        snprintf(k->message, sizeof k->message, "%.*s", (int)vl, (const char *)v);
    } else if (nl == 7 && memcmp(n, ":status", 7) == 0) {
        snprintf(k->http_status, sizeof k->http_status, "%.*s", (int)vl, (const char *)v);
    }
    return 0;
}

/* Handles one frame from the server. */
static inline void ts_on_frame(ts_client *c, const pw_h2_frame *f)
{
    ts_call *k = ts_call_of(c, f->hd.stream_id);
    switch (f->hd.type) {
    case PW_H2_FT_SETTINGS:
        if (!(f->hd.flags & PW_H2_FLAG_ACK)) ck_assert_int_eq(pw_h2_write_settings_ack(&c->out), 0);
        else c->settings_acked = true;
        break;
    case PW_H2_FT_PING:
        if (!(f->hd.flags & PW_H2_FLAG_ACK))
            ck_assert_int_eq(pw_h2_write_ping(&c->out, true, f->u.ping.opaque), 0);
        break;
    case PW_H2_FT_HEADERS: {
        ck_assert_msg(f->hd.flags & PW_H2_FLAG_END_HEADERS, "CONTINUATION not scripted");
        ts_hdr_ctx hc = {k};
        ck_assert_int_eq(pw_hpack_decode_block(&c->dec, f->u.headers.block, f->u.headers.block_len,
                                               TS_HDR_LIST_MAX, ts_on_field, &hc, NULL),
                         0);
        if (k) k->headers = true;
        if (k && (f->hd.flags & PW_H2_FLAG_END_STREAM)) k->closed = true;
        break;
    }
    case PW_H2_FT_DATA:
        if (k) ck_assert_int_eq(buf_append(&k->data, f->u.data.data, f->u.data.len), 0);
        if (k && f->u.data.len) k->data_frames++;
        if (f->hd.length > 0) {
            ck_assert_int_eq(pw_h2_write_window_update(&c->out, 0, f->hd.length), 0);
            if (k && !(f->hd.flags & PW_H2_FLAG_END_STREAM))
                ck_assert_int_eq(pw_h2_write_window_update(&c->out, f->hd.stream_id, f->hd.length),
                                 0);
        }
        if (k && (f->hd.flags & PW_H2_FLAG_END_STREAM)) k->closed = true;
        break;
    case PW_H2_FT_RST_STREAM:
        if (k) {
            k->closed = k->reset = true;
            k->rst_code = f->u.rst_stream.error_code;
        }
        break;
    case PW_H2_FT_GOAWAY:
        c->goaway = true;
        c->goaway_code = f->u.goaway.error_code;
        break;
    default: break;
    }
}

/* Sends pending bytes, reads and parses what arrived. Returns true when anything moved. */
static inline bool ts_io(ts_client *c)
{
    bool moved = false;
    ts_quiet();
    while (c->fd >= 0 && buf_size(&c->out) > 0) {
        ssize_t n = send(c->fd, buf_begin(&c->out), buf_size(&c->out), MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN) break;
        if (n < 0) { /* the server closed: what we wanted to say no longer matters */
            buf_consume(&c->out, buf_size(&c->out));
            break;
        }
        buf_consume(&c->out, (size_t)n);
        moved = true;
    }
    while (c->fd >= 0 && !c->eof) {
        uint8_t tmp[65536];
        ssize_t n = recv(c->fd, tmp, sizeof tmp, 0);
        if (n < 0 && errno == EAGAIN) break;
        if (n <= 0) {
            c->eof = true;
            moved = true;
            break;
        }
        ck_assert_int_eq(buf_append(&c->in, tmp, (size_t)n), 0);
        moved = true;
    }
    for (;;) {
        pw_h2_frame f;
        const char *why = NULL;
        ssize_t n = pw_h2_frame_decode(&f, buf_begin(&c->in), buf_size(&c->in), TS_FRAME_MAX, &why);
        ck_assert_msg(n >= 0, "server sent a bad frame: %s", why ? why : "?");
        if (n == 0) break;
        ts_on_frame(c, &f);
        buf_consume(&c->in, (size_t)n);
    }
    ts_loud();
    return moved;
}

/* One round: steps the client's shards (all, or its step mask), then the client's I/O. */
static inline bool ts_round(ts_client *c)
{
    bool moved = false;
    for (int i = 0; i < c->s->nshards; i++) {
        if (c->step_mask_set && !(c->step_mask & (1u << i))) continue;
        int r = srv_local_step(ts_shard(c->s, i));
        ck_assert_int_ge(r, 0);
        moved |= r > 0;
    }
    moved |= ts_io(c);
    return moved;
}

static inline void ts_idle(ts_client *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    if (c->fd >= 0 && !c->eof) (void)poll(&p, 1, TS_IDLE_POLL_MS);
}

typedef bool (*ts_cond_fn)(ts_client *c, const void *arg);

/* Runs rounds until cond holds or `ms` pass. Returns whether it holds. */
static inline bool ts_wait_for(ts_client *c, ts_cond_fn cond, const void *arg, uint64_t ms)
{
    uint64_t deadline = rt_now_ns() + ms * RT_NS_PER_MS;
    for (;;) {
        bool moved = ts_round(c);
        if (cond(c, arg)) return true;
        if (rt_now_ns() > deadline) return false;
        if (!moved) ts_idle(c);
    }
}

/* The connection's handshake is done: the server's SETTINGS arrived and ours is acknowledged
 * (so the server has set the session up). */
static inline bool ts_cond_ready(ts_client *c, const void *arg)
{
    (void)arg;
    return c->settings_acked || c->eof;
}

static inline bool ts_cond_closed(ts_client *c, const void *arg)
{
    ts_call *k = ts_call_of(c, *(const uint32_t *)arg);
    return (k && k->closed) || c->eof || c->goaway;
}

/* Stream *arg (a uint32_t id) has a whole gRPC message to take, or it ended, or the connection
 * did. */
static inline bool ts_cond_msg_or_closed(ts_client *c, const void *arg)
{
    ts_call *k = ts_call_of(c, *(const uint32_t *)arg);
    size_t have = buf_size(&k->data) - k->taken;
    if (k->closed || c->eof) return true;
    if (have < 5) return false;
    const uint8_t *p = buf_begin(&k->data) + k->taken;
    size_t n = ((size_t)p[1] << 24) | ((size_t)p[2] << 16) | ((size_t)p[3] << 8) | p[4];
    return have >= 5 + n;
}

/* ---- holding shards and counting (the cost tests: client on shard 0, owner shard 1) ---- */

/* Runs `n` rounds (no condition: used while a shard is held, to show nothing happens). */
static inline void ts_rounds(ts_client *c, int n)
{
    for (int i = 0; i < n; i++)
        if (!ts_round(c)) ts_idle(c);
}

/* Only shard `i` runs in c's waits until ts_step_all (the other shards' inbound lanes hold). */
static inline void ts_step_only(ts_client *c, int i)
{
    c->step_mask_set = true;
    c->step_mask = 1u << i;
}
static inline void ts_step_all(ts_client *c) { c->step_mask_set = false; }

/* Messages shard `i` has sent through the mesh. */
static inline uint64_t ts_mesh_sent(int i)
{
    wk_mesh_stats st;
    wk_mesh_get_stats(srv_q.mesh, i, &st);
    return st.sent;
}

/* Messages shard `i` has run from the mesh. */
static inline uint64_t ts_mesh_received(int i)
{
    wk_mesh_stats st;
    wk_mesh_get_stats(srv_q.mesh, i, &st);
    return st.received;
}

/* Shard 0 (the client's, the origin) has sent a job since `*since` (a uint64_t: its count
 * then). */
static inline bool ts_cond_origin_sent(ts_client *c, const void *since)
{
    (void)c;
    return ts_mesh_sent(0) > *(const uint64_t *)since;
}

/* Shard 1 (the owner) has run a message since `*since` (a uint64_t: its count then). */
static inline bool ts_cond_owner_ran(ts_client *c, const void *since)
{
    (void)c;
    return ts_mesh_received(1) > *(const uint64_t *)since;
}

/* Arms the counting allocator (core/rt_alloc) for the server's allocations from here. */
static inline void ts_count_start(void)
{
    rt_alloc_test_start(0);
    ts_armed = 1;
}

/* Disarms it; returns the allocations counted since ts_count_start and, when `heap` is not
 * NULL, stores those that reached the C library. */
static inline uint64_t ts_count_stop(uint64_t *heap)
{
    uint64_t n = rt_alloc_test_count();
    if (heap) *heap = rt_alloc_test_heap_count();
    ts_armed = 0;
    rt_alloc_test_stop();
    return n;
}

/* With shard 1 held (ts_step_only(c, 0)) and shard 0 having sent it a job: lets shard 0
 * publish its lane, then steps shard 1 alone, the counting allocator armed, until it has run a
 * message, and steps every shard again. Returns the allocations of the owner's run. */
static inline uint64_t ts_owner_run_counted(ts_client *c)
{
    ts_rounds(c, 10); /* shard 0 publishes its lane */
    uint64_t ran1 = ts_mesh_received(1);
    ts_count_start();
    ts_step_only(c, 1);
    ck_assert(ts_wait_for(c, ts_cond_owner_ran, &ran1, TS_WAIT_MS));
    uint64_t allocs = ts_count_stop(NULL);
    ts_step_all(c);
    return allocs;
}

/* ---- requests ---- */

/* Opens a stream for `path` (HEADERS without END_STREAM). */
static inline uint32_t ts_open(ts_client *c, const char *path)
{
    uint32_t sid = c->next_sid;
    c->next_sid += 2;
    ck_assert_uint_lt((sid - 1) / 2, TS_CALLS_MAX);
    ts_call *k = &c->calls[(sid - 1) / 2];
    memset(k, 0, sizeof *k);
    k->used = true;
    k->sid = sid;
    k->status = -1;
    ts_quiet();
    buf_init(&k->data, (size_t)64 << 20);
    buf b;
    buf_init(&b, 1 << 16);
    static const char *const names[] = {":method",    ":scheme",      ":path",
                                        ":authority", "content-type", "te"};
    const char *values[] = {"POST", "http", path, "localhost", "application/grpc", "trailers"};
    ck_assert_int_eq(pw_hpack_encode_begin(&c->enc, &b), 0);
    for (size_t i = 0; i < 6; i++)
        ck_assert_int_eq(pw_hpack_encode_field(&c->enc, &b, (const uint8_t *)names[i],
                                               strlen(names[i]), (const uint8_t *)values[i],
                                               strlen(values[i]), 0),
                         0);
    ck_assert_int_eq(pw_h2_write_headers(&c->out, sid, PW_H2_FLAG_END_HEADERS, NULL, buf_begin(&b),
                                         buf_size(&b), -1),
                     0);
    buf_deinit(&b);
    ts_loud();
    return sid;
}

/* One gRPC message of raw bytes on `sid` (END_STREAM when `end`). */
static inline void ts_send_raw(ts_client *c, uint32_t sid, const void *p, size_t n, bool end)
{
    ts_quiet();
    buf b;
    buf_init(&b, (size_t)16 << 20);
    uint8_t pre[5] = {0, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    ck_assert_int_eq(buf_append(&b, pre, 5), 0);
    ck_assert_int_eq(buf_append(&b, p, n), 0);
    ck_assert_uint_le(buf_size(&b), TS_FRAME_MAX);
    ck_assert_int_eq(pw_h2_write_data(&c->out, sid, end ? PW_H2_FLAG_END_STREAM : 0, buf_begin(&b),
                                      buf_size(&b), -1),
                     0);
    buf_deinit(&b);
    ts_loud();
}

/* One message encoded by the generated encoder. */
static inline void ts_send(ts_client *c, uint32_t sid, const pw_msg_desc *d, const void *msg,
                           bool end)
{
    ts_quiet();
    buf b;
    buf_init(&b, (size_t)16 << 20);
    ck_assert_int_eq(pw_msg_encode(d, msg, &b), 0);
    ts_loud();
    ts_send_raw(c, sid, buf_begin(&b), buf_size(&b), end);
    ts_quiet();
    buf_deinit(&b);
    ts_loud();
}

static inline void ts_rst(ts_client *c, uint32_t sid, uint32_t code)
{
    ts_quiet();
    ck_assert_int_eq(pw_h2_write_rst_stream(&c->out, sid, code), 0);
    ts_loud();
}

/* A unary call: opens it, sends `msg`, half-closes. */
static inline uint32_t ts_call_start(ts_client *c, const char *path, const pw_msg_desc *d,
                                     const void *msg)
{
    uint32_t sid = ts_open(c, path);
    ts_send(c, sid, d, msg, true);
    return sid;
}

/* Waits until call `sid` closes (or the connection does). Returns whether it did in time. */
static inline bool ts_wait_closed(ts_client *c, uint32_t sid, uint64_t ms)
{
    return ts_wait_for(c, ts_cond_closed, &sid, ms);
}

/* The next whole response message of `sid`, decoded as `d` into `msg` with `arena`. Returns
 * false when none is complete yet. */
static inline bool ts_next_msg(ts_client *c, uint32_t sid, const pw_msg_desc *d, void *msg,
                               pw_msg_arena *arena)
{
    ts_call *k = ts_call_of(c, sid);
    ck_assert_ptr_nonnull(k);
    size_t have = buf_size(&k->data) - k->taken;
    const uint8_t *p = buf_begin(&k->data) + k->taken;
    if (have < 5) return false;
    ck_assert_uint_eq(p[0], 0); /* uncompressed: we offered no grpc-accept-encoding */
    size_t n = ((size_t)p[1] << 24) | ((size_t)p[2] << 16) | ((size_t)p[3] << 8) | p[4];
    if (have < 5 + n) return false;
    ts_quiet();
    int r = pw_msg_decode(d, msg, p + 5, n, arena);
    ts_loud();
    ck_assert_msg(r == 0, "response decode: %d", r);
    k->taken += 5 + n;
    return true;
}

/* The grpc-status of a closed call (-1: none, e.g. reset or the connection ended). */
static inline int ts_status(ts_client *c, uint32_t sid)
{
    ts_call *k = ts_call_of(c, sid);
    ck_assert_ptr_nonnull(k);
    return k->status;
}

static inline pw_pb_bytes ts_str(const char *s)
{
    return (pw_pb_bytes){(const uint8_t *)s, strlen(s)};
}

#define TS_PATH_ENQUEUE "/ringq.v1.Queue/Enqueue"
#define TS_PATH_LEASE "/ringq.v1.Queue/Lease"
#define TS_PATH_ACK "/ringq.v1.Queue/Ack"
#define TS_PATH_WORK "/ringq.v1.Queue/Work"
#define TS_PATH_GET_QUEUE "/ringq.v1.Admin/GetQueue"

static inline uint32_t ts_enqueue_start(ts_client *c, const char *queue, const char *payload)
{
    pwm_ringq_v1_TaskSpec t = {.payload = ts_str(payload)};
    pwm_ringq_v1_EnqueueRequest rq = {.queue = ts_str(queue), .tasks = &t, .tasks_count = 1};
    return ts_call_start(c, TS_PATH_ENQUEUE, &pwm_ringq_v1_EnqueueRequest_desc, &rq);
}

static inline uint32_t ts_lease_start(ts_client *c, const char *queue, uint32_t max,
                                      uint32_t wait_ms, uint32_t lease_ms)
{
    pwm_ringq_v1_LeaseRequest rq = {
        .queue = ts_str(queue), .max_tasks = max, .wait_ms = wait_ms, .lease_ms = lease_ms};
    return ts_call_start(c, TS_PATH_LEASE, &pwm_ringq_v1_LeaseRequest_desc, &rq);
}

/* An Ack of n ids, each with the lease token it was delivered with (tokens[i]). */
static inline uint32_t ts_ack_start(ts_client *c, const pw_pb_bytes *ids, const uint64_t *tokens,
                                    size_t n)
{
    pwm_ringq_v1_AckRequest rq = {
        .ids = ids, .ids_count = n, .lease_tokens = tokens, .lease_tokens_count = n};
    return ts_call_start(c, TS_PATH_ACK, &pwm_ringq_v1_AckRequest_desc, &rq);
}

#endif
