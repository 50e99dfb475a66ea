"""The hello app over http-socket and over the uwsgi protocol directly:
the environ the app sees, bodies both ways, and errors."""
import re

import pytest

from conftest import IS_UWSGI, exchange, hello_ini, uwsgi_request


def env_of(r):
    assert r.status == 200, r
    return dict(line.split("=", 1) for line in r.text.splitlines())


def test_hello_over_http_socket(corral):
    server = corral.start(hello_ini(corral))
    raw = exchange(server.http[0], b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert re.match(rb"HTTP/1\.1 200 OK\r\n", raw), raw[:100]
    head, _, body = raw.partition(b"\r\n\r\n")
    assert body == b"Hello, World!"
    assert re.search(rb"\r\nContent-Type: text/plain\r\n", head + b"\r\n")
    assert re.search(rb"\r\nContent-Length: 13\r\n", head + b"\r\n")


@pytest.mark.corral_only
def test_http_socket_says_connection_close(corral):
    server = corral.start(hello_ini(corral))
    r = server.get("/")
    assert (r.header("Connection") or "").lower() == "close"


def test_environ_over_http_socket(corral):
    server = corral.start(hello_ini(corral))
    env = env_of(server.get("/env?a=1&b=%20x", headers={"Host": "example.org:8080"}))
    assert env["REQUEST_METHOD"] == "GET"
    assert env["PATH_INFO"] == "/env"
    assert env["QUERY_STRING"] == "a=1&b=%20x"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["HTTP_HOST"] == "example.org:8080"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["wsgi.url_scheme"] == "http"
    assert env["SCRIPT_NAME"] == ""


def test_percent_encoded_path_is_decoded(corral):
    server = corral.start(hello_ini(corral))
    r = server.get("/%65nv")                      # %65 is 'e'
    assert env_of(r)["PATH_INFO"] == "/env"


def test_environ_over_uwsgi(corral):
    corral.start(hello_ini(corral, http=False, uwsgi=True))
    env = env_of(uwsgi_request(corral.sock, "GET", "/env", query="x=y"))
    assert env["PATH_INFO"] == "/env"
    assert env["QUERY_STRING"] == "x=y"
    assert env["HTTP_HOST"] == "localhost"
    assert env["SERVER_NAME"] == "localhost"


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 65536, 1048576 + 7])
def test_echo_body_sizes(corral, size):
    server = corral.start(hello_ini(corral, uwsgi=True))
    body = bytes((i * 7) & 0xFF for i in range(size))
    r = server.request("POST", "/echo", body=body)
    assert r.status == 200 and r.body == body
    assert r.header("X-Body-Length") == str(size)
    r = uwsgi_request(corral.sock, "POST", "/echo", body=body)
    assert r.status == 200 and r.body == body


def test_large_response(corral):
    server = corral.start(hello_ini(corral))
    r = server.get("/big?3000000")
    assert r.status == 200 and r.body == b"x" * 3000000


def test_app_404(corral):
    server = corral.start(hello_ini(corral))
    r = server.get("/nothing-here")
    assert r.status == 404 and r.body == b"Not Found"


@pytest.mark.corral_only      # uWSGI closes the connection without a response
def test_exception_before_start_response_gives_500(corral):
    server = corral.start(hello_ini(corral))
    server.expect_log(r"^Traceback", r"^error: ")
    r = server.get("/error")
    assert r.status == 500
    server.wait_log(r"RuntimeError: hello app: /error always fails")
    assert server.get("/").status == 200


def test_malformed_http_request(corral):
    server = corral.start(hello_ini(corral))
    server.expect_log(r"^(error|warning): ")
    raw = exchange(server.http[0], b"NOT HTTP AT ALL\r\n\r\n")
    assert not raw.startswith(b"HTTP/1.1 200"), raw[:100]
    if not IS_UWSGI:
        assert re.match(rb"HTTP/1\.[01] 400 ", raw), raw[:100]
    assert server.get("/").status == 200
