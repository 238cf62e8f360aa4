#!/usr/bin/python3
"""The mediamtx-exporter benchmark (run it through ci/bench; docs/performance.md explains it).

Everything runs on this machine, on 127.0.0.1, in one go, and is stopped at the end:
redis-server, one nginx (a replay of MediaMTX's pages, and the same bytes the exporter
serves as static files), the MediaMTX stand-in, the floor program and up to three
exporters per stream count:

  A  polls the replay every --poll.interval with Redis and the file mirror on: CPU per
     cycle (/proc/<pid>/task/*/schedstat, cross-checked with /proc/<pid>/stat), the phase
     split from its own debug line, RSS, VmHWM, fds, and freshness against the replay;
  B  polls the live stand-in: requests and TCP connections per cycle as the stand-in
     counted them, the stand-in's own cost per cycle, and freshness end to end;
  C  polled the replay once and serves it (long interval): wrk against its /metrics
     (both formats, with and without gzip) and /api/streams/latest, and against nginx
     serving the very same bytes from files.

Why a replay: the stand-in is Python and renders 10,000 paths in seconds per cycle, which
would bound the poll interval and disturb the machine. With its clock frozen its answers
do not change, so they are recorded once (its cost is measured and shown, then excluded)
and nginx serves them, as fast as a real MediaMTX would. The exporter's CPU comes from its
own /proc entries only, never from the stand-in's or nginx's.

Standard library only; Debian's /usr/bin/python3.
"""

import argparse
import gzip
import http.client
import json
import math
import os
import random
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
STANDIN = os.path.join(SOURCE, "tests", "standin", "mediamtx_standin.py")
PYTHON = "/usr/bin/python3"
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

OM_ACCEPT = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
ENDPOINTS = [  # name, exporter path, request headers, static file
    ("metrics prom", "/metrics", {}, "metrics.prom"),
    ("metrics prom gzip", "/metrics", {"Accept-Encoding": "gzip"}, "metrics.prom.gz"),
    ("metrics om", "/metrics", {"Accept": OM_ACCEPT}, "metrics.om"),
    ("metrics om gzip", "/metrics", {"Accept": OM_ACCEPT, "Accept-Encoding": "gzip"},
     "metrics.om.gz"),
    ("streams json", "/api/streams/latest", {}, "streams.json"),
]


def log(msg):
    sys.stderr.write("[bench %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout, what, interval=0.01):
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # a service may still be coming up
            last = e
        if time.monotonic() > deadline:
            raise RuntimeError("timed out after %.0f s waiting for %s%s" %
                               (timeout, what, " (%r)" % last if last else ""))
        time.sleep(interval)


def http_get(port, path, headers=None, timeout=10):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


# --- processes ------------------------------------------------------------------------------

class Procs:
    """Every process the benchmark starts, stopped in reverse order, by pid only."""

    def __init__(self):
        self.procs = []

    def start(self, argv, name, **kw):
        p = subprocess.Popen(argv, **kw)
        p.bench_name = name
        self.procs.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM, timeout=10):
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p in self.procs:
            self.procs.remove(p)

    def stop_all(self):
        for p in reversed(list(self.procs)):
            try:
                self.stop(p)
            except Exception as e:  # keep stopping the others
                log("stopping %s: %s" % (p.bench_name, e))


# --- /proc ----------------------------------------------------------------------------------

def proc_cpu_ns(pid):
    """CPU time of every thread of pid, in ns (schedstat: exact, unlike the 10 ms ticks)."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that just ended
    return total


def proc_stat_ticks(pid):
    """utime + stime from /proc/<pid>/stat (clock ticks; includes ended threads)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"):
                out[k] = int(v.split()[0])  # kB for Vm*, Rss*
    return out


def proc_pss_kb(pid):
    """Proportional set size: shared pages (the libraries) divided among the processes
    that map them, the process's fair share of memory."""
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def proc_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


# --- services -------------------------------------------------------------------------------

class Redis:
    def __init__(self, procs, workdir):
        self.port = free_port()
        d = os.path.join(workdir, "redis")
        os.makedirs(d)
        self.proc = procs.start(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", d, "--logfile", os.path.join(d, "log")],
            "redis-server", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self.cmd("PING") == b"+PONG", 10, "redis-server")

    def cmd(self, *args):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(resp(args))
            return s.recv(65536).split(b"\r\n")[0]


