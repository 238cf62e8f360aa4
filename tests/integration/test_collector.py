"""Issue 2 end to end: the real exporter against the MediaMTX stand-in and a real
redis-server — --once and daemon, Redis value/TTL/pub-sub, the file, pagination, faults,
Redis outages and SIGTERM."""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from harness import SOURCE_DIR, Exporter, Redis, Standin, free_port, wait_until

SEED_KEYS = ["name", "sourceType", "tracks", "bytesReceived", "readers", "rtt", "recvRateMbps",
             "linkCapacityMbps"]


def read(path):
    with open(path, "rb") as f:
        return f.read()


def records(blob):
    data = json.loads(blob)
    return {r["name"]: r for r in data}


def test_once_mirrors_to_redis_and_file(spawn, redis, workdir):
    mx = spawn(Standin, "--scenario", "demo")
    out = os.path.join(workdir, "streams.json")
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", redis.url,
                          "--output.json", out], once=True)
    assert ex.wait() == 0, ex.stderr()
    log = ex.stderr()
    # The original collector's two lines, in its order: Redis first, then the file.
    redis_at = log.index("4 entries stored in Redis")
    assert log.index("JSON file written: " + out) > redis_at

    blob = read(out)
    assert redis.cmd("GET", "mediamtx:streams:latest") == blob  # byte-identical
    assert 0 < redis.cmd("TTL", "mediamtx:streams:latest") <= 10

    data = json.loads(blob)
    assert [r["name"] for r in data] == sorted(r["name"] for r in data)
    for r in data:
        assert list(r)[:8] == SEED_KEYS
    recs = records(blob)
    sport = recs["testpattern-sport"]
    assert sport["sourceType"] == "srtConn"
    assert sport["tracks"] == ["H264", "MPEG-4 Audio"]
    assert (sport["rtt"], sport["recvRateMbps"], sport["linkCapacityMbps"]) == (0.36, 1.94, 1808.58)
    assert sport["readers"] == 1 and sport["readersByType"] == {"srtConn": 1}
    assert sport["bytesReceived"] > 0
    idle = recs["backstage"]
    assert idle["sourceType"] is None and idle["tracks"] == [] and not idle["ready"]
    assert idle["rtt"] is None and idle["recvRateMbps"] is None
    # A non-SRT stream never carries SRT numbers.
    assert recs["studio-a/main"]["rtt"] is None


def test_once_exit_statuses(spawn, redis, workdir):
    out = os.path.join(workdir, "streams.json")
    with open(out, "w") as f:
        f.write("[\"previous\"]")
    # MediaMTX unreachable: status 3, the file keeps the last good data.
    ex = spawn(Exporter, ["--mediamtx.api-url", "http://127.0.0.1:%d" % free_port(),
                          "--redis.url", redis.url, "--output.json", out], once=True)
    assert ex.wait() == 3
    assert "poll failed: GET /v3/paths/list" in ex.stderr()
    assert read(out) == b"[\"previous\"]"
    assert redis.cmd("GET", "mediamtx:streams:latest") is None

    # Redis unreachable: status 4, the file is still written.
    mx = spawn(Standin, "--scenario", "demo")
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--output.json", out,
                          "--redis.url", "redis://127.0.0.1:%d/0" % free_port()], once=True)
    assert ex.wait() == 4
    log = ex.stderr()
    assert "redis mirror: connect 127.0.0.1:" in log
    # One clear line: --once neither retries nor serves /metrics, so it says neither.
    assert len([ln for ln in log.splitlines() if "redis" in ln.lower() and "config:" not in ln]) == 1, log
    assert "retrying" not in log and "/metrics" not in log
    assert len(records(read(out))) == 4

    # A bad option: status 2, named.
    ex = spawn(Exporter, ["--poll.interval", "soon"], once=True)
    assert ex.wait() == 2
    assert "--poll.interval" in ex.stderr()


