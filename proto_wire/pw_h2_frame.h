/* proto_wire/pw_h2_frame: HTTP/2 frame codec (RFC 9113 §4 and §6) for all ten frame types.
 * No I/O, no allocation in the decoder: decoded frames are views into the caller's bytes.
 *
 * Errors (docs/architecture.md "Errors"): the decoders return PW_H2_ERR_* (an RFC 9113 §7 code
 * carried in this module's own negative range, outside errno's), the writers negative errno
 * (-ENOBUFS / -ENOMEM from the rt_buf they append to, -EINVAL). */
#ifndef PW_H2_FRAME_H
#define PW_H2_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/rt_buf.h"
#include "proto_wire/pw_h2_limits.h"

/* RFC 9113 §7 error codes. */
typedef enum pw_h2_error_code {
    PW_H2_NO_ERROR = 0x0,
    PW_H2_PROTOCOL_ERROR = 0x1,
    PW_H2_INTERNAL_ERROR = 0x2,
    PW_H2_FLOW_CONTROL_ERROR = 0x3,
    PW_H2_SETTINGS_TIMEOUT = 0x4,
    PW_H2_STREAM_CLOSED = 0x5,
    PW_H2_FRAME_SIZE_ERROR = 0x6,
    PW_H2_REFUSED_STREAM = 0x7,
    PW_H2_CANCEL = 0x8,
    PW_H2_COMPRESSION_ERROR = 0x9,
    PW_H2_CONNECT_ERROR = 0xa,
    PW_H2_ENHANCE_YOUR_CALM = 0xb,
    PW_H2_INADEQUATE_SECURITY = 0xc,
    PW_H2_HTTP_1_1_REQUIRED = 0xd,
} pw_h2_error_code;

/* Static name of an error code ("PROTOCOL_ERROR"; "UNKNOWN" for others). */
const char *pw_h2_error_name(uint32_t code);

/* ---- Errors as return values ----
 * pw_h2 reports what the peer's bytes did (and connection failures) as PW_H2_ERR_*: the RFC
 * code c becomes -(PW_H2_ERR_BASE + c), so -1100 .. -1113, plus PW_H2_ERR_OTHER for a code
 * outside the RFC's list (one the application passed to pw_h2_submit_goaway). The range lies
 * above every errno value (Linux's last, EHWPOISON, is 133; nghttp2 likewise keeps its library
 * errors at <= -500) and apart from pw_pb's (-1001 ..) and pw_hpack's (-1201 ..), so -2 can no
 * longer mean both INTERNAL_ERROR and -ENOENT. API misuse and resources stay negative errno:
 * -ENOMEM, -ENOBUFS (flow control: retry later, liburing style), -ENOENT, -EINVAL, ... */
#define PW_H2_ERR_BASE 1100
#define PW_H2_ERR_OF(code) (-(PW_H2_ERR_BASE + (int)(code))) /* code: an RFC code <= 0xd */
#define PW_H2_ERR_PROTOCOL PW_H2_ERR_OF(PW_H2_PROTOCOL_ERROR)
#define PW_H2_ERR_INTERNAL PW_H2_ERR_OF(PW_H2_INTERNAL_ERROR)
#define PW_H2_ERR_FLOW_CONTROL PW_H2_ERR_OF(PW_H2_FLOW_CONTROL_ERROR)
#define PW_H2_ERR_SETTINGS_TIMEOUT PW_H2_ERR_OF(PW_H2_SETTINGS_TIMEOUT)
#define PW_H2_ERR_STREAM_CLOSED PW_H2_ERR_OF(PW_H2_STREAM_CLOSED)
#define PW_H2_ERR_FRAME_SIZE PW_H2_ERR_OF(PW_H2_FRAME_SIZE_ERROR)
#define PW_H2_ERR_REFUSED_STREAM PW_H2_ERR_OF(PW_H2_REFUSED_STREAM)
#define PW_H2_ERR_CANCEL PW_H2_ERR_OF(PW_H2_CANCEL)
#define PW_H2_ERR_COMPRESSION PW_H2_ERR_OF(PW_H2_COMPRESSION_ERROR)
#define PW_H2_ERR_CONNECT PW_H2_ERR_OF(PW_H2_CONNECT_ERROR)
#define PW_H2_ERR_ENHANCE_YOUR_CALM PW_H2_ERR_OF(PW_H2_ENHANCE_YOUR_CALM)
#define PW_H2_ERR_INADEQUATE_SECURITY PW_H2_ERR_OF(PW_H2_INADEQUATE_SECURITY)
#define PW_H2_ERR_HTTP_1_1_REQUIRED PW_H2_ERR_OF(PW_H2_HTTP_1_1_REQUIRED)
#define PW_H2_ERR_OTHER (-(PW_H2_ERR_BASE + 99)) /* a code beyond the RFC's: see session_error */
#define PW_H2_ERR_MIN PW_H2_ERR_OTHER

