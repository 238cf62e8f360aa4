"""Issue 5: the status page at / in a real browser. Headless Chromium (Debian's package)
loads the page from a running exporter fed by the stand-in; the test drives it over the
DevTools protocol (python3-websockets), reads the live DOM and asserts that the table shows
the stand-in's streams and follows their changes, that the ingest bitrate is computed, that
the page falls back to SSE when WebSocket fails and shows when MediaMTX is down. Screenshots
go to tests/artifacts/ (desktop and phone widths)."""
import asyncio
import base64
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request

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
    """The DevTools protocol over one WebSocket: commands by id, events ignored."""

    def __init__(self, ws):
        self.ws = ws
        self.ids = itertools.count(1)

    async def call(self, method, **params):
        i = next(self.ids)
        await self.ws.send(json.dumps({"id": i, "method": method, "params": params}))
        while True:
            msg = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
            if msg.get("id") == i:
                if "error" in msg:
                    raise AssertionError("%s: %s" % (method, msg["error"]))
                return msg["result"]

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


def start(spawn):
    mx = spawn(Standin, "--scenario", "demo")
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", "none",
                          "--output.json", "", "--poll.interval", "0.5"])
    wait_until(lambda: ex.get("/readyz")[0] == 200, what="the exporter ready")
    return mx, ex


def test_status_page_follows_the_streams(spawn):
    mx, ex = start(spawn)
    browser = spawn(Chromium)
    url = "http://127.0.0.1:%d/" % ex.port

    async def run():
        async with websockets.connect(browser.ws_url, max_size=None) as ws:
            cdp = CDP(ws)
            await cdp.call("Page.enable")
            await cdp.call("Runtime.enable")
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
            return shot
    shot = asyncio.run(run())
    assert os.path.getsize(shot) > 10000


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
