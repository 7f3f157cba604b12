/* bench/rb_nats_wire: the server-to-client half of the NATS client protocol, as a parser with no
 * I/O (docs.nats.io, "Client Protocol": INFO, MSG, HMSG, PING, PONG, +OK, -ERR), plus the
 * status line of an HMSG header block ("NATS/1.0 408 Request Timeout") that JetStream uses for
 * pull-request endings and no-responder answers.
 *
 * Every byte is the server's: control lines and bodies are bounded (RB_NATS_LINE_MAX,
 * `body_max`), numbers are checked for overflow, and a frame is only reported whole. Results are
 * views into the caller's buffer, valid while it is. */
#ifndef RB_NATS_WIRE_H
#define RB_NATS_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Longest control line we accept, CRLF included. INFO is the long one: a server in a large
 * cluster lists its peers' URLs there; 64 KiB holds hundreds. */
#define RB_NATS_LINE_MAX (64u * 1024u)

typedef enum {
    RB_NATS_INFO = 1, /* body = the JSON object */
    RB_NATS_MSG,      /* subject, sid, reply (may be empty), body */
    RB_NATS_HMSG,     /* as MSG, plus hdr (the header block, status line first) */
    RB_NATS_PING,
    RB_NATS_PONG,
    RB_NATS_OK,
    RB_NATS_ERR /* body = the error text without quotes */
} rb_nats_kind;

typedef struct rb_nats_frame {
    rb_nats_kind kind;
    const char *subject;
    size_t subject_len;
    uint64_t sid;
    const char *reply; /* NULL when the message has no reply subject */
    size_t reply_len;
    const uint8_t *hdr; /* HMSG only */
    size_t hdr_len;
    const uint8_t *body;
    size_t body_len;
} rb_nats_frame;

/* Parses one frame from p[0..len). Returns the bytes it spans (> 0) with *f filled, 0 when more
 * bytes are needed, -EPROTO for a malformed frame or an unknown operation, -EMSGSIZE when a
 * control line exceeds RB_NATS_LINE_MAX or a message body exceeds `body_max`. On error *why
 * (static text) says what was wrong. */
ssize_t rb_nats_parse(const uint8_t *p, size_t len, size_t body_max, rb_nats_frame *f,
                      const char **why);

/* The status of an HMSG header block. *code is 0 when the block carries no status (plain
 * headers). *pending is the Nats-Pending-Messages header's value, or -1 when absent.
 * *desc / *desc_len view the status description ("Request Timeout"), possibly empty.
 * Returns 0 or -EPROTO (no "NATS/1.0" version line, bad code, bad pending count). */
int rb_nats_status(const uint8_t *hdr, size_t len, int *code, const char **desc, size_t *desc_len,
                   int64_t *pending);

#endif
