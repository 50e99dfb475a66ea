#!/bin/bash
# bench/run.sh: Corral against uWSGI, gunicorn, nginx and a C stub, side by side.
#
# Installs the peers with apt-get, builds Corral (build-bench/, Release) and
# bench/stub.c, then runs every configuration once per round, round after
# round, the servers of a configuration in turn and their order reversed
# every other round (A B, B A, ...), so that slow drift on a shared machine
# hits every server alike. A configuration is: workers (1 pinned to CPU 0
# with wrk on CPU 1, or 2 unpinned) x app (hello, django) x path (behind
# nginx over the uwsgi protocol on a unix socket; the same at a set load,
# hello only; or direct HTTP) x server.
# Each configuration's servers are started, checked, measured
# (lib/measure.py), and stopped by pid, also on errors (trap). The figures go to
# bench/results/ (lib/report.py): a dated Markdown table, a PNG chart and the
# raw JSON lines, copied to latest.md and latest.png.
#
# Usage: bench/run.sh [--quick] [--rounds N] [--duration S] [--warmup S]
#                     [--connections N] [--think-ms MS] [--only REGEX]
#                     [--corral PATH] [--no-install] [--no-build] [--no-syscalls]
set -u -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
PY=/usr/bin/python3

ROUNDS=6
DURATION=10
WARMUP=2
CONNECTIONS=32
THINK_MS=3
ONLY=""
CORRAL=""
INSTALL=1
BUILD=1
SYSCALLS=1
START_TIMEOUT=${START_TIMEOUT:-30}
FRONT_PORT=${FRONT_PORT:-28480}
DIRECT_PORT=${DIRECT_PORT:-28481}
RESULTS=${RESULTS:-$HERE/results}

usage() {
    sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'
    cat <<'EOF'
Options:
  --quick          2 rounds of 5 s each, 1 s warm-up (a check, not a result)
  --rounds N       rounds, each running every configuration once (default 6;
                   an even number runs each order of the servers equally often)
  --duration S     seconds of wrk per configuration (default 10)
  --warmup S       seconds of wrk before measuring (default 2)
  --connections N  wrk connections (default 32)
  --think-ms MS    the paced path's pause between a response and the next
                   request on each connection (default 3; with 32 connections
                   the load is then at most 32 / 3 ms = 10,667 req/s)
  --only REGEX     run only configurations whose name matches, e.g. 'hello nginx'
  --corral PATH    use this corral binary instead of building build-bench/
  --no-install     do not apt-get install the peers
  --no-build       do not build Corral (use build-bench/corral if present)
  --no-syscalls    do not run bench/syscalls.sh after the rounds
Environment: START_TIMEOUT (30), FRONT_PORT (28480), DIRECT_PORT (28481),
  RESULTS (bench/results), CORRAL_ARGS (extra arguments for corral).
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
        --quick) ROUNDS=2 DURATION=5 WARMUP=1 ;;
        --rounds) ROUNDS=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --warmup) WARMUP=$2; shift ;;
        --connections) CONNECTIONS=$2; shift ;;
        --think-ms) THINK_MS=$2; shift ;;
        --only) ONLY=$2; shift ;;
        --corral) CORRAL=$2; BUILD=0; shift ;;
        --no-install) INSTALL=0 ;;
        --no-build) BUILD=0 ;;
        --no-syscalls) SYSCALLS=0 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
case "$THINK_MS" in
    ''|*[!0-9]*|0*) echo "run.sh: --think-ms wants a whole number of milliseconds above 0, not '$THINK_MS'" >&2; exit 2 ;;
esac

# shellcheck source=lib/common.sh
. "$HERE/lib/common.sh"

# run_config ROUND MODE APP PATH SERVER: start, check, measure, stop one configuration.
run_config() {
    local round=$1 mode=$2 app=$3 path=$4 server=$5
    local workers threads wrkcpu url sock="$WORK/app.sock" spid fpid="" port urlpath=/ meta
    local think=0
    local name="$mode $app $path $server"
    if [ "$mode" = 1w ]; then
        workers=1 threads=1 wrkcpu=1 PIN="taskset -c 0"
    else
        workers=2 threads=2 wrkcpu="" PIN=""
    fi
    [ "$server" = corral ] && [ -z "$CORRAL" ] && { log "$name: skipped (no corral)"; return; }
    log "round $round: $name"
    rm -f "$sock"
    for port in "$FRONT_PORT" "$DIRECT_PORT"; do
        port_free "$port" || { log "  port $port is taken, skipped"; return; }
    done
    if [ "$server" = nginx ]; then
        start_nginx nginx-return "$workers" "$DIRECT_PORT" 'return 200 "Hello, World!";'
        spid=$LAST_PID port=$DIRECT_PORT
    elif [ "$path" = nginx ] || [ "$path" = paced ]; then
        [ "$path" = paced ] && think=$THINK_MS
        start_server "$server" "$app" "$sock" "$workers" 0
        spid=$LAST_PID
        if [ "$server" = gunicorn ]; then
            start_nginx nginx-front "$workers" "$FRONT_PORT" \
                "proxy_pass http://unix:$sock:; proxy_set_header Host \$host;"
        else
            start_nginx nginx-front "$workers" "$FRONT_PORT" \
                "include /etc/nginx/uwsgi_params; uwsgi_pass unix:$sock;"
        fi
        fpid=$LAST_PID port=$FRONT_PORT
    else
        start_server "$server" "$app" "127.0.0.1:$DIRECT_PORT" "$workers" 1
        spid=$LAST_PID port=$DIRECT_PORT
    fi
    url="http://127.0.0.1:$port$urlpath"
    meta=$(printf '{"round": %d, "mode": "%s", "app": "%s", "path": "%s", "server": "%s", "workers": %d, "connections": %d, "duration": %s, "think_ms": %d}' \
        "$round" "$mode" "$app" "$path" "$server" "$workers" "$CONNECTIONS" "$DURATION" "$think")
    measure "$server" "$spid" "$fpid" "$url" "$threads" "$wrkcpu" "$think" "$meta"
    stop_pid "$spid" "$(stop_signal "$server")"
    [ -n "$fpid" ] && stop_pid "$fpid" TERM
    rm -f "$sock"
}

