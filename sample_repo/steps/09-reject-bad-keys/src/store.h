#ifndef BURROW_STORE_H
#define BURROW_STORE_H

#include <stddef.h>

/* A store is a directory holding an append-only log ("log") and a
 * one-line file ("HEAD") with the offset just past the last complete
 * record. */
struct store {
    char dir[256];
    long head;
};

/* store_put refuses an empty key, a key holding a tab or newline, and a
 * value holding a newline: the log could not be read back. */
#define STORE_EBADKEY (-2)

int store_open(struct store *s, const char *dir);
int store_put(struct store *s, const char *key, const char *value);
int store_get(struct store *s, const char *key, char *out, size_t cap);
void store_close(struct store *s);

#endif
