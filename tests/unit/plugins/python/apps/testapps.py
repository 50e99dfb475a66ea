"""WSGI apps driven by tests/unit/plugins/python/test_wsgi.c."""
import atexit
import io
import os
import sys
import warnings
import wsgiref.validate

warnings.simplefilter("error", wsgiref.validate.WSGIWarning)
HERE = os.path.dirname(os.path.abspath(__file__))


def simple(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def factory():
    return simple


notcallable = 42
validated = wsgiref.validate.validator(simple)


@atexit.register
def _at_exit():
    path = os.environ.get("CRL_TEST_ATEXIT")
    if path:
        with open(path, "w") as f:
            f.write("atexit ran")


def show(environ, start_response):
    """One line per environ entry: key, type name, repr of the value."""
    lines = []
    for k in sorted(environ):
        v = environ[k]
        if k in ("wsgi.input", "wsgi.errors", "wsgi.file_wrapper"):
            v = "<object>"
        lines.append("%s %s %r %s\n" % (k, type(environ[k]).__name__, v, type(k).__name__))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return ["".join(lines).encode("utf-8")]


def echo(environ, start_response):
    data = environ["wsgi.input"].read()
    extra = environ["wsgi.input"].read()
    start_response("200 OK", [])
    return [b"%d:" % len(data) + data + b"|" + extra]


def _echo_sized(environ, start_response):
    # the validator insists on an explicit size
    n = int(environ["CONTENT_LENGTH"])
    data = environ["wsgi.input"].read(n)
    line = environ["wsgi.input"].readline()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(data) + 1))])
    return [data + b"|" + line]


validated_echo = wsgiref.validate.validator(_echo_sized)


def lines(environ, start_response):
    inp = environ["wsgi.input"]
    out = []
    while True:
        line = inp.readline()
        if not line:
            break
        out.append(line)
    start_response("200 OK", [])
    return [repr(out).encode()]


def iterate(environ, start_response):
    out = list(environ["wsgi.input"])
    start_response("200 OK", [])
    return [repr(out).encode()]


def mixed(environ, start_response):
    inp = environ["wsgi.input"]
    a = inp.read(3)
    b = inp.readline(2)
    c = inp.readline()
    d = inp.readlines(1)
    e = inp.readlines()
    f = inp.read()
    start_response("200 OK", [])
    return [repr([a, b, c, d, e, f]).encode()]


def input_error(environ, start_response):
    try:
        environ["wsgi.input"].read()
        r = b"no error"
    except OSError as e:
        r = b"OSError " + type(e).__name__.encode()
    start_response("200 OK", [])
    return [r]


def writer(environ, start_response):
    write = start_response("200 OK", [("X-A", "1")])
    write(b"one,")
    write(bytearray(b"two,"))
    return [b"three"]


class Closing:
    def __init__(self, environ, parts, fail=False):
        self.errors = environ["wsgi.errors"]
        self.parts = parts
        self.fail = fail

    def __iter__(self):
        for p in self.parts:
            yield p
        if self.fail:
            raise ValueError("failed in the middle")

    def close(self):
        self.errors.write("close called\n")


def generator(environ, start_response):
    start_response("200 OK", [])
    return Closing(environ, [b"a", b"", b"b", memoryview(b"c")])


