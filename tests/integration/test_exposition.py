"""Issue 3 end to end: the live exposition is valid in both formats (promtool, the
OpenMetrics parser, no duplicate series), gzip is the same bytes, and a real Prometheus
scrapes the exporter with OpenMetrics negotiated and reads the stand-in's values."""
import gzip
import json
import os
import subprocess

from harness import PYTHON, SOURCE_DIR, Exporter, Prometheus, Standin, parse_metrics, wait_until

CHECKER = os.path.join(SOURCE_DIR, "tests", "tools", "check_exposition.py")
OM_ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
             "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")


def check_file(tmp_path, name, body):
    path = tmp_path / name
    path.write_bytes(body)
    r = subprocess.run([PYTHON, CHECKER, str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_live_exposition_is_valid_in_both_formats(spawn, tmp_path):
    mx = spawn(Standin, "--scenario", "demo")
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", "none",
                          "--output.json", "", "--poll.interval", "0.5"])
    wait_until(lambda: ex.metrics().get("mediamtx_up") == "1", what="a good poll")
    mx.freeze_clock()
    ex.wait_polls(1)

    status, headers, prom = ex.get("/metrics")
    assert status == 200
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    check_file(tmp_path, "live.prom", prom)

    status, headers, om = ex.get("/metrics", {"Accept": OM_ACCEPT})
    assert headers["content-type"] == \
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    assert om.endswith(b"# EOF\n")
    check_file(tmp_path, "live.om", om)

    # gzip: the same document, compressed once per cycle. A cycle may end between two
    # requests (polls_total changes every cycle), so compare only when the identity bodies
    # fetched before and after the gzip one are equal: then all three came from one view.
    def same_view():
        before = ex.get("/metrics")[2]
        _, headers, gz = ex.get("/metrics", {"Accept-Encoding": "gzip"})
        after = ex.get("/metrics")[2]
        return (before, headers, gz) if before == after else None
    prom, headers, gz = wait_until(same_view, what="three responses from one cycle")
    assert headers.get("content-encoding") == "gzip"
    assert gzip.decompress(gz) == prom
    # Every stream of the stand-in is there.
    m = parse_metrics(prom.decode())
    names = {r["name"] for r in json.loads(ex.get("/api/streams/latest")[2])}
    for n in names:
        assert 'mediamtx_stream_ready{path="%s"}' % n in m


def test_down_server_serves_up_zero_and_no_stream_series(spawn):
    mx = spawn(Standin, "--scenario", "demo")
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", "none",
                          "--output.json", "", "--poll.interval", "0.3"])
    wait_until(lambda: ex.metrics().get("mediamtx_up") == "1", what="a good poll")
    mx.close()  # MediaMTX goes away
    wait_until(lambda: ex.metrics().get("mediamtx_up") == "0", what="mediamtx_up 0")
    m = ex.metrics()
    assert not [k for k in m if k.startswith("mediamtx_stream")]
    assert "mediamtx_streams" not in m
    assert float(m["mediamtx_exporter_poll_failures_total"]) >= 1
    status, _, body = ex.get("/readyz")
    assert status in (200, 503)  # ready until three intervals pass, then not
    wait_until(lambda: ex.get("/readyz")[0] == 503, what="/readyz 503")


def test_prometheus_scrapes_openmetrics_and_reads_values(spawn):
    mx = spawn(Standin, "--scenario", "demo")
    mx.freeze_clock()
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", "none",
                          "--output.json", "", "--poll.interval", "0.5"])
    prom = spawn(Prometheus, ["127.0.0.1:%d" % ex.port])
    prom.wait_target_up()
    records = {r["name"]: r for r in json.loads(ex.get("/api/streams/latest")[2])}

    def value(expr):
        res = prom.query(expr)["data"]["result"]
        return float(res[0]["value"][1]) if res else None

    wait_until(lambda: value('mediamtx_stream_readers{path="testpattern-sport"}') is not None,
               what="stream series in Prometheus")
    sport = records["testpattern-sport"]
    assert value("mediamtx_up") == 1
    assert value("mediamtx_streams") == len(records)
    assert value("mediamtx_streams_ready") == sum(r["ready"] for r in records.values())
    assert value('mediamtx_stream_readers{path="testpattern-sport"}') == sport["readers"]
    assert value('mediamtx_stream_received_bytes_total{path="testpattern-sport"}') == \
        sport["bytesReceived"]
    assert value('mediamtx_stream_sent_bytes_total{path="testpattern-sport"}') == sport["bytesSent"]
    assert value('mediamtx_stream_ready{path="backstage"}') == 0
    assert abs(value('mediamtx_stream_srt_rtt_seconds{path="testpattern-sport"}') -
               sport["rtt"] / 1000) < 1e-12
    assert abs(value('mediamtx_stream_srt_receive_rate_bytes_per_second{path="testpattern-sport"}')
               - sport["recvRateMbps"] * 131072) < 1e-6
    assert abs(value('mediamtx_stream_srt_link_capacity_bytes_per_second'
                     '{path="testpattern-sport"}') - sport["linkCapacityMbps"] * 131072) < 1e-3
    for fam in ("mediamtx_stream_srt_received_packets_lost_total",
                "mediamtx_stream_srt_received_packets_retransmitted_total",
                "mediamtx_stream_srt_received_packets_dropped_total",
                "mediamtx_stream_srt_receive_latency_seconds"):
        assert value('%s{path="testpattern-sport"}' % fam) is not None, fam
        assert value('%s{path="studio-a/main"}' % fam) is None, fam  # SRT publishers only
    info = prom.query('mediamtx_stream_info{path="testpattern-sport"}')["data"]["result"][0]["metric"]
    assert info["source_type"] == "srtConn" and info["tracks"] == "H264,MPEG-4 Audio"
    assert value('mediamtx_info{version="v1.20.1"}') == 1
    for fam in ("mediamtx_exporter_build_info", "mediamtx_exporter_polls_total",
                "mediamtx_exporter_poll_failures_total", "mediamtx_exporter_poll_duration_seconds",
                "mediamtx_exporter_last_success_timestamp_seconds", "mediamtx_exporter_redis_up",
                'mediamtx_exporter_mirror_failures_total{target="file"}',
                'mediamtx_exporter_subscribers{feed="websocket"}',
                "process_cpu_seconds_total", "process_resident_memory_bytes",
                "process_virtual_memory_bytes", "process_start_time_seconds", "process_open_fds",
                "process_max_fds"):
        assert value(fam) is not None, fam
    # OpenMetrics was negotiated: only its "# UNIT" lines give Prometheus a unit.
    meta = prom.api("targets/metadata", metric="mediamtx_stream_received_bytes")["data"]
    assert meta and meta[0]["type"] == "counter" and meta[0]["unit"] == "bytes", meta
