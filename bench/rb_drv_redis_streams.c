/* bench/rb_drv_redis_streams: ringq-bench's Redis Streams driver (rb_driver.h, "Streams") for the
 * publish and fanout scenarios, over RESP2 on bench/rb_peer (Redis 5+; tested with 7.0).
 *
 * Running the server: as for the list driver (rb_drv_redis.c): durable = --appendonly yes
 * --appendfsync always (the AOF is fsynced before the replies of an event-loop iteration go
 * out, so pipelined XADDs share one fsync); fast = --appendfsync no.
 *
 * Mapping
 *   stream      the key <queue> (default "ringq-bench"); every entry has one field "d" holding
 *               the payload. No MAXLEN: like a JetStream "limits" stream with no limit, entries
 *               stay after they are acked.
 *   setup       DEL <queue>, then for each group g: XGROUP CREATE <queue> g<g> $ MKSTREAM (the
 *               groups start at the empty stream's end, so they read every message published).
 *   producer    a batch of n = n pipelined `XADD <queue> * d <payload>`; done once all n entry
 *               ids came back.
 *   consumer    `XREADGROUP GROUP g<group> <consumer> COUNT k STREAMS <queue> >` with k =
 *               min(credits, RB_RS_COUNT_MAX): new entries for the group, each added to the
 *               group's pending list for this consumer; one read in flight (rb_peer_pull with
 *               per_pull = RB_RS_COUNT_MAX). When a read comes back empty, the next one carries
 *               BLOCK RB_RS_BLOCK_MS, but only once every delivered entry's XACK is written (a
 *               blocked read would hold those acks back; the engine acks at its next loop
 *               iteration).
 *   ack         `XACK <queue> g<group> <id>` -> :1 (:0 = not pending any more: an ack error).
 *               The handle is a slot holding the entry id.
 *   backlog     XINFO GROUPS <queue>: the sum over groups of pending (delivered, not acked) and
 *               lag (not delivered yet; Redis 7). A group whose lag Redis cannot tell (nil, after
 *               deletions) makes the backlog unknown.
 *
 * Every reply is hostile: a reply is parsed whole before any of it is used (nesting, lengths and
 * lines bounded: RB_RS_DEPTH_MAX, RB_RD_BULK_MAX, RB_RD_LINE_MAX), ids longer than RB_RS_ID_MAX
 * or reads returning more entries than asked fail the connection, and an error reply fails it
 * with the server's text. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/rb_driver.h"
#include "bench/rb_peer.h"
#include "bench/rb_redis.h"
#include "bench/rb_sock.h"
#include "core/ev_reactor.h"

#define RB_RS_DEFAULT_KEY "ringq-bench"
#define RB_RS_FIELD "d"
/* An entry id "<ms>-<seq>": two 64-bit decimals and a dash. */
#define RB_RS_ID_MAX 44u
/* Entries one XREADGROUP asks for: big enough that reads are not the bottleneck, small enough
 * that one reply stays a few hundred KiB. */
#define RB_RS_COUNT_MAX 1024u
/* A read that found nothing blocks this long for the next entry (then is re-issued). */
#define RB_RS_BLOCK_MS "1000"
/* Entries delivered and not yet acked per connection (slots of RB_RS_ID_MAX bytes). */
#define RB_RS_HELD_MAX (1u << 20)
/* Array nesting in a reply: XREADGROUP is 5 deep (streams, stream, entries, entry, fields). */
#define RB_RS_DEPTH_MAX 6
#define RB_RS_GROUP_MAX 16u /* "g" and up to 10 digits */

typedef enum { RS_XADD = 1, RS_READ_FAST, RS_READ_WAIT, RS_XACK } rs_kind;

typedef struct rs_held {
    uint32_t gen; /* bumped on every reuse: a stale handle does not match */
    uint32_t next_free;
    bool used;
    uint8_t id_len;
    char id[RB_RS_ID_MAX];
} rs_held;

struct rb_conn {
    rb_peer_conn pc;
    rb_role role;
    char key[RB_RD_QUEUE_MAX + 1];
    size_t klen;
    char group[RB_RS_GROUP_MAX];
    char consumer[48];
    rb_peer_pull pull;
    uint32_t asked; /* entries the read in flight asked for */
    rs_held *held;
    uint32_t capheld, free_head; /* free list through next_free; UINT32_MAX = empty */
};

