"""Hello-world WSGI app that first burns SPIN_US microseconds of CPU.

Used by bench/p99.sh to make a server slower on purpose: the same answer as
hello.py, at a chosen extra cost per request (SPIN_US from the environment,
0 when unset).
"""
import os
import time

BODY = b"Hello, World!"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]
SPIN = int(os.environ.get("SPIN_US", "0")) / 1e6
_clock = time.perf_counter


def application(environ, start_response):
    end = _clock() + SPIN
    while _clock() < end:
        pass
    start_response("200 OK", HEADERS)
    return [BODY]
