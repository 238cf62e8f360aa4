"""Tests of the MediaMTX stand-in (run: /usr/bin/python3 -m pytest -q tests/standin/test_standin.py).

Each server fixture starts mediamtx_standin.py on free loopback ports and talks to it with
http.client, the way the exporter will.  "FACTS n" cites rows of
/work/shared/reference/mediamtx-api/FACTS.md.
"""

import base64
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "mediamtx_standin.py")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
sys.path.insert(0, HERE)
import mediamtx_standin as m  # noqa: E402

V120_PATH_KEYS = ["name", "confName", "ready", "readyTime", "available", "availableTime", "online",
                  "onlineTime", "source", "tracks", "tracks2", "readers", "inboundBytes",
                  "outboundBytes", "inboundFramesInError", "bytesReceived", "bytesSent"]
V113_PATH_KEYS = ["name", "confName", "source", "ready", "readyTime", "tracks", "bytesReceived",
                  "bytesSent", "readers"]
SRT_HEAD_V113 = ["id", "created", "remoteAddr", "state", "path", "query"]
RFC3339NANO = re.compile(r'\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,8}[1-9])?Z\Z')
TIMINGS = {}


class Standin:
    def __init__(self, *args):
        self.tmp = tempfile.mkdtemp(prefix="standin-")
        self.port_file = os.path.join(self.tmp, "ports.json")
        t0 = time.monotonic()
        self.proc = subprocess.Popen([PYTHON, SCRIPT, "--port-file", self.port_file, *args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None:
                raise RuntimeError("stand-in died: " + self.proc.stderr.read().decode())
            if time.monotonic() - t0 > 60:
                raise RuntimeError("stand-in did not start")
            time.sleep(0.02)
        self.startup = time.monotonic() - t0
        with open(self.port_file) as fh:
            ports = json.load(fh)
        self.api, self.control_port = ports["api"], ports["control"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stderr.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def get(self, url, headers=None, method="GET", conn=None):
        """(status, headers dict (lower-case names), body bytes)."""
        c = conn or http.client.HTTPConnection("127.0.0.1", self.api, timeout=30)
        c.request(method, url, headers=headers or {})
        r = c.getresponse()
        body = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        if conn is None:
            c.close()
        return r.status, hdrs, body

    def getj(self, url, **kw):
        status, hdrs, body = self.get(url, **kw)
        return status, json.loads(body)

    def ctl(self, method, path, obj=None):
        c = http.client.HTTPConnection("127.0.0.1", self.control_port, timeout=60)
        c.request(method, path, body=None if obj is None else json.dumps(obj),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = json.loads(r.read() or b"null")
        c.close()
        assert r.status == 200, data
        return data

    def list_all(self, kind, per_page=100, query=""):
        items, page = [], 0
        while True:
            status, d = self.getj("/v3/%s/list?itemsPerPage=%d&page=%d%s" % (kind, per_page, page, query))
            assert status == 200
            items += d["items"]
            page += 1
            if page >= d["pageCount"]:
                return items, d


def start(*args):
    s = Standin(*args)
    return s


@pytest.fixture(scope="module")
def v120():
    s = start("--api-version", "1.20")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def v113():
    s = start("--api-version", "1.13")
    yield s
    s.stop()


@pytest.fixture(params=["1.20", "1.13"])
def both(request, v120, v113):
    s = v120 if request.param == "1.20" else v113
    s.version = request.param
    s.ctl("POST", "/reset")
    yield s
    s.ctl("DELETE", "/faults")
    s.ctl("POST", "/clock", {"freeze": False})


@pytest.fixture
def srv(v120):
    v120.ctl("POST", "/reset")
    yield v120
    v120.ctl("DELETE", "/faults")
    v120.ctl("POST", "/clock", {"freeze": False})


def error_of(version, body):
    d = json.loads(body)
    if version == "1.20":
        assert list(d) == ["status", "error"] and d["status"] == "error"  # FACTS 5
    else:
        assert list(d) == ["error"]
    return d["error"]


# ---------------------------------------------------------------------------------------------
# Go formatting helpers (unit level)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value,text", [
    (0.0, "0"), (-0.0, "-0"), (-1.0, "-1"), (100.0, "100"), (0.36, "0.36"), (1808.58, "1808.58"),
    (1e-7, "1e-7"), (1.5e-10, "1.5e-10"), (0.000001, "0.000001"), (1e20, "100000000000000000000"),
    (1e21, "1e+21"), (123456789.0, "123456789"), (10.967254638671875, "10.967254638671875"),
    (1.7976931348623157e308, "1.7976931348623157e+308"), (5e-324, "5e-324"), (1e-100, "1e-100"),
    (0.1 + 0.2, "0.30000000000000004"), (2.5e-6, "0.0000025"),
])
def test_go_float(value, text):
    assert m.go_float(value) == text  # FACTS 20


def test_go_string_escapes():
    assert m.go_str("a<b>&c") == '"a\\u003cb\\u003e\\u0026c"'
    assert m.go_str('q"\\\n\t\x01\u2028é') == '"q\\"\\\\\\n\\t\\u0001\\u2028é"'
    assert m.go_str("plain") == '"plain"'


def test_go_time():
    assert m.go_time(0) == '"1970-01-01T00:00:00Z"'
    assert m.go_time(1_500_000_000 * m.NS + 120_000_000) == '"2017-07-14T02:40:00.12Z"'
    assert m.go_time(m.ZERO_TIME_NS) == '"0001-01-01T00:00:00Z"'
    assert m.go_time(1) == '"1970-01-01T00:00:00.000000001Z"'


@pytest.mark.parametrize("raw,expect", [
    (b"7", 7), (b"007", 7), (b"2147483647", 2147483647),
    (b"2147483648", 'strconv.ParseUint: parsing "2147483648": value out of range'),
    (b"-1", 'strconv.ParseUint: parsing "-1": invalid syntax'),
    (b"+1", 'strconv.ParseUint: parsing "+1": invalid syntax'),
    (b"x", 'strconv.ParseUint: parsing "x": invalid syntax'),
    (b"1 ", 'strconv.ParseUint: parsing "1 ": invalid syntax'),
    (b"99999999999x", 'strconv.ParseUint: parsing "99999999999x": value out of range'),
    (b"0x10", 'strconv.ParseUint: parsing "0x10": invalid syntax'),
    (b"\xff\"\n", 'strconv.ParseUint: parsing "\\xff\\"\\n": invalid syntax'),
])
def test_parse_uint31(raw, expect):
    v, err = m.go_parse_uint31(raw)
    assert (v if err is None else err) == expect


@pytest.mark.parametrize("param,expect", [
    ("5b6e1f0a-8c1e-4d47-9b1a-2f0c3d4e5a61", "5b6e1f0a-8c1e-4d47-9b1a-2f0c3d4e5a61"),
    ("5B6E1F0A-8C1E-4D47-9B1A-2F0C3D4E5A61", "5b6e1f0a-8c1e-4d47-9b1a-2f0c3d4e5a61"),
    ("{5b6e1f0a-8c1e-4d47-9b1a-2f0c3d4e5a61}", "5b6e1f0a-8c1e-4d47-9b1a-2f0c3d4e5a61"),
    ("urn:uuid:5b6e1f0a-8c1e-4d47-9b1a-2f0c3d4e5a61", "5b6e1f0a-8c1e-4d47-9b1a-2f0c3d4e5a61"),
    ("5b6e1f0a8c1e4d479b1a2f0c3d4e5a61", "5b6e1f0a-8c1e-4d47-9b1a-2f0c3d4e5a61"),
    ("abc", "invalid UUID length: 3"),
    ("", "invalid UUID length: 0"),
    ("5b6e1f0a+8c1e-4d47-9b1a-2f0c3d4e5a61", "invalid UUID format"),
    ("5b6e1f0a-8c1e-4d47-9b1a-2f0c3d4e5a6z", "invalid UUID format"),
    ("urn:uuix:5b6e1f0a-8c1e-4d47-9b1a-2f0c3d4e5a61", 'invalid urn prefix: "urn:uuix:"'),
])
def test_uuid_parse(param, expect):
    v, err = m.go_uuid_parse(param)
    assert (v if err is None else err) == expect  # FACTS 42


def test_query_parsing():
    q = m.go_parse_query(b"a=1&a=2&b=%zz&c=x+y%21&d;e=1&&=5")
    assert q == {b"a": [b"1", b"2"], b"c": [b"x y!"], b"": [b"5"]}  # FACTS 21


# ---------------------------------------------------------------------------------------------
# Process, port file, headers
# ---------------------------------------------------------------------------------------------

def test_port_file_and_clean_exit():
    s = start("--scenario", "empty")
    assert isinstance(s.api, int) and isinstance(s.control_port, int) and s.api != s.control_port
    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(10) == 0
    assert not os.path.exists(s.port_file)
    s.stop()


def test_headers_and_json_shape(both):
    status, h, body = both.get("/v3/paths/list")
    assert status == 200
    assert h["server"] == "mediamtx"  # FACTS 17
    assert h["content-type"] == "application/json; charset=utf-8"  # FACTS 20
    assert int(h["content-length"]) == len(body)
    assert body.startswith(b'{"itemCount":4,"pageCount":1,"items":[{"name":"backstage"')
    assert b": " not in body and b", " not in body and not body.endswith(b"\n")


# ---------------------------------------------------------------------------------------------
# Pagination (FACTS 1-4, 21, 22)
# ---------------------------------------------------------------------------------------------

def test_pagination(both):
    status, d = both.getj("/v3/paths/list")
    names = [p["name"] for p in d["items"]]
    assert names == sorted(names) == ["backstage", "lobby-cam", "studio-a/main", "testpattern-sport"]
    status, d = both.getj("/v3/paths/list?itemsPerPage=1&page=2")
    assert (d["itemCount"], d["pageCount"], [p["name"] for p in d["items"]]) == (4, 4, ["studio-a/main"])
    status, d = both.getj("/v3/paths/list?itemsPerPage=3&page=1")
    assert (d["pageCount"], len(d["items"])) == (2, 1)
    status, d = both.getj("/v3/paths/list?page=99")
    assert (status, d["itemCount"], d["pageCount"], d["items"]) == (200, 4, 1, [])
    status, d = both.getj("/v3/paths/list?itemsPerPage=2147483647&page=2147483647")
    assert (status, d["pageCount"], d["items"]) == (200, 1, [])
    # first value wins, a pair with a bad escape is dropped, an empty value means the default
    status, d = both.getj("/v3/paths/list?itemsPerPage=1&itemsPerPage=x")
    assert len(d["items"]) == 1
    status, d = both.getj("/v3/paths/list?itemsPerPage=%zz&page=")
    assert len(d["items"]) == 4
    status, d = both.getj("/v3/srtconns/list")
    assert [c["created"] for c in d["items"]] == sorted(c["created"] for c in d["items"])  # FACTS 23


@pytest.mark.parametrize("query,error", [
    ("itemsPerPage=0", "invalid items per page"),
    ("itemsPerPage=0&page=x", "invalid items per page"),
    ("itemsPerPage=x&page=y", 'strconv.ParseUint: parsing "x": invalid syntax'),
    ("itemsPerPage=-1", 'strconv.ParseUint: parsing "-1": invalid syntax'),
    ("itemsPerPage=2147483648", 'strconv.ParseUint: parsing "2147483648": value out of range'),
    ("page=abc", 'strconv.ParseUint: parsing "abc": invalid syntax'),
    ("page=1.5", 'strconv.ParseUint: parsing "1.5": invalid syntax'),
    ("page=%C3%A9", 'strconv.ParseUint: parsing "é": invalid syntax'),
    ("page=%FF", 'strconv.ParseUint: parsing "\\xff": invalid syntax'),
])
def test_pagination_errors(both, query, error):
    for kind in ("paths", "srtconns"):
        status, h, body = both.get("/v3/%s/list?%s" % (kind, query))
        assert status == 400
        assert error_of(both.version, body) == error


@pytest.mark.parametrize("version", ["1.20", "1.13"])
def test_empty_lists(version):
    s = start("--api-version", version, "--scenario", "empty")
    try:
        for kind in ("paths", "srtconns"):
            status, h, body = s.get("/v3/%s/list" % kind)
            assert body == b'{"itemCount":0,"pageCount":0,"items":[]}'  # FACTS 3
            status, h, body = s.get("/v3/%s/list?itemsPerPage=0" % kind)
            assert status == 400 and error_of(version, body) == "invalid items per page"  # FACTS 2
            status, d = s.getj("/v3/%s/list?page=5" % kind)
            assert d == {"itemCount": 0, "pageCount": 0, "items": []}
    finally:
        s.stop()


# ---------------------------------------------------------------------------------------------
# Fields per version (FACTS 25-36, 43)
# ---------------------------------------------------------------------------------------------

def test_path_fields_v120(v120):
    v120.ctl("POST", "/reset")
    status, d = v120.getj("/v3/paths/list")
    for p in d["items"]:
        assert list(p) == V120_PATH_KEYS
        assert p["ready"] == p["available"] and p["readyTime"] == p["availableTime"]  # FACTS 28
        assert p["bytesReceived"] == p["inboundBytes"] and p["bytesSent"] == p["outboundBytes"]
        assert [t["codec"] for t in p["tracks2"]] == p["tracks"]
        assert p["readers"] == sorted(p["readers"], key=lambda r: (r["type"], r["id"]))
        for k in ("inboundBytes", "outboundBytes", "inboundFramesInError"):
            assert isinstance(p[k], int) and p[k] >= 0
    by = {p["name"]: p for p in d["items"]}
    idle = by["backstage"]
    assert (idle["source"], idle["ready"], idle["readyTime"], idle["tracks"], idle["tracks2"]) == \
        (None, False, None, [], [])
    assert (idle["online"], idle["onlineTime"], idle["bytesReceived"], idle["bytesSent"]) == \
        (False, None, 0, 0)
    sport = by["testpattern-sport"]
    assert sport["source"] == {"type": "srtConn", "id": m.SPORT_PUB}
    assert sport["tracks2"] == [
        {"codec": "H264", "codecProps": {"width": 1280, "height": 720, "profile": "Main", "level": "3.1"}},
        {"codec": "MPEG-4 Audio", "codecProps": {"sampleRate": 48000, "channelCount": 2}}]
    assert sport["readers"] == [{"type": "srtConn", "id": m.SPORT_SRT_READER}]
    assert sport["online"] is True and RFC3339NANO.match(sport["onlineTime"])
    studio = by["studio-a/main"]
    assert studio["tracks"] == ["H264", "AC3"]  # FACTS 43
    assert [r["type"] for r in studio["readers"]] == ["rtspSession", "webRTCSession"]
    assert [r["type"] for r in by["lobby-cam"]["readers"]] == ["hlsSession", "hlsSession"]  # FACTS 33


def test_path_fields_v113(v113):
    v113.ctl("POST", "/reset")
    status, d = v113.getj("/v3/paths/list")
    for p in d["items"]:
        assert list(p) == V113_PATH_KEYS  # FACTS 25
    by = {p["name"]: p for p in d["items"]}
    assert by["backstage"]["source"] is None and by["backstage"]["readyTime"] is None
    assert by["studio-a/main"]["tracks"] == ["H264", "AC-3"]  # FACTS 43
    assert by["lobby-cam"]["readers"] == [{"type": "hlsMuxer", "id": ""}]  # FACTS 33
    # FACTS 27: readers come from a map, so the order changes between requests.
    orders = set()
    for _ in range(60):
        status, p = v113.getj("/v3/paths/get/studio-a/main")
        orders.add(tuple(r["type"] for r in p["readers"]))
    assert orders == {("rtspSession", "webRTCSession"), ("webRTCSession", "rtspSession")}


def test_srtconn_fields(both):
    status, h, body = both.get("/v3/srtconns/list")
    d = json.loads(body)
    head = SRT_HEAD_V113 + (["user"] if both.version == "1.20" else [])
    stats = [f for f, _ in (m.SRT_STATS_V120 if both.version == "1.20" else m.SRT_STATS)]
    by = {}
    for c in d["items"]:
        assert list(c) == head + stats  # FACTS 34
        for f, kind in m.SRT_STATS_V120:
            if f in c:
                assert isinstance(c[f], int if kind == "u" else (int, float)), f
        by[c["state"]] = c
    pub, reader = by["publish"], by["read"]
    assert (pub["id"], pub["path"]) == (m.SPORT_PUB, "testpattern-sport")
    assert (reader["id"], reader["path"]) == (m.SPORT_SRT_READER, "testpattern-sport")
    assert (pub["msRTT"], pub["mbpsReceiveRate"], pub["mbpsLinkCapacity"]) == (0.36, 1.94, 1808.58)
    assert (pub["mbpsMaxBW"], pub["byteMSS"], pub["packetsFlowWindow"]) == (-1, 1500, 25600)
    assert pub["packetsReceived"] > 0 and pub["bytesReceived"] > 0 and reader["bytesSent"] > 0
    assert pub["query"] == "key=sport&mode=live"
    assert b'"query":"key=sport\\u0026mode=live"' in body  # FACTS 20
    if both.version == "1.20":
        assert pub["user"] == "encoder" and "outboundFramesDiscarded" in pub
    else:
        assert "user" not in pub and "outboundFramesDiscarded" not in pub
    status, c = both.getj("/v3/srtconns/get/" + m.SPORT_PUB.upper())
    assert status == 200 and c["id"] == m.SPORT_PUB


def test_go_json_formatting_on_the_wire(srv):
    status, h, body = srv.get("/v3/srtconns/get/" + m.SPORT_PUB)
    for frag in (b'"msRTT":0.36,', b'"mbpsLinkCapacity":1808.58,', b'"mbpsMaxBW":-1,',
                 b'"mbpsSendRate":0,', b'"packetsReceivedLossRate":1e-7,',
                 b'"usPacketsSendPeriod":10.967254638671875,'):
        assert frag in body
    assert not re.search(rb'\d\.0[,}]', body)
    for t in re.findall(rb'"(?:created|readyTime|availableTime|onlineTime)":"([^"]*)"', body +
                        srv.get("/v3/paths/list")[2]):
        assert RFC3339NANO.match(t.decode()), t


def test_edge_scenario():
    s = start("--scenario", os.path.join(HERE, "scenarios", "edge.json"))
    try:
        s.ctl("POST", "/clock", {"freeze": True})
        status, h, body = s.get("/v3/paths/get/u64-max")
        assert b'"bytesReceived":18446744073709551615,' in body  # exact uint64
        assert b'"bytesSent":18446744073709551614}' in body
        p = json.loads(body)
        assert p["readyTime"] == "2025-01-02T03:04:05.12Z"
        props = {t["codec"]: t["codecProps"] for t in p["tracks2"]}
        assert props["KLV"] is None  # FACTS 44
        assert props["AV1"]["width"] == 0 and list(props["G711"]) == ["muLaw", "sampleRate", "channelCount"]
        status, p = s.getj("/v3/paths/get/cam.static")
        assert (p["online"], p["onlineTime"], p["ready"]) == (True, "0001-01-01T00:00:00Z", False)  # FACTS 29
        assert p["source"] == {"type": "rtspSource", "id": ""}
        status, p = s.getj("/v3/paths/get/always-on")
        # FACTS 30: always available without a source
        assert (p["source"], p["available"], p["online"], p["onlineTime"]) == (None, True, False, None)
        status, idle = s.getj("/v3/srtconns/get/aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee")
        assert idle["state"] == "idle" and idle["path"] == ""  # FACTS 35
        assert all(idle[f] == 0 for f, _ in m.SRT_STATS_V120)
        status, c = s.getj("/v3/srtconns/get/11111111-2222-4333-8444-555555555555")
        assert (c["state"], c["path"]) == ("idle", "")  # FACTS 36 (v1.20)
        # a counter at 2^64-1 with a rate wraps like Go's uint64
        s.ctl("POST", "/paths", {"name": "wrap", "source": {"type": "rtmpConn"}, "ready": True,
                                 "bytesReceived": 2 ** 64 - 1, "rates": {"bytesReceived": 1}})
        s.ctl("POST", "/clock", {"advance": 2})
        status, p = s.getj("/v3/paths/get/wrap")
        assert p["bytesReceived"] == 1
    finally:
        s.stop()
    s = start("--api-version", "1.13", "--scenario", os.path.join(HERE, "scenarios", "edge.json"))
    try:
        status, c = s.getj("/v3/srtconns/get/11111111-2222-4333-8444-555555555555")
        assert (c["state"], c["path"]) == ("publish", "srt-connecting")  # FACTS 36 (v1.13)
    finally:
        s.stop()


# ---------------------------------------------------------------------------------------------
# Routes, 404, redirects (FACTS 15, 16, 19, 41, 42)
# ---------------------------------------------------------------------------------------------

def test_routes(both):
    v = both.version
    status, h, body = both.get("/v3/nowhere")
    assert (status, body, h["content-type"]) == (404, b"404 page not found", "text/plain")
    assert h["server"] == "mediamtx"
    status, h, body = both.get("/v3/paths/list", method="POST")
    assert (status, body) == (404, b"404 page not found")  # no 405 in gin
    status, h, body = both.get("/v3/info")
    if v == "1.20":
        info = json.loads(body)
        assert list(info) == ["version", "started"] and info["version"] == "v1.20.1"
        assert RFC3339NANO.match(info["started"])
    else:
        assert (status, body) == (404, b"404 page not found")
    status, h, body = both.get("/v3/paths/list/?page=1")
    assert (status, h["location"]) == (301, "/v3/paths/list?page=1")
    status, h, body = both.get("/v3/paths/get")
    assert (status, h["location"]) == (301, "/v3/paths/get/")
    status, h, body = both.get("/v3/paths/get/")
    assert status == 400 and error_of(v, body) == "invalid name"  # FACTS 16
    status, h, body = both.get("/v3/paths/get/nope")
    assert status == 404 and error_of(v, body) == "path not found"
    status, p = both.getj("/v3/paths/get/studio-a%2Fmain")
    assert status == 200 and p["name"] == "studio-a/main"
    status, h, body = both.get("/v3/srtconns/get/xyz")
    assert status == 400 and error_of(v, body) == "invalid UUID length: 3"
    status, h, body = both.get("/v3/srtconns/get/00000000-0000-4000-8000-000000000000")
    assert status == 404 and error_of(v, body) == "connection not found"
    status, h, body = both.get("/v3/srtconns/get/%7B" + m.SPORT_PUB + "%7D")
    assert status == 200
    status, h, body = both.get("/v3/paths/get/bad%zzescape")
    assert status == 400 and body == b"400 Bad Request" and "server" not in h  # net/http
    status, h, body = both.get("/v3/paths/list", method="OPTIONS",
                               headers={"Access-Control-Request-Method": "GET"})
    assert status == 204 and h["access-control-allow-origin"] == "*"


def test_disable_srt():
    s = start("--disable", "srt")
    try:
        for url in ("/v3/srtconns/list", "/v3/srtconns/get/" + m.SPORT_PUB, "/v3/srtconns/list/"):
            status, h, body = s.get(url)
            assert (status, body) == (404, b"404 page not found")
        assert s.get("/v3/paths/list")[0] == 200
    finally:
        s.stop()


# ---------------------------------------------------------------------------------------------
# Auth (FACTS 6-10)
# ---------------------------------------------------------------------------------------------

def basic(u, p):
    return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (u, p)).encode()).decode()}


