"""Static files (issue 5) over both the HTTP and the uwsgi socket: MIME
types, Last-Modified/ETag and 304, Range (206/416), HEAD, static-gzip,
static-index, static-expires-*, traversal attempts; and the Django example
mounted at /api beside a front end served from / by static-map.

Each static test runs once per transport: "http" sends an HTTP/1.1 request
to the http-socket, "uwsgi" sends the uwsgi packet nginx would send (request
headers as HTTP_* vars) to the uwsgi socket. The answer is checked as bytes
on the wire."""
import email.utils
import gzip
import json
import os
import re
import time

import pytest

from conftest import DJANGO_DIR, Response, exchange, uwsgi_packet, uwsgi_request, uwsgi_vars

pytestmark = pytest.mark.corral_only

SECRET = b"TOP-SECRET-OUTSIDE-THE-ROOT"
BIG = bytes((i * 31 + 7) & 0xFF for i in range(100000))
HELLO = b"static hello\n"
CSS = b"body { color: #123456; }\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
JSON = b'{"static": true}\n'
INDEX = b"<!doctype html><title>sub index</title>\n"
HUGE = bytes((i * 13 + 5) & 0xFF for i in range(5 * 1024 * 1024 + 3))
MTIME = 1700000000          # Tue, 14 Nov 2023 22:13:20 GMT

APP = r'''
def application(environ, start_response):
    body = ("app %s %s" % (environ["REQUEST_METHOD"], environ["PATH_INFO"])).encode()
    start_response("404 Not Found", [("Content-Type", "text/plain"),
                                     ("Content-Length", str(len(body)))])
    return [body]
'''


def make_tree(tmp):
    root, outside = tmp / "root", tmp / "outside"
    (root / "sub").mkdir(parents=True)
    (root / "emptydir").mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    files = {"hello.txt": HELLO, "style.css": CSS, "pic.png": PNG, "data.json": JSON,
             "big.bin": BIG, "sub/index.html": INDEX,
             "hello.txt.gz": gzip.compress(HELLO, mtime=0)}
    for name, data in files.items():
        (root / name).write_bytes(data)
    for name in files:
        os.utime(root / name, (MTIME, MTIME))
    (root / "a b \u00e9.txt").write_bytes(b"spaced name\n")
    (root / "huge.bin").write_bytes(HUGE)
    (tmp / "docs" / "static2").mkdir(parents=True)
    (tmp / "docs" / "static2" / "two.txt").write_bytes(b"map2 file\n")
    (tmp / "checked").mkdir()
    (tmp / "checked" / "robots.txt").write_bytes(b"User-agent: *\n")
    (tmp / "single.txt").write_bytes(b"single file map\n")
    (root / "escape.txt").symlink_to(outside / "secret.txt")
    (root / "escdir").symlink_to(outside)
    (root / "rel-escape.txt").symlink_to("../outside/secret.txt")
    (root / "inside-link.txt").symlink_to("hello.txt")
    return root


def static_ini(corral):
    root = make_tree(corral.tmp)
    corral.write("static_app.py", APP)
    return "\n".join([
        "[uwsgi]", "chdir = %s" % corral.tmp, "module = static_app:application",
        "master = true", "processes = 1",
        "http-socket = 127.0.0.1:%d" % corral.port, "socket = %s" % corral.sock,
        "static-map = /static=%s" % root,
        "static-map = /favicon.ico=%s" % (corral.tmp / "single.txt"),
        "static-map2 = /static2=%s" % (corral.tmp / "docs"),
        "check-static = %s" % (corral.tmp / "checked"),
        "static-index = index.html",
        "static-gzip-all = true",
        r"static-expires-uri = ^/static/style\.css$ 3600",
        "static-expires-type = image/png=7200",
    ]) + "\n"


@pytest.fixture
def static_server(corral):
    server = corral.start(static_ini(corral))
    server.expect_log(r"^warning: static: ")
    server.fd_probe = "/static/hello.txt"
    return server


