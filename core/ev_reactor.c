/* core/ev_reactor: the io_uring reactor. See ev_reactor.h for the model.
 *
 * This is the only file that includes <liburing.h>. Completions are collected into a local
 * array, the CQ is advanced, and only then are callbacks run. */
#include "core/ev_reactor.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/rt_alloc.h"
#include "core/rt_clock.h"
#include "core/rt_log.h"
#include "core/ev_stall.h"
#include "core/ev_timers.h"
#include "core/ev_trace.h"

/* Reserved user_data values; real ops are pointers (never this small). */
#define EV_UD_IGNORE 0ull  /* fire-and-forget SQEs (msg_ring sends, cancels without an op) */
#define EV_UD_WAKE 1ull    /* a CQE posted into this ring by another ring's MSG_RING */
#define EV_UD_EVENTFD 2ull /* our eventfd read completed (wake from a thread without a loop) */
#define EV_UD_MAX_RESERVED 16ull

/* The turn budget (EV_BATCH_MAX, EV_TURN_NS_MAX) is in ev_reactor.h. The clock is read after
 * every completion (a read is ~30-50 ns here), so a turn overruns EV_TURN_NS_MAX by at most one
 * callback. It was read once per 8: most callbacks take a few us, but a recv's takes what its
 * buffer holds (up to ~100 requests decoded and handled, 1 ms and more), and 8 of those made
 * one turn of 10 ms before the first look at the clock. */
_Static_assert(EV_TRACE_KINDS > EV_OP_UNLINKAT, "every op kind has a trace part");
_Static_assert(EV_TRACE_HOOKS == EV_HOOKS_MAX, "every hook has a trace part");
/* Buffer group id of the loop's provided recv buffers. */
#define EV_BGID 1

typedef struct ev_cqe {
    uint64_t ud;
    int32_t res;
    uint32_t flags;
} ev_cqe;

static bool probe_send_zc(struct io_uring *ring);

struct ev_loop {
    struct io_uring ring;
    int shard_id;
    bool stop;
    bool defer_taskrun;
    bool has_send_zc; /* IORING_OP_SENDMSG_ZC supported (probed at creation) */
    uint64_t now_ns;
    /* Shard loop stalls: from each wake-up to the next submit-and-wait, the time spent in
     * callbacks, timers and iteration hooks (ev_loop_stall_hist). 0: not measuring yet. */
    uint64_t busy_from_ns;
    rt_hist *stall; /* &stall_own, or the owner's (ev_loop_set_stall_hist) */
    rt_hist stall_own;
    ev_stall split; /* long turns split into on-CPU and preempted time (ev_stall.h) */
    ev_trace trace; /* what long turns were made of, when switched on (ev_trace.h) */

    /* Provided buffer ring for multishot recv. */
    struct io_uring_buf_ring *br;
    size_t br_bytes;
    uint8_t *bufs;
    unsigned buf_count;
    unsigned buf_size;
    unsigned buf_mask;
    unsigned buf_pending_adv; /* buffers returned but not yet published */

    ev_timers timers;

    ev_hook_fn hooks[EV_HOOKS_MAX];
    void *hooks_ud[EV_HOOKS_MAX];
    int nhooks;

    ev_wake_fn wake_fn[EV_WAKE_HANDLERS_MAX];
    void *wake_ud[EV_WAKE_HANDLERS_MAX];
    int nwake;
    int efd;          /* eventfd for wakes from threads without a loop */
    uint64_t efd_val; /* read target */
    bool efd_armed;

    ev_cqe batch[EV_BATCH_MAX];
    unsigned batch_i, batch_n; /* batch[batch_i, batch_n): collected, not yet dispatched */
    ev_turn_stats turns;
};

static struct io_uring_sqe *get_sqe(ev_loop *loop)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&loop->ring);
    if (!sqe) {
        /* SQ full: hand what we have to the kernel and try once more. A failed submit leaves
         * the SQ full, and the NULL below reports it to the caller. */
        (void)io_uring_submit(&loop->ring);
        sqe = io_uring_get_sqe(&loop->ring);
    }
    return sqe;
}

