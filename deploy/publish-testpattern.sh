#!/bin/sh
# Test-pattern publisher for the docker-compose demo: service `publisher`, image
# jrottenberg/ffmpeg (Ubuntu, ffmpeg built with libsrt and libx264), entrypoint overridden
# to run this script with /bin/sh.
#
#   publish-testpattern.sh           publish until stopped
#   publish-testpattern.sh health    exit 0 if both publishers are running (healthcheck)
#
# It publishes
# - a 720p25 test pattern with a 1 kHz tone over SRT to $SRT_STREAM (default
#   testpattern-sport, the stream of the original design),
# - a second pattern over RTSP to $RTSP_STREAM (default testpattern-news),
# and reads $RTSP_STREAM back once, so that the dashboard shows a reader.
# Each ffmpeg runs in its own restart loop: when MediaMTX restarts, publishing resumes.
set -eu

MEDIAMTX_HOST="${MEDIAMTX_HOST:-mediamtx}"
SRT_PORT="${SRT_PORT:-8890}"
RTSP_PORT="${RTSP_PORT:-8554}"
SRT_STREAM="${SRT_STREAM:-testpattern-sport}"
RTSP_STREAM="${RTSP_STREAM:-testpattern-news}"
VIDEO_BITRATE="${VIDEO_BITRATE:-2500k}"
# SRT receiver latency requested by the publisher, microseconds (MediaMTX uses the larger
# of this and its own default of 120 ms).
SRT_LATENCY_US="${SRT_LATENCY_US:-200000}"

SRT_URL="srt://$MEDIAMTX_HOST:$SRT_PORT?streamid=publish:$SRT_STREAM&pkt_size=1316&latency=$SRT_LATENCY_US"
RTSP_URL="rtsp://$MEDIAMTX_HOST:$RTSP_PORT/$RTSP_STREAM"

# health: is a process running whose command line holds this exact argument?
running_with_arg() {
    for f in /proc/[0-9]*/cmdline; do
        if tr '\0' '\n' 2>/dev/null <"$f" | grep -qxF -- "$1"; then
            return 0
        fi
    done
    return 1
}

if [ "${1:-}" = health ]; then
    running_with_arg "$SRT_URL" || { echo "SRT publisher not running" >&2; exit 1; }
    running_with_arg "$RTSP_URL" || { echo "RTSP publisher not running" >&2; exit 1; }
    exit 0
fi

# encode FORMAT URL [OUTPUT-OPTION...]: encode the test pattern in real time (-re) and
# send it to URL.
encode() {
    format="$1"
    url="$2"
    shift 2
    ffmpeg -hide_banner -loglevel warning -nostats -re \
        -f lavfi -i "testsrc2=size=1280x720:rate=25" \
        -f lavfi -i "sine=frequency=1000:sample_rate=48000" \
        -c:v libx264 -preset veryfast -tune zerolatency -profile:v main -pix_fmt yuv420p \
        -b:v "$VIDEO_BITRATE" -maxrate "$VIDEO_BITRATE" -bufsize "$VIDEO_BITRATE" \
        -g 50 -keyint_min 50 \
        -c:a aac -b:a 128k -ac 2 \
        "$@" -f "$format" "$url"
}

# read_back URL: read a stream over RTSP/TCP and discard it.
read_back() {
    ffmpeg -hide_banner -loglevel warning -nostats -rtsp_transport tcp -i "$1" -c copy -f null -
}

# forever NAME CMD...: run CMD again 2s after it exits, until the container stops.
forever() {
    name="$1"
    shift
    while :; do
        "$@" || true
        echo "publisher: $name stopped, restarting in 2s" >&2
        sleep 2
    done
}

forever srt encode mpegts "$SRT_URL" &
forever rtsp encode rtsp "$RTSP_URL" -rtsp_transport tcp &
sleep 5
forever reader read_back "$RTSP_URL" &

# docker stop sends SIGTERM to this script (PID 1 under `init: true` is tini, which
# forwards it); stop the loops and their ffmpeg processes.
trap 'trap - TERM INT; kill 0 2>/dev/null; exit 0' TERM INT
wait
