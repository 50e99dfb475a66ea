"""Fixtures that run the real Corral binary (and real nginx) for the
integration tests.

`corral` is a factory: corral.start(config) writes the config into the
test's tmp dir, starts the binary in its own process group with the log
captured to a file, and returns once every socket in the config accepts and
the master has forked its workers. After the test, every server it started
is checked:

  - file descriptors: a worker's count of open fds does not grow from one
    request to the next;
  - stop: SIGTERM makes the master exit 0, and no process of its group
    (workers included) survives it;
  - log: no `error: ` line, sanitizer report, traceback or worker killed by
    a signal that the test did not announce with server.expect_log(regex).

The binary comes from $CORRAL_BIN (default build/corral). With
CORRAL_BIN=uwsgi (Debian's uWSGI) the same tests run against uWSGI, which
proves the tests themselves; tests of what only Corral does are marked
`corral_only` and skipped then.
"""
import os
import re
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
DJANGO_DIR = EXAMPLES / "django"
HELLO_DIR = EXAMPLES / "hello"
STATIC_ROOT = DJANGO_DIR / "staticfiles"
PYTHON = "/usr/bin/python3"

CORRAL_BIN = os.environ.get("CORRAL_BIN", str(ROOT / "build" / "corral"))
if os.sep in CORRAL_BIN:      # build/corral: relative to where pytest started,
    CORRAL_BIN = os.path.abspath(CORRAL_BIN)   # not to the test's tmp dir
IS_UWSGI = os.path.basename(CORRAL_BIN).startswith("uwsgi")

START_TIMEOUT = float(os.environ.get("CORRAL_START_TIMEOUT", "30"))
IO_TIMEOUT = 15.0

# Log lines no test may produce unless it says so.
ERROR_LINE = re.compile(r"^(?:\[[^\]]*\] ?)*error: ")
SANITIZER = re.compile(
    r"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|"
    r"runtime error: |ThreadSanitizer")
TRACEBACK = re.compile(r"^Traceback \(most recent call last\)")
KILLED = re.compile(r"killed by signal")
SUSPECTS = (ERROR_LINE, SANITIZER, TRACEBACK, KILLED)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "corral_only: behaviour of Corral that uWSGI does not have")


def pytest_sessionstart(session):
    import shutil
    if not (os.access(CORRAL_BIN, os.X_OK) or shutil.which(CORRAL_BIN)):
        pytest.exit("no executable %s: build it first (cmake -S . -B build && "
                    "cmake --build build) or set CORRAL_BIN" % CORRAL_BIN, returncode=1)


def pytest_collection_modifyitems(config, items):
    if not IS_UWSGI:
        return
    skip = pytest.mark.skip(reason="Corral-only behaviour (CORRAL_BIN is uWSGI)")
    for item in items:
        if "corral_only" in item.keywords:
            item.add_marker(skip)


def pytest_report_header(config):
    return "corral binary: %s%s" % (CORRAL_BIN, " (uWSGI mode)" if IS_UWSGI else "")


# --------------------------------------------------------------------------
# processes and environment