def test_redis_key_channel_ttl_and_socket_forms(spawn, redis, workdir):
    """The transaction is framed by the exporter itself (RESP), so every form of it is
    checked against a real redis-server: no expiry, no publishing, a key and a channel
    with spaces, braces and non-ASCII bytes, a document of megabytes (written in many
    pieces), and a Unix socket with a database number."""
    big = spawn(Standin, "--scenario", "empty", "--generate", "3000", "--srt-every", "3")
    out = os.path.join(workdir, "streams.json")
    key = "scoreboard {main} \u00fcn\u00ef"
    ex = spawn(Exporter, ["--mediamtx.api-url", big.url, "--redis.url", redis.url,
                          "--output.json", out, "--redis.key", key, "--redis.ttl", "0",
                          "--redis.channel", ""], once=True)
    assert ex.wait() == 0, ex.stderr()
    doc = read(out)
    assert len(doc) > 800000 and len(records(doc)) == 3000  # > a socket buffer, twice
    assert redis.cmd("GET", key) == doc
    assert redis.cmd("TTL", key) == -1  # no expiry

    mx = spawn(Standin, "--scenario", "demo")
    channel = "updates/\u00e4 {x}"
    sub = redis.subscribe(channel)
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", redis.url,
                          "--output.json", "", "--redis.key", key, "--redis.ttl", "7",
                          "--redis.channel", channel, "--poll.interval", "0.5"])
    try:
        kind, got_channel, message = sub.read()
    finally:
        sub.close()
    assert (kind, got_channel) == (b"message", channel.encode())
    assert records(message).keys() == records(redis.cmd("GET", key)).keys()
    assert 0 < redis.cmd("TTL", key) <= 7
    assert ex.stop() == 0

    sock = os.path.join(workdir, "redis.sock")
    unix = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", sock, "--save", "",
                             "--appendonly", "no", "--dir", workdir],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        cli = ["redis-cli", "-s", sock, "-n", "3"]
        wait_until(lambda: os.path.exists(sock) and subprocess.run(
            cli + ["PING"], capture_output=True).stdout.strip() == b"PONG",
            what="redis-server on a Unix socket")
        ex = spawn(Exporter, ["--mediamtx.api-url", big.url, "--redis.url",
                              "unix://%s?db=3" % sock, "--output.json", out], once=True)
        assert ex.wait() == 0, ex.stderr()
        got = subprocess.run(cli + ["--no-raw", "STRLEN", "mediamtx:streams:latest"],
                             capture_output=True).stdout
        assert int(got.split()[-1]) == len(read(out))
        got = subprocess.run(cli + ["GET", "mediamtx:streams:latest"], capture_output=True).stdout
        assert got.rstrip(b"\n") == read(out)
    finally:
        unix.kill()
        unix.wait()


def test_daemon_publishes_identical_bytes_everywhere(spawn, redis, workdir):
    mx = spawn(Standin, "--scenario", "demo")
    mx.freeze_clock()  # counters stand still: every cycle renders the same document
    sub = redis.subscribe("mediamtx:streams:updates")
    out = os.path.join(workdir, "streams.json")
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", redis.url,
                          "--output.json", out, "--poll.interval", "0.5"])
    try:
        kind, channel, message = sub.read()
    finally:
        sub.close()
    assert (kind, channel) == (b"message", b"mediamtx:streams:updates")
    wait_until(lambda: os.path.exists(out), what="the JSON file")
    # The mirror worker writes Redis and the file while the cycle renders /metrics, so the
    # first document can reach Redis a moment before HTTP serves it (docs/data.md).
    wait_until(lambda: ex.get("/api/streams/latest")[0] == 200, what="/api/streams/latest")
    status, headers, body = ex.get("/api/streams/latest")
    assert message == redis.cmd("GET", "mediamtx:streams:latest") == read(out) == body
    assert ex.stop() == 0


def test_pagination_keepalive_and_request_count(spawn, workdir):
    # 2,500 paths: three pages of 1,000 on one keep-alive connection.
    mx = spawn(Standin, "--scenario", "empty", "--generate", "2500", "--srt-every", "3")
    out = os.path.join(workdir, "streams.json")
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", "none",
                          "--output.json", out, "--poll.interval", "0.5"])
    ex.wait_polls(3)
    mx.control("POST", "/stats/reset")
    before = ex.metric("mediamtx_exporter_polls_total")
    ex.wait_polls(2)
    polls = ex.metric("mediamtx_exporter_polls_total") - before
    st = mx.stats()
    # pages of paths + 1 page of srtconns + /v3/info per cycle, never one request per stream
    assert st["requests"] <= (polls + 1) * 5
    assert st["connections"] == 0  # after the reset, the same connection keeps serving
    recs = json.loads(read(out))
    assert len(recs) == 2500
    names = [r["name"] for r in recs]
    assert names == sorted(set(names))
    srt = [r for r in recs if r["sourceType"] == "srtConn"]
    assert srt and all(r["rtt"] is not None for r in srt)
    assert ex.metric("mediamtx_streams") == 2500


