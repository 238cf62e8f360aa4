"""Issue 5: the live feeds end to end. A real WebSocket client (Debian's python3-websockets)
and raw-socket WebSocket and SSE clients against the exporter fed by the stand-in: the
initial snapshot, updates after the stand-in changes, 200 concurrent subscribers, a stalled
subscriber that holds nobody back and is dropped, a slow one that skips snapshots while a
fast one gets them all, malformed frames and their close codes (text that is not UTF-8
among them), keep-alives and an unanswered ping, HEAD and HTTP/1.0 requests, the subscriber
limit and metric, and a clean shutdown with subscribers attached."""
import asyncio
import http.client
import json
import os
import signal
import socket
import struct
import threading
import time

import websockets

from harness import Exporter, Standin, wait_until

POLL = "0.5"
KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's sample nonce
MASK = b"\x37\xfa\x21\x3d"


def start(spawn, *extra, standin=("--scenario", "demo"), poll=POLL, env=None):
    mx = spawn(Standin, *standin)
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", "none",
                          "--output.json", "", "--poll.interval", poll] + list(extra), env=env)
    wait_until(lambda: ex.get("/api/streams/latest")[0] == 200, what="a good poll")
    return mx, ex


def subscribers(ex):
    m = ex.metrics()
    return (int(m['mediamtx_exporter_subscribers{feed="websocket"}']),
            int(m['mediamtx_exporter_subscribers{feed="sse"}']))


def names(doc):
    return [s["name"] for s in json.loads(doc)]


def add_path(mx, name):
    mx.control("POST", "/paths", {"name": name, "source": {"type": "rtspSession"},
                                  "tracks": ["H264"], "rates": {"bytesReceived": 100000}})


# --- raw clients ---------------------------------------------------------------------------

class RawWS:
    """A WebSocket client on a plain socket, for what a library would refuse to send."""

    def __init__(self, port, rcvbuf=None, timeout=10):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.buf = b""

    def handshake(self, path="/api/streams/ws", headers=None, method="GET", version="HTTP/1.1"):
        h = {"Host": "x", "Upgrade": "websocket", "Connection": "Upgrade",
             "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": KEY}
        h.update(headers or {})
        req = "%s %s %s\r\n" % (method, path, version) + "".join(
            "%s: %s\r\n" % (k, v) for k, v in h.items() if v is not None) + "\r\n"
        self.sock.sendall(req.encode())
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        if not head:
            raise EOFError("no answer to the handshake")
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        return status, hdrs

    def body(self, n):
        """The first n bytes after the head (a refusal's body)."""
        return self._exact(n)

    def _exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def frame(self):
        """(opcode, payload) of the next server frame."""
        b0, b1 = self._exact(2)
        assert b0 & 0x70 == 0 and b1 & 0x80 == 0, "reserved bits or mask from the server"
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._exact(8))[0]
        return b0 & 0x0F, self._exact(n)

    def send(self, b0, payload=b"", masked=True, length=None):
        n = len(payload) if length is None else length
        head = bytes([b0])
        mbit = 0x80 if masked else 0
        if n < 126:
            head += bytes([mbit | n])
        elif n <= 0xFFFF:
            head += bytes([mbit | 126]) + struct.pack("!H", n)
        else:
            head += bytes([mbit | 127]) + struct.pack("!Q", n)
        if masked:
            head += MASK
            payload = bytes(c ^ MASK[i % 4] for i, c in enumerate(payload))
        self.sock.sendall(head + payload)

    def close_code(self):
        """Skip data frames until the close frame; its code (and check the EOF after it)."""
        while True:
            op, payload = self.frame()
            if op == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                try:
                    rest = self.sock.recv(1)
                except ConnectionResetError:
                    rest = b""
                assert rest == b"", "data after the close frame"
                return code, payload[2:].decode()

    def close(self):
        self.sock.close()