static int arm_eventfd(ev_loop *loop)
{
    struct io_uring_sqe *sqe = get_sqe(loop);
    if (!sqe) return -EBUSY;
    io_uring_prep_read(sqe, loop->efd, &loop->efd_val, sizeof loop->efd_val, 0);
    io_uring_sqe_set_data64(sqe, EV_UD_EVENTFD);
    loop->efd_armed = true;
    return 0;
}

static int setup_buffers(ev_loop *loop)
{
    loop->buf_mask = loop->buf_count - 1;
    loop->br_bytes = loop->buf_count * sizeof(struct io_uring_buf);
    void *br = mmap(NULL, loop->br_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                    0);
    if (br == MAP_FAILED) return -errno;
    loop->br = br;
    loop->bufs = rt_malloc((size_t)loop->buf_count * loop->buf_size);
    if (!loop->bufs) return -ENOMEM;
    struct io_uring_buf_reg reg = {
        .ring_addr = (unsigned long)br,
        .ring_entries = loop->buf_count,
        .bgid = EV_BGID,
    };
    int r = io_uring_register_buf_ring(&loop->ring, &reg, 0);
    if (r < 0) return r;
    io_uring_buf_ring_init(loop->br);
    for (unsigned i = 0; i < loop->buf_count; i++)
        io_uring_buf_ring_add(loop->br, loop->bufs + (size_t)i * loop->buf_size, loop->buf_size,
                              (unsigned short)i, loop->buf_mask, (int)i);
    /* Publishes the buffers to the kernel (a release store of the ring tail inside liburing). */
    io_uring_buf_ring_advance(loop->br, (int)loop->buf_count);
    return 0;
}

ev_loop *ev_loop_create(const ev_loop_opts *opts, int *err, const char **why)
{
    ev_loop_opts o = opts ? *opts : (ev_loop_opts){0};
    if (!o.sq_entries) o.sq_entries = 1024;
    if (!o.buf_count) o.buf_count = 256;
    if (!o.buf_size) o.buf_size = 16384;
    if (o.buf_count & (o.buf_count - 1) || o.buf_count > 32768) {
        *err = -EINVAL;
        *why = "buf_count must be a power of two <= 32768";
        return NULL;
    }
    ev_loop *loop = rt_calloc(1, sizeof *loop);
    if (!loop) {
        *err = -ENOMEM;
        *why = "out of memory";
        return NULL;
    }
    loop->stall = &loop->stall_own;
    ev_stall_init(&loop->split);
    ev_trace_init(&loop->trace);
    loop->shard_id = o.shard_id;
    loop->buf_count = o.buf_count;
    loop->buf_size = o.buf_size;
    loop->efd = -1;

    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL;
    p.cq_entries = o.sq_entries * 4;
    p.flags |= IORING_SETUP_CQSIZE;
    int r = io_uring_queue_init_params(o.sq_entries, &loop->ring, &p);
    if (r == -EINVAL) {
        /* Older kernel: no SINGLE_ISSUER/DEFER_TASKRUN. Plain setup. */
        memset(&p, 0, sizeof p);
        p.flags = IORING_SETUP_CQSIZE;
        p.cq_entries = o.sq_entries * 4;
        r = io_uring_queue_init_params(o.sq_entries, &loop->ring, &p);
    } else if (r == 0) {
        loop->defer_taskrun = true;
    }
    if (r < 0) {
        *err = r;
        *why = r == -EPERM ? "io_uring is disabled (kernel.io_uring_disabled or a seccomp policy)"
               : r == -ENOSYS ? "this kernel has no io_uring (need Linux 6.0 or later)"
               : r == -ENOMEM ? "io_uring setup failed: out of locked memory (RLIMIT_MEMLOCK)"
                              : "io_uring setup failed";
        rt_free(loop);
        return NULL;
    }
    if (!(p.features & IORING_FEAT_EXT_ARG) || !(p.features & IORING_FEAT_NODROP)) {
        *err = -ENOSYS;
        *why = "this kernel's io_uring lacks EXT_ARG/NODROP (need Linux 6.0 or later)";
        io_uring_queue_exit(&loop->ring);
        rt_free(loop);
        return NULL;
    }
    loop->has_send_zc = probe_send_zc(&loop->ring);
    r = setup_buffers(loop);
    if (r < 0) {
        *err = r;
        *why = r == -ENOMEM
                   ? "out of memory"
                   : "io_uring provided buffer ring unavailable (need Linux 5.19 or later)";
        ev_loop_destroy(loop);
        return NULL;
    }
    loop->efd = eventfd(0, EFD_CLOEXEC);
    /* errno is read right after the call that set it; arm_eventfd returns its own error. */
    r = loop->efd < 0 ? -errno : arm_eventfd(loop);
    if (r < 0) {
        *err = r;
        *why = "eventfd failed";
        ev_loop_destroy(loop);
        return NULL;
    }
    loop->now_ns = rt_now_ns();
    *err = 0;
    *why = NULL;
    return loop;
}

