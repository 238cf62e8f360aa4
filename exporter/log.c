/* Logging to stderr; see log.h. One write(2) per line so lines from the poll loop and
 * the HTTP threads never interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"

static mxe_log_level log_level = MXE_LOG_INFO;
static mxe_log_format log_format = MXE_LOG_TEXT;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void mxe_log_setup(mxe_log_level level, mxe_log_format format)
{
    log_level = level;
    log_format = format;
}

int mxe_log_parse_level(const char *s, mxe_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (mxe_log_level)i;
            return 0;
        }
    }
    if (strcmp(s, "warning") == 0) {
        *out = MXE_LOG_WARN;
        return 0;
    }
    return -1;
}

int mxe_log_parse_format(const char *s, mxe_log_format *out)
{
    if (strcmp(s, "text") == 0)
        *out = MXE_LOG_TEXT;
    else if (strcmp(s, "json") == 0)
        *out = MXE_LOG_JSON;
    else
        return -1;
    return 0;
}

int mxe_log_enabled(mxe_log_level level)
{
    return level >= log_level;
}

void mxe_log(mxe_log_level level, const char *fmt, ...)
{
    if (level < log_level)
        return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03dZ", (int)(tv.tv_usec / 1000));

    mxe_buf msg = MXE_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    mxe_buf_vprintf(&msg, fmt, ap);
    va_end(ap);

    mxe_buf line = MXE_BUF_INIT;
    if (log_format == MXE_LOG_JSON) {
        mxe_buf_printf(&line, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":", ts, level_names[level]);
        mxe_buf_json_string(&line, msg.data ? msg.data : "", msg.len);
        mxe_buf_puts(&line, "}\n");
    } else {
        mxe_buf_printf(&line, "%s %-5s %s\n", ts, level_names[level], msg.data ? msg.data : "");
    }
    if (mxe_buf_ok(&line)) {
        ssize_t w = write(STDERR_FILENO, line.data, line.len);
        (void)w; /* nowhere to report a failed log write */
    }
    mxe_buf_free(&msg);
    mxe_buf_free(&line);
}
