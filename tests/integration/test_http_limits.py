"""The HTTP server's limits on the real binary (docs/http-api.md, "Listening" and "Limits"):

- a taken port in the default dual-stack form ":PORT" is a startup error naming the address;
- every request head, whatever its size or shape, gets an answer: 200 within the limits,
  414 or 431 beyond them (libmicrohttpd 0.9.75 alone lost some: heads that fill its
  connection memory to the last few hundred bytes, and queries of a few hundred
  parameters), over plain HTTP and over TLS.

The sweeps step byte by byte across the edges where libmicrohttpd's memory runs out, so a
band without an answer cannot hide between two probes."""
import importlib.util
import os
import re
import socket
import ssl
import subprocess
import tempfile
import shutil

import pytest

from harness import SOURCE_DIR, Exporter, Standin, wait_until

MAX_TARGET = 16 * 1024   # MXE_HTTP_MAX_TARGET
MAX_HEAD = 16 * 1024     # MXE_HTTP_MAX_HEAD_BYTES
MAX_FIELDS = 100         # MXE_HTTP_MAX_HEADER_FIELDS
POOL = 48 * 1024         # MXE_HTTP_CONNECTION_MEMORY


def read_constants():
    """The limits as include/http.h defines them (the sweeps are placed around them)."""
    with open(os.path.join(SOURCE_DIR, "include", "http.h")) as f:
        text = f.read()
    found = dict(re.findall(r"#define (MXE_HTTP_\w+)\s+\(?([0-9 *]+)\)?", text))
    return {k: eval(v) for k, v in found.items()}  # "16 * 1024"


def test_constants_match_the_header():
    c = read_constants()
    assert (c["MXE_HTTP_MAX_TARGET"], c["MXE_HTTP_MAX_HEAD_BYTES"],
            c["MXE_HTTP_MAX_HEADER_FIELDS"], c["MXE_HTTP_CONNECTION_MEMORY"]) == \
        (MAX_TARGET, MAX_HEAD, MAX_FIELDS, POOL)


# --- the listening socket ------------------------------------------------------------------

