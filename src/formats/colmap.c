/*
 * colmap.c: ordered name table with a hash index (see colmap.h).
 */
#include "formats/colmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void colmap_init(colmap *m, size_t max) {
    memset(m, 0, sizeof *m);
    m->max = max;
}

void colmap_free(colmap *m) {
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n; i++)
        free(m->names[i]);
    free(m->names);
    free(m->lens);
    free(m->slots);
    size_t max = m->max;
    colmap_init(m, max);
}

static size_t cm_hash(const char *s, size_t len) {
    uint64_t h = UINT64_C(1469598103934665603);
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= UINT64_C(1099511628211);
    }
    return (size_t)(h ^ (h >> 29));
}

size_t colmap_find(const colmap *m, const char *name, size_t len) {
    if (m->nslots == 0)
        return (size_t)-1;
    size_t mask = m->nslots - 1;
    for (size_t k = cm_hash(name, len) & mask;; k = (k + 1) & mask) {
        size_t v = m->slots[k];
        if (v == 0)
            return (size_t)-1;
        size_t i = v - 1;
        if (m->lens[i] == len && memcmp(m->names[i], name, len) == 0)
            return i;
    }
}

static void cm_insert_slot(colmap *m, size_t idx) {
    size_t mask = m->nslots - 1;
    size_t k = cm_hash(m->names[idx], m->lens[idx]) & mask;
    while (m->slots[k] != 0)
        k = (k + 1) & mask;
    m->slots[k] = idx + 1;
}

static cel_status cm_rehash(colmap *m, size_t nslots) {
    size_t *slots = calloc(nslots, sizeof *slots);
    if (slots == NULL)
        return CEL_ENOMEM;
    free(m->slots);
    m->slots = slots;
    m->nslots = nslots;
    for (size_t i = 0; i < m->n; i++)
        cm_insert_slot(m, i);
    return CEL_OK;
}

cel_status colmap_add(colmap *m, const char *name, size_t len, size_t *idx) {
    if (m->n >= m->max || len > COLMAP_NAME_MAX)
        return CEL_ELIMIT;
    if (m->n == m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 16;
        char **names = realloc(m->names, ncap * sizeof *names);
        if (names == NULL)
            return CEL_ENOMEM;
        m->names = names;
        size_t *lens = realloc(m->lens, ncap * sizeof *lens);
        if (lens == NULL)
            return CEL_ENOMEM;
        m->lens = lens;
        m->cap = ncap;
    }
    if ((m->n + 1) * 2 > m->nslots) {
        cel_status st = cm_rehash(m, m->nslots ? m->nslots * 2 : 32);
        if (st != CEL_OK)
            return st;
    }
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return CEL_ENOMEM;
    memcpy(copy, name, len);
    copy[len] = '\0';
    m->names[m->n] = copy;
    m->lens[m->n] = len;
    cm_insert_slot(m, m->n);
    *idx = m->n++;
    return CEL_OK;
}