/* ---- RESP2 reader: a cursor over one reply ---- */

typedef struct rs_cur {
    const uint8_t *p;
    size_t len, off;
} rs_cur;

/* The header line at the cursor: its type byte and, for ':', '$' and '*', the number (-1 for
 * nil). 1 read, 0 incomplete, -EPROTO malformed. `line` / `llen` view the rest of the line. */
static int cur_head(rs_cur *c, char *type, int64_t *num, const char **line, size_t *llen)
{
    const uint8_t *p = c->p + c->off;
    size_t left = c->len - c->off, scan = left < RB_RD_LINE_MAX + 2 ? left : RB_RD_LINE_MAX + 2;
    const uint8_t *nl = memchr(p, '\n', scan);
    if (!nl) return left >= RB_RD_LINE_MAX + 2 ? -EPROTO : 0;
    size_t ll = (size_t)(nl - p);
    if (ll < 2 || p[ll - 1] != '\r') return -EPROTO;
    *type = (char)p[0];
    *line = (const char *)p + 1;
    *llen = ll - 2;
    *num = 0;
    if (*type == ':' || *type == '$' || *type == '*') {
        bool neg = *llen > 0 && (*line)[0] == '-';
        uint64_t u;
        if (!rb_peer_parse_u64(*line + neg, *llen - neg, &u) || u > INT64_MAX) return -EPROTO;
        if (neg && (*type != ':' && u != 1)) return -EPROTO;
        *num = neg ? -(int64_t)u : (int64_t)u;
    } else if (*type != '+' && *type != '-') {
        return -EPROTO;
    }
    c->off += ll + 1;
    return 1;
}

/* A bulk string (not nil). 1, 0 incomplete, -EPROTO. */
static int cur_bulk(rs_cur *c, const uint8_t **v, size_t *vlen)
{
    char t;
    int64_t n;
    const char *l;
    size_t ll;
    int r = cur_head(c, &t, &n, &l, &ll);
    if (r <= 0) return r;
    if (t != '$' || n < 0 || (uint64_t)n > RB_RD_BULK_MAX) return -EPROTO;
    if (c->len - c->off < (size_t)n + 2) return 0;
    *v = c->p + c->off;
    *vlen = (size_t)n;
    if ((*v)[n] != '\r' || (*v)[n + 1] != '\n') return -EPROTO;
    c->off += (size_t)n + 2;
    return 1;
}

/* An array header: *n elements (-1: nil). 1, 0 incomplete, -EPROTO (not an array). */
static int cur_array(rs_cur *c, int64_t *n)
{
    char t;
    const char *l;
    size_t ll;
    int r = cur_head(c, &t, n, &l, &ll);
    if (r > 0 && t != '*') return -EPROTO;
    return r;
}

/* Skips one value of any type. 1, 0 incomplete, -EPROTO. */
static int cur_skip(rs_cur *c, int depth)
{
    if (depth > RB_RS_DEPTH_MAX) return -EPROTO;
    size_t at = c->off;
    char t;
    int64_t n;
    const char *l;
    size_t ll;
    int r = cur_head(c, &t, &n, &l, &ll);
    if (r <= 0) return r;
    if (t == '$' && n >= 0) {
        c->off = at;
        const uint8_t *v;
        return cur_bulk(c, &v, &ll);
    }
    for (int64_t i = 0; t == '*' && i < n; i++)
        if ((r = cur_skip(c, depth + 1)) <= 0) return r;
    return 1;
}

/* ---- held entry ids ---- */

