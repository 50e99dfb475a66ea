"""HTTP/1.1 on http-socket from a client's side (issue 5, "Tests"): bytes on
raw sockets where the framing matters. Keep-alive, pipelining, chunked
uploads, Expect: 100-continue, HEAD, 204/304, Date, streaming responses,
limit-post (413), buffer-size (431), http-timeout (408), headers with CR
from the app, add-header, http-keepalive = false.

The app is written into the test's tmp dir (APP below), so every path it
answers is visible here. Static files and the Django mount are in
test_static.py."""
import email.utils
import re
import socket
import time

import pytest

from conftest import IO_TIMEOUT, Response, exchange

pytestmark = pytest.mark.corral_only

APP = r'''
import os

def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    query = environ.get("QUERY_STRING", "")
    if path.startswith("/p/"):                 # the path back: order checks
        body = path[3:].encode()
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    if path == "/echo":                         # the body back, as the app read it
        body = environ["wsgi.input"].read()
        start_response("200 OK", [
            ("Content-Type", "application/octet-stream"),
            ("Content-Length", str(len(body))),
            ("X-Content-Length", environ.get("CONTENT_LENGTH", "-") or "-"),
            ("X-Transfer-Encoding", environ.get("HTTP_TRANSFER_ENCODING", "-"))])
        return [body]
    if path == "/gen":                          # no Content-Length: streamed
        start_response("200 OK", [("Content-Type", "text/plain")])
        def gen():
            yield b"first,"
            yield b""
            yield b"second,"
            yield b"third"
        return gen()
    if path == "/204":
        start_response("204 No Content", [("X-Kind", "204")])
        return [b""]
    if path == "/304":
        start_response("304 Not Modified", [("ETag", '"v1"')])
        return []
    if path == "/bad-value":                    # CR LF in a value: a header injection
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("X-Bad", "a\r\nSet-Cookie: injected=1")])
        return [b"must not be sent"]
    if path == "/bad-name":
        start_response("200 OK", [("X-Bad\r\nSet-Cookie", "injected=1")])
        return [b"must not be sent"]
    if path == "/nul-value":
        start_response("200 OK", [("X-Nul", "a\x00injected")])
        return [b"must not be sent"]
    if path == "/short":                        # promises more than it sends
        start_response("200 OK", [("Content-Length", "10")])
        return [b"abc"]
    if path == "/long":                         # sends more than it promises
        start_response("200 OK", [("Content-Length", "3")])
        return [b"abcdefghij"]
    if path == "/204body":                      # a body where none may be
        start_response("204 No Content", [])
        return [b"must not be sent"]
    if path == "/cookies":
        start_response("200 OK", [("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", "b=2"),
                                  ("Content-Length", "2")])
        return [b"ok"]
    if path == "/close":                        # the app asks to close
        start_response("200 OK", [("Content-Length", "2"), ("Connection", "close")])
        return [b"ok"]
    if path == "/env":
        body = "%s|%s|%s|%s" % (environ.get("PATH_INFO"), environ.get("QUERY_STRING"),
                                environ.get("HTTP_HOST"), environ.get("SERVER_PROTOCOL"))
        body = body.encode()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]
    if path == "/raise":
        raise RuntimeError("h11app: /raise always fails")
    if path == "/gen-fail":                     # fails after the first chunk
        start_response("200 OK", [("Content-Type", "text/plain")])
        def gen_fail():
            yield b"partial,"
            raise RuntimeError("h11app: /gen-fail fails mid-body")
        return gen_fail()
    if path == "/cl-fail":                      # fails before its length is sent
        start_response("200 OK", [("Content-Length", "100")])
        def cl_fail():
            yield b"partial,"
            raise RuntimeError("h11app: /cl-fail fails mid-body")
        return cl_fail()
    if path == "/bigheader":
        start_response("200 OK", [("X-Big", "v" * 20000), ("Content-Length", "2")])
        return [b"ok"]
    if path == "/xff":
        body = ("%s|%s" % (environ.get("HTTP_X_FORWARDED_FOR"),
                           sorted(k for k in environ if k.startswith("HTTP_X")))).encode()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]
    if path == "/pid":
        body = str(os.getpid()).encode()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]
    body = b"Hello, World!"
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
'''


def app_ini(corral, extra="", processes=1):
    corral.write("h11app.py", APP)
    return ("[uwsgi]\nchdir = %s\nmodule = h11app:application\nmaster = true\n"
            "processes = %d\nhttp-socket = 127.0.0.1:%d\n%s\n"
            % (corral.tmp, processes, corral.port, extra))


