/* Configuration: one table of options, each a long flag, an environment variable and a
 * KEY=value line of the optional env file. Precedence: flag > environment > file >
 * default. Values are validated once, here. */
#ifndef MXE_CONFIG_H
#define MXE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "log.h"

/* Where the Redis mirror connects. */
typedef struct mxe_redis_target {
    bool enabled;    /* false for "none" */
    char *host;      /* TCP host, NULL for a unix socket */
    int port;        /* TCP port */
    char *unix_path; /* unix socket path, NULL for TCP */
    int db;          /* SELECT index, 0 by default */
    char *username;  /* ACL user, NULL for none */
    char *password;  /* NULL for none; from the URL or --redis.password(-file) */
} mxe_redis_target;

typedef struct mxe_config {
    /* MediaMTX */
    char *api_url;      /* base URL without trailing slash */
    char *username;     /* NULL for none */
    char *password;     /* NULL for none */
    char *bearer_token; /* NULL for none */
    char *ca_file;      /* NULL: system CAs */
    bool insecure_skip_verify;
    double timeout_s;          /* bounds one whole poll cycle */
    size_t max_response_bytes; /* per-response cap */
    double poll_interval_s;    /* > timeout_s */
    /* Redis */
    char *redis_url; /* as given, password masked when logged */
    mxe_redis_target redis;
    char *redis_key;
    char *redis_channel;  /* "" disables publishing */
    unsigned redis_ttl_s; /* 0 = no expiry */
    /* file */
    char *json_output_path; /* "" disables */
    /* HTTP server */
    char *listen_address; /* as given, e.g. ":9977", "127.0.0.1:9977", "[::1]:9977" */
    char *listen_host;    /* NULL = all interfaces (IPv4 and IPv6) */
    int listen_port;      /* 0 = any free port (tests) */
    unsigned web_max_connections;
    unsigned web_max_connections_per_ip;
    unsigned web_connection_timeout_s;
    unsigned web_max_subscribers;            /* live feeds (WebSocket + SSE), together */
    unsigned web_subscriber_stall_timeout_s; /* drop a subscriber without write progress */
    char *web_tls_cert_file;                 /* NULL: plain HTTP; set together with the key file */
    char *web_tls_key_file;                  /* NULL: plain HTTP */
    char *web_users_file;                    /* NULL: no basic auth */
    bool web_auth_exempt_health;             /* /healthz answers without credentials */
    /* process */
    bool once;
    mxe_log_level log_level;
    mxe_log_format log_format;
    char *config_file; /* NULL for none */
} mxe_config;

/* Outcome of mxe_config_load(). */
typedef enum {
    MXE_CONFIG_OK = 0,   /* run */
    MXE_CONFIG_EXIT = 1, /* --help or --version was printed to `out`; exit 0 */
    MXE_CONFIG_BAD = 2,  /* invalid: `err` names the option and the problem; exit 2 */
} mxe_config_result;

/* Fill `cfg` from defaults, then the env file (--config.file / CONFIG_FILE), then `envp`,
 * then argv. `envp` is a NULL-terminated KEY=value array (pass `environ`). On
 * MXE_CONFIG_BAD, `err` holds one line like "--poll.interval: invalid duration 'x'".
 * The caller owns `cfg` and releases it with mxe_config_free() whatever the result. */
mxe_config_result mxe_config_load(mxe_config *cfg, int argc, char **argv, char **envp, FILE *out,
                                  char *err, size_t errlen);
void mxe_config_free(mxe_config *cfg);
/* Log the effective configuration at info level, secrets masked. */
void mxe_config_log(const mxe_config *cfg);

#endif
