/* process_* statistics from /proc, as client_golang's process collector reads them;
 * see procstat.h. Nothing here allocates. */
#define _GNU_SOURCE /* getdents64 */
#include "procstat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
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
 * file can be long (one "intr" line holds thousands of counters): it is scanned in chunks
 * of a stack buffer, so reading it allocates nothing (it may run on any HTTP thread, and
 * every thread's malloc arena keeps what it once touched). */
static int read_boot_time(uint64_t *btime)
{
    int fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    static const char key[] = "btime ";
    int match = 0; /* characters of key matched at the start of this line; -1: skip it */
    bool in_value = false, digits = false;
    uint64_t v = 0;
    char buf[4096];
    for (bool done = false; !done;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n && !done; i++) {
            char ch = buf[i];
            if (in_value) {
                done = ch < '0' || ch > '9' || v > (UINT64_MAX - 9) / 10;
                if (!done) {
                    v = v * 10 + (uint64_t)(ch - '0');
                    digits = true;
                }
            } else if (ch == '\n') {
                match = 0;
            } else if (match >= 0) {
                match = ch == key[match] ? match + 1 : -1;
                in_value = match == (int)sizeof key - 1;
            }
        }
    }
    close(fd);
    if (!digits) {
        errno = EINVAL;
        return -1;
    }
    *btime = v;
    return 0;
}

/* The kernel's record for getdents64(2); read field by field with memcpy (the buffer is
 * a char array). */
struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/* Entries of /proc/self/fd, not counting the descriptor that reads the directory. With
 * getdents64 into a stack buffer rather than opendir(), which allocates 32 KiB. */
static int count_open_fds(uint64_t *n)
{
    int fd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char self[24];
    snprintf(self, sizeof self, "%d", fd);
    char buf[4096];
    uint64_t count = 0;
    for (;;) {
        ssize_t len = getdents64(fd, buf, sizeof buf);
        if (len < 0 && errno == EINTR)
            continue;
        if (len < 0) {
            int saved = errno;
            close(fd);
            errno = saved;
            return -1;
        }
        if (len == 0)
            break;
        for (size_t off = 0; off + offsetof(struct linux_dirent64, d_name) < (size_t)len;) {
            unsigned short reclen;
            memcpy(&reclen, buf + off + offsetof(struct linux_dirent64, d_reclen), sizeof reclen);
            const char *name = buf + off + offsetof(struct linux_dirent64, d_name);
            size_t room = (size_t)len - (off + offsetof(struct linux_dirent64, d_name));
            if (reclen == 0)
                break;
            if (name[0] != '.' && strncmp(name, self, room) != 0)
                count++;
            off += reclen;
        }
    }
    close(fd);
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
    /* The boot time is read once: /proc/stat is long and costly to generate (every CPU's
     * and every interrupt's counters), and the start time it yields never changes. */
    static _Atomic uint64_t boot_time; /* 0 until read; a race reads the same value twice */
    uint64_t btime = atomic_load_explicit(&boot_time, memory_order_relaxed);
    if (btime == 0) {
        if (read_boot_time(&btime) != 0) {
            mxe_debug("procstat: /proc/stat btime: %s", strerror(errno));
            return -1;
        }
        atomic_store_explicit(&boot_time, btime, memory_order_relaxed);
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
