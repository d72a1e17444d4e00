"""harness.py: what the HTTP end-to-end tests share.

Each test module starts its own `cartwise serve` on 127.0.0.1 over a fresh
store: a temporary directory, the normalized lines fixture imported with the
CLI, a model trained (unless the test wants none), and a public and a secret
key made with `cartwise keys create` (the key is alone on the last line of
its stdout). The server is started with the flags of docs/api.md, waited for
on /livez, and stopped with SIGTERM; stopping fails the test if the server
died before, did not exit 0 on SIGTERM, or a sanitizer printed a report.

Environment (set by ctest through tests/e2e/test_http.sh):
  CW_BIN        the cartwise binary (required)
  CW_SRC        the repository (default: two levels up from here)
  CW_TEST_DATA  tests/data (default: $CW_SRC/tests/data)

Only the Python standard library; traffic only to 127.0.0.1.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CW_BIN = os.environ.get("CW_BIN", "")
CW_SRC = os.environ.get("CW_SRC") or os.path.abspath(os.path.join(HERE, "..", "..", ".."))
CW_TEST_DATA = os.environ.get("CW_TEST_DATA") or os.path.join(CW_SRC, "tests", "data")
LINES_SMALL = os.path.join(CW_TEST_DATA, "lines_small.csv")
OPENAPI = os.path.join(CW_SRC, "docs", "openapi.json")
API_VERSION = "2026-11-01"
HOST = "127.0.0.1"

# The sanitizers must fail the process, and their reports are looked for on
# stderr (same settings as tests/e2e/lib.sh).
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:", "ERROR: ThreadSanitizer",
                   "WARNING: ThreadSanitizer", "SUMMARY: AddressSanitizer",
                   "SUMMARY: UndefinedBehaviorSanitizer")

# Storefront event types a public key may post (docs/api.md).
STOREFRONT_TYPES = ("view", "search", "add_to_cart", "remove_from_cart",
                    "cart_view", "checkout_start", "checkout_step",
                    "impression", "click", "offer_accept")

# SKUs of tests/data/lines_small.csv (frequent ones first).
SKUS = ("22632", "22633", "85123A", "84029E", "84029G", "37370", "71053",
        "22752", "82483", "21730", "21871", "21071", "21068", "82482",
        "84406B", "82494L", "22411", "82486", "22866", "22865")


def _env():
    env = dict(os.environ)
    env.pop("CARTWISE_DB", None)
    env.pop("CARTWISE_SHOPIFY_SECRET", None)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    return env


def sanitizer_report(text):
    """The first sanitizer line in text, or None."""
    for line in text.splitlines():
        if any(m in line for m in SANITIZER_MARKS):
            return line
    return None


def cli(*args, check=True, timeout=300):
    """Runs the cartwise binary; returns CompletedProcess (text)."""
    if not CW_BIN:
        raise unittest.SkipTest("CW_BIN is not set")
    p = subprocess.run([CW_BIN, *args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, env=_env(),
                       timeout=timeout)
    rep = sanitizer_report(p.stderr)
    if rep:
        raise AssertionError(f"sanitizer report from cartwise {' '.join(args)}: "
                             f"{rep}\n{p.stderr[-4000:]}")
    if check and p.returncode != 0:
        raise AssertionError(f"cartwise {' '.join(args)} exited {p.returncode}:\n"
                             f"stdout: {p.stdout[-2000:]}\nstderr: {p.stderr[-2000:]}")
    return p


def sql(db, query):
    """One query through the sqlite3 CLI; returns stdout stripped."""
    p = subprocess.run(["sqlite3", "-batch", "-noheader", db, query],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError(f"sqlite3 {query!r}: {p.stderr}")
    return p.stdout.strip()


def count(db, table, where=None):
    q = f"SELECT count(*) FROM {table}"
    if where:
        q += f" WHERE {where}"
    return int(sql(db, q))


def counts(db, *tables):
    return {t: count(db, t) for t in tables}


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers          # http.client.HTTPMessage
        self.body = body                # bytes

    def header(self, name, default=None):
        return self.headers.get(name, default)

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise AssertionError(f"response {self.status} is not JSON ({e}): "
                                 f"{self.body[:400]!r}")

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


class Store:
    """A fresh store in a temporary directory: import, train, keys."""

    def __init__(self, lines=LINES_SMALL, fmt="lines", train=True):
        self.dir = tempfile.mkdtemp(prefix="cw-http.")
        self.db = os.path.join(self.dir, "cartwise.db")
        cli("import", "--db", self.db, "--format", fmt, lines)
        if train:
            cli("train", "--db", self.db)
        self.public = self.create_key("public")
        self.secret = self.create_key("secret")

    def create_key(self, kind):
        p = cli("keys", "create", "--kind", kind, "--db", self.db)
        lines = [ln for ln in p.stdout.splitlines()]
        if not lines or not lines[-1].strip():
            raise AssertionError(f"keys create printed no key: {p.stdout!r}")
        key = lines[-1]
        if key != key.strip() or " " in key:
            raise AssertionError(f"the key is not alone on the last line: {key!r}")
        return key

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class Server:
    """`cartwise serve` over a store, on a free loopback port."""

    def __init__(self, store, cors_origins=(), max_body=None, rate=None,
                 burst=None, ip_rate=None, ip_burst=None, shopify_secret=None,
                 extra=()):
        self.store = store
        self.db = store.db
        self.args = ["--bind", HOST]
        for o in cors_origins:
            self.args += ["--cors-origin", o]
        if max_body is not None:
            self.args += ["--max-body", str(max_body)]
        if rate is not None:
            self.args += ["--key-rate", str(rate)]
        if burst is not None:
            self.args += ["--key-burst", str(burst)]
        if ip_rate is not None:
            self.args += ["--ip-rate", str(ip_rate)]
        if ip_burst is not None:
            self.args += ["--ip-burst", str(ip_burst)]
        if shopify_secret is not None:
            self.args += ["--shopify-secret", shopify_secret]
        self.args += list(extra)
        self.proc = None
        self.port = None
        self.err_path = os.path.join(store.dir, "serve.err")
        self.out_path = os.path.join(store.dir, "serve.out")
        self._local = threading.local()

    # -- lifecycle --

    def start(self, timeout=60):
        last = None
        for _ in range(3):  # the free port may be taken meanwhile: retry
            self.port = free_port()
            cmd = [CW_BIN, "serve", "--db", self.db, "--port", str(self.port),
                   *self.args]
            self.out = open(self.out_path, "ab")
            self.err = open(self.err_path, "ab")
            self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=self.err,
                                         stdin=subprocess.DEVNULL, env=_env())
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    r = self.request("GET", "/livez", fresh=True, timeout=2)
                    if r.status == 200:
                        return self
                except OSError:
                    pass
                time.sleep(0.05)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"server not live after {timeout}s: "
                                     f"{' '.join(cmd)}\n{self.stderr()[-4000:]}")
            last = (cmd, self.proc.returncode, self.stderr())
            if "in use" not in last[2].lower():
                break
        raise AssertionError(f"server exited {last[1]} at start: "
                             f"{' '.join(last[0])}\n{last[2][-4000:]}")

    def stderr(self):
        try:
            with open(self.err_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        """SIGTERM; fails if the server had died, exits non-zero or a
        sanitizer reported anything."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        died = proc.poll()
        if died is None:
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise AssertionError("server did not exit within 30 s of SIGTERM\n"
                                     + self.stderr()[-4000:])
        else:
            rc = died
        self.out.close()
        self.err.close()
        err = self.stderr()
        rep = sanitizer_report(err)
        if rep:
            raise AssertionError(f"sanitizer report from cartwise serve: {rep}\n"
                                 + err[-8000:])
        if died is not None:
            raise AssertionError(f"server died during the tests (exit {died})\n"
                                 + err[-4000:])
        if rc != 0:
            raise AssertionError(f"server exited {rc} on SIGTERM, expected 0\n"
                                 + err[-4000:])

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # -- HTTP --

    def connect(self, timeout=30):
        return http.client.HTTPConnection(HOST, self.port, timeout=timeout)

    def request(self, method, path, body=None, key=None, headers=None,
                ctype="application/json", fresh=False, conn=None, timeout=30):
        """One request. body: dict/list (sent as JSON), str or bytes (sent
        as is), or None. key: the bearer key. ctype None: no Content-Type.
        The connection is kept alive per thread unless fresh."""
        h = {}
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = body
        if data is not None and ctype is not None:
            h["Content-Type"] = ctype
        if key is not None:
            h["Authorization"] = f"Bearer {key}"
        if headers:
            h.update(headers)
        own = None
        if conn is None:
            if fresh:
                conn = own = self.connect(timeout)
            else:
                conn = getattr(self._local, "conn", None)
                if conn is None or getattr(self._local, "port", None) != self.port:
                    conn = self._local.conn = self.connect(timeout)
                    self._local.port = self.port
        try:
            for attempt in (0, 1):
                try:
                    conn.request(method, path, body=data, headers=h)
                    r = conn.getresponse()
                    resp = Response(r.status, r.headers, r.read())
                    if r.will_close:
                        conn.close()
                    return resp
                except (http.client.RemoteDisconnected, BrokenPipeError,
                        ConnectionResetError, http.client.CannotSendRequest):
                    # a kept-alive connection the server closed between
                    # requests: retry once on a new one
                    conn.close()
                    if attempt or own is not None:
                        raise
                    conn = self._local.conn = self.connect(timeout)
        finally:
            if own is not None:
                own.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body, **kw)


