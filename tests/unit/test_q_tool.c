/* tools/ringq_log_main.c: build/ringq-log verify | stats | dump | salvage, --help and --version,
 * run as a process on logs made here (the binary is found beside the tests directory:
 * $BUILD/ringq-log). */
#include "test_q_util.h"

#include "core/rt_log.h"
#include "core/rt_version.h"
#include "queue/q_part.h"

#include <libgen.h>
#include <sys/wait.h>

#define SEG (64u * 1024u)
#define MAXLEN 300u

static char g_tool[4096];

/* Runs a shell line; returns its exit code and its stdout in out. */
static int run_line(const char *line, char *out, size_t n)
{
    FILE *p = popen(line, "r");
    ck_assert_ptr_nonnull(p);
    size_t k = fread(out, 1, n - 1, p);
    out[k] = 0;
    char sink[4096];
    while (fread(sink, 1, sizeof sink, p) > 0) {} /* never SIGPIPE the tool */
    int st = pclose(p);
    ck_assert(WIFEXITED(st));
    return WEXITSTATUS(st);
}

/* Runs the tool; returns its exit code and its stdout in out. */
static int tool(const char *cmd, const char *dir, char *out, size_t n)
{
    char line[8192];
    snprintf(line, sizeof line, "%s %s %s 2>/dev/null", g_tool, cmd, dir);
    return run_line(line, out, n);
}

/* 700 records committed, then `loose` more no commit covered (past the synced watermark). */
static uint64_t make_log(const char *dir, uint64_t loose)
{
    q_log_opts o;
    tq_opts(&o, SEG);
    q_log *log;
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    uint64_t off = 0;
    for (; off < 700; off++) ck_assert_int_eq(tq_append(log, off, MAXLEN), (int64_t)off);
    ck_assert_int_eq(q_log_commit(log), 0);
    for (; off < 700 + loose; off++) ck_assert_int_eq(tq_append(log, off, MAXLEN), (int64_t)off);
    ck_assert_int_eq(q_log_close(log), 0);
    return off;
}

static void flip(const char *dir, uint64_t base, uint32_t pos)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%020llu.qseg", dir, (unsigned long long)base);
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    uint8_t b;
    ck_assert_int_eq(pread(fd, &b, 1, pos), 1);
    b ^= 0x10;
    ck_assert_int_eq(pwrite(fd, &b, 1, pos), 1);
    close(fd);
}

START_TEST(verify_stats_dump_salvage)
{
    if (access(g_tool, X_OK) != 0) {
        printf("SKIP: %s not built\n", g_tool);
        return;
    }
    char dir[64], out[1 << 16];
    tq_mkdtemp(dir);
    uint64_t n = make_log(dir, 0);
    ck_assert_int_eq(tool("verify", dir, out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "ok: segments="));
    ck_assert_int_eq(tool("stats", dir, out, sizeof out), 0);
    char want[64];
    snprintf(want, sizeof want, "records=%llu ", (unsigned long long)n);
    ck_assert_ptr_nonnull(strstr(out, want));
    char args[256];
    snprintf(args, sizeof args, "%s --limit 1", dir);
    ck_assert_int_eq(tool("dump", args, out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "offset=0 id=0 type=0"));
    ck_assert_ptr_null(strstr(out, "offset=1 "));
    snprintf(args, sizeof args, "%s --from %llu", dir, (unsigned long long)n - 1);
    ck_assert_int_eq(tool("dump", args, out, sizeof out), 0);
    snprintf(want, sizeof want, "offset=%llu ", (unsigned long long)n - 1);
    ck_assert_ptr_nonnull(strstr(out, want));
    snprintf(args, sizeof args, "%s --segments", dir);
    ck_assert_int_eq(tool("stats", args, out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "segment=00000000000000000000.qseg first=0"));
    /* Damage in the first (sealed) segment: record 3's payload. */
    uint32_t pos = Q_SEG_HDR_BYTES;
    for (uint64_t off = 0; off < 3; off++) pos += (uint32_t)q_rec_span(tq_len(off, MAXLEN));
    flip(dir, 0, pos + Q_REC_HDR_BYTES - 2);
    ck_assert_int_eq(tool("verify", dir, out, sizeof out), 1);
    snprintf(want, sizeof want, "damage: file=00000000000000000000.qseg pos=%u offset=3", pos);
    ck_assert_msg(strstr(out, want) != NULL, "got: %s", out);
    ck_assert_int_eq(tool("salvage", dir, out, sizeof out), 0);
    ck_assert_int_eq(tool("verify", dir, out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "next=3"));
    tq_rmdir(dir);
}
END_TEST

