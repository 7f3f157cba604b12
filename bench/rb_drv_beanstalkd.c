/* bench/rb_drv_beanstalkd: ringq-bench driver for beanstalkd (tested with 1.12) over its text
 * protocol (doc/protocol.txt in the beanstalkd tree), on bench/rb_sock.
 *
 * Running the server (the suite's command lines; -z raises the 65535-byte job limit so
 * --size up to 1 MiB works, pick a larger -z for larger payloads):
 *   durable, fsync every write (the binlog is fsynced before each reply):
 *     beanstalkd -l 127.0.0.1 -p 11300 -b /var/tmp/bs-data -f 0 -z 1048576
 *   binlog written but never fsynced (the page cache decides; like ringqd --fsync never):
 *     beanstalkd -l 127.0.0.1 -p 11300 -b /var/tmp/bs-data -F -z 1048576
 *   no binlog at all (memory only, fastest; jobs are lost on exit):
 *     beanstalkd -l 127.0.0.1 -p 11300 -z 1048576
 *   (-f MS without 0 fsyncs at most once every MS milliseconds; the default with -b is 50.)
 *
 * Mapping
 *   queue         a tube (default "ringq-bench"); names per the protocol, at most 200 bytes.
 *   producer      `use <tube>` once, then a batch of n = n pipelined
 *                 `put <pri> 0 <ttr> <bytes>\r\n<data>\r\n`; done when all n INSERTED arrived.
 *   consumer      `watch <tube>` + `ignore default`, then reserves; RESERVED -> ev->task with
 *                 handle = job id; ack = `delete <id>` -> DELETED.
 *   ttr           ceil(lease_ms / 1000), at least 2 s: beanstalkd answers DEADLINE_SOON to any
 *                 reserve while a held job is within 1 s of its deadline, so ttr 1 would make
 *                 every reserve fail while a job is held.
 *
 * Reserves and pipelining. beanstalkd serves one connection's commands strictly in order, and a
 * reserve that has to wait blocks everything behind it, our deletes included (a reserved job can
 * only be deleted by the connection that reserved it, so acks cannot move to another one).
 * Keeping n `reserve-with-timeout 1` in flight would hold an ack behind up to n seconds of
 * waiting once the tube runs empty. rb_peer_pull instead pipelines up to `credits`
 * `reserve-with-timeout 0` while jobs keep coming, and once one comes back TIMED_OUT keeps at
 * most one `reserve-with-timeout 1` outstanding - and only while no delivered job is waiting
 * for its delete (else it probes with timeout 0 every millisecond). A TIMED_OUT of the blocking
 * one re-issues it; DEADLINE_SOON pauses reserves for RB_BS_RETRY_MS.
 *
 * Every reply is hostile: lines are bounded (RB_BS_LINE_MAX), numbers strictly decimal and
 * range-checked, bodies bounded (RB_BS_BODY_MAX) and required to end in CRLF, and a reply that
 * does not fit the command at the head of the in-order FIFO fails the connection. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/rb_driver.h"
#include "bench/rb_peer.h"
#include "bench/rb_sock.h"
#include "core/ev_reactor.h"
#include "core/rt_clock.h"

#define RB_BS_DEFAULT_TUBE "ringq-bench"
#define RB_BS_TUBE_MAX 200u        /* protocol limit */
#define RB_BS_LINE_MAX 256u        /* longest reply line we accept (the protocol's are < 100) */
#define RB_BS_BODY_MAX (32u << 20) /* job body; beanstalkd's own cap is 1 GiB, ours 16 MiB + */
#define RB_BS_PRI 1024u            /* the protocol's "normal" priority */
#define RB_BS_TTR_MIN_S 2u
#define RB_BS_RETRY_MS 100u /* DEADLINE_SOON back-off */
#define RB_BS_BATCH_MAX 10000u
#define RB_BS_RPC_MS 5000
#define RB_BS_RPC_OUT (4u << 20)  /* setup/backlog/version replies (a peeked job body) */
#define RB_BS_DRAIN_MAX 10000000u /* setup deletes at most this many leftover jobs */

typedef enum {
    BS_USE = 1,
    BS_WATCH,
    BS_IGNORE,
    BS_PUT,
    BS_RESERVE_FAST,
    BS_RESERVE_WAIT,
    BS_DELETE
} bs_kind;

struct rb_conn {
    rb_peer_conn pc; /* sock, events, FIFO, failure and deferred close */
    rb_role role;
    char tube[RB_BS_TUBE_MAX + 1];
    unsigned ttr;
    rb_peer_pull pull; /* consumer: reserves in flight, credits, held jobs */
};

