/* Configuration; see config.h.
 *
 * Every option is one line of `options[]` below: flag, environment variable (which is also
 * the env-file key), default, kind, bounds and help. Loading happens in two steps:
 *
 *  1. Collect raw text. Three layers (env file, environment, argv) each hold at most one
 *     string per option together with where it came from ("--poll.interval",
 *     "POLL_INTERVAL" or "/etc/mxe.env:3 POLL_INTERVAL"). argv is read first because it may
 *     name the env file, but it still wins last: for each option the effective text is
 *     flag ?: environment ?: file ?: default.
 *  2. Resolve the options that set one thing in two ways (a value and its _FILE form,
 *     basic auth and a token): both in one layer is an error, across layers the higher
 *     layer wins (resolve_conflicts). Then validate and store, once, in table order; then
 *     the checks that involve two options.
 *
 * So every error can name the option the way the user wrote it, and nothing is parsed
 * twice. Secret values never appear in an error message or in the log. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "version.h"

/* ------------------------------------------------------------------------------------ */
/* The option table                                                                      */

typedef enum {
    K_STRING,      /* char *; see O_EMPTY_NONE / O_NONEMPTY */
    K_SECRET,      /* char *, masked in the log, never echoed; "" = none */
    K_SECRET_FILE, /* a path; the file's content goes into the K_STRING/K_SECRET at .off */
    K_BOOL,        /* bool */
    K_DURATION,    /* double seconds, or unsigned whole seconds with O_CEIL_SECONDS */
    K_SIZE,        /* size_t bytes */
    K_UINT,        /* unsigned */
    K_CUSTOM,      /* .set parses and stores, .show renders for the log */
    K_ACTION,      /* --help / --version: argv only, no value */
} opt_kind;

enum {
    O_EMPTY_NONE = 1u << 0,   /* "" means unset (the field stays NULL) */
    O_NONEMPTY = 1u << 1,     /* "" is an error */
    O_NO_FILE = 1u << 2,      /* has an environment variable but no env-file key */
    O_CEIL_SECONDS = 1u << 3, /* duration stored as unsigned seconds, rounded up */
    O_ZERO_OK = 1u << 4,      /* duration may be 0 */
    O_READABLE = 1u << 5,     /* string names a file that must be readable */
    O_NO_LOG = 1u << 6,       /* not shown by mxe_config_log */
};

typedef struct opt opt;
/* Parse `val` and store it in `cfg`. `name` is the option as the user wrote it. 0 or -1
 * with `err` filled. */
typedef int (*opt_set_fn)(mxe_config *cfg, const opt *o, const char *val, const char *name,
                          char *err, size_t errlen);
typedef void (*opt_show_fn)(const mxe_config *cfg, mxe_buf *b);

struct opt {
    const char *flag; /* "--poll.interval" */
    const char *env;  /* "POLL_INTERVAL", also the env-file key; NULL: flag only */
    const char *def;  /* default, written as a user would; NULL: none */
    opt_kind kind;
    unsigned flags;
    size_t off;          /* field in mxe_config */
    double dmin, dmax;   /* K_DURATION bounds in seconds (inclusive; 0 = none) */
    uint64_t umin, umax; /* K_SIZE / K_UINT bounds (inclusive) */
    opt_set_fn set;      /* K_CUSTOM */
    opt_show_fn show;    /* K_CUSTOM */
    const char *metavar; /* shown in --help: --flag=METAVAR */
    const char *help;    /* one line */
};

static int set_api_url(mxe_config *, const opt *, const char *, const char *, char *, size_t);
static int set_redis_url(mxe_config *, const opt *, const char *, const char *, char *, size_t);
static int set_listen(mxe_config *, const opt *, const char *, const char *, char *, size_t);
static int set_log_level(mxe_config *, const opt *, const char *, const char *, char *, size_t);
static int set_log_format(mxe_config *, const opt *, const char *, const char *, char *, size_t);
static void show_api_url(const mxe_config *, mxe_buf *);
static void show_redis_url(const mxe_config *, mxe_buf *);
static void show_listen(const mxe_config *, mxe_buf *);
static void show_log_level(const mxe_config *, mxe_buf *);
static void show_log_format(const mxe_config *, mxe_buf *);

#define F(field) offsetof(mxe_config, field)

/* Order matters twice: it is the order of --help and of the log, and options are applied
 * in this order (--redis.password after --redis.url, whose password it overrides). */
