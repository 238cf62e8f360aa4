#!/usr/bin/python3
"""A bounded soak of the real exporter (issue 6): fast polling, streams churning, faults
injected and cleared, Redis killed and restarted (and put to sleep), scrapes in parallel;
every response validated, RSS and open file descriptors sampled from /proc/<pid>.

    /usr/bin/python3 tests/soak/soak.py [--seconds 180] [--streams 200] [--scrapers 3]

Run by ci/soak (SOAK_SECONDS to run longer). Everything listens on 127.0.0.1; every loop is
bounded by the run's deadline; every service started here is stopped here. Exit status 0
when every check held, 1 otherwise; the last line says which.

What is checked (see docs/reliability.md, "Soak"):
  - every /metrics answer is 200 and parses (text 0.0.4 with prometheus_client's parser and
    our duplicate check; OpenMetrics with prometheus_client's strict parser, # EOF included;
    gzip bodies decompress first); mediamtx_up is 0 or 1; with up 1 there is one
    mediamtx_stream_info per stream counted by mediamtx_streams, with up 0 no stream series;
  - every /api/streams/latest answer is 200 (or 304 to a matching If-None-Match, or 503 before
    the first good poll) and a JSON array of records with unique, sorted names;
  - every read of the JSON file parses;
  - after a warm-up, RSS does not grow beyond the tolerance (median of the last window vs the
    first), and once the load stops the open descriptors return to their idle count;
  - the exporter ends on SIGTERM with status 0 within 2 s, leaving no temporary file, and its
    log holds no sanitizer report.
"""
import argparse
import gzip
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
import traceback
import urllib.error

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import harness  # noqa: E402
from harness import Exporter, Redis, Standin, wait_until  # noqa: E402

from prometheus_client.openmetrics import parser as om_parser  # noqa: E402
from prometheus_client import parser as text_parser  # noqa: E402

ACCEPT_OM = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
             "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
SEED_KEYS = ["name", "sourceType", "tracks", "bytesReceived", "readers", "rtt", "recvRateMbps",
             "linkCapacityMbps"]
FAULTS = [
    {"kind": "status", "status": 500}, {"kind": "status", "status": 401},
    {"kind": "status", "status": 404}, {"kind": "refuse"}, {"kind": "refuse", "reset": True},
    {"kind": "slow", "delay": 0.5}, {"kind": "garbage"}, {"kind": "empty"},
    {"kind": "truncate"}, {"kind": "wrongtype", "variant": "counter_negative"},
    {"kind": "wrongtype", "variant": "items_null"}, {"kind": "deep", "depth": 5000},
    {"kind": "huge", "bytes": 3 << 20}, {"kind": "churn"},
]


class SoakRedis(Redis):
    """redis-server with DEBUG allowed from loopback (Redis 7 refuses it by default)."""

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--logfile", os.path.join(self.dir, "log"),
             "--enable-debug-command", "local"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self.cmd("PING") == "PONG", timeout=10, what="redis-server")
        return self


