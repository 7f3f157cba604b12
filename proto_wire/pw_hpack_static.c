/* proto_wire/pw_hpack_static: the HPACK static table (RFC 7541 Appendix A) and its lookup. */
#include <assert.h>
#include <pthread.h>
#include <string.h>

#include "proto_wire/pw_hpack_int.h"

#define S(n, v)                            \
    {                                      \
        n, v, sizeof(n) - 1, sizeof(v) - 1 \
    }

const pw_hpack_static_entry pw_hpack_static_table[PW_HPACK_STATIC_COUNT] = {
    S(":authority", ""),                   /*  1 */
    S(":method", "GET"),                   /*  2 */
    S(":method", "POST"),                  /*  3 */
    S(":path", "/"),                       /*  4 */
    S(":path", "/index.html"),             /*  5 */
    S(":scheme", "http"),                  /*  6 */
    S(":scheme", "https"),                 /*  7 */
    S(":status", "200"),                   /*  8 */
    S(":status", "204"),                   /*  9 */
    S(":status", "206"),                   /* 10 */
    S(":status", "304"),                   /* 11 */
    S(":status", "400"),                   /* 12 */
    S(":status", "404"),                   /* 13 */
    S(":status", "500"),                   /* 14 */
    S("accept-charset", ""),               /* 15 */
    S("accept-encoding", "gzip, deflate"), /* 16 */
    S("accept-language", ""),              /* 17 */
    S("accept-ranges", ""),                /* 18 */
    S("accept", ""),                       /* 19 */
    S("access-control-allow-origin", ""),  /* 20 */
    S("age", ""),                          /* 21 */
    S("allow", ""),                        /* 22 */
    S("authorization", ""),                /* 23 */
    S("cache-control", ""),                /* 24 */
    S("content-disposition", ""),          /* 25 */
    S("content-encoding", ""),             /* 26 */
    S("content-language", ""),             /* 27 */
    S("content-length", ""),               /* 28 */
    S("content-location", ""),             /* 29 */
    S("content-range", ""),                /* 30 */
    S("content-type", ""),                 /* 31 */
    S("cookie", ""),                       /* 32 */
    S("date", ""),                         /* 33 */
    S("etag", ""),                         /* 34 */
    S("expect", ""),                       /* 35 */
    S("expires", ""),                      /* 36 */
    S("from", ""),                         /* 37 */
    S("host", ""),                         /* 38 */
    S("if-match", ""),                     /* 39 */
    S("if-modified-since", ""),            /* 40 */
    S("if-none-match", ""),                /* 41 */
    S("if-range", ""),                     /* 42 */
    S("if-unmodified-since", ""),          /* 43 */
    S("last-modified", ""),                /* 44 */
    S("link", ""),                         /* 45 */
    S("location", ""),                     /* 46 */
    S("max-forwards", ""),                 /* 47 */
    S("proxy-authenticate", ""),           /* 48 */
    S("proxy-authorization", ""),          /* 49 */
    S("range", ""),                        /* 50 */
    S("referer", ""),                      /* 51 */
    S("refresh", ""),                      /* 52 */
    S("retry-after", ""),                  /* 53 */
    S("server", ""),                       /* 54 */
    S("set-cookie", ""),                   /* 55 */
    S("strict-transport-security", ""),    /* 56 */
    S("transfer-encoding", ""),            /* 57 */
    S("user-agent", ""),                   /* 58 */
    S("vary", ""),                         /* 59 */
    S("via", ""),                          /* 60 */
    S("www-authenticate", ""),             /* 61 */
};

#undef S

/* Static indexes grouped by name length (in index order within a group), so a lookup
 * compares only names of the right length. Built once from the table above. */
enum { STATIC_NAME_LEN_MAX = 27 }; /* "access-control-allow-origin" */
static uint8_t by_len_start[STATIC_NAME_LEN_MAX + 2];
static uint8_t by_len[PW_HPACK_STATIC_COUNT];
static pthread_once_t by_len_once = PTHREAD_ONCE_INIT;

static void by_len_build(void)
{
    unsigned count[STATIC_NAME_LEN_MAX + 1] = {0};
    for (unsigned i = 0; i < PW_HPACK_STATIC_COUNT; i++) {
        assert(pw_hpack_static_table[i].name_len <= STATIC_NAME_LEN_MAX);
        count[pw_hpack_static_table[i].name_len]++;
    }
    unsigned pos = 0;
    for (unsigned l = 0; l <= STATIC_NAME_LEN_MAX; l++) {
        by_len_start[l] = (uint8_t)pos;
        pos += count[l];
    }
    by_len_start[STATIC_NAME_LEN_MAX + 1] = (uint8_t)pos;
    unsigned fill[STATIC_NAME_LEN_MAX + 1] = {0};
    for (unsigned i = 0; i < PW_HPACK_STATIC_COUNT; i++) {
        const unsigned l = pw_hpack_static_table[i].name_len;
        by_len[by_len_start[l] + fill[l]++] = (uint8_t)i;
    }
}

unsigned pw_hpack_static_find(const uint8_t *name, size_t name_len, const uint8_t *value,
                              size_t value_len, int *exact)
{
    *exact = 0;
    if (name_len == 0 || name_len > STATIC_NAME_LEN_MAX) return 0;
    pthread_once(&by_len_once, by_len_build);
    unsigned name_idx = 0;
    for (unsigned k = by_len_start[name_len]; k < by_len_start[name_len + 1]; k++) {
        const unsigned i = by_len[k];
        const pw_hpack_static_entry *s = &pw_hpack_static_table[i];
        if (memcmp(s->name, name, name_len) != 0) continue;
        if (!name_idx) name_idx = i + 1;
        if (s->value_len == value_len &&
            (value_len == 0 || memcmp(s->value, value, value_len) == 0)) {
            *exact = 1;
            return i + 1;
        }
    }
    return name_idx;
}
