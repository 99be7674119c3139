/*
 * lru.h: a bounded string-keyed map that forgets its oldest entries, like Celery's
 * LimitedSet. Used for "tasks already completed" (so a redelivery after a lost ack
 * doesn't run a task twice), "children lost while running this task", and revoked
 * ids. Capacity is fixed at creation; inserting beyond it evicts in insertion order.
 */
#ifndef CELERIAC_LRU_H
#define CELERIAC_LRU_H

#include <stddef.h>

typedef struct lru lru;
typedef void (*lru_free_fn)(void *value);

/* New map holding at most cap entries; values freed with free_fn (may be NULL). */
lru *lru_new(size_t cap, lru_free_fn free_fn);
void lru_free(lru *m); /* NULL-safe */
/* Inserts or replaces (value is stolen). Refreshes the entry's age on replace. */
void lru_put(lru *m, const char *key, void *value);
void *lru_get(lru *m, const char *key); /* borrowed; NULL when absent */
void lru_del(lru *m, const char *key);
size_t lru_size(const lru *m);
/* Visits entries oldest first. */
void lru_foreach(lru *m, void (*cb)(const char *key, void *value, void *ud), void *ud);

#endif