def test_list_changing_between_pages_gives_no_duplicates(spawn, workdir):
    mx = spawn(Standin, "--scenario", "empty", "--generate", "2500")
    mx.fault(kind="churn", target="paths")
    out = os.path.join(workdir, "streams.json")
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", "none",
                          "--output.json", out], once=True)
    assert ex.wait() == 0, ex.stderr()
    names = [r["name"] for r in json.loads(read(out))]
    assert len(names) == len(set(names)) and names == sorted(names)


@pytest.mark.parametrize("fault,cause", [
    ({"kind": "status", "status": 500}, "HTTP 500"),
    ({"kind": "status", "status": 401}, "HTTP 401"),
    ({"kind": "status", "status": 404}, "HTTP 404"),
    ({"kind": "garbage"}, "invalid JSON"),
    ({"kind": "empty"}, "empty body"),
    ({"kind": "truncate"}, "truncated JSON"),
    ({"kind": "wrongtype"}, "invalid or unexpected type"),
    ({"kind": "deep"}, "nested deeper"),
    ({"kind": "refuse"}, "GET /v3/paths/list"),
    ({"kind": "slow", "delay": 3}, "timed out"),
    ({"kind": "huge", "bytes": 4 << 20}, "byte cap"),
])
def test_failed_poll_keeps_last_good_data(spawn, workdir, fault, cause):
    mx = spawn(Standin, "--scenario", "demo")
    # Every good cycle must write the same bytes: the file mirror runs on its own thread and
    # may still be writing the last good cycle when `good` is read below.
    mx.freeze_clock()
    out = os.path.join(workdir, "streams.json")
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", "none",
                          "--output.json", out, "--poll.interval", "0.5",
                          "--mediamtx.timeout", "0.4", "--mediamtx.max-response-size", "1MiB"])
    wait_until(lambda: os.path.exists(out), what="the first file")
    ex.wait_polls(1)
    good = read(out)
    mx.fault(target="paths", **fault)
    failures = ex.metric("mediamtx_exporter_poll_failures_total")
    wait_until(lambda: ex.metric("mediamtx_exporter_poll_failures_total") >= failures + 2,
               what="two failed polls")
    m = ex.metrics()
    assert m["mediamtx_up"] == "0"
    assert not any(k.startswith("mediamtx_stream_") for k in m), "stale stream series served"
    assert read(out) == good  # the file keeps the last good data
    assert cause in ex.stderr()
    assert "poll failed" in ex.stderr()
    mx.clear_faults()
    wait_until(lambda: ex.metric("mediamtx_up") == 1, what="recovery")
    assert "poll recovered" in ex.stderr()
    assert ex.stop() == 0


def test_redis_down_at_start_then_back(spawn, workdir):
    mx = spawn(Standin, "--scenario", "demo")
    port = free_port()
    out = os.path.join(workdir, "streams.json")
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--output.json", out,
                          "--redis.url", "redis://127.0.0.1:%d/0" % port, "--poll.interval", "0.3"])
    wait_until(lambda: os.path.exists(out), what="the file while Redis is down")
    wait_until(lambda: ex.metric('mediamtx_exporter_mirror_failures_total{target="redis"}') >= 3,
               what="counted Redis failures")
    m = ex.metrics()
    assert m["mediamtx_up"] == "1" and m["mediamtx_exporter_redis_up"] == "0"
    assert ex.stderr().count("redis: connect") == 1  # logged once per outage
    r = Redis(port).start()
    try:
        wait_until(lambda: r.cmd("GET", "mediamtx:streams:latest"), timeout=15,
                   what="the key after Redis came back")
        wait_until(lambda: ex.metric("mediamtx_exporter_redis_up") == 1, what="redis_up 1")
        assert "redis: connection restored" in ex.stderr()
    finally:
        r.close()


