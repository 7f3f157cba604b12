/* proto_wire/pw_hpack_table: the HPACK dynamic table (RFC 7541 §2.3.2, §4).
 *
 * A ring of pointers to entries, newest at `head`. Each entry is one allocation holding name
 * and value. The ring grows by doubling, never beyond max_size / 32 + 1 slots (every entry
 * costs at least 32 octets), so its memory follows the table's octet budget. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "proto_wire/pw_hpack_int.h"

enum { RING_SLOTS_MIN = 8 }; /* first ring: a typical gRPC connection's distinct fields */

uint32_t pw_hpack_hash(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

void pw_hpack_table_init(pw_hpack_table *t, size_t max_size)
{
    memset(t, 0, sizeof(*t));
    t->max_size = max_size;
}

static void evict_oldest(pw_hpack_table *t)
{
    const size_t slot = (t->head + t->cap_ents - (t->count - 1)) % t->cap_ents;
    pw_hpack_entry *e = t->ents[slot];
    t->size -= pw_hpack_entry_size(e);
    t->count--;
    t->ents[slot] = NULL;
    rt_free(e);
}

void pw_hpack_table_deinit(pw_hpack_table *t)
{
    while (t->count > 0) evict_oldest(t);
    rt_free(t->ents);
    memset(t, 0, sizeof(*t));
}

int pw_hpack_table_entry(const pw_hpack_table *t, size_t i, const uint8_t **name, size_t *name_len,
                         const uint8_t **value, size_t *value_len)
{
    if (i >= t->count) return PW_HPACK_ERR_RANGE;
    const pw_hpack_entry *e = pw_hpack_table_get(t, i);
    *name = pw_hpack_entry_name(e);
    *name_len = e->name_len;
    *value = pw_hpack_entry_value(e);
    *value_len = e->value_len;
    return 0;
}

void pw_hpack_table_set_max(pw_hpack_table *t, size_t max_size)
{
    t->max_size = max_size;
    while (t->size > t->max_size) evict_oldest(t);
}

/* Makes room for one more slot. Returns 0 or -ENOMEM (table unchanged). */
static int ring_reserve(pw_hpack_table *t)
{
    if (t->count < t->cap_ents) return 0;
    size_t want = t->cap_ents ? t->cap_ents * 2 : RING_SLOTS_MIN;
    const size_t bound = t->max_size / PW_HPACK_ENTRY_OVERHEAD + 1;
    if (want > bound) want = bound;
    if (want < t->count + 1) want = t->count + 1;
    pw_hpack_entry **ring = rt_calloc(want, sizeof(*ring));
    if (!ring) return -ENOMEM;
    for (size_t i = 0; i < t->count; i++) /* oldest first into 0..count-1 */
        ring[i] = (pw_hpack_entry *)pw_hpack_table_get(t, t->count - 1 - i);
    rt_free(t->ents);
    t->ents = ring;
    t->cap_ents = want;
    t->head = t->count ? t->count - 1 : want - 1;
    return 0;
}

int pw_hpack_table_insert(pw_hpack_table *t, const uint8_t *name, size_t name_len,
                          const uint8_t *value, size_t value_len, uint32_t name_hash)
{
    /* §4.4: an entry larger than the maximum empties the table. Written to avoid overflow. */
    if (name_len > t->max_size || value_len > t->max_size - name_len ||
        PW_HPACK_ENTRY_OVERHEAD > t->max_size - name_len - value_len) {
        while (t->count > 0) evict_oldest(t);
        return 0;
    }
    const size_t esize = name_len + value_len + PW_HPACK_ENTRY_OVERHEAD;
    if (ring_reserve(t) != 0) return -ENOMEM;
    pw_hpack_entry *e = rt_malloc(sizeof(*e) + name_len + value_len);
    if (!e) return -ENOMEM;
    e->name_len = (uint32_t)name_len;
    e->value_len = (uint32_t)value_len;
    e->name_hash = name_hash;
    if (name_len) memcpy(e->data, name, name_len);
    if (value_len) memcpy(e->data + name_len, value, value_len);
    /* Copied first: `name` may live in an entry evicted now (§4.4, last paragraph). */
    while (t->count > 0 && t->size + esize > t->max_size) evict_oldest(t);
    t->head = (t->head + 1) % t->cap_ents;
    t->ents[t->head] = e;
    t->count++;
    t->size += esize;
    return 0;
}
