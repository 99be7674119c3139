/*
 * colmap.h: the ordered column-name table of a reader.
 *
 * Design: names in insertion order (the order handed to on_columns) plus an
 * open-addressing hash index (FNV-1a, linear probing, power-of-two size kept at
 * most half full) from name to position, so a JSON record with many keys costs
 * one probe per key. Names are copied in; the table owns them.
 *
 * Bounds: at most `max` names (CEL_ELIMIT beyond, message left to the caller), each
 * name at most COLMAP_NAME_MAX bytes (CEL_ELIMIT). Allocation failure is CEL_ENOMEM.
 *
 * Not here: removal, renaming.
 */
#ifndef CELERIAC_FORMATS_COLMAP_H
#define CELERIAC_FORMATS_COLMAP_H

#include "celeriac/error.h"

#include <stddef.h>

#define COLMAP_NAME_MAX 65536

typedef struct colmap {
    char **names;  /* owned; names[i] is NUL-terminated */
    size_t *lens;  /* byte length of each name */
    size_t n, cap; /* names used / allocated */
    size_t *slots; /* hash slots holding index + 1, 0 = empty */
    size_t nslots; /* power of two */
    size_t max;    /* bound on n */
} colmap;

void colmap_init(colmap *m, size_t max);
void colmap_free(colmap *m); /* NULL-safe; leaves m empty */

/* Position of name (len bytes) or (size_t)-1 when absent. */
size_t colmap_find(const colmap *m, const char *name, size_t len);

/* Appends a copy of name; *idx receives its position. The caller checks that it is
 * not present yet. CEL_ELIMIT when m already holds max names or the name is longer
 * than COLMAP_NAME_MAX, CEL_ENOMEM. */
cel_status colmap_add(colmap *m, const char *name, size_t len, size_t *idx) CEL_MUST_CHECK;

/* The names in order, borrowed until the next colmap_add / colmap_free. */
static inline const char *const *colmap_names(const colmap *m) {
    return (const char *const *)m->names;
}

#endif
