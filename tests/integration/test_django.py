"""The Django example site, behind nginx (uwsgi protocol on a unix socket)
and over http-socket directly: each view, a 404, an exception, the CSRF
round trip and nginx serving collectstatic output."""
import json
import os
import re

import pytest

from conftest import ROOT, django_ini


@pytest.fixture(params=["nginx", "http-socket"])
def site(request, corral, tmp_path):
    """(client, server): a client with .get/.request that reaches Django
    through nginx or straight through Corral's http-socket."""
    if request.param == "nginx":
        server = corral.start(django_ini(corral, http=False, uwsgi=True))
        client = request.getfixturevalue("nginx")
    else:
        server = corral.start(django_ini(corral))
        client = server
    return client, server


def test_index(site):
    client, server = site
    r = client.get("/")
    assert r.status == 200
    assert r.header("Content-Type") == "text/html; charset=utf-8"
    assert b"<h1>Hello from Django on Corral</h1>" in r.body
    assert int(r.header("Content-Length")) == len(r.body)
    # the page names the worker that rendered it
    pid = int(re.search(rb"Served by worker (\d+)", r.body).group(1))
    assert pid in server.workers()


def test_echo_post_body(site):
    client, _ = site
    body = "x=1&y=" + "z" * 5000 + "&name=%C3%A9t%C3%A9"
    r = client.request("POST", "/echo/?a=b", body=body,
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 200
    assert r.header("Content-Type") == "application/json"
    data = json.loads(r.body)
    assert data == {"method": "POST", "path": "/echo/", "query": "a=b",
                    "content_type": "application/x-www-form-urlencoded",
                    "length": len(body), "body": body}


def test_binary_body_round_trip(site):
    client, _ = site
    body = bytes(range(256)) * 64
    r = client.request("POST", "/echo/", body=body,
                       headers={"Content-Type": "application/octet-stream"})
    assert r.status == 200
    assert json.loads(r.body)["length"] == len(body)


def test_not_found(site):
    client, _ = site
    r = client.get("/no/such/page/")
    assert r.status == 404
    assert b"Not Found" in r.body


def test_exception_gives_500_and_traceback_in_log(site):
    client, server = site
    server.expect_log(r"^Traceback", r"RuntimeError: boom", r"^error: .*boom",
                      r"^error: .*500")
    r = client.get("/boom/")
    assert r.status == 500
    assert b"Server Error" in r.body
    assert b"boom" not in r.body          # DEBUG is off: no traceback to the client
    server.wait_log(r"^Traceback \(most recent call last\)")
    server.wait_log(r"RuntimeError: boom: this view always fails")
    # the worker survived the exception
    assert client.get("/").status == 200


def test_async_view(site):
    client, _ = site
    r = client.get("/async/")
    assert r.status == 200
    assert r.body == b"<!doctype html><title>async</title><p>Hello from an async view.</p>\n"


def test_form_csrf_round_trip(site):
    client, _ = site
    r = client.get("/form/")
    assert r.status == 200
    cookie = next(c for c in r.header_all("Set-Cookie") if c.startswith("csrftoken="))
    token_cookie = cookie.split(";")[0].split("=", 1)[1]
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', r.body).group(1).decode()

    form = "csrfmiddlewaretoken=%s&name=Ada+Lovelace" % token
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "Cookie": "csrftoken=%s" % token_cookie}
    r = client.request("POST", "/form/", body=form, headers=headers)
    assert r.status == 200, r
    assert b'You posted: <span id="name">Ada Lovelace</span>' in r.body

    # without the token Django refuses: the check really happens
    r = client.request("POST", "/form/", body="name=Eve", headers=headers)
    assert r.status == 403


def test_static_file_served_by_nginx(corral, nginx, staticfiles):
    server = corral.start(django_ini(corral, http=False, uwsgi=True))
    r = nginx.get("/static/pages/style.css")
    assert r.status == 200
    assert r.body == (staticfiles / "pages" / "style.css").read_bytes()
    assert r.header("Content-Type") == "text/css"
    # nginx answered alone: Django's request went through Corral, this did not
    assert nginx.get("/").status == 200
    server.wait_log(r"GET / ")
    assert "style.css" not in server.log()


def test_request_log_line(corral):
    server = corral.start(django_ini(corral, processes=1))
    assert server.get("/async/?q=1").status == 200
    # [pid: 1234|worker: 1|req: 7] 127.0.0.1 {12 vars in 345 bytes} [date]
    #   GET /path => generated 13 bytes in 2 msecs (HTTP/1.1 200) 2 headers in 64 bytes
    server.wait_log(
        r"^\[pid: %d\|(?:worker|app): \d+\|req: [\d/]+\] 127\.0\.0\.1 .*"
        r"\{\d+ vars in \d+ bytes\} \[[^\]]+\] GET /async/\?q=1 => "
        r"generated 68 bytes in \d+ msecs \(HTTP/1\.1 200\) \d+ headers in \d+ bytes"
        % server.workers()[0])


def test_the_sample_ini_serves_the_site(corral, tmp_path):
    """uwsgi.ini.sample as shipped, but for its two addresses (a test may
    not take :8000 or /tmp) and the directory %d stands for."""
    text = (ROOT / "uwsgi.ini.sample").read_text()
    assert "http-socket = :8000" in text and "socket = /tmp/corral-example.sock" in text
    text = text.replace("http-socket = :8000", "http-socket = 127.0.0.1:%d" % corral.port)
    text = text.replace("socket = /tmp/corral-example.sock", "socket = %s" % corral.sock)
    text = text.replace("%d/examples/django", "%s/examples/django" % ROOT)
    server = corral.start(text, processes=2)
    r = server.get("/")
    assert r.status == 200 and b"Hello from Django on Corral" in r.body
    assert oct(os.stat(corral.sock).st_mode & 0o777) == "0o660"
    assert server.stop() == 0
    assert not os.path.exists(corral.sock)
