/* Bump allocator for the many small strings and arrays of one poll cycle.
 * Everything allocated from an arena is released at once by mxe_arena_free(). */
#ifndef MXE_ARENA_H
#define MXE_ARENA_H

#include <stddef.h>

typedef struct mxe_arena_chunk mxe_arena_chunk;
typedef struct mxe_arena {
    mxe_arena_chunk *head;
    size_t total; /* bytes handed out, for accounting and caps */
} mxe_arena;

#define MXE_ARENA_INIT                                                                             \
    {                                                                                              \
        NULL, 0                                                                                    \
    }

/* n bytes aligned for any type, or NULL when out of memory. Owned by the arena. */
void *mxe_arena_alloc(mxe_arena *a, size_t n);
/* NUL-terminated copy of s[0..n), or NULL when out of memory. Owned by the arena. */
char *mxe_arena_strndup(mxe_arena *a, const char *s, size_t n);
/* Release every allocation. Accepts NULL; the arena is reusable afterwards. */
void mxe_arena_free(mxe_arena *a);

#endif