/* An RFC code (a connection failure's) as a return value: PW_H2_ERR_OF(code), PW_H2_ERR_OTHER
 * for a code above HTTP_1_1_REQUIRED. NO_ERROR maps to PW_H2_ERR_OF(0), never to 0. */
int pw_h2_err_from_code(uint32_t code);
/* `err` is in pw_h2's range. */
bool pw_h2_is_err(long err);
/* The RFC 9113 code to put in GOAWAY / RST_STREAM for a negative result of any proto_wire layer:
 * PW_H2_ERR_* its own code (OTHER: INTERNAL_ERROR), PW_HPACK_ERR_COMPRESSION and _HUFFMAN
 * COMPRESSION_ERROR, -ENOBUFS / -ENOMEM and anything else INTERNAL_ERROR. 0 for err >= 0. */
uint32_t pw_h2_err_code(long err);
/* Static name for logs: "PROTOCOL_ERROR" for PW_H2_ERR_*, pw_hpack_strerror's names, errno's
 * symbolic name ("ENOMEM"), else "unknown". */
const char *pw_h2_strerror(long err);

/* RFC 9113 §6 frame types. */
typedef enum pw_h2_frame_type {
    PW_H2_FT_DATA = 0x0,
    PW_H2_FT_HEADERS = 0x1,
    PW_H2_FT_PRIORITY = 0x2,
    PW_H2_FT_RST_STREAM = 0x3,
    PW_H2_FT_SETTINGS = 0x4,
    PW_H2_FT_PUSH_PROMISE = 0x5,
    PW_H2_FT_PING = 0x6,
    PW_H2_FT_GOAWAY = 0x7,
    PW_H2_FT_WINDOW_UPDATE = 0x8,
    PW_H2_FT_CONTINUATION = 0x9,
} pw_h2_frame_type;
#define PW_H2_FT_COUNT 10u

/* Flags (RFC 9113 §6). */
#define PW_H2_FLAG_END_STREAM 0x01u  /* DATA, HEADERS */
#define PW_H2_FLAG_ACK 0x01u         /* SETTINGS, PING */
#define PW_H2_FLAG_END_HEADERS 0x04u /* HEADERS, PUSH_PROMISE, CONTINUATION */
#define PW_H2_FLAG_PADDED 0x08u      /* DATA, HEADERS, PUSH_PROMISE */
#define PW_H2_FLAG_PRIORITY 0x20u    /* HEADERS */

/* SETTINGS identifiers (RFC 9113 §6.5.2). */
#define PW_H2_SETTINGS_HEADER_TABLE_SIZE 0x1u
#define PW_H2_SETTINGS_ENABLE_PUSH 0x2u
#define PW_H2_SETTINGS_MAX_CONCURRENT_STREAMS 0x3u
#define PW_H2_SETTINGS_INITIAL_WINDOW_SIZE 0x4u
#define PW_H2_SETTINGS_MAX_FRAME_SIZE 0x5u
#define PW_H2_SETTINGS_MAX_HEADER_LIST_SIZE 0x6u

/* The client connection preface (RFC 9113 §3.4), PW_H2_PREFACE_BYTES long. */
extern const uint8_t pw_h2_preface[PW_H2_PREFACE_BYTES];

/* RFC 9113 §4.1 frame header. The reserved bit of the stream id is cleared on decode. */
typedef struct pw_h2_frame_hd {
    uint32_t length; /* 24-bit payload length */
    uint8_t type;
    uint8_t flags;
    uint32_t stream_id; /* 31 bits */
} pw_h2_frame_hd;

typedef struct pw_h2_priority {
    uint32_t dependency; /* 31 bits */
    uint8_t weight;      /* wire value (weight - 1) */
    bool exclusive;
} pw_h2_priority;

typedef struct pw_h2_setting {
    uint16_t id;
    uint32_t value;
} pw_h2_setting;

/* A decoded frame. Pointers are views into the bytes given to pw_h2_frame_decode, valid as long
 * as they are. `stream_error` is non-zero when the frame is well formed as far as the connection
 * is concerned but must be answered with a stream error of that code (RFC §5.4.2): a PRIORITY
 * of the wrong length, a self-dependency, a zero WINDOW_UPDATE increment on a stream. */
