/* ringq-operator: /healthz and /metrics (ko_serve.h). */
#include "k8s/operator/ko_serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "k8s/operator/ko_metrics.h"

struct ko_serve {
    int fd;
    int stop_pipe[2];
    pthread_t th;
};

static int ko_metrics_text(char *buf, size_t len)
{
    static const struct {
        const char *name, *type, *help;
        atomic_ulong *v;
    } ctr[] = {
        {"ringq_operator_api_requests_total", "counter", "API calls answered", &ko_m.api_requests},
        {"ringq_operator_api_errors_total", "counter", "API calls with no answer",
         &ko_m.api_errors},
        {"ringq_operator_api_conflicts_total", "counter", "409 Conflict answers",
         &ko_m.api_conflicts},
        {"ringq_operator_watch_events_total", "counter", "watch events", &ko_m.watch_events},
        {"ringq_operator_watch_bookmarks_total", "counter", "watch bookmarks",
         &ko_m.watch_bookmarks},
        {"ringq_operator_watch_expired_total", "counter", "410 Gone: relists", &ko_m.watch_expired},
        {"ringq_operator_lists_total", "counter", "full lists", &ko_m.lists},
        {"ringq_operator_reconciles_total", "counter", "reconciles done", &ko_m.reconciles},
        {"ringq_operator_reconcile_errors_total", "counter", "reconciles failed",
         &ko_m.reconcile_errors},
        {"ringq_operator_objects_created_total", "counter", "owned objects created",
         &ko_m.objects_created},
        {"ringq_operator_objects_updated_total", "counter", "owned objects corrected",
         &ko_m.objects_updated},
        {"ringq_operator_pods_rolled_total", "counter", "pods deleted by a rollout",
         &ko_m.pods_rolled},
        {"ringq_operator_leader_transitions_total", "counter", "times this process became leader",
         &ko_m.leader_transitions},
    };
    size_t n = 0;
    for (size_t i = 0; i < sizeof ctr / sizeof ctr[0] && n < len; i++) {
        n += (size_t)snprintf(buf + n, len - n, "# HELP %s %s\n# TYPE %s %s\n%s %lu\n", ctr[i].name,
                              ctr[i].help, ctr[i].name, ctr[i].type, ctr[i].name,
                              atomic_load(ctr[i].v));
    }
    if (n < len)
        n += (size_t)snprintf(buf + n, len - n,
                              "# HELP ringq_operator_leader 1 while this process holds the lease\n"
                              "# TYPE ringq_operator_leader gauge\nringq_operator_leader %d\n"
                              "# HELP ringq_operator_workqueue_depth keys waiting\n"
                              "# TYPE ringq_operator_workqueue_depth gauge\n"
                              "ringq_operator_workqueue_depth %d\n",
                              atomic_load(&ko_m.is_leader), atomic_load(&ko_m.queue_depth));
    return n < len ? (int)n : -ENOSPC;
}

static void ko_serve_conn(int fd)
{
    char req[KO_SERVE_REQ_BYTES_MAX];
    size_t n = 0;
    while (n < sizeof req - 1) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, KO_SERVE_CONN_TIMEOUT_MS) <= 0) return;
        ssize_t r = recv(fd, req + n, sizeof req - 1 - n, 0);
        if (r <= 0) return;
        n += (size_t)r;
        req[n] = '\0';
        if (strstr(req, "\r\n\r\n")) break;
    }
    static char body[KO_SERVE_BODY_BYTES_MAX]; /* one connection at a time: one buffer */
    const char *status = "404 Not Found", *ctype = "text/plain";
    int blen;
    if (strncmp(req, "GET /healthz ", 13) == 0 || strncmp(req, "GET /healthz?", 13) == 0) {
        status = "200 OK";
        blen = snprintf(body, sizeof body, "ok\n");
    } else if (strncmp(req, "GET /metrics ", 13) == 0) {
        status = "200 OK";
        ctype = "text/plain; version=0.0.4";
        blen = ko_metrics_text(body, sizeof body);
        if (blen < 0) blen = 0;
    } else {
        blen = snprintf(body, sizeof body, "not found\n");
    }
    char head[256];
    int hlen = snprintf(head, sizeof head,
                        "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
                        "Connection: close\r\n\r\n",
                        status, ctype, blen);
    if (send(fd, head, (size_t)hlen, MSG_NOSIGNAL) == hlen)
        send(fd, body, (size_t)blen, MSG_NOSIGNAL);
}

static void *ko_serve_main(void *arg)
{
    ko_serve *s = arg;
    for (;;) {
        struct pollfd p[2] = {{.fd = s->fd, .events = POLLIN},
                              {.fd = s->stop_pipe[0], .events = POLLIN}};
        if (poll(p, 2, -1) < 0 && errno != EINTR) break;
        if (p[1].revents) break;
        if (!(p[0].revents & POLLIN)) continue;
        int c = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) continue;
        ko_serve_conn(c);
        close(c);
    }
    return NULL;
}

int ko_serve_start(ko_serve **out, const char *host, int port, int *bound_port)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    if (getaddrinfo(host, ps, &hints, &ai) != 0 || !ai) return -EADDRNOTAVAIL;
    ko_serve *s = calloc(1, sizeof *s);
    int r = s ? 0 : -ENOMEM;
    int one = 1;
    if (!r) s->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (!r && s->fd < 0) r = -errno;
    if (!r) setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (!r && (bind(s->fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(s->fd, 64) != 0)) r = -errno;
    freeaddrinfo(ai);
    struct sockaddr_storage sa;
    socklen_t sl = sizeof sa;
    if (!r && getsockname(s->fd, (struct sockaddr *)&sa, &sl) != 0) r = -errno;
    if (!r)
        *bound_port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                                     : ((struct sockaddr_in *)&sa)->sin_port);
    if (!r && pipe2(s->stop_pipe, O_CLOEXEC) != 0) r = -errno;
    if (!r) r = -pthread_create(&s->th, NULL, ko_serve_main, s);
    if (r) {
        if (s && s->fd > 0) close(s->fd);
        free(s);
        return r;
    }
    *out = s;
    return 0;
}

void ko_serve_stop(ko_serve *s)
{
    if (!s) return;
    ssize_t w = write(s->stop_pipe[1], "x", 1);
    (void)w;
    pthread_join(s->th, NULL);
    close(s->fd);
    close(s->stop_pipe[0]);
    close(s->stop_pipe[1]);
    free(s);
}
