/* Stream records → the JSON document that Redis, the file and /api/streams/latest carry:
 * an array sorted by name, keys in the seed design's order, then the extra keys. */
#ifndef MXE_STREAMS_JSON_H
#define MXE_STREAMS_JSON_H

#include <stddef.h>

#include "buf.h"
#include "model.h"

/* Append the array to `out`. When `off`/`len` are not NULL they receive, per stream,
 * where its object starts in `out` and how long it is (for /api/streams/{path}).
 * Returns 0, or -1 when `out` failed. */
int mxe_streams_json_write(mxe_buf *out, const mxe_streams *s, size_t *off, size_t *len);

#endif
