"""Imported at start-up (the `import` option): a thread that counts while
the worker is outside Python, which only works if the GIL is released."""
import threading
import time

count = 0


def _run():
    global count
    while True:
        count += 1
        time.sleep(0.001)


threading.Thread(target=_run, daemon=True).start()


def application(environ, start_response):
    start_response("200 OK", [])
    return [str(count).encode()]
