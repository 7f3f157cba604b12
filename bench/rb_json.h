/* bench/rb_json: just enough JSON reading for the peer drivers (JetStream API answers, NATS
 * INFO). No allocation: lookups return views into the caller's text, which the server wrote
 * and is therefore hostile — every function bounds its nesting and never reads past `len`.
 *
 * A path names object members separated by '.': "state.messages", "error.description". Keys are
 * compared byte for byte (a key written with escapes does not match a plain path segment). */
#ifndef RB_JSON_H
#define RB_JSON_H

#include <stddef.h>
#include <stdint.h>

/* Deepest nesting rb_json_find walks through (answers we read are 3 levels deep). */
#define RB_JSON_DEPTH_MAX 32

/* Finds the value at `path` in the JSON text js[0..len). 0 with *val / *vlen set to the value's
 * bytes (a string value keeps its quotes), -ENOENT when a member is missing (or an inner value
 * on the path is not an object), -EPROTO when the text is not well-formed JSON up to the point
 * where the answer was known, -E2BIG when it nests deeper than RB_JSON_DEPTH_MAX. */
int rb_json_find(const char *js, size_t len, const char *path, const char **val, size_t *vlen);

/* A non-negative integer value (no sign, fraction or exponent; at most UINT64_MAX). 0 or
 * -EINVAL. */
int rb_json_u64(const char *val, size_t vlen, uint64_t *out);

/* Copies a string value (with its quotes, as rb_json_find returns it) into out, NUL-terminated,
 * decoding the simple escapes; \uXXXX and control bytes become '?'. Truncates to outlen - 1.
 * 0 or -EINVAL when the value is not a string. */
int rb_json_str(const char *val, size_t vlen, char *out, size_t outlen);

#endif