class SSE:
    """A Server-Sent Events reader on http.client: events as {field: value} dicts."""

    def __init__(self, port, path="/api/streams/events", timeout=10):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.conn.request("GET", path)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = {k.lower(): v for k, v in self.resp.getheaders()}
        self.buf = b""
        self.raw = b""
        self.ended = False

    def block(self):
        """The next block up to a blank line, as raw text (comments included)."""
        while b"\n\n" not in self.buf:
            chunk = self.resp.read1(65536)
            if not chunk:
                self.ended = True
                raise EOFError("stream ended")
            self.buf += chunk
            self.raw += chunk
        block, _, self.buf = self.buf.partition(b"\n\n")
        return block.decode()

    def event(self):
        """The next dispatched event (blocks with a data field), parsed."""
        while True:
            fields, data = {}, []
            for line in self.block().split("\n"):
                if line.startswith(":"):
                    continue
                k, _, v = line.partition(":")
                v = v[1:] if v.startswith(" ") else v
                if k == "data":
                    data.append(v)
                else:
                    fields[k] = v
            if data:
                fields["data"] = "\n".join(data)
                return fields

    def close(self):
        self.conn.close()


# --- tests ---------------------------------------------------------------------------------

def test_websocket_initial_snapshot_and_updates(spawn):
    mx, ex = start(spawn)
    mx.freeze_clock()  # identical documents from now on: the first message can be compared
    ex.wait_polls(2)
    latest = ex.get("/api/streams/latest")[2].decode()

    async def run():
        async with websockets.connect("ws://127.0.0.1:%d/api/streams/ws" % ex.port,
                                      compression=None, max_size=None) as ws:
            first = await asyncio.wait_for(ws.recv(), 5)
            assert isinstance(first, str)
            assert first == latest  # byte for byte the document of /api/streams/latest
            # a new snapshot every poll, even when nothing changed (a new seq)
            t0 = time.monotonic()
            await asyncio.wait_for(ws.recv(), 5)
            assert time.monotonic() - t0 < 2.0
            add_path(mx, "zz-new-cam")
            while "zz-new-cam" not in names(await asyncio.wait_for(ws.recv(), 5)):
                pass
            mx.control("DELETE", "/paths/lobby-cam")
            while "lobby-cam" in names(await asyncio.wait_for(ws.recv(), 5)):
                pass
            pong = await ws.ping(b"are you there")
            await asyncio.wait_for(pong, 5)
        assert ws.close_code == 1000  # the server echoed our close
    asyncio.run(run())
    wait_until(lambda: subscribers(ex) == (0, 0), what="the subscriber gone from the metric")


def test_sse_fields_initial_snapshot_and_updates(spawn):
    mx, ex = start(spawn)
    mx.freeze_clock()
    ex.wait_polls(2)
    latest = ex.get("/api/streams/latest")[2].decode()
    sse = SSE(ex.port)
    try:
        assert sse.status == 200
        assert sse.headers["content-type"] == "text/event-stream"
        assert sse.headers["cache-control"] == "no-store"
        assert sse.headers["transfer-encoding"] == "chunked"
        first_block = sse.block()
        assert "retry: 2000" in first_block.split("\n")
        ev = sse.event()
        assert ev["event"] == "snapshot"
        seq = int(ev["id"])
        assert ev["data"] == latest
        ev2 = sse.event()
        assert int(ev2["id"]) > seq  # one id per successful cycle
        add_path(mx, "zz-sse-cam")
        deadline = time.monotonic() + 5
        while "zz-sse-cam" not in names(sse.event()["data"]):
            assert time.monotonic() < deadline
        assert "\r" not in sse.raw.decode()  # LF line ends only
        wait_until(lambda: subscribers(ex) == (0, 1), what="the SSE subscriber in the metric")
    finally:
        sse.close()
    wait_until(lambda: subscribers(ex) == (0, 0), timeout=15, what="the SSE subscriber gone")


