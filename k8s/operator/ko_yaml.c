/* ringq-operator: one YAML document to a jansson tree, and base64 (ko_config.h). */
#include "k8s/operator/ko_config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

typedef struct ko_yaml_ctx {
    yaml_parser_t p;
    char *err;
    size_t errlen;
} ko_yaml_ctx;

static int ko_yaml_fail(ko_yaml_ctx *c, const char *what)
{
    snprintf(c->err, c->errlen, "yaml: %s at line %zu", what, c->p.mark.line + 1);
    return -EINVAL;
}

static int ko_yaml_next(ko_yaml_ctx *c, yaml_event_t *ev)
{
    if (yaml_parser_parse(&c->p, ev)) return 0;
    snprintf(c->err, c->errlen, "yaml: %s at line %zu", c->p.problem ? c->p.problem : "error",
             c->p.problem_mark.line + 1);
    return -EINVAL;
}

static json_t *ko_yaml_scalar(const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        if (n == 4 && (memcmp(v, "true", 4) == 0 || memcmp(v, "True", 4) == 0)) return json_true();
        if (n == 5 && (memcmp(v, "false", 5) == 0 || memcmp(v, "False", 5) == 0))
            return json_false();
        if ((n == 4 && memcmp(v, "null", 4) == 0) || (n == 1 && v[0] == '~') || n == 0)
            return json_null();
    }
    return json_stringn(v, n);
}

static int ko_yaml_node(ko_yaml_ctx *c, yaml_event_t *ev, int depth, json_t **out);

/* Reads the items of a sequence or mapping whose start event was consumed. */
static int ko_yaml_collection(ko_yaml_ctx *c, bool mapping, int depth, json_t **out)
{
    json_t *coll = mapping ? json_object() : json_array();
    if (!coll) return -ENOMEM;
    int r;
    for (;;) {
        yaml_event_t ev;
        r = ko_yaml_next(c, &ev);
        if (r) goto fail_r;
        yaml_event_type_t t = ev.type;
        if (t == YAML_SEQUENCE_END_EVENT || t == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            *out = coll;
            return 0;
        }
        json_t *key = NULL, *val = NULL;
        if (mapping) {
            if (t != YAML_SCALAR_EVENT) {
                yaml_event_delete(&ev);
                r = ko_yaml_fail(c, "a mapping key that is not a scalar");
                goto fail_r;
            }
            key = json_stringn((const char *)ev.data.scalar.value, ev.data.scalar.length);
            yaml_event_delete(&ev);
            if (!key) {
                r = ko_yaml_fail(c, "a key that is not UTF-8");
                goto fail_r;
            }
            r = ko_yaml_next(c, &ev);
            if (r) {
                json_decref(key);
                goto fail_r;
            }
        }
        r = ko_yaml_node(c, &ev, depth + 1, &val);
        if (r) {
            json_decref(key);
            goto fail_r;
        }
        if (mapping) r = json_object_set_new(coll, json_string_value(key), val);
        else r = json_array_append_new(coll, val);
        json_decref(key);
        if (r) {
            r = -ENOMEM;
            goto fail_r;
        }
    }
fail_r:
    json_decref(coll);
    return r;
}

/* Converts the node starting with `ev` (consumed here). */
static int ko_yaml_node(ko_yaml_ctx *c, yaml_event_t *ev, int depth, json_t **out)
{
    yaml_event_type_t t = ev->type;
    if (depth > KO_YAML_DEPTH_MAX) {
        yaml_event_delete(ev);
        return ko_yaml_fail(c, "nesting too deep");
    }
    if (t == YAML_ALIAS_EVENT || (t == YAML_SCALAR_EVENT && ev->data.scalar.anchor) ||
        (t == YAML_SEQUENCE_START_EVENT && ev->data.sequence_start.anchor) ||
        (t == YAML_MAPPING_START_EVENT && ev->data.mapping_start.anchor)) {
        yaml_event_delete(ev);
        return ko_yaml_fail(c, "anchors and aliases are not supported");
    }
    if (t == YAML_SCALAR_EVENT) {
        *out = ko_yaml_scalar(ev);
        yaml_event_delete(ev);
        return *out ? 0 : ko_yaml_fail(c, "a scalar that is not UTF-8");
    }
    yaml_event_delete(ev);
    if (t == YAML_SEQUENCE_START_EVENT) return ko_yaml_collection(c, false, depth, out);
    if (t == YAML_MAPPING_START_EVENT) return ko_yaml_collection(c, true, depth, out);
    return ko_yaml_fail(c, "unexpected event");
}

/* Skips events up to the first node; returns that node's event in *ev. */
static int ko_yaml_first_node(ko_yaml_ctx *c, yaml_event_t *ev, bool *empty)
{
    for (;;) {
        int r = ko_yaml_next(c, ev);
        if (r) return r;
        yaml_event_type_t t = ev->type;
        if (t == YAML_STREAM_START_EVENT || t == YAML_DOCUMENT_START_EVENT) {
            yaml_event_delete(ev);
            continue;
        }
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete(ev);
            *empty = true;
            return 0;
        }
        return 0;
    }
}

int ko_yaml_to_json(const char *text, size_t len, json_t **out, char *err, size_t errlen)
{
    ko_yaml_ctx c = {.err = err, .errlen = errlen};
    *out = NULL;
    if (!yaml_parser_initialize(&c.p)) return -ENOMEM;
    yaml_parser_set_input_string(&c.p, (const unsigned char *)text, len);
    yaml_event_t ev;
    bool empty = false;
    int r = ko_yaml_first_node(&c, &ev, &empty);
    json_t *root = NULL;
    if (!r && empty) r = ko_yaml_fail(&c, "no document");
    if (!r) r = ko_yaml_node(&c, &ev, 0, &root);
    if (!r) { /* the document must end here: DOCUMENT_END, then STREAM_END */
        r = ko_yaml_next(&c, &ev);
        if (!r) {
            bool ok = ev.type == YAML_DOCUMENT_END_EVENT;
            yaml_event_delete(&ev);
            if (ok) r = ko_yaml_next(&c, &ev);
            if (ok && !r) {
                ok = ev.type == YAML_STREAM_END_EVENT;
                yaml_event_delete(&ev);
            }
            if (!r && !ok) r = ko_yaml_fail(&c, "more than one document");
        }
    }
    yaml_parser_delete(&c.p);
    if (r) {
        json_decref(root);
        return r;
    }
    *out = root;
    return 0;
}

/* The sextet of a base64 character, or -EINVAL. */
static int ko_b64_val(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+') return 62;
    if (ch == '/') return 63;
    return -EINVAL;
}

int ko_base64_decode(const char *in, size_t len, char **out, size_t *outlen)
{
    char *buf = malloc(len / 4 * 3 + 4);
    if (!buf) return -ENOMEM;
    size_t n = 0, pad = 0;
    uint32_t acc = 0;
    unsigned bits = 0, quads = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)in[i];
        if (ch == '\n' || ch == '\r') continue;
        if (ch == '=') {
            pad++;
            continue;
        }
        int v = ko_b64_val(ch);
        if (v < 0 || pad) goto bad; /* nothing but padding after padding */
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        quads++;
        if (bits >= 8) {
            bits -= 8;
            buf[n++] = (char)((acc >> bits) & 0xffu);
        }
    }
    /* A lone sextet in the last group carries no byte; padding at most "==". */
    if (quads % 4 == 1 || pad > 2 || (pad && (quads + pad) % 4 != 0)) goto bad;
    buf[n] = '\0';
    *out = buf;
    *outlen = n;
    return 0;
bad:
    free(buf);
    return -EINVAL;
}
