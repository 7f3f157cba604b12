/* bench/rb_drv_redis: ringq-bench driver for Redis (6.2+ for LMOVE/BLMOVE; tested with 7.0) over
 * RESP2, on bench/rb_sock.
 *
 * Running the server (the suite's command lines):
 *   durable, fsync every write (the AOF is written and fsynced before replies go out):
 *     redis-server --bind 127.0.0.1 --port 6379 --dir /var/tmp/redis-data \
 *         --appendonly yes --appendfsync always --save ''
 *   AOF written, never fsynced by Redis (the kernel flushes; like ringqd --fsync never):
 *     redis-server --bind 127.0.0.1 --port 6379 --dir /var/tmp/redis-data \
 *         --appendonly yes --appendfsync no --save ''
 *   no persistence at all (memory only, fastest):
 *     redis-server --bind 127.0.0.1 --port 6379 --appendonly no --save ''
 *   (--appendfsync everysec, Redis' default with AOF on, fsyncs once a second.)
 *
 * Mapping: the standard reliable-queue pattern on two lists.
 *   queue       list <queue> (default "ringq-bench"); in-flight tasks live in <queue>:processing.
 *   producer    a batch of n = one `LPUSH <queue> v1 .. vn` (binary-safe bulk strings); the
 *               integer reply completes it.
 *   consumer    `LMOVE <queue> <queue>:processing RIGHT LEFT` (or BLMOVE ... 1): a bulk reply
 *               is a task; the driver keeps a copy of the value in a per-connection table and
 *               the handle is its slot (index + generation). ack = `LREM <queue>:processing -1
 *               <value>` (from the tail, where the oldest held values are, so it stays cheap)
 *               -> :1 (:0 = not there any more -> ack error).
 *   caller      rpc: `PING` -> +PONG, a request that does nothing (the floor a plain command
 *               gets at a rate: bench/suite_bench.sh's open-floor group); the body is ignored.
 *   lease_ms    not used: Redis has no visibility timeout; a crashed consumer's tasks stay in
 *               <queue>:processing (setup deletes both lists).
 *
 * Blocking pops and pipelining. A BLMOVE that has to wait blocks the whole connection, so
 * pipelining n of them would queue every ack behind up to n seconds of waiting. rb_peer_pull
 * pipelines up to `credits` non-blocking LMOVEs while tasks keep coming, and after a nil reply
 * keeps at most one `BLMOVE ... 1` (1 s timeout; a nil re-issues it) outstanding, and only while
 * no delivered task is waiting for its LREM to be sent (else it probes with LMOVE every
 * millisecond).
 *
 * Every reply is hostile: lines bounded (RB_RD_LINE_MAX), integers and lengths strictly
 * decimal, bulk strings bounded (RB_RD_BULK_MAX) and required to end in CRLF, arrays refused
 * (no command here answers one, except the nil array of a timed-out BLMOVE), and an error reply
 * fails the connection with the server's text. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/rb_driver.h"
#include "bench/rb_peer.h"
#include "bench/rb_redis.h"
#include "bench/rb_sock.h"
#include "core/ev_reactor.h"

#define RB_RD_DEFAULT_QUEUE "ringq-bench"
#define RB_RD_HELD_MAX (1u << 20) /* values handed to the engine and not yet acked */
#define RB_RD_PROCESSING ":processing"

typedef enum { RD_LPUSH = 1, RD_MOVE_FAST, RD_MOVE_WAIT, RD_LREM, RD_PING } rd_kind;

typedef struct rd_held {
    uint8_t *v; /* the value (NULL: free slot) */
    size_t len;
    uint32_t gen; /* bumped on every reuse: a stale handle does not match */
    uint32_t next_free;
} rd_held;

/* The two list keys. */
typedef struct rd_names {
    char queue[RB_RD_QUEUE_MAX + 1];
    char proc[RB_RD_QUEUE_MAX + sizeof RB_RD_PROCESSING];
    size_t qlen, plen;
} rd_names;

struct rb_conn {
    rb_peer_conn pc;
    rb_role role;
    rd_names k;
    rb_peer_pull pull;
    rd_held *held;
    uint32_t nheld, capheld, free_head; /* free list through next_free; UINT32_MAX = empty */
};

static const char *queue_of(const rb_target *t)
{
    return t->queue && *t->queue ? t->queue : RB_RD_DEFAULT_QUEUE;
}