def test_no_push_while_polls_fail_and_keepalives(spawn):
    """A failed poll publishes no snapshot; idle subscribers get SSE comments and
    WebSocket pings every 15 s."""
    mx, ex = start(spawn)
    ws = RawWS(ex.port, timeout=30)
    assert ws.handshake()[0] == 101
    assert ws.frame()[0] == 0x1  # the current snapshot
    sse = SSE(ex.port, timeout=30)
    sse.event()
    mx.fault(target="paths", kind="status", status=500)
    wait_until(lambda: ex.metrics().get("mediamtx_up") == "0", what="the poll failing")
    t0 = time.monotonic()
    # drain what was queued before the fault, then: only keep-alives
    while True:
        op, payload = ws.frame()
        if op == 0x9:
            break
        assert op == 0x1 and time.monotonic() - t0 < 3, "a snapshot pushed while polls fail"
    assert 12 < time.monotonic() - t0 < 25
    ws.send(0x8A, payload)  # pong
    while True:
        block = sse.block()
        if block.startswith(": keep-alive"):
            break
        assert "event: snapshot" in block and time.monotonic() - t0 < 3
    mx.clear_faults()
    assert ws.frame()[0] == 0x1  # pushes resume with the next good poll
    assert sse.event()["event"] == "snapshot"
    ws.close()
    sse.close()


def test_two_hundred_subscribers_websocket_and_sse(spawn):
    mx, ex = start(spawn, "--web.max-subscribers", "256", "--web.max-connections", "512",
                   "--web.max-connections-per-ip", "0")
    n_ws = n_sse = 100
    port = ex.port

    async def sse_client(ready, go, results, i):
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"GET /api/streams/events HTTP/1.1\r\nHost: x\r\n\r\n")
        await w.drain()
        buf = b""
        first = None
        ready.append(i)
        while True:
            buf += await asyncio.wait_for(r.read(65536), 20)
            if first is None and b"\nid: " in buf:
                first = time.monotonic()
            if go.is_set() and b"zz-burst" in buf:
                results.append(("sse", first is not None))
                break
        w.close()

    async def ws_client(ready, go, results, i):
        async with websockets.connect("ws://127.0.0.1:%d/api/streams/ws" % port,
                                      compression=None, max_size=None, open_timeout=20) as ws:
            first = json.loads(await asyncio.wait_for(ws.recv(), 20))
            ready.append(i)
            while True:
                msg = await asyncio.wait_for(ws.recv(), 20)
                if go.is_set() and "zz-burst" in msg:
                    results.append(("ws", isinstance(first, list)))
                    break

    async def run():
        ready, results, go = [], [], asyncio.Event()
        tasks = [asyncio.create_task(ws_client(ready, go, results, i)) for i in range(n_ws)]
        tasks += [asyncio.create_task(sse_client(ready, go, results, i)) for i in range(n_sse)]
        deadline = time.monotonic() + 30
        while len(ready) < n_ws + n_sse:
            assert time.monotonic() < deadline, "only %d subscribers ready" % len(ready)
            await asyncio.sleep(0.05)
        # everybody is in: the metric counts them (rendered at the end of a cycle)
        counts = await asyncio.get_running_loop().run_in_executor(
            None, lambda: wait_until(lambda: subscribers(ex) == (n_ws, n_sse), timeout=10,
                                     what="200 subscribers in the metric"))
        assert counts
        go.set()
        t0 = time.monotonic()
        add_path(mx, "zz-burst")
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
        return results, time.monotonic() - t0

    results, took = asyncio.run(run())
    assert sorted(results) == [("sse", True)] * n_sse + [("ws", True)] * n_ws
    assert took < 5, "the change took %.1f s to reach every subscriber" % took
    wait_until(lambda: subscribers(ex) == (0, 0), timeout=20, what="all subscribers gone")


