#!/usr/bin/python3
"""Turn the JSON lines of bench/run.sh into a Markdown report and a PNG chart.

Per configuration (workers, app, path, server) it gives the median over
rounds of each figure. For Corral it then gives, per figure, the median over
rounds of the ratio Corral/peer, each ratio taken within one round (the
alternating order makes a round's servers share the machine's state), and
checks the targets of issue 3. The chart is drawn by gnuplot when present.
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys

MODES = {"1w": "1 worker, server (and nginx) on CPU 0, wrk on CPU 1",
         "2w": "2 workers, unpinned"}
PATHS = {"nginx": "behind nginx", "paced": "behind nginx, paced", "http": "direct HTTP"}
SERVERS = {
    "corral": {"nginx": "Corral (uwsgi socket)", "http": "Corral --http-socket"},
    "uwsgi": {"nginx": "uWSGI (uwsgi socket)", "http": "uWSGI --http-socket"},
    "uwsgi-http11": {"http": "uWSGI --http11-socket"},
    "gunicorn": {"nginx": "gunicorn sync (nginx proxy_pass)", "http": "gunicorn sync"},
    "stub": {"nginx": "C stub (uwsgi socket)"},
    "nginx": {"http": "nginx return 200"},
}


def server_label(server, path):
    """A server's name in the tables; the paced path is the nginx path with
    a think time, so its servers are named as there."""
    return SERVERS[server]["nginx" if path == "paced" else path]


FIGURES = [  # key, heading, format, "lower is better"
    ("rps", "req/s", "{:,.0f}", False),
    ("p50_ms", "p50 ms", "{:.2f}", True),
    ("p99_ms", "p99 ms", "{:.2f}", True),
    ("errors", "errors", "{:,.0f}", True),
    ("non2xx", "non-2xx", "{:,.0f}", True),
    ("cpu_us_per_req", "server CPU µs/req", "{:.1f}", True),
    ("front_cpu_us_per_req", "nginx CPU µs/req", "{:.1f}", True),
    ("pss_total_mb", "PSS total MB", "{:.1f}", True),
    ("pss_worker_mb", "PSS/worker MB", "{:.1f}", True),
    ("others_cpu_pct", "others' CPU %", "{:.0f}", True),
]
RATIO_FIGURES = ["rps", "p50_ms", "p99_ms", "cpu_us_per_req", "pss_total_mb", "pss_worker_mb"]


def load(path):
    recs = []
    with open(path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                if r.get("ok"):
                    r["pss_total_mb"] = r["pss_total_kb"] / 1024
                    r["pss_worker_mb"] = r["pss_worker_kb"] / 1024
                recs.append(r)
    return recs


def key(r):
    return (r["mode"], r["app"], r["path"], r["server"])


def order(k):
    mode, app, path, server = k
    return (list(MODES).index(mode), app != "hello", list(PATHS).index(path),
            list(SERVERS).index(server))


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(fmtstr, v):
    return "–" if v is None else fmtstr.format(v)


def summarize(recs):
    """config key -> {figure: median, "rounds": ok rounds, "failed": failed rounds}"""
    groups = {}
    for r in recs:
        groups.setdefault(key(r), []).append(r)
    out = {}
    for k, rs in groups.items():
        ok = [r for r in rs if r.get("ok")]
        s = {f: median([r.get(f) for r in ok]) for f, *_ in FIGURES}
        s["rounds"], s["failed"] = len(ok), len(rs) - len(ok)
        s["changed"] = sum(1 for r in ok if r.get("procs_changed"))
        s["error_kinds"] = sorted({kind for r in ok
                                   for kind, n in r.get("errors_detail", {}).items() if n})
        out[k] = s
    return out


def round_ratios(recs, num, den):
    """figure -> [num/den of each round that has both], for two config keys."""
    by_round = {}
    for r in recs:
        if r.get("ok") and key(r) in (num, den):
            by_round.setdefault(r["round"], {})[key(r)] = r
    out = {}
    for fig in RATIO_FIGURES:
        vals = []
        for pair in by_round.values():
            if num in pair and den in pair:
                a, b = pair[num].get(fig), pair[den].get(fig)
                if a is not None and b:
                    vals.append(a / b)
        out[fig] = vals
    return out


def ratios(recs, num, den):
    """figure -> (median over rounds of num/den, rounds), for two config keys."""
    return {fig: (median(vals), len(vals)) for fig, vals in round_ratios(recs, num, den).items()}


def pairs(summary):
    """(label, corral key, peer key) for every Corral configuration with a peer."""
    out = []
    for k in sorted(summary, key=order):
        mode, app, path, server = k
        if server != "corral":
            continue
        peers = ["uwsgi"] + (["uwsgi-http11", "nginx"] if path == "http" else ["stub"])
        for peer in peers:
            pk = (mode, app, path, peer)
            if pk in summary:
                out.append((f"{mode} · {app} · {PATHS[path]} · vs {server_label(peer, path)}", k, pk))
    return out


TARGETS = [  # label, numerator, denominator, figure, op, bound
    ("hello behind nginx: server CPU/req ≤ 0.75× uWSGI", ("hello", "nginx", "corral"),
     ("hello", "nginx", "uwsgi"), "cpu_us_per_req", "<=", 0.75),
    ("hello behind nginx: req/s ≥ 1.1× uWSGI", ("hello", "nginx", "corral"),
     ("hello", "nginx", "uwsgi"), "rps", ">=", 1.1),
    ("hello behind nginx: p99 no worse than uWSGI", ("hello", "nginx", "corral"),
     ("hello", "nginx", "uwsgi"), "p99_ms", "<=", 1.0),
    ("hello direct HTTP keep-alive: server CPU/req ≤ 1.5× nginx return 200",
     ("hello", "http", "corral"), ("hello", "http", "nginx"), "cpu_us_per_req", "<=", 1.5),
    ("hello direct HTTP: req/s ≥ 3× uWSGI --http-socket", ("hello", "http", "corral"),
     ("hello", "http", "uwsgi"), "rps", ">=", 3.0),
    ("django behind nginx: req/s ≥ 1.15× uWSGI", ("django", "nginx", "corral"),
     ("django", "nginx", "uwsgi"), "rps", ">=", 1.15),
    ("django behind nginx: PSS per worker ≤ uWSGI's", ("django", "nginx", "corral"),
     ("django", "nginx", "uwsgi"), "pss_worker_mb", "<=", 1.0),
]


def targets_table(recs, summary):
    """The verdict is the median's; the per-round range and the rounds that
    met the bound on their own show how far the machine's noise could move
    it."""
    lines = ["| target | workers | median ratio | per-round range | rounds met | verdict |",
             "|---|---|---:|---:|---:|---|"]
    for label, num, den, fig, op, bound in TARGETS:
        for mode in MODES:
            nk, dk = (mode,) + num, (mode,) + den
            if nk not in summary or dk not in summary:
                continue
            vals = round_ratios(recs, nk, dk)[fig]
            val = median(vals)
            def meets(v):
                return v <= bound if op == "<=" else v >= bound
            if val is None:
                verdict, spread = "no data", "–"
            else:
                verdict = "met" if meets(val) else "**not met**"
                spread = f"{min(vals):.2f}–{max(vals):.2f}"
            met_rounds = f"{sum(1 for v in vals if meets(v))}/{len(vals)}"
            lines.append(f"| {label} | {mode} | {fmt('{:.2f}', val)} | {spread} | {met_rounds} "
                         f"| {verdict} |")
    return lines if len(lines) > 2 else ["(no Corral figures in this run)"]


def paced_table(recs, summary):
    """Latency at the same load: the paced path, where the client sets the
    load (wrk's think time), so that no server is the bottleneck. Not one of
    the issue's targets; it says what its saturated p99 cannot."""
    lines = ["| workers | think time | req/s: Corral / uWSGI / stub | p50 ratio | p99 ratio "
             "| per-round p99 range | rounds with Corral's p99 ≤ uWSGI's | p99 ratio to stub |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for mode in MODES:
        ck, uk, sk = ((mode, "hello", "paced", s) for s in ("corral", "uwsgi", "stub"))
        if ck not in summary or uk not in summary:
            continue
        r = round_ratios(recs, ck, uk)
        p99 = r["p99_ms"]
        think = median([x.get("think_ms") for x in recs if key(x) == ck and x.get("ok")])
        rps = " / ".join(fmt("{:,.0f}", summary[k]["rps"]) if k in summary else "–"
                         for k in (ck, uk, sk))
        stub = median(round_ratios(recs, ck, sk)["p99_ms"]) if sk in summary else None
        spread = f"{min(p99):.2f}–{max(p99):.2f}" if p99 else "–"
        lines.append(f"| {mode} | {fmt('{:.0f} ms', think)} | {rps} "
                     f"| {fmt('{:.2f}', median(r['p50_ms']))} | {fmt('{:.2f}', median(p99))} "
                     f"| {spread} | {sum(1 for v in p99 if v <= 1.0)}/{len(p99)} "
                     f"| {fmt('{:.2f}', stub)} |")
    return lines if len(lines) > 2 else []


def paced_section(recs, summary, heading):
    table = paced_table(recs, summary)
    if not table:
        return []
    return ["", heading, "",
            "hello behind nginx again, but each wrk connection waits the think time after "
            "a response before its next request, so the client sets the load (at most "
            "connections / think time) and every server gets about the same. Not one of "
            "the issue's targets: at full load the servers' p99 says where the queue "
            "forms (in the listen queue of a server that is the bottleneck, or in nginx "
            "and wrk, which share the cores, when the server is not) as much as how fast "
            "a server answers; here the load is the same for all.", ""] + table


def config_tables(summary):
    out = []
    for mode, title in MODES.items():
        keys = sorted((k for k in summary if k[0] == mode), key=order)
        if not keys:
            continue
        out += [f"### {title}", "",
                "| app | path | server | " + " | ".join(h for _, h, _, _ in FIGURES)
                + " | rounds |",
                "|---|---|---|" + "---:|" * (len(FIGURES) + 1)]
        for k in keys:
            s = summary[k]
            cells = [fmt(f, s[fig]) for fig, _, f, _ in FIGURES]
            if s["error_kinds"]:
                cells[3] += " (" + ", ".join(s["error_kinds"]) + ")"
            rounds = f"{s['rounds']}" + (f" ({s['failed']} failed)" if s["failed"] else "")
            if s["changed"]:
                rounds += f" ({s['changed']} with a worker change)"
            out.append(f"| {k[1]} | {PATHS[k[2]]} | {server_label(k[3], k[2])} | "
                       + " | ".join(cells) + f" | {rounds} |")
        out.append("")
    return out


def ratio_table(recs, summary):
    heads = {f: h for f, h, _, _ in FIGURES}
    lines = ["| Corral / peer | " + " | ".join(heads[f] for f in RATIO_FIGURES) + " | rounds |",
             "|---|" + "---:|" * (len(RATIO_FIGURES) + 1)]
    for label, ck, pk in pairs(summary):
        r = ratios(recs, ck, pk)
        n = max(v[1] for v in r.values())
        lines.append(f"| {label} | " + " | ".join(fmt("{:.2f}", r[f][0]) for f in RATIO_FIGURES)
                     + f" | {n} |")
    return lines if len(lines) > 2 else ["(no Corral figures in this run)"]


def versions():
    def run(cmd):
        try:
            return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, timeout=10).stdout.strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "?"
    return [f"uWSGI {run(['uwsgi', '--version'])}",
            f"gunicorn {run(['gunicorn', '--version']).split()[-1].strip('()')}",
            run(["nginx", "-v"]).replace("nginx version: ", ""),
            run(["wrk", "--version"]).split(" [")[0],
            f"Python {platform.python_version()}",
            f"Django {run(['/usr/bin/python3', '-c', 'import django; print(django.__version__)'])}"]


def noise_line(recs):
    vals = sorted(r["others_cpu_pct"] for r in recs if r.get("ok") and "others_cpu_pct" in r)
    if not vals:
        return ""
    return (f"Other processes used a median {statistics.median(vals):.0f}% (at most "
            f"{vals[-1]:.0f}%) of the machine's CPUs during the measured runs; the higher, "
            f"the less the absolute figures mean (ratios within a round hold up better).\n")


def write_markdown(path, recs, summary, note, chart):
    rounds = sorted({r["round"] for r in recs})
    lines = [f"# Corral benchmark, {os.path.basename(path)[6:-3]} UTC", "",
             f"{note}; {len(rounds)} round(s) run, every configuration once per round, "
             f"the servers of a configuration in turn, in reverse every other round "
             f"(A B, B A, ...). Machine: {os.cpu_count()} CPUs, "
             f"Linux {platform.release()}; {', '.join(versions())}.", "",
             noise_line(recs),
             "Figures are medians over rounds. Server CPU is utime+stime of the server's "
             "processes (not nginx in front) over the measured run, divided by the requests; "
             "PSS is read from /proc/PID/smaps_rollup after the run (per worker: the mean "
             "over the processes below the master). Errors are wrk's connect, read, write "
             "and timeout errors; non-2xx counts responses with a status of 400 or more. "
             "Others' CPU is the share of all CPUs that other processes on the machine "
             "used during the run (busy time from /proc/stat less the server's, nginx's and "
             "wrk's): the noise the run had to live with.", "",
             "## Targets (issue 3)", ""] + targets_table(recs, summary) + \
        paced_section(recs, summary, "## Latency at the same load") + [
             "", "## Corral / peer (median over rounds of the per-round ratio)", ""] + \
        ratio_table(recs, summary) + ["", "## Per configuration", ""] + config_tables(summary)
    if chart:
        lines += [f"![requests/s and server CPU per request]({os.path.basename(chart)})", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


GNUPLOT = """
set terminal pngcairo size 1600,1200 font ",9"
set output "{png}"
set datafile separator "\\t"
set style fill solid 0.85 border -1
set boxwidth 0.75
set grid ytics mytics
set logscale y
set xtics rotate by -50 left noenhanced
set key off
set lmargin 10
set rmargin 12
set multiplot layout 2,1 title "Corral benchmark {title}: medians over rounds (log scale). \\
Corral red, uWSGI blue (http11 light), gunicorn green, C stub grey, nginx purple"
set title "requests/s"
plot "{dat}" using 0:2:4:xtic(1) with boxes lc rgb variable
set title "server CPU per request (µs)"
plot "{dat}" using 0:3:4:xtic(1) with boxes lc rgb variable
unset multiplot
"""
COLORS = {"corral": 0xD62728, "uwsgi": 0x1F77B4, "uwsgi-http11": 0x6BAED6,
          "gunicorn": 0x2CA02C, "stub": 0x7F7F7F, "nginx": 0x9467BD}


def write_chart(base, summary):
    if not shutil.which("gnuplot"):
        print("report: gnuplot not found, no chart", file=sys.stderr)
        return None
    dat, png = base + ".dat", base + ".png"
    keys = [k for k in sorted(summary, key=order) if summary[k]["rps"] is not None]
    if not keys:
        return None
    with open(dat, "w") as f:
        for k in keys:
            s = summary[k]
            label = " ".join(k)
            f.write(f"{label}\t{s['rps']:.0f}\t{s['cpu_us_per_req'] or 0:.2f}\t{COLORS[k[3]]}\n")
    script = GNUPLOT.format(png=png, dat=dat, title=os.path.basename(base)[6:])
    res = subprocess.run(["gnuplot"], input=script, text=True, stderr=subprocess.PIPE)
    os.unlink(dat)
    if res.returncode != 0:
        print("report: gnuplot failed: " + res.stderr, file=sys.stderr)
        return None
    return png


README_START = "<!-- latest results: written by lib/report.py -->"
README_END = "<!-- end of latest results -->"


def update_readme(path, md_name, recs, summary, note):
    """Replace the block between the markers in path with this run's targets and ratios."""
    with open(path) as f:
        text = f.read()
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        print(f"report: no result markers in {path}, not updated", file=sys.stderr)
        return
    block = [README_START, "", f"From `results/{md_name}` ({note}). " + noise_line(recs).strip(),
             "", "### Targets (issue 3)", ""] + targets_table(recs, summary) + \
        paced_section(recs, summary, "### Latency at the same load") + [
             "", "### Corral / peer, median over rounds of the per-round ratio", ""] + \
        ratio_table(recs, summary) + ["", "Every configuration's figures are in "
                                      f"[`results/{md_name}`](results/{md_name}).", ""]
    with open(path, "w") as f:
        f.write(text[:start] + "\n".join(block) + text[end:])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--raw", required=True, help="JSON lines from run.sh")
    ap.add_argument("--out", required=True, help="output path without extension")
    ap.add_argument("--note", default="", help="how the run was made")
    ap.add_argument("--readme", help="a README whose marked results block to update")
    args = ap.parse_args()
    recs = load(args.raw)
    if not recs:
        print("report: no records in " + args.raw, file=sys.stderr)
        return 1
    summary = summarize(recs)
    chart = write_chart(args.out, summary)
    write_markdown(args.out + ".md", recs, summary, args.note, chart)
    if args.readme:
        update_readme(args.readme, os.path.basename(args.out) + ".md", recs, summary, args.note)
    print(open(args.out + ".md").read())
    return 0


if __name__ == "__main__":
    sys.exit(main())
