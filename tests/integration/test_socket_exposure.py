"""Who may talk to a TCP uwsgi socket: `uwsgi-allow-from`.

Whoever connects to a uwsgi socket writes every CGI variable the app sees
(REMOTE_ADDR, HTTP_HOST, HTTPS, ...), so a TCP uwsgi socket serves only the
peers in uwsgi-allow-from: loopback (127.0.0.0/8, ::1) by default, `*` for
everyone. A refused peer's connection is closed unanswered and logged (at
most one line per 10 s). Binding a TCP uwsgi socket to a non-loopback
address logs a warning saying how to let a remote web server in. Unix
sockets and http sockets are never filtered.

Every client here is on loopback: 127.0.0.0/8 is all loopback on Linux, so
a client bound to 127.0.0.2 is a "different host" for a rule naming
127.0.0.1. uWSGI has no such option: these tests are Corral-only.
"""
import re
import signal
import socket
import time

import pytest

from conftest import (HELLO_DIR, Response, free_port, http_request, recv_all, run, uwsgi_packet,
                      uwsgi_request, uwsgi_vars, wait_for)

pytestmark = pytest.mark.corral_only

WARN_EXPOSED = r"^warning: uwsgi socket \S+ is bound to a non-loopback address"
REFUSED = r"^warning: refused a uwsgi connection from "


def ini(port_spec, extra=""):
    return ("[uwsgi]\nchdir = %s\nmodule = app:application\nmaster = true\n"
            "processes = 1\nsocket = %s\n%s" % (HELLO_DIR, port_spec, extra))


def uwsgi_from(addr, source=None, path="/"):
    """A uwsgi GET sent from `source` (an address to bind the client to);
    returns the raw bytes received before the server closed."""
    family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        if source:
            s.bind((source, 0))
        s.connect(addr)
        try:
            s.sendall(uwsgi_packet(uwsgi_vars("GET", path)))
        except (BrokenPipeError, ConnectionResetError):
            return b""
        return recv_all(s)


def served(raw):
    r = Response(raw)
    assert r.status == 200 and r.body == b"Hello, World!", r
    return r


def refused(raw):
    assert raw == b"", "a refused peer got an answer: %r" % raw[:200]


def test_loopback_socket_serves_loopback_without_warning(corral):
    port = free_port()
    server = corral.start(ini("127.0.0.1:%d" % port))
    served(uwsgi_from(("127.0.0.1", port)))
    served(uwsgi_from(("127.0.0.1", port), source="127.0.0.9"))  # 127/8 is loopback
    assert not re.search(WARN_EXPOSED, server.log(), re.M), server.log()
    assert not re.search(REFUSED, server.log(), re.M), server.log()


def test_wildcard_bind_warns_and_still_serves_loopback(corral):
    port = free_port()
    server = corral.start(ini(":%d" % port))
    server.expect_log(WARN_EXPOSED)
    server.wait_log(WARN_EXPOSED)
    full = [ln for ln in server.log().splitlines() if re.search(WARN_EXPOSED, ln)]
    assert len(full) == 1, full
    # The warning tells a user with nginx on another host what to set.
    assert "uwsgi-allow-from" in full[0] and "loopback" in full[0], full[0]
    served(uwsgi_from(("127.0.0.1", port)))


def test_peer_outside_the_list_is_refused_and_logged_once(corral):
    port = free_port()
    # no readiness probe: it would come from 127.0.0.1 and be the logged refusal
    server = corral.start(ini("127.0.0.1:%d" % port, "uwsgi-allow-from = 127.0.0.2\n"),
                          wait=False)
    server.expect_log(REFUSED)
    pid = server.wait_workers()[0]
    served(uwsgi_from(("127.0.0.1", port), source="127.0.0.2"))
    for _ in range(20):
        refused(uwsgi_from(("127.0.0.1", port), source="127.0.0.3"))
    served(uwsgi_from(("127.0.0.1", port), source="127.0.0.2"))
    lines = [ln for ln in server.log().splitlines() if re.search(REFUSED, ln)]
    assert len(lines) == 1, "refusals are not rate-limited: %r" % lines
    assert "127.0.0.3" in lines[0] and "127.0.0.1:%d" % port in lines[0], lines[0]
    assert server.workers() == [pid], "the worker was replaced"
    server.uwsgi = []                  # the fd probe's 127.0.0.1 is refused here


