#!/usr/bin/env bash
# Install, from Debian's archive, what Corral needs.
#
#   tests/install-deps.sh            build, run and test (unit, integration, fuzz)
#   tests/install-deps.sh --runtime  only build and run (examples/run.sh)
#
# Runs apt-get through sudo when not root. Non-interactive. Skips the
# `apt-get update` and the install when every package is already there, so
# that a second run (tests/run.sh, examples/run.sh) is quick and works offline.
set -euo pipefail

runtime_only=0
for arg in "$@"; do
    case "$arg" in
        --runtime) runtime_only=1 ;;
        -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install-deps.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
    esac
done

# Build and run: compiler, CMake, the libraries the core and plugins link,
# and Django for the example site.
packages=(
    ca-certificates cmake make gcc pkg-config
    libinih-dev libyaml-dev libpython3-dev python3
    python3-django
)
if [ "$runtime_only" -eq 0 ]; then
    # Tests: Criterion (unit), clang and its runtime with libFuzzer and the
    # sanitizers (a Recommends, so named here), pytest, Flask,
    # nginx, Apache (its mod_proxy_uwsgi) and curl (integration), and
    # uWSGI, gunicorn and wrk to compare against (bench/).
    packages+=(
        clang libclang-rt-14-dev libcriterion-dev
        python3-pytest python3-pytest-xdist python3-flask
        nginx-light apache2-bin curl procps
        uwsgi-core uwsgi-plugin-python3 gunicorn wrk
    )
fi

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} packages already installed"
    exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing ${missing[*]}"
"${sudo[@]}" apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
