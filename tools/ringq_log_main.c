/* ringq-log: inspect a log directory.
 *
 *   ringq-log dump    DIR [--from OFFSET] [--limit N]   one line per record: its type by name
 *                             (enqueue, ack, retry, dead, ...; docs/storage.md), the queue it
 *                             names, a payload preview
 *   ringq-log verify  DIR     every checksum of every segment; exit 0 clean, 1 damage (in a
 *                             sealed segment, or before the tail's synced end: the server
 *                             refuses to start; file, position and offset printed), 2 torn tail
 *                             (past the synced end: cut on next open, a copy kept)
 *   ringq-log stats   DIR     segments, records, bytes, live range; --segments for each one
 *   ringq-log salvage DIR     opens for writing and keeps everything before the damage; a copy
 *                             of the damaged segment and the later segments go to DIR/salvaged/
 *
 * --help prints the usage to stdout (exit 0), --version the version; a bad command line prints
 * it to stderr (exit 64).
 *
 * dump, verify and stats never write (read-only open: no lock, the tail is cut in memory only).
 * Progress goes to stderr while segments are checked. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/rt_log.h"
#include "core/rt_version.h"
#include "queue/q_log.h"
#include "queue/q_part_rec.h"
#include "tools/ringq_fmt.h"

#define EXIT_DAMAGE 1
#define EXIT_TORN 2
#define EXIT_USAGE 64
#define PREVIEW_BYTES 24 /* payload bytes shown per record by dump */

static const char USAGE[] =
    "usage: ringq-log COMMAND DIR [OPTIONS]\n"
    "\n"
    "  dump    DIR [--from OFFSET] [--limit N]  one line per record: offset, id, type by name\n"
    "                                           (enqueue, ack, retry, dead, delete, redrive,\n"
    "                                           purge, queue, state, dedup, queue-delete), the\n"
    "                                           queue it names, a payload preview\n"
    "  verify  DIR     every checksum; exit 0 clean, 1 damage, 2 torn tail\n"
    "  stats   DIR [--segments]   segments, records, bytes, live range\n"
    "  salvage DIR     keep everything before damage; later segments go to DIR/salvaged/\n"
    "\n"
    "  -h, --help      this text;  --version  the version\n"
    "dump, verify and stats never write. Exit 64: bad command line.\n";

static void usage(void)
{
    fputs(USAGE, stderr);
    exit(EXIT_USAGE);
}

static void on_progress(void *ud, uint32_t done, uint32_t total)
{
    bool tty = *(bool *)ud;
    if (tty) fprintf(stderr, "\rchecking segments: %u/%u", done, total);
    else if (done % 64 == 0 || done == total)
        fprintf(stderr, "checking segments: %u/%u\n", done, total);
    if (tty && done == total) fputc('\n', stderr);
}

static void print_err(const char *what, const char *dir, const q_log_err *e)
{
    printf("%s: file=%s pos=%" PRIu64 " offset=%" PRIu64 " bytes=%" PRIu64 " synced=%" PRIu64
           " why=\"%s\"\n",
           what, e->file, e->pos, e->offset, e->bytes, e->synced, e->why ? e->why : "");
    if (e->kept[0]) printf("set aside: %s/%s\n", dir, e->kept);
}

static int open_log(const char *dir, bool write, bool salvage, q_log **log, q_log_err *err)
{
    static bool tty;
    tty = isatty(2);
    q_log_opts o;
    q_log_opts_default(&o);
    o.read_only = !write;
    o.no_create = true;
    o.salvage = salvage;
    o.progress = on_progress;
    o.progress_ud = &tty;
    int r = q_log_open(dir, &o, log, err);
    if (r == -EBADMSG) {
        print_err("damage", dir, err);
        return EXIT_DAMAGE;
    }
    if (r) {
        fprintf(stderr, "ringq-log: cannot open %s: %s\n", dir, strerror(-r));
        return EXIT_DAMAGE;
    }
    return 0;
}

/* The record's type by name and, when it names one, its queue ("enqueue queue=mail"); the
 * number for a type this build does not know. */
