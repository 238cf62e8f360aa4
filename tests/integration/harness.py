"""Integration-test harness: real redis-server, the MediaMTX stand-in and the exporter,
all on 127.0.0.1 with free ports, each stopped by whoever started it.

Nothing here sleeps and hopes: every wait polls for a condition with a deadline."""
import base64
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("MXE_SOURCE_DIR", os.path.dirname(os.path.dirname(HERE)))
BIN = os.environ.get("MXE_BIN", os.path.join(SOURCE_DIR, "build", "mediamtx-exporter"))
PYTHON = "/usr/bin/python3"
STANDIN = os.path.join(SOURCE_DIR, "tests", "standin", "mediamtx_standin.py")
# How long a SIGTERMed exporter may take to exit: its own bound is about 2 s (live feeds'
# grace period) plus a mirror write in flight; sanitizer builds are several times slower.
STOP_TIMEOUT = 20
# What ASan, UBSan and LSan print (abort_on_error / halt_on_error end the process too).
SANITIZER_MARKS = ("Sanitizer", "runtime error:", "LeakSanitizer")


def wait_until(pred, timeout=10.0, interval=0.02, what="condition"):
    """Poll pred() until it returns a truthy value; return it, or fail after timeout."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # the condition may raise while a service comes up
            last_exc = e
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1f s waiting for %s%s" % (
                timeout, what, " (last error: %r)" % last_exc if last_exc else ""))
        time.sleep(interval)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- Redis ---------------------------------------------------------------------------------

class RespError(Exception):
    pass


def _resp_encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if not isinstance(a, bytes):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class RespConn:
    """A minimal RESP2 client: enough for GET, TTL, SUBSCRIBE, DEBUG and friends."""

    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(max(65536, n))
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RespError("bad reply %r" % line)

    def cmd(self, *args):
        self.sock.sendall(_resp_encode(args))
        return self.read()


class Redis:
    """A real redis-server on a free loopback port (or a given one)."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="mxe-redis-")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--logfile", os.path.join(self.dir, "log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self.cmd("PING") == "PONG", timeout=10, what="redis-server")
        return self

    def cmd(self, *args):
        c = RespConn(self.port)
        try:
            return c.cmd(*args)
        finally:
            c.close()

    def subscribe(self, channel):
        c = RespConn(self.port)
        assert c.cmd("SUBSCRIBE", channel)[0] == b"subscribe"
        return c

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def url(self):
        return "redis://127.0.0.1:%d/0" % self.port


# --- the MediaMTX stand-in -----------------------------------------------------------------

class Standin:
    """tests/standin/mediamtx_standin.py with its API and control ports."""

    def __init__(self, *args):
        self.dir = tempfile.mkdtemp(prefix="mxe-standin-")
        portfile = os.path.join(self.dir, "ports.json")
        self.log = open(os.path.join(self.dir, "log"), "wb")
        self.proc = subprocess.Popen([PYTHON, STANDIN, "--port-file", portfile] + list(args),
                                     stdout=self.log, stderr=subprocess.STDOUT)
        ports = wait_until(lambda: json.load(open(portfile)) if os.path.exists(portfile) else None,
                           timeout=20, what="the stand-in's port file")
        self.api_port, self.control_port = ports["api"], ports["control"]
        self.url = "http://127.0.0.1:%d" % self.api_port

    def control(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.control_port, path),
                                     data=data, method=method)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def fault(self, **fault):
        return self.control("POST", "/faults", fault)

    def clear_faults(self):
        return self.control("DELETE", "/faults")

    def stats(self):
        return self.control("GET", "/stats")

    def freeze_clock(self):
        """Counters stop advancing: successive polls see identical data."""
        return self.control("POST", "/clock", {"freeze": True})

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


# --- the exporter --------------------------------------------------------------------------