/* clang-format off */
static const opt options[] = {
    {.flag = "--config.file", .env = "CONFIG_FILE",
     .kind = K_STRING, .flags = O_EMPTY_NONE | O_NO_FILE | O_READABLE, .off = F(config_file),
     .metavar = "PATH", .help = "env file of KEY=value lines to read first (no env-file key)"},

    {.flag = "--mediamtx.api-url", .env = "MEDIAMTX_API_URL", .def = "http://127.0.0.1:9997",
     .kind = K_CUSTOM, .set = set_api_url, .show = show_api_url,
     .metavar = "URL", .help = "base URL of the MediaMTX API, http:// or https://"},
    {.flag = "--mediamtx.username", .env = "MEDIAMTX_API_USER",
     .kind = K_STRING, .flags = O_EMPTY_NONE, .off = F(username),
     .metavar = "USER", .help = "user for HTTP basic auth (needs the 'api' permission only)"},
    {.flag = "--mediamtx.username-file", .env = "MEDIAMTX_API_USER_FILE",
     .kind = K_SECRET_FILE, .off = F(username),
     .metavar = "PATH", .help = "read the user from this file"},
    {.flag = "--mediamtx.password", .env = "MEDIAMTX_API_PASS",
     .kind = K_SECRET, .off = F(password),
     .metavar = "PASSWORD", .help = "password for HTTP basic auth (secret)"},
    {.flag = "--mediamtx.password-file", .env = "MEDIAMTX_API_PASS_FILE",
     .kind = K_SECRET_FILE, .off = F(password),
     .metavar = "PATH", .help = "read the password from this file"},
    {.flag = "--mediamtx.bearer-token", .env = "MEDIAMTX_API_TOKEN",
     .kind = K_SECRET, .off = F(bearer_token),
     .metavar = "TOKEN", .help = "bearer token instead of basic auth (secret)"},
    {.flag = "--mediamtx.bearer-token-file", .env = "MEDIAMTX_API_TOKEN_FILE",
     .kind = K_SECRET_FILE, .off = F(bearer_token),
     .metavar = "PATH", .help = "read the bearer token from this file"},
    {.flag = "--mediamtx.ca-file", .env = "MEDIAMTX_API_CA_FILE",
     .kind = K_STRING, .flags = O_EMPTY_NONE | O_READABLE, .off = F(ca_file),
     .metavar = "PATH",
     .help = "PEM CA bundle to verify the API's certificate (default: system CAs)"},
    {.flag = "--mediamtx.insecure-skip-verify", .env = "MEDIAMTX_API_INSECURE", .def = "false",
     .kind = K_BOOL, .off = F(insecure_skip_verify),
     .metavar = "BOOL", .help = "do not verify the API's TLS certificate"},
    {.flag = "--mediamtx.timeout", .env = "MEDIAMTX_API_TIMEOUT", .def = "1.5s",
     .kind = K_DURATION, .off = F(timeout_s), .dmax = 3600,
     .metavar = "DURATION",
     .help = "bound for one poll cycle, below --poll.interval (default 1.5s or 3/4 of it)"},
    {.flag = "--mediamtx.max-response-size", .env = "MEDIAMTX_API_MAX_RESPONSE_SIZE",
     .def = "64MiB",
     .kind = K_SIZE, .off = F(max_response_bytes), .umin = 64 * 1024, .umax = SIZE_MAX,
     .metavar = "SIZE",
     .help = "refuse larger API responses (bytes, or KiB/MiB/GiB/KB/MB/GB; at least 64KiB)"},

    {.flag = "--poll.interval", .env = "POLL_INTERVAL", .def = "2s",
     .kind = K_DURATION, .off = F(poll_interval_s), .dmin = 0.1, .dmax = 3600,
     .metavar = "DURATION", .help = "time between polls, 100ms to 1h"},

    {.flag = "--redis.url", .env = "REDIS_URL", .def = "redis://127.0.0.1:6379/0",
     .kind = K_CUSTOM, .set = set_redis_url, .show = show_redis_url,
     .metavar = "URL",
     .help = "redis://[user:pass@]host[:port][/db], unix:///path/redis.sock[?db=N] or none"},
    {.flag = "--redis.password", .env = "REDIS_PASSWORD",
     .kind = K_SECRET, .off = F(redis.password),
     .metavar = "PASSWORD", .help = "Redis password, overrides the one in --redis.url (secret)"},
    {.flag = "--redis.password-file", .env = "REDIS_PASSWORD_FILE",
     .kind = K_SECRET_FILE, .off = F(redis.password),
     .metavar = "PATH", .help = "read the Redis password from this file"},
    {.flag = "--redis.key", .env = "REDIS_KEY", .def = "mediamtx:streams:latest",
     .kind = K_STRING, .flags = O_NONEMPTY, .off = F(redis_key),
     .metavar = "KEY", .help = "Redis key that holds the latest JSON array"},
    {.flag = "--redis.channel", .env = "REDIS_CHANNEL", .def = "mediamtx:streams:updates",
     .kind = K_STRING, .off = F(redis_channel),
     .metavar = "CHANNEL", .help = "Redis channel for each update; empty disables publishing"},
    {.flag = "--redis.ttl", .env = "REDIS_TTL", .def = "10s",
     .kind = K_DURATION, .flags = O_CEIL_SECONDS | O_ZERO_OK, .off = F(redis_ttl_s), .dmax = 86400,
     .metavar = "DURATION",
     .help = "expiry of the Redis key, whole seconds rounded up, at most 24h; 0 = none"},

    {.flag = "--output.json", .env = "JSON_OUTPUT_PATH", .def = "/tmp/mediamtx_streams.json",
     .kind = K_STRING, .off = F(json_output_path),
     .metavar = "PATH", .help = "JSON file replaced atomically each cycle; empty disables"},

    {.flag = "--web.listen-address", .env = "LISTEN_ADDRESS", .def = ":9977",
     .kind = K_CUSTOM, .set = set_listen, .show = show_listen,
     .metavar = "[HOST]:PORT",
     .help = "HTTP listen address: :port (all interfaces), host:port or [v6]:port"},
    {.flag = "--web.max-connections", .env = "WEB_MAX_CONNECTIONS", .def = "256",
     .kind = K_UINT, .off = F(web_max_connections), .umin = 1, .umax = 65536,
     .metavar = "N", .help = "most concurrent HTTP connections, 1 to 65536"},
    {.flag = "--web.max-connections-per-ip", .env = "WEB_MAX_CONNECTIONS_PER_IP", .def = "32",
     .kind = K_UINT, .off = F(web_max_connections_per_ip), .umin = 0, .umax = 65536,
     .metavar = "N", .help = "most concurrent HTTP connections from one address; 0 = no limit"},
    {.flag = "--web.connection-timeout", .env = "WEB_CONNECTION_TIMEOUT", .def = "10s",
     .kind = K_DURATION, .flags = O_CEIL_SECONDS, .off = F(web_connection_timeout_s), .dmax = 3600,
     .metavar = "DURATION",
     .help = "close idle or slow HTTP connections after this, whole seconds rounded up"},
    {.flag = "--web.max-subscribers", .env = "WEB_MAX_SUBSCRIBERS", .def = "128",
     .kind = K_UINT, .off = F(web_max_subscribers), .umin = 1, .umax = 65536,
     .metavar = "N", .help = "most live-feed subscribers (WebSocket and SSE together), 1 to 65536"},
    {.flag = "--web.subscriber-stall-timeout", .env = "WEB_SUBSCRIBER_STALL_TIMEOUT", .def = "10s",
     .kind = K_DURATION, .flags = O_CEIL_SECONDS, .off = F(web_subscriber_stall_timeout_s),
     .dmin = 1, .dmax = 3600, .metavar = "DURATION",
     .help = "drop a live-feed subscriber that takes no data for this long, 1s to 1h"},
    {.flag = "--web.tls-cert-file", .env = "WEB_TLS_CERT_FILE",
     .kind = K_STRING, .flags = O_EMPTY_NONE | O_READABLE, .off = F(web_tls_cert_file),
     .metavar = "PATH",
     .help = "PEM certificate (chain, leaf first): serve HTTPS, TLS 1.2+; needs the key file"},
    {.flag = "--web.tls-key-file", .env = "WEB_TLS_KEY_FILE",
     .kind = K_STRING, .flags = O_EMPTY_NONE | O_READABLE, .off = F(web_tls_key_file),
     .metavar = "PATH", .help = "PEM private key (unencrypted) of --web.tls-cert-file"},
    {.flag = "--web.users-file", .env = "WEB_USERS_FILE",
     .kind = K_STRING, .flags = O_EMPTY_NONE | O_READABLE, .off = F(web_users_file),
     .metavar = "PATH",
     .help = "user:bcrypt-hash lines: require HTTP basic auth on every endpoint; empty = off"},
    {.flag = "--web.auth-exempt-health", .env = "WEB_AUTH_EXEMPT_HEALTH", .def = "false",
     .kind = K_BOOL, .off = F(web_auth_exempt_health),
     .metavar = "BOOL", .help = "let /healthz answer without credentials when auth is on"},

    {.flag = "--log.level", .env = "LOG_LEVEL", .def = "info",
     .kind = K_CUSTOM, .set = set_log_level, .show = show_log_level,
     .metavar = "LEVEL", .help = "debug, info, warn or error"},
    {.flag = "--log.format", .env = "LOG_FORMAT", .def = "text",
     .kind = K_CUSTOM, .set = set_log_format, .show = show_log_format,
     .metavar = "FORMAT", .help = "text or json (one JSON object per line)"},

    {.flag = "--once", .def = "false",
     .kind = K_BOOL, .off = F(once),
     .help = "run one poll cycle, write the mirrors and exit"},
    {.flag = "--version",
     .kind = K_ACTION, .flags = O_NO_LOG,
     .help = "print the version and exit"},
    {.flag = "--help",
     .kind = K_ACTION, .flags = O_NO_LOG,
     .help = "print this help and exit (also -h)"},
};
/* clang-format on */