@pytest.mark.parametrize("version", ["1.20", "1.13"])
def test_auth(version):
    s = start("--api-version", version, "--user", "admin", "--pass", "s3cret", "--token",
              "tok123", "--auth-fail-delay", "0.3")
    try:
        for url in ("/v3/paths/list", "/v3/does-not-exist"):  # auth runs before routing
            status, h, body = s.get(url)
            assert status == 401
            assert h["www-authenticate"] == 'Basic realm="mediamtx"'
            if version == "1.20":
                assert error_of(version, body) == "authentication error"
            else:
                assert body == b"" and h["content-length"] == "0"
        t = time.monotonic()
        status, h, body = s.get("/v3/paths/list", headers=basic("admin", "wrong"))
        assert status == 401 and "www-authenticate" not in h and time.monotonic() - t >= 0.3
        assert s.get("/v3/paths/list", headers=basic("admin", "s3cret"))[0] == 200
        assert s.get("/v3/paths/list", headers={"Authorization": "Bearer admin:s3cret"})[0] == 200
        assert s.get("/v3/nope", headers=basic("admin", "s3cret"))[0] == 404
        status, h, body = s.get("/v3/paths/list", headers={"Authorization": "Bearer tok123"})
        if version == "1.20":
            assert status == 200
        else:  # no tokens in v1.13: no user/pass given -> asked for credentials (FACTS 8)
            assert status == 401 and "www-authenticate" in h
        status, h, body = s.get("/v3/paths/list", headers={"Authorization": "Bearer admin:s3:cret"})
        assert status == 401  # two ':' -> a token, wrong in v1.20, "no credentials" in v1.13
        assert ("www-authenticate" in h) == (version == "1.13")
        status, h, body = s.get("/v3/paths/list/")  # gin's redirect comes before the middlewares
        assert status == 301
    finally:
        s.stop()


