"""The Python plugin as users run it, through the real binary: WSGI
conformance checked by wsgiref.validate, wsgi.file_wrapper, post-buffering
with a 10 MB upload, non-ASCII upload names through Flask and Django,
request threads, a venv with `home`, py-autoreload, uwsgidecorators.postfork,
the `uwsgi` module, mounts, and apps that break PEP 3333.

The apps are in apps/py6_*.py; Django is the example site
(examples/django, `module = mysite.wsgi`) with py6_django_settings, which
adds a sleeping view and an upload view to its URLs."""
import concurrent.futures
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import (CORRAL_BIN, DJANGO_DIR, HELLO_DIR, IS_UWSGI, PYTHON, Response, exchange,
                      http_request, recv_all, run, uwsgi_request, wait_for)

APPS = Path(__file__).resolve().parent / "apps"
sys.path.insert(0, str(APPS))
from py6_wsgi import pattern  # noqa: E402


def app_ini(corral, module, extra="", processes=1, uwsgi=False):
    """An ini serving `module` from apps/ over http-socket (and the unix
    uwsgi socket when `uwsgi`)."""
    lines = ["[uwsgi]", "chdir = %s" % corral.tmp, "pythonpath = %s" % APPS,
             "module = %s" % module, "master = true", "processes = %d" % processes,
             "http-socket = 127.0.0.1:%d" % corral.port]
    if uwsgi:
        lines.append("socket = %s" % corral.sock)
    return "\n".join(lines) + "\n" + extra


def django_ini(corral, extra="", processes=1):
    """The Django example with the test views of py6_django_urls."""
    lines = ["[uwsgi]", "chdir = %s" % DJANGO_DIR, "pythonpath = %s" % APPS,
             "module = mysite.wsgi:application",
             "env = DJANGO_SETTINGS_MODULE=py6_django_settings",
             "master = true", "processes = %d" % processes,
             "http-socket = 127.0.0.1:%d" % corral.port]
    return "\n".join(lines) + "\n" + extra


def multipart(files, fields=()):
    """A multipart/form-data body as a browser sends it: file names raw
    UTF-8 in the header. files: (field, filename, bytes). Returns
    (content_type, body)."""
    boundary = "----corral-py6-boundary-7MA4YWxkTrZu0gW"
    out = b""
    for name, value in fields:
        out += ("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n"
                % (boundary, name)).encode() + value.encode() + b"\r\n"
    for field, filename, data in files:
        out += ("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n"
                % (boundary, field, filename)).encode("utf-8") + data + b"\r\n"
    out += ("--%s--\r\n" % boundary).encode()
    return "multipart/form-data; boundary=%s" % boundary, out


def pid_of(server, path="/pid"):
    r = server.get(path)
    assert r.status == 200, r
    return int(r.body)


# --------------------------------------------------------------------------
# wsgiref.validate around the app

@pytest.fixture(params=["http", pytest.param("uwsgi", marks=pytest.mark.corral_only)])
def validated(request, corral):
    """(send, server): py6_wsgi:validated, reached over http-socket or the
    uwsgi socket (send(method, path, body, headers) -> Response). The uwsgi
    request carries no SCRIPT_NAME, as nginx's uwsgi_params sends none:
    PEP 3333 requires the key (Corral sets ""; uWSGI leaves it out and the
    validator refuses the environ, hence corral_only)."""
    server = corral.start(app_ini(corral, "py6_wsgi:validated", uwsgi=True))
    if request.param == "http":
        def send(method, path, body=b"", headers=None):
            return http_request(server.http[0], method, path, body=body, headers=headers)
    else:
        def send(method, path, body=b"", headers=None):
            path, _, query = path.partition("?")
            extra = [("HTTP_" + k.upper().replace("-", "_"), v.encode("latin-1"))
                     for k, v in (headers or {}).items()]
            return uwsgi_request(corral.sock, method, path, query=query, body=body,
                                 extra=extra)
    return send, server


def test_validator_get(validated):
    send, _ = validated
    r = send("GET", "/")
    assert r.status == 200 and r.body == b"Hello, validated!", r


@pytest.mark.parametrize("size", [0, 1, 5000, 300000])
def test_validator_post_body(validated, size):
    send, _ = validated
    body = pattern(size)
    r = send("POST", "/post", body=body)
    assert r.status == 200, r
    assert r.header("X-Body-Length") == str(size)
    assert r.header("X-Rest") == "0"          # nothing past CONTENT_LENGTH
    assert r.body == body


def test_validator_readline(validated):
    send, _ = validated
    body = b"one\n" + b"two-two\n" + b"x" * 70000 + b"\nlast-without-newline"
    r = send("POST", "/lines", body=body)
    assert r.status == 200, r
    assert r.body == b"4,8,70001,20"


def test_validator_streaming_generator(validated):
    send, _ = validated
    r = send("GET", "/stream")
    assert r.status == 200, r
    assert r.body == b"".join(b"chunk-%d\n" % i for i in range(5))


def test_validator_write_callable(validated):
    send, _ = validated
    r = send("GET", "/write")
    assert r.status == 200, r
    assert r.body == b"written-1 written-2 tail"


