#!/bin/sh
# Stand-in for the team's ./scripts/deploy-staging.sh / deploy-production.sh, for one service
# (an ECS service in the seed; here the demo service as a process on the service's port):
# remembers the version running now (for rollback.sh), stops it, starts VERSION, waits until
# it is healthy.
#   PORT=8310 STATE=DIR deploy.sh SERVICE VERSION [DEMO ARGS...]
set -eu
service=$1
version=$2
shift 2
dir="$STATE/$service"
python=${PYTHON:-python3}
mkdir -p "$dir"
if [ -f "$dir/version" ]; then
  cp "$dir/version" "$dir/previous"
  cp "$dir/args" "$dir/previous-args" 2>/dev/null || : >"$dir/previous-args"
fi
if [ -f "$dir/pid" ]; then
  pid=$(cat "$dir/pid")
  kill "$pid" 2>/dev/null || true
  n=0
  while kill -0 "$pid" 2>/dev/null && [ "$n" -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
  kill -9 "$pid" 2>/dev/null || true
fi
nohup "$python" -m runwright.demo --port "$PORT" --version "$version" "$@" \
  >>"$dir/service.log" 2>&1 </dev/null &
echo $! >"$dir/pid"
echo "$version" >"$dir/version"
echo "$*" >"$dir/args"
n=0
until "$python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
  "http://127.0.0.1:$PORT/health" >/dev/null 2>&1; do
  n=$((n + 1))
  if [ "$n" -gt 200 ]; then echo "$service $version did not become healthy" >&2; exit 1; fi
  sleep 0.1
done
echo "$service $version is running on port $PORT"