def test_redis_killed_mid_run_and_restarted(spawn, redis, workdir):
    mx = spawn(Standin, "--scenario", "demo")
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", redis.url,
                          "--output.json", "", "--poll.interval", "0.3"])
    wait_until(lambda: redis.cmd("GET", "mediamtx:streams:latest"), what="the first write")
    redis.stop()
    wait_until(lambda: ex.metric("mediamtx_exporter_redis_up") == 0, what="redis_up 0")
    polls = ex.metric("mediamtx_exporter_polls_total")
    wait_until(lambda: ex.metric("mediamtx_exporter_polls_total") >= polls + 3,
               what="polling to go on")
    assert ex.metric("mediamtx_up") == 1
    redis.start()
    wait_until(lambda: redis.cmd("GET", "mediamtx:streams:latest"), timeout=15,
               what="the key after the restart")
    assert ex.stop() == 0


def test_sigterm_stops_cleanly_without_temp_files(spawn, workdir):
    mx = spawn(Standin, "--scenario", "empty", "--generate", "3000")
    mx.freeze_clock()  # counters stand still, so every cycle writes the same bytes
    out = os.path.join(workdir, "streams.json")
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", "none",
                          "--output.json", out, "--poll.interval", "0.5",
                          "--mediamtx.timeout", "0.45"])
    wait_until(lambda: os.path.exists(out), what="the file")
    ex.wait_polls(2)
    t0 = time.monotonic()
    assert ex.stop(signal.SIGTERM) == 0
    assert time.monotonic() - t0 < 1.0
    assert os.listdir(workdir) == ["streams.json"]  # no temporary file left
    assert len(json.loads(read(out))) == 3000  # and the file is whole


def test_sigint_during_slow_poll_stops_within_a_second(spawn):
    mx = spawn(Standin, "--scenario", "demo")
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", "none",
                          "--output.json", "", "--poll.interval", "5", "--mediamtx.timeout", "4"])
    ex.wait_polls(1)
    mx.fault(kind="slow", delay=4, target="paths")
    wait_until(lambda: mx.stats()["requests"] > 0, what="a request in flight")
    time.sleep(0)  # nothing to wait for: the stop must cut the transfer short
    t0 = time.monotonic()
    assert ex.stop(signal.SIGINT) == 0
    assert time.monotonic() - t0 < 1.0


@pytest.mark.parametrize("version", ["1.13", "1.20"])
def test_auth_basic_from_secret_file(spawn, workdir, version):
    mx = spawn(Standin, "--api-version", version, "--user", "mon", "--pass", "s3cr#t",
               "--auth-fail-delay", "0.05")
    secret = os.path.join(workdir, "pass")
    with open(secret, "w") as f:
        f.write("s3cr#t\n")
    out = os.path.join(workdir, "streams.json")
    ex = spawn(Exporter, ["--redis.url", "none", "--output.json", out], once=True,
               env={"MEDIAMTX_API_URL": mx.url, "MEDIAMTX_API_USER": "mon",
                    "MEDIAMTX_API_PASS_FILE": secret})
    assert ex.wait() == 0, ex.stderr()
    assert len(records(read(out))) == 4
    assert "s3cr#t" not in ex.stderr()

    ex = spawn(Exporter, ["--redis.url", "none", "--output.json", out], once=True,
               env={"MEDIAMTX_API_URL": mx.url, "MEDIAMTX_API_USER": "mon",
                    "MEDIAMTX_API_PASS": "wrong-password"})
    assert ex.wait() == 3
    assert "HTTP 401" in ex.stderr()
    assert "wrong-password" not in ex.stderr()


def test_bearer_token(spawn, workdir):
    mx = spawn(Standin, "--token", "tok-123", "--auth-fail-delay", "0.05")
    out = os.path.join(workdir, "streams.json")
    ex = spawn(Exporter, ["--redis.url", "none", "--output.json", out], once=True,
               env={"MEDIAMTX_API_URL": mx.url, "MEDIAMTX_API_TOKEN": "tok-123"})
    assert ex.wait() == 0, ex.stderr()
    assert {r["auth"] for r in mx.stats()["last"]} == {"bearer"}


def test_v113_schema_and_no_info_endpoint(spawn, workdir):
    mx = spawn(Standin, "--api-version", "1.13", "--scenario", "demo")
    out = os.path.join(workdir, "streams.json")
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", "none",
                          "--output.json", out, "--poll.interval", "0.5"])
    wait_until(lambda: os.path.exists(out), what="the file")
    recs = records(read(out))
    sport = recs["testpattern-sport"]
    assert sport["rtt"] == 0.36 and sport["bytesReceived"] > 0
    m = ex.metrics()
    assert m["mediamtx_up"] == "1"
    assert not any(k.startswith("mediamtx_info") for k in m)  # v1.13 has no /v3/info


