#!/usr/bin/python3
"""Capture real-world seeds for the protocol fuzz targets.

Runs a throw-away nginx (uwsgi_pass with Debian's uwsgi_params) and two
recording listeners on loopback, sends a few curl requests through both
paths, and writes what arrived on the wire:

  corpus/fuzz_uwsgi/nginx-*    packets nginx sent (vars block and body)
  corpus/fuzz_http/curl-*      request heads (and bodies) curl sent
  corpus/fuzz_chunked/curl-*   chunked bodies curl sent

Usage: tests/fuzz/capture_seeds.py   (needs nginx and curl; about 10 s)
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# name -> curl arguments after the URL base ("{url}" is replaced)
REQUESTS = {
    "get": ["{url}/"],
    "get-query": ["{url}/search/caf%C3%A9?q=a+b&lang=fr&empty="],
    "head": ["-I", "{url}/static/app.css"],
    "post-form": ["-d", "user=ann&pass=s%26cret", "{url}/login?next=/home"],
    "post-json": ["-H", "Content-Type: application/json", "-d", '{"a": [1, 2]}', "{url}/api"],
    "post-chunked": ["-H", "Transfer-Encoding: chunked", "--data-binary",
                     "@{payload}", "{url}/upload"],
    "put-expect": ["-T", "{payload}", "-H", "Expect: 100-continue", "{url}/files/x.bin"],
    "options": ["-X", "OPTIONS", "{url}/api"],
    "repeated-header": ["-H", "X-Forwarded-For: 10.0.0.1", "-H", "X-Forwarded-For: 10.0.0.2",
                        "-H", "Accept:", "{url}/"],
    "delete-http10": ["-0", "-X", "DELETE", "{url}/items/7"],
    "cookies": ["-H", "Cookie: sessionid=abc; csrftoken=xyz", "-H", "Accept-Language: fr",
                "-H", "X-Forwarded-For: 10.0.0.1", "-A", "Mozilla/5.0 (X11; Linux x86_64)",
                "-e", "http://example.com/", "--compressed", "{url}/account"],
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recorder(threading.Thread):
    """Accept connections, keep the bytes of each, answer a tiny response."""

    def __init__(self, reply):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.reply = reply
        self.captures = []
        self.stop = False

    def run(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            data = b""
            conn.settimeout(0.5)
            while True:
                try:
                    chunk = conn.recv(65536)
                except socket.timeout:
                    break
                if not chunk:
                    break
                data += chunk
                if b"Expect: 100-continue" in data and b"\r\n\r\n" in data and \
                        data.count(b"\r\n\r\n") == 1 and data.endswith(b"\r\n\r\n"):
                    conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.captures.append(data)
            try:
                conn.sendall(self.reply)
            except OSError:
                pass
            conn.close()


def curl(name, base, payload):
    args = [a.replace("{url}", base).replace("{payload}", payload) for a in REQUESTS[name]]
    subprocess.run(["curl", "-s", "-o", "/dev/null", "--max-time", "3"] + args, check=False)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def main():
    tmp = tempfile.mkdtemp(prefix="corral-seeds-")
    payload = os.path.join(tmp, "payload.bin")
    write(payload, b"line one\r\nline two\n" + bytes(range(256)))
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    upstream, direct = Recorder(reply), Recorder(reply)
    upstream.start()
    direct.start()
    port = free_port()
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""
{"user root;" if os.geteuid() == 0 else ""} daemon off; worker_processes 1;
pid {tmp}/nginx.pid; error_log {tmp}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off; client_body_temp_path {tmp}/body; uwsgi_temp_path {tmp}/uwsgi;
  server {{
    listen 127.0.0.1:{port};
    location / {{ include /etc/nginx/uwsgi_params; uwsgi_pass 127.0.0.1:{upstream.port}; }}
  }}
}}
""")
    nginx = subprocess.Popen(["nginx", "-c", conf, "-p", tmp])
    try:
        time.sleep(0.5)
        for name in REQUESTS:
            n = len(upstream.captures)
            curl(name, f"http://127.0.0.1:{port}", payload)
            for _ in range(30):
                if len(upstream.captures) > n:
                    break
                time.sleep(0.1)
            if len(upstream.captures) > n:
                write(os.path.join(HERE, "corpus/fuzz_uwsgi/nginx-" + name), upstream.captures[-1])
            n = len(direct.captures)
            curl(name, f"http://127.0.0.1:{direct.port}", payload)
            for _ in range(30):
                if len(direct.captures) > n:
                    break
                time.sleep(0.1)
            if len(direct.captures) > n:
                data = direct.captures[-1]
                write(os.path.join(HERE, "corpus/fuzz_http/curl-" + name), data)
                if b"chunked" in data.split(b"\r\n\r\n", 1)[0]:
                    body = data.split(b"\r\n\r\n", 1)[1]
                    write(os.path.join(HERE, "corpus/fuzz_chunked/curl-" + name), body)
        # absolute-form, as curl sends it to a proxy
        subprocess.run(["curl", "-s", "-o", "/dev/null", "--max-time", "3", "-x",
                        f"http://127.0.0.1:{direct.port}", "http://example.com/a/b?c=d"],
                       check=False)
        time.sleep(0.7)
        write(os.path.join(HERE, "corpus/fuzz_http/curl-proxy-absolute-form"),
              direct.captures[-1])
    finally:
        nginx.terminate()
        nginx.wait(timeout=5)
        upstream.stop = direct.stop = True
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