#undef F

enum { N_OPTIONS = sizeof options / sizeof options[0] };

/* ------------------------------------------------------------------------------------ */
/* Small helpers                                                                         */

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        /* A value quoted in the message may hold a newline: keep the error one line. */
        for (char *p = err; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = '?';
    }
    return -1;
}

static int oom(char *err, size_t errlen)
{
    return fail(err, errlen, "out of memory");
}

static char **str_field(mxe_config *cfg, const opt *o)
{
    return (char **)((char *)cfg + o->off);
}

static const char *const *cstr_field(const mxe_config *cfg, const opt *o)
{
    return (const char *const *)((const char *)cfg + o->off);
}

/* Replace *dst by a copy of s[0..n). 0 or -1 (out of memory). */
static int set_strn(char **dst, const char *s, size_t n)
{
    char *copy = malloc(n + 1);
    if (!copy)
        return -1;
    memcpy(copy, s, n);
    copy[n] = '\0';
    free(*dst);
    *dst = copy;
    return 0;
}

static int set_str(char **dst, const char *s)
{
    return set_strn(dst, s, strlen(s));
}

static void clear_str(char **dst)
{
    free(*dst);
    *dst = NULL;
}

static bool has_ctrl(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return true;
    }
    return false;
}

static bool is_secret(const opt *o)
{
    return o->kind == K_SECRET || o->kind == K_SECRET_FILE;
}

/* Parse a decimal unsigned integer filling the whole of s[0..n). */
static int parse_u64n(const char *s, size_t n, uint64_t *out)
{
    if (n == 0)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* "1.5s", "250ms", "1m30s", "2h", or a plain number of seconds ("1.5"). No sign, no
 * exponent: what a person writes. Locale-independent. */
static int parse_duration(const char *s, double *out)
{
    const char *p = s;
    double total = 0;
    int terms = 0;
    if (!*p)
        return -1;
    while (*p) {
        uint64_t mant = 0;
        int digits = 0, frac = 0;
        bool dot = false;
        for (; (*p >= '0' && *p <= '9') || (*p == '.' && !dot); p++) {
            if (*p == '.') {
                dot = true;
                continue;
            }
            if (++digits > 18)
                return -1;
            mant = mant * 10 + (uint64_t)(*p - '0');
            if (dot)
                frac++;
        }
        if (digits == 0)
            return -1;
        double v = (double)mant;
        for (int i = 0; i < frac; i++)
            v /= 10;
        if (p[0] == 'm' && p[1] == 's') {
            v /= 1000;
            p += 2;
        } else if (*p == 's') {
            p++;
        } else if (*p == 'm') {
            v *= 60;
            p++;
        } else if (*p == 'h') {
            v *= 3600;
            p++;
        } else if (*p != '\0' || terms > 0) {
            return -1; /* unknown unit, or "1m30" */
        }
        total += v;
        terms++;
    }
    if (!isfinite(total))
        return -1;
    *out = total;
    return 0;
}

/* "65536", "64KiB", "1MB", ... (KB/MB/GB powers of 1000, KiB/MiB/GiB of 1024; a B suffix
 * is allowed; units are case-insensitive). */
static int parse_size(const char *s, uint64_t *out)
{
    static const struct {
        const char *unit;
        uint64_t mult;
    } units[] = {
        {"", 1},
        {"b", 1},
        {"kb", 1000},
        {"mb", 1000 * 1000},
        {"gb", 1000 * 1000 * 1000},
        {"kib", 1024},
        {"mib", 1024 * 1024},
        {"gib", 1024 * 1024 * 1024},
    };
    size_t n = strspn(s, "0123456789");
    uint64_t v;
    if (parse_u64n(s, n, &v) != 0)
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(s + n, units[i].unit) == 0) {
            if (v > UINT64_MAX / units[i].mult)
                return -1;
            *out = v * units[i].mult;
            return 0;
        }
    }
    return -1;
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* Write a duration back the way a user would read it: "1.5s", "0.25s". */
static void put_duration(mxe_buf *b, double s)
{
    mxe_buf_printf(b, "%gs", s);
}

/* Read a secret file whole: at most 64 KiB, one trailing newline (LF or CRLF) stripped,
 * not empty, no NUL or other control characters. */
static int read_secret_file(const char *path, const char *name, char **dst, char *err,
                            size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(err, errlen, "%s: cannot read %s: %s", name, path, strerror(errno));
    mxe_buf b = MXE_BUF_INIT;
    b.max = 64 * 1024;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (mxe_buf_append(&b, chunk, n) != 0)
            break;
    }
    int rerr = ferror(f) ? errno : 0;
    fclose(f);
    int rc = -1;
    if (rerr)
        fail(err, errlen, "%s: cannot read %s: %s", name, path, strerror(rerr));
    else if (!mxe_buf_ok(&b))
        fail(err, errlen, "%s: %s is larger than 64 KiB", name, path);
    else {
        size_t len = b.len;
        if (len && b.data[len - 1] == '\n') {
            len--;
            if (len && b.data[len - 1] == '\r')
                len--;
        }
        if (len == 0)
            fail(err, errlen, "%s: %s is empty", name, path);
        else if (memchr(b.data, '\0', len))
            fail(err, errlen, "%s: %s contains a NUL byte", name, path);
        else if (set_strn(dst, b.data, len) != 0)
            oom(err, errlen);
        else if (has_ctrl(*dst))
            fail(err, errlen, "%s: %s contains a control character or more than one line", name,
                 path);
        else
            rc = 0;
    }
    mxe_buf_free(&b);
    return rc;
}

