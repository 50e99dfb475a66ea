"""The process lifecycle seen from outside (issue 4): harakiri, recycling by
max-requests, graceful and chain reloads under load, touch-reload, the
master FIFO, shutdown signals, daemonize and pidfiles, uid/gid, vacuum,
the respawn throttle, bad input and process titles.

Every test starts the real binary (the `corral` fixture of conftest.py) and
asserts what an operator sees: response bytes, worker pids from /proc,
files left on disk, log lines. Nothing sleeps blindly: waits poll with a
deadline (wait_for); the few fixed pauses only let a request reach a worker.
"""
import os
import pwd
import grp
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import conftest
from conftest import (HELLO_DIR, IS_UWSGI, Nginx, alive, children, exchange,
                      hello_ini, http_request, run, wait_for)

APPS = Path(__file__).resolve().parent / "apps"


# --------------------------------------------------------------------------
# helpers

def raw_get(addr, path, timeout=20):
    """GET over HTTP/1.1 with Connection: close; returns the raw bytes (b""
    when the server closed or reset the connection without an answer)."""
    req = ("GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
           % path).encode()
    return exchange(addr, req, timeout=timeout)


def status_of(raw):
    m = re.match(rb"HTTP/1\.[01] (\d{3})", raw)
    return int(m.group(1)) if m else None


def fifo_send(path, letters):
    """Write commands to the master FIFO (the master holds its read end)."""
    fd = os.open(str(path), os.O_WRONLY | os.O_NONBLOCK)
    try:
        os.write(fd, letters.encode())
    finally:
        os.close(fd)


def wait_replaced(server, old, n, timeout=20):
    """Wait until exactly n workers run and none of them is in `old`."""
    old = set(old)

    def done():
        now = set(server.workers())
        return len(now) == n and not (now & old) and now
    return wait_for(done, timeout, "workers %r to be replaced by %d new ones"
                    % (sorted(old), n))


def wait_reloads_settled(server, old, n, timeout=30):
    """Wait for the generation of the last reload: n workers, none in `old`,
    all spawned after the last "graceful reload" line, and n workers of the
    generation before logged as stopped after it. A reload requested while
    another runs starts as soon as that one completes, in the same
    iteration of the master's loop, so a state that holds twice, 0.5 s
    apart, is the last one."""
    old = set(old)

    def settled():
        log = server.log()
        tail = log[log.rfind("graceful reload"):]
        spawned = {int(p) for p in re.findall(r"spawned worker \d+ \(pid (\d+)\)", tail)}
        stopped = re.findall(r"worker \d+ \(pid \d+\) stopped", tail)
        now = set(server.workers())
        return len(now) == n and not (now & old) and now == spawned and len(stopped) >= n \
            and now

    deadline = time.monotonic() + timeout
    while True:
        first = wait_for(settled, max(deadline - time.monotonic(), 0.1),
                         "the reloads to settle on %d new workers" % n)
        time.sleep(0.5)
        if settled() == first:
            return first


def proc_status(pid):
    fields = {}
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.split()
    return fields


def title(pid):
    """The process title as /proc/PID/cmdline holds it: one string (a
    title set over argv reads as a single NUL-terminated string)."""
    raw = Path("/proc/%d/cmdline" % pid).read_bytes()
    assert raw.endswith(b"\0") and b"\0" not in raw[:-1], raw
    return raw[:-1].decode()


class Load:
    """A bounded client loop: `threads` threads send GET `path` one after
    the other (new connection each) until stop(); every answer that is not
    a 200 with the expected body, and every socket error, is a failure."""

    def __init__(self, get, threads=4, path="/", body=b"Hello, World!"):
        self.get = get
        self.path = path
        self.body = body
        self.ok = 0
        self.failures = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._loop, daemon=True)
                         for _ in range(threads)]

    def _loop(self):
        while not self._stop.is_set():
            try:
                r = self.get(self.path)
                good = r.status == 200 and (self.body is None or r.body == self.body)
                outcome = None if good else r
            except Exception as e:          # reported by the test
                outcome = e
            with self._lock:
                if outcome is None:
                    self.ok += 1
                else:
                    self.failures.append(outcome)

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(30)


WRK_SOCKET_ERRORS = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


class Wrk:
    """wrk with 64 connections until stop(); stop() returns (requests,
    socket errors, non-2xx) from its summary."""

    def __init__(self, url, connections=64, seconds=60):
        if shutil.which("wrk") is None:
            pytest.skip("wrk is not installed")
        self.proc = subprocess.Popen(
            ["wrk", "-t2", "-c%d" % connections, "-d%ds" % seconds, "--timeout", "10s", url],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, start_new_session=True)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)   # wrk prints its summary on SIGINT
        try:
            out, _ = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
            pytest.fail("wrk did not stop: %s" % out)
        m = re.search(r"(\d+) requests in", out)
        assert m, "no wrk summary:\n%s" % out
        errors = WRK_SOCKET_ERRORS.search(out)
        socket_errors = sum(int(x) for x in errors.groups()) if errors else 0
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        return int(m.group(1)), socket_errors, int(non2xx.group(1)) if non2xx else 0, out

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def big_nginx(tmp_path, monkeypatch):
    """conftest's nginx in front of TMP/corral.sock, with room for 64 client
    connections plus their 64 upstream connections (the shared fixture's
    128 worker_connections is exactly used up by them)."""
    monkeypatch.setattr(conftest, "NGINX_CONF", conftest.NGINX_CONF.replace(
        "worker_connections 128;", "worker_connections 1024;"))
    static = tmp_path / "static"
    static.mkdir()
    n = Nginx(tmp_path, str(tmp_path / "corral.sock"), static)
    yield n
    n.stop()


def user_ids(user, group):
    try:
        return pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid
    except KeyError:
        pytest.skip("no user %s or group %s on this system" % (user, group))


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching uid/gid needs root")


