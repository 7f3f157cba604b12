/* tools/ringq_cmd_top: `ringq top`, a live full-screen table of the queues for people on a
 * server: ANSI escapes only (no curses), the terminal's alternate screen, redrawn every
 * interval; keys: q (or Ctrl-C) quits, s / S next / previous sort column, 1..8 a column, r
 * reverses, + / - the interval. Rates are the tasks counted between two refreshes (what
 * happened since the last screen), beside the server's own 10-s rates.
 *
 * On something that is not a terminal it prints the table once (what `ringq stats` prints,
 * sorted) and exits: there is nothing to redraw. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "tools/ringq_cli.h"
#include "tools/ringq_fmt.h"

/* Refresh interval bounds (ms): faster than 100 ms is a busy loop against the server; slower
 * than a minute is not live. */
#define TOP_INTERVAL_MS_MIN 100u
#define TOP_INTERVAL_MS_MAX 60000u
#define TOP_NAME_COLS 24 /* queue names longer than this are cut with "~" */

enum { K_NAME, K_READY, K_DELAYED, K_LEASED, K_DEAD, K_ENQ, K_ACK, K_FAIL, K_N };
static const char *const KEYS[K_N] = {"name", "ready", "delayed", "leased",
                                      "dead", "enq",   "ack",     "fail"};

typedef struct top_row {
    rq_queue_info q;
    double enq, ack, fail; /* per second since the previous refresh */
} top_row;

typedef struct top {
    int sort;
    bool reverse;
    uint32_t interval_ms;
    top_row *prev;
    size_t nprev;
    uint64_t prev_ns;
} top;

static volatile sig_atomic_t t_stop;
static void on_signal(int sig) { t_stop = sig; }

static double key_of(const top_row *r, int k)
{
    switch (k) {
    case K_READY: return (double)r->q.ready;
    case K_DELAYED: return (double)r->q.delayed;
    case K_LEASED: return (double)r->q.leased;
    case K_DEAD: return (double)r->q.dead;
    case K_ENQ: return r->enq;
    case K_ACK: return r->ack;
    default: return r->fail;
    }
}

static top *g_sort; /* qsort's context */
static int cmp_rows(const void *a, const void *b)
{
    const top_row *x = a, *y = b;
    int c;
    if (g_sort->sort == K_NAME) c = strcmp(x->q.name, y->q.name);
    else {
        double u = key_of(x, g_sort->sort), v = key_of(y, g_sort->sort);
        c = u < v ? 1 : u > v ? -1 : strcmp(x->q.name, y->q.name); /* numbers: largest first */
    }
    return g_sort->reverse ? -c : c;
}

/* Rows for qs[0..n) with rates against the previous refresh (a queue new since: 0). */
static top_row *rows_of(top *t, const rq_queue_info *qs, size_t n, uint64_t now_ns)
{
    top_row *rows = calloc(n ? n : 1, sizeof *rows);
    if (!rows) return NULL;
    double dt = t->prev_ns ? (double)(now_ns - t->prev_ns) / 1e9 : 0;
    for (size_t i = 0; i < n; i++) {
        rows[i].q = qs[i];
        for (size_t j = 0; dt > 0 && j < t->nprev; j++) {
            const rq_queue_info *p = &t->prev[j].q;
            if (strcmp(p->name, qs[i].name) != 0) continue;
            if (qs[i].enqueued_total >= p->enqueued_total)
                rows[i].enq = (double)(qs[i].enqueued_total - p->enqueued_total) / dt;
            if (qs[i].acked_total >= p->acked_total)
                rows[i].ack = (double)(qs[i].acked_total - p->acked_total) / dt;
            uint64_t f1 = qs[i].nacked_total + qs[i].expired_total,
                     f0 = p->nacked_total + p->expired_total;
            if (f1 >= f0) rows[i].fail = (double)(f1 - f0) / dt;
            break;
        }
    }
    g_sort = t;
    qsort(rows, n, sizeof *rows, cmp_rows);
    return rows;
}