/* ---- names and numbers ---- */

static bool tube_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > RB_BS_TUBE_MAX || s[0] == '-') return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || strchr("-+/;.$_()", ch) != NULL;
        if (!ok) return false;
    }
    return true;
}

static const char *tube_of(const rb_target *t)
{
    return t->queue && *t->queue ? t->queue : RB_BS_DEFAULT_TUBE;
}

static unsigned ttr_of(const rb_target *t)
{
    unsigned s = (unsigned)((t->lease_ms + 999u) / 1000u);
    return s < RB_BS_TTR_MIN_S ? RB_BS_TTR_MIN_S : s;
}

/* ---- the consumer's reserves (rb_peer_pull decides when) ---- */

static int bs_issue(void *owner, bool wait)
{
    rb_conn *c = owner;
    int r = rb_peer_push(&c->pc, wait ? BS_RESERVE_WAIT : BS_RESERVE_FAST, 1, 0);
    if (r == 0)
        r = rb_sock_write(c->pc.sock,
                          wait ? "reserve-with-timeout 1\r\n" : "reserve-with-timeout 0\r\n", 24);
    return r;
}

/* ---- replies ---- */

/* One reply to the FIFO head `e` (line `w[0..nw)` split into words, body for RESERVED). */
static int on_reply(rb_conn *c, rb_peer_cmd *e, rb_peer_words *w, const uint8_t *body, size_t blen)
{
    rb_peer_conn *pc = &c->pc;
    switch ((bs_kind)e->kind) {
    case BS_USE:
        if (!rb_peer_word_is(w, 0, "USING")) break;
        rb_peer_pop(pc);
        return 0;
    case BS_WATCH:
    case BS_IGNORE:
        if (!rb_peer_word_is(w, 0, "WATCHING")) break;
        rb_peer_pop(pc);
        return 0;
    case BS_PUT: {
        uint64_t id;
        if (rb_peer_word_is(w, 0, "INSERTED") && w->n == 2 && rb_peer_u64(w, 1, &id)) {
            return rb_peer_batch_reply(pc, 0, NULL) ? 0 : -ECANCELED;
        }
        /* A per-job refusal: the batch completes with the first one. */
        static const struct {
            const char *word, *why;
            int err;
        } refusals[] = {
            {"JOB_TOO_BIG", "JOB_TOO_BIG (start beanstalkd with a larger -z)", -EMSGSIZE},
            {"BURIED", "BURIED (server out of memory)", -ENOMEM},
            {"DRAINING", "DRAINING", -ESHUTDOWN},
            {"OUT_OF_MEMORY", "OUT_OF_MEMORY", -ENOMEM},
            {"EXPECTED_CRLF", "EXPECTED_CRLF", -EPROTO},
        };
        for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++)
            if (rb_peer_word_is(w, 0, refusals[i].word))
                return rb_peer_batch_reply(pc, refusals[i].err, refusals[i].why) ? 0 : -ECANCELED;
        break;
    }
    case BS_RESERVE_FAST:
    case BS_RESERVE_WAIT: {
        bool wait = e->kind == BS_RESERVE_WAIT;
        uint64_t id, n;
        if (rb_peer_word_is(w, 0, "RESERVED") && w->n == 3 && rb_peer_u64(w, 1, &id) &&
            rb_peer_u64(w, 2, &n) && body) {
            rb_peer_pop(pc);
            rb_peer_pull_answered(&c->pull, wait, true);
            if (!rb_peer_task(pc, body, blen, id)) return -ECANCELED;
            return rb_peer_pull_pump(&c->pull);
        }
        bool timed_out = rb_peer_word_is(w, 0, "TIMED_OUT");
        bool soon = rb_peer_word_is(w, 0, "DEADLINE_SOON");
        if (!timed_out && !soon) break;
        rb_peer_pop(pc);
        rb_peer_pull_answered(&c->pull, wait, false);
        if (soon) rb_peer_pull_backoff(&c->pull, RB_BS_RETRY_MS);
        return rb_peer_pull_pump(&c->pull);
    }
    case BS_DELETE:
        if (rb_peer_word_is(w, 0, "DELETED")) {
            uint64_t id = e->val;
            rb_peer_pop(pc);
            return rb_peer_acked(pc, id, 0, NULL) ? 0 : -ECANCELED;
        }
        if (rb_peer_word_is(w, 0, "NOT_FOUND")) {
            uint64_t id = e->val;
            rb_peer_pop(pc);
            return rb_peer_acked(pc, id, -ENOENT, "NOT_FOUND (ttr expired?)") ? 0 : -ECANCELED;
        }
        break;
    }
    rb_peer_fail(pc, "beanstalkd %s: unexpected reply \"%s\"", pc->addr, w->line);
    return -EPROTO;
}