def resp(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Subscriber:
    """A Redis SUBSCRIBE connection, read without blocking: tells when a published message
    containing a marker arrived (SET and PUBLISH go in one MULTI/EXEC)."""

    def __init__(self, port, channel):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.sendall(resp(["SUBSCRIBE", channel]))
        self.buf = b""
        wait_until(lambda: self._fill(0.05) or b"subscribe" in self.buf, 5, "SUBSCRIBE")
        self.buf = b""

    def _fill(self, timeout):
        r, _, _ = select.select([self.sock], [], [], timeout)
        if r:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise RuntimeError("redis closed the subscription")
            self.buf += chunk
        return False

    def seen(self, marker):
        """Drain what arrived; True when the marker was in it (the buffer is then reset)."""
        self._fill(0)
        while True:
            r, _, _ = select.select([self.sock], [], [], 0)
            if not r:
                break
            self._fill(0)
        if marker in self.buf:
            self.buf = b""
            return True
        self.buf = self.buf[-(len(marker) + 64):]  # a marker may straddle two reads
        return False

    def close(self):
        self.sock.close()


NGINX_CONF = """
worker_processes {workers};
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  client_body_temp_path {dir}/tmp/body;
  proxy_temp_path {dir}/tmp/proxy;
  fastcgi_temp_path {dir}/tmp/fastcgi;
  uwsgi_temp_path {dir}/tmp/uwsgi;
  scgi_temp_path {dir}/tmp/scgi;
  types {{ }}
  # A recorded MediaMTX: the frozen stand-in's answers, by the exporter's query strings.
  server {{
    listen 127.0.0.1:{replay_port};
    root {dir}/replay;
    default_type "application/json; charset=utf-8";
    location = /v3/paths/list {{ try_files /paths_$arg_page.json =404; }}
    location = /v3/srtconns/list {{ try_files /srtconns_$arg_page.json =404; }}
    location = /v3/info {{ try_files /info.json =404; }}
    location / {{ return 404; }}
  }}
  # The bytes the exporter serves, as static files: the limit for serving them.
  server {{
    listen 127.0.0.1:{static_port};
    root {dir}/static;
    location = /metrics.prom {{ default_type "text/plain; version=0.0.4; charset=utf-8"; }}
    location = /metrics.prom.gz {{ default_type "text/plain; version=0.0.4; charset=utf-8";
                                   add_header Content-Encoding gzip; }}
    location = /metrics.om {{
      default_type "application/openmetrics-text; version=1.0.0; charset=utf-8"; }}
    location = /metrics.om.gz {{
      default_type "application/openmetrics-text; version=1.0.0; charset=utf-8";
      add_header Content-Encoding gzip; }}
    location = /streams.json {{ default_type application/json;
                                add_header Cache-Control no-store; }}
    location / {{ return 404; }}
  }}
}}
"""


class Nginx:
    def __init__(self, procs, workdir, workers):
        self.dir = os.path.join(workdir, "nginx")
        for d in ("replay", "static", "tmp"):
            os.makedirs(os.path.join(self.dir, d))
        os.chmod(workdir, 0o755)  # workers run as nobody and read these files
        self.replay_dir = os.path.join(self.dir, "replay")
        self.static_dir = os.path.join(self.dir, "static")
        self.replay_port, self.static_port = free_port(), free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(dir=self.dir, workers=workers, replay_port=self.replay_port,
                                      static_port=self.static_port))
        self.proc = procs.start(["nginx", "-p", self.dir, "-e", os.path.join(self.dir, "error.log"),
                                 "-c", conf, "-g", "daemon off;"], "nginx",
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: http_get(self.replay_port, "/")[0] == 404, 10, "nginx")

    def clear_replay(self):
        for name in os.listdir(self.replay_dir):
            os.unlink(os.path.join(self.replay_dir, name))

    def put(self, sub, name, data):
        """Write a file atomically (nginx opens files per request)."""
        d = self.replay_dir if sub == "replay" else self.static_dir
        tmp = os.path.join(d, ".%s.tmp" % name)
        with open(tmp, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, os.path.join(d, name))


class Standin:
    def __init__(self, procs, workdir, n, api_version):
        self.dir = tempfile.mkdtemp(prefix="standin-", dir=workdir)
        portfile = os.path.join(self.dir, "ports.json")
        self.log = open(os.path.join(self.dir, "log"), "wb")
        t0 = time.monotonic()
        self.proc = procs.start([PYTHON, STANDIN, "--port-file", portfile, "--scenario", "empty",
                                 "--generate", str(n), "--api-version", api_version],
                                "stand-in", stdout=self.log, stderr=subprocess.STDOUT)
        ports = wait_until(lambda: json.load(open(portfile)) if os.path.exists(portfile) else None,
                           120, "the stand-in's port file", interval=0.05)
        self.startup_s = time.monotonic() - t0
        self.api, self.control_port = ports["api"], ports["control"]
        self.control("POST", "/clock", {"freeze": True})  # answers stop changing: replayable

    def control(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.control_port, path),
                                     data=data, method=method)
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)


