#include "queue/q_format.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <xxhash.h>

void q_seg_hdr_encode(uint8_t *dst, uint64_t base, uint64_t seg_bytes, uint64_t ctime_ns)
{
    memset(dst, 0, Q_SEG_HDR_BYTES);
    q_st64(dst + Q_SEG_OFF_MAGIC, Q_SEG_MAGIC);
    q_st16(dst + Q_SEG_OFF_VERSION, Q_FORMAT_VERSION);
    q_st16(dst + Q_SEG_OFF_HDRLEN, Q_SEG_HDR_BYTES);
    q_st64(dst + Q_SEG_OFF_BASE, base);
    q_st64(dst + Q_SEG_OFF_BYTES, seg_bytes);
    q_st64(dst + Q_SEG_OFF_CTIME, ctime_ns);
    q_st64(dst + Q_SEG_OFF_CSUM, XXH3_64bits(dst, Q_SEG_CSUM_BYTES));
}

int q_seg_hdr_check(const uint8_t *src, uint64_t base, uint64_t file_bytes, const char **why)
{
    static const uint8_t zero[Q_SEG_OFF_CSUM - Q_SEG_OFF_SYNCED];
    uint16_t version = q_ld16(src + Q_SEG_OFF_VERSION);
    /* Version 1 checksummed the reserved bytes too (zero then); version 2 keeps its watermark
     * there, outside the checksum. Which sum matches says which layout this is, so a flipped
     * version bit reads as the checksum mismatch it is. */
    uint64_t csum = q_ld64(src + Q_SEG_OFF_CSUM);
    int layout = csum == XXH3_64bits(src, Q_SEG_CSUM_BYTES) ? 2
                 : csum == XXH3_64bits(src, Q_SEG_OFF_CSUM) ? 1
                                                            : 0;
    *why = NULL;
    if (q_ld64(src + Q_SEG_OFF_MAGIC) != Q_SEG_MAGIC) *why = "bad segment magic";
    else if (layout == 0 && version > Q_FORMAT_VERSION) *why = "unsupported segment format version";
    else if (layout == 0) *why = "segment header checksum mismatch";
    else if (version < Q_FORMAT_VERSION_MIN || version > Q_FORMAT_VERSION ||
             (version == 1) != (layout == 1))
        *why = "unsupported segment format version";
    else if (q_ld16(src + Q_SEG_OFF_HDRLEN) != Q_SEG_HDR_BYTES) *why = "bad segment header size";
    else if (q_ld32(src + Q_SEG_OFF_FLAGS) != 0 ||
             (version == 1 && memcmp(src + Q_SEG_OFF_SYNCED, zero, sizeof zero) != 0))
        *why = "reserved segment header bits set";
    else if (q_ld64(src + Q_SEG_OFF_BASE) != base) *why = "segment base differs from its name";
    else if (q_ld64(src + Q_SEG_OFF_BYTES) != file_bytes) *why = "segment size differs from header";
    return *why ? -EBADMSG : (int)version;
}

static uint32_t synced_check(uint32_t count, uint64_t base)
{
    uint8_t b[4];
    q_st32(b, count);
    return (uint32_t)XXH3_64bits_withSeed(b, sizeof b, base);
}

uint32_t q_seg_synced_decode(const uint8_t *hdr, uint64_t base, uint32_t *slot)
{
    uint32_t best = 0;
    *slot = 0;
    for (uint32_t k = 0; k < Q_SEG_SYNCED_SLOTS; k++) {
        const uint8_t *p = hdr + Q_SEG_OFF_SYNCED + k * Q_SEG_SYNCED_SLOT_BYTES;
        uint32_t count = q_ld32(p), check = q_ld32(p + 4);
        /* An all-zero slot was never written: count 0. A slot that fails its check (torn or
         * flipped) is ignored: the other one is older, never wrong. */
        if (check != synced_check(count, base) || count <= best) continue;
        best = count;
        *slot = k;
    }
    return best;
}

void q_seg_synced_encode(uint8_t *hdr, uint64_t base, uint32_t slot, uint32_t count)
{
    uint8_t b[Q_SEG_SYNCED_SLOT_BYTES];
    q_st32(b, count);
    q_st32(b + 4, synced_check(count, base));
    /* One aligned 8-byte store: the slot is never seen half written by writeback. */
    uint64_t v = q_ld64(b);
    __atomic_store_n((uint64_t *)(void *)(hdr + Q_SEG_OFF_SYNCED + slot * Q_SEG_SYNCED_SLOT_BYTES),
                     v, __ATOMIC_RELAXED);
}

