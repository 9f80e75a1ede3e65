#!/usr/bin/env bash
# Runs the web server, a Celery worker and Celery beat in the foreground until Ctrl-C.
# Every process inherits this environment, so PORT=8100 make run reaches all three.
set -euo pipefail
bin=${VENV:-.venv}/bin
export PORT=${PORT:-8000}
mkdir -p .run

# Fail fast, naming the variable, before three processes start with a bad setting.
"$bin/python" manage.py check --fail-level ERROR >/dev/null

pids=()
stop() { trap - INT TERM EXIT; kill "${pids[@]}" 2>/dev/null || true; wait || true; }
trap stop INT TERM EXIT

"$bin/gunicorn" streetsafe.wsgi --bind "0.0.0.0:$PORT" --workers "${WEB_WORKERS:-2}" \
  --access-logfile - --access-logformat '%(m)s %(U)s %(s)s %(L)ss' &
pids+=($!)
"$bin/celery" -A streetsafe worker --loglevel INFO --concurrency "${WORKER_CONCURRENCY:-2}" &
pids+=($!)
"$bin/celery" -A streetsafe beat --loglevel INFO --schedule .run/celerybeat-schedule &
pids+=($!)

echo "StreetSafe on http://127.0.0.1:$PORT/ (API docs at /api/docs); Ctrl-C stops it."
wait -n
