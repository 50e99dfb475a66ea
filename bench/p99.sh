#!/bin/bash
# bench/p99.sh: what the 2-worker p99 at full load tracks, with a control.
#
# bench/run.sh's "2w hello nginx" rows, with one more kind of server:
# Corral made slower on purpose, its app burning a set number of
# microseconds of CPU per request (bench/apps/spin.py; one server per value
# of --spin). If the p99 ratio against uWSGI falls as Corral is slowed
# towards uWSGI's requests/s, that ratio at full load follows how fast the
# server is (how busy it keeps nginx and wrk on the two cores), not how long
# a request waits in the server. Same measurement (lib/measure.py) and
# order (reversed every other round) as run.sh; the figures go to
# bench/results/p99-<UTC date>.md and .jsonl (lib/p99_report.py).
#
# Usage: bench/p99.sh [--rounds N] [--duration S] [--warmup S] [--spin "US..."]
#                     [--corral PATH] [--no-install] [--no-build]
set -u -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
PY=/usr/bin/python3

ROUNDS=6
DURATION=10
WARMUP=2
CONNECTIONS=32
SPIN="8 16"
CORRAL=""
INSTALL=1
BUILD=1
# shellcheck disable=SC2034 # lib/common.sh's start_server: nothing is pinned
PIN=""
START_TIMEOUT=${START_TIMEOUT:-30}
FRONT_PORT=${FRONT_PORT:-28480}
RESULTS=${RESULTS:-$HERE/results}

usage() {
    sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'
    cat <<'EOF2'
Options:
  --rounds N       rounds, each running every server once (default 6)
  --duration S     seconds of wrk per server (default 10)
  --warmup S       seconds of wrk before measuring (default 2)
  --spin "US..."   microseconds of CPU each slowed Corral adds per request
                   (default "8 16": about half and all of the difference
                   between uWSGI's and Corral's CPU per request here)
  --corral PATH    use this corral binary instead of building build-bench/
  --no-install     do not apt-get install the peers
  --no-build       do not build Corral (use build-bench/corral if present)
Environment: START_TIMEOUT (30), FRONT_PORT (28480), RESULTS (bench/results).
EOF2
}

while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) ROUNDS=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --warmup) WARMUP=$2; shift ;;
        --spin) SPIN=$2; shift ;;
        --corral) CORRAL=$2; BUILD=0; shift ;;
        --no-install) INSTALL=0 ;;
        --no-build) BUILD=0 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "p99.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
for v in "$ROUNDS" "$DURATION" "$WARMUP" $SPIN; do
    case "$v" in
        ''|*[!0-9]*) echo "p99.sh: '$v' is not a whole number (see --help)" >&2; exit 2 ;;
    esac
done
[ "$ROUNDS" -gt 0 ] && [ "$DURATION" -gt 0 ] ||
    { echo "p99.sh: --rounds and --duration must be above 0" >&2; exit 2; }

# shellcheck source=lib/common.sh
. "$HERE/lib/common.sh"

# run_one ROUND SERVER: SERVER is uwsgi, corral or corral+US (slowed by US µs).
run_one() {
    local round=$1 name=$2 server=$2 app=hello spin=0 sock="$WORK/app.sock" spid fpid meta
    local url="http://127.0.0.1:$FRONT_PORT/"
    case "$name" in
        corral+*) server=corral app=spin spin=${name#corral+} ;;
    esac
    log "round $round: $name"
    rm -f "$sock"
    port_free "$FRONT_PORT" || die "port $FRONT_PORT is taken (set FRONT_PORT)"
    SPIN_US=$spin start_server "$server" "$app" "$sock" 2 0
    spid=$LAST_PID
    start_nginx nginx-front 2 "$FRONT_PORT" "include /etc/nginx/uwsgi_params; uwsgi_pass unix:$sock;"
    fpid=$LAST_PID
    meta=$(printf '{"round": %d, "server": "%s", "spin_us": %d, "workers": 2, "connections": %d, "duration": %s}' \
        "$round" "$name" "$spin" "$CONNECTIONS" "$DURATION")
    measure "$server" "$spid" "$fpid" "$url" 2 "" 0 "$meta"
    stop_pid "$spid" "$(stop_signal "$server")"
    stop_pid "$fpid" TERM
    rm -f "$sock"
}

main() {
    local stamp servers list round s
    WORK=$(mktemp -d /tmp/corral-p99.XXXXXX)
    [ "$INSTALL" = 1 ] && install_peers
    for c in wrk uwsgi nginx curl ss; do
        command -v "$c" >/dev/null || die "$c is missing (run without --no-install)"
    done
    if [ "$BUILD" = 1 ]; then
        build_corral || die "Corral did not build"
        CORRAL=$ROOT/build-bench/corral
    elif [ -z "$CORRAL" ]; then
        CORRAL=$ROOT/build-bench/corral
    fi
    [ -x "$CORRAL" ] || die "no corral binary at $CORRAL"
    CORRAL=$(realpath "$CORRAL")
    pick_apps
    mkdir -p "$RESULTS"
    stamp=$(date -u +%Y%m%d-%H%M%S)
    RAW=$RESULTS/p99-$stamp.jsonl
    servers="uwsgi corral"
    for s in $SPIN; do servers="$servers corral+$s"; done
    log "$ROUNDS rounds x ($servers) x ${DURATION}s; raw figures: $RAW"
    for round in $(seq "$ROUNDS"); do
        list=$servers
        # shellcheck disable=SC2086
        [ $((round % 2)) = 0 ] && list=$(printf '%s\n' $list | tac)
        for s in $list; do
            run_one "$round" "$s" </dev/null
        done
    done
    "$PY" "$HERE/lib/p99_report.py" --raw "$RAW" --out "$RESULTS/p99-$stamp.md" \
        --note "$ROUNDS rounds x ${DURATION}s, ${CONNECTIONS} connections, warm-up ${WARMUP}s" ||
        die "report failed"
    log "results: $RESULTS/p99-$stamp.md"
}

main