@pytest.mark.corral_only        # uWSGI 2.0.21 raises SystemError in start_response
def test_validator_exc_info_replaces_the_status(validated):
    send, _ = validated
    r = send("GET", "/exc_info")
    assert r.status == 500, r
    assert r.header("X-Handled") == "yes"
    assert r.body == b"handled by the app"


def test_validator_wsgi_errors_reach_the_log(validated):
    send, server = validated
    r = send("GET", "/errors")
    assert r.status == 200 and r.body == b"logged", r
    server.wait_log(r"py6-wsgi-errors: a line for the log")


def test_validator_environ_native_strings(validated):
    """PEP 3333: environ values are str holding the raw bytes as latin-1;
    PATH_INFO percent-decoded."""
    send, _ = validated
    r = send("GET", "/environ?q=%C3%A9t%C3%A9", headers={"X-Raw": "caf\xe9"})
    assert r.status == 200, r
    lines = dict(l.split("=", 1) for l in r.body.decode("latin-1").split("\n"))
    assert lines["REQUEST_METHOD"] == "GET"
    assert lines["PATH_INFO"] == "/environ"
    assert lines["QUERY_STRING"] == "q=%C3%A9t%C3%A9"
    assert lines["HTTP_X_RAW"] == "caf\xe9"
    if not IS_UWSGI:                  # uWSGI 2.0 does not set it
        assert lines["wsgi.input_terminated"] == "True"


def test_path_info_is_percent_decoded_latin1(corral):
    """Over HTTP the server decodes the path (over uwsgi, nginx did)."""
    server = corral.start(app_ini(corral, "py6_wsgi:validated"))
    send = server.request
    r = send("GET", "/%65nviron")                 # %65 is 'e'
    assert r.status == 200, r
    r = send("GET", "/caf%C3%A9")
    assert r.status == 404 and r.body == b"Not Found", r


def test_validator_file_wrapper(validated, tmp_path):
    send, _ = validated
    data = pattern(200000)
    (tmp_path / "blob.bin").write_bytes(data)
    r = send("GET", "/file?%s" % (tmp_path / "blob.bin"))
    assert r.status == 200, r
    assert r.body == data


def test_exception_after_headers_breaks_the_response(corral):
    """The headers went out: the server cannot send a 500 any more; it must
    close the connection, never send a second status line."""
    server = corral.start(app_ini(corral, "py6_wsgi:application"))
    server.expect_log(r"^Traceback", r"RuntimeError: late-error", r"^error: ")
    raw = exchange(server.http[0], b"GET /late-error HTTP/1.1\r\nHost: x\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200 "), raw[:200]
    assert raw.count(b"HTTP/1.1 ") == 1, raw
    head, _, body = raw.partition(b"\r\n\r\n")
    assert body == b"partial"             # short of its Content-Length: 1000
    server.wait_log(r"RuntimeError: late-error test")
    assert server.get("/").status == 200


@pytest.mark.parametrize("app", ["application", "validated"])
def test_close_runs_when_the_client_goes_away(corral, tmp_path, app):
    """The client reads a little of a huge response and hangs up: the
    response's close() still runs, once, the worker says so in one line
    (not a traceback per write) and keeps serving."""
    server = corral.start(app_ini(corral, "py6_wsgi:%s" % app))
    server.expect_log(r"(?i)client went away|broken pipe|reset by peer|write error")
    marker = tmp_path / "closed.txt"
    with socket.create_connection(server.http[0], timeout=15) as s:
        s.sendall(b"GET /closing?%s HTTP/1.1\r\nHost: x\r\n\r\n" % str(marker).encode())
        got = 0
        while got < 300000:
            got += len(s.recv(65536))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
    wait_for(marker.exists, 15, "close() of the response")
    time.sleep(0.3)
    lines = marker.read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith("closed after "), lines
    assert int(lines[0].split()[2]) < 20000            # it did stop early
    assert server.get("/").status == 200
    if not IS_UWSGI:
        gone = [l for l in server.log().splitlines() if "/closing" in l and "went away" in l]
        assert len(gone) == 1, server.log()
    assert "Traceback" not in server.log()


def test_exc_info_after_headers_reraises(corral):
    """start_response(..., exc_info) once the headers are out re-raises the
    exception (PEP 3333): the response ends broken, with no second status
    and nothing the app returned afterwards."""
    server = corral.start(app_ini(corral, "py6_wsgi:validated"))
    server.expect_log(r"^Traceback", r"ValueError: late-exc-info", r"^error: ", r"^  ")
    raw = exchange(server.http[0], b"GET /late-exc-info HTTP/1.1\r\nHost: x\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200 ") and raw.count(b"HTTP/1.1 ") == 1, raw
    assert b"sent" in raw and b"must never be sent" not in raw
    assert not raw.endswith(b"0\r\n\r\n"), raw      # no clean end of the chunks
    server.wait_log(r"ValueError: late-exc-info test")
    assert server.get("/").status == 200


def test_stdout_stderr_and_wsgi_errors_reach_the_log(corral):
    server = corral.start(app_ini(corral, "py6_wsgi:validated", "threads = 2\n"))
    r = server.get("/print")
    assert r.status == 200 and r.body == b"printed", r
    assert r.header("X-Latin-1") == "caf\xe9"       # sent as the byte 0xe9
    lines = ["py6-stdout: print() reaches the log", "py6-stderr: so does sys.stderr"]
    if not IS_UWSGI:             # uWSGI 2.0's wsgi.errors loses writelines()
        lines += ["py6-errors-1", "py6-errors-2"]
    for line in lines:
        server.wait_log(r"^%s$" % re.escape(line))