@pytest.fixture
def run_dir():
    """A directory outside pytest's tmp (whose parents are private to root)
    that an unprivileged user can traverse, like /run/app: the config file
    lives here too, so that a master running as nobody can read it again.
    Name it before `corral` in a test's arguments: it must outlive the
    servers, which the corral fixture stops at teardown."""
    path = Path(tempfile.mkdtemp(prefix="corral-lifetest-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def start_in(corral, directory, text, processes):
    """corral.start() on a config written to `directory` (world-readable)."""
    ini = directory / "app.ini"
    ini.write_text(text)
    os.chmod(ini, 0o644)
    corral.written.append(text)          # so that start() waits for its sockets
    return corral.start(args=["--ini", str(ini)], processes=processes)


# --------------------------------------------------------------------------
# harakiri

@pytest.mark.corral_only      # Corral's log lines and behaviour
def test_harakiri_kills_stuck_request_and_next_request_succeeds(corral):
    server = corral.start(hello_ini(corral, processes=1, extra="harakiri = 2\n"))
    server.expect_log(r"HARAKIRI", r"killed by signal 9")
    [old] = server.workers()
    t0 = time.monotonic()
    raw = raw_get(server.http[0], "/sleep?8")
    elapsed = time.monotonic() - t0
    assert status_of(raw) in (None, 500, 502, 503, 504), raw[:200]
    assert elapsed < 2 + 2, "the stuck request lasted %.1f s with harakiri = 2" % elapsed
    server.wait_log(r"HARAKIRI: worker 1 \(pid %d\)(?: thread \d+)? has been serving "
                    r"'GET /sleep\?8' for [23] s" % old)
    [new] = wait_replaced(server, [old], 1)
    r = server.get("/pid")
    assert r.status == 200 and int(r.body) == new != old


@pytest.mark.corral_only      # Corral's log lines and behaviour
def test_harakiri_behind_nginx_gives_502(corral, nginx):
    server = corral.start(hello_ini(corral, processes=2, http=False, uwsgi=True,
                                    extra="harakiri = 2\nchmod-socket = 666\n"))
    server.expect_log(r"HARAKIRI", r"killed by signal 9")
    old = set(server.workers())
    t0 = time.monotonic()
    r = nginx.get("/sleep?8", timeout=20)
    elapsed = time.monotonic() - t0
    assert r.status == 502, r
    assert elapsed < 2 + 2, "nginx waited %.1f s for a request past harakiri = 2" % elapsed
    line = server.wait_log(r"HARAKIRI: worker (\d) \(pid (\d+)\)(?: thread \d+)? has been serving "
                           r"'GET /sleep\?8'")
    victim = int(line.group(2))
    assert victim in old
    wait_for(lambda: len(server.workers()) == 2 and victim not in server.workers(), 15,
             "the replacement of worker pid %d" % victim)
    for _ in range(4):
        assert nginx.get("/").body == b"Hello, World!"


@pytest.mark.corral_only      # uWSGI's harakiri-verbose prints no Python stack
def test_harakiri_verbose_logs_the_python_stack(corral):
    server = corral.start(hello_ini(corral, processes=1,
                                    extra="harakiri = 2\nharakiri-verbose = true\n"))
    server.expect_log(r"HARAKIRI", r"killed by signal 9")
    [old] = server.workers()
    t0 = time.monotonic()
    raw = raw_get(server.http[0], "/sleep?9")
    assert status_of(raw) != 200
    assert time.monotonic() - t0 < 2 + 2 + 1     # verbose waits 1 s for the dump
    server.wait_log(r"HARAKIRI: worker 1 \(pid %d\)" % old)
    # faulthandler's dump: the view's frame names hello's app.py
    server.wait_log(r'File "%s", line \d+ in application' % re.escape(str(HELLO_DIR / "app.py")))
    wait_replaced(server, [old], 1)
    assert server.get("/").body == b"Hello, World!"


# --------------------------------------------------------------------------
# recycling

@pytest.mark.corral_only      # Corral's log lines and behaviour
def test_max_requests_recycles_without_failing_a_request(corral):
    server = corral.start(hello_ini(corral, processes=1, extra=(
        "max-requests = 5\nmin-worker-lifetime = 0\n")))
    first = server.workers()
    pids = []
    for i in range(12):
        r = server.get("/pid")
        assert r.status == 200, "request %d: %r" % (i + 1, r)
        pids.append(int(r.body))
    distinct = list(dict.fromkeys(pids))
    assert len(distinct) >= 3, "pids after 12 requests with max-requests = 5: %r" % pids
    assert distinct[0] in first
    # each worker served at most 5 requests
    assert max(pids.count(p) for p in distinct) <= 5, pids
    log = server.log()
    assert len(re.findall(r"served 5 requests \(max-requests\); recycling", log)) >= 2
    # a recycled worker's exit is expected: not a crash, no respawn delay
    assert not re.search(r"exited with status|right after starting", log), log
    wait_for(lambda: len(server.workers()) == 1, 10, "a single worker again")


def _assert_replacement_started_first(log):
    """In the master's log, every recycled worker's replacement is spawned
    before the recycled worker is reaped."""
    events = re.findall(r"^(?:spawned worker (\d+) \(pid (\d+)\)|"
                        r"\[pid: (\d+)\|worker: (\d+)\|req: \d+\].*|"
                        r"worker (\d+) \(pid (\d+)\) (stopped|exited with status \d+))$",
                        log, re.M)
    last_spawn = {}
    for sp_id, sp_pid, _, _, ex_id, ex_pid, how in events:
        if sp_id:
            last_spawn[sp_id] = sp_pid
        elif ex_id:
            assert last_spawn.get(ex_id) != ex_pid, \
                "worker %s (pid %s) exited before its replacement was spawned:\n%s" % (
                    ex_id, ex_pid, log)


@pytest.mark.corral_only      # Corral's log lines and behaviour
def test_max_requests_under_concurrent_load(corral):
    server = corral.start(hello_ini(corral, processes=2, extra=(
        "max-requests = 5\nmin-worker-lifetime = 0\n")))
    with Load(server.get, threads=4, path="/pid", body=None) as load:
        wait_for(lambda: load.ok >= 150, 60, "150 requests")
    assert not load.failures, load.failures[:5]
    log = server.log()
    recycled = len(re.findall(r"\(max-requests\); recycling", log))
    assert recycled >= 20, recycled
    assert not re.search(r"exited with status|right after starting", log), log
    _assert_replacement_started_first(log)


@pytest.mark.corral_only
def test_max_requests_waits_for_min_worker_lifetime(corral):
    """uWSGI's min-worker-lifetime (default 10 s) also holds back
    max-requests: a young worker is not recycled."""
    server = corral.start(hello_ini(corral, processes=1, extra="max-requests = 2\n"))
    pids = {int(server.get("/pid").body) for _ in range(8)}
    assert len(pids) == 1, pids
    assert "recycling" not in server.log()


# --------------------------------------------------------------------------
# reloads under load

def _five_reloads(server, reload, processes):
    generations = [set(server.workers())]
    for _ in range(5):
        reload()
        generations.append(set(wait_replaced(server, generations[-1], processes, timeout=30)))
    everything_before = set().union(*generations[:-1])
    assert not (generations[-1] & everything_before)
    return generations


@pytest.mark.corral_only      # uWSGI 2.0 drops requests during a reload
def test_five_sighup_reloads_under_wrk_load_on_http_socket(corral):
    server = corral.start(hello_ini(corral, processes=2))
    wrk = Wrk("http://127.0.0.1:%d/" % corral.port)
    try:
        server.wait_log(r"GET / => generated")          # wrk is running
        _five_reloads(server, lambda: server.send(signal.SIGHUP), 2)
        time.sleep(1)                                    # load on the last generation
        requests, socket_errors, non2xx, out = wrk.stop()
    finally:
        wrk.kill()
    assert requests > 200, out
    assert socket_errors == 0, out
    assert non2xx == 0, out
    assert len(re.findall(r"^graceful reload", server.log(), re.M)) == 5, server.log()


@pytest.mark.corral_only
def test_five_sighup_reloads_under_wrk_load_behind_nginx(corral, big_nginx):
    server = corral.start(hello_ini(corral, processes=2, http=False, uwsgi=True,
                                    extra="chmod-socket = 666\n"))
    wrk = Wrk("http://127.0.0.1:%d/" % big_nginx.port)
    try:
        server.wait_log(r"GET / => generated")
        _five_reloads(server, lambda: server.send(signal.SIGHUP), 2)
        time.sleep(1)
        requests, socket_errors, non2xx, out = wrk.stop()
    finally:
        wrk.kill()
    assert requests > 200, out
    assert socket_errors == 0, out
    assert non2xx == 0, out
    nginx_errors = (big_nginx.tmp / "nginx-error.log").read_text()
    assert "[error]" not in nginx_errors, nginx_errors[-3000:]


@pytest.mark.corral_only
def test_five_sighup_reloads_under_client_loop(corral):
    server = corral.start(hello_ini(corral, processes=2))
    with Load(server.get, threads=6) as load:
        wait_for(lambda: load.ok > 20, 15, "the client loop to get going")
        _five_reloads(server, lambda: server.send(signal.SIGHUP), 2)
        seen = load.ok
        wait_for(lambda: load.ok > seen + 20, 15, "requests to the last generation")
    assert not load.failures, load.failures[:5]
    assert load.ok > 100


def _slow_start_ini(corral, processes, markers, extra=""):
    """slow_start.py loaded in each worker (lazy-apps): a worker takes
    0.5 s to load it and then leaves a marker file named after its pid."""
    return ("[uwsgi]\nchdir = %s\nmodule = slow_start:application\nlazy-apps = true\n"
            "master = true\nprocesses = %d\nhttp-socket = 127.0.0.1:%d\n"
            "env = SLOW_START_MARKERS=%s\n%s" % (APPS, processes, corral.port, markers, extra))


def _loaded(markers):
    return {int(f.name) for f in markers.iterdir()}


def _watch_reload(server, markers, old, processes, timeout=30):
    """Sample (live workers, workers that loaded the app) until a new
    generation of `processes` loaded workers has replaced `old`."""
    samples = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = set(server.workers())
        loaded = _loaded(markers)
        samples.append((time.monotonic(), now, loaded))
        if len(now) == processes and not (now & old) and now <= loaded:
            return samples
        time.sleep(0.01)
    pytest.fail("workers %r were not replaced; last sample %r" % (old, samples[-1][1:]))


@pytest.mark.corral_only
def test_sighups_in_quick_succession_under_load(corral):
    """Five SIGHUPs 0.3 s apart, each arriving while the previous reload may
    still run: no request fails and exactly `processes` workers remain."""
    server = corral.start(hello_ini(corral, processes=2))
    first = set(server.workers())
    with Load(server.get, threads=6) as load:
        wait_for(lambda: load.ok > 20, 15, "the client loop to get going")
        for _ in range(5):
            server.send(signal.SIGHUP)
            time.sleep(0.3)
        final = wait_reloads_settled(server, first, 2)
        seen = load.ok
        wait_for(lambda: load.ok > seen + 20, 15, "requests after the reloads")
    assert not load.failures, load.failures[:5]
    # nothing else starts afterwards: the last generation stays
    time.sleep(1.5)
    assert set(server.workers()) == final
    assert len(re.findall(r"^graceful reload", server.log(), re.M)) >= 2


@pytest.mark.corral_only
def test_chain_reload_replaces_workers_one_at_a_time(corral, tmp_path):
    fifo, markers = tmp_path / "master.fifo", tmp_path / "markers"
    markers.mkdir()
    processes = 4
    server = corral.start(_slow_start_ini(corral, processes, markers,
                                          "master-fifo = %s\n" % fifo))
    old = set(wait_for(lambda: (lambda w: len(w) == processes and set(w) <= _loaded(markers)
                                and w)(server.workers()), 30, "the first workers to load"))
    with Load(server.get, threads=3) as load:
        wait_for(lambda: load.ok > 10, 15, "the client loop to get going")
        t0 = time.monotonic()
        fifo_send(fifo, "c")
        samples = _watch_reload(server, markers, old, processes)
        took = time.monotonic() - t0
        seen = load.ok
        wait_for(lambda: load.ok > seen + 10, 15, "requests to the new workers")
    for t, now, loaded in samples:
        new = now - old
        loading = new - loaded
        # one replacement at a time: never two new workers loading at once
        assert len(loading) <= 1, "workers %r load the app at the same time" % sorted(loading)
        # old workers still alive (the one being retired exits within
        # milliseconds) plus new workers that have loaded the app
        ready = len(now & old) + len(new & loaded)
        assert ready >= processes - 1, "only %d ready workers at %.2f s: %r" % (
            ready, t - t0, sorted(now))
    assert took >= processes * 0.5 * 0.9, "4 workers that load for 0.5 s each were " \
        "replaced in %.2f s: not one after the other" % took
    assert not load.failures, load.failures[:5]
    server.wait_log(r"chain reload done")
    final = samples[-1][1]
    spawned = re.findall(r"spawned worker (\d+) \(pid (\d+)\)", server.log())
    assert [int(w) for w, p in spawned if int(p) in final] == list(range(1, processes + 1))


@pytest.mark.corral_only
def test_full_reload_of_lazy_apps_starts_the_new_generation_at_once(corral, tmp_path):
    """The contrast to the chain reload (and the proof that its check can
    fail): SIGHUP loads the app in every new worker at the same time, and
    the old workers keep serving until their replacements have loaded."""
    markers = tmp_path / "markers"
    markers.mkdir()
    processes = 4
    server = corral.start(_slow_start_ini(corral, processes, markers))
    old = set(wait_for(lambda: (lambda w: len(w) == processes and set(w) <= _loaded(markers)
                                and w)(server.workers()), 30, "the first workers to load"))
    with Load(server.get, threads=3) as load:
        wait_for(lambda: load.ok > 10, 15, "the client loop to get going")
        server.send(signal.SIGHUP)
        samples = _watch_reload(server, markers, old, processes)
    assert max(len((now - old) - loaded) for t, now, loaded in samples) >= 2
    for t, now, loaded in samples:
        # while the new ones load, every old worker is still there
        if (now - old) - loaded == (now - old) and now - old:
            assert len(now & old) == processes, sorted(now)
    assert not load.failures, load.failures[:5]


# --------------------------------------------------------------------------
# touch-reload

@pytest.mark.corral_only      # Corral's log lines and behaviour
def test_touch_reload_replaces_the_workers(corral, tmp_path):
    touched = tmp_path / "reload.touch"
    touched.write_text("")
    server = corral.start(hello_ini(corral, processes=2, extra="touch-reload = %s\n" % touched))
    old = server.workers()
    later = time.time() + 2
    os.utime(touched, (later, later))
    new = wait_replaced(server, old, 2)
    server.wait_log(r"%s was touched" % re.escape(str(touched)))
    assert int(server.get("/pid").body) in new


def test_touch_reload_on_a_missing_file_warns_and_creating_it_reloads(corral, tmp_path):
    touched = tmp_path / "not-yet.touch"
    server = corral.start(hello_ini(corral, processes=2, extra="touch-reload = %s\n" % touched))
    ini = tmp_path / "app.ini"
    if not IS_UWSGI:
        line = ini.read_text().splitlines().index("touch-reload = %s" % touched) + 1
        server.wait_log(r"^warning: %s:%d: %s does not exist yet"
                        % (re.escape(str(ini)), line, re.escape(str(touched))))
    assert server.get("/").body == b"Hello, World!"
    old = server.workers()
    time.sleep(1.2)                      # no reload while the file stays missing
    assert sorted(server.workers()) == sorted(old)
    touched.write_text("now")
    new = wait_replaced(server, old, 2)
    assert int(server.get("/pid").body) in new


# --------------------------------------------------------------------------
# master FIFO

def test_fifo_r_reloads(corral, tmp_path):
    fifo = tmp_path / "master.fifo"
    server = corral.start(hello_ini(corral, processes=2, extra="master-fifo = %s\n" % fifo))
    assert fifo.is_fifo()
    old = server.workers()
    fifo_send(fifo, "r")
    new = wait_replaced(server, old, 2)
    assert int(server.get("/pid").body) in new


def test_fifo_q_stops_gracefully_with_status_0(corral, tmp_path):
    fifo = tmp_path / "master.fifo"
    server = corral.start(hello_ini(corral, processes=2, extra="master-fifo = %s\n" % fifo))
    workers = server.workers()
    fifo_send(fifo, "q")
    server.proc.wait(15)
    assert server.proc.returncode == 0, server.log()
    wait_for(lambda: not [p for p in workers if alive(p)], 5, "the workers to exit")


@pytest.mark.corral_only
def test_fifo_unknown_letter_warns_and_keeps_serving(corral, tmp_path):
    fifo = tmp_path / "master.fifo"
    server = corral.start(hello_ini(corral, processes=2, extra="master-fifo = %s\n" % fifo))
    old = sorted(server.workers())
    fifo_send(fifo, "x")
    server.wait_log(r"^warning: master fifo: unknown command 'x'")
    assert server.running()
    assert sorted(server.workers()) == old
    assert server.get("/").body == b"Hello, World!"
    fifo_send(fifo, "r")                 # the FIFO still takes commands
    wait_replaced(server, old, 2)


# --------------------------------------------------------------------------
# shutdown signals

@pytest.mark.corral_only      # uWSGI 2.0's die-on-term kills the running request
def test_sigterm_lets_a_2s_request_finish_behind_nginx(corral, nginx):
    server = corral.start(hello_ini(corral, processes=1, http=False, uwsgi=True,
                                    extra="chmod-socket = 666\n"))
    result = {}

    def slow():
        try:
            result["r"] = nginx.get("/sleep?2", timeout=20)
        except Exception as e:
            result["r"] = e

    t = threading.Thread(target=slow)
    t.start()
    wait_for(lambda: _request_in_progress(server), 5, "the request to reach the worker")
    t0 = time.monotonic()
    server.send(signal.SIGTERM)
    server.proc.wait(15)
    stopped_after = time.monotonic() - t0
    t.join(20)
    r = result.get("r")
    assert not isinstance(r, Exception) and r is not None, r
    assert r.status == 200 and r.body == b"slept", r
    assert server.proc.returncode == 0, server.log()
    assert stopped_after > 0.5, "the master exited %.2f s after SIGTERM, before the " \
        "request finished" % stopped_after


def _request_in_progress(server):
    """True while a worker sleeps in the view (/sleep calls time.sleep, so
    the kernel shows the worker waiting in nanosleep, not in epoll)."""
    for pid in server.workers():
        try:
            if "nanosleep" in Path("/proc/%d/wchan" % pid).read_text():
                return True
        except OSError:
            continue
    return False


def test_sigint_stops_at_once_even_with_a_request_running(corral):
    server = corral.start(hello_ini(corral, processes=2))
    server.expect_log(r"killed by signal 9")
    workers = server.workers()
    result = {}
    t = threading.Thread(target=lambda: result.update(raw=raw_get(server.http[0], "/sleep?8")))
    t.start()
    wait_for(lambda: _request_in_progress(server), 5, "the request to reach a worker")
    t0 = time.monotonic()
    server.send(signal.SIGINT)
    server.proc.wait(15)
    assert time.monotonic() - t0 < 1.5, "SIGINT took %.1f s" % (time.monotonic() - t0)
    assert server.proc.returncode == 0, server.log()
    wait_for(lambda: not [p for p in workers if alive(p)], 3, "the workers to exit")
    t.join(10)
    assert status_of(result.get("raw", b"")) != 200


# --------------------------------------------------------------------------
# daemonize, pidfiles

def _stop_daemon(pid, timeout=15):
    workers = children(pid)
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not alive(pid), timeout, "the daemon %d to exit" % pid)
    wait_for(lambda: not [p for p in workers if alive(p)], 5, "the daemon's workers to exit")


def _kill_daemon(ini):
    """After a failed daemon test: SIGKILL every process still running on
    this test's config file (its path is unique to the test), and their
    children, whatever pid the pidfile named."""
    victims = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            args = Path("/proc/%s/cmdline" % entry).read_bytes().split(b"\0")
        except OSError:
            continue
        if str(ini).encode() in args:
            victims.append(int(entry))
    for p in victims + [c for v in victims for c in children(v)]:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.corral_only      # Corral's log lines and behaviour
@pytest.mark.parametrize("option", [
    "daemonize",
    "daemonize2",
])
def test_daemonize_returns_at_once_and_pidfile_names_the_master(tmp_path, option):
    logfile = tmp_path / "daemon.log"
    pidfile = tmp_path / "daemon.pid"
    port = conftest.free_port()
    ini = tmp_path / "daemon.ini"
    ini.write_text(hello_ini(SimpleNamespace(port=port, sock=None), processes=2,
                             extra="%s = %s\npidfile = %s\nvacuum = true\n"
                             % (option, logfile, pidfile)))
    t0 = time.monotonic()
    p = run(["--ini", str(ini)], cwd=tmp_path, timeout=20)
    elapsed = time.monotonic() - t0
    stopped = False
    try:
        assert p.returncode == 0, p.stdout + p.stderr
        assert elapsed < 10, "the %s command took %.1f s to return" % (option, elapsed)
        pid = int(wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), 10,
                           "the pidfile"))
        assert alive(pid), "pidfile holds %d, which is not running" % pid
        assert os.getsid(pid) != os.getsid(0), "the daemon did not leave our session"
        r = wait_for(lambda: _try_get(("127.0.0.1", port)), 15, "the daemon to serve")
        assert r.body == b"Hello, World!"
        workers = wait_for(lambda: len(children(pid)) == 2 and children(pid), 10,
                           "two workers under the daemon %d" % pid)
        assert int(http_request(("127.0.0.1", port), "GET", "/pid").body) in workers
        log = wait_for(lambda: "GET /pid => generated" in logfile.read_text() and
                       logfile.read_text(), 10, "the request line in %s" % logfile)
        assert "spawned worker 1" in log or IS_UWSGI
        assert int(pidfile.read_text()) == pid       # still the master's
        _stop_daemon(pid)
        stopped = True
        assert not pidfile.exists(), "vacuum left the pidfile"
    finally:
        if not stopped:
            _kill_daemon(ini)


