/* bench/rb_js: what the two halves of the JetStream driver share — rb_js_admin.c (blocking
 * JetStream API calls on the main thread: setup, backlog, version) and rb_drv_jetstream.c (the
 * measured connections on the generator loops).
 *
 * Naming: the target's queue (default RB_JS_SUBJECT_DEFAULT) is the NATS subject producers
 * publish to; the stream capturing it is "RB_" + the subject with '.' replaced by '_', and its
 * one durable pull consumer is RB_JS_CONSUMER.
 *
 * Streams (rb_target.stream, the publish and fanout scenarios): the same stream with retention
 * "limits" (messages stay after acks, as in a Redis stream or a ringq stream) and one durable
 * pull consumer per group, RB_JS_GROUP_PREFIX + the group number, each starting at the stream's
 * first message with explicit acks. Publishing is unchanged (PUB with a reply inbox; the PubAck
 * says the message is stored). */
#ifndef RB_JS_H
#define RB_JS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench/rb_driver.h"

#define RB_JS_SUBJECT_DEFAULT "rqbench"
/* Longest subject we accept in rb_target.queue (a stream name is 3 bytes longer). */
#define RB_JS_SUBJECT_MAX 64
#define RB_JS_CONSUMER "rbwork"
#define RB_JS_GROUP_PREFIX "rbgrp"
/* Bytes of a consumer name: the prefix and up to 10 digits. */
#define RB_JS_CONSUMER_MAX 16u

/* The CONNECT we send: no +OK per command, headers on (JetStream status messages are HMSG),
 * no_responders so a publish nobody captures is answered by a 503 status instead of silence. */
#define RB_JS_CONNECT                                                                        \
    "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true," \
    "\"protocol\":1,\"name\":\"ringq-bench\",\"lang\":\"c\",\"version\":\"1\"}\r\n"

/* Largest message body we accept from the server. nats-server's max_payload defaults to 1 MiB
 * and a JetStream API answer is a few KiB; 8 MiB leaves room for a raised max_payload while
 * bounding what a hostile server can make us buffer. */
#define RB_JS_BODY_MAX (8u * 1024u * 1024u)

/* Consumer settings. max_waiting bounds the pull requests the server keeps per consumer; the
 * driver keeps at most a few per connection (see rb_drv_jetstream.c). max_ack_pending is set
 * far above any credit window ringq-bench uses, so the server never throttles a run. */
#define RB_JS_MAX_WAITING 4096u
#define RB_JS_MAX_ACK_PENDING 1000000u
#define RB_JS_ACK_WAIT_MS_DEFAULT 30000u

/* Blocking exchanges on the main thread time out after this long each (a stream delete of a
 * big backlog removes files). */
#define RB_JS_ADMIN_TIMEOUT_MS 30000

typedef struct rb_js_names {
    char subject[RB_JS_SUBJECT_MAX + 1];
    char stream[RB_JS_SUBJECT_MAX + 4];
} rb_js_names;

/* Fills the names from t->queue (or the default). -EINVAL with err filled when the queue is not
 * a plain subject: 1..RB_JS_SUBJECT_MAX bytes of [A-Za-z0-9_-] tokens joined by single dots,
 * not under "_INBOX" or "$". */
int rb_js_names_init(rb_js_names *n, const rb_target *t, char *err, size_t errlen);

/* The durable consumer a consumer connection of t pulls from: RB_JS_CONSUMER for a task queue,
 * RB_JS_GROUP_PREFIX<t->group> for a stream. out holds RB_JS_CONSUMER_MAX bytes. */
void rb_js_consumer_name(const rb_target *t, uint32_t group, char out[RB_JS_CONSUMER_MAX]);

/* rb_driver.setup / backlog / version (rb_js_admin.c). Streams: backlog is the sum over the
 * groups' consumers of num_pending + num_ack_pending. */
int rb_js_setup(const rb_target *t, char *err, size_t errlen);
int rb_js_backlog(const rb_target *t, uint64_t *n, char *err, size_t errlen);
int rb_js_version(const rb_target *t, char *out, size_t outlen);

#endif