def test_srt_server_disabled_counts_as_empty_list(spawn, workdir):
    mx = spawn(Standin, "--scenario", "demo", "--disable", "srt")
    out = os.path.join(workdir, "streams.json")
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", "none",
                          "--output.json", out], once=True)
    assert ex.wait() == 0, ex.stderr()
    sport = records(read(out))["testpattern-sport"]
    assert sport["sourceType"] == "srtConn" and sport["rtt"] is None


def test_vanished_streams_and_restarted_publishers(spawn, workdir):
    mx = spawn(Standin, "--scenario", "demo")
    out = os.path.join(workdir, "streams.json")
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", "none",
                          "--output.json", out, "--poll.interval", "0.3"])
    wait_until(lambda: os.path.exists(out), what="the file")
    series = 'mediamtx_stream_received_bytes_total{path="lobby-cam"}'
    wait_until(lambda: ex.metric(series) > 1000, what="lobby-cam bytes")
    before = ex.metric(series)
    mx.control("POST", "/restart/lobby-cam")
    wait_until(lambda: ex.metric(series) < before, what="the counter to fall back")
    assert ex.metric(series) >= 0

    mx.control("DELETE", "/paths/studio-a/main")
    wait_until(lambda: "studio-a/main" not in records(read(out)), what="the vanished stream")
    assert not any('path="studio-a/main"' in k for k in ex.metrics())


# --- wrong credentials: MediaMTX answers them only after a pause --------------------------------

def test_wrong_credentials_slower_than_the_timeout_are_named(spawn, workdir):
    # v1.13 pauses 2 s before its 401 (FACTS 7), longer than the default 1.5 s timeout:
    # the stand-in's own delay, not turned off here.
    mx = spawn(Standin, "--api-version", "1.13", "--user", "mon", "--pass", "right")
    out = os.path.join(workdir, "streams.json")
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", "none",
                          "--output.json", out, "--mediamtx.username", "mon"], once=True,
               env={"MEDIAMTX_API_PASS": "wrong-password"})
    assert ex.wait() == 3
    log = ex.stderr()
    lines = [ln for ln in log.splitlines() if "poll failed" in ln]
    assert len(lines) == 1, log
    assert "timed out" in lines[0]
    assert "MediaMTX delays its answer to wrong credentials by 2-4 s" in lines[0]
    assert "check the configured user and password" in lines[0]
    assert "wrong-password" not in log
    assert not os.path.exists(out)


def test_wrong_token_v120_is_named_whether_401_or_timeout(spawn, workdir):
    # v1.20 pauses a random 0-4 s: the answer is a 401 or, past the timeout, the hint.
    mx = spawn(Standin, "--token", "tok-123")
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", "none",
                          "--output.json", ""], once=True, env={"MEDIAMTX_API_TOKEN": "tok-999"})
    assert ex.wait() == 3
    line = [ln for ln in ex.stderr().splitlines() if "poll failed" in ln][0]
    assert ("HTTP 401" in line) != ("delays its answer to wrong credentials" in line), line


# --- the size cap applies to each response --------------------------------------------------------

def test_size_cap_is_per_response_and_named_as_configured(spawn, workdir):
    # 2,500 paths: three pages of ~750 KB, 1.9 MB together; no SRT server (no srtconns pages).
    mx = spawn(Standin, "--scenario", "empty", "--generate", "2500", "--disable", "srt")
    out = os.path.join(workdir, "streams.json")
    args = ["--mediamtx.api-url", mx.url, "--redis.url", "none", "--output.json", out,
            "--mediamtx.max-response-size", "1MiB", "--mediamtx.timeout", "5s",
            "--poll.interval", "10s"]
    ex = spawn(Exporter, args, once=True)
    assert ex.wait() == 0, ex.stderr()  # every page is below the cap; their sum is not
    assert len(json.loads(read(out))) == 2500
    # The second page too large: the message names the configured cap, not what was left.
    mx.fault(target="paths", kind="slow", delay=0, times=1)  # the first page answers normally
    mx.fault(target="paths", kind="huge", bytes=2 << 20, times=1)
    ex = spawn(Exporter, args, once=True)
    assert ex.wait() == 3
    line = [ln for ln in ex.stderr().splitlines() if "poll failed" in ln][0]
    assert "page=1: response larger than the 1048576 byte cap " \
           "(--mediamtx.max-response-size)" in line, line