/* ---- commands ---- */

int rb_rd_arg(rb_sock *s, const void *p, size_t n)
{
    int r = rb_sock_printf(s, "$%zu\r\n", n);
    if (r == 0) r = rb_sock_write(s, p, n);
    if (r == 0) r = rb_sock_write(s, "\r\n", 2);
    return r;
}

static int rd_issue(void *owner, bool wait)
{
    rb_conn *c = owner;
    rb_sock *s = c->pc.sock;
    int r = rb_peer_push(&c->pc, wait ? RD_MOVE_WAIT : RD_MOVE_FAST, 1, 0);
    if (r == 0) r = rb_sock_printf(s, "*%d\r\n", wait ? 6 : 5);
    if (r == 0) r = wait ? rb_rd_arg(s, "BLMOVE", 6) : rb_rd_arg(s, "LMOVE", 5);
    if (r == 0) r = rb_rd_arg(s, c->k.queue, c->k.qlen);
    if (r == 0) r = rb_rd_arg(s, c->k.proc, c->k.plen);
    if (r == 0) r = rb_rd_arg(s, "RIGHT", 5);
    if (r == 0) r = rb_rd_arg(s, "LEFT", 4);
    if (r == 0 && wait) r = rb_rd_arg(s, "1", 1);
    return r;
}

/* ---- held values ---- */

static int held_put(rb_conn *c, const uint8_t *v, size_t len, uint64_t *handle)
{
    if (c->free_head == UINT32_MAX) {
        if (c->capheld >= RB_RD_HELD_MAX) return -ENOBUFS;
        uint32_t ncap = c->capheld ? c->capheld * 2 : 256;
        rd_held *nh = realloc(c->held, ncap * sizeof *nh);
        if (!nh) return -ENOMEM;
        for (uint32_t i = c->capheld; i < ncap; i++)
            nh[i] = (rd_held){.next_free = i + 1 < ncap ? i + 1 : c->free_head};
        c->free_head = c->capheld;
        c->held = nh;
        c->capheld = ncap;
    }
    uint32_t i = c->free_head;
    rd_held *h = &c->held[i];
    h->v = malloc(len ? len : 1);
    if (!h->v) return -ENOMEM;
    memcpy(h->v, v, len);
    h->len = len;
    c->free_head = h->next_free;
    c->nheld++;
    *handle = (uint64_t)h->gen << 32 | i;
    return 0;
}

static rd_held *held_get(rb_conn *c, uint64_t handle)
{
    uint32_t i = (uint32_t)handle;
    if (i >= c->capheld || !c->held[i].v || c->held[i].gen != (uint32_t)(handle >> 32)) return NULL;
    return &c->held[i];
}

static void held_free(rb_conn *c, rd_held *h)
{
    free(h->v);
    h->v = NULL;
    h->gen++;
    h->next_free = c->free_head;
    c->free_head = (uint32_t)(h - c->held);
    c->nheld--;
}

/* ---- replies ---- */

typedef struct rd_reply {
    char type;   /* '+', '-', ':', '$', '*' */
    bool nil;    /* $-1 or *-1 */
    int64_t num; /* ':' */
    const uint8_t *bulk;
    size_t blen;
    rb_peer_words w; /* the first line (for messages) */
} rd_reply;

/* Parses one reply at p. Returns bytes consumed, 0 when incomplete, -EPROTO (failed). */
static ssize_t parse_reply(rb_conn *c, const uint8_t *p, size_t len, rd_reply *rp)
{
    ssize_t ll = rb_peer_line(&c->pc, p, len, RB_RD_LINE_MAX, &rp->w);
    if (ll <= 0) return ll;
    const char *l = rp->w.line;
    size_t body = strlen(l) - 1;
    rp->type = l[0];
    rp->nil = false;
    uint64_t u;
    switch (l[0]) {
    case '+':
    case '-': return ll;
    case ':':
        if (l[1] == '-' ? !rb_peer_parse_u64(l + 2, body - 1, &u) || u > INT64_MAX
                        : !rb_peer_parse_u64(l + 1, body, &u) || u > INT64_MAX)
            break;
        rp->num = l[1] == '-' ? -(int64_t)u : (int64_t)u;
        return ll;
    case '$':
    case '*':
        if (strcmp(l + 1, "-1") == 0) {
            rp->nil = true;
            return ll;
        }
        if (l[0] == '*' || !rb_peer_parse_u64(l + 1, body, &u) || u > RB_RD_BULK_MAX) break;
        if (len - (size_t)ll < u + 2) return 0;
        rp->bulk = p + ll;
        rp->blen = (size_t)u;
        if (rp->bulk[u] != '\r' || rp->bulk[u + 1] != '\n') break;
        return ll + (ssize_t)u + 2;
    default: break;
    }
    rb_peer_fail(&c->pc, "redis %s: unexpected reply \"%.80s\"", c->pc.addr, l);
    return -EPROTO;
}

