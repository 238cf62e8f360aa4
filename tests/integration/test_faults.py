"""Issue 6 fault matrix: the rows (or the parts of rows) that test_collector.py leaves open.

test_collector.py already covers MediaMTX refused / 5xx / 401 / 404, garbage, empty and
truncated JSON, one wrong type, deep nesting, the response cap, a list changing between the
pages of one --once poll, a vanished stream and a restarted publisher, Redis down at start and
killed mid-run, and SIGTERM between writes. Here:

  - the output directory read-only, full (a 64 KiB tmpfs) or not a directory;
  - MediaMTX slower than the timeout: every cycle aborted inside the interval, none piling up;
  - every wrong-type variant the stand-in can send, on both lists;
  - a 64 MiB answer against a 1 MiB cap: aborted, and the peak RSS stays small;
  - streams appearing and vanishing between pages and between cycles, publishers restarting:
    no duplicates, vanished series gone next cycle, nothing negative;
  - Redis slow (DEBUG SLEEP) and Redis killed while large values are being written;
  - SIGTERM while a large file is being written, with a reader that must never see it torn;
  - HTTP clients that vanish in the middle of a large /metrics (SIGPIPE);
  - and the harness's own teardown, on which the sanitizer run of the whole suite relies:
    SIGTERM, then the exit status and the log checked.

Everything runs on 127.0.0.1; every wait polls for a condition with a deadline; every loop is
bounded in count and time. The tmpfs tests need root to mount (CI runs as root) and skip,
saying why, elsewhere."""
import json
import os
import random
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

from harness import Exporter, Redis, RespConn, Standin, parse_metrics, wait_until


def read(path):
    with open(path, "rb") as f:
        return f.read()


def names_of(blob):
    return [r["name"] for r in json.loads(blob)]


def temp_files(directory):
    return [n for n in os.listdir(directory) if n.startswith(".")]


def vm_kib(pid, field):
    """A field of /proc/<pid>/status in KiB (VmRSS, VmHWM)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("%s not in /proc/%d/status" % (field, pid))


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def assert_nothing_negative(metrics):
    """No mediamtx_* sample is negative (counters are exported as MediaMTX reports them)."""
    for series, value in metrics.items():
        if series.startswith("mediamtx_"):
            assert not value.startswith("-"), "negative sample: %s %s" % (series, value)


def assert_no_sanitizer_report(ex):
    log = ex.stderr()
    for needle in ("AddressSanitizer", "runtime error:", "LeakSanitizer"):
        assert needle not in log, log[-2000:]


# --- a tiny filesystem ------------------------------------------------------------------------

def _mount(*args):
    return subprocess.run(["mount"] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=10)


@pytest.fixture
def tmpfs(workdir):
    """A 64 KiB tmpfs mounted under workdir, unmounted at teardown."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; CI runs as root")
    path = os.path.join(workdir, "fs")
    os.mkdir(path)
    r = _mount("-t", "tmpfs", "-o", "size=64k,mode=0755", "mxe-faults", path)
    assert r.returncode == 0, "mount tmpfs: %s" % r.stdout.decode()
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", path], timeout=10)


def remount(path, mode):
    """mount -o remount,ro|rw; EBUSY while the exporter has a file open for writing, so
    retried until it takes."""
    wait_until(lambda: _mount("-o", "remount," + mode, path).returncode == 0, timeout=10,
               interval=0.005, what="remount %s %s" % (mode, path))


def file_failures(ex):
    return ex.metric('mediamtx_exporter_mirror_failures_total{target="file"}')


# --- the output file --------------------------------------------------------------------------

def test_output_directory_read_only_keeps_old_file(spawn, tmpfs):
    mx = spawn(Standin, "--scenario", "demo")
    out = os.path.join(tmpfs, "streams.json")
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", "none",
                          "--output.json", out, "--poll.interval", "0.3"])
    wait_until(lambda: os.path.exists(out), what="the first file")
    ex.wait_polls(1)
    remount(tmpfs, "ro")
    kept = read(out)
    failures = file_failures(ex)
    wait_until(lambda: file_failures(ex) >= failures + 3, what="three counted file failures")
    m = ex.metrics()
    assert m["mediamtx_up"] == "1"  # polling goes on
    assert read(out) == kept and len(names_of(kept)) == 4  # the old file, whole
    assert temp_files(tmpfs) == []
    status, _, body = ex.get("/api/streams/latest")
    assert status == 200 and len(names_of(body)) == 4
    log = ex.stderr()
    assert log.count("file mirror:") == 1, "logged once per outage:\n" + log
    assert "Read-only file system" in log and "previous file is left intact" in log

    remount(tmpfs, "rw")
    wait_until(lambda: "file mirror: writing %s again" % out in ex.stderr(), what="recovery")
    wait_until(lambda: read(out) != kept, what="a newer file")
    assert len(names_of(read(out))) == 4
    assert ex.stop() == 0
    assert os.listdir(tmpfs) == ["streams.json"]