# --------------------------------------------------------------------------
# wsgi.file_wrapper without the validator (the sendfile path)

@pytest.mark.parametrize("size", [0, 1, 65536, 3 * 1024 * 1024 + 7])
def test_file_wrapper_real_file(corral, tmp_path, size):
    server = corral.start(app_ini(corral, "py6_wsgi:application"))
    data = pattern(size)
    (tmp_path / "blob.bin").write_bytes(data)
    r = server.get("/file?%s" % (tmp_path / "blob.bin"))
    assert r.status == 200, r
    assert len(r.body) == size and hashlib.sha256(r.body).digest() == \
        hashlib.sha256(data).digest()
    assert server.get("/").status == 200


def test_file_wrapper_over_uwsgi_socket(corral, tmp_path):
    server = corral.start(app_ini(corral, "py6_wsgi:application", uwsgi=True))
    data = pattern(1024 * 1024 + 3)
    (tmp_path / "blob.bin").write_bytes(data)
    r = uwsgi_request(corral.sock, "GET", "/file", query=str(tmp_path / "blob.bin"))
    assert r.status == 200 and r.body == data, r
    assert server.running()


@pytest.mark.corral_only          # uWSGI 2.0 sends the whole file from offset 0
def test_file_wrapper_starts_at_the_files_position(corral, tmp_path):
    """A file the app already read from (a header it parsed, say): the
    response is the rest of it, from the current position, as when
    iterating the wrapper with read(blksize)."""
    server = corral.start(app_ini(corral, "py6_wsgi:application"))
    data = pattern(100000)
    (tmp_path / "blob.bin").write_bytes(data)
    r = server.get("/file?%s@1000" % (tmp_path / "blob.bin"))
    assert r.status == 200, r
    assert len(r.body) == len(data) - 1000 and r.body == data[1000:]


@pytest.mark.parametrize("size", [0, 100, 500000])
def test_file_wrapper_file_like_without_fileno(corral, size):
    server = corral.start(app_ini(corral, "py6_wsgi:application"))
    r = server.get("/filelike?%d" % size)
    assert r.status == 200, r
    assert r.body == pattern(size)


# --------------------------------------------------------------------------
# post-buffering and uploads

TEN_MB = 10 * 1024 * 1024


def test_post_buffering_10mb_raw_body_flask(corral):
    server = corral.start(app_ini(corral, "py6_flask:app",
                                  "post-buffering = 65536\npost-buffering-bufsize = 16384\n"))
    body = os.urandom(TEN_MB)
    r = server.request("POST", "/sha256", body=body,
                       headers={"Content-Type": "application/octet-stream"}, timeout=60)
    assert r.status == 200, r
    got = json.loads(r.body)
    assert got["size"] == TEN_MB
    assert got["sha256"] == hashlib.sha256(body).hexdigest()
    # the spool file is gone: the worker keeps serving the next request
    assert server.get("/").text == "Hello from Flask"


def chunked(body, size=65536):
    out = [b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size])
           for i in range(0, len(body), size)]
    return b"".join(out) + b"0\r\n\r\n"


@pytest.mark.corral_only          # uWSGI 2.0's http-socket has no chunked input
@pytest.mark.parametrize("post_buffering", [0, 65536])
def test_10mb_chunked_body_flask(corral, post_buffering):
    """Transfer-Encoding: chunked (no CONTENT_LENGTH): the app reads to the
    end of wsgi.input (wsgi.input_terminated) and gets every byte."""
    server = corral.start(app_ini(corral, "py6_flask:app",
                                  "post-buffering = %d\n" % post_buffering))
    body = os.urandom(TEN_MB)
    raw = exchange(server.http[0], b"POST /sha256 HTTP/1.1\r\nHost: x\r\n"
                   b"Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
                   + chunked(body), timeout=60)
    r = Response(raw)
    assert r.status == 200, r
    got = json.loads(r.body)
    assert got == {"size": TEN_MB, "sha256": hashlib.sha256(body).hexdigest(),
                   "terminated": True}


def test_post_buffering_10mb_upload_django(corral):
    server = corral.start(django_ini(corral, "post-buffering = 8192\n"))
    data = os.urandom(TEN_MB)
    ctype, body = multipart([("file", "big.bin", data)], [("note", "ten")])
    r = server.request("POST", "/upload/", body=body, headers={"Content-Type": ctype},
                       timeout=60)
    assert r.status == 200, r
    got = json.loads(r.body)
    assert got["form"] == {"note": "ten"}
    assert got["files"] == [{"field": "file", "filename": "big.bin", "size": TEN_MB,
                             "sha256": hashlib.sha256(data).hexdigest()}]


def test_post_buffering_body_under_the_limit(corral):
    server = corral.start(app_ini(corral, "py6_wsgi:validated", "post-buffering = 4096\n"))
    for size in (10, 4096, 4097, 100000):
        body = pattern(size)
        r = server.request("POST", "/post", body=body)
        assert r.status == 200 and r.body == body, (size, r)


