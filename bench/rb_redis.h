/* bench/rb_redis: what the two Redis drivers share — rb_drv_redis.c (task queue on lists) and
 * rb_drv_redis_streams.c (Redis Streams: XADD, XREADGROUP, XACK): RESP2 limits, the bulk-string
 * argument writer and the blocking admin exchange of setup / backlog / version. */
#ifndef RB_REDIS_H
#define RB_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "bench/rb_driver.h"

struct rb_sock;

#define RB_RD_QUEUE_MAX 1024u      /* key bytes (ours; Redis allows 512 MiB) */
#define RB_RD_LINE_MAX 500u        /* a reply line (errors included) */
#define RB_RD_BULK_MAX (32u << 20) /* a value; the engine's payloads are <= 16 MiB */
#define RB_RD_BATCH_MAX 10000u     /* values in one send() */
#define RB_RD_RPC_MS 5000          /* one blocking admin exchange */
#define RB_RD_RPC_OUT (1u << 20)   /* an admin reply (INFO server is ~1.5 KiB) */

/* Writes one RESP bulk string ("$<n>\r\n<bytes>\r\n") into the send buffer (copied). 0 or the
 * send buffer's -errno. */
int rb_rd_arg(struct rb_sock *s, const void *p, size_t n);

/* Dials t->addr for admin commands; *out (RB_RD_RPC_OUT + 1 bytes, the caller frees it) holds
 * the replies. The socket, or -errno with err filled and nothing allocated. */
int rb_rd_admin_dial(const rb_target *t, char **out, char *err, size_t errlen);
/* Sends one command (argv[0..argc), short NUL-terminated strings) and reads its reply into out
 * until complete(out, n) says it is whole. Reply bytes, or -errno with err filled; an error
 * reply ("-...") is -EIO with the server's text in err. */
ssize_t rb_rd_admin(int fd, const char *addr, const char *const *argv, int argc, char *out,
                    bool (*complete)(const char *p, size_t n), char *err, size_t errlen);
/* rb_driver.version: redis_version out of INFO server. 0 or -errno. */
int rb_rd_version(const rb_target *t, char *out, size_t outlen);

#endif
