/* Unit tests for core/rt_net (address parsing, bind-then-listen, the port probe, abstract-name
 * locks) and core/rt_notify (sd_notify datagrams to a path and to an abstract '@' name). */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/rt_net.h"
#include "core/rt_notify.h"
#include "ts_main.h"

START_TEST(addr_parse_accepts_addresses_only)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    ck_assert_int_eq(rt_addr_parse("127.0.0.1", 80, &ss, &sl), 0);
    ck_assert_int_eq(ss.ss_family, AF_INET);
    ck_assert_int_eq(rt_addr_parse("::1", 80, &ss, &sl), 0);
    ck_assert_int_eq(ss.ss_family, AF_INET6);
    ck_assert_int_eq(rt_addr_parse("*", 80, &ss, &sl), 0);
    ck_assert_int_eq(rt_addr_parse("localhost", 80, &ss, &sl), 0);
    ck_assert_int_eq(rt_addr_parse("not-an-address", 80, &ss, &sl), -EINVAL);
    ck_assert_int_eq(rt_addr_parse("1.2.3.4.5", 80, &ss, &sl), -EINVAL);
    ck_assert_int_eq(rt_addr_parse("::zz", 80, &ss, &sl), -EINVAL);
}
END_TEST

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    int e = r < 0 ? -errno : 0;
    close(fd);
    return e;
}

START_TEST(bound_socket_refuses_until_listen)
{
    int fd = rt_bind_tcp("127.0.0.1", 0, true);
    ck_assert_int_ge(fd, 0);
    int port = rt_socket_port(fd);
    ck_assert_int_gt(port, 0);
    ck_assert_int_eq(connect_to(port), -ECONNREFUSED);
    ck_assert_int_eq(rt_listen(fd), 0);
    ck_assert_int_eq(connect_to(port), 0);
    close(fd);
}
END_TEST

START_TEST(probe_sees_reuseport_listeners)
{
    /* A SO_REUSEPORT group we could join silently is "in use" for the probe. */
    int fd = rt_listen_tcp("127.0.0.1", 0, true);
    ck_assert_int_ge(fd, 0);
    int port = rt_socket_port(fd);
    ck_assert_int_eq(rt_port_probe("127.0.0.1", (uint16_t)port), -EADDRINUSE);
    int plain = rt_listen_tcp("127.0.0.1", 0, false);
    ck_assert_int_ge(plain, 0);
    ck_assert_int_eq(rt_port_probe("127.0.0.1", (uint16_t)rt_socket_port(plain)), -EADDRINUSE);
    close(plain);
    close(fd);
    ck_assert_int_eq(rt_port_probe("127.0.0.1", (uint16_t)port), 0);
}
END_TEST

START_TEST(name_lock_is_exclusive_until_closed)
{
    char name[64];
    snprintf(name, sizeof name, "ringq-test-lock-%d", (int)getpid());
    int a = rt_name_lock(name);
    ck_assert_int_ge(a, 0);
    ck_assert_int_eq(rt_name_lock(name), -EADDRINUSE);
    close(a);
    int b = rt_name_lock(name);
    ck_assert_int_ge(b, 0);
    close(b);
    ck_assert_int_eq(rt_name_lock(""), -ENAMETOOLONG);
}
END_TEST

/* A datagram socket standing in for the service manager. */
static int notify_listener(const char *env, bool abstract)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    size_t n = strlen(env);
    memcpy(sa.sun_path, env, n);
    if (abstract) sa.sun_path[0] = 0;
    socklen_t sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + !abstract);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sl), 0);
    return fd;
}

static void expect_datagram(int fd, const char *want)
{
    char got[256];
    ssize_t n = recv(fd, got, sizeof got - 1, MSG_DONTWAIT);
    ck_assert_int_gt(n, 0);
    got[n] = 0;
    ck_assert_str_eq(got, want);
}

START_TEST(notify_path_and_abstract)
{
    unsetenv("NOTIFY_SOCKET");
    ck_assert_int_eq(rt_notify("READY=1"), 0);
    char path[128];
    snprintf(path, sizeof path, "/tmp/ringq-test-notify-%d.sock", (int)getpid());
    unlink(path);
    int fd = notify_listener(path, false);
    setenv("NOTIFY_SOCKET", path, 1);
    ck_assert_int_eq(rt_notify("READY=1\nSTATUS=listening"), 1);
    expect_datagram(fd, "READY=1\nSTATUS=listening");
    close(fd);
    unlink(path);

    char abs_name[128];
    snprintf(abs_name, sizeof abs_name, "@ringq-test-notify-%d", (int)getpid());
    fd = notify_listener(abs_name, true);
    setenv("NOTIFY_SOCKET", abs_name, 1);
    ck_assert_int_eq(rt_notify("STOPPING=1"), 1);
    expect_datagram(fd, "STOPPING=1");
    close(fd);

    setenv("NOTIFY_SOCKET", "relative/path", 1);
    ck_assert_int_eq(rt_notify("READY=1"), -EINVAL);
    unsetenv("NOTIFY_SOCKET");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rt_net");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, addr_parse_accepts_addresses_only);
    tcase_add_test(tc, bound_socket_refuses_until_listen);
    tcase_add_test(tc, probe_sees_reuseport_listeners);
    tcase_add_test(tc, name_lock_is_exclusive_until_closed);
    tcase_add_test(tc, notify_path_and_abstract);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
