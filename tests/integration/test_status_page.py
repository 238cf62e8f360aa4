"""Issue 5: the status page at / in a real browser. Headless Chromium (Debian's package)
loads the page from a running exporter fed by the stand-in; the test drives it over the
DevTools protocol (python3-websockets), reads the live DOM and asserts that the table shows
the stand-in's streams and follows their changes, that the ingest bitrate is computed, that
the page falls back to SSE when WebSocket fails, shows when MediaMTX is down and when the data
is stale, reconnects by itself when the feed drops (both transports), does not time the first
snapshot after an SSE reconnection, and makes no request outside the exporter (every request
recorded through the DevTools Network domain). Screenshots go to tests/artifacts/ (desktop and
phone widths, down and stale)."""
import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import pytest
import websockets

from harness import SOURCE_DIR, Exporter, Standin, free_port, wait_until

ARTIFACTS = os.path.join(SOURCE_DIR, "tests", "artifacts")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]

ROWS = "JSON.stringify(Array.from(document.querySelectorAll('#streams tbody tr'))" \
       ".map(r => r.dataset.name))"


class Chromium:
    """Headless Chromium with a DevTools port, in its own profile directory."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mxe-chromium-")
        self.port = free_port()
        self.log = open(os.path.join(self.dir, "log"), "wb")
        self.proc = subprocess.Popen(
            ["chromium"] + CHROMIUM_FLAGS +
            ["--user-data-dir=" + os.path.join(self.dir, "profile"),
             "--remote-debugging-port=%d" % self.port, "--window-size=1280,800", "about:blank"],
            stdout=self.log, stderr=subprocess.STDOUT)

        def page_target():
            with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % self.port,
                                        timeout=2) as r:
                pages = [t for t in json.load(r) if t["type"] == "page"]
            return pages[0]["webSocketDebuggerUrl"] if pages else None
        self.ws_url = wait_until(page_target, timeout=30, what="Chromium's DevTools port")

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class CDP:
    """The DevTools protocol over one WebSocket: commands by id; events are kept in
    `events` (method, params) as they arrive before the answers."""

    def __init__(self, ws):
        self.ws = ws
        self.ids = itertools.count(1)
        self.events = []

    async def call(self, method, **params):
        i = next(self.ids)
        await self.ws.send(json.dumps({"id": i, "method": method, "params": params}))
        while True:
            msg = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
            if msg.get("id") == i:
                if "error" in msg:
                    raise AssertionError("%s: %s" % (method, msg["error"]))
                return msg["result"]
            if "method" in msg:
                self.events.append((msg["method"], msg.get("params", {})))

    def requested_urls(self):
        """Every URL the page asked for so far (Network domain): requests, WebSockets."""
        urls = []
        for method, params in self.events:
            if method == "Network.requestWillBeSent":
                urls.append(params["request"]["url"])
            elif method == "Network.webSocketCreated":
                urls.append(params["url"])
        return urls

    async def eval(self, expr):
        r = await self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        if "exceptionDetails" in r:
            raise AssertionError("%s: %s" % (expr, r["exceptionDetails"]))
        return r["result"].get("value")

    async def until(self, expr, pred, timeout=15, what=None):
        deadline = time.monotonic() + timeout
        while True:
            try:
                v = await self.eval(expr)
            except AssertionError as e:  # e.g. no document.body yet while navigating
                v = e
            if not isinstance(v, AssertionError) and pred(v):
                return v
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for %s; last value %r" % (what or expr, v))
            await asyncio.sleep(0.1)

    async def screenshot(self, name):
        os.makedirs(ARTIFACTS, exist_ok=True)
        shot = await self.call("Page.captureScreenshot", format="png")
        path = os.path.join(ARTIFACTS, name)
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        return path


def latest_names(ex):
    return [s["name"] for s in json.loads(ex.get("/api/streams/latest")[2])]


def exporter_args(mx):
    return ["--mediamtx.api-url", mx.url, "--redis.url", "none", "--output.json", "",
            "--poll.interval", "0.5"]


def start(spawn):
    mx = spawn(Standin, "--scenario", "demo")
    ex = spawn(Exporter, exporter_args(mx))
    wait_until(lambda: ex.get("/readyz")[0] == 200, what="the exporter ready")
    return mx, ex


@contextlib.asynccontextmanager
async def open_page(browser, url, init_script=None):
    """A DevTools session (CDP) on the browser's page, navigated to url."""
    async with websockets.connect(browser.ws_url, max_size=None) as ws:
        cdp = CDP(ws)
        await cdp.call("Page.enable")
        await cdp.call("Runtime.enable")
        if init_script:
            await cdp.call("Page.addScriptToEvaluateOnNewDocument", source=init_script)
        await cdp.call("Page.navigate", url=url)
        yield cdp


