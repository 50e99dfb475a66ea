"""Uses the uwsgi and uwsgidecorators modules as apps and libraries do."""
import os

import uwsgi
import uwsgidecorators

MARKS = os.environ.get("CRL_TEST_MARKS")


def _mark(what):
    if MARKS:
        with open(MARKS, "a") as f:
            f.write("%s %d\n" % (what, os.getpid()))


@uwsgidecorators.postfork
def reopen_connections():
    _mark("postfork")


@uwsgidecorators.postfork
def second_hook():
    _mark("postfork2")


def _bye():
    _mark("atexit")


uwsgi.atexit = _bye


def info(environ, start_response):
    uwsgi.set_logvar("user", "bob")
    uwsgi.log("hello from the app")
    facts = (sorted(uwsgi.opt.items()), uwsgi.numproc, uwsgi.cores, uwsgi.worker_id(),
             uwsgi.masterpid(), uwsgi.total_requests(), uwsgi.mule_id(), uwsgi.version,
             uwsgi.version_info[:2], type(uwsgi.started_on).__name__)
    start_response("200 OK", [])
    return [repr(facts).encode()]


def do_reload(environ, start_response):
    start_response("200 OK", [])
    return [repr(uwsgi.reload()).encode()]


@uwsgidecorators.lock
def locked(x):
    return x * 2


def decorated(environ, start_response):
    box = []
    t = uwsgidecorators.thread(lambda: box.append(locked(21)))()
    t.join()
    start_response("200 OK", [])
    return [repr(box).encode()]
