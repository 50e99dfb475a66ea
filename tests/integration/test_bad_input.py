"""Broken requests on the uwsgi socket (what a confused client or a bug in
a proxy sends). Each must be refused without taking the worker down, and
the next, normal request must be served, by the same worker process."""
import re
import socket
import struct

import pytest

from conftest import (IS_UWSGI, exchange, hello_ini, uwsgi_packet, uwsgi_request,
                      uwsgi_vars, uwsgi_vars_block)


@pytest.fixture
def server(corral):
    """The hello app on a unix uwsgi socket with one worker, so that the
    follow-up request proves that this worker survived."""
    return corral.start(hello_ini(corral, processes=1, http=False, uwsgi=True))


def worker_pid(server, corral):
    r = uwsgi_request(corral.sock, "GET", "/pid")
    assert r.status == 200, r
    return int(r.body)


def still_serving(server, corral, pid):
    r = uwsgi_request(corral.sock, "GET", "/")
    assert r.status == 200 and r.body == b"Hello, World!", r
    assert worker_pid(server, corral) == pid, "the worker died (and was respawned)"
    assert server.running()


def not_a_success(raw):
    """A refused request: the connection closed with nothing, or an error
    status; never a 200 from the app."""
    assert not raw.startswith(b"HTTP/1.1 200") and not raw.startswith(b"HTTP/1.0 200"), raw[:200]


def test_truncated_packet(server, corral):
    pid = worker_pid(server, corral)
    server.expect_log(r"^error: .*truncated")
    packet = uwsgi_packet(uwsgi_vars(path="/"))
    raw = exchange(corral.sock, packet[:len(packet) // 2], shutdown=True)
    not_a_success(raw)
    still_serving(server, corral, pid)


def test_truncated_header(server, corral):
    pid = worker_pid(server, corral)
    server.expect_log(r"^error: .*truncated")
    raw = exchange(corral.sock, b"\x00\x10", shutdown=True)
    not_a_success(raw)
    still_serving(server, corral, pid)


def test_key_length_past_the_block(server, corral):
    pid = worker_pid(server, corral)
    block = uwsgi_vars_block(uwsgi_vars(path="/"))
    block += struct.pack("<H", 500) + b"PATH_INFO"      # claims 500 bytes, has 9
    packet = struct.pack("<BHB", 0, len(block), 0) + block
    server.expect_log(r"^error: .*(uwsgi|packet|var)")
    raw = exchange(corral.sock, packet, shutdown=True)
    not_a_success(raw)
    still_serving(server, corral, pid)


def test_value_length_past_the_block(server, corral):
    pid = worker_pid(server, corral)
    block = uwsgi_vars_block(uwsgi_vars(path="/"))
    block += struct.pack("<H", 9) + b"PATH_INFO" + struct.pack("<H", 1000) + b"/x"
    packet = struct.pack("<BHB", 0, len(block), 0) + block
    server.expect_log(r"^error: .*(uwsgi|packet|var)")
    raw = exchange(corral.sock, packet, shutdown=True)
    not_a_success(raw)
    still_serving(server, corral, pid)


def test_zero_length_key(server, corral):
    pid = worker_pid(server, corral)
    pairs = uwsgi_vars(path="/") + [("", "value-without-a-name")]
    server.expect_log(r"^(error|warning): .*(uwsgi|packet|var|key)")
    raw = exchange(corral.sock, uwsgi_packet(pairs), shutdown=True)
    # either refused or served: but never a crash
    assert raw == b"" or raw.startswith(b"HTTP/"), raw[:200]
    still_serving(server, corral, pid)


def test_vars_block_larger_than_buffer_size(server, corral):
    pid = worker_pid(server, corral)
    big = [("HTTP_X_PADDING", "p" * 6000)]          # default buffer-size is 4096
    packet = uwsgi_packet(uwsgi_vars(path="/", extra=big))
    assert len(packet) > 4096
    server.expect_log(r"^error: .*buffer.size")
    raw = exchange(corral.sock, packet)
    not_a_success(raw)
    server.wait_log(r"buffer.size|max 4096")
    still_serving(server, corral, pid)


def test_buffer_size_option_allows_bigger_headers(corral):
    corral.start(hello_ini(corral, processes=1, http=False, uwsgi=True,
                           extra="buffer-size = 32768\n"))
    r = uwsgi_request(corral.sock, "GET", "/", extra=[("HTTP_X_PADDING", "p" * 20000)])
    assert r.status == 200 and r.body == b"Hello, World!"


def test_http_request_on_uwsgi_socket(server, corral):
    pid = worker_pid(server, corral)
    server.expect_log(r"^(error|warning): .*uwsgi socket")
    raw = exchange(corral.sock, b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    not_a_success(raw)
    if not IS_UWSGI:
        assert re.match(rb"HTTP/1\.[01] 400 ", raw), raw[:200]
        # one line that says what happened and what to use instead
        server.wait_log(r"^.*(uwsgi socket.*http-socket|http-socket.*uwsgi socket).*$")
    still_serving(server, corral, pid)


def test_garbage_then_normal(server, corral):
    pid = worker_pid(server, corral)
    server.expect_log(r"^error: ")
    raw = exchange(corral.sock, bytes(range(256)) * 4, shutdown=True)
    not_a_success(raw)
    still_serving(server, corral, pid)


def test_client_disconnects_before_response(server, corral):
    pid = worker_pid(server, corral)
    server.expect_log(r"^(error|warning): .*(write|send|EPIPE|reset|broken pipe)")
    packet = uwsgi_packet(uwsgi_vars(path="/big", query="2000000"))
    s = socket.socket(socket.AF_UNIX)
    s.connect(corral.sock)
    s.sendall(packet)
    s.close()
    still_serving(server, corral, pid)


def test_body_shorter_than_content_length(server, corral):
    pid = worker_pid(server, corral)
    # the app's read() of wsgi.input may raise: a traceback is acceptable
    server.expect_log(r"^(error|warning): .*(body|read|closed|input)", r"^Traceback")
    pairs = uwsgi_vars("POST", "/echo", body=b"x" * 100)
    raw = exchange(corral.sock, uwsgi_packet(pairs, b"x" * 10), shutdown=True)
    assert not re.match(rb"HTTP/1\.[01] 200 .*X-Body-Length: 100", raw, re.S)
    still_serving(server, corral, pid)
