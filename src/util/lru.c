/*
 * lru.c: chained hash table + doubly linked insertion list (see lru.h). Allocation
 * failure aborts: entries are bookkeeping, bounded by the capacity.
 */
#include "util/lru.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct node {
    char *key;
    void *value;
    struct node *hnext;
    struct node *prev, *next; /* age order: head = oldest */
} node;

struct lru {
    node **buckets;
    size_t nbuckets, size, cap;
    node *head, *tail;
    lru_free_fn free_fn;
};

static uint64_t hash(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static void *xcalloc(size_t n, size_t sz) {
    void *p = calloc(n, sz);
    if (!p)
        abort();
    return p;
}

lru *lru_new(size_t cap, lru_free_fn free_fn) {
    lru *m = xcalloc(1, sizeof *m);
    m->cap = cap ? cap : 1;
    m->nbuckets = 16;
    while (m->nbuckets < m->cap)
        m->nbuckets *= 2;
    m->buckets = xcalloc(m->nbuckets, sizeof *m->buckets);
    m->free_fn = free_fn;
    return m;
}

static node **slot(lru *m, const char *key) {
    node **pp = &m->buckets[hash(key) & (m->nbuckets - 1)];
    while (*pp && strcmp((*pp)->key, key) != 0)
        pp = &(*pp)->hnext;
    return pp;
}

static void unlink_age(lru *m, node *n) {
    if (n->prev)
        n->prev->next = n->next;
    else
        m->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        m->tail = n->prev;
    n->prev = n->next = NULL;
}

static void push_age(lru *m, node *n) {
    n->prev = m->tail;
    n->next = NULL;
    if (m->tail)
        m->tail->next = n;
    else
        m->head = n;
    m->tail = n;
}

static void destroy(lru *m, node *n) {
    if (m->free_fn && n->value)
        m->free_fn(n->value);
    free(n->key);
    free(n);
}

void lru_del(lru *m, const char *key) {
    node **pp = slot(m, key);
    node *n = *pp;
    if (!n)
        return;
    *pp = n->hnext;
    unlink_age(m, n);
    m->size--;
    destroy(m, n);
}

void lru_put(lru *m, const char *key, void *value) {
    node **pp = slot(m, key);
    if (*pp) {
        node *n = *pp;
        if (m->free_fn && n->value && n->value != value)
            m->free_fn(n->value);
        n->value = value;
        unlink_age(m, n);
        push_age(m, n);
        return;
    }
    while (m->size >= m->cap && m->head) {
        char *old = strdup(m->head->key);
        if (!old)
            abort();
        lru_del(m, old);
        free(old);
    }
    node *n = xcalloc(1, sizeof *n);
    n->key = strdup(key);
    if (!n->key)
        abort();
    n->value = value;
    pp = slot(m, key);
    *pp = n;
    push_age(m, n);
    m->size++;
}

void *lru_get(lru *m, const char *key) {
    node *n = *slot(m, key);
    return n ? n->value : NULL;
}

size_t lru_size(const lru *m) {
    return m->size;
}

void lru_foreach(lru *m, void (*cb)(const char *key, void *value, void *ud), void *ud) {
    for (node *n = m->head; n; n = n->next)
        cb(n->key, n->value, ud);
}

void lru_free(lru *m) {
    if (!m)
        return;
    node *n = m->head;
    while (n) {
        node *next = n->next;
        destroy(m, n);
        n = next;
    }
    free(m->buckets);
    free(m);
}