def environ_lines(body):
    return dict(line.split("=", 1) for line in body.decode("latin-1").split("\n"))


def chunked_post(server, path, body, ctype="application/octet-stream", size=65536):
    raw = exchange(server.http[0], b"POST %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                   b"Content-Type: %s\r\nTransfer-Encoding: chunked\r\n\r\n"
                   % (path.encode(), ctype.encode()) + chunked(body, size), timeout=60)
    return Response(raw)


@pytest.mark.corral_only          # uWSGI 2.0's http-socket has no chunked input
@pytest.mark.parametrize("size", [0, 5, 300000])
def test_chunked_upload_gets_its_length_as_content_length(corral, size):
    """WSGI apps learn a body's length only from CONTENT_LENGTH: a chunked
    upload is read whole first and its length given, as a Content-Length
    upload's would be."""
    server = corral.start(app_ini(corral, "py6_wsgi:validated"))
    body = pattern(size)
    r = chunked_post(server, "/environ", body, size=7000)
    assert r.status == 200, r
    env = environ_lines(r.body)
    assert env["CONTENT_LENGTH"] == str(size)
    assert env["wsgi.input_terminated"] == "True"
    # the app reads exactly CONTENT_LENGTH bytes and finds nothing after them
    r = chunked_post(server, "/post", body, size=7000)
    assert r.status == 200 and r.body == body, r
    assert r.header("X-Body-Length") == str(size) and r.header("X-Rest") == "0"


@pytest.mark.corral_only
def test_chunked_upload_to_django(corral):
    """Django reads nothing without CONTENT_LENGTH: a chunked multipart
    upload must reach request.FILES and request.POST whole."""
    server = corral.start(django_ini(corral))
    data = os.urandom(200000)
    ctype, body = multipart([("file", "sent-chunked.bin", data)], [("note", "chunked")])
    r = chunked_post(server, "/upload/", body, ctype=ctype, size=4096)
    assert r.status == 200, r
    got = json.loads(r.body)
    assert got["form"] == {"note": "chunked"}
    assert got["files"] == [{"field": "file", "filename": "sent-chunked.bin",
                             "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}]


@pytest.mark.corral_only
def test_wsgi_manage_chunked_input_streams_the_upload(corral):
    """uWSGI's wsgi-manage-chunked-input: the app gets the upload as it
    arrives, with wsgi.input_terminated and no CONTENT_LENGTH."""
    server = corral.start(app_ini(corral, "py6_wsgi:validated",
                                  "wsgi-manage-chunked-input = true\n"))
    body = pattern(100000)
    env = environ_lines(chunked_post(server, "/environ", body).body)
    assert env["CONTENT_LENGTH"] == ""
    assert env["wsgi.input_terminated"] == "True"
    r = chunked_post(server, "/post", body)
    assert r.status == 200 and r.body == body, r
    assert r.header("X-Body-Length") == "0"          # read to the end instead


@pytest.mark.corral_only
def test_chunked_upload_over_limit_post_is_refused_before_the_app(corral):
    server = corral.start(app_ini(corral, "py6_wsgi:validated", "limit-post = 10000\n"))
    server.expect_log(r"^(error|warning): .*limit-post")
    r = chunked_post(server, "/post", pattern(20000), size=4096)
    assert r.status == 413, r
    assert server.request("POST", "/post", body=b"after").body == b"after"


NON_ASCII_NAMES = ["r\u00e9sum\u00e9 na\u00efve.txt", "\u65e5\u672c\u8a9e\u30d5\u30a1\u30a4\u30eb.bin",
                   "emoji-\U0001f40d.py", "\u00fcml\u00e4ut \u2014 dash.csv"]


@pytest.mark.parametrize("post_buffering", [0, 1024])
def test_non_ascii_upload_name_flask(corral, post_buffering):
    server = corral.start(app_ini(corral, "py6_flask:app",
                                  "post-buffering = %d\n" % post_buffering))
    files = [("f%d" % i, name, pattern(3000 + i)) for i, name in enumerate(NON_ASCII_NAMES)]
    ctype, body = multipart(files, [("title", "caf\u00e9")])
    r = server.request("POST", "/upload", body=body, headers={"Content-Type": ctype})
    assert r.status == 200, r
    got = json.loads(r.body)
    assert got["form"] == {"title": "caf\u00e9"}
    assert [(f["field"], f["filename"], f["size"], f["sha256"]) for f in got["files"]] == \
        [(field, name, len(data), hashlib.sha256(data).hexdigest())
         for field, name, data in files]


@pytest.mark.parametrize("post_buffering", [0, 1024])
def test_non_ascii_upload_name_django(corral, post_buffering):
    server = corral.start(django_ini(corral, "post-buffering = %d\n" % post_buffering))
    files = [("f%d" % i, name, pattern(3000 + i)) for i, name in enumerate(NON_ASCII_NAMES)]
    ctype, body = multipart(files, [("title", "caf\u00e9")])
    r = server.request("POST", "/upload/", body=body, headers={"Content-Type": ctype})
    assert r.status == 200, r
    got = json.loads(r.body)
    assert got["form"] == {"title": "caf\u00e9"}
    assert sorted((f["field"], f["filename"], f["size"], f["sha256"]) for f in got["files"]) \
        == sorted((field, name, len(data), hashlib.sha256(data).hexdigest())
                  for field, name, data in files)


def test_non_ascii_upload_name_with_ascii_lang(corral):
    """`env = LANG=C` still applies to os.environ, but the interpreter's
    UTF-8 mode keeps the upload working."""
    server = corral.start(app_ini(corral, "py6_flask:app", "env = LANG=C\nenv = LC_ALL=C\n"))
    ctype, body = multipart([("f", NON_ASCII_NAMES[1], b"data")])
    r = server.request("POST", "/upload", body=body, headers={"Content-Type": ctype})
    assert r.status == 200, r
    assert json.loads(r.body)["files"][0]["filename"] == NON_ASCII_NAMES[1]


# --------------------------------------------------------------------------
# threads

def test_threads_serve_slow_django_views_at_once(corral):
    """One worker, threads = 8, a view that sleeps 1 s: 8 concurrent
    requests take about 1 s, far less than 8 s one after the other."""
    server = corral.start(django_ini(corral, "threads = 8\n"))
    assert server.get("/sleep/?0").status == 200      # Django loaded and warm

    def one(_):
        r = server.get("/sleep/?1", timeout=30)
        assert r.status == 200, r
        return r.text.split()

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(8)))
    elapsed = time.monotonic() - start
    assert elapsed < 4.0, "8 requests of 1 s on 8 threads took %.1f s" % elapsed
    pids = {pid for pid, _ in answers}
    assert pids == {str(server.workers()[0])}, answers       # one process
    assert len({tid for _, tid in answers}) >= 2, answers     # several threads


