/* server/srv_meta: the data directory (ringq.meta: format and partition count) and the
 * process-wide set-up of the queue service (srv_queue_setup). See srv_queue.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/rt_alloc.h"
#include "queue/q_consumer.h"
#include "server/srv_queue_int.h"

#define META_FILE "ringq.meta"
#define META_FORMAT 1

static int read_meta(const char *path, uint32_t *parts)
{
    FILE *f = fopen(path, "r");
    if (!f) return -errno;
    unsigned fmt = 0, p = 0;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        sscanf(line, "format=%u", &fmt);
        sscanf(line, "partitions=%u", &p);
    }
    fclose(f);
    if (fmt != META_FORMAT || p == 0 || p > SRV_PARTITIONS_MAX) return -EBADMSG;
    *parts = p;
    return 0;
}

static int write_meta(const char *dir, uint32_t parts)
{
    char tmp[4200], path[4200];
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, META_FILE);
    snprintf(path, sizeof path, "%s/%s", dir, META_FILE);
    FILE *f = fopen(tmp, "w");
    if (!f) return -errno;
    fprintf(
        f,
        "# ringq data directory. Do not edit: the partition count is fixed.\nformat=%d\npartitions=%u\n",
        META_FORMAT, parts);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        fclose(f);
        return -errno;
    }
    fclose(f);
    if (rename(tmp, path) != 0) return -errno;
    int d = open(dir, O_RDONLY | O_DIRECTORY);
    if (d >= 0) {
        fsync(d);
        close(d);
    }
    return 0;
}

srv_rc srv_queue_setup(const srv_queue_opts *o, int nshards)
{
    snprintf(srv_q.data_dir, sizeof srv_q.data_dir, "%s", o->data_dir);
    /* Streams' consumer records are replayed by the consumer layer: its hooks go in before any
     * partition opens (queue/q_consumer.h). */
    q_consumer_hooks_install();
    if (mkdir(o->data_dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "ringqd: cannot create data directory %s: %s\n", o->data_dir,
                strerror(errno));
        return SRV_RC_SAID;
    }
    if (srv_queue_lock_dir(o->data_dir) < 0) return SRV_RC_SAID; /* it printed why */
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", o->data_dir, META_FILE);
    uint32_t parts = 0;
    int r = read_meta(path, &parts);
    if (r == -ENOENT) {
        parts = o->partitions ? o->partitions : SRV_PARTITIONS_DEFAULT;
        if (parts > SRV_PARTITIONS_MAX) {
            fprintf(stderr, "ringqd: --partitions must be 1..%u\n", SRV_PARTITIONS_MAX);
            return SRV_RC_SAID;
        }
        r = write_meta(o->data_dir, parts);
        if (r < 0) {
            fprintf(stderr, "ringqd: cannot write %s: %s\n", path, strerror(-r));
            return SRV_RC_SAID;
        }
    } else if (r < 0) {
        fprintf(stderr, "ringqd: %s is unreadable or damaged (%s)\n", path, strerror(-r));
        return SRV_RC_SAID;
    } else if (o->partitions && o->partitions != parts) {
        fprintf(stderr, "ringqd: %s has %u partitions; --partitions %u cannot change it\n",
                o->data_dir, parts, o->partitions);
        return SRV_RC_SAID;
    }
    srv_q.nparts = parts;
    srv_q.nshards = nshards;
    srv_q.log = o->log;
    srv_q.max_msg_bytes = o->max_msg_bytes ? o->max_msg_bytes : (size_t)4 << 20;
    wk_mesh_opts mo = {.n_shards = nshards, .spin_ns = o->spin_ns, .busy_spin_ns = o->busy_spin_ns};
    if (wk_mesh_create(&mo, &srv_q.mesh) != 0) {
        fprintf(stderr, "ringqd: cannot create the shard mesh\n");
        return SRV_RC_SAID;
    }
    srv_q.shards = rt_calloc((size_t)nshards, sizeof *srv_q.shards);
    if (!srv_q.shards) {
        fprintf(stderr, "ringqd: out of memory setting up %d shards\n", nshards);
        return SRV_RC_SAID;
    }
    return SRV_RC_OK;
}