/* ------------------------------------------------------------------------------------ */
/* Custom options                                                                        */

static int set_api_url(mxe_config *cfg, const opt *o, const char *val, const char *name, char *err,
                       size_t errlen)
{
    (void)o;
    size_t skip;
    if (strncasecmp(val, "http://", 7) == 0)
        skip = 7;
    else if (strncasecmp(val, "https://", 8) == 0)
        skip = 8;
    else
        return fail(err, errlen, "%s: must start with http:// or https://", name);
    const char *auth = val + skip;
    size_t alen = strcspn(auth, "/?#");
    if (memchr(auth, '@', alen))
        return fail(err, errlen,
                    "%s: credentials in the URL are not accepted; use --mediamtx.username and "
                    "--mediamtx.password or --mediamtx.bearer-token",
                    name);
    if (alen == 0)
        return fail(err, errlen, "%s: missing host in \"%s\"", name, val);
    for (const char *p = val; *p; p++) {
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return fail(err, errlen, "%s: spaces and control characters are not allowed", name);
    }
    if (strpbrk(auth, "?#"))
        return fail(err, errlen, "%s: no query or fragment allowed in \"%s\"", name, val);
    size_t len = strlen(val);
    while (len > skip + alen && val[len - 1] == '/')
        len--;
    if (set_strn(&cfg->api_url, val, len) != 0)
        return oom(err, errlen);
    return 0;
}

static void show_api_url(const mxe_config *cfg, mxe_buf *b)
{
    mxe_buf_puts(b, cfg->api_url ? cfg->api_url : "");
}

static void redis_target_clear(mxe_redis_target *t)
{
    free(t->host);
    free(t->unix_path);
    free(t->username);
    free(t->password);
    memset(t, 0, sizeof *t);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode s[0..n) into a new string in *dst ("" → NULL). 0, -1 on bad encoding or a
 * decoded NUL, -2 out of memory. */
static int pct_decode(const char *s, size_t n, char **dst)
{
    if (n == 0)
        return 0;
    char *out = malloc(n + 1);
    if (!out)
        return -2;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            out[j++] = s[i];
            continue;
        }
        int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
        int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            free(out);
            return -1;
        }
        out[j++] = (char)(hi * 16 + lo);
        i += 2;
    }
    out[j] = '\0';
    *dst = out;
    return 0;
}

static int parse_db(const char *s, size_t n, int *db)
{
    uint64_t v;
    if (n == 0) {
        *db = 0;
        return 0;
    }
    if (parse_u64n(s, n, &v) != 0 || v > INT_MAX)
        return -1;
    *db = (int)v;
    return 0;
}

/* The value may hold a password: no error message below quotes it. */
static int set_redis_url(mxe_config *cfg, const opt *o, const char *val, const char *name,
                         char *err, size_t errlen)
{
    (void)o;
    static const char expected[] =
        "expected redis://[user:pass@]host:port/db, unix:///path?db=N or none";
    mxe_redis_target *t = &cfg->redis;
    redis_target_clear(t);
    if (set_str(&cfg->redis_url, val) != 0)
        return oom(err, errlen);
    if (strcmp(val, "none") == 0)
        return 0;

    if (strncmp(val, "unix://", 7) == 0) {
        const char *path = val + 7;
        size_t plen = strcspn(path, "?");
        if (path[0] != '/' || plen < 2 || path[plen - 1] == '/')
            return fail(err, errlen, "%s: %s", name, expected);
        if (path[plen] == '?') {
            const char *q = path + plen + 1;
            if (strncmp(q, "db=", 3) != 0)
                return fail(err, errlen, "%s: %s", name, expected);
            if (q[3] == '\0' || parse_db(q + 3, strlen(q + 3), &t->db) != 0)
                return fail(err, errlen, "%s: invalid database number, %s", name, expected);
        }
        if (set_strn(&t->unix_path, path, plen) != 0)
            return oom(err, errlen);
        t->enabled = true;
        return 0;
    }

    if (strncmp(val, "redis://", 8) != 0)
        return fail(err, errlen, "%s: %s", name, expected);
    const char *p = val + 8;
    size_t alen = strcspn(p, "/?#");
    if (p[alen] == '?' || p[alen] == '#')
        return fail(err, errlen, "%s: %s", name, expected);
    const char *end = p + alen; /* end of the authority */

    /* userinfo: the last '@' ends it, so an unencoded '@' in a password still works */
    const char *at = NULL;
    for (const char *q = p; q < end; q++) {
        if (*q == '@')
            at = q;
    }
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        size_t ulen = colon ? (size_t)(colon - p) : (size_t)(at - p);
        int rc = pct_decode(p, ulen, &t->username);
        if (rc == 0 && colon)
            rc = pct_decode(colon + 1, (size_t)(at - colon - 1), &t->password);
        if (rc == -2)
            return oom(err, errlen);
        if (rc != 0)
            return fail(err, errlen, "%s: invalid percent-encoding in the user or password", name);
        p = at + 1;
    }

    const char *host = p, *hend;
    const char *port = NULL;
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (!rb || rb == p + 1)
            return fail(err, errlen, "%s: %s", name, expected);
        host = p + 1;
        hend = rb;
        if (rb + 1 < end) {
            if (rb[1] != ':')
                return fail(err, errlen, "%s: %s", name, expected);
            port = rb + 2;
        }
    } else {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        hend = colon ? colon : end;
        if (colon)
            port = colon + 1;
        if (port && memchr(port, ':', (size_t)(end - port)))
            return fail(err, errlen, "%s: IPv6 addresses need brackets, %s", name, expected);
        if (hend == host)
            return fail(err, errlen, "%s: missing host, %s", name, expected);
    }
    t->port = 6379;
    if (port) {
        uint64_t v;
        if (parse_u64n(port, (size_t)(end - port), &v) != 0 || v < 1 || v > 65535)
            return fail(err, errlen, "%s: invalid port (expected 1-65535)", name);
        t->port = (int)v;
    }
    if (*end == '/' && parse_db(end + 1, strlen(end + 1), &t->db) != 0)
        return fail(err, errlen, "%s: invalid database number, %s", name, expected);
    /* the host is decoded too: an IPv6 zone is written [fe80::1%25eth0] (RFC 6874) */
    int rc = pct_decode(host, (size_t)(hend - host), &t->host);
    if (rc == -2)
        return oom(err, errlen);
    if (rc != 0)
        return fail(err, errlen, "%s: invalid percent-encoding in the host", name);
    t->enabled = true;
    return 0;
}