void ev_loop_destroy(ev_loop *loop)
{
    if (!loop) return;
    if (loop->br) {
        io_uring_unregister_buf_ring(&loop->ring, EV_BGID);
        munmap(loop->br, loop->br_bytes);
    }
    io_uring_queue_exit(&loop->ring);
    if (loop->efd >= 0) close(loop->efd);
    rt_free(loop->bufs);
    ev_timers_deinit(&loop->timers);
    ev_stall_deinit(&loop->split);
    rt_free(loop);
}

uint64_t ev_loop_now(ev_loop *loop) { return loop->now_ns; }
const rt_hist *ev_loop_stall_hist(const ev_loop *loop) { return loop->stall; }
void ev_loop_set_stall_hist(ev_loop *loop, rt_hist *h) { loop->stall = h ? h : &loop->stall_own; }
const rt_hist *ev_loop_stall_oncpu_hist(const ev_loop *loop) { return loop->split.oncpu; }
const rt_hist *ev_loop_stall_preempted_hist(const ev_loop *loop) { return loop->split.preempted; }
void ev_loop_set_stall_split_hists(ev_loop *loop, rt_hist *oncpu, rt_hist *preempted)
{
    ev_stall_set_hists(&loop->split, oncpu, preempted);
}
int ev_loop_shard(const ev_loop *loop) { return loop->shard_id; }
ev_trace *ev_loop_trace(ev_loop *loop) { return &loop->trace; }
void ev_loop_turn_stats_get(const ev_loop *loop, ev_turn_stats *out) { *out = loop->turns; }
void ev_loop_stop(ev_loop *loop) { loop->stop = true; }

int ev_loop_add_hook(ev_loop *loop, ev_hook_fn fn, void *ud)
{
    if (loop->nhooks >= EV_HOOKS_MAX) return -ENOSPC;
    loop->hooks[loop->nhooks] = fn;
    loop->hooks_ud[loop->nhooks] = ud;
    loop->nhooks++;
    return 0;
}

int ev_loop_add_wake_handler(ev_loop *loop, ev_wake_fn fn, void *ud)
{
    if (loop->nwake >= EV_WAKE_HANDLERS_MAX) return -ENOSPC;
    loop->wake_fn[loop->nwake] = fn;
    loop->wake_ud[loop->nwake] = ud;
    loop->nwake++;
    return 0;
}

int ev_loop_set_wake_handler(ev_loop *loop, ev_wake_fn fn, void *ud)
{
    return ev_loop_add_wake_handler(loop, fn, ud);
}

static void run_wake(ev_loop *loop, uint32_t data)
{
    for (int i = 0; i < loop->nwake; i++) loop->wake_fn[i](loop, loop->wake_ud[i], data);
}

int ev_loop_wake_from(ev_loop *self, ev_loop *target, uint32_t data)
{
    if (self) {
        struct io_uring_sqe *sqe = get_sqe(self);
        if (!sqe) return -EBUSY;
        /* The target gets a CQE with user_data EV_UD_WAKE and res = data. Our own completion is
         * skipped on success; a failure arrives with EV_UD_IGNORE and is dropped. */
        io_uring_prep_msg_ring(sqe, target->ring.ring_fd, data, EV_UD_WAKE, 0);
        io_uring_sqe_set_data64(sqe, EV_UD_IGNORE);
        sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
        /* Submit now: the wake-up must not wait for our next loop iteration. */
        int r = io_uring_submit(&self->ring);
        return r < 0 ? r : 0;
    }
    uint64_t one = 1;
    ssize_t w = write(target->efd, &one, sizeof one);
    return w == (ssize_t)sizeof one ? 0 : -errno;
}