def test_disk_full_keeps_old_file_and_no_temp_file(spawn, tmpfs):
    mx = spawn(Standin, "--scenario", "demo")
    out = os.path.join(tmpfs, "streams.json")
    # Two pages a cycle once the list grows: a roomy interval for a busy (or ASan) machine.
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", "none",
                          "--output.json", out, "--poll.interval", "0.6"])
    wait_until(lambda: os.path.exists(out), what="the first file")
    ex.wait_polls(1)
    # 1,500 more paths: about 400 KB of JSON for a 64 KiB filesystem.
    mx.control("POST", "/generate", {"count": 1500})
    wait_until(lambda: ex.metric("mediamtx_streams", 0) == 1504, timeout=30,
               what="the poll to see 1,504")
    failures = file_failures(ex)
    wait_until(lambda: file_failures(ex) >= failures + 3, timeout=30,
               what="three counted file failures")
    assert ex.metric("mediamtx_up") == 1
    kept = read(out)
    assert len(names_of(kept)) == 4  # the last file that fitted, whole
    assert temp_files(tmpfs) == []
    st = os.statvfs(tmpfs)
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    assert used <= len(kept) + 8192, "space held by something else: %d bytes used" % used
    log = ex.stderr()
    assert log.count("file mirror:") == 1, "logged once per outage:\n" + log
    assert "No space left on device" in log

    mx.control("POST", "/generate", {"count": 0})
    wait_until(lambda: "file mirror: writing %s again" % out in ex.stderr(), timeout=30,
               what="recovery")
    assert len(names_of(read(out))) == 4
    assert ex.stop() == 0
    assert os.listdir(tmpfs) == ["streams.json"]


def test_output_path_under_a_regular_file(spawn, workdir):
    blocker = os.path.join(workdir, "not-a-directory")
    with open(blocker, "w") as f:
        f.write("x")
    out = os.path.join(blocker, "streams.json")
    mx = spawn(Standin, "--scenario", "demo")
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", "none",
                          "--output.json", out, "--poll.interval", "0.3"])
    wait_until(lambda: file_failures(ex) >= 3, what="counted file failures")
    assert ex.metric("mediamtx_up") == 1
    assert ex.get("/api/streams/latest")[0] == 200
    log = ex.stderr()
    assert log.count("file mirror:") == 1 and "Not a directory" in log
    assert ex.stop() == 0
    assert sorted(os.listdir(workdir)) == ["not-a-directory"]
    # --once reports the failed mirror with its own exit status.
    once = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", "none",
                            "--output.json", out], once=True)
    assert once.wait() == 4


# --- MediaMTX slower than the timeout -----------------------------------------------------------

def test_slow_mediamtx_cycles_end_inside_the_interval(spawn):
    interval, timeout = 0.5, 0.3
    mx = spawn(Standin, "--scenario", "demo")
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", "none",
                          "--output.json", "", "--poll.interval", str(interval),
                          "--mediamtx.timeout", str(timeout)])
    ex.wait_polls(1)
    mx.fault(kind="slow", delay=3, target="paths")
    mx.control("POST", "/stats/reset")
    first = ex.metrics()
    polls0 = float(first["mediamtx_exporter_polls_total"])
    fails0 = float(first["mediamtx_exporter_poll_failures_total"])
    t0 = time.monotonic()
    durations = set()
    for _ in range(200):  # ~4 s of samples, one per 20 ms
        if time.monotonic() - t0 >= 4.0:
            break
        m = ex.metrics()
        if m["mediamtx_up"] == "0":
            durations.add(float(m["mediamtx_exporter_poll_duration_seconds"]))
        time.sleep(0.02)
    elapsed = time.monotonic() - t0
    m = ex.metrics()
    polls = float(m["mediamtx_exporter_polls_total"]) - polls0
    fails = float(m["mediamtx_exporter_poll_failures_total"]) - fails0
    assert durations, "no failed cycle observed"
    # Each cycle gives up at the timeout (plus scheduling slack on a busy or ASan-slowed
    # machine), well inside the interval.
    assert max(durations) <= timeout + 0.25, sorted(durations)
    # Cycles keep their grid: never piling up, and skipping none on an idle machine.
    expected = elapsed / interval
    assert expected - 3 <= polls <= expected + 1, (polls, expected)
    assert fails >= polls - 1
    # One request per cycle reached the slow endpoint: no cycle overlapped another.
    assert mx.stats()["by_endpoint"].get("paths_list", 0) <= polls + 1
    assert "took longer than the interval" not in ex.stderr()
    mx.clear_faults()
    wait_until(lambda: ex.metric("mediamtx_up") == 1, what="recovery")
    assert ex.stop() == 0


