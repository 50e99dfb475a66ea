"""A WSGI module that takes a while to import, so that a worker's start-up
is visible from outside: the chain-reload test loads it in each worker
(lazy-apps) and watches the workers come up one by one.

At import it sleeps SLOW_START_SECONDS (default 0.5), then creates a file
named after its pid in SLOW_START_MARKERS (when set): the marker says "this
worker has loaded the app". `/` answers "Hello, World!", `/pid` the pid.
"""
import os
import time

time.sleep(float(os.environ.get("SLOW_START_SECONDS", "0.5")))
_markers = os.environ.get("SLOW_START_MARKERS")
if _markers:
    with open(os.path.join(_markers, str(os.getpid())), "w"):
        pass


def application(environ, start_response):
    if environ.get("PATH_INFO") == "/pid":
        body = str(os.getpid()).encode()
    else:
        body = b"Hello, World!"
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