class Soak:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.errors = []  # first messages of every failed check
        self.n_errors = 0
        self.count = {}   # what happened, for the summary
        self.samples = []  # (t, rss_kib, fds)

    # -- bookkeeping -------------------------------------------------------------------------

    def bump(self, what, n=1):
        with self.lock:
            self.count[what] = self.count.get(what, 0) + n

    def fail(self, msg):
        with self.lock:
            self.n_errors += 1
            if len(self.errors) < 20:
                self.errors.append("%.1fs %s" % (time.monotonic() - self.t0, msg))

    def sleep(self, seconds):
        """Sleep, but return at once when the run ends; True while it goes on."""
        return not self.stop.wait(seconds)

    def guarded(self, name, fn):
        def run():
            try:
                fn()
            except Exception:
                self.fail("%s thread crashed: %s" % (name, traceback.format_exc(limit=3)))
        t = threading.Thread(target=run, name=name, daemon=True)
        t.start()
        return t

    # -- validation --------------------------------------------------------------------------

    def check_metrics(self, status, headers, body, om):
        if status != 200:
            return self.fail("/metrics answered %d" % status)
        if headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
            self.bump("scrapes gzip")
        text = body.decode("utf-8")
        ctype = headers.get("content-type", "")
        if om != ctype.startswith("application/openmetrics-text"):
            return self.fail("negotiated %r for om=%s" % (ctype, om))
        samples = {}
        lines = text.splitlines()
        for line in lines:
            if not line or line.startswith("#"):
                continue
            series, _, value = line.rpartition(" ")
            if series in samples:
                return self.fail("duplicate series " + series)
            samples[series] = value
        if om:
            if not text.endswith("# EOF\n"):
                return self.fail("OpenMetrics without # EOF")
            list(om_parser.text_string_to_metric_families(text))
        else:
            list(text_parser.text_string_to_metric_families(text))
        up = samples.get("mediamtx_up")
        if up not in ("0", "1"):
            return self.fail("mediamtx_up is %r" % up)
        info = sum(1 for s in samples if s.startswith("mediamtx_stream_info{"))
        stream_series = sum(1 for s in samples if s.startswith("mediamtx_stream_"))
        if up == "1" and str(info) != samples.get("mediamtx_streams"):
            return self.fail("%d stream_info series, mediamtx_streams %s" %
                             (info, samples.get("mediamtx_streams")))
        if up == "0" and stream_series:
            return self.fail("stream series served with mediamtx_up 0")
        for s, v in samples.items():
            if s.startswith("mediamtx_") and v.startswith("-"):
                return self.fail("negative sample %s %s" % (s, v))
        self.bump("scrapes /metrics ok")
        self.bump("scrapes with up 1" if up == "1" else "scrapes with up 0")

    def check_records(self, blob, where):
        data = json.loads(blob)
        if not isinstance(data, list):
            return self.fail("%s: not a JSON array" % where)
        names = [r["name"] for r in data]
        if names != sorted(set(names)):
            return self.fail("%s: names not unique and sorted" % where)
        for r in data:
            if list(r)[:8] != SEED_KEYS:
                return self.fail("%s: record keys %s" % (where, list(r)[:8]))
            if r["bytesReceived"] < 0 or r["readers"] < 0:
                return self.fail("%s: negative value in %s" % (where, r["name"]))
        return len(data)

    # -- the load ----------------------------------------------------------------------------

    def scraper(self, k):
        etag = None
        i = 0
        while not self.stop.is_set():
            i += 1
            try:
                if i % 3:
                    om = (i + k) % 2 == 0
                    hdr = {"Accept": ACCEPT_OM} if om else {}
                    if i % 5 == 0:
                        hdr["Accept-Encoding"] = "gzip"
                    self.check_metrics(*self.ex.get("/metrics", headers=hdr), om=om)
                else:
                    hdr = {"If-None-Match": etag} if etag and i % 2 else {}
                    status, headers, body = self.ex.get("/api/streams/latest", headers=hdr)
                    if status == 200:
                        self.check_records(body, "/api/streams/latest")
                        etag = headers.get("etag")
                        self.bump("scrapes /api/streams/latest ok")
                    elif status == 304 and hdr:
                        self.bump("scrapes /api/streams/latest 304")
                    elif status == 503 and not self.count.get("scrapes with up 1"):
                        pass  # before the first good poll
                    else:
                        self.fail("/api/streams/latest answered %d" % status)
            except Exception as e:
                self.fail("scrape failed: %r" % e)
            self.sleep(self.args.scrape_pause)

    def file_reader(self):
        while self.sleep(0.05):
            try:
                blob = harness_read(self.out)
            except FileNotFoundError:
                continue
            try:
                self.check_records(blob, "the file")
                self.bump("file reads ok")
            except ValueError as e:
                self.fail("torn or invalid file: %s" % e)

    def churner(self):
        """Streams come and go, publishers restart, the generated set changes size."""
        added = []
        n = self.args.streams
        while self.sleep(self.rng.uniform(0.1, 0.5)):
            action = self.rng.randrange(4)
            try:
                if action == 0 or not added:
                    name = "soak/%06d" % self.rng.randrange(10 ** 6)
                    src = self.rng.choice([None, {"type": "rtspSession"}, {"type": "srtConn"}])
                    self.mx.control("POST", "/paths", {"name": name, "source": src,
                                                       "ready": src is not None,
                                                       "tracks": ["H264", "Opus"]})
                    added.append(name)
                    self.bump("streams added")
                elif action == 1:
                    name = added.pop(self.rng.randrange(len(added)))
                    try:
                        self.mx.control("DELETE", "/paths/" + name)
                        self.bump("streams removed")
                    except urllib.error.HTTPError as e:
                        if e.code != 404:
                            raise  # 404: the "churn" fault removed it first
                        self.bump("streams removed by the churn fault")
                elif action == 2:
                    try:
                        self.mx.control("POST", "/restart/cam-%05d" % self.rng.randrange(1, n))
                        self.bump("publisher restarts")
                    except urllib.error.HTTPError as e:
                        if e.code != 404:
                            raise  # 404: that cam is outside the generated range just now
                else:
                    count = self.rng.randrange(n // 2, n + n // 2)
                    self.mx.control("POST", "/generate", {"count": count, "srt_every": 3})
                    self.bump("generated set resized")
            except Exception as e:
                self.fail("stand-in control failed: %r" % e)

    def fault_injector(self):
        while self.sleep(self.rng.uniform(1.5, 4.0)):
            f = dict(self.rng.choice(FAULTS))
            f["target"] = self.rng.choice(["paths", "paths", "srtconns", "all"])
            try:
                self.mx.fault(**f)
                self.bump("faults injected")
                self.sleep(self.rng.uniform(0.3, 1.5))
                self.mx.clear_faults()
            except Exception as e:
                self.fail("fault injection failed: %r" % e)

    def redis_chaos(self):
        while self.sleep(self.rng.uniform(6, 12)):
            try:
                if self.rng.random() < 0.3:
                    self.redis.cmd("DEBUG", "SLEEP", "1")  # blocks this thread for 1 s
                    self.bump("redis slept")
                else:
                    self.redis.stop()
                    self.bump("redis killed")
                    self.sleep(self.rng.uniform(0.2, 2.0))
                    self.redis.start()
            except Exception as e:
                self.fail("redis chaos failed: %r" % e)
        if self.redis.proc is None:
            self.redis.start()

    def sampler(self):
        pid = self.ex.proc.pid
        while self.sleep(1.0):
            if self.ex.proc.poll() is not None:
                self.fail("the exporter exited with %s" % self.ex.proc.returncode)
                self.stop.set()
                return
            self.samples.append((time.monotonic() - self.t0, rss_kib(pid), fd_count(pid)))

    # -- the run -----------------------------------------------------------------------------

    def run(self):
        a = self.args
        self.t0 = time.monotonic()
        self.redis = SoakRedis().start()
        self.mx = Standin("--scenario", "demo", "--generate", str(a.streams))
        self.out = os.path.join(self.mx.dir, "streams.json")
        self.ex = Exporter(["--mediamtx.api-url", self.mx.url, "--redis.url", self.redis.url,
                            "--output.json", self.out, "--poll.interval", str(a.interval),
                            "--mediamtx.timeout", str(a.interval * 0.75),
                            "--mediamtx.max-response-size", "1MiB", "--log.level", "warn"])
        try:
            return self._run()
        finally:
            self.stop.set()
            self.ex.close()
            self.mx.close()
            self.redis.close()

    def _run(self):
        a = self.args
        pid = self.ex.proc.pid
        wait_until(lambda: self.ex.metric("mediamtx_up") == 1, timeout=20, what="a first poll")
        idle_fds = fd_count(pid)
        threads = [self.guarded("sampler", self.sampler),
                   self.guarded("file", self.file_reader),
                   self.guarded("churn", self.churner),
                   self.guarded("faults", self.fault_injector),
                   self.guarded("redis", self.redis_chaos)]
        threads += [self.guarded("scraper-%d" % k, lambda k=k: self.scraper(k))
                    for k in range(a.scrapers)]
        end = self.t0 + a.seconds
        while time.monotonic() < end and not self.stop.is_set():
            self.stop.wait(min(5.0, max(0.0, end - time.monotonic())))
            if not a.quiet and self.samples:
                t, rss, fds = self.samples[-1]
                print("soak %5.0fs  rss %6.1f MiB  fds %3d  scrapes %6d  errors %d" % (
                    t, rss / 1024, fds, self.count.get("scrapes /metrics ok", 0), self.n_errors),
                    flush=True)
        self.stop.set()
        for t in threads:
            t.join(timeout=30)
            if t.is_alive():
                self.fail("thread %s did not stop" % t.name)

        # Quiet again: faults cleared, Redis up; the exporter must settle back.
        self.mx.clear_faults()
        if self.redis.proc is None:
            self.redis.start()
        m = wait_until(lambda: (lambda m: m if m["mediamtx_up"] == "1" and
                                m["mediamtx_exporter_redis_up"] == "1" else None)(
                                    self.ex.metrics()), timeout=20, what="a healthy exporter")
        try:
            wait_until(lambda: fd_count(pid) <= idle_fds + 1, timeout=15,
                       what="open fds back to the idle count")
        except AssertionError:
            self.fail("open fds %d after the load, %d idle before it" % (fd_count(pid), idle_fds))
        end_fds = fd_count(pid)
        self.check_growth()

        t0 = time.monotonic()
        self.ex.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.ex.wait(timeout=10)  # the status is checked here, not at close()
        except subprocess.TimeoutExpired:
            rc = None
        took = time.monotonic() - t0
        if rc != 0 or took > 2.0:
            self.fail("SIGTERM: exit status %s after %.2f s" % (rc, took))
        leftovers = [n for n in os.listdir(os.path.dirname(self.out)) if n.startswith(".")]
        if leftovers:
            self.fail("temporary files left: %s" % leftovers)
        log = self.ex.stderr()
        if self.ex.sanitizer_reports():
            self.fail("sanitizer report in the exporter's log: %s" % self.ex.sanitizer_reports()[0])
        self.summary(m, idle_fds, end_fds, log)
        return 0 if self.n_errors == 0 else 1

    def check_growth(self):
        a = self.args
        post = [s for s in self.samples if s[0] >= a.warmup]
        if len(post) < 10:
            return self.fail("too few samples after the warm-up (%d); run longer" % len(post))
        w = max(5, len(post) // 5)
        first = statistics.median(s[1] for s in post[:w])
        last = statistics.median(s[1] for s in post[-w:])
        self.rss_first, self.rss_last = first, last
        limit = first + a.rss_tolerance_kib
        if last > limit:
            self.fail("RSS grew from %.1f to %.1f MiB (tolerance %.1f MiB)" % (
                first / 1024, last / 1024, a.rss_tolerance_kib / 1024))
        fds_first = max(s[2] for s in post[:w])
        fds_last = max(s[2] for s in post[-w:])
        self.fds_first, self.fds_last = fds_first, fds_last
        if fds_last > fds_first + a.scrapers + 2:
            self.fail("open fds grew from %d to %d under the same load" % (fds_first, fds_last))

    def summary(self, m, idle_fds, end_fds, log):
        a = self.args
        rss = [s[1] for s in self.samples]
        fds = [s[2] for s in self.samples]
        print("\n=== soak summary: %.0f s, poll interval %.2f s, %d scrapers, %d+ streams" % (
            a.seconds, a.interval, a.scrapers, a.streams))
        print("poll cycles %s, failed %s (faults make most of them fail on purpose)" % (
            m["mediamtx_exporter_polls_total"], m["mediamtx_exporter_poll_failures_total"]))
        print("mirror failures: redis %s, file %s" % (
            m['mediamtx_exporter_mirror_failures_total{target="redis"}'],
            m['mediamtx_exporter_mirror_failures_total{target="file"}']))
        for k in sorted(self.count):
            print("%-34s %d" % (k, self.count[k]))
        if rss:
            print("RSS MiB: first %.1f, after warm-up %.1f, end %.1f, max %.1f (tolerance +%.1f)" % (
                rss[0] / 1024, getattr(self, "rss_first", 0) / 1024,
                getattr(self, "rss_last", 0) / 1024, max(rss) / 1024,
                a.rss_tolerance_kib / 1024))
            print("open fds: idle %d, after warm-up %d, end of load %d, max %d, idle again %d" % (
                idle_fds, getattr(self, "fds_first", 0), getattr(self, "fds_last", 0), max(fds),
                end_fds))
        print("exporter log lines: %d" % len(log.splitlines()))
        for e in self.errors:
            print("ERROR " + e)
        if self.n_errors:
            print("soak: FAILED, %d failed checks" % self.n_errors)
        else:
            print("soak: passed, every check held")


def harness_read(path):
    with open(path, "rb") as f:
        return f.read()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=180)
    ap.add_argument("--warmup", type=float, default=None,
                    help="seconds before RSS is compared (default: a quarter of the run, 30-120)")
    ap.add_argument("--interval", type=float, default=0.2, help="poll interval (default 0.2)")
    ap.add_argument("--streams", type=int, default=200, help="generated paths (default 200)")
    ap.add_argument("--scrapers", type=int, default=3)
    ap.add_argument("--scrape-pause", type=float, default=0.02)
    ap.add_argument("--rss-tolerance-mib", type=float, default=4.0,
                    help="allowed RSS growth after the warm-up (default 4 MiB)")
    ap.add_argument("--seed", type=int, default=6)
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    if a.warmup is None:
        a.warmup = min(120.0, max(30.0, a.seconds / 4))
    a.rss_tolerance_kib = a.rss_tolerance_mib * 1024
    assert os.path.exists(harness.BIN), "build the exporter first: %s" % harness.BIN
    print("soak: %s for %.0f s (warm-up %.0f s), poll every %.2f s" % (
        harness.BIN, a.seconds, a.warmup, a.interval), flush=True)
    return Soak(a).run()


if __name__ == "__main__":
    sys.exit(main())