def _try_get(addr):
    try:
        return http_request(addr, "GET", "/", timeout=5)
    except (OSError, AssertionError):
        return None


# --------------------------------------------------------------------------
# privileges

@pytest.mark.corral_only      # Corral's log lines and behaviour
@needs_root
def test_uid_gid_nobody_applies_to_every_worker(run_dir, corral):
    uid, gid = user_ids("nobody", "nogroup")
    server = start_in(corral, run_dir, hello_ini(corral, processes=2,
                                                 extra="uid = nobody\ngid = nogroup\n"), 2)
    workers = server.workers()
    assert len(workers) == 2
    for pid in workers + [server.pid]:
        st = proc_status(pid)
        assert st["Uid"] == [str(uid)] * 4, (pid, st["Uid"])
        assert st["Gid"] == [str(gid)] * 4, (pid, st["Gid"])
        assert st["Groups"] == [], "pid %d keeps supplementary groups %r" % (pid, st["Groups"])
    assert int(server.get("/pid").body) in workers
    # a respawned worker is no more privileged
    server.expect_log(r"killed by signal 9")
    os.kill(workers[0], signal.SIGKILL)
    new = wait_for(lambda: (lambda w: len(w) == 2 and workers[0] not in w and w)(
        server.workers()), 15, "a replacement worker")
    for pid in new:
        assert proc_status(pid)["Uid"] == [str(uid)] * 4