/* One reply at p (rb_peer_open's one_reply contract): its line, and after RESERVED the job
 * body. */
static ssize_t one_reply(void *owner, const uint8_t *p, size_t len)
{
    rb_conn *c = owner;
    rb_peer_words w;
    ssize_t ll = rb_peer_line(&c->pc, p, len, RB_BS_LINE_MAX, &w);
    if (ll <= 0) return ll;
    rb_peer_cmd *e = rb_peer_head(&c->pc);
    if (!e) {
        rb_peer_fail(&c->pc, "beanstalkd %s: reply \"%s\" to no command", c->pc.addr, w.line);
        return -EPROTO;
    }
    const uint8_t *body = NULL;
    size_t blen = 0, total = (size_t)ll;
    uint64_t id, n;
    if ((e->kind == BS_RESERVE_FAST || e->kind == BS_RESERVE_WAIT) &&
        rb_peer_word_is(&w, 0, "RESERVED")) {
        if (w.n != 3 || !rb_peer_u64(&w, 1, &id) || !rb_peer_u64(&w, 2, &n) || n > RB_BS_BODY_MAX) {
            rb_peer_fail(&c->pc, "beanstalkd %s: bad reply \"%s\"", c->pc.addr, w.line);
            return -EPROTO;
        }
        if (len - (size_t)ll < n + 2) return 0; /* body not all here yet */
        body = p + ll;
        blen = (size_t)n;
        if (body[blen] != '\r' || body[blen + 1] != '\n') {
            rb_peer_fail(&c->pc, "beanstalkd %s: job body not followed by CRLF", c->pc.addr);
            return -EPROTO;
        }
        total += blen + 2;
    }
    int r = on_reply(c, e, &w, body, blen);
    return r < 0 ? r : (ssize_t)total;
}

/* ---- the driver ---- */

static void bs_destroy(void *owner)
{
    rb_conn *c = owner;
    rb_peer_pull_deinit(&c->pull);
    free(c);
}

static rb_conn *bs_open(ev_loop *loop, const rb_target *t, rb_role role, const rb_events *ev,
                        void *ud, char *err, size_t errlen)
{
    const char *tube = tube_of(t);
    rb_conn *c = rb_peer_alloc(sizeof *c, "beanstalkd", role, err, errlen);
    if (!c) return NULL;
    if (!tube_ok(tube)) {
        snprintf(err, errlen, "beanstalkd: bad tube name \"%s\"", tube);
        free(c);
        return NULL;
    }
    c->role = role;
    snprintf(c->tube, sizeof c->tube, "%s", tube);
    c->ttr = ttr_of(t);
    if (rb_peer_open(&c->pc, loop, t->addr, "beanstalkd", one_reply, bs_destroy, ev, ud, c, err,
                     errlen) < 0) {
        free(c);
        return NULL;
    }
    rb_peer_pull_init(&c->pull, &c->pc, bs_issue);
    int r;
    if (role == RB_ROLE_PRODUCER) {
        r = rb_peer_push(&c->pc, BS_USE, 1, 0);
        if (r == 0) r = rb_sock_printf(c->pc.sock, "use %s\r\n", c->tube);
    } else {
        r = rb_peer_push(&c->pc, BS_WATCH, 1, 0);
        if (r == 0) r = rb_sock_printf(c->pc.sock, "watch %s\r\n", c->tube);
        if (r == 0 && strcmp(c->tube, "default") != 0) {
            r = rb_peer_push(&c->pc, BS_IGNORE, 1, 0);
            if (r == 0) r = rb_sock_write(c->pc.sock, "ignore default\r\n", 16);
        }
    }
    if (r < 0) {
        snprintf(err, errlen, "beanstalkd %s: %s", t->addr, strerror(-r));
        rb_peer_close(&c->pc); /* frees c */
        return NULL;
    }
    return c;
}