class ServerTest(unittest.TestCase):
    """Base class: one store and one server per test class (setUpClass),
    stopped and checked in tearDownClass. Subclasses set SERVER_OPTS (dict
    of Server keyword arguments) and TRAIN."""

    SERVER_OPTS = {}
    TRAIN = True
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        if not CW_BIN:
            raise unittest.SkipTest("CW_BIN is not set")
        cls.store = Store(train=cls.TRAIN)
        cls.db = cls.store.db
        cls.pk = cls.store.public
        cls.sk = cls.store.secret
        cls.srv = Server(cls.store, **cls.SERVER_OPTS)
        try:
            cls.srv.start()
        except BaseException:
            cls.store.remove()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.srv.stop()
        finally:
            cls.store.remove()

    def setUp(self):
        self.assertTrue(self.srv.alive(), "the server is not running\n"
                        + self.srv.stderr()[-4000:])

    # -- assertions --

    def assertStatus(self, r, status, msg=None):
        if r.status != status:
            self.fail(f"{msg + ': ' if msg else ''}expected {status}, got {r.status}: "
                      f"{r.body[:600]!r}")

    def assertCommonHeaders(self, r):
        self.assertTrue(r.header("Request-Id"), f"no Request-Id header: {r!r}")
        self.assertEqual(r.header("Cartwise-Version"), API_VERSION,
                         "Cartwise-Version header")

    def assertError(self, r, status, type_=None, field=..., code=None):
        """r is an error of docs/api.md: status, JSON body with the error
        object, type (if given), field (if given; ... means any)."""
        self.assertStatus(r, status)
        self.assertCommonHeaders(r)
        ct = r.header("Content-Type", "")
        self.assertTrue(ct.startswith("application/json"),
                        f"error Content-Type {ct!r}")
        d = r.json()
        self.assertIsInstance(d, dict, r)
        self.assertIn("error", d, r)
        e = d["error"]
        for k in ("type", "code", "message", "field", "request_id"):
            self.assertIn(k, e, f"error object lacks {k!r}: {d}")
        self.assertIn(e["type"], ("invalid_request_error", "authentication_error",
                                  "permission_error", "rate_limit_error",
                                  "api_error", "idempotency_error"), d)
        self.assertIsInstance(e["code"], str, d)
        self.assertTrue(e["code"], d)
        self.assertIsInstance(e["message"], str, d)
        self.assertTrue(e["message"], d)
        self.assertTrue(e["field"] is None or isinstance(e["field"], str), d)
        self.assertEqual(e["request_id"], r.header("Request-Id"),
                         "error.request_id differs from the Request-Id header")
        if type_ is not None:
            self.assertEqual(e["type"], type_, d)
        if field is not ...:
            self.assertEqual(e["field"], field, d)
        if code is not None:
            self.assertEqual(e["code"], code, d)
        return e

    def assertMoney(self, m, what="money"):
        self.assertIsInstance(m, dict, what)
        self.assertIsInstance(m.get("amount"), int, f"{what}.amount: {m}")
        self.assertNotIsInstance(m.get("amount"), bool, what)
        self.assertRegex(m.get("currency") or "", r"^[A-Z]{3}$", f"{what}.currency")


def cart(*skus, qty=1):
    return [{"sku": s, "qty": qty} for s in skus]


def decide_body(skus=("85123A", "71053"), session="s-1", **kw):
    b = {"session_id": session, "cart": cart(*skus)}
    b.update(kw)
    return b


def event(i, type_="add_to_cart", session="s-1", **kw):
    e = {"id": f"e-{i}", "type": type_, "session_id": session,
         "customer_id": None, "ts": "2026-11-22T10:00:00Z", "sku": "85123A",
         "decision_id": None, "placement": "cart", "reason": None,
         "order_id": None, "value": 0}
    e.update(kw)
    return e


def eventually(fn, timeout=10):
    """fn()'s first truthy value within timeout seconds (what the
    asynchronous decision log is waited for with), else its last value."""
    deadline = time.monotonic() + timeout
    v = fn()
    while not v and time.monotonic() < deadline:
        time.sleep(0.05)
        v = fn()
    return v


def run_threads(n, fn):
    """Runs fn(i) in n threads; returns the list of exceptions raised."""
    errors = []
    lock = threading.Lock()

    def wrap(i):
        try:
            fn(i)
        except BaseException as e:  # noqa: BLE001 - reported to the test
            with lock:
                errors.append(e)
    ts = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return errors
