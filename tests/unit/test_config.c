/* Unit tests for the configuration (exporter/config.c): defaults, precedence, every value
 * form, env-file syntax, _FILE secrets, validation errors and secret masking. Every input
 * is explicit (argv, envp, files under tests/fixtures/config or temporary files), so the
 * tests do not depend on the environment they run in. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "version.h"

#define FIXTURE(name) MXE_TEST_DIR "/fixtures/config/" name

#define ARGS(...) ((const char *[]){__VA_ARGS__, NULL})
#define NONE      ((const char *[]){NULL})

static char err[512];

/* Load with the given argv (without argv[0]) and environment; help/version output goes to
 * `out` (NULL: discarded). */
static mxe_config_result load_out(mxe_config *cfg, const char *const *args, const char *const *env,
                                  FILE *out)
{
    char *argv[64];
    int argc = 0;
    argv[argc++] = (char *)"mediamtx-exporter";
    for (size_t i = 0; args[i]; i++)
        argv[argc++] = (char *)args[i];
    argv[argc] = NULL;
    FILE *sink = out ? out : fopen("/dev/null", "w");
    ck_assert_ptr_nonnull(sink);
    memset(err, 'X', sizeof err); /* catch a result that leaves err unset */
    mxe_config_result r = mxe_config_load(cfg, argc, argv, (char **)env, sink, err, sizeof err);
    if (!out)
        fclose(sink);
    return r;
}

static mxe_config_result load(mxe_config *cfg, const char *const *args, const char *const *env)
{
    return load_out(cfg, args, env, NULL);
}

/* Expect MXE_CONFIG_BAD with an error that starts with `prefix`. */
static void expect_bad(const char *const *args, const char *const *env, const char *prefix)
{
    mxe_config cfg;
    mxe_config_result r = load(&cfg, args, env);
    ck_assert_msg(r == MXE_CONFIG_BAD, "expected failure with \"%s\", got %d", prefix, (int)r);
    ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0,
                  "error \"%s\" does not start with \"%s\"", err, prefix);
    ck_assert_ptr_null(strchr(err, '\n'));
    mxe_config_free(&cfg);
}

static mxe_config load_ok(const char *const *args, const char *const *env)
{
    mxe_config cfg;
    mxe_config_result r = load(&cfg, args, env);
    ck_assert_msg(r == MXE_CONFIG_OK, "unexpected failure: %s", err);
    ck_assert_str_eq(err, "");
    return cfg;
}

