/* proto_wire/pw_h2_limits: every limit of the HTTP/2 engine in one place, with its unit and the
 * reason it exists. RFC values are marked "RFC"; the rest are our policy. pw_h2_config (pw_h2.h)
 * carries the ones an operator may tune; the defaults live here. */
#ifndef PW_H2_LIMITS_H
#define PW_H2_LIMITS_H

#include <assert.h>
#include <stdint.h>

/* ---- RFC 9113 protocol constants ---- */
#define PW_H2_FRAME_HEADER_BYTES 9u           /* RFC §4.1 */
#define PW_H2_PREFACE_BYTES 24u               /* RFC §3.4 client connection preface */
#define PW_H2_FRAME_SIZE_MIN_BYTES 16384u     /* RFC §4.2: smallest MAX_FRAME_SIZE */
#define PW_H2_FRAME_SIZE_MAX_BYTES 16777215u  /* RFC §6.5.2: largest MAX_FRAME_SIZE */
#define PW_H2_WINDOW_MAX_BYTES 0x7fffffffu    /* RFC §6.9.1: 2^31-1 */
#define PW_H2_WINDOW_INITIAL_BYTES 65535u     /* RFC §6.9.2: before SETTINGS */
#define PW_H2_STREAM_ID_MAX 0x7fffffffu       /* RFC §5.1.1: 31-bit ids */
#define PW_H2_PING_PAYLOAD_BYTES 8u           /* RFC §6.7 */
#define PW_H2_SETTING_ENTRY_BYTES 6u          /* RFC §6.5.1 */
#define PW_H2_HEADER_FIELD_OVERHEAD_BYTES 32u /* RFC §6.5.2 (as RFC 7541 §4.1) */

/* ---- Defaults for our SETTINGS (pw_h2_config) ---- */
/* gRPC servers conventionally advertise 100; each stream costs a small struct and its pending
 * output (bounded below), so 100 keeps a busy connection in the low MiB. */
#define PW_H2_DEFAULT_MAX_CONCURRENT_STREAMS 100u
/* Closed streams whose memory a session keeps for its next streams (a calloc + free per
 * request was ~1.5-2 % of the server's samples at batch 1). 16 covers the requests a busy
 * connection finishes between two of its new ones (the suite's clients keep 16 in flight);
 * an idle session keeps none (emptied with its last stream), so idle connections cost
 * nothing and a busy one at most 16 stream structs. */
#define PW_H2_STREAM_CACHE_MAX 16u
/* Header lists a session keeps with their HPACK encoding (pw_h2_send.c "block cache"): one for
 * the response headers and one for the trailers a gRPC server sends on every call, alike from
 * call to call; a list submitted again is neither copied nor encoded again. A client session
 * (which submits no response headers) keeps its request headers in the first slot: a gRPC
 * client's calls to one method send the same list (grpc-timeout included: pw_grpc_timeout_coarse). */
#define PW_H2_HCACHE_SLOTS 2u
#define PW_H2_HCACHE_HEADERS 0u  /* pw_h2_submit_headers' lists, or a client's submit_request's */
#define PW_H2_HCACHE_TRAILERS 1u /* the slot of pw_h2_submit_trailers' lists */
/* An encoding kept only up to this size: a gRPC response's headers and an OK's trailers, once
 * in the peer's dynamic table, are a few index bytes; a larger block is encoded each time. */
#define PW_H2_HCACHE_BLOCK_MAX_BYTES 32u
/* The decoded-block cache (pw_h2_hblock.c): a header block byte-identical to the last one
 * decoded, under the same HPACK decoder generation (a block that inserted nothing), decodes and
 * validates to the same list: a gRPC client's request headers after its first call are a few
 * index bytes naming the same :path, :authority, content-type and te. Kept only up to these
 * sizes, inline in the session (no allocation): a larger block or list is decoded each time. */
#define PW_H2_DCACHE_BLOCK_MAX_BYTES 64u /* an all-indexed request block is 8-20 bytes */
#define PW_H2_DCACHE_LIST_MAX_BYTES 384u /* names + values of a gRPC request: ~200 bytes */
#define PW_H2_DCACHE_FIELDS_MAX 12u      /* 6 fixed gRPC request fields + a few metadata */
/* Blocks the decoded-block cache keeps: one per kind of block a peer repeats, headers (a
 * server's requests, a client's responses) and trailers (a client's: every gRPC answer ends with
 * the same OK trailers right after its headers, which a single entry evicted each time). */
#define PW_H2_DCACHE_SLOTS 2u
/* A session with no live stream keeps its stream table, cached streams and header lists
 * (PW_H2_HCACHE_SLOTS) while it opened a stream within this long, and lets them go at its first
 * event after (input, or a stream's end). A busy connection answers every request of a loop
 * turn before the next ones arrive: emptied at each zero, the stream cache missed on every
 * stream at batch 1 (4 connections x 16 in flight). An idle connection keeps at most the
 * memory of its last burst until its next event or its close. */
