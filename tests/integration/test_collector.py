"""Issue 2 end to end: the real exporter against the MediaMTX stand-in and a real
redis-server — --once and daemon, Redis value/TTL/pub-sub, the file, pagination, faults,
Redis outages and SIGTERM."""
import json
import os
import signal
import time

import pytest

from harness import Exporter, Redis, Standin, free_port, wait_until

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
    assert "4 entries stored in Redis" in log
    assert "JSON file written: " + out in log

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
    assert "redis mirror: connect 127.0.0.1:" in ex.stderr()
    assert len(records(read(out))) == 4

    # A bad option: status 2, named.
    ex = spawn(Exporter, ["--poll.interval", "soon"], once=True)
    assert ex.wait() == 2
    assert "--poll.interval" in ex.stderr()


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
    status, headers, body = ex.get("/api/streams/latest")
    assert status == 200
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
