"""A WSGI module that cannot be imported: loading it raises. The lifecycle
tests use it to check that need-app exits at once with a clear message and
that, with lazy-apps, workers that die at start are not respawned in a hot
loop."""
raise RuntimeError("raise_at_import: this module always fails to import")


def application(environ, start_response):   # never reached
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"unreachable"]
