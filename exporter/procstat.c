/* process_* statistics from /proc, as client_golang's process collector reads them;
 * see procstat.h. */
#include "procstat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"

int mxe_procstat_parse_stat(const char *text, size_t len, mxe_proc_stat_fields *out)
{
    const char *end = text + len;
    const char *p = NULL;
    for (const char *q = text; q < end; q++) {
        if (*q == ')')
            p = q + 1;
    }
    if (!p)
        return -1;
    /* Fields 3 (state) onwards, space-separated; we need 14, 15, 22, 23 and 24. */
    mxe_proc_stat_fields f = {0};
    for (int field = 3; field <= 24; field++) {
        if (p >= end || *p != ' ')
            return -1;
        p++;
        const char *tok = p;
        while (p < end && *p != ' ' && *p != '\n')
            p++;
        uint64_t *dst = NULL;
        switch (field) {
        case 14:
            dst = &f.utime_ticks;
            break;
        case 15:
            dst = &f.stime_ticks;
            break;
        case 22:
            dst = &f.starttime_ticks;
            break;
        case 23:
            dst = &f.vsize_bytes;
            break;
        case 24:
            dst = &f.rss_pages;
            break;
        default:
            break;
        }
        if (!dst)
            continue;
        if (p == tok)
            return -1;
        uint64_t v = 0;
        for (const char *d = tok; d < p; d++) {
            if (*d < '0' || *d > '9' || v > (UINT64_MAX - 9) / 10)
                return -1;
            v = v * 10 + (uint64_t)(*d - '0');
        }
        *dst = v;
    }
    *out = f;
    return 0;
}

/* Read a small /proc file whole; returns its length or -1 (errno set). */
static ssize_t read_small_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    while (len < cap) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int saved = errno;
            close(fd);
            errno = saved;
            return -1;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    return (ssize_t)len;
}

/* System boot time (seconds since the epoch) from the "btime" line of /proc/stat. The
 * file can be long (one "intr" line holds thousands of counters), so read it by lines. */
static int read_boot_time(uint64_t *btime)
{
    FILE *f = fopen("/proc/stat", "re");
    if (!f)
        return -1;
    char *line = NULL;
    size_t cap = 0;
    int rc = -1;
    while (getline(&line, &cap, f) > 0) {
        if (strncmp(line, "btime ", 6) == 0) {
            char *endp;
            errno = 0;
            unsigned long long v = strtoull(line + 6, &endp, 10);
            if (errno == 0 && endp != line + 6) {
                *btime = (uint64_t)v;
                rc = 0;
            }
            break;
        }
    }
    free(line);
    fclose(f);
    if (rc != 0)
        errno = EINVAL;
    return rc;
}

/* Entries of /proc/self/fd, not counting the descriptor that reads the directory. */
static int count_open_fds(uint64_t *n)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int self = dirfd(d);
    uint64_t count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (atoi(e->d_name) == self)
            continue;
        count++;
    }
    closedir(d);
    *n = count;
    return 0;
}

int mxe_procstat_read(mxe_process_stats *out)
{
    /* /proc/self/stat is one line of 52 fields: far below 1 KiB even with a 15-byte comm. */
    char text[1024];
    ssize_t len = read_small_file("/proc/self/stat", text, sizeof text);
    mxe_proc_stat_fields f;
    if (len < 0) {
        mxe_debug("procstat: /proc/self/stat: %s", strerror(errno));
        return -1;
    }
    if (mxe_procstat_parse_stat(text, (size_t)len, &f) != 0) {
        mxe_debug("procstat: /proc/self/stat: unexpected format");
        return -1;
    }
    long ticks = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    if (ticks <= 0 || page <= 0) {
        mxe_debug("procstat: sysconf: %s", strerror(errno));
        return -1;
    }
    uint64_t btime;
    if (read_boot_time(&btime) != 0) {
        mxe_debug("procstat: /proc/stat btime: %s", strerror(errno));
        return -1;
    }
    uint64_t open_fds;
    if (count_open_fds(&open_fds) != 0) {
        mxe_debug("procstat: /proc/self/fd: %s", strerror(errno));
        return -1;
    }
    struct rlimit rl, as;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || getrlimit(RLIMIT_AS, &as) != 0) {
        mxe_debug("procstat: getrlimit: %s", strerror(errno));
        return -1;
    }

    out->cpu_seconds_total = (double)(f.utime_ticks + f.stime_ticks) / (double)ticks;
    out->resident_bytes = f.rss_pages * (uint64_t)page;
    out->virtual_bytes = f.vsize_bytes;
    out->start_time_unix = (double)btime + (double)f.starttime_ticks / (double)ticks;
    out->open_fds = open_fds;
    out->max_fds = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
    out->max_virtual_bytes = as.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)as.rlim_cur;
    return 0;
}
