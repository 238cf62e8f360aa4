"""Issue 3 end to end: the live exposition is valid in both formats (promtool, the
OpenMetrics parser, no duplicate series), gzip is the same bytes, and a real Prometheus
scrapes the exporter with OpenMetrics negotiated and reads the stand-in's values."""
import gzip
import json
import math
import os
import re
import subprocess
import time
import urllib.request

from harness import BIN, PYTHON, SOURCE_DIR, Exporter, Prometheus, Standin, parse_metrics, \
    wait_until

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
    assert ex.metrics().get('mediamtx_info{version="v1.20.1"}') == "1"
    mx.close()  # MediaMTX goes away
    wait_until(lambda: ex.metrics().get("mediamtx_up") == "0", what="mediamtx_up 0")
    m = ex.metrics()
    assert not [k for k in m if k.startswith("mediamtx_stream")]
    assert "mediamtx_streams" not in m
    # the version MediaMTX had is not a fact while it is down: no frozen mediamtx_info
    assert not [k for k in m if k.startswith("mediamtx_info")], m
    assert float(m["mediamtx_exporter_poll_failures_total"]) >= 1
    status, _, body = ex.get("/readyz")
    assert status in (200, 503)  # ready until three intervals pass, then not
    wait_until(lambda: ex.get("/readyz")[0] == 503, what="/readyz 503")


def standin_get(mx, route):
    with urllib.request.urlopen(mx.url + route, timeout=10) as r:
        return json.load(r)


def standin_items(mx, kind):
    """Every item of /v3/<kind>/list, all pages, as the stand-in answers them."""
    items, page = [], 0
    while True:
        doc = standin_get(mx, "/v3/%s/list?itemsPerPage=100&page=%d" % (kind, page))
        items += doc["items"]
        page += 1
        if page >= doc["pageCount"]:
            return items


def expected_stream_series(mx):
    """{family: {path: value}} for every per-stream family, computed from the stand-in's own
    answers with the conversions of docs/metrics.md (MediaMTX v1.20 field names)."""
    paths = standin_items(mx, "paths")
    conns = {c["id"]: c for c in standin_items(mx, "srtconns")}
    want = {f: {} for f in (
        "mediamtx_stream_ready", "mediamtx_stream_received_bytes_total",
        "mediamtx_stream_sent_bytes_total", "mediamtx_stream_readers",
        "mediamtx_stream_srt_rtt_seconds", "mediamtx_stream_srt_receive_rate_bytes_per_second",
        "mediamtx_stream_srt_link_capacity_bytes_per_second",
        "mediamtx_stream_srt_received_packets_total",
        "mediamtx_stream_srt_received_packets_lost_total",
        "mediamtx_stream_srt_received_packets_retransmitted_total",
        "mediamtx_stream_srt_received_packets_dropped_total",
        "mediamtx_stream_srt_receive_latency_seconds")}
    info = {}
    for p in paths:
        name, src = p["name"], p["source"] or {}
        info[name] = {"source_type": src.get("type", ""),
                      "tracks": ",".join(t["codec"] for t in p["tracks2"])}
        want["mediamtx_stream_ready"][name] = 1 if p["available"] else 0
        want["mediamtx_stream_received_bytes_total"][name] = p["inboundBytes"]
        want["mediamtx_stream_sent_bytes_total"][name] = p["outboundBytes"]
        want["mediamtx_stream_readers"][name] = len(p["readers"])
        conn = conns.get(src.get("id")) if src.get("type") == "srtConn" else None
        if conn is None:
            continue
        assert conn["state"] == "publish" and conn["path"] == name, conn
        for fam, value in (
                ("mediamtx_stream_srt_rtt_seconds", conn["msRTT"] / 1000),
                ("mediamtx_stream_srt_receive_rate_bytes_per_second",
                 conn["mbpsReceiveRate"] * 131072),
                ("mediamtx_stream_srt_link_capacity_bytes_per_second",
                 conn["mbpsLinkCapacity"] * 131072),
                ("mediamtx_stream_srt_received_packets_total", conn["packetsReceived"]),
                ("mediamtx_stream_srt_received_packets_lost_total", conn["packetsReceivedLoss"]),
                ("mediamtx_stream_srt_received_packets_retransmitted_total",
                 conn["packetsReceivedRetrans"]),
                ("mediamtx_stream_srt_received_packets_dropped_total",
                 conn["packetsReceivedDrop"]),
                ("mediamtx_stream_srt_receive_latency_seconds",
                 conn["msReceiveTsbPdDelay"] / 1000)):
            want[fam][name] = value
    return paths, info, want


def same_number(got, want):
    """Equal as Prometheus stores them: integers exactly, others to 15 significant digits
    (the exposition writes doubles with %.15g)."""
    if isinstance(want, int):
        return got == float(want)
    return math.isclose(got, want, rel_tol=1e-14, abs_tol=0.0)


def proc_limit(pid, name):
    """The soft limit `name` ("Max open files") of process pid as client_golang reports it:
    "unlimited" is 2^64 - 1."""
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith(name):
                soft = line[len(name):].split()[0]
                return float(2 ** 64 - 1) if soft == "unlimited" else float(soft)
    raise AssertionError("no %s in /proc/%d/limits" % (name, pid))


