/* libFuzzer target for proto_wire/pw_json, the JSON API's request reader: arbitrary bytes read
 * as a few of the generated messages (flat, with arrays, nested with maps and bytes). No crash,
 * no read past the input, bounded memory (the arena's limit), and whatever is accepted writes
 * back to JSON that reads again to the same JSON (write(read(x)) is a fixed point). The first
 * input byte picks the message. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto_wire/pw_json.h"
#include "proto_wire/pw_msgs.h"

static const pw_msg_desc *const descs[] = {
    &pwm_ringq_v1_RedriveDeadTasksRequest_desc,
    &pwm_ringq_v1_ConfigureQueueRequest_desc,
    &pwm_ringq_v1_TaskInfo_desc,
    &pwm_ringq_v1_ListQueuesResponse_desc,
    &pwm_ringq_v1_PeekTasksRequest_desc,
};

/* Reads text[0..n) (copied) as d, writes it to out. 0 when accepted. */
static int read_write(const pw_msg_desc *d, const uint8_t *text, size_t n, buf *out)
{
    char *copy = malloc(n ? n : 1);
    void *msg = calloc(1, d->size);
    pw_msg_arena a;
    pw_msg_arena_init_heap(&a, 4096, 16u << 20);
    char err[PW_JSON_ERR_BYTES];
    memcpy(copy, text, n);
    int rc = pw_json_read_msg(d, msg, copy, n, &a, err);
    assert(strlen(err) < PW_JSON_ERR_BYTES);
    if (rc == 0) assert(pw_json_write_msg(out, d, msg) == 0);
    pw_msg_arena_deinit(&a);
    free(msg);
    free(copy);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const pw_msg_desc *d = descs[data[0] % (sizeof descs / sizeof descs[0])];
    buf once, twice;
    buf_init(&once, 64u << 20);
    buf_init(&twice, 64u << 20);
    if (read_write(d, data + 1, size - 1, &once) == 0) {
        assert(read_write(d, buf_begin(&once), buf_size(&once), &twice) == 0);
        assert(buf_size(&once) == buf_size(&twice));
        assert(memcmp(buf_begin(&once), buf_begin(&twice), buf_size(&once)) == 0);
    }
    buf_deinit(&once);
    buf_deinit(&twice);
    return 0;
}
