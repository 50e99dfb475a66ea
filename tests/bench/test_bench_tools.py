"""bench/'s scripts and reports, without running a benchmark.

A full run takes 50 minutes and is not part of CI; these check in a few
seconds that what turns raw figures into the committed tables still works,
that the scripts parse, and that bad arguments are refused before anything
is installed or started.
"""
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
PY = sys.executable


def run(*args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=120, **kw)


def test_scripts_parse():
    for script in sorted(BENCH.glob("*.sh")) + [BENCH / "lib" / "common.sh"]:
        res = run("bash", "-n", str(script))
        assert res.returncode == 0, f"{script}: {res.stderr}"


def test_bad_arguments_are_refused_before_any_work():
    cases = [
        (["run.sh", "--think-ms", "0"], "--think-ms wants a whole number"),
        (["run.sh", "--think-ms", "07"], "--think-ms wants a whole number"),
        (["run.sh", "--bogus"], "unknown option --bogus"),
        (["p99.sh", "--spin", "8x"], "'8x' is not a whole number"),
        (["p99.sh", "--rounds", "0"], "--rounds and --duration must be above 0"),
        (["p99.sh", "--bogus"], "unknown option --bogus"),
    ]
    for argv, message in cases:
        res = run("bash", str(BENCH / argv[0]), *argv[1:])
        assert res.returncode == 2, (argv, res.stdout, res.stderr)
        assert message in res.stderr, (argv, res.stderr)


def record(rnd, mode, app, path, server, rps, p99, cpu, pss=10000, **extra):
    rec = {"round": rnd, "mode": mode, "app": app, "path": path, "server": server,
           "workers": 1 if mode == "1w" else 2, "connections": 32, "duration": 10,
           "think_ms": 3 if path == "paced" else 0, "ok": True, "requests": int(rps * 10),
           "seconds": 10.0, "rps": rps, "p50_ms": p99 / 3, "p99_ms": p99, "errors": 0,
           "errors_detail": {"connect": 0, "read": 0, "write": 0, "timeout": 0},
           "non2xx": 0, "cpu_us_per_req": cpu, "front_cpu_us_per_req": 30.0,
           "pss_total_kb": pss * 2, "pss_worker_kb": pss, "nprocs": 2,
           "procs_changed": [], "others_cpu_pct": 1.0}
    rec.update(extra)
    return rec


def test_report_targets_from_raw_figures(tmp_path):
    # Two rounds of hello behind nginx, 1 worker: Corral/uWSGI req/s ratios
    # 1.2 and 1.0 (median 1.1: met), CPU 0.5 and 0.8 (median 0.65: met),
    # p99 1.5 and 0.5 (median 1.0: met, one round of two on its own).
    recs = [
        record(1, "1w", "hello", "nginx", "corral", 12000, 3.0, 10.0),
        record(1, "1w", "hello", "nginx", "uwsgi", 10000, 2.0, 20.0),
        record(2, "1w", "hello", "nginx", "uwsgi", 10000, 4.0, 20.0),
        record(2, "1w", "hello", "nginx", "corral", 10000, 2.0, 16.0),
    ]
    raw = tmp_path / "run.jsonl"
    raw.write_text("".join(json.dumps(r) + "\n" for r in recs))
    res = run(PY, str(BENCH / "lib" / "report.py"), "--raw", str(raw),
              "--out", str(tmp_path / "out"), "--note", "test run")
    assert res.returncode == 0, res.stderr
    md = (tmp_path / "out.md").read_text()
    assert "test run" in md
    assert "| hello behind nginx: req/s ≥ 1.1× uWSGI | 1w | 1.10 | 1.00–1.20 | 1/2 | met |" in md
    assert "| hello behind nginx: server CPU/req ≤ 0.75× uWSGI | 1w | 0.65 | 0.50–0.80 | 1/2 | met |" in md
    assert "| hello behind nginx: p99 no worse than uWSGI | 1w | 1.00 | 0.50–1.50 | 1/2 | met |" in md


def test_report_updates_only_the_marked_readme_block(tmp_path):
    recs = [record(1, "1w", "hello", "nginx", s, 10000, 2.0, 20.0) for s in ("corral", "uwsgi")]
    raw = tmp_path / "run.jsonl"
    raw.write_text("".join(json.dumps(r) + "\n" for r in recs))
    readme = tmp_path / "README.md"
    readme.write_text("before\n<!-- latest results: written by lib/report.py -->\nSTALE FIGURES\n"
                      "<!-- end of latest results -->\nafter\n")
    res = run(PY, str(BENCH / "lib" / "report.py"), "--raw", str(raw),
              "--out", str(tmp_path / "bench-x"), "--readme", str(readme))
    assert res.returncode == 0, res.stderr
    text = readme.read_text()
    assert text.startswith("before\n") and text.endswith("after\n")
    assert "STALE FIGURES" not in text and "bench-x.md" in text


