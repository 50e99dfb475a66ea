#!/usr/bin/python3
"""Turn `strace -c -f` summaries into a Markdown table of syscalls per request.

Input (--traces): lines "NAME ANSWERED FILE", one per traced server, where
ANSWERED is how many requests got a 200 while strace was attached. Each
syscall's call count is divided by ANSWERED; errors are kept apart.
"""
import argparse
import datetime
import sys

LABELS = {
    "corral-nginx": "Corral behind nginx",
    "uwsgi-nginx": "uWSGI behind nginx",
    "corral-http": "Corral --http-socket",
    "uwsgi-http": "uWSGI --http-socket",
    "uwsgi-http11": "uWSGI --http11-socket",
}


def parse(path):
    """syscall -> (calls, errors) from one strace -c summary."""
    out = {}
    with open(path) as f:
        for line in f:
            tok = line.split()
            if len(tok) < 5 or not tok[0][0].isdigit() or tok[-1] == "total":
                continue
            errors = int(tok[4]) if len(tok) == 6 else 0
            out[tok[-1]] = (int(tok[3]), errors)
    return out


def per_request(count, n):
    return "<0.01" if count / n < 0.005 else f"{count / n:.2f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--traces", required=True)
    ap.add_argument("--requests", type=int, required=True)
    args = ap.parse_args()
    runs = []
    with open(args.traces) as f:
        for line in f:
            name, answered, path = line.split()
            if int(answered) > 0:
                runs.append((name, int(answered), parse(path)))
    if not runs:
        return 1
    names = sorted({s for _, _, calls in runs for s in calls},
                   key=lambda s: -max(c.get(s, (0, 0))[0] / n for _, n, c in runs))
    stamp = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC")
    print(f"# Syscalls per request, {stamp}\n")
    print(f"`strace -c -f` attached to every process of the server (master and worker; "
          f"not nginx) after a warm-up, over {args.requests} sequential requests from one "
          f"curl (keep-alive where the server keeps the connection). Hello app, 1 worker. "
          f"A cell is calls per request; errors (EAGAIN and the like) in brackets.\n")
    print("| syscall | " + " | ".join(LABELS.get(n, n) for n, _, _ in runs) + " |")
    print("|---|" + "---:|" * len(runs))
    for s in names:
        cells = []
        for _, n, calls in runs:
            c, e = calls.get(s, (0, 0))
            cells.append(per_request(c, n) + (f" ({per_request(e, n)})" if e else "") if c else "")
        print(f"| {s} | " + " | ".join(cells) + " |")
    totals = [sum(c for c, _ in calls.values()) / n for _, n, calls in runs]
    print("| **total** | " + " | ".join(f"**{t:.2f}**" for t in totals) + " |")
    print("| requests answered | " + " | ".join(str(n) for _, n, _ in runs) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
