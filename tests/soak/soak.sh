#!/usr/bin/env bash
# Soak test: send many requests through ONE worker and check that its
# resident memory does not grow.
#
#   tests/soak/soak.sh [requests]        default 200000 (or $SOAK_REQUESTS)
#
# Corral serves examples/hello/app.py with one worker on an http-socket and
# a uwsgi socket of 127.0.0.1. A client sends a mix of requests (keep-alive
# HTTP GETs, POSTs with a body, chunked uploads, HEADs, 404s, an app
# exception now and then, and uwsgi requests on their own connections). The
# worker's RSS is read after the first 10,000 requests (warm-up: imports,
# caches, allocator arenas) and at the end; the test fails when the end is
# more than 5% above the warm-up value, or when the worker was replaced,
# or when a request failed.
#
# Use a build without sanitizers: ASan's quarantine alone grows the RSS by
# hundreds of MB. (Run under ASan, the script still reports sanitizer lines,
# but its RSS verdict means nothing.)
#
# Environment: CORRAL_BIN (default build/corral), SOAK_REQUESTS (when no
# argument), SOAK_TIMEOUT (seconds, default 1800), SOAK_KEEP=1 keeps the tmp
# dir with the server log, SOAK_APP_DIR a directory whose app.py answers like
# examples/hello/app.py (to check that the script catches a leaking app).
# CI runs a small count:
#   SOAK_REQUESTS=30000 tests/soak/soak.sh
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$(pwd)
REQUESTS=${1:-${SOAK_REQUESTS:-200000}}
WARMUP=10000
TIMEOUT=${SOAK_TIMEOUT:-1800}
BIN=${CORRAL_BIN:-$ROOT/build/corral}
APP_DIR=${SOAK_APP_DIR:-$ROOT/examples/hello}
PY=/usr/bin/python3

case "$REQUESTS" in ''|*[!0-9]*) echo "soak.sh: requests must be a number" >&2; exit 2 ;; esac
if [ "$REQUESTS" -le "$WARMUP" ]; then
    echo "soak.sh: requests must be above the $WARMUP warm-up requests" >&2
    exit 2
fi
[ -x "$BIN" ] || { echo "soak.sh: no executable $BIN (build it, or set CORRAL_BIN)" >&2; exit 2; }

TMP=$(mktemp -d /tmp/corral-soak.XXXXXX)
MASTER=
cleanup() {
    if [ -n "$MASTER" ] && kill -0 "$MASTER" 2>/dev/null; then
        kill -TERM "$MASTER" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$MASTER" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$MASTER" 2>/dev/null || true
    fi
    if [ "${SOAK_KEEP:-0}" = 1 ]; then
        echo "soak.sh: kept $TMP"
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
HPORT=$(free_port)
UPORT=$(free_port)

cat > "$TMP/soak.ini" <<EOF
[uwsgi]
chdir = $APP_DIR
module = app:application
master = true
processes = 1
http-socket = 127.0.0.1:$HPORT
socket = 127.0.0.1:$UPORT
disable-logging = true
EOF

# Own session, so that cleanup can signal the whole group; a clean
# environment except the sanitizers' options.
sanitizer_env=()
for v in ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS; do
    if [ -n "${!v:-}" ]; then sanitizer_env+=("$v=${!v}"); fi
done
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 \
    "${sanitizer_env[@]}" setsid "$BIN" --ini "$TMP/soak.ini" > "$TMP/corral.log" 2>&1 < /dev/null &
MASTER=$!

echo "soak.sh: $REQUESTS requests through one worker of $BIN (log: $TMP/corral.log)"
rc=0
"$PY" - "$MASTER" "$HPORT" "$UPORT" "$REQUESTS" "$WARMUP" "$TIMEOUT" <<'EOF' || rc=$?
import socket, struct, sys, time
from pathlib import Path

master, hport, uport, total, warmup, timeout = map(int, sys.argv[1:])
deadline = time.monotonic() + timeout


def fail(msg):
    print("soak.sh: FAIL: " + msg, flush=True)
    sys.exit(1)


def workers():
    try:
        text = Path("/proc/%d/task/%d/children" % (master, master)).read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def rss_kb(pid):
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    fail("no VmRSS for pid %d" % pid)


# wait for the server
while True:
    if time.monotonic() > deadline or not Path("/proc/%d" % master).exists():
        fail("the server did not start")
    try:
        socket.create_connection(("127.0.0.1", hport), 1).close()
        socket.create_connection(("127.0.0.1", uport), 1).close()
        if workers():
            break
    except OSError:
        pass
    time.sleep(0.1)
worker = workers()[0]


class Http:
    """One keep-alive HTTP/1.1 connection; reconnects when the server closes."""

    def __init__(self):
        self.sock, self.buf = None, b""

    def request(self, raw, head_only=False):
        for attempt in (1, 2):
            if self.sock is None:
                self.sock = socket.create_connection(("127.0.0.1", hport), 10)
                self.buf = b""
            try:
                self.sock.sendall(raw)
                return self.response(head_only)
            except (ConnectionError, EOFError):
                self.sock.close()
                self.sock = None
                if attempt == 2:
                    raise

    def fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError
        self.buf += chunk

    def response(self, head_only):
        while b"\r\n\r\n" not in self.buf:
            self.fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length, close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        if head_only:
            length = 0
        while len(self.buf) < length:
            self.fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        if close:
            self.sock.close()
            self.sock = None
        return status, body


def uwsgi(path, body=b""):
    pairs = [("REQUEST_METHOD", "POST" if body else "GET"), ("PATH_INFO", path),
             ("QUERY_STRING", ""), ("REQUEST_URI", path), ("SERVER_PROTOCOL", "HTTP/1.1"),
             ("SERVER_NAME", "localhost"), ("SERVER_PORT", "80"), ("REMOTE_ADDR", "127.0.0.1"),
             ("HTTP_HOST", "localhost"), ("CONTENT_LENGTH", str(len(body)) if body else "")]
    block = b"".join(struct.pack("<H", len(k)) + k.encode() + struct.pack("<H", len(v)) +
                     v.encode() for k, v in pairs)
    with socket.create_connection(("127.0.0.1", uport), 10) as s:
        s.sendall(struct.pack("<BHB", 0, len(block), 0) + block + body)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), rest