def test_prometheus_scrapes_openmetrics_and_reads_values(spawn):
    """A real Prometheus scrapes the exporter (OpenMetrics negotiated); a query of every family
    returns what the stand-in itself answers, converted as docs/metrics.md says, with exactly
    the stand-in's paths; the exporter's and process families hold sane values."""
    mx = spawn(Standin, "--scenario", "demo")
    mx.freeze_clock()  # counters stand still: every poll and scrape sees the same numbers
    started = time.time()
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", "none",
                          "--output.json", "", "--poll.interval", "0.5"])
    started_after = time.time()
    prom = spawn(Prometheus, ["127.0.0.1:%d" % ex.port])
    prom.wait_target_up()
    paths, info, want = expected_stream_series(mx)
    assert len(paths) >= 4 and want["mediamtx_stream_srt_rtt_seconds"], "demo scenario changed?"

    def series(expr):
        """{labels-without-__name__ as a frozenset: float value} of an instant query."""
        res = prom.query(expr)
        assert res["status"] == "success", res
        return {frozenset((k, v) for k, v in r["metric"].items()
                          if k not in ("__name__", "instance", "job")):
                float(r["value"][1]) for r in res["data"]["result"]}

    def by_path(expr):
        return {dict(k)["path"]: v for k, v in series(expr).items()}

    # Wait for a scrape of a successful poll (the first scrape may precede the first poll).
    wait_until(lambda: by_path("mediamtx_stream_readers").keys() == set(info),
               what="every stream in Prometheus")

    for fam, values in want.items():
        got = by_path(fam)
        assert got.keys() == values.keys(), (fam, got, values)  # SRT families: SRT only
        for path, value in values.items():
            assert same_number(got[path], value), (fam, path, got[path], value)
    # (Prometheus drops labels with an empty value: a path without a source has none.)
    assert series("mediamtx_stream_info") == {
        frozenset({("path", n)} | {(k, v) for k, v in i.items() if v}): 1.0
        for n, i in info.items()}
    assert series("mediamtx_up") == {frozenset(): 1.0}
    assert series("mediamtx_streams") == {frozenset(): float(len(paths))}
    assert series("mediamtx_streams_ready") == {
        frozenset(): float(sum(1 for p in paths if p["available"]))}
    version = standin_get(mx, "/v3/info")["version"]
    assert series("mediamtx_info") == {frozenset({("version", version)}): 1.0}

    # The exporter's own families.
    out = subprocess.run([os.environ.get("MXE_BIN", BIN), "--version"], capture_output=True,
                         text=True, check=True).stdout
    m = re.fullmatch(r"mediamtx-exporter (\S+) \(revision (\S+)\)\n", out)
    assert m, out
    assert series("mediamtx_exporter_build_info") == {
        frozenset({("version", m.group(1)), ("revision", m.group(2))}): 1.0}
    one = lambda expr: next(iter(series(expr).values()))  # noqa: E731
    assert one("mediamtx_exporter_polls_total") >= 1
    assert one("mediamtx_exporter_poll_failures_total") == 0
    assert 0 < one("mediamtx_exporter_poll_duration_seconds") <= 1.5  # --mediamtx.timeout
    now = time.time()
    # sampled at the end of a poll cycle, scraped within a second (scrape_interval 1s)
    assert now - 5 <= one("mediamtx_exporter_last_success_timestamp_seconds") <= now + 1
    assert one("mediamtx_exporter_redis_up") == 0  # --redis.url none
    assert series("mediamtx_exporter_mirror_failures_total") == {
        frozenset({("target", "redis")}): 0.0, frozenset({("target", "file")}): 0.0}
    assert series("mediamtx_exporter_subscribers") == {
        frozenset({("feed", "websocket")}): 0.0, frozenset({("feed", "sse")}): 0.0}

    # The process families, against /proc/<pid> read now (they were sampled up to about a
    # second earlier: the fluctuating ones get a margin).
    pid = ex.proc.pid
    assert started - 1 <= one("process_start_time_seconds") <= started_after + 1
    assert 0 <= one("process_cpu_seconds_total") <= (time.time() - started) * os.cpu_count()
    with open("/proc/%d/statm" % pid) as f:
        vm_pages, rss_pages = (int(x) for x in f.read().split()[:2])
    page = os.sysconf("SC_PAGE_SIZE")
    rss = one("process_resident_memory_bytes")
    assert 0.5 * rss_pages * page <= rss <= 2 * rss_pages * page, (rss, rss_pages * page)
    vsz = one("process_virtual_memory_bytes")
    assert rss <= vsz and 0.5 * vm_pages * page <= vsz <= 2 * vm_pages * page, (vsz, vm_pages)
    assert one("process_virtual_memory_max_bytes") == proc_limit(pid, "Max address space")
    assert one("process_max_fds") == proc_limit(pid, "Max open files")
    fds = len(os.listdir("/proc/%d/fd" % pid))
    assert abs(one("process_open_fds") - fds) <= 8, (one("process_open_fds"), fds)

    # OpenMetrics was negotiated: only its "# UNIT" lines give Prometheus a unit.
    meta = prom.api("targets/metadata", metric="mediamtx_stream_received_bytes")["data"]
    assert meta and meta[0]["type"] == "counter" and meta[0]["unit"] == "bytes", meta
    # Every family's HELP tells the poll interval.
    helps = {d["metric"]: d["help"] for d in prom.api("targets/metadata")["data"]}
    assert "mediamtx_stream_srt_received_packets" in helps
    for fam, text in helps.items():
        assert text.endswith(" every 0.5 s."), (fam, text)