static int bs_send(rb_conn *c, const rb_payload *p, size_t n, uint64_t tag)
{
    int r = rb_peer_usable(&c->pc, c->role == RB_ROLE_PRODUCER && n > 0 && n <= RB_BS_BATCH_MAX);
    if (r == 0) r = rb_peer_push(&c->pc, BS_PUT, (uint32_t)n, tag);
    for (size_t i = 0; i < n && r == 0; i++) {
        r = rb_sock_printf(c->pc.sock, "put %u 0 %u %zu\r\n", RB_BS_PRI, c->ttr, p[i].len);
        if (r == 0) r = rb_sock_write(c->pc.sock, p[i].p, p[i].len);
        if (r == 0) r = rb_sock_write(c->pc.sock, "\r\n", 2);
    }
    return r;
}

static int bs_consume(rb_conn *c, uint32_t n)
{
    int r = rb_peer_usable(&c->pc, c->role == RB_ROLE_CONSUMER);
    return r ? r : rb_peer_pull_credit(&c->pull, n);
}

static int bs_ack(rb_conn *c, uint64_t handle)
{
    int r = rb_peer_usable(&c->pc, c->role == RB_ROLE_CONSUMER);
    if (r == 0) r = rb_peer_push(&c->pc, BS_DELETE, 1, handle);
    if (r == 0) r = rb_sock_printf(c->pc.sock, "delete %llu\r\n", (unsigned long long)handle);
    if (r == 0) r = rb_peer_pull_acking(&c->pull);
    return r;
}

static void bs_close(rb_conn *c)
{
    if (!c) return;
    rb_peer_close(&c->pc); /* frees c now or once the callback on the stack returns */
}

/* ---- blocking admin: setup, backlog, version ---- */

/* A whole reply: one line, plus "<bytes>\r\n" more for OK / FOUND / RESERVED. */
static bool reply_complete(const char *p, size_t n)
{
    const char *nl = memmem(p, n, "\r\n", 2);
    if (!nl) return n > RB_BS_LINE_MAX; /* let the caller see the garbage */
    size_t ll = (size_t)(nl - p) + 2;
    const char *last = NULL;
    if (strncmp(p, "OK ", 3) == 0 || strncmp(p, "FOUND ", 6) == 0 ||
        strncmp(p, "RESERVED ", 9) == 0)
        last = memrchr(p, ' ', ll - 2);
    if (!last) return true;
    unsigned long long b = strtoull(last + 1, NULL, 10);
    if (b > RB_BS_RPC_OUT) return true;
    return n >= ll + b + 2;
}

/* Sends `req` and reads the reply into out; returns the reply length or -errno with err set. */
static ssize_t admin(int fd, const char *addr, const char *req, char *out, size_t outlen, char *err,
                     size_t errlen)
{
    ssize_t n = rb_sock_rpc(fd, req, strlen(req), out, outlen, reply_complete, RB_BS_RPC_MS);
    if (n < 0) {
        int rl = (int)strcspn(req, "\r");
        snprintf(err, errlen, "beanstalkd %s: %.*s: %s", addr, rl, req, strerror((int)-n));
    }
    return n;
}

/* The value of "key: value" in a YAML stats body, or false. */
static bool yaml_u64(const char *yaml, const char *key, uint64_t *v)
{
    size_t kl = strlen(key);
    for (const char *p = yaml; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, key, kl) == 0 && p[kl] == ':') {
            char *end;
            const char *s = p + kl + 1;
            while (*s == ' ') s++;
            if (*s < '0' || *s > '9') return false;
            errno = 0;
            *v = strtoull(s, &end, 10);
            return errno == 0;
        }
    }
    return false;
}

static int with_admin(const rb_target *t, char *err, size_t errlen, int *fd, char **out)
{
    if (!tube_ok(tube_of(t))) {
        snprintf(err, errlen, "beanstalkd: bad tube name \"%s\"", tube_of(t));
        return -EINVAL;
    }
    *fd = rb_peer_admin_dial("beanstalkd", t->addr, RB_BS_RPC_OUT + 1, RB_BS_RPC_MS, out, err,
                             errlen);
    return *fd < 0 ? *fd : 0;
}

static int bs_backlog_fd(int fd, const rb_target *t, uint64_t *n, char *out, char *err,
                         size_t errlen)
{
    char req[RB_BS_TUBE_MAX + 32];
    snprintf(req, sizeof req, "stats-tube %s\r\n", tube_of(t));
    ssize_t r = admin(fd, t->addr, req, out, RB_BS_RPC_OUT + 1, err, errlen);
    if (r < 0) return (int)r;
    if (strncmp(out, "NOT_FOUND\r\n", 11) == 0) {
        *n = 0; /* the tube does not exist: nothing in it */
        return 0;
    }
    uint64_t ready, reserved, delayed;
    if (strncmp(out, "OK ", 3) != 0 || !yaml_u64(out, "current-jobs-ready", &ready) ||
        !yaml_u64(out, "current-jobs-reserved", &reserved) ||
        !yaml_u64(out, "current-jobs-delayed", &delayed)) {
        snprintf(err, errlen, "beanstalkd %s: stats-tube: unexpected reply \"%.60s\"", t->addr,
                 out);
        return -EPROTO;
    }
    *n = ready + reserved + delayed;
    return 0;
}