def test_p99_report_ratios_within_rounds(tmp_path):
    recs = [
        {"round": 1, "server": "uwsgi", "ok": True, "rps": 10000, "p50_ms": 1, "p99_ms": 2.0,
         "cpu_us_per_req": 25, "front_cpu_us_per_req": 35, "others_cpu_pct": 1},
        {"round": 1, "server": "corral", "ok": True, "rps": 13000, "p50_ms": 1, "p99_ms": 3.0,
         "cpu_us_per_req": 13, "front_cpu_us_per_req": 33, "others_cpu_pct": 1},
        {"round": 2, "server": "corral", "ok": True, "rps": 12000, "p50_ms": 1, "p99_ms": 2.0,
         "cpu_us_per_req": 13, "front_cpu_us_per_req": 33, "others_cpu_pct": 3},
        {"round": 2, "server": "uwsgi", "ok": True, "rps": 10000, "p50_ms": 1, "p99_ms": 4.0,
         "cpu_us_per_req": 25, "front_cpu_us_per_req": 35, "others_cpu_pct": 1},
        {"round": 1, "server": "corral+16", "ok": False, "why": "did not start"},
    ]
    raw = tmp_path / "p99.jsonl"
    raw.write_text("".join(json.dumps(r) + "\n" for r in recs))
    out = tmp_path / "p99.md"
    res = run(PY, str(BENCH / "lib" / "p99_report.py"), "--raw", str(raw), "--out", str(out))
    assert res.returncode == 0, res.stderr
    md = out.read_text()
    # p99 ratios 1.50 (round 1) and 0.50 (round 2): median 1.00, one round at or under.
    assert "| corral | 12,500 | 1.00 | 2.50 | 13.0 | 33.0 | 1.25 | 1.00 | 1.50 0.50 | 1/2 |" in md
    assert "| uwsgi | 10,000 |" in md
    assert "| corral+16 | – | – | – |" in md
    assert "1 measurement(s) failed" in md


def test_p99_report_without_figures_fails(tmp_path):
    raw = tmp_path / "empty.jsonl"
    raw.write_text("")
    res = run(PY, str(BENCH / "lib" / "p99_report.py"), "--raw", str(raw),
              "--out", str(tmp_path / "x.md"))
    assert res.returncode == 1
    assert "no figures" in res.stderr


SILENT_SERVER = """
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
print(s.getsockname()[1], flush=True)
held = []
while True:
    held.append(s.accept()[0])  # read nothing, answer nothing
"""


def test_measure_names_a_server_that_stops_answering(tmp_path):
    # wrk 4.1 counts no timeouts: against a server that accepts and never
    # answers it reports no request and no error. measure.py must call that
    # a failure, say why, and record where the server's process waits.
    srv = subprocess.Popen([PY, "-c", SILENT_SERVER], stdout=subprocess.PIPE, text=True)
    try:
        port = int(srv.stdout.readline())
        out = tmp_path / "m.jsonl"
        res = run(PY, str(BENCH / "lib" / "measure.py"), "--server-pid", str(srv.pid),
                  "--url", f"http://127.0.0.1:{port}/", "--duration", "1", "--warmup", "0",
                  "--connections", "2", "--threads", "1", "--out", str(out),
                  "--meta", '{"server": "silent"}')
    finally:
        srv.kill()
        srv.wait()
    assert res.returncode == 1, res.stdout + res.stderr
    assert "FAILED: no request completed and wrk saw no error" in res.stdout
    rec = json.loads(out.read_text())
    assert rec["ok"] is False and rec["server"] == "silent" and rec["requests"] == 0
    assert str(srv.pid) in rec["waits"]
    assert rec["waits"][str(srv.pid)].startswith("python3: syscall ")


def uwsgi_packet(vars_):
    body = b"".join(len(k).to_bytes(2, "little") + k + len(v).to_bytes(2, "little") + v
                    for k, v in vars_.items())
    return bytes([0]) + len(body).to_bytes(2, "little") + bytes([0]) + body


def start_stub(tmp_path, processes):
    binary = tmp_path / "stub"
    res = run("gcc", "-O2", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-o", str(binary),
              str(BENCH / "stub.c"))
    assert res.returncode == 0, res.stderr
    path = str(tmp_path / "stub.sock")
    proc = subprocess.Popen([str(binary), path, str(processes)], stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 30
    while True:
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            s.close()
            break
        except OSError:
            s.close()
            assert time.monotonic() < deadline, "the stub did not listen"
            time.sleep(0.05)
    return proc, path


def ask(path, packet, close_early=False):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(path)
    s.sendall(packet)
    if close_early:
        s.close()
        return None
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    return data


def test_stub_outlives_a_client_that_went_away(tmp_path):
    # With one process: hold the stub in read() on connection A, queue B
    # with a whole request and close it, then let A go. The stub answers A,
    # then writes to B's closed socket (EPIPE): that must not kill it.
    proc, path = start_stub(tmp_path, 1)
    try:
        pkt = uwsgi_packet({b"REQUEST_METHOD": b"GET", b"PATH_INFO": b"/"})
        a = socket.socket(socket.AF_UNIX)
        a.settimeout(30)
        a.connect(path)
        a.sendall(pkt[:2])  # the stub now waits for the rest of A
        ask(path, pkt, close_early=True)
        a.sendall(pkt[2:])
        assert a.recv(4096).startswith(b"HTTP/1.1 200 OK")
        a.close()
        assert ask(path, pkt).endswith(b"Hello, World!")  # still serving after B
        assert proc.poll() is None
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0


def test_stub_stops_when_a_process_dies(tmp_path):
    proc, path = start_stub(tmp_path, 2)
    try:
        kids = [int(p) for p in pathlib.Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
                .read_text().split()]
        assert len(kids) == 2
        os.kill(kids[0], signal.SIGKILL)
        assert proc.wait(timeout=30) == 1
        assert f"stub: process {kids[0]} killed by signal 9" in proc.stderr.read()
        assert not os.path.exists(path)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
