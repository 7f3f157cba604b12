/* bench/rb_drv_jetstream: ringq-bench's NATS JetStream driver (rb_driver.h), written from the
 * NATS client protocol and the JetStream wire API. Blocking setup/backlog/version live in
 * rb_js_admin.c; this file is the measured connections, on rb_sock (one TCP connection on the
 * generator thread's loop).
 *
 * Connection: CONNECT (headers, no_responders) + SUB <inbox>.> 1 + PING are queued at open();
 *   commands sent after them are valid, so open() does not wait for the PONG. Server PINGs are
 *   answered; -ERR fails the connection with its text. Every reply to this connection arrives
 *   on its inbox "_INBOX.<random>" under a token: p.<n> PubAck of publish n, f.<n> status of
 *   pull request n, a.<slot> answer to the ack of the task held in that slot.
 *
 * Producer: send(n) = n pipelined "PUB <subject> <inbox>.p.<k> <len>"; done(tag) once all n
 *   PubAcks {"stream","seq"} arrived. An answer carrying "error", or a 503 no-responders status
 *   (no stream captures the subject), makes the batch's done report -EIO with the reason.
 *
 * Consumer: a durable pull consumer (streams: the one of the connection's group, rb_js.h).
 *   consume(n) adds credits; the driver keeps pull requests
 *   outstanding ("PUB $JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer> <inbox>.f.<k>
 *   {"batch":B,"expires":5s}") for about as many messages as it has unused credits. Messages
 *   arrive as MSG <subject> 1 $JS.ACK.<...> with no mark of which request they fill, so the
 *   accounting is aggregate: `outstanding` = asked for and not yet delivered; a delivery takes
 *   one from it, a 408/404 status ends a request and its Nats-Pending-Messages header says how
 *   many of it went unfilled. A new request goes out when nothing is outstanding or the unasked
 *   credits reach a quarter of the largest credit window seen (so a worker pool that returns
 *   credits one by one does not cost one request per task). A delivery beyond what was asked,
 *   a 409 (consumer deleted, max_waiting exceeded...) or a status without the pending count
 *   fails the connection: benchmarks do not retry silently.
 *
 * Ack: the double ack — "PUB <$JS.ACK subject> <inbox>.a.<slot> 4\r\n+ACK" — which the server
 *   answers once it processed the ack, so ev->acked reports the server's confirmation (with
 *   work-queue retention that is the message's removal from the stream), not a write into our
 *   send buffer. The slot table maps handles to the $JS.ACK subjects (the subject carries the
 *   delivery's sequence numbers; the server needs it verbatim).
 *
 * Durability (what the PubAck means), nats-server 2.9.10 as installed here:
 *   fast (default):  nats-server -js -sd DIR -a 127.0.0.1 -p PORT
 *       A single-server stream writes each message record with its own pwrite() before the
 *       PubAck goes out (2.9 stream.go sets AsyncFlush = false: the filestore flushes in place;
 *       strace shows the .blk write before the PubAck's writev), so an acked message survives a
 *       crash of the server process (measured: 3 x 20000 pipelined acked publishes, SIGKILL
 *       right after the last PubAck, restart: nothing lost). fsync runs only every 2 minutes
 *       (SyncInterval, hard-coded in 2.9): an OS crash or power loss can lose up to 2 minutes
 *       of acknowledged messages.
 *   durable:  mkdir DIR && chattr +S DIR && nats-server -js -sd DIR -a 127.0.0.1 -p PORT
 *       2.9 has no fsync-per-write setting: `jetstream { sync_interval: always }` (2.10+,
 *       nats-server PR #4483) makes 2.9.10 refuse the config ("unknown field sync_interval").
 *       The ext4 synchronous-updates attribute set on the empty store directory is inherited by
 *       every file and directory JetStream creates below it and makes each of those writes
 *       synchronous (O_SYNC semantics), so with the ordering above a PubAck follows its message
 *       reaching the disk. One sync per message: batching publishes does not group them. What
 *       an ack removes (block index, consumer state) is written lazily, so after a crash an
 *       acked task may be delivered again (at least once). Not power-fail tested here: the
 *       claim rests on the write ordering and the attribute. Needs ext4 (or another file
 *       system honouring 'S'), set before the server creates its files. With 2.10+ use
 *       instead nats-server -c FILE with `jetstream { store_dir: DIR, sync_interval: always }`.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "bench/rb_driver.h"
#include "bench/rb_js.h"
#include "bench/rb_json.h"
#include "bench/rb_nats_wire.h"
#include "bench/rb_sock.h"

/* Messages in one send(): each carries its own reply token, tracked in a bitmap. */
#define JS_BATCH_MAX 1024u
/* send() operations awaiting PubAcks per connection (the engine's in-flight depth). */
#define JS_BATCHES_MAX 65536u
#define JS_BATCHES_INIT 64u
/* Delivered tasks not yet acked and acks not yet answered, per connection. 2^18 slots of
 * JS_ACK_SUBJ_MAX bytes bound the table at ~45 MiB against a server that floods deliveries. */