static void print_type(const q_rec *r)
{
    const char *name = q_prec_type_name(r->type);
    if (!name) {
        printf("%u", r->type);
        return;
    }
    fputs(name, stdout);
    q_enq_rec er;
    q_prec pr;
    if (r->type == Q_RT_ENQUEUE) {
        if (q_enq_decode(r->payload, r->len, &er) == 0)
            printf(" queue=%.*s", (int)er.queue_len, er.queue);
    } else if (q_prec_decode(r->type, r->payload, r->len, &pr) == 0 && pr.name) {
        printf(" queue=%.*s", (int)pr.name_len, pr.name);
    }
}

static int cmd_dump(q_log *log, uint64_t from, uint64_t limit)
{
    if (from < q_log_oldest(log)) from = q_log_oldest(log);
    q_iter it;
    q_iter_init(&it, log, from, false);
    q_rec r;
    int k;
    uint64_t n = 0;
    while (n < limit && (k = q_iter_next(&it, &r)) == 1) {
        char ts[FMT_TIME_BYTES];
        fmt_time_str(ts, r.ts_ns / 1000000ull);
        printf("offset=%" PRIu64 " id=%" PRIu64 " type=", r.offset, r.id);
        print_type(&r);
        printf(" flags=0x%x len=%u ts=%s payload=", r.flags, r.len, ts); /* RFC 3339 UTC */
        for (uint32_t i = 0; i < r.len && i < PREVIEW_BYTES; i++) printf("%02x", r.payload[i]);
        printf("%s\n", r.len > PREVIEW_BYTES ? "..." : "");
        n++;
    }
    return 0;
}

static int cmd_stats(q_log *log, bool segments)
{
    q_log_stats st;
    q_log_get_stats(log, &st);
    printf("segments=%u records=%" PRIu64 " disk_bytes=%" PRIu64 " used_bytes=%" PRIu64
           " oldest=%" PRIu64 " next=%" PRIu64 "\n",
           st.segments, st.records, st.disk_bytes, st.used_bytes, st.oldest, st.next);
    for (uint32_t i = 0; segments && i < st.segments; i++) {
        char name[64];
        uint64_t base, end;
        uint32_t used, bytes;
        q_log_segment_info(log, i, name, &base, &end, &used, &bytes);
        printf("segment=%s first=%" PRIu64 " end=%" PRIu64 " records=%" PRIu64
               " used=%u bytes=%u\n",
               name, base, end, end - base, used, bytes);
    }
    return 0;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(USAGE, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("ringq-log %s (%s)\n", RT_VERSION, RT_VERSION_GIT);
            return 0;
        }
    }
    if (argc < 3) usage();
    const char *cmd = argv[1], *dir = argv[2];
    uint64_t from = 0, limit = UINT64_MAX;
    bool segments = false;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--from") == 0 && i + 1 < argc) from = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc)
            limit = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--segments") == 0) segments = true;
        else usage();
    }
    bool salvage = strcmp(cmd, "salvage") == 0;
    if (!salvage && strcmp(cmd, "dump") && strcmp(cmd, "verify") && strcmp(cmd, "stats")) usage();
    log_set_level(LOG_ERROR); /* the findings are printed below, once */
    q_log *log;
    q_log_err err;
    int rc = open_log(dir, salvage, salvage, &log, &err);
    if (rc) return rc;
    if (strcmp(cmd, "dump") == 0) rc = cmd_dump(log, from, limit);
    else if (strcmp(cmd, "stats") == 0) rc = cmd_stats(log, segments);
    else if (salvage) {
        if (err.why) print_err("salvaged", dir, &err);
        rc = cmd_stats(log, false);
    } else {
        q_log_stats st;
        q_log_get_stats(log, &st);
        if (err.why) {
            print_err("torn tail", dir, &err);
            rc = EXIT_TORN;
        } else {
            printf("ok: segments=%u records=%" PRIu64 " oldest=%" PRIu64 " next=%" PRIu64 "\n",
                   st.segments, st.records, st.oldest, st.next);
        }
    }
    q_log_close(log);
    return rc;
}
