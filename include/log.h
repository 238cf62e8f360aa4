/* Logging to stderr: one line per event with timestamp, level and message, as text or
 * JSON lines. The log level and format are process-wide (there is one stderr). */
#ifndef MXE_LOG_H
#define MXE_LOG_H

typedef enum { MXE_LOG_DEBUG = 0, MXE_LOG_INFO, MXE_LOG_WARN, MXE_LOG_ERROR } mxe_log_level;
typedef enum { MXE_LOG_TEXT = 0, MXE_LOG_JSON } mxe_log_format;

void mxe_log_setup(mxe_log_level level, mxe_log_format format);
/* Parse "debug" / "info" / "warn" / "error" and "text" / "json"; 0 on success, -1 if unknown. */
int mxe_log_parse_level(const char *s, mxe_log_level *out);
int mxe_log_parse_format(const char *s, mxe_log_format *out);
int mxe_log_enabled(mxe_log_level level);
void mxe_log(mxe_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define mxe_debug(...) mxe_log(MXE_LOG_DEBUG, __VA_ARGS__)
#define mxe_info(...)  mxe_log(MXE_LOG_INFO, __VA_ARGS__)
#define mxe_warn(...)  mxe_log(MXE_LOG_WARN, __VA_ARGS__)
#define mxe_error(...) mxe_log(MXE_LOG_ERROR, __VA_ARGS__)

#endif
