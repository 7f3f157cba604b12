/* core/rt_net: sockets. Listeners are created per shard with SO_REUSEPORT so the kernel spreads
 * connections across shards with no shared accept queue. */
#ifndef RT_NET_H
#define RT_NET_H

#include <stdbool.h>
#include <stdint.h>

/* Listen backlog: large enough for connection storms in benchmarks (the kernel caps it at
 * net.core.somaxconn). */
#define RT_LISTEN_BACKLOG 4096

/* Creates a TCP listener on host:port (IPv4 dotted quad, IPv6 literal, "localhost", or "" / "*"
 * for all IPv4 addresses) with SO_REUSEADDR and, when `reuseport`, SO_REUSEPORT. port 0 picks
 * a free port. Returns the fd or a negative errno. */
int rt_listen_tcp(const char *host, uint16_t port, bool reuseport);
/* The local port a socket is bound to, or a negative errno. */
int rt_socket_port(int fd);
/* Per-connection socket options for an accepted socket: TCP_NODELAY. Returns 0 or -errno. */
int rt_socket_tune(int fd);

#endif
