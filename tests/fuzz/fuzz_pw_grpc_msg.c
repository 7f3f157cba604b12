/* Fuzz target for proto_wire/pw_grpc_msg.c and pw_gzip.c.
 *
 * Input: byte 0 = config (bit 0: compression negotiated; bits 1-2: max message size from
 * max_choices); byte 1 = K (mod 16) split-length bytes follow; then the stream bytes.
 *
 * Checks:
 *  1. Split invariance: the stream fed as one slice and fed in the fuzzer-chosen slices (cycling
 *     the K lengths; 0-length slices included) yields the same messages, the same error at the
 *     same point, and the same end-of-stream result.
 *  2. Bounded memory: the assembly buffer never exceeds the max message size; a yielded
 *     zero-copy view lies inside its slice (each slice is its own heap block, so ASan catches
 *     any read outside it).
 *  3. Compressed messages are gunzipped with a small cap: only 0 / TOO_LARGE / CORRUPT, output
 *     within the cap, the buf unchanged on error; what decodes re-compresses and round-trips. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_buf.h"
#include "proto_wire/pw_grpc_msg.h"
#include "proto_wire/pw_gzip.h"

#define CHECK(c) ((c) ? (void)0 : __builtin_trap())
#define RECS_MAX 4096              /* messages compared per input; beyond that, counted only */
#define GUNZIP_CAP_BYTES 4096u     /* small decompression cap, so bombs are cheap to find */
#define GUNZIP_BUF_CAP_BYTES 8192u /* the output buf would allow more: the cap must hold */

static const size_t max_choices[4] = {16, 64, 1024, 4096};

typedef struct rec {
    size_t len;
    uint32_t hash;
    bool compressed;
} rec;

typedef struct run {
    rec recs[RECS_MAX];
    size_t n;
    int err;    /* first error from pw_grpc_deframe, or 0 */
    int finish; /* pw_grpc_deframer_finish result */
} run;

static run ref, split;
static pw_gzip_ctx gz;
static bool gz_ready;

static uint32_t fnv(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

static void gunzip_check(const pw_grpc_msg *m)
{
    buf out;
    buf_init(&out, GUNZIP_BUF_CAP_BYTES);
    int rc = pw_gzip_decompress(&gz, m->ptr, m->len, GUNZIP_CAP_BYTES, &out);
    CHECK(rc == 0 || rc == PW_GZIP_ERR_TOO_LARGE || rc == PW_GZIP_ERR_CORRUPT);
    CHECK(out.len <= GUNZIP_BUF_CAP_BYTES);
    if (rc != 0) {
        CHECK(buf_size(&out) == 0);
    } else {
        size_t n = buf_size(&out);
        CHECK(n <= GUNZIP_CAP_BYTES);
        buf z, back;
        buf_init(&z, 2 * GUNZIP_CAP_BYTES);
        buf_init(&back, GUNZIP_CAP_BYTES);
        const uint8_t *plain = n ? buf_begin(&out) : m->ptr;
        CHECK(pw_gzip_compress(&gz, plain, n, &z) == 0);
        CHECK(pw_gzip_decompress(&gz, buf_begin(&z), buf_size(&z), n, &back) == 0);
        CHECK(buf_size(&back) == n);
        if (n) CHECK(memcmp(buf_begin(&back), plain, n) == 0);
        buf_deinit(&z);
        buf_deinit(&back);
    }
    buf_deinit(&out);
}

/* Feeds one slice (copied into its own heap block) and records what comes out. Returns false
 * once the deframer has failed. */
static bool feed(pw_grpc_deframer *d, run *r, const uint8_t *src, size_t n, bool gunzip)
{
    uint8_t *slice = malloc(n ? n : 1);
    CHECK(slice != NULL);
    if (n) memcpy(slice, src, n);
    const uint8_t *p = slice;
    size_t left = n;
    pw_grpc_msg m;
    int rc;
    while ((rc = pw_grpc_deframe(d, &p, &left, &m)) == 1) {
        CHECK(m.ptr != NULL);
        CHECK(m.len <= d->max_msg_bytes);
        CHECK(d->body_cap <= d->max_msg_bytes);
        if (!m.copied && m.len) CHECK(m.ptr >= slice && m.ptr + m.len <= slice + n);
        if (m.copied) CHECK(m.ptr == d->body);
        if (m.compressed) CHECK(d->compression_ok);
        if (r->n < RECS_MAX) r->recs[r->n] = (rec){m.len, fnv(m.ptr, m.len), m.compressed};
        r->n++;
        if (gunzip && m.compressed) gunzip_check(&m);
    }
    CHECK(d->body_cap <= d->max_msg_bytes);
    if (rc == 0) CHECK(left == 0);
    free(slice);
    if (rc < 0) {
        CHECK(rc == PW_GRPC_DEFRAME_ERR_TOO_LARGE || rc == PW_GRPC_DEFRAME_ERR_COMPRESSED ||
              rc == PW_GRPC_DEFRAME_ERR_BAD_FLAG);
        r->err = rc;
        return false;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    if (!gz_ready) {
        pw_gzip_ctx_init(&gz, -1);
        gz_ready = true;
    }
    const bool negotiated = data[0] & 1;
    const size_t max = max_choices[(data[0] >> 1) & 3];
    size_t k = data[1] & 15;
    if (k > size - 2) k = size - 2;
    const uint8_t *cuts = data + 2;
    const uint8_t *stream = data + 2 + k;
    const size_t len = size - 2 - k;

    /* Reference: one slice. */
    pw_grpc_deframer d;
    memset(&ref, 0, sizeof ref);
    pw_grpc_deframer_init(&d, max);
    pw_grpc_deframer_set_compression(&d, negotiated);
    feed(&d, &ref, stream, len, false);
    ref.finish = pw_grpc_deframer_finish(&d);
    pw_grpc_deframer_deinit(&d);

    /* Fuzzer-chosen splits. */
    memset(&split, 0, sizeof split);
    pw_grpc_deframer_init(&d, max);
    pw_grpc_deframer_set_compression(&d, negotiated);
    size_t pos = 0, i = 0, zero_run = 0;
    bool ok = true;
    while (ok && pos < len) {
        size_t n = k ? cuts[i++ % k] : len;
        /* Empty slices are fed too, but a cycle of them must not stall the loop. */
        if (n == 0 && ++zero_run > k) n = 1;
        if (n) zero_run = 0;
        if (n > len - pos) n = len - pos;
        ok = feed(&d, &split, stream + pos, n, true);
        pos += n;
    }
    split.finish = pw_grpc_deframer_finish(&d);
    pw_grpc_deframer_deinit(&d);

    CHECK(split.n == ref.n);
    size_t cmp = ref.n < RECS_MAX ? ref.n : RECS_MAX;
    for (size_t j = 0; j < cmp; j++) {
        CHECK(split.recs[j].len == ref.recs[j].len);
        CHECK(split.recs[j].hash == ref.recs[j].hash);
        CHECK(split.recs[j].compressed == ref.recs[j].compressed);
    }
    CHECK(split.err == ref.err);
    CHECK(split.finish == ref.finish);
    if (ref.err) CHECK(ref.finish == ref.err); /* sticky */
    else CHECK(ref.finish == 0 || ref.finish == PW_GRPC_DEFRAME_ERR_TRUNCATED);
    return 0;
}