# ---------------------------------------------------------------------------------------------
# Keep-alive and stats
# ---------------------------------------------------------------------------------------------

def test_keep_alive_and_stats(srv):
    srv.ctl("POST", "/stats/reset")
    c = http.client.HTTPConnection("127.0.0.1", srv.api, timeout=10)
    for url in ("/v3/paths/list", "/v3/srtconns/list", "/v3/info", "/v3/paths/get/lobby-cam",
                "/v3/nope"):
        srv.get(url, conn=c, headers={"Authorization": "Bearer x"})
    c.close()
    st = srv.ctl("GET", "/stats")
    assert (st["requests"], st["connections"]) == (5, 1)
    assert st["by_endpoint"] == {"paths_list": 1, "srtconns_list": 1, "info": 1, "paths_get": 1,
                                 "not_found": 1}
    assert st["last"][0] == {"method": "GET", "path": "/v3/paths/list", "query": "",
                             "auth": "bearer", "status": 200}
    for _ in range(210):
        srv.get("/v3/info?x=1")
    st = srv.ctl("GET", "/stats")
    assert len(st["last"]) == 200 and st["requests"] == 215 and st["connections"] == 211


# ---------------------------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------------------------

def test_fault_status(both):
    both.ctl("POST", "/faults", {"target": "paths", "kind": "status", "status": 500, "times": 2})
    for _ in range(2):
        status, h, body = both.get("/v3/paths/list")
        assert status == 500 and error_of(both.version, body)
    assert both.get("/v3/srtconns/list")[0] == 200  # other targets untouched
    assert both.get("/v3/paths/list")[0] == 200
    both.ctl("POST", "/faults", {"target": "all", "kind": "status", "status": 401, "times": 1})
    status, h, body = both.get("/v3/srtconns/list")
    assert status == 401 and h["www-authenticate"] == 'Basic realm="mediamtx"'
    both.ctl("POST", "/faults", {"target": "srtconns", "kind": "status", "status": 503})
    for _ in range(3):  # times null: until cleared
        assert both.get("/v3/srtconns/list")[0] == 503
    both.ctl("DELETE", "/faults")
    assert both.get("/v3/srtconns/list")[0] == 200