@pytest.mark.corral_only      # Corral's log lines and behaviour
def test_unknown_user_fails_start_with_a_clear_message(tmp_path, corral):
    ini = tmp_path / "bad.ini"
    ini.write_text(hello_ini(corral, extra="uid = no-such-user-xyz\n"))
    p = run(["--ini", str(ini)], cwd=tmp_path, timeout=20)
    assert p.returncode == 1, p
    out = p.stdout + p.stderr
    assert re.search(r"uid.*no-such-user-xyz", out), out
    assert "Segmentation" not in out
    # nothing is left listening
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", corral.port), timeout=1).close()


@pytest.mark.corral_only      # Corral's log lines and behaviour
def test_unknown_group_fails_start_with_a_clear_message(tmp_path, corral):
    ini = tmp_path / "bad.ini"
    ini.write_text(hello_ini(corral, extra="gid = no-such-group-xyz\n"))
    p = run(["--ini", str(ini)], cwd=tmp_path, timeout=20)
    assert p.returncode == 1, p
    assert re.search(r"gid.*no-such-group-xyz", p.stdout + p.stderr), p


# --------------------------------------------------------------------------
# vacuum

def _leftovers(paths):
    return [str(p) for p in paths if os.path.lexists(p)]


@pytest.mark.corral_only      # Corral's log lines and behaviour
def test_vacuum_removes_socket_pidfiles_and_fifo_after_a_reload(corral, tmp_path):
    pidfile, pidfile2, fifo = (tmp_path / "m.pid", tmp_path / "m2.pid", tmp_path / "m.fifo")
    server = corral.start(hello_ini(corral, processes=2, uwsgi=True, extra=(
        "vacuum = true\npidfile = %s\npidfile2 = %s\nmaster-fifo = %s\n"
        % (pidfile, pidfile2, fifo))))
    created = [Path(corral.sock), pidfile, pidfile2, fifo]
    assert not _leftovers([]) and len(_leftovers(created)) == 4, _leftovers(created)
    assert int(pidfile.read_text()) == int(pidfile2.read_text()) == server.pid
    old = server.workers()
    server.send(signal.SIGHUP)
    wait_replaced(server, old, 2)
    assert len(_leftovers(created)) == 4, "a reload removed files: %r" % _leftovers(created)
    assert server.stop() == 0
    assert _leftovers(created) == [], "vacuum left %r" % _leftovers(created)