# Makes the page use Server-Sent Events from the start (no WebSocket in this window).
NO_WEBSOCKET = "window.WebSocket = undefined;"


def test_status_page_follows_the_streams(spawn):
    mx, ex = start(spawn)
    browser = spawn(Chromium)
    url = "http://127.0.0.1:%d/" % ex.port

    async def run():
        async with websockets.connect(browser.ws_url, max_size=None) as ws:
            cdp = CDP(ws)
            await cdp.call("Page.enable")
            await cdp.call("Runtime.enable")
            await cdp.call("Network.enable")  # every request the page makes, recorded
            await cdp.call("Page.navigate", url=url)
            want = latest_names(ex)
            assert "testpattern-sport" in want
            await cdp.until(ROWS, lambda v: v and json.loads(v) == want, what="the streams")
            assert await cdp.eval("document.body.dataset.transport") == "websocket"
            await cdp.until("document.body.dataset.state", lambda v: v == "live")
            # the ingest bitrate is computed from successive snapshots: lobby-cam receives
            # 125000 B/s (1 Mbit/s)
            cell = ("document.querySelector('tr[data-name=\"lobby-cam\"] td.ingest')"
                    ".textContent")
            await cdp.until(cell, lambda v: v and v.endswith("bit/s"), what="a bitrate")
            await asyncio.sleep(3)  # a few more samples in the page's window
            text = await cdp.eval(cell)
            value, unit = text.split()
            bps = float(value) * {"bit/s": 1, "kbit/s": 1e3, "Mbit/s": 1e6}[unit]
            assert 0.8e6 < bps < 1.25e6, text
            sport = await cdp.eval("document.querySelector('tr[data-name=\"testpattern-sport\"]')"
                                   ".innerText")
            assert "srtConn" in sport and "H264" in sport and "1.94 / 1808.58 Mbit/s" in sport
            for link in ("/metrics", "/api/streams/latest", "/healthz", "/readyz"):
                assert await cdp.eval("!!document.querySelector('a[href=\"%s\"]')" % link)
            shot = await cdp.screenshot("status-page.png")
            # a phone
            await cdp.call("Emulation.setDeviceMetricsOverride", width=390, height=844,
                           deviceScaleFactor=2, mobile=True)
            await asyncio.sleep(0.3)
            assert await cdp.eval("getComputedStyle(document.querySelector('thead')).display") \
                == "none"  # rows became cards
            await cdp.screenshot("status-page-phone.png")
            await cdp.call("Emulation.clearDeviceMetricsOverride")

            # the table follows the stand-in
            mx.control("POST", "/paths", {"name": "aa-new-cam", "source": {"type": "rtmpConn"},
                                          "tracks": ["H264"]})
            await cdp.until(ROWS, lambda v: "aa-new-cam" in json.loads(v), what="the new path")
            mx.control("DELETE", "/paths/lobby-cam")
            await cdp.until(ROWS, lambda v: "lobby-cam" not in json.loads(v),
                            what="the removed path gone")
            assert json.loads(await cdp.eval(ROWS)) == latest_names(ex)

            # MediaMTX down: /readyz turns 503 after three intervals, the page says so
            mx.fault(target="all", kind="status", status=500)
            await cdp.until("document.body.dataset.state", lambda v: v == "down", timeout=20)
            banner = await cdp.eval("document.getElementById('banner').textContent")
            assert "MediaMTX down" in banner and "last error" in banner, banner
            await cdp.screenshot("status-page-down.png")
            mx.clear_faults()
            await cdp.until("document.body.dataset.state", lambda v: v == "live", timeout=20)
            # no request outside the exporter, in all that: everything went to its origin
            # (the page, /readyz, the feed); only data: URLs (the empty icon) are allowed
            urls = cdp.requested_urls()
            return shot, urls
    shot, urls = asyncio.run(run())
    assert os.path.getsize(shot) > 10000
    origin = "127.0.0.1:%d" % ex.port
    assert "http://%s/" % origin in urls and "ws://%s/api/streams/ws" % origin in urls, urls
    assert any(u.startswith("http://%s/readyz" % origin) for u in urls), urls
    outside = [u for u in urls if not u.startswith(("http://%s/" % origin, "ws://%s/" % origin,
                                                    "data:"))]
    assert not outside, "requests outside the exporter: %r" % outside