def clean_env(extra=None):
    """The environment the binary runs in: Debian's Python, not pyenv's, and
    no UWSGI_* or PYTHON* variable from the caller's shell."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("UWSGI_", "PYTHON", "PYENV", "VIRTUAL_ENV"))}
    env["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin"
    env["LC_ALL"] = "C.UTF-8"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra or {})
    return env


def command(args):
    """argv for the binary under test (uWSGI needs its python plugin)."""
    if IS_UWSGI:
        return [CORRAL_BIN, "--plugin", "python3", "--need-app"] + list(args)
    return [CORRAL_BIN] + list(args)


def run(args, *, cwd=None, env=None, timeout=30):
    """Run the binary to completion (for --help, --check-config, startup
    failures); returns CompletedProcess with text stdout and stderr."""
    p = subprocess.run(command(args), cwd=cwd, env=clean_env(env),
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, errors="replace", timeout=timeout)
    report = SANITIZER.search(p.stdout + p.stderr)
    assert not report, "sanitizer report from %r:\n%s%s" % (args, p.stdout, p.stderr)
    return p


def children(pid):
    """Direct children of pid (the master's workers), from /proc."""
    try:
        text = Path("/proc/%d/task/%d/children" % (pid, pid)).read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def alive(pid):
    try:
        stat = Path("/proc/%d/stat" % pid).read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def group_members(pgid):
    """Live processes whose process group is pgid."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc/%s/stat" % entry).read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(int(entry))
    return found


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def wait_for(predicate, timeout, what, interval=0.05):
    """Poll predicate until it returns something true; fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------
# the wire: HTTP and uwsgi packets

class Response:
    def __init__(self, raw):
        self.raw = raw
        head, sep, body = raw.partition(b"\r\n\r\n")
        if not sep:
            raise AssertionError("no complete HTTP response head in %r" % raw[:300])
        lines = head.decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/(\d\.\d) (\d{3})(?: (.*))?$", lines[0])
        if not m:
            raise AssertionError("bad status line %r" % lines[0])
        self.version, self.status, self.reason = m.group(1), int(m.group(2)), m.group(3) or ""
        self.headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers.append((name.strip(), value.strip()))
        if (self.header("Transfer-Encoding") or "").lower() == "chunked":
            body = _dechunk(body)
        self.body = body

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return "<Response %d %r>" % (self.status, self.body[:200])


def _dechunk(data):
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2:]
    return out


def _connect(addr, timeout):
    if isinstance(addr, (str, Path)):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(str(addr))
    else:
        s = socket.create_connection(addr, timeout=timeout)
    return s


def recv_all(s):
    """What socket s receives until the peer closes (or resets: then what
    came before)."""
    chunks = []
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def exchange(addr, data, *, timeout=IO_TIMEOUT, shutdown=False):
    """Send data, read until the peer closes; returns the bytes received.
    `shutdown` half-closes our side after sending (a truncated request)."""
    with _connect(addr, timeout) as s:
        s.sendall(data)
        if shutdown:
            s.shutdown(socket.SHUT_WR)
        return recv_all(s)


def http_request(addr, method="GET", path="/", *, headers=None, body=b"",
                 timeout=IO_TIMEOUT):
    """One HTTP/1.1 request with Connection: close; returns a Response."""
    if isinstance(body, str):
        body = body.encode()
    hdrs = {"Host": "localhost", "Connection": "close", "User-Agent": "corral-itest"}
    if body or method in ("POST", "PUT"):
        hdrs["Content-Length"] = str(len(body))
    hdrs.update(headers or {})
    head = "%s %s HTTP/1.1\r\n" % (method, path)
    head += "".join("%s: %s\r\n" % kv for kv in hdrs.items()) + "\r\n"
    return Response(exchange(addr, head.encode("latin-1") + body, timeout=timeout))


def uwsgi_vars_block(pairs):
    out = b""
    for k, v in pairs:
        k = k.encode() if isinstance(k, str) else k
        v = v.encode() if isinstance(v, str) else v
        out += struct.pack("<H", len(k)) + k + struct.pack("<H", len(v)) + v
    return out


def uwsgi_packet(pairs, body=b"", modifier1=0, modifier2=0, size=None):
    """A uwsgi request: 4-byte header (modifier1, little-endian vars size,
    modifier2), the vars block, then the body. `size` overrides the size in
    the header (to build broken packets)."""
    block = uwsgi_vars_block(pairs)
    length = len(block) if size is None else size
    return struct.pack("<BHB", modifier1, length, modifier2) + block + body


def uwsgi_vars(method="GET", path="/", query="", body=b"", extra=()):
    pairs = [
        ("QUERY_STRING", query), ("REQUEST_METHOD", method),
        ("CONTENT_TYPE", "application/octet-stream" if body else ""),
        ("CONTENT_LENGTH", str(len(body)) if body else ""),
        ("REQUEST_URI", path + ("?" + query if query else "")),
        ("PATH_INFO", path), ("DOCUMENT_ROOT", "/nonexistent"),
        ("SERVER_PROTOCOL", "HTTP/1.1"), ("REQUEST_SCHEME", "http"),
        ("REMOTE_ADDR", "127.0.0.1"), ("REMOTE_PORT", "40000"),
        ("SERVER_PORT", "80"), ("SERVER_NAME", "localhost"),
        ("HTTP_HOST", "localhost"),
    ]
    return pairs + list(extra)