/* One reply to the FIFO head. 0, -ECANCELED (closed from a callback) or -errno (failed). */
static int on_reply(rb_conn *c, rb_peer_cmd *e, rd_reply *rp)
{
    rb_peer_conn *pc = &c->pc;
    if (rp->type == '-') {
        rb_peer_fail(pc, "redis %s: %s", pc->addr, rp->w.line + 1);
        return -ECANCELED;
    }
    switch ((rd_kind)e->kind) {
    case RD_LPUSH:
        if (rp->type != ':') break;
        return rb_peer_batch_reply(pc, 0, NULL) ? 0 : -ECANCELED;
    case RD_PING:
        if (rp->type != '+' || strcmp(rp->w.line, "+PONG") != 0) break;
        return rb_peer_batch_reply(pc, 0, NULL) ? 0 : -ECANCELED;
    case RD_MOVE_FAST:
    case RD_MOVE_WAIT: {
        bool wait = e->kind == RD_MOVE_WAIT;
        if (rp->type != '$' && !(rp->type == '*' && rp->nil)) break;
        rb_peer_pop(pc);
        if (rp->nil) {
            rb_peer_pull_answered(&c->pull, wait, false);
            return rb_peer_pull_pump(&c->pull);
        }
        uint64_t h;
        int r = held_put(c, rp->bulk, rp->blen, &h);
        if (r < 0) return r;
        rb_peer_pull_answered(&c->pull, wait, true);
        if (!rb_peer_task(pc, rp->bulk, rp->blen, h)) return -ECANCELED;
        return rb_peer_pull_pump(&c->pull);
    }
    case RD_LREM: {
        if (rp->type != ':') break;
        uint64_t h = e->val;
        rb_peer_pop(pc);
        bool ok = rp->num == 1 ? rb_peer_acked(pc, h, 0, NULL)
                               : rb_peer_acked(pc, h, -ENOENT, "LREM found no such value");
        return ok ? 0 : -ECANCELED;
    }
    }
    rb_peer_fail(pc, "redis %s: unexpected reply \"%.80s\"", pc->addr, rp->w.line);
    return -ECANCELED;
}

/* One reply at p (rb_peer_open's one_reply contract). */
static ssize_t one_reply(void *owner, const uint8_t *p, size_t len)
{
    rb_conn *c = owner;
    rd_reply rp;
    ssize_t n = parse_reply(c, p, len, &rp);
    if (n <= 0) return n;
    rb_peer_cmd *e = rb_peer_head(&c->pc);
    if (!e) {
        rb_peer_fail(&c->pc, "redis %s: reply \"%.80s\" to no command", c->pc.addr, rp.w.line);
        return -EPROTO;
    }
    int r = on_reply(c, e, &rp);
    return r < 0 ? r : n;
}

/* ---- the driver ---- */

static void rd_destroy(void *owner)
{
    rb_conn *c = owner;
    rb_peer_pull_deinit(&c->pull);
    for (uint32_t i = 0; i < c->capheld; i++) free(c->held[i].v);
    free(c->held);
    free(c);
}

static bool names(rd_names *k, const rb_target *t, char *err, size_t errlen)
{
    const char *q = queue_of(t);
    k->qlen = strlen(q);
    if (k->qlen > RB_RD_QUEUE_MAX) {
        snprintf(err, errlen, "redis: queue name longer than %u bytes", RB_RD_QUEUE_MAX);
        return false;
    }
    memcpy(k->queue, q, k->qlen + 1);
    k->plen = (size_t)snprintf(k->proc, sizeof k->proc, "%s%s", q, RB_RD_PROCESSING);
    return true;
}