def test_stalled_subscribers_hold_nobody_back_and_are_dropped(spawn):
    # ~1.5 MB per snapshot, one per second: a client that never reads fills the socket
    # buffers within seconds. Were the fan-out held up by a stalled subscriber, the healthy
    # one would see a gap of at least the stall timeout (6 s).
    mx, ex = start(spawn, "--web.subscriber-stall-timeout", "6s", "--mediamtx.timeout", "0.9s",
                   standin=("--scenario", "empty", "--generate", "5000"), poll="1s")
    size = len(ex.get("/api/streams/latest")[2])
    assert size > 1_000_000
    stalled_ws = RawWS(ex.port, rcvbuf=4096)
    assert stalled_ws.handshake()[0] == 101
    stalled_sse = socket.socket()
    stalled_sse.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled_sse.connect(("127.0.0.1", ex.port))
    stalled_sse.sendall(b"GET /api/streams/events HTTP/1.1\r\nHost: x\r\n\r\n")

    gaps = []

    async def healthy():
        async with websockets.connect("ws://127.0.0.1:%d/api/streams/ws" % ex.port,
                                      compression=None, max_size=None) as ws:
            await ws.recv()
            last = time.monotonic()
            # until both stalled subscribers are gone, plus a few more messages
            end = None
            while end is None or time.monotonic() < end:
                await asyncio.wait_for(ws.recv(), 10)
                now = time.monotonic()
                gaps.append(now - last)
                last = now
                if end is None:
                    counts = await asyncio.get_running_loop().run_in_executor(
                        None, lambda: subscribers(ex))
                    if counts == (1, 0):
                        end = now + 2
                assert now - t0 < 60, "stalled subscribers were not dropped"
    t0 = time.monotonic()
    asyncio.run(healthy())
    # The healthy subscriber was never held up for the stall timeout (6 s). Gaps above the
    # 1 s interval come from polls that a slow (sanitizer) build does not finish in time.
    assert max(gaps) < 5.0, gaps
    assert "dropped a stalled websocket subscriber" in ex.stderr()
    # the stalled ones find their connections closed once they read again
    stalled_sse.settimeout(10)
    try:
        while stalled_sse.recv(1 << 20):
            pass
    except ConnectionResetError:
        pass
    stalled_sse.close()
    stalled_ws.close()


def test_malformed_frames_get_the_right_close_codes(spawn):
    _, ex = start(spawn)
    cases = [
        ("unmasked text", dict(b0=0x81, payload=b"hi", masked=False), 1002),
        ("binary frame", dict(b0=0x82, payload=b"\x00\x01"), 1003),
        ("oversized text", dict(b0=0x81, payload=b"x" * 5000), 1009),
        ("oversized by header alone", dict(b0=0x81, payload=b"", length=1 << 40), 1009),
        ("opcode 3", dict(b0=0x83, payload=b""), 1002),
        ("opcode 0xB", dict(b0=0x8B, payload=b""), 1002),
        ("reserved bit", dict(b0=0xC1, payload=b"hi"), 1002),
        ("fragmented ping", dict(b0=0x09, payload=b""), 1002),
        ("ping over 125 bytes", dict(b0=0x89, payload=b"p" * 126), 1002),
        ("continuation without a message", dict(b0=0x80, payload=b"x"), 1002),
        ("close with a 1-byte payload", dict(b0=0x88, payload=b"\x03"), 1002),
        ("close code 1005", dict(b0=0x88, payload=struct.pack("!H", 1005)), 1002),
        ("close code 999", dict(b0=0x88, payload=struct.pack("!H", 999)), 1002),
        ("close reason not UTF-8", dict(b0=0x88, payload=struct.pack("!H", 1000) + b"\xff"),
         1007),
        ("normal close", dict(b0=0x88, payload=struct.pack("!H", 1000)), 1000),
        ("close 4000 echoed", dict(b0=0x88, payload=struct.pack("!H", 4000) + b"bye"), 4000),
        ("empty close", dict(b0=0x88, payload=b""), 1000),
    ]
    for what, frame, code in cases:
        ws = RawWS(ex.port)
        assert ws.handshake()[0] == 101, what
        assert ws.frame()[0] == 0x1, what
        ws.send(**frame)
        got, reason = ws.close_code()
        assert got == code, "%s: close %s (%s), wanted %s" % (what, got, reason, code)
        ws.close()
    # a text message from the client is ignored; a ping is answered
    ws = RawWS(ex.port)
    ws.handshake()
    ws.frame()
    ws.send(0x01, b"hel")
    ws.send(0x80, b"lo")
    ws.send(0x89, b"ping!")
    while True:
        op, payload = ws.frame()
        if op == 0xA:
            assert payload == b"ping!"
            break
    ws.close()
    wait_until(lambda: subscribers(ex) == (0, 0), what="every subscriber gone")


