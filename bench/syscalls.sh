#!/bin/bash
# bench/syscalls.sh: system calls per request of Corral and uWSGI.
#
# For each server (hello app, 1 worker, --master) behind nginx over the uwsgi
# protocol and directly over HTTP, it warms the server up, attaches
# `strace -c -f` to every process of the server (master and workers, not
# nginx), sends exactly N requests with curl (one client, keep-alive where
# the server keeps connections), stops strace and divides each syscall's
# count by N. Writes bench/results/syscalls-<date>.md and latest-syscalls.md.
#
# Usage: bench/syscalls.sh [--requests N] [--corral PATH] [--no-install]
set -u -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
PY=/usr/bin/python3
REQUESTS=1000
CORRAL=""
INSTALL=1
START_TIMEOUT=${START_TIMEOUT:-30}
FRONT_PORT=${FRONT_PORT:-28480}
DIRECT_PORT=${DIRECT_PORT:-28481}
RESULTS=${RESULTS:-$HERE/results}

while [ $# -gt 0 ]; do
    case "$1" in
        --requests) REQUESTS=$2; shift ;;
        --corral) CORRAL=$2; shift ;;
        --no-install) INSTALL=0 ;;
        -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "syscalls.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

# shellcheck source=lib/common.sh
. "$HERE/lib/common.sh"

send_requests() { # send_requests URL N: N sequential GETs on one curl; prints the 200s
    curl -s -o /dev/null -w '%{http_code}\n' "$1?[1-$2]" >"$WORK/codes" 2>/dev/null
    grep -c '^200$' "$WORK/codes"
}

# trace_one NAME SERVER PATH: one server, one path; appends to $WORK/traces.
trace_one() {
    local name=$1 server=$2 path=$3 spid fpid="" url pids=() tpid ok
    PIN=""
    rm -f "$WORK/app.sock"
    log "$name"
    if [ "$path" = nginx ]; then
        start_server "$server" hello "$WORK/app.sock" 1 0
        spid=$LAST_PID
        start_nginx nginx-front 1 "$FRONT_PORT" \
            "include /etc/nginx/uwsgi_params; uwsgi_pass unix:$WORK/app.sock;"
        fpid=$LAST_PID url="http://127.0.0.1:$FRONT_PORT/"
    else
        start_server "$server" hello "127.0.0.1:$DIRECT_PORT" 1 1
        spid=$LAST_PID url="http://127.0.0.1:$DIRECT_PORT/"
    fi
    if wait_ready "$url" $spid $fpid && send_requests "$url" 200 >/dev/null; then
        for p in $("$PY" -c 'import sys; sys.path.insert(0, sys.argv[1]); import measure; print(*measure.tree(int(sys.argv[2])))' "$HERE/lib" "$spid"); do
            pids+=(-p "$p")
        done
        strace -c -f -o "$WORK/$name.strace" "${pids[@]}" 2>"$WORK/$name.strace.err" &
        tpid=$!
        sleep 1
        ok=$(send_requests "$url" "$REQUESTS")
        sleep 0.5
        kill -INT "$tpid"
        wait "$tpid"
        echo "$name $ok $WORK/$name.strace" >>"$WORK/traces"
        log "  $ok of $REQUESTS requests answered 200"
    else
        log "  $name did not start; skipped"
        tail -n 5 "$WORK/$server.log" 2>/dev/null | sed 's/^/    log: /'
    fi
    stop_pid "$spid" "$(stop_signal "$server")"
    [ -n "$fpid" ] && stop_pid "$fpid" TERM
}

main() {
    local stamp
    WORK=$(mktemp -d /tmp/corral-bench-strace.XXXXXX)
    [ "$INSTALL" = 1 ] && install_peers
    [ -z "$CORRAL" ] && [ -x "$ROOT/build-bench/corral" ] && CORRAL=$ROOT/build-bench/corral
    [ -n "$CORRAL" ] && CORRAL=$(realpath "$CORRAL")
    pick_apps
    for port in "$FRONT_PORT" "$DIRECT_PORT"; do
        port_free "$port" || die "port $port is taken"
    done
    : >"$WORK/traces"
    if [ -n "$CORRAL" ]; then
        trace_one "corral-nginx" corral nginx
        trace_one "corral-http" corral http
    else
        log "no corral binary (build-bench/corral or --corral): uWSGI only"
    fi
    trace_one "uwsgi-nginx" uwsgi nginx
    trace_one "uwsgi-http" uwsgi http
    trace_one "uwsgi-http11" uwsgi-http11 http
    mkdir -p "$RESULTS"
    stamp=$(date -u +%Y%m%d-%H%M%S)
    "$PY" "$HERE/lib/syscalls_report.py" --traces "$WORK/traces" --requests "$REQUESTS" \
        >"$RESULTS/syscalls-$stamp.md" || die "no trace to report"
    cp "$RESULTS/syscalls-$stamp.md" "$RESULTS/latest-syscalls.md"
    cat "$RESULTS/syscalls-$stamp.md"
    log "results: $RESULTS/syscalls-$stamp.md (and latest-syscalls.md)"
}

main
