/* Stream record helpers; see model.h. */
#include "model.h"

#include <stdlib.h>
#include <string.h>

void mxe_streams_free(mxe_streams *s)
{
    if (!s)
        return;
    free(s->items);
    mxe_arena_free(&s->arena);
    memset(s, 0, sizeof *s);
}

/* Byte-wise comparison of a NUL-terminated name with name[0..len). */
static int name_cmp(const char *a, const char *b, size_t blen)
{
    size_t alen = strlen(a);
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}

const mxe_stream *mxe_streams_find(const mxe_streams *s, const char *name, size_t name_len)
{
    size_t lo = 0, hi = s->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = name_cmp(s->items[mid].name, name, name_len);
        if (c == 0)
            return &s->items[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

size_t mxe_streams_count_ready(const mxe_streams *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->count; i++)
        n += s->items[i].ready;
    return n;
}