def test_fault_refuse_and_slow(srv):
    srv.ctl("POST", "/faults", {"target": "paths", "kind": "refuse", "times": 1})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        srv.get("/v3/paths/list")
    srv.ctl("POST", "/faults", {"target": "paths", "kind": "refuse", "reset": True, "times": 1})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        srv.get("/v3/paths/list")
    srv.ctl("POST", "/faults", {"target": "paths", "kind": "slow", "delay": 0.5, "times": 1})
    t = time.monotonic()
    assert srv.get("/v3/paths/list")[0] == 200
    assert time.monotonic() - t >= 0.5


def test_fault_bodies(srv):
    srv.ctl("POST", "/faults", {"target": "paths", "kind": "garbage", "times": 1})
    status, h, body = srv.get("/v3/paths/list")
    assert status == 200 and int(h["content-length"]) == len(body)
    with pytest.raises(ValueError):
        json.loads(body)
    srv.ctl("POST", "/faults", {"target": "paths", "kind": "empty", "times": 1})
    assert srv.get("/v3/paths/list")[:3:2] == (200, b"")
    srv.ctl("POST", "/faults", {"target": "srtconns", "kind": "truncate", "times": 1})
    status, h, body = srv.get("/v3/srtconns/list")
    assert int(h["content-length"]) == len(body) and body.startswith(b'{"itemCount":2,')
    with pytest.raises(ValueError):
        json.loads(body)
    srv.ctl("POST", "/faults", {"target": "paths", "kind": "deep", "times": 1})
    status, h, body = srv.get("/v3/paths/list")
    assert body.count(b"[") == 100000
    with pytest.raises(RecursionError):
        json.loads(body)