# --- the timeout bounds the whole cycle ---------------------------------------------------------

def test_timeout_bounds_the_whole_cycle_not_each_page(spawn):
    interval, timeout, delay = 1.5, 0.8, 0.35
    # Three pages, each answered in `delay` (+ rendering), well inside the timeout; together
    # they take longer than it.
    mx = spawn(Standin, "--scenario", "empty", "--generate", "2500", "--disable", "srt")
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", "none",
                          "--output.json", "", "--poll.interval", str(interval),
                          "--mediamtx.timeout", str(timeout)])
    wait_until(lambda: ex.metric("mediamtx_up") == 1, what="a first good poll")
    mx.fault(target="paths", kind="slow", delay=delay)
    mx.control("POST", "/stats/reset")
    fails0 = ex.metric("mediamtx_exporter_poll_failures_total")

    def failed_twice():
        m = ex.metrics()
        return float(m["mediamtx_exporter_poll_failures_total"]) >= fails0 + 2 and m
    m = wait_until(failed_twice, timeout=15, what="two failed polls")
    assert m["mediamtx_up"] == "0"
    # Gave up at the timeout (plus scheduling slack), not after the three pages.
    assert float(m["mediamtx_exporter_poll_duration_seconds"]) <= timeout + 0.25, m
    served = mx.stats()["last"]
    pages = {e["query"] for e in served if e["path"] == "/v3/paths/list"}
    assert "itemsPerPage=1000&page=1" in pages  # the first page came back in time
    line = [ln for ln in ex.stderr().splitlines() if "poll failed" in ln][0]
    # Cut short on a later page (which one depends on the machine's speed), not the first.
    assert "timed out" in line and ("page=1" in line or "page=2" in line), line
    assert "credentials" not in line  # none are configured
    assert ex.stop() == 0


# --- pageCount changing mid-poll; srtconns over several pages --------------------------------------

@pytest.mark.parametrize("target,delta", [("paths", 1500), ("paths", -1200), ("srtconns", 1500),
                                          ("srtconns", -800)])
def test_page_count_changing_mid_poll(spawn, workdir, target, delta):
    # Every path published over SRT: 2,500 publishers plus their SRT viewers, so the
    # srtconns list spans several pages of 1,000 too.
    mx = spawn(Standin, "--scenario", "empty", "--generate", "2500", "--srt-every", "1")
    mx.freeze_clock()
    state = mx.control("GET", "/state")
    names = [p["name"] for p in state["paths"]]
    assert len(names) == 2500
    n_conns = len(state["srtconns"]) + sum(1 for p in state["paths"] if "srt" in p)
    assert n_conns > 2000, n_conns  # at least three pages
    # After the first page of the list is served, it grows or shrinks at its end.
    mx.fault(target=target, kind="resize", delta=delta, times=1)
    out = os.path.join(workdir, "streams.json")
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", "none",
                          "--output.json", out, "--mediamtx.timeout", "8s",
                          "--poll.interval", "10s"], once=True)
    assert ex.wait() == 0, ex.stderr()
    recs = json.loads(read(out))
    got = [r["name"] for r in recs]
    assert got == sorted(set(got)), "duplicate or unsorted names"
    after = mx.control("GET", "/state")
    final = [p["name"] for p in after["paths"]]
    if target == "paths" and delta > 0:
        # the exporter followed the grown pageCount: old and new paths, each once
        assert got == final and len(got) == 2500 + delta
    elif target == "paths":
        # the shrunk list ends early; every path that stayed is there
        assert got == final == names[:delta]
    else:
        assert got == names
    # Every SRT publisher that still has its connection is joined, wherever its page was.
    live = {p["name"] for p in after["paths"] if p.get("srt")}
    by_name = {r["name"]: r for r in recs}
    for name in names:
        if name in by_name:  # the publisher's rtt (0.5 ms), never a viewer's (12.5 ms)
            assert by_name[name]["rtt"] == (0.5 if name in live else None), by_name[name]
    if target == "srtconns" and delta > 0:
        assert all(by_name[n]["rtt"] == 0.5 for n in names)
    if target == "srtconns" and delta < 0:
        assert len(live) < 2500  # publishers lost their connections at the end of the list