static void head_cell(const top *t, int k, const char *label, int width)
{
    bool on = t->sort == k;
    printf("%s%*s%s ", on ? "\033[7m" : "", width, label, on ? "\033[0m" : "");
}

static void draw(const top *t, cli_args *a, const top_row *rows, size_t n, int height)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    char tb[FMT_TIME_BYTES];
    fmt_time_str(tb, (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u);
    uint64_t tot[4] = {0};
    for (size_t i = 0; i < n; i++) {
        tot[0] += rows[i].q.ready, tot[1] += rows[i].q.delayed;
        tot[2] += rows[i].q.leased, tot[3] += rows[i].q.dead;
    }
    printf("\033[H\033[2Jringq top  %s  %s  every %u ms  %zu queues\n", rq_client_addr(a->c), tb,
           t->interval_ms, n);
    printf("total ready %" PRIu64 "  delayed %" PRIu64 "  leased %" PRIu64 "  dead %" PRIu64
           "   sort: %s%s\n\n",
           tot[0], tot[1], tot[2], tot[3], KEYS[t->sort], t->reverse ? " (reversed)" : "");
    head_cell(t, K_NAME, "QUEUE", -TOP_NAME_COLS);
    head_cell(t, K_READY, "READY", 9);
    head_cell(t, K_DELAYED, "DELAYED", 9);
    head_cell(t, K_LEASED, "LEASED", 8);
    head_cell(t, K_DEAD, "DEAD", 8);
    head_cell(t, K_ENQ, "ENQ/s", 8);
    head_cell(t, K_ACK, "ACK/s", 8);
    head_cell(t, K_FAIL, "FAIL/s", 8);
    printf("STATE\n");
    int room = height - 6; /* title, totals, blank, header, help line, cursor line */
    for (size_t i = 0; i < n && (int)i < room; i++) {
        const top_row *r = &rows[i];
        char name[TOP_NAME_COLS + 1];
        size_t nl = strlen(r->q.name);
        snprintf(name, sizeof name, "%.*s%s", nl > TOP_NAME_COLS ? TOP_NAME_COLS - 1 : (int)nl,
                 r->q.name, nl > TOP_NAME_COLS ? "~" : "");
        printf("%-*s %9" PRIu64 " %9" PRIu64 " %8" PRIu64 " %s%8" PRIu64
               "%s %8.1f %8.1f %8.1f %s\n",
               TOP_NAME_COLS, name, r->q.ready, r->q.delayed, r->q.leased,
               r->q.dead ? "\033[31m" : "", r->q.dead, r->q.dead ? "\033[0m" : "", r->enq, r->ack,
               r->fail, r->q.paused ? "\033[33mpaused\033[0m" : "active");
    }
    if (n == 0) printf("no queues\n");
    if (room > 0 && n > (size_t)room) printf("... %zu more\n", n - (size_t)room);
    printf("\033[%d;1H\033[2mq quit  s/S sort  1-8 column  r reverse  +/- interval\033[0m",
           height > 0 ? height : 24);
    fflush(stdout);
}

/* One key press: false when it asks to quit. */
static bool on_key(top *t, char c)
{
    if (c == 'q' || c == 'Q' || c == 3 /* Ctrl-C in raw mode */) return false;
    if (c == 's') t->sort = (t->sort + 1) % K_N;
    else if (c == 'S') t->sort = (t->sort + K_N - 1) % K_N;
    else if (c >= '1' && c <= '0' + K_N) t->sort = c - '1';
    else if (c == 'r') t->reverse = !t->reverse;
    else if (c == '+' && t->interval_ms * 2 <= TOP_INTERVAL_MS_MAX) t->interval_ms *= 2;
    else if (c == '-' && t->interval_ms / 2 >= TOP_INTERVAL_MS_MIN) t->interval_ms /= 2;
    return true;
}

