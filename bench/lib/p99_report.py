#!/usr/bin/python3
"""Summarise a bench/p99.sh run: a Markdown table, written to --out.

For each server: medians over rounds of requests/s, p50, p99 and server CPU
per request, and the median of the per-round ratios to uWSGI (both ran in
the same round) with how many rounds had a p99 at or under uWSGI's.
"""
import argparse
import json
import statistics
import sys


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def fmt(v, spec):
    return "–" if v is None else format(v, spec)


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def report(rows, note):
    ok = [r for r in rows if r.get("ok")]
    failed = len(rows) - len(ok)
    by_round = {}
    for r in ok:
        by_round.setdefault(r["round"], {})[r["server"]] = r
    servers = []
    for r in rows:  # in the order of the first round
        if r["server"] not in servers:
            servers.append(r["server"])
    out = [
        "# 2-worker p99 at full load, with Corral slowed on purpose",
        "",
        f"bench/p99.sh: {note}. hello behind nginx (uwsgi protocol, unix socket), 2 "
        "workers and 2 nginx workers unpinned, wrk with 2 threads, as run.sh's 2w rows. "
        "`corral+N` is Corral with its app burning N µs of CPU per request "
        "(bench/apps/spin.py). Ratios are taken within a round, against uWSGI; the "
        "median over rounds is shown.",
        "",
        "| server | req/s | p50 ms | p99 ms | server CPU µs/req | nginx CPU µs/req "
        "| req/s ratio | p99 ratio | per-round p99 ratios | rounds p99 ≤ uWSGI's |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for s in servers:
        mine = [r for r in ok if r["server"] == s]
        pairs = [(rd[s], rd["uwsgi"]) for rd in by_round.values()
                 if s in rd and "uwsgi" in rd and rd["uwsgi"]["p99_ms"] > 0]
        if s == "uwsgi" or not pairs:
            rps_r = p99_r = None
            per, met = "", ""
        else:
            rps_r = med([a["rps"] / b["rps"] for a, b in pairs])
            ratios = [a["p99_ms"] / b["p99_ms"] for a, b in pairs]
            p99_r = med(ratios)
            per = " ".join(f"{x:.2f}" for x in ratios)
            met = f"{sum(x <= 1 for x in ratios)}/{len(ratios)}"
        out.append(
            f"| {s} | {fmt(med([r['rps'] for r in mine]), ',.0f')} "
            f"| {fmt(med([r['p50_ms'] for r in mine]), '.2f')} "
            f"| {fmt(med([r['p99_ms'] for r in mine]), '.2f')} "
            f"| {fmt(med([r['cpu_us_per_req'] for r in mine]), '.1f')} "
            f"| {fmt(med([r.get('front_cpu_us_per_req') for r in mine]), '.1f')} "
            f"| {fmt(rps_r, '.2f')} | {fmt(p99_r, '.2f')} | {per} | {met} |")
    if failed:
        out += ["", f"{failed} measurement(s) failed and are left out (see the .jsonl)."]
    others = [r.get("others_cpu_pct") for r in ok if r.get("others_cpu_pct") is not None]
    if others:
        out += ["", f"Others' CPU during the runs: median {statistics.median(others):.0f}%, "
                f"at most {max(others):.0f}%."]
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--raw", required=True, help="JSON lines from bench/p99.sh")
    ap.add_argument("--out", required=True, help="Markdown file to write")
    ap.add_argument("--note", default="", help="how the run was made")
    args = ap.parse_args()
    rows = load(args.raw)
    if not rows:
        print(f"p99_report.py: no figures in {args.raw}", file=sys.stderr)
        return 1
    text = report(rows, args.note)
    with open(args.out, "w") as f:
        f.write(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