# --- the SRT fields come from the publisher even when a viewer is listed first ---------------------

@pytest.mark.parametrize("version", ["1.13", "1.20"])
def test_srt_publisher_join_when_a_viewer_is_listed_first(spawn, workdir, version):
    mx = spawn(Standin, "--api-version", version, "--scenario", "demo")
    # The publisher restarts: its new connection is created now, after the viewer's
    # (created 30 min ago), and srtconns are sorted by created (FACTS 23).
    mx.control("POST", "/restart/testpattern-sport")
    with urllib.request.urlopen(mx.url + "/v3/srtconns/list", timeout=10) as r:
        conns = json.load(r)["items"]
    with urllib.request.urlopen(mx.url + "/v3/paths/get/testpattern-sport", timeout=10) as r:
        sport = json.load(r)
    assert [(c["state"], c["path"]) for c in conns] == [("read", "testpattern-sport"),
                                                         ("publish", "testpattern-sport")]
    assert conns[1]["id"] == sport["source"]["id"]
    out = os.path.join(workdir, "streams.json")
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", "none",
                          "--output.json", out], once=True)
    assert ex.wait() == 0, ex.stderr()
    rec = records(read(out))["testpattern-sport"]
    assert rec["sourceId"] == sport["source"]["id"] != conns[0]["id"]
    # The publisher's figures (0.36 ms, 1.94, 1808.58), not the viewer's (12.5 ms, 1.94, 95.37).
    assert (rec["rtt"], rec["recvRateMbps"], rec["linkCapacityMbps"]) == (0.36, 1.94, 1808.58)


# --- HTTPS to MediaMTX ------------------------------------------------------------------------------

def test_https_to_mediamtx(spawn, workdir):
    sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "standin"))
    import testcerts
    tls = testcerts.make(workdir)
    mx = spawn(Standin, "--tls-cert", tls["cert"], "--tls-key", tls["key"])
    url = "https://127.0.0.1:%d" % mx.api_port
    out = os.path.join(workdir, "streams.json")
    base = ["--mediamtx.api-url", url, "--redis.url", "none", "--output.json", out]

    ex = spawn(Exporter, base + ["--mediamtx.ca-file", tls["ca"]], once=True)
    assert ex.wait() == 0, ex.stderr()
    assert len(records(read(out))) == 4
    os.unlink(out)

    # Without the CA (the system CAs do not know it), or with the wrong one: a clear refusal.
    for extra in ([], ["--mediamtx.ca-file", tls["other_ca"]]):
        ex = spawn(Exporter, base + extra, once=True)
        assert ex.wait() == 3
        line = [ln for ln in ex.stderr().splitlines() if "poll failed" in ln][0]
        assert "certificate" in line and "--mediamtx.ca-file" in line, line
        assert not os.path.exists(out)

    ex = spawn(Exporter, base + ["--mediamtx.insecure-skip-verify"], once=True)
    assert ex.wait() == 0, ex.stderr()
    assert len(records(read(out))) == 4

    # Plain HTTP to the HTTPS port: MediaMTX's (Go's) bare 400, reported as such.
    ex = spawn(Exporter, ["--mediamtx.api-url", "http://127.0.0.1:%d" % mx.api_port,
                          "--redis.url", "none", "--output.json", ""], once=True)
    assert ex.wait() == 3
    assert "HTTP 400" in ex.stderr()


# --- MediaMTX's version survives a failed /v3/info ---------------------------------------------

def test_version_kept_when_info_fails(spawn):
    mx = spawn(Standin, "--scenario", "demo")
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", "none",
                          "--output.json", "", "--poll.interval", "0.3"])
    series = 'mediamtx_info{version="v1.20.1"}'
    wait_until(lambda: series in ex.metrics(), what="the version")
    for fault in ({"kind": "status", "status": 500}, {"kind": "refuse"}, {"kind": "garbage"},
                  {"kind": "slow", "delay": 1}):
        mx.clear_faults()
        mx.fault(target="info", **fault)
        mx.control("POST", "/stats/reset")
        polls = ex.metric("mediamtx_exporter_polls_total")
        seen = 0
        for _ in range(500):  # every scrape over a few cycles, bounded
            m = ex.metrics()
            assert series in m, (fault, sorted(k for k in m if "info" in k))
            assert m["mediamtx_up"] == "1"
            seen = float(m["mediamtx_exporter_polls_total"]) - polls
            if seen >= 3:
                break
            time.sleep(0.02)
        assert seen >= 3
        assert mx.stats()["by_endpoint"].get("info", 0) >= 2  # the fault was hit
    assert ex.stop() == 0


