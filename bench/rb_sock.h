/* bench/rb_sock: one TCP connection on a core ev_loop for the peer drivers that speak byte
 * protocols (beanstalkd, Redis RESP, NATS). Sends are buffered and written with ev_send (one
 * in flight; what is queued meanwhile goes out in the next send); receives use a multishot recv
 * and accumulate into an input buffer that the protocol parser consumes.
 *
 * Ownership: rb_sock owns the fd and both buffers. The parser callback borrows the input bytes
 * for the duration of the call and returns how many it consumed (the rest is kept and offered
 * again with the next bytes) or a negative errno to fail the connection. */
#ifndef RB_SOCK_H
#define RB_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ev_loop;
typedef struct rb_sock rb_sock;

typedef struct rb_sock_cbs {
    /* Bytes received so far and not consumed. Return bytes consumed (0..len) or -errno. */
    ssize_t (*on_data)(void *ud, const uint8_t *p, size_t len);
    /* The connection failed or the peer closed it (`why` says which); called once, after which
     * the owner must rb_sock_free() it (not from inside this callback). */
    void (*on_error)(void *ud, const char *why);
} rb_sock_cbs;

/* Connects (blocking, TCP_NODELAY) to "host:port" and arms the receive. NULL with err filled. */
rb_sock *rb_sock_connect(struct ev_loop *loop, const char *addr, const rb_sock_cbs *cbs, void *ud,
                         char *err, size_t errlen);
/* Queues bytes for sending (copied); flushed at the end of the loop iteration. 0 or -ENOMEM. */
int rb_sock_write(rb_sock *s, const void *p, size_t n);
/* printf into the send buffer. 0 or -ENOMEM / -EINVAL. */
int rb_sock_printf(rb_sock *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Closes the fd and frees everything; no callback runs afterwards. */
void rb_sock_free(rb_sock *s);

/* Blocking helpers for setup()/backlog()/version() on the main thread (no loop): send a request
 * and read until `complete` says the reply is whole. Return reply bytes (NUL-terminated in
 * out) or -errno; `timeout_ms` bounds the whole exchange. */
int rb_sock_dial(const char *addr, int timeout_ms, char *err, size_t errlen);
ssize_t rb_sock_rpc(int fd, const void *req, size_t reqlen, char *out, size_t outlen,
                    bool (*complete)(const char *p, size_t n), int timeout_ms);

#endif