@pytest.mark.parametrize("variant,check", [
    ("counter_string", lambda d: isinstance(d["items"][1]["bytesReceived"], str)),
    ("counter_negative", lambda d: d["items"][1]["inboundBytes"] == -1),
    ("counter_float", lambda d: isinstance(d["items"][1]["bytesSent"], float)),
    ("counter_overflow", lambda d: d["items"][1]["bytesSent"] >= 2 ** 64),
    ("items_object", lambda d: d["items"] == {}),
    ("items_null", lambda d: d["items"] is None),
    ("pagecount_string", lambda d: d["pageCount"] == "1"),
])
def test_fault_wrongtype(srv, variant, check):
    srv.ctl("POST", "/faults", {"target": "paths", "kind": "wrongtype", "variant": variant, "times": 1})
    status, d = srv.getj("/v3/paths/list")
    assert status == 200 and check(d)
    status, d = srv.getj("/v3/paths/list")
    assert isinstance(d["items"][1]["bytesReceived"], int)


def test_fault_huge(srv):
    n = 5_000_000
    srv.ctl("POST", "/faults", {"target": "paths", "kind": "huge", "bytes": n, "times": 1})
    status, h, body = srv.get("/v3/paths/list")
    assert "content-length" not in h and h["transfer-encoding"] == "chunked"
    assert len(body) == n and json.loads(body)["itemCount"] == 1
    # A client that gives up early must not hurt the server.
    srv.ctl("POST", "/faults", {"target": "paths", "kind": "huge", "bytes": 500_000_000, "times": 1})
    sock = socket.create_connection(("127.0.0.1", srv.api))
    sock.sendall(b"GET /v3/paths/list HTTP/1.1\r\nHost: x\r\n\r\n")
    assert sock.recv(65536)
    sock.close()
    assert srv.get("/v3/paths/list")[0] == 200


