/* burrow: an append-only key-value log.
 *
 * Every put appends "key\tvalue\n" to the log and then moves HEAD. A get
 * scans the log up to HEAD and keeps the last value seen for the key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

/* TODO: keep an in-memory index of key offsets
 *   A get is a full scan of the log today. A hash table from key to the
 *   offset of its latest record would make reads constant time.
 *   #performance
 */

static void path_in(const struct store *s, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", s->dir, name);
}

static int write_head(const struct store *s)
{
    char path[512], tmp[512];
    path_in(s, "HEAD", path, sizeof path);
    path_in(s, "HEAD.tmp", tmp, sizeof tmp);
    // FIXME: atomic-ref-update
    //     HEAD is now replaced by rename(), so readers see the old or the
    //     new offset, never an empty file. Neither the temp file nor the
    //     directory is fsynced yet, so a power cut can still lose the rename.
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    if (fprintf(f, "%ld\n", s->head) < 0) {
        fclose(f);
        remove(tmp);
        return -1;
    }
    if (fclose(f) != 0)
        return -1;
    return rename(tmp, path);
}

int store_open(struct store *s, const char *dir)
{
    char path[512];
    strncpy(s->dir, dir, sizeof s->dir - 1);
    s->dir[sizeof s->dir - 1] = '\0';
    s->head = 0;
    path_in(s, "HEAD", path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0; /* no HEAD yet: a new, empty store */
    if (fscanf(f, "%ld", &s->head) != 1)
        s->head = 0;
    fclose(f);
    return 0;
}

int store_put(struct store *s, const char *key, const char *value)
{
    char path[512];
    /* Tab separates key from value and newline ends the record. */
    if (key[0] == '\0' || key[strcspn(key, "\t\n")] != '\0' || strchr(value, '\n'))
        return STORE_EBADKEY;
    path_in(s, "log", path, sizeof path);
    FILE *log = fopen(path, "a");
    if (!log)
        return -1;
    fprintf(log, "%s\t%s\n", key, value);
    s->head = ftell(log);
    fclose(log);
    return write_head(s);
}

int store_get(struct store *s, const char *key, char *out, size_t cap)
{
    char path[512], line[1024];
    size_t klen = strlen(key);
    int found = -1;
    path_in(s, "log", path, sizeof path);
    FILE *log = fopen(path, "r");
    if (!log)
        return -1;
    /* Bytes past HEAD belong to a put that never finished. */
    while (ftell(log) < s->head && fgets(line, sizeof line, log)) {
        if (strncmp(line, key, klen) == 0 && line[klen] == '\t') {
            /* HACK: a value longer than the line buffer is cut short
             *   silently; fine for config-sized values, wrong for blobs
             */
            snprintf(out, cap, "%s", line + klen + 1);
            out[strcspn(out, "\n")] = '\0';
            found = 0;
        }
    }
    fclose(log);
    return found;
}

void store_close(struct store *s)
{
    s->head = 0;
}