/* A temporary file holding `content`; the caller unlinks it and frees the path. */
static char *temp_file(const char *content)
{
    char *path = strdup("/tmp/mxe-test-config-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    size_t n = strlen(content);
    ck_assert_int_eq(write(fd, content, n), (ssize_t)n);
    close(fd);
    return path;
}

static void remove_temp(char *path)
{
    unlink(path);
    free(path);
}

/* A new string a + b; the caller frees it. */
static char *concat(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *s = malloc(na + nb + 1);
    ck_assert_ptr_nonnull(s);
    memcpy(s, a, na);
    memcpy(s + na, b, nb + 1);
    return s;
}

/* ---------------------------------------------------------------------------------- */

START_TEST(test_defaults)
{
    mxe_config cfg = load_ok(NONE, NONE);
    ck_assert_str_eq(cfg.api_url, "http://127.0.0.1:9997");
    ck_assert_ptr_null(cfg.username);
    ck_assert_ptr_null(cfg.password);
    ck_assert_ptr_null(cfg.bearer_token);
    ck_assert_ptr_null(cfg.ca_file);
    ck_assert(!cfg.insecure_skip_verify);
    ck_assert_double_eq(cfg.timeout_s, 1.5);
    ck_assert_uint_eq(cfg.max_response_bytes, 64u * 1024 * 1024);
    ck_assert_double_eq(cfg.poll_interval_s, 2.0);
    ck_assert_str_eq(cfg.redis_url, "redis://127.0.0.1:6379/0");
    ck_assert(cfg.redis.enabled);
    ck_assert_str_eq(cfg.redis.host, "127.0.0.1");
    ck_assert_int_eq(cfg.redis.port, 6379);
    ck_assert_ptr_null(cfg.redis.unix_path);
    ck_assert_int_eq(cfg.redis.db, 0);
    ck_assert_ptr_null(cfg.redis.username);
    ck_assert_ptr_null(cfg.redis.password);
    ck_assert_str_eq(cfg.redis_key, "mediamtx:streams:latest");
    ck_assert_str_eq(cfg.redis_channel, "mediamtx:streams:updates");
    ck_assert_uint_eq(cfg.redis_ttl_s, 10);
    ck_assert_str_eq(cfg.json_output_path, "/tmp/mediamtx_streams.json");
    ck_assert_str_eq(cfg.listen_address, ":9977");
    ck_assert_ptr_null(cfg.listen_host);
    ck_assert_int_eq(cfg.listen_port, 9977);
    ck_assert_uint_eq(cfg.web_max_connections, 256);
    ck_assert_uint_eq(cfg.web_max_connections_per_ip, 32);
    ck_assert_uint_eq(cfg.web_connection_timeout_s, 10);
    ck_assert(!cfg.once);
    ck_assert_int_eq(cfg.log_level, MXE_LOG_INFO);
    ck_assert_int_eq(cfg.log_format, MXE_LOG_TEXT);
    ck_assert_ptr_null(cfg.config_file);
    mxe_config_free(&cfg);
}
END_TEST

/* flag > environment > env file > default, for options of several kinds. */
static const struct {
    bool file, env, flag;
    double interval;
    mxe_log_level level;
    const char *key, *url;
} precedence_cases[] = {
    {false, false, false, 2, MXE_LOG_INFO, "mediamtx:streams:latest", "http://127.0.0.1:9997"},
    {true, false, false, 3, MXE_LOG_WARN, "from:file", "http://file:1"},
    {true, true, false, 4, MXE_LOG_ERROR, "from:env", "http://env:1"},
    {false, true, false, 4, MXE_LOG_ERROR, "from:env", "http://env:1"},
    {true, true, true, 5, MXE_LOG_DEBUG, "from:flag", "http://flag:1"},
    {false, true, true, 5, MXE_LOG_DEBUG, "from:flag", "http://flag:1"},
    {true, false, true, 5, MXE_LOG_DEBUG, "from:flag", "http://flag:1"},
};

START_TEST(test_precedence)
{
    const char *args[16] = {0}, *env[16] = {0};
    size_t na = 0, ne = 0;
    if (precedence_cases[_i].file)
        args[na++] = "--config.file=" FIXTURE("precedence.env");
    if (precedence_cases[_i].env) {
        env[ne++] = "POLL_INTERVAL=4s";
        env[ne++] = "LOG_LEVEL=error";
        env[ne++] = "REDIS_KEY=from:env";
        env[ne++] = "MEDIAMTX_API_URL=http://env:1";
    }
    if (precedence_cases[_i].flag) {
        args[na++] = "--poll.interval=5s";
        args[na++] = "--log.level";
        args[na++] = "debug";
        args[na++] = "--redis.key=from:flag";
        args[na++] = "--mediamtx.api-url=http://flag:1";
    }
    env[ne++] = "UNRELATED=1";
    mxe_config cfg = load_ok(args, env);
    ck_assert_double_eq(cfg.poll_interval_s, precedence_cases[_i].interval);
    ck_assert_int_eq(cfg.log_level, precedence_cases[_i].level);
    ck_assert_str_eq(cfg.redis_key, precedence_cases[_i].key);
    ck_assert_str_eq(cfg.api_url, precedence_cases[_i].url);
    mxe_config_free(&cfg);
}
END_TEST

START_TEST(test_config_file_sources)
{
    /* CONFIG_FILE in the environment names the file */
    mxe_config cfg = load_ok(NONE, ARGS("CONFIG_FILE=" FIXTURE("precedence.env")));
    ck_assert_double_eq(cfg.poll_interval_s, 3);
    ck_assert_str_eq(cfg.config_file, FIXTURE("precedence.env"));
    mxe_config_free(&cfg);
    /* the flag beats the variable for this option too */
    cfg = load_ok(ARGS("--config.file", FIXTURE("crlf.env")),
                  ARGS("CONFIG_FILE=" FIXTURE("precedence.env")));
    ck_assert_double_eq(cfg.poll_interval_s, 5);
    ck_assert_int_eq(cfg.log_level, MXE_LOG_WARN);
    ck_assert_str_eq(cfg.redis_key, "mediamtx:streams:latest");
    ck_assert_str_eq(cfg.config_file, FIXTURE("crlf.env"));
    mxe_config_free(&cfg);
    /* an empty name means no file */
    cfg = load_ok(ARGS("--config.file="), ARGS("CONFIG_FILE=/nonexistent.env"));
    ck_assert_ptr_null(cfg.config_file);
    mxe_config_free(&cfg);
}
END_TEST

START_TEST(test_repeats)
{
    /* a repeated flag: the last wins; a repeated variable: the first wins, as getenv() */
    mxe_config cfg = load_ok(ARGS("--redis.key=a", "--redis.key", "b"),
                             ARGS("REDIS_CHANNEL=first", "REDIS_CHANNEL=second"));
    ck_assert_str_eq(cfg.redis_key, "b");
    ck_assert_str_eq(cfg.redis_channel, "first");
    mxe_config_free(&cfg);
}
END_TEST

START_TEST(test_env_file_syntax)
{
    mxe_config cfg = load_ok(ARGS("--config.file=" FIXTURE("syntax.env")), NONE);
    ck_assert_double_eq(cfg.poll_interval_s, 3);
    ck_assert_int_eq(cfg.log_level, MXE_LOG_DEBUG);
    ck_assert_int_eq(cfg.log_format, MXE_LOG_JSON);
    ck_assert_str_eq(cfg.redis_key, "single:quoted # not a comment");
    ck_assert_str_eq(cfg.redis_channel, "");
    ck_assert_str_eq(cfg.api_url, "http://mediamtx.example:9997");
    ck_assert_str_eq(cfg.json_output_path, "/var/lib/mxe/streams.json");
    ck_assert_uint_eq(cfg.redis_ttl_s, 20); /* the last of a repeated key */
    ck_assert_str_eq(cfg.username, "viewer");
    ck_assert_str_eq(cfg.password, "pa ss#word'");
    ck_assert_uint_eq(cfg.web_max_connections, 100);
    mxe_config_free(&cfg);

    cfg = load_ok(ARGS("--config.file=" FIXTURE("crlf.env")), NONE);
    ck_assert_double_eq(cfg.poll_interval_s, 5);
    ck_assert_int_eq(cfg.log_level, MXE_LOG_WARN);
    mxe_config_free(&cfg);
}
END_TEST

static const struct {
    const char *file;
    const char *prefix;
} env_file_errors[] = {
    {FIXTURE("unknown-key.env"), FIXTURE("unknown-key.env") ":3: unknown key POLL_INTERVALL"},
    {FIXTURE("bad-value.env"),
     FIXTURE("bad-value.env") ":2 POLL_INTERVAL: invalid duration \"2x\""},
    {FIXTURE("no-equals.env"), FIXTURE("no-equals.env") ":1: expected KEY=value"},
    {FIXTURE("malformed-key.env"), FIXTURE("malformed-key.env") ":1: malformed key"},
    {FIXTURE("unterminated.env"), FIXTURE("unterminated.env") ":1 REDIS_KEY: unmatched quote"},
    {FIXTURE("config-file-key.env"),
     FIXTURE("config-file-key.env") ":1: CONFIG_FILE cannot be set in the env file"},
    {FIXTURE("missing.env"), "--config.file: cannot read " FIXTURE("missing.env") ": "},
    {FIXTURE(""), "--config.file: cannot read "}, /* a directory */
};

START_TEST(test_env_file_errors)
{
    char *arg = concat("--config.file=", env_file_errors[_i].file);
    expect_bad(ARGS(arg), NONE, env_file_errors[_i].prefix);
    ck_assert_ptr_null(strstr(err, "topsecret"));
    free(arg);
}
END_TEST

START_TEST(test_env_file_error_via_env)
{
    expect_bad(NONE, ARGS("CONFIG_FILE=/nonexistent/mxe.env"),
               "CONFIG_FILE: cannot read /nonexistent/mxe.env: ");
}
END_TEST

static const struct {
    const char *text;
    double seconds;
} durations_ok[] = {
    {"1.5", 1.5}, {"1.5s", 1.5},   {"250ms", 0.25}, {"1m", 60},
    {"0.1", 0.1}, {"100ms", 0.1},  {"2", 2},        {"1m30s", 90},
    {"1h", 3600}, {"3600s", 3600}, {"007s", 7},     {"59.999s", 59.999},
};

START_TEST(test_duration_forms)
{
    char *arg = concat("--poll.interval=", durations_ok[_i].text);
    mxe_config cfg = load_ok(ARGS(arg, "--mediamtx.timeout=50ms"), NONE);
    ck_assert_double_eq_tol(cfg.poll_interval_s, durations_ok[_i].seconds, 1e-12);
    mxe_config_free(&cfg);
    free(arg);
}
END_TEST

static const struct {
    const char *text;
    const char *problem;
} durations_bad[] = {
    {"2x", "invalid duration \"2x\""},
    {"", "invalid duration \"\""},
    {"-1s", "invalid duration"},
    {"1.5.5", "invalid duration"},
    {"s", "invalid duration"},
    {"1e3", "invalid duration"},
    {"inf", "invalid duration"},
    {"nan", "invalid duration"},
    {"1m30", "invalid duration"},
    {" 2s", "invalid duration"},
    {"2s ", "invalid duration"},
    {".", "invalid duration"},
    {"0", "must be greater than 0"},
    {"0s", "must be greater than 0"},
    {"50ms", "50ms is below the minimum"},
    {"1h1s", "1h1s is above the maximum"},
    {"1234567890123456789s", "invalid duration"},
};

START_TEST(test_duration_errors)
{
    char *arg = concat("--poll.interval=", durations_bad[_i].text);
    char *prefix = concat("--poll.interval: ", durations_bad[_i].problem);
    expect_bad(ARGS(arg), NONE, prefix);
    free(prefix);
    free(arg);
    char *env = concat("POLL_INTERVAL=", durations_bad[_i].text);
    prefix = concat("POLL_INTERVAL: ", durations_bad[_i].problem);
    expect_bad(NONE, ARGS(env), prefix);
    free(prefix);
    free(env);
}
END_TEST

START_TEST(test_whole_second_durations)
{
    mxe_config cfg = load_ok(ARGS("--redis.ttl=1.2s", "--web.connection-timeout=250ms"), NONE);
    ck_assert_uint_eq(cfg.redis_ttl_s, 2);
    ck_assert_uint_eq(cfg.web_connection_timeout_s, 1);
    mxe_config_free(&cfg);
    cfg = load_ok(ARGS("--redis.ttl=0"), ARGS("WEB_CONNECTION_TIMEOUT=1m"));
    ck_assert_uint_eq(cfg.redis_ttl_s, 0);
    ck_assert_uint_eq(cfg.web_connection_timeout_s, 60);
    mxe_config_free(&cfg);
    expect_bad(ARGS("--web.connection-timeout=0"), NONE,
               "--web.connection-timeout: must be greater than 0");
    expect_bad(NONE, ARGS("REDIS_TTL=soon"), "REDIS_TTL: invalid duration \"soon\"");
}
END_TEST

static const struct {
    const char *text;
    size_t bytes;
} sizes_ok[] = {
    {"65536", 65536},          {"64KiB", 65536},
    {"64kib", 65536},          {"1MiB", 1048576},
    {"1MB", 1000000},          {"100KB", 100000},
    {"2GiB", (size_t)2 << 30}, {"3GB", (size_t)3000000000u},
    {"1048576B", 1048576},
};

START_TEST(test_size_forms)
{
    char *arg = concat("--mediamtx.max-response-size=", sizes_ok[_i].text);
    mxe_config cfg = load_ok(ARGS(arg), NONE);
    ck_assert_uint_eq(cfg.max_response_bytes, sizes_ok[_i].bytes);
    mxe_config_free(&cfg);
    free(arg);
}
END_TEST

static const struct {
    const char *text;
    const char *problem;
} sizes_bad[] = {
    {"x", "invalid size \"x\""},
    {"", "invalid size"},
    {"64 KiB", "invalid size"},
    {"1.5MiB", "invalid size"},
    {"-1", "invalid size"},
    {"10K", "invalid size"},
    {"99999999999999999999", "invalid size"},
    {"99999999999GiB", "invalid size"},
    {"65535", "65535 is below the minimum of 65536 bytes"},
    {"1KiB", "1KiB is below the minimum"},
};

START_TEST(test_size_errors)
{
    char *env = concat("MEDIAMTX_API_MAX_RESPONSE_SIZE=", sizes_bad[_i].text);
    char *prefix = concat("MEDIAMTX_API_MAX_RESPONSE_SIZE: ", sizes_bad[_i].problem);
    expect_bad(NONE, ARGS(env), prefix);
    free(prefix);
    free(env);
}
END_TEST

static const struct {
    const char *arg;
    const char *env;
    bool value;
} bools[] = {
    {"--mediamtx.insecure-skip-verify", NULL, true},
    {"--mediamtx.insecure-skip-verify=true", NULL, true},
    {"--mediamtx.insecure-skip-verify=false", NULL, false},
    {"--mediamtx.insecure-skip-verify=1", NULL, true},
    {"--mediamtx.insecure-skip-verify=0", NULL, false},
    {"--mediamtx.insecure-skip-verify=yes", NULL, true},
    {"--mediamtx.insecure-skip-verify=no", NULL, false},
    {"--mediamtx.insecure-skip-verify=TRUE", NULL, true},
    {NULL, "MEDIAMTX_API_INSECURE=true", true},
    {NULL, "MEDIAMTX_API_INSECURE=1", true},
    {NULL, "MEDIAMTX_API_INSECURE=yes", true},
    {NULL, "MEDIAMTX_API_INSECURE=no", false},
    {NULL, "MEDIAMTX_API_INSECURE=0", false},
    {"--mediamtx.insecure-skip-verify=false", "MEDIAMTX_API_INSECURE=yes", false},
    {"--mediamtx.insecure-skip-verify", "MEDIAMTX_API_INSECURE=no", true},
};

START_TEST(test_bool_forms)
{
    const char *args[2] = {bools[_i].arg, NULL};
    const char *env[2] = {bools[_i].env, NULL};
    mxe_config cfg = load_ok(args, env);
    ck_assert_int_eq(cfg.insecure_skip_verify, bools[_i].value);
    mxe_config_free(&cfg);
}
END_TEST

START_TEST(test_bool_errors_and_once)
{
    expect_bad(ARGS("--mediamtx.insecure-skip-verify=maybe"), NONE,
               "--mediamtx.insecure-skip-verify: invalid boolean \"maybe\"");
    expect_bad(NONE, ARGS("MEDIAMTX_API_INSECURE="), "MEDIAMTX_API_INSECURE: invalid boolean \"\"");
    /* a bare bool does not swallow the next argument */
    expect_bad(ARGS("--once", "true"), NONE, "unexpected argument #2");
    mxe_config cfg = load_ok(ARGS("--once"), NONE);
    ck_assert(cfg.once);
    mxe_config_free(&cfg);
    cfg = load_ok(ARGS("--once=false"), NONE);
    ck_assert(!cfg.once);
    mxe_config_free(&cfg);
    /* --once is a flag only */
    cfg = load_ok(NONE, ARGS("ONCE=1"));
    ck_assert(!cfg.once);
    mxe_config_free(&cfg);
}
END_TEST

static const struct {
    const char *url;
    bool enabled;
    const char *host, *unix_path;
    int port, db;
    const char *user, *pass;
} redis_ok[] = {
    {"redis://127.0.0.1:6379/0", true, "127.0.0.1", NULL, 6379, 0, NULL, NULL},
    {"redis://redis.local", true, "redis.local", NULL, 6379, 0, NULL, NULL},
    {"redis://redis.local/", true, "redis.local", NULL, 6379, 0, NULL, NULL},
    {"redis://redis.local:7000", true, "redis.local", NULL, 7000, 0, NULL, NULL},
    {"redis://redis.local/5", true, "redis.local", NULL, 6379, 5, NULL, NULL},
    {"redis://h:6380/15", true, "h", NULL, 6380, 15, NULL, NULL},
    {"redis://:s3cret@h:1/2", true, "h", NULL, 1, 2, NULL, "s3cret"},
    {"redis://alice:s3cret@h", true, "h", NULL, 6379, 0, "alice", "s3cret"},
    {"redis://alice@h", true, "h", NULL, 6379, 0, "alice", NULL},
    {"redis://al%69ce:p%40ss%3Aw%2Fd@h/3", true, "h", NULL, 6379, 3, "alice", "p@ss:w/d"},
    {"redis://u:p@ss@h", true, "h", NULL, 6379, 0, "u", "p@ss"},
    {"redis://[::1]:6379/1", true, "::1", NULL, 6379, 1, NULL, NULL},
    {"redis://[fe80::1%25eth0]", true, "fe80::1%eth0", NULL, 6379, 0, NULL, NULL},
    {"redis://:pw@[2001:db8::2]:7777/4", true, "2001:db8::2", NULL, 7777, 4, NULL, "pw"},
    {"unix:///run/redis/redis.sock", true, NULL, "/run/redis/redis.sock", 0, 0, NULL, NULL},
    {"unix:///run/redis/redis.sock?db=3", true, NULL, "/run/redis/redis.sock", 0, 3, NULL, NULL},
    {"none", false, NULL, NULL, 0, 0, NULL, NULL},
};

static void assert_str_or_null(const char *got, const char *want)
{
    if (want)
        ck_assert_str_eq(got, want);
    else
        ck_assert_ptr_null(got);
}

START_TEST(test_redis_url_forms)
{
    char *env = concat("REDIS_URL=", redis_ok[_i].url);
    mxe_config cfg = load_ok(NONE, ARGS(env));
    ck_assert_str_eq(cfg.redis_url, redis_ok[_i].url);
    ck_assert_int_eq(cfg.redis.enabled, redis_ok[_i].enabled);
    assert_str_or_null(cfg.redis.host, redis_ok[_i].host);
    assert_str_or_null(cfg.redis.unix_path, redis_ok[_i].unix_path);
    if (redis_ok[_i].host)
        ck_assert_int_eq(cfg.redis.port, redis_ok[_i].port);
    ck_assert_int_eq(cfg.redis.db, redis_ok[_i].db);
    assert_str_or_null(cfg.redis.username, redis_ok[_i].user);
    assert_str_or_null(cfg.redis.password, redis_ok[_i].pass);
    mxe_config_free(&cfg);
    free(env);
}
END_TEST

#define REDIS_EXPECTED "expected redis://[user:pass@]host:port/db, unix:///path?db=N or none"

static const struct {
    const char *url;
    const char *problem;
} redis_bad[] = {
    {"", REDIS_EXPECTED},
    {"http://h:6379", REDIS_EXPECTED},
    {"rediss://h", REDIS_EXPECTED},
    {"redis://", "missing host"},
    {"redis://:6379/0", "missing host"},
    {"redis://:topsecret@:6379", "missing host"},
    {"redis://h:0", "invalid port"},
    {"redis://h:65536", "invalid port"},
    {"redis://h:port", "invalid port"},
    {"redis://h:", "invalid port"},
    {"redis://h/x", "invalid database number"},
    {"redis://h/1/2", "invalid database number"},
    {"redis://h/-1", "invalid database number"},
    {"redis://h?db=1", REDIS_EXPECTED},
    {"redis://::1:6379", "IPv6 addresses need brackets"},
    {"redis://[::1", REDIS_EXPECTED},
    {"redis://[]:1", REDIS_EXPECTED},
    {"redis://[::1]x", REDIS_EXPECTED},
    {"redis://u:top%zzsecret@h", "invalid percent-encoding"},
    {"redis://u:topsecret%0@h", "invalid percent-encoding"},
    {"redis://u:top%00secret@h", "invalid percent-encoding"},
    {"unix://run/redis.sock", REDIS_EXPECTED},
    {"unix:///", REDIS_EXPECTED},
    {"unix:///run/redis.sock?db=x", "invalid database number"},
    {"unix:///run/redis.sock?db=", "invalid database number"},
    {"unix:///run/redis.sock?password=topsecret", REDIS_EXPECTED},
    {"None", REDIS_EXPECTED},
};

START_TEST(test_redis_url_errors)
{
    char *arg = concat("--redis.url=", redis_bad[_i].url);
    char *prefix = concat("--redis.url: ", redis_bad[_i].problem);
    expect_bad(ARGS(arg), NONE, prefix);
    /* a URL may carry a password: the error never quotes the URL */
    ck_assert_ptr_null(strstr(err, "secret"));
    if (redis_bad[_i].url[0] && !strstr(REDIS_EXPECTED, redis_bad[_i].url))
        ck_assert_ptr_null(strstr(err, redis_bad[_i].url));
    free(prefix);
    free(arg);
}
END_TEST

START_TEST(test_redis_password_override)
{
    mxe_config cfg =
        load_ok(ARGS("--redis.url=redis://u:fromurl@h/1", "--redis.password=flagpw"), NONE);
    ck_assert_str_eq(cfg.redis.password, "flagpw");
    ck_assert_str_eq(cfg.redis.username, "u");
    mxe_config_free(&cfg);
    /* an empty REDIS_PASSWORD keeps the URL's */
    cfg = load_ok(NONE, ARGS("REDIS_URL=redis://:fromurl@h", "REDIS_PASSWORD="));
    ck_assert_str_eq(cfg.redis.password, "fromurl");
    mxe_config_free(&cfg);
    char *pwfile = temp_file("filepw\n");
    char *env = concat("REDIS_PASSWORD_FILE=", pwfile);
    cfg = load_ok(NONE, ARGS("REDIS_URL=unix:///tmp/r.sock", env));
    ck_assert_str_eq(cfg.redis.password, "filepw");
    ck_assert_str_eq(cfg.redis.unix_path, "/tmp/r.sock");
    mxe_config_free(&cfg);
    /* the flag beats the variable's _FILE form; both forms in one layer are an error */
    cfg = load_ok(ARGS("--redis.password=x"), ARGS(env));
    ck_assert_str_eq(cfg.redis.password, "x");
    mxe_config_free(&cfg);
    expect_bad(NONE, ARGS("REDIS_PASSWORD=x", env),
               "REDIS_PASSWORD_FILE: cannot be combined with REDIS_PASSWORD");
    free(env);
    remove_temp(pwfile);
}
END_TEST

static const struct {
    const char *addr;
    const char *host;
    int port;
} listen_ok[] = {
    {":9977", NULL, 9977},
    {":0", NULL, 0},
    {"127.0.0.1:9977", "127.0.0.1", 9977},
    {"localhost:65535", "localhost", 65535},
    {"[::1]:9977", "::1", 9977},
    {"[::]:80", "::", 80},
    {"0.0.0.0:1", "0.0.0.0", 1},
};

START_TEST(test_listen_forms)
{
    char *arg = concat("--web.listen-address=", listen_ok[_i].addr);
    mxe_config cfg = load_ok(ARGS(arg), NONE);
    ck_assert_str_eq(cfg.listen_address, listen_ok[_i].addr);
    assert_str_or_null(cfg.listen_host, listen_ok[_i].host);
    ck_assert_int_eq(cfg.listen_port, listen_ok[_i].port);
    mxe_config_free(&cfg);
    free(arg);
}
END_TEST

static const struct {
    const char *addr;
    const char *problem;
} listen_bad[] = {
    {"9977", "expected :port, host:port or [v6]:port, got \"9977\""},
    {"", "expected :port"},
    {"host", "expected :port"},
    {":", "invalid port in \":\""},
    {":65536", "invalid port"},
    {":-1", "invalid port"},
    {"host:http", "invalid port"},
    {"::1:9977", "IPv6 addresses need brackets"},
    {"[::1]", "expected :port"},
    {"[::1]9977", "expected :port"},
    {"[]:9977", "expected :port"},
    {"my host:1", "expected :port"},
};

START_TEST(test_listen_errors)
{
    char *env = concat("LISTEN_ADDRESS=", listen_bad[_i].addr);
    char *prefix = concat("LISTEN_ADDRESS: ", listen_bad[_i].problem);
    expect_bad(NONE, ARGS(env), prefix);
    free(prefix);
    free(env);
}
END_TEST

static const struct {
    const char *in, *out;
} api_urls[] = {
    {"http://127.0.0.1:9997", "http://127.0.0.1:9997"},
    {"http://127.0.0.1:9997/", "http://127.0.0.1:9997"},
    {"https://mediamtx.example///", "https://mediamtx.example"},
    {"HTTPS://m.example/prefix/", "HTTPS://m.example/prefix"},
    {"http://[::1]:9997", "http://[::1]:9997"},
};

START_TEST(test_api_url_forms)
{
    char *arg = concat("--mediamtx.api-url=", api_urls[_i].in);
    mxe_config cfg = load_ok(ARGS(arg), NONE);
    ck_assert_str_eq(cfg.api_url, api_urls[_i].out);
    mxe_config_free(&cfg);
    free(arg);
}
END_TEST

static const struct {
    const char *url;
    const char *problem;
} api_bad[] = {
    {"ftp://h", "must start with http:// or https://"},
    {"127.0.0.1:9997", "must start with http:// or https://"},
    {"", "must start with http:// or https://"},
    {"http://", "missing host"},
    {"http:///x", "missing host"},
    {"http://user:secret@h", "credentials in the URL are not accepted"},
    {"http://h/?x=1", "no query or fragment allowed"},
    {"http://h#f", "no query or fragment allowed"},
    {"http://h /x", "spaces and control characters are not allowed"},
};

START_TEST(test_api_url_errors)
{
    char *env = concat("MEDIAMTX_API_URL=", api_bad[_i].url);
    char *prefix = concat("MEDIAMTX_API_URL: ", api_bad[_i].problem);
    expect_bad(NONE, ARGS(env), prefix);
    ck_assert_ptr_null(strstr(err, "secret"));
    free(prefix);
    free(env);
}
END_TEST

START_TEST(test_secret_files)
{
    char *user = temp_file("viewer\n");
    char *pass = temp_file("pw with spaces\n\n"); /* only one newline is stripped */
    char *crlf = temp_file("pw\r\n");
    char *token = temp_file("tok-123");
    char *empty = temp_file("");
    char *multi = temp_file("line1\nline2\n");
    char *a_user = concat("--mediamtx.username-file=", user);
    char *a_pass = concat("--mediamtx.password-file=", pass);
    char *e_pass = concat("MEDIAMTX_API_PASS_FILE=", pass);
    char *e_crlf = concat("MEDIAMTX_API_PASS_FILE=", crlf);
    char *e_token = concat("MEDIAMTX_API_TOKEN_FILE=", token);
    char *e_empty = concat("MEDIAMTX_API_TOKEN_FILE=", empty);
    char *e_multi = concat("MEDIAMTX_API_TOKEN_FILE=", multi);

    mxe_config cfg = load_ok(ARGS(a_user), ARGS(e_crlf));
    ck_assert_str_eq(cfg.username, "viewer");
    ck_assert_str_eq(cfg.password, "pw");
    mxe_config_free(&cfg);

    /* "pw with spaces\n\n" keeps a newline: control characters are refused */
    expect_bad(ARGS(a_user, a_pass), NONE, "--mediamtx.password-file: ");
    ck_assert_ptr_null(strstr(err, "pw with"));

    cfg = load_ok(NONE, ARGS(e_token));
    ck_assert_str_eq(cfg.bearer_token, "tok-123");
    ck_assert_ptr_null(cfg.username);
    mxe_config_free(&cfg);

    expect_bad(NONE, ARGS(e_empty), "MEDIAMTX_API_TOKEN_FILE: ");
    ck_assert_ptr_nonnull(strstr(err, "is empty"));
    expect_bad(NONE, ARGS(e_multi), "MEDIAMTX_API_TOKEN_FILE: ");
    ck_assert_ptr_null(strstr(err, "line1"));
    expect_bad(ARGS("--mediamtx.bearer-token-file=/nonexistent/token"), NONE,
               "--mediamtx.bearer-token-file: cannot read /nonexistent/token: ");
    /* value and _FILE in different layers: the higher layer wins, the other is ignored */
    cfg = load_ok(ARGS("--mediamtx.username=u", "--mediamtx.password=topsecret"), ARGS(e_pass));
    ck_assert_str_eq(cfg.password, "topsecret");
    mxe_config_free(&cfg);
    cfg = load_ok(ARGS(a_user), ARGS("MEDIAMTX_API_USER=bob"));
    ck_assert_str_eq(cfg.username, "viewer");
    mxe_config_free(&cfg);
    /* ... and in the same layer: an error naming both */
    expect_bad(ARGS("--mediamtx.username=u", "--mediamtx.password=topsecret", a_pass), NONE,
               "--mediamtx.password-file: cannot be combined with --mediamtx.password");
    ck_assert_ptr_null(strstr(err, "topsecret"));
    expect_bad(NONE, ARGS("MEDIAMTX_API_USER=bob", e_pass, "MEDIAMTX_API_PASS=topsecret"),
               "MEDIAMTX_API_PASS_FILE: cannot be combined with MEDIAMTX_API_PASS; set only one");
    ck_assert_ptr_null(strstr(err, "topsecret"));

    free(a_user);
    free(a_pass);
    free(e_pass);
    free(e_crlf);
    free(e_token);
    free(e_empty);
    free(e_multi);
    remove_temp(user);
    remove_temp(pass);
    remove_temp(crlf);
    remove_temp(token);
    remove_temp(empty);
    remove_temp(multi);
}
END_TEST

START_TEST(test_auth_rules)
{
    mxe_config cfg = load_ok(NONE, ARGS("MEDIAMTX_API_USER=u", "MEDIAMTX_API_PASS=topsecret"));
    ck_assert_str_eq(cfg.username, "u");
    ck_assert_str_eq(cfg.password, "topsecret");
    mxe_config_free(&cfg);
    /* empty values mean unset */
    cfg = load_ok(NONE, ARGS("MEDIAMTX_API_USER=", "MEDIAMTX_API_PASS=", "MEDIAMTX_API_TOKEN="));
    ck_assert_ptr_null(cfg.username);
    ck_assert_ptr_null(cfg.password);
    ck_assert_ptr_null(cfg.bearer_token);
    mxe_config_free(&cfg);

    expect_bad(NONE, ARGS("MEDIAMTX_API_PASS=topsecret"),
               "MEDIAMTX_API_PASS: a password needs a user");
    ck_assert_ptr_null(strstr(err, "topsecret"));
    /* a token and basic auth: the higher layer's choice wins */
    cfg = load_ok(ARGS("--mediamtx.bearer-token", "topsecret"), ARGS("MEDIAMTX_API_USER=u"));
    ck_assert_str_eq(cfg.bearer_token, "topsecret");
    ck_assert_ptr_null(cfg.username);
    mxe_config_free(&cfg);
    /* ... and together in one layer they are an error */
    expect_bad(ARGS("--mediamtx.bearer-token", "topsecret", "--mediamtx.username=u"), NONE,
               "--mediamtx.bearer-token: cannot be combined with --mediamtx.username; use basic "
               "auth or a token");
    ck_assert_ptr_null(strstr(err, "topsecret"));
    expect_bad(NONE, ARGS("MEDIAMTX_API_TOKEN=topsecret", "MEDIAMTX_API_PASS=pw"),
               "MEDIAMTX_API_TOKEN: cannot be combined with MEDIAMTX_API_PASS");
    expect_bad(ARGS("--mediamtx.username=a:b"), NONE, "--mediamtx.username: must not contain ':'");
    expect_bad(ARGS("--mediamtx.password=top\nsecret", "--mediamtx.username=u"), NONE,
               "--mediamtx.password: contains a control character");
    ck_assert_ptr_null(strstr(err, "secret"));
}
END_TEST

/* Two ways of setting one thing across the three layers: the highest layer that uses
 * either way wins and the other way is ignored; both ways in one layer are an error. */
START_TEST(test_conflicts_follow_precedence)
{
    char *passfile = temp_file("from-pass-file\n");
    char *a_passfile = concat("--mediamtx.password-file=", passfile);
    char *e_passfile = concat("MEDIAMTX_API_PASS_FILE=", passfile);
    char *envfile = temp_file("MEDIAMTX_API_USER=fileuser\nMEDIAMTX_API_PASS=from-env-file\n");
    char *a_envfile = concat("--config.file=", envfile);
    char *both = temp_file("MEDIAMTX_API_USER=u\nMEDIAMTX_API_PASS=x\nMEDIAMTX_API_TOKEN=t\n");
    char *a_both = concat("--config.file=", both);

    /* the case: MEDIAMTX_API_PASS in the env file, the _FILE form as a flag */
    mxe_config cfg = load_ok(ARGS(a_envfile, a_passfile), NONE);
    ck_assert_str_eq(cfg.username, "fileuser");
    ck_assert_str_eq(cfg.password, "from-pass-file");
    mxe_config_free(&cfg);
    /* the environment's _FILE form beats the env file's value too */
    cfg = load_ok(ARGS(a_envfile), ARGS(e_passfile));
    ck_assert_str_eq(cfg.password, "from-pass-file");
    mxe_config_free(&cfg);
    /* and a value in a higher layer beats a _FILE form in a lower one */
    cfg = load_ok(ARGS("--mediamtx.password=from-flag", a_envfile), ARGS(e_passfile));
    ck_assert_str_eq(cfg.password, "from-flag");
    mxe_config_free(&cfg);
    /* an empty value is no value: the lower layer's other form still applies */
    cfg = load_ok(ARGS(a_envfile, "--mediamtx.password-file="), NONE);
    ck_assert_str_eq(cfg.password, "from-env-file");
    mxe_config_free(&cfg);

    /* a token in the environment replaces basic auth from the env file, user and all */
    cfg = load_ok(ARGS(a_envfile), ARGS("MEDIAMTX_API_TOKEN=env-token"));
    ck_assert_str_eq(cfg.bearer_token, "env-token");
    ck_assert_ptr_null(cfg.username);
    ck_assert_ptr_null(cfg.password);
    mxe_config_free(&cfg);
    /* basic auth as flags replaces a token from the environment */
    cfg = load_ok(ARGS("--mediamtx.username=flaguser", a_passfile),
                  ARGS("MEDIAMTX_API_TOKEN_FILE=/nonexistent/token"));
    ck_assert_str_eq(cfg.username, "flaguser");
    ck_assert_str_eq(cfg.password, "from-pass-file");
    ck_assert_ptr_null(cfg.bearer_token);
    mxe_config_free(&cfg);
    /* the deciding layer may set only part of basic auth: the user comes from below */
    cfg = load_ok(ARGS(a_envfile, a_passfile), ARGS("MEDIAMTX_API_TOKEN=ignored"));
    ck_assert_ptr_null(cfg.bearer_token);
    ck_assert_str_eq(cfg.username, "fileuser");
    ck_assert_str_eq(cfg.password, "from-pass-file");
    mxe_config_free(&cfg);

    /* both ways in one layer: an error, named as written, even if a higher layer decides */
    expect_bad(ARGS(a_both), NONE, both);
    ck_assert_ptr_nonnull(strstr(err, ":3 MEDIAMTX_API_TOKEN: cannot be combined with "));
    ck_assert_ptr_nonnull(strstr(err, ":1 MEDIAMTX_API_USER; use basic auth or a token"));
    expect_bad(ARGS(a_both, "--mediamtx.bearer-token=t"), NONE, both);

    free(a_passfile);
    free(e_passfile);
    free(a_envfile);
    free(a_both);
    remove_temp(passfile);
    remove_temp(envfile);
    remove_temp(both);
}
END_TEST

START_TEST(test_timeout_below_interval)
{
    /* the default timeout gives way to a short interval: 3/4 of it */
    mxe_config cfg = load_ok(ARGS("--poll.interval=1s"), NONE);
    ck_assert_double_eq(cfg.timeout_s, 0.75);
    mxe_config_free(&cfg);
    cfg = load_ok(NONE, ARGS("POLL_INTERVAL=100ms"));
    ck_assert_double_eq_tol(cfg.timeout_s, 0.075, 1e-12);
    mxe_config_free(&cfg);
    /* an explicit timeout that does not fit is an error naming both options */
    expect_bad(ARGS("--poll.interval=1s", "--mediamtx.timeout=1.5s"), NONE,
               "--mediamtx.timeout (1.5s) must be less than --poll.interval (1s)");
    expect_bad(NONE, ARGS("MEDIAMTX_API_TIMEOUT=2s"),
               "MEDIAMTX_API_TIMEOUT (2s) must be less than --poll.interval (2s)");
    expect_bad(ARGS("--mediamtx.timeout=3"), ARGS("POLL_INTERVAL=2500ms"),
               "--mediamtx.timeout (3s) must be less than POLL_INTERVAL (2.5s)");
    cfg = load_ok(ARGS("--poll.interval=1s", "--mediamtx.timeout=999ms"), NONE);
    ck_assert_double_eq(cfg.timeout_s, 0.999);
    mxe_config_free(&cfg);
}
END_TEST

/* Each validation error names its option the way it was given. */
static const struct {
    const char *arg, *env, *prefix;
} named_errors[] = {
    {"--foo=1", NULL, "unknown flag --foo"},
    {"--mediamtx.pasword=topsecret", NULL, "unknown flag --mediamtx.pasword"},
    {"--mediamtx.password:topsecret", NULL, "malformed flag at argument #1"},
    {"-x", NULL, "unexpected argument #1"},
    {"positional", NULL, "unexpected argument #1"},
    {"--", NULL, "unexpected argument #1"},
    {"--redis.key", NULL, "--redis.key: missing value"},
    {"--help=1", NULL, "--help: takes no value"},
    {"--version=1", NULL, "--version: takes no value"},
    {"--redis.key=", NULL, "--redis.key: must not be empty"},
    {NULL, "REDIS_KEY=", "REDIS_KEY: must not be empty"},
    {"--mediamtx.timeout=0", NULL, "--mediamtx.timeout: must be greater than 0"},
    {NULL, "MEDIAMTX_API_TIMEOUT=x", "MEDIAMTX_API_TIMEOUT: invalid duration \"x\""},
    {"--redis.ttl=25h", NULL, "--redis.ttl: 25h is above the maximum"},
    {"--web.max-connections=0", NULL, "--web.max-connections: 0 is out of range (1 to 65536)"},
    {NULL, "WEB_MAX_CONNECTIONS=65537", "WEB_MAX_CONNECTIONS: 65537 is out of range"},
    {NULL, "WEB_MAX_CONNECTIONS_PER_IP=many",
     "WEB_MAX_CONNECTIONS_PER_IP: invalid number \"many\""},
    {"--web.max-connections=-1", NULL, "--web.max-connections: invalid number \"-1\""},
    {"--log.level=verbose", NULL, "--log.level: invalid level \"verbose\""},
    {NULL, "LOG_FORMAT=xml", "LOG_FORMAT: invalid format \"xml\" (expected text or json)"},
    {"--mediamtx.ca-file=/nonexistent/ca.pem", NULL,
     "--mediamtx.ca-file: cannot read /nonexistent/ca.pem: "},
    {NULL, "MEDIAMTX_API_CA_FILE=/nonexistent/ca.pem", "MEDIAMTX_API_CA_FILE: cannot read"},
    {NULL, "MEDIAMTX_API_USER_FILE=/nonexistent/u", "MEDIAMTX_API_USER_FILE: cannot read"},
    {NULL, "REDIS_PASSWORD_FILE=/nonexistent/p", "REDIS_PASSWORD_FILE: cannot read"},
};

START_TEST(test_errors_name_option)
{
    const char *args[2] = {named_errors[_i].arg, NULL};
    const char *env[2] = {named_errors[_i].env, NULL};
    expect_bad(args, env, named_errors[_i].prefix);
    ck_assert_ptr_null(strstr(err, "topsecret"));
}
END_TEST

START_TEST(test_flag_value_forms)
{
    mxe_config cfg =
        load_ok(ARGS("--redis.key", "k", "--redis.channel=", "--output.json", "",
                     "--mediamtx.ca-file", FIXTURE("ca.pem"), "--web.listen-address", "[::1]:0",
                     "--mediamtx.password=--dashes", "--mediamtx.username", "-u-"),
                NONE);
    ck_assert_str_eq(cfg.redis_key, "k");
    ck_assert_str_eq(cfg.redis_channel, "");
    ck_assert_str_eq(cfg.json_output_path, "");
    ck_assert_str_eq(cfg.ca_file, FIXTURE("ca.pem"));
    ck_assert_str_eq(cfg.listen_host, "::1");
    ck_assert_str_eq(cfg.password, "--dashes");
    ck_assert_str_eq(cfg.username, "-u-");
    mxe_config_free(&cfg);
    /* "--flag --other" is a missing value, not a value "--other" */
    expect_bad(ARGS("--output.json", "--once"), NONE, "--output.json: missing value");
}
END_TEST

START_TEST(test_help)
{
    static const char *const flags[] = {
        "--config.file",
        "--mediamtx.api-url",
        "--mediamtx.username",
        "--mediamtx.username-file",
        "--mediamtx.password",
        "--mediamtx.password-file",
        "--mediamtx.bearer-token",
        "--mediamtx.bearer-token-file",
        "--mediamtx.ca-file",
        "--mediamtx.insecure-skip-verify",
        "--mediamtx.timeout",
        "--mediamtx.max-response-size",
        "--poll.interval",
        "--redis.url",
        "--redis.password",
        "--redis.password-file",
        "--redis.key",
        "--redis.channel",
        "--redis.ttl",
        "--output.json",
        "--web.listen-address",
        "--web.max-connections",
        "--web.max-connections-per-ip",
        "--web.connection-timeout",
        "--log.level",
        "--log.format",
        "--once",
        "--version",
        "--help",
        "env MEDIAMTX_API_URL, default \"http://127.0.0.1:9997\"",
        "env MEDIAMTX_API_PASS_FILE",
        "env POLL_INTERVAL, default \"2s\"",
        "env REDIS_URL, default \"redis://127.0.0.1:6379/0\"",
        "env LISTEN_ADDRESS, default \":9977\"",
        "env WEB_CONNECTION_TIMEOUT, default \"10s\"",
        "env MEDIAMTX_API_MAX_RESPONSE_SIZE, default \"64MiB\"",
        "env LOG_FORMAT, default \"text\"",
    };
    const char *variants[] = {"--help", "-h"};
    for (size_t v = 0; v < 2; v++) {
        char *text = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&text, &len);
        mxe_config cfg;
        /* help wins over later (and invalid) values, which are not even validated */
        ck_assert_int_eq(load_out(&cfg, ARGS("--poll.interval=bad", variants[v]), NONE, out),
                         MXE_CONFIG_EXIT);
        fclose(out);
        ck_assert(strncmp(text, "Usage: mediamtx-exporter", 24) == 0);
        for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
            ck_assert_msg(strstr(text, flags[i]), "help lacks %s", flags[i]);
        mxe_config_free(&cfg);
        free(text);
    }
}
END_TEST

