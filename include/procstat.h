/* The standard process_* metrics the official Prometheus client libraries export,
 * read from /proc by the first scrape of a poll cycle (mxe_view_metrics). Unlimited resource limits
 * are UINT64_MAX, as client_golang reports them (prometheus/procfs parses "unlimited" as 2^64-1,
 * which Prometheus reads as 1.8446744073709552e+19). */
#ifndef MXE_PROCSTAT_H
#define MXE_PROCSTAT_H

#include <stddef.h>
#include <stdint.h>

typedef struct mxe_process_stats {
    double cpu_seconds_total; /* user + system */
    uint64_t resident_bytes;  /* RSS */
    uint64_t virtual_bytes;   /* VSZ */
    double start_time_unix;   /* process start, seconds since the epoch */
    uint64_t open_fds;
    uint64_t max_fds;           /* soft RLIMIT_NOFILE; UINT64_MAX when unlimited */
    uint64_t max_virtual_bytes; /* soft RLIMIT_AS; UINT64_MAX when unlimited */
} mxe_process_stats;

/* Read the current values for this process. 0 on success, -1 when /proc is unreadable
 * (then `out` is left unchanged). */
int mxe_procstat_read(mxe_process_stats *out);

/* The fields of /proc/<pid>/stat that the process_* metrics need, raw. */
typedef struct mxe_proc_stat_fields {
    uint64_t utime_ticks;     /* field 14, clock ticks */
    uint64_t stime_ticks;     /* field 15, clock ticks */
    uint64_t starttime_ticks; /* field 22, clock ticks after boot */
    uint64_t vsize_bytes;     /* field 23 */
    uint64_t rss_pages;       /* field 24 */
} mxe_proc_stat_fields;

/* Parse the text of /proc/<pid>/stat: `text` of `len` bytes, need not be NUL-terminated.
 * The command name (field 2) may contain spaces and ')', so fields are counted from the
 * last ')'. 0 on success, -1 when the text is malformed. Exposed for tests. */
int mxe_procstat_parse_stat(const char *text, size_t len, mxe_proc_stat_fields *out);

#endif