@pytest.mark.corral_only      # Corral's log lines and behaviour
@needs_root
def test_vacuum_after_dropping_privileges(run_dir, corral):
    uid, gid = user_ids("nobody", "nogroup")
    os.chown(run_dir, uid, gid)            # like /run/app owned by the app user
    sock, pidfile, pidfile2, fifo = (run_dir / "app.sock", run_dir / "m.pid",
                                     run_dir / "m2.pid", run_dir / "m.fifo")
    server = start_in(corral, run_dir, hello_ini(corral, processes=2, extra=(
        "socket = %s\nuid = nobody\ngid = nogroup\nvacuum = true\npidfile = %s\n"
        "pidfile2 = %s\nmaster-fifo = %s\n" % (sock, pidfile, pidfile2, fifo))), 2)
    created = [sock, pidfile, pidfile2, fifo]
    assert _leftovers(created) == [str(p) for p in created]
    assert os.stat(fifo).st_uid == uid, "the FIFO is not owned by the app's user"
    assert os.stat(pidfile2).st_uid == uid, "pidfile2 was written before the drop"
    old = server.workers()
    fifo_send(fifo, "r")
    wait_replaced(server, old, 2)
    assert server.stop() == 0
    assert _leftovers(created) == [], "vacuum left %r; log:\n%s" % (
        _leftovers(created), server.log())


# --------------------------------------------------------------------------
# an application that cannot be imported

def _import_error_ini(port, extra=""):
    return ("[uwsgi]\nchdir = %s\nmodule = raise_at_import:application\nmaster = true\n"
            "processes = 2\nhttp-socket = 127.0.0.1:%d\n%s" % (APPS, port, extra))


@pytest.mark.corral_only      # Corral's log lines and behaviour
def test_import_error_with_need_app_exits_1_at_once(tmp_path):
    ini = tmp_path / "crash.ini"
    ini.write_text(_import_error_ini(conftest.free_port()))
    t0 = time.monotonic()
    p = run(["--ini", str(ini)], cwd=tmp_path, timeout=30)
    out = p.stdout + p.stderr
    assert p.returncode == 1, out
    assert time.monotonic() - t0 < 10
    assert "raise_at_import: this module always fails to import" in out
    assert "spawned worker" not in out, "workers were forked for an app that did not load"


@pytest.mark.corral_only
def test_import_error_with_lazy_apps_and_need_app_exits_1(tmp_path):
    ini = tmp_path / "crash.ini"
    ini.write_text(_import_error_ini(conftest.free_port(), "lazy-apps = true\n"))
    t0 = time.monotonic()
    p = run(["--ini", str(ini)], cwd=tmp_path, timeout=30)
    out = p.stdout + p.stderr
    assert p.returncode == 1, out
    assert time.monotonic() - t0 < 10
    assert "raise_at_import: this module always fails to import" in out
    assert re.search(r"could not load the application and need-app is on", out), out
    assert len(re.findall(r"spawned worker", out)) <= 4, out


@pytest.mark.corral_only      # Corral's log lines and behaviour
def test_lazy_apps_import_error_does_not_fork_loop(corral):
    server = corral.start(_import_error_ini(corral.port, "lazy-apps = true\nneed-app = false\n"),
                          wait=False)
    server.expect_log(r"raise_at_import", r"^Traceback", r"exited with status",
                      r"cannot load WSGI app", r"cannot import", r"^error: ")
    server.wait_log(r"spawned worker", timeout=15)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 5:
        assert server.running(), server.log()
        time.sleep(0.25)
    spawned = len(re.findall(r"spawned worker", server.log()))
    assert spawned <= 12, "%d workers spawned in about 5 s: a fork loop" % spawned
    assert spawned >= 2
    if not IS_UWSGI:
        assert re.search(r"died \d+ time\(s\) right after starting; respawning in", server.log())
    assert server.stop() == 0


# --------------------------------------------------------------------------
# bad input

@pytest.mark.parametrize("value, words", [
    ("-1", r"at least 0|negative|-1"),
    ("abc", r"number|integer|abc"),
])
@pytest.mark.corral_only      # Corral's log lines and behaviour
def test_bad_harakiri_names_option_file_and_line(tmp_path, corral, value, words):
    ini = tmp_path / "bad.ini"
    text = hello_ini(corral, extra="harakiri = %s\n" % value)
    ini.write_text(text)
    line = text.splitlines().index("harakiri = %s" % value) + 1
    p = run(["--ini", str(ini)], cwd=tmp_path, timeout=20)
    out = p.stdout + p.stderr
    assert p.returncode == 1, out
    m = re.search(r"^error: .*'harakiri'.*$", out, re.M)
    assert m, out
    assert "%s:%d" % (ini, line) in m.group(0), m.group(0)
    assert re.search(words, m.group(0)), m.group(0)
    assert "spawned worker" not in out


@pytest.mark.corral_only      # Corral's log lines and behaviour
def test_pidfile_in_missing_directory_fails_clearly(tmp_path, corral):
    ini = tmp_path / "bad.ini"
    pidfile = tmp_path / "no-such-dir" / "app.pid"
    ini.write_text(hello_ini(corral, extra="pidfile = %s\n" % pidfile))
    p = run(["--ini", str(ini)], cwd=tmp_path, timeout=20)
    out = p.stdout + p.stderr
    assert p.returncode == 1, out
    assert re.search(r"^error: .*%s" % re.escape(str(pidfile)), out, re.M), out
    assert "spawned worker" not in out


# --------------------------------------------------------------------------
# process titles

@pytest.mark.corral_only
def test_worker_titles_in_proc_and_ps(corral):
    server = corral.start(hello_ini(corral, processes=2))
    titles = {}
    for pid in server.workers():
        titles[pid] = title(pid)
    assert sorted(titles.values()) == ["corral worker 1", "corral worker 2"], titles
    for pid, text in titles.items():
        ps = subprocess.run(["ps", "-o", "args=", "-p", str(pid)], capture_output=True,
                            text=True, timeout=10).stdout.strip()
        assert ps == text, (pid, ps)


@pytest.mark.corral_only
def test_master_title_with_auto_procname_and_prefix(corral):
    server = corral.start(hello_ini(corral, processes=1, extra=(
        "auto-procname = true\nprocname-prefix-spaced = shop\n")))
    assert title(server.pid) == "shop corral master"
    [worker] = server.workers()
    assert title(worker) == "shop corral worker 1"
    assert server.get("/").body == b"Hello, World!"


# --------------------------------------------------------------------------
# more of the lifecycle: orphans, mercy, SIGQUIT, Q, chain touch, lifetime,
# log reopen, reload while a request runs, harakiri of a stopping worker

def test_killed_master_leaves_no_orphan_workers(corral):
    server = corral.start(hello_ini(corral, processes=2))
    workers = server.workers()
    server.send(signal.SIGKILL)
    server.proc.wait(5)
    wait_for(lambda: not [p for p in workers if alive(p)], 10,
             "workers %r to exit after their master was SIGKILLed" % workers)
    # nothing for the fixture's stop-and-check: the master is gone already
    corral.servers.remove(server)
    server.kill_group()
    assert server.proc.returncode == -signal.SIGKILL


@pytest.mark.corral_only
def test_sigterm_escalates_after_reload_mercy(corral):
    server = corral.start(hello_ini(corral, processes=1, extra="reload-mercy = 2\n"
                                    "worker-reload-mercy = 2\n"))
    server.expect_log(r"killed by signal 9", r"did not stop in time")
    result = {}
    t = threading.Thread(target=lambda: result.update(raw=raw_get(server.http[0], "/sleep?9")))
    t.start()
    wait_for(lambda: _request_in_progress(server), 5, "the request to reach the worker")
    t0 = time.monotonic()
    server.send(signal.SIGTERM)
    server.proc.wait(15)
    took = time.monotonic() - t0
    t.join(15)
    assert 1.5 < took < 2 + 2, "SIGTERM with reload-mercy = 2 took %.1f s" % took
    assert server.proc.returncode == 0, server.log()
    assert status_of(result.get("raw", b"")) != 200


