"""A file mounted with `mount = /f=path/mounted.py`."""
import os


def application(environ, start_response):
    start_response("200 OK", [])
    return [("file %s|%s|%s" % (__name__, environ["SCRIPT_NAME"],
                                environ["PATH_INFO"])).encode()]
