"""Abuse that must leave the server serving: what a port scanner, a slow or
broken client, or a confused proxy does to the sockets. After each abuse a
normal request is served and the workers are the same processes as before
(none died, none was replaced, none is stuck). Every wait is bounded.

The hello app runs on an http-socket and a TCP uwsgi socket of 127.0.0.1
(uwsgi-allow-from's default lets loopback in) with short timeouts so that
the tests finish quickly: socket-timeout 2 s, http-timeout 3 s.
"""
import re
import socket
import struct
import threading
import time

import pytest

from conftest import (IS_UWSGI, HELLO_DIR, Response, free_port, http_request, uwsgi_packet,
                      uwsgi_request, uwsgi_vars)

SOCKET_TIMEOUT = 2
HTTP_TIMEOUT = 3


def abuse_ini(corral, uport, processes=1, extra=""):
    return ("[uwsgi]\nchdir = %s\nmodule = app:application\nmaster = true\n"
            "processes = %d\nhttp-socket = 127.0.0.1:%d\nsocket = 127.0.0.1:%d\n"
            "socket-timeout = %d\nhttp-timeout = %d\n%s"
            % (HELLO_DIR, processes, corral.port, uport, SOCKET_TIMEOUT, HTTP_TIMEOUT, extra))


class Target:
    """The server under abuse, its two addresses and its workers at start."""

    def __init__(self, corral, processes=1, extra=""):
        self.uaddr = ("127.0.0.1", free_port())
        self.haddr = ("127.0.0.1", corral.port)
        self.server = corral.start(abuse_ini(corral, self.uaddr[1], processes, extra))
        self.pids = sorted(self.server.workers())
        assert len(self.pids) == processes

    def healthy(self, within=SOCKET_TIMEOUT + 3):
        """A normal request on each socket succeeds in time, and the workers
        are the very processes that started."""
        t0 = time.monotonic()
        r = http_request(self.haddr, "GET", "/", timeout=within)
        assert r.status == 200 and r.body == b"Hello, World!", r
        r = uwsgi_request(self.uaddr, "GET", "/", timeout=within)
        assert r.status == 200 and r.body == b"Hello, World!", r
        assert time.monotonic() - t0 < within, "the next requests took %.1fs" % (
            time.monotonic() - t0)
        assert self.server.running()
        assert sorted(self.server.workers()) == self.pids, \
            "workers changed: %r -> %r; log:\n%s" % (self.pids, self.server.workers(),
                                                      self.server.log()[-3000:])


@pytest.fixture
def target(corral):
    return Target(corral)


