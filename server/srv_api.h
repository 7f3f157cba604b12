/* server/srv_api: the JSON API under /api/v1/ (docs/http-api.md) and its safety settings.
 *
 * Every Admin route runs the very handler a gRPC client reaches: the path, query and JSON body
 * are read once into the generated request struct (proto_wire/pw_json), encoded, and handed to
 * the registered ringq.v1.Admin method through a local call (pw_grpc_call_new_local); its reply
 * message is written back as JSON, its status as {"code": "NOT_FOUND", "message": ...} with a
 * fitting HTTP status. No Admin operation has a second implementation here. */
#ifndef SRV_API_H
#define SRV_API_H

#include <stdbool.h>
#include <stddef.h>

/* Longest admin token (--admin-token, --admin-token-file): a 256-bit secret in hex is 64. */
#define SRV_API_TOKEN_BYTES_MAX 256u

/* --ui: what the dashboard and the JSON API's mutations may do. */
typedef enum srv_ui_mode {
    SRV_UI_ON,        /* default: the dashboard with its actions */
    SRV_UI_READ_ONLY, /* the dashboard without actions; every mutation is refused (403) */
    SRV_UI_OFF,       /* no dashboard (404); the JSON API still answers reads */
} srv_ui_mode;

/* Process-wide, written by the flag parser before the shards start, read-only after. */
typedef struct srv_api_cfg {
    srv_ui_mode ui;
    char token[SRV_API_TOKEN_BYTES_MAX + 1]; /* "" when none: mutations from loopback only */
    size_t token_len;
} srv_api_cfg;
extern srv_api_cfg srv_api;

/* ringqd's flags --ui, --admin-token, --admin-token-file (srv_extra_flag_fn's contract: 1
 * consumed, 0 not ours, SRV_FLAG_BAD_SAID after printing why). */
int srv_api_flag(const char *name, const char *value);
/* After the flags: --admin-token(-file) together with --auth-file is refused (two access models
 * for one API; the auth file's admin permission replaces the admin token). 0, or -EINVAL after
 * printing why. */
int srv_api_check_flags(bool auth_file);

#endif