# --- Redis: back within a cycle; a hanging Redis does not hold the exit ----------------------------

def test_redis_back_is_written_by_the_next_cycle(spawn, workdir):
    mx = spawn(Standin, "--scenario", "demo")
    port = free_port()
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--output.json", "",
                          "--redis.url", "redis://127.0.0.1:%d/0" % port, "--poll.interval", "0.5"])
    # A long outage: ten cycles (a growing backoff would have reached seconds by now).
    ex.wait_polls(10, timeout=30)
    assert ex.metric("mediamtx_exporter_redis_up") == 0
    r = Redis(port).start()  # returns once Redis answers PING
    try:
        polls = ex.metric("mediamtx_exporter_polls_total")
        wait_until(lambda: r.cmd("GET", "mediamtx:streams:latest"), timeout=15,
                   what="the key after Redis came back")
        after = ex.metric("mediamtx_exporter_polls_total")
        assert after - polls <= 2, "Redis back for %d cycles before a write" % (after - polls)
        wait_until(lambda: ex.metric("mediamtx_exporter_redis_up") == 1, what="redis_up 1")
        log = ex.stderr()
        assert log.count("redis: connect 127.0.0.1") == 1 and "redis: connection restored" in log
    finally:
        r.close()


class FakeRedis:
    """A TCP server that accepts connections and reads RESP commands, but answers each only
    after `reply_after` seconds (None: never). Records the command names it received."""

    def __init__(self, reply_after=None):
        self.reply_after = reply_after
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.commands = []
        self.stopping = threading.Event()
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf = b""
        answers = {b"AUTH": b"+OK\r\n", b"SELECT": b"+OK\r\n", b"MULTI": b"+OK\r\n",
                   b"SET": b"+QUEUED\r\n", b"PUBLISH": b"+QUEUED\r\n", b"EXEC": b"*2\r\n+OK\r\n:0\r\n"}
        try:
            while not self.stopping.is_set():
                cmd, buf = self._parse(buf)
                if cmd is None:
                    chunk = c.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                    continue
                self.commands.append(cmd)
                if self.reply_after is None:
                    continue
                if self.stopping.wait(self.reply_after):
                    return
                c.sendall(answers.get(cmd, b"-ERR unknown\r\n"))
        except OSError:
            return

    @staticmethod
    def _parse(buf):
        """(command name, rest) for one whole RESP array in buf, or (None, buf)."""
        if not buf.startswith(b"*") or b"\r\n" not in buf:
            return None, buf
        head, rest = buf[1:].split(b"\r\n", 1)
        args = []
        for _ in range(int(head)):
            if b"\r\n" not in rest:
                return None, buf
            n, body = rest[1:].split(b"\r\n", 1)
            n = int(n)
            if len(body) < n + 2:
                return None, buf
            args.append(body[:n])
            rest = body[n + 2:]
        return args[0].upper(), rest

    def close(self):
        self.stopping.set()
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.mark.parametrize("reply_after", [None, 0.8], ids=["never-answers", "answers-slowly"])
def test_sigterm_stops_within_a_second_while_redis_hangs(spawn, reply_after):
    fake = FakeRedis(reply_after)
    try:
        mx = spawn(Standin, "--scenario", "demo")
        # With a password and a database: AUTH and SELECT before MULTI/EXEC. The slow fake
        # answers each within the old per-command timeout (1 s), so one write would last
        # ~5 s if nothing bounded the whole write or cut it short at shutdown.
        ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--output.json", "",
                              "--redis.url", "redis://:pw@127.0.0.1:%d/3" % fake.port])
        wait_until(lambda: b"AUTH" in fake.commands, timeout=15, what="AUTH at the fake Redis")
        t0 = time.monotonic()
        assert ex.stop(signal.SIGTERM) == 0
        took = time.monotonic() - t0
        assert took < 1.0, "stopping took %.2f s" % took
    finally:
        fake.close()