/* The URL as given, with the password (if any) replaced by ***. */
static void show_redis_url(const mxe_config *cfg, mxe_buf *b)
{
    const char *u = cfg->redis_url ? cfg->redis_url : "";
    if (strncmp(u, "redis://", 8) == 0) {
        const char *p = u + 8;
        size_t alen = strcspn(p, "/?#");
        const char *at = NULL;
        for (const char *q = p; q < p + alen; q++) {
            if (*q == '@')
                at = q;
        }
        const char *colon = at ? memchr(p, ':', (size_t)(at - p)) : NULL;
        if (colon) {
            mxe_buf_append(b, u, (size_t)(colon + 1 - u));
            mxe_buf_puts(b, "***");
            mxe_buf_puts(b, at);
            return;
        }
    }
    mxe_buf_puts(b, u);
}

static int set_listen(mxe_config *cfg, const opt *o, const char *val, const char *name, char *err,
                      size_t errlen)
{
    (void)o;
    const char *host = val, *hend, *port;
    if (*val == '[') {
        const char *rb = strchr(val, ']');
        if (!rb || rb == val + 1 || rb[1] != ':')
            goto bad;
        host = val + 1;
        hend = rb;
        port = rb + 2;
    } else {
        const char *colon = strrchr(val, ':');
        if (!colon)
            goto bad;
        if (memchr(val, ':', (size_t)(colon - val)))
            return fail(err, errlen, "%s: IPv6 addresses need brackets, e.g. [::1]:9977", name);
        hend = colon;
        port = colon + 1;
    }
    if (memchr(host, ' ', (size_t)(hend - host)) || memchr(host, '[', (size_t)(hend - host)))
        goto bad;
    uint64_t v;
    if (parse_u64n(port, strlen(port), &v) != 0 || v > 65535)
        return fail(err, errlen, "%s: invalid port in \"%s\" (expected 0-65535)", name, val);
    if (set_str(&cfg->listen_address, val) != 0)
        return oom(err, errlen);
    clear_str(&cfg->listen_host);
    if (hend > host && set_strn(&cfg->listen_host, host, (size_t)(hend - host)) != 0)
        return oom(err, errlen);
    cfg->listen_port = (int)v;
    return 0;
bad:
    return fail(err, errlen, "%s: expected :port, host:port or [v6]:port, got \"%s\"", name, val);
}

static void show_listen(const mxe_config *cfg, mxe_buf *b)
{
    mxe_buf_puts(b, cfg->listen_address ? cfg->listen_address : "");
}

static const char *const level_names[] = {"debug", "info", "warn", "error"};
static const char *const format_names[] = {"text", "json"};

static int set_log_level(mxe_config *cfg, const opt *o, const char *val, const char *name,
                         char *err, size_t errlen)
{
    (void)o;
    if (mxe_log_parse_level(val, &cfg->log_level) != 0)
        return fail(err, errlen, "%s: invalid level \"%s\" (expected debug, info, warn or error)",
                    name, val);
    return 0;
}

static void show_log_level(const mxe_config *cfg, mxe_buf *b)
{
    unsigned l = (unsigned)cfg->log_level;
    mxe_buf_puts(b, l < 4 ? level_names[l] : "?");
}

static int set_log_format(mxe_config *cfg, const opt *o, const char *val, const char *name,
                          char *err, size_t errlen)
{
    (void)o;
    if (mxe_log_parse_format(val, &cfg->log_format) != 0)
        return fail(err, errlen, "%s: invalid format \"%s\" (expected text or json)", name, val);
    return 0;
}

static void show_log_format(const mxe_config *cfg, mxe_buf *b)
{
    unsigned f = (unsigned)cfg->log_format;
    mxe_buf_puts(b, f < 2 ? format_names[f] : "?");
}

/* ------------------------------------------------------------------------------------ */
/* Storing one value by kind                                                             */

