"""Configuration end to end, as a user writes it: ini sections and
includes, placeholders and magic variables, the environment, yaml, the
command line; and what Corral says about mistakes. A value reaches the
application through `env = MARK=...`, read back at /osenv?MARK."""
import re

import pytest

from conftest import (HELLO_DIR, IS_UWSGI, ROOT, free_port, http_request, run,
                      uwsgi_request)


def hello(port, *extra):
    return "\n".join(["chdir = %s" % HELLO_DIR, "module = app:application",
                      "master = true", "http-socket = 127.0.0.1:%d" % port]
                     + list(extra)) + "\n"


def mark(server):
    r = server.get("/osenv?MARK")
    assert r.status == 200, r
    return r.text


def test_ini_section_on_command_line(corral):
    path = corral.write("multi.ini", "[uwsgi]\n" + hello(corral.port, "env = MARK=default")
                        + "\n[staging]\n" + hello(corral.port, "env = MARK=staging"))
    server = corral.start(args=["--ini", "%s:staging" % path], processes=1)
    assert mark(server) == "staging"


def test_ini_include_of_a_section(corral):
    server = corral.start("[uwsgi]\nini = :base\nenv = OTHER=1\n"
                          "\n[base]\n" + hello(corral.port, "env = MARK=from-base"))
    assert mark(server) == "from-base"


def test_ini_include_of_another_file(corral):
    corral.write("common.ini", "[uwsgi]\n" + hello(corral.port, "env = MARK=common"))
    server = corral.start("[uwsgi]\nini = %d/common.ini\nprocesses = 2\n")
    assert mark(server) == "common"
    assert len(server.workers()) == 2


def test_custom_placeholder(corral):
    server = corral.start("[uwsgi]\nproject = corral-test\nsuffix = %(project)-x\n"
                          + hello(corral.port, "env = MARK=%(project)/%(suffix)"))
    assert mark(server) == "corral-test/corral-test-x"


def test_magic_d_is_the_config_directory(corral, tmp_path):
    server = corral.start("[uwsgi]\n" + hello(corral.port, "env = MARK=%d|%n"),
                          name="magic")
    assert mark(server) == "%s/|magic" % tmp_path


def test_environment_variable_placeholder(corral):
    server = corral.start("[uwsgi]\n" + hello(corral.port, "env = MARK=$(CORRAL_TEST_VALUE)"),
                          env={"CORRAL_TEST_VALUE": "from the environment"})
    assert mark(server) == "from the environment"


def test_uwsgi_environment_variables_are_options(corral):
    server = corral.start("[uwsgi]\n" + hello(corral.port), processes=3,
                          env={"UWSGI_PROCESSES": "3"})
    assert len(server.workers()) == 3


def test_yaml_config(corral):
    text = ("uwsgi:\n  chdir: %s\n  module: app:application\n  master: true\n"
            "  processes: 2\n  http-socket: 127.0.0.1:%d\n  env:\n"
            "    - MARK=yaml\n    - OTHER=1\n" % (HELLO_DIR, corral.port))
    server = corral.start(text, kind="yaml")
    assert mark(server) == "yaml"
    assert len(server.workers()) == 2


def test_positional_config_file(corral):
    path = corral.write("app.ini", "[uwsgi]\n" + hello(corral.port, "env = MARK=positional"))
    server = corral.start(args=[str(path)], processes=1)
    assert mark(server) == "positional"


def test_command_line_options(corral):
    server = corral.start(args=["--chdir", str(HELLO_DIR), "--module", "app:application",
                                "--master", "--processes", "2",
                                "--http-socket", "127.0.0.1:%d" % corral.port,
                                "--env", "MARK=cli"], processes=2)
    assert mark(server) == "cli"


def test_help_lists_options():
    p = run(["--help"])
    assert p.returncode == 0
    out = p.stdout + p.stderr
    assert re.search(r"--socket\b", out)
    assert re.search(r"--http-socket\b", out)
    assert re.search(r"--processes\b", out)


def test_version():
    p = run(["--version"])
    assert p.returncode == 0
    assert re.search(r"\d+\.\d+\.\d+", p.stdout)


@pytest.mark.corral_only
def test_show_config(corral):
    path = corral.write("show.ini", "[uwsgi]\nbase = /srv\n" + hello(
        corral.port, "processes = 3", "env = MARK=%(base)/x"))
    p = run(["--show-config", "--ini", str(path)])
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert re.search(r"^\s*processes\s*[=:]\s*3\s*$", out, re.M), out
    assert re.search(r"^\s*http-socket\s*[=:]\s*127\.0\.0\.1:%d\s*$" % corral.port, out, re.M), out
    assert "MARK=/srv/x" in out                 # placeholders expanded
    assert not re.search(r"^\s*master\s*[=:]\s*(false|0)", out, re.M)