configs() { # configs ROUND: every configuration of one round, in order
    # Corral runs next to its peers on the same mode, app and path: odd
    # rounds in the order below, even rounds in reverse (see the top).
    local round=$1 mode app path paths servers
    for mode in 1w 2w; do
        for app in hello django; do
            # paced: hello behind nginx with a think time per connection,
            # latency at the same load (why: bench/README.md, "What runs")
            paths="nginx http"
            [ "$app" = hello ] && paths="nginx paced http"
            for path in $paths; do
                if [ "$path" = paced ]; then
                    servers="corral uwsgi stub"
                elif [ "$path" = nginx ]; then
                    servers="corral uwsgi"
                    [ "$app" = hello ] && servers="$servers stub"
                    servers="$servers gunicorn"
                else
                    servers="corral uwsgi uwsgi-http11"
                    [ "$app" = hello ] && servers="$servers nginx"
                    servers="$servers gunicorn"
                fi
                # shellcheck disable=SC2086
                [ $((round % 2)) = 0 ] && servers=$(printf '%s\n' $servers | tac)
                for server in $servers; do
                    echo "$mode $app $path $server"
                done
            done
        done
    done
}

# ---------------------------------------------------------------- main
main() {
    local stamp list round line README kind
    WORK=$(mktemp -d /tmp/corral-bench.XXXXXX)
    [ "$INSTALL" = 1 ] && install_peers
    for c in wrk uwsgi gunicorn nginx taskset curl ss gcc; do
        command -v "$c" >/dev/null || die "$c is missing (run without --no-install)"
    done
    if [ "$BUILD" = 1 ]; then
        build_corral && CORRAL=$ROOT/build-bench/corral
    elif [ -z "$CORRAL" ] && [ -x "$ROOT/build-bench/corral" ]; then
        CORRAL=$ROOT/build-bench/corral
    fi
    [ -n "$CORRAL" ] && CORRAL=$(realpath "$CORRAL")
    STUB=$WORK/stub
    gcc -O2 -std=gnu11 -Wall -Wextra -Werror -o "$STUB" "$HERE/stub.c" || die "stub.c did not build"
    pick_apps
    mkdir -p "$RESULTS"
    stamp=$(date -u +%Y%m%d-%H%M%S)
    RAW=$RESULTS/bench-$stamp.jsonl
    list=$(configs 1 | grep -E -- "${ONLY:-.}")
    [ -n "$list" ] || die "--only '$ONLY' matches no configuration"
    log "$ROUNDS rounds x $(echo "$list" | wc -l) configurations x ${DURATION}s" \
        "(corral: ${CORRAL:-none}); raw figures: $RAW"
    for round in $(seq "$ROUNDS"); do
        list=$(configs "$round" | grep -E -- "${ONLY:-.}")
        while read -r line; do
            # shellcheck disable=SC2086
            run_config "$round" $line </dev/null
        done <<<"$list"
    done
    kind="full run"
    [ "$ROUNDS" -lt 5 ] && kind="quick run (under 5 rounds: a check, not a result)"
    # The README shows the figures of the committed results only.
    [ "$RESULTS" = "$HERE/results" ] && README=$HERE/README.md || README=""
    "$PY" "$HERE/lib/report.py" --raw "$RAW" --out "$RESULTS/bench-$stamp" --readme "$README" \
        --note "$kind: $ROUNDS rounds x ${DURATION}s, ${CONNECTIONS} connections, warm-up ${WARMUP}s" ||
        die "report failed"
    cp "$RESULTS/bench-$stamp.md" "$RESULTS/latest.md"
    [ -f "$RESULTS/bench-$stamp.png" ] && cp "$RESULTS/bench-$stamp.png" "$RESULTS/latest.png"
    log "results: $RESULTS/bench-$stamp.md (and latest.md, latest.png)"
    if [ "$SYSCALLS" = 1 ] && [ -n "$CORRAL" ]; then
        "$HERE/syscalls.sh" --corral "$CORRAL" --no-install || log "warning: syscalls.sh failed"
    fi
}

main