#define JS_SLOTS_MAX (1u << 18)
#define JS_SLOTS_INIT 256u
/* Longest $JS.ACK reply subject kept: 2.9 writes ~80 bytes for our names, 2.10+ adds a domain
 * and an account hash (~110). */
#define JS_ACK_SUBJ_MAX 168u
/* One pull request asks for at most this many messages. */
#define JS_PULL_BATCH_MAX 4096u
/* A pull request waits this long on an empty stream, then ends with 408 and is re-issued. */
#define JS_PULL_EXPIRES_NS 5000000000ull
/* max_payload assumed until the server's INFO says otherwise (nats-server's default). */
#define JS_MAX_PAYLOAD_DEFAULT (1024u * 1024u)
#define JS_WHY_MAX 200u

typedef struct js_batch {
    uint64_t tag;
    uint64_t first; /* publish number of its first message */
    uint32_t n, answered;
    int err;
    bool done; /* completed out of order; popped when it reaches the head */
    uint64_t seen[JS_BATCH_MAX / 64];
    char why[JS_WHY_MAX];
} js_batch;

typedef enum { JS_SLOT_FREE = 0, JS_SLOT_HELD, JS_SLOT_ACKING } js_slot_state;

typedef struct js_slot {
    uint32_t gen; /* bumped when freed: stale handles do not match */
    uint32_t next_free;
    uint8_t state;
    uint8_t subj_len;
    char subj[JS_ACK_SUBJ_MAX];
} js_slot;

struct rb_conn {
    rb_sock *sock;
    rb_role role;
    const rb_events *ev;
    void *ud;
    const rb_target *t;
    rb_js_names names;
    char inbox[40];
    size_t inbox_len;
    char next_subj[160]; /* $JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer> */
    uint64_t max_payload;
    bool failed;         /* ev->failed ran (or close() was called from a callback) */
    int depth;           /* js_on_data / js_on_error on the stack */
    bool close_deferred; /* close() ran inside a callback: freed when the stack unwinds */
    /* producer */
    uint64_t pub_next;
    js_batch *batches; /* ring of bcap (power of two) */
    uint32_t bcap, bhead, bcount;
    /* consumer */
    uint64_t credits;     /* granted by consume() and not yet used by a delivery */
    uint64_t outstanding; /* asked of the server and not yet delivered or ended */
    uint64_t credits_hw;
    uint64_t pull_next;
    js_slot *slots;
    uint32_t nslots, free_head;
};

#define JS_NO_SLOT UINT32_MAX