def test_fault_churn(srv):
    srv.ctl("POST", "/generate", {"count": 20, "srt_every": 3})
    status, d = srv.getj("/v3/paths/list")
    before = [p["name"] for p in d["items"]]
    srv.ctl("POST", "/faults", {"target": "paths", "kind": "churn"})
    names, counts = [], set()
    for page in range(100):
        status, d = srv.getj("/v3/paths/list?itemsPerPage=5&page=%d" % page)
        names += [p["name"] for p in d["items"]]
        counts.add(d["itemCount"])
        if page + 1 >= d["pageCount"]:
            break
    assert counts == {len(before)}  # itemCount stays the same ...
    assert len(names) > len(set(names))  # ... yet a naive pager sees duplicates
    assert before[-1] not in names  # ... and misses paths
    srv.ctl("DELETE", "/faults")


@pytest.mark.parametrize("kind,delta", [("paths", 7), ("paths", -6), ("srtconns", 9),
                                         ("srtconns", -1)])
def test_fault_resize(srv, kind, delta):
    srv.ctl("POST", "/generate", {"count": 20, "srt_every": 2})
    before, d0 = srv.list_all(kind, per_page=5)
    key = "name" if kind == "paths" else "id"
    before = [x[key] for x in before]
    srv.ctl("POST", "/faults", {"target": kind, "kind": "resize", "delta": delta, "times": 1})
    status, d = srv.getj("/v3/%s/list?itemsPerPage=5&page=0" % kind)
    assert d["pageCount"] == d0["pageCount"] and d["itemCount"] == len(before)  # served first
    status, d = srv.getj("/v3/%s/list?itemsPerPage=5&page=1" % kind)
    assert d["itemCount"] == len(before) + delta  # ... then resized
    assert d["pageCount"] == (len(before) + delta + 4) // 5
    after, _ = srv.list_all(kind, per_page=5)
    after = [x[key] for x in after]
    if delta > 0:  # added at the end, everything before in place
        assert after[:len(before)] == before and len(after) == len(before) + delta
    else:  # removed from the end
        assert after == before[:delta]
    srv.ctl("DELETE", "/faults")