# --- wrong types -------------------------------------------------------------------------------

@pytest.mark.parametrize("target,variant,cause", [
    ("paths", "counter_negative", "invalid or unexpected type of field"),
    ("paths", "counter_float", "invalid or unexpected type of field"),
    ("paths", "counter_overflow", "invalid or unexpected type of field"),
    ("paths", "counter_string", "invalid or unexpected type of field"),
    ("paths", "items_object", "no items array"),
    ("paths", "items_null", "no items array"),
    ("paths", "pagecount_string", "no valid pageCount"),
    ("srtconns", "counter_string", "invalid or unexpected type of field"),
    ("srtconns", "items_null", "no items array"),
])
def test_wrong_types_never_published(spawn, workdir, target, variant, cause):
    mx = spawn(Standin, "--scenario", "demo")
    mx.fault(kind="wrongtype", variant=variant, target=target)
    out = os.path.join(workdir, "streams.json")
    with open(out, "w") as f:
        f.write('["previous"]')
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", "none",
                          "--output.json", out], once=True)
    assert ex.wait() == 3
    log = ex.stderr()
    assert "poll failed: GET /v3/%s/list" % target in log and cause in log, log
    assert read(out) == b'["previous"]'
    assert len(log.strip().splitlines()) < 20  # a clear line, not a flood


# --- a response larger than the cap --------------------------------------------------------------

def test_huge_answer_aborted_at_cap_with_bounded_memory(spawn):
    mx = spawn(Standin, "--scenario", "demo")
    # Under ASan freed memory sits in a quarantine and would count as growth: turn it off
    # (the option means nothing to a build without ASan).
    asan = (os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=0").lstrip(":")
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", "none",
                          "--output.json", "", "--poll.interval", "1",
                          "--mediamtx.timeout", "0.9", "--mediamtx.max-response-size", "1MiB"],
               env={"ASAN_OPTIONS": asan})
    ex.wait_polls(1)
    base = vm_kib(ex.proc.pid, "VmHWM")
    mx.fault(kind="huge", bytes=64 << 20, target="paths")
    fails = ex.metric("mediamtx_exporter_poll_failures_total")
    wait_until(lambda: ex.metric("mediamtx_exporter_poll_failures_total") >= fails + 3,
               timeout=20, what="three capped polls")
    assert "byte cap" in ex.stderr()
    assert ex.metric("mediamtx_exporter_poll_duration_seconds") < 0.95
    peak = vm_kib(ex.proc.pid, "VmHWM")
    # 64 MiB offered, 1 MiB allowed: the peak may grow by the cap and its buffers, not more
    # (measured: 0.9 MiB in a release build, 4 MiB under ASan).
    assert peak - base < 8 * 1024, "peak RSS grew by %d KiB" % (peak - base)
    mx.clear_faults()
    wait_until(lambda: ex.metric("mediamtx_up") == 1, what="recovery")


# --- streams churning ---------------------------------------------------------------------------