class Exporter:
    def __init__(self, procs, workdir, binary, name, api_url, interval, extra=(), timeout=None):
        self.dir = tempfile.mkdtemp(prefix="exporter-%s-" % name, dir=workdir)
        self.port = free_port()
        self.log_path = os.path.join(self.dir, "stderr.log")
        argv = [binary, "--mediamtx.api-url", api_url, "--poll.interval", "%gs" % interval,
                "--web.listen-address", "127.0.0.1:%d" % self.port, "--log.level", "debug"]
        if timeout:
            argv += ["--mediamtx.timeout", "%gs" % timeout]
        argv += list(extra)
        self.logf = open(self.log_path, "wb")
        self.proc = procs.start(argv, "exporter " + name, stdout=self.logf, stderr=self.logf,
                                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        self.pid = self.proc.pid
        self.interval = interval
        self._pos = 0
        self.cycles = []  # parsed "poll ok" lines, in order

    def read_log(self):
        with open(self.log_path, "rb") as f:
            f.seek(self._pos)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self._pos += end
        for line in data[:end].decode("utf-8", "replace").splitlines():
            c = parse_cycle_line(line)
            if c:
                self.cycles.append(c)
            elif " error " in line or "poll failed" in line:
                log("exporter: %s" % line.strip())
        if self.proc.poll() is not None:
            raise RuntimeError("exporter exited (%s); see %s" % (self.proc.returncode,
                                                                self.log_path))
        return len(self.cycles)

    def wait_cycles(self, count, timeout):
        return wait_until(lambda: self.read_log() >= count, timeout,
                          "%d poll cycles of the exporter" % count, interval=0.005)


CYCLE_RE = re.compile(
    r"poll ok: (\d+) streams, (\d+) requests, (\d+) bytes, ([\d.]+) s; "
    r"cpu ms: fetch ([\d.]+) parse ([\d.]+) aggregate ([\d.]+) render ([\d.]+) mirror ([\d.]+); "
    r"wall ms: fetch ([\d.]+) parse ([\d.]+) aggregate ([\d.]+) render ([\d.]+) mirror ([\d.]+)")
PHASES = ("fetch", "parse", "aggregate", "render", "mirror")


def parse_cycle_line(line):
    m = CYCLE_RE.search(line)
    if not m:
        return None
    g = m.groups()
    c = {"streams": int(g[0]), "requests": int(g[1]), "bytes": int(g[2]), "poll_s": float(g[3])}
    for i, ph in enumerate(PHASES):
        c["cpu_" + ph] = float(g[4 + i])
        c["wall_" + ph] = float(g[9 + i])
    return c


# --- measurements ---------------------------------------------------------------------------

def page_size():
    with open(os.path.join(SOURCE, "include", "api_poll.h")) as f:
        return int(re.search(r"#define MXE_POLL_PAGE_SIZE (\d+)", f.read()).group(1))


def record_pages(standin, nginx):
    """GET every page the exporter will ask for from the frozen stand-in, into the replay.
    Returns the stand-in's wall and CPU time for one whole cycle's worth of answers."""
    nginx.clear_replay()
    per = page_size()
    conn = http.client.HTTPConnection("127.0.0.1", standin.api, timeout=60)
    cpu0, t0 = proc_stat_ticks(standin.proc.pid), time.monotonic()
    requests = 0
    for kind in ("paths", "srtconns"):
        page, pages = 0, 1
        while page < pages:
            conn.request("GET", "/v3/%s/list?itemsPerPage=%d&page=%d" % (kind, per, page))
            r = conn.getresponse()
            body = r.read()
            requests += 1
            if r.status != 200:
                raise RuntimeError("stand-in %s page %d: HTTP %d" % (kind, page, r.status))
            pages = int(re.search(rb'"pageCount":(\d+)', body[:200]).group(1))
            nginx.put("replay", "%s_%d.json" % (kind, page), body)
            page += 1
    conn.request("GET", "/v3/info")
    r = conn.getresponse()
    body = r.read()
    requests += 1
    if r.status == 200:
        nginx.put("replay", "info.json", body)
    conn.close()
    wall = time.monotonic() - t0
    cpu = (proc_stat_ticks(standin.proc.pid) - cpu0) / TICKS
    return {"wall_ms": wall * 1000, "cpu_ms": cpu * 1000, "requests": requests}


def run_floor(floor_bin, port, cycles, interval_ms):
    out = subprocess.run([floor_bin, "http://127.0.0.1:%d" % port, str(cycles), str(interval_ms)],
                         check=True, capture_output=True, text=True, timeout=600).stdout
    return json.loads(out)


# What Prometheus 2.x sends when it scrapes.
SCRAPE_HEADERS = {
    "Accept": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
              "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "Accept-Encoding": "gzip",
}


def scrape(exp):
    status, _, body = http_get(exp.port, "/metrics", SCRAPE_HEADERS, timeout=30)
    if status != 200 or not body:
        raise RuntimeError("scrape of exporter A: HTTP %d" % status)


def measure_cycles(exp, warmup, cycles, scrape_each=False):
    """CPU per cycle of exporter A from /proc, over `cycles` whole cycles after `warmup`.
    With scrape_each, /metrics is scraped as Prometheus would (OpenMetrics, gzip) once
    after every cycle: the exporter renders it then, on the first request of a cycle."""
    exp.wait_cycles(warmup, 60 + warmup * exp.interval * 4)
    n0 = exp.read_log()
    cpu0, ticks0 = proc_cpu_ns(exp.pid), proc_stat_ticks(exp.pid)
    t0 = time.monotonic()
    rss = []
    deadline = t0 + 60 + cycles * exp.interval * 4
    # (cycles logged, CPU ns) each time a cycle shows up in the log: per-cycle deltas,
    # whose median is the number reported, as the floor reports its median.
    marks = [(n0, cpu0)]
    while exp.read_log() < n0 + cycles:
        if len(exp.cycles) > marks[-1][0]:
            if scrape_each:  # the scrape belongs to the cycle just logged
                scrape(exp)
            marks.append((len(exp.cycles), proc_cpu_ns(exp.pid)))
        rss.append(proc_status(exp.pid)["VmRSS"])
        if time.monotonic() > deadline:
            raise RuntimeError("exporter A did not complete %d cycles" % cycles)
        time.sleep(0.02)  # the exporter sleeps between cycles: no need to be closer
    if scrape_each:  # the last cycle's scrape belongs to the window too
        scrape(exp)
    time.sleep(min(0.1, exp.interval / 4))  # let the mirror worker finish the last write
    cpu1, ticks1 = proc_cpu_ns(exp.pid), proc_stat_ticks(exp.pid)
    n1 = len(exp.cycles)
    marks.append((n1, cpu1))
    per_cycle = [(b[1] - a[1]) / 1e6 / (b[0] - a[0]) for a, b in zip(marks, marks[1:])
                 if b[0] > a[0]]
    st = proc_status(exp.pid)
    rss.append(st["VmRSS"])
    window = exp.cycles[n0:n1]
    res = {
        "cycles": n1 - n0,
        "cpu_ms": statistics.median(per_cycle),
        "cpu_ms_mean": (cpu1 - cpu0) / 1e6 / (n1 - n0),
        "cpu_ms_stat": (ticks1 - ticks0) * 1000.0 / TICKS / (n1 - n0),
        "rss_kb_first": rss[0], "rss_kb_last": rss[-1], "rss_kb_median": statistics.median(rss),
        "rss_kb_max": max(rss), "hwm_kb": st["VmHWM"], "threads": st["Threads"],
        "rss_anon_kb": st["RssAnon"], "rss_file_kb": st["RssFile"], "pss_kb": proc_pss_kb(exp.pid),
        "fds": proc_fds(exp.pid),
        "requests": window[-1]["requests"], "bytes": window[-1]["bytes"],
        "streams": window[-1]["streams"],
        "poll_wall_ms": statistics.median(c["poll_s"] for c in window) * 1000,
    }
    for ph in PHASES:
        res["cpu_" + ph] = statistics.median(c["cpu_" + ph] for c in window)
        res["wall_" + ph] = statistics.median(c["wall_" + ph] for c in window)
    return res


def soak(exp, cycles):
    """RSS after each of `cycles` more cycles, each scraped once: is it flat? Compares the
    highest RSS of the first and of the last third."""
    n0 = exp.read_log()
    rss = []
    while len(rss) < cycles:
        exp.wait_cycles(n0 + len(rss) + 1, 60 + exp.interval * 4)
        scrape(exp)
        rss.append(proc_status(exp.pid)["VmRSS"])
    third = max(1, cycles // 3)
    return {"cycles": cycles, "rss_kb_first_third_max": max(rss[:third]),
            "rss_kb_last_third_max": max(rss[-third:]), "rss_kb_min": min(rss),
            "rss_kb_max": max(rss)}


def first_item_counters(page):
    """(start, end) of the first item of a paths page."""
    start = page.index(b'"items":[{') + 9
    nxt = page.find(b',{"name":', start)
    return start, (nxt if nxt > 0 else len(page))


def freshness_replay(exp, nginx, redis_port, channel, file_path, samples):
    """A counter of the first path changes in the replayed page 0: time until Redis (the
    published message), the file and /metrics carry it."""
    path0 = os.path.join(nginx.replay_dir, "paths_0.json")
    with open(path0, "rb") as f:
        page = f.read()
    s, e = first_item_counters(page)
    name = re.search(rb'"name":"([^"]+)"', page[s:e]).group(1).decode()
    sub = Subscriber(redis_port, channel)
    results = []
    try:
        for k in range(samples):
            marker = 987654320000 + random.randrange(10000) * 10 + k
            item = re.sub(rb'"(inboundBytes|bytesReceived)":\d+',
                          lambda m: b'"%s":%d' % (m.group(1), marker), page[s:e])
            time.sleep(random.uniform(0, exp.interval))  # a random point of the cycle grid
            want = b'"bytesReceived":%d' % marker
            nginx.put("replay", "paths_0.json", page[:s] + item + page[e:])
            t0 = time.monotonic()
            results.append(watch(exp, t0, sub, want, file_path, name, want,
                                 ('mediamtx_stream_received_bytes_total{path="%s"} %d'
                                  % (name, marker)).encode()))
    finally:
        nginx.put("replay", "paths_0.json", page)
        sub.close()
    return summarize_freshness(results, exp.interval)


def freshness_live(exp, standin, redis_port, channel, file_path, samples):
    """A path is added to the live stand-in: time until Redis, the file and /metrics show it."""
    sub = Subscriber(redis_port, channel)
    results = []
    try:
        for k in range(samples):
            name = "bench-fresh-%d-%d" % (k, random.randrange(1 << 30))
            time.sleep(random.uniform(0, exp.interval))
            standin.control("POST", "/paths", {"name": name, "source": {"type": "rtspSession"},
                                               "ready": True, "tracks": ["H264"]})
            t0 = time.monotonic()
            want = b'"name":"%s"' % name.encode()
            results.append(watch(exp, t0, sub, want, file_path, name, want,
                                 ('mediamtx_stream_ready{path="%s"} 1' % name).encode()))
    finally:
        sub.close()
    return summarize_freshness(results, exp.interval)


def watch(exp, t0, sub, redis_want, file_path, name, record_want, metrics_line):
    """Poll Redis (subscription), the file (stat, then read) and the exporter's view until
    each shows the change; seconds since t0 for each. The view is watched through
    /api/streams/<name>, which is published in the same view as /metrics (one pointer
    swap), and /metrics is then checked to carry the new value."""
    seen = {}
    deadline = t0 + exp.interval * 3 + 5
    conn = http.client.HTTPConnection("127.0.0.1", exp.port, timeout=5)
    last_stat = None
    try:
        while len(seen) < 3:
            now = time.monotonic()
            if now > deadline:
                raise RuntimeError("change not visible after %.1f s (seen: %s)" %
                                   (now - t0, sorted(seen)))
            if "redis" not in seen and sub.seen(redis_want):
                seen["redis"] = time.monotonic() - t0
            if "file" not in seen:
                try:
                    st = os.stat(file_path)
                    key = (st.st_ino, st.st_mtime_ns, st.st_size)
                    if key != last_stat:
                        last_stat = key
                        with open(file_path, "rb") as f:
                            if redis_want in f.read():
                                seen["file"] = time.monotonic() - t0
                except FileNotFoundError:
                    pass
            if "metrics" not in seen:
                conn.request("GET", "/api/streams/" + name)
                r = conn.getresponse()
                body = r.read()
                if r.status == 200 and record_want in body:
                    seen["metrics"] = time.monotonic() - t0
                    st_, _, m = http_get(exp.port, "/metrics")
                    if metrics_line not in m:
                        raise RuntimeError("/metrics lacks %r in the view that has the change"
                                           % metrics_line)
            time.sleep(0.005)
    finally:
        conn.close()
    return seen


def summarize_freshness(results, interval):
    out = {"samples": len(results), "interval_s": interval}
    for k in ("redis", "file", "metrics"):
        v = [r[k] * 1000 for r in results]
        out[k + "_ms_median"] = statistics.median(v)
        out[k + "_ms_max"] = max(v)
    return out


def requests_per_cycle(exp, standin, cycles):
    """Requests and new TCP connections per cycle, as the stand-in counted them."""
    n = exp.wait_cycles(2, 60 + exp.interval * 8)
    exp.wait_cycles(n + 1, 60 + exp.interval * 4)  # right after a cycle ended
    standin.control("POST", "/stats/reset")
    cpu0 = proc_stat_ticks(standin.proc.pid)
    base = len(exp.cycles)
    exp.wait_cycles(base + cycles, 60 + exp.interval * (cycles + 2) * 2)
    st = standin.control("GET", "/stats")
    cpu = (proc_stat_ticks(standin.proc.pid) - cpu0) * 1000.0 / TICKS
    done = len(exp.cycles) - base
    window = exp.cycles[base:]
    return {"cycles": done, "requests_per_cycle": st["requests"] / done,
            "connections": st["connections"],
            "standin_cpu_ms_per_cycle": cpu / done,
            "poll_wall_ms": statistics.median(c["poll_s"] for c in window) * 1000}


WRK_LAT = re.compile(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", re.M)
WRK_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)
WRK_NON2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
WRK_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def wrk(url, headers, seconds, connections):
    argv = ["wrk", "-t2", "-c%d" % connections, "-d%ds" % seconds, "--latency", "--timeout", "5s"]
    for k, v in headers.items():
        argv += ["-H", "%s: %s" % (k, v)]
    out = subprocess.run(argv + [url], check=True, capture_output=True, text=True,
                         timeout=seconds + 30).stdout
    lat = WRK_LAT.search(out)
    rps = WRK_RPS.search(out)
    if not lat or not rps:
        raise RuntimeError("cannot read wrk's output:\n" + out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[lat.group(2)]
    bad = WRK_NON2XX.search(out)
    errs = WRK_ERRORS.search(out)
    return {"rps": float(rps.group(1)), "p99_ms": float(lat.group(1)) * scale,
            "non2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": sum(map(int, errs.groups())) if errs else 0}


def serving(exp, nginx, seconds, connections, endpoints):
    """The served bytes go to nginx as files; then wrk against both, alternately."""
    wait_until(lambda: http_get(exp.port, "/readyz")[0] == 200, 60, "exporter C ready")
    sizes = {}
    bodies = {}
    for name, path, headers, fname in ENDPOINTS:
        status, hdrs, body = http_get(exp.port, path, headers)
        if status != 200:
            raise RuntimeError("exporter C %s: HTTP %d" % (name, status))
        if "gzip" in headers.get("Accept-Encoding", "") and hdrs.get("content-encoding") != "gzip":
            raise RuntimeError("exporter C %s: not gzip" % name)
        nginx.put("static", fname, body)
        sizes[fname] = len(body)
        bodies[fname] = body
    for plain in ("metrics.prom", "metrics.om"):
        if gzip.decompress(bodies[plain + ".gz"]) != bodies[plain]:
            raise RuntimeError("%s.gz does not decompress to %s" % (plain, plain))
    out = {"sizes": sizes, "endpoints": {}}
    fds_load = []
    for name, path, headers, fname in ENDPOINTS:
        if name not in endpoints:
            continue
        st, _, body = http_get(nginx.static_port, "/" + fname, headers)
        if st != 200 or body != bodies[fname]:
            raise RuntimeError("nginx does not serve the same bytes for " + fname)
        e = wrk("http://127.0.0.1:%d%s" % (exp.port, path), headers, seconds, connections)
        fds_load.append(proc_fds(exp.pid))
        n = wrk("http://127.0.0.1:%d/%s" % (nginx.static_port, fname), headers, seconds,
                connections)
        for r, who in ((e, "exporter"), (n, "nginx")):
            if r["non2xx"] or r["socket_errors"]:
                log("warning: %s %s: %d non-2xx, %d socket errors" %
                    (who, name, r["non2xx"], r["socket_errors"]))
        out["endpoints"][name] = {"exporter": e, "nginx": n, "ratio": e["rps"] / n["rps"]}
        log("  %-18s exporter %8.0f req/s p99 %6.2f ms | nginx %8.0f req/s p99 %6.2f ms" %
            (name, e["rps"], e["p99_ms"], n["rps"], n["p99_ms"]))
    out["fds_under_load"] = max(fds_load) if fds_load else None
    out["rss_kb_after_load"] = proc_status(exp.pid)["VmRSS"]
    out["hwm_kb_after_load"] = proc_status(exp.pid)["VmHWM"]
    return out


# --- one stream count -----------------------------------------------------------------------

def run_size(n, a, procs, workdir, redis, nginx):
    r = {"streams": n}
    log("%d streams: starting the stand-in (%s)" % (n, a.api_version))
    standin = Standin(procs, workdir, n, a.api_version)
    r["standin_startup_s"] = standin.startup_s
    r["standin_record"] = record_pages(standin, nginx)
    log("  stand-in: one cycle's answers take %.0f ms wall, %.0f ms CPU of the stand-in "
        "(excluded)" % (r["standin_record"]["wall_ms"], r["standin_record"]["cpu_ms"]))

    interval = a.interval if n < 5000 else a.interval_large
    log("  floor: %d cycles %g s apart" % (a.cycles, interval))
    r["floor"] = run_floor(a.floor, nginx.replay_port, a.cycles, int(interval * 1000))

    key = "bench:%d" % n
    chan = key + ":updates"
    fa = os.path.join(workdir, "streams-A-%d.json" % n)
    exp_a = Exporter(procs, workdir, a.bin, "A%d" % n, "http://127.0.0.1:%d" % nginx.replay_port,
                     interval, ["--redis.url", "redis://127.0.0.1:%d/0" % redis.port,
                                "--redis.key", key, "--redis.channel", chan,
                                "--output.json", fa])
    log("  exporter A: %d warm-up + %d measured cycles %g s apart" % (a.warmup, a.cycles, interval))
    r["exporter"] = measure_cycles(exp_a, a.warmup, a.cycles)
    log("  exporter A: %.2f ms CPU per cycle (floor %.2f ms), RSS %.1f MiB" %
        (r["exporter"]["cpu_ms"], r["floor"]["cpu_ms_median"], r["exporter"]["rss_kb_median"] / 1024))
    r["scraped"] = measure_cycles(exp_a, 0, a.cycles, scrape_each=True)
    log("  exporter A, scraped after every cycle: %.2f ms CPU per cycle, RSS %.1f MiB" %
        (r["scraped"]["cpu_ms"], r["scraped"]["rss_kb_median"] / 1024))
    # The machine's speed drifts by tens of percent within minutes: more rounds of floor,
    # exporter, exporter scraped, back to back, and the ratios' medians are the verdict.
    rounds = [(r["floor"]["cpu_ms_median"], r["exporter"]["cpu_ms"], r["scraped"]["cpu_ms"])]
    for k in range(1, a.rounds):
        exp_a.wait_cycles(exp_a.read_log() + 1, 60 + exp_a.interval * 4)
        exp_a.proc.send_signal(signal.SIGSTOP)  # right after a cycle: nothing in flight
        try:
            f = run_floor(a.floor, nginx.replay_port, a.cycles, int(interval * 1000))
        finally:
            exp_a.proc.send_signal(signal.SIGCONT)
        e = measure_cycles(exp_a, exp_a.read_log() + 2, a.cycles)
        sc = measure_cycles(exp_a, 0, a.cycles, scrape_each=True)
        rounds.append((f["cpu_ms_median"], e["cpu_ms"], sc["cpu_ms"]))
        log("  round %d: floor %.2f ms, exporter %.2f ms, scraped %.2f ms" % ((k + 1,) + rounds[-1]))
    r["rounds"] = rounds
    r["cpu"] = {
        "floor_ms": statistics.median(x[0] for x in rounds),
        "exporter_ms": statistics.median(x[1] for x in rounds),
        "scraped_ms": statistics.median(x[2] for x in rounds),
        "ratio": statistics.median(x[1] / x[0] for x in rounds),
        "ratio_scraped": statistics.median(x[2] / x[0] for x in rounds),
    }
    log("  freshness against the replay: %d samples" % a.fresh)
    r["fresh_replay"] = freshness_replay(exp_a, nginx, redis.port, chan, fa, a.fresh)
    if a.soak:
        log("  exporter A: %d more cycles for the memory trend" % a.soak)
        r["exporter"]["soak"] = soak(exp_a, a.soak)
    st = proc_status(exp_a.pid)
    r["exporter"]["rss_kb_end"] = st["VmRSS"]
    r["exporter"]["hwm_kb_end"] = st["VmHWM"]
    r["exporter"]["cycles_total"] = exp_a.read_log()
    procs.stop(exp_a.proc)

    # B: the live stand-in (its clock keeps frozen; added paths still show up).
    sw = r["standin_record"]["wall_ms"] / 1000
    live_interval = max(a.interval, math.ceil((sw * 1.5 + 0.3) * 2) / 2)
    fb = os.path.join(workdir, "streams-B-%d.json" % n)
    keyb = "bench:live:%d" % n
    exp_b = Exporter(procs, workdir, a.bin, "B%d" % n, "http://127.0.0.1:%d" % standin.api,
                     live_interval, ["--redis.url", "redis://127.0.0.1:%d/0" % redis.port,
                                     "--redis.key", keyb, "--redis.channel", keyb + ":updates",
                                     "--output.json", fb], timeout=live_interval * 0.9)
    log("  exporter B on the live stand-in, every %g s" % live_interval)
    r["live"] = requests_per_cycle(exp_b, standin, a.live_cycles)
    r["fresh_live"] = freshness_live(exp_b, standin, redis.port, keyb + ":updates", fb,
                                     a.fresh_live)
    procs.stop(exp_b.proc)
    procs.stop(standin.proc)

    # C: serving. The poll interval is long so that the bytes stay the same meanwhile.
    exp_c = Exporter(procs, workdir, a.bin, "C%d" % n, "http://127.0.0.1:%d" % nginx.replay_port,
                     3600, ["--redis.url", "none", "--output.json", ""], timeout=10)
    log("  serving: wrk -c%d, %d s per endpoint and server" % (a.connections, a.wrk_seconds))
    r["serving"] = serving(exp_c, nginx, a.wrk_seconds, a.connections, a.endpoints)
    procs.stop(exp_c.proc)
    return r


# --- the table ------------------------------------------------------------------------------

def fmt(v, spec="%.2f"):
    return "–" if v is None else spec % v


def build_table(res, a):
    sizes = [r["streams"] for r in res["runs"]]
    runs = {r["streams"]: r for r in res["runs"]}
    rows = []

    def row(label, fn, target=""):
        cells = []
        for n in sizes:
            try:
                cells.append(fn(runs[n]))
            except (KeyError, TypeError, ZeroDivisionError):
                cells.append("–")
        rows.append([label] + cells + [target])

    row("requests per cycle (exporter / stand-in counted)",
        lambda r: "%d / %.0f" % (r["exporter"]["requests"], r["live"]["requests_per_cycle"]),
        "a few per list")
    row("new TCP connections to MediaMTX over %d live cycles" % a.live_cycles,
        lambda r: "%d" % r["live"]["connections"], "0 (keep-alive)")
    row("bytes read per cycle", lambda r: "%.2f MB" % (r["exporter"]["bytes"] / 1e6))
    row("**exporter CPU per cycle**, first round (/proc, all threads; median; mean)",
        lambda r: "**%.2f ms**; %.2f ms" % (r["exporter"]["cpu_ms"], r["exporter"]["cpu_ms_mean"]))
    for ph in PHASES:
        row("  ├ %s (own timing, median)" % ph, lambda r, ph=ph: "%.2f ms" % r["exporter"]["cpu_" + ph])
    row("  └ not in a phase (the median minus the phases' medians)",
        lambda r: "%.2f ms" % (r["exporter"]["cpu_ms"] -
                               sum(r["exporter"]["cpu_" + p] for p in PHASES)))
    row("**floor CPU per cycle**, first round (fetch + jsmn once)",
        lambda r: "**%.2f ms**" % r["floor"]["cpu_ms_median"])
    row("  ├ fetch", lambda r: "%.2f ms" % r["floor"]["fetch_cpu_ms_median"])
    row("  └ tokenize", lambda r: "%.2f ms" % r["floor"]["tokenize_cpu_ms_median"])
    row("ratio exporter / floor, this first round",
        lambda r: "%.2f×" % (r["exporter"]["cpu_ms"] / r["floor"]["cpu_ms_median"]))
    row("exporter CPU per cycle, scraped once per cycle as Prometheus does (/proc; median)",
        lambda r: "%.2f ms" % r["scraped"]["cpu_ms"])
    row("  of which the scrape: rendering /metrics (OpenMetrics, gzip) and serving it",
        lambda r: "%.2f ms" % (r["scraped"]["cpu_ms"] - r["exporter"]["cpu_ms"]))
    row("rounds of floor / exporter / exporter scraped, back to back (ms)",
        lambda r: "; ".join("%.1f / %.1f / %.1f" % x for x in r["rounds"]))
    row("**ratio exporter / floor** (median of the rounds' ratios)",
        lambda r: "**%.2f×**" % r["cpu"]["ratio"], "≤ 2× at 1,000 and 10,000")
    row("  ratio scraped once per cycle / floor (median of the rounds)",
        lambda r: "%.2f×" % r["cpu"]["ratio_scraped"])
    row("  ratio of the same work: fetch + parse + aggregate / floor",
        lambda r: "%.2f×" % (sum(r["exporter"]["cpu_" + p] for p in ("fetch", "parse", "aggregate"))
                             / r["floor"]["cpu_ms_median"]))
    row("exporter CPU per stream (median of the rounds)",
        lambda r: "%.2f µs" % (r["cpu"]["exporter_ms"] * 1000 / r["streams"]))
    big = [n for n in sizes if n >= 1000]
    if len(big) >= 2:
        lo, hi = big[0], big[-1]
        per = lambda n: runs[n]["cpu"]["exporter_ms"] / n
        rows.append(["per-stream cost %d vs %d streams" % (hi, lo)] +
                    ["" for _ in sizes[:-1]] + ["%+.0f %%" % ((per(hi) / per(lo) - 1) * 100)] +
                    ["±25 %"])
    row("poll wall time (replay; stand-in live)",
        lambda r: "%.0f ms; %.0f ms" % (r["exporter"]["poll_wall_ms"], r["live"]["poll_wall_ms"]))
    row("stand-in cost per cycle, excluded (wall; CPU)",
        lambda r: "%.0f ms; %.0f ms" % (r["standin_record"]["wall_ms"],
                                        r["live"]["standin_cpu_ms_per_cycle"]))
    row("**RSS steady** (median; first → last of the window)",
        lambda r: "**%.1f MiB** (%.1f → %.1f)" % (r["exporter"]["rss_kb_median"] / 1024,
                                                  r["exporter"]["rss_kb_first"] / 1024,
                                                  r["exporter"]["rss_kb_last"] / 1024),
        "< 16 MiB at 1,000; < 128 MiB at 10,000")
    row("RSS steady, scraped once per cycle (median)",
        lambda r: "%.1f MiB" % (r["scraped"]["rss_kb_median"] / 1024))
    row("  RSS: anonymous + files (shared libraries, mostly); PSS",
        lambda r: "%.1f + %.1f MiB; PSS %.1f MiB" % (r["exporter"]["rss_anon_kb"] / 1024,
                                                     r["exporter"]["rss_file_kb"] / 1024,
                                                     r["exporter"]["pss_kb"] / 1024))
    row("RSS trend: highest in the first → last third of %d more cycles" % a.soak,
        lambda r: "%.1f → %.1f MiB (%d cycles in all)" % (
            r["exporter"]["soak"]["rss_kb_first_third_max"] / 1024,
            r["exporter"]["soak"]["rss_kb_last_third_max"] / 1024,
            r["exporter"]["cycles_total"]), "flat")
    row("**RSS peak** (VmHWM; serving instance after wrk)",
        lambda r: "**%.1f MiB**; %.1f MiB" % (r["exporter"]["hwm_kb_end"] / 1024,
                                              r["serving"]["hwm_kb_after_load"] / 1024))
    row("open fds (idle; under wrk -c%d)" % a.connections,
        lambda r: "%d; %s" % (r["exporter"]["fds"], r["serving"]["fds_under_load"]))
    row("threads", lambda r: "%d" % r["exporter"]["threads"])
    for fname, label in (("metrics.prom", "exposition 0.0.4 (gzip)"),
                         ("metrics.om", "exposition OpenMetrics (gzip)")):
        row("size: " + label,
            lambda r, f=fname: "%s (%s)" % (human(r["serving"]["sizes"][f]),
                                            human(r["serving"]["sizes"][f + ".gz"])))
    row("size: /api/streams/latest JSON", lambda r: human(r["serving"]["sizes"]["streams.json"]))
    for name, _, _, _ in ENDPOINTS:
        if name not in a.endpoints:
            continue
        row("**%s**: exporter req/s (p99)" % name,
            lambda r, k=name: "%.0f (%.2f ms)" % (r["serving"]["endpoints"][k]["exporter"]["rps"],
                                                  r["serving"]["endpoints"][k]["exporter"]["p99_ms"]),
            "p99 < 5 ms at 1,000")
        row("  nginx, same bytes: req/s (p99)",
            lambda r, k=name: "%.0f (%.2f ms)" % (r["serving"]["endpoints"][k]["nginx"]["rps"],
                                                  r["serving"]["endpoints"][k]["nginx"]["p99_ms"]))
        row("  **ratio exporter / nginx**",
            lambda r, k=name: "**%.2f**" % r["serving"]["endpoints"][k]["ratio"], "≥ 0.70")
    for src, label in (("fresh_replay", "replay"), ("fresh_live", "live stand-in")):
        row("**freshness, %s** (interval): Redis / file / /metrics, max" % label,
            lambda r, s=src: "%.0f / %.0f / %.0f ms (%g s)" % (
                r[s]["redis_ms_max"], r[s]["file_ms_max"], r[s]["metrics_ms_max"],
                r[s]["interval_s"]), "≤ interval + 100 ms")
        row("  median", lambda r, s=src: "%.0f / %.0f / %.0f ms" % (
            r[s]["redis_ms_median"], r[s]["file_ms_median"], r[s]["metrics_ms_median"]))
        row("  **minus the interval** (max)", lambda r, s=src: "**%+.0f ms**" % (
            max(r[s][k + "_ms_max"] for k in ("redis", "file", "metrics")) -
            r[s]["interval_s"] * 1000), "≤ +100 ms")

    head = ["measure"] + ["%s streams" % format(n, ",") for n in sizes] + ["target"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for rrow in rows:
        lines.append("| " + " | ".join(rrow) + " |")
    return "\n".join(lines)


def human(n):
    if n >= 1 << 20:
        return "%.2f MiB" % (n / (1 << 20))
    if n >= 1 << 10:
        return "%.1f KiB" % (n / 1024)
    return "%d B" % n


def verdicts(res):
    """Which targets are met, one line each."""
    runs = {r["streams"]: r for r in res["runs"]}
    out = []

    def say(ok, text):
        out.append(("met    " if ok else "MISSED ") + text)

    for n in (1000, 10000):
        if n in runs:
            r = runs[n]
            ratio = r["cpu"]["ratio"]
            say(ratio <= 2.0, "CPU per cycle within 2× the floor at %d streams: %.2f×" % (n, ratio))
            ratio = r["cpu"]["ratio_scraped"]
            say(ratio <= 2.0, "the same, scraped once per cycle, at %d streams: %.2f×" % (n, ratio))
    if 1000 in runs and 10000 in runs:
        d = (runs[10000]["cpu"]["exporter_ms"] / 10000) / (runs[1000]["cpu"]["exporter_ms"] / 1000) - 1
        say(abs(d) <= 0.25, "cost per stream flat from 1,000 to 10,000 (±25 %%): %+.0f %%" % (d * 100))
    for n, cap in ((1000, 16), (10000, 128)):
        if n in runs:
            e = runs[n]["exporter"]
            peak = max(e["hwm_kb_end"], runs[n]["serving"]["hwm_kb_after_load"]) / 1024
            steady = max(e["rss_kb_median"], runs[n]["scraped"]["rss_kb_median"]) / 1024
            say(peak < cap, "memory under %d MiB at %d streams: RSS %.1f MiB, peak %.1f MiB"
                % (cap, n, steady, peak))
            if "soak" in e:
                s = e["soak"]
                grow = (s["rss_kb_last_third_max"] - s["rss_kb_first_third_max"]) / 1024
                say(grow <= max(1.0, 0.05 * s["rss_kb_first_third_max"] / 1024),
                    "RSS flat at %d streams: highest RSS %+.2f MiB from the first to the last "
                    "third of %d cycles" % (n, grow, s["cycles"]))
    for n, r in sorted(runs.items()):
        for name, v in r["serving"]["endpoints"].items():
            if n == 1000 or n == max(runs):
                say(v["ratio"] >= 0.70, "%d streams, %s: %.0f %% of nginx's throughput" %
                    (n, name, v["ratio"] * 100))
                if n == 1000:
                    say(v["exporter"]["p99_ms"] < 5, "1,000 streams, %s: p99 %.2f ms < 5 ms"
                        % (name, v["exporter"]["p99_ms"]))
    for n, r in sorted(runs.items()):
        for src in ("fresh_replay", "fresh_live"):
            f = r[src]
            worst = max(f[k + "_ms_max"] for k in ("redis", "file", "metrics"))
            say(worst <= f["interval_s"] * 1000 + 100,
                "%d streams, freshness (%s): worst %.0f ms, interval %g s" %
                (n, "replay" if src == "fresh_replay" else "live stand-in", worst, f["interval_s"]))
        per_list = r["exporter"]["requests"]
        say(per_list <= 2 * math.ceil(max(n, 1) / 1000) + 3 and r["live"]["connections"] <= 1,
            "%d streams: %d requests per cycle, %d new connections" %
            (n, per_list, r["live"]["connections"]))
    return out


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 1024
    return {"nproc": os.cpu_count(), "cpu": model, "kernel": os.uname().release,
            "mem_mib": mem, "loadavg_start": os.getloadavg()}


def tool_versions():
    def first(argv):
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (p.stdout + p.stderr).strip().splitlines()[0]
        except Exception:
            return "?"
    return {"nginx": first(["nginx", "-v"]), "wrk": first(["wrk", "--version"]),
            "redis": first(["redis-server", "--version"])}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True, help="the mediamtx-exporter binary")
    ap.add_argument("--floor", required=True, help="the floor program (bench/floor.c)")
    ap.add_argument("--quick", action="store_true", help="CI smoke: small sizes, a few seconds")
    ap.add_argument("--sizes", help="comma-separated stream counts (default 10,1000,10000)")
    ap.add_argument("--api-version", choices=("1.20", "1.13"), default="1.20")
    ap.add_argument("--soak", dest="soak_arg", type=int, help="cycles of the memory trend (default 45; quick 0)")
    ap.add_argument("--json", help="write every measurement here")
    ap.add_argument("--markdown", help="write the machine, the table and the verdicts here")
    a = ap.parse_args()
    if a.quick:
        sizes, a.cycles, a.warmup, a.fresh, a.fresh_live, a.live_cycles = "10,300", 5, 2, 2, 1, 2
        a.soak, a.rounds = 0, 1
        a.interval, a.interval_large, a.wrk_seconds = 0.25, 1.0, 1
        a.endpoints = ("metrics prom gzip", "streams json")
    else:
        sizes, a.cycles, a.warmup, a.fresh, a.fresh_live, a.live_cycles = "10,1000,10000", 15, 3, 5, 3, 3
        a.soak, a.rounds = 45, 3
        a.interval, a.interval_large, a.wrk_seconds = 0.5, 1.0, 3
        a.endpoints = tuple(e[0] for e in ENDPOINTS)
    a.sizes = [int(x) for x in (a.sizes or sizes).split(",")]
    if a.soak_arg is not None:
        a.soak = a.soak_arg
    a.connections = 8
    for tool in ("redis-server", "nginx", "wrk"):
        if not shutil.which(tool):
            sys.exit("bench: %s is not installed (ci/bench installs it)" % tool)

    procs = Procs()
    workdir = tempfile.mkdtemp(prefix="mxe-bench-")

    def on_signal(sig, frame):
        raise KeyboardInterrupt("signal %d" % sig)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    t0 = time.monotonic()
    res = {"machine": machine(), "tools": tool_versions(), "api_version": a.api_version,
           "mode": "quick" if a.quick else "full", "runs": []}
    try:
        redis = Redis(procs, workdir)
        nginx = Nginx(procs, workdir, workers=os.cpu_count())
        for n in a.sizes:
            res["runs"].append(run_size(n, a, procs, workdir, redis, nginx))
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    res["runtime_s"] = time.monotonic() - t0
    table = build_table(res, a)
    verdict = verdicts(res)
    m = res["machine"]
    header = ("mediamtx-exporter benchmark (%s, MediaMTX API v%s) — %d cores, %s, kernel %s, "
              "%d MiB; load average at start %.2f; %.0f s" %
              (res["mode"], a.api_version, m["nproc"], m["cpu"], m["kernel"], m["mem_mib"],
               m["loadavg_start"][0], res["runtime_s"]))
    print(header)
    print()
    print(table)
    print()
    print("\n".join(verdict))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(header + "\n\n" + table + "\n\n```\n" + "\n".join(verdict) + "\n```\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