START_TEST(test_version)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    mxe_config cfg;
    ck_assert_int_eq(load_out(&cfg, ARGS("--version"), NONE, out), MXE_CONFIG_EXIT);
    fclose(out);
    ck_assert_str_eq(text, "mediamtx-exporter " MXE_VERSION " (revision " MXE_REVISION ")\n");
    mxe_config_free(&cfg);
    free(text);
}
END_TEST

/* Run mxe_config_log with fd 2 redirected to a temporary file; return what it wrote. */
static char *capture_log(const mxe_config *cfg)
{
    mxe_log_setup(MXE_LOG_INFO, MXE_LOG_TEXT);
    FILE *tmp = tmpfile();
    ck_assert_ptr_nonnull(tmp);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    ck_assert_int_ge(saved, 0);
    ck_assert_int_ge(dup2(fileno(tmp), STDERR_FILENO), 0);
    mxe_config_log(cfg);
    dup2(saved, STDERR_FILENO);
    close(saved);
    off_t n = lseek(fileno(tmp), 0, SEEK_END);
    ck_assert_int_gt(n, 0);
    char *text = calloc(1, (size_t)n + 1);
    ck_assert_int_eq(pread(fileno(tmp), text, (size_t)n, 0), n);
    fclose(tmp);
    return text;
}