#define PW_H2_IDLE_KEEP_MS 1000u
/* Client role: streams we open before the server's first SETTINGS say how many it allows. */
#define PW_H2_CLIENT_INITIAL_PEER_STREAMS 100u
/* Per-stream receive window. Large enough for one typical gRPC message in flight; the
 * connection window below bounds the total the peer may have unconsumed. */
#define PW_H2_DEFAULT_STREAM_WINDOW_BYTES (256u * 1024u)
/* Connection receive window: the most DATA the application may hold unconsumed per connection. */
#define PW_H2_DEFAULT_CONN_WINDOW_BYTES (1024u * 1024u)
/* Bounds on the configurable connection window: 64 KiB is the RFC start value, 16 MiB is where
 * per-connection buffering stops being defensible for a 10k-connection server. */
#define PW_H2_CONN_WINDOW_MIN_BYTES PW_H2_WINDOW_INITIAL_BYTES
#define PW_H2_CONN_WINDOW_MAX_BYTES (16u * 1024u * 1024u)
/* We accept frames up to this payload size (the RFC minimum: nothing we do needs bigger frames,
 * and it bounds the partial-frame input buffer). */
#define PW_H2_DEFAULT_MAX_FRAME_BYTES PW_H2_FRAME_SIZE_MIN_BYTES
/* Decoded header list cap (sum of name + value + 32 per field). 16 KiB fits gRPC metadata with
 * room to spare; larger lists are a stream error (RST_STREAM), not a connection error. */
#define PW_H2_DEFAULT_MAX_HEADER_LIST_BYTES (16u * 1024u)
/* HPACK decoder dynamic table we advertise (RFC 7541 default). */
#define PW_H2_DEFAULT_HEADER_TABLE_BYTES 4096u
/* HPACK encoder dynamic table we actually use, whatever the peer allows: bounds our memory. */
#define PW_H2_ENC_TABLE_MAX_BYTES 4096u

/* ---- Output bounds ---- */
/* Frames we generate carry at most this payload, whatever larger MAX_FRAME_SIZE the peer allows:
 * keeps the output buffer arithmetic below independent of the peer. */
#define PW_H2_OUT_FRAME_MAX_BYTES PW_H2_FRAME_SIZE_MIN_BYTES
/* DATA and HEADERS are generated only while the output buffer holds less than this: a peer that
 * does not read cannot make us buffer more than one watermark of stream output. */
#define PW_H2_OUT_DATA_WATERMARK_BYTES (64u * 1024u)
/* Largest encoded header block we send (submit of a bigger list fails with -E2BIG). */
#define PW_H2_OUT_HEADER_BLOCK_MAX_BYTES (32u * 1024u)
/* Control responses (PING/SETTINGS ACK, RST_STREAM, WINDOW_UPDATE) the peer may make us queue
 * while it does not read them (CVE-2019-9512 ping flood, -9515 settings flood, -9514 reset
 * flood). Counted until the output holding the newest of them has been consumed. */
#define PW_H2_OUT_CTRL_QUEUED_MAX 500u
/* Largest control response frame (PING ACK: 9 + 8). */
#define PW_H2_CTRL_FRAME_MAX_BYTES (PW_H2_FRAME_HEADER_BYTES + PW_H2_PING_PAYLOAD_BYTES)
/* Room for control frames above the data watermark + one header block + one DATA frame. */
#define PW_H2_OUT_CTRL_SLACK_BYTES (PW_H2_OUT_CTRL_QUEUED_MAX * PW_H2_CTRL_FRAME_MAX_BYTES + 1024u)
/* GOAWAY debug data we send is truncated to this. */
#define PW_H2_GOAWAY_DEBUG_MAX_BYTES 64u
/* Always kept free for GOAWAY frames: a graceful one, then possibly one with an error, so a
 * connection error can always be reported. */
#define PW_H2_GOAWAY_FRAME_MAX_BYTES (PW_H2_FRAME_HEADER_BYTES + 8u + PW_H2_GOAWAY_DEBUG_MAX_BYTES)
#define PW_H2_OUT_GOAWAY_RESERVE_BYTES (2u * PW_H2_GOAWAY_FRAME_MAX_BYTES)
/* Hard cap of the output buffer: watermark + one header block (with its frame headers) + one
 * DATA frame + control slack + the GOAWAY reserve. */
#define PW_H2_OUT_CAP_BYTES                                                              \
    (PW_H2_OUT_DATA_WATERMARK_BYTES + PW_H2_OUT_HEADER_BLOCK_MAX_BYTES +                 \
     (PW_H2_OUT_HEADER_BLOCK_MAX_BYTES / PW_H2_OUT_FRAME_MAX_BYTES + 1u) *               \
         PW_H2_FRAME_HEADER_BYTES +                                                      \
     PW_H2_OUT_FRAME_MAX_BYTES + PW_H2_FRAME_HEADER_BYTES + PW_H2_OUT_CTRL_SLACK_BYTES + \
     PW_H2_OUT_GOAWAY_RESERVE_BYTES)
/* Per-stream pending (submitted, not yet framed) DATA: a stream whose peer does not open its
 * window cannot make us hold more than this (CVE-2019-9511/9517). */