static int apply(mxe_config *cfg, const opt *o, const char *val, const char *name, char *err,
                 size_t errlen)
{
    switch (o->kind) {
    case K_STRING:
    case K_SECRET: {
        char **dst = str_field(cfg, o);
        if (*val == '\0' && (o->kind == K_SECRET || (o->flags & O_EMPTY_NONE))) {
            /* "" means unset; the redis password then keeps the URL's */
            return 0;
        }
        if (*val == '\0' && (o->flags & O_NONEMPTY))
            return fail(err, errlen, "%s: must not be empty", name);
        if (is_secret(o) && has_ctrl(val))
            return fail(err, errlen, "%s: contains a control character", name);
        if ((o->flags & O_READABLE) && access(val, R_OK) != 0)
            return fail(err, errlen, "%s: cannot read %s: %s", name, val, strerror(errno));
        if (set_str(dst, val) != 0)
            return oom(err, errlen);
        return 0;
    }
    case K_SECRET_FILE:
        if (*val == '\0')
            return 0;
        return read_secret_file(val, name, str_field(cfg, o), err, errlen);
    case K_BOOL: {
        bool *dst = (bool *)((char *)cfg + o->off);
        if (parse_bool(val, dst) != 0)
            return fail(err, errlen,
                        "%s: invalid boolean \"%s\" (expected true, false, 1, 0, yes or no)", name,
                        val);
        return 0;
    }
    case K_DURATION: {
        double d;
        if (parse_duration(val, &d) != 0)
            return fail(err, errlen,
                        "%s: invalid duration \"%s\" (expected e.g. 1.5s, 250ms, 1m or 2)", name,
                        val);
        if (d == 0 && !(o->flags & O_ZERO_OK))
            return fail(err, errlen, "%s: must be greater than 0", name);
        if (o->dmin > 0 && d < o->dmin)
            return fail(err, errlen, "%s: %s is below the minimum of %gs", name, val, o->dmin);
        if (o->dmax > 0 && d > o->dmax)
            return fail(err, errlen, "%s: %s is above the maximum of %gs", name, val, o->dmax);
        if (o->flags & O_CEIL_SECONDS)
            *(unsigned *)((char *)cfg + o->off) = (unsigned)ceil(d);
        else
            *(double *)((char *)cfg + o->off) = d;
        return 0;
    }
    case K_SIZE:
    case K_UINT: {
        uint64_t v;
        int rc = o->kind == K_SIZE ? parse_size(val, &v) : parse_u64n(val, strlen(val), &v);
        if (rc != 0)
            return fail(err, errlen,
                        o->kind == K_SIZE
                            ? "%s: invalid size \"%s\" (expected bytes, or a number with KiB, "
                              "MiB, GiB, KB, MB or GB)"
                            : "%s: invalid number \"%s\"",
                        name, val);
        if (v < o->umin || v > o->umax) {
            if (o->umax == SIZE_MAX)
                return fail(err, errlen, "%s: %s is below the minimum of %llu bytes", name, val,
                            (unsigned long long)o->umin);
            return fail(err, errlen, "%s: %s is out of range (%llu to %llu)", name, val,
                        (unsigned long long)o->umin, (unsigned long long)o->umax);
        }
        if (o->kind == K_SIZE)
            *(size_t *)((char *)cfg + o->off) = (size_t)v;
        else
            *(unsigned *)((char *)cfg + o->off) = (unsigned)v;
        return 0;
    }
    case K_CUSTOM:
        return o->set(cfg, o, val, name, err, errlen);
    case K_ACTION:
        return 0;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Collecting raw text from the three sources                                            */

enum { L_FILE, L_ENV, L_FLAG, N_LAYERS };

typedef struct {
    char *val;    /* raw text, NULL: not set in this layer */
    char *origin; /* "--poll.interval", "POLL_INTERVAL" or "path:line POLL_INTERVAL" */
} raw_value;

typedef struct {
    raw_value v[N_LAYERS][N_OPTIONS];
    bool ignored[N_OPTIONS]; /* lost a conflict to a higher layer (resolve_conflicts) */
    bool want_help, want_version;
} raw_config;

static void raw_free(raw_config *r)
{
    for (int l = 0; l < N_LAYERS; l++) {
        for (size_t i = 0; i < N_OPTIONS; i++) {
            free(r->v[l][i].val);
            free(r->v[l][i].origin);
        }
    }
}

static int raw_set(raw_value *rv, const char *val, size_t vlen, const char *origin, char *err,
                   size_t errlen)
{
    if (set_strn(&rv->val, val, vlen) != 0 || set_str(&rv->origin, origin) != 0)
        return oom(err, errlen);
    return 0;
}

static const opt *find_flag(const char *s, size_t n)
{
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (strlen(options[i].flag) == n && memcmp(options[i].flag, s, n) == 0)
            return &options[i];
    }
    return NULL;
}

static const opt *find_env(const char *s, size_t n)
{
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (options[i].env && strlen(options[i].env) == n && memcmp(options[i].env, s, n) == 0)
            return &options[i];
    }
    return NULL;
}

/* Characters of an environment variable name; flags add lower case, '.' and '-'. */
#define NAME_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"

static int read_argv(raw_config *r, int argc, char **argv, char *err, size_t errlen)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0) {
            r->want_help = true;
            continue;
        }
        /* Never quote a positional argument: it may be a secret that lost its flag. */
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0')
            return fail(err, errlen,
                        "unexpected argument #%d: only --flag=value and --flag value are accepted",
                        i);
        const char *eq = strchr(a, '=');
        size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
        const opt *o = find_flag(a, nlen);
        /* quote an unknown name only if it looks like one: "--pass:hunter2" may hold a secret */
        if (!o && strspn(a + 2, NAME_CHARS "abcdefghijklmnopqrstuvwxyz.-") != nlen - 2)
            return fail(err, errlen, "malformed flag at argument #%d", i);
        if (!o)
            return fail(err, errlen, "unknown flag %.*s", (int)nlen, a);
        const char *val;
        if (o->kind == K_ACTION) {
            if (eq)
                return fail(err, errlen, "%s: takes no value", o->flag);
            if (strcmp(o->flag, "--help") == 0)
                r->want_help = true;
            else
                r->want_version = true;
            continue;
        }
        if (eq) {
            val = eq + 1;
        } else if (o->kind == K_BOOL) {
            val = "true";
        } else if (i + 1 < argc &&
                   !(argv[i + 1][0] == '-' && argv[i + 1][1] == '-' && argv[i + 1][2] != '\0')) {
            val = argv[++i];
        } else {
            return fail(err, errlen, "%s: missing value (write %s=VALUE)", o->flag, o->flag);
        }
        /* repeated flags: the last one wins */
        if (raw_set(&r->v[L_FLAG][o - options], val, strlen(val), o->flag, err, errlen) != 0)
            return -1;
    }
    return 0;
}

