"""Security of the exporter's own port, end to end against the real binary.

- TLS (--web.tls-cert-file/--web.tls-key-file): TLS 1.3 and 1.2 work, 1.1 and 1.0 and
  weak TLS 1.2 suites are refused, plain HTTP to the TLS port gets no HTTP answer, bad
  files are clear startup errors.
- Basic auth (--web.users-file): 401 with the challenge on every path, 200 with the right
  password, /healthz open with --web.auth-exempt-health only, a flood of wrong
  passwords costs one bcrypt at a time, checks waiting their turn in order, so first
  logins during a flood pass, and it does not slow down cached clients.
- Secrets (MediaMTX password or token, Redis password) never appear in the log (at debug),
  /metrics, the status page, the API or error messages, while MediaMTX and Redis both
  reject them.
- Bad input at our own port: unknown paths, every non-GET method, 20 KB headers, slowloris
  (silent, trickling, on keep-alive, in the TLS handshake), connection floods, bad
  percent-encoding and NUL bytes, huge query strings, garbage: each answered correctly
  and the daemon unaffected (a /healthz after each).

The users and passwords are in tests/fixtures/web/users.txt: carol:x (cost 4, fast),
alice:wonderland (cost 10, tens of milliseconds per check)."""
import base64
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import warnings

import pytest

import harness
from harness import wait_until

USERS = os.path.join(harness.SOURCE_DIR, "tests", "fixtures", "web", "users.txt")
CHALLENGE = 'Basic realm="mediamtx-exporter", charset="UTF-8"'


def b64(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


# --- fixtures -----------------------------------------------------------------------------

def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)


@pytest.fixture(scope="module")
def certs():
    if not shutil.which("openssl"):
        pytest.skip("openssl CLI not installed (ci/install-deps installs it)")
    d = tempfile.mkdtemp(prefix="mxe-certs-")
    p = lambda name: os.path.join(d, name)  # noqa: E731
    san = "subjectAltName=IP:127.0.0.1,DNS:localhost"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", p("rsa.key"),
            "-out", p("rsa.crt"), "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", san)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", p("ec.key"), "-out", p("ec.crt"), "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", san)
    openssl("pkcs8", "-topk8", "-in", p("rsa.key"), "-out", p("rsa-enc.key"), "-passout",
            "pass:pw")
    yield {name: p(name) for name in ("rsa.key", "rsa.crt", "ec.key", "ec.crt", "rsa-enc.key")}
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def standin():
    s = harness.Standin()
    yield s
    s.close()


def common_args(standin, workdir, *extra):
    return ["--mediamtx.api-url", standin.url, "--redis.url", "none",
            "--output.json", os.path.join(workdir, "streams.json"),
            "--poll.interval", "0.5s"] + list(extra)


def client_ctx(cafile, version=None, ciphers=None):
    """A verifying client context, optionally pinned to one TLS version."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cafile)
        if version is not None:
            if version < ssl.TLSVersion.TLSv1_2:
                ctx.set_ciphers("ALL:@SECLEVEL=0")  # let OpenSSL 3 offer the old versions
            ctx.minimum_version = version
            ctx.maximum_version = version
        if ciphers:
            ctx.set_ciphers(ciphers)
    return ctx


def recv_all(sock, limit=1 << 20):
    data = b""
    while len(data) < limit:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError, socket.timeout):
            break
        if not chunk:
            break
        data += chunk
    return data


def tls_get(port, ctx, path="/healthz", headers=""):
    """One HTTPS request over a fresh connection: (TLS version, cipher, raw response)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sConnection: close\r\n\r\n"
                       % (path, headers)).encode())
            return s.version(), s.cipher()[0], recv_all(s)