typedef struct pw_h2_frame {
    pw_h2_frame_hd hd;
    uint32_t stream_error;
    union {
        struct {
            const uint8_t *data;
            size_t len;
            size_t pad_len;
        } data;
        struct {
            const uint8_t *block;
            size_t block_len;
            size_t pad_len;
            bool has_priority;
            pw_h2_priority pri;
        } headers;
        pw_h2_priority priority;
        struct {
            uint32_t error_code;
        } rst_stream;
        struct {
            const uint8_t *entries;
            size_t count;
        } settings; /* see pw_h2_settings_get */
        struct {
            uint32_t promised_id;
            const uint8_t *block;
            size_t block_len;
            size_t pad_len;
        } push_promise;
        struct {
            uint8_t opaque[PW_H2_PING_PAYLOAD_BYTES];
        } ping;
        struct {
            uint32_t last_stream_id;
            uint32_t error_code;
            const uint8_t *debug;
            size_t debug_len;
        } goaway;
        struct {
            uint32_t increment;
        } window_update;
        struct {
            const uint8_t *block;
            size_t block_len;
        } continuation;
        struct {
            const uint8_t *payload;
            size_t len;
        } unknown; /* types >= PW_H2_FT_COUNT */
    } u;
} pw_h2_frame;

/* Frame header: decode 9 bytes / encode 9 bytes. */
void pw_h2_frame_hd_decode(pw_h2_frame_hd *hd, const uint8_t src[PW_H2_FRAME_HEADER_BYTES]);
void pw_h2_frame_hd_encode(uint8_t dst[PW_H2_FRAME_HEADER_BYTES], const pw_h2_frame_hd *hd);

/* Decodes the payload of a frame whose header is `hd` (payload is hd->length bytes, borrowed).
 * Validates what the frame alone determines (RFC §6): lengths, padding, stream id 0 vs not.
 * Returns 0 (maybe with f->stream_error set) or a connection error:
 * PW_H2_ERR_FRAME_SIZE, PW_H2_ERR_PROTOCOL or PW_H2_ERR_FLOW_CONTROL, with `*err_desc` (static)
 * set if non-NULL.
 * Does not check MAX_FRAME_SIZE (the caller knows it) nor stream states. */
int pw_h2_frame_payload_decode(pw_h2_frame *f, const pw_h2_frame_hd *hd, const uint8_t *payload,
                               const char **err_desc);

/* Decodes one whole frame from `src`: bytes consumed (9 + length), 0 if `len` does not hold a
 * whole frame yet, or a connection error (PW_H2_ERR_FRAME_SIZE when the length
 * exceeds `max_frame_size`, or any error of pw_h2_frame_payload_decode). */
ssize_t pw_h2_frame_decode(pw_h2_frame *f, const uint8_t *src, size_t len, uint32_t max_frame_size,
                           const char **err_desc);

/* The i-th entry (i < f->u.settings.count) of a decoded SETTINGS frame. */
pw_h2_setting pw_h2_settings_get(const pw_h2_frame *f, size_t i);

/* Writers: append one complete frame to `out` (all or nothing). They return 0, -ENOBUFS (out's
 * cap) or -ENOMEM, or -EINVAL for arguments the RFC forbids (a payload above the 24-bit length,
 * a pad length above 255, a stream id above 2^31-1). `pad_len` < 0: no PADDED flag; 0..255: the
 * PADDED flag, the pad-length octet and that many zero bytes (RFC §6.1). */
int pw_h2_write_hd(buf *out, uint32_t length, uint8_t type, uint8_t flags, uint32_t stream_id);
int pw_h2_write_data(buf *out, uint32_t stream_id, uint8_t flags, const uint8_t *p, size_t n,
                     int pad_len);
/* HEADERS with a block fragment (the caller splits blocks; flags as given plus PRIORITY/PADDED
 * when `pri` is non-NULL / pad_len >= 0). */
int pw_h2_write_headers(buf *out, uint32_t stream_id, uint8_t flags, const pw_h2_priority *pri,
                        const uint8_t *block, size_t n, int pad_len);
int pw_h2_write_priority(buf *out, uint32_t stream_id, const pw_h2_priority *pri);
int pw_h2_write_rst_stream(buf *out, uint32_t stream_id, uint32_t error_code);
int pw_h2_write_settings(buf *out, const pw_h2_setting *s, size_t n);
int pw_h2_write_settings_ack(buf *out);
int pw_h2_write_push_promise(buf *out, uint32_t stream_id, uint8_t flags, uint32_t promised_id,
                             const uint8_t *block, size_t n, int pad_len);
int pw_h2_write_ping(buf *out, bool ack, const uint8_t opaque[PW_H2_PING_PAYLOAD_BYTES]);
int pw_h2_write_goaway(buf *out, uint32_t last_stream_id, uint32_t error_code, const uint8_t *debug,
                       size_t debug_len);
int pw_h2_write_window_update(buf *out, uint32_t stream_id, uint32_t increment);
int pw_h2_write_continuation(buf *out, uint32_t stream_id, uint8_t flags, const uint8_t *block,
                             size_t n);

#endif
