"""The process model seen from outside: workers share the load, a killed
worker is respawned, SIGTERM stops everything and cleans up, SIGHUP
replaces the workers without closing the listening socket."""
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import alive, group_members, hello_ini, http_request, wait_for


def test_concurrent_requests_reach_several_workers(corral):
    server = corral.start(hello_ini(corral, processes=4))
    workers = set(server.workers())
    assert len(workers) == 4

    def one(_):
        r = server.get("/pid?0.3")
        assert r.status == 200
        return int(r.body)

    with ThreadPoolExecutor(8) as pool:
        pids = set(pool.map(one, range(16)))
    assert len(pids) > 1, "all 16 concurrent requests went to worker %r" % pids
    assert pids <= workers


def test_killed_worker_is_respawned(corral):
    server = corral.start(hello_ini(corral, processes=2))
    server.expect_log(r"killed by signal 9")
    old = server.workers()
    victim = old[0]
    os.kill(victim, signal.SIGKILL)
    server.wait_log(r"worker \d+ \(pid:? %d\).*killed by signal 9" % victim)
    new = wait_for(lambda: (lambda w: len(w) == 2 and victim not in w and w)(server.workers()),
                   15, "a replacement for worker %d" % victim)
    assert old[1] in new                  # the other worker was left alone
    assert server.running()
    for _ in range(6):
        r = server.get("/pid")
        assert r.status == 200
        assert int(r.body) in new


def test_sigterm_stops_and_cleans_up(corral, tmp_path):
    pidfile = tmp_path / "corral.pid"
    server = corral.start(hello_ini(corral, processes=2, uwsgi=True, extra=(
        "pidfile = %s\nvacuum = true\nchmod-socket = 660\n" % pidfile)))
    assert int(pidfile.read_text()) == server.pid
    assert os.path.exists(corral.sock)
    assert oct(os.stat(corral.sock).st_mode & 0o777) == "0o660"
    assert server.get("/").body == b"Hello, World!"
    workers = server.workers()

    t0 = time.monotonic()
    assert server.stop(signal.SIGTERM, timeout=10) == 0
    assert time.monotonic() - t0 < 5
    wait_for(lambda: not [p for p in workers if alive(p)], 3, "workers to exit")
    assert group_members(server.pgid) == []
    assert not os.path.exists(corral.sock), "vacuum left the unix socket"
    assert not pidfile.exists(), "vacuum left the pidfile"


def test_sigint_stops_immediately(corral):
    server = corral.start(hello_ini(corral, processes=2))
    workers = server.workers()
    # idle workers may be killed outright; that is what SIGINT asks for
    server.expect_log(r"killed by signal (9|2|15)\b")
    t0 = time.monotonic()
    assert server.stop(signal.SIGINT, timeout=10) == 0
    assert time.monotonic() - t0 < 3
    wait_for(lambda: not [p for p in workers if alive(p)], 3, "workers to exit")
    # ... but the operator asked for it: not a worker failing to stop
    assert "did not stop in time" not in server.log(), server.log()


@pytest.mark.corral_only      # uWSGI 2.0's die-on-term kills the workers at once
def test_sigterm_lets_a_running_request_finish(corral):
    server = corral.start(hello_ini(corral, processes=1))
    result = {}

    def slow():
        try:
            result["r"] = server.get("/sleep?1.5")
        except Exception as e:            # reported below, not in the thread
            result["r"] = e

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.5)                       # the request is in the worker now
    assert server.stop(signal.SIGTERM, timeout=10) == 0
    t.join(10)
    r = result.get("r")
    assert not isinstance(r, Exception) and r is not None, r
    assert r.status == 200 and r.body == b"slept"


def test_sighup_replaces_workers_and_keeps_socket(corral):
    server = corral.start(hello_ini(corral, processes=2))
    old = set(server.workers())
    addr = server.http[0]
    server.send(signal.SIGHUP)
    failures, served = [], 0
    deadline = time.monotonic() + 20

    def replaced():
        now = set(server.workers())
        return len(now) >= 2 and not (now & old) and now

    new = None
    while time.monotonic() < deadline:
        # requests keep being answered during the reload
        try:
            r = http_request(addr, "GET", "/pid", timeout=15)
            served += 1
            if r.status != 200:
                failures.append(r)
        except OSError as e:
            failures.append(e)
        new = replaced()
        if new:
            break
        time.sleep(0.05)
    assert new, "workers %r were not replaced within 20s" % old
    assert not failures, failures
    assert server.running()
    r = server.get("/pid")                # right after: the socket is still there
    assert r.status == 200
    assert int(r.body) in server.workers()


def test_disable_logging_removes_request_lines(corral):
    server = corral.start(hello_ini(corral, extra="disable-logging = true\n"))
    assert server.get("/pid").status == 200
    assert server.get("/").status == 200
    server.stop()
    assert " => generated " not in server.log()
    assert "GET /pid" not in server.log()


def test_request_lines_logged_by_default(corral):
    server = corral.start(hello_ini(corral))
    assert server.get("/pid").status == 200
    server.wait_log(r"GET /pid => generated \d+ bytes in \d+ msecs \(HTTP/1\.1 200\)")


def test_many_concurrent_requests_through_nginx(corral, nginx):
    server = corral.start(hello_ini(corral, processes=2, http=False, uwsgi=True,
                                    extra="chmod-socket = 666\n"))

    def one(i):
        body = ("request %d " % i).encode() * 50
        r = nginx.request("POST", "/echo", body=body)
        return r.status, r.body == body

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(64)))
    assert results == [(200, True)] * 64
    assert server.running()