__attribute__((format(printf, 2, 3))) static int js_fail(rb_conn *c, const char *fmt, ...)
{
    if (c->failed) return -EPROTO;
    c->failed = true;
    char msg[JS_WHY_MAX], why[JS_WHY_MAX + 96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(why, sizeof(why), "jetstream %s: %s", c->t->addr, msg);
    c->ev->failed(c->ud, why);
    return -EPROTO;
}

/* ---- producer ---------------------------------------------------------------------------- */

static js_batch *js_batch_at(rb_conn *c, uint32_t i)
{
    return &c->batches[(c->bhead + i) & (c->bcap - 1)];
}

static int js_batches_grow(rb_conn *c)
{
    if (c->bcap >= JS_BATCHES_MAX) return -ENOBUFS;
    uint32_t ncap = c->bcap ? c->bcap * 2 : JS_BATCHES_INIT;
    js_batch *nb = malloc((size_t)ncap * sizeof(*nb));
    if (!nb) return -ENOMEM;
    for (uint32_t i = 0; i < c->bcount; i++) nb[i] = *js_batch_at(c, i);
    free(c->batches);
    c->batches = nb;
    c->bcap = ncap;
    c->bhead = 0;
    return 0;
}

/* Index of the batch holding publish `num`, or -1. Batches are sorted by `first`. */
static int64_t js_batch_find(rb_conn *c, uint64_t num)
{
    uint32_t lo = 0, hi = c->bcount;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (js_batch_at(c, mid)->first <= num) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0) return -1;
    js_batch *b = js_batch_at(c, lo - 1);
    return num < b->first + b->n ? (int64_t)(lo - 1) : -1;
}

/* The reason a PubAck (or its status) is an error, or NULL when it acknowledges the publish. */
static const char *js_puback_error(const rb_nats_frame *f, char *buf, size_t buflen)
{
    if (f->kind == RB_NATS_HMSG) {
        int code;
        const char *desc;
        size_t dlen;
        int64_t pending;
        if (rb_nats_status(f->hdr, f->hdr_len, &code, &desc, &dlen, &pending) != 0)
            return "malformed status header on a PubAck";
        if (code == 503) return "no responders: no stream captures the subject";
        snprintf(buf, buflen, "PubAck status %d %.*s", code, (int)(dlen > 80 ? 80 : dlen), desc);
        return buf;
    }
    const char *js = (const char *)f->body, *v;
    size_t vlen;
    uint64_t seq;
    if (rb_json_find(js, f->body_len, "error", &v, &vlen) == 0) {
        char desc[120] = "?";
        const char *d;
        size_t dlen;
        if (rb_json_find(v, vlen, "description", &d, &dlen) == 0)
            rb_json_str(d, dlen, desc, sizeof(desc));
        snprintf(buf, buflen, "PubAck error: %s", desc);
        return buf;
    }
    if (rb_json_find(js, f->body_len, "seq", &v, &vlen) != 0 || rb_json_u64(v, vlen, &seq) != 0)
        return "malformed PubAck (no seq)";
    return NULL;
}

static int js_on_puback(rb_conn *c, uint64_t num, const rb_nats_frame *f)
{
    int64_t idx = js_batch_find(c, num);
    if (idx < 0)
        return js_fail(c, "PubAck for publish %llu, which is not awaiting one",
                       (unsigned long long)num);
    js_batch *b = js_batch_at(c, (uint32_t)idx);
    uint64_t bit = num - b->first;
    if (b->seen[bit / 64] & (1ull << (bit % 64)))
        return js_fail(c, "second PubAck for publish %llu", (unsigned long long)num);
    b->seen[bit / 64] |= 1ull << (bit % 64);
    char buf[JS_WHY_MAX];
    const char *why = js_puback_error(f, buf, sizeof(buf));
    if (why && b->err == 0) {
        b->err = -EIO;
        snprintf(b->why, sizeof(b->why), "jetstream %.40s: %.140s", c->t->addr, why);
    }
    if (++b->answered < b->n) return 0;
    /* Copy what the callback needs: it may call send(), which can move the ring. */
    uint64_t tag = b->tag;
    int err = b->err;
    char done_why[JS_WHY_MAX];
    snprintf(done_why, sizeof(done_why), "%s", b->why);
    b->done = true;
    while (c->bcount > 0 && js_batch_at(c, 0)->done) {
        c->bhead = (c->bhead + 1) & (c->bcap - 1);
        c->bcount--;
    }
    c->ev->done(c->ud, tag, err, err ? done_why : NULL);
    return 0;
}