@pytest.mark.corral_only      # Corral's log lines and behaviour
def test_sigquit_stops_at_once(corral):
    server = corral.start(hello_ini(corral, processes=2))
    server.expect_log(r"killed by signal (9|2|3|15)\b")
    workers = server.workers()
    t = threading.Thread(target=lambda: raw_get(server.http[0], "/sleep?8"))
    t.start()
    wait_for(lambda: _request_in_progress(server), 5, "the request to reach a worker")
    t0 = time.monotonic()
    server.send(signal.SIGQUIT)
    server.proc.wait(15)
    assert time.monotonic() - t0 < 1.5
    assert server.proc.returncode == 0, server.log()
    wait_for(lambda: not [p for p in workers if alive(p)], 3, "the workers to exit")
    t.join(10)


@pytest.mark.corral_only
def test_fifo_capital_q_stops_at_once(corral, tmp_path):
    fifo = tmp_path / "master.fifo"
    server = corral.start(hello_ini(corral, processes=1, extra="master-fifo = %s\n" % fifo))
    server.expect_log(r"killed by signal (9|2|3|15)\b")
    t = threading.Thread(target=lambda: raw_get(server.http[0], "/sleep?8"))
    t.start()
    wait_for(lambda: _request_in_progress(server), 5, "the request to reach the worker")
    t0 = time.monotonic()
    fifo_send(fifo, "Q")
    server.proc.wait(15)
    assert time.monotonic() - t0 < 1.5
    assert server.proc.returncode == 0, server.log()
    t.join(10)


@pytest.mark.corral_only
def test_fifo_digits_select_another_fifo(corral, tmp_path):
    first, second = tmp_path / "a.fifo", tmp_path / "b.fifo"
    server = corral.start(hello_ini(corral, processes=1, extra=(
        "master-fifo = %s\nmaster-fifo = %s\n" % (first, second))))
    [old] = server.workers()
    fifo_send(second, "r")                 # not selected: ignored
    fifo_send(first, "1")
    server.wait_log(r"master fifo is now %s" % re.escape(str(second)))
    time.sleep(1.2)
    assert server.workers() == [old], "a command written to an unselected FIFO ran"
    fifo_send(second, "r")
    wait_replaced(server, [old], 1)


@pytest.mark.corral_only
def test_touch_chain_reload(corral, tmp_path):
    touched = tmp_path / "chain.touch"
    touched.write_text("")
    server = corral.start(hello_ini(corral, processes=3,
                                    extra="touch-chain-reload = %s\n" % touched))
    old = server.workers()
    later = time.time() + 2
    os.utime(touched, (later, later))
    new = wait_replaced(server, old, 3)
    server.wait_log(r"chain reload done")
    assert int(server.get("/pid").body) in new


@pytest.mark.corral_only      # Corral's log lines and behaviour
def test_max_worker_lifetime_replaces_the_worker(corral):
    server = corral.start(hello_ini(corral, processes=1, extra="max-worker-lifetime = 2\n"))
    [old] = server.workers()
    with Load(server.get, threads=2, path="/pid", body=None) as load:
        new = wait_replaced(server, [old], 1, timeout=10)
        seen = load.ok
        wait_for(lambda: load.ok > seen + 5, 10, "requests to the new worker")
    assert not load.failures, load.failures[:5]
    assert int(server.get("/pid").body) in new
    if not IS_UWSGI:
        server.wait_log(r"worker 1 reached max-worker-lifetime \(2 s\); recycling")
        assert not re.search(r"exited with status|right after starting", server.log())


@pytest.mark.corral_only
def test_sigusr2_reopens_the_logto_file(corral, tmp_path):
    logfile = tmp_path / "app-logto.log"
    server = corral.start(hello_ini(corral, processes=1, extra="logto = %s\n" % logfile))
    assert server.get("/pid").status == 200
    wait_for(lambda: "GET /pid" in logfile.read_text(), 10, "the request in the logto file")
    rotated = tmp_path / "app-logto.log.1"
    logfile.rename(rotated)
    server.send(signal.SIGUSR2)
    wait_for(lambda: logfile.exists(), 10, "a new log file after SIGUSR2")
    assert server.get("/osenv?HOME").status in (200, 404)
    wait_for(lambda: "GET /osenv" in logfile.read_text(), 10,
             "the worker's request line in the reopened file")
    assert "GET /osenv" not in rotated.read_text()


@pytest.mark.corral_only
def test_sighup_lets_a_running_request_finish(corral):
    server = corral.start(hello_ini(corral, processes=1))
    [old] = server.workers()
    result = {}
    t = threading.Thread(target=lambda: result.update(raw=raw_get(server.http[0], "/sleep?2")))
    t.start()
    wait_for(lambda: _request_in_progress(server), 5, "the request to reach the worker")
    server.send(signal.SIGHUP)
    # a new worker serves while the old one finishes its request
    r = server.get("/pid")
    assert r.status == 200 and int(r.body) != old and int(r.body) in server.workers()
    assert t.is_alive() or status_of(result.get("raw", b"")) == 200
    t.join(15)
    raw = result.get("raw", b"")
    assert status_of(raw) == 200 and raw.endswith(b"slept"), raw[-200:]
    wait_replaced(server, [old], 1)


@pytest.mark.corral_only
def test_harakiri_still_applies_to_a_worker_stopping_for_a_reload(corral):
    server = corral.start(hello_ini(corral, processes=1, extra="harakiri = 2\n"))
    server.expect_log(r"HARAKIRI", r"killed by signal 9")
    [old] = server.workers()
    t0 = time.monotonic()
    result = {}
    t = threading.Thread(target=lambda: result.update(raw=raw_get(server.http[0], "/sleep?9")))
    t.start()
    wait_for(lambda: _request_in_progress(server), 5, "the request to reach the worker")
    server.send(signal.SIGHUP)
    wait_for(lambda: not alive(old), 2 + 3, "harakiri to kill the stopping worker %d" % old)
    assert time.monotonic() - t0 < 2 + 3
    t.join(15)
    server.wait_log(r"HARAKIRI: worker 1 \(pid %d\)" % old)
    assert server.get("/").body == b"Hello, World!"


@pytest.mark.corral_only
def test_worker_reload_mercy_kills_a_stuck_old_worker_after_a_reload(corral):
    server = corral.start(hello_ini(corral, processes=1, extra="worker-reload-mercy = 2\n"))
    server.expect_log(r"did not stop in time", r"killed by signal 9")
    [old] = server.workers()
    result = {}
    t = threading.Thread(target=lambda: result.update(raw=raw_get(server.http[0], "/sleep?9")))
    t.start()
    wait_for(lambda: _request_in_progress(server), 5, "the request to reach the worker")
    t0 = time.monotonic()
    server.send(signal.SIGHUP)
    assert server.get("/").body == b"Hello, World!"     # the replacement is serving
    wait_for(lambda: not alive(old), 2 + 4, "worker-reload-mercy = 2 to kill the old worker")
    assert time.monotonic() - t0 < 2 + 4
    t.join(15)
    assert status_of(result.get("raw", b"")) != 200


@pytest.mark.corral_only
def test_harakiri_graceful_timeout_sends_sigterm_first(corral):
    server = corral.start(hello_ini(corral, processes=1, extra=(
        "harakiri = 2\nharakiri-graceful-timeout = 1\n")))
    server.expect_log(r"HARAKIRI", r"killed by signal 9")
    [old] = server.workers()
    t0 = time.monotonic()
    raw = raw_get(server.http[0], "/sleep?9")
    assert status_of(raw) != 200
    assert time.monotonic() - t0 < 2 + 1 + 2
    wait_replaced(server, [old], 1)
    assert server.get("/").body == b"Hello, World!"


# --------------------------------------------------------------------------
# a reload picks up new code

VERSIONED_APP = '''\
import os
VERSION = %r


def application(environ, start_response):
    body = VERSION.encode() if environ.get("PATH_INFO") != "/pid" else str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
'''