def parse_metrics(text):
    """Prometheus text → {series: value-string}, series being 'name{labels}' as written."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        assert series not in out, "duplicate series: " + series
        out[series] = value
    return out


class Exporter:
    """The mediamtx-exporter binary, as a daemon or with --once.

    ssl_context: talk HTTPS to it with this ssl.SSLContext (the exporter runs with
    --web.tls-*). auth: (user, password) sent as basic auth by get() unless the request's
    headers name Authorization themselves (None there: send none). port: listen there
    instead of on a free port (a restart on the same address). expected_exit: the status
    close() requires after its SIGTERM (see close()); a test that leaves the process in
    another state sets it, with the reason, before teardown. binary: another program in
    the exporter's place (the harness's own tests)."""

    def __init__(self, args, env=None, once=False, listen=True, ssl_context=None, auth=None,
                 port=None, expected_exit=0, binary=None):
        self.ssl_context, self.auth = ssl_context, auth
        self.expected_exit = expected_exit
        self.stop_timeout = STOP_TIMEOUT
        self.exit_observed = False
        self.dir = tempfile.mkdtemp(prefix="mxe-exporter-")
        self.log_path = os.path.join(self.dir, "stderr.log")
        self.port = (port or free_port()) if (listen and not once) else None
        argv = [binary or BIN] + list(args)
        if self.port:
            argv += ["--web.listen-address", "127.0.0.1:%d" % self.port]
        if once:
            argv.append("--once")
        full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                full_env[k] = os.environ[k]
        full_env.update(env or {})
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=self.log, env=full_env)
        if self.port:
            try:
                wait_until(self._healthy, timeout=15, what="the exporter's /healthz")
            except BaseException:
                # never left running (or its files behind) when it did not come up
                if self.proc.poll() is None:
                    self.proc.kill()
                    self.proc.wait()
                self.log.close()
                shutil.rmtree(self.dir, ignore_errors=True)
                raise

    def _healthy(self):
        if self.proc.poll() is not None:
            raise AssertionError("exporter exited early (%d): %s" % (self.proc.returncode,
                                                                      self.stderr()))
        return self.get("/healthz")[0] == 200

    def wait(self, timeout=30):
        """Wait for the exporter to exit; its status (which the caller then checks)."""
        rc = self.proc.wait(timeout=timeout)
        self.exit_observed = True
        return rc

    def stderr(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def get(self, path, headers=None, method="GET"):
        if self.ssl_context:
            c = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10,
                                            context=self.ssl_context)
        else:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = dict(headers or {})
        if self.auth and "Authorization" not in headers:
            headers["Authorization"] = "Basic " + base64.b64encode(
                ("%s:%s" % self.auth).encode()).decode()
        headers = {k: v for k, v in headers.items() if v is not None}
        try:
            c.request(method, path, headers=headers)
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def metrics(self):
        status, _, body = self.get("/metrics")
        assert status == 200, status
        return parse_metrics(body.decode())

    def metric(self, series, default=None):
        return float(self.metrics().get(series, default)) if default is not None else \
            float(self.metrics()[series])

    def wait_polls(self, n=2, timeout=15):
        """Wait until n more poll cycles have completed."""
        start = self.metric("mediamtx_exporter_polls_total")
        wait_until(lambda: self.metric("mediamtx_exporter_polls_total") >= start + n,
                   timeout=timeout, what="%d more poll cycles" % n)

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Send sig and wait for the exit; the status, which the caller then checks."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("exporter did not stop within %s s" % timeout)
        self.exit_observed = True
        return self.proc.returncode

    def sanitizer_reports(self):
        """Lines of the log that come from ASan, UBSan or LSan."""
        return [ln for ln in self.stderr().splitlines()
                if any(m in ln for m in SANITIZER_MARKS)]

    def close(self):
        """Teardown: SIGTERM (a clean shutdown, as in production), then the checks that
        make the sanitizer build of the suite worth running — the exit status is
        `expected_exit` (0 unless the test said otherwise; None: the test takes whatever
        status it got, and says why) and the log holds no sanitizer report (LeakSanitizer
        reports at exit, so only a real exit shows leaks). A process that already exited is
        checked only when no test looked at its status (wait() or stop())."""
        problems = []
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=self.stop_timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
                    problems.append("no exit within %s s of SIGTERM (killed)" % self.stop_timeout)
                else:
                    if self.expected_exit is not None and self.proc.returncode != self.expected_exit:
                        problems.append("exit status %d after SIGTERM, expected %d" % (
                            self.proc.returncode, self.expected_exit))
            elif not self.exit_observed and self.expected_exit is not None and \
                    self.proc.returncode != self.expected_exit:
                problems.append("exited by itself with status %d, expected %d" % (
                    self.proc.returncode, self.expected_exit))
            reports = self.sanitizer_reports()
            if reports:
                problems.append("sanitizer report in the log: " + " | ".join(reports[:5]))
            tail = self.stderr()[-4000:] if problems else ""
        finally:
            self.log.close()
            shutil.rmtree(self.dir, ignore_errors=True)
        if problems:
            raise AssertionError("exporter teardown: %s\n--- end of its log ---\n%s" % (
                "; ".join(problems), tail))


# --- Prometheus ----------------------------------------------------------------------------

class Prometheus:
    """A real Prometheus (Debian's package) on a free loopback port, scraping the given
    targets every second, with its data in a temporary directory."""

    def __init__(self, targets, rule_files=(), job="mediamtx-exporter"):
        self.dir = tempfile.mkdtemp(prefix="mxe-prometheus-")
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        config = {  # JSON is YAML: no YAML writer needed
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s",
                       "evaluation_interval": "1s"},
            "rule_files": [os.path.abspath(f) for f in rule_files],
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": list(targets)}]}],
        }
        cfg = os.path.join(self.dir, "prometheus.yml")
        with open(cfg, "w") as f:
            json.dump(config, f)
        self.log_path = os.path.join(self.dir, "prometheus.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            ["prometheus", "--config.file=" + cfg, "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
             "--storage.tsdb.retention.time=1h", "--web.listen-address=127.0.0.1:%d" % self.port,
             "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(self._ready, timeout=30, interval=0.1, what="Prometheus /-/ready")

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("prometheus exited (%d): %s" % (self.proc.returncode,
                                                                  self.log_tail()))
        with urllib.request.urlopen(self.url + "/-/ready", timeout=5) as r:
            return r.status == 200

    def log_tail(self, n=4000):
        with open(self.log_path, "rb") as f:
            return f.read()[-n:].decode("utf-8", "replace")

    def api(self, path, **params):
        """GET /api/v1/<path>: the decoded document, also for 4xx (bad_data) answers."""
        url = "%s/api/v1/%s?%s" % (self.url, path, urllib.parse.urlencode(params, doseq=True))
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            return json.load(e)

    def query(self, expr):
        return self.api("query", query=expr)

    def wait_target_up(self, timeout=30):
        def up():
            active = self.api("targets")["data"]["activeTargets"]
            return active if active and all(t["health"] == "up" for t in active) else None
        return wait_until(up, timeout=timeout, interval=0.2, what="all scrape targets up")

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
