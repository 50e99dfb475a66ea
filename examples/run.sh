#!/usr/bin/env bash
# Serve the example Django site with Corral on http://localhost:8000/:
# installs the packages (build and run only), builds into build/, collects
# the static files, then runs `build/corral --ini uwsgi.ini.sample` in the
# foreground (CORRAL_BUILD_DIR overrides build/). Ctrl-C (SIGINT) or SIGTERM stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/install-deps.sh --runtime
build=${CORRAL_BUILD_DIR:-build}
cmake -S . -B "$build" -DCORRAL_TESTS=OFF
cmake --build "$build" -j"${JOBS:-2}"
(cd examples/django && /usr/bin/python3 manage.py collectstatic --noinput -v 0)

echo "examples/run.sh: serving the Django example on http://localhost:8000/"
exec "$build/corral" --ini uwsgi.ini.sample
