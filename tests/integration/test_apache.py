"""Debian's Apache with mod_proxy_uwsgi in front of Corral, the way a site
behind Apache runs it:

    ProxyPass / uwsgi://127.0.0.1:PORT/

Apache runs in the foreground from its own config in the test's tmp dir
(unprivileged: as nobody when the tests run as root), on a free port of
127.0.0.1; Corral serves examples/hello/app.py on a TCP uwsgi socket of
127.0.0.1. What a browser would see through Apache is checked: a GET, a
POST with a body, request and response headers passed through, the app's
500, and a 1 MB response. Skipped when apache2 is not installed.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import _connect, django_ini, free_port, hello_ini, http_request, wait_for

APACHE = shutil.which("apache2", path="/usr/sbin:/usr/bin:/sbin:/bin")
MODULES = Path("/usr/lib/apache2/modules")

pytestmark = pytest.mark.skipif(
    APACHE is None or not (MODULES / "mod_proxy_uwsgi.so").exists(),
    reason="apache2 with mod_proxy_uwsgi is not installed (apt-get install apache2)")

APACHE_CONF = """\
ServerRoot "{tmp}"
ServerName localhost
Listen 127.0.0.1:{port}
PidFile "{tmp}/apache.pid"
DefaultRuntimeDir "{tmp}/apache-run"
ErrorLog "{tmp}/apache-error.log"
LogLevel warn proxy:info proxy_uwsgi:info
LoadModule mpm_event_module {modules}/mod_mpm_event.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule proxy_module {modules}/mod_proxy.so
LoadModule proxy_uwsgi_module {modules}/mod_proxy_uwsgi.so
{user}
StartServers 1
ServerLimit 1
ThreadsPerChild 8
MinSpareThreads 1
MaxSpareThreads 8
MaxRequestWorkers 8
LogFormat "%h \\"%r\\" %>s %B" short
CustomLog "{tmp}/apache-access.log" short
ProxyTimeout 30
ProxyPass / uwsgi://127.0.0.1:{upstream}/
"""


class Apache:
    def __init__(self, tmp, upstream):
        self.tmp = tmp
        self.port = free_port()
        self.addr = ("127.0.0.1", self.port)
        (tmp / "apache-run").mkdir(exist_ok=True)
        conf = tmp / "apache.conf"
        user = "User nobody\nGroup nogroup" if os.geteuid() == 0 else ""
        conf.write_text(APACHE_CONF.format(tmp=tmp, port=self.port, upstream=upstream,
                                           modules=MODULES, user=user))
        self.error_log = tmp / "apache-error.log"
        self.out = open(tmp / "apache-stdout.log", "wb")
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}
        self.proc = subprocess.Popen([APACHE, "-f", str(conf), "-DFOREGROUND"],
                                     stdin=subprocess.DEVNULL, stdout=self.out,
                                     stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)

        def accepting():
            if self.proc.poll() is not None:
                pytest.fail("apache2 exited with %s:\n%s\n%s" % (
                    self.proc.returncode, (tmp / "apache-stdout.log").read_text(),
                    self.error_log.read_text() if self.error_log.exists() else ""))
            try:
                _connect(self.addr, 1).close()
                return True
            except OSError:
                return False
        wait_for(accepting, 20, "apache2 on port %d" % self.port)

    def request(self, method, path, **kw):
        return http_request(self.addr, method, path, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def errors(self):
        return self.error_log.read_text(errors="replace") if self.error_log.exists() else ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)   # children left behind, if any
        except ProcessLookupError:
            pass
        self.proc.wait(5)
        self.out.close()


@pytest.fixture
def upstream(corral):
    """Corral with the hello app on a TCP uwsgi socket of 127.0.0.1."""
    port = free_port()
    server = corral.start(hello_ini(corral, processes=2, http=False,
                                    extra="socket = 127.0.0.1:%d\n" % port))
    server.port = port
    return server


APACHE_ERROR = re.compile(r"\[[a-z_]+:(error|crit|alert|emerg)\]")


@pytest.fixture
def apache(tmp_path, upstream):
    """Apache passing / to the upstream; after the test its error log holds
    no error (a proxy error there means Apache could not parse Corral's
    response or lost the connection)."""
    a = Apache(tmp_path, upstream.port)
    yield a
    a.stop()
    # Errors of the event MPM's own client-side lingering close (AH03092,
    # seen under ASan's slowdown) concern Apache and the test client, not
    # the proxy to Corral: only proxy and other module errors count.
    bad = [ln for ln in a.errors().splitlines()
           if APACHE_ERROR.search(ln) and "[mpm_event:" not in ln]
    assert not bad, "apache error log:\n" + "\n".join(bad)


def env_lines(body):
    return dict(line.split("=", 1) for line in body.decode().splitlines() if "=" in line)


def test_get(apache, upstream):
    r = apache.get("/")
    assert r.status == 200, (r, apache.errors())
    assert r.body == b"Hello, World!"
    assert r.header("Content-Type") == "text/plain"
    assert r.header("Content-Length") == "13"
    # Corral served it (its request log), through Apache (peer 127.0.0.1)
    upstream.wait_log(r"\] 127\.0\.0\.1 .*\{\d+ vars in \d+ bytes\} .* GET / => generated 13 bytes")


def test_environ_through_apache(apache):
    r = apache.get("/env?a=1&b=%C3%A9", headers={"Host": "shop.example"})
    assert r.status == 200, (r, apache.errors())
    env = env_lines(r.body)
    assert env["REQUEST_METHOD"] == "GET"
    assert env["PATH_INFO"] == "/env"
    assert env["QUERY_STRING"] == "a=1&b=%C3%A9"
    assert env["HTTP_HOST"] == "shop.example"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["wsgi.url_scheme"] == "http"


def test_post_with_body_and_headers(apache):
    body = bytes(range(256)) * 400           # 100 kB, every byte value
    r = apache.request("POST", "/echo", body=body,
                       headers={"Content-Type": "application/x-test; charset=binary"})
    assert r.status == 200, (r, apache.errors())
    assert r.body == body
    # a response header set by the app reaches the client
    assert r.header("X-Body-Length") == str(len(body))
    # and the request's Content-Type and Content-Length reach the app
    r = apache.request("POST", "/env", body=b"abc",
                       headers={"Content-Type": "text/x-sample"})
    env = env_lines(r.body)
    assert env["CONTENT_TYPE"] == "text/x-sample"
    assert env["CONTENT_LENGTH"] == "3"
    assert env["REQUEST_METHOD"] == "POST"


def test_small_post_form(apache):
    r = apache.request("POST", "/echo", body="name=Zo%C3%A9&x=1",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 200, (r, apache.errors())
    assert r.body == b"name=Zo%C3%A9&x=1"


def test_app_error_is_a_500(apache, upstream):
    upstream.expect_log(r"^Traceback")
    r = apache.get("/error")
    assert r.status == 500, (r, apache.errors())
    upstream.wait_log(r"RuntimeError: hello app: /error always fails")
    # the next request is served normally
    r = apache.get("/")
    assert r.status == 200 and r.body == b"Hello, World!", r


def test_app_404_passes_through(apache):
    r = apache.get("/nothing-here")
    assert r.status == 404, (r, apache.errors())
    assert r.body == b"Not Found"


def test_one_megabyte_response(apache):
    size = 1024 * 1024
    t0 = time.monotonic()
    r = apache.get("/big?%d" % size)
    assert r.status == 200, (r, apache.errors())
    assert len(r.body) == size and r.body == b"x" * size
    assert r.header("Content-Length") == str(size)
    assert time.monotonic() - t0 < 10


def test_many_requests_over_one_apache(apache, upstream):
    """Apache opens a new uwsgi connection per request: 200 of them in a
    row are all served, by the configured 2 workers."""
    pids = set()
    for i in range(200):
        r = apache.get("/pid" if i % 2 else "/")
        assert r.status == 200, (i, r, apache.errors())
        if i % 2:
            pids.add(int(r.body))
    assert pids <= set(upstream.workers()) and len(upstream.workers()) == 2


def test_django_through_apache(tmp_path, corral):
    """The Django example behind Apache: a page, and a POST to its JSON echo."""
    port = free_port()
    corral.start(django_ini(corral, processes=1, http=False,
                            extra="socket = 127.0.0.1:%d\n" % port))
    a = Apache(tmp_path, port)
    try:
        r = a.get("/")
        assert r.status == 200, (r, a.errors())
        assert b"<html" in r.body.lower() or b"<!doctype" in r.body.lower(), r
        r = a.request("POST", "/echo/?q=1", body="h\u00e9llo",
                      headers={"Content-Type": "text/plain; charset=utf-8"})
        assert r.status == 200, (r, a.errors())
        assert json.loads(r.body) == {"method": "POST", "path": "/echo/", "query": "q=1",
                                      "content_type": "text/plain; charset=utf-8",
                                      "length": 6, "body": "h\u00e9llo"}
    finally:
        a.stop()