START_TEST(test_log_masks_secrets)
{
    char *tokfile = temp_file("tokensecret-3\n");
    char *e_tok = concat("MEDIAMTX_API_TOKEN_FILE=", tokfile);
    mxe_config cfg = load_ok(
        ARGS("--redis.url=redis://alice:urlsecret-1@h:7000/2", "--poll.interval=2.5s", "--once"),
        ARGS(e_tok, "REDIS_PASSWORD=redissecret-2"));
    char *text = capture_log(&cfg);
    ck_assert_ptr_null(strstr(text, "secret-"));
    ck_assert_ptr_nonnull(strstr(text, "--redis.url=redis://alice:***@h:7000/2"));
    ck_assert_ptr_nonnull(strstr(text, "--redis.password=***"));
    ck_assert_ptr_nonnull(strstr(text, "--mediamtx.bearer-token=***"));
    ck_assert_ptr_nonnull(strstr(text, "--mediamtx.password=none"));
    ck_assert_ptr_nonnull(strstr(text, "--poll.interval=2.5s"));
    ck_assert_ptr_nonnull(strstr(text, "--mediamtx.timeout=1.5s"));
    ck_assert_ptr_nonnull(strstr(text, "--redis.ttl=10s"));
    ck_assert_ptr_nonnull(strstr(text, "--once=true"));
    ck_assert_ptr_nonnull(strstr(text, "--web.listen-address=:9977"));
    ck_assert_ptr_nonnull(strstr(text, "--log.level=info"));
    ck_assert_ptr_nonnull(strstr(text, "--mediamtx.max-response-size=67108864"));
    free(text);
    mxe_config_free(&cfg);

    cfg = load_ok(ARGS("--mediamtx.username=viewer", "--mediamtx.password=basicsecret-4"),
                  ARGS("REDIS_URL=redis://:p%40ssecret-5@[::1]"));
    text = capture_log(&cfg);
    ck_assert_ptr_null(strstr(text, "secret-"));
    ck_assert_ptr_nonnull(strstr(text, "--mediamtx.username=\"viewer\""));
    ck_assert_ptr_nonnull(strstr(text, "--mediamtx.password=***"));
    ck_assert_ptr_nonnull(strstr(text, "--redis.url=redis://:***@[::1]"));
    free(text);
    mxe_config_free(&cfg);
    free(e_tok);
    remove_temp(tokfile);
}
END_TEST