def fetch(server, transport, path, method="GET", headers=None):
    """One request; returns (Response, raw bytes)."""
    headers = dict(headers or {})
    if transport == "http":
        hdrs = {"Host": "localhost", "Connection": "close"}
        hdrs.update(headers)
        head = "%s %s HTTP/1.1\r\n" % (method, path)
        head += "".join("%s: %s\r\n" % kv for kv in hdrs.items()) + "\r\n"
        raw = exchange(server.http[0], head.encode("latin-1"))
    else:
        uri = path
        path, _, query = path.partition("?")
        extra = [("HTTP_" + k.upper().replace("-", "_"), v) for k, v in headers.items()]
        pairs = [(k, uri if k == "REQUEST_URI" else v)
                 for k, v in uwsgi_vars(method, path, query, b"", extra)]
        raw = exchange(server.uwsgi[0], uwsgi_packet(pairs))
    r = Response(raw)
    if method == "HEAD":
        assert raw.endswith(b"\r\n\r\n"), "HEAD answered with a body: %r" % raw[-200:]
    return r, raw


TRANSPORTS = ["http", "uwsgi"]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("name,data,ctype", [
    ("hello.txt", HELLO, "text/plain"),
    ("style.css", CSS, "text/css"),
    ("pic.png", PNG, "image/png"),
    ("data.json", JSON, "application/json"),
    ("big.bin", BIG, "application/octet-stream"),
], ids=["txt", "css", "png", "json", "bin"])
def test_file_with_its_mime_type(static_server, transport, name, data, ctype):
    r, _ = fetch(static_server, transport, "/static/" + name)
    assert r.status == 200, r
    assert r.body == data
    assert r.header("Content-Length") == str(len(data))
    assert r.header("Content-Type").split(";")[0].strip() == ctype, r.headers


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_last_modified_etag_and_304(static_server, transport):
    r, _ = fetch(static_server, transport, "/static/hello.txt")
    assert r.status == 200
    lm, etag = r.header("Last-Modified"), r.header("ETag")
    assert lm == "Tue, 14 Nov 2023 22:13:20 GMT", lm
    assert etag and re.match(r'^(W/)?"[^"]+"$', etag), etag
    for headers in ({"If-None-Match": etag}, {"If-Modified-Since": lm},
                    {"If-None-Match": '"other", %s' % etag},
                    {"If-Modified-Since": email.utils.formatdate(MTIME + 3600, usegmt=True)}):
        r, raw = fetch(static_server, transport, "/static/hello.txt", headers=headers)
        assert r.status == 304, (headers, r)
        assert raw.endswith(b"\r\n\r\n"), "304 with a body: %r" % raw
        assert r.header("ETag") == etag
    for headers in ({"If-None-Match": '"other"'},
                    {"If-Modified-Since": email.utils.formatdate(MTIME - 3600, usegmt=True)},
                    # If-None-Match wins over If-Modified-Since
                    {"If-None-Match": '"other"', "If-Modified-Since": lm}):
        r, _ = fetch(static_server, transport, "/static/hello.txt", headers=headers)
        assert r.status == 200 and r.body == HELLO, (headers, r)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("spec,start,end", [
    ("bytes=0-9", 0, 9),
    ("bytes=99990-", 99990, 99999),
    ("bytes=-10", 99990, 99999),
    ("bytes=500-500", 500, 500),
    ("bytes=99000-200000", 99000, 99999),
])
def test_range_206(static_server, transport, spec, start, end):
    r, _ = fetch(static_server, transport, "/static/big.bin", headers={"Range": spec})
    assert r.status == 206, r
    assert r.header("Content-Range") == "bytes %d-%d/100000" % (start, end)
    assert r.header("Content-Length") == str(end - start + 1)
    assert r.body == BIG[start:end + 1]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("spec", ["bytes=100000-", "bytes=200000-300000"])