def test_status_page_falls_back_to_sse(spawn):
    mx, ex = start(spawn)
    browser = spawn(Chromium)

    async def run():
        async with websockets.connect(browser.ws_url, max_size=None) as ws:
            cdp = CDP(ws)
            await cdp.call("Page.enable")
            await cdp.call("Runtime.enable")
            # A WebSocket that cannot connect (as behind a proxy that drops upgrades): the
            # page's own code sees it fail twice and switches to Server-Sent Events.
            await cdp.call("Page.addScriptToEvaluateOnNewDocument", source="""
                (function () {
                  var Real = window.WebSocket;
                  window.mxeWsAttempts = 0;
                  window.WebSocket = function (url) {
                    window.mxeWsAttempts++;
                    return new Real(url.replace('/api/streams/ws', '/api/streams/nope'));
                  };
                })();""")
            await cdp.call("Page.navigate", url="http://127.0.0.1:%d/" % ex.port)
            await cdp.until("document.body.dataset.transport", lambda v: v == "sse",
                            timeout=20, what="the SSE fallback")
            assert await cdp.eval("window.mxeWsAttempts") == 2
            want = latest_names(ex)
            await cdp.until(ROWS, lambda v: v and json.loads(v) == want, what="the streams")
            mx.control("POST", "/paths", {"name": "aa-sse-cam", "source": {"type": "rtmpConn"}})
            await cdp.until(ROWS, lambda v: "aa-sse-cam" in json.loads(v), what="the new path")
            await cdp.until("document.body.dataset.state", lambda v: v == "live")
            wait_until(lambda: ex.metrics()['mediamtx_exporter_subscribers{feed="sse"}'] == "1",
                       what="the page counted as an SSE subscriber")
    asyncio.run(run())


@pytest.mark.parametrize("transport", ["websocket", "sse"])
def test_status_page_reconnects_by_itself(spawn, transport):
    """The exporter goes away (the feed drops) and comes back on the same port: the page
    says it is reconnecting, reconnects by itself — its own backoff for WebSocket,
    EventSource's retry for SSE — and the table recovers, with what changed meanwhile."""
    mx, ex = start(spawn)
    port = ex.port
    browser = spawn(Chromium)

    async def run():
        async with open_page(browser, "http://127.0.0.1:%d/" % port,
                             NO_WEBSOCKET if transport == "sse" else None) as cdp:
            await cdp.until("document.body.dataset.transport", lambda v: v == transport,
                            timeout=20)
            want = latest_names(ex)
            await cdp.until(ROWS, lambda v: v and json.loads(v) == want, what="the streams")
            assert ex.stop() == 0  # SIGTERM: the feed ends (close 1001 / end of stream)
            await cdp.until("document.body.dataset.transport", lambda v: v == "reconnecting",
                            timeout=20)
            # meanwhile MediaMTX changes; the page still shows the last data
            mx.control("POST", "/paths", {"name": "aa-while-away", "source": {"type": "rtmpConn"}})
            assert json.loads(await cdp.eval(ROWS)) == want
            back = spawn(Exporter, exporter_args(mx), port=port)
            wait_until(lambda: back.get("/readyz")[0] == 200, what="the exporter back")
            await cdp.until("document.body.dataset.transport", lambda v: v == transport,
                            timeout=40, what="the page reconnected")
            await cdp.until(ROWS, lambda v: "aa-while-away" in json.loads(v),
                            what="the table recovered")
            assert json.loads(await cdp.eval(ROWS)) == latest_names(back)
            await cdp.until("document.body.dataset.state", lambda v: v == "live", timeout=20)
            return back
    back = asyncio.run(run())
    sub = 'mediamtx_exporter_subscribers{feed="%s"}' % transport
    wait_until(lambda: back.metrics()[sub] == "1", what="the page subscribed again")


def test_status_page_stale_and_down(spawn):
    """stale: no new snapshot for three intervals while nothing says MediaMTX is down (here
    the exporter is frozen: the feed and /readyz both go silent) — the page keeps the table,
    dims it and says how old it is. down: MediaMTX paused, so polls time out and /readyz
    says so — the page shows the reason. Each recovers by itself."""
    mx, ex = start(spawn)
    browser = spawn(Chromium)

    async def run():
        async with open_page(browser, "http://127.0.0.1:%d/" % ex.port) as cdp:
            want = latest_names(ex)
            await cdp.until(ROWS, lambda v: v and json.loads(v) == want, what="the streams")
            await cdp.until("document.body.dataset.state", lambda v: v == "live")
            os.kill(ex.proc.pid, signal.SIGSTOP)
            try:
                await cdp.until("document.body.dataset.state", lambda v: v == "stale",
                                timeout=30)
                banner = await cdp.eval("document.getElementById('banner').textContent")
                assert banner.startswith("No new data for ") and "last snapshot" in banner, banner
                assert await cdp.eval("document.getElementById('main').classList"
                                      ".contains('stale')")
                assert json.loads(await cdp.eval(ROWS)) == want  # the last data stays
                await cdp.screenshot("status-page-stale.png")
            finally:
                os.kill(ex.proc.pid, signal.SIGCONT)
            # Right after the thaw /readyz may still say the last poll is old (it is, until
            # the next poll lands), so the page can pass through "down" before settling.
            await cdp.until("document.body.dataset.state + '|' + "
                            "document.getElementById('banner').textContent",
                            lambda v: v == "live|", timeout=30, what="live without a banner")

            os.kill(mx.proc.pid, signal.SIGSTOP)  # MediaMTX stops answering
            try:
                await cdp.until("document.body.dataset.state", lambda v: v == "down",
                                timeout=30)
                banner = await cdp.eval("document.getElementById('banner').textContent")
                assert "MediaMTX down" in banner and "last error" in banner, banner
            finally:
                os.kill(mx.proc.pid, signal.SIGCONT)
            await cdp.until("document.body.dataset.state", lambda v: v == "live", timeout=30)
    asyncio.run(run())