START_TEST(torn_tail_and_damaged_tail)
{
    if (access(g_tool, X_OK) != 0) return;
    char dir[64], out[1 << 16], want[256];
    tq_mkdtemp(dir);
    uint64_t n = make_log(dir, 3);
    q_log_opts o;
    tq_opts(&o, SEG);
    o.read_only = true;
    q_log *log;
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    q_log_stats st;
    q_log_get_stats(log, &st);
    char name[64];
    uint64_t base, end;
    uint32_t used, bytes;
    ck_assert_int_eq(q_log_segment_info(log, st.segments - 1, name, &base, &end, &used, &bytes), 0);
    ck_assert_int_eq(q_log_close(log), 0);
    ck_assert_uint_eq(end, n);
    ck_assert_uint_ge(n - base, 5);
    /* Past the synced end (the last record, never committed): a torn tail. */
    flip(dir, base, used - 3); /* the last record's padding or payload */
    ck_assert_int_eq(tool("verify", dir, out, sizeof out), 2);
    ck_assert_ptr_nonnull(strstr(out, "torn tail: file="));
    flip(dir, base, used - 3);
    /* Before it (record n - 5, committed): damage, file, position and offset named. */
    uint32_t pos = Q_SEG_HDR_BYTES;
    for (uint64_t off = base; off < n - 5; off++) pos += (uint32_t)q_rec_span(tq_len(off, MAXLEN));
    flip(dir, base, pos + Q_REC_HDR_BYTES);
    ck_assert_int_eq(tool("verify", dir, out, sizeof out), 1);
    snprintf(want, sizeof want, "damage: file=%s pos=%u offset=%llu", name, pos,
             (unsigned long long)(n - 5));
    ck_assert_msg(strstr(out, want) != NULL, "got: %s", out);
    /* salvage is the way out: what is before the damage stays, the rest is set aside. */
    ck_assert_int_eq(tool("salvage", dir, out, sizeof out), 0);
    snprintf(want, sizeof want, "set aside: %s/salvaged/%s", dir, name);
    ck_assert_msg(strstr(out, want) != NULL, "got: %s", out);
    ck_assert_int_eq(tool("verify", dir, out, sizeof out), 0);
    snprintf(want, sizeof want, "next=%llu", (unsigned long long)(n - 5));
    ck_assert_msg(strstr(out, want) != NULL, "got: %s", out);
    ck_assert_int_eq(tool("verify", "/tmp/ringq-qtest-no-such-log", out, sizeof out), 1);
    tq_rmdir(dir);
}
END_TEST

/* dump names each record's type (and the queue it names); a partition's own records. */
START_TEST(dump_names_record_types)
{
    if (access(g_tool, X_OK) != 0) return;
    char dir[64], out[1 << 16];
    tq_mkdtemp(dir);
    q_part_opts o;
    q_part_opts_default(&o);
    o.log.policy = Q_COMMIT_NEVER;
    q_part *p;
    const uint64_t now = 1700000000123ull;
    ck_assert_int_eq(q_part_open(dir, 0, &o, now, &p, NULL), 0);
    q_task_spec s = {.payload = (const uint8_t *)"hi", .payload_len = 2};
    q_enq_result r;
    uint64_t commit, n;
    q_err e;
    ck_assert_int_eq(q_part_enqueue(p, "mail", 4, &s, 1, now, &r, &commit, &e), Q_OK);
    q_leased l;
    uint32_t got;
    ck_assert_int_eq(q_part_lease(p, "mail", 4, 1, 0, now, &l, &got, &e), Q_OK);
    ck_assert_uint_eq(got, 1);
    q_item it;
    ck_assert_int_eq(q_part_ack(p, &r.id, &l.token, 1, now, &it, &commit, &e), Q_OK);
    ck_assert_int_eq(q_part_purge(p, "mail", 4, now, &n, &commit, &e), Q_OK);
    ck_assert_int_eq(q_part_delete_queue(p, "mail", 4, false, now, &n, &commit, &e), Q_OK);
    ck_assert_int_eq(q_log_commit(q_part_log(p)), 0);
    ck_assert_int_eq(q_part_close(p), 0);
    ck_assert_int_eq(tool("dump", dir, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "offset=0 id=0 type=enqueue queue=mail ") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "offset=1 id=1 type=ack ") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "offset=2 id=2 type=purge queue=mail ") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "offset=3 id=3 type=queue-delete queue=mail ") != NULL, "%s", out);
    /* One time format: RFC 3339 UTC with milliseconds (the record's write time). */
    ck_assert_msg(strstr(out, "ts=20") != NULL && strstr(out, "Z payload=") != NULL, "%s", out);
    const char *ts = strstr(out, "ts=") + 3;
    ck_assert_msg(ts[19] == '.' && ts[23] == 'Z', "%s", out);
    tq_rmdir(dir);
}
END_TEST

/* --help goes to stdout with exit 0; --version too; a bad command line is 64 on stderr. */
START_TEST(help_and_version)
{
    if (access(g_tool, X_OK) != 0) return;
    char line[8192], out[1 << 16];
    snprintf(line, sizeof line, "%s --help 2>/dev/null", g_tool);
    ck_assert_int_eq(run_line(line, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "usage: ringq-log") != NULL, "%s", out);
    ck_assert_ptr_nonnull(strstr(out, "queue-delete"));
    snprintf(line, sizeof line, "%s dump -h 2>/dev/null", g_tool);
    ck_assert_int_eq(run_line(line, out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "usage: ringq-log"));
    snprintf(line, sizeof line, "%s --version 2>/dev/null", g_tool);
    ck_assert_int_eq(run_line(line, out, sizeof out), 0);
    ck_assert_msg(strncmp(out, "ringq-log " RT_VERSION " (", 11 + strlen(RT_VERSION)) == 0, "%s",
                  out);
    snprintf(line, sizeof line, "%s bogus 2>/dev/null", g_tool);
    ck_assert_int_eq(run_line(line, out, sizeof out), 64);
    ck_assert_str_eq(out, "");
}
END_TEST

int main(int argc, char **argv)
{
    (void)argc;
    char self[4096];
    snprintf(self, sizeof self, "%s", argv[0]);
    snprintf(g_tool, sizeof g_tool, "%s/../ringq-log", dirname(self));
    log_set_level(LOG_WARN);
    const TTest *tests[] = {verify_stats_dump_salvage, torn_tail_and_damaged_tail,
                            dump_names_record_types, help_and_version};
    return tq_run("q_tool", "tool", 60, tests, sizeof tests / sizeof tests[0]);
}
