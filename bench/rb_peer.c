/* bench/rb_peer: shared glue of the beanstalkd and Redis drivers. See rb_peer.h. */
#include "bench/rb_peer.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/rb_sock.h"
#include "core/rt_clock.h"

/* ---- lifetime ---- */

static void destroy_now(rb_peer_conn *pc)
{
    if (pc->sock) rb_sock_free(pc->sock); /* deferred by rb_sock when inside its callback */
    pc->sock = NULL;
    free(pc->q);
    pc->q = NULL;
    pc->destroy(pc->owner);
}

static void enter(rb_peer_conn *pc) { pc->depth++; }

/* Returns false when the owner was destroyed (or will be, once the parser on the stack
 * returns): the caller stops. */
static bool leave(rb_peer_conn *pc)
{
    pc->depth--;
    if (!pc->close_requested) return true;
    if (pc->depth == 0) destroy_now(pc);
    return false;
}

void rb_peer_close(rb_peer_conn *pc)
{
    if (pc->close_requested) return;
    pc->close_requested = true;
    if (pc->depth == 0) destroy_now(pc);
}

bool rb_peer_fail(rb_peer_conn *pc, const char *fmt, ...)
{
    if (pc->failed) return !pc->close_requested;
    pc->failed = true;
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    enter(pc);
    pc->ev->failed(pc->ud, why);
    return leave(pc);
}

/* The replies in p, one by one (rb_peer_open's one_reply contract). Returns the bytes used, or
 * -errno with the connection failed. */
static ssize_t replies(rb_peer_conn *pc, const uint8_t *p, size_t len)
{
    size_t used = 0;
    while (used < len && !pc->failed) {
        ssize_t n = pc->one_reply(pc->owner, p + used, len - used);
        if (n == -ECANCELED) return 0; /* closed from a callback: nothing more */
        if (n < 0) {
            rb_peer_fail(pc, "%s %s: %s", pc->system, pc->addr, strerror((int)-n));
            return n;
        }
        if (n == 0) break;
        used += (size_t)n;
        if (rb_peer_closing(pc)) return 0;
    }
    return (ssize_t)used;
}

static ssize_t sock_on_data(void *ud, const uint8_t *p, size_t len)
{
    rb_peer_conn *pc = ud;
    if (pc->failed || pc->close_requested) return (ssize_t)len; /* drop what follows a failure */
    enter(pc);
    ssize_t r = replies(pc, p, len); /* < 0: the connection has failed */
    if (!leave(pc)) return 0;        /* rb_sock was freed meanwhile and ignores this */
    return r;
}

static void sock_on_error(void *ud, const char *why)
{
    rb_peer_conn *pc = ud;
    rb_peer_fail(pc, "%s %s", pc->system, why); /* why starts with the address */
}

void *rb_peer_alloc(size_t size, const char *system, rb_role role, char *err, size_t errlen)
{
    if (role == RB_ROLE_CALL) {
        snprintf(err, errlen, "%s has no rpc scenario", system);
        return NULL;
    }
    void *c = calloc(1, size);
    if (!c) snprintf(err, errlen, "%s: out of memory", system);
    return c;
}

int rb_peer_open(rb_peer_conn *pc, struct ev_loop *loop, const char *addr, const char *system,
                 ssize_t (*one_reply)(void *owner, const uint8_t *p, size_t len),
                 void (*destroy)(void *owner), const rb_events *ev, void *ud, void *owner,
                 char *err, size_t errlen)
{
    memset(pc, 0, sizeof *pc);
    pc->loop = loop;
    pc->ev = ev;
    pc->ud = ud;
    pc->system = system;
    pc->one_reply = one_reply;
    pc->destroy = destroy;
    pc->owner = owner;
    snprintf(pc->addr, sizeof pc->addr, "%s", addr ? addr : "");
    static const rb_sock_cbs cbs = {.on_data = sock_on_data, .on_error = sock_on_error};
    char e[256];
    pc->sock = rb_sock_connect(loop, addr, &cbs, pc, e, sizeof e);
    if (!pc->sock) {
        snprintf(err, errlen, "%s %s", system, e);
        return -ECONNREFUSED;
    }
    return 0;
}

/* ---- FIFO ---- */