static rb_conn *rd_open(ev_loop *loop, const rb_target *t, rb_role role, const rb_events *ev,
                        void *ud, char *err, size_t errlen)
{
    /* rb_peer_alloc refuses callers (the other peers have no rpc); Redis answers PING. */
    rb_conn *c = role == RB_ROLE_CALL ? calloc(1, sizeof *c)
                                      : rb_peer_alloc(sizeof *c, "redis", role, err, errlen);
    if (!c) {
        if (role == RB_ROLE_CALL) snprintf(err, errlen, "redis: out of memory");
        return NULL;
    }
    c->role = role;
    c->free_head = UINT32_MAX;
    if (!names(&c->k, t, err, errlen) || rb_peer_open(&c->pc, loop, t->addr, "redis", one_reply,
                                                      rd_destroy, ev, ud, c, err, errlen) < 0) {
        free(c);
        return NULL;
    }
    rb_peer_pull_init(&c->pull, &c->pc, rd_issue);
    return c;
}

static int rd_send(rb_conn *c, const rb_payload *p, size_t n, uint64_t tag)
{
    int r = rb_peer_usable(&c->pc, c->role == RB_ROLE_PRODUCER && n > 0 && n <= RB_RD_BATCH_MAX);
    rb_sock *s = c->pc.sock;
    if (r == 0) r = rb_peer_push(&c->pc, RD_LPUSH, 1, tag);
    if (r == 0) r = rb_sock_printf(s, "*%zu\r\n", n + 2);
    if (r == 0) r = rb_rd_arg(s, "LPUSH", 5);
    if (r == 0) r = rb_rd_arg(s, c->k.queue, c->k.qlen);
    for (size_t i = 0; i < n && r == 0; i++) r = rb_rd_arg(s, p[i].p, p[i].len);
    return r;
}

/* rpc: one PING (the body is not sent: PING with an argument echoes it, a different request). */
static int rd_call(rb_conn *c, const uint8_t *body, size_t len, uint64_t tag)
{
    (void)body;
    (void)len;
    int r = rb_peer_usable(&c->pc, c->role == RB_ROLE_CALL);
    if (r == 0) r = rb_peer_push(&c->pc, RD_PING, 1, tag);
    if (r == 0) r = rb_sock_write(c->pc.sock, "*1\r\n$4\r\nPING\r\n", 14);
    return r;
}

static int rd_consume(rb_conn *c, uint32_t n)
{
    int r = rb_peer_usable(&c->pc, c->role == RB_ROLE_CONSUMER);
    return r ? r : rb_peer_pull_credit(&c->pull, n);
}

static int rd_ack(rb_conn *c, uint64_t handle)
{
    int r = rb_peer_usable(&c->pc, c->role == RB_ROLE_CONSUMER);
    if (r) return r;
    rd_held *h = held_get(c, handle);
    if (!h) return -ENOENT;
    rb_sock *s = c->pc.sock;
    r = rb_peer_push(&c->pc, RD_LREM, 1, handle);
    if (r == 0) r = rb_sock_write(s, "*4\r\n$4\r\nLREM\r\n", 14);
    if (r == 0) r = rb_rd_arg(s, c->k.proc, c->k.plen);
    if (r == 0) r = rb_rd_arg(s, "-1", 2);
    if (r == 0) r = rb_rd_arg(s, h->v, h->len);
    held_free(c, h);
    if (r == 0) r = rb_peer_pull_acking(&c->pull);
    return r;
}

static void rd_close(rb_conn *c)
{
    if (c) rb_peer_close(&c->pc); /* frees c now or once the callback on the stack returns */
}

/* ---- blocking admin: setup, backlog, version ---- */

static bool reply_complete(const char *p, size_t n)
{
    const char *nl = memmem(p, n, "\r\n", 2);
    if (!nl) return n > RB_RD_LINE_MAX;
    size_t ll = (size_t)(nl - p) + 2;
    if (p[0] != '$' || p[1] == '-') return true;
    unsigned long long b = strtoull(p + 1, NULL, 10);
    if (b > RB_RD_RPC_OUT) return true;
    return n >= ll + b + 2;
}

static ssize_t admin(int fd, const char *addr, const char *const *argv, int argc, char *out,
                     char *err, size_t errlen)
{
    return rb_rd_admin(fd, addr, argv, argc, out, reply_complete, err, errlen);
}

