/* The JSON file mirror: replaced atomically so a reader never sees a partial file. */
#ifndef MXE_MIRROR_FILE_H
#define MXE_MIRROR_FILE_H

#include <stddef.h>

/* Write data[0..len) to `path` through a temporary file in the same directory (fsync,
 * rename, fsync of the directory). On failure the old file is untouched, no temporary
 * file is left, and err holds the cause with strerror text. 0 or -1. */
int mxe_mirror_file_write(const char *path, const char *data, size_t len, char *err, size_t errlen);

#endif