def test_streams_churn_between_pages_and_cycles(spawn):
    mx = spawn(Standin, "--scenario", "empty", "--generate", "2500")
    mx.fault(kind="churn", target="paths")  # every page served shifts the list by one
    # Three pages a cycle; the stand-in needs ~0.2 s for them, hence a 1 s interval.
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", "none",
                          "--output.json", "", "--poll.interval", "1"])
    wait_until(lambda: ex.get("/api/streams/latest")[0] == 200, timeout=15,
               what="a first good poll")
    rng = random.Random(6)
    for cycle in range(6):
        added = "a-new-%02d" % cycle  # sorts before cam-*: the churn never removes it
        gone = "cam-%05d" % rng.randrange(1, 2000)
        mx.control("POST", "/paths", {"name": added, "source": {"type": "rtspSession"},
                                      "ready": True, "tracks": ["H264"]})
        mx.control("DELETE", "/paths/" + gone)
        restarted = "cam-%05d" % rng.randrange(2000, 2400)
        mx.control("POST", "/restart/" + restarted)

        def settled():
            status, _, body = ex.get("/api/streams/latest")
            names = names_of(body)
            return added in names and gone not in names and (names, body)
        names, body = wait_until(settled, timeout=15, what="cycle %d to show the change" % cycle)
        assert names == sorted(set(names)), "duplicate or unsorted names"
        for rec in json.loads(body):
            assert rec["bytesReceived"] >= 0 and rec["readers"] >= 0
        m = ex.metrics()  # parse_metrics fails on a duplicate series
        assert 'mediamtx_stream_ready{path="%s"}' % gone not in m
        assert 'mediamtx_stream_ready{path="%s"}' % added in m
        assert_nothing_negative(m)
    assert ex.stop() == 0


# --- Redis slow, Redis dying under large writes ---------------------------------------------

class DebugRedis(Redis):
    """redis-server with DEBUG allowed from loopback (Redis 7 refuses it by default)."""

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--logfile", os.path.join(self.dir, "log"),
             "--enable-debug-command", "local"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self.cmd("PING") == "PONG", timeout=10, what="redis-server")
        return self


def redis_connections(conn):
    """Connections redis-server has accepted so far, asked on `conn` (a RespConn, so that
    asking opens none)."""
    info = conn.cmd("INFO", "stats").decode()
    for line in info.splitlines():
        if line.startswith("total_connections_received:"):
            return int(line.split(":")[1])
    raise AssertionError("no total_connections_received")


def test_redis_slow_does_not_hold_polling(spawn, workdir):
    r = DebugRedis().start()
    try:
        mx = spawn(Standin, "--scenario", "demo")
        out = os.path.join(workdir, "streams.json")
        ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", r.url,
                              "--output.json", out, "--poll.interval", "0.3"])
        # the test's own questions on one connection, so that Redis counts the exporter's
        mon = RespConn(r.port, timeout=10)
        wait_until(lambda: mon.cmd("GET", "mediamtx:streams:latest"), what="the first write")
        wait_until(lambda: ex.metric("mediamtx_exporter_redis_up") == 1, what="redis_up 1")
        conns0 = redis_connections(mon)
        cycles0 = ex.metric("mediamtx_exporter_polls_total")
        sleeper = threading.Thread(target=lambda: r.cmd("DEBUG", "SLEEP", "3"))  # +1 conn
        t0 = time.monotonic()
        sleeper.start()
        polls0 = ex.metric("mediamtx_exporter_polls_total")
        file0 = read(out)
        worst = 0.0
        for _ in range(100):  # scrape through the sleep, bounded by count and time
            if time.monotonic() - t0 >= 2.5:
                break
            s = time.monotonic()
            m = ex.metrics()
            worst = max(worst, time.monotonic() - s)
            time.sleep(0.05)
        assert worst < 0.5, "a scrape took %.2f s while Redis slept" % worst
        assert float(m["mediamtx_exporter_polls_total"]) >= polls0 + 5  # polling went on
        assert m["mediamtx_up"] == "1" and m["mediamtx_exporter_redis_up"] == "0"
        assert read(out) != file0  # the file mirror is not held by Redis either
        sleeper.join(timeout=10)
        assert not sleeper.is_alive()
        before = mon.cmd("GET", "mediamtx:streams:latest")
        wait_until(lambda: ex.metric("mediamtx_exporter_redis_up") == 1, timeout=15,
                   what="redis_up back to 1")
        wait_until(lambda: mon.cmd("GET", "mediamtx:streams:latest") != before,
                   what="the next good cycle mirrored")
        # Each cycle's write is the retry (the poll interval is the backoff): at most one
        # connection per cycle, never a burst.
        conns = redis_connections(mon) - conns0 - 1  # the sleeper's own
        cycles = ex.metric("mediamtx_exporter_polls_total") - cycles0
        assert 1 <= conns <= cycles + 1, (conns, cycles)
        assert "retrying every cycle" in ex.stderr()
        assert ex.stop() == 0
        mon.close()
    finally:
        r.close()