BODY = bytes(range(256)) * 8      # 2 KB
H = "Host: localhost\r\nUser-Agent: soak\r\n"
GET = ("GET / HTTP/1.1\r\n" + H + "\r\n").encode()
ENV = ("GET /env?a=1&b=2 HTTP/1.1\r\n" + H + "Cookie: x=%s\r\n\r\n" % ("c" * 300)).encode()
POST = ("POST /echo HTTP/1.1\r\n" + H + "Content-Type: application/octet-stream\r\n"
        "Content-Length: %d\r\n\r\n" % len(BODY)).encode() + BODY
CHUNKED = ("POST /echo HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n"
           "Content-Length-Ignored: 1\r\n\r\n").encode() + \
    b"400\r\n" + BODY[:1024] + b"\r\n400\r\n" + BODY[1024:] + b"\r\n0\r\n\r\n"
HEAD = ("HEAD /big?100000 HTTP/1.1\r\n" + H + "\r\n").encode()
MISSING = ("GET /missing HTTP/1.1\r\n" + H + "\r\n").encode()
BIG = ("GET /big?200000 HTTP/1.1\r\n" + H + "\r\n").encode()
ERROR = ("GET /error HTTP/1.1\r\n" + H + "\r\n").encode()


def one(i, conn):
    """Request number i of the mix; returns (status, expected status, ok)."""
    k = i % 20
    if k in (0, 1, 2, 3, 4, 5, 6):
        st, body = conn.request(GET)
        return st, 200, body == b"Hello, World!"
    if k in (7, 8):
        st, body = conn.request(ENV)
        return st, 200, b"PATH_INFO=/env" in body
    if k in (9, 10):
        st, body = conn.request(POST)
        return st, 200, body == BODY
    if k == 11:
        # hello's /echo reads CONTENT_LENGTH bytes: Corral reads a chunked
        # body whole first and gives its length
        st, body = conn.request(CHUNKED)
        return st, 200, body == BODY
    if k == 12:
        st, body = conn.request(HEAD, head_only=True)
        return st, 200, True
    if k == 13:
        st, body = conn.request(MISSING)
        return st, 404, body == b"Not Found"
    if k == 14:
        st, body = conn.request(BIG)
        return st, 200, len(body) == 200000
    if k == 15 and i % 1000 == 15:
        st, body = conn.request(ERROR)       # a traceback in the log, now and then
        return st, 500, True
    if k in (16, 17):
        st, body = uwsgi("/echo", BODY)
        return st, 200, body == BODY
    st, body = uwsgi("/")
    return st, 200, body == b"Hello, World!"


conn = Http()
base = None
t0 = time.monotonic()
for i in range(total):
    if time.monotonic() > deadline:
        fail("SOAK_TIMEOUT after %d requests" % i)
    try:
        st, want, ok = one(i, conn)
    except (OSError, EOFError, ValueError, IndexError) as e:
        fail("request %d failed: %r" % (i, e))
    if st != want or not ok:
        fail("request %d: status %d (expected %d), body ok: %s" % (i, st, want, ok))
    if i + 1 == warmup:
        base = rss_kb(worker)
        print("soak.sh: RSS after %d requests: %d kB" % (warmup, base), flush=True)
    elif base and (i + 1) % 50000 == 0:
        print("soak.sh: RSS after %d requests: %d kB" % (i + 1, rss_kb(worker)), flush=True)
    if (i + 1) % 1000 == 0 and workers() != [worker]:
        fail("the worker was replaced after %d requests: %r -> %r" % (i + 1, worker, workers()))

end = rss_kb(worker)
elapsed = time.monotonic() - t0
growth = 100.0 * (end - base) / base
print("soak.sh: RSS after %d requests: %d kB (%+.1f%% since request %d); %.0f req/s"
      % (total, end, growth, warmup, total / elapsed), flush=True)
if end > base * 1.05:
    fail("the worker's RSS grew by %.1f%% (limit 5%%)" % growth)
print("soak.sh: PASS", flush=True)
EOF

if ! kill -0 "$MASTER" 2>/dev/null; then
    echo "soak.sh: FAIL: the server exited; log:" >&2
    tail -20 "$TMP/corral.log" >&2
    rc=1
else
    # Stop it now, so that exit-time reports (LeakSanitizer) are in the log.
    kill -TERM "$MASTER"
    for _ in $(seq 300); do kill -0 "$MASTER" 2>/dev/null || break; sleep 0.1; done
    if wait "$MASTER"; then :; else
        echo "soak.sh: FAIL: the master exited with status $? after SIGTERM" >&2
        rc=1
    fi
fi
if grep -E "AddressSanitizer|LeakSanitizer|runtime error: |killed by signal" "$TMP/corral.log" >&2; then
    echo "soak.sh: FAIL: sanitizer report or crash in the log" >&2
    rc=1
fi
exit "$rc"
