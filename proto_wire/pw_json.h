/* proto_wire/pw_json: JSON for the generated messages (pw_msg tables), both ways, for the HTTP
 * JSON API (docs/http-api.md). No I/O, no global state.
 *
 * The mapping is proto3's JSON mapping with the proto field names (`enqueued_total`, as
 * protoc's preserving_proto_field_name), except where noted:
 *   proto                 | JSON written                    | JSON read
 *   ----------------------+---------------------------------+-----------------------------------
 *   bool                  | true / false                    | true / false
 *   32-bit integers, enum | a number                        | a number (enums by number only)
 *   64-bit integers       | a number (exact up to 2^53: our | a number, or a string of digits
 *                         |  counters and ids stay below)   |  (proto3's form)
 *   double, float         | a number; NaN/Inf as null       | a number
 *   string                | a string (escaped; bytes that   | a string (\u escapes, surrogate
 *                         |  are not UTF-8 as \u00XX)       |  pairs; raw control chars refused)
 *   bytes                 | a string, standard base64       | a string, base64 (padded or not)
 *   message               | an object                       | an object, or null (absent)
 *   repeated              | an array                        | an array
 *   proto3 optional       | written when set                | sets has_<name>
 * Every other field is written, also when zero (a dashboard wants every figure). Unknown names
 * in input are refused: a misspelt field must not be silently ignored.
 *
 * Reading never copies: string views point into the caller's text, which is unescaped in
 * place (so it must be writable and outlive the message); arrays and sub-messages come from the
 * caller's arena. */
#ifndef PW_JSON_H
#define PW_JSON_H

#include <stddef.h>

#include "core/rt_buf.h"
#include "proto_wire/pw_msg.h"

/* Nesting of objects and arrays the reader follows: bounds the C stack a hostile body can make
 * us use. Our messages nest 3 deep (a list of QueueInfo with its QueueConfig). */
#define PW_JSON_DEPTH_MAX 16u
/* Elements one JSON array may hold: bounds the arena a body of "[0,0,0,...]" can ask for. The
 * API's largest list, a redrive's ids, holds 1,000 (Q_BATCH_MAX). */
#define PW_JSON_ARRAY_MAX 4096u
/* Bytes of the reader's error text (with the field name it concerns). */
#define PW_JSON_ERR_BYTES 160u

/* Reads the JSON object text[0..len) into `out` (a zeroed struct of `d`), per the table above.
 * Strings are unescaped inside `text`; views in `out` borrow `text`; arrays and sub-messages
 * come from `a`. Returns 0, -EINVAL (not JSON, not an object, a wrong type, an unknown field,
 * trailing bytes, deeper than PW_JSON_DEPTH_MAX or an array over PW_JSON_ARRAY_MAX: `err` says
 * which and where) or -ENOMEM (the arena). `err` (PW_JSON_ERR_BYTES) is always written. */
int pw_json_read_msg(const pw_msg_desc *d, void *out, char *text, size_t len, pw_msg_arena *a,
                     char *err);

/* Sets the singular field `name` of `out` (a struct of `d`) from text[0..len), a URL's path
 * segment or query value: a string field takes the text as it is (a view into `text`); a bytes
 * field its base64; any other field reads the text as the JSON value (a number, true, false).
 * Returns 0 or -EINVAL with `err` (no such field, a repeated or message field, a bad value). */
int pw_json_set_field(const pw_msg_desc *d, void *out, const char *name, size_t name_len,
                      char *text, size_t len, char *err);

/* Appends `msg` (a struct of `d`, borrowed) as a JSON object to `out`. Returns 0 or buf_append's
 * -ENOMEM / -ENOBUFS (out then holds a partial object: the caller truncates). */
int pw_json_write_msg(buf *out, const pw_msg_desc *d, const void *msg);
/* Appends s[0..n) as a JSON string (quoted and escaped). 0 or buf_append's error. */
int pw_json_write_str(buf *out, const char *s, size_t n);

#endif