def test_redis_killed_during_large_writes(spawn, redis):
    mx = spawn(Standin, "--scenario", "empty", "--generate", "8000")
    # 8 pages a cycle from the Python stand-in, on a busy CI machine: a roomy interval.
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", redis.url,
                          "--output.json", "", "--poll.interval", "2",
                          "--mediamtx.timeout", "1.8"])
    rng = random.Random(6)
    for _ in range(3):
        wait_until(lambda: redis.cmd("EXISTS", "mediamtx:streams:latest") == 1, timeout=30,
                   what="a write of the 8,000-stream document")
        time.sleep(rng.uniform(0, 0.5))  # a random point in the write cycle
        redis.stop()  # SIGKILL: the exporter may be in the middle of sending ~2.5 MB
        wait_until(lambda: ex.metric("mediamtx_exporter_redis_up") == 0, what="redis_up 0")
        assert ex.proc.poll() is None, "exporter died with Redis: " + ex.stderr()[-2000:]
        redis.start()
    wait_until(lambda: ex.metric("mediamtx_exporter_redis_up") == 1, timeout=15,
               what="redis_up 1 at the end")
    wait_until(lambda: ex.metric("mediamtx_up") == 1, what="mediamtx_up 1 at the end")
    assert_no_sanitizer_report(ex)
    assert ex.stop() == 0


# --- SIGTERM during a write ------------------------------------------------------------------------

class Reader(threading.Thread):
    """Reads the file over and over; every read must be the whole document. The clock is
    frozen, so every cycle writes the same bytes: the first read is parsed once, the others
    compared byte for byte (cheap, so the GIL stays free for the thread that watches for
    the temporary file)."""

    def __init__(self, path, want):
        super().__init__(daemon=True)
        self.path, self.want = path, want
        self.stop_flag = threading.Event()
        self.reads, self.error = 0, None

    def run(self):
        deadline = time.monotonic() + 90
        whole = None
        while not self.stop_flag.is_set() and time.monotonic() < deadline:
            try:
                blob = read(self.path)
            except FileNotFoundError:
                time.sleep(0.005)
                continue
            if whole is None:
                try:
                    n = len(json.loads(blob))
                except ValueError as e:
                    self.error = "torn file (%d bytes): %s" % (len(blob), e)
                    return
                if n != self.want:
                    self.error = "%d records, expected %d" % (n, self.want)
                    return
                whole = blob
            elif blob != whole:
                self.error = "torn or different file: %d bytes, whole is %d" % (
                    len(blob), len(whole))
                return
            self.reads += 1
            time.sleep(0.002)


def test_sigterm_during_a_file_write_leaves_no_torn_file(spawn, workdir):
    n = 8000  # ~2.5 MB of JSON: the write (and its fsync) lasts long enough to be caught
    mx = spawn(Standin, "--scenario", "empty", "--generate", str(n))
    mx.freeze_clock()
    out = os.path.join(workdir, "streams.json")
    for attempt in range(3):
        ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", "none",
                              "--output.json", out, "--poll.interval", "2",
                              "--mediamtx.timeout", "1.8"])
        reader = Reader(out, n)
        reader.start()
        try:
            # Catch the writer with its temporary file open, then stop it right there.
            wait_until(lambda: temp_files(workdir), timeout=30, interval=0.0005,
                       what="a write in progress")
            t0 = time.monotonic()
            assert ex.stop(signal.SIGTERM) == 0
            took = time.monotonic() - t0
        finally:
            reader.stop_flag.set()
            reader.join(timeout=10)
        assert took < 1.0, "stopped after %.2f s" % took
        assert reader.error is None, reader.error
        assert temp_files(workdir) == []
        assert len(names_of(read(out))) == n
        assert_no_sanitizer_report(ex)
    assert reader.reads > 0


# --- HTTP clients vanishing mid-response (SIGPIPE) ----------------------------------------------

REQUESTS = [
    b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: application/openmetrics-text\r\n\r\n",
    b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n",
    b"GET /api/streams/latest HTTP/1.1\r\nHost: x\r\n\r\n",
]