def test_list_with_cidrs_commas_and_repeats(corral):
    port = free_port()
    server = corral.start(ini("127.0.0.1:%d" % port,
                              "uwsgi-allow-from = 10.0.0.0/8, 127.0.0.4/31\n"
                              "uwsgi-allow-from = 192.168.1.7 fd00::/8\n"))
    server.expect_log(REFUSED)
    served(uwsgi_from(("127.0.0.1", port), source="127.0.0.4"))
    served(uwsgi_from(("127.0.0.1", port), source="127.0.0.5"))
    refused(uwsgi_from(("127.0.0.1", port), source="127.0.0.6"))
    refused(uwsgi_from(("127.0.0.1", port)))
    server.uwsgi = []                  # the fd probe's 127.0.0.1 is refused here


def test_star_allows_everyone_and_warns_on_a_wildcard_bind(corral):
    port = free_port()
    server = corral.start(ini(":%d" % port, "uwsgi-allow-from = *\n"))
    server.expect_log(WARN_EXPOSED)
    line = server.wait_log(WARN_EXPOSED + r".*accepts every peer").group(0)
    assert line
    served(uwsgi_from(("127.0.0.1", port), source="127.0.0.77"))


def test_ipv6_loopback_default_and_refusal(corral):
    port = free_port()
    server = corral.start(ini("[::1]:%d" % port), wait=False)
    server.uwsgi = [("::1", port)]     # the fixture's parser keeps the brackets
    server.wait_ready()
    served(uwsgi_from(("::1", port)))
    assert not re.search(WARN_EXPOSED, server.log(), re.M), server.log()

    port2 = free_port()
    other = corral.start(ini("[::1]:%d" % port2, "uwsgi-allow-from = 127.0.0.1\n"),
                         name="v4only", wait=False)
    other.uwsgi = [("::1", port2)]
    other.wait_ready()
    other.expect_log(REFUSED)
    refused(uwsgi_from(("::1", port2)))
    assert re.search(REFUSED + r"::1 on \[::1\]:%d" % port2, other.log(), re.M), other.log()
    other.uwsgi = []                   # ::1 is refused: no fd probe possible


def test_unix_and_http_sockets_are_not_filtered(corral):
    port = free_port()
    config = ini("127.0.0.1:%d" % port,
                 "uwsgi-allow-from = 10.9.9.9\nsocket = %s\nhttp-socket = 127.0.0.1:%d\n"
                 % (corral.sock, corral.port))
    server = corral.start(config)
    server.expect_log(REFUSED)
    refused(uwsgi_from(("127.0.0.1", port)))
    r = uwsgi_request(corral.sock, "GET", "/")
    assert r.status == 200 and r.body == b"Hello, World!", r
    r = http_request(("127.0.0.1", corral.port), "GET", "/")
    assert r.status == 200 and r.body == b"Hello, World!", r


@pytest.mark.parametrize("value", ["example.com", "10.0.0.0/33", "::1/129", "10.0.0.1/",
                                   "10.0.0", ""])
def test_bad_entry_stops_startup_naming_the_line(corral, value):
    path = corral.write("bad.ini", ini("127.0.0.1:%d" % free_port(),
                                       "uwsgi-allow-from = %s\n" % value))
    p = run(["--ini", str(path)], timeout=30)
    assert p.returncode != 0, p.stdout + p.stderr
    out = p.stdout + p.stderr
    assert re.search(r"uwsgi-allow-from at \S*bad\.ini:\d+", out), out


def test_reload_applies_a_changed_list(corral):
    """uwsgi-allow-from is read again on a graceful reload (SIGHUP): the
    socket stays, the new list decides."""
    port = free_port()
    server = corral.start(ini("127.0.0.1:%d" % port, "uwsgi-allow-from = 127.0.0.2\n"),
                          wait=False)
    server.expect_log(REFUSED)
    old = set(server.wait_workers())
    served(uwsgi_from(("127.0.0.1", port), source="127.0.0.2"))
    refused(uwsgi_from(("127.0.0.1", port), source="127.0.0.3"))
    corral.write("app.ini", ini("127.0.0.1:%d" % port, "uwsgi-allow-from = 127.0.0.3\n"))
    server.send(signal.SIGHUP)
    wait_for(lambda: server.workers() and not set(server.workers()) & old, 30,
             "new workers after SIGHUP")
    time.sleep(0.2)
    served(uwsgi_from(("127.0.0.1", port), source="127.0.0.3"))
    refused(uwsgi_from(("127.0.0.1", port), source="127.0.0.2"))
    server.uwsgi = []                  # the fd probe's 127.0.0.1 is refused here