@pytest.mark.corral_only
def test_check_config_good(corral):
    path = corral.write("good.ini", "[uwsgi]\n" + hello(corral.port, "processes = 2"))
    p = run(["--check-config", "--ini", str(path)])
    assert p.returncode == 0, p.stdout + p.stderr
    assert "error:" not in p.stdout + p.stderr


@pytest.mark.corral_only
def test_check_config_of_the_sample():
    p = run(["--check-config", "--ini", str(ROOT / "uwsgi.ini.sample")])
    assert p.returncode == 0, p.stdout + p.stderr


@pytest.mark.corral_only
def test_check_config_broken(corral):
    path = corral.write("broken.ini", "[uwsgi]\n" + hello(corral.port) + "processes = four\n")
    p = run(["--check-config", "--ini", str(path)])
    assert p.returncode == 1
    assert re.search(r"^error: .*processes", p.stderr, re.M), p.stderr
    assert "%s:6" % path in p.stderr, p.stderr


@pytest.mark.corral_only
def test_bad_number_is_fatal(corral):
    path = corral.write("four.ini", "[uwsgi]\n" + hello(corral.port) + "processes = four\n")
    p = run(["--ini", str(path)], timeout=20)
    assert p.returncode == 1
    err = p.stdout + p.stderr
    assert re.search(r"^error: .*processes", err, re.M), err
    assert "four" in err
    assert "%s:6" % path in err, err


@pytest.mark.corral_only
def test_misspelt_option_warns_and_starts(corral):
    server = corral.start("[uwsgi]\n" + hello(corral.port) + "vaccum = true\n", name="typo")
    assert server.get("/").body == b"Hello, World!"
    line = server.wait_log(r"^warning: .*vaccum.*$").group(0)
    assert "typo.ini:6" in line
    assert "did you mean 'vacuum'" in line


def test_strict_makes_unknown_options_fatal(corral):
    path = corral.write("strict.ini", "[uwsgi]\n" + hello(corral.port) +
                        "strict = true\nvaccum = true\n")
    p = run(["--ini", str(path)], timeout=20)
    assert p.returncode != 0
    err = p.stdout + p.stderr
    assert "vaccum" in err
    if not IS_UWSGI:
        assert p.returncode == 1
        assert re.search(r"^error: .*vaccum", err, re.M), err
        assert "strict.ini:7" in err


def test_missing_config_file(tmp_path):
    missing = tmp_path / "nope" / "missing.ini"
    p = run(["--ini", str(missing)], timeout=20)
    assert p.returncode == 1
    err = p.stdout + p.stderr
    assert str(missing) in err
    if not IS_UWSGI:
        assert re.search(r"^error: .*missing\.ini", err, re.M), err


def test_missing_module_fails_startup(corral):
    path = corral.write("nomod.ini", "[uwsgi]\nchdir = %s\nmodule = no_such_module_xyz:application\n"
                        "master = true\nhttp-socket = 127.0.0.1:%d\n" % (HELLO_DIR, corral.port))
    p = run(["--ini", str(path)], timeout=30)
    err = p.stdout + p.stderr
    assert p.returncode != 0
    assert "no_such_module_xyz" in err
    if not IS_UWSGI:
        assert p.returncode == 1
        assert re.search(r"^error: .*no_such_module_xyz", err, re.M), err


def test_inline_comment_after_a_number(corral):
    # real configs say `processes = 4 ; one per core`: uWSGI's atoi reads 4
    server = corral.start("[uwsgi]\n" + hello(corral.port) + "processes = 2 ; two workers\n",
                          processes=2)
    assert len(server.workers()) == 2
    assert server.get("/").body == b"Hello, World!"


def test_boolean_spellings(corral):
    server = corral.start("[uwsgi]\nchdir = %s\nmodule = app:application\nmaster = True\n"
                          "vacuum = 1\nenable-threads = yes\nhttp-socket = 127.0.0.1:%d\n"
                          % (HELLO_DIR, corral.port))
    assert server.workers()                 # master = True really made a master
    assert server.get("/").body == b"Hello, World!"


def test_repeated_socket_options_all_listen(corral):
    other = free_port()
    corral.start("[uwsgi]\n" + hello(corral.port) +
                 "http-socket = 127.0.0.1:%d\nsocket = %s\n" % (other, corral.sock))
    assert http_request(("127.0.0.1", corral.port), "GET", "/").body == b"Hello, World!"
    assert http_request(("127.0.0.1", other), "GET", "/").body == b"Hello, World!"
    assert uwsgi_request(corral.sock, "GET", "/").body == b"Hello, World!"


@pytest.mark.parametrize("how", ["wsgi-file = app.py", "module = app",
                                 "wsgi-file = %s/app.py" % HELLO_DIR,
                                 "module = app\ncallable = application"])
def test_ways_of_naming_the_app(corral, how):
    server = corral.start("[uwsgi]\nchdir = %s\n%s\nmaster = true\n"
                          "http-socket = 127.0.0.1:%d\n" % (HELLO_DIR, how, corral.port))
    assert server.get("/").body == b"Hello, World!"