def connect(addr, timeout=10, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect(addr)
    return s


def read_all(s):
    """Everything until the peer closes (or resets: then what came before)."""
    chunks = []
    while True:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def request_lines(server):
    return [ln for ln in server.log().splitlines() if re.match(r"^\[pid: \d+\|", ln)]


# --------------------------------------------------------------------------
# 10,000 connections opened and dropped without a byte

def drop_connections(addr, total, batch=500, deadline=90):
    """Open `batch` connections at once, then drop them all: most with a
    reset (SO_LINGER 0, as a scanner or a killed client does; this leaves
    no TIME_WAIT behind), one in ten with a plain close."""
    t_end = time.monotonic() + deadline
    linger = struct.pack("ii", 1, 0)
    done = 0
    while done < total:
        assert time.monotonic() < t_end, "only %d connections in %ds" % (done, deadline)
        socks = []
        for i in range(min(batch, total - done)):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if i % 10:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            s.settimeout(10)
            s.connect(addr)
            socks.append(s)
        for s in socks:
            s.close()
        done += len(socks)
    return done


# Bugs found by these tests and not fixed in the files they belong to are
# marked xfail(strict): the test passes again, and so fails as XPASS, the
# day the bug is fixed; then remove the mark.
def error_lines(server):
    return [ln for ln in server.log().splitlines() if ln.startswith("error: ")]


@pytest.mark.parametrize("sock", ["http", "uwsgi"])
def test_10000_connections_dropped_without_sending(corral, sock):
    t = Target(corral, processes=2)
    addr = t.haddr if sock == "http" else t.uaddr
    before = len(request_lines(t.server))
    assert drop_connections(addr, 10000) == 10000
    # Let the workers catch up with the backlog, then check.
    t.healthy(within=30)
    # Nothing was a request, and nothing was worth an error line.
    assert len(request_lines(t.server)) == before + 2
    errors = error_lines(t.server)
    t.server.expect_log(r"^error: truncated uwsgi packet .* got 0 bytes")  # reported here
    assert not errors, "%d error lines, the first: %s" % (len(errors), errors[0])


def test_uwsgi_connections_held_open_do_not_block_the_worker(target):
    """Five connections to the uwsgi socket that send nothing and stay open
    (a stuck proxy, a scanner): the one worker keeps serving others at
    once, instead of waiting socket-timeout on each in turn."""
    # giving up on a silent connection may be logged
    target.server.expect_log(r"^error: truncated uwsgi packet .* got 0 bytes.*timed out")
    held = [connect(target.uaddr) for _ in range(5)]
    try:
        time.sleep(0.2)
        t0 = time.monotonic()
        r = uwsgi_request(target.uaddr, "GET", "/", timeout=60)
        waited = time.monotonic() - t0
        assert r.status == 200, r
        assert waited < 1.5, "a request waited %.1fs behind 5 silent connections" % waited
    finally:
        for s in held:
            s.close()
    target.healthy(within=30)


# --------------------------------------------------------------------------
# slow clients: one byte per second

class Trickle(threading.Thread):
    """Send `data` one byte per second until the server closes or answers,
    for at most `limit` seconds; records when that happened and what came."""

    def __init__(self, addr, data, limit=15):
        super().__init__(daemon=True)
        self.sock = connect(addr)
        self.data, self.limit = data, limit
        self.answer, self.closed_after, self.sent = b"", None, 0

    def run(self):
        t0 = time.monotonic()
        self.sock.settimeout(1.0)
        try:
            while time.monotonic() - t0 < self.limit:
                if self.sent < len(self.data):
                    try:
                        self.sock.send(self.data[self.sent:self.sent + 1])
                        self.sent += 1
                    except OSError:
                        self.closed_after = time.monotonic() - t0
                        return
                try:
                    chunk = self.sock.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    chunk = b""
                self.answer += chunk
                if not chunk:
                    self.closed_after = time.monotonic() - t0
                    return
        finally:
            self.sock.close()


def test_slow_http_client_gets_408_and_others_are_served(target):
    """A head trickling in at 1 byte/s never completes: 408 after
    http-timeout, and the one worker serves everybody else meanwhile."""
    server = target.server
    server.expect_log(r"^error: bad HTTP request from 127\.0\.0\.1 .*408")
    slow = Trickle(target.haddr, b"GET /pid HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 60)
    slow.start()
    served = 0
    while slow.is_alive() and served < 200:
        t0 = time.monotonic()
        r = http_request(target.haddr, "GET", "/", timeout=5)
        assert r.status == 200 and time.monotonic() - t0 < 1.5, r
        served += 1
        time.sleep(0.1)
    slow.join(20)
    assert served >= 10, "others were not served while the slow client trickled"
    assert slow.closed_after is not None, "the slow client was never cut off"
    assert HTTP_TIMEOUT - 0.5 <= slow.closed_after <= HTTP_TIMEOUT + 3, slow.closed_after
    assert slow.answer.startswith(b"HTTP/1.1 408 "), slow.answer
    target.healthy()


@pytest.mark.skipif(IS_UWSGI, reason="uWSGI waits socket-timeout per byte, like this bug")
def test_slow_uwsgi_client_times_out_and_others_are_served(corral):
    """A uwsgi packet trickling in at 1 byte/s: the connection is given up
    within a few seconds of socket-timeout (not after the whole packet, at
    one byte per second), and the other worker serves others meanwhile."""
    t = Target(corral, processes=2)
    t.server.expect_log(r"^error: truncated uwsgi packet from 127\.0\.0\.1",
                        r"^error: .*uwsgi.*(timed out|timeout)")
    packet = uwsgi_packet(uwsgi_vars("GET", "/pid"))
    slow = Trickle(t.uaddr, packet, limit=20)
    slow.start()
    served = 0
    while slow.is_alive() and served < 300:
        r = uwsgi_request(t.uaddr, "GET", "/", timeout=5)
        assert r.status == 200, r
        served += 1
        time.sleep(0.1)
    slow.join(25)
    assert served >= 10
    assert slow.closed_after is not None and slow.closed_after <= SOCKET_TIMEOUT + 4, \
        "a client sending 1 byte/s held a worker for %s s (sent %d of %d bytes)" % (
            slow.closed_after, slow.sent, len(packet))
    assert b"200 OK" not in slow.answer
    t.healthy()


@pytest.mark.skipif(IS_UWSGI, reason="uWSGI waits socket-timeout per read, like this")
def test_http_body_at_one_byte_per_second_is_cut_off(corral):
    """The head arrives whole, the body at 1 byte/s: the worker gives the
    request up within a few socket-timeouts instead of serving one client
    for minutes, and the other worker serves others meanwhile."""
    t = Target(corral, processes=2)
    t.server.expect_log(r"^error: ", r"^warning: ", r"^Traceback", r"^\w*Error")
    head = b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 40\r\n\r\n"
    slow = Trickle(t.haddr, b"", limit=14)
    slow.sock.sendall(head)
    slow.data = b"s" * 40
    slow.start()
    while slow.is_alive():
        r = http_request(t.haddr, "GET", "/", timeout=5)
        assert r.status == 200, r
        time.sleep(0.2)
    assert slow.closed_after is not None and slow.closed_after <= 3 * SOCKET_TIMEOUT, \
        "a body at 1 byte/s held a worker for %s s (%d of 40 bytes sent)" % (
            slow.closed_after, slow.sent)
    t.healthy()


@pytest.mark.parametrize("sock", ["http", "uwsgi"])
def test_busy_worker_does_not_hold_new_connections(corral, sock):
    """One of two workers is busy (a slow client, a slow view: here /sleep?4):
    ten new clients in a row are all served at once by the idle worker.
    (Per-worker SO_REUSEPORT http sockets failed this: the kernel hashed
    about half the new connections onto the busy worker; fixed in 6bb2a05.)"""
    t = Target(corral, processes=2)
    addr = t.haddr if sock == "http" else t.uaddr
    fn = http_request if sock == "http" else uwsgi_request
    if sock == "http":
        busy = threading.Thread(target=http_request, args=(addr, "GET", "/sleep?4"),
                                kwargs={"timeout": 10}, daemon=True)
    else:
        busy = threading.Thread(target=uwsgi_request, args=(addr, "GET", "/sleep"),
                                kwargs={"query": "4", "timeout": 10}, daemon=True)
    busy.start()
    time.sleep(0.5)
    waits = []
    for _ in range(10):
        t0 = time.monotonic()
        r = fn(addr, "GET", "/", timeout=10)
        assert r.status == 200, r
        waits.append(round(time.monotonic() - t0, 2))
    busy.join(10)
    assert max(waits) < 1.5, "new connections waited for the busy worker: %r" % waits
    t.healthy()


# --------------------------------------------------------------------------
# requests cut off mid-body

def test_http_body_cut_off_by_close(target):
    server = target.server
    # The app's read fails: the plugin may log it (and a traceback).
    server.expect_log(r"^error: ", r"^Traceback", r"^\w*Error")
    s = connect(target.haddr)
    s.sendall(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n" +
              b"b" * 50000)
    s.shutdown(socket.SHUT_WR)
    raw = read_all(s)
    s.close()
    assert b"X-Body-Length: 100000" not in raw and b"HTTP/1.1 200" not in raw, raw[:300]
    target.healthy()


def test_http_body_stalls_then_worker_is_freed(target):
    """The client sends half the body and goes silent without closing: the
    worker gives up after socket-timeout, not never."""
    server = target.server
    server.expect_log(r"^error: ", r"^Traceback", r"^\w*Error")
    s = connect(target.haddr)
    s.sendall(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n" +
              b"b" * 50000)
    time.sleep(0.2)
    t0 = time.monotonic()
    target.healthy(within=SOCKET_TIMEOUT + 3)
    assert time.monotonic() - t0 >= SOCKET_TIMEOUT - 1, "served while the worker waited?"
    raw = read_all(s)
    s.close()
    assert b"HTTP/1.1 200" not in raw, raw[:300]


def test_uwsgi_body_cut_off_by_close(target):
    server = target.server
    server.expect_log(r"^error: ", r"^Traceback", r"^\w*Error")
    body = b"u" * 100000
    packet = uwsgi_packet(uwsgi_vars("POST", "/echo", body=body), body)
    s = connect(target.uaddr)
    s.sendall(packet[:len(packet) - 60000])
    s.shutdown(socket.SHUT_WR)
    raw = read_all(s)
    s.close()
    assert b"X-Body-Length: 100000" not in raw and b" 200 OK" not in raw, raw[:300]
    target.healthy()


def test_uwsgi_body_stalls_then_worker_is_freed(target):
    target.server.expect_log(r"^error: ", r"^Traceback", r"^\w*Error")
    body = b"u" * 100000
    packet = uwsgi_packet(uwsgi_vars("POST", "/echo", body=body), body)
    s = connect(target.uaddr)
    s.sendall(packet[:len(packet) - 60000])
    time.sleep(0.2)
    target.healthy(within=SOCKET_TIMEOUT + 3)
    raw = read_all(s)
    s.close()
    assert b" 200 OK" not in raw, raw[:300]


# --------------------------------------------------------------------------
# a second uwsgi packet after the body

@pytest.mark.parametrize("trailer", ["packet", "packet+64k"])
def test_pipelined_uwsgi_packet_is_never_a_request(target, trailer):
    """nginx sends one request per uwsgi connection; bytes after the body
    (here a second, complete packet asking for /pid) are not a request: one
    response, the first one, whole; /pid is never served."""
    server = target.server
    before = len(request_lines(server))
    first = uwsgi_packet(uwsgi_vars("POST", "/echo", body=b"first"), b"first")
    second = uwsgi_packet(uwsgi_vars("GET", "/pid"))
    if trailer == "packet+64k":
        second += b"\0" * 65536
    s = connect(target.uaddr)
    s.sendall(first + second)
    raw = read_all(s)
    s.close()
    r = Response(raw)
    assert r.status == 200 and r.body == b"first", r
    assert raw.count(b"HTTP/1.1 ") == 1, raw
    time.sleep(0.3)
    lines = request_lines(server)[before:]
    assert len(lines) == 1 and "POST /echo" in lines[0], lines
    target.healthy()


# --------------------------------------------------------------------------
# big heads

def padded_vars(total):
    """uwsgi vars whose block is exactly `total` bytes (the padding is an
    HTTP_X_PAD header)."""
    pairs = uwsgi_vars("GET", "/")
    size = sum(4 + len(k) + len(v) for k, v in pairs)
    pad = total - size - 4 - len("HTTP_X_PAD")
    assert pad >= 0
    return pairs + [("HTTP_X_PAD", "p" * pad)]


def test_vars_block_of_exactly_65535_bytes_is_accepted(corral):
    t = Target(corral, extra="buffer-size = 65535\n")
    pairs = padded_vars(65535)
    packet = uwsgi_packet(pairs)
    assert struct.unpack("<H", packet[1:3])[0] == 65535
    with connect(t.uaddr) as s:
        s.sendall(packet)
        r = Response(read_all(s))
    assert r.status == 200 and r.body == b"Hello, World!", r
    t.server.wait_log(r"\{15 vars in 65535 bytes\}")
    t.healthy()


def test_vars_block_above_buffer_size_is_refused(target):
    """With the default buffer-size (4096) a 65535-byte block is refused,
    and the log says which option to raise."""
    target.server.expect_log(r"^error: uwsgi request from 127\.0\.0\.1: vars block of 65535 "
                             r"bytes exceeds buffer-size")
    with connect(target.uaddr) as s:
        s.sendall(uwsgi_packet(padded_vars(65535)))
        raw = read_all(s)
    assert b" 200 " not in raw[:20], raw[:200]
    target.server.wait_log(r"raise buffer-size")
    target.healthy()


def test_thousand_uwsgi_vars_with_large_buffer(corral):
    """nginx passes every request header as a variable: 1,000 of them fit
    in a 65535-byte buffer and are served."""
    t = Target(corral, extra="buffer-size = 65535\n")
    extra = [("HTTP_X_H%d" % i, "v%d" % i) for i in range(1000)]
    r = uwsgi_request(t.uaddr, "GET", "/env", extra=extra)
    assert r.status == 200 and b"PATH_INFO=/env" in r.body, r
    t.healthy()


@pytest.mark.parametrize("buffer_size", [4096, 65535])
def test_thousand_http_headers_get_431(corral, buffer_size):
    t = Target(corral, extra="buffer-size = %d\n" % buffer_size)
    t.server.expect_log(r"^error: bad HTTP request from 127\.0\.0\.1 .*\(431\)")
    head = b"GET / HTTP/1.1\r\nHost: localhost\r\n" + b"".join(
        b"X-H%d: v\r\n" % i for i in range(1000)) + b"\r\n"
    assert len(head) < 65535
    with connect(t.haddr) as s:
        s.sendall(head)
        raw = read_all(s)
    r = Response(raw)
    assert r.status == 431, r
    t.healthy()


# --------------------------------------------------------------------------
# a client that stops reading

@pytest.mark.parametrize("sock", ["http", "uwsgi"])
def test_client_that_stops_reading_frees_the_worker(target, sock):
    """A 32 MB response to a client that never reads: the worker gives up
    after socket-timeout and serves the next client (one worker only)."""
    server = target.server
    server.expect_log(r"^error: ", r"^warning: ")
    size = 32 * 1024 * 1024
    s = connect(target.haddr if sock == "http" else target.uaddr, rcvbuf=4096)
    if sock == "http":
        s.sendall(b"GET /big?%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % size)
    else:
        s.sendall(uwsgi_packet(uwsgi_vars("GET", "/big", query=str(size))))
    time.sleep(0.5)          # the worker is now blocked writing
    t0 = time.monotonic()
    target.healthy(within=SOCKET_TIMEOUT + 4)
    waited = time.monotonic() - t0
    s.close()
    assert waited < SOCKET_TIMEOUT + 4, waited
    # the stalled request was logged, once
    lines = [ln for ln in request_lines(server) if "/big" in ln]
    assert len(lines) == 1, lines


# --------------------------------------------------------------------------
# recycling under load

@pytest.mark.skipif(IS_UWSGI, reason="Corral's recycling")
def test_recycling_under_load_answers_every_request_promptly(corral):
    """max-requests recycles the only worker every 20 requests while eight
    clients keep sending: every request is answered within half a second,
    and recycling is not logged as an error. (The master used to reap a
    recycled worker before reading its RECYCLE message and respawn it as a
    crash, 1 s later; fixed in 1ec262d.)"""
    t = Target(corral, extra="max-requests = 20\nmin-worker-lifetime = 0\n"
                             "disable-logging = true\n")
    slow, failed, done = [], [], [0]
    lock = threading.Lock()

    def client():
        end = time.monotonic() + 8
        while time.monotonic() < end:
            t0 = time.monotonic()
            try:
                r = uwsgi_request(t.uaddr, "GET", "/", timeout=10)
                ok = r.status == 200
            except OSError as e:
                ok = False
                failed.append(repr(e))
            dt = time.monotonic() - t0
            with lock:
                done[0] += 1
                if not ok:
                    failed.append(dt)
                elif dt > 0.5:
                    slow.append(round(dt, 2))

    threads = [threading.Thread(target=client) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    recycled = t.server.log().count("(max-requests); recycling")
    assert recycled >= 20, "only %d recycles in %d requests" % (recycled, done[0])
    assert not failed, failed[:5]
    errors = error_lines(t.server)
    assert not errors and not slow, "%d slow requests %r; errors: %r" % (
        len(slow), slow[:5], errors[:3])
    t.pids = sorted(t.server.workers())    # replaced on purpose