/* ---- operations ---------------------------------------------------------------------------- */

/* Asks the kernel which ops it knows (IORING_REGISTER_PROBE, Linux 5.6+): zero-copy sendmsg
 * came in 6.1. A failed probe means "no": the caller falls back to copying sends. */
static bool probe_send_zc(struct io_uring *ring)
{
    struct io_uring_probe *p = io_uring_get_probe_ring(ring);
    if (!p) return false;
    bool ok = io_uring_opcode_supported(p, IORING_OP_SENDMSG_ZC);
    io_uring_free_probe(p);
    return ok;
}

static int start(ev_loop *loop, ev_op *op, ev_op_kind kind, struct io_uring_sqe **out)
{
    if (op->busy) return -EBUSY;
    struct io_uring_sqe *sqe = get_sqe(loop);
    if (!sqe) return -EBUSY;
    op->kind = (uint8_t)kind;
    op->busy = true;
    io_uring_sqe_set_data(sqe, op);
    *out = sqe;
    return 0;
}

int ev_accept_multishot(ev_loop *loop, ev_op *op, int listen_fd)
{
    struct io_uring_sqe *sqe;
    int r = start(loop, op, EV_OP_ACCEPT, &sqe);
    if (r) return r;
    io_uring_prep_multishot_accept(sqe, listen_fd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data(sqe, op);
    return 0;
}

int ev_recv_multishot(ev_loop *loop, ev_op *op, int fd)
{
    struct io_uring_sqe *sqe;
    int r = start(loop, op, EV_OP_RECV, &sqe);
    if (r) return r;
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = EV_BGID;
    io_uring_sqe_set_data(sqe, op);
    return 0;
}

const uint8_t *ev_op_buffer(ev_loop *loop, const ev_op *op)
{
    return loop->bufs + (size_t)op->bid * loop->buf_size;
}

void ev_buffer_release(ev_loop *loop, uint16_t bid)
{
    io_uring_buf_ring_add(loop->br, loop->bufs + (size_t)bid * loop->buf_size, loop->buf_size, bid,
                          loop->buf_mask, (int)loop->buf_pending_adv);
    loop->buf_pending_adv++;
}

/* Publishes returned buffers in one tail store; done once per iteration before submitting. */
static void publish_buffers(ev_loop *loop)
{
    if (loop->buf_pending_adv) {
        io_uring_buf_ring_advance(loop->br, (int)loop->buf_pending_adv);
        loop->buf_pending_adv = 0;
    }
}

int ev_send(ev_loop *loop, ev_op *op, int fd, const void *b, size_t len)
{
    struct io_uring_sqe *sqe;
    int r = start(loop, op, EV_OP_SEND, &sqe);
    if (r) return r;
    io_uring_prep_send(sqe, fd, b, len, MSG_NOSIGNAL);
    io_uring_sqe_set_data(sqe, op);
    return 0;
}

int ev_sendmsg(ev_loop *loop, ev_op *op, int fd, const struct msghdr *msg)
{
    struct io_uring_sqe *sqe;
    int r = start(loop, op, EV_OP_SENDMSG, &sqe);
    if (r) return r;
    io_uring_prep_sendmsg(sqe, fd, msg, MSG_NOSIGNAL);
    io_uring_sqe_set_data(sqe, op);
    return 0;
}

int ev_sendmsg_zc(ev_loop *loop, ev_op *op, int fd, const struct msghdr *msg)
{
    if (!loop->has_send_zc) return -EOPNOTSUPP;
    struct io_uring_sqe *sqe;
    int r = start(loop, op, EV_OP_SENDMSG_ZC, &sqe);
    if (r) return r;
    io_uring_prep_sendmsg_zc(sqe, fd, msg, MSG_NOSIGNAL);
    io_uring_sqe_set_data(sqe, op);
    return 0;
}

bool ev_loop_has_send_zc(const ev_loop *loop) { return loop->has_send_zc; }

int ev_connect(ev_loop *loop, ev_op *op, int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    struct io_uring_sqe *sqe;
    int r = start(loop, op, EV_OP_CONNECT, &sqe);
    if (r) return r;
    io_uring_prep_connect(sqe, fd, addr, addrlen);
    io_uring_sqe_set_data(sqe, op);
    return 0;
}

int ev_read(ev_loop *loop, ev_op *op, int fd, void *b, size_t len, uint64_t off)
{
    struct io_uring_sqe *sqe;
    int r = start(loop, op, EV_OP_READ, &sqe);
    if (r) return r;
    io_uring_prep_read(sqe, fd, b, (unsigned)len, off);
    io_uring_sqe_set_data(sqe, op);
    return 0;
}

int ev_write(ev_loop *loop, ev_op *op, int fd, const void *b, size_t len, uint64_t off)
{
    struct io_uring_sqe *sqe;
    int r = start(loop, op, EV_OP_WRITE, &sqe);
    if (r) return r;
    io_uring_prep_write(sqe, fd, b, (unsigned)len, off);
    io_uring_sqe_set_data(sqe, op);
    return 0;
}

int ev_fsync(ev_loop *loop, ev_op *op, int fd, bool datasync)
{
    struct io_uring_sqe *sqe;
    int r = start(loop, op, EV_OP_FSYNC, &sqe);
    if (r) return r;
    io_uring_prep_fsync(sqe, fd, datasync ? IORING_FSYNC_DATASYNC : 0);
    io_uring_sqe_set_data(sqe, op);
    return 0;
}

int ev_fallocate(ev_loop *loop, ev_op *op, int fd, int mode, uint64_t off, uint64_t len)
{
    struct io_uring_sqe *sqe;
    int r = start(loop, op, EV_OP_FALLOCATE, &sqe);
    if (r) return r;
    io_uring_prep_fallocate(sqe, fd, mode, (off_t)off, (off_t)len);
    io_uring_sqe_set_data(sqe, op);
    return 0;
}

int ev_unlinkat(ev_loop *loop, ev_op *op, int dirfd, const char *path, int flags)
{
    struct io_uring_sqe *sqe;
    int r = start(loop, op, EV_OP_UNLINKAT, &sqe);
    if (r) return r;
    io_uring_prep_unlinkat(sqe, dirfd, path, flags);
    io_uring_sqe_set_data(sqe, op);
    return 0;
}

int ev_close_detached(ev_loop *loop, int fd)
{
    struct io_uring_sqe *sqe = get_sqe(loop);
    if (!sqe) return -EBUSY;
    io_uring_prep_close(sqe, fd);
    sqe->flags |= IOSQE_ASYNC;
    /* The result has no one to tell: close(2) errors leave nothing to retry. */
    io_uring_sqe_set_data64(sqe, EV_UD_IGNORE);
    return 0;
}

int ev_cancel(ev_loop *loop, ev_op *op, ev_op *target)
{
    if (!target->busy) return -ENOENT;
    struct io_uring_sqe *sqe;
    if (op) {
        int r = start(loop, op, EV_OP_CANCEL, &sqe);
        if (r) return r;
    } else {
        sqe = get_sqe(loop);
        if (!sqe) return -EBUSY;
    }
    io_uring_prep_cancel(sqe, target, 0);
    if (op) io_uring_sqe_set_data(sqe, op);
    else io_uring_sqe_set_data64(sqe, EV_UD_IGNORE);
    return 0;
}

int ev_loop_flush(ev_loop *loop)
{
    publish_buffers(loop);
    int r = io_uring_submit(&loop->ring);
    return r < 0 ? r : 0;
}

/* ---- timers: a binary min-heap (ev_timers.c) ------------------------------------------------ */

void ev_timer_stop(ev_loop *loop, ev_timer *t) { ev_timers_stop(&loop->timers, t); }

int ev_timer_start(ev_loop *loop, ev_timer *t, uint64_t deadline_ns)
{
    return ev_timers_start(&loop->timers, t, deadline_ns, loop->now_ns);
}

/* ---- the loop ------------------------------------------------------------------------------- */

static unsigned collect(ev_loop *loop)
{
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;
    io_uring_for_each_cqe (&loop->ring, head, cqe) {
        if (n == EV_BATCH_MAX) break;
        loop->batch[n].ud = cqe->user_data;
        loop->batch[n].res = cqe->res;
        loop->batch[n].flags = cqe->flags;
        n++;
    }
    io_uring_cq_advance(&loop->ring, n);
    return n;
}

static void dispatch(ev_loop *loop, const ev_cqe *c)
{
    if (c->ud == EV_UD_IGNORE) return;
    if (c->ud == EV_UD_WAKE) {
        run_wake(loop, (uint32_t)c->res);
        return;
    }
    if (c->ud == EV_UD_EVENTFD) {
        loop->efd_armed = false;
        if (c->res != -ECANCELED) arm_eventfd(loop);
        if (c->res > 0) run_wake(loop, 0);
        return;
    }
    ev_op *op = (ev_op *)(uintptr_t)c->ud;
    unsigned fl = 0;
    if (c->flags & IORING_CQE_F_MORE) fl |= EV_F_MORE;
    else op->busy = false;
    if (c->flags & IORING_CQE_F_NOTIF) fl |= EV_F_NOTIF;
    if (c->flags & IORING_CQE_F_BUFFER) {
        fl |= EV_F_BUFFER;
        op->bid = (uint16_t)(c->flags >> IORING_CQE_BUFFER_SHIFT);
        op->buflen = c->res > 0 ? (uint32_t)c->res : 0;
    }
    op->cb(loop, op, c->res, fl);
}

/* The trace part of a completion (read before its callback, which may free the op), and a
 * recv's bytes. */
static unsigned cqe_part(const ev_cqe *c, uint32_t *bytes)
{
    *bytes = 0;
    if (c->ud == EV_UD_IGNORE) return EV_OP_NONE;
    if (c->ud == EV_UD_WAKE || c->ud == EV_UD_EVENTFD) return EV_TRACE_PART_WAKE;
    const ev_op *op = (const ev_op *)(uintptr_t)c->ud;
    if (op->kind == EV_OP_RECV && c->res > 0) *bytes = (uint32_t)c->res;
    return op->kind;
}

/* Completions collected by an earlier turn and not dispatched yet (it hit its time budget). */
static bool batch_left(const ev_loop *loop) { return loop->batch_i < loop->batch_n; }

bool ev_loop_has_events(ev_loop *loop)
{
    if (batch_left(loop)) return true;
    int r = io_uring_submit(&loop->ring);
    if (loop->defer_taskrun && r >= 0) io_uring_get_events(&loop->ring);
    if (io_uring_cq_ready(&loop->ring) > 0) return true;
    const ev_timer *first = ev_timers_first(&loop->timers);
    return first && first->deadline_ns <= rt_now_ns();
}

/* One turn's completions: what the last turn left of its batch, else a fresh batch from the CQ,
 * for at most EV_TURN_NS_MAX. What is left over waits in batch[] (the CQ already advanced past
 * it) and the loop does not sleep until it has run. */
static int run_batch(ev_loop *loop)
{
    if (!batch_left(loop)) {
        loop->batch_n = collect(loop);
        loop->batch_i = 0;
    }
    unsigned ran = 0;
    bool tr = ev_trace_on(&loop->trace);
    uint64_t t0 = loop->now_ns;
    while (batch_left(loop)) {
        const ev_cqe *c = &loop->batch[loop->batch_i++];
        uint32_t bytes = 0;
        unsigned part = tr ? cqe_part(c, &bytes) : 0;
        dispatch(loop, c);
        ran++;
        uint64_t t1 = rt_now_ns();
        if (tr) ev_trace_add(&loop->trace, part, t1 - t0, bytes);
        t0 = t1;
        if (batch_left(loop) && t1 - loop->now_ns >= EV_TURN_NS_MAX) {
            loop->turns.cut_by_time++;
            break;
        }
    }
    if (!batch_left(loop) && ran == EV_BATCH_MAX && io_uring_cq_ready(&loop->ring) > 0)
        loop->turns.cut_by_count++;
    if (ran > loop->turns.cqes_max) loop->turns.cqes_max = ran;
    return (int)ran;
}

/* Runs every hook for `phase`; false when one of them said false (each still runs). */
static bool run_hooks(ev_loop *loop, ev_hook_phase phase)
{
    bool all = true, tr = ev_trace_on(&loop->trace) && phase != EV_HOOK_AFTER_WAKE;
    uint64_t t0 = tr ? rt_now_ns() : 0;
    for (int i = 0; i < loop->nhooks; i++) {
        if (!loop->hooks[i](loop, loop->hooks_ud[i], phase)) all = false;
        if (tr) {
            uint64_t t1 = rt_now_ns();
            ev_trace_add(&loop->trace, EV_TRACE_PART_HOOK0 + (unsigned)i, t1 - t0, 0);
            t0 = t1;
        }
    }
    return all;
}

/* The turn that began at the last wake-up ends: counted in the stall histograms (and the
 * trace). Its end is the submit or wait that follows, so the hooks of both phases are in it:
 * work a before-sleep hook does (it may run messages, then veto the sleep) delays what the
 * loop does next as much as a callback. */
static void turn_end(ev_loop *loop)
{
    if (!loop->busy_from_ns) return;
    uint64_t end = rt_now_ns(), wall = end - loop->busy_from_ns;
    rt_hist_observe(loop->stall, wall);
    uint64_t pre = ev_stall_turn_end(&loop->split, loop->busy_from_ns, end);
    ev_trace_turn_end(&loop->trace, loop->shard_id, wall, pre, end);
}

int ev_loop_run_once(ev_loop *loop, bool block)
{
    run_hooks(loop, EV_HOOK_ITERATION);
    publish_buffers(loop);
    bool sleep = block && io_uring_cq_ready(&loop->ring) == 0 && !batch_left(loop) && !loop->stop;
    if (sleep && !run_hooks(loop, EV_HOOK_BEFORE_SLEEP)) sleep = false;
    turn_end(loop);
    int r;
    if (sleep) {
        struct io_uring_cqe *cqe = NULL;
        const ev_timer *first = ev_timers_first(&loop->timers);
        if (first) {
            uint64_t now = rt_now_ns();
            uint64_t dl = first->deadline_ns;
            uint64_t d = dl > now ? dl - now : 0;
            struct __kernel_timespec ts = {.tv_sec = (long long)(d / RT_NS_PER_S),
                                           .tv_nsec = (long long)(d % RT_NS_PER_S)};
            r = io_uring_submit_and_wait_timeout(&loop->ring, &cqe, 1, &ts, NULL);
        } else {
            r = io_uring_submit_and_wait(&loop->ring, 1);
        }
        run_hooks(loop, EV_HOOK_AFTER_WAKE);
    } else {
        r = io_uring_submit(&loop->ring);
        /* With DEFER_TASKRUN, completions are only posted when we enter the kernel to wait;
         * a zero-wait get_events flushes pending task work without blocking. */
        if (loop->defer_taskrun && r >= 0) r = io_uring_get_events(&loop->ring);
    }
    if (r < 0 && r != -ETIME && r != -EINTR && r != -EBUSY && r != -EAGAIN) return r;

    loop->now_ns = rt_now_ns();
    loop->busy_from_ns = loop->now_ns;
    ev_stall_turn_start(&loop->split, loop->now_ns);
    int ran = run_batch(loop);
    loop->now_ns = rt_now_ns();
    int timers = ev_timers_run(&loop->timers, loop, loop->now_ns);
    if (timers > 0 && ev_trace_on(&loop->trace))
        ev_trace_add(&loop->trace, EV_TRACE_PART_TIMERS, rt_now_ns() - loop->now_ns, 0);
    return ran + timers;
}

int ev_loop_run(ev_loop *loop)
{
    loop->stop = false;
    while (!loop->stop) {
        int r = ev_loop_run_once(loop, true);
        if (r < 0) {
            log_error("io_uring wait failed", "err=%d", r);
            return r;
        }
    }
    return 0;
}
