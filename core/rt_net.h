/* core/rt_net: sockets. Listeners are created per shard with SO_REUSEPORT so the kernel spreads
 * connections across shards with no shared accept queue. */
#ifndef RT_NET_H
#define RT_NET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* Listen backlog: large enough for connection storms in benchmarks (the kernel caps it at
 * net.core.somaxconn). */
#define RT_LISTEN_BACKLOG 4096

/* Fills `ss`/`len` for host:port: an IPv4 dotted quad, an IPv6 literal, "localhost", or "" /
 * "*" / "0.0.0.0" for all IPv4 addresses. Returns 0 or -EINVAL (not an address). */
int rt_addr_parse(const char *host, uint16_t port, struct sockaddr_storage *ss, socklen_t *len);
/* A TCP socket bound to host:port (see rt_addr_parse) with SO_REUSEADDR and, when `reuseport`,
 * SO_REUSEPORT, not yet listening: connections to the port are refused until rt_listen. port 0
 * picks a free port. Returns the fd (owned by the caller) or a negative errno (-EADDRINUSE, ...). */
int rt_bind_tcp(const char *host, uint16_t port, bool reuseport);
/* listen() with RT_LISTEN_BACKLOG. Returns 0 or a negative errno (-EADDRINUSE when another
 * socket listens on the address). */
int rt_listen(int fd);
/* rt_bind_tcp + rt_listen. Returns the fd or a negative errno. */
int rt_listen_tcp(const char *host, uint16_t port, bool reuseport);
/* Whether host:port is free for a new listener group: binds and listens without SO_REUSEPORT,
 * then closes. Returns 0 (free), -EADDRINUSE (any socket, of any process, listens there, even
 * a SO_REUSEPORT group we could have joined) or another negative errno. */
int rt_port_probe(const char *host, uint16_t port);
/* A lock named `name` in the abstract unix-socket namespace (Linux): held while the returned
 * fd is open, released by the kernel when the process exits however it exits. Returns the fd,
 * -EADDRINUSE (held by another process, or this one), -ENAMETOOLONG, or another negative errno. */
int rt_name_lock(const char *name);
/* The local port a socket is bound to, or a negative errno. */
int rt_socket_port(int fd);
/* Per-connection socket options for an accepted socket: TCP_NODELAY. Returns 0 or -errno. */
int rt_socket_tune(int fd);

#endif