def _gen_typed(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return Closing(environ, [b"a", b"", b"b", b"c"])


validated_gen = wsgiref.validate.validator(_gen_typed)


def gen_fail_after(environ, start_response):
    start_response("200 OK", [])
    return Closing(environ, [b"part"], fail=True)


def gen_str_after(environ, start_response):
    start_response("200 OK", [])
    return Closing(environ, [b"part", "text"])


def gen_str_first(environ, start_response):
    start_response("200 OK", [])
    return Closing(environ, ["text"])


def str_item(environ, start_response):
    start_response("200 OK", [])
    return ["text"]


def fail_before(environ, start_response):
    raise KeyError("boom before")


def exits(environ, start_response):
    sys.exit(3)


def fail_gen_before(environ, start_response):
    start_response("200 OK", [])
    return Closing(environ, [], fail=True)


def exc_info_before(environ, start_response):
    start_response("200 OK", [("X-Ok", "1")])
    try:
        raise ValueError("oops")
    except ValueError:
        start_response("500 Oops", headers=[("X-Err", "1")], exc_info=sys.exc_info())
    return [b"error page"]


def exc_info_after(environ, start_response):
    write = start_response("200 OK", [])
    write(b"sent")
    try:
        raise ValueError("late failure")
    except ValueError:
        start_response("500 Oops", [], sys.exc_info())
    return [b"never"]


def sr_bad_args(environ, start_response):
    try:
        start_response("200 OK")
    except TypeError as e:
        a = str(e)
    try:
        start_response("200 OK", [], None, 1)
    except TypeError as e:
        b = str(e)
    try:
        start_response("200 OK", [], status="200 OK")
    except TypeError as e:
        c = str(e)
    start_response(status="200 OK", headers=[], exc_info=None)
    return [("%s|%s|%s" % (a, b, c)).encode()]


def twice(environ, start_response):
    start_response("200 OK", [])
    start_response("201 Created", [])
    return [b"x"]


def bad_header(environ, start_response):
    start_response("200 OK", [("X-A", "a\r\nInjected: 1")])
    return [b"x"]


def nonlatin_header(environ, start_response):
    start_response("200 OK", [("X-A", "\u20ac")])
    return [b"x"]


def tuple_headers(environ, start_response):
    start_response("200 OK", (("X-A", "1"),))
    return [b"x"]


def bad_status(environ, start_response):
    start_response("OK", [])
    return [b"x"]


def latin1_header(environ, start_response):
    start_response("200 OK", [("X-A", "caf\u00e9")])
    return [b"x"]


def no_start(environ, start_response):
    return [b"x"]


def empty(environ, start_response):
    start_response("204 No Content", [("X-E", "1")])
    return []


def file_real(environ, start_response):
    f = open(os.path.join(HERE, "data.txt"), "rb")
    f.read(6)  # a buffered file reads ahead: the offset must be tell()
    start_response("200 OK", [])
    return environ["wsgi.file_wrapper"](f, 4)


def file_bytesio(environ, start_response):
    start_response("200 OK", [])
    return environ["wsgi.file_wrapper"](io.BytesIO(b"0123456789"), 4)


def big(environ, start_response):
    start_response("200 OK", [])
    return [b"x" * 1000] * 5


def marks(environ, start_response):
    import builtins
    start_response("200 OK", [])
    return [b"marks=%d" % getattr(builtins, "corral_startup_marks", 0)]


def argv(environ, start_response):
    start_response("200 OK", [])
    return [repr(sys.argv).encode()]


def executable(environ, start_response):
    start_response("200 OK", [], sys.exc_info())  # (None, None, None): no error
    return [("%s %s" % (sys.executable, sys.prefix)).encode()]


def prefix(environ, start_response):
    start_response("200 OK", [])
    return [(sys.prefix + " " + sys.base_prefix).encode()]


def path(environ, start_response):
    start_response("200 OK", [])
    return [repr(sys.path[:4]).encode()]


def prints(environ, start_response):
    environ["wsgi.errors"].write("to the log\n")
    environ["wsgi.errors"].writelines(["a\n", "b\n"])
    environ["wsgi.errors"].flush()
    start_response("200 OK", [])
    return [b"ok"]


kept = []


def keep_input(environ, start_response):
    kept.append(environ["wsgi.input"])
    start_response("200 OK", [])
    return [b"kept"]


def stale_input(environ, start_response):
    try:
        kept[0].read()
        r = b"read worked"
    except OSError:
        r = b"stale OSError"
    start_response("200 OK", [])
    return [r, b"+", environ["wsgi.input"].read()]


def sleepy(environ, start_response):
    """Sleeps 0.5 s (the GIL is free meanwhile), then answers with its path."""
    import time
    path = environ["PATH_INFO"]
    time.sleep(0.5)
    start_response("200 OK", [("X-Path", path)])
    return [("%s mt=%s" % (path, environ["wsgi.multithread"])).encode()]


_local = None


def thread_local(environ, start_response):
    """threading.local data lives as long as the request thread."""
    import threading
    global _local
    if _local is None:
        _local = threading.local()
    _local.n = getattr(_local, "n", 0) + 1
    start_response("200 OK", [])
    return [b"n=%d" % _local.n]


def write_many(environ, start_response):
    """Writes 20 pieces, then says on wsgi.errors how many raised."""
    write = start_response("200 OK", [])
    raised = 0
    for _ in range(20):
        try:
            write(b"x" * 100)
        except OSError:
            raised += 1
    environ["wsgi.errors"].write("wrote 20, %d raised\n" % raised)
    return []


def write_uncaught(environ, start_response):
    write = start_response("200 OK", [])
    for _ in range(20):
        write(b"x" * 100)
    return []


def big_closing(environ, start_response):
    start_response("200 OK", [])
    return Closing(environ, [b"x" * 1000] * 5)


def ignore_body(environ, start_response):
    start_response("200 OK", [])
    return [b"ignored"]


def frozen(environ, start_response):
    import gc
    start_response("200 OK", [])
    return [b"frozen=%s" % (b"yes" if gc.get_freeze_count() > 1000 else b"no")]


def _where(name):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [("%s|%s|%s" % (name, environ["SCRIPT_NAME"], environ["PATH_INFO"])).encode()]
    return wsgiref.validate.validator(app)


where_default = _where("default")
where_api = _where("api")
where_v2 = _where("v2")
where_root = _where("root")


def _bad(environ, start_response):
    """One misbehaving app per path; /ok behaves."""
    kind = environ["PATH_INFO"].strip("/")
    if kind == "none":
        start_response("200 OK", [])
        return None
    if kind == "int":
        start_response("200 OK", [])
        return 42
    if kind == "twice":
        start_response("200 OK", [])
        start_response("500 Again", [])
        return [b"x"]
    if kind == "str_items":
        start_response("200 OK", [])
        return ["text"]
    if kind == "header_list":
        start_response("200 OK", [["X-A", "1"]])
    elif kind == "header_triple":
        start_response("200 OK", [("X-A", "1", "2")])
    elif kind == "header_bytes":
        start_response("200 OK", [(b"X-A", "1")])
    elif kind == "header_int":
        start_response("200 OK", [("X-A", 1)])
    elif kind == "headers_dict":
        start_response("200 OK", {"X-A": "1"})
    elif kind == "status_bytes":
        start_response(b"200 OK", [])
    elif kind == "write_str":
        start_response("200 OK", [])("text")
    else:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
    return [b"unreachable"]


bad = _bad


def _validated_writer(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"one,")
    return [b"two"]


validated_writer = wsgiref.validate.validator(_validated_writer)


def _validated_file(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return environ["wsgi.file_wrapper"](open(os.path.join(HERE, "data.txt"), "rb"))


validated_file = wsgiref.validate.validator(_validated_file)
