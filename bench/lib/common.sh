# bench/lib/common.sh: the functions bench/run.sh, p99.sh and syscalls.sh share.
#
# Sourced, not run. Starts servers (Corral, uWSGI, gunicorn, the C stub,
# nginx) each in its own session so that its pid is its process group, and
# stops them by that pid; the EXIT trap stops whatever is still running and
# removes the work directory $WORK. Expects HERE, ROOT, WORK, PIN (a taskset
# prefix or empty), CORRAL, STUB and START_TIMEOUT from the caller.
log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { log "error: $*" >&2; exit 1; }

# ---------------------------------------------------------------- processes
# Every server is started in its own session (setsid), so its pid is also
# its process group: stopping it by pid reaches its workers too.
STARTED=()

start_bg() { # start_bg NAME DIR CMD... -> sets LAST_PID
    local name=$1 dir=$2
    shift 2
    (cd "$dir" && exec setsid "$@") >"$WORK/$name.log" 2>&1 </dev/null &
    LAST_PID=$!
    STARTED+=("$LAST_PID")
}

stop_pid() { # stop_pid PID SIGNAL: signal, wait up to 10 s, then SIGKILL the group
    local pid=$1 sig=$2 i
    [ -n "$pid" ] || return 0
    kill -"$sig" "$pid" 2>/dev/null
    for i in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null || kill -0 -- "-$pid" 2>/dev/null; then
        log "  $pid did not stop on SIG$sig, killing its group"
        kill -KILL -- "-$pid" 2>/dev/null
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    local keep=() p
    for p in "${STARTED[@]}"; do [ "$p" != "$pid" ] && keep+=("$p"); done
    STARTED=("${keep[@]+"${keep[@]}"}")
}

cleanup() {
    local pid
    # A measurement still running (lib/measure.py stops its wrk on SIGTERM).
    [ -n "${MEASURE_PID:-}" ] && kill "$MEASURE_PID" 2>/dev/null && wait "$MEASURE_PID" 2>/dev/null
    for pid in "${STARTED[@]+"${STARTED[@]}"}"; do
        kill -KILL -- "-$pid" 2>/dev/null
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    STARTED=()
    [ -n "${WORK:-}" ] && [ -d "$WORK" ] && [ "${KEEP_WORK:-0}" = 0 ] && rm -rf "$WORK"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

port_free() { ! ss -Hltn "sport = :$1" | grep -q .; }

wait_ready() { # wait_ready URL PID...: 0 once URL answers 200 while every PID lives
    local url=$1 deadline=$((SECONDS + START_TIMEOUT)) code pid
    shift
    while [ $SECONDS -lt $deadline ]; do
        for pid in "$@"; do
            kill -0 "$pid" 2>/dev/null || { log "  process $pid exited"; return 1; }
        done
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url")
        [ "$code" = 200 ] && return 0
        sleep 0.2
    done
    log "  no 200 from $url after ${START_TIMEOUT}s (last status $code)"
    return 1
}

# measure SERVER SPID FPID URL THREADS WRKCPU THINK META: once URL answers,
# lib/measure.py appends the figures to $RAW (META plus what it measured);
# a server that does not start gets a failed row and its log's tail. FPID
# (the nginx in front) and WRKCPU may be empty. Uses PY, HERE, DURATION,
# WARMUP, CONNECTIONS and RAW.
measure() {
    local server=$1 spid=$2 fpid=$3 url=$4 threads=$5 wrkcpu=$6 think=$7 meta=$8
    # shellcheck disable=SC2086 # fpid: no word when empty
    if wait_ready "$url" "$spid" $fpid; then
        # In the background and waited for, so that a SIGTERM to the script
        # stops the servers at once rather than after the measurement.
        "$PY" "$HERE/lib/measure.py" --server-pid "$spid" --front-pid "${fpid:-0}" \
            --url "$url" --duration "$DURATION" --warmup "$WARMUP" \
            --connections "$CONNECTIONS" --threads "$threads" --wrk-cpu "$wrkcpu" \
            --think-ms "$think" --out "$RAW" --meta "$meta" &
        MEASURE_PID=$!
        wait "$MEASURE_PID"
        MEASURE_PID=""
    else
        echo "${meta%\}}, \"ok\": false, \"why\": \"did not start\"}" >>"$RAW"
        tail -n 5 "$WORK/$server.log" 2>/dev/null | sed 's/^/    log: /'
    fi
}

# ---------------------------------------------------------------- setup
# What the benchmark needs from Debian: the peers, wrk, the chart, strace,
# and what building Corral takes (its tests are not built: no Criterion).
PEERS="uwsgi-core uwsgi-plugin-python3 gunicorn nginx-light wrk python3-django
       gnuplot-nox strace curl gcc make cmake pkg-config libpython3-dev
       libinih-dev libyaml-dev util-linux procps iproute2"
install_peers() {
    local missing=() p sudo=""
    for p in $PEERS; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" = 0 ] || sudo=sudo
    log "installing ${missing[*]}"
    $sudo apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null || die "apt-get install failed"
}

build_corral() {
    local werror
    # -O2 warns about things -O0 does not (format-truncation, ...): a
    # warning must not leave Corral out of the benchmark, so the second try
    # drops -Werror, and says so.
    for werror in ON OFF; do
        log "building Corral in build-bench/ (Release, CORRAL_WERROR=$werror)"
        if cmake -S "$ROOT" -B "$ROOT/build-bench" -DCMAKE_BUILD_TYPE=Release \
                -DCORRAL_TESTS=OFF -DCORRAL_WERROR=$werror >"$WORK/build.log" 2>&1 &&
            cmake --build "$ROOT/build-bench" -j2 >>"$WORK/build.log" 2>&1; then
            return 0
        fi
        log "warning: the build failed with CORRAL_WERROR=$werror:"
        grep -m 5 -E 'error|warning' "$WORK/build.log" | sed 's/^/    /'
    done
    log "warning: Corral did not build (tail of the log below); its rows will be empty"
    tail -n 15 "$WORK/build.log" | sed 's/^/    /'
    return 1
}

pick_apps() {
    if [ -f "$ROOT/examples/hello/app.py" ]; then
        HELLO_DIR=$ROOT/examples/hello HELLO_MOD=app
    else
        HELLO_DIR=$HERE/apps HELLO_MOD=hello
    fi
    if [ -f "$ROOT/examples/django/mysite/wsgi.py" ]; then
        DJANGO_DIR=$ROOT/examples/django DJANGO_MOD=mysite.wsgi
    else
        DJANGO_DIR=$HERE/apps DJANGO_MOD=benchsite.wsgi
    fi
    log "apps: hello = $HELLO_DIR ($HELLO_MOD), django = $DJANGO_DIR ($DJANGO_MOD)"
}

# ---------------------------------------------------------------- nginx
nginx_conf() { # nginx_conf FILE WORKERS PORT LOCATION-BODY
    local file=$1 workers=$2 port=$3 body=$4 prefix
    prefix=$(dirname "$file")
    mkdir -p "$prefix/logs"
    {
        [ "$(id -u)" = 0 ] && echo "user root root;"
        cat <<EOF
daemon off;
master_process on;
worker_processes $workers;
pid $prefix/nginx.pid;
error_log $prefix/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    default_type text/plain;
    keepalive_requests 100000000;
    client_body_temp_path $prefix/body;
    proxy_temp_path $prefix/proxy;
    uwsgi_temp_path $prefix/uwsgi;
    fastcgi_temp_path $prefix/fastcgi;
    scgi_temp_path $prefix/scgi;
    server {
        listen 127.0.0.1:$port backlog=4096;
        location / { $body }
    }
}
EOF
    } >"$file"
}