def test_fault_resize_needs_delta(srv):
    c = http.client.HTTPConnection("127.0.0.1", srv.control_port, timeout=10)
    c.request("POST", "/faults", body=json.dumps({"kind": "resize", "delta": "1"}))
    r = c.getresponse()
    assert r.status == 400 and b"delta" in r.read()
    c.close()


def test_tls(tmp_path):
    import ssl
    import testcerts
    files = testcerts.make(str(tmp_path))
    s = start("--tls-cert", files["cert"], "--tls-key", files["key"])
    try:
        ctx = ssl.create_default_context(cafile=files["ca"])
        c = http.client.HTTPSConnection("127.0.0.1", s.api, timeout=10, context=ctx)
        status, h, body = s.get("/v3/paths/list", conn=c)
        assert status == 200 and json.loads(body)["itemCount"] == 4
        assert s.get("/v3/info", conn=c)[0] == 200  # keep-alive over TLS
        c.close()
        # A client that does not trust the certificate gives up in the handshake ...
        bad = ssl.create_default_context(cafile=files["other_ca"])
        c = http.client.HTTPSConnection("127.0.0.1", s.api, timeout=10, context=bad)
        with pytest.raises(ssl.SSLCertVerificationError):
            c.request("GET", "/v3/paths/list")
        c.close()
        # ... plain HTTP gets Go's bare 400 ...
        status, h, body = s.get("/v3/paths/list")
        assert status == 400 and body == b"Client sent an HTTP request to an HTTPS server.\n"
        # ... and the server goes on serving.
        c = http.client.HTTPSConnection("127.0.0.1", s.api, timeout=10, context=ctx)
        assert s.get("/v3/paths/list", conn=c)[0] == 200
        c.close()
        st = s.ctl("GET", "/stats")
        assert st["by_endpoint"]["paths_list"] == 2  # failed handshakes never reach routing
    finally:
        s.stop()


# ---------------------------------------------------------------------------------------------
# Counters, control API
# ---------------------------------------------------------------------------------------------

def test_counters_advance(both):
    status, p1 = both.getj("/v3/paths/get/lobby-cam")
    status, c1 = both.getj("/v3/srtconns/get/" + m.SPORT_PUB)
    time.sleep(0.3)
    status, p2 = both.getj("/v3/paths/get/lobby-cam")
    status, c2 = both.getj("/v3/srtconns/get/" + m.SPORT_PUB)
    assert p2["bytesReceived"] > p1["bytesReceived"] and p2["bytesSent"] > p1["bytesSent"]
    assert c2["bytesReceived"] > c1["bytesReceived"] and c2["packetsReceived"] > c1["packetsReceived"]
    both.ctl("POST", "/clock", {"freeze": True})
    status, p1 = both.getj("/v3/paths/get/lobby-cam")
    status, c1 = both.getj("/v3/srtconns/get/" + m.SPORT_PUB)
    status, r1 = both.getj("/v3/srtconns/get/" + m.SPORT_SRT_READER)
    time.sleep(0.2)
    status, p2 = both.getj("/v3/paths/get/lobby-cam")
    assert p2["bytesReceived"] == p1["bytesReceived"]  # frozen
    both.ctl("POST", "/clock", {"advance": 60})
    status, p2 = both.getj("/v3/paths/get/lobby-cam")
    assert p2["bytesReceived"] - p1["bytesReceived"] == 125000 * 60  # exact integers
    assert p2["bytesSent"] - p1["bytesSent"] == 250000 * 60
    status, c2 = both.getj("/v3/srtconns/get/" + m.SPORT_PUB)
    for f in ("packetsReceived", "bytesReceived", "packetsReceivedLoss", "packetsReceivedRetrans",
              "packetsReceivedDrop", "packetsSentACK", "bytesReceivedUnique"):
        assert c2[f] > c1[f], f
    assert c2["packetsSent"] == c1["packetsSent"] == 0  # a publisher's server side sends no data
    status, r2 = both.getj("/v3/srtconns/get/" + m.SPORT_SRT_READER)
    for f in ("packetsSent", "bytesSent", "packetsRetrans", "packetsReceivedACK", "usSndDuration"):
        assert r2[f] > r1[f], f


