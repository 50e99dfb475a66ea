#!/usr/bin/python3
"""Measure one benchmark configuration and append its figures as a JSON line.

Called by bench/run.sh once a server answers. It warms the server up with
wrk, snapshots the CPU time (utime + stime from /proc/PID/stat) of the
server's process tree and of the front nginx's tree, runs wrk with
lib/report.lua (with --think-ms, each connection pauses that long between
a response and its next request), snapshots again, reads the PSS of every
server process from /proc/PID/smaps_rollup, and appends one JSON object to
--out.

CPU per request counts only processes alive at both snapshots; a process
that appears or vanishes during the run is reported in "procs_changed"
(a crashed or respawned worker), so such a run is visible, not hidden.
A run in which no request completes fails with "waits": where each process
of the server and of the nginx in front sits (wrk 4.1 counts no timeouts,
so a server that stops answering shows no error of its own).
"""
import argparse
import json
import os
import signal
import subprocess
import sys

HZ = os.sysconf("SC_CLK_TCK")


def children_map():
    """ppid -> [pid] over every process on the machine."""
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(name))
    return kids


def tree(root):
    """root and all its descendants, root first."""
    if not root:
        return []
    kids, out, todo = children_map(), [], [root]
    while todo:
        pid = todo.pop(0)
        out.append(pid)
        todo.extend(sorted(kids.get(pid, [])))
    return out


def cpu_ticks(pids):
    """pid -> utime + stime in clock ticks, for the pids still alive."""
    ticks = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks[pid] = int(fields[11]) + int(fields[12])
    return ticks


def machine_ticks():
    """(busy, total) clock ticks of all CPUs from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def waits(pids):
    """pid -> "name: syscall N, wchan W" for each live pid: where a process
    that stopped answering sits (the syscall number and the kernel function
    it sleeps in, from /proc)."""
    out = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/syscall") as f:
                call = f.read().split()[0]
            with open(f"/proc/{pid}/wchan") as f:
                wchan = f.read().strip() or "-"
        except OSError:
            continue
        out[str(pid)] = f"{name}: syscall {call}, wchan {wchan}"
    return out


def run_wrk(args, seconds, script=None):
    cmd = []
    if args.wrk_cpu:
        cmd += ["taskset", "-c", args.wrk_cpu]
    cmd += ["timeout", str(int(seconds) + 20), "wrk", "-t", str(args.threads),
            "-c", str(args.connections), "-d", f"{seconds}s", "--latency"]
    if script:
        cmd += ["-s", script]
    cmd.append(args.url)
    if args.think_ms > 0:
        cmd.append(str(args.think_ms))  # report.lua's init(): the think time
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        return proc.communicate()[0]
    finally:
        if proc.poll() is None:  # stopped by SIGTERM: timeout passes it on to wrk
            proc.terminate()
            proc.wait()


def delta(before, after):
    common = before.keys() & after.keys()
    return sum(after[p] - before[p] for p in common), len(common)


def measure(args):
    if args.warmup > 0:
        run_wrk(args, args.warmup)
    server, front = tree(args.server_pid), tree(args.front_pid)
    s0, f0, m0 = cpu_ticks(server), cpu_ticks(front), machine_ticks()
    c0 = os.times()
    out = run_wrk(args, args.duration, os.path.join(os.path.dirname(__file__), "report.lua"))
    s1, f1, m1 = cpu_ticks(server), cpu_ticks(front), machine_ticks()
    c1 = os.times()
    after = tree(args.server_pid)
    line = next((l for l in out.splitlines() if l.startswith("WRKJSON ")), None)
    if line is None:
        return {"ok": False, "why": "wrk gave no figures: " + out.strip()[-300:]}
    w = json.loads(line[len("WRKJSON "):])
    reqs = w["requests"]
    secs = w["duration_us"] / 1e6
    s_ticks, _ = delta(s0, s1)
    f_ticks, _ = delta(f0, f1)
    # What else ran on the machine meanwhile: busy ticks less the server's,
    # nginx's and wrk's own, as a share of all CPUs (the run's noise).
    wrk_ticks = (c1.children_user + c1.children_system
                 - c0.children_user - c0.children_system) * HZ
    others = (m1[0] - m0[0]) - s_ticks - f_ticks - wrk_ticks
    pss = {pid: pss_kb(pid) for pid in after}
    workers = [p for p in after[1:] if pss.get(p)] or after[:1]
    extra = {}
    if reqs == 0:
        # wrk 4.1 counts no timeouts: a server or nginx that stopped
        # answering shows as no request and no error. Say so, and where
        # each of their processes waits, for whoever reads the raw figures.
        extra = {"why": "no request completed and wrk saw no error: the server or nginx "
                        "stopped answering (see \"waits\")",
                 "waits": waits(after + tree(args.front_pid))}
    return {
        **extra,
        "ok": reqs > 0,
        "requests": reqs,
        "seconds": round(secs, 3),
        "rps": round(reqs / secs, 1) if secs else 0.0,
        "p50_ms": w["p50_us"] / 1000.0,
        "p99_ms": w["p99_us"] / 1000.0,
        "errors": w["connect"] + w["read"] + w["write"] + w["timeout"],
        "errors_detail": {k: w[k] for k in ("connect", "read", "write", "timeout")},
        "non2xx": w["status"],
        "cpu_us_per_req": round(s_ticks / HZ * 1e6 / reqs, 2) if reqs else None,
        "front_cpu_us_per_req": round(f_ticks / HZ * 1e6 / reqs, 2) if reqs and front else None,
        "pss_total_kb": sum(v for v in pss.values() if v),
        "pss_worker_kb": round(sum(pss[p] or 0 for p in workers) / len(workers)),
        "nprocs": len(after),
        "procs_changed": sorted(set(server) ^ set(after)),
        "others_cpu_pct": round(max(others, 0) * 100.0 / max(m1[1] - m0[1], 1), 1),
    }


def main():
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server-pid", type=int, required=True)
    ap.add_argument("--front-pid", type=int, default=0, help="nginx in front, if any")
    ap.add_argument("--url", required=True)
    ap.add_argument("--duration", type=int, required=True, help="seconds")
    ap.add_argument("--warmup", type=int, default=1, help="seconds, 0: none")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--wrk-cpu", default="", help="CPU list for taskset, empty: unpinned")
    ap.add_argument("--think-ms", type=int, default=0,
                    help="each connection waits this long after a response (0: not at all)")
    ap.add_argument("--out", required=True, help="JSON lines file to append to")
    ap.add_argument("--meta", default="{}", help="JSON object merged into the record")
    args = ap.parse_args()
    rec = json.loads(args.meta)
    rec.update(measure(args))
    with open(args.out, "a") as f:
        f.write(json.dumps(rec, sort_keys=True) + "\n")
    if rec["ok"]:
        print(f"  {rec['rps']:>10.0f} req/s  p50 {rec['p50_ms']:.2f} ms  p99 {rec['p99_ms']:.2f} ms"
              f"  cpu {rec['cpu_us_per_req']} us/req  pss {rec['pss_total_kb'] / 1024:.1f} MB"
              f"  err {rec['errors']} non2xx {rec['non2xx']}")
    else:
        print("  FAILED: " + rec.get("why", "no request completed"))
        for pid, where in rec.get("waits", {}).items():
            print(f"    {pid} {where}")
    return 0 if rec["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
