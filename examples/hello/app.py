"""A minimal WSGI application: `module = app:application` (or
`wsgi-file = app.py`). `/` answers "Hello, World!"; the other paths are used
by the integration tests (they reveal the environment: keep them off the
internet):

  /pid          the worker's process id (which worker served the request);
                /pid?0.2 sleeps 0.2 s first
  /osenv?NAME   the value of environment variable NAME in the worker
  /echo         the request body back, with its length in X-Body-Length
  /env          selected environ keys, one `key=value` a line
  /fds          how many file descriptors this worker has open
  /sleep?0.5    sleep that many seconds (at most 10), then answer
  /error        raise an exception (500, traceback in the log)
  /big?65536    that many bytes of 'x'
"""
import os
import time

ENV_KEYS = (
    "REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "SERVER_PROTOCOL",
    "CONTENT_TYPE", "CONTENT_LENGTH", "HTTP_HOST", "REMOTE_ADDR",
    "SCRIPT_NAME", "SERVER_NAME", "SERVER_PORT", "wsgi.url_scheme",
)


def _text(start_response, body, status="200 OK", extra=()):
    if isinstance(body, str):
        body = body.encode("utf-8")
    headers = [("Content-Type", "text/plain"),
               ("Content-Length", str(len(body)))]
    headers.extend(extra)
    start_response(status, headers)
    return [body]


def _read_body(environ):
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    return environ["wsgi.input"].read(length) if length > 0 else b""


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    query = environ.get("QUERY_STRING", "")
    if path == "/":
        return _text(start_response, "Hello, World!")
    if path == "/pid":
        if query:
            time.sleep(min(float(query), 10.0))
        return _text(start_response, str(os.getpid()))
    if path == "/osenv":
        value = os.environ.get(query)
        if value is None:
            return _text(start_response, "unset", status="404 Not Found")
        return _text(start_response, value)
    if path == "/echo":
        body = _read_body(environ)
        return _text(start_response, body,
                     extra=[("X-Body-Length", str(len(body)))])
    if path == "/env":
        lines = ["%s=%s" % (k, environ.get(k, "")) for k in ENV_KEYS]
        return _text(start_response, "\n".join(lines) + "\n")
    if path == "/fds":
        return _text(start_response, str(len(os.listdir("/proc/self/fd"))))
    if path == "/sleep":
        time.sleep(min(float(query or "0.1"), 10.0))
        return _text(start_response, "slept")
    if path == "/error":
        raise RuntimeError("hello app: /error always fails")
    if path == "/big":
        return _text(start_response, b"x" * int(query or "65536"))
    return _text(start_response, "Not Found", status="404 Not Found")