static int js_send(rb_conn *c, const rb_payload *p, size_t n, uint64_t tag)
{
    if (c->failed) return -EPIPE;
    if (c->role != RB_ROLE_PRODUCER || n == 0 || n > JS_BATCH_MAX) return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (p[i].len > c->max_payload) return -EMSGSIZE;
    if (c->bcount == c->bcap) {
        int rc = js_batches_grow(c);
        if (rc != 0) return rc;
    }
    js_batch *b = js_batch_at(c, c->bcount);
    memset(b, 0, offsetof(js_batch, why) + 1);
    b->tag = tag;
    b->first = c->pub_next;
    b->n = (uint32_t)n;
    c->bcount++;
    for (size_t i = 0; i < n; i++) {
        int rc = rb_sock_printf(c->sock, "PUB %s %s.p.%llu %zu\r\n", c->names.subject, c->inbox,
                                (unsigned long long)c->pub_next++, p[i].len);
        if (rc == 0) rc = rb_sock_write(c->sock, p[i].p, p[i].len);
        if (rc == 0) rc = rb_sock_write(c->sock, "\r\n", 2);
        if (rc != 0) {
            js_fail(c, "send buffer: %s", strerror(-rc));
            return rc;
        }
    }
    return 0;
}

/* ---- consumer ---------------------------------------------------------------------------- */

static int js_pull(rb_conn *c, uint64_t batch)
{
    char body[96];
    int blen = snprintf(body, sizeof(body), "{\"batch\":%llu,\"expires\":%llu}",
                        (unsigned long long)batch, JS_PULL_EXPIRES_NS);
    int rc = rb_sock_printf(c->sock, "PUB %s %s.f.%llu %d\r\n%s\r\n", c->next_subj, c->inbox,
                            (unsigned long long)c->pull_next++, blen, body);
    if (rc != 0) return js_fail(c, "send buffer: %s", strerror(-rc));
    c->outstanding += batch;
    return 0;
}

/* Keeps outstanding ~= credits (see the file comment for the threshold). */
static int js_maybe_pull(rb_conn *c)
{
    if (c->failed || c->role != RB_ROLE_CONSUMER) return 0;
    uint64_t thresh = c->credits_hw / 4 ? c->credits_hw / 4 : 1;
    while (c->credits > c->outstanding) {
        uint64_t deficit = c->credits - c->outstanding;
        if (c->outstanding > 0 && deficit < thresh) break;
        int rc = js_pull(c, deficit < JS_PULL_BATCH_MAX ? deficit : JS_PULL_BATCH_MAX);
        if (rc != 0) return rc;
    }
    return 0;
}

static int js_consume(rb_conn *c, uint32_t n)
{
    if (c->failed) return -EPIPE;
    if (c->role != RB_ROLE_CONSUMER) return -EINVAL;
    if (c->credits + n > JS_SLOTS_MAX)
        return -ENOBUFS; /* more than the slot table could ever hold */
    c->credits += n;
    if (c->credits > c->credits_hw) c->credits_hw = c->credits;
    return js_maybe_pull(c);
}

static uint32_t js_slot_alloc(rb_conn *c)
{
    if (c->free_head == JS_NO_SLOT) {
        if (c->nslots >= JS_SLOTS_MAX) return JS_NO_SLOT;
        uint32_t ncap = c->nslots ? c->nslots * 2 : JS_SLOTS_INIT;
        js_slot *ns = realloc(c->slots, (size_t)ncap * sizeof(*ns));
        if (!ns) return JS_NO_SLOT;
        for (uint32_t i = c->nslots; i < ncap; i++) {
            ns[i].gen = 1;
            ns[i].state = JS_SLOT_FREE;
            ns[i].next_free = i + 1 < ncap ? i + 1 : c->free_head;
        }
        c->free_head = c->nslots;
        c->slots = ns;
        c->nslots = ncap;
    }
    uint32_t i = c->free_head;
    c->free_head = c->slots[i].next_free;
    return i;
}

