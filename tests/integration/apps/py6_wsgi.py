"""WSGI endpoints for tests/integration/test_python.py, written against
PEP 3333 only (no framework). `application` is the bare app; `validated`
is the same app wrapped in the standard library's wsgiref.validate
validator, with its warnings turned into errors, so that any breach of
PEP 3333 by the server (environ types, start_response, wsgi.input,
wsgi.errors, the iterator protocol) fails the request with a 500.

  /                 "Hello, validated!"
  /post             the body read with wsgi.input.read(n), then readline()
                    and iteration of the (empty) rest; X-Body-Length
  /lines            the body split by wsgi.input.readline() calls: the
                    line lengths, comma separated
  /stream           a generator of 5 chunks "chunk-<i>\n", no Content-Length
  /write            the body through the write() callable, then [b"tail"]
  /exc_info         start_response 200, then an exception, then
                    start_response 500 with exc_info (allowed: nothing sent)
  /late-error       write() sends bytes, then the app raises: the headers
                    are out, the response must end broken, not with a
                    second status
  /late-exc-info    write() sends bytes, then start_response with exc_info
                    (which must re-raise: the headers are out)
  /print            print(), sys.stderr and wsgi.errors.writelines lines;
                    a latin-1 header value X-Latin-1: caf\xe9
  /errors           writes a line to wsgi.errors and flushes it
  /file?PATH        wsgi.file_wrapper around open(PATH, "rb");
                    /file?PATH@N seeks to offset N first
  /filelike?N       wsgi.file_wrapper around a BytesIO (no fileno) of N
                    bytes of a known pattern
  /closing?PATH     a huge response whose iterable's close() appends a
                    line to PATH (for clients that go away mid-stream)
  /environ          the environ's str values, one key=value a line, with
                    their types checked: every value of a CGI key is str
                    holding only latin-1 code points
"""
import io
import sys
import warnings
from wsgiref.validate import WSGIWarning, validator

warnings.simplefilter("error", WSGIWarning)


def pattern(n):
    """n bytes that differ from one offset to the next (for intact-bytes
    checks): the same function the tests use."""
    block = bytes(range(256)) * 4 + b"corral"
    return (block * (n // len(block) + 1))[:n]


def _send(start_response, body, status="200 OK", extra=()):
    headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
    headers.extend(extra)
    start_response(status, headers)
    return [body]


def _post(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    stream = environ["wsgi.input"]
    body = stream.read(length)
    rest = stream.readline() + b"".join(stream)
    return _send(start_response, body + rest,
                 extra=[("X-Body-Length", str(len(body))), ("X-Rest", str(len(rest)))])


def _lines(environ, start_response):
    stream = environ["wsgi.input"]
    sizes = []
    while True:
        line = stream.readline()
        if not line:
            break
        sizes.append(str(len(line)))
    return _send(start_response, ",".join(sizes).encode())


def _stream(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    for i in range(5):
        yield ("chunk-%d\n" % i).encode()


def _write(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"written-1 ")
    write(b"written-2 ")
    return [b"tail"]


def _exc_info(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        raise ValueError("exc_info test: replaced before anything was sent")
    except ValueError:
        start_response("500 Internal Server Error",
                       [("Content-Type", "text/plain"), ("X-Handled", "yes")],
                       sys.exc_info())
    return [b"handled by the app"]


def _late_error(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain"),
                                      ("Content-Length", "1000")])
    write(b"partial")
    raise RuntimeError("late-error test: the headers went out already")


def _late_exc_info(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"sent")
    try:
        raise ValueError("late-exc-info test: start_response must re-raise this")
    except ValueError:
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")],
                       sys.exc_info())
    return [b"must never be sent"]


def _print(environ, start_response):
    print("py6-stdout: print() reaches the log", flush=True)
    sys.stderr.write("py6-stderr: so does sys.stderr\n")
    sys.stderr.flush()
    environ["wsgi.errors"].writelines(["py6-errors-1\n", "py6-errors-2\n"])
    return _send(start_response, b"printed", extra=[("X-Latin-1", "caf\xe9")])


def _errors(environ, start_response):
    errors = environ["wsgi.errors"]
    errors.write("py6-wsgi-errors: a line for the log\n")
    errors.flush()
    return _send(start_response, b"logged")


def _file(environ, start_response):
    path, _, offset = environ["QUERY_STRING"].partition("@")
    f = open(path, "rb")
    if offset:
        f.seek(int(offset))
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return environ["wsgi.file_wrapper"](f, 32768)


class _NoFileno(io.BytesIO):
    def fileno(self):
        raise io.UnsupportedOperation("no fileno here")


def _filelike(environ, start_response):
    data = pattern(int(environ["QUERY_STRING"]))
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return environ["wsgi.file_wrapper"](_NoFileno(data), 8192)


CGI_KEYS = ("REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING",
            "CONTENT_TYPE", "CONTENT_LENGTH", "SERVER_NAME", "SERVER_PORT",
            "SERVER_PROTOCOL", "wsgi.url_scheme")


def _environ(environ, start_response):
    lines = []
    for k in CGI_KEYS + tuple(sorted(k for k in environ if k.startswith("HTTP_"))):
        v = environ.get(k, "")
        if type(v) is not str:
            raise TypeError("environ[%r] is %s, not str" % (k, type(v).__name__))
        v.encode("latin-1")         # raises if not a latin-1 native string
        lines.append("%s=%s" % (k, v))
    lines.append("wsgi.multithread=%r" % environ["wsgi.multithread"])
    lines.append("wsgi.input_terminated=%r" % environ.get("wsgi.input_terminated"))
    # latin-1 code points round trip to the raw bytes: send them as they came
    return _send(start_response, "\n".join(lines).encode("latin-1"))


class _Closing:
    """A response iterable with close(), which writes "closed after N
    items" to the file named in the query string: at most 20000 items of
    64 KiB (1.25 GB), more than any test reads."""

    def __init__(self, path):
        self.path = path
        self.sent = 0

    def __iter__(self):
        chunk = b"z" * 65536
        while self.sent < 20000:
            self.sent += 1
            yield chunk

    def close(self):
        with open(self.path, "a") as f:
            f.write("closed after %d items\n" % self.sent)


def _closing(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return _Closing(environ["QUERY_STRING"])


ROUTES = {
    "/closing": _closing, "/late-exc-info": _late_exc_info, "/print": _print,
    "/post": _post, "/lines": _lines, "/stream": _stream, "/write": _write,
    "/exc_info": _exc_info, "/late-error": _late_error, "/errors": _errors,
    "/file": _file, "/filelike": _filelike, "/environ": _environ,
}


def application(environ, start_response):
    route = ROUTES.get(environ.get("PATH_INFO", "/"))
    if route is not None:
        return route(environ, start_response)
    if environ.get("PATH_INFO") == "/":
        return _send(start_response, b"Hello, validated!")
    return _send(start_response, b"Not Found", status="404 Not Found")


validated = validator(application)
