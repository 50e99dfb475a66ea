"""Imports C extension modules of Debian's Python and uses each once. They
are built against /usr/bin/python3, whose C API they take from the process
itself: a corral with the Python plugin built in (CORRAL_PYTHON_STATIC) must
export the same API, and a corral loading corral_python.so takes it from
libpython3.X.so. GET / answers one line per module: "name ok" or
"name FAILED: why"."""
import sys


def _checks():
    def ssl_():
        import ssl
        return ssl.create_default_context().protocol

    def sqlite3_():
        import sqlite3
        db = sqlite3.connect(":memory:")
        return db.execute("select 6 * 7").fetchone()[0]

    def ctypes_():
        import ctypes
        # The C API through the process's own symbols, as ctypes finds it.
        ctypes.pythonapi.Py_GetVersion.restype = ctypes.c_char_p
        return ctypes.pythonapi.Py_GetVersion().decode()[:4]

    def decimal_():
        import decimal
        return str(decimal.Decimal(1) / decimal.Decimal(7))[:6]

    def hashlib_():
        import hashlib
        return hashlib.sha256(b"corral").hexdigest()[:8]

    def zlib_():
        import zlib
        return zlib.decompress(zlib.compress(b"corral"))

    def pyexpat_():
        import xml.etree.ElementTree as ET
        return ET.fromstring("<a><b/></a>")[0].tag

    def json_():
        import _json
        import json
        return json.dumps({"a": [1, 2]}) and _json.__name__

    def multiprocessing_():
        import multiprocessing  # _multiprocessing: a POSIX semaphore
        return multiprocessing.Lock().acquire(timeout=1)

    def asyncio_():
        import asyncio
        return asyncio.run(asyncio.sleep(0, result="slept"))

    return [("ssl", ssl_), ("sqlite3", sqlite3_), ("ctypes", ctypes_),
            ("decimal", decimal_), ("hashlib", hashlib_), ("zlib", zlib_),
            ("pyexpat", pyexpat_), ("json", json_),
            ("multiprocessing", multiprocessing_), ("asyncio", asyncio_)]


def application(environ, start_response):
    lines = []
    for name, check in _checks():
        try:
            check()
            lines.append("%s ok" % name)
        except Exception as e:  # each module reports on its own line
            lines.append("%s FAILED: %r" % (name, e))
    lines.append("version %d.%d" % sys.version_info[:2])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("\n".join(lines) + "\n").encode()]