def raw_request(port, data, timeout=10, source="127.0.0.1"):
    """Send raw bytes, read until the server closes: the raw response."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                  source_address=(source, 0)) as s:
        s.sendall(data)
        return recv_all(s)


def status_of(resp):
    line = resp.split(b"\r\n", 1)[0]
    assert line.startswith(b"HTTP/1."), resp[:200]
    return int(line.split()[1])


def headers_of(resp):
    head = resp.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
    return {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in head)}


def body_of(resp):
    return resp.split(b"\r\n\r\n", 1)[1]


def assert_alive(exp):
    assert exp.proc.poll() is None, "exporter died: " + exp.stderr()
    status, _, body = exp.get("/healthz")
    assert (status, body) == (200, b"ok\n")


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def run_to_exit(args, env=None, timeout=20):
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if k in os.environ:
            full_env[k] = os.environ[k]
    full_env.update(env or {})
    p = subprocess.run([harness.BIN] + list(args), env=full_env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")


# --- TLS ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_tls_12_and_13(spawn, standin, workdir, certs, kind):
    crt, key = certs[kind + ".crt"], certs[kind + ".key"]
    exp = spawn(harness.Exporter, common_args(standin, workdir, "--web.tls-cert-file", crt,
                                              "--web.tls-key-file", key),
                ssl_context=client_ctx(crt))
    version, _, resp = tls_get(exp.port, client_ctx(crt))
    assert version == "TLSv1.3" and status_of(resp) == 200
    version, cipher, resp = tls_get(exp.port, client_ctx(crt, ssl.TLSVersion.TLSv1_2))
    assert version == "TLSv1.2" and status_of(resp) == 200
    assert cipher.startswith("ECDHE-") and ("GCM" in cipher or "CHACHA20" in cipher), cipher
    # the real endpoints over TLS
    exp.wait_polls(1)
    status, hdrs, body = exp.get("/metrics")
    assert status == 200 and b"mediamtx_up 1" in body
    assert "TLS" in exp.stderr() and "no TLS" not in exp.stderr()


def tls_handshake_fails(port, ctx):
    try:
        tls_get(port, ctx)
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError, OSError):
        return True
    return False


def test_old_tls_and_weak_suites_refused(spawn, standin, workdir, certs):
    crt = certs["rsa.crt"]
    exp = spawn(harness.Exporter, common_args(standin, workdir, "--web.tls-cert-file", crt,
                                              "--web.tls-key-file", certs["rsa.key"]),
                ssl_context=client_ctx(crt))
    for version in (ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1):
        assert tls_handshake_fails(exp.port, client_ctx(crt, version)), version
        assert_alive(exp)
    # TLS 1.2 without forward secrecy or without AEAD
    for suite in ("AES128-GCM-SHA256", "AES256-SHA", "ECDHE-RSA-AES128-SHA",
                  "ECDHE-RSA-AES256-SHA384"):
        assert tls_handshake_fails(exp.port, client_ctx(crt, ssl.TLSVersion.TLSv1_2, suite)), \
            suite
    assert_alive(exp)


def test_tls11_client_control(certs):
    """The TLS 1.1 refusal above is the server's doing: the same client context completes
    a TLS 1.1 handshake with an openssl s_server that allows it."""
    port = harness.free_port()
    srv = subprocess.Popen(["openssl", "s_server", "-accept", "127.0.0.1:%d" % port, "-cert",
                            certs["rsa.crt"], "-key", certs["rsa.key"], "-tls1_1", "-cipher",
                            "ALL:@SECLEVEL=0", "-www", "-quiet"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ctx = client_ctx(certs["rsa.crt"], ssl.TLSVersion.TLSv1_1)

        def handshake():
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                    return s.version()
        try:
            version = wait_until(handshake, timeout=10, what="openssl s_server")
        except AssertionError:
            pytest.skip("this OpenSSL cannot serve TLS 1.1 at all")
        assert version == "TLSv1.1"
    finally:
        srv.kill()
        srv.wait()


def test_plain_http_to_tls_port(spawn, standin, workdir, certs):
    crt = certs["rsa.crt"]
    exp = spawn(harness.Exporter, common_args(standin, workdir, "--web.tls-cert-file", crt,
                                              "--web.tls-key-file", certs["rsa.key"]),
                ssl_context=client_ctx(crt))
    resp = raw_request(exp.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", timeout=10)
    assert b"HTTP/1." not in resp and b"mediamtx_" not in resp
    assert_alive(exp)


def test_tls_startup_errors(standin, workdir, certs):
    base = common_args(standin, workdir, "--web.listen-address", "127.0.0.1:0")
    crt, key = certs["rsa.crt"], certs["rsa.key"]
    cases = [
        (["--web.tls-cert-file", crt], 2, "--web.tls-cert-file: needs --web.tls-key-file too"),
        (["--web.tls-key-file", key], 2, "--web.tls-key-file: needs --web.tls-cert-file too"),
        (["--web.tls-cert-file", "/nonexistent.crt", "--web.tls-key-file", key], 2,
         "--web.tls-cert-file: cannot read /nonexistent.crt: No such file or directory"),
        (["--web.tls-cert-file", crt, "--web.tls-key-file", certs["ec.key"]], 1,
         "--web.tls-cert-file, --web.tls-key-file: GnuTLS failed to setup x509 "
         "certificate/key: The certificate and the given key do not match."),
        (["--web.tls-cert-file", key, "--web.tls-key-file", key], 1,
         "--web.tls-cert-file: %s: no PEM certificate" % key),
        (["--web.tls-cert-file", crt, "--web.tls-key-file", crt], 1,
         "--web.tls-key-file: %s: no PEM private key" % crt),
        (["--web.tls-cert-file", crt, "--web.tls-key-file", certs["rsa-enc.key"]], 1,
         "encrypted private keys are not supported"),
    ]
    key_body = open(key).read().splitlines()[1]
    for extra, want_rc, want in cases:
        rc, out = run_to_exit(base + extra)
        assert rc == want_rc, (extra, rc, out)
        assert want in out, (extra, out)
        assert key_body not in out
    # WEB_TLS_* from the environment are named as such
    rc, out = run_to_exit(base, env={"WEB_TLS_KEY_FILE": key})
    assert rc == 2 and "WEB_TLS_KEY_FILE: needs --web.tls-cert-file too" in out


# --- basic auth ---------------------------------------------------------------------------

AUTH_PATHS = ["/metrics", "/api/streams/latest", "/api/streams/cam1", "/", "/readyz",
              "/healthz", "/nope", "/api/nope"]


def test_basic_auth(spawn, standin, workdir):
    exp = spawn(harness.Exporter, common_args(standin, workdir, "--web.users-file", USERS),
                auth=("carol", "x"))
    exp.wait_polls(1)
    for path in AUTH_PATHS:
        for hdr in (None, b64("carol", "y"), b64("carol", ""), b64("mallory", "x"),
                    "Bearer x", "Basic !!!!", "Basic " + base64.b64encode(b"carol").decode(),
                    b64("CAROL", "x")):
            for method in ("GET", "HEAD"):
                status, hdrs, body = exp.get(path, headers={"Authorization": hdr}, method=method)
                assert status == 401, (path, hdr, method, status)
                assert hdrs["www-authenticate"] == CHALLENGE
                assert hdrs["x-content-type-options"] == "nosniff"
                if method == "GET":
                    assert body == (b'{"error":"unauthorized"}\n' if path.startswith("/api")
                                    else b"unauthorized\n")
        # a wrong method is refused before it is routed: no route enumeration
        status, _, _ = exp.get(path, headers={"Authorization": None}, method="DELETE")
        assert status == 401
    # the right password: the real answers
    assert exp.get("/metrics")[0] == 200
    assert exp.get("/api/streams/latest")[0] == 200
    assert exp.get("/healthz")[0] == 200
    assert exp.get("/", method="HEAD")[0] == 200
    assert exp.get("/nope")[0] == 404
    assert exp.get("/metrics", method="DELETE")[0] == 405
    # other users, other hashes ($2b$ cost 10, $2y$, UTF-8)
    for user, pw in (("alice", "wonderland"), ("bob", "pa:ss word"), ("\u00e9mile", "caf\u00e9")):
        hdr = "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()
        assert exp.get("/metrics", headers={"Authorization": hdr})[0] == 200, user
    log = exp.stderr()
    assert "basic auth on" in log
    assert "basic auth without TLS" in log  # the clear-text warning
    for secret in ("wonderland", "pa:ss word", "$2b$", "$2y$"):
        assert secret not in log


def test_cross_origin_websocket_refused_with_auth(spawn, standin, workdir):
    """A browser on another site must not open the feed with cached credentials."""
    exp = spawn(harness.Exporter, common_args(standin, workdir, "--web.users-file", USERS),
                auth=("carol", "x"))
    exp.wait_polls(1)
    ws = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
          "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    host = "127.0.0.1:%d" % exp.port
    status, _, body = exp.get("/api/streams/ws", headers=dict(ws, Origin="http://evil.example"))
    assert status == 403 and b"cross-origin" in body
    status, _, _ = exp.get("/api/streams/ws", headers=dict(ws, Origin="http://" + host))
    assert status == 101  # the status page's own origin
    status, _, _ = exp.get("/api/streams/ws", headers=ws)
    assert status == 101  # no Origin: not a browser


def test_health_exemption(spawn, standin, workdir):
    exp = spawn(harness.Exporter, common_args(standin, workdir, "--web.users-file", USERS,
                                              "--web.auth-exempt-health"))
    status, hdrs, body = exp.get("/healthz")
    assert (status, body) == (200, b"ok\n")
    assert exp.get("/healthz", method="HEAD")[0] == 200
    assert exp.get("/healthz?probe=1")[0] == 200
    # only /healthz: readiness names MediaMTX's address in its error line
    for path in ("/readyz", "/healthz/", "/healthz/x", "/metrics", "/", "/api/streams/latest"):
        status, hdrs, _ = exp.get(path)
        assert status == 401 and hdrs["www-authenticate"] == CHALLENGE, path
    assert exp.get("/readyz", headers={"Authorization": b64("carol", "x")})[0] in (200, 503)


def test_auth_over_tls(spawn, standin, workdir, certs):
    crt = certs["rsa.crt"]
    exp = spawn(harness.Exporter,
                common_args(standin, workdir, "--web.tls-cert-file", crt, "--web.tls-key-file",
                            certs["rsa.key"], "--web.users-file", USERS),
                ssl_context=client_ctx(crt), auth=("carol", "x"))
    assert exp.get("/metrics")[0] == 200
    assert exp.get("/metrics", headers={"Authorization": None})[0] == 401
    assert "basic auth without TLS" not in exp.stderr()


def test_users_file_errors(standin, workdir):
    base = common_args(standin, workdir, "--web.listen-address", "127.0.0.1:0")
    bad = os.path.join(workdir, "users")
    with open(bad, "w") as f:
        f.write("# users\ncarol:x-in-clear-text\n")
    rc, out = run_to_exit(base + ["--web.users-file", bad])
    assert rc == 1, out
    assert "--web.users-file: %s:2: not a bcrypt hash" % bad in out
    assert "x-in-clear-text" not in out
    with open(bad, "w") as f:
        f.write("carol:$1$abcdefgh$abcdefghijklmnopqrstuv\n")
    rc, out = run_to_exit(base + ["--web.users-file", bad])
    assert rc == 1 and "%s:1: not a bcrypt hash" % bad in out and "abcdefgh" not in out
    rc, out = run_to_exit(base + ["--web.users-file", "/nonexistent/users"])
    assert rc == 2
    assert "--web.users-file: cannot read /nonexistent/users: No such file or directory" in out
    rc, out = run_to_exit(base, env={"WEB_USERS_FILE": "/nonexistent/users"})
    assert rc == 2 and "WEB_USERS_FILE: cannot read" in out


def test_wrong_password_flood(spawn, standin, workdir):
    """Wrong passwords for alice (cost 10, tens of ms each) from 6 clients at once. bcrypt
    runs one check at a time and the others wait their turn in arrival order, so:
    every wrong password gets its 401 (none is refused with 503: the HTTP workers bound the
    waiters far below the queue's limit, and each waits a check or two, far below its time
    limit); first logins made during the flood (as Prometheus' after a restart) pass at
    their first attempt; a client whose credentials are cached and the exempt /healthz
    keep being answered quickly throughout."""
    exp = spawn(harness.Exporter, common_args(standin, workdir, "--web.users-file", USERS,
                                              "--web.auth-exempt-health"),
                auth=("carol", "x"))
    assert exp.get("/metrics")[0] == 200  # carol is cached from now on
    results, stop = [], threading.Event()

    def flood(i):
        n = 0
        while not stop.is_set() and n < 400:
            status, hdrs, _ = exp.get("/metrics",
                                      headers={"Authorization": b64("alice", "guess%d-%d" % (i, n))})
            results.append((status, hdrs.get("retry-after"), hdrs.get("www-authenticate")))
            n += 1

    threads = [threading.Thread(target=flood, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    worst = 0.0
    first_logins = []
    try:
        # the flood is on: bcrypt busy all the time from now on
        wait_until(lambda: len(results) >= 12, timeout=60, what="the flood under way")
        for user, password in (("bob", "pa:ss word"), ("\u00e9mile", "caf\u00e9"),
                               ("eve", "a" * 72)):
            status, _, _ = exp.get("/api/streams/latest", headers={
                "Authorization": "Basic " + base64.b64encode(
                    ("%s:%s" % (user, password)).encode()).decode()})
            first_logins.append((user, status))
        for _ in range(30):
            for path in ("/metrics", "/healthz"):
                t0 = time.monotonic()
                status, _, _ = exp.get(path)
                worst = max(worst, time.monotonic() - t0)
                assert status == 200, path
        still_flooding = not stop.is_set() and any(t.is_alive() for t in threads)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert still_flooding, "the flood ended before the checks did: nothing was proved"
    assert first_logins == [("bob", 200), ("\u00e9mile", 200), ("eve", 200)], first_logins
    statuses = [s for s, _, _ in results]
    assert statuses and set(statuses) == {401}, set(statuses)
    assert all(wa == CHALLENGE for s, _, wa in results if s == 401)
    assert worst < 2.0, "a cached client waited %.2f s" % worst
    assert_alive(exp)
    assert "guess" not in exp.stderr()


# --- secrets ------------------------------------------------------------------------------

MTX_SECRET = "mtxS3cret-7f3a9c"
REDIS_SECRET = "redisS3cret-4b8d2e"


class AuthRedis(harness.Redis):
    """A redis-server that wants a password the exporter does not have."""

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--logfile", os.path.join(self.dir, "log"),
             "--requirepass", "the-right-redis-password"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def ready():
            c = harness.RespConn(self.port)
            try:
                return c.cmd("AUTH", "the-right-redis-password") == "OK"
            finally:
                c.close()
        wait_until(ready, timeout=10, what="redis-server")
        return self


def forbidden_forms(secret, user=None):
    forms = {secret, secret.encode().hex()}
    if user:
        forms.add(base64.b64encode(("%s:%s" % (user, secret)).encode()).decode())
    forms.add(base64.b64encode(secret.encode()).decode().rstrip("="))
    return forms


def surfaces(exp, out_file):
    """Everything the exporter shows to anyone: its log, every endpoint, its JSON file."""
    out = {"stderr": exp.stderr()}
    for path, hdrs in (("/metrics", {}), ("/metrics", {"Accept": "application/openmetrics-text"}),
                       ("/", {}), ("/readyz", {}), ("/healthz", {}), ("/api/streams/latest", {}),
                       ("/api/streams/x", {}), ("/nope", {})):
        status, h, body = exp.get(path, headers=hdrs)
        out["%s %s" % (path, hdrs)] = "%d %r %s" % (status, h, body.decode("utf-8", "replace"))
    if os.path.exists(out_file):
        out["json file"] = open(out_file).read()
    return out


@pytest.mark.parametrize("variant", ["env-and-file", "token-and-url", "flags"])
def test_secrets_never_leak(spawn, workdir, variant):
    redis = AuthRedis().start()
    try:
        _secrets_scenario(spawn, workdir, variant, redis)
    finally:
        redis.close()


def _secrets_config(variant, workdir, api_url, redis):
    """(args, env, auth scheme) giving the exporter MTX_SECRET and REDIS_SECRET."""
    secret_file = os.path.join(workdir, "secret")
    args = ["--mediamtx.api-url", api_url, "--poll.interval", "0.5s", "--log.level", "debug",
            "--output.json", os.path.join(workdir, "streams-%d.json" % harness.free_port())]
    if variant == "env-and-file":
        with open(secret_file, "w") as f:
            f.write(REDIS_SECRET + "\n")
        return args, {"MEDIAMTX_API_USER": "exporter", "MEDIAMTX_API_PASS": MTX_SECRET,
                      "REDIS_URL": redis.url, "REDIS_PASSWORD_FILE": secret_file}, "basic"
    if variant == "token-and-url":
        with open(secret_file, "w") as f:
            f.write(MTX_SECRET + "\n")
        return args, {"MEDIAMTX_API_TOKEN_FILE": secret_file,
                      "REDIS_URL": "redis://:%s@127.0.0.1:%d/0" % (REDIS_SECRET, redis.port)}, \
            "bearer"
    return args + ["--mediamtx.username", "exporter", "--mediamtx.password", MTX_SECRET,
                   "--redis.url", redis.url, "--redis.password", REDIS_SECRET], {}, "basic"


def _assert_no_secret(exp):
    out_file = exp.args[exp.args.index("--output.json") + 1]
    seen = surfaces(exp, out_file)
    forms = forbidden_forms(MTX_SECRET, "exporter") | forbidden_forms(REDIS_SECRET)
    for where, text in seen.items():
        for form in forms:
            assert form not in text, "%s leaks %r" % (where, form)
    assert "***" in seen["stderr"]  # the config line masks them


def _secrets_scenario(spawn, workdir, variant, redis):
    """Two exporters with the same secrets: one against a MediaMTX that accepts them (so
    snapshots reach Redis, which rejects its password), one against a MediaMTX that
    rejects them. Both log at debug."""
    accepting = spawn(harness.Standin, "--user", "exporter", "--pass", MTX_SECRET,
                      "--token", MTX_SECRET)
    rejecting = spawn(harness.Standin, "--user", "exporter", "--pass", "the-right-mtx-password",
                      "--token", "the-right-token", "--auth-fail-delay", "0")

    args, env, scheme = _secrets_config(variant, workdir, accepting.url, redis)
    exp_ok = spawn(harness.Exporter, args, env=env)
    exp_ok.args = args
    exp_ok.wait_polls(2)
    assert accepting.stats()["by_endpoint"].get("unauthorized", 0) == 0
    assert {e["auth"] for e in accepting.stats()["last"]} == {scheme}
    wait_until(lambda: "redis" in exp_ok.stderr() and "WRONGPASS" in exp_ok.stderr(),
               timeout=20, what="Redis rejecting the exporter")

    args, env, scheme = _secrets_config(variant, workdir, rejecting.url, redis)
    exp_bad = spawn(harness.Exporter, args, env=env)
    exp_bad.args = args
    wait_until(lambda: rejecting.stats()["by_endpoint"].get("unauthorized", 0) >= 2, timeout=20,
               what="MediaMTX rejecting the exporter")
    assert {e["auth"] for e in rejecting.stats()["last"]} == {scheme}
    wait_until(lambda: "401" in exp_bad.get("/readyz")[2].decode(), timeout=20,
               what="the 401 in /readyz")
    _assert_no_secret(exp_ok)
    _assert_no_secret(exp_bad)


def test_secrets_not_in_startup_errors(workdir):
    cases = [
        ["--mediamtx.password", MTX_SECRET],  # a password without a user
        ["--mediamtx.username", "u", "--mediamtx.password", MTX_SECRET,
         "--mediamtx.bearer-token", MTX_SECRET],
        ["--redis.url", "redis://:%s@127.0.0.1:notaport/0" % REDIS_SECRET],
        ["--redis.url", "redis://:%s@127.0.0.1:6379/x" % REDIS_SECRET],
        ["--redis.url", "redis://:%s%%zz@127.0.0.1:6379/0" % REDIS_SECRET],
        ["--mediamtx.password=%s\x01" % MTX_SECRET, "--mediamtx.username", "u"],
        ["--mediamtx.pass:%s" % MTX_SECRET],
        [MTX_SECRET],
    ]
    for args in cases:
        rc, out = run_to_exit(args)
        assert rc == 2, (args, out)
        for form in forbidden_forms(MTX_SECRET) | forbidden_forms(REDIS_SECRET):
            assert form not in out, (args, out)
    # --once against services that reject the credentials: the errors name no secret
    standin = harness.Standin("--user", "exporter", "--pass", "right", "--auth-fail-delay", "0")
    try:
        rc, out = run_to_exit(["--once", "--mediamtx.api-url", standin.url,
                               "--mediamtx.username", "exporter", "--mediamtx.password",
                               MTX_SECRET, "--redis.url", "none", "--log.level", "debug",
                               "--output.json", os.path.join(workdir, "s.json")])
        assert rc == 3, out
        assert "401" in out
        for form in forbidden_forms(MTX_SECRET, "exporter"):
            assert form not in out
    finally:
        standin.close()


# --- bad input at our own port ------------------------------------------------------------

@pytest.fixture(scope="module")
def plain(standin):
    d = tempfile.mkdtemp(prefix="mxe-test-")
    exp = harness.Exporter(common_args(standin, d, "--web.connection-timeout", "2s"))
    try:
        exp.wait_polls(1)
        yield exp
    finally:
        exp.close()
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("path,status,body", [
    ("/nope", 404, b"not found\n"),
    ("/metrics/", 404, b"not found\n"),
    ("/healthz/x", 404, b"not found\n"),
    ("//metrics", 404, b"not found\n"),
    ("/METRICS", 404, b"not found\n"),
    ("/../../etc/passwd", 404, b"not found\n"),
    ("/api", 404, b'{"error":"not found"}\n'),
    ("/api/nope", 404, b'{"error":"not found"}\n'),
    ("/api/streams/nope", 404, b'{"error":"stream not found","path":"nope"}\n'),
    ("/api/streams/..%2F..%2Fetc%2Fpasswd", 404,
     b'{"error":"stream not found","path":"../../etc/passwd"}\n'),
    ("/api/streams/%3Cscript%3E", 404, b'{"error":"stream not found","path":"<script>"}\n'),
])
def test_unknown_paths(plain, path, status, body):
    got_status, hdrs, got_body = plain.get(path)
    assert (got_status, got_body) == (status, body)
    # markup in a JSON body is inert: JSON content type, and browsers may not sniff it
    assert hdrs["content-type"] == ("application/json" if path.startswith("/api")
                                    else "text/plain; charset=utf-8")
    assert hdrs["x-content-type-options"] == "nosniff"
    assert_alive(plain)


METHODS = ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "PROPFIND", "get",
           "FOO"]


@pytest.mark.parametrize("method", METHODS)
def test_non_get_methods(plain, method):
    for path in ("/metrics", "/api/streams/latest", "/healthz", "/"):
        resp = raw_request(plain.port, ("%s %s HTTP/1.1\r\nHost: x\r\nX-Probe: secret-probe\r\n"
                                        "Connection: close\r\n\r\n" % (method, path)).encode())
        assert status_of(resp) == 405, (method, path, resp[:200])
        assert headers_of(resp)["allow"] == "GET, HEAD"
        assert b"secret-probe" not in resp  # TRACE echoes nothing
    resp = raw_request(plain.port, ("%s /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                                    % method).encode())
    assert status_of(resp) == 404
    # with a body: answered at once, body unread, connection closed
    resp = raw_request(plain.port, ("%s /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n"
                                    "\r\nhello=world" % method).encode())
    assert status_of(resp) == 405
    assert_alive(plain)


def test_connect_authority_form(plain):
    resp = raw_request(plain.port, b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n"
                                   b"Connection: close\r\n\r\n")
    assert status_of(resp) in (400, 404, 405)
    assert b"SSH" not in resp
    assert_alive(plain)


def test_big_headers_431(plain):
    for req in (b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",
                b"GET /metrics HTTP/1.1\r\nHost: x\r\n" +
                b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 1000) for i in range(20)) + b"\r\n",
                b"GET /metrics HTTP/1.1\r\nHost: x\r\nCookie: " + b"c=1; " * 4000 + b"\r\n\r\n"):
        assert status_of(raw_request(plain.port, req)) == 431
        assert_alive(plain)
    # 16 KiB in a few fields still passes (docs/http-api.md)
    resp = raw_request(plain.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 16000 +
                       b"\r\nConnection: close\r\n\r\n")
    assert status_of(resp) == 200


def time_until_closed(sock, feed=None, every=0.3, limit=15.0):
    """Seconds until the server closes `sock`, calling feed(sock) every `every` s meanwhile."""
    t0 = time.monotonic()
    sock.settimeout(every)
    while time.monotonic() - t0 < limit:
        try:
            if not sock.recv(4096):
                return time.monotonic() - t0
        except socket.timeout:
            pass
        except (ConnectionResetError, ssl.SSLError, OSError):
            return time.monotonic() - t0
        if feed:
            try:
                feed(sock)
            except (BrokenPipeError, ConnectionResetError, OSError):
                return time.monotonic() - t0
    return None


def test_slowloris_silent(plain):
    """Half a request, then silence: closed after the connection timeout (2 s)."""
    with socket.create_connection(("127.0.0.1", plain.port)) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        took = time_until_closed(s)
    assert took is not None and 1.5 < took < 4.5, took
    assert_alive(plain)


def test_slowloris_trickle(plain):
    """A header line every 0.3 s keeps an idle timeout happy forever; the header
    deadline (the same 2 s, counted from the connection) closes it anyway."""
    with socket.create_connection(("127.0.0.1", plain.port)) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        took = time_until_closed(s, feed=lambda k: k.sendall(b"X-a: b\r\n"))
    assert took is not None and 1.5 < took < 4.5, took
    assert_alive(plain)


def test_slowloris_on_keep_alive(plain):
    """After a good request, the next request line trickled byte by byte: closed within
    the deadline counted from the end of the previous response."""
    with socket.create_connection(("127.0.0.1", plain.port)) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(5)
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        took = time_until_closed(s, feed=lambda k: k.sendall(b"G"))
    assert took is not None and 1.5 < took < 4.5, took
    assert_alive(plain)


def test_keep_alive_within_timeout_survives(plain):
    """A well-behaved keep-alive client pausing less than the timeout is not cut off."""
    with socket.create_connection(("127.0.0.1", plain.port), timeout=5) as s:
        for _ in range(4):
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 200")
            time.sleep(1.2)


def test_slowloris_tls_handshake(spawn, standin, workdir, certs):
    """A TLS handshake trickled a byte at a time counts against the same deadline."""
    crt = certs["rsa.crt"]
    exp = spawn(harness.Exporter,
                common_args(standin, workdir, "--web.tls-cert-file", crt, "--web.tls-key-file",
                            certs["rsa.key"], "--web.connection-timeout", "2s"),
                ssl_context=client_ctx(crt))
    hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 400
    pos = [0]

    def feed(k):
        k.sendall(hello[pos[0]:pos[0] + 1])
        pos[0] += 1
    with socket.create_connection(("127.0.0.1", exp.port)) as s:
        took = time_until_closed(s, feed=feed)
    assert took is not None and 1.5 < took < 4.5, took
    assert_alive(exp)


def test_flood_per_address_limit(spawn, standin, workdir):
    """More connections from one address than --web.max-connections-per-ip: the excess
    is closed at once, and other addresses are served meanwhile."""
    exp = spawn(harness.Exporter, common_args(standin, workdir, "--web.max-connections-per-ip",
                                              "8", "--web.connection-timeout", "5s"))
    base_fds = fd_count(exp.proc.pid)
    flood = [socket.create_connection(("127.0.0.1", exp.port)) for _ in range(40)]
    try:
        closed = 0
        for s in flood:
            s.settimeout(1.5)
            try:
                closed += s.recv(1) == b""
            except socket.timeout:
                pass
            except ConnectionResetError:
                closed += 1
        assert closed >= 30, closed  # 8 held, the rest refused
        # another address is served at once
        t0 = time.monotonic()
        resp = raw_request(exp.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                           source="127.0.0.2")
        assert status_of(resp) == 200 and time.monotonic() - t0 < 2
    finally:
        for s in flood:
            s.close()
    assert_alive(exp)
    wait_until(lambda: fd_count(exp.proc.pid) <= base_fds + 2, timeout=10,
               what="the flood's descriptors released")


def test_flood_connection_limit(spawn, standin, workdir):
    """More connections than --web.max-connections: the excess waits in the kernel's
    accept queue; once the flood is gone the exporter answers at once."""
    exp = spawn(harness.Exporter, common_args(standin, workdir, "--web.max-connections", "4",
                                              "--web.max-connections-per-ip", "0",
                                              "--web.connection-timeout", "3s"))
    base_fds = fd_count(exp.proc.pid)
    flood = [socket.create_connection(("127.0.0.1", exp.port)) for _ in range(30)]
    try:
        time.sleep(0.3)
        # the exporter holds at most 4 of them (+3: its own short-lived descriptors, such
        # as the file mirror's temporary file and /proc/self/fd while it is counted)
        assert fd_count(exp.proc.pid) <= base_fds + 4 + 3
        try:
            resp = raw_request(exp.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                                         b"Connection: close\r\n\r\n", timeout=1,
                               source="127.0.0.2")
            # answered only if a slot freed up meanwhile; never a wrong answer
            assert resp == b"" or status_of(resp) == 200
        except (socket.timeout, ConnectionError):
            pass  # queued
        assert exp.proc.poll() is None
    finally:
        for s in flood:
            s.close()
    t0 = time.monotonic()
    wait_until(lambda: exp.get("/healthz")[0] == 200, timeout=10, what="/healthz after the flood")
    assert time.monotonic() - t0 < 5
    wait_until(lambda: fd_count(exp.proc.pid) <= base_fds + 2, timeout=15,
               what="the flood's descriptors released")


@pytest.mark.parametrize("target,api", [
    (b"/metrics%zz", False), (b"/%", False), (b"/metrics%4", False), (b"/%g0", False),
    (b"/api/streams/a%00b", True), (b"/api/streams/%4", True), (b"/api/streams/a%", True),
    (b"/metrics\x00junk", False), (b"/api/streams/cam1\x00", True), (b"/\x00", False),
])
def test_bad_escapes_and_nul(plain, target, api):
    resp = raw_request(plain.port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n"
                                                      b"Connection: close\r\n\r\n")
    assert status_of(resp) == 400, resp[:200]
    assert body_of(resp) == (b'{"error":"invalid request path"}\n' if api
                             else b"invalid request path\n")
    assert_alive(plain)


def test_nul_before_method(plain):
    resp = raw_request(plain.port, b"\x00\x00GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    assert resp == b"" or status_of(resp) == 400
    assert b"mediamtx_up" not in resp
    assert_alive(plain)


def test_huge_query_strings(plain):
    # fits in the header limit: the query is ignored
    for query in (b"q=" + b"x" * 12000, b"a=1&" * 200):
        resp = raw_request(plain.port, b"GET /metrics?" + query +
                           b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert status_of(resp) == 200 and b"mediamtx_up" in resp
    # Thousands of parameters within the target limit: libmicrohttpd 0.9.75 would split them
    # into its per-connection memory and run out; the exporter empties the query before it
    # does (docs/http-api.md), so they cost nothing and the request is answered as usual.
    for n in (1000, 3000):
        t0 = time.monotonic()
        resp = raw_request(plain.port, b"GET /metrics?" + b"a=1&" * n +
                           b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert status_of(resp) == 200 and b"mediamtx_up" in resp, resp[:200]
        assert time.monotonic() - t0 < 4.5
    assert_alive(plain)
    # a request line that does not fit: 414 URI Too Long
    resp = raw_request(plain.port, b"GET /metrics?q=" + b"x" * 20000 +
                       b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(resp) == 414
    assert_alive(plain)
    # far too large: 414, or a reset when the server closes with the rest of the request
    # still unread (TCP then discards the answer); never anything else
    try:
        resp = raw_request(plain.port, b"GET /metrics?q=" + b"x" * 1000000 +
                           b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert resp == b"" or status_of(resp) == 414
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert_alive(plain)
    # bad escapes and NULs in the query do not matter: it is not read
    resp = raw_request(plain.port, b"GET /healthz?%zz=%00 HTTP/1.1\r\nHost: x\r\n"
                                   b"Connection: close\r\n\r\n")
    assert status_of(resp) == 200


@pytest.mark.parametrize("garbage", [
    b"HELLO\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET /metrics\r\n\r\n",  # HTTP/0.9
    b"GET /metrics HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET /metrics HTTP/1.1\r\nHost x\r\n\r\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"\x16\x03\x01\x00\x05hello",  # TLS to a plain port
    bytes(range(256)) * 4,
    b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
])
def test_garbage(plain, garbage):
    """Nothing a parser cannot make sense of is ever served."""
    resp = raw_request(plain.port, garbage)
    if resp:
        assert 400 <= status_of(resp) <= 505, resp[:200]
        assert b"mediamtx_up" not in resp
    assert_alive(plain)


@pytest.mark.parametrize("framing", [b"Content-Length: 44", b"Transfer-Encoding: chunked",
                                     b"Content-Length: 44\r\nContent-Length: 0",
                                     b"Content-Length: 44\r\nTransfer-Encoding: chunked"])
def test_no_request_smuggling(plain, framing):
    """A request that announces a body is answered at once (the body is never read) and
    its connection closed, so nothing hidden in the body is ever taken for a request."""
    hidden = b"GET /api/streams/latest HTTP/1.1\r\nHost: x\r\n\r\n"
    body = hidden if b"chunked" not in framing else \
        b"%x\r\n%s\r\n0\r\n\r\n" % (len(hidden), hidden)
    resp = raw_request(plain.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + framing +
                       b"\r\n\r\n" + body)
    assert resp.count(b"HTTP/1.1 ") == 1, resp
    assert status_of(resp) in (200, 400)
    if status_of(resp) == 200:
        assert headers_of(resp)["connection"].lower() == "close"
    assert_alive(plain)
