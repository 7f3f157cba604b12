/* core/rt_sha256: SHA-256 (FIPS 180-4) of a buffer, and a constant-time comparison.
 *
 * Used to keep secrets hashed (server/srv_auth: an auth file may hold `sha256:HEX` instead of
 * the secret) and to compare a presented secret without leaking, through timing, how much of it
 * matched. Written from the specification; no I/O, no allocation. */
#ifndef RT_SHA256_H
#define RT_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RT_SHA256_BYTES 32u /* digest size */

/* digest = SHA-256(p[0..n)). `p` is borrowed for the call; n may be 0 (p may then be NULL). */
void rt_sha256(const void *p, size_t n, uint8_t digest[RT_SHA256_BYTES]);

/* true when a[0..n) == b[0..n). Its time depends on n only, never on where they differ. */
bool rt_ct_equal(const void *a, const void *b, size_t n);

#endif