def test_handshake_errors_and_subscriber_limit(spawn):
    _, ex = start(spawn, "--web.max-subscribers", "2")
    ws = RawWS(ex.port)
    status, hdrs = ws.handshake(headers={"Upgrade": None, "Connection": None})
    assert status == 426 and hdrs["upgrade"] == "websocket"
    ws.close()
    ws = RawWS(ex.port)
    status, hdrs = ws.handshake(headers={"Sec-WebSocket-Version": "8"})
    assert status == 426 and hdrs["sec-websocket-version"] == "13"
    ws.close()
    ws = RawWS(ex.port)
    assert ws.handshake(headers={"Sec-WebSocket-Key": "short"})[0] == 400
    ws.close()
    status, hdrs, _ = ex.get("/api/streams/ws", method="POST")
    assert status == 405 and hdrs["allow"] == "GET, HEAD"
    status, hdrs, _ = ex.get("/api/streams/events", method="DELETE")
    assert status == 405 and hdrs["allow"] == "GET, HEAD"
    # accept key of RFC 6455 1.3
    a = RawWS(ex.port)
    status, hdrs = a.handshake()
    assert status == 101
    assert hdrs["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert hdrs["upgrade"].lower() == "websocket" and "upgrade" in hdrs["connection"].lower()
    # The 101 can reach the client before the server has registered the subscriber; its
    # first snapshot comes after: from then on it holds its slot.
    assert a.frame()[0] == 0x1
    b = SSE(ex.port)
    assert b.status == 200
    # the limit (2) is reached: 503 for both feeds, with Retry-After
    c = SSE(ex.port)
    assert c.status == 503 and c.headers["retry-after"] == "2"
    assert json.loads(c.resp.read()) == {"error": "too many subscribers"}
    c.close()
    d = RawWS(ex.port)
    status, hdrs = d.handshake()
    assert status == 503
    d.close()
    # HEAD answers what GET would, here too, and takes no slot
    status, hdrs, body = ex.get("/api/streams/events", method="HEAD")
    assert (status, hdrs["retry-after"], body) == (503, "2", b"")
    a.close()
    b.close()
    # slots come back
    wait_until(lambda: RawWS(ex.port).handshake()[0] == 101, what="a free slot")


def test_clean_shutdown_with_subscribers_attached(spawn):
    _, ex = start(spawn)
    sse = SSE(ex.port)
    sse.event()
    raw = RawWS(ex.port)
    assert raw.handshake()[0] == 101

    async def run():
        ws = await websockets.connect("ws://127.0.0.1:%d/api/streams/ws" % ex.port,
                                      compression=None, max_size=None)
        await ws.recv()
        t0 = time.monotonic()
        ex.proc.send_signal(signal.SIGTERM)
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        except websockets.ConnectionClosed:
            pass
        return ws.close_code, ws.close_reason, time.monotonic() - t0
    code, reason, took = asyncio.run(run())
    assert code == 1001 and reason == "server shutting down", (code, reason)
    assert took < 3
    assert raw.close_code() == (1001, "server shutting down")
    raw.close()
    # the SSE stream ends properly: the last chunk, then EOF (http.client checks the framing)
    while not sse.ended:
        try:
            sse.block()
        except EOFError:
            pass
    sse.close()
    assert ex.wait(timeout=10) == 0
    log = ex.stderr()
    for bad in ("Sanitizer", "runtime error", " error ", " warn "):
        assert bad not in log, log


def test_head_answers_what_get_would_without_subscribing(spawn):
    _, ex = start(spawn, "--log.level", "debug")  # subscribers joining are logged
    sse = SSE(ex.port)
    try:
        sse.event()
        get_headers = dict(sse.headers)
    finally:
        sse.close()
    wait_until(lambda: subscribers(ex) == (0, 0), what="the SSE subscriber gone")
    for _ in range(3):
        status, hdrs, body = ex.get("/api/streams/events", method="HEAD")
        assert status == 200 and body == b""
        for h in ("content-type", "cache-control", "x-accel-buffering", "x-content-type-options"):
            assert hdrs[h] == get_headers[h], h
        # no body follows: the answer is not chunked (the connection ends it)
        assert "transfer-encoding" not in hdrs and "content-length" not in hdrs
    # a raw HEAD on a keep-alive connection: nothing after the head, then the end
    s = socket.create_connection(("127.0.0.1", ex.port), timeout=10)
    s.sendall(b"HEAD /api/streams/events HTTP/1.1\r\nHost: x\r\n\r\n")
    raw = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        raw += chunk
    s.close()
    head, sep, rest = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and sep and rest == b"", raw
    # nobody subscribed, at any time: only the GET above joined
    assert ex.stderr().count("live: sse subscriber joined") == 1
    assert subscribers(ex) == (0, 0)
    # /ws: HEAD is never an upgrade; it gets what a GET without a handshake gets
    plain = ex.get("/api/streams/ws")
    head_ws = ex.get("/api/streams/ws", method="HEAD")
    assert plain[0] == head_ws[0] == 426 and head_ws[2] == b""
    for h in ("upgrade", "content-type", "content-length"):
        assert head_ws[1][h] == plain[1][h], h
    raw_ws = RawWS(ex.port)
    status, hdrs = raw_ws.handshake(method="HEAD")  # with every handshake header
    assert status == 426 and hdrs["upgrade"] == "websocket"
    raw_ws.close()
    assert "live: websocket subscriber joined" not in ex.stderr()


def test_http10_handshake_gets_400(spawn):
    """RFC 6455 4.1: the handshake is HTTP/1.1 (or higher). libmicrohttpd refuses a 101 on
    HTTP/1.0 and would close the connection without a word; the exporter answers 400 (not
    426: what an HTTP/1.0 client lacks is HTTP/1.1, not the websocket protocol)."""
    _, ex = start(spawn)
    ws = RawWS(ex.port)
    status, hdrs = ws.handshake(version="HTTP/1.0")
    assert status == 400
    assert hdrs["content-type"] == "application/json"
    body = json.loads(ws.body(int(hdrs["content-length"])))
    assert body == {"error": "a WebSocket handshake needs HTTP/1.1"}
    ws.close()
    assert subscribers(ex) == (0, 0)
    ws = RawWS(ex.port)  # the same handshake on HTTP/1.1 is fine
    assert ws.handshake()[0] == 101
    ws.close()


def test_client_text_must_be_utf8(spawn):
    """RFC 6455 8.1: a text message that is not valid UTF-8 fails the connection with 1007,
    also when the bad byte sits in a later fragment or a code point is cut off at the end;
    valid text whose code points span fragments is fine."""
    _, ex = start(spawn)

    async def send_frames(frames):
        async with websockets.connect("ws://127.0.0.1:%d/api/streams/ws" % ex.port,
                                      compression=None, max_size=None) as ws:
            await asyncio.wait_for(ws.recv(), 10)  # the current snapshot
            for fin, opcode, data in frames:
                await ws.write_frame(fin, opcode, data)
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            except websockets.ConnectionClosed:
                pass
            return ws.close_code, ws.close_reason

    bad = [
        ("one invalid byte", [(True, 0x1, b"caf\xc3")]),
        ("not UTF-8 at all", [(True, 0x1, b"\xff\xfe")]),
        ("a surrogate", [(True, 0x1, b"\xed\xa0\x80")]),
        ("an overlong slash", [(True, 0x1, b"\xc0\xaf")]),
        ("bad continuation in the next fragment",
         [(False, 0x1, b"ok \xe2\x82"), (True, 0x0, b"A")]),
        ("code point cut at the end of the message",
         [(False, 0x1, b"ok"), (True, 0x0, b"\xf0\x9f\x98")]),
    ]
    for what, frames in bad:
        code, reason = asyncio.run(send_frames(frames))
        assert code == 1007, "%s: close %s %r" % (what, code, reason)
        assert reason == "text message is not UTF-8", reason
    # valid: "é" and "😀" cut between fragments, then the client closes normally
    async def valid():
        async with websockets.connect("ws://127.0.0.1:%d/api/streams/ws" % ex.port,
                                      compression=None, max_size=None) as ws:
            await asyncio.wait_for(ws.recv(), 10)
            await ws.write_frame(False, 0x1, b"caf\xc3")
            await ws.write_frame(False, 0x0, b"\xa9 \xf0\x9f")
            await ws.write_frame(True, 0x0, b"\x98\x80")
            await ws.send("plain text")
            pong = await ws.ping(b"still there?")
            await asyncio.wait_for(pong, 10)  # answered: the connection lives on
        return ws.close_code
    assert asyncio.run(valid()) == 1000
    wait_until(lambda: subscribers(ex) == (0, 0), what="every subscriber gone")


def test_unanswered_ping_closes_with_1008(spawn):
    """The server pings a WebSocket subscriber it has sent nothing to for 15 s; a client that
    keeps reading but never answers is closed with 1008 once the stall timeout passes."""
    mx, ex = start(spawn, "--web.subscriber-stall-timeout", "2s")
    ws = RawWS(ex.port, timeout=40)
    assert ws.handshake()[0] == 101
    assert ws.frame()[0] == 0x1
    mx.fault(target="paths", kind="status", status=500)  # no more pushes: the feed idles
    wait_until(lambda: ex.metrics().get("mediamtx_up") == "0", what="the poll failing")
    t0 = time.monotonic()
    while True:  # what was queued before the fault, then the keep-alive ping
        op, payload = ws.frame()
        if op == 0x9:
            break
        assert op == 0x1 and time.monotonic() - t0 < 5, "unexpected frame %d" % op
    ping_at = time.monotonic()
    code, reason = ws.close_code()  # no pong sent
    assert (code, reason) == (1008, "no pong within the stall timeout")
    assert 1.5 < time.monotonic() - ping_at < 10
    ws.close()
    wait_until(lambda: subscribers(ex) == (0, 0), what="the subscriber gone")


class IdReader:
    """A raw SSE subscriber that only notes the ids of the events it receives (cheap
    enough to keep up with megabytes per second), reading at most `rate` bytes per second
    when given one."""

    def __init__(self, port, rcvbuf=None):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(30)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall(b"GET /api/streams/events HTTP/1.1\r\nHost: x\r\n\r\n")
        self.tail = b""
        self.ids = []

    def read(self, n):
        """Read once (up to n bytes); the ids completed by it. EOFError when closed."""
        chunk = self.sock.recv(n)
        if not chunk:
            raise EOFError("the feed ended after ids %r" % self.ids)
        data = self.tail + chunk
        new = []
        pos = 0
        while True:
            i = data.find(b"\nid: ", pos)
            j = data.find(b"\n", i + 5) if i >= 0 else -1
            if j < 0:
                break
            new.append(int(data[i + 5:j]))
            pos = j
        self.tail = data[max(pos, len(data) - 32):]  # enough to hold a cut "\nid: N\n"
        self.ids += new
        return new

    def close(self):
        self.sock.close()


def test_slow_reader_skips_snapshots_fast_reader_gets_all(spawn):
    """Each subscriber keeps only the newest snapshot pending. A subscriber that reads, but
    slower than snapshots come, receives ids that jump (the ones it could not take in time
    are skipped, not queued) and stays a bounded number of snapshots behind, so the exporter
    holds a bounded amount for it; meanwhile a subscriber that keeps up receives every id.
    A pending queue instead of the slot would show as consecutive ids, a lag that grows by
    two snapshots out of three, and memory that grows with it."""
    # Under ASan, freed memory waits in a quarantine (256 MiB by default) that fills as the
    # polls go on and makes RSS climb whatever the feeds hold: a small one for this run.
    env = None
    if "ASAN_OPTIONS" in os.environ:
        env = {"ASAN_OPTIONS": os.environ["ASAN_OPTIONS"] + ":quarantine_size_mb=4"}
    mx, ex = start(spawn, "--mediamtx.timeout", "0.9s",
                   standin=("--scenario", "empty", "--generate", "2500"), poll="1s", env=env)
    size = len(ex.get("/api/streams/latest")[2])
    assert size > 500_000, size
    fast = IdReader(ex.port)
    slow = IdReader(ex.port, rcvbuf=65536)
    stop, failed = threading.Event(), []

    def read_fast():
        try:
            while not stop.is_set():
                fast.read(1 << 20)
        except Exception as e:  # noqa: BLE001 - reported below
            if not stop.is_set():
                failed.append(e)

    reader = threading.Thread(target=read_fast, daemon=True)
    reader.start()
    lags, rss = [], []  # per slow event after the first skip
    t0 = time.monotonic()
    first_skip = None
    try:
        # The socket buffers on both sides take the first few snapshots whole; once they
        # are full, skipping starts. Then eight more events.
        while first_skip is None or len(slow.ids) < first_skip + 8:
            assert time.monotonic() - t0 < 150, "the slow subscriber got only %r" % slow.ids
            # the socket buffers hold some six snapshots: by twenty, skipping must have begun
            assert first_skip is not None or len(slow.ids) < 20, "nothing skipped: %r" % slow.ids
            tick = time.monotonic()
            for sid in slow.read(16384):
                if first_skip is None and len(slow.ids) >= 2 and slow.ids[-1] - slow.ids[-2] > 1:
                    first_skip = len(slow.ids) - 1
                if first_skip is not None:
                    lags.append(fast.ids[-1] - sid)
                    rss.append(vm_rss_kib(ex.proc.pid))
            # a third of the rate the feed really has (a slow build polls slower)
            elapsed = time.monotonic() - t0
            rate = size * max(len(fast.ids) / elapsed if elapsed > 1 else 1.0, 0.1) / 3
            time.sleep(max(0.0, 16384 / rate - (time.monotonic() - tick)))
    finally:
        stop.set()
        slow.close()
        reader.join(timeout=30)
        fast.close()
    assert not failed, failed
    ids = fast.ids
    assert len(ids) >= 20 and ids == list(range(ids[0], ids[0] + len(ids))), ids
    assert slow.ids == sorted(set(slow.ids)), slow.ids
    after = slow.ids[first_skip - 1:]
    gaps = [b - a for a, b in zip(after, after[1:])]
    assert sum(g > 1 for g in gaps) >= len(gaps) // 2, "too few skips: %r" % slow.ids
    # Bounded: how far behind the slow subscriber reads is set by what the socket buffers
    # hold (several megabytes here, read at a third of the rate: some fifteen snapshots)
    # plus the one being written and the one pending, and stays so. A queue would fall about
    # two snapshots further behind with every event taken: a dozen between the first three
    # events here and the last three.
    drift = sum(lags[-3:]) / 3 - sum(lags[:3]) / 3
    assert drift <= 4, (slow.ids, lags)
    # Nor does the exporter's memory grow. RSS is coarse (an ASan build keeps freed memory in
    # quarantine and wanders by megabytes), so: medians, and a bound of ten documents that
    # allows for that noise; the lag above is the precise measure of what is held.
    growth = sorted(rss[-3:])[1] - sorted(rss[:3])[1]
    assert growth < 10 * size // 1024, "RSS grew by %d KiB: %r" % (growth, rss)


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")