static int bs_backlog(const rb_target *t, uint64_t *n, char *err, size_t errlen)
{
    int fd;
    char *out;
    int r = with_admin(t, err, errlen, &fd, &out);
    if (r < 0) return r;
    r = bs_backlog_fd(fd, t, n, out, err, errlen);
    close(fd);
    free(out);
    return r;
}

/* Empties the tube: deletes ready, delayed and buried jobs through peek-* + delete. Reserved
 * jobs of dead connections were released to ready when those connections closed. */
static int bs_setup(const rb_target *t, char *err, size_t errlen)
{
    int fd;
    char *out, req[RB_BS_TUBE_MAX + 32];
    int r = with_admin(t, err, errlen, &fd, &out);
    if (r < 0) return r;
    snprintf(req, sizeof req, "use %s\r\n", tube_of(t));
    ssize_t n = admin(fd, t->addr, req, out, RB_BS_RPC_OUT + 1, err, errlen);
    if (n >= 0 && strncmp(out, "USING ", 6) != 0) {
        snprintf(err, errlen, "beanstalkd %s: use: unexpected reply \"%.60s\"", t->addr, out);
        n = -EPROTO;
    }
    static const char *const peeks[] = {"peek-ready\r\n", "peek-delayed\r\n", "peek-buried\r\n"};
    uint64_t deleted = 0;
    for (size_t i = 0; i < 3 && n >= 0; i++) {
        while (n >= 0) {
            n = admin(fd, t->addr, peeks[i], out, RB_BS_RPC_OUT + 1, err, errlen);
            if (n < 0 || strncmp(out, "NOT_FOUND\r\n", 11) == 0) break;
            unsigned long long id;
            if (sscanf(out, "FOUND %llu ", &id) != 1 || deleted >= RB_BS_DRAIN_MAX) {
                snprintf(err, errlen, "beanstalkd %s: %.*s: unexpected reply \"%.60s\"", t->addr,
                         (int)strcspn(peeks[i], "\r"), peeks[i], out);
                n = -EPROTO;
                break;
            }
            snprintf(req, sizeof req, "delete %llu\r\n", id);
            n = admin(fd, t->addr, req, out, RB_BS_RPC_OUT + 1, err, errlen);
            if (n >= 0 && strncmp(out, "DELETED\r\n", 9) != 0 &&
                strncmp(out, "NOT_FOUND\r\n", 11) != 0) {
                snprintf(err, errlen, "beanstalkd %s: delete: unexpected reply \"%.60s\"", t->addr,
                         out);
                n = -EPROTO;
            }
            deleted++;
        }
    }
    uint64_t left = 0;
    if (n >= 0) n = bs_backlog_fd(fd, t, &left, out, err, errlen);
    if (n >= 0 && left != 0) {
        /* Jobs reserved by live connections of someone else: not ours to delete. */
        snprintf(err, errlen, "beanstalkd %s: tube %s still holds %llu reserved jobs after setup",
                 t->addr, tube_of(t), (unsigned long long)left);
        n = -EBUSY;
    }
    close(fd);
    free(out);
    return n < 0 ? (int)n : 0;
}

static int bs_version(const rb_target *t, char *vout, size_t outlen)
{
    int fd;
    char *out, err[256];
    if (with_admin(t, err, sizeof err, &fd, &out) < 0) return -EIO;
    ssize_t n = admin(fd, t->addr, "stats\r\n", out, RB_BS_RPC_OUT + 1, err, sizeof err);
    int r = n > 0 ? rb_peer_version_of(out, "\nversion: ", vout, outlen) : -EPROTO;
    close(fd);
    free(out);
    return r;
}

const rb_driver rb_drv_beanstalkd = {
    .name = "beanstalkd",
    .can_call = false,
    .can_queue = true,
    .binary_safe = true,
    .batch_max = RB_BS_BATCH_MAX,
    .setup = bs_setup,
    .backlog = bs_backlog,
    .open = bs_open,
    .call = NULL,
    .send = bs_send,
    .consume = bs_consume,
    .ack = bs_ack,
    .close = bs_close,
    .version = bs_version,
};
