#include "core/rt_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int rt_addr_parse(const char *host, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    if (!host || !*host || strcmp(host, "*") == 0 || strcmp(host, "0.0.0.0") == 0 ||
        strcmp(host, "localhost") == 0) {
        struct sockaddr_in *sa = (struct sockaddr_in *)ss;
        sa->sin_family = AF_INET;
        sa->sin_addr.s_addr = htonl(host && strcmp(host, "localhost") == 0 ? INADDR_LOOPBACK
                                                                           : INADDR_ANY);
        sa->sin_port = htons(port);
        *len = sizeof *sa;
    } else if (strchr(host, ':')) {
        struct sockaddr_in6 *sa = (struct sockaddr_in6 *)ss;
        sa->sin6_family = AF_INET6;
        if (inet_pton(AF_INET6, host, &sa->sin6_addr) != 1) return -EINVAL;
        sa->sin6_port = htons(port);
        *len = sizeof *sa;
    } else {
        struct sockaddr_in *sa = (struct sockaddr_in *)ss;
        sa->sin_family = AF_INET;
        if (inet_pton(AF_INET, host, &sa->sin_addr) != 1) return -EINVAL;
        sa->sin_port = htons(port);
        *len = sizeof *sa;
    }
    return 0;
}

int rt_bind_tcp(const char *host, uint16_t port, bool reuseport)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int r = rt_addr_parse(host, port, &ss, &sl);
    if (r < 0) return r;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    /* SO_REUSEADDR: a restart may bind while the last run's connections sit in TIME_WAIT. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) ||
        bind(fd, (struct sockaddr *)&ss, sl) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

int rt_listen(int fd) { return listen(fd, RT_LISTEN_BACKLOG) < 0 ? -errno : 0; }

int rt_listen_tcp(const char *host, uint16_t port, bool reuseport)
{
    int fd = rt_bind_tcp(host, port, reuseport);
    if (fd < 0) return fd;
    int r = rt_listen(fd);
    if (r < 0) {
        close(fd);
        return r;
    }
    return fd;
}

int rt_port_probe(const char *host, uint16_t port)
{
    /* Without SO_REUSEPORT the bind conflicts with every socket on the port, including a
     * SO_REUSEPORT group another process (of our uid) would let us join silently. */
    int fd = rt_bind_tcp(host, port, false);
    if (fd < 0) return fd;
    /* Another SO_REUSEADDR socket bound without listening does not conflict with a bind, only
     * with listen. */
    int r = rt_listen(fd);
    close(fd);
    return r;
}

int rt_name_lock(const char *name)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    size_t n = strlen(name);
    if (n == 0 || n + 1 > sizeof sa.sun_path) return -ENAMETOOLONG;
    memcpy(sa.sun_path + 1, name, n); /* sun_path[0] == 0: the abstract namespace */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    if (bind(fd, (struct sockaddr *)&sa,
             (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

int rt_socket_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) return -errno;
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

int rt_socket_tune(int fd)
{
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) return -errno;
    return 0;
}