static int read_envp(raw_config *r, char **envp, char *err, size_t errlen)
{
    for (char **e = envp; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        const opt *o = find_env(*e, (size_t)(eq - *e));
        if (!o)
            continue;
        raw_value *rv = &r->v[L_ENV][o - options];
        if (rv->val)
            continue; /* the first one wins, as with getenv() */
        if (raw_set(rv, eq + 1, strlen(eq + 1), o->env, err, errlen) != 0)
            return -1;
    }
    return 0;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* One KEY=value line (already known not to be blank or a comment). */
static int read_env_line(raw_config *r, const char *path, unsigned lineno, char *line, char *err,
                         size_t errlen)
{
    char *p = line;
    if (strncmp(p, "export", 6) == 0 && (p[6] == ' ' || p[6] == '\t')) {
        p += 6;
        while (*p == ' ' || *p == '\t')
            p++;
    }
    char *eq = strchr(p, '=');
    if (!eq)
        return fail(err, errlen, "%s:%u: expected KEY=value", path, lineno);
    char *kend = eq;
    while (kend > p && (kend[-1] == ' ' || kend[-1] == '\t'))
        kend--;
    size_t klen = (size_t)(kend - p);
    if (klen == 0)
        return fail(err, errlen, "%s:%u: expected KEY=value", path, lineno);
    if (strspn(p, NAME_CHARS) < klen)
        return fail(err, errlen, "%s:%u: malformed key (expected KEY=value)", path, lineno);
    const opt *o = find_env(p, klen);
    if (!o)
        return fail(err, errlen, "%s:%u: unknown key %.*s", path, lineno, (int)klen, p);
    if (o->flags & O_NO_FILE)
        return fail(err, errlen, "%s:%u: %s cannot be set in the env file", path, lineno, o->env);

    char *v = eq + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    size_t vlen = strlen(v);
    if (vlen && (*v == '"' || *v == '\'')) {
        if (vlen < 2 || v[vlen - 1] != *v)
            return fail(err, errlen, "%s:%u %s: unmatched quote", path, lineno, o->env);
        v++;
        vlen -= 2;
    }
    mxe_buf origin = MXE_BUF_INIT;
    mxe_buf_printf(&origin, "%s:%u %s", path, lineno, o->env);
    /* repeated keys: the last one wins, as when the file is sourced by a shell */
    int rc = mxe_buf_ok(&origin)
                 ? raw_set(&r->v[L_FILE][o - options], v, vlen, origin.data, err, errlen)
                 : oom(err, errlen);
    mxe_buf_free(&origin);
    return rc;
}

static int read_env_file(raw_config *r, const char *path, const char *name, char *err,
                         size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return fail(err, errlen, "%s: cannot read %s: %s", name, path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned lineno = 0;
    int rc = 0;
    errno = 0;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (memchr(line, '\0', (size_t)n)) {
            rc = fail(err, errlen, "%s:%u: NUL byte", path, lineno);
            break;
        }
        while (n > 0 && is_blank(line[n - 1]))
            line[--n] = '\0';
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0' || *p == '#')
            continue;
        if ((rc = read_env_line(r, path, lineno, p, err, errlen)) != 0)
            break;
    }
    if (rc == 0 && ferror(f))
        rc = fail(err, errlen, "%s: cannot read %s: %s", name, path, strerror(errno));
    free(line);
    fclose(f);
    return rc;
}

/* ------------------------------------------------------------------------------------ */
/* Help and version                                                                      */

static void print_usage(FILE *out)
{
    fputs("Usage: mediamtx-exporter [flags]\n"
          "\n"
          "Polls the MediaMTX API and mirrors per-stream data to Redis, a JSON file and HTTP.\n"
          "Each flag can also be set by the environment variable shown, or as KEY=value with\n"
          "the same name in the --config.file env file. Precedence: flag > environment >\n"
          "env file > default. Durations: 1.5s, 250ms, 1m, or plain seconds (1.5). Booleans:\n"
          "true/false, 1/0, yes/no. Bad configuration exits with status 2.\n"
          "\n"
          "Flags:\n",
          out);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const opt *o = &options[i];
        if (o->kind == K_ACTION || (o->kind == K_BOOL && !o->env))
            fprintf(out, "  %s\n", o->flag);
        else if (o->kind == K_BOOL)
            fprintf(out, "  %s[=%s]\n", o->flag, o->metavar);
        else
            fprintf(out, "  %s=%s\n", o->flag, o->metavar);
        fprintf(out, "        %s\n", o->help);
        if (o->env && o->def)
            fprintf(out, "        env %s, default \"%s\"\n", o->env, o->def);
        else if (o->env)
            fprintf(out, "        env %s, default none\n", o->env);
        else if (o->def)
            fprintf(out, "        flag only, default \"%s\"\n", o->def);
    }
}

static void print_version(FILE *out)
{
    fprintf(out, "mediamtx-exporter %s (revision %s)\n", MXE_VERSION, MXE_REVISION);
}

/* ------------------------------------------------------------------------------------ */
/* Loading                                                                               */

static const opt *opt_by_flag(const char *flag)
{
    return find_flag(flag, strlen(flag));
}

/* Effective raw value of option i: flag, environment, file, else NULL (the default is
 * not a raw_value). NULL too for an option that lost a conflict to a higher layer. */
static const raw_value *effective(const raw_config *r, size_t i)
{
    if (r->ignored[i])
        return NULL;
    for (int l = N_LAYERS - 1; l >= 0; l--) {
        if (r->v[l][i].val)
            return &r->v[l][i];
    }
    return NULL;
}

/* How to name option `o` in an error: as the user set it, or its flag for a default. */
static const char *origin_of(const raw_config *r, const opt *o)
{
    const raw_value *rv = effective(r, (size_t)(o - options));
    return rv ? rv->origin : o->flag;
}

static bool set_nonempty(const raw_config *r, const opt *o)
{
    const raw_value *rv = effective(r, (size_t)(o - options));
    return rv && rv->val[0] != '\0';
}

/* Options that set the same thing in two ways: a value and its _FILE form, basic auth and
 * a bearer token. Within one layer (the flags, the environment or the env file) setting
 * both ways is an error, as the user said two things at once. Across layers the usual
 * precedence holds: the highest layer that sets either way decides, and every option of
 * the other way is ignored, from whatever layer (so MEDIAMTX_API_PASS in the env file
 * gives way to --mediamtx.password-file, and a token in the environment to a user and
 * password on the command line). Empty values count as unset. */
typedef struct {
    const char *first[3];  /* flags of one way, NULL-terminated; named first in errors */
    const char *second[5]; /* flags of the other way */
    const char *advice;
} opt_conflict;

static const opt_conflict conflicts[] = {
    {{"--mediamtx.username-file"}, {"--mediamtx.username"}, "set only one"},
    {{"--mediamtx.password-file"}, {"--mediamtx.password"}, "set only one"},
    {{"--mediamtx.bearer-token-file"}, {"--mediamtx.bearer-token"}, "set only one"},
    {{"--redis.password-file"}, {"--redis.password"}, "set only one"},
    {{"--mediamtx.bearer-token", "--mediamtx.bearer-token-file"},
     {"--mediamtx.username", "--mediamtx.username-file", "--mediamtx.password",
      "--mediamtx.password-file"},
     "use basic auth or a token"},
};

/* The first option of `flags` that layer `l` sets to a non-empty value, or NULL. */
static const opt *way_in_layer(const raw_config *r, int l, const char *const *flags)
{
    for (; *flags; flags++) {
        const opt *o = find_flag(*flags, strlen(*flags));
        const raw_value *rv = &r->v[l][o - options];
        if (rv->val && rv->val[0])
            return o;
    }
    return NULL;
}

static void ignore_way(raw_config *r, const char *const *flags)
{
    for (; *flags; flags++)
        r->ignored[find_flag(*flags, strlen(*flags)) - options] = true;
}

static int resolve_conflicts(raw_config *r, char *err, size_t errlen)
{
    for (size_t k = 0; k < sizeof conflicts / sizeof conflicts[0]; k++) {
        const opt_conflict *c = &conflicts[k];
        int winner = -1; /* 0: the first way, 1: the second */
        for (int l = N_LAYERS - 1; l >= 0; l--) {
            const opt *a = way_in_layer(r, l, c->first), *b = way_in_layer(r, l, c->second);
            if (a && b)
                return fail(err, errlen, "%s: cannot be combined with %s; %s",
                            r->v[l][a - options].origin, r->v[l][b - options].origin, c->advice);
            if (winner < 0 && (a || b))
                winner = a ? 0 : 1;
        }
        if (winner == 0)
            ignore_way(r, c->second);
        else if (winner == 1)
            ignore_way(r, c->first);
    }
    return 0;
}