def test_tick():
    s = start("--tick", "3600")
    try:
        status, p1 = s.getj("/v3/paths/get/lobby-cam")
        time.sleep(0.2)
        assert s.getj("/v3/paths/get/lobby-cam")[1] == p1
    finally:
        s.stop()


def test_restart(srv):
    status, p1 = srv.getj("/v3/paths/get/testpattern-sport")
    srv.ctl("POST", "/restart/testpattern-sport")
    status, p2 = srv.getj("/v3/paths/get/testpattern-sport")
    assert p2["bytesReceived"] < p1["bytesReceived"] // 1000
    assert p2["readyTime"] > p1["readyTime"]
    new_id = p2["source"]["id"]
    assert new_id != m.SPORT_PUB
    assert srv.get("/v3/srtconns/get/" + m.SPORT_PUB)[0] == 404
    status, c = srv.getj("/v3/srtconns/get/" + new_id)
    assert c["state"] == "publish" and c["msRTT"] == 0.36 and c["packetsReceived"] < 10000


def test_control_state_roundtrip(srv):
    srv.ctl("POST", "/clock", {"freeze": True})
    status, h, before = srv.get("/v3/paths/list")
    status, h, conns_before = srv.get("/v3/srtconns/list")
    state = srv.ctl("GET", "/state")
    assert [p["name"] for p in state["paths"]][0] == "backstage"
    srv.ctl("PUT", "/state", {"paths": []})
    assert srv.getj("/v3/paths/list")[1]["itemCount"] == 0
    srv.ctl("PUT", "/state", state)
    assert srv.get("/v3/paths/list")[2] == before
    assert srv.get("/v3/srtconns/list")[2] == conns_before
    srv.ctl("POST", "/paths", {"name": "new/cam", "source": {"type": "webRTCSession"},
                               "ready": True, "tracks": ["VP9", "Opus"], "bytesReceived": 5})
    status, p = srv.getj("/v3/paths/get/new/cam")
    assert p["bytesReceived"] == 5 and p["tracks"] == ["VP9", "Opus"]
    srv.ctl("DELETE", "/paths/new/cam")
    assert srv.get("/v3/paths/get/new/cam")[0] == 404
    srv.ctl("DELETE", "/paths/testpattern-sport")  # takes its srtconns with it
    assert srv.getj("/v3/srtconns/list")[1]["itemCount"] == 0
    c = http.client.HTTPConnection("127.0.0.1", srv.control_port)
    c.request("POST", "/paths", body=json.dumps({"name": "bad name!"}))
    assert c.getresponse().status == 400


# ---------------------------------------------------------------------------------------------
# Scale: --generate 10000
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["1.20", "1.13"])
def test_generate_10000(version):
    s = start("--api-version", version, "--generate", "10000")
    try:
        TIMINGS["startup %s" % version] = s.startup
        for rnd in ("first", "cached"):
            t = time.monotonic()
            paths, d = s.list_all("paths")
            TIMINGS["paths full listing (100 pages) %s %s" % (version, rnd)] = time.monotonic() - t
        names = [p["name"] for p in paths]
        assert len(names) == len(set(names)) == d["itemCount"] == 10000 and names == sorted(names)
        assert names[0] == "cam-00001" and names[-1] == "cam-10000"
        srt_paths = {p["name"]: p["source"]["id"] for p in paths if p["source"]["type"] == "srtConn"}
        assert len(srt_paths) == 3333 and "cam-00003" in srt_paths
        t = time.monotonic()
        conns, d = s.list_all("srtconns")
        TIMINGS["srtconns full listing (%d items) %s" % (len(conns), version)] = time.monotonic() - t
        pubs = {c["path"]: c["id"] for c in conns if c["state"] == "publish"}
        assert pubs == srt_paths
        assert any(c["state"] == "read" for c in conns)
        t = time.monotonic()
        status, h, body = s.get("/v3/paths/list?itemsPerPage=10000")
        TIMINGS["paths single 10000-item page %s (%d bytes)" % (version, len(body))] = time.monotonic() - t
        assert status == 200
    finally:
        s.stop()
    assert s.startup < 20


def teardown_module(module):
    if TIMINGS:
        sys.stderr.write("\nstand-in timings:\n" + "".join(
            "  %-55s %.3f s\n" % kv for kv in TIMINGS.items()))
