/* server/srv_listen: claiming the listen address before the shards bind it (see srv_runtime.h,
 * srv_port_claim). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/rt_clock.h"
#include "core/rt_net.h"
#include "server/srv_internal.h"

/* After kill -9 the dead server's listeners outlive it briefly: io_uring's teardown holds the
 * sockets until its cancelled accepts complete, a few ms after the process is gone. A restart
 * waits this long for the port when no live server holds its lock. */
#define SRV_PORT_FREE_WAIT_MS 2000u
/* How often the port is probed during that wait. */
#define SRV_PORT_PROBE_EVERY_MS 5u

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

int srv_port_lock(const srv_options *o, int port)
{
    char name[200];
    snprintf(name, sizeof name, "ringq-listen:%s:%d", o->host, port);
    int fd = rt_name_lock(name);
    if (fd == -EADDRINUSE)
        fprintf(stderr, "%s: cannot listen on %s:%d: address in use (by another ringq server)\n",
                o->prog, o->host, port);
    else if (fd < 0)
        fprintf(stderr, "%s: cannot take the listen lock for %s:%d: %s\n", o->prog, o->host, port,
                strerror(-fd));
    return fd;
}

int srv_port_claim(const srv_options *o, int *lock_fd)
{
    *lock_fd = -1;
    if (o->port == 0) return 0; /* the kernel picks a free port; shard 0 locks it once bound */
    int fd = srv_port_lock(o, o->port);
    if (fd < 0) return fd;
    uint64_t deadline = rt_now_ns() + (uint64_t)SRV_PORT_FREE_WAIT_MS * RT_NS_PER_MS;
    int r;
    while ((r = rt_port_probe(o->host, (uint16_t)o->port)) == -EADDRINUSE && rt_now_ns() < deadline)
        sleep_ms(SRV_PORT_PROBE_EVERY_MS);
    if (r < 0) {
        if (r == -EADDRINUSE)
            fprintf(stderr, "%s: cannot listen on %s:%d: address in use\n", o->prog, o->host,
                    o->port);
        else
            fprintf(stderr, "%s: cannot listen on %s:%d: %s\n", o->prog, o->host, o->port,
                    strerror(-r));
        close(fd);
        return r;
    }
    *lock_fd = fd;
    return 0;
}