ssize_t rb_rd_admin(int fd, const char *addr, const char *const *argv, int argc, char *out,
                    bool (*complete)(const char *p, size_t n), char *err, size_t errlen)
{
    char req[3 * RB_RD_QUEUE_MAX + 128];
    size_t off = (size_t)snprintf(req, sizeof req, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++)
        off += (size_t)snprintf(req + off, sizeof req - off, "$%zu\r\n%s\r\n", strlen(argv[i]),
                                argv[i]);
    if (off >= sizeof req) {
        snprintf(err, errlen, "redis %s: %s: command too long", addr, argv[0]);
        return -EINVAL;
    }
    ssize_t n = rb_sock_rpc(fd, req, off, out, RB_RD_RPC_OUT + 1, complete, RB_RD_RPC_MS);
    if (n < 0) {
        snprintf(err, errlen, "redis %s: %s: %s", addr, argv[0], strerror((int)-n));
    } else if (out[0] == '-') {
        snprintf(err, errlen, "redis %s: %s: %.*s", addr, argv[0], (int)strcspn(out + 1, "\r"),
                 out + 1);
        n = -EIO;
    }
    return n;
}

static bool int_reply(const char *out, uint64_t *v)
{
    return out[0] == ':' && rb_peer_parse_u64(out + 1, strcspn(out + 1, "\r"), v);
}

static int with_admin(const rb_target *t, rd_names *k, char **out, char *err, size_t errlen)
{
    if (!names(k, t, err, errlen)) return -EINVAL;
    return rb_rd_admin_dial(t, out, err, errlen);
}

int rb_rd_admin_dial(const rb_target *t, char **out, char *err, size_t errlen)
{
    return rb_peer_admin_dial("redis", t->addr, RB_RD_RPC_OUT + 1, RB_RD_RPC_MS, out, err, errlen);
}

static int rd_backlog(const rb_target *t, uint64_t *n, char *err, size_t errlen)
{
    rd_names k;
    char *out;
    int fd = with_admin(t, &k, &out, err, errlen);
    if (fd < 0) return fd;
    const char *q[] = {"LLEN", k.queue}, *pq[] = {"LLEN", k.proc};
    uint64_t a = 0, b = 0;
    ssize_t r = admin(fd, t->addr, q, 2, out, err, errlen);
    if (r >= 0 && !int_reply(out, &a)) r = -EPROTO;
    if (r >= 0) r = admin(fd, t->addr, pq, 2, out, err, errlen);
    if (r >= 0 && !int_reply(out, &b)) r = -EPROTO;
    if (r == -EPROTO)
        snprintf(err, errlen, "redis %s: LLEN: unexpected reply \"%.40s\"", t->addr, out);
    *n = a + b;
    close(fd);
    free(out);
    return r < 0 ? (int)r : 0;
}

static int rd_setup(const rb_target *t, char *err, size_t errlen)
{
    rd_names k;
    char *out;
    int fd = with_admin(t, &k, &out, err, errlen);
    if (fd < 0) return fd;
    const char *del[] = {"DEL", k.queue, k.proc};
    uint64_t v;
    ssize_t r = admin(fd, t->addr, del, 3, out, err, errlen);
    if (r >= 0 && !int_reply(out, &v)) {
        snprintf(err, errlen, "redis %s: DEL: unexpected reply \"%.40s\"", t->addr, out);
        r = -EPROTO;
    }
    close(fd);
    free(out);
    return r < 0 ? (int)r : 0;
}

int rb_rd_version(const rb_target *t, char *vout, size_t outlen)
{
    rd_names k;
    char *out, err[256];
    int fd = with_admin(t, &k, &out, err, sizeof err);
    if (fd < 0) return fd;
    const char *info[] = {"INFO", "server"};
    ssize_t n = admin(fd, t->addr, info, 2, out, err, sizeof err);
    int r = n > 0 && out[0] == '$' ? rb_peer_version_of(out, "\nredis_version:", vout, outlen)
                                   : -EPROTO;
    close(fd);
    free(out);
    return r;
}

const rb_driver rb_drv_redis = {
    .name = "redis",
    .can_call = true,
    .can_queue = true,
    .binary_safe = true,
    .batch_max = RB_RD_BATCH_MAX,
    .setup = rd_setup,
    .backlog = rd_backlog,
    .open = rd_open,
    .call = rd_call,
    .send = rd_send,
    .consume = rd_consume,
    .ack = rd_ack,
    .close = rd_close,
    .version = rb_rd_version,
};