START_TEST(test_free_safety)
{
    mxe_config cfg;
    memset(&cfg, 0, sizeof cfg);
    mxe_config_free(&cfg);
    mxe_config_free(&cfg);
    mxe_config_free(NULL);
    /* a failure late in loading leaves allocated fields behind; free releases them */
    ck_assert_int_eq(load(&cfg, ARGS("--redis.url=redis://u:p@h", "--log.format=x"), NONE),
                     MXE_CONFIG_BAD);
    mxe_config_free(&cfg);
    mxe_config_free(&cfg);
    /* loading with no argv and no environment at all */
    char *argv0[] = {NULL};
    ck_assert_int_eq(mxe_config_load(&cfg, 0, argv0, NULL, NULL, err, sizeof err), MXE_CONFIG_OK);
    mxe_config_free(&cfg);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))
    tcase_add_test(tc, test_defaults);
    tcase_add_loop_test(tc, test_precedence, 0, N(precedence_cases));
    tcase_add_test(tc, test_config_file_sources);
    tcase_add_test(tc, test_repeats);
    tcase_add_test(tc, test_env_file_syntax);
    tcase_add_loop_test(tc, test_env_file_errors, 0, N(env_file_errors));
    tcase_add_test(tc, test_env_file_error_via_env);
    tcase_add_loop_test(tc, test_duration_forms, 0, N(durations_ok));
    tcase_add_loop_test(tc, test_duration_errors, 0, N(durations_bad));
    tcase_add_test(tc, test_whole_second_durations);
    tcase_add_loop_test(tc, test_size_forms, 0, N(sizes_ok));
    tcase_add_loop_test(tc, test_size_errors, 0, N(sizes_bad));
    tcase_add_loop_test(tc, test_bool_forms, 0, N(bools));
    tcase_add_test(tc, test_bool_errors_and_once);
    tcase_add_loop_test(tc, test_redis_url_forms, 0, N(redis_ok));
    tcase_add_loop_test(tc, test_redis_url_errors, 0, N(redis_bad));
    tcase_add_test(tc, test_redis_password_override);
    tcase_add_loop_test(tc, test_listen_forms, 0, N(listen_ok));
    tcase_add_loop_test(tc, test_listen_errors, 0, N(listen_bad));
    tcase_add_loop_test(tc, test_api_url_forms, 0, N(api_urls));
    tcase_add_loop_test(tc, test_api_url_errors, 0, N(api_bad));
    tcase_add_test(tc, test_secret_files);
    tcase_add_test(tc, test_auth_rules);
    tcase_add_test(tc, test_conflicts_follow_precedence);
    tcase_add_test(tc, test_timeout_below_interval);
    tcase_add_loop_test(tc, test_errors_name_option, 0, N(named_errors));
    tcase_add_test(tc, test_flag_value_forms);
    tcase_add_test(tc, test_help);
    tcase_add_test(tc, test_version);
    tcase_add_test(tc, test_log_masks_secrets);
    tcase_add_test(tc, test_free_safety);
#undef N
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
