/* ringq-operator: /healthz and /metrics over plain HTTP/1.1 on a port of their own, served by
 * one thread (one short request per connection; the kubelet and Prometheus are the clients).
 *   /healthz  200 "ok" while the process runs its loops (a candidate is healthy too)
 *   /metrics  Prometheus text format, ko_metrics.h
 *   else      404 */
#ifndef KO_SERVE_H
#define KO_SERVE_H

/* Longest request head read, bytes: a GET line and a few headers. */
#define KO_SERVE_REQ_BYTES_MAX 4096
/* Largest answer, bytes: /metrics is about 3 KiB. */
#define KO_SERVE_BODY_BYTES_MAX 8192
/* One connection's limit, ms: a client that sends nothing is dropped. */
#define KO_SERVE_CONN_TIMEOUT_MS 2000

typedef struct ko_serve ko_serve;

/* Listens on host:port (port 0: any free one; *bound_port says which) and starts the thread.
 * 0 or -errno. */
int ko_serve_start(ko_serve **out, const char *host, int port, int *bound_port);
/* Stops and joins. NULL-safe. */
void ko_serve_stop(ko_serve *s);

#endif