static int held_put(rb_conn *c, const uint8_t *id, size_t len, uint64_t *handle)
{
    if (len == 0 || len > RB_RS_ID_MAX) return -EPROTO;
    if (c->free_head == UINT32_MAX) {
        if (c->capheld >= RB_RS_HELD_MAX) return -ENOBUFS;
        uint32_t ncap = c->capheld ? c->capheld * 2 : 256;
        rs_held *nh = realloc(c->held, ncap * sizeof *nh);
        if (!nh) return -ENOMEM;
        for (uint32_t i = c->capheld; i < ncap; i++)
            nh[i] = (rs_held){.next_free = i + 1 < ncap ? i + 1 : c->free_head};
        c->free_head = c->capheld;
        c->held = nh;
        c->capheld = ncap;
    }
    uint32_t i = c->free_head;
    rs_held *h = &c->held[i];
    memcpy(h->id, id, len);
    h->id_len = (uint8_t)len;
    h->used = true;
    c->free_head = h->next_free;
    *handle = (uint64_t)h->gen << 32 | i;
    return 0;
}

static rs_held *held_get(rb_conn *c, uint64_t handle)
{
    uint32_t i = (uint32_t)handle;
    if (i >= c->capheld || !c->held[i].used || c->held[i].gen != (uint32_t)(handle >> 32))
        return NULL;
    return &c->held[i];
}

static void held_free(rb_conn *c, rs_held *h)
{
    h->used = false;
    h->gen++;
    h->next_free = c->free_head;
    c->free_head = (uint32_t)(h - c->held);
}

/* ---- commands ---- */

static int rs_issue(void *owner, bool wait)
{
    rb_conn *c = owner;
    rb_sock *s = c->pc.sock;
    uint64_t k = c->pull.credits < RB_RS_COUNT_MAX ? c->pull.credits : RB_RS_COUNT_MAX;
    char count[24];
    int cl = snprintf(count, sizeof count, "%llu", (unsigned long long)(k ? k : 1));
    c->asked = (uint32_t)(k ? k : 1);
    int r = rb_peer_push(&c->pc, wait ? RS_READ_WAIT : RS_READ_FAST, 1, 0);
    if (r == 0) r = rb_sock_printf(s, "*%d\r\n", wait ? 11 : 9);
    if (r == 0) r = rb_rd_arg(s, "XREADGROUP", 10);
    if (r == 0) r = rb_rd_arg(s, "GROUP", 5);
    if (r == 0) r = rb_rd_arg(s, c->group, strlen(c->group));
    if (r == 0) r = rb_rd_arg(s, c->consumer, strlen(c->consumer));
    if (r == 0) r = rb_rd_arg(s, "COUNT", 5);
    if (r == 0) r = rb_rd_arg(s, count, (size_t)cl);
    if (r == 0 && wait) r = rb_rd_arg(s, "BLOCK", 5);
    if (r == 0 && wait) r = rb_rd_arg(s, RB_RS_BLOCK_MS, sizeof RB_RS_BLOCK_MS - 1);
    if (r == 0) r = rb_rd_arg(s, "STREAMS", 7);
    if (r == 0) r = rb_rd_arg(s, c->key, c->klen);
    if (r == 0) r = rb_rd_arg(s, ">", 1);
    return r;
}

/* ---- replies ---- */

/* One entry [id, [field, value, ...]]: its id and the value of field "d". */
static int read_entry(rs_cur *cur, const uint8_t **id, size_t *idl, const uint8_t **v, size_t *vl)
{
    int64_t n, nf;
    int r = cur_array(cur, &n);
    if (r <= 0) return r;
    if (n != 2) return -EPROTO;
    if ((r = cur_bulk(cur, id, idl)) <= 0) return r;
    if ((r = cur_array(cur, &nf)) <= 0) return r;
    if (nf < 0 || nf % 2) return -EPROTO;
    *v = NULL;
    for (int64_t f = 0; f < nf; f += 2) {
        const uint8_t *name, *val;
        size_t nl, vlen;
        if ((r = cur_bulk(cur, &name, &nl)) <= 0) return r;
        if ((r = cur_bulk(cur, &val, &vlen)) <= 0) return r;
        if (nl == 1 && name[0] == RB_RS_FIELD[0]) *v = val, *vl = vlen;
    }
    return *v ? 1 : -EPROTO;
}

/* The XREADGROUP reply (nil, or [[key, [entry...]]]). With deliver == false it only checks
 * that the reply is whole and well formed, and counts the entries; with deliver == true (the
 * reply is known whole) it hands each entry to the engine. 1 (*n entries), 0 incomplete,
 * -EPROTO, -ECANCELED (the engine closed the connection), or a held-table -errno. */
