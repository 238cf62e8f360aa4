#!/bin/bash
# HEALTHCHECK of the mediamtx-exporter container image (Dockerfile; docs/deployment.md,
# "The container image"). Asks the exporter's own HTTP server whether it is ready:
#
#   exit 0 (healthy)    GET /readyz answered 200: a poll of MediaMTX succeeded within three
#                       poll intervals
#   exit 1 (unhealthy)  anything else: nothing listening, 503 (MediaMTX unreachable, data
#                       stale), no answer within 2 s
#
# The image has no curl and no openssl: this speaks plain HTTP/1.0 through bash's /dev/tcp.
# It knows the exporter's settings from the environment only (flags given after the image
# name are invisible to it):
# - LISTEN_ADDRESS (default :9977) gives host and port; an empty or wildcard host is asked
#   on loopback (127.0.0.1; ::1 for [::]), a specific host on that address. Port 0 (any free
#   port) cannot be checked.
# - WEB_TLS_CERT_FILE set (HTTPS): bash cannot speak TLS, so healthy only means that the port
#   accepts TCP connections (the process is alive; readiness is not checked).
# - WEB_USERS_FILE set (basic auth): /readyz needs credentials this check does not have. With
#   WEB_AUTH_EXEMPT_HEALTH on, it asks /healthz instead (200 while the process serves);
#   without, the 401 answer counts as alive. Either way readiness is not checked.
# For anything else, replace it: `docker run --health-cmd ...`, or `healthcheck:` in compose.
set -u
# a server that closes the connection early must mean "unhealthy" (exit 1), not SIGPIPE
trap '' PIPE

addr=${LISTEN_ADDRESS:-:9977}
port=${addr##*:}
host=${addr%:*}
host=${host#[}
host=${host%]}
case $host in
    "" | 0.0.0.0) host=127.0.0.1 ;;
    ::) host=::1 ;;
esac
if [[ ! $port =~ ^[0-9]+$ || $port == 0 ]]; then
    echo "healthcheck: cannot check LISTEN_ADDRESS=$addr (no fixed port)" >&2
    exit 1
fi

# bash reports a refused connection itself
exec 3<>"/dev/tcp/$host/$port" || exit 1

if [[ -n ${WEB_TLS_CERT_FILE:-} ]]; then
    echo "healthcheck: HTTPS on $host:$port, checked for TCP connections only"
    exit 0
fi

path=/readyz
statuses=200
if [[ -n ${WEB_USERS_FILE:-} ]]; then
    case ${WEB_AUTH_EXEMPT_HEALTH:-false} in
        [Tt][Rr][Uu][Ee] | 1 | [Yy][Ee][Ss] | [Oo][Nn]) path=/healthz ;;
        *) statuses='200|401' ;;
    esac
fi

if ! printf 'GET %s HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$path" >&3 ||
    ! IFS= read -r -t 2 status <&3; then
    echo "healthcheck: no answer from $host:$port" >&2
    exit 1
fi
status=${status%$'\r'}
echo "healthcheck: GET $path: $status"
[[ $status =~ ^HTTP/1\.[01]\ ($statuses)\  ]]