#define PW_H2_DEFAULT_STREAM_PENDING_BYTES (64u * 1024u)
/* on_stream_writable fires once a blocked stream's pending data falls to this fraction. */
#define PW_H2_STREAM_WRITABLE_DIVISOR 2u

/* ---- Input bounds and flood defences ---- */
/* Encoded header block (HEADERS + CONTINUATIONs) we accumulate, as a multiple of
 * max_header_list_size: an encoded field is never larger than its decoded size (name + value +
 * 32), so anything beyond 2x is not a request we would serve; we still keep 1x of slack to
 * answer an oversized-but-plausible list with a stream error instead of dropping the
 * connection (CVE-2024-27316 CONTINUATION flood). */
#define PW_H2_HEADER_BLOCK_IN_FACTOR 2u
/* CONTINUATION frames per header block. A header list within our cap needs at most
 * cap / 16 KiB frames; 64 tolerates peers that split finely and still stops a flood of tiny
 * frames early (CVE-2024-27316). */
#define PW_H2_CONTINUATION_FRAMES_MAX 64u
/* Rapid reset (CVE-2023-44487) and "made you reset": streams reset by the peer, or by us because
 * of the peer's frames, draw from a token bucket. Above the budget: GOAWAY ENHANCE_YOUR_CALM. */
#define PW_H2_RESET_BURST 400u
#define PW_H2_RESET_PER_S 100u
/* Empty frames that carry nothing (DATA without payload or END_STREAM, empty CONTINUATION or
 * HEADERS fragment without END_HEADERS) (CVE-2019-9518): a token bucket as well. */
#define PW_H2_EMPTY_FRAME_BURST 100u
#define PW_H2_EMPTY_FRAME_PER_S 20u
/* Recently closed streams remembered (id + how) to answer late frames per RFC §5.1: ignore them
 * after our RST_STREAM, STREAM_CLOSED after the peer's END_STREAM/RST_STREAM. */
#define PW_H2_CLOSED_STREAMS_KEPT 32u
/* The session struct itself (excluding lazily allocated buffers and HPACK tables): part of the
 * ~8 KiB per idle connection budget. Asserted in pw_h2_session.c. */
#define PW_H2_SESSION_STRUCT_MAX_BYTES 1536u

static_assert(PW_H2_DEFAULT_MAX_FRAME_BYTES >= PW_H2_FRAME_SIZE_MIN_BYTES, "RFC minimum");
static_assert(PW_H2_OUT_FRAME_MAX_BYTES >= PW_H2_FRAME_SIZE_MIN_BYTES &&
                  PW_H2_OUT_FRAME_MAX_BYTES <= PW_H2_FRAME_SIZE_MIN_BYTES,
              "frames we send must fit any peer's MAX_FRAME_SIZE (at least the RFC minimum)");
static_assert(PW_H2_DEFAULT_CONN_WINDOW_BYTES >= PW_H2_CONN_WINDOW_MIN_BYTES &&
                  PW_H2_DEFAULT_CONN_WINDOW_BYTES <= PW_H2_CONN_WINDOW_MAX_BYTES,
              "default connection window within bounds");
static_assert(PW_H2_CONN_WINDOW_MAX_BYTES <= PW_H2_WINDOW_MAX_BYTES, "window is 31 bits");
static_assert(PW_H2_DEFAULT_STREAM_WINDOW_BYTES <= PW_H2_WINDOW_MAX_BYTES, "window is 31 bits");
static_assert(PW_H2_DEFAULT_HEADER_TABLE_BYTES <= PW_H2_DEFAULT_MAX_HEADER_LIST_BYTES,
              "a table entry must fit a header list");
static_assert(PW_H2_OUT_DATA_WATERMARK_BYTES >= 2u * PW_H2_OUT_FRAME_MAX_BYTES,
              "the watermark must allow a few full DATA frames per write");
static_assert(PW_H2_DEFAULT_STREAM_PENDING_BYTES >= PW_H2_OUT_FRAME_MAX_BYTES,
              "a stream must be able to hold one full DATA frame");
static_assert(PW_H2_OUT_CTRL_SLACK_BYTES >= PW_H2_OUT_CTRL_QUEUED_MAX * PW_H2_CTRL_FRAME_MAX_BYTES,
              "the control slack must hold every control response we allow to queue");
static_assert(PW_H2_CONTINUATION_FRAMES_MAX * PW_H2_FRAME_SIZE_MIN_BYTES >=
                  PW_H2_HEADER_BLOCK_IN_FACTOR * PW_H2_DEFAULT_MAX_HEADER_LIST_BYTES,
              "a default-sized header block split at the minimum frame size must be accepted");
static_assert(PW_H2_RESET_BURST >= PW_H2_DEFAULT_MAX_CONCURRENT_STREAMS,
              "a client must be able to cancel every concurrent stream at once");
static_assert(PW_H2_STREAM_CACHE_MAX <= PW_H2_DEFAULT_MAX_CONCURRENT_STREAMS,
              "a session never keeps more closed streams than it may have open");
static_assert(PW_H2_OUT_CAP_BYTES < 256u * 1024u, "output buffer stays well below 256 KiB");

#endif