static int read_reply(rb_conn *c, rs_cur *cur, bool deliver, uint32_t *n)
{
    int64_t ns, two, ne;
    int r = cur_array(cur, &ns);
    *n = 0;
    if (r <= 0 || ns == -1) return r;
    if (ns != 1) return -EPROTO;
    const uint8_t *key;
    size_t kl;
    if ((r = cur_array(cur, &two)) <= 0) return r;
    if (two != 2) return -EPROTO;
    if ((r = cur_bulk(cur, &key, &kl)) <= 0) return r;
    if ((r = cur_array(cur, &ne)) <= 0) return r;
    if (ne < 0 || (uint64_t)ne > c->asked) return -EPROTO;
    for (int64_t i = 0; i < ne; i++) {
        const uint8_t *id, *v;
        size_t idl, vl;
        if ((r = read_entry(cur, &id, &idl, &v, &vl)) <= 0) return r;
        if (!deliver) continue;
        uint64_t h;
        if ((r = held_put(c, id, idl, &h)) < 0) return r;
        if (!rb_peer_task(&c->pc, v, vl, h)) return -ECANCELED;
    }
    *n = (uint32_t)ne;
    return 1;
}

static ssize_t on_read(rb_conn *c, rb_peer_cmd *e, const uint8_t *p, size_t len)
{
    rs_cur cur = {p, len, 0};
    uint32_t n;
    int r = read_reply(c, &cur, false, &n);
    if (r <= 0) return r;
    size_t used = cur.off;
    bool wait = e->kind == RS_READ_WAIT;
    rb_peer_pop(&c->pc);
    rb_peer_pull_answered_n(&c->pull, wait, n);
    cur.off = 0;
    r = read_reply(c, &cur, true, &n);
    if (r < 0) return r;
    r = rb_peer_pull_pump(&c->pull);
    return r < 0 ? r : (ssize_t)used;
}

/* One reply to the FIFO head (rb_peer_open's one_reply contract). */
static ssize_t one_reply(void *owner, const uint8_t *p, size_t len)
{
    rb_conn *c = owner;
    rb_peer_conn *pc = &c->pc;
    rs_cur cur = {p, len, 0};
    char t;
    int64_t num;
    const char *line;
    size_t ll;
    int r = cur_head(&cur, &t, &num, &line, &ll);
    if (r < 0) rb_peer_fail(pc, "redis %s: malformed reply", pc->addr);
    if (r <= 0) return r;
    rb_peer_cmd *e = rb_peer_head(pc);
    if (t == '-' || !e) {
        rb_peer_fail(pc, "redis %s: %s\"%.*s\"", pc->addr,
                     e ? "" : "reply to no command: ", (int)(ll > 200 ? 200 : ll), line);
        return -ECANCELED;
    }
    if (e->kind == RS_READ_FAST || e->kind == RS_READ_WAIT) {
        ssize_t n = on_read(c, e, p, len);
        if (n == -EPROTO) rb_peer_fail(pc, "redis %s: malformed XREADGROUP reply", pc->addr);
        return n;
    }
    if (e->kind == RS_XADD) {
        cur.off = 0;
        const uint8_t *id;
        size_t idl;
        if ((r = cur_bulk(&cur, &id, &idl)) < 0)
            rb_peer_fail(pc, "redis %s: unexpected reply to XADD", pc->addr);
        if (r <= 0) return r;
        return rb_peer_batch_reply(pc, 0, NULL) ? (ssize_t)cur.off : -ECANCELED;
    }
    /* RS_XACK */
    if (t != ':') {
        rb_peer_fail(pc, "redis %s: unexpected reply to XACK", pc->addr);
        return -EPROTO;
    }
    uint64_t h = e->val;
    rb_peer_pop(pc);
    bool ok = num == 1 ? rb_peer_acked(pc, h, 0, NULL)
                       : rb_peer_acked(pc, h, -ENOENT, "XACK: the entry was not pending");
    return ok ? (ssize_t)cur.off : -ECANCELED;
}

/* ---- the driver ---- */