def test_taken_dual_stack_port_is_a_startup_error(spawn):
    """":PORT" (all interfaces, IPv4 and IPv6) with the port taken: exit status 1 and one
    clear message that names the address, no stack of follow-up errors."""
    mx = spawn(Standin, "--scenario", "empty")
    try:
        holder = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        holder.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        holder.bind(("::", 0))
    except OSError:  # no IPv6 in this kernel: the exporter falls back to 0.0.0.0
        holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        holder.bind(("0.0.0.0", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        ex = spawn(Exporter, ["--mediamtx.api-url", mx.url, "--redis.url", "none",
                              "--output.json", "", "--web.listen-address", ":%d" % port],
                   listen=False)
        assert ex.wait(timeout=30) == 1
        err = ex.stderr()
        assert re.search(r"\berror\s+listen :%d: Address already in use\n" % port, err), err
    finally:
        holder.close()


# --- request heads -------------------------------------------------------------------------

def exchange(port, data, tls_ctx=None, timeout=10.0):
    """Send a raw request and read until the server closes: the whole answer (b"" for none).
    A reset after the answer is fine (the server closes with unread bytes)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if tls_ctx:
        sock = tls_ctx.wrap_socket(sock, server_hostname="127.0.0.1")
    out = b""
    try:
        sock.sendall(data)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            out += chunk
    except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
        pass
    finally:
        sock.close()
    return out


def status_of(resp):
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", resp)
    return int(m.group(1)) if m else None


def body_of(resp):
    return resp.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in resp else None


def sweep(port, make, sizes, allowed, tls_ctx=None):
    """make(n) → request bytes; every answer's status is in allowed(n). Returns the answers."""
    answers = {}
    for n in sizes:
        resp = exchange(port, make(n), tls_ctx)
        st = status_of(resp)
        assert st in allowed(n), "%d: %r" % (n, resp[:120])
        answers[n] = resp
    return answers


def padded(total, path="/healthz"):
    """A head of exactly `total` bytes: one long field."""
    head = b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: " % path.encode()
    return head + b"a" * (total - len(head) - 4) + b"\r\n\r\n"


def fields(n):
    """A head with n header fields in all."""
    return (b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" +
            b"".join(b"X-F%d: y\r\n" % i for i in range(2, n)) + b"\r\n")


def empty_lines_first(n, method=b"GET"):
    """n bytes of CRLFs (which may precede a request line and which libmicrohttpd keeps in
    the connection memory), then a small request."""
    return b"\r\n" * (n // 2) + method + b" /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def query(n, param=b"a=1&"):
    return (b"GET /healthz?" + param * n + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")


@pytest.fixture(scope="module")
def servers():
    """One plain and one TLS exporter (module scope: the sweeps send thousands of requests)."""
    d = tempfile.mkdtemp(prefix="mxe-limits-")
    spec = importlib.util.spec_from_file_location(
        "testcerts", os.path.join(SOURCE_DIR, "tests", "standin", "testcerts.py"))
    testcerts = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(testcerts)
    certs = testcerts.make(d)  # needs the openssl tool (ci/install-deps): fails without
    mx = Standin("--scenario", "demo")
    common = ["--mediamtx.api-url", mx.url, "--redis.url", "none", "--output.json", ""]
    plain = Exporter(common)
    tls = Exporter(common + ["--web.tls-cert-file", certs["cert"],
                             "--web.tls-key-file", certs["key"]],
                   ssl_context=ssl.create_default_context(cafile=certs["ca"]))
    yield plain, tls
    for obj in (tls, plain, mx):
        obj.close()
    shutil.rmtree(d, ignore_errors=True)


def test_head_size_limit_and_memory_edge(servers):
    plain, _ = servers
    # the exporter's own limit: 16,384 bytes served, one more 431 (text, Connection: close)
    answers = sweep(plain.port, padded, range(MAX_HEAD - 8, MAX_HEAD + 9),
                    lambda n: {200} if n <= MAX_HEAD else {431})
    over = answers[MAX_HEAD + 1]
    assert b"\r\nConnection: close\r\n" in over
    assert body_of(over) == b"request header fields too large\n"
    # the end of libmicrohttpd's memory: the head fits (our 431), fits without room for an
    # answer (the fallback 431), or does not fit (libmicrohttpd's 431)
    sweep(plain.port, padded, range(POOL - 700, POOL + 200), lambda n: {431})
    resp = exchange(plain.port, padded(MAX_HEAD + 1, "/api/streams/latest"))
    assert status_of(resp) == 431
    assert body_of(resp) == b'{"error":"request header fields too large"}\n'


def test_field_count_limit_and_memory_edge(servers):
    plain, _ = servers
    sweep(plain.port, fields, range(MAX_FIELDS - 3, MAX_FIELDS + 4),
          lambda n: {200} if n <= MAX_FIELDS else {431})
    # where ~64 bytes of bookkeeping per field exhaust the connection memory
    sweep(plain.port, fields, range(POOL // 80, POOL // 60), lambda n: {431})


def test_empty_lines_before_the_request_line(servers):
    """They count toward nothing but libmicrohttpd's memory: a small request after them is
    served until the memory is nearly full, then answered 431 (the fallback: text/plain)
    and, once even the request line does not fit, 414."""
    plain, _ = servers
    answers = sweep(plain.port, empty_lines_first, range(POOL - 800, POOL + 200, 2),
                    lambda n: {200, 431, 414})
    fallback = [n for n, r in answers.items()
                if status_of(r) == 431 and b"Content-Type: text/plain" in r]
    assert fallback, "no request reached the band without room for an answer"
    statuses = [status_of(answers[n]) for n in sorted(answers)]
    assert statuses[0] == 200 and statuses[-1] == 414, statuses
    # HEAD in that band: the fallback without its body
    resp = exchange(plain.port, empty_lines_first(fallback[len(fallback) // 2], b"HEAD"))
    assert status_of(resp) == 431 and body_of(resp) == b"", resp


def test_query_parameters_and_target_length(servers):
    plain, _ = servers
    # Hundreds or thousands of parameters within the target limit: the query is ignored
    # (libmicrohttpd 0.9.75 alone stored each, ran out of memory, lost its 431 and never
    # answered).
    for param in (b"a=1&", b"&", b"a&b=%zz&"):
        most = (MAX_TARGET - 100) // len(param)
        sweep(plain.port, lambda n: query(n, param),
              [n for n in (100, 300, 1000, 3000) if n < most] + [most], lambda n: {200})
    # the target limit: 414 from the exporter, then from libmicrohttpd, never silence
    target = lambda n: (b"GET /healthz?q=" + b"x" * (n - 11) +  # noqa: E731
                        b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    answers = sweep(plain.port, target, range(MAX_TARGET - 4, MAX_TARGET + 5),
                    lambda n: {431} if n <= MAX_TARGET else {414})
    assert body_of(answers[MAX_TARGET + 1]) == b"request target too long\n"
    sweep(plain.port, target, range(POOL - 600, POOL + 100, 3), lambda n: {414, 431})
    resp = exchange(plain.port, target(1000000))
    assert resp == b"" or status_of(resp) == 414  # or a reset: the rest was never read
    assert plain.get("/healthz")[0] == 200


def test_tls_edges(servers):
    """The same edges through TLS: the fallback answer is written through the session."""
    _, tls = servers
    ctx = tls.ssl_context
    sweep(tls.port, padded, range(MAX_HEAD - 2, MAX_HEAD + 3),
          lambda n: {200} if n <= MAX_HEAD else {431}, ctx)
    answers = sweep(tls.port, empty_lines_first, range(POOL - 800, POOL + 200, 2),
                    lambda n: {200, 431, 414}, ctx)
    assert any(status_of(r) == 431 and b"Content-Type: text/plain" in r
               for r in answers.values()), "no request reached the band over TLS"
    sweep(tls.port, padded, range(POOL - 700, POOL + 200, 3), lambda n: {431}, ctx)
    sweep(tls.port, lambda n: query(n, b"&"), (1000, 10000), lambda n: {200}, ctx)
    assert tls.get("/healthz")[0] == 200