# An EventSource the test drives: the page gets it instead of the browser's, so that what it
# receives, and when a reconnection happens, is the test's choice.
FAKE_EVENTSOURCE = NO_WEBSOCKET + """
(function () {
  function FakeES(url) {
    this.url = url; this.readyState = 0; this.listeners = {};
    window.mxeES = this; window.mxeESCount = (window.mxeESCount || 0) + 1;
  }
  FakeES.prototype.addEventListener = function (t, f) {
    (this.listeners[t] = this.listeners[t] || []).push(f);
  };
  FakeES.prototype.close = function () { this.readyState = 2; };
  window.EventSource = FakeES;
  window.mxeOpen = function () {
    var es = window.mxeES; es.readyState = 1; if (es.onopen) es.onopen({});
  };
  window.mxeDrop = function () {  // the connection drops; EventSource will retry itself
    var es = window.mxeES; es.readyState = 0; if (es.onerror) es.onerror({});
  };
  window.mxeSnap = function (id, bytes) {
    var data = JSON.stringify([{name: "cam", sourceType: "rtmpConn", tracks: ["H264"],
                                bytesReceived: bytes, readers: 0, rtt: null,
                                recvRateMbps: null, linkCapacityMbps: null, ready: true,
                                sourceId: "pub-1"}]);
    window.mxeES.listeners.snapshot.forEach(function (f) {
      f({data: data, lastEventId: String(id)});
    });
  };
})();
"""

INGEST = "document.querySelector('tr[data-name=\"cam\"] td.ingest').textContent"


def test_status_page_first_snapshot_after_sse_reconnect_is_not_timed(spawn):
    """The first snapshot of a (re)connection was polled up to an interval before it
    arrived, so its arrival time is no bitrate sample. EventSource reconnects by itself
    (without the page's connect()); the page must treat the first snapshot after that as
    untimed too. Here: one timed sample before the drop, the first snapshot after it must
    not make a second (the ingest cell stays '–'), the next one does."""
    _, ex = start(spawn)
    browser = spawn(Chromium)

    async def run():
        async with open_page(browser, "http://127.0.0.1:%d/" % ex.port, FAKE_EVENTSOURCE) as cdp:
            await cdp.until("!!window.mxeES", bool, what="the page's EventSource")
            await cdp.eval("mxeOpen()")
            assert await cdp.eval("document.body.dataset.transport") == "sse"
            await cdp.eval("mxeSnap(1, 0)")  # first of the connection: untimed
            await cdp.until(ROWS, lambda v: v and json.loads(v) == ["cam"])
            assert await cdp.eval(INGEST) == "\u2013"
            await asyncio.sleep(1)
            await cdp.eval("mxeSnap(2, 125000)")  # timed: the first sample
            assert await cdp.eval(INGEST) == "\u2013"  # one sample is no rate yet
            await cdp.eval("mxeDrop()")
            assert await cdp.eval("document.body.dataset.transport") == "reconnecting"
            await cdp.eval("mxeOpen()")  # EventSource reconnected by itself
            assert await cdp.eval("document.body.dataset.transport") == "sse"
            assert await cdp.eval("window.mxeESCount") == 1  # not the page's own reconnect
            await asyncio.sleep(1)
            await cdp.eval("mxeSnap(3, 250000)")  # first after the reconnection: untimed
            assert await cdp.eval(INGEST) == "\u2013", "the first snapshot after a " \
                "reconnection was used as a timed sample: %s" % await cdp.eval(INGEST)
            await asyncio.sleep(1)
            await cdp.eval("mxeSnap(4, 375000)")  # timed: a rate from samples 2 and 4
            text = await cdp.eval(INGEST)
            assert text.endswith("bit/s"), text
    asyncio.run(run())
