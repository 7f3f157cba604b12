/* server/srv_api_info: the JSON API's routes that are not Admin methods.
 *
 *   GET /api/v1/server          version, uptime, fsync policy, partitions, shards, disk use,
 *                               the dashboard's mode and whether changes need a token
 *   GET /api/v1/rates           per-second totals of the last 15 minutes (srv_rates.h)
 *   GET /api/v1/rates/{queue}   the same for one queue */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/rt_clock.h"
#include "core/rt_version.h"
#include "proto_wire/pw_json.h"
#include "server/srv_api.h"
#include "server/srv_api_int.h"
#include "server/srv_internal.h"
#include "server/srv_part.h"
#include "server/srv_rates.h"

/* Directory entries the disk-use walk looks at: a data directory holds a few files per
 * partition (segments, a lock); beyond this the figure says it is partial. */
#define DISK_WALK_ENTRIES_MAX 100000u

/* Bytes allocated on disk under `dir` (one level of subdirectories). *partial when the walk
 * stopped early or a directory could not be read. */
static uint64_t disk_bytes(const char *dir, int depth, unsigned *seen, bool *partial)
{
    DIR *d = opendir(dir);
    if (!d) {
        *partial = true;
        return 0;
    }
    uint64_t sum = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (++*seen > DISK_WALK_ENTRIES_MAX) {
            *partial = true;
            break;
        }
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        if (S_ISDIR(st.st_mode) && depth > 0) {
            char sub[4096 + 256];
            snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
            sum += disk_bytes(sub, depth - 1, seen, partial);
        } else if (S_ISREG(st.st_mode)) {
            sum += (uint64_t)st.st_blocks * 512u;
        }
    }
    closedir(d);
    return sum;
}

static const char *policy_name(char *b, size_t n)
{
    switch (srv_q.log.policy) {
    case Q_COMMIT_ALWAYS: return "always";
    case Q_COMMIT_NEVER: return "never";
    default: snprintf(b, n, "interval:%u", srv_q.log.interval_ms); return b;
    }
}

static void server_info(srv_http_call *hc)
{
    const srv_runtime *rt = hc->c->sh->rt;
    unsigned seen = 0;
    bool partial = false;
    uint64_t disk = disk_bytes(srv_q.data_dir, 2, &seen, &partial);
    uint64_t now = rt_wall_ns();
    char pol[32];
    static const char *const ui[] = {"on", "read-only", "off"};
    char t[1024];
    int n = snprintf(
        t, sizeof t,
        "{\"version\":\"%s\",\"git\":\"%s\",\"uptime_s\":%llu,\"now_unix_ms\":%llu,"
        "\"fsync\":\"%s\",\"partitions\":%u,\"shards\":%d,\"disk_bytes\":%llu,"
        "\"disk_partial\":%s,\"ui\":\"%s\",\"token_required\":%s,\"auth_file\":%s,"
        "\"rates_seconds\":%u,"
        "\"rates_queues_max\":%u}\n",
        RT_VERSION, RT_VERSION_GIT,
        (unsigned long long)(now > rt->start_wall_ns ? (now - rt->start_wall_ns) / 1000000000u : 0),
        (unsigned long long)(now / 1000000u), policy_name(pol, sizeof pol), srv_q.nparts,
        srv_q.nshards, (unsigned long long)disk, partial ? "true" : "false", ui[srv_api.ui],
        srv_api.token_len > 0 || srv_auth_enabled() ? "true" : "false",
        srv_auth_enabled() ? "true" : "false", SRV_RATES_SECONDS, SRV_RATES_QUEUES_MAX);
    srv_api_ok(hc);
    if (buf_append(&hc->body_out, t, (size_t)n) < 0)
        srv_api_error(hc, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
}

static void rates(srv_http_call *hc, const char *q, size_t n)
{
    char name[Q_QUEUE_NAME_BYTES_MAX * 3 + 1];
    if (q && n >= sizeof name) {
        srv_api_error(hc, PW_GRPC_INVALID_ARGUMENT, "queue name too long");
        return;
    }
    if (q) {
        memcpy(name, q, n);
        n = srv_api_pct_decode(name, n, false);
    }
    srv_api_ok(hc);
    int rc = srv_rates_json(&hc->body_out, q ? name : NULL, n);
    if (rc == -ENOENT)
        srv_api_error(hc, PW_GRPC_NOT_FOUND,
                      "no rates for that queue (unknown, new this second, or past the 256 "
                      "queues charted)");
    else if (rc < 0) srv_api_error(hc, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
}

/* Under --auth-file: `metrics` (or admin) on `*`, or on the queue of /rates/{queue}. */
static bool info_authorized(srv_http_call *hc, const char *q, size_t n)
{
    char name[Q_QUEUE_NAME_BYTES_MAX * 3 + 1];
    if (!q || n >= sizeof name)
        return srv_api_authorize(hc, SRV_API_NEED_COUNTS, SRV_AUTH_ALL, NULL, 0);
    memcpy(name, q, n);
    n = srv_api_pct_decode(name, n, false);
    return srv_api_authorize(hc, SRV_API_NEED_COUNTS, SRV_AUTH_QUEUE, name, n);
}

bool srv_api_info_route(srv_http_call *hc, const char *p, size_t n, srv_http_when *w)
{
    *w = SRV_HTTP_NOW;
    bool get = pw_http1_view_eq(hc->method, "GET") || pw_http1_view_eq(hc->method, "HEAD");
    bool is_server = n == 6 && memcmp(p, "server", 6) == 0;
    bool is_rates = n == 5 && memcmp(p, "rates", 5) == 0;
    bool is_qrates = n > 6 && memcmp(p, "rates/", 6) == 0 && !memchr(p + 6, '/', n - 6);
    if (!is_server && !is_rates && !is_qrates) return false;
    if (!get) {
        srv_api_error(hc, PW_GRPC_UNIMPLEMENTED, "method not allowed on this path");
        hc->status = 405, hc->reason = "Method Not Allowed";
    } else if (!info_authorized(hc, is_qrates ? p + 6 : NULL, is_qrates ? n - 6 : 0)) {
        /* answered: 401 or 403 */
    } else if (is_server) server_info(hc);
    else rates(hc, is_qrates ? p + 6 : NULL, is_qrates ? n - 6 : 0);
    return true;
}