static void js_slot_free(rb_conn *c, uint32_t i)
{
    js_slot *s = &c->slots[i];
    s->state = JS_SLOT_FREE;
    s->gen = s->gen + 1 ? s->gen + 1 : 1;
    s->next_free = c->free_head;
    c->free_head = i;
}

static int js_on_task(rb_conn *c, const rb_nats_frame *f)
{
    if (c->credits == 0 || c->outstanding == 0)
        return js_fail(c, "the server delivered more messages than were asked for");
    if (f->reply_len > JS_ACK_SUBJ_MAX)
        return js_fail(c, "ack subject longer than %u bytes", JS_ACK_SUBJ_MAX);
    uint32_t i = js_slot_alloc(c);
    if (i == JS_NO_SLOT)
        return js_fail(c, "more than %u tasks delivered and not acked", JS_SLOTS_MAX);
    c->credits--;
    c->outstanding--;
    js_slot *s = &c->slots[i];
    s->state = JS_SLOT_HELD;
    s->subj_len = (uint8_t)f->reply_len;
    memcpy(s->subj, f->reply, f->reply_len);
    uint64_t handle = (uint64_t)s->gen << 32 | i;
    c->ev->task(c->ud, f->body, f->body_len, handle);
    return js_maybe_pull(c);
}

static int js_on_pull_status(rb_conn *c, const rb_nats_frame *f)
{
    int code;
    const char *desc;
    size_t dlen;
    int64_t pending;
    if (f->kind != RB_NATS_HMSG ||
        rb_nats_status(f->hdr, f->hdr_len, &code, &desc, &dlen, &pending) != 0)
        return js_fail(c, "pull request answered without a valid status");
    int dl = (int)(dlen > 80 ? 80 : dlen);
    if (code == 100) return 0; /* idle heartbeat: we ask for none, harmless */
    if (code != 404 && code != 408)
        return js_fail(c, "pull request ended with status %d %.*s", code, dl, desc);
    if (pending < 0)
        return js_fail(c, "status %d %.*s without Nats-Pending-Messages (server older than 2.9?)",
                       code, dl, desc);
    if ((uint64_t)pending > c->outstanding)
        return js_fail(c, "status %d: %lld pending, but only %llu were outstanding", code,
                       (long long)pending, (unsigned long long)c->outstanding);
    c->outstanding -= (uint64_t)pending;
    return js_maybe_pull(c);
}

static int js_on_ack_reply(rb_conn *c, uint64_t i, const rb_nats_frame *f)
{
    if (i >= c->nslots || c->slots[i].state != JS_SLOT_ACKING)
        return js_fail(c, "answer to an ack that is not awaiting one (slot %llu)",
                       (unsigned long long)i);
    uint64_t handle = (uint64_t)c->slots[i].gen << 32 | i;
    js_slot_free(c, (uint32_t)i);
    int err = 0;
    char why[JS_WHY_MAX];
    if (f->kind == RB_NATS_HMSG) {
        int code;
        const char *desc;
        size_t dlen;
        int64_t pending;
        if (rb_nats_status(f->hdr, f->hdr_len, &code, &desc, &dlen, &pending) != 0 || code >= 300) {
            err = -EIO;
            snprintf(why, sizeof(why), "jetstream %s: ack answered with status %d %.*s", c->t->addr,
                     code, (int)(dlen > 80 ? 80 : dlen), desc);
        }
    }
    c->ev->acked(c->ud, handle, err, err ? why : NULL);
    return 0;
}

static int js_ack(rb_conn *c, uint64_t handle)
{
    if (c->failed) return -EPIPE;
    uint32_t i = (uint32_t)handle, gen = (uint32_t)(handle >> 32);
    if (c->role != RB_ROLE_CONSUMER || i >= c->nslots || c->slots[i].gen != gen ||
        c->slots[i].state != JS_SLOT_HELD)
        return -ENOENT;
    js_slot *s = &c->slots[i];
    int rc = rb_sock_printf(c->sock, "PUB %.*s %s.a.%u 4\r\n+ACK\r\n", (int)s->subj_len, s->subj,
                            c->inbox, i);
    if (rc != 0) return js_fail(c, "send buffer: %s", strerror(-rc));
    s->state = JS_SLOT_ACKING;
    return 0;
}