int rb_peer_push(rb_peer_conn *pc, uint8_t kind, uint32_t replies, uint64_t val)
{
    if (pc->qlen == pc->qcap) {
        if (pc->qcap >= RB_PEER_FIFO_MAX) return -ENOBUFS;
        size_t ncap = pc->qcap ? pc->qcap * 2 : 64;
        rb_peer_cmd *nq = malloc(ncap * sizeof *nq);
        if (!nq) return -ENOMEM;
        for (size_t i = 0; i < pc->qlen; i++) nq[i] = pc->q[(pc->qhead + i) % pc->qcap];
        free(pc->q);
        pc->q = nq;
        pc->qcap = ncap;
        pc->qhead = 0;
    }
    rb_peer_cmd *e = &pc->q[(pc->qhead + pc->qlen) % pc->qcap];
    *e = (rb_peer_cmd){.kind = kind, .left = replies, .val = val};
    pc->qlen++;
    return 0;
}

rb_peer_cmd *rb_peer_head(rb_peer_conn *pc) { return pc->qlen ? &pc->q[pc->qhead] : NULL; }

void rb_peer_pop(rb_peer_conn *pc)
{
    if (!pc->qlen) return;
    pc->qhead = (pc->qhead + 1) % pc->qcap;
    pc->qlen--;
}

/* ---- engine callbacks ---- */

bool rb_peer_batch_reply(rb_peer_conn *pc, int err, const char *why)
{
    rb_peer_cmd *e = rb_peer_head(pc);
    if (!e) return true;
    if (err && !e->err) {
        e->err = err;
        e->why = why;
    }
    if (--e->left > 0) return true;
    uint64_t tag = e->val;
    int first = e->err;
    const char *w = e->why;
    rb_peer_pop(pc);
    char msg[256];
    if (first) snprintf(msg, sizeof msg, "%s %s: %s", pc->system, pc->addr, w ? w : "error");
    enter(pc);
    pc->ev->done(pc->ud, tag, first, first ? msg : NULL);
    return leave(pc);
}

bool rb_peer_task(rb_peer_conn *pc, const uint8_t *p, size_t len, uint64_t handle)
{
    enter(pc);
    pc->ev->task(pc->ud, p, len, handle);
    return leave(pc);
}

bool rb_peer_acked(rb_peer_conn *pc, uint64_t handle, int err, const char *why)
{
    char msg[256];
    if (err) snprintf(msg, sizeof msg, "%s %s: %s", pc->system, pc->addr, why ? why : "error");
    enter(pc);
    pc->ev->acked(pc->ud, handle, err, err ? msg : NULL);
    return leave(pc);
}

/* ---- reply lines ---- */

ssize_t rb_peer_line(rb_peer_conn *pc, const uint8_t *p, size_t len, size_t max, rb_peer_words *w)
{
    if (max >= RB_PEER_LINE_BUF) max = RB_PEER_LINE_BUF - 1;
    size_t scan = len < max + 2 ? len : max + 2;
    const uint8_t *nl = memchr(p, '\n', scan);
    if (!nl) {
        if (len >= max + 2) {
            rb_peer_fail(pc, "%s %s: reply line longer than %zu bytes", pc->system, pc->addr, max);
            return -EPROTO;
        }
        return 0;
    }
    size_t ll = (size_t)(nl - p);
    if (ll == 0 || p[ll - 1] != '\r' || memchr(p, 0, ll)) {
        rb_peer_fail(pc, "%s %s: malformed reply line", pc->system, pc->addr);
        return -EPROTO;
    }
    ll--; /* without CR */
    memcpy(w->line, p, ll);
    w->line[ll] = 0;
    w->n = 0;
    char *s = w->line;
    while (*s && w->n < RB_PEER_WORDS_MAX) {
        w->w[w->n++] = s;
        char *sp = strchr(s, ' ');
        if (!sp) break;
        s = sp + 1;
    }
    return (ssize_t)(ll + 2);
}

bool rb_peer_word_is(const rb_peer_words *w, size_t i, const char *s)
{
    if (i >= w->n) return false;
    size_t n = strlen(s);
    return strncmp(w->w[i], s, n) == 0 && (w->w[i][n] == ' ' || w->w[i][n] == 0);
}

bool rb_peer_parse_u64(const char *s, size_t n, uint64_t *v)
{
    if (n == 0 || n > 20) return false;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (x > (UINT64_MAX - d) / 10) return false;
        x = x * 10 + d;
    }
    *v = x;
    return true;
}

bool rb_peer_u64(const rb_peer_words *w, size_t i, uint64_t *v)
{
    if (i >= w->n) return false;
    return rb_peer_parse_u64(w->w[i], strcspn(w->w[i], " "), v);
}

/* ---- blocking admin connections ---- */

