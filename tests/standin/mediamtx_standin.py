#!/usr/bin/python3
"""MediaMTX Control API v3 stand-in for the mediamtx-exporter tests.

Real MediaMTX cannot run on the test machines, so this server answers the few
routes the exporter polls the way MediaMTX v1.13.0 and v1.20.1 answer them on
the wire.  "FACTS n" in the comments cites row n of
/work/shared/reference/mediamtx-api/FACTS.md.  Python 3.11 standard library
only; run it with Debian's /usr/bin/python3.  README.md beside this file
documents the command line, the scenario format and the control API.
"""

import argparse
import base64
import collections
import datetime
import http
import json
import math
import os
import random
import re
import signal
import socket
import ssl
import sys
import threading
import time
import uuid
from decimal import Decimal
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

U64 = 1 << 64
NS = 10 ** 9
EPOCH = datetime.datetime(1970, 1, 1)
ZERO_TIME_NS = -62135596800 * NS  # Go's zero time.Time, 0001-01-01T00:00:00Z
ID_NAMESPACE = uuid.UUID("6f1d3c2e-7a5b-4c8d-9e0f-a1b2c3d4e5f6")  # for deterministic ids
VERSION_STRINGS = {"1.13": "v1.13.0", "1.20": "v1.20.1"}


# --------------------------------------------------------------------------------------------
# Go encoding/json and strconv, as far as the API shows them (FACTS 20)
# --------------------------------------------------------------------------------------------

_JSON_PLAIN = re.compile(r'[^"\\\x00-\x1f<>&\u2028\u2029]*\Z')
# json.Marshal escapes HTML characters and the JS line separators (HTMLEscape is on by default).
_HTML_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                               "\u2028": "\\u2028", "\u2029": "\\u2029"})


def go_str(s):
    """A Go string as json.Marshal writes it (Go >= 1.22: \\b and \\f short escapes)."""
    if _JSON_PLAIN.match(s):
        return '"' + s + '"'
    # Python's escaping of '"', '\\' and C0 controls (lowercase \u00xx) equals Go's.
    return json.dumps(s, ensure_ascii=False).translate(_HTML_ESCAPES)


def go_float(f):
    """A float64 as json.Marshal writes it (FACTS 20).

    encoding/json uses strconv 'f' format with the shortest round-trip digits, switching to
    'e' format when abs < 1e-6 or abs >= 1e21, and then shortens a two-digit negative exponent
    ("1e-07" -> "1e-7").  Positive exponents keep two digits ("1e+21").  No ".0" is ever added.
    """
    f = float(f)
    if math.isnan(f) or math.isinf(f):
        raise ValueError("json: unsupported value: %r" % f)  # json.Marshal fails on these too
    if f == 0:
        return "-0" if math.copysign(1.0, f) < 0 else "0"
    d = Decimal(repr(f))  # repr() is the shortest round-trip decimal, as Go's -1 precision
    a = abs(f)
    if 1e-6 <= a < 1e21:
        s = format(d, "f")
        if "." in s:
            s = s.rstrip("0").rstrip(".")
        return s
    sign, digits, exp = d.as_tuple()
    digits = "".join(map(str, digits))
    e10 = exp + len(digits) - 1
    digits = digits.rstrip("0") or "0"
    mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    s = "%s%se%s%02d" % ("-" if sign else "", mant, "-" if e10 < 0 else "+", abs(e10))
    if len(s) >= 4 and s[-4] == "e" and s[-3] == "-" and s[-2] == "0":
        s = s[:-2] + s[-1]  # encoding/json: "clean up e-09 to e-9"
    return s


def go_time(wall_ns):
    """A time.Time in UTC as json.Marshal writes it: RFC3339Nano, trailing zeros trimmed."""
    secs, frac = divmod(wall_ns, NS)
    t = EPOCH + datetime.timedelta(seconds=secs)
    s = "%04d-%02d-%02dT%02d:%02d:%02d" % (t.year, t.month, t.day, t.hour, t.minute, t.second)
    if frac:
        s += "." + ("%09d" % frac).rstrip("0")
    return '"' + s + 'Z"'


def go_json(v):
    """Generic json.Marshal for scenario-supplied values (dicts keep their order)."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return go_float(v)
    if isinstance(v, str):
        return go_str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(go_json(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(go_str(k) + ":" + go_json(x) for k, x in v.items()) + "}"
    raise TypeError("cannot encode %r" % (v,))


_GO_SHORT_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
                     "\t": "\\t", "\v": "\\v"}


def go_quote(raw):
    """strconv.Quote of a byte string (invalid UTF-8 bytes become \\xHH)."""
    out = ['"']
    for ch in raw.decode("utf-8", "surrogateescape"):
        o = ord(ch)
        if 0xDC80 <= o <= 0xDCFF:
            out.append("\\x%02x" % (o - 0xDC00))
        elif ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable():  # same classes as Go's unicode.IsPrint
            out.append(ch)
        elif ch in _GO_SHORT_ESCAPES:
            out.append(_GO_SHORT_ESCAPES[ch])
        elif o < 0x20 or o == 0x7F:
            out.append("\\x%02x" % o)
        elif o < 0x10000:
            out.append("\\u%04x" % o)
        else:
            out.append("\\U%08x" % o)
    out.append('"')
    return "".join(out)


def go_parse_uint31(raw):
    """strconv.ParseUint(s, 10, 31) (FACTS 1): (value, None) or (None, Go's error text)."""
    max_val = (1 << 31) - 1
    n = 0
    err = None
    if not raw:
        err = "invalid syntax"
    for c in raw:
        if not 0x30 <= c <= 0x39:  # signs, spaces, letters: all "invalid syntax", at that byte
            err = "invalid syntax"
            break
        n = n * 10 + (c - 0x30)
        if n > max_val:  # checked digit by digit, so "9999999999x" is out of range
            err = "value out of range"
            break
    if err:
        return None, "strconv.ParseUint: parsing %s: %s" % (go_quote(raw), err)
    return n, None


_HEX = b"0123456789abcdefABCDEF"


def go_unescape(raw, query):
    """net/url unescape(); query mode turns '+' into ' '.  None on a bad %-escape."""
    if b"%" not in raw and not (query and b"+" in raw):
        return raw
    out = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == 0x25:  # '%' needs two hex digits
            h = raw[i + 1:i + 3]
            if len(h) < 2 or h[0] not in _HEX or h[1] not in _HEX:
                return None
            out.append(int(h, 16))
            i += 3
        elif c == 0x2B and query:
            out.append(0x20)
            i += 1
        else:
            out.append(c)
            i += 1
    return bytes(out)


def go_parse_query(raw_query):
    """URL.Query() (FACTS 21): '&' separated; a pair with ';' or a bad escape is dropped."""
    values = {}
    for pair in raw_query.split(b"&"):
        if not pair or b";" in pair:
            continue
        key, _, val = pair.partition(b"=")
        key = go_unescape(key, True)
        val = go_unescape(val, True)
        if key is None or val is None:
            continue
        values.setdefault(key, []).append(val)
    return values


def go_uuid_parse(param):
    """google/uuid v1.6.0 Parse (FACTS 42): (canonical string, None) or (None, error text)."""
    b = param.encode("utf-8", "surrogateescape")
    n = len(b)
    if n == 32:
        try:
            return str(uuid.UUID(bytes=bytes.fromhex(b.decode("ascii")))), None
        except ValueError:
            return None, "invalid UUID format"
    if n == 45:
        if b[:9].lower() != b"urn:uuid:":
            return None, "invalid urn prefix: %s" % go_quote(b[:9])
        b = b[9:]
    elif n == 38:
        b = b[1:]  # the braces themselves are not checked
    elif n != 36:
        return None, "invalid UUID length: %d" % n
    if b[8:9] != b"-" or b[13:14] != b"-" or b[18:19] != b"-" or b[23:24] != b"-":
        return None, "invalid UUID format"
    out = bytearray()
    for x in (0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34):
        if b[x] not in _HEX or b[x + 1] not in _HEX:
            return None, "invalid UUID format"
        out.append(int(b[x:x + 2], 16))
    return str(uuid.UUID(bytes=bytes(out))), None


# --------------------------------------------------------------------------------------------
# Field tables (Go struct order)
# --------------------------------------------------------------------------------------------

# APISRTConn statistics in struct order, read from the MediaMTX source at a revision whose
# line numbers match FACTS 34 (v1.13.0 internal/defs/api.go:201-329 is exactly this struct).
# The yaml lists these in another order; Go emits struct order.  'u' = uint64, 'f' = float64.
SRT_STATS = [
    ("packetsSent", "u"), ("packetsReceived", "u"), ("packetsSentUnique", "u"),
    ("packetsReceivedUnique", "u"), ("packetsSendLoss", "u"), ("packetsReceivedLoss", "u"),
    ("packetsRetrans", "u"), ("packetsReceivedRetrans", "u"), ("packetsSentACK", "u"),
    ("packetsReceivedACK", "u"), ("packetsSentNAK", "u"), ("packetsReceivedNAK", "u"),
    ("packetsSentKM", "u"), ("packetsReceivedKM", "u"), ("usSndDuration", "u"),
    ("packetsReceivedBelated", "u"), ("packetsSendDrop", "u"), ("packetsReceivedDrop", "u"),
    ("packetsReceivedUndecrypt", "u"),
    ("bytesReceived", "u"), ("bytesSent", "u"), ("bytesSentUnique", "u"),
    ("bytesReceivedUnique", "u"), ("bytesReceivedLoss", "u"), ("bytesRetrans", "u"),
    ("bytesReceivedRetrans", "u"), ("bytesReceivedBelated", "u"), ("bytesSendDrop", "u"),
    ("bytesReceivedDrop", "u"), ("bytesReceivedUndecrypt", "u"),
    ("usPacketsSendPeriod", "f"), ("packetsFlowWindow", "u"), ("packetsFlightSize", "u"),
    ("msRTT", "f"), ("mbpsSendRate", "f"), ("mbpsReceiveRate", "f"), ("mbpsLinkCapacity", "f"),
    ("bytesAvailSendBuf", "u"), ("bytesAvailReceiveBuf", "u"), ("mbpsMaxBW", "f"),
    ("byteMSS", "u"), ("packetsSendBuf", "u"), ("bytesSendBuf", "u"), ("msSendBuf", "u"),
    ("msSendTsbPdDelay", "u"), ("packetsReceiveBuf", "u"), ("bytesReceiveBuf", "u"),
    ("msReceiveBuf", "u"), ("msReceiveTsbPdDelay", "u"), ("packetsReorderTolerance", "u"),
    ("packetsReceivedAvgBelatedTime", "u"), ("packetsSendLossRate", "f"),
    ("packetsReceivedLossRate", "f"),
]
# v1.20 adds outboundFramesDiscarded (FACTS 34); its place in the struct is not recorded, we
# put it last (the v1.20.1 struct is two lines longer than the revision read, i.e. one field
# with its comment).
SRT_STATS_V120 = SRT_STATS + [("outboundFramesDiscarded", "u")]
SRT_KIND = dict(SRT_STATS_V120)
SRT_ZERO_VALUES = {f: (0 if kind == "u" else 0.0) for f, kind in SRT_STATS_V120}

PATH_COUNTERS = ("bytesReceived", "bytesSent", "inboundFramesInError")

# APIPathTrackCodecProps* field orders (Go structs); codecs absent here have codecProps null
# (FACTS 44).
CODEC_PROPS_ORDER = {
    "AV1": ("width", "height", "profile", "level", "tier"),
    "VP9": ("profile",),
    "H265": ("width", "height", "profile", "level"),
    "H264": ("width", "height", "profile", "level"),
    "Opus": ("channelCount",),
    "MPEG-4 Audio": ("sampleRate", "channelCount"),
    "AC3": ("sampleRate", "channelCount"),
    "G711": ("muLaw", "sampleRate", "channelCount"),
    "LPCM": ("bitDepth", "sampleRate", "channelCount"),
}
CODEC_PROPS_DEFAULT = {
    "AV1": {"width": 0, "height": 0, "profile": 0, "level": 8, "tier": 0},  # w/h never filled
    "VP9": {"profile": 0},
    "H265": {"width": 1920, "height": 1080, "profile": "Main", "level": "4.1"},
    "H264": {"width": 1920, "height": 1080, "profile": "High", "level": "4.1"},
    "Opus": {"channelCount": 2},
    "MPEG-4 Audio": {"sampleRate": 48000, "channelCount": 2},
    "AC3": {"sampleRate": 48000, "channelCount": 2},
    "G711": {"muLaw": False, "sampleRate": 8000, "channelCount": 1},
    "LPCM": {"bitDepth": 16, "sampleRate": 48000, "channelCount": 2},
}
# v1.13 labels come from gortsplib v4 Codec(), v1.20 from formatlabel (FACTS 43).  Scenario
# files use the v1.20 labels; either spelling is accepted on input.
LABEL_V113 = {"AC3": "AC-3"}
LABEL_V120 = {v: k for k, v in LABEL_V113.items()}

# Path names (FACTS 39).
NAME_RE = {"1.13": re.compile(r"[0-9a-zA-Z_\-/\.~:]+\Z"), "1.20": re.compile(r"[0-9a-zA-Z_\-/\.]+\Z")}


def check_path_name(name, version):
    if not isinstance(name, str) or not name or not NAME_RE[version].match(name):
        return "name %r has characters MediaMTX %s refuses (FACTS 39)" % (name, version)
    if name.startswith("/") or name.endswith("/"):
        return "name %r starts or ends with '/' (FACTS 39)" % name
    if version == "1.20" and any(seg in (".", "..") for seg in name.split("/")):
        return "name %r has a '.' or '..' segment (FACTS 39)" % name
    return None


def page_count(n, per_page):
    """paginateSlice (FACTS 3): 0 for an empty list, else ceil(n / per_page)."""
    return 0 if n == 0 else (n + per_page - 1) // per_page


# --------------------------------------------------------------------------------------------
# Scenario parsing helpers
# --------------------------------------------------------------------------------------------

class ScenarioError(ValueError):
    pass


def parse_rate(v, what):
    """A rate per second: int, float or "num/den" string; kept as an exact (num, den)."""
    try:
        if isinstance(v, bool):
            raise ValueError
        if isinstance(v, int):
            fr = Fraction(v)
        elif isinstance(v, float):
            fr = Fraction(repr(v))
        elif isinstance(v, str):
            fr = Fraction(v)
        else:
            raise ValueError
    except (ValueError, ZeroDivisionError):
        raise ScenarioError("%s: bad rate %r" % (what, v))
    if fr < 0:
        raise ScenarioError("%s: negative rate %r" % (what, v))
    return fr.numerator, fr.denominator


def rate_out(nd):
    fr = Fraction(*nd)
    return fr.numerator if fr.denominator == 1 else "%d/%d" % (fr.numerator, fr.denominator)


def parse_u64(v, what):
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < U64:
        raise ScenarioError("%s: %r is not a uint64" % (what, v))
    return v


def parse_f64(v, what):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ScenarioError("%s: %r is not a finite number" % (what, v))
    return float(v)


_RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?"
                      r"([Zz]|[+-]\d\d:\d\d)\Z")