/* ---- frames ------------------------------------------------------------------------------ */

/* "<inbox>.<kind>.<decimal>" -> kind and number; false when the subject is not ours. */
static bool js_token(const rb_conn *c, const rb_nats_frame *f, char *kind, uint64_t *num)
{
    size_t il = c->inbox_len;
    if (f->subject_len < il + 4 || memcmp(f->subject, c->inbox, il) != 0 || f->subject[il] != '.' ||
        f->subject[il + 2] != '.')
        return false;
    *kind = f->subject[il + 1];
    const char *d = f->subject + il + 3;
    size_t n = f->subject_len - il - 3;
    return n <= 19 && rb_json_u64(d, n, num) == 0;
}

static int js_on_msg(rb_conn *c, const rb_nats_frame *f)
{
    char kind;
    uint64_t num;
    if (js_token(c, f, &kind, &num)) {
        if (kind == 'p' && c->role == RB_ROLE_PRODUCER) return js_on_puback(c, num, f);
        if (kind == 'f' && c->role == RB_ROLE_CONSUMER) return js_on_pull_status(c, f);
        if (kind == 'a' && c->role == RB_ROLE_CONSUMER) return js_on_ack_reply(c, num, f);
    } else if (c->role == RB_ROLE_CONSUMER && f->reply_len > 8 &&
               memcmp(f->reply, "$JS.ACK.", 8) == 0) {
        return js_on_task(c, f);
    }
    return js_fail(c, "unexpected message on \"%.*s\"",
                   (int)(f->subject_len > 80 ? 80 : f->subject_len), f->subject);
}

static int js_on_frame(rb_conn *c, const rb_nats_frame *f)
{
    switch (f->kind) {
    case RB_NATS_PING: {
        int rc = rb_sock_write(c->sock, "PONG\r\n", 6);
        return rc ? js_fail(c, "send buffer: %s", strerror(-rc)) : 0;
    }
    case RB_NATS_PONG:
    case RB_NATS_OK: return 0;
    case RB_NATS_INFO: {
        const char *v;
        size_t vlen;
        uint64_t mp;
        if (rb_json_find((const char *)f->body, f->body_len, "max_payload", &v, &vlen) == 0 &&
            rb_json_u64(v, vlen, &mp) == 0 && mp > 0)
            c->max_payload = mp;
        return 0;
    }
    case RB_NATS_ERR:
        return js_fail(c, "-ERR '%.*s'", (int)(f->body_len > 120 ? 120 : f->body_len),
                       (const char *)f->body);
    case RB_NATS_MSG:
    case RB_NATS_HMSG: return js_on_msg(c, f);
    }
    return js_fail(c, "unknown frame");
}

static void js_free(rb_conn *c);

/* Called when a callback returns: a close() from inside it takes effect now. */
static bool js_unwind(rb_conn *c)
{
    if (--c->depth > 0 || !c->close_deferred) return false;
    js_free(c);
    return true;
}

static ssize_t js_on_data(void *ud, const uint8_t *p, size_t len)
{
    rb_conn *c = ud;
    size_t off = 0;
    ssize_t ret = 0;
    c->depth++;
    while (off < len && !c->failed) {
        rb_nats_frame f;
        const char *why;
        ssize_t r = rb_nats_parse(p + off, len - off, RB_JS_BODY_MAX, &f, &why);
        if (r == 0) break;
        if (r < 0) {
            js_fail(c, "%s", why);
            break;
        }
        off += (size_t)r;
        if (js_on_frame(c, &f) < 0) break;
    }
    ret = c->failed ? -EPROTO : (ssize_t)off;
    return js_unwind(c) ? -ECANCELED : ret;
}

