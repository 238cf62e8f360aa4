/* The JSON file mirror; see mirror_file.h. */
#include "mirror_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int mxe_mirror_file_write(const char *path, const char *data, size_t len, char *err, size_t errlen)
{
    /* dirname/basename may modify their argument: work on copies. */
    char *dcopy = strdup(path), *bcopy = strdup(path);
    char *tmp = NULL;
    int fd = -1, rc = -1;
    if (!dcopy || !bcopy) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    const char *dir = dirname(dcopy), *base = basename(bcopy);
    size_t tlen = strlen(dir) + strlen(base) + 16;
    tmp = malloc(tlen);
    if (!tmp) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    /* A hidden name in the same directory: rename() is then atomic and readers that glob
     * for *.json never pick it up. */
    snprintf(tmp, tlen, "%s/.%s.XXXXXX", dir, base);
    fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create a temporary file in %s: %s", path, dir,
                 strerror(errno));
        free(tmp);
        tmp = NULL;
        goto out;
    }
    if (fchmod(fd, 0644) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
        goto out;
    }
    int cfd = fd;
    fd = -1;
    if (close(cfd) != 0) {
        snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
        goto out;
    }
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: rename failed: %s", path, strerror(errno));
        goto out;
    }
    free(tmp);
    tmp = NULL; /* renamed: nothing to clean up */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) { /* make the rename itself durable; best effort */
        fsync(dfd);
        close(dfd);
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    free(dcopy);
    free(bcopy);
    return rc;
}