def parse_time(v, clock, what):
    """RFC3339 string, "zero" (Go's zero time) or a number of seconds relative to the start."""
    if isinstance(v, bool):
        raise ScenarioError("%s: bad time %r" % (what, v))
    if isinstance(v, (int, float)):
        return clock.wall0 + int(round(v * NS))
    if v == "zero":
        return ZERO_TIME_NS
    m = _RFC3339.match(v) if isinstance(v, str) else None
    if not m:
        raise ScenarioError("%s: bad time %r" % (what, v))
    y, mo, d, h, mi, s = (int(x) for x in m.groups()[:6])
    dt = datetime.datetime(y, mo, d, h, mi, s)
    secs = (dt - EPOCH) // datetime.timedelta(seconds=1)
    tz = m.group(8)
    if tz not in "Zz":
        off = int(tz[1:3]) * 3600 + int(tz[4:6]) * 60
        secs -= off if tz[0] == "+" else -off
    frac = int((m.group(7) or "0").ljust(9, "0"))
    return secs * NS + frac


def time_out(wall_ns):
    return None if wall_ns is None else json.loads(go_time(wall_ns))


def det_uuid(*parts):
    return str(uuid.uuid5(ID_NAMESPACE, ":".join(str(p) for p in parts)))


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


def gen_uuid(i, role, j=0):
    """Cheap readable ids for generated objects: path index, role, sub-index."""
    return "%08x-%04x-4000-8000-%012x" % (i, role, j)


def norm_uuid(v, what):
    if isinstance(v, str) and _CANONICAL_UUID.match(v):
        return v
    if not isinstance(v, str):
        raise ScenarioError("%s: id %r is not a string" % (what, v))
    u, err = go_uuid_parse(v)
    if err:
        raise ScenarioError("%s: id %r: %s" % (what, v, err))
    return u


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------

class Clock:
    """Virtual clock: ns since start, optionally quantised (--tick), frozen or advanced."""

    def __init__(self, tick):
        self.wall0 = time.time_ns()
        self.mono0 = time.monotonic_ns()
        self.offset = 0
        self.frozen = None
        self.tick_ns = int(tick * NS)

    def now(self):
        t = self.frozen if self.frozen is not None else time.monotonic_ns() - self.mono0 + self.offset
        if self.tick_ns > 0:
            t -= t % self.tick_ns
        return t

    def wall(self, virtual_ns):
        return self.wall0 + virtual_ns