/* Name the side of a pair that was actually set (the value or its _FILE form). */
static const char *origin_of_pair(const raw_config *r, const char *flag, const char *file_flag)
{
    const opt *f = opt_by_flag(file_flag);
    if (set_nonempty(r, f))
        return origin_of(r, f);
    return origin_of(r, opt_by_flag(flag));
}

static int cross_check(mxe_config *cfg, const raw_config *r, char *err, size_t errlen)
{
    /* Only the default gives way: "--poll.interval=1s" alone should just work. An explicit
     * timeout that does not fit is the user's mistake and is reported. */
    const opt *t = opt_by_flag("--mediamtx.timeout");
    if (!effective(r, (size_t)(t - options)) && cfg->timeout_s >= cfg->poll_interval_s)
        cfg->timeout_s = cfg->poll_interval_s * 0.75;
    if (cfg->timeout_s >= cfg->poll_interval_s)
        return fail(err, errlen, "%s (%gs) must be less than %s (%gs)",
                    origin_of(r, opt_by_flag("--mediamtx.timeout")), cfg->timeout_s,
                    origin_of(r, opt_by_flag("--poll.interval")), cfg->poll_interval_s);
    if (cfg->password && !cfg->username)
        return fail(err, errlen, "%s: a password needs a user (--mediamtx.username)",
                    origin_of_pair(r, "--mediamtx.password", "--mediamtx.password-file"));
    if (!cfg->web_tls_cert_file != !cfg->web_tls_key_file)
        return fail(err, errlen, "%s: needs %s too",
                    cfg->web_tls_cert_file ? origin_of(r, opt_by_flag("--web.tls-cert-file"))
                                           : origin_of(r, opt_by_flag("--web.tls-key-file")),
                    cfg->web_tls_cert_file ? "--web.tls-key-file" : "--web.tls-cert-file");
    if (cfg->username && (strchr(cfg->username, ':') || has_ctrl(cfg->username)))
        return fail(err, errlen, "%s: must not contain ':' or control characters",
                    origin_of_pair(r, "--mediamtx.username", "--mediamtx.username-file"));
    return 0;
}

mxe_config_result mxe_config_load(mxe_config *cfg, int argc, char **argv, char **envp, FILE *out,
                                  char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    if (err && errlen)
        err[0] = '\0';
    if (!out)
        out = stdout;
    raw_config *r = calloc(1, sizeof *r);
    if (!r) {
        oom(err, errlen);
        return MXE_CONFIG_BAD;
    }
    mxe_config_result res = MXE_CONFIG_BAD;

    if (read_argv(r, argc, argv, err, errlen) != 0)
        goto done;
    if (r->want_help || r->want_version) {
        if (r->want_help)
            print_usage(out);
        else
            print_version(out);
        fflush(out);
        res = MXE_CONFIG_EXIT;
        goto done;
    }
    if (read_envp(r, envp, err, errlen) != 0)
        goto done;
    const opt *cf = opt_by_flag("--config.file");
    const raw_value *cfv = effective(r, (size_t)(cf - options));
    if (cfv && cfv->val[0] && read_env_file(r, cfv->val, cfv->origin, err, errlen) != 0)
        goto done;

    if (resolve_conflicts(r, err, errlen) != 0)
        goto done;
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const opt *o = &options[i];
        const raw_value *rv = effective(r, i);
        const char *val = rv ? rv->val : o->def;
        if (!val)
            continue;
        if (apply(cfg, o, val, rv ? rv->origin : o->flag, err, errlen) != 0)
            goto done;
    }
    if (cross_check(cfg, r, err, errlen) != 0)
        goto done;
    res = MXE_CONFIG_OK;
done:
    raw_free(r);
    free(r);
    return res;
}

void mxe_config_free(mxe_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->api_url);
    free(cfg->username);
    free(cfg->password);
    free(cfg->bearer_token);
    free(cfg->ca_file);
    free(cfg->redis_url);
    redis_target_clear(&cfg->redis);
    free(cfg->redis_key);
    free(cfg->redis_channel);
    free(cfg->json_output_path);
    free(cfg->listen_address);
    free(cfg->listen_host);
    free(cfg->web_tls_cert_file);
    free(cfg->web_tls_key_file);
    free(cfg->web_users_file);
    free(cfg->config_file);
    memset(cfg, 0, sizeof *cfg);
}

/* ------------------------------------------------------------------------------------ */
/* Logging the effective configuration                                                   */

static void show_value(const mxe_config *cfg, const opt *o, mxe_buf *b)
{
    switch (o->kind) {
    case K_STRING: {
        const char *s = *cstr_field(cfg, o);
        if (s)
            mxe_buf_printf(b, "\"%s\"", s);
        else
            mxe_buf_puts(b, "none");
        break;
    }
    case K_SECRET:
        mxe_buf_puts(b, *cstr_field(cfg, o) ? "***" : "none");
        break;
    case K_BOOL:
        mxe_buf_puts(b, *(const bool *)((const char *)cfg + o->off) ? "true" : "false");
        break;
    case K_DURATION:
        if (o->flags & O_CEIL_SECONDS)
            mxe_buf_printf(b, "%us", *(const unsigned *)((const char *)cfg + o->off));
        else
            put_duration(b, *(const double *)((const char *)cfg + o->off));
        break;
    case K_SIZE:
        mxe_buf_printf(b, "%zu", *(const size_t *)((const char *)cfg + o->off));
        break;
    case K_UINT:
        mxe_buf_printf(b, "%u", *(const unsigned *)((const char *)cfg + o->off));
        break;
    case K_CUSTOM:
        o->show(cfg, b);
        break;
    case K_SECRET_FILE:
    case K_ACTION:
        break;
    }
}

void mxe_config_log(const mxe_config *cfg)
{
    /* One line: easy to grep, and a restart loop does not flood the journal. */
    mxe_buf line = MXE_BUF_INIT;
    mxe_buf_puts(&line, "config:");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const opt *o = &options[i];
        /* a _FILE option fills its value's field, which is logged (masked) there */
        if (o->kind == K_SECRET_FILE || (o->flags & O_NO_LOG))
            continue;
        mxe_buf_printf(&line, " %s=", o->flag);
        show_value(cfg, o, &line);
    }
    if (mxe_buf_ok(&line))
        mxe_info("%s", line.data);
    mxe_buf_free(&line);
}
