/* proto_wire/pw_hpack_int: private to the HPACK files (pw_hpack*.c). The static table and the
 * dynamic table operations shared by the decoder and the encoder. Not for other modules. */
#ifndef PW_HPACK_INT_H
#define PW_HPACK_INT_H

#include <stddef.h>
#include <stdint.h>

#include "proto_wire/pw_hpack.h"

/* One dynamic table entry, one allocation: name bytes then value bytes. */
struct pw_hpack_entry {
    uint32_t name_len;
    uint32_t value_len;
    uint32_t name_hash; /* pw_hpack_hash(name) for the encoder's lookups; 0 in the decoder */
    uint8_t data[];     /* name_len + value_len bytes */
};

static inline const uint8_t *pw_hpack_entry_name(const pw_hpack_entry *e) { return e->data; }
static inline const uint8_t *pw_hpack_entry_value(const pw_hpack_entry *e)
{
    return e->data + e->name_len;
}
static inline size_t pw_hpack_entry_size(const pw_hpack_entry *e)
{
    return (size_t)e->name_len + e->value_len + PW_HPACK_ENTRY_OVERHEAD;
}

/* ---- static table (pw_hpack_static.c) ---- */

typedef struct pw_hpack_static_entry {
    const char *name;
    const char *value;
    uint8_t name_len;
    uint8_t value_len;
} pw_hpack_static_entry;

/* RFC 7541 Appendix A; element [i] is HPACK index i + 1. */
extern const pw_hpack_static_entry pw_hpack_static_table[PW_HPACK_STATIC_COUNT];

/* Finds `name` (and `value`) in the static table. Returns the HPACK index (1..61) of an exact
 * name+value match with *exact = 1, else of the first name match with *exact = 0, else 0. */
unsigned pw_hpack_static_find(const uint8_t *name, size_t name_len, const uint8_t *value,
                              size_t value_len, int *exact);

/* ---- dynamic table (pw_hpack_table.c) ---- */

/* A 32-bit FNV-1a hash, used to skip most memcmp calls in encoder lookups. */
uint32_t pw_hpack_hash(const uint8_t *p, size_t n);

/* Empty table of `max_size` octets; allocates nothing. */
void pw_hpack_table_init(pw_hpack_table *t, size_t max_size);
/* Frees every entry and the ring. */
void pw_hpack_table_deinit(pw_hpack_table *t);
/* Entry `i`, 0 = newest (HPACK index 62 + i); i must be < t->count. Borrowed. */
static inline const pw_hpack_entry *pw_hpack_table_get(const pw_hpack_table *t, size_t i)
{
    return t->ents[(t->head + t->cap_ents - i) % t->cap_ents];
}
/* Sets the maximum size and evicts the oldest entries until size <= max (§4.3). */
void pw_hpack_table_set_max(pw_hpack_table *t, size_t max_size);
/* Adds a copy of the field as the newest entry, evicting per §4.4 first. An entry larger than
 * the maximum empties the table and is not added (not an error). Copies before evicting, so
 * `name` may point into an entry that gets evicted. Returns 0, or -ENOMEM with the
 * table unchanged. */
int pw_hpack_table_insert(pw_hpack_table *t, const uint8_t *name, size_t name_len,
                          const uint8_t *value, size_t value_len, uint32_t name_hash);

#endif