@pytest.mark.parametrize("lazy", [
    # uWSGI 2.0 may exit 22 (need-app) on the fixture's SIGTERM after a lazy reload
    pytest.param(True, marks=pytest.mark.corral_only, id="lazy-apps"),
    pytest.param(False, id="preloaded"),
])
def test_sighup_reload_serves_the_new_code(corral, tmp_path, lazy):
    """Deploying = changing the code and reloading. With lazy-apps each new
    worker imports it; without, uWSGI's SIGHUP reloads the whole instance
    (the master execs itself again), so the new code is served as well."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "versioned.py").write_text(VERSIONED_APP % "one")
    server = corral.start("[uwsgi]\nchdir = %s\nmodule = versioned:application\nmaster = true\n"
                          "processes = 2\nhttp-socket = 127.0.0.1:%d\n%s"
                          % (code, corral.port, "lazy-apps = true\n" if lazy else ""))
    assert server.get("/").body == b"one"
    (code / "versioned.py").write_text(VERSIONED_APP % "two")
    old = server.workers()
    server.send(signal.SIGHUP)
    wait_replaced(server, old, 2)
    bodies = {server.get("/").body for _ in range(6)}
    assert bodies == {b"two"}, "after the reload the workers serve %r" % bodies


# --------------------------------------------------------------------------
# smaller promises of issue 4

@needs_root
def test_running_as_root_without_uid_warns(corral):
    server = corral.start(hello_ini(corral))
    if not IS_UWSGI:
        server.wait_log(r"^warning: running as root")


@needs_root
def test_socket_is_chowned_and_chmodded_before_the_drop(run_dir, corral):
    uid, gid = user_ids("nobody", "nogroup")
    sock = run_dir / "app.sock"
    server = start_in(corral, run_dir, hello_ini(corral, processes=1, http=False, extra=(
        "socket = %s\nchown-socket = nobody:nogroup\nchmod-socket = 660\numask = 027\n"
        "uid = nobody\ngid = nogroup\n" % sock)), 1)
    st = os.stat(sock)
    assert (st.st_uid, st.st_gid) == (uid, gid)
    assert st.st_mode & 0o777 == 0o660
    assert proc_status(server.workers()[0])["Uid"] == [str(uid)] * 4
    r = conftest.uwsgi_request(str(sock))
    assert r.body == b"Hello, World!"


@needs_root
@pytest.mark.corral_only
def test_vacuum_that_cannot_remove_a_file_says_so(run_dir, corral):
    user_ids("nobody", "nogroup")
    sock, pidfile = run_dir / "app.sock", run_dir / "app.pid"
    server = start_in(corral, run_dir, hello_ini(corral, processes=1, http=False, extra=(
        "socket = %s\nchmod-socket = 666\nuid = nobody\ngid = nogroup\nvacuum = true\n"
        "pidfile = %s\n" % (sock, pidfile))), 1)
    assert server.stop() == 0
    # run_dir belongs to root: the master, now nobody, cannot unlink the
    # socket and the pidfile; vacuum must then say so, not fail silently
    for path in (sock, pidfile):
        if os.path.exists(path):
            assert re.search(r"^warning: .*%s" % re.escape(str(path)), server.log(), re.M), \
                "vacuum left %s without a word:\n%s" % (path, server.log())
            server.expect_log(re.escape(str(path)))


@pytest.mark.corral_only
def test_memory_report_adds_rss_to_request_lines(corral):
    server = corral.start(hello_ini(corral, extra="memory-report = true\n"))
    assert server.get("/pid").status == 200
    m = server.wait_log(r"GET /pid => generated .*\{address space usage: rss (\d+) kB\}")
    assert int(m.group(1)) > 1000


@pytest.mark.corral_only
def test_harakiri_deadline_is_per_thread(corral):
    """threads = 4: other threads keep finishing quick requests while one is
    stuck; the stuck one's deadline still expires."""
    server = corral.start(hello_ini(corral, processes=1, extra="threads = 4\nharakiri = 2\n"))
    server.expect_log(r"HARAKIRI", r"killed by signal 9")
    [old] = server.workers()
    assert server.get("/").status == 200          # the worker has initialised
    if re.search(r"cannot serve requests from several threads", server.log()):
        pytest.skip("the python plugin serves one request at a time per worker")
    result = {}
    t0 = time.monotonic()
    t = threading.Thread(target=lambda: result.update(raw=raw_get(server.http[0], "/sleep?9")))
    t.start()
    quick = []
    while t.is_alive() and time.monotonic() - t0 < 8:
        try:
            quick.append(http_request(server.http[0], "GET", "/pid", timeout=5).status)
        except (OSError, AssertionError) as e:   # the worker died under this one
            quick.append(e)
        time.sleep(0.05)
    t.join(15)
    elapsed = time.monotonic() - t0
    assert status_of(result.get("raw", b"")) != 200
    assert elapsed < 2 + 2, "the stuck request lasted %.1f s with harakiri = 2" % elapsed
    assert quick.count(200) >= 5, quick
    server.wait_log(r"HARAKIRI: worker 1 \(pid %d\).*'GET /sleep\?9'" % old)
    wait_replaced(server, [old], 1)
    assert server.get("/").body == b"Hello, World!"