static const char *key_of(const rb_target *t)
{
    return t->queue && *t->queue ? t->queue : RB_RS_DEFAULT_KEY;
}

static void rs_destroy(void *owner)
{
    rb_conn *c = owner;
    rb_peer_pull_deinit(&c->pull);
    free(c->held);
    free(c);
}

static rb_conn *rs_open(ev_loop *loop, const rb_target *t, rb_role role, const rb_events *ev,
                        void *ud, char *err, size_t errlen)
{
    static _Atomic unsigned consumers; /* consumer names distinct within the process */
    const char *k = key_of(t);
    if (strlen(k) > RB_RD_QUEUE_MAX) {
        snprintf(err, errlen, "redis: stream name longer than %u bytes", RB_RD_QUEUE_MAX);
        return NULL;
    }
    rb_conn *c = rb_peer_alloc(sizeof *c, "redis", role, err, errlen);
    if (!c) return NULL;
    c->role = role;
    c->free_head = UINT32_MAX;
    c->klen = strlen(k);
    memcpy(c->key, k, c->klen + 1);
    snprintf(c->group, sizeof c->group, "g%u", t->group);
    snprintf(c->consumer, sizeof c->consumer, "rb%ld-%u", (long)getpid(),
             atomic_fetch_add(&consumers, 1u));
    if (rb_peer_open(&c->pc, loop, t->addr, "redis", one_reply, rs_destroy, ev, ud, c, err,
                     errlen) < 0) {
        free(c);
        return NULL;
    }
    rb_peer_pull_init(&c->pull, &c->pc, rs_issue);
    c->pull.per_pull = RB_RS_COUNT_MAX;
    return c;
}

static int rs_send(rb_conn *c, const rb_payload *p, size_t n, uint64_t tag)
{
    int r = rb_peer_usable(&c->pc, c->role == RB_ROLE_PRODUCER && n > 0 && n <= RB_RD_BATCH_MAX);
    rb_sock *s = c->pc.sock;
    if (r == 0) r = rb_peer_push(&c->pc, RS_XADD, (uint32_t)n, tag);
    for (size_t i = 0; i < n && r == 0; i++) {
        r = rb_sock_write(s, "*5\r\n$4\r\nXADD\r\n", 14);
        if (r == 0) r = rb_rd_arg(s, c->key, c->klen);
        static const char mid[] = "$1\r\n*\r\n$1\r\n" RB_RS_FIELD "\r\n";
        if (r == 0) r = rb_sock_write(s, mid, sizeof mid - 1);
        if (r == 0) r = rb_rd_arg(s, p[i].p, p[i].len);
    }
    return r;
}

static int rs_consume(rb_conn *c, uint32_t n)
{
    int r = rb_peer_usable(&c->pc, c->role == RB_ROLE_CONSUMER);
    return r ? r : rb_peer_pull_credit(&c->pull, n);
}

static int rs_ack(rb_conn *c, uint64_t handle)
{
    int r = rb_peer_usable(&c->pc, c->role == RB_ROLE_CONSUMER);
    if (r) return r;
    rs_held *h = held_get(c, handle);
    if (!h) return -ENOENT;
    rb_sock *s = c->pc.sock;
    r = rb_peer_push(&c->pc, RS_XACK, 1, handle);
    if (r == 0) r = rb_sock_write(s, "*4\r\n$4\r\nXACK\r\n", 14);
    if (r == 0) r = rb_rd_arg(s, c->key, c->klen);
    if (r == 0) r = rb_rd_arg(s, c->group, strlen(c->group));
    if (r == 0) r = rb_rd_arg(s, h->id, h->id_len);
    held_free(c, h);
    if (r == 0) r = rb_peer_pull_acking(&c->pull);
    return r;
}

static void rs_close(rb_conn *c)
{
    if (c) rb_peer_close(&c->pc); /* frees c now or once the callback on the stack returns */
}

/* ---- blocking admin: setup, backlog ---- */

static bool admin_complete(const char *p, size_t n)
{
    rs_cur cur = {(const uint8_t *)p, n, 0};
    return cur_skip(&cur, 0) != 0; /* whole, or malformed (the caller reports it) */
}