int rb_peer_admin_dial(const char *system, const char *addr, size_t outcap, int timeout_ms,
                       char **out, char *err, size_t errlen)
{
    *out = malloc(outcap);
    if (!*out) {
        snprintf(err, errlen, "%s: out of memory", system);
        return -ENOMEM;
    }
    int fd = rb_sock_dial(addr, timeout_ms, err, errlen);
    if (fd < 0) {
        free(*out);
        *out = NULL;
    }
    return fd;
}

int rb_peer_version_of(const char *text, const char *key, char *out, size_t outlen)
{
    const char *v = strstr(text, key);
    if (!v) return -EPROTO;
    v += strlen(key);
    if (*v == '"') v++;
    size_t vl = strcspn(v, "\"\r\n");
    if (vl == 0 || vl >= outlen || vl >= 64) return -EPROTO;
    snprintf(out, outlen, "%.*s", (int)vl, v);
    return 0;
}

/* ---- the consumer's pull pump ---- */

static void pull_timer(ev_loop *loop, ev_timer *t)
{
    rb_peer_pull *pl = t->ud;
    bool was_backoff = pl->backoff;
    pl->backoff = false;
    int r = 0;
    if (!was_backoff && !pl->hot && pl->fast == 0 && pl->wait == 0 && pl->credits > 0 &&
        !pl->pc->failed) {
        r = pl->issue(pl->pc->owner, false); /* the probe while tasks are held */
        if (r == 0) pl->fast++;
    }
    if (r == 0) r = rb_peer_pull_pump(pl);
    if (r < 0) rb_peer_fail(pl->pc, "%s %s: pull: %s", pl->pc->system, pl->pc->addr, strerror(-r));
}

void rb_peer_pull_init(rb_peer_pull *pl, rb_peer_conn *pc, int (*issue)(void *owner, bool wait))
{
    memset(pl, 0, sizeof *pl);
    pl->pc = pc;
    pl->issue = issue;
    pl->hot = true;
    ev_timer_init(&pl->timer, pull_timer, pl);
}

void rb_peer_pull_deinit(rb_peer_pull *pl)
{
    if (pl->pc && pl->pc->loop) ev_timer_stop(pl->pc->loop, &pl->timer);
}

int rb_peer_pull_pump(rb_peer_pull *pl)
{
    if (pl->pc->failed || pl->pc->close_requested || pl->backoff) return 0;
    if (pl->hot && pl->per_pull > 1) {
        if (pl->fast || pl->wait || pl->credits == 0) return 0;
        int r = pl->issue(pl->pc->owner, false);
        if (r == 0) pl->fast = 1;
        return r;
    }
    if (pl->hot) {
        while ((uint64_t)pl->fast + pl->wait < pl->credits) {
            int r = pl->issue(pl->pc->owner, false);
            if (r < 0) return r;
            pl->fast++;
        }
        return 0;
    }
    if (pl->fast || pl->wait || pl->credits == 0) return 0;
    if (pl->held == 0) {
        int r = pl->issue(pl->pc->owner, true);
        if (r < 0) return r;
        pl->wait = 1;
    } else if (pl->per_pull <= 1 && !ev_timer_armed(&pl->timer)) {
        ev_timer_start(pl->pc->loop, &pl->timer,
                       ev_loop_now(pl->pc->loop) + (uint64_t)RB_PEER_POLL_MS * RT_NS_PER_MS);
    }
    return 0;
}

int rb_peer_pull_credit(rb_peer_pull *pl, uint32_t n)
{
    if (pl->credits == 0 && pl->fast == 0 && pl->wait == 0) pl->hot = true;
    pl->credits += n;
    return rb_peer_pull_pump(pl);
}

void rb_peer_pull_answered_n(rb_peer_pull *pl, bool wait, uint32_t n)
{
    if (wait) pl->wait = 0;
    else if (pl->fast) pl->fast--;
    pl->hot = n > 0;
    pl->credits -= n < pl->credits ? n : pl->credits;
    pl->held += n;
}

void rb_peer_pull_answered(rb_peer_pull *pl, bool wait, bool found)
{
    rb_peer_pull_answered_n(pl, wait, found ? 1u : 0u);
}

int rb_peer_pull_acking(rb_peer_pull *pl)
{
    if (pl->held) pl->held--;
    return rb_peer_pull_pump(pl);
}

void rb_peer_pull_backoff(rb_peer_pull *pl, uint32_t ms)
{
    pl->backoff = true;
    ev_timer_start(pl->pc->loop, &pl->timer,
                   ev_loop_now(pl->pc->loop) + (uint64_t)ms * RT_NS_PER_MS);
}
