"""WSGI applications that break PEP 3333, one per path, behind a
dispatcher that is itself correct; `/` and `/pid` answer normally so that
a test can check the worker survived.

  /non-iterable        returns 42
  /str-items           returns ["a str, not bytes"]
  /headers-dict        headers as a dict
  /headers-lists       headers as a list of lists
  /headers-bytes       headers as a list of tuples of bytes
  /twice               start_response twice without exc_info

For mounts: `not_callable` (a str) cannot be loaded at all;
`looks_callable` passes callable() but calling it fails (its __call__ is
None), so the server finds out only when a request comes.
"""
import os

not_callable = "this is a str, not a WSGI callable"


class _LooksCallable:
    __call__ = None


looks_callable = _LooksCallable()


def _non_iterable(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return 42


def _str_items(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return ["a str, not bytes"]


def _headers_dict(environ, start_response):
    start_response("200 OK", {"Content-Type": "text/plain"})
    return [b"dict headers"]


def _headers_lists(environ, start_response):
    start_response("200 OK", [["Content-Type", "text/plain"]])
    return [b"list headers"]


def _headers_bytes(environ, start_response):
    start_response("200 OK", [(b"Content-Type", b"text/plain")])
    return [b"bytes headers"]


def _twice(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    start_response("201 Created", [("Content-Type", "text/plain")])
    return [b"twice"]


BAD = {
    "/non-iterable": _non_iterable,
    "/str-items": _str_items,
    "/headers-dict": _headers_dict,
    "/headers-lists": _headers_lists,
    "/headers-bytes": _headers_bytes,
    "/twice": _twice,
}


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path in BAD:
        return BAD[path](environ, start_response)
    body = str(os.getpid()).encode() if path == "/pid" else b"fine"
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