def head(path="/", method="GET", version="1.1", extra=""):
    host = "Host: localhost\r\n" if version == "1.1" else ""
    return ("%s %s HTTP/%s\r\n%s%s\r\n" % (method, path, version, host, extra)).encode()


class Conn:
    """A client connection that reads responses one at a time from a
    stream, framed as the server framed them."""

    def __init__(self, addr, timeout=IO_TIMEOUT):
        self.sock = socket.create_connection(addr, timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed; unread: %r" % self.buf[:300])
        self.buf += chunk

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def read_head(self):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        raw, _, self.buf = self.buf.partition(b"\r\n\r\n")
        return raw + b"\r\n\r\n"

    def response(self, method="GET"):
        """Read one response; returns (Response, raw bytes of its body as
        framed on the wire). A body without Content-Length or chunked runs
        to the end of the connection."""
        raw_head = self.read_head()
        r = Response(raw_head)
        no_body = method == "HEAD" or r.status in (204, 304) or r.status < 200
        te = (r.header("Transfer-Encoding") or "").lower()
        if no_body:
            wire = b""
        elif te == "chunked":
            wire = b""
            while True:
                line = self._line()
                wire += line + b"\r\n"
                size = int(line.split(b";")[0], 16)
                data = self._take(size + 2)
                wire += data
                assert data.endswith(b"\r\n"), "chunk not followed by CRLF: %r" % wire[-60:]
                if size == 0:
                    break
        elif r.header("Content-Length") is not None:
            wire = self._take(int(r.header("Content-Length")))
        else:
            wire = self.rest()
        r = Response(raw_head + wire)
        return r, wire

    def rest(self):
        """Everything until the peer closes."""
        data, self.buf = self.buf, b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
        return data

    def closed_by_peer(self, timeout=5):
        """True when the server closes the connection with nothing more."""
        self.sock.settimeout(timeout)
        try:
            extra = self.rest()
        except socket.timeout:
            return False
        assert extra == b"", "bytes after the response: %r" % extra[:200]
        return True


@pytest.fixture
def conn_factory(corral):
    made = []

    def make(server):
        c = Conn(server.http[0])
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()


# ---------------------------------------------------------------------------
# keep-alive and pipelining

def test_keepalive_several_requests_on_one_connection(corral, conn_factory):
    server = corral.start(app_ini(corral))
    c = conn_factory(server)
    for i in range(5):
        c.send(head("/p/%d" % i))
        r, _ = c.response()
        assert r.status == 200 and r.body == str(i).encode()
        assert (r.header("Connection") or "").lower() != "close", r.headers
        assert r.version == "1.1"


def test_http10_without_keepalive_closes(corral, conn_factory):
    server = corral.start(app_ini(corral))
    c = conn_factory(server)
    c.send(head("/p/a", version="1.0"))
    r, _ = c.response()
    assert r.status == 200 and r.body == b"a"
    assert c.closed_by_peer(), "HTTP/1.0 without keep-alive left the connection open"


def test_http10_with_keepalive_stays_open(corral, conn_factory):
    server = corral.start(app_ini(corral))
    c = conn_factory(server)
    for i in range(3):
        c.send(head("/p/%d" % i, version="1.0", extra="Connection: keep-alive\r\n"))
        r, _ = c.response()
        assert r.status == 200 and r.body == str(i).encode()
        assert (r.header("Connection") or "").lower() == "keep-alive", r.headers
        assert r.header("Content-Length") == "1"


def test_connection_close_is_honoured(corral, conn_factory):
    server = corral.start(app_ini(corral))
    c = conn_factory(server)
    c.send(head("/p/x", extra="Connection: close\r\n"))
    r, _ = c.response()
    assert r.status == 200 and r.body == b"x"
    assert (r.header("Connection") or "").lower() == "close"
    assert c.closed_by_peer()


def test_pipelined_requests_answered_in_order(corral, conn_factory):
    server = corral.start(app_ini(corral))
    c = conn_factory(server)
    body = b"pipelined body"
    c.send(head("/p/one") +
           b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n" % len(body)
           + body + head("/p/three") + head("/p/four", method="HEAD") + head("/p/five"))
    r, _ = c.response()
    assert r.body == b"one"
    r, _ = c.response()
    assert r.body == body
    r, _ = c.response()
    assert r.body == b"three"
    r, _ = c.response("HEAD")
    assert r.status == 200 and r.header("Content-Length") == "4"
    r, _ = c.response()
    assert r.body == b"five"


def test_pipelined_close_ends_after_that_response(corral, conn_factory):
    server = corral.start(app_ini(corral))
    c = conn_factory(server)
    c.send(head("/p/1") + head("/p/2", extra="Connection: close\r\n") + head("/p/3"))
    assert c.response()[0].body == b"1"
    assert c.response()[0].body == b"2"
    assert c.closed_by_peer(), "a request after Connection: close was answered"


def test_a_hundred_pipelined_requests_in_one_send(corral, conn_factory):
    server = corral.start(app_ini(corral))
    c = conn_factory(server)
    c.send(b"".join(head("/p/%d" % i) for i in range(100)))
    for i in range(100):
        r, _ = c.response()
        assert r.body == str(i).encode(), (i, r)


def test_head_sent_byte_by_byte(corral, conn_factory):
    server = corral.start(app_ini(corral))
    c = conn_factory(server)
    for b in head("/p/slow-but-fine"):
        c.send(bytes([b]))
    r, _ = c.response()
    assert r.body == b"slow-but-fine"


def test_pipelined_request_after_a_chunked_body(corral, conn_factory):
    server = corral.start(app_ini(corral))
    c = conn_factory(server)
    c.send(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"3\r\nabc\r\n0\r\n\r\n" + head("/p/next") +
           b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\nxy")
    assert c.response()[0].body == b"abc"
    assert c.response()[0].body == b"next"
    assert c.response()[0].body == b"xy"


def test_app_sending_less_than_its_content_length_ends_the_connection(corral, conn_factory):
    """The client waits for 7 more bytes that never come: the server must
    close, never start the next response inside this body."""
    server = corral.start(app_ini(corral))
    server.expect_log(r"^(error|warning): ", r"Content-Length|content length|bytes")
    c = conn_factory(server)
    c.send(head("/short") + head("/p/next"))
    raw = c.read_head()
    assert raw.startswith(b"HTTP/1.1 200 ")
    c.sock.settimeout(10)
    rest = c.rest()
    assert rest == b"abc", "after a short body: %r" % rest


def test_app_sending_more_than_its_content_length_is_cut(corral, conn_factory):
    server = corral.start(app_ini(corral))
    server.expect_log(r"^(error|warning): ", r"Content-Length|content length|bytes")
    c = conn_factory(server)
    c.send(head("/long") + head("/p/next"))
    r, _ = c.response()
    assert r.body == b"abc"
    # the surplus must not reach the client as the start of a response
    try:
        r2, _ = c.response()
    except EOFError:
        return
    assert r2.body == b"next", r2


def test_unread_body_is_skipped_before_the_next_request(corral, conn_factory):
    """/p/ never reads wsgi.input: the server must skip the body, not take
    it for the next request."""
    server = corral.start(app_ini(corral))
    c = conn_factory(server)
    c.send(b"POST /p/first HTTP/1.1\r\nHost: localhost\r\nContent-Length: 31\r\n\r\n"
           b"GET /p/smuggled HTTP/1.1\r\nX: y" + head("/p/second"))
    assert c.response()[0].body == b"first"
    r, _ = c.response()
    assert r.body == b"second", r


def test_unread_chunked_body_is_skipped_before_the_next_request(corral, conn_factory):
    server = corral.start(app_ini(corral))
    smuggled = b"GET /p/smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n"
    c = conn_factory(server)
    c.send(b"POST /p/first HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"%x\r\n%s\r\n0\r\n\r\n" % (len(smuggled), smuggled) + head("/p/second"))
    assert c.response()[0].body == b"first"
    r, _ = c.response()
    assert r.body == b"second", r


def test_expect_100_continue_and_an_app_that_does_not_read(corral, conn_factory):
    """Whether or not a 100 was sent, the body the client sends next is
    never taken for a request."""
    server = corral.start(app_ini(corral))
    c = conn_factory(server)
    c.send(b"POST /p/first HTTP/1.1\r\nHost: localhost\r\nContent-Length: 31\r\n"
           b"Expect: 100-continue\r\n\r\n")
    r, _ = c.response()
    if r.status == 100:
        r, _ = c.response()
    assert r.body == b"first"
    try:
        c.send(b"GET /p/smuggled HTTP/1.1\r\nX: y" + head("/p/second"))
        r, _ = c.response()
    except (EOFError, ConnectionError):
        return                                   # closed: also safe
    assert r.body == b"second", r


def test_absolute_form_target(corral, conn_factory):
    server = corral.start(app_ini(corral))
    c = conn_factory(server)
    c.send(b"GET http://example.org:8080/env?q=1 HTTP/1.1\r\nHost: example.org:8080\r\n\r\n")
    r, _ = c.response()
    assert r.body == b"/env|q=1|example.org:8080|HTTP/1.1", r


def test_request_line_over_buffer_size(corral):
    server = corral.start(app_ini(corral, "buffer-size = 4096"))
    server.expect_log(r"^(error|warning): ")
    raw = exchange(server.http[0], head("/p/" + "a" * 6000))
    assert re.match(rb"HTTP/1\.1 (414|431) ", raw), raw[:200]


def test_two_set_cookie_headers_both_sent(corral):
    server = corral.start(app_ini(corral))
    r = server.get("/cookies")
    assert r.header_all("Set-Cookie") == ["a=1; Path=/", "b=2"]


def test_app_connection_close_closes(corral, conn_factory):
    server = corral.start(app_ini(corral))
    c = conn_factory(server)
    c.send(head("/close") + head("/p/next"))
    r, _ = c.response()
    assert r.body == b"ok"
    assert c.closed_by_peer(), "the app's Connection: close was ignored"


def test_204_with_a_body_from_the_app_sends_no_body(corral, conn_factory):
    server = corral.start(app_ini(corral))
    server.expect_log(r"^(error|warning): ")
    c = conn_factory(server)
    c.send(head("/204body") + head("/p/next"))
    raw = c.read_head()
    assert raw.startswith(b"HTTP/1.1 204 "), raw
    assert Response(raw).header("Transfer-Encoding") is None, raw
    try:
        r, _ = c.response()
    except EOFError:
        assert b"must not be sent" not in c.buf
        return
    assert r.body == b"next", r


def test_64_keepalive_clients_on_2_workers(corral, conn_factory):
    server = corral.start(app_ini(corral, processes=2))
    conns = [conn_factory(server) for _ in range(64)]
    for c in conns:
        c.send(head("/pid"))
    pids = set()
    for c in conns:
        r, _ = c.response()
        assert r.status == 200
        pids.add(r.body)
    for i, c in enumerate(conns):
        c.send(head("/p/%d" % i))
    for i, c in enumerate(conns):
        assert c.response()[0].body == str(i).encode()


def test_protocol_http_on_a_plain_socket(corral):
    port = corral.port
    corral.write("h11app.py", APP)
    server = corral.start("[uwsgi]\nchdir = %s\nmodule = h11app:application\nmaster = true\n"
                          "socket = 127.0.0.1:%d\nprotocol = http\n" % (corral.tmp, port))
    raw = exchange(("127.0.0.1", port), head("/p/plain", extra="Connection: close\r\n"))
    r = Response(raw)
    assert r.status == 200 and r.body == b"plain"
    server.http, server.uwsgi = [("127.0.0.1", port)], []


def test_many_keepalive_clients_on_one_worker(corral, conn_factory):
    """Idle keep-alive connections do not hold the worker (issue 5)."""
    server = corral.start(app_ini(corral))
    conns = [conn_factory(server) for _ in range(20)]
    for round_ in range(2):
        for i, c in enumerate(conns):
            c.send(head("/p/%d-%d" % (round_, i)))
            r, _ = c.response()
            assert r.body == ("%d-%d" % (round_, i)).encode()


# ---------------------------------------------------------------------------
# request bodies

def test_chunked_upload_reaches_the_app_dechunked(corral, conn_factory):
    server = corral.start(app_ini(corral))
    c = conn_factory(server)
    c.send(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n")
    for piece in (b"5\r\nhello\r\n", b"1;ext=1\r\n ", b"\r\n", b"5\r\nworld\r\n",
                  b"0\r\nX-Trailer: t\r\n\r\n"):
        c.send(piece)
        time.sleep(0.05)
    r, _ = c.response()
    assert r.status == 200, r
    assert r.body == b"hello world"
    # the connection is usable afterwards
    c.send(head("/p/after"))
    assert c.response()[0].body == b"after"


def test_large_chunked_upload(corral, conn_factory):
    server = corral.start(app_ini(corral))
    c = conn_factory(server)
    data = bytes(range(256)) * 1024
    wire = b"".join(b"%x\r\n%s\r\n" % (len(data[i:i + 7000]), data[i:i + 7000])
                    for i in range(0, len(data), 7000))
    c.send(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
           + wire + b"0\r\n\r\n")
    r, _ = c.response()
    assert r.status == 200 and r.body == data


@pytest.mark.parametrize("bad", [
    pytest.param(b"zz\r\nhello\r\n0\r\n\r\n", id="not-hex"),
    pytest.param(b"-5\r\nhello\r\n0\r\n\r\n", id="negative"),
    pytest.param(b"10000000000000000\r\nhello\r\n0\r\n\r\n", id="overflow"),
    pytest.param(b"3\r\nhelloX\r\n0\r\n\r\n", id="no-crlf-after-data"),
    pytest.param(b"5\nhello\r\n0\r\n\r\n", id="bare-lf"),
])
def test_bad_chunked_body_gets_400_and_close(corral, conn_factory, bad):
    server = corral.start(app_ini(corral))
    server.expect_log(r"^(error|warning): ", r"chunk")
    c = conn_factory(server)
    c.send(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
           + bad + head("/p/smuggled"))
    r, _ = c.response()
    assert r.status == 400, r
    assert c.closed_by_peer(), "the connection stayed open after a bad chunked body"


@pytest.mark.parametrize("raw", [
    pytest.param(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", id="CL.TE"),
    pytest.param(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                 b"Content-Length: 6\r\n\r\nhello!", id="CL.CL"),
    pytest.param(b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n"
                 b"0\r\n\r\n", id="TE-space-colon"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", id="obs-fold"),
    pytest.param(b"GET / HTTP/1.1\nHost: a\n\n", id="bare-LF"),
    pytest.param(b"GET / HTTP/1.1\r\n\r\n", id="no-Host"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", id="two-Hosts"),
])
def test_smuggling_attempts_get_400_and_close(corral, conn_factory, raw):
    server = corral.start(app_ini(corral))
    server.expect_log(r"^(error|warning): ")
    c = conn_factory(server)
    c.send(raw + head("/p/smuggled"))
    r, _ = c.response()
    assert r.status == 400, r
    assert c.closed_by_peer(), "the connection stayed open after a 400"


def test_transfer_encoding_gzip_gets_501(corral, conn_factory):
    server = corral.start(app_ini(corral))
    server.expect_log(r"^(error|warning): ")
    c = conn_factory(server)
    c.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n")
    r, _ = c.response()
    assert r.status == 501, r
    assert c.closed_by_peer()


def test_expect_100_continue_arrives_before_the_body(corral, conn_factory):
    server = corral.start(app_ini(corral))
    c = conn_factory(server)
    c.send(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\n"
           b"Expect: 100-continue\r\n\r\n")
    interim = c.read_head()
    assert re.match(rb"HTTP/1\.1 100 Continue\r\n\r\n$", interim), interim
    c.send(b"hello world")
    r, _ = c.response()
    assert r.status == 200 and r.body == b"hello world"


def test_expect_100_continue_with_the_body_already_sent(corral, conn_factory):
    """curl sends the body after a second without a 100: at most one 100,
    before the final answer, and nothing after it."""
    server = corral.start(app_ini(corral))
    c = conn_factory(server)
    c.send(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
           b"Expect: 100-continue\r\n\r\nhello" + head("/p/next"))
    r, _ = c.response()
    if r.status == 100:
        r, _ = c.response()
    assert r.status == 200 and r.body == b"hello"
    r, _ = c.response()
    assert r.status == 200 and r.body == b"next", r


def test_expect_100_continue_with_chunked_body(corral, conn_factory):
    server = corral.start(app_ini(corral))
    c = conn_factory(server)
    c.send(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
           b"Expect: 100-continue\r\n\r\n")
    assert c.read_head().startswith(b"HTTP/1.1 100 ")
    c.send(b"3\r\nabc\r\n0\r\n\r\n")
    r, _ = c.response()
    assert r.status == 200 and r.body == b"abc"


def test_expect_100_continue_over_limit_post_gets_413_not_100(corral, conn_factory):
    server = corral.start(app_ini(corral, "limit-post = 100"))
    server.expect_log(r"^(error|warning): .*limit-post")
    c = conn_factory(server)
    c.send(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5000\r\n"
           b"Expect: 100-continue\r\n\r\n")
    r, _ = c.response()
    assert r.status == 413, r


# ---------------------------------------------------------------------------
# response framing

def test_head_has_headers_and_no_body_and_keeps_the_connection(corral, conn_factory):
    server = corral.start(app_ini(corral))
    c = conn_factory(server)
    c.send(head("/", method="HEAD"))
    r, _ = c.response("HEAD")
    assert r.status == 200
    assert r.header("Content-Length") == "13"
    assert r.header("Content-Type") == "text/plain"
    # were the 13 body bytes sent anyway, they would prefix the next answer
    c.send(head("/p/next"))
    r, _ = c.response()
    assert r.status == 200 and r.body == b"next", r


def test_head_of_a_streamed_response_sends_no_chunks(corral, conn_factory):
    server = corral.start(app_ini(corral))
    c = conn_factory(server)
    c.send(head("/gen", method="HEAD") + head("/p/next"))
    r, _ = c.response("HEAD")
    assert r.status == 200
    r, _ = c.response()
    assert r.body == b"next", r


@pytest.mark.parametrize("path,status", [("/204", 204), ("/304", 304)])
def test_no_body_statuses(corral, conn_factory, path, status):
    server = corral.start(app_ini(corral))
    c = conn_factory(server)
    c.send(head(path) + head("/p/next"))
    raw = c.read_head()
    r = Response(raw)
    assert r.status == status
    assert r.header("Transfer-Encoding") is None, raw
    if status == 204:
        assert r.header("Content-Length") is None, raw
    # the very next bytes are the next response
    r, _ = c.response()
    assert r.body == b"next", r


def test_date_header(corral):
    server = corral.start(app_ini(corral))
    raw = exchange(server.http[0], head("/", extra="Connection: close\r\n"))
    r = Response(raw)
    dates = r.header_all("Date")
    assert len(dates) == 1, r.headers
    assert re.match(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|"
                    r"Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$", dates[0]), dates
    when = email.utils.parsedate_to_datetime(dates[0]).timestamp()
    assert abs(when - time.time()) < 120


def test_streamed_response_is_chunked_on_http11(corral, conn_factory):
    server = corral.start(app_ini(corral))
    c = conn_factory(server)
    c.send(head("/gen"))
    r, wire = c.response()
    assert r.header("Transfer-Encoding", "").lower() == "chunked", r.headers
    assert r.header("Content-Length") is None
    assert r.body == b"first,second,third"
    assert wire.endswith(b"0\r\n\r\n")
    assert b"\r\n0\r\n\r\n" not in wire[:-5], "an empty chunk ended the body early: %r" % wire
    c.send(head("/p/next"))
    assert c.response()[0].body == b"next"


def test_streamed_response_closes_on_http10(corral):
    server = corral.start(app_ini(corral))
    raw = exchange(server.http[0], head("/gen", version="1.0"))
    r = Response(raw)
    assert r.status == 200
    assert r.header("Transfer-Encoding") is None, r.headers
    assert r.header("Content-Length") is None
    assert raw.partition(b"\r\n\r\n")[2] == b"first,second,third"


def test_streamed_response_closes_on_http10_keepalive(corral, conn_factory):
    """HTTP/1.0 cannot frame a body of unknown length but by closing."""
    server = corral.start(app_ini(corral))
    c = conn_factory(server)
    c.send(head("/gen", version="1.0", extra="Connection: keep-alive\r\n"))
    raw = c.read_head()
    r = Response(raw)
    assert r.header("Transfer-Encoding") is None
    if r.header("Content-Length") is None:
        assert c.rest() == b"first,second,third"
    else:
        assert c._take(int(r.header("Content-Length"))) == b"first,second,third"


@pytest.mark.parametrize("path", ["/bad-value", "/bad-name", "/nul-value"])
def test_header_with_cr_lf_nul_from_the_app_never_reaches_the_wire(corral, path):
    server = corral.start(app_ini(corral))
    server.expect_log(r"^(error|warning): ", r"^Traceback", r"Error", r"^  ", r"header")
    raw = exchange(server.http[0], head(path, extra="Connection: close\r\n"))
    assert b"injected" not in raw, raw
    assert b"must not be sent" not in raw, raw
    r = Response(raw)
    assert r.status == 500, r
    assert re.search(r"header", server.log(), re.I), server.log()
    assert server.get("/").status == 200


def test_add_header(corral):
    server = corral.start(app_ini(corral, "add-header = X-Frame-Options: DENY\n"
                                          "add-header = X-Served-By: corral"))
    r = server.get("/")
    assert r.status == 200
    assert r.header("X-Frame-Options") == "DENY"
    assert r.header("X-Served-By") == "corral"
    r = server.get("/gen")
    assert r.header("X-Served-By") == "corral" and r.body == b"first,second,third"


def test_http_keepalive_false_closes_every_connection(corral, conn_factory):
    server = corral.start(app_ini(corral, "http-keepalive = false"))
    c = conn_factory(server)
    c.send(head("/p/1"))
    r, _ = c.response()
    assert r.body == b"1"
    assert (r.header("Connection") or "").lower() == "close", r.headers
    assert c.closed_by_peer()


# ---------------------------------------------------------------------------
# limits and timeouts

def test_limit_post_413(corral, conn_factory):
    server = corral.start(app_ini(corral, "limit-post = 1000"))
    server.expect_log(r"^(error|warning): .*limit-post")
    r = server.request("POST", "/echo", body=b"x" * 1000)
    assert r.status == 200 and len(r.body) == 1000
    c = conn_factory(server)
    c.send(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1001\r\n\r\n"
           + b"x" * 1001)
    r, _ = c.response()
    assert r.status == 413, r
    assert b"x" * 100 not in r.body
    assert c.closed_by_peer(), "the unread body would be taken for the next request"


def test_limit_post_413_for_a_chunked_body(corral, conn_factory):
    server = corral.start(app_ini(corral, "limit-post = 1000"))
    server.expect_log(r"^(error|warning): .*limit-post")
    c = conn_factory(server)
    c.send(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"800\r\n" + b"y" * 0x800 + b"\r\n0\r\n\r\n")
    r, _ = c.response()
    assert r.status == 413, r
    assert b"y" * 100 not in r.body


def test_head_over_buffer_size_gets_431(corral):
    server = corral.start(app_ini(corral, "buffer-size = 4096"))
    server.expect_log(r"^(error|warning): ")
    raw = exchange(server.http[0], head("/", extra="X-Big: %s\r\n" % ("b" * 6000)))
    assert re.match(rb"HTTP/1\.1 431 ", raw), raw[:200]
    # a head just below the limit is served
    r = server.get("/", headers={"X-Big": "b" * 3000})
    assert r.status == 200


def test_slow_head_gets_408_and_others_are_served_meanwhile(corral, conn_factory):
    server = corral.start(app_ini(corral, "http-timeout = 2\nsocket-timeout = 2"))
    server.expect_log(r"^(error|warning): ")
    slow = conn_factory(server)
    slow.send(b"GET / HTTP/1.1\r\nHost: loc")
    started = time.monotonic()
    # one worker: others must be served while the slow head is pending
    for i in range(5):
        r = server.get("/p/%d" % i)
        assert r.body == str(i).encode()
    assert time.monotonic() - started < 2, "other clients waited for the slow one"
    slow.sock.settimeout(15)
    raw = slow.rest()
    waited = time.monotonic() - started
    assert re.match(rb"HTTP/1\.1 408 ", raw), raw[:200]
    assert 1 <= waited < 12, waited


def test_slowloris_trickle_gets_408(corral, conn_factory):
    """A byte every half second never completes a head: the timeout counts
    from the start of the head, not from the last byte."""
    server = corral.start(app_ini(corral, "http-timeout = 2\nsocket-timeout = 2"))
    server.expect_log(r"^(error|warning): ")
    slow = conn_factory(server)
    slow.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
    started = time.monotonic()
    raw = b""
    slow.sock.settimeout(0.5)
    while time.monotonic() - started < 12:
        try:
            slow.send(b"X")
        except OSError:
            break
        try:
            chunk = slow.sock.recv(4096)
            if not chunk:
                break
            raw += chunk
        except socket.timeout:
            pass
    assert re.match(rb"HTTP/1\.1 408 ", raw), raw[:200]
    assert server.get("/").status == 200


def test_idle_keepalive_connection_is_closed_after_the_keepalive_timeout(corral, conn_factory):
    """http-keepalive = N: an idle connection is closed after N seconds."""
    server = corral.start(app_ini(corral, "http-keepalive = 2"))
    c = conn_factory(server)
    c.send(head("/p/1"))
    assert c.response()[0].body == b"1"
    started = time.monotonic()
    c.sock.settimeout(15)
    extra = c.rest()
    assert time.monotonic() - started < 12
    # between requests nothing was asked: a silent close, or a 408
    assert extra == b"" or extra.startswith(b"HTTP/1.1 408 "), extra[:200]


def test_http_socket_port_from_the_environment(corral, tmp_path):
    """IIS's HttpPlatformHandler hands the port in HTTP_PLATFORM_PORT:
    `http-socket = :$(HTTP_PLATFORM_PORT)` (written outside corral.write,
    whose address scan cannot expand it)."""
    from conftest import free_port
    port = free_port()
    (tmp_path / "h11app.py").write_text(APP)
    ini = tmp_path / "iis.ini"
    ini.write_text("[uwsgi]\nchdir = %s\nmodule = h11app:application\nmaster = true\n"
                   "http-socket = :$(HTTP_PLATFORM_PORT)\n" % tmp_path)
    server = corral.start(args=["--ini", str(ini)], env={"HTTP_PLATFORM_PORT": str(port)})
    server.http = [("127.0.0.1", port)]
    deadline = time.monotonic() + 15
    while True:
        try:
            raw = exchange(("127.0.0.1", port), head("/p/iis", extra="Connection: close\r\n"))
            break
        except OSError:
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.1)
    r = Response(raw)
    assert r.status == 200 and r.body == b"iis"


def test_app_exception_gives_500_and_the_connection_stays_in_step(corral, conn_factory):
    server = corral.start(app_ini(corral))
    server.expect_log(r"^Traceback", r"^error: ", r"^  ", r"RuntimeError")
    c = conn_factory(server)
    c.send(head("/raise") + head("/p/next"))
    r, _ = c.response()
    assert r.status == 500
    try:
        r, _ = c.response()
    except EOFError:
        return
    assert r.body == b"next", r


def test_failure_mid_chunked_body_never_looks_complete(corral, conn_factory):
    """A client must be able to tell a truncated body: no final 0-size
    chunk after the app failed, and the connection closes."""
    server = corral.start(app_ini(corral))
    server.expect_log(r"^Traceback", r"^error: ", r"^  ", r"RuntimeError")
    c = conn_factory(server)
    c.send(head("/gen-fail") + head("/p/next"))
    r = Response(c.read_head())
    assert r.status == 200
    assert (r.header("Transfer-Encoding") or "").lower() == "chunked"
    c.sock.settimeout(10)
    rest = c.rest()
    assert b"partial," in rest
    assert not rest.endswith(b"0\r\n\r\n"), "a truncated body was ended as complete: %r" % rest
    assert b"next" not in rest


def test_failure_before_content_length_is_reached_closes(corral, conn_factory):
    server = corral.start(app_ini(corral))
    server.expect_log(r"^Traceback", r"^error: ", r"^  ", r"RuntimeError", r"Content-Length")
    c = conn_factory(server)
    c.send(head("/cl-fail") + head("/p/next"))
    r = Response(c.read_head())
    assert r.status == 200 and r.header("Content-Length") == "100"
    c.sock.settimeout(10)
    rest = c.rest()
    assert rest == b"partial,", rest


def test_large_response_header_from_the_app(corral):
    server = corral.start(app_ini(corral))
    server.expect_log(r"^(error|warning): ")
    raw = exchange(server.http[0], head("/bigheader", extra="Connection: close\r\n"))
    r = Response(raw)
    if r.status == 200:
        assert r.header("X-Big") == "v" * 20000 and r.body == b"ok"
    else:
        assert r.status == 500 and b"v" * 100 not in raw


def test_underscore_header_does_not_spoof_a_dash_header(corral):
    """X_Forwarded_For and X-Forwarded-For must not both become
    HTTP_X_FORWARDED_FOR: a proxy that sets the one passes the other."""
    server = corral.start(app_ini(corral))
    r = server.get("/xff", headers={"X-Forwarded-For": "10.0.0.1", "X_Forwarded_For": "6.6.6.6"})
    assert r.status == 200
    assert r.text.split("|")[0] == "10.0.0.1", r.text


@pytest.mark.parametrize("raw,extra,status", [
    pytest.param(b"GET / HTTP/1.1\nHost: a\n\n", "", 400, id="400"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX: %s\r\n\r\n" % (b"b" * 6000),
                 "buffer-size = 4096", 431, id="431"),
    pytest.param(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n",
                 "limit-post = 100", 413, id="413"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", "", 417, id="417"),
    pytest.param(b"GET / HTTP/1.1\r\nHo", "http-timeout = 1\nsocket-timeout = 1", 408,
                 id="408"),
])
def test_error_responses_are_framed_and_dated(corral, raw, extra, status):
    """RFC 9110 6.6.1: an origin server with a clock sends Date in every
    4xx response; each error response closes the connection."""
    server = corral.start(app_ini(corral, extra))
    server.expect_log(r"^(error|warning): ")
    out = exchange(server.http[0], raw)
    r = Response(out)
    assert r.status == status, out
    assert r.header("Content-Length") == str(len(r.body)), out
    assert (r.header("Connection") or "").lower() == "close", out
    assert r.header("Date"), "no Date header in %r" % out


def test_a_thousand_pipelined_requests_beyond_the_buffer(corral, conn_factory):
    server = corral.start(app_ini(corral, "buffer-size = 4096"))
    c = conn_factory(server)
    c.send(b"".join(head("/p/%d" % i) for i in range(1000)))
    for i in range(1000):
        r, _ = c.response()
        assert r.body == str(i).encode(), (i, r)


@pytest.mark.parametrize("delta,status", [(-1, 200), (0, 200), (1, 431)])
def test_head_at_the_buffer_size_boundary(corral, delta, status):
    """buffer-size is the largest head accepted, to the byte."""
    server = corral.start(app_ini(corral, "buffer-size = 4096"))
    server.expect_log(r"^(error|warning): ")
    base = head("/p/x", extra="Connection: close\r\nX-Pad: \r\n")
    pad = 4096 + delta - len(base)
    raw = head("/p/x", extra="Connection: close\r\nX-Pad: %s\r\n" % ("p" * pad))
    assert len(raw) == 4096 + delta
    r = Response(exchange(server.http[0], raw))
    assert r.status == status, r