def vanish(port, request, abort):
    """Ask for a large body, read a little of it, and go away: with RST (abort) or a close
    with unread data (which resets too), while the server is still writing."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(request)
        got = b""
        for _ in range(100):  # the status line, then go
            chunk = s.recv(4096)
            got += chunk
            if not chunk or len(got) >= 12:
                break
        assert got.startswith(b"HTTP/1.1 200"), got[:100]
        if abort:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        s.close()


def test_clients_vanishing_mid_response(spawn):
    n = 10000
    mx = spawn(Standin, "--scenario", "empty", "--generate", str(n))
    mx.freeze_clock()
    ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", "none",
                          "--output.json", "", "--poll.interval", "3",
                          "--mediamtx.timeout", "2.7"])
    wait_until(lambda: ex.metric("mediamtx_streams", 0) == n, timeout=30,
               what="%d streams served" % n)
    status, _, body = ex.get("/metrics")
    # Far more than the socket buffers hold: the server is still writing when the client goes.
    assert len(body) > 3 << 20, "the body is too small to be cut off: %d" % len(body)
    fds0 = open_fds(ex.proc.pid)
    errors = []

    def client(k):
        try:
            for i in range(10):
                vanish(ex.port, REQUESTS[(k + i) % len(REQUESTS)], abort=(i % 2 == 0))
        except Exception as e:  # reported below, with the exporter's log
            errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert errors == [], errors
    assert ex.proc.poll() is None, "exporter died: " + ex.stderr()[-2000:]
    status, _, body = ex.get("/metrics")
    assert status == 200 and len(parse_metrics(body.decode())) > n
    # Every cut-off connection is closed again: descriptors return to where they were.
    wait_until(lambda: open_fds(ex.proc.pid) <= fds0 + 1, timeout=15,
               what="open fds back to %d (now %d)" % (fds0, open_fds(ex.proc.pid)))
    assert_no_sanitizer_report(ex)
    assert ex.stop() == 0


# --- the harness's teardown -----------------------------------------------------------------

STUB = """#!/bin/sh
# stands in for the exporter: %s
trap '%s' TERM
echo started >&2
while :; do sleep 0.05; done
"""


def _stub(workdir, name, on_term):
    path = os.path.join(workdir, name)
    with open(path, "w") as f:
        f.write(STUB % (name, on_term))
    os.chmod(path, 0o755)
    return path


def _teardown_error(ex):
    try:
        ex.close()
    except AssertionError as e:
        return str(e)
    return None


def test_teardown_checks_exit_status_and_sanitizer_reports(workdir):
    """Exporter.close() is what lets the sanitizer build of the suite see leaks and late
    reports: it ends the process with SIGTERM, as production does (LeakSanitizer reports
    only at a real exit, never after SIGKILL), and fails the test on a report in the log, a
    status other than the one expected, or no exit in time."""
    def run(name, on_term, **kw):
        ex = Exporter([], listen=False, binary=_stub(workdir, name, on_term), **kw)
        wait_until(lambda: "started" in ex.stderr(), what="the stub running")
        return ex

    clean = run("clean", "exit 0")
    assert _teardown_error(clean) is None
    # SIGTERM, not SIGKILL: the stub's handler runs and its report is seen
    leak = run("leak", 'echo "==9==ERROR: LeakSanitizer: detected memory leaks" >&2; exit 0')
    err = _teardown_error(leak)
    assert err and "sanitizer report" in err and "LeakSanitizer" in err, err
    ub = run("ub", 'echo "x.c:1:2: runtime error: signed integer overflow" >&2; exit 0')
    assert "sanitizer report" in (_teardown_error(ub) or "")
    status = run("status", "exit 1")
    err = _teardown_error(status)
    assert err and "exit status 1 after SIGTERM, expected 0" in err, err
    # a test may expect another status, or any, when it says so
    assert _teardown_error(run("expected", "exit 3", expected_exit=3)) is None
    assert _teardown_error(run("any", "exit 1", expected_exit=None)) is None
    stuck = run("stuck", "echo ignoring >&2")
    stuck.stop_timeout = 1
    err = _teardown_error(stuck)
    assert err and "no exit within 1 s of SIGTERM" in err, err
    # an exit nobody looked at is checked; one the test looked at is the test's business
    died = run("died", "exit 0")
    died.proc.send_signal(signal.SIGUSR1)  # default action: terminate
    died.proc.wait(timeout=10)
    err = _teardown_error(died)
    assert err and "exited by itself with status -%d" % signal.SIGUSR1 in err, err
    seen = run("seen", "exit 5")
    assert seen.stop() == 5
    assert _teardown_error(seen) is None