static int parse_opts(cli_args *a, top *t)
{
    for (int i = 1; i < a->n; i++) {
        const char *v;
        if (strcmp(a->v[i], "--interval-ms") == 0) {
            if (!(v = cli_optval(a, &i)) || !cli_parse_u32(v, &t->interval_ms) ||
                t->interval_ms < TOP_INTERVAL_MS_MIN || t->interval_ms > TOP_INTERVAL_MS_MAX)
                return cli_usage("--interval-ms must be %u..%u", TOP_INTERVAL_MS_MIN,
                                 TOP_INTERVAL_MS_MAX);
        } else if (strcmp(a->v[i], "--sort") == 0) {
            if (!(v = cli_optval(a, &i))) return cli_usage("--sort needs a column");
            int k = 0;
            while (k < K_N && strcmp(KEYS[k], v) != 0) k++;
            if (k == K_N)
                return cli_usage("--sort: name, ready, delayed, leased, dead, enq, ack or fail");
            t->sort = k;
        } else if (strcmp(a->v[i], "--reverse") == 0) {
            t->reverse = true;
        } else {
            return cli_usage("top: unexpected %s", a->v[i]);
        }
    }
    return 0;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int screen_height(void)
{
    struct winsize ws;
    return ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 ? ws.ws_row : 24;
}

/* One refresh: the queues, drawn (or printed once when not a terminal). */
static int refresh(top *t, cli_args *a, bool tty)
{
    rq_status st;
    rq_queue_info *qs = NULL;
    size_t n = 0;
    if (rq_list_queues(a->c, &qs, &n, &st)) return cli_fail(&st);
    uint64_t now = mono_ns();
    top_row *rows = rows_of(t, qs, n, now);
    free(qs);
    if (!rows) return cli_usage("out of memory");
    if (tty) draw(t, a, rows, n, screen_height());
    else {
        fmt_table_head();
        for (size_t i = 0; i < n; i++) fmt_table_row(&rows[i].q);
    }
    free(t->prev);
    t->prev = rows;
    t->nprev = n;
    t->prev_ns = now;
    return CLI_EX_OK;
}

/* Waits up to the interval for keys; false when one asks to quit (or a signal came). */
static bool wait_keys(top *t)
{
    uint64_t until = mono_ns() + (uint64_t)t->interval_ms * 1000000u;
    for (;;) {
        uint64_t now = mono_ns();
        if (t_stop || now >= until) return !t_stop;
        struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
        int r = poll(&p, 1, (int)((until - now) / 1000000u) + 1);
        if (r < 0 && errno != EINTR) return false;
        if (r <= 0 || !(p.revents & (POLLIN | POLLHUP))) continue;
        char buf[16];
        ssize_t k = read(STDIN_FILENO, buf, sizeof buf);
        if (k <= 0) return false; /* the terminal went away */
        bool redraw = false;
        for (ssize_t i = 0; i < k; i++) {
            if (!on_key(t, buf[i])) return false;
            redraw = true;
        }
        if (redraw) return true; /* show the new sort at once */
    }
}

int cmd_top(cli_args *a)
{
    top t = {.sort = K_NAME, .interval_ms = 1000};
    int rc = parse_opts(a, &t);
    if (rc) return rc;
    if (a->json) return cli_usage("top is for a terminal; use stats --json");
    bool tty = isatty(STDOUT_FILENO) && isatty(STDIN_FILENO);
    if (!tty) {
        rc = refresh(&t, a, false);
        free(t.prev);
        return rc;
    }
    struct termios saved, raw;
    if (tcgetattr(STDIN_FILENO, &saved) != 0) return cli_usage("cannot read the terminal mode");
    raw = saved;
    raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO | ISIG);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    printf("\033[?1049h\033[?25l"); /* alternate screen, cursor hidden */
    do rc = refresh(&t, a, true);
    while (rc == CLI_EX_OK && wait_keys(&t));
    printf("\033[?25h\033[?1049l"); /* back to the shell's screen */
    fflush(stdout);
    tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    free(t.prev);
    return rc;
}