uint64_t q_rec_checksum(const uint8_t *src, uint32_t len)
{
    /* Padding included: no bit of a record's span goes unchecked. */
    return XXH3_64bits(src + Q_REC_OFF_MAGIC, (size_t)(q_rec_span(len) - Q_REC_OFF_MAGIC));
}

void q_rec_encode(uint8_t *dst, uint64_t offset, uint64_t id, uint64_t ts_ns, uint16_t type,
                  uint16_t flags, const struct iovec *iov, int n, uint32_t len)
{
    q_st16(dst + Q_REC_OFF_MAGIC, Q_REC_MAGIC);
    q_st16(dst + Q_REC_OFF_VERSION, Q_REC_VERSION);
    q_st32(dst + Q_REC_OFF_LEN, len);
    q_st16(dst + Q_REC_OFF_TYPE, type);
    q_st16(dst + Q_REC_OFF_FLAGS, flags);
    q_st32(dst + Q_REC_OFF_RSVD, 0);
    q_st64(dst + Q_REC_OFF_OFFSET, offset);
    q_st64(dst + Q_REC_OFF_ID, id);
    q_st64(dst + Q_REC_OFF_TS, ts_ns);
    uint8_t *p = dst + Q_REC_HDR_BYTES;
    for (int i = 0; i < n; i++) {
        if (iov[i].iov_len == 0) continue; /* base may be NULL */
        memcpy(p, iov[i].iov_base, iov[i].iov_len);
        p += iov[i].iov_len;
    }
    size_t pad = (size_t)(q_rec_span(len) - Q_REC_HDR_BYTES - len);
    if (pad) memset(p, 0, pad);
    /* The checksum goes in last: a record cut short anywhere before this store fails it. */
    q_st64(dst + Q_REC_OFF_CSUM, q_rec_checksum(dst, len));
}

const char *q_scan_stop_str(q_scan_stop s)
{
    switch (s) {
    case Q_SCAN_OK: return "ok";
    case Q_SCAN_END: return "segment full";
    case Q_SCAN_ZERO: return "zero bytes";
    case Q_SCAN_BAD_HEADER: return "bad record header";
    case Q_SCAN_BAD_LENGTH: return "bad record length";
    case Q_SCAN_BAD_OFFSET: return "record offset out of sequence";
    case Q_SCAN_BAD_CHECKSUM: return "record checksum mismatch";
    }
    return "?";
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i += 8)
        if (q_ld64(p + i) != 0) return false;
    return true;
}

q_scan_stop q_rec_parse(const uint8_t *src, uint64_t avail, uint64_t expect, uint32_t rec_max,
                        bool verify_csum, q_rec *out, uint64_t *span)
{
    if (avail < Q_REC_HDR_BYTES) return Q_SCAN_END;
    if (all_zero(src, Q_REC_HDR_BYTES)) return Q_SCAN_ZERO;
    uint16_t flags = q_ld16(src + Q_REC_OFF_FLAGS);
    if (q_ld16(src + Q_REC_OFF_MAGIC) != Q_REC_MAGIC ||
        q_ld16(src + Q_REC_OFF_VERSION) != Q_REC_VERSION || q_ld32(src + Q_REC_OFF_RSVD) != 0 ||
        (flags & ~Q_REC_F_KNOWN) != 0)
        return Q_SCAN_BAD_HEADER;
    uint32_t len = q_ld32(src + Q_REC_OFF_LEN);
    if (len > rec_max || q_rec_span(len) > avail) return Q_SCAN_BAD_LENGTH;
    uint64_t offset = q_ld64(src + Q_REC_OFF_OFFSET);
    uint64_t id = q_ld64(src + Q_REC_OFF_ID);
    /* A compacted record keeps an older id; any other record's id is its offset. */
    if (offset != expect || id > offset || (id != offset && !(flags & Q_REC_F_COMPACTED)))
        return Q_SCAN_BAD_OFFSET;
    if (verify_csum && q_ld64(src + Q_REC_OFF_CSUM) != q_rec_checksum(src, len))
        return Q_SCAN_BAD_CHECKSUM;
    out->offset = offset;
    out->id = id;
    out->ts_ns = q_ld64(src + Q_REC_OFF_TS);
    out->type = q_ld16(src + Q_REC_OFF_TYPE);
    out->flags = flags;
    out->len = len;
    out->payload = src + Q_REC_HDR_BYTES;
    *span = q_rec_span(len);
    return Q_SCAN_OK;
}
