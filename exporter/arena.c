/* Bump allocator; see arena.h. Chunks grow with demand so that 10 and 10,000 streams
 * cost a handful of mallocs each. */
#include "arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct mxe_arena_chunk {
    mxe_arena_chunk *next;
    size_t used;
    size_t size;
    alignas(max_align_t) unsigned char data[];
};

void *mxe_arena_alloc(mxe_arena *a, size_t n)
{
    const size_t align = alignof(max_align_t);
    if (n > SIZE_MAX / 4)
        return NULL;
    n = (n + align - 1) & ~(align - 1);
    mxe_arena_chunk *c = a->head;
    if (!c || c->size - c->used < n) {
        size_t size = c ? c->size * 2 : 4096;
        if (size > (1u << 22))
            size = 1u << 22; /* 4 MiB chunks at most: waste stays small */
        if (size < n)
            size = n;
        mxe_arena_chunk *nc = malloc(sizeof *nc + size);
        if (!nc)
            return NULL;
        nc->next = c;
        nc->used = 0;
        nc->size = size;
        a->head = c = nc;
    }
    void *p = c->data + c->used;
    c->used += n;
    a->total += n;
    return p;
}

char *mxe_arena_strndup(mxe_arena *a, const char *s, size_t n)
{
    char *p = mxe_arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void mxe_arena_free(mxe_arena *a)
{
    if (!a)
        return;
    mxe_arena_chunk *c = a->head;
    while (c) {
        mxe_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->total = 0;
}
