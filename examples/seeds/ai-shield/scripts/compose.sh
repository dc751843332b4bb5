#!/bin/sh
# A stand-in for a compose host, in the shape the command driver expects (see docs/drivers.md
# for the same four calls written with `docker compose`): every version runs as its own
# process on a free port of 127.0.0.1, recorded in DIR/<version>.json.
#
#   compose.sh DIR start VERSION ["DEMO ARGS"]    prints {"id", "version", "address"}
#   compose.sh DIR stop ID VERSION                 SIGTERM, wait, SIGKILL; idempotent
#   compose.sh DIR list                            one JSON line per running version
#   compose.sh DIR health ADDRESS                  exit 0 when GET /health answers 2xx
set -eu
dir=$1
action=$2
shift 2
python=${PYTHON:-python3}
mkdir -p "$dir"

case "$action" in
start)
  version=$1
  faults=${2:-}
  # the demo's options arrive as one (shell-quoted) argument, split into words here
  set -f
  # shellcheck disable=SC2086
  set -- $faults
  set +f
  port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  nohup "$python" -m runwright.demo --port "$port" --version "$version" "$@" \
    >>"$dir/$version.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$dir/$version.pid"
  printf '{"id": "%s", "version": "%s", "address": "127.0.0.1:%s"}\n' "$pid" "$version" "$port" \
    >"$dir/$version.json"
  cat "$dir/$version.json"
  ;;
stop)
  pid=$1
  version=$2
  if kill "$pid" 2>/dev/null; then
    n=0
    while kill -0 "$pid" 2>/dev/null && [ "$n" -lt 100 ]; do
      sleep 0.05
      n=$((n + 1))
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/$version.json" "$dir/$version.pid"
  ;;
list)
  for record in "$dir"/*.json; do
    [ -e "$record" ] || continue
    pid=$(cat "${record%.json}.pid" 2>/dev/null || echo 0)
    if [ "$pid" -gt 0 ] && kill -0 "$pid" 2>/dev/null; then
      cat "$record"
    else
      rm -f "$record" "${record%.json}.pid"
    fi
  done
  ;;
health)
  "$python" -c 'import sys, urllib.request; urllib.request.urlopen("http://" + sys.argv[1] + "/health", timeout=2)' "$1" \
    >/dev/null 2>&1
  ;;
*)
  echo "unknown action $action" >&2
  exit 2
  ;;
esac