def uwsgi_request(addr, method="GET", path="/", *, query="", body=b"",
                  extra=(), timeout=IO_TIMEOUT):
    """A well-formed uwsgi request, as nginx sends it; returns a Response."""
    if isinstance(body, str):
        body = body.encode()
    packet = uwsgi_packet(uwsgi_vars(method, path, query, body, extra), body)
    return Response(exchange(addr, packet, timeout=timeout))


# --------------------------------------------------------------------------
# the server under test

def _addresses(config_text):
    """(http-socket addresses, uwsgi socket addresses) named in an ini or
    yaml config, for the readiness check and the requests."""
    http, uwsgi = [], []
    for line in config_text.splitlines():
        m = re.match(r"\s*-?\s*(http-socket|socket|uwsgi-socket)\s*[=:]\s*(\S+)", line)
        if not m:
            continue
        value = m.group(2).strip("'\"")
        if value.startswith("/") or value.startswith("."):
            addr = value
        else:
            host, _, port = value.rpartition(":")
            addr = (host or "127.0.0.1", int(port))
        found = http if m.group(1) == "http-socket" else uwsgi
        if addr not in found:
            found.append(addr)
    return http, uwsgi


class Server:
    def __init__(self, tmp, argv, *, env, cwd, http, uwsgi, processes, name):
        self.tmp = tmp
        self.argv = argv
        self.http = http
        self.uwsgi = uwsgi
        self.processes = processes
        self.log_path = tmp / ("%s.log" % name)
        self.expected = []
        self.fd_probe = "/"
        self.returncode = None
        self._log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(command(argv), cwd=cwd, env=clean_env(env),
                                     stdin=subprocess.DEVNULL, stdout=self._log_file,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.pgid = self.proc.pid
        self.seen_workers = set()

    # -- log
    def log(self):
        return self.log_path.read_text(errors="replace")

    def expect_log(self, *regexes):
        """Announce log lines this test provokes (errors, tracebacks, ...)."""
        self.expected.extend(re.compile(r) for r in regexes)

    def wait_log(self, regex, timeout=10, after=0):
        pattern = re.compile(regex, re.M)
        return wait_for(lambda: pattern.search(self.log(), after), timeout,
                        "log line /%s/ in %s" % (regex, self.log_path))

    def unexpected_log_lines(self):
        bad = []
        for line in self.log().splitlines():
            if any(p.search(line) for p in SUSPECTS) and \
                    not any(e.search(line) for e in self.expected):
                bad.append(line)
        return bad

    # -- processes
    def running(self):
        return self.proc.poll() is None

    def workers(self):
        pids = [p for p in children(self.pid) if alive(p)]
        self.seen_workers.update(pids)
        return pids

    def wait_workers(self, n=None, timeout=START_TIMEOUT):
        n = self.processes if n is None else n

        def ready():
            if not self.running():
                pytest.fail("%s exited with %s; log:\n%s"
                            % (CORRAL_BIN, self.proc.returncode, self.log()))
            return len(self.workers()) >= n and self.workers()
        return wait_for(ready, timeout, "%d workers of %d" % (n, self.pid))

    def wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        for addr in self.http + self.uwsgi:
            while True:
                if not self.running():
                    pytest.fail("%s exited with %s during startup; log:\n%s"
                                % (CORRAL_BIN, self.proc.returncode, self.log()))
                try:
                    _connect(addr, 1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        pytest.fail("%r never accepted; log:\n%s" % (addr, self.log()))
                    time.sleep(0.05)
        if self.processes:
            self.wait_workers()
        if IS_UWSGI:
            # uWSGI 2.0's master loses a signal that arrives just after it
            # forked the workers; Corral must not (no delay for Corral).
            time.sleep(0.5)

    # -- requests
    def get(self, path="/", **kw):
        return self.request("GET", path, **kw)

    def request(self, method, path, **kw):
        if self.http:
            return http_request(self.http[0], method, path, **kw)
        query = ""
        if "?" in path:
            path, query = path.split("?", 1)
        return uwsgi_request(self.uwsgi[0], method, path, query=query,
                             body=kw.get("body", b""))

    # -- stopping
    def send(self, sig):
        os.kill(self.pid, sig)

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Signal the master and wait for it; returns its exit status."""
        if self.running():
            self.workers()
            self.send(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pytest.fail("master %d still running %ds after %s; log:\n%s"
                            % (self.pid, timeout, signal.Signals(sig).name, self.log()))
        self.returncode = self.proc.returncode
        return self.returncode

    def kill_group(self):
        try:
            os.killpg(self.pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self._log_file.close()

    # -- after-test checks
    def check_fds(self):
        """A worker's open descriptors do not grow between requests. Lazy
        first-request setup may add some, so allow a few rounds to settle;
        a leak grows in every round."""
        def snapshot():
            return {p: fd_count(p) for p in self.workers()}

        rounds = []
        for _ in range(2 * max(self.processes, 1)):
            self.get(self.fd_probe)
        for _ in range(4):
            before = snapshot()
            for _ in range(3 * max(self.processes, 1)):
                r = self.get(self.fd_probe)
                assert r.status < 500, r
            # the worker may close the connection just after we read EOF
            deadline = time.monotonic() + 2
            while True:
                after = snapshot()
                grown = {p: (before[p], after[p]) for p in before
                         if p in after and None not in (before[p], after[p])
                         and after[p] > before[p]}
                if not grown or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            if not grown:
                return
            rounds.append(grown)
        pytest.fail("worker fds grow with every round of requests "
                    "(pid: (before, after)): %r" % rounds)

    def finish(self, check):
        """Stop the server and check what it left behind."""
        try:
            if not check:
                return
            if self.running() and (self.http or self.uwsgi):
                self.check_fds()
            was_running = self.running()
            rc = self.stop()
            assert rc == 0, "master exited %s %s; log:\n%s" % (
                rc, "after SIGTERM" if was_running else "on its own", self.log())
            leftover = group_members(self.pgid) + \
                [p for p in self.seen_workers if alive(p)]
            wait_for(lambda: not [p for p in leftover if alive(p)], 5,
                     "processes %r to be gone after the master exited" % leftover)
            bad = self.unexpected_log_lines()
            assert not bad, "unexpected log lines:\n%s\n--- full log:\n%s" % (
                "\n".join(bad), self.log())
        finally:
            self.kill_group()


class Corral:
    """Factory fixture: corral.start(config) -> Server."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.servers = []
        self.port = free_port()           # a port for the first http-socket
        self.sock = str(tmp / "corral.sock")
        self.written = []

    def write(self, name, text):
        """Write a file into the tmp dir (an included config, ...); the
        sockets it names are waited for by start()."""
        path = self.tmp / name
        path.write_text(text)
        self.written.append(text)
        return path

    def start(self, config=None, *, kind="ini", name="app", args=None, env=None,
              cwd=None, processes=None, wait=True):
        """Start the binary on `config` (text of an ini or yaml file written
        to TMP/<name>.<kind>) plus `args`; waits until ready unless wait is
        false. `processes` is how many workers to wait for (default: the
        config's `processes`, 1 without one)."""
        argv = list(args or [])
        text = config or ""
        if config is not None:
            path = self.write("%s.%s" % (name, kind), config)
            argv = ["--%s" % kind, str(path)] + argv
        http, uwsgi = _addresses("\n".join(self.written) + "\n" + "\n".join(
            "%s = %s" % (a.lstrip("-"), b) for a, b in zip(argv, argv[1:])
            if a.startswith("--")))
        if processes is None:
            m = re.search(r"^\s*(?:processes|workers)\s*[=:]\s*(\d+)", text, re.M)
            processes = int(m.group(1)) if m else 1
        if IS_UWSGI and "die-on-term" not in text:
            argv.append("--die-on-term")
        server = Server(self.tmp, argv, env=env, cwd=cwd or self.tmp, http=http,
                        uwsgi=uwsgi, processes=processes,
                        name="%s-%d" % (name, len(self.servers)))
        self.servers.append(server)
        if wait:
            server.wait_ready()
        return server


@pytest.fixture
def corral(tmp_path, request):
    factory = Corral(tmp_path)
    yield factory
    failed = getattr(request.node, "rep_call", None)
    check = not (failed and failed.failed)
    errors = []
    for server in factory.servers:
        try:
            server.finish(check)
        except BaseException as e:   # check every server, report the first
            errors.append(e)
    if errors:
        raise errors[0]


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


# --------------------------------------------------------------------------
# configs used by many tests

def hello_ini(corral, extra="", processes=1, http=True, uwsgi=False):
    """An ini serving examples/hello/app.py."""
    lines = ["[uwsgi]", "chdir = %s" % HELLO_DIR, "module = app:application",
             "master = true", "processes = %d" % processes]
    if http:
        lines.append("http-socket = 127.0.0.1:%d" % corral.port)
    if uwsgi:
        lines.append("socket = %s" % corral.sock)
    return "\n".join(lines) + "\n" + extra


def django_ini(corral, extra="", processes=2, http=True, uwsgi=False):
    lines = ["[uwsgi]", "chdir = %s" % DJANGO_DIR,
             "module = mysite.wsgi:application",
             "env = DJANGO_SETTINGS_MODULE=mysite.settings",
             "master = true", "processes = %d" % processes]
    if http:
        lines.append("http-socket = 127.0.0.1:%d" % corral.port)
    if uwsgi:
        lines += ["socket = %s" % corral.sock, "chmod-socket = 666"]
    return "\n".join(lines) + "\n" + extra


@pytest.fixture(scope="session")
def staticfiles():
    """collectstatic output of the Django example (what nginx serves)."""
    import fcntl
    # pytest-xdist workers each run this: one collects, the others wait
    with open("/tmp/corral-itest-collectstatic.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (STATIC_ROOT / "pages" / "style.css").exists():
            subprocess.run([PYTHON, "manage.py", "collectstatic", "--noinput", "-v", "0"],
                           cwd=DJANGO_DIR, env=clean_env(), check=True, timeout=120)
    return STATIC_ROOT


# --------------------------------------------------------------------------
# nginx in front

NGINX_CONF = """\
{user}worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log info;
events {{ worker_connections 128; }}
http {{
    include /etc/nginx/mime.types;
    access_log {tmp}/nginx-access.log;
    client_body_temp_path {tmp}/nginx-tmp/body;
    proxy_temp_path {tmp}/nginx-tmp/proxy;
    fastcgi_temp_path {tmp}/nginx-tmp/fastcgi;
    uwsgi_temp_path {tmp}/nginx-tmp/uwsgi;
    scgi_temp_path {tmp}/nginx-tmp/scgi;
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        location /static/ {{
            alias {static}/;
        }}
        location / {{
            include /etc/nginx/uwsgi_params;
            uwsgi_pass unix:{sock};
            uwsgi_read_timeout 30s;
        }}
    }}
}}
"""


class Nginx:
    def __init__(self, tmp, sock, static):
        self.tmp = tmp
        self.port = free_port()
        self.addr = ("127.0.0.1", self.port)
        (tmp / "nginx-tmp").mkdir(exist_ok=True)
        conf = tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(
            user="user root;\n" if os.geteuid() == 0 else "", tmp=tmp,
            port=self.port, static=static, sock=sock))
        self.log_file = open(tmp / "nginx-stdout.log", "wb")
        self.proc = subprocess.Popen(
            ["nginx", "-p", str(tmp), "-c", str(conf), "-e", str(tmp / "nginx-error.log"),
             "-g", "daemon off;"], stdin=subprocess.DEVNULL, stdout=self.log_file,
            stderr=subprocess.STDOUT, start_new_session=True)

        def accepting():
            if self.proc.poll() is not None:
                pytest.fail("nginx exited: %s" % (tmp / "nginx-error.log").read_text())
            try:
                _connect(self.addr, 1).close()
                return True
            except OSError:
                return False
        wait_for(accepting, 15, "nginx on port %d" % self.port)

    def request(self, method, path, **kw):
        return http_request(self.addr, method, path, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.log_file.close()


@pytest.fixture
def nginx(tmp_path, corral, staticfiles):
    """Debian's nginx on a free port, passing to TMP/corral.sock (the
    `corral.sock` of the corral fixture) and serving /static/ itself."""
    n = Nginx(tmp_path, corral.sock, staticfiles)
    yield n
    n.stop()