start_nginx() { # start_nginx NAME WORKERS PORT LOCATION-BODY
    local dir="$WORK/$1"
    mkdir -p "$dir"
    nginx_conf "$dir/nginx.conf" "$2" "$3" "$4"
    start_bg "$1" "$dir" $PIN nginx -p "$dir" -e "$dir/logs/error.log" -c "$dir/nginx.conf"
}

# ---------------------------------------------------------------- servers
# start_server SERVER APP BIND WORKERS HTTP: APP is hello, django or spin;
# BIND is a unix socket path or host:port; HTTP says whether BIND speaks
# HTTP. Sets LAST_PID.
start_server() {
    local server=$1 app=$2 bind=$3 workers=$4 http=$5 dir mod opt
    case "$app" in
        django) dir=$DJANGO_DIR mod=$DJANGO_MOD ;;
        spin) dir=$HERE/apps mod=spin ;; # hello burning $SPIN_US µs per request (p99.sh)
        *) dir=$HELLO_DIR mod=$HELLO_MOD ;;
    esac
    if [ "$http" = 1 ]; then opt=--http-socket; else opt=--socket; fi
    # The same uWSGI options for Corral and uWSGI; only the binary differs.
    local common=(--pythonpath "$dir" --module "$mod" --master --processes "$workers"
                  --disable-logging --listen 1024)
    case "$server" in
        corral)
            # shellcheck disable=SC2086
            start_bg corral "$dir" $PIN "$CORRAL" "$opt" "$bind" "${common[@]}" \
                ${CORRAL_ARGS:-} ;;
        uwsgi)
            start_bg uwsgi "$dir" $PIN uwsgi --plugin python3 "$opt" "$bind" "${common[@]}" \
                --need-app ;;
        uwsgi-http11)
            start_bg uwsgi "$dir" $PIN uwsgi --plugin python3 --http11-socket "$bind" \
                "${common[@]}" --need-app ;;
        gunicorn)
            [ "$http" = 1 ] || bind="unix:$bind"
            start_bg gunicorn "$dir" $PIN gunicorn --workers "$workers" --worker-class sync \
                --bind "$bind" --backlog 1024 --chdir "$dir" "$mod:application" ;;
        stub)
            start_bg stub "$dir" $PIN "$STUB" "$bind" "$workers" ;;
        *) die "unknown server $server" ;;
    esac
}

stop_signal() { # uWSGI 2.0 reloads on SIGTERM; SIGINT stops it (and Corral) at once.
    case "$1" in uwsgi*|corral) echo INT ;; *) echo TERM ;; esac
}