static void js_on_error(void *ud, const char *why)
{
    rb_conn *c = ud;
    c->depth++;
    if (!c->failed) {
        char msg[JS_WHY_MAX + 16];
        c->failed = true;
        snprintf(msg, sizeof(msg), "jetstream %s", why); /* rb_sock's why names the address */
        c->ev->failed(c->ud, msg);
    }
    js_unwind(c);
}

/* ---- connection -------------------------------------------------------------------------- */

static void js_inbox_init(rb_conn *c)
{
    static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    uint8_t rnd[20];
    if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 30 ^ (uint64_t)getpid() << 48 ^
                     (uint64_t)(uintptr_t)c;
        for (size_t i = 0; i < sizeof(rnd); i++, x = x * 6364136223846793005ull + 1)
            rnd[i] = (uint8_t)(x >> 56);
    }
    memcpy(c->inbox, "_INBOX.", 7);
    for (size_t i = 0; i < sizeof(rnd); i++) c->inbox[7 + i] = digits[rnd[i] % 62];
    c->inbox_len = 7 + sizeof(rnd);
    c->inbox[c->inbox_len] = '\0';
}

static void js_free(rb_conn *c)
{
    free(c->batches);
    free(c->slots);
    free(c);
}

/* rb_sock defers its own free when called from its callback; we defer ours the same way (the
 * engine may close a connection from ev->failed or ev->done). */
static void js_close(rb_conn *c)
{
    if (!c) return;
    if (c->sock) rb_sock_free(c->sock);
    c->sock = NULL;
    if (c->depth > 0) {
        c->failed = true; /* nothing more is sent and no callback runs */
        c->close_deferred = true;
        return;
    }
    js_free(c);
}

static rb_conn *js_open(struct ev_loop *loop, const rb_target *t, rb_role role, const rb_events *ev,
                        void *ud, char *err, size_t errlen)
{
    if (role != RB_ROLE_PRODUCER && role != RB_ROLE_CONSUMER) {
        snprintf(err, errlen, "jetstream: only producer and consumer connections");
        return NULL;
    }
    rb_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "jetstream: out of memory");
        return NULL;
    }
    c->role = role;
    c->ev = ev;
    c->ud = ud;
    c->t = t;
    c->max_payload = JS_MAX_PAYLOAD_DEFAULT;
    c->free_head = JS_NO_SLOT;
    if (rb_js_names_init(&c->names, t, err, errlen) != 0) {
        js_close(c);
        return NULL;
    }
    char consumer[RB_JS_CONSUMER_MAX];
    rb_js_consumer_name(t, t->group, consumer);
    snprintf(c->next_subj, sizeof(c->next_subj), "$JS.API.CONSUMER.MSG.NEXT.%s.%s", c->names.stream,
             consumer);
    js_inbox_init(c);
    static const rb_sock_cbs cbs = {.on_data = js_on_data, .on_error = js_on_error};
    c->sock = rb_sock_connect(loop, t->addr, &cbs, c, err, errlen);
    if (!c->sock) {
        js_close(c);
        return NULL;
    }
    int rc = role == RB_ROLE_PRODUCER ? js_batches_grow(c) : 0;
    if (rc == 0) rc = rb_sock_printf(c->sock, RB_JS_CONNECT "SUB %s.> 1\r\nPING\r\n", c->inbox);
    if (rc != 0) {
        snprintf(err, errlen, "jetstream %s: %s", t->addr, strerror(-rc));
        js_close(c);
        return NULL;
    }
    return c;
}

static int js_call(rb_conn *c, const uint8_t *body, size_t len, uint64_t tag) { return -ENOTSUP; }

const rb_driver rb_drv_jetstream = {
    .name = "jetstream",
    .can_call = false,
    .can_queue = true,
    .binary_safe = true,
    .batch_max = JS_BATCH_MAX,
    .setup = rb_js_setup,
    .backlog = rb_js_backlog,
    .open = js_open,
    .call = js_call,
    .send = js_send,
    .consume = js_consume,
    .ack = js_ack,
    .close = js_close,
    .version = rb_js_version,
};