class Counters:
    """uint64 counters growing at exact rational rates from an epoch (virtual ns).

    value = (base + rate * (now - epoch)) mod 2^64: a counter set near 2^64-1 with a rate
    wraps like Go's uint64 does.
    """

    __slots__ = ("base", "rate", "epoch")

    def __init__(self, epoch):
        self.base = {}
        self.rate = {}
        self.epoch = epoch

    def value(self, field, now):
        b = self.base.get(field, 0)
        n, d = self.rate.get(field, (0, 1))
        return (b + n * (now - self.epoch) // (d * NS)) % U64

    def dyn(self, field):
        """(base, num, den*NS) for the renderers' inner loop."""
        n, d = self.rate.get(field, (0, 1))
        return self.base.get(field, 0), n, d * NS

    def rebase(self, now):
        for f in list(set(self.base) | set(self.rate)):
            self.base[f] = self.value(f, now)
        self.epoch = now


class Path:
    def __init__(self, name):
        self.name = name
        self.conf_name = "all_others"
        self.source = None            # None or (type, id)
        self.ready = False
        self.ready_ns = None          # wall ns
        self.online = None            # v1.20 override; None = derive (FACTS 29)
        self.online_ns = None
        self.online_set = False
        self.tracks = []              # [(codec label (v1.20 spelling), props dict or None)]
        self.readers = []             # [(type, id)]
        self.counters = None
        self.generated = False
        self.tmpl = None              # (generation, template, dyn, readers) cache


class SRTConn:
    def __init__(self, cid):
        self.id = cid
        self.created_ns = 0
        self.remote_addr = "127.0.0.1:40000"
        self.state = "idle"
        self.path = ""
        self.query = ""
        self.user = ""
        self.floats = {}
        self.counters = None
        self.generated = False
        self.tmpl = None


def srt_defaults(role, byte_rate):
    """Plausible gosrt statistics for a conn moving byte_rate payload bytes/s.

    Returns (values, rates) with rates as exact (num, den) pairs.  Constants follow FACTS 37:
    mbpsMaxBW -1, bytesAvail*Buf 0, MSS 1500, flow window 25600, latency 120 ms, send period
    (1456+16)*1e6/(128*2^20) us.  A packet carries 7 TS packets (1316 bytes), 1360 bytes on the
    wire with SRT+UDP+IP headers; 1 packet in 1000 is lost and retransmitted, 1 in 10000 dropped.
    """
    den = 1316 * 20000  # common denominator: packets/s = byte_rate * k / den
    pk, loss, drop, belated, nak = 20000, 20, 2, 1, 10
    wire = 1360
    v = dict(SRT_ZERO_VALUES)
    v.update(usPacketsSendPeriod=(1456 + 16) * 1e6 / (128 * 2 ** 20), packetsFlowWindow=25600,
             mbpsMaxBW=-1.0, byteMSS=1500, msSendTsbPdDelay=120, msReceiveTsbPdDelay=120,
             mbpsLinkCapacity=1000.0)
    mbps = round(byte_rate * 8 / 1048576, 2)
    if role == "publish":
        k = dict(packetsReceived=pk + loss, packetsReceivedUnique=pk - drop,
                 packetsReceivedLoss=loss, packetsReceivedRetrans=loss, packetsReceivedDrop=drop,
                 packetsReceivedBelated=belated, packetsSentNAK=nak)
        for b, p in (("bytesReceived", "packetsReceived"),
                     ("bytesReceivedUnique", "packetsReceivedUnique"),
                     ("bytesReceivedLoss", "packetsReceivedLoss"),
                     ("bytesReceivedRetrans", "packetsReceivedRetrans"),
                     ("bytesReceivedDrop", "packetsReceivedDrop"),
                     ("bytesReceivedBelated", "packetsReceivedBelated")):
            k[b] = k[p] * wire
        rates = {f: (byte_rate * x, den) for f, x in k.items()}
        rates["packetsSentACK"] = (100, 1)  # one ACK every 10 ms
        rb = byte_rate * 12 // (1316 * 100)  # 120 ms of packets in the receive buffer
        v.update(msRTT=0.5, mbpsReceiveRate=mbps, packetsReceiveBuf=rb, bytesReceiveBuf=rb * 1316,
                 msReceiveBuf=120, packetsReceivedLossRate=0.1)
    elif role == "read":
        k = dict(packetsSent=pk + loss, packetsSentUnique=pk, packetsSendLoss=loss,
                 packetsRetrans=loss, packetsSendDrop=drop, packetsReceivedNAK=nak)
        for b, p in (("bytesSent", "packetsSent"), ("bytesSentUnique", "packetsSentUnique"),
                     ("bytesRetrans", "packetsRetrans"), ("bytesSendDrop", "packetsSendDrop")):
            k[b] = k[p] * wire
        rates = {f: (byte_rate * x, den) for f, x in k.items()}
        rates["packetsReceivedACK"] = (100, 1)
        if byte_rate:
            rates["usSndDuration"] = (900000, 1)  # sending 90% of the time
        v.update(msRTT=12.5, mbpsSendRate=mbps, packetsFlightSize=12, packetsSendBuf=12,
                 bytesSendBuf=12 * 1316, msSendBuf=10, packetsSendLossRate=0.1)
    else:
        rates = {}
    return v, {f: r for f, r in rates.items() if r[0]}


# --------------------------------------------------------------------------------------------
# State, scenario loading and rendering
# --------------------------------------------------------------------------------------------

class State:
    def __init__(self, version, clock, srt_enabled=True):
        self.lock = threading.RLock()
        self.version = version
        self.v20 = version == "1.20"
        self.clock = clock
        self.srt_enabled = srt_enabled
        self.paths = {}
        self.conns = {}
        self.gen = 0                  # bumped on every change; templates carry the gen
        self._sorted_paths = None
        self._sorted_conns = None
        self.faults = []
        self.fault_seq = 0
        self.churn_seq = 0
        self.resize_seq = 0
        self.restart_seq = 0
        self.rng = random.Random()

    # -- bookkeeping ------------------------------------------------------------------------

    def changed(self):
        self.gen += 1
        self._sorted_paths = None
        self._sorted_conns = None

    def sorted_path_names(self):
        if self._sorted_paths is None:
            # FACTS 22: sorted by name (Go compares bytes; names are ASCII, FACTS 39).
            self._sorted_paths = sorted(self.paths)
        return self._sorted_paths

    def sorted_conn_ids(self):
        if self._sorted_conns is None:
            # FACTS 23: sorted by created (ties broken by id for determinism).
            self._sorted_conns = sorted(self.conns, key=lambda i: (self.conns[i].created_ns, i))
        return self._sorted_conns

    # -- scenario in --------------------------------------------------------------------------

    def build_path(self, obj, now):
        if not isinstance(obj, dict):
            raise ScenarioError("a path must be an object")
        name = obj.get("name")
        err = check_path_name(name, self.version)
        if err:
            raise ScenarioError(err)
        p = Path(name)
        what = "path %s" % name
        p.generated = bool(obj.get("generated", False))
        p.conf_name = obj.get("confName", "all_others")
        if not isinstance(p.conf_name, str):
            raise ScenarioError(what + ": confName must be a string")
        src = obj.get("source")
        if src is not None:
            if not isinstance(src, dict) or not isinstance(src.get("type"), str):
                raise ScenarioError(what + ": source must be null or {type, id}")
            sid = src.get("id")
            if sid is None:
                # Static sources have id "" (FACTS 32); publishers a uuid.
                static = src["type"].endswith("Source") or src["type"] == "redirect"
                sid = "" if static else det_uuid(name, "source")
            if src["type"] == "srtConn":
                sid = norm_uuid(sid, what + " source")
            p.source = (src["type"], str(sid))
        p.ready = bool(obj.get("ready", p.source is not None))
        if "readyTime" in obj and obj["readyTime"] is not None:
            p.ready_ns = parse_time(obj["readyTime"], self.clock, what + " readyTime")
        elif p.ready:
            p.ready_ns = self.clock.wall(now)
        if "online" in obj:
            p.online_set = True
            p.online = bool(obj["online"])
            ot = obj.get("onlineTime")
            p.online_ns = None if ot is None else parse_time(ot, self.clock, what + " onlineTime")
        tracks = obj.get("tracks", [])
        if not isinstance(tracks, list):
            raise ScenarioError(what + ": tracks must be a list")
        for t in tracks:
            if isinstance(t, str):
                codec, props = t, "default"
            elif isinstance(t, dict) and isinstance(t.get("codec"), str):
                codec, props = t["codec"], t.get("codecProps", "default")
            else:
                raise ScenarioError(what + ": bad track %r" % (t,))
            codec = LABEL_V120.get(codec, codec)
            if props == "default":
                props = CODEC_PROPS_DEFAULT.get(codec)
            if props is not None and not isinstance(props, dict):
                raise ScenarioError(what + ": codecProps must be an object or null")
            if props is not None and codec in CODEC_PROPS_ORDER:
                order = CODEC_PROPS_ORDER[codec]
                props = {k: props[k] for k in order if k in props} | \
                        {k: x for k, x in props.items() if k not in order}
            p.tracks.append((codec, props))
        readers = obj.get("readers", [])
        if not isinstance(readers, list):
            raise ScenarioError(what + ": readers must be a list")
        for i, r in enumerate(readers):
            if isinstance(r, str):
                r = {"type": r}
            if not isinstance(r, dict) or not isinstance(r.get("type"), str):
                raise ScenarioError(what + ": bad reader %r" % (r,))
            rid = r.get("id")
            if rid is None:
                rid = "" if r["type"] == "hlsMuxer" else det_uuid(name, "reader", i)
            if r["type"] == "srtConn":
                rid = norm_uuid(rid, what + " reader")
            p.readers.append((r["type"], str(rid)))
        p.counters = Counters(now)
        rates = obj.get("rates", {})
        if not isinstance(rates, dict):
            raise ScenarioError(what + ": rates must be an object")
        for f, x in rates.items():
            if f not in PATH_COUNTERS:
                raise ScenarioError(what + ": unknown rate %r" % f)
            p.counters.rate[f] = parse_rate(x, what + " " + f)
        # A counter not given starts at rate * time since ready ("it has been running").
        age = max(0, self.clock.wall(now) - p.ready_ns) if p.ready_ns else 0
        for f in PATH_COUNTERS:
            if f in obj:
                p.counters.base[f] = parse_u64(obj[f], what + " " + f)
            else:
                n, d = p.counters.rate.get(f, (0, 1))
                p.counters.base[f] = n * age // (d * NS) % U64
        return p

    def build_conn(self, obj, now, path=None, default_rate=0):
        if not isinstance(obj, dict):
            raise ScenarioError("an srtconn must be an object")
        cid = obj.get("id")
        if cid is None:
            raise ScenarioError("an srtconn needs an id")
        c = SRTConn(norm_uuid(cid, "srtconn"))
        what = "srtconn %s" % c.id
        c.generated = bool(obj.get("generated", False))
        c.state = obj.get("state", "publish" if path else "idle")
        if c.state not in ("idle", "read", "publish"):
            raise ScenarioError(what + ": state must be idle, read or publish")
        c.path = obj.get("path", path or "")
        for attr, key in (("remote_addr", "remoteAddr"), ("query", "query"), ("user", "user"),
                          ("path", "path")):
            val = obj.get(key, getattr(c, attr))
            if not isinstance(val, str):
                raise ScenarioError(what + ": %s must be a string" % key)
            setattr(c, attr, val)
        if c.state != "idle" and c.path not in self.paths and path is None:
            raise ScenarioError(what + ": path %r does not exist" % c.path)
        if "created" in obj:
            c.created_ns = parse_time(obj["created"], self.clock, what + " created")
        else:
            c.created_ns = self.clock.wall(now)
        stats = obj.get("stats", {})
        rates = obj.get("rates", {})
        if not isinstance(stats, dict) or not isinstance(rates, dict):
            raise ScenarioError(what + ": stats and rates must be objects")
        if "byteRate" in obj:
            default_rate = parse_u64(obj["byteRate"], what + " byteRate")
        dvals, drates = srt_defaults(c.state, default_rate)
        c.counters = Counters(now)
        for f, x in drates.items():
            c.counters.rate[f] = x
        for f, x in rates.items():
            if SRT_KIND.get(f) != "u":
                raise ScenarioError(what + ": %r is not an integer statistic" % f)
            c.counters.rate[f] = parse_rate(x, what + " " + f)
        age = max(0, self.clock.wall(now) - c.created_ns)
        for f, kind in SRT_STATS_V120:
            if f in stats:
                if kind == "u":
                    c.counters.base[f] = parse_u64(stats[f], what + " " + f)
                else:
                    c.floats[f] = parse_f64(stats[f], what + " " + f)
            elif kind == "u":
                n, d = c.counters.rate.get(f, (0, 1))
                c.counters.base[f] = (dvals[f] + n * age // (d * NS)) % U64
            else:
                c.floats[f] = dvals[f]
        for f in stats:
            if f not in SRT_KIND:
                raise ScenarioError(what + ": unknown statistic %r" % f)
        return c

    def add_path_obj(self, obj, now, conns_out):
        """Build one path and, for an SRT publisher, its srtconn (id = source.id)."""
        p = self.build_path(obj, now)
        srt = obj.get("srt")
        if p.source and p.source[0] == "srtConn":
            co = dict(srt or {})
            co["id"] = p.source[1]
            co.setdefault("state", "publish")
            co.setdefault("created", time_out(p.ready_ns) if p.ready_ns else None)
            if co["created"] is None:
                del co["created"]
            rate = p.counters.rate.get("bytesReceived", (0, 1))
            conns_out.append(self.build_conn(co, now, path=p.name, default_rate=rate[0] // rate[1]))
        elif srt is not None:
            raise ScenarioError("path %s: 'srt' needs source.type srtConn" % p.name)
        return p

    def auto_reader_conns(self, now):
        """Every srtConn reader gets an srtconn in state read (if the scenario has none)."""
        for p in self.paths.values():
            for rtype, rid in p.readers:
                if rtype == "srtConn" and rid not in self.conns:
                    rate = p.counters.rate.get("bytesReceived", (0, 1))
                    c = self.build_conn({"id": rid, "state": "read", "path": p.name,
                                         "created": time_out(p.ready_ns or self.clock.wall(now))},
                                        now, path=p.name, default_rate=rate[0] // rate[1])
                    c.generated = p.generated
                    self.conns[c.id] = c

    def load(self, scenario):
        """Replace the whole state with a scenario object (README "Scenario format")."""
        if not isinstance(scenario, dict):
            raise ScenarioError("a scenario must be an object")
        now = self.clock.now()
        paths, conns = {}, []
        old_paths, old_conns = self.paths, self.conns
        try:
            self.paths, self.conns = paths, {}
            for obj in scenario.get("paths", []):
                p = self.add_path_obj(obj, now, conns)
                if p.name in paths:
                    raise ScenarioError("path %s given twice" % p.name)
                paths[p.name] = p
            for c in conns:
                self.conns[c.id] = c
            for obj in scenario.get("srtconns", []):
                c = self.build_conn(obj, now)
                self.conns[c.id] = c
            self.auto_reader_conns(now)
        except Exception:
            self.paths, self.conns = old_paths, old_conns
            raise
        self.changed()

    def upsert_path(self, obj):
        now = self.clock.now()
        conns = []
        p = self.add_path_obj(obj, now, conns)
        self.remove_path(p.name)
        self.paths[p.name] = p
        for c in conns:
            self.conns[c.id] = c
        self.auto_reader_conns(now)
        self.changed()
        return p

    def remove_path(self, name):
        """Remove a path and every srtconn on it (publisher and readers are closed)."""
        p = self.paths.pop(name, None)
        if p is None:
            return False
        for cid in [i for i, c in self.conns.items() if c.path == name or
                    (p.source and p.source[0] == "srtConn" and i == p.source[1])]:
            del self.conns[cid]
        self.changed()
        return True

    def restart(self, name):
        """Publisher restart: a new stream, counters back to small values, new SRT conn."""
        p = self.paths.get(name)
        if p is None:
            return False
        now = self.clock.now()
        wall = self.clock.wall(now)
        p.ready, p.ready_ns = True, wall
        if p.online_set and p.online_ns is not None and p.online_ns != ZERO_TIME_NS:
            p.online_ns = wall
        p.counters.epoch = now
        for f in PATH_COUNTERS:  # about a quarter second of traffic
            n, d = p.counters.rate.get(f, (0, 1))
            p.counters.base[f] = n // (4 * d)
        if p.source and p.source[0] == "srtConn":
            old = self.conns.pop(p.source[1], None)
            self.restart_seq += 1
            new_id = det_uuid(name, "restart", self.restart_seq, wall)
            p.source = ("srtConn", new_id)
            co = {"id": new_id, "state": "publish", "created": time_out(wall)}
            if old is not None:
                co.update(remoteAddr=old.remote_addr, query=old.query, user=old.user,
                          stats=dict(old.floats))
            rate = p.counters.rate.get("bytesReceived", (0, 1))
            c = self.build_conn(co, now, path=name, default_rate=rate[0] // rate[1])
            for f in c.counters.base:  # counters start again from (almost) nothing
                n, d = c.counters.rate.get(f, (0, 1))
                if SRT_KIND[f] == "u" and n:
                    c.counters.base[f] = n // (4 * d)
            self.conns[c.id] = c
        elif p.source:
            p.source = (p.source[0], det_uuid(name, "restart", wall))
        self.changed()
        return True

    def generate(self, count, srt_every):
        """Replace the generated paths (cam-NNNNN) by `count` deterministic ones."""
        for n in [n for n, p in self.paths.items() if p.generated]:
            self.remove_path(n)
        for i in [i for i, c in self.conns.items() if c.generated]:
            del self.conns[i]
        now = self.clock.now()
        width = max(5, len(str(count)))
        reader_kinds = ("rtspSession", "webRTCSession", "hlsSession", "rtmpConn", "srtConn")
        for i in range(1, count + 1):
            name = "cam-%0*d" % (width, i)
            if srt_every > 0 and i % srt_every == 0:
                stype = "srtConn"
            else:
                stype = "rtspSession" if i % 2 else "rtmpConn"
            rate = 50000 + (i * 7919) % 450000
            nread = i % 5
            readers = [{"type": reader_kinds[(i + j) % 5], "id": gen_uuid(i, 2, j)}
                       for j in range(nread)]
            ready_s = -(count - i) - 60  # older paths first; distinct created times
            obj = {"name": name, "source": {"type": stype, "id": gen_uuid(i, 1)},
                   "ready": True, "readyTime": ready_s,
                   "tracks": ["H264", "MPEG-4 Audio"] if i % 4 else ["H265"],
                   "readers": readers,
                   "rates": {"bytesReceived": rate, "bytesSent": rate * nread}}
            conns = []
            p = self.add_path_obj(obj, now, conns)
            p.generated = True
            self.paths[name] = p
            for c in conns:
                c.generated = True
                self.conns[c.id] = c
            # Readers connect a little after the publisher, one second apart.
            for j, (rtype, rid) in enumerate(p.readers):
                if rtype == "srtConn":
                    c = self.build_conn({"id": rid, "state": "read", "path": name,
                                         "remoteAddr": "127.0.0.%d:%d" % (1 + i % 250, 30000 + j),
                                         "created": ready_s + 1 + j}, now, path=name,
                                        default_rate=rate)
                    c.generated = True
                    self.conns[c.id] = c
        self.changed()

    # -- scenario out ---------------------------------------------------------------------------

    def conn_out(self, c, now, with_path_state=True):
        o = {"id": c.id, "created": time_out(c.created_ns), "remoteAddr": c.remote_addr,
             "state": c.state, "path": c.path, "query": c.query, "user": c.user, "stats": {},
             "rates": {}, "generated": c.generated}
        for f, kind in SRT_STATS_V120:
            o["stats"][f] = c.counters.value(f, now) if kind == "u" else c.floats[f]
        for f, r in c.counters.rate.items():
            if r[0]:
                o["rates"][f] = rate_out(r)
        return o

    def dump(self):
        now = self.clock.now()
        out = {"apiVersion": self.version, "paths": [], "srtconns": []}
        publishers = set()
        for name in self.sorted_path_names():
            p = self.paths[name]
            o = {"name": p.name, "confName": p.conf_name,
                 "source": None if p.source is None else {"type": p.source[0], "id": p.source[1]},
                 "ready": p.ready, "readyTime": time_out(p.ready_ns)}
            if p.online_set:
                o["online"] = p.online
                o["onlineTime"] = time_out(p.online_ns)
            o["tracks"] = [{"codec": c, "codecProps": props} for c, props in p.tracks]
            o["readers"] = [{"type": t, "id": i} for t, i in p.readers]
            for f in PATH_COUNTERS:
                o[f] = p.counters.value(f, now)
            o["rates"] = {f: rate_out(r) for f, r in p.counters.rate.items() if r[0]}
            if p.source and p.source[0] == "srtConn" and p.source[1] in self.conns:
                c = self.conns[p.source[1]]
                publishers.add(c.id)
                co = self.conn_out(c, now)
                del co["id"], co["path"]
                o["srt"] = co
            o["generated"] = p.generated
            out["paths"].append(o)
        for cid in self.sorted_conn_ids():
            if cid not in publishers:
                out["srtconns"].append(self.conn_out(self.conns[cid], now))
        return out

    # -- rendering (FACTS 20, 25-36) --------------------------------------------------------------

    @staticmethod
    def _esc(s):
        return s.replace("{", "{{").replace("}", "}}")

    def _path_template(self, p):
        """A str.format template with {0} {1} {2} for the counters ({3} readers in v1.13)."""
        e = self._esc
        v20 = self.v20
        src = "null" if p.source is None else \
            '{"type":%s,"id":%s}' % (go_str(p.source[0]), go_str(p.source[1]))
        ready = p.ready
        rtime = go_time(p.ready_ns) if ready and p.ready_ns is not None else "null"
        tracks = p.tracks if ready else []  # FACTS 27: not ready -> tracks [], counters 0
        if ready:
            cnt = ("{0}", "{1}", "{2}")
            dyn = [p.counters.dyn(f) for f in PATH_COUNTERS]
        else:
            cnt = ("0", "0", "0")
            dyn = []
        head = '{"name":' + go_str(p.name) + ',"confName":' + go_str(p.conf_name)
        if v20:
            # FACTS 29/30: online = a source exists (static sources: zero onlineTime).
            if p.online_set:
                online, ons = p.online, p.online_ns
            elif p.source is None:
                online, ons = False, None
            elif p.source[0].endswith("Source") or p.source[0] == "redirect":
                online, ons = True, ZERO_TIME_NS
            elif p.ready:
                online, ons = True, p.ready_ns  # setOnline when the publisher arrived
            else:
                online, ons = False, None
            otime = "null" if ons is None else go_time(ons)
            readers = sorted((t, i) for t, i in p.readers if t not in ("hidden", "hlsMuxer"))
            t1 = "[" + ",".join(go_str(c) for c, _ in tracks) + "]"
            t2 = "[" + ",".join('{"codec":%s,"codecProps":%s}' % (go_str(c), go_json(props))
                                for c, props in tracks) + "]"
            rj = "[" + ",".join('{"type":%s,"id":%s}' % (go_str(t), go_str(i))
                                for t, i in readers) + "]"
            b = "true" if ready else "false"
            # FACTS 26/28 and the v1.20.1 struct (internal/defs/api_path.go:72-91): deprecated
            # ready/readyTime/tracks/bytesReceived/bytesSent are kept, ready == available,
            # bytesReceived == inboundBytes, readers sorted by (type, id), hidden dropped.
            tmpl = (e(head + ',"ready":' + b + ',"readyTime":' + rtime + ',"available":' + b +
                      ',"availableTime":' + rtime + ',"online":' + ("true" if online else "false") +
                      ',"onlineTime":' + otime + ',"source":' + src + ',"tracks":' + t1 +
                      ',"tracks2":' + t2 + ',"readers":' + rj + ',"inboundBytes":') + cnt[0] +
                    ',"outboundBytes":' + cnt[1] + ',"inboundFramesInError":' + cnt[2] +
                    ',"bytesReceived":' + cnt[0] + ',"bytesSent":' + cnt[1] + "}}")
            return tmpl, dyn, None
        # v1.13 (FACTS 25): name, confName, source, ready, readyTime, tracks, bytesReceived,
        # bytesSent, readers.  An HLS muxer is one reader with id "" (FACTS 33).
        readers, hls = [], False
        for t, i in p.readers:
            if t in ("hlsSession", "hlsMuxer"):
                if not hls:
                    readers.append(("hlsMuxer", ""))
                hls = True
            elif t != "hidden":
                readers.append((t, i))
        rlist = ['{"type":%s,"id":%s}' % (go_str(t), go_str(i)) for t, i in readers]
        t1 = "[" + ",".join(go_str(LABEL_V113.get(c, c)) for c, _ in tracks) + "]"
        tmpl = (e(head + ',"source":' + src + ',"ready":' + ("true" if ready else "false") +
                  ',"readyTime":' + rtime + ',"tracks":' + t1 + ',"bytesReceived":') + cnt[0] +
                ',"bytesSent":' + cnt[1] + ',"readers":{3}}}')
        return tmpl, dyn, rlist

    def render_path(self, p, now, intfmt=None):
        t = p.tmpl
        if t is None or t[0] != self.gen:
            t = p.tmpl = (self.gen,) + self._path_template(p)
        _, tmpl, dyn, rlist = t
        dt = now - p.counters.epoch
        vals = [(b + n * dt // d) % U64 for b, n, d in dyn] or [0, 0, 0]
        if intfmt:
            vals = [intfmt(x) for x in vals]
        if rlist is not None:
            vals.append(None)
            if len(rlist) > 1:  # FACTS 27: v1.13 readers come from a map: random order
                rlist = self.rng.sample(rlist, len(rlist))
            vals[3] = "[" + ",".join(rlist) + "]"
        return tmpl.format(*vals)

    def _conn_template(self, c):
        """A str.format template with a placeholder per moving counter, and their (b, n, d)."""
        path_obj = self.paths.get(c.path)
        state, path = c.state, c.path
        if self.v20 and state == "publish" and (path_obj is None or not path_obj.ready):
            state = "idle"  # FACTS 36: v1.20 publishes only once the tracks are known
        if state == "idle":
            path = ""
        head = ('{"id":' + go_str(c.id) + ',"created":' + go_time(c.created_ns) +
                ',"remoteAddr":' + go_str(c.remote_addr) + ',"state":' + go_str(state) +
                ',"path":' + go_str(path) + ',"query":' + go_str(c.query))
        if self.v20:
            head += ',"user":' + go_str(c.user)
        parts = [self._esc(head)]
        dyn = []
        fields = SRT_STATS_V120 if self.v20 else SRT_STATS
        if state == "idle":  # FACTS 35: no sconn yet -> every statistic 0, even MSS and maxBW
            parts += [',"%s":0' % f for f, _ in fields]
        else:
            base, rate, floats = c.counters.base, c.counters.rate, c.floats
            for f, kind in fields:
                if kind == "f":
                    parts.append(',"%s":%s' % (f, go_float(floats[f])))
                    continue
                r = rate.get(f)
                if r and r[0]:
                    parts.append(',"%s":{%d}' % (f, len(dyn)))
                    dyn.append((base.get(f, 0), r[0], r[1] * NS))
                else:
                    parts.append(',"%s":%d' % (f, base.get(f, 0) % U64))
        parts.append("}}")
        return "".join(parts), dyn

    def render_conn(self, c, now, intfmt=None):
        t = c.tmpl
        if t is None or t[0] != self.gen:
            t = c.tmpl = (self.gen,) + self._conn_template(c)
        _, tmpl, dyn = t
        dt = now - c.counters.epoch
        vals = [(b + n * dt // d) % U64 for b, n, d in dyn]
        if intfmt:
            vals = [intfmt(x) for x in vals]
        return tmpl.format(*vals)

    def list_body(self, kind, per_page, page, variant=None):
        """A whole list answer.  FACTS 4: itemCount is the full count; FACTS 3 for pages.

        The wrapper is {"itemCount","pageCount","items"}: that is the Go struct order
        (APIPathList / APISRTConnList), not the yaml's.
        """
        intfmt = WRONGTYPE_INTFMT.get(variant)
        with self.lock:
            now = self.clock.now()
            if kind == "paths":
                keys = self.sorted_path_names()
                render = lambda k: self.render_path(self.paths[k], now, intfmt)  # noqa: E731
            else:
                keys = self.sorted_conn_ids()
                render = lambda k: self.render_conn(self.conns[k], now, intfmt)  # noqa: E731
            n = len(keys)
            pc = page_count(n, per_page)
            lo = min(page * per_page, n)
            hi = min((page + 1) * per_page, n)
            items = ",".join(render(k) for k in keys[lo:hi])
        items = "[" + items + "]"
        if variant == "items_object":
            items = "{}"
        elif variant == "items_null":
            items = "null"
        pcs = '"%d"' % pc if variant == "pagecount_string" else str(pc)
        return '{"itemCount":%d,"pageCount":%s,"items":%s}' % (n, pcs, items)

    # -- faults ---------------------------------------------------------------------------------

    def take_fault(self, group):
        with self.lock:
            for f in self.faults:
                if f["target"] in (group, "all"):
                    if f["times"] is not None:
                        f["times"] -= 1
                        if f["times"] <= 0:
                            self.faults.remove(f)
                    return dict(f)
        return None

    def churn(self, kind):
        """One churn step after a list page was served (fault kind "churn").

        paths: a new path sorting first is inserted and the last one is removed, so itemCount
        stays the same while every later page shifts by one: a naive pager sees the item at
        each page boundary twice and never sees the removed one.
        srtconns (sorted by created): the oldest conn is removed and a new one added at the end.
        """
        with self.lock:
            now = self.clock.now()
            self.churn_seq += 1
            if kind == "paths":
                names = self.sorted_path_names()
                if names:
                    self.remove_path(names[-1])
                name = "-churn-%06d" % (999999 - self.churn_seq % 1000000)
                self.upsert_path({"name": name, "source": {"type": "rtspSession"},
                                  "ready": True, "tracks": ["H264"],
                                  "rates": {"bytesReceived": 100000}})
            else:
                ids = self.sorted_conn_ids()
                if ids:
                    del self.conns[ids[0]]
                cid = det_uuid("churn", self.churn_seq)
                self.conns[cid] = self.build_conn({"id": cid, "state": "idle"}, now)
                self.changed()


    def resize(self, kind, delta):
        """One resize step after a list page was served (fault kind "resize").

        delta > 0 adds that many items sorting last (paths "zz-resize-NNNNNN", ready RTSP
        publishers without readers; srtconns idle, created now), delta < 0 removes that many
        from the end (the last names; the newest conns), so pageCount grows or shrinks while
        a client is between pages and every item before the change stays where it was.
        """
        with self.lock:
            now = self.clock.now()
            if kind == "paths":
                if delta < 0:  # remove_path() in bulk: one pass over the conns
                    gone = set(self.sorted_path_names()[delta:])
                    pubs = {self.paths[n].source[1] for n in gone if self.paths[n].source and
                            self.paths[n].source[0] == "srtConn"}
                    for n in gone:
                        del self.paths[n]
                    for cid in [i for i, c in self.conns.items() if c.path in gone or i in pubs]:
                        del self.conns[cid]
                for _ in range(max(0, delta)):
                    self.resize_seq += 1
                    p = self.build_path({"name": "zz-resize-%06d" % self.resize_seq,
                                         "source": {"type": "rtspSession"}, "ready": True,
                                         "tracks": ["H264"], "rates": {"bytesReceived": 100000}},
                                        now)
                    self.paths[p.name] = p
            else:
                if delta < 0:
                    for cid in self.sorted_conn_ids()[delta:]:
                        del self.conns[cid]
                for _ in range(max(0, delta)):
                    self.resize_seq += 1
                    cid = det_uuid("resize", self.resize_seq)
                    self.conns[cid] = self.build_conn({"id": cid, "state": "idle"}, now)
            self.changed()


# "wrongtype" fault variants that replace the moving counters.
WRONGTYPE_INTFMT = {
    "counter_string": lambda v: '"%d"' % v,
    "counter_negative": lambda v: "-1",
    "counter_float": lambda v: "%d.5" % v,
    "counter_overflow": lambda v: str(U64 + v),
}
WRONGTYPE_VARIANTS = set(WRONGTYPE_INTFMT) | {"items_object", "items_null", "pagecount_string"}


# --------------------------------------------------------------------------------------------
# Demo scenario (in the same format PUT /state takes; times are seconds relative to start)
# --------------------------------------------------------------------------------------------

SPORT_PUB = "5b6e1f0a-8c1e-4d47-9b1a-2f0c3d4e5a61"
SPORT_SRT_READER = "9d2c7b4e-3f1a-4e6b-8c5d-0a1b2c3d4e5f"


def demo_scenario():
    sport_rate = 254280  # 1.94 Mi-bit/s (gosrt rates are *8/1024/1024, FACTS 37)
    return {"paths": [
        {"name": "testpattern-sport",
         "source": {"type": "srtConn", "id": SPORT_PUB},
         "ready": True, "readyTime": -7260.123456789,
         "tracks": [{"codec": "H264", "codecProps": {"width": 1280, "height": 720,
                                                     "profile": "Main", "level": "3.1"}},
                    "MPEG-4 Audio"],
         "readers": [{"type": "srtConn", "id": SPORT_SRT_READER}],
         "rates": {"bytesReceived": sport_rate, "bytesSent": sport_rate},
         "srt": {"remoteAddr": "192.0.2.10:52000", "query": "key=sport&mode=live",
                 "user": "encoder",
                 "stats": {"msRTT": 0.36, "mbpsReceiveRate": 1.94, "mbpsLinkCapacity": 1808.58,
                           "packetsReceivedLossRate": 1e-07}}},
        {"name": "studio-a/main",
         "source": {"type": "rtspSession", "id": "c3a1e2b4-5d6f-4a7b-8c9d-e0f1a2b3c4d5"},
         "ready": True, "readyTime": -5400,
         "tracks": ["H264", "AC3"],  # AC3 is "AC-3" in v1.13 (FACTS 43)
         "readers": [{"type": "webRTCSession", "id": "7a8b9c0d-1e2f-4a3b-9c4d-5e6f7a8b9c0d"},
                     {"type": "rtspSession", "id": "1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9"}],
         "rates": {"bytesReceived": 500000, "bytesSent": 1000000}},
        {"name": "lobby-cam",
         "source": {"type": "rtmpConn", "id": "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e"},
         "ready": True, "readyTime": -600.5,
         "tracks": ["H264", "MPEG-4 Audio"],
         # Two HLS viewers: v1.20 lists two hlsSession readers, v1.13 one hlsMuxer (FACTS 33).
         "readers": [{"type": "hlsSession", "id": "3c4d5e6f-7a8b-4c9d-8e0f-2a3b4c5d6e7f"},
                     {"type": "hlsSession", "id": "4d5e6f7a-8b9c-4d0e-9f1a-3b4c5d6e7f80"}],
         "rates": {"bytesReceived": 125000, "bytesSent": 250000}},
        {"name": "backstage", "confName": "backstage", "source": None, "ready": False},
    ], "srtconns": [
        {"id": SPORT_SRT_READER, "state": "read", "path": "testpattern-sport",
         "remoteAddr": "198.51.100.7:40112", "created": -1800, "user": "viewer",
         "byteRate": sport_rate,
         "stats": {"msRTT": 12.5, "mbpsSendRate": 1.94, "mbpsLinkCapacity": 95.37}},
    ]}


# --------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------

class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.requests = 0
        self.connections = 0
        self.by_endpoint = collections.Counter()
        self.last = collections.deque(maxlen=200)  # bounded request log

    def connection(self):
        with self.lock:
            self.connections += 1

    def request(self, entry):
        with self.lock:
            self.requests += 1
            self.last.append(entry)

    def endpoint(self, name):
        with self.lock:
            self.by_endpoint[name] += 1

    def snapshot(self):
        with self.lock:
            return {"requests": self.requests, "connections": self.connections,
                    "by_endpoint": dict(self.by_endpoint), "last": [dict(e) for e in self.last]}


class App:
    def __init__(self, args):
        self.version = args.api_version
        self.v20 = self.version == "1.20"
        self.clock = Clock(args.tick)
        self.state = State(self.version, self.clock, srt_enabled="srt" not in args.disable)
        self.stats = Stats()
        self.user, self.password = args.user, args.password
        self.token = args.token if self.v20 else None  # no API tokens in v1.13
        self.auth_enabled = bool(self.user or self.password or self.token)
        self.auth_fail_delay = args.auth_fail_delay
        self.idle_timeout = args.idle_timeout
        self.tls_ctx = None  # an ssl.SSLContext with --tls-cert (main())
        self.sysrand = random.SystemRandom()
        self.args = args


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mediamtx"

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        if os.environ.get("STANDIN_VERBOSE"):
            sys.stderr.write("%s %s\n" % (self.__class__.__name__, fmt % args))

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.app = self.server.app

    def __getattr__(self, name):
        # Every method goes to dispatch(): gin answers unknown methods 404, not 501 (FACTS 19).
        if name.startswith("do_"):
            return self.dispatch
        raise AttributeError(name)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def respond(self, status, body=b"", headers=(), ctype=None, server=True):
        """Write one whole response with a single send (no Nagle stalls between parts)."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        lines = ["HTTP/1.1 %d %s" % (status, http.HTTPStatus(status).phrase)]
        hdrs = list(headers)
        if ctype:
            hdrs.append(("Content-Type", ctype))
        if server:
            hdrs.append(("Server", "mediamtx"))  # FACTS 17
        hdrs.sort(key=lambda kv: kv[0])  # Go writes the handler's headers sorted by key
        if self.close_connection:
            hdrs.append(("Connection", "close"))
        hdrs.append(("Date", self.date_time_string()))
        hdrs.append(("Content-Length", str(len(body))))
        lines += ["%s: %s" % kv for kv in hdrs]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head if self.command == "HEAD" else head + body)
        self.wfile.flush()
        return status


JSON_CT = "application/json; charset=utf-8"
_GO_HTML = str.maketrans({"<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&#39;", '"': "&#34;"})


def GO_HTML_ESCAPE(s):
    return s.translate(_GO_HTML)


class ApiHandler(Handler):
    """The MediaMTX API port."""

    def setup(self):
        # --tls-cert: each connection does its TLS handshake in its own thread, so a client
        # that fails or stalls it holds only that thread. Like Go's net/http (server.go,
        # tlsRecordHeaderLooksLikeHTTP): a plain HTTP request gets a bare 400 and the close;
        # a client that rejects the certificate aborts the handshake and the connection ends.
        self.tls_failed = False
        self.tls_wrapped = False
        ctx = self.server.app.tls_ctx
        if ctx is not None:
            raw = self.request
            try:
                raw.settimeout(10)
                head = b""
                while len(head) < 5:
                    head = raw.recv(5, socket.MSG_PEEK)
                    if not head or head[:1] == b"\x16":
                        break
                    if len(head) < 5:
                        time.sleep(0.01)
                if head in (b"GET /", b"HEAD ", b"POST ", b"PUT /", b"OPTIO"):
                    raw.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n"
                                b"Client sent an HTTP request to an HTTPS server.\n")
                    self.tls_failed = True
                elif head[:1] != b"\x16":
                    self.tls_failed = True
                else:
                    self.request = ctx.wrap_socket(raw, server_side=True)  # handshakes now
                    self.tls_wrapped = True
                    self.request.settimeout(None)
            except (ssl.SSLError, OSError):
                self.tls_failed = True
        super().setup()
        self.app.stats.connection()
        if self.app.idle_timeout:
            self.connection.settimeout(self.app.idle_timeout)

    def handle(self):
        if not self.tls_failed:
            super().handle()

    def finish(self):
        super().finish()
        if self.tls_wrapped:  # the wrapper took over the descriptor: the server's own
            try:              # shutdown_request() no longer reaches it
                self.request.close()
            except OSError:
                pass

    def cors(self):
        # FACTS 18: v1.13 gin middleware (ACAO from apiAllowOrigin + credentials),
        # v1.20 outer handler with allowOrigins ["*"].
        h = [("Access-Control-Allow-Origin", "*")]
        if not self.app.v20:
            h.append(("Access-Control-Allow-Credentials", "true"))
        return h

    def error_body(self, msg):
        # FACTS 5: {"error"} in v1.13, {"status":"error","error"} in v1.20.
        if self.app.v20:
            return '{"status":"error","error":' + go_str(msg) + "}"
        return '{"error":' + go_str(msg) + "}"

    def send_error_json(self, status, msg, extra=()):
        return self.respond(status, self.error_body(msg), list(extra) + self.cors(), JSON_CT)

    def gin_404(self):
        # FACTS 19: gin's own 404, plain text, after the middlewares ran.
        return self.respond(404, "404 page not found", self.cors(), "text/plain")

    def route(self, path):
        """(group, param) for a GET route, ('tsr', target) for gin's 301, or None."""
        app = self.app
        exact = {"/v3/paths/list": "paths_list"}
        if app.state.srt_enabled:
            exact["/v3/srtconns/list"] = "srtconns_list"
        if app.v20:
            exact["/v3/info"] = "info"  # FACTS 15: v1.20 only
        if path in exact:
            return exact[path], None
        if path.startswith("/v3/paths/get/"):
            return "paths_get", path[len("/v3/paths/get"):]  # catch-all keeps its '/'
        srt_get = "/v3/srtconns/get/"
        if app.state.srt_enabled and path.startswith(srt_get):
            rest = path[len(srt_get):]
            if rest and "/" not in rest:
                return "srtconns_get", rest
            if rest.endswith("/") and rest[:-1] and "/" not in rest[:-1]:
                return "tsr", path[:-1]
        # RedirectTrailingSlash (FACTS 19).
        if path.endswith("/") and path[:-1] in exact:
            return "tsr", path[:-1]
        if path == "/v3/paths/get":
            return "tsr", path + "/"
        return None

    def check_auth(self):
        """FACTS 6-10: None when allowed, else 'ask' (no credentials) or 'fail'."""
        app = self.app
        if not app.auth_enabled:
            return None
        h = self.headers.get("Authorization", "")
        user = pw = token = ""
        if h[:6].lower() == "basic ":  # r.BasicAuth(): scheme case-insensitive
            try:
                dec = base64.b64decode(h[6:], validate=True).decode("latin-1")
                if ":" in dec:
                    user, _, pw = dec.partition(":")
            except ValueError:
                pass
        if h.startswith("Bearer "):  # FACTS 9: "user:pass" with exactly one ':', else a token
            parts = h[7:].split(":")
            if len(parts) == 2:
                user, pw = parts
            else:
                token = h[7:]
        if not user and not pw and (not app.v20 or not token):  # FACTS 8
            return "ask"
        if (app.user or app.password) and user == app.user and pw == app.password:
            return None
        if app.v20 and app.token and token == app.token:
            return None
        return "fail"

    def dispatch(self):
        app = self.app
        method = self.command
        raw_path, _, raw_query = self.path.partition("?")
        scheme = self.headers.get("Authorization", "").split(" ", 1)[0].lower() or "none"
        entry = {"method": method, "path": raw_path, "query": raw_query, "auth": scheme,
                 "status": None}
        app.stats.request(entry)
        self.read_body()
        dec = go_unescape(raw_path.encode("latin-1", "replace"), False)
        if dec is None:
            # net/http refuses a bad %-escape in the path before any handler: bare 400, close.
            app.stats.endpoint("bad_request")
            self.close_connection = True
            self.wfile.write(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; "
                             b"charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request")
            entry["status"] = 400
            return
        path = dec.decode("utf-8", "surrogateescape")
        entry["status"] = self.serve(method, path, raw_query.encode("latin-1", "replace"))

    def serve(self, method, path, raw_query):
        app = self.app
        rt = self.route(path) if method == "GET" else None  # gin has no 405 (FACTS 19)
        if rt and rt[0] == "tsr":
            # gin redirects before the middlewares run: no auth, no gin CORS header.
            app.stats.endpoint("redirect")
            loc = rt[1] + ("?" + raw_query.decode("latin-1") if raw_query else "")
            # http.Redirect: Fprintln(w, "<a href=\"" + htmlEscape(url) + "\">Moved Permanently</a>.\n")
            body = '<a href="%s">Moved Permanently</a>.\n\n' % GO_HTML_ESCAPE(loc)
            hdr = [("Location", loc)] + (self.cors() if app.v20 else [])
            return self.respond(301, body, hdr, "text/html; charset=utf-8")
        if method == "OPTIONS" and self.headers.get("Access-Control-Request-Method"):
            app.stats.endpoint("options")  # CORS preflight, answered before auth (FACTS 18)
            return self.respond(204, b"", self.cors() + [
                ("Access-Control-Allow-Headers", "Authorization, Content-Type"),
                ("Access-Control-Allow-Methods", "OPTIONS, GET, POST, PATCH, DELETE")])
        # Auth is a router middleware: it runs for unknown routes too (FACTS 10).
        verdict = self.check_auth()
        if verdict:
            app.stats.endpoint("unauthorized")
            if verdict == "fail":
                # FACTS 7: no WWW-Authenticate, after PauseAfterError (2 s) / random 0-4 s.
                delay = app.auth_fail_delay
                if delay is None:
                    delay = app.sysrand.uniform(0, 4) if app.v20 else 2.0
                time.sleep(delay)
                extra = []
            else:
                # Go canonicalises the header name as "Www-Authenticate".
                extra = [("Www-Authenticate", 'Basic realm="mediamtx"')]
            if app.v20:
                return self.send_error_json(401, "authentication error", extra)
            return self.respond(401, b"", extra + self.cors())  # AbortWithStatus: no body
        if rt is None:
            app.stats.endpoint("not_found")
            return self.gin_404()
        group, param = rt
        app.stats.endpoint(group)
        fault = app.state.take_fault(group.split("_")[0])
        if fault:
            done = self.apply_fault(fault, group, param, raw_query)
            if done is not None:
                return done
        status, body = self.answer(group, param, raw_query, None)
        return self.respond(status, body, self.cors(), JSON_CT)

    def answer(self, group, param, raw_query, variant):
        """(status, JSON body) of a known route."""
        st = self.app.state
        if group in ("paths_list", "srtconns_list"):
            q = go_parse_query(raw_query)
            per_page, page = 100, 0  # FACTS 1 defaults
            s = q.get(b"itemsPerPage", [b""])[0]  # first value wins (FACTS 21)
            if s:
                per_page, err = go_parse_uint31(s)
                if err:
                    return 400, self.error_body(err)
            if per_page == 0:  # FACTS 2: checked before page and even for empty lists
                return 400, self.error_body("invalid items per page")
            s = q.get(b"page", [b""])[0]
            if s:
                page, err = go_parse_uint31(s)
                if err:
                    return 400, self.error_body(err)
            return 200, st.list_body(group.split("_")[0], per_page, page, variant)
        if group == "paths_get":
            if len(param) < 2 or param[0] != "/":  # FACTS 16
                return 400, self.error_body("invalid name")
            intfmt = WRONGTYPE_INTFMT.get(variant)
            with st.lock:
                p = st.paths.get(param[1:])
                if p is None:
                    return 404, self.error_body("path not found")  # FACTS 41
                return 200, st.render_path(p, st.clock.now(), intfmt)
        if group == "srtconns_get":
            cid, err = go_uuid_parse(param)
            if err:
                return 400, self.error_body(err)  # FACTS 42
            intfmt = WRONGTYPE_INTFMT.get(variant)
            with st.lock:
                c = st.conns.get(cid)
                if c is None:
                    return 404, self.error_body("connection not found")  # FACTS 41
                return 200, st.render_conn(c, st.clock.now(), intfmt)
        if group == "info":
            started = go_time(self.app.clock.wall0)
            if variant:
                started = str(self.app.clock.wall0 // NS)
            return 200, '{"version":%s,"started":%s}' % (go_str(VERSION_STRINGS["1.20"]), started)
        raise AssertionError(group)

    def apply_fault(self, f, group, param, raw_query):
        """Answer according to fault f; None means "now answer normally"."""
        kind = f["kind"]
        if kind == "slow":
            time.sleep(f.get("delay", 5))
            return None
        if kind == "refuse":
            self.close_connection = True
            if f.get("reset"):
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           b"\x01\x00\x00\x00\x00\x00\x00\x00")
            return 0
        if kind == "status":
            code = f.get("status", 500)
            if code == 401:
                extra = [("Www-Authenticate", 'Basic realm="mediamtx"')]
                if self.app.v20:
                    return self.send_error_json(401, "authentication error", extra)
                return self.respond(401, b"", extra + self.cors())
            not_found = {"paths": "path not found", "srtconns": "connection not found"}
            default = {404: not_found.get(group.split("_")[0], "not found"),
                       400: "invalid request"}.get(code, "terminated")
            return self.send_error_json(code, f.get("message", default))
        if kind == "garbage":
            return self.respond(200, f.get("body", "<html>this is not JSON {{{ \x01"),
                                self.cors(), JSON_CT)
        if kind == "empty":
            return self.respond(200, b"", self.cors(), JSON_CT)
        if kind == "deep":
            depth = int(f.get("depth", 100000))
            body = '{"itemCount":1,"pageCount":1,"items":' + "[" * depth + "]" * depth + "}"
            return self.respond(200, body, self.cors(), JSON_CT)
        if kind == "huge":
            return self.send_huge(int(f.get("bytes", 64 << 20)))
        if kind == "truncate":
            status, body = self.answer(group, param, raw_query, None)
            data = body.encode("utf-8")
            return self.respond(status, data[:len(data) // 2], self.cors(), JSON_CT)
        if kind == "wrongtype":
            status, body = self.answer(group, param, raw_query, f.get("variant", "counter_string"))
            return self.respond(status, body, self.cors(), JSON_CT)
        if kind == "churn":
            status, body = self.answer(group, param, raw_query, None)
            if group.endswith("_list") and status == 200:
                self.app.state.churn(group.split("_")[0])
            return self.respond(status, body, self.cors(), JSON_CT)
        if kind == "resize":
            status, body = self.answer(group, param, raw_query, None)
            if group.endswith("_list") and status == 200:
                self.app.state.resize(group.split("_")[0], f.get("delta", 0))
            return self.respond(status, body, self.cors(), JSON_CT)
        raise AssertionError(kind)

    def send_huge(self, n):
        """A valid JSON body of exactly n bytes, chunked, without Content-Length."""
        head = b'{"itemCount":1,"pageCount":1,"items":[{"name":"'
        tail = b'"}]}'
        pad = max(0, n - len(head) - len(tail))
        hdr = self.cors() + [("Content-Type", JSON_CT), ("Server", "mediamtx")]
        hdr.sort()
        lines = ["HTTP/1.1 200 OK"] + ["%s: %s" % kv for kv in hdr] + [
            "Transfer-Encoding: chunked", "Date: " + self.date_time_string()]
        try:
            self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            block = b"a" * 65536

            def chunk(b):
                self.wfile.write(b"%x\r\n" % len(b) + b + b"\r\n")
            chunk(head)
            while pad > 0:
                k = min(pad, len(block))
                chunk(block[:k])
                pad -= k
            chunk(tail)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True  # the client hung up on purpose: fine
        return 200


class ControlHandler(Handler):
    """The control port: never authenticated, JSON in and out (README "Control API")."""

    def reply(self, status, obj):
        return self.respond(status, json.dumps(obj), (), "application/json")

    def dispatch(self):
        app = self.app
        st = app.state
        method = self.command
        path = go_unescape(self.path.partition("?")[0].encode("latin-1"), False)
        path = (path or b"").decode("utf-8", "replace")
        try:
            raw = self.read_body()
            body = json.loads(raw) if raw.strip() else None
        except ValueError as e:
            return self.reply(400, {"error": "bad JSON: %s" % e})
        try:
            with st.lock:
                return self.control(method, path, body)
        except ScenarioError as e:
            return self.reply(400, {"error": str(e)})

    def control(self, method, path, body):
        app = self.app
        st = app.state
        if path == "/state" and method == "GET":
            return self.reply(200, st.dump())
        if path == "/state" and method == "PUT":
            st.load(body or {})
            return self.reply(200, {"ok": True, "paths": len(st.paths), "srtconns": len(st.conns)})
        if path == "/paths" and method == "POST":
            p = st.upsert_path(body or {})
            return self.reply(200, {"ok": True, "name": p.name})
        if path.startswith("/paths/") and method == "DELETE":
            ok = st.remove_path(path[len("/paths/"):])
            return self.reply(200 if ok else 404, {"ok": ok})
        if path.startswith("/restart/") and method == "POST":
            ok = st.restart(path[len("/restart/"):])
            return self.reply(200 if ok else 404, {"ok": ok})
        if path == "/generate" and method == "POST":
            body = body or {}
            count, every = body.get("count", 0), body.get("srt_every", 3)
            if not isinstance(count, int) or not isinstance(every, int) or count < 0:
                raise ScenarioError("count and srt_every must be integers")
            st.generate(count, every)
            return self.reply(200, {"ok": True, "paths": len(st.paths), "srtconns": len(st.conns)})
        if path == "/faults" and method == "POST":
            f = self.check_fault(body)
            st.fault_seq += 1
            f["id"] = st.fault_seq
            st.faults.append(f)
            return self.reply(200, {"ok": True, "id": f["id"]})
        if path == "/faults" and method == "DELETE":
            st.faults.clear()
            return self.reply(200, {"ok": True})
        if path == "/faults" and method == "GET":
            return self.reply(200, {"faults": st.faults})
        if path == "/stats" and method == "GET":
            return self.reply(200, app.stats.snapshot())
        if path == "/stats/reset" and method == "POST":
            with app.stats.lock:
                app.stats.reset()
            return self.reply(200, {"ok": True})
        if path == "/clock" and method == "POST":
            body = body or {}
            clk = app.clock
            if body.get("freeze") is True and clk.frozen is None:
                clk.frozen = clk.now()
            if body.get("freeze") is False and clk.frozen is not None:
                clk.offset = clk.frozen - (time.monotonic_ns() - clk.mono0)
                clk.frozen = None
            adv = int(round(float(body.get("advance", 0)) * NS))
            if adv < 0:
                raise ScenarioError("the clock only goes forward")
            if clk.frozen is not None:
                clk.frozen += adv
            else:
                clk.offset += adv
            return self.reply(200, {"ok": True, "now_ns": clk.now(), "frozen": clk.frozen is not None})
        if path == "/reset" and method == "POST":
            # Back to what the command line loaded; faults cleared, clock left alone.
            st.faults.clear()
            load_initial(app, app.args)
            return self.reply(200, {"ok": True, "paths": len(st.paths), "srtconns": len(st.conns)})
        if path == "/health":
            return self.reply(200, {"ok": True, "version": app.version})
        return self.reply(404, {"error": "no such control route: %s %s" % (method, path)})

    @staticmethod
    def check_fault(body):
        if not isinstance(body, dict):
            raise ScenarioError("a fault must be an object")
        f = dict(body)
        f.setdefault("target", "all")
        f.setdefault("times", None)
        if f["target"] not in ("paths", "srtconns", "info", "all"):
            raise ScenarioError("target must be paths, srtconns, info or all")
        kinds = ("status", "refuse", "slow", "garbage", "empty", "truncate", "wrongtype", "deep",
                 "huge", "churn", "resize")
        if f.get("kind") not in kinds:
            raise ScenarioError("kind must be one of " + ", ".join(kinds))
        if f["times"] is not None and (not isinstance(f["times"], int) or f["times"] < 1):
            raise ScenarioError("times must be a positive integer or null")
        if f["kind"] == "resize" and (isinstance(f.get("delta"), bool) or
                                      not isinstance(f.get("delta"), int)):
            raise ScenarioError("resize needs an integer delta")
        if f["kind"] == "wrongtype" and f.get("variant", "counter_string") not in WRONGTYPE_VARIANTS:
            raise ScenarioError("variant must be one of " + ", ".join(sorted(WRONGTYPE_VARIANTS)))
        return f


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------

class Server4(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class Server6(Server4):
    address_family = socket.AF_INET6


def parse_listen(s):
    host, sep, port = s.rpartition(":")
    if not sep:
        raise argparse.ArgumentTypeError("expected HOST:PORT")
    host = host.strip("[]")
    if host == "localhost":
        host = "127.0.0.1"
    if not (host.startswith("127.") or host == "::1"):
        raise argparse.ArgumentTypeError("the stand-in binds loopback addresses only")
    return host, int(port)


def make_server(addr, handler, app):
    cls = Server6 if ":" in addr[0] else Server4
    srv = cls(addr, handler)
    srv.app = app
    return srv


def load_initial(app, args):
    st = app.state
    scen = args.scenario or ("empty" if args.generate is not None else "demo")
    if scen == "demo":
        st.load(demo_scenario())
    elif scen == "empty":
        st.load({})
    else:
        with open(scen, encoding="utf-8") as fh:
            st.load(json.load(fh))
    if args.generate:
        st.generate(args.generate, args.srt_every)


def main(argv=None):
    ap = argparse.ArgumentParser(description="MediaMTX Control API v3 stand-in (see README.md)")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--listen", type=parse_listen, default=("127.0.0.1", 0))
    ap.add_argument("--control-listen", type=parse_listen, default=("127.0.0.1", 0))
    ap.add_argument("--api-version", choices=("1.20", "1.13"), default="1.20")
    ap.add_argument("--scenario", help="demo (default), empty or a JSON file")
    ap.add_argument("--generate", type=int, metavar="N")
    ap.add_argument("--srt-every", type=int, default=3, metavar="K")
    ap.add_argument("--user", default="")
    ap.add_argument("--pass", dest="password", default="")
    ap.add_argument("--token", default="")
    ap.add_argument("--auth-fail-delay", type=float, metavar="SECONDS")
    ap.add_argument("--disable", action="append", default=[], choices=("srt",))
    ap.add_argument("--tick", type=float, default=0.0, metavar="SECONDS")
    ap.add_argument("--idle-timeout", type=float, default=0.0, metavar="SECONDS",
                    help="close keep-alive connections idle this long (default: never)")
    ap.add_argument("--tls-cert", metavar="PEM",
                    help="serve the API over HTTPS with this certificate (chain, leaf first)")
    ap.add_argument("--tls-key", metavar="PEM", help="the private key of --tls-cert")
    args = ap.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        ap.error("--tls-cert and --tls-key go together")

    app = App(args)
    try:
        load_initial(app, args)
    except (OSError, ValueError) as e:
        ap.error("scenario: %s" % e)
    api = make_server(args.listen, ApiHandler, app)
    if args.tls_cert:  # MediaMTX's apiEncryption: HTTPS on the API port, TLS 1.2+ (Go's floor)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.load_cert_chain(args.tls_cert, args.tls_key)
        except (OSError, ssl.SSLError) as e:
            ap.error("--tls-cert/--tls-key: %s" % e)
        app.tls_ctx = ctx
    ctl = make_server(args.control_listen, ControlHandler, app)
    for srv in (api, ctl):
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2},
                         daemon=True).start()

    # Both sockets listen: publish the ports atomically (temp file + rename).
    tmp = "%s.tmp.%d" % (args.port_file, os.getpid())
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump({"api": api.server_address[1], "control": ctl.server_address[1]}, fh)
    os.replace(tmp, args.port_file)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    for srv in (api, ctl):
        srv.shutdown()
        srv.server_close()
    try:
        os.unlink(args.port_file)
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