static int rs_setup(const rb_target *t, char *err, size_t errlen)
{
    char *out;
    int fd = rb_rd_admin_dial(t, &out, err, errlen);
    if (fd < 0) return fd;
    const char *k = key_of(t);
    const char *del[] = {"DEL", k};
    ssize_t r = rb_rd_admin(fd, t->addr, del, 2, out, admin_complete, err, errlen);
    if (r >= 0 && out[0] != ':') r = -EPROTO;
    for (uint32_t g = 0; r >= 0 && g < t->groups; g++) {
        char group[RB_RS_GROUP_MAX];
        snprintf(group, sizeof group, "g%u", g);
        const char *mk[] = {"XGROUP", "CREATE", k, group, "$", "MKSTREAM"};
        r = rb_rd_admin(fd, t->addr, mk, 6, out, admin_complete, err, errlen);
        if (r >= 0 && strncmp(out, "+OK", 3) != 0) r = -EPROTO;
    }
    if (r == -EPROTO)
        snprintf(err, errlen, "redis %s: setup: unexpected reply \"%.40s\"", t->addr, out);
    close(fd);
    free(out);
    return r < 0 ? (int)r : 0;
}

/* One XINFO GROUPS element (a flat name/value array): pending + lag into *n. */
static int group_backlog(rs_cur *cur, uint64_t *n, char *err, size_t errlen)
{
    int64_t nf;
    int r = cur_array(cur, &nf);
    if (r <= 0 || nf < 0 || nf % 2) return -EPROTO;
    bool pending = false, lag = false;
    for (int64_t f = 0; f < nf; f += 2) {
        const uint8_t *name;
        size_t nl;
        if (cur_bulk(cur, &name, &nl) <= 0) return -EPROTO;
        bool is_p = nl == 7 && memcmp(name, "pending", 7) == 0,
             is_l = nl == 3 && memcmp(name, "lag", 3) == 0;
        size_t at = cur->off;
        char t;
        int64_t v;
        const char *l;
        size_t ll;
        if ((is_p || is_l) && cur_head(cur, &t, &v, &l, &ll) > 0 && t == ':' && v >= 0) {
            *n += (uint64_t)v;
            pending |= is_p;
            lag |= is_l;
            continue;
        }
        cur->off = at;
        if (cur_skip(cur, 1) <= 0) return -EPROTO;
    }
    if (!pending || !lag) {
        snprintf(err, errlen,
                 "XINFO GROUPS: a group without pending and lag (Redis < 7, or the "
                 "lag is unknown)");
        return -ENOENT;
    }
    return 0;
}

static int rs_backlog(const rb_target *t, uint64_t *n, char *err, size_t errlen)
{
    *n = 0;
    if (t->groups == 0) return 0; /* publish: nobody reads */
    char *out;
    int fd = rb_rd_admin_dial(t, &out, err, errlen);
    if (fd < 0) return fd;
    const char *info[] = {"XINFO", "GROUPS", key_of(t)};
    ssize_t len = rb_rd_admin(fd, t->addr, info, 3, out, admin_complete, err, errlen);
    int r = len < 0 ? (int)len : 0;
    if (r == 0) {
        rs_cur cur = {(const uint8_t *)out, (size_t)len, 0};
        int64_t ng;
        char why[200] = "";
        r = cur_array(&cur, &ng) > 0 && ng == (int64_t)t->groups ? 0 : -EPROTO;
        for (int64_t g = 0; r == 0 && g < ng; g++) r = group_backlog(&cur, n, why, sizeof why);
        if (r < 0)
            snprintf(err, errlen, "redis %s: XINFO GROUPS: %s", t->addr,
                     why[0] ? why : "unexpected reply");
    }
    close(fd);
    free(out);
    return r;
}

const rb_driver rb_drv_redis_streams = {
    .name = "redis",
    .can_call = false,
    .can_queue = true,
    .binary_safe = true,
    .batch_max = RB_RD_BATCH_MAX,
    .setup = rs_setup,
    .backlog = rs_backlog,
    .open = rs_open,
    .call = NULL,
    .send = rs_send,
    .consume = rs_consume,
    .ack = rs_ack,
    .close = rs_close,
    .version = rb_rd_version,
};