def test_range_416(static_server, transport, spec):
    r, raw = fetch(static_server, transport, "/static/big.bin", headers={"Range": spec})
    assert r.status == 416, r
    assert r.header("Content-Range") == "bytes */100000"
    assert BIG[:100] not in raw


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("spec", ["bytes=0-1,5-6", "bytes=x-y", "items=0-1"])
def test_range_ignored_gives_the_whole_file(static_server, transport, spec):
    r, _ = fetch(static_server, transport, "/static/big.bin", headers={"Range": spec})
    assert r.status == 200 and r.body == BIG


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_head(static_server, transport):
    r, raw = fetch(static_server, transport, "/static/big.bin", method="HEAD")
    assert r.status == 200
    assert r.header("Content-Length") == "100000"
    assert r.header("ETag") and r.header("Last-Modified")
    assert raw.endswith(b"\r\n\r\n") and BIG[:50] not in raw


def test_head_keeps_the_connection_usable(static_server):
    raw = exchange(static_server.http[0],
                   b"HEAD /static/hello.txt HTTP/1.1\r\nHost: a\r\n\r\n"
                   b"GET /static/style.css HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                   timeout=10)
    first, _, rest = raw.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200 ") and b"Content-Length: 13" in first
    assert rest.startswith(b"HTTP/1.1 200 "), "HEAD sent a body: %r" % rest[:100]
    assert Response(rest).body == CSS


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_static_gzip(static_server, transport):
    r, _ = fetch(static_server, transport, "/static/hello.txt",
                 headers={"Accept-Encoding": "gzip, deflate"})
    assert r.status == 200
    assert r.header("Content-Encoding") == "gzip"
    assert "accept-encoding" in (r.header("Vary") or "").lower()
    assert gzip.decompress(r.body) == HELLO
    assert r.header("Content-Type").startswith("text/plain"), "type of the .gz, not the file"
    for headers in ({}, {"Accept-Encoding": "gzip;q=0"}, {"Accept-Encoding": "br"}):
        r, _ = fetch(static_server, transport, "/static/hello.txt", headers=headers)
        assert r.header("Content-Encoding") is None, headers
        assert r.body == HELLO
    # no .gz sibling: the file itself
    r, _ = fetch(static_server, transport, "/static/style.css",
                 headers={"Accept-Encoding": "gzip"})
    assert r.header("Content-Encoding") is None and r.body == CSS


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_static_index(static_server, transport):
    r, _ = fetch(static_server, transport, "/static/sub/")
    assert r.status == 200 and r.body == INDEX
    assert r.header("Content-Type").startswith("text/html")
    r, _ = fetch(static_server, transport, "/static/sub?x=1")
    assert r.status == 301, r
    assert r.header("Location") == "/static/sub/?x=1"
    # a directory without an index goes to the app
    r, _ = fetch(static_server, transport, "/static/emptydir/")
    assert r.status == 404 and r.body == b"app GET /static/emptydir/"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_static_expires(static_server, transport):
    for path, seconds in (("/static/style.css", 3600), ("/static/pic.png", 7200)):
        r, _ = fetch(static_server, transport, path)
        assert r.status == 200
        m = re.match(r"max-age=(\d+)$", r.header("Cache-Control") or "")
        assert m and seconds - 60 <= int(m.group(1)) <= seconds, r.headers
        expires = email.utils.parsedate_to_datetime(r.header("Expires")).timestamp()
        assert abs(expires - (time.time() + seconds)) < 120, r.header("Expires")
    r, _ = fetch(static_server, transport, "/static/hello.txt")
    assert r.header("Expires") is None and r.header("Cache-Control") is None


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_missing_file_and_post_go_to_the_app(static_server, transport):
    r, _ = fetch(static_server, transport, "/static/nope.txt")
    assert r.status == 404 and r.body == b"app GET /static/nope.txt"
    r, _ = fetch(static_server, transport, "/static/hello.txt", method="POST")
    assert r.body == b"app POST /static/hello.txt"
    r, _ = fetch(static_server, transport, "/staticfoo/hello.txt")
    assert r.body == b"app GET /staticfoo/hello.txt"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_if_range(static_server, transport):
    r, _ = fetch(static_server, transport, "/static/big.bin")
    etag = r.header("ETag")
    r, _ = fetch(static_server, transport, "/static/big.bin",
                 headers={"Range": "bytes=0-3", "If-Range": etag})
    assert r.status == 206 and r.body == BIG[:4]
    r, _ = fetch(static_server, transport, "/static/big.bin",
                 headers={"Range": "bytes=0-3", "If-Range": '"stale"'})
    assert r.status == 200 and r.body == BIG


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_if_none_match_weak_and_star(static_server, transport):
    r, _ = fetch(static_server, transport, "/static/hello.txt")
    etag = r.header("ETag")
    for inm in ("W/" + etag, "*", '"a", W/%s, "b"' % etag):
        r, raw = fetch(static_server, transport, "/static/hello.txt",
                       headers={"If-None-Match": inm})
        assert r.status == 304, (inm, r)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_garbage_if_modified_since_is_ignored(static_server, transport):
    r, _ = fetch(static_server, transport, "/static/hello.txt",
                 headers={"If-Modified-Since": "yesterday, more or less"})
    assert r.status == 200 and r.body == HELLO


def test_encoded_file_name_and_query(static_server):
    r, _ = fetch(static_server, "http", "/static/a%20b%20%C3%A9.txt?v=3")
    assert r.status == 200 and r.body == b"spaced name\n", r
    r, _ = fetch(static_server, "uwsgi", "/static/a b \u00e9.txt?v=3")
    assert r.status == 200 and r.body == b"spaced name\n", r


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_static_map2_check_static_and_single_file_map(static_server, transport):
    r, _ = fetch(static_server, transport, "/static2/two.txt")
    assert r.status == 200 and r.body == b"map2 file\n"
    r, _ = fetch(static_server, transport, "/robots.txt")
    assert r.status == 200 and r.body == b"User-agent: *\n"
    r, _ = fetch(static_server, transport, "/favicon.ico")
    assert r.status == 200 and r.body == b"single file map\n"
    r, _ = fetch(static_server, transport, "/favicon.ico/x")
    assert r.body == b"app GET /favicon.ico/x"


def read_all(s, deadline_s=60):
    raw = b""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        raw += chunk
    return raw


def test_huge_file_then_the_next_request(static_server):
    """The pipelined request after a 5 MiB sendfile follows its last byte."""
    import socket
    with socket.create_connection(static_server.http[0], timeout=30) as s:
        s.sendall(b"GET /static/huge.bin HTTP/1.1\r\nHost: a\r\n\r\n"
                  b"GET /static/hello.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        raw = read_all(s)
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert b"Content-Length: %d" % len(HUGE) in head
    assert rest[:len(HUGE)] == HUGE, "the file arrived damaged (%d bytes)" % len(rest)
    r = Response(rest[len(HUGE):])
    assert r.status == 200 and r.body == HELLO


def test_huge_file_to_a_slow_but_steady_reader_arrives_whole(corral):
    """A reader with a 4 KiB window for 3 s (more than socket-timeout = 1,
    while bytes keep flowing), then at full speed: the whole file."""
    import socket
    server = corral.start(static_ini(corral) + "socket-timeout = 1\n")
    server.fd_probe = "/static/hello.txt"
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(30)
    s.connect(server.http[0])
    with s:
        s.sendall(b"GET /static/huge.bin HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        raw = b""
        slow_until = time.monotonic() + 3
        while time.monotonic() < slow_until:
            raw += s.recv(4096)
        assert len(raw) > 10000, "no progress in the slow phase: %d bytes" % len(raw)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        raw += read_all(s)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"Content-Length: %d" % len(HUGE) in head
    assert len(body) == len(HUGE), "got %d of %d bytes" % (len(body), len(HUGE))
    assert body == HUGE


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_symlink_inside_the_root_is_served(static_server, transport):
    r, _ = fetch(static_server, transport, "/static/inside-link.txt")
    assert r.status == 200 and r.body == HELLO


TRAVERSALS = [
    "/static/../outside/secret.txt",
    "/static/%2e%2e/outside/secret.txt",
    "/static/%2E%2E/outside/secret.txt",
    "/static/.%2e/outside/secret.txt",
    "/static/..%2foutside/secret.txt",
    "/static/sub/../../outside/secret.txt",
    "/static/%2e%2e%2foutside%2fsecret.txt",
    "/static/hello.txt%00.png",
    "/static/%00../outside/secret.txt",
    "/static/escape.txt",
    "/static/rel-escape.txt",
    "/static/escdir/secret.txt",
    "/static//%2e%2e//outside/secret.txt",
    "/static/..\\outside\\secret.txt",
    "/static/%252e%252e/outside/secret.txt",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_traversal_over_http(static_server, path):
    r, raw = fetch(static_server, "http", path)
    assert SECRET not in raw, raw
    assert r.status in (400, 403, 404), r
    assert b"static hello" not in raw


@pytest.mark.parametrize("path", TRAVERSALS)
def test_traversal_over_uwsgi(static_server, path):
    """nginx passes PATH_INFO decoded; a client of the uwsgi socket (or a
    proxy that does not normalise) may pass anything."""
    decoded = re.sub(r"%([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), path)
    for p in {path, decoded}:
        pairs = [(k, path if k == "REQUEST_URI" else v)
                 for k, v in uwsgi_vars("GET", p, "", b"", ())]
        raw = exchange(static_server.uwsgi[0], uwsgi_packet(pairs))
        assert SECRET not in raw, (p, raw)
        assert re.match(rb"HTTP/1\.[01] (400|403|404) ", raw), (p, raw[:200])
        assert b"static hello" not in raw, (p, raw)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_static_403_is_dated(static_server, transport):
    r, raw = fetch(static_server, transport, "/static/escape.txt")
    assert r.status == 403, raw
    assert r.header("Date"), raw


def test_no_static_file_outside_root_even_when_it_exists(static_server, corral):
    """The file outside is real and readable: only the mapping stops it."""
    assert (corral.tmp / "outside" / "secret.txt").read_bytes() == SECRET
    r, _ = fetch(static_server, "http", "/static/escape.txt")
    assert r.status in (403, 404)


# ---------------------------------------------------------------------------
# Django mounted at /api, a front end at /

FRONT_INDEX = b"<!doctype html><title>front end</title><script src=/static/app.js></script>\n"
FRONT_JS = b"fetch('/api/echo/');\n"

PROBE_SETTINGS = """\
from mysite.settings import *  # noqa: the example's settings
ROOT_URLCONF = "h11_urls"
"""

PROBE_URLS = '''\
"""The example's URLs plus two probes of the script prefix."""
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse

from mysite.urls import urlpatterns as site


def where(request):
    return HttpResponse("%s %s %s %s" % (
        reverse("form"), request.build_absolute_uri(reverse("echo")),
        request.META.get("SCRIPT_NAME"), request.path_info), content_type="text/plain")


def go(request):
    return redirect("form")


urlpatterns = site + [path("where/", where), path("go/", go)]
'''


def django_mount_ini(corral, staticfiles):
    front = corral.tmp / "front"
    front.mkdir()
    (front / "index.html").write_bytes(FRONT_INDEX)
    (front / "app.js").write_bytes(FRONT_JS)
    corral.write("h11_settings.py", PROBE_SETTINGS)
    corral.write("h11_urls.py", PROBE_URLS)
    return "\n".join([
        "[uwsgi]", "chdir = %s" % DJANGO_DIR, "pythonpath = %s" % corral.tmp,
        "mount = /api=mysite.wsgi:application", "manage-script-name = true",
        "env = DJANGO_SETTINGS_MODULE=h11_settings",
        "master = true", "processes = 2",
        "http-socket = 127.0.0.1:%d" % corral.port, "socket = %s" % corral.sock,
        "static-map = /static=%s" % staticfiles,
        "static-map = /=%s" % front,
        "static-index = index.html",
    ]) + "\n"


@pytest.fixture
def django_server(corral, staticfiles):
    server = corral.start(django_mount_ini(corral, staticfiles))
    server.fd_probe = "/api/pid/"
    return server


def test_front_end_index_from_static_map(django_server):
    r = django_server.get("/")
    assert r.status == 200 and r.body == FRONT_INDEX
    assert r.header("Content-Type").startswith("text/html")
    r = django_server.get("/app.js")
    assert r.status == 200 and r.body == FRONT_JS
    r = django_server.get("/static/pages/style.css")
    assert r.status == 200 and b"corral-example-stylesheet" in r.body
    assert r.header("Content-Type").startswith("text/css")


def test_django_under_api(django_server):
    r = django_server.get("/api/")
    assert r.status == 200 and b"Hello from Django on Corral" in r.body, r
    r = django_server.get("/api/echo/?x=1")
    assert r.status == 200, r
    data = json.loads(r.body)
    assert data["path"] == "/api/echo/" and data["query"] == "x=1"
    r = django_server.request("POST", "/api/echo/", body=b"posted",
                              headers={"Content-Type": "text/plain"})
    data = json.loads(r.body)
    assert data["method"] == "POST" and data["body"] == "posted" and data["length"] == 6


def test_django_reverse_and_redirects_carry_the_prefix(django_server):
    r = django_server.get("/api/where/")
    assert r.status == 200, r
    assert r.text == "/api/form/ http://localhost/api/echo/ /api /where/", r.text
    r = django_server.get("/api/go/")
    assert r.status == 302 and r.header("Location") == "/api/form/", r
    # CommonMiddleware's APPEND_SLASH redirect
    r = django_server.get("/api/echo?a=b")
    assert r.status == 301, r
    assert r.header("Location") == "/api/echo/?a=b"
    r = django_server.get("/api/form/")
    assert r.status == 200 and b"csrfmiddlewaretoken" in r.body


def test_django_form_post_with_csrf_through_the_mount(django_server):
    r = django_server.get("/api/form/")
    cookie = next(v for v in r.header_all("Set-Cookie") if v.startswith("csrftoken="))
    token_cookie = cookie.split(";")[0].split("=", 1)[1]
    assert "Path=/" in cookie, cookie
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', r.body).group(1).decode()
    body = "csrfmiddlewaretoken=%s&name=mounted" % token
    r = django_server.request("POST", "/api/form/", body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": "csrftoken=%s" % token_cookie})
    assert r.status == 200, r
    assert b'<span id="name">mounted</span>' in r.body


def test_django_404_and_mount_boundaries(django_server):
    r = django_server.get("/api/nothing-here/")
    assert r.status == 404
    r = django_server.get("/apix/echo/")
    assert r.status == 404 and b'"path"' not in r.body, r
    r = django_server.get("/api")
    assert r.status in (200, 301, 302), r
    if r.status == 200:
        assert b"Hello from Django on Corral" in r.body
    else:
        assert r.header("Location") in ("/api/", "http://localhost/api/")


def test_django_routes_are_not_served_without_the_prefix(django_server):
    r = django_server.get("/echo/")
    assert r.status == 404, r
    assert b'"path"' not in r.body


def test_mount_over_the_uwsgi_socket(django_server, corral):
    r = uwsgi_request(corral.sock, "GET", "/api/where/")
    assert r.status == 200, r
    assert r.text == "/api/form/ http://localhost/api/echo/ /api /where/", r.text
    r = uwsgi_request(corral.sock, "GET", "/")
    assert r.status == 200 and r.body == FRONT_INDEX
    r = uwsgi_request(corral.sock, "GET", "/static/pages/style.css")
    assert r.status == 200 and b"corral-example-stylesheet" in r.body


def test_front_end_and_api_on_one_keepalive_connection(django_server):
    reqs = [b"/", b"/api/echo/", b"/static/pages/style.css", b"/api/where/", b"/app.js"]
    raw = exchange(django_server.http[0],
                   b"".join(b"GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % p for p in reqs[:-1])
                   + b"GET /app.js HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                   timeout=15)
    bodies = []
    while raw:
        head, _, raw = raw.partition(b"\r\n\r\n")
        r = Response(head + b"\r\n\r\n")
        n = int(r.header("Content-Length"))
        assert r.status == 200, (head, bodies)
        bodies.append(raw[:n])
        raw = raw[n:]
    assert len(bodies) == 5
    assert bodies[0] == FRONT_INDEX
    assert b'"path": "/api/echo/"' in bodies[1]
    assert b"corral-example-stylesheet" in bodies[2]
    assert bodies[3].startswith(b"/api/form/")
    assert bodies[4] == FRONT_JS


# ---------------------------------------------------------------------------
# mount forms and the SCRIPT_NAME / PATH_INFO split

MOUNT_APP = '''
def {name}(environ, start_response):
    body = ("{tag}|%s|%s" % (environ.get("SCRIPT_NAME", "-"),
                             environ.get("PATH_INFO", "-"))).encode("latin-1")
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
'''


@pytest.fixture
def mounts_server(corral):
    corral.write("mount_a.py", MOUNT_APP.format(name="application", tag="A"))
    corral.write("mount_b.py", MOUNT_APP.format(name="application", tag="B"))
    corral.write("mount_c.py", MOUNT_APP.format(name="app", tag="C"))
    corral.write("mount_default.py", MOUNT_APP.format(name="application", tag="D"))
    return corral.start("\n".join([
        "[uwsgi]", "chdir = %s" % corral.tmp, "master = true", "processes = 1",
        "http-socket = 127.0.0.1:%d" % corral.port, "socket = %s" % corral.sock,
        "module = mount_default",
        "mount = /a=%s" % (corral.tmp / "mount_a.py"),      # file.py form
        "mount = /b=mount_b",                               # module form
        "mount = /b/c=mount_c:app",                         # module:callable form
        "manage-script-name = true",
    ]) + "\n")


@pytest.mark.parametrize("path,want", [
    ("/a/x", "A|/a|/x"),
    ("/a", "A|/a|"),
    ("/a/", "A|/a|/"),
    ("/ab", "D||/ab"),
    ("/b/y/z", "B|/b|/y/z"),
    ("/b/c/z", "C|/b/c|/z"),
    ("/b/cz", "B|/b|/cz"),
    ("/other", "D||/other"),
    ("/b/%C3%A9", "B|/b|/\u00e9".encode().decode("latin-1")),
])
def test_mount_forms_and_longest_prefix(mounts_server, path, want):
    r = mounts_server.get(path)
    assert r.status == 200 and r.body.decode("latin-1") == want, r


@pytest.mark.parametrize("modifier1,script_name,path,want", [
    (0, "", "/b/c/z", "C|/b/c|/z"),          # nginx without SCRIPT_NAME
    (30, "/b", "/b/y", "B|/b|/y"),           # uWSGI's modifier1 30 strips it
    (0, "/b", "/y", "B|/b|/y"),              # SCRIPT_NAME already split
    (30, "/a", "/a", "A|/a|"),
])
def test_mount_over_uwsgi(mounts_server, corral, modifier1, script_name, path, want):
    pairs = [(k, v) for k, v in uwsgi_vars("GET", path) if k != "SCRIPT_NAME"]
    pairs.append(("SCRIPT_NAME", script_name))
    raw = exchange(corral.sock, uwsgi_packet(pairs, modifier1=modifier1))
    r = Response(raw)
    assert r.status == 200 and r.body.decode() == want, r


def test_django_mount_behind_nginx(django_server, nginx):
    """nginx passes everything but /static/ to the uwsgi socket, with no
    SCRIPT_NAME: the mount still splits /api off."""
    r = nginx.get("/api/where/")
    assert r.status == 200, r
    assert r.text == "/api/form/ http://localhost/api/echo/ /api /where/", r.text
    r = nginx.get("/api/echo")
    assert r.status == 301 and r.header("Location") == "/api/echo/", r
    r = nginx.get("/")
    assert r.status == 200 and r.body == FRONT_INDEX
    r = nginx.get("/app.js")
    assert r.status == 200 and r.body == FRONT_JS


def test_head_to_django_then_the_front_end_on_one_connection(django_server):
    """Django answers HEAD with its body: the server must drop it."""
    raw = exchange(django_server.http[0],
                   b"HEAD /api/ HTTP/1.1\r\nHost: localhost\r\n\r\n"
                   b"GET /?utm=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                   timeout=15)
    first, _, rest = raw.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200 "), first
    assert b"Hello from Django" not in raw
    assert rest.startswith(b"HTTP/1.1 200 "), rest[:200]
    assert Response(rest).body == FRONT_INDEX