@pytest.mark.corral_only
def test_broken_deploy_with_lazy_apps_keeps_the_old_workers_serving(corral, tmp_path):
    """The code is replaced by a version that fails at import and the
    instance is reloaded: the new workers cannot load it, so the old ones
    must not be retired; the instance keeps serving the old code."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "versioned.py").write_text(VERSIONED_APP % "one")
    server = corral.start("[uwsgi]\nchdir = %s\nmodule = versioned:application\nmaster = true\n"
                          "processes = 2\nhttp-socket = 127.0.0.1:%d\nlazy-apps = true\n"
                          % (code, corral.port))
    server.expect_log(r"broken deploy", r"^Traceback", r"cannot (load|import)", r"^error: ",
                      r"RuntimeError")
    # With lazy-apps each worker imports for itself: break the code only once
    # both have (a worker still importing would rightly load the broken one).
    wait_for(lambda: server.log().count("WSGI app loaded") >= 2, 10, "both workers to load")
    old = set(server.workers())
    (code / "versioned.py").write_text('raise RuntimeError("broken deploy")\n')
    server.send(signal.SIGHUP)
    server.wait_log(r"broken deploy")
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        assert server.running(), "a failed reload stopped the instance:\n%s" % server.log()
        r = server.get("/")
        assert r.status == 200 and r.body == b"one", r
        time.sleep(0.2)
    assert old <= set(server.workers())


def test_preloaded_import_error_without_need_app_serves_errors(corral):
    server = corral.start(_import_error_ini(corral.port, "need-app = false\n"))
    server.expect_log(r"raise_at_import", r"^Traceback", r"cannot load WSGI app",
                      r"cannot import", r"could not be loaded",
                      r"^error: no Python application loaded")
    r = server.get("/")
    assert r.status >= 500, r
    assert server.running()
    assert server.stop() == 0      # (the fixture's fd check wants answers below 500)


@pytest.mark.corral_only
def test_many_fifo_reloads_at_once_settle_on_one_generation(corral, tmp_path):
    fifo = tmp_path / "master.fifo"
    server = corral.start(hello_ini(corral, processes=2, extra="master-fifo = %s\n" % fifo))
    old = server.workers()
    with Load(server.get, threads=4) as load:
        wait_for(lambda: load.ok > 10, 15, "the client loop to get going")
        fifo_send(fifo, "rrrrr")
        new = wait_replaced(server, old, 2, timeout=30)
        seen = load.ok
        wait_for(lambda: load.ok > seen + 10, 15, "requests after the reloads")
    assert not load.failures, load.failures[:5]
    time.sleep(1.5)
    assert sorted(server.workers()) == sorted(new), "more reloads ran after the workers settled"


@pytest.mark.corral_only
def test_sigterm_during_a_reload_stops_everything(corral, tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    server = corral.start(_slow_start_ini(corral, 3, markers))
    old = wait_for(lambda: (lambda w: len(w) == 3 and set(w) <= _loaded(markers)
                            and w)(server.workers()), 30, "the first workers to load")
    server.send(signal.SIGHUP)
    wait_for(lambda: len(server.workers()) > 3, 10, "the new generation to start")
    everyone = server.workers()
    server.send(signal.SIGTERM)
    server.proc.wait(15)
    assert server.proc.returncode == 0, server.log()
    wait_for(lambda: not [p for p in everyone + old if alive(p)], 10,
             "both generations to exit")


@pytest.mark.corral_only
def test_failed_start_with_vacuum_leaves_nothing_behind(tmp_path):
    sock, pidfile, fifo = tmp_path / "app.sock", tmp_path / "app.pid", tmp_path / "app.fifo"
    ini = tmp_path / "crash.ini"
    ini.write_text(_import_error_ini(conftest.free_port(), (
        "socket = %s\npidfile = %s\nmaster-fifo = %s\nvacuum = true\n" % (sock, pidfile, fifo))))
    p = run(["--ini", str(ini)], cwd=tmp_path, timeout=30)
    assert p.returncode == 1, p.stdout + p.stderr
    assert _leftovers([sock, pidfile, fifo]) == [], p.stdout + p.stderr


@pytest.mark.corral_only
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_right_after_the_first_spawn(corral, sig):
    """A stop signal that arrives while the master is still forking its
    workers is not lost: the master exits 0 and no worker survives."""
    server = corral.start(hello_ini(corral, processes=4), wait=False)
    server.expect_log(r"killed by signal (9|2|15)\b")
    wait_for(lambda: "spawned worker 1 " in server.log(), 30, "the first spawn",
             interval=0.001)
    server.send(sig)
    try:
        server.proc.wait(15)
    except subprocess.TimeoutExpired:
        pytest.fail("the master ignored %s sent during start-up:\n%s" % (sig.name, server.log()))
    assert server.proc.returncode == 0, server.log()
    pids = [int(p) for p in re.findall(r"spawned worker \d+ \(pid (\d+)\)", server.log())]
    wait_for(lambda: not [p for p in pids if alive(p)], 10, "workers %r to exit" % pids)


# --------------------------------------------------------------------------
# reloads that re-read the configuration

@pytest.mark.corral_only
def test_reload_applies_a_changed_number_of_processes(corral, tmp_path):
    server = corral.start(hello_ini(corral, processes=3))
    ini = tmp_path / "app.ini"
    old = server.workers()
    ini.write_text(ini.read_text().replace("processes = 3", "processes = 1"))
    server.send(signal.SIGHUP)
    [new] = wait_replaced(server, old, 1)
    time.sleep(1)
    assert server.workers() == [new]
    assert int(server.get("/pid").body) == new
    ini.write_text(ini.read_text().replace("processes = 1", "processes = 2"))
    server.send(signal.SIGHUP)
    wait_replaced(server, [new], 2)


@pytest.mark.corral_only
def test_reload_with_a_broken_config_keeps_serving(corral, tmp_path):
    server = corral.start(hello_ini(corral, processes=2))
    server.expect_log(r"harakiri", r"reload refused")
    ini = tmp_path / "app.ini"
    ini.write_text(ini.read_text() + "harakiri = abc\n")
    server.send(signal.SIGHUP)
    server.wait_log(r"^error: .*'harakiri'.*abc")
    for _ in range(10):
        assert server.get("/").body == b"Hello, World!"
        assert server.running()
        time.sleep(0.1)
    assert len(server.workers()) == 2


@pytest.mark.corral_only
def test_fifo_and_touch_reload_keep_working_after_reloads(corral, tmp_path):
    fifo, touched = tmp_path / "master.fifo", tmp_path / "reload.touch"
    touched.write_text("")
    server = corral.start(hello_ini(corral, processes=2, extra=(
        "master-fifo = %s\ntouch-reload = %s\n" % (fifo, touched))))
    workers = server.workers()
    for i in range(2):
        fifo_send(fifo, "r")
        workers = wait_replaced(server, workers, 2)
        later = time.time() + 10 * (i + 1)
        os.utime(touched, (later, later))
        workers = wait_replaced(server, workers, 2)
    assert fifo.is_fifo()
    assert int(server.get("/pid").body) in workers


@pytest.mark.corral_only
def test_reload_of_a_daemon_keeps_its_pid_and_pidfile(tmp_path):
    logfile, pidfile = tmp_path / "daemon.log", tmp_path / "daemon.pid"
    port = conftest.free_port()
    ini = tmp_path / "daemon.ini"
    ini.write_text(hello_ini(SimpleNamespace(port=port, sock=None), processes=2,
                             extra="daemonize = %s\npidfile = %s\n" % (logfile, pidfile)))
    p = run(["--ini", str(ini)], cwd=tmp_path, timeout=20)
    stopped = False
    try:
        assert p.returncode == 0, p.stdout + p.stderr
        pid = int(wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), 10,
                           "the pidfile"))
        old = wait_for(lambda: len(children(pid)) == 2 and children(pid), 10, "two workers")
        os.kill(pid, signal.SIGHUP)
        wait_for(lambda: (lambda c: len(c) == 2 and not set(c) & set(old))(children(pid)), 20,
                 "the daemon's workers to be replaced")
        assert alive(pid) and int(pidfile.read_text()) == pid
        assert os.getsid(pid) != os.getsid(0)
        assert http_request(("127.0.0.1", port), "GET", "/").body == b"Hello, World!"
        text = logfile.read_text()
        assert text.count("detached: pid") == 1, text
        _stop_daemon(pid)
        stopped = True
    finally:
        if not stopped:
            _kill_daemon(ini)


@pytest.mark.corral_only
def test_refused_reload_keeps_the_current_workers(corral, tmp_path):
    server = corral.start(hello_ini(corral, processes=2))
    server.expect_log(r"harakiri", r"reload refused")
    old = sorted(server.workers())
    ini = tmp_path / "app.ini"
    ini.write_text(ini.read_text() + "harakiri = abc\n")
    server.send(signal.SIGHUP)
    server.wait_log(r"reload refused: .* the current workers keep serving")
    time.sleep(1.5)                       # a reload would have replaced them by now
    assert sorted(server.workers()) == old, server.log()


def _slow_preload_ini(corral, processes, extra=""):
    """slow_start.py preloaded by the master: a reload that re-executes the
    master spends 2 s importing it while the old workers keep serving."""
    return ("[uwsgi]\nchdir = %s\nmodule = slow_start:application\nmaster = true\n"
            "processes = %d\nhttp-socket = 127.0.0.1:%d\nenv = SLOW_START_SECONDS=2\n%s"
            % (APPS, processes, corral.port, extra))


@pytest.mark.corral_only
def test_old_workers_serve_while_the_reloaded_master_imports(corral):
    server = corral.start(_slow_preload_ini(corral, 2))
    old = server.workers()
    server.send(signal.SIGHUP)
    t0 = time.monotonic()
    served = []
    while time.monotonic() - t0 < 1.5:
        r = http_request(server.http[0], "GET", "/pid", timeout=5)
        assert r.status == 200
        served.append(int(r.body))
    assert set(served) <= set(old), "old workers did not serve during the reload"
    wait_replaced(server, old, 2)


@pytest.mark.corral_only
def test_sigterm_while_the_reloaded_master_imports(corral):
    server = corral.start(_slow_preload_ini(corral, 2))
    old = server.workers()
    server.send(signal.SIGHUP)
    time.sleep(0.5)                       # the new image is importing the app
    server.send(signal.SIGTERM)
    try:
        server.proc.wait(20)
    except subprocess.TimeoutExpired:
        pytest.fail("SIGTERM during a reload was lost:\n%s" % server.log())
    assert server.proc.returncode == 0, server.log()
    pids = [int(p) for p in re.findall(r"spawned worker \d+ \(pid (\d+)\)", server.log())]
    wait_for(lambda: not [p for p in set(pids + old) if alive(p)], 10, "every worker to exit")
