"""What `import uwsgi` tells an app, and uwsgidecorators.postfork.

At import (in the master, before the fork, unless lazy-apps) it registers
a postfork function that appends one line "<pid>" to the file
$PY6_POSTFORK_DIR/<pid> (when PY6_POSTFORK_DIR is set): a worker that
ran it twice has two lines, one that never ran it no file.

  /        "facts"
  /facts   JSON: pid, worker_id(), numproc, masterpid(), mule_id(),
           total_requests(), version, opt (values decoded from latin-1;
           a list value stays a list), and whether the postfork hook ran in
           this process, and how it was registered (postfork_via:
           "uwsgidecorators", or "post_fork_hook" where uwsgidecorators is
           missing, as with Debian's uWSGI without python3-uwsgidecorators)
"""
import json
import os

import uwsgi

try:
    from uwsgidecorators import postfork
    _via = "uwsgidecorators"
except ImportError:     # Debian's uWSGI ships it apart (python3-uwsgidecorators)
    def postfork(f):
        uwsgi.post_fork_hook = f
        return f
    _via = "post_fork_hook"

_ran_postfork = []


@postfork
def _mark():
    _ran_postfork.append(os.getpid())
    where = os.environ.get("PY6_POSTFORK_DIR")
    if where:
        with open(os.path.join(where, str(os.getpid())), "a") as f:
            f.write("%d\n" % os.getpid())


def _text(v):
    if isinstance(v, bytes):
        return v.decode("latin-1")
    if isinstance(v, (list, tuple)):
        return [_text(x) for x in v]
    return v


def application(environ, start_response):
    if environ.get("PATH_INFO") == "/facts":
        body = json.dumps({
            "pid": os.getpid(),
            "worker_id": uwsgi.worker_id(),
            "numproc": uwsgi.numproc,
            "masterpid": uwsgi.masterpid(),
            "mule_id": uwsgi.mule_id(),
            "total_requests": uwsgi.total_requests(),
            "version": _text(uwsgi.version),
            "opt": {_text(k): _text(v) for k, v in uwsgi.opt.items()},
            "postfork_ran_here": os.getpid() in _ran_postfork,
            "postfork_via": _via,
        }).encode()
    else:
        body = b"facts"
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