def test_threads_concurrent_uploads_with_post_buffering(corral):
    """Each request thread spools its own body: 16 uploads on 4 threads,
    each with different bytes, all arrive intact."""
    server = corral.start(app_ini(corral, "py6_flask:app",
                                  "threads = 4\npost-buffering = 1024\n"))

    def one(i):
        body = os.urandom(1_500_000 + i)
        r = server.request("POST", "/sha256", body=body, timeout=60)
        assert r.status == 200, r
        got = json.loads(r.body)
        return (got["size"], got["sha256"]) == (len(body), hashlib.sha256(body).hexdigest())

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert all(pool.map(one, range(16)))


def test_threads_other_requests_go_on_during_a_slow_upload(corral):
    """A client that trickles its body in (spooled by post-buffering) holds
    one thread, not the whole worker: the GIL is released while waiting."""
    server = corral.start(app_ini(corral, "py6_flask:app",
                                  "threads = 2\npost-buffering = 1024\n"))
    body = os.urandom(64 * 1024)
    with socket.create_connection(server.http[0], timeout=15) as slow:
        slow.sendall(b"POST /sha256 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body))
        slow.sendall(body[:1000])
        time.sleep(0.3)
        start = time.monotonic()
        r = server.get("/", timeout=10)
        assert r.status == 200 and r.text == "Hello from Flask", r
        assert time.monotonic() - start < 1.0
        slow.sendall(body[1000:])
        raw = recv_all(slow)
    got = json.loads(Response(raw).body)
    assert got["size"] == len(body) and got["sha256"] == hashlib.sha256(body).hexdigest()


def test_threads_environ_says_multithread(corral):
    server = corral.start(app_ini(corral, "py6_wsgi:validated", "threads = 4\n"))
    r = server.get("/environ")
    assert r.status == 200 and b"wsgi.multithread=True" in r.body, r


# --------------------------------------------------------------------------
# a venv with `home`

VENV_APP = '''
import sys
import py6_venv_only


def application(environ, start_response):
    import flask                      # from the system site-packages
    body = "%s\\n%s\\n%s\\n%s\\n%s" % (sys.prefix, py6_venv_only.__file__,
                                  py6_venv_only.MARK, flask.__name__, sys.executable)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
'''


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A venv made by Debian's python3 with --system-site-packages and a
    tiny package only its site-packages has."""
    path = tmp_path_factory.mktemp("py6venv") / "venv"
    subprocess.run([PYTHON, "-m", "venv", "--system-site-packages", "--without-pip",
                    str(path)], check=True, timeout=120,
                   env={"PATH": "/usr/bin:/bin"})
    site = next(path.glob("lib/python3*/site-packages"))
    (site / "py6_venv_only").mkdir()
    (site / "py6_venv_only" / "__init__.py").write_text('MARK = "only-in-the-venv"\n')
    return path


@pytest.mark.parametrize("option", ["home", "virtualenv", "venv"])
def test_venv_home(corral, venv, option):
    corral.write("venv_app.py", VENV_APP)
    server = corral.start("\n".join([
        "[uwsgi]", "chdir = %s" % corral.tmp, "module = venv_app",
        "%s = %s" % (option, venv), "master = true", "processes = 1",
        "http-socket = 127.0.0.1:%d" % corral.port]) + "\n")
    r = server.get("/")
    assert r.status == 200, r
    prefix, mod_file, mark, flask, _ = r.text.split("\n")
    assert os.path.realpath(prefix) == os.path.realpath(venv)
    assert Path(mod_file).resolve().is_relative_to(venv.resolve())
    assert mark == "only-in-the-venv"
    assert flask == "flask"


def start_relative_venv(corral, venv):
    corral.write("venv_app.py", VENV_APP)
    return corral.start("\n".join([
        "[uwsgi]", "chdir = %s" % venv.parent, "pythonpath = %s" % corral.tmp,
        "module = venv_app", "home = %s" % venv.name, "master = true", "processes = 1",
        "http-socket = 127.0.0.1:%d" % corral.port]) + "\n")


def test_venv_home_relative_to_chdir(corral, venv):
    server = start_relative_venv(corral, venv)
    r = server.get("/")
    assert r.status == 200, r
    prefix, mod_file, mark, _, _ = r.text.split("\n")
    assert prefix == str(venv)            # absolute, though configured relative
    assert mark == "only-in-the-venv"


def test_venv_sys_executable_is_absolute(corral, venv):
    server = start_relative_venv(corral, venv)
    executable = server.get("/").text.split("\n")[4]
    assert os.path.isabs(executable), executable
    assert os.path.exists(executable), executable


def test_without_home_the_venv_module_is_missing(corral, venv):
    """The control: the venv-only package is not importable without home."""
    corral.write("venv_app.py", VENV_APP)
    ini = corral.write("novenv.ini", "\n".join([
        "[uwsgi]", "chdir = %s" % corral.tmp, "module = venv_app", "need-app = true",
        "master = true", "processes = 1",
        "http-socket = 127.0.0.1:%d" % corral.port]) + "\n")
    p = run(["--ini", str(ini)], cwd=corral.tmp)
    assert p.returncode != 0
    assert "No module named 'py6_venv_only'" in p.stdout + p.stderr


# --------------------------------------------------------------------------
# py-autoreload

RELOADME = '''
VERSION = "{version}"


def application(environ, start_response):
    body = VERSION.encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
'''


@pytest.mark.parametrize("lazy", [False, True])
def test_py_autoreload_picks_up_an_edited_module(corral, lazy):
    """One worker: with several, each worker's watcher asks for the reload
    and the master can die of it (test_reload_requests_in_a_burst)."""
    target = corral.write("reloadme.py", RELOADME.format(version="v1"))
    corral.write("reloadme_main.py", "from reloadme import application\n")
    server = corral.start("\n".join([
        "[uwsgi]", "chdir = %s" % corral.tmp, "module = reloadme_main",
        "py-autoreload = 1", "master = true", "processes = 1",
        "lazy-apps = %s" % ("true" if lazy else "false"),
        "http-socket = 127.0.0.1:%d" % corral.port]) + "\n")
    assert server.get("/").text == "v1"
    time.sleep(1.2)                     # let the watcher record the mtimes
    target.write_text(RELOADME.format(version="v2"))
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))

    def edited():
        try:
            r = server.get("/", timeout=5)
        except OSError:
            return False
        return r.status == 200 and r.text == "v2"
    wait_for(edited, 30, "the edited module to be served")
    assert {server.get("/").text for _ in range(8)} == {"v2"}
    if not IS_UWSGI:
        assert re.search(r"py-autoreload: .*reloadme\.py changed", server.log())


def edit(path, text, ahead_s):
    """Rewrite path and put its mtime ahead_s seconds later than now (so that
    a watcher polling once a second cannot miss the change)."""
    path.write_text(text)
    when = time.time_ns() + int(ahead_s * 1e9)
    os.utime(path, ns=(when, when))


@pytest.mark.corral_only      # uWSGI 2.0 without die-on-term also dies of it
def test_reload_requests_in_a_burst(corral):
    """What py-autoreload does with 4 workers: each asks for a reload
    within moments of the others. The master must survive and serve."""
    server = corral.start(app_ini(corral, "py6_uwsgi_facts", processes=2))
    for _ in range(3):
        end = time.monotonic() + 0.5
        while time.monotonic() < end and server.running():   # a request every ms
            os.kill(server.pid, signal.SIGHUP)
            time.sleep(0.001)
        time.sleep(1.5)
        if not server.running():
            log = server.log()
            corral.servers.remove(server)     # dead already: no stop checks
            server.kill_group()
            pytest.fail("the master died of a burst of reload requests; log:\n%s"
                        % log[-3000:])
    wait_for(lambda: server.get("/").status == 200, 15, "the server to serve again")


@pytest.mark.corral_only     # uWSGI (with need-app) exits on the broken save
def test_py_autoreload_recovers_from_a_broken_save(corral):
    target = corral.write("reloadme.py", RELOADME.format(version="v1"))
    server = corral.start("\n".join([
        "[uwsgi]", "chdir = %s" % corral.tmp, "module = reloadme", "py-autoreload = 1",
        "master = true", "processes = 1",
        "http-socket = 127.0.0.1:%d" % corral.port]) + "\n")
    server.expect_log(r"^error: ", r"SyntaxError", r"^Traceback", r"^  ")
    assert server.get("/").text == "v1"
    time.sleep(1.2)
    edit(target, "VERSION = 'v2' +\n", 2)
    server.wait_log(r"reload failed", timeout=30)
    assert server.get("/").text == "v1"            # the old code goes on
    edit(target, RELOADME.format(version="v3"), 4)

    def fixed():
        r = server.get("/", timeout=5)
        return r.status == 200 and r.text == "v3"
    wait_for(fixed, 30, "the fixed module to be served")


# --------------------------------------------------------------------------
# uwsgidecorators.postfork and the uwsgi module

def postfork_lines(markers):
    return {int(p.name): p.read_text().split() for p in markers.iterdir()}


@pytest.mark.parametrize("extra", [
    "lazy-apps = false\n",
    pytest.param("lazy-apps = true\n", marks=pytest.mark.corral_only),
    "threads = 4\n",
])
def test_postfork_runs_once_in_each_worker(corral, tmp_path, extra):
    markers = tmp_path / "postfork"
    markers.mkdir()
    server = corral.start(app_ini(corral, "py6_uwsgi_facts", extra, processes=3),
                          env={"PY6_POSTFORK_DIR": str(markers)})
    workers = sorted(server.workers())
    assert len(workers) == 3
    wait_for(lambda: len(list(markers.iterdir())) >= 3, 10, "3 postfork markers")
    for _ in range(6):
        r = server.get("/facts")
        assert r.status == 200 and json.loads(r.body)["postfork_ran_here"], r
    time.sleep(0.3)
    got = postfork_lines(markers)
    assert sorted(got) == workers, "markers %r, workers %r" % (got, workers)
    assert all(lines == [str(pid)] for pid, lines in got.items()), got
    assert server.pid not in got                 # not in the master

    # a respawned worker runs it too, once
    victim = workers[0]
    os.kill(victim, 9)
    server.expect_log(r"killed by signal|signal 9|SIGKILL")
    wait_for(lambda: len(set(server.workers()) - set(workers)) == 1, 15,
             "a replacement worker")
    new = (set(server.workers()) - set(workers)).pop()
    wait_for(lambda: new in postfork_lines(markers), 10, "the new worker's marker")
    got = postfork_lines(markers)
    assert got[new] == [str(new)]
    assert all(lines == [str(pid)] for pid, lines in got.items()), got


def test_uwsgi_module_facts(corral):
    server = corral.start(app_ini(corral, "py6_uwsgi_facts", processes=2,
                                  extra="pythonpath = %s\n" % HELLO_DIR))
    workers = set(server.workers())
    seen = {}
    deadline = time.monotonic() + 15
    while len(seen) < 2 and time.monotonic() < deadline:
        r = server.get("/facts")
        assert r.status == 200, r
        facts = json.loads(r.body)
        seen[facts["pid"]] = facts
    assert set(seen) == workers, (seen.keys(), workers)
    assert sorted(f["worker_id"] for f in seen.values()) == [1, 2]
    for f in seen.values():
        assert f["numproc"] == 2
        assert f["masterpid"] == server.pid
        assert f["mule_id"] == 0
        assert f["total_requests"] >= 0
        assert f["postfork_via"] == ("post_fork_hook" if IS_UWSGI else "uwsgidecorators")
        assert f["version"].startswith("2.")
        opt = f["opt"]
        assert opt["module"] == "py6_uwsgi_facts"
        assert opt["processes"] == "2"
        assert opt["http-socket"] == "127.0.0.1:%d" % corral.port
        assert opt["master"] in ("true", "1")
        # a repeated option
        assert opt["pythonpath"] == str(HELLO_DIR)     # uWSGI 2.0: the last one


def test_total_requests_counts_this_workers_requests(corral):
    server = corral.start(app_ini(corral, "py6_uwsgi_facts"))
    counts = [json.loads(server.get("/facts").body)["total_requests"] for _ in range(4)]
    assert counts == [counts[0] + i for i in range(4)], counts


# --------------------------------------------------------------------------
# mounts

def test_mount_flask_under_api(corral):
    server = corral.start("\n".join([
        "[uwsgi]", "chdir = %s" % corral.tmp, "pythonpath = %s" % APPS,
        "module = py6_wsgi:application", "mount = /api=py6_flask:app",
        "manage-script-name = true", "master = true", "processes = 1",
        "http-socket = 127.0.0.1:%d" % corral.port, "socket = %s" % corral.sock]) + "\n")
    r = server.get("/api/where/plain")
    assert r.status == 200, r
    assert json.loads(r.body) == {"name": "plain", "script_root": "/api",
                                  "path": "/where/plain", "url": "/api/where/plain",
                                  "script_name": "/api", "path_info": "/where/plain"}
    # PATH_INFO percent-decoded, as latin-1 code points of the UTF-8 bytes
    r = server.get("/api/where/caf%C3%A9")
    assert r.status == 200, r
    got = json.loads(r.body)
    assert got["name"] == "caf\u00e9"
    assert got["path_info"] == "/where/caf\u00c3\u00a9"
    assert got["url"] == "/api/where/caf%C3%A9"
    # outside the mount: the default app, SCRIPT_NAME empty
    assert server.get("/").body == b"Hello, validated!"
    assert server.get("/apix").status == 404
    # the same over the uwsgi socket, without SCRIPT_NAME from nginx
    r = uwsgi_request(corral.sock, "GET", "/api/where/x")
    assert r.status == 200 and json.loads(r.body)["script_root"] == "/api", r
    server.wait_log(r"mounted at '/api'|mountpoint='/api'")


# --------------------------------------------------------------------------
# apps that break PEP 3333

BAD_CASES = {
    "/non-iterable": r"int|iterable",
    "/str-items": r"str|bytes",
    "/headers-dict": r"headers must be a list|dict",
    "/headers-lists": r"tuple|list",
    "/headers-bytes": r"str|bytes",
    "/twice": r"start_response.*(twice|again)",
}


@pytest.fixture
def bad_server(corral):
    server = corral.start(app_ini(corral, "py6_bad", "mount = /lc=py6_bad:looks_callable\n"))
    server.expect_log(r"^error: ", r"^Traceback", r"^  ", r"^\w*(Error|Exception)\b")
    return server


REQUEST_LINE = re.compile(r"^\[pid: \d+\|")


def other_lines(server):
    """Log lines that are not request log lines."""
    return [l for l in server.log().splitlines() if not REQUEST_LINE.match(l)]


@pytest.mark.corral_only      # uWSGI's log lines differ (tracebacks, no names)
@pytest.mark.parametrize("path", list(BAD_CASES) + ["/lc/"])
def test_bad_app_gives_500_and_keeps_serving(bad_server, path):
    """A 500, one log line that names the problem (no traceback of the
    server's internals), and the same worker serves the next request."""
    server = bad_server
    pid = pid_of(server)
    before = len(other_lines(server))
    r = server.get(path)
    assert r.status == 500, r
    assert pid_of(server) == pid, "the worker died"
    assert server.get("/").body == b"fine"
    wait_for(lambda: len(other_lines(server)) > before, 5, "a log line")
    time.sleep(0.2)
    new = other_lines(server)[before:]
    assert len(new) == 1, "want one log line, got:\n%s" % "\n".join(new)
    assert re.search(BAD_CASES.get(path, r"not callable"), new[0]), new[0]


@pytest.mark.corral_only      # uWSGI starts with the default app alone
def test_non_callable_mount_is_named_at_start(corral):
    ini = corral.write("nc.ini", app_ini(corral, "py6_bad", "need-app = true\n"
                                         "mount = /nc=py6_bad:not_callable\n"))
    p = run(["--ini", str(ini)], cwd=corral.tmp)
    out = p.stdout + p.stderr
    assert p.returncode != 0, out
    assert re.search(r"not_callable.*not callable", out), out
    assert "/nc" in out


@pytest.mark.corral_only
def test_non_callable_mount_without_need_app_serves_500s(corral):
    server = corral.start(app_ini(corral, "py6_bad", "need-app = false\n"
                                  "mount = /nc=py6_bad:not_callable\n"))
    server.expect_log(r"^error: .*not callable", r"^error: cannot load the app mounted")
    assert server.get("/").body == b"fine"
    r = server.get("/nc/x")
    assert r.status == 500, r
    assert server.get("/").body == b"fine"


# --------------------------------------------------------------------------
# C extension modules, and the Python plugin built into the binary

def test_c_extension_modules_work_in_the_worker(corral):
    """Debian's extension modules take the C API from the process: from
    libpython3.X.so, or from the corral binary when the plugin is built in
    (CORRAL_PYTHON_STATIC). Each is imported and used in a worker."""
    server = corral.start(app_ini(corral, "py6_ext", processes=2), processes=2)
    for _ in range(2):
        r = server.get("/")
        assert r.status == 200, r
        lines = r.body.decode().splitlines()
        assert lines[-1].startswith("version 3."), lines
        failed = [l for l in lines[:-1] if not l.endswith(" ok")]
        assert not failed and len(lines) == 11, r.body.decode()


def built_in_plugins():
    p = run(["--version"])
    m = re.search(r"^built-in plugins: (.*)$", p.stdout, re.M)
    return m.group(1).split() if m else []


def mapped_files(pid):
    return {line.split()[-1] for line in Path("/proc/%d/maps" % pid).read_text().splitlines()
            if "/" in line}


@pytest.mark.corral_only
@pytest.mark.parametrize("plugins", ["python3", "python311", "/usr/lib/uwsgi/plugins/python3_plugin.so",
                                     "corral_python.so next to the binary"])
def test_built_in_python_is_the_only_interpreter(corral, plugins):
    """With the Python plugin built in, every way of asking for it (uWSGI's
    names, a path, even the path of corral_python.so) gets the built-in one:
    libpython3.X.so, a second interpreter, is never mapped."""
    if "python" not in built_in_plugins():
        pytest.skip("this corral loads corral_python.so (CORRAL_PYTHON_STATIC off)")
    if plugins.startswith("corral_python.so"):
        plugins = str(Path(CORRAL_BIN).resolve().parent / "plugins" / "corral_python.so")
        assert Path(plugins).exists(), plugins
    server = corral.start("[uwsgi]\nplugins = %s\n" % plugins + app_ini(corral, "py6_ext")
                          .replace("[uwsgi]\n", ""))
    r = server.get("/")
    assert r.status == 200 and b"FAILED" not in r.body, r
    (worker,) = server.workers()
    for pid in (server.pid, worker):
        libs = [f for f in mapped_files(pid) if "libpython" in f]
        assert not libs, "pid %d maps %s" % (pid, libs)
