"""The uwsgi protocol's "magic" variables are never acted on (issue 7).

uWSGI lets a front end choose the app (UWSGI_FILE, UWSGI_SCRIPT,
UWSGI_MODULE, UWSGI_CALLABLE), the interpreter (UWSGI_PYHOME), the
directory (UWSGI_CHDIR) and the environment (UWSGI_SETENV) per request: a
remote-code-execution hazard for anyone who can reach the socket. Corral
ignores them: the configured app answers, nothing is imported, nothing
changes in the worker."""
import os

import pytest

from conftest import hello_ini, uwsgi_request

MAGIC = [
    ("UWSGI_FILE", "{evil}"),
    ("UWSGI_SCRIPT", "evil_module"),
    ("UWSGI_MODULE", "evil_module"),
    ("UWSGI_CALLABLE", "evil_callable"),
    ("UWSGI_PYHOME", "/nonexistent-venv"),
    ("UWSGI_CHDIR", "/"),
    ("UWSGI_SETENV", "CORRAL_MAGIC_TEST=set-by-the-client"),
    ("UWSGI_APPID", "evil"),
    ("UWSGI_TOUCH_RELOAD", "{evil}"),
]


@pytest.fixture
def evil(tmp_path):
    """A file that would leave a marker if it were ever executed."""
    marker = tmp_path / "executed"
    path = tmp_path / "evil.py"
    path.write_text("open(%r, 'w').write('ran')\n"
                    "def application(e, sr):\n"
                    "    sr('200 OK', [('Content-Type', 'text/plain')])\n"
                    "    return [b'evil']\n" % str(marker))
    (tmp_path / "evil_module.py").write_text(path.read_text())
    return path, marker


@pytest.mark.parametrize("name,value", MAGIC, ids=[n for n, _ in MAGIC])
def test_magic_variable_is_ignored(corral, evil, name, value):
    path, marker = evil
    server = corral.start(hello_ini(corral, http=False, uwsgi=True))
    extra = [(name, value.format(evil=path))]
    r = uwsgi_request(server.uwsgi[0], "GET", "/", extra=extra)
    assert r.status == 200 and r.body == b"Hello, World!", r
    assert not marker.exists(), "a magic variable made the worker run a file"
    # the worker's environment and directory are untouched
    r = uwsgi_request(server.uwsgi[0], "GET", "/osenv", query="CORRAL_MAGIC_TEST", extra=extra)
    assert r.status == 404, r
    assert os.path.exists(server.uwsgi[0])


def test_all_magic_variables_at_once(corral, evil):
    path, marker = evil
    server = corral.start(hello_ini(corral, http=False, uwsgi=True))
    extra = [(n, v.format(evil=path)) for n, v in MAGIC]
    for _ in range(3):
        r = uwsgi_request(server.uwsgi[0], "GET", "/", extra=extra)
        assert r.status == 200 and r.body == b"Hello, World!", r
    assert not marker.exists()
